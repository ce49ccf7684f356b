//! Known answers for the murmur likelihood ratio (`segment::segment_with_likelihood`, features
//! `sys_hsmm_lr` / `dia_hsmm_lr`) on `auscult-synth` recordings: a holosystolic murmur is
//! explained better by the systolic murmur HSMM than a healthy heart is, a diastolic rumble by the
//! diastolic one; gain does not move the ratio; the plain segmenter leaves it out and silence
//! gives none.

use auscult_dsp::preprocess::preprocess;
use auscult_dsp::segment::{segment, segment_with_likelihood};
use auscult_dsp::{Analyzer, Hz, MurmurLikelihood, Recording, Signal};
use auscult_synth::MurmurKind;

mod support;
use support::{FAINT, RATE};

fn pcg(kind: Option<MurmurKind>, seed: u64) -> Vec<f32> {
    support::heart(seed, 66.0, kind.map(|k| (k, 4)), FAINT)
}

fn likelihood(samples: &[f32]) -> Option<MurmurLikelihood> {
    let pre = preprocess(Signal {
        samples,
        rate: Hz(RATE),
    })
    .expect("preprocesses");
    segment_with_likelihood(&pre, None).murmur_likelihood
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn a_murmur_is_explained_by_the_murmur_hsmm_of_its_phase() {
    let seeds = [1u64, 2, 3];
    let of = |kind: Option<MurmurKind>| -> (Vec<f32>, Vec<f32>) {
        seeds
            .iter()
            .map(|&s| {
                let lr = likelihood(&pcg(kind, s)).expect("a likelihood ratio");
                (lr.systolic, lr.diastolic)
            })
            .unzip()
    };
    let (healthy_sys, healthy_dia) = of(None);
    let (mr_sys, mr_dia) = of(Some(MurmurKind::MitralRegurgitation));
    let (ms_sys, ms_dia) = of(Some(MurmurKind::MitralStenosis));
    eprintln!(
        "sys/dia LR per frame: healthy {:.2}/{:.2}, MR {:.2}/{:.2}, MS {:.2}/{:.2}",
        mean(&healthy_sys),
        mean(&healthy_dia),
        mean(&mr_sys),
        mean(&mr_dia),
        mean(&ms_sys),
        mean(&ms_dia)
    );
    for v in [
        &healthy_sys,
        &healthy_dia,
        &mr_sys,
        &mr_dia,
        &ms_sys,
        &ms_dia,
    ] {
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }
    // A healthy heart is silent between its sounds: both murmur HSMMs explain it worse.
    assert!(healthy_sys.iter().all(|&x| x < 0.0), "{healthy_sys:?}");
    assert!(healthy_dia.iter().all(|&x| x < 0.0), "{healthy_dia:?}");
    // Seed by seed, the holosystolic murmur raises the systolic ratio above the healthy heart's.
    for (m, h) in mr_sys.iter().zip(&healthy_sys) {
        assert!(m > h, "MR systolic LR {m} vs healthy {h}");
    }
    assert!(mean(&mr_sys) > mean(&healthy_sys) + 0.2);
    // The rumble raises the diastolic ratio above the healthy heart's.
    for (m, h) in ms_dia.iter().zip(&healthy_dia) {
        assert!(m > h, "MS diastolic LR {m} vs healthy {h}");
    }
}

#[test]
fn gain_does_not_move_the_ratio_and_the_plain_segmenter_skips_it() {
    let x = pcg(Some(MurmurKind::MitralRegurgitation), 7);
    let base = likelihood(&x).expect("a likelihood ratio");
    for g in [0.1f32, 10.0] {
        let y: Vec<f32> = x.iter().map(|v| v * g).collect();
        let lr = likelihood(&y).expect("a likelihood ratio");
        assert!(
            (lr.systolic - base.systolic).abs() < 0.02
                && (lr.diastolic - base.diastolic).abs() < 0.02,
            "gain {g}: {lr:?} vs {base:?}"
        );
    }
    let pre = preprocess(Signal {
        samples: &x,
        rate: Hz(RATE),
    })
    .expect("preprocesses");
    assert_eq!(segment(&pre, None).murmur_likelihood, None);
    // The same cycles either way: the likelihood ratio only adds decodes.
    assert_eq!(
        segment(&pre, None).cycles,
        segment_with_likelihood(&pre, None).cycles
    );
}

#[test]
fn the_analyzer_reads_the_ratio_into_the_features() {
    let x = pcg(Some(MurmurKind::MitralRegurgitation), 3);
    let lr = likelihood(&x).expect("a likelihood ratio");
    let ev = Analyzer::new()
        .with_all_features()
        .evidence(&Recording {
            pcg: Signal {
                samples: &x,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("analyses");
    let f = ev.features.expect("features");
    assert_eq!(f.get("sys_hsmm_lr"), lr.systolic);
    assert_eq!(f.get("dia_hsmm_lr"), lr.diastolic);
}

#[test]
fn silence_and_tiny_inputs_give_no_panic() {
    for n in [0usize, 1, 10, 2000, 40_000] {
        let x = vec![0f32; n];
        if let Ok(pre) = preprocess(Signal {
            samples: &x,
            rate: Hz(RATE),
        }) {
            let seg = segment_with_likelihood(&pre, None);
            if let Some(lr) = seg.murmur_likelihood {
                assert!(!lr.systolic.is_infinite() && !lr.diastolic.is_infinite());
            }
        }
    }
}

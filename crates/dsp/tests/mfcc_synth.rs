//! Known answers of the per-phase MFCC features (`dsp::mfcc`, read relative to the same cycle's
//! S1 and S2) on `auscult-synth` recordings analysed end to end: a systolic murmur moves the
//! systolic coefficients and their contrast with diastole, and gain does not move them.

use auscult_dsp::Analyzer;
use auscult_dsp::features::{FEATURE_NAMES, Features, MFCC_FEATURES};
use auscult_dsp::{Hz, Recording, Signal};
use auscult_synth::MurmurKind;

mod support;
use support::{FAINT, RATE};

fn pcg(kind: Option<MurmurKind>, seed: u64) -> Vec<f32> {
    support::heart(seed, 66.0, kind.map(|k| (k, 3)), FAINT)
}

fn features(samples: &[f32]) -> Features {
    let ev = Analyzer::new()
        .with_all_features()
        .evidence(&Recording {
            pcg: Signal {
                samples,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("analyses");
    assert!(ev.quality.usable, "{:?}", ev.quality);
    ev.features.expect("features")
}

fn names(phase: &str) -> Vec<String> {
    (1..=MFCC_FEATURES)
        .map(|k| format!("{phase}_mfcc_{k}"))
        .collect()
}

/// Sum over coefficients of |a − b| for one phase.
fn moved(a: &Features, b: &Features, phase: &str) -> f32 {
    names(phase)
        .iter()
        .map(|n| (a.get(n) - b.get(n)).abs())
        .sum()
}

#[test]
fn mfcc_features_are_named_and_finite() {
    let f = features(&pcg(None, 1));
    for n in names("sys").iter().chain(&names("dia")) {
        assert!(FEATURE_NAMES.contains(&n.as_str()), "{n} is a feature");
        assert!(f.get(n).is_finite(), "{n} = {}", f.get(n));
    }
}

/// Sum over coefficients of |Δ(systolic − diastolic coefficient)|: the contrast between the
/// phases, in which the S1/S2 reference cancels.
fn contrast_moved(a: &Features, b: &Features) -> f32 {
    names("sys")
        .iter()
        .zip(names("dia"))
        .map(|(s, d)| ((a.get(s) - a.get(&d)) - (b.get(s) - b.get(&d))).abs())
        .sum()
}

/// A systolic murmur moves the systolic coefficients and the systole-against-diastole contrast.
/// The diastolic coefficients may move too: a holosystolic murmur runs into S1 and S2, the
/// reference both phases are read against (RESULTS.md).
#[test]
fn a_systolic_murmur_moves_the_systolic_coefficients() {
    for seed in [1, 2] {
        let none = features(&pcg(None, seed));
        for kind in [MurmurKind::MitralRegurgitation, MurmurKind::AorticStenosis] {
            let f = features(&pcg(Some(kind), seed));
            let (sys, dia, contrast) = (
                moved(&f, &none, "sys"),
                moved(&f, &none, "dia"),
                contrast_moved(&f, &none),
            );
            eprintln!(
                "{kind:?} seed {seed}: systolic moved {sys:.2}, diastolic {dia:.2}, contrast {contrast:.2}"
            );
            assert!(sys > 1.0, "{kind:?}: systolic moved {sys}");
            assert!(contrast > 1.0, "{kind:?}: contrast moved {contrast}");
            if kind == MurmurKind::AorticStenosis {
                // Mid-systolic: clear of S1 and S2, so diastole read against them stays put.
                assert!(dia < 0.2 * sys, "{kind:?}: diastolic moved {dia}");
            }
        }
    }
}

#[test]
fn gain_does_not_move_the_mfcc_features() {
    let x = pcg(Some(MurmurKind::MitralRegurgitation), 3);
    let base = features(&x);
    for gain in [0.1f32, 10.0] {
        let y: Vec<f32> = x.iter().map(|v| v * gain).collect();
        let f = features(&y);
        for n in names("sys").iter().chain(&names("dia")) {
            assert!(
                (f.get(n) - base.get(n)).abs() < 1e-3,
                "gain {gain}: {n} {} vs {}",
                f.get(n),
                base.get(n)
            );
        }
    }
}

/// The MFCCs cost about 1 ms a recording and no committed model reads them: the analyzer
/// computes them only when its models read one (or when asked to, for the trainer).
#[test]
fn mfccs_are_computed_only_when_a_model_reads_them() {
    use auscult_dsp::features::FIRST_MFCC_FEATURE;
    use auscult_dsp::murmur::Models;

    let mfcc_inputs = FIRST_MFCC_FEATURE..FIRST_MFCC_FEATURE + 2 * MFCC_FEATURES;
    let committed = Models::builtin().expect("committed models parse");
    assert!(!mfcc_inputs.clone().any(|i| committed.reads_feature(i)));
    let x = pcg(None, 3);
    let analyse = |analyzer: Analyzer| {
        let mut analyzer = analyzer;
        let ev = analyzer
            .evidence(&Recording {
                pcg: Signal {
                    samples: &x,
                    rate: Hz(RATE),
                },
                ecg: None,
            })
            .expect("analyses");
        ev.features.expect("features")
    };
    let first = FEATURE_NAMES[FIRST_MFCC_FEATURE];
    assert!(analyse(Analyzer::new()).get(first).is_nan());
    let mut reading = committed.clone();
    reading
        .murmur
        .terms
        .push((FIRST_MFCC_FEATURE + 1, 0.0, 1.0, 0.0));
    assert!(reading.reads_feature(FIRST_MFCC_FEATURE + 1));
    assert!(
        analyse(Analyzer::with_models(reading))
            .get(first)
            .is_finite()
    );
    assert!(
        analyse(Analyzer::new().with_all_features())
            .get(first)
            .is_finite()
    );
}

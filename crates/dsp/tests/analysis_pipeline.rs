//! The whole pipeline on synthetic recordings at a device rate: what cannot be judged is Unknown
//! with the right reason; a clean heart is judged; nothing panics on odd input.

use auscult_dsp::analysis::Analyzer;
use auscult_dsp::{Hz, MurmurStatus, Recording, Signal, UnknownReason, analyze};

const FS: f64 = 4000.0;

struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn burst(t: f64, f: f64, dur: f64) -> f64 {
    if !(0.0..dur).contains(&t) {
        return 0.0;
    }
    (std::f64::consts::PI * t / dur).sin().powi(2) * (2.0 * std::f64::consts::PI * f * t).sin()
}

/// A clean heart at 75 bpm with a little background noise.
fn heart(seconds: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..(seconds * FS) as usize)
        .map(|i| {
            let tc = (i as f64 / FS) % 0.8;
            (0.5 * (burst(tc - 0.05, 45.0, 0.11) + 0.8 * burst(tc - 0.38, 70.0, 0.08))
                + 0.01 * rng.gauss()) as f32
        })
        .collect()
}

fn run(samples: &[f32]) -> auscult_dsp::Analysis {
    analyze(&Recording {
        pcg: Signal {
            samples,
            rate: Hz(FS),
        },
        ecg: None,
    })
    .expect("a supported rate and some samples analyse")
}

fn reason(a: &auscult_dsp::Analysis) -> Option<UnknownReason> {
    match &a.murmur.status {
        MurmurStatus::Unknown(r) => Some(r.clone()),
        _ => None,
    }
}

#[test]
fn clean_heart_is_judged_with_cycles_and_rate() {
    let a = run(&heart(20.0, 1));
    assert!(a.quality.usable, "{:?}", a.quality);
    assert_eq!(a.murmur.status, MurmurStatus::Absent, "{:?}", a.murmur);
    assert!(a.cycles.iter().filter(|c| c.accepted).count() >= 15);
    let hr = a.heart_rate.expect("heart rate").0;
    assert!((hr - 75.0).abs() < 5.0, "hr {hr}");
    assert!(a.ensemble.is_some());
    assert!(!a.rhythm.expect("rhythm").irregular);
    assert!(!a.flagged);
}

#[test]
fn silence_is_unknown_no_heart_sounds() {
    let a = run(&vec![0.0; (10.0 * FS) as usize]);
    assert_eq!(reason(&a), Some(UnknownReason::NoHeartSounds));
    assert!(
        a.flagged,
        "an unusable recording needs a clinician (or a retake)"
    );
}

#[test]
fn white_noise_is_unknown_too_noisy() {
    for (seed, seconds) in [(3u64, 15.0), (4, 5.0), (5, 30.0), (6, 8.0), (7, 60.0)] {
        let mut rng = Rng(seed);
        let noise: Vec<f32> = (0..(seconds * FS) as usize)
            .map(|_| rng.gauss() as f32 * 0.3)
            .collect();
        let a = run(&noise);
        eprintln!("noise {seconds} s: sqi {}", a.quality.sqi);
        assert!(
            matches!(reason(&a), Some(UnknownReason::TooNoisy { .. })),
            "{seconds} s: {:?} sqi {}",
            a.murmur.status,
            a.quality.sqi
        );
    }
}

#[test]
fn clipping_nan_and_short_have_their_reasons() {
    let clipped: Vec<f32> = heart(10.0, 4)
        .iter()
        .map(|v| (v * 50.0).clamp(-0.2, 0.2))
        .collect();
    assert!(matches!(
        reason(&run(&clipped)),
        Some(UnknownReason::Clipped { .. })
    ));
    let mut nan = heart(10.0, 5);
    nan[1234] = f32::NAN;
    assert_eq!(reason(&run(&nan)), Some(UnknownReason::NonFinite));
    assert!(matches!(
        reason(&run(&heart(0.5, 6))),
        Some(UnknownReason::TooShort { .. })
    ));
}

#[test]
fn odd_inputs_never_panic() {
    let mut analyzer = Analyzer::new();
    let mut rng = Rng(9);
    for (len, rate) in [
        (1usize, 4000.0),
        (10, 1000.0),
        (3001, 1000.0),
        (8000, 8000.0),
        (50_000, 44_100.0),
        (4000 * 3, 4000.0),
    ] {
        let x: Vec<f32> = (0..len).map(|_| (rng.gauss() * 1e3) as f32).collect();
        let _ = analyzer.analyze(&Recording {
            pcg: Signal {
                samples: &x,
                rate: Hz(rate),
            },
            ecg: None,
        });
        let spikes: Vec<f32> = (0..len)
            .map(|i| if i % 977 == 0 { 1e30 } else { 0.0 })
            .collect();
        let _ = analyzer.analyze(&Recording {
            pcg: Signal {
                samples: &spikes,
                rate: Hz(rate),
            },
            ecg: None,
        });
    }
    assert!(
        analyzer
            .analyze(&Recording {
                pcg: Signal {
                    samples: &[],
                    rate: Hz(4000.0)
                },
                ecg: None
            })
            .is_err()
    );
    assert!(
        analyzer
            .analyze(&Recording {
                pcg: Signal {
                    samples: &[0.0; 100],
                    rate: Hz(0.0)
                },
                ecg: None
            })
            .is_err()
    );
}

/// Rough stage timings for a 30 s, 4 kHz recording (run with `--release --ignored --nocapture`);
/// the criterion bench is the reference for speed claims.
#[test]
#[ignore]
fn stage_timings_30s_4khz() {
    use auscult_dsp::{ensemble, features, murmur, preprocess, quality, rhythm, segment};
    use std::time::Instant;
    let x = heart(30.0, 2);
    let sig = Signal {
        samples: &x,
        rate: Hz(FS),
    };
    let mut analyzer = Analyzer::new();
    let rec = Recording {
        pcg: sig,
        ecg: None,
    };
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let _ = analyzer.analyze(&rec);
    }
    let total = t.elapsed() / reps;
    let t = Instant::now();
    let mut pre = None;
    for _ in 0..reps {
        pre = preprocess::preprocess(sig).ok();
    }
    let t_pre = t.elapsed() / reps;
    let pre = pre.expect("preprocess");
    let t = Instant::now();
    let mut seg = None;
    for _ in 0..reps {
        seg = Some(segment::segment(&pre, None));
    }
    let t_seg = t.elapsed() / reps;
    let seg = seg.expect("segment");
    let t = Instant::now();
    let mut powers = features::BandPowers::default();
    for _ in 0..reps {
        let sqi = quality::signal_quality(&pre);
        let mut cycles = seg.cycles.clone();
        quality::assess_cycles(&pre, &mut cycles);
        let ens = ensemble::ensemble_average(&pre, &cycles);
        let r = rhythm::measure_rhythm(&cycles);
        powers.compute(&pre);
        let f =
            features::extract_features(&pre, &powers, &cycles, ens.as_ref(), r.as_ref(), sqi, true);
        let _ = murmur::describe_phases(&cycles, ens.as_ref(), &powers);
        let _ = murmur::score(analyzer.models(), &f);
    }
    let t_mine = t.elapsed() / reps;
    eprintln!(
        "total {total:?}, preprocess {t_pre:?}, segment {t_seg:?}, quality+ensemble+murmur {t_mine:?}"
    );
}

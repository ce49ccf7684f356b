//! Bad and odd input to the front end and segmentation: non-finite samples, silence, DC,
//! clipping, very short and very long recordings, extreme rates, ECGs without beats or of another
//! length than the PCG. Nothing may panic; the output must stay sensible. Plus a property test.

use auscult_dsp::ecg::detect_r_peaks;
use auscult_dsp::error::DspError;
use auscult_dsp::model::{EcgInput, Preprocessed, Segmentation, Signal};
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::segment::segment;
use auscult_dsp::units::{Hz, Seconds};
use proptest::prelude::*;

fn pre(samples: &[f32], rate: f64) -> Preprocessed {
    preprocess(Signal {
        samples,
        rate: Hz(rate),
    })
    .expect("accepted input")
}

/// Every cycle lies inside the recording, in order, and all numbers are finite.
fn assert_sane(seg: &Segmentation, p: &Preprocessed) {
    let d = p.duration.0 + 1e-9;
    let mut last = -1.0;
    for c in &seg.cycles {
        for t in [c.s1.start.0, c.s1.end.0, c.s2.start.0, c.s2.end.0, c.end.0] {
            assert!(
                t.is_finite() && (0.0..=d).contains(&t),
                "time {t} outside 0..{d}"
            );
        }
        assert!(c.s1.start.0 >= last);
        assert!(
            c.s1.start.0 <= c.s1.end.0 && c.s1.end.0 <= c.s2.start.0 && c.s2.start.0 <= c.s2.end.0
        );
        last = c.s1.start.0;
    }
    if let Some(hr) = seg.heart_rate {
        assert!(hr.0.is_finite() && hr.0 > 0.0);
    }
    assert!(p.pcg.iter().chain(&p.envelope).all(|v| v.is_finite()));
}

fn beating(rate: f64, secs: f64) -> Vec<f32> {
    (0..(rate * secs) as usize)
        .map(|i| {
            let t = i as f64 / rate;
            let ph = t % 0.8;
            let s1 = if ph < 0.1 {
                (2.0 * std::f64::consts::PI * 50.0 * ph).sin()
            } else {
                0.0
            };
            let s2 = if (0.3..0.38).contains(&ph) {
                0.7 * (2.0 * std::f64::consts::PI * 80.0 * ph).sin()
            } else {
                0.0
            };
            (s1 + s2) as f32
        })
        .collect()
}

#[test]
fn empty_and_unsupported_rates_are_errors() {
    assert_eq!(
        preprocess(Signal {
            samples: &[],
            rate: Hz(2000.0)
        }),
        Err(DspError::Empty)
    );
    for r in [0.0, 999.0, 48001.0, f64::NAN, f64::INFINITY, -4000.0] {
        assert!(matches!(
            preprocess(Signal {
                samples: &[0.0; 100],
                rate: Hz(r)
            }),
            Err(DspError::UnsupportedRate(_))
        ));
    }
}

#[test]
fn non_finite_silence_dc_and_clipping_do_not_panic() {
    let rate = 4000.0;
    let mut nan_sprinkled = beating(rate, 10.0);
    for i in (0..nan_sprinkled.len()).step_by(97) {
        nan_sprinkled[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    let clipped: Vec<f32> = beating(rate, 10.0)
        .iter()
        .map(|v| (v * 50.0).clamp(-1.0, 1.0))
        .collect();
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("all NaN", vec![f32::NAN; 40_000]),
        ("silence", vec![0.0; 40_000]),
        ("DC", vec![12345.0; 40_000]),
        ("NaN sprinkled", nan_sprinkled),
        ("clipped", clipped),
        (
            "huge",
            beating(rate, 10.0).iter().map(|v| v * 1e30).collect(),
        ),
    ];
    for (what, x) in cases {
        let p = pre(&x, rate);
        let seg = segment(&p, None);
        assert_sane(&seg, &p);
        if matches!(what, "all NaN" | "silence" | "DC") {
            assert!(p.pcg.iter().all(|&v| v == 0.0), "{what}");
        }
    }
}

#[test]
fn short_long_and_extreme_rates() {
    for (rate, secs) in [
        (2000.0, 0.5),
        (1000.0, 0.01),
        (44100.0, 3.0),
        (1000.0, 20.0),
        (48000.0, 2.0),
    ] {
        let p = pre(&beating(rate, secs), rate);
        assert!((p.duration.0 - secs).abs() < 0.01);
        assert_sane(&segment(&p, None), &p);
    }
    let p = pre(&[1.0], 2000.0);
    assert_sane(&segment(&p, None), &p);
    // Ten minutes at 4 kHz.
    let long = beating(4000.0, 600.0);
    let p = pre(&long, 4000.0);
    let seg = segment(&p, None);
    assert_sane(&seg, &p);
    assert!(
        seg.cycles.len() > 600,
        "{} cycles in 10 min at 75 bpm",
        seg.cycles.len()
    );
}

#[test]
fn ecg_without_beats_or_of_another_length_falls_back_or_copes() {
    let rate = 2000.0;
    let pcg = beating(rate, 12.0);
    let p = pre(&pcg, rate);
    // A flat ECG and pure noise carry no beats: segmentation falls back to the PCG alone.
    let flat = vec![0.0f32; pcg.len()];
    let seg = segment(
        &p,
        Some(EcgInput::Raw(Signal {
            samples: &flat,
            rate: Hz(rate),
        })),
    );
    assert!(!seg.ecg_used);
    assert!(!seg.cycles.is_empty());
    assert_sane(&seg, &p);
    assert!(
        detect_r_peaks(Signal {
            samples: &flat,
            rate: Hz(rate)
        })
        .is_empty()
    );
    let nan = vec![f32::NAN; pcg.len()];
    assert!(
        detect_r_peaks(Signal {
            samples: &nan,
            rate: Hz(rate)
        })
        .is_empty()
    );
    assert!(
        detect_r_peaks(Signal {
            samples: &flat,
            rate: Hz(50.0)
        })
        .is_empty()
    );
    assert!(
        detect_r_peaks(Signal {
            samples: &[],
            rate: Hz(500.0)
        })
        .is_empty()
    );

    // An ECG shorter and one longer than the PCG.
    let ecg: Vec<f32> = (0..(rate * 20.0) as usize)
        .map(|i| if i % 1600 < 20 { 1.0 } else { 0.0 })
        .collect();
    for len in [ecg.len() / 4, ecg.len()] {
        let seg = segment(
            &p,
            Some(EcgInput::Raw(Signal {
                samples: &ecg[..len],
                rate: Hz(rate),
            })),
        );
        assert_sane(&seg, &p);
        assert!(seg.r_peaks.iter().all(|r| r.0 <= p.duration.0));
    }
    // Device R peaks that are unsorted, duplicated, negative or not finite.
    let odd = [
        Seconds(3.0),
        Seconds(f64::NAN),
        Seconds(-1.0),
        Seconds(1.0),
        Seconds(1.0),
        Seconds(1e9),
    ];
    let seg = segment(&p, Some(EcgInput::RPeaks(&odd)));
    assert_sane(&seg, &p);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn preprocess_and_segment_never_panic(
        samples in prop::collection::vec(prop_oneof![
            8 => -1.0e4f32..1.0e4,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(0.0f32),
        ], 0..6000),
        rate in prop_oneof![Just(1000.0f64), Just(2000.0), Just(4000.0), Just(44100.0), 1000.0f64..48000.0],
        peaks in prop::collection::vec(-2.0f64..10.0, 0..20),
    ) {
        match preprocess(Signal { samples: &samples, rate: Hz(rate) }) {
            Ok(p) => {
                let seg = segment(&p, None);
                assert_sane(&seg, &p);
                let times: Vec<Seconds> = peaks.iter().map(|&t| Seconds(t)).collect();
                let seg = segment(&p, Some(EcgInput::RPeaks(&times)));
                assert_sane(&seg, &p);
                let seg = segment(&p, Some(EcgInput::Raw(Signal { samples: &samples, rate: Hz(rate) })));
                assert_sane(&seg, &p);
            }
            Err(e) => prop_assert_eq!(e, DspError::Empty),
        }
    }
}

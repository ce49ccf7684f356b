//! Known-answer tests of the device-independent murmur evidence (the recording's own phase map,
//! `features::PhaseMap`) on `auscult-synth` recordings analysed end to end: a murmur stands
//! above the recording's own floor at the same phase in every cycle, a heart without one does
//! not, noise raises the floor with the phase, and gain does not matter.

use auscult_dsp::Analyzer;
use auscult_dsp::features::{FEATURE_NAMES, Features};
use auscult_dsp::{Hz, MurmurPhase, MurmurStatus, MurmurTiming, Recording, Signal};
use auscult_synth::{MurmurKind, MurmurSpec, PcgNoise, SynthConfig, SyntheticRecording};

const RATE: f64 = 2000.0;

fn pcg(kind: Option<MurmurKind>, white_snr_db: f64, seed: u64) -> Vec<f32> {
    synth(kind, white_snr_db, seed).pcg
}

/// The recording with its truth (the heart sounds' times).
fn synth(kind: Option<MurmurKind>, white_snr_db: f64, seed: u64) -> SyntheticRecording {
    let cfg = SynthConfig {
        seed,
        duration_s: 20.0,
        pcg_rate_hz: RATE,
        heart_rate_bpm: 66.0,
        murmur: kind.map(|kind| MurmurSpec { kind, grade: 3 }),
        pcg_noise: PcgNoise {
            white_snr_db: Some(white_snr_db),
            ..PcgNoise::NONE
        },
        ..SynthConfig::default()
    };
    auscult_synth::generate(&cfg).expect("valid config")
}

/// Root mean square of `x` over the spans (seconds).
fn rms_over(x: &[f64], spans: impl Iterator<Item = (f64, f64)>) -> f64 {
    let at = |t: f64| ((t * RATE).round().max(0.0) as usize).min(x.len());
    let (mut e, mut n) = (0.0f64, 0usize);
    for (a, b) in spans {
        for v in &x[at(a)..at(b).max(at(a))] {
            e += v * v;
            n += 1;
        }
    }
    (e / n.max(1) as f64).sqrt()
}

fn features(samples: &[f32]) -> Features {
    let ev = Analyzer::new()
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

/// The phase-map features: `sys_floor_all` to `sys_min_minus_dia_min`.
fn map() -> &'static [&'static str] {
    let at = |name: &str| {
        FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("the phase-map features")
    };
    &FEATURE_NAMES[at("sys_floor_all")..=at("sys_min_minus_dia_min")]
}

fn show(name: &str, f: &Features) {
    let v: Vec<String> = map()
        .iter()
        .map(|n| format!("{n}={:.2}", f.get(n)))
        .collect();
    eprintln!("{name}: {}", v.join(" "));
}

#[test]
fn phase_map_features_are_named_and_finite() {
    assert_eq!(
        map().len(),
        12,
        "the phase map's features are named in FEATURE_NAMES"
    );
    let f = features(&pcg(None, 30.0, 1));
    for n in map() {
        assert!(f.get(n).is_finite(), "{n} = {}", f.get(n));
    }
}

fn friction(seed: u64) -> Vec<f32> {
    let cfg = SynthConfig {
        seed,
        duration_s: 20.0,
        pcg_rate_hz: RATE,
        heart_rate_bpm: 66.0,
        pcg_noise: PcgNoise {
            white_snr_db: Some(30.0),
            friction_per_min: 20.0,
            friction_level: 0.5,
            ..PcgNoise::NONE
        },
        ..SynthConfig::default()
    };
    auscult_synth::generate(&cfg).expect("valid config").pcg
}

#[test]
fn gain_does_not_change_the_map() {
    for kind in [
        None,
        Some(MurmurKind::MitralRegurgitation),
        Some(MurmurKind::MitralStenosis),
    ] {
        let x = pcg(kind, 20.0, 4);
        let base = features(&x);
        for gain in [0.1f32, 10.0] {
            let y: Vec<f32> = x.iter().map(|v| v * gain).collect();
            let f = features(&y);
            for n in map() {
                assert!(
                    (f.get(n) - base.get(n)).abs() < 1e-3,
                    "{kind:?} gain {gain}: {n} {} vs {}",
                    f.get(n),
                    base.get(n)
                );
            }
        }
    }
}

#[test]
fn a_heart_without_murmur_sits_on_its_own_floor() {
    for snr in [30.0, 10.0] {
        for seed in [1, 2] {
            let f = features(&pcg(None, snr, seed));
            show(&format!("none {snr} dB seed {seed}"), &f);
            assert_eq!(f.get("sys_repeat"), 0.0);
            assert_eq!(f.get("dia_repeat"), 0.0);
            assert!(f.get("sys_floor_all") < 1.0);
            assert!(f.get("dia_floor_all") < 1.0);
            assert!(f.get("sys_min_minus_dia_min").abs() < 0.5);
        }
    }
}

#[test]
fn systolic_murmurs_repeat_above_the_floor_in_systole_only() {
    for kind in [MurmurKind::MitralRegurgitation, MurmurKind::AorticStenosis] {
        // At 10 dB the crescendo–decrescendo of aortic stenosis leaves its quieter edge bins
        // near the raised floor in some cycles: 0.86 and 0.59 of them repeat (seeds 1, 2) with
        // three bins at 4.5 dB, 0.91 and 0.68 with the whole phase at 3 dB before.
        for (snr, least_above, least_repeat) in [(30.0, 5.0, 1.0), (10.0, 1.5, 0.55)] {
            for seed in [1, 2] {
                let f = features(&pcg(Some(kind), snr, seed));
                show(&format!("{kind:?} {snr} dB seed {seed}"), &f);
                assert!(f.get("sys_floor_all") > least_above);
                assert!(f.get("sys_repeat") >= least_repeat);
                assert!(f.get("sys_min_minus_dia_min") > 0.5);
                assert_eq!(f.get("dia_repeat"), 0.0);
                assert!(f.get("dia_floor_all") < 1.0);
            }
        }
    }
    // A holosystolic murmur fills the quietest systolic bin: within e^-2.5 of its S1/S2.
    let mr = features(&pcg(Some(MurmurKind::MitralRegurgitation), 30.0, 1));
    let none = features(&pcg(None, 30.0, 1));
    assert!(mr.get("sys_min_rel") > -2.5);
    assert!(none.get("sys_min_rel") < mr.get("sys_min_rel") - 5.0);
}

#[test]
fn diastolic_murmurs_stand_above_the_floor_in_diastole() {
    for seed in [1, 2] {
        let ms = features(&pcg(Some(MurmurKind::MitralStenosis), 30.0, seed));
        show(&format!("MS seed {seed}"), &ms);
        assert_eq!(ms.get("dia_repeat"), 1.0);
        assert_eq!(ms.get("sys_repeat"), 0.0);
        assert!(
            ms.get("dia_floor_low") > ms.get("dia_floor_high"),
            "a low rumble"
        );
        assert!(ms.get("sys_min_minus_dia_min") < -1.0);
        // The diastolic twin of sys_min_rel: the rumble fills diastole's quietest bin, far
        // above where a murmur-free heart's sits.
        let none = features(&pcg(None, 30.0, seed));
        assert!(
            ms.get("dia_min_rel") > none.get("dia_min_rel") + 3.0,
            "dia_min_rel {} vs {}",
            ms.get("dia_min_rel"),
            none.get("dia_min_rel")
        );
        assert!(ms.get("dia_min_rel") > ms.get("sys_min_rel") + 3.0);
        assert!(ms.get("dia_rel_spread").is_finite());
        let ar = features(&pcg(Some(MurmurKind::AorticRegurgitation), 30.0, seed));
        show(&format!("AR seed {seed}"), &ar);
        assert!(ar.get("dia_floor_all") > ar.get("sys_floor_all") + 1.0);
        assert!(
            ar.get("dia_floor_high") > ar.get("dia_floor_low"),
            "a blowing murmur"
        );
        assert_eq!(ar.get("sys_repeat"), 0.0);
    }
}

#[test]
fn noise_raises_the_floor_with_the_murmur_and_bursts_do_not_repeat() {
    let clean = features(&pcg(Some(MurmurKind::MitralRegurgitation), 30.0, 1));
    let noisy = features(&pcg(Some(MurmurKind::MitralRegurgitation), 10.0, 1));
    assert!(noisy.get("sys_floor_all") < clean.get("sys_floor_all"));
    assert!(
        noisy.get("sys_floor_all") > 1.5,
        "the murmur still stands out"
    );
    for seed in [1, 2, 3] {
        let f = features(&friction(seed));
        show(&format!("friction seed {seed}"), &f);
        assert!(
            f.get("sys_repeat") <= 0.1,
            "rubbing is not locked to the cycle"
        );
        assert!(f.get("sys_floor_all") < 1.0);
    }
}

/// The weaker heart sound's rise over the cycle's silence
/// (`PhaseMap::weaker_sound_rise_db`): an `auscult-synth` heart, with or without a murmur, gives
/// two sounds a cycle well above [`auscult_dsp::analysis::MIN_SOUND_RISE_DB`]; the same with its
/// gain ×10 gives the same rise (a log ratio within the recording).
#[test]
fn both_heart_sounds_stand_above_the_silence_of_their_cycle() {
    use auscult_dsp::features::{BandPowers, PhaseMap};
    use auscult_dsp::preprocess::preprocess;
    use auscult_dsp::quality::assess_cycles;
    use auscult_dsp::segment::segment;
    let rise = |samples: &[f32]| {
        let pre = preprocess(Signal {
            samples,
            rate: Hz(RATE),
        })
        .expect("valid");
        let mut cycles = segment(&pre, None).cycles;
        assess_cycles(&pre, &mut cycles);
        let mut powers = BandPowers::default();
        powers.compute(&pre);
        let map = PhaseMap::of(&powers, &cycles);
        assert!(map.cycles() >= 10, "{} cycles", map.cycles());
        map.weaker_sound_rise_db()
    };
    for kind in [
        None,
        Some(MurmurKind::MitralRegurgitation),
        Some(MurmurKind::MitralStenosis),
    ] {
        let x = pcg(kind, 30.0, 5);
        let r = rise(&x);
        eprintln!("{kind:?}: weaker sound {r:.1} dB above the silence");
        assert!(
            r > 2.0 * auscult_dsp::analysis::MIN_SOUND_RISE_DB,
            "{kind:?}: {r:.1} dB"
        );
        let louder: Vec<f32> = x.iter().map(|v| v * 10.0).collect();
        assert!((rise(&louder) - r).abs() < 0.05, "{kind:?}: gain moved it");
    }
}

/// `sys_late_repeat` / `dia_late_repeat` (`PhaseMap::late_repeat`): the last two bins of a phase
/// far above the floor in the whole cycles. The late systolic crescendo of mitral prolapse and
/// the presystolic accentuation of mitral stenosis fill them (so do the holosystolic and
/// ejection murmurs, which fill most of systole); the early diastolic decrescendo of aortic
/// regurgitation does not reach them, and a healthy heart's phases end on its own floor, at 30
/// and at 10 dB SNR.
#[test]
fn murmurs_at_the_end_of_their_phase_repeat_late_and_a_healthy_heart_does_not() {
    for seed in [1, 2] {
        for snr in [30.0, 10.0] {
            let none = features(&pcg(None, snr, seed));
            assert_eq!(
                none.get("sys_late_repeat"),
                0.0,
                "none {snr} dB seed {seed}"
            );
            assert_eq!(
                none.get("dia_late_repeat"),
                0.0,
                "none {snr} dB seed {seed}"
            );
        }
        for (kind, sys, dia) in [
            (MurmurKind::MitralValveProlapse, true, false),
            (MurmurKind::MitralRegurgitation, true, false),
            (MurmurKind::AorticStenosis, true, false),
            (MurmurKind::MitralStenosis, false, true),
            (MurmurKind::AorticRegurgitation, false, false),
        ] {
            let f = features(&pcg(Some(kind), 30.0, seed));
            let (s, d) = (f.get("sys_late_repeat"), f.get("dia_late_repeat"));
            eprintln!("{kind:?} seed {seed}: sys_late {s:.2} dia_late {d:.2}");
            assert_eq!(s >= 0.9, sys, "{kind:?} seed {seed}: sys_late_repeat {s}");
            assert_eq!(s == 0.0, !sys, "{kind:?} seed {seed}: sys_late_repeat {s}");
            assert_eq!(d >= 0.9, dia, "{kind:?} seed {seed}: dia_late_repeat {d}");
            assert_eq!(d == 0.0, !dia, "{kind:?} seed {seed}: dia_late_repeat {d}");
        }
    }
}

/// A healthy synthetic heart with a low rumble added over the last quarter second before every
/// S1 (a presystolic accentuation alone, as Yaseen's mitral stenoses with 2–3 cycles hold it):
/// the three-bin test misses it, the late test finds it in every whole cycle, and the engine
/// (committed models) calls a diastolic murmur. Without the rumble, neither.
#[test]
fn a_rumble_only_before_s1_repeats_late_and_is_called_diastolic() {
    for seed in [1u64, 2] {
        let rec = synth(None, 30.0, seed);
        let at = |t: f64| (t * RATE).round().max(0.0) as usize;
        // Low-passed noise (one pole at ~80 Hz), a crescendo to S1, a third of S1's RMS.
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let a = 1.0 - (-2.0 * std::f64::consts::PI * 80.0 / RATE).exp();
        let mut x = rec.pcg.clone();
        let mut added = vec![0.0f64; x.len()];
        for &(onset, _) in &rec.truth.s1 {
            let (i0, i1) = (at(onset - 0.25), at(onset - 0.01).min(x.len()));
            let mut y = 0.0;
            for (k, v) in added[i0.min(i1)..i1].iter_mut().enumerate() {
                y += a * (noise() - y);
                *v = y * (0.3 + 0.7 * k as f64 / (i1 - i0).max(1) as f64);
            }
        }
        let pcg: Vec<f64> = rec.pcg.iter().map(|&v| f64::from(v)).collect();
        let s1_rms = rms_over(&pcg, rec.truth.s1.iter().copied());
        let added_rms = rms_over(
            &added,
            rec.truth.s1.iter().map(|&(o, _)| (o - 0.25, o - 0.01)),
        );
        let scale = 0.3 * s1_rms / added_rms.max(1e-12);
        for (v, r) in x.iter_mut().zip(&added) {
            *v += (r * scale) as f32;
        }
        let with = features(&x);
        let without = features(&rec.pcg);
        eprintln!(
            "seed {seed}: rumble dia_late {:.2} dia_rep {:.2} sys_late {:.2}; none dia_late {:.2} dia_rep {:.2}",
            with.get("dia_late_repeat"),
            with.get("dia_repeat"),
            with.get("sys_late_repeat"),
            without.get("dia_late_repeat"),
            without.get("dia_repeat")
        );
        // Measured: dia_repeat 0.36 and 0.41 (seeds 1, 2), under the committed gate of 0.7.
        assert!(
            with.get("dia_repeat") < 0.6,
            "the three-bin test alone would miss it"
        );
        assert!(with.get("dia_late_repeat") >= 0.9);
        assert_eq!(with.get("sys_late_repeat"), 0.0);
        assert_eq!(without.get("dia_late_repeat"), 0.0);
        let murmur = |samples: &[f32]| {
            Analyzer::new()
                .analyze(&Recording {
                    pcg: Signal {
                        samples,
                        rate: Hz(RATE),
                    },
                    ecg: None,
                })
                .expect("analyses")
                .murmur
        };
        let found = murmur(&x);
        eprintln!("seed {seed}: {found:?}");
        assert_eq!(found.status, MurmurStatus::Present, "seed {seed}");
        assert_eq!(found.timing, Some(MurmurTiming::Diastolic), "seed {seed}");
        assert_eq!(found.phase, Some(MurmurPhase::Late), "seed {seed}");
        assert_eq!(murmur(&rec.pcg).status, MurmurStatus::Absent, "seed {seed}");
    }
}

/// Aortic regurgitation (an early diastolic decrescendo, 200–650 Hz, from just after S2) fills
/// the first half of diastole and fades: the three-bin test misses it (it was called absent at
/// every grade), the late test reads the wrong end. The early test (`dia_early_repeat`: the
/// first two diastolic bins of the high band at least 4.5 dB above the same cycle's last) finds
/// it beat after beat, and the engine calls a diastolic murmur. A healthy heart and a mitral
/// regurgitation do not repeat early in diastole, and the healthy heart has no murmur.
#[test]
fn an_early_diastolic_decrescendo_repeats_early_and_is_called_diastolic() {
    let run = |kind: Option<MurmurKind>, bpm: f64, seed: u64| {
        let cfg = SynthConfig {
            seed,
            duration_s: 20.0,
            pcg_rate_hz: RATE,
            heart_rate_bpm: bpm,
            murmur: kind.map(|kind| MurmurSpec { kind, grade: 3 }),
            pcg_noise: PcgNoise {
                white_snr_db: Some(30.0),
                ..PcgNoise::NONE
            },
            ..SynthConfig::default()
        };
        let rec = auscult_synth::generate(&cfg).expect("valid config");
        let mut analyzer = Analyzer::new();
        let input = Recording {
            pcg: Signal {
                samples: &rec.pcg,
                rate: Hz(RATE),
            },
            ecg: None,
        };
        let ev = analyzer.evidence(&input).expect("analyses");
        let f = ev.features.clone().expect("features");
        (f, analyzer.conclude(ev))
    };
    for (bpm, seed) in [(56.0, 1u64), (62.0, 2), (68.0, 3)] {
        let (ar, a) = run(Some(MurmurKind::AorticRegurgitation), bpm, seed);
        let early = ar.get("dia_early_repeat");
        eprintln!(
            "AR {bpm} bpm: early {early:.2}, three-bin {:.2}, late {:.2}, {:?} {:?}",
            ar.get("dia_repeat"),
            ar.get("dia_late_repeat"),
            a.murmur.status,
            a.murmur.timing
        );
        assert!(early >= 0.9, "AR {bpm} bpm: dia_early_repeat {early}");
        assert!(ar.get("dia_repeat") < 0.7 && ar.get("dia_late_repeat") < 0.7);
        assert_eq!(a.murmur.status, MurmurStatus::Present, "AR {bpm} bpm");
        assert_eq!(
            a.murmur.timing,
            Some(MurmurTiming::Diastolic),
            "AR {bpm} bpm"
        );
        for kind in [None, Some(MurmurKind::MitralRegurgitation)] {
            let (f, a) = run(kind, bpm, seed);
            let early = f.get("dia_early_repeat");
            eprintln!("{kind:?} {bpm} bpm: dia early {early:.2}");
            assert!(early < 0.1, "{kind:?} {bpm} bpm: dia_early_repeat {early}");
            if kind.is_none() {
                assert_eq!(a.murmur.status, MurmurStatus::Absent, "{bpm} bpm");
            }
        }
    }
}

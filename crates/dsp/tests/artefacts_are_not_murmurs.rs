//! Issue 8: "an unfamiliar phone-stethoscope ... hears murmurs in artefacts". With the committed
//! models, a heart without a murmur under artefacts that do not repeat beat after beat (rubbing
//! bursts, knocks, speech, a noisy home recording) is never called "murmur present": the call
//! needs evidence at the same phase in most cycles (`dsp::murmur::repeats`). It may be "absent"
//! or "cannot judge". And the same artefacts over a real murmur do not hide it from the call
//! where the murmur stays audible. (The models before the repeat gate passed these too: what
//! fooled them on real devices was not synthetic artefacts of these kinds; this guards the
//! behaviour, the held-out specificity is measured in crates/train.)

use auscult_dsp::{Analyzer, FlagReason, Hz, MurmurStatus, Recording, Signal, UnknownReason};
use auscult_synth::{MurmurKind, PcgNoise};

mod support;
use support::{FAINT, RATE};

fn artefacts() -> [(&'static str, PcgNoise); 5] {
    let base = FAINT;
    [
        (
            "rubbing",
            PcgNoise {
                friction_per_min: 60.0,
                friction_level: 1.5,
                ..base
            },
        ),
        (
            "knocks",
            PcgNoise {
                spikes_per_min: 60.0,
                spike_level: 5.0,
                ..base
            },
        ),
        (
            "speech",
            PcgNoise {
                speech_per_min: 30.0,
                speech_level: 1.0,
                ..base
            },
        ),
        (
            "white noise at 5 dB",
            PcgNoise {
                white_snr_db: Some(5.0),
                ..PcgNoise::NONE
            },
        ),
        ("a noisy home recording", PcgNoise::NOISY),
    ]
}

fn status(kind: Option<MurmurKind>, noise: PcgNoise, seed: u64) -> MurmurStatus {
    let pcg = support::heart(seed, 70.0, kind.map(|k| (k, 3)), noise);
    Analyzer::new()
        .analyze(&Recording {
            pcg: Signal {
                samples: &pcg,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("analyses")
        .murmur
        .status
}

#[test]
fn artefacts_on_a_heart_without_murmur_are_not_called_murmurs() {
    let mut wrong = Vec::new();
    for (name, noise) in artefacts() {
        for seed in 1..=4u64 {
            let s = status(None, noise, seed);
            eprintln!("{name}, seed {seed}: {s:?}");
            if matches!(s, MurmurStatus::Present) {
                wrong.push(format!("{name}, seed {seed}"));
            }
        }
    }
    assert!(wrong.is_empty(), "artefacts called murmurs: {wrong:?}");
}

#[test]
fn rubbing_and_knocks_over_a_murmur_do_not_hide_it() {
    for (name, noise) in &artefacts()[..2] {
        for kind in [MurmurKind::MitralRegurgitation, MurmurKind::AorticStenosis] {
            let found = (1..=3u64)
                .filter(|&seed| matches!(status(Some(kind), *noise, seed), MurmurStatus::Present))
                .count();
            eprintln!("{kind:?} under {name}: {found} of 3 found");
            assert!(found >= 2, "{kind:?} under {name}: {found} of 3 found");
        }
    }
}

/// A tapping on the chest piece with no heart under it (one 60 Hz knock every 0.77 s over faint
/// noise) segments into regular "cycles" whose S2 is silence. It is not judged ("one sound per
/// cycle"); before the check it was a confident "murmur absent", not flagged. The synthetic
/// hearts above, clean or noisy, never get that reason.
#[test]
fn a_tapping_without_a_heart_is_not_judged() {
    let n = (10.0 * RATE) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let mut pcg: Vec<f32> = (0..n).map(|_| 0.01 * noise()).collect();
    let len = (0.05 * RATE) as usize;
    let mut t = 0.2;
    while t < 9.9 {
        let i0 = (t * RATE) as usize;
        for k in 0..len.min(n - i0) {
            let w = (std::f64::consts::PI * k as f64 / len as f64).sin().powi(2);
            let s = (2.0 * std::f64::consts::PI * 60.0 * k as f64 / RATE).sin();
            pcg[i0 + k] += (w * s) as f32;
        }
        t += 0.77;
    }
    let a = Analyzer::new()
        .analyze(&Recording {
            pcg: Signal {
                samples: &pcg,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("analyses");
    assert!(
        matches!(
            a.murmur.status,
            MurmurStatus::Unknown(UnknownReason::OneSoundPerCycle { .. })
        ),
        "{:?}",
        a.murmur.status
    );
    assert!(a.flagged && a.flag_reasons.contains(&FlagReason::CannotJudge));
    for (name, noise) in artefacts() {
        let s = status(None, noise, 1);
        assert!(
            !matches!(
                s,
                MurmurStatus::Unknown(UnknownReason::OneSoundPerCycle { .. })
            ),
            "a heart under {name}: {s:?}"
        );
    }
}

/// `auscult-synth`'s noise alone, with no heart under it: the same seed rendered with and
/// without the noise, one less the other (the synthesiser draws the noise from its own stream).
fn noise_alone(seed: u64, noise: PcgNoise) -> Vec<f32> {
    let heart = support::heart(seed, 70.0, None, PcgNoise::NONE);
    let noisy = support::heart(seed, 70.0, None, noise);
    noisy.iter().zip(&heart).map(|(a, b)| a - b).collect()
}

/// Asserts that `a` was not judged, for a reason `why` accepts, and is flagged for that alone.
fn assert_not_judged(a: &auscult_dsp::Analysis, why: impl Fn(&UnknownReason) -> bool, what: &str) {
    assert!(
        a.murmur.status.reason().is_some_and(why),
        "{what}: {:?}",
        a.murmur.status
    );
    assert_eq!(a.flag_reasons, vec![FlagReason::CannotJudge], "{what}");
}

fn analyse(pcg: &[f32]) -> auscult_dsp::Analysis {
    Analyzer::new()
        .analyze(&Recording {
            pcg: Signal {
                samples: pcg,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("analyses")
}

/// Breathing heard with no heart under it (the chest piece over a lung field, or off the
/// heart): the decoder cuts the breaths into "cycles" at 30 bpm, and each of these four was a
/// confident grade 4–5 murmur before the check; the mixes of every noise were "murmur absent"
/// (a healthy heart, where none was heard). Now they are not judged: their "heart sounds"
/// stand 0.4–2.5 dB above the rest of their cycles at 25–80 Hz, where every real recording's
/// stand 3.8 dB or more. Nor is an irregular rhythm reported from such sounds.
#[test]
fn breathing_and_noise_without_a_heart_are_not_judged() {
    let breathing = PcgNoise {
        breathing_level: 1.0,
        ..PcgNoise::NONE
    };
    let mix = PcgNoise {
        breathing_level: 1.0,
        friction_per_min: 20.0,
        friction_level: 1.0,
        speech_per_min: 10.0,
        speech_level: 1.0,
        spikes_per_min: 10.0,
        spike_level: 1.0,
        white_snr_db: Some(10.0),
    };
    let cases = [
        ("breathing", breathing, 0),
        ("breathing", breathing, 1),
        ("breathing", breathing, 2),
        ("breathing", breathing, 3),
        ("a mix of noises", mix, 0),
        ("a mix of noises", mix, 1),
    ];
    for (name, noise, seed) in cases {
        let a = analyse(&noise_alone(seed, noise));
        eprintln!("{name}, seed {seed}: {:?}", a.murmur.status);
        assert_not_judged(
            &a,
            |r| matches!(r, UnknownReason::IndistinctSounds { rise_db } if *rise_db < 3.0),
            &format!("{name}, seed {seed}"),
        );
    }
    // White noise alone is too noisy to judge, and its "rhythm" is no reason to flag.
    let white = analyse(&noise_alone(
        0,
        PcgNoise {
            white_snr_db: Some(0.0),
            ..PcgNoise::NONE
        },
    ));
    assert!(
        matches!(white.murmur.status, MurmurStatus::Unknown(_)),
        "{:?}",
        white.murmur.status
    );
    assert_eq!(white.flag_reasons, vec![FlagReason::CannotJudge]);
}

/// The same breathing over a heart, and the synthetic hearts of every murmur kind at grades 2–4
/// under the artefacts above, keep distinct heart sounds: the check takes no heart for noise.
#[test]
fn hearts_under_breathing_and_artefacts_keep_distinct_sounds() {
    let breathing = PcgNoise {
        breathing_level: 1.0,
        ..PcgNoise::NONE
    };
    let mut indistinct = Vec::new();
    let mut check = |what: String, pcg: &[f32]| {
        if let MurmurStatus::Unknown(UnknownReason::IndistinctSounds { rise_db }) =
            analyse(pcg).murmur.status
        {
            indistinct.push(format!("{what}: {rise_db:.1} dB"));
        }
    };
    for seed in 0..4u64 {
        check(
            format!("a heart under breathing, seed {seed}"),
            &support::heart(seed, 70.0, None, breathing),
        );
    }
    for (name, noise) in artefacts() {
        for kind in MurmurKind::ALL {
            for grade in [2u8, 3, 4] {
                check(
                    format!("{kind:?} grade {grade} under {name}"),
                    &support::heart(1, 70.0, Some((kind, grade)), noise),
                );
            }
        }
    }
    assert!(indistinct.is_empty(), "{indistinct:?}");
}

/// Speech-like bursts and rubbing with no heart under them: the decoder cuts them into 20–40
/// "cycles", of which a few pass the quality checks by chance. Before the check on how much of
/// the recording the accepted cycles span (`analysis::MIN_CLEAN_SHARE`), 5 of these 12 were
/// judged: a grade 1, 3 and 4 murmur, and "murmur absent" twice. Now every recording whose
/// accepted cycles span less than 40 % of it is not judged, which takes 3 of the 5; the other
/// two (accepted cycles spanning 48 % and 66 %) stay measured here, not hidden. And hearts under
/// the same artefacts are still judged: their accepted cycles span most of them.
#[test]
fn bursts_without_a_heart_whose_clean_cycles_span_little_are_not_judged() {
    let rubbing = PcgNoise {
        friction_per_min: 40.0,
        friction_level: 1.0,
        ..PcgNoise::NONE
    };
    let speech = |per_min: f64| PcgNoise {
        speech_per_min: per_min,
        speech_level: 1.0,
        ..PcgNoise::NONE
    };
    let mut judged = Vec::new();
    for (name, noise) in [
        ("rubbing", rubbing),
        ("speech, 20 bursts a minute", speech(20.0)),
        ("speech, 30 bursts a minute", speech(30.0)),
    ] {
        for seed in 0..4u64 {
            let a = analyse(&noise_alone(seed, noise));
            eprintln!("{name}, seed {seed}: {:?}", a.murmur.status);
            if !matches!(a.murmur.status, MurmurStatus::Unknown(_)) {
                judged.push(format!("{name}, seed {seed}"));
            }
            if matches!(
                (name, seed),
                ("rubbing", 1)
                    | ("speech, 20 bursts a minute", 1)
                    | ("speech, 30 bursts a minute", 2)
            ) {
                assert_not_judged(
                    &a,
                    |r| matches!(r, UnknownReason::LittleInCleanCycles { share } if *share < 0.4),
                    &format!("{name}, seed {seed}"),
                );
            }
        }
    }
    assert!(judged.len() <= 2, "judged with no heart: {judged:?}");
    for (name, noise) in &artefacts()[..3] {
        for seed in 1..=4u64 {
            let pcg = support::heart(seed, 70.0, None, *noise);
            let status = analyse(&pcg).murmur.status;
            assert!(
                !matches!(
                    status,
                    MurmurStatus::Unknown(UnknownReason::LittleInCleanCycles { .. })
                ),
                "a heart under {name}, seed {seed}: {status:?}"
            );
        }
    }
}

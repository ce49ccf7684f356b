//! Issue 8: "an unfamiliar phone-stethoscope ... hears murmurs in artefacts". With the committed
//! models, a heart without a murmur under artefacts that do not repeat beat after beat (rubbing
//! bursts, knocks, speech, a noisy home recording) is never called "murmur present": the call
//! needs evidence at the same phase in most cycles (`dsp::murmur::repeats`). It may be "absent"
//! or "cannot judge". And the same artefacts over a real murmur do not hide it from the call
//! where the murmur stays audible. (The models before the repeat gate passed these too: what
//! fooled them on real devices was not synthetic artefacts of these kinds; this guards the
//! behaviour, the held-out specificity is measured in crates/train.)

use auscult_dsp::{Analyzer, Hz, MurmurStatus, Recording, Signal};
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

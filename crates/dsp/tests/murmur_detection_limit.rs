//! An "absent" murmur call says what it could not have heard: the softest murmur, as a grade,
//! that the recording's own noise floor would let the repeat test find
//! (`MurmurFinding::softest_grade`, `PhaseMap::softest_murmur_rel`). Known answers on
//! `auscult-synth` hearts under white noise: a quiet recording hears a grade 1 murmur; the
//! limit rises with the noise; every murmur softer than the limit a recording states is one
//! the engine indeed misses there; and "absent" is never said where even a grade 4 murmur
//! would stay under the noise.

use auscult_dsp::{
    Analysis, Analyzer, FlagReason, Hz, MurmurCall, MurmurStatus, Recording, Signal, UnknownReason,
};
use auscult_synth::{MurmurKind, PcgNoise};

mod support;
use support::RATE;

fn analyse(analyzer: &mut Analyzer, seed: u64, grade: Option<u8>, snr_db: f64) -> Analysis {
    let noise = PcgNoise {
        white_snr_db: Some(snr_db),
        ..PcgNoise::NONE
    };
    let murmur = grade.map(|g| (MurmurKind::MitralRegurgitation, g));
    let pcg = support::heart(seed, 70.0, murmur, noise);
    analyzer
        .analyze(&Recording {
            pcg: Signal {
                samples: &pcg,
                rate: Hz(RATE),
            },
            ecg: None,
        })
        .expect("a synthetic recording analyses")
}

#[test]
fn a_quiet_recording_can_hear_a_grade_1_murmur() {
    let mut analyzer = Analyzer::new();
    for seed in 1..4 {
        let a = analyse(&mut analyzer, seed, None, 30.0);
        assert_eq!(a.murmur.status, MurmurStatus::Absent, "seed {seed}");
        assert_eq!(a.murmur.softest_grade, Some(1), "seed {seed}");
        // A grade 1 murmur is indeed found there.
        let m = analyse(&mut analyzer, seed, Some(1), 30.0);
        assert_eq!(m.murmur.status, MurmurStatus::Present, "seed {seed}");
        assert_eq!(
            m.murmur.softest_grade, None,
            "only an absent call states a limit"
        );
    }
}

#[test]
fn murmurs_softer_than_the_stated_limit_are_the_ones_missed() {
    let mut analyzer = Analyzer::new();
    let mut limits = Vec::new();
    for snr in [15.0, 10.0, 5.0, 0.0, -2.5] {
        for seed in 1..4 {
            let a = analyse(&mut analyzer, seed, None, snr);
            assert_eq!(
                a.murmur.status,
                MurmurStatus::Absent,
                "{snr} dB, seed {seed}"
            );
            let limit = a
                .murmur
                .softest_grade
                .expect("an absent call states its limit");
            for grade in 1..limit {
                let m = analyse(&mut analyzer, seed, Some(grade), snr);
                assert_ne!(
                    m.murmur.status.call(),
                    MurmurCall::Present,
                    "{snr} dB, seed {seed}: a grade {grade} murmur, softer than the stated \
                     grade {limit}, was found: the limit over-promises"
                );
            }
            limits.push((snr, limit));
        }
    }
    let at = |snr: f64| -> Vec<u8> {
        limits
            .iter()
            .filter(|(s, _)| *s == snr)
            .map(|(_, l)| *l)
            .collect()
    };
    // The limit rises with the noise: grade 1 at 15 dB SNR, grade 4 at −2.5 dB.
    assert_eq!(at(15.0), vec![1, 1, 1]);
    assert_eq!(at(-2.5), vec![4, 4, 4]);
    for w in limits.windows(2) {
        if w[1].0 < w[0].0 {
            assert!(w[1].1 + 1 >= w[0].1, "{limits:?}");
        }
    }
}

#[test]
fn absent_is_not_said_where_a_grade_4_murmur_would_be_missed() {
    let mut analyzer = Analyzer::new();
    let mut masked = 0;
    for seed in 1..4 {
        for grade in [None, Some(3)] {
            let a = analyse(&mut analyzer, seed, grade, -10.0);
            assert_ne!(a.murmur.status, MurmurStatus::Absent, "seed {seed}");
            if let MurmurStatus::Unknown(UnknownReason::MurmurMaskedByNoise { softest_grade }) =
                a.murmur.status
            {
                assert!(softest_grade > 4);
                assert!(a.flagged && a.flag_reasons.contains(&FlagReason::CannotJudge));
                masked += 1;
            }
        }
    }
    assert!(masked >= 4, "{masked} of 6 said why");
}

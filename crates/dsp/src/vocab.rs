//! The engine's vocabulary, spelled once: how each finding (murmur call, timing, phase, shape,
//! pitch, extra sound) is written wherever it leaves the engine: the JSON result contract
//! (`../shared/eval/README.md`), the database, the command line.
//!
//! Every spelling is in [`Term::as_str`]; [`Term::parse`] is its inverse and also accepts the
//! older spellings that stored analyses may still hold ([`Term::aliases`]). With the optional
//! `serde` feature each term serializes as its spelling, so no other crate keeps a string table.
//! This module does no I/O; the feature only adds the trait impls, never serialization itself.

use crate::model::{
    EcgSetAside, ExtraSound, FlagReason, MurmurPhase, MurmurPitch, MurmurShape, MurmurStatus,
    MurmurTiming, UnknownReason,
};

/// A word of the engine's vocabulary: a fieldless enum with one spelling per variant.
pub trait Term: Copy + PartialEq + Sized + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// What the term is called in messages ("murmur timing").
    const WHAT: &'static str;
    /// The spelling of the result contract.
    fn as_str(self) -> &'static str;
    /// Older spellings still accepted when reading.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
    /// The term spelled `s` (or an alias of it), if any.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s || t.aliases().contains(&s))
    }
}

/// The murmur call without its reason: what `murmur.status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurCall {
    /// A murmur was found.
    Present,
    /// No murmur in a recording good enough to judge.
    Absent,
    /// The recording could not be judged.
    Unknown,
}

/// Why a recording could not be judged, without the number the reason carries
/// ([`UnknownReason::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnknownKind {
    /// [`UnknownReason::TooShort`].
    TooShort,
    /// [`UnknownReason::NoHeartSounds`].
    NoHeartSounds,
    /// [`UnknownReason::Clipped`].
    Clipped,
    /// [`UnknownReason::TooNoisy`].
    TooNoisy,
    /// [`UnknownReason::TooFewCycles`].
    TooFewCycles,
    /// [`UnknownReason::NonFinite`].
    NonFinite,
    /// [`UnknownReason::UnlikeTraining`].
    UnlikeTraining,
    /// [`UnknownReason::NoMeasurableCycle`].
    NoMeasurableCycle,
    /// [`UnknownReason::OneSoundPerCycle`].
    OneSoundPerCycle,
    /// [`UnknownReason::IndistinctSounds`].
    IndistinctSounds,
    /// [`UnknownReason::LittleInCleanCycles`].
    LittleInCleanCycles,
    /// [`UnknownReason::MurmurMaskedByNoise`].
    MurmurMaskedByNoise,
}

/// What an absent murmur call could not have heard ([`crate::model::MurmurFinding::softest_grade`]),
/// in words; `None` for a recording that would show a grade 1 murmur.
pub fn softest_grade_words(grade: u8) -> Option<String> {
    (grade > 1).then(|| {
        format!("a murmur softer than grade {grade}/6 would stay under this recording's noise")
    })
}

impl MurmurStatus {
    /// The call, without the reason.
    pub fn call(&self) -> MurmurCall {
        match self {
            MurmurStatus::Present => MurmurCall::Present,
            MurmurStatus::Absent => MurmurCall::Absent,
            MurmurStatus::Unknown(_) => MurmurCall::Unknown,
        }
    }
}

impl MurmurStatus {
    /// Why the recording could not be judged, when it could not.
    pub fn reason(&self) -> Option<&UnknownReason> {
        match self {
            MurmurStatus::Unknown(r) => Some(r),
            _ => None,
        }
    }
}

impl UnknownReason {
    /// The kind of reason, without its number (what a store keeps so that another language
    /// can word it again with [`UnknownReason::value`]).
    pub fn kind(&self) -> UnknownKind {
        match self {
            UnknownReason::TooShort { .. } => UnknownKind::TooShort,
            UnknownReason::NoHeartSounds => UnknownKind::NoHeartSounds,
            UnknownReason::Clipped { .. } => UnknownKind::Clipped,
            UnknownReason::TooNoisy { .. } => UnknownKind::TooNoisy,
            UnknownReason::TooFewCycles { .. } => UnknownKind::TooFewCycles,
            UnknownReason::NonFinite => UnknownKind::NonFinite,
            UnknownReason::UnlikeTraining { .. } => UnknownKind::UnlikeTraining,
            UnknownReason::NoMeasurableCycle => UnknownKind::NoMeasurableCycle,
            UnknownReason::OneSoundPerCycle { .. } => UnknownKind::OneSoundPerCycle,
            UnknownReason::IndistinctSounds { .. } => UnknownKind::IndistinctSounds,
            UnknownReason::LittleInCleanCycles { .. } => UnknownKind::LittleInCleanCycles,
            UnknownReason::MurmurMaskedByNoise { .. } => UnknownKind::MurmurMaskedByNoise,
        }
    }

    /// The number the reason's words carry, in the unit they give it (seconds, a fraction of
    /// samples, the signal-quality index, accepted cycles, a distance, dB, a grade).
    pub fn value(&self) -> Option<f64> {
        match self {
            UnknownReason::TooShort { duration } => Some(duration.0),
            UnknownReason::Clipped { fraction } => Some(f64::from(*fraction)),
            UnknownReason::TooNoisy { sqi } => Some(f64::from(*sqi)),
            UnknownReason::TooFewCycles { accepted } => Some(*accepted as f64),
            UnknownReason::UnlikeTraining { distance } => Some(f64::from(*distance)),
            UnknownReason::OneSoundPerCycle { rise_db }
            | UnknownReason::IndistinctSounds { rise_db } => Some(f64::from(*rise_db)),
            UnknownReason::LittleInCleanCycles { share } => Some(f64::from(*share)),
            UnknownReason::MurmurMaskedByNoise { softest_grade } => Some(f64::from(*softest_grade)),
            UnknownReason::NoHeartSounds
            | UnknownReason::NonFinite
            | UnknownReason::NoMeasurableCycle => None,
        }
    }

    /// The reason in words, as a person reads it (the result contract's `reason`).
    pub fn describe(&self) -> String {
        match self {
            UnknownReason::TooShort { duration } => format!("too short ({:.2} s)", duration.0),
            UnknownReason::NoHeartSounds => "no heart sounds found".into(),
            UnknownReason::Clipped { fraction } => {
                format!("clipped ({:.0}% of samples at the rails)", fraction * 100.0)
            }
            UnknownReason::TooNoisy { sqi } => format!("too noisy (signal quality {sqi:.2})"),
            UnknownReason::TooFewCycles { accepted } => {
                format!("too few clean cycles ({accepted} accepted)")
            }
            UnknownReason::NonFinite => "samples hold NaN or infinity".into(),
            UnknownReason::OneSoundPerCycle { rise_db } => format!(
                "one sound per cycle, not an S1 and an S2 (the other stands {rise_db:.1} dB above the quietest part of the cycle): not heart sounds, the chest piece off the heart, or a sound buried in a continuous murmur: re-record or listen"
            ),
            UnknownReason::IndistinctSounds { rise_db } => format!(
                "no distinct heart sounds (they stand {rise_db:.1} dB above the rest of the cycle at 25–80 Hz, where a heart's stand about 4 dB or more): breathing, noise, the chest piece off the heart, or a rumble as loud as the heart sounds: re-record or listen"
            ),
            UnknownReason::LittleInCleanCycles { share } => format!(
                "the clean heart cycles span only {:.0}% of the recording, where a heart recorded well fills most of it: speech, rubbing or noise over the rest, or no heart under it: re-record or listen",
                share * 100.0
            ),
            UnknownReason::MurmurMaskedByNoise { softest_grade } => format!(
                "too noisy to rule out a murmur: one softer than grade {softest_grade}/6 would stay under this recording's noise: re-record somewhere quieter or listen"
            ),
            UnknownReason::NoMeasurableCycle => "no cycle whose systole and diastole could both be measured, so a murmur cannot be told from noise: re-record or listen".into(),
            UnknownReason::UnlikeTraining { distance } => format!(
                "recording unlike any the engine was trained on: re-record or listen (distance {distance:.1})"
            ),
        }
    }
}

macro_rules! terms {
    ($ty:ty, $what:literal, [$($variant:ident => $spelling:literal $(| $alias:literal)*),+ $(,)?]) => {
        impl Term for $ty {
            const ALL: &'static [Self] = &[$(<$ty>::$variant),+];
            const WHAT: &'static str = $what;
            fn as_str(self) -> &'static str {
                <$ty>::as_str(self)
            }
            fn aliases(self) -> &'static [&'static str] {
                match self {
                    $(<$ty>::$variant => &[$($alias),*]),+
                }
            }
        }

        impl $ty {
            /// The spelling of the result contract (as [`Term::as_str`]).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $spelling),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownTerm;
            fn from_str(s: &str) -> Result<Self, UnknownTerm> {
                <$ty as Term>::parse(s).ok_or_else(|| UnknownTerm {
                    what: $what,
                    spelling: s.chars().take(64).collect(),
                })
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A spelling that names no term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{spelling:?} is not a {what}")]
pub struct UnknownTerm {
    /// What was expected ("murmur timing").
    pub what: &'static str,
    /// What was found (at most 64 characters of it).
    pub spelling: String,
}

terms!(UnknownKind, "reason a recording could not be judged", [
    TooShort => "too_short",
    NoHeartSounds => "no_heart_sounds",
    Clipped => "clipped",
    TooNoisy => "too_noisy",
    TooFewCycles => "too_few_cycles",
    NonFinite => "non_finite",
    UnlikeTraining => "unlike_training",
    NoMeasurableCycle => "no_measurable_cycle",
    OneSoundPerCycle => "one_sound_per_cycle",
    IndistinctSounds => "indistinct_sounds",
    LittleInCleanCycles => "little_in_clean_cycles",
    MurmurMaskedByNoise => "murmur_masked_by_noise",
]);

terms!(MurmurCall, "murmur status", [
    Present => "present",
    Absent => "absent",
    Unknown => "unknown",
]);

terms!(MurmurTiming, "murmur timing", [
    Systolic => "systolic",
    Diastolic => "diastolic",
    Both => "both",
]);

terms!(MurmurPhase, "murmur phase", [
    Early => "early",
    Mid => "mid",
    Late => "late",
    Holo => "holo",
]);

terms!(MurmurShape, "murmur shape", [
    CrescendoDecrescendo => "crescendo-decrescendo" | "crescendo_decrescendo",
    Plateau => "plateau",
    Decrescendo => "decrescendo",
    Crescendo => "crescendo",
]);

terms!(MurmurPitch, "murmur pitch", [
    Low => "low",
    Medium => "medium",
    High => "high",
]);

terms!(ExtraSound, "extra heart sound", [
    S3 => "s3" | "S3",
    S4 => "s4" | "S4",
    SystolicClick => "systolic_click" | "systolic-click",
]);

terms!(FlagReason, "flag reason", [
    Murmur => "murmur",
    IrregularRhythm => "irregular_rhythm",
    ExtraSound => "extra_sound",
    CannotJudge => "cannot_judge",
    AbnormalScore => "abnormal_score",
]);

terms!(EcgSetAside, "reason an ECG was set aside", [
    NoBeats => "no_beats",
    Unsteady => "unsteady",
    FewBeats => "few_beats",
    NotFollowed => "not_followed",
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<T: Term + std::fmt::Debug + std::str::FromStr<Err = UnknownTerm>>() {
        let mut seen = std::collections::HashSet::new();
        for &t in T::ALL {
            assert!(seen.insert(t.as_str()), "{} spelled twice", t.as_str());
            assert_eq!(T::parse(t.as_str()), Some(t));
            assert_eq!(t.as_str().parse::<T>(), Ok(t));
            for a in t.aliases() {
                assert_eq!(T::parse(a), Some(t), "alias {a}");
            }
        }
        let e = "no such thing"
            .parse::<T>()
            .expect_err("a stranger is refused");
        assert_eq!(e.what, T::WHAT);
    }

    #[test]
    fn every_term_round_trips_through_its_spelling() {
        walk::<MurmurCall>();
        walk::<MurmurTiming>();
        walk::<MurmurPhase>();
        walk::<MurmurShape>();
        walk::<MurmurPitch>();
        walk::<ExtraSound>();
        walk::<FlagReason>();
        walk::<EcgSetAside>();
        walk::<UnknownKind>();
    }

    #[test]
    fn every_unknown_reason_has_its_kind_and_number() {
        use crate::units::Seconds;
        let all = [
            UnknownReason::TooShort {
                duration: Seconds(1.2),
            },
            UnknownReason::NoHeartSounds,
            UnknownReason::Clipped { fraction: 0.1 },
            UnknownReason::TooNoisy { sqi: 0.1 },
            UnknownReason::TooFewCycles { accepted: 0 },
            UnknownReason::NonFinite,
            UnknownReason::UnlikeTraining { distance: 3.0 },
            UnknownReason::NoMeasurableCycle,
            UnknownReason::OneSoundPerCycle { rise_db: 1.0 },
            UnknownReason::IndistinctSounds { rise_db: 1.0 },
            UnknownReason::LittleInCleanCycles { share: 0.25 },
            UnknownReason::MurmurMaskedByNoise { softest_grade: 5 },
        ];
        let kinds: Vec<UnknownKind> = all.iter().map(UnknownReason::kind).collect();
        assert_eq!(kinds, UnknownKind::ALL);
        assert_eq!(all[0].value(), Some(1.2));
        assert_eq!(all[10].value(), Some(0.25));
        assert!(
            all[10]
                .describe()
                .starts_with("the clean heart cycles span only 25% of")
        );
        assert_eq!(all[11].value(), Some(5.0));
        assert_eq!(all[1].value(), None);
    }

    #[test]
    fn legacy_stored_spellings_still_read() {
        assert_eq!(
            ExtraSound::parse("systolic-click"),
            Some(ExtraSound::SystolicClick)
        );
        assert_eq!(ExtraSound::parse("S3"), Some(ExtraSound::S3));
        assert_eq!(ExtraSound::SystolicClick.as_str(), "systolic_click");
    }
}

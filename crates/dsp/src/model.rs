//! The engine's input and output model: plain Rust values, no serialization.
//!
//! This module is the contract between the engine (`segment`, `murmur`, `quality`, ...) and its users
//! (the `auscult` CLI, the server's workers). Keep it free of serde and protobuf.

use crate::units::{Bpm, Hz, Seconds};

/// A borrowed, uniformly sampled signal.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    /// The samples, any scale (normalised by the engine).
    pub samples: &'a [f32],
    /// The sample rate.
    pub rate: Hz,
}

/// What the device gave us of the ECG.
#[derive(Debug, Clone, Copy)]
pub enum EcgInput<'a> {
    /// A raw ECG lead, any rate from 100 Hz to 48 kHz, any polarity.
    Raw(Signal<'a>),
    /// R-peak times detected by the device, seconds from the start of the PCG.
    RPeaks(&'a [Seconds]),
}

/// One recording to analyse.
#[derive(Debug, Clone, Copy)]
pub struct Recording<'a> {
    /// The phonocardiogram.
    pub pcg: Signal<'a>,
    /// The simultaneous ECG, if any.
    pub ecg: Option<EcgInput<'a>>,
}

impl<'a> Recording<'a> {
    /// A PCG at `pcg_rate`, with a raw ECG lead at its own rate when one is given.
    pub fn with_raw_ecg(pcg: &'a [f32], pcg_rate: Hz, ecg: Option<(&'a [f32], Hz)>) -> Self {
        Recording {
            pcg: Signal {
                samples: pcg,
                rate: pcg_rate,
            },
            ecg: ecg.map(|(samples, rate)| EcgInput::Raw(Signal { samples, rate })),
        }
    }
}

/// A span of time within a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Start, seconds from the start of the recording.
    pub start: Seconds,
    /// End, seconds from the start of the recording.
    pub end: Seconds,
}

impl Interval {
    /// The centre of the span.
    pub fn centre(&self) -> Seconds {
        Seconds((self.start.0 + self.end.0) / 2.0)
    }
    /// The length of the span.
    pub fn duration(&self) -> Seconds {
        Seconds(self.end.0 - self.start.0)
    }
}

/// One cardiac cycle: S1, systole, S2, diastole.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    /// The R peak that opened the cycle, when an ECG was used.
    pub r_peak: Option<Seconds>,
    /// The first heart sound.
    pub s1: Interval,
    /// The second heart sound.
    pub s2: Interval,
    /// Where the cycle ends (the next S1 onset, or the end of the usable signal).
    pub end: Seconds,
    /// Quality of this cycle, 0 (useless) to 1 (clean).
    pub quality: f32,
    /// Whether the cycle was kept for ensemble averaging and murmur finding.
    pub accepted: bool,
}

/// The heart sounds at a recording's edges that belong to no whole cycle (whole, or at least
/// 40 ms of one if the edge cuts it too): they are reported, but no cycle, ensemble or finding
/// uses them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EdgeSounds {
    /// An S2 before the first cycle (its S1 lay before the recording began).
    pub leading_s2: Option<Interval>,
    /// An S1 after the last cycle (its S2 would fall after the recording ended).
    pub trailing_s1: Option<Interval>,
}

impl EdgeSounds {
    /// The cycles as reported (result contract, text): `cycles` in time order, after a partial
    /// cycle holding the leading S2 (it ends where the first whole cycle's S1 starts, or at
    /// `duration`) and before one holding the trailing S1 (it ends at `duration`).
    pub fn around(&self, cycles: &[Cycle], duration: Seconds) -> Vec<ReportedCycle> {
        let partial = |s1: Option<Interval>, s2: Option<Interval>, end: Seconds| ReportedCycle {
            r_peak: None,
            s1,
            s2,
            end,
            quality: 0.0,
            accepted: false,
            partial: true,
        };
        let first_s1 = cycles.first().map_or(duration, |c| c.s1.start);
        let leading = self.leading_s2.map(|s2| partial(None, Some(s2), first_s1));
        let trailing = self.trailing_s1.map(|s1| partial(Some(s1), None, duration));
        leading
            .into_iter()
            .chain(cycles.iter().map(|c| ReportedCycle {
                r_peak: c.r_peak,
                s1: Some(c.s1),
                s2: Some(c.s2),
                end: c.end,
                quality: c.quality,
                accepted: c.accepted,
                partial: false,
            }))
            .chain(trailing)
            .collect()
    }
}

/// One cycle as reported: a whole [`Cycle`], or the partial one a recording's edge cut, holding
/// only the heart sound that was heard (see [`EdgeSounds::around`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportedCycle {
    /// The R peak that opened the cycle (whole cycles gated on the ECG).
    pub r_peak: Option<Seconds>,
    /// The first heart sound (`None` in a leading partial cycle).
    pub s1: Option<Interval>,
    /// The second heart sound (`None` in a trailing partial cycle).
    pub s2: Option<Interval>,
    /// Where the cycle ends.
    pub end: Seconds,
    /// The cycle's quality (0 for a partial cycle).
    pub quality: f32,
    /// Whether the cycle was used (never a partial one).
    pub accepted: bool,
    /// Whether an edge of the recording cut it.
    pub partial: bool,
}

/// Where in the cycle a murmur sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurTiming {
    /// Between S1 and S2.
    Systolic,
    /// Between S2 and the next S1.
    Diastolic,
    /// In both phases.
    Both,
}

/// Which part of its phase the murmur occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurPhase {
    /// The first third of the phase.
    Early,
    /// The middle of the phase.
    Mid,
    /// The last third of the phase.
    Late,
    /// The whole phase.
    Holo,
}

impl MurmurPhase {
    /// The stretch of the phase to mark as the murmur's, as shares of the phase from its start:
    /// early the first half, mid the middle half, late the last half, holo all of it (the
    /// finding is read from where the murmur's energy centres, so a half shows it with margin).
    pub fn span_of_phase(self) -> (f64, f64) {
        match self {
            MurmurPhase::Early => (0.0, 0.5),
            MurmurPhase::Mid => (0.25, 0.75),
            MurmurPhase::Late => (0.5, 1.0),
            MurmurPhase::Holo => (0.0, 1.0),
        }
    }
}

/// Where a murmur found with `timing` and `phase` is marked in one cycle whose systole and
/// diastole run over `systole` and `diastole` (start, end seconds): the phases its timing names,
/// each narrowed to [`MurmurPhase::span_of_phase`] (the whole phase without a phase). The one
/// rule for every picture of a finding (`auscult plot`, the console's waveform).
pub fn murmur_marks(
    timing: MurmurTiming,
    phase: Option<MurmurPhase>,
    systole: (f64, f64),
    diastole: (f64, f64),
) -> impl Iterator<Item = (f64, f64)> {
    let (from, to) = phase.map_or((0.0, 1.0), MurmurPhase::span_of_phase);
    let part = move |(start, end): (f64, f64)| {
        let len = (end - start).max(0.0);
        (start + from * len, start + to * len)
    };
    let (sys, dia) = match timing {
        MurmurTiming::Systolic => (true, false),
        MurmurTiming::Diastolic => (false, true),
        MurmurTiming::Both => (true, true),
    };
    [sys.then(|| part(systole)), dia.then(|| part(diastole))]
        .into_iter()
        .flatten()
}

/// The intensity profile of a murmur over its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurShape {
    /// Rising then falling (diamond), e.g. aortic stenosis.
    CrescendoDecrescendo,
    /// Flat, e.g. mitral regurgitation.
    Plateau,
    /// Falling, e.g. aortic regurgitation.
    Decrescendo,
    /// Rising, e.g. presystolic accentuation of mitral stenosis.
    Crescendo,
}

/// The dominant pitch of a murmur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurPitch {
    /// Mostly below 150 Hz (rumbles).
    Low,
    /// 150 to 300 Hz.
    Medium,
    /// Mostly above 300 Hz (blowing).
    High,
}

/// Why the engine would not judge a recording.
#[derive(Debug, Clone, PartialEq)]
pub enum UnknownReason {
    /// Shorter than the engine needs to see enough cycles.
    TooShort {
        /// How long the recording was.
        duration: Seconds,
    },
    /// No usable heart sounds (silence, a flat line).
    NoHeartSounds,
    /// Clipped for too much of its length.
    Clipped {
        /// Fraction of samples at the rails.
        fraction: f32,
    },
    /// Too noisy to find or judge cycles.
    TooNoisy {
        /// The signal-quality index that fell short (0..1).
        sqi: f32,
    },
    /// Too few cycles survived quality checks.
    TooFewCycles {
        /// How many were accepted.
        accepted: usize,
    },
    /// The samples held NaN or infinity.
    NonFinite,
    /// The recording's murmur evidence lies far outside everything the models were trained on
    /// (an unfamiliar device, site or artefact): re-record or listen.
    UnlikeTraining {
        /// Distance to the training recordings (Mahalanobis, in standard deviations).
        distance: f32,
    },
    /// Cycles were accepted, but not one whose systole and diastole could both be measured, so
    /// a murmur's repeat at one phase cannot be told from noise: re-record or listen. (With no
    /// accepted cycle at all the reason is [`UnknownReason::TooFewCycles`].)
    NoMeasurableCycle,
    /// The cycles hold one sound each, not an S1 and an S2 (a tapping, a knock, a pulse, the
    /// chest piece off the heart, or a sound buried in a continuous murmur): nothing the engine
    /// can judge; a clinician should listen.
    OneSoundPerCycle {
        /// How far (dB) the weaker "sound" stands above the cycle's silence.
        rise_db: f32,
    },
    /// The "heart sounds" do not stand out from the rest of their cycles in the heart sounds'
    /// own low band (breathing, noise with no heart under it, the chest piece off the chest,
    /// or a rumble as loud as the sounds): nothing the engine can judge; a clinician should
    /// listen.
    IndistinctSounds {
        /// How far (dB) the sounds stand above the middle of their cycles in 25–80 Hz.
        rise_db: f32,
    },
    /// Cycles were accepted, but they cover little of a long recording: what lies between them
    /// could not be cut into clean cycles (speech, rubbing or noise over most of it, or no heart
    /// under it), and the few that passed may be chance: re-record or listen.
    LittleInCleanCycles {
        /// The share (0..1) of the recording's length that its accepted cycles span.
        share: f32,
    },
    /// No murmur was heard, but the recording's noise floor stands so near its heart sounds
    /// that a soft murmur would have stayed under it: "absent" cannot be said; a clinician
    /// should listen, or the recording be made again somewhere quieter.
    MurmurMaskedByNoise {
        /// The softest murmur (a grade estimated as [`MurmurFinding::grade`] is) the recording
        /// would have shown.
        softest_grade: u8,
    },
}

/// Why a recording was flagged for a clinician, each backed by evidence in the [`Analysis`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagReason {
    /// A murmur was found (see [`Analysis::murmur`]).
    Murmur,
    /// The rhythm is irregular (see [`Analysis::rhythm`]).
    IrregularRhythm,
    /// An extra heart sound was found (see [`Analysis::extra_sounds`]).
    ExtraSound,
    /// The recording could not be judged (see the murmur status's reason).
    CannotJudge,
    /// The learned abnormality score is above its threshold (see [`Analysis::abnormal_score`]);
    /// only when that score held its specificity on every left-out database.
    AbnormalScore,
}

/// Why an ECG given with a recording was set aside, its cycles found from the sound alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcgSetAside {
    /// The lead gave fewer than two heartbeats (a flat or unreadable lead).
    NoBeats,
    /// Its beats keep no rate: too few intervals in a row alike in length (scattered
    /// detections in noise).
    Unsteady,
    /// It gives a small share of the beats its own rate implies over the recording (a lead
    /// readable only here and there).
    FewBeats,
    /// The heart sounds do not follow its beats: many of its "beats" have no S1 after them (T
    /// waves or artefacts read as beats, electrode pops).
    NotFollowed,
}

impl EcgSetAside {
    /// A sentence a person understands, after "the ECG was set aside: ".
    pub const fn describe(self) -> &'static str {
        match self {
            EcgSetAside::NoBeats => "no heartbeats found in it",
            EcgSetAside::Unsteady => "its beats keep no steady rate",
            EcgSetAside::FewBeats => "it gives too few of the beats its own rate implies",
            EcgSetAside::NotFollowed => {
                "the heart sounds do not follow its beats, likely T waves or artefacts read as beats"
            }
        }
    }
}

/// Whether there is a murmur.
#[derive(Debug, Clone, PartialEq)]
pub enum MurmurStatus {
    /// A murmur was found.
    Present,
    /// No murmur was found in a recording good enough to judge.
    Absent,
    /// The recording could not be judged.
    Unknown(UnknownReason),
}

/// The engine's murmur finding for one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct MurmurFinding {
    /// Present, absent or unknown (with the reason).
    pub status: MurmurStatus,
    /// Systolic, diastolic or both (when present).
    pub timing: Option<MurmurTiming>,
    /// Early, mid, late or holo (when present).
    pub phase: Option<MurmurPhase>,
    /// Intensity profile (when present).
    pub shape: Option<MurmurShape>,
    /// Dominant pitch (when present).
    pub pitch: Option<MurmurPitch>,
    /// Estimated Levine grade 1..=6 (when present).
    pub grade: Option<u8>,
    /// For an absent call: the softest murmur, as a grade estimated as `grade` is, that this
    /// recording would have shown ([`crate::features::PhaseMap::softest_murmur_rel`]); a softer
    /// one stays under its noise. 1 on a quiet recording; `None` when not measured.
    pub softest_grade: Option<u8>,
    /// Confidence in `status`, 0..1 (for a call, 0.5 on its decision boundary: see
    /// [`crate::murmur::call_confidence`]).
    pub confidence: f32,
}

impl MurmurFinding {
    /// A finding with no murmur to describe (absent, or unknown with its reason): timing,
    /// phase, shape, pitch and grade empty.
    pub fn undescribed(status: MurmurStatus, confidence: f32) -> MurmurFinding {
        MurmurFinding {
            status,
            timing: None,
            phase: None,
            shape: None,
            pitch: None,
            grade: None,
            softest_grade: None,
            confidence,
        }
    }
}

/// Rhythm measures over the accepted cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct Rhythm {
    /// Mean heart rate.
    pub heart_rate: Bpm,
    /// Standard deviation of RR intervals.
    pub rr_sd: Seconds,
    /// RMSSD of successive RR intervals.
    pub rmssd: Seconds,
    /// How many RR intervals the measures come from.
    pub intervals: usize,
    /// Whether the rhythm looks irregular (e.g. atrial fibrillation, frequent ectopy); judged
    /// only from [`crate::rhythm::MIN_INTERVALS_TO_JUDGE`] intervals or more, false below.
    pub irregular: bool,
    /// Whether the intervals spread as an irregular rhythm's do but change smoothly, as breathing
    /// changes a healthy heart's (respiratory sinus arrhythmia; [`crate::rhythm::phasic`]): then
    /// the rhythm is not called irregular.
    pub phasic: bool,
}

/// An extra heart sound found in the ensemble-averaged cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraSound {
    /// Early-diastolic third sound.
    S3,
    /// Late-diastolic (presystolic) fourth sound.
    S4,
    /// A systolic click.
    SystolicClick,
}

/// Signal quality of the whole recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// Whether the recording is good enough to judge.
    pub usable: bool,
    /// Signal-quality index, 0 (hopeless) to 1 (clean).
    pub sqi: f32,
    /// Why not usable, when not.
    pub reason: Option<UnknownReason>,
}

/// The cycle-synchronous (ensemble) average of the accepted cycles, on a common time base.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleCycle {
    /// The rate of `envelope` and `waveform`.
    pub rate: Hz,
    /// The averaged band-passed waveform, aligned on S1 onset at index 0.
    pub waveform: Vec<f32>,
    /// The averaged envelope, same time base.
    pub envelope: Vec<f32>,
    /// S1 span relative to the start of the ensemble.
    pub s1: Interval,
    /// S2 span relative to the start of the ensemble.
    pub s2: Interval,
    /// How many cycles were averaged.
    pub cycles: usize,
}

/// Everything the engine says about one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Length of the PCG.
    pub duration: Seconds,
    /// The PCG's original sample rate.
    pub sample_rate: Hz,
    /// Whether the cycles were gated on the ECG.
    pub ecg_used: bool,
    /// Why an ECG given was not used (`None` when it was used or none was given).
    pub ecg_set_aside: Option<EcgSetAside>,
    /// Heart rate, when it could be measured.
    pub heart_rate: Option<Bpm>,
    /// Rhythm measures, when there were enough cycles.
    pub rhythm: Option<Rhythm>,
    /// Every segmented cycle, accepted or not.
    pub cycles: Vec<Cycle>,
    /// Heart sounds at the edges that belong to no whole cycle (not used by any finding).
    pub edge_sounds: EdgeSounds,
    /// The murmur finding.
    pub murmur: MurmurFinding,
    /// Extra sounds found.
    pub extra_sounds: Vec<ExtraSound>,
    /// Whole-recording quality.
    pub quality: Quality,
    /// The ensemble-averaged cycle, when there were enough accepted cycles.
    pub ensemble: Option<EnsembleCycle>,
    /// The learned abnormality ("needs review") score 0..1, when the recording could be judged.
    /// A score, not a finding: it flags only as [`FlagReason::AbnormalScore`] when allowed.
    pub abnormal_score: Option<f32>,
    /// Why the recording is flagged; empty when it is not.
    pub flag_reasons: Vec<FlagReason>,
    /// Whether a clinician should review this recording (`!flag_reasons.is_empty()`).
    pub flagged: bool,
}

/// The PCG after the front end: resampled to the analysis rate, band-passed, spikes removed,
/// normalised; with its envelope on the same time base. Produced by `preprocess`, shared by
/// segmentation, quality and murmur finding so no step is computed twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessed {
    /// The analysis rate of `pcg` and `envelope`.
    pub rate: Hz,
    /// Band-passed, spike-free, unit-variance PCG.
    pub pcg: Vec<f32>,
    /// Homomorphic (or Hilbert) envelope of `pcg`, same length.
    pub envelope: Vec<f32>,
    /// The duration of the original recording.
    pub duration: Seconds,
    /// The original sample rate.
    pub original_rate: Hz,
}

/// The output of segmentation: the cycles found, with S1 and S2 placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    /// Cycles in time order (quality and acceptance left for the quality step to set).
    pub cycles: Vec<Cycle>,
    /// Heart rate estimate.
    pub heart_rate: Option<Bpm>,
    /// Whether the segmentation was gated on the ECG.
    pub ecg_used: bool,
    /// Why an ECG given was not used (`None` when it was used or none was given).
    pub ecg_set_aside: Option<EcgSetAside>,
    /// R-peak times used, when gated on the ECG.
    pub r_peaks: Vec<Seconds>,
    /// Heart sounds at the edges that belong to no whole cycle.
    pub edge_sounds: EdgeSounds,
    /// How much better a murmur filling systole or diastole explains the recording than silent
    /// phases do (computed only when asked for, see [`crate::segment::segment_with_likelihood`]).
    pub murmur_likelihood: Option<MurmurLikelihood>,
}

/// The murmur likelihood ratio of a recording (after the CUED entry of the PhysioNet 2022
/// challenge): the recording is decoded by the healthy four-state HSMM (S1, silent systole, S2,
/// silent diastole) and by two murmur HSMMs in which systole, or diastole, sounds like a heart
/// sound instead of silence; each value is the log-score of the murmur HSMM's best path minus the
/// healthy one's, per frame (50 frames a second). Positive: a murmur in that phase explains the
/// recording better. The emission model reads each recording's own normalised envelopes, so gain
/// cancels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MurmurLikelihood {
    /// Systolic murmur HSMM against the healthy one (log-score per frame).
    pub systolic: f32,
    /// Diastolic murmur HSMM against the healthy one (log-score per frame).
    pub diastolic: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(a: f64, b: f64) -> Interval {
        Interval {
            start: Seconds(a),
            end: Seconds(b),
        }
    }

    fn cycle(t: f64) -> Cycle {
        Cycle {
            r_peak: Some(Seconds(t - 0.01)),
            s1: iv(t, t + 0.1),
            s2: iv(t + 0.35, t + 0.45),
            end: Seconds(t + 0.8),
            quality: 0.9,
            accepted: true,
        }
    }

    #[test]
    fn reported_cycles_put_the_partial_ones_first_and_last() {
        let cycles = [cycle(0.5), cycle(1.3)];
        let edges = EdgeSounds {
            leading_s2: Some(iv(0.1, 0.2)),
            trailing_s1: Some(iv(2.2, 2.3)),
        };
        let r = edges.around(&cycles, Seconds(2.4));
        assert_eq!(r.len(), 4);
        assert!(r[0].partial && r[0].s1.is_none() && r[0].s2 == Some(iv(0.1, 0.2)));
        assert_eq!(r[0].end, Seconds(0.5), "ends where the first S1 starts");
        assert!(!r[0].accepted && r[0].r_peak.is_none() && r[0].quality == 0.0);
        for (w, c) in r[1..3].iter().zip(&cycles) {
            assert!(!w.partial && w.accepted);
            assert_eq!(
                (w.s1, w.s2, w.end, w.r_peak),
                (Some(c.s1), Some(c.s2), c.end, c.r_peak)
            );
        }
        assert!(r[3].partial && r[3].s2.is_none() && r[3].s1 == Some(iv(2.2, 2.3)));
        assert_eq!(r[3].end, Seconds(2.4), "ends with the recording");
        // No edge sounds: the whole cycles alone; no cycles: the edge sound alone, to the end.
        assert_eq!(EdgeSounds::default().around(&cycles, Seconds(2.4)).len(), 2);
        let lone = EdgeSounds {
            leading_s2: Some(iv(0.1, 0.2)),
            trailing_s1: None,
        }
        .around(&[], Seconds(3.0));
        assert_eq!(lone.len(), 1);
        assert_eq!(lone[0].end, Seconds(3.0));
    }
}

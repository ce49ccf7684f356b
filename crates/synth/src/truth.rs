//! Ground truth: exactly where every event was placed, in seconds from the start of the recording.
//!
//! Only events that lie wholly inside the recording are listed, so a test can match them one to one
//! against an analysis without edge effects. Plain `f64` seconds, no unit types from other crates.

use crate::config::{MurmurKind, MurmurPhase, MurmurPitch, MurmurShape, MurmurTiming, Rhythm};

/// What kind of beat an R peak belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BeatKind {
    /// A narrow-QRS supraventricular beat (sinus, or conducted atrial fibrillation).
    Normal,
    /// A premature ventricular beat: early, wide QRS, no P wave, discordant T wave, weak heart sounds.
    Ventricular,
}

/// One beat, with the sounds of the cycle it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatTruth {
    /// The R peak: the extremum of the clean QRS, seconds.
    pub r_peak_s: f64,
    /// Normal or ventricular.
    pub kind: BeatKind,
    /// The end of this beat's T wave (Gaussian peak + 2σ), seconds.
    pub t_end_s: f64,
    /// The S1 span of this cycle, when wholly inside the recording.
    pub s1: Option<(f64, f64)>,
    /// The S2 span of this cycle, when wholly inside the recording.
    pub s2: Option<(f64, f64)>,
    /// The murmur span of this cycle, when there is one wholly inside the recording.
    pub murmur: Option<(f64, f64)>,
}

/// The murmur that was added.
#[derive(Debug, Clone, PartialEq)]
pub struct MurmurTruth {
    /// The lesion.
    pub kind: MurmurKind,
    /// Levine grade 1..=6 as configured.
    pub grade: u8,
    /// Systolic or diastolic.
    pub timing: MurmurTiming,
    /// Early, mid, late or holo.
    pub phase: MurmurPhase,
    /// Intensity profile.
    pub shape: MurmurShape,
    /// Dominant pitch.
    pub pitch: MurmurPitch,
    /// The murmur's span in each cycle, `(start_s, end_s)`.
    pub spans: Vec<(f64, f64)>,
}

/// Kinds of transient noise placed in the PCG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoiseKind {
    /// Stethoscope diaphragm rubbing on skin or clothing.
    Friction,
    /// A spoken utterance.
    Speech,
    /// An impulsive spike (a knock on the chest piece).
    Spike,
}

/// One transient noise event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseEvent {
    /// What it was.
    pub kind: NoiseKind,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
}

/// Everything that was placed in a [`crate::SyntheticRecording`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// The rhythm.
    pub rhythm: Rhythm,
    /// Mean heart rate over the R-R intervals inside the recording, bpm.
    pub heart_rate_bpm: f64,
    /// Respiratory rate, breaths per minute.
    pub resp_rate_bpm: f64,
    /// Every R peak inside the recording, seconds, ascending.
    pub r_peaks_s: Vec<f64>,
    /// Every beat inside the recording, same order as `r_peaks_s`.
    pub beats: Vec<BeatTruth>,
    /// S1 spans `(onset, end)`, ascending.
    pub s1: Vec<(f64, f64)>,
    /// S2 spans `(onset, end)`, ascending.
    pub s2: Vec<(f64, f64)>,
    /// S3 spans, when configured.
    pub s3: Vec<(f64, f64)>,
    /// S4 spans, when configured.
    pub s4: Vec<(f64, f64)>,
    /// Mid-systolic click centres (mitral valve prolapse).
    pub clicks_s: Vec<f64>,
    /// Opening snap centres (mitral stenosis).
    pub opening_snaps_s: Vec<f64>,
    /// The murmur, if any.
    pub murmur: Option<MurmurTruth>,
    /// Transient noise events (friction, speech, spikes), ascending by start.
    pub noise_events: Vec<NoiseEvent>,
    /// Whether the ECG lead was inverted.
    pub ecg_inverted: bool,
}

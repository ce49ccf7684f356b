//! The stored form of the engine's analysis: a serde mirror of `auscult_dsp::Analysis`.
//!
//! The engine stays free of serialization; this module converts its result once into a stable
//! JSON shape kept in the database. It must never run signal processing.

use auscult_dsp as dsp;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// A stored analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnalysis {
    /// PCG duration, seconds.
    pub duration_s: f64,
    /// PCG sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Whether the ECG gated the cycles.
    pub ecg_used: bool,
    /// Heart rate, bpm.
    pub heart_rate_bpm: Option<f64>,
    /// Rhythm measures.
    pub rhythm: Option<StoredRhythm>,
    /// Every cycle.
    pub cycles: Vec<StoredCycle>,
    /// The murmur finding.
    pub murmur: StoredMurmur,
    /// `s3`, `s4`, `systolic-click`.
    pub extra_sounds: Vec<String>,
    /// Whole-recording quality.
    pub quality: StoredQuality,
    /// Needs review.
    pub flagged: bool,
}

/// Rhythm measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRhythm {
    /// Mean rate.
    pub heart_rate_bpm: f64,
    /// RR standard deviation, s.
    pub rr_sd_s: f64,
    /// RMSSD, s.
    pub rmssd_s: f64,
    /// Irregular rhythm.
    pub irregular: bool,
}

/// One cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCycle {
    /// R peak, s.
    pub r_peak_s: Option<f64>,
    /// S1 `[start, end]`, s.
    pub s1: [f64; 2],
    /// S2 `[start, end]`, s.
    pub s2: [f64; 2],
    /// Cycle end, s.
    pub end_s: f64,
    /// Quality 0..1.
    pub quality: f32,
    /// Kept for averaging.
    pub accepted: bool,
}

/// The murmur finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMurmur {
    /// `present`, `absent`, `unknown`.
    pub status: String,
    /// `systolic`, `diastolic`, `both`.
    pub timing: Option<String>,
    /// `early`, `mid`, `late`, `holo`.
    pub phase: Option<String>,
    /// `crescendo-decrescendo`, `plateau`, `decrescendo`, `crescendo`.
    pub shape: Option<String>,
    /// `low`, `medium`, `high`.
    pub pitch: Option<String>,
    /// Levine grade.
    pub grade: Option<u8>,
    /// Confidence 0..1.
    pub confidence: f32,
    /// Why unknown, in words.
    pub unknown_reason: Option<String>,
}

/// Whole-recording quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuality {
    /// Good enough to judge.
    pub usable: bool,
    /// Signal-quality index.
    pub sqi: f32,
    /// Why not usable.
    pub reason: Option<String>,
}

/// A reason in words.
pub fn describe_reason(reason: &dsp::UnknownReason) -> String {
    match reason {
        dsp::UnknownReason::TooShort { duration } => format!("too short ({duration})"),
        dsp::UnknownReason::NoHeartSounds => "no heart sounds".to_owned(),
        dsp::UnknownReason::Clipped { fraction } => {
            format!("clipped ({:.0}% of samples)", fraction * 100.0)
        }
        dsp::UnknownReason::TooNoisy { sqi } => format!("too noisy (SQI {sqi:.2})"),
        dsp::UnknownReason::TooFewCycles { accepted } => {
            format!("too few usable cycles ({accepted})")
        }
        dsp::UnknownReason::NonFinite => "non-finite samples".to_owned(),
        dsp::UnknownReason::UnlikeTraining { .. } => {
            "recording unlike any the engine was trained on: re-record or listen".to_owned()
        }
    }
}

fn interval(i: &dsp::Interval) -> [f64; 2] {
    [i.start.0, i.end.0]
}

impl From<&dsp::Analysis> for StoredAnalysis {
    fn from(a: &dsp::Analysis) -> Self {
        let m = &a.murmur;
        let (status, unknown_reason) = match &m.status {
            dsp::MurmurStatus::Present => ("present", None),
            dsp::MurmurStatus::Absent => ("absent", None),
            dsp::MurmurStatus::Unknown(r) => ("unknown", Some(describe_reason(r))),
        };
        StoredAnalysis {
            duration_s: a.duration.0,
            sample_rate_hz: a.sample_rate.0,
            ecg_used: a.ecg_used,
            heart_rate_bpm: a.heart_rate.map(|b| b.0),
            rhythm: a.rhythm.as_ref().map(|r| StoredRhythm {
                heart_rate_bpm: r.heart_rate.0,
                rr_sd_s: r.rr_sd.0,
                rmssd_s: r.rmssd.0,
                irregular: r.irregular,
            }),
            cycles: a
                .cycles
                .iter()
                .map(|c| StoredCycle {
                    r_peak_s: c.r_peak.map(|s| s.0),
                    s1: interval(&c.s1),
                    s2: interval(&c.s2),
                    end_s: c.end.0,
                    quality: c.quality,
                    accepted: c.accepted,
                })
                .collect(),
            murmur: StoredMurmur {
                status: status.to_owned(),
                timing: m.timing.map(|t| {
                    match t {
                        dsp::MurmurTiming::Systolic => "systolic",
                        dsp::MurmurTiming::Diastolic => "diastolic",
                        dsp::MurmurTiming::Both => "both",
                    }
                    .to_owned()
                }),
                phase: m.phase.map(|p| {
                    match p {
                        dsp::MurmurPhase::Early => "early",
                        dsp::MurmurPhase::Mid => "mid",
                        dsp::MurmurPhase::Late => "late",
                        dsp::MurmurPhase::Holo => "holo",
                    }
                    .to_owned()
                }),
                shape: m.shape.map(|s| {
                    match s {
                        dsp::MurmurShape::CrescendoDecrescendo => "crescendo-decrescendo",
                        dsp::MurmurShape::Plateau => "plateau",
                        dsp::MurmurShape::Decrescendo => "decrescendo",
                        dsp::MurmurShape::Crescendo => "crescendo",
                    }
                    .to_owned()
                }),
                pitch: m.pitch.map(|p| {
                    match p {
                        dsp::MurmurPitch::Low => "low",
                        dsp::MurmurPitch::Medium => "medium",
                        dsp::MurmurPitch::High => "high",
                    }
                    .to_owned()
                }),
                grade: m.grade,
                confidence: m.confidence,
                unknown_reason,
            },
            extra_sounds: a
                .extra_sounds
                .iter()
                .map(|s| {
                    match s {
                        dsp::ExtraSound::S3 => "s3",
                        dsp::ExtraSound::S4 => "s4",
                        dsp::ExtraSound::SystolicClick => "systolic-click",
                    }
                    .to_owned()
                })
                .collect(),
            quality: StoredQuality {
                usable: a.quality.usable,
                sqi: a.quality.sqi,
                reason: a.quality.reason.as_ref().map(describe_reason),
            },
            flagged: a.flagged,
        }
    }
}

impl StoredAnalysis {
    /// The JSON kept in the database.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    /// Reads the JSON kept in the database.
    pub fn from_json(json: &str) -> Result<StoredAnalysis> {
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

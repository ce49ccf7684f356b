//! The stored form of the engine's analysis: a serde mirror of `auscult_dsp::Analysis`.
//!
//! The engine stays free of serialization; this module converts its result once into a stable
//! JSON shape kept in the database. Its words are the engine's terms (`auscult_dsp::vocab`),
//! written as the result contract spells them; older spellings in stored rows still read. It must
//! never run signal processing.

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
    /// Why an ECG given was set aside (none in analyses stored before the engine said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecg_set_aside: Option<dsp::EcgSetAside>,
    /// Heart rate, bpm.
    pub heart_rate_bpm: Option<f64>,
    /// Rhythm measures.
    pub rhythm: Option<StoredRhythm>,
    /// Every cycle.
    pub cycles: Vec<StoredCycle>,
    /// The heart sounds at the edges that belong to no whole cycle (none in analyses stored
    /// before the engine reported them).
    #[serde(default)]
    pub edge_sounds: StoredEdgeSounds,
    /// The murmur finding.
    pub murmur: StoredMurmur,
    /// `s3`, `s4`, `systolic_click`.
    pub extra_sounds: Vec<dsp::ExtraSound>,
    /// Whole-recording quality.
    pub quality: StoredQuality,
    /// Needs review.
    pub flagged: bool,
    /// Why the engine flagged it (empty in analyses stored before it gave reasons).
    #[serde(default)]
    pub flag_reasons: Vec<dsp::FlagReason>,
    /// The learned abnormality score 0..1, when judged.
    #[serde(default)]
    pub abnormal_score: Option<f32>,
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
    /// RR intervals measured (absent in analyses stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<u32>,
    /// Irregular rhythm.
    pub irregular: bool,
    /// The intervals spread but change smoothly, as breathing changes a healthy heart's (false
    /// in analyses stored before the engine told it).
    #[serde(default)]
    pub phasic: bool,
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

/// The heart sounds at a recording's edges that belong to no whole cycle
/// (`auscult_dsp::EdgeSounds`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredEdgeSounds {
    /// An S2 before the first whole cycle, `[start, end]`, s.
    pub leading_s2: Option<[f64; 2]>,
    /// An S1 after the last whole cycle, `[start, end]`, s.
    pub trailing_s1: Option<[f64; 2]>,
}

/// The murmur finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMurmur {
    /// `present`, `absent`, `unknown`.
    pub status: dsp::MurmurCall,
    /// `systolic`, `diastolic`, `both`.
    pub timing: Option<dsp::MurmurTiming>,
    /// `early`, `mid`, `late`, `holo`.
    pub phase: Option<dsp::MurmurPhase>,
    /// `crescendo-decrescendo`, `plateau`, `decrescendo`, `crescendo`.
    pub shape: Option<dsp::MurmurShape>,
    /// `low`, `medium`, `high`.
    pub pitch: Option<dsp::MurmurPitch>,
    /// Levine grade.
    pub grade: Option<u8>,
    /// For an absent call, the softest murmur (grade) the recording would have shown (absent
    /// in analyses stored before 2026-12-07).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softest_grade: Option<u8>,
    /// Confidence 0..1.
    pub confidence: f32,
    /// Why unknown, in words.
    pub unknown_reason: Option<String>,
    /// Why unknown, as its kind (`dsp::UnknownReason::kind`) and the number its words carry,
    /// so that another language can word it (absent in analyses stored before 2026-12-07).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_kind: Option<dsp::UnknownKind>,
    /// See `unknown_kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_value: Option<f64>,
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
    reason.describe()
}

fn interval(i: &dsp::Interval) -> [f64; 2] {
    [i.start.0, i.end.0]
}

impl From<&dsp::Analysis> for StoredAnalysis {
    fn from(a: &dsp::Analysis) -> Self {
        let m = &a.murmur;
        let unknown_reason = m.status.reason().map(describe_reason);
        StoredAnalysis {
            duration_s: a.duration.0,
            sample_rate_hz: a.sample_rate.0,
            ecg_used: a.ecg_used,
            ecg_set_aside: a.ecg_set_aside,
            heart_rate_bpm: a.heart_rate.map(|b| b.0),
            rhythm: a.rhythm.as_ref().map(|r| StoredRhythm {
                heart_rate_bpm: r.heart_rate.0,
                rr_sd_s: r.rr_sd.0,
                rmssd_s: r.rmssd.0,
                intervals: u32::try_from(r.intervals).ok(),
                irregular: r.irregular,
                phasic: r.phasic,
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
            edge_sounds: StoredEdgeSounds {
                leading_s2: a.edge_sounds.leading_s2.as_ref().map(interval),
                trailing_s1: a.edge_sounds.trailing_s1.as_ref().map(interval),
            },
            murmur: StoredMurmur {
                status: m.status.call(),
                timing: m.timing,
                phase: m.phase,
                shape: m.shape,
                pitch: m.pitch,
                grade: m.grade,
                softest_grade: m.softest_grade,
                confidence: m.confidence,
                unknown_reason,
                unknown_kind: m.status.reason().map(dsp::UnknownReason::kind),
                unknown_value: m.status.reason().and_then(dsp::UnknownReason::value),
            },
            extra_sounds: a.extra_sounds.clone(),
            quality: StoredQuality {
                usable: a.quality.usable,
                sqi: a.quality.sqi,
                reason: a.quality.reason.as_ref().map(describe_reason),
            },
            flagged: a.flagged,
            flag_reasons: a.flag_reasons.clone(),
            abnormal_score: a.abnormal_score,
        }
    }
}

impl From<&StoredCycle> for dsp::Cycle {
    /// The engine's cycle back from its stored form (e.g. to denoise a stored recording).
    fn from(c: &StoredCycle) -> Self {
        let interval = |[start, end]: [f64; 2]| dsp::Interval {
            start: dsp::Seconds(start),
            end: dsp::Seconds(end),
        };
        dsp::Cycle {
            r_peak: c.r_peak_s.map(dsp::Seconds),
            s1: interval(c.s1),
            s2: interval(c.s2),
            end: dsp::Seconds(c.end_s),
            quality: c.quality,
            accepted: c.accepted,
        }
    }
}

impl StoredAnalysis {
    /// The cycles as reported, whole and partial in time order
    /// (`auscult_dsp::EdgeSounds::around`, as `auscult analyze` reports them).
    pub fn reported_cycles(&self) -> Vec<dsp::ReportedCycle> {
        let iv = |s: [f64; 2]| dsp::Interval {
            start: dsp::Seconds(s[0]),
            end: dsp::Seconds(s[1]),
        };
        let whole: Vec<dsp::Cycle> = self.cycles.iter().map(dsp::Cycle::from).collect();
        dsp::EdgeSounds {
            leading_s2: self.edge_sounds.leading_s2.map(iv),
            trailing_s1: self.edge_sounds.trailing_s1.map(iv),
        }
        .around(&whole, dsp::Seconds(self.duration_s))
    }

    /// The JSON kept in the database.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    /// Reads the JSON kept in the database.
    pub fn from_json(json: &str) -> Result<StoredAnalysis> {
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsp::Term;

    fn murmur(status: dsp::MurmurCall) -> StoredMurmur {
        StoredMurmur {
            status,
            timing: None,
            phase: None,
            shape: None,
            pitch: None,
            grade: None,
            softest_grade: None,
            confidence: 0.5,
            unknown_reason: None,
            unknown_kind: None,
            unknown_value: None,
        }
    }

    fn stored(m: StoredMurmur, extra: Vec<dsp::ExtraSound>) -> StoredAnalysis {
        StoredAnalysis {
            duration_s: 10.0,
            sample_rate_hz: 2000.0,
            ecg_used: false,
            ecg_set_aside: None,
            heart_rate_bpm: None,
            rhythm: None,
            cycles: vec![],
            edge_sounds: StoredEdgeSounds::default(),
            murmur: m,
            extra_sounds: extra,
            quality: StoredQuality {
                usable: true,
                sqi: 0.9,
                reason: None,
            },
            flagged: false,
            flag_reasons: vec![],
            abnormal_score: None,
        }
    }

    /// The sounds at the edges survive the database; a row stored before them reads as none.
    #[test]
    fn edge_sounds_are_kept_and_older_rows_have_none() {
        let mut s = stored(murmur(dsp::MurmurCall::Absent), vec![]);
        s.edge_sounds.leading_s2 = Some([0.1, 0.2]);
        s.edge_sounds.trailing_s1 = Some([9.7, 9.8]);
        let json = s.to_json().expect("json");
        assert_eq!(StoredAnalysis::from_json(&json).expect("read"), s);
        let mut v: serde_json::Value = serde_json::from_str(&json).expect("value");
        v.as_object_mut().expect("object").remove("edge_sounds");
        let old = StoredAnalysis::from_json(&v.to_string()).expect("an older row");
        assert_eq!(old.edge_sounds, StoredEdgeSounds::default());
    }

    /// Why an ECG was set aside is kept, spelled as the result contract spells it; rows stored
    /// before the engine said read with no reason, and a row without one writes no field.
    #[test]
    fn an_ecg_set_aside_keeps_its_reason_and_older_rows_have_none() {
        let mut s = stored(murmur(dsp::MurmurCall::Absent), vec![]);
        for why in dsp::EcgSetAside::ALL {
            s.ecg_set_aside = Some(*why);
            let json = s.to_json().expect("json");
            assert!(
                json.contains(&format!("\"ecg_set_aside\":\"{}\"", why.as_str())),
                "{json}"
            );
            assert_eq!(StoredAnalysis::from_json(&json).expect("read"), s);
        }
        s.ecg_set_aside = None;
        let json = s.to_json().expect("json");
        assert!(!json.contains("ecg_set_aside"), "{json}");
        assert_eq!(
            StoredAnalysis::from_json(&json)
                .expect("an older row")
                .ecg_set_aside,
            None
        );
    }

    /// Every word of every term goes into the stored JSON spelled as the result contract spells
    /// it, and comes back as the same term.
    #[test]
    fn every_term_round_trips_through_the_stored_json() {
        let pad = |n: usize, i: usize| i % n;
        let n = [
            dsp::MurmurCall::ALL.len(),
            dsp::MurmurTiming::ALL.len(),
            dsp::MurmurPhase::ALL.len(),
            dsp::MurmurShape::ALL.len(),
            dsp::MurmurPitch::ALL.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        for i in 0..n {
            let mut m = murmur(dsp::MurmurCall::ALL[pad(dsp::MurmurCall::ALL.len(), i)]);
            m.timing = Some(dsp::MurmurTiming::ALL[pad(dsp::MurmurTiming::ALL.len(), i)]);
            m.phase = Some(dsp::MurmurPhase::ALL[pad(dsp::MurmurPhase::ALL.len(), i)]);
            m.shape = Some(dsp::MurmurShape::ALL[pad(dsp::MurmurShape::ALL.len(), i)]);
            m.pitch = Some(dsp::MurmurPitch::ALL[pad(dsp::MurmurPitch::ALL.len(), i)]);
            let mut a = stored(m, dsp::ExtraSound::ALL.to_vec());
            a.flagged = true;
            a.flag_reasons = dsp::FlagReason::ALL.to_vec();
            a.abnormal_score = Some(0.25);
            let json = a.to_json().expect("serializes");
            let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
            let word = |t: Option<&str>| serde_json::Value::from(t.unwrap_or_default());
            assert_eq!(v["murmur"]["status"], a.murmur.status.as_str());
            assert_eq!(
                v["murmur"]["timing"],
                word(a.murmur.timing.map(|t| t.as_str()))
            );
            assert_eq!(
                v["murmur"]["phase"],
                word(a.murmur.phase.map(|t| t.as_str()))
            );
            assert_eq!(
                v["murmur"]["shape"],
                word(a.murmur.shape.map(|t| t.as_str()))
            );
            assert_eq!(
                v["murmur"]["pitch"],
                word(a.murmur.pitch.map(|t| t.as_str()))
            );
            assert_eq!(
                v["extra_sounds"],
                serde_json::json!(["s3", "s4", "systolic_click"])
            );
            assert_eq!(
                v["flag_reasons"],
                serde_json::json!([
                    "murmur",
                    "irregular_rhythm",
                    "extra_sound",
                    "cannot_judge",
                    "abnormal_score"
                ])
            );
            assert_eq!(StoredAnalysis::from_json(&json).expect("reads back"), a);
        }
    }

    /// Analyses stored before the engine gave its reasons read with none (clients derive them).
    #[test]
    fn rows_without_flag_reasons_still_read() {
        let mut a = stored(murmur(dsp::MurmurCall::Present), vec![]);
        a.flagged = true;
        let mut v: serde_json::Value =
            serde_json::from_str(&a.to_json().expect("serializes")).expect("JSON");
        let o = v.as_object_mut().expect("object");
        o.remove("flag_reasons");
        o.remove("abnormal_score");
        let back = StoredAnalysis::from_json(&v.to_string()).expect("old row reads");
        assert_eq!(back, a);
    }

    /// Rows written before the vocabulary was spelled once still read.
    #[test]
    fn legacy_spellings_in_stored_rows_still_read() {
        let mut a = stored(murmur(dsp::MurmurCall::Present), vec![]);
        a.murmur.shape = Some(dsp::MurmurShape::CrescendoDecrescendo);
        let json = a.to_json().expect("serializes").replace(
            "\"extra_sounds\":[]",
            "\"extra_sounds\":[\"systolic-click\",\"s3\"]",
        );
        let back = StoredAnalysis::from_json(&json).expect("legacy row reads");
        assert_eq!(
            back.extra_sounds,
            vec![dsp::ExtraSound::SystolicClick, dsp::ExtraSound::S3]
        );
        assert_eq!(
            back.murmur.shape,
            Some(dsp::MurmurShape::CrescendoDecrescendo)
        );
        let bad = json.replace("\"present\"", "\"maybe\"");
        let e = StoredAnalysis::from_json(&bad).expect_err("an unknown call is refused");
        assert!(e.to_string().contains("murmur status"), "{e}");
    }
}

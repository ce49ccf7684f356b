//! A server's analysis as the result contract (`shared/eval/README.md`): the same fields and
//! spellings `auscult analyze` writes for a file, so a script reads a case's `analysis` exactly as
//! it reads an offline result.
//!
//! Must never change what the engine said, only how it is written (times rounded to the
//! millisecond, as `auscult analyze` does). The contract's `file` is the case id here: the
//! recording's name on the server.

use serde::Serialize;

use crate::findings::{ExtraSound, Findings, FlagReason, why};
use crate::pb;
use auscult_dsp::Term;

/// One analysed recording in the result contract.
#[derive(Debug, Clone, Serialize)]
pub struct ContractResult {
    /// The recording's name: the case id.
    pub file: String,
    /// Length of the PCG, seconds.
    pub duration_s: f64,
    /// The PCG's sample rate.
    pub sample_rate_hz: f64,
    /// Whether cycles were gated on the ECG.
    pub ecg_used: bool,
    /// Why an ECG given was set aside (`no_beats`, `unsteady`, `few_beats`, `not_followed`);
    /// absent when it was used, none was given, or the server's analysis predates the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecg_set_aside: Option<String>,
    /// Mean heart rate.
    pub heart_rate_bpm: Option<f64>,
    /// Every segmented cycle.
    pub cycles: Vec<ContractCycle>,
    /// The murmur finding.
    pub murmur: ContractMurmur,
    /// Whole-recording quality.
    pub quality: ContractQuality,
    /// Rhythm over the accepted cycles.
    pub rhythm: Option<ContractRhythm>,
    /// Extra sounds (`s3`, `s4`, `systolic_click`, as `auscult analyze` spells them).
    pub extra_sounds: Vec<String>,
    /// The learned abnormality score 0..1 (a score, not a finding), when judged.
    pub abnormal_score: Option<f64>,
    /// Whether a clinician should review the recording.
    pub flagged: bool,
    /// Why it is flagged; empty when not.
    pub flag_reasons: Vec<FlagReason>,
}

/// One cardiac cycle.
#[derive(Debug, Clone, Serialize)]
pub struct ContractCycle {
    /// The R peak that opened the cycle, when an ECG was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r_s: Option<f64>,
    /// `[start_s, end_s]` of S1 (null when the recording began after it).
    pub s1: Option<[f64; 2]>,
    /// `[start_s, end_s]` of S2 (null when the recording ended before it).
    pub s2: Option<[f64; 2]>,
    /// Where the cycle ends.
    pub end_s: f64,
    /// Cycle quality 0..1.
    pub quality: f64,
    /// Whether the cycle was used for the ensemble and the murmur finding.
    pub accepted: bool,
    /// A cycle the recording's edges cut (only its S2, or only its S1, was heard).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The murmur finding.
#[derive(Debug, Clone, Serialize)]
pub struct ContractMurmur {
    /// `present`, `absent` or `unknown`.
    pub status: &'static str,
    /// `systolic`, `diastolic`, `both` or null.
    pub timing: Option<&'static str>,
    /// Confidence in `status`.
    pub confidence: f64,
    /// `early`, `mid`, `late`, `holo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Intensity profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// `low`, `medium`, `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pitch: Option<String>,
    /// Levine grade 1..=6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<u32>,
    /// For an absent call, the softest murmur (grade) the recording would have shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub softest_grade: Option<u32>,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whole-recording quality.
#[derive(Debug, Clone, Serialize)]
pub struct ContractQuality {
    /// Good enough to judge.
    pub usable: bool,
    /// Signal-quality index 0..1.
    pub sqi: f64,
    /// Why not usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Rhythm measures.
#[derive(Debug, Clone, Serialize)]
pub struct ContractRhythm {
    /// Mean heart rate.
    pub heart_rate_bpm: f64,
    /// SD of RR intervals.
    pub rr_sd_s: f64,
    /// RMSSD of RR intervals.
    pub rmssd_s: f64,
    /// How many RR intervals the measures come from (absent for analyses stored before it was
    /// kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<u32>,
    /// Irregular rhythm.
    pub irregular: bool,
    /// The intervals spread but change smoothly, as breathing changes a healthy heart's.
    pub phasic: bool,
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    if v.is_finite() {
        (v * p).round() / p
    } else {
        0.0
    }
}

fn span(iv: Option<&pb::Interval>) -> Option<[f64; 2]> {
    iv.map(|iv| [round(iv.start_s, 3), round(iv.end_s, 3)])
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The contract's spelling of an extra sound on the wire (an unknown name as it is).
fn extra_sound_name(name: &str) -> String {
    ExtraSound::parse(name).map_or_else(|| name.to_owned(), |e| e.as_str().to_owned())
}

impl ContractResult {
    /// The contract's view of the analysis of case `case_id`.
    pub fn new(case_id: &str, a: &pb::Analysis) -> ContractResult {
        let default_murmur = pb::Murmur::default();
        let m = a.murmur.as_ref().unwrap_or(&default_murmur);
        let status = match m.status() {
            pb::MurmurStatus::Present => "present",
            pb::MurmurStatus::Absent => "absent",
            pb::MurmurStatus::Unknown | pb::MurmurStatus::Unspecified => "unknown",
        };
        let timing = match m.timing() {
            pb::MurmurTiming::Systolic => Some("systolic"),
            pb::MurmurTiming::Diastolic => Some("diastolic"),
            pb::MurmurTiming::Both => Some("both"),
            pb::MurmurTiming::Unspecified => None,
        };
        let findings = Findings {
            state: pb::AnalysisState::Done,
            analysis_error: "",
            flagged: a.flagged,
            murmur_status: m.status(),
            analysis: Some(a),
        };
        let quality = a.quality.clone().unwrap_or_default();
        ContractResult {
            file: case_id.to_owned(),
            duration_s: round(a.duration_s, 3),
            sample_rate_hz: a.sample_rate_hz,
            ecg_used: a.ecg_used,
            ecg_set_aside: non_empty(&a.ecg_set_aside),
            heart_rate_bpm: a.heart_rate_bpm.map(|h| round(h, 1)),
            cycles: a
                .cycles
                .iter()
                .map(|c| ContractCycle {
                    r_s: c.r_peak_s.map(|r| round(r, 3)),
                    s1: span(c.s1.as_ref()),
                    s2: span(c.s2.as_ref()),
                    end_s: round(c.end_s, 3),
                    quality: round(f64::from(c.quality), 3),
                    accepted: c.accepted,
                    partial: c.partial,
                })
                .collect(),
            murmur: ContractMurmur {
                status,
                timing,
                confidence: round(f64::from(m.confidence), 3),
                phase: non_empty(&m.phase),
                shape: non_empty(&m.shape),
                pitch: non_empty(&m.pitch),
                grade: (m.grade > 0).then_some(m.grade),
                softest_grade: m.softest_grade,
                reason: non_empty(&m.unknown_reason),
            },
            quality: ContractQuality {
                usable: quality.usable,
                sqi: round(f64::from(quality.sqi), 3),
                reason: non_empty(&quality.reason),
            },
            rhythm: a.rhythm.as_ref().map(|r| ContractRhythm {
                heart_rate_bpm: round(r.heart_rate_bpm, 1),
                rr_sd_s: round(r.rr_sd_s, 4),
                rmssd_s: round(r.rmssd_s, 4),
                intervals: r.intervals,
                irregular: r.irregular,
                phasic: r.phasic,
            }),
            extra_sounds: a.extra_sounds.iter().map(|s| extra_sound_name(s)).collect(),
            abnormal_score: a.abnormal_score.map(|v| round(f64::from(v), 3)),
            flagged: a.flagged,
            flag_reasons: if a.flagged {
                why(&findings).reasons
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_fields_are_spelled_as_auscult_analyze_spells_them() {
        let a = pb::Analysis {
            duration_s: 20.00049,
            sample_rate_hz: 4000.0,
            ecg_used: true,
            heart_rate_bpm: Some(71.84),
            cycles: vec![
                pb::Cycle {
                    r_peak_s: Some(0.3311),
                    s1: Some(pb::Interval {
                        start_s: 0.3394,
                        end_s: 0.4791,
                    }),
                    s2: Some(pb::Interval {
                        start_s: 0.739,
                        end_s: 0.839,
                    }),
                    end_s: 1.17,
                    quality: 0.9,
                    accepted: true,
                    partial: false,
                },
                pb::Cycle {
                    s1: Some(pb::Interval {
                        start_s: 19.9,
                        end_s: 19.99,
                    }),
                    end_s: 20.0,
                    partial: true,
                    ..Default::default()
                },
            ],
            murmur: Some(pb::Murmur {
                status: pb::MurmurStatus::Present as i32,
                timing: pb::MurmurTiming::Systolic as i32,
                shape: "plateau".into(),
                grade: 3,
                confidence: 0.912,
                ..Default::default()
            }),
            extra_sounds: vec!["systolic-click".into()],
            quality: Some(pb::Quality {
                usable: true,
                sqi: 0.81,
                reason: String::new(),
            }),
            flagged: true,
            ..Default::default()
        };
        let v = serde_json::to_value(ContractResult::new("case-1", &a)).expect("json");
        assert_eq!(v["file"], "case-1");
        assert_eq!(v["duration_s"], 20.0);
        assert_eq!(v["heart_rate_bpm"], 71.8);
        assert_eq!(v["cycles"][0]["r_s"], 0.331);
        assert_eq!(v["cycles"][0]["s1"], serde_json::json!([0.339, 0.479]));
        assert!(
            v["cycles"][0].get("partial").is_none(),
            "a whole cycle is not marked"
        );
        assert_eq!(v["cycles"][1]["s1"], serde_json::json!([19.9, 19.99]));
        assert_eq!(v["cycles"][1]["s2"], serde_json::Value::Null);
        assert_eq!(v["cycles"][1]["partial"], true);
        assert_eq!(v["murmur"]["status"], "present");
        assert_eq!(v["murmur"]["timing"], "systolic");
        assert_eq!(v["murmur"]["grade"], 3);
        assert!(v["murmur"].get("phase").is_none());
        assert!(v["murmur"].get("reason").is_none());
        assert_eq!(v["quality"]["usable"], true);
        assert_eq!(v["rhythm"], serde_json::Value::Null);
        assert_eq!(v["extra_sounds"], serde_json::json!(["systolic_click"]));
        assert_eq!(v["flagged"], true);
        assert_eq!(
            v["flag_reasons"],
            serde_json::json!(["murmur", "extra_sound"])
        );
    }

    #[test]
    fn an_unknown_murmur_has_null_timing_and_a_reason() {
        let a = pb::Analysis {
            murmur: Some(pb::Murmur {
                status: pb::MurmurStatus::Unknown as i32,
                unknown_reason: "too short (1.20 s)".into(),
                ..Default::default()
            }),
            flagged: true,
            ..Default::default()
        };
        let v = serde_json::to_value(ContractResult::new("c", &a)).expect("json");
        assert_eq!(v["murmur"]["status"], "unknown");
        assert_eq!(v["murmur"]["timing"], serde_json::Value::Null);
        assert_eq!(v["murmur"]["reason"], "too short (1.20 s)");
        assert_eq!(v["flag_reasons"], serde_json::json!(["cannot_judge"]));
    }
}

//! Turning an engine [`Analysis`] into the result contract (one JSON object per recording, see
//! `shared/eval/README.md`) and into a readable text summary.
//!
//! The engine's model stays free of serde: the serialisable mirror lives here, at the edge; its
//! words (murmur status, timing, shape, extra sounds...) are the engine's own terms, spelled once
//! in `auscult_dsp::vocab`. This module must never change what the engine said, only how it is
//! written (times are rounded to the millisecond).

use auscult_dsp::rhythm::{self, MIN_INTERVALS_TO_JUDGE};
use auscult_dsp::{
    Analysis, EcgSetAside, ExtraSound, FlagReason, Interval, MurmurCall, MurmurPhase, MurmurPitch,
    MurmurShape, MurmurTiming, UnknownReason,
};
use serde::Serialize;

/// One line of output for a recording that was analysed.
#[derive(Debug, Serialize)]
pub struct ResultLine {
    /// The input path as given.
    pub file: String,
    /// Length of the PCG in seconds.
    pub duration_s: f64,
    /// The PCG's sample rate.
    pub sample_rate_hz: f64,
    /// Whether cycles were gated on the ECG.
    pub ecg_used: bool,
    /// Why an ECG given was set aside (`no_beats`, `unsteady`, `few_beats`, `not_followed`):
    /// its cycles were found from the sound alone. Absent when the ECG was used or none given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecg_set_aside: Option<EcgSetAside>,
    /// Mean heart rate.
    pub heart_rate_bpm: Option<f64>,
    /// Every segmented cycle, in time order; the first and last may be partial (the edge cut
    /// off their S1 or S2; `s1` or `s2` is then null).
    pub cycles: Vec<CycleOut>,
    /// The murmur finding.
    pub murmur: MurmurOut,
    /// Whole-recording quality.
    pub quality: QualityOut,
    /// Rhythm over the accepted cycles.
    pub rhythm: Option<RhythmOut>,
    /// Extra sounds (`s3`, `s4`, `systolic_click`).
    pub extra_sounds: Vec<ExtraSound>,
    /// How many cycles went into the ensemble average.
    pub ensemble_cycles: usize,
    /// The learned abnormality score 0..1 (a score, not a finding), when judged.
    pub abnormal_score: Option<f64>,
    /// Why the recording is flagged (`murmur`, `irregular_rhythm`, `extra_sound`,
    /// `cannot_judge`, `abnormal_score`); empty when not flagged.
    pub flag_reasons: Vec<FlagReason>,
    /// Whether a clinician should review the recording.
    pub flagged: bool,
}

/// One cardiac cycle.
#[derive(Debug, Serialize)]
pub struct CycleOut {
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
    /// Whether the cycle was used for the ensemble and murmur finding.
    pub accepted: bool,
    /// A cycle the recording's edge cut (only its S2, or only its S1, was heard); never used
    /// for a finding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The murmur finding.
#[derive(Debug, Serialize)]
pub struct MurmurOut {
    /// `present`, `absent` or `unknown`.
    pub status: MurmurCall,
    /// `systolic`, `diastolic`, `both` or null.
    pub timing: Option<MurmurTiming>,
    /// Confidence in `status`.
    pub confidence: f64,
    /// `early`, `mid`, `late`, `holo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<MurmurPhase>,
    /// Intensity profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<MurmurShape>,
    /// `low`, `medium`, `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pitch: Option<MurmurPitch>,
    /// Levine grade 1..=6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<u8>,
    /// For an absent call, the softest murmur (grade) the recording would have shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub softest_grade: Option<u8>,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whole-recording quality.
#[derive(Debug, Serialize)]
pub struct QualityOut {
    /// Good enough to judge.
    pub usable: bool,
    /// Signal-quality index 0..1.
    pub sqi: f64,
    /// Why not usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Rhythm measures.
#[derive(Debug, Serialize)]
pub struct RhythmOut {
    /// Mean heart rate.
    pub heart_rate_bpm: f64,
    /// SD of RR intervals.
    pub rr_sd_s: f64,
    /// RMSSD of RR intervals.
    pub rmssd_s: f64,
    /// How many RR intervals the measures come from.
    pub intervals: usize,
    /// Irregular rhythm (judged only from `auscult_dsp::rhythm::MIN_INTERVALS_TO_JUDGE`
    /// intervals or more).
    pub irregular: bool,
    /// The intervals spread as an irregular rhythm's do but change smoothly, as breathing
    /// changes a healthy heart's (`auscult_dsp::rhythm::phasic`): not called irregular.
    pub phasic: bool,
}

/// A recording that could not be read or analysed.
#[derive(Debug, Serialize)]
pub struct ErrorLine {
    /// The input path as given.
    pub file: String,
    /// What went wrong.
    pub error: String,
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    if v.is_finite() {
        (v * p).round() / p
    } else {
        0.0
    }
}

fn span(iv: &Interval) -> [f64; 2] {
    [round(iv.start.0, 3), round(iv.end.0, 3)]
}

/// A short explanation of why a recording could not be judged.
pub fn reason_text(r: &UnknownReason) -> String {
    r.describe()
}

/// The cycles of an analysis with the partial ones at the edges: an S2 heard before the first
/// whole cycle, an S1 after the last.
fn cycles_out(a: &Analysis) -> Vec<CycleOut> {
    a.edge_sounds
        .around(&a.cycles, a.duration)
        .iter()
        .map(|c| CycleOut {
            r_s: c.r_peak.map(|r| round(r.0, 3)),
            s1: c.s1.as_ref().map(span),
            s2: c.s2.as_ref().map(span),
            end_s: round(c.end.0, 3),
            quality: round(f64::from(c.quality), 3),
            accepted: c.accepted,
            partial: c.partial,
        })
        .collect()
}

impl ResultLine {
    /// The contract's view of an analysis of the recording given as `file`.
    pub fn new(file: String, a: &Analysis) -> ResultLine {
        let m = &a.murmur;
        let status = m.status.call();
        let reason = m.status.reason().map(reason_text);
        ResultLine {
            file,
            duration_s: round(a.duration.0, 3),
            sample_rate_hz: a.sample_rate.0,
            ecg_used: a.ecg_used,
            ecg_set_aside: a.ecg_set_aside,
            heart_rate_bpm: a.heart_rate.map(|h| round(h.0, 1)),
            cycles: cycles_out(a),
            murmur: MurmurOut {
                status,
                timing: m.timing,
                confidence: round(f64::from(m.confidence), 3),
                phase: m.phase,
                shape: m.shape,
                pitch: m.pitch,
                grade: m.grade,
                softest_grade: m.softest_grade,
                reason,
            },
            quality: QualityOut {
                usable: a.quality.usable,
                sqi: round(f64::from(a.quality.sqi), 3),
                reason: a.quality.reason.as_ref().map(reason_text),
            },
            rhythm: a.rhythm.as_ref().map(|r| RhythmOut {
                heart_rate_bpm: round(r.heart_rate.0, 1),
                rr_sd_s: round(r.rr_sd.0, 4),
                rmssd_s: round(r.rmssd.0, 4),
                intervals: r.intervals,
                irregular: r.irregular,
                phasic: r.phasic,
            }),
            extra_sounds: a.extra_sounds.clone(),
            ensemble_cycles: a.ensemble.as_ref().map_or(0, |e| e.cycles),
            abnormal_score: a.abnormal_score.map(|v| round(f64::from(v), 3)),
            flag_reasons: a.flag_reasons.clone(),
            flagged: a.flagged,
        }
    }

    /// Each flag reason with the evidence behind it, in words.
    pub fn reasons_text(&self) -> Vec<String> {
        self.flag_reasons
            .iter()
            .map(|r| match *r {
                FlagReason::Murmur => {
                    let timing = self
                        .murmur
                        .timing
                        .map_or("unspecified timing", MurmurTiming::as_str);
                    format!(
                        "murmur ({timing}, confidence {:.2})",
                        self.murmur.confidence
                    )
                }
                FlagReason::IrregularRhythm => self.rhythm.as_ref().map_or_else(
                    || "irregular rhythm".to_string(),
                    |r| {
                        format!(
                            "irregular rhythm (RR SD {:.0} ms, RMSSD {:.0} ms)",
                            r.rr_sd_s * 1000.0,
                            r.rmssd_s * 1000.0
                        )
                    },
                ),
                FlagReason::ExtraSound => format!(
                    "extra sound ({})",
                    self.extra_sounds
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                FlagReason::CannotJudge => format!(
                    "cannot judge: {}",
                    self.murmur
                        .reason
                        .as_deref()
                        .unwrap_or("the recording could not be judged")
                ),
                FlagReason::AbnormalScore => format!(
                    "learned abnormality score {:.2}",
                    self.abnormal_score.unwrap_or(f64::NAN)
                ),
            })
            .collect()
    }

    /// A readable summary of a few lines.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{}: {:.1} s at {} Hz, {}\n",
            self.file,
            self.duration_s,
            self.sample_rate_hz,
            match (self.ecg_used, self.ecg_set_aside) {
                (true, _) => "gated on the ECG".to_string(),
                (false, Some(why)) => format!("PCG only (ECG set aside: {})", why.describe()),
                (false, None) => "PCG only".to_string(),
            }
        );
        let accepted = self.cycles.iter().filter(|c| c.accepted).count();
        let rate = self.heart_rate_bpm.map_or_else(
            || "heart rate unknown".to_string(),
            |h| format!("heart rate {h:.0} bpm"),
        );
        let rhythm = match &self.rhythm {
            Some(r) if r.irregular => ", irregular".to_string(),
            Some(r) if !rhythm::judged(r.intervals) => format!(
                ", rhythm not judged ({} beat intervals, {MIN_INTERVALS_TO_JUDGE} needed)",
                r.intervals
            ),
            Some(r) if r.phasic => {
                ", varying smoothly with breathing (sinus arrhythmia pattern)".to_string()
            }
            Some(_) => ", regular".to_string(),
            None => String::new(),
        };
        let whole = self.cycles.iter().filter(|c| !c.partial).count();
        let partial = match self.cycles.len() - whole {
            0 => String::new(),
            n => format!(" and {n} cut by the edges"),
        };
        s.push_str(&format!(
            "  {rate}{rhythm}; {whole} cycles ({accepted} accepted){partial}; signal quality {:.2}{}\n",
            self.quality.sqi,
            self.quality
                .reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({r})"))
        ));
        let m = &self.murmur;
        let mut desc = vec![m.status.to_string()];
        if m.status == MurmurCall::Present {
            desc.extend(m.timing.map(|t| t.to_string()));
            desc.extend(m.phase.map(|p| p.to_string()));
            desc.extend(m.shape.map(|s| s.to_string()));
            desc.extend(m.pitch.map(|p| format!("{p} pitch")));
            desc.extend(m.grade.map(|g| format!("grade {g}/6")));
        }
        desc.extend(m.reason.clone());
        desc.extend(
            m.softest_grade
                .and_then(auscult_dsp::vocab::softest_grade_words),
        );
        s.push_str(&format!(
            "  murmur: {} (confidence {:.2})\n",
            desc.join(", "),
            m.confidence
        ));
        if !self.extra_sounds.is_empty() {
            s.push_str(&format!(
                "  extra sounds: {}\n",
                self.extra_sounds
                    .iter()
                    .map(ExtraSound::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(score) = self.abnormal_score {
            s.push_str(&format!(
                "  learned abnormality score {score:.2} ({})\n",
                if self.flag_reasons.contains(&FlagReason::AbnormalScore) {
                    "learned from labelled recordings, not a specific finding; above its threshold, it flags"
                } else {
                    "a score, not a finding; it did not flag this recording"
                }
            ));
        }
        if self.flagged {
            s.push_str(&format!(
                "  => flagged for clinician review: {}\n",
                self.reasons_text().join("; ")
            ));
        } else {
            s.push_str("  => not flagged\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_dsp::{
        Bpm, Cycle, EdgeSounds, Hz, MurmurFinding, MurmurStatus, Quality, Rhythm, Seconds,
    };

    fn iv(a: f64, b: f64) -> Interval {
        Interval {
            start: Seconds(a),
            end: Seconds(b),
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            duration: Seconds(35.6661),
            sample_rate: Hz(2000.0),
            ecg_used: true,
            ecg_set_aside: None,
            heart_rate: Some(Bpm(71.84)),
            rhythm: Some(Rhythm {
                heart_rate: Bpm(71.84),
                rr_sd: Seconds(0.02),
                rmssd: Seconds(0.015),
                intervals: 40,
                irregular: false,
                phasic: false,
            }),
            cycles: vec![Cycle {
                r_peak: Some(Seconds(0.3311)),
                s1: iv(0.3394, 0.4791),
                s2: iv(0.739, 0.839),
                end: Seconds(1.17),
                quality: 0.9,
                accepted: true,
            }],
            edge_sounds: EdgeSounds::default(),
            murmur: MurmurFinding {
                status: MurmurStatus::Present,
                timing: Some(MurmurTiming::Systolic),
                phase: Some(MurmurPhase::Holo),
                shape: Some(MurmurShape::Plateau),
                pitch: Some(MurmurPitch::High),
                grade: Some(3),
                softest_grade: None,
                confidence: 0.912,
            },
            extra_sounds: vec![ExtraSound::S3],
            quality: Quality {
                usable: true,
                sqi: 0.81,
                reason: None,
            },
            ensemble: None,
            abnormal_score: Some(0.4),
            flag_reasons: vec![FlagReason::Murmur],
            flagged: true,
        }
    }

    #[test]
    fn json_has_the_contract_fields() {
        let line =
            serde_json::to_value(ResultLine::new("training-a/a0001.hea".into(), &analysis()))
                .expect("json");
        assert_eq!(line["file"], "training-a/a0001.hea");
        assert_eq!(line["duration_s"], 35.666);
        assert_eq!(line["sample_rate_hz"], 2000.0);
        assert_eq!(line["ecg_used"], true);
        assert_eq!(line["heart_rate_bpm"], 71.8);
        assert_eq!(line["cycles"][0]["r_s"], 0.331);
        assert_eq!(line["cycles"][0]["s1"], serde_json::json!([0.339, 0.479]));
        assert_eq!(line["cycles"][0]["s2"], serde_json::json!([0.739, 0.839]));
        assert_eq!(line["murmur"]["status"], "present");
        assert_eq!(line["murmur"]["timing"], "systolic");
        assert_eq!(line["murmur"]["confidence"], 0.912);
        assert_eq!(line["murmur"]["shape"], "plateau");
        assert_eq!(line["quality"]["usable"], true);
        assert_eq!(line["extra_sounds"], serde_json::json!(["s3"]));
        assert_eq!(line["flag_reasons"], serde_json::json!(["murmur"]));
        assert_eq!(line["abnormal_score"], 0.4);
        assert_eq!(line["flagged"], true);
    }

    #[test]
    fn unknown_murmur_says_why_and_timing_is_null() {
        let mut a = analysis();
        a.murmur = MurmurFinding::undescribed(
            MurmurStatus::Unknown(UnknownReason::TooShort {
                duration: Seconds(1.2),
            }),
            0.0,
        );
        a.cycles[0].r_peak = None;
        let line = serde_json::to_value(ResultLine::new("x.wav".into(), &a)).expect("json");
        assert_eq!(line["murmur"]["status"], "unknown");
        assert_eq!(line["murmur"]["timing"], serde_json::Value::Null);
        assert_eq!(line["murmur"]["reason"], "too short (1.20 s)");
        assert!(line["cycles"][0].get("r_s").is_none());
        let text = ResultLine::new("x.wav".into(), &a).text();
        assert!(
            text.contains("murmur: unknown, too short (1.20 s)"),
            "{text}"
        );
    }

    #[test]
    fn sounds_cut_by_the_edges_are_partial_cycles_first_and_last() {
        let mut a = analysis();
        a.edge_sounds = EdgeSounds {
            leading_s2: Some(iv(0.1, 0.2)),
            trailing_s1: Some(iv(35.5, 35.6)),
        };
        let line = serde_json::to_value(ResultLine::new("x.hea".into(), &a)).expect("json");
        let cycles = line["cycles"].as_array().expect("cycles");
        assert_eq!(cycles.len(), 3);
        assert_eq!(cycles[0]["s1"], serde_json::Value::Null);
        assert_eq!(cycles[0]["s2"], serde_json::json!([0.1, 0.2]));
        assert_eq!(cycles[0]["end_s"], 0.339);
        assert_eq!(cycles[0]["partial"], true);
        assert_eq!(cycles[0]["accepted"], false);
        assert!(
            cycles[1].get("partial").is_none(),
            "a whole cycle is not marked"
        );
        assert_eq!(cycles[1]["s1"], serde_json::json!([0.339, 0.479]));
        assert_eq!(cycles[2]["s1"], serde_json::json!([35.5, 35.6]));
        assert_eq!(cycles[2]["s2"], serde_json::Value::Null);
        let text = ResultLine::new("x.hea".into(), &a).text();
        assert!(
            text.contains("1 cycles (1 accepted) and 2 cut by the edges"),
            "{text}"
        );
    }

    #[test]
    fn text_summary_reads() {
        let text = ResultLine::new("a0001.hea".into(), &analysis()).text();
        assert!(text.contains("gated on the ECG"), "{text}");
        assert!(
            text.contains("heart rate 72 bpm, regular; 1 cycles (1 accepted)"),
            "{text}"
        );
        assert!(
            text.contains("murmur: present, systolic, holo, plateau, high pitch, grade 3/6"),
            "{text}"
        );
        assert!(
            text.contains("flagged for clinician review: murmur (systolic, confidence 0.91)"),
            "{text}"
        );
        assert!(text.contains("it did not flag this recording"), "{text}");
    }

    #[test]
    fn an_absent_call_states_the_softest_murmur_it_could_hear() {
        let mut a = analysis();
        a.murmur = MurmurFinding {
            softest_grade: Some(3),
            ..MurmurFinding::undescribed(MurmurStatus::Absent, 0.8)
        };
        a.flag_reasons.clear();
        a.flagged = false;
        let line = ResultLine::new("b0001.hea".into(), &a);
        let json = serde_json::to_value(&line).expect("json");
        assert_eq!(json["murmur"]["softest_grade"], 3);
        let text = line.text();
        assert!(
            text.contains(
                "murmur: absent, a murmur softer than grade 3/6 would stay under this recording's noise (confidence 0.80)"
            ),
            "{text}"
        );
        // A quiet recording (grade 1 audible) says nothing more; the field is still written.
        a.murmur.softest_grade = Some(1);
        let line = ResultLine::new("b0002.hea".into(), &a);
        assert!(line.text().contains("murmur: absent (confidence 0.80)"));
        assert_eq!(
            serde_json::to_value(&line).expect("json")["murmur"]["softest_grade"],
            1
        );
    }

    #[test]
    fn an_ecg_set_aside_says_why() {
        let mut a = analysis();
        a.ecg_used = false;
        a.ecg_set_aside = Some(EcgSetAside::NotFollowed);
        a.cycles[0].r_peak = None;
        let line = ResultLine::new("a0023.hea".into(), &a);
        let json = serde_json::to_value(&line).expect("json");
        assert_eq!(json["ecg_used"], false);
        assert_eq!(json["ecg_set_aside"], "not_followed");
        let text = line.text();
        assert!(
            text.contains(
                "PCG only (ECG set aside: the heart sounds do not follow its beats, likely T waves or artefacts read as beats)"
            ),
            "{text}"
        );
        // Used, or none given: no such field.
        let used =
            serde_json::to_value(ResultLine::new("a.hea".into(), &analysis())).expect("json");
        assert!(used.get("ecg_set_aside").is_none());
    }

    #[test]
    fn a_rhythm_from_few_beats_is_not_called_regular() {
        let mut a = analysis();
        if let Some(r) = a.rhythm.as_mut() {
            r.intervals = 6;
        }
        let text = ResultLine::new("x.wav".into(), &a).text();
        assert!(
            text.contains("heart rate 72 bpm, rhythm not judged (6 beat intervals, 10 needed);"),
            "{text}"
        );
    }

    #[test]
    fn a_rhythm_varying_with_breathing_is_named_not_called_regular() {
        let mut a = analysis();
        if let Some(r) = a.rhythm.as_mut() {
            r.phasic = true;
        }
        let text = ResultLine::new("x.wav".into(), &a).text();
        assert!(
            text.contains(
                "heart rate 72 bpm, varying smoothly with breathing (sinus arrhythmia pattern);"
            ),
            "{text}"
        );
        let json = serde_json::to_value(ResultLine::new("x.wav".into(), &a)).expect("json");
        assert_eq!(json["rhythm"]["phasic"], true, "{json}");
        assert_eq!(json["rhythm"]["irregular"], false, "{json}");
    }

    #[test]
    fn every_flag_says_why() {
        let mut a = analysis();
        a.murmur.status = MurmurStatus::Absent;
        a.flag_reasons = vec![FlagReason::IrregularRhythm];
        let text = ResultLine::new("x.wav".into(), &a).text();
        assert!(
            text.contains(
                "flagged for clinician review: irregular rhythm (RR SD 20 ms, RMSSD 15 ms)"
            ),
            "{text}"
        );
        a.murmur.status = MurmurStatus::Unknown(UnknownReason::UnlikeTraining { distance: 9.0 });
        a.flag_reasons = vec![FlagReason::CannotJudge];
        let text = ResultLine::new("x.wav".into(), &a).text();
        assert!(
            text.contains(
                "cannot judge: recording unlike any the engine was trained on: re-record or listen"
            ),
            "{text}"
        );
    }
}

//! Why a case needs (or does not need) a clinician, from what the server sends.
//!
//! The server's `Analysis` carries `flagged` but not yet the engine's reasons, so they are derived
//! here, in one place, from the fields that exist: the murmur finding, the rhythm, extra sounds and
//! the quality. A worklist line carries less (flag, murmur status, state), and [`why`] says only
//! what that much supports. The reason codes are the result contract's `flag_reasons` spellings.

use serde::Serialize;

use crate::pb;

/// A reason a recording is flagged, spelled as the result contract's `flag_reasons`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// A murmur is present.
    Murmur,
    /// The rhythm is irregular.
    IrregularRhythm,
    /// An extra heart sound (S3, S4, a systolic click) was heard.
    ExtraSound,
    /// The recording cannot be judged (too noisy, too short, ...).
    CannotJudge,
    /// Flagged by the engine's review model with none of the findings above.
    AbnormalSounds,
}

/// What is known of a case's findings.
#[derive(Debug, Clone, Copy)]
pub struct Findings<'a> {
    /// Where the analysis is.
    pub state: pb::AnalysisState,
    /// Why the analysis failed, when it did.
    pub analysis_error: &'a str,
    /// Whether the engine flagged the recording.
    pub flagged: bool,
    /// The murmur status (also on a worklist line).
    pub murmur_status: pb::MurmurStatus,
    /// The whole analysis, when known (a case, not a worklist line).
    pub analysis: Option<&'a pb::Analysis>,
}

impl<'a> Findings<'a> {
    /// What a worklist line tells.
    pub fn of_summary(s: &'a pb::CaseSummary) -> Self {
        Findings {
            state: s.analysis_state(),
            analysis_error: "",
            flagged: s.flagged,
            murmur_status: s.murmur_status(),
            analysis: None,
        }
    }

    /// What a case tells.
    pub fn of_case(c: &'a pb::Case) -> Self {
        let summary = c.summary.as_ref();
        let analysis = c.analysis.as_ref();
        Findings {
            state: summary.map_or(pb::AnalysisState::Unspecified, |s| s.analysis_state()),
            analysis_error: &c.analysis_error,
            flagged: analysis
                .map(|a| a.flagged)
                .or(summary.map(|s| s.flagged))
                .unwrap_or(false),
            murmur_status: analysis
                .and_then(|a| a.murmur.as_ref())
                .map(pb::Murmur::status)
                .or(summary.map(pb::CaseSummary::murmur_status))
                .unwrap_or(pb::MurmurStatus::Unspecified),
            analysis,
        }
    }
}

/// The reasons and their wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    /// The contract's reason codes; empty unless flagged.
    pub reasons: Vec<FlagReason>,
    /// The same (or the state of the case) in words, most important first; never empty.
    pub words: Vec<String>,
}

impl Why {
    /// The words joined into one line.
    pub fn line(&self) -> String {
        self.words.join("; ")
    }
}

/// The murmur finding in words, e.g. `systolic murmur (holo, plateau, high pitch), grade 3/6`.
pub fn murmur_words(m: &pb::Murmur) -> String {
    match m.status() {
        pb::MurmurStatus::Present => {
            let timing = match m.timing() {
                pb::MurmurTiming::Systolic => "systolic ",
                pb::MurmurTiming::Diastolic => "diastolic ",
                pb::MurmurTiming::Both => "systolic and diastolic ",
                pb::MurmurTiming::Unspecified => "",
            };
            let mut s = format!("{timing}murmur");
            let pitch = (!m.pitch.is_empty()).then(|| format!("{} pitch", m.pitch));
            let described: Vec<&str> = [Some(m.phase.as_str()), Some(m.shape.as_str())]
                .into_iter()
                .flatten()
                .chain(pitch.as_deref())
                .filter(|d| !d.is_empty())
                .collect();
            if !described.is_empty() {
                s.push_str(&format!(" ({})", described.join(", ")));
            }
            if m.grade > 0 {
                s.push_str(&format!(", grade {}/6", m.grade));
            }
            s
        }
        pb::MurmurStatus::Absent => "no murmur".to_owned(),
        pb::MurmurStatus::Unknown => "murmur cannot be judged".to_owned(),
        pb::MurmurStatus::Unspecified => "murmur not assessed".to_owned(),
    }
}

/// An extra heart sound as the server names it (`s3`, `s4`, `systolic-click`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraSound {
    /// Third heart sound.
    S3,
    /// Fourth heart sound.
    S4,
    /// Mid-systolic click.
    SystolicClick,
}

impl ExtraSound {
    /// The sound of a name on the wire; `None` for a name this client does not know.
    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "s3" => Some(ExtraSound::S3),
            "s4" => Some(ExtraSound::S4),
            "systolic-click" => Some(ExtraSound::SystolicClick),
            _ => None,
        }
    }

    /// The spelling of `auscult analyze`'s `extra_sounds`.
    pub fn contract_name(self) -> &'static str {
        match self {
            ExtraSound::S3 => "S3",
            ExtraSound::S4 => "S4",
            ExtraSound::SystolicClick => "systolic_click",
        }
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            ExtraSound::S3 => "S3",
            ExtraSound::S4 => "S4",
            ExtraSound::SystolicClick => "systolic click",
        }
    }
}

/// An extra sound on the wire in words (an unknown name as it is).
pub fn extra_sound_words(name: &str) -> String {
    ExtraSound::from_wire(name).map_or_else(|| name.to_owned(), |e| e.words().to_owned())
}

/// Why the case is where it is on the worklist: the flag reasons in the contract's codes and in
/// words, or the state of a case that has no findings yet.
pub fn why(f: &Findings<'_>) -> Why {
    let one = |w: String| Why {
        reasons: Vec::new(),
        words: vec![w],
    };
    match f.state {
        pb::AnalysisState::Pending => return one("awaiting analysis".to_owned()),
        pb::AnalysisState::Failed if f.analysis_error.is_empty() => {
            return one("analysis failed".to_owned());
        }
        pb::AnalysisState::Failed => return one(format!("analysis failed: {}", f.analysis_error)),
        pb::AnalysisState::Unspecified => return one("analysis state unknown".to_owned()),
        pb::AnalysisState::Done => {}
    }
    if !f.flagged {
        let word = match f.murmur_status {
            pb::MurmurStatus::Absent => "not flagged: no murmur",
            _ => "not flagged",
        };
        return one(word.to_owned());
    }
    let mut why = Why {
        reasons: Vec::new(),
        words: Vec::new(),
    };
    let murmur = f.analysis.and_then(|a| a.murmur.as_ref());
    let quality = f.analysis.and_then(|a| a.quality.as_ref());
    match f.murmur_status {
        pb::MurmurStatus::Present => {
            why.reasons.push(FlagReason::Murmur);
            why.words
                .push(murmur.map_or_else(|| "murmur present".to_owned(), murmur_words));
        }
        pb::MurmurStatus::Unknown => {
            why.reasons.push(FlagReason::CannotJudge);
            let because = murmur
                .map(|m| m.unknown_reason.as_str())
                .filter(|r| !r.is_empty())
                .or(quality.map(|q| q.reason.as_str()).filter(|r| !r.is_empty()));
            why.words.push(match because {
                Some(r) => format!("cannot be judged: {r}"),
                None => "cannot be judged".to_owned(),
            });
        }
        pb::MurmurStatus::Absent | pb::MurmurStatus::Unspecified => {}
    }
    let Some(a) = f.analysis else {
        if why.words.is_empty() {
            // A worklist line does not say which of rhythm, extra sounds or the review model
            // flagged it; `case show` does.
            why.words
                .push("flagged without a murmur (rhythm or heart sounds; see case show)".into());
        }
        return why;
    };
    if quality.is_some_and(|q| !q.usable) && !why.reasons.contains(&FlagReason::CannotJudge) {
        why.reasons.push(FlagReason::CannotJudge);
        let reason = quality.map_or("", |q| q.reason.as_str());
        why.words.push(if reason.is_empty() {
            "recording not usable".to_owned()
        } else {
            format!("recording not usable: {reason}")
        });
    }
    if let Some(r) = a.rhythm.as_ref().filter(|r| r.irregular) {
        why.reasons.push(FlagReason::IrregularRhythm);
        why.words.push(format!(
            "irregular rhythm (RR interval SD {:.0} ms)",
            r.rr_sd_s * 1000.0
        ));
    }
    if !a.extra_sounds.is_empty() {
        why.reasons.push(FlagReason::ExtraSound);
        let names: Vec<String> = a
            .extra_sounds
            .iter()
            .map(|s| extra_sound_words(s))
            .collect();
        why.words.push(format!("extra sound: {}", names.join(", ")));
    }
    if why.reasons.is_empty() {
        why.reasons.push(FlagReason::AbnormalSounds);
        why.words
            .push("heart sounds judged abnormal by the engine's review model".to_owned());
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn murmur(status: pb::MurmurStatus) -> pb::Murmur {
        pb::Murmur {
            status: status as i32,
            ..Default::default()
        }
    }

    fn analysis(flagged: bool, m: pb::Murmur) -> pb::Analysis {
        pb::Analysis {
            murmur: Some(m),
            quality: Some(pb::Quality {
                usable: true,
                sqi: 0.8,
                reason: String::new(),
            }),
            rhythm: Some(pb::Rhythm {
                heart_rate_bpm: 70.0,
                rr_sd_s: 0.02,
                rmssd_s: 0.02,
                irregular: false,
            }),
            flagged,
            ..Default::default()
        }
    }

    fn done<'a>(a: &'a pb::Analysis) -> Findings<'a> {
        Findings {
            state: pb::AnalysisState::Done,
            analysis_error: "",
            flagged: a.flagged,
            murmur_status: a
                .murmur
                .as_ref()
                .map_or(pb::MurmurStatus::Unspecified, pb::Murmur::status),
            analysis: Some(a),
        }
    }

    #[test]
    fn a_murmur_is_described_with_timing_character_and_grade() {
        let a = analysis(
            true,
            pb::Murmur {
                status: pb::MurmurStatus::Present as i32,
                timing: pb::MurmurTiming::Systolic as i32,
                phase: "holo".into(),
                shape: "plateau".into(),
                pitch: "high".into(),
                grade: 3,
                confidence: 0.9,
                unknown_reason: String::new(),
            },
        );
        let w = why(&done(&a));
        assert_eq!(w.reasons, vec![FlagReason::Murmur]);
        assert_eq!(
            w.line(),
            "systolic murmur (holo, plateau, high pitch), grade 3/6"
        );
    }

    #[test]
    fn every_finding_that_flags_is_named_and_a_bare_flag_is_the_review_model() {
        let mut a = analysis(true, murmur(pb::MurmurStatus::Absent));
        a.rhythm.as_mut().expect("rhythm").irregular = true;
        a.rhythm.as_mut().expect("rhythm").rr_sd_s = 0.15;
        a.extra_sounds = vec!["s3".into(), "systolic-click".into()];
        let w = why(&done(&a));
        assert_eq!(
            w.reasons,
            vec![FlagReason::IrregularRhythm, FlagReason::ExtraSound]
        );
        assert_eq!(
            w.line(),
            "irregular rhythm (RR interval SD 150 ms); extra sound: S3, systolic click"
        );
        let bare = analysis(true, murmur(pb::MurmurStatus::Absent));
        assert_eq!(why(&done(&bare)).reasons, vec![FlagReason::AbnormalSounds]);
    }

    #[test]
    fn an_unjudgeable_recording_says_why() {
        let mut m = murmur(pb::MurmurStatus::Unknown);
        m.unknown_reason = "too noisy (signal quality 0.12)".into();
        let mut a = analysis(true, m);
        a.quality = Some(pb::Quality {
            usable: false,
            sqi: 0.12,
            reason: "too noisy (signal quality 0.12)".into(),
        });
        let w = why(&done(&a));
        assert_eq!(w.reasons, vec![FlagReason::CannotJudge]);
        assert_eq!(
            w.line(),
            "cannot be judged: too noisy (signal quality 0.12)"
        );
    }

    #[test]
    fn unflagged_pending_and_failed_cases_have_no_reasons_but_words() {
        let a = analysis(false, murmur(pb::MurmurStatus::Absent));
        let w = why(&done(&a));
        assert!(w.reasons.is_empty());
        assert_eq!(w.line(), "not flagged: no murmur");
        let mut f = done(&a);
        f.state = pb::AnalysisState::Pending;
        assert_eq!(why(&f).line(), "awaiting analysis");
        f.state = pb::AnalysisState::Failed;
        f.analysis_error = "unreadable samples";
        assert_eq!(why(&f).line(), "analysis failed: unreadable samples");
    }

    #[test]
    fn a_worklist_line_says_only_what_it_knows() {
        let mut s = pb::CaseSummary {
            analysis_state: pb::AnalysisState::Done as i32,
            flagged: true,
            murmur_status: pb::MurmurStatus::Present as i32,
            ..Default::default()
        };
        let w = why(&Findings::of_summary(&s));
        assert_eq!(w.reasons, vec![FlagReason::Murmur]);
        assert_eq!(w.line(), "murmur present");
        s.murmur_status = pb::MurmurStatus::Absent as i32;
        let w = why(&Findings::of_summary(&s));
        assert!(w.reasons.is_empty());
        assert!(w.line().contains("see case show"), "{}", w.line());
    }
}

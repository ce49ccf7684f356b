//! Why a case needs (or does not need) a clinician, from what the server sends.
//!
//! The server's `Analysis` carries the engine's own `flag_reasons`; each is put in words with the
//! evidence behind it. Analyses stored before the engine gave reasons carry none, and for those the
//! reasons are derived here, in one place, from the fields that exist (murmur, rhythm, extra
//! sounds, quality). A worklist line carries less (flag, murmur status, state), and [`why`] says
//! only what that much supports. Reasons and extra sounds are the engine's terms
//! (`auscult_dsp::vocab`), spelled as the result contract spells them.

use crate::pb;

use auscult_dsp::Term;
pub use auscult_dsp::{ExtraSound, FlagReason};

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
        pb::MurmurStatus::Absent => match m
            .softest_grade
            .and_then(|g| u8::try_from(g).ok())
            .and_then(auscult_dsp::vocab::softest_grade_words)
        {
            Some(limit) => format!("no murmur ({limit})"),
            None => "no murmur".to_owned(),
        },
        pb::MurmurStatus::Unknown => "murmur cannot be judged".to_owned(),
        pb::MurmurStatus::Unspecified => "murmur not assessed".to_owned(),
    }
}

/// An extra heart sound in words.
pub fn extra_sound_in_words(e: ExtraSound) -> &'static str {
    match e {
        ExtraSound::S3 => "S3",
        ExtraSound::S4 => "S4",
        ExtraSound::SystolicClick => "systolic click",
    }
}

/// An extra sound on the wire in words (an unknown name as it is).
pub fn extra_sound_words(name: &str) -> String {
    ExtraSound::parse(name).map_or_else(|| name.to_owned(), |e| extra_sound_in_words(e).to_owned())
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
    if !a.flag_reasons.is_empty() {
        return engine_reasons(a, why);
    }
    if quality.is_some_and(|q| !q.usable) && !why.reasons.contains(&FlagReason::CannotJudge) {
        why.reasons.push(FlagReason::CannotJudge);
        let reason = quality.map_or("", |q| q.reason.as_str());
        why.words.push(if reason.is_empty() {
            "recording not usable".to_owned()
        } else {
            format!("recording not usable: {reason}")
        });
    }
    if a.rhythm.as_ref().is_some_and(|r| r.irregular) {
        why.reasons.push(FlagReason::IrregularRhythm);
        why.words.push(rhythm_words(a));
    }
    if !a.extra_sounds.is_empty() {
        why.reasons.push(FlagReason::ExtraSound);
        why.words.push(extra_sounds_words(a));
    }
    if why.reasons.is_empty() {
        why.reasons.push(FlagReason::AbnormalScore);
        why.words.push(abnormal_score_words(a));
    }
    why
}

fn rhythm_words(a: &pb::Analysis) -> String {
    a.rhythm.as_ref().map_or_else(
        || "irregular rhythm".to_owned(),
        |r| {
            format!(
                "irregular rhythm (RR interval SD {:.0} ms)",
                r.rr_sd_s * 1000.0
            )
        },
    )
}

fn extra_sounds_words(a: &pb::Analysis) -> String {
    let names: Vec<String> = a
        .extra_sounds
        .iter()
        .map(|s| extra_sound_words(s))
        .collect();
    format!("extra sound: {}", names.join(", "))
}

fn abnormal_score_words(a: &pb::Analysis) -> String {
    match a.abnormal_score {
        Some(s) => {
            format!("heart sounds judged abnormal by the engine's review model (score {s:.2})")
        }
        None => "heart sounds judged abnormal by the engine's review model".to_owned(),
    }
}

/// The engine's own reasons, each with its evidence. The murmur and cannot-judge words were
/// already put by [`why`] from the murmur status; they are kept when the engine names them.
fn engine_reasons(a: &pb::Analysis, derived: Why) -> Why {
    let mut why = Why {
        reasons: Vec::new(),
        words: Vec::new(),
    };
    for code in &a.flag_reasons {
        let Some(reason) = FlagReason::parse(code) else {
            // A reason from a newer engine: shown as it is spelled, never dropped.
            why.words.push(code.clone());
            continue;
        };
        if why.reasons.contains(&reason) {
            continue;
        }
        why.reasons.push(reason);
        let from_status = derived
            .reasons
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| derived.words.get(i).cloned());
        why.words.push(match reason {
            FlagReason::Murmur => from_status.unwrap_or_else(|| "murmur".to_owned()),
            FlagReason::CannotJudge => from_status.unwrap_or_else(|| "cannot be judged".to_owned()),
            FlagReason::IrregularRhythm => rhythm_words(a),
            FlagReason::ExtraSound => extra_sounds_words(a),
            FlagReason::AbnormalScore => abnormal_score_words(a),
        });
    }
    if why.words.is_empty() {
        return derived;
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
                intervals: Some(30),
                irregular: false,
                phasic: false,
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
                softest_grade: None,
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
    fn an_absent_call_says_what_it_could_not_have_heard() {
        let absent = |softest_grade| pb::Murmur {
            status: pb::MurmurStatus::Absent as i32,
            softest_grade,
            ..Default::default()
        };
        assert_eq!(murmur_words(&absent(None)), "no murmur");
        assert_eq!(murmur_words(&absent(Some(1))), "no murmur");
        assert_eq!(
            murmur_words(&absent(Some(2))),
            "no murmur (a murmur softer than grade 2/6 would stay under this recording's noise)"
        );
    }

    #[test]
    fn every_finding_that_flags_is_named_and_a_bare_flag_is_the_review_model() {
        let mut a = analysis(true, murmur(pb::MurmurStatus::Absent));
        a.rhythm.as_mut().expect("rhythm").irregular = true;
        a.rhythm.as_mut().expect("rhythm").rr_sd_s = 0.15;
        a.extra_sounds = vec!["s3".into(), "systolic_click".into()];
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
        assert_eq!(why(&done(&bare)).reasons, vec![FlagReason::AbnormalScore]);
    }

    /// The engine's own reasons win over what the fields would suggest, each with its evidence;
    /// a reason from a newer engine is shown as spelled, never dropped.
    #[test]
    fn the_engines_reasons_are_shown_with_their_evidence() {
        let mut a = analysis(true, murmur(pb::MurmurStatus::Absent));
        a.rhythm.as_mut().expect("rhythm").irregular = true;
        a.abnormal_score = Some(0.83);
        a.flag_reasons = vec!["abnormal_score".into(), "split_s2".into()];
        let w = why(&done(&a));
        assert_eq!(w.reasons, vec![FlagReason::AbnormalScore]);
        assert_eq!(
            w.line(),
            "heart sounds judged abnormal by the engine's review model (score 0.83); split_s2"
        );
        a.flag_reasons = vec!["irregular_rhythm".into()];
        assert_eq!(why(&done(&a)).reasons, vec![FlagReason::IrregularRhythm]);
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

//! The outcome proposed for a screening visit from the analyses of its recordings.
//!
//! The rule (documented in `programs.proto` too), over the recordings linked to the four
//! standard auscultation sites of one visit:
//! 1. **refer** when any site's analysis is done, flagged by the engine, and its murmur status is
//!    not `unknown` (a murmur, an abnormal sound or an irregular rhythm in a judgeable recording);
//! 2. otherwise **none yet** while any linked recording's analysis is awaited;
//! 3. otherwise **re-record** when any of the four sites has no recording, its analysis failed,
//!    or its murmur status is `unknown` (poor quality);
//! 4. otherwise (all four analysed, none flagged) **normal**.
//!
//! With the visit's point-of-care blood results ([`propose_visit`], rules in [`crate::labs`]): a
//! result in the diabetes range (HbA1c ≥ 6.5 %, glucose ≥ 126 mg/dL fasting or ≥ 200 mg/dL
//! non-fasting) **refers** as a flag does (rule 1); any other out-of-range result turns a
//! **normal** proposal into **follow up** (a re-recording still comes first: the visit is not
//! complete). Each proposal carries the reasons a clinician reads beside it.

use crate::findings::{AnalysisState, MurmurCall, Site};
use crate::labs::{LabResult, LabWeight};

/// A visit's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Nothing to act on.
    Normal,
    /// Refer to a clinic.
    Refer,
    /// Record again.
    ReRecord,
    /// Follow up (a blood result out of its reference range, nothing to refer).
    FollowUp,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [
        Outcome::Normal,
        Outcome::Refer,
        Outcome::ReRecord,
        Outcome::FollowUp,
    ];

    /// The stable name (`normal`, `refer`, `re_record`, `follow_up`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Normal => "normal",
            Outcome::Refer => "refer",
            Outcome::ReRecord => "re_record",
            Outcome::FollowUp => "follow_up",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One recording linked to a visit, as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteAnalysis {
    /// The site it was recorded at (`None`: not a standard site; it cannot complete a visit).
    pub site: Option<Site>,
    /// Where its analysis stands.
    pub state: AnalysisState,
    /// The murmur call once analysed (`None` before, or a call the rule does not know).
    pub murmur: Option<MurmurCall>,
    /// The engine's flag.
    pub flagged: bool,
}

/// The proposal for one visit from its linked recordings (`None` while analyses are awaited).
pub fn propose<'a>(links: impl IntoIterator<Item = &'a SiteAnalysis>) -> Option<Outcome> {
    let links: Vec<&SiteAnalysis> = links.into_iter().collect();
    let judgeable_flag = links.iter().any(|l| {
        l.state == AnalysisState::Done && l.flagged && l.murmur != Some(MurmurCall::Unknown)
    });
    if judgeable_flag {
        return Some(Outcome::Refer);
    }
    if links.iter().any(|l| l.state.awaited()) {
        return None;
    }
    let complete = Site::ALL.iter().all(|site| {
        links.iter().any(|l| {
            l.site == Some(*site)
                && l.state == AnalysisState::Done
                && l.murmur == Some(MurmurCall::Absent)
        })
    });
    Some(if complete {
        Outcome::Normal
    } else {
        Outcome::ReRecord
    })
}

/// A visit's proposal and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The proposed outcome (`None` while analyses are awaited).
    pub outcome: Option<Outcome>,
    /// What led to it, in words a clinician reads: the flagged sites and the blood results that
    /// refer or ask for follow-up, or what is missing for a re-recording. Empty for normal.
    pub reasons: Vec<String>,
}

fn site_reasons(links: &[&SiteAnalysis], outcome: Option<Outcome>) -> Vec<String> {
    match outcome {
        Some(Outcome::Refer) => links
            .iter()
            .filter(|l| {
                l.state == AnalysisState::Done && l.flagged && l.murmur != Some(MurmurCall::Unknown)
            })
            .map(|l| {
                let site = l.site.map_or("non-standard", Site::as_str);
                format!("{site} site: flagged by the analysis")
            })
            .collect(),
        Some(Outcome::ReRecord) => Site::ALL
            .iter()
            .filter_map(|site| {
                let at_site: Vec<_> = links.iter().filter(|l| l.site == Some(*site)).collect();
                let done = |l: &&&SiteAnalysis| l.state == AnalysisState::Done;
                if at_site.is_empty() {
                    Some(format!("{} site: not recorded", site.as_str()))
                } else if at_site
                    .iter()
                    .any(|l| done(l) && l.murmur == Some(MurmurCall::Absent))
                {
                    None
                } else if at_site
                    .iter()
                    .any(|l| done(l) && l.murmur == Some(MurmurCall::Unknown))
                {
                    Some(format!("{} site: could not be judged", site.as_str()))
                } else if at_site.iter().any(done) {
                    Some(format!("{} site: not judged normal", site.as_str()))
                } else {
                    Some(format!("{} site: analysis failed", site.as_str()))
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The proposal for one visit from its linked recordings and its point-of-care blood results.
pub fn propose_visit<'a>(
    links: impl IntoIterator<Item = &'a SiteAnalysis>,
    labs: &[LabResult],
) -> Proposal {
    let links: Vec<&SiteAnalysis> = links.into_iter().collect();
    let heard = propose(links.iter().copied());
    let weight = labs.iter().map(LabResult::weight).max();
    let outcome = match (heard, weight) {
        (Some(Outcome::Refer), _) | (_, Some(LabWeight::Refer)) => Some(Outcome::Refer),
        (Some(Outcome::Normal), Some(LabWeight::FollowUp)) => Some(Outcome::FollowUp),
        (heard, _) => heard,
    };
    let mut reasons = site_reasons(&links, outcome);
    let lab_weight = match outcome {
        Some(Outcome::Refer) => Some(LabWeight::Refer),
        Some(Outcome::FollowUp | Outcome::ReRecord) => Some(LabWeight::FollowUp),
        None if weight == Some(LabWeight::FollowUp) => Some(LabWeight::FollowUp),
        _ => None,
    };
    if let Some(least) = lab_weight {
        reasons.extend(
            labs.iter()
                .filter(|l| l.weight() >= least)
                .filter_map(LabResult::reason),
        );
    }
    Proposal { outcome, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::Analyte;

    fn link(
        site: Site,
        state: AnalysisState,
        murmur: Option<MurmurCall>,
        flagged: bool,
    ) -> SiteAnalysis {
        SiteAnalysis {
            site: Some(site),
            state,
            murmur,
            flagged,
        }
    }

    fn all_absent() -> Vec<SiteAnalysis> {
        Site::ALL
            .iter()
            .map(|s| link(*s, AnalysisState::Done, Some(MurmurCall::Absent), false))
            .collect()
    }

    #[test]
    fn four_normal_sites_are_normal() {
        assert_eq!(propose(&all_absent()), Some(Outcome::Normal));
    }

    #[test]
    fn a_flagged_murmur_refers_even_with_sites_missing_or_pending() {
        let links = vec![
            link(
                Site::Mitral,
                AnalysisState::Done,
                Some(MurmurCall::Present),
                true,
            ),
            link(Site::Aortic, AnalysisState::Pending, None, false),
        ];
        assert_eq!(propose(&links), Some(Outcome::Refer));
    }

    #[test]
    fn a_flag_on_a_recording_without_a_murmur_call_refers() {
        // An irregular rhythm flags a recording whose murmur call is absent.
        let mut links = all_absent();
        links[3].flagged = true;
        assert_eq!(propose(&links), Some(Outcome::Refer));
    }

    #[test]
    fn pending_or_incomplete_analyses_propose_nothing_yet() {
        let mut links = all_absent();
        links[0].state = AnalysisState::Pending;
        links[0].murmur = None;
        assert_eq!(propose(&links), None);
        links[0].state = AnalysisState::None;
        assert_eq!(propose(&links), None);
    }

    #[test]
    fn missing_unknown_or_failed_sites_re_record() {
        assert_eq!(propose(&all_absent()[..3]), Some(Outcome::ReRecord));
        let mut unknown = all_absent();
        unknown[2] = link(
            Site::Tricuspid,
            AnalysisState::Done,
            Some(MurmurCall::Unknown),
            true,
        );
        assert_eq!(propose(&unknown), Some(Outcome::ReRecord));
        let mut failed = all_absent();
        failed[1] = link(Site::Pulmonic, AnalysisState::Failed, None, false);
        assert_eq!(propose(&failed), Some(Outcome::ReRecord));
        assert_eq!(propose(&[]), Some(Outcome::ReRecord));
    }

    #[test]
    fn a_recording_at_no_standard_site_completes_nothing() {
        let mut links = all_absent();
        links[0].site = None;
        assert_eq!(propose(&links), Some(Outcome::ReRecord));
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("re-record"), None);
        assert_eq!(Outcome::parse("follow-up"), None);
    }

    fn lab(a: Analyte, v: f64, fasting: bool) -> LabResult {
        LabResult::new(a, v, fasting).expect("a plausible value")
    }

    #[test]
    fn a_diabetes_range_result_refers_whatever_the_recordings_say() {
        let labs = [
            lab(Analyte::HbA1c, 7.1, true),
            lab(Analyte::HdlCholesterol, 52.0, true),
        ];
        for links in [all_absent(), Vec::new(), all_absent()[..2].to_vec()] {
            let p = propose_visit(&links, &labs);
            assert_eq!(p.outcome, Some(Outcome::Refer));
            assert_eq!(p.reasons, ["HbA1c 7.1 % (≥ 6.5)"]);
        }
        let mut pending = all_absent();
        pending[0].state = AnalysisState::Pending;
        assert_eq!(propose_visit(&pending, &labs).outcome, Some(Outcome::Refer));
    }

    #[test]
    fn other_out_of_range_results_turn_normal_into_follow_up() {
        let labs = [
            lab(Analyte::Glucose, 130.0, false),
            lab(Analyte::Triglycerides, 180.0, false),
            lab(Analyte::HdlCholesterol, 35.0, false),
        ];
        let p = propose_visit(&all_absent(), &labs);
        assert_eq!(p.outcome, Some(Outcome::FollowUp));
        assert_eq!(
            p.reasons,
            [
                "Triglycerides 180 mg/dL (> 174, non-fasting)",
                "HDL cholesterol 35 mg/dL (< 40)",
            ]
        );
        // In range: normal, no reasons.
        let fine = [
            lab(Analyte::HbA1c, 5.4, true),
            lab(Analyte::Glucose, 92.0, true),
        ];
        assert_eq!(
            propose_visit(&all_absent(), &fine),
            Proposal {
                outcome: Some(Outcome::Normal),
                reasons: Vec::new()
            }
        );
    }

    #[test]
    fn a_re_recording_or_a_pending_analysis_comes_before_follow_up() {
        let labs = [lab(Analyte::TotalCholesterol, 250.0, true)];
        let p = propose_visit(&all_absent()[..3], &labs);
        assert_eq!(p.outcome, Some(Outcome::ReRecord));
        assert_eq!(
            p.reasons,
            [
                "mitral site: not recorded",
                "Total cholesterol 250 mg/dL (> 219)"
            ]
        );
        let mut pending = all_absent();
        pending[1].state = AnalysisState::Pending;
        let p = propose_visit(&pending, &labs);
        assert_eq!(p.outcome, None);
        assert_eq!(p.reasons, ["Total cholesterol 250 mg/dL (> 219)"]);
    }

    #[test]
    fn a_flag_refers_with_its_site_as_the_reason() {
        let mut links = all_absent();
        links[3].flagged = true;
        links[3].murmur = Some(MurmurCall::Present);
        let labs = [lab(Analyte::HdlCholesterol, 35.0, false)];
        let p = propose_visit(&links, &labs);
        assert_eq!(p.outcome, Some(Outcome::Refer));
        assert_eq!(p.reasons, ["mitral site: flagged by the analysis"]);
        assert_eq!(propose_visit(&links, &[]).outcome, propose(&links));
    }
}

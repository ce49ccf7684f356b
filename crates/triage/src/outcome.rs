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

use crate::findings::{AnalysisState, MurmurCall, Site};

/// A visit's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Nothing to act on.
    Normal,
    /// Refer to a clinic.
    Refer,
    /// Record again.
    ReRecord,
}

impl Outcome {
    /// The stable name (`normal`, `refer`, `re_record`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Normal => "normal",
            Outcome::Refer => "refer",
            Outcome::ReRecord => "re_record",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Normal, Outcome::Refer, Outcome::ReRecord]
            .into_iter()
            .find(|o| o.as_str() == s)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        for o in [Outcome::Normal, Outcome::Refer, Outcome::ReRecord] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("re-record"), None);
    }
}

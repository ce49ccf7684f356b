//! The few facts of an analysis and a visit that the triage rules look at.

/// The engine's murmur call for one recording (present, absent, unknown), as the engine spells it.
pub use auscult_dsp::MurmurCall;

/// Where a recording's analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisState {
    /// The recording is not complete: nothing to analyse yet.
    None,
    /// Queued or running.
    Pending,
    /// Analysed.
    Done,
    /// Failed after all retries.
    Failed,
}

impl AnalysisState {
    /// The stable lower-case name (`none`, `pending`, `done`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisState::None => "none",
            AnalysisState::Pending => "pending",
            AnalysisState::Done => "done",
            AnalysisState::Failed => "failed",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Pending, Self::Done, Self::Failed]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// An answer is still to come (not complete, or queued or running).
    pub fn awaited(self) -> bool {
        matches!(self, AnalysisState::None | AnalysisState::Pending)
    }
}

/// The four standard auscultation sites of a screening visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    /// Second right intercostal space.
    Aortic,
    /// Second left intercostal space.
    Pulmonic,
    /// Fourth left intercostal space, lower sternal border.
    Tricuspid,
    /// Apex, fifth intercostal space, mid-clavicular line.
    Mitral,
}

impl Site {
    /// All four, in the usual order of examination.
    pub const ALL: [Site; 4] = [Site::Aortic, Site::Pulmonic, Site::Tricuspid, Site::Mitral];

    /// The stable lower-case name (`aortic`, `pulmonic`, `tricuspid`, `mitral`).
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Aortic => "aortic",
            Site::Pulmonic => "pulmonic",
            Site::Tricuspid => "tricuspid",
            Site::Mitral => "mitral",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|site| site.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        for a in [
            AnalysisState::None,
            AnalysisState::Pending,
            AnalysisState::Done,
            AnalysisState::Failed,
        ] {
            assert_eq!(AnalysisState::parse(a.as_str()), Some(a));
        }
        for s in Site::ALL {
            assert_eq!(Site::parse(s.as_str()), Some(s));
        }
        assert_eq!(AnalysisState::parse(""), None);
        assert_eq!(Site::parse("apex"), None);
    }
}

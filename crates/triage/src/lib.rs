//! Triage rules: which analysed recording a clinician sees first, which outcome a screening
//! visit is proposed, and what a programme report counts.
//!
//! Architecture invariant: this crate is pure. It does no I/O, no async, reads no clock and
//! knows nothing of protobuf, SQL or serde; the server maps stored rows to these types, calls the
//! rules and stores or sends the answers. An outcome is only ever *proposed* here: a clinician
//! confirms it, and reports count confirmed outcomes.

pub mod findings;
pub mod outcome;
pub mod priority;
pub mod report;

pub use findings::{AnalysisState, MurmurCall, Site};
pub use outcome::{Outcome, SiteAnalysis, propose};
pub use priority::{AnalysisSummary, Priority, priority};
pub use report::{Counts, Report, VisitFacts, report};

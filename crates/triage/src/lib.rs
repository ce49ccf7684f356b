//! Triage rules: which analysed recording a clinician sees first, which outcome a screening
//! visit is proposed (from its recordings and its point-of-care blood results, [`labs`]), and
//! what a programme report counts.
//!
//! Architecture invariant: this crate is pure. It does no I/O, no async, reads no clock and
//! knows nothing of protobuf, SQL or serde; the server maps stored rows to these types, calls the
//! rules and stores or sends the answers. An outcome is only ever *proposed* here: a clinician
//! confirms it, and reports count confirmed outcomes.

pub mod findings;
pub mod labs;
pub mod outcome;
pub mod priority;
pub mod report;

pub use findings::{AnalysisState, MurmurCall, Site};
pub use labs::{Analyte, Classification, LabError, LabResult, LabUnit, LabWeight, ReferenceRange};
pub use outcome::{Outcome, Proposal, SiteAnalysis, propose, propose_visit};
pub use priority::{AnalysisSummary, Priority, priority};
pub use report::{Counts, LabCounts, Report, VisitFacts, report};

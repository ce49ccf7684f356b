//! auscult fhir crate.

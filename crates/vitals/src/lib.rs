//! auscult vitals crate.

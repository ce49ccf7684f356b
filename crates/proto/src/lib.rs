//! auscult proto crate.

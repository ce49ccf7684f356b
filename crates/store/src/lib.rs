//! auscult store crate.

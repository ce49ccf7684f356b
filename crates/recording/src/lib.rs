//! auscult recording crate.

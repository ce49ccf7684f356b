//! auscult server crate.

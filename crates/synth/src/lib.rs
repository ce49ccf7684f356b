//! auscult synth crate.

//! The auscult analysis engine: pure signal processing for heart sounds and the ECG.
//!
//! Architecture invariant: this crate does no I/O, no async, and knows nothing of protobuf, serde,
//! files or databases. It takes samples and rates and returns plain Rust values ([`model`]).

pub mod error;
pub mod model;
pub mod units;

pub use error::DspError;
pub use model::*;
pub use units::{Bpm, Hz, SampleIndex, Seconds};

//! The auscult analysis engine: pure signal processing for heart sounds and the ECG.
//!
//! Architecture invariant: this crate does no I/O, no async, and knows nothing of protobuf, files
//! or databases. It takes samples and rates and returns plain Rust values ([`model`]). Its
//! vocabulary ([`vocab`]) is spelled once here; the optional `serde` feature only lets other crates
//! serialize those words as spelled, the engine itself never serializes anything.

pub mod analysis;
pub mod denoise;
pub mod ecg;
pub mod ensemble;
pub mod envelope;
pub mod error;
pub mod features;
pub mod filter;
pub mod heart_rate;
pub mod mfcc;
pub mod model;
pub mod murmur;
pub mod preprocess;
pub mod quality;
pub mod resample;
pub mod rhythm;
pub mod segment;
pub mod spike;
mod sums;
pub mod units;
pub mod vocab;

pub use analysis::{Analyzer, analyze};
pub use denoise::{DenoiseMethod, DenoiseOptions, Denoised, Denoiser, FallbackReason};
pub use error::DspError;
pub use model::*;
pub use units::{Bpm, Hz, SampleIndex, Seconds};
pub use vocab::{MurmurCall, Term, UnknownKind, UnknownTerm};

//! Reading recordings from disk into plain samples for the engine, and writing them back.
//!
//! Formats: WAV (through hound), WFDB records (`.hea` headers with signal files in formats 16,
//! 61, 80, 212, 24 and 32, several signals multiplexed in one file), WFDB MIT annotation files,
//! CSV lists of R-peak times, and the `labels.csv` tables of labelled datasets. What comes out is a [`LoadedRecording`]: `Vec<f32>` samples and
//! an [`Hz`] rate per signal, which [`LoadedRecording::as_recording`] lends to `auscult_dsp`.
//!
//! Architecture invariant: this crate never panics on file contents and never allocates in
//! proportion to a number a file *declares*: sizes are checked against the bytes actually present
//! and against [`MAX_SAMPLES`] first. It does no signal processing beyond scaling to physical
//! units and picking channels.

mod error;
pub mod export;
pub mod labels;
pub mod rpeaks;
pub mod wav;
pub mod wfdb;

use std::path::Path;

use auscult_dsp::{EcgInput, Hz, Recording, Signal};

pub use error::RecordingError;
pub use labels::{LabelRow, read_labels_csv};
pub use rpeaks::read_rpeaks_csv;
pub use wav::{WavChannels, read_wav};
pub use wfdb::{read_wfdb_record, write_wfdb_record};

/// The most samples (per signal, and per file across signals) this crate will hold in memory:
/// 2^27, about 37 minutes of 8-channel audio at 48 kHz or 18 hours at 2 kHz.
pub const MAX_SAMPLES: u64 = 1 << 27;

/// One uniformly sampled signal read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledSignal {
    /// The samples, in physical units where the file says what they are (mV for WFDB ECG),
    /// otherwise full scale ±1.
    pub samples: Vec<f32>,
    /// The sample rate.
    pub rate: Hz,
}

impl SampledSignal {
    /// The signal borrowed in the engine's form.
    pub fn as_signal(&self) -> Signal<'_> {
        Signal {
            samples: &self.samples,
            rate: self.rate,
        }
    }

    /// The length in seconds.
    pub fn duration_s(&self) -> f64 {
        if self.rate.0 > 0.0 {
            self.samples.len() as f64 / self.rate.0
        } else {
            0.0
        }
    }
}

/// The ECG that came with a recording: a raw lead, or R-peak times from a CSV.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedEcg {
    /// A raw ECG lead.
    Raw(SampledSignal),
    /// R-peak times, seconds from the start of the PCG.
    RPeaks(Vec<auscult_dsp::Seconds>),
}

/// A phonocardiogram and, when there is one, its simultaneous ECG.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRecording {
    /// The phonocardiogram.
    pub pcg: SampledSignal,
    /// The ECG, when the file had one (or one was attached).
    pub ecg: Option<LoadedEcg>,
}

impl LoadedRecording {
    /// The recording borrowed in the engine's form.
    pub fn as_recording(&self) -> Recording<'_> {
        Recording {
            pcg: self.pcg.as_signal(),
            ecg: self.ecg.as_ref().map(|e| match e {
                LoadedEcg::Raw(s) => EcgInput::Raw(s.as_signal()),
                LoadedEcg::RPeaks(p) => EcgInput::RPeaks(p),
            }),
        }
    }
}

/// Reads a recording by its extension: `.wav` through [`read_wav`] with the given channel
/// layout, `.hea` through [`read_wfdb_record`] (PCG and ECG found by signal description).
pub fn read_recording(
    path: &Path,
    channels: WavChannels,
) -> Result<LoadedRecording, RecordingError> {
    match extension_lowercase(path).as_deref() {
        Some("hea") => read_wfdb_record(path),
        Some("wav") => read_wav(path, channels),
        _ => Err(RecordingError::UnknownFileType(path.to_path_buf())),
    }
}

/// Reads an ECG to attach to a lone recording: a WAV (channel 0), a WFDB record (its ECG
/// signal) or a CSV of R-peak times (`.csv`, `.txt`).
pub fn read_ecg(path: &Path) -> Result<LoadedEcg, RecordingError> {
    match extension_lowercase(path).as_deref() {
        Some("csv") | Some("txt") => Ok(LoadedEcg::RPeaks(read_rpeaks_csv(path)?)),
        Some("hea") => wfdb::read_wfdb_ecg(path).map(LoadedEcg::Raw),
        _ => Ok(LoadedEcg::Raw(read_wav(path, WavChannels::default())?.pcg)),
    }
}

fn extension_lowercase(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Checks a declared count against [`MAX_SAMPLES`].
pub(crate) fn check_samples(what: &'static str, declared: u64) -> Result<usize, RecordingError> {
    if declared > MAX_SAMPLES {
        return Err(RecordingError::TooLarge {
            what,
            declared,
            limit: MAX_SAMPLES,
        });
    }
    usize::try_from(declared).map_err(|_| RecordingError::TooLarge {
        what,
        declared,
        limit: MAX_SAMPLES,
    })
}

/// Checks a sample rate is a positive finite number.
pub(crate) fn check_rate(rate: f64) -> Result<Hz, RecordingError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(Hz(rate))
    } else {
        Err(RecordingError::InvalidRate(rate))
    }
}

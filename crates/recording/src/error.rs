//! The one error type of the `recording` crate.
//!
//! Every way a file can be wrong (unreadable, malformed, truncated, lying about its size) ends
//! here as a value: nothing in this crate panics on file contents.

use std::path::PathBuf;

/// Why a recording, header, annotation file or R-peak list could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The operating system refused a read or write.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The WAV container is malformed or uses an encoding hound cannot read.
    #[error("invalid WAV: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV file is well formed but not something we analyse (e.g. 64-bit samples).
    #[error("unsupported WAV: {0}")]
    UnsupportedWav(String),
    /// The file's extension names no format this crate reads.
    #[error("{0}: unknown recording type (expected .wav or .hea)")]
    UnknownFileType(PathBuf),
    /// A channel index was asked for that the file does not have.
    #[error("channel {channel} requested but the recording has {channels} channel(s)")]
    NoSuchChannel {
        /// The (zero-based) channel asked for.
        channel: usize,
        /// How many channels the file has.
        channels: usize,
    },
    /// A WFDB header line could not be parsed.
    #[error("WFDB header line {line}: {message}")]
    Header {
        /// One-based line number in the `.hea` file.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The WFDB header uses a feature this reader does not implement (multi-segment records,
    /// several samples per frame, an unknown storage format).
    #[error("unsupported WFDB feature: {0}")]
    UnsupportedWfdb(String),
    /// A declared size (samples, channels, bytes) exceeds what this reader will allocate.
    #[error("{what} {declared} exceeds the limit of {limit}")]
    TooLarge {
        /// Which quantity.
        what: &'static str,
        /// What the file declared.
        declared: u64,
        /// The largest value accepted.
        limit: u64,
    },
    /// A signal file is shorter than its header says.
    #[error("{path}: truncated: header declares {expected} bytes of samples, file holds {actual}")]
    Truncated {
        /// The signal file.
        path: PathBuf,
        /// Bytes the header implies (after the byte offset).
        expected: u64,
        /// Bytes actually there (after the byte offset).
        actual: u64,
    },
    /// No signal in the record could be identified as the phonocardiogram.
    #[error("no PCG signal found (signal descriptions: {0})")]
    NoPcg(String),
    /// The recording holds no samples.
    #[error("the recording has no samples")]
    Empty,
    /// The sample rate is zero, negative or not a number.
    #[error("invalid sample rate {0}")]
    InvalidRate(f64),
    /// An R-peak CSV could not be understood.
    #[error("R-peak CSV line {line}: {message}")]
    RPeaks {
        /// One-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A `labels.csv` table could not be understood.
    #[error("labels.csv line {line}: {message}")]
    Labels {
        /// One-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A WFDB annotation file is malformed or truncated.
    #[error("WFDB annotation file: {0}")]
    Annotation(String),
    /// Something asked to be written cannot be represented (e.g. non-finite samples, a record
    /// name with spaces, annotations out of order).
    #[error("cannot write: {0}")]
    Unwritable(String),
}

impl RecordingError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RecordingError::Io {
            path: path.into(),
            source,
        }
    }
}

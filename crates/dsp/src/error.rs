//! The one error type of the `dsp` crate.

use crate::units::Hz;

/// Why an analysis could not be run at all. A recording that can be read but not judged is not an
/// error: it yields an [`crate::Analysis`] whose murmur status is `Unknown` with a reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DspError {
    /// The sample rate is outside what the engine accepts (1 to 48 kHz for PCG).
    #[error("unsupported sample rate {0}: expected 1000 to 48000 Hz")]
    UnsupportedRate(Hz),
    /// The ECG sample rate is outside what the engine accepts.
    #[error("unsupported ECG sample rate {0}: expected 100 to 48000 Hz")]
    UnsupportedEcgRate(Hz),
    /// There were no samples at all.
    #[error("the recording has no samples")]
    Empty,
    /// A model parameter file (e.g. `params/murmur.txt`) could not be parsed.
    #[error("invalid model parameters at line {line}: {reason}")]
    InvalidParams {
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

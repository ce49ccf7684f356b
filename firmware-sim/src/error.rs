//! The one error type of the simulator library.

/// Why a simulated device could not do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The synthetic recording could not be generated (a bad scenario setting).
    #[error("synthesis: {0}")]
    Synth(#[from] auscult_synth::SynthError),
    /// A file to replay could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        source: auscult_recording::RecordingError,
    },
    /// A recording the protocol cannot carry (e.g. a fractional or out-of-range sample rate).
    #[error("unsupported recording: {0}")]
    Unsupported(String),
    /// The server URL is not usable.
    #[error("bad server URL `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The token cannot be sent as a header value.
    #[error("the token is not a valid header value")]
    BadToken,
    /// The server refused the upload for a reason that retrying cannot fix.
    #[error("server refused the upload: {code:?}: {message}")]
    Refused {
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// Every attempt failed with a retryable error; the last one is given.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// The server answered in a way the protocol does not allow.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
}

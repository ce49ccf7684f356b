//! The one error type of the `server` crate and its single mapping to gRPC status codes.
//!
//! The mapping never leaks SQL, file paths or other internals to a client: internal failures are
//! logged here (without personal data) and reported as a bare `INTERNAL` or `UNAVAILABLE`.

use auscult_store::StoreError;
use tonic::Status;

/// Why a request or the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No token, a malformed token, an unknown or revoked token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The caller's role does not allow the call.
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// The thing asked for does not exist in the caller's tenant.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A message failed validation.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A chunk did not start where the stream's data ended.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// The request conflicts with the stored state (e.g. different metadata for a known upload).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Another stream or server is writing the same upload.
    #[error("aborted: {0}")]
    Aborted(&'static str),
    /// A configured limit was exceeded.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// Something already exists (e.g. a tenant name).
    #[error("already exists: {0}")]
    AlreadyExists(&'static str),
    /// The payload did not match its declared checksum.
    #[error("data loss: {0}")]
    DataLoss(&'static str),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// This server may not start beside the servers already running on its database (local
    /// blobs, or SQLite, shared with another live server): at start only.
    #[error("refused to start: {0}")]
    Refused(String),
    /// The configuration is invalid (at start only; never a runtime failure).
    #[error("configuration: {0}")]
    Config(String),
    /// Stored data does not decode (a stored questionnaire, response or vitals record): the
    /// database holds something this server did not write.
    #[error("corrupt stored data: {0}")]
    Corrupt(&'static str),
    /// A part of this server that a request needs has stopped (e.g. the sample writer).
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// A failure inside this server that no request can cause or fix (a task panicked, an
    /// engine refused its own configuration, a document failed to serialise).
    #[error("internal: {0}")]
    Internal(String),
    /// The transport failed to start or serve.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// An I/O error at start (binding, reading TLS files).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ServerError> for Status {
    fn from(err: ServerError) -> Status {
        match err {
            ServerError::Unauthenticated(m) => Status::unauthenticated(m),
            ServerError::PermissionDenied(m) => Status::permission_denied(m),
            ServerError::NotFound(m) => Status::not_found(m),
            ServerError::InvalidArgument(m) => Status::invalid_argument(m),
            ServerError::OutOfRange(m) => Status::out_of_range(m),
            ServerError::FailedPrecondition(m) => Status::failed_precondition(m),
            ServerError::Aborted(m) => Status::aborted(m),
            ServerError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ServerError::AlreadyExists(m) => Status::already_exists(m),
            ServerError::DataLoss(m) => Status::data_loss(m),
            ServerError::Store(StoreError::Conflict(_)) => {
                Status::aborted("concurrent modification; query the status and retry")
            }
            ServerError::Store(StoreError::AlreadyExists(what)) => Status::already_exists(what),
            ServerError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                Status::unavailable("storage unavailable")
            }
            ServerError::Unavailable(what) => {
                tracing::error!(part = what, "a server part has stopped");
                Status::unavailable("temporarily unavailable; retry")
            }
            ServerError::Corrupt(what) => {
                tracing::error!(what, "stored data does not decode");
                Status::internal("internal error")
            }
            other => {
                tracing::error!(error = %other, "internal failure");
                Status::internal("internal error")
            }
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ServerError>;

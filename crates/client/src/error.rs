//! The one error type of the client crate.
//!
//! Each message says what went wrong in this layer only; the cause, when there is one, is the
//! error's `source()` and is not repeated in the message, so a printer that walks the chain
//! prints every part once.

/// Why an operator's call did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `--server` is not a URL a gRPC channel can use.
    #[error("invalid server URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The server could not be reached.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL as given.
        url: String,
        /// What the transport said.
        #[source]
        source: tonic::transport::Error,
    },
    /// The token cannot travel in an HTTP header.
    #[error("the token is not valid in an authorization header (printable ASCII only)")]
    InvalidToken,
    /// The server answered the call with an error status.
    #[error("{call}: {}", describe(*.code, message))]
    Refused {
        /// The call, as an operator knows it (e.g. `case show`).
        call: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// A well-formed answer lacked something it must carry.
    #[error("the server's answer to {call} has no {what}")]
    Missing {
        /// The call.
        call: &'static str,
        /// What was missing.
        what: &'static str,
    },
    /// The server named an export file with a path instead of a plain file name.
    #[error("the server sent a file named {0:?}, which is not a plain file name")]
    UnsafeFileName(String),
}

/// The server's refusal in words: the status code's meaning, then the server's message.
fn describe(code: tonic::Code, message: &str) -> String {
    let what = match code {
        tonic::Code::Unauthenticated => {
            "not authenticated (check AUSCULT_TOKEN or --token-file)".to_owned()
        }
        tonic::Code::PermissionDenied => "permission denied".to_owned(),
        tonic::Code::NotFound => "not found".to_owned(),
        tonic::Code::InvalidArgument => "invalid argument".to_owned(),
        tonic::Code::AlreadyExists => "already exists".to_owned(),
        tonic::Code::FailedPrecondition => "not possible now".to_owned(),
        tonic::Code::Unavailable => "the server is unavailable".to_owned(),
        tonic::Code::Internal => "the server failed".to_owned(),
        other => format!("refused ({other:?})"),
    };
    if message.is_empty() {
        what
    } else {
        format!("{what}: {message}")
    }
}

impl ClientError {
    /// The error of `call` answered with `status`.
    pub fn refused(call: &'static str, status: &tonic::Status) -> Self {
        ClientError::Refused {
            call,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_call_code_and_message_once() {
        let e = ClientError::refused("case show", &tonic::Status::not_found("case not found"));
        assert_eq!(e.to_string(), "case show: not found: case not found");
        assert!(std::error::Error::source(&e).is_none());
        let e = ClientError::refused("tenant list", &tonic::Status::unauthenticated(""));
        assert_eq!(
            e.to_string(),
            "tenant list: not authenticated (check AUSCULT_TOKEN or --token-file)"
        );
    }
}

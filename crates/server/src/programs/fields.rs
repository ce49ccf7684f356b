//! Request fields as the programme handlers accept them: trimmed, bounded texts, ids and the
//! gender code.
//!
//! Pure checks, no I/O. A bad field is `INVALID_ARGUMENT` naming the field, never echoing its
//! value; an id that is empty or too long is simply NOT_FOUND, like any other unknown id.

use auscult_proto::v1 as pb;

use crate::error::{Result, ServerError};

pub(super) const MAX_ID: usize = 64;
pub(super) const MAX_NAME: usize = 200;
pub(super) const MAX_DESCRIPTION: usize = 2000;
pub(super) const MAX_NOTE: usize = 10_000;

pub(super) fn invalid(m: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument(m.into())
}

pub(super) fn text(value: &str, what: &str, max: usize, required: bool) -> Result<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(invalid(format!("{what} is required")));
    }
    if v.chars().count() > max {
        return Err(invalid(format!("{what} is at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(format!("{what} holds control characters")));
    }
    Ok(v.to_owned())
}

/// An id from a request: too long or empty is simply not found.
pub(super) fn id<'a>(value: &'a str, what: &'static str) -> Result<&'a str> {
    if value.is_empty() || value.len() > MAX_ID {
        Err(ServerError::NotFound(what))
    } else {
        Ok(value)
    }
}

pub(super) fn gender_name(g: i32) -> Result<&'static str> {
    Ok(match pb::Gender::try_from(g) {
        Ok(pb::Gender::Unspecified) => "unknown",
        Ok(pb::Gender::Male) => "male",
        Ok(pb::Gender::Female) => "female",
        Ok(pb::Gender::Other) => "other",
        Err(_) => return Err(invalid("unknown gender")),
    })
}

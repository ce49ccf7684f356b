//! An error and its causes on one line, each part once.
//!
//! Several library errors write their cause into their own message *and* return it as their
//! `source()` (thiserror's `#[error("invalid WAV: {0}")]` on a `#[from]` field, or
//! `"{path}: {source}"` with `#[source]`), so walking the chain as anyhow's `{:#}` does repeats the
//! cause: "invalid WAV: no RIFF tag found: no RIFF tag found". Here a cause whose message its
//! parent's message already ends with is not written again.

/// `e` and its causes, joined by `: `, without repeating a cause its parent already says.
pub fn chain_once(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if message.is_empty() {
            continue;
        }
        if parts
            .last()
            .is_some_and(|parent| parent.ends_with(&message))
        {
            continue;
        }
        parts.push(message);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("no RIFF tag found")]
        NoRiff,
    }

    /// The shape of `auscult_recording::RecordingError::Wav`: the cause in the message and in
    /// `source()`.
    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("invalid WAV: {0}")]
        Wav(#[from] Inner),
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_written_once() {
        let e = anyhow::Error::from(Outer::from(Inner::NoRiff)).context("reading x.wav");
        assert_eq!(
            format!("{e:#}"),
            "reading x.wav: invalid WAV: no RIFF tag found: no RIFF tag found",
            "the repetition this module exists to remove"
        );
        assert_eq!(
            chain_once(&e),
            "reading x.wav: invalid WAV: no RIFF tag found"
        );
    }

    #[test]
    fn distinct_causes_are_all_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::from(io).context("writing out.wav");
        assert_eq!(chain_once(&e), "writing out.wav: No such file or directory");
    }
}

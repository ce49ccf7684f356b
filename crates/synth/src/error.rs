//! The one error type of the `synth` crate: a configuration that cannot produce a sensible signal.

/// Why a synthetic recording or vital-sign series could not be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A configuration field is out of its allowed range or not a finite number.
    #[error("invalid synthesis setting `{field}`: {reason}")]
    InvalidConfig {
        /// The name of the offending field, as spelled in the config struct.
        field: &'static str,
        /// What the allowed values are.
        reason: String,
    },
    /// The requested signal would be too large to hold in memory (duration × rate).
    #[error("`{field}` × duration asks for {samples} samples, more than the limit of {limit}")]
    TooLarge {
        /// The rate field that, with the duration, asks for too many samples.
        field: &'static str,
        /// How many samples the configuration asks for.
        samples: u64,
        /// The most this crate will generate in one signal.
        limit: u64,
    },
    /// A scenario name that this crate does not know.
    #[error("unknown scenario `{0}`")]
    UnknownScenario(String),
}

/// Check that `value` is finite and within `[lo, hi]`.
pub(crate) fn check_range(
    field: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
) -> Result<(), SynthError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(SynthError::InvalidConfig {
            field,
            reason: format!("{value} is not within {lo}..={hi}"),
        })
    }
}

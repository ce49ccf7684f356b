//! Unit newtypes, so a rate is never mistaken for a time or a count of samples.

use std::fmt;

/// A frequency or sample rate in hertz.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Hz(pub f64);

/// A time or duration in seconds (from the start of a recording unless said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Seconds(pub f64);

/// A heart or respiratory rate in beats (or breaths) per minute.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Bpm(pub f64);

/// An index into a sampled signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SampleIndex(pub usize);

impl Hz {
    /// The time of sample `i` at this rate.
    pub fn time_of(self, i: SampleIndex) -> Seconds {
        Seconds(i.0 as f64 / self.0)
    }
    /// The nearest sample index to time `t` at this rate (clamped at zero).
    pub fn index_of(self, t: Seconds) -> SampleIndex {
        SampleIndex((t.0 * self.0).round().max(0.0) as usize)
    }
}

impl Bpm {
    /// The cycle length of this rate.
    pub fn period(self) -> Seconds {
        Seconds(60.0 / self.0)
    }
}

impl fmt::Display for Hz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0)
    }
}

impl fmt::Display for Bpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} bpm", self.0)
    }
}

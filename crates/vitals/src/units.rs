//! Unit newtypes for vital signs and time, so a pulse is never mistaken for a breathing rate and
//! a timestamp never for a duration.
//!
//! Every physiological newtype is constructed through `new`, which checks the value is finite and
//! inside a plausible physiological range. A value outside that range is a sensor or transmission
//! fault: it is refused with a [`VitalsError`] and must never reach scoring or alerting.
//! This module must never clamp or "repair" a value silently.

use std::fmt;

use crate::error::VitalsError;

/// A point in time, in milliseconds since the Unix epoch (UTC). Callers pass time in explicitly:
/// nothing in this crate reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationMs(pub i64);

impl DurationMs {
    /// A duration of `s` whole seconds.
    pub const fn seconds(s: i64) -> Self {
        Self(s * 1000)
    }
    /// A duration of `m` whole minutes.
    pub const fn minutes(m: i64) -> Self {
        Self(m * 60_000)
    }
    /// A duration of `h` whole hours.
    pub const fn hours(h: i64) -> Self {
        Self(h * 3_600_000)
    }
}

/// Milliseconds in one minute, the width of a rollup bucket.
pub const MINUTE_MS: i64 = 60_000;

impl Timestamp {
    /// This time moved forward by `d` (saturating, never wrapping).
    pub fn plus(self, d: DurationMs) -> Self {
        Self(self.0.saturating_add(d.0))
    }
    /// The time elapsed from `earlier` to `self` (negative when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> DurationMs {
        DurationMs(self.0.saturating_sub(earlier.0))
    }
    /// The index of the UTC minute containing this time (floor division, correct before 1970 too).
    pub fn minute(self) -> MinuteIndex {
        MinuteIndex(self.0.div_euclid(MINUTE_MS))
    }
}

/// The index of a whole UTC minute since the Unix epoch; the key of per-minute rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MinuteIndex(pub i64);

impl MinuteIndex {
    /// The first millisecond of this minute.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(MINUTE_MS))
    }
    /// The first millisecond of the next minute.
    pub fn end(self) -> Timestamp {
        Timestamp(self.0.saturating_add(1).saturating_mul(MINUTE_MS))
    }
}

fn checked(parameter: &'static str, value: f64, min: f64, max: f64) -> Result<f64, VitalsError> {
    if !value.is_finite() {
        return Err(VitalsError::NotFinite { parameter });
    }
    if value < min || value > max {
        return Err(VitalsError::OutOfRange {
            parameter,
            value,
            min,
            max,
        });
    }
    Ok(value)
}

macro_rules! physiological {
    ($(#[$doc:meta])* $name:ident, $label:literal, $unit:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
        pub struct $name(f64);

        impl $name {
            /// The lowest value accepted as physiological.
            pub const MIN: f64 = $min;
            /// The highest value accepted as physiological.
            pub const MAX: f64 = $max;

            /// Checks `value` is finite and within [`Self::MIN`, `Self::MAX`].
            pub fn new(value: f64) -> Result<Self, VitalsError> {
                checked($label, value, Self::MIN, Self::MAX).map(Self)
            }
            /// The value in its unit.
            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }
    };
}

physiological!(
    /// Heart (pulse) rate. 0 is accepted: it is how a monitor reports that no pulse is detected.
    BeatsPerMinute, "heart rate", "/min", 0.0, 300.0
);
physiological!(
    /// Respiratory rate. 0 is accepted: it is how a monitor reports that no breathing is detected.
    BreathsPerMinute, "respiratory rate", "/min", 0.0, 80.0
);
physiological!(
    /// Peripheral oxygen saturation in percent. Pulse oximeters are not calibrated below about
    /// 70 %, and a reading under 50 % is taken as a sensor fault rather than a patient state.
    SpO2Percent, "SpO2", "%", 50.0, 100.0
);
physiological!(
    /// Body temperature in degrees Celsius.
    Celsius, "body temperature", "°C", 25.0, 45.0
);
physiological!(
    /// A blood pressure in millimetres of mercury (either systolic or diastolic).
    MmHg, "blood pressure", "mmHg", 10.0, 300.0
);

/// Level of consciousness on the ACVPU scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acvpu {
    /// Alert.
    Alert,
    /// New confusion (scores like V, P or U in NEWS2).
    NewConfusion,
    /// Responds to voice.
    Voice,
    /// Responds to pain.
    Pain,
    /// Unresponsive.
    Unresponsive,
}

/// Whether the resident breathes room air or receives supplemental oxygen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OxygenSupport {
    /// Room air.
    Air,
    /// Any supplemental oxygen (mask, cannula, ...).
    Oxygen,
}

/// A blood pressure pair; the constructor checks each side and that diastolic < systolic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BloodPressure {
    systolic: MmHg,
    diastolic: MmHg,
}

impl BloodPressure {
    /// Lowest plausible systolic pressure.
    pub const SYSTOLIC_MIN: f64 = 40.0;
    /// Highest plausible diastolic pressure.
    pub const DIASTOLIC_MAX: f64 = 200.0;

    /// Checks both pressures and that the diastolic is below the systolic.
    pub fn new(systolic: f64, diastolic: f64) -> Result<Self, VitalsError> {
        let sys = checked(
            "systolic blood pressure",
            systolic,
            Self::SYSTOLIC_MIN,
            MmHg::MAX,
        )?;
        let dia = checked(
            "diastolic blood pressure",
            diastolic,
            MmHg::MIN,
            Self::DIASTOLIC_MAX,
        )?;
        if dia >= sys {
            return Err(VitalsError::DiastolicNotBelowSystolic {
                systolic: sys,
                diastolic: dia,
            });
        }
        Ok(Self {
            systolic: MmHg(sys),
            diastolic: MmHg(dia),
        })
    }
    /// Systolic pressure.
    pub fn systolic(self) -> MmHg {
        self.systolic
    }
    /// Diastolic pressure.
    pub fn diastolic(self) -> MmHg {
        self.diastolic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        assert!(BeatsPerMinute::new(0.0).is_ok());
        assert!(BeatsPerMinute::new(300.0).is_ok());
        assert!(matches!(
            BeatsPerMinute::new(301.0),
            Err(VitalsError::OutOfRange { .. })
        ));
        assert!(matches!(
            BeatsPerMinute::new(-1.0),
            Err(VitalsError::OutOfRange { .. })
        ));
        assert!(matches!(
            SpO2Percent::new(f64::NAN),
            Err(VitalsError::NotFinite { .. })
        ));
        assert!(SpO2Percent::new(100.5).is_err());
        assert!(Celsius::new(24.9).is_err());
        assert!(Celsius::new(36.6).is_ok());
        assert!(BreathsPerMinute::new(f64::INFINITY).is_err());
    }

    #[test]
    fn blood_pressure_pairs_are_checked() {
        assert!(BloodPressure::new(120.0, 80.0).is_ok());
        assert!(matches!(
            BloodPressure::new(80.0, 120.0),
            Err(VitalsError::DiastolicNotBelowSystolic { .. })
        ));
        assert!(BloodPressure::new(35.0, 20.0).is_err());
        assert!(BloodPressure::new(301.0, 80.0).is_err());
    }

    #[test]
    fn minutes_floor_before_epoch() {
        assert_eq!(Timestamp(-1).minute(), MinuteIndex(-1));
        assert_eq!(Timestamp(59_999).minute(), MinuteIndex(0));
        assert_eq!(Timestamp(60_000).minute(), MinuteIndex(1));
        assert_eq!(MinuteIndex(2).start(), Timestamp(120_000));
    }
}

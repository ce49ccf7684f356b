//! One vital-sign reading from one source device at one time.
//!
//! A [`Reading`] can only hold validated unit values, so holding a `Sample` means its value is
//! physiologically plausible. Timing checks (future, order, duplicates) need per-source history
//! and are done by the [`crate::ResidentMonitor`]. This module must never do I/O.

use std::fmt;

use crate::error::VitalsError;
use crate::units::{
    Acvpu, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, OxygenSupport, SpO2Percent,
    Timestamp,
};

/// The kinds of vital sign a monitor receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parameter {
    /// Heart (pulse) rate.
    HeartRate,
    /// Respiratory rate.
    RespiratoryRate,
    /// Oxygen saturation.
    SpO2,
    /// Body temperature.
    Temperature,
    /// Blood pressure (systolic and diastolic together).
    BloodPressure,
    /// ACVPU level of consciousness.
    Consciousness,
    /// Air or supplemental oxygen.
    OxygenSupport,
}

impl Parameter {
    /// Every parameter, in a fixed order.
    pub const ALL: [Parameter; 7] = [
        Parameter::HeartRate,
        Parameter::RespiratoryRate,
        Parameter::SpO2,
        Parameter::Temperature,
        Parameter::BloodPressure,
        Parameter::Consciousness,
        Parameter::OxygenSupport,
    ];

    /// Position in [`Parameter::ALL`], for fixed-size per-parameter tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A validated value of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// Heart rate.
    HeartRate(BeatsPerMinute),
    /// Respiratory rate.
    RespiratoryRate(BreathsPerMinute),
    /// Oxygen saturation.
    SpO2(SpO2Percent),
    /// Body temperature.
    Temperature(Celsius),
    /// Systolic and diastolic blood pressure.
    BloodPressure(BloodPressure),
    /// Level of consciousness.
    Consciousness(Acvpu),
    /// Air or oxygen.
    OxygenSupport(OxygenSupport),
}

impl Reading {
    /// Which parameter this reading is of.
    pub fn parameter(&self) -> Parameter {
        match self {
            Reading::HeartRate(_) => Parameter::HeartRate,
            Reading::RespiratoryRate(_) => Parameter::RespiratoryRate,
            Reading::SpO2(_) => Parameter::SpO2,
            Reading::Temperature(_) => Parameter::Temperature,
            Reading::BloodPressure(_) => Parameter::BloodPressure,
            Reading::Consciousness(_) => Parameter::Consciousness,
            Reading::OxygenSupport(_) => Parameter::OxygenSupport,
        }
    }

    /// The numeric value used for trends and baselines (systolic for blood pressure); `None` for
    /// the categorical parameters.
    pub fn numeric(&self) -> Option<f64> {
        match self {
            Reading::HeartRate(v) => Some(v.get()),
            Reading::RespiratoryRate(v) => Some(v.get()),
            Reading::SpO2(v) => Some(v.get()),
            Reading::Temperature(v) => Some(v.get()),
            Reading::BloodPressure(bp) => Some(bp.systolic().get()),
            Reading::Consciousness(_) | Reading::OxygenSupport(_) => None,
        }
    }
}

/// The identity of a source device (sensor): a name as the device or gateway names itself, or
/// (what a receiver that authenticates its senders uses) that name scoped to the sending
/// device, `<device>/<name>`, so two devices naming their sensors alike stay two sources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(String);

/// Longest sensor name.
pub const MAX_SOURCE_NAME: usize = 128;
/// Longest device id a source is scoped to.
pub const MAX_SOURCE_DEVICE: usize = 64;

impl SourceId {
    /// A sensor name: accepts 1 to 128 characters without control characters.
    pub fn new(id: impl Into<String>) -> Result<Self, VitalsError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_SOURCE_NAME || id.chars().any(char::is_control) {
            return Err(VitalsError::InvalidSource);
        }
        Ok(Self(id))
    }

    /// The sensor `name` of the device `device` (1 to 64 characters, no `/`, no control
    /// characters): `<device>/<name>`.
    pub fn of_device(device: &str, name: &str) -> Result<Self, VitalsError> {
        if device.is_empty()
            || device.len() > MAX_SOURCE_DEVICE
            || device.contains('/')
            || device.chars().any(char::is_control)
        {
            return Err(VitalsError::InvalidSource);
        }
        let name = Self::new(name)?;
        Ok(Self(format!("{device}/{}", name.0)))
    }

    /// Reads a source back from its spelling (`Display`): a name, or a device-scoped name.
    pub fn parse(spelled: &str) -> Result<Self, VitalsError> {
        if spelled.len() <= MAX_SOURCE_NAME {
            return Self::new(spelled);
        }
        let (device, name) = spelled.split_once('/').ok_or(VitalsError::InvalidSource)?;
        Self::of_device(device, name)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One reading with its time and source.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When the device measured it.
    pub at: Timestamp,
    /// Which device measured it.
    pub source: SourceId,
    /// The validated value.
    pub reading: Reading,
}

//! The vital-sign vocabulary, spelled once: how each parameter, alert kind, severity, alert
//! state, alert change and condition is written wherever it leaves this crate (the database,
//! the wire, messages).
//!
//! Every spelling is in [`Term::as_str`]; [`Term::parse`] (and `FromStr`) is its inverse. The
//! alert types that carry data ([`AlertKind`], [`AlertState`], [`AlertChange`], [`Condition`])
//! are spelled through a fieldless companion ([`AlertClass`], [`AlertStatus`],
//! [`AlertEventKind`], [`ConditionClass`]), as `auscult_dsp::vocab` spells `MurmurStatus`
//! through `MurmurCall`. A [`Condition`] names its parameter or sensor after a colon
//! (`sudden_change:spo2`, `sensor_silent:<source device>`). This module does no I/O.

use std::fmt;
use std::str::FromStr;

use crate::alert::{AlertChange, AlertKind, AlertState, Condition, Severity};
use crate::error::VitalsError;
use crate::reading::{Parameter, SourceId};

/// A word of the vital-sign vocabulary: a fieldless enum with one spelling per variant.
pub trait Term: Copy + PartialEq + Sized + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// What the term is called in messages ("alert severity").
    const WHAT: &'static str;
    /// The one spelling.
    fn as_str(self) -> &'static str;
    /// The term spelled `s`, if any.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// What an alert is about, without the sensor: what [`AlertKind`] is spelled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertClass {
    /// The resident's clinical state.
    Clinical,
    /// A silent sensor (the sensor is named by the alert's `sensor_silent` condition).
    SensorSilent,
}

/// Where an alert is in its lifecycle, without who and when: what [`AlertState`] is spelled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// Waiting for someone to acknowledge it.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Closed.
    Resolved,
}

/// What happened to an alert: [`AlertChange`] without its details, and `Resumed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertEventKind {
    /// A new alert.
    Raised,
    /// The episode got worse.
    SeverityRaised,
    /// Not acknowledged in time: passed to the next level.
    Escalated,
    /// Someone acknowledged it.
    Acknowledged,
    /// Someone snoozed it.
    Snoozed,
    /// A snooze ended with the condition still present.
    SnoozeEnded,
    /// Another condition joined the episode.
    ConditionAdded,
    /// No condition holds any more.
    ConditionCleared,
    /// The alert was closed.
    Resolved,
    /// A monitor rebuilt after a restart found the episode of a stored alert again and continues
    /// it (see [`crate::resume`]).
    Resumed,
}

/// What a condition is, without its parameter or sensor: what [`Condition`] is spelled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionClass {
    /// NEWS2 at or above the alerting band.
    News2,
    /// A sudden change of one parameter.
    SuddenChange,
    /// No pulse detected.
    NoPulse,
    /// No breathing detected.
    NoBreathing,
    /// A silent sensor.
    SensorSilent,
}

impl AlertKind {
    /// The kind without its sensor.
    pub fn class(&self) -> AlertClass {
        match self {
            AlertKind::Clinical => AlertClass::Clinical,
            AlertKind::SensorSilent(_) => AlertClass::SensorSilent,
        }
    }

    /// The kind of an alert of `class` with `conditions`, as stored: a silent-sensor alert's
    /// sensor is the one of its first `sensor_silent` condition. `None` for a silent-sensor
    /// alert without one.
    pub fn from_parts(class: AlertClass, conditions: &[Condition]) -> Option<AlertKind> {
        match class {
            AlertClass::Clinical => Some(AlertKind::Clinical),
            AlertClass::SensorSilent => conditions.iter().find_map(|c| match c {
                Condition::SensorSilent(s) => Some(AlertKind::SensorSilent(s.clone())),
                _ => None,
            }),
        }
    }
}

impl AlertState {
    /// The state without who and when.
    pub fn status(&self) -> AlertStatus {
        match self {
            AlertState::Open => AlertStatus::Open,
            AlertState::Acknowledged { .. } => AlertStatus::Acknowledged,
            AlertState::Resolved { .. } => AlertStatus::Resolved,
        }
    }
}

impl AlertChange {
    /// The change without its details.
    pub fn event_kind(&self) -> AlertEventKind {
        match self {
            AlertChange::Raised => AlertEventKind::Raised,
            AlertChange::SeverityRaised { .. } => AlertEventKind::SeverityRaised,
            AlertChange::Escalated => AlertEventKind::Escalated,
            AlertChange::Acknowledged => AlertEventKind::Acknowledged,
            AlertChange::Snoozed => AlertEventKind::Snoozed,
            AlertChange::SnoozeEnded => AlertEventKind::SnoozeEnded,
            AlertChange::ConditionAdded => AlertEventKind::ConditionAdded,
            AlertChange::ConditionCleared => AlertEventKind::ConditionCleared,
            AlertChange::Resolved => AlertEventKind::Resolved,
        }
    }
}

impl Condition {
    /// The condition without its parameter or sensor.
    pub fn class(&self) -> ConditionClass {
        match self {
            Condition::News2 => ConditionClass::News2,
            Condition::SuddenChange(_) => ConditionClass::SuddenChange,
            Condition::NoPulse => ConditionClass::NoPulse,
            Condition::NoBreathing => ConditionClass::NoBreathing,
            Condition::SensorSilent(_) => ConditionClass::SensorSilent,
        }
    }
}

/// `news2`, `sudden_change:<parameter>`, `no_pulse`, `no_breathing`, `sensor_silent:<source>`.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class().as_str())?;
        match self {
            Condition::SuddenChange(p) => write!(f, ":{p}"),
            Condition::SensorSilent(s) => write!(f, ":{s}"),
            _ => Ok(()),
        }
    }
}

/// The inverse of `Display`: the class, then the parameter or sensor after the first colon
/// (a sensor's name may itself hold colons).
impl FromStr for Condition {
    type Err = VitalsError;
    fn from_str(s: &str) -> Result<Self, VitalsError> {
        let unknown = || unknown_term("alert condition", s);
        let (class, detail) = match s.split_once(':') {
            Some((c, d)) => (c, Some(d)),
            None => (s, None),
        };
        let class = ConditionClass::parse(class).ok_or_else(unknown)?;
        match (class, detail) {
            (ConditionClass::News2, None) => Ok(Condition::News2),
            (ConditionClass::NoPulse, None) => Ok(Condition::NoPulse),
            (ConditionClass::NoBreathing, None) => Ok(Condition::NoBreathing),
            (ConditionClass::SuddenChange, Some(p)) => Parameter::parse(p)
                .map(Condition::SuddenChange)
                .ok_or_else(unknown),
            (ConditionClass::SensorSilent, Some(d)) => SourceId::parse(d)
                .map(Condition::SensorSilent)
                .map_err(|_| unknown()),
            _ => Err(unknown()),
        }
    }
}

fn unknown_term(what: &'static str, spelling: &str) -> VitalsError {
    VitalsError::UnknownTerm {
        what,
        spelling: spelling.chars().take(64).collect(),
    }
}

macro_rules! terms {
    ($ty:ty, $what:literal, [$($variant:ident => $spelling:literal),+ $(,)?]) => {
        impl Term for $ty {
            const ALL: &'static [Self] = &[$(<$ty>::$variant),+];
            const WHAT: &'static str = $what;
            fn as_str(self) -> &'static str {
                <$ty>::as_str(self)
            }
        }

        impl $ty {
            /// The one spelling (as [`Term::as_str`]).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $spelling),+
                }
            }

            /// The term spelled `s`, if any (as [`Term::parse`]).
            pub fn parse(s: &str) -> Option<Self> {
                <$ty as Term>::parse(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = VitalsError;
            fn from_str(s: &str) -> Result<Self, VitalsError> {
                <$ty as Term>::parse(s).ok_or_else(|| unknown_term($what, s))
            }
        }
    };
}

terms!(Parameter, "vital parameter", [
    HeartRate => "heart_rate",
    RespiratoryRate => "respiratory_rate",
    SpO2 => "spo2",
    Temperature => "temperature",
    BloodPressure => "blood_pressure",
    Consciousness => "consciousness",
    OxygenSupport => "oxygen_support",
]);

terms!(Severity, "alert severity", [
    Technical => "technical",
    Low => "low",
    LowMedium => "low_medium",
    Medium => "medium",
    High => "high",
    Critical => "critical",
]);

terms!(AlertClass, "alert kind", [
    Clinical => "clinical",
    SensorSilent => "sensor_silent",
]);

terms!(AlertStatus, "alert state", [
    Open => "open",
    Acknowledged => "acknowledged",
    Resolved => "resolved",
]);

terms!(AlertEventKind, "alert change", [
    Raised => "raised",
    SeverityRaised => "severity_raised",
    Escalated => "escalated",
    Acknowledged => "acknowledged",
    Snoozed => "snoozed",
    SnoozeEnded => "snooze_ended",
    ConditionAdded => "condition_added",
    ConditionCleared => "condition_cleared",
    Resolved => "resolved",
    Resumed => "resumed",
]);

terms!(ConditionClass, "alert condition", [
    News2 => "news2",
    SuddenChange => "sudden_change",
    NoPulse => "no_pulse",
    NoBreathing => "no_breathing",
    SensorSilent => "sensor_silent",
]);

/// One condition of every class (every parameter for a sudden change), for tests that walk the
/// vocabulary through storage and the wire.
pub fn every_condition() -> Vec<Condition> {
    let mut all = vec![Condition::News2, Condition::NoPulse, Condition::NoBreathing];
    all.extend(Parameter::ALL.into_iter().map(Condition::SuddenChange));
    // A sensor's name is the device's own: it may hold colons and commas.
    all.extend(
        ["ox-1", "gw:7/ward, bed 3"]
            .into_iter()
            .filter_map(|s| SourceId::new(s).ok())
            .map(Condition::SensorSilent),
    );
    // Scoped to its device, with the longest name: longer than a name alone may be.
    all.extend(
        SourceId::of_device(&"d".repeat(64), &"n/:".repeat(42))
            .ok()
            .map(Condition::SensorSilent),
    );
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<T: Term + fmt::Debug + FromStr<Err = VitalsError>>() {
        let mut seen = std::collections::HashSet::new();
        for &t in T::ALL {
            assert!(seen.insert(t.as_str()), "{} spelled twice", t.as_str());
            assert_eq!(T::parse(t.as_str()), Some(t));
            assert_eq!(t.as_str().parse::<T>(), Ok(t));
        }
        let e = "no such thing"
            .parse::<T>()
            .expect_err("a stranger is refused");
        assert!(matches!(e, VitalsError::UnknownTerm { what, .. } if what == T::WHAT));
    }

    #[test]
    fn every_term_round_trips_through_its_spelling() {
        walk::<Parameter>();
        walk::<Severity>();
        walk::<AlertClass>();
        walk::<AlertStatus>();
        walk::<AlertEventKind>();
        walk::<ConditionClass>();
    }

    #[test]
    fn every_condition_round_trips_and_strangers_are_refused() {
        let all = every_condition();
        assert_eq!(all.len(), 3 + Parameter::ALL.len() + 3);
        for c in &all {
            assert_eq!(c.to_string().parse::<Condition>(), Ok(c.clone()), "{c}");
            assert!(c.to_string().starts_with(c.class().as_str()));
        }
        // A device-scoped source: the device part has no `/` and both parts their limits.
        assert!(SourceId::of_device("a/b", "ox").is_err());
        assert!(SourceId::of_device("", "ox").is_err());
        assert!(SourceId::of_device(&"d".repeat(65), "ox").is_err());
        assert!(SourceId::of_device("dev", &"n".repeat(129)).is_err());
        assert!(
            format!("sensor_silent:{}/{}", "d".repeat(64), "n".repeat(129))
                .parse::<Condition>()
                .is_err()
        );
        for bad in [
            "",
            "news2:x",
            "sudden_change",
            "sudden_change:pulse",
            "sensor_silent",
            "sensor_silent:",
            "no_pulse:",
            "bogus",
        ] {
            assert!(bad.parse::<Condition>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn companions_follow_their_alert_types() {
        let src = SourceId::new("ox-1").expect("id");
        let silent = Condition::SensorSilent(src.clone());
        assert_eq!(
            AlertKind::from_parts(AlertClass::SensorSilent, &[Condition::News2, silent]),
            Some(AlertKind::SensorSilent(src.clone()))
        );
        assert_eq!(
            AlertKind::from_parts(AlertClass::SensorSilent, &[Condition::News2]),
            None
        );
        assert_eq!(
            AlertKind::from_parts(AlertClass::Clinical, &[]),
            Some(AlertKind::Clinical)
        );
        assert_eq!(
            AlertKind::SensorSilent(src).class(),
            AlertClass::SensorSilent
        );
        assert_eq!(AlertState::Open.status(), AlertStatus::Open);
        assert_eq!(
            AlertChange::SeverityRaised {
                from: Severity::Low
            }
            .event_kind()
            .as_str(),
            "severity_raised"
        );
    }
}

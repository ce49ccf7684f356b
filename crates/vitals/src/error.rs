//! The one error type of the `vitals` crate.
//!
//! Every refusal of input (a value out of physiological range, a sample from the future, a
//! duplicate) is a [`VitalsError`]; none of them ever changes monitor state or raises an alert.

use crate::units::Timestamp;
use crate::vocab::AlertStatus;

/// Why a value, a sample or a request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VitalsError {
    /// The value is NaN or infinite.
    #[error("{parameter} is not a finite number")]
    NotFinite {
        /// The parameter named for people ("heart rate").
        parameter: &'static str,
    },
    /// The value lies outside the physiologically plausible range: a sensor or transmission
    /// fault, never a reason to alert.
    #[error("{parameter} {value} is outside the physiological range {min}..={max}")]
    OutOfRange {
        /// The parameter named for people.
        parameter: &'static str,
        /// The refused value.
        value: f64,
        /// Lowest accepted value.
        min: f64,
        /// Highest accepted value.
        max: f64,
    },
    /// A blood pressure whose diastolic value is not below its systolic value.
    #[error("diastolic pressure {diastolic} is not below systolic pressure {systolic}")]
    DiastolicNotBelowSystolic {
        /// The systolic pressure given.
        systolic: f64,
        /// The diastolic pressure given.
        diastolic: f64,
    },
    /// The sample claims a time later than `now` plus the allowed clock skew.
    #[error("sample time {at:?} is in the future (now {now:?})")]
    InFuture {
        /// The sample's time.
        at: Timestamp,
        /// The time the monitor was given as now.
        now: Timestamp,
    },
    /// The sample claims a time later than its batch's `sent_at` plus the allowed clock skew.
    #[error("sample time {at:?} is after its batch's sent_at {sent_at:?}")]
    AfterSent {
        /// The sample's time.
        at: Timestamp,
        /// When the batch says it was sent.
        sent_at: Timestamp,
    },
    /// The sample is older than the oldest time the monitor accepts.
    #[error("sample time {at:?} is older than the accepted backfill horizon (now {now:?})")]
    TooOld {
        /// The sample's time.
        at: Timestamp,
        /// The time the monitor was given as now.
        now: Timestamp,
    },
    /// The sample is earlier than the last one accepted from the same source for the same
    /// parameter.
    #[error("sample time {at:?} is earlier than the last accepted {last:?} from this source")]
    OutOfOrder {
        /// The sample's time.
        at: Timestamp,
        /// The last accepted time.
        last: Timestamp,
    },
    /// A sample with the same source, parameter and time was already accepted.
    #[error("duplicate sample at {at:?} from this source")]
    Duplicate {
        /// The repeated time.
        at: Timestamp,
    },
    /// The source device name is empty or too long.
    #[error("source device id must be 1 to 128 characters")]
    InvalidSource,
    /// No alert with this id belongs to this resident.
    #[error("no such alert {0}")]
    UnknownAlert(u64),
    /// The requested lifecycle change is not allowed from the alert's current state.
    #[error("alert {id} cannot be {action} while {state}")]
    InvalidTransition {
        /// The alert.
        id: u64,
        /// What was asked ("acknowledged", "snoozed", ...).
        action: &'static str,
        /// The state it is in.
        state: AlertStatus,
    },
    /// A snooze must end after now and no later than the configured maximum.
    #[error("snooze must end after now and within {max_minutes} minutes")]
    InvalidSnooze {
        /// The longest snooze allowed, in minutes.
        max_minutes: i64,
    },
    /// A manual escalation of an alert already at the top of the escalation ladder.
    #[error("alert {id} is already at the top escalation level ({level})")]
    EscalationAtTop {
        /// The alert.
        id: u64,
        /// The level it is at.
        level: u8,
    },
    /// A spelling that names no term of the vocabulary ([`crate::vocab`]).
    #[error("{spelling:?} is not a {what}")]
    UnknownTerm {
        /// What was expected ("alert severity").
        what: &'static str,
        /// What was found (at most 64 characters of it).
        spelling: String,
    },
    /// A configuration value is unusable (zero window, negative duration, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

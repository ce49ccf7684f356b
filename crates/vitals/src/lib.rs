//! Vital-sign monitoring: typed units, NEWS2 scoring, baseline change detection, absence and
//! silence detection, and the per-resident alert lifecycle.
//!
//! Architecture invariant: this crate is pure. It does no I/O, no async, reads no clock (time is
//! passed in as [`Timestamp`]), logs nothing and knows nothing of protobuf, SQL or FHIR. Values
//! that fail validation are refused with a [`VitalsError`] and never reach a detector.

pub mod alert;
pub mod baseline;
pub mod clock;
pub mod error;
pub mod family;
pub mod monitor;
pub mod news2;
pub mod reading;
pub mod resume;
pub mod rollup;
pub mod units;
pub mod vocab;

pub use alert::{
    Alert, AlertBook, AlertChange, AlertEvent, AlertId, AlertKind, AlertState, Condition,
    EscalationPolicy, Severity, StaffId,
};
pub use baseline::{ChangeConfig, ChangeDetector};
pub use clock::{SubjectClock, check_device_time};
pub use error::VitalsError;
pub use family::{FamilyAlert, FamilyStatus, family_status};
pub use monitor::{MonitorConfig, ResidentMonitor};
pub use news2::{ClinicalRisk, News2, News2Inputs, SpO2Scale};
pub use reading::{Parameter, Reading, Sample, SourceId};
pub use resume::{PriorAlert, continued_alert};
pub use rollup::{Rollup, merge_buckets, rollup_minutes};
pub use units::{
    Acvpu, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, DurationMs, MinuteIndex, MmHg,
    OxygenSupport, SpO2Percent, Timestamp,
};
pub use vocab::{AlertClass, AlertEventKind, AlertStatus, ConditionClass, Term};

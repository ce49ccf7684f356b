//! What a resident's family is told: the resident's state in plain words, decided from the
//! resident's unresolved alerts alone.
//!
//! Families see no severity, no score and no finding's detail; they see whether everything is
//! as usual, whether an alert waits for a nurse, whether a nurse is on it, or whether a sensor
//! has gone quiet (and since when). The rule is here, pure, so every page and stream that
//! tells a family anything tells them the same.

use crate::units::Timestamp;
use crate::vocab::AlertStatus;

/// One of the resident's alerts, as much of it as the family's status needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyAlert {
    /// Where the alert is in its lifecycle.
    pub status: AlertStatus,
    /// Whether a nurse snoozed it (it is open, but someone has seen it).
    pub snoozed: bool,
    /// For a silent-sensor alert, when the sensor was last heard from (`None`: a clinical
    /// alert).
    pub silent_since: Option<Timestamp>,
}

/// The resident's state as the family is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyStatus {
    /// Nothing unresolved.
    AllUsual,
    /// A clinical alert waits for a nurse (raised, nobody has acted on it yet).
    AlertWaiting,
    /// A nurse has acknowledged (or snoozed) every clinical alert and is looking at it.
    NurseLooking,
    /// No clinical alert, but a sensor has been silent since then (the earliest, when several).
    SensorSilent {
        /// When the sensor was last heard from.
        since: Timestamp,
    },
}

impl FamilyStatus {
    /// A stable name (for pages' scripts and CSS).
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyStatus::AllUsual => "all_usual",
            FamilyStatus::AlertWaiting => "alert_waiting",
            FamilyStatus::NurseLooking => "nurse_looking",
            FamilyStatus::SensorSilent { .. } => "sensor_silent",
        }
    }
}

/// The family's status from the resident's alerts (resolved ones are ignored). A clinical
/// alert nobody has acted on outranks one a nurse is looking at, which outranks a silent sensor:
/// the family hears first about what matters most to the resident.
pub fn family_status(alerts: &[FamilyAlert]) -> FamilyStatus {
    let live = || alerts.iter().filter(|a| a.status != AlertStatus::Resolved);
    let clinical = || live().filter(|a| a.silent_since.is_none());
    if clinical().any(|a| a.status == AlertStatus::Open && !a.snoozed) {
        return FamilyStatus::AlertWaiting;
    }
    if clinical().next().is_some() {
        return FamilyStatus::NurseLooking;
    }
    match live().filter_map(|a| a.silent_since).min() {
        Some(since) => FamilyStatus::SensorSilent { since },
        None => FamilyStatus::AllUsual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clinical(status: AlertStatus) -> FamilyAlert {
        FamilyAlert {
            status,
            snoozed: false,
            silent_since: None,
        }
    }

    fn silent(at: i64) -> FamilyAlert {
        FamilyAlert {
            status: AlertStatus::Open,
            snoozed: false,
            silent_since: Some(Timestamp(at)),
        }
    }

    #[test]
    fn nothing_unresolved_is_all_usual() {
        assert_eq!(family_status(&[]), FamilyStatus::AllUsual);
        assert_eq!(
            family_status(&[
                clinical(AlertStatus::Resolved),
                FamilyAlert {
                    status: AlertStatus::Resolved,
                    ..silent(5)
                }
            ]),
            FamilyStatus::AllUsual
        );
    }

    #[test]
    fn an_open_clinical_alert_waits_for_a_nurse_until_acknowledged_or_snoozed() {
        assert_eq!(
            family_status(&[clinical(AlertStatus::Open)]),
            FamilyStatus::AlertWaiting
        );
        assert_eq!(
            family_status(&[clinical(AlertStatus::Acknowledged)]),
            FamilyStatus::NurseLooking
        );
        let snoozed = FamilyAlert {
            snoozed: true,
            ..clinical(AlertStatus::Open)
        };
        assert_eq!(family_status(&[snoozed]), FamilyStatus::NurseLooking);
    }

    #[test]
    fn a_waiting_alert_outranks_one_being_looked_at_which_outranks_a_silent_sensor() {
        assert_eq!(
            family_status(&[
                silent(1),
                clinical(AlertStatus::Acknowledged),
                clinical(AlertStatus::Open)
            ]),
            FamilyStatus::AlertWaiting
        );
        assert_eq!(
            family_status(&[silent(1), clinical(AlertStatus::Acknowledged)]),
            FamilyStatus::NurseLooking
        );
    }

    #[test]
    fn a_silent_sensor_is_told_with_the_earliest_silence() {
        assert_eq!(
            family_status(&[silent(9_000), silent(4_000)]),
            FamilyStatus::SensorSilent {
                since: Timestamp(4_000)
            }
        );
        let acknowledged = FamilyAlert {
            status: AlertStatus::Acknowledged,
            ..silent(7)
        };
        assert_eq!(
            family_status(&[acknowledged]),
            FamilyStatus::SensorSilent {
                since: Timestamp(7)
            },
            "a silent sensor stays silent whoever acknowledged it"
        );
        assert_eq!(
            FamilyStatus::SensorSilent {
                since: Timestamp(7)
            }
            .as_str(),
            "sensor_silent"
        );
    }
}

//! Continuing alerts across a restart of the process that holds the monitors.
//!
//! Monitors live in memory and their alerts are stored. After a restart a rebuilt monitor raises
//! a new alert when it finds a condition again. When an unresolved alert of the same episode was
//! stored before the restart, the new alert continues it instead of standing beside it: the same
//! kind (for a silent sensor, the same sensor), and what staff did to it (an acknowledgement, a
//! snooze that has not ended) applies again. A prior alert whose condition does not come back is
//! not the monitor's business: it stays as stored.

use crate::alert::{Alert, AlertId, AlertKind, StaffId};
use crate::monitor::ResidentMonitor;
use crate::units::Timestamp;

/// What the monitor needs of an unresolved alert stored before a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorAlert {
    /// What it is about.
    pub kind: AlertKind,
    /// Who acknowledged it, if it was acknowledged.
    pub acknowledged_by: Option<StaffId>,
    /// Until when it was snoozed, if it was.
    pub snoozed_until: Option<Timestamp>,
}

/// The index of the prior alert that a newly raised alert of `kind` continues: the first one of
/// the same kind.
pub fn continued_alert<'a>(
    prior: impl IntoIterator<Item = &'a PriorAlert>,
    kind: &AlertKind,
) -> Option<usize> {
    prior.into_iter().position(|p| p.kind == *kind)
}

impl ResidentMonitor {
    /// Makes the alert `id` (just raised) continue `prior`: re-applies its acknowledgement and,
    /// if it has not ended by `now`, its snooze. Returns the alert as it now stands, `None` if
    /// `id` is unknown.
    pub fn resume_alert(
        &mut self,
        id: AlertId,
        prior: &PriorAlert,
        now: Timestamp,
    ) -> Option<&Alert> {
        // Both are best effort: an alert that cannot take a state (already resolved, a snooze
        // beyond the policy's limit) keeps the one the monitor gave it. Their events are not
        // separate changes: the caller stores the continued alert once, as it stands.
        if let Some(by) = &prior.acknowledged_by {
            let _ = self.acknowledge(id, by.clone(), now);
        }
        if let Some(until) = prior.snoozed_until.filter(|u| *u > now) {
            let _ = self.snooze(id, until, now);
        }
        self.alerts().find(|a| a.id == id)
    }
}

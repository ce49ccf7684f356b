//! Alerts and their lifecycle for one resident: episodes, acknowledgement, snooze, escalation.
//!
//! Detectors report *conditions* (a NEWS2 band held, a sudden change, no pulse, a silent sensor)
//! starting, changing severity and ending. The [`AlertBook`] turns them into alerts so that one
//! episode makes one alert:
//!
//! - every clinical condition of a resident joins that resident's one unresolved clinical alert,
//!   and a condition that comes back while the alert is unresolved joins it again (flapping makes
//!   no new alerts); each silent sensor has its own technical alert;
//! - an alert resolved while conditions still hold suppresses those conditions until they end,
//!   unless the severity climbs above what was resolved or a new condition appears;
//! - a severity rise on an acknowledged alert reopens it for acknowledgement.
//!
//! Lifecycle: `Open` → `Acknowledged` → `Resolved` (`Open` → `Resolved` is allowed). A snooze
//! pauses escalation until it ends; if the condition still holds then, the alert is reopened.
//! An open, unsnoozed alert not acknowledged within its severity's timeout escalates to the next
//! level of the ladder (the server maps levels to people); a person may also escalate an
//! unresolved alert by hand ([`AlertBook::escalate`]), one level at a time. Sensor-silence alerts resolve
//! themselves when data returns; clinical alerts are only resolved by a person.
//!
//! Time is always passed in; this module never reads a clock.

use std::collections::BTreeMap;

use crate::error::VitalsError;
use crate::news2::ClinicalRisk;
use crate::reading::{Parameter, SourceId};
use crate::units::{DurationMs, Timestamp};
use crate::vocab::AlertStatus;

/// An alert's id, unique within one resident's monitor and increasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId(pub u64);

/// The person acting on an alert, as the server names staff.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaffId(pub String);

/// A detector's finding; several may make up one alert's episode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// NEWS2 at or above the alerting band.
    News2,
    /// A sudden change of one parameter from the resident's own baseline.
    SuddenChange(Parameter),
    /// No pulse detected.
    NoPulse,
    /// No breathing detected.
    NoBreathing,
    /// A sensor has been silent longer than its expected interval allows.
    SensorSilent(SourceId),
}

impl Condition {
    /// The alert this condition belongs to.
    pub fn alert_kind(&self) -> AlertKind {
        match self {
            Condition::SensorSilent(s) => AlertKind::SensorSilent(s.clone()),
            _ => AlertKind::Clinical,
        }
    }
}

/// What an alert is about. One resident has at most one unresolved alert per kind: every
/// clinical finding (NEWS2, sudden change, no pulse, no breathing) joins the one clinical
/// episode, so a deterioration that trips several detectors is one alert whose severity is the
/// worst of them; each silent sensor is its own technical alert.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// The resident's clinical state.
    Clinical,
    /// A silent sensor.
    SensorSilent(SourceId),
}

/// How urgent an alert is, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A technical problem (silent sensor), not a clinical finding.
    Technical,
    /// NEWS2 low band (only alerted when configured so).
    Low,
    /// NEWS2 single parameter scoring 3, or a sudden change.
    LowMedium,
    /// NEWS2 5–6.
    Medium,
    /// NEWS2 7 or more.
    High,
    /// No pulse or no breathing.
    Critical,
}

impl Severity {
    /// The severity of a NEWS2 band.
    pub fn from_risk(risk: ClinicalRisk) -> Self {
        match risk {
            ClinicalRisk::Routine | ClinicalRisk::Low => Severity::Low,
            ClinicalRisk::LowMedium => Severity::LowMedium,
            ClinicalRisk::Medium => Severity::Medium,
            ClinicalRisk::High => Severity::High,
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertState {
    /// Waiting for someone to acknowledge it.
    Open,
    /// Someone is on it.
    Acknowledged {
        /// Who.
        by: StaffId,
        /// When.
        at: Timestamp,
    },
    /// Closed. `by` is `None` when the system resolved it (a sensor came back).
    Resolved {
        /// Who, if a person.
        by: Option<StaffId>,
        /// When.
        at: Timestamp,
    },
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// What it is about.
    pub kind: AlertKind,
    /// The highest severity seen in its episode.
    pub severity: Severity,
    /// Lifecycle state.
    pub state: AlertState,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// Whether any of its conditions still holds.
    pub condition_active: bool,
    /// The conditions holding now.
    pub active_conditions: Vec<Condition>,
    /// Every condition seen in this episode, in the order first seen.
    pub conditions: Vec<Condition>,
    /// Escalation level reached (0 = first responder).
    pub level: u8,
    /// When it escalates next if nobody acknowledges it.
    pub escalate_at: Option<Timestamp>,
    /// Until when it is snoozed.
    pub snoozed_until: Option<Timestamp>,
    /// A short, non-identifying description of what triggered it.
    pub detail: String,
}

/// A change to an alert, for storage and for nurse stations.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// A new alert.
    Raised,
    /// The episode got worse.
    SeverityRaised {
        /// Severity before.
        from: Severity,
    },
    /// Not acknowledged in time: passed to the next level.
    Escalated,
    /// Someone acknowledged it.
    Acknowledged,
    /// Someone snoozed it.
    Snoozed,
    /// A snooze ended with the condition still present: the alert is open again.
    SnoozeEnded,
    /// Another condition joined the episode (severity unchanged).
    ConditionAdded,
    /// No condition holds any more (the alert stays until resolved).
    ConditionCleared,
    /// The alert was closed.
    Resolved,
}

/// An alert event: what changed, when, and the alert as it is after the change.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub change: AlertChange,
    /// The alert after the change.
    pub alert: Alert,
}

/// Acknowledgement timeouts and the escalation ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationPolicy {
    /// Number of levels beyond the first responder (0 = never escalate).
    pub max_level: u8,
    /// Acknowledgement timeout for critical alerts.
    pub critical: DurationMs,
    /// For high and medium alerts.
    pub urgent: DurationMs,
    /// For the rest.
    pub other: DurationMs,
    /// The longest snooze allowed.
    pub max_snooze: DurationMs,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            max_level: 2,
            critical: DurationMs::minutes(1),
            urgent: DurationMs::minutes(5),
            other: DurationMs::minutes(15),
            max_snooze: DurationMs::hours(4),
        }
    }
}

impl EscalationPolicy {
    /// Checks every duration is positive.
    pub fn validate(&self) -> Result<(), VitalsError> {
        if [self.critical, self.urgent, self.other, self.max_snooze]
            .iter()
            .any(|d| d.0 <= 0)
        {
            return Err(VitalsError::InvalidConfig(
                "escalation timeouts must be positive",
            ));
        }
        Ok(())
    }

    fn timeout(&self, severity: Severity) -> DurationMs {
        match severity {
            Severity::Critical => self.critical,
            Severity::High | Severity::Medium => self.urgent,
            _ => self.other,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct KindState {
    /// The unresolved alert of this kind, if any.
    current: Option<AlertId>,
    /// The conditions of this kind holding now, with their severity.
    active: BTreeMap<Condition, Severity>,
    /// Set when an alert was resolved while conditions held: those conditions raise no new alert
    /// at or below this severity until they end.
    suppressed: Option<(Severity, Vec<Condition>)>,
}

/// All alerts of one resident.
#[derive(Debug, Clone)]
pub struct AlertBook {
    policy: EscalationPolicy,
    alerts: BTreeMap<AlertId, Alert>,
    kinds: BTreeMap<AlertKind, KindState>,
    next_id: u64,
}

impl AlertBook {
    /// An empty book. The policy must have been validated.
    pub fn new(policy: EscalationPolicy) -> Self {
        Self {
            policy,
            alerts: BTreeMap::new(),
            kinds: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// Every alert, oldest first.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// One alert.
    pub fn get(&self, id: AlertId) -> Option<&Alert> {
        self.alerts.get(&id)
    }

    /// Drops resolved alerts older than `before`, to bound memory (they live on in storage).
    pub fn forget_resolved_before(&mut self, before: Timestamp) {
        self.alerts.retain(|_, a| match a.state {
            AlertState::Resolved { at, .. } => at >= before,
            _ => true,
        });
    }

    fn event(&self, id: AlertId, at: Timestamp, change: AlertChange) -> Option<AlertEvent> {
        self.alerts.get(&id).map(|a| AlertEvent {
            at,
            change,
            alert: a.clone(),
        })
    }

    /// `condition` holds at `now` with `severity`. Raises an alert, joins the unresolved one of
    /// its kind, or worsens it.
    pub fn condition_on(
        &mut self,
        condition: Condition,
        severity: Severity,
        detail: String,
        now: Timestamp,
        out: &mut Vec<AlertEvent>,
    ) {
        let kind = condition.alert_kind();
        let ks = self.kinds.entry(kind.clone()).or_default();
        ks.active.insert(condition.clone(), severity);
        if let Some(id) = ks.current {
            let timeout = self.policy.timeout(severity);
            let Some(alert) = self.alerts.get_mut(&id) else {
                return;
            };
            alert.condition_active = true;
            let joined = !alert.active_conditions.contains(&condition);
            if joined {
                alert.active_conditions.push(condition.clone());
            }
            if !alert.conditions.contains(&condition) {
                alert.conditions.push(condition);
            }
            let change = if severity > alert.severity {
                let from = alert.severity;
                alert.severity = severity;
                alert.detail = detail;
                if matches!(alert.state, AlertState::Acknowledged { .. }) {
                    alert.state = AlertState::Open;
                    alert.level = 0;
                }
                if alert.state == AlertState::Open && alert.snoozed_until.is_none() {
                    alert.escalate_at = Some(now.plus(timeout));
                }
                Some(AlertChange::SeverityRaised { from })
            } else if joined {
                Some(AlertChange::ConditionAdded)
            } else {
                None
            };
            if let Some(e) = change.and_then(|c| self.event(id, now, c)) {
                out.push(e);
            }
            return;
        }
        if let Some((at_most, conditions)) = &ks.suppressed
            && severity <= *at_most
            && conditions.contains(&condition)
        {
            return;
        }
        ks.suppressed = None;
        let id = AlertId(self.next_id);
        self.next_id += 1;
        ks.current = Some(id);
        let active_conditions: Vec<Condition> = ks.active.keys().cloned().collect();
        let alert = Alert {
            id,
            kind,
            severity,
            state: AlertState::Open,
            raised_at: now,
            condition_active: true,
            conditions: active_conditions.clone(),
            active_conditions,
            level: 0,
            escalate_at: Some(now.plus(self.policy.timeout(severity))),
            snoozed_until: None,
            detail,
        };
        self.alerts.insert(id, alert);
        if let Some(e) = self.event(id, now, AlertChange::Raised) {
            out.push(e);
        }
    }

    /// `condition` no longer holds at `now`.
    pub fn condition_off(
        &mut self,
        condition: &Condition,
        now: Timestamp,
        out: &mut Vec<AlertEvent>,
    ) {
        let kind = condition.alert_kind();
        let Some(ks) = self.kinds.get_mut(&kind) else {
            return;
        };
        if ks.active.remove(condition).is_none() {
            return;
        }
        if let Some((_, conditions)) = ks.suppressed.as_mut() {
            conditions.retain(|c| c != condition);
            if ks.active.is_empty() {
                ks.suppressed = None;
            }
        }
        let Some(id) = ks.current else {
            return;
        };
        let all_clear = ks.active.is_empty();
        let auto_resolve = all_clear && matches!(kind, AlertKind::SensorSilent(_));
        if auto_resolve {
            ks.current = None;
        }
        let Some(alert) = self.alerts.get_mut(&id) else {
            return;
        };
        alert.active_conditions.retain(|c| c != condition);
        if !all_clear {
            return;
        }
        alert.condition_active = false;
        if auto_resolve {
            alert.state = AlertState::Resolved { by: None, at: now };
            alert.escalate_at = None;
            alert.snoozed_until = None;
            if let Some(e) = self.event(id, now, AlertChange::Resolved) {
                out.push(e);
            }
        } else if let Some(e) = self.event(id, now, AlertChange::ConditionCleared) {
            out.push(e);
        }
    }

    /// Advances timers: escalations and snooze ends due at or before `now`.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<AlertEvent>) {
        let due: Vec<AlertId> = self
            .alerts
            .values()
            .filter(|a| {
                a.snoozed_until.is_some_and(|t| t <= now)
                    || (a.snoozed_until.is_none()
                        && a.state == AlertState::Open
                        && a.escalate_at.is_some_and(|t| t <= now))
            })
            .map(|a| a.id)
            .collect();
        for id in due {
            let max_level = self.policy.max_level;
            let Some(alert) = self.alerts.get_mut(&id) else {
                continue;
            };
            let timeout = self.policy.timeout(alert.severity);
            if alert.snoozed_until.is_some_and(|t| t <= now) {
                alert.snoozed_until = None;
                if alert.condition_active && !matches!(alert.state, AlertState::Resolved { .. }) {
                    alert.state = AlertState::Open;
                    alert.escalate_at = Some(now.plus(timeout));
                    if let Some(e) = self.event(id, now, AlertChange::SnoozeEnded) {
                        out.push(e);
                    }
                }
                continue;
            }
            if alert.level < max_level {
                alert.level += 1;
                alert.escalate_at = Some(now.plus(timeout));
                if let Some(e) = self.event(id, now, AlertChange::Escalated) {
                    out.push(e);
                }
            } else {
                alert.escalate_at = None;
            }
        }
    }

    fn alert_mut(&mut self, id: AlertId) -> Result<&mut Alert, VitalsError> {
        self.alerts
            .get_mut(&id)
            .ok_or(VitalsError::UnknownAlert(id.0))
    }

    /// A person acknowledges an open alert. Acknowledging an acknowledged alert again is a no-op.
    pub fn acknowledge(
        &mut self,
        id: AlertId,
        by: StaffId,
        now: Timestamp,
    ) -> Result<Option<AlertEvent>, VitalsError> {
        let alert = self.alert_mut(id)?;
        match alert.state {
            AlertState::Open => {
                alert.state = AlertState::Acknowledged { by, at: now };
                alert.escalate_at = None;
                Ok(self.event(id, now, AlertChange::Acknowledged))
            }
            AlertState::Acknowledged { .. } => Ok(None),
            AlertState::Resolved { .. } => Err(VitalsError::InvalidTransition {
                id: id.0,
                action: "acknowledged",
                state: AlertStatus::Resolved,
            }),
        }
    }

    /// A person snoozes an unresolved alert until `until` (after now, within the policy maximum).
    pub fn snooze(
        &mut self,
        id: AlertId,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<AlertEvent, VitalsError> {
        let max = self.policy.max_snooze;
        if until <= now || until > now.plus(max) {
            return Err(VitalsError::InvalidSnooze {
                max_minutes: max.0 / 60_000,
            });
        }
        let alert = self.alert_mut(id)?;
        if matches!(alert.state, AlertState::Resolved { .. }) {
            return Err(VitalsError::InvalidTransition {
                id: id.0,
                action: "snoozed",
                state: AlertStatus::Resolved,
            });
        }
        alert.snoozed_until = Some(until);
        self.event(id, now, AlertChange::Snoozed)
            .ok_or(VitalsError::UnknownAlert(id.0))
    }

    /// A person escalates an unresolved alert to the next level of the ladder now (calls for
    /// help). A snooze ends (asking for help and muting the alert contradict each other); an
    /// acknowledged alert stays acknowledged (its responder stays on it); an open alert's
    /// escalation timer starts again from now, so it still climbs further if nobody
    /// acknowledges it. Refused on a resolved alert and at the top of the ladder.
    pub fn escalate(&mut self, id: AlertId, now: Timestamp) -> Result<AlertEvent, VitalsError> {
        let max_level = self.policy.max_level;
        let timeout_of = |s| self.policy.timeout(s);
        let alert = self
            .alerts
            .get_mut(&id)
            .ok_or(VitalsError::UnknownAlert(id.0))?;
        if matches!(alert.state, AlertState::Resolved { .. }) {
            return Err(VitalsError::InvalidTransition {
                id: id.0,
                action: "escalated",
                state: AlertStatus::Resolved,
            });
        }
        if alert.level >= max_level {
            return Err(VitalsError::EscalationAtTop {
                id: id.0,
                level: alert.level,
            });
        }
        alert.level += 1;
        alert.snoozed_until = None;
        alert.escalate_at =
            (alert.state == AlertState::Open).then(|| now.plus(timeout_of(alert.severity)));
        self.event(id, now, AlertChange::Escalated)
            .ok_or(VitalsError::UnknownAlert(id.0))
    }

    /// A person resolves an alert. Resolving while the condition still holds suppresses new
    /// alerts of that kind at or below the current severity until the condition ends.
    pub fn resolve(
        &mut self,
        id: AlertId,
        by: StaffId,
        now: Timestamp,
    ) -> Result<AlertEvent, VitalsError> {
        let alert = self.alert_mut(id)?;
        if matches!(alert.state, AlertState::Resolved { .. }) {
            return Err(VitalsError::InvalidTransition {
                id: id.0,
                action: "resolved",
                state: AlertStatus::Resolved,
            });
        }
        alert.state = AlertState::Resolved {
            by: Some(by),
            at: now,
        };
        alert.escalate_at = None;
        alert.snoozed_until = None;
        let kind = alert.kind.clone();
        let severity = alert.severity;
        if let Some(ks) = self.kinds.get_mut(&kind)
            && ks.current == Some(id)
        {
            ks.current = None;
            if !ks.active.is_empty() {
                ks.suppressed = Some((severity, ks.active.keys().cloned().collect()));
            }
        }
        self.event(id, now, AlertChange::Resolved)
            .ok_or(VitalsError::UnknownAlert(id.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(s * 1000)
    }
    fn nurse() -> StaffId {
        StaffId("n1".into())
    }

    #[test]
    fn one_episode_one_alert_even_when_flapping() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        for i in 0..50 {
            b.condition_on(
                Condition::NoPulse,
                Severity::Critical,
                "x".into(),
                t(i * 10),
                &mut out,
            );
            b.condition_off(&Condition::NoPulse, t(i * 10 + 5), &mut out);
        }
        let raised = out
            .iter()
            .filter(|e| e.change == AlertChange::Raised)
            .count();
        assert_eq!(raised, 1);
        assert_eq!(b.alerts().count(), 1);
    }

    #[test]
    fn a_person_escalates_one_level_at_a_time_up_to_the_top() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(Condition::News2, Severity::High, "x".into(), t(0), &mut out);
        let id = out[0].alert.id;
        b.snooze(id, t(600), t(10)).expect("snooze");
        let e = b.escalate(id, t(20)).expect("escalate");
        assert_eq!(e.change, AlertChange::Escalated);
        assert_eq!(e.alert.level, 1);
        assert_eq!(e.alert.snoozed_until, None, "escalating ends a snooze");
        // Still open: the timer runs again from the manual escalation.
        assert_eq!(e.alert.escalate_at, Some(t(320)));
        b.acknowledge(id, nurse(), t(30)).expect("ack");
        let e = b
            .escalate(id, t(40))
            .expect("escalate an acknowledged alert");
        assert_eq!(e.alert.level, 2);
        assert!(matches!(e.alert.state, AlertState::Acknowledged { .. }));
        assert_eq!(e.alert.escalate_at, None);
        assert!(matches!(
            b.escalate(id, t(50)),
            Err(VitalsError::EscalationAtTop { level: 2, .. })
        ));
        b.resolve(id, nurse(), t(60)).expect("resolve");
        assert!(matches!(
            b.escalate(id, t(70)),
            Err(VitalsError::InvalidTransition { .. })
        ));
        assert!(matches!(
            b.escalate(AlertId(99), t(70)),
            Err(VitalsError::UnknownAlert(99))
        ));
    }

    #[test]
    fn escalates_until_acknowledged() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(Condition::News2, Severity::High, "x".into(), t(0), &mut out);
        b.tick(t(299), &mut out);
        assert_eq!(out.len(), 1);
        b.tick(t(300), &mut out);
        assert_eq!(out.last().map(|e| &e.change), Some(&AlertChange::Escalated));
        assert_eq!(out.last().map(|e| e.alert.level), Some(1));
        let id = out[0].alert.id;
        b.acknowledge(id, nurse(), t(400)).expect("ack");
        b.tick(t(10_000), &mut out);
        assert_eq!(b.get(id).map(|a| a.level), Some(1));
        assert!(b.get(id).is_some_and(|a| a.escalate_at.is_none()));
    }

    #[test]
    fn escalation_stops_at_the_top_of_the_ladder() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::NoBreathing,
            Severity::Critical,
            "x".into(),
            t(0),
            &mut out,
        );
        for s in 0..1000 {
            b.tick(t(s), &mut out);
        }
        let esc = out
            .iter()
            .filter(|e| e.change == AlertChange::Escalated)
            .count();
        assert_eq!(esc, 2);
    }

    #[test]
    fn snooze_pauses_escalation_and_reopens_if_condition_holds() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::News2,
            Severity::Medium,
            "x".into(),
            t(0),
            &mut out,
        );
        let id = out[0].alert.id;
        b.acknowledge(id, nurse(), t(10)).expect("ack");
        b.snooze(id, t(1800), t(20)).expect("snooze");
        out.clear();
        b.tick(t(1799), &mut out);
        assert!(out.is_empty());
        b.tick(t(1800), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].change, AlertChange::SnoozeEnded);
        assert_eq!(out[0].alert.state, AlertState::Open);
    }

    #[test]
    fn snooze_limits() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::News2,
            Severity::Medium,
            "x".into(),
            t(0),
            &mut out,
        );
        let id = out[0].alert.id;
        assert!(b.snooze(id, t(0), t(0)).is_err());
        assert!(b.snooze(id, t(5 * 3600), t(0)).is_err());
        assert!(b.snooze(AlertId(99), t(60), t(0)).is_err());
    }

    #[test]
    fn resolve_while_active_suppresses_until_condition_ends_unless_worse() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::News2,
            Severity::Medium,
            "x".into(),
            t(0),
            &mut out,
        );
        let id = out[0].alert.id;
        b.resolve(id, nurse(), t(60)).expect("resolve");
        out.clear();
        b.condition_on(
            Condition::News2,
            Severity::Medium,
            "x".into(),
            t(120),
            &mut out,
        );
        assert!(out.is_empty());
        b.condition_on(
            Condition::News2,
            Severity::High,
            "x".into(),
            t(180),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].change, AlertChange::Raised);
        assert_ne!(out[0].alert.id, id);
        assert!(b.acknowledge(id, nurse(), t(200)).is_err());
    }

    #[test]
    fn several_findings_make_one_clinical_alert() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::SuddenChange(Parameter::HeartRate),
            Severity::LowMedium,
            "x".into(),
            t(0),
            &mut out,
        );
        b.condition_on(
            Condition::News2,
            Severity::Medium,
            "x".into(),
            t(60),
            &mut out,
        );
        b.condition_on(
            Condition::SuddenChange(Parameter::SpO2),
            Severity::LowMedium,
            "x".into(),
            t(90),
            &mut out,
        );
        b.condition_on(
            Condition::NoBreathing,
            Severity::Critical,
            "x".into(),
            t(120),
            &mut out,
        );
        let changes: Vec<&str> = out.iter().map(|e| e.change.event_kind().as_str()).collect();
        assert_eq!(
            changes,
            [
                "raised",
                "severity_raised",
                "condition_added",
                "severity_raised"
            ]
        );
        assert_eq!(b.alerts().count(), 1);
        let a = b.alerts().next().expect("alert");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.conditions.len(), 4);
        for c in a.conditions.clone() {
            b.condition_off(&c, t(200), &mut out);
        }
        assert_eq!(
            out.last().map(|e| &e.change),
            Some(&AlertChange::ConditionCleared)
        );
    }

    #[test]
    fn a_new_condition_after_resolve_raises_again() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::News2,
            Severity::LowMedium,
            "x".into(),
            t(0),
            &mut out,
        );
        let id = out[0].alert.id;
        b.resolve(id, nurse(), t(10)).expect("resolve");
        b.condition_on(
            Condition::SuddenChange(Parameter::SpO2),
            Severity::LowMedium,
            "x".into(),
            t(20),
            &mut out,
        );
        assert_eq!(
            out.iter()
                .filter(|e| e.change == AlertChange::Raised)
                .count(),
            2
        );
    }

    #[test]
    fn severity_rise_reopens_an_acknowledged_alert() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        b.condition_on(
            Condition::News2,
            Severity::LowMedium,
            "x".into(),
            t(0),
            &mut out,
        );
        let id = out[0].alert.id;
        b.acknowledge(id, nurse(), t(10)).expect("ack");
        b.condition_on(
            Condition::News2,
            Severity::High,
            "x".into(),
            t(20),
            &mut out,
        );
        let a = b.get(id).expect("alert");
        assert_eq!(a.state, AlertState::Open);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(b.alerts().count(), 1);
    }

    #[test]
    fn silent_sensor_resolves_itself() {
        let mut b = AlertBook::new(EscalationPolicy::default());
        let mut out = vec![];
        let kind = Condition::SensorSilent(SourceId::new("ox-1").expect("id"));
        b.condition_on(
            kind.clone(),
            Severity::Technical,
            "x".into(),
            t(0),
            &mut out,
        );
        b.condition_off(&kind, t(100), &mut out);
        assert!(matches!(
            out.last().map(|e| &e.alert.state),
            Some(AlertState::Resolved { by: None, .. })
        ));
        b.condition_on(kind, Severity::Technical, "x".into(), t(200), &mut out);
        assert_eq!(
            out.iter()
                .filter(|e| e.change == AlertChange::Raised)
                .count(),
            2
        );
    }
}

//! Nurses' actions on alerts (acknowledge, resolve, snooze, escalate), applied by the monitor of
//! the server that holds the subject's lease: here, or relayed (see [`super::leases`]).

use super::*;

/// A person's action on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Acknowledge it.
    Acknowledge,
    /// Resolve it.
    Resolve,
    /// Snooze it until this wall-clock time, Unix ms.
    Snooze(i64),
    /// Escalate it to the next level now.
    Escalate,
}

impl VitalsApi {
    /// Applies a lifecycle action to an alert of the caller's tenant (audited). The gRPC alert
    /// calls and the nurses' station both call this. The resident's monitor applies it: here
    /// when this server holds the resident's lease, otherwise through the holder
    /// ([`VitalsApi::act_through_holder`]).
    pub(crate) async fn act(
        &self,
        caller: &Caller,
        alert_id: &str,
        action: Action,
    ) -> Result<pb::Alert> {
        let tenant_id = caller.tenant_with(WATCHERS)?;
        if alert_id.is_empty() || alert_id.len() > 64 {
            return Err(ServerError::NotFound("alert"));
        }
        let hub = self.hub();
        let row = hub
            .store
            .get_alert(tenant_id, alert_id)
            .await?
            .ok_or(ServerError::NotFound("alert"))?;
        let subject_id = SubjectId::from(row.event.subject_id);
        let audit = match action {
            Action::Acknowledge => "alerts.acknowledge",
            Action::Resolve => "alerts.resolve",
            Action::Snooze(_) => "alerts.snooze",
            Action::Escalate => "alerts.escalate",
        };
        let alert = if hub.holds(tenant_id.as_str(), subject_id.as_str()).await? {
            self.act_here(
                tenant_id.as_str(),
                alert_id,
                caller.principal_id.as_str(),
                action,
            )
            .await?
        } else {
            self.act_through_holder(
                tenant_id.as_str(),
                subject_id.as_str(),
                alert_id,
                caller.principal_id.as_str(),
                action,
            )
            .await?
        };
        hub.store
            .audit_subject(&caller.actor(), audit, &subject_id, now_ms())
            .await?;
        Ok(alert)
    }

    /// [`VitalsApi::act`] on this server's monitor of the alert's resident (this server holds
    /// its lease), by the principal `by`.
    pub(super) async fn act_here(
        &self,
        tenant_id: &str,
        alert_id: &str,
        by: &str,
        action: Action,
    ) -> Result<pb::Alert> {
        let hub = self.hub();
        let row = hub
            .store
            .get_alert(&TenantId::new(tenant_id), alert_id)
            .await?
            .ok_or(ServerError::NotFound("alert"))?;
        let subject_id = row.event.subject_id.clone();
        let mut s = hub.lock_subject(tenant_id, &subject_id).await?;
        s.last_used = Instant::now();
        let wall = now_ms();
        let now = s.now(wall).unwrap_or(wall);
        let by = StaffId(by.to_owned());
        if let Some(id) = s.by_uuid.get(alert_id).copied() {
            let refused =
                |e: auscult_vitals::VitalsError| ServerError::FailedPrecondition(e.to_string());
            let event = match action {
                Action::Acknowledge => s
                    .monitor
                    .acknowledge(id, by, Timestamp(now))
                    .map_err(refused)?,
                Action::Resolve => {
                    Some(s.monitor.resolve(id, by, Timestamp(now)).map_err(refused)?)
                }
                Action::Escalate => Some(s.monitor.escalate(id, Timestamp(now)).map_err(refused)?),
                Action::Snooze(until_wall) => {
                    // The snooze is asked in wall time; the monitor runs on the subject's clock.
                    let until = now.saturating_add(until_wall - wall);
                    Some(
                        s.monitor
                            .snooze(id, Timestamp(until), Timestamp(now))
                            .map_err(|e| ServerError::InvalidArgument(e.to_string()))?,
                    )
                }
            };
            if let Some(ev) = event {
                hub.publish(tenant_id, &subject_id, &mut s, vec![ev], now)
                    .await?;
            }
            let alert = s
                .monitor
                .alerts()
                .find(|a| a.id == id)
                .map(|a| snapshot(&subject_id, alert_id, None, now, a))
                .ok_or(ServerError::NotFound("alert"))?;
            return Ok(alert_proto(&alert));
        }
        // Not in a monitor: stored before a restart (or long resolved). Act on the stored state.
        let mut e = row.event;
        let change = match (action, e.state) {
            (_, AlertStatus::Resolved) => {
                return Err(ServerError::FailedPrecondition(
                    "the alert is already resolved".into(),
                ));
            }
            (Action::Acknowledge, AlertStatus::Acknowledged) => None,
            (Action::Acknowledge, _) => {
                e.state = AlertStatus::Acknowledged;
                e.acted_by = by.0.clone();
                Some(AlertEventKind::Acknowledged)
            }
            (Action::Resolve, _) => {
                e.state = AlertStatus::Resolved;
                e.acted_by = by.0.clone();
                e.snoozed_until_ms = None;
                Some(AlertEventKind::Resolved)
            }
            (Action::Escalate, _) => {
                let max = i64::from(self.hub().config.escalation.max_level);
                if e.level >= max {
                    return Err(ServerError::FailedPrecondition(format!(
                        "the alert is already at the top escalation level ({})",
                        e.level
                    )));
                }
                e.level += 1;
                e.snoozed_until_ms = None;
                Some(AlertEventKind::Escalated)
            }
            (Action::Snooze(until_wall), _) => {
                let max = self.hub().config.escalation.max_snooze.0;
                if until_wall <= wall || until_wall - wall > max {
                    return Err(ServerError::InvalidArgument(format!(
                        "snooze must end after now and within {} minutes",
                        max / 60_000
                    )));
                }
                e.snoozed_until_ms = Some(now.saturating_add(until_wall - wall));
                Some(AlertEventKind::Snoozed)
            }
        };
        if let Some(change) = change {
            e.change = Some(change);
            e.at_ms = now;
            hub.emit(tenant_id, e.clone()).await?;
            if e.state == AlertStatus::Resolved {
                s.carried.retain(|c| c.event.alert_id != alert_id);
            } else if let Some(c) = s.carried.iter_mut().find(|c| c.event.alert_id == alert_id) {
                c.event = e.clone();
            }
        }
        Ok(alert_proto(&e))
    }

    pub(super) async fn action_inner(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        alert_id: &str,
        action: Action,
    ) -> Result<pb::Alert> {
        let caller = authenticate(&self.state.store, metadata).await?;
        self.act(&caller, alert_id, action).await
    }
}

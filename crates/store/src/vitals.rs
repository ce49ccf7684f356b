//! Vital-sign storage: raw samples, per-minute rollups for trend queries, and the alert event
//! log that nurse stations resume from by event id.
//!
//! Architecture invariants: every query names the tenant; every read of a subject's vitals or
//! alerts writes an audit event first; a batch of samples is stored in one transaction, so a
//! duplicate anywhere stores nothing of it. This module computes nothing clinical: rollups and
//! alerts are computed by `auscult-vitals` in the server and only stored here.
//!
//! An alert's kind, severity, state, change and conditions are stored as the spellings of
//! [`auscult_vitals::vocab`] and read back through one checked conversion each (`read_term`,
//! `read_conditions`): a spelling this version does not know is
//! [`StoreError::Corrupt`], never a default.

use auscult_vitals::{AlertClass, AlertEventKind, AlertStatus, Condition, Severity, Term};
use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::error::{Result, StoreError};
use crate::ids::{PrincipalId, SubjectId, TenantId};

/// The PostgreSQL advisory lock that orders alert events (`"ausc"` and 3): see
/// [`Store::append_alert_event`].
const ALERT_EVENTS_LOCK: i64 = 0x6175_7363_0000_0003;

/// A `vital_minutes` row (`minute_ms, n, min_value, max_value, sum_value`).
fn minute_row(row: &sqlx::any::AnyRow) -> Result<MinuteRow> {
    Ok(MinuteRow {
        minute_ms: row.try_get("minute_ms")?,
        count: row.try_get("n")?,
        min: row.try_get("min_value")?,
        max: row.try_get("max_value")?,
        sum: row.try_get("sum_value")?,
    })
}

/// One sample to store.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalRow {
    /// Parameter name (`heart_rate`, `spo2`, ...).
    pub parameter: String,
    /// The device principal that sent it (the authenticated sender; `""` only for samples
    /// stored before senders were recorded).
    pub device_id: String,
    /// The sensor, as its device names it (scoped to `device_id`).
    pub source: String,
    /// Measurement time, Unix ms.
    pub measured_at_ms: i64,
    /// The value (systolic for blood pressure; a code for categorical parameters).
    pub value: f64,
    /// The diastolic pressure for blood pressure.
    pub value2: Option<f64>,
}

/// A per-minute rollup of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteRow {
    /// Start of the minute, Unix ms.
    pub minute_ms: i64,
    /// Number of samples.
    pub count: i64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
}

/// Which trend to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendQuery<'a> {
    /// The subject.
    pub subject_id: &'a SubjectId,
    /// Parameter name.
    pub parameter: &'a str,
    /// Start (inclusive), Unix ms.
    pub from_ms: i64,
    /// End (exclusive), Unix ms.
    pub until_ms: i64,
}

/// An alert event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertEvent {
    /// The subject.
    pub subject_id: String,
    /// The alert (unique within the tenant).
    pub alert_id: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// What changed; `None` in an alert's current state (read from `vital_alerts`).
    pub change: Option<AlertEventKind>,
    /// What the alert is about (a silent sensor is named by its condition).
    pub kind: AlertClass,
    /// Severity after the change.
    pub severity: Severity,
    /// State after the change.
    pub state: AlertStatus,
    /// Conditions of the episode, in the order first seen.
    pub conditions: Vec<Condition>,
    /// Short non-identifying description.
    pub detail: String,
    /// Whether a condition of the episode still holds.
    pub condition_active: bool,
    /// Escalation level (0 = the first person).
    pub level: i64,
    /// When the alert was raised, Unix ms.
    pub raised_at_ms: i64,
    /// End of the snooze in force, Unix ms.
    pub snoozed_until_ms: Option<i64>,
    /// The principal who acknowledged or resolved it ("" if nobody).
    pub acted_by: String,
}

/// A stored alert event with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEventRow {
    /// Increasing id within the database; resume after it.
    pub event_id: i64,
    /// The event.
    pub event: NewAlertEvent,
}

impl Store {
    /// Stores a batch of samples and merges their per-minute rollups, in one transaction.
    /// A sample already stored (same subject, parameter, device, source and time) fails the whole batch
    /// with [`StoreError::AlreadyExists`].
    pub async fn insert_vitals(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        samples: &[VitalRow],
        rollups: &[(String, MinuteRow)],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in samples {
            sqlx::query(
                "INSERT INTO vital_samples (tenant_id, subject_id, parameter, device_id, source, measured_at_ms, value, value2, received_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .persistent(false) // see `insert_vitals_group`
            .bind(tenant_id.as_str())
            .bind(subject_id.as_str())
            .bind(&s.parameter)
            .bind(&s.device_id)
            .bind(&s.source)
            .bind(s.measured_at_ms)
            .bind(s.value)
            .bind(s.value2)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique_as(e, "vital sample"))?;
        }
        for (parameter, r) in rollups {
            sqlx::query(
                "INSERT INTO vital_minutes (tenant_id, subject_id, parameter, minute_ms, n, min_value, max_value, sum_value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tenant_id, subject_id, parameter, minute_ms) DO UPDATE SET \
                 n = vital_minutes.n + excluded.n, \
                 min_value = CASE WHEN excluded.min_value < vital_minutes.min_value THEN excluded.min_value ELSE vital_minutes.min_value END, \
                 max_value = CASE WHEN excluded.max_value > vital_minutes.max_value THEN excluded.max_value ELSE vital_minutes.max_value END, \
                 sum_value = vital_minutes.sum_value + excluded.sum_value",
            )
            .bind(tenant_id.as_str())
            .bind(subject_id.as_str())
            .bind(parameter)
            .bind(r.minute_ms)
            .bind(r.count)
            .bind(r.min)
            .bind(r.max)
            .bind(r.sum)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The minute rollups of one parameter of a subject in `[from_ms, until_ms)`, oldest first.
    /// Audited as `vitals.trend`.
    pub async fn vital_trend(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        q: &TrendQuery<'_>,
        now_ms: i64,
    ) -> Result<Vec<MinuteRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            "vitals.trend",
            None,
            Some(q.subject_id.as_str()),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT minute_ms, n, min_value, max_value, sum_value FROM vital_minutes \
             WHERE tenant_id = $1 AND subject_id = $2 AND parameter = $3 AND minute_ms >= $4 AND minute_ms < $5 \
             ORDER BY minute_ms",
        )
        .bind(tenant_id.as_str())
        .bind(q.subject_id.as_str())
        .bind(q.parameter)
        .bind(q.from_ms)
        .bind(q.until_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(minute_row).collect()
    }

    /// Appends an alert event, records the alert's new state in `vital_alerts` and enqueues its
    /// deliveries to the tenant's webhooks (the outbox, [`crate::webhooks`]), in one
    /// transaction, and returns the event id.
    ///
    /// Event ids become visible in increasing order, also across servers: on PostgreSQL the
    /// transaction first takes [`ALERT_EVENTS_LOCK`], so an id is drawn from the sequence only
    /// after every earlier event committed, and a reader of "events after N" can never see an id
    /// while a smaller one is still to come (SQLite has one writer). A `Watch` that moves its
    /// cursor past what it read therefore skips nothing, whichever server stored the event.
    pub async fn append_alert_event(&self, tenant_id: &TenantId, e: &NewAlertEvent) -> Result<i64> {
        let conditions = write_conditions(&e.conditions)?;
        let mut tx = self.pool.begin().await?;
        crate::servers::lock_for_transaction(&mut tx, self.backend, ALERT_EVENTS_LOCK).await?;
        let row = sqlx::query(
            "INSERT INTO alert_events (tenant_id, subject_id, alert_id, at_ms, change, kind, severity, state, conditions, detail, \
             condition_active, level, raised_at_ms, snoozed_until_ms, acted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING event_id",
        )
        .bind(tenant_id.as_str())
        .bind(&e.subject_id)
        .bind(&e.alert_id)
        .bind(e.at_ms)
        .bind(e.change.map_or("", AlertEventKind::as_str))
        .bind(e.kind.as_str())
        .bind(e.severity.as_str())
        .bind(e.state.as_str())
        .bind(&conditions)
        .bind(&e.detail)
        .bind(i64::from(e.condition_active))
        .bind(e.level)
        .bind(e.raised_at_ms)
        .bind(e.snoozed_until_ms)
        .bind(&e.acted_by)
        // Step the statement to completion (SQLite keeps a half-read RETURNING statement
        // active, holding its connection's write lock).
        .fetch_all(&mut *tx)
        .await?;
        let row = row
            .first()
            .ok_or(StoreError::Corrupt("INSERT RETURNING gave no row".into()))?;
        let event_id: i64 = row.try_get("event_id")?;
        crate::webhooks::enqueue_deliveries(&mut tx, tenant_id, event_id, e, crate::now_ms())
            .await?;
        sqlx::query(
            "INSERT INTO vital_alerts (tenant_id, alert_id, subject_id, kind, severity, state, conditions, condition_active, \
             level, raised_at_ms, snoozed_until_ms, acted_by, detail, last_event_id, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (tenant_id, alert_id) DO UPDATE SET \
             severity = excluded.severity, state = excluded.state, conditions = excluded.conditions, \
             condition_active = excluded.condition_active, level = excluded.level, \
             snoozed_until_ms = excluded.snoozed_until_ms, acted_by = excluded.acted_by, \
             detail = excluded.detail, last_event_id = excluded.last_event_id, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant_id.as_str())
        .bind(&e.alert_id)
        .bind(&e.subject_id)
        .bind(e.kind.as_str())
        .bind(e.severity.as_str())
        .bind(e.state.as_str())
        .bind(&conditions)
        .bind(i64::from(e.condition_active))
        .bind(e.level)
        .bind(e.raised_at_ms)
        .bind(e.snoozed_until_ms)
        .bind(&e.acted_by)
        .bind(&e.detail)
        .bind(event_id)
        .bind(e.at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(event_id)
    }

    /// The newest alert event id of the tenant (of one subject, when given) below `before`
    /// (0 when none): tells a `Watch` whether events it has not delivered are stored (by another
    /// server, or before the live one it holds), without reading (or auditing) their content.
    pub async fn latest_alert_event_id(
        &self,
        tenant_id: &TenantId,
        subject_id: Option<&SubjectId>,
        before: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(event_id), 0) AS last FROM alert_events \
             WHERE tenant_id = $1 AND event_id < $2 AND ($3 = '' OR subject_id = $3)",
        )
        .bind(tenant_id.as_str())
        .bind(before)
        .bind(subject_id.map_or("", SubjectId::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("last")?)
    }

    /// Alert events of the tenant after `after_event_id` (optionally of one subject), oldest
    /// first, at most `limit`. Audited as `alerts.read`.
    pub async fn alert_events_after(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        after_event_id: i64,
        subject_id: Option<&SubjectId>,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<AlertEventRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            "alerts.read",
            None,
            subject_id.map(SubjectId::as_str),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT event_id, subject_id, alert_id, at_ms, change, kind, severity, state, conditions, detail, \
             condition_active, level, raised_at_ms, snoozed_until_ms, acted_by \
             FROM alert_events WHERE tenant_id = $1 AND event_id > $2 AND ($3 = '' OR subject_id = $3) \
             ORDER BY event_id LIMIT $4",
        )
        .bind(tenant_id.as_str())
        .bind(after_event_id)
        .bind(subject_id.map_or("", SubjectId::as_str))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| alert_event_row(row, "change"))
            .collect()
    }

    /// One subject's alert events at or after `since_ms`, newest first, at most `limit`: what
    /// happened to each of its alerts, and when. Audited as `alerts.read`.
    pub async fn recent_alert_events(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        since_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<AlertEventRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            "alerts.read",
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT event_id, subject_id, alert_id, at_ms, change, kind, severity, state, conditions, detail, \
             condition_active, level, raised_at_ms, snoozed_until_ms, acted_by \
             FROM alert_events WHERE tenant_id = $1 AND subject_id = $2 AND at_ms >= $3 \
             ORDER BY event_id DESC LIMIT $4",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| alert_event_row(row, "change"))
            .collect()
    }

    /// Writes one audit event about a subject's vitals or alerts (e.g. an alert acted on).
    pub async fn audit_subject(
        &self,
        actor: &Actor<'_>,
        action: &str,
        subject_id: &SubjectId,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            action,
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// (tenant, subject) of every subject with a minute rollup at or after `since_ms`, for
    /// re-registering their sensors after a restart. Not a read by a person, so not audited.
    pub async fn recent_vitals_subjects(&self, since_ms: i64) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT tenant_id, subject_id FROM vital_minutes WHERE minute_ms >= $1",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("tenant_id")?, row.try_get("subject_id")?)))
            .collect()
    }

    /// The newest alert event id of the whole database (0 if none).
    pub async fn last_alert_event_id(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(event_id), 0) AS last FROM alert_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("last")?)
    }

    /// The current state of the tenant's alerts (optionally of one subject), newest first, at
    /// most `limit`. Audited as `alerts.list`.
    pub async fn list_alerts(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        subject_id: Option<&SubjectId>,
        include_resolved: bool,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<AlertEventRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            "alerts.list",
            None,
            subject_id.map(SubjectId::as_str),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            concat!(
                "SELECT ",
                alert_state_columns!(),
                " FROM vital_alerts WHERE tenant_id = $1 AND ($2 = '' OR subject_id = $2) AND ($3 = 1 OR state <> $5) \
             ORDER BY raised_at_ms DESC, alert_id LIMIT $4"),
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.map_or("", SubjectId::as_str))
        .bind(i64::from(include_resolved))
        .bind(limit)
        .bind(AlertStatus::Resolved.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| alert_event_row(row, "last_change"))
            .collect()
    }

    /// One alert's current state in the tenant, or `None` (also for another tenant's alert).
    /// Not audited: the caller audits what it does with it.
    pub async fn get_alert(
        &self,
        tenant_id: &TenantId,
        alert_id: &str,
    ) -> Result<Option<AlertEventRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            alert_state_columns!(),
            " FROM vital_alerts WHERE tenant_id = $1 AND alert_id = $2"
        ))
        .bind(tenant_id.as_str())
        .bind(alert_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| alert_event_row(&row, "last_change"))
            .transpose()
    }

    /// Every unresolved alert of every tenant, as (tenant, alert), for rebuilding the server's
    /// monitors after a restart. Not a read by a person, so not audited.
    pub async fn unresolved_alerts(&self) -> Result<Vec<(String, AlertEventRow)>> {
        let rows = sqlx::query(concat!(
            "SELECT tenant_id, ",
            alert_state_columns!(),
            " FROM vital_alerts WHERE state <> $1 ORDER BY tenant_id, subject_id, raised_at_ms"
        ))
        .bind(AlertStatus::Resolved.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("tenant_id")?,
                    alert_event_row(row, "last_change")?,
                ))
            })
            .collect()
    }

    /// The unresolved alerts of one subject of the tenant, for rebuilding its monitor after it
    /// was evicted from memory. Not a read by a person, so not audited.
    pub async fn unresolved_alerts_of(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
    ) -> Result<Vec<AlertEventRow>> {
        let rows = sqlx::query(
            concat!(
                "SELECT ",
                alert_state_columns!(),
                " FROM vital_alerts WHERE tenant_id = $1 AND subject_id = $2 AND state <> $3 ORDER BY raised_at_ms"),
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(AlertStatus::Resolved.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| alert_event_row(row, "last_change"))
            .collect()
    }

    /// Audits live deliveries of alert events on `Watch`, one `alerts.watch` event each (the
    /// watcher; the subject; the alert as target), all in one transaction.
    pub async fn audit_alert_deliveries(&self, deliveries: &[AlertDelivery]) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for d in deliveries {
            sqlx::query(
                "INSERT INTO audit_events (id, tenant_id, at_ms, actor_id, actor_role, action, subject_id, target_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(crate::db::new_id())
            .bind(d.tenant_id.as_str())
            .bind(d.at_ms)
            .bind(d.principal_id.as_str())
            .bind(&d.role)
            .bind("alerts.watch")
            .bind(d.subject_id.as_str())
            .bind(&d.alert_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether the tenant holds any vital sign or alert of this subject.
    pub async fn vitals_subject_exists(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (EXISTS (SELECT 1 FROM vital_samples WHERE tenant_id = $1 AND subject_id = $2) \
             OR EXISTS (SELECT 1 FROM vital_alerts WHERE tenant_id = $1 AND subject_id = $2)) AS found",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        // SQLite answers an integer, PostgreSQL a boolean.
        Ok(row
            .try_get::<bool, _>("found")
            .or_else(|_| row.try_get::<i64, _>("found").map(|v| v != 0))?)
    }

    /// The last stored sample time of each (parameter, device, source) of a subject, looking
    /// back from its newest minute rollup of each parameter (so it reads one minute of samples,
    /// not the whole series). Categorical parameters, which have no rollups, are looked up over
    /// the last `categorical_lookback_ms` before the newest rollup.
    ///
    /// With `before_relayed`, samples stored since the oldest batch still waiting in the relay
    /// for the subject's monitor (see [`crate::leases`]) are left out: a monitor rebuilt from
    /// this is then given those batches without finding their samples already "seen".
    pub async fn last_sample_times(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        categorical_lookback_ms: i64,
        before_relayed: bool,
    ) -> Result<Vec<LastSample>> {
        let newest = sqlx::query(
            "SELECT COALESCE(MAX(minute_ms), -1) AS newest FROM vital_minutes WHERE tenant_id = $1 AND subject_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        let newest: i64 = newest.try_get("newest")?;
        let from = if newest < 0 {
            i64::MIN
        } else {
            newest.saturating_sub(categorical_lookback_ms)
        };
        let received_before: i64 = if before_relayed {
            sqlx::query_scalar(
                "SELECT COALESCE(MIN(created_at_ms), 9223372036854775807) FROM vital_relay \
                 WHERE tenant_id = $1 AND subject_id = $2 AND kind = $3",
            )
            .bind(tenant_id.as_str())
            .bind(subject_id.as_str())
            .bind(crate::leases::RelayKind::Batch.as_str())
            .fetch_one(&self.pool)
            .await?
        } else {
            i64::MAX
        };
        let rows = sqlx::query(
            "SELECT parameter, device_id, source, MAX(measured_at_ms) AS last FROM vital_samples \
             WHERE tenant_id = $1 AND subject_id = $2 AND measured_at_ms >= $3 \
             AND received_at_ms < $4 GROUP BY parameter, device_id, source",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(from)
        .bind(received_before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LastSample {
                    parameter: row.try_get("parameter")?,
                    device_id: row.try_get("device_id")?,
                    source: row.try_get("source")?,
                    at_ms: row.try_get("last")?,
                })
            })
            .collect()
    }

    /// The minute rollups of every parameter of a subject in the last `lookback_ms` before its
    /// newest stored minute, oldest first per parameter: what a rebuilt monitor refills its
    /// sudden-change baselines from. Read by the server's monitor, not shown to anyone, so not
    /// audited (like [`Store::last_sample_times`]).
    pub async fn recent_minutes(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        lookback_ms: i64,
    ) -> Result<Vec<(String, MinuteRow)>> {
        let rows = sqlx::query(
            "SELECT parameter, minute_ms, n, min_value, max_value, sum_value FROM vital_minutes \
             WHERE tenant_id = $1 AND subject_id = $2 AND minute_ms >= \
             (SELECT COALESCE(MAX(minute_ms), 0) FROM vital_minutes WHERE tenant_id = $1 AND subject_id = $2) - $3 \
             ORDER BY parameter, minute_ms",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(lookback_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("parameter")?, minute_row(row)?)))
            .collect()
    }

    /// Stores several subjects' batches in one transaction (group commit): each item is
    /// (tenant, subject, samples, rollups). Rollups of the same minute are merged. If the group
    /// fails (e.g. one duplicate), nothing of it is stored and the caller retries item by item
    /// with [`Store::insert_vitals`] to find the culprit.
    pub async fn insert_vitals_group(
        &self,
        items: &[VitalsBatchRows<'_>],
        now_ms: i64,
    ) -> Result<()> {
        use std::collections::BTreeMap;
        const ROWS_PER_STATEMENT: usize = 400;
        let mut tx = self.pool.begin().await?;
        let samples: Vec<(&str, &str, &VitalRow)> = items
            .iter()
            .flat_map(|b| {
                b.samples
                    .iter()
                    .map(move |s| (b.tenant_id.as_str(), b.subject_id.as_str(), s))
            })
            .collect();
        for chunk in samples.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO vital_samples (tenant_id, subject_id, parameter, device_id, source, measured_at_ms, value, value2, received_at_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 9;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                ));
            }
            // Not a cached prepared statement: through sqlx's Any driver a NULL `value2` is
            // declared with a different type than a present one, and PostgreSQL refuses a
            // cached statement re-bound with the other ("incorrect binary data format").
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (tenant, subject, s) in chunk {
                q = q
                    .bind(*tenant)
                    .bind(*subject)
                    .bind(&s.parameter)
                    .bind(&s.device_id)
                    .bind(&s.source)
                    .bind(s.measured_at_ms)
                    .bind(s.value)
                    .bind(s.value2)
                    .bind(now_ms);
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique_as(e, "vital sample"))?;
        }
        let mut merged: BTreeMap<(&str, &str, &str, i64), MinuteRow> = BTreeMap::new();
        for b in items {
            for (p, r) in b.rollups {
                merged
                    .entry((
                        b.tenant_id.as_str(),
                        b.subject_id.as_str(),
                        p.as_str(),
                        r.minute_ms,
                    ))
                    .and_modify(|m| {
                        m.count += r.count;
                        m.min = m.min.min(r.min);
                        m.max = m.max.max(r.max);
                        m.sum += r.sum;
                    })
                    .or_insert(*r);
            }
        }
        let merged: Vec<_> = merged.into_iter().collect();
        for chunk in merged.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO vital_minutes (tenant_id, subject_id, parameter, minute_ms, n, min_value, max_value, sum_value) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 8;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                ));
            }
            sql.push_str(MERGE_MINUTES);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, subject, parameter, minute_ms), r) in chunk {
                q = q
                    .bind(*tenant)
                    .bind(*subject)
                    .bind(*parameter)
                    .bind(*minute_ms)
                    .bind(r.count)
                    .bind(r.min)
                    .bind(r.max)
                    .bind(r.sum);
            }
            q.execute(&mut *tx).await?;
        }
        for b in items {
            if let Some(payload) = b.relay {
                sqlx::query(
                    "INSERT INTO vital_relay (tenant_id, subject_id, kind, payload, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(b.tenant_id.as_str())
                .bind(b.subject_id.as_str())
                .bind(crate::leases::RelayKind::Batch.as_str())
                .bind(payload)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The newest stored sample of one (parameter, device, source) of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSample {
    /// Parameter name.
    pub parameter: String,
    /// The device principal that sent it (`""` for samples stored before senders were recorded).
    pub device_id: String,
    /// The sensor, as its device names it.
    pub source: String,
    /// Its measurement time, Unix ms.
    pub at_ms: i64,
}

/// One live delivery of an alert event to a watching principal, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// The watcher's tenant.
    pub tenant_id: TenantId,
    /// The watching principal.
    pub principal_id: PrincipalId,
    /// Its role.
    pub role: String,
    /// The subject of the alert.
    pub subject_id: SubjectId,
    /// The alert delivered.
    pub alert_id: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// One subject's batch for [`Store::insert_vitals_group`].
#[derive(Debug, Clone, Copy)]
pub struct VitalsBatchRows<'a> {
    /// The tenant.
    pub tenant_id: &'a TenantId,
    /// The subject.
    pub subject_id: &'a SubjectId,
    /// The samples.
    pub samples: &'a [VitalRow],
    /// Their minute rollups, by parameter name.
    pub rollups: &'a [(String, MinuteRow)],
    /// For the subject's lease holder when it is another server: the batch as it must be
    /// applied to the monitor, stored as a relay row in the same transaction (see
    /// [`crate::leases`]).
    pub relay: Option<&'a [u8]>,
}

const MERGE_MINUTES: &str = " ON CONFLICT (tenant_id, subject_id, parameter, minute_ms) DO UPDATE SET \
     n = vital_minutes.n + excluded.n, \
     min_value = CASE WHEN excluded.min_value < vital_minutes.min_value THEN excluded.min_value ELSE vital_minutes.min_value END, \
     max_value = CASE WHEN excluded.max_value > vital_minutes.max_value THEN excluded.max_value ELSE vital_minutes.max_value END, \
     sum_value = vital_minutes.sum_value + excluded.sum_value";

/// The one reading of a stored term: its spelling, or [`StoreError::Corrupt`].
fn read_term<T: Term>(spelling: &str) -> Result<T> {
    T::parse(spelling).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{:?} is not a {}",
            spelling.chars().take(64).collect::<String>(),
            T::WHAT
        ))
    })
}

/// An alert's conditions as stored: a JSON array of their spellings (a sensor's name may hold
/// commas, so they are not joined with them).
fn write_conditions(conditions: &[Condition]) -> Result<String> {
    let spelled: Vec<String> = conditions.iter().map(Condition::to_string).collect();
    serde_json::to_string(&spelled).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The inverse of [`write_conditions`]. Also reads the comma-joined form stored before it
/// (which never starts with `[`).
fn read_conditions(stored: &str) -> Result<Vec<Condition>> {
    let spelled: Vec<String> = if stored.starts_with('[') {
        serde_json::from_str(stored)
            .map_err(|e| StoreError::Corrupt(format!("alert conditions: {e}")))?
    } else {
        stored
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    spelled
        .iter()
        .map(|c| c.parse().map_err(|e| StoreError::Corrupt(format!("{e}"))))
        .collect()
}

/// The columns of an alert's current state in `vital_alerts`, named as [`event_from_row`] reads
/// an event (with an empty `last_change`).
macro_rules! alert_state_columns {
    () => {
        "last_event_id AS event_id, subject_id, alert_id, updated_at_ms AS at_ms, '' AS last_change, \
         kind, severity, state, conditions, detail, condition_active, level, raised_at_ms, \
         snoozed_until_ms, acted_by"
    };
}
use alert_state_columns;

/// An event (or an alert's current state) with its id, read by [`event_from_row`].
fn alert_event_row(row: &sqlx::any::AnyRow, change_column: &str) -> Result<AlertEventRow> {
    Ok(AlertEventRow {
        event_id: row.try_get("event_id")?,
        event: event_from_row(row, change_column)?,
    })
}

fn event_from_row(row: &sqlx::any::AnyRow, change_column: &str) -> Result<NewAlertEvent> {
    let active: i64 = row.try_get("condition_active")?;
    let change: String = row.try_get(change_column)?;
    let kind: String = row.try_get("kind")?;
    let severity: String = row.try_get("severity")?;
    let state: String = row.try_get("state")?;
    let conditions: String = row.try_get("conditions")?;
    Ok(NewAlertEvent {
        subject_id: row.try_get("subject_id")?,
        alert_id: row.try_get("alert_id")?,
        at_ms: row.try_get("at_ms")?,
        change: (!change.is_empty())
            .then(|| read_term(&change))
            .transpose()?,
        kind: read_term(&kind)?,
        severity: read_term(&severity)?,
        state: read_term(&state)?,
        conditions: read_conditions(&conditions)?,
        detail: row.try_get("detail")?,
        condition_active: active != 0,
        level: row.try_get("level")?,
        raised_at_ms: row.try_get("raised_at_ms")?,
        snoozed_until_ms: row.try_get("snoozed_until_ms")?,
        acted_by: row.try_get("acted_by")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobConfig, DbOptions, now_ms};

    async fn open(dir: &std::path::Path) -> Result<Store> {
        let db = DbOptions {
            url: format!("sqlite://{}?mode=rwc", dir.join("v.db").display()),
            max_connections: 2,
        };
        Store::open(
            &db,
            &BlobConfig::Local {
                root: dir.join("blobs"),
            },
        )
        .await
    }

    fn hr(at: i64, v: f64) -> VitalRow {
        VitalRow {
            parameter: "heart_rate".into(),
            device_id: "device-1".into(),
            source: "dev".into(),
            measured_at_ms: at,
            value: v,
            value2: None,
        }
    }

    fn minute(m: i64, v: f64) -> (String, MinuteRow) {
        (
            "heart_rate".into(),
            MinuteRow {
                minute_ms: m * 60_000,
                count: 1,
                min: v,
                max: v,
                sum: v,
            },
        )
    }

    #[tokio::test]
    async fn samples_rollups_duplicates_tenancy_and_events() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path()).await?;
        let now = now_ms();
        let a = store
            .create_tenant(&crate::audit::Actor::SYSTEM, "a", "clinic", now)
            .await?;
        let b = store
            .create_tenant(&crate::audit::Actor::SYSTEM, "b", "clinic", now)
            .await?;
        let (ta, tb) = (a.id.clone(), b.id.clone());
        let (s1, s2, s3) = (
            SubjectId::new("s1"),
            SubjectId::new("s2"),
            SubjectId::new("s3"),
        );
        let actor = Actor {
            tenant_id: Some(a.id.as_str()),
            principal_id: "nurse",
            role: "nurse",
        };
        store
            .insert_vitals(
                &ta,
                &s1,
                &[hr(0, 70.0), hr(1000, 80.0)],
                &[minute(0, 70.0), minute(0, 80.0)],
                now,
            )
            .await?;
        // Same minute again from a later batch merges into the rollup.
        store
            .insert_vitals(&ta, &s1, &[hr(2000, 60.0)], &[minute(0, 60.0)], now)
            .await?;
        // A duplicate sample fails the whole batch: its other sample and rollup are not stored.
        let dup = store
            .insert_vitals(
                &ta,
                &s1,
                &[hr(3000, 90.0), hr(0, 70.0)],
                &[minute(0, 90.0)],
                now,
            )
            .await;
        assert!(matches!(
            dup,
            Err(StoreError::AlreadyExists("vital sample"))
        ));
        let q = TrendQuery {
            subject_id: &s1,
            parameter: "heart_rate",
            from_ms: 0,
            until_ms: 60_000,
        };
        let trend = store.vital_trend(&actor, &ta, &q, now).await?;
        assert_eq!(trend.len(), 1);
        assert_eq!(
            (trend[0].count, trend[0].min, trend[0].max, trend[0].sum),
            (3, 60.0, 80.0, 210.0)
        );
        // Another tenant sees nothing of it.
        assert!(store.vital_trend(&actor, &tb, &q, now).await?.is_empty());

        let ev = |alert: &str, change: AlertEventKind| NewAlertEvent {
            subject_id: "s1".into(),
            alert_id: alert.into(),
            at_ms: now,
            change: Some(change),
            kind: AlertClass::Clinical,
            severity: Severity::High,
            state: AlertStatus::Open,
            conditions: vec![Condition::News2],
            detail: "NEWS2 7 (high)".into(),
            condition_active: true,
            level: 0,
            raised_at_ms: now,
            snoozed_until_ms: None,
            acted_by: String::new(),
        };
        let first = store
            .append_alert_event(&ta, &ev("x1", AlertEventKind::Raised))
            .await?;
        let second = store
            .append_alert_event(&ta, &ev("x1", AlertEventKind::Acknowledged))
            .await?;
        store
            .append_alert_event(&tb, &ev("y1", AlertEventKind::Raised))
            .await?;
        assert!(second > first);
        let after = store
            .alert_events_after(&actor, &ta, first, None, 100, now)
            .await?;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].event.change, Some(AlertEventKind::Acknowledged));
        let all = store
            .alert_events_after(&actor, &ta, 0, Some(&s1), 100, now)
            .await?;
        assert_eq!(all.len(), 2);
        assert!(
            store
                .alert_events_after(&actor, &ta, 0, Some(&s2), 100, now)
                .await?
                .is_empty()
        );
        // The alert's current state follows its last event; another tenant cannot see it.
        let x1 = store.get_alert(&ta, "x1").await?.expect("stored");
        assert_eq!((x1.event_id, x1.event.change), (second, None));
        assert!(store.get_alert(&tb, "x1").await?.is_none());
        let mut resolved = ev("x1", AlertEventKind::Resolved);
        resolved.state = AlertStatus::Resolved;
        resolved.acted_by = "nurse".into();
        store.append_alert_event(&ta, &resolved).await?;
        assert!(
            store
                .list_alerts(&actor, &ta, None, false, 10, now)
                .await?
                .is_empty()
        );
        let listed = store.list_alerts(&actor, &ta, None, true, 10, now).await?;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event.acted_by, "nurse");
        let open = store.unresolved_alerts().await?;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].0, b.id.as_str());
        assert!(store.last_alert_event_id().await? > second);
        assert!(store.vitals_subject_exists(&ta, &s1).await?);
        // B holds an alert of its own "s1" (a different person), but no "s2".
        assert!(store.vitals_subject_exists(&tb, &s1).await?);
        assert!(!store.vitals_subject_exists(&tb, &s2).await?);

        // Group commit: two subjects in one transaction; a duplicate in the group stores nothing.
        let rows_s2 = [hr(0, 70.0), hr(1000, 71.0)];
        let roll_s2 = [minute(0, 70.0), minute(0, 71.0)];
        let group = [VitalsBatchRows {
            tenant_id: &ta,
            subject_id: &s2,
            samples: &rows_s2,
            rollups: &roll_s2,
            relay: None,
        }];
        store.insert_vitals_group(&group, now).await?;
        let rows_s3 = [hr(5000, 60.0)];
        let roll_s3 = [minute(0, 60.0)];
        let bad = [
            VitalsBatchRows {
                tenant_id: &ta,
                subject_id: &s3,
                samples: &rows_s3,
                rollups: &roll_s3,
                relay: None,
            },
            group[0],
        ];
        assert!(matches!(
            store.insert_vitals_group(&bad, now).await,
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(!store.vitals_subject_exists(&ta, &s3).await?);
        let q2 = TrendQuery {
            subject_id: &s2,
            ..q
        };
        let t2 = store.vital_trend(&actor, &ta, &q2, now).await?;
        assert_eq!((t2.len(), t2[0].count, t2[0].sum), (1, 2, 141.0));
        let last = store.last_sample_times(&ta, &s1, 60_000, false).await?;
        assert_eq!(
            last,
            vec![LastSample {
                parameter: "heart_rate".into(),
                device_id: "device-1".into(),
                source: "dev".into(),
                at_ms: 2000
            }]
        );
        Ok(())
    }
}

//! Vital-sign storage: raw samples, per-minute rollups for trend queries, and the alert event
//! log that nurse stations resume from by event id.
//!
//! Architecture invariants: every query names the tenant; every read of a subject's vitals or
//! alerts writes an audit event first; a batch of samples is stored in one transaction, so a
//! duplicate anywhere stores nothing of it. This module computes nothing clinical: rollups and
//! alerts are computed by `auscult-vitals` in the server and only stored here.

use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::error::{Result, StoreError};

/// One sample to store.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalRow {
    /// Parameter name (`heart_rate`, `spo2`, ...).
    pub parameter: String,
    /// Source device.
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
    pub subject_id: &'a str,
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
    /// What changed (`raised`, `acknowledged`, ...).
    pub change: String,
    /// `clinical` or `sensor_silent`.
    pub kind: String,
    /// Severity after the change.
    pub severity: String,
    /// State after the change.
    pub state: String,
    /// Conditions of the episode, comma-separated.
    pub conditions: String,
    /// Short non-identifying description.
    pub detail: String,
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
    /// A sample already stored (same subject, parameter, source and time) fails the whole batch
    /// with [`StoreError::AlreadyExists`].
    pub async fn insert_vitals(
        &self,
        tenant_id: &str,
        subject_id: &str,
        samples: &[VitalRow],
        rollups: &[(String, MinuteRow)],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in samples {
            sqlx::query(
                "INSERT INTO vital_samples (tenant_id, subject_id, parameter, source, measured_at_ms, value, value2, received_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant_id)
            .bind(subject_id)
            .bind(&s.parameter)
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
            .bind(tenant_id)
            .bind(subject_id)
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
        tenant_id: &str,
        q: &TrendQuery<'_>,
        now_ms: i64,
    ) -> Result<Vec<MinuteRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(
            &mut tx,
            actor,
            "vitals.trend",
            None,
            Some(q.subject_id),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT minute_ms, n, min_value, max_value, sum_value FROM vital_minutes \
             WHERE tenant_id = $1 AND subject_id = $2 AND parameter = $3 AND minute_ms >= $4 AND minute_ms < $5 \
             ORDER BY minute_ms",
        )
        .bind(tenant_id)
        .bind(q.subject_id)
        .bind(q.parameter)
        .bind(q.from_ms)
        .bind(q.until_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(MinuteRow {
                    minute_ms: row.try_get("minute_ms")?,
                    count: row.try_get("n")?,
                    min: row.try_get("min_value")?,
                    max: row.try_get("max_value")?,
                    sum: row.try_get("sum_value")?,
                })
            })
            .collect()
    }

    /// Appends an alert event and returns its id.
    pub async fn append_alert_event(&self, tenant_id: &str, e: &NewAlertEvent) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO alert_events (tenant_id, subject_id, alert_id, at_ms, change, kind, severity, state, conditions, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING event_id",
        )
        .bind(tenant_id)
        .bind(&e.subject_id)
        .bind(&e.alert_id)
        .bind(e.at_ms)
        .bind(&e.change)
        .bind(&e.kind)
        .bind(&e.severity)
        .bind(&e.state)
        .bind(&e.conditions)
        .bind(&e.detail)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("event_id")?)
    }

    /// Alert events of the tenant after `after_event_id` (optionally of one subject), oldest
    /// first, at most `limit`. Audited as `alerts.read`.
    pub async fn alert_events_after(
        &self,
        actor: &Actor<'_>,
        tenant_id: &str,
        after_event_id: i64,
        subject_id: Option<&str>,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<AlertEventRow>> {
        let mut tx = self.pool.begin().await?;
        insert_audit(&mut tx, actor, "alerts.read", None, subject_id, now_ms).await?;
        let rows = sqlx::query(
            "SELECT event_id, subject_id, alert_id, at_ms, change, kind, severity, state, conditions, detail \
             FROM alert_events WHERE tenant_id = $1 AND event_id > $2 AND ($3 = '' OR subject_id = $3) \
             ORDER BY event_id LIMIT $4",
        )
        .bind(tenant_id)
        .bind(after_event_id)
        .bind(subject_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(AlertEventRow {
                    event_id: row.try_get("event_id")?,
                    event: NewAlertEvent {
                        subject_id: row.try_get("subject_id")?,
                        alert_id: row.try_get("alert_id")?,
                        at_ms: row.try_get("at_ms")?,
                        change: row.try_get("change")?,
                        kind: row.try_get("kind")?,
                        severity: row.try_get("severity")?,
                        state: row.try_get("state")?,
                        conditions: row.try_get("conditions")?,
                        detail: row.try_get("detail")?,
                    },
                })
            })
            .collect()
    }
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
        let a = store.create_tenant("a", "clinic", now).await?;
        let b = store.create_tenant("b", "clinic", now).await?;
        let actor = Actor {
            tenant_id: Some(&a.id),
            principal_id: "nurse",
            role: "nurse",
        };
        store
            .insert_vitals(
                &a.id,
                "s1",
                &[hr(0, 70.0), hr(1000, 80.0)],
                &[minute(0, 70.0), minute(0, 80.0)],
                now,
            )
            .await?;
        // Same minute again from a later batch merges into the rollup.
        store
            .insert_vitals(&a.id, "s1", &[hr(2000, 60.0)], &[minute(0, 60.0)], now)
            .await?;
        // A duplicate sample fails the whole batch: its other sample and rollup are not stored.
        let dup = store
            .insert_vitals(
                &a.id,
                "s1",
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
            subject_id: "s1",
            parameter: "heart_rate",
            from_ms: 0,
            until_ms: 60_000,
        };
        let trend = store.vital_trend(&actor, &a.id, &q, now).await?;
        assert_eq!(trend.len(), 1);
        assert_eq!(
            (trend[0].count, trend[0].min, trend[0].max, trend[0].sum),
            (3, 60.0, 80.0, 210.0)
        );
        // Another tenant sees nothing of it.
        assert!(store.vital_trend(&actor, &b.id, &q, now).await?.is_empty());

        let ev = |alert: &str, change: &str| NewAlertEvent {
            subject_id: "s1".into(),
            alert_id: alert.into(),
            at_ms: now,
            change: change.into(),
            kind: "clinical".into(),
            severity: "high".into(),
            state: "open".into(),
            conditions: "news2".into(),
            detail: "NEWS2 7 (high)".into(),
        };
        let first = store.append_alert_event(&a.id, &ev("x1", "raised")).await?;
        let second = store
            .append_alert_event(&a.id, &ev("x1", "acknowledged"))
            .await?;
        store.append_alert_event(&b.id, &ev("y1", "raised")).await?;
        assert!(second > first);
        let after = store
            .alert_events_after(&actor, &a.id, first, None, 100, now)
            .await?;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].event.change, "acknowledged");
        let all = store
            .alert_events_after(&actor, &a.id, 0, Some("s1"), 100, now)
            .await?;
        assert_eq!(all.len(), 2);
        assert!(
            store
                .alert_events_after(&actor, &a.id, 0, Some("s2"), 100, now)
                .await?
                .is_empty()
        );
        Ok(())
    }
}

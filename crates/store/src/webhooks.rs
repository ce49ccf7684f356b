//! Outbound webhooks: each tenant's receivers of alert events, and the outbox of deliveries to
//! them.
//!
//! Architecture invariants: a delivery is enqueued by [`enqueue_deliveries`] inside the
//! transaction that appends its alert event (`Store::append_alert_event`), so an event is never
//! lost and never delivered without being stored. A delivery is claimed with a lease, as an
//! analysis job is ([`crate::jobs`]): on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
//! servers on one database deliver each once (at least once: an attempt whose server died before
//! recording its answer is made again once its lease has run out). Its body is fixed when it is
//! enqueued, so every attempt sends the same bytes under the same delivery id. After its last
//! attempt a delivery is `dead` (the dead-letter list) until an administrator replays it.
//!
//! The body holds ids and the alert's kind, severity and state, never a name or the alert's
//! detail. A webhook's secret signs every request, so it is stored as it was shown once at
//! creation (it cannot be hashed); [`Store::list_webhooks`] never returns it and only
//! [`Store::claim_delivery`] reads it, for the request it signs.

use auscult_vitals::AlertEventKind;
use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_admin_audit, insert_audit};
use crate::db::{Backend, new_id};
use crate::error::{Result, StoreError};
use crate::ids::{SubjectId, TenantId};
use crate::vitals::NewAlertEvent;

/// Delivery states.
pub mod delivery_state {
    /// Waiting for its next attempt (at `next_attempt_at_ms`).
    pub const PENDING: &str = "pending";
    /// Claimed by a server, which is sending it.
    pub const RUNNING: &str = "running";
    /// The receiver answered 2xx.
    pub const DELIVERED: &str = "delivered";
    /// Every attempt failed: in the dead-letter list.
    pub const DEAD: &str = "dead";
    /// Its webhook was removed before it was delivered.
    pub const CANCELLED: &str = "cancelled";
}

/// A webhook as administrators see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    /// Identifier.
    pub id: String,
    /// The tenant whose alert events it receives.
    pub tenant_id: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// When it was created, Unix ms.
    pub created_at_ms: i64,
    /// The administrator who created it.
    pub created_by: String,
    /// When it was removed, Unix ms (`None`: it receives events).
    pub disabled_at_ms: Option<i64>,
}

/// A claimed delivery, with what is needed to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery id (the receiver's idempotency key).
    pub id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The webhook.
    pub webhook_id: String,
    /// The alert event delivered.
    pub event_id: i64,
    /// The subject of the alert (for the audit trail of the delivery).
    pub subject_id: SubjectId,
    /// The receiver's URL.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: String,
    /// The JSON body, the same on every attempt.
    pub payload: String,
    /// Attempts including this one.
    pub attempts: u32,
}

impl std::fmt::Debug for ClaimedDelivery {
    /// Ids only: neither the secret nor the body (which names the subject).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("webhook_id", &self.webhook_id)
            .field("event_id", &self.event_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A delivery in the dead-letter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The delivery id (its idempotency key, kept when replayed).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The alert event.
    pub event_id: i64,
    /// The alert.
    pub alert_id: String,
    /// Attempts made.
    pub attempts: u32,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: String,
    /// When it was given up, Unix ms.
    pub failed_at_ms: i64,
}

/// The outcome of a failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct FailedAttempt<'a> {
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// Why it failed (no URL, no body).
    pub error: &'a str,
    /// When to try again, Unix ms; `None`: no attempts left, the delivery is dead.
    pub retry_at_ms: Option<i64>,
}

/// The body of a delivery of `event` (id `event_id`) of `tenant_id`: a small JSON object of ids,
/// the change, the alert's kind, severity and state, and the time (Unix ms). No name, no detail.
pub fn payload(tenant_id: &TenantId, event_id: i64, event: &NewAlertEvent) -> Result<String> {
    let body = serde_json::json!({
        "event_id": event_id,
        "tenant_id": tenant_id.as_str(),
        "alert_id": event.alert_id,
        "subject_id": event.subject_id,
        "event": event.change.map_or("", AlertEventKind::as_str),
        "kind": event.kind.as_str(),
        "severity": event.severity.as_str(),
        "state": event.state.as_str(),
        "at_ms": event.at_ms,
    });
    serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Enqueues one delivery of the stored event `event_id` to each enabled webhook of `tenant_id`,
/// due at `now_ms`, in the caller's transaction (the event's). Events without a change (an alert's current
/// state) are not delivered.
pub(crate) async fn enqueue_deliveries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &TenantId,
    event_id: i64,
    event: &NewAlertEvent,
    now_ms: i64,
) -> Result<()> {
    if event.change.is_none() {
        return Ok(());
    }
    let hooks = sqlx::query(
        "SELECT id FROM webhooks WHERE tenant_id = $1 AND disabled_at_ms IS NULL ORDER BY id",
    )
    .bind(tenant_id.as_str())
    .fetch_all(&mut **tx)
    .await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let body = payload(tenant_id, event_id, event)?;
    for hook in &hooks {
        let webhook_id: String = hook.try_get("id")?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id, alert_id, subject_id, payload, \
             state, attempts, next_attempt_at_ms, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)",
        )
        .bind(new_id())
        .bind(tenant_id.as_str())
        .bind(&webhook_id)
        .bind(event_id)
        .bind(&event.alert_id)
        .bind(&event.subject_id)
        .bind(&body)
        .bind(delivery_state::PENDING)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn webhook_from_row(row: &sqlx::any::AnyRow) -> Result<WebhookInfo> {
    Ok(WebhookInfo {
        id: row.try_get("id")?,
        tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
        url: row.try_get("url")?,
        created_at_ms: row.try_get("created_at_ms")?,
        created_by: row.try_get("created_by")?,
        disabled_at_ms: row.try_get("disabled_at_ms")?,
    })
}

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl Store {
    /// Creates a webhook of `tenant_id` POSTing to `url`, signed with `secret`. Audited as
    /// `webhook.create` (the secret is not in the audit trail).
    pub async fn create_webhook(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        url: &str,
        secret: &str,
        now_ms: i64,
    ) -> Result<WebhookInfo> {
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, secret, created_at_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(tenant_id.as_str())
        .bind(url)
        .bind(secret)
        .bind(now_ms)
        .bind(actor.principal_id)
        .execute(&mut *tx)
        .await?;
        insert_admin_audit(
            &mut tx,
            actor,
            Some(tenant_id),
            "webhook.create",
            &id,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(WebhookInfo {
            id,
            tenant_id: tenant_id.clone(),
            url: url.to_owned(),
            created_at_ms: now_ms,
            created_by: actor.principal_id.to_owned(),
            disabled_at_ms: None,
        })
    }

    /// The webhooks of `tenant_id`, removed ones included, oldest first (never a secret).
    pub async fn list_webhooks(&self, tenant_id: &TenantId) -> Result<Vec<WebhookInfo>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, url, created_at_ms, created_by, disabled_at_ms FROM webhooks \
             WHERE tenant_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(tenant_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Removes (disables) a webhook of `tenant_id`: it receives no further events and its
    /// deliveries not yet made are cancelled (its dead letters stay, for the record). Audited as
    /// `webhook.remove`. Returns false when the tenant has no such enabled webhook.
    pub async fn disable_webhook(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        webhook_id: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET disabled_at_ms = $1 WHERE tenant_id = $2 AND id = $3 AND disabled_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, finished_at_ms = $2 \
             WHERE tenant_id = $3 AND webhook_id = $4 AND state = $5",
        )
        .bind(delivery_state::CANCELLED)
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(webhook_id)
        .bind(delivery_state::PENDING)
        .execute(&mut *tx)
        .await?;
        insert_admin_audit(
            &mut tx,
            actor,
            Some(tenant_id),
            "webhook.remove",
            webhook_id,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claims the delivery due longest (`next_attempt_at_ms <= now_ms`) of an enabled webhook not
    /// in `skip_webhooks` (those this server is already sending to), or one whose claim's lease
    /// (taken before `stale_before_ms`) ran out, for `worker`; counts the attempt.
    pub async fn claim_delivery(
        &self,
        worker: &str,
        now_ms: i64,
        stale_before_ms: i64,
        skip_webhooks: &[String],
    ) -> Result<Option<ClaimedDelivery>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Placeholders only: the skipped ids are bound.
        let skip: String = (0..skip_webhooks.len())
            .map(|i| format!(" AND d.webhook_id <> ${}", i + 6))
            .collect();
        let sql = format!(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, locked_by = $2, locked_at_ms = $3 \
             WHERE id = (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE w.disabled_at_ms IS NULL AND ((d.state = $4 AND d.next_attempt_at_ms <= $3) \
             OR (d.state = $1 AND d.locked_at_ms < $5)){skip} \
             ORDER BY d.next_attempt_at_ms, d.id LIMIT 1{lock}) \
             RETURNING id, tenant_id, webhook_id, event_id, subject_id, payload, attempts"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(delivery_state::RUNNING)
            .bind(worker)
            .bind(now_ms)
            .bind(delivery_state::PENDING)
            .bind(stale_before_ms);
        for id in skip_webhooks {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let webhook_id: String = row.try_get("webhook_id")?;
        let hook = sqlx::query("SELECT url, secret FROM webhooks WHERE id = $1")
            .bind(&webhook_id)
            .fetch_one(&self.pool)
            .await?;
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some(ClaimedDelivery {
            id: row.try_get("id")?,
            tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
            webhook_id,
            event_id: row.try_get("event_id")?,
            subject_id: SubjectId::new(row.try_get::<String, _>("subject_id")?),
            url: hook.try_get("url")?,
            secret: hook.try_get("secret")?,
            payload: row.try_get("payload")?,
            attempts: count(attempts),
        }))
    }

    /// Records that the receiver took `d` (answered `status`), with an audit event of the
    /// disclosure (`webhook.deliver`, by the system, naming the subject), atomically. Returns
    /// false when `worker` no longer held it (its lease ran out and another server took it).
    pub async fn finish_delivery(
        &self,
        d: &ClaimedDelivery,
        worker: &str,
        status: u16,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, last_status = $2, last_error = NULL, locked_by = NULL, \
             finished_at_ms = $3 WHERE id = $4 AND state = $5 AND locked_by = $6",
        )
        .bind(delivery_state::DELIVERED)
        .bind(i64::from(status))
        .bind(now_ms)
        .bind(&d.id)
        .bind(delivery_state::RUNNING)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let actor = Actor {
            tenant_id: Some(d.tenant_id.as_str()),
            principal_id: "system",
            role: "system",
        };
        insert_audit(
            &mut tx,
            &actor,
            "webhook.deliver",
            None,
            Some(d.subject_id.as_str()),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of `d`: pending again at `retry_at_ms`, or dead. Returns false
    /// when `worker` no longer held it.
    pub async fn fail_delivery(
        &self,
        d: &ClaimedDelivery,
        worker: &str,
        failed: FailedAttempt<'_>,
        now_ms: i64,
    ) -> Result<bool> {
        let (state, next, finished) = match failed.retry_at_ms {
            Some(at) => (delivery_state::PENDING, at, None),
            None => (delivery_state::DEAD, now_ms, Some(now_ms)),
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at_ms = $2, last_status = $3, last_error = $4, \
             locked_by = NULL, locked_at_ms = NULL, finished_at_ms = $5 WHERE id = $6 AND state = $7 AND locked_by = $8",
        )
        // Not a cached statement: through the Any driver a NULL status or time is declared with
        // another type than a present one (see `Store::insert_vitals_group`).
        .persistent(false)
        .bind(state)
        .bind(next)
        .bind(failed.status.map(i64::from))
        .bind(failed.error)
        .bind(finished)
        .bind(&d.id)
        .bind(delivery_state::RUNNING)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The dead letters of `tenant_id`, newest first, at most `limit`. Audited as
    /// `webhook.dead_letters` (they name alerts).
    pub async fn list_dead_letters(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<DeadLetter>> {
        let mut tx = self.pool.begin().await?;
        insert_admin_audit(
            &mut tx,
            actor,
            Some(tenant_id),
            "webhook.dead_letters",
            tenant_id.as_str(),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT id, webhook_id, event_id, alert_id, attempts, last_status, last_error, finished_at_ms \
             FROM webhook_deliveries WHERE tenant_id = $1 AND state = $2 \
             ORDER BY finished_at_ms DESC, id LIMIT $3",
        )
        .bind(tenant_id.as_str())
        .bind(delivery_state::DEAD)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = row.try_get("attempts")?;
                let last_error: Option<String> = row.try_get("last_error")?;
                let failed_at: Option<i64> = row.try_get("finished_at_ms")?;
                Ok(DeadLetter {
                    id: row.try_get("id")?,
                    webhook_id: row.try_get("webhook_id")?,
                    event_id: row.try_get("event_id")?,
                    alert_id: row.try_get("alert_id")?,
                    attempts: count(attempts),
                    last_status: row.try_get("last_status")?,
                    last_error: last_error.unwrap_or_default(),
                    failed_at_ms: failed_at.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Puts a dead letter of `tenant_id` back in the queue, due now, with its attempts reset and
    /// its id (the idempotency key) and body kept. Audited as `webhook.replay`. Returns false
    /// when the tenant has no such dead letter of an enabled webhook.
    pub async fn replay_dead_letter(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        delivery_id: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = 0, next_attempt_at_ms = $2, finished_at_ms = NULL \
             WHERE tenant_id = $3 AND id = $4 AND state = $5 \
             AND webhook_id IN (SELECT id FROM webhooks WHERE tenant_id = $3 AND disabled_at_ms IS NULL)",
        )
        .bind(delivery_state::PENDING)
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(delivery_id)
        .bind(delivery_state::DEAD)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_admin_audit(
            &mut tx,
            actor,
            Some(tenant_id),
            "webhook.replay",
            delivery_id,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes delivered and cancelled deliveries finished before `before_ms` (the audit trail
    /// keeps the record of each delivery); returns how many. Dead letters stay until replayed.
    pub async fn purge_deliveries(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state IN ($1, $2) AND finished_at_ms < $3",
        )
        .bind(delivery_state::DELIVERED)
        .bind(delivery_state::CANCELLED)
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The state and attempts of a delivery of `tenant_id` (for operators and tests).
    pub async fn delivery_state(
        &self,
        tenant_id: &TenantId,
        delivery_id: &str,
    ) -> Result<Option<(String, u32)>> {
        let row = sqlx::query(
            "SELECT state, attempts FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some((row.try_get("state")?, count(attempts))))
    }
}

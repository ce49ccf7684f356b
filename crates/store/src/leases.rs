//! Vital-sign monitoring across servers: subject leases, and the relay to a lease's holder.
//!
//! Each resident (tenant, subject) is monitored by exactly one server at a time: the holder of
//! its row in `vital_subject_leases`. A server takes a lease when it first needs the resident's
//! monitor and the lease is free or expired ([`Store::acquire_subject_lease`]), renews all of its
//! leases while it runs ([`Store::renew_subject_leases`]), and gives them up when it evicts a
//! dormant monitor or shuts down. A lease is never taken from a holder before it expires, so a
//! holder that renewed it until `T` may trust it until `T` without asking again. A server that
//! died stops renewing; once its leases expire another server takes them
//! ([`Store::expired_subject_leases`]) and rebuilds the monitors from storage.
//!
//! A server that receives a batch for a resident whose lease another server holds stores the
//! samples and, in the same transaction, a relay row (`VitalsBatchRows::relay`); a nurse's
//! action on such a resident's alert is relayed too ([`Store::relay_action`]) and answered by
//! the holder ([`Store::answer_relay`]). The holder reads what was relayed to the residents it
//! holds ([`Store::relayed_to`]) and deletes each row once handled. Payloads are opaque bytes
//! to the store.

use sqlx::Row;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ids::{SubjectId, TenantId};

/// Whose a subject's lease is after [`Store::acquire_subject_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The caller's, until this time (Unix ms).
    Mine {
        /// When it expires unless renewed.
        expires_at_ms: i64,
    },
    /// Another live server's.
    Held {
        /// The holder.
        server_id: String,
    },
}

/// What a relay row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    /// A batch already stored, for the holder's monitor.
    Batch,
    /// A nurse's action on an alert, answered by the holder.
    Action,
}

impl RelayKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayKind::Batch => "batch",
            RelayKind::Action => "action",
        }
    }

    fn parse(s: &str) -> Result<RelayKind> {
        match s {
            "batch" => Ok(RelayKind::Batch),
            "action" => Ok(RelayKind::Action),
            other => Err(StoreError::Corrupt(format!("unknown relay kind {other:?}"))),
        }
    }
}

/// One relayed item for a lease's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRow {
    /// Its id, increasing in the order relayed.
    pub relay_id: i64,
    /// The resident's tenant.
    pub tenant_id: String,
    /// The resident.
    pub subject_id: String,
    /// What it carries.
    pub kind: RelayKind,
    /// The payload, as the relaying server wrote it.
    pub payload: Vec<u8>,
}

/// A (tenant, subject) pair.
pub type SubjectKey = (String, String);

impl Store {
    /// Takes or renews the lease of a subject for `server_id` until `now_ms + ttl_ms` when it is
    /// free, expired or already the caller's; otherwise says who holds it.
    pub async fn acquire_subject_lease(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        server_id: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Lease> {
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let taken = sqlx::query(
            "INSERT INTO vital_subject_leases (tenant_id, subject_id, server_id, expires_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, subject_id) DO UPDATE SET \
             server_id = excluded.server_id, expires_at_ms = excluded.expires_at_ms \
             WHERE vital_subject_leases.server_id = excluded.server_id \
             OR vital_subject_leases.expires_at_ms <= $5",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(server_id)
        .bind(expires_at_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(Lease::Mine { expires_at_ms });
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT server_id FROM vital_subject_leases WHERE tenant_id = $1 AND subject_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match holder {
            Some(h) if h == server_id => Ok(Lease::Mine { expires_at_ms }),
            Some(server_id) => Ok(Lease::Held { server_id }),
            // Released between the two statements: try once more.
            None => {
                Box::pin(
                    self.acquire_subject_lease(tenant_id, subject_id, server_id, now_ms, ttl_ms),
                )
                .await
            }
        }
    }

    /// Renews every lease `server_id` still holds until `now_ms + ttl_ms` and returns them: a
    /// subject missing from the answer is no longer the caller's (it expired and was taken).
    pub async fn renew_subject_leases(
        &self,
        server_id: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Vec<SubjectKey>> {
        let rows = sqlx::query(
            "UPDATE vital_subject_leases SET expires_at_ms = $1 \
             WHERE server_id = $2 AND expires_at_ms > $3 RETURNING tenant_id, subject_id",
        )
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(server_id)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Gives up one lease of `server_id` (a dormant monitor evicted): the next server that needs
    /// the subject takes it.
    pub async fn release_subject_lease(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        server_id: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM vital_subject_leases \
             WHERE tenant_id = $1 AND subject_id = $2 AND server_id = $3",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(server_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends every lease of `server_id` now (a graceful shutdown), so the other servers take its
    /// subjects over at their next look instead of after the leases' time.
    pub async fn expire_subject_leases(&self, server_id: &str) -> Result<()> {
        sqlx::query("UPDATE vital_subject_leases SET expires_at_ms = 0 WHERE server_id = $1")
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Subjects whose lease expired (their holder stopped renewing), oldest expiry first, at most
    /// `limit`.
    pub async fn expired_subject_leases(&self, now_ms: i64, limit: i64) -> Result<Vec<SubjectKey>> {
        let rows = sqlx::query(
            "SELECT tenant_id, subject_id FROM vital_subject_leases WHERE expires_at_ms <= $1 \
             ORDER BY expires_at_ms, tenant_id, subject_id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Relays a nurse's action on a subject's alert to the subject's lease holder; its answer
    /// is read with [`Store::relay_answer`].
    pub async fn relay_action(
        &self,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        payload: &[u8],
        now_ms: i64,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO vital_relay (tenant_id, subject_id, kind, payload, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING relay_id",
        )
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .bind(RelayKind::Action.as_str())
        .bind(payload)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// What was relayed to the subjects `server_id` holds and is not yet answered, in relay
    /// order, at most `limit`.
    pub async fn relayed_to(&self, server_id: &str, limit: i64) -> Result<Vec<RelayRow>> {
        let rows = sqlx::query(
            "SELECT r.relay_id, r.tenant_id, r.subject_id, r.kind, r.payload FROM vital_relay r \
             JOIN vital_subject_leases l \
             ON l.tenant_id = r.tenant_id AND l.subject_id = r.subject_id \
             WHERE l.server_id = $1 AND r.answer IS NULL ORDER BY r.relay_id LIMIT $2",
        )
        .bind(server_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RelayRow {
                    relay_id: r.try_get(0)?,
                    tenant_id: r.try_get(1)?,
                    subject_id: r.try_get(2)?,
                    kind: RelayKind::parse(&r.try_get::<String, _>(3)?)?,
                    payload: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The holder's answer to a relayed action.
    pub async fn answer_relay(&self, relay_id: i64, answer: &[u8]) -> Result<()> {
        sqlx::query("UPDATE vital_relay SET answer = $1 WHERE relay_id = $2")
            .bind(answer)
            .bind(relay_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The answer to a relayed action, once the holder gave it.
    pub async fn relay_answer(&self, relay_id: i64) -> Result<Option<Vec<u8>>> {
        let answer: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT answer FROM vital_relay WHERE relay_id = $1")
                .bind(relay_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(answer.flatten())
    }

    /// Deletes handled relay rows (batches applied, answers read, actions given up).
    pub async fn delete_relays(&self, relay_ids: &[i64]) -> Result<()> {
        for id in relay_ids {
            sqlx::query("DELETE FROM vital_relay WHERE relay_id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Deletes relay rows written before `before_ms`, whatever became of them (an answer whose
    /// asker died before reading it, a batch for a subject nobody holds any more); returns how
    /// many. Their samples are stored: only a monitor's view of them is given up.
    pub async fn sweep_relays(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM vital_relay WHERE created_at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

//! The audit trail: who read or changed which case, and which administrative change (tenants,
//! principals, tokens) who made, when.
//!
//! Architecture invariant: every read of a person's data writes an event here before the data is
//! returned, and every administrative change writes one in its own transaction. Events are never
//! updated or deleted: the database refuses it (a trigger on `audit_events`).

use sqlx::Row;

use crate::Store;
use crate::db::new_id;
use crate::error::Result;
use crate::ids::{CaseId, SubjectId, TenantId};

/// Who acts.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The actor's tenant (`None` for system administrators).
    pub tenant_id: Option<&'a str>,
    /// The principal.
    pub principal_id: &'a str,
    /// The principal's role.
    pub role: &'a str,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Identifier.
    pub id: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The acting principal.
    pub actor_id: String,
    /// The actor's role then.
    pub actor_role: String,
    /// What was done (`case.get`, ...).
    pub action: String,
    /// The case touched.
    pub recording_id: Option<String>,
    /// The subject whose data was touched.
    pub subject_id: Option<String>,
    /// What an administrative change changed (a tenant or principal id).
    pub target_id: Option<String>,
}

impl Actor<'static> {
    /// The server itself, acting at start (the bootstrap administrator).
    pub const SYSTEM: Actor<'static> = Actor {
        tenant_id: None,
        principal_id: "system",
        role: "system",
    };
}

/// One administrative change, recorded in `tenant_id` (the tenant changed, `None` for system-wide).
pub(crate) async fn insert_admin_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor<'_>,
    tenant_id: Option<&TenantId>,
    action: &str,
    target_id: &str,
    now_ms: i64,
) -> Result<()> {
    insert_admin_audit_about(tx, actor, tenant_id, action, target_id, None, now_ms).await
}

/// One administrative change of `target_id` that concerns a subject (e.g. a device assigned to
/// a resident), recorded in `tenant_id`.
pub(crate) async fn insert_admin_audit_about(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor<'_>,
    tenant_id: Option<&TenantId>,
    action: &str,
    target_id: &str,
    subject_id: Option<&SubjectId>,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, tenant_id, at_ms, actor_id, actor_role, action, target_id, subject_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(tenant_id.map(TenantId::as_str))
    .bind(now_ms)
    .bind(actor.principal_id)
    .bind(actor.role)
    .bind(action)
    .bind(target_id)
    .bind(subject_id.map(SubjectId::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn insert_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor<'_>,
    action: &str,
    recording_id: Option<&str>,
    subject_id: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, tenant_id, at_ms, actor_id, actor_role, action, recording_id, subject_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(actor.tenant_id)
    .bind(now_ms)
    .bind(actor.principal_id)
    .bind(actor.role)
    .bind(action)
    .bind(recording_id)
    .bind(subject_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Writes one audit event for each touched case (or one without a case when `cases` is empty),
    /// atomically.
    pub async fn audit(
        &self,
        actor: &Actor<'_>,
        action: &str,
        cases: &[(CaseId, SubjectId)],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if cases.is_empty() {
            insert_audit(&mut tx, actor, action, None, None, now_ms).await?;
        }
        for (recording_id, subject_id) in cases {
            insert_audit(
                &mut tx,
                actor,
                action,
                Some(recording_id.as_str()),
                Some(subject_id.as_str()),
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Audit events of a tenant, newest first, optionally of one case.
    pub async fn list_audit_events(
        &self,
        tenant_id: &TenantId,
        recording_id: Option<&CaseId>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor_id, actor_role, action, recording_id, subject_id, target_id \
             FROM audit_events \
             WHERE tenant_id = $1 AND ($2 IS NULL OR recording_id = $2) \
             ORDER BY at_ms DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(tenant_id.as_str())
        .bind(recording_id.map(CaseId::as_str))
        .bind(i64::from(limit))
        .bind(crate::db::to_i64(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at_ms: row.try_get("at_ms")?,
                    actor_id: row.try_get("actor_id")?,
                    actor_role: row.try_get("actor_role")?,
                    action: row.try_get("action")?,
                    recording_id: row.try_get("recording_id")?,
                    subject_id: row.try_get("subject_id")?,
                    target_id: row.try_get("target_id")?,
                })
            })
            .collect()
    }
}

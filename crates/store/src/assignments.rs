//! Which device reports vital signs for which subject: a tenant administrator assigns a device
//! principal to subjects, and the server refuses a device's batch for a subject it is not
//! assigned to.
//!
//! Every change is an administrative change and writes its audit event (who, which device,
//! which subject) in the same transaction; a listing is audited too (it names subjects).
//! Every query names the tenant.

use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_admin_audit, insert_admin_audit_about};
use crate::error::Result;
use crate::ids::{DeviceId, SubjectId, TenantId};

/// One device assigned to one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAssignment {
    /// The device principal.
    pub device_id: String,
    /// The subject it reports for.
    pub subject_id: String,
    /// When it was assigned, Unix ms.
    pub assigned_at_ms: i64,
    /// The principal who assigned it.
    pub assigned_by: String,
}

/// Which assignments to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssignmentFilter<'a> {
    /// Only this device's.
    pub device_id: Option<&'a DeviceId>,
    /// Only this subject's.
    pub subject_id: Option<&'a SubjectId>,
}

impl Store {
    /// Assigns a device of the tenant to `subject_ids`; returns how many were not assigned
    /// before. Each new assignment is audited as `device.assign` (target: the device; subject)
    /// in the same transaction; an assignment that already exists changes nothing.
    pub async fn assign_device(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        device_id: &DeviceId,
        subject_ids: &[SubjectId],
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for subject in subject_ids {
            let done = sqlx::query(
                "INSERT INTO device_assignments (tenant_id, device_id, subject_id, assigned_at_ms, assigned_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, device_id, subject_id) DO NOTHING",
            )
            .bind(tenant_id.as_str())
            .bind(device_id.as_str())
            .bind(subject.as_str())
            .bind(now_ms)
            .bind(actor.principal_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                added += 1;
                insert_admin_audit_about(
                    &mut tx,
                    actor,
                    Some(tenant_id),
                    "device.assign",
                    device_id.as_str(),
                    Some(subject),
                    now_ms,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Ends a device's assignment to `subject_ids`; returns how many existed. Each removal is
    /// audited as `device.unassign` in the same transaction.
    pub async fn unassign_device(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        device_id: &DeviceId,
        subject_ids: &[SubjectId],
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0;
        for subject in subject_ids {
            let done = sqlx::query(
                "DELETE FROM device_assignments WHERE tenant_id = $1 AND device_id = $2 AND subject_id = $3",
            )
            .bind(tenant_id.as_str())
            .bind(device_id.as_str())
            .bind(subject.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                removed += 1;
                insert_admin_audit_about(
                    &mut tx,
                    actor,
                    Some(tenant_id),
                    "device.unassign",
                    device_id.as_str(),
                    Some(subject),
                    now_ms,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Every subject a device of the tenant is assigned to. For the server's check of a
    /// device's own batches; not a read by a person, so not audited.
    pub async fn device_subjects(
        &self,
        tenant_id: &TenantId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT subject_id FROM device_assignments WHERE tenant_id = $1 AND device_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("subject_id")?))
            .collect()
    }

    /// The tenant's assignments (optionally of one device and/or one subject), by device then
    /// subject, at most `limit`. Audited as `device.assignments.list` (target: the device asked
    /// for, or the tenant).
    pub async fn list_device_assignments(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        filter: AssignmentFilter<'_>,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<DeviceAssignment>> {
        let mut tx = self.pool.begin().await?;
        insert_admin_audit(
            &mut tx,
            actor,
            Some(tenant_id),
            "device.assignments.list",
            filter
                .device_id
                .map_or(tenant_id.as_str(), DeviceId::as_str),
            now_ms,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT device_id, subject_id, assigned_at_ms, assigned_by FROM device_assignments \
             WHERE tenant_id = $1 AND ($2 = '' OR device_id = $2) AND ($3 = '' OR subject_id = $3) \
             ORDER BY device_id, subject_id LIMIT $4",
        )
        .bind(tenant_id.as_str())
        .bind(filter.device_id.map_or("", DeviceId::as_str))
        .bind(filter.subject_id.map_or("", SubjectId::as_str))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(DeviceAssignment {
                    device_id: row.try_get("device_id")?,
                    subject_id: row.try_get("subject_id")?,
                    assigned_at_ms: row.try_get("assigned_at_ms")?,
                    assigned_by: row.try_get("assigned_by")?,
                })
            })
            .collect()
    }
}

//! Point-of-care blood results of check-up visits: one row per visit and analyte.
//!
//! Entering an analyte again for a visit replaces its row, never adds a second; every write is
//! audited in its own transaction (`visit.labs`, and `visit.labs.replace` when it replaced a
//! stored result). The analyte is kept by its stable name and read back through
//! [`Analyte::parse`]: a name this version does not know is `Corrupt`. The store checks nothing
//! clinical (ranges and units are `auscult-triage`'s) and never decides outcomes.

use auscult_triage::Analyte;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::error::{Result, StoreError};
use crate::ids::{SubjectId, TenantId};

/// A result to store (checked by the caller).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewLab<'a> {
    /// The analyte.
    pub analyte: Analyte,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit as entered (the analyte's).
    pub unit: &'a str,
    /// The sample was taken fasting.
    pub fasting: bool,
    /// When the sample was measured, Unix ms.
    pub measured_at_ms: i64,
}

/// A stored result.
#[derive(Debug, Clone, PartialEq)]
pub struct LabRow {
    /// The visit.
    pub visit_id: String,
    /// The analyte.
    pub analyte: Analyte,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit.
    pub unit: String,
    /// The sample was taken fasting.
    pub fasting: bool,
    /// When measured, Unix ms.
    pub measured_at_ms: i64,
    /// The principal who entered it.
    pub entered_by: String,
    /// When entered, Unix ms.
    pub entered_at_ms: i64,
}

fn lab_from_row(row: &AnyRow) -> Result<LabRow> {
    let analyte: String = row.try_get("analyte")?;
    let fasting: i64 = row.try_get("fasting")?;
    Ok(LabRow {
        visit_id: row.try_get("visit_id")?,
        analyte: Analyte::parse(&analyte)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown analyte {analyte:?}")))?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
        fasting: fasting != 0,
        measured_at_ms: row.try_get("measured_at_ms")?,
        entered_by: row.try_get("entered_by")?,
        entered_at_ms: row.try_get("entered_at_ms")?,
    })
}

impl Store {
    /// Stores a visit's point-of-care results, each replacing the visit's stored result of the
    /// same analyte, all or none. Audited as `visit.labs` for `subject_id`, and as
    /// `visit.labs.replace` too when a stored result was replaced. False when the tenant has no
    /// such visit (nothing stored).
    pub async fn put_visit_labs(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        visit_id: &str,
        subject_id: &SubjectId,
        labs: &[NewLab<'_>],
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let mut replaced = false;
        // Each result starts with its write (no read first: on SQLite a transaction that reads
        // and then writes fails when another writer committed in between); the primary key
        // catches a racing insert of the same analyte.
        for lab in labs {
            let updated = sqlx::query(
                "UPDATE program_visit_labs SET value = $1, unit = $2, fasting = $3, measured_at_ms = $4, \
                 entered_by = $5, entered_at_ms = $6 WHERE tenant_id = $7 AND visit_id = $8 AND analyte = $9",
            )
            .bind(lab.value)
            .bind(lab.unit)
            .bind(i64::from(lab.fasting))
            .bind(lab.measured_at_ms)
            .bind(actor.principal_id)
            .bind(now_ms)
            .bind(tenant_id.as_str())
            .bind(visit_id)
            .bind(lab.analyte.as_str())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                replaced = true;
                continue;
            }
            let inserted = sqlx::query(
                "INSERT INTO program_visit_labs (visit_id, tenant_id, analyte, value, unit, fasting, \
                 measured_at_ms, entered_by, entered_at_ms) \
                 SELECT v.id, v.tenant_id, $1, $2, $3, $4, $5, $6, $7 FROM program_visits v \
                 WHERE v.tenant_id = $8 AND v.id = $9",
            )
            .bind(lab.analyte.as_str())
            .bind(lab.value)
            .bind(lab.unit)
            .bind(i64::from(lab.fasting))
            .bind(lab.measured_at_ms)
            .bind(actor.principal_id)
            .bind(now_ms)
            .bind(tenant_id.as_str())
            .bind(visit_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::unique_as(e, "visit lab result") {
                StoreError::AlreadyExists(_) => {
                    StoreError::Conflict("lab result entered concurrently")
                }
                other => other,
            })?;
            if inserted.rows_affected() != 1 {
                return Ok(false);
            }
        }
        if labs.is_empty() {
            let visit =
                sqlx::query("SELECT id FROM program_visits WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id.as_str())
                    .bind(visit_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if visit.is_none() {
                return Ok(false);
            }
        }
        insert_audit(
            &mut tx,
            actor,
            "visit.labs",
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        if replaced {
            insert_audit(
                &mut tx,
                actor,
                "visit.labs.replace",
                None,
                Some(subject_id.as_str()),
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The point-of-care results of a programme's visits (or of one visit), by visit and in the
    /// order of [`Analyte::ALL`] (not audited: the caller audits what it returns).
    pub async fn list_visit_labs(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        visit_id: Option<&str>,
    ) -> Result<Vec<LabRow>> {
        let rows = sqlx::query(
            "SELECT l.visit_id, l.analyte, l.value, l.unit, l.fasting, l.measured_at_ms, l.entered_by, \
             l.entered_at_ms FROM program_visit_labs l \
             JOIN program_visits v ON v.tenant_id = l.tenant_id AND v.id = l.visit_id \
             WHERE l.tenant_id = $1 AND v.program_id = $2 AND ($3 IS NULL OR l.visit_id = $3) \
             ORDER BY l.visit_id",
        )
        .bind(tenant_id.as_str())
        .bind(program_id)
        .bind(visit_id)
        .fetch_all(&self.pool)
        .await?;
        let mut labs = rows.iter().map(lab_from_row).collect::<Result<Vec<_>>>()?;
        labs.sort_by(|a, b| {
            (a.visit_id.as_str(), a.analyte).cmp(&(b.visit_id.as_str(), b.analyte))
        });
        Ok(labs)
    }
}

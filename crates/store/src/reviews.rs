//! Clinicians' reviews of cases.
//!
//! A review is written together with the case's review counters and an audit event, atomically,
//! and only for a complete case of the reviewer's own tenant.

use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_audit};
use crate::db::new_id;
use crate::error::{Result, StoreError};
use crate::ids::{CaseId, TenantId};
use crate::recordings::state;

/// A review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    /// Identifier.
    pub id: String,
    /// The case.
    pub recording_id: String,
    /// The reviewer.
    pub reviewer_id: String,
    /// `agree` or `disagree`.
    pub verdict: String,
    /// Free text.
    pub findings: String,
    /// Refer the subject.
    pub refer: bool,
    /// Ask for a new recording.
    pub request_rerecording: bool,
    /// When, Unix ms.
    pub created_at_ms: i64,
}

/// What a reviewer submits.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    /// The case.
    pub recording_id: &'a CaseId,
    /// `agree` or `disagree`.
    pub verdict: &'a str,
    /// Free text.
    pub findings: &'a str,
    /// Refer the subject.
    pub refer: bool,
    /// Ask for a new recording.
    pub request_rerecording: bool,
}

impl Store {
    /// Stores a review of a complete case of the actor's tenant. Returns `None` when there is no
    /// such case.
    pub async fn submit_review(
        &self,
        tenant_id: &TenantId,
        actor: &Actor<'_>,
        review: &NewReview<'_>,
        now_ms: i64,
    ) -> Result<Option<ReviewRow>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE recordings SET review_count = review_count + 1, last_verdict = $1 \
             WHERE tenant_id = $2 AND id = $3 AND state = $4",
        )
        .bind(review.verdict)
        .bind(tenant_id.as_str())
        .bind(review.recording_id.as_str())
        .bind(state::COMPLETE)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let subject: String =
            sqlx::query("SELECT subject_id FROM recordings WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.as_str())
                .bind(review.recording_id.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("subject_id")?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO reviews (id, tenant_id, recording_id, reviewer_id, verdict, findings, refer, \
             request_rerecording, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(tenant_id.as_str())
        .bind(review.recording_id.as_str())
        .bind(actor.principal_id)
        .bind(review.verdict)
        .bind(review.findings)
        .bind(i64::from(review.refer))
        .bind(i64::from(review.request_rerecording))
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Database)?;
        insert_audit(
            &mut tx,
            actor,
            "case.review",
            Some(review.recording_id.as_str()),
            Some(&subject),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ReviewRow {
            id,
            recording_id: review.recording_id.as_str().to_owned(),
            reviewer_id: actor.principal_id.to_owned(),
            verdict: review.verdict.to_owned(),
            findings: review.findings.to_owned(),
            refer: review.refer,
            request_rerecording: review.request_rerecording,
            created_at_ms: now_ms,
        }))
    }

    /// The reviews of a case of a tenant, oldest first.
    pub async fn list_reviews(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
    ) -> Result<Vec<ReviewRow>> {
        let rows = sqlx::query(
            "SELECT id, recording_id, reviewer_id, verdict, findings, refer, request_rerecording, created_at_ms \
             FROM reviews WHERE tenant_id = $1 AND recording_id = $2 ORDER BY created_at_ms, id",
        )
        .bind(tenant_id.as_str())
        .bind(recording_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let refer: i64 = row.try_get("refer")?;
                let rerecord: i64 = row.try_get("request_rerecording")?;
                Ok(ReviewRow {
                    id: row.try_get("id")?,
                    recording_id: row.try_get("recording_id")?,
                    reviewer_id: row.try_get("reviewer_id")?,
                    verdict: row.try_get("verdict")?,
                    findings: row.try_get("findings")?,
                    refer: refer != 0,
                    request_rerecording: rerecord != 0,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect()
    }
}

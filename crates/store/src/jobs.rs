//! The durable analysis job queue.
//!
//! A job is claimed by one worker at a time: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
//! servers can share the queue; on SQLite by a single atomic `UPDATE ... RETURNING` (one writer).
//! Only a job with attempts left (`attempts < max_attempts`) is claimed. A claimed job holds a
//! lease that its worker extends ([`Store::extend_lease`]) while it analyses; a job whose lease ran
//! out (its process died) is put back while it has attempts left, and failed for good when it has
//! none, with the recording marked failed so clinicians see it, never requeued forever.

use sqlx::Row;

use crate::Store;
use crate::db::Backend;
use crate::error::Result;
use crate::ids::{CaseId, TenantId};
use crate::recordings::analysis_state;

/// Job states.
pub mod job_state {
    /// Waiting for a worker (possibly until `run_after`).
    pub const QUEUED: &str = "queued";
    /// Claimed by a worker.
    pub const RUNNING: &str = "running";
    /// Finished successfully.
    pub const DONE: &str = "done";
    /// Gave up after the last attempt.
    pub const FAILED: &str = "failed";
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// Job id.
    pub id: String,
    /// The tenant of the recording.
    pub tenant_id: TenantId,
    /// The recording to analyse.
    pub recording_id: CaseId,
    /// Attempts including this one.
    pub attempts: u32,
}

/// A job as stored (for operators and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Job id.
    pub id: String,
    /// One of [`job_state`].
    pub state: String,
    /// Attempts so far (claims, including a running one).
    pub attempts: u32,
    /// The worker holding it while it runs.
    pub locked_by: Option<String>,
    /// When its lease was last taken or extended, Unix ms, while it runs.
    pub locked_at_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// What [`Store::recover_jobs`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    /// Jobs put back in the queue (attempts left).
    pub requeued: u64,
    /// Jobs failed for good (no attempts left); their recordings are marked failed.
    pub failed: u64,
}

/// How a job that ran out of attempts without an answer is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Exhausted<'a> {
    /// The reason clinicians see on the case.
    pub error: &'a str,
    /// The case's worklist priority once failed.
    pub priority: i64,
}

/// The result of analysing a recording, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOutcome {
    /// JSON of [`crate::analysis::StoredAnalysis`].
    pub analysis_json: String,
    /// The engine's flag.
    pub flagged: bool,
    /// `present`, `absent` or `unknown`.
    pub murmur_status: String,
    /// Heart rate if measured.
    pub heart_rate_bpm: Option<f64>,
    /// Worklist priority.
    pub priority: i64,
}

impl Store {
    /// Claims the oldest ready job with fewer than `max_attempts` attempts for `worker`, if any.
    pub async fn claim_job(
        &self,
        worker: &str,
        now_ms: i64,
        max_attempts: u32,
    ) -> Result<Option<ClaimedJob>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE analysis_jobs SET state = $1, attempts = attempts + 1, locked_by = $2, locked_at_ms = $3 \
             WHERE id = (SELECT id FROM analysis_jobs WHERE state = $4 AND run_after_ms <= $3 \
             AND attempts < $5 ORDER BY run_after_ms, id LIMIT 1{lock}) \
             RETURNING id, tenant_id, recording_id, attempts"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(job_state::RUNNING)
            .bind(worker)
            .bind(now_ms)
            .bind(job_state::QUEUED)
            .bind(i64::from(max_attempts))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some(ClaimedJob {
            id: row.try_get("id")?,
            tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
            recording_id: CaseId::new(row.try_get::<String, _>("recording_id")?),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        }))
    }

    /// Stores a successful analysis and closes the job, atomically. Returns false when the job was
    /// no longer held by `worker` (its lease ran out and another worker took it).
    pub async fn finish_job(
        &self,
        job: &ClaimedJob,
        worker: &str,
        outcome: &AnalysisOutcome,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE analysis_jobs SET state = $1, locked_by = NULL WHERE id = $2 AND state = $3 AND locked_by = $4",
        )
        .bind(job_state::DONE)
        .bind(&job.id)
        .bind(job_state::RUNNING)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE recordings SET analysis_state = $1, analysis_json = $2, analysed_at_ms = $3, flagged = $4, \
             murmur_status = $5, heart_rate_bpm = $6, priority = $7, analysis_error = NULL \
             WHERE tenant_id = $8 AND id = $9",
        )
        .bind(analysis_state::DONE)
        .bind(&outcome.analysis_json)
        .bind(now_ms)
        .bind(i64::from(outcome.flagged))
        .bind(&outcome.murmur_status)
        .bind(outcome.heart_rate_bpm)
        .bind(outcome.priority)
        .bind(job.tenant_id.as_str())
        .bind(job.recording_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt: the job is queued again at `retry_at_ms`, or, when `retry_at_ms`
    /// is `None`, failed for good (and the recording marked failed with `error`).
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        worker: &str,
        error: &str,
        retry_at_ms: Option<i64>,
        failed_priority: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (state, run_after) = match retry_at_ms {
            Some(at) => (job_state::QUEUED, at),
            None => (job_state::FAILED, 0),
        };
        let done = sqlx::query(
            "UPDATE analysis_jobs SET state = $1, run_after_ms = $2, last_error = $3, locked_by = NULL, \
             locked_at_ms = NULL WHERE id = $4 AND state = $5 AND locked_by = $6",
        )
        .bind(state)
        .bind(run_after)
        .bind(error)
        .bind(&job.id)
        .bind(job_state::RUNNING)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 && retry_at_ms.is_none() {
            sqlx::query(
                "UPDATE recordings SET analysis_state = $1, analysis_error = $2, priority = $3 \
                 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(analysis_state::FAILED)
            .bind(error)
            .bind(failed_priority)
            .bind(job.tenant_id.as_str())
            .bind(job.recording_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Extends the lease of a job `worker` is running to `now_ms`. Returns false when the job is
    /// no longer held by `worker` (its lease ran out and it was put back or taken over).
    pub async fn extend_lease(&self, job: &ClaimedJob, worker: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE analysis_jobs SET locked_at_ms = $1 WHERE id = $2 AND state = $3 AND locked_by = $4",
        )
        .bind(now_ms)
        .bind(&job.id)
        .bind(job_state::RUNNING)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Jobs left running by a worker that died (on SQLite, one process, every running job at
    /// start; on PostgreSQL those whose lease, `locked_at_ms`, is older than `stale_before_ms`) are
    /// put back when they have attempts left; those with none, and queued jobs with none (after
    /// `max_attempts` was lowered), are failed with `exhausted` and their recordings marked failed.
    pub async fn recover_jobs(
        &self,
        stale_before_ms: i64,
        at_start: bool,
        max_attempts: u32,
        exhausted: Exhausted<'_>,
    ) -> Result<Recovered> {
        let cutoff = if at_start && self.backend == Backend::Sqlite {
            i64::MAX
        } else {
            stale_before_ms
        };
        let max = i64::from(max_attempts);
        let mut tx = self.pool.begin().await?;
        // Jobs first, then their recordings: the order `finish_job` locks them in. A job finished
        // meanwhile no longer matches the condition and is left alone.
        let failed = sqlx::query(
            "UPDATE analysis_jobs SET state = $1, last_error = $2, locked_by = NULL, locked_at_ms = NULL \
             WHERE attempts >= $3 AND ((state = $4 AND locked_at_ms < $5) OR state = $6) \
             RETURNING tenant_id, recording_id",
        )
        .bind(job_state::FAILED)
        .bind(exhausted.error)
        .bind(max)
        .bind(job_state::RUNNING)
        .bind(cutoff)
        .bind(job_state::QUEUED)
        .fetch_all(&mut *tx)
        .await?;
        for row in &failed {
            let tenant_id: String = row.try_get("tenant_id")?;
            let recording_id: String = row.try_get("recording_id")?;
            sqlx::query(
                "UPDATE recordings SET analysis_state = $1, analysis_error = $2, priority = $3 \
                 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(analysis_state::FAILED)
            .bind(exhausted.error)
            .bind(exhausted.priority)
            .bind(&tenant_id)
            .bind(&recording_id)
            .execute(&mut *tx)
            .await?;
        }
        let requeued = sqlx::query(
            "UPDATE analysis_jobs SET state = $1, locked_by = NULL, locked_at_ms = NULL \
             WHERE state = $2 AND locked_at_ms < $3 AND attempts < $4",
        )
        .bind(job_state::QUEUED)
        .bind(job_state::RUNNING)
        .bind(cutoff)
        .bind(max)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Recovered {
            requeued: requeued.rows_affected(),
            failed: failed.len() as u64,
        })
    }

    /// The analysis job of a recording, if it has one.
    pub async fn job_of_recording(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
    ) -> Result<Option<JobRow>> {
        let row = sqlx::query(
            "SELECT id, state, attempts, locked_by, locked_at_ms, last_error FROM analysis_jobs \
             WHERE tenant_id = $1 AND recording_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(recording_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some(JobRow {
            id: row.try_get("id")?,
            state: row.try_get("state")?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            locked_by: row.try_get("locked_by")?,
            locked_at_ms: row.try_get("locked_at_ms")?,
            last_error: row.try_get("last_error")?,
        }))
    }
}

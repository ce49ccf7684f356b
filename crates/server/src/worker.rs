//! Analysis workers: claim a job, read the recording, run the `dsp` engine, store the result.
//!
//! Failures of storage are retried with exponential backoff; an engine error (the recording
//! cannot be analysed at all) or a panic in the engine fails the attempt the same way, and after
//! the last attempt the case is marked failed and stays on the worklist. While a worker analyses it
//! extends the job's lease every third of the lease ([`keep_lease`]), so a long analysis is not
//! taken over by another server; jobs left running by a dead process are put back by
//! `recover_jobs`, or failed with [`EXHAUSTED_ERROR`] once they have used every attempt. Workers
//! stop between jobs on shutdown.

use std::sync::Arc;
use std::time::Duration;

use auscult_dsp as dsp;
use auscult_store::StoreError;
use auscult_store::analysis::StoredAnalysis;
use auscult_store::jobs::{AnalysisOutcome, ClaimedJob, Exhausted};
use auscult_store::now_ms;
use auscult_triage::AnalysisSummary;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

use crate::cases::{self, StoredEcg};
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Priority of a case whose analysis failed: above routine, below flagged.
pub const FAILED_PRIORITY: i64 = auscult_triage::Priority::FAILED.0;

/// What clinicians read on a case whose analysis job used every attempt without an answer (each
/// time the server running it stopped, or lost its lease, before it finished).
pub const EXHAUSTED_ERROR: &str = "the analysis did not finish: every attempt was interrupted \
     (the server running it stopped before it finished); the recording is stored and can be \
     reviewed without an automatic analysis";

/// How a job that used every attempt without an answer is recorded.
pub const EXHAUSTED: Exhausted<'static> = Exhausted {
    error: EXHAUSTED_ERROR,
    priority: FAILED_PRIORITY,
};

/// Worklist priority of an analysis, by the triage rule (`auscult_triage::priority`).
pub fn priority(a: &StoredAnalysis) -> i64 {
    auscult_triage::priority(&AnalysisSummary {
        flagged: a.flagged,
        murmur: Some(a.murmur.status),
        grade: a.murmur.grade,
        confidence: a.murmur.confidence,
    })
    .0
}

/// Why one attempt failed.
enum AttemptError {
    /// Storage or I/O: worth retrying.
    Transient(String),
    /// The engine refused the recording or panicked.
    Engine(String),
}

async fn analyse(
    state: &AppState,
    job: &ClaimedJob,
) -> std::result::Result<AnalysisOutcome, AttemptError> {
    let transient = |e: ServerError| AttemptError::Transient(e.to_string());
    let row = state
        .store
        .get_recording(&job.tenant_id, &job.recording_id)
        .await
        .map_err(|e| transient(e.into()))?
        .ok_or_else(|| AttemptError::Engine("recording missing".into()))?;
    // A stored recording the engine cannot read (a format it does not know) will not read on
    // a retry either; storage that fails might.
    let read = |e: ServerError| match e {
        ServerError::Store(StoreError::Corrupt(_)) => AttemptError::Engine(e.to_string()),
        other => transient(other),
    };
    let (pcg, pcg_rate) = cases::pcg_samples(state, &row).await.map_err(read)?;
    let ecg = cases::ecg(state, &row).await.map_err(read)?;
    let result = state
        .engine
        .run(move || {
            let peaks: Vec<dsp::Seconds> = match &ecg {
                StoredEcg::RPeaks(p) => p.iter().map(|&t| dsp::Seconds(t)).collect(),
                _ => Vec::new(),
            };
            let ecg_input = match &ecg {
                StoredEcg::Samples { samples, rate_hz } => Some(dsp::EcgInput::Raw(dsp::Signal {
                    samples,
                    rate: dsp::Hz(f64::from(*rate_hz)),
                })),
                StoredEcg::RPeaks(_) => Some(dsp::EcgInput::RPeaks(&peaks)),
                StoredEcg::None => None,
            };
            let recording = dsp::Recording {
                pcg: dsp::Signal {
                    samples: &pcg,
                    rate: dsp::Hz(f64::from(pcg_rate)),
                },
                ecg: ecg_input,
            };
            dsp::analyze(&recording).map(|a| StoredAnalysis::from(&a))
        })
        .await;
    let stored = match result {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            return Err(AttemptError::Engine(format!(
                "engine refused the recording: {e}"
            )));
        }
        Err(e) => return Err(AttemptError::Engine(e.to_string())),
    };
    Ok(AnalysisOutcome {
        analysis_json: stored.to_json().map_err(|e| transient(e.into()))?,
        flagged: stored.flagged,
        murmur_status: stored.murmur.status.as_str().to_owned(),
        heart_rate_bpm: stored.heart_rate_bpm,
        priority: priority(&stored),
    })
}

/// Extends `job`'s lease every third of the lease while the worker analyses; returns only when
/// the lease was lost (the job was put back or taken over by another server), so the caller can
/// stop the attempt. A failed extension is retried at the next tick: the lease outlasts two.
pub async fn keep_lease(state: &AppState, job: &ClaimedJob, worker: &str) {
    let every = Duration::from_millis((state.config.job_lease_ms / 3).max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match state.store.extend_lease(job, worker, now_ms()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "extending a job's lease failed")
            }
        }
    }
}

async fn run_job(state: &AppState, worker: &str, job: ClaimedJob) -> Result<()> {
    let attempt = tokio::select! {
        result = analyse(state, &job) => result,
        () = keep_lease(state, &job, worker) => {
            tracing::warn!(job_id = %job.id, "lost the lease of a running job; another worker has it");
            return Ok(());
        }
    };
    match attempt {
        Ok(outcome) => {
            if state
                .store
                .finish_job(&job, worker, &outcome, now_ms())
                .await?
            {
                state.metrics.analyses_done.fetch_add(1, Ordering::Relaxed);
                tracing::info!(case_id = %job.recording_id, flagged = outcome.flagged, "analysis stored");
            }
        }
        Err(AttemptError::Transient(message) | AttemptError::Engine(message)) => {
            state
                .metrics
                .analyses_failed
                .fetch_add(1, Ordering::Relaxed);
            let retry_at = (job.attempts < state.config.job_max_attempts).then(|| {
                let shift = job.attempts.saturating_sub(1).min(16);
                let delay = state.config.job_retry_base_ms.saturating_mul(1u64 << shift);
                now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
            });
            tracing::warn!(case_id = %job.recording_id, attempt = job.attempts, retry = retry_at.is_some(), error = %message, "analysis failed");
            state
                .store
                .fail_job(&job, worker, &message, retry_at, FAILED_PRIORITY)
                .await?;
        }
    }
    Ok(())
}

/// One worker's loop, until `shutdown` turns true.
pub async fn run_worker(state: Arc<AppState>, worker: String, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(state.config.job_poll_ms);
    while !*shutdown.borrow() {
        let claimed = state
            .store
            .claim_job(&worker, now_ms(), state.config.job_max_attempts)
            .await;
        match claimed {
            Ok(Some(job)) => {
                if let Err(e) = run_job(&state, &worker, job).await {
                    tracing::error!(error = %e, "storing an analysis failed");
                    tokio::time::sleep(poll).await;
                }
            }
            Ok(None) => {
                tokio::select! {
                    () = state.jobs_ready.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a job failed");
                tokio::time::sleep(poll).await;
            }
        }
    }
}

/// How often a server deletes abandoned uploads (`abandoned_upload_days`); the first sweep runs
/// a minute after start.
pub const UPLOAD_EXPIRY_EVERY: Duration = Duration::from_secs(3600);

/// Deletes uploads older than `abandoned_upload_days` that never completed, every
/// [`UPLOAD_EXPIRY_EVERY`], until shutdown. Several servers may sweep at once: each upload is
/// deleted by one transaction that re-checks it.
pub async fn run_upload_expiry(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let days = i64::from(state.config.abandoned_upload_days);
    if days == 0 {
        return;
    }
    let mut wait = Duration::from_secs(60);
    while !*shutdown.borrow() {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
        wait = UPLOAD_EXPIRY_EVERY;
        match expire_abandoned_uploads(&state, days, now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(uploads = n, days, "deleted uploads never completed"),
            Err(e) => tracing::error!(error = %e, "deleting abandoned uploads failed"),
        }
    }
}

/// Deletes every upload started more than `days` before `now_ms` that never completed, a page
/// at a time; returns how many.
pub async fn expire_abandoned_uploads(state: &AppState, days: i64, now_ms: i64) -> Result<usize> {
    const PAGE: i64 = 100;
    let cutoff = now_ms.saturating_sub(days.saturating_mul(86_400_000));
    let mut total = 0;
    loop {
        let expired = state
            .store
            .expire_abandoned_uploads(cutoff, PAGE, now_ms)
            .await?;
        total += expired.len();
        if (expired.len() as i64) < PAGE {
            return Ok(total);
        }
    }
}

/// Puts back jobs whose lease ran out (failing those with no attempt left), periodically, until
/// shutdown.
pub async fn run_recovery(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let lease = i64::try_from(state.config.job_lease_ms).unwrap_or(i64::MAX);
    let every = Duration::from_millis((state.config.job_lease_ms / 2).max(500));
    while !*shutdown.borrow() {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => break,
        }
        let stale_before = now_ms().saturating_sub(lease);
        if let Err(e) = recover(&state, stale_before, false).await {
            tracing::error!(error = %e, "recovering jobs failed");
        }
    }
}

/// Puts back the jobs whose lease ended before `stale_before_ms` (every running job at start on
/// SQLite), fails those with no attempt left, logs what it did and wakes idle workers.
pub async fn recover(state: &AppState, stale_before_ms: i64, at_start: bool) -> Result<()> {
    let recovered = state
        .store
        .recover_jobs(
            stale_before_ms,
            at_start,
            state.config.job_max_attempts,
            EXHAUSTED,
        )
        .await?;
    if recovered.failed > 0 {
        tracing::warn!(
            jobs = recovered.failed,
            "failed analysis jobs whose lease ran out on their last attempt"
        );
    }
    if recovered.requeued > 0 {
        tracing::warn!(
            jobs = recovered.requeued,
            "put back analysis jobs whose lease ran out (their server stopped)"
        );
        state.jobs_ready.notify_waiters();
    }
    Ok(())
}

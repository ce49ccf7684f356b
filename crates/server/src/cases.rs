//! The clinicians' case calls, shared by the gRPC `ReviewService` ([`crate::review`]) and the web
//! console ([`crate::web`]): one copy of who may do what, of the tenant scoping and of the audit.
//!
//! Every function takes the authenticated [`Caller`] and takes the tenant from it, never from the
//! request; a case of another tenant is [`ServerError::NotFound`], like a missing one. Every read
//! of a person's data is audited before it is returned. This module speaks domain types (store
//! rows, the stored analysis), never protobuf or HTML.

use auscult_store::analysis::StoredAnalysis;
use auscult_store::audit::AuditEvent;
use auscult_store::recordings::{
    CaseFilter, CaseKey, EcgMode, RecordingRow, StreamKind, analysis_state, state,
};
use auscult_store::reviews::{NewReview, ReviewRow};
use auscult_store::{CaseId, SubjectId, TenantId, now_ms};

use crate::auth::{Caller, Role};
use crate::error::{Result, ServerError};
use crate::parts::StreamParts;
use crate::review::cases_token;
use crate::samples;
use crate::state::AppState;

/// Who may read cases.
pub const READERS: &[Role] = &[Role::Clinician, Role::Nurse];
/// Who may read the audit trail.
pub const AUDITORS: &[Role] = &[Role::Clinician, Role::Admin];
/// Who may review.
pub const REVIEWERS: &[Role] = &[Role::Clinician];
/// The largest page of cases or audit events.
pub const MAX_PAGE: u32 = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;
/// The longest findings text, characters.
pub const MAX_FINDINGS: usize = 10_000;

/// A page size asked for (0: the default), checked.
pub fn page_size(requested: u32) -> Result<u32> {
    match requested {
        0 => Ok(DEFAULT_PAGE),
        n if n <= MAX_PAGE => Ok(n),
        _ => Err(ServerError::InvalidArgument(format!(
            "page_size must be at most {MAX_PAGE}"
        ))),
    }
}

/// A case and its subject, as the audit trail names them ([`auscult_store::Store::audit`]).
pub fn audited(row: &RecordingRow) -> (CaseId, SubjectId) {
    (
        CaseId::new(row.id.as_str()),
        SubjectId::new(row.meta.subject_id.as_str()),
    )
}

/// A complete case of the tenant, or NOT_FOUND (also for ids no case could have).
pub async fn complete_case(
    state: &AppState,
    tenant_id: &TenantId,
    case_id: &str,
) -> Result<RecordingRow> {
    if case_id.is_empty() || case_id.len() > 64 {
        return Err(ServerError::NotFound("case"));
    }
    match state
        .store
        .get_recording(tenant_id, &CaseId::new(case_id))
        .await?
    {
        Some(row) if row.state == state::COMPLETE => Ok(row),
        _ => Err(ServerError::NotFound("case")),
    }
}

/// One page of the worklist.
#[derive(Debug, Clone)]
pub struct CasePage {
    /// The cases, in worklist order (priority, then newest).
    pub rows: Vec<RecordingRow>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

/// The worklist of the caller's tenant: one page of `filter` after `page_token` (keyset paging,
/// [`cases_token`]), audited as `case.list` with every case shown.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &CaseFilter,
    page_token: &str,
    requested_size: u32,
) -> Result<CasePage> {
    let tenant_id = caller.tenant_with(READERS)?;
    let size = page_size(requested_size)?;
    let fingerprint = cases_token::filter_fingerprint(filter);
    let after = cases_token::decode(page_token, &fingerprint)?;
    // One row more than the page tells whether another page follows.
    let mut rows = state
        .store
        .list_cases(tenant_id, filter, after.as_ref(), size + 1)
        .await?;
    let next_page_token = if rows.len() > size as usize {
        rows.truncate(size as usize);
        rows.last()
            .map(|last| cases_token::encode(&CaseKey::of(last), &fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let touched: Vec<(CaseId, SubjectId)> = rows.iter().map(audited).collect();
    state
        .store
        .audit(&caller.actor(), "case.list", &touched, now_ms())
        .await?;
    Ok(CasePage {
        rows,
        next_page_token,
    })
}

/// The fingerprint of the caller's tenant's worklist ([`auscult_store::Store::worklist_version`]):
/// a poller re-lists (and audits) cases only when it changed.
pub async fn worklist_version(state: &AppState, caller: &Caller) -> Result<String> {
    let tenant_id = caller.tenant_with(READERS)?;
    Ok(state.store.worklist_version(tenant_id).await?)
}

/// A case with its analysis and reviews.
#[derive(Debug, Clone)]
pub struct CaseView {
    /// The recording.
    pub row: RecordingRow,
    /// The engine's analysis, when done.
    pub analysis: Option<StoredAnalysis>,
    /// Its reviews, oldest first.
    pub reviews: Vec<ReviewRow>,
}

/// One case of the caller's tenant, audited as `case.get`.
pub async fn get(state: &AppState, caller: &Caller, case_id: &str) -> Result<CaseView> {
    let tenant_id = caller.tenant_with(READERS)?;
    let row = complete_case(state, tenant_id, case_id).await?;
    let reviews = state
        .store
        .list_reviews(tenant_id, &CaseId::new(row.id.as_str()))
        .await?;
    let analysis = match (&row.analysis_json, row.analysis_state.as_str()) {
        (Some(json), analysis_state::DONE) => Some(StoredAnalysis::from_json(json)?),
        _ => None,
    };
    state
        .store
        .audit(&caller.actor(), "case.get", &[audited(&row)], now_ms())
        .await?;
    Ok(CaseView {
        row,
        analysis,
        reviews,
    })
}

/// The case whose audio the caller is about to receive, audited as `case.audio` before any
/// sample is read.
pub async fn open_audio(state: &AppState, caller: &Caller, case_id: &str) -> Result<RecordingRow> {
    let tenant_id = caller.tenant_with(READERS)?;
    let row = complete_case(state, tenant_id, case_id).await?;
    state
        .store
        .audit(&caller.actor(), "case.audio", &[audited(&row)], now_ms())
        .await?;
    Ok(row)
}

/// The PCG of a case (opened with [`open_audio`]) as `f32` samples, with its rate.
pub async fn pcg_samples(state: &AppState, row: &RecordingRow) -> Result<(Vec<f32>, u32)> {
    let parts = StreamParts::list(state, row, StreamKind::Pcg).await?;
    Ok((parts.decode_all(state).await?, row.meta.pcg_rate_hz))
}

/// A recording's ECG as the device sent it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum StoredEcg {
    /// No ECG.
    #[default]
    None,
    /// Raw samples.
    Samples {
        /// The samples.
        samples: Vec<f32>,
        /// Their rate, Hz.
        rate_hz: u32,
    },
    /// R-peak times, s.
    RPeaks(Vec<f64>),
}

/// The ECG of a case (opened with [`open_audio`], or read by the analysis worker).
pub async fn ecg(state: &AppState, row: &RecordingRow) -> Result<StoredEcg> {
    Ok(match row.meta.ecg()? {
        EcgMode::Samples => StoredEcg::Samples {
            samples: StreamParts::list(state, row, StreamKind::Ecg)
                .await?
                .decode_all(state)
                .await?,
            rate_hz: row.meta.ecg_rate_hz,
        },
        EcgMode::RPeaks => {
            let mut parts = StreamParts::list(state, row, StreamKind::RPeaks).await?;
            let mut peaks = Vec::new();
            while let Some(bytes) = parts.next(state).await? {
                peaks.extend(samples::decode_f64(&bytes));
            }
            StoredEcg::RPeaks(peaks)
        }
        EcgMode::None => StoredEcg::None,
    })
}

/// A review to submit.
#[derive(Debug, Clone, Copy)]
pub struct ReviewInput<'a> {
    /// The case.
    pub case_id: &'a str,
    /// `agree` or `disagree`.
    pub verdict: &'a str,
    /// Free text.
    pub findings: &'a str,
    /// Refer the subject.
    pub refer: bool,
    /// Ask for a new recording.
    pub request_rerecording: bool,
}

/// Stores a clinician's review of a case of the caller's tenant (audited as `case.review` by the
/// store, in the same transaction).
pub async fn submit_review(
    state: &AppState,
    caller: &Caller,
    input: ReviewInput<'_>,
) -> Result<ReviewRow> {
    let tenant_id = caller.tenant_with(REVIEWERS)?;
    if !matches!(input.verdict, "agree" | "disagree") {
        return Err(ServerError::InvalidArgument(
            "verdict must be AGREE or DISAGREE".into(),
        ));
    }
    if input.findings.chars().count() > MAX_FINDINGS {
        return Err(ServerError::InvalidArgument(format!(
            "findings must be at most {MAX_FINDINGS} characters"
        )));
    }
    if input.case_id.is_empty() || input.case_id.len() > 64 {
        return Err(ServerError::NotFound("case"));
    }
    let case_id = CaseId::new(input.case_id);
    let review = NewReview {
        recording_id: &case_id,
        verdict: input.verdict,
        findings: input.findings,
        refer: input.refer,
        request_rerecording: input.request_rerecording,
    };
    state
        .store
        .submit_review(tenant_id, &caller.actor(), &review, now_ms())
        .await?
        .ok_or(ServerError::NotFound("case"))
}

/// The audit trail of the caller's tenant (of one case when `case_id` is given; a foreign or
/// missing case is NOT_FOUND), newest first. Reading it is itself audited as `audit.list`, before
/// anything is returned.
pub async fn audit_trail(
    state: &AppState,
    caller: &Caller,
    case_id: Option<&str>,
    offset: u64,
    requested_size: u32,
) -> Result<Vec<AuditEvent>> {
    let tenant_id = caller.tenant_with(AUDITORS)?;
    let case = match case_id {
        None => None,
        Some(id) => Some(audited(&complete_case(state, tenant_id, id).await?)),
    };
    let size = page_size(requested_size)?;
    let touched: Vec<(CaseId, SubjectId)> = case.iter().cloned().collect();
    state
        .store
        .audit(&caller.actor(), "audit.list", &touched, now_ms())
        .await?;
    Ok(state
        .store
        .list_audit_events(
            tenant_id,
            case.as_ref().map(|(case_id, _)| case_id),
            offset,
            size,
        )
        .await?)
}

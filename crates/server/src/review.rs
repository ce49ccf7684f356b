//! `ReviewService`: the worklist, cases, audio, reviews and the audit trail, for clinicians.
//!
//! Architecture invariant: every handler takes the tenant from the caller's token, never from the
//! request, and every store call names it; a case of another tenant is NOT_FOUND, like a missing
//! one. Every read of a person's data is audited before it is returned.

use std::sync::Arc;

use auscult_proto::v1 as pb;
use auscult_proto::v1::review_service_server::ReviewService;
use auscult_store::StoreError;
use auscult_store::analysis::StoredAnalysis;
use auscult_store::now_ms;
use auscult_store::recordings::{
    CaseFilter, CaseKey, CaseStatus, EcgMode, RecordingRow, StreamKind, analysis_state, state,
};
use auscult_store::reviews::NewReview;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, Role, authenticate};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::samples;
use crate::state::AppState;

/// Who may read cases.
const READERS: &[Role] = &[Role::Clinician, Role::Nurse];
/// Who may read the audit trail.
const AUDITORS: &[Role] = &[Role::Clinician, Role::Admin];
const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;
const MAX_FINDINGS: usize = 10_000;
/// Audio data per message, well under any sensible message limit.
const AUDIO_CHUNK_BYTES: usize = 256 * 1024;

/// The review service.
#[derive(Debug, Clone)]
pub struct ReviewApi {
    state: Arc<AppState>,
}

impl ReviewApi {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> ReviewApi {
        ReviewApi { state }
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller> {
        authenticate(&self.state.store, request.metadata()).await
    }

    /// A complete case of the tenant, or NOT_FOUND.
    async fn case(&self, tenant_id: &str, case_id: &str) -> Result<RecordingRow> {
        if case_id.is_empty() || case_id.len() > 64 {
            return Err(ServerError::NotFound("case"));
        }
        match self.state.store.get_recording(tenant_id, case_id).await? {
            Some(row) if row.state == state::COMPLETE => Ok(row),
            _ => Err(ServerError::NotFound("case")),
        }
    }
}

fn page_size(requested: u32) -> Result<u32> {
    match requested {
        0 => Ok(DEFAULT_PAGE),
        n if n <= MAX_PAGE => Ok(n),
        _ => Err(ServerError::InvalidArgument(format!(
            "page_size must be at most {MAX_PAGE}"
        ))),
    }
}

fn page_offset(token: &str) -> Result<u64> {
    convert::page_offset(token)
        .ok_or_else(|| ServerError::InvalidArgument("invalid page_token".into()))
}

impl ReviewApi {
    async fn list_cases_inner(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<pb::ListCasesResponse> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(READERS)?;
        let req = request.get_ref();
        let status = match pb::CaseStatusFilter::try_from(req.status) {
            Ok(pb::CaseStatusFilter::Unspecified) => None,
            Ok(pb::CaseStatusFilter::Flagged) => Some(CaseStatus::Flagged),
            Ok(pb::CaseStatusFilter::Unreviewed) => Some(CaseStatus::Unreviewed),
            Ok(pb::CaseStatusFilter::Reviewed) => Some(CaseStatus::Reviewed),
            Err(_) => return Err(ServerError::InvalidArgument("unknown status filter".into())),
        };
        let site = match req.site {
            0 => None,
            s => Some(
                convert::site_name(s)
                    .ok_or_else(|| ServerError::InvalidArgument("unknown site".into()))?
                    .to_owned(),
            ),
        };
        let filter = CaseFilter {
            status,
            site,
            subject_id: (!req.subject_id.is_empty()).then(|| req.subject_id.clone()),
            from_ms: req.recorded_from.as_ref().map(convert::millis),
            until_ms: req.recorded_until.as_ref().map(convert::millis),
        };
        let size = page_size(req.page_size)?;
        let fingerprint = cases_token::filter_fingerprint(&filter);
        let after = cases_token::decode(&req.page_token, &fingerprint)?;
        // One row more than the page tells whether another page follows.
        let mut rows = self
            .state
            .store
            .list_cases(tenant_id, &filter, after.as_ref(), size + 1)
            .await?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last()
                .map(|last| cases_token::encode(&CaseKey::of(last), &fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let touched: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.meta.subject_id.as_str()))
            .collect();
        self.state
            .store
            .audit(&caller.actor(), "case.list", &touched, now_ms())
            .await?;
        Ok(pb::ListCasesResponse {
            cases: rows.iter().map(convert::case_summary).collect(),
            next_page_token,
        })
    }

    async fn get_case_inner(&self, request: Request<pb::GetCaseRequest>) -> Result<pb::Case> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(READERS)?;
        let row = self.case(tenant_id, &request.get_ref().case_id).await?;
        let reviews = self.state.store.list_reviews(tenant_id, &row.id).await?;
        let analysis = match (&row.analysis_json, row.analysis_state.as_str()) {
            (Some(json), analysis_state::DONE) => Some(convert::analysis(
                &StoredAnalysis::from_json(json)?,
                row.analysed_at_ms,
            )),
            _ => None,
        };
        self.state
            .store
            .audit(
                &caller.actor(),
                "case.get",
                &[(&row.id, &row.meta.subject_id)],
                now_ms(),
            )
            .await?;
        Ok(pb::Case {
            summary: Some(convert::case_summary(&row)),
            recording: Some(convert::recording_info(&row)),
            analysis,
            analysis_error: row.analysis_error.clone().unwrap_or_default(),
            reviews: reviews.iter().map(convert::review).collect(),
        })
    }

    async fn audio_messages(
        &self,
        caller: &Caller,
        request: Request<pb::GetAudioRequest>,
    ) -> Result<(RecordingRow, Vec<pb::AudioChunk>)> {
        let tenant_id = caller.tenant_with(READERS)?.to_owned();
        let req = request.into_inner();
        let format = match pb::AudioFormat::try_from(req.format) {
            Ok(pb::AudioFormat::Unspecified | pb::AudioFormat::Wav) => pb::AudioFormat::Wav,
            Ok(pb::AudioFormat::Samples) => pb::AudioFormat::Samples,
            Err(_) => return Err(ServerError::InvalidArgument("unknown audio format".into())),
        };
        let row = self.case(&tenant_id, &req.case_id).await?;
        self.state
            .store
            .audit(
                &caller.actor(),
                "case.audio",
                &[(&row.id, &row.meta.subject_id)],
                now_ms(),
            )
            .await?;
        let mut messages = vec![pb::AudioChunk {
            kind: Some(pb::audio_chunk::Kind::Header(pb::AudioHeader {
                format: format as i32,
                recording: Some(convert::recording_info(&row)),
            })),
        }];
        let mut streams = vec![(StreamKind::Pcg, pb::SignalStream::Pcg)];
        if req.include_ecg {
            match row.meta.ecg()? {
                EcgMode::Samples => streams.push((StreamKind::Ecg, pb::SignalStream::Ecg)),
                EcgMode::RPeaks => streams.push((StreamKind::RPeaks, pb::SignalStream::RPeaks)),
                EcgMode::None => {}
            }
        }
        for (kind, pb_stream) in streams {
            let mut bytes = Vec::new();
            for part in self.state.store.list_parts(&row.id, kind).await? {
                bytes.extend_from_slice(&self.state.store.blobs.get(&part.object_key).await?);
            }
            if kind == StreamKind::RPeaks {
                let peaks = samples::decode_f64(&bytes);
                for (i, chunk) in peaks.chunks(AUDIO_CHUNK_BYTES / 8).enumerate() {
                    messages.push(audio_data(
                        pb_stream,
                        (i * AUDIO_CHUNK_BYTES / 8) as u64,
                        Vec::new(),
                        chunk.to_vec(),
                    ));
                }
                continue;
            }
            let (sample_format, rate) = if kind == StreamKind::Pcg {
                (Some(row.meta.pcg_sample_format()?), row.meta.pcg_rate_hz)
            } else {
                (row.meta.ecg_sample_format()?, row.meta.ecg_rate_hz)
            };
            let width = sample_format
                .ok_or_else(|| StoreError::Corrupt("ECG samples without a sample format".into()))?
                .width();
            let (payload, unit) = match format {
                pb::AudioFormat::Samples => (bytes, width),
                _ => (samples::wav_s16(&bytes, width, rate)?, 1),
            };
            let step = AUDIO_CHUNK_BYTES - AUDIO_CHUNK_BYTES % width;
            for (i, chunk) in payload.chunks(step).enumerate() {
                messages.push(audio_data(
                    pb_stream,
                    (i * step / unit) as u64,
                    chunk.to_vec(),
                    Vec::new(),
                ));
            }
        }
        Ok((row, messages))
    }

    async fn submit_review_inner(
        &self,
        request: Request<pb::SubmitReviewRequest>,
    ) -> Result<pb::Review> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(&[Role::Clinician])?;
        let req = request.get_ref();
        let verdict = convert::verdict_name(req.verdict).ok_or_else(|| {
            ServerError::InvalidArgument("verdict must be AGREE or DISAGREE".into())
        })?;
        if req.findings.chars().count() > MAX_FINDINGS {
            return Err(ServerError::InvalidArgument(format!(
                "findings must be at most {MAX_FINDINGS} characters"
            )));
        }
        if req.case_id.is_empty() || req.case_id.len() > 64 {
            return Err(ServerError::NotFound("case"));
        }
        let review = NewReview {
            recording_id: &req.case_id,
            verdict,
            findings: &req.findings,
            refer: req.refer,
            request_rerecording: req.request_rerecording,
        };
        let stored = self
            .state
            .store
            .submit_review(tenant_id, &caller.actor(), &review, now_ms())
            .await?
            .ok_or(ServerError::NotFound("case"))?;
        Ok(convert::review(&stored))
    }

    async fn list_audit_inner(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<pb::ListAuditEventsResponse> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(AUDITORS)?;
        let req = request.get_ref();
        let case = if req.case_id.is_empty() {
            None
        } else {
            // Only cases of this tenant have events; a foreign id must look like a missing one.
            Some(self.case(tenant_id, &req.case_id).await?)
        };
        let size = page_size(req.page_size)?;
        let offset = page_offset(&req.page_token)?;
        // Reading the trail is itself audited (with the case when one was asked for), before
        // anything is returned.
        let touched: Vec<(&str, &str)> = case
            .iter()
            .map(|c| (c.id.as_str(), c.meta.subject_id.as_str()))
            .collect();
        self.state
            .store
            .audit(&caller.actor(), "audit.list", &touched, now_ms())
            .await?;
        let case_id = case.map(|c| c.id);
        let events = self
            .state
            .store
            .list_audit_events(tenant_id, case_id.as_deref(), offset, size)
            .await?;
        Ok(pb::ListAuditEventsResponse {
            next_page_token: convert::next_page_token(offset, events.len(), size),
            events: events
                .iter()
                .map(|e| pb::AuditEvent {
                    event_id: e.id.clone(),
                    at: Some(convert::timestamp(e.at_ms)),
                    actor_id: e.actor_id.clone(),
                    actor_role: Role::parse(&e.actor_role)
                        .map_or(pb::Role::Unspecified, convert::role_to_pb)
                        as i32,
                    action: e.action.clone(),
                    case_id: e.recording_id.clone().unwrap_or_default(),
                    subject_id: e.subject_id.clone().unwrap_or_default(),
                    target_id: e.target_id.clone().unwrap_or_default(),
                })
                .collect(),
        })
    }
}

/// ListCases page tokens: an opaque, validated encoding of the last case's worklist key (keyset
/// pagination) and a fingerprint of the filters it was issued for.
///
/// Layout before hex encoding: version byte, priority (i64 BE), start time (i64 BE), 8 bytes of
/// the filter fingerprint, the case id, and the first 8 bytes of SHA-256 over all of that. The
/// checksum catches corrupted or hand-edited tokens and the fingerprint catches a token replayed
/// with other filters; both are INVALID_ARGUMENT. Tokens are not secret and not signed: a forged
/// but well-formed token can only move the cursor within the caller's own tenant, because every
/// query is scoped to the tenant of the caller's credential, never to anything in the token.
/// Decoding is pure and total: any string gives a cursor or INVALID_ARGUMENT, never a panic
/// (`tests/decode_props.rs`).
pub mod cases_token {
    use auscult_store::recordings::{CaseFilter, CaseKey, CaseStatus};
    use sha2::{Digest, Sha256};

    use crate::error::{Result, ServerError};

    const VERSION: u8 = 1;
    const FIXED: usize = 1 + 8 + 8 + 8;
    const CHECK: usize = 8;
    const MAX_ID: usize = 64;

    /// A fingerprint of the filters, so a token only continues the listing it came from.
    pub fn filter_fingerprint(filter: &CaseFilter) -> [u8; 8] {
        let status = match filter.status {
            None => "",
            Some(CaseStatus::Flagged) => "flagged",
            Some(CaseStatus::Unreviewed) => "unreviewed",
            Some(CaseStatus::Reviewed) => "reviewed",
        };
        let mut h = Sha256::new();
        for part in [
            status,
            filter.site.as_deref().unwrap_or(""),
            filter.subject_id.as_deref().unwrap_or(""),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        for bound in [filter.from_ms, filter.until_ms] {
            match bound {
                None => h.update([0u8]),
                Some(ms) => {
                    h.update([1u8]);
                    h.update(ms.to_be_bytes());
                }
            }
        }
        let digest = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }

    fn checksum(body: &[u8]) -> [u8; CHECK] {
        let digest = Sha256::digest(body);
        let mut out = [0u8; CHECK];
        out.copy_from_slice(&digest[..CHECK]);
        out
    }

    /// The token continuing after `key`.
    pub fn encode(key: &CaseKey, fingerprint: &[u8; 8]) -> String {
        let mut body = Vec::with_capacity(FIXED + key.id.len() + CHECK);
        body.push(VERSION);
        body.extend_from_slice(&key.priority.to_be_bytes());
        body.extend_from_slice(&key.started_at_ms.to_be_bytes());
        body.extend_from_slice(fingerprint);
        body.extend_from_slice(key.id.as_bytes());
        let check = checksum(&body);
        body.extend_from_slice(&check);
        body.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn invalid() -> ServerError {
        ServerError::InvalidArgument("invalid page_token".into())
    }

    /// The cursor of a token (`None` for the empty token of the first page).
    pub fn decode(token: &str, fingerprint: &[u8; 8]) -> Result<Option<CaseKey>> {
        if token.is_empty() {
            return Ok(None);
        }
        let max_len = 2 * (FIXED + MAX_ID + CHECK);
        if token.len() > max_len || !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(invalid());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        if bytes.len() < FIXED + 1 + CHECK {
            return Err(invalid());
        }
        let (body, check) = bytes.split_at(bytes.len() - CHECK);
        if checksum(body) != check || body[0] != VERSION {
            return Err(invalid());
        }
        if body[17..25] != fingerprint[..] {
            return Err(ServerError::InvalidArgument(
                "page_token was issued for other filters".into(),
            ));
        }
        let be = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&body[r]);
            i64::from_be_bytes(a)
        };
        let id = std::str::from_utf8(&body[FIXED..]).map_err(|_| invalid())?;
        Ok(Some(CaseKey {
            priority: be(1..9),
            started_at_ms: be(9..17),
            id: id.to_owned(),
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_and_rejects_tampering() {
            let filter = CaseFilter::default();
            let fp = filter_fingerprint(&filter);
            let key = CaseKey {
                priority: -3,
                started_at_ms: 1_780_000_000_000,
                id: "0b5f0a0e-1c1d-4d5e-9f00-000000000001".into(),
            };
            let token = encode(&key, &fp);
            assert_eq!(decode(&token, &fp).ok().flatten(), Some(key));
            assert!(matches!(decode("", &fp), Ok(None)));
            // Flip each hex digit in turn: every single change is caught.
            for i in 0..token.len() {
                let mut t = token.clone().into_bytes();
                t[i] = if t[i] == b'0' { b'1' } else { b'0' };
                let t = String::from_utf8(t).unwrap_or_default();
                assert!(decode(&t, &fp).is_err(), "tampered digit {i} accepted");
            }
            for bad in [
                "o10",
                "zz",
                "0",
                &token[..token.len() - 2],
                &"ab".repeat(200),
            ] {
                assert!(decode(bad, &fp).is_err(), "{bad:?} accepted");
            }
            let other = filter_fingerprint(&CaseFilter {
                subject_id: Some("s".into()),
                ..CaseFilter::default()
            });
            assert_ne!(other, fp);
            assert!(
                decode(&token, &other).is_err(),
                "token replayed on other filters"
            );
        }
    }
}

fn audio_data(
    stream: pb::SignalStream,
    offset: u64,
    data: Vec<u8>,
    r_peaks_s: Vec<f64>,
) -> pb::AudioChunk {
    pb::AudioChunk {
        kind: Some(pb::audio_chunk::Kind::Data(pb::AudioData {
            stream: stream as i32,
            offset,
            data,
            r_peaks_s,
        })),
    }
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> std::result::Result<Response<pb::ListCasesResponse>, Status> {
        Ok(Response::new(self.list_cases_inner(request).await?))
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> std::result::Result<Response<pb::Case>, Status> {
        Ok(Response::new(self.get_case_inner(request).await?))
    }

    type GetAudioStream = ReceiverStream<std::result::Result<pb::AudioChunk, Status>>;

    async fn get_audio(
        &self,
        request: Request<pb::GetAudioRequest>,
    ) -> std::result::Result<Response<Self::GetAudioStream>, Status> {
        let caller = self.caller(&request).await?;
        let (_row, messages) = self.audio_messages(&caller, request).await?;
        let (tx, rx) = mpsc::channel(4);
        let mut token = self.state.token_watch(&caller);
        tokio::spawn(async move {
            for message in messages {
                let sent = tokio::select! {
                    biased;
                    ended = token.ended() => {
                        let _ = tx.send(Err(Status::from(ended))).await;
                        return;
                    }
                    sent = tx.send(Ok(message)) => sent,
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn submit_review(
        &self,
        request: Request<pb::SubmitReviewRequest>,
    ) -> std::result::Result<Response<pb::Review>, Status> {
        Ok(Response::new(self.submit_review_inner(request).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> std::result::Result<Response<pb::ListAuditEventsResponse>, Status> {
        Ok(Response::new(self.list_audit_inner(request).await?))
    }
}

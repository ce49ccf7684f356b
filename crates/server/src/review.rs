//! `ReviewService`: the worklist, cases, audio, reviews and the audit trail, for clinicians.
//!
//! Architecture invariant: every handler takes the tenant from the caller's token, never from the
//! request, and every store call names it; a case of another tenant is NOT_FOUND, like a missing
//! one. Every read of a person's data is audited before it is returned. The rules themselves
//! (roles, scoping, audit) live in [`crate::cases`], which the web console calls too; this module
//! converts between protobuf and those calls.

use std::sync::Arc;

use auscult_proto::v1 as pb;
use auscult_proto::v1::review_service_server::ReviewService;
use auscult_store::recordings::{CaseFilter, CaseStatus, EcgMode, StreamKind};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, Role, authenticate};
use crate::cases;
use crate::convert;
use crate::error::{Result, ServerError};
use crate::outbound::{self, Batches, Outbox};
use crate::parts::{StreamParts, WavFile};
use crate::samples;
use crate::state::AppState;

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
        caller.tenant_with(cases::READERS)?;
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
        let page = cases::list(
            &self.state,
            &caller,
            &filter,
            &req.page_token,
            req.page_size,
        )
        .await?;
        Ok(pb::ListCasesResponse {
            cases: page.rows.iter().map(convert::case_summary).collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn get_case_inner(&self, request: Request<pb::GetCaseRequest>) -> Result<pb::Case> {
        let caller = self.caller(&request).await?;
        let view = cases::get(&self.state, &caller, &request.get_ref().case_id).await?;
        let row = &view.row;
        Ok(pb::Case {
            summary: Some(convert::case_summary(row)),
            recording: Some(convert::recording_info(row)),
            analysis: view
                .analysis
                .as_ref()
                .map(|a| convert::analysis(a, row.analysed_at_ms)),
            analysis_error: row.analysis_error.clone().unwrap_or_default(),
            reviews: view.reviews.iter().map(convert::review).collect(),
        })
    }

    /// Opens a case's audio (audited) and plans its streams; reads no sample.
    async fn open_audio(
        &self,
        caller: &Caller,
        request: Request<pb::GetAudioRequest>,
    ) -> Result<AudioPlan> {
        caller.tenant_with(cases::READERS)?;
        let req = request.into_inner();
        let format = match pb::AudioFormat::try_from(req.format) {
            Ok(pb::AudioFormat::Unspecified | pb::AudioFormat::Wav) => pb::AudioFormat::Wav,
            Ok(pb::AudioFormat::Samples) => pb::AudioFormat::Samples,
            Err(_) => return Err(ServerError::InvalidArgument("unknown audio format".into())),
        };
        let row = cases::open_audio(&self.state, caller, &req.case_id).await?;
        let mut streams = vec![(StreamKind::Pcg, pb::SignalStream::Pcg)];
        if req.include_ecg {
            match row.meta.ecg()? {
                EcgMode::Samples => streams.push((StreamKind::Ecg, pb::SignalStream::Ecg)),
                EcgMode::RPeaks => streams.push((StreamKind::RPeaks, pb::SignalStream::RPeaks)),
                EcgMode::None => {}
            }
        }
        let mut sources = Vec::new();
        for (kind, stream) in streams {
            let source = match (kind, format) {
                (StreamKind::RPeaks, _) => {
                    AudioSource::RPeaks(StreamParts::list(&self.state, &row, kind).await?)
                }
                (_, pb::AudioFormat::Samples) => {
                    AudioSource::Samples(StreamParts::list(&self.state, &row, kind).await?)
                }
                _ => AudioSource::Wav(WavFile::open(&self.state, &row, kind).await?),
            };
            sources.push((stream, source));
        }
        Ok(AudioPlan {
            header: pb::AudioHeader {
                format: format as i32,
                recording: Some(convert::recording_info(&row)),
            },
            sources,
        })
    }

    async fn submit_review_inner(
        &self,
        request: Request<pb::SubmitReviewRequest>,
    ) -> Result<pb::Review> {
        let caller = self.caller(&request).await?;
        let req = request.get_ref();
        // The wire's enum is checked here; the rules are `cases::submit_review`'s.
        let verdict = convert::verdict_name(req.verdict).unwrap_or("");
        let stored = cases::submit_review(
            &self.state,
            &caller,
            cases::ReviewInput {
                case_id: &req.case_id,
                verdict,
                findings: &req.findings,
                refer: req.refer,
                request_rerecording: req.request_rerecording,
            },
        )
        .await?;
        Ok(convert::review(&stored))
    }

    async fn list_audit_inner(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<pb::ListAuditEventsResponse> {
        let caller = self.caller(&request).await?;
        caller.tenant_with(cases::AUDITORS)?;
        let req = request.get_ref();
        let offset = page_offset(&req.page_token)?;
        let size = cases::page_size(req.page_size)?;
        let case_id = (!req.case_id.is_empty()).then_some(req.case_id.as_str());
        let events = cases::audit_trail(&self.state, &caller, case_id, offset, size).await?;
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

/// One stream of a `GetAudio` reply, not yet read.
#[derive(Debug)]
enum AudioSource {
    /// A WAV file (PCG, or raw ECG at its rate); offsets are bytes of the file.
    Wav(WavFile),
    /// Stored samples as they are; offsets are sample indices.
    Samples(StreamParts),
    /// R-peak times; offsets are peak indices.
    RPeaks(StreamParts),
}

/// What a `GetAudio` reply sends: its header, then each stream, part by part.
#[derive(Debug)]
struct AudioPlan {
    header: pb::AudioHeader,
    sources: Vec<(pb::SignalStream, AudioSource)>,
}

impl AudioPlan {
    /// Sends the header, then each stream in messages of [`AUDIO_CHUNK_BYTES`], reading one part
    /// at a time: the messages are those of cutting the whole stream at once.
    async fn send(self, state: Arc<AppState>, out: Outbox<pb::AudioChunk>) -> Result<()> {
        out.send(pb::AudioChunk {
            kind: Some(pb::audio_chunk::Kind::Header(self.header)),
        })
        .await?;
        for (stream, source) in self.sources {
            match source {
                AudioSource::Wav(mut wav) => {
                    let message = |at, data| audio_data(stream, at, data, Vec::new());
                    let mut batches = Batches::new(AUDIO_CHUNK_BYTES);
                    while let Some(piece) = wav.next(&state).await? {
                        send_full(&out, &mut batches, &piece, message).await?;
                    }
                    send_rest(&out, batches, message).await?;
                }
                AudioSource::Samples(mut parts) => {
                    let width = parts.width();
                    let message =
                        |at, data| audio_data(stream, at / width as u64, data, Vec::new());
                    let mut batches = Batches::new(AUDIO_CHUNK_BYTES - AUDIO_CHUNK_BYTES % width);
                    while let Some(bytes) = parts.next(&state).await? {
                        send_full(&out, &mut batches, &bytes, message).await?;
                    }
                    send_rest(&out, batches, message).await?;
                }
                AudioSource::RPeaks(mut parts) => {
                    let message = |at, peaks| audio_data(stream, at, Vec::new(), peaks);
                    let mut batches = Batches::new(AUDIO_CHUNK_BYTES / 8);
                    while let Some(bytes) = parts.next(&state).await? {
                        let peaks = samples::decode_f64(&bytes);
                        send_full(&out, &mut batches, &peaks, message).await?;
                    }
                    send_rest(&out, batches, message).await?;
                }
            }
        }
        Ok(())
    }
}

/// Sends every batch `piece` completes; keeps what is left over for the next piece.
async fn send_full<T: Copy>(
    out: &Outbox<pb::AudioChunk>,
    batches: &mut Batches<T>,
    mut piece: &[T],
    message: impl Fn(u64, Vec<T>) -> pb::AudioChunk,
) -> Result<()> {
    while let Some((at, batch)) = batches.next_full(&mut piece) {
        out.send(message(at, batch)).await?;
    }
    Ok(())
}

/// Sends the last, short batch, if any.
async fn send_rest<T: Copy>(
    out: &Outbox<pb::AudioChunk>,
    batches: Batches<T>,
    message: impl Fn(u64, Vec<T>) -> pb::AudioChunk,
) -> Result<()> {
    match batches.rest() {
        Some((at, batch)) => out.send(message(at, batch)).await,
        None => Ok(()),
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
        let plan = self.open_audio(&caller, request).await?;
        let token = self.state.token_watch(&caller);
        let state = Arc::clone(&self.state);
        Ok(Response::new(outbound::spawn(Some(token), |out| {
            plan.send(state, out)
        })))
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

//! `IngestService`: a device streams one recording, resumably and idempotently.
//!
//! Each signal stream's data must arrive in order, without gaps or overlap, starting at what is
//! already durably committed. A chunk is acknowledged as soon as it passed its checks and is
//! buffered (`received`); durability is reported separately (`committed`, in the same
//! acknowledgements and in `GetUploadStatus`), as google.bytestream does. Buffered data is flushed
//! in the background when the buffers are large or old enough (one blob holding every stream's new
//! bytes, then one part row per stream through the group committer, [`Committer`]: one durable
//! database commit for many devices), at the finish, and when the stream ends for any reason; one
//! flush per upload is in flight at a time, and a stream whose buffers outgrow it waits, so a
//! server that cannot keep up slows its devices instead of buffering without bound. A device that
//! vanishes loses at most what was never reported committed (it resends that), and an upload only
//! becomes a case after a finish whose totals (and optional checksum) match what was stored. This
//! module must never analyse signals or log personal data (subject ids stay out of logs).
//!
//! [`checks`] holds the pure checks of what a device sends (metadata, chunks), [`committer`] the
//! group committer, [`session`] one upload's buffers, flushes and finish; this file runs the
//! stream and answers the gRPC calls.

mod checks;
mod committer;
mod session;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use auscult_proto::v1 as pb;
use auscult_proto::v1::ingest_service_server::IngestService;
use auscult_store::recordings::{Counts, NewRecording, OpenCommit, RecordingRow, state};
use auscult_store::{DeviceId, TenantId, now_ms};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Caller, Role, TokenWatch, authenticate};
use crate::error::{Result, ServerError};
use crate::state::AppState;
use checks::valid_id;
use committer::Committer;
use session::Session;

pub use checks::{CheckedChunk, ChunkRules, check_chunk, validate_metadata};

/// The ingest service.
#[derive(Debug, Clone)]
pub struct IngestApi {
    state: Arc<AppState>,
    committer: Committer,
}

impl IngestApi {
    /// A service over shared state. Starts its group committer on the current Tokio runtime.
    pub fn new(state: Arc<AppState>) -> IngestApi {
        IngestApi {
            committer: Committer::start(Arc::clone(&state)),
            state,
        }
    }
}

fn counts_pb(c: Counts) -> pb::CommittedCounts {
    pb::CommittedCounts {
        pcg_samples: c.pcg,
        ecg_samples: c.ecg,
        r_peaks: c.r_peaks,
    }
}

fn upload_state(row: &RecordingRow) -> pb::UploadState {
    if row.state == state::COMPLETE {
        pb::UploadState::Complete
    } else {
        pb::UploadState::Receiving
    }
}

/// Refuses a new upload of a device that stored its quota (`device_quota_mib_per_day`) in the
/// last 24 hours. (An upload the server already knows — a resume, a retry of a finished one — is
/// never refused: what was started may finish; the caller checks only new ones.)
async fn check_quota(state: &AppState, tenant_id: &TenantId, device_id: &DeviceId) -> Result<()> {
    let quota_mib = state.config.device_quota_mib_per_day;
    if quota_mib == 0 {
        return Ok(());
    }
    let used = state
        .store
        .device_bytes_since(tenant_id, device_id, now_ms().saturating_sub(86_400_000))
        .await?;
    if used >= quota_mib.saturating_mul(1 << 20) {
        return Err(ServerError::ResourceExhausted(format!(
            "this device stored {} MiB in uploads started in the last 24 hours, its quota is \
             {quota_mib} MiB: new uploads are refused until older ones are a day old (the \
             server's --device-quota-mib-per-day)",
            used >> 20
        )));
    }
    Ok(())
}

/// Finds the device's upload, or starts it (within its quota): its row is inserted through the
/// group committer, so opening shares a durable commit with every other stream's instead of
/// contending for the database's writer with them.
async fn open_upload(
    state: &AppState,
    committer: &Committer,
    tenant_id: &TenantId,
    device_id: &DeviceId,
    meta: &NewRecording,
) -> Result<RecordingRow> {
    let find = || {
        state
            .store
            .find_upload(tenant_id, device_id, &meta.upload_id)
    };
    if let Some(row) = find().await? {
        return Ok(row);
    }
    check_quota(state, tenant_id, device_id).await?;
    committer
        .open(OpenCommit {
            id: auscult_store::db::new_id(),
            tenant_id: tenant_id.clone(),
            device_id: device_id.clone(),
            meta: meta.clone(),
            now_ms: now_ms(),
        })
        .await?;
    find().await?.ok_or(ServerError::Aborted(
        "the upload vanished after it was opened; retry",
    ))
}

/// Runs one upload stream to its end. Sends an acknowledgement after every chunk when `acks` is
/// given. Whatever ends the stream, data already received is committed before returning.
async fn run_upload(
    state: Arc<AppState>,
    committer: Committer,
    caller: Caller,
    mut inbound: Streaming<pb::UploadRequest>,
    acks: Option<mpsc::Sender<std::result::Result<pb::UploadAck, Status>>>,
) -> Result<pb::UploadResponse> {
    let tenant_id = caller.tenant_with(&[Role::Device])?.to_owned();
    let first = inbound.message().await.map_err(|status| {
        if status.code() == tonic::Code::DeadlineExceeded {
            idle()
        } else {
            ServerError::InvalidArgument("stream failed before metadata".into())
        }
    })?;
    let Some(pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Metadata(metadata)),
    }) = first
    else {
        return Err(ServerError::InvalidArgument(
            "the first message must be metadata".into(),
        ));
    };
    let meta = validate_metadata(&metadata, now_ms())?;
    let device_id = caller.device_id();
    let row = open_upload(&state, &committer, &tenant_id, &device_id, &meta).await?;
    if row.meta != meta {
        return Err(ServerError::FailedPrecondition(
            "upload_id already used with different metadata".into(),
        ));
    }
    let response = |session: &Session, duplicate: bool| pb::UploadResponse {
        upload_id: session.row.meta.upload_id.clone(),
        state: upload_state(&session.row) as i32,
        committed: Some(counts_pb(session.committed)),
        case_id: session.case_id(),
        duplicate,
    };
    let mut session = Session::new(Arc::clone(&state), committer, row)?;
    // A completed upload never changes, so a repeat is answered as a duplicate without the
    // upload's lock: the stream that completed it may still hold the lock while it says goodbye,
    // and a device that resent at once got ABORTED, retried, and could no longer tell that the
    // server already had its recording.
    if session.row.state == state::COMPLETE {
        if let Some(acks) = &acks {
            let _ = acks.send(Ok(session.ack(true))).await;
        }
        return Ok(response(&session, true));
    }
    let _lock = state
        .lock_upload(&session.row.id)
        .ok_or(ServerError::Aborted(
            "this upload is being written by another stream",
        ))?;
    // A live upload is heard by clinicians while it streams; their instructions reach the device
    // on the acknowledgement stream, when it has one.
    let mut instructions = None;
    if metadata.live {
        let to_device = acks.as_ref().map(|_| {
            let (tx, rx) = mpsc::channel(crate::live::INSTRUCTION_QUEUE);
            instructions = Some(rx);
            tx
        });
        session.live = Some(crate::live::LiveFeed::open(
            &state.live,
            &session.row,
            to_device,
        )?);
    }
    // A revoked (or expired) device token ends the upload; what arrived before is committed
    // below, as for any other end of the stream.
    let mut token = state.token_watch(&caller);
    let outcome = receive(
        &mut session,
        &caller,
        &mut token,
        &mut inbound,
        acks.as_ref(),
        &mut instructions,
    )
    .await;
    // The live session ends with the device's stream, before the last commit.
    session.live = None;
    // Commit whatever arrived intact, even when the stream failed: it is acknowledged only once
    // stored, and a resumed upload starts after it.
    let flushed = session.flush().await;
    match (outcome, flushed) {
        (Ok(()), Ok(())) => Ok(response(&session, false)),
        (Err(e), _) | (Ok(()), Err(e)) => {
            state
                .metrics
                .uploads_rejected
                .fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// What a device is told when it sent nothing for the stream idle timeout (the transport's
/// [`crate::transport::CallLimitsLayer`] fails the request body with `DEADLINE_EXCEEDED` then).
fn idle() -> ServerError {
    ServerError::Aborted(
        "no message from the device within the server's stream idle timeout; resume from the committed counts",
    )
}

/// The next instruction of a live session for the device; never, without one.
async fn next_instruction(
    instructions: &mut Option<mpsc::Receiver<pb::LiveInstruction>>,
) -> pb::LiveInstruction {
    match instructions {
        Some(rx) => match rx.recv().await {
            Some(instruction) => instruction,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Sends an acknowledgement. A device that stops reading its acknowledgements is as idle as one
/// that stops sending.
async fn send_ack(
    session: &Session,
    acks: &mpsc::Sender<std::result::Result<pb::UploadAck, Status>>,
    ack: pb::UploadAck,
) -> Result<()> {
    match tokio::time::timeout(
        session.state.config.stream_idle_timeout(),
        acks.send(Ok(ack)),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(ServerError::Aborted(
            "the device stopped reading acknowledgements",
        )),
    }
}

async fn receive(
    session: &mut Session,
    caller: &Caller,
    token: &mut TokenWatch,
    inbound: &mut Streaming<pb::UploadRequest>,
    acks: Option<&mpsc::Sender<std::result::Result<pb::UploadAck, Status>>>,
    instructions: &mut Option<mpsc::Receiver<pb::LiveInstruction>>,
) -> Result<()> {
    loop {
        let next = tokio::select! {
            biased;
            ended = token.ended() => return Err(ended),
            instruction = next_instruction(instructions) => {
                if let Some(acks) = acks {
                    let ack = pb::UploadAck {
                        instruction: Some(instruction),
                        ..session.ack(false)
                    };
                    send_ack(session, acks, ack).await?;
                }
                continue;
            }
            landed = session.flush_landed(), if session.flushing() => {
                landed?;
                continue;
            }
            next = inbound.message() => next,
        };
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(status) => {
                return Err(match status.code() {
                    tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
                        ServerError::ResourceExhausted(
                            "message larger than the server accepts".into(),
                        )
                    }
                    tonic::Code::DeadlineExceeded => idle(),
                    _ => ServerError::Aborted("the stream broke; resume from the committed counts"),
                });
            }
        };
        let started = Instant::now();
        match message.kind {
            Some(pb::upload_request::Kind::Chunk(chunk)) => {
                session.accept_chunk(chunk)?;
                session.after_chunk().await?;
            }
            Some(pb::upload_request::Kind::Finish(finish)) => {
                session.finish(caller, &finish).await?;
                if let Some(acks) = acks {
                    let _ = acks.send(Ok(session.ack(false))).await;
                }
                return Ok(());
            }
            Some(pb::upload_request::Kind::Metadata(_)) => {
                return Err(ServerError::InvalidArgument(
                    "metadata may only be sent first".into(),
                ));
            }
            None => return Err(ServerError::InvalidArgument("empty upload request".into())),
        }
        if let Some(acks) = acks {
            send_ack(session, acks, session.ack(false)).await?;
        }
        session
            .state
            .metrics
            .observe_chunk_latency(started.elapsed().as_secs_f64());
    }
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> std::result::Result<Response<pb::UploadResponse>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let response = run_upload(
            Arc::clone(&self.state),
            self.committer.clone(),
            caller,
            request.into_inner(),
            None,
        )
        .await?;
        Ok(Response::new(response))
    }

    type UploadWithAcksStream = ReceiverStream<std::result::Result<pb::UploadAck, Status>>;

    async fn upload_with_acks(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> std::result::Result<Response<Self::UploadWithAcksStream>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        caller.tenant_with(&[Role::Device])?;
        let (tx, rx) = mpsc::channel(32);
        let state = Arc::clone(&self.state);
        let committer = self.committer.clone();
        let inbound = request.into_inner();
        tokio::spawn(async move {
            if let Err(e) = run_upload(state, committer, caller, inbound, Some(tx.clone())).await {
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_upload_status(
        &self,
        request: Request<pb::GetUploadStatusRequest>,
    ) -> std::result::Result<Response<pb::UploadStatus>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let tenant_id = caller.tenant_with(&[Role::Device]).map_err(Status::from)?;
        let upload_id = &request.get_ref().upload_id;
        if !valid_id(upload_id) {
            return Err(Status::invalid_argument(
                "upload_id must be 1-128 characters of [A-Za-z0-9-_.:]",
            ));
        }
        let row = self
            .state
            .store
            .find_upload(tenant_id, &caller.device_id(), upload_id)
            .await
            .map_err(ServerError::from)?;
        let status = match row {
            None => pb::UploadStatus {
                upload_id: upload_id.clone(),
                state: pb::UploadState::Unknown as i32,
                committed: Some(counts_pb(Counts::default())),
                case_id: String::new(),
            },
            Some(row) => pb::UploadStatus {
                upload_id: upload_id.clone(),
                state: upload_state(&row) as i32,
                committed: Some(counts_pb(row.committed)),
                case_id: if row.state == state::COMPLETE {
                    row.id.clone()
                } else {
                    String::new()
                },
            },
        };
        Ok(Response::new(status))
    }
}

//! `IngestService`: a device streams one recording, resumably and idempotently.
//!
//! Each signal stream's data must arrive in order, without gaps or overlap, starting at what is
//! already durably committed. Received data is buffered per stream and committed (one blob plus one
//! compare-and-set on the committed count) when the buffer is large or old enough, at the finish,
//! and when the stream ends for any reason; so a device that vanishes loses at most what was never
//! acknowledged as committed, and an upload only becomes a case after a finish whose totals (and
//! optional checksum) match what was stored. The database side of those commits is grouped: one
//! committer task records the parts of every stream that flushed meanwhile in one transaction
//! (one durable commit for many devices; see [`Committer`]), and a stream is acknowledged only
//! after its own parts are in a committed transaction. This module must never analyse signals or log
//! personal data (subject ids stay out of logs).

use std::sync::Arc;
use std::time::Instant;

use auscult_dsp::Term;
use auscult_proto::v1 as pb;
use auscult_proto::v1::ingest_service_server::IngestService;
use auscult_store::StoreError;
use auscult_store::blobs::part_key;
use auscult_store::now_ms;
use auscult_store::recordings::{
    Counts, EcgMode, NewRecording, Part, PartCommit, RecordingRow, SampleFormat, StreamKind, state,
};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Caller, Role, TokenWatch, authenticate};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::state::AppState;

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

/// Most parts recorded in one group-commit transaction.
const MAX_GROUP_COMMIT: usize = 1024;

/// One stream's flush waiting for the committer: its parts and where to answer.
struct CommitRequest {
    parts: Vec<PartCommit>,
    reply: oneshot::Sender<std::result::Result<Vec<bool>, String>>,
}

/// Group commit of the parts of many uploads. Every stream's flush writes its blobs itself (in
/// parallel with the others) and then hands the parts to this single task, which records all the
/// parts that arrived while the previous transaction was running in one transaction: the cost of
/// a durable database commit (an `fsync` of SQLite's WAL) is shared by all of them instead of paid
/// once per stream, which is what lets thousands of devices stream at once. Each part is still
/// checked on its own (compare-and-set on its stream's committed count), and each stream is told
/// its own outcome only after the transaction holding its parts has committed.
#[derive(Debug, Clone)]
struct Committer {
    tx: mpsc::Sender<CommitRequest>,
}

impl Committer {
    fn start(state: Arc<AppState>) -> Committer {
        let (tx, mut rx) = mpsc::channel::<CommitRequest>(MAX_GROUP_COMMIT);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut requests = vec![first];
                let mut parts: usize = requests[0].parts.len();
                while parts < MAX_GROUP_COMMIT {
                    match rx.try_recv() {
                        Ok(r) => {
                            parts += r.parts.len();
                            requests.push(r);
                        }
                        Err(_) => break,
                    }
                }
                let batch: Vec<PartCommit> = requests
                    .iter()
                    .flat_map(|r| r.parts.iter().cloned())
                    .collect();
                let outcome = state.store.commit_parts(&batch).await;
                let mut recorded = match outcome {
                    Ok(recorded) => Ok(recorded.into_iter()),
                    Err(e) => {
                        tracing::warn!(error = %e, parts = batch.len(), "group commit failed");
                        Err(e.to_string())
                    }
                };
                for r in requests {
                    let answer = match &mut recorded {
                        Ok(flags) => Ok(flags.by_ref().take(r.parts.len()).collect()),
                        Err(e) => Err(e.clone()),
                    };
                    let _ = r.reply.send(answer);
                }
            }
        });
        Committer { tx }
    }

    /// Records `parts` in the next group transaction; per part, whether it was recorded.
    async fn commit(&self, parts: Vec<PartCommit>) -> Result<Vec<bool>> {
        let (reply, answer) = oneshot::channel();
        let lost =
            || ServerError::Aborted("the committer stopped; resume from the committed counts");
        self.tx
            .send(CommitRequest { parts, reply })
            .await
            .map_err(|_| lost())?;
        answer.await.map_err(|_| lost())?.map_err(|_| {
            ServerError::Aborted("the commit failed; resume from the committed counts")
        })
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

const MAX_ID_LEN: usize = 128;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Checks an upload's metadata message and turns it into what the store keeps; `now_ms` bounds
/// the start time (a day of clock skew is tolerated). Pure: any message gives a recording or an
/// INVALID_ARGUMENT naming the field at fault, never a panic (`tests/decode_props.rs`).
pub fn validate_metadata(m: &pb::UploadMetadata, now_ms: i64) -> Result<NewRecording> {
    let invalid = |msg: &str| ServerError::InvalidArgument(msg.to_owned());
    if !valid_id(&m.upload_id) {
        return Err(invalid(
            "upload_id must be 1-128 characters of [A-Za-z0-9-_.:]",
        ));
    }
    if !valid_id(&m.subject_id) {
        return Err(invalid(
            "subject_id must be 1-128 characters of [A-Za-z0-9-_.:]",
        ));
    }
    if m.device_serial.len() > MAX_ID_LEN || m.device_serial.chars().any(char::is_control) {
        return Err(invalid(
            "device_serial must be at most 128 printable characters",
        ));
    }
    let site = convert::site_name(m.site).ok_or_else(|| invalid("site must be specified"))?;
    let position = convert::position_name(m.position).ok_or_else(|| invalid("unknown position"))?;
    let started = m
        .started_at
        .as_ref()
        .ok_or_else(|| invalid("started_at is required"))?;
    let started_at_ms = convert::millis(started);
    // 2000-01-01 to a day after now: anything else is a broken device clock.
    if !(946_684_800_000..=now_ms.saturating_add(86_400_000)).contains(&started_at_ms)
        || !(0..1_000_000_000).contains(&started.nanos)
    {
        return Err(invalid("started_at is not a plausible time"));
    }
    if !(1000..=48_000).contains(&m.pcg_rate_hz) {
        return Err(invalid("pcg_rate_hz must be between 1000 and 48000"));
    }
    let pcg_format = convert::sample_format(m.pcg_format)
        .ok_or_else(|| invalid("pcg_format must be specified"))?;
    let ecg_mode = pb::EcgMode::try_from(m.ecg_mode).map_err(|_| invalid("unknown ecg_mode"))?;
    let (ecg_mode, ecg_rate_hz, ecg_format) = match ecg_mode {
        pb::EcgMode::Unspecified | pb::EcgMode::None | pb::EcgMode::RPeaks => {
            if m.ecg_rate_hz != 0 || m.ecg_format != 0 {
                return Err(invalid(
                    "ecg_rate_hz and ecg_format are only for ECG_MODE_SAMPLES",
                ));
            }
            let mode = if ecg_mode == pb::EcgMode::RPeaks {
                EcgMode::RPeaks
            } else {
                EcgMode::None
            };
            (mode, 0, None)
        }
        pb::EcgMode::Samples => {
            if !(100..=48_000).contains(&m.ecg_rate_hz) {
                return Err(invalid("ecg_rate_hz must be between 100 and 48000"));
            }
            let f = convert::sample_format(m.ecg_format)
                .ok_or_else(|| invalid("ecg_format must be specified"))?;
            (EcgMode::Samples, m.ecg_rate_hz, Some(f))
        }
    };
    let payload_sha256 = match m.payload_sha256.len() {
        0 => None,
        32 => Some(m.payload_sha256.clone()),
        _ => return Err(invalid("payload_sha256 must be 32 bytes or empty")),
    };
    Ok(NewRecording {
        upload_id: m.upload_id.clone(),
        device_serial: m.device_serial.clone(),
        subject_id: m.subject_id.clone(),
        site: site.to_owned(),
        position: position.to_owned(),
        started_at_ms,
        pcg_rate_hz: m.pcg_rate_hz,
        pcg_format: pcg_format.as_str().to_owned(),
        ecg_mode: ecg_mode.as_str().to_owned(),
        ecg_rate_hz,
        ecg_format: ecg_format.map_or("", SampleFormat::as_str).to_owned(),
        payload_sha256,
    })
}

fn stream_kind(stream: i32) -> Option<StreamKind> {
    match pb::SignalStream::try_from(stream).ok()? {
        pb::SignalStream::Pcg => Some(StreamKind::Pcg),
        pb::SignalStream::Ecg => Some(StreamKind::Ecg),
        pb::SignalStream::RPeaks => Some(StreamKind::RPeaks),
        pb::SignalStream::Unspecified => None,
    }
}

const STREAMS: [StreamKind; 3] = [StreamKind::Pcg, StreamKind::Ecg, StreamKind::RPeaks];

fn slot(stream: StreamKind) -> usize {
    match stream {
        StreamKind::Pcg => 0,
        StreamKind::Ecg => 1,
        StreamKind::RPeaks => 2,
    }
}

/// What every chunk of one upload must satisfy: the declared sample formats and ECG mode, and how
/// many values each stream may hold in all (the longest recording accepted at the declared
/// rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRules {
    /// PCG sample format.
    pub pcg_format: SampleFormat,
    /// What the ECG stream carries.
    pub ecg: EcgMode,
    /// ECG sample format; set exactly when `ecg` is [`EcgMode::Samples`].
    pub ecg_format: Option<SampleFormat>,
    /// Longest recording accepted, seconds (R-peak times must lie within it).
    pub max_recording_seconds: u32,
    /// Most values per stream.
    pub limits: Counts,
}

impl ChunkRules {
    /// The rules of an upload with metadata `meta` on a server accepting recordings of up to
    /// `max_recording_seconds`.
    pub fn of(meta: &NewRecording, max_recording_seconds: u32) -> Result<ChunkRules> {
        let secs = u64::from(max_recording_seconds);
        let limits = Counts {
            pcg: u64::from(meta.pcg_rate_hz).saturating_mul(secs),
            ecg: u64::from(meta.ecg_rate_hz).saturating_mul(secs),
            // A heart beats at most ~5 times a second.
            r_peaks: 5 * secs,
        };
        let ecg = meta.ecg()?;
        let ecg_format = meta.ecg_sample_format()?;
        if (ecg == EcgMode::Samples) != ecg_format.is_some() {
            return Err(StoreError::Corrupt(
                "ECG format without ECG samples, or the reverse".into(),
            )
            .into());
        }
        Ok(ChunkRules {
            pcg_format: meta.pcg_sample_format()?,
            ecg,
            ecg_format,
            max_recording_seconds,
            limits,
        })
    }
}

/// A chunk that passed [`check_chunk`]: the stream it extends, by how many values, the bytes to
/// store, and the stream's last R-peak time after it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedChunk {
    /// The stream it extends.
    pub stream: StreamKind,
    /// Values (samples or R-peak times) it adds.
    pub count: u64,
    /// What is stored: the sample bytes as sent, or the R-peak times as `f64` little-endian.
    pub bytes: Vec<u8>,
    /// The last R-peak time received, after this chunk.
    pub last_r_peak: Option<f64>,
}

/// Checks one upload chunk against the upload's rules, the values each stream has `received` so
/// far and the last R-peak time received. Pure: any chunk gives a [`CheckedChunk`] or an error
/// with a status a device can act on (INVALID_ARGUMENT for a malformed chunk, OUT_OF_RANGE for a
/// gap or overlap, RESOURCE_EXHAUSTED past the longest recording), never a panic
/// (`tests/decode_props.rs`).
pub fn check_chunk(
    rules: &ChunkRules,
    received: Counts,
    last_r_peak: Option<f64>,
    chunk: pb::UploadChunk,
) -> Result<CheckedChunk> {
    let stream = stream_kind(chunk.stream)
        .ok_or_else(|| ServerError::InvalidArgument("chunk stream must be specified".into()))?;
    let format = match (stream, rules.ecg) {
        (StreamKind::Pcg, _) => Some(rules.pcg_format),
        (StreamKind::Ecg, EcgMode::Samples) => rules.ecg_format,
        (StreamKind::RPeaks, EcgMode::RPeaks) => None,
        _ => {
            return Err(ServerError::InvalidArgument(format!(
                "{} chunks are not allowed with ECG mode {}",
                stream.as_str(),
                rules.ecg.as_str()
            )));
        }
    };
    let expected = received.get(stream);
    if chunk.offset != expected {
        let what = if chunk.offset < expected {
            "overlaps data already received"
        } else {
            "leaves a gap"
        };
        return Err(ServerError::OutOfRange(format!(
            "{} chunk at offset {} {what}; expected offset {expected}",
            stream.as_str(),
            chunk.offset
        )));
    }
    let mut last = last_r_peak;
    let (count, bytes) = match stream {
        StreamKind::Pcg | StreamKind::Ecg => {
            if !chunk.r_peaks_s.is_empty() {
                return Err(ServerError::InvalidArgument(
                    "sample chunks carry no r_peaks_s".into(),
                ));
            }
            // `ChunkRules::of` refused raw ECG without a format.
            let format = format.ok_or(ServerError::Internal(
                "sample chunk without a sample format".into(),
            ))?;
            let width = format.width();
            if chunk.samples.is_empty() || !chunk.samples.len().is_multiple_of(width) {
                return Err(ServerError::InvalidArgument(format!(
                    "{} chunk must hold a positive whole number of {width}-byte samples",
                    stream.as_str()
                )));
            }
            if format == SampleFormat::F32le
                && chunk
                    .samples
                    .chunks_exact(4)
                    .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            {
                return Err(ServerError::InvalidArgument(format!(
                    "{} chunk holds a non-finite float sample (NaN or infinity)",
                    stream.as_str()
                )));
            }
            ((chunk.samples.len() / width) as u64, chunk.samples)
        }
        StreamKind::RPeaks => {
            if !chunk.samples.is_empty() || chunk.r_peaks_s.is_empty() {
                return Err(ServerError::InvalidArgument(
                    "R-peak chunks carry r_peaks_s only".into(),
                ));
            }
            let max_t = f64::from(rules.max_recording_seconds);
            for &t in &chunk.r_peaks_s {
                if !t.is_finite() || t < 0.0 || t > max_t || last.is_some_and(|l| t <= l) {
                    return Err(ServerError::InvalidArgument(
                        "R-peak times must be finite, within the recording and strictly increasing"
                            .into(),
                    ));
                }
                last = Some(t);
            }
            let bytes = chunk
                .r_peaks_s
                .iter()
                .flat_map(|t| t.to_le_bytes())
                .collect();
            (chunk.r_peaks_s.len() as u64, bytes)
        }
    };
    if expected.saturating_add(count) > rules.limits.get(stream) {
        return Err(ServerError::ResourceExhausted(format!(
            "{} exceeds the longest recording accepted ({} s)",
            stream.as_str(),
            rules.max_recording_seconds
        )));
    }
    Ok(CheckedChunk {
        stream,
        count,
        bytes,
        last_r_peak: last,
    })
}

/// One upload being written by one gRPC stream.
struct Session {
    state: Arc<AppState>,
    committer: Committer,
    row: RecordingRow,
    /// Accepted from the device (committed plus buffered).
    received: Counts,
    /// Durably committed.
    committed: Counts,
    buffers: [Vec<u8>; 3],
    last_flush: Instant,
    last_r_peak: Option<f64>,
    rules: ChunkRules,
    /// The live session's feed, for an upload marked live (a side channel that never waits).
    live: Option<crate::live::LiveFeed>,
}

impl Session {
    fn new(state: Arc<AppState>, committer: Committer, row: RecordingRow) -> Result<Session> {
        Ok(Session {
            rules: ChunkRules::of(&row.meta, state.config.max_recording_seconds)?,
            received: row.committed,
            committed: row.committed,
            buffers: [Vec::new(), Vec::new(), Vec::new()],
            last_flush: Instant::now(),
            last_r_peak: None,
            live: None,
            state,
            committer,
            row,
        })
    }

    fn accept_chunk(&mut self, chunk: pb::UploadChunk) -> Result<()> {
        let checked = check_chunk(&self.rules, self.received, self.last_r_peak, chunk)?;
        let stream = checked.stream;
        if let (StreamKind::Pcg, Some(live)) = (stream, &self.live) {
            live.pcg(self.received.pcg, &checked.bytes);
        }
        let received = self.received.get_mut(stream);
        *received = received.saturating_add(checked.count);
        self.last_r_peak = checked.last_r_peak;
        self.state.metrics.chunks.fetch_add(1, Ordering::Relaxed);
        self.state
            .metrics
            .bytes
            .fetch_add(checked.bytes.len() as u64, Ordering::Relaxed);
        self.buffers[slot(stream)].extend_from_slice(&checked.bytes);
        Ok(())
    }

    fn flush_due(&self) -> bool {
        self.buffers
            .iter()
            .any(|b| b.len() >= self.state.config.flush_bytes)
            || (self.buffers.iter().any(|b| !b.is_empty())
                && self.last_flush.elapsed() >= self.state.config.flush_interval())
    }

    /// Commits every buffered stream: writes each stream's blob (concurrently), then records all
    /// of them through the group committer.
    async fn flush(&mut self) -> Result<()> {
        let mut parts = Vec::new();
        let mut writes = Vec::new();
        for stream in STREAMS {
            let buffer = std::mem::take(&mut self.buffers[slot(stream)]);
            if buffer.is_empty() {
                continue;
            }
            let start = self.committed.get(stream);
            let count = self.received.get(stream) - start;
            let key = part_key(&self.row.tenant_id, &self.row.id, stream.as_str(), start);
            let blobs = &self.state.store.blobs;
            let data = Bytes::from(buffer);
            let put_key = key.clone();
            writes.push(async move { blobs.put(&put_key, data).await });
            parts.push(PartCommit {
                tenant_id: self.row.tenant_id.clone(),
                recording_id: self.row.id.clone(),
                stream,
                part: Part {
                    start,
                    count,
                    object_key: key,
                },
            });
        }
        if parts.is_empty() {
            self.last_flush = Instant::now();
            return Ok(());
        }
        for written in futures::future::join_all(writes).await {
            written?;
        }
        let recorded = self.committer.commit(parts.clone()).await?;
        for (c, ok) in parts.iter().zip(recorded) {
            if !ok {
                return Err(auscult_store::StoreError::Conflict("committed offset moved").into());
            }
            *self.committed.get_mut(c.stream) = c.part.start + c.part.count;
            self.state.metrics.commits.fetch_add(1, Ordering::Relaxed);
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// SHA-256 of the stored payload, streams in the documented order.
    async fn payload_sha256(&self) -> Result<Vec<u8>> {
        let mut hasher = Sha256::new();
        for stream in STREAMS {
            for part in self.state.store.list_parts(&self.row.id, stream).await? {
                hasher.update(self.state.store.blobs.get(&part.object_key).await?);
            }
        }
        Ok(hasher.finalize().to_vec())
    }

    async fn finish(&mut self, caller: &Caller, finish: &pb::UploadFinish) -> Result<()> {
        self.flush().await?;
        let totals = finish.totals.unwrap_or_default();
        let totals = Counts {
            pcg: totals.pcg_samples,
            ecg: totals.ecg_samples,
            r_peaks: totals.r_peaks,
        };
        if totals != self.committed {
            return Err(ServerError::FailedPrecondition(format!(
                "finish totals {totals:?} differ from the data stored {:?}; resume from the stored counts",
                self.committed
            )));
        }
        if totals.pcg == 0 {
            return Err(ServerError::InvalidArgument(
                "empty upload: no PCG samples".into(),
            ));
        }
        if self.rules.ecg == EcgMode::Samples && totals.ecg == 0 {
            return Err(ServerError::InvalidArgument(
                "ECG samples were declared but none sent".into(),
            ));
        }
        if let Some(declared) = &self.row.meta.payload_sha256
            && self.payload_sha256().await? != *declared
        {
            return Err(ServerError::DataLoss(
                "payload does not match payload_sha256; the upload stays incomplete",
            ));
        }
        #[allow(clippy::cast_precision_loss)]
        let duration_s = totals.pcg as f64 / f64::from(self.row.meta.pcg_rate_hz);
        self.state
            .store
            .complete_upload(
                &self.row.tenant_id,
                &self.row.id,
                totals,
                duration_s,
                &caller.actor(),
                now_ms(),
            )
            .await?;
        self.row.state = state::COMPLETE.to_owned();
        self.state
            .metrics
            .uploads_completed
            .fetch_add(1, Ordering::Relaxed);
        self.state.jobs_ready.notify_one();
        tracing::info!(case_id = %self.row.id, pcg_samples = totals.pcg, "upload complete");
        Ok(())
    }

    fn ack(&self, duplicate: bool) -> pb::UploadAck {
        pb::UploadAck {
            received: Some(counts_pb(self.received)),
            committed: Some(counts_pb(self.committed)),
            state: upload_state(&self.row) as i32,
            case_id: self.case_id(),
            duplicate,
            instruction: None,
        }
    }

    fn case_id(&self) -> String {
        if self.row.state == state::COMPLETE {
            self.row.id.clone()
        } else {
            String::new()
        }
    }
}

/// Refuses a new upload of a device that stored its quota (`device_quota_mib_per_day`) in the
/// last 24 hours. An upload the server already knows (a resume, a retry of a finished one) is
/// never refused: what was started may finish.
async fn check_quota(
    state: &AppState,
    tenant_id: &str,
    device_id: &str,
    upload_id: &str,
) -> Result<()> {
    let quota_mib = state.config.device_quota_mib_per_day;
    if quota_mib == 0
        || state
            .store
            .find_upload(tenant_id, device_id, upload_id)
            .await?
            .is_some()
    {
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
    check_quota(&state, &tenant_id, &caller.principal_id, &meta.upload_id).await?;
    let (row, _created) = state
        .store
        .open_upload(&tenant_id, &caller.principal_id, &meta, now_ms())
        .await?;
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
    let _lock = state.lock_upload(&row.id).ok_or(ServerError::Aborted(
        "this upload is being written by another stream",
    ))?;
    let mut session = Session::new(Arc::clone(&state), committer, row)?;
    if session.row.state == state::COMPLETE {
        if let Some(acks) = &acks {
            let _ = acks.send(Ok(session.ack(true))).await;
        }
        return Ok(response(&session, true));
    }
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
                if session.flush_due() {
                    session.flush().await?;
                }
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
            .find_upload(tenant_id, &caller.principal_id, upload_id)
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

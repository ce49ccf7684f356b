//! One device uploading one recording: metadata, paced chunks, finish; and when the stream
//! breaks, `GetUploadStatus` and a resume from the committed offsets, with bounded retries and
//! exponential backoff. Measures the latency of every chunk's acknowledgement.
//!
//! A live upload (`UploadOptions::live`, remote auscultation) is the same upload marked live in
//! its metadata: clinicians listen while it streams, and their instructions arrive on the
//! acknowledgement stream; each is reported ([`ReceivedInstruction`], to a callback as it arrives
//! and in the report), and with `follow_instructions` a "next site" ends this site's recording
//! (a finish with the totals sent so far) so the caller can start the next site's.
//!
//! Talks only to the server it was given. Never loops without bound: attempts are capped and
//! the recording is finite.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auscult_proto::v1::ingest_service_client::IngestServiceClient;
use auscult_proto::v1::{
    AuscultationSite, BodyPosition, GetUploadStatusRequest, LiveInstruction, LiveInstructionKind,
    SignalStream, UploadChunk, UploadFinish, UploadMetadata, UploadRequest, UploadState,
    upload_request,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::SimError;
use crate::plan::{Counts, PlannedChunk, plan_chunks, totals};
use crate::source::EncodedRecording;

/// The largest gRPC message either side will send or accept (chunks are far smaller).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct BearerAuth(MetadataValue<Ascii>);

impl BearerAuth {
    /// For `token`.
    pub fn new(token: &str) -> Result<Self, SimError> {
        MetadataValue::try_from(format!("Bearer {token}"))
            .map(Self)
            .map_err(|_| SimError::BadToken)
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// The client type of one device.
pub type IngestClient = IngestServiceClient<InterceptedService<Channel, BearerAuth>>;

/// A device's connection to the server (lazy: nothing is dialled until the first call, and a
/// server that is down shows up as a retryable error of that call).
#[derive(Debug, Clone)]
pub struct Connection {
    client: IngestClient,
}

impl Connection {
    /// For `url` (`http://` or `https://`) with bearer `token`.
    pub fn new(url: &str, token: &str) -> Result<Self, SimError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SimError::BadUrl {
                url: url.to_owned(),
                reason: "expected http:// or https://".into(),
            });
        }
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| SimError::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10));
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new())
                .map_err(|e| SimError::BadUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        }
        let channel = endpoint.connect_lazy();
        let client = IngestServiceClient::with_interceptor(channel, BearerAuth::new(token)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self { client })
    }

    /// The underlying client, for calls this module does not wrap.
    pub fn client(&self) -> IngestClient {
        self.client.clone()
    }
}

/// When the device sends data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// As it is recorded: each chunk once its last sample would exist (a backlog after a
    /// reconnection is sent at once).
    Realtime,
    /// As fast as the server takes it.
    #[default]
    Fast,
}

/// Which RPC carries the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// `UploadWithAcks`: bidirectional, an acknowledgement per chunk (latency is measured).
    #[default]
    WithAcks,
    /// `Upload`: client streaming, one response at the end.
    ClientStream,
}

/// Who and where: the metadata a device attaches to a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceIdentity {
    /// The device's serial.
    pub serial: String,
    /// Pseudonymous subject id.
    pub subject_id: String,
    /// Auscultation site.
    pub site: AuscultationSite,
    /// Body position.
    pub position: BodyPosition,
}

impl Default for DeviceIdentity {
    fn default() -> Self {
        Self {
            serial: "sim-0001".into(),
            subject_id: "subject-0001".into(),
            site: AuscultationSite::Mitral,
            position: BodyPosition::Supine,
        }
    }
}

/// Deliberate stream drops, to exercise resumption against a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimulatedDrops {
    /// How many of the first attempts are cut.
    pub attempts: u32,
    /// After how many chunks of the attempt the stream is cut: with acknowledgements, once those
    /// chunks are acknowledged (the RPC is then cancelled); in client-streaming mode the request
    /// stream just ends without a finish.
    pub after_chunks: u32,
}

/// How one upload behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOptions {
    /// The device-chosen upload id (the key of resumption and idempotency).
    pub upload_id: String,
    /// Metadata.
    pub identity: DeviceIdentity,
    /// Seconds of signal per chunk.
    pub chunk_s: f64,
    /// Realtime or fast.
    pub pacing: Pacing,
    /// Which RPC.
    pub mode: UploadMode,
    /// Most chunks sent and not yet acknowledged (acks mode).
    pub window: usize,
    /// Most attempts (first try plus resumes) before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// How long to wait for an acknowledgement (or a status answer) before calling the stream dead.
    pub ack_timeout: Duration,
    /// Deliberate drops.
    pub drops: SimulatedDrops,
    /// The device clock at the start of the recording.
    pub started_at: SystemTime,
    /// Ask the server for the upload's status before the first attempt (a device resuming an
    /// upload it started before a reboot); otherwise the first attempt starts from zero.
    pub status_first: bool,
    /// Mark the upload live (remote auscultation): clinicians may listen and send instructions
    /// (acks mode). A live upload sends no payload checksum (a live device cannot know it).
    pub live: bool,
    /// Act on instructions: "next site" ends this recording early with what was sent.
    pub follow_instructions: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            upload_id: uuid::Uuid::new_v4().to_string(),
            identity: DeviceIdentity::default(),
            chunk_s: 0.25,
            pacing: Pacing::Fast,
            mode: UploadMode::WithAcks,
            window: 16,
            max_attempts: 8,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(15),
            drops: SimulatedDrops::default(),
            started_at: SystemTime::now(),
            status_first: false,
            live: false,
            follow_instructions: false,
        }
    }
}

/// What happened during one upload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UploadReport {
    /// The upload id.
    pub upload_id: String,
    /// The recording's label.
    pub label: String,
    /// The case the server created.
    pub case_id: String,
    /// Whether the server said it had already completed this upload.
    pub duplicate: bool,
    /// Attempts made (1 when nothing went wrong).
    pub attempts: u32,
    /// The committed offsets each resume started from.
    pub resumed_from: Vec<Counts>,
    /// Chunks sent over all attempts (resends included).
    pub chunks_sent: u64,
    /// Sample payload bytes sent over all attempts.
    pub bytes_sent: u64,
    /// What the server finally committed.
    pub committed: Counts,
    /// What the recording holds.
    pub totals: Counts,
    /// Instructions received from listening clinicians (live uploads), in order.
    pub instructions: Vec<ReceivedInstruction>,
    /// The site the device was told to move to, when it followed a "next site" and ended this
    /// recording early.
    pub moved_to: Option<String>,
    /// When each PCG chunk's first sample was captured (real-time pacing only): wall clock.
    #[serde(skip)]
    pub pcg_captures: Vec<ChunkCapture>,
    /// Acknowledgement latency of each acknowledged chunk (sent → an ack's `received` covers it).
    #[serde(skip)]
    pub ack_latencies: Vec<Duration>,
    /// Durability latency of each chunk (sent → an ack's `committed` covers it).
    #[serde(skip)]
    pub commit_latencies: Vec<Duration>,
    /// Wall time of the whole upload.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// An instruction from a listening clinician, as the device received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceivedInstruction {
    /// Its number within the live session (from 1).
    pub sequence: u64,
    /// `next_site` or `hold_still` (`unknown` for a kind this simulator does not know).
    pub kind: &'static str,
    /// The next site (`aortic`, `pulmonic`, `tricuspid`, `mitral`) for `next_site`.
    pub site: Option<&'static str>,
    /// PCG samples the device had sent when it arrived.
    pub at_pcg_sample: u64,
}

impl ReceivedInstruction {
    fn of(i: &LiveInstruction, at_pcg_sample: u64) -> Self {
        let kind = match LiveInstructionKind::try_from(i.kind) {
            Ok(LiveInstructionKind::NextSite) => "next_site",
            Ok(LiveInstructionKind::HoldStill) => "hold_still",
            _ => "unknown",
        };
        let site = match AuscultationSite::try_from(i.site) {
            Ok(AuscultationSite::Aortic) => Some("aortic"),
            Ok(AuscultationSite::Pulmonic) => Some("pulmonic"),
            Ok(AuscultationSite::Tricuspid) => Some("tricuspid"),
            Ok(AuscultationSite::Mitral) => Some("mitral"),
            _ => None,
        };
        Self {
            sequence: i.sequence,
            kind,
            site: site.filter(|_| kind == "next_site"),
            at_pcg_sample,
        }
    }

    /// The site of a "next site" instruction.
    pub fn next_site(&self) -> Option<AuscultationSite> {
        if self.kind == "next_site" {
            site_of_name(self.site?)
        } else {
            None
        }
    }
}

impl std::fmt::Display for ReceivedInstruction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, self.site) {
            ("next_site", Some(site)) => {
                write!(f, "instruction #{}: next site: {site}", self.sequence)
            }
            ("hold_still", _) => write!(f, "instruction #{}: hold still", self.sequence),
            (kind, _) => write!(f, "instruction #{}: {kind}", self.sequence),
        }
    }
}

/// When a PCG chunk's first sample was captured on the device (real-time pacing).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ChunkCapture {
    /// Offset of the chunk's first sample in the PCG stream.
    pub pcg_offset: u64,
    /// Wall-clock time of that sample's capture, Unix ms.
    pub captured_at_unix_ms: f64,
}

/// Why one attempt ended early.
#[derive(Debug)]
enum AttemptError {
    /// Try again after asking for the status.
    Retry(String),
    /// Give up.
    Fatal(SimError),
}

fn classify(status: &Status) -> AttemptError {
    match status.code() {
        Code::InvalidArgument
        | Code::Unauthenticated
        | Code::PermissionDenied
        | Code::AlreadyExists
        | Code::NotFound
        | Code::Unimplemented => AttemptError::Fatal(SimError::Refused {
            code: status.code(),
            message: status.message().to_owned(),
        }),
        _ => AttemptError::Retry(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// A finished attempt.
struct Finished {
    case_id: String,
    duplicate: bool,
    committed: Counts,
}

/// Per-upload running tallies.
#[derive(Default)]
struct Tally {
    chunks: u64,
    bytes: u64,
    latencies: Vec<Duration>,
    commit_latencies: Vec<Duration>,
    instructions: Vec<ReceivedInstruction>,
    moved_to: Option<String>,
    captures: Vec<ChunkCapture>,
    /// Wall clock of the recording's first sample, Unix ms.
    start_unix_ms: f64,
}

fn metadata(rec: &EncodedRecording, opts: &UploadOptions) -> UploadRequest {
    let started = prost_types::Timestamp::from(opts.started_at);
    UploadRequest {
        kind: Some(upload_request::Kind::Metadata(UploadMetadata {
            upload_id: opts.upload_id.clone(),
            device_serial: opts.identity.serial.clone(),
            subject_id: opts.identity.subject_id.clone(),
            site: opts.identity.site as i32,
            position: opts.identity.position as i32,
            started_at: Some(started),
            pcg_rate_hz: rec.pcg_rate_hz,
            pcg_format: rec.pcg_format as i32,
            ecg_mode: rec.ecg_mode as i32,
            ecg_rate_hz: rec.ecg_rate_hz,
            ecg_format: if rec.ecg_rate_hz > 0 {
                auscult_proto::v1::SampleFormat::F32le as i32
            } else {
                auscult_proto::v1::SampleFormat::Unspecified as i32
            },
            payload_sha256: if opts.live {
                Vec::new()
            } else {
                rec.sha256.clone()
            },
            live: opts.live,
        })),
    }
}

fn chunk_request(chunk: UploadChunk) -> UploadRequest {
    UploadRequest {
        kind: Some(upload_request::Kind::Chunk(chunk)),
    }
}

fn finish_request(totals: Counts) -> UploadRequest {
    UploadRequest {
        kind: Some(upload_request::Kind::Finish(UploadFinish {
            totals: Some(totals.to_proto()),
        })),
    }
}

/// Upload `rec` over `conn`, resuming after breaks, until the server reports it complete.
///
/// # Errors
/// [`SimError::Refused`] when the server rejects the upload for good, [`SimError::GaveUp`] after
/// `max_attempts` failed attempts, [`SimError::Protocol`] when the server's counts make no sense.
pub async fn upload(
    conn: &Connection,
    rec: Arc<EncodedRecording>,
    opts: &UploadOptions,
) -> Result<UploadReport, SimError> {
    upload_with(conn, rec, opts, &mut |_| {}).await
}

/// A live session that follows the clinicians' "next site" requests, as a nurse holding the
/// stethoscope would: uploads `rec` at `opts`'s site; when a listening clinician moves the device
/// on (the upload ends with [`UploadReport::moved_to`]), records the same recording again at the
/// requested site as a new upload, at most `max_sites` uploads in all. `on_instruction` sees every
/// instruction and `on_report` every finished upload, in order; the reports are returned.
///
/// # Errors
/// As [`upload`], for the upload that failed (the earlier ones are committed).
pub async fn follow_session(
    conn: &Connection,
    rec: Arc<EncodedRecording>,
    opts: &UploadOptions,
    max_sites: usize,
    on_instruction: &mut (dyn FnMut(&ReceivedInstruction) + Send),
    on_report: &mut (dyn FnMut(&UploadReport) + Send),
) -> Result<Vec<UploadReport>, SimError> {
    let mut opts = opts.clone();
    let mut reports = Vec::new();
    while reports.len() < max_sites {
        let report = upload_with(conn, Arc::clone(&rec), &opts, on_instruction).await?;
        on_report(&report);
        let next = report
            .moved_to
            .as_deref()
            .and_then(site_of_name)
            .filter(|_| reports.len() + 1 < max_sites);
        reports.push(report);
        let Some(next) = next else { break };
        opts.identity.site = next;
        opts.upload_id = uuid::Uuid::new_v4().to_string();
        opts.status_first = false;
        opts.started_at = SystemTime::now();
    }
    Ok(reports)
}

/// The auscultation site an instruction names.
fn site_of_name(site: &str) -> Option<AuscultationSite> {
    match site {
        "aortic" => Some(AuscultationSite::Aortic),
        "pulmonic" => Some(AuscultationSite::Pulmonic),
        "tricuspid" => Some(AuscultationSite::Tricuspid),
        "mitral" => Some(AuscultationSite::Mitral),
        _ => None,
    }
}

/// [`upload`], calling `on_instruction` with each instruction of a listening clinician as it
/// arrives (live uploads over acknowledgements).
///
/// # Errors
/// As [`upload`].
pub async fn upload_with(
    conn: &Connection,
    rec: Arc<EncodedRecording>,
    opts: &UploadOptions,
    on_instruction: &mut (dyn FnMut(&ReceivedInstruction) + Send),
) -> Result<UploadReport, SimError> {
    let start = Instant::now();
    let total = totals(&rec);
    let mut tally = Tally {
        start_unix_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        ..Tally::default()
    };
    let mut resumed_from = Vec::new();
    let mut from = Counts::default();
    let mut last_error = String::new();
    let mut attempts = 0;
    while attempts < opts.max_attempts {
        attempts += 1;
        if attempts > 1 {
            let shift = (attempts - 2).min(16);
            let delay = opts
                .backoff_initial
                .saturating_mul(1 << shift)
                .min(opts.backoff_max);
            let jitter = rand::random_range(0.8..1.2);
            tokio::time::sleep(delay.mul_f64(jitter)).await;
        }
        if attempts > 1 || opts.status_first {
            match status(conn, &opts.upload_id, opts.ack_timeout).await {
                Ok((UploadState::Complete, committed, case_id)) => {
                    return Ok(report(
                        rec.as_ref(),
                        opts,
                        start,
                        tally,
                        attempts,
                        resumed_from,
                        Finished {
                            case_id,
                            duplicate: false,
                            committed,
                        },
                    ));
                }
                Ok((UploadState::Receiving, committed, _)) => {
                    if !committed.within(total) {
                        return Err(SimError::Protocol(format!(
                            "committed {committed:?} exceeds the recording's {total:?}"
                        )));
                    }
                    from = committed;
                    if attempts > 1 || committed != Counts::default() {
                        resumed_from.push(committed);
                    }
                }
                Ok((_, _, _)) => {
                    from = Counts::default();
                    if attempts > 1 {
                        resumed_from.push(from);
                    }
                }
                Err(AttemptError::Retry(e)) => {
                    last_error = format!("status: {e}");
                    continue;
                }
                Err(AttemptError::Fatal(e)) => return Err(e),
            }
        }
        let drop_after = (attempts <= opts.drops.attempts).then_some(opts.drops.after_chunks);
        let result = match opts.mode {
            UploadMode::WithAcks => {
                attempt_with_acks(
                    conn,
                    &rec,
                    opts,
                    Attempt {
                        from,
                        start,
                        drop_after,
                    },
                    &mut tally,
                    on_instruction,
                )
                .await
            }
            UploadMode::ClientStream => {
                attempt_client_stream(conn, &rec, opts, from, start, drop_after, &mut tally).await
            }
        };
        match result {
            Ok(finished) => {
                return Ok(report(
                    rec.as_ref(),
                    opts,
                    start,
                    tally,
                    attempts,
                    resumed_from,
                    finished,
                ));
            }
            Err(AttemptError::Retry(e)) => last_error = e,
            Err(AttemptError::Fatal(e)) => return Err(e),
        }
    }
    Err(SimError::GaveUp {
        attempts,
        last: last_error,
    })
}

fn report(
    rec: &EncodedRecording,
    opts: &UploadOptions,
    start: Instant,
    tally: Tally,
    attempts: u32,
    resumed_from: Vec<Counts>,
    finished: Finished,
) -> UploadReport {
    UploadReport {
        upload_id: opts.upload_id.clone(),
        label: rec.label.clone(),
        case_id: finished.case_id,
        duplicate: finished.duplicate,
        attempts,
        resumed_from,
        chunks_sent: tally.chunks,
        bytes_sent: tally.bytes,
        committed: finished.committed,
        totals: totals(rec),
        instructions: tally.instructions,
        moved_to: tally.moved_to,
        pcg_captures: tally.captures,
        ack_latencies: tally.latencies,
        commit_latencies: tally.commit_latencies,
        elapsed: start.elapsed(),
    }
}

/// Ask the server what it has committed for `upload_id`.
async fn status(
    conn: &Connection,
    upload_id: &str,
    timeout: Duration,
) -> Result<(UploadState, Counts, String), AttemptError> {
    let mut client = conn.client();
    let call = client.get_upload_status(GetUploadStatusRequest {
        upload_id: upload_id.to_owned(),
    });
    let answer = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| AttemptError::Retry("GetUploadStatus timed out".into()))?
        .map_err(|s| classify(&s))?
        .into_inner();
    let state = UploadState::try_from(answer.state).unwrap_or(UploadState::Unspecified);
    Ok((
        state,
        Counts::from_proto(answer.committed.as_ref()),
        answer.case_id,
    ))
}

/// Public wrapper of [`status`] for tools.
///
/// # Errors
/// The server's refusal or the transport's failure.
pub async fn upload_status(
    conn: &Connection,
    upload_id: &str,
    timeout: Duration,
) -> Result<(UploadState, Counts, String), SimError> {
    status(conn, upload_id, timeout).await.map_err(|e| match e {
        AttemptError::Fatal(e) => e,
        AttemptError::Retry(last) => SimError::GaveUp { attempts: 1, last },
    })
}

fn wait_until(start: Instant, at_s: f64, pacing: Pacing) -> Option<Instant> {
    match pacing {
        Pacing::Fast => None,
        Pacing::Realtime => Some(start + Duration::from_secs_f64(at_s.max(0.0))),
    }
}

/// What is left to send of a site's recording once the device is told to move on, having sent
/// `sent_pcg` PCG samples of it: nothing, or, when no sound was sent yet, the chunks of every
/// signal up to the end of the first PCG chunk (the window being recorded when the instruction
/// came). A site's recording is never empty: the server refuses an upload without sound, and a
/// clinician who clicks "next site" as soon as a session appears must not make the device fail.
fn stop_plan(plan: &mut VecDeque<PlannedChunk>, sent_pcg: u64) {
    let window_end = plan
        .iter()
        .find(|c| stream_of(&c.chunk) == SignalStream::Pcg)
        .map(|c| c.available_at_s)
        .filter(|_| sent_pcg == 0);
    match window_end {
        Some(end) => plan.retain(|c| c.available_at_s <= end),
        None => plan.clear(),
    }
}

fn stream_of(chunk: &UploadChunk) -> SignalStream {
    SignalStream::try_from(chunk.stream).unwrap_or(SignalStream::Unspecified)
}

fn received_of(counts: Counts, stream: SignalStream) -> u64 {
    match stream {
        SignalStream::Pcg => counts.pcg,
        SignalStream::Ecg => counts.ecg,
        SignalStream::RPeaks => counts.r_peaks,
        SignalStream::Unspecified => 0,
    }
}

/// Where one attempt starts.
struct Attempt {
    from: Counts,
    start: Instant,
    drop_after: Option<u32>,
}

async fn attempt_with_acks(
    conn: &Connection,
    rec: &EncodedRecording,
    opts: &UploadOptions,
    attempt: Attempt,
    tally: &mut Tally,
    on_instruction: &mut (dyn FnMut(&ReceivedInstruction) + Send),
) -> Result<Finished, AttemptError> {
    let Attempt {
        from,
        start,
        drop_after,
    } = attempt;
    let window = opts.window.max(1);
    let (tx, rx) = mpsc::channel::<UploadRequest>(window + 2);
    tx.send(metadata(rec, opts))
        .await
        .map_err(|_| AttemptError::Retry("request stream closed".into()))?;
    let mut client = conn.client();
    let response = tokio::time::timeout(
        opts.ack_timeout,
        client.upload_with_acks(ReceiverStream::new(rx)),
    )
    .await
    .map_err(|_| AttemptError::Retry("UploadWithAcks did not start in time".into()))?
    .map_err(|s| classify(&s))?;
    let mut acks = response.into_inner();

    let mut plan: VecDeque<PlannedChunk> = plan_chunks(rec, from, opts.chunk_s).into();
    // Chunks sent and not yet acknowledged: stream, end offset, when sent.
    let mut pending: VecDeque<(SignalStream, u64, Instant)> = VecDeque::new();
    // Chunks sent and not yet reported durably committed, as `pending`.
    let mut uncommitted: VecDeque<(SignalStream, u64, Instant)> = VecDeque::new();
    let mut finish_sent = false;
    let mut sent_this_attempt = 0u32;
    let mut tx = Some(tx);
    // What this attempt has sent, per stream (the totals of a recording ended early).
    let mut sent = from;
    // Told to move to the next site: the rest of the recording is not sent.
    let mut stopped = tally.moved_to.is_some();
    if stopped {
        stop_plan(&mut plan, sent.pcg);
    }
    loop {
        // A simulated drop cuts the stream once its chunks so far are acknowledged.
        let drop_due = drop_after.is_some_and(|limit| sent_this_attempt >= limit);
        if drop_due && pending.is_empty() {
            return Err(AttemptError::Retry(format!(
                "simulated drop after {sent_this_attempt} chunks"
            )));
        }
        let can_send = !drop_due && pending.len() < window && (!plan.is_empty() || !finish_sent);
        let due = plan
            .front()
            .and_then(|c| wait_until(start, c.available_at_s, opts.pacing))
            .filter(|at| *at > Instant::now());
        tokio::select! {
            biased;
            ack = tokio::time::timeout(opts.ack_timeout, acks.message()) => {
                let ack = match ack {
                    Err(_) => return Err(AttemptError::Retry("no acknowledgement in time".into())),
                    Ok(Err(status)) => return Err(classify(&status)),
                    Ok(Ok(None)) => return Err(AttemptError::Retry("server closed the stream".into())),
                    Ok(Ok(Some(ack))) => ack,
                };
                if let Some(instruction) = &ack.instruction {
                    let got = ReceivedInstruction::of(instruction, sent.pcg);
                    on_instruction(&got);
                    if opts.follow_instructions && !finish_sent && !stopped
                        && let Some(site) = got.site.filter(|_| got.next_site().is_some())
                    {
                        stop_plan(&mut plan, sent.pcg);
                        stopped = true;
                        tally.moved_to = Some(site.to_owned());
                    }
                    tally.instructions.push(got);
                }
                let received = Counts::from_proto(ack.received.as_ref());
                let committed = Counts::from_proto(ack.committed.as_ref());
                let now = Instant::now();
                while let Some(&(stream, end, sent)) = pending.front() {
                    if received_of(received, stream) >= end {
                        tally.latencies.push(now - sent);
                        pending.pop_front();
                    } else {
                        break;
                    }
                }
                // Streams commit in different flushes: look at every chunk, not only the first.
                uncommitted.retain(|&(stream, end, sent)| {
                    let durable = received_of(committed, stream) >= end;
                    if durable {
                        tally.commit_latencies.push(now - sent);
                    }
                    !durable
                });
                if UploadState::try_from(ack.state) == Ok(UploadState::Complete) {
                    drop(tx.take());
                    return Ok(Finished {
                        case_id: ack.case_id,
                        duplicate: ack.duplicate,
                        committed: Counts::from_proto(ack.committed.as_ref()),
                    });
                }
            }
            () = async {
                if let Some(at) = due {
                    tokio::time::sleep_until(at.into()).await;
                }
            }, if can_send => {
                let Some(sender) = tx.as_ref() else {
                    return Err(AttemptError::Retry("request stream closed".into()));
                };
                if let Some(next) = plan.pop_front() {
                    let stream = stream_of(&next.chunk);
                    match stream {
                        SignalStream::Pcg => {
                            if opts.pacing == Pacing::Realtime {
                                tally.captures.push(ChunkCapture {
                                    pcg_offset: next.chunk.offset,
                                    captured_at_unix_ms: tally.start_unix_ms
                                        + next.chunk.offset as f64 * 1000.0
                                            / f64::from(rec.pcg_rate_hz),
                                });
                            }
                            sent.pcg = next.end;
                        }
                        SignalStream::Ecg => sent.ecg = next.end,
                        SignalStream::RPeaks => sent.r_peaks = next.end,
                        SignalStream::Unspecified => {}
                    }
                    tally.bytes += (next.chunk.samples.len() + 8 * next.chunk.r_peaks_s.len()) as u64;
                    sender
                        .send(chunk_request(next.chunk))
                        .await
                        .map_err(|_| AttemptError::Retry("request stream closed".into()))?;
                    pending.push_back((stream, next.end, Instant::now()));
                    uncommitted.push_back((stream, next.end, Instant::now()));
                    tally.chunks += 1;
                    sent_this_attempt += 1;
                } else {
                    let totals = if stopped { sent } else { totals(rec) };
                    sender
                        .send(finish_request(totals))
                        .await
                        .map_err(|_| AttemptError::Retry("request stream closed".into()))?;
                    finish_sent = true;
                }
            }
        }
    }
}

async fn attempt_client_stream(
    conn: &Connection,
    rec: &EncodedRecording,
    opts: &UploadOptions,
    from: Counts,
    start: Instant,
    drop_after: Option<u32>,
    tally: &mut Tally,
) -> Result<Finished, AttemptError> {
    let (tx, rx) = mpsc::channel::<UploadRequest>(8);
    let plan = plan_chunks(rec, from, opts.chunk_s);
    let first = metadata(rec, opts);
    let finish = finish_request(totals(rec));
    let pacing = opts.pacing;
    let producer = tokio::spawn(async move {
        let (mut chunks, mut bytes) = (0u64, 0u64);
        if tx.send(first).await.is_err() {
            return (chunks, bytes);
        }
        for c in plan {
            if drop_after.is_some_and(|limit| chunks >= u64::from(limit)) {
                // The radio goes quiet: the stream ends without a finish.
                return (chunks, bytes);
            }
            if let Some(at) = wait_until(start, c.available_at_s, pacing) {
                tokio::time::sleep_until(at.into()).await;
            }
            let size = (c.chunk.samples.len() + 8 * c.chunk.r_peaks_s.len()) as u64;
            if tx.send(chunk_request(c.chunk)).await.is_err() {
                return (chunks, bytes);
            }
            chunks += 1;
            bytes += size;
        }
        let _ = tx.send(finish).await;
        (chunks, bytes)
    });
    let mut client = conn.client();
    let answer = client.upload(ReceiverStream::new(rx)).await;
    let (chunks, bytes) = producer.await.unwrap_or((0, 0));
    tally.chunks += chunks;
    tally.bytes += bytes;
    let answer = answer.map_err(|s| classify(&s))?.into_inner();
    let committed = Counts::from_proto(answer.committed.as_ref());
    match UploadState::try_from(answer.state) {
        Ok(UploadState::Complete) => Ok(Finished {
            case_id: answer.case_id,
            duplicate: answer.duplicate,
            committed,
        }),
        _ => Err(AttemptError::Retry(format!(
            "stream ended with {committed:?} committed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceRecording, EcgPayload, PcgFormat};

    #[test]
    fn a_site_left_before_any_sound_still_sends_its_first_window() {
        let rec = DeviceRecording {
            label: "t".into(),
            pcg_rate_hz: 1000,
            pcg: vec![0.0; 3000],
            ecg: EcgPayload::Samples {
                rate_hz: 500,
                samples: vec![0.0; 1500],
            },
        }
        .encode(PcgFormat::S16);
        let plan = || VecDeque::from(plan_chunks(&rec, Counts::default(), 1.0));
        // Nothing sent yet: the window being recorded, every signal of it.
        let mut nothing_sent = plan();
        stop_plan(&mut nothing_sent, 0);
        let kept: Vec<_> = nothing_sent
            .iter()
            .map(|c| (stream_of(&c.chunk), c.end))
            .collect();
        assert_eq!(kept, [(SignalStream::Pcg, 1000), (SignalStream::Ecg, 500)]);
        // Sound already sent: nothing more.
        let mut some_sent = plan();
        stop_plan(&mut some_sent, 1000);
        assert!(some_sent.is_empty());
        // A recording without a PCG chunk left keeps nothing.
        let mut empty = VecDeque::new();
        stop_plan(&mut empty, 0);
        assert!(empty.is_empty());
    }

    #[test]
    fn instructions_are_read_from_the_ack_stream_message() {
        let next = ReceivedInstruction::of(
            &LiveInstruction {
                kind: LiveInstructionKind::NextSite as i32,
                site: AuscultationSite::Aortic as i32,
                sequence: 2,
            },
            4000,
        );
        assert_eq!(
            next,
            ReceivedInstruction {
                sequence: 2,
                kind: "next_site",
                site: Some("aortic"),
                at_pcg_sample: 4000,
            }
        );
        assert_eq!(next.next_site(), Some(AuscultationSite::Aortic));
        assert_eq!(next.to_string(), "instruction #2: next site: aortic");

        let hold = ReceivedInstruction::of(
            &LiveInstruction {
                kind: LiveInstructionKind::HoldStill as i32,
                site: AuscultationSite::Mitral as i32,
                sequence: 3,
            },
            0,
        );
        assert_eq!(
            (hold.kind, hold.site, hold.next_site()),
            ("hold_still", None, None)
        );
        assert_eq!(hold.to_string(), "instruction #3: hold still");

        // A kind or site this simulator does not know moves nothing.
        let odd = ReceivedInstruction::of(
            &LiveInstruction {
                kind: 99,
                site: -4,
                sequence: 4,
            },
            0,
        );
        assert_eq!((odd.kind, odd.next_site()), ("unknown", None));
        let nowhere = ReceivedInstruction::of(
            &LiveInstruction {
                kind: LiveInstructionKind::NextSite as i32,
                site: AuscultationSite::Other as i32,
                sequence: 5,
            },
            0,
        );
        assert_eq!(nowhere.next_site(), None);
    }
}

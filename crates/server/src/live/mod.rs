//! Live remote auscultation: a device streaming an upload marked `live` (`UploadMetadata.live`)
//! is heard by clinicians in the web console while it records, and their requests ("next site",
//! "hold still") go back to the device on the upload's acknowledgement stream.
//!
//! The upload itself is stored, acknowledged and analysed exactly as any other
//! ([`crate::ingest`]); this module is a side channel beside it. Each live upload has one bounded
//! [`broadcast`] channel of [`Frame`]s: the ingest sends each accepted PCG chunk into it without
//! ever waiting (a listener that falls behind loses frames, the device never waits for it), and a
//! marker task follows the same channel, runs the engine's segmentation
//! ([`auscult_dsp::segment`]) on the last [`MARK_WINDOW_S`] seconds every [`MARK_INTERVAL`] on the
//! blocking pool and sends the S1/S2 marks found into it.
//!
//! Like [`crate::cases`], every function here that a person calls takes the [`Caller`], checks the
//! role, takes the tenant from it (another tenant's session is NOT_FOUND, like a missing one) and
//! audits what it shows: `live.list`, `live.get`, `live.listen` (one event per listener joining)
//! and `live.instruct`, each with the recording id and subject of the session.
//!
//! A live session is held by the server the device streams to. On PostgreSQL, where several
//! servers may share the database, the holder also writes the session in the database, and a
//! clinician on any server of the fleet lists it, listens to it and sends it instructions: the
//! frames and the instructions travel between servers through the database ([`relay`]). A
//! listener on another server gets the same frames, a little later; the session ends there when
//! it ends on its holder or when the holder stops heartbeating. On SQLite (one server) sessions
//! live in this server's memory only.

mod relay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use auscult_dsp::{Hz, Seconds, Signal};
use auscult_proto::v1 as pb;
use auscult_store::live::LiveSessionRow;
use auscult_store::recordings::RecordingRow;
use auscult_store::{CaseId, SubjectId, TenantId, now_ms};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::auth::Caller;
use crate::cases::{READERS, REVIEWERS};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::samples;
use crate::state::AppState;

/// Frames a listener may fall behind by before it loses the oldest (at 250 ms chunks, 16 s).
pub const LISTENER_FRAMES: usize = 64;
/// Seconds of PCG the marker segments each time.
pub const MARK_WINDOW_S: u32 = 6;
/// Fewest seconds the marker needs before it tries.
pub const MIN_MARK_S: u32 = 2;
/// How often the marker runs.
pub const MARK_INTERVAL: Duration = Duration::from_secs(1);
/// Instructions waiting for the device's stream before more are refused.
pub const INSTRUCTION_QUEUE: usize = 8;
/// The sites a clinician may send the device to, as stored.
pub const NEXT_SITES: [&str; 4] = ["aortic", "pulmonic", "tricuspid", "mitral"];

/// A clinician's request to the person holding the stethoscope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction {
    /// Move to this site (a name of [`NEXT_SITES`]).
    NextSite(&'static str),
    /// Hold the stethoscope still.
    HoldStill,
}

impl Instruction {
    /// The instruction a form names: `next_site` with a site of [`NEXT_SITES`], or `hold_still`.
    pub fn parse(kind: &str, site: &str) -> Result<Instruction> {
        match kind {
            "hold_still" => Ok(Instruction::HoldStill),
            "next_site" => NEXT_SITES
                .iter()
                .find(|s| **s == site)
                .map(|s| Instruction::NextSite(s))
                .ok_or_else(|| {
                    ServerError::InvalidArgument(
                        "site must be aortic, pulmonic, tricuspid or mitral".into(),
                    )
                }),
            _ => Err(ServerError::InvalidArgument(
                "kind must be next_site or hold_still".into(),
            )),
        }
    }

    /// As sent to the device, numbered `sequence`.
    pub fn to_pb(self, sequence: u64) -> pb::LiveInstruction {
        let (kind, site) = match self {
            Instruction::NextSite(site) => {
                (pb::LiveInstructionKind::NextSite, convert::site_of(site))
            }
            Instruction::HoldStill => (
                pb::LiveInstructionKind::HoldStill,
                pb::AuscultationSite::Unspecified,
            ),
        };
        pb::LiveInstruction {
            kind: kind as i32,
            site: site as i32,
            sequence,
        }
    }

    /// Its kind and site as a form names them (`-` for no site), for [`Instruction::parse`].
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Instruction::NextSite(site) => ("next_site", site),
            Instruction::HoldStill => ("hold_still", "-"),
        }
    }

    /// The name written in the audit trail.
    pub fn audit_name(self) -> &'static str {
        match self {
            Instruction::NextSite(_) => "live.instruct.next_site",
            Instruction::HoldStill => "live.instruct.hold_still",
        }
    }
}

/// The S1 and S2 sounds the engine found in a window of a live PCG, as sample offsets of the
/// upload's PCG stream (start inclusive, end exclusive).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Marks {
    /// First sample of the window segmented.
    pub from: u64,
    /// One past its last sample.
    pub to: u64,
    /// S1 spans.
    pub s1: Vec<(u64, u64)>,
    /// S2 spans.
    pub s2: Vec<(u64, u64)>,
    /// Heart rate of the window, when measured.
    pub heart_rate_bpm: Option<f64>,
}

/// Segments `window` (PCG samples at `rate_hz` whose first is sample `first` of the upload) with
/// the engine and returns where S1 and S2 lie. Pure; a window the engine cannot segment (too
/// short, silent, an unsupported rate) gives no marks.
pub fn marks(window: &[f32], rate_hz: u32, first: u64) -> Marks {
    let to = first.saturating_add(window.len() as u64);
    let mut found = Marks {
        from: first,
        to,
        ..Marks::default()
    };
    let Ok(pre) = auscult_dsp::preprocess::preprocess(Signal {
        samples: window,
        rate: Hz(f64::from(rate_hz)),
    }) else {
        return found;
    };
    let segmentation = auscult_dsp::segment::segment(&pre, None);
    let at = |t: Seconds| {
        // Non-negative and within the window, so the cast cannot wrap.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = (t.0.max(0.0) * f64::from(rate_hz)).round() as u64;
        first.saturating_add(k).min(to)
    };
    // With the sounds of the cycles the window's edges cut: the S2 before its first whole cycle
    // and, at the live end, the S1 just heard.
    let edges = segmentation.edge_sounds;
    found
        .s2
        .extend(edges.leading_s2.map(|s2| (at(s2.start), at(s2.end))));
    for c in &segmentation.cycles {
        found.s1.push((at(c.s1.start), at(c.s1.end)));
        found.s2.push((at(c.s2.start), at(c.s2.end)));
    }
    found
        .s1
        .extend(edges.trailing_s1.map(|s1| (at(s1.start), at(s1.end))));
    found.heart_rate_bpm = segmentation.heart_rate.map(|b| b.0);
    found
}

/// What listeners of a live session receive.
#[derive(Debug, Clone)]
pub enum Frame {
    /// PCG samples (scaled as [`samples::decode`] does) starting at sample `offset`.
    Audio {
        /// Offset of the first sample in the upload's PCG stream.
        offset: u64,
        /// The samples.
        samples: Arc<[f32]>,
    },
    /// The engine's latest marks.
    Marks(Arc<Marks>),
    /// The device's stream ended (finished, broken or told to move on).
    Ended,
}

/// Frame kinds on the wire ([`encode`]).
pub const FRAME_AUDIO: u8 = 1;
/// Marks frame: a JSON object `{from, to, s1: [[start, end]…], s2, hr}`.
pub const FRAME_MARKS: u8 = 2;
/// The session ended; nothing follows.
pub const FRAME_ENDED: u8 = 3;

/// A frame as the listener's HTTP stream carries it: one kind byte, the payload's length as a
/// little-endian `u32`, the payload. Audio: the offset as a little-endian `u64`, then the samples
/// as little-endian `f32`. Marks: JSON. Ended: empty. Pure.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let (kind, payload) = match frame {
        Frame::Audio { offset, samples } => {
            let mut p = Vec::with_capacity(8 + 4 * samples.len());
            p.extend_from_slice(&offset.to_le_bytes());
            for s in samples.iter() {
                p.extend_from_slice(&s.to_le_bytes());
            }
            (FRAME_AUDIO, p)
        }
        Frame::Marks(m) => {
            let json = serde_json::json!({
                "from": m.from,
                "to": m.to,
                "s1": m.s1,
                "s2": m.s2,
                "hr": m.heart_rate_bpm,
            });
            (FRAME_MARKS, json.to_string().into_bytes())
        }
        Frame::Ended => (FRAME_ENDED, Vec::new()),
    };
    // A chunk is at most a gRPC message (far below 4 GiB); a longer payload is not sent.
    let Ok(len) = u32::try_from(payload.len()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Reads a frame [`encode`] wrote (`None` for anything else). Pure; `encode(&decode(b)?) == b`.
pub fn decode(bytes: &[u8]) -> Option<Frame> {
    let (&kind, rest) = bytes.split_first()?;
    let (len, payload) = rest.split_first_chunk::<4>()?;
    if usize::try_from(u32::from_le_bytes(*len)).ok()? != payload.len() {
        return None;
    }
    match kind {
        FRAME_AUDIO => {
            let (offset, samples) = payload.split_first_chunk::<8>()?;
            if samples.len() % 4 != 0 {
                return None;
            }
            Some(Frame::Audio {
                offset: u64::from_le_bytes(*offset),
                samples: samples::decode(samples, 4).into(),
            })
        }
        FRAME_MARKS => {
            let json: serde_json::Value = serde_json::from_slice(payload).ok()?;
            let spans = |key: &str| -> Option<Vec<(u64, u64)>> {
                json.get(key)?
                    .as_array()?
                    .iter()
                    .map(|span| Some((span.get(0)?.as_u64()?, span.get(1)?.as_u64()?)))
                    .collect()
            };
            Some(Frame::Marks(Arc::new(Marks {
                from: json.get("from")?.as_u64()?,
                to: json.get("to")?.as_u64()?,
                s1: spans("s1")?,
                s2: spans("s2")?,
                heart_rate_bpm: json.get("hr")?.as_f64(),
            })))
        }
        FRAME_ENDED if payload.is_empty() => Some(Frame::Ended),
        _ => None,
    }
}

/// One live upload, as clinicians see it (held by this server or another of the fleet).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSession {
    /// The recording id (the case id once complete).
    pub recording_id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The subject (shown to the tenant's clinicians, never logged).
    pub subject_id: String,
    /// The site being recorded, as stored.
    pub site: String,
    /// When the device started recording, Unix ms.
    pub started_at_ms: i64,
    /// PCG sample rate.
    pub pcg_rate_hz: u32,
    takes_instructions: bool,
}

impl LiveSession {
    /// Whether the device can receive instructions (it streams with `UploadWithAcks`).
    pub fn takes_instructions(&self) -> bool {
        self.takes_instructions
    }

    /// The session as the fleet's list holds it, held by `server_id`.
    fn to_row(&self, server_id: &str) -> LiveSessionRow {
        LiveSessionRow {
            recording_id: CaseId::new(self.recording_id.as_str()),
            tenant_id: self.tenant_id.clone(),
            subject_id: SubjectId::new(self.subject_id.as_str()),
            site: self.site.clone(),
            server_id: server_id.to_owned(),
            started_at_ms: self.started_at_ms,
            pcg_rate_hz: self.pcg_rate_hz,
            takes_instructions: self.takes_instructions,
        }
    }

    /// A session of the fleet's list.
    fn of_row(row: &LiveSessionRow) -> LiveSession {
        LiveSession {
            recording_id: row.recording_id.as_str().to_owned(),
            tenant_id: row.tenant_id.clone(),
            subject_id: row.subject_id.as_str().to_owned(),
            site: row.site.clone(),
            started_at_ms: row.started_at_ms,
            pcg_rate_hz: row.pcg_rate_hz,
            takes_instructions: row.takes_instructions,
        }
    }
}

/// A live session whose device streams to this server.
#[derive(Debug)]
struct LocalSession {
    info: LiveSession,
    frames: broadcast::Sender<Frame>,
    /// Where instructions go: the device's acknowledgement stream (`None` over `Upload`).
    instructions: Option<mpsc::Sender<pb::LiveInstruction>>,
    sequence: AtomicU64,
    /// The other servers its frames are relayed to.
    relayed: Mutex<relay::Subscribers>,
}

impl LocalSession {
    fn new(
        info: LiveSession,
        instructions: Option<mpsc::Sender<pb::LiveInstruction>>,
    ) -> LocalSession {
        LocalSession {
            info,
            frames: broadcast::channel(LISTENER_FRAMES).0,
            instructions,
            sequence: AtomicU64::new(0),
            relayed: Mutex::default(),
        }
    }

    /// Queues `instruction` for the device; its sequence number.
    fn queue(&self, instruction: Instruction) -> Result<u64> {
        let Some(to_device) = &self.instructions else {
            return Err(no_acknowledgements());
        };
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        to_device
            .try_send(instruction.to_pb(sequence))
            .map_err(|_| {
                ServerError::Unavailable("the device has not taken the last instructions")
            })?;
        tracing::info!(case_id = %self.info.recording_id, sequence, "live instruction queued");
        Ok(sequence)
    }
}

fn no_acknowledgements() -> ServerError {
    ServerError::FailedPrecondition(
        "this device streams without acknowledgements and cannot receive instructions".into(),
    )
}

/// The live sessions of this server, and (on PostgreSQL) its part in the fleet's.
#[derive(Debug)]
pub struct LiveHub {
    sessions: Mutex<HashMap<String, Arc<LocalSession>>>,
    /// How many sessions' marks may be computed at once: one per core. A marker that finds
    /// none free skips that tick (its marks come a second later); the audio never waits.
    marking: Arc<Semaphore>,
    /// This server in the fleet, once [`join_fleet`] ran (PostgreSQL only).
    fleet: OnceLock<relay::Fleet>,
}

impl Default for LiveHub {
    fn default() -> LiveHub {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        LiveHub {
            sessions: Mutex::default(),
            marking: Arc::new(Semaphore::new(cores)),
            fleet: OnceLock::new(),
        }
    }
}

impl LiveHub {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LocalSession>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This server's live session of `recording_id`, whoever's it is.
    fn local(&self, recording_id: &str) -> Option<Arc<LocalSession>> {
        self.sessions().get(recording_id).cloned()
    }

    /// This server's live session of `recording_id` if it is the tenant's.
    fn find(&self, tenant_id: &TenantId, recording_id: &str) -> Option<Arc<LocalSession>> {
        self.local(recording_id)
            .filter(|s| s.info.tenant_id == *tenant_id)
    }
}

/// Makes this server (registered as `server_id`) a part of the fleet's live sessions when the
/// database is PostgreSQL: ends what it held before a crash, starts reading its inbox and
/// returns the task that does. Nothing on SQLite.
pub async fn join_fleet(
    state: &Arc<AppState>,
    server_id: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    relay::join(state, server_id, shutdown).await
}

/// The ingest's end of a live session: publishes PCG chunks; ends the session when dropped.
#[derive(Debug)]
pub struct LiveFeed {
    hub: Arc<LiveHub>,
    session: Arc<LocalSession>,
    width: usize,
}

impl LiveFeed {
    /// Opens the live session of the upload `row` (replacing none: one stream writes an upload at
    /// a time) and starts its marker. `instructions` carries clinicians' requests to the device's
    /// acknowledgement stream, when it has one.
    pub fn open(
        hub: &Arc<LiveHub>,
        row: &RecordingRow,
        instructions: Option<mpsc::Sender<pb::LiveInstruction>>,
    ) -> Result<LiveFeed> {
        let width = row.meta.pcg_sample_format()?.width();
        let info = LiveSession {
            recording_id: row.id.clone(),
            tenant_id: TenantId::new(row.tenant_id.as_str()),
            subject_id: row.meta.subject_id.clone(),
            site: row.meta.site.clone(),
            started_at_ms: row.meta.started_at_ms,
            pcg_rate_hz: row.meta.pcg_rate_hz,
            takes_instructions: instructions.is_some(),
        };
        Ok(LiveFeed::start(
            hub,
            LocalSession::new(info, instructions),
            width,
        ))
    }

    /// Registers `session` (PCG samples `width` bytes wide), in the fleet's list too, and starts
    /// its marker.
    fn start(hub: &Arc<LiveHub>, session: LocalSession, width: usize) -> LiveFeed {
        let session = Arc::new(session);
        tokio::spawn(run_marker(
            session.frames.subscribe(),
            session.frames.clone(),
            session.info.pcg_rate_hz,
            Arc::clone(&hub.marking),
        ));
        hub.sessions()
            .insert(session.info.recording_id.clone(), Arc::clone(&session));
        if let Some(fleet) = hub.fleet.get() {
            fleet.opened(&session.info);
        }
        tracing::info!(case_id = %session.info.recording_id, "live session opened");
        LiveFeed {
            hub: Arc::clone(hub),
            session,
            width,
        }
    }

    /// Publishes an accepted PCG chunk starting at sample `offset` (never waits: a listener that
    /// lags loses frames).
    pub fn pcg(&self, offset: u64, bytes: &[u8]) {
        if self.session.frames.receiver_count() == 0 {
            return;
        }
        let samples: Arc<[f32]> = samples::decode(bytes, self.width).into();
        let _ = self.session.frames.send(Frame::Audio { offset, samples });
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        let _ = self.session.frames.send(Frame::Ended);
        let id = &self.session.info.recording_id;
        let mut sessions = self.hub.sessions();
        if sessions
            .get(id)
            .is_some_and(|s| Arc::ptr_eq(s, &self.session))
        {
            sessions.remove(id);
            if let Some(fleet) = self.hub.fleet.get() {
                fleet.ended(id);
            }
        }
        tracing::info!(case_id = %id, "live session ended");
    }
}

/// Follows a live session's frames, keeps the last [`MARK_WINDOW_S`] seconds of PCG and every
/// [`MARK_INTERVAL`] segments them on the blocking pool (when one of the hub's `marking`
/// permits is free, else at a later tick) and publishes the marks; ends with the session.
async fn run_marker(
    mut rx: broadcast::Receiver<Frame>,
    tx: broadcast::Sender<Frame>,
    rate_hz: u32,
    marking: Arc<Semaphore>,
) {
    let capacity = (rate_hz as usize).saturating_mul(MARK_WINDOW_S as usize);
    let needed = (rate_hz as usize).saturating_mul(MIN_MARK_S as usize);
    let mut window: std::collections::VecDeque<f32> =
        std::collections::VecDeque::with_capacity(capacity);
    // Offset one past the last sample held.
    let mut end: u64 = 0;
    let mut marked_at: u64 = 0;
    let mut tick = tokio::time::interval(MARK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Ok(Frame::Audio { offset, samples }) => {
                    if offset != end {
                        // Frames were lost (this task lagged): start the window afresh.
                        window.clear();
                    }
                    window.extend(samples.iter().copied());
                    let excess = window.len().saturating_sub(capacity);
                    window.drain(..excess);
                    end = offset.saturating_add(samples.len() as u64);
                }
                Ok(Frame::Marks(_)) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Ok(Frame::Ended) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                if window.len() < needed || end == marked_at {
                    continue;
                }
                let Ok(_permit) = Arc::clone(&marking).try_acquire_owned() else {
                    continue;
                };
                let samples: Vec<f32> = window.iter().copied().collect();
                let first = end - samples.len() as u64;
                let found = tokio::task::spawn_blocking(move || marks(&samples, rate_hz, first)).await;
                marked_at = end;
                if let Ok(found) = found {
                    let _ = tx.send(Frame::Marks(Arc::new(found)));
                }
            }
        }
    }
}

/// Audits that `caller` was shown `sessions` under `action`.
async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    sessions: &[LiveSession],
) -> Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let touched: Vec<(CaseId, SubjectId)> = sessions
        .iter()
        .map(|s| {
            (
                CaseId::new(s.recording_id.as_str()),
                SubjectId::new(s.subject_id.as_str()),
            )
        })
        .collect();
    state
        .store
        .audit(&caller.actor(), action, &touched, now_ms())
        .await?;
    Ok(())
}

/// The live sessions of the caller's tenant (of the whole fleet on PostgreSQL), oldest first,
/// audited as `live.list`.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<LiveSession>> {
    let tenant_id = caller.tenant_with(READERS)?;
    let mut sessions: Vec<LiveSession> = state
        .live
        .sessions()
        .values()
        .filter(|s| s.info.tenant_id == *tenant_id)
        .map(|s| s.info.clone())
        .collect();
    if let Some(fleet) = state.live.fleet.get() {
        sessions.extend(fleet.elsewhere(tenant_id).await?);
    }
    sessions.sort_by(|a, b| {
        (a.started_at_ms, &a.recording_id).cmp(&(b.started_at_ms, &b.recording_id))
    });
    audit(state, caller, "live.list", &sessions).await?;
    Ok(sessions)
}

/// Where a live session found for a clinician is held.
enum Found {
    /// By this server.
    Here(Arc<LocalSession>),
    /// By another server of the fleet.
    Elsewhere(relay::Remote),
}

impl Found {
    fn info(&self) -> &LiveSession {
        match self {
            Found::Here(s) => &s.info,
            Found::Elsewhere(r) => &r.info,
        }
    }
}

/// A live session of the caller's tenant, here or elsewhere in the fleet (NOT_FOUND otherwise,
/// or when it ended).
async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
    roles: &[crate::auth::Role],
) -> Result<Found> {
    let tenant_id = caller.tenant_with(roles)?;
    if let Some(here) = state.live.find(tenant_id, id) {
        return Ok(Found::Here(here));
    }
    let Some(fleet) = state.live.fleet.get() else {
        return Err(ServerError::NotFound("live session"));
    };
    fleet
        .find(tenant_id, id)
        .await?
        .map(Found::Elsewhere)
        .ok_or(ServerError::NotFound("live session"))
}

/// One live session of the caller's tenant, audited as `live.get`.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<LiveSession> {
    let session = find(state, caller, id, READERS).await?.info().clone();
    audit(state, caller, "live.get", std::slice::from_ref(&session)).await?;
    Ok(session)
}

/// Joins a live session as a listener: audited as `live.listen` (one event per listener) before
/// any sample is sent; the frames from now on (relayed from its holder when another server
/// holds it).
pub async fn listen(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<broadcast::Receiver<Frame>> {
    let found = find(state, caller, id, READERS).await?;
    audit(
        state,
        caller,
        "live.listen",
        std::slice::from_ref(found.info()),
    )
    .await?;
    tracing::info!(case_id = %found.info().recording_id, principal_id = %caller.principal_id, "live listener joined");
    Ok(match found {
        Found::Here(session) => session.frames.subscribe(),
        Found::Elsewhere(remote) => match state.live.fleet.get() {
            Some(fleet) => fleet.listen(&state.live, &remote),
            None => return Err(ServerError::NotFound("live session")),
        },
    })
}

/// Sends a clinician's instruction to the device of a live session (audited as
/// `live.instruct.*`), through its holder when another server holds it; its sequence number.
/// FAILED_PRECONDITION when the device streams without acknowledgements, UNAVAILABLE when it has
/// not taken the last [`INSTRUCTION_QUEUE`] yet (or its holder did not answer in time).
pub async fn instruct(
    state: &AppState,
    caller: &Caller,
    id: &str,
    instruction: Instruction,
) -> Result<u64> {
    let found = find(state, caller, id, REVIEWERS).await?;
    if !found.info().takes_instructions {
        return Err(no_acknowledgements());
    }
    audit(
        state,
        caller,
        instruction.audit_name(),
        std::slice::from_ref(found.info()),
    )
    .await?;
    match found {
        Found::Here(session) => session.queue(instruction),
        Found::Elsewhere(remote) => match state.live.fleet.get() {
            Some(fleet) => fleet.instruct(&remote, instruction).await,
            None => Err(ServerError::NotFound("live session")),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn synth_pcg(seconds: f64) -> (Vec<f32>, u32) {
        let cfg = auscult_synth::Scenario::Normal.config(3, seconds);
        let rec = auscult_synth::generate(&cfg).unwrap();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = cfg.pcg_rate_hz as u32;
        (rec.pcg.clone(), rate)
    }

    #[test]
    fn marks_place_s1_before_s2_in_stream_offsets() {
        let (pcg, rate) = synth_pcg(6.0);
        let first = 1_000_000;
        let m = marks(&pcg, rate, first);
        assert_eq!((m.from, m.to), (first, first + pcg.len() as u64));
        assert!(m.s1.len() >= 4, "{m:?}");
        // In time order the sounds alternate S1, S2 (the window may open on an S2 and close on
        // an S1 of the cycles its edges cut), each inside the window.
        let mut all: Vec<(u64, u64, &str)> = m.s1.iter().map(|&(a, b)| (a, b, "S1")).collect();
        all.extend(m.s2.iter().map(|&(a, b)| (a, b, "S2")));
        all.sort_unstable();
        for w in all.windows(2) {
            assert!(w[0].2 != w[1].2 && w[0].1 <= w[1].0, "{m:?}");
        }
        assert!(
            all.iter()
                .all(|&(a, b, _)| first <= a && a < b && b <= m.to)
        );

        let hr = m.heart_rate_bpm.unwrap();
        assert!((40.0..=140.0).contains(&hr), "{hr}");
    }

    /// The live end of the window usually cuts a cycle: the S1 just heard is marked, and so is
    /// the S2 a window opening in systole starts with, each where the sound was.
    #[test]
    fn a_window_cut_in_systole_marks_the_s2_it_opens_on_and_the_s1_it_ends_on() {
        let cfg = auscult_synth::Scenario::Normal.config(3, 12.0);
        let rec = auscult_synth::generate(&cfg).unwrap();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = cfg.pcg_rate_hz as u32;
        let s1 = &rec.truth.s1;
        let s2_after = |t: f64| rec.truth.s2.iter().copied().find(|s| s.0 > t).unwrap();
        // Open 30 ms after the second S1 ends; close 30 ms after the S1 six seconds later ends.
        let open = s1[1].1 + 0.03;
        let last = s1.iter().copied().find(|s| s.0 > open + 6.0).unwrap();
        let close = last.1 + 0.03;
        let i0 = (open * f64::from(rate)) as usize;
        let i1 = (close * f64::from(rate)) as usize;
        let m = marks(&rec.pcg[i0..i1], rate, i0 as u64);
        let secs = |(a, b): (u64, u64)| (a + b) as f64 / 2.0 / f64::from(rate);
        let centre = |s: (f64, f64)| (s.0 + s.1) / 2.0;
        let first_s2 = secs(m.s2[0]);
        let want = centre(s2_after(open));
        assert!(
            (first_s2 - want).abs() < 0.04,
            "first S2 {first_s2}, want {want}: {m:?}"
        );
        assert!(m.s1[0].0 > m.s2[0].1, "the window opens on an S2: {m:?}");
        let last_s1 = secs(*m.s1.last().unwrap());
        assert!(
            (last_s1 - centre(last)).abs() < 0.04,
            "last S1 {last_s1}, want {:?}",
            last
        );
        assert!(
            m.s1.last().unwrap().0 > m.s2.last().unwrap().1,
            "it closes on an S1: {m:?}"
        );
    }

    #[test]
    fn an_unsegmentable_window_gives_no_marks() {
        assert!(marks(&[], 4000, 7).s1.is_empty());
        assert!(marks(&[0.0; 4000], 4000, 0).s1.is_empty());
        assert!(marks(&[0.1; 100], 500, 0).s1.is_empty());
    }

    #[test]
    fn frames_encode_kind_length_and_payload() {
        let audio = encode(&Frame::Audio {
            offset: 0x0102_0304_0506_0708,
            samples: Arc::from(vec![0.5f32, -1.0]),
        });
        assert_eq!(audio[0], FRAME_AUDIO);
        assert_eq!(u32::from_le_bytes(audio[1..5].try_into().unwrap()), 16);
        assert_eq!(
            u64::from_le_bytes(audio[5..13].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(f32::from_le_bytes(audio[13..17].try_into().unwrap()), 0.5);
        assert_eq!(f32::from_le_bytes(audio[17..21].try_into().unwrap()), -1.0);
        assert_eq!(audio.len(), 21);

        let m = encode(&Frame::Marks(Arc::new(Marks {
            from: 10,
            to: 20,
            s1: vec![(11, 12)],
            s2: vec![(14, 15)],
            heart_rate_bpm: Some(72.0),
        })));
        assert_eq!(m[0], FRAME_MARKS);
        let json: serde_json::Value = serde_json::from_slice(&m[5..]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"from":10,"to":20,"s1":[[11,12]],"s2":[[14,15]],"hr":72.0})
        );
        assert_eq!(encode(&Frame::Ended), vec![FRAME_ENDED, 0, 0, 0, 0]);

        // Decoding gives back frames that encode to the same bytes.
        for bytes in [audio, m, encode(&Frame::Ended)] {
            assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
        }
        let hr_none = encode(&Frame::Marks(Arc::new(Marks::default())));
        assert_eq!(encode(&decode(&hr_none).unwrap()), hr_none);
        let bad: [&[u8]; 4] = [
            &[],
            &[FRAME_AUDIO, 1, 0, 0, 0],
            &[FRAME_AUDIO, 0, 0, 0, 0],
            &[9, 0, 0, 0, 0],
        ];
        for bad in bad {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
    }

    fn session(id: &str, tenant: &str) -> LocalSession {
        LocalSession::new(
            LiveSession {
                recording_id: id.into(),
                tenant_id: tenant.into(),
                subject_id: "subject-1".into(),
                site: "mitral".into(),
                started_at_ms: 0,
                pcg_rate_hz: 4000,
                takes_instructions: false,
            },
            None,
        )
    }

    #[tokio::test]
    async fn marks_wait_for_a_free_permit_and_the_audio_never_does() {
        let marking = Arc::new(Semaphore::new(0));
        let hub = Arc::new(LiveHub {
            sessions: Mutex::default(),
            marking: Arc::clone(&marking),
            fleet: OnceLock::new(),
        });
        let feed = LiveFeed::start(&hub, session("rec-m", "t1"), 2);
        let mut listener = hub
            .find(&TenantId::new("t1"), "rec-m")
            .unwrap()
            .frames
            .subscribe();
        // 3 s of PCG at 4 kHz: enough for a window.
        for k in 0..15u64 {
            feed.pcg(k * 800, &[0u8; 1600]);
        }
        let mut next_marks = async |within: Duration| {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                match tokio::time::timeout_at(deadline, listener.recv()).await {
                    Ok(Ok(Frame::Marks(_))) => return true,
                    Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return false,
                }
            }
        };
        assert!(
            !next_marks(Duration::from_millis(2500)).await,
            "no permit: no marks, and the audio went through"
        );
        marking.add_permits(1);
        assert!(
            next_marks(Duration::from_millis(2500)).await,
            "marks once a permit is free"
        );
        drop(feed);
    }

    #[tokio::test]
    async fn a_listener_that_never_reads_loses_frames_and_never_holds_up_the_feed() {
        let hub = Arc::new(LiveHub::default());
        let feed = LiveFeed::start(&hub, session("rec-1", "t1"), 2);
        let live = hub.find(&TenantId::new("t1"), "rec-1").unwrap();
        assert!(
            hub.find(&TenantId::new("t2"), "rec-1").is_none(),
            "another tenant's"
        );
        let mut stalled = live.frames.subscribe();
        let started = std::time::Instant::now();
        let frames = 10 * LISTENER_FRAMES as u64;
        for k in 0..frames {
            feed.pcg(k * 1000, &[0u8; 2000]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the feed waited"
        );
        match stalled.recv().await {
            Err(broadcast::error::RecvError::Lagged(lost)) => assert!(lost > 0),
            other => panic!("expected to have lagged, got {other:?}"),
        }
        // It carries on with the newest frames.
        let mut newest = 0;
        while let Ok(Ok(frame)) =
            tokio::time::timeout(Duration::from_millis(50), stalled.recv()).await
        {
            if let Frame::Audio { offset, .. } = frame {
                newest = offset;
            }
        }
        assert_eq!(newest, (frames - 1) * 1000);
        // The session ends with its feed: gone from the hub, an ended frame to listeners.
        drop(feed);
        assert!(hub.find(&TenantId::new("t1"), "rec-1").is_none());
        assert!(matches!(stalled.recv().await, Ok(Frame::Ended)));
    }

    #[test]
    fn instructions_parse_from_forms_and_map_to_the_device() {
        assert_eq!(
            Instruction::parse("next_site", "aortic").unwrap(),
            Instruction::NextSite("aortic")
        );
        assert_eq!(
            Instruction::parse("hold_still", "").unwrap(),
            Instruction::HoldStill
        );
        for (k, s) in [
            ("next_site", "other"),
            ("next_site", ""),
            ("jump", "aortic"),
            ("", ""),
        ] {
            assert!(matches!(
                Instruction::parse(k, s),
                Err(ServerError::InvalidArgument(_))
            ));
        }
        let pb = Instruction::NextSite("pulmonic").to_pb(3);
        assert_eq!(pb.kind(), pb::LiveInstructionKind::NextSite);
        assert_eq!(pb.site(), pb::AuscultationSite::Pulmonic);
        assert_eq!(pb.sequence, 3);
        assert_eq!(
            Instruction::HoldStill.to_pb(1).kind(),
            pb::LiveInstructionKind::HoldStill
        );
    }
}

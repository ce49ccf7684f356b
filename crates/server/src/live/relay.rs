//! Live sessions across a fleet (PostgreSQL): the fleet-wide list, frames relayed from a
//! session's holder to listeners on other servers, instructions relayed back to the holder.
//!
//! - The holder writes each live session it opens in the database and deletes it when it ends
//!   (one writer task, in order, retried a few times; the upload never waits for it). Every
//!   server lists the sessions of the tenant whose holder heartbeats within the liveness window
//!   (`fleet::liveness_ms`), so a dead holder's sessions drop out of every list.
//! - Servers talk through inboxes in the database (`auscult_store::live`). A server with local
//!   listeners of another server's session runs one [`Mirror`] of it: every [`SUBSCRIPTION_REFRESH`]
//!   it checks that the session is still listed with the same holder (else it ends the mirror's
//!   listeners with an ended frame) and asks the holder for the session's frames for
//!   [`SUBSCRIPTION_TTL`] more. The mirror fans the frames out to its listeners through the same
//!   bounded broadcast as a local session (a slow listener loses frames).
//! - The holder relays a session's frames while some server asked for them within
//!   [`SUBSCRIPTION_TTL`]: one publisher task per session follows the session's broadcast like a
//!   listener (it loses frames when the database is slow; the device never waits), and sends
//!   each frame, [`encode`]d and in base64, to each asking server, cut into pieces that fit a
//!   message. The receiving server joins the pieces and [`decode`]s the frame, which encodes to
//!   the same bytes again: a relayed listener gets byte for byte what a local one does, in order,
//!   without duplicates (an audio frame that does not move the mirror forward is dropped).
//! - An instruction is sent to the holder's inbox with a request number; the holder queues it for
//!   the device as for a local clinician and answers with its sequence number, or why not. The
//!   asking server waits at most [`ANSWER_WAIT`] (then UNAVAILABLE: the clinician may retry).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use auscult_store::live::{LiveInbox, LiveSessionRow, MAX_LIVE_MESSAGE};
use auscult_store::{Backend, CaseId, Store, TenantId, now_ms};
use base64::Engine as _;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    Frame, Instruction, LISTENER_FRAMES, LiveHub, LiveSession, LocalSession, decode, encode,
};
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// How long a holder relays a session's frames to a server after it asked.
pub const SUBSCRIPTION_TTL: Duration = Duration::from_secs(3);
/// How often a mirror asks again and checks that its session is still live.
pub const SUBSCRIPTION_REFRESH: Duration = Duration::from_secs(1);
/// How long a server waits for a holder's answer to a relayed instruction.
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Base64 characters of a frame per message (the rest of a message is its short header).
const PIECE: usize = MAX_LIVE_MESSAGE - 256;
/// How often a write of the fleet's list is tried before it is given up (and logged).
const WRITE_ATTEMPTS: u32 = 3;

/// The servers a local session's frames are relayed to, each until when.
#[derive(Debug, Default)]
pub(super) struct Subscribers {
    until: HashMap<String, Instant>,
    publishing: bool,
}

/// Another server's live session, as found for a clinician here.
#[derive(Debug, Clone)]
pub(super) struct Remote {
    pub(super) info: LiveSession,
    holder: String,
}

/// What the fleet's list is told, in order.
#[derive(Debug)]
enum Write {
    Opened(LiveSessionRow),
    Ended(String),
}

/// A holder's answer to a relayed instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Queued for the device under this sequence number.
    Queued(u64),
    /// The device has not taken the last instructions.
    Full,
    /// The device streams without acknowledgements.
    NoAcks,
    /// The session is not (or no longer) held there.
    Gone,
}

/// A message between servers, as it travels in an inbox (space-separated words; the last field
/// may hold anything but is a server id or base64).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message<'a> {
    /// "Relay `recording_id`'s frames to me, `from`."
    Subscribe {
        recording_id: &'a str,
        from: &'a str,
    },
    /// Piece `part` of `parts` of frame `seq` of `recording_id`, base64.
    Piece {
        recording_id: &'a str,
        seq: u64,
        part: usize,
        parts: usize,
        base64: &'a str,
    },
    /// A clinician's instruction to `recording_id`'s device, request `request` of `from`.
    Instruct {
        request: u64,
        recording_id: &'a str,
        kind: &'a str,
        site: &'a str,
        from: &'a str,
    },
    /// The answer to request `request`.
    Answer { request: u64, answer: Answer },
}

impl<'a> Message<'a> {
    fn to_text(&self) -> String {
        match self {
            Message::Subscribe { recording_id, from } => format!("sub {recording_id} {from}"),
            Message::Piece {
                recording_id,
                seq,
                part,
                parts,
                base64,
            } => format!("frame {recording_id} {seq} {part} {parts} {base64}"),
            Message::Instruct {
                request,
                recording_id,
                kind,
                site,
                from,
            } => format!("ins {request} {recording_id} {kind} {site} {from}"),
            Message::Answer { request, answer } => match answer {
                Answer::Queued(sequence) => format!("ans {request} ok {sequence}"),
                Answer::Full => format!("ans {request} full"),
                Answer::NoAcks => format!("ans {request} noacks"),
                Answer::Gone => format!("ans {request} gone"),
            },
        }
    }

    fn parse(text: &'a str) -> Option<Message<'a>> {
        let (kind, rest) = text.split_once(' ')?;
        match kind {
            "sub" => {
                let (recording_id, from) = rest.split_once(' ')?;
                Some(Message::Subscribe { recording_id, from })
            }
            "frame" => {
                let mut w = rest.splitn(5, ' ');
                let recording_id = w.next()?;
                let seq = w.next()?.parse().ok()?;
                let part = w.next()?.parse().ok()?;
                let parts = w.next()?.parse().ok()?;
                let base64 = w.next()?;
                (part < parts).then_some(Message::Piece {
                    recording_id,
                    seq,
                    part,
                    parts,
                    base64,
                })
            }
            "ins" => {
                let mut w = rest.splitn(5, ' ');
                Some(Message::Instruct {
                    request: w.next()?.parse().ok()?,
                    recording_id: w.next()?,
                    kind: w.next()?,
                    site: w.next()?,
                    from: w.next()?,
                })
            }
            "ans" => {
                let mut w = rest.splitn(3, ' ');
                let request = w.next()?.parse().ok()?;
                let answer = match (w.next()?, w.next()) {
                    ("ok", Some(sequence)) => Answer::Queued(sequence.parse().ok()?),
                    ("full", None) => Answer::Full,
                    ("noacks", None) => Answer::NoAcks,
                    ("gone", None) => Answer::Gone,
                    _ => return None,
                };
                Some(Message::Answer { request, answer })
            }
            _ => None,
        }
    }
}

/// The messages that carry frame `seq` of `recording_id` (its [`encode`]d bytes).
fn pieces(recording_id: &str, seq: u64, frame: &[u8]) -> Vec<String> {
    let text = base64::engine::general_purpose::STANDARD.encode(frame);
    // Base64 is ASCII: any byte index is a character boundary.
    let chunks: Vec<&str> = text
        .as_bytes()
        .chunks(PIECE)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(part, base64)| {
            Message::Piece {
                recording_id,
                seq,
                part,
                parts,
                base64,
            }
            .to_text()
        })
        .collect()
}

/// The pieces of a relayed frame received so far, and where the mirror's audio stands.
#[derive(Debug, Default)]
struct Joiner {
    seq: u64,
    next_part: usize,
    base64: String,
    /// One past the last audio sample delivered.
    audio_end: u64,
}

impl Joiner {
    /// Takes a piece; the frame once its last piece arrived in order (a frame missing a piece is
    /// dropped), unless it is audio that does not move the mirror forward.
    fn take(&mut self, seq: u64, part: usize, parts: usize, base64: &str) -> Option<Frame> {
        if part == 0 {
            self.seq = seq;
            self.next_part = 0;
            self.base64.clear();
        }
        if seq != self.seq || part != self.next_part {
            self.next_part = usize::MAX;
            return None;
        }
        self.base64.push_str(base64);
        self.next_part += 1;
        if self.next_part < parts {
            return None;
        }
        self.next_part = usize::MAX;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.base64.as_bytes())
            .ok()?;
        let frame = decode(&bytes)?;
        if let Frame::Audio { offset, samples } = &frame {
            if *offset < self.audio_end {
                return None;
            }
            self.audio_end = offset.saturating_add(samples.len() as u64);
        }
        Some(frame)
    }
}

/// This server's copy of another server's live session, for its local listeners.
#[derive(Debug)]
struct Mirror {
    frames: broadcast::Sender<Frame>,
    joiner: Mutex<Joiner>,
}

/// This server's part in the fleet's live sessions.
#[derive(Debug)]
pub(super) struct Fleet {
    store: Store,
    server_id: String,
    liveness_ms: i64,
    writes: mpsc::UnboundedSender<Write>,
    mirrors: Mutex<HashMap<String, Arc<Mirror>>>,
    answers: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_request: AtomicU64,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// See [`super::join_fleet`].
pub(super) async fn join(
    state: &Arc<AppState>,
    server_id: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    if state.store.backend() != Backend::Postgres {
        return Ok(None);
    }
    let before = state.store.end_live_sessions_of(server_id).await?;
    if before > 0 {
        tracing::info!(
            sessions = before,
            "ended the live sessions this server held before it stopped"
        );
    }
    let inbox = state.store.live_inbox(server_id).await?;
    let (writes, to_write) = mpsc::unbounded_channel();
    tokio::spawn(run_writes(
        state.store.clone(),
        server_id.to_owned(),
        to_write,
    ));
    let fleet = Fleet {
        store: state.store.clone(),
        server_id: server_id.to_owned(),
        liveness_ms: crate::fleet::liveness_ms(&state.config),
        writes,
        mirrors: Mutex::default(),
        answers: Mutex::default(),
        next_request: AtomicU64::new(0),
    };
    if state.live.fleet.set(fleet).is_err() {
        return Err(ServerError::Internal(
            "the live hub joined the fleet twice".into(),
        ));
    }
    Ok(Some(tokio::spawn(run_inbox(
        Arc::clone(&state.live),
        inbox,
        shutdown,
    ))))
}

impl Fleet {
    fn live_after(&self) -> i64 {
        now_ms().saturating_sub(self.liveness_ms)
    }

    /// A session of this server opened: into the fleet's list.
    pub(super) fn opened(&self, session: &LiveSession) {
        let _ = self
            .writes
            .send(Write::Opened(session.to_row(&self.server_id)));
    }

    /// A session of this server ended: out of the fleet's list.
    pub(super) fn ended(&self, recording_id: &str) {
        let _ = self.writes.send(Write::Ended(recording_id.to_owned()));
    }

    /// The tenant's live sessions held by the other live servers.
    pub(super) async fn elsewhere(&self, tenant_id: &TenantId) -> Result<Vec<LiveSession>> {
        Ok(self
            .store
            .live_sessions(tenant_id, self.live_after())
            .await?
            .iter()
            .filter(|row| row.server_id != self.server_id)
            .map(LiveSession::of_row)
            .collect())
    }

    /// The tenant's live session `recording_id` if another live server holds it.
    pub(super) async fn find(
        &self,
        tenant_id: &TenantId,
        recording_id: &str,
    ) -> Result<Option<Remote>> {
        let row = self
            .store
            .live_session(tenant_id, &CaseId::new(recording_id), self.live_after())
            .await?;
        Ok(row
            .filter(|row| row.server_id != self.server_id)
            .map(|row| Remote {
                info: LiveSession::of_row(&row),
                holder: row.server_id,
            }))
    }

    /// A new listener of `remote`: the frames of this server's mirror of it (started if none).
    pub(super) fn listen(&self, hub: &Arc<LiveHub>, remote: &Remote) -> broadcast::Receiver<Frame> {
        let mut mirrors = locked(&self.mirrors);
        if let Some(mirror) = mirrors.get(&remote.info.recording_id) {
            return mirror.frames.subscribe();
        }
        let (frames, listener) = broadcast::channel(LISTENER_FRAMES);
        mirrors.insert(
            remote.info.recording_id.clone(),
            Arc::new(Mirror {
                frames,
                joiner: Mutex::default(),
            }),
        );
        tokio::spawn(run_mirror(Arc::clone(hub), remote.clone()));
        tracing::info!(case_id = %remote.info.recording_id, holder = %remote.holder, "live session mirrored from its holder");
        listener
    }

    /// Ends the mirror of `recording_id`: its listeners get an ended frame.
    fn end_mirror(&self, recording_id: &str) {
        if let Some(mirror) = locked(&self.mirrors).remove(recording_id) {
            let _ = mirror.frames.send(Frame::Ended);
            tracing::info!(case_id = %recording_id, "live session mirror ended");
        }
    }

    /// Sends `instruction` to `remote`'s holder and waits for its answer.
    pub(super) async fn instruct(&self, remote: &Remote, instruction: Instruction) -> Result<u64> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        locked(&self.answers).insert(request, tx);
        let (kind, site) = instruction.names();
        let sent = self
            .store
            .send_live(
                &remote.holder,
                &Message::Instruct {
                    request,
                    recording_id: &remote.info.recording_id,
                    kind,
                    site,
                    from: &self.server_id,
                }
                .to_text(),
            )
            .await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(ANSWER_WAIT, rx).await,
            Err(e) => {
                locked(&self.answers).remove(&request);
                return Err(e.into());
            }
        };
        locked(&self.answers).remove(&request);
        match answer {
            Ok(Ok(Answer::Queued(sequence))) => {
                tracing::info!(case_id = %remote.info.recording_id, sequence, "live instruction relayed to its holder");
                Ok(sequence)
            }
            Ok(Ok(Answer::Full)) => Err(ServerError::Unavailable(
                "the device has not taken the last instructions",
            )),
            Ok(Ok(Answer::NoAcks)) => Err(super::no_acknowledgements()),
            Ok(Ok(Answer::Gone)) => Err(ServerError::NotFound("live session")),
            Ok(Err(_)) | Err(_) => Err(ServerError::Unavailable(
                "the server the device streams to did not answer in time",
            )),
        }
    }

    /// Sends `message` to `server_id`'s inbox, logging a failure.
    async fn send(&self, server_id: &str, message: &str) -> bool {
        match self.store.send_live(server_id, message).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, to = %server_id, "a live message to another server failed");
                false
            }
        }
    }
}

/// Writes what the fleet's list is told, in order; a write that fails is tried again a few times.
async fn run_writes(store: Store, server_id: String, mut to_write: mpsc::UnboundedReceiver<Write>) {
    while let Some(write) = to_write.recv().await {
        for attempt in 1..=WRITE_ATTEMPTS {
            let done = match &write {
                Write::Opened(row) => store.open_live_session(row, now_ms()).await,
                Write::Ended(id) => {
                    store
                        .end_live_session(&CaseId::new(id.as_str()), &server_id)
                        .await
                }
            };
            match done {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "writing the fleet's list of live sessions failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// Reads this server's inbox until shutdown (opening it again after an error).
async fn run_inbox(
    hub: Arc<LiveHub>,
    mut inbox: LiveInbox,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(fleet) = hub.fleet.get() else {
        return;
    };
    loop {
        let received = tokio::select! {
            message = inbox.recv() => message,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match received {
            Ok(text) => handle(&hub, fleet, &text),
            Err(e) => {
                tracing::warn!(error = %e, "reading this server's live inbox failed; opening it again");
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(SUBSCRIPTION_REFRESH) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    match fleet.store.live_inbox(&fleet.server_id).await {
                        Ok(again) => {
                            inbox = again;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "opening this server's live inbox failed")
                        }
                    }
                }
            }
        }
    }
}

/// Handles one message of this server's inbox (never waits: what needs the database is spawned).
fn handle(hub: &Arc<LiveHub>, fleet: &Fleet, text: &str) {
    let Some(message) = Message::parse(text) else {
        tracing::warn!("an unreadable live message from another server");
        return;
    };
    match message {
        Message::Subscribe { recording_id, from } => match hub.local(recording_id) {
            Some(session) => subscribe(hub, &session, from),
            None => {
                // Not (or no longer) here: tell the asking server so that it ends its mirror.
                let gone = pieces(recording_id, 0, &encode(&Frame::Ended));
                let (hub, from) = (Arc::clone(hub), from.to_owned());
                tokio::spawn(async move {
                    if let Some(fleet) = hub.fleet.get() {
                        for piece in &gone {
                            fleet.send(&from, piece).await;
                        }
                    }
                });
            }
        },
        Message::Piece {
            recording_id,
            seq,
            part,
            parts,
            base64,
        } => {
            let Some(mirror) = locked(&fleet.mirrors).get(recording_id).cloned() else {
                return;
            };
            let frame = locked(&mirror.joiner).take(seq, part, parts, base64);
            match frame {
                Some(Frame::Ended) => fleet.end_mirror(recording_id),
                Some(frame) => {
                    let _ = mirror.frames.send(frame);
                }
                None => {}
            }
        }
        Message::Instruct {
            request,
            recording_id,
            kind,
            site,
            from,
        } => {
            let answer = match (hub.local(recording_id), Instruction::parse(kind, site)) {
                (Some(session), Ok(instruction)) => match session.queue(instruction) {
                    Ok(sequence) => Answer::Queued(sequence),
                    Err(ServerError::FailedPrecondition(_)) => Answer::NoAcks,
                    Err(_) => Answer::Full,
                },
                _ => Answer::Gone,
            };
            let reply = Message::Answer { request, answer }.to_text();
            let (hub, from) = (Arc::clone(hub), from.to_owned());
            tokio::spawn(async move {
                if let Some(fleet) = hub.fleet.get() {
                    fleet.send(&from, &reply).await;
                }
            });
        }
        Message::Answer { request, answer } => {
            if let Some(waiting) = locked(&fleet.answers).remove(&request) {
                let _ = waiting.send(answer);
            }
        }
    }
}

/// Relays `session`'s frames to `from` for [`SUBSCRIPTION_TTL`] more, starting its publisher if
/// none runs.
fn subscribe(hub: &Arc<LiveHub>, session: &Arc<LocalSession>, from: &str) {
    let mut subscribers = locked(&session.relayed);
    subscribers
        .until
        .insert(from.to_owned(), Instant::now() + SUBSCRIPTION_TTL);
    if !subscribers.publishing {
        subscribers.publishing = true;
        tokio::spawn(run_publisher(
            Arc::clone(hub),
            Arc::clone(session),
            session.frames.subscribe(),
        ));
        tracing::info!(case_id = %session.info.recording_id, "live session relayed to another server");
    }
}

/// Follows a local session's frames and sends each to the servers that asked for them, until
/// none asks any more or the session ends.
async fn run_publisher(
    hub: Arc<LiveHub>,
    session: Arc<LocalSession>,
    mut frames: broadcast::Receiver<Frame>,
) {
    let Some(fleet) = hub.fleet.get() else {
        return;
    };
    let id = session.info.recording_id.as_str();
    let mut seq: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(SUBSCRIPTION_REFRESH, frames.recv()).await {
            Ok(Ok(frame)) => Some(frame),
            // Too slow (the database): the oldest frames are gone; carry on with the newest.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => Some(Frame::Ended),
            Err(_) => None,
        };
        let ended = matches!(frame, Some(Frame::Ended));
        let targets: Vec<String> = {
            let mut subscribers = locked(&session.relayed);
            let now = Instant::now();
            subscribers.until.retain(|_, until| *until > now);
            if subscribers.until.is_empty() || ended {
                subscribers.publishing = false;
            }
            subscribers.until.keys().cloned().collect()
        };
        if let Some(frame) = frame {
            let messages = pieces(id, seq, &encode(&frame));
            seq = seq.wrapping_add(1);
            for target in &targets {
                for message in &messages {
                    if !fleet.send(target, message).await {
                        break;
                    }
                }
            }
        }
        if ended || targets.is_empty() {
            return;
        }
    }
}

/// Keeps this server's mirror of `remote` going while it has listeners and the session is live
/// on its holder: asks the holder for its frames every [`SUBSCRIPTION_REFRESH`]; ends the mirror
/// (an ended frame to its listeners) once the session is no longer listed with that holder.
async fn run_mirror(hub: Arc<LiveHub>, remote: Remote) {
    let Some(fleet) = hub.fleet.get() else {
        return;
    };
    let id = remote.info.recording_id.as_str();
    let subscribe = Message::Subscribe {
        recording_id: id,
        from: &fleet.server_id,
    }
    .to_text();
    let mut tick = tokio::time::interval(SUBSCRIPTION_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        {
            let mut mirrors = locked(&fleet.mirrors);
            match mirrors.get(id) {
                // Ended by its holder.
                None => return,
                Some(mirror) if mirror.frames.receiver_count() == 0 => {
                    mirrors.remove(id);
                    return;
                }
                Some(_) => {}
            }
        }
        match fleet
            .store
            .live_session(&remote.info.tenant_id, &CaseId::new(id), fleet.live_after())
            .await
        {
            Ok(Some(row)) if row.server_id == remote.holder => {}
            Ok(_) => {
                fleet.end_mirror(id);
                return;
            }
            // The database is unreachable: whether the holder lives cannot be told; ask again.
            Err(e) => {
                tracing::warn!(error = %e, case_id = %id, "checking a mirrored live session failed")
            }
        }
        fleet.send(&remote.holder, &subscribe).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_written() {
        let messages = [
            Message::Subscribe {
                recording_id: "rec-1",
                from: "server a",
            },
            Message::Piece {
                recording_id: "rec-1",
                seq: 7,
                part: 1,
                parts: 3,
                base64: "AAEC/w==",
            },
            Message::Instruct {
                request: 9,
                recording_id: "rec-1",
                kind: "next_site",
                site: "aortic",
                from: "b",
            },
            Message::Answer {
                request: 9,
                answer: Answer::Queued(4),
            },
            Message::Answer {
                request: 1,
                answer: Answer::Full,
            },
            Message::Answer {
                request: 2,
                answer: Answer::NoAcks,
            },
            Message::Answer {
                request: 3,
                answer: Answer::Gone,
            },
        ];
        for m in &messages {
            assert_eq!(Message::parse(&m.to_text()).as_ref(), Some(m));
        }
        for bad in [
            "",
            "sub",
            "frame r 1 3 3 AA",
            "frame r x 0 1 AA",
            "ans 1 ok",
            "ans 1 maybe",
            "hello there",
        ] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
    }

    fn audio(offset: u64, n: usize) -> Vec<u8> {
        let samples: Vec<f32> = (0..n).map(|k| k as f32 / 1000.0 - 0.5).collect();
        encode(&Frame::Audio {
            offset,
            samples: samples.into(),
        })
    }

    /// Joins `messages` as the receiving server does; the frames' bytes.
    fn join(joiner: &mut Joiner, messages: &[String]) -> Vec<Vec<u8>> {
        messages
            .iter()
            .filter_map(|m| match Message::parse(m) {
                Some(Message::Piece {
                    seq,
                    part,
                    parts,
                    base64,
                    ..
                }) => joiner.take(seq, part, parts, base64),
                _ => None,
            })
            .map(|f| encode(&f))
            .collect()
    }

    #[test]
    fn a_frame_too_long_for_one_message_is_cut_and_joined_byte_for_byte() {
        // 1 s of f32 PCG at 4 kHz: about 21 kB in base64, three messages.
        let big = audio(0, 4000);
        let messages = pieces("rec-1", 0, &big);
        assert!(messages.len() >= 3, "{}", messages.len());
        assert!(messages.iter().all(|m| m.len() <= MAX_LIVE_MESSAGE));
        let small = audio(4000, 800);
        let one = pieces("rec-1", 1, &small);
        assert_eq!(one.len(), 1, "a 200 ms chunk is one message");
        let mut joiner = Joiner::default();
        let all: Vec<String> = messages.iter().chain(&one).cloned().collect();
        assert_eq!(join(&mut joiner, &all), vec![big.clone(), small.clone()]);

        // A repeated or older audio frame is dropped; marks and the end pass.
        let marks = encode(&Frame::Marks(Arc::new(super::super::Marks::default())));
        let again: Vec<String> = [
            pieces("rec-1", 2, &small),
            pieces("rec-1", 3, &marks),
            pieces("rec-1", 4, &encode(&Frame::Ended)),
        ]
        .concat();
        assert_eq!(
            join(&mut joiner, &again),
            vec![marks, encode(&Frame::Ended)]
        );

        // A frame missing a piece is dropped, the next one is whole.
        let mut joiner = Joiner::default();
        let mut gappy = pieces("rec-1", 0, &big);
        gappy.remove(1);
        gappy.extend(pieces("rec-1", 1, &small));
        assert_eq!(join(&mut joiner, &gappy), vec![small]);
    }
}

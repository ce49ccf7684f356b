//! One upload being written by one gRPC stream: the chunks accepted, the buffers not yet
//! committed, flushes (one blob per flush for every stream, then the group committer; one flush in
//! the background at a time) and the finish that makes the upload a case.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use auscult_proto::v1 as pb;
use auscult_store::blobs::part_key;
use auscult_store::recordings::{
    CompletionCommit, Counts, EcgMode, GroupItem, Part, PartCommit, RecordingRow, StreamKind, state,
};
use auscult_store::{CaseId, TenantId, now_ms};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::checks::{ChunkRules, check_chunk};
use super::committer::Committer;
use super::{counts_pb, upload_state};
use crate::auth::Caller;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// How many flushes' worth of data (`flush_bytes`) a stream may buffer while a flush is in flight
/// before its next chunk waits for that flush.
const BUFFER_FLUSHES: usize = 2;

const STREAMS: [StreamKind; 3] = [StreamKind::Pcg, StreamKind::Ecg, StreamKind::RPeaks];

fn slot(stream: StreamKind) -> usize {
    match stream {
        StreamKind::Pcg => 0,
        StreamKind::Ecg => 1,
        StreamKind::RPeaks => 2,
    }
}

/// A flush being written and committed in the background.
struct InFlight {
    /// Writes the blob, queues the parts at the committer, waits for them: the counts committed.
    task: tokio::task::JoinHandle<Result<Counts>>,
    /// Fires once the flush's parts are queued at the committer (its blob is written): anything
    /// queued after that is recorded after them. Dropped unfired when the flush failed before.
    queued: Option<oneshot::Receiver<()>>,
    /// Its bytes and parts, for the payload checksum at the finish.
    blob: Bytes,
    parts: Vec<PartCommit>,
}

/// Everything buffered, taken for one flush.
struct Flush {
    key: String,
    blob: Bytes,
    parts: Vec<PartCommit>,
    /// The counts committed once its parts are.
    to: Counts,
}

/// One upload being written by one gRPC stream.
pub(super) struct Session {
    pub(super) state: Arc<AppState>,
    committer: Committer,
    pub(super) row: RecordingRow,
    /// Accepted from the device (committed plus buffered).
    received: Counts,
    /// Durably committed.
    pub(super) committed: Counts,
    /// Committed or being committed by the flush in flight: where the buffers start.
    flushed_to: Counts,
    /// The flush being written and committed in the background.
    in_flight: Option<InFlight>,
    buffers: [Vec<u8>; 3],
    last_flush: Instant,
    last_r_peak: Option<f64>,
    rules: ChunkRules,
    /// The live session's feed, for an upload marked live (a side channel that never waits).
    pub(super) live: Option<crate::live::LiveFeed>,
}

impl Session {
    pub(super) fn new(
        state: Arc<AppState>,
        committer: Committer,
        row: RecordingRow,
    ) -> Result<Session> {
        Ok(Session {
            rules: ChunkRules::of(&row.meta, state.config.max_recording_seconds)?,
            received: row.committed,
            committed: row.committed,
            flushed_to: row.committed,
            in_flight: None,
            buffers: [Vec::new(), Vec::new(), Vec::new()],
            last_flush: Instant::now(),
            last_r_peak: None,
            live: None,
            state,
            committer,
            row,
        })
    }

    pub(super) fn accept_chunk(&mut self, chunk: pb::UploadChunk) -> Result<()> {
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

    pub(super) fn flush_due(&self) -> bool {
        let buffered = self.buffered_bytes();
        buffered >= self.state.config.flush_bytes
            || (buffered > 0 && self.last_flush.elapsed() >= self.state.config.flush_interval())
    }

    fn buffered_bytes(&self) -> usize {
        self.buffers.iter().map(Vec::len).sum()
    }

    /// Whether a flush is being written and committed in the background.
    pub(super) fn flushing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// After a chunk was accepted: starts a background flush when one is due and none is running.
    /// Waits for the running one only when the buffers outgrew what the device may have
    /// outstanding ([`BUFFER_FLUSHES`] flushes' worth): a server that cannot keep up slows its
    /// devices down instead of buffering without bound.
    pub(super) async fn after_chunk(&mut self) -> Result<()> {
        if !self.flush_due() {
            return Ok(());
        }
        if self.in_flight.is_some() {
            if self.buffered_bytes() < BUFFER_FLUSHES * self.state.config.flush_bytes {
                return Ok(());
            }
            self.flush_landed().await?;
        }
        self.start_flush();
        Ok(())
    }

    /// Waits for the background flush (pending forever without one) and takes its outcome: the
    /// committed counts advance, or the session fails and everything after the committed counts
    /// is dropped (the device resends it from there).
    pub(super) async fn flush_landed(&mut self) -> Result<()> {
        let Some(in_flight) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let outcome = match (&mut in_flight.task).await {
            Ok(outcome) => outcome,
            Err(e) => Err(ServerError::Internal(format!("a flush task failed: {e}"))),
        };
        self.in_flight = None;
        match outcome {
            Ok(committed) => {
                self.committed = committed;
                Ok(())
            }
            Err(e) => {
                self.buffers = [Vec::new(), Vec::new(), Vec::new()];
                self.received = self.committed;
                self.flushed_to = self.committed;
                Err(e)
            }
        }
    }

    /// Takes everything buffered as one flush: the blob holding every stream's new bytes and one
    /// part per stream addressing its range of the blob. `None` when nothing is buffered.
    fn take_flush(&mut self) -> Option<Flush> {
        self.last_flush = Instant::now();
        let from = self.flushed_to;
        let to = self.received;
        let key = part_key(&self.row.tenant_id, &self.row.id, "parts", from.pcg);
        let mut blob = Vec::with_capacity(self.buffered_bytes());
        let mut parts = Vec::new();
        for stream in STREAMS {
            let buffer = std::mem::take(&mut self.buffers[slot(stream)]);
            if buffer.is_empty() {
                continue;
            }
            let offset = blob.len() as u64;
            blob.extend_from_slice(&buffer);
            parts.push(PartCommit {
                tenant_id: self.row.tenant_id.clone(),
                recording_id: self.row.id.clone(),
                stream,
                part: Part {
                    start: from.get(stream),
                    count: to.get(stream) - from.get(stream),
                    object_key: key.clone(),
                    bytes: Some(offset..blob.len() as u64),
                },
            });
        }
        if parts.is_empty() {
            return None;
        }
        self.flushed_to = to;
        Some(Flush {
            key,
            blob: Bytes::from(blob),
            parts,
            to,
        })
    }

    /// Starts writing and committing everything buffered in the background (none may be in
    /// flight).
    fn start_flush(&mut self) {
        debug_assert!(self.in_flight.is_none());
        let Some(flush) = self.take_flush() else {
            return;
        };
        let state = Arc::clone(&self.state);
        let committer = self.committer.clone();
        let (queued, queued_rx) = oneshot::channel();
        let (blob, parts) = (flush.blob.clone(), flush.parts.clone());
        let task = tokio::spawn(async move {
            state.store.blobs.put(&flush.key, flush.blob).await?;
            let parts = flush.parts.len() as u64;
            let pending = committer.queue(GroupItem::Parts(flush.parts)).await?;
            let _ = queued.send(());
            pending.parts_recorded().await?;
            state.metrics.commits.fetch_add(parts, Ordering::Relaxed);
            Ok(flush.to)
        });
        self.in_flight = Some(InFlight {
            task,
            queued: Some(queued_rx),
            blob,
            parts,
        });
    }

    /// Commits everything received: waits for the background flush, then writes what is still
    /// buffered and waits for that too.
    pub(super) async fn flush(&mut self) -> Result<()> {
        if self.in_flight.is_some() {
            self.flush_landed().await?;
        }
        self.start_flush();
        if self.in_flight.is_some() {
            self.flush_landed().await?;
        }
        Ok(())
    }

    /// SHA-256 of the payload, streams in the documented order: each stream's parts committed
    /// as far as this session knows (`self.committed`), then its bytes in `pending` (flushes
    /// written but not yet known committed, in order).
    async fn payload_sha256(&self, pending: &[(&Bytes, &[PartCommit])]) -> Result<Vec<u8>> {
        let mut hasher = Sha256::new();
        for stream in STREAMS {
            let committed = self.committed.get(stream);
            let stored = if committed == 0 {
                Vec::new()
            } else {
                self.state
                    .store
                    .list_parts(&CaseId::new(self.row.id.as_str()), stream)
                    .await?
            };
            for part in stored.into_iter().filter(|p| p.start < committed) {
                hasher.update(self.state.store.read_part(&part).await?);
            }
            for (blob, parts) in pending {
                for part in parts.iter().filter(|p| p.stream == stream) {
                    let range = part.part.bytes.clone().unwrap_or_default();
                    let (start, end) = (
                        usize::try_from(range.start).unwrap_or(usize::MAX),
                        usize::try_from(range.end).unwrap_or(usize::MAX),
                    );
                    hasher.update(blob.get(start..end).ok_or_else(|| {
                        ServerError::Internal("a flush's part lies outside its blob".into())
                    })?);
                }
            }
        }
        Ok(hasher.finalize().to_vec())
    }

    /// Finishes the upload: the totals must equal what was received; the last flush's blob is
    /// written while the flush in flight (if any) lands, and its parts are recorded in the
    /// transaction that completes the upload, through the group committer (one durable commit
    /// shared with every other stream that commits meanwhile).
    pub(super) async fn finish(
        &mut self,
        caller: &Caller,
        finish: &pb::UploadFinish,
    ) -> Result<()> {
        let totals = finish.totals.unwrap_or_default();
        let totals = Counts {
            pcg: totals.pcg_samples,
            ecg: totals.ecg_samples,
            r_peaks: totals.r_peaks,
        };
        // Refused before anything more is written: what was received is still committed when
        // the stream ends, and the device resumes from there.
        if totals != self.received {
            return Err(ServerError::FailedPrecondition(format!(
                "finish totals {totals:?} differ from the data received {:?}; resume from the stored counts",
                self.received
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
        // The last flush starts where the one in flight ends. Its blob is written while the one
        // in flight finishes writing its own and queues its parts at the committer; the
        // completion is queued after them, so both are recorded in order, often in the same
        // transaction. (A blob no row references yet is harmless: if the flush in flight fails,
        // it is an orphan the sweep removes.)
        let last = self.take_flush();
        let blobs = self.state.store.blobs.clone();
        let write_last = async {
            match &last {
                Some(last) => blobs.put(&last.key, last.blob.clone()).await,
                None => Ok(()),
            }
        };
        let queued = self.in_flight.as_mut().and_then(|f| f.queued.take());
        let (written, queued) = tokio::join!(write_last, async {
            match queued {
                Some(queued) => queued.await.is_ok(),
                None => true,
            }
        });
        if !queued {
            // The flush in flight failed before its parts were queued: its error ends the upload.
            self.flush_landed().await?;
        }
        written?;
        if let Some(declared) = &self.row.meta.payload_sha256 {
            let mut pending: Vec<(&Bytes, &[PartCommit])> = Vec::new();
            if let Some(f) = &self.in_flight {
                pending.push((&f.blob, &f.parts));
            }
            if let Some(l) = &last {
                pending.push((&l.blob, &l.parts));
            }
            if self.payload_sha256(&pending).await? != *declared {
                // Kept as received (committed), so what arrived can be inspected; never a case.
                if self.in_flight.is_some() {
                    self.flush_landed().await?;
                }
                if let Some(last) = last {
                    self.commit_now(last).await?;
                }
                return Err(ServerError::DataLoss(
                    "payload does not match payload_sha256; the upload stays incomplete",
                ));
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let duration_s = totals.pcg as f64 / f64::from(self.row.meta.pcg_rate_hz);
        let last_parts = last.map_or_else(Vec::new, |l| l.parts);
        let recorded_parts = last_parts.len() as u64;
        let actor = caller.actor();
        let completion = CompletionCommit {
            tenant_id: TenantId::new(self.row.tenant_id.as_str()),
            recording_id: CaseId::new(self.row.id.as_str()),
            totals,
            duration_s,
            last_parts,
            actor_tenant_id: actor.tenant_id.map(str::to_owned),
            actor_principal_id: actor.principal_id.to_owned(),
            actor_role: actor.role.to_owned(),
            now_ms: now_ms(),
        };
        let completed = match self.committer.queue(GroupItem::Complete(completion)).await {
            Ok(queued) => queued.completed().await,
            Err(e) => Err(e),
        };
        // The flush in flight was queued first, so it has landed by now; its failure (which also
        // refused the completion) is the one reported.
        if self.in_flight.is_some() {
            self.flush_landed().await?;
        }
        if let Err(e) = completed {
            // Nothing of the last flush was recorded: the device resends it.
            self.received = self.committed;
            self.flushed_to = self.committed;
            return Err(e);
        }
        self.committed = totals;
        self.state
            .metrics
            .commits
            .fetch_add(recorded_parts, Ordering::Relaxed);
        self.row.state = state::COMPLETE.to_owned();
        self.state
            .metrics
            .uploads_completed
            .fetch_add(1, Ordering::Relaxed);
        self.state.jobs_ready.notify_one();
        tracing::info!(case_id = %self.row.id, pcg_samples = totals.pcg, "upload complete");
        Ok(())
    }

    /// Records a flush whose blob is written through the group committer, now.
    async fn commit_now(&mut self, flush: Flush) -> Result<()> {
        self.committer.commit(flush.parts).await?;
        self.committed = flush.to;
        Ok(())
    }

    pub(super) fn ack(&self, duplicate: bool) -> pb::UploadAck {
        pb::UploadAck {
            received: Some(counts_pb(self.received)),
            committed: Some(counts_pb(self.committed)),
            state: upload_state(&self.row) as i32,
            case_id: self.case_id(),
            duplicate,
            instruction: None,
        }
    }

    pub(super) fn case_id(&self) -> String {
        if self.row.state == state::COMPLETE {
            self.row.id.clone()
        } else {
            String::new()
        }
    }
}

//! One upload being written by one gRPC stream: the chunks accepted, the buffers not yet
//! committed, flushes (blobs first, then the group committer) and the finish that makes the
//! upload a case.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use auscult_proto::v1 as pb;
use auscult_store::blobs::part_key;
use auscult_store::recordings::{
    Counts, EcgMode, Part, PartCommit, RecordingRow, StreamKind, state,
};
use auscult_store::{CaseId, TenantId, now_ms};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::checks::{ChunkRules, check_chunk};
use super::committer::Committer;
use super::{counts_pb, upload_state};
use crate::auth::Caller;
use crate::error::{Result, ServerError};
use crate::state::AppState;

const STREAMS: [StreamKind; 3] = [StreamKind::Pcg, StreamKind::Ecg, StreamKind::RPeaks];

fn slot(stream: StreamKind) -> usize {
    match stream {
        StreamKind::Pcg => 0,
        StreamKind::Ecg => 1,
        StreamKind::RPeaks => 2,
    }
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
        self.buffers
            .iter()
            .any(|b| b.len() >= self.state.config.flush_bytes)
            || (self.buffers.iter().any(|b| !b.is_empty())
                && self.last_flush.elapsed() >= self.state.config.flush_interval())
    }

    /// Commits every buffered stream: writes each stream's blob (concurrently), then records all
    /// of them through the group committer.
    pub(super) async fn flush(&mut self) -> Result<()> {
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
            for part in self
                .state
                .store
                .list_parts(&CaseId::new(self.row.id.as_str()), stream)
                .await?
            {
                hasher.update(self.state.store.blobs.get(&part.object_key).await?);
            }
        }
        Ok(hasher.finalize().to_vec())
    }

    pub(super) async fn finish(
        &mut self,
        caller: &Caller,
        finish: &pb::UploadFinish,
    ) -> Result<()> {
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
                &TenantId::new(self.row.tenant_id.as_str()),
                &CaseId::new(self.row.id.as_str()),
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

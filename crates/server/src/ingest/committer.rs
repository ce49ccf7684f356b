//! The group committer: one task records the rows of uploads opened meanwhile, the parts of every
//! stream that flushed meanwhile and the completions of every upload that finished meanwhile, in
//! one database transaction, and answers each stream once its own item is committed.

use std::sync::Arc;

use auscult_store::recordings::{GroupItem, OpenCommit, PartCommit};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Most parts recorded in one group-commit transaction.
const MAX_GROUP_COMMIT: usize = 1024;

/// One stream's flush (or completion) waiting for the committer, and where to answer.
struct CommitRequest {
    item: GroupItem,
    reply: oneshot::Sender<std::result::Result<bool, String>>,
}

/// How many rows an item writes, roughly (what [`MAX_GROUP_COMMIT`] bounds).
fn weight(item: &GroupItem) -> usize {
    match item {
        GroupItem::Open(_) => 1,
        GroupItem::Parts(parts) => parts.len(),
        GroupItem::Complete(c) => c.last_parts.len() + 3,
    }
}

/// Group commit of the parts of many uploads. Every stream's flush writes its blobs itself (in
/// parallel with the others) and then hands the parts to this single task, which records all the
/// parts that arrived while the previous transaction was running in one transaction: the cost of
/// a durable database commit (an `fsync` of SQLite's WAL) is shared by all of them instead of paid
/// once per stream, which is what lets thousands of devices stream at once. New uploads' rows, and
/// completions of uploads
/// (their last parts, state, analysis job and audit event) ride in the same transaction, each in
/// its own savepoint, so many uploads finishing at once share one durable commit too. Each part
/// is still checked on its own (compare-and-set on its stream's committed count), and each stream
/// is told its own outcome only after the transaction holding its parts has committed.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    tx: mpsc::Sender<CommitRequest>,
}

impl Committer {
    pub(super) fn start(state: Arc<AppState>) -> Committer {
        let (tx, mut rx) = mpsc::channel::<CommitRequest>(MAX_GROUP_COMMIT);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut weight_sum = weight(&first.item);
                let mut replies = vec![first.reply];
                let mut batch = vec![first.item];
                while weight_sum < MAX_GROUP_COMMIT {
                    match rx.try_recv() {
                        Ok(r) => {
                            weight_sum += weight(&r.item);
                            batch.push(r.item);
                            replies.push(r.reply);
                        }
                        Err(_) => break,
                    }
                }
                let outcome = state.store.commit_group(&batch).await;
                match outcome {
                    Ok(recorded) => {
                        for (reply, ok) in replies.into_iter().zip(recorded) {
                            let _ = reply.send(Ok(ok));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, items = batch.len(), "group commit failed");
                        let e = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Committer { tx }
    }

    /// Records `parts` in the next group transaction. Fails with a conflict when any of them was
    /// not recorded (its stream's committed count had moved: another writer got there first).
    pub(super) async fn commit(&self, parts: Vec<PartCommit>) -> Result<()> {
        self.queue(GroupItem::Parts(parts))
            .await?
            .parts_recorded()
            .await
    }

    /// Inserts a new upload's row in the next group transaction (durably, sharing its commit):
    /// whether it was inserted (`false`: the device already had that upload).
    pub(super) async fn open(&self, open: OpenCommit) -> Result<bool> {
        self.queue(GroupItem::Open(open)).await?.recorded().await
    }

    /// Queues `item` for the committer: it is recorded after everything queued before it (in the
    /// same transaction or a later one). The answer comes through the returned [`Queued`].
    pub(super) async fn queue(&self, item: GroupItem) -> Result<Queued> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(CommitRequest { item, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(Queued(answer))
    }
}

fn stopped() -> ServerError {
    ServerError::Aborted("the committer stopped; resume from the committed counts")
}

/// An item queued at the committer, waiting for its transaction.
#[derive(Debug)]
pub(super) struct Queued(oneshot::Receiver<std::result::Result<bool, String>>);

impl Queued {
    /// Whether the item was recorded, once its transaction committed.
    async fn recorded(self) -> Result<bool> {
        self.0.await.map_err(|_| stopped())?.map_err(|_| {
            ServerError::Aborted("the commit failed; resume from the committed counts")
        })
    }

    /// For queued parts: fails with a conflict when any of them was not recorded.
    pub(super) async fn parts_recorded(self) -> Result<()> {
        if !self.recorded().await? {
            return Err(auscult_store::StoreError::Conflict("committed offset moved").into());
        }
        Ok(())
    }

    /// For a queued completion: fails with a conflict, nothing recorded, when the upload is not
    /// receiving, its counts differ from the totals, or a last part's committed count had moved.
    pub(super) async fn completed(self) -> Result<()> {
        if !self.recorded().await? {
            return Err(auscult_store::StoreError::Conflict(
                "upload not receiving or counts differ",
            )
            .into());
        }
        Ok(())
    }
}

//! The group committer: one task records the parts of every stream that flushed meanwhile in one
//! database transaction, and answers each stream once its own parts are committed.

use std::sync::Arc;

use auscult_store::recordings::PartCommit;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, ServerError};
use crate::state::AppState;

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
pub(super) struct Committer {
    tx: mpsc::Sender<CommitRequest>,
}

impl Committer {
    pub(super) fn start(state: Arc<AppState>) -> Committer {
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

    /// Records `parts` in the next group transaction. Fails with a conflict when any of them was
    /// not recorded (its stream's committed count had moved: another writer got there first).
    pub(super) async fn commit(&self, parts: Vec<PartCommit>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let lost =
            || ServerError::Aborted("the committer stopped; resume from the committed counts");
        self.tx
            .send(CommitRequest { parts, reply })
            .await
            .map_err(|_| lost())?;
        let recorded = answer.await.map_err(|_| lost())?.map_err(|_| {
            ServerError::Aborted("the commit failed; resume from the committed counts")
        })?;
        if recorded.iter().any(|ok| !ok) {
            return Err(auscult_store::StoreError::Conflict("committed offset moved").into());
        }
        Ok(())
    }
}

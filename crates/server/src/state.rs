//! State shared by every service and worker of one server process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use auscult_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::auth::{Caller, TokenWatch};
use crate::config::ServerConfig;
use crate::error::{Result, ServerError};
use crate::metrics::Metrics;

/// Runs CPU-heavy or blocking work of requests (building and serialising export bundles,
/// writing WFDB files) on tokio's blocking pool, at most `permits` at a time: it never stalls the
/// async threads that carry uploads, acknowledgements and alerts, and a burst of exports queues
/// instead of starting hundreds of threads.
#[derive(Debug)]
pub struct HeavyWork {
    permits: Semaphore,
}

impl HeavyWork {
    /// A pool that runs at most `permits` (at least 1) pieces of work at once.
    pub fn new(permits: usize) -> HeavyWork {
        HeavyWork {
            permits: Semaphore::new(permits.max(1)),
        }
    }

    /// Waits for a permit, then runs `work` on the blocking pool. A panic in `work` is an
    /// internal error of this call, not of the server.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ServerError::Unavailable("heavy work pool closed"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ServerError::Internal("a heavy task panicked".into()))
    }
}

/// What the services and workers share.
#[derive(Debug)]
pub struct AppState {
    /// The storage.
    pub store: Store,
    /// The validated configuration.
    pub config: ServerConfig,
    /// Wakes idle analysis workers when an upload completes.
    pub jobs_ready: Notify,
    /// Wakes this server's webhook deliverer (a dead letter replayed).
    pub webhooks_ready: Notify,
    /// Counters and histograms for the metrics endpoint.
    pub metrics: Metrics,
    /// Vital-sign monitors, the alert event broadcast and the sample writer.
    pub vitals: crate::vitals::VitalsHub,
    /// CPU-heavy request work, one at a time per core.
    pub heavy: HeavyWork,
    /// The analysis engine's threads (one per analysis worker, at a lower CPU priority).
    pub engine: crate::engine_pool::EnginePool,
    /// The live sessions (remote auscultation) of uploads streaming to this server.
    pub live: Arc<crate::live::LiveHub>,
    active_uploads: Mutex<HashSet<String>>,
}

impl AppState {
    /// Wraps a store and configuration; starts the engine's threads.
    pub fn new(store: Store, config: ServerConfig) -> Result<Arc<AppState>> {
        let engine =
            crate::engine_pool::EnginePool::new(config.worker_count(), config.engine_low_priority)?;
        Ok(Arc::new(AppState {
            engine,
            vitals: crate::vitals::VitalsHub::new(
                store.clone(),
                std::time::Duration::from_millis(config.vitals_idle_evict_ms),
                std::time::Duration::from_millis(config.vitals_lease_ms),
            ),
            store,
            config,
            jobs_ready: Notify::new(),
            webhooks_ready: Notify::new(),
            metrics: Metrics::default(),
            heavy: HeavyWork::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            ),
            live: Arc::default(),
            active_uploads: Mutex::new(HashSet::new()),
        }))
    }

    /// Watches `caller`'s token for as long as a stream it opened runs (see [`TokenWatch`]).
    pub fn token_watch(&self, caller: &Caller) -> TokenWatch {
        TokenWatch::new(&self.store, caller, self.config.token_recheck())
    }

    /// Marks an upload as being written by this process, or `None` if another stream already is.
    pub fn lock_upload(self: &Arc<Self>, recording_id: &str) -> Option<UploadLock> {
        let mut active = self
            .active_uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        active.insert(recording_id.to_owned()).then(|| UploadLock {
            state: Arc::clone(self),
            recording_id: recording_id.to_owned(),
        })
    }
}

/// Held while a stream writes an upload; released on drop.
#[derive(Debug)]
pub struct UploadLock {
    state: Arc<AppState>,
    recording_id: String,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        let mut active = self
            .state
            .active_uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        active.remove(&self.recording_id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heavy_work_runs_at_most_its_permits_at_once() {
        let pool = Arc::new(HeavyWork::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (pool, running, most) =
                    (Arc::clone(&pool), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i * 10
                    })
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert_eq!(results, (0..8).map(|i| i * 10).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} ran at once");
    }

    #[tokio::test]
    async fn a_panicking_piece_of_work_is_an_error_of_its_call() {
        let pool = HeavyWork::new(1);
        let failed = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(
            matches!(failed, Err(ServerError::Internal(_))),
            "{failed:?}"
        );
        // The permit came back: the next one runs.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}

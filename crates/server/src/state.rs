//! State shared by every service and worker of one server process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use auscult_store::Store;
use tokio::sync::Notify;

use crate::auth::{Caller, TokenWatch};
use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// What the services and workers share.
#[derive(Debug)]
pub struct AppState {
    /// The storage.
    pub store: Store,
    /// The validated configuration.
    pub config: ServerConfig,
    /// Wakes idle analysis workers when an upload completes.
    pub jobs_ready: Notify,
    /// Counters and histograms for the metrics endpoint.
    pub metrics: Metrics,
    /// Vital-sign monitors, the alert event broadcast and the sample writer.
    pub vitals: crate::vitals::VitalsHub,
    active_uploads: Mutex<HashSet<String>>,
}

impl AppState {
    /// Wraps a store and configuration.
    pub fn new(store: Store, config: ServerConfig) -> Arc<AppState> {
        Arc::new(AppState {
            vitals: crate::vitals::VitalsHub::new(
                store.clone(),
                std::time::Duration::from_millis(config.vitals_idle_evict_ms),
            ),
            store,
            config,
            jobs_ready: Notify::new(),
            metrics: Metrics::default(),
            active_uploads: Mutex::new(HashSet::new()),
        })
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

//! Running several servers on one database: this server's entry in the store's registry.
//!
//! At start the server registers itself (its id, start time, blob backend and address); the store
//! refuses the start when local blobs (or SQLite) would be shared with another live server
//! ([`auscult_store::servers`]). While it runs, [`run_heartbeat`] refreshes the entry every
//! `server_heartbeat_ms`; a graceful shutdown deletes it. A server killed without a shutdown leaves
//! its entry behind, which the others ignore once it is [`LIVENESS_HEARTBEATS`] heartbeats old.
//!
//! The id is kept in `<data_dir>/server-id`, so a server restarted on the same data directory
//! (after a crash, with its local blobs) replaces its own entry instead of waiting for it to go
//! stale. Nothing here decides who may run with whom: that rule is the store's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use auscult_store::servers::{BlobBackend, ServerEntry};
use auscult_store::{Store, StoreError, now_ms};
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// How many heartbeat intervals may pass before another server counts as gone.
pub const LIVENESS_HEARTBEATS: u64 = 3;

/// The file in the data directory that keeps this installation's server id.
pub const SERVER_ID_FILE: &str = "server-id";

/// This installation's server id: read from [`SERVER_ID_FILE`] in `data_dir`, or made and written
/// there on the first start.
pub fn server_id(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(SERVER_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let id = uuid::Uuid::new_v4().to_string();
    let staging = data_dir.join(format!("{SERVER_ID_FILE}.tmp"));
    std::fs::write(&staging, format!("{id}\n"))?;
    std::fs::rename(&staging, &path)?;
    Ok(id)
}

/// How long a registered server stays live without a heartbeat, milliseconds.
pub fn liveness_ms(config: &ServerConfig) -> i64 {
    i64::try_from(
        config
            .server_heartbeat_ms
            .saturating_mul(LIVENESS_HEARTBEATS),
    )
    .unwrap_or(i64::MAX)
}

/// This server's registry entry as of now.
fn entry(
    config: &ServerConfig,
    id: &str,
    addr: std::net::SocketAddr,
    started_at_ms: i64,
) -> ServerEntry {
    ServerEntry {
        id: id.to_owned(),
        started_at_ms,
        heartbeat_at_ms: now_ms(),
        blob_backend: if config.s3.is_some() {
            BlobBackend::S3
        } else {
            BlobBackend::Local
        },
        address: addr.to_string(),
    }
}

/// Registers this server, or refuses the start ([`ServerError::Refused`]) when it may not run
/// beside a live server already registered.
pub async fn register(
    store: &Store,
    config: &ServerConfig,
    id: &str,
    addr: std::net::SocketAddr,
    started_at_ms: i64,
) -> Result<()> {
    let entry = entry(config, id, addr, started_at_ms);
    let live_after = entry.heartbeat_at_ms.saturating_sub(liveness_ms(config));
    match store.register_server(&entry, live_after).await {
        Ok(()) => Ok(()),
        Err(StoreError::ServerRefused(why)) => Err(ServerError::Refused(why)),
        Err(e) => Err(e.into()),
    }
}

/// Refreshes this server's entry every `server_heartbeat_ms` until shutdown; registers it again
/// if another server pruned it as stale (this server was stalled longer than the liveness window).
pub async fn run_heartbeat(
    state: Arc<AppState>,
    id: String,
    addr: std::net::SocketAddr,
    started_at_ms: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_millis(state.config.server_heartbeat_ms);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match state.store.heartbeat_server(&id, now_ms()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(server_id = %id, "this server's registry entry was pruned as stale; registering again");
                if let Err(e) =
                    register(&state.store, &state.config, &id, addr, started_at_ms).await
                {
                    tracing::error!(server_id = %id, error = %e, "registering this server again failed");
                }
            }
            Err(e) => tracing::warn!(server_id = %id, error = %e, "server heartbeat failed"),
        }
    }
}

//! Durable storage for auscult: metadata in SQLite (default, WAL) or PostgreSQL (chosen by the
//! database URL), recording bytes in an object store, the analysis job queue and the audit trail.
//!
//! Architecture invariants: this crate knows nothing of protobuf or gRPC; every query touching a
//! person's data names the tenant; tokens are stored only as hashes. New tables (e.g. vitals,
//! programmes) come as new migration files in both `migrations/sqlite` and `migrations/postgres`
//! and a new module with its own `impl Store` block.

pub mod analysis;
pub mod assignments;
pub mod audit;
pub mod blobs;
pub mod db;
pub mod error;
pub mod family;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod labs;
pub mod leases;
pub mod live;
pub mod programs;
pub mod questionnaire_links;
pub mod recordings;
pub mod reviews;
pub mod servers;
pub mod token_cache;
pub mod vitals;
pub mod web_users;
pub mod webhooks;

pub use blobs::{BlobConfig, Blobs};
pub use db::{Backend, DbOptions, now_ms};
pub use error::{Result, StoreError};
pub use ids::{CaseId, DeviceId, PrincipalId, SubjectId, TenantId};

/// The database pool and the blob store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    backend: Backend,
    /// The recording bytes.
    pub blobs: Blobs,
    /// Recent token lookups and the budget for unknown ids ([`token_cache`]).
    tokens: std::sync::Arc<token_cache::TokenCache>,
    /// The database URL, on PostgreSQL, for the connection that reads this server's live inbox
    /// ([`live`]).
    listen_url: Option<db::SecretUrl>,
}

impl Store {
    /// Opens (and migrates) the database and opens the blob store.
    pub async fn open(db: &DbOptions, blobs: &BlobConfig) -> Result<Store> {
        let (pool, backend) = db::open_pool(db).await?;
        // Token lookups may hold half the pool at most, so a flood of them leaves the rest free.
        let token_slots = usize::try_from(pool.options().get_max_connections() / 2).unwrap_or(1);
        let listen_url = (backend == Backend::Postgres).then(|| db::SecretUrl::new(db.url.clone()));
        Ok(Store {
            pool,
            backend,
            listen_url,
            blobs: Blobs::open(blobs)?,
            tokens: std::sync::Arc::new(token_cache::TokenCache::new(
                token_slots,
                std::time::Instant::now(),
            )),
        })
    }

    /// Which database engine is in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for modules added in other crates' migrations to share (e.g. vitals).
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

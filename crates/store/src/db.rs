//! Opening the database: backend chosen by URL, WAL for SQLite, migrations applied at start.
//!
//! All queries in this crate are written once in the dialect both backends accept (`$n`
//! placeholders, integers for booleans and Unix-millisecond times) and run through `sqlx::Any`.
//! Where the dialects must differ (the job queue's locking) the code branches on [`Backend`].
//! Queries assembled with `format!` (wrapped in `sqlx::AssertSqlSafe`) only ever splice in
//! constants of this crate (column lists, fixed clauses); every value is a bound parameter.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

use crate::error::{Result, StoreError};

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode (one server process).
    Sqlite,
    /// PostgreSQL (several server processes may share it).
    Postgres,
}

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite://path?mode=rwc` or `postgres://user:pass@host/db`.
    pub url: String,
    /// Maximum pooled connections.
    pub max_connections: u32,
}

/// Longest a query waits for a pooled connection. While the database is unreachable (a
/// PostgreSQL restart, a network cut) calls fail after this with a storage error (`UNAVAILABLE`
/// to gRPC clients, who retry) instead of hanging until their own deadline; the pool reconnects
/// by itself once the database is back.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the pool, turns on WAL for SQLite, and applies this crate's migrations.
pub async fn open_pool(options: &DbOptions) -> Result<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = if options.url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if options.url.starts_with("postgres:") || options.url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        let scheme = options.url.split(':').next().unwrap_or_default().to_owned();
        return Err(StoreError::UnsupportedUrl(scheme));
    };
    let connect: AnyConnectOptions = options.url.parse()?;
    let connect = connect.disable_statement_logging();
    if backend == Backend::Sqlite {
        // WAL is a property of the database file: set it once, outside the pool, because switching
        // needs an exclusive lock that the busy timeout cannot wait for.
        let mut conn = sqlx::AnyConnection::connect_with(&connect).await?;
        conn.execute("PRAGMA journal_mode=WAL").await?;
        conn.close().await?;
    }
    let max = match backend {
        // SQLite has one writer; more connections only add lock contention.
        Backend::Sqlite => options.max_connections.clamp(1, 8),
        Backend::Postgres => options.max_connections.max(1),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect)
        .await?;
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok((pool, backend))
}

/// A database URL, which may carry a password: its `Debug` shows none of it.
#[derive(Clone)]
pub(crate) struct SecretUrl(String);

impl SecretUrl {
    pub(crate) fn new(url: String) -> SecretUrl {
        SecretUrl(url)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl(..)")
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh random identifier (UUID v4, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Converts a count to the database's signed integer, saturating.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Converts a stored signed integer back to a count (negative values read as 0).
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

//! The registry of the servers running on one database.
//!
//! Any number of servers may share a PostgreSQL database when they also share an S3-compatible
//! blob store: nothing one of them holds in memory is needed by another. A server with *local*
//! blobs is different: the uploads it receives are readable by it alone, so if another server
//! claimed their analysis jobs (or served their audio) it would find nothing. Each server
//! therefore registers itself here at start, heartbeats its row and deletes it on a graceful
//! shutdown, and [`Store::register_server`] refuses a start that would mix local blobs with
//! another live server. SQLite serves one process, so on SQLite any other live server is refused.
//!
//! A row whose heartbeat is older than the caller's liveness window is a server that died without
//! deleting it (SIGKILL, a lost machine): it is ignored and pruned.

use sqlx::Row;

use crate::Store;
use crate::db::Backend;
use crate::error::{Result, StoreError};

/// Where a server keeps recording bytes: what decides whether it may share the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobBackend {
    /// A directory on the server's own machine.
    Local,
    /// An S3-compatible bucket every server reaches.
    S3,
}

impl BlobBackend {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobBackend::Local => "local",
            BlobBackend::S3 => "s3",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Result<BlobBackend> {
        match s {
            "local" => Ok(BlobBackend::Local),
            "s3" => Ok(BlobBackend::S3),
            other => Err(StoreError::Corrupt(format!(
                "unknown blob backend {other:?}"
            ))),
        }
    }
}

/// One registered server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The server's id (stable across restarts of one installation).
    pub id: String,
    /// When it started, Unix ms.
    pub started_at_ms: i64,
    /// Its last heartbeat, Unix ms.
    pub heartbeat_at_ms: i64,
    /// Where it keeps recording bytes.
    pub blob_backend: BlobBackend,
    /// The gRPC address it listens on.
    pub address: String,
}

/// The PostgreSQL advisory lock that serialises registrations (`"ausc"` and 1).
const REGISTRY_LOCK: i64 = 0x6175_7363_0000_0001;

/// Takes a transaction-scoped advisory lock on PostgreSQL (released at commit or rollback), so
/// that a check followed by an insert cannot interleave with another server's. SQLite needs none:
/// the statements that rely on it are single statements, and SQLite runs one writer at a time.
pub(crate) async fn lock_for_transaction(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    key: i64,
) -> Result<()> {
    if backend == Backend::Postgres {
        // Wrapped so the row has a column type the `Any` driver reads (the lock returns `void`).
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(key)
            .fetch_one(&mut **tx)
            .await?;
    }
    Ok(())
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<ServerEntry> {
    let backend: String = row.try_get("blob_backend")?;
    Ok(ServerEntry {
        id: row.try_get("id")?,
        started_at_ms: row.try_get("started_at_ms")?,
        heartbeat_at_ms: row.try_get("heartbeat_at_ms")?,
        blob_backend: BlobBackend::parse(&backend)?,
        address: row.try_get("address")?,
    })
}

/// Whether a server with `mine` blobs may run beside a live server with `other` blobs on `db`.
fn may_share(db: Backend, mine: BlobBackend, other: BlobBackend) -> bool {
    db == Backend::Postgres && mine == BlobBackend::S3 && other == BlobBackend::S3
}

/// Why `entry` may not start beside `other`, in words an operator can act on.
fn refusal(db: Backend, entry: &ServerEntry, other: &ServerEntry, now_ms: i64) -> String {
    let seen = (now_ms - other.heartbeat_at_ms).max(0) as f64 / 1000.0;
    let who = format!(
        "another server ({} at {}, {} blobs, last heartbeat {seen:.1} s ago) is running on this database",
        other.id,
        other.address,
        other.blob_backend.as_str()
    );
    let why = if db == Backend::Sqlite {
        "SQLite serves one server process; use PostgreSQL and S3 blobs to run several".to_owned()
    } else if entry.blob_backend == BlobBackend::Local {
        "this server keeps recordings in a local directory that the other cannot read; \
         configure S3 blobs (the same bucket) on every server to run several"
            .to_owned()
    } else {
        "that server keeps recordings in a local directory that this one cannot read; \
         restart it with S3 blobs (the same bucket) first"
            .to_owned()
    };
    format!("{who}: {why}")
}

impl Store {
    /// Registers `entry` as a running server, unless another server registered on this database
    /// with a heartbeat at or after `live_after_ms` may not run beside it (see the module
    /// documentation): then [`StoreError::ServerRefused`] says which and why. Rows of servers
    /// whose heartbeat is older than `live_after_ms` are deleted; an earlier row with the same id
    /// (this installation before a crash) is replaced.
    pub async fn register_server(&self, entry: &ServerEntry, live_after_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_for_transaction(&mut tx, self.backend, REGISTRY_LOCK).await?;
        sqlx::query("DELETE FROM servers WHERE id = $1 OR heartbeat_at_ms < $2")
            .bind(&entry.id)
            .bind(live_after_ms)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT id, started_at_ms, heartbeat_at_ms, blob_backend, address FROM servers \
             ORDER BY heartbeat_at_ms DESC, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let other = entry_from_row(row)?;
            if !may_share(self.backend, entry.blob_backend, other.blob_backend) {
                return Err(StoreError::ServerRefused(refusal(
                    self.backend,
                    entry,
                    &other,
                    entry.heartbeat_at_ms,
                )));
            }
        }
        sqlx::query(
            "INSERT INTO servers (id, started_at_ms, heartbeat_at_ms, blob_backend, address) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&entry.id)
        .bind(entry.started_at_ms)
        .bind(entry.heartbeat_at_ms)
        .bind(entry.blob_backend.as_str())
        .bind(&entry.address)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that server `id` is alive at `now_ms`. Returns false when its row is gone (another
    /// server pruned it as stale): the caller should register again.
    pub async fn heartbeat_server(&self, id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE servers SET heartbeat_at_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes server `id` from the registry (a graceful shutdown).
    pub async fn deregister_server(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every registered server, live or not, most recent heartbeat first.
    pub async fn list_servers(&self) -> Result<Vec<ServerEntry>> {
        let rows = sqlx::query(
            "SELECT id, started_at_ms, heartbeat_at_ms, blob_backend, address FROM servers \
             ORDER BY heartbeat_at_ms DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}

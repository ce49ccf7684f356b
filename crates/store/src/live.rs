//! Live auscultation across servers: the fleet-wide list of live sessions, and the inboxes through
//! which servers pass each other a session's frames and clinicians' instructions.
//!
//! A live session is held by the server its device streams to. The holder writes the session's
//! row when it opens ([`Store::open_live_session`]) and deletes it when it ends
//! ([`Store::end_live_session`]). A holder that died leaves its rows behind: they are listed only
//! while the holder's heartbeat in the server registry is within the caller's liveness window,
//! and deleted when that server starts again ([`Store::end_live_sessions_of`]) or when another
//! server opens a session and the dead one's registry entry is gone.
//!
//! On PostgreSQL every server has an inbox, a `LISTEN` channel named after its id
//! ([`inbox_channel`]). [`Store::send_live`] puts a text message of at most
//! [`MAX_LIVE_MESSAGE`] bytes in a server's inbox (`pg_notify`), [`Store::live_inbox`] reads this
//! server's own. A message is delivered at most once (one sent while the reader reconnects is
//! lost), and messages sent one after another (each awaited) arrive in that order. The messages
//! are opaque to the store. SQLite serves one server and has no inboxes.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::postgres::PgListener;

use crate::Store;
use crate::db::Backend;
use crate::error::{Result, StoreError};
use crate::ids::{CaseId, SubjectId, TenantId};

/// Longest message [`Store::send_live`] sends, bytes (PostgreSQL refuses a notification payload
/// of 8000 bytes or more).
pub const MAX_LIVE_MESSAGE: usize = 7_900;

/// One live session as the fleet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSessionRow {
    /// The recording id (the case id once complete).
    pub recording_id: CaseId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The subject.
    pub subject_id: SubjectId,
    /// The site being recorded, as stored.
    pub site: String,
    /// The server the device streams to.
    pub server_id: String,
    /// When the device started recording, Unix ms.
    pub started_at_ms: i64,
    /// PCG sample rate.
    pub pcg_rate_hz: u32,
    /// Whether the device receives instructions (it streams with acknowledgements).
    pub takes_instructions: bool,
}

const COLUMNS: &str = "l.recording_id, l.tenant_id, l.subject_id, l.site, l.server_id, \
                       l.started_at_ms, l.pcg_rate_hz, l.takes_instructions";

fn row_of(row: &sqlx::any::AnyRow) -> Result<LiveSessionRow> {
    let rate: i64 = row.try_get("pcg_rate_hz")?;
    let takes: i64 = row.try_get("takes_instructions")?;
    Ok(LiveSessionRow {
        recording_id: CaseId::new(row.try_get::<String, _>("recording_id")?),
        tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
        subject_id: SubjectId::new(row.try_get::<String, _>("subject_id")?),
        site: row.try_get("site")?,
        server_id: row.try_get("server_id")?,
        started_at_ms: row.try_get("started_at_ms")?,
        pcg_rate_hz: u32::try_from(rate)
            .map_err(|_| StoreError::Corrupt(format!("live session rate {rate}")))?,
        takes_instructions: takes != 0,
    })
}

/// The `LISTEN` channel of `server_id`'s inbox: a fixed prefix and a hash of the id, so that any
/// id makes a channel name PostgreSQL accepts (at most 63 bytes).
pub fn inbox_channel(server_id: &str) -> String {
    let digest = Sha256::digest(server_id.as_bytes());
    let mut name = String::from("auscult_live_");
    for b in &digest[..16] {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// This server's inbox ([`Store::live_inbox`]).
pub struct LiveInbox {
    listener: PgListener,
}

impl std::fmt::Debug for LiveInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveInbox").finish_non_exhaustive()
    }
}

impl LiveInbox {
    /// The next message. A lost connection is re-established (messages sent meanwhile are lost).
    pub async fn recv(&mut self) -> Result<String> {
        Ok(self.listener.recv().await?.payload().to_owned())
    }
}

impl Store {
    /// Records that `row`'s session is open on its server (replacing an earlier row of the same
    /// recording: a resumed upload), and deletes the rows of servers no longer registered.
    pub async fn open_live_session(&self, row: &LiveSessionRow, now_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM live_sessions WHERE server_id NOT IN (SELECT id FROM servers)")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO live_sessions (recording_id, tenant_id, subject_id, site, server_id, \
             started_at_ms, pcg_rate_hz, takes_instructions, opened_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (recording_id) DO UPDATE SET tenant_id = excluded.tenant_id, \
             subject_id = excluded.subject_id, site = excluded.site, \
             server_id = excluded.server_id, started_at_ms = excluded.started_at_ms, \
             pcg_rate_hz = excluded.pcg_rate_hz, \
             takes_instructions = excluded.takes_instructions, \
             opened_at_ms = excluded.opened_at_ms",
        )
        .bind(row.recording_id.as_str())
        .bind(row.tenant_id.as_str())
        .bind(row.subject_id.as_str())
        .bind(&row.site)
        .bind(&row.server_id)
        .bind(row.started_at_ms)
        .bind(i64::from(row.pcg_rate_hz))
        .bind(i64::from(row.takes_instructions))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the live session of `recording_id` held by `server_id` (a row another server wrote
    /// since, for a resumed upload, is left alone).
    pub async fn end_live_session(&self, recording_id: &CaseId, server_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM live_sessions WHERE recording_id = $1 AND server_id = $2")
            .bind(recording_id.as_str())
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every live session held by `server_id` (it starts again after dying); how many.
    pub async fn end_live_sessions_of(&self, server_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM live_sessions WHERE server_id = $1")
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The tenant's live sessions whose holder heartbeat at or after `live_after_ms`, oldest
    /// first.
    pub async fn live_sessions(
        &self,
        tenant_id: &TenantId,
        live_after_ms: i64,
    ) -> Result<Vec<LiveSessionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM live_sessions l JOIN servers s ON s.id = l.server_id \
             WHERE l.tenant_id = $1 AND s.heartbeat_at_ms >= $2 \
             ORDER BY l.started_at_ms, l.recording_id"
        )))
        .bind(tenant_id.as_str())
        .bind(live_after_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_of).collect()
    }

    /// The tenant's live session of `recording_id` if its holder heartbeat at or after
    /// `live_after_ms`.
    pub async fn live_session(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
        live_after_ms: i64,
    ) -> Result<Option<LiveSessionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM live_sessions l JOIN servers s ON s.id = l.server_id \
             WHERE l.tenant_id = $1 AND l.recording_id = $2 AND s.heartbeat_at_ms >= $3"
        )))
        .bind(tenant_id.as_str())
        .bind(recording_id.as_str())
        .bind(live_after_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// Puts `message` in `server_id`'s inbox. [`StoreError::Unsupported`] on SQLite or for a
    /// message longer than [`MAX_LIVE_MESSAGE`].
    pub async fn send_live(&self, server_id: &str, message: &str) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::Unsupported(
                "messages between servers on SQLite",
            ));
        }
        if message.len() > MAX_LIVE_MESSAGE {
            return Err(StoreError::Unsupported("a live message this long"));
        }
        // Wrapped so the row has a column type the `Any` driver reads (`pg_notify` returns void).
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_notify($1, $2)) AS sent")
            .bind(inbox_channel(server_id))
            .bind(message)
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts reading `server_id`'s inbox (on a connection of its own). [`StoreError::Unsupported`]
    /// on SQLite.
    pub async fn live_inbox(&self, server_id: &str) -> Result<LiveInbox> {
        let Some(url) = &self.listen_url else {
            return Err(StoreError::Unsupported(
                "messages between servers on SQLite",
            ));
        };
        let mut listener = PgListener::connect(url.as_str()).await?;
        listener.listen(&inbox_channel(server_id)).await?;
        Ok(LiveInbox { listener })
    }
}

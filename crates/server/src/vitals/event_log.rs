//! `Watch`'s reading of the stored event log: replay after an id, and the poll for events other
//! servers stored.

use auscult_store::{SubjectId, TenantId};

use super::*;

/// Where one `Watch` stream stands in the tenant's event log, and what it reads it with.
pub(super) struct Cursor {
    pub(super) store: Store,
    pub(super) caller: Caller,
    pub(super) tenant_id: TenantId,
    pub(super) subject: Option<SubjectId>,
    /// The last event id sent.
    pub(super) last: i64,
    /// The newest stored id a poll has seen.
    seen_latest: i64,
    /// An id a poll saw, replayed at the next poll unless the broadcast delivered it meanwhile.
    pending: Option<i64>,
    pub(super) tx: mpsc::Sender<std::result::Result<pb::AlertEvent, Status>>,
}

impl Cursor {
    pub(super) fn new(
        store: Store,
        caller: Caller,
        tenant_id: TenantId,
        subject: Option<SubjectId>,
        after: i64,
        tx: mpsc::Sender<std::result::Result<pb::AlertEvent, Status>>,
    ) -> Cursor {
        Cursor {
            store,
            caller,
            tenant_id,
            subject,
            last: after,
            seen_latest: after,
            pending: None,
            tx,
        }
    }

    /// Whether other servers can store events for this tenant: only on PostgreSQL (the server
    /// registry keeps a server on SQLite alone), so a single server neither polls nor checks.
    fn fleet(&self) -> bool {
        self.store.backend() == auscult_store::Backend::Postgres
    }

    /// Sends stored events after `last` (paged, audited as reads), updating `last`. Returns
    /// false when the client left.
    pub(super) async fn replay(&mut self) -> Result<bool> {
        loop {
            let rows = self
                .store
                .alert_events_after(
                    &self.caller.actor(),
                    &self.tenant_id,
                    self.last,
                    self.subject.as_ref(),
                    REPLAY_PAGE,
                    now_ms(),
                )
                .await?;
            let full = rows.len() as i64 == REPLAY_PAGE;
            for r in rows {
                self.last = r.event_id;
                if self
                    .tx
                    .send(Ok(event_proto(r.event_id, &r.event)))
                    .await
                    .is_err()
                {
                    return Ok(false);
                }
            }
            if !full {
                return Ok(true);
            }
        }
    }

    /// Whether an event of the tenant before `event_id` is stored but not yet sent (another
    /// server stored it and no poll has replayed it yet).
    pub(super) async fn gap_before(&self, event_id: i64) -> Result<bool> {
        if !self.fleet() {
            return Ok(false);
        }
        let before = self
            .store
            .latest_alert_event_id(&self.tenant_id, self.subject.as_ref(), event_id)
            .await?;
        Ok(before > self.last)
    }

    /// One poll for events stored by other servers: replays what the previous poll saw and the
    /// broadcast has not delivered since, then notes the newest stored id. Returns false when
    /// the client left.
    pub(super) async fn poll_fleet(&mut self) -> Result<bool> {
        if !self.fleet() {
            return Ok(true);
        }
        if let Some(seen) = self.pending.take()
            && seen > self.last
            && !self.replay().await?
        {
            return Ok(false);
        }
        let latest = self
            .store
            .latest_alert_event_id(&self.tenant_id, self.subject.as_ref(), i64::MAX)
            .await?;
        if latest > self.seen_latest.max(self.last) {
            self.pending = Some(latest);
        }
        self.seen_latest = self.seen_latest.max(latest);
        Ok(true)
    }
}

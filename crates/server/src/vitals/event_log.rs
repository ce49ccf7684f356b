//! `Watch`'s reading of the stored event log: replay after an id, and the poll for events other
//! servers stored.

use super::*;

/// Sends stored events after `last` (paged), updating `last`. Returns false when the client left.
pub(super) async fn replay(
    store: &Store,
    caller: &Caller,
    tenant_id: &str,
    subject: Option<&str>,
    last: &mut i64,
    tx: &mpsc::Sender<std::result::Result<pb::AlertEvent, Status>>,
) -> Result<bool> {
    loop {
        let rows = store
            .alert_events_after(
                &caller.actor(),
                tenant_id,
                *last,
                subject,
                REPLAY_PAGE,
                now_ms(),
            )
            .await?;
        let full = rows.len() as i64 == REPLAY_PAGE;
        for r in rows {
            *last = r.event_id;
            if tx
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

/// One poll of a `Watch` for events stored by other servers: replays (from the store, audited
/// as a read) what the previous poll saw and the broadcast has not delivered since, then notes
/// the newest stored id. Returns false when the client left.
pub(super) async fn poll_fleet(
    store: &Store,
    caller: &Caller,
    (tenant_id, subject): (&str, Option<&str>),
    (last, seen_latest, pending): (&mut i64, &mut i64, &mut Option<i64>),
    tx: &mpsc::Sender<std::result::Result<pb::AlertEvent, Status>>,
) -> Result<bool> {
    if let Some(seen) = pending.take()
        && seen > *last
        && !replay(store, caller, tenant_id, subject, last, tx).await?
    {
        return Ok(false);
    }
    let latest = store
        .latest_alert_event_id(tenant_id, subject, i64::MAX)
        .await?;
    if latest > (*seen_latest).max(*last) {
        *pending = Some(latest);
    }
    *seen_latest = (*seen_latest).max(latest);
    Ok(true)
}

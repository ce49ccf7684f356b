//! One monitor per resident across a fleet: subject leases, the relay to a lease's holder, and
//! takeover when a holder dies (the store's side is `auscult_store::leases`).
//!
//! - A server monitors a resident only while it holds the resident's lease. It takes the lease
//!   when it first needs the monitor (a batch, a nurse's action) and the lease is free or
//!   expired, and trusts a lease it holds until a third of its time is left
//!   ([`VitalsHub::holds`]); [`run_leases`] renews all of them every third of
//!   `vitals_lease_ms`.
//! - A batch reaching a server that does not hold the resident's lease is validated and stored
//!   there, with a relay row in the same transaction; the holder reads the relay every
//!   [`RELAY_POLL`] and applies the batch to its monitor (it is not stored again). A nurse's
//!   action is relayed the same way and the requesting server waits for the holder's answer
//!   (at most [`RELAY_ANSWER_WAIT`], then UNAVAILABLE: retry).
//! - A server that stops renewing (SIGKILL, a lost machine, a database it cannot reach) loses its
//!   leases when they expire; [`run_leases`] on the others takes expired leases over and builds
//!   their monitors from storage: unresolved alerts continue (`resumed`), sensors' last times and
//!   the sudden-change baselines come from the stored samples and minute rollups, so nothing
//!   warms up again. A server that finds a lease of a monitor it holds in memory taken drops
//!   that monitor. A graceful shutdown ends its leases at once.
//!
//! Without a registered server id (a hub built outside `auscult_server::start`, e.g. in a unit
//! test) every lease is this process's: it monitors every resident it hears of, as one server
//! always did.
//!
//! Not guarded: order checks of a relayed batch run on the holder, after the samples are stored
//! by the receiver (duplicates are refused by the store at once); a relayed batch the holder's
//! engine finds out of order is stored but not seen by the monitor, and logged.

use std::sync::atomic::AtomicI64;

use auscult_store::leases::{Lease, RelayKind, RelayRow};
use auscult_store::{SubjectId, TenantId};
use prost::Message;

use super::*;

/// How often a lease holder reads what other servers relayed to it.
pub const RELAY_POLL: Duration = Duration::from_millis(200);
/// How long a server waits for a lease holder's answer to a relayed action.
pub const RELAY_ANSWER_WAIT: Duration = Duration::from_secs(10);
/// Most relay rows handled per poll.
const RELAY_PAGE: i64 = 500;
/// Most expired leases taken over per round.
const TAKEOVER_PAGE: i64 = 200;
/// Relay rows older than this are swept, handled or not (see [`auscult_store::Store::sweep_relays`]).
const RELAY_KEEP: Duration = Duration::from_secs(600);

/// A stored batch relayed to the resident's lease holder.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RelayedBatch {
    /// The device principal that sent it.
    #[prost(string, tag = "1")]
    pub device_id: String,
    /// The batch as the device sent it (already validated and stored).
    #[prost(message, optional, tag = "2")]
    pub batch: Option<pb::VitalsBatch>,
}

/// A nurse's action relayed to the resident's lease holder.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RelayedAction {
    #[prost(string, tag = "1")]
    pub alert_id: String,
    /// The acting principal.
    #[prost(string, tag = "2")]
    pub by: String,
    /// `acknowledge`, `resolve`, `escalate` or `snooze`.
    #[prost(string, tag = "3")]
    pub action: String,
    /// For `snooze`: until this wall-clock time, Unix ms.
    #[prost(int64, tag = "4")]
    pub snooze_until_ms: i64,
}

/// The holder's answer to a relayed action: the alert after it, or why it was refused.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RelayedAnswer {
    #[prost(message, optional, tag = "1")]
    pub alert: Option<pb::Alert>,
    /// `not_found`, `failed_precondition`, `invalid_argument` or `internal`.
    #[prost(string, tag = "2")]
    pub refused: String,
    #[prost(string, tag = "3")]
    pub message: String,
}

/// This server's leases.
#[derive(Debug)]
pub(super) struct Leases {
    /// This server's id in the registry; unset = no leases (every subject is this process's).
    pub(super) server_id: OnceLock<String>,
    pub(super) ttl_ms: AtomicI64,
    /// Subjects this server holds, and until when (Unix ms) as last renewed.
    pub(super) held: Mutex<HashMap<SubjectKey, i64>>,
}

impl Leases {
    pub(super) fn new(ttl: Duration) -> Leases {
        Leases {
            server_id: OnceLock::new(),
            ttl_ms: AtomicI64::new(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn ttl(&self) -> i64 {
        self.ttl_ms.load(Ordering::Relaxed)
    }
}

fn action_name(action: Action) -> (&'static str, i64) {
    match action {
        Action::Acknowledge => ("acknowledge", 0),
        Action::Resolve => ("resolve", 0),
        Action::Escalate => ("escalate", 0),
        Action::Snooze(until) => ("snooze", until),
    }
}

fn action_of(name: &str, until: i64) -> Option<Action> {
    match name {
        "acknowledge" => Some(Action::Acknowledge),
        "resolve" => Some(Action::Resolve),
        "escalate" => Some(Action::Escalate),
        "snooze" => Some(Action::Snooze(until)),
        _ => None,
    }
}

impl VitalsHub {
    /// Takes part in leases as server `server_id` (called once, when the server is registered).
    pub fn join_fleet(&self, server_id: &str) {
        let _ = self.leases.server_id.set(server_id.to_owned());
    }

    /// Whether this server monitors the subject: it holds its lease (taking it if free or
    /// expired). A subject whose lease another server holds has no monitor here.
    pub(super) async fn holds(&self, tenant_id: &str, subject_id: &str) -> Result<bool> {
        let Some(server_id) = self.leases.server_id.get() else {
            return Ok(true);
        };
        let key = (tenant_id.to_owned(), subject_id.to_owned());
        let now = now_ms();
        let ttl = self.leases.ttl();
        if lock(&self.leases.held)
            .get(&key)
            .is_some_and(|&until| until - now > ttl / 3)
        {
            return Ok(true);
        }
        match self
            .store
            .acquire_subject_lease(
                &TenantId::new(tenant_id),
                &SubjectId::new(subject_id),
                server_id,
                now,
                ttl,
            )
            .await?
        {
            Lease::Mine { expires_at_ms } => {
                lock(&self.leases.held).insert(key, expires_at_ms);
                Ok(true)
            }
            Lease::Held { .. } => {
                lock(&self.leases.held).remove(&key);
                self.drop_monitor(&key);
                Ok(false)
            }
        }
    }

    /// Forgets the monitor of a subject this server no longer holds (its state is in storage).
    fn drop_monitor(&self, key: &SubjectKey) {
        let entry = lock(&self.subjects).remove(key);
        if let Some(entry) = entry
            && let Ok(mut s) = entry.try_lock()
        {
            s.evicted = true;
        }
    }

    /// Gives up the lease of an evicted (dormant) subject.
    pub(super) async fn release(&self, key: &SubjectKey) {
        let Some(server_id) = self.leases.server_id.get() else {
            return;
        };
        lock(&self.leases.held).remove(key);
        if let Err(e) = self
            .store
            .release_subject_lease(
                &TenantId::new(key.0.as_str()),
                &SubjectId::new(key.1.as_str()),
                server_id,
            )
            .await
        {
            // It expires on its own.
            tracing::warn!(error = %e, "releasing a subject lease failed");
        }
    }

    /// Renews this server's leases, drops monitors whose lease was lost, and takes over expired
    /// leases (building their monitors from storage).
    pub(super) async fn maintain_leases(&self) -> Result<()> {
        let Some(server_id) = self.leases.server_id.get() else {
            return Ok(());
        };
        let ttl = self.leases.ttl();
        let now = now_ms();
        let renewed: HashSet<SubjectKey> = self
            .store
            .renew_subject_leases(server_id, now, ttl)
            .await?
            .into_iter()
            .collect();
        let lost: Vec<SubjectKey> = {
            let mut held = lock(&self.leases.held);
            // A lease taken after the renewal read its rows is still good until it expires.
            held.retain(|k, until| renewed.contains(k) || *until > now);
            for k in &renewed {
                held.insert(k.clone(), now.saturating_add(ttl));
            }
            lock(&self.subjects)
                .keys()
                .filter(|k| !held.contains_key(*k))
                .cloned()
                .collect()
        };
        for key in &lost {
            tracing::warn!("a subject lease was lost: its monitor moves to another server");
            self.drop_monitor(key);
        }
        let stale = self
            .store
            .sweep_relays(now.saturating_sub(i64::try_from(RELAY_KEEP.as_millis()).unwrap_or(0)))
            .await?;
        if stale > 0 {
            tracing::warn!(rows = stale, "swept relay rows nobody handled");
        }
        let expired = self
            .store
            .expired_subject_leases(now_ms(), TAKEOVER_PAGE)
            .await?;
        let mut taken = 0usize;
        for (tenant_id, subject_id) in expired {
            if self.holds(&tenant_id, &subject_id).await? {
                self.subject(&tenant_id, &subject_id).await?;
                taken += 1;
            }
        }
        if taken > 0 {
            tracing::info!(subjects = taken, "took over the monitoring of residents");
        }
        Ok(())
    }

    /// Ends this server's leases now (a graceful shutdown).
    pub(super) async fn end_leases(&self) {
        if let Some(server_id) = self.leases.server_id.get()
            && let Err(e) = self.store.expire_subject_leases(server_id).await
        {
            tracing::warn!(error = %e, "ending this server's subject leases failed");
        }
    }
}

impl VitalsApi {
    /// Stores a validated batch of a subject whose lease another server holds, with a relay
    /// row for the holder's monitor.
    pub(super) async fn relay_batch(
        &self,
        tenant_id: &str,
        device_id: &str,
        batch: &pb::VitalsBatch,
        samples: &[Sample],
    ) -> Result<pb::VitalsBatchAck> {
        let ack = |accepted: usize, error: &str| pb::VitalsBatchAck {
            batch_id: batch.batch_id,
            accepted: u32::try_from(accepted).unwrap_or(u32::MAX),
            rejected_index: None,
            error: error.to_owned(),
            alert_events: 0,
        };
        if samples.is_empty() {
            // Only the holder's clock would move: nothing to store or relay.
            return Ok(ack(0, ""));
        }
        let rows: Vec<VitalRow> = samples
            .iter()
            .zip(&batch.samples)
            .map(|(x, sent)| to_row(x, device_id, &sent.source_device))
            .collect();
        let payload = RelayedBatch {
            device_id: device_id.to_owned(),
            batch: Some(batch.clone()),
        }
        .encode_to_vec();
        match self
            .hub()
            .store_samples(
                tenant_id,
                &batch.subject_id,
                rows,
                rollup_rows(samples),
                Some(payload),
            )
            .await
        {
            Ok(()) => Ok(ack(samples.len(), "")),
            Err(ServerError::Store(StoreError::AlreadyExists(_))) => Ok(ack(
                0,
                "duplicate: a sample of this batch is already stored",
            )),
            Err(e) => Err(e),
        }
    }

    /// Applies a batch another server stored and relayed to this server's monitor.
    async fn apply_relayed_batch(&self, row: &RelayRow) -> Result<()> {
        let relayed = RelayedBatch::decode(row.payload.as_slice())
            .map_err(|_| ServerError::Corrupt("a relayed vitals batch"))?;
        let Some(batch) = relayed.batch else {
            return Err(ServerError::Corrupt("a relayed vitals batch"));
        };
        let samples: Vec<Sample> = batch
            .samples
            .iter()
            .filter_map(|s| to_sample(s, &relayed.device_id).ok())
            .collect();
        let wall = Timestamp(now_ms());
        let sent_at = batch
            .sent_at
            .as_ref()
            .map(|t| Timestamp(convert::millis(t)));
        let hub = self.hub();
        let mut s = hub.lock_subject(&row.tenant_id, &row.subject_id).await?;
        s.last_used = Instant::now();
        let newest = samples.iter().map(|x| x.at).max();
        let Some(clock) = s.clock.batch_time(wall, sent_at, newest) else {
            return Ok(());
        };
        if let Err((i, e)) = s.monitor.check_batch(&samples, clock) {
            tracing::warn!(
                batch = batch.batch_id,
                index = i,
                reason = e.to_string().len(),
                "a relayed batch is stored but out of order for the monitor"
            );
            return Ok(());
        }
        s.clock.set(clock, wall);
        hub.apply_checked(
            &row.tenant_id,
            &row.subject_id,
            &mut s,
            &samples,
            clock,
            batch.expected_interval_seconds,
        )
        .await?;
        Ok(())
    }

    /// This server's answer to an action relayed to it.
    async fn answer_action(&self, row: &RelayRow) -> RelayedAnswer {
        let refused = |kind: &str, message: String| RelayedAnswer {
            alert: None,
            refused: kind.to_owned(),
            message,
        };
        let Ok(asked) = RelayedAction::decode(row.payload.as_slice()) else {
            return refused("internal", "a relayed action could not be read".into());
        };
        let Some(action) = action_of(&asked.action, asked.snooze_until_ms) else {
            return refused("internal", "a relayed action names no action".into());
        };
        match self
            .act_here(&row.tenant_id, &asked.alert_id, &asked.by, action)
            .await
        {
            Ok(alert) => RelayedAnswer {
                alert: Some(alert),
                ..RelayedAnswer::default()
            },
            Err(ServerError::NotFound(_)) => refused("not_found", String::new()),
            Err(ServerError::FailedPrecondition(m)) => refused("failed_precondition", m),
            Err(ServerError::InvalidArgument(m)) => refused("invalid_argument", m),
            Err(e) => {
                tracing::error!(error = %e, "a relayed alert action failed");
                refused("internal", "the action failed".into())
            }
        }
    }

    /// [`VitalsApi::act`] through the server that holds the resident's lease: the action is
    /// relayed, and its answer awaited.
    pub(super) async fn act_through_holder(
        &self,
        tenant_id: &str,
        subject_id: &str,
        alert_id: &str,
        by: &str,
        action: Action,
    ) -> Result<pb::Alert> {
        let (name, until) = action_name(action);
        let payload = RelayedAction {
            alert_id: alert_id.to_owned(),
            by: by.to_owned(),
            action: name.to_owned(),
            snooze_until_ms: until,
        }
        .encode_to_vec();
        let store = &self.hub().store;
        let relay_id = store
            .relay_action(
                &TenantId::new(tenant_id),
                &SubjectId::new(subject_id),
                &payload,
                now_ms(),
            )
            .await?;
        let deadline = Instant::now() + RELAY_ANSWER_WAIT;
        let answer = loop {
            if let Some(answer) = store.relay_answer(relay_id).await? {
                break answer;
            }
            if Instant::now() >= deadline {
                store.delete_relays(&[relay_id]).await?;
                return Err(ServerError::Unavailable(
                    "the server monitoring this resident did not answer in time: retry",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        store.delete_relays(&[relay_id]).await?;
        let answer = RelayedAnswer::decode(answer.as_slice())
            .map_err(|_| ServerError::Corrupt("a relayed action's answer"))?;
        match (answer.alert, answer.refused.as_str()) {
            (Some(alert), _) => Ok(alert),
            (None, "not_found") => Err(ServerError::NotFound("alert")),
            (None, "failed_precondition") => Err(ServerError::FailedPrecondition(answer.message)),
            (None, "invalid_argument") => Err(ServerError::InvalidArgument(answer.message)),
            (None, _) => Err(ServerError::Internal(format!(
                "relayed alert action: {}",
                answer.message
            ))),
        }
    }

    /// Handles what other servers relayed to the subjects this server holds.
    async fn handle_relayed(&self) -> Result<()> {
        let Some(server_id) = self.hub().leases.server_id.get() else {
            return Ok(());
        };
        let store = &self.hub().store;
        for row in store.relayed_to(server_id, RELAY_PAGE).await? {
            match row.kind {
                RelayKind::Batch => {
                    if let Err(e) = self.apply_relayed_batch(&row).await {
                        tracing::error!(error = %e, "applying a relayed vitals batch failed");
                    }
                    store.delete_relays(&[row.relay_id]).await?;
                }
                RelayKind::Action => {
                    let answer = self.answer_action(&row).await;
                    store
                        .answer_relay(row.relay_id, &answer.encode_to_vec())
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Keeps this server's subject leases (renewal, takeover of expired ones) and handles what
/// other servers relay to it, until shutdown; then ends its leases so others take over at once.
pub async fn run_leases(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let hub = &state.vitals;
    if hub.leases.server_id.get().is_none() {
        return;
    }
    let api = VitalsApi::new(Arc::clone(&state), shutdown.clone());
    let every = Duration::from_millis(u64::try_from(hub.leases.ttl() / 3).unwrap_or(1000).max(100));
    let mut maintain = tokio::time::interval(every);
    maintain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut relay = tokio::time::interval(RELAY_POLL);
    relay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = maintain.tick() => {
                if let Err(e) = hub.maintain_leases().await {
                    tracing::warn!(error = %e, "renewing or taking over subject leases failed");
                }
            }
            _ = relay.tick() => {
                if let Err(e) = api.handle_relayed().await {
                    tracing::warn!(error = %e, "handling relayed vitals failed");
                }
            }
            _ = shutdown.changed() => {
                hub.end_leases().await;
                return;
            }
        }
    }
}

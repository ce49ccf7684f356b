//! `VitalsService`: vital-sign ingestion from gateways and devices, trend queries, nurse alerts
//! and the resumable `Watch` stream, wired to the pure alert engine (`auscult-vitals`).
//!
//! Files: this one holds the service (`VitalsApi`: the gRPC calls, trends, reads, `Watch`);
//! [`ingest`] one batch's checks, storage and monitoring; [`actions`] nurses' actions on alerts;
//! [`hub`] the monitors in memory, the sample writer, the delivery auditor and the ticker;
//! [`leases`] one monitor per subject across a fleet (leases, relay, takeover); [`event_log`]
//! `Watch`'s replay of the stored events and its poll for other servers'; [`wire`] the
//! conversions between protobuf and the engine's and store's types.
//!
//! How it fits together:
//! - One [`ResidentMonitor`] per (tenant, subject) lives in memory in the [`VitalsHub`], behind
//!   its own async mutex, so a subject's batches, ticks and lifecycle actions are applied one at
//!   a time and in order.
//! - A batch is validated whole (ranges by the engine's unit types, time against the server's
//!   wall clock, order and duplicates against what this subject already has) before anything
//!   is stored; then it is stored (raw samples and minute rollups, group-committed with other
//!   subjects' batches), and only then applied to the monitor. A refused batch changes nothing
//!   and can raise nothing.
//! - Every alert event is stored (event log + current alert state) and then broadcast, under
//!   one lock, so event ids are broadcast in increasing order. `Watch` subscribes first, then
//!   replays stored events after the client's id, then forwards live events with a higher id:
//!   no gap and no duplicate at the seam. A lagging watcher catches up from the store.
//! - A background task ticks every monitor each second (minutes close, silent sensors,
//!   escalation, snooze end). A monitor that is dormant ([`ResidentMonitor::is_dormant`]: every
//!   sensor silent with its alert raised, no clinical condition, no alert timer) and has had no
//!   batch for `vitals_idle_evict_ms` is evicted from memory; its clock is kept, and it is
//!   rebuilt from storage (sensors' last times, unresolved alerts) when data or an alert action
//!   comes again. The rebuilt monitor is ticked at once, so each sensor still silent continues
//!   its stored alert (`resumed`) before the new batch can clear it.
//!
//! Devices: a batch is accepted only from a device assigned to its subject (assignments are
//! cached per device for [`ASSIGNMENT_TTL`], and forgotten at once when changed through this
//! server). Every sample is stored with the sending device's principal id, and the engine knows
//! a sensor as `<device id>/<source_device>` ([`SourceId::of_device`]): a sensor's identity is
//! always scoped to the device that sent it, so two devices naming a sensor alike never share
//! order checks, duplicates or silence. An empty batch for a subject without a monitor in
//! memory creates nothing.
//!
//! The web console's nurses' station calls the same functions (`open_watch`, `act`, `trend`,
//! `alerts`, `sensors`) with the signed-in person's `Caller`, so it has no rule of its own.
//!
//! Audit: every page of stored events replayed on `Watch` is audited (`alerts.read`), and every
//! live event delivered (`alerts.watch`: watcher, subject, alert), group-committed with other
//! watchers' deliveries and stored before the event is sent.
//!
//! Clocks: each subject has its own clock, the latest `sent_at` or sample time of its batches
//! advanced by the wall time elapsed since its last batch. The monitor runs on that clock, so an
//! accelerated replay of past device times behaves like real time; only the "in the future"
//! check is against the server's wall clock.
//!
//! After a restart: the event log and alert states are in the store, so `Watch` resumes across
//! the restart. Unresolved alerts are loaded; when a rebuilt monitor finds the same episode
//! again (same kind; for a silent sensor, the same sensor), it continues the stored alert
//! (event `resumed`, acknowledgement and snooze re-applied) instead of raising a new one. Stored
//! alerts whose condition does not come back stay as they are and can still be acknowledged,
//! snoozed or resolved. The last sample time of each subject's sensors is reloaded (for order
//! and duplicate checks, and silent-sensor detection of subjects seen in the last hour), and
//! the sudden-change baselines are refilled from the stored minute rollups of the last baseline
//! window (12 hours), so detection does not warm up again.
//!
//! Across servers (PostgreSQL; on SQLite the registry keeps a server alone and none of this
//! runs): events are broadcast only within the server that stored them, so `Watch` also polls
//! the store every [`WATCH_POLL`] for the tenant's newest event id; an id that the
//! broadcast has not delivered by the next poll (an event another server stored) is replayed
//! from the store. Before a live event is sent, the store is asked whether an earlier event of
//! the tenant is still undelivered (stored by another server, not yet polled); if so the stream
//! replays from the store instead, so it stays in id order. The store makes event ids visible in
//! increasing order across servers (`Store::append_alert_event`), so the cursor never skips one.
//! Each subject is monitored by one server at a time, the holder of its lease; batches and
//! actions reaching another server are relayed to the holder, and a dead holder's subjects are
//! taken over from storage ([`leases`]).
//!
//! Families: a family member (role `family`) reads, never acts, and only residents they were
//! invited for: every read (`trend`, `alerts`, `history`, `sensors`, `open_watch`,
//! `latest_event_id`) takes the resident and checks the family member's grant in the store
//! (`require_readable`), so the scope holds for the web pages and the gRPC calls alike; a
//! tenant-wide read is PERMISSION_DENIED for them, another resident NOT_FOUND.
//!
//! Must never: log a subject id, a value or an alert detail (ids of batches and counts only);
//! answer for a subject or alert of another tenant (it is NOT_FOUND); return data unaudited.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::vitals_service_server::VitalsService;
use auscult_store::vitals::{
    AlertDelivery, AlertEventRow, LastSample, MinuteRow, NewAlertEvent, TrendQuery, VitalRow,
    VitalsBatchRows,
};
use auscult_store::{Store, StoreError, SubjectId, TenantId, now_ms};
use auscult_vitals::{
    Acvpu, Alert, AlertClass, AlertEvent, AlertEventKind, AlertId, AlertKind, AlertState,
    AlertStatus, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, Condition,
    ConditionClass, DurationMs, MinuteIndex, MonitorConfig, OxygenSupport, Parameter, PriorAlert,
    Reading, ResidentMonitor, Rollup, Sample, Severity, SourceId, SpO2Percent, StaffId,
    SubjectClock, Term, Timestamp, VitalsError, check_device_time, continued_alert, merge_buckets,
    rollup_minutes,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Caller, Role, authenticate};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Who sends vital signs.
const INGESTERS: &[Role] = &[Role::Device];
/// Who reads vital signs and acts on alerts.
const WATCHERS: &[Role] = &[Role::Nurse, Role::Clinician, Role::Admin];
/// Who reads vital signs and alerts: the watchers (any resident of their tenant) and family
/// members (only the residents they were invited for: [`VitalsApi::require_readable`]).
const READERS: &[Role] = &[Role::Nurse, Role::Clinician, Role::Admin, Role::Family];
/// Most samples in one batch.
pub const MAX_BATCH_SAMPLES: usize = 10_000;
/// How far ahead of the server's wall clock a device time may be.
pub const MAX_CLOCK_SKEW_MS: i64 = 30_000;
/// How often every monitor is ticked.
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);
/// Most events read from the store per query when replaying.
const REPLAY_PAGE: i64 = 1_000;
/// How often a `Watch` looks in the store for events other servers of the fleet stored (they
/// are not broadcast here). An event seen there is replayed from the store one poll later,
/// unless this server's broadcast delivered it meanwhile: cross-server delivery within two
/// polls, and this server's own events always go out live.
pub const WATCH_POLL: Duration = Duration::from_secs(1);
/// Longest trend range.
const MAX_TREND_MS: i64 = 400 * 86_400_000;
/// Most batches group-committed together.
const GROUP_MAX: usize = 256;
/// Sensors of subjects seen within this long before a start are re-registered.
const RESTART_LOOKBACK_MS: i64 = 3_600_000;
/// Most distinct `source_device` values in one batch: a device has a handful of sensors, and
/// each distinct one becomes a tracked source of the subject's monitor.
pub const MAX_SOURCES_PER_BATCH: usize = 16;
/// Most distinct subjects one `IngestVitals` stream reports for (a gateway serving more opens
/// more streams): bounds what one stream can make the server monitor.
pub const MAX_SUBJECTS_PER_STREAM: usize = 1_000;
/// How long a device's assignments are trusted from the cache before they are read again (an
/// assignment changed through another server takes effect within this).
pub const ASSIGNMENT_TTL: Duration = Duration::from_secs(10);
/// Most live deliveries audited in one transaction.
const AUDIT_GROUP_MAX: usize = 512;

mod actions;
mod event_log;
mod hub;
mod ingest;
mod leases;
pub mod wire;

pub(crate) use actions::Action;
use event_log::*;
use hub::*;
pub use hub::{LiveEvent, VitalsHub, run_ticker};
pub use leases::{RELAY_ANSWER_WAIT, RELAY_POLL, run_leases};
pub use wire::alert_proto;
pub(crate) use wire::check_subject_id;
use wire::*;

/// The vitals service.
#[derive(Debug, Clone)]
pub struct VitalsApi {
    state: Arc<AppState>,
    shutdown: watch::Receiver<bool>,
}

impl VitalsApi {
    /// Wraps the shared state. `shutdown` ends open `Watch` streams (with UNAVAILABLE, so a
    /// station reconnects elsewhere or later and resumes) when the server stops; without it a
    /// graceful shutdown would wait for every nurse station to hang up.
    pub fn new(state: Arc<AppState>, shutdown: watch::Receiver<bool>) -> Self {
        Self { state, shutdown }
    }

    fn hub(&self) -> &VitalsHub {
        &self.state.vitals
    }

    async fn require_subject(&self, tenant_id: &TenantId, subject_id: &SubjectId) -> Result<()> {
        check_subject_id(subject_id.as_str())?;
        if self
            .state
            .store
            .vitals_subject_exists(tenant_id, subject_id)
            .await?
        {
            Ok(())
        } else {
            Err(ServerError::NotFound("subject"))
        }
    }

    /// Requires that `caller` (of `tenant_id`, a reader) may read `subject_id`: a watcher any
    /// resident of the tenant with vital signs; a family member only a resident whose grant
    /// stands (accepted, not revoked). Anything else is NOT_FOUND, never told apart from a
    /// resident who does not exist.
    async fn require_readable(
        &self,
        caller: &Caller,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
    ) -> Result<()> {
        if caller.role != Role::Family {
            return self.require_subject(tenant_id, subject_id).await;
        }
        check_subject_id(subject_id.as_str())?;
        if self
            .state
            .store
            .family_may_see(tenant_id, &caller.principal_id, subject_id)
            .await?
        {
            Ok(())
        } else {
            Err(ServerError::NotFound("subject"))
        }
    }

    /// The tenant of a reader of `subject` (one resident, or the whole tenant when `None`: never
    /// for a family member), after [`Self::require_readable`].
    async fn reader_tenant(
        &self,
        caller: &Caller,
        subject: Option<&SubjectId>,
    ) -> Result<TenantId> {
        let tenant_id = caller.tenant_with(READERS)?.clone();
        match subject {
            Some(s) => self.require_readable(caller, &tenant_id, s).await?,
            None if caller.role == Role::Family => {
                return Err(ServerError::PermissionDenied(
                    "a family member reads only the residents they were invited for",
                ));
            }
            None => {}
        }
        Ok(tenant_id)
    }

    async fn query_trend_inner(
        &self,
        request: Request<pb::QueryTrendRequest>,
    ) -> Result<pb::QueryTrendResponse> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let req = request.into_inner();
        let Some(parameter) = parameter_of(req.parameter) else {
            caller.tenant_with(WATCHERS)?;
            return Err(ServerError::InvalidArgument("parameter is required".into()));
        };
        let (Some(from), Some(until)) = (req.from.as_ref(), req.until.as_ref()) else {
            caller.tenant_with(WATCHERS)?;
            return Err(ServerError::InvalidArgument(
                "from and until are required".into(),
            ));
        };
        let buckets = self
            .trend(
                &caller,
                &TrendRequest {
                    subject_id: &req.subject_id,
                    parameter,
                    from_ms: convert::millis(from),
                    until_ms: convert::millis(until),
                    bucket_minutes: req.bucket_minutes,
                },
            )
            .await?;
        let points = buckets
            .into_iter()
            .map(|(start, r)| pb::TrendPoint {
                bucket_start: Some(convert::timestamp(start.0)),
                count: r.count,
                min: r.min,
                max: r.max,
                mean: r.mean(),
            })
            .collect();
        Ok(pb::QueryTrendResponse { points })
    }

    /// A subject's trend of one parameter for `caller` (a watcher of the subject's tenant):
    /// the stored minute rollups in `[from, until)` merged into buckets, oldest first. Audited
    /// as a read of the subject's data. `QueryTrend` and the nurses' station both call this.
    pub(crate) async fn trend(
        &self,
        caller: &Caller,
        q: &TrendRequest<'_>,
    ) -> Result<Vec<(Timestamp, Rollup)>> {
        let tenant_id = caller.tenant_with(READERS)?;
        let (from, until) = (q.from_ms, q.until_ms);
        if until <= from || until - from > MAX_TREND_MS {
            return Err(ServerError::InvalidArgument(
                "until must be after from, within 400 days".into(),
            ));
        }
        if !(1..=1440).contains(&q.bucket_minutes) {
            return Err(ServerError::InvalidArgument(
                "bucket_minutes must be 1 to 1440".into(),
            ));
        }
        let subject_id = &SubjectId::new(q.subject_id);
        self.require_readable(caller, tenant_id, subject_id).await?;
        let rows = self
            .state
            .store
            .vital_trend(
                &caller.actor(),
                tenant_id,
                &TrendQuery {
                    subject_id,
                    parameter: q.parameter.as_str(),
                    from_ms: from,
                    until_ms: until,
                },
                now_ms(),
            )
            .await?;
        let minutes = rows.iter().map(|r| {
            (
                MinuteIndex(r.minute_ms.div_euclid(60_000)),
                Rollup {
                    count: u32::try_from(r.count).unwrap_or(u32::MAX),
                    min: r.min,
                    max: r.max,
                    sum: r.sum,
                },
            )
        });
        Ok(merge_buckets(
            minutes,
            DurationMs::minutes(i64::from(q.bucket_minutes)),
        ))
    }

    async fn list_alerts_inner(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<pb::ListAlertsResponse> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let req = request.into_inner();
        let subject = (!req.subject_id.is_empty()).then_some(req.subject_id.as_str());
        let rows = self
            .alerts(&caller, subject, req.include_resolved, req.limit)
            .await?;
        Ok(pb::ListAlertsResponse {
            alerts: rows.iter().map(|r| alert_proto(&r.event)).collect(),
        })
    }

    /// The tenant's alerts (of one subject, or all), newest first, at most `limit` (0 = 500,
    /// at most 5,000), audited as a read. `ListAlerts` and the nurses' station both call this.
    pub(crate) async fn alerts(
        &self,
        caller: &Caller,
        subject: Option<&str>,
        include_resolved: bool,
        limit: u32,
    ) -> Result<Vec<AlertEventRow>> {
        let subject = subject.map(SubjectId::new);
        let tenant_id = self.reader_tenant(caller, subject.as_ref()).await?;
        let limit = match limit {
            0 => 500,
            n => n.min(5000),
        };
        Ok(self
            .state
            .store
            .list_alerts(
                &caller.actor(),
                &tenant_id,
                subject.as_ref(),
                include_resolved,
                i64::from(limit),
                now_ms(),
            )
            .await?)
    }

    /// The newest stored event id of the caller's tenant (of one resident, when given): where a
    /// station (or a family's page) that has just read the current alerts resumes its stream
    /// from.
    pub(crate) async fn latest_event_id(
        &self,
        caller: &Caller,
        subject: Option<&str>,
    ) -> Result<i64> {
        let subject = subject.map(SubjectId::new);
        let tenant_id = self.reader_tenant(caller, subject.as_ref()).await?;
        Ok(self
            .state
            .store
            .latest_alert_event_id(&tenant_id, subject.as_ref(), i64::MAX)
            .await?)
    }

    /// A resident's alert events at or after `since_ms`, newest first, at most `limit` (what
    /// happened to each alert and when), audited as `alerts.read`.
    pub(crate) async fn history(
        &self,
        caller: &Caller,
        subject_id: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<AlertEventRow>> {
        let subject_id = &SubjectId::new(subject_id);
        let tenant_id = self.reader_tenant(caller, Some(subject_id)).await?;
        Ok(self
            .state
            .store
            .recent_alert_events(
                &caller.actor(),
                &tenant_id,
                subject_id,
                since_ms,
                i64::from(limit.min(5000)),
                now_ms(),
            )
            .await?)
    }

    /// The last stored sample time of each sensor and parameter of a subject of the caller's
    /// tenant, audited as a read (`vitals.sensors_read`): which sensors are silent and since
    /// when.
    pub(crate) async fn sensors(
        &self,
        caller: &Caller,
        subject_id: &str,
    ) -> Result<Vec<LastSample>> {
        let subject_id = &SubjectId::new(subject_id);
        let tenant_id = self.reader_tenant(caller, Some(subject_id)).await?;
        let store = &self.state.store;
        store
            .audit_subject(&caller.actor(), "vitals.sensors_read", subject_id, now_ms())
            .await?;
        // Categorical readings (consciousness, oxygen) are looked for over the last day.
        Ok(store
            .last_sample_times(&tenant_id, subject_id, 86_400_000, false)
            .await?)
    }

    /// The SpO2 scale the monitors score NEWS2 on (for a NEWS2 trend scored alike).
    pub(crate) fn spo2_scale(&self) -> auscult_vitals::SpO2Scale {
        self.hub().config.spo2_scale
    }

    /// Whether `role` may watch alerts, read trends and act on alerts.
    pub(crate) fn may_watch(role: Role) -> bool {
        WATCHERS.contains(&role)
    }

    /// Opens a resumable stream of the tenant's alert events after `after` (of one subject, or
    /// all) for `caller`: stored events first, then live ones, each once and in id order,
    /// audited like `Watch` (which calls this, as does the nurses' station). The stream ends
    /// with the error `ended` resolves to (the caller's token or session ended), when the
    /// receiver is dropped, or when the server stops.
    pub(crate) async fn open_watch(
        &self,
        caller: Caller,
        subject: Option<String>,
        after: i64,
        ended: impl std::future::Future<Output = ServerError> + Send + 'static,
    ) -> Result<mpsc::Receiver<std::result::Result<pb::AlertEvent, Status>>> {
        let subject = subject.map(SubjectId::from);
        let tenant_id = self.reader_tenant(&caller, subject.as_ref()).await?;
        if after < 0 {
            return Err(ServerError::InvalidArgument(
                "the event id to resume after is negative".into(),
            ));
        }
        // Subscribe before reading the store: nothing stored after the read can be missed.
        let live = self.hub().subscribe();
        let (tx, rx) = mpsc::channel(256);
        let cursor = Cursor::new(
            self.state.store.clone(),
            caller,
            tenant_id,
            subject,
            after,
            tx.clone(),
        );
        let state = Arc::clone(&self.state);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = run_watch(cursor, live, ended, shutdown, &state).await {
                let _ = tx.send(Err(Status::from(e))).await;
            }
        });
        Ok(rx)
    }
}

/// What [`VitalsApi::trend`] is asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrendRequest<'a> {
    /// The subject.
    pub subject_id: &'a str,
    /// The parameter (blood pressure: its systolic value).
    pub parameter: Parameter,
    /// From, Unix ms (inclusive).
    pub from_ms: i64,
    /// Until, Unix ms (exclusive).
    pub until_ms: i64,
    /// Bucket width, 1 to 1,440 minutes.
    pub bucket_minutes: u32,
}

/// Runs one `Watch` stream: the stored events after the client's id, then live ones (and, in a
/// fleet, other servers' from the store), until the client leaves, its token ends, the server
/// stops or something fails (the error is the stream's last message).
async fn run_watch(
    mut c: Cursor,
    mut live: broadcast::Receiver<Arc<LiveEvent>>,
    ended: impl std::future::Future<Output = ServerError>,
    mut shutdown: watch::Receiver<bool>,
    state: &AppState,
) -> Result<()> {
    let mut ended = std::pin::pin!(ended);
    if !c.replay().await? {
        return Ok(());
    }
    let mut poll = tokio::time::interval(WATCH_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let tx = c.tx.clone();
        let received = tokio::select! {
            biased;
            ended = &mut ended => return Err(ended),
            ev = live.recv() => ev,
            _ = tx.closed() => return Ok(()),
            () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                let _ = tx
                    .send(Err(Status::unavailable(
                        "the server is shutting down: reconnect and resume from the last event id",
                    )))
                    .await;
                return Ok(());
            }
            _ = poll.tick() => {
                if !c.poll_fleet().await? {
                    return Ok(());
                }
                continue;
            }
        };
        let ev = match received {
            Ok(ev) => ev,
            // Fell behind the broadcast: catch up from the store, then go on live.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if !c.replay().await? {
                    return Ok(());
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        if ev.tenant_id != c.tenant_id.as_str()
            || ev.event_id <= c.last
            || c.subject
                .as_ref()
                .is_some_and(|s| s.as_str() != ev.event.subject_id)
        {
            continue;
        }
        // An earlier event another server stored goes first: replay from the store up to and
        // past this one, so the stream stays in id order without a gap.
        if c.gap_before(ev.event_id).await? {
            if !c.replay().await? {
                return Ok(());
            }
            continue;
        }
        c.last = ev.event_id;
        // Audited (group-committed with other deliveries) before it is sent.
        let delivery = AlertDelivery {
            tenant_id: c.tenant_id.clone(),
            principal_id: c.caller.principal_id.clone(),
            role: c.caller.role.as_str().to_owned(),
            subject_id: SubjectId::new(ev.event.subject_id.as_str()),
            alert_id: ev.event.alert_id.clone(),
            at_ms: now_ms(),
        };
        state.vitals.audit_delivery(delivery).await?;
        if tx
            .send(Ok(event_proto(ev.event_id, &ev.event)))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

#[tonic::async_trait]
impl VitalsService for VitalsApi {
    type IngestVitalsStream = ReceiverStream<std::result::Result<pb::VitalsBatchAck, Status>>;
    type WatchStream = ReceiverStream<std::result::Result<pb::AlertEvent, Status>>;

    async fn ingest_vitals(
        &self,
        request: Request<Streaming<pb::VitalsBatch>>,
    ) -> std::result::Result<Response<Self::IngestVitalsStream>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let tenant_id = caller.tenant_with(INGESTERS)?.clone();
        let device_id = caller.device_id();
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let api = self.clone();
        let mut token = self.state.token_watch(&caller);
        tokio::spawn(async move {
            // The subjects this stream has reported for (accepted batches).
            let mut subjects: HashSet<String> = HashSet::new();
            loop {
                let msg = tokio::select! {
                    biased;
                    ended = token.ended() => {
                        let _ = tx.send(Err(Status::from(ended))).await;
                        return;
                    }
                    msg = inbound.next() => msg,
                };
                let batch = match msg {
                    Some(Ok(b)) => b,
                    Some(Err(_)) | None => return,
                };
                let ack = if !subjects.contains(&batch.subject_id)
                    && subjects.len() >= MAX_SUBJECTS_PER_STREAM
                {
                    Ok(pb::VitalsBatchAck {
                        batch_id: batch.batch_id,
                        accepted: 0,
                        rejected_index: None,
                        error: format!(
                            "this stream already reported for {MAX_SUBJECTS_PER_STREAM} subjects, the most one stream may: send this subject's batches on another stream"
                        ),
                        alert_events: 0,
                    })
                } else {
                    let subject = batch.subject_id.clone();
                    let ack = api
                        .ingest_batch(tenant_id.as_str(), device_id.as_str(), batch)
                        .await;
                    if ack.as_ref().is_ok_and(|a| a.error.is_empty()) {
                        subjects.insert(subject);
                    }
                    ack.map_err(Status::from)
                };
                let failed = ack.is_err();
                if tx.send(ack).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn query_trend(
        &self,
        request: Request<pb::QueryTrendRequest>,
    ) -> std::result::Result<Response<pb::QueryTrendResponse>, Status> {
        Ok(Response::new(self.query_trend_inner(request).await?))
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> std::result::Result<Response<Self::WatchStream>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let req = request.into_inner();
        let subject = (!req.subject_id.is_empty()).then(|| req.subject_id.clone());
        let after = i64::try_from(req.after_event_id)
            .map_err(|_| ServerError::InvalidArgument("after_event_id is too large".into()))?;
        // A revoked nurse's station stops receiving alerts: the stream ends before anything
        // raised after the revocation is sent.
        let mut token = self.state.token_watch(&caller);
        let rx = self
            .open_watch(caller, subject, after, async move { token.ended().await })
            .await?;
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> std::result::Result<Response<pb::Alert>, Status> {
        let id = request.get_ref().alert_id.clone();
        Ok(Response::new(
            self.action_inner(request.metadata(), &id, Action::Acknowledge)
                .await?,
        ))
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> std::result::Result<Response<pb::Alert>, Status> {
        let id = request.get_ref().alert_id.clone();
        Ok(Response::new(
            self.action_inner(request.metadata(), &id, Action::Resolve)
                .await?,
        ))
    }

    async fn snooze_alert(
        &self,
        request: Request<pb::SnoozeAlertRequest>,
    ) -> std::result::Result<Response<pb::Alert>, Status> {
        let req = request.get_ref();
        let until = req
            .until
            .as_ref()
            .map(convert::millis)
            .ok_or_else(|| Status::invalid_argument("until is required"))?;
        let id = req.alert_id.clone();
        Ok(Response::new(
            self.action_inner(request.metadata(), &id, Action::Snooze(until))
                .await?,
        ))
    }

    async fn escalate_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> std::result::Result<Response<pb::Alert>, Status> {
        let id = request.get_ref().alert_id.clone();
        Ok(Response::new(
            self.action_inner(request.metadata(), &id, Action::Escalate)
                .await?,
        ))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> std::result::Result<Response<pb::ListAlertsResponse>, Status> {
        Ok(Response::new(self.list_alerts_inner(request).await?))
    }
}

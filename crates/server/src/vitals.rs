//! `VitalsService`: vital-sign ingestion from gateways and devices, trend queries, nurse alerts
//! and the resumable `Watch` stream, wired to the pure alert engine (`auscult-vitals`).
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
//! Across servers: events are broadcast only within the server that stored them, so `Watch`
//! also polls the store every [`WATCH_POLL`] for the tenant's newest event id; an id that the
//! broadcast has not delivered by the next poll (an event another server stored) is replayed
//! from the store. Before a live event is sent, the store is asked whether an earlier event of
//! the tenant is still undelivered (stored by another server, not yet polled); if so the stream
//! replays from the store instead, so it stays in id order. The store makes event ids visible in
//! increasing order across servers (`Store::append_alert_event`), so the cursor never skips one. Not yet across servers: a
//! subject's monitor lives on every server its devices send to (no subject leases).
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
    AlertDelivery, AlertEventRow, MinuteRow, NewAlertEvent, TrendQuery, VitalRow, VitalsBatchRows,
};
use auscult_store::{Store, StoreError, now_ms};
use auscult_vitals::{
    Acvpu, Alert, AlertEvent, AlertEventKind, AlertId, AlertKind, AlertState, AlertStatus,
    BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, DurationMs, MinuteIndex,
    MonitorConfig, OxygenSupport, Parameter, PriorAlert, Reading, ResidentMonitor, Rollup, Sample,
    SourceId, SpO2Percent, StaffId, SubjectClock, Timestamp, VitalsError, check_device_time,
    continued_alert, merge_buckets, rollup_minutes,
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

/// A stored alert event as broadcast to watchers.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// Its id in the event log.
    pub event_id: i64,
    /// The event.
    pub event: NewAlertEvent,
}

type SubjectKey = (String, String);

/// The subjects a device is assigned to, as read at `loaded`.
#[derive(Debug)]
struct AssignedSubjects {
    subjects: HashSet<String>,
    loaded: Instant,
}

/// Where an evicted subject's clock stood: (device time, wall time), Unix ms.
type EvictedClock = (Timestamp, Timestamp);

/// One subject's live state.
#[derive(Debug)]
struct Subject {
    /// When a batch or an action last used it (for eviction).
    last_used: Instant,
    /// Set when it was evicted: whoever still holds it must look the subject up again.
    evicted: bool,
    /// The engine; it also holds the last accepted time per source and parameter.
    monitor: ResidentMonitor,
    /// The subject's clock (device time, advanced by wall time between batches).
    clock: SubjectClock,
    /// Engine alert id -> stored alert id, and back.
    ids: HashMap<AlertId, String>,
    by_uuid: HashMap<String, AlertId>,
    /// Unresolved alerts stored before this process started, not yet continued.
    carried: Vec<AlertEventRow>,
}

impl Subject {
    /// The subject's clock at wall time `wall` in Unix ms (`None` before its first batch).
    fn now(&mut self, wall: i64) -> Option<i64> {
        self.clock.now(Timestamp(wall)).map(|t| t.0)
    }
}

struct AuditRequest {
    delivery: AlertDelivery,
    /// `true` once the delivery is audited.
    reply: oneshot::Sender<bool>,
}

struct WriteRequest {
    tenant_id: String,
    subject_id: String,
    samples: Vec<VitalRow>,
    rollups: Vec<(String, MinuteRow)>,
    reply: oneshot::Sender<std::result::Result<(), StoreError>>,
}

/// The vitals side of the server: monitors, the event broadcast and the sample writer.
pub struct VitalsHub {
    store: Store,
    config: MonitorConfig,
    /// A dormant monitor unused this long is evicted.
    idle_evict: Duration,
    subjects: Mutex<HashMap<SubjectKey, Arc<tokio::sync::Mutex<Subject>>>>,
    /// Serialises building monitors, so a subject is rebuilt (and its alerts resumed) once.
    building: tokio::sync::Mutex<()>,
    /// Clocks of evicted subjects, until they are rebuilt.
    evicted: Mutex<HashMap<SubjectKey, EvictedClock>>,
    /// (tenant, device) -> the subjects it may report for.
    assignments: Mutex<HashMap<(String, String), Arc<AssignedSubjects>>>,
    /// Bumped whenever assignments are forgotten, so a read racing a change is not cached.
    assignment_generation: AtomicU64,
    auditor: OnceLock<mpsc::Sender<AuditRequest>>,
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// Serialises append + broadcast so ids go out in order.
    event_lock: tokio::sync::Mutex<()>,
    writer: OnceLock<mpsc::Sender<WriteRequest>>,
    /// Unresolved alerts from before this start, by subject, until the subject is first used.
    carried: Mutex<HashMap<SubjectKey, Vec<AlertEventRow>>>,
}

impl std::fmt::Debug for VitalsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VitalsHub").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VitalsHub {
    /// A hub over `store` with the engine's default configuration, evicting dormant monitors
    /// unused for `idle_evict`.
    pub fn new(store: Store, idle_evict: Duration) -> VitalsHub {
        let (events, _) = broadcast::channel(4096);
        VitalsHub {
            store,
            config: MonitorConfig::default(),
            idle_evict,
            subjects: Mutex::new(HashMap::new()),
            building: tokio::sync::Mutex::new(()),
            evicted: Mutex::new(HashMap::new()),
            assignments: Mutex::new(HashMap::new()),
            assignment_generation: AtomicU64::new(0),
            auditor: OnceLock::new(),
            events,
            event_lock: tokio::sync::Mutex::new(()),
            writer: OnceLock::new(),
            carried: Mutex::new(HashMap::new()),
        }
    }

    /// Subscribes to live events (every tenant; callers filter).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.events.subscribe()
    }

    /// Number of subjects with a monitor in memory.
    pub fn subjects(&self) -> usize {
        lock(&self.subjects).len()
    }

    /// Loads what a restart must rebuild: unresolved alerts, and the sensors of subjects seen in
    /// the last hour (so a sensor that went silent while the server was down is noticed).
    pub async fn recover(&self) -> Result<()> {
        let open = self.store.unresolved_alerts().await?;
        let n_open = open.len();
        {
            let mut carried = lock(&self.carried);
            for (tenant, row) in open {
                carried
                    .entry((tenant, row.event.subject_id.clone()))
                    .or_default()
                    .push(row);
            }
        }
        let mut keys: Vec<SubjectKey> = self
            .store
            .recent_vitals_subjects(now_ms() - RESTART_LOOKBACK_MS)
            .await?;
        keys.extend(lock(&self.carried).keys().cloned());
        keys.sort();
        keys.dedup();
        for (tenant, subject) in &keys {
            self.subject(tenant, subject).await?;
        }
        if n_open > 0 || !keys.is_empty() {
            tracing::info!(
                unresolved_alerts = n_open,
                subjects = keys.len(),
                "vitals state rebuilt from storage"
            );
        }
        Ok(())
    }

    /// Whether a monitor of the subject is in memory.
    fn has_subject(&self, tenant_id: &str, subject_id: &str) -> bool {
        lock(&self.subjects).contains_key(&(tenant_id.to_owned(), subject_id.to_owned()))
    }

    /// The subject's state, locked: created (and its sensors' last times loaded) on first use,
    /// rebuilt if it was evicted.
    async fn lock_subject(
        &self,
        tenant_id: &str,
        subject_id: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<Subject>> {
        loop {
            let s = self
                .subject(tenant_id, subject_id)
                .await?
                .lock_owned()
                .await;
            // Evicted while this task waited for it: look it up (rebuild it) again.
            if !s.evicted {
                return Ok(s);
            }
        }
    }

    /// The subject's state, created (and its sensors' last times loaded) on first use.
    async fn subject(
        &self,
        tenant_id: &str,
        subject_id: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Subject>>> {
        let key = (tenant_id.to_owned(), subject_id.to_owned());
        if let Some(s) = lock(&self.subjects).get(&key) {
            return Ok(Arc::clone(s));
        }
        let _building = self.building.lock().await;
        if let Some(s) = lock(&self.subjects).get(&key) {
            return Ok(Arc::clone(s));
        }
        let last = self
            .store
            .last_sample_times(tenant_id, subject_id, 24 * 3_600_000)
            .await?;
        let mut monitor = ResidentMonitor::new(self.config.clone())
            .map_err(|e| ServerError::Internal(format!("vitals monitor: {e}")))?;
        let mut newest: Option<Timestamp> = None;
        for row in last {
            // Samples stored before senders were recorded name no device: not restored.
            let (Some(p), Ok(src)) = (
                Parameter::parse(&row.parameter),
                SourceId::of_device(&row.device_id, &row.source),
            ) else {
                continue;
            };
            newest = newest.max(Some(Timestamp(row.at_ms)));
            monitor.restore_last_sample(src, p, Timestamp(row.at_ms));
        }
        // Sudden-change baselines from the stored minute rollups (their mean stands in for the
        // minute's median: equal for once-a-minute sensors), instead of a new warm-up.
        let lookback_ms = i64::try_from(monitor.baseline_window_minutes())
            .unwrap_or(i64::MAX)
            .saturating_mul(60_000);
        let minutes = self
            .store
            .recent_minutes(tenant_id, subject_id, lookback_ms)
            .await?;
        for parameter in Parameter::ALL {
            let name = parameter.as_str();
            let values = minutes
                .iter()
                .filter(|(p, r)| p == name && r.count > 0)
                .map(|(_, r)| {
                    (
                        MinuteIndex(r.minute_ms.div_euclid(60_000)),
                        r.sum / r.count as f64,
                    )
                });
            monitor.restore_baseline(parameter, values);
        }
        let evicted = lock(&self.evicted).get(&key).copied();
        let carried = lock(&self.carried).remove(&key);
        let carried = match (carried, evicted) {
            (Some(c), _) => c,
            // Its alerts were in memory when it was evicted: read them back.
            (None, Some(_)) => {
                self.store
                    .unresolved_alerts_of(tenant_id, subject_id)
                    .await?
            }
            (None, None) => Vec::new(),
        };
        let wall = now_ms();
        let clock = match evicted {
            // Where the clock stood at eviction, advancing with wall time since.
            Some((device, at)) => SubjectClock::new(Some(device), at),
            // The subject's last known device time; it advances with wall time from here.
            None => SubjectClock::new(newest, Timestamp(wall)),
        };
        let mut subject = Subject {
            last_used: Instant::now(),
            evicted: false,
            monitor,
            clock,
            ids: HashMap::new(),
            by_uuid: HashMap::new(),
            carried,
        };
        if evicted.is_some()
            && let Some(now) = subject.now(wall)
        {
            // Sensors still silent raise again at once and so continue their stored alerts,
            // before a new batch can clear them.
            let events = subject.monitor.tick(Timestamp(now));
            self.publish(tenant_id, subject_id, &mut subject, events, now)
                .await?;
        }
        let subject = Arc::new(tokio::sync::Mutex::new(subject));
        lock(&self.subjects).insert(key.clone(), Arc::clone(&subject));
        lock(&self.evicted).remove(&key);
        Ok(subject)
    }

    /// Whether `device_id` may report for `subject_id` (its assignments, cached for
    /// [`ASSIGNMENT_TTL`]).
    async fn is_assigned(
        &self,
        tenant_id: &str,
        device_id: &str,
        subject_id: &str,
    ) -> Result<bool> {
        let key = (tenant_id.to_owned(), device_id.to_owned());
        if let Some(a) = lock(&self.assignments).get(&key)
            && a.loaded.elapsed() < ASSIGNMENT_TTL
        {
            return Ok(a.subjects.contains(subject_id));
        }
        let generation = self.assignment_generation.load(Ordering::Acquire);
        let subjects: HashSet<String> = self
            .store
            .device_subjects(tenant_id, device_id)
            .await?
            .into_iter()
            .collect();
        let found = subjects.contains(subject_id);
        let mut cache = lock(&self.assignments);
        // An assignment changed while this read ran: do not cache what may be stale.
        if self.assignment_generation.load(Ordering::Acquire) == generation {
            cache.insert(
                key,
                Arc::new(AssignedSubjects {
                    subjects,
                    loaded: Instant::now(),
                }),
            );
        }
        Ok(found)
    }

    /// Forgets the cached assignments of a device (after they changed).
    pub fn forget_assignments(&self, tenant_id: &str, device_id: &str) {
        let mut cache = lock(&self.assignments);
        self.assignment_generation.fetch_add(1, Ordering::AcqRel);
        cache.remove(&(tenant_id.to_owned(), device_id.to_owned()));
    }

    fn auditor(&self) -> &mpsc::Sender<AuditRequest> {
        self.auditor.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * AUDIT_GROUP_MAX);
            tokio::spawn(run_auditor(self.store.clone(), rx));
            tx
        })
    }

    /// Audits one live delivery of an alert event (group-committed with others'); returns once
    /// it is stored.
    async fn audit_delivery(&self, delivery: AlertDelivery) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.auditor()
            .send(AuditRequest { delivery, reply })
            .await
            .map_err(|_| ServerError::Unavailable("delivery auditor stopped"))?;
        match answer.await {
            Ok(true) => Ok(()),
            _ => Err(ServerError::Unavailable("delivery audit failed")),
        }
    }

    fn writer(&self) -> &mpsc::Sender<WriteRequest> {
        self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
            tokio::spawn(run_writer(self.store.clone(), rx));
            tx
        })
    }

    async fn store_samples(
        &self,
        tenant_id: &str,
        subject_id: &str,
        samples: Vec<VitalRow>,
        rollups: Vec<(String, MinuteRow)>,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer()
            .send(WriteRequest {
                tenant_id: tenant_id.to_owned(),
                subject_id: subject_id.to_owned(),
                samples,
                rollups,
                reply,
            })
            .await
            .map_err(|_| ServerError::Unavailable("sample writer stopped"))?;
        match answer.await {
            Ok(r) => r.map_err(ServerError::from),
            Err(_) => Err(ServerError::Unavailable("sample writer stopped")),
        }
    }

    /// Stores and broadcasts one event; ids go out in increasing order.
    async fn emit(&self, tenant_id: &str, event: NewAlertEvent) -> Result<i64> {
        let _order = self.event_lock.lock().await;
        let event_id = self.store.append_alert_event(tenant_id, &event).await?;
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(Arc::new(LiveEvent {
            tenant_id: tenant_id.to_owned(),
            event_id,
            event,
        }));
        Ok(event_id)
    }

    /// Stores and broadcasts a monitor's events, giving new alerts their stored ids (or
    /// continuing an alert stored before a restart). Returns how many were stored.
    async fn publish(
        &self,
        tenant_id: &str,
        subject_id: &str,
        s: &mut Subject,
        events: Vec<AlertEvent>,
        now: i64,
    ) -> Result<u32> {
        let mut n = 0;
        for ev in events {
            let mut change = ev.change.event_kind();
            let mut alert = ev.alert.clone();
            let uuid = match s.ids.get(&ev.alert.id) {
                Some(u) => u.clone(),
                None => {
                    let prior: Vec<(usize, PriorAlert)> = s
                        .carried
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| Some((i, prior_alert(&c.event)?)))
                        .collect();
                    let continued = continued_alert(prior.iter().map(|(_, p)| p), &ev.alert.kind);
                    let uuid = match continued.map(|k| &prior[k]) {
                        Some((i, p)) => {
                            let c = s.carried.swap_remove(*i);
                            change = AlertEventKind::Resumed;
                            if let Some(a) = s.monitor.resume_alert(ev.alert.id, p, Timestamp(now))
                            {
                                alert = a.clone();
                            }
                            c.event.alert_id
                        }
                        None => uuid::Uuid::new_v4().to_string(),
                    };
                    s.ids.insert(ev.alert.id, uuid.clone());
                    s.by_uuid.insert(uuid.clone(), ev.alert.id);
                    uuid
                }
            };
            let stored = snapshot(subject_id, &uuid, Some(change), ev.at.0, &alert);
            self.emit(tenant_id, stored).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Ticks every monitor once at the current wall time.
    pub async fn tick_all(&self) {
        let all: Vec<(SubjectKey, Arc<tokio::sync::Mutex<Subject>>)> = lock(&self.subjects)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for ((tenant, subject), entry) in all {
            // A subject busy with a batch is ticked by that batch.
            let Ok(mut s) = entry.try_lock() else {
                continue;
            };
            let wall = now_ms();
            let Some(now) = s.now(wall) else {
                continue;
            };
            let events = s.monitor.tick(Timestamp(now));
            if !events.is_empty() {
                if let Err(e) = self.publish(&tenant, &subject, &mut s, events, now).await {
                    tracing::error!(error = %e, "storing alert events from a tick failed");
                }
                continue;
            }
            if s.last_used.elapsed() >= self.idle_evict && s.monitor.is_dormant() {
                // Clock first, then out of the map: whoever looks it up next rebuilds it with
                // its clock and stored alerts; whoever already holds it sees `evicted`.
                s.evicted = true;
                let key = (tenant, subject);
                lock(&self.evicted).insert(key.clone(), (Timestamp(now), Timestamp(wall)));
                let mut map = lock(&self.subjects);
                if map.get(&key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                    map.remove(&key);
                }
            }
        }
    }

    /// Forgets resolved alerts older than an hour (subject clock) from memory.
    fn forget_old(&self) {
        let all: Vec<Arc<tokio::sync::Mutex<Subject>>> =
            lock(&self.subjects).values().cloned().collect();
        for entry in all {
            let Ok(mut s) = entry.try_lock() else {
                continue;
            };
            let Some(now) = s.clock.last() else {
                continue;
            };
            s.monitor
                .forget_resolved_before(now.plus(DurationMs::hours(-1)));
            let kept: std::collections::HashSet<AlertId> =
                s.monitor.alerts().map(|a| a.id).collect();
            s.ids.retain(|id, _| kept.contains(id));
            s.by_uuid.retain(|_, id| kept.contains(id));
        }
    }
}

/// Group-commits batches: takes what is queued (up to [`GROUP_MAX`]) and stores it in one
/// transaction; if that fails, stores each batch alone so only the bad one fails.
async fn run_writer(store: Store, mut rx: mpsc::Receiver<WriteRequest>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let now = now_ms();
        let rows: Vec<VitalsBatchRows<'_>> = group
            .iter()
            .map(|r| VitalsBatchRows {
                tenant_id: &r.tenant_id,
                subject_id: &r.subject_id,
                samples: &r.samples,
                rollups: &r.rollups,
            })
            .collect();
        let together = store.insert_vitals_group(&rows, now).await;
        drop(rows);
        if together.is_ok() {
            for r in group {
                let _ = r.reply.send(Ok(()));
            }
            continue;
        }
        for r in group {
            let alone = store
                .insert_vitals(&r.tenant_id, &r.subject_id, &r.samples, &r.rollups, now)
                .await;
            let _ = r.reply.send(alone);
        }
    }
}

/// Audits live `Watch` deliveries: takes what is queued (up to [`AUDIT_GROUP_MAX`]) and stores
/// it in one transaction, then lets the deliveries go.
async fn run_auditor(store: Store, mut rx: mpsc::Receiver<AuditRequest>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < AUDIT_GROUP_MAX {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let rows: Vec<AlertDelivery> = group.iter().map(|r| r.delivery.clone()).collect();
        let ok = match store.audit_alert_deliveries(&rows).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, deliveries = rows.len(), "auditing alert deliveries failed");
                false
            }
        };
        for r in group {
            let _ = r.reply.send(ok);
        }
    }
}

/// Ticks the monitors every [`TICK_INTERVAL`] until shutdown.
pub async fn run_ticker(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        state.vitals.tick_all().await;
        n += 1;
        if n.is_multiple_of(600) {
            state.vitals.forget_old();
        }
    }
}

/// What the engine needs of an alert stored before this process started; `None` for a stored
/// kind the engine cannot name (a silent-sensor alert without its sensor): nothing continues it.
fn prior_alert(e: &NewAlertEvent) -> Option<PriorAlert> {
    Some(PriorAlert {
        kind: AlertKind::from_parts(e.kind, &e.conditions)?,
        acknowledged_by: (e.state == AlertStatus::Acknowledged)
            .then(|| StaffId(e.acted_by.clone())),
        snoozed_until: e.snoozed_until_ms.map(Timestamp),
    })
}

fn snapshot(
    subject_id: &str,
    alert_id: &str,
    change: Option<AlertEventKind>,
    at: i64,
    a: &Alert,
) -> NewAlertEvent {
    let acted_by = match &a.state {
        AlertState::Acknowledged { by, .. } => by.0.clone(),
        AlertState::Resolved { by: Some(by), .. } => by.0.clone(),
        _ => String::new(),
    };
    NewAlertEvent {
        subject_id: subject_id.to_owned(),
        alert_id: alert_id.to_owned(),
        at_ms: at,
        change,
        kind: a.kind.class(),
        severity: a.severity,
        state: a.state.status(),
        conditions: a.conditions.clone(),
        detail: a.detail.clone(),
        condition_active: a.condition_active,
        level: i64::from(a.level),
        raised_at_ms: a.raised_at.0,
        snoozed_until_ms: a.snoozed_until.map(|t| t.0),
        acted_by,
    }
}

/// The wire form of a stored alert state.
pub fn alert_proto(e: &NewAlertEvent) -> pb::Alert {
    pb::Alert {
        alert_id: e.alert_id.clone(),
        subject_id: e.subject_id.clone(),
        kind: e.kind.as_str().to_owned(),
        severity: e.severity.as_str().to_owned(),
        state: e.state.as_str().to_owned(),
        conditions: e.conditions.iter().map(ToString::to_string).collect(),
        condition_active: e.condition_active,
        escalation_level: u32::try_from(e.level).unwrap_or(0),
        detail: e.detail.clone(),
        raised_at: Some(convert::timestamp(e.raised_at_ms)),
        snoozed_until: e.snoozed_until_ms.map(convert::timestamp),
        acted_by: e.acted_by.clone(),
    }
}

fn event_proto(event_id: i64, e: &NewAlertEvent) -> pb::AlertEvent {
    pb::AlertEvent {
        event_id: u64::try_from(event_id).unwrap_or(0),
        at: Some(convert::timestamp(e.at_ms)),
        change: e.change.map_or("", AlertEventKind::as_str).to_owned(),
        alert: Some(alert_proto(e)),
    }
}

/// Checks a subject id as devices send it: 1 to 128 characters, no control characters.
pub(crate) fn check_subject_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ServerError::InvalidArgument(
            "subject_id must be 1 to 128 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// Why one sample of a batch was refused.
fn bad(i: usize, why: impl std::fmt::Display) -> (Option<u32>, String) {
    (
        Some(u32::try_from(i).unwrap_or(u32::MAX)),
        format!("sample {i}: {why}"),
    )
}

/// Why the engine refused a sample, in the words of an ack.
fn refusal(e: &VitalsError, sample: &Sample, config: &MonitorConfig) -> String {
    let parameter = sample.reading.parameter();
    match e {
        VitalsError::InFuture { at, now } => format!(
            "measured {} s in the future of the server clock",
            at.since(*now).0 / 1000
        ),
        VitalsError::AfterSent { .. } => "measured after the batch's sent_at".into(),
        VitalsError::TooOld { .. } => format!(
            "older than the {}-day backfill limit",
            config.max_backfill.0 / DurationMs::hours(24).0
        ),
        VitalsError::Duplicate { .. } => {
            format!("duplicate {parameter} sample from this source at this time")
        }
        VitalsError::OutOfOrder { at, last } => format!(
            "out of order: {parameter} sample {} ms before the last accepted one",
            last.since(*at).0
        ),
        other => other.to_string(),
    }
}

/// Converts and range-checks one sample sent by `device_id`.
fn to_sample(s: &pb::VitalSample, device_id: &str) -> std::result::Result<Sample, String> {
    use pb::vital_sample::Value;
    let at = s
        .measured_at
        .as_ref()
        .map(convert::millis)
        .ok_or("measured_at is missing")?;
    let source = SourceId::of_device(device_id, &s.source_device).map_err(|e| e.to_string())?;
    let e = |e: auscult_vitals::VitalsError| e.to_string();
    let reading = match s.value.as_ref().ok_or("no value")? {
        Value::HeartRatePerMin(v) => Reading::HeartRate(BeatsPerMinute::new(*v).map_err(e)?),
        Value::RespiratoryRatePerMin(v) => {
            Reading::RespiratoryRate(BreathsPerMinute::new(*v).map_err(e)?)
        }
        Value::Spo2Percent(v) => Reading::SpO2(SpO2Percent::new(*v).map_err(e)?),
        Value::TemperatureCelsius(v) => Reading::Temperature(Celsius::new(*v).map_err(e)?),
        Value::BloodPressure(bp) => Reading::BloodPressure(
            BloodPressure::new(bp.systolic_mmhg, bp.diastolic_mmhg).map_err(e)?,
        ),
        Value::Consciousness(c) => Reading::Consciousness(
            match pb::Acvpu::try_from(*c).unwrap_or(pb::Acvpu::Unspecified) {
                pb::Acvpu::Alert => Acvpu::Alert,
                pb::Acvpu::NewConfusion => Acvpu::NewConfusion,
                pb::Acvpu::Voice => Acvpu::Voice,
                pb::Acvpu::Pain => Acvpu::Pain,
                pb::Acvpu::Unresponsive => Acvpu::Unresponsive,
                pb::Acvpu::Unspecified => return Err("consciousness is unspecified".into()),
            },
        ),
        Value::Oxygen(o) => Reading::OxygenSupport(
            match pb::OxygenSupport::try_from(*o).unwrap_or(pb::OxygenSupport::Unspecified) {
                pb::OxygenSupport::Air => OxygenSupport::Air,
                pb::OxygenSupport::Oxygen => OxygenSupport::Oxygen,
                pb::OxygenSupport::Unspecified => {
                    return Err("oxygen support is unspecified".into());
                }
            },
        ),
    };
    Ok(Sample {
        at: Timestamp(at),
        source,
        reading,
    })
}

/// The stored row of a sample sent by `device_id`, its sensor named `source` by that device.
fn to_row(s: &Sample, device_id: &str, source: &str) -> VitalRow {
    let (value, value2) = match s.reading {
        Reading::BloodPressure(bp) => (bp.systolic().get(), Some(bp.diastolic().get())),
        Reading::Consciousness(c) => (
            match c {
                Acvpu::Alert => 0.0,
                Acvpu::NewConfusion => 1.0,
                Acvpu::Voice => 2.0,
                Acvpu::Pain => 3.0,
                Acvpu::Unresponsive => 4.0,
            },
            None,
        ),
        Reading::OxygenSupport(o) => (if o == OxygenSupport::Oxygen { 1.0 } else { 0.0 }, None),
        other => (other.numeric().unwrap_or(0.0), None),
    };
    VitalRow {
        parameter: s.reading.parameter().as_str().to_owned(),
        device_id: device_id.to_owned(),
        source: source.to_owned(),
        measured_at_ms: s.at.0,
        value,
        value2,
    }
}

fn rollup_rows(samples: &[Sample]) -> Vec<(String, MinuteRow)> {
    rollup_minutes(samples)
        .into_iter()
        .map(|((m, p), r)| {
            (
                p.as_str().to_owned(),
                MinuteRow {
                    minute_ms: m.start().0,
                    count: i64::from(r.count),
                    min: r.min,
                    max: r.max,
                    sum: r.sum,
                },
            )
        })
        .collect()
}

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

    /// Validates, stores and applies one batch sent by the device `device_id`. `Ok(ack)` also
    /// for a refused batch (the ack says why); `Err` only for failures of the server itself.
    async fn ingest_batch(
        &self,
        tenant_id: &str,
        device_id: &str,
        batch: pb::VitalsBatch,
    ) -> Result<pb::VitalsBatchAck> {
        let refuse = |index: Option<u32>, error: String| pb::VitalsBatchAck {
            batch_id: batch.batch_id,
            accepted: 0,
            rejected_index: index,
            error,
            alert_events: 0,
        };
        if let Err(ServerError::InvalidArgument(m)) = check_subject_id(&batch.subject_id) {
            return Ok(refuse(None, m));
        }
        if batch.samples.len() > MAX_BATCH_SAMPLES {
            return Ok(refuse(
                None,
                format!("at most {MAX_BATCH_SAMPLES} samples per batch"),
            ));
        }
        let mut sources: Vec<&str> = batch
            .samples
            .iter()
            .map(|s| s.source_device.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        if sources.len() > MAX_SOURCES_PER_BATCH {
            return Ok(refuse(
                None,
                format!(
                    "{} distinct source_device values: at most {MAX_SOURCES_PER_BATCH} per batch",
                    sources.len()
                ),
            ));
        }
        if !self
            .hub()
            .is_assigned(tenant_id, device_id, &batch.subject_id)
            .await?
        {
            return Ok(refuse(
                None,
                "this device is not assigned to this subject: an administrator assigns it (AdminService.AssignDevice)".into(),
            ));
        }
        let wall = Timestamp(now_ms());
        let skew = DurationMs(MAX_CLOCK_SKEW_MS);
        let sent_at = batch
            .sent_at
            .as_ref()
            .map(|t| Timestamp(convert::millis(t)));
        if let Some(t) = sent_at
            && check_device_time(t, None, wall, skew).is_err()
        {
            return Ok(refuse(
                None,
                format!(
                    "sent_at is {} s ahead of the server clock",
                    t.since(wall).0 / 1000
                ),
            ));
        }
        let config = &self.hub().config;
        let mut samples = Vec::with_capacity(batch.samples.len());
        for (i, s) in batch.samples.iter().enumerate() {
            let checked = to_sample(s, device_id).and_then(|sample| {
                check_device_time(sample.at, sent_at, wall, skew)
                    .map_err(|e| refusal(&e, &sample, config))?;
                Ok(sample)
            });
            match checked {
                Ok(sample) => samples.push(sample),
                Err(why) => {
                    let (idx, msg) = bad(i, why);
                    return Ok(refuse(idx, msg));
                }
            }
        }

        if samples.is_empty() && !self.hub().has_subject(tenant_id, &batch.subject_id) {
            // Nothing to store and no monitor whose clock it could advance: it creates nothing.
            return Ok(pb::VitalsBatchAck {
                batch_id: batch.batch_id,
                accepted: 0,
                rejected_index: None,
                error: String::new(),
                alert_events: 0,
            });
        }
        let mut s = self
            .hub()
            .lock_subject(tenant_id, &batch.subject_id)
            .await?;
        s.last_used = Instant::now();
        let newest = samples.iter().map(|x| x.at).max();
        let Some(clock) = s.clock.batch_time(wall, sent_at, newest) else {
            return Ok(refuse(None, "an empty batch needs sent_at".into()));
        };
        if let Err((i, e)) = s.monitor.check_batch(&samples, clock) {
            let (idx, msg) = bad(i, refusal(&e, &samples[i], config));
            return Ok(refuse(idx, msg));
        }

        if !samples.is_empty() {
            let rows: Vec<VitalRow> = samples
                .iter()
                .zip(&batch.samples)
                .map(|(x, sent)| to_row(x, device_id, &sent.source_device))
                .collect();
            let rollups = rollup_rows(&samples);
            match self
                .hub()
                .store_samples(tenant_id, &batch.subject_id, rows, rollups)
                .await
            {
                Ok(()) => {}
                Err(ServerError::Store(StoreError::AlreadyExists(_))) => {
                    return Ok(refuse(
                        None,
                        "duplicate: a sample of this batch is already stored".into(),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        s.clock.set(clock, wall);
        let mut events = match s.monitor.ingest_batch(&samples, clock) {
            Ok(ev) => ev,
            Err((i, e)) => {
                // Cannot happen after the checks above; stored but not seen by the engine.
                tracing::warn!(
                    batch = batch.batch_id,
                    index = i,
                    reason = e.to_string().len(),
                    "engine refused a stored batch"
                );
                Vec::new()
            }
        };
        if batch.expected_interval_seconds > 0 {
            let expected = DurationMs(i64::from(batch.expected_interval_seconds) * 1000);
            let mut sources: Vec<&SourceId> = samples.iter().map(|x| &x.source).collect();
            sources.sort();
            sources.dedup();
            for src in sources {
                s.monitor.register_source(src.clone(), expected, clock);
            }
        }
        events.extend(s.monitor.tick(clock));
        let alert_events = self
            .hub()
            .publish(tenant_id, &batch.subject_id, &mut s, events, clock.0)
            .await?;
        Ok(pb::VitalsBatchAck {
            batch_id: batch.batch_id,
            accepted: u32::try_from(samples.len()).unwrap_or(u32::MAX),
            rejected_index: None,
            error: String::new(),
            alert_events,
        })
    }

    async fn require_subject(&self, tenant_id: &str, subject_id: &str) -> Result<()> {
        check_subject_id(subject_id)?;
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

    async fn query_trend_inner(
        &self,
        request: Request<pb::QueryTrendRequest>,
    ) -> Result<pb::QueryTrendResponse> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let tenant_id = caller.tenant_with(WATCHERS)?.to_owned();
        let req = request.into_inner();
        let parameter = match pb::VitalParameter::try_from(req.parameter)
            .unwrap_or(pb::VitalParameter::Unspecified)
        {
            pb::VitalParameter::HeartRate => Parameter::HeartRate,
            pb::VitalParameter::RespiratoryRate => Parameter::RespiratoryRate,
            pb::VitalParameter::Spo2 => Parameter::SpO2,
            pb::VitalParameter::Temperature => Parameter::Temperature,
            pb::VitalParameter::BloodPressure => Parameter::BloodPressure,
            pb::VitalParameter::Unspecified => {
                return Err(ServerError::InvalidArgument("parameter is required".into()));
            }
        };
        let (Some(from), Some(until)) = (req.from.as_ref(), req.until.as_ref()) else {
            return Err(ServerError::InvalidArgument(
                "from and until are required".into(),
            ));
        };
        let (from, until) = (convert::millis(from), convert::millis(until));
        if until <= from || until - from > MAX_TREND_MS {
            return Err(ServerError::InvalidArgument(
                "until must be after from, within 400 days".into(),
            ));
        }
        if !(1..=1440).contains(&req.bucket_minutes) {
            return Err(ServerError::InvalidArgument(
                "bucket_minutes must be 1 to 1440".into(),
            ));
        }
        self.require_subject(&tenant_id, &req.subject_id).await?;
        let rows = self
            .state
            .store
            .vital_trend(
                &caller.actor(),
                &tenant_id,
                &TrendQuery {
                    subject_id: &req.subject_id,
                    parameter: parameter.as_str(),
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
        let points = merge_buckets(minutes, DurationMs::minutes(i64::from(req.bucket_minutes)))
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

    async fn list_alerts_inner(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<pb::ListAlertsResponse> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let tenant_id = caller.tenant_with(WATCHERS)?.to_owned();
        let req = request.into_inner();
        let subject = (!req.subject_id.is_empty()).then_some(req.subject_id.as_str());
        if let Some(s) = subject {
            self.require_subject(&tenant_id, s).await?;
        }
        let limit = match req.limit {
            0 => 500,
            n => n.min(5000),
        };
        let rows = self
            .state
            .store
            .list_alerts(
                &caller.actor(),
                &tenant_id,
                subject,
                req.include_resolved,
                i64::from(limit),
                now_ms(),
            )
            .await?;
        Ok(pb::ListAlertsResponse {
            alerts: rows.iter().map(|r| alert_proto(&r.event)).collect(),
        })
    }

    /// Applies a lifecycle action to an alert of the caller's tenant.
    async fn act(&self, caller: &Caller, alert_id: &str, action: Action) -> Result<pb::Alert> {
        let tenant_id = caller.tenant_with(WATCHERS)?.to_owned();
        let hub = self.hub();
        let row = hub
            .store
            .get_alert(&tenant_id, alert_id)
            .await?
            .ok_or(ServerError::NotFound("alert"))?;
        let subject_id = row.event.subject_id.clone();
        let mut s = hub.lock_subject(&tenant_id, &subject_id).await?;
        s.last_used = Instant::now();
        let wall = now_ms();
        let now = s.now(wall).unwrap_or(wall);
        let by = StaffId(caller.principal_id.clone());
        let audit = match action {
            Action::Acknowledge => "alerts.acknowledge",
            Action::Resolve => "alerts.resolve",
            Action::Snooze(_) => "alerts.snooze",
        };
        if let Some(id) = s.by_uuid.get(alert_id).copied() {
            let refused =
                |e: auscult_vitals::VitalsError| ServerError::FailedPrecondition(e.to_string());
            let event = match action {
                Action::Acknowledge => s
                    .monitor
                    .acknowledge(id, by, Timestamp(now))
                    .map_err(refused)?,
                Action::Resolve => {
                    Some(s.monitor.resolve(id, by, Timestamp(now)).map_err(refused)?)
                }
                Action::Snooze(until_wall) => {
                    // The snooze is asked in wall time; the monitor runs on the subject's clock.
                    let until = now.saturating_add(until_wall - wall);
                    Some(
                        s.monitor
                            .snooze(id, Timestamp(until), Timestamp(now))
                            .map_err(|e| ServerError::InvalidArgument(e.to_string()))?,
                    )
                }
            };
            hub.store
                .audit_subject(&caller.actor(), audit, &subject_id, wall)
                .await?;
            if let Some(ev) = event {
                hub.publish(&tenant_id, &subject_id, &mut s, vec![ev], now)
                    .await?;
            }
            let alert = s
                .monitor
                .alerts()
                .find(|a| a.id == id)
                .map(|a| snapshot(&subject_id, alert_id, None, now, a))
                .ok_or(ServerError::NotFound("alert"))?;
            return Ok(alert_proto(&alert));
        }
        // Not in a monitor: stored before a restart (or long resolved). Act on the stored state.
        let mut e = row.event;
        let change = match (action, e.state) {
            (_, AlertStatus::Resolved) => {
                return Err(ServerError::FailedPrecondition(
                    "the alert is already resolved".into(),
                ));
            }
            (Action::Acknowledge, AlertStatus::Acknowledged) => None,
            (Action::Acknowledge, _) => {
                e.state = AlertStatus::Acknowledged;
                e.acted_by = by.0.clone();
                Some(AlertEventKind::Acknowledged)
            }
            (Action::Resolve, _) => {
                e.state = AlertStatus::Resolved;
                e.acted_by = by.0.clone();
                e.snoozed_until_ms = None;
                Some(AlertEventKind::Resolved)
            }
            (Action::Snooze(until_wall), _) => {
                let max = self.hub().config.escalation.max_snooze.0;
                if until_wall <= wall || until_wall - wall > max {
                    return Err(ServerError::InvalidArgument(format!(
                        "snooze must end after now and within {} minutes",
                        max / 60_000
                    )));
                }
                e.snoozed_until_ms = Some(now.saturating_add(until_wall - wall));
                Some(AlertEventKind::Snoozed)
            }
        };
        hub.store
            .audit_subject(&caller.actor(), audit, &subject_id, wall)
            .await?;
        if let Some(change) = change {
            e.change = Some(change);
            e.at_ms = now;
            hub.emit(&tenant_id, e.clone()).await?;
            if e.state == AlertStatus::Resolved {
                s.carried.retain(|c| c.event.alert_id != alert_id);
            } else if let Some(c) = s.carried.iter_mut().find(|c| c.event.alert_id == alert_id) {
                c.event = e.clone();
            }
        }
        Ok(alert_proto(&e))
    }

    async fn action_inner(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        alert_id: &str,
        action: Action,
    ) -> Result<pb::Alert> {
        let caller = authenticate(&self.state.store, metadata).await?;
        caller.tenant_with(WATCHERS)?;
        if alert_id.is_empty() || alert_id.len() > 64 {
            return Err(ServerError::NotFound("alert"));
        }
        self.act(&caller, alert_id, action).await
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Acknowledge,
    Resolve,
    /// Until, wall-clock Unix ms.
    Snooze(i64),
}

/// Sends stored events after `last` (paged), updating `last`. Returns false when the client left.
async fn replay(
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
async fn poll_fleet(
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

#[tonic::async_trait]
impl VitalsService for VitalsApi {
    type IngestVitalsStream = ReceiverStream<std::result::Result<pb::VitalsBatchAck, Status>>;
    type WatchStream = ReceiverStream<std::result::Result<pb::AlertEvent, Status>>;

    async fn ingest_vitals(
        &self,
        request: Request<Streaming<pb::VitalsBatch>>,
    ) -> std::result::Result<Response<Self::IngestVitalsStream>, Status> {
        let caller = authenticate(&self.state.store, request.metadata()).await?;
        let tenant_id = caller.tenant_with(INGESTERS)?.to_owned();
        let device_id = caller.principal_id.clone();
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
                    let ack = api.ingest_batch(&tenant_id, &device_id, batch).await;
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
        let tenant_id = caller.tenant_with(WATCHERS)?.to_owned();
        let req = request.into_inner();
        let subject = (!req.subject_id.is_empty()).then(|| req.subject_id.clone());
        if let Some(s) = &subject {
            self.require_subject(&tenant_id, s).await?;
        }
        let mut last = i64::try_from(req.after_event_id)
            .map_err(|_| ServerError::InvalidArgument("after_event_id is too large".into()))?;
        // Subscribe before reading the store: nothing stored after the read can be missed.
        let mut live = self.hub().subscribe();
        let (tx, rx) = mpsc::channel(256);
        let store = self.state.store.clone();
        let state = Arc::clone(&self.state);
        let mut shutdown = self.shutdown.clone();
        // A revoked nurse's station stops receiving alerts: the stream ends before anything
        // raised after the revocation is sent.
        let mut token = self.state.token_watch(&caller);
        tokio::spawn(async move {
            let subject = subject.as_deref();
            match replay(&store, &caller, &tenant_id, subject, &mut last, &tx).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    return;
                }
            }
            // Other servers' events: the newest stored id seen by polling, and one seen at the
            // previous poll that is to be replayed if the broadcast has not delivered it since.
            let mut seen_latest = last;
            let mut pending: Option<i64> = None;
            let mut poll = tokio::time::interval(WATCH_POLL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let ev = tokio::select! {
                    biased;
                    ended = token.ended() => {
                        let _ = tx.send(Err(Status::from(ended))).await;
                        return;
                    }
                    ev = live.recv() => Some(ev),
                    _ = tx.closed() => return,
                    () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                        let _ = tx
                            .send(Err(Status::unavailable(
                                "the server is shutting down: reconnect and resume from the last event id",
                            )))
                            .await;
                        return;
                    }
                    _ = poll.tick() => None,
                };
                let Some(ev) = ev else {
                    let polled = poll_fleet(
                        &store,
                        &caller,
                        (&tenant_id, subject),
                        (&mut last, &mut seen_latest, &mut pending),
                        &tx,
                    )
                    .await;
                    match polled {
                        Ok(true) => continue,
                        Ok(false) => return,
                        Err(e) => {
                            let _ = tx.send(Err(Status::from(e))).await;
                            return;
                        }
                    }
                };
                match ev {
                    Ok(ev) => {
                        if ev.tenant_id != tenant_id
                            || ev.event_id <= last
                            || subject.is_some_and(|s| s != ev.event.subject_id)
                        {
                            continue;
                        }
                        // An earlier event of the tenant that this server did not broadcast
                        // (another server stored it) goes first: replay from the store up to and
                        // past this one, so the stream stays in id order without a gap.
                        match store
                            .latest_alert_event_id(&tenant_id, subject, ev.event_id)
                            .await
                        {
                            Ok(before) if before > last => {
                                match replay(&store, &caller, &tenant_id, subject, &mut last, &tx)
                                    .await
                                {
                                    Ok(true) => continue,
                                    Ok(false) => return,
                                    Err(e) => {
                                        let _ = tx.send(Err(Status::from(e))).await;
                                        return;
                                    }
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                let _ = tx.send(Err(Status::from(ServerError::from(e)))).await;
                                return;
                            }
                        }
                        last = ev.event_id;
                        // Audited (group-committed with other deliveries) before it is sent.
                        let delivery = AlertDelivery {
                            tenant_id: tenant_id.clone(),
                            principal_id: caller.principal_id.clone(),
                            role: caller.role.as_str().to_owned(),
                            subject_id: ev.event.subject_id.clone(),
                            alert_id: ev.event.alert_id.clone(),
                            at_ms: now_ms(),
                        };
                        if let Err(e) = state.vitals.audit_delivery(delivery).await {
                            let _ = tx.send(Err(Status::from(e))).await;
                            return;
                        }
                        if tx
                            .send(Ok(event_proto(ev.event_id, &ev.event)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the broadcast: catch up from the store, then go on live.
                        match replay(&store, &caller, &tenant_id, subject, &mut last, &tx).await {
                            Ok(true) => {}
                            Ok(false) => return,
                            Err(e) => {
                                let _ = tx.send(Err(Status::from(e))).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
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

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> std::result::Result<Response<pb::ListAlertsResponse>, Status> {
        Ok(Response::new(self.list_alerts_inner(request).await?))
    }
}

//! The in-memory side of vital signs: one monitor per subject (built from storage on first use,
//! evicted when dormant), the group-committing sample writer and delivery auditor, the event
//! broadcast and the 1 s ticker. See the module above for how it fits together.

use auscult_store::DeviceId;

use super::*;

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

pub(super) type SubjectKey = (String, String);

/// The subjects a device is assigned to, as read at `loaded`.
#[derive(Debug)]
pub(super) struct AssignedSubjects {
    pub(super) subjects: HashSet<String>,
    pub(super) loaded: Instant,
}

/// Where an evicted subject's clock stood: (device time, wall time), Unix ms.
pub(super) type EvictedClock = (Timestamp, Timestamp);

/// One subject's live state.
#[derive(Debug)]
pub(super) struct Subject {
    /// When a batch or an action last used it (for eviction).
    pub(super) last_used: Instant,
    /// Set when it was evicted: whoever still holds it must look the subject up again.
    pub(super) evicted: bool,
    /// The engine; it also holds the last accepted time per source and parameter.
    pub(super) monitor: ResidentMonitor,
    /// The subject's clock (device time, advanced by wall time between batches).
    pub(super) clock: SubjectClock,
    /// Engine alert id -> stored alert id, and back.
    pub(super) ids: HashMap<AlertId, String>,
    pub(super) by_uuid: HashMap<String, AlertId>,
    /// Unresolved alerts stored before this process started, not yet continued.
    pub(super) carried: Vec<AlertEventRow>,
}

impl Subject {
    /// The subject's clock at wall time `wall` in Unix ms (`None` before its first batch).
    pub(super) fn now(&mut self, wall: i64) -> Option<i64> {
        self.clock.now(Timestamp(wall)).map(|t| t.0)
    }
}

pub(super) struct AuditRequest {
    pub(super) delivery: AlertDelivery,
    /// `true` once the delivery is audited.
    pub(super) reply: oneshot::Sender<bool>,
}

pub(super) struct WriteRequest {
    pub(super) tenant_id: TenantId,
    pub(super) subject_id: SubjectId,
    pub(super) samples: Vec<VitalRow>,
    pub(super) rollups: Vec<(String, MinuteRow)>,
    /// For the subject's lease holder, stored with the samples (see [`super::leases`]).
    pub(super) relay: Option<Vec<u8>>,
    pub(super) reply: oneshot::Sender<std::result::Result<(), StoreError>>,
}

/// The vitals side of the server: monitors, the event broadcast and the sample writer.
pub struct VitalsHub {
    pub(super) store: Store,
    pub(super) config: MonitorConfig,
    /// A dormant monitor unused this long is evicted.
    pub(super) idle_evict: Duration,
    pub(super) subjects: Mutex<HashMap<SubjectKey, Arc<tokio::sync::Mutex<Subject>>>>,
    /// Serialises building monitors, so a subject is rebuilt (and its alerts resumed) once.
    pub(super) building: tokio::sync::Mutex<()>,
    /// Clocks of evicted subjects, until they are rebuilt.
    pub(super) evicted: Mutex<HashMap<SubjectKey, EvictedClock>>,
    /// (tenant, device) -> the subjects it may report for.
    pub(super) assignments: Mutex<HashMap<(String, String), Arc<AssignedSubjects>>>,
    /// Bumped whenever assignments are forgotten, so a read racing a change is not cached.
    pub(super) assignment_generation: AtomicU64,
    pub(super) auditor: OnceLock<mpsc::Sender<AuditRequest>>,
    pub(super) events: broadcast::Sender<Arc<LiveEvent>>,
    /// Serialises append + broadcast so ids go out in order.
    pub(super) event_lock: tokio::sync::Mutex<()>,
    pub(super) writer: OnceLock<mpsc::Sender<WriteRequest>>,
    /// Unresolved alerts from before this start, by subject, until the subject is first used.
    pub(super) carried: Mutex<HashMap<SubjectKey, Vec<AlertEventRow>>>,
    /// The subjects this server monitors across a fleet (see [`super::leases`]).
    pub(super) leases: super::leases::Leases,
}

impl std::fmt::Debug for VitalsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VitalsHub").finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VitalsHub {
    /// A hub over `store` with the engine's default configuration, evicting dormant monitors
    /// unused for `idle_evict`; once it joins a fleet ([`VitalsHub::join_fleet`]) its subject
    /// leases last `lease` unrenewed.
    pub fn new(store: Store, idle_evict: Duration, lease: Duration) -> VitalsHub {
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
            leases: super::leases::Leases::new(lease),
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
            // Across a fleet, only the subjects this server may hold (the others' holders run).
            if self.holds(tenant, subject).await? {
                self.subject(tenant, subject).await?;
            } else {
                // Its holder has these alerts; should this server take the subject over later,
                // it reads them from storage as they are then.
                lock(&self.carried).remove(&(tenant.clone(), subject.clone()));
            }
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
    pub(super) fn has_subject(&self, tenant_id: &str, subject_id: &str) -> bool {
        lock(&self.subjects).contains_key(&(tenant_id.to_owned(), subject_id.to_owned()))
    }

    /// The subject's state, locked: created (and its sensors' last times loaded) on first use,
    /// rebuilt if it was evicted.
    pub(super) async fn lock_subject(
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
    pub(super) async fn subject(
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
        let (tenant, subject) = (TenantId::new(tenant_id), SubjectId::new(subject_id));
        let last = self
            .store
            .last_sample_times(&tenant, &subject, 24 * 3_600_000, true)
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
            .recent_minutes(&tenant, &subject, lookback_ms)
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
        let carried = match carried {
            Some(c) => c,
            // Its alerts were in memory when it was evicted, or in another server's monitor
            // (which died or gave the subject up): read them back.
            None => self.store.unresolved_alerts_of(&tenant, &subject).await?,
        };
        let resumes = evicted.is_some() || !carried.is_empty();
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
        if resumes && let Some(now) = subject.now(wall) {
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
    pub(super) async fn is_assigned(
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
            .device_subjects(&TenantId::new(tenant_id), &DeviceId::new(device_id))
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

    pub(super) fn auditor(&self) -> &mpsc::Sender<AuditRequest> {
        self.auditor.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * AUDIT_GROUP_MAX);
            tokio::spawn(run_auditor(self.store.clone(), rx));
            tx
        })
    }

    /// Audits one live delivery of an alert event (group-committed with others'); returns once
    /// it is stored.
    pub(super) async fn audit_delivery(&self, delivery: AlertDelivery) -> Result<()> {
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

    pub(super) fn writer(&self) -> &mpsc::Sender<WriteRequest> {
        self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
            tokio::spawn(run_writer(self.store.clone(), rx));
            tx
        })
    }

    pub(super) async fn store_samples(
        &self,
        tenant_id: &str,
        subject_id: &str,
        samples: Vec<VitalRow>,
        rollups: Vec<(String, MinuteRow)>,
        relay: Option<Vec<u8>>,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer()
            .send(WriteRequest {
                tenant_id: TenantId::new(tenant_id),
                subject_id: SubjectId::new(subject_id),
                samples,
                rollups,
                relay,
                reply,
            })
            .await
            .map_err(|_| ServerError::Unavailable("sample writer stopped"))?;
        match answer.await {
            Ok(r) => r.map_err(ServerError::from),
            Err(_) => Err(ServerError::Unavailable("sample writer stopped")),
        }
    }

    /// Applies a batch that passed [`ResidentMonitor::check_batch`] (and is stored) to the
    /// subject's monitor at `clock`: the engine's events, the sensors' expected intervals, a
    /// tick; the events are stored and broadcast. Returns how many.
    pub(super) async fn apply_checked(
        &self,
        tenant_id: &str,
        subject_id: &str,
        s: &mut Subject,
        samples: &[Sample],
        clock: Timestamp,
        expected_interval_seconds: u32,
    ) -> Result<u32> {
        let mut events = match s.monitor.ingest_batch(samples, clock) {
            Ok(ev) => ev,
            Err((i, e)) => {
                // Cannot happen after the checks; stored but not seen by the engine.
                tracing::warn!(
                    index = i,
                    reason = e.to_string().len(),
                    "engine refused a stored batch"
                );
                Vec::new()
            }
        };
        if expected_interval_seconds > 0 {
            let expected = DurationMs(i64::from(expected_interval_seconds) * 1000);
            let mut sources: Vec<&SourceId> = samples.iter().map(|x| &x.source).collect();
            sources.sort();
            sources.dedup();
            for src in sources {
                s.monitor.register_source(src.clone(), expected, clock);
            }
        }
        events.extend(s.monitor.tick(clock));
        self.publish(tenant_id, subject_id, s, events, clock.0)
            .await
    }

    /// Stores and broadcasts one event; ids go out in increasing order.
    pub(super) async fn emit(&self, tenant_id: &str, event: NewAlertEvent) -> Result<i64> {
        let _order = self.event_lock.lock().await;
        let event_id = self
            .store
            .append_alert_event(&TenantId::new(tenant_id), &event)
            .await?;
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
    pub(super) async fn publish(
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
                {
                    let mut map = lock(&self.subjects);
                    if map.get(&key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                        map.remove(&key);
                    }
                }
                // Dormant: whichever server hears of the subject next may monitor it.
                self.release(&key).await;
            }
        }
    }

    /// Forgets resolved alerts older than an hour (subject clock) from memory.
    pub(super) fn forget_old(&self) {
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
pub(super) async fn run_writer(store: Store, mut rx: mpsc::Receiver<WriteRequest>) {
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
                relay: r.relay.as_deref(),
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
            let alone = VitalsBatchRows {
                tenant_id: &r.tenant_id,
                subject_id: &r.subject_id,
                samples: &r.samples,
                rollups: &r.rollups,
                relay: r.relay.as_deref(),
            };
            let alone = store
                .insert_vitals_group(std::slice::from_ref(&alone), now)
                .await;
            let _ = r.reply.send(alone);
        }
    }
}

/// Audits live `Watch` deliveries: takes what is queued (up to [`AUDIT_GROUP_MAX`]) and stores
/// it in one transaction, then lets the deliveries go.
pub(super) async fn run_auditor(store: Store, mut rx: mpsc::Receiver<AuditRequest>) {
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
pub(super) fn prior_alert(e: &NewAlertEvent) -> Option<PriorAlert> {
    Some(PriorAlert {
        kind: AlertKind::from_parts(e.kind, &e.conditions)?,
        acknowledged_by: (e.state == AlertStatus::Acknowledged)
            .then(|| StaffId(e.acted_by.clone())),
        snoozed_until: e.snoozed_until_ms.map(Timestamp),
    })
}

pub(super) fn snapshot(
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

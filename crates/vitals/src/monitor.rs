//! The per-resident monitor: validates timing of incoming samples, keeps minute values, runs the
//! detectors and feeds their conditions to the resident's [`AlertBook`].
//!
//! Detectors:
//! - **NEWS2**, evaluated once per closed minute on the median of each parameter's minute values
//!   in the last `news2_window` (or the last reading if none, while it is not stale). A band at or
//!   above `news2_alert_from` must hold `news2_persist` evaluations to start a condition and fall
//!   below it for `news2_clear` evaluations to end it.
//! - **Sudden change** per numeric parameter ([`crate::baseline`]).
//! - **No pulse / no breathing**, per sample: a rate below `*_absent_below` held for
//!   `absence_confirm` (or a single reading from a sensor that reports less often than that);
//!   it ends when the rate is back at or above `*_back_at` (hysteresis).
//! - **Silent sensor**: a source not heard from for `silence_factor` × its expected interval (at
//!   least `silence_min`), checked on [`ResidentMonitor::tick`].
//!
//! A sample that fails validation changes nothing and can never raise an alert. Time is always
//! passed in as `now`; the monitor never reads a clock, so replaying the same inputs gives the
//! same alerts. It holds no personal data: residents are known to it only by the caller.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::alert::{
    AlertBook, AlertEvent, AlertId, Condition, EscalationPolicy, Severity, StaffId,
};
use crate::baseline::{ChangeConfig, ChangeDetector, ChangeTransition, Direction, median_in_place};
use crate::error::VitalsError;
use crate::news2::{self, ClinicalRisk, News2, News2Inputs, SpO2Scale};
use crate::reading::{Parameter, Reading, Sample, SourceId};
use crate::units::{
    Acvpu, BeatsPerMinute, BreathsPerMinute, Celsius, DurationMs, MinuteIndex, MmHg, OxygenSupport,
    SpO2Percent, Timestamp,
};

/// The five parameters with a numeric minute value (blood pressure by its systolic value).
const NUMERIC: [Parameter; 5] = [
    Parameter::HeartRate,
    Parameter::RespiratoryRate,
    Parameter::SpO2,
    Parameter::Temperature,
    Parameter::BloodPressure,
];

/// Everything a monitor can be tuned with. [`MonitorConfig::default`] is the tuned default.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// SpO2 scale for this resident.
    pub spo2_scale: SpO2Scale,
    /// Lowest NEWS2 band that alerts.
    pub news2_alert_from: ClinicalRisk,
    /// Minute values within this span are pooled (median) for NEWS2.
    pub news2_window: DurationMs,
    /// Consecutive minute evaluations at or above the band to start a NEWS2 condition.
    pub news2_persist: u32,
    /// Consecutive minute evaluations below the band to end it.
    pub news2_clear: u32,
    /// How long the last reading of each parameter stays usable for NEWS2, indexed like
    /// [`Parameter::ALL`].
    pub stale_after: [DurationMs; 7],
    /// Sudden-change configuration per numeric parameter, indexed like [`Parameter::ALL`] (the
    /// categorical ones are ignored); `None` disables it for that parameter.
    pub change: [Option<ChangeConfig>; 7],
    /// Heart rate below this is "no pulse".
    pub pulse_absent_below: f64,
    /// Heart rate at or above this ends "no pulse".
    pub pulse_back_at: f64,
    /// Respiratory rate below this is "no breathing".
    pub breathing_absent_below: f64,
    /// Respiratory rate at or above this ends "no breathing".
    pub breathing_back_at: f64,
    /// How long absence must hold before it is believed.
    pub absence_confirm: DurationMs,
    /// Expected reporting interval of a source nobody registered.
    pub default_expected_interval: DurationMs,
    /// A source is silent after this many expected intervals without data...
    pub silence_factor: i64,
    /// ...and never sooner than this.
    pub silence_min: DurationMs,
    /// Samples may be this far ahead of `now` (device clock skew).
    pub max_clock_skew: DurationMs,
    /// Samples older than this before `now` are refused.
    pub max_backfill: DurationMs,
    /// A minute is closed this long after it ends, to let late samples in.
    pub minute_grace: DurationMs,
    /// Acknowledgement timeouts and escalation.
    pub escalation: EscalationPolicy,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        let minutes = DurationMs::minutes;
        let hours = DurationMs::hours;
        Self {
            spo2_scale: SpO2Scale::Scale1,
            news2_alert_from: ClinicalRisk::LowMedium,
            news2_window: minutes(5),
            news2_persist: 3,
            news2_clear: 10,
            // heart rate, respiration, SpO2, temperature, BP, consciousness, oxygen
            stale_after: [
                minutes(15),
                minutes(15),
                minutes(15),
                hours(12),
                hours(12),
                hours(24),
                hours(24),
            ],
            change: [
                // Heart rate rises 20–30 /min with ordinary activity: demand more.
                Some(ChangeConfig {
                    z_on: 5.0,
                    ..ChangeConfig::with_deltas(30.0, 4.0)
                }),
                Some(ChangeConfig::with_deltas(8.0, 2.0)),
                Some(ChangeConfig::with_deltas(5.0, 1.0)),
                Some(ChangeConfig::with_deltas(1.2, 0.25)),
                Some(ChangeConfig::with_deltas(35.0, 7.0)),
                None,
                None,
            ],
            pulse_absent_below: 20.0,
            pulse_back_at: 30.0,
            breathing_absent_below: 3.0,
            breathing_back_at: 5.0,
            absence_confirm: DurationMs::seconds(10),
            default_expected_interval: DurationMs::seconds(60),
            silence_factor: 3,
            silence_min: DurationMs::minutes(2),
            max_clock_skew: DurationMs::seconds(30),
            max_backfill: DurationMs::hours(24 * 7),
            minute_grace: DurationMs::seconds(5),
            escalation: EscalationPolicy::default(),
        }
    }
}

impl MonitorConfig {
    /// Checks the configuration is usable.
    pub fn validate(&self) -> Result<(), VitalsError> {
        self.escalation.validate()?;
        for c in self.change.iter().flatten() {
            c.validate()?;
        }
        if self.news2_persist == 0 || self.news2_clear == 0 {
            return Err(VitalsError::InvalidConfig(
                "NEWS2 persistence must be positive",
            ));
        }
        let positive = [
            self.news2_window,
            self.absence_confirm,
            self.default_expected_interval,
            self.silence_min,
            self.max_backfill,
        ];
        if positive
            .iter()
            .chain(self.stale_after.iter())
            .any(|d| d.0 <= 0)
            || self.max_clock_skew.0 < 0
            || self.minute_grace.0 < 0
            || self.silence_factor < 1
        {
            return Err(VitalsError::InvalidConfig("durations must be positive"));
        }
        if !(self.pulse_back_at >= self.pulse_absent_below
            && self.breathing_back_at >= self.breathing_absent_below)
        {
            return Err(VitalsError::InvalidConfig(
                "absence thresholds need back_at >= absent_below",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct SourceState {
    expected: DurationMs,
    last_seen: Timestamp,
    last_at: [Option<Timestamp>; 7],
    silent: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Absence {
    since: Option<Timestamp>,
    confirmed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Latest {
    Number(f64),
    Consciousness(Acvpu),
    Oxygen(OxygenSupport),
}

/// The live state of one resident's vital signs and alerts.
#[derive(Debug, Clone)]
pub struct ResidentMonitor {
    config: MonitorConfig,
    sources: HashMap<SourceId, SourceState>,
    /// Open minute bins of numeric values, indexed like [`Parameter::ALL`].
    bins: BTreeMap<MinuteIndex, [Vec<f64>; 7]>,
    /// Closed minute values (recent, for NEWS2), indexed like [`Parameter::ALL`].
    minute_values: [VecDeque<(MinuteIndex, f64)>; 7],
    latest: [Option<(Timestamp, Latest)>; 7],
    detectors: [Option<ChangeDetector>; 7],
    last_closed: Option<MinuteIndex>,
    news2_run: u32,
    news2_clear_run: u32,
    news2_active: Option<ClinicalRisk>,
    last_news2: Option<(MinuteIndex, News2)>,
    pulse: Absence,
    breathing: Absence,
    book: AlertBook,
    late_samples: u64,
}

impl ResidentMonitor {
    /// A monitor with no history.
    pub fn new(config: MonitorConfig) -> Result<Self, VitalsError> {
        config.validate()?;
        let detectors = std::array::from_fn(|i| config.change[i].map(ChangeDetector::new));
        Ok(Self {
            book: AlertBook::new(config.escalation),
            config,
            sources: HashMap::new(),
            bins: BTreeMap::new(),
            minute_values: Default::default(),
            latest: [None; 7],
            detectors,
            last_closed: None,
            news2_run: 0,
            news2_clear_run: 0,
            news2_active: None,
            last_news2: None,
            pulse: Absence::default(),
            breathing: Absence::default(),
            late_samples: 0,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Declares a source and how often it should report; silence is measured from `now` until
    /// its first sample.
    pub fn register_source(&mut self, source: SourceId, expected: DurationMs, now: Timestamp) {
        let expected = if expected.0 > 0 {
            expected
        } else {
            self.config.default_expected_interval
        };
        self.sources
            .entry(source)
            .and_modify(|s| s.expected = expected)
            .or_insert(SourceState {
                expected,
                last_seen: now,
                last_at: [None; 7],
                silent: false,
            });
    }

    /// The alerts (open, acknowledged and recently resolved).
    pub fn alerts(&self) -> impl Iterator<Item = &crate::alert::Alert> {
        self.book.alerts()
    }

    /// Whether nothing is left for [`ResidentMonitor::tick`] to notice: every source it knows
    /// has gone silent (so each one's silent-sensor condition is on and its alert raised), no
    /// clinical condition holds (no pulse, no breathing, NEWS2, sudden change), and no alert has
    /// a timer running (an escalation or a snooze). Its holder may then drop it and rebuild it
    /// from storage when data comes again, without losing an alert or a pending escalation (the
    /// baselines are refilled from stored minutes with [`ResidentMonitor::restore_baseline`]). A
    /// monitor with no source is dormant once its alerts are.
    pub fn is_dormant(&self) -> bool {
        self.sources.values().all(|s| s.silent)
            && !self.pulse.confirmed
            && !self.breathing.confirmed
            && self.news2_active.is_none()
            && self
                .detectors
                .iter()
                .flatten()
                .all(|d| d.active().is_none())
            && self.book.alerts().all(|a| {
                matches!(a.state, crate::alert::AlertState::Resolved { .. })
                    || (a.escalate_at.is_none() && a.snoozed_until.is_none())
            })
    }

    /// Refills the sudden-change baseline of `parameter` from stored minute values (oldest
    /// first) when this monitor is rebuilt (after a restart, an eviction or a move to another
    /// server), so the detector does not warm up again ([`ChangeDetector::restore`]). Returns how
    /// many minutes were taken (0 for a parameter without change detection, or once the monitor
    /// has closed a minute of it).
    pub fn restore_baseline(
        &mut self,
        parameter: Parameter,
        minutes: impl IntoIterator<Item = (MinuteIndex, f64)>,
    ) -> usize {
        self.detectors[parameter.index()]
            .as_mut()
            .map_or(0, |d| d.restore(minutes))
    }

    /// The longest baseline window of any parameter, in minutes: how far back a rebuilt monitor
    /// needs stored minute values.
    pub fn baseline_window_minutes(&self) -> usize {
        self.config
            .change
            .iter()
            .flatten()
            .map(|c| c.window)
            .max()
            .unwrap_or(0)
    }

    /// The latest NEWS2 evaluation and the minute it was made for.
    pub fn last_news2(&self) -> Option<&(MinuteIndex, News2)> {
        self.last_news2.as_ref()
    }

    /// Samples that arrived after their minute had been closed (kept for liveness, not trends).
    pub fn late_samples(&self) -> u64 {
        self.late_samples
    }

    fn check_timing(
        &self,
        sample: &Sample,
        now: Timestamp,
        pending: &HashMap<(SourceId, Parameter), Timestamp>,
    ) -> Result<(), VitalsError> {
        let at = sample.at;
        if at > now.plus(self.config.max_clock_skew) {
            return Err(VitalsError::InFuture { at, now });
        }
        if at < now.plus(DurationMs(-self.config.max_backfill.0)) {
            return Err(VitalsError::TooOld { at, now });
        }
        let p = sample.reading.parameter();
        let last = pending
            .get(&(sample.source.clone(), p))
            .copied()
            .or_else(|| {
                self.sources
                    .get(&sample.source)
                    .and_then(|s| s.last_at[p.index()])
            });
        match last {
            Some(last) if at == last => Err(VitalsError::Duplicate { at }),
            Some(last) if at < last => Err(VitalsError::OutOfOrder { at, last }),
            _ => Ok(()),
        }
    }

    /// Checks a sample without applying it.
    pub fn validate(&self, sample: &Sample, now: Timestamp) -> Result<(), VitalsError> {
        self.check_timing(sample, now, &HashMap::new())
    }

    /// Checks a whole batch without applying it: every sample's time against `now` (clock skew
    /// and backfill horizon), and its order against the samples before it in the batch and the
    /// last one accepted (or restored) from the same source for the same parameter. The batch
    /// must itself be ordered per source and parameter. On error, the index of the first bad
    /// sample is returned with the reason.
    pub fn check_batch(
        &self,
        samples: &[Sample],
        now: Timestamp,
    ) -> Result<(), (usize, VitalsError)> {
        let mut pending = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            self.check_timing(s, now, &pending).map_err(|e| (i, e))?;
            pending.insert((s.source.clone(), s.reading.parameter()), s.at);
        }
        Ok(())
    }

    /// Restores, after a restart of the process holding this monitor, the time of the last
    /// sample stored from `source` for `parameter`: later samples are checked for order and
    /// duplicates against it, and the source counts as heard from at that time (so a sensor that
    /// fell silent while nobody was monitoring is noticed). A source not yet known is registered
    /// with the default expected interval. Restoring an older time than one known changes nothing.
    pub fn restore_last_sample(&mut self, source: SourceId, parameter: Parameter, at: Timestamp) {
        let default_interval = self.config.default_expected_interval;
        let src = self.sources.entry(source).or_insert(SourceState {
            expected: default_interval,
            last_seen: at,
            last_at: [None; 7],
            silent: false,
        });
        src.last_seen = src.last_seen.max(at);
        let last = &mut src.last_at[parameter.index()];
        *last = Some(last.map_or(at, |l| l.max(at)));
    }

    /// Validates and applies one sample, returning the alert events it caused.
    pub fn ingest(
        &mut self,
        sample: &Sample,
        now: Timestamp,
    ) -> Result<Vec<AlertEvent>, VitalsError> {
        self.check_timing(sample, now, &HashMap::new())?;
        let mut out = Vec::new();
        self.apply(sample, now, &mut out);
        Ok(out)
    }

    /// Validates a whole batch (in order, so the batch must itself be ordered per source and
    /// parameter) and applies it only if every sample is valid. On error nothing is applied and
    /// the index of the first bad sample is returned with the reason.
    pub fn ingest_batch(
        &mut self,
        samples: &[Sample],
        now: Timestamp,
    ) -> Result<Vec<AlertEvent>, (usize, VitalsError)> {
        self.check_batch(samples, now)?;
        let mut out = Vec::new();
        for s in samples {
            self.apply(s, now, &mut out);
        }
        Ok(out)
    }

    fn apply(&mut self, sample: &Sample, now: Timestamp, out: &mut Vec<AlertEvent>) {
        let p = sample.reading.parameter();
        let default_interval = self.config.default_expected_interval;
        let src = self
            .sources
            .entry(sample.source.clone())
            .or_insert(SourceState {
                expected: default_interval,
                last_seen: sample.at,
                last_at: [None; 7],
                silent: false,
            });
        src.last_at[p.index()] = Some(sample.at);
        src.last_seen = src.last_seen.max(sample.at);
        let expected = src.expected;
        if src.silent {
            src.silent = false;
            self.book
                .condition_off(&Condition::SensorSilent(sample.source.clone()), now, out);
        }

        if self.last_closed.is_none() {
            self.last_closed = Some(MinuteIndex(sample.at.minute().0.min(now.minute().0) - 1));
        }
        let latest = match sample.reading {
            Reading::Consciousness(c) => Latest::Consciousness(c),
            Reading::OxygenSupport(o) => Latest::Oxygen(o),
            _ => match sample.reading.numeric() {
                Some(v) => Latest::Number(v),
                None => return,
            },
        };
        if self.latest[p.index()].is_none_or(|(t, _)| sample.at >= t) {
            self.latest[p.index()] = Some((sample.at, latest));
        }
        if let Latest::Number(v) = latest {
            let minute = sample.at.minute();
            if self.last_closed.is_some_and(|c| minute <= c) {
                self.late_samples += 1;
            } else {
                self.bins.entry(minute).or_default()[p.index()].push(v);
            }
            match sample.reading {
                Reading::HeartRate(_) => self.check_absence(true, sample.at, v, expected, now, out),
                Reading::RespiratoryRate(_) => {
                    self.check_absence(false, sample.at, v, expected, now, out)
                }
                _ => {}
            }
        }
        self.advance(now, out);
    }

    fn check_absence(
        &mut self,
        pulse: bool,
        at: Timestamp,
        value: f64,
        expected: DurationMs,
        now: Timestamp,
        out: &mut Vec<AlertEvent>,
    ) {
        let (below, back, kind) = if pulse {
            (
                self.config.pulse_absent_below,
                self.config.pulse_back_at,
                Condition::NoPulse,
            )
        } else {
            (
                self.config.breathing_absent_below,
                self.config.breathing_back_at,
                Condition::NoBreathing,
            )
        };
        let confirm = self.config.absence_confirm;
        let state = if pulse {
            &mut self.pulse
        } else {
            &mut self.breathing
        };
        if value < below {
            let since = *state.since.get_or_insert(at);
            if !state.confirmed && (at.since(since) >= confirm || expected >= confirm) {
                state.confirmed = true;
                let what = if pulse { "no pulse" } else { "no breathing" };
                let detail = format!("{what} detected for {} s", at.since(since).0 / 1000);
                self.book
                    .condition_on(kind, Severity::Critical, detail, now, out);
            }
        } else if value >= back {
            let was = state.confirmed;
            *state = Absence::default();
            if was {
                self.book.condition_off(&kind, now, out);
            }
        }
    }

    /// Advances time to `now` without a sample: closes minutes, checks silent sources and alert
    /// timers. Call it regularly (every few seconds) for every monitored resident.
    pub fn tick(&mut self, now: Timestamp) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        self.advance(now, &mut out);
        let factor = self.config.silence_factor;
        let min = self.config.silence_min;
        let mut newly_silent = Vec::new();
        for (id, s) in self.sources.iter_mut() {
            let limit = DurationMs(s.expected.0.saturating_mul(factor)).max(min);
            if !s.silent && now.since(s.last_seen) > limit {
                s.silent = true;
                newly_silent.push((id.clone(), now.since(s.last_seen)));
            }
        }
        newly_silent.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, gap) in newly_silent {
            let detail = format!("no data for {} s", gap.0 / 1000);
            self.book.condition_on(
                Condition::SensorSilent(id),
                Severity::Technical,
                detail,
                now,
                &mut out,
            );
        }
        self.book.tick(now, &mut out);
        out
    }

    /// Closes every minute that ended more than the grace period before `now`.
    fn advance(&mut self, now: Timestamp, out: &mut Vec<AlertEvent>) {
        let Some(last) = self.last_closed else {
            return;
        };
        let grace = self.config.minute_grace;
        // The newest minute that may be closed at `now`.
        let target = MinuteIndex(now.plus(DurationMs(-grace.0)).minute().0 - 1);
        if target <= last {
            return;
        }
        // Minutes with data, plus the last few (NEWS2 needs evaluations to accumulate even
        // when only spot checks arrive); a long idle gap is not replayed minute by minute.
        let recent_from = MinuteIndex(
            (target.0 - i64::from(self.config.news2_persist.max(self.config.news2_clear)))
                .max(last.0 + 1),
        );
        let mut minutes: Vec<MinuteIndex> = self.bins.range(..=target).map(|(m, _)| *m).collect();
        minutes.extend((recent_from.0..=target.0).map(MinuteIndex));
        minutes.sort_unstable();
        minutes.dedup();
        for m in minutes {
            if m > last {
                self.close_minute(m, out);
            }
        }
        self.last_closed = Some(target);
        // Bins at or before the target were either closed above or predate the first close.
        self.bins.retain(|m, _| *m > target);
    }

    fn close_minute(&mut self, minute: MinuteIndex, out: &mut Vec<AlertEvent>) {
        let at = minute.end();
        if let Some(mut bins) = self.bins.remove(&minute) {
            for p in NUMERIC {
                let i = p.index();
                let Some(value) = median_in_place(&mut bins[i]) else {
                    continue;
                };
                let vals = &mut self.minute_values[i];
                vals.push_back((minute, value));
                let keep_from = minute.0 - self.config.news2_window.0 / 60_000;
                while vals.front().is_some_and(|(m, _)| m.0 <= keep_from) {
                    vals.pop_front();
                }
                if let Some(det) = self.detectors[i].as_mut() {
                    match det.push_minute(minute, value) {
                        Some(ChangeTransition::Started {
                            direction,
                            baseline,
                            level,
                        }) => {
                            let dir = match direction {
                                Direction::Up => "up",
                                Direction::Down => "down",
                            };
                            let detail = format!(
                                "{p} {dir}: {level:.1} against baseline {:.1} ± {:.1}",
                                baseline.median, baseline.spread
                            );
                            self.book.condition_on(
                                Condition::SuddenChange(p),
                                Severity::LowMedium,
                                detail,
                                at,
                                out,
                            );
                        }
                        Some(ChangeTransition::Ended) => {
                            self.book
                                .condition_off(&Condition::SuddenChange(p), at, out);
                        }
                        None => {}
                    }
                }
            }
        }
        self.evaluate_news2(minute, out);
    }

    /// The NEWS2 inputs as they stand at the end of `minute`.
    fn news2_inputs(&self, minute: MinuteIndex) -> News2Inputs {
        let at = minute.end();
        let window_from = minute.0 - self.config.news2_window.0 / 60_000;
        let mut scratch = Vec::with_capacity(8);
        let mut number = |p: Parameter| -> Option<f64> {
            let i = p.index();
            scratch.clear();
            scratch.extend(
                self.minute_values[i]
                    .iter()
                    .filter(|(m, _)| m.0 > window_from && *m <= minute)
                    .map(|(_, v)| *v),
            );
            median_in_place(&mut scratch).or_else(|| match self.fresh(p, at) {
                Some(Latest::Number(v)) => Some(v),
                _ => None,
            })
        };
        let hr = number(Parameter::HeartRate);
        let rr = number(Parameter::RespiratoryRate);
        let spo2 = number(Parameter::SpO2);
        let temp = number(Parameter::Temperature);
        let sbp = number(Parameter::BloodPressure);
        News2Inputs {
            // Medians of validated values stay in range; `ok()` only guards the invariant.
            pulse: hr.and_then(|v| BeatsPerMinute::new(v).ok()),
            respiration: rr.and_then(|v| BreathsPerMinute::new(v).ok()),
            spo2: spo2.and_then(|v| SpO2Percent::new(v).ok()),
            temperature: temp.and_then(|v| Celsius::new(v).ok()),
            systolic: sbp.and_then(|v| MmHg::new(v).ok()),
            consciousness: match self.fresh(Parameter::Consciousness, at) {
                Some(Latest::Consciousness(c)) => Some(c),
                _ => None,
            },
            oxygen: match self.fresh(Parameter::OxygenSupport, at) {
                Some(Latest::Oxygen(o)) => Some(o),
                _ => None,
            },
        }
    }

    fn fresh(&self, p: Parameter, at: Timestamp) -> Option<Latest> {
        let (t, v) = self.latest[p.index()]?;
        (at.since(t) <= self.config.stale_after[p.index()] && t <= at).then_some(v)
    }

    fn evaluate_news2(&mut self, minute: MinuteIndex, out: &mut Vec<AlertEvent>) {
        let inputs = self.news2_inputs(minute);
        let present = [
            inputs.pulse.is_some(),
            inputs.respiration.is_some(),
            inputs.spo2.is_some(),
            inputs.temperature.is_some(),
            inputs.systolic.is_some(),
            inputs.consciousness.is_some(),
            inputs.oxygen.is_some(),
        ];
        if !present.iter().any(|p| *p) {
            return;
        }
        let score = news2::score(&inputs, self.config.spo2_scale);
        let at = minute.end();
        let alerting = score.risk >= self.config.news2_alert_from;
        if alerting {
            self.news2_clear_run = 0;
            self.news2_run += 1;
            let worse = self.news2_active.is_none_or(|r| score.risk > r);
            if self.news2_run >= self.config.news2_persist && worse {
                self.news2_active = Some(score.risk);
                let detail = describe_news2(&score);
                self.book.condition_on(
                    Condition::News2,
                    Severity::from_risk(score.risk),
                    detail,
                    at,
                    out,
                );
            }
        } else {
            self.news2_run = 0;
            if self.news2_active.is_some() {
                self.news2_clear_run += 1;
                if self.news2_clear_run >= self.config.news2_clear {
                    self.news2_clear_run = 0;
                    self.news2_active = None;
                    self.book.condition_off(&Condition::News2, at, out);
                }
            }
        }
        self.last_news2 = Some((minute, score));
    }

    /// A person acknowledges an alert.
    pub fn acknowledge(
        &mut self,
        id: AlertId,
        by: StaffId,
        now: Timestamp,
    ) -> Result<Option<AlertEvent>, VitalsError> {
        self.book.acknowledge(id, by, now)
    }

    /// A person snoozes an alert until `until`.
    pub fn snooze(
        &mut self,
        id: AlertId,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<AlertEvent, VitalsError> {
        self.book.snooze(id, until, now)
    }

    /// A person escalates an alert to the next level.
    pub fn escalate(&mut self, id: AlertId, now: Timestamp) -> Result<AlertEvent, VitalsError> {
        self.book.escalate(id, now)
    }

    /// A person resolves an alert.
    pub fn resolve(
        &mut self,
        id: AlertId,
        by: StaffId,
        now: Timestamp,
    ) -> Result<AlertEvent, VitalsError> {
        self.book.resolve(id, by, now)
    }

    /// Drops resolved alerts older than `before` from memory.
    pub fn forget_resolved_before(&mut self, before: Timestamp) {
        self.book.forget_resolved_before(before);
    }
}

fn describe_news2(score: &News2) -> String {
    let s = &score.sub_scores;
    let parts = [
        ("RR", s.respiration),
        ("SpO2", s.spo2),
        ("O2", s.oxygen),
        ("SBP", s.systolic),
        ("HR", s.pulse),
        ("ACVPU", s.consciousness),
        ("T", s.temperature),
    ];
    let scored: Vec<String> = parts
        .iter()
        .filter_map(|(n, v)| v.filter(|v| *v > 0).map(|v| format!("{n} {v}")))
        .collect();
    let mut d = format!(
        "NEWS2 {} ({}): {}",
        score.aggregate,
        score.risk.as_str(),
        scored.join(", ")
    );
    if !score.complete() {
        d.push_str(&format!(" [{} missing]", score.missing.len()));
    }
    d
}

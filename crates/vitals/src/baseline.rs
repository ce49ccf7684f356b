//! Sudden change from a resident's own baseline.
//!
//! The detector works on one value per minute (the median of that minute's samples, so 1 Hz and
//! once-a-minute sensors look alike). The baseline is the median of the last `window` minute
//! values and its spread is 1.4826 × MAD (the median absolute deviation, scaled to match a
//! standard deviation for normal data), floored at a per-parameter minimum so a very steady
//! resident does not alarm on small wobbles. The current level is the median of the last
//! `recent` minute values, so one artefact minute cannot trigger.
//!
//! Against alarm fatigue a change must be both statistically large (`z_on` spreads) and
//! clinically large (`min_delta`), and must persist for `persist` consecutive minutes before it
//! starts; it ends only after `clear` consecutive minutes below `z_off` spreads (hysteresis). New
//! values keep entering the baseline, so a lasting new level becomes the new normal after about
//! half a window; the median keeps the baseline robust until then.
//!
//! This module never alerts by itself and never reads a clock.

use std::collections::VecDeque;

use crate::error::VitalsError;
use crate::units::MinuteIndex;

/// Thresholds of one parameter's change detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeConfig {
    /// Minute values in the baseline window.
    pub window: usize,
    /// Minute values needed before any judgement (warm-up).
    pub min_history: usize,
    /// Minute values whose median is the current level.
    pub recent: usize,
    /// Spreads above which a minute counts as deviating.
    pub z_on: f64,
    /// Spreads below which a minute counts as back to normal.
    pub z_off: f64,
    /// Smallest absolute change that can count as deviating, in the parameter's unit.
    pub min_delta: f64,
    /// Floor of the spread, in the parameter's unit.
    pub min_spread: f64,
    /// Consecutive deviating minutes needed to start a change.
    pub persist: u32,
    /// Consecutive normal minutes needed to end it.
    pub clear: u32,
    /// Recompute the baseline every this many minute values (it moves slowly).
    pub refresh: u32,
}

impl ChangeConfig {
    /// Defaults for a parameter with the given clinically meaningful change and spread floor.
    pub fn with_deltas(min_delta: f64, min_spread: f64) -> Self {
        Self {
            window: 720,
            min_history: 60,
            recent: 5,
            z_on: 4.0,
            z_off: 2.0,
            min_delta,
            min_spread,
            persist: 3,
            clear: 10,
            refresh: 5,
        }
    }

    /// Checks the configuration is usable.
    pub fn validate(&self) -> Result<(), VitalsError> {
        if self.window == 0 || self.recent == 0 || self.min_history == 0 {
            return Err(VitalsError::InvalidConfig(
                "change windows must be positive",
            ));
        }
        if self.min_history > self.window {
            return Err(VitalsError::InvalidConfig(
                "change warm-up cannot exceed the baseline window",
            ));
        }
        let finite_pos = |v: f64| v.is_finite() && v > 0.0;
        if !(finite_pos(self.z_on)
            && finite_pos(self.z_off)
            && finite_pos(self.min_spread)
            && self.min_delta.is_finite()
            && self.min_delta >= 0.0)
        {
            return Err(VitalsError::InvalidConfig(
                "change thresholds must be positive and finite",
            ));
        }
        if self.z_off > self.z_on {
            return Err(VitalsError::InvalidConfig("z_off must not exceed z_on"));
        }
        if self.persist == 0 || self.clear == 0 || self.refresh == 0 {
            return Err(VitalsError::InvalidConfig(
                "change persistence counts must be positive",
            ));
        }
        Ok(())
    }
}

/// Direction of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Above the baseline.
    Up,
    /// Below the baseline.
    Down,
}

/// A baseline: median and robust spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Median of the window.
    pub median: f64,
    /// 1.4826 × MAD, floored.
    pub spread: f64,
}

/// What a minute value did to the detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChangeTransition {
    /// A persistent change started.
    Started {
        /// Up or down.
        direction: Direction,
        /// The baseline it departs from.
        baseline: Baseline,
        /// The current level.
        level: f64,
    },
    /// The change is over.
    Ended,
}

/// The change detector of one parameter.
#[derive(Debug, Clone)]
pub struct ChangeDetector {
    config: ChangeConfig,
    history: VecDeque<f64>,
    recent: VecDeque<f64>,
    baseline: Option<Baseline>,
    since_refresh: u32,
    deviating_run: u32,
    normal_run: u32,
    active: Option<Direction>,
    last_minute: Option<MinuteIndex>,
}

/// Median of `values`, sorting them in place. `None` when empty.
pub fn median_in_place(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

impl ChangeDetector {
    /// A detector with an empty history. The configuration must have been validated.
    pub fn new(config: ChangeConfig) -> Self {
        Self {
            config,
            // Grown on demand: thousands of residents share a server's memory.
            history: VecDeque::new(),
            recent: VecDeque::with_capacity(config.recent),
            baseline: None,
            since_refresh: 0,
            deviating_run: 0,
            normal_run: 0,
            active: None,
            last_minute: None,
        }
    }

    /// The current baseline, once warmed up.
    pub fn baseline(&self) -> Option<Baseline> {
        self.baseline
    }

    /// Whether a change is in progress, and in which direction.
    pub fn active(&self) -> Option<Direction> {
        self.active
    }

    fn refresh_baseline(&mut self) {
        if self.history.len() < self.config.min_history {
            self.baseline = None;
            return;
        }
        // Runs once every `refresh` minutes: a temporary buffer costs less than keeping one.
        let mut values: Vec<f64> = self.history.iter().copied().collect();
        let Some(median) = median_in_place(&mut values) else {
            self.baseline = None;
            return;
        };
        for v in values.iter_mut() {
            *v = (*v - median).abs();
        }
        let mad = median_in_place(&mut values).unwrap_or(0.0);
        self.baseline = Some(Baseline {
            median,
            spread: (1.4826 * mad).max(self.config.min_spread),
        });
    }

    /// Refills a detector that has seen no minute from stored minute values (oldest first),
    /// when its monitor is rebuilt after a restart, an eviction or a move to another server, so
    /// sudden-change detection does not warm up again. Nothing is judged: a change in progress is
    /// found again by the minutes that follow (after `persist` of them, as at its start). Minutes
    /// out of order and non-finite values are skipped; only the last `window` values count.
    /// Returns how many were taken; a detector that has seen a minute is left as it is.
    pub fn restore(&mut self, minutes: impl IntoIterator<Item = (MinuteIndex, f64)>) -> usize {
        if self.last_minute.is_some() {
            return 0;
        }
        let mut taken = 0;
        for (minute, value) in minutes {
            if self.last_minute.is_some_and(|m| minute <= m) || !value.is_finite() {
                continue;
            }
            self.last_minute = Some(minute);
            if self.recent.len() == self.config.recent {
                self.recent.pop_front();
            }
            self.recent.push_back(value);
            if self.history.len() == self.config.window {
                self.history.pop_front();
            }
            self.history.push_back(value);
            taken += 1;
        }
        self.since_refresh = 0;
        self.refresh_baseline();
        taken
    }

    /// Feeds the value of one minute. Minutes must increase; a repeated or earlier minute is
    /// ignored (the monitor only closes each minute once).
    pub fn push_minute(&mut self, minute: MinuteIndex, value: f64) -> Option<ChangeTransition> {
        if self.last_minute.is_some_and(|m| minute <= m) || !value.is_finite() {
            return None;
        }
        self.last_minute = Some(minute);
        if self.recent.len() == self.config.recent {
            self.recent.pop_front();
        }
        self.recent.push_back(value);

        // Judge against the baseline as it stood before this minute joined it.
        let transition = self.judge();

        if self.history.len() == self.config.window {
            self.history.pop_front();
        }
        self.history.push_back(value);
        self.since_refresh += 1;
        if self.baseline.is_none() || self.since_refresh >= self.config.refresh {
            self.since_refresh = 0;
            self.refresh_baseline();
        }
        transition
    }

    fn judge(&mut self) -> Option<ChangeTransition> {
        let baseline = self.baseline?;
        if self.recent.len() < self.config.recent {
            return None;
        }
        let mut recent: Vec<f64> = self.recent.iter().copied().collect();
        let level = median_in_place(&mut recent)?;
        let delta = level - baseline.median;
        let z = delta.abs() / baseline.spread;
        let direction = if delta >= 0.0 {
            Direction::Up
        } else {
            Direction::Down
        };
        match self.active {
            None => {
                if z >= self.config.z_on && delta.abs() >= self.config.min_delta {
                    self.deviating_run += 1;
                } else {
                    self.deviating_run = 0;
                }
                if self.deviating_run >= self.config.persist {
                    self.deviating_run = 0;
                    self.normal_run = 0;
                    self.active = Some(direction);
                    return Some(ChangeTransition::Started {
                        direction,
                        baseline,
                        level,
                    });
                }
                None
            }
            Some(active) => {
                let back = z < self.config.z_off || direction != active;
                if back {
                    self.normal_run += 1;
                } else {
                    self.normal_run = 0;
                }
                if self.normal_run >= self.config.clear {
                    self.normal_run = 0;
                    self.active = None;
                    return Some(ChangeTransition::Ended);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ChangeConfig {
        ChangeConfig {
            window: 120,
            min_history: 30,
            ..ChangeConfig::with_deltas(20.0, 3.0)
        }
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_in_place(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median_in_place(&mut []), None);
    }

    #[test]
    fn step_is_detected_after_persistence_and_clears_with_hysteresis() {
        let mut d = ChangeDetector::new(cfg());
        let mut m = 0;
        for i in 0..60 {
            let v = 70.0 + f64::from(i % 5) - 2.0;
            assert_eq!(d.push_minute(MinuteIndex(m), v), None);
            m += 1;
        }
        let mut started_at = None;
        for k in 0..10 {
            if let Some(ChangeTransition::Started { direction, .. }) =
                d.push_minute(MinuteIndex(m), 110.0)
            {
                assert_eq!(direction, Direction::Up);
                started_at = Some(k);
                break;
            }
            m += 1;
        }
        // The 5-minute median flips on the 3rd high minute (k = 2), which is the first of the
        // 3 persistent minutes: the change starts on the 5th high minute.
        assert_eq!(started_at, Some(4));
        m += 1;
        let mut ended = None;
        for k in 0..30 {
            if d.push_minute(MinuteIndex(m), 70.0) == Some(ChangeTransition::Ended) {
                ended = Some(k);
                break;
            }
            m += 1;
        }
        // The median is back on the 3rd normal minute (k = 2), the first of 10 clear minutes.
        assert_eq!(ended, Some(11));
    }

    #[test]
    fn single_artefact_minutes_do_not_trigger() {
        let mut d = ChangeDetector::new(cfg());
        for m in 0..600 {
            let v = if m % 7 == 0 && m > 40 { 150.0 } else { 70.0 };
            assert_eq!(d.push_minute(MinuteIndex(m), v), None, "minute {m}");
        }
    }

    #[test]
    fn small_changes_below_min_delta_do_not_trigger() {
        let mut d = ChangeDetector::new(cfg());
        for m in 0..60 {
            d.push_minute(MinuteIndex(m), 70.0);
        }
        for m in 60..200 {
            assert_eq!(d.push_minute(MinuteIndex(m), 85.0), None);
        }
    }

    #[test]
    fn no_judgement_during_warm_up() {
        let mut d = ChangeDetector::new(cfg());
        for m in 0..29 {
            d.push_minute(MinuteIndex(m), if m < 10 { 70.0 } else { 140.0 });
        }
        assert!(d.baseline().is_none());
        assert!(d.active().is_none());
    }

    #[test]
    fn config_validation() {
        assert!(cfg().validate().is_ok());
        assert!(
            ChangeConfig {
                z_off: 5.0,
                ..cfg()
            }
            .validate()
            .is_err()
        );
        assert!(ChangeConfig { window: 0, ..cfg() }.validate().is_err());
    }

    #[test]
    fn a_restored_detector_judges_like_the_one_that_never_stopped() {
        let config = ChangeConfig::with_deltas(15.0, 3.0);
        let steady: Vec<(MinuteIndex, f64)> = (0..200)
            .map(|m| (MinuteIndex(m), 70.0 + (m % 5) as f64))
            .collect();
        let mut original = ChangeDetector::new(config);
        for &(m, v) in &steady {
            assert_eq!(original.push_minute(m, v), None);
        }
        let mut restored = ChangeDetector::new(config);
        assert_eq!(restored.restore(steady.iter().copied()), 200);
        assert_eq!(restored.baseline(), original.baseline());
        assert!(restored.baseline().is_some(), "no warm-up after a restore");
        // Only once: a detector that has seen minutes is not refilled.
        assert_eq!(restored.restore(steady.iter().copied()), 0);
        // A jump to 120 bpm starts a change at the same minute in both.
        let mut started = [None, None];
        for m in 200..215 {
            for (i, det) in [&mut original, &mut restored].into_iter().enumerate() {
                if let Some(ChangeTransition::Started { direction, .. }) =
                    det.push_minute(MinuteIndex(m), 120.0)
                {
                    assert_eq!(direction, Direction::Up);
                    started[i].get_or_insert(m);
                }
            }
        }
        assert!(started[0].is_some(), "the jump is a change");
        assert_eq!(started[0], started[1]);
        // A fresh detector would still be warming up (min_history minutes).
        let mut fresh = ChangeDetector::new(config);
        let none = (200..215).all(|m| fresh.push_minute(MinuteIndex(m), 120.0).is_none());
        assert!(none && fresh.baseline().is_none());
    }

    #[test]
    fn restore_skips_disorder_and_non_finite_values() {
        let mut det = ChangeDetector::new(ChangeConfig::with_deltas(15.0, 3.0));
        let values = [
            (MinuteIndex(3), 70.0),
            (MinuteIndex(2), 71.0),
            (MinuteIndex(4), f64::NAN),
            (MinuteIndex(5), 72.0),
        ];
        assert_eq!(det.restore(values), 2);
        assert_eq!(det.history, [70.0, 72.0]);
        assert_eq!(det.last_minute, Some(MinuteIndex(5)));
    }
}

//! Per-minute rollups of numeric vital signs, the unit of trend storage and trend queries.
//!
//! A month of 1 Hz data is 2.6 million samples per parameter per resident; its minute rollups
//! are 43,200 rows, and coarser buckets merge them exactly (count, min, max and sum combine
//! without the raw samples). This module is pure and never does I/O.

use std::collections::BTreeMap;

use crate::reading::{Parameter, Sample};
use crate::units::{DurationMs, MinuteIndex, Timestamp};

/// Summary of the values of one parameter in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    /// Number of values.
    pub count: u32,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values (mean = sum / count).
    pub sum: f64,
}

impl Rollup {
    /// A rollup of one value.
    pub fn of(v: f64) -> Self {
        Self {
            count: 1,
            min: v,
            max: v,
            sum: v,
        }
    }

    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.merge(&Rollup::of(v));
    }

    /// Merges another rollup into this one.
    pub fn merge(&mut self, other: &Rollup) {
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// The mean value.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / f64::from(self.count)
        }
    }
}

/// Rolls numeric samples up per (minute, parameter); categorical readings are skipped.
pub fn rollup_minutes(samples: &[Sample]) -> BTreeMap<(MinuteIndex, Parameter), Rollup> {
    let mut out: BTreeMap<(MinuteIndex, Parameter), Rollup> = BTreeMap::new();
    for s in samples {
        if let Some(v) = s.reading.numeric() {
            out.entry((s.at.minute(), s.reading.parameter()))
                .and_modify(|r| r.add(v))
                .or_insert_with(|| Rollup::of(v));
        }
    }
    out
}

/// Merges minute rollups (sorted by minute) into buckets of `width`, aligned to the epoch.
/// Returns (bucket start, rollup) pairs in time order. A non-positive width is treated as one
/// minute.
pub fn merge_buckets(
    minutes: impl IntoIterator<Item = (MinuteIndex, Rollup)>,
    width: DurationMs,
) -> Vec<(Timestamp, Rollup)> {
    let per = (width.0 / 60_000).max(1);
    let mut out: Vec<(Timestamp, Rollup)> = Vec::new();
    for (m, r) in minutes {
        let start = MinuteIndex(m.0.div_euclid(per) * per).start();
        match out.last_mut() {
            Some((s, acc)) if *s == start => acc.merge(&r),
            _ => out.push((start, r)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{Reading, SourceId};
    use crate::units::{Acvpu, BeatsPerMinute};

    fn hr(at: i64, v: f64) -> Sample {
        Sample {
            at: Timestamp(at),
            source: SourceId::new("d").expect("id"),
            reading: Reading::HeartRate(BeatsPerMinute::new(v).expect("hr")),
        }
    }

    #[test]
    fn minutes_and_buckets_combine_exactly() {
        let samples: Vec<Sample> = (0..600)
            .map(|s| hr(s * 1000, 60.0 + (s % 7) as f64))
            .collect();
        let minutes = rollup_minutes(&samples);
        assert_eq!(minutes.len(), 10);
        let first = minutes[&(MinuteIndex(0), Parameter::HeartRate)];
        assert_eq!(first.count, 60);
        assert_eq!((first.min, first.max), (60.0, 66.0));
        let buckets = merge_buckets(
            minutes.iter().map(|((m, _), r)| (*m, *r)),
            DurationMs::minutes(5),
        );
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[1].0, Timestamp(300_000));
        let total: u32 = buckets.iter().map(|(_, r)| r.count).sum();
        assert_eq!(total, 600);
        let all_sum: f64 = samples.iter().filter_map(|s| s.reading.numeric()).sum();
        let bucket_sum: f64 = buckets.iter().map(|(_, r)| r.sum).sum();
        assert!((all_sum - bucket_sum).abs() < 1e-9);
    }

    #[test]
    fn categorical_readings_are_not_rolled_up() {
        let s = Sample {
            at: Timestamp(0),
            source: SourceId::new("d").expect("id"),
            reading: Reading::Consciousness(Acvpu::Alert),
        };
        assert!(rollup_minutes(&[s]).is_empty());
    }
}

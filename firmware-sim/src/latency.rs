//! Latency percentiles for reports (nearest-rank on the sorted sample).

use std::time::Duration;

/// A summary of chunk-acknowledgement latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LatencySummary {
    /// How many latencies were measured.
    pub count: usize,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 90th percentile, microseconds.
    pub p90_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Largest, microseconds.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarise `latencies` (any order).
    pub fn of(latencies: &[Duration]) -> Self {
        if latencies.is_empty() {
            return Self::default();
        }
        let mut sorted: Vec<u64> = latencies
            .iter()
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[i - 1]
        };
        Self {
            count: sorted.len(),
            p50_us: rank(0.50),
            p90_us: rank(0.90),
            p99_us: rank(0.99),
            max_us: sorted[sorted.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = LatencySummary::of(&l);
        assert_eq!(
            (s.count, s.p50_us, s.p90_us, s.p99_us, s.max_us),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(LatencySummary::of(&[]).count, 0);
        let one = LatencySummary::of(&[Duration::from_millis(3)]);
        assert_eq!((one.p50_us, one.p99_us), (3000, 3000));
    }
}

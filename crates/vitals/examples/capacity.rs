//! Engine-level capacity: 10,000 residents reporting once a minute and 500 at 1 Hz (heart rate,
//! respiratory rate and SpO2 each), with every resident ticked every 5 s, replayed as fast as
//! possible on one core. Prints the wall time per simulated second (budget: 1 s) and the p50 /
//! p99 / max time to ingest one sample and return its alert events (the engine's share of
//! sample-to-alert latency).
//!
//!     cargo run --release -p auscult-vitals --example capacity -- [simulated minutes]

use std::time::Instant;

use auscult_vitals::{
    BeatsPerMinute, BreathsPerMinute, DurationMs, MonitorConfig, Reading, ResidentMonitor, Sample,
    SourceId, SpO2Percent, Timestamp,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let minutes: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let slow = 10_000usize;
    let fast = 500usize;
    let t0 = Timestamp(1_794_096_000_000);
    let src = SourceId::new("dev").expect("id");
    let mut monitors: Vec<ResidentMonitor> = (0..slow + fast)
        .map(|i| {
            let mut m = ResidentMonitor::new(MonitorConfig::default()).expect("config");
            let every = if i < slow { 60_000 } else { 1000 };
            m.register_source(src.clone(), DurationMs(every), t0);
            m
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut ingest_ns: Vec<u64> = Vec::new();
    let mut events = 0usize;
    let started = Instant::now();
    for second in 0..minutes * 60 {
        let now = t0.plus(DurationMs::seconds(second));
        for (i, m) in monitors.iter_mut().enumerate() {
            // Once-a-minute residents report in their own second of the minute.
            let due = i >= slow || (i as i64 % 60) == second % 60;
            if due {
                let readings = [
                    Reading::HeartRate(
                        BeatsPerMinute::new(rng.random_range(60.0..80.0)).expect("hr"),
                    ),
                    Reading::RespiratoryRate(
                        BreathsPerMinute::new(rng.random_range(12.0..18.0)).expect("rr"),
                    ),
                    Reading::SpO2(SpO2Percent::new(rng.random_range(95.0..99.0)).expect("spo2")),
                ];
                for reading in readings {
                    let s = Sample {
                        at: now,
                        source: src.clone(),
                        reading,
                    };
                    let t = Instant::now();
                    let ev = m.ingest(&s, now).expect("valid");
                    ingest_ns.push(t.elapsed().as_nanos() as u64);
                    events += ev.len();
                }
            }
            if second % 5 == (i as i64 % 5) {
                events += m.tick(now).len();
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    ingest_ns.sort_unstable();
    let q = |p: f64| ingest_ns[((ingest_ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "{slow} residents at 1/min + {fast} at 1 Hz, {minutes} simulated minutes: {} samples, \
         {events} alert events, {:.3} s wall per simulated second (one core), \
         ingest p50 {:.2} µs, p99 {:.2} µs, max {:.1} µs",
        ingest_ns.len(),
        wall / (minutes * 60) as f64,
        q(0.5),
        q(0.99),
        q(1.0)
    );
}

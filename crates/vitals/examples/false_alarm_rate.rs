//! Measures the alert engine's false-alarm rate over many seeded simulated resident-days with no
//! scripted event (so every clinical alert is a false alarm), and the detection of scripted
//! events with their latency.
//!
//!     cargo run --release -p auscult-vitals --example false_alarm_rate -- [per-minute days] [1 Hz days]
//!
//! Each resident gets 12 hours of history first; only alerts in the following 24 hours count.

#[path = "../tests/support/mod.rs"]
mod support;

use auscult_vitals::{AlertChange, AlertKind, DurationMs, MonitorConfig, Timestamp};
use support::replay::{monitor, replay};
use support::sim::{Cadence, Event, EventKind, simulate};

const DAY0: Timestamp = Timestamp(1_794_096_000_000);

fn main() {
    let mut args = std::env::args().skip(1);
    let minute_days: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let second_days: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    for (cadence, days, tick) in [
        (Cadence::PerMinute, minute_days, DurationMs::seconds(15)),
        (Cadence::PerSecond, second_days, DurationMs::seconds(5)),
    ] {
        let mut clinical = 0u64;
        let mut technical = 0u64;
        let mut samples_total = 0usize;
        let mut details: Vec<String> = Vec::new();
        let started = std::time::Instant::now();
        for seed in 0..days {
            let start = DAY0.plus(DurationMs::hours(8));
            let counted_from = start.plus(DurationMs::hours(12));
            let samples = simulate(50_000 + seed, start, 36, cadence, &[]);
            samples_total += samples.len();
            let mut m = monitor(MonitorConfig::default(), cadence, start);
            let events = replay(&mut m, &samples, tick, start.plus(DurationMs::hours(36)));
            for e in events
                .iter()
                .filter(|e| e.change == AlertChange::Raised && e.at >= counted_from)
            {
                match e.alert.kind {
                    AlertKind::Clinical => {
                        clinical += 1;
                        if details.len() < 10 {
                            details.push(format!("seed {seed}: {}", e.alert.detail));
                        }
                    }
                    AlertKind::SensorSilent(_) => technical += 1,
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{cadence:?}: {days} resident-days, {samples_total} samples, {clinical} clinical false alarms \
             ({:.4}/resident-day), {technical} sensor-silent alerts ({:.4}/resident-day); \
             {:.2} µs per sample",
            clinical as f64 / days.max(1) as f64,
            technical as f64 / days.max(1) as f64,
            secs * 1e6 / samples_total.max(1) as f64
        );
        for d in &details {
            println!("  {d}");
        }
    }

    // Detection: every event kind, per-minute cadence, 50 seeds each.
    for kind in EventKind::ALL {
        let mut detected = 0;
        let mut extra = 0;
        let mut latencies = Vec::new();
        let n = 50;
        for seed in 0..n {
            let start = DAY0.plus(DurationMs::hours(8));
            let onset = DAY0.plus(DurationMs::hours(24 + if seed % 2 == 0 { 3 } else { 15 }));
            let total = onset.since(start).0 / 3_600_000 + 3;
            let samples = simulate(
                70_000 + seed,
                start,
                total,
                Cadence::PerMinute,
                &[Event { kind, onset }],
            );
            let mut m = monitor(MonitorConfig::default(), Cadence::PerMinute, start);
            let events = replay(
                &mut m,
                &samples,
                DurationMs::seconds(15),
                start.plus(DurationMs::hours(total)),
            );
            // A false alarm before onset may still be unresolved (nobody resolves alerts here):
            // the event then joins it, and the notification is its severity rise or new
            // condition rather than a new alert.
            let notified = events.iter().find(|e| {
                e.at >= onset
                    && matches!(
                        e.change,
                        AlertChange::Raised
                            | AlertChange::SeverityRaised { .. }
                            | AlertChange::ConditionAdded
                    )
            });
            if let Some(first) = notified {
                detected += 1;
                latencies.push(first.at.since(onset).0 as f64 / 1000.0);
            }
            let raised = events
                .iter()
                .filter(|e| e.change == AlertChange::Raised && e.at >= onset)
                .count();
            extra += raised.saturating_sub(1);
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{kind:?}: detected {detected}/{n}, extra alerts {extra}, latency median {:.0} s, max {:.0} s",
            pct(0.5),
            pct(1.0)
        );
    }
}

//! Replays simulated samples through a [`ResidentMonitor`] as a server would: each sample is
//! ingested at its own time, and the monitor is ticked every `tick` in between.

#![allow(dead_code)]

use auscult_vitals::{AlertEvent, DurationMs, MonitorConfig, ResidentMonitor, Sample, Timestamp};

use super::sim::{Cadence, sources};

pub fn monitor(config: MonitorConfig, cadence: Cadence, now: Timestamp) -> ResidentMonitor {
    let mut m = ResidentMonitor::new(config).expect("valid config");
    for (id, every) in sources(cadence) {
        m.register_source(id, every, now);
    }
    m
}

/// Feeds `samples` (time-ordered) and ticks until `until`; returns every alert event.
pub fn replay(
    m: &mut ResidentMonitor,
    samples: &[Sample],
    tick: DurationMs,
    until: Timestamp,
) -> Vec<AlertEvent> {
    let mut events = Vec::new();
    let mut next_tick = samples.first().map_or(until, |s| s.at);
    for s in samples {
        while next_tick < s.at {
            events.extend(m.tick(next_tick));
            next_tick = next_tick.plus(tick);
        }
        match m.ingest(s, s.at) {
            Ok(ev) => events.extend(ev),
            Err(e) => panic!("simulated sample refused: {e}"),
        }
    }
    while next_tick <= until {
        events.extend(m.tick(next_tick));
        next_tick = next_tick.plus(tick);
    }
    events
}

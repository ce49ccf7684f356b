//! Properties of the monitor under arbitrary input: no panic on any sequence of samples, times
//! and ticks; refused samples change nothing.

use auscult_vitals::{
    Acvpu, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, DurationMs, MonitorConfig,
    OxygenSupport, Reading, ResidentMonitor, Sample, SourceId, SpO2Percent, Timestamp,
};
use proptest::prelude::*;

fn reading(kind: u8, v: f64) -> Option<Reading> {
    match kind % 7 {
        0 => BeatsPerMinute::new(v).ok().map(Reading::HeartRate),
        1 => BreathsPerMinute::new(v).ok().map(Reading::RespiratoryRate),
        2 => SpO2Percent::new(v).ok().map(Reading::SpO2),
        3 => Celsius::new(v).ok().map(Reading::Temperature),
        4 => BloodPressure::new(v, v * 0.6)
            .ok()
            .map(Reading::BloodPressure),
        5 => Some(Reading::Consciousness(if v > 50.0 {
            Acvpu::Alert
        } else {
            Acvpu::Voice
        })),
        _ => Some(Reading::OxygenSupport(if v > 50.0 {
            OxygenSupport::Air
        } else {
            OxygenSupport::Oxygen
        })),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_panic_on_any_input(
        start in any::<i64>(),
        steps in proptest::collection::vec(
            (any::<i32>(), any::<u8>(), -10.0f64..400.0, 0u8..3, any::<bool>(), any::<i64>()),
            1..200,
        ),
    ) {
        let mut m = ResidentMonitor::new(MonitorConfig::default()).expect("config");
        let mut now = Timestamp(start);
        for (dt, kind, value, source, tick, wild) in steps {
            now = now.plus(DurationMs(i64::from(dt)));
            let at = if tick { Timestamp(wild) } else { now.plus(DurationMs(i64::from(dt % 5000))) };
            if let Some(r) = reading(kind, value) {
                let s = Sample {
                    at,
                    source: SourceId::new(format!("dev-{source}")).expect("id"),
                    reading: r,
                };
                let _ = m.ingest(&s, now);
            }
            if tick {
                let _ = m.tick(Timestamp(wild));
                let _ = m.tick(now);
            }
        }
    }

    /// A refused sample leaves the monitor exactly as it was: the alerts and the next
    /// evaluation are the same as without it.
    #[test]
    fn refused_samples_change_nothing(offset_s in 31i64..100_000) {
        let now = Timestamp(1_794_096_000_000);
        let src = SourceId::new("d").expect("id");
        let mut a = ResidentMonitor::new(MonitorConfig::default()).expect("config");
        let mut b = a.clone();
        let future = Sample {
            at: now.plus(DurationMs::seconds(offset_s)),
            source: src.clone(),
            reading: Reading::HeartRate(BeatsPerMinute::new(0.0).expect("hr")),
        };
        prop_assert!(a.ingest(&future, now).is_err());
        for s in 0..900 {
            let t = now.plus(DurationMs::seconds(s));
            let ea = a.tick(t);
            let eb = b.tick(t);
            prop_assert_eq!(ea, eb);
        }
        prop_assert_eq!(a.alerts().count(), 0);
    }
}

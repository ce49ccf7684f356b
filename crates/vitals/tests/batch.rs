//! Batch checks, restored sample times and alerts continued after a restart, through the
//! monitor's public API.

use auscult_vitals::{
    AlertKind, AlertState, BeatsPerMinute, DurationMs, MonitorConfig, Parameter, PriorAlert,
    Reading, ResidentMonitor, Sample, SourceId, SpO2Percent, StaffId, Timestamp, VitalsError,
    continued_alert,
};

/// Midnight UTC, 2026-11-02.
const T0: Timestamp = Timestamp(1_794_096_000_000);

fn at(ms: i64) -> Timestamp {
    Timestamp(T0.0 + ms)
}

fn src(name: &str) -> SourceId {
    SourceId::new(name).expect("valid source")
}

fn hr(ms: i64, source: &str) -> Sample {
    Sample {
        at: at(ms),
        source: src(source),
        reading: Reading::HeartRate(BeatsPerMinute::new(72.0).expect("in range")),
    }
}

fn spo2(ms: i64, source: &str) -> Sample {
    Sample {
        at: at(ms),
        source: src(source),
        reading: Reading::SpO2(SpO2Percent::new(97.0).expect("in range")),
    }
}

fn monitor() -> ResidentMonitor {
    ResidentMonitor::new(MonitorConfig::default()).expect("default config is valid")
}

#[test]
fn a_good_batch_passes_and_checking_it_changes_nothing() {
    let m = monitor();
    let batch = [hr(0, "a"), spo2(0, "a"), hr(1_000, "a"), hr(0, "b")];
    assert_eq!(m.check_batch(&batch, at(1_000)), Ok(()));
    // Checked twice: nothing was remembered.
    assert_eq!(m.check_batch(&batch, at(1_000)), Ok(()));
}

#[test]
fn the_first_bad_sample_is_named_with_its_reason() {
    let m = monitor();
    let dup = [hr(0, "a"), spo2(0, "a"), hr(0, "a")];
    assert_eq!(
        m.check_batch(&dup, at(0)),
        Err((2, VitalsError::Duplicate { at: at(0) }))
    );
    let back = [hr(5_000, "a"), hr(4_000, "a"), hr(3_000, "a")];
    assert_eq!(
        m.check_batch(&back, at(5_000)),
        Err((
            1,
            VitalsError::OutOfOrder {
                at: at(4_000),
                last: at(5_000)
            }
        ))
    );
    let week = DurationMs::hours(24 * 7).0;
    let old = [hr(0, "a"), hr(-week - 1, "b")];
    assert_eq!(
        m.check_batch(&old, at(0)),
        Err((
            1,
            VitalsError::TooOld {
                at: at(-week - 1),
                now: at(0)
            }
        ))
    );
    let ahead = [hr(30_001, "a")];
    assert!(matches!(
        m.check_batch(&ahead, at(0)),
        Err((0, VitalsError::InFuture { .. }))
    ));
}

#[test]
fn accepted_batches_are_the_reference_for_the_next() {
    let mut m = monitor();
    m.ingest_batch(&[hr(0, "a"), hr(1_000, "a")], at(1_000))
        .expect("a good batch");
    assert_eq!(
        m.check_batch(&[hr(1_000, "a")], at(2_000)),
        Err((0, VitalsError::Duplicate { at: at(1_000) }))
    );
    assert!(matches!(
        m.check_batch(&[spo2(2_000, "a"), hr(500, "a")], at(2_000)),
        Err((1, VitalsError::OutOfOrder { .. }))
    ));
    // Another source or parameter has its own order.
    assert_eq!(
        m.check_batch(&[hr(500, "b"), spo2(500, "a")], at(2_000)),
        Ok(())
    );
    // A refused batch applies nothing.
    assert!(
        m.ingest_batch(&[hr(2_000, "a"), hr(2_000, "a")], at(2_000))
            .is_err()
    );
    assert_eq!(m.check_batch(&[hr(2_000, "a")], at(2_000)), Ok(()));
}

#[test]
fn restored_sample_times_order_later_batches() {
    let mut m = monitor();
    m.restore_last_sample(src("a"), Parameter::HeartRate, at(10_000));
    // An older restored time does not move it back.
    m.restore_last_sample(src("a"), Parameter::HeartRate, at(5_000));
    assert_eq!(
        m.check_batch(&[hr(10_000, "a")], at(20_000)),
        Err((0, VitalsError::Duplicate { at: at(10_000) }))
    );
    assert!(matches!(
        m.check_batch(&[hr(9_000, "a")], at(20_000)),
        Err((0, VitalsError::OutOfOrder { .. }))
    ));
    assert_eq!(m.check_batch(&[spo2(9_000, "a")], at(20_000)), Ok(()));
    assert_eq!(m.check_batch(&[hr(10_001, "a")], at(20_000)), Ok(()));
}

#[test]
fn a_restored_source_that_stays_silent_raises_a_silence_alert() {
    let mut m = monitor();
    m.restore_last_sample(src("a"), Parameter::HeartRate, at(0));
    m.restore_last_sample(src("a"), Parameter::SpO2, at(60_000));
    // Silent after 3 default intervals (3 minutes) from its newest restored sample.
    assert!(m.tick(at(60_000 + 180_000)).is_empty());
    let events = m.tick(at(60_000 + 181_000));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].alert.kind, AlertKind::SensorSilent(src("a")));
}

fn silent_alert(m: &mut ResidentMonitor) -> auscult_vitals::AlertId {
    m.register_source(src("a"), DurationMs::seconds(60), at(0));
    let events = m.tick(at(181_000));
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].alert.id
}

#[test]
fn a_new_alert_continues_the_prior_one_of_its_episode() {
    let prior = [
        PriorAlert {
            kind: AlertKind::Clinical,
            acknowledged_by: None,
            snoozed_until: None,
        },
        PriorAlert {
            kind: AlertKind::SensorSilent(src("b")),
            acknowledged_by: None,
            snoozed_until: None,
        },
        PriorAlert {
            kind: AlertKind::SensorSilent(src("a")),
            acknowledged_by: None,
            snoozed_until: None,
        },
    ];
    assert_eq!(continued_alert(&prior, &AlertKind::Clinical), Some(0));
    assert_eq!(
        continued_alert(&prior, &AlertKind::SensorSilent(src("a"))),
        Some(2)
    );
    assert_eq!(
        continued_alert(&prior, &AlertKind::SensorSilent(src("c"))),
        None
    );
    assert_eq!(continued_alert(&prior[1..], &AlertKind::Clinical), None);
}

#[test]
fn a_continued_alert_keeps_its_acknowledgement_and_running_snooze() {
    let mut m = monitor();
    let id = silent_alert(&mut m);
    let now = at(181_000);
    let prior = PriorAlert {
        kind: AlertKind::SensorSilent(src("a")),
        acknowledged_by: Some(StaffId("nurse-1".into())),
        snoozed_until: Some(now.plus(DurationMs::minutes(10))),
    };
    let alert = m.resume_alert(id, &prior, now).expect("known alert");
    assert!(
        matches!(&alert.state, AlertState::Acknowledged { by, .. } if by.0 == "nurse-1"),
        "{alert:?}"
    );
    assert_eq!(alert.snoozed_until, prior.snoozed_until);
}

#[test]
fn a_snooze_that_ended_before_the_restart_is_not_reapplied() {
    let mut m = monitor();
    let id = silent_alert(&mut m);
    let now = at(181_000);
    let prior = PriorAlert {
        kind: AlertKind::SensorSilent(src("a")),
        acknowledged_by: None,
        snoozed_until: Some(now),
    };
    let alert = m.resume_alert(id, &prior, now).expect("known alert");
    assert_eq!(alert.state, AlertState::Open);
    assert_eq!(alert.snoozed_until, None);
    assert!(
        m.resume_alert(auscult_vitals::AlertId(999), &prior, now)
            .is_none()
    );
}

#[test]
fn a_monitor_is_dormant_only_once_its_silent_sensor_alert_needs_nothing_more() {
    let mut m = monitor();
    m.ingest_batch(&[hr(0, "a")], at(0)).expect("accepted");
    // Silent but not yet noticed (nobody ticked since): not dormant, or the alert would be lost.
    assert!(!m.is_dormant());
    let id = silent_alert(&mut m);
    // Raised but still escalating if nobody acknowledges it: not dormant.
    assert!(!m.is_dormant());
    m.acknowledge(id, StaffId("nurse-1".into()), at(182_000))
        .expect("open alert");
    assert!(m.is_dormant());
    // A snooze is a timer: not dormant until it ends.
    m.snooze(id, at(182_000 + 600_000), at(182_000))
        .expect("unresolved alert");
    assert!(!m.is_dormant());
    // The snooze ends with the sensor still silent: open again, escalating again.
    let ended = m.tick(at(182_000 + 600_001));
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert!(!m.is_dormant());
    m.acknowledge(id, StaffId("nurse-1".into()), at(182_000 + 600_002))
        .expect("open alert");
    assert!(m.is_dormant());
}

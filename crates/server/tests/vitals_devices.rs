//! Vital signs bound to the authenticated device, over real gRPC against the real server:
//! a device reports only for the subjects an administrator assigned it to (audited, listable),
//! its samples are stored and judged as its own (two devices naming a sensor alike are two
//! sources), caps on sources per batch and subjects per stream, an empty batch creates nothing,
//! dormant monitors are evicted and rebuilt without losing their silent-sensor alert, and every
//! alert delivered live on `Watch` is audited.
#![allow(clippy::unwrap_used)]

mod vitals_common;

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_server::vitals::{MAX_SOURCES_PER_BATCH, MAX_SUBJECTS_PER_STREAM};
use auscult_testkit::*;
use pb::vital_sample::Value;
use tonic::Code;
use vitals_common::*;

fn assignment(tenant: &str, device: &str, subjects: &[&str]) -> pb::DeviceAssignmentRequest {
    pb::DeviceAssignmentRequest {
        tenant_id: tenant.into(),
        device_id: device.into(),
        subject_ids: subjects.iter().map(|s| (*s).to_owned()).collect(),
    }
}

async fn list_assignments(
    ch: &tonic::transport::Channel,
    token: &str,
    device: &str,
    subject: &str,
) -> Result<Vec<pb::DeviceAssignment>, tonic::Status> {
    admin(ch)
        .list_device_assignments(authed(
            token,
            pb::ListDeviceAssignmentsRequest {
                tenant_id: String::new(),
                device_id: device.into(),
                subject_id: subject.into(),
                limit: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().assignments)
}

/// Waits (polling) until `done` holds; panics after a minute.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "not within a minute: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn devices_report_only_for_assigned_subjects(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "assigned").await;
    let other = make_tenant(ch, &ts.admin_token, "assigned-other").await;
    let now = wall_ms() - 10 * 60_000;

    // Not assigned: refused whole, nothing stored.
    let ack = ingest_one(ch, &t.device_token, batch(1, "r1", normal(now))).await;
    assert_eq!(ack.accepted, 0, "{ack:?}");
    assert!(ack.error.contains("not assigned"), "{ack:?}");
    assert_eq!(
        trend(ch, &t.nurse_token, "r1", now - 60_000, now + 60_000)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Who may assign what.
    let e = admin(ch)
        .assign_device(authed(
            &t.nurse_token,
            assignment("", &t.device_id, &["r1"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = admin(ch)
        .assign_device(authed(
            &other.admin_token,
            assignment("", &t.device_id, &["r1"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "another tenant's device");
    let e = admin(ch)
        .assign_device(authed(
            &t.admin_token,
            assignment("", &t.clinician_id, &["r1"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "a clinician is not a device");
    for bad in [vec![], vec![""], vec!["x"; 1_001]] {
        let e = admin(ch)
            .assign_device(authed(&t.admin_token, assignment("", &t.device_id, &bad)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{} subjects", bad.len());
    }

    // Assigned by the tenant admin (again: no change); listed.
    assert_eq!(
        assign_device(ch, &t.admin_token, &t.device_id, &["r1", "r2"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        assign_device(ch, &t.admin_token, &t.device_id, &["r1"])
            .await
            .unwrap(),
        0
    );
    let listed = list_assignments(ch, &t.admin_token, &t.device_id, "")
        .await
        .unwrap();
    let subjects: Vec<&str> = listed.iter().map(|a| a.subject_id.as_str()).collect();
    assert_eq!(subjects, ["r1", "r2"]);
    assert!(listed.iter().all(|a| a.device_id == t.device_id));
    assert_eq!(
        list_assignments(ch, &t.admin_token, "", "r2")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        list_assignments(ch, &other.admin_token, "", "")
            .await
            .unwrap()
            .is_empty()
    );
    let ack = ingest_one(ch, &t.device_token, batch(2, "r1", normal(now))).await;
    assert_eq!((ack.accepted, ack.error.as_str()), (3, ""));
    // Another tenant's device is not assigned to this tenant's r1 by any of it.
    let ack = ingest_one(ch, &other.device_token, batch(3, "r1", normal(now))).await;
    assert!(ack.error.contains("not assigned"), "{ack:?}");

    // Unassigned: refused at once (this server forgets its cached assignments).
    let removed = admin(ch)
        .unassign_device(authed(
            &t.admin_token,
            assignment("", &t.device_id, &["r1", "never"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .changed;
    assert_eq!(removed, 1);
    let ack = ingest_one(ch, &t.device_token, batch(4, "r1", normal(now + 60_000))).await;
    assert!(ack.error.contains("not assigned"), "{ack:?}");
    let points = trend(ch, &t.nurse_token, "r1", now - 60_000, now + 120_000)
        .await
        .unwrap();
    assert_eq!(points.iter().map(|p| p.count).sum::<u32>(), 1);

    // Every change is audited with the device and the subject; so is the listing.
    let trail = audit(ch, &t.clinician_token, "").await.unwrap();
    let of = |action: &str| {
        trail
            .iter()
            .filter(|e| e.action == action)
            .map(|e| (e.target_id.as_str(), e.subject_id.as_str()))
            .collect::<Vec<_>>()
    };
    let mut assigned = of("device.assign");
    assigned.sort_unstable();
    assert_eq!(
        assigned,
        [(t.device_id.as_str(), "r1"), (t.device_id.as_str(), "r2")]
    );
    assert_eq!(of("device.unassign"), [(t.device_id.as_str(), "r1")]);
    assert!(!of("device.assignments.list").is_empty());
    ts.server.shutdown().await.unwrap();
}
both_backends!(devices_report_only_for_assigned_subjects);

async fn each_device_is_its_own_source(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "two-devices").await;
    let second = admin(ch)
        .register_device(authed(
            &ts.admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: t.id.clone(),
                name: "second-gateway".into(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let second_id = second.principal.unwrap().principal_id;
    t.assign(ch, &["r1"]).await;
    assign_device(ch, &t.admin_token, &second_id, &["r1"])
        .await
        .unwrap();
    let mut w = watch(ch, &t.nurse_token, 0, "").await.unwrap();
    let t0 = wall_ms() - 20 * 60_000;
    // Both name their sensor "oximeter-1" and report the same instant: two samples, no
    // duplicate.
    let a = ingest_one(ch, &t.device_token, batch(1, "r1", normal(t0))).await;
    assert_eq!((a.accepted, a.error.as_str()), (3, ""));
    let b = ingest_one(&ts.channel, &second.token, batch(1, "r1", normal(t0))).await;
    assert_eq!((b.accepted, b.error.as_str()), (3, ""), "{b:?}");
    let send_second = async |m: i64| {
        let ack = ingest_one(
            ch,
            &second.token,
            batch(1 + m as u64, "r1", normal(t0 + m * 60_000)),
        )
        .await;
        assert_eq!(ack.error, "", "{ack:?}");
    };
    send_second(1).await;
    // Order is judged per device: the first may still send a sample older than the second's
    // latest.
    let late = ingest_one(
        ch,
        &t.device_token,
        batch(9, "r1", vec![spo2(t0 + 30_000, 97.0)]),
    )
    .await;
    assert_eq!(late.error, "", "{late:?}");
    // The second device keeps reporting for six minutes; the first falls silent. Had their
    // sensors been one source, the second's samples would keep it alive.
    for m in 2..=6 {
        send_second(m).await;
    }
    let marker = raise_marker(ch, &t).await;
    let events = until_marker(&mut w, &marker).await;
    let raises = raised(&events);
    assert_eq!(raises.len(), 1, "{events:#?}");
    let alert = raises[0].alert.as_ref().unwrap();
    assert_eq!(alert.kind(), pb::AlertKind::SensorSilent);
    assert_eq!(
        alert.conditions,
        [pb::AlertCondition {
            kind: pb::AlertConditionKind::SensorSilent.into(),
            sensor: format!("{}/oximeter-1", t.device_id),
            ..pb::AlertCondition::default()
        }]
    );
    // Both devices' samples are stored: 2 in the minute of t0.
    let points = trend(ch, &t.nurse_token, "r1", t0 - 60_000, t0 + 1)
        .await
        .unwrap();
    assert_eq!(points.iter().map(|p| p.count).sum::<u32>(), 2, "{points:?}");
    ts.server.shutdown().await.unwrap();
}
both_backends!(each_device_is_its_own_source);

async fn batches_and_streams_are_capped(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "caps").await;
    t.assign(ch, &["r1"]).await;
    let now = wall_ms() - 60_000;
    let many: Vec<pb::VitalSample> = (0..=MAX_SOURCES_PER_BATCH)
        .map(|i| sample(now, &format!("sensor-{i}"), Value::HeartRatePerMin(70.0)))
        .collect();
    let ack = ingest_one(ch, &t.device_token, batch(1, "r1", many)).await;
    assert_eq!((ack.accepted, ack.rejected_index), (0, None), "{ack:?}");
    assert!(ack.error.contains("source_device"), "{ack:?}");
    assert_eq!(
        trend(ch, &t.nurse_token, "r1", now - 60_000, now + 60_000)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "nothing of it stored"
    );
    let most: Vec<pb::VitalSample> = (0..MAX_SOURCES_PER_BATCH)
        .map(|i| sample(now, &format!("sensor-{i}"), Value::HeartRatePerMin(70.0)))
        .collect();
    let ack = ingest_one(ch, &t.device_token, batch(2, "r1", most)).await;
    assert_eq!(ack.error, "", "{ack:?}");

    // Subjects per stream: heartbeats (empty batches) are enough to count.
    let names: Vec<String> = (0..=MAX_SUBJECTS_PER_STREAM)
        .map(|i| format!("s{i:04}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for chunk in refs.chunks(1_000) {
        t.assign(ch, chunk).await;
    }
    let heartbeat = |i: usize| {
        let mut b = batch(i as u64, &names[i], vec![]);
        b.sent_at = Some(pts(wall_ms() - 1_000));
        b
    };
    let acks = send_batches(
        ch,
        &t.device_token,
        (0..=MAX_SUBJECTS_PER_STREAM).map(heartbeat).collect(),
    )
    .await
    .unwrap();
    let (last, first) = acks.split_last().unwrap();
    assert!(first.iter().all(|a| a.error.is_empty()), "{first:?}");
    assert!(last.error.contains("another stream"), "{last:?}");
    // A subject already reported on the stream is still fine there; another stream takes the
    // one more.
    let again = send_batches(
        ch,
        &t.device_token,
        vec![heartbeat(MAX_SUBJECTS_PER_STREAM)],
    )
    .await
    .unwrap();
    assert_eq!(again[0].error, "", "{again:?}");
    ts.server.shutdown().await.unwrap();
}
both_backends!(batches_and_streams_are_capped);

async fn an_empty_batch_creates_nothing(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "empty").await;
    t.assign(ch, &["quiet"]).await;
    let mut heartbeat = batch(1, "quiet", vec![]);
    heartbeat.sent_at = Some(pts(wall_ms() - 1_000));
    let ack = ingest_one(ch, &t.device_token, heartbeat.clone()).await;
    assert_eq!(
        (ack.accepted, ack.error.as_str(), ack.alert_events),
        (0, "", 0)
    );
    // Without sent_at too.
    heartbeat.sent_at = None;
    let ack = ingest_one(ch, &t.device_token, heartbeat).await;
    assert_eq!((ack.accepted, ack.error.as_str()), (0, ""), "{ack:?}");
    assert_eq!(ts.server.state().vitals.subjects(), 0, "no monitor");
    assert_eq!(
        list_alerts(ch, &t.nurse_token, "quiet", true)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "no subject"
    );
    // Even an unassigned empty batch is refused: a device reports only as itself.
    let ack = ingest_one(ch, &t.device_token, batch(2, "stranger", vec![])).await;
    assert!(ack.error.contains("not assigned"), "{ack:?}");
    ts.server.shutdown().await.unwrap();
}
both_backends!(an_empty_batch_creates_nothing);

async fn dormant_monitors_are_evicted_and_resume_their_alert(db: Db) {
    let Some(ts) = start_with(db, |c| c.vitals_idle_evict_ms = 300).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "evict").await;
    t.assign(ch, &["r1"]).await;
    let hub = &ts.server.state().vitals;
    let t0 = wall_ms() - 60 * 60_000;
    let ack = ingest_one(ch, &t.device_token, batch(1, "r1", normal(t0))).await;
    assert_eq!(ack.error, "");
    let mut w = watch(ch, &t.nurse_token, 0, "r1").await.unwrap();
    // Four minutes later by the device's clock: the sensor is silent.
    let mut heartbeat = batch(2, "r1", vec![]);
    heartbeat.sent_at = Some(pts(t0 + 4 * 60_000));
    let ack = ingest_one(ch, &t.device_token, heartbeat).await;
    assert_eq!((ack.error.as_str(), ack.alert_events), ("", 1), "{ack:?}");
    let raised = next_event(&mut w).await;
    assert_eq!(raised.change(), pb::AlertChange::Raised);
    let alert_id = raised.alert.as_ref().unwrap().alert_id.clone();
    // An open alert still escalates: the monitor stays while idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hub.subjects(), 1, "evicted with an escalation pending");
    vitals(ch)
        .acknowledge_alert(authed(
            &t.nurse_token,
            pb::AlertActionRequest {
                alert_id: alert_id.clone(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut w).await.change(),
        pb::AlertChange::Acknowledged
    );
    // Acknowledged, every sensor silent: dormant, and evicted once idle.
    eventually("the dormant monitor is evicted", || hub.subjects() == 0).await;

    // The sensor comes back: the monitor is rebuilt, the stored alert continues (still
    // acknowledged) and resolves itself; no new alert.
    let ack = ingest_one(ch, &t.device_token, batch(3, "r1", normal(t0 + 5 * 60_000))).await;
    assert_eq!((ack.accepted, ack.error.as_str()), (3, ""), "{ack:?}");
    assert_eq!(hub.subjects(), 1);
    let resumed = next_event(&mut w).await;
    let a = resumed.alert.as_ref().unwrap();
    assert_eq!(
        (resumed.change(), a.alert_id.as_str(), a.state()),
        (
            pb::AlertChange::Resumed,
            alert_id.as_str(),
            pb::AlertState::Acknowledged
        ),
        "{resumed:?}"
    );
    let back = next_event(&mut w).await;
    let a = back.alert.as_ref().unwrap();
    assert_eq!(
        (back.change(), a.alert_id.as_str(), a.state()),
        (
            pb::AlertChange::Resolved,
            alert_id.as_str(),
            pb::AlertState::Resolved
        ),
        "{back:?}"
    );
    let alerts = list_alerts(ch, &t.nurse_token, "r1", true).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    ts.server.shutdown().await.unwrap();
}
both_backends!(dormant_monitors_are_evicted_and_resume_their_alert);

async fn live_watch_deliveries_are_audited(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "watched").await;
    let mut w = watch(ch, &t.nurse_token, 0, "").await.unwrap();
    // Past the replay of stored events (audited as reads): what comes next comes live.
    let marker = raise_marker(ch, &t).await;
    until_marker(&mut w, &marker).await;
    raise_no_pulse(ch, &t, "r1", wall_ms() - 30_000).await;
    let e = next_event(&mut w).await;
    let alert_id = e.alert.as_ref().unwrap().alert_id.clone();
    assert_eq!(e.change(), pb::AlertChange::Raised);
    // Stored before it was sent: the trail holds it now.
    let trail = audit(ch, &t.clinician_token, "").await.unwrap();
    let watched: Vec<_> = trail
        .iter()
        .filter(|a| a.action == "alerts.watch" && a.subject_id == "r1")
        .collect();
    assert_eq!(watched.len(), 1, "{watched:?}");
    assert_eq!(
        (
            watched[0].subject_id.as_str(),
            watched[0].target_id.as_str(),
            watched[0].actor_role()
        ),
        ("r1", alert_id.as_str(), pb::Role::Nurse)
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(live_watch_deliveries_are_audited);

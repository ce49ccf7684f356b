//! VitalsService over real gRPC against the real server: bad input refused whole with a clear
//! reason (nothing stored, no alert), the alert lifecycle (acknowledge, snooze, resolve),
//! `Watch` resumption without gap or duplicate (also while events are being produced), tenant
//! isolation for every vitals RPC, audited reads, and what survives a restart (alerts, the watch
//! position, and the residents' sudden-change baselines).
#![allow(clippy::unwrap_used)]

mod vitals_common;

use std::collections::BTreeSet;
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_testkit::*;
use pb::vital_sample::Value;
use tonic::Code;
use vitals_common::*;

async fn bad_input_is_refused_whole(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "bad-input").await;
    t.assign(ch, &["r1"]).await;
    let now = wall_ms() - 10 * 60_000;
    // A good first batch, so order and duplicates can be checked against history.
    let first = ingest_one(ch, &t.device_token, batch(1, "r1", normal(now))).await;
    assert_eq!((first.accepted, first.error.as_str()), (3, ""));

    let garbage_then = |bad: pb::VitalSample| {
        // Every batch also carries "no pulse": if any of it were applied, an alert would follow.
        vec![hr(now + 60_000, 0.0), bad]
    };
    let bp = |s: f64, d: f64| {
        sample(
            now + 60_000,
            "cuff",
            Value::BloodPressure(pb::BloodPressure {
                systolic_mmhg: s,
                diastolic_mmhg: d,
            }),
        )
    };
    let cases: Vec<(&str, pb::VitalsBatch, Option<u32>, &str)> = vec![
        (
            "heart rate out of range",
            batch(2, "r1", garbage_then(hr(now + 61_000, 400.0))),
            Some(1),
            "heart rate",
        ),
        (
            "negative respiration",
            batch(3, "r1", garbage_then(rr(now + 60_000, -1.0))),
            Some(1),
            "respiratory rate",
        ),
        (
            "SpO2 out of range",
            batch(4, "r1", garbage_then(spo2(now + 60_000, 30.0))),
            Some(1),
            "SpO2",
        ),
        (
            "NaN temperature",
            batch(
                5,
                "r1",
                garbage_then(sample(
                    now + 60_000,
                    "t",
                    Value::TemperatureCelsius(f64::NAN),
                )),
            ),
            Some(1),
            "temperature",
        ),
        (
            "diastolic above systolic",
            batch(6, "r1", garbage_then(bp(90.0, 120.0))),
            Some(1),
            "diastolic",
        ),
        (
            "unspecified ACVPU",
            batch(
                7,
                "r1",
                garbage_then(sample(now + 60_000, "c", Value::Consciousness(0))),
            ),
            Some(1),
            "unspecified",
        ),
        (
            "no value",
            batch(
                8,
                "r1",
                garbage_then(pb::VitalSample {
                    measured_at: Some(pts(now + 60_000)),
                    source_device: "x".into(),
                    value: None,
                }),
            ),
            Some(1),
            "no value",
        ),
        (
            "no time",
            batch(
                9,
                "r1",
                garbage_then(pb::VitalSample {
                    measured_at: None,
                    source_device: "x".into(),
                    value: Some(Value::HeartRatePerMin(70.0)),
                }),
            ),
            Some(1),
            "measured_at",
        ),
        (
            "in the future",
            batch(10, "r1", garbage_then(hr(wall_ms() + 5 * 60_000, 70.0))),
            Some(1),
            "future",
        ),
        (
            "out of order in the batch",
            batch(
                11,
                "r1",
                vec![hr(now + 120_000, 0.0), hr(now + 60_000, 0.0)],
            ),
            Some(1),
            "out of order",
        ),
        (
            "older than stored",
            batch(
                12,
                "r1",
                vec![hr(now + 60_000, 0.0), spo2(now - 60_000, 97.0)],
            ),
            Some(1),
            "out of order",
        ),
        (
            "duplicate in the batch",
            batch(13, "r1", vec![hr(now + 60_000, 0.0), hr(now + 60_000, 0.0)]),
            Some(1),
            "duplicate",
        ),
        (
            "duplicate of stored",
            batch(14, "r1", vec![hr(now + 60_000, 0.0), rr(now, 15.0)]),
            Some(1),
            "duplicate",
        ),
        (
            "empty source",
            batch(
                15,
                "r1",
                garbage_then(sample(now + 60_000, "", Value::HeartRatePerMin(70.0))),
            ),
            Some(1),
            "source",
        ),
        (
            "empty subject",
            batch(16, "", normal(now + 60_000)),
            None,
            "subject_id",
        ),
    ];
    for (what, b, index, needle) in cases {
        let ack = ingest_one(ch, &t.device_token, b).await;
        assert_eq!(ack.accepted, 0, "{what}: {ack:?}");
        assert_eq!(ack.rejected_index, index, "{what}: {ack:?}");
        assert!(
            ack.error.contains(needle),
            "{what}: `{}` lacks `{needle}`",
            ack.error
        );
    }
    let mut future_sent = batch(17, "r1", normal(now + 60_000));
    future_sent.sent_at = Some(pts(wall_ms() + 3_600_000));
    let ack = ingest_one(ch, &t.device_token, future_sent).await;
    assert!(ack.error.contains("sent_at"), "{ack:?}");
    let mut after_sent = batch(18, "r1", normal(now + 60_000));
    after_sent.sent_at = Some(pts(now));
    let ack = ingest_one(ch, &t.device_token, after_sent).await;
    assert!(ack.error.contains("sent_at"), "{ack:?}");

    // Nothing of the refused batches is stored or raised; the stream stays usable.
    let points = trend(ch, &t.nurse_token, "r1", now - 3_600_000, now + 3_600_000)
        .await
        .unwrap();
    let counted: u32 = points.iter().map(|p| p.count).sum();
    assert_eq!(counted, 1, "{points:?}");
    assert!(
        list_alerts(ch, &t.nurse_token, "", true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(all_events(ch, &t.nurse_token, &t).await.is_empty());
    let ok = ingest_one(ch, &t.device_token, batch(19, "r1", normal(now + 60_000))).await;
    assert_eq!((ok.accepted, ok.error.as_str()), (3, ""));

    // Roles: a nurse cannot ingest; a device cannot read or watch.
    let e = send_batches(
        ch,
        &t.nurse_token,
        vec![batch(1, "r1", normal(now + 120_000))],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        watch(ch, &t.device_token, 0, "").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        trend(ch, &t.device_token, "r1", now, now + 1)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let e = send_batches(ch, "ausc_nonsense", vec![]).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Bad trend requests.
    let e = trend(ch, &t.nurse_token, "r1", now, now - 1)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    ts.server.shutdown().await.unwrap();
}
both_backends!(bad_input_is_refused_whole);

async fn lifecycle_and_trends(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "lifecycle").await;
    let end = wall_ms() - 30_000;
    let mut w = watch(ch, &t.nurse_token, 0, "").await.unwrap();
    raise_no_pulse(ch, &t, "r1", end).await;
    let marker = raise_marker(ch, &t).await;
    // Exactly one event before the marker: the raise.
    let events = until_marker(&mut w, &marker).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let alert = events[0].alert.clone().unwrap();
    assert_eq!(
        (
            events[0].change(),
            alert.kind(),
            alert.severity(),
            alert.state()
        ),
        (
            pb::AlertChange::Raised,
            pb::AlertKind::Clinical,
            pb::AlertSeverity::Critical,
            pb::AlertState::Open
        )
    );
    assert!(
        alert
            .conditions
            .iter()
            .any(|c| c.kind() == pb::AlertConditionKind::NoPulse),
        "{alert:?}"
    );
    let id = alert.alert_id.clone();
    let action = |id: &str| pb::AlertActionRequest {
        alert_id: id.into(),
    };

    let acked = vitals(ch)
        .acknowledge_alert(authed(&t.nurse_token, action(&id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.state(), pb::AlertState::Acknowledged);
    assert!(!acked.acted_by.is_empty());
    let until = wall_ms() + 30 * 60_000;
    let snoozed = vitals(ch)
        .snooze_alert(authed(
            &t.nurse_token,
            pb::SnoozeAlertRequest {
                alert_id: id.clone(),
                until: Some(pts(until)),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(snoozed.snoozed_until.is_some());
    let too_long = vitals(ch)
        .snooze_alert(authed(
            &t.nurse_token,
            pb::SnoozeAlertRequest {
                alert_id: id.clone(),
                until: Some(pts(wall_ms() + 24 * 3_600_000)),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert_eq!(
        list_alerts(ch, &t.nurse_token, "r1", false)
            .await
            .unwrap()
            .len(),
        1
    );
    let resolved = vitals(ch)
        .resolve_alert(authed(&t.clinician_token, action(&id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state(), pb::AlertState::Resolved);
    let again = vitals(ch)
        .resolve_alert(authed(&t.nurse_token, action(&id)))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    // Exactly these changes, in order, and nothing else before the next marker.
    let marker = raise_marker(ch, &t).await;
    let changes: Vec<pb::AlertChange> = until_marker(&mut w, &marker)
        .await
        .into_iter()
        .map(|e| e.change())
        .collect();
    assert_eq!(
        changes,
        [
            pb::AlertChange::Acknowledged,
            pb::AlertChange::Snoozed,
            pb::AlertChange::Resolved
        ]
    );
    assert!(
        list_alerts(ch, &t.nurse_token, "r1", false)
            .await
            .unwrap()
            .is_empty()
    );
    let all = list_alerts(ch, &t.nurse_token, "r1", true).await.unwrap();
    assert_eq!((all.len(), all[0].state()), (1, pb::AlertState::Resolved));
    // Unknown alerts and subjects.
    let e = vitals(ch)
        .acknowledge_alert(authed(&t.nurse_token, action("no-such-alert")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        trend(ch, &t.nurse_token, "nobody", end - 1, end)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // The trend reads minute rollups: 6 minutes of one heart-rate reading each.
    let points = trend(ch, &t.nurse_token, "r1", end - 3_600_000, end + 60_000)
        .await
        .unwrap();
    assert_eq!(points.len(), 6, "{points:?}");
    assert_eq!(points.last().unwrap().min, 0.0);
    // Reads are audited (trend, alert lists and watch) with the subject.
    let trail = audit(ch, &t.clinician_token, "").await.unwrap();
    for action in [
        "vitals.trend",
        "alerts.list",
        "alerts.read",
        "alerts.acknowledge",
        "alerts.resolve",
    ] {
        assert!(
            trail.iter().any(|e| e.action == action),
            "no {action} in the audit trail"
        );
    }
    assert!(
        trail
            .iter()
            .any(|e| e.action == "vitals.trend" && e.subject_id == "r1")
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(lifecycle_and_trends);

async fn watch_resumes_without_gap_or_duplicate(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "resume").await;
    let end = wall_ms() - 30_000;
    // Events are produced while a station keeps disconnecting and resuming.
    let producer = {
        let (ch, t) = (ch.clone(), t.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                raise_no_pulse(&ch, &t, &format!("r{i:02}"), end).await;
            }
        })
    };
    let mut seen: Vec<u64> = Vec::new();
    let mut last = 0;
    let mut reconnects = 0;
    while !producer.is_finished() || reconnects < 3 {
        let mut w = watch(ch, &t.nurse_token, last, "").await.unwrap();
        // Take a few, then drop the stream mid-flight.
        let got = drain(&mut w, Duration::from_millis(300), 3).await;
        drop(w);
        reconnects += 1;
        for e in got {
            seen.push(e.event_id);
            last = e.event_id;
        }
    }
    producer.await.unwrap();
    // The rest, up to a marker raised after the last resident's.
    let marker = raise_marker(ch, &t).await;
    let mut w = watch(ch, &t.nurse_token, last, "").await.unwrap();
    seen.extend(
        until_marker(&mut w, &marker)
            .await
            .iter()
            .map(|e| e.event_id),
    );
    let all: Vec<u64> = all_events(ch, &t.nurse_token, &t)
        .await
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(all.len(), 40, "one raise per resident");
    assert_eq!(
        seen, all,
        "resumed watching saw every event once, in order ({reconnects} reconnects)"
    );
    // Per-subject watch: r07's raise, then its acknowledgement (made after every other
    // resident's raise): had another subject's event come through, it would be between them.
    let mut one = watch(ch, &t.nurse_token, 0, "r07").await.unwrap();
    let first = next_event(&mut one).await;
    assert_eq!(
        (subject_of(&first), first.change()),
        ("r07", pb::AlertChange::Raised)
    );
    vitals(ch)
        .acknowledge_alert(authed(
            &t.nurse_token,
            pb::AlertActionRequest {
                alert_id: first.alert.as_ref().unwrap().alert_id.clone(),
            },
        ))
        .await
        .unwrap();
    let next = next_event(&mut one).await;
    assert_eq!(
        (subject_of(&next), next.change()),
        ("r07", pb::AlertChange::Acknowledged)
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(watch_resumes_without_gap_or_duplicate);

async fn tenants_are_isolated_in_every_vitals_rpc(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "tenant-a").await;
    let b = make_tenant(ch, &ts.admin_token, "tenant-b").await;
    let end = wall_ms() - 30_000;
    raise_no_pulse(ch, &a, "shared-name", end).await;
    raise_no_pulse(ch, &a, "only-a", end).await;
    let a_alerts = list_alerts(ch, &a.nurse_token, "", true).await.unwrap();
    assert_eq!(a_alerts.len(), 2);
    let mut b_watch = watch(ch, &b.nurse_token, 0, "").await.unwrap();
    for token in [&b.nurse_token, &b.clinician_token, &b.admin_token] {
        assert_eq!(
            trend(ch, token, "only-a", end - 3_600_000, end + 1)
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
        assert_eq!(
            list_alerts(ch, token, "only-a", true)
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
        assert!(list_alerts(ch, token, "", true).await.unwrap().is_empty());
        assert_eq!(
            watch(ch, token, 0, "only-a").await.unwrap_err().code(),
            Code::NotFound
        );
        for alert in &a_alerts {
            let req = || pb::AlertActionRequest {
                alert_id: alert.alert_id.clone(),
            };
            assert_eq!(
                vitals(ch)
                    .acknowledge_alert(authed(token, req()))
                    .await
                    .unwrap_err()
                    .code(),
                Code::NotFound
            );
            assert_eq!(
                vitals(ch)
                    .resolve_alert(authed(token, req()))
                    .await
                    .unwrap_err()
                    .code(),
                Code::NotFound
            );
            let snooze = pb::SnoozeAlertRequest {
                alert_id: alert.alert_id.clone(),
                until: Some(pts(wall_ms() + 60_000)),
            };
            assert_eq!(
                vitals(ch)
                    .snooze_alert(authed(token, snooze))
                    .await
                    .unwrap_err()
                    .code(),
                Code::NotFound
            );
        }
    }
    // B's device sending for a subject of the same name makes B's own subject: A is unaffected,
    // and B sees only B's data.
    b.assign(ch, &["shared-name"]).await;
    let ok = ingest_one(ch, &b.device_token, batch(1, "shared-name", normal(end))).await;
    assert_eq!(ok.error, "");
    let b_points = trend(
        ch,
        &b.nurse_token,
        "shared-name",
        end - 3_600_000,
        end + 60_000,
    )
    .await
    .unwrap();
    assert_eq!(b_points.iter().map(|p| p.count).sum::<u32>(), 1);
    let a_points = trend(
        ch,
        &a.nurse_token,
        "shared-name",
        end - 3_600_000,
        end + 60_000,
    )
    .await
    .unwrap();
    assert_eq!(a_points.iter().map(|p| p.count).sum::<u32>(), 6);
    assert!(
        list_alerts(ch, &b.nurse_token, "shared-name", true)
            .await
            .unwrap()
            .is_empty()
    );
    // B's station never received A's events, stored or live: A raises one more while B
    // watches, then B's marker; nothing may come before it.
    raise_no_pulse(ch, &a, "only-a-live", end).await;
    let b_marker = raise_marker(ch, &b).await;
    let leaked = until_marker(&mut b_watch, &b_marker).await;
    assert!(leaked.is_empty(), "B saw {leaked:?}");
    // A's states are untouched.
    assert!(
        list_alerts(ch, &a.nurse_token, "", false)
            .await
            .unwrap()
            .iter()
            .all(|x| x.state() == pb::AlertState::Open)
    );
    let ids: BTreeSet<_> = all_events(ch, &a.nurse_token, &a)
        .await
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids.len(), 3);
    ts.server.shutdown().await.unwrap();
}
both_backends!(tenants_are_isolated_in_every_vitals_rpc);

async fn restart_keeps_alerts_and_watch_position(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), url.clone()).await;
    let admin_token = server.bootstrap_token.clone().unwrap();
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin_token, "restart").await;
    let end = wall_ms() - 60_000;
    raise_no_pulse(&ch, &t, "r1", end).await;
    let mut w = watch(&ch, &t.nurse_token, 0, "r1").await.unwrap();
    let first = next_event(&mut w).await;
    assert_eq!(first.change(), pb::AlertChange::Raised);
    let alert_id = first.alert.as_ref().unwrap().alert_id.clone();
    vitals(&ch)
        .acknowledge_alert(authed(
            &t.nurse_token,
            pb::AlertActionRequest {
                alert_id: alert_id.clone(),
            },
        ))
        .await
        .unwrap();
    let acked = next_event(&mut w).await;
    assert_eq!(acked.change(), pb::AlertChange::Acknowledged);
    let last = acked.event_id;
    drop(w);
    server.shutdown().await.unwrap();

    let server = start_in_process(dir.path(), url).await;
    let ch = connect(server.addr).await;
    // Resuming from the last id seen before the restart: nothing old again (an old event would
    // be replayed before the live "resumed" below, which must come first).
    let mut w = watch(&ch, &t.nurse_token, last, "").await.unwrap();
    // The open alert is still there, acknowledged.
    let open = list_alerts(&ch, &t.nurse_token, "r1", false).await.unwrap();
    assert_eq!(
        (open.len(), open[0].state()),
        (1, pb::AlertState::Acknowledged)
    );
    // A batch stored before the restart is still a duplicate.
    let dup = ingest_one(&ch, &t.device_token, batch(9, "r1", vec![hr(end, 0.0)])).await;
    assert!(
        dup.error.contains("duplicate") || dup.error.contains("out of order"),
        "{dup:?}"
    );
    // The pulse is still absent: the same alert continues ("resumed"), no new alert is raised.
    let ack = ingest_one(
        &ch,
        &t.device_token,
        batch(10, "r1", vec![hr(end + 60_000, 0.0)]),
    )
    .await;
    assert_eq!(ack.error, "");
    let after = take(&mut w, 1).await;
    assert_eq!(after[0].change(), pb::AlertChange::Resumed, "{after:?}");
    let a = after[0].alert.as_ref().unwrap();
    assert_eq!(
        (a.alert_id.as_str(), a.state()),
        (alert_id.as_str(), pb::AlertState::Acknowledged)
    );
    assert!(after[0].event_id > last);
    // It can still be resolved.
    let resolved = vitals(&ch)
        .resolve_alert(authed(
            &t.nurse_token,
            pb::AlertActionRequest {
                alert_id: alert_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state(), pb::AlertState::Resolved);
    // No new alert was raised for the continuing episode: the next event is the resolution.
    let next = next_event(&mut w).await;
    assert_eq!(
        (
            next.change(),
            next.alert.as_ref().unwrap().alert_id.as_str()
        ),
        (pb::AlertChange::Resolved, alert_id.as_str()),
        "{next:?}"
    );
    server.shutdown().await.unwrap();
}
both_backends!(restart_keeps_alerts_and_watch_position);

/// Whether `e` raises or updates an alert because of a sudden change of `parameter`.
fn is_sudden_change(e: &pb::AlertEvent, subject: &str, parameter: pb::VitalParameter) -> bool {
    subject_of(e) == subject
        && e.alert.as_ref().is_some_and(|a| {
            a.conditions.iter().any(|c| {
                c.kind() == pb::AlertConditionKind::SuddenChange && c.parameter() == parameter
            })
        })
}

/// Once-a-minute readings of `subject` for `minutes` minutes from `start`, with the given
/// respiratory rate, one batch per minute numbered from `first_id`.
fn minutes_of(
    subject: &str,
    start: i64,
    minutes: i64,
    rr_value: f64,
    first_id: u64,
) -> Vec<pb::VitalsBatch> {
    (0..minutes)
        .map(|i| {
            let at = start + i * 60_000;
            batch(
                first_id + i as u64,
                subject,
                vec![hr(at, 70.0), rr(at, rr_value), spo2(at, 97.0)],
            )
        })
        .collect()
}

async fn restart_keeps_baselines(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), url.clone()).await;
    let admin_token = server.bootstrap_token.clone().unwrap();
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin_token, "baselines").await;
    t.assign(&ch, &["r1", "r2"]).await;
    // Ninety quiet minutes of r1 (respiration 15/min), enough for a baseline (60 minutes).
    let start = wall_ms() - 120 * 60_000;
    let acks = send_batches(&ch, &t.device_token, minutes_of("r1", start, 90, 15.0, 1))
        .await
        .unwrap();
    assert!(
        acks.iter()
            .all(|a| a.error.is_empty() && a.alert_events == 0),
        "{acks:?}"
    );
    server.shutdown().await.unwrap();

    // After the restart r1's respiration rises to 24/min (NEWS2 scores it 2: no NEWS2 alert).
    // The rebuilt monitor judges it against the stored baseline at once; r2, whose monitor has
    // no history, would need an hour of warm-up first.
    let server = start_in_process(dir.path(), url).await;
    let ch = connect(server.addr).await;
    let mut w = watch(&ch, &t.nurse_token, 0, "").await.unwrap();
    let rise = start + 90 * 60_000;
    let acks = send_batches(&ch, &t.device_token, minutes_of("r1", rise, 12, 24.0, 100))
        .await
        .unwrap();
    assert!(acks.iter().all(|a| a.error.is_empty()), "{acks:?}");
    let acks = send_batches(&ch, &t.device_token, minutes_of("r2", rise, 12, 24.0, 200))
        .await
        .unwrap();
    assert!(acks.iter().all(|a| a.error.is_empty()), "{acks:?}");
    let marker = raise_marker(&ch, &t).await;
    let events = until_marker(&mut w, &marker).await;
    let r1: Vec<_> = events
        .iter()
        .filter(|e| is_sudden_change(e, "r1", pb::VitalParameter::RespiratoryRate))
        .collect();
    assert_eq!(r1.len(), 1, "r1's rise is a sudden change: {events:?}");
    assert_eq!(r1[0].change(), pb::AlertChange::Raised);
    assert!(
        !events.iter().any(|e| subject_of(e) == "r2"),
        "r2 has no baseline yet: {events:?}"
    );
    server.shutdown().await.unwrap();
}
both_backends!(restart_keeps_baselines);

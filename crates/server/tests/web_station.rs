//! The nurses' station in a real browser: headless Chromium over WebDriver against the real
//! server on a real socket, with firmware-sim's apnea scenario (samples at 1 Hz, replayed as
//! fast as the server acknowledges, device times ending about now) raising a real alert.
//!
//! A nurse signs in, follows the header's link to the station and waits for its event stream;
//! the apnea raises a clinical alert, which the station shows within 2 s of the moment a gRPC
//! `Watch` of the same tenant sees it, exactly once. The page's connection is dropped and
//! resumed, then the page is reloaded: still one row, no event applied twice, and a stream
//! resumed by `Last-Event-ID` (or `?after=`) sends nothing at or before that id. The alarm is on
//! until the nurse snoozes or acknowledges it; snooze, acknowledge, escalate and resolve in the page are seen by
//! `ListAlerts` over gRPC and audited. The resident's trend charts draw uPlot canvases with
//! points over 24 h and 7 d. A forged POST without the CSRF token is 403; another tenant's nurse
//! sees no alert, and the resident's pages and the alert's actions are 404 for them; programme
//! staff get no station link and 403.
//! Screenshots `station-1280x800.png` and `station-820x1180.png` go to `target/screenshots/`.
//!
//! On SQLite, and on PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set. Skips (saying so)
//! without `chromedriver`/`chromium`; fails instead when CI declares them present.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod vitals_common;

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_testkit::browser::*;
use auscult_testkit::*;
use fantoccini::{Client, Locator};
use serde_json::json;
use vitals_common::*;

const SUBJECT: &str = "resident-apnea-1";
const SENSOR: &str = "sensor-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_handles_an_apnea_alert_in_the_station_sqlite() {
    station(Db::Sqlite, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_handles_an_apnea_alert_in_the_station_postgres() {
    station(Db::Postgres, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_handles_an_apnea_alert_in_firefox() {
    station(Db::Sqlite, Engine::Firefox).await;
}

/// The unresolved and resolved alerts of the tenant, over gRPC.
async fn list(ch: &tonic::transport::Channel, token: &str) -> Vec<pb::Alert> {
    vitals(ch)
        .list_alerts(authed(
            token,
            pb::ListAlertsRequest {
                subject_id: String::new(),
                include_resolved: true,
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .alerts
}

/// Waits until `ListAlerts` shows alert `id` satisfying `ok`.
async fn wait_alert(
    ch: &tonic::transport::Channel,
    token: &str,
    id: &str,
    ok: impl Fn(&pb::Alert) -> bool,
) -> pb::Alert {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(a) = list(ch, token).await.into_iter().find(|a| a.alert_id == id)
            && ok(&a)
        {
            return a;
        }
        assert!(Instant::now() < deadline, "alert {id} never changed so");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The station's root attributes the test reads.
async fn station_state(c: &Client, alert_id: &str) -> serde_json::Value {
    c.execute(
        "const s = document.getElementById('station'); const id = arguments[0];
         const rows = document.querySelectorAll('#alert-rows tr[data-alert-id=\"' + id + '\"]');
         return { alarm: s.dataset.alarm, connection: s.dataset.connection,
                  duplicates: Number(s.dataset.duplicates || 0), last: Number(s.dataset.lastEventId || 0),
                  rows: rows.length, state: rows.length ? rows[0].dataset.state : null,
                  level: rows.length ? Number(rows[0].dataset.level) : null,
                  seen: rows.length ? Number(rows[0].dataset.seenMs) : null,
                  all: document.querySelectorAll('#alert-rows tr').length };",
        vec![json!(alert_id)],
    )
    .await
    .unwrap()
}

/// Polls the station until `ok` holds of its state (or fails after 20 s).
async fn wait_station(
    c: &Client,
    alert_id: &str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = station_state(c, alert_id).await;
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the station never showed {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Clicks the button `action` of alert `id`'s row and waits for the server's answer (200).
async fn click_action(c: &Client, id: &str, action: &str) {
    c.execute(
        "delete document.getElementById('station').dataset.lastAction;",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css(&format!(
        "#alert-rows tr[data-alert-id='{id}'] button[data-action='{action}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = c
            .execute(
                "return document.getElementById('station').dataset.lastAction || null;",
                vec![],
            )
            .await
            .unwrap();
        if let Some(done) = done.as_str() {
            assert_eq!(done, format!("{action}:200"));
            return;
        }
        assert!(Instant::now() < deadline, "{action}: no answer");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Reads `/station/events` in the page for `ms` milliseconds with `headers` and returns the
/// event ids it sent.
async fn stream_ids(c: &Client, query: &str, last_event_id: Option<i64>, ms: u64) -> Vec<i64> {
    let headers = match last_event_id {
        Some(id) => format!("{{'Last-Event-ID': '{id}'}}"),
        None => "{}".to_owned(),
    };
    let v = in_page(
        c,
        &format!(
            "const ctl = new AbortController(); setTimeout(() => ctl.abort(), {ms});
             const r = await fetch('/station/events{query}', {{headers: {headers}, signal: ctl.signal}});
             if (!r.ok) return 'status ' + r.status;
             const reader = r.body.getReader(); const dec = new TextDecoder(); let text = '';
             try {{ for (;;) {{ const {{value, done}} = await reader.read(); if (done) break; text += dec.decode(value); }} }} catch (e) {{}}
             return text.split('\\n').filter(l => l.startsWith('id:')).map(l => Number(l.slice(3).trim()));"
        ),
    )
    .await;
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("event stream read: {v}"))
}

async fn station(db: Db, engine: Engine) {
    let Some((driver_bin, chromium)) = engine.find_or_skip() else {
        return;
    };
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let shots = db == Db::Sqlite && engine == Engine::Chromium;
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "station-north").await;
    let b = make_tenant(ch, &ts.admin_token, "station-south").await;
    add_web_user(&ts, &a.id, "nurse-north", pb::Role::Nurse).await;
    add_web_user(&ts, &b.id, "nurse-south", pb::Role::Nurse).await;
    add_web_user(&ts, &a.id, "staff-north", pb::Role::ProgramStaff).await;
    a.assign(ch, &[SUBJECT]).await;

    let driver = Driver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let c = engine.open(&driver, &chromium, profile.path()).await;

    // The nurse signs in and follows the header's link to the station.
    sign_in(&c, &base, "nurse-north", PASSWORD).await;
    c.find(Locator::Id("station-link"))
        .await
        .expect("the header links to the station for a nurse")
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("station")).await.unwrap();
    assert_eq!(path(&c).await, "/station");
    wait_station(&c, "", "a live connection", |s| s["connection"] == "live").await;

    // A gRPC Watch of the same tenant notes when it sees the alert raised.
    let mut watch_stream = watch(ch, &a.nurse_token, 0, "").await.unwrap();
    let raised = tokio::spawn(async move {
        loop {
            let e = next_event(&mut watch_stream).await;
            if e.change() == pb::AlertChange::Raised
                && e.alert.as_ref().unwrap().kind() == pb::AlertKind::Clinical
            {
                return (e, auscult_store::now_ms());
            }
        }
    });

    // The apnea scenario at 1 Hz: breathing stops after 30 minutes; the series ends a minute
    // later (before the unacknowledged critical alert's first automatic escalation), a few
    // seconds ago in device time, streamed as fast as the server acknowledges.
    let replay = replay_apnea(ts.server.addr, &a.device_token, SUBJECT, SENSOR, 11);

    let (event, watch_ms) = tokio::time::timeout(Duration::from_secs(120), raised)
        .await
        .expect("the apnea raises an alert")
        .unwrap();
    let alert_id = event.alert.as_ref().unwrap().alert_id.clone();
    let event_id = i64::try_from(event.event_id).unwrap();
    let shown = wait_station(&c, &alert_id, "the alert", |s| s["rows"] == 1).await;
    let latency_ms = shown["seen"].as_i64().unwrap() - watch_ms;
    eprintln!("station shows the alert {latency_ms} ms after gRPC Watch saw it");
    assert!(
        latency_ms <= 2_000,
        "the station showed the alert {latency_ms} ms after Watch saw it"
    );
    assert_eq!(shown["rows"], 1, "exactly once: {shown}");
    assert_eq!(shown["duplicates"], 0, "{shown}");
    assert_eq!(shown["state"], "open");
    assert_eq!(shown["alarm"], "on", "the alarm sounds while it is open");
    let report = replay.await.unwrap();
    assert_eq!(report.refused, 0, "{:?}", report.refusals);

    // The sensor goes on reporting normal breathing in real time, so no silent-sensor alert
    // opens while the test runs.
    let feeder = feed_normal_readings(ch, &a.device_token, SUBJECT, SENSOR);

    if shots {
        screenshot(&c, "station", 1280, 800).await;
        screenshot(&c, "station", 820, 1180).await;
        c.set_window_size(1280, 800).await.unwrap();
    }

    // The connection drops and resumes: still one row, nothing applied twice.
    c.execute("window.auscultStation.reconnect();", vec![])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = wait_station(&c, &alert_id, "a resumed stream", |s| {
        s["connection"] == "live"
    })
    .await;
    assert_eq!(after["rows"], 1, "{after}");
    assert_eq!(after["duplicates"], 0, "{after}");
    // A reload reads the current alerts and resumes after the newest id: still one row.
    c.execute("document.body.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    c.refresh().await.unwrap();
    c.wait()
        .for_element(Locator::Css("body:not([data-stale])"))
        .await
        .unwrap();
    let reloaded = wait_station(&c, &alert_id, "the alert after a reload", |s| {
        s["connection"] == "live" && s["rows"] == 1
    })
    .await;
    assert_eq!(reloaded["duplicates"], 0, "{reloaded}");
    assert_eq!(reloaded["all"], 1, "only this alert: {reloaded}");
    assert_eq!(reloaded["alarm"], "on");
    // The stream resumed by Last-Event-ID (which wins over ?after=) sends nothing at or
    // before that id; from before the alert it sends the alert's raise again, once.
    let resumed = stream_ids(&c, "?after=0", Some(event_id), 1_500).await;
    assert!(resumed.iter().all(|id| *id > event_id), "{resumed:?}");
    let replayed = stream_ids(&c, &format!("?after={}", event_id - 1), None, 1_500).await;
    assert_eq!(
        replayed.iter().filter(|id| **id == event_id).count(),
        1,
        "{replayed:?}"
    );
    assert!(replayed.windows(2).all(|w| w[0] < w[1]), "{replayed:?}");
    let bad = in_page(
        &c,
        "return (await fetch('/station/events?after=-5')).status;",
    )
    .await;
    assert_eq!(bad, json!(400));

    // A forged POST without the CSRF token (or with another) is refused and changes nothing.
    let forged = in_page(
        &c,
        &format!(
            "const h = {{'Content-Type': 'application/x-www-form-urlencoded'}};
             const a = await fetch('/station/alerts/{alert_id}/acknowledge', {{method: 'POST', headers: h, body: ''}});
             const b = await fetch('/station/alerts/{alert_id}/resolve', {{method: 'POST', headers: h, body: 'csrf=' + '0'.repeat(64)}});
             return [a.status, b.status];"
        ),
    )
    .await;
    assert_eq!(forged, json!([403, 403]));
    let unchanged = list(ch, &a.nurse_token).await;
    let it = unchanged.iter().find(|x| x.alert_id == alert_id).unwrap();
    assert_eq!(
        it.state(),
        pb::AlertState::Open,
        "the forged POSTs changed nothing"
    );

    // Snooze in the page: the alert stays open, the API sees the snooze, the alarm goes quiet.
    click_action(&c, &alert_id, "snooze").await;
    let snoozed = wait_alert(ch, &a.nurse_token, &alert_id, |x| x.snoozed_until.is_some()).await;
    assert_eq!(
        snoozed.state(),
        pb::AlertState::Open,
        "a snooze is not an acknowledgement"
    );
    let s = wait_station(&c, &alert_id, "the snooze", |s| s["alarm"] == "off").await;
    assert_eq!(s["state"], "open", "{s}");

    // Acknowledge in the page: the API sees it, the alarm stops.
    click_action(&c, &alert_id, "acknowledge").await;
    let acked = wait_alert(ch, &a.nurse_token, &alert_id, |x| {
        x.state() == pb::AlertState::Acknowledged
    })
    .await;
    assert!(!acked.acted_by.is_empty());
    let s = wait_station(&c, &alert_id, "the acknowledgement", |s| {
        s["state"] == "acknowledged"
    })
    .await;
    assert_eq!(s["alarm"], "off", "acknowledged: the alarm stops: {s}");

    // Escalate: one level up, seen by the API and the page. (Acknowledged, it no longer
    // escalates by itself.)
    let level = acked.escalation_level;
    assert!(
        level < 2,
        "escalated by itself before the test acted: {acked:?}"
    );
    click_action(&c, &alert_id, "escalate").await;
    let escalated = wait_alert(ch, &a.nurse_token, &alert_id, |x| {
        x.escalation_level == level + 1
    })
    .await;
    assert_eq!(escalated.state(), pb::AlertState::Acknowledged);
    wait_station(&c, &alert_id, "the escalation", |s| s["level"] == level + 1).await;
    // The same domain action over gRPC up to the top of the ladder (level 2), which refuses
    // one more, in the API and in the page alike.
    let escalate = || {
        let (ch, token, alert_id) = (ch.clone(), a.nurse_token.clone(), alert_id.clone());
        async move {
            vitals(&ch)
                .escalate_alert(authed(&token, pb::AlertActionRequest { alert_id }))
                .await
        }
    };
    for _ in level + 1..2 {
        escalate().await.unwrap();
    }
    wait_station(&c, &alert_id, "the top level", |s| s["level"] == 2).await;
    let top = escalate().await.unwrap_err();
    assert_eq!(top.code(), tonic::Code::FailedPrecondition);
    let at_top = in_page(
        &c,
        &format!(
            "const s = document.getElementById('station');
             const r = await fetch('/station/alerts/{alert_id}/escalate', {{method: 'POST', body: new URLSearchParams({{csrf: s.dataset.csrf}})}});
             return r.status;"
        ),
    )
    .await;
    assert_eq!(at_top, json!(409));

    // Resolve: gone from the station, resolved for the API.
    click_action(&c, &alert_id, "resolve").await;
    wait_alert(ch, &a.nurse_token, &alert_id, |x| {
        x.state() == pb::AlertState::Resolved
    })
    .await;
    let s = wait_station(&c, &alert_id, "the resolution", |s| s["rows"] == 0).await;
    assert_eq!(s["alarm"], "off");
    assert_eq!(s["duplicates"], 0);

    // Every action is audited with the resident, as the nurse.
    let trail = audit(ch, &a.admin_token, "").await.unwrap();
    let by_nurse = |action: &str| {
        trail
            .iter()
            .filter(|e| e.action == action && e.actor_role() == pb::Role::Nurse)
            .collect::<Vec<_>>()
    };
    for action in [
        "alerts.acknowledge",
        "alerts.escalate",
        "alerts.resolve",
        "alerts.watch",
    ] {
        assert!(
            by_nurse(action).iter().any(|e| e.subject_id == SUBJECT),
            "no {action} of the resident by a nurse in the audit trail"
        );
    }
    assert!(
        !by_nurse("alerts.read").is_empty(),
        "the station's alert list is audited"
    );

    // The resident's page: sensors and trend charts with points, over 24 h and 7 d.
    c.goto(&format!("{base}/station/residents/{SUBJECT}"))
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("sensors")).await.unwrap();
    for range in ["24h", "7d"] {
        if range == "7d" {
            c.find(Locator::Id("range-7d"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(&format!("#trends[data-loaded='{range}']")))
            .await
            .unwrap();
        let charts = c
            .execute(
                "const out = {};
                 for (const d of document.querySelectorAll('#trends .chart')) {
                   out[d.dataset.key] = [Number(d.dataset.points), d.querySelectorAll('canvas').length];
                 }
                 return out;",
                vec![],
            )
            .await
            .unwrap();
        for key in ["heart_rate", "respiratory_rate", "spo2", "news2"] {
            let points = charts[key][0].as_i64().unwrap_or(0);
            assert!(points > 0, "{range} {key}: no points: {charts}");
            assert!(
                charts[key][1].as_i64().unwrap_or(0) >= 1,
                "{range} {key}: no uPlot canvas: {charts}"
            );
        }
    }
    if shots {
        c.find(Locator::Id("range-24h"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("#trends[data-loaded='24h']"))
            .await
            .unwrap();
        screenshot(&c, "resident", 1280, 800).await;
        c.set_window_size(1280, 800).await.unwrap();
    }
    let trail = audit(ch, &a.admin_token, "").await.unwrap();
    for action in ["vitals.sensors_read", "vitals.trend"] {
        assert!(
            trail
                .iter()
                .any(|e| e.action == action && e.subject_id == SUBJECT),
            "the resident's page view is audited ({action})"
        );
    }

    // Another tenant's nurse: no alert, and the resident and its alert do not exist for them.
    sign_out(&c).await;
    sign_in(&c, &base, "nurse-south", PASSWORD).await;
    c.goto(&format!("{base}/station")).await.unwrap();
    let south = wait_station(&c, &alert_id, "a live connection", |s| {
        s["connection"] == "live"
    })
    .await;
    assert_eq!(south["all"], 0, "{south}");
    assert_eq!(south["last"], 0, "no event of another tenant: {south}");
    let theirs = stream_ids(&c, "?after=0", None, 1_500).await;
    assert!(theirs.is_empty(), "{theirs:?}");
    let statuses = in_page(
        &c,
        &format!(
            "const s = document.getElementById('station');
             const body = new URLSearchParams({{csrf: s.dataset.csrf}});
             const get = async (u) => (await fetch(u)).status;
             return [await get('/station/residents/{SUBJECT}'),
                     await get('/station/residents/{SUBJECT}/trend?range=24h'),
                     (await fetch('/station/alerts/{alert_id}/acknowledge', {{method: 'POST', body}})).status];"
        ),
    )
    .await;
    assert_eq!(statuses, json!([404, 404, 404]));

    // A role the vitals API does not let watch (programme staff): no link, 403 everywhere.
    sign_out(&c).await;
    sign_in(&c, &base, "staff-north", PASSWORD).await;
    c.goto(&format!("{base}/account")).await.unwrap();
    c.wait().for_element(Locator::Id("sign-out")).await.unwrap();
    assert!(
        c.find(Locator::Id("station-link")).await.is_err(),
        "no station link for programme staff"
    );
    assert!(
        c.find(Locator::Id("nav-live")).await.is_err(),
        "no live-auscultation link for programme staff"
    );
    let refused = in_page(
        &c,
        &format!(
            "const get = async (u) => (await fetch(u)).status;
             return [await get('/station'), await get('/station/alerts'), await get('/station/events'),
                     await get('/station/residents/{SUBJECT}')];"
        ),
    )
    .await;
    assert_eq!(refused, json!([403, 403, 403, 403]));

    feeder.abort();
    c.close().await.unwrap();
    ts.server.shutdown().await.unwrap();
}

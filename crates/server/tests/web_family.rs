//! The families' view in a real browser: headless Chromium over WebDriver against the real
//! server on a real socket, with firmware-sim's apnea scenario raising a real alert.
//!
//! A nurse records the resident's consent and invites a relative from the station's resident
//! page; the relative opens the link in another browser, chooses a username and password (a
//! mismatch is shown on the form with 400) and lands on their relative's page, all usual. The
//! page's `window.Notification` is replaced by a recorder (granted, keeps what is constructed),
//! so the page's own script's calls are observed. The apnea raises an alert: the page shows "an
//! alert is waiting for a nurse" and the history row, and a notification is made; the nurse
//! acknowledges over gRPC ("a nurse is looking") and resolves (all usual again, a second
//! notification). The week's pulse and breathing charts have points. Any other resident (of the
//! tenant or another) is 404 on every family path, and the station, worklist, cases and live
//! pages are 403/404 for the family member. The invitation link is refused on second use, a
//! second invitation once withdrawn, and withdrawing the grant ends the family member's session.
//! Every family page view is in the audit trail (`family.view`, the relative's role `family`),
//! with the invitation and its acceptance. axe-core finds no WCAG A/AA violation on the family
//! page and the invitation page. Screenshots `family-390x844.png` and `family-1280x800.png`.
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
use pb::vital_sample::Value;
use serde_json::json;
use vitals_common::*;

const SUBJECT: &str = "resident-family-1";
const OTHER: &str = "resident-family-2";
const ELSEWHERE: &str = "resident-south-1";
const SENSOR: &str = "sensor-1";
const FAMILY_USER: &str = "hanako.family";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_member_follows_their_relatives_alert_sqlite() {
    family(Db::Sqlite, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_member_follows_their_relatives_alert_postgres() {
    family(Db::Postgres, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_member_follows_their_relatives_alert_in_firefox() {
    family(Db::Sqlite, Engine::Firefox).await;
}

/// One normal reading of `subject` an hour ago (no expected interval, so no silence is
/// watched): the resident exists for the vitals API.
async fn prime(ch: &tonic::transport::Channel, token: &str, subject: &str, id: u64) {
    let at = wall_ms() - 3_600_000;
    let mut b = batch(
        id,
        subject,
        vec![
            sample(at, SENSOR, Value::HeartRatePerMin(70.0)),
            sample(at, SENSOR, Value::RespiratoryRatePerMin(15.0)),
        ],
    );
    b.expected_interval_seconds = 0;
    let ack = ingest_one(ch, token, b).await;
    assert!(ack.error.is_empty(), "{ack:?}");
}

/// What the family page shows, as the test reads it.
async fn page_state(c: &Client) -> serde_json::Value {
    c.execute(
        "const f = document.getElementById('family');
         const rows = [...document.querySelectorAll('#history li')].map(li => [li.dataset.change, li.dataset.alertId]);
         return { status: document.getElementById('status').dataset.status,
                  text: document.getElementById('status-text').textContent,
                  connection: f.dataset.connection, applied: Number(f.dataset.applied || 0),
                  history: rows, notes: window.__notes || null };",
        vec![],
    )
    .await
    .unwrap()
}

/// Polls the family page until `ok` holds (or fails after 30 s).
async fn wait_page(
    c: &Client,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = page_state(c).await;
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the family page never showed {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the page's history has a row `change` of alert `id`.
fn has_row(s: &serde_json::Value, change: &str, id: &str) -> bool {
    s["history"]
        .as_array()
        .is_some_and(|rows| rows.iter().any(|r| r[0] == change && r[1] == id))
}

/// Fills the station's invitation form on the resident's page and returns the link shown.
async fn invite(c: &Client, base: &str, relative: &str) -> String {
    c.goto(&format!("{base}/station/residents/{SUBJECT}"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("invite-form"))
        .await
        .unwrap();
    for (id, value) in [
        ("relative_name", relative),
        ("relationship", "daughter"),
        ("consent_recorded_by", "Nurse on duty"),
        ("consent_version", "family-consent v2"),
    ] {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    submit_and_wait(c, "invite-submit").await;
    let link = c
        .find(Locator::Id("invite-link"))
        .await
        .expect("the invitation's link is shown")
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.starts_with(&format!("{base}/family/invite/")),
        "{link}"
    );
    link
}

async fn family(db: Db, engine: Engine) {
    let Some((driver_bin, chromium)) = engine.find_or_skip() else {
        return;
    };
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let shots = db == Db::Sqlite && engine == Engine::Chromium;
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "family-north").await;
    let b = make_tenant(ch, &ts.admin_token, "family-south").await;
    add_web_user(&ts, &a.id, "nurse-north", pb::Role::Nurse).await;
    a.assign(ch, &[SUBJECT, OTHER]).await;
    b.assign(ch, &[ELSEWHERE]).await;
    prime(ch, &a.device_token, SUBJECT, 1).await;
    prime(ch, &a.device_token, OTHER, 2).await;
    prime(ch, &b.device_token, ELSEWHERE, 3).await;

    // The family role is never made by CreateUser.
    let refused = admin(ch)
        .create_user(authed(
            &a.admin_token,
            pb::CreateUserRequest {
                tenant_id: a.id.clone(),
                name: "someone".into(),
                role: pb::Role::Family as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let driver = Driver::start(&driver_bin);
    let nurse_profile = tempfile::tempdir().unwrap();
    let family_profile = tempfile::tempdir().unwrap();
    let nurse = engine.open(&driver, &chromium, nurse_profile.path()).await;
    // geckodriver drives one session at a time: the family's browser has a driver of its own.
    let family_driver = Driver::start(&driver_bin);
    let fam = engine
        .open(&family_driver, &chromium, family_profile.path())
        .await;

    // The nurse records the consent and invites the relative; a form missing its fields is 400.
    sign_in(&nurse, &base, "nurse-north", PASSWORD).await;
    let link = invite(&nurse, &base, "Hanako").await;
    nurse
        .goto(&format!("{base}/station/residents/{SUBJECT}"))
        .await
        .unwrap();
    assert_eq!(
        text(&nurse, "#family-rows tr[data-state='invited'] td").await,
        "Hanako"
    );
    let bad = in_page(
        &nurse,
        &format!(
            "const csrf = document.querySelector('#invite-form input[name=csrf]').value;
             const post = async (body) => (await fetch('/station/residents/{SUBJECT}/family', {{method: 'POST', body: new URLSearchParams(body)}})).status;
             return [await post({{csrf, relative_name: '', relationship: 'son', consent_recorded_by: 'n', consent_version: 'v'}}),
                     await post({{csrf, relative_name: 'x'.repeat(101), relationship: 'son', consent_recorded_by: 'n', consent_version: 'v'}}),
                     await post({{relative_name: 'a', relationship: 'son', consent_recorded_by: 'n', consent_version: 'v'}}),
                     (await fetch('/station/residents/nobody-here/family', {{method: 'POST', body: new URLSearchParams({{csrf, relative_name: 'a', relationship: 'b', consent_recorded_by: 'c', consent_version: 'd'}})}})).status];"
        ),
    )
    .await;
    assert_eq!(bad, json!([400, 400, 403, 404]));

    // The relative opens the link in their own browser: the invitation page passes axe.
    fam.goto(&link).await.unwrap();
    fam.wait()
        .for_element(Locator::Id("accept-form"))
        .await
        .unwrap();
    assert_eq!(text(&fam, "#invited-resident").await, SUBJECT);
    let violations = accessibility(&fam).await;
    assert!(
        violations.is_empty(),
        "the invitation page: {violations:#?}"
    );
    // Two passwords that differ: shown on the form, 400, nothing made.
    let fill = |password_again: &'static str| {
        let fam = fam.clone();
        async move {
            for (id, value) in [
                ("username", FAMILY_USER),
                ("password", PASSWORD),
                ("password_again", password_again),
            ] {
                let field = fam.find(Locator::Id(id)).await.unwrap();
                field.clear().await.unwrap();
                field.send_keys(value).await.unwrap();
            }
            submit_and_wait(&fam, "accept-submit").await;
        }
    };
    fill("something else entirely").await;
    fam.find(Locator::Id("invitation-error"))
        .await
        .expect("the mismatch is shown");
    fill(PASSWORD).await;
    assert_eq!(path(&fam).await, format!("/family/residents/{SUBJECT}"));
    fam.wait().for_element(Locator::Id("family")).await.unwrap();
    let first = wait_page(&fam, "a live stream", |s| s["connection"] == "live").await;
    assert_eq!(first["status"], "all_usual", "{first}");
    assert_eq!(first["text"], "All as usual.");
    // The link is used up.
    let again = in_page(&fam, &format!("return (await fetch('{link}')).status;")).await;
    assert_eq!(again, json!(404));

    // The page's Notification becomes a recorder that says "granted" and keeps what is made;
    // the person allows notifications with the button.
    fam.execute(
        "window.__notes = [];
         window.Notification = class {
           constructor(title, options) { window.__notes.push({ title, body: (options || {}).body || '' }); }
           static get permission() { return window.__permission || 'default'; }
           static async requestPermission() { window.__permission = 'granted'; return 'granted'; }
         };
         document.getElementById('notify-me').click();",
        vec![],
    )
    .await
    .unwrap();
    fam.wait()
        .for_element(Locator::Css("#family[data-notify='granted']"))
        .await
        .unwrap();

    // The apnea scenario for the relative, as the station test plays it.
    let mut watch_stream = watch(ch, &a.nurse_token, 0, SUBJECT).await.unwrap();
    let raised = tokio::spawn(async move {
        loop {
            let e = next_event(&mut watch_stream).await;
            if e.change() == pb::AlertChange::Raised
                && e.alert.as_ref().unwrap().kind() == pb::AlertKind::Clinical
            {
                return e;
            }
        }
    });
    let replay = replay_apnea(ts.server.addr, &a.device_token, SUBJECT, SENSOR, 12);
    let event = tokio::time::timeout(Duration::from_secs(120), raised)
        .await
        .expect("the apnea raises an alert")
        .unwrap();
    let alert_id = event.alert.as_ref().unwrap().alert_id.clone();
    let report = replay.await.unwrap();
    assert_eq!(report.refused, 0, "{:?}", report.refusals);
    // The sensor goes on reporting normal breathing, so no silent-sensor alert opens.
    let feeder = feed_normal_readings(ch, &a.device_token, SUBJECT, SENSOR);

    let waiting = wait_page(&fam, "the alert waiting", |s| {
        s["status"] == "alert_waiting" && has_row(s, "raised", &alert_id)
    })
    .await;
    assert_eq!(waiting["text"], "An alert is waiting for a nurse.");
    let notes = waiting["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "one notification for the raise: {waiting}");
    assert_eq!(notes[0]["title"], "An alert for your relative");
    assert_eq!(notes[0]["body"], "no breathing");

    // The week's pulse and breathing charts have points (and nothing else is charted).
    fam.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#trends[data-loaded='7d']"))
        .await
        .unwrap();
    let charts = fam
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
    assert_eq!(
        charts.as_object().unwrap().len(),
        2,
        "pulse and breathing only: {charts}"
    );
    for key in ["heart_rate", "respiratory_rate"] {
        assert!(charts[key][0].as_i64().unwrap_or(0) > 0, "{key}: {charts}");
        assert!(charts[key][1].as_i64().unwrap_or(0) >= 1, "{key}: {charts}");
    }
    let violations = accessibility(&fam).await;
    assert!(violations.is_empty(), "the family page: {violations:#?}");
    if shots {
        screenshot(&fam, "family", 390, 844).await;
        screenshot(&fam, "family", 1280, 800).await;
    }

    // The nurse acknowledges over gRPC: a nurse is looking.
    vitals(ch)
        .acknowledge_alert(authed(
            &a.nurse_token,
            pb::AlertActionRequest {
                alert_id: alert_id.clone(),
            },
        ))
        .await
        .unwrap();
    let looking = wait_page(&fam, "a nurse looking", |s| {
        s["status"] == "nurse_looking" && has_row(s, "acknowledged", &alert_id)
    })
    .await;
    assert_eq!(looking["text"], "A nurse is looking at an alert.");
    assert_eq!(looking["notes"].as_array().unwrap().len(), 1, "{looking}");
    // Resolved: all usual again, and the second notification.
    vitals(ch)
        .resolve_alert(authed(
            &a.nurse_token,
            pb::AlertActionRequest {
                alert_id: alert_id.clone(),
            },
        ))
        .await
        .unwrap();
    let resolved = wait_page(&fam, "the resolution", |s| {
        s["status"] == "all_usual" && has_row(s, "resolved", &alert_id)
    })
    .await;
    let notes = resolved["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{resolved}");
    assert_eq!(notes[1]["title"], "The alert for your relative is resolved");

    // A reload shows the same history from the store.
    fam.refresh().await.unwrap();
    fam.wait().for_element(Locator::Id("family")).await.unwrap();
    let reloaded = page_state(&fam).await;
    for change in ["raised", "acknowledged", "resolved"] {
        assert!(
            has_row(&reloaded, change, &alert_id),
            "{change}: {reloaded}"
        );
    }
    assert_eq!(reloaded["status"], "all_usual");

    // Nothing else of the tenant, nor of another: 404 for other residents on every path; the
    // staff's pages are refused; the home page leads to the relative.
    let statuses = in_page(
        &fam,
        &format!(
            "const get = async (u) => (await fetch(u)).status;
             const out = [];
             for (const s of ['{OTHER}', '{ELSEWHERE}', 'nobody-at-all']) {{
               for (const p of ['', '/status', '/trend?range=7d', '/events']) out.push(await get('/family/residents/' + s + p));
             }}
             return out;"
        ),
    )
    .await;
    assert_eq!(statuses, json!(vec![404; 12]), "other residents");
    let staff = in_page(
        &fam,
        &format!(
            "const get = async (u) => (await fetch(u)).status;
             return [await get('/station'), await get('/station/alerts'), await get('/station/events'),
                     await get('/station/residents/{SUBJECT}'), await get('/station/residents/{SUBJECT}/trend'),
                     await get('/worklist/rows'), await get('/cases/' + '0'.repeat(32)), await get('/live')];"
        ),
    )
    .await;
    for status in staff.as_array().unwrap() {
        let s = status.as_i64().unwrap();
        assert!(s == 403 || s == 404, "a staff page answered {s}: {staff}");
    }

    let home = in_page(
        &fam,
        "const r = await fetch('/'); return new URL(r.url).pathname;",
    )
    .await;
    assert_eq!(home, json!(format!("/family/residents/{SUBJECT}")));

    // Every family page view (after accepting, the reload, the home page's way there) is
    // audited, by the relative, naming the resident.
    let views = 3;
    let trail = audit(ch, &a.admin_token, "").await.unwrap();
    let family_views: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "family.view" && e.actor_role() == pb::Role::Family)
        .collect();
    assert_eq!(family_views.len(), views, "one family.view per page view");
    assert!(family_views.iter().all(|e| e.subject_id == SUBJECT));
    for action in [
        "family.invite",
        "family.accept",
        "alerts.watch",
        "vitals.trend",
    ] {
        assert!(
            trail
                .iter()
                .any(|e| e.action == action && e.subject_id == SUBJECT),
            "no {action} in the audit trail"
        );
    }

    // A second invitation, withdrawn before use, is refused; withdrawing the grant ends the
    // relative's session.
    let second = invite(&nurse, &base, "Taro").await;
    nurse
        .goto(&format!("{base}/station/residents/{SUBJECT}"))
        .await
        .unwrap();
    nurse
        .find(Locator::Css(
            "#family-rows tr[data-state='invited'] button.revoke",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    nurse
        .wait()
        .for_element(Locator::Css("#family-rows tr[data-state='revoked']"))
        .await
        .unwrap();
    let withdrawn = in_page(&fam, &format!("return (await fetch('{second}')).status;")).await;
    assert_eq!(withdrawn, json!(404));
    nurse
        .find(Locator::Css(
            "#family-rows tr[data-state='active'] button.revoke",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = nurse
            .execute(
                "return document.querySelectorAll('#family-rows tr[data-state=\"revoked\"]').length;",
                vec![],
            )
            .await
            .unwrap();
        if rows == json!(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the grant was not withdrawn");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = in_page(
        &fam,
        &format!(
            "const r = await fetch('/family/residents/{SUBJECT}'); return new URL(r.url).pathname;"
        ),
    )
    .await;
    assert_eq!(after, json!("/sign-in"), "the relative's session ended");
    let trail = audit(ch, &a.admin_token, "").await.unwrap();
    assert_eq!(
        trail.iter().filter(|e| e.action == "family.revoke").count(),
        2
    );

    feeder.abort();
    nurse.close().await.unwrap();
    fam.close().await.unwrap();
    ts.server.shutdown().await.unwrap();
}

//! The clinicians' web console in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, fantoccini) against the real server on a real socket, with a real recording
//! with a murmur (PASCAL set B, `../shared/data`) uploaded over gRPC by the device simulator.
//!
//! A clinician signs in, finds the case at the top of the worklist with the engine's reason,
//! opens it, plays it (the `<audio>` element's duration is the recording's and its time
//! advances), submits a review and finds it in the case's audit trail. Another tenant's
//! clinician gets 404 for the same URL; a forged POST without the CSRF token is 403; a
//! signed-out browser is sent to sign-in; a person changes their password; five wrong passwords
//! lock an account. Screenshots of
//! the worklist and the case page at desktop and tablet sizes go to `target/screenshots/`.
//!
//! In Chromium on SQLite and on PostgreSQL (when `AUSCULT_TEST_POSTGRES_URL` is set), and in
//! headless Firefox (`geckodriver`) on SQLite; playing, the page reports no
//! content-security-policy violation. Skips (saying so)
//! without `chromedriver`/`chromium` or `../shared/data`; fails instead when CI declares them
//! present (`AUSCULT_CI_REQUIRE`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::browser::*;
use auscult_testkit::ci::{Service, require_or_skip};
use auscult_testkit::*;
use fantoccini::Locator;
use firmware_sim::{DeviceRecording, Pacing, UploadMode, UploadOptions};
use serde_json::json;

/// A real recording with a murmur (PASCAL set B, labelled "murmur").
const RECORDING: &str = "pascal/set_b/murmur__281_1311165683454_D.wav";
const SUBJECT: &str = "subject-web-1";

fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_reviews_a_murmur_in_the_browser_sqlite() {
    console(Db::Sqlite, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_reviews_a_murmur_in_the_browser_postgres() {
    console(Db::Postgres, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_reviews_a_murmur_in_firefox() {
    console(Db::Sqlite, Engine::Firefox).await;
}

async fn console(db: Db, engine: Engine) {
    let Some((driver_bin, chromium)) = engine.find_or_skip() else {
        return;
    };
    let file = shared_data().join(RECORDING);
    let Some(file) = require_or_skip(
        Service::SharedData,
        file.exists().then_some(file),
        "../shared/data is absent: the browser test's recording is missing",
    ) else {
        return;
    };
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    // One run writes the screenshots (the pages are the same on either database).
    let shots = db == Db::Sqlite && engine == Engine::Chromium;
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "web-north").await;
    let b = make_tenant(ch, &ts.admin_token, "web-south").await;
    add_web_user(&ts, &a.id, "dr-north", pb::Role::Clinician).await;
    add_web_user(&ts, &b.id, "dr-south", pb::Role::Clinician).await;
    add_web_user(&ts, &a.id, "dr-locked", pb::Role::Clinician).await;
    a.assign(ch, &[SUBJECT]).await;

    // The device simulator uploads the real recording over gRPC; the engine analyses it.
    let (case_id, duration_s) =
        replay(&ts, &a.device_token, &file, pb::AuscultationSite::Mitral).await;
    let case = wait_analysed(ch, &a.clinician_token, &case_id).await;
    let summary = case.summary.clone().unwrap();
    assert_eq!(summary.analysis_state(), pb::AnalysisState::Done);
    assert!(summary.flagged, "the murmur recording is flagged");
    let reasons = case.analysis.clone().unwrap().flag_reasons;
    assert!(!reasons.is_empty(), "the engine says why");

    let driver = Driver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let c = engine.open(&driver, &chromium, profile.path()).await;

    // Signed out: every page sends the browser to sign-in.
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(path(&c).await, "/sign-in");

    // The clinician signs in and finds the case at the top of the worklist, with its reason.
    sign_in(&c, &base, "dr-north", PASSWORD).await;
    c.wait().for_element(Locator::Id("worklist")).await.unwrap();
    assert_eq!(path(&c).await, "/");
    let first = c
        .find(Locator::Css("#worklist-rows tr.case"))
        .await
        .unwrap();
    assert_eq!(
        first.attr("data-case").await.unwrap().as_deref(),
        Some(case_id.as_str())
    );
    let why = text(&c, "#worklist-rows tr.case .why strong").await;
    assert!(!why.is_empty(), "the row says why it is flagged");
    assert_eq!(text(&c, "#worklist-rows tr.case .badge").await, "flagged");
    let headers = in_page(
        &c,
        "const r = await fetch('/'); return [r.headers.get('content-security-policy'), r.headers.get('x-content-type-options')];",
    )
    .await;
    assert_eq!(
        headers,
        json!([auscult_server::web::CONTENT_SECURITY_POLICY, "nosniff"])
    );

    // A case analysed while the worklist is open appears without a reload.
    a.assign(ch, &["subject-42"]).await;
    let second = upload(
        ch,
        &a.device_token,
        whole_upload("web-live-1", &synth(Scenario::AorticStenosis, 7, 12.0)),
    )
    .await
    .unwrap();
    wait_analysed(ch, &a.clinician_token, &second.case_id).await;
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(&format!(
            "#worklist-rows tr.case[data-case='{}']",
            second.case_id
        )))
        .await
        .expect("the new case appears without a reload");
    assert!(
        c.find(Locator::Css("#new-cases.hidden")).await.is_err(),
        "the page says new cases arrived"
    );
    // While nothing changes, a poll reads (and audits) no case: 204 against the version it has.
    let case_lists = || async {
        audit(ch, &a.admin_token, "")
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "case.list")
            .count()
    };
    let polled = in_page(
        &c,
        "const r = await fetch('/worklist/rows'); return [r.status, r.headers.get('x-worklist-version')];",
    )
    .await;
    assert_eq!(polled[0], json!(200), "{polled}");
    let version = polled[1]
        .as_str()
        .expect("rows carry their version")
        .to_owned();
    let before = case_lists().await;
    let unchanged = in_page(
        &c,
        &format!(
            "const r = await fetch('/worklist/rows?since={version}'); return [r.status, (await r.text()).length];"
        ),
    )
    .await;
    assert_eq!(unchanged, json!([204, 0]));
    assert_eq!(
        case_lists().await,
        before,
        "an unchanged poll audits nothing"
    );
    if shots {
        check_and_capture(&c, "worklist", "worklist", &EVERY_SIZE).await;
    }

    // The synthetic case came with its raw ECG: the page draws it beneath the PCG.
    c.goto(&format!("{base}/cases/{}", second.case_id))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#waveform path.ecg"))
        .await
        .expect("the ECG strip");
    assert!(
        c.find(Locator::Id("ecg-set-aside")).await.is_err(),
        "the engine used this ECG"
    );
    // A real recording whose ECG detector reads T waves as beats (PhysioNet a0023: 38 "R
    // peaks" at 45 bpm): the heart sounds do not follow them, and the page says the cycles
    // came from the sound alone, and why, above the ECG it still draws.
    let set_aside = replay_and_open(
        &ts,
        &c,
        &base,
        &a,
        "physionet2016/training-a/a0023.hea",
        pb::AuscultationSite::Aortic,
        "#waveform path.ecg",
    )
    .await;
    let analysis = set_aside.analysis.unwrap();
    assert!(!analysis.ecg_used);
    assert_eq!(analysis.ecg_set_aside, "not_followed");
    assert_eq!(
        text(&c, "#ecg-set-aside").await,
        "ECG set aside (the heart sounds do not follow its beats): cycles from the heart sounds alone"
    );
    if shots {
        let page = "case page, ECG set aside";
        check_and_capture(&c, page, "case-ecg-set-aside", &DESKTOP_AND_PHONE).await;
    }
    // A recording the engine cannot judge (PhysioNet b0057: not one clean cycle) says why on
    // its page, in the engine's words, beside "murmur unknown".
    let unjudged = replay_and_open(
        &ts,
        &c,
        &base,
        &a,
        "physionet2016/training-b/b0057.hea",
        pb::AuscultationSite::Mitral,
        "#murmur-reason",
    )
    .await;
    let reason = unjudged.analysis.unwrap().murmur.unwrap().unknown_reason;
    assert!(reason.starts_with("too few clean cycles"), "{reason}");
    assert_eq!(text(&c, "#murmur-reason").await, format!("({reason})"));
    if shots {
        let page = "case page, cannot judge";
        check_and_capture(&c, page, "case-cannot-judge", &DESKTOP_AND_PHONE).await;
    }
    // In Japanese, the console words it again from the reason's kind and number.
    switch_language(&c, "ja").await;
    assert_eq!(
        text(&c, "#murmur-reason").await,
        "(きれいな心周期が少なすぎます（採用 0 拍）)"
    );
    switch_language(&c, "en").await;
    c.goto(&format!("{base}/")).await.unwrap();
    c.wait().for_element(Locator::Id("worklist")).await.unwrap();

    // It opens the case and plays it: the audio is the recording, and it advances.
    c.find(Locator::Css(&format!(
        "#worklist-rows tr.case[data-case='{case_id}'] a.open"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait().for_element(Locator::Id("player")).await.unwrap();
    // The browser reports any content-security-policy violation of the page from now on.
    c.execute(
        "window.__csp = 0; document.addEventListener('securitypolicyviolation', () => window.__csp++);",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(path(&c).await, format!("/cases/{case_id}"));
    assert!(!text(&c, "#case-why").await.is_empty());
    c.find(Locator::Id("play"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (duration, current) = loop {
        let v = c
            .execute(
                "const a = document.getElementById('player'); return [a.duration, a.currentTime, a.paused];",
                vec![],
            )
            .await
            .unwrap();
        let duration = v[0].as_f64().unwrap_or(f64::NAN);
        let current = v[1].as_f64().unwrap_or(0.0);
        if duration.is_finite() && current > 0.3 {
            break (duration, current);
        }
        assert!(
            Instant::now() < deadline,
            "the audio did not play: {v} (duration, currentTime, paused)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        (duration - duration_s).abs() < 0.1,
        "audio duration {duration} s, recording {duration_s} s"
    );
    assert!(current > 0.3);
    // The cleaned variant is served too (the engine's heartbeat-locked denoise).
    let cleaned = in_page(
        &c,
        &format!(
            "const r = await fetch('/cases/{case_id}/audio?variant=cleaned'); return [r.status, r.headers.get('content-type')];"
        ),
    )
    .await;
    assert_eq!(cleaned, json!([200, "audio/wav"]));
    // The engine's ensemble-averaged cycle, with as many cycles as it accepted.
    let accepted = case
        .analysis
        .as_ref()
        .unwrap()
        .cycles
        .iter()
        .filter(|c| c.accepted)
        .count();
    let averaged = c
        .find(Locator::Id("ensemble"))
        .await
        .expect("the ensemble figure")
        .attr("data-cycles")
        .await
        .unwrap();
    assert_eq!(averaged, Some(accepted.to_string()));
    if shots {
        check_and_capture(&c, "case page", "case", &EVERY_SIZE).await;
        c.execute(
            "document.getElementById('ensemble').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .unwrap();
        screenshot(&c, "case-ensemble", 1280, 800).await;
        c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    }
    c.set_window_size(1280, 800).await.unwrap();

    let violations = c.execute("return window.__csp;", vec![]).await.unwrap();
    assert_eq!(violations, json!(0), "no content-security-policy violation");

    // A forged POST without the CSRF token is refused, and stores nothing.
    let forged = in_page(
        &c,
        &format!(
            "const r = await fetch('/cases/{case_id}/review', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'verdict=disagree&findings=forged'}}); return r.status;"
        ),
    )
    .await;
    assert_eq!(forged, json!(403));

    // The review, with the keyboard shortcut for "agree".
    c.execute("document.activeElement.blur();", vec![])
        .await
        .unwrap();
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("a")
        .await
        .unwrap();
    let agreed = c
        .execute(
            "return document.getElementById('verdict-agree').checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(agreed, json!(true), "the A key picks agree");
    c.find(Locator::Id("findings"))
        .await
        .unwrap()
        .send_keys("Holosystolic murmur at the apex, grade 3.")
        .await
        .unwrap();
    click_and_wait(&c, "submit-review", Locator::Id("review-saved")).await;
    let actions: Vec<String> = {
        let mut out = Vec::new();
        for cell in c.find_all(Locator::Css("#audit td.action")).await.unwrap() {
            out.push(cell.text().await.unwrap());
        }
        out
    };
    assert!(
        actions.iter().any(|a| a == "case.review"),
        "the review is in the audit trail: {actions:?}"
    );
    assert!(actions.iter().any(|a| a == "case.audio"), "{actions:?}");
    let reviewed = get_case(ch, &a.clinician_token, &case_id).await.unwrap();
    assert_eq!(
        reviewed.reviews.len(),
        1,
        "exactly one review: the forged one was not stored"
    );
    assert_eq!(reviewed.reviews[0].verdict(), pb::Verdict::Agree);

    // Signing out ends the session: the case page sends the browser to sign-in again.
    sign_out(&c).await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(path(&c).await, "/sign-in");
    if shots {
        let violations = accessibility(&c).await;
        assert!(violations.is_empty(), "sign-in page: {violations:#?}");
        screenshot(&c, "sign-in", 390, 844).await;
        // The check finds what it is for: an image without a text alternative.
        c.execute(
            "const i = document.createElement('img'); i.src = '/static/none.png'; document.body.appendChild(i);",
            vec![],
        )
        .await
        .unwrap();
        let violations = accessibility(&c).await;
        assert!(
            violations.iter().any(|v| v.starts_with("image-alt")),
            "{violations:#?}"
        );
        c.set_window_size(1280, 800).await.unwrap();
    }

    // Another tenant's clinician: "not found", as for a case that does not exist.
    sign_in(&c, &base, "dr-south", PASSWORD).await;
    c.wait().for_element(Locator::Id("worklist")).await.unwrap();
    assert!(c.find(Locator::Id("no-cases")).await.is_ok());
    // The language switch: Japanese, and back.
    switch_language(&c, "ja").await;
    assert_eq!(text(&c, "h1").await, "ワークリスト");
    switch_language(&c, "en").await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(text(&c, "#error-status").await, "404");
    let statuses = in_page(
        &c,
        &format!(
            "const s = async u => (await fetch(u)).status; return [await s('/cases/{case_id}'), await s('/cases/{case_id}/audio'), await s('/cases/no-such-case'), await s('/cases/' + 'x'.repeat(500)), await s('/?site=moon'), await s('/?after=zz')];"
        ),
    )
    .await;
    assert_eq!(statuses, json!([404, 404, 404, 404, 400, 400]));

    // A person changes their own password (current + new, with the form's CSRF token); the
    // old one stops working, the new one signs in.
    const NEW_PASSWORD: &str = "a different long password";
    c.goto(&format!("{base}/account")).await.unwrap();
    for (id, value) in [("current", PASSWORD), ("new", NEW_PASSWORD)] {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    submit_and_wait(&c, "change-password").await;
    assert_eq!(
        text(&c, "#account-message").await,
        "Your password was changed."
    );
    sign_out(&c).await;
    sign_in(&c, &base, "dr-south", PASSWORD).await;
    assert_eq!(path(&c).await, "/sign-in");
    sign_in(&c, &base, "dr-south", NEW_PASSWORD).await;
    assert_eq!(path(&c).await, "/");
    sign_out(&c).await;

    // Five wrong passwords lock the account: then even the right one is refused.
    for attempt in 1..=5 {
        sign_in(&c, &base, "dr-locked", "not the password at all").await;
        let message = text(&c, "#sign-in-error").await;
        if attempt < 5 {
            assert!(message.contains("wrong"), "attempt {attempt}: {message}");
        } else {
            assert!(message.contains("locked"), "attempt {attempt}: {message}");
        }
    }
    sign_in(&c, &base, "dr-locked", PASSWORD).await;
    assert_eq!(path(&c).await, "/sign-in");
    assert!(text(&c, "#sign-in-error").await.contains("locked"));

    // Every sign-in was audited, without the password or username.
    let events = review(ch)
        .list_audit_events(authed(
            &a.admin_token,
            pb::ListAuditEventsRequest {
                case_id: String::new(),
                page_size: 500,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(
        count("web.sign_in"),
        1,
        "dr-north signed in once in tenant a"
    );
    assert_eq!(count("web.sign_in_failed"), 5);
    assert_eq!(count("web.locked_out"), 1);
    assert_eq!(count("web.sign_in_refused_locked"), 1);
    assert!(count("case.get") >= 1 && count("case.list") >= 1);

    c.close().await.unwrap();
    drop(driver);
    ts.server.shutdown().await.unwrap();
}

/// Replays the recording `rel` of `../shared/data` for tenant `a` at `site`, waits for its
/// analysis and opens its case page until `css` shows: the analysed case.
async fn replay_and_open(
    ts: &TestServer,
    c: &fantoccini::Client,
    base: &str,
    a: &Tenant,
    rel: &str,
    site: pb::AuscultationSite,
    css: &str,
) -> pb::Case {
    let (id, _) = replay(ts, &a.device_token, &shared_data().join(rel), site).await;
    let case = wait_analysed(&ts.channel, &a.clinician_token, &id).await;
    c.goto(&format!("{base}/cases/{id}")).await.unwrap();
    c.wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{rel}: no {css} on its case page: {e}"));
    case
}

/// Replays a real recording (`.wav`, or WFDB `.hea` with its ECG) over gRPC as the device
/// simulator does, for the subject [`SUBJECT`] at `site`: its case id and duration (seconds).
async fn replay(
    ts: &TestServer,
    device_token: &str,
    file: &std::path::Path,
    site: pb::AuscultationSite,
) -> (String, f64) {
    let recording = DeviceRecording::from_file(file, None).unwrap();
    let duration_s = recording.pcg.len() as f64 / f64::from(recording.pcg_rate_hz);
    let encoded = std::sync::Arc::new(recording.encode(recording.lossless_pcg_format()));
    let device = firmware_sim::Connection::new(&url(ts.server.addr), device_token).unwrap();
    let options = UploadOptions {
        upload_id: uuid::Uuid::new_v4().to_string(),
        identity: firmware_sim::DeviceIdentity {
            serial: "SIM-WEB-1".into(),
            subject_id: SUBJECT.into(),
            site,
            position: pb::BodyPosition::Supine,
        },
        pacing: Pacing::Fast,
        mode: UploadMode::WithAcks,
        ..UploadOptions::default()
    };
    let report = firmware_sim::upload(&device, encoded, &options)
        .await
        .unwrap();
    (report.case_id, duration_s)
}

//! The clinicians' console in Firefox (headless `firefox-esr` over `geckodriver`), as
//! `web_console` drives it in Chromium: a recording with a murmur uploaded by firmware-sim is
//! flagged at the top of the worklist with its reason; the case page draws the PCG with the ECG
//! beneath, plays the audio (its time advances, original and cleaned), switches the listening
//! filter, takes the review through the keyboard shortcut and the form, and shows it in the
//! audit trail; a forged POST is 403. The questionnaire preview steps one question per screen
//! and the nurses' station opens its event stream. No page logs a content-security-policy
//! violation.
//!
//! On SQLite. Skips (saying so) without `geckodriver`/`firefox-esr`; fails instead when CI
//! declares `firefox` present (`AUSCULT_CI_REQUIRE`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::browser::*;
use auscult_testkit::ci::firefox_or_skip;
use auscult_testkit::*;
use fantoccini::{Client, Locator};
use serde_json::json;

const SUBJECT: &str = "subject-42";

/// Counts the page's content-security-policy violations from now on (reported by the browser
/// as `securitypolicyviolation` events).
async fn watch_csp(c: &Client) {
    c.execute(
        "window.__csp = 0; document.addEventListener('securitypolicyviolation', () => window.__csp++);",
        vec![],
    )
    .await
    .unwrap();
}

async fn csp_violations(c: &Client) -> i64 {
    c.execute("return window.__csp ?? 0;", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)]
async fn a_clinician_reviews_a_case_in_firefox() {
    let Some((driver_bin, firefox_bin)) = firefox_or_skip() else {
        return;
    };
    let Some((ts, base)) = start_console(Db::Sqlite).await else {
        return;
    };
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "firefox-town").await;
    add_web_user(&ts, &a.id, "dr-fox", pb::Role::Clinician).await;
    a.assign(ch, &[SUBJECT]).await;
    let rec = synth(Scenario::AorticStenosis, 11, 12.0);
    let duration_s = rec.pcg_samples() as f64 / f64::from(rec.pcg_rate);
    let case_id = upload(ch, &a.device_token, whole_upload("firefox-1", &rec))
        .await
        .unwrap()
        .case_id;
    let case = wait_analysed(ch, &a.clinician_token, &case_id).await;
    assert!(
        case.summary.as_ref().unwrap().flagged,
        "the stenosis is flagged"
    );

    let driver = Driver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let c = firefox(&driver, &firefox_bin, profile.path()).await;
    let agent = c
        .execute("return navigator.userAgent;", vec![])
        .await
        .unwrap();
    assert!(agent.as_str().unwrap().contains("Firefox"), "{agent}");

    // Sign in; the case is at the top of the worklist with the engine's reason.
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(path(&c).await, "/sign-in");
    sign_in(&c, &base, "dr-fox", PASSWORD).await;
    c.wait().for_element(Locator::Id("worklist")).await.unwrap();
    watch_csp(&c).await;
    let first = c
        .find(Locator::Css("#worklist-rows tr.case"))
        .await
        .unwrap();
    assert_eq!(
        first.attr("data-case").await.unwrap().as_deref(),
        Some(case_id.as_str())
    );
    assert!(
        !text(&c, "#worklist-rows tr.case .why strong")
            .await
            .is_empty()
    );
    assert_eq!(csp_violations(&c).await, 0);

    // The case page: waveform with the ECG beneath, the player, the cleaned audio.
    c.find(Locator::Css(&format!(
        "#worklist-rows tr.case[data-case='{case_id}'] a.open"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait().for_element(Locator::Id("player")).await.unwrap();
    watch_csp(&c).await;
    c.find(Locator::Css("#waveform path.ecg"))
        .await
        .expect("the ECG strip");
    c.find(Locator::Id("play"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let duration = loop {
        let v = c
            .execute(
                "const a = document.getElementById('player'); return [a.duration, a.currentTime];",
                vec![],
            )
            .await
            .unwrap();
        let duration = v[0].as_f64().unwrap_or(f64::NAN);
        if duration.is_finite() && v[1].as_f64().unwrap_or(0.0) > 0.3 {
            break duration;
        }
        assert!(Instant::now() < deadline, "the audio did not play: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        (duration - duration_s).abs() < 0.1,
        "audio duration {duration} s, recording {duration_s} s"
    );
    let cleaned = in_page(
        &c,
        &format!(
            "const r = await fetch('/cases/{case_id}/audio?variant=cleaned'); return [r.status, r.headers.get('content-type')];"
        ),
    )
    .await;
    assert_eq!(cleaned, json!([200, "audio/wav"]));
    // The listening filters are Web Audio filters on the same element.
    let filters = c
        .execute(
            "return document.querySelectorAll('#filter option').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        filters.as_u64().unwrap_or(0) >= 3,
        "bell, diaphragm, wide: {filters}"
    );

    // A forged POST without the CSRF token is refused.
    let forged = in_page(
        &c,
        &format!(
            "const r = await fetch('/cases/{case_id}/review', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'verdict=disagree&findings=forged'}}); return r.status;"
        ),
    )
    .await;
    assert_eq!(forged, json!(403));

    // The review through the keyboard shortcut and the form; it is in the audit trail.
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
        .send_keys("Ejection murmur at the right upper sternal border.")
        .await
        .unwrap();
    assert_eq!(csp_violations(&c).await, 0);
    submit_and_wait(&c, "submit-review").await;
    let reviews = review(ch)
        .get_case(authed(
            &a.clinician_token,
            pb::GetCaseRequest {
                case_id: case_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .reviews;
    assert_eq!(reviews.len(), 1);
    assert!(reviews[0].findings.contains("right upper sternal border"));
    let trail = text(&c, "#audit").await;
    assert!(trail.contains("review"), "{trail}");

    // The nurses' station opens its event stream in Firefox too.
    c.goto(&format!("{base}/station")).await.unwrap();
    watch_csp(&c).await;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#station[data-connection='live']"))
        .await
        .expect("the station's event stream opens");
    assert_eq!(csp_violations(&c).await, 0);
    c.close().await.unwrap();
}

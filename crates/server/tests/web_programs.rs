//! A check-up run in the browser by programme staff and a clinician: headless Chromium over
//! WebDriver against the real server on a real socket, firmware-sim uploading the four sites.
//!
//! Staff create a programme and a site in the page, write the questionnaire (a mistake is
//! named by its line), enrol residents from a town hall's roster
//! (Shift_JIS, Japanese headers, era dates) with two bad rows: the preview refuses those two with
//! their reasons and stores nothing; confirming stores the rest once; the same file again
//! stores nothing. Staff open a visit, record spot vitals (NEWS2 shown) and point-of-care blood
//! results (HbA1c in the diabetes range is a reason of the proposal), make the resident's
//! questionnaire link, see the day's visits at the site with what each still lacks, and link the
//! four sites firmware-sim recorded. A clinician confirms the outcome beside its evidence; the report page,
//! its CSV (the API's bytes) and the programme's FHIR R4 bundle (valid against the vendored R4
//! schema) are downloaded in the page. The questionnaire preview saves nothing. Another tenant's
//! staff get 404 for the programme and the visit, a nurse gets no programme link and 403, a
//! form without its CSRF token is 403, and every enrolment and read is in the audit trail.
//! axe-core finds no WCAG 2 A/AA violation on the programme, import, visit and report pages.
//! Screenshots go to `target/screenshots/`.
//!
//! On SQLite, and on PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set. Skips (saying so)
//! without `chromedriver`/`chromium`; fails instead when CI declares them present.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_synth::Scenario;
use auscult_testkit::browser::*;
use auscult_testkit::*;
use fantoccini::{Client, Locator};
use firmware_sim::{Connection, Pacing, UploadOptions};
use serde_json::{Value, json};
use tonic::transport::Channel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_run_a_checkup_in_the_browser_sqlite() {
    checkup(Db::Sqlite, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_run_a_checkup_in_the_browser_postgres() {
    checkup(Db::Postgres, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_run_a_checkup_in_firefox() {
    checkup(Db::Sqlite, Engine::Firefox).await;
}

fn programs(ch: &Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch.clone())
}

/// The roster: four residents, one without a date of birth, one with a phone that is not one.
const ROSTER: &str = "氏名,生年月日,住所,電話番号,住民番号\r\n\
山田　花子,昭和23年3月2日,北町1-2,011-123-4567,100001\r\n\
佐藤 幸子,1946/11/30,南町3-4,090-1111-2222,100002\r\n\
鈴木 和子,,東町5-6,011-222-3333,100003\r\n\
高橋 節子,S20.1.15,西町7-8,0120,100004\r\n\
田中 良子,1950-06-01,中町9-10,,100005\r\n\
伊藤 恵子,平成元年2月1日,,011-555-6666,100006\r\n";

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn no_violations(c: &Client, page: &str, db: Db) {
    if db == Db::Sqlite {
        let violations = accessibility(c).await;
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }
}

/// Uploads the roster on the import page and waits for the preview.
async fn preview_roster(c: &Client, base: &str, pid: &str, file: &std::path::Path) {
    c.goto(&format!("{base}/programs/{pid}/import"))
        .await
        .unwrap();
    c.find(Locator::Id("i-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    fill(c, "c-doc", "2026-04").await;
    click(c, "input[name=consent_confirmed]").await;
    submit_and_wait(c, "import-preview").await;
    c.wait()
        .for_element(Locator::Id("preview-intro"))
        .await
        .expect("the preview");
}

async fn residents(ch: &Channel, token: &str, pid: &str) -> Vec<pb::Resident> {
    programs(ch)
        .list_residents(authed(
            token,
            pb::ListResidentsRequest {
                program_id: pid.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .residents
}

async fn get_visit(ch: &Channel, token: &str, vid: &str) -> pb::Visit {
    programs(ch)
        .get_visit(authed(
            token,
            pb::GetVisitRequest {
                visit_id: vid.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// `fetch` of `path` in the page: (status, content type, body text).
async fn fetch(c: &Client, path: &str, method: &str, body: &str) -> (u64, String, String) {
    let v = in_page(
        c,
        &format!(
            "const r = await fetch({path}, {{ method: {method}, body: {body}, headers: {{ 'content-type': 'application/x-www-form-urlencoded' }} }});
             return [r.status, r.headers.get('content-type') || '', await r.text()];",
            path = json!(path),
            method = json!(method),
            body = if method == "GET" { "undefined".to_owned() } else { json!(body).to_string() },
        ),
    )
    .await;
    (
        v[0].as_u64().unwrap_or(0),
        v[1].as_str().unwrap_or_default().to_owned(),
        v[2].as_str().unwrap_or_default().to_owned(),
    )
}

#[allow(clippy::too_many_lines)]
async fn checkup(db: Db, engine: Engine) {
    let Some((driver_bin, chromium)) = engine.find_or_skip() else {
        return;
    };
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let ch = &ts.channel;
    let town = make_tenant(ch, &ts.admin_token, "web-town").await;
    let other = make_tenant(ch, &ts.admin_token, "other-town").await;
    add_web_user(&ts, &town.id, "staff-sato", pb::Role::ProgramStaff).await;
    add_web_user(&ts, &town.id, "dr-kato", pb::Role::Clinician).await;
    add_web_user(&ts, &town.id, "rn-ito", pb::Role::Nurse).await;
    add_web_user(&ts, &other.id, "staff-other", pb::Role::ProgramStaff).await;

    let driver = Driver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let c = engine.open(&driver, &chromium, profile.path()).await;
    c.set_window_size(1280, 900).await.unwrap();
    sign_in(&c, &base, "staff-sato", PASSWORD).await;

    // A programme and its site, made in the page.
    c.find(Locator::Id("nav-programs"))
        .await
        .expect("staff see the programmes link")
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("new-programme"))
        .await
        .unwrap();
    fill(&c, "np-name", "Heart check-up 2026").await;
    c.execute("document.body.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    click(&c, "#new-programme button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("body:not([data-stale]) #program-name"))
        .await
        .unwrap();
    let here = path(&c).await;
    let pid = here.strip_prefix("/programs/").unwrap().to_owned();
    assert_eq!(text(&c, "#program-name").await, "Heart check-up 2026");
    fill(&c, "site-name", "Community hall").await;
    c.execute("document.body.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    click(&c, "#add-site button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("body:not([data-stale]) #sites li"))
        .await
        .unwrap();
    assert!(text(&c, "#sites").await.contains("Community hall"));
    let site_id = programs(ch)
        .get_program(authed(
            &town.admin_token,
            pb::GetProgramRequest {
                program_id: pid.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .sites[0]
        .site_id
        .clone();
    // The questionnaire, written in the page: a mistake names its line and stores nothing.
    click(&c, "#questionnaire-edit").await;
    c.wait().for_element(Locator::Id("q-lines")).await.unwrap();
    fill(&c, "qt-ja", "健診問診").await;
    fill(&c, "qt-en", "Check-up questions").await;
    fill(
        &c,
        "q-lines",
        "smoker | boolean | required | たばこを吸いますか | Do you smoke?\nchest | choice | required | 胸の痛み | Chest pain\n",
    )
    .await;
    submit_and_wait(&c, "questionnaire-save").await;
    let error = text(&c, "#questionnaire-error").await;
    assert!(error.starts_with("Line 2:"), "{error}");
    no_violations(&c, "questionnaire editor", db).await;
    fill(
        &c,
        "q-lines",
        "smoker | boolean | required | たばこを吸いますか | Do you smoke?\nchest | choice | required | 胸の痛み | Chest pain | never=ない/Never; rest=安静時/At rest\n",
    )
    .await;
    submit_and_wait(&c, "questionnaire-save").await;
    c.find(Locator::Id("q-preview")).await.unwrap();
    assert!(path(&c).await.ends_with("/questionnaire"));
    let shown = c
        .execute(
            "return document.getElementById('q-form').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert!(shown.as_str().unwrap().contains("Chest pain"), "{shown}");
    let stored = programs(ch)
        .get_questionnaire(authed(
            &town.admin_token,
            pb::GetQuestionnaireRequest {
                program_id: pid.clone(),
                version: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.questions.len(), 2);
    assert_eq!(stored.questions[1].options.len(), 2);

    // The roster, as a town hall's spreadsheet saves it: Shift_JIS.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.csv");
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(ROSTER);
    assert!(!unmappable);
    std::fs::write(&file, &sjis).unwrap();
    preview_roster(&c, &base, &pid, &file).await;
    assert_eq!(text(&c, "#count-new").await, "4");
    assert_eq!(text(&c, "#count-refused").await, "2");
    assert_eq!(text(&c, "#count-already").await, "0");
    let refused = text(&c, "tr.import-row.refused[data-line='4']").await;
    assert!(refused.contains("no date of birth"), "{refused}");
    let refused = text(&c, "tr.import-row.refused[data-line='5']").await;
    assert!(refused.contains("phone"), "{refused}");
    assert!(
        text(&c, "tr.import-row.new[data-line='2']")
            .await
            .contains("山田 花子")
    );
    assert!(
        residents(ch, &town.admin_token, &pid).await.is_empty(),
        "a preview stores nothing"
    );
    no_violations(&c, "import preview", db).await;
    if db == Db::Sqlite && engine == Engine::Chromium {
        screenshot(&c, "import-preview", 1280, 900).await;
    }
    submit_and_wait(&c, "import-enrol").await;
    c.wait()
        .for_element(Locator::Id("import-done"))
        .await
        .unwrap();
    assert_eq!(text(&c, "#count-new").await, "4");
    let enrolled = residents(ch, &town.admin_token, &pid).await;
    assert_eq!(enrolled.len(), 4);
    let hanako = enrolled
        .iter()
        .find(|r| r.resident_number == "100001")
        .unwrap();
    assert_eq!(
        (hanako.family_name.as_str(), hanako.given_name.as_str()),
        ("山田", "花子")
    );
    assert_eq!(hanako.birth_date, "1948-03-02");
    assert_eq!(hanako.phone, "011-123-4567");
    assert_eq!(hanako.address, "北町1-2");
    assert_eq!(hanako.consent.as_ref().unwrap().document_version, "2026-04");

    // The same file again: nothing new, nothing stored twice.
    preview_roster(&c, &base, &pid, &file).await;
    assert_eq!(text(&c, "#count-new").await, "0");
    assert_eq!(text(&c, "#count-already").await, "4");
    assert_eq!(text(&c, "#count-refused").await, "2");
    c.find(Locator::Id("nothing-new")).await.unwrap();
    assert!(c.find(Locator::Id("import-enrol")).await.is_err());
    assert_eq!(residents(ch, &town.admin_token, &pid).await.len(), 4);

    // A form without the session's CSRF token is refused and stores nothing.
    let (status, _, _) = fetch(
        &c,
        &format!("/programs/{pid}/residents"),
        "POST",
        "family_name=X&birth_date=1950-01-01&consent_confirmed=1",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(residents(ch, &town.admin_token, &pid).await.len(), 4);

    // A visit: opened in the page for 山田 花子.
    c.goto(&format!("{base}/programs/{pid}")).await.unwrap();
    c.find(Locator::Css(&format!(
        "#ov-resident option[value='{}']",
        hanako.resident_id
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.execute("document.body.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    click(&c, "#open-visit button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("body:not([data-stale]) #visit-resident"))
        .await
        .unwrap();
    let vid = path(&c).await.strip_prefix("/visits/").unwrap().to_owned();
    assert_eq!(text(&c, "#visit-resident").await, "山田 花子");
    assert!(text(&c, "#no-vitals").await.len() > 3);

    // Spot vitals in the page.
    for (id, v) in [
        ("v-hr", "72"),
        ("v-rr", "14"),
        ("v-spo2", "97"),
        ("v-temp", "36.6"),
        ("v-sys", "128"),
        ("v-dia", "80"),
    ] {
        fill(&c, id, v).await;
    }
    submit_and_wait(&c, "vitals-submit").await;
    c.wait().for_element(Locator::Id("saved")).await.unwrap();
    assert!(text(&c, "#news2").await.starts_with('0'));
    let visit = get_visit(ch, &town.admin_token, &vid).await;
    assert_eq!(visit.vitals.unwrap().heart_rate_bpm, Some(72.0));

    // The fingertip blood test: HbA1c in the diabetes range counts toward the proposal.
    fill(&c, "l-hba1c", "7.1").await;
    fill(&c, "l-tc", "190").await;
    submit_and_wait(&c, "labs-submit").await;
    let labs = text(&c, "#lab-results").await;
    assert!(labs.contains("7.1 %") && labs.contains("high"), "{labs}");
    assert!(
        labs.contains("190 mg/dL") && labs.contains("in range"),
        "{labs}"
    );
    let reasons = text(&c, "#proposal-reasons").await;
    assert!(reasons.contains("HbA1c 7.1"), "{reasons}");
    let (status, _, _) = fetch(&c, &format!("/visits/{vid}/labs"), "POST", "hba1c=7.1").await;
    assert_eq!(status, 403, "no CSRF token, nothing stored");
    assert_eq!(
        get_visit(ch, &town.admin_token, &vid)
            .await
            .lab_results
            .len(),
        2
    );

    // The resident's questionnaire link, with its QR code.
    submit_and_wait(&c, "create-link").await;
    let link = text(&c, "#link-url").await;
    assert!(link.contains("/q/"), "{link}");
    c.find(Locator::Css("#new-link svg")).await.unwrap();

    // The day's visits at the site say what is still missing: the questionnaire and the four
    // sites.
    c.goto(&format!("{base}/programs/{pid}?site={site_id}"))
        .await
        .unwrap();
    let row = text(&c, &format!("tr.visit[data-visit='{vid}'] .missing")).await;
    for m in ["Questionnaire", "aortic", "pulmonic", "tricuspid", "mitral"] {
        assert!(row.contains(m), "{m} missing in {row:?}");
    }
    assert!(!row.contains("Spot vital signs"), "{row}");
    no_violations(&c, "programme", db).await;
    if db == Db::Sqlite && engine == Engine::Chromium {
        screenshot(&c, "programme", 1280, 900).await;
        screenshot(&c, "programme", 390, 844).await;
        c.set_window_size(1280, 900).await.unwrap();
    }

    // firmware-sim records the four sites of 山田 花子.
    let device = Connection::new(&url(ts.server.addr), &town.device_token).unwrap();
    let sites = [
        pb::AuscultationSite::Aortic,
        pb::AuscultationSite::Pulmonic,
        pb::AuscultationSite::Tricuspid,
        pb::AuscultationSite::Mitral,
    ];
    for (i, site) in sites.iter().enumerate() {
        let scenario = if i == 3 {
            Scenario::MitralRegurgitation
        } else {
            Scenario::Normal
        };
        let opts = UploadOptions {
            upload_id: format!("visit-{vid}-{i}"),
            identity: firmware_sim::DeviceIdentity {
                serial: "SIM-CHECKUP-1".into(),
                subject_id: hanako.subject_id.clone(),
                site: *site,
                position: pb::BodyPosition::Sitting,
            },
            pacing: Pacing::Fast,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ack_timeout: Duration::from_secs(10),
            ..UploadOptions::default()
        };
        firmware_sim::upload(&device, recording(scenario, 500 + i as u64, 8.0), &opts)
            .await
            .expect("upload");
    }

    // Staff link each site's recording on the visit page.
    for site in ["aortic", "pulmonic", "tricuspid", "mitral"] {
        c.goto(&format!("{base}/visits/{vid}")).await.unwrap();
        c.execute("document.body.dataset.stale = '1';", vec![])
            .await
            .unwrap();
        click(&c, &format!("button[data-site='{site}']")).await;
        c.wait()
            .for_element(Locator::Css("body:not([data-stale]) #saved"))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let visit = loop {
        let v = get_visit(ch, &town.admin_token, &vid).await;
        if v.recordings.len() == 4
            && v.recordings
                .iter()
                .all(|r| r.analysis_state == pb::AnalysisState::Done as i32)
        {
            break v;
        }
        assert!(Instant::now() < deadline, "the four analyses: {v:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_ne!(visit.proposed_outcome, pb::VisitOutcome::Unspecified as i32);
    c.goto(&format!("{base}/programs/{pid}")).await.unwrap();
    let row = text(&c, &format!("tr.visit[data-visit='{vid}'] .missing")).await;
    assert_eq!(
        row.trim(),
        "Questionnaire",
        "only the questionnaire is left"
    );
    c.goto(&format!("{base}/visits/{vid}")).await.unwrap();
    assert!(
        c.find(Locator::Id("confirm-form")).await.is_err(),
        "staff do not decide outcomes"
    );
    sign_out(&c).await;

    // The clinician confirms the outcome with the evidence beside it.
    sign_in(&c, &base, "dr-kato", PASSWORD).await;
    c.goto(&format!("{base}/visits/{vid}")).await.unwrap();
    assert!(
        c.find(Locator::Css("#auscultation a[href^='/cases/']"))
            .await
            .is_ok(),
        "the clinician may listen to the sites"
    );
    no_violations(&c, "visit", db).await;
    if db == Db::Sqlite && engine == Engine::Chromium {
        screenshot(&c, "visit", 1280, 900).await;
    }
    click(&c, "#confirm-form input[value='refer']").await;
    fill(&c, "confirm-note", "murmur at the apex: cardiology").await;
    submit_and_wait(&c, "confirm-submit").await;
    let confirmed = text(&c, "#confirmed").await;
    assert_eq!(confirmed, "refer");
    let visit = get_visit(ch, &town.admin_token, &vid).await;
    assert_eq!(visit.confirmed_outcome, pb::VisitOutcome::Refer as i32);

    // The report, its CSV as the API writes it, the FHIR bundle: downloaded in the page.
    c.goto(&format!("{base}/programs/{pid}/report"))
        .await
        .unwrap();
    let totals = text(&c, "#report-totals").await;
    assert!(
        totals.split_whitespace().collect::<Vec<_>>()[1..].starts_with(&["4", "1", "1"]),
        "{totals}"
    );
    no_violations(&c, "report", db).await;
    let (status, kind, csv) = fetch(&c, &format!("/programs/{pid}/report.csv"), "GET", "").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let api_report = programs(ch)
        .get_program_report(authed(
            &town.admin_token,
            pb::GetProgramReportRequest {
                program_id: pid.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(csv, api_report.csv);
    let (status, kind, bundle) = fetch(&c, &format!("/programs/{pid}/fhir"), "GET", "").await;
    assert_eq!(status, 200);
    assert_eq!(kind, "application/fhir+json");
    let bundle: Value = serde_json::from_str(&bundle).expect("the bundle is JSON");
    auscult_testkit::fhir::assert_valid(&bundle);
    let patients = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .count();
    assert_eq!(patients, 4);

    // The questionnaire as a resident sees it: a preview that saves nothing.
    c.goto(&format!("{base}/programs/{pid}/questionnaire"))
        .await
        .unwrap();
    c.find(Locator::Id("q-preview")).await.unwrap();
    let disabled = c
        .execute(
            "return document.getElementById('q-submit').disabled;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(disabled, json!(true));
    c.goto(&format!("{base}/programs")).await.unwrap();
    sign_out(&c).await;

    // A nurse has no programme link and may not read residents.
    sign_in(&c, &base, "rn-ito", PASSWORD).await;
    assert!(c.find(Locator::Id("nav-programs")).await.is_err());
    let (status, _, _) = fetch(&c, &format!("/programs/{pid}"), "GET", "").await;
    assert_eq!(status, 403);
    sign_out(&c).await;

    // Another town's staff: the programme and the visit do not exist for them.
    sign_in(&c, &base, "staff-other", PASSWORD).await;
    for p in [
        format!("/programs/{pid}"),
        format!("/visits/{vid}"),
        format!("/programs/{pid}/report.csv"),
        format!("/programs/{pid}/import"),
    ] {
        let (status, _, _) = fetch(&c, &p, "GET", "").await;
        assert_eq!(status, 404, "{p}");
    }
    sign_out(&c).await;

    // Every enrolment, and the reads of the residents, are in the audit trail.
    let events = audit(ch, &town.admin_token, "").await.unwrap();
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("resident.enroll"), 4);
    assert!(count("resident.list") >= 1);
    assert!(count("visit.get") >= 1);
    assert!(count("resident.import_match") >= 1);
    c.close().await.unwrap();
}

//! The residents' web questionnaire (web 問診) in a real browser at phone size: staff make a
//! one-time link for a visit over gRPC; the resident opens it without an account, in Japanese,
//! one question per screen; answers are saved as they go and resume after a reload; a mistake is
//! shown beside its question; the submitted answers become the visit's questionnaire response
//! (read back over gRPC), audited with the link as the actor; the link then only says thank you.
//! Replaced, expired, unknown and withdrawn-consent links take nothing. The page passes axe-core's
//! WCAG 2 A/AA rules, and a screenshot goes to `target/screenshots/`.
//!
//! On SQLite, and on PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set. Skips (saying so)
//! without `chromedriver`/`chromium`; fails instead when CI declares it present.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_testkit::browser::*;
use auscult_testkit::*;
use fantoccini::{Client, Locator};
use serde_json::json;
use tonic::transport::Channel;

fn programs(ch: &Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch.clone())
}

fn ls(language: &str, text: &str) -> pb::LocalizedString {
    pb::LocalizedString {
        language: language.into(),
        text: text.into(),
    }
}

fn question(id: &str, t: pb::QuestionType, required: bool, ja: &str, en: &str) -> pb::Question {
    pb::Question {
        link_id: id.into(),
        r#type: t as i32,
        required,
        text: vec![ls("ja", ja), ls("en", en)],
        options: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_answers_on_a_phone_sqlite() {
    resident(Db::Sqlite, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_answers_on_a_phone_postgres() {
    resident(Db::Postgres, Engine::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_answers_on_a_phone_in_firefox() {
    resident(Db::Sqlite, Engine::Firefox).await;
}

/// A staff member's token in the tenant.
async fn staff_token(ts: &TestServer, tenant_id: &str) -> String {
    admin(&ts.channel)
        .create_user(authed(
            &ts.admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant_id.into(),
                name: "Staff Sato".into(),
                role: pb::Role::ProgramStaff as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token
}

async fn link(ch: &Channel, staff: &str, visit_id: &str, lifetime_seconds: u32) -> String {
    programs(ch)
        .create_questionnaire_link(authed(
            staff,
            pb::CreateQuestionnaireLinkRequest {
                visit_id: visit_id.into(),
                questionnaire_version: 0,
                lifetime_seconds,
            },
        ))
        .await
        .expect("a questionnaire link")
        .into_inner()
        .path
}

async fn status(c: &Client, path: &str, method: &str) -> serde_json::Value {
    in_page(
        c,
        &format!("const r = await fetch('{path}', {{method: '{method}', body: method_body()}}); return r.status;")
            .replace("method_body()", if method == "GET" { "undefined" } else { "new URLSearchParams('a.smoker=no')" }),
    )
    .await
}

/// Clicks the visible step's "next" button.
async fn next(c: &Client) {
    c.find(Locator::Css("fieldset.question:not([hidden]) button.next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn visible(c: &Client) -> String {
    c.find(Locator::Css("fieldset.question:not([hidden])"))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn wait_saved(c: &Client) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#save-state[data-state='saved']"))
        .await
        .expect("the answers are saved");
    c.execute(
        "delete document.getElementById('save-state').dataset.state;",
        vec![],
    )
    .await
    .unwrap();
}

#[allow(clippy::too_many_lines)]
async fn resident(db: Db, engine: Engine) {
    let Some((driver_bin, chromium)) = engine.find_or_skip() else {
        return;
    };
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let ch = &ts.channel;
    let town = make_tenant(ch, &ts.admin_token, "q-town").await;
    let staff = staff_token(&ts, &town.id).await;
    let mut p = programs(ch);
    let pid = p
        .create_program(authed(
            &staff,
            pb::CreateProgramRequest {
                name: "Heart check-up".into(),
                description: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .program_id;
    let site = p
        .add_site(authed(
            &staff,
            pb::AddSiteRequest {
                program_id: pid.clone(),
                name: "Community hall".into(),
                address: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .site_id;
    let mut chest = question(
        "chest-pain",
        pb::QuestionType::Choice,
        true,
        "胸の痛みはありますか",
        "Do you have chest pain?",
    );
    chest.options = ["never", "exertion", "rest"]
        .iter()
        .zip([
            ("ない", "Never"),
            ("運動時", "On exertion"),
            ("安静時", "At rest"),
        ])
        .map(|(code, (ja, en))| pb::ChoiceOption {
            code: (*code).into(),
            label: vec![ls("ja", ja), ls("en", en)],
        })
        .collect();
    p.put_questionnaire(authed(
        &staff,
        pb::PutQuestionnaireRequest {
            program_id: pid.clone(),
            title: vec![ls("ja", "健診問診"), ls("en", "Check-up questions")],
            questions: vec![
                question(
                    "smoker",
                    pb::QuestionType::Boolean,
                    true,
                    "たばこを吸いますか",
                    "Do you smoke?",
                ),
                question(
                    "cigarettes",
                    pb::QuestionType::Integer,
                    false,
                    "1日の本数",
                    "Cigarettes a day",
                ),
                chest,
                question(
                    "notes",
                    pb::QuestionType::Text,
                    false,
                    "その他",
                    "Anything else",
                ),
            ],
        },
    ))
    .await
    .unwrap();
    let enrol = |subject: &'static str| pb::EnrollResidentRequest {
        program_id: pid.clone(),
        subject_id: subject.into(),
        family_name: "山田".into(),
        given_name: "花子".into(),
        gender: pb::Gender::Female as i32,
        birth_date: "1948-03-02".into(),
        resident_number: format!("N-{subject}"),
        address: String::new(),
        phone: String::new(),
        consent: Some(pb::Consent {
            recorded_by: "staff member Sato".into(),
            given_at: Some(prost_types::Timestamp {
                seconds: 1_790_000_000,
                nanos: 0,
            }),
            document_version: "2026-04".into(),
            scope: "checkup".into(),
        }),
    };
    let mut visit_of = async |subject: &'static str| {
        let resident = p
            .enroll_resident(authed(&staff, enrol(subject)))
            .await
            .unwrap()
            .into_inner();
        let visit = p
            .create_visit(authed(
                &staff,
                pb::CreateVisitRequest {
                    program_id: pid.clone(),
                    resident_id: resident.resident_id.clone(),
                    site_id: site.clone(),
                    visited_at: None,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        (resident.resident_id, visit.visit_id)
    };
    let (_, visit) = visit_of("q-res-1").await;
    let (withdrawing, visit2) = visit_of("q-res-2").await;

    // A clinician may not make links; staff may.
    let refused = programs(ch)
        .create_questionnaire_link(authed(
            &town.clinician_token,
            pb::CreateQuestionnaireLinkRequest {
                visit_id: visit.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let replaced = link(ch, &staff, &visit, 0).await;
    let path = link(ch, &staff, &visit, 0).await;
    assert!(path.starts_with("/q/") && path != replaced);

    let driver = Driver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let c = engine.open(&driver, &chromium, profile.path()).await;
    c.set_window_size(390, 844).await.unwrap();

    // The resident opens it in Japanese: one question on the screen.
    c.goto(&format!("{base}{path}?lang=ja")).await.unwrap();
    assert_eq!(text(&c, "#q-title").await, "健診問診");
    let lang = c
        .execute("return document.documentElement.lang;", vec![])
        .await
        .unwrap();
    assert_eq!(lang, json!("ja"));
    assert_eq!(visible(&c).await, "q-1");
    assert!(text(&c, "#q-1").await.contains("たばこを吸いますか"));
    if db == Db::Sqlite && engine == Engine::Chromium {
        let violations = accessibility(&c).await;
        assert!(violations.is_empty(), "questionnaire: {violations:#?}");
        screenshot(&c, "questionnaire", 390, 844).await;
    }

    // Answers are saved as they go, and the page resumes where the resident stopped.
    c.find(Locator::Css("#q-1 input[value='yes']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_saved(&c).await;
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Id("q-form")).await.unwrap();
    assert_eq!(visible(&c).await, "q-2", "resumes at the first unanswered");
    let checked = c
        .execute(
            "return document.querySelector(\"#q-1 input[value='yes']\").checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checked, json!(true));

    // A mistake comes back beside its question, and nothing is stored.
    c.find(Locator::Id("a-2"))
        .await
        .unwrap()
        .send_keys("十本")
        .await
        .unwrap();
    next(&c).await;
    assert_eq!(visible(&c).await, "q-3");
    c.find(Locator::Css("#q-3 input[value='exertion']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    next(&c).await;
    submit_and_wait(&c, "q-submit").await;
    c.wait().for_element(Locator::Id("q-errors")).await.unwrap();
    assert_eq!(visible(&c).await, "q-2", "opens at the question to fix");
    assert!(text(&c, "#q-2 .field-error").await.contains("整数"));
    let v = programs(ch)
        .get_visit(authed(
            &staff,
            pb::GetVisitRequest {
                visit_id: visit.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.questionnaire_response.is_none(), "nothing stored yet");

    // Fixed and sent: the visit's response, audited with the link as the actor.
    let field = c.find(Locator::Id("a-2")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("10").await.unwrap();
    next(&c).await;
    next(&c).await;
    submit_and_wait(&c, "q-submit").await;
    assert_eq!(text(&c, "#done-title").await, "ありがとうございました");
    let v = programs(ch)
        .get_visit(authed(
            &staff,
            pb::GetVisitRequest {
                visit_id: visit.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let response = v.questionnaire_response.expect("the visit's response");
    let answer = |id: &str| {
        response
            .answers
            .iter()
            .find(|a| a.link_id == id)
            .and_then(|a| a.value.clone())
    };
    assert_eq!(answer("smoker"), Some(pb::answer::Value::Boolean(true)));
    assert_eq!(answer("cigarettes"), Some(pb::answer::Value::Integer(10)));
    assert_eq!(
        answer("chest-pain"),
        Some(pb::answer::Value::Choice("exertion".into()))
    );
    assert_eq!(answer("notes"), None);
    let events = audit(ch, &town.admin_token, "").await.unwrap();
    let by_link: Vec<&str> = events
        .iter()
        .filter(|e| e.actor_id.starts_with("questionnaire-link:"))
        .map(|e| e.action.as_str())
        .collect();
    assert!(by_link.contains(&"visit.response"), "{by_link:?}");
    assert!(by_link.contains(&"questionnaire_link.open"), "{by_link:?}");
    assert!(
        events
            .iter()
            .any(|e| e.action == "visit.questionnaire_link" && e.subject_id == "q-res-1")
    );

    // Used: the link only says thank you and takes nothing more.
    c.goto(&format!("{base}{path}?lang=en")).await.unwrap();
    assert!(
        text(&c, "#done-message")
            .await
            .contains("already been sent")
    );
    assert_eq!(
        status(&c, &format!("{path}/draft"), "POST").await,
        json!(410)
    );
    assert_eq!(status(&c, &path, "POST").await, json!(200));
    // The replaced link, an unknown one and an expired one take nothing.
    assert_eq!(status(&c, &replaced, "GET").await, json!(410));
    assert_eq!(
        status(&c, &format!("/q/{}", "0".repeat(64)), "GET").await,
        json!(404)
    );
    assert_eq!(status(&c, "/q/not-a-token", "GET").await, json!(404));
    let short = link(ch, &staff, &visit2, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status(&c, &short, "GET").await, json!(410));
    // Withdrawn consent closes a live link at once.
    let live = link(ch, &staff, &visit2, 0).await;
    assert_eq!(status(&c, &live, "GET").await, json!(200));
    programs(ch)
        .withdraw_consent(authed(
            &staff,
            pb::WithdrawConsentRequest {
                program_id: pid.clone(),
                resident_id: withdrawing,
            },
        ))
        .await
        .unwrap();
    assert_eq!(status(&c, &live, "GET").await, json!(410));
    assert_eq!(
        status(&c, &format!("{live}/draft"), "POST").await,
        json!(410)
    );
    let after = programs(ch)
        .get_visit(authed(&staff, pb::GetVisitRequest { visit_id: visit2 }))
        .await
        .unwrap()
        .into_inner();
    assert!(after.questionnaire_response.is_none());
    c.close().await.unwrap();
}

//! End-to-end acceptance of a municipal check-up programme through the real server
//! (`auscult-server` on 127.0.0.1:0, SQLite in a temp dir, or a fresh PostgreSQL database when
//! `AUSCULT_TEST_POSTGRES_URL` is set), with the device simulator (`firmware-sim`) uploading
//! synthetic recordings (`auscult-synth`) with and without murmurs at the four sites.
//!
//! Programme staff create a programme, two sites and a bilingual questionnaire (two versions),
//! enroll five residents with consent (one withdraws), and run three visits (spot vitals,
//! questionnaire responses, recordings linked by site). The analyses complete; a clinician
//! confirms two outcomes and leaves one waiting. The report's counts and CSV must equal what the
//! test did and what the server's analyses said; the programme's FHIR Bundle must validate
//! against the vendored official R4 JSON schema; a recording's WFDB export must read back.
//! Bad input, wrong roles and another tenant's ids get clear errors.
//!
//! Must never use mocks or canned answers: every assertion is on what the real server returned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program_support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_synth::Scenario;
use firmware_sim::{Connection, Pacing, UploadOptions, upload};
use program_support::*;
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;

const ANALYSIS_LIMIT: Duration = Duration::from_secs(120);
const SECONDS: f64 = 15.0;
const SITES: [pb::AuscultationSite; 4] = [
    pb::AuscultationSite::Aortic,
    pb::AuscultationSite::Pulmonic,
    pb::AuscultationSite::Tricuspid,
    pb::AuscultationSite::Mitral,
];

fn programs(ch: &Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> Code {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => s.code(),
    }
}

fn ls(lang: &str, text: &str) -> pb::LocalizedString {
    pb::LocalizedString {
        language: lang.into(),
        text: text.into(),
    }
}

fn question(
    link_id: &str,
    t: pb::QuestionType,
    required: bool,
    ja: &str,
    en: &str,
) -> pb::Question {
    pb::Question {
        link_id: link_id.into(),
        r#type: t as i32,
        required,
        text: vec![ls("ja", ja), ls("en", en)],
        options: Vec::new(),
    }
}

/// Version 1: one question of every type. Version 2 adds a question.
fn questionnaire(program_id: &str, v2: bool) -> pb::PutQuestionnaireRequest {
    let mut chest = question(
        "chest-pain",
        pb::QuestionType::Choice,
        true,
        "胸の痛み",
        "Chest pain",
    );
    chest.options = vec![
        pb::ChoiceOption {
            code: "none".into(),
            label: vec![ls("ja", "なし"), ls("en", "None")],
        },
        pb::ChoiceOption {
            code: "exertion".into(),
            label: vec![ls("ja", "運動時"), ls("en", "On exertion")],
        },
    ];
    let mut questions = vec![
        question(
            "breathless",
            pb::QuestionType::Boolean,
            true,
            "階段で息切れがしますか？",
            "Breathless on stairs?",
        ),
        chest,
        question(
            "falls",
            pb::QuestionType::Integer,
            false,
            "この一年の転倒回数",
            "Falls this year",
        ),
        question(
            "weight",
            pb::QuestionType::Decimal,
            false,
            "体重 (kg)",
            "Weight (kg)",
        ),
        question("notes", pb::QuestionType::Text, false, "その他", "Other"),
        question(
            "last-checkup",
            pb::QuestionType::Date,
            false,
            "前回の健診日",
            "Last check-up",
        ),
    ];
    if v2 {
        questions.push(question(
            "smoker",
            pb::QuestionType::Boolean,
            false,
            "喫煙しますか？",
            "Do you smoke?",
        ));
    }
    pb::PutQuestionnaireRequest {
        program_id: program_id.into(),
        title: vec![ls("ja", "健診問診票"), ls("en", "Check-up questionnaire")],
        questions,
    }
}

fn answer(link_id: &str, value: pb::answer::Value) -> pb::Answer {
    pb::Answer {
        link_id: link_id.into(),
        value: Some(value),
    }
}

fn good_answers() -> Vec<pb::Answer> {
    use pb::answer::Value as V;
    vec![
        answer("breathless", V::Boolean(false)),
        answer("chest-pain", V::Choice("none".into())),
        answer("falls", V::Integer(1)),
        answer("weight", V::Decimal(61.5)),
        answer("notes", V::Text("特になし / nothing".into())),
        answer("last-checkup", V::Date("2025-10-01".into())),
        answer("smoker", V::Boolean(false)),
    ]
}

fn vitals(hr: f64) -> pb::SpotVitals {
    pb::SpotVitals {
        source: "checkup-kit-1".into(),
        heart_rate_bpm: Some(hr),
        respiratory_rate_per_min: Some(16.0),
        spo2_percent: Some(97.0),
        temperature_c: Some(36.5),
        systolic_mmhg: Some(128.0),
        diastolic_mmhg: Some(82.0),
        consciousness: pb::Consciousness::Alert as i32,
        supplemental_oxygen: Some(false),
        ..Default::default()
    }
}

fn upload_options(upload_id: &str, subject: &str, site: pb::AuscultationSite) -> UploadOptions {
    UploadOptions {
        upload_id: upload_id.to_owned(),
        identity: firmware_sim::DeviceIdentity {
            serial: "SIM-PROGRAM-1".into(),
            subject_id: subject.into(),
            site,
            position: pb::BodyPosition::Sitting,
        },
        pacing: Pacing::Fast,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(10),
        ..UploadOptions::default()
    }
}

async fn enroll(
    ch: &Channel,
    staff: &str,
    program_id: &str,
    subject: &str,
    family: &str,
    given: &str,
) -> pb::Resident {
    programs(ch)
        .enroll_resident(authed(
            staff,
            pb::EnrollResidentRequest {
                program_id: program_id.into(),
                subject_id: subject.into(),
                family_name: family.into(),
                given_name: given.into(),
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
                    scope: "checkup,auscultation,fhir-export".into(),
                }),
            },
        ))
        .await
        .expect("enroll")
        .into_inner()
}

async fn export_bytes(
    mut stream: tonic::Streaming<pb::ExportChunk>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend_from_slice(&chunk.data);
    }
    Ok(bytes)
}

/// The proposal rule of `programs.proto`, written again here from the cases the clinician sees.
fn expected_proposal(cases: &[(pb::AuscultationSite, pb::CaseSummary)]) -> pb::VisitOutcome {
    let judgeable_flag = cases.iter().any(|(_, c)| {
        c.analysis_state() == pb::AnalysisState::Done
            && c.flagged
            && c.murmur_status() != pb::MurmurStatus::Unknown
    });
    if judgeable_flag {
        return pb::VisitOutcome::Refer;
    }
    let all_normal = SITES.iter().all(|s| {
        cases.iter().any(|(site, c)| {
            site == s
                && c.analysis_state() == pb::AnalysisState::Done
                && c.murmur_status() == pb::MurmurStatus::Absent
        })
    });
    if all_normal {
        pb::VisitOutcome::Normal
    } else {
        pb::VisitOutcome::ReRecord
    }
}

/// RFC 4180 quoting of one field, as the report must do it.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

struct PlannedVisit {
    resident: usize,
    site: usize,
    /// The scenario at each of the four standard sites (`None`: that site is not recorded).
    scenarios: [Option<Scenario>; 4],
    heart_rate: f64,
}

#[allow(clippy::too_many_lines)]
async fn program_end_to_end(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), url).await;
    let admin = server.bootstrap_token.clone().expect("bootstrap admin");
    let ch = channel(server.addr).await;
    let town = provision(&ch, &admin, "town-a").await;
    let other = provision(&ch, &admin, "town-b").await;
    let staff = town.staff_token.clone();
    let other_staff = other.staff_token.clone();
    let clin = town.clinician_token.clone();
    let mut p = programs(&ch);

    // Roles: a clinician cannot create programmes; staff cannot confirm outcomes (checked below).
    assert_eq!(
        code(
            p.create_program(authed(
                &clin,
                pb::CreateProgramRequest {
                    name: "x".into(),
                    description: String::new(),
                },
            ))
            .await
        ),
        Code::PermissionDenied
    );

    // The programme (its name needs CSV quoting), two sites, a questionnaire in two versions.
    let program_name = "Town \"heart\" check-up, 2026";
    let program = p
        .create_program(authed(
            &staff,
            pb::CreateProgramRequest {
                name: program_name.into(),
                description: "Autumn check-up days".into(),
            },
        ))
        .await
        .expect("create program")
        .into_inner();
    let pid = program.program_id.clone();
    let mut sites = Vec::new();
    for (name, address) in [
        ("Community hall, east", "1-2-3 Higashi"),
        ("Clinic west", ""),
    ] {
        // Sites are listed in the order they were added (to the millisecond; a tie goes by
        // name): the report below expects the hall first.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        sites.push(
            p.add_site(authed(
                &staff,
                pb::AddSiteRequest {
                    program_id: pid.clone(),
                    name: name.into(),
                    address: address.into(),
                },
            ))
            .await
            .expect("add site")
            .into_inner(),
        );
    }
    let q1 = p
        .put_questionnaire(authed(&staff, questionnaire(&pid, false)))
        .await
        .expect("questionnaire v1")
        .into_inner();
    let q2 = p
        .put_questionnaire(authed(&staff, questionnaire(&pid, true)))
        .await
        .expect("questionnaire v2")
        .into_inner();
    assert_eq!((q1.version, q2.version), (1, 2));
    let got = p
        .get_questionnaire(authed(
            &clin,
            pb::GetQuestionnaireRequest {
                program_id: pid.clone(),
                version: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.questions.len(), 6);
    assert_eq!(got.questions[0].text[0].text, "階段で息切れがしますか？");
    // A choice without options is not a questionnaire.
    let mut broken = questionnaire(&pid, false);
    broken.questions[1].options.clear();
    assert_eq!(
        code(p.put_questionnaire(authed(&staff, broken)).await),
        Code::InvalidArgument
    );

    // Five residents with consent; enrolment without consent is refused.
    let mut no_consent = pb::EnrollResidentRequest {
        program_id: pid.clone(),
        subject_id: "res-none".into(),
        ..Default::default()
    };
    assert_eq!(
        code(p.enroll_resident(authed(&staff, no_consent.clone())).await),
        Code::InvalidArgument
    );
    no_consent.program_id = "no-such-program".into();
    assert_eq!(
        code(p.enroll_resident(authed(&staff, no_consent)).await),
        Code::NotFound
    );
    let names = [
        ("res-1", "山田", "花子"),
        ("res-2", "佐藤", "幸子"),
        ("res-3", "鈴木", "和子"),
        ("res-4", "高橋", "節子"),
        ("res-5", "田中", "良子"),
    ];
    let mut residents = Vec::new();
    for (subject, family, given) in names {
        residents.push(enroll(&ch, &staff, &pid, subject, family, given).await);
    }
    assert_eq!(
        code(
            p.enroll_resident(authed(
                &staff,
                pb::EnrollResidentRequest {
                    program_id: pid.clone(),
                    subject_id: "res-1".into(),
                    consent: residents[0].consent.clone(),
                    ..Default::default()
                },
            ))
            .await
        ),
        Code::AlreadyExists
    );
    // Resident 5 withdraws consent: no visit may be opened.
    let withdrawn = p
        .withdraw_consent(authed(
            &staff,
            pb::WithdrawConsentRequest {
                program_id: pid.clone(),
                resident_id: residents[4].resident_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(withdrawn.consent_withdrawn_at.is_some());
    assert_eq!(
        code(
            p.create_visit(authed(
                &staff,
                pb::CreateVisitRequest {
                    program_id: pid.clone(),
                    resident_id: residents[4].resident_id.clone(),
                    site_id: sites[0].site_id.clone(),
                    visited_at: None,
                },
            ))
            .await
        ),
        Code::FailedPrecondition
    );
    // A resident who is not enrolled has no visits either.
    assert_eq!(
        code(
            p.create_visit(authed(
                &staff,
                pb::CreateVisitRequest {
                    program_id: pid.clone(),
                    resident_id: uuid::Uuid::new_v4().to_string(),
                    site_id: sites[0].site_id.clone(),
                    visited_at: None,
                },
            ))
            .await
        ),
        Code::NotFound
    );

    // Three visits: resident 1 normal at all four sites (hall), resident 2 a mitral
    // regurgitation heard at the mitral site (hall), resident 3 normal but the tricuspid site
    // not recorded (clinic). Resident 4 never comes.
    let plan = [
        PlannedVisit {
            resident: 0,
            site: 0,
            scenarios: [Some(Scenario::Normal); 4],
            heart_rate: 68.0,
        },
        PlannedVisit {
            resident: 1,
            site: 0,
            scenarios: [
                Some(Scenario::Normal),
                Some(Scenario::Normal),
                Some(Scenario::Normal),
                Some(Scenario::MitralRegurgitation),
            ],
            heart_rate: 84.0,
        },
        PlannedVisit {
            resident: 2,
            site: 1,
            scenarios: [
                Some(Scenario::Normal),
                Some(Scenario::Normal),
                None,
                Some(Scenario::Normal),
            ],
            heart_rate: 75.0,
        },
    ];
    let device = Connection::new(&format!("http://{}", server.addr), &town.device_token).unwrap();
    let mut visits = Vec::new();
    let mut linked: Vec<Vec<(pb::AuscultationSite, String)>> = Vec::new();
    for (vi, pv) in plan.iter().enumerate() {
        let resident = &residents[pv.resident];
        let visit = p
            .create_visit(authed(
                &staff,
                pb::CreateVisitRequest {
                    program_id: pid.clone(),
                    resident_id: resident.resident_id.clone(),
                    site_id: sites[pv.site].site_id.clone(),
                    visited_at: None,
                },
            ))
            .await
            .expect("create visit")
            .into_inner();
        assert_eq!(visit.proposed_outcome(), pb::VisitOutcome::ReRecord);
        p.record_vitals(authed(
            &staff,
            pb::RecordVitalsRequest {
                visit_id: visit.visit_id.clone(),
                vitals: Some(vitals(pv.heart_rate)),
            },
        ))
        .await
        .expect("record vitals");
        // Visit 1 answers version 1 (without the version-2 question), the others version 2.
        let (version, answers) = if vi == 0 {
            (1, good_answers()[..6].to_vec())
        } else {
            (2, good_answers())
        };
        let v = p
            .submit_questionnaire_response(authed(
                &staff,
                pb::SubmitQuestionnaireResponseRequest {
                    visit_id: visit.visit_id.clone(),
                    questionnaire_version: version,
                    answers,
                    authored_at: None,
                },
            ))
            .await
            .expect("questionnaire response")
            .into_inner();
        assert_eq!(
            v.questionnaire_response.unwrap().questionnaire_version,
            version
        );
        let news2 = v.news2.expect("NEWS2 with the vitals");
        assert!(news2.complete);
        assert_eq!(news2.aggregate, 0, "normal spot vitals score 0");

        let mut links = Vec::new();
        for (si, scenario) in pv.scenarios.iter().enumerate() {
            let Some(scenario) = scenario else { continue };
            let rec = recording(*scenario, 100 + (vi * 4 + si) as u64, SECONDS);
            let upload_id = uuid::Uuid::new_v4().to_string();
            let report = upload(
                &device,
                rec,
                &upload_options(&upload_id, &resident.subject_id, SITES[si]),
            )
            .await
            .expect("upload");
            // Link by case id, except one by the device's upload id.
            let (recording_id, upload_ref) = if vi == 2 && si == 0 {
                (String::new(), upload_id.clone())
            } else {
                (report.case_id.clone(), String::new())
            };
            p.link_recording(authed(
                &staff,
                pb::LinkRecordingRequest {
                    visit_id: visit.visit_id.clone(),
                    site: SITES[si] as i32,
                    recording_id,
                    upload_id: upload_ref,
                },
            ))
            .await
            .expect("link recording");
            links.push((SITES[si], report.case_id));
        }
        visits.push(visit);
        linked.push(links);
    }

    // Bad input on the visits.
    use pb::answer::Value as V;
    let bad_answers: [(u32, Vec<pb::Answer>); 5] = [
        (2, {
            let mut a = good_answers();
            a.push(answer("no-such-question", V::Boolean(true)));
            a
        }),
        (2, {
            let mut a = good_answers();
            a[0] = answer("breathless", V::Integer(3));
            a
        }),
        (2, good_answers()[1..].to_vec()),
        (2, {
            let mut a = good_answers();
            a[1] = answer("chest-pain", V::Choice("sometimes".into()));
            a
        }),
        // The version-2 question in a version-1 response.
        (1, good_answers()),
    ];
    for (version, answers) in bad_answers {
        assert_eq!(
            code(
                p.submit_questionnaire_response(authed(
                    &staff,
                    pb::SubmitQuestionnaireResponseRequest {
                        visit_id: visits[0].visit_id.clone(),
                        questionnaire_version: version,
                        answers,
                        authored_at: None,
                    },
                ))
                .await
            ),
            Code::InvalidArgument
        );
    }
    let mut out_of_range = vitals(70.0);
    out_of_range.spo2_percent = Some(140.0);
    assert_eq!(
        code(
            p.record_vitals(authed(
                &staff,
                pb::RecordVitalsRequest {
                    visit_id: visits[0].visit_id.clone(),
                    vitals: Some(out_of_range),
                },
            ))
            .await
        ),
        Code::InvalidArgument
    );
    // Resident 1's recording cannot be linked to resident 2's visit (another subject), nor at
    // another site, nor twice.
    let (_, r1_aortic) = linked[0][0].clone();
    for (visit, site) in [
        (&visits[1], pb::AuscultationSite::Aortic),
        (&visits[0], pb::AuscultationSite::Mitral),
    ] {
        assert_eq!(
            code(
                p.link_recording(authed(
                    &staff,
                    pb::LinkRecordingRequest {
                        visit_id: visit.visit_id.clone(),
                        site: site as i32,
                        recording_id: r1_aortic.clone(),
                        upload_id: String::new(),
                    },
                ))
                .await
            ),
            Code::InvalidArgument
        );
    }

    // The analyses complete.
    let mut cases: Vec<Vec<(pb::AuscultationSite, pb::CaseSummary)>> = Vec::new();
    for links in &linked {
        let mut v = Vec::new();
        for (site, case_id) in links {
            let case = wait_analysed(&ch, &clin, case_id, ANALYSIS_LIMIT).await;
            v.push((*site, case.summary.unwrap()));
        }
        cases.push(v);
    }
    for (i, v) in cases.iter().enumerate() {
        for (site, c) in v {
            eprintln!(
                "visit {i} {site:?}: {:?} murmur {:?} flagged {}",
                c.analysis_state(),
                c.murmur_status(),
                c.flagged
            );
        }
    }
    let mr = &cases[1][3].1;
    assert_eq!(mr.murmur_status(), pb::MurmurStatus::Present, "{mr:?}");
    assert!(mr.flagged);

    // Proposals follow the documented rule; staff may not confirm; the clinician confirms visits
    // 1 and 2 as proposed and leaves visit 3 waiting.
    let mut proposals = Vec::new();
    for (i, visit) in visits.iter().enumerate() {
        let got = p
            .get_visit(authed(
                &clin,
                pb::GetVisitRequest {
                    visit_id: visit.visit_id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.recordings.len(), linked[i].len());
        assert_eq!(
            got.proposed_outcome(),
            expected_proposal(&cases[i]),
            "visit {i}"
        );
        proposals.push(got.proposed_outcome());
    }
    assert_eq!(proposals[1], pb::VisitOutcome::Refer);
    assert_eq!(
        code(
            p.confirm_outcome(authed(
                &staff,
                pb::ConfirmOutcomeRequest {
                    visit_id: visits[0].visit_id.clone(),
                    outcome: pb::VisitOutcome::Normal as i32,
                    note: String::new(),
                },
            ))
            .await
        ),
        Code::PermissionDenied
    );
    for i in 0..2 {
        let v = p
            .confirm_outcome(authed(
                &clin,
                pb::ConfirmOutcomeRequest {
                    visit_id: visits[i].visit_id.clone(),
                    outcome: proposals[i] as i32,
                    note: "reviewed remotely".into(),
                },
            ))
            .await
            .expect("confirm")
            .into_inner();
        assert_eq!(v.confirmed_outcome(), proposals[i]);
        assert_eq!(v.confirmed_by, town.clinician_id);
    }

    // The report counts exactly what happened.
    let flagged_residents = cases
        .iter()
        .filter(|v| v.iter().any(|(_, c)| c.flagged))
        .count() as u64;
    let referred = proposals[..2]
        .iter()
        .filter(|o| **o == pb::VisitOutcome::Refer)
        .count() as u64;
    let report = p
        .get_program_report(authed(
            &staff,
            pb::GetProgramReportRequest {
                program_id: pid.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let totals = report.totals.unwrap();
    assert_eq!(
        totals,
        pb::ReportCounts {
            enrolled: 4,
            attended: 3,
            flagged: flagged_residents,
            referred,
            awaiting_review: 1,
            visits: 3,
        }
    );
    let hall_flagged = cases[..2]
        .iter()
        .filter(|v| v.iter().any(|(_, c)| c.flagged))
        .count() as u64;
    let clinic_flagged = u64::from(cases[2].iter().any(|(_, c)| c.flagged));
    let site_counts: Vec<pb::ReportCounts> =
        report.sites.iter().map(|s| s.counts.unwrap()).collect();
    assert_eq!(
        site_counts,
        vec![
            pb::ReportCounts {
                enrolled: 0,
                attended: 2,
                flagged: hall_flagged,
                referred,
                awaiting_review: 0,
                visits: 2,
            },
            pb::ReportCounts {
                enrolled: 0,
                attended: 1,
                flagged: clinic_flagged,
                referred: 0,
                awaiting_review: 1,
                visits: 1,
            },
        ]
    );
    let expected_csv = format!(
        "scope,id,name,enrolled,attended,flagged,referred,awaiting_review,visits,\
         hba1c_out_of_range,glucose_out_of_range,total_cholesterol_out_of_range,\
         hdl_cholesterol_out_of_range,triglycerides_out_of_range\r\n\
         program,{pid},{},4,3,{flagged_residents},{referred},1,3,0,0,0,0,0\r\n\
         site,{},{},,2,{hall_flagged},{referred},0,2,0,0,0,0,0\r\n\
         site,{},{},,1,{clinic_flagged},0,1,1,0,0,0,0,0\r\n",
        quoted(program_name),
        sites[0].site_id,
        quoted("Community hall, east"),
        sites[1].site_id,
        quoted("Clinic west"),
    );
    assert_eq!(report.csv, expected_csv);
    assert!(report.csv.contains("\"Town \"\"heart\"\" check-up, 2026\""));

    // The programme as FHIR: valid R4, with the codes the issue names.
    let bytes = export_bytes(
        p.export_program_fhir(authed(
            &clin,
            pb::ExportProgramFhirRequest {
                program_id: pid.clone(),
                base_url: String::new(),
            },
        ))
        .await
        .expect("export program")
        .into_inner(),
    )
    .await
    .expect("export stream");
    let bundle: Value = serde_json::from_slice(&bytes).expect("the bundle is JSON");
    auscult_testkit::fhir::assert_valid(&bundle);
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().unwrap();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut codes: HashMap<String, usize> = HashMap::new();
    for e in entries {
        let r = &e["resource"];
        *kinds
            .entry(r["resourceType"].as_str().unwrap().to_owned())
            .or_default() += 1;
        for c in r["code"]["coding"].as_array().into_iter().flatten() {
            *codes
                .entry(c["code"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        for comp in r["component"].as_array().into_iter().flatten() {
            for c in comp["code"]["coding"].as_array().into_iter().flatten() {
                *codes
                    .entry(c["code"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
    }
    let recordings: usize = linked.iter().map(Vec::len).sum();
    assert_eq!(
        kinds["Patient"], 4,
        "the withdrawn resident is not exported: {kinds:?}"
    );
    assert_eq!(kinds["QuestionnaireResponse"], 3);
    assert_eq!(kinds["Questionnaire"], 2, "both versions answered");
    assert_eq!(kinds["Media"], recordings);
    assert_eq!(kinds["Binary"], recordings);
    // 5 vitals + NEWS2 per visit, one murmur finding per recording.
    assert_eq!(kinds["Observation"], 3 * 6 + recordings);
    for loinc in [
        "8867-4", "9279-1", "59408-5", "8310-5", "85354-9", "8480-6", "8462-4",
    ] {
        assert_eq!(codes.get(loinc), Some(&3), "LOINC {loinc}: {codes:?}");
    }
    assert!(codes.contains_key("88610006") || codes.contains_key("31574009"));
    let murmurs: Vec<&Value> = entries
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["id"].as_str().is_some_and(|id| id.starts_with("mu-")))
        .collect();
    assert_eq!(murmurs.len(), recordings);
    for m in &murmurs {
        let media = m["derivedFrom"][0]["reference"].as_str().unwrap();
        assert!(media.starts_with("Media/m-"), "{m}");
        assert!(
            entries
                .iter()
                .any(|e| format!("Media/{}", e["resource"]["id"].as_str().unwrap()) == media),
            "derivedFrom resolves in the bundle"
        );
    }
    let mr_finding = murmurs
        .iter()
        .find(|m| m["id"] == format!("mu-{}", linked[1][3].1))
        .unwrap();
    assert!(
        mr_finding.to_string().contains("31574009"),
        "systolic murmur coded"
    );

    // One resident as FHIR; a withdrawn resident is not exported.
    let one = export_bytes(
        p.export_resident_fhir(authed(
            &clin,
            pb::ExportResidentFhirRequest {
                program_id: pid.clone(),
                resident_id: residents[1].resident_id.clone(),
                base_url: "https://town-a.example/fhir".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner(),
    )
    .await
    .unwrap();
    let one: Value = serde_json::from_slice(&one).unwrap();
    auscult_testkit::fhir::assert_valid(&one);
    assert_eq!(one["entry"][0]["resource"]["resourceType"], "Patient");
    assert_eq!(one["entry"][0]["resource"]["name"][0]["family"], "佐藤");
    assert_eq!(
        code(
            p.export_resident_fhir(authed(
                &clin,
                pb::ExportResidentFhirRequest {
                    program_id: pid.clone(),
                    resident_id: residents[4].resident_id.clone(),
                    base_url: String::new(),
                },
            ))
            .await
        ),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(
            p.export_program_fhir(authed(
                &staff,
                pb::ExportProgramFhirRequest {
                    program_id: pid.clone(),
                    base_url: String::new(),
                },
            ))
            .await
        ),
        Code::PermissionDenied,
        "programme staff have no access to recordings"
    );

    // WFDB export of the murmur recording reads back with the recording crate.
    let wfdb = p
        .export_recording_wfdb(authed(
            &clin,
            pb::ExportRecordingWfdbRequest {
                recording_id: linked[1][3].1.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let wdir = tempfile::tempdir().unwrap();
    for f in &wfdb.files {
        std::fs::write(wdir.path().join(&f.name), &f.data).unwrap();
    }
    let names: Vec<&str> = wfdb.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let hea = wdir.path().join(format!("{}.hea", wfdb.record_name));
    let loaded = auscult_recording::read_wfdb_record(&hea).expect("the WFDB record reads back");
    let expected_samples = (SECONDS * 4000.0) as usize;
    assert!(
        loaded.pcg.samples.len().abs_diff(expected_samples) <= 4000,
        "PCG of {} samples",
        loaded.pcg.samples.len()
    );
    let anns = auscult_recording::wfdb::read_annotations(
        &wdir.path().join(format!("{}.seg", wfdb.record_name)),
    )
    .unwrap();
    let sounds = auscult_recording::wfdb::heart_sounds_from_annotations(
        &anns,
        auscult_dsp::Hz(loaded.pcg.rate.0),
    );
    assert!(sounds.len() >= 10, "S1/S2 annotations: {}", sounds.len());

    // Reads of residents' data were audited.
    let events = review(&ch)
        .list_audit_events(authed(
            &clin,
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
    for action in [
        "resident.enroll",
        "visit.get",
        "visit.confirm",
        "fhir.export",
        "case.wfdb",
    ] {
        assert!(
            events.iter().any(|e| e.action == action),
            "no {action} event"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e.action == "fhir.export" && e.subject_id == "res-2")
    );
    // Each recording an export carried is audited with its case; the second resident's were
    // exported (alone and with the programme).
    assert!(!linked[1].is_empty());
    for (_, case_id) in &linked[1] {
        assert!(
            events
                .iter()
                .any(|e| e.action == "fhir.export" && e.case_id == *case_id),
            "no fhir.export event for case {case_id}"
        );
    }
    // Reading the trail is audited, before the trail is returned: this read is in it.
    assert!(
        events.iter().any(|e| e.action == "audit.list"),
        "the read of the audit trail is not audited"
    );

    // Another tenant sees none of it.
    let mut q = programs(&ch);
    assert_eq!(
        code(
            q.get_program(authed(
                &other_staff,
                pb::GetProgramRequest {
                    program_id: pid.clone(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            q.get_visit(authed(
                &other.clinician_token,
                pb::GetVisitRequest {
                    visit_id: visits[0].visit_id.clone(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            q.confirm_outcome(authed(
                &other.clinician_token,
                pb::ConfirmOutcomeRequest {
                    visit_id: visits[2].visit_id.clone(),
                    outcome: pb::VisitOutcome::Normal as i32,
                    note: String::new(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            q.export_resident_fhir(authed(
                &other.clinician_token,
                pb::ExportResidentFhirRequest {
                    program_id: pid.clone(),
                    resident_id: residents[0].resident_id.clone(),
                    base_url: String::new(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            q.export_recording_wfdb(authed(
                &other.clinician_token,
                pb::ExportRecordingWfdbRequest {
                    recording_id: linked[0][0].1.clone(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    // Town B's own programme, resident and visit cannot reach town A's resident or recording.
    let b_program = q
        .create_program(authed(
            &other_staff,
            pb::CreateProgramRequest {
                name: program_name.into(),
                description: String::new(),
            },
        ))
        .await
        .expect("the same name in another tenant")
        .into_inner();
    let b_site = q
        .add_site(authed(
            &other_staff,
            pb::AddSiteRequest {
                program_id: b_program.program_id.clone(),
                name: "Hall".into(),
                address: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let b_resident = enroll(&ch, &other_staff, &b_program.program_id, "res-1", "X", "Y").await;
    assert_eq!(
        code(
            q.create_visit(authed(
                &other_staff,
                pb::CreateVisitRequest {
                    program_id: b_program.program_id.clone(),
                    resident_id: residents[0].resident_id.clone(),
                    site_id: b_site.site_id.clone(),
                    visited_at: None,
                },
            ))
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            q.create_visit(authed(
                &other_staff,
                pb::CreateVisitRequest {
                    program_id: b_program.program_id.clone(),
                    resident_id: b_resident.resident_id.clone(),
                    site_id: sites[0].site_id.clone(),
                    visited_at: None,
                },
            ))
            .await
        ),
        Code::NotFound,
        "town A's site"
    );
    let b_visit = q
        .create_visit(authed(
            &other_staff,
            pb::CreateVisitRequest {
                program_id: b_program.program_id.clone(),
                resident_id: b_resident.resident_id.clone(),
                site_id: b_site.site_id.clone(),
                visited_at: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // Same subject id, but the recording is town A's: NOT_FOUND.
    assert_eq!(
        code(
            q.link_recording(authed(
                &other_staff,
                pb::LinkRecordingRequest {
                    visit_id: b_visit.visit_id.clone(),
                    site: pb::AuscultationSite::Aortic as i32,
                    recording_id: linked[0][0].1.clone(),
                    upload_id: String::new(),
                },
            ))
            .await
        ),
        Code::NotFound
    );
    let b_report = q
        .get_program_report(authed(
            &other_staff,
            pb::GetProgramReportRequest {
                program_id: b_program.program_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        b_report.totals.unwrap(),
        pb::ReportCounts {
            enrolled: 1,
            attended: 1,
            flagged: 0,
            referred: 0,
            awaiting_review: 1,
            visits: 1,
        }
    );

    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_end_to_end_sqlite() {
    program_end_to_end(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_end_to_end_postgres() {
    program_end_to_end(Db::Postgres).await;
}

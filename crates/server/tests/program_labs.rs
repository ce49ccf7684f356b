//! Point-of-care blood results of a check-up visit through the real server over gRPC on a real
//! socket (SQLite, and PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set): programme staff
//! record HbA1c, glucose and lipids; the visit read back carries them classified against their
//! reference ranges; correcting HbA1c to 7.1 % replaces the first entry (audited) and turns the
//! proposal to REFER with the reason a clinician reads; a clinician can confirm FOLLOW_UP; the
//! report counts visits with out-of-range results per analyte; the FHIR exports carry them as
//! laboratory Observations and validate against the vendored R4 schema. Bad input (unknown
//! analyte, wrong unit, NaN, negative or absurd values, duplicates), the wrong role and another
//! tenant's visit get clear errors and store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_testkit::*;
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;

fn programs(ch: &Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

fn lab(analyte: pb::LabAnalyte, value: f64, unit: &str, fasting: bool) -> pb::LabResultInput {
    pb::LabResultInput {
        analyte: analyte as i32,
        value,
        unit: unit.into(),
        measured_at: None,
        fasting,
    }
}

fn record(visit_id: &str, results: Vec<pb::LabResultInput>) -> pb::RecordLabResultsRequest {
    pb::RecordLabResultsRequest {
        visit_id: visit_id.into(),
        results,
    }
}

fn result_of(v: &pb::Visit, a: pb::LabAnalyte) -> &pb::LabResult {
    v.lab_results
        .iter()
        .find(|l| l.analyte() == a)
        .unwrap_or_else(|| panic!("no {a:?} result"))
}

async fn staff_token(ts: &TestServer, tenant_id: &str) -> String {
    admin(&ts.channel)
        .create_user(authed(
            &ts.admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant_id.into(),
                name: "staff".into(),
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

/// A programme with one site and one consenting resident; returns (program, resident, visit).
async fn programme_with_visit(ch: &Channel, staff: &str) -> (String, String, String) {
    let mut p = programs(ch);
    let program_id = p
        .create_program(authed(
            staff,
            pb::CreateProgramRequest {
                name: "Town check-up 2026".into(),
                description: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .program_id;
    let site_id = p
        .add_site(authed(
            staff,
            pb::AddSiteRequest {
                program_id: program_id.clone(),
                name: "Community hall".into(),
                address: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .site_id;
    let resident_id = p
        .enroll_resident(authed(
            staff,
            pb::EnrollResidentRequest {
                program_id: program_id.clone(),
                subject_id: "subj-labs-1".into(),
                family_name: "山田".into(),
                given_name: "花子".into(),
                gender: pb::Gender::Female as i32,
                birth_date: "1950-04-01".into(),
                resident_number: String::new(),
                address: String::new(),
                phone: String::new(),
                consent: Some(pb::Consent {
                    recorded_by: "staff member Sato".into(),
                    given_at: Some(prost_types::Timestamp {
                        seconds: 1_790_000_000,
                        nanos: 0,
                    }),
                    document_version: "2026-04".into(),
                    scope: "checkup,fhir-export".into(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .resident_id;
    let visit_id = p
        .create_visit(authed(
            staff,
            pb::CreateVisitRequest {
                program_id: program_id.clone(),
                resident_id: resident_id.clone(),
                site_id,
                visited_at: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .visit_id;
    (program_id, resident_id, visit_id)
}

async fn export(
    p: &mut ProgramServiceClient<Channel>,
    token: &str,
    program_id: &str,
    resident_id: Option<&str>,
) -> Value {
    let mut stream = match resident_id {
        Some(r) => p
            .export_resident_fhir(authed(
                token,
                pb::ExportResidentFhirRequest {
                    program_id: program_id.into(),
                    resident_id: r.into(),
                    base_url: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner(),
        None => p
            .export_program_fhir(authed(
                token,
                pb::ExportProgramFhirRequest {
                    program_id: program_id.into(),
                    base_url: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner(),
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend_from_slice(&chunk.data);
    }
    serde_json::from_slice(&bytes).expect("the bundle is JSON")
}

fn lab_observations(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["category"][0]["coding"][0]["code"] == "laboratory")
        .collect()
}

#[allow(clippy::too_many_lines)]
async fn labs(db: Db) {
    let Some(ts) = start(db).await else {
        return;
    };
    let ch = &ts.channel;
    let town = make_tenant(ch, &ts.admin_token, "labs-town").await;
    let other = make_tenant(ch, &ts.admin_token, "labs-other").await;
    let staff = staff_token(&ts, &town.id).await;
    let other_staff = staff_token(&ts, &other.id).await;
    let clin = town.clinician_token.clone();
    let (program_id, resident_id, visit_id) = programme_with_visit(ch, &staff).await;
    let mut p = programs(ch);

    // First entry, with HbA1c mistyped as 5.6.
    let visit = p
        .record_lab_results(authed(
            &staff,
            record(
                &visit_id,
                vec![
                    lab(pb::LabAnalyte::Hba1c, 5.6, "%", true),
                    lab(pb::LabAnalyte::Glucose, 98.0, "mg/dL", true),
                    lab(pb::LabAnalyte::TotalCholesterol, 204.0, "mg/dL", true),
                    lab(pb::LabAnalyte::HdlCholesterol, 35.0, "mg/dl", true),
                    lab(pb::LabAnalyte::Triglycerides, 120.0, "mg/dL", true),
                ],
            ),
        ))
        .await
        .expect("lab results recorded")
        .into_inner();
    let analytes: Vec<_> = visit.lab_results.iter().map(|l| l.analyte()).collect();
    assert_eq!(
        analytes,
        [
            pb::LabAnalyte::Hba1c,
            pb::LabAnalyte::Glucose,
            pb::LabAnalyte::TotalCholesterol,
            pb::LabAnalyte::HdlCholesterol,
            pb::LabAnalyte::Triglycerides,
        ]
    );
    let hdl = result_of(&visit, pb::LabAnalyte::HdlCholesterol);
    assert_eq!(hdl.classification(), pb::LabClassification::Low);
    assert_eq!(hdl.unit, "mg/dL");
    assert_eq!(hdl.loinc_code, "2085-9");
    assert_eq!(hdl.name_ja, "HDLコレステロール");
    assert_eq!(hdl.reason, "HDL cholesterol 35 mg/dL (< 40)");
    assert!(!hdl.refers);
    let range = hdl.reference_range.as_ref().expect("a range");
    assert_eq!((range.low, range.high), (Some(40.0), None));
    let glucose = result_of(&visit, pb::LabAnalyte::Glucose);
    assert_eq!(glucose.classification(), pb::LabClassification::Normal);
    assert_eq!(glucose.loinc_code, "41653-7");
    assert_eq!(
        glucose.reference_range.as_ref().map(|r| r.text.as_str()),
        Some("70–109 mg/dL (adult, fasting)")
    );
    assert!(glucose.reason.is_empty());
    // No recordings yet: re-record comes first, with the HDL result among the reasons.
    assert_eq!(visit.proposed_outcome(), pb::VisitOutcome::ReRecord);
    assert!(
        visit
            .proposal_reasons
            .contains(&"HDL cholesterol 35 mg/dL (< 40)".to_owned()),
        "{:?}",
        visit.proposal_reasons
    );

    // The corrected HbA1c replaces the first; the proposal turns to REFER.
    let visit = p
        .record_lab_results(authed(
            &staff,
            record(&visit_id, vec![lab(pb::LabAnalyte::Hba1c, 7.1, "%", true)]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(visit.lab_results.len(), 5, "replaced, not duplicated");
    let a1c = result_of(&visit, pb::LabAnalyte::Hba1c);
    assert_eq!(a1c.value, 7.1);
    assert_eq!(a1c.classification(), pb::LabClassification::High);
    assert!(a1c.refers);
    assert_eq!(a1c.reason, "HbA1c 7.1 % (≥ 6.5)");
    assert_eq!(visit.proposed_outcome(), pb::VisitOutcome::Refer);
    assert_eq!(visit.proposal_reasons, ["HbA1c 7.1 % (≥ 6.5)"]);

    // A clinician reads the same visit.
    let read = p
        .get_visit(authed(
            &clin,
            pb::GetVisitRequest {
                visit_id: visit_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, visit);
    let listed = p
        .list_visits(authed(
            &clin,
            pb::ListVisitsRequest {
                program_id: program_id.clone(),
                resident_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .visits;
    assert_eq!(listed, std::slice::from_ref(&visit));

    // Bad input: a clear INVALID_ARGUMENT, and nothing stored.
    let bad: Vec<(Vec<pb::LabResultInput>, &str)> = vec![
        (Vec::new(), "results are required"),
        (
            vec![pb::LabResultInput {
                analyte: 42,
                ..lab(pb::LabAnalyte::Hba1c, 6.0, "%", true)
            }],
            "analyte must be",
        ),
        (
            vec![lab(pb::LabAnalyte::Unspecified, 6.0, "%", true)],
            "analyte must be",
        ),
        (
            vec![lab(pb::LabAnalyte::Glucose, 7.2, "mmol/L", true)],
            "Glucose is entered in mg/dL",
        ),
        (
            vec![lab(pb::LabAnalyte::Hba1c, 6.0, "mg/dL", true)],
            "HbA1c is entered in %",
        ),
        (
            vec![lab(pb::LabAnalyte::Hba1c, f64::NAN, "%", true)],
            "not a number",
        ),
        (
            vec![lab(pb::LabAnalyte::Triglycerides, -3.0, "mg/dL", true)],
            "impossible",
        ),
        (
            vec![lab(pb::LabAnalyte::Hba1c, 71.0, "%", true)],
            "impossible",
        ),
        (
            // A valid glucose beside an invalid HDL: neither is stored.
            vec![
                lab(pb::LabAnalyte::Glucose, 250.0, "mg/dL", false),
                lab(pb::LabAnalyte::HdlCholesterol, 1e9, "mg/dL", true),
            ],
            "impossible",
        ),
        (
            vec![
                lab(pb::LabAnalyte::Glucose, 100.0, "mg/dL", true),
                lab(pb::LabAnalyte::Glucose, 101.0, "mg/dL", true),
            ],
            "given twice",
        ),
    ];
    for (results, says) in bad {
        let status = p
            .record_lab_results(authed(&staff, record(&visit_id, results.clone())))
            .await
            .expect_err(&format!("{results:?} must be refused"));
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(says), "{status:?}");
    }
    let one = vec![lab(pb::LabAnalyte::Glucose, 250.0, "mg/dL", false)];
    let refused = |r: Result<tonic::Response<pb::Visit>, tonic::Status>| match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => s.code(),
    };
    assert_eq!(
        refused(
            p.record_lab_results(authed(&other_staff, record(&visit_id, one.clone())))
                .await
        ),
        Code::NotFound,
        "another tenant's visit is not found"
    );
    assert_eq!(
        refused(
            p.record_lab_results(authed(&staff, record("no-such-visit", one.clone())))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        refused(
            p.record_lab_results(authed(&clin, record(&visit_id, one.clone())))
                .await
        ),
        Code::PermissionDenied,
        "clinicians do not enter results"
    );
    let after = p
        .get_visit(authed(
            &clin,
            pb::GetVisitRequest {
                visit_id: visit_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.lab_results, visit.lab_results, "nothing was stored");

    // Audited: two entries, one of which replaced a result.
    let events = audit(ch, &town.admin_token, "").await.unwrap();
    let count = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.subject_id == "subj-labs-1")
            .count()
    };
    assert_eq!(count("visit.labs"), 2);
    assert_eq!(count("visit.labs.replace"), 1);

    // A clinician may confirm follow-up on blood results alone.
    let confirmed = p
        .confirm_outcome(authed(
            &clin,
            pb::ConfirmOutcomeRequest {
                visit_id: visit_id.clone(),
                outcome: pb::VisitOutcome::FollowUp as i32,
                note: "HbA1c to be repeated at the clinic".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.confirmed_outcome(), pb::VisitOutcome::FollowUp);

    // The report counts visits with out-of-range results per analyte.
    let report = p
        .get_program_report(authed(
            &staff,
            pb::GetProgramReportRequest {
                program_id: program_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let counts: Vec<(pb::LabAnalyte, u64)> = report
        .labs_out_of_range
        .iter()
        .map(|c| (c.analyte(), c.visits))
        .collect();
    assert_eq!(
        counts,
        [
            (pb::LabAnalyte::Hba1c, 1),
            (pb::LabAnalyte::Glucose, 0),
            (pb::LabAnalyte::TotalCholesterol, 0),
            (pb::LabAnalyte::HdlCholesterol, 1),
            (pb::LabAnalyte::Triglycerides, 0),
        ]
    );
    assert_eq!(report.sites[0].labs_out_of_range, report.labs_out_of_range);
    let totals = report.totals.unwrap();
    assert_eq!((totals.visits, totals.awaiting_review), (1, 0));
    let mut csv = report.csv.lines();
    assert!(
        csv.next()
            .unwrap()
            .ends_with(",visits,hba1c_out_of_range,glucose_out_of_range,total_cholesterol_out_of_range,hdl_cholesterol_out_of_range,triglycerides_out_of_range")
    );
    assert!(csv.next().unwrap().ends_with(",0,1,1,0,0,1,0"));

    // FHIR: laboratory Observations, valid against the R4 schema.
    let bundle = export(&mut p, &clin, &program_id, Some(&resident_id)).await;
    auscult_testkit::fhir::assert_valid(&bundle);
    let observations = lab_observations(&bundle);
    assert_eq!(observations.len(), 5);
    let a1c = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "4548-4")
        .expect("the HbA1c Observation");
    assert_eq!(a1c["valueQuantity"]["value"], 7.1);
    assert_eq!(a1c["valueQuantity"]["code"], "%");
    assert_eq!(a1c["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(a1c["interpretation"][0]["coding"][0]["code"], "H");
    assert_eq!(a1c["referenceRange"][0]["high"]["value"], 6.2);
    assert_eq!(
        a1c["subject"]["reference"],
        format!("Patient/{resident_id}")
    );
    let hdl = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "2085-9")
        .expect("the HDL Observation");
    assert_eq!(hdl["interpretation"][0]["coding"][0]["code"], "L");
    let programme = export(&mut p, &clin, &program_id, None).await;
    auscult_testkit::fhir::assert_valid(&programme);
    assert_eq!(lab_observations(&programme).len(), 5);

    ts.server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_results_sqlite() {
    labs(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_results_postgres() {
    labs(Db::Postgres).await;
}

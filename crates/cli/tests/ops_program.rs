//! A municipality's programme read through the `auscult` binary: `program report` (table and
//! `--csv`) and `fhir export` (the programme and one resident), against the real server started
//! in process. The programme itself is set up over gRPC as a programme's tablet app would (the
//! binary has no commands for it); the tenant and the staff member through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_testkit::{Db, authed, start};
use ops_support::{Shell, shown_token, word_after};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_programme_reported_and_exported_through_the_binary() {
    let ts = start(Db::Sqlite).await.expect("SQLite is always available");
    let admin = Shell {
        server: format!("http://{}", ts.server.addr),
        token: ts.admin_token.clone(),
    };
    let out = admin
        .run(&["tenant", "create", "Hill Town", "--kind", "municipality"])
        .await
        .ok();
    assert!(out.ends_with(" Hill Town (municipality)\n"), "{out}");
    let tenant = word_after(&out, "tenant ");
    let out = admin
        .run(&[
            "add-user",
            "Sato",
            "--role",
            "program-staff",
            "--tenant",
            &tenant,
        ])
        .await
        .ok();
    assert!(out.contains("Sato (program staff, tenant"), "{out}");
    let staff = admin.as_token(&shown_token(&out));
    let out = admin
        .run(&[
            "add-user",
            "Dr Ito",
            "--role",
            "clinician",
            "--tenant",
            &tenant,
        ])
        .await
        .ok();
    let clinician = admin.as_token(&shown_token(&out));

    // The programme: one site, two residents, one visit.
    let mut p = ProgramServiceClient::new(ts.channel.clone());
    let program = p
        .create_program(authed(
            &staff.token,
            pb::CreateProgramRequest {
                name: "Autumn check-ups".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("create program")
        .into_inner();
    let pid = program.program_id.clone();
    let site = p
        .add_site(authed(
            &staff.token,
            pb::AddSiteRequest {
                program_id: pid.clone(),
                name: "Community hall".into(),
                address: "1 Main St".into(),
            },
        ))
        .await
        .expect("add site")
        .into_inner();
    let mut residents = Vec::new();
    for subject in ["res-1", "res-2"] {
        let r = p
            .enroll_resident(authed(
                &staff.token,
                pb::EnrollResidentRequest {
                    program_id: pid.clone(),
                    subject_id: subject.into(),
                    family_name: "Yamada".into(),
                    given_name: "Hanako".into(),
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
            .into_inner();
        residents.push(r);
    }
    let visit = p
        .create_visit(authed(
            &staff.token,
            pb::CreateVisitRequest {
                program_id: pid.clone(),
                resident_id: residents[0].resident_id.clone(),
                site_id: site.site_id.clone(),
                visited_at: None,
            },
        ))
        .await
        .expect("create visit")
        .into_inner();

    // The fingertip test's results, printed classified with the proposal and its reason.
    let out = staff
        .run(&[
            "program",
            "labs",
            "--visit",
            &visit.visit_id,
            "--hba1c",
            "6.8",
            "--glucose",
            "130",
            "--hdl",
            "58",
            "--fasting",
        ])
        .await
        .ok();
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        line("HbA1c").starts_with("HbA1c 6.8 % 4.6–6.2 % (adult) HIGH 20"),
        "{out}"
    );
    assert!(
        line("Glucose").starts_with("Glucose 130 mg/dL 70–109 mg/dL (adult, fasting) HIGH"),
        "{out}"
    );
    assert!(line("HDL").contains("≥ 40 mg/dL (adult) normal"), "{out}");
    assert!(
        out.ends_with(
            "proposed outcome: refer\n  - HbA1c 6.8 % (≥ 6.5)\n  - Glucose 130 mg/dL (≥ 126, fasting)\n"
        ),
        "{out}"
    );
    let err = staff
        .run(&[
            "program",
            "labs",
            "--visit",
            &visit.visit_id,
            "--glucose",
            "7.1",
        ])
        .await
        .fails();
    assert!(
        err.starts_with("auscult: program labs: ") && err.contains("impossible"),
        "{err}"
    );

    // The report as a table: two enrolled, one attended with one visit awaiting review.
    let out = staff.run(&["program", "report", &pid]).await.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!("Programme Autumn check-ups ({pid}), report of 20"))
            && lines[0].ends_with('Z'),
        "{out}"
    );
    let header: Vec<&str> = lines[1]
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "enrolled",
            "attended",
            "flagged",
            "referred",
            "awaiting review",
            "visits"
        ],
        "{out}"
    );
    let counts = |label: &str| -> Vec<String> {
        let row = lines
            .iter()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} row:\n{out}"));
        row[label.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(counts("programme"), ["2", "1", "0", "0", "1", "1"], "{out}");
    assert_eq!(
        counts("site Community hall"),
        ["0", "1", "0", "0", "1", "1"],
        "{out}"
    );

    // As CSV: exactly the server's RFC 4180 text.
    let csv = staff.run(&["program", "report", &pid, "--csv"]).await.ok();
    let report = p
        .get_program_report(authed(
            &staff.token,
            pb::GetProgramReportRequest {
                program_id: pid.clone(),
            },
        ))
        .await
        .expect("report")
        .into_inner();
    assert_eq!(csv, report.csv);
    assert_eq!(csv.lines().count(), 3, "header, programme, site:\n{csv}");

    // FHIR (a clinician's export): the programme's Bundle and one resident's.
    let dir = tempfile::tempdir().expect("a temp dir");
    let all = dir.path().join("program.json");
    let out = clinician
        .run(&[
            "fhir",
            "export",
            "--program",
            &pid,
            "-o",
            all.to_str().unwrap(),
        ])
        .await
        .ok();
    assert!(
        out.starts_with("wrote ") && out.trim_end().ends_with("program.json"),
        "{out}"
    );
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&all).expect("the bundle")).expect("JSON");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let patients = |b: &serde_json::Value| {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Patient")
            .count()
    };
    assert_eq!(patients(&bundle), 2, "two residents");
    let one = dir.path().join("resident.json");
    clinician
        .run(&[
            "fhir",
            "export",
            "--program",
            &pid,
            "--resident",
            &residents[1].resident_id,
            "--base-url",
            "https://fhir.example.org/r4",
            "-o",
            one.to_str().unwrap(),
        ])
        .await
        .ok();
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&one).expect("the bundle")).expect("JSON");
    assert_eq!(patients(&bundle), 1, "one resident");
    assert!(
        bundle["entry"][0]["fullUrl"]
            .as_str()
            .expect("a fullUrl")
            .starts_with("https://fhir.example.org/r4/"),
        "{bundle}"
    );

    // Programme staff may neither export nor read cases; each refusal is said once.
    let err = staff
        .run(&[
            "fhir",
            "export",
            "--program",
            &pid,
            "-o",
            all.to_str().unwrap(),
        ])
        .await
        .fails();
    assert_eq!(
        err,
        "auscult: fhir export: permission denied: role not allowed for this call\n"
    );
    let err = staff.run(&["case", "list"]).await.fails();
    assert!(
        err.starts_with("auscult: case list: permission denied"),
        "{err}"
    );
    let err = staff
        .run(&["program", "report", "no-such-program"])
        .await
        .fails();
    assert!(err.starts_with("auscult: program report: "), "{err}");

    // A town hall's roster through the binary: a dry run stores nothing, the import stores the
    // good rows once, a second import stores nothing and says so; the bad row says why.
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "name,date of birth,phone\nKato Jun,1951-02-03,\nMori Aki,not a date,\nNoda Emi,S30.5.6,011-222-3333\n",
    )
    .unwrap();
    let import = |dry: bool| {
        let mut args = vec![
            "program",
            "import",
            pid.as_str(),
            "--csv",
            roster.to_str().unwrap(),
            "--consent-recorded-by",
            "Sato",
            "--consent-document",
            "2026-04",
        ];
        if dry {
            args.push("--dry-run");
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let count = async || {
        p.clone()
            .list_residents(authed(
                &staff.token,
                pb::ListResidentsRequest {
                    program_id: pid.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .residents
            .len()
    };
    let before = count().await;
    let args = import(true);
    let out = staff
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .ok();
    assert!(
        out.contains("line    3  refused: date of birth is not a date"),
        "{out}"
    );
    assert!(
        out.ends_with("2 to enrol, 0 already enrolled, 1 refused (dry run: nothing stored)\n"),
        "{out}"
    );
    assert_eq!(count().await, before);
    let args = import(false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = staff.run(&args).await.ok();
    assert!(out.contains("enrolled  Noda Emi (1955-05-06)"), "{out}");
    assert!(
        out.ends_with("2 enrolled, 0 already enrolled, 1 refused\n"),
        "{out}"
    );
    assert_eq!(count().await, before + 2);
    let out = staff.run(&args).await.ok();
    assert!(
        out.ends_with("0 enrolled, 2 already enrolled, 1 refused\n"),
        "{out}"
    );
    assert_eq!(count().await, before + 2);
    let err = clinician.run(&args).await.fails();
    assert!(err.starts_with("auscult: import residents: "), "{err}");

    ts.server.shutdown().await.expect("a clean shutdown");
}

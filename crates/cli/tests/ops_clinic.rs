//! A clinic set up and worked entirely through the `auscult` binary, as an operator types it:
//! `auscult serve` with zero configuration, `tenant`, `register-device`, `add-user`, `token`,
//! then (after a stethoscope uploads two synthetic recordings) `case list`, `case show` (text and
//! `--json`), `case review`, `case audit`, `case export-wav` and `case export-wfdb`, and the errors
//! an operator meets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::{connect, synth, upload, wait_analysed, whole_upload};
use ops_support::{Served, Shell, shown_token, word_after};

/// The metadata's `started_at` (1 780 000 000 s), as `case` commands must print it with TZ=UTC.
const RECORDED_AT: &str = "2026-05-28T20:26:40Z";

/// True when `s` looks like `YYYY-MM-DDTHH:MM:SSZ`.
fn is_iso_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

/// Each `: `-separated part of an error line appears once.
fn assert_said_once(stderr: &str) {
    let line = stderr.trim();
    let parts: Vec<&str> = line.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "{p:?} repeated in the error {line:?}"
        );
    }
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_worked_through_the_binary() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let served = Served::start(&dir.path().join("data"));
    let admin = served.admin_shell();

    // The system administrator sets up a clinic, its stethoscope and its people.
    let out = admin
        .run(&["tenant", "create", "North Clinic", "--kind", "clinic"])
        .await
        .ok();
    assert!(out.ends_with(" North Clinic (clinic)\n"), "{out}");
    let tenant = word_after(&out, "tenant ");
    let out = admin.run(&["tenant", "list"]).await.ok();
    let row = out
        .lines()
        .find(|l| l.starts_with(&tenant))
        .unwrap_or_else(|| panic!("tenant {tenant} not listed:\n{out}"));
    assert!(
        row.contains("North Clinic") && row.contains("clinic"),
        "{out}"
    );
    assert!(
        is_iso_utc(row.split_whitespace().last().expect("a created time")),
        "{row}"
    );

    let out = admin
        .run(&["register-device", "steth-1", "--tenant", &tenant])
        .await
        .ok();
    assert!(
        out.contains(&format!("steth-1 (device, tenant {tenant})")),
        "{out}"
    );
    let device_token = shown_token(&out);
    let out = admin
        .run(&[
            "add-user",
            "Dr Ada",
            "--role",
            "clinician",
            "--tenant",
            &tenant,
        ])
        .await
        .ok();
    assert!(out.contains("Dr Ada (clinician, tenant"), "{out}");
    let clinician_id = word_after(&out, "principal ");
    let clinician = admin.as_token(&shown_token(&out));

    // `auscult serve` said where its web console is; a person gets a console sign-in with the
    // password on standard input (never on the command line), and a short one is refused.
    assert!(
        served.printed.contains("web console: http://127.0.0.1:"),
        "{}",
        served.printed
    );
    let out = admin
        .run_with_stdin(
            &[
                "add-user",
                "Dr Cy",
                "--role",
                "clinician",
                "--tenant",
                &tenant,
                "--username",
                "dr.cy",
                "--password-stdin",
            ],
            "correct horse battery staple\n",
        )
        .await
        .ok();
    assert!(out.contains("web console sign-in: dr.cy"), "{out}");
    let err = admin
        .run_with_stdin(
            &[
                "add-user",
                "Dr Di",
                "--role",
                "clinician",
                "--tenant",
                &tenant,
                "--username",
                "dr.di",
                "--password-stdin",
            ],
            "short\n",
        )
        .await
        .fails();
    assert!(err.contains("at least 12 characters"), "{err}");
    let out = admin
        .run(&[
            "add-user", "Nurse Bo", "--role", "nurse", "--tenant", &tenant,
        ])
        .await
        .ok();
    let nurse_id = word_after(&out, "principal ");
    let nurse_first = admin.as_token(&shown_token(&out));

    // Rotating replaces the nurse's token (here with a lifetime of 7 days); revoking ends the new
    // one too; `token list` shows both, with their dates and states, never a secret.
    let out = admin
        .run(&["token", &nurse_id, "--lifetime-days", "7"])
        .await
        .ok();
    let nurse_second = admin.as_token(&shown_token(&out));
    assert_ne!(nurse_second.token, nurse_first.token);
    nurse_second.run(&["case", "list"]).await.ok();
    let out = admin.run(&["token", &nurse_id, "--revoke"]).await.ok();
    assert_eq!(out, format!("revoked 1 token(s) of {nurse_id}\n"));
    for shell in [&nurse_first, &nurse_second] {
        let err = shell.run(&["case", "list"]).await.fails();
        assert!(
            err.starts_with(
                "auscult: case list: not authenticated (check AUSCULT_TOKEN or --token-file)"
            ),
            "a replaced or revoked token: {err}"
        );
        assert_said_once(&err);
    }
    let out = admin
        .run(&["token", "list", "--principal", &nurse_id])
        .await
        .ok();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows.iter()
            .all(|r| r.contains(&nurse_id) && r.contains("nurse") && r.ends_with("revoked")),
        "{out}"
    );
    assert!(
        !out.contains(&nurse_first.token)
            && !out.contains(&nurse_second.token)
            && !out.contains("ausc_"),
        "{out}"
    );
    let out = admin
        .run(&["token", "list", "--tenant", &tenant])
        .await
        .ok();
    assert!(
        out.lines()
            .any(|r| r.contains("steth-1") && r.contains("never") && r.ends_with("live")),
        "{out}"
    );

    // The stethoscope uploads a murmur and a normal heart (the firmware's own protocol).
    let ch = connect(served.addr).await;
    let murmur_case = upload(
        &ch,
        &device_token,
        whole_upload("u-as", &synth(Scenario::AorticStenosis, 7, 20.0)),
    )
    .await
    .expect("upload the murmur")
    .case_id;
    let normal_case = upload(
        &ch,
        &device_token,
        whole_upload("u-normal", &synth(Scenario::Normal, 3, 20.0)),
    )
    .await
    .expect("upload the normal heart")
    .case_id;
    let analysed = wait_analysed(&ch, &clinician.token, &murmur_case).await;
    wait_analysed(&ch, &clinician.token, &normal_case).await;
    let analysis = analysed.analysis.clone().expect("an analysis");
    assert!(analysis.flagged, "an aortic stenosis must be flagged");
    let murmur = analysis.murmur.clone().expect("a murmur finding");

    worklist(&clinician, &murmur_case, &normal_case).await;
    show(&clinician, &murmur_case, &murmur).await;
    show_json(&clinician, &murmur_case, &murmur, dir.path()).await;

    // The clinician decides.
    let out = clinician
        .run(&[
            "case",
            "review",
            &murmur_case,
            "--verdict",
            "agree",
            "--findings",
            "harsh ejection murmur",
            "--refer",
        ])
        .await
        .ok();
    assert!(
        out.starts_with("review ") && out.ends_with(&format!(" of case {murmur_case}\n")),
        "{out}"
    );
    let out = clinician.run(&["case", "show", &murmur_case]).await.ok();
    assert!(out.contains("review       reviewed (agree)"), "{out}");
    assert!(
        out.contains(&format!("Z  {clinician_id} agrees with the engine; refer")),
        "{out}"
    );
    assert!(out.contains("    \"harsh ejection murmur\""), "{out}");
    let out = clinician
        .run(&["case", "list", "--status", "reviewed"])
        .await
        .ok();
    assert_eq!(out.lines().count(), 2, "one reviewed case:\n{out}");
    assert!(
        out.lines().nth(1).expect("a row").contains(&murmur_case)
            && out.contains("reviewed (agree)"),
        "{out}"
    );

    // The audit trail: who looked and decided, when, in ISO 8601.
    let out = clinician.run(&["case", "audit", &murmur_case]).await.ok();
    println!("$ auscult case audit {murmur_case}\n{out}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(out.starts_with("at "), "{out}");
    for action in ["case.get", "case.review"] {
        assert!(
            rows.iter().any(|r| r.contains(&clinician_id)
                && r.contains(" clinician ")
                && r.contains(action)),
            "no {action} by the clinician:\n{out}"
        );
    }
    for r in &rows {
        let at = r.split_whitespace().next().expect("a time");
        assert!(is_iso_utc(at), "{r}");
        assert!(r.contains(&murmur_case), "{r}");
    }

    // Exports.
    let wav = dir.path().join("murmur.wav");
    let out = clinician
        .run(&[
            "case",
            "export-wav",
            &murmur_case,
            "-o",
            wav.to_str().unwrap(),
        ])
        .await
        .ok();
    assert!(
        out.starts_with("wrote ") && out.contains("murmur.wav"),
        "{out}"
    );
    let reader = hound::WavReader::open(&wav).expect("a WAV file");
    let rec = analysed.recording.clone().expect("recording info");
    assert_eq!(reader.spec().sample_rate, rec.pcg_rate_hz);
    assert_eq!(u64::from(reader.duration()), rec.pcg_samples);
    let wfdb = dir.path().join("wfdb");
    let out = clinician
        .run(&[
            "case",
            "export-wfdb",
            &murmur_case,
            "-o",
            wfdb.to_str().unwrap(),
        ])
        .await
        .ok();
    for ext in [".hea", ".dat", ".seg"] {
        assert!(out.contains(ext), "no {ext} written:\n{out}");
    }
    let written = std::fs::read_dir(&wfdb).expect("the WFDB dir").count();
    assert_eq!(written, out.lines().count(), "{out}");

    // Errors an operator meets: each said once, on one line, with exit status 1.
    let err = clinician
        .run(&["case", "show", "no-such-case"])
        .await
        .fails();
    assert!(err.starts_with("auscult: case show: not found"), "{err}");
    assert_said_once(&err);
    let err = clinician
        .run(&[
            "case",
            "export-wav",
            &murmur_case,
            "-o",
            "/nonexistent-dir/x.wav",
        ])
        .await
        .fails();
    assert!(
        err.starts_with("auscult: writing /nonexistent-dir/x.wav: "),
        "{err}"
    );
    assert_said_once(&err);
    let err = Shell {
        server: "http://127.0.0.1:1".into(),
        token: clinician.token.clone(),
    }
    .run(&["case", "list"])
    .await
    .fails();
    assert!(
        err.starts_with("auscult: cannot connect to http://127.0.0.1:1: "),
        "{err}"
    );
    assert_said_once(&err);
    // The chain that used to read "invalid WAV: no RIFF tag found: no RIFF tag found".
    let notes = dir.path().join("notes.wav");
    std::fs::write(&notes, b"not a recording").expect("write");
    let err = clinician
        .run(&["plot", notes.to_str().unwrap(), "-o", "x.svg"])
        .await
        .fails();
    assert_eq!(err.matches("no RIFF tag found").count(), 1, "{err}");
    assert_said_once(&err);
    let line = clinician
        .run(&["analyze", notes.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(line.matches("no RIFF tag found").count(), 1, "{line}");
    let err = admin
        .run(&["case", "review", &murmur_case, "--verdict", "agree"])
        .await
        .fails();
    assert!(err.starts_with("auscult: case review: "), "{err}");
    assert_said_once(&err);
}

/// `case list`: the flagged murmur first, each row saying why, ISO times, no priority number.
async fn worklist(clinician: &Shell, murmur_case: &str, normal_case: &str) {
    let out = clinician.run(&["case", "list"]).await.ok();
    println!("$ auscult case list\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two cases:\n{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["recorded", "case", "subject", "site", "review", "why"],
        "{out}"
    );
    assert!(!out.contains("priority"), "{out}");
    let first = lines[1];
    assert!(
        first.starts_with(&format!("{RECORDED_AT}  {murmur_case}")),
        "the murmur first:\n{out}"
    );
    assert!(
        first.contains("subject-42") && first.contains("aortic") && first.contains("not reviewed"),
        "{first}"
    );
    assert!(first.contains("FLAGGED: "), "why it is first: {first}");
    assert!(lines[2].contains(normal_case), "{out}");
    let why = lines[2]
        .split("not reviewed")
        .nth(1)
        .expect("a why column")
        .trim();
    assert!(
        why.starts_with("FLAGGED: ") || why.starts_with("not flagged"),
        "{why}"
    );
}

/// `case show`: a summary a clinician reads, the findings in words.
async fn show(clinician: &Shell, case: &str, murmur: &pb::Murmur) {
    let out = clinician.run(&["case", "show", case]).await.ok();
    println!("$ auscult case show {case}\n{out}");
    for expected in [
        format!("Case {case}\n"),
        "  subject      subject-42\n".to_owned(),
        "  site         aortic, supine\n".to_owned(),
        format!("  recorded     {RECORDED_AT} (20.0 s)\n"),
        "  device       SN-0001 (principal ".to_owned(),
        "  state        analysed 20".to_owned(),
        "  flagged      YES: ".to_owned(),
        "  review       not reviewed\n".to_owned(),
        "\nFindings\n".to_owned(),
        "  heart rate   ".to_owned(),
        "  quality      ".to_owned(),
        "\nRecording\n".to_owned(),
        "\nReviews\n  none yet\n".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    let murmur_line = out
        .lines()
        .find(|l| l.starts_with("  murmur       "))
        .unwrap_or_else(|| panic!("no murmur line:\n{out}"));
    match murmur.status() {
        pb::MurmurStatus::Present => {
            assert!(murmur_line.contains("murmur") && murmur_line.contains("confidence"));
            if murmur.timing() == pb::MurmurTiming::Systolic {
                assert!(murmur_line.contains("systolic murmur"), "{murmur_line}");
            }
            if murmur.grade > 0 {
                let grade = format!("grade {}/6", murmur.grade);
                assert!(murmur_line.contains(&grade), "{murmur_line}");
            }
            let flagged = out
                .lines()
                .find(|l| l.starts_with("  flagged"))
                .expect("a flagged line");
            assert!(flagged.contains("murmur"), "{flagged}");
        }
        pb::MurmurStatus::Unknown => assert!(murmur_line.contains("cannot be judged")),
        _ => assert!(murmur_line.contains("no murmur")),
    }
    for debug in ["Some(", "seconds:", "nanos", "CaseSummary", "priority"] {
        assert!(!out.contains(debug), "{debug:?} in:\n{out}");
    }
}

/// `case show --json`: one object; `analysis` is the result contract `auscult analyze` writes.
async fn show_json(clinician: &Shell, case: &str, murmur: &pb::Murmur, dir: &std::path::Path) {
    let out = clinician.run(&["case", "show", case, "--json"]).await.ok();
    println!("$ auscult case show {case} --json\n{out}");
    assert_eq!(out.lines().count(), 1, "one JSON object:\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["case_id"], case);
    assert_eq!(v["recorded_at"], RECORDED_AT);
    assert!(is_iso_utc(v["analysed_at"].as_str().expect("analysed_at")));
    assert_eq!(v["analysis_state"], "done");
    let a = &v["analysis"];
    let status = match murmur.status() {
        pb::MurmurStatus::Present => "present",
        pb::MurmurStatus::Absent => "absent",
        _ => "unknown",
    };
    assert_eq!(a["murmur"]["status"], status);
    assert!(a["murmur"]["confidence"].is_number());
    assert!(
        a["murmur"].get("timing").is_some(),
        "timing is present, maybe null"
    );
    assert_eq!(a["flagged"], true);
    let reasons = a["flag_reasons"].as_array().expect("flag_reasons");
    assert!(!reasons.is_empty(), "a flag carries a reason: {a}");
    if status == "present" {
        assert!(reasons.contains(&serde_json::json!("murmur")), "{a}");
    }
    assert!(a["cycles"][0]["s1"].is_array() && a["cycles"][0]["s2"].is_array());
    assert!(a["quality"]["usable"].is_boolean());

    // Every field `auscult analyze` writes for a file is in the case's analysis, same shape.
    let wav = dir.join("for-analyze.wav");
    clinician
        .run(&["case", "export-wav", case, "-o", wav.to_str().unwrap()])
        .await
        .ok();
    let line = clinician
        .run(&["analyze", wav.to_str().unwrap()])
        .await
        .ok();
    let offline: serde_json::Value = serde_json::from_str(line.trim()).expect("a result line");
    let offline = offline.as_object().expect("an object");
    for (key, value) in offline {
        if key == "ensemble_cycles" {
            continue; // not kept by the server
        }
        let server = &a[key.as_str()];
        assert!(
            !server.is_null() || value.is_null() || key == "rhythm",
            "analysis lacks {key}: {a}"
        );
        if value.is_object() && server.is_object() {
            for k in value.as_object().expect("object").keys() {
                assert!(
                    server.get(k).is_some(),
                    "analysis.{key} lacks {k} that `auscult analyze` writes: {a}"
                );
            }
        }
    }
}

//! Runs the real `auscult` binary on the bundled PhysioNet 2016 fixtures in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/physionet2016")
}

fn auscult(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auscult"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run auscult")
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "auscult failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Copies the fixture records into `dir` (optionally a sub-folder).
fn copy_fixtures(dir: &Path, records: &[&str], exts: &[&str]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for r in records {
        for e in exts {
            std::fs::copy(
                fixtures().join(format!("{r}.{e}")),
                dir.join(format!("{r}.{e}")),
            )
            .expect("copy fixture");
        }
    }
}

/// The contract's fields, present and consistent with each other.
fn check_result(v: &Value, file: &str, want_ecg: bool) {
    assert_eq!(v["file"], file, "{v}");
    assert!(v.get("error").is_none(), "{v}");
    let duration = v["duration_s"].as_f64().expect("duration_s");
    assert_eq!(v["sample_rate_hz"].as_f64(), Some(2000.0));
    assert_eq!(v["ecg_used"].as_bool(), Some(want_ecg), "{file}");
    let hr = v["heart_rate_bpm"].as_f64().expect("heart rate measured");
    assert!((30.0..=220.0).contains(&hr), "heart rate {hr}");
    let all = v["cycles"].as_array().expect("cycles");
    // Cycles the edges cut (only their S2, or only their S1, heard) come first or last.
    for (i, c) in all.iter().enumerate() {
        if c["partial"] == true {
            assert!(
                i == 0 || i + 1 == all.len(),
                "partial cycle {i} of {}",
                all.len()
            );
            assert!(c["s1"].is_null() != c["s2"].is_null(), "one sound: {c}");
            let iv = if c["s1"].is_null() {
                &c["s2"]
            } else {
                &c["s1"]
            };
            let (a, b) = (iv[0].as_f64().expect("f"), iv[1].as_f64().expect("f"));
            assert!(0.0 <= a && a < b && b <= duration + 1e-6, "{c}");
            assert_eq!(c["accepted"], false);
        }
    }
    let cycles: Vec<&serde_json::Value> = all.iter().filter(|c| c["partial"] != true).collect();
    assert!(
        cycles.len() as f64 >= duration * hr / 60.0 * 0.5,
        "only {} cycles",
        cycles.len()
    );
    for c in &cycles {
        let s1 = c["s1"].as_array().expect("s1");
        let s2 = c["s2"].as_array().expect("s2");
        let (a, b) = (s1[0].as_f64().expect("f"), s1[1].as_f64().expect("f"));
        let (x, y) = (s2[0].as_f64().expect("f"), s2[1].as_f64().expect("f"));
        assert!(
            0.0 <= a && a < b && b <= x && x < y && y <= duration + 1e-6,
            "cycle {c}"
        );
        if let Some(r) = c["r_s"].as_f64() {
            assert!(
                (0.0..duration).contains(&r) && r <= a + 0.1,
                "R peak {r} vs S1 {a}"
            );
        }
    }
    // Gated cycles open on an R peak (only a cycle cut by the recording's start may lack one).
    let with_r = cycles.iter().filter(|c| c["r_s"].is_number()).count();
    if want_ecg {
        assert!(
            with_r + 2 >= cycles.len(),
            "{with_r} of {} cycles have an R peak",
            cycles.len()
        );
    } else {
        assert_eq!(with_r, 0);
    }
    let status = v["murmur"]["status"].as_str().expect("murmur status");
    assert!(["present", "absent", "unknown"].contains(&status));
    let timing = &v["murmur"]["timing"];
    assert!(
        timing.is_null()
            || ["systolic", "diastolic", "both"].contains(&timing.as_str().expect("timing"))
    );
    if status == "unknown" {
        assert!(
            v["murmur"]["reason"].is_string(),
            "unknown must say why: {v}"
        );
    }
    assert!(v["quality"]["usable"].is_boolean());
    assert!(v["flagged"].is_boolean());
}

/// Reads `<rec>.segments.tsv` centres of S1 and S2 outside noise spans.
fn reference_centres(rec: &str) -> (Vec<f64>, Vec<f64>) {
    let text =
        std::fs::read_to_string(fixtures().join(format!("{rec}.segments.tsv"))).expect("tsv");
    let rows: Vec<(f64, f64, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].parse().expect("start"),
                f[1].parse().expect("end"),
                f[2].to_string(),
            )
        })
        .collect();
    let noise: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.2 == "noise")
        .map(|r| (r.0, r.1))
        .collect();
    let centres = |state: &str| {
        rows.iter()
            .filter(|r| r.2 == state)
            .map(|r| (r.0 + r.1) / 2.0)
            .filter(|t| !noise.iter().any(|n| n.0 <= *t && *t <= n.1))
            .collect()
    };
    (centres("S1"), centres("S2"))
}

/// Fraction of reference events matched one to one by a detection within 60 ms.
fn recall(reference: &[f64], detected: &[f64]) -> f64 {
    let mut used = vec![false; detected.len()];
    let mut hits = 0;
    for r in reference {
        if let Some((j, _)) = detected
            .iter()
            .enumerate()
            .filter(|(j, d)| !used[*j] && (*d - r).abs() <= 0.06)
            .min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs()))
        {
            used[j] = true;
            hits += 1;
        }
    }
    hits as f64 / reference.len().max(1) as f64
}

/// Minimum share of the hand-labelled S1 and S2 found within ±60 ms on the ECG-gated fixtures.
const FIXTURE_SEGMENTATION_RECALL_FLOOR: f64 = 0.70;

#[test]
fn analyses_wfdb_fixtures_with_their_ecg() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixtures(dir.path(), &["a0131", "a0035"], &["hea", "wav", "dat"]);
    let out = auscult(&["analyze", "a0131.hea", "./a0035.hea"], dir.path());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    check_result(&lines[0], "a0131.hea", true);
    check_result(&lines[1], "./a0035.hea", true);
    for (v, rec) in lines.iter().zip(["a0131", "a0035"]) {
        let (s1_ref, s2_ref) = reference_centres(rec);
        let centre = |key: &str| -> Vec<f64> {
            v["cycles"]
                .as_array()
                .expect("cycles")
                .iter()
                .filter(|c| !c[key].is_null())
                .map(|c| (c[key][0].as_f64().expect("f") + c[key][1].as_f64().expect("f")) / 2.0)
                .collect()
        };
        let (r1, r2) = (
            recall(&s1_ref, &centre("s1")),
            recall(&s2_ref, &centre("s2")),
        );
        assert!(
            r1 >= FIXTURE_SEGMENTATION_RECALL_FLOOR && r2 >= FIXTURE_SEGMENTATION_RECALL_FLOOR,
            "{rec}: S1 recall {r1:.3}, S2 recall {r2:.3}"
        );
    }
}

#[test]
fn unreadable_recordings_get_error_lines_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixtures(dir.path(), &["a0131"], &["wav"]);
    std::fs::write(dir.path().join("garbage.wav"), b"RIFF this is not audio").expect("write");
    std::fs::write(
        dir.path().join("lying.hea"),
        "lying 1 2000 99999999\nlying.dat 16 1 16 0 0 0 0 PCG\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("lying.dat"), [0u8; 64]).expect("write");
    let out = auscult(
        &[
            "analyze",
            "garbage.wav",
            "missing.wav",
            "lying.hea",
            "a0131.wav",
        ],
        dir.path(),
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for (v, f) in lines
        .iter()
        .zip(["garbage.wav", "missing.wav", "lying.hea"])
    {
        assert_eq!(v["file"], f);
        let e = v["error"].as_str().expect("error line");
        assert!(!e.is_empty());
    }
    assert!(
        lines[2]["error"].as_str().expect("e").contains("truncated"),
        "{}",
        lines[2]
    );
    check_result(&lines[3], "a0131.wav", false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 of 4"));
}

#[test]
fn directories_are_walked_and_headers_preferred() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixtures(
        &dir.path().join("data/deep"),
        &["a0131"],
        &["hea", "wav", "dat"],
    );
    copy_fixtures(&dir.path().join("data"), &["a0035"], &["wav"]);
    std::fs::write(dir.path().join("data/readme.txt"), "not a recording").expect("write");
    let out = auscult(&["analyze", "data", "--jobs", "2"], dir.path());
    let lines = json_lines(&out);
    let files: Vec<&str> = lines
        .iter()
        .map(|v| v["file"].as_str().expect("file"))
        .collect();
    assert_eq!(files, vec!["data/a0035.wav", "data/deep/a0131.hea"]);
    check_result(&lines[0], "data/a0035.wav", false);
    check_result(&lines[1], "data/deep/a0131.hea", true);

    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let out = auscult(&["analyze", "empty"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .wav or .hea recordings found"));
}

#[test]
fn ecg_from_an_r_peak_csv_gates_a_lone_wav() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixtures(dir.path(), &["a0131"], &["hea", "wav", "dat"]);
    // R peaks from the ECG-gated analysis of the same record, written as a device would.
    let gated = json_lines(&auscult(&["analyze", "a0131.hea"], dir.path()));
    let peaks: Vec<f64> = gated[0]["cycles"]
        .as_array()
        .expect("cycles")
        .iter()
        .filter_map(|c| c["r_s"].as_f64())
        .collect();
    assert!(peaks.len() > 10);
    let csv: String = std::iter::once("beat,r_s\n".to_string())
        .chain(peaks.iter().enumerate().map(|(i, t)| format!("{i},{t}\n")))
        .collect();
    std::fs::write(dir.path().join("peaks.csv"), csv).expect("write");
    let out = auscult(
        &[
            "analyze",
            "a0131.wav",
            "--ecg",
            "peaks.csv",
            "-o",
            "out.jsonl",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "results go to -o");
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).expect("out.jsonl");
    let v: Value = serde_json::from_str(text.trim()).expect("json");
    check_result(&v, "a0131.wav", true);

    // A bad CSV is the command's failure (exit 1), not a recording's.
    std::fs::write(dir.path().join("bad.csv"), "r_s\n1.0\n0.5\n").expect("write");
    let out = auscult(&["analyze", "a0131.wav", "--ecg", "bad.csv"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not after the previous"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixtures(dir.path(), &["a0131", "a0035"], &["wav"]);
    let out = auscult(
        &["analyze", "a0131.wav", "a0035.wav", "--ecg", "x.csv"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(auscult(&["analyze"], dir.path()).status.code(), Some(2));
    assert_eq!(
        auscult(&["analyze", "a0131.wav", "--format", "xml"], dir.path())
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn text_format_is_a_readable_summary() {
    let out = auscult(&["analyze", "--format", "text", "a0131.hea"], &fixtures());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("a0131.hea: 19.5 s at 2000 Hz, gated on the ECG"),
        "{text}"
    );
    assert!(text.contains("murmur: "), "{text}");
    assert!(text.contains("heart rate"), "{text}");
}

#[test]
fn a_murmur_whose_evidence_repeats_in_systole_is_called_systolic() {
    // training-a/a0174 (Abnormal), gated on its ECG: over 25 accepted beats the murmur evidence
    // comes back in systole (and never in diastole), systole stands 1.6 (natural log of power)
    // louder than diastole relative to the heart sounds. The timing model, fitted on Yaseen's
    // short recordings, calls it diastolic; over this many beats the repeating phase decides.
    let out = auscult(&["analyze", "a0174.hea"], &fixtures());
    let lines = json_lines(&out);
    check_result(&lines[0], "a0174.hea", true);
    let murmur = &lines[0]["murmur"];
    assert_eq!(murmur["status"], "present", "{murmur}");
    assert_eq!(murmur["timing"], "systolic", "{murmur}");
    let text = auscult(&["analyze", "--format", "text", "a0174.hea"], &fixtures());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("systolic"), "{text}");
    assert!(!text.contains("diastolic"), "{text}");
}

//! Leave-one-database-out evaluation over `../shared/data`, failing below floors set just under
//! what was measured (crates/train/RESULTS.md, 2026-12-05: repeat gate, phase mirror, murmur likelihood ratio,
//! ECG gating only on a lead that keeps a rate, a physiological floor on the systolic interval, a
//! murmur repeating over three quarters of its phase or, in the whole cycles, over the last two
//! bins of its phase: Yaseen 0.987, timing 0.963; 2026-12-06: five bagged models per classifier,
//! the review threshold for specificity 0.9, the least repeat share fixed at 0.7 and a child's
//! heart rate: PhysioNet a 0.574, b 0.593, c 0.812, d 0.661, pooled 0.595, PASCAL 0.751; then
//! a second decoding for irregular rhythms from the sound alone: a 0.620, b 0.587, c 0.833,
//! d 0.679, pooled 0.617, PASCAL 0.754; then an irregular rhythm only from ten intervals or more:
//! b 0.595, pooled 0.623, least specificity of `flagged` 0.881; then an irregular rhythm decoded
//! at twice the sound's rate too: a 0.617, b 0.612, c 0.854, d 0.696, pooled 0.630, PASCAL
//! 0.757, least 0.887; then a rate swinging smoothly with breathing not called irregular: a
//! 0.651, pooled 0.634, least 0.894; then a slow rate from the sound alone checked against the
//! envelope without the breaths' swells: a 0.649, b 0.625, c 0.833, pooled 0.632, timing 0.967,
//! least 0.865; then a fast rate from the sound alone decoded at half the rate too: a 0.644,
//! d 0.679, pooled 0.625; then a heart faster than 120 bpm read at its own rate from the sound
//! alone: a 0.656, b 0.603, c 0.854, d 0.679, pooled 0.620, PASCAL 0.753, least 0.832; then a
//! fast heart's ECG read again at a lower clearance level, which moves one recording, a0161:
//! a 0.656, b 0.612, c 0.833, d 0.696, pooled 0.625, least 0.839; then a lead the heart sounds
//! do not follow set aside, which moves a0023 and a0090: a 0.652, b 0.613, pooled 0.628, least
//! 0.860; then a soft S2 after a loud systolic murmur held to one systole from the sound alone,
//! which moves 21 recordings: a 0.640, b 0.601, c 0.854, pooled 0.629, PASCAL 0.764, least
//! 0.906; then a murmur that fills the start of its phase counts in the repeat test, which
//! changes 8 calls: b 0.606, pooled 0.631, PASCAL 0.771), and
//! when `flagged` keeps less than [`LEAST_FLAG_SPECIFICITY`] on the normals of any database left
//! out (issue 8's goal). Skips, saying so, when the data is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (held-out database, measure, floor on the last column of its row in lodo.md).
const FLOORS: [(&str, &str, f64); 8] = [
    ("training-a", "flagged vs Abnormal", 0.63),
    ("training-b", "flagged vs Abnormal", 0.59),
    ("training-c", "flagged vs Abnormal", 0.81),
    ("training-d", "flagged vs Abnormal", 0.66),
    ("PhysioNet a–d pooled", "flagged vs Abnormal", 0.61),
    ("yaseen2018", "murmur", 0.97),
    ("yaseen2018", "murmur timing accuracy", 0.96),
    ("pascal", "murmur", 0.76),
];

/// The least specificity of `flagged` on the normals of every database left out (measured
/// 0.832 on training-b, the least; issue 8's goal).
const LEAST_FLAG_SPECIFICITY: f64 = 0.80;

fn data_dir() -> Option<PathBuf> {
    let p = std::env::var_os("AUSCULT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.join("physionet2016/labels.csv").is_file().then_some(p)
}

/// A results folder removed when the test ends.
struct Dir(PathBuf);

impl Dir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn leave_one_database_out_meets_the_floors() {
    let Some(data) = data_dir() else {
        eprintln!("skipped: no ../shared/data (set AUSCULT_DATA to run the LODO evaluation)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("auscult-lodo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("results dir");
    let out = Dir(dir);
    let run = Command::new(env!("CARGO_BIN_EXE_auscult-train"))
        .args(["lodo", "--data"])
        .arg(&data)
        .arg("--results")
        .arg(out.path())
        .output()
        .expect("run auscult-train lodo");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = std::fs::read_to_string(out.path().join("lodo.md")).expect("lodo.md");
    eprintln!("{table}");
    let mut failures = Vec::new();
    for (db, measure, floor) in FLOORS {
        let row = table
            .lines()
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|c| c.len() > 6 && c[1] == db && c[2] == measure)
            .unwrap_or_else(|| panic!("no row for {db} {measure}"));
        let got: f64 = row[6]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number in {row:?}"));
        if got < floor {
            failures.push(format!("{db} {measure}: {got} < floor {floor}"));
        }
    }
    // The second table: | database | recordings | normals | Sp of `flagged` on normals | ...
    let mut specificity_rows = 0;
    for c in table
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|c| c.len() > 7 && c[2].parse::<u32>().is_ok() && c[3].parse::<u32>().is_ok())
    {
        specificity_rows += 1;
        let sp: f64 = c[4].parse().unwrap_or_else(|_| panic!("no Sp in {c:?}"));
        if sp < LEAST_FLAG_SPECIFICITY {
            failures.push(format!(
                "{}: Sp of flagged on normals {sp} < {LEAST_FLAG_SPECIFICITY}",
                c[1]
            ));
        }
    }
    assert_eq!(specificity_rows, 6, "one specificity row per database");
    // How often calls of each stated confidence were right: present and absent calls of the
    // two databases with murmur labels.
    let reliability_rows = table
        .lines()
        .filter(|l| l.contains("| present (") || l.contains("| absent ("))
        .count();
    assert_eq!(reliability_rows, 4, "the confidence table:\n{table}");
    for db in [
        "training-a",
        "training-b",
        "training-c",
        "training-d",
        "yaseen2018",
        "pascal",
    ] {
        let lines = std::fs::read_to_string(out.path().join(format!("{db}.jsonl"))).expect("jsonl");
        for l in lines.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let reasons = v["flag_reasons"].as_array().expect("flag_reasons");
            assert_eq!(
                v["flagged"].as_bool(),
                Some(!reasons.is_empty()),
                "every flag has a reason and every reason flags: {l}"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "below the floors:\n{}",
        failures.join("\n")
    );
}

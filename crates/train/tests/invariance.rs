//! Device invariance on real recordings (issue 8: "the same real and synthetic recordings with
//! gain ×0.1 and ×10, a first-order device response, and white noise at 20 dB SNR keep their
//! murmur status and flag reasons"): `auscult-train invariance` over every recording of
//! each database in `../shared/data`, with the committed models. Gain must change nothing; the
//! device responses and the noise keep at least the floors below, set just under what was
//! measured (crates/train/RESULTS.md, twelfth stop). Skips, saying so, when the data is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (variant, least share keeping the murmur status, least share keeping the flag reasons), over
/// all databases together.
const FLOORS: [(&str, f64, f64); 6] = [
    ("gain x0.1", 1.0, 1.0),
    ("gain x10", 1.0, 1.0),
    ("high-pass 30 Hz", 0.95, 0.92),
    ("high-pass 150 Hz", 0.92, 0.86),
    ("low-pass 300 Hz", 0.97, 0.94),
    ("white noise 20 dB SNR", 0.92, 0.81),
];

fn data_dir() -> Option<PathBuf> {
    let p = std::env::var_os("AUSCULT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.join("physionet2016/labels.csv").is_file().then_some(p)
}

/// The share at the start of a table cell such as "0.966 (1364/1412; 0.96–0.97)".
fn share(cell: &str) -> f64 {
    cell.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no share in {cell:?}"))
}

#[test]
fn real_recordings_keep_their_findings_across_devices() {
    let Some(data) = data_dir() else {
        eprintln!("skipped: no ../shared/data (set AUSCULT_DATA to run the invariance test)");
        return;
    };
    let out = std::env::temp_dir().join(format!("auscult-invariance-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_auscult-train"))
        .args(["invariance", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run auscult-train invariance");
    let table = std::fs::read_to_string(out.join("invariance.md"));
    let flips = std::fs::read_to_string(out.join("invariance_flips.tsv")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = table.expect("invariance.md");
    eprintln!("{table}");
    let mut failures = Vec::new();
    for (variant, least_status, least_reasons) in FLOORS {
        let row = table
            .lines()
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|c| c.len() > 5 && c[1] == "all" && c[2] == variant)
            .unwrap_or_else(|| panic!("no row for {variant}"));
        let (status, reasons) = (share(row[3]), share(row[4]));
        if status < least_status {
            failures.push(format!(
                "{variant}: murmur status kept {status} < {least_status}"
            ));
        }
        if reasons < least_reasons {
            failures.push(format!(
                "{variant}: flag reasons kept {reasons} < {least_reasons}"
            ));
        }
    }
    // A recording's row per database too: 6 databases × 6 variants, and every one analysed.
    let rows = table
        .lines()
        .filter(|l| {
            l.starts_with("| training-") || l.starts_with("| yaseen") || l.starts_with("| pascal")
        })
        .count();
    assert_eq!(rows, 36, "one row per database and variant");
    assert!(
        failures.is_empty(),
        "{}\nchanged findings:\n{flips}",
        failures.join("\n")
    );
}

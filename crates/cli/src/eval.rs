//! `auscult eval`: analyse every labelled recording of the public datasets and print the
//! scorer's numbers. With the committed models that is an in-sample run (they were fitted on
//! these recordings); `--lodo` instead fits the models leaving each database out in turn
//! (`auscult_train::lodo`) and scores every database with the models that never saw it: the
//! figure to expect on a new stethoscope or site.
//!
//! PhysioNet 2016 records with an ECG are read through their `.hea` (so the analysis is gated on
//! the ECG), the rest through their `.wav`. Results go to `<out>/<dataset>.jsonl`, the scorer's
//! JSON report to `<out>/<dataset>.score.json`. The scores come from `shared/eval/score.py`
//! alone: this module must never compute or adjust a score itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::batch::{BatchOptions, run_batch};
use crate::inputs::Input;

/// The datasets scored, in order.
pub const DATASETS: [&str; 3] = ["physionet2016", "yaseen2018", "pascal"];

/// Options of `auscult eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The folder holding physionet2016/, yaseen2018/ and pascal/ (the scorer is looked for in
    /// ../eval/score.py beside it).
    #[arg(long, env = "AUSCULT_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Where to write the JSONL results and score reports.
    #[arg(long, default_value = "target/eval")]
    pub out: PathBuf,
    /// Only these datasets (default: all three).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Worker threads (default: every core).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Leave one database out: fit the models without each database in turn and score it with
    /// them (PhysioNet 2016's four parts, Yaseen 2018 and PASCAL set B; about 10 s on one core),
    /// writing the held-out JSON Lines and the table `lodo.md` to `--out`.
    #[arg(long)]
    pub lodo: bool,
}

/// The recordings of one dataset, from its `labels.csv` (read by `auscult-recording`).
pub fn dataset_inputs(root: &Path, dataset: &str) -> anyhow::Result<Vec<Input>> {
    let labels = root.join("labels.csv");
    let rows = auscult_recording::read_labels_csv(&labels)
        .with_context(|| format!("cannot read {}", labels.display()))?;
    Ok(rows
        .iter()
        .map(|row| {
            let ecg = (dataset == "physionet2016")
                .then(|| row.get("ecg"))
                .flatten();
            let rel = ecg.unwrap_or(&row.file);
            Input {
                display: rel.to_string(),
                path: root.join(rel),
                problem: None,
            }
        })
        .collect())
}

/// Runs the scorer on a results file and returns its JSON report.
pub fn score(scorer: &Path, root: &Path, results: &Path) -> anyhow::Result<Value> {
    let out = std::process::Command::new("python3")
        .arg(scorer)
        .arg(root)
        .arg(results)
        .arg("--json")
        .output()
        .context("cannot run python3")?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            scorer.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("the scorer's output is not JSON")
}

fn num(v: &Value, path: &[&str]) -> String {
    let mut v = v;
    for p in path {
        v = &v[p];
    }
    match v.as_f64() {
        Some(x) if v.is_u64() => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
        None => "-".into(),
    }
}

/// One or two table rows for a dataset's report.
pub fn table_rows(dataset: &str, r: &Value) -> Vec<String> {
    if dataset == "physionet2016" {
        let seg = |g: &str, k: &str| num(r, &["segmentation", g, k]);
        let flag = |k: &str| num(r, &["flagged_vs_abnormal", k]);
        vec![
            format!(
                "  segmentation F1 {} (S1 {}, S2 {}); with ECG {}, without {}",
                seg("all", "f1"),
                seg("all", "S1_f1"),
                seg("all", "S2_f1"),
                seg("ecg", "f1"),
                seg("no_ecg", "f1"),
            ),
            format!(
                "  flagged vs abnormal: Se {} Sp {} mean {} (n {}, missing {})",
                flag("sensitivity"),
                flag("specificity"),
                flag("balanced_accuracy"),
                flag("n"),
                flag("missing_or_error"),
            ),
        ]
    } else {
        let m = |k: &str| num(r, &["murmur", k]);
        let mut rows = vec![format!(
            "  murmur: Se {} Sp {} mean {} (n {}, unknown {}, missing {})",
            m("sensitivity"),
            m("specificity"),
            m("balanced_accuracy"),
            m("n"),
            m("unknown"),
            m("missing_or_error"),
        )];
        if dataset == "yaseen2018" {
            rows.push(format!(
                "  murmur timing accuracy {}",
                num(r, &["murmur_timing", "timing_accuracy"])
            ));
        }
        rows
    }
}

/// Runs `auscult eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let scorer = args.data.join("../eval/score.py");
    if !args.data.is_dir() {
        bail!(
            "no data folder at {} (set --data or AUSCULT_DATA)",
            args.data.display()
        );
    }
    if !scorer.is_file() {
        bail!("no scorer at {}", scorer.display());
    }
    let wanted: Vec<&str> = if args.datasets.is_empty() {
        DATASETS.to_vec()
    } else {
        args.datasets.iter().map(String::as_str).collect()
    };
    if let Some(bad) = wanted.iter().find(|d| !DATASETS.contains(d)) {
        eprintln!("auscult: unknown dataset {bad:?} (expected one of {DATASETS:?})");
        return Ok(ExitCode::from(2));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.lodo {
        return run_lodo(args, &scorer, &wanted);
    }
    let opts = BatchOptions {
        jobs: args.jobs,
        progress: true,
        ..BatchOptions::default()
    };
    println!("auscult eval on {}", args.data.display());
    for dataset in wanted {
        let root = args.data.join(dataset);
        let inputs = dataset_inputs(&root, dataset)?;
        let jsonl = args.out.join(format!("{dataset}.jsonl"));
        let mut lines = String::new();
        let start = Instant::now();
        let summary = run_batch(&inputs, &opts, |o| {
            lines.push_str(&o.to_json());
            lines.push('\n');
            Ok(())
        })?;
        let secs = start.elapsed().as_secs_f64();
        std::fs::write(&jsonl, lines)
            .with_context(|| format!("cannot write {}", jsonl.display()))?;
        let report = score(&scorer, &root, &jsonl)?;
        let score_path = args.out.join(format!("{dataset}.score.json"));
        std::fs::write(&score_path, report.to_string())
            .with_context(|| format!("cannot write {}", score_path.display()))?;
        println!(
            "{dataset}: {} recordings ({} errors) in {secs:.1} s",
            summary.analysed + summary.failed,
            summary.failed
        );
        for row in table_rows(dataset, &report) {
            println!("{row}");
        }
    }
    println!("results and score reports in {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// `auscult eval --lodo`: the held-out predictions of `auscult_train::lodo`, scored by the
/// scorer alone.
fn run_lodo(args: &EvalArgs, scorer: &Path, wanted: &[&str]) -> anyhow::Result<ExitCode> {
    println!(
        "auscult eval --lodo on {}: each database scored by models fitted without it",
        args.data.display()
    );
    let start = Instant::now();
    auscult_train::lodo(&args.data, &args.out).context("leave-one-database-out failed")?;
    println!(
        "models fitted and held-out predictions written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    for dataset in wanted {
        let jsonl = args.out.join(format!("{dataset}.jsonl"));
        let report = score(scorer, &args.data.join(dataset), &jsonl)?;
        let score_path = args.out.join(format!("{dataset}.score.json"));
        std::fs::write(&score_path, report.to_string())
            .with_context(|| format!("cannot write {}", score_path.display()))?;
        println!("{dataset}, held out:");
        for row in table_rows(dataset, &report) {
            println!("{row}");
        }
    }
    println!(
        "per-database table with 95 % intervals: {}",
        args.out.join("lodo.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physionet_uses_headers_when_labelled() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("labels.csv"),
            "file,label,ecg,segments,fs_hz,duration_s\ntraining-a/a0001.wav,Abnormal,training-a/a0001.hea,x,2000,1\ntraining-b/b0001.wav,Normal,,x,2000,1\n",
        )
        .expect("write");
        let got: Vec<String> = dataset_inputs(dir.path(), "physionet2016")
            .expect("inputs")
            .into_iter()
            .map(|i| i.display)
            .collect();
        assert_eq!(got, vec!["training-a/a0001.hea", "training-b/b0001.wav"]);
        let got = dataset_inputs(dir.path(), "pascal").expect("inputs");
        assert_eq!(got[0].display, "training-a/a0001.wav");
    }

    #[test]
    fn table_reads_the_scorer_report() {
        let r: Value = serde_json::from_str(
            r#"{"murmur": {"n": 200, "sensitivity": 0.8, "specificity": 0.9, "balanced_accuracy": 0.85, "unknown": 3, "missing_or_error": 0},
                "murmur_timing": {"n": 300, "timing_accuracy": 0.7}}"#,
        )
        .expect("json");
        let rows = table_rows("yaseen2018", &r);
        assert_eq!(
            rows[0],
            "  murmur: Se 0.800 Sp 0.900 mean 0.850 (n 200, unknown 3, missing 0)"
        );
        assert_eq!(rows[1], "  murmur timing accuracy 0.700");
    }
}

//! `auscult-train`: fits the dsp crate's learned models on the labelled recordings in
//! `shared/data` and writes them to `crates/dsp/params/murmur.txt`; also runs the analysis over a
//! dataset and writes result-contract JSON Lines for `shared/eval/score.py`.
//!
//! ```text
//! cargo run --release -p auscult-train -- train --data /work/shared/data --out crates/dsp/params/ \
//!     [--folds 5] [--heldout DIR]
//! cargo run --release -p auscult-train -- analyze --dataset /work/shared/data/yaseen2018 --out y.jsonl
//! ```
//!
//! `train` first reports cross-validated (grouped by patient where the file name tells it)
//! held-out results: with `--heldout DIR` it writes `DIR/<dataset>.jsonl` made of out-of-fold
//! predictions, to be scored by `score.py`. Then it fits on everything and writes the parameters.

mod data;
mod gbt;
mod logistic;
mod report;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use auscult_dsp::analysis::{Analyzer, Evidence};
use auscult_dsp::features::{FEATURE_NAMES, NUM_FEATURES};
use auscult_dsp::murmur::{Logistic, Models, input_index, sigmoid};
use auscult_dsp::{EcgInput, Hz, Recording, Signal};
use clap::{Parser, Subcommand};

use data::{Item, read_labels, read_physionet_ecg, read_wav};
use logistic::{Example, fit};

#[derive(Debug, Parser)]
#[command(
    name = "auscult-train",
    about = "Train and evaluate the auscult murmur models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cross-validate, then fit on all data and write `<out>/murmur.txt`.
    Train {
        /// Folder holding yaseen2018/, pascal/ and physionet2016/.
        #[arg(long)]
        data: PathBuf,
        /// Folder to write murmur.txt into (crates/dsp/params/).
        #[arg(long)]
        out: PathBuf,
        /// Number of cross-validation folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Write out-of-fold result JSON Lines per dataset into this folder.
        #[arg(long)]
        heldout: Option<PathBuf>,
        /// Fit plain logistic regressions instead of boosted trees (for comparison).
        #[arg(long)]
        linear: bool,
        /// Boosting rounds (trees per model).
        #[arg(long, default_value_t = 150)]
        rounds: usize,
        /// Depth of each tree.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Shrinkage per tree.
        #[arg(long, default_value_t = 0.08)]
        rate: f64,
    },
    /// Analyse every recording of a dataset with the committed models and write JSON Lines.
    Analyze {
        /// A dataset folder holding labels.csv.
        #[arg(long)]
        dataset: PathBuf,
        /// Output JSON Lines file.
        #[arg(long)]
        out: PathBuf,
    },
}

const DATASETS: [&str; 3] = ["yaseen2018", "pascal", "physionet2016"];

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train {
            data,
            out,
            folds,
            heldout,
            linear,
            rounds,
            depth,
            rate,
        } => {
            let trees = (!linear).then_some(gbt::Settings {
                rounds,
                depth,
                rate,
                ..TREES
            });
            train(&data, &out, folds.max(2), heldout.as_deref(), trees)
        }
        Command::Analyze { dataset, out } => analyze(&dataset, &out),
    }
}

/// Reads one item and computes its evidence.
fn evidence_of(analyzer: &mut Analyzer, item: &Item) -> Result<Evidence> {
    let path = item.root.join(&item.file);
    let (pcg, rate) = read_wav(&path)?;
    let ecg_hea = item.label("ecg");
    let ecg = if ecg_hea.is_empty() {
        None
    } else {
        read_physionet_ecg(&item.root.join(ecg_hea))?
    };
    let rec = Recording {
        pcg: Signal {
            samples: &pcg,
            rate: Hz(rate),
        },
        ecg: ecg.as_ref().map(|(s, r)| {
            EcgInput::Raw(Signal {
                samples: s,
                rate: Hz(*r),
            })
        }),
    };
    Ok(analyzer.evidence(&rec)?)
}

fn analyze(dataset: &Path, out: &Path) -> Result<()> {
    let items = read_labels(dataset)?;
    let mut analyzer = Analyzer::new();
    let mut file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    for item in &items {
        let line = match evidence_of(&mut analyzer, item) {
            Ok(ev) => report::analysis_json(&item.file, &analyzer.conclude(ev)),
            Err(e) => serde_json::json!({"file": item.file, "error": e.to_string()}),
        };
        writeln!(file, "{line}")?;
    }
    eprintln!("wrote {} results to {}", items.len(), out.display());
    Ok(())
}

/// FNV-1a, for a stable fold assignment by group.
fn fold_of(group: &str, folds: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % folds as u64) as usize
}

/// A recording with its evidence, truth and model inputs.
struct Case {
    item: Item,
    evidence: Evidence,
    inputs: Option<Vec<f64>>,
}

fn train(
    data: &Path,
    out: &Path,
    folds: usize,
    heldout: Option<&Path>,
    trees: Option<gbt::Settings>,
) -> Result<()> {
    let mut analyzer = Analyzer::new();
    let mut cases = Vec::new();
    for ds in DATASETS {
        let items = read_labels(&data.join(ds))?;
        eprintln!("{ds}: {} recordings", items.len());
        for item in items {
            match evidence_of(&mut analyzer, &item) {
                Ok(evidence) => {
                    let inputs =
                        evidence
                            .quality
                            .usable
                            .then_some(())
                            .and(evidence.features.as_ref().map(|f| {
                                let mut x: Vec<f64> = f.values.iter().map(|&v| v as f64).collect();
                                x.push(f64::NAN);
                                x
                            }));
                    cases.push(Case {
                        item,
                        evidence,
                        inputs,
                    });
                }
                Err(e) => eprintln!("skipping {}: {e}", item.file),
            }
        }
    }
    let unusable: Vec<&str> = cases
        .iter()
        .filter(|c| c.inputs.is_none())
        .map(|c| c.item.file.as_str())
        .collect();
    eprintln!("unusable: {} {:?}", unusable.len(), unusable);

    if let Some(dir) = heldout {
        fs::create_dir_all(dir)?;
        let mut tsv = format!(
            "dataset\tfile\tlabel\tmurmur\ttiming\t{}\n",
            FEATURE_NAMES.join("\t")
        );
        for c in &cases {
            let vals: Vec<String> = c.evidence.features.as_ref().map_or(Vec::new(), |f| {
                f.values.iter().map(|v| format!("{v:.4}")).collect()
            });
            tsv.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                c.item.dataset,
                c.item.file,
                c.item.label("label"),
                c.item.label("murmur"),
                c.item.label("murmur_timing"),
                vals.join("\t")
            ));
        }
        fs::write(dir.join("features.tsv"), tsv)?;
        let mut lines: Vec<(String, String)> = Vec::new();
        for f in 0..folds {
            let train_set: Vec<&Case> = cases
                .iter()
                .filter(|c| fold_of(&c.item.group(), folds) != f)
                .collect();
            let models = fit_models(&train_set, trees);
            let fold_analyzer = Analyzer::with_models(models);
            for c in cases
                .iter()
                .filter(|c| fold_of(&c.item.group(), folds) == f)
            {
                let a = fold_analyzer.conclude(c.evidence.clone());
                lines.push((
                    c.item.dataset.clone(),
                    report::analysis_json(&c.item.file, &a).to_string(),
                ));
            }
        }
        for ds in DATASETS {
            let path = dir.join(format!("{ds}.jsonl"));
            let mut file = fs::File::create(&path)?;
            for (_, l) in lines.iter().filter(|(d, _)| d == ds) {
                writeln!(file, "{l}")?;
            }
            eprintln!("held-out results: {}", path.display());
        }
    }

    let all: Vec<&Case> = cases.iter().collect();
    let models = fit_models(&all, trees);
    fs::create_dir_all(out)?;
    let header = format!(
        "# auscult murmur models: logistic models (boosted trees, linear timing) over dsp::features, fitted by\n\
         # `cargo run --release -p auscult-train -- train --data <shared/data> --out crates/dsp/params/`\n\
         # on {} recordings (yaseen2018, pascal, physionet2016). Format: see dsp::murmur::Models::parse.\n",
        cases.len()
    );
    let path = out.join("murmur.txt");
    fs::write(&path, header + &models.to_text())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

const TIMING_INPUTS: [&str; 9] = [
    "sys_rel",
    "dia_rel",
    "sys_minus_dia",
    "dia_rel_low",
    "sys_rel_high",
    "ens_sys_rel",
    "ens_dia_rel",
    "dia_low_frac",
    "sys_high_frac",
];

/// Examples weighted so both classes weigh the same and, within a class, every dataset does.
fn examples(
    cases: &[&Case],
    truth: impl Fn(&Item) -> Option<bool>,
    murmur: Option<&Logistic>,
) -> Vec<Example> {
    let mut ex = Vec::new();
    let mut keys = Vec::new();
    for c in cases {
        let (Some(y), Some(x)) = (truth(&c.item), c.inputs.as_ref()) else {
            continue;
        };
        let mut x = x.clone();
        if let Some(m) = murmur {
            x[NUM_FEATURES] = logit_of(m, &x);
        }
        keys.push((c.item.dataset.clone(), y));
        ex.push(Example { x, y, w: 1.0 });
    }
    let n = ex.len() as f64;
    let groups: Vec<(String, bool)> = {
        let mut g = keys.clone();
        g.sort();
        g.dedup();
        g
    };
    // Each class weighs half; within a class, each dataset that has it weighs the same.
    for (e, k) in ex.iter_mut().zip(&keys) {
        let count = keys.iter().filter(|q| *q == k).count() as f64;
        let datasets_in_class = groups.iter().filter(|g| g.1 == k.1).count() as f64;
        e.w = n / (2.0 * datasets_in_class * count);
    }
    ex
}

fn logit_of(m: &Logistic, x: &[f64]) -> f64 {
    let mut f = auscult_dsp::features::Features {
        values: [f32::NAN; NUM_FEATURES],
    };
    for (v, &xv) in f.values.iter_mut().zip(x) {
        *v = xv as f32;
    }
    m.logit(&f, 0.0)
}

/// Boosting settings for the murmur and review models.
const TREES: gbt::Settings = gbt::Settings {
    rounds: 150,
    depth: 3,
    rate: 0.08,
    lambda: 2.0,
    min_child: 3.0,
    bins: 24,
};

fn fit_classifier(
    name: &str,
    ex: &[Example],
    inputs: &[usize],
    trees: Option<gbt::Settings>,
) -> Logistic {
    match trees {
        Some(settings) => gbt::fit_trees(name, ex, inputs, settings),
        None => fit(name, ex, inputs, 2.0),
    }
}

fn fit_models(cases: &[&Case], trees: Option<gbt::Settings>) -> Models {
    let all_features: Vec<usize> = (0..NUM_FEATURES).collect();
    let murmur = fit_classifier(
        "murmur",
        &examples(cases, Item::murmur, None),
        &all_features,
        trees,
    );
    let timing_inputs: Vec<usize> = TIMING_INPUTS
        .iter()
        .filter_map(|n| input_index(n))
        .collect();
    let timing = fit(
        "timing",
        &examples(cases, Item::diastolic, None),
        &timing_inputs,
        2.0,
    );
    let mut review_inputs = all_features.clone();
    review_inputs.extend(input_index(auscult_dsp::murmur::MURMUR_LOGIT));
    let review_ex = examples(cases, Item::abnormal, Some(&murmur));
    let mut review = fit_classifier("review", &review_ex, &review_inputs, trees);
    review.threshold = best_review_threshold(cases, &murmur, &review);
    Models {
        murmur,
        timing,
        review,
    }
}

/// The review threshold maximising the balanced accuracy of the final `flagged` on the training
/// recordings that have an abnormal label (flagged = murmur present, irregular or review score).
fn best_review_threshold(cases: &[&Case], murmur: &Logistic, review: &Logistic) -> f64 {
    let mut rows: Vec<(bool, bool, f64)> = Vec::new();
    for c in cases {
        let Some(truth) = c.item.abnormal() else {
            continue;
        };
        let Some(x) = c.inputs.as_ref() else {
            rows.push((truth, true, 0.0));
            continue;
        };
        let ml = logit_of(murmur, x);
        let mut f = auscult_dsp::features::Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        for (v, &xv) in f.values.iter_mut().zip(x) {
            *v = xv as f32;
        }
        let other = sigmoid(ml) >= murmur.threshold
            || c.evidence.rhythm.as_ref().is_some_and(|r| r.irregular);
        rows.push((truth, other, review.probability(&f, ml)));
    }
    let mut best = (0.5, -1.0);
    for k in 1..100 {
        let t = k as f64 / 100.0;
        let (mut tp, mut fn_, mut tn, mut fp) = (0.0, 0.0, 0.0, 0.0);
        for &(truth, other, p) in &rows {
            let flag = other || p >= t;
            match (truth, flag) {
                (true, true) => tp += 1.0,
                (true, false) => fn_ += 1.0,
                (false, false) => tn += 1.0,
                (false, true) => fp += 1.0,
            }
        }
        let bal = 0.5 * (tp / (tp + fn_ + 1e-9) + tn / (tn + fp + 1e-9));
        if bal > best.1 {
            best = (t, bal);
        }
    }
    best.0
}

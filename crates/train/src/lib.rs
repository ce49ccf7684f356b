//! `auscult-train`: fits the dsp crate's learned models on the labelled recordings in
//! `shared/data`, evaluates them leave-one-database-out, and writes them to
//! `crates/dsp/params/murmur.txt`; also runs the analysis over a dataset and writes result-contract
//! JSON Lines for `shared/eval/score.py`.
//!
//! ```text
//! cargo run --release -p auscult-train -- train --data ../shared/data --out crates/dsp/params/ \
//!     --results target/lodo
//! cargo run --release -p auscult-train -- lodo --data ../shared/data --results target/lodo
//! cargo run --release -p auscult-train -- analyze --dataset ../shared/data/yaseen2018 --out y.jsonl
//! ```
//!
//! Leave-one-database-out (LODO): each of PhysioNet 2016 training-a, -b, -c, -d, Yaseen 2018 and
//! PASCAL set B is held out in turn; the models are fitted on the other five and the held-out
//! database is analysed with them (`<results>/<database>.jsonl`, the result contract). Every
//! threshold (murmur, review, out-of-distribution) is chosen on LODO predictions: inside each
//! outer fold by an inner LODO over the five training databases, and for the committed models by
//! the LODO over all six. Nothing is ever tuned on the recordings a model was fitted on.
//! `<results>/lodo.md` is the table of per-database scores with 95 % Wilson intervals.
//!
//! The murmur and review models see only features that do not describe the device (see
//! `DEVICE_DEPENDENT`, `--drop`); `--augment N` adds device-augmented copies of the training
//! recordings to the fitting set only (off by default: measured worse, RESULTS.md).

mod augment;
mod data;
mod design;
mod gbt;
mod invariance;
mod linalg;
mod logistic;
mod mirror;
mod ood;
mod report;
mod score;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use auscult_dsp::analysis::{Analyzer, Evidence};
use auscult_dsp::features::{
    FEATURE_NAMES, FIRST_MFCC_FEATURE, Features, GATE_FEATURES, MFCC_FEATURES, NUM_FEATURES,
};
use auscult_dsp::model::{Analysis, FlagReason, MurmurStatus, MurmurTiming};
use auscult_dsp::murmur::{Logistic, Models, input_index, loud_diastolic, repeats, sigmoid};
use clap::{Parser, Subcommand};

use data::{DATABASES, Item, read_labels};
use design::{Examples, design_matrix};
use logistic::fit;
use score::{CONFIDENCE_BINS, Confusion, reliability, wilson};

#[derive(Debug, Parser)]
#[command(
    name = "auscult-train",
    about = "Train and evaluate (leave one database out) the auscult murmur models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Model-fitting options shared by `train` and `lodo`.
#[derive(Debug, clap::Args)]
struct FitArgs {
    /// Folder holding yaseen2018/, pascal/ and physionet2016/.
    #[arg(long)]
    data: PathBuf,
    /// Folder for the held-out JSON Lines per database and the LODO table (lodo.md).
    #[arg(long, default_value = "target/lodo")]
    results: PathBuf,
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
    /// Share of left-out-database recordings the out-of-distribution threshold lets through
    /// (1, the default, disables the check: measured by LODO, 0.98 marked most of Yaseen and
    /// a quarter of PASCAL as unlike training and lowered every score; see RESULTS.md).
    #[arg(long, default_value_t = 1.0)]
    ood_quantile: f64,
    /// Features the murmur and review models may not use (comma-separated names; for
    /// comparisons, the default is the measured choice).
    #[arg(long, value_delimiter = ',', default_values_t = default_drop())]
    drop: Vec<String>,
    /// Device-augmented copies of every recording added to the fitting set (never to threshold
    /// choice or scoring; see `augment.rs`). 0, the default: measured by LODO, augmentation
    /// lowered the murmur scores (RESULTS.md).
    #[arg(long, default_value_t = 0)]
    augment: usize,
    /// Fit only the review model on the `--augment` copies (the murmur, timing and
    /// out-of-distribution models see the originals alone): a noisy copy of an abnormal heart is
    /// still abnormal, where noise can bury a murmur and leave its label wrong (RESULTS.md,
    /// twelfth stop).
    #[arg(long)]
    augment_review_only: bool,
    /// Fit the murmur model on every recording's phase mirror too (`mirror.rs`; `--mirror
    /// false` to leave it out). On by default since 2026-12-05: measured by LODO (RESULTS.md),
    /// with the repeat gate it finds Yaseen's diastolic murmurs on a device never heard.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    mirror: bool,
    /// Place tree splits in the middle of the gap between the node's examples instead of on
    /// quantile edges (`gbt.rs`; measured, not adopted: RESULTS.md).
    #[arg(long)]
    margin: bool,
    /// Boosted models averaged per classifier, each fitted on a seeded share of the recordings
    /// (`gbt::fit_bagged`); 1 fits one. 5 by default since 2026-12-06: one boosted model moved
    /// its held-out thresholds with any three recordings (RESULTS.md).
    #[arg(long, default_value_t = 5)]
    bags: usize,
    /// The review threshold is the lowest at which the review reason alone keeps this
    /// specificity on the normals of every left-out database of the inner leave-one-database-out
    /// (at least 0.85). 0 chooses instead the best balanced accuracy of `flagged` on the
    /// left-out PhysioNet parts at specificity 0.85 (the rule before 2026-12-06, RESULTS.md).
    #[arg(long, default_value_t = 0.90)]
    review_specificity: f64,
    /// Share of cycles a phase must stand above the floor for the murmur score to call a
    /// murmur (`dsp::murmur::repeats`; 0 does not ask). 0.7 by default, what the inner
    /// leave-one-database-out chose in five of six folds (RESULTS.md).
    #[arg(long, default_value_t = 0.7)]
    min_repeat: f32,
    /// Choose the least repeat share with the murmur threshold by the inner
    /// leave-one-database-out, from [`MIN_REPEAT_GRID`], instead of `--min-repeat` (the rule
    /// before 2026-12-06: it moved with any three recordings, RESULTS.md).
    #[arg(long)]
    min_repeat_by_lodo: bool,
    /// Specificity the murmur call keeps on the murmur-free recordings of every left-out
    /// database (`specific_murmur_threshold`); 1 chooses the threshold for the best balanced
    /// accuracy instead, which cannot work with the mirror (RESULTS.md compares them).
    #[arg(long, default_value_t = 0.90)]
    murmur_specificity: f64,
    /// Features the review model leaves out besides `--drop` (comma-separated names; for
    /// comparisons: RESULTS.md, twelfth stop).
    #[arg(long, value_delimiter = ',')]
    review_drop: Vec<String>,
    /// Fit the review model on the features alone, without the murmur model's logit (RESULTS.md).
    #[arg(long)]
    review_without_murmur: bool,
}

/// Features that describe the device more than the heart, left out of the models by default
/// (measured by LODO in RESULTS.md): the absolute spectral balance of the whole recording or of
/// a phase (a stethoscope's tilt), how much the envelope fills the gaps and the signal-quality
/// index (its noise). Every remaining feature compares a band of the recording with the same band
/// of the same recording (its own heart sounds or its own floor), or is rhythm.
const DEVICE_DEPENDENT: [&str; 7] = [
    "whole_low_frac",
    "whole_high_frac",
    "sys_high_frac",
    "dia_low_frac",
    "env_fill_20",
    "env_fill_50",
    "sqi",
];

/// Per-phase MFCC features (`dsp::mfcc`, relative to the same cycle's heart sounds) left out of
/// the models by default: measured by LODO (RESULTS.md), none of the four subsets tried improved
/// PhysioNet pooled, PASCAL and Yaseen together while keeping `flagged`'s specificity.
fn mfcc_no_gain() -> &'static [&'static str] {
    &FEATURE_NAMES[FIRST_MFCC_FEATURE..FIRST_MFCC_FEATURE + 2 * MFCC_FEATURES]
}

/// The diastolic twins of `sys_rel_spread` and `sys_min_rel`, added for the phase mirror
/// (`mirror.rs`): model inputs only when the murmur model is fitted on mirrors (the default;
/// `--mirror false` leaves them out, as the models before the mirror were fitted).
const DIASTOLIC_TWINS: [&str; 2] = ["dia_rel_spread", "dia_min_rel"];

/// The features the models leave out by default: [`DEVICE_DEPENDENT`] and [`mfcc_no_gain`].
/// (The murmur likelihood ratio of `dsp::segment::segment_with_likelihood`, `sys_hsmm_lr` and
/// `dia_hsmm_lr`, is read: measured by LODO in RESULTS.md.)
fn default_drop() -> Vec<String> {
    DEVICE_DEPENDENT
        .iter()
        .chain(mfcc_no_gain())
        .map(|s| s.to_string())
        .collect()
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate leave-one-database-out, then fit on all data and write `<out>/murmur.txt`.
    Train {
        #[command(flatten)]
        fit: FitArgs,
        /// Folder to write murmur.txt into (crates/dsp/params/).
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate leave-one-database-out only.
    Lodo {
        #[command(flatten)]
        fit: FitArgs,
    },
    /// Write every recording's features (all of them, whether a model reads them or not) as CSV:
    /// database, file, labels, then one column per feature; empty where a recording is unusable.
    Features {
        /// Folder holding yaseen2018/, pascal/ and physionet2016/.
        #[arg(long)]
        data: PathBuf,
        /// Output CSV file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Device invariance on real recordings: every `--every`-th recording of each database
    /// analysed with the committed models as recorded and with gain ×0.1 / ×10, first-order
    /// high-pass 30 / 150 Hz, low-pass 300 Hz and white noise at 20 dB SNR; writes
    /// `<out>/invariance.md` (share keeping murmur status, flag reasons and `flagged`, with 95 %
    /// Wilson intervals) and `<out>/invariance_flips.tsv`.
    Invariance {
        /// Folder holding yaseen2018/, pascal/ and physionet2016/.
        #[arg(long)]
        data: PathBuf,
        /// Folder for invariance.md and invariance_flips.tsv.
        #[arg(long, default_value = "target/invariance")]
        out: PathBuf,
        /// Analyse every n-th recording of each database (1: all).
        #[arg(long, default_value_t = 1)]
        every: usize,
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

/// The `auscult-train` command line: parses the process's arguments and runs the subcommand.
///
/// # Errors
/// When the data cannot be read or the results cannot be written.
pub fn main_entry() -> Result<()> {
    match Cli::parse().command {
        Command::Train { fit, out } => run(&fit, Some(&out)),
        Command::Lodo { fit } => run(&fit, None),
        Command::Analyze { dataset, out } => analyze(&dataset, &out),
        Command::Features { data, out } => features_csv(&data, &out),
        Command::Invariance { data, out, every } => invariance::run(&data, &out, every),
    }
}

/// The leave-one-database-out evaluation with the committed settings (`auscult-train lodo
/// --data DATA --results RESULTS`): held-out JSON Lines per database in `results` (the
/// PhysioNet parts also together as `physionet2016.jsonl`) and the table `results/lodo.md`.
/// `auscult eval --lodo` runs this.
///
/// # Errors
/// When the data cannot be read or the results cannot be written.
pub fn lodo(data: &Path, results: &Path) -> Result<()> {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        fit: FitArgs,
    }
    let args = Defaults::try_parse_from([
        OsStr::new("lodo"),
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--results"),
        results.as_os_str(),
    ])?;
    run(&args.fit, None)
}

/// See [`Command::Features`].
fn features_csv(data: &Path, out: &Path) -> Result<()> {
    let mut analyzer = Analyzer::new().with_all_features();
    let mut text = format!(
        "database,file,label,murmur,murmur_timing,{}\n",
        FEATURE_NAMES.join(",")
    );
    for ds in DATASETS {
        for item in read_labels(&data.join(ds))? {
            let Ok(evidence) = evidence_of(&mut analyzer, &item) else {
                eprintln!("skipping {}", item.file());
                continue;
            };
            let values = inputs_of(&evidence)
                .map(|x| {
                    x[..NUM_FEATURES]
                        .iter()
                        .map(|v| format!("{v:.5}"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| vec![String::new(); NUM_FEATURES]);
            let _ = writeln!(
                text,
                "{},{},{},{},{},{}",
                item.database(),
                item.file(),
                item.label("label"),
                item.label("murmur"),
                item.label("murmur_timing"),
                values.join(",")
            );
        }
    }
    fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The model inputs of judgeable evidence: the features and a slot for the murmur logit.
fn inputs_of(evidence: &Evidence) -> Option<Vec<f64>> {
    if !evidence.quality.usable {
        return None;
    }
    evidence.features.as_ref().map(|f| {
        let mut x: Vec<f64> = f.values.iter().map(|&v| v as f64).collect();
        x.push(f64::NAN);
        x
    })
}

/// Reads one item and computes its evidence.
fn evidence_of(analyzer: &mut Analyzer, item: &Item) -> Result<Evidence> {
    let rec = item.read()?;
    Ok(analyzer.evidence(&rec.as_recording())?)
}

fn analyze(dataset: &Path, out: &Path) -> Result<()> {
    let items = read_labels(dataset)?;
    let mut analyzer = Analyzer::new().with_all_features();
    let mut file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    for item in &items {
        let line = match evidence_of(&mut analyzer, item) {
            Ok(ev) => report::analysis_json(item.file(), &analyzer.conclude(ev)),
            Err(e) => serde_json::json!({"file": item.file(), "error": e.to_string()}),
        };
        writeln!(file, "{line}")?;
    }
    eprintln!("wrote {} results to {}", items.len(), out.display());
    Ok(())
}

/// How the models are fitted and tuned.
struct Settings {
    /// Boosted trees, or linear models when `None`.
    trees: Option<gbt::Settings>,
    /// See `FitArgs::ood_quantile`.
    ood_quantile: f64,
    /// The feature indices the murmur and review models use.
    inputs: Vec<usize>,
    /// Fit the murmur model on every recording's phase mirror too (`mirror.rs`).
    mirror: bool,
    /// `dsp::murmur::Models::min_repeat` of the fitted models, or `None` to choose it with the
    /// murmur threshold on the inner leave-one-database-out predictions.
    min_repeat: Option<f32>,
    /// Whether the review model reads the murmur model's logit.
    review_reads_murmur: bool,
    /// Indices of `inputs` the review model leaves out.
    review_drop: Vec<usize>,
    /// Whether the augmented copies are fitted on by the review model only.
    augment_review_only: bool,
    /// Choose the murmur threshold for this specificity on murmur-free left-out recordings
    /// (`specific_murmur_threshold`), or, when `None`, for the best balanced accuracy.
    murmur_specificity: Option<f64>,
    /// See `FitArgs::review_specificity`.
    review_specificity: Option<f64>,
}

/// A recording with its evidence, truth and model inputs.
struct Case {
    item: Item,
    evidence: Evidence,
    inputs: Option<Vec<f64>>,
    /// A device-augmented copy: fitted on, never predicted or scored.
    augmented: bool,
}

impl Case {
    fn database(&self) -> &str {
        self.item.database()
    }
}

fn run(args: &FitArgs, params_out: Option<&Path>) -> Result<()> {
    let settings = Settings {
        trees: (!args.linear).then_some(gbt::Settings {
            rounds: args.rounds,
            depth: args.depth,
            rate: args.rate,
            margin: args.margin,
            bags: args.bags,
            ..TREES
        }),
        ood_quantile: args.ood_quantile,
        mirror: args.mirror,
        min_repeat: (!args.min_repeat_by_lodo).then_some(args.min_repeat),
        review_reads_murmur: !args.review_without_murmur,
        augment_review_only: args.augment_review_only,
        review_drop: (0..NUM_FEATURES)
            .filter(|&i| args.review_drop.iter().any(|d| d == FEATURE_NAMES[i]))
            .collect(),
        murmur_specificity: (args.murmur_specificity < 1.0).then_some(args.murmur_specificity),
        review_specificity: (args.review_specificity > 0.0).then_some(args.review_specificity),
        inputs: (0..NUM_FEATURES)
            .filter(|&i| !args.drop.iter().any(|d| d == FEATURE_NAMES[i]))
            .filter(|&i| args.mirror || !DIASTOLIC_TWINS.contains(&FEATURE_NAMES[i]))
            // The repeat test's own features are a rule, not a model input.
            .filter(|&i| !GATE_FEATURES.contains(&FEATURE_NAMES[i]))
            .collect(),
    };
    for d in args.drop.iter().filter(|d| !d.is_empty()) {
        anyhow::ensure!(FEATURE_NAMES.contains(&d.as_str()), "no feature named {d}");
    }
    let mut analyzer = Analyzer::new().with_all_features();
    let mut cases = Vec::new();
    for ds in DATASETS {
        let items = read_labels(&args.data.join(ds))?;
        eprintln!("{ds}: {} recordings", items.len());
        for item in items {
            let rec = match item.read() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("skipping {}: {e}", item.file());
                    continue;
                }
            };
            let base = rec.as_recording();
            for copy in 0..=args.augment {
                let samples;
                let recording = if copy == 0 {
                    base
                } else {
                    samples =
                        augment::device_copy(base.pcg.samples, base.pcg.rate.0, item.file(), copy)
                            .0;
                    auscult_dsp::Recording {
                        pcg: auscult_dsp::Signal {
                            samples: &samples,
                            rate: base.pcg.rate,
                        },
                        ecg: base.ecg,
                    }
                };
                match analyzer.evidence(&recording) {
                    Ok(evidence) => cases.push(Case {
                        inputs: inputs_of(&evidence),
                        item: item.clone(),
                        evidence,
                        augmented: copy > 0,
                    }),
                    Err(e) if copy == 0 => eprintln!("skipping {}: {e}", item.file()),
                    Err(_) => {}
                }
            }
        }
    }
    let originals = cases.iter().filter(|c| !c.augmented).count();
    let unusable = cases
        .iter()
        .filter(|c| !c.augmented && c.inputs.is_none())
        .count();
    eprintln!(
        "{originals} recordings, {unusable} unusable, {} augmented copies",
        cases.len() - originals
    );

    // Outer leave-one-database-out: nested threshold choice inside each fold.
    fs::create_dir_all(&args.results)?;
    let mut fold_models = Vec::new();
    let mut fold_notes = Vec::new();
    for db in DATABASES {
        let train: Vec<&Case> = cases.iter().filter(|c| c.database() != db).collect();
        let models = fit_tuned(&train, &settings);
        fold_notes.push(format!(
            "| {db} | {:.2} | {:.2} | {:.2} | {} | {:.1} |",
            models.murmur.threshold,
            models.min_repeat,
            models.review.threshold,
            models.review_flags,
            models.ood.first().map_or(f64::INFINITY, |o| o.threshold)
        ));
        fold_models.push(models);
    }
    let mut held_out = predict_held_out(&cases, &fold_models);
    // The review score flags on its own only if, left out by database, its reason kept
    // specificity on the normals of every database; when it did not, the shipped models do not
    // let it flag, and neither do the held-out predictions reported here.
    let review_flags = review_kept_specificity(&cases, &held_out);
    if !review_flags {
        eprintln!(
            "review reason fell below specificity {REVIEW_MIN_SPECIFICITY} on a left-out database: it is a score, not a flag"
        );
        for (m, note) in fold_models.iter_mut().zip(&mut fold_notes) {
            m.review_flags = false;
            *note = note.replace("| true |", "| false (outer) |");
        }
        held_out = predict_held_out(&cases, &fold_models);
    }
    for db in DATABASES {
        let mut lines = String::new();
        for (i, a) in held_out.iter().filter(|(i, _)| cases[*i].database() == db) {
            writeln!(lines, "{}", report::analysis_json(cases[*i].item.file(), a))?;
        }
        let path = args.results.join(format!("{db}.jsonl"));
        fs::write(&path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    // The PhysioNet parts together, for score.py on the whole physionet2016 folder.
    let mut physionet = String::new();
    for (i, a) in &held_out {
        if cases[*i].item.dataset == "physionet2016" {
            writeln!(
                physionet,
                "{}",
                report::analysis_json(cases[*i].item.file(), a)
            )?;
        }
    }
    fs::write(args.results.join("physionet2016.jsonl"), physionet)?;

    let table = lodo_table(&cases, &held_out, &fold_notes);
    print!("{table}");
    fs::write(args.results.join("lodo.md"), &table)?;

    if let Some(out) = params_out {
        let all: Vec<&Case> = cases.iter().collect();
        let mut models = fit_tuned(&all, &settings);
        models.review_flags &= review_flags;
        fs::create_dir_all(out)?;
        let bagged = match settings.trees {
            Some(t) if t.bags > 1 => format!(
                "# murmur and review are each the average of {} boosted models fitted on seeded\n\
                 # shares of the recordings (their trees follow one another, leaves scaled);\n",
                t.bags
            ),
            _ => String::new(),
        };
        let header = format!(
            "# auscult murmur models: logistic models (boosted trees, linear timing) over dsp::features, fitted by\n\
             # `cargo run --release -p auscult-train -- train --data <shared/data> --out crates/dsp/params/`\n\
             # on {originals} recordings (yaseen2018, pascal, physionet2016) and {} device-augmented copies;\n\
             {bagged}# thresholds, review gate and out-of-distribution threshold chosen on\n\
             # leave-one-database-out predictions of the original recordings.\n\
             # Format: see dsp::murmur::Models::parse.\n",
            cases.len() - originals
        );
        let path = out.join("murmur.txt");
        fs::write(&path, header + &models.to_text())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Every recording's analysis by the models of the fold that left its database out (the
/// `DATABASES` order of `fold_models`), augmented copies excepted.
fn predict_held_out(cases: &[Case], fold_models: &[Models]) -> Vec<(usize, Analysis)> {
    let mut held_out = Vec::new();
    for (db, models) in DATABASES.iter().zip(fold_models) {
        let fold = Analyzer::with_models(models.clone()).with_all_features();
        for (i, c) in cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.database() == *db && !c.augmented)
        {
            held_out.push((i, fold.conclude(c.evidence.clone())));
        }
    }
    held_out
}

/// Normal truth for the specificity of flags on every database: PhysioNet "Normal", Yaseen "N",
/// PASCAL "normal".
fn normal(item: &Item) -> Option<bool> {
    match (item.dataset.as_str(), item.label("label")) {
        ("physionet2016", "Normal") | ("yaseen2018", "N") | ("pascal", "normal") => Some(true),
        ("physionet2016", "Abnormal") | ("yaseen2018", _) | ("pascal", _) => Some(false),
        _ => None,
    }
}

fn fmt_ci(c: &Confusion, which: u8) -> String {
    let (v, (lo, hi)) = match which {
        0 => (c.sensitivity(), c.sensitivity_ci()),
        1 => (c.specificity(), c.specificity_ci()),
        _ => (c.balanced_accuracy(), c.balanced_accuracy_ci()),
    };
    format!("{v:.3} ({lo:.3}–{hi:.3})")
}

/// The per-database LODO table (markdown).
fn lodo_table(cases: &[Case], held_out: &[(usize, Analysis)], notes: &[String]) -> String {
    let mut t = String::from(
        "| held-out database | measure | n | Se (95 % CI) | Sp (95 % CI) | balanced accuracy (CI) |\n|---|---|---|---|---|---|\n",
    );
    let mut worst: Option<(f64, String)> = None;
    let mut pooled = Confusion::default();
    let mut extra = String::new();
    for db in DATABASES {
        let rows: Vec<(&Case, &Analysis)> = held_out
            .iter()
            .map(|(i, a)| (&cases[*i], a))
            .filter(|(c, _)| c.database() == db)
            .collect();
        let physionet = db.starts_with("training-");
        let mut c = Confusion::default();
        let mut review_alone = Confusion::default();
        let mut flag_on_normals = Confusion::default();
        for (case, a) in &rows {
            if physionet {
                if let Some(t) = case.item.abnormal() {
                    c.add(t, Some(a.flagged));
                }
            } else if let Some(t) = case.item.murmur_scored() {
                c.add(t, murmur_call(a));
            }
            if let Some(n) = normal(&case.item) {
                let review = a.flag_reasons.contains(&FlagReason::AbnormalScore);
                review_alone.add(!n, Some(review));
                flag_on_normals.add(!n, Some(a.flagged));
            }
        }
        if physionet {
            pooled.tp += c.tp;
            pooled.fn_ += c.fn_;
            pooled.tn += c.tn;
            pooled.fp += c.fp;
        }
        let measure = if physionet {
            "flagged vs Abnormal"
        } else {
            "murmur"
        };
        let n = c.tp + c.fn_ + c.tn + c.fp;
        let _ = writeln!(
            t,
            "| {db} | {measure} | {n} | {} | {} | {} |",
            fmt_ci(&c, 0),
            fmt_ci(&c, 1),
            fmt_ci(&c, 2)
        );
        let ba = c.balanced_accuracy();
        if worst.as_ref().is_none_or(|(w, _)| ba < *w) {
            worst = Some((ba, format!("{db} ({measure})")));
        }
        if db == "yaseen2018" {
            let (right, total) = timing(&rows);
            let _ = writeln!(
                t,
                "| {db} | murmur timing accuracy | {total} | | | {:.3} |",
                if total > 0 {
                    right as f64 / total as f64
                } else {
                    0.0
                }
            );
        }
        let unknown = rows
            .iter()
            .filter(|(_, a)| matches!(a.murmur.status, MurmurStatus::Unknown(_)))
            .count();
        let unlike = rows
            .iter()
            .filter(|(_, a)| {
                matches!(
                    a.murmur.status,
                    MurmurStatus::Unknown(auscult_dsp::UnknownReason::UnlikeTraining { .. })
                )
            })
            .count();
        let _ = writeln!(
            extra,
            "| {db} | {} | {} | {:.3} | {:.3} | {unknown} | {unlike} |",
            rows.len(),
            flag_on_normals.tn + flag_on_normals.fp,
            flag_on_normals.specificity(),
            review_alone.specificity(),
        );
    }
    let _ = writeln!(
        t,
        "| PhysioNet a–d pooled | flagged vs Abnormal | {} | {} | {} | {} |",
        pooled.tp + pooled.fn_ + pooled.tn + pooled.fp,
        fmt_ci(&pooled, 0),
        fmt_ci(&pooled, 1),
        fmt_ci(&pooled, 2)
    );
    if let Some((ba, name)) = worst {
        let _ = writeln!(t, "\nWorst database: {name}, balanced accuracy {ba:.3}.");
    }
    let _ = write!(
        t,
        "\n| held-out database | recordings | normals | Sp of `flagged` on normals | Sp of the review reason alone | murmur unknown | of which unlike training |\n|---|---|---|---|---|---|---|\n{extra}"
    );
    t.push_str(&confidence_table(cases, held_out));
    let _ = write!(
        t,
        "\nThresholds chosen by the inner leave-one-database-out of each fold:\n\n| held-out database | murmur | least repeat share | review | review may flag | out-of-distribution distance |\n|---|---|---|---|---|---|\n{}\n",
        notes.join("\n")
    );
    t
}

/// How often the held-out murmur calls of each stated confidence were right, per database with
/// murmur labels, present and absent calls apart (markdown). The confidence is a margin past
/// the call's boundary (`dsp::murmur::call_confidence`), not a fitted probability: this is how
/// a reader of "confidence 0.95" can learn what it has meant on a device never trained on.
fn confidence_table(cases: &[Case], held_out: &[(usize, Analysis)]) -> String {
    let mut t = String::from(
        "\nHow often the held-out murmur calls were right, by stated confidence (right / calls, stated mean; 95 % Wilson interval):\n\n| held-out database | call |",
    );
    for (lo, hi) in CONFIDENCE_BINS {
        let _ = write!(t, " {lo:.2}–{hi:.2} |");
    }
    t.push_str("\n|---|---|");
    t.push_str(&"---|".repeat(CONFIDENCE_BINS.len()));
    t.push('\n');
    for db in DATABASES {
        for present in [true, false] {
            let calls: Vec<(f32, bool)> = held_out
                .iter()
                .filter(|(i, _)| cases[*i].database() == db)
                .filter_map(|(i, a)| {
                    let truth = cases[*i].item.murmur_scored()?;
                    (murmur_call(a)? == present).then_some((a.murmur.confidence, truth == present))
                })
                .collect();
            if calls.is_empty() {
                continue;
            }
            let _ = write!(
                t,
                "| {db} | {} ({}) |",
                if present { "present" } else { "absent" },
                calls.len()
            );
            for b in reliability(&calls) {
                if b.n == 0 {
                    t.push_str(" |");
                } else {
                    let (lo, hi) = wilson(b.right, b.n);
                    let _ = write!(
                        t,
                        " {}/{} ({:.2}; {lo:.2}–{hi:.2}) |",
                        b.right, b.n, b.stated
                    );
                }
            }
            t.push('\n');
        }
    }
    t
}

/// Whether, on every database left out, the recordings flagged by the review reason kept
/// specificity >= [`REVIEW_MIN_SPECIFICITY`] on its normals.
fn review_kept_specificity(cases: &[Case], held_out: &[(usize, Analysis)]) -> bool {
    // Every database is checked (not only up to the first that fails), so the log names each.
    let kept: Vec<bool> = DATABASES
        .iter()
        .map(|db| {
            let mut c = Confusion::default();
            for (i, a) in held_out.iter().filter(|(i, _)| cases[*i].database() == *db) {
                if normal(&cases[*i].item) == Some(true) {
                    c.add(
                        false,
                        Some(a.flag_reasons.contains(&FlagReason::AbnormalScore)),
                    );
                }
            }
            let kept = c.tn + c.fp == 0 || c.specificity() >= REVIEW_MIN_SPECIFICITY;
            if !kept {
                eprintln!(
                    "review reason held out on {db}: specificity {:.3} on {} normals",
                    c.specificity(),
                    c.tn + c.fp
                );
            }
            kept
        })
        .collect();
    kept.iter().all(|&k| k)
}

/// The murmur call as `score.py` reads it: None when unknown.
fn murmur_call(a: &Analysis) -> Option<bool> {
    match a.murmur.status {
        MurmurStatus::Present => Some(true),
        MurmurStatus::Absent => Some(false),
        MurmurStatus::Unknown(_) => None,
    }
}

/// Timing accuracy as `score.py`: over rows with a timing label, right when a murmur is called
/// present with that timing (or "both").
fn timing(rows: &[(&Case, &Analysis)]) -> (u32, u32) {
    let (mut right, mut total) = (0, 0);
    for (c, a) in rows {
        let Some(diastolic) = c.item.diastolic() else {
            continue;
        };
        total += 1;
        if a.murmur.status == MurmurStatus::Present {
            let ok = match a.murmur.timing {
                Some(MurmurTiming::Both) => true,
                Some(MurmurTiming::Diastolic) => diastolic,
                Some(MurmurTiming::Systolic) => !diastolic,
                None => false,
            };
            right += u32::from(ok);
        }
    }
    (right, total)
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

/// The examples (one design-matrix row per recording with a truth and inputs), weighted so both
/// classes weigh the same and, within a class, every dataset does. With `murmur`, its logit
/// fills the murmur-logit column.
fn examples(
    cases: &[&Case],
    truth: impl Fn(&Item) -> Option<bool>,
    murmur: Option<&Logistic>,
    mirrored: bool,
) -> Examples {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut keys = Vec::new();
    for c in cases {
        let (Some(y), Some(x)) = (truth(&c.item), c.inputs.as_ref()) else {
            continue;
        };
        rows.push(x.clone());
        keys.push((c.item.dataset.clone(), y));
        if mirrored {
            rows.push(mirror::mirror(x));
            keys.push((c.item.dataset.clone(), y));
        }
    }
    let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    let mut x = design_matrix(&rows);
    if let Some(m) = murmur {
        for mut row in x.outer_iter_mut() {
            row[NUM_FEATURES] = m.logit(&features_of(&row), 0.0);
        }
    }
    let n = keys.len() as f64;
    let groups: Vec<(String, bool)> = {
        let mut g = keys.clone();
        g.sort();
        g.dedup();
        g
    };
    // Each class weighs half; within a class, each dataset that has it weighs the same.
    let w = keys
        .iter()
        .map(|k| {
            let count = keys.iter().filter(|q| *q == k).count() as f64;
            let datasets_in_class = groups.iter().filter(|g| g.1 == k.1).count() as f64;
            n / (2.0 * datasets_in_class * count)
        })
        .collect();
    Examples {
        x,
        y: keys.iter().map(|k| k.1).collect(),
        w,
    }
}

/// Boosting settings for the murmur and review models.
const TREES: gbt::Settings = gbt::Settings {
    rounds: 150,
    depth: 3,
    rate: 0.08,
    lambda: 2.0,
    min_child: 3.0,
    bins: 24,
    margin: false,
    bags: 1,
};

fn fit_classifier(
    name: &str,
    ex: &Examples,
    inputs: &[usize],
    trees: Option<gbt::Settings>,
) -> Logistic {
    match trees {
        Some(settings) => gbt::fit_bagged(name, ex, inputs, settings),
        None => fit(name, ex, inputs, 2.0),
    }
}

/// The models fitted on the cases, with default thresholds, no review gate and an
/// out-of-distribution check without a threshold.
fn fit_raw(all_cases: &[&Case], s: &Settings) -> Models {
    let trees = s.trees;
    let all_features: Vec<usize> = s.inputs.clone();
    let originals: Vec<&Case> = all_cases
        .iter()
        .copied()
        .filter(|c| !(s.augment_review_only && c.augmented))
        .collect();
    // The murmur, timing and out-of-distribution models.
    let cases = &originals[..];
    let murmur = fit_classifier(
        "murmur",
        &examples(cases, Item::murmur, None, s.mirror),
        &all_features,
        trees,
    );
    let timing_inputs: Vec<usize> = TIMING_INPUTS
        .iter()
        .filter_map(|n| input_index(n))
        .collect();
    let timing_ex = examples(cases, Item::diastolic, None, false);
    // Without both timings among the training recordings nothing can be learned: keep the
    // hand-set rule (the louder phase).
    let timing = if timing_ex.y.iter().any(|&y| y) && timing_ex.y.iter().any(|&y| !y) {
        fit("timing", &timing_ex, &timing_inputs, 2.0)
    } else {
        Models::hand_set().timing
    };
    let mut review_inputs: Vec<usize> = all_features
        .iter()
        .copied()
        .filter(|i| !s.review_drop.contains(i))
        .collect();
    if s.review_reads_murmur {
        review_inputs.extend(input_index(auscult_dsp::murmur::MURMUR_LOGIT));
    }
    let review_ex = examples(all_cases, Item::abnormal, Some(&murmur), false);
    let review = fit_classifier("review", &review_ex, &review_inputs, trees);
    // One out-of-distribution component per kind of recording: with a murmur, without.
    let ood = [true, false]
        .into_iter()
        .map(|m| {
            let rows: Vec<&[f64]> = cases
                .iter()
                .filter(|c| c.item.murmur() == Some(m))
                .filter_map(|c| c.inputs.as_deref())
                .collect();
            ood::fit_ood(design_matrix(&rows).view())
        })
        .collect();
    Models {
        murmur,
        timing,
        review,
        review_flags: false,
        min_repeat: s.min_repeat.unwrap_or(0.0),
        ood,
    }
}

/// One recording's model outputs from models that never saw its database.
struct Prediction<'a> {
    case: &'a Case,
    /// Whether the murmur model that made it saw recordings with and without a murmur.
    murmur_fitted: bool,
    murmur: f64,
    loud_diastolic: bool,
    /// The recording's features, for [`repeats`]: the murmur model's score alone cannot call a
    /// murmur without repeating evidence.
    features: Features,
    review: f64,
    distance: f64,
}

impl Prediction<'_> {
    /// The murmur call at a threshold and a least repeat share, as `dsp::murmur::called` makes
    /// it.
    fn call(&self, min_repeat: f32) -> impl Fn(f64) -> bool + '_ {
        move |t| (self.murmur >= t && repeats(&self.features, min_repeat)) || self.loud_diastolic
    }
}

/// The least repeat shares (`dsp::murmur::Models::min_repeat`) the inner leave-one-database-out
/// chooses from, with the murmur threshold, when `--min-repeat` is not given.
const MIN_REPEAT_GRID: [f32; 13] = [
    0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9,
];

/// The models fitted on the cases, with every threshold chosen on the predictions of an inner
/// leave-one-database-out over the cases' databases.
fn fit_tuned(cases: &[&Case], s: &Settings) -> Models {
    let dbs: BTreeSet<&str> = cases.iter().map(|c| c.database()).collect();
    let mut preds: Vec<Prediction> = Vec::new();
    for db in &dbs {
        let train: Vec<&Case> = cases
            .iter()
            .copied()
            .filter(|c| c.database() != *db)
            .collect();
        let m = fit_raw(&train, s);
        let murmur_fitted = [true, false]
            .iter()
            .all(|y| train.iter().any(|c| c.item.murmur() == Some(*y)));
        for c in cases
            .iter()
            .copied()
            .filter(|c| c.database() == *db && !c.augmented)
        {
            let Some(x) = c.inputs.as_ref() else {
                continue;
            };
            let f = features_of(x);
            let ml = m.murmur.logit(&f, 0.0);
            preds.push(Prediction {
                case: c,
                murmur_fitted,
                murmur: sigmoid(ml),
                loud_diastolic: loud_diastolic(&f),
                features: f.clone(),
                review: m.review.probability(&f, ml),
                distance: m
                    .ood
                    .iter()
                    .map(|o| o.distance(&f))
                    .fold(f64::INFINITY, f64::min),
            });
        }
    }
    let mut models = fit_raw(cases, s);
    let ood_threshold = if s.ood_quantile >= 1.0 {
        f64::INFINITY
    } else {
        quantile(preds.iter().map(|p| p.distance).collect(), s.ood_quantile)
    };
    if ood_threshold.is_finite() {
        for o in &mut models.ood {
            o.threshold = ood_threshold;
        }
    } else {
        models.ood.clear();
    }
    let judged: Vec<&Prediction> = preds
        .iter()
        .filter(|p| p.distance <= ood_threshold)
        .collect();
    let grid: Vec<f32> = match s.min_repeat {
        Some(m) => vec![m],
        None => MIN_REPEAT_GRID.to_vec(),
    };
    let (min_repeat, threshold) = match s.murmur_specificity {
        Some(target) => specific_murmur_call(&judged, target, &grid),
        None => best_murmur_call(&judged, &grid),
    };
    models.murmur.threshold = threshold;
    models.min_repeat = min_repeat;
    let (review_threshold, review_flags) = best_review_threshold(
        cases,
        &preds,
        min_repeat,
        threshold,
        ood_threshold,
        s.review_specificity,
    );
    models.review.threshold = review_threshold;
    models.review_flags = review_flags;
    models
}

/// The least specificity on every database the review score must keep to flag on its own.
const REVIEW_MIN_SPECIFICITY: f64 = 0.85;

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::INFINITY;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// The features of a row of model inputs (the murmur logit after them is not a feature).
fn features_of<'a>(x: impl IntoIterator<Item = &'a f64>) -> Features {
    let mut f = Features {
        values: [f32::NAN; NUM_FEATURES],
    };
    for (v, &xv) in f.values.iter_mut().zip(x) {
        *v = xv as f32;
    }
    f
}

/// Balanced accuracy with each class weighing half and, within a class, every database the same.
fn weighted_balanced_accuracy(rows: &[(&str, bool, bool)]) -> f64 {
    let mut acc = 0.0;
    for class in [true, false] {
        let dbs: BTreeSet<&str> = rows.iter().filter(|r| r.1 == class).map(|r| r.0).collect();
        if dbs.is_empty() {
            continue;
        }
        let mut mean = 0.0;
        for db in &dbs {
            let of: Vec<&(&str, bool, bool)> =
                rows.iter().filter(|r| r.1 == class && r.0 == *db).collect();
            mean += of.iter().filter(|r| r.2 == class).count() as f64 / of.len() as f64;
        }
        acc += 0.5 * mean / dbs.len() as f64;
    }
    acc
}

/// The lowest murmur threshold at which the murmur call keeps a specificity of at least `target`
/// on the murmur-free recordings of every left-out database, judged only on predictions of models that saw both classes.
///
/// Unlike [`best_murmur_threshold`] it needs no murmurs among the left-out recordings: with two
/// murmur databases, an inner leave-one-database-out that leaves one out of an outer fold that
/// already left out the other fits a murmur model on no murmur at all, and maximising balanced
/// accuracy over such folds chose thresholds near 1 (RESULTS.md). A screening flag on a device
/// never heard should first of all keep its false alarms on normal hearts bounded.
fn specific_murmur_threshold(preds: &[&Prediction], target: f64, min_repeat: f32) -> f64 {
    let negatives: Vec<&Prediction> = preds
        .iter()
        .copied()
        .filter(|p| p.murmur_fitted && p.case.item.murmur() == Some(false))
        .collect();
    let dbs: BTreeSet<&str> = negatives.iter().map(|p| p.case.database()).collect();
    if dbs.is_empty() {
        return 0.5;
    }
    let specificity = |t: f64| {
        dbs.iter()
            .map(|db| {
                let of: Vec<&&Prediction> = negatives
                    .iter()
                    .filter(|p| p.case.database() == *db)
                    .collect();
                of.iter().filter(|p| !p.call(min_repeat)(t)).count() as f64 / of.len() as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    (1..100)
        .map(|k| k as f64 / 100.0)
        .find(|&t| specificity(t) >= target)
        .unwrap_or(0.99)
}

/// The least repeat share from `grid` (ascending) at which the repeat test alone keeps
/// specificity `target` on the murmur-free recordings of every left-out database, and the
/// [`specific_murmur_threshold`] at that share. The repeat test has no fitted parameters, so it
/// is judged on every prediction, also those of murmur models that saw no murmur: with two murmur
/// databases, an outer fold leaving one out leaves inner folds whose murmur sensitivity cannot be
/// judged at all, but the specificity of the test on the other database's normals can. The
/// largest share when none keeps it.
fn specific_murmur_call(preds: &[&Prediction], target: f64, grid: &[f32]) -> (f32, f64) {
    let negatives: Vec<&&Prediction> = preds
        .iter()
        .filter(|p| p.case.item.murmur() == Some(false))
        .collect();
    let dbs: BTreeSet<&str> = negatives.iter().map(|p| p.case.database()).collect();
    let keeps = |m: f32| {
        dbs.iter().all(|db| {
            let of: Vec<&&&Prediction> = negatives
                .iter()
                .filter(|p| p.case.database() == *db)
                .collect();
            let quiet = of
                .iter()
                .filter(|p| !repeats(&p.features, m) && !p.loud_diastolic)
                .count();
            quiet as f64 / of.len() as f64 >= target
        })
    };
    let m = grid
        .iter()
        .copied()
        .find(|&m| keeps(m))
        .or_else(|| grid.last().copied())
        .unwrap_or(0.0);
    (m, specific_murmur_threshold(preds, target, m))
}

/// The least repeat share from `grid` and murmur threshold maximising the database-weighted
/// balanced accuracy of the murmur call on left-out-database predictions.
fn best_murmur_call(preds: &[&Prediction], grid: &[f32]) -> (f32, f64) {
    let mut best = (grid.first().copied().unwrap_or(0.0), 0.5, -1.0);
    for &m in grid {
        let (t, ba) = best_murmur_threshold(preds, m);
        if ba > best.2 {
            best = (m, t, ba);
        }
    }
    (best.0, best.1)
}

/// The murmur threshold maximising the database-weighted balanced accuracy of the murmur call on
/// left-out-database predictions, and that accuracy.
fn best_murmur_threshold(preds: &[&Prediction], min_repeat: f32) -> (f64, f64) {
    let mut best = (0.5, -1.0);
    for k in 1..100 {
        let t = k as f64 / 100.0;
        let rows: Vec<(&str, bool, bool)> = preds
            .iter()
            .filter_map(|p| {
                p.case
                    .item
                    .murmur()
                    .map(|y| (p.case.database(), y, p.call(min_repeat)(t)))
            })
            .collect();
        let ba = weighted_balanced_accuracy(&rows);
        if ba > best.1 {
            best = (t, ba);
        }
    }
    best
}

/// (database, abnormal truth, flagged for another reason, review probability, normal truth).
type ReviewRow<'a> = (&'a str, Option<bool>, bool, f64, Option<bool>);

/// The review threshold and whether the review score may flag, from the left-out-database
/// predictions. With a `target` specificity: the lowest threshold at which the review reason
/// alone keeps it (and at least [`REVIEW_MIN_SPECIFICITY`]) on the normals of every left-out
/// database, as the murmur threshold is chosen. Without: the threshold maximising the balanced
/// accuracy of `flagged` on the left-out PhysioNet parts among those keeping
/// [`REVIEW_MIN_SPECIFICITY`]; that maximum sits where the review scores crowd (0.92–0.96) and
/// moved by 0.03 with any three recordings (RESULTS.md). Either way it may flag only if it
/// beats `flagged` without it there.
fn best_review_threshold(
    cases: &[&Case],
    preds: &[Prediction],
    min_repeat: f32,
    murmur_threshold: f64,
    ood_threshold: f64,
    target: Option<f64>,
) -> (f64, bool) {
    let mut rows: Vec<ReviewRow> = Vec::new();
    for c in cases.iter().filter(|c| !c.augmented) {
        if c.inputs.is_none() {
            rows.push((c.database(), c.item.abnormal(), true, 0.0, normal(&c.item)));
        }
    }
    for p in preds {
        let c = p.case;
        let murmur_or_unknown = p.distance > ood_threshold || p.call(min_repeat)(murmur_threshold);
        let irregular = c.evidence.rhythm.as_ref().is_some_and(|r| r.irregular);
        rows.push((
            c.database(),
            c.item.abnormal(),
            murmur_or_unknown || irregular,
            p.review,
            normal(&c.item),
        ));
    }
    review_threshold(&rows, target)
}

/// [`best_review_threshold`] on its rows.
fn review_threshold(rows: &[ReviewRow], target: Option<f64>) -> (f64, bool) {
    let flagged_ba = |t: f64| {
        let mut c = Confusion::default();
        for r in rows {
            if let Some(y) = r.1 {
                c.add(y, Some(r.2 || r.3 >= t));
            }
        }
        c.balanced_accuracy()
    };
    let keeps = |t: f64, least: f64| {
        let dbs: BTreeSet<&str> = rows.iter().map(|r| r.0).collect();
        dbs.iter().all(|db| {
            let mut c = Confusion::default();
            for r in rows.iter().filter(|r| r.0 == *db && r.4 == Some(true)) {
                c.add(false, Some(r.3 >= t));
            }
            c.tn + c.fp == 0 || c.specificity() >= least
        })
    };
    let keeps_specificity = |t: f64| keeps(t, REVIEW_MIN_SPECIFICITY);
    let without = flagged_ba(f64::INFINITY);
    if let Some(target) = target {
        let t = (1..100)
            .map(|k| k as f64 / 100.0)
            .find(|&t| keeps(t, target.max(REVIEW_MIN_SPECIFICITY)))
            .unwrap_or(0.99);
        return (t, flagged_ba(t) > without);
    }
    let mut best = (0.5, -1.0);
    let mut best_any = (0.5, -1.0);
    for k in 1..100 {
        let t = k as f64 / 100.0;
        let ba = flagged_ba(t);
        if ba > best_any.1 {
            best_any = (t, ba);
        }
        if keeps_specificity(t) && ba > best.1 {
            best = (t, ba);
        }
    }
    if best.1 > without {
        (best.0, true)
    } else {
        (best_any.0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of `db` with review scores spread evenly over `lo..hi`.
    fn normals(db: &'static str, n: usize, lo: f64, hi: f64) -> Vec<ReviewRow<'static>> {
        (0..n)
            .map(|i| {
                let p = lo + (hi - lo) * i as f64 / n as f64;
                (db, Some(false), false, p, Some(true))
            })
            .collect()
    }

    #[test]
    fn the_review_threshold_is_the_lowest_keeping_the_specificity_on_every_database() {
        // training-a's normals score 0.00–0.50, PASCAL's 0.00–0.99 (it has no abnormal label:
        // only its normals count); training-a's abnormals 0.60–0.99.
        let mut rows = normals("training-a", 100, 0.0, 0.5);
        rows.extend(
            normals("pascal", 100, 0.0, 0.99)
                .into_iter()
                .map(|r| (r.0, None, r.2, r.3, r.4)),
        );
        rows.extend((0..100).map(|i| {
            (
                "training-a",
                Some(true),
                false,
                0.6 + 0.0039 * i as f64,
                Some(false),
            )
        }));
        // 90 of PASCAL's 100 normals lie under 0.89, 89 under 0.88.
        let (t, flags) = review_threshold(&rows, Some(0.9));
        assert_eq!(t, 0.89);
        assert!(
            flags,
            "it finds training-a's abnormals above 0.9 and no normal"
        );
        // A target under the least specificity is raised to it: 85 normals lie under 0.84.
        assert_eq!(review_threshold(&rows, Some(0.5)).0, 0.84);
        // A score that flags as many normals as abnormals does not flag.
        let flat: Vec<ReviewRow> = (0..200)
            .map(|i| {
                (
                    "training-b",
                    Some(i % 2 == 0),
                    false,
                    (i / 2) as f64 / 100.0,
                    Some(i % 2 == 1),
                )
            })
            .collect();
        assert!(!review_threshold(&flat, Some(0.9)).1);
    }
}

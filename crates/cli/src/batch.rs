//! Running the engine over many recordings on every core, writing results in input order.
//!
//! Each rayon worker thread owns one `Analyzer` (its buffers are reused from one recording to
//! the next). Results stream to the writer as soon as every earlier recording is done. A
//! recording that cannot be read or analysed becomes an error line; it must never stop the
//! batch.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Context;
use auscult_dsp::{Analysis, Analyzer};
use auscult_recording::{
    LoadedEcg, LoadedRecording, WavChannels, read_ecg, read_wav, read_wfdb_record,
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::inputs::Input;
use crate::report::{ErrorLine, ResultLine};

/// How to read and analyse a batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// An ECG (or R-peak CSV) to attach to the one recording.
    pub ecg: Option<PathBuf>,
    /// Channel layout of WAV files.
    pub channels: WavChannels,
    /// Worker threads (all cores when `None`).
    pub jobs: Option<usize>,
    /// Whether a progress bar may be shown (it still hides when stderr is not a terminal).
    pub progress: bool,
}

/// What became of one recording.
#[derive(Debug)]
pub enum Outcome {
    /// Analysed.
    Analysed(Box<ResultLine>),
    /// Could not be read or analysed.
    Failed(ErrorLine),
}

impl Outcome {
    /// The JSON line.
    pub fn to_json(&self) -> String {
        let r = match self {
            Outcome::Analysed(r) => serde_json::to_string(r),
            Outcome::Failed(e) => serde_json::to_string(e),
        };
        r.unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise result: {e}\"}}"))
    }

    /// The readable summary.
    pub fn to_text(&self) -> String {
        match self {
            Outcome::Analysed(r) => r.text(),
            Outcome::Failed(e) => format!("{}: ERROR {}\n", e.file, e.error),
        }
    }
}

/// Reads a recording by its extension (`.hea` through WFDB, anything else as WAV), attaching
/// `ecg` when given.
pub fn load(
    path: &Path,
    channels: WavChannels,
    ecg: Option<&LoadedEcg>,
) -> anyhow::Result<LoadedRecording> {
    let is_header = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hea"));
    let mut rec = if is_header {
        read_wfdb_record(path)?
    } else {
        read_wav(path, channels)?
    };
    if let Some(e) = ecg {
        rec.ecg = Some(e.clone());
    }
    Ok(rec)
}

/// Analyses one loaded recording; a panic inside the engine becomes an error, not a crash.
pub fn analyse(analyzer: &mut Analyzer, rec: &LoadedRecording) -> anyhow::Result<Analysis> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        analyzer.analyze(&rec.as_recording())
    }));
    match result {
        Ok(r) => r.context("analysis refused the recording"),
        Err(_) => {
            *analyzer = Analyzer::new();
            anyhow::bail!("internal error: the analysis engine panicked on this recording")
        }
    }
}

thread_local! {
    static ANALYZER: RefCell<Option<Analyzer>> = const { RefCell::new(None) };
}

fn run_one(input: &Input, opts: &BatchOptions, ecg: Option<&LoadedEcg>) -> Outcome {
    let fail = |error: String| {
        Outcome::Failed(ErrorLine {
            file: input.display.clone(),
            error,
        })
    };
    if let Some(p) = &input.problem {
        return fail(p.clone());
    }
    let rec = match load(&input.path, opts.channels, ecg) {
        Ok(r) => r,
        Err(e) => return fail(crate::errors::chain_once(&e)),
    };
    let analysis = ANALYZER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let analyzer = slot.get_or_insert_with(Analyzer::new);
        analyse(analyzer, &rec)
    });
    match analysis {
        Ok(a) => Outcome::Analysed(Box::new(ResultLine::new(input.display.clone(), &a))),
        Err(e) => fail(crate::errors::chain_once(&e)),
    }
}

/// Counts of a finished batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Recordings analysed.
    pub analysed: usize,
    /// Recordings that got an error line.
    pub failed: usize,
}

/// Analyses `inputs` in parallel and hands each outcome to `sink` in input order.
pub fn run_batch(
    inputs: &[Input],
    opts: &BatchOptions,
    mut sink: impl FnMut(&Outcome) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let ecg = match &opts.ecg {
        Some(p) => Some(read_ecg(p).with_context(|| format!("cannot read ECG {}", p.display()))?),
        None => None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .thread_name(|i| format!("auscult-analyze-{i}"))
        .build()
        .context("cannot start worker threads")?;
    let bar = if opts.progress && inputs.len() >= 4 && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} recordings, {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let mut summary = Summary::default();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let ecg = ecg.as_ref();
        scope.spawn(move || {
            pool.install(|| {
                inputs
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, input)| {
                        // The receiver only goes away when the writer failed; then stop quietly.
                        let _ = tx.send((i, run_one(input, opts, ecg)));
                    });
            });
        });
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (i, outcome) in rx {
            pending.insert(i, outcome);
            while let Some(o) = pending.remove(&next) {
                match o {
                    Outcome::Analysed(_) => summary.analysed += 1,
                    Outcome::Failed(_) => summary.failed += 1,
                }
                bar.inc(1);
                sink(&o)?;
                next += 1;
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

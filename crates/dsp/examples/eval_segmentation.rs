//! Runs preprocess + segment over the PhysioNet 2016 set and writes one JSON line per labelled
//! record, in the shape `/work/shared/eval/score.py` scores.
//!
//! ```text
//! cargo run --release -p auscult-dsp --example eval_segmentation -- \
//!     /work/shared/data/physionet2016 out.jsonl [--no-ecg] [--params FILE] [--fold K/N] [--only a]
//! python3 /work/shared/eval/score.py /work/shared/data/physionet2016 out.jsonl
//! ```
//! `--no-ecg` ignores the ECG of training-a; `--params` loads an emission model other than the
//! compiled-in one; `--fold K/N` keeps records whose index in labels.csv is K modulo N (held-out
//! fold of `train_segmenter --fold`); `--only a` keeps one training subset.

mod physionet;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use auscult_dsp::ecg::detect_beats;
use auscult_dsp::model::{EcgInput, Signal};
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::segment::emission::EmissionModel;
use auscult_dsp::segment::{Gating, Segmenter};
use auscult_dsp::units::Hz;
use physionet::{Record, read_ecg, read_labels, read_wav};

fn analyse(root: &Path, rec: &Record, use_ecg: bool, seg: &Segmenter) -> anyhow::Result<String> {
    let (pcg, rate) = read_wav(&root.join(&rec.file))?;
    let ecg = match (&rec.ecg, use_ecg) {
        (Some(h), true) => read_ecg(&root.join(h))?,
        _ => None,
    };
    let pre = preprocess(Signal {
        samples: &pcg,
        rate: Hz(rate),
    })?;
    let ecg_input = ecg.as_ref().map(|(s, r)| {
        EcgInput::Raw(Signal {
            samples: s,
            rate: Hz(*r),
        })
    });
    let seg = seg.segment(&pre, ecg_input);
    let mut line = format!(
        "{{\"file\": \"{}\", \"ecg_used\": {}, \"heart_rate_bpm\": {}, \"cycles\": [",
        rec.file,
        seg.ecg_used,
        seg.heart_rate
            .map_or("null".to_string(), |h| format!("{:.2}", h.0))
    );
    // Partial cycles at the edges as `auscult analyze` writes them: an S2 first, an S1 last.
    let span = |iv: Option<&auscult_dsp::Interval>| {
        iv.map_or("null".to_string(), |iv| {
            format!("[{:.4}, {:.4}]", iv.start.0, iv.end.0)
        })
    };
    let entries: Vec<String> = seg
        .edge_sounds
        .leading_s2
        .iter()
        .map(|s2| (None, Some(s2)))
        .chain(seg.cycles.iter().map(|c| (Some(&c.s1), Some(&c.s2))))
        .chain(
            seg.edge_sounds
                .trailing_s1
                .iter()
                .map(|s1| (Some(s1), None)),
        )
        .map(|(s1, s2)| format!("{{\"s1\": {}, \"s2\": {}}}", span(s1), span(s2)))
        .collect();
    line.push_str(&entries.join(", "));
    if let Some((s, r)) = &ecg {
        let beats = detect_beats(Signal {
            samples: s,
            rate: Hz(*r),
        });
        write!(line, "], \"ecg_quality\": {:.3}", beats.quality())?;
        line.push_str(", \"r_peaks\": [");
    } else {
        line.push_str("], \"r_peaks\": [");
    }
    let peaks: Vec<String> = seg.r_peaks.iter().map(|r| format!("{:.4}", r.0)).collect();
    line.push_str(&peaks.join(", "));
    line.push_str("]}");
    Ok(line)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut use_ecg = true;
    let mut params: Option<PathBuf> = None;
    let mut fold: Option<(usize, usize)> = None;
    let mut only: Option<String> = None;
    let mut gating = Gating::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-ecg" => use_ecg = false,
            "--params" => params = it.next().map(PathBuf::from),
            "--only" => only = it.next().cloned(),
            "--r-bonus" => gating.r_bonus = it.next().map_or(Ok(gating.r_bonus), |v| v.parse())?,
            "--r-spread" => {
                gating.r_spread = it.next().map_or(Ok(gating.r_spread), |v| v.parse())?
            }
            "--sys-sd" => {
                gating.systole_sd = it.next().map_or(Ok(gating.systole_sd), |v| v.parse())?
            }
            "--weak-s2-db" => {
                gating.weak_s2_db = it.next().map_or(Ok(gating.weak_s2_db), |v| v.parse())?
            }
            "--weak-s2-sd" => {
                gating.weak_s2_systole_sd = it
                    .next()
                    .map_or(Ok(gating.weak_s2_systole_sd), |v| v.parse())?
            }
            "--est-bonus" => {
                gating.estimate_bonus =
                    it.next().map_or(Ok(gating.estimate_bonus), |v| v.parse())?
            }
            "--grid" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--grid a,b,c"))?;
                gating.systole_grid = v
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--t-end" => {
                gating.t_end_weight = it.next().map_or(Ok(gating.t_end_weight), |v| v.parse())?
            }
            "--rr-sd" => {
                gating.rr_sd_scale = it.next().map_or(Ok(gating.rr_sd_scale), |v| v.parse())?
            }
            "--fold" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--fold K/N"))?;
                let (k, n) = v
                    .split_once('/')
                    .ok_or_else(|| anyhow::anyhow!("--fold K/N"))?;
                fold = Some((k.parse()?, n.parse()?));
            }
            _ => positional.push(a.clone()),
        }
    }
    let [root, out] = positional.as_slice() else {
        anyhow::bail!(
            "usage: eval_segmentation DATASET OUT.jsonl [--no-ecg] [--params F] [--fold K/N] [--only a]"
        );
    };
    let root = PathBuf::from(root);
    let segmenter = match &params {
        Some(p) => Segmenter::new(
            EmissionModel::parse(&std::fs::read_to_string(p)?).map_err(anyhow::Error::msg)?,
            gating,
        ),
        None => Segmenter::new(EmissionModel::builtin().clone(), gating.clone()),
    };
    let records: Vec<Record> = read_labels(&root)?
        .into_iter()
        .enumerate()
        .filter(|(i, _)| fold.is_none_or(|(k, n)| i % n == k))
        .filter(|(_, r)| {
            only.as_ref()
                .is_none_or(|o| r.file.starts_with(&format!("training-{o}/")))
        })
        .map(|(_, r)| r)
        .collect();
    let next = AtomicUsize::new(0);
    let lines = Mutex::new(vec![String::new(); records.len()]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rec) = records.get(i) else { break };
                    let line = analyse(&root, rec, use_ecg, &segmenter).unwrap_or_else(|e| {
                        format!("{{\"file\": \"{}\", \"error\": \"{e}\"}}", rec.file)
                    });
                    if let Ok(mut l) = lines.lock() {
                        l[i] = line;
                    }
                }
            });
        }
    });
    let lines = lines
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    std::fs::write(out, lines.join("\n") + "\n")?;
    eprintln!(
        "{} records in {:.1} s",
        records.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

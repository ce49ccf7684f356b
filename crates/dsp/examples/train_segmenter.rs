//! Trains the segmentation emission model (multinomial logistic regression over the expanded
//! 50 Hz features) from the PhysioNet 2016 reference segmentations and writes it in the format
//! `params/segment_emission.txt` holds.
//!
//! ```text
//! cargo run --release -p auscult-dsp --example train_segmenter -- \
//!     /work/shared/data/physionet2016 crates/dsp/params/segment_emission.txt [--fold K/N]
//! ```
//! `--fold K/N` leaves out the records whose index in labels.csv is K modulo N, so that
//! `eval_segmentation --fold K/N --params FILE` measures the model on records it never saw.

mod physionet;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use auscult_dsp::model::Signal;
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::segment::emission::{EmissionModel, N_EXPANDED, expand};
use auscult_dsp::segment::features::{FRAME_RATE, frames};
use auscult_dsp::units::Hz;
use physionet::{Record, read_labels, read_segments, read_wav};

/// Expanded feature rows and their state labels for one record (noise and unlabelled frames out).
fn labelled_frames(root: &Path, rec: &Record) -> anyhow::Result<Vec<([f32; N_EXPANDED], usize)>> {
    let (pcg, rate) = read_wav(&root.join(&rec.file))?;
    let pre = preprocess(Signal {
        samples: &pcg,
        rate: Hz(rate),
    })?;
    let spans = read_segments(&root.join(&rec.segments))?;
    let noise: Vec<(f64, f64)> = spans
        .iter()
        .filter(|s| s.state == 4)
        .map(|s| (s.start, s.end))
        .collect();
    let mut out = Vec::new();
    for (k, f) in frames(&pre).iter().enumerate() {
        let t = (k as f64 + 0.5) / FRAME_RATE;
        if noise.iter().any(|&(a, b)| a <= t && t <= b) {
            continue;
        }
        if let Some(s) = spans
            .iter()
            .find(|s| s.state < 4 && s.start <= t && t < s.end)
        {
            out.push((expand(f), s.state));
        }
    }
    Ok(out)
}

/// Fits a multinomial logistic regression by full-batch Adam with a small L2 penalty.
fn fit(rows: &[([f32; N_EXPANDED], usize)], iterations: usize) -> [[f32; N_EXPANDED]; 4] {
    let mut w = [[0.0f64; N_EXPANDED]; 4];
    let (mut m, mut v) = ([[0.0f64; N_EXPANDED]; 4], [[0.0f64; N_EXPANDED]; 4]);
    let (lr, b1, b2, eps, l2) = (0.05, 0.9, 0.999, 1e-8, 1e-4);
    let n = rows.len().max(1) as f64;
    for it in 1..=iterations {
        let mut grad = [[0.0f64; N_EXPANDED]; 4];
        let mut loss = 0.0;
        for (x, y) in rows {
            let mut z = [0.0f64; 4];
            for s in 0..4 {
                z[s] = w[s].iter().zip(x).map(|(a, b)| a * *b as f64).sum();
            }
            let top = z.iter().copied().fold(f64::MIN, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
            let sum: f64 = e.iter().sum();
            loss -= (e[*y] / sum).ln();
            for s in 0..4 {
                let g = e[s] / sum - if s == *y { 1.0 } else { 0.0 };
                for (gj, xj) in grad[s].iter_mut().zip(x) {
                    *gj += g * *xj as f64;
                }
            }
        }
        for s in 0..4 {
            for j in 0..N_EXPANDED {
                let g = grad[s][j] / n + l2 * w[s][j];
                m[s][j] = b1 * m[s][j] + (1.0 - b1) * g;
                v[s][j] = b2 * v[s][j] + (1.0 - b2) * g * g;
                let mh = m[s][j] / (1.0 - b1.powi(it as i32));
                let vh = v[s][j] / (1.0 - b2.powi(it as i32));
                w[s][j] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        if it % 50 == 0 {
            eprintln!("iteration {it}: mean log loss {:.4}", loss / n);
        }
    }
    w.map(|r| r.map(|v| v as f32))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut fold: Option<(usize, usize)> = None;
    let mut step = 2usize;
    let mut iterations = 300usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fold" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--fold K/N"))?;
                let (k, n) = v
                    .split_once('/')
                    .ok_or_else(|| anyhow::anyhow!("--fold K/N"))?;
                fold = Some((k.parse()?, n.parse()?));
            }
            "--step" => step = it.next().map_or(Ok(step), |v| v.parse())?,
            "--iterations" => iterations = it.next().map_or(Ok(iterations), |v| v.parse())?,
            _ => positional.push(a.clone()),
        }
    }
    let [root, out] = positional.as_slice() else {
        anyhow::bail!(
            "usage: train_segmenter DATASET OUT.txt [--fold K/N] [--step S] [--iterations N]"
        );
    };
    let root = PathBuf::from(root);
    let records: Vec<Record> = read_labels(&root)?
        .into_iter()
        .enumerate()
        .filter(|(i, _)| fold.is_none_or(|(k, n)| i % n != k))
        .map(|(_, r)| r)
        .collect();
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rec) = records.get(i) else { break };
                    match labelled_frames(&root, rec) {
                        Ok(r) => {
                            let kept: Vec<_> = r.into_iter().step_by(step.max(1)).collect();
                            if let Ok(mut all) = rows.lock() {
                                all.push((i, kept));
                            }
                        }
                        Err(e) => eprintln!("{}: {e}", rec.file),
                    }
                }
            });
        }
    });
    let mut per_record = rows.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    per_record.sort_by_key(|(i, _)| *i);
    let rows: Vec<_> = per_record.into_iter().flat_map(|(_, r)| r).collect();
    let mut counts = [0usize; 4];
    for (_, y) in &rows {
        counts[*y] += 1;
    }
    eprintln!(
        "{} records, {} frames, per state {counts:?}",
        records.len(),
        rows.len()
    );
    let weights = fit(&rows, iterations);
    let total = rows.len().max(1) as f32;
    let model = EmissionModel {
        weights,
        log_prior: counts.map(|c| (c.max(1) as f32 / total).ln()),
    };
    let header = format!(
        "Segmentation emission model: multinomial logistic regression over expanded 50 Hz features.\n\
         Trained by: cargo run --release -p auscult-dsp --example train_segmenter -- \
         {} {out}{}\n\
         {} records, {} frames (every {step}th), {iterations} Adam iterations.",
        root.display(),
        fold.map_or(String::new(), |(k, n)| format!(" --fold {k}/{n}")),
        records.len(),
        rows.len(),
    );
    std::fs::write(out, model.to_text(&header))?;
    Ok(())
}

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

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use auscult_dsp::model::{EcgInput, Signal};
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::segment::Segmenter;
use auscult_dsp::segment::emission::EmissionModel;
use auscult_dsp::units::Hz;

/// One labelled record.
#[derive(Debug, Clone)]
struct Record {
    /// Path of the PCG relative to the dataset.
    file: String,
    /// Path of the `.hea` (with ECG) relative to the dataset, if any.
    ecg: Option<String>,
}

fn read_labels(root: &Path) -> anyhow::Result<Vec<Record>> {
    let text = std::fs::read_to_string(root.join("labels.csv"))?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 4 || cols[3].is_empty() {
            continue;
        }
        out.push(Record {
            file: cols[0].to_string(),
            ecg: (!cols[2].is_empty()).then(|| cols[2].to_string()),
        });
    }
    Ok(out)
}

fn read_wav(path: &Path) -> anyhow::Result<(Vec<f32>, f64)> {
    let mut reader = hound::WavReader::open(path)?;
    let rate = reader.spec().sample_rate as f64;
    let samples: Result<Vec<i16>, _> = reader.samples::<i16>().collect();
    Ok((samples?.into_iter().map(|v| v as f32).collect(), rate))
}

/// Reads the ECG named by a PhysioNet 2016 `.hea` (format 16 `.dat`, the second signal line).
fn read_ecg(hea: &Path) -> anyhow::Result<Option<(Vec<f32>, f64)>> {
    let text = std::fs::read_to_string(hea)?;
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let head: Vec<&str> = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty header"))?
        .split_whitespace()
        .collect();
    let rate: f64 = head.get(2).map_or(Ok(2000.0), |s| s.parse())?;
    for line in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 2 && cols[0].ends_with(".dat") && cols[1] == "16" {
            let dir = hea.parent().unwrap_or(Path::new("."));
            let mut bytes = Vec::new();
            std::fs::File::open(dir.join(cols[0]))?.read_to_end(&mut bytes)?;
            let samples = bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32)
                .collect();
            return Ok(Some((samples, rate)));
        }
    }
    Ok(None)
}

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
    for (i, c) in seg.cycles.iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        write!(
            line,
            "{{\"s1\": [{:.4}, {:.4}], \"s2\": [{:.4}, {:.4}]}}",
            c.s1.start.0, c.s1.end.0, c.s2.start.0, c.s2.end.0
        )?;
    }
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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-ecg" => use_ecg = false,
            "--params" => params = it.next().map(PathBuf::from),
            "--only" => only = it.next().cloned(),
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
        ),
        None => Segmenter::default(),
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

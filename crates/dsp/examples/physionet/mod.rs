//! Readers for the PhysioNet 2016 files the examples use: labels.csv, the PCG WAV, the format-16
//! ECG named by a `.hea`, and the `*.segments.tsv` reference segmentation.

#![allow(dead_code)] // each example uses a different part of this module

use std::io::Read;
use std::path::Path;

/// One labelled record.
#[derive(Debug, Clone)]
pub struct Record {
    /// Path of the segmentation labels relative to the dataset.
    pub segments: String,
    /// Path of the PCG relative to the dataset.
    pub file: String,
    /// Path of the `.hea` (with ECG) relative to the dataset, if any.
    pub ecg: Option<String>,
}

/// Reads labels.csv: the records that have a reference segmentation.
pub fn read_labels(root: &Path) -> anyhow::Result<Vec<Record>> {
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
            segments: cols[3].to_string(),
        });
    }
    Ok(out)
}

/// Reads a 16-bit PCM WAV as f32 samples and its rate.
pub fn read_wav(path: &Path) -> anyhow::Result<(Vec<f32>, f64)> {
    let mut reader = hound::WavReader::open(path)?;
    let rate = reader.spec().sample_rate as f64;
    let samples: Result<Vec<i16>, _> = reader.samples::<i16>().collect();
    Ok((samples?.into_iter().map(|v| v as f32).collect(), rate))
}

/// Reads the ECG named by a PhysioNet 2016 `.hea` (format 16 `.dat`, the second signal line).
pub fn read_ecg(hea: &Path) -> anyhow::Result<Option<(Vec<f32>, f64)>> {
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

/// One labelled span of a reference segmentation.
#[derive(Debug, Clone, Copy)]
pub struct LabelSpan {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// 0 S1, 1 systole, 2 S2, 3 diastole, 4 noise.
    pub state: usize,
}

/// Reads a `*.segments.tsv`.
pub fn read_segments(path: &Path) -> anyhow::Result<Vec<LabelSpan>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let state = match cols[2] {
            "S1" => 0,
            "systole" => 1,
            "S2" => 2,
            "diastole" => 3,
            "noise" => 4,
            other => anyhow::bail!("unknown state {other}"),
        };
        out.push(LabelSpan {
            start: cols[0].parse()?,
            end: cols[1].parse()?,
            state,
        });
    }
    Ok(out)
}

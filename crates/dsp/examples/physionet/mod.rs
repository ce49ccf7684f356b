//! The PhysioNet 2016 records the examples use, read through `auscult-recording` (labels.csv,
//! the PCG WAV, the ECG of a `.hea`), and the `*.segments.tsv` reference segmentation.

#![allow(dead_code)] // each example uses a different part of this module

use std::path::Path;

use auscult_recording::{LoadedEcg, WavChannels, read_ecg as read_record_ecg, read_labels_csv};

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
    Ok(read_labels_csv(&root.join("labels.csv"))?
        .into_iter()
        .filter_map(|row| {
            Some(Record {
                segments: row.get("segments")?.to_string(),
                ecg: row.get("ecg").map(str::to_string),
                file: row.file,
            })
        })
        .collect())
}

/// Reads a WAV's first channel as f32 samples (full scale ±1) and its rate.
pub fn read_wav(path: &Path) -> anyhow::Result<(Vec<f32>, f64)> {
    let rec = auscult_recording::read_wav(path, WavChannels::default())?;
    Ok((rec.pcg.samples, rec.pcg.rate.0))
}

/// Reads the ECG of a WFDB record (in mV) and its rate.
pub fn read_ecg(hea: &Path) -> anyhow::Result<Option<(Vec<f32>, f64)>> {
    match read_record_ecg(hea)? {
        LoadedEcg::Raw(s) => Ok(Some((s.samples, s.rate.0))),
        LoadedEcg::RPeaks(_) => Ok(None),
    }
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

//! The labelled recordings of `shared/data`, read through `auscult-recording` (the product's own
//! readers: `labels.csv`, WAV and WFDB), with the truths the models are trained on and the
//! database each recording comes from (the unit left out in leave-one-database-out evaluation).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use auscult_recording::{
    LabelRow, LoadedRecording, WavChannels, read_ecg, read_labels_csv, read_wav,
};

/// The databases held out in turn by leave-one-database-out evaluation, in report order.
pub const DATABASES: [&str; 6] = [
    "training-a",
    "training-b",
    "training-c",
    "training-d",
    "yaseen2018",
    "pascal",
];

/// One labelled recording of a dataset.
#[derive(Debug, Clone)]
pub struct Item {
    /// Which dataset folder it came from (`yaseen2018`, `pascal`, `physionet2016`).
    pub dataset: String,
    /// Its `labels.csv` row (`file` relative to the dataset folder).
    pub row: LabelRow,
    /// Dataset folder.
    pub root: PathBuf,
}

impl Item {
    /// Path relative to the dataset folder, as in `labels.csv`.
    pub fn file(&self) -> &str {
        &self.row.file
    }

    /// A label column, empty when absent.
    pub fn label(&self, key: &str) -> &str {
        self.row.get(key).unwrap_or("")
    }

    /// The database (recording site and device) the recording comes from: the PhysioNet 2016
    /// part (`training-a` ...) or the dataset.
    pub fn database(&self) -> &str {
        if self.dataset == "physionet2016" {
            self.row.file.split('/').next().unwrap_or(&self.dataset)
        } else {
            &self.dataset
        }
    }

    /// Murmur truth: Some(true/false) where labelled. PhysioNet 2016 "Normal" recordings count
    /// as murmur-absent (a normal heart has no pathological murmur); its abnormal ones have no
    /// murmur label and are left out.
    pub fn murmur(&self) -> Option<bool> {
        match (self.label("murmur"), self.label("label")) {
            ("Present", _) => Some(true),
            ("Absent", _) => Some(false),
            (_, "Normal") if self.dataset == "physionet2016" => Some(false),
            _ => None,
        }
    }

    /// Murmur truth as the scorer sees it (labelled murmur column only).
    pub fn murmur_scored(&self) -> Option<bool> {
        match self.label("murmur") {
            "Present" => Some(true),
            "Absent" => Some(false),
            _ => None,
        }
    }

    /// Abnormal truth (PhysioNet 2016).
    pub fn abnormal(&self) -> Option<bool> {
        match self.label("label") {
            "Abnormal" => Some(true),
            "Normal" => Some(false),
            _ => None,
        }
    }

    /// Diastolic truth for labelled murmurs (Yaseen).
    pub fn diastolic(&self) -> Option<bool> {
        match self.label("murmur_timing") {
            "diastolic" => Some(true),
            "systolic" => Some(false),
            _ => None,
        }
    }

    /// Reads the PCG (the WAV named by `file`) and, where the row names one, the ECG of its
    /// WFDB record.
    pub fn read(&self) -> Result<LoadedRecording> {
        let path = self.root.join(&self.row.file);
        let mut rec = read_wav(&path, WavChannels::default())
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(hea) = self.row.get("ecg") {
            let hea = self.root.join(hea);
            rec.ecg = Some(read_ecg(&hea).with_context(|| format!("reading {}", hea.display()))?);
        }
        Ok(rec)
    }
}

/// Reads a dataset folder's `labels.csv`.
pub fn read_labels(root: &Path) -> Result<Vec<Item>> {
    let path = root.join("labels.csv");
    let rows = read_labels_csv(&path).with_context(|| format!("reading {}", path.display()))?;
    let dataset = root
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    Ok(rows
        .into_iter()
        .map(|row| Item {
            dataset: dataset.clone(),
            row,
            root: root.to_path_buf(),
        })
        .collect())
}

//! Small readers for the evaluation datasets: `labels.csv`, 16-bit WAV (hound) and the WFDB
//! format-16 ECG signal of PhysioNet 2016 records. Only what training needs; the product's real
//! reader is the `auscult-recording` crate.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One labelled recording of a dataset.
#[derive(Debug, Clone)]
pub struct Item {
    /// Which dataset folder it came from (`yaseen2018`, `pascal`, `physionet2016`).
    pub dataset: String,
    /// Path relative to the dataset folder, as in `labels.csv`.
    pub file: String,
    /// All columns of its `labels.csv` row.
    pub labels: HashMap<String, String>,
    /// Dataset folder.
    pub root: PathBuf,
}

impl Item {
    /// A label column, empty when absent.
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
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

    /// The group a recording belongs to for cross-validation (the patient where the name tells it).
    pub fn group(&self) -> String {
        let stem = Path::new(&self.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(&self.file);
        if self.dataset == "pascal" {
            // set_b/normal__127_1306764300147_C2.wav: 127 is the patient.
            if let Some(rest) = stem.split("__").nth(1) {
                return format!("pascal/{}", rest.split('_').next().unwrap_or(rest));
            }
        }
        format!("{}/{}", self.dataset, stem)
    }
}

/// Reads a dataset folder's `labels.csv` (plain comma-separated, no quoting in these files).
pub fn read_labels(root: &Path) -> Result<Vec<Item>> {
    let path = root.join("labels.csv");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .context("empty labels.csv")?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let dataset = root
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let mut items = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let labels: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(line.split(',').map(|s| s.trim().to_string()))
            .collect();
        let file = labels.get("file").cloned().unwrap_or_default();
        items.push(Item {
            dataset: dataset.clone(),
            file,
            labels,
            root: root.to_path_buf(),
        });
    }
    Ok(items)
}

/// A WAV file as f32 samples (first channel, full scale ±1) and its rate.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, f64)> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = reader.spec();
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .step_by(ch)
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .step_by(ch)
            .collect::<Result<_, _>>()?,
    };
    Ok((samples, spec.sample_rate as f64))
}

/// The ECG of a PhysioNet 2016 record (`.hea` naming a format-16 `.dat`), in mV, and its rate.
pub fn read_physionet_ecg(hea: &Path) -> Result<Option<(Vec<f32>, f64)>> {
    let text = fs::read_to_string(hea).with_context(|| format!("reading {}", hea.display()))?;
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let first: Vec<&str> = lines
        .next()
        .context("empty header")?
        .split_whitespace()
        .collect();
    let rate: f64 = first
        .get(2)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .context("no sampling frequency in header")?;
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.last() != Some(&"ECG") {
            continue;
        }
        let (Some(name), Some(fmt)) = (f.first(), f.get(1)) else {
            continue;
        };
        if *fmt != "16" {
            bail!("ECG format {fmt} not supported by this reader");
        }
        let gain: f64 = f
            .get(2)
            .and_then(|g| g.split('/').next())
            .and_then(|g| g.parse().ok())
            .filter(|g: &f64| *g > 0.0)
            .unwrap_or(200.0);
        let dir = hea.parent().unwrap_or(Path::new("."));
        let bytes = fs::read(dir.join(name))?;
        let ecg = bytes
            .chunks_exact(2)
            .map(|b| (i16::from_le_bytes([b[0], b[1]]) as f64 / gain) as f32)
            .collect();
        return Ok(Some((ecg, rate)));
    }
    Ok(None)
}

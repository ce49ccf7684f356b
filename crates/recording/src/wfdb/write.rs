//! Writing a PCG (and ECG) as a WFDB record in format 16, with heart sounds as annotations.
//!
//! The output is what PhysioNet's tools expect: `<name>.hea`, one `<name>.dat` holding the
//! signals multiplexed frame by frame, and `<name>.seg` (annotator `seg`) in the MIT format.
//! Must never write a header that disagrees with the data (checksums and initial values are
//! computed from the samples written).

use std::path::{Path, PathBuf};

use auscult_dsp::Hz;

use super::annotation::{HeartSound, heart_sound_annotations, write_annotations};
use crate::RecordingError;

/// The annotator name (file extension) of heart-sound annotation files.
pub const HEART_SOUND_ANNOTATOR: &str = "seg";

/// The files a call to [`write_wfdb_record`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRecord {
    /// The header.
    pub header: PathBuf,
    /// The multiplexed signal file.
    pub data: PathBuf,
    /// The heart-sound annotation file (absent when there were no sounds to write).
    pub annotations: Option<PathBuf>,
}

struct Quantised {
    adc: Vec<i16>,
    gain: f64,
}

/// Scales samples so the largest magnitude maps to 30000 ADC units.
fn quantise(samples: &[f32]) -> Result<Quantised, RecordingError> {
    if samples.iter().any(|v| !v.is_finite()) {
        return Err(RecordingError::Unwritable("non-finite samples".into()));
    }
    let peak = samples
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let gain = if peak > 0.0 { 30000.0 / peak } else { 1.0 };
    // Round the gain to what the header's text will hold, so reading it back is exact.
    let gain: f64 = format!("{gain:.6e}").parse().unwrap_or(1.0);
    let adc = samples
        .iter()
        .map(|&v| (f64::from(v) * gain).round().clamp(-32767.0, 32767.0) as i16)
        .collect();
    Ok(Quantised { adc, gain })
}

/// Writes `pcg` (and `ecg`, sample-aligned at the same `rate`) as record `name` in `dir`, with
/// `sounds` as an annotation file. `name` may hold ASCII letters, digits and `_` only.
pub fn write_wfdb_record(
    dir: &Path,
    name: &str,
    rate: Hz,
    pcg: &[f32],
    ecg: Option<&[f32]>,
    sounds: &[HeartSound],
) -> Result<WrittenRecord, RecordingError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(RecordingError::Unwritable(format!("record name {name:?}")));
    }
    if !(rate.0.is_finite() && rate.0 > 0.0) {
        return Err(RecordingError::InvalidRate(rate.0));
    }
    if pcg.is_empty() {
        return Err(RecordingError::Empty);
    }
    if ecg.is_some_and(|e| e.len() != pcg.len()) {
        return Err(RecordingError::Unwritable(
            "PCG and ECG differ in length".into(),
        ));
    }
    let mut signals = vec![(quantise(pcg)?, "NU", "PCG")];
    if let Some(e) = ecg {
        signals.push((quantise(e)?, "mV", "ECG"));
    }

    let mut dat = Vec::with_capacity(pcg.len() * 2 * signals.len());
    for i in 0..pcg.len() {
        for (q, ..) in &signals {
            dat.extend_from_slice(&q.adc[i].to_le_bytes());
        }
    }
    let dat_name = format!("{name}.dat");
    let mut hea = format!("{name} {} {} {}\n", signals.len(), rate.0, pcg.len());
    for (q, units, description) in &signals {
        let checksum = q.adc.iter().fold(0i16, |s, &v| s.wrapping_add(v));
        let init = q.adc.first().copied().unwrap_or(0);
        hea.push_str(&format!(
            "{dat_name} 16 {gain}(0)/{units} 16 0 {init} {checksum} 0 {description}\n",
            gain = q.gain
        ));
    }
    hea.push_str("# written by auscult\n");

    let header = dir.join(format!("{name}.hea"));
    let data = dir.join(&dat_name);
    std::fs::write(&data, dat).map_err(|e| RecordingError::io(&data, e))?;
    std::fs::write(&header, hea).map_err(|e| RecordingError::io(&header, e))?;
    let annotations = if sounds.is_empty() {
        None
    } else {
        let path = dir.join(format!("{name}.{HEART_SOUND_ANNOTATOR}"));
        write_annotations(&path, &heart_sound_annotations(sounds, rate)?)?;
        Some(path)
    };
    Ok(WrittenRecord {
        header,
        data,
        annotations,
    })
}

//! What a simulated device records: a synthetic scenario or a real file replayed, turned into the
//! exact bytes the device will stream (PCG as 16-bit or float samples, ECG as float mV or R-peak
//! times) with the payload's SHA-256.
//!
//! Never does network I/O; reads files only in [`DeviceRecording::from_file`].

use std::path::Path;

use auscult_proto::v1::{EcgMode, SampleFormat};
use auscult_recording::LoadedEcg;
use auscult_synth::SyntheticRecording;
use sha2::{Digest, Sha256};

use crate::SimError;

/// How the device sends its ECG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EcgChoice {
    /// No ECG.
    None,
    /// The raw lead.
    #[default]
    Samples,
    /// R-peak times detected on the device.
    RPeaks,
}

/// How PCG samples are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PcgFormat {
    /// Signed 16-bit, full scale ±1 (clipped beyond), as a real ADC would.
    #[default]
    S16,
    /// 32-bit float, unclipped.
    F32,
}

/// The ECG as the device holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum EcgPayload {
    /// No ECG.
    None,
    /// A raw lead in mV at `rate_hz`.
    Samples {
        /// Sample rate, Hz.
        rate_hz: u32,
        /// Samples, mV.
        samples: Vec<f32>,
    },
    /// R-peak times, seconds from the start of the PCG, strictly increasing.
    RPeaks(Vec<f64>),
}

/// One recording held by a device, ready to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecording {
    /// A label for reports (scenario and seed, or the file name).
    pub label: String,
    /// PCG sample rate, Hz.
    pub pcg_rate_hz: u32,
    /// PCG samples, full scale ±1.
    pub pcg: Vec<f32>,
    /// The ECG.
    pub ecg: EcgPayload,
}

fn integer_rate(what: &str, rate: f64, lo: u32, hi: u32) -> Result<u32, SimError> {
    let rounded = rate.round();
    if (rate - rounded).abs() > 1e-9 || rounded < f64::from(lo) || rounded > f64::from(hi) {
        return Err(SimError::Unsupported(format!(
            "{what} rate {rate} Hz: the protocol carries whole rates from {lo} to {hi} Hz"
        )));
    }
    Ok(rounded as u32)
}

fn strictly_increasing(peaks: &[f64]) -> bool {
    peaks.iter().all(|p| p.is_finite()) && peaks.windows(2).all(|w| w[1] > w[0])
}

impl DeviceRecording {
    /// A synthetic recording as the device would send it.
    pub fn from_synth(
        label: String,
        rec: &SyntheticRecording,
        ecg: EcgChoice,
    ) -> Result<Self, SimError> {
        let pcg_rate_hz = integer_rate("PCG", rec.pcg_rate_hz, 1000, 48_000)?;
        let ecg = match ecg {
            EcgChoice::None => EcgPayload::None,
            EcgChoice::Samples => EcgPayload::Samples {
                rate_hz: integer_rate("ECG", rec.ecg_rate_hz, 100, 48_000)?,
                samples: rec.ecg.clone(),
            },
            EcgChoice::RPeaks => EcgPayload::RPeaks(rec.truth.r_peaks_s.clone()),
        };
        Ok(Self {
            label,
            pcg_rate_hz,
            pcg: rec.pcg.clone(),
            ecg,
        })
    }

    /// A real recording (`.wav`, or a WFDB `.hea` with its PCG and ECG) replayed as a device would.
    /// A WAV's channel 0 is the PCG; `wav_ecg_channel` names a channel holding the ECG, if any.
    pub fn from_file(path: &Path, wav_ecg_channel: Option<usize>) -> Result<Self, SimError> {
        let channels = auscult_recording::WavChannels {
            pcg: 0,
            ecg: wav_ecg_channel,
        };
        let loaded =
            auscult_recording::read_recording(path, channels).map_err(|source| SimError::Read {
                path: path.display().to_string(),
                source,
            })?;
        let pcg_rate_hz = integer_rate("PCG", loaded.pcg.rate.0, 1000, 48_000)?;
        let ecg = match loaded.ecg {
            None => EcgPayload::None,
            Some(LoadedEcg::Raw(sig)) => EcgPayload::Samples {
                rate_hz: integer_rate("ECG", sig.rate.0, 100, 48_000)?,
                samples: sig.samples,
            },
            Some(LoadedEcg::RPeaks(p)) => EcgPayload::RPeaks(p.into_iter().map(|s| s.0).collect()),
        };
        if let EcgPayload::RPeaks(p) = &ecg
            && !strictly_increasing(p)
        {
            return Err(SimError::Unsupported(
                "R-peak times are not strictly increasing".into(),
            ));
        }
        if loaded.pcg.samples.is_empty() {
            return Err(SimError::Unsupported(format!(
                "{}: no PCG samples",
                path.display()
            )));
        }
        Ok(Self {
            label: path.display().to_string(),
            pcg_rate_hz,
            pcg: loaded.pcg.samples,
            ecg,
        })
    }

    /// Length of the PCG, seconds.
    pub fn duration_s(&self) -> f64 {
        self.pcg.len() as f64 / f64::from(self.pcg_rate_hz)
    }

    /// Encode for streaming.
    pub fn encode(&self, pcg_format: PcgFormat) -> EncodedRecording {
        let (pcg_bytes, pcg_width, format) = match pcg_format {
            PcgFormat::S16 => (
                self.pcg
                    .iter()
                    .flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
                    .collect::<Vec<u8>>(),
                2,
                SampleFormat::S16le,
            ),
            PcgFormat::F32 => (
                self.pcg.iter().flat_map(|v| v.to_le_bytes()).collect(),
                4,
                SampleFormat::F32le,
            ),
        };
        let (ecg_bytes, ecg_rate_hz, ecg_mode, r_peaks) = match &self.ecg {
            EcgPayload::None => (Vec::new(), 0, EcgMode::None, Vec::new()),
            EcgPayload::Samples { rate_hz, samples } => (
                samples.iter().flat_map(|v| v.to_le_bytes()).collect(),
                *rate_hz,
                EcgMode::Samples,
                Vec::new(),
            ),
            EcgPayload::RPeaks(p) => (Vec::new(), 0, EcgMode::RPeaks, p.clone()),
        };
        let mut hash = Sha256::new();
        hash.update(&pcg_bytes);
        hash.update(&ecg_bytes);
        for p in &r_peaks {
            hash.update(p.to_le_bytes());
        }
        EncodedRecording {
            label: self.label.clone(),
            pcg_rate_hz: self.pcg_rate_hz,
            pcg_format: format,
            pcg_width,
            pcg_bytes,
            ecg_mode,
            ecg_rate_hz,
            ecg_bytes,
            r_peaks,
            sha256: hash.finalize().to_vec(),
        }
    }
}

/// A recording packed into the bytes the device streams.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRecording {
    /// Label for reports.
    pub label: String,
    /// PCG rate, Hz.
    pub pcg_rate_hz: u32,
    /// PCG packing.
    pub pcg_format: SampleFormat,
    /// Bytes per PCG sample.
    pub pcg_width: usize,
    /// The packed PCG.
    pub pcg_bytes: Vec<u8>,
    /// How the ECG comes.
    pub ecg_mode: EcgMode,
    /// ECG rate, Hz (0 unless samples).
    pub ecg_rate_hz: u32,
    /// The packed ECG (float mV), empty unless samples.
    pub ecg_bytes: Vec<u8>,
    /// R-peak times, empty unless R peaks.
    pub r_peaks: Vec<f64>,
    /// SHA-256 of the payload as the protocol defines it.
    pub sha256: Vec<u8>,
}

/// Bytes per ECG sample (always float mV).
pub const ECG_WIDTH: usize = 4;

impl EncodedRecording {
    /// PCG sample count.
    pub fn pcg_samples(&self) -> u64 {
        (self.pcg_bytes.len() / self.pcg_width) as u64
    }
    /// ECG sample count.
    pub fn ecg_samples(&self) -> u64 {
        (self.ecg_bytes.len() / ECG_WIDTH) as u64
    }
}

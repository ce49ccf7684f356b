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
    /// Signed 16-bit, full scale ±1 (clipped beyond), as a real ADC would. A sample `v` is sent as
    /// `round(v · 32768)`, the exact inverse of the server's `k / 32768`, so 16-bit sources
    /// (a 16-bit WAV) arrive bit for bit.
    #[default]
    S16,
    /// 32-bit float, unclipped.
    F32,
}

/// Full scale of a signed 16-bit sample: `k / S16_FULL_SCALE` is the value of integer `k`, as the
/// server decodes it (and as 16-bit WAV readers do).
pub const S16_FULL_SCALE: f32 = 32768.0;

/// The 16-bit integer that carries `v`, clamped to the i16 range (a real ADC clips).
fn s16_of(v: f32) -> i16 {
    // Clamped first, so the cast cannot wrap; NaN maps to 0.
    (v * S16_FULL_SCALE)
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// True when `v` is exactly a 16-bit sample: `S16` carries it with no change at all.
fn exact_in_s16(v: f32) -> bool {
    v.is_finite() && f32::from(s16_of(v)) == v * S16_FULL_SCALE
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

    /// The packing that sends this PCG unchanged: `S16` when every sample is exactly a 16-bit
    /// value (a 16-bit WAV), otherwise `F32`, which never clips (a WFDB record in physical units,
    /// a float WAV, a 24-bit file).
    pub fn lossless_pcg_format(&self) -> PcgFormat {
        if self.pcg.iter().all(|&v| exact_in_s16(v)) {
            PcgFormat::S16
        } else {
            PcgFormat::F32
        }
    }

    /// How many PCG samples `S16` would clip (outside full scale ±1).
    pub fn samples_clipped_by_s16(&self) -> usize {
        self.pcg
            .iter()
            .filter(|&&v| !(-1.0..=f32::from(i16::MAX) / S16_FULL_SCALE).contains(&v))
            .count()
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
                    .flat_map(|&v| s16_of(v).to_le_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(pcg: Vec<f32>) -> DeviceRecording {
        DeviceRecording {
            label: "t".into(),
            pcg_rate_hz: 2000,
            pcg,
            ecg: EcgPayload::None,
        }
    }

    #[test]
    fn s16_carries_16_bit_samples_bit_for_bit() {
        let ints: Vec<i16> = vec![0, 1, -1, 16_385, 32_767, -32_768, -20_000];
        let rec = recording(ints.iter().map(|&k| f32::from(k) / 32768.0).collect());
        assert_eq!(rec.lossless_pcg_format(), PcgFormat::S16);
        let enc = rec.encode(PcgFormat::S16);
        let back: Vec<i16> = enc
            .pcg_bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(back, ints);
        assert_eq!(rec.samples_clipped_by_s16(), 0);
    }

    #[test]
    fn physical_units_beyond_full_scale_are_sent_as_float() {
        // A WFDB PCG with gain 1 reads as raw ADC values in "physical" units (PhysioNet 2016).
        let rec = recording(vec![0.0, 1200.0, -32_767.0, 0.25]);
        assert_eq!(rec.lossless_pcg_format(), PcgFormat::F32);
        assert_eq!(rec.samples_clipped_by_s16(), 2);
        let enc = rec.encode(PcgFormat::F32);
        let back: Vec<f32> = enc
            .pcg_bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(back, rec.pcg);
    }

    #[test]
    fn fractional_samples_need_float() {
        let rec = recording(vec![0.1, -0.3]);
        assert_eq!(rec.lossless_pcg_format(), PcgFormat::F32);
        assert_eq!(rec.samples_clipped_by_s16(), 0);
    }
}

//! Shared by the dsp integration tests that analyse `auscult-synth` recordings end to end.
//! Each test binary uses part of it.
#![allow(dead_code)]

use auscult_synth::{MurmurKind, MurmurSpec, PcgNoise, SynthConfig};

/// The PCG rate of the recordings (Hz).
pub const RATE: f64 = 2000.0;

/// Faint white noise only (30 dB SNR): a clean recording.
pub const FAINT: PcgNoise = PcgNoise {
    white_snr_db: Some(30.0),
    ..PcgNoise::NONE
};

/// 20 s at [`RATE`] (the ECG at the synthesiser's default rate): a heart at `heart_rate_bpm`,
/// with a murmur of the given kind and grade or none, under `noise`.
pub fn config(
    seed: u64,
    heart_rate_bpm: f64,
    murmur: Option<(MurmurKind, u8)>,
    noise: PcgNoise,
) -> SynthConfig {
    SynthConfig {
        seed,
        duration_s: 20.0,
        pcg_rate_hz: RATE,
        heart_rate_bpm,
        murmur: murmur.map(|(kind, grade)| MurmurSpec { kind, grade }),
        pcg_noise: noise,
        ..SynthConfig::default()
    }
}

/// The PCG of [`config`].
pub fn heart(
    seed: u64,
    heart_rate_bpm: f64,
    murmur: Option<(MurmurKind, u8)>,
    noise: PcgNoise,
) -> Vec<f32> {
    let cfg = config(seed, heart_rate_bpm, murmur, noise);
    auscult_synth::generate(&cfg).expect("valid config").pcg
}

//! Device augmentation for training: copies of a training recording as another stethoscope
//! might have heard it (another gain, a first-order high- or low-pass "device response", white
//! noise at 10–30 dB SNR). The copies are used only to fit the models, never to choose a
//! threshold or to score: every figure is measured on the original recordings.
//!
//! Deterministic: the draws come from a ChaCha8 generator seeded by the recording's file name
//! and the copy number, so training twice gives byte-identical models.

use auscult_dsp::filter::Sos;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// What one augmented copy did (for the record; the copy itself is the samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Response {
    /// First-order high-pass at this many Hz (a thin, bright diaphragm).
    HighPass(f64),
    /// First-order low-pass at this many Hz (a dull bell or a cheap microphone).
    LowPass(f64),
}

/// The range of the added white noise's SNR, dB.
pub const SNR_DB: (f64, f64) = (10.0, 30.0);

/// A seed from the file name and copy number (FNV-1a; stable across runs and platforms).
pub(crate) fn seed(file: &str, copy: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file.bytes().chain(copy.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The `copy`-th device-augmented version of a PCG sampled at `rate` Hz: gain ×0.1–×10
/// (log-uniform), a first-order high-pass at 40–150 Hz or low-pass at 250–600 Hz (even/odd
/// draw), then white noise at 10–30 dB SNR (uniform in dB) of the filtered signal's power.
pub fn device_copy(samples: &[f32], rate: f64, file: &str, copy: usize) -> (Vec<f32>, Response) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed(file, copy));
    let gain = 10f64.powf(rng.random_range(-1.0..1.0)) as f32;
    let response = if rng.random_bool(0.5) {
        Response::HighPass(rng.random_range(40.0..150.0))
    } else {
        Response::LowPass(rng.random_range(250.0..600.0))
    };
    let snr_db: f64 = rng.random_range(SNR_DB.0..SNR_DB.1);
    let mut x: Vec<f32> = samples.iter().map(|v| v * gain).collect();
    let filter = match response {
        Response::HighPass(f) => Sos::butter_highpass(1, f, rate),
        Response::LowPass(f) => Sos::butter_lowpass(1, f.min(0.45 * rate), rate),
    };
    filter.apply(&mut x);
    add_white_noise(&mut x, snr_db, &mut rng);
    (x, response)
}

/// Adds white Gaussian noise at `snr_db` below the power of `x` itself, drawn from `rng`.
pub(crate) fn add_white_noise(x: &mut [f32], snr_db: f64, rng: &mut ChaCha8Rng) {
    let power = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    let sd = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    for v in x.iter_mut() {
        let n: f64 = StandardNormal.sample(rng);
        *v += (sd * n) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_reproducible_and_at_the_drawn_snr() {
        let rate = 2000.0;
        let x: Vec<f32> = (0..20_000)
            .map(|i| (2.0 * std::f64::consts::PI * 100.0 * i as f64 / rate).sin() as f32)
            .collect();
        let (a, ra) = device_copy(&x, rate, "a/b.wav", 0);
        let (b, rb) = device_copy(&x, rate, "a/b.wav", 0);
        assert_eq!(a, b, "same file and copy, same samples");
        assert_eq!(ra, rb);
        let (c, _) = device_copy(&x, rate, "a/b.wav", 1);
        assert_ne!(a, c, "another copy draws again");
        assert_eq!(a.len(), x.len());
        assert!(a.iter().all(|v| v.is_finite()));
    }
}

//! Envelopes of a band-passed heart-sound signal: Hilbert (analytic magnitude) and homomorphic
//! (exp of the low-passed log Hilbert envelope, Gupta et al. 2007; Springer et al. 2016), plus the
//! block-mean decimation used to bring them down to the segmentation feature rate.
//!
//! FFT plans are made once per thread and per length and reused (realfft for the forward real
//! transform, rustfft for the inverse). Nothing here panics or returns NaN for finite input.

use std::cell::RefCell;

use realfft::RealFftPlanner;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use crate::filter::Sos;

thread_local! {
    static REAL_PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
    static COMPLEX_PLANNER: RefCell<FftPlanner<f32>> = RefCell::new(FftPlanner::new());
}

/// The smallest length ≥ `n` whose prime factors are 2, 3 and 5 (fast for rustfft).
pub fn fast_len(n: usize) -> usize {
    let mut best = n.max(1).next_power_of_two();
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            let mut v = p35;
            while v < n {
                v *= 2;
            }
            best = best.min(v);
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// The magnitude of the analytic signal of `x` (zero-padded to a fast FFT length).
pub fn hilbert_envelope(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    if n < 2 {
        return x.iter().map(|v| v.abs()).collect();
    }
    let len = fast_len(n);
    let forward = REAL_PLANNER.with(|p| p.borrow_mut().plan_fft_forward(len));
    let inverse = COMPLEX_PLANNER.with(|p| p.borrow_mut().plan_fft_inverse(len));
    let mut input = vec![0.0f32; len];
    input[..n].copy_from_slice(x);
    let mut half = forward.make_output_vec();
    if forward.process(&mut input, &mut half).is_err() {
        return x.iter().map(|v| v.abs()).collect();
    }
    // Analytic spectrum: keep DC and Nyquist, double the positive frequencies, drop the negative.
    let mut full = vec![Complex::new(0.0f32, 0.0); len];
    let nyq = len / 2;
    for (k, v) in half.iter().enumerate().take(nyq + 1) {
        let scale = if k == 0 || (len.is_multiple_of(2) && k == nyq) {
            1.0
        } else {
            2.0
        };
        full[k] = v * scale;
    }
    inverse.process(&mut full);
    let norm = 1.0 / len as f32;
    full[..n].iter().map(|c| magnitude(c) * norm).collect()
}

/// `|c|` as glibc 2.36's `hypotf` computes it (the products are exact in `f64`, their sum and
/// its root are rounded once each, then to `f32`; `auscult analyze` came out byte-identical),
/// without a library call per sample: a loop over it vectorises, and the result no longer
/// depends on the C library the program links.
fn magnitude(c: &Complex<f32>) -> f32 {
    let (re, im) = (f64::from(c.re), f64::from(c.im));
    (re * re + im * im).sqrt() as f32
}

/// The homomorphic envelope: `exp(lowpass(ln(hilbert)))`, a first-order zero-phase Butterworth at
/// `cutoff` Hz. Same length and units as the signal the Hilbert envelope came from.
pub fn homomorphic_envelope(hilbert: &[f32], rate: f64, cutoff: f64) -> Vec<f32> {
    let floor = hilbert.iter().fold(0.0f32, |m, &v| m.max(v)) * 1e-6 + f32::MIN_POSITIVE;
    let logs: Vec<f32> = hilbert.iter().map(|&v| v.max(floor).ln()).collect();
    Sos::butter_lowpass(1, cutoff, rate)
        .filtfilt(&logs)
        .into_iter()
        .map(|v| v.exp())
        .collect()
}

/// Block means of `factor` samples (the last, partial block averaged over what it has).
pub fn block_mean(x: &[f32], factor: usize) -> Vec<f32> {
    let f = factor.max(1);
    x.chunks(f)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect()
}

/// Subtracts the mean and divides by the standard deviation (left centred when the deviation is 0).
pub fn standardise(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    let inv = if sd > 1e-12 { 1.0 / sd } else { 1.0 };
    for v in x.iter_mut() {
        *v = ((*v as f64 - mean) * inv) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn fast_len_is_smooth_and_not_smaller() {
        for n in [1, 7, 1000, 30001, 65537] {
            let l = fast_len(n);
            assert!(l >= n);
            let mut v = l;
            for p in [2, 3, 5] {
                while v.is_multiple_of(p) {
                    v /= p;
                }
            }
            assert_eq!(v, 1, "{l}");
        }
        assert_eq!(fast_len(30001), 30375);
    }

    #[test]
    fn hilbert_envelope_of_modulated_tone_recovers_modulation() {
        let rate = 1000.0;
        let x: Vec<f32> = (0..3000)
            .map(|i| {
                let t = i as f64 / rate;
                ((1.0 + 0.5 * (2.0 * PI * 2.0 * t).sin()) * (2.0 * PI * 100.0 * t).sin()) as f32
            })
            .collect();
        let env = hilbert_envelope(&x);
        for i in (200..2800).step_by(37) {
            let t = i as f64 / rate;
            let want = 1.0 + 0.5 * (2.0 * PI * 2.0 * t).sin();
            assert!(
                (env[i] as f64 - want).abs() < 0.02,
                "{i}: {} vs {want}",
                env[i]
            );
        }
        let homo = homomorphic_envelope(&env, rate, 8.0);
        assert_eq!(homo.len(), env.len());
        assert!(homo.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn silence_gives_finite_envelopes() {
        let env = hilbert_envelope(&[0.0; 500]);
        let homo = homomorphic_envelope(&env, 1000.0, 8.0);
        assert!(homo.iter().all(|v| v.is_finite()));
        let mut z = vec![3.0f32; 4];
        standardise(&mut z);
        assert_eq!(z, vec![0.0; 4]);
    }
}

//! Sample-rate conversion by windowed-sinc (Kaiser) interpolation, polyphase when the ratio is a
//! small rational number (44.1 kHz → 1 kHz is 441/10), so every input rate lands on one analysis rate.
//!
//! Large ratios are done in two stages (a cheap, short-kernel integer decimation first), keeping the
//! cost near O(n · 64) whatever the input rate. Never panics; an empty input gives an empty output.

use multiversion::multiversion;
use std::f64::consts::PI;

use crate::sums;

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

/// The low-pass kernel shared by every phase: cut-off, half-width (both in input samples) and window.
#[derive(Debug, Clone, Copy)]
struct Kernel {
    /// Cut-off as a fraction of the input rate (cycles per input sample).
    fc: f64,
    /// Half-width of the kernel in input samples.
    half: f64,
    beta: f64,
    i0_beta: f64,
}

impl Kernel {
    fn new(fc: f64, half: f64, beta: f64) -> Self {
        Kernel {
            fc,
            half,
            beta,
            i0_beta: bessel_i0(beta),
        }
    }

    fn eval(&self, tau: f64) -> f64 {
        let r = tau / self.half;
        if r.abs() >= 1.0 {
            return 0.0;
        }
        let w = bessel_i0(self.beta * (1.0 - r * r).sqrt()) / self.i0_beta;
        let x = 2.0 * self.fc * tau;
        let sinc = if x.abs() < 1e-12 {
            1.0
        } else {
            (PI * x).sin() / (PI * x)
        };
        2.0 * self.fc * sinc * w
    }

    /// Weights for the taps `first..first+len` around input position `t`, normalised to unit sum.
    fn weights(&self, t: f64, first: i64, len: usize, out: &mut Vec<f32>) {
        out.clear();
        let mut sum = 0.0;
        let start = out.len();
        for j in 0..len {
            let w = self.eval((first + j as i64) as f64 - t);
            sum += w;
            out.push(w as f32);
        }
        if sum.abs() > 1e-12 {
            for w in &mut out[start..] {
                *w = (*w as f64 / sum) as f32;
            }
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A dot product in independent accumulators ([`sums::lane_products`]), so the compiler can
/// vectorise it; the lanes added in order.
#[inline(always)]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let (acc, tail) = sums::lane_products(a, b);
    acc.iter().sum::<f32>() + tail
}

/// The weights `w` against the samples of `x` from index `first` on (samples outside `x` count
/// as zeros). Always inlined, so that each version of [`resample_with`] has its own (a closure
/// would be compiled once, for any x86-64).
#[inline(always)]
fn dot_at(x: &[f32], first: i64, w: &[f32]) -> f32 {
    let n = x.len();
    if first >= 0 && first as usize + w.len() <= n {
        dot8(&x[first as usize..first as usize + w.len()], w)
    } else {
        w.iter()
            .enumerate()
            .filter_map(|(j, wj)| {
                let k = first + j as i64;
                (k >= 0 && (k as usize) < n).then(|| x[k as usize] * wj)
            })
            .sum()
    }
}

/// Resamples with a low-pass at `cutoff` Hz and a kernel spanning `half_width` seconds each side.
///
/// Compiled for any x86-64 and for one with AVX2 (`multiversion`, chosen when called); both
/// compute the same operations in the same order, to the bit (checked by a test).
#[multiversion(targets("x86_64+avx2"))]
fn resample_with(x: &[f32], from: f64, to: f64, cutoff: f64, half_width: f64) -> Vec<f32> {
    resample_portable(x, from, to, cutoff, half_width)
}

/// The body of [`resample_with`], inlined into each of its versions.
#[inline(always)]
fn resample_portable(x: &[f32], from: f64, to: f64, cutoff: f64, half_width: f64) -> Vec<f32> {
    let n = x.len();
    if n == 0 || !(from > 0.0 && to > 0.0) {
        return Vec::new();
    }
    let step = from / to;
    let out_len = (((n - 1) as f64) / step).floor() as usize + 1;
    let kernel = Kernel::new((cutoff / from).min(0.5), (half_width * from).max(1.0), 7.0);
    let taps = (2.0 * kernel.half).ceil() as usize + 1;
    let first_tap = |t: f64| (t - kernel.half).ceil() as i64;

    // Polyphase: a rational ratio M/L with few phases gets its weights computed once per phase.
    let (fi, ti) = (from.round(), to.round());
    let rational = (from - fi).abs() < 1e-9 && (to - ti).abs() < 1e-9 && fi >= 1.0 && ti >= 1.0;
    let phases = if rational {
        let g = gcd(fi as u64, ti as u64);
        let l = ti as u64 / g;
        (l <= 512).then_some((fi as u64 / g, l))
    } else {
        None
    };

    let mut out = Vec::with_capacity(out_len);
    match phases {
        Some((m, l)) => {
            // Output i = q·l + p sits at input q·m + p·m/l: its first tap is q·m plus a
            // per-phase offset, so the loop needs no division.
            let (table, offsets): (Vec<Vec<f32>>, Vec<i64>) = (0..l)
                .map(|p| {
                    let frac = (p * m % l) as f64 / l as f64;
                    let mut w = Vec::new();
                    kernel.weights(frac, first_tap(frac), taps, &mut w);
                    (w, (p * m / l) as i64 + first_tap(frac))
                })
                .unzip();
            let mut block = 0i64;
            let mut p = 0usize;
            for _ in 0..out_len {
                out.push(dot_at(x, block + offsets[p], &table[p]));
                p += 1;
                if p == table.len() {
                    p = 0;
                    block += m as i64;
                }
            }
        }
        None => {
            let mut w = Vec::with_capacity(taps);
            for i in 0..out_len {
                let t = i as f64 * step;
                let first = first_tap(t);
                kernel.weights(t, first, taps, &mut w);
                out.push(dot_at(x, first, &w));
            }
        }
    }
    out
}

/// Resamples `x` from `from` Hz to `to` Hz, keeping the band below about 0.4 × `to` (with about
/// 60 dB rejection of what would alias into it).
pub fn resample(x: &[f32], from: f64, to: f64) -> Vec<f32> {
    if (from - to).abs() < 1e-9 {
        return x.to_vec();
    }
    if from > 8.0 * to {
        // Stage 1: integer decimation to ≥ 4 × `to` with a short kernel; its transition band may
        // be wide because only what folds below 0.5 × `to` must be rejected.
        let k = (from / (4.0 * to)).floor().max(1.0);
        let mid = from / k;
        let stage1 = resample_with(x, from, mid, 0.5 * to, 12.0 / (mid - to));
        return resample(&stage1, mid, to);
    }
    let lo = from.min(to);
    resample_with(x, from, to, 0.5 * lo, 10.0 / lo)
}

/// Resamples a signal whose content of interest lies below `band` Hz (well under `to`/2): the
/// wide transition band allows a much shorter kernel than [`resample`].
pub fn resample_narrowband(x: &[f32], from: f64, to: f64, band: f64) -> Vec<f32> {
    if (from - to).abs() < 1e-9 {
        return x.to_vec();
    }
    let nyq = 0.5 * from.min(to);
    let band = band.clamp(1.0, 0.8 * nyq);
    // Pass to `band`, reject from `2·nyq − band` (what would fold back onto the band) at ~60 dB.
    let stop = 2.0 * nyq - band;
    let cutoff = 0.5 * (band + stop);
    let half_width = 3.6 / (stop - band);
    resample_with(x, from, to, cutoff, half_width)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, secs: f64) -> Vec<f32> {
        (0..(rate * secs) as usize)
            .map(|i| (2.0 * PI * freq * i as f64 / rate).sin() as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    /// The resampler's version for any x86-64, called directly, gives what the dispatched one
    /// (AVX2 wherever the CPU has it) gives, bit for bit, by the polyphase path (rational rates)
    /// and the general one.
    #[test]
    fn every_compiled_version_agrees_to_the_bit() {
        let x: Vec<f32> = (0..9000)
            .map(|i| ((i * 7919) % 1009) as f32 / 400.0 - 1.2 + (i as f32 * 0.02).sin())
            .collect();
        for (from, to) in [
            (4000.0, 1000.0),
            (2000.0, 1000.0),
            (3333.3, 1000.0),
            (44100.0, 4000.0),
        ] {
            let got = resample_with(&x, from, to, 0.4 * to, 0.01);
            let want = resample_portable(&x, from, to, 0.4 * to, 0.01);
            assert_eq!(got.len(), want.len());
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{from} → {to} Hz"
            );
        }
    }

    #[test]
    fn keeps_in_band_tones_and_their_phase() {
        for &from in &[2000.0, 4000.0, 44100.0, 8000.0, 3333.3] {
            let y = resample(&tone(100.0, from, 2.0), from, 1000.0);
            assert_eq!(y.len(), (2.0 * 1000.0) as usize, "rate {from}");
            let want = tone(100.0, 1000.0, 2.0);
            let err: f64 = y[100..1900]
                .iter()
                .zip(&want[100..1900])
                .map(|(a, b)| ((a - b) as f64).abs())
                .fold(0.0, f64::max);
            assert!(err < 0.01, "rate {from}: max error {err}");
        }
    }

    #[test]
    fn rejects_tones_that_would_alias_into_the_band() {
        for &from in &[4000.0, 44100.0] {
            let y = resample(&tone(700.0, from, 2.0), from, 1000.0);
            assert!(rms(&y[100..1900]) < 0.002, "rate {from}: {}", rms(&y));
        }
    }

    #[test]
    fn handles_tiny_inputs() {
        assert!(resample(&[], 4000.0, 1000.0).is_empty());
        assert_eq!(resample(&[1.0], 4000.0, 1000.0).len(), 1);
        assert_eq!(resample(&[1.0, 2.0], 1000.0, 1000.0), vec![1.0, 2.0]);
    }
}

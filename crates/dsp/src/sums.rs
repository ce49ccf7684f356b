//! Sums over a signal in independent running sums ("lanes"), so that the compiler vectorises them:
//! one running `f64` sum waits on each addition, four or eight lanes do not. The order of the
//! additions differs from a plain left-to-right sum by a rounding step at most; on every
//! recording of `../shared/data` `auscult analyze` came out byte-identical, and the models
//! retrained identical in the release and the test profile (twelfth stop).

use std::iter::Sum;
use std::ops::{AddAssign, Mul};

/// Lanes of the sums.
pub(crate) const LANES: usize = 8;

/// The sum of `f(v)` over `x`.
pub(crate) fn sum_by(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let mut blocks = x.chunks_exact(LANES);
    for block in &mut blocks {
        for k in 0..LANES {
            acc[k] += f(block[k]);
        }
    }
    let tail: f64 = blocks.remainder().iter().map(|&v| f(v)).sum();
    lanes_total(&acc) + tail
}

/// The dot product of `a` and `b`, up to the shorter's length.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (acc, tail) = lane_products(a, b);
    lanes_total(&acc) + tail
}

/// The products of `a` and `b` (up to the shorter's length) summed in [`LANES`] running sums
/// over the whole blocks, and those past the last block summed left to right. Each caller adds
/// the lanes up its own way ([`dot`] pairwise, the resampler's `f32` kernel in order), so each
/// keeps its arithmetic. Always inlined: called across modules, it cost the resampler 3 % of
/// `analyze/ecg_gated/30` without.
#[inline(always)]
pub(crate) fn lane_products<T>(a: &[T], b: &[T]) -> ([T; LANES], T)
where
    T: Copy + Default + AddAssign + Mul<Output = T> + Sum,
{
    let n = a.len().min(b.len());
    let (ca, cb) = (a[..n].chunks_exact(LANES), b[..n].chunks_exact(LANES));
    let tail: T = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    let mut acc = [T::default(); LANES];
    for (xa, xb) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += xa[k] * xb[k];
        }
    }
    (acc, tail)
}

/// The lanes added pairwise.
fn lanes_total(acc: &[f64; LANES]) -> f64 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_agree_with_plain_sums() {
        for n in [0usize, 1, 7, 8, 9, 100, 1001] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25)
                .collect();
            let plain: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            assert!((sum_by(&x, |v| f64::from(v) * f64::from(v)) - plain).abs() < 1e-9);
            let y: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let z: Vec<f64> = y.iter().rev().copied().collect();
            let plain: f64 = y.iter().zip(&z).map(|(a, b)| a * b).sum();
            assert!((dot(&y, &z) - plain).abs() < 1e-9);
            // The shorter length rules.
            assert!(
                (dot(&y, &z[..n / 2]) - y.iter().zip(&z[..n / 2]).map(|(a, b)| a * b).sum::<f64>())
                    .abs()
                    < 1e-9
            );
        }
    }
}

//! Fitting the out-of-distribution check: mean, scale and a shrunk inverse covariance of the
//! murmur features over the training recordings (see `auscult_dsp::murmur::Ood`).

use auscult_dsp::features::{FEATURE_NAMES, NUM_FEATURES};
use auscult_dsp::murmur::Ood;
use ndarray::{Array2, ArrayView2};

use crate::linalg::invert;

/// Shrinkage of the correlation matrix towards the identity (keeps it invertible and the
/// distance from hanging on near-collinear features).
const SHRINK: f64 = 0.2;

/// The murmur evidence the check looks at: the per-phase and ensemble intensities and spectral
/// balance relative to the cycle's own heart sounds (not the recording's length, rate, rhythm or
/// whole-recording spectrum, which differ between sites without changing what a murmur is).
pub const OOD_INPUTS: [&str; 16] = [
    "sys_rel",
    "dia_rel",
    "sys_rel_low",
    "sys_rel_mid",
    "sys_rel_high",
    "dia_rel_low",
    "dia_rel_mid",
    "dia_rel_high",
    "sys_minus_dia",
    "ens_sys_rel",
    "ens_dia_rel",
    "ens_sys_flat",
    "ens_dia_flat",
    "sys_high_frac",
    "dia_low_frac",
    "sys_rel_spread",
];

/// Fits the check on the training recordings' design matrix (`recordings × inputs`, features
/// first, NaN where missing) over [`OOD_INPUTS`]; threshold left infinite.
pub fn fit_ood(x: ArrayView2<'_, f64>) -> Ood {
    let inputs: Vec<(usize, f64, f64)> = OOD_INPUTS
        .iter()
        .filter_map(|n| FEATURE_NAMES.iter().position(|f| f == n))
        .filter(|&i| i < NUM_FEATURES.min(x.ncols()))
        .filter_map(|i| {
            let finite: Vec<f64> = x
                .column(i)
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            if finite.len() < 10 {
                return None;
            }
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / finite.len() as f64;
            let scale = var.sqrt();
            (!scale.is_nan() && scale > 1e-9).then_some((i, mean, scale))
        })
        .collect();
    // The standardised inputs, `recordings × inputs.len()` (NaN at the mean).
    let z = Array2::from_shape_fn((x.nrows(), inputs.len()), |(r, a)| {
        let (i, mean, scale) = inputs[a];
        let v = x[[r, i]];
        if v.is_finite() {
            ((v - mean) / scale).clamp(-8.0, 8.0)
        } else {
            0.0
        }
    });
    let d = inputs.len();
    let n = x.nrows().max(1) as f64;
    // Sums in row order (see `linalg`): the committed check must not move by a bit.
    let cov = Array2::from_shape_fn((d, d), |(a, b)| {
        let c = z
            .column(a)
            .iter()
            .zip(z.column(b))
            .map(|(x, y)| x * y)
            .sum::<f64>()
            / n;
        if a == b { c } else { (1.0 - SHRINK) * c }
    });
    let precision = invert(cov.view()).unwrap_or_else(|| Array2::eye(d));
    Ood {
        inputs,
        precision,
        threshold: f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_rows_are_far() {
        let x = Array2::from_shape_fn((200, NUM_FEATURES), |(k, c)| match c {
            0 => (k % 10) as f64,
            1 => (k % 7) as f64,
            18 => k as f64, // sqi: not an input
            _ => f64::NAN,
        });
        let o = fit_ood(x.view());
        assert_eq!(o.inputs.len(), 2);
        let mut f = auscult_dsp::features::Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        f.values[0] = 4.5;
        f.values[1] = 3.0;
        let near = o.distance(&f);
        f.values[0] = 40.0;
        let far = o.distance(&f);
        assert!(near < 0.5 && far > 5.0, "{near} {far}");
    }
}

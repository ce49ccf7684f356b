//! Fitting the out-of-distribution check: mean, scale and a shrunk inverse covariance of the
//! murmur features over the training recordings (see `auscult_dsp::murmur::Ood`).

use auscult_dsp::features::NUM_FEATURES;
use auscult_dsp::murmur::Ood;

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

/// Fits the check on the feature vectors (NaN where missing) over [`OOD_INPUTS`]; threshold left
/// infinite.
pub fn fit_ood(rows: &[&[f64]]) -> Ood {
    let mut inputs = Vec::new();
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let wanted: Vec<usize> = OOD_INPUTS
        .iter()
        .filter_map(|n| {
            auscult_dsp::features::FEATURE_NAMES
                .iter()
                .position(|f| f == n)
        })
        .collect();
    for i in wanted.into_iter().filter(|&i| i < NUM_FEATURES) {
        let v: Vec<f64> = rows.iter().map(|r| r[i]).collect();
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if finite.len() < 10 {
            continue;
        }
        let mean = finite.iter().sum::<f64>() / finite.len() as f64;
        let var = finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / finite.len() as f64;
        let scale = var.sqrt();
        if scale.is_nan() || scale <= 1e-9 {
            continue;
        }
        inputs.push((i, mean, scale));
        columns.push(
            v.iter()
                .map(|&x| {
                    if x.is_finite() {
                        ((x - mean) / scale).clamp(-8.0, 8.0)
                    } else {
                        0.0
                    }
                })
                .collect(),
        );
    }
    let d = inputs.len();
    let n = rows.len().max(1) as f64;
    let mut cov = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            let c = columns[a]
                .iter()
                .zip(&columns[b])
                .map(|(x, y)| x * y)
                .sum::<f64>()
                / n;
            cov[a * d + b] = if a == b { c } else { (1.0 - SHRINK) * c };
        }
    }
    let precision = invert(&cov, d).unwrap_or_else(|| {
        (0..d * d)
            .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
            .collect()
    });
    Ood {
        inputs,
        precision,
        threshold: f64::INFINITY,
    }
}

/// Gauss-Jordan inversion with partial pivoting; `None` when singular.
fn invert(m: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv: Vec<f64> = (0..d * d)
        .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
        .collect();
    for col in 0..d {
        let pivot =
            (col..d).max_by(|&x, &y| a[x * d + col].abs().total_cmp(&a[y * d + col].abs()))?;
        if a[pivot * d + col].abs() < 1e-12 {
            return None;
        }
        for k in 0..d {
            a.swap(col * d + k, pivot * d + k);
            inv.swap(col * d + k, pivot * d + k);
        }
        let p = a[col * d + col];
        for k in 0..d {
            a[col * d + k] /= p;
            inv[col * d + k] /= p;
        }
        for r in 0..d {
            if r != col {
                let f = a[r * d + col];
                if f != 0.0 {
                    for k in 0..d {
                        a[r * d + k] -= f * a[col * d + k];
                        inv[r * d + k] -= f * inv[col * d + k];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_known_matrix() {
        let inv = invert(&[4.0, 2.0, 2.0, 3.0], 2).expect("invertible");
        let want = [0.375, -0.25, -0.25, 0.5];
        for (g, w) in inv.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{inv:?}");
        }
        assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }

    #[test]
    fn far_rows_are_far() {
        let rows: Vec<Vec<f64>> = (0..200)
            .map(|k| {
                let mut r = vec![f64::NAN; NUM_FEATURES];
                r[0] = (k % 10) as f64;
                r[18] = k as f64; // sqi: not an input
                r[1] = (k % 7) as f64;
                r
            })
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let o = fit_ood(&refs);
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

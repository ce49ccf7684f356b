//! L2-regularised, weighted logistic regression fitted by Newton's method (IRLS), producing the
//! dsp crate's [`Logistic`] (standardisation folded in as mean and scale per input).

use auscult_dsp::murmur::Logistic;
use ndarray::{Array1, Array2};

use crate::design::Examples;
use crate::linalg::solve;

fn standardised(x: f64, mean: f64, scale: f64) -> f64 {
    if x.is_finite() {
        ((x - mean) / scale).clamp(-6.0, 6.0)
    } else {
        0.0
    }
}

/// Fits a model on `inputs` (columns of the design matrix `ex.x`) with ridge penalty `l2`.
pub fn fit(name: &str, ex: &Examples, inputs: &[usize], l2: f64) -> Logistic {
    let d = inputs.len();
    let stats: Vec<(f64, f64)> = inputs
        .iter()
        .map(|&i| {
            let vals: Vec<f64> =
                ex.x.column(i)
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect();
            let n = vals.len().max(1) as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt().max(1e-6))
        })
        .collect();
    // The standardised design matrix with an intercept column first: `examples × (d + 1)`.
    let rows = Array2::from_shape_fn((ex.len(), d + 1), |(r, c)| match c {
        0 => 1.0,
        _ => {
            let (mean, scale) = stats[c - 1];
            standardised(ex.x[[r, inputs[c - 1]]], mean, scale)
        }
    });
    let k = d + 1;
    let mut beta = Array1::<f64>::zeros(k);
    for _ in 0..50 {
        let mut grad = Array1::<f64>::zeros(k);
        let mut hess = Array2::<f64>::zeros((k, k));
        for ((r, &y), &w) in rows.outer_iter().zip(&ex.y).zip(&ex.w) {
            // In index order, not `dot`: the fitted model must not move by a bit.
            let z: f64 = r.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if y { 1.0 } else { 0.0 };
            let g = w * (p - y);
            let h = w * (p * (1.0 - p)).max(1e-9);
            for a in 0..k {
                grad[a] += g * r[a];
                for b in a..k {
                    hess[[a, b]] += h * r[a] * r[b];
                }
            }
        }
        for a in 1..k {
            grad[a] += l2 * beta[a];
            hess[[a, a]] += l2;
        }
        for a in 0..k {
            for b in 0..a {
                hess[[a, b]] = hess[[b, a]];
            }
            hess[[a, a]] += 1e-9;
        }
        let Some(step) = solve(hess, grad) else { break };
        let mut change = 0.0f64;
        for (b, s) in beta.iter_mut().zip(&step) {
            *b -= s;
            change = change.max(s.abs());
        }
        if change < 1e-7 {
            break;
        }
    }
    Logistic {
        name: name.to_string(),
        bias: beta[0],
        threshold: 0.5,
        terms: inputs
            .iter()
            .zip(&stats)
            .zip(beta.iter().skip(1))
            .map(|((&i, &(m, s)), &w)| (i, m, s, w))
            .collect(),
        trees: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::INPUTS;
    use auscult_dsp::features::{Features, NUM_FEATURES};

    #[test]
    fn separable_data_is_separated() {
        let v = |r: usize| (r as f64 / 200.0) * 4.0 - 2.0;
        let ex = Examples {
            x: Array2::from_shape_fn((200, INPUTS), |(r, c)| if c == 0 { v(r) } else { f64::NAN }),
            y: (0..200).map(|r| v(r) > 0.3).collect(),
            w: Array1::ones(200),
        };
        let m = fit("t", &ex, &[0], 0.1);
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        f.values[0] = 1.5;
        assert!(m.probability(&f, 0.0) > 0.9);
        f.values[0] = -1.0;
        assert!(m.probability(&f, 0.0) < 0.1);
    }
}

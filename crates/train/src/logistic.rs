//! L2-regularised, weighted logistic regression fitted by Newton's method (IRLS), producing the
//! dsp crate's [`Logistic`] (standardisation folded in as mean and scale per input).

use auscult_dsp::murmur::Logistic;

/// One training example: inputs (features then the murmur logit), truth and weight.
#[derive(Debug, Clone)]
pub struct Example {
    /// Inputs indexed like the dsp model inputs (NaN where missing).
    pub x: Vec<f64>,
    /// The truth.
    pub y: bool,
    /// Sample weight.
    pub w: f64,
}

fn standardised(x: f64, mean: f64, scale: f64) -> f64 {
    if x.is_finite() {
        ((x - mean) / scale).clamp(-6.0, 6.0)
    } else {
        0.0
    }
}

/// Fits a model on `inputs` (indices into `Example::x`) with ridge penalty `l2`.
#[allow(clippy::needless_range_loop)] // symmetric-matrix updates index both halves
pub fn fit(name: &str, examples: &[Example], inputs: &[usize], l2: f64) -> Logistic {
    let d = inputs.len();
    let mut stats = Vec::with_capacity(d);
    for &i in inputs {
        let vals: Vec<f64> = examples
            .iter()
            .map(|e| e.x[i])
            .filter(|v| v.is_finite())
            .collect();
        let n = vals.len().max(1) as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        stats.push((mean, var.sqrt().max(1e-6)));
    }
    let rows: Vec<Vec<f64>> = examples
        .iter()
        .map(|e| {
            let mut r = Vec::with_capacity(d + 1);
            r.push(1.0);
            r.extend(
                inputs
                    .iter()
                    .zip(&stats)
                    .map(|(&i, &(m, s))| standardised(e.x[i], m, s)),
            );
            r
        })
        .collect();
    let k = d + 1;
    let mut beta = vec![0.0f64; k];
    for _ in 0..50 {
        let mut grad = vec![0.0f64; k];
        let mut hess = vec![vec![0.0f64; k]; k];
        for (r, e) in rows.iter().zip(examples) {
            let z: f64 = r.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if e.y { 1.0 } else { 0.0 };
            let g = e.w * (p - y);
            let h = e.w * (p * (1.0 - p)).max(1e-9);
            for a in 0..k {
                grad[a] += g * r[a];
                for b in a..k {
                    hess[a][b] += h * r[a] * r[b];
                }
            }
        }
        for a in 1..k {
            grad[a] += l2 * beta[a];
            hess[a][a] += l2;
        }
        for a in 0..k {
            for b in 0..a {
                hess[a][b] = hess[b][a];
            }
            hess[a][a] += 1e-9;
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
            .zip(&beta[1..])
            .map(|((&i, &(m, s)), &w)| (i, m, s, w))
            .collect(),
        trees: Vec::new(),
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // index arithmetic over two rows reads clearest this way
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_dsp::features::{Features, NUM_FEATURES};

    #[test]
    fn separable_data_is_separated() {
        let mut ex = Vec::new();
        for i in 0..200 {
            let v = (i as f64 / 200.0) * 4.0 - 2.0;
            let mut x = vec![f64::NAN; NUM_FEATURES + 1];
            x[0] = v;
            ex.push(Example {
                x,
                y: v > 0.3,
                w: 1.0,
            });
        }
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

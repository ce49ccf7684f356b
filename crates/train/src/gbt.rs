//! Gradient-boosted regression trees for the logistic loss (histogram splits on quantile
//! thresholds, Newton leaf values, shrinkage), producing the dsp crate's [`Logistic`] with trees.

use auscult_dsp::murmur::{Logistic, Node, Tree};

use crate::logistic::Example;

/// Boosting settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Number of trees.
    pub rounds: usize,
    /// Depth of each tree.
    pub depth: usize,
    /// Shrinkage.
    pub rate: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Least summed hessian in a child.
    pub min_child: f64,
    /// Candidate thresholds per input.
    pub bins: usize,
}

/// Fits a boosted-tree model on `inputs` (indices into `Example::x`).
pub fn fit_trees(name: &str, ex: &[Example], inputs: &[usize], s: Settings) -> Logistic {
    // Candidate thresholds: quantiles of each input's finite values.
    let thresholds: Vec<Vec<f64>> = inputs
        .iter()
        .map(|&i| {
            let mut v: Vec<f64> = ex
                .iter()
                .map(|e| e.x[i])
                .filter(|x| x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            let mut t: Vec<f64> = (1..s.bins)
                .filter_map(|k| v.get(k * v.len() / s.bins).copied())
                .collect();
            t.dedup();
            t
        })
        .collect();
    // Bin of each example per input: 0 for NaN, else 1 + number of thresholds ≤ x.
    let bins: Vec<Vec<u16>> = ex
        .iter()
        .map(|e| {
            inputs
                .iter()
                .zip(&thresholds)
                .map(|(&i, t)| {
                    let x = e.x[i];
                    if x.is_nan() {
                        0
                    } else {
                        1 + t.partition_point(|&th| th <= x) as u16
                    }
                })
                .collect()
        })
        .collect();
    let wsum: f64 = ex.iter().map(|e| e.w).sum();
    let pos: f64 = ex.iter().filter(|e| e.y).map(|e| e.w).sum();
    let prior = ((pos + 1.0) / (wsum - pos + 1.0)).ln();
    let mut z = vec![prior; ex.len()];
    let mut trees = Vec::with_capacity(s.rounds);
    for _ in 0..s.rounds {
        let (g, h): (Vec<f64>, Vec<f64>) = ex
            .iter()
            .zip(&z)
            .map(|(e, &zi)| {
                let p = 1.0 / (1.0 + (-zi).exp());
                let y = if e.y { 1.0 } else { 0.0 };
                (e.w * (p - y), e.w * (p * (1.0 - p)).max(1e-6))
            })
            .unzip();
        let mut nodes = Vec::new();
        let all: Vec<usize> = (0..ex.len()).collect();
        grow(&mut nodes, &all, 0, &g, &h, &bins, inputs, &thresholds, s);
        let tree = Tree { nodes };
        for (zi, e) in z.iter_mut().zip(ex) {
            *zi += eval(&tree, &e.x);
        }
        trees.push(tree);
    }
    Logistic {
        name: name.to_string(),
        bias: prior,
        threshold: 0.5,
        terms: Vec::new(),
        trees,
    }
}

fn eval(t: &Tree, x: &[f64]) -> f64 {
    let mut i = 0;
    loop {
        match t.nodes.get(i) {
            Some(Node::Leaf(v)) => return *v,
            Some(&Node::Split {
                input,
                threshold,
                left,
                right,
            }) => {
                let v = x[input];
                i = if v.is_nan() || v < threshold {
                    left
                } else {
                    right
                };
            }
            None => return 0.0,
        }
    }
}

/// Grows a node (appending it and its subtree to `nodes`), returns nothing; children follow parents.
#[allow(clippy::too_many_arguments)]
fn grow(
    nodes: &mut Vec<Node>,
    idx: &[usize],
    depth: usize,
    g: &[f64],
    h: &[f64],
    bins: &[Vec<u16>],
    inputs: &[usize],
    thresholds: &[Vec<f64>],
    s: Settings,
) {
    let gs: f64 = idx.iter().map(|&i| g[i]).sum();
    let hs: f64 = idx.iter().map(|&i| h[i]).sum();
    let leaf = -s.rate * gs / (hs + s.lambda);
    let parent_score = gs * gs / (hs + s.lambda);
    let mut best: Option<(f64, usize, usize)> = None; // (gain, input slot, threshold k)
    if depth < s.depth && idx.len() >= 4 {
        for (slot, th) in thresholds.iter().enumerate() {
            let nb = th.len() + 2;
            let mut hg = vec![0.0f64; nb];
            let mut hh = vec![0.0f64; nb];
            for &i in idx {
                let b = bins[i][slot] as usize;
                hg[b] += g[i];
                hh[b] += h[i];
            }
            // Split k: left = NaN and bins 1..=k+1 (x < th[k]).
            let (mut gl, mut hl) = (hg[0], hh[0]);
            for k in 0..th.len() {
                gl += hg[k + 1];
                hl += hh[k + 1];
                let (gr, hr) = (gs - gl, hs - hl);
                if hl < s.min_child || hr < s.min_child {
                    continue;
                }
                let gain = gl * gl / (hl + s.lambda) + gr * gr / (hr + s.lambda) - parent_score;
                if gain > 1e-9 && best.is_none_or(|b| gain > b.0) {
                    best = Some((gain, slot, k));
                }
            }
        }
    }
    let Some((_, slot, k)) = best else {
        nodes.push(Node::Leaf(leaf));
        return;
    };
    let threshold = thresholds[slot][k];
    let here = nodes.len();
    nodes.push(Node::Leaf(0.0));
    let (left, right): (Vec<usize>, Vec<usize>) = idx
        .iter()
        .partition(|&&i| (bins[i][slot] as usize) <= k + 1);
    let left_at = nodes.len();
    grow(nodes, &left, depth + 1, g, h, bins, inputs, thresholds, s);
    let right_at = nodes.len();
    grow(nodes, &right, depth + 1, g, h, bins, inputs, thresholds, s);
    nodes[here] = Node::Split {
        input: inputs[slot],
        threshold,
        left: left_at,
        right: right_at,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_dsp::features::{Features, NUM_FEATURES};

    #[test]
    fn learns_an_interval_a_linear_model_cannot() {
        let mut ex = Vec::new();
        for i in 0..400 {
            let v = i as f64 / 100.0; // 0..4
            let mut x = vec![f64::NAN; NUM_FEATURES + 1];
            x[0] = v;
            ex.push(Example {
                x,
                y: (1.0..2.5).contains(&v),
                w: 1.0,
            });
        }
        let s = Settings {
            rounds: 40,
            depth: 2,
            rate: 0.3,
            lambda: 1.0,
            min_child: 1.0,
            bins: 32,
        };
        let m = fit_trees("t", &ex, &[0], s);
        let p = |v: f32| {
            let mut f = Features {
                values: [f32::NAN; NUM_FEATURES],
            };
            f.values[0] = v;
            m.probability(&f, 0.0)
        };
        assert!(p(1.7) > 0.8, "{}", p(1.7));
        assert!(p(0.5) < 0.2 && p(3.5) < 0.2);
    }
}

//! Gradient-boosted regression trees for the logistic loss (histogram splits on quantile
//! thresholds, Newton leaf values, shrinkage), producing the dsp crate's [`Logistic`] with trees.

use auscult_dsp::murmur::{Logistic, Node, Tree};

use ndarray::{Array2, ArrayView1, Axis};

use crate::design::Examples;

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
    /// Place each split in the middle of the gap between the node's examples on either side of
    /// the chosen bin edge, instead of on the edge itself (see `Round::grow`).
    pub margin: bool,
    /// Models averaged (bagging): each fitted on a fixed share of the examples, chosen by a
    /// seeded hash of the row, and their log-odds averaged; 1 fits one model on all of them.
    pub bags: usize,
}

/// The share of the examples each bagged model is fitted on.
const BAG_SHARE: f64 = 0.8;

/// Fits [`Settings::bags`] boosted-tree models on seeded subsamples of `ex` and averages their
/// log-odds: one model whose trees are all of theirs with leaves scaled by `1 / bags`. A tree
/// ensemble fitted once moves with every example (quantile edges, the first split); the average
/// of several fitted on different shares moves less (Breiman 1996). Deterministic.
pub fn fit_bagged(name: &str, ex: &Examples, inputs: &[usize], s: Settings) -> Logistic {
    if s.bags <= 1 {
        return fit_trees(name, ex, inputs, s);
    }
    let scale = 1.0 / s.bags as f64;
    let mut bias = 0.0;
    let mut trees = Vec::new();
    for bag in 0..s.bags {
        let m = fit_trees(name, &bag_of(ex, bag), inputs, s);
        bias += scale * m.bias;
        trees.extend(m.trees.into_iter().map(|mut t| {
            for node in &mut t.nodes {
                if let Node::Leaf(v) = node {
                    *v *= scale;
                }
            }
            t
        }));
    }
    Logistic {
        name: name.to_string(),
        bias,
        threshold: 0.5,
        terms: Vec::new(),
        trees,
    }
}

/// The examples of bag `bag`: the rows whose seeded draw falls under [`BAG_SHARE`].
fn bag_of(ex: &Examples, bag: usize) -> Examples {
    let rows: Vec<usize> = (0..ex.len())
        .filter(|&r| unit(bag as u64, r as u64) < BAG_SHARE)
        .collect();
    Examples {
        x: ex.x.select(Axis(0), &rows),
        y: rows.iter().map(|&r| ex.y[r]).collect(),
        w: rows.iter().map(|&r| ex.w[r]).collect(),
    }
}

/// A number in [0, 1) from a bag and a row (SplitMix64).
fn unit(bag: u64, row: u64) -> f64 {
    let mut z = (bag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ row).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Fits a boosted-tree model on `inputs` (columns of the design matrix `ex.x`).
pub fn fit_trees(name: &str, ex: &Examples, inputs: &[usize], s: Settings) -> Logistic {
    // Candidate thresholds: quantiles of each input's finite values.
    let thresholds: Vec<Vec<f64>> = inputs
        .iter()
        .map(|&i| {
            let mut v: Vec<f64> =
                ex.x.column(i)
                    .iter()
                    .copied()
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
    // Bin of each example per input, `examples × inputs`: 0 for NaN, else 1 + number of
    // thresholds ≤ x.
    let bins = Array2::from_shape_fn((ex.len(), inputs.len()), |(r, slot)| {
        let x = ex.x[[r, inputs[slot]]];
        if x.is_nan() {
            0
        } else {
            1 + thresholds[slot].partition_point(|&th| th <= x) as u16
        }
    });
    let wsum: f64 = ex.w.iter().sum();
    let pos: f64 =
        ex.y.iter()
            .zip(&ex.w)
            .filter(|(y, _)| **y)
            .map(|(_, w)| w)
            .sum();
    let prior = ((pos + 1.0) / (wsum - pos + 1.0)).ln();
    let mut z = vec![prior; ex.len()];
    let mut trees = Vec::with_capacity(s.rounds);
    for _ in 0..s.rounds {
        let (g, h): (Vec<f64>, Vec<f64>) =
            ex.y.iter()
                .zip(&ex.w)
                .zip(&z)
                .map(|((&y, &w), &zi)| {
                    let p = 1.0 / (1.0 + (-zi).exp());
                    let y = if y { 1.0 } else { 0.0 };
                    (w * (p - y), w * (p * (1.0 - p)).max(1e-6))
                })
                .unzip();
        let round = Round {
            x: &ex.x,
            bins: &bins,
            g: &g,
            h: &h,
            inputs,
            thresholds: &thresholds,
            s,
        };
        let mut nodes = Vec::new();
        let all: Vec<usize> = (0..ex.len()).collect();
        round.grow(&mut nodes, &all, 0);
        let tree = Tree { nodes };
        for (zi, x) in z.iter_mut().zip(ex.x.outer_iter()) {
            *zi += eval(&tree, x);
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

fn eval(t: &Tree, x: ArrayView1<'_, f64>) -> f64 {
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

/// What one boosting round's tree is grown from.
struct Round<'a> {
    /// The design matrix, `examples × INPUTS`.
    x: &'a Array2<f64>,
    /// The binned design matrix, `examples × inputs` (see `fit_trees`).
    bins: &'a Array2<u16>,
    /// Gradient of the loss per example.
    g: &'a [f64],
    /// Hessian of the loss per example.
    h: &'a [f64],
    /// The design-matrix column of each input slot.
    inputs: &'a [usize],
    /// Candidate thresholds per input slot.
    thresholds: &'a [Vec<f64>],
    s: Settings,
}

impl Round<'_> {
    /// Grows a node over the examples `idx` (appending it and its subtree to `nodes`); children
    /// follow parents.
    fn grow(&self, nodes: &mut Vec<Node>, idx: &[usize], depth: usize) {
        let (g, h, s) = (self.g, self.h, self.s);
        let gs: f64 = idx.iter().map(|&i| g[i]).sum();
        let hs: f64 = idx.iter().map(|&i| h[i]).sum();
        let leaf = -s.rate * gs / (hs + s.lambda);
        let parent_score = gs * gs / (hs + s.lambda);
        let mut best: Option<(f64, usize, usize)> = None; // (gain, input slot, threshold k)
        if depth < s.depth && idx.len() >= 4 {
            for (slot, th) in self.thresholds.iter().enumerate() {
                let nb = th.len() + 2;
                let mut hg = vec![0.0f64; nb];
                let mut hh = vec![0.0f64; nb];
                for &i in idx {
                    let b = self.bins[[i, slot]] as usize;
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
        let edge = self.thresholds[slot][k];
        let here = nodes.len();
        nodes.push(Node::Leaf(0.0));
        let (left, right): (Vec<usize>, Vec<usize>) = idx
            .iter()
            .partition(|&&i| (self.bins[[i, slot]] as usize) <= k + 1);
        // The bin edge is a quantile of all examples: where the node's classes are far apart
        // (a database whose murmurs are far louder than its normals), it sits right at the
        // edge of one side and a device that reads a little differently crosses it. The middle
        // of the gap between the node's nearest examples on either side splits them the same
        // way with the widest margin (as exact greedy tree learners place splits).
        let threshold = if self.s.margin {
            let column = self.inputs[slot];
            let below = left
                .iter()
                .map(|&i| self.x[[i, column]])
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            let above = right
                .iter()
                .map(|&i| self.x[[i, column]])
                .fold(f64::INFINITY, f64::min);
            if below.is_finite() && above.is_finite() && below < above {
                0.5 * (below + above)
            } else {
                edge
            }
        } else {
            edge
        };
        let left_at = nodes.len();
        self.grow(nodes, &left, depth + 1);
        let right_at = nodes.len();
        self.grow(nodes, &right, depth + 1);
        nodes[here] = Node::Split {
            input: self.inputs[slot],
            threshold,
            left: left_at,
            right: right_at,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::INPUTS;
    use auscult_dsp::features::{Features, NUM_FEATURES};
    use ndarray::Array1;

    #[test]
    fn learns_an_interval_a_linear_model_cannot() {
        let v = |r: usize| r as f64 / 100.0; // 0..4
        let ex = Examples {
            x: Array2::from_shape_fn((400, INPUTS), |(r, c)| if c == 0 { v(r) } else { f64::NAN }),
            y: (0..400).map(|r| (1.0..2.5).contains(&v(r))).collect(),
            w: Array1::ones(400),
        };
        let s = Settings {
            rounds: 40,
            depth: 2,
            rate: 0.3,
            lambda: 1.0,
            min_child: 1.0,
            bins: 32,
            margin: true,
            bags: 1,
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

    #[test]
    fn bagging_averages_the_log_odds_of_models_on_shares_of_the_examples() {
        let v = |r: usize| r as f64 / 100.0;
        let ex = Examples {
            x: Array2::from_shape_fn((400, INPUTS), |(r, c)| if c == 0 { v(r) } else { f64::NAN }),
            y: (0..400)
                .map(|r| (1.0..2.5).contains(&v(r)) != (r % 13 == 0))
                .collect(),
            w: Array1::ones(400),
        };
        let s = Settings {
            rounds: 30,
            depth: 2,
            rate: 0.3,
            lambda: 1.0,
            min_child: 1.0,
            bins: 32,
            margin: false,
            bags: 1,
        };
        let input = |v: f32| {
            let mut f = Features {
                values: [f32::NAN; NUM_FEATURES],
            };
            f.values[0] = v;
            f
        };
        // One bag is the plain model.
        assert_eq!(fit_bagged("t", &ex, &[0], s), fit_trees("t", &ex, &[0], s));
        let bagged = fit_bagged("t", &ex, &[0], Settings { bags: 3, ..s });
        assert_eq!(bagged.trees.len(), 90);
        assert_eq!(
            bagged,
            fit_bagged("t", &ex, &[0], Settings { bags: 3, ..s }),
            "deterministic"
        );
        // Its log-odds are the mean of three models, each fitted on about 80 % of the rows.
        let parts: Vec<Logistic> = (0..3)
            .map(|bag| {
                let sub = bag_of(&ex, bag);
                assert!((300..340).contains(&sub.len()), "{}", sub.len());
                fit_trees("t", &sub, &[0], s)
            })
            .collect();
        for x in [0.3f32, 1.2, 1.9, 2.4, 3.1] {
            let mean = parts.iter().map(|m| m.logit(&input(x), 0.0)).sum::<f64>() / 3.0;
            let got = bagged.logit(&input(x), 0.0);
            assert!((got - mean).abs() < 1e-9, "{got} against {mean} at {x}");
        }
        assert!(bagged.probability(&input(1.7), 0.0) > 0.7);
        assert!(bagged.probability(&input(0.5), 0.0) < 0.3);
    }
}

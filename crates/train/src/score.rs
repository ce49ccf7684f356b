//! Scores of analysis results against the labels, with the definitions of
//! `shared/eval/score.py` (a recording that is unknown or missing counts as wrong), plus 95 %
//! Wilson intervals.

/// Counts of a binary decision against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confusion {
    /// True positives.
    pub tp: u32,
    /// False negatives (unknown positives included).
    pub fn_: u32,
    /// True negatives.
    pub tn: u32,
    /// False positives (unknown negatives included).
    pub fp: u32,
}

impl Confusion {
    /// Adds one decision; `None` (unknown or missing) counts as wrong, as in `score.py`.
    pub fn add(&mut self, truth: bool, predicted: Option<bool>) {
        match (truth, predicted) {
            (true, Some(true)) => self.tp += 1,
            (true, _) => self.fn_ += 1,
            (false, Some(false)) => self.tn += 1,
            (false, _) => self.fp += 1,
        }
    }

    /// Sensitivity (0 without positives, as `score.py`).
    pub fn sensitivity(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Specificity (0 without negatives, as `score.py`).
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.tn + self.fp)
    }

    /// Mean of sensitivity and specificity.
    pub fn balanced_accuracy(&self) -> f64 {
        0.5 * (self.sensitivity() + self.specificity())
    }

    /// Wilson interval of the sensitivity.
    pub fn sensitivity_ci(&self) -> (f64, f64) {
        wilson(self.tp, self.tp + self.fn_)
    }

    /// Wilson interval of the specificity.
    pub fn specificity_ci(&self) -> (f64, f64) {
        wilson(self.tn, self.tn + self.fp)
    }

    /// An interval for the balanced accuracy: the means of the Wilson bounds of sensitivity and
    /// specificity (conservative: both at their bound at once).
    pub fn balanced_accuracy_ci(&self) -> (f64, f64) {
        let (a, b) = self.sensitivity_ci();
        let (c, d) = self.specificity_ci();
        (0.5 * (a + c), 0.5 * (b + d))
    }
}

fn ratio(k: u32, n: u32) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// The 95 % Wilson score interval of `k` successes in `n` trials ((0, 1) for none).
pub fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = k as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The confidence bins of [`reliability`]: `[lower, upper)`, the last closed at 1.
pub const CONFIDENCE_BINS: [(f32, f32); 4] = [(0.5, 0.7), (0.7, 0.9), (0.9, 0.99), (0.99, 1.0)];

/// One bin of stated confidence: the calls that fell in it, their mean stated confidence and how
/// many were right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReliabilityBin {
    /// The bin's bounds, as [`CONFIDENCE_BINS`].
    pub bounds: (f32, f32),
    /// Calls in the bin.
    pub n: u32,
    /// Their mean stated confidence (NaN for an empty bin).
    pub stated: f64,
    /// How many of them were right.
    pub right: u32,
}

/// How often calls stated at each confidence were right: `calls` holds (stated confidence, right)
/// pairs; each falls in one of [`CONFIDENCE_BINS`] (a confidence under 0.5 in the first, above
/// 1 or NaN in none).
pub fn reliability(calls: &[(f32, bool)]) -> Vec<ReliabilityBin> {
    let last = CONFIDENCE_BINS.len() - 1;
    CONFIDENCE_BINS
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| {
            let inside = |c: f32| (i == 0 || c >= lo) && (c < hi || (i == last && c <= hi));
            let (mut n, mut sum, mut right) = (0u32, 0.0f64, 0u32);
            for &(c, ok) in calls.iter().filter(|(c, _)| inside(*c)) {
                n += 1;
                sum += f64::from(c);
                right += u32::from(ok);
            }
            ReliabilityBin {
                bounds: (lo, hi),
                n,
                stated: if n > 0 { sum / f64::from(n) } else { f64::NAN },
                right,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_bins_calls_by_stated_confidence() {
        let calls = [
            (0.3, false),
            (0.6, true),
            (0.75, true),
            (0.85, false),
            (0.95, true),
            (1.0, true),
            (0.995, false),
            (f32::NAN, true),
        ];
        let bins = reliability(&calls);
        let got: Vec<(u32, u32)> = bins.iter().map(|b| (b.n, b.right)).collect();
        assert_eq!(got, vec![(2, 1), (2, 1), (1, 1), (2, 1)]);
        assert!((bins[0].stated - 0.45).abs() < 1e-6);
        assert!((bins[3].stated - 0.9975).abs() < 1e-6);
    }

    #[test]
    fn wilson_known_answers() {
        // 8 of 10: (0.4902, 0.9433); 0 of 10: (0, 0.2775).
        let (lo, hi) = wilson(8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4, "{hi}");
    }

    #[test]
    fn unknown_counts_as_wrong() {
        let mut c = Confusion::default();
        c.add(true, Some(true));
        c.add(true, None);
        c.add(false, None);
        c.add(false, Some(false));
        assert_eq!(
            c,
            Confusion {
                tp: 1,
                fn_: 1,
                tn: 1,
                fp: 1
            }
        );
        assert_eq!(c.balanced_accuracy(), 0.5);
    }
}

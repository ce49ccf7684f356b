//! The design matrices the models are fitted on: one row per recording, one column per model
//! input (the dsp features in `FEATURE_NAMES` order, then the murmur logit), NaN where missing.

use auscult_dsp::features::NUM_FEATURES;
use ndarray::{Array1, Array2};

/// Columns of a design matrix: the features, then the murmur logit (the slot
/// `auscult_dsp::murmur::input_index(MURMUR_LOGIT)` names).
pub const INPUTS: usize = NUM_FEATURES + 1;

/// Stacks recordings' inputs into a `recordings × INPUTS` matrix (NaN past the end of a short
/// row).
pub fn design_matrix(rows: &[&[f64]]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), INPUTS), |(r, c)| {
        rows[r].get(c).copied().unwrap_or(f64::NAN)
    })
}

/// Labelled examples: a design matrix with each row's truth and weight.
#[derive(Debug, Clone)]
pub struct Examples {
    /// The inputs, `recordings × INPUTS`.
    pub x: Array2<f64>,
    /// The truth of each row.
    pub y: Array1<bool>,
    /// The sample weight of each row.
    pub w: Array1<f64>,
}

impl Examples {
    /// How many examples (rows) there are.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
}

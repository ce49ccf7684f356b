//! The emission model of the segmentation HSMM: a multinomial logistic regression from a frame's
//! (expanded) features to the probability of each state, turned into a scaled likelihood by
//! dividing by the state prior (Springer et al. 2016 used one-vs-rest logistic regressions).
//!
//! Its parameters are a small text file, `params/segment_emission.txt`, written by the
//! `train_segmenter` example and compiled in. Parsing never panics: a malformed file is reported as
//! an error by [`EmissionModel::parse`], and [`EmissionModel::builtin`] then falls back to a
//! hand-set model (loud sounds are S1/S2, quiet frames systole/diastole).

use std::sync::OnceLock;

use super::features::{Frame, N_FEATURES};

/// Length of the expanded feature vector: bias, features, their squares.
pub const N_EXPANDED: usize = 1 + 2 * N_FEATURES;

/// The compiled-in parameters.
const PARAMS: &str = include_str!("../../params/segment_emission.txt");

/// State names in the parameter file, in state order.
const STATE_NAMES: [&str; 4] = ["S1", "systole", "S2", "diastole"];

/// The expanded feature vector the regression works on.
pub fn expand(f: &Frame) -> [f32; N_EXPANDED] {
    let mut out = [0.0f32; N_EXPANDED];
    out[0] = 1.0;
    for (i, &v) in f.iter().enumerate() {
        let v = v.clamp(-8.0, 8.0);
        out[1 + i] = v;
        out[1 + N_FEATURES + i] = v * v;
    }
    out
}

/// Multinomial logistic regression over the four states.
#[derive(Debug, Clone, PartialEq)]
pub struct EmissionModel {
    /// One weight vector per state, over [`expand`]ed features.
    pub weights: [[f32; N_EXPANDED]; 4],
    /// Log prior probability of each state (frame frequency in the training data).
    pub log_prior: [f32; 4],
}

impl EmissionModel {
    /// The hand-set model used when no trained parameters are available.
    pub fn hand_set() -> Self {
        let mut weights = [[0.0f32; N_EXPANDED]; 4];
        for (s, w) in weights.iter_mut().enumerate() {
            let loud = if s % 2 == 0 { 2.0 } else { -2.0 };
            w[1] = loud;
        }
        EmissionModel {
            weights,
            log_prior: [0.25f32.ln(); 4],
        }
    }

    /// Parses the text format written by [`EmissionModel::to_text`].
    ///
    /// # Errors
    /// A message naming the first problem found.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut weights = [[0.0f32; N_EXPANDED]; 4];
        let mut seen = [false; 4];
        let mut prior = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let key = parts.next().unwrap_or_default();
            let values: Result<Vec<f32>, _> = parts.map(str::parse::<f32>).collect();
            let values = values.map_err(|e| format!("line {}: {e}", n + 1))?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!("line {}: non-finite value", n + 1));
            }
            if key == "prior" {
                if values.len() != 4 || values.iter().any(|&p| p <= 0.0) {
                    return Err(format!("line {}: prior needs 4 positive values", n + 1));
                }
                let mut lp = [0.0f32; 4];
                for (d, v) in lp.iter_mut().zip(&values) {
                    *d = v.ln();
                }
                prior = Some(lp);
            } else if let Some(s) = STATE_NAMES.iter().position(|&k| k == key) {
                if values.len() != N_EXPANDED {
                    return Err(format!(
                        "line {}: {key} needs {N_EXPANDED} weights, got {}",
                        n + 1,
                        values.len()
                    ));
                }
                weights[s].copy_from_slice(&values);
                seen[s] = true;
            } else {
                return Err(format!("line {}: unknown key {key:?}", n + 1));
            }
        }
        match (prior, seen.iter().all(|&s| s)) {
            (Some(log_prior), true) => Ok(EmissionModel { weights, log_prior }),
            _ => Err("missing prior or a state's weights".to_string()),
        }
    }

    /// Writes the model in the text format [`EmissionModel::parse`] reads.
    pub fn to_text(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("prior");
        for lp in self.log_prior {
            out.push_str(&format!(" {:.6}", lp.exp()));
        }
        out.push('\n');
        for (name, w) in STATE_NAMES.iter().zip(&self.weights) {
            out.push_str(name);
            for v in w {
                out.push_str(&format!(" {v:.6}"));
            }
            out.push('\n');
        }
        out
    }

    /// The compiled-in trained model, or the hand-set one if the file does not parse.
    pub fn builtin() -> &'static EmissionModel {
        static MODEL: OnceLock<EmissionModel> = OnceLock::new();
        MODEL.get_or_init(|| EmissionModel::parse(PARAMS).unwrap_or_else(|_| Self::hand_set()))
    }

    /// Log posterior of each state given a frame.
    pub fn log_posterior(&self, f: &Frame) -> [f32; 4] {
        let x = expand(f);
        let mut z = [0.0f32; 4];
        for (zs, w) in z.iter_mut().zip(&self.weights) {
            *zs = w.iter().zip(&x).map(|(a, b)| a * b).sum();
        }
        let top = z.iter().copied().fold(f32::MIN, f32::max);
        let lse = top + z.iter().map(|v| (v - top).exp()).sum::<f32>().ln();
        z.map(|v| v - lse)
    }

    /// Scaled log likelihood of each state: log posterior minus log prior.
    pub fn log_emission(&self, f: &Frame) -> [f32; 4] {
        let lp = self.log_posterior(f);
        [
            lp[0] - self.log_prior[0],
            lp[1] - self.log_prior[1],
            lp[2] - self.log_prior[2],
            lp[3] - self.log_prior[3],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_parameters_parse() {
        let parsed = EmissionModel::parse(PARAMS);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn text_round_trips_and_bad_text_is_rejected() {
        let m = EmissionModel::hand_set();
        let back = EmissionModel::parse(&m.to_text("test")).expect("round trip");
        assert_eq!(back.weights, m.weights);
        assert!(EmissionModel::parse("prior 1 2 3").is_err());
        assert!(EmissionModel::parse("bogus 1").is_err());
        assert!(EmissionModel::parse("prior 1 1 1 nan").is_err());
    }
}

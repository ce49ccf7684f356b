//! Murmur finding from the cycles: is there a murmur, when in the cycle, and what is it like.
//!
//! The decision (present/absent), the timing (systolic/diastolic) and the "needs review" score are
//! small logistic models over [`crate::features`], trained by `auscult-train` on the labelled
//! recordings and committed as text in `params/murmur.txt` (parsed here by hand; the crate has no
//! serde). The description of a present murmur (phase, shape, pitch, Levine grade) is read by
//! rule from the ensemble-averaged envelope and the sub-band powers of the murmur's phase.
//! Extra sounds (S3, S4, a systolic click) are looked for in the ensemble as well.
//!
//! This module never reports a murmur from a recording the quality gate refused: that is the
//! caller's job ([`crate::analysis`]), and it never panics on NaN features or empty profiles.

use ndarray::Array2;

use crate::error::DspError;
use crate::features::{
    BandPowers, FEATURE_NAMES, Features, NUM_FEATURES, ensemble_mean, ensemble_phases,
    ensemble_profile, phase_windows,
};
use crate::model::{
    Cycle, EnsembleCycle, ExtraSound, MurmurFinding, MurmurPhase, MurmurPitch, MurmurShape,
    MurmurStatus, MurmurTiming, UnknownReason,
};

/// The committed model parameters.
pub const BUILTIN_PARAMS: &str = include_str!("../params/murmur.txt");

/// Name of the extra model input holding the murmur model's logit (used by the review model).
pub const MURMUR_LOGIT: &str = "murmur_logit";

/// One node of a regression tree: a split on a raw input (NaN goes left) or a leaf value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    /// Go to `left` when `input < threshold` or the input is NaN, else to `right`.
    Split {
        /// Input index (a feature, or `NUM_FEATURES` for the murmur logit).
        input: usize,
        /// Split point on the raw input.
        threshold: f64,
        /// Index of the left child (always after this node).
        left: usize,
        /// Index of the right child (always after this node).
        right: usize,
    },
    /// A leaf adding this much to the log-odds.
    Leaf(f64),
}

/// A regression tree of a boosted ensemble, nodes in an array with the root first. Children
/// always come after their parent (checked when parsing), so evaluation always ends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    /// The nodes, root at 0.
    pub nodes: Vec<Node>,
}

impl Tree {
    fn eval(&self, input: impl Fn(usize) -> f64) -> f64 {
        let mut i = 0;
        while let Some(node) = self.nodes.get(i) {
            match *node {
                Node::Leaf(v) => return v,
                Node::Split {
                    input: k,
                    threshold,
                    left,
                    right,
                } => {
                    let x = input(k);
                    let next = if x.is_nan() || x < threshold {
                        left
                    } else {
                        right
                    };
                    if next <= i {
                        return 0.0;
                    }
                    i = next;
                }
            }
        }
        0.0
    }
}

/// A logistic model over named inputs: `p = σ(b + Σ wᵢ (xᵢ − μᵢ)/sᵢ + Σ treeⱼ(x))`, linear terms
/// with standardisation and/or gradient-boosted trees on the raw inputs. A NaN input counts as its
/// mean in the linear part and goes left in a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Model name as in the parameter file.
    pub name: String,
    /// Intercept.
    pub bias: f64,
    /// Decision threshold on the probability.
    pub threshold: f64,
    /// (input index, mean, scale, weight); index `NUM_FEATURES` is the murmur logit.
    pub terms: Vec<(usize, f64, f64, f64)>,
    /// Boosted trees added to the log-odds.
    pub trees: Vec<Tree>,
}

impl Logistic {
    /// The log-odds for the given features (and murmur logit, for models that use it).
    pub fn logit(&self, f: &Features, murmur_logit: f64) -> f64 {
        let mut z = self.bias;
        for &(i, mean, scale, w) in &self.terms {
            let x = if i < NUM_FEATURES {
                f.values[i] as f64
            } else {
                murmur_logit
            };
            if x.is_finite() && scale > 0.0 {
                // Clamp standardised inputs so one wild feature cannot decide alone.
                z += w * ((x - mean) / scale).clamp(-6.0, 6.0);
            }
        }
        let input = |k: usize| {
            if k < NUM_FEATURES {
                f.values[k] as f64
            } else {
                murmur_logit
            }
        };
        z + self.trees.iter().map(|t| t.eval(input)).sum::<f64>()
    }

    /// The probability for the given features.
    pub fn probability(&self, f: &Features, murmur_logit: f64) -> f64 {
        sigmoid(self.logit(f, murmur_logit))
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Index of an input name: a feature, or the murmur logit.
pub fn input_index(name: &str) -> Option<usize> {
    if name == MURMUR_LOGIT {
        return Some(NUM_FEATURES);
    }
    FEATURE_NAMES.iter().position(|n| *n == name)
}

impl Logistic {
    /// Whether the model reads input `i` (a linear term or a tree split).
    fn reads(&self, i: usize) -> bool {
        self.terms.iter().any(|t| t.0 == i)
            || self.trees.iter().any(|tree| {
                tree.nodes
                    .iter()
                    .any(|n| matches!(n, Node::Split { input, .. } if *input == i))
            })
    }
}

/// An out-of-distribution check: the Mahalanobis distance of a recording's features from the
/// training recordings', `sqrt(zᵀ P z)` with `z` the standardised inputs (NaN counts as the
/// mean, each clamped to ±8) and `P` a shrunk inverse covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct Ood {
    /// (feature index, mean, scale) of each input.
    pub inputs: Vec<(usize, f64, f64)>,
    /// The precision matrix, `inputs.len() × inputs.len()`.
    pub precision: Array2<f64>,
    /// Distances above this are "unlike any recording the engine was trained on".
    pub threshold: f64,
}

impl Ood {
    /// The distance of the features from the training set (0 for a check without inputs).
    pub fn distance(&self, f: &Features) -> f64 {
        let n = self.inputs.len();
        if self.precision.dim() != (n, n) {
            return 0.0;
        }
        let z: Vec<f64> = self
            .inputs
            .iter()
            .map(|&(i, mean, scale)| {
                let x = f.values.get(i).copied().unwrap_or(f32::NAN) as f64;
                if x.is_finite() && scale > 0.0 {
                    ((x - mean) / scale).clamp(-8.0, 8.0)
                } else {
                    0.0
                }
            })
            .collect();
        let mut d2 = 0.0;
        for (zr, row) in z.iter().zip(self.precision.outer_iter()) {
            d2 += zr * row.iter().zip(&z).map(|(p, zc)| p * zc).sum::<f64>();
        }
        d2.max(0.0).sqrt()
    }
}

/// How far beyond its threshold the nearest out-of-distribution component puts the features:
/// the least `distance / threshold` over the components (0 without a check; above 1 means
/// unlike every kind of training recording).
pub fn ood_excess(components: &[Ood], f: &Features) -> f64 {
    components
        .iter()
        .map(|o| o.distance(f) / o.threshold)
        .filter(|r| !r.is_nan())
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))))
        .unwrap_or(0.0)
}

/// The learned models the engine uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    /// P(murmur present).
    pub murmur: Logistic,
    /// P(diastolic | murmur present).
    pub timing: Logistic,
    /// P(recording abnormal, needs review); may use the murmur logit.
    pub review: Logistic,
    /// Whether the review score may flag a recording on its own ([`crate::FlagReason::AbnormalScore`]):
    /// set by the trainer only when, left out by database, it kept its specificity on every one.
    pub review_flags: bool,
    /// Share of cycles in which some phase must stand above the recording's floor for the
    /// murmur score to call a murmur ([`repeats`]); 0, the default, does not ask.
    pub min_repeat: f32,
    /// The out-of-distribution check on the murmur features: one component per kind of
    /// training recording (with and without a murmur); a recording is unlike the training set
    /// when it is beyond the threshold of every component. Empty: no check.
    pub ood: Vec<Ood>,
}

impl Models {
    /// Whether any model or the out-of-distribution check reads feature `i`: the analyzer
    /// computes the per-phase MFCCs only when one does (they cost about 1 ms a recording).
    pub fn reads_feature(&self, i: usize) -> bool {
        [&self.murmur, &self.timing, &self.review]
            .iter()
            .any(|m| m.reads(i))
            || self.ood.iter().any(|o| o.inputs.iter().any(|t| t.0 == i))
    }

    /// The models committed in `params/murmur.txt`.
    pub fn builtin() -> Result<Models, DspError> {
        Models::parse(BUILTIN_PARAMS)
    }

    /// Parses the text format written by `auscult-train`:
    ///
    /// ```text
    /// # comment
    /// model murmur
    /// bias -0.4
    /// threshold 0.5
    /// term sys_rel 1.2 0.8 0.9      # name mean scale weight
    /// end
    /// ```
    ///
    /// The file must define the models `murmur`, `timing` and `review`.
    pub fn parse(text: &str) -> Result<Models, DspError> {
        let bad = |line: usize, reason: &str| DspError::InvalidParams {
            line,
            reason: reason.to_string(),
        };
        let mut models: Vec<Logistic> = Vec::new();
        let mut current: Option<Logistic> = None;
        let mut review_flags = false;
        let mut min_repeat = 0.0f32;
        let mut ood: Vec<Ood> = Vec::new();
        let mut in_ood = false;
        // The `row` values of the open ood block, row after row.
        let mut precision: Vec<f64> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let key = parts.next().unwrap_or("");
            let rest: Vec<&str> = parts.collect();
            let num = |s: &str| -> Result<f64, DspError> {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(line_no, "not a finite number"))
            };
            if in_ood {
                let Some(o) = ood.last_mut() else {
                    return Err(bad(line_no, "ood line outside an ood block"));
                };
                match key {
                    "threshold" if rest.len() == 1 => o.threshold = num(rest[0])?,
                    "input" if rest.len() == 3 => {
                        let idx = input_index(rest[0])
                            .filter(|&i| i < NUM_FEATURES)
                            .ok_or_else(|| bad(line_no, "unknown input"))?;
                        let scale = num(rest[2])?;
                        if scale <= 0.0 {
                            return Err(bad(line_no, "scale must be positive"));
                        }
                        o.inputs.push((idx, num(rest[1])?, scale));
                    }
                    "row" if rest.len() == o.inputs.len() => {
                        for v in &rest {
                            precision.push(num(v)?);
                        }
                    }
                    "end" => {
                        let d = o.inputs.len();
                        o.precision =
                            Array2::from_shape_vec((d, d), std::mem::take(&mut precision))
                                .map_err(|_| bad(line_no, "ood precision is not square"))?;
                        in_ood = false;
                    }
                    _ => return Err(bad(line_no, "unexpected line in ood")),
                }
                continue;
            }
            match (key, current.as_mut()) {
                ("ood", None) if rest.is_empty() => {
                    ood.push(Ood {
                        inputs: Vec::new(),
                        precision: Array2::zeros((0, 0)),
                        threshold: f64::INFINITY,
                    });
                    in_ood = true;
                }
                ("review_flags", None) if rest.len() == 1 => {
                    review_flags = match rest[0] {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(line_no, "review_flags must be true or false")),
                    };
                }
                ("min_repeat", None) if rest.len() == 1 => {
                    min_repeat = rest[0]
                        .parse::<f32>()
                        .ok()
                        .filter(|v| (0.0..=1.0).contains(v))
                        .ok_or_else(|| bad(line_no, "min_repeat must be a share from 0 to 1"))?;
                }
                ("model", None) => {
                    let name = rest
                        .first()
                        .ok_or_else(|| bad(line_no, "model without name"))?;
                    current = Some(Logistic {
                        name: (*name).to_string(),
                        bias: 0.0,
                        threshold: 0.5,
                        terms: Vec::new(),
                        trees: Vec::new(),
                    });
                }
                ("tree", Some(m)) if rest.is_empty() => m.trees.push(Tree::default()),
                ("split", Some(m)) if rest.len() == 4 => {
                    let tree = m
                        .trees
                        .last_mut()
                        .ok_or_else(|| bad(line_no, "split outside a tree"))?;
                    let input =
                        input_index(rest[0]).ok_or_else(|| bad(line_no, "unknown input"))?;
                    let here = tree.nodes.len();
                    let child = |s: &str| {
                        s.parse::<usize>()
                            .ok()
                            .filter(|&c| c > here)
                            .ok_or_else(|| bad(line_no, "child index must follow its parent"))
                    };
                    let node = Node::Split {
                        input,
                        threshold: num(rest[1])?,
                        left: child(rest[2])?,
                        right: child(rest[3])?,
                    };
                    tree.nodes.push(node);
                }
                ("leaf", Some(m)) if rest.len() == 1 => {
                    let v = num(rest[0])?;
                    m.trees
                        .last_mut()
                        .ok_or_else(|| bad(line_no, "leaf outside a tree"))?
                        .nodes
                        .push(Node::Leaf(v));
                }
                ("bias", Some(m)) if rest.len() == 1 => m.bias = num(rest[0])?,
                ("threshold", Some(m)) if rest.len() == 1 => m.threshold = num(rest[0])?,
                ("term", Some(m)) if rest.len() == 4 => {
                    let idx = input_index(rest[0]).ok_or_else(|| bad(line_no, "unknown input"))?;
                    let scale = num(rest[2])?;
                    if scale <= 0.0 {
                        return Err(bad(line_no, "scale must be positive"));
                    }
                    m.terms.push((idx, num(rest[1])?, scale, num(rest[3])?));
                }
                ("end", Some(_)) => {
                    if let Some(m) = current.take() {
                        models.push(m);
                    }
                }
                _ => return Err(bad(line_no, "unexpected line")),
            }
        }
        if current.is_some() || in_ood {
            return Err(bad(text.lines().count(), "block without end"));
        }
        let mut take = |name: &str| {
            models
                .iter()
                .position(|m| m.name == name)
                .map(|i| models.swap_remove(i))
                .ok_or_else(|| bad(0, &format!("missing model {name}")))
        };
        Ok(Models {
            murmur: take("murmur")?,
            timing: take("timing")?,
            review: take("review")?,
            review_flags,
            min_repeat,
            ood,
        })
    }

    /// Hand-set rule models, used only if the committed parameters cannot be read: a murmur is
    /// a phase within about e^-2.5 of the heart sounds' power; diastolic when diastole is the
    /// louder phase; review follows the murmur.
    pub fn hand_set() -> Models {
        let term = |name: &str, mean: f64, scale: f64, w: f64| {
            (input_index(name).unwrap_or(0), mean, scale, w)
        };
        Models {
            murmur: Logistic {
                name: "murmur".into(),
                bias: 0.0,
                threshold: 0.5,
                terms: vec![
                    term("sys_rel", -2.5, 1.0, 2.0),
                    term("dia_rel", -2.5, 1.0, 1.0),
                ],
                trees: Vec::new(),
            },
            timing: Logistic {
                name: "timing".into(),
                bias: 0.0,
                threshold: 0.5,
                terms: vec![term("sys_minus_dia", 0.0, 1.0, -2.0)],
                trees: Vec::new(),
            },
            review: Logistic {
                name: "review".into(),
                bias: 0.0,
                threshold: 0.5,
                terms: vec![term(MURMUR_LOGIT, 0.0, 1.0, 1.0)],
                trees: Vec::new(),
            },
            review_flags: false,
            min_repeat: 0.0,
            ood: Vec::new(),
        }
    }

    /// Writes the models in the format [`Models::parse`] reads (`tree`, then its nodes in order:
    /// `split <input> <threshold> <left> <right>` or `leaf <value>`).
    pub fn to_text(&self) -> String {
        let mut out = format!("review_flags {}\n", self.review_flags);
        if self.min_repeat > 0.0 {
            out.push_str(&format!("min_repeat {}\n", self.min_repeat));
        }
        for o in &self.ood {
            out.push_str(&format!("ood\nthreshold {}\n", o.threshold));
            for &(i, mean, scale) in &o.inputs {
                let name = FEATURE_NAMES.get(i).copied().unwrap_or(MURMUR_LOGIT);
                out.push_str(&format!("input {name} {mean} {scale}\n"));
            }
            for row in o.precision.outer_iter() {
                let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                out.push_str(&format!("row {}\n", vals.join(" ")));
            }
            out.push_str("end\n");
        }
        for m in [&self.murmur, &self.timing, &self.review] {
            out.push_str(&format!(
                "model {}\nbias {}\nthreshold {}\n",
                m.name, m.bias, m.threshold
            ));
            for &(i, mean, scale, w) in &m.terms {
                let name = FEATURE_NAMES.get(i).copied().unwrap_or(MURMUR_LOGIT);
                out.push_str(&format!("term {name} {mean} {scale} {w}\n"));
            }
            for t in &m.trees {
                out.push_str("tree\n");
                for n in &t.nodes {
                    match *n {
                        Node::Split {
                            input,
                            threshold,
                            left,
                            right,
                        } => {
                            let name = FEATURE_NAMES.get(input).copied().unwrap_or(MURMUR_LOGIT);
                            out.push_str(&format!("split {name} {threshold} {left} {right}\n"));
                        }
                        Node::Leaf(v) => out.push_str(&format!("leaf {v}\n")),
                    }
                }
            }
            out.push_str("end\n");
        }
        out
    }
}

/// The model outputs for one recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Log-odds of a murmur.
    pub murmur_logit: f64,
    /// P(murmur).
    pub murmur: f64,
    /// P(diastolic | murmur).
    pub diastolic: f64,
    /// P(needs review).
    pub review: f64,
    /// [`ood_excess`]: above 1 when unlike every kind of training recording.
    pub ood_distance: f64,
}

/// Runs the models on the features.
pub fn score(models: &Models, f: &Features) -> Scores {
    let murmur_logit = models.murmur.logit(f, 0.0);
    Scores {
        murmur_logit,
        murmur: sigmoid(murmur_logit),
        diastolic: models.timing.probability(f, murmur_logit),
        review: models.review.probability(f, murmur_logit),
        ood_distance: ood_excess(&models.ood, f),
    }
}

/// How a murmur would be described if it were in a given phase (read before the models decide).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PhaseDescription {
    /// Early, mid, late or holo.
    pub phase: Option<MurmurPhase>,
    /// Intensity profile.
    pub shape: Option<MurmurShape>,
    /// Dominant pitch.
    pub pitch: Option<MurmurPitch>,
}

/// Descriptions of a would-be murmur in systole and in diastole: `[systolic, diastolic]`.
pub fn describe_phases(
    cycles: &[Cycle],
    ensemble: Option<&EnsembleCycle>,
    powers: &BandPowers,
) -> [PhaseDescription; 2] {
    [false, true].map(|diastolic| {
        let (phase, shape) = ensemble
            .map(|e| profile_description(e, diastolic))
            .unwrap_or((None, None));
        PhaseDescription {
            phase,
            shape,
            pitch: pitch_of(cycles, powers, diastolic),
        }
    })
}

/// The softest murmur grade an absent call must have been able to hear
/// ([`crate::features::PhaseMap::softest_murmur_rel`]): where the recording's noise floor
/// would hide a murmur of this grade, "absent" is not said
/// ([`UnknownReason::MurmurMaskedByNoise`]).
pub const MAX_SOFTEST_GRADE: u8 = 4;

/// The murmur finding of a judgeable recording from its scores and phase descriptions; an
/// absent call states the softest murmur the recording would have shown, from
/// `softest_murmur_rel` ([`crate::features::PhaseMap::softest_murmur_rel`], NaN when not
/// measured).
pub fn finding(
    models: &Models,
    scores: &Scores,
    features: &Features,
    descriptions: &[PhaseDescription; 2],
    softest_murmur_rel: f32,
) -> MurmurFinding {
    let loud_diastolic = loud_diastolic(features);
    if unmeasured(models, features) && !loud_diastolic {
        return MurmurFinding::undescribed(
            MurmurStatus::Unknown(UnknownReason::NoMeasurableCycle),
            0.0,
        );
    }
    let present = called(models, scores.murmur, features);
    let confidence = call_confidence(models, scores.murmur, features, present) as f32;
    if !present {
        return absent(confidence, softest_murmur_rel);
    }
    let diastolic = loud_diastolic
        || match repeating_phase(features, models.min_repeat) {
            Some(phase) if accepted_cycles(features) >= MIN_CYCLES_FOR_REPEAT_TIMING => phase,
            _ => scores.diastolic >= models.timing.threshold,
        };
    let d = descriptions[usize::from(diastolic)];
    MurmurFinding {
        status: MurmurStatus::Present,
        timing: Some(timing_of(diastolic, features)),
        phase: d.phase,
        shape: d.shape,
        pitch: d.pitch,
        grade: Some(grade_of(features, diastolic)),
        softest_grade: None,
        confidence: confidence.max(if loud_diastolic { 0.6 } else { 0.0 }),
    }
}

/// An absent call with the softest murmur grade the recording would have shown, or, where even
/// a grade [`MAX_SOFTEST_GRADE`] murmur would stay under its noise, not absent but unknown.
fn absent(confidence: f32, softest_murmur_rel: f32) -> MurmurFinding {
    let call = MurmurFinding::undescribed(MurmurStatus::Absent, confidence);
    if !softest_murmur_rel.is_finite() {
        return call;
    }
    match grade_of_rel(softest_murmur_rel) {
        softest if softest > MAX_SOFTEST_GRADE => MurmurFinding::undescribed(
            MurmurStatus::Unknown(UnknownReason::MurmurMaskedByNoise {
                softest_grade: softest,
            }),
            0.0,
        ),
        softest => MurmurFinding {
            softest_grade: Some(softest),
            ..call
        },
    }
}

/// Confidence in the murmur call, 0.5 on its decision boundary and 1 far from it: how far the
/// evidence lies past the boundary, each test scaled to its own range. A murmur is called when
/// the model's probability `p` reaches its threshold `t` *and* the evidence repeats in at least
/// `min_repeat` (`m`) of the cycles, so a present call is as sure as the nearer of the two
/// margins, (p − t) / (1 − t) and (r − m) / (1 − m) for the repeat share `r`; an absent call, as
/// the farther of (t − p) / t and (m − r) / m (either failing test suffices). Not a calibrated
/// probability: the thresholds are chosen for specificity on devices never heard, so the model's
/// own probability (which can be 0.05 at a present call with a threshold of 0.01) would mislead.
pub fn call_confidence(models: &Models, murmur: f64, f: &Features, present: bool) -> f64 {
    let t = models.murmur.threshold.clamp(1e-6, 1.0 - 1e-6);
    let m = f64::from(models.min_repeat).clamp(0.0, 1.0 - 1e-6);
    let p = if murmur.is_finite() {
        murmur.clamp(0.0, 1.0)
    } else {
        t
    };
    let r = f64::from(repeat_share(f));
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let margin = if present {
        let by_p = ((p - t) / (1.0 - t)).max(0.0);
        let by_r = if m > 0.0 {
            ((r - m) / (1.0 - m)).max(0.0)
        } else {
            1.0
        };
        by_p.min(by_r)
    } else {
        let by_p = ((t - p) / t).max(0.0);
        let by_r = if m > 0.0 { ((m - r) / m).max(0.0) } else { 0.0 };
        by_p.max(by_r)
    };
    0.5 + 0.5 * margin.clamp(0.0, 1.0)
}

/// Whether the call asks for the repeat test ([`repeats`]) and the recording has no cycle to
/// take it on (no cycle of the phase map: `sys_repeat` and `dia_repeat` NaN). Such a recording is
/// not judged: "absent" would be a guess.
pub fn unmeasured(models: &Models, f: &Features) -> bool {
    models.min_repeat > 0.0 && f.get("sys_repeat").is_nan() && f.get("dia_repeat").is_nan()
}

/// The share of cycles in which the murmur evidence repeats at the same phase, the larger over
/// the two phases and the two tests: three neighbouring bins of the phase above the recording's
/// floor ([`crate::features::PhaseMap::repeat`], `sys_repeat` / `dia_repeat`), or the phase's
/// last two bins far above it in the whole cycles ([`crate::features::PhaseMap::late_repeat`],
/// `sys_late_repeat` / `dia_late_repeat`), or, over [`MIN_CYCLES_FOR_EARLY_REPEAT`] accepted
/// cycles or more, its first two bins above its last in the high band
/// ([`crate::features::PhaseMap::early_repeat`], `sys_early_repeat` / `dia_early_repeat`). NaN
/// when neither phase was measured.
pub fn repeat_share(f: &Features) -> f32 {
    phase_repeat_share(f, false).max(phase_repeat_share(f, true))
}

/// [`repeat_share`] of one phase: systole, or diastole when `diastole`; NaN when unmeasured.
fn phase_repeat_share(f: &Features, diastole: bool) -> f32 {
    let (repeat, late, early) = if diastole {
        ("dia_repeat", "dia_late_repeat", "dia_early_repeat")
    } else {
        ("sys_repeat", "sys_late_repeat", "sys_early_repeat")
    };
    let share = f.get(repeat).max(f.get(late));
    if accepted_cycles(f) >= MIN_CYCLES_FOR_EARLY_REPEAT {
        share.max(f.get(early))
    } else {
        share
    }
}

/// Fewest accepted cycles for [`crate::features::PhaseMap::early_repeat`] to count. In a
/// recording of two or three beats the decoded S1 and S2 can be swapped (see
/// [`MIN_CYCLES_FOR_REPEAT_TIMING`]) and the early bins of a phase then hold the loud end of
/// the other: 29 of Yaseen's 100 normal recordings (fewer than five cycles each) repeat early in
/// diastole, none of PhysioNet's 478 normals (crates/train/RESULTS.md).
pub const MIN_CYCLES_FOR_EARLY_REPEAT: usize = 5;

/// Fewest accepted cycles for a murmur's timing to be read from the phase its evidence repeats
/// in ([`repeating_phase`]) rather than from the timing model. Over many beats the segmenter's
/// order of S1 and S2 holds (no swap in PhysioNet's 643 sound-alone recordings), and the phase
/// where the evidence comes back is the murmur's. In a recording of two or three beats the
/// decoded S1 and S2 can be swapped (twelve of Yaseen's mitral stenoses, 2.4 s long, whose
/// rumble repeats in the decoded systole), and the timing model, which reads the murmur's
/// sound, puts it right.
pub const MIN_CYCLES_FOR_REPEAT_TIMING: usize = 5;

/// The phase the murmur evidence repeats in when only one does: `Some(false)` systole,
/// `Some(true)` diastole (either test of [`repeat_share`], at `min_repeat`); `None` when both
/// or neither phase does, or the repeat test is off (`min_repeat` 0).
pub fn repeating_phase(f: &Features, min_repeat: f32) -> Option<bool> {
    if min_repeat <= 0.0 {
        return None;
    }
    let sys = phase_repeat_share(f, false) >= min_repeat;
    let dia = phase_repeat_share(f, true) >= min_repeat;
    match (sys, dia) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    }
}

/// How many cycles were accepted (from `log_cycles`, ln(accepted + 1)); 0 when unknown.
pub fn accepted_cycles(f: &Features) -> usize {
    let v = f.get("log_cycles").exp() - 1.0;
    if v.is_finite() && v > 0.0 {
        v.round() as usize
    } else {
        0
    }
}

/// Whether the murmur evidence repeats ([`repeat_share`]) in at least `min_repeat` of the
/// cycles. A murmur comes back at the same phase beat after beat; noise that happens to fill a
/// phase in one or two cycles does not (issue 8 §3; measured leave one database out in
/// crates/train/RESULTS.md). Always true for `min_repeat` 0.
pub fn repeats(f: &Features, min_repeat: f32) -> bool {
    min_repeat <= 0.0 || repeat_share(f) >= min_repeat
}

/// The murmur call: the murmur model's probability at or above its threshold with evidence that
/// [`repeats`], or a [`loud_diastolic`] murmur.
pub fn called(models: &Models, murmur: f64, f: &Features) -> bool {
    (murmur >= models.murmur.threshold && repeats(f, models.min_repeat)) || loud_diastolic(f)
}

/// A safety net under the learned models for loud diastolic murmurs unlike the training data's
/// (which has mitral-stenosis rumbles but no aortic regurgitation): diastole within e^-1 of the
/// heart sounds' power and e^3 louder than systole. Fires on under 0.5 % of the murmur-free
/// training recordings; a diastolic murmur is always pathological, so it is never ignored.
pub fn loud_diastolic(f: &Features) -> bool {
    f.get("dia_rel") > -1.0 && f.get("sys_minus_dia") < -3.0
}

/// Systolic or diastolic per the timing model; "both" only when each phase on its own is as loud
/// as a murmur (power within 1/e² of the heart sounds' in both phases).
fn timing_of(diastolic: bool, f: &Features) -> MurmurTiming {
    let (s, d) = (f.get("sys_rel"), f.get("dia_rel"));
    if s > -2.0 && d > -2.0 {
        MurmurTiming::Both
    } else if diastolic {
        MurmurTiming::Diastolic
    } else {
        MurmurTiming::Systolic
    }
}

/// Phase and shape of the murmur from the ensemble envelope over its phase, above the floor set
/// by the other phase.
pub fn profile_description(
    ens: &EnsembleCycle,
    diastolic: bool,
) -> (Option<MurmurPhase>, Option<MurmurShape>) {
    let ((ss, se), (ds, de)) = ensemble_phases(ens);
    let (own, other) = if diastolic {
        (
            ensemble_profile(ens, ds, de, 6),
            ensemble_profile(ens, ss, se, 6),
        )
    } else {
        (
            ensemble_profile(ens, ss, se, 6),
            ensemble_profile(ens, ds, de, 6),
        )
    };
    if own.len() != 6 {
        return (None, None);
    }
    let floor = other
        .iter()
        .chain(&own)
        .cloned()
        .fold(f64::INFINITY, f64::min);
    let excess: Vec<f64> = own.iter().map(|v| (v - floor).max(0.0)).collect();
    let (k_max, max) =
        excess.iter().cloned().enumerate().fold(
            (0, 0.0),
            |(bk, bv), (k, v)| if v > bv { (k, v) } else { (bk, bv) },
        );
    if max <= 0.0 {
        return (None, None);
    }
    let covered = excess.iter().filter(|&&v| v >= 0.5 * max).count();
    let total: f64 = excess.iter().sum();
    let centroid = excess
        .iter()
        .enumerate()
        .map(|(k, v)| (k as f64 + 0.5) / 6.0 * v)
        .sum::<f64>()
        / total;
    let phase = if covered >= 5 {
        MurmurPhase::Holo
    } else if centroid < 0.4 {
        MurmurPhase::Early
    } else if centroid > 0.6 {
        MurmurPhase::Late
    } else {
        MurmurPhase::Mid
    };
    let inner_min = excess[1..5].iter().cloned().fold(f64::INFINITY, f64::min);
    let shape = if covered >= 5 && inner_min >= 0.6 * max {
        MurmurShape::Plateau
    } else if k_max <= 1 && excess[5] < 0.6 * max {
        MurmurShape::Decrescendo
    } else if k_max >= 4 && excess[0] < 0.6 * max {
        MurmurShape::Crescendo
    } else if excess[0] < 0.75 * max && excess[5] < 0.75 * max {
        MurmurShape::CrescendoDecrescendo
    } else {
        MurmurShape::Plateau
    };
    (Some(phase), Some(shape))
}

/// Dominant pitch from the sub-band powers of the murmur's phase over the accepted cycles: the
/// power-weighted mean of the band centres (50, 130, 300 Hz).
fn pitch_of(cycles: &[Cycle], powers: &BandPowers, diastolic: bool) -> Option<MurmurPitch> {
    let mut band = [0.0f64; 3];
    for c in cycles.iter().filter(|c| c.accepted) {
        let (sys, dia) = phase_windows(c);
        let (t0, t1) = if diastolic { dia } else { sys };
        for (b, acc) in band.iter_mut().enumerate() {
            *acc += powers.mean(b + 1, t0, t1).unwrap_or(0.0);
        }
    }
    let total: f64 = band.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let centre = (50.0 * band[0] + 130.0 * band[1] + 300.0 * band[2]) / total;
    Some(if centre < 150.0 {
        MurmurPitch::Low
    } else if centre < 250.0 {
        MurmurPitch::Medium
    } else {
        MurmurPitch::High
    })
}

/// A Levine grade estimate from the murmur's loudness relative to the heart sounds (amplitude
/// ratio): a heuristic, since loudness at the chest wall cannot be known from a relative signal.
fn grade_of(f: &Features, diastolic: bool) -> u8 {
    let rel = if diastolic {
        f.get("dia_rel")
    } else {
        f.get("sys_rel")
    };
    grade_of_rel(rel)
}

/// The Levine grade estimate of a murmur whose power stands `rel` (natural log of the power
/// ratio) against the heart sounds; grade 3 when unmeasured.
pub(crate) fn grade_of_rel(rel: f32) -> u8 {
    let amp = if rel.is_finite() {
        (0.5 * rel as f64).exp()
    } else {
        0.3
    };
    match amp {
        a if a < 0.15 => 1,
        a if a < 0.3 => 2,
        a if a < 0.6 => 3,
        a if a < 1.0 => 4,
        a if a < 1.5 => 5,
        _ => 6,
    }
}

/// Extra sounds in the ensemble: S3 (a distinct peak 80–220 ms after S2), S4 (a peak in the
/// 150 ms before the next S1) and a mid-systolic click (a short, loud peak inside systole).
/// Each must stand well above its phase's median level and reach a fair fraction of S2.
pub fn extra_sounds(ens: &EnsembleCycle) -> Vec<ExtraSound> {
    let mut found = Vec::new();
    let rate = ens.rate.0;
    let end = ens.envelope.len() as f64 / rate;
    let ((ss, se), (ds, de)) = ensemble_phases(ens);
    let s2_level = ensemble_mean(ens, ens.s2.start.0, ens.s2.end.0).unwrap_or(0.0);
    let peak_in = |t0: f64, t1: f64| -> f64 {
        let i0 = ((t0 * rate).max(0.0) as usize).min(ens.envelope.len());
        let i1 = ((t1 * rate).max(0.0) as usize).min(ens.envelope.len());
        ens.envelope[i0..i1.max(i0)]
            .iter()
            .fold(0.0f64, |m, &v| m.max(v as f64))
    };
    let median_in = |t0: f64, t1: f64| -> f64 {
        let i0 = ((t0 * rate).max(0.0) as usize).min(ens.envelope.len());
        let i1 = ((t1 * rate).max(0.0) as usize).min(ens.envelope.len());
        let mut v: Vec<f32> = ens.envelope[i0..i1.max(i0)].to_vec();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f32::total_cmp);
        v[v.len() / 2] as f64
    };
    let dia_median = median_in(ds, de);
    let standout = |peak: f64, base: f64| peak > 3.0 * base && peak > 0.3 * s2_level;
    if de - ds > 0.25 {
        let s3_peak = peak_in(ens.s2.end.0 + 0.08, ens.s2.end.0 + 0.22);
        if standout(s3_peak, dia_median) {
            found.push(ExtraSound::S3);
        }
        let s4_peak = peak_in((end - 0.15).max(ens.s2.end.0 + 0.25), end - 0.03);
        if standout(s4_peak, dia_median) {
            found.push(ExtraSound::S4);
        }
    }
    if se - ss > 0.1 {
        let sys_median = median_in(ss, se);
        let click = peak_in(ss + 0.03, se - 0.03);
        if standout(click, sys_median) && click > 4.0 * sys_median {
            found.push(ExtraSound::SystolicClick);
        }
    }
    found
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_repeat_gate_is_a_parameter_that_reads_back_and_asks_only_when_set() {
        let mut models = Models::hand_set();
        assert_eq!(models.min_repeat, 0.0);
        assert!(
            !models.to_text().contains("min_repeat"),
            "written only when set"
        );
        models.min_repeat = 0.5;
        let back = Models::parse(&models.to_text()).expect("parses");
        assert_eq!(back.min_repeat, 0.5);
        let bad = models.to_text().replace("min_repeat 0.5", "min_repeat 2");
        assert!(Models::parse(&bad).is_err());
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        let at = |n: &str| input_index(n).expect("a feature");
        f.values[at("sys_repeat")] = 0.25;
        f.values[at("dia_repeat")] = 0.0;
        assert!(
            !called(&models, 0.99, &f),
            "a loud phase in one cycle of four"
        );
        f.values[at("dia_repeat")] = 0.75;
        assert!(called(&models, 0.99, &f), "diastole repeats");
        assert!(!called(&models, 0.01, &f), "below the threshold");
        models.min_repeat = 0.0;
        f.values[at("dia_repeat")] = 0.0;
        assert!(called(&models, 0.99, &f), "no gate");
    }

    #[test]
    fn a_murmur_at_the_end_of_its_phase_passes_the_repeat_test() {
        let mut models = Models::hand_set();
        models.min_repeat = 0.7;
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        let at = |n: &str| input_index(n).expect("a feature");
        f.values[at("sys_repeat")] = 0.0;
        f.values[at("dia_repeat")] = 0.4;
        f.values[at("sys_late_repeat")] = 0.0;
        f.values[at("dia_late_repeat")] = 0.5;
        assert_eq!(repeat_share(&f), 0.5);
        assert!(!called(&models, 0.99, &f));
        f.values[at("dia_late_repeat")] = 1.0;
        assert_eq!(repeat_share(&f), 1.0);
        assert!(called(&models, 0.99, &f), "the presystolic stretch repeats");
        assert!(call_confidence(&models, 0.99, &f, true) > 0.5);
        // Without whole cycles (NaN) the late test says nothing; the three-bin test still does.
        f.values[at("dia_late_repeat")] = f32::NAN;
        f.values[at("sys_late_repeat")] = f32::NAN;
        f.values[at("sys_repeat")] = 0.8;
        assert!(called(&models, 0.99, &f));
        assert!(!unmeasured(&models, &f));
    }

    #[test]
    fn a_murmur_at_the_start_of_its_phase_counts_over_five_cycles_or_more() {
        let mut models = Models::hand_set();
        models.min_repeat = 0.7;
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        let at = |n: &str| input_index(n).expect("a feature");
        for n in [
            "sys_repeat",
            "dia_repeat",
            "sys_late_repeat",
            "dia_late_repeat",
        ] {
            f.values[at(n)] = 0.0;
        }
        f.values[at("sys_early_repeat")] = 0.0;
        f.values[at("dia_early_repeat")] = 1.0;
        // Four accepted cycles (log_cycles is ln(accepted + 1)): a short recording's decoded S1
        // and S2 can be swapped, and its early bins hold a sound's tail.
        f.values[at("log_cycles")] = 5f32.ln();
        assert_eq!(repeat_share(&f), 0.0);
        assert!(!called(&models, 0.99, &f));
        f.values[at("log_cycles")] = 6f32.ln();
        assert_eq!(repeat_share(&f), 1.0);
        assert!(
            called(&models, 0.99, &f),
            "the early diastolic decrescendo repeats"
        );
        assert_eq!(repeating_phase(&f, models.min_repeat), Some(true));
        assert!(!called(&models, 0.005, &f), "the model still decides");
    }

    #[test]
    fn a_recording_without_a_measurable_cycle_is_not_judged() {
        let mut models = gated_models();
        let f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        let scores = Scores {
            murmur_logit: 0.0,
            murmur: 0.5,
            diastolic: 0.0,
            review: 0.0,
            ood_distance: 0.0,
        };
        let d = [PhaseDescription::default(); 2];
        let got = finding(&models, &scores, &f, &d, f32::NAN);
        assert_eq!(
            got.status,
            MurmurStatus::Unknown(UnknownReason::NoMeasurableCycle)
        );
        assert_eq!(got.confidence, 0.0);
        assert!(got.timing.is_none() && got.grade.is_none());
        // With one measurable cycle the call is made.
        let mut measured = f.clone();
        measured.values[input_index("sys_repeat").expect("a feature")] = 0.0;
        measured.values[input_index("dia_repeat").expect("a feature")] = 0.0;
        assert_eq!(
            finding(&models, &scores, &measured, &d, f32::NAN).status,
            MurmurStatus::Absent
        );
        // Without the repeat gate the call never asked for a measured cycle.
        models.min_repeat = 0.0;
        assert_ne!(
            finding(&models, &scores, &f, &d, f32::NAN).status,
            MurmurStatus::Unknown(UnknownReason::NoMeasurableCycle)
        );
    }

    /// The hand-set models with the committed kind of call: a low murmur threshold and the
    /// repeat test at 0.7.
    fn gated_models() -> Models {
        let mut models = Models::hand_set();
        models.murmur.threshold = 0.01;
        models.min_repeat = 0.7;
        models
    }

    #[test]
    fn timing_follows_the_phase_that_repeats_over_enough_beats() {
        let models = gated_models();
        let at = |n: &str| input_index(n).expect("a feature");
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        // Evidence repeats in systole only, quiet enough that "both" is not in question.
        f.values[at("sys_repeat")] = 0.9;
        f.values[at("dia_repeat")] = 0.2;
        f.values[at("sys_late_repeat")] = 0.0;
        f.values[at("dia_late_repeat")] = 0.0;
        f.values[at("sys_rel")] = -2.5;
        f.values[at("dia_rel")] = -3.5;
        f.values[at("sys_minus_dia")] = 1.0;
        assert_eq!(repeating_phase(&f, 0.7), Some(false));
        // The timing model says diastolic.
        let scores = Scores {
            murmur_logit: 0.0,
            murmur: 0.5,
            diastolic: 0.99,
            review: 0.0,
            ood_distance: 0.0,
        };
        let d = [PhaseDescription::default(); 2];
        let timing = |f: &Features| finding(&models, &scores, f, &d, f32::NAN).timing;
        let with_cycles = |n: usize| {
            let mut g = f.clone();
            g.values[at("log_cycles")] = ((n + 1) as f32).ln();
            g
        };
        assert_eq!(accepted_cycles(&with_cycles(8)), 8);
        // Eight beats: the phase the evidence comes back in is the murmur's.
        assert_eq!(timing(&with_cycles(8)), Some(MurmurTiming::Systolic));
        assert_eq!(
            timing(&with_cycles(MIN_CYCLES_FOR_REPEAT_TIMING)),
            Some(MurmurTiming::Systolic)
        );
        // Three beats may have S1 and S2 swapped: the timing model decides.
        assert_eq!(timing(&with_cycles(3)), Some(MurmurTiming::Diastolic));
        assert_eq!(timing(&f), Some(MurmurTiming::Diastolic), "cycles unknown");
        // Both phases repeat: the timing model decides.
        let mut both = with_cycles(8);
        both.values[at("dia_late_repeat")] = 0.8;
        assert_eq!(repeating_phase(&both, 0.7), None);
        assert_eq!(timing(&both), Some(MurmurTiming::Diastolic));
        // Without the repeat test there is no repeating phase.
        assert_eq!(repeating_phase(&f, 0.0), None);
    }

    #[test]
    fn call_confidence_is_the_margin_past_the_nearer_boundary() {
        let mut models = gated_models();
        let at = |n: &str| input_index(n).expect("a feature");
        let with = |sys: f32, dia: f32| {
            let mut f = Features {
                values: [f32::NAN; NUM_FEATURES],
            };
            f.values[at("sys_repeat")] = sys;
            f.values[at("dia_repeat")] = dia;
            f
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        // Present: the nearer margin. p far past 0.01, repeat 0.85 halfway from 0.7 to 1.
        let f = with(0.85, 0.0);
        assert!(called(&models, 0.99, &f));
        assert!(close(
            call_confidence(&models, 0.99, &f, true),
            0.5 + 0.5 * 0.5
        ));
        // A model probability of 0.05 at a threshold of 0.01 is not "confidence 0.05".
        let c = call_confidence(&models, 0.05, &with(1.0, 0.0), true);
        assert!(c > 0.5 && c < 0.53, "{c}");
        // Absent: the farther margin. Repeat 0.35 is halfway below 0.7.
        let f = with(0.35, 0.1);
        assert!(!called(&models, 0.99, &f));
        assert!(close(call_confidence(&models, 0.99, &f, false), 0.75));
        // Below the threshold and no repeat at all: sure.
        assert!(close(
            call_confidence(&models, 0.0, &with(0.0, 0.0), false),
            1.0
        ));
        // Every call lies in 0.5..=1, whatever the inputs, NaN included.
        for p in [f64::NAN, -1.0, 0.0, 0.005, 0.01, 0.5, 1.0, 2.0] {
            for r in [f32::NAN, 0.0, 0.69, 0.7, 1.0] {
                let f = with(r, f32::NAN);
                for present in [true, false] {
                    let c = call_confidence(&models, p, &f, present);
                    assert!((0.5..=1.0).contains(&c), "{p} {r} {present}: {c}");
                }
            }
        }
        // Without a gate, a present call is as sure as its probability margin.
        models.min_repeat = 0.0;
        models.murmur.threshold = 0.5;
        assert!(close(
            call_confidence(&models, 0.75, &with(0.0, 0.0), true),
            0.75
        ));
        assert!(close(
            call_confidence(&models, 0.25, &with(0.0, 0.0), false),
            0.75
        ));
    }
    use super::*;

    #[test]
    fn committed_params_parse_and_round_trip() {
        let m = Models::builtin().expect("committed params parse");
        assert!(!m.murmur.terms.is_empty() || !m.murmur.trees.is_empty());
        assert!(!m.timing.terms.is_empty() || !m.timing.trees.is_empty());
        assert!(!m.review.terms.is_empty() || !m.review.trees.is_empty());
        let again = Models::parse(&m.to_text()).expect("round trip");
        assert_eq!(again, m, "the text format round-trips exactly");
    }

    #[test]
    fn malformed_params_are_errors_not_panics() {
        for text in [
            "model murmur\nbias x\nend\n",
            "model murmur\nterm nope 0 1 1\nend\n",
            "model murmur\nterm sys_rel 0 0 1\nend\n",
            "bias 1\n",
            "model murmur\n",
            "model murmur\nend\n",
            "model murmur\ntree\nsplit sys_rel 0 0 1\nend\n",
            "model murmur\nleaf 1\nend\n",
            "review_flags maybe\n",
            "ood\ninput sys_rel 0 1\nrow 1 2\nend\n",
            "ood\ninput sys_rel 0 1\nend\n",
            "ood\nthreshold 2\n",
            "threshold 2\n",
        ] {
            assert!(Models::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn ood_distance_is_mahalanobis() {
        let o = Ood {
            inputs: vec![(0, 1.0, 2.0), (1, 0.0, 1.0)],
            precision: ndarray::arr2(&[[1.0, 0.0], [0.0, 4.0]]),
            threshold: 3.0,
        };
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        assert_eq!(o.distance(&f), 0.0, "NaN inputs count as the mean");
        f.values[0] = 7.0; // z = 3
        f.values[1] = 2.0; // z = 2, precision 4
        assert!((o.distance(&f) - 5.0).abs() < 1e-12);
        let mut m = Models::hand_set();
        let mut far = o.clone();
        far.threshold = 10.0;
        m.ood = vec![o, far];
        assert!(
            (ood_excess(&m.ood, &f) - 0.5).abs() < 1e-12,
            "the nearer component counts"
        );
        m.review_flags = true;
        let again = Models::parse(&m.to_text()).expect("round trip");
        assert_eq!(again, m);
    }

    #[test]
    fn logistic_ignores_nan_inputs() {
        let m = Logistic {
            name: "t".into(),
            bias: 0.5,
            threshold: 0.5,
            terms: vec![(0, 0.0, 1.0, 2.0)],
            trees: vec![Tree {
                nodes: vec![
                    Node::Split {
                        input: 1,
                        threshold: 0.0,
                        left: 1,
                        right: 2,
                    },
                    Node::Leaf(-1.0),
                    Node::Leaf(1.0),
                ],
            }],
        };
        let mut f = Features {
            values: [f32::NAN; NUM_FEATURES],
        };
        // NaN: linear term silent, tree goes left.
        assert!((m.logit(&f, 0.0) - -0.5).abs() < 1e-12);
        f.values[0] = 1.0;
        f.values[1] = 0.5;
        assert!((m.logit(&f, 0.0) - 3.5).abs() < 1e-12);
    }
}

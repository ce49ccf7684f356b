//! The top-level analysis pipeline: one recording in, one [`Analysis`] out.
//!
//! preprocess → raw quality gate (non-finite, too short, flat, clipped) → signal-quality index →
//! segmentation (ECG-gated when an ECG is given) → per-cycle quality and rejection → ensemble
//! averaging aligned on S1 and S2 → features → murmur models and description → rhythm → extra
//! sounds → `flagged`.
//!
//! The pipeline is split in two so the trainer can reuse it: [`Analyzer::evidence`] computes
//! everything that does not depend on learned parameters (the slow part, done once per recording)
//! and [`Analyzer::conclude`] applies the models. [`Analyzer::analyze`] is both.
//!
//! Flagging policy (for the clinician): a recording is flagged for review only for a reason it can
//! show ([`FlagReason`]): a murmur is present, the rhythm is irregular, or it cannot be judged at
//! all (unusable, or unlike every recording the models were trained on: it must be retaken or
//! listened to, never silently passed). The learned review model's output is reported as
//! `abnormal_score`; it flags on its own only when the trainer found that it kept its
//! specificity on every left-out database (`Models::review_flags`).
//! Nothing here does I/O, and nothing panics on any input.

use std::sync::{Arc, OnceLock};

use crate::error::DspError;
use crate::features::{
    BandPowers, FIRST_HSMM_LR_FEATURE, FIRST_MFCC_FEATURE, Features, MFCC_FEATURES, PhaseMap,
    extract_features_and_map,
};
use crate::model::{
    Analysis, Cycle, EcgSetAside, EdgeSounds, EnsembleCycle, ExtraSound, FlagReason, MurmurFinding,
    MurmurStatus, Quality, Recording, Rhythm, UnknownReason,
};
use crate::murmur::{self, Models, PhaseDescription, Scores};
use crate::preprocess::{MAX_PCG_RATE, MIN_PCG_RATE, preprocess};
use crate::quality::{MIN_SQI, assess_cycles, check_raw, signal_quality};
use crate::units::{Bpm, Hz, Seconds};
use crate::{ensemble, rhythm, segment};

/// Everything measured about a recording before any learned model is applied.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Length of the PCG.
    pub duration: Seconds,
    /// The PCG's original rate.
    pub sample_rate: Hz,
    /// Whether segmentation was gated on the ECG.
    pub ecg_used: bool,
    /// Why an ECG given was not used.
    pub ecg_set_aside: Option<EcgSetAside>,
    /// Heart rate from segmentation or rhythm.
    pub heart_rate: Option<Bpm>,
    /// Rhythm over the accepted cycles.
    pub rhythm: Option<Rhythm>,
    /// All cycles, with quality and acceptance set.
    pub cycles: Vec<Cycle>,
    /// Heart sounds at the edges that belong to no whole cycle.
    pub edge_sounds: EdgeSounds,
    /// The ensemble average of the accepted cycles.
    pub ensemble: Option<EnsembleCycle>,
    /// Whole-recording quality (usable or why not).
    pub quality: Quality,
    /// The model inputs (`None` when the raw gate refused the recording).
    pub features: Option<Features>,
    /// How a murmur would be described in systole and in diastole.
    pub descriptions: [PhaseDescription; 2],
    /// Extra sounds found in the ensemble.
    pub extra_sounds: Vec<ExtraSound>,
    /// The softest murmur the recording could show against its heart sounds
    /// ([`PhaseMap::softest_murmur_rel`]; NaN when not measured).
    pub softest_murmur_rel: f32,
}

/// The analysis engine with its models and reusable buffers. One per thread; `Send`.
#[derive(Debug)]
pub struct Analyzer {
    /// Shared: the committed models are parsed once per process ([`builtin`]).
    models: Arc<Models>,
    powers: BandPowers,
    /// Whether to compute the per-phase MFCC features (see [`Analyzer::with_all_features`]).
    mfcc: bool,
    /// Whether to decode the murmur HSMMs for the likelihood-ratio features.
    likelihood: bool,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new()
    }
}

impl Analyzer {
    /// An analyzer with the committed models (`params/murmur.txt`), parsed once per process and
    /// shared by every analyzer: the file holds 1,500 trees, and the server makes an analyzer
    /// per analysis.
    pub fn new() -> Analyzer {
        let (models, mfcc, likelihood) = builtin();
        Analyzer {
            models: Arc::clone(models),
            powers: BandPowers::default(),
            mfcc: *mfcc,
            likelihood: *likelihood,
        }
    }

    /// An analyzer with the given models (the trainer uses this for held-out evaluation).
    pub fn with_models(models: Models) -> Analyzer {
        let (mfcc, likelihood) = reads_optional_features(&models);
        Analyzer {
            models: Arc::new(models),
            powers: BandPowers::default(),
            mfcc,
            likelihood,
        }
    }

    /// The same analyzer computing every feature, also those its models do not read (the
    /// per-phase MFCCs, the murmur likelihood ratio): what the trainer's experiments need.
    pub fn with_all_features(mut self) -> Analyzer {
        self.mfcc = true;
        self.likelihood = true;
        self
    }

    /// The models in use.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Analyses one recording.
    ///
    /// # Errors
    /// [`DspError::Empty`] or [`DspError::UnsupportedRate`] when the PCG cannot be processed at
    /// all. A recording that can be read but not judged is not an error: its murmur status is
    /// `Unknown` with the reason.
    pub fn analyze(&mut self, rec: &Recording<'_>) -> Result<Analysis, DspError> {
        let evidence = self.evidence(rec)?;
        Ok(self.conclude(evidence))
    }

    /// Computes the model-independent evidence for one recording (see [`Analyzer::analyze`]).
    ///
    /// # Errors
    /// As [`Analyzer::analyze`].
    pub fn evidence(&mut self, rec: &Recording<'_>) -> Result<Evidence, DspError> {
        let pcg = rec.pcg;
        let rate = pcg.rate;
        if !(rate.0.is_finite() && (MIN_PCG_RATE.0..=MAX_PCG_RATE.0).contains(&rate.0)) {
            return Err(DspError::UnsupportedRate(rate));
        }
        if pcg.samples.is_empty() {
            return Err(DspError::Empty);
        }
        let duration = Seconds(pcg.samples.len() as f64 / rate.0);
        let mut evidence = Evidence {
            duration,
            sample_rate: rate,
            ecg_used: false,
            ecg_set_aside: None,
            heart_rate: None,
            rhythm: None,
            cycles: Vec::new(),
            edge_sounds: EdgeSounds::default(),
            ensemble: None,
            quality: Quality {
                usable: true,
                sqi: 0.0,
                reason: None,
            },
            features: None,
            descriptions: [PhaseDescription::default(); 2],
            extra_sounds: Vec::new(),
            softest_murmur_rel: f32::NAN,
        };
        if let Some(reason) = check_raw(pcg.samples, rate) {
            evidence.quality.usable = false;
            evidence.quality.reason = Some(reason);
            return Ok(evidence);
        }
        let pre = preprocess(pcg)?;
        let sqi = signal_quality(&pre);
        let seg = if self.likelihood {
            segment::segment_with_likelihood(&pre, rec.ecg)
        } else {
            segment::segment(&pre, rec.ecg)
        };
        let mut cycles = seg.cycles;
        assess_cycles(&pre, &mut cycles);
        let ens = ensemble::ensemble_average(&pre, &cycles);
        let rhythm = rhythm::measure_rhythm(&cycles);
        self.powers.compute(&pre);
        let (mut features, map) = extract_features_and_map(
            &pre,
            &self.powers,
            &cycles,
            ens.as_ref(),
            rhythm.as_ref(),
            sqi,
            self.mfcc,
        );
        features.set_murmur_likelihood(seg.murmur_likelihood);
        evidence.descriptions = murmur::describe_phases(&cycles, ens.as_ref(), &self.powers);
        evidence.extra_sounds = ens.as_ref().map(murmur::extra_sounds).unwrap_or_default();
        evidence.quality.sqi = sqi;
        evidence.softest_murmur_rel = map.softest_murmur_rel();
        if let Some(reason) = unusable(sqi, &cycles, duration, &map) {
            evidence.quality.usable = false;
            evidence.quality.reason = Some(reason);
        }
        evidence.ecg_used = seg.ecg_used;
        evidence.ecg_set_aside = seg.ecg_set_aside;
        evidence.heart_rate = rhythm
            .as_ref()
            .map(|r| r.heart_rate)
            .or(seg.heart_rate)
            .filter(|b| b.0.is_finite() && b.0 > 0.0);
        evidence.rhythm = rhythm;
        evidence.cycles = cycles;
        evidence.edge_sounds = seg.edge_sounds;
        evidence.ensemble = ens;
        evidence.features = Some(features);
        Ok(evidence)
    }

    /// The model scores for judgeable evidence (`None` when the recording cannot be judged).
    pub fn scores(&self, evidence: &Evidence) -> Option<Scores> {
        if !evidence.quality.usable {
            return None;
        }
        evidence
            .features
            .as_ref()
            .map(|f| murmur::score(&self.models, f))
    }

    /// Applies the models to the evidence and decides what to tell the clinician.
    pub fn conclude(&self, evidence: Evidence) -> Analysis {
        let scores = self.scores(&evidence);
        let murmur = match (&scores, &evidence.features) {
            (Some(s), Some(f)) if s.ood_distance > 1.0 => {
                unlike_training_finding(nearest_distance(&self.models, f))
            }
            (Some(s), Some(f)) => murmur::finding(
                &self.models,
                s,
                f,
                &evidence.descriptions,
                evidence.softest_murmur_rel,
            ),
            _ => unknown_finding(&evidence.quality),
        };
        let mut flag_reasons = Vec::new();
        match murmur.status {
            MurmurStatus::Present => flag_reasons.push(FlagReason::Murmur),
            MurmurStatus::Unknown(_) => flag_reasons.push(FlagReason::CannotJudge),
            MurmurStatus::Absent => {}
        }
        // A rhythm read from sounds that cannot be judged (noise, breathing) is no evidence of
        // the heart's; one read from a gated ECG is.
        let rhythm_heard = evidence.quality.usable || evidence.ecg_used;
        if rhythm_heard && evidence.rhythm.as_ref().is_some_and(|r| r.irregular) {
            flag_reasons.push(FlagReason::IrregularRhythm);
        }
        let abnormal_score = scores.as_ref().map(|s| s.review as f32);
        if self.models.review_flags
            && scores
                .as_ref()
                .is_some_and(|s| s.review >= self.models.review.threshold)
        {
            flag_reasons.push(FlagReason::AbnormalScore);
        }
        Analysis {
            duration: evidence.duration,
            sample_rate: evidence.sample_rate,
            ecg_used: evidence.ecg_used,
            ecg_set_aside: evidence.ecg_set_aside,
            heart_rate: evidence.heart_rate,
            rhythm: evidence.rhythm,
            cycles: evidence.cycles,
            edge_sounds: evidence.edge_sounds,
            murmur,
            extra_sounds: evidence.extra_sounds,
            quality: evidence.quality,
            ensemble: evidence.ensemble,
            abnormal_score,
            flagged: !flag_reasons.is_empty(),
            flag_reasons,
        }
    }
}

/// How far (dB) each cycle's weaker heart sound must stand above the silence of the same cycle
/// ([`PhaseMap::weaker_sound_rise_db`]) for the cycles to be a heart's. Every recording of
/// `../shared/data` with two measurable cycles (1,371) but one stands at least 5.1 dB above it
/// (median 18 dB); that one, PhysioNet c0025, whose S2 a systolic murmur buries (4–5 dB under
/// it), 2.8 dB since its S2 is no longer taken from a lump of the murmur (tenth stop): the
/// reason names that case. A tapping segmented as cycles stood 1.3 dB, white and brown noise 2.5
/// and 3.3 dB.
pub const MIN_SOUND_RISE_DB: f32 = 3.0;

/// How far (dB) a recording's heart sounds must stand above the middle of their cycles in
/// 25–80 Hz ([`PhaseMap::sound_rise_db`], median over cycles) for them to be a heart's, over
/// [`MIN_CYCLES_FOR_DISTINCT_SOUNDS`] cycles or more. Every recording of `../shared/data` with
/// that many cycles in its phase map (1,243) stands at least 3.8 dB (PhysioNet c0008; median
/// 15 dB). With no heart under them, `auscult-synth`'s breathing stood 0.4–1.8 dB (each of four
/// called a grade 4–5 murmur before this check), its speech 0 dB (a grade 5 murmur), mixes of
/// breathing, rubbing, speech, knocks and white noise 2.2 and 2.5 dB ("murmur absent": no heart
/// was heard, yet the recording read as a healthy one). Twelfth stop; the known answers are in
/// `tests/artefacts_are_not_murmurs.rs`.
pub const MIN_LOW_SOUND_RISE_DB: f32 = 3.0;

/// The fewest cycles in the phase map for [`MIN_LOW_SOUND_RISE_DB`] to apply: over two cycles
/// the median is a single pair's (a two-cycle PASCAL murmur stands 3.2 dB).
pub const MIN_CYCLES_FOR_DISTINCT_SOUNDS: usize = 3;

/// The least share of a long recording ([`MIN_DURATION_FOR_CLEAN_SHARE`] or more) that its
/// accepted cycles must span for it to be judged ([`UnknownReason::LittleInCleanCycles`]).
/// Where a few "cycles" pass among stretches that could not be cut into clean ones, they may
/// be chance: of 12 `auscult-synth` recordings of speech-like bursts or rubbing with no heart
/// under them (20 s), 5 were judged before this check (a grade 1, 3 and 4 murmur, "murmur
/// absent" twice), their accepted cycles spanning 5–66 % of them; 2 are now (48 % and 66 %).
/// Of the 1,412 labelled recordings of `../shared/data`, every one of 6 s or more with an
/// accepted cycle has them spanning at least 50 % of it (PhysioNet a0047, 20 of 40 cycles
/// accepted; 1 % of them below 65 %), so none is affected.
pub const MIN_CLEAN_SHARE: f64 = 0.4;

/// The shortest recording whose [`MIN_CLEAN_SHARE`] is checked: in a shorter one the partial
/// cycles at its two ends (up to about 1.5 s each at 40 bpm) weigh too much.
pub const MIN_DURATION_FOR_CLEAN_SHARE: Seconds = Seconds(6.0);

/// The [`PhaseMap`] band of [`MIN_LOW_SOUND_RISE_DB`]: 25–80 Hz, where heart sounds carry most
/// of their power.
const LOW_MAP_BAND: usize = 1;

/// Why a preprocessed and segmented recording cannot be judged, if it cannot: too noisy; no
/// cycle found in a long, barely periodic recording; cycles found but none accepted; accepted
/// cycles that span little of a long recording ([`MIN_CLEAN_SHARE`]); or cycles
/// that hold one sound each, not an S1 and an S2 (the weaker stands less than
/// [`MIN_SOUND_RISE_DB`] above the cycle's silence, [`PhaseMap::weaker_sound_rise_db`]: a
/// tapping, a knock or a pulse); or "sounds" that do not stand out from their cycles in 25–80
/// Hz ([`MIN_LOW_SOUND_RISE_DB`]: breathing or noise cut into cycles).
fn unusable(
    sqi: f32,
    cycles: &[Cycle],
    duration: Seconds,
    map: &PhaseMap,
) -> Option<UnknownReason> {
    let accepted = cycles.iter().filter(|c| c.accepted).count();
    if sqi < MIN_SQI {
        return Some(if accepted == 0 && sqi <= 0.0 {
            UnknownReason::NoHeartSounds
        } else {
            UnknownReason::TooNoisy { sqi }
        });
    }
    // A long recording in which not one cycle was found and the envelope is barely periodic
    // holds no heart sounds that could be judged; nor does one whose every cycle was rejected.
    if (cycles.is_empty() && duration.0 >= 4.0 && sqi < 2.0 * MIN_SQI)
        || (accepted == 0 && !cycles.is_empty())
    {
        return Some(UnknownReason::TooFewCycles { accepted });
    }
    if duration.0 >= MIN_DURATION_FOR_CLEAN_SHARE.0 {
        let spanned: f64 = cycles
            .iter()
            .filter(|c| c.accepted)
            .map(|c| (c.end.0 - c.s1.start.0).max(0.0))
            .sum();
        let share = spanned / duration.0;
        if share < MIN_CLEAN_SHARE {
            return Some(UnknownReason::LittleInCleanCycles {
                share: share as f32,
            });
        }
    }
    if map.cycles() < 2 {
        return None;
    }
    let rise_db = map.weaker_sound_rise_db();
    if rise_db < MIN_SOUND_RISE_DB {
        return Some(UnknownReason::OneSoundPerCycle { rise_db });
    }
    let low_rise_db = map.sound_rise_db(LOW_MAP_BAND);
    (map.cycles() >= MIN_CYCLES_FOR_DISTINCT_SOUNDS && low_rise_db < MIN_LOW_SOUND_RISE_DB)
        .then_some(UnknownReason::IndistinctSounds {
            rise_db: low_rise_db,
        })
}

/// The committed models, parsed on first use, and whether they read the per-phase MFCCs and the
/// murmur likelihood ratio. The committed file is checked by a unit test; should it ever fail to
/// parse, the hand-set rule model stands in rather than a panic.
fn builtin() -> &'static (Arc<Models>, bool, bool) {
    static BUILTIN: OnceLock<(Arc<Models>, bool, bool)> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let models = Models::builtin().unwrap_or_else(|_| Models::hand_set());
        let (mfcc, likelihood) = reads_optional_features(&models);
        (Arc::new(models), mfcc, likelihood)
    })
}

/// Whether `models` read the per-phase MFCCs, and the murmur likelihood ratio (features that are
/// computed only when read).
fn reads_optional_features(models: &Models) -> (bool, bool) {
    let mfcc = (FIRST_MFCC_FEATURE..FIRST_MFCC_FEATURE + 2 * MFCC_FEATURES)
        .any(|i| models.reads_feature(i));
    let likelihood =
        (FIRST_HSMM_LR_FEATURE..FIRST_HSMM_LR_FEATURE + 2).any(|i| models.reads_feature(i));
    (mfcc, likelihood)
}

/// The distance to the nearest out-of-distribution component.
fn nearest_distance(models: &Models, f: &crate::features::Features) -> f64 {
    models
        .ood
        .iter()
        .map(|o| o.distance(f))
        .fold(f64::INFINITY, f64::min)
}

/// The finding for a recording whose evidence is unlike the training recordings'.
fn unlike_training_finding(distance: f64) -> MurmurFinding {
    MurmurFinding::undescribed(
        MurmurStatus::Unknown(UnknownReason::UnlikeTraining {
            distance: distance as f32,
        }),
        0.0,
    )
}

/// The finding for a recording that cannot be judged.
fn unknown_finding(q: &Quality) -> MurmurFinding {
    MurmurFinding::undescribed(
        MurmurStatus::Unknown(
            q.reason
                .clone()
                .unwrap_or(UnknownReason::TooNoisy { sqi: q.sqi }),
        ),
        1.0 - q.sqi.clamp(0.0, 1.0),
    )
}

/// Analyses one recording with a fresh [`Analyzer`] (convenient; reuse an `Analyzer` in loops).
///
/// # Errors
/// As [`Analyzer::analyze`].
pub fn analyze(rec: &Recording<'_>) -> Result<Analysis, DspError> {
    Analyzer::new().analyze(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cycle of `length` seconds from `start`, its S1 and S2 where a heart's would be.
    fn cycle_at(start: f64, length: f64, accepted: bool) -> Cycle {
        let at = |t: f64| Seconds(start + t);
        Cycle {
            r_peak: None,
            s1: crate::model::Interval {
                start: at(0.0),
                end: at(0.1),
            },
            s2: crate::model::Interval {
                start: at(0.35),
                end: at(0.45),
            },
            end: at(length),
            quality: 0.9,
            accepted,
        }
    }

    /// Evidence with cycles (accepted or not) filling 8 s but no measurable phase: every
    /// feature NaN.
    fn unmeasurable(accepted: bool) -> Evidence {
        let at = |t: f64| Seconds(t);
        Evidence {
            duration: at(8.0),
            sample_rate: Hz(2000.0),
            ecg_used: false,
            ecg_set_aside: None,
            heart_rate: None,
            rhythm: None,
            cycles: (0..8)
                .map(|k| cycle_at(f64::from(k), 1.0, accepted))
                .collect(),
            edge_sounds: EdgeSounds::default(),
            ensemble: None,
            quality: Quality {
                usable: true,
                sqi: 0.8,
                reason: None,
            },
            features: Some(Features {
                values: [f32::NAN; crate::features::NUM_FEATURES],
            }),
            descriptions: Default::default(),
            extra_sounds: Vec::new(),
            softest_murmur_rel: f32::NAN,
        }
    }

    #[test]
    fn no_measurable_cycle_is_cannot_judge_and_says_which() {
        let mut models = Models::hand_set();
        models.min_repeat = 0.7;
        let analyzer = Analyzer::with_models(models);
        let a = analyzer.conclude(unmeasurable(true));
        assert_eq!(
            a.murmur.status,
            MurmurStatus::Unknown(UnknownReason::NoMeasurableCycle)
        );
        assert!(a.flagged && a.flag_reasons.contains(&FlagReason::CannotJudge));
    }

    #[test]
    fn cycles_none_of_them_accepted_cannot_be_judged() {
        let ev = unmeasurable(false);
        let map = PhaseMap::default();
        assert_eq!(
            unusable(0.8, &ev.cycles, ev.duration, &map),
            Some(UnknownReason::TooFewCycles { accepted: 0 })
        );
        let ev = unmeasurable(true);
        assert_eq!(unusable(0.8, &ev.cycles, ev.duration, &map), None);
        assert_eq!(
            unusable(0.1, &ev.cycles, ev.duration, &map),
            Some(UnknownReason::TooNoisy { sqi: 0.1 })
        );
    }

    #[test]
    fn accepted_cycles_spanning_little_of_a_long_recording_cannot_be_judged() {
        let map = PhaseMap::default();
        // 20 cycles of 1 s, one in four accepted: 25 % of 20 s.
        let cycles: Vec<Cycle> = (0..20)
            .map(|k| cycle_at(f64::from(k), 1.0, k % 4 == 0))
            .collect();
        assert_eq!(
            unusable(0.8, &cycles, Seconds(20.0), &map),
            Some(UnknownReason::LittleInCleanCycles { share: 0.25 })
        );
        // One in two: 50 %, judged (no real recording of 6 s or more spans less).
        let half: Vec<Cycle> = (0..20)
            .map(|k| cycle_at(f64::from(k), 1.0, k % 2 == 0))
            .collect();
        assert_eq!(unusable(0.8, &half, Seconds(20.0), &map), None);
        // Under 6 s the partial cycles at the ends weigh too much to ask it.
        let short: Vec<Cycle> = (0..5)
            .map(|k| cycle_at(f64::from(k), 1.0, k == 0))
            .collect();
        assert_eq!(unusable(0.8, &short, Seconds(5.5), &map), None);
        assert_eq!(
            unusable(0.8, &short, Seconds(6.0), &map),
            Some(UnknownReason::LittleInCleanCycles {
                share: (1.0 / 6.0) as f32
            })
        );
    }

    #[test]
    fn analyzer_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Analyzer>();
    }

    #[test]
    fn analyzers_share_the_committed_models_parsed_once() {
        let (a, b) = (Analyzer::new(), Analyzer::default());
        assert!(
            std::ptr::eq(a.models(), b.models()),
            "parsed once per process"
        );
        assert_eq!(
            *a.models(),
            Models::builtin().expect("the committed file parses")
        );
        let own = Analyzer::with_models(Models::hand_set());
        assert!(!std::ptr::eq(a.models(), own.models()));
        assert_eq!(*own.models(), Models::hand_set());
    }
}

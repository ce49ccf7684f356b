//! Heart-sound segmentation: places S1, systole, S2 and diastole in a preprocessed PCG.
//!
//! One decoder serves both cases. A duration-constrained HSMM (Springer et al. 2016) runs over
//! 50 Hz features with a logistic-regression emission model. Without an ECG the state durations come
//! from the heart rate and systolic interval of the envelope autocorrelation. With an ECG (raw lead
//! or device R-peak times) the R peaks propose where each S1 may begin (S1 onset ≈ R peak) and the
//! PCG decides exactly where S1 and S2 lie within those windows, so irregular rhythms are followed
//! beat by beat.
//!
//! Never panics on any input; a recording too short or silent to segment gives no cycles.

pub mod emission;
pub mod features;
pub mod hsmm;

use crate::ecg::{detect_beats, heart_rate_from_r_peaks, qs2_interval};
use crate::ensemble::median;
use crate::heart_rate;
use crate::model::{
    Cycle, EcgInput, EcgSetAside, EdgeSounds, Interval, MurmurLikelihood, Preprocessed,
    Segmentation,
};
use crate::units::{Bpm, Hz, Seconds};

use emission::EmissionModel;
use features::FRAME_RATE;
use hsmm::{Duration, SegmentScore, Span, State, viterbi_scored};

/// Mean S1 duration (PhysioNet 2016 labels: 0.13 s).
const S1_MEAN: f64 = 0.13;
/// Standard deviation of S1 duration.
const S1_SD: f64 = 0.022;
/// Mean S2 duration (PhysioNet 2016 labels: 0.10 s).
const S2_MEAN: f64 = 0.10;
/// Standard deviation of S2 duration.
const S2_SD: f64 = 0.022;
/// The shortest part of a heart sound cut by the recording's edge that is reported (the shortest
/// whole S1 the duration model allows).
const MIN_CUT_SOUND: f64 = 0.04;
/// Heart rate assumed when it cannot be measured.
const DEFAULT_HR: Bpm = Bpm(75.0);

/// How far (seconds) an R peak may lie from its cycle's S1 onset.
const R_WINDOW: f64 = 0.1;
/// Spread (seconds) of the pull of an R peak on the S1 onset.
const R_SPREAD: f64 = 0.06;
/// Median delay from the T-wave end to the labelled S2 centre (PhysioNet 2016), and its spread.
const T_END_TO_S2: f64 = 0.075;
const T_END_SPREAD: f64 = 0.08;
/// Log-score bonus for an S1 that starts at an R peak.
const R_BONUS: f32 = 6.0;
/// Default [`Gating::min_systole_ratio`]: 70 % of Weissler's systolic interval, several
/// standard deviations below it (PhysioNet c0015 and c0025 decoded a 0.18–0.20 s systole at
/// 71–77 bpm, where 0.33–0.36 s is expected and 0.30–0.33 s is labelled).
const MIN_SYSTOLE_RATIO: f64 = 0.7;

/// Default [`Gating::irregular_spread`]: measured 2-fold held out on PhysioNet from the sound
/// alone, 0.1 decodes training-b/c/d at F1 0.951 (0.949 without; c0021, atrial fibrillation,
/// 62 → 6 errors) and training-a at 0.980 (0.974); 0.07, 0.15 and 0.2 less (RESULTS.md).
const IRREGULAR_SPREAD: f64 = 0.1;

/// Default [`Gating::irregular_double_rate`] (bpm): measured 2-fold held out on PhysioNet from
/// the sound alone, training-b/c/d 0.951 → 0.955 (c0019, atrial fibrillation at 109 bpm decoded
/// at 55, 185 → 87 errors; no record worse), the same at 160 and 240 (RESULTS.md).
const IRREGULAR_DOUBLE_RATE: f64 = 200.0;

/// Default [`Gating::half_rate_from`] (bpm). On `auscult-synth` mixtures at 0 dB with recorded
/// noises, 5 of 84 were read at 97–118 bpm from the sound alone against 60–69; decoded at half
/// the rate too, all 5 took the right one. On PhysioNet 2-fold from the sound alone training-a
/// 0.980 → 0.981 (a0047 42 → 4 errors), training-b/c/d unchanged; 100 gives the same
/// (RESULTS.md, sixth stop).
const HALF_RATE_FROM: f64 = 90.0;

/// The least share of the beats a lead's own median RR interval implies over the recording that
/// its R peaks must give for the segmentation to be gated on them. A synthetic heart at 170 bpm
/// gave 6 R peaks of 57 (the detector's clearance test read the energy between such close
/// complexes as a noisy lead) and was gated on them: S1/S2 F1 0.92–0.94 against 1.0 from the
/// sound alone. The detector now reads such a lead again as a fast heart (`ecg`'s second
/// reading) and finds its beats; this guard stays for any lead that still gives few. On
/// PhysioNet training-a, 2-fold, nothing changes at 0.2 or 0.3; 0.5 moves three records (a0047
/// 0 → 4 errors, a0062 1 → 7, a0113 8 → 0).
const LEAD_COVERAGE: f64 = 0.3;

/// How far (seconds) before and after an R peak the S1 onset of a lead the sound follows lies
/// (the electromechanical delay puts it up to about 0.17 s after on PhysioNet training-a).
const FOLLOW_BEFORE: f64 = 0.1;
const FOLLOW_AFTER: f64 = 0.2;

/// The least share of a lead's R peaks ([`sound_follows`]) the gated decoding must give an S1
/// for the lead to be used. On PhysioNet training-a the real leads gated give 0.79 and more,
/// except two whose detector read T waves or noise as beats: a0023 (0.61: 38 "R peaks" at 45
/// bpm, S1s pulled to 2 of the T waves) and a0090 (0.53: 20 peaks, most between the beats).
const FOLLOWED_SHARE: f64 = 0.7;

/// How many times more, relative to their median, a lead's RR intervals must spread than the
/// decoded S1-to-S1 intervals for a lead the sound does not follow ([`FOLLOWED_SHARE`]) to be set
/// aside. Electrode pops spread 0.43–0.62 against the sound's 0.02 (8 synthetic seeds); a0023
/// 0.57 against 0.09 and a0090 1.05 against 0.10; PhysioNet a0131's steady lead under 0 dB
/// noise bursts in the sound (followed by 0.70 of its peaks) 0.025 against 0.106, kept.
const LEAD_SPREAD_RATIO: f64 = 2.0;

/// The median QRS template correlation ([`crate::ecg::Beats::quality`]) from which a lead's heart
/// rate is trusted over the sound's when the two disagree.
const CLEAN_LEAD: f32 = 0.9;
/// See [`Gating::weak_s2_db`].
const WEAK_S2_DB: f64 = 1.0;
/// See [`Gating::weak_s2_systole_sd`].
const WEAK_S2_SYSTOLE_SD: f64 = 0.01;

/// Segments a preprocessed PCG, gated on the ECG when one is given and carries beats, with the
/// compiled-in emission model.
pub fn segment(pre: &Preprocessed, ecg: Option<EcgInput<'_>>) -> Segmentation {
    segment_with(
        EmissionModel::builtin(),
        &Gating::default(),
        pre,
        ecg,
        false,
    )
}

/// As [`segment`], and also decodes the recording with the two murmur HSMMs for its
/// [`MurmurLikelihood`] (two more decodes: about 0.4 ms for 30 s, see the README's Benchmarks).
pub fn segment_with_likelihood(pre: &Preprocessed, ecg: Option<EcgInput<'_>>) -> Segmentation {
    segment_with(EmissionModel::builtin(), &Gating::default(), pre, ecg, true)
}

/// A segmenter with its own emission model (for evaluating trained parameters before they are
/// compiled in).
#[derive(Debug, Clone)]
pub struct Segmenter {
    model: EmissionModel,
    gating: Gating,
}

/// How strongly R peaks pull S1 onsets to them.
#[derive(Debug, Clone, PartialEq)]
pub struct Gating {
    /// Log-score bonus for an S1 starting exactly at an R peak.
    pub r_bonus: f32,
    /// Spread (seconds) of the bonus around the R peak.
    pub r_spread: f64,
    /// How much of the ECG's RR variability widens the diastole duration model.
    pub rr_sd_scale: f64,
    /// Standard deviation (seconds) of the systole duration model.
    pub systole_sd: f64,
    /// Alternative systolic intervals (seconds) tried besides the autocorrelation's.
    pub systole_grid: Vec<f64>,
    /// Log-score head start of the autocorrelation's systolic interval over the alternatives.
    pub estimate_bonus: f32,
    /// Weight of the pull of S2 centres towards T-wave end + 75 ms (raw ECG only; 0 disables).
    pub t_end_weight: f64,
    /// Shortest systolic interval (S1 onset to S2 onset) tried, as a share of the one a heart
    /// has at the recording's rate (Weissler's Q–S2 less 30 ms): shorter candidates are split
    /// sounds or a murmur's peak, not an S2 (0 tries every candidate).
    pub min_systole_ratio: f64,
    /// From the sound alone, decode again with diastole widened by the first decoding's own
    /// S1-to-S1 spread when that spread exceeds this share of its median interval (an irregular
    /// rhythm), and keep the likelier decoding (0 never does).
    pub irregular_spread: f64,
    /// Then also decode at twice the sound's heart rate when that is at most this many beats
    /// per minute (0 never does): an irregular rhythm's envelope can repeat best over two beats.
    pub irregular_double_rate: f64,
    /// From the sound alone, a rate estimate at least this (bpm) is also decoded at half the
    /// rate, the likelier kept ([`HALF_RATE_FROM`]); infinite turns it off.
    pub half_rate_from: f64,
    /// Where the decoded S2s stand less than this (dB) above the systoles before them
    /// ([`s2_over_systole_db`]), decode again with systole held to [`Gating::weak_s2_systole_sd`]
    /// (negative infinity never does).
    pub weak_s2_db: f64,
    /// The systole duration model's standard deviation (seconds) for such a recording.
    pub weak_s2_systole_sd: f64,
}

impl Default for Gating {
    fn default() -> Self {
        Gating {
            r_bonus: R_BONUS,
            r_spread: R_SPREAD,
            rr_sd_scale: 1.0,
            systole_sd: 0.025,
            systole_grid: vec![0.24, 0.28, 0.32, 0.36, 0.4],
            estimate_bonus: 2.0,
            t_end_weight: 2.0,
            min_systole_ratio: MIN_SYSTOLE_RATIO,
            irregular_spread: IRREGULAR_SPREAD,
            irregular_double_rate: IRREGULAR_DOUBLE_RATE,
            half_rate_from: HALF_RATE_FROM,
            weak_s2_db: WEAK_S2_DB,
            weak_s2_systole_sd: WEAK_S2_SYSTOLE_SD,
        }
    }
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter {
            model: EmissionModel::builtin().clone(),
            gating: Gating::default(),
        }
    }
}

impl Segmenter {
    /// A segmenter using `model`.
    pub fn new(model: EmissionModel, gating: Gating) -> Self {
        Segmenter { model, gating }
    }

    /// As [`segment`], with this segmenter's model.
    pub fn segment(&self, pre: &Preprocessed, ecg: Option<EcgInput<'_>>) -> Segmentation {
        segment_with(&self.model, &self.gating, pre, ecg, false)
    }
}

fn segment_with(
    model: &EmissionModel,
    gate: &Gating,
    pre: &Preprocessed,
    ecg: Option<EcgInput<'_>>,
    likelihood: bool,
) -> Segmentation {
    let in_range = |t: &Seconds| t.0 >= 0.0 && t.0 <= pre.duration.0;
    // R peaks, T-wave ends, and whether the lead's beats look alike (R-peak times given by a
    // device are taken as alike).
    let (r_peaks, t_ends, alike): (Vec<Seconds>, Vec<Seconds>, bool) = match ecg {
        Some(EcgInput::Raw(sig)) => {
            let beats = detect_beats(sig);
            let t_ends = beats.t_wave_ends.iter().flatten().copied().collect();
            let alike = beats.quality() >= CLEAN_LEAD;
            (beats.r_peaks, t_ends, alike)
        }
        Some(EcgInput::RPeaks(p)) => (clean_peaks(p), Vec::new(), true),
        None => (Vec::new(), Vec::new(), false),
    };
    let r_peaks: Vec<Seconds> = r_peaks.into_iter().filter(in_range).collect();
    let median_rr = crate::ecg::median_rr(&r_peaks);
    let steady = steady_beats(&r_peaks, median_rr);
    // Gate only on a lead whose beats keep a rate: a few scattered "peaks" in a long recording
    // are noise that would pull S1s to where there are none (segmented from the sound alone).
    // Nor on a lead that gives a small share of the beats its own rate implies: gating on a few
    // beats in a row here and there drops the others.
    let covers = median_rr
        .is_some_and(|m| crate::ecg::coverage(r_peaks.len(), m, pre.duration) >= LEAD_COVERAGE);
    let set_aside = if ecg.is_none() {
        None
    } else if r_peaks.len() < 2 {
        Some(EcgSetAside::NoBeats)
    } else if steady < (r_peaks.len() - 1).min(3) {
        Some(EcgSetAside::Unsteady)
    } else if !covers {
        Some(EcgSetAside::FewBeats)
    } else {
        None
    };
    let gated = ecg.is_some() && set_aside.is_none();
    let clean_lead = alike && steady >= 5;
    // Expected S2 centres from the T-wave ends (raw leads only).
    let mut s2_expected: Vec<f64> = if gated && gate.t_end_weight > 0.0 {
        t_ends.iter().map(|t| t.0 + T_END_TO_S2).collect()
    } else {
        Vec::new()
    };
    s2_expected.sort_by(f64::total_cmp);

    let frames = features::frames(pre);
    let pcg_estimate = heart_rate::estimate(&pre.envelope, pre.rate);
    let ecg_hr = heart_rate_from_r_peaks(&r_peaks).filter(|_| gated);
    let default_sys = |hr: Bpm| Seconds(qs2_interval(hr).0 - 0.03);
    let (hr, sys) = match (pcg_estimate, ecg_hr) {
        (Some((h, s)), Some(e)) if (h.0 / e.0 - 1.0).abs() < 0.15 => (e, s),
        // The sound's rate is often a split sound or half a cycle; a clean lead's is not.
        (Some(_), Some(e)) if clean_lead => (e, default_sys(e)),
        (Some(est), _) => est,
        (None, Some(e)) => (e, default_sys(e)),
        (None, None) => (DEFAULT_HR, default_sys(DEFAULT_HR)),
    };
    let rr_sd = if gated { rr_spread(&r_peaks) } else { 0.0 };

    let emission: Vec<[f32; 4]> = frames.iter().map(|f| model.log_emission(f)).collect();
    let starts: Vec<f64> = r_peaks.iter().map(|r| r.0).collect();
    // Per frame, the bonus for an S1 starting there.
    let s1_bonus: Vec<f32> = (0..emission.len())
        .map(|t| {
            if !gated {
                return 0.0;
            }
            let z = nearest_gap(&starts, t as f64 / FRAME_RATE) / gate.r_spread;
            if z > 4.0 {
                0.0
            } else {
                gate.r_bonus * (-0.5 * z * z).exp() as f32
            }
        })
        .collect();
    // Per half frame, the log prior of an S2 centred there.
    let s2_prior: Vec<f32> = if s2_expected.is_empty() {
        Vec::new()
    } else {
        (0..=2 * emission.len())
            .map(|h| {
                let centre = h as f64 / (2.0 * FRAME_RATE);
                let z = (nearest_gap(&s2_expected, centre) / T_END_SPREAD).min(3.0);
                -(gate.t_end_weight * 0.5 * z * z) as f32
            })
            .collect()
    };
    let r_score = [
        SegmentScore {
            table: &s1_bonus,
            plus_end: false,
        },
        SegmentScore::NONE,
        SegmentScore {
            table: &s2_prior,
            plus_end: true,
        },
        SegmentScore::NONE,
    ];
    // The systolic interval from the autocorrelation is sometimes a split sound or a murmur's
    // peak: decode with it and with a few alternatives, keep the most likely decoding.
    let mut candidates = vec![sys.0];
    candidates.extend(gate.systole_grid.iter().copied());
    // One decoding with the durations of a heart at `rate` with this systolic interval and
    // diastole widened by `extra_sd` seconds.
    let decode_sd = |rate: Bpm, systole: f64, extra_sd: f64, systole_sd: f64| {
        let durations = duration_model(rate, Seconds(systole), systole_sd, extra_sd);
        let (spans, raw) = viterbi_scored(&emission, &durations, &r_score);
        Decoding {
            spans,
            ranked: raw,
            durations,
            score: raw,
            systole,
            rate,
            extra_sd,
        }
    };
    let decode = |rate: Bpm, systole: f64, extra_sd: f64| {
        decode_sd(rate, systole, extra_sd, gate.systole_sd)
    };
    let mut best: Option<Decoding> = None;
    // No systole far shorter than a heart at this rate has (unless nothing else is offered).
    let shortest = gate.min_systole_ratio * default_sys(hr).0;
    let any_long_enough = candidates.iter().any(|&c| c >= shortest);
    for (k, &cand) in candidates.iter().enumerate() {
        if (k > 0 && (cand - sys.0).abs() < 0.02) || (any_long_enough && cand < shortest) {
            continue;
        }
        let mut d = decode(hr, cand, rr_sd * gate.rr_sd_scale);
        if k == 0 {
            d.ranked += gate.estimate_bonus;
        }
        if best.as_ref().is_none_or(|b| d.ranked > b.ranked) {
            best = Some(d);
        }
    }
    // From the sound alone a fast rate can be twice the heart's: under noise the S1-to-S2 and
    // S2-to-S1 lags of the envelope merge into one peak at about half the cycle, or a half of
    // the cycle's peak stands nearly as high. Decode at half the rate too (with the duration
    // model of a heart at that rate) and keep the likelier.
    if !gated && hr.0 >= gate.half_rate_from {
        let half = Bpm(hr.0 / 2.0);
        let d = decode(half, default_sys(half).0, 0.0);
        if best.as_ref().is_none_or(|b| d.score > b.score) {
            best = Some(d);
        }
    }
    // From the sound alone one duration model serves every beat, and an irregular rhythm's
    // long and short beats fall outside it: decode again with diastole as wide as the first
    // decoding's own beats spread (the ECG path widens it by the RR intervals'). Its envelope
    // can also repeat best over two beats, so the sound's rate can be half the heart's
    // (PhysioNet c0019, atrial fibrillation: 55 against 109 bpm): decode at twice the rate too,
    // diastole as wide. The likeliest is kept. (Three and four times the rate were measured
    // too: they took c0019 from the right decoding, RESULTS.md.)
    if !gated
        && gate.irregular_spread > 0.0
        && let Some(first) = best.as_ref()
        && let Some(spread) = s1_spread(&first.spans, gate.irregular_spread)
    {
        let wide = spread * gate.rr_sd_scale;
        let twice = Bpm(hr.0 * 2.0);
        let mut tries = vec![decode(hr, first.systole, wide)];
        if twice.0 <= gate.irregular_double_rate {
            tries.push(decode(twice, default_sys(twice).0, wide));
        }
        for d in tries {
            if best.as_ref().is_none_or(|b| d.score > b.score) {
                best = Some(d);
            }
        }
    }
    let mut cycles = best.as_ref().map_or_else(Vec::new, |b| {
        cycles_from_spans(&b.spans, pre.duration, gated.then_some(&r_peaks[..]))
    });
    // The R-peak pull is soft: where the lead's "beats" are not the heart's (T waves read as R
    // waves, electrode pops) the sound keeps its own cycles and leaves the extra peaks without
    // an S1, or an extra S1 is pulled to one. Such a lead is not used.
    if gated && !sound_follows(&r_peaks, &cycles) {
        return Segmentation {
            ecg_set_aside: Some(EcgSetAside::NotFollowed),
            ..segment_with(model, gate, pre, None, likelihood)
        };
    }
    // From the sound alone, a loud systolic murmur over a soft S2 (PhysioNet c0015, c0025) lets
    // the decoder take a lump of the murmur for S2, early in some beats and not in others: where
    // the decoded S2s hardly stand above their systoles, hold every beat to the one systolic
    // interval chosen (the same rate and diastole, a narrower systole). A gated lead's T-wave
    // ends place S2 already.
    if !gated
        && let Some(first) = best.as_ref()
        && gate.systole_sd > gate.weak_s2_systole_sd
        && s2_over_systole_db(&pre.pcg, pre.rate, &cycles).is_some_and(|db| db < gate.weak_s2_db)
    {
        let chosen = decode_sd(
            first.rate,
            first.systole,
            first.extra_sd,
            gate.weak_s2_systole_sd,
        );
        cycles = cycles_from_spans(&chosen.spans, pre.duration, None);
        best = Some(chosen);
    }
    let murmur_likelihood = best
        .as_ref()
        .filter(|_| likelihood)
        .and_then(|b| murmur_likelihood(&emission, &b.durations, &r_score, b.score));
    let decoded_rate = best.as_ref().map(|b| b.rate).filter(|r| r.0 != hr.0);
    let spans = best.map(|b| b.spans).unwrap_or_default();
    // Only beside whole cycles: where none was found (silence, noise) the decoder's spans are no
    // heart sounds.
    let edge_sounds = if cycles.is_empty() {
        EdgeSounds::default()
    } else {
        edge_sounds(&spans, emission.len(), pre.duration)
    };
    let heart_rate = if gated {
        ecg_hr
    } else if let Some(rate) = decoded_rate {
        // The sound's rate was half or twice the heart's: the decoded beats tell it.
        cycle_rate(&cycles).or(Some(rate))
    } else {
        pcg_estimate.map(|(h, _)| h).or_else(|| cycle_rate(&cycles))
    };
    Segmentation {
        cycles,
        heart_rate,
        ecg_used: gated,
        ecg_set_aside: set_aside,
        r_peaks: if gated { r_peaks } else { Vec::new() },
        edge_sounds,
        murmur_likelihood,
    }
}

/// The [`MurmurLikelihood`] of a recording whose healthy decoding with `durations` scored
/// `healthy`: its frames decoded by the murmur HSMMs with the same durations and ECG scores. A murmur state's emission is that of a
/// heart sound (the mean of the S1 and S2 likelihoods: a murmur is sound where the healthy heart
/// is silent), so no murmur-labelled frames are needed to train it. `None` without frames or
/// when no path is allowed.
fn murmur_likelihood(
    emission: &[[f32; 4]],
    durations: &[Duration; 4],
    r_score: &[SegmentScore<'_>; 4],
    healthy: f32,
) -> Option<MurmurLikelihood> {
    let n = emission.len();
    if n == 0 || !healthy.is_finite() {
        return None;
    }
    let filled = |phase: State| {
        let e: Vec<[f32; 4]> = emission
            .iter()
            .map(|e| {
                let mut m = *e;
                m[phase as usize] = sound_like(e);
                m
            })
            .collect();
        let (_, score) = viterbi_scored(&e, durations, r_score);
        // Scores are sums over the recording in f32; the difference per frame.
        let lr = ((score as f64 - healthy as f64) / n as f64) as f32;
        if lr.is_finite() { lr } else { f32::NAN }
    };
    Some(MurmurLikelihood {
        systolic: filled(State::Systole),
        diastolic: filled(State::Diastole),
    })
}

/// The log-likelihood of a frame under "a heart sound" (the mean of the S1 and S2 likelihoods).
fn sound_like(e: &[f32; 4]) -> f32 {
    let (a, b) = (e[State::S1 as usize], e[State::S2 as usize]);
    let hi = a.max(b);
    if !hi.is_finite() {
        return hi;
    }
    hi + ((a - hi).exp() + (b - hi).exp()).ln() - std::f32::consts::LN_2
}

/// How many RR intervals lie within 20 % of the median one, `median_rr` (0 when it is no heart
/// rate): a lead that gave a few beats in a long recording has missed the others.
fn steady_beats(r_peaks: &[Seconds], median_rr: Option<Seconds>) -> usize {
    let Some(median) = median_rr else {
        return 0;
    };
    if !(0.25..=2.0).contains(&median.0) {
        return 0;
    }
    r_peaks
        .windows(2)
        .filter(|w| ((w[1].0 - w[0].0) / median.0 - 1.0).abs() <= 0.2)
        .count()
}

/// Whether the decoded `cycles` follow the lead of `r_peaks`. They do not when fewer than
/// [`FOLLOWED_SHARE`] of its R peaks (those from just before the first cycle's S1 onset to just
/// after the last one's) have an S1 onset from [`FOLLOW_BEFORE`] before to [`FOLLOW_AFTER`]
/// after them, and its RR intervals also spread more than [`LEAD_SPREAD_RATIO`] times as much,
/// relative to their median, as the S1-to-S1 intervals: where loud noise in the sound draws S1s
/// away from a steady lead's beats, the lead is the better witness.
fn sound_follows(r_peaks: &[Seconds], cycles: &[Cycle]) -> bool {
    let onsets: Vec<Seconds> = cycles.iter().map(|c| c.s1.start).collect();
    let (Some(first), Some(last)) = (onsets.first(), onsets.last()) else {
        return true;
    };
    let inside: Vec<f64> = r_peaks
        .iter()
        .map(|r| r.0)
        .filter(|r| (first.0 - FOLLOW_AFTER..=last.0 + FOLLOW_BEFORE).contains(r))
        .collect();
    let followed = inside
        .iter()
        .filter(|&&r| {
            let i = onsets.partition_point(|o| o.0 < r - FOLLOW_BEFORE);
            onsets.get(i).is_some_and(|o| o.0 <= r + FOLLOW_AFTER)
        })
        .count();
    if inside.is_empty() || followed as f64 >= FOLLOWED_SHARE * inside.len() as f64 {
        return true;
    }
    let relative = |t: &[Seconds]| spread_and_median(t).map(|(spread, median)| spread / median);
    match (relative(r_peaks), relative(&onsets)) {
        (Some(lead), Some(sound)) => lead <= LEAD_SPREAD_RATIO * sound,
        _ => true,
    }
}

/// The robust spread ([`spread_of`]) of the intervals between successive `times` and their
/// median; `None` for fewer than four intervals or a median of zero.
fn spread_and_median(times: &[Seconds]) -> Option<(f64, f64)> {
    let rr = sorted_intervals(times);
    let median = *rr.get(rr.len() / 2)?;
    (rr.len() >= 4 && median > 0.0).then(|| (spread_of(&rr), median))
}

/// How far (dB) the decoded S2s stand above the systoles before them: the median over whole
/// cycles of the mean power of `pcg` in S2 against that between S1's end and S2's onset; `None`
/// for fewer than three cycles.
fn s2_over_systole_db(pcg: &[f32], rate: Hz, cycles: &[Cycle]) -> Option<f64> {
    let power = |a: Seconds, b: Seconds| {
        let i0 = ((a.0 * rate.0).max(0.0) as usize).min(pcg.len());
        let i1 = ((b.0 * rate.0).max(0.0) as usize).min(pcg.len());
        (i1 > i0).then(|| {
            pcg[i0..i1]
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                / (i1 - i0) as f64
        })
    };
    let mut s2 = Vec::new();
    let mut systole = Vec::new();
    for c in cycles {
        if let (Some(a), Some(b)) = (power(c.s2.start, c.s2.end), power(c.s1.end, c.s2.start)) {
            s2.push(a);
            systole.push(b);
        }
    }
    if s2.len() < 3 {
        return None;
    }
    let (a, b) = (median(&mut s2), median(&mut systole));
    (a > 0.0 && b > 0.0).then(|| 10.0 * (a / b).log10())
}

/// One decoding of a recording's frames.
struct Decoding {
    spans: Vec<Span>,
    /// Its score with the autocorrelation's head start (how decodings are ranked).
    ranked: f32,
    durations: [Duration; 4],
    /// Its score.
    score: f32,
    /// The systolic interval (seconds) its durations were made for.
    systole: f64,
    /// The heart rate its durations were made for.
    rate: Bpm,
    /// How much (seconds) its diastole was widened.
    extra_sd: f64,
}

/// The spread (seconds, as [`rr_spread`]) of the S1-to-S1 intervals of decoded `spans`, when
/// it exceeds `share` of their median: the beats of an irregular rhythm.
fn s1_spread(spans: &[Span], share: f64) -> Option<f64> {
    let onsets: Vec<Seconds> = spans
        .iter()
        .filter(|s| s.state == State::S1)
        .map(|s| Seconds(s.start as f64 / FRAME_RATE))
        .collect();
    let (spread, median) = spread_and_median(&onsets)?;
    (spread > share * median).then_some(spread)
}

/// The standard deviation of RR intervals, robustly (from the interquartile range).
fn rr_spread(r_peaks: &[Seconds]) -> f64 {
    spread_of(&sorted_intervals(r_peaks))
}

/// The intervals between successive `times`, sorted.
fn sorted_intervals(times: &[Seconds]) -> Vec<f64> {
    let mut rr: Vec<f64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
    rr.sort_by(f64::total_cmp);
    rr
}

/// The interquartile range of sorted intervals over 1.349 (a normal's standard deviation); 0
/// for fewer than 4.
fn spread_of(sorted: &[f64]) -> f64 {
    if sorted.len() < 4 {
        return 0.0;
    }
    (sorted[sorted.len() * 3 / 4] - sorted[sorted.len() / 4]) / 1.349
}

/// Sorted, finite, de-duplicated R-peak times.
fn clean_peaks(p: &[Seconds]) -> Vec<Seconds> {
    let mut v: Vec<Seconds> = p.iter().copied().filter(|s| s.0.is_finite()).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v.dedup_by(|a, b| (a.0 - b.0).abs() < 0.15);
    v
}

/// Distance from `t` to the nearest of the sorted `points`.
fn nearest_gap(points: &[f64], t: f64) -> f64 {
    let i = points.partition_point(|&p| p < t);
    let after = points.get(i).map_or(f64::INFINITY, |p| p - t);
    let before = i
        .checked_sub(1)
        .and_then(|k| points.get(k))
        .map_or(f64::INFINITY, |p| t - p);
    after.min(before)
}

/// The state duration distributions, in frames. `extra_sd` (seconds) widens diastole for
/// irregular rhythms.
fn duration_model(hr: Bpm, sys: Seconds, sys_sd: f64, extra_sd: f64) -> [Duration; 4] {
    let f = FRAME_RATE;
    let cycle = hr.period().0.clamp(0.25, 3.0);
    let sys = sys.0.clamp(0.15, 0.6 * cycle);
    let s1 = Duration::gaussian(S1_MEAN * f, S1_SD * f, frames(0.04), frames(0.24));
    let s2 = Duration::gaussian(S2_MEAN * f, S2_SD * f, frames(0.03), frames(0.2));
    let systole_mean = (sys - S1_MEAN).max(0.05);
    let diastole_mean = (cycle - sys - S2_MEAN).max(0.08);
    let systole = Duration::gaussian(
        systole_mean * f,
        sys_sd * f,
        frames(systole_mean - 3.0 * sys_sd).max(2),
        frames(systole_mean + 3.0 * sys_sd),
    );
    let dia_sd = (0.07 * diastole_mean + 0.006).max(extra_sd);
    let diastole = Duration::gaussian(
        diastole_mean * f,
        dia_sd * f,
        frames(diastole_mean - 3.0 * dia_sd).max(2),
        frames(diastole_mean + 3.0 * dia_sd),
    );
    [s1, systole, s2, diastole]
}

fn frames(secs: f64) -> usize {
    (secs * FRAME_RATE).round().max(1.0) as usize
}

/// Turns decoded spans into cycles: each S1 followed by an S2 before the next S1.
fn cycles_from_spans(spans: &[Span], duration: Seconds, r_peaks: Option<&[Seconds]>) -> Vec<Cycle> {
    let secs = |frame: usize| Seconds((frame as f64 / FRAME_RATE).min(duration.0));
    let s1_starts: Vec<usize> = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state == State::S1)
        .map(|(i, _)| i)
        .collect();
    let mut cycles = Vec::new();
    for (k, &i) in s1_starts.iter().enumerate() {
        let next = s1_starts.get(k + 1).copied();
        let stop = next.unwrap_or(spans.len());
        let Some(s2) = spans[i + 1..stop].iter().find(|s| s.state == State::S2) else {
            continue;
        };
        let s1 = spans[i];
        let s1_iv = Interval {
            start: secs(s1.start),
            end: secs(s1.end),
        };
        let r_peak = r_peaks.and_then(|rs| {
            rs.iter()
                .copied()
                .min_by(|a, b| {
                    (a.0 - s1_iv.start.0)
                        .abs()
                        .total_cmp(&(b.0 - s1_iv.start.0).abs())
                })
                .filter(|r| (r.0 - s1_iv.start.0).abs() <= R_WINDOW + 0.05)
        });
        cycles.push(Cycle {
            r_peak,
            s1: s1_iv,
            s2: Interval {
                start: secs(s2.start),
                end: secs(s2.end),
            },
            end: next.map_or(duration, |n| secs(spans[n].start)),
            quality: 1.0,
            accepted: true,
        });
    }
    cycles
}

/// The S2 before the first S1 and the S1 after the last S2 (the sounds of the cycles the edges cut,
/// which [`cycles_from_spans`] leaves out), when the sound itself is whole or, cut by the edge
/// too, at least [`MIN_CUT_SOUND`] long.
fn edge_sounds(spans: &[Span], n_frames: usize, duration: Seconds) -> EdgeSounds {
    let secs = |frame: usize| Seconds((frame as f64 / FRAME_RATE).min(duration.0));
    let heard =
        |s: &Span| (s.start > 0 && s.end < n_frames) || s.end - s.start >= frames(MIN_CUT_SOUND);
    let interval = |s: &Span| Interval {
        start: secs(s.start),
        end: secs(s.end),
    };
    let first_s1 = spans.iter().position(|s| s.state == State::S1);
    let last_s2 = spans.iter().rposition(|s| s.state == State::S2);
    let leading_s2 = spans[..first_s1.unwrap_or(spans.len())]
        .iter()
        .find(|s| s.state == State::S2)
        .filter(|s| heard(s))
        .map(interval);
    let trailing_s1 = spans[last_s2.map_or(0, |i| i + 1)..]
        .iter()
        .find(|s| s.state == State::S1)
        .filter(|s| heard(s))
        .map(interval);
    EdgeSounds {
        leading_s2,
        trailing_s1,
    }
}

/// Heart rate from the median S1-to-S1 interval of the cycles.
fn cycle_rate(cycles: &[Cycle]) -> Option<Bpm> {
    let mut rr: Vec<f64> = cycles
        .windows(2)
        .map(|w| w[1].s1.start.0 - w[0].s1.start.0)
        .filter(|v| *v > 0.0)
        .collect();
    if rr.is_empty() {
        return None;
    }
    rr.sort_by(f64::total_cmp);
    Some(Bpm(60.0 / rr[rr.len() / 2]))
}

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

use crate::ecg::{detect_r_peaks, heart_rate_from_r_peaks, qs2_interval};
use crate::heart_rate;
use crate::model::{Cycle, EcgInput, Interval, Preprocessed, Segmentation};
use crate::units::{Bpm, Seconds};

use emission::EmissionModel;
use features::FRAME_RATE;
use hsmm::{Duration, Span, State, viterbi};

/// Mean S1 duration (PhysioNet 2016 labels: 0.13 s).
const S1_MEAN: f64 = 0.13;
/// Standard deviation of S1 duration.
const S1_SD: f64 = 0.022;
/// Mean S2 duration (PhysioNet 2016 labels: 0.10 s).
const S2_MEAN: f64 = 0.10;
/// Standard deviation of S2 duration.
const S2_SD: f64 = 0.022;
/// Heart rate assumed when it cannot be measured.
const DEFAULT_HR: Bpm = Bpm(75.0);

/// How far (seconds) an S1 onset may lie from its R peak, and the spread of the soft pull to it.
const R_WINDOW: f64 = 0.1;
const R_SPREAD: f64 = 0.035;
/// Log-score bonus for every S1 that starts at an R peak: makes the decoder give each beat an S1.
const R_BONUS: f32 = 20.0;

/// Segments a preprocessed PCG, gated on the ECG when one is given and carries beats, with the
/// compiled-in emission model.
pub fn segment(pre: &Preprocessed, ecg: Option<EcgInput<'_>>) -> Segmentation {
    segment_with(EmissionModel::builtin(), pre, ecg)
}

/// A segmenter with its own emission model (for evaluating trained parameters before they are
/// compiled in).
#[derive(Debug, Clone)]
pub struct Segmenter {
    model: EmissionModel,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter {
            model: EmissionModel::builtin().clone(),
        }
    }
}

impl Segmenter {
    /// A segmenter using `model`.
    pub fn new(model: EmissionModel) -> Self {
        Segmenter { model }
    }

    /// As [`segment`], with this segmenter's model.
    pub fn segment(&self, pre: &Preprocessed, ecg: Option<EcgInput<'_>>) -> Segmentation {
        segment_with(&self.model, pre, ecg)
    }
}

fn segment_with(
    model: &EmissionModel,
    pre: &Preprocessed,
    ecg: Option<EcgInput<'_>>,
) -> Segmentation {
    let r_peaks = match ecg {
        Some(EcgInput::Raw(sig)) => detect_r_peaks(sig),
        Some(EcgInput::RPeaks(p)) => clean_peaks(p),
        None => Vec::new(),
    };
    let r_peaks: Vec<Seconds> = r_peaks
        .into_iter()
        .filter(|r| r.0 >= 0.0 && r.0 <= pre.duration.0)
        .collect();
    let gated = r_peaks.len() >= 2;

    let frames = features::frames(pre);
    let pcg_estimate = heart_rate::estimate(&pre.envelope, pre.rate);
    let (hr, sys) = if gated {
        let hr = heart_rate_from_r_peaks(&r_peaks).unwrap_or(DEFAULT_HR);
        let sys = match pcg_estimate {
            Some((h, s)) if (h.0 / hr.0 - 1.0).abs() < 0.1 => s,
            _ => Seconds(qs2_interval(hr).0 - 0.03),
        };
        (hr, sys)
    } else {
        pcg_estimate.unwrap_or((DEFAULT_HR, Seconds(qs2_interval(DEFAULT_HR).0 - 0.03)))
    };

    let emission: Vec<[f32; 4]> = frames.iter().map(|f| model.log_emission(f)).collect();
    let durations = duration_model(hr, sys, gated);
    let spans = if gated {
        let starts: Vec<f64> = r_peaks.iter().map(|r| r.0).collect();
        viterbi(&emission, &durations, |state, start, _end| {
            if state != State::S1 {
                return 0.0;
            }
            let t = start as f64 / FRAME_RATE;
            let gap = nearest_gap(&starts, t);
            if gap > R_WINDOW {
                f32::NEG_INFINITY
            } else {
                R_BONUS - (0.5 * (gap / R_SPREAD).powi(2)) as f32
            }
        })
    } else {
        viterbi(&emission, &durations, |_, _, _| 0.0)
    };

    let cycles = cycles_from_spans(&spans, pre.duration, gated.then_some(&r_peaks[..]));
    let heart_rate = if gated {
        Some(hr)
    } else {
        pcg_estimate.map(|(h, _)| h).or_else(|| cycle_rate(&cycles))
    };
    Segmentation {
        cycles,
        heart_rate,
        ecg_used: gated,
        r_peaks: if gated { r_peaks } else { Vec::new() },
    }
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

/// The state duration distributions, in frames.
fn duration_model(hr: Bpm, sys: Seconds, gated: bool) -> [Duration; 4] {
    let f = FRAME_RATE;
    let cycle = hr.period().0.clamp(0.25, 3.0);
    let sys = sys.0.clamp(0.15, 0.6 * cycle);
    let s1 = Duration::gaussian(S1_MEAN * f, S1_SD * f, frames(0.04), frames(0.24));
    let s2 = Duration::gaussian(S2_MEAN * f, S2_SD * f, frames(0.03), frames(0.2));
    let systole_mean = (sys - S1_MEAN).max(0.05);
    let diastole_mean = (cycle - sys - S2_MEAN).max(0.08);
    if gated {
        let systole = Duration::gaussian(
            systole_mean * f,
            0.04 * f,
            frames(0.04),
            frames(systole_mean + 0.2),
        );
        let diastole = Duration::uniform(frames(0.04), frames(2.6));
        [s1, systole, s2, diastole]
    } else {
        let sys_sd = 0.025;
        let systole = Duration::gaussian(
            systole_mean * f,
            sys_sd * f,
            frames(systole_mean - 3.0 * sys_sd).max(2),
            frames(systole_mean + 3.0 * sys_sd),
        );
        let dia_sd = 0.07 * diastole_mean + 0.006;
        let diastole = Duration::gaussian(
            diastole_mean * f,
            dia_sd * f,
            frames(diastole_mean - 3.0 * dia_sd).max(2),
            frames(diastole_mean + 3.0 * dia_sd),
        );
        [s1, systole, s2, diastole]
    }
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

//! Rhythm measures from the beat times of the accepted cycles: heart rate, RR standard deviation,
//! RMSSD and an "irregular" flag for atrial fibrillation or frequent ectopy.
//!
//! Only consecutive accepted cycles give an RR interval, so a rejected (corrupted) cycle never
//! makes a long gap look like a pause. This module must never guess: with fewer than three
//! intervals it returns `None`, and it calls a rhythm irregular only from at least
//! [`MIN_INTERVALS_TO_JUDGE`] intervals (with fewer, `irregular` is false and
//! [`Rhythm::intervals`] tells the reader the rhythm was not judged).
//!
//! A healthy heart's rate rises and falls with each breath (respiratory sinus arrhythmia), in a
//! child or a young adult by as much as atrial fibrillation spreads the beats. But its intervals
//! change smoothly, while atrial fibrillation's follow no order: a spread whose intervals are
//! [`phasic`] is reported as such and not called irregular.

use crate::model::{Cycle, Rhythm};
use crate::units::{Bpm, Seconds};

/// The fewest RR intervals from which rhythm measures are reported.
pub const MIN_INTERVALS: usize = 3;

/// The fewest RR intervals from which a rhythm is called irregular. With fewer, one missed or
/// extra beat of the sound-alone segmentation, or a child's breathing (sinus arrhythmia over one
/// breath), decides the call: quartiles of five intervals are two of them. Measured on the
/// held-out databases (crates/train/RESULTS.md, 2026-12-06): the atrial fibrillation records
/// the segmentation finds have 15 or more, while 7 of PASCAL's 160 normals and 7 of
/// training-b's 386, all short sound-alone recordings, were called irregular from fewer.
pub const MIN_INTERVALS_TO_JUDGE: usize = 10;

/// Whether a rhythm measured from `intervals` RR intervals is judged (called regular,
/// irregular or phasic); below [`MIN_INTERVALS_TO_JUDGE`] it is measured but not judged. The one
/// place that says so, for the engine and for every text that reports the rhythm.
pub fn judged(intervals: usize) -> bool {
    intervals >= MIN_INTERVALS_TO_JUDGE
}

/// RR intervals outside this range (seconds) are segmentation errors, not beats (30 to 240 bpm).
const RR_RANGE: (f64, f64) = (0.25, 2.0);

/// Coefficient of variation of RR above which the rhythm is called irregular.
const IRREGULAR_CV: f64 = 0.12;
/// RMSSD relative to the mean RR above which the rhythm is called irregular.
const IRREGULAR_RMSSD: f64 = 0.14;

/// The one-sided 5 % point of the standard normal distribution: the significance of the
/// turning-point test of [`phasic`] (a textbook level, not one fitted to recordings).
const Z_ONE_SIDED_5: f64 = 1.645;

/// Whether RR intervals change smoothly rather than at random, as breathing changes a healthy
/// heart's: fewer turning points than a random series has (the turning-point test: mean
/// 2(n−2)/3, variance (16n−29)/90; one-sided at 5 %), and successive intervals move together
/// (a positive lag-1 autocorrelation: a swing over four or more beats per breath gives
/// cos(2π/beats) > 0). Equal successive intervals are merged first, so ties do not pass for
/// smoothness. False for fewer than [`MIN_INTERVALS_TO_JUDGE`] distinct intervals.
///
/// Atrial fibrillation's intervals are close to a random series (two turning points in three);
/// frequent ectopy alternates short and long (a negative autocorrelation): neither is phasic.
pub fn phasic(rr: &[f64]) -> bool {
    let mut series = rr.to_vec();
    series.dedup_by(|a, b| (*a - *b).abs() <= 1e-9);
    let n = series.len();
    if !judged(n) {
        return false;
    }
    let turning = series
        .windows(3)
        .filter(|w| (w[1] > w[0] && w[1] > w[2]) || (w[1] < w[0] && w[1] < w[2]))
        .count() as f64;
    let nf = n as f64;
    let z = (turning - 2.0 * (nf - 2.0) / 3.0) / ((16.0 * nf - 29.0) / 90.0).sqrt();
    let mean = series.iter().sum::<f64>() / nf;
    let c: Vec<f64> = series.iter().map(|r| r - mean).collect();
    let var: f64 = c.iter().map(|v| v * v).sum();
    if var <= 0.0 {
        return false;
    }
    let rho = c.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / var;
    z < -Z_ONE_SIDED_5 && rho > 0.0
}

/// The beat time of a cycle: its R peak when the ECG gated it, else its S1 onset.
fn beat_time(c: &Cycle) -> f64 {
    c.r_peak.map_or(c.s1.start.0, |r| r.0)
}

/// RR intervals between consecutive accepted cycles (a cycle whose `end` meets the next one's
/// start), in seconds, keeping only physiologically possible ones.
pub fn rr_intervals(cycles: &[Cycle]) -> Vec<f64> {
    cycles
        .windows(2)
        .filter(|w| w[0].accepted && w[1].accepted)
        .map(|w| beat_time(&w[1]) - beat_time(&w[0]))
        .filter(|rr| rr.is_finite() && *rr >= RR_RANGE.0 && *rr <= RR_RANGE.1)
        .collect()
}

/// Rhythm measures over the accepted cycles, or `None` with fewer than [`MIN_INTERVALS`] intervals.
pub fn measure_rhythm(cycles: &[Cycle]) -> Option<Rhythm> {
    rhythm_from_rr(&rr_intervals(cycles))
}

/// Rhythm measures from RR intervals in seconds.
pub fn rhythm_from_rr(rr: &[f64]) -> Option<Rhythm> {
    if rr.len() < MIN_INTERVALS {
        return None;
    }
    let n = rr.len() as f64;
    let mean = rr.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let sd = (rr.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let diffs: Vec<f64> = rr.windows(2).map(|w| w[1] - w[0]).collect();
    let rmssd = if diffs.is_empty() {
        0.0
    } else {
        (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt()
    };
    let mut sorted = rr.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    // A single missed or extra beat makes one outlier interval; irregularity is judged on the
    // spread of the bulk (inter-quartile range) as well as on the overall measures, so one
    // segmentation slip does not call a sinus rhythm irregular.
    let q1 = sorted[sorted.len() / 4];
    let q3 = sorted[(3 * sorted.len()) / 4];
    let iqr_rel = (q3 - q1) / median;
    let spread = judged(rr.len())
        && sd / mean > IRREGULAR_CV
        && rmssd / mean > IRREGULAR_RMSSD
        && iqr_rel > 0.1;
    let phasic = spread && phasic(rr);
    let irregular = spread && !phasic;
    Some(Rhythm {
        heart_rate: Bpm(60.0 / median),
        rr_sd: Seconds(sd),
        rmssd: Seconds(rmssd),
        intervals: rr.len(),
        irregular,
        phasic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Interval;

    fn cycle(t: f64, accepted: bool) -> Cycle {
        Cycle {
            r_peak: None,
            s1: Interval {
                start: Seconds(t),
                end: Seconds(t + 0.12),
            },
            s2: Interval {
                start: Seconds(t + 0.35),
                end: Seconds(t + 0.45),
            },
            end: Seconds(t + 0.8),
            quality: 1.0,
            accepted,
        }
    }

    #[test]
    fn regular_rhythm_has_the_right_rate_and_is_regular() {
        let cycles: Vec<Cycle> = (0..10).map(|i| cycle(i as f64 * 0.8, true)).collect();
        let r = measure_rhythm(&cycles).expect("enough beats");
        assert!((r.heart_rate.0 - 75.0).abs() < 1e-6);
        assert!(r.rr_sd.0 < 1e-9);
        assert!(!r.irregular);
    }

    #[test]
    fn chaotic_intervals_are_irregular() {
        let rr = [0.6, 1.1, 0.55, 0.9, 0.5, 1.2, 0.7, 0.95, 0.58, 1.05];
        let mut t = 0.0;
        let mut cycles = vec![cycle(0.0, true)];
        for r in rr {
            t += r;
            cycles.push(cycle(t, true));
        }
        let r = measure_rhythm(&cycles).expect("enough beats");
        assert_eq!(r.intervals, 10);
        assert!(r.irregular);
    }

    #[test]
    fn a_few_chaotic_intervals_are_measured_but_not_called_irregular() {
        // The first nine intervals of the chaotic rhythm above: as spread, one interval short.
        let rr = [0.6, 1.1, 0.55, 0.9, 0.5, 1.2, 0.7, 0.95, 0.58];
        let r = rhythm_from_rr(&rr).expect("enough intervals to measure");
        assert_eq!(r.intervals, MIN_INTERVALS_TO_JUDGE - 1);
        assert!(r.rr_sd.0 / (60.0 / r.heart_rate.0) > IRREGULAR_CV);
        assert!(!r.irregular);
        let mut judged = rr.to_vec();
        judged.push(1.05);
        assert!(rhythm_from_rr(&judged).expect("ten intervals").irregular);
    }

    /// `n` intervals around `mean` seconds: `f(k)` is interval k's deviation.
    fn series(n: usize, mean: f64, f: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..n).map(|k| mean + f(k)).collect()
    }

    #[test]
    fn a_rate_swinging_with_each_breath_is_phasic_not_irregular() {
        // A breath every 4.5 beats swings the interval by ±0.16 s (CV 0.13, a child's or a
        // young adult's sinus arrhythmia).
        let rr = series(40, 0.8, |k| {
            0.16 * (k as f64 * std::f64::consts::TAU / 4.5).sin()
        });
        let r = rhythm_from_rr(&rr).expect("measured");
        assert!(r.rr_sd.0 / 0.8 > IRREGULAR_CV, "{r:?}");
        assert!(r.phasic, "{r:?}");
        assert!(!r.irregular, "{r:?}");
    }

    #[test]
    fn intervals_in_no_order_or_alternating_are_not_phasic() {
        // The chaotic rhythm above, four times: no smoothness.
        let chaotic = [0.6, 1.1, 0.55, 0.9, 0.5, 1.2, 0.7, 0.95, 0.58, 1.05];
        let rr: Vec<f64> = chaotic.iter().cycle().take(40).copied().collect();
        assert!(!phasic(&rr));
        assert!(rhythm_from_rr(&rr).expect("measured").irregular);
        // Bigeminy: short, long, short, long (a negative autocorrelation).
        let bigeminy = series(40, 0.8, |k| if k % 2 == 0 { -0.2 } else { 0.2 });
        assert!(!phasic(&bigeminy));
        assert!(rhythm_from_rr(&bigeminy).expect("measured").irregular);
    }

    #[test]
    fn equal_intervals_do_not_pass_for_smoothness() {
        // Beat times quantised to frames repeat intervals: each value of a random series held
        // for three beats would have few turning points if ties counted.
        let chaotic = [
            0.6, 1.1, 0.55, 0.9, 0.5, 1.2, 0.7, 0.95, 0.58, 1.05, 0.62, 0.88,
        ];
        let held: Vec<f64> = chaotic.iter().flat_map(|&v| [v, v, v]).collect();
        assert!(!phasic(&held));
        // Too few distinct intervals to judge: never phasic.
        assert!(!phasic(&[0.8; 30]));
    }

    #[test]
    fn rejected_cycles_break_intervals_and_too_few_give_none() {
        let cycles: Vec<Cycle> = (0..6).map(|i| cycle(i as f64 * 0.8, i % 2 == 0)).collect();
        assert!(rr_intervals(&cycles).is_empty());
        assert!(measure_rhythm(&cycles).is_none());
        assert!(rhythm_from_rr(&[]).is_none());
    }
}

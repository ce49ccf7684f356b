//! Signal quality: the gate that decides whether a recording can be judged at all, a signal
//! quality index (SQI), and the per-cycle quality that decides which cycles are averaged.
//!
//! Three levels, cheapest first:
//! 1. [`check_raw`] looks at the raw samples before anything else: non-finite values, a recording
//!    too short to hold a cycle, a flat line, clipping.
//! 2. [`signal_quality`] scores the preprocessed envelope for the beat-to-beat periodicity and
//!    peakiness that heart sounds have and broadband noise has not.
//! 3. [`assess_cycles`] scores each segmented cycle against the recording's median cycle and
//!    rejects the corrupted ones (rubs, bumps, speech) so they never reach the ensemble.
//!
//! This module must never turn a judgeable recording into "unknown" on a hunch: the thresholds
//! below are set under the worst real recordings of the evaluation sets (see `auscult-train
//! quality`), and "unknown" is kept for what truly cannot be judged.

use multiversion::multiversion;

use crate::model::{Cycle, Preprocessed, UnknownReason};
use crate::units::{Hz, Seconds};

/// Shortest recording that can be judged: one full cycle at 60 bpm would not even fit below this.
pub const MIN_DURATION: Seconds = Seconds(0.75);
/// Fraction of clipped samples above which the recording is unusable.
pub const MAX_CLIPPED_FRACTION: f32 = 0.10;
/// SQI below which a recording is too noisy to judge.
pub const MIN_SQI: f32 = 0.22;
/// Per-cycle quality below which a cycle is rejected.
pub const MIN_CYCLE_QUALITY: f32 = 0.3;

/// Rate of the envelope used for SQI and cycle templates.
const ENV_RATE: f64 = 50.0;

/// Samples per block of the raw checks' counts (each block's count fits a 32-bit lane).
const BLOCK: usize = 4096;

/// Checks the raw samples: `Some(reason)` when the recording cannot be judged whatever follows.
pub fn check_raw(samples: &[f32], rate: Hz) -> Option<UnknownReason> {
    if any_non_finite(samples) {
        return Some(UnknownReason::NonFinite);
    }
    let duration = Seconds(samples.len() as f64 / rate.0.max(1.0));
    if duration.0 < MIN_DURATION.0 {
        return Some(UnknownReason::TooShort { duration });
    }
    let (lo, hi) = extremes(samples);
    let scale = lo.abs().max(hi.abs());
    // A flat line, digital silence or a signal at the float noise floor has nothing to judge.
    let nonzero = count_above(samples, scale * 1e-4);
    if scale.is_nan() || scale <= 1e-9 || hi - lo <= scale * 1e-6 || nonzero < samples.len() / 20 {
        return Some(UnknownReason::NoHeartSounds);
    }
    let fraction = clipped_fraction(samples, lo, hi);
    if fraction > MAX_CLIPPED_FRACTION {
        return Some(UnknownReason::Clipped { fraction });
    }
    None
}

// The counts over the raw samples below are compiled for any x86-64 and for one with AVX2
// (`multiversion`, chosen when called), where each compares eight samples at once; the counts
// are the same either way. Their loops are written without closures, which the
// AVX2 versions would call instead of inlining.

/// Whether any sample is infinite or NaN: a bit test counted in 32-bit lanes, block by block, so
/// that each block is one vectorised pass.
#[multiversion(targets("x86_64+avx2"))]
fn any_non_finite(samples: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    for block in samples.chunks(BLOCK) {
        let mut n = 0u32;
        for v in block {
            n += u32::from(v.to_bits() & EXPONENT == EXPONENT);
        }
        if n > 0 {
            return true;
        }
    }
    false
}

/// How many samples have a magnitude above `threshold`, counted as [`any_non_finite`] counts.
#[multiversion(targets("x86_64+avx2"))]
fn count_above(samples: &[f32], threshold: f32) -> usize {
    let mut total = 0usize;
    for block in samples.chunks(BLOCK) {
        let mut n = 0u32;
        for v in block {
            n += u32::from(v.abs() > threshold);
        }
        total += n as usize;
    }
    total
}

/// The smallest and largest of the samples (±infinity for none), eight lanes at a time, so that
/// the search vectorises where one running minimum cannot. (Not compiled for AVX2 as well: the
/// compiler's AVX2 version of this loop measured slower.)
fn extremes(samples: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut blocks = samples.chunks_exact(LANES);
    for block in &mut blocks {
        for k in 0..LANES {
            let v = block[k];
            lo[k] = lo[k].min(v);
            hi[k] = hi[k].max(v);
        }
    }
    let mut lo = lo.into_iter().fold(f32::INFINITY, f32::min);
    let mut hi = hi.into_iter().fold(f32::NEG_INFINITY, f32::max);
    for &v in blocks.remainder() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo, hi)
}

/// The fraction of samples stuck at either rail: within 0.5 % of the extreme and equal to a
/// neighbour (a flat top), so a clean signal touching its own peak once does not count. An
/// extreme is a rail only where it lies at least [`MIN_RAIL_DISTANCE`] of the span from the
/// signal's mean: one-sided spikes over a quiet signal have their quiet baseline as their
/// minimum, and that baseline is not clipping.
pub fn clipped_fraction(samples: &[f32], lo: f32, hi: f32) -> f32 {
    if samples.len() < 3 {
        return 0.0;
    }
    let span = (hi - lo).max(f32::MIN_POSITIVE);
    let tol = span * 0.005;
    let at_both = flat_at_rails(samples, lo, hi, tol);
    // A rail only takes samples away, so with none at either extreme the mean is not needed
    // (most recordings: no extra pass over the raw samples).
    if at_both == 0 {
        return 0.0;
    }
    let mean = (crate::sums::sum_by(samples, f64::from) / samples.len() as f64) as f32;
    let far = MIN_RAIL_DISTANCE * span;
    // A rail too near the mean is moved out of reach.
    let rail_hi = if hi - mean >= far { hi } else { f32::INFINITY };
    let rail_lo = if mean - lo >= far {
        lo
    } else {
        f32::NEG_INFINITY
    };
    let clipped = if (rail_lo, rail_hi) == (lo, hi) {
        at_both
    } else {
        flat_at_rails(samples, rail_lo, rail_hi, tol)
    };
    clipped as f32 / samples.len() as f32
}

/// How many neighbouring pairs of samples sit within `tol` of the rail `lo` or `hi` and of
/// each other (a flat top).
#[multiversion(targets("x86_64+avx2"))]
fn flat_at_rails(samples: &[f32], lo: f32, hi: f32, tol: f32) -> usize {
    // Non-short-circuiting `&` and `|`, counted in 32-bit lanes block by block, so that the
    // count vectorises.
    let pairs = samples.len().saturating_sub(1);
    let mut total = 0usize;
    let mut start = 0;
    while start < pairs {
        let end = (start + BLOCK).min(pairs);
        let mut n = 0u32;
        for (&a, &b) in samples[start..end].iter().zip(&samples[start + 1..end + 1]) {
            let rail_a = ((hi - a) <= tol) | ((a - lo) <= tol);
            let rail_b = ((hi - b) <= tol) | ((b - lo) <= tol);
            n += u32::from(rail_a & rail_b & ((a - b).abs() <= tol));
        }
        total += n as usize;
        start = end;
    }
    total
}

/// How far from the signal's mean (a share of its span) an extreme must lie to be a rail
/// ([`clipped_fraction`]): a clipped waveform's rails lie about half the span from it.
const MIN_RAIL_DISTANCE: f32 = 0.1;

/// Block means of `env` bringing it to about [`ENV_RATE`]; returns the decimated envelope and its rate.
fn decimate_envelope(env: &[f32], rate: Hz) -> (Vec<f32>, f64) {
    let factor = ((rate.0 / ENV_RATE).round() as usize).max(1);
    let out = env
        .chunks(factor)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    (out, rate.0 / factor as f64)
}

/// Signal-quality index 0..1 of the preprocessed recording: the larger of the envelope's
/// periodicity (peak normalised autocorrelation at a heart-rate lag, 0.3 to 2 s) and its peakiness
/// (how far the loud sounds stand above the median level). White noise scores near 0 on both;
/// heart sounds, even under a loud murmur, score well on at least one.
pub fn signal_quality(pre: &Preprocessed) -> f32 {
    let (env, env_rate) = decimate_envelope(&pre.envelope, pre.rate);
    if env.len() < 8 || env.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    let periodicity = envelope_periodicity(&env, env_rate);
    let peakiness = envelope_peakiness(&env);
    periodicity.max(peakiness).clamp(0.0, 1.0)
}

/// Peak normalised autocorrelation of the mean-removed envelope at lags 0.3 s .. 2 s (or up to
/// 60 % of the length for short recordings), 0 when no such lag exists.
pub fn envelope_periodicity(env: &[f32], env_rate: f64) -> f32 {
    let n = env.len();
    let mean = env.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let x: Vec<f64> = env.iter().map(|&v| v as f64 - mean).collect();
    let energy: f64 = x.iter().map(|v| v * v).sum();
    if energy <= 0.0 {
        return 0.0;
    }
    let min_lag = (0.3 * env_rate).round() as usize;
    let max_lag = ((2.0 * env_rate).round() as usize).min((n as f64 * 0.6) as usize);
    // Prefix sums of x² give each lag's two partial energies in O(1).
    let mut sq = Vec::with_capacity(n + 1);
    sq.push(0.0f64);
    for v in &x {
        let last = sq.last().copied().unwrap_or(0.0);
        sq.push(last + v * v);
    }
    let mut best = 0.0f64;
    for lag in min_lag..=max_lag {
        if lag >= n {
            break;
        }
        let (a, b) = (&x[..n - lag], &x[lag..]);
        let num = crate::sums::dot(a, b);
        let ea = sq[n - lag];
        let eb = sq[n] - sq[lag];
        let den = (ea * eb).sqrt();
        if den > 0.0 {
            best = best.max(num / den);
        }
    }
    best as f32
}

/// How much the loudest 5 % of the envelope stands above its median, mapped to 0..1:
/// `1 - median/p95` (white noise's smoothed envelope is nearly flat, heart sounds are not).
pub fn envelope_peakiness(env: &[f32]) -> f32 {
    let mut v: Vec<f32> = env.to_vec();
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    // The two order statistics alone (the same values a full sort gives).
    let p95 = *v.select_nth_unstable_by((n * 95) / 100, f32::total_cmp).1;
    let p50 = *v[..(n * 95) / 100 + 1]
        .select_nth_unstable_by(n / 2, f32::total_cmp)
        .1;
    if p95 <= 0.0 {
        return 0.0;
    }
    // Smoothed noise sits around median/p95 ≈ 0.6-0.7; clean heart sounds well below 0.3.
    ((0.75 - p50 / p95) / 0.6).clamp(0.0, 1.0)
}

/// Scores every cycle (0..1) and sets `accepted`.
///
/// The score is the correlation of the cycle's envelope with the median cycle's envelope (both
/// aligned on S1 onset), lowered when the cycle holds a burst far louder than the other cycles
/// (an artefact) or when its S1/S2 spacing is physiologically impossible.
pub fn assess_cycles(pre: &Preprocessed, cycles: &mut [Cycle]) {
    let (env, env_rate) = decimate_envelope(&pre.envelope, pre.rate);
    let idx = |t: Seconds| ((t.0 * env_rate).round().max(0.0) as usize).min(env.len());
    let spans: Vec<(usize, usize)> = cycles
        .iter()
        .map(|c| {
            let a = idx(c.s1.start);
            (a, idx(c.end).max(a))
        })
        .collect();
    let mut lengths: Vec<usize> = spans.iter().map(|(a, b)| b - a).collect();
    lengths.sort_unstable();
    let template_len = lengths.get(lengths.len() / 2).copied().unwrap_or(0);

    // The median cycle, sample by sample over the cycles long enough to reach that sample.
    let mut template = vec![0.0f32; template_len];
    let mut column = Vec::with_capacity(spans.len());
    for (k, t) in template.iter_mut().enumerate() {
        column.clear();
        column.extend(
            spans
                .iter()
                .filter(|(a, b)| a + k < *b)
                .map(|(a, _)| env[a + k]),
        );
        if !column.is_empty() {
            column.sort_by(f32::total_cmp);
            *t = column[column.len() / 2];
        }
    }

    // Loudness of each cycle, to catch artefacts far louder than the heart sounds.
    let peaks: Vec<f32> = spans
        .iter()
        .map(|&(a, b)| env[a..b].iter().fold(0.0f32, |m, &v| m.max(v)))
        .collect();
    let mut sorted_peaks = peaks.clone();
    sorted_peaks.sort_by(f32::total_cmp);
    let median_peak = sorted_peaks
        .get(sorted_peaks.len() / 2)
        .copied()
        .unwrap_or(0.0);

    for (i, c) in cycles.iter_mut().enumerate() {
        let (a, b) = spans[i];
        let len = (b - a).min(template_len);
        let shape = if cycles_len_ok(len, env_rate) && spans.len() >= 3 {
            pearson(&env[a..a + len], &template[..len]).max(0.0)
        } else {
            // Too few cycles for a template: trust plausibility alone.
            0.7
        };
        let loudness = if median_peak > 0.0 {
            peaks[i] / median_peak
        } else {
            1.0
        };
        let artefact = if !(0.25..=3.0).contains(&loudness) {
            0.3
        } else {
            1.0
        };
        let plausible = timing_plausible(c);
        let q = if plausible { shape * artefact } else { 0.0 };
        c.quality = if q.is_finite() {
            q.clamp(0.0, 1.0)
        } else {
            0.0
        };
        c.accepted = c.quality >= MIN_CYCLE_QUALITY;
    }
}

fn cycles_len_ok(len: usize, env_rate: f64) -> bool {
    len as f64 >= 0.2 * env_rate
}

/// Whether S1, S2 and the cycle end are ordered and spaced as a heart can (30 to 240 bpm).
pub fn timing_plausible(c: &Cycle) -> bool {
    let sys = c.s2.start.0 - c.s1.end.0;
    let len = c.end.0 - c.s1.start.0;
    let ordered = c.s1.start.0 <= c.s1.end.0
        && c.s1.end.0 <= c.s2.start.0
        && c.s2.start.0 <= c.s2.end.0
        && c.s2.end.0 <= c.end.0;
    ordered && (0.04..=0.6).contains(&sys) && (0.25..=2.0).contains(&len)
}

/// Pearson correlation, 0 when either side is constant.
pub(crate) fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let ma = a[..n].iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let mb = b[..n].iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        (sab / (saa * sbb).sqrt()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_gate_reasons() {
        let rate = Hz(1000.0);
        assert_eq!(
            check_raw(&[0.0, f32::NAN, 1.0], rate),
            Some(UnknownReason::NonFinite)
        );
        assert!(matches!(
            check_raw(&[0.1; 500], rate),
            Some(UnknownReason::TooShort { .. })
        ));
        assert_eq!(
            check_raw(&vec![0.0; 3000], rate),
            Some(UnknownReason::NoHeartSounds)
        );
        assert_eq!(
            check_raw(&vec![0.3; 3000], rate),
            Some(UnknownReason::NoHeartSounds)
        );
        let square: Vec<f32> = (0..3000)
            .map(|i| if (i / 50) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!(matches!(
            check_raw(&square, rate),
            Some(UnknownReason::Clipped { .. })
        ));
        // Clipped on one side only (a waveform with an offset, cut at the top).
        let top_cut: Vec<f32> = (0..3000)
            .map(|i| ((i as f32 * 0.1).sin() + 0.5).min(1.0))
            .collect();
        assert!(matches!(
            check_raw(&top_cut, rate),
            Some(UnknownReason::Clipped { .. })
        ));
        let sine: Vec<f32> = (0..3000).map(|i| (i as f32 * 0.1).sin()).collect();
        assert_eq!(check_raw(&sine, rate), None);
        // One-sided clicks over a quiet signal: its quiet baseline is its minimum, not a rail
        // (it read "61 % clipped" before).
        let clicks: Vec<f32> = (0..3000)
            .map(|i| {
                if i % 377 == 0 {
                    0.3
                } else {
                    1e-4 * ((i * 7919 % 13) as f32 - 6.0)
                }
            })
            .collect();
        assert_eq!(check_raw(&clicks, rate), None);
        assert_eq!(
            check_raw(&[], rate),
            Some(UnknownReason::TooShort {
                duration: Seconds(0.0)
            })
        );
    }

    #[test]
    fn pearson_known_answers() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-6);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn periodic_envelope_beats_flat_noise() {
        let env: Vec<f32> = (0..500)
            .map(|i| if i % 40 < 5 { 1.0 } else { 0.05 })
            .collect();
        assert!(envelope_periodicity(&env, 50.0) > 0.9);
        assert!(envelope_peakiness(&env) > 0.9);
        let flat: Vec<f32> = (0..500)
            .map(|i| 1.0 + 0.01 * ((i * 7919) % 13) as f32)
            .collect();
        assert!(envelope_peakiness(&flat) < 0.2);
    }
}

//! Heart rate and systolic interval from the autocorrelation of the PCG envelope (Schmidt et al.
//! 2010; Springer et al. 2016): the cycle is the highest autocorrelation peak between 0.5 and 2 s,
//! or the shortest lag at a half, a third or a quarter of it whose peak is nearly as high (a
//! child's evenly spaced S1 and S2, swelling with breathing, can repeat best over two to four
//! cycles); the systolic interval is the highest peak between 0.2 s and half a cycle. Such a
//! part may be shorter than 0.5 s (a heart faster than 120 bpm, down to [`FASTEST_CYCLE`]) only
//! when the autocorrelation stands as high at its next multiple too: otherwise it is the S1-to-S2
//! lag of a slower heart.
//!
//! Breath sounds swell for 1.5–2.5 s at each inspiration and expiration, so under loud breathing
//! the envelope can repeat best at the breaths' pace, read as 30–40 bpm. A rate below
//! [`SLOW`] is therefore checked against the envelope without its slow swells (less its
//! morphological opening over [`SWELL`], which keeps what stands up for less than that: heart
//! sounds); when that repeats at least 1.5 times faster, its cycle and systolic interval are the
//! heart's.
//!
//! Works on a ~50 Hz block-mean copy of the envelope, so it is cheap. Never panics; returns None
//! when the signal is too short or flat to say.

use crate::envelope::block_mean;
use crate::sums;
use crate::units::{Bpm, Hz, Seconds};

/// The rate the autocorrelation is computed at.
const WORK_RATE: f64 = 50.0;

/// The autocorrelation coefficients of `x` (mean removed) for lags `0..max_lag`, normalised so lag 0
/// is 1. Empty when `x` is flat.
pub fn autocorrelation(x: &[f32], max_lag: usize) -> Vec<f32> {
    let n = x.len();
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64;
    let y: Vec<f64> = x.iter().map(|&v| v as f64 - mean).collect();
    let e0: f64 = y.iter().map(|v| v * v).sum();
    if e0 <= 1e-20 || !e0.is_finite() {
        return Vec::new();
    }
    (0..max_lag.min(n))
        .map(|lag| (sums::dot(&y[..n - lag], &y[lag..]) / e0) as f32)
        .collect()
}

/// Estimates heart rate and systolic interval (S1 onset to S2 onset) from an envelope sampled
/// at `rate`. None when there are fewer than ~2.5 s of signal or no periodicity.
pub fn estimate(envelope: &[f32], rate: Hz) -> Option<(Bpm, Seconds)> {
    if !(rate.0.is_finite() && rate.0 > 0.0) || envelope.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let factor = ((rate.0 / WORK_RATE).round() as usize).max(1);
    let fs = rate.0 / factor as f64;
    let x = block_mean(envelope, factor);
    let max_lag = (2.0 * fs).round() as usize;
    if x.len() < max_lag + max_lag / 4 {
        return None;
    }
    let mut ac = autocorrelation(&x, max_lag + 1);
    let mut cycle_s = cycle(&ac, fs)?;
    if 60.0 / cycle_s < SLOW.0 {
        let width = ((SWELL.0 * fs).round() as usize).max(1);
        let swell_free = autocorrelation(&top_hat(&x, width), max_lag + 1);
        if let Some(c) = cycle(&swell_free, fs)
            && c * 1.5 <= cycle_s
        {
            cycle_s = c;
            ac = swell_free;
        }
    }
    let sys_lo = (0.2 * fs).round() as usize;
    let sys_hi = ((cycle_s * fs) / 2.0).round() as usize;
    let sys = if sys_hi > sys_lo {
        refine(&ac, argmax(&ac, sys_lo, sys_hi)?) / fs
    } else {
        cycle_s * 0.4
    };
    Some((Bpm(60.0 / cycle_s), Seconds(sys)))
}

/// The shortest cycle a part of the autocorrelation's peak may give (about 180 bpm).
pub const FASTEST_CYCLE: Seconds = Seconds(0.33);

/// A rate read from the envelope below this may be the breaths' pace.
pub const SLOW: Bpm = Bpm(45.0);
/// The opening that removes the breaths' swells: longer than a heart sound (about 0.1–0.15 s),
/// shorter than a breath sound (1.5–2.5 s).
pub const SWELL: Seconds = Seconds(0.5);

/// The lag of the largest autocorrelation in `lo..=hi` (clipped to `ac`).
fn argmax(ac: &[f32], lo: usize, hi: usize) -> Option<usize> {
    (lo..=hi.min(ac.len().checked_sub(1)?)).max_by(|&a, &b| ac[a].total_cmp(&ac[b]))
}

/// `x` less its morphological opening by a flat window of `width` samples: what stands above
/// the envelope for less than `width` samples, without the slow swells under it.
fn top_hat(x: &[f32], width: usize) -> Vec<f32> {
    let n = x.len();
    let half = width / 2;
    let window = |i: usize| i.saturating_sub(half)..(i + half + 1).min(n);
    let eroded: Vec<f32> = (0..n)
        .map(|i| x[window(i)].iter().copied().fold(f32::INFINITY, f32::min))
        .collect();
    (0..n)
        .map(|i| {
            let opened = eroded[window(i)]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            x[i] - opened
        })
        .collect()
}

/// The cardiac cycle (s) from the autocorrelation `ac` of an envelope at `fs`: its highest peak
/// between 0.5 and 2 s, or a half, a third or a quarter of it (see the module doc).
fn cycle(ac: &[f32], fs: f64) -> Option<f64> {
    let min_lag = (0.5 * fs).round() as usize;
    let max_lag = (2.0 * fs).round() as usize;
    if ac.len() <= max_lag {
        return None;
    }
    let mut cycle = argmax(ac, min_lag, max_lag)?;
    // A peak at a half, a third or a quarter of the lag that is nearly as strong means the true
    // cycle is the shorter one (the longer lag is a multiple of it): a child's S1 and S2 are
    // evenly spaced, so the autocorrelation of two, three or four cycles can stand highest;
    // sampling at 50 Hz can tip the balance otherwise. The shortest such lag wins.
    let top = cycle;
    // Below 0.5 s (a heart faster than 120 bpm: a child's, a tachycardia) the cycle is only ever
    // found as such a part, and a part that short can also be the S1-to-S2 lag of a slower
    // heart: it must repeat at the next multiple as well, which that lag does not (it falls
    // between the cycle's peaks).
    let fastest = ((FASTEST_CYCLE.0 * fs).round() as usize).max(1);
    let high = 0.8 * ac[top];
    for parts in [4, 3, 2] {
        let sub = top / parts;
        let fast = sub < min_lag;
        let lo = if fast { fastest } else { min_lag };
        if sub < lo {
            continue;
        }
        let span = (sub / 8).max(1);
        if let Some(h) = argmax(ac, sub.saturating_sub(span).max(lo), sub + span)
            && ac[h] >= high
            && is_local_max(ac, h)
            && (!fast || peak_near(ac, (parts + 1) * h, span).is_some_and(|v| v >= high))
        {
            cycle = h;
            break;
        }
    }
    Some(refine(ac, cycle) / fs)
}

/// The highest autocorrelation within `span` lags of `lag`; None when that reaches past `ac`.
fn peak_near(ac: &[f32], lag: usize, span: usize) -> Option<f32> {
    if lag + span >= ac.len() {
        return None;
    }
    argmax(ac, lag.saturating_sub(span), lag + span).map(|i| ac[i])
}

fn is_local_max(ac: &[f32], i: usize) -> bool {
    i > 0 && i + 1 < ac.len() && ac[i] >= ac[i - 1] && ac[i] >= ac[i + 1]
}

/// Parabolic interpolation of a peak position.
fn refine(ac: &[f32], i: usize) -> f64 {
    if i == 0 || i + 1 >= ac.len() {
        return i as f64;
    }
    let (a, b, c) = (ac[i - 1] as f64, ac[i] as f64, ac[i + 1] as f64);
    let den = a - 2.0 * b + c;
    if den.abs() < 1e-12 {
        return i as f64;
    }
    i as f64 + (0.5 * (a - c) / den).clamp(-0.5, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Gaussian bump of height `a` and width `w` centred on `c`, at `t`.
    fn bump(t: f64, c: f64, w: f64, a: f64) -> f64 {
        a * (-(t - c).powi(2) / (2.0 * w * w)).exp()
    }

    fn pulses(rate: f64, secs: f64, period: f64, sys: f64) -> Vec<f32> {
        let n = (rate * secs) as usize;
        (0..n)
            .map(|i| {
                let t = (i as f64 / rate) % period;
                (bump(t, 0.06, 0.025, 1.0) + bump(t, sys + 0.05, 0.02, 0.7) + 0.01) as f32
            })
            .collect()
    }

    #[test]
    fn finds_rate_and_systolic_interval() {
        for (period, sys) in [(0.8, 0.3), (1.2, 0.34), (0.55, 0.24)] {
            let env = pulses(1000.0, 20.0, period, sys);
            let (hr, s) = estimate(&env, Hz(1000.0)).expect("periodic");
            assert!((hr.0 - 60.0 / period).abs() < 2.0, "{hr} for {period}");
            assert!((s.0 - sys).abs() < 0.03, "{s} for {sys}");
        }
    }

    /// A child's heart: S1 and S2 alike and evenly spaced (a systole of half the cycle), their
    /// loudness swelling and fading over three cycles (breathing), so that the envelope repeats
    /// most exactly every three cycles.
    fn child(rate: f64, secs: f64, period: f64) -> Vec<f32> {
        let n = (rate * secs) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate;
                let beat = (t / period).floor();
                let phase = t - beat * period;
                let swell = 1.0 + 0.4 * (std::f64::consts::TAU * beat / 3.0).cos();
                let s1 = bump(phase, 0.06, 0.02, 1.0);
                let s2 = bump(phase, 0.06 + period / 2.0, 0.02, 0.95);
                (swell * (s1 + s2) + 0.01) as f32
            })
            .collect()
    }

    #[test]
    fn a_child_heart_is_not_taken_for_a_slow_one() {
        // PASCAL normal__178_B: about 90 bpm, reported as 31 when the autocorrelation of three
        // cycles stood highest.
        for period in [0.66, 0.6, 0.55] {
            let env = child(1000.0, 12.0, period);
            let (hr, _) = estimate(&env, Hz(1000.0)).expect("periodic");
            assert!(
                (hr.0 - 60.0 / period).abs() < 3.0,
                "{hr} for a cycle of {period} s"
            );
        }
    }

    #[test]
    fn a_heart_faster_than_120_bpm_is_not_read_at_half() {
        // Before `FASTEST_CYCLE` the cycle was never shorter than 0.5 s: these read at 65–86 bpm.
        for (period, sys) in [(0.46, 0.22), (0.4, 0.2), (0.35, 0.17)] {
            let env = pulses(1000.0, 20.0, period, sys);
            let (hr, _) = estimate(&env, Hz(1000.0)).expect("periodic");
            assert!((hr.0 - 60.0 / period).abs() < 3.0, "{hr} for {period}");
        }
        // An irregular rhythm (PhysioNet a0028, a0135: 55 bpm, read at 88–94 without the
        // check): the beats spread so that the autocorrelation at the cycle is weak, and the
        // steady S1-to-S2 lag (0.36 s) stands higher than it. That lag does not repeat at its
        // multiples, so it is not taken for the cycle.
        let rate = 1000.0;
        let mut beats = Vec::new();
        let (mut t, mut state) = (0.1, 12345u64);
        while t < 40.0 {
            beats.push(t);
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t += 0.9 + 0.4 * (state >> 11) as f64 / (1u64 << 53) as f64;
        }
        let env: Vec<f32> = (0..(40.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                (beats
                    .iter()
                    .map(|&b| bump(t, b, 0.02, 1.0) + bump(t, b + 0.36, 0.02, 0.9))
                    .sum::<f64>()
                    + 0.01) as f32
            })
            .collect();
        let (hr, _) = estimate(&env, Hz(rate)).expect("periodic");
        // Beats 0.9–1.3 s apart: about 55 bpm; without the check, 167.
        assert!(
            (40.0..80.0).contains(&hr.0),
            "{hr}: the S1-to-S2 lag was taken for the cycle"
        );
    }

    #[test]
    fn breaths_swelling_under_the_beats_are_not_taken_for_the_cycle() {
        // Beats every 0.9 s under a breath sound every 2 s: it rises over 0.15 s, holds for
        // 0.7 s at three times the loudness of S1, and falls. The envelope repeats best every
        // 2 s (30 bpm).
        let rate = 1000.0;
        let beats = pulses(rate, 24.0, 0.9, 0.3);
        let env: Vec<f32> = beats
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let t = (i as f64 / rate) % 2.0;
                b + (3.0 * ((0.5 - (t - 1.0).abs()) / 0.15).clamp(0.0, 1.0)) as f32
            })
            .collect();
        let (hr, sys) = estimate(&env, Hz(rate)).expect("periodic");
        assert!((hr.0 - 60.0 / 0.9).abs() < 3.0, "{hr}");
        assert!((sys.0 - 0.3).abs() < 0.05, "{sys}");
    }

    #[test]
    fn none_for_flat_or_short() {
        assert!(estimate(&[1.0; 10_000], Hz(1000.0)).is_none());
        assert!(estimate(&pulses(1000.0, 1.0, 0.8, 0.3), Hz(1000.0)).is_none());
        assert!(estimate(&[], Hz(1000.0)).is_none());
        assert!(estimate(&[f32::NAN; 5000], Hz(1000.0)).is_none());
    }
}

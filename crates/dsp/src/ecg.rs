//! ECG timing: R-peak detection (Pan–Tompkins 1985 with zero-phase filters, adaptive thresholds,
//! T-wave rejection and search-back), T-wave end (Zhang et al. 2006 area indicator) and the
//! electromechanical timing (QS2) used to place S2 when the PCG cannot.
//!
//! Any rate from 100 Hz to 48 kHz, either polarity, baseline wander and noise are handled. Never
//! panics: an unusable or beatless ECG gives no peaks, not an error.

use crate::envelope::block_mean;
use crate::filter::{Sos, filtfilt_bank, moving_average};
use crate::model::Signal;
use crate::resample::resample_narrowband;
use crate::units::{Bpm, Seconds};

/// The rate the detector works at.
const WORK_RATE: f64 = 500.0;
/// No two QRS complexes closer than this (300 bpm).
const REFRACTORY: f64 = 0.2;
/// Lowest accepted ECG rate.
pub const MIN_ECG_RATE: f64 = 100.0;
/// Highest accepted ECG rate.
pub const MAX_ECG_RATE: f64 = 48000.0;

/// An ECG brought to the work rate, with the signals the detectors need.
#[derive(Debug)]
struct Prepared {
    /// 1–40 Hz band: where R and T are located.
    wide: Vec<f32>,
    /// Moving-window integral of the squared derivative of the 5–15 Hz band (QRS energy).
    mwi: Vec<f32>,
}

fn prepare(ecg: Signal<'_>) -> Option<Prepared> {
    let rate = ecg.rate.0;
    if !(rate.is_finite() && (MIN_ECG_RATE..=MAX_ECG_RATE).contains(&rate)) || ecg.samples.len() < 2
    {
        return None;
    }
    let mut last = 0.0f32;
    let clean: Vec<f32> = ecg
        .samples
        .iter()
        .map(|&v| {
            if v.is_finite() {
                last = v;
            }
            last
        })
        .collect();
    let mean = clean.iter().map(|&v| v as f64).sum::<f64>() / clean.len() as f64;
    let centred: Vec<f32> = clean.iter().map(|&v| (v as f64 - mean) as f32).collect();
    let x = resample_narrowband(&centred, rate, WORK_RATE, 60.0);
    // Both bands in one fused pass (same result as two `filtfilt`s: equal padding, as both
    // filters have the same number of sections).
    let wide_band = Sos::butter_bandpass(2, 1.0, 40.0, WORK_RATE);
    let qrs_band = Sos::butter_bandpass(2, 5.0, 15.0, WORK_RATE);
    let mut bands = filtfilt_bank(&[&wide_band, &qrs_band], &x).into_iter();
    let wide = bands.next().unwrap_or_default();
    let qrs = bands.next().unwrap_or_default();
    let mut d2 = vec![0.0f32; qrs.len()];
    for i in 2..qrs.len().saturating_sub(2) {
        let d = (2.0 * qrs[i + 2] + qrs[i + 1] - qrs[i - 1] - 2.0 * qrs[i - 2]) / 8.0;
        d2[i] = d * d;
    }
    let mwi = moving_average(&d2, (0.15 * WORK_RATE) as usize | 1);
    Some(Prepared { wide, mwi })
}

/// Local maxima of `x` with no larger value within `radius` samples either side.
fn dominant_peaks(x: &[f32], radius: usize) -> Vec<usize> {
    let n = x.len();
    let mut peaks = Vec::new();
    let mut i = 1;
    while i + 1 < n {
        if x[i] > x[i - 1] && x[i] >= x[i + 1] {
            let lo = i.saturating_sub(radius);
            let hi = (i + radius + 1).min(n);
            let is_max = x[lo..hi].iter().all(|&v| v <= x[i]);
            if is_max {
                peaks.push(i);
                i += radius.max(1);
                continue;
            }
        }
        i += 1;
    }
    peaks
}

/// How far (times) a QRS energy peak must stand above the median QRS energy around it
/// ([`CLEAR_SPAN`] either side) to be a beat at all. Between the complexes of a readable lead
/// the energy is near zero; where the lead is off or swamped by noise it is high throughout, and
/// its peaks are no beats however tall.
const CLEAR_RATIO: f32 = 4.0;
/// Half the span (seconds) over which [`CLEAR_RATIO`]'s median is taken.
const CLEAR_SPAN: f64 = 1.0;

/// How one pass of the QRS detector reads a lead.
struct Pass {
    /// The quantile of the QRS energy within [`CLEAR_SPAN`] that a peak must stand
    /// [`CLEAR_RATIO`] above.
    clear_quantile: f64,
    /// Closer than this (seconds) after a beat, a peak under half its height is its T wave.
    t_wave_window: f64,
    /// The search-back's least distance (seconds) of an added beat from its neighbours.
    min_gap: f64,
}

/// The detector's reading of any lead: the median of the energy around a peak, and the
/// Pan–Tompkins 360 ms for the T wave and the search-back.
const STANDARD: Pass = Pass {
    clear_quantile: 0.5,
    t_wave_window: 0.36,
    min_gap: 0.36,
};

/// Its second reading of a lead where the first found a fast heart, or almost nothing. Above
/// about 150 bpm the QRS energy stands high over most of each beat, so its median around a beat
/// is no longer the floor between beats and [`STANDARD`] reads the lead as noise (6 of 57 beats
/// at 170 bpm); the 20 % quantile is still the floor. The T wave and the search-back windows
/// shrink with the cycle (about 0.35 s at 170 bpm).
const FAST: Pass = Pass {
    clear_quantile: 0.2,
    t_wave_window: 0.25,
    min_gap: 0.25,
};

/// A [`FAST`] reading replaces the [`STANDARD`] one only if it finds more beats, at least this
/// share of those that its own median RR implies over the recording...
const FAST_COVERAGE: f64 = 0.8;
/// ... at a median RR (seconds) no longer than this (120 bpm)...
const FAST_RR: f64 = 0.5;
/// ... whose complexes are alike: the median correlation of each beat's QRS with their average
/// (as [`Beats::quality`]) at least this. No steady rate is asked, so atrial fibrillation is
/// read too.
const FAST_ALIKE: f32 = 0.8;

/// The share of a lead's beats that `beats` R peaks give over `duration`, at the `median_rr`
/// between them: 1 when they are all there, less where the detector missed some. The
/// segmenter gates only on a lead that gives enough of them.
pub fn coverage(beats: usize, median_rr: Seconds, duration: Seconds) -> f64 {
    if duration.0 > 0.0 {
        beats as f64 * median_rr.0 / duration.0
    } else {
        0.0
    }
}

/// The median RR interval and the [`coverage`] of QRS positions `q` (work-rate indices, in
/// order) over the prepared lead; None for fewer than three.
fn rr_and_coverage(p: &Prepared, q: &[usize]) -> Option<(Seconds, f64)> {
    if q.len() < 3 {
        return None;
    }
    let times: Vec<Seconds> = q.iter().map(|&i| Seconds(i as f64 / WORK_RATE)).collect();
    let rr = median_rr(&times)?;
    let duration = Seconds(p.mwi.len() as f64 / WORK_RATE);
    Some((rr, coverage(q.len(), rr, duration)))
}

/// The `peaks` of `mwi` that stand [`CLEAR_RATIO`] above the `quantile` of `mwi` within
/// [`CLEAR_SPAN`] (taken on 20 ms block means). Peaks in stretches of noise are dropped before
/// the adaptive thresholds see them, so one loud stretch neither becomes beats nor raises the
/// threshold past the real beats after it.
fn clear_peaks(mwi: &[f32], peaks: Vec<usize>, quantile: f64) -> Vec<usize> {
    let block = (0.02 * WORK_RATE) as usize;
    let means = block_mean(mwi, block);
    let half = (CLEAR_SPAN / 0.02) as usize;
    let mut window = Vec::with_capacity(2 * half + 1);
    peaks
        .into_iter()
        .filter(|&i| {
            let b = i / block;
            let lo = b.saturating_sub(half);
            let hi = (b + half + 1).min(means.len());
            window.clear();
            window.extend_from_slice(&means[lo..hi]);
            if window.is_empty() {
                return false;
            }
            let k = ((window.len() as f64 * quantile) as usize).min(window.len() - 1);
            let (_, level, _) = window.select_nth_unstable_by(k, f32::total_cmp);
            mwi[i] > CLEAR_RATIO * *level
        })
        .collect()
}

/// QRS positions by Pan–Tompkins adaptive thresholding, read as `pass` says.
fn qrs_positions_with(mwi: &[f32], pass: &Pass) -> Vec<usize> {
    let fs = WORK_RATE;
    let cands = clear_peaks(
        mwi,
        dominant_peaks(mwi, (REFRACTORY * fs) as usize),
        pass.clear_quantile,
    );
    if cands.is_empty() {
        return Vec::new();
    }
    // Learning phase over the first 2 s (or all of a shorter signal).
    let learn = ((2.0 * fs) as usize).min(mwi.len());
    let max0 = mwi[..learn].iter().fold(0.0f32, |m, &v| m.max(v));
    let mean0 = mwi[..learn].iter().sum::<f32>() / learn.max(1) as f32;
    // A robust global scale guards against a huge artefact in the learning window.
    let mut heights: Vec<f32> = cands.iter().map(|&i| mwi[i]).collect();
    heights.sort_by(f32::total_cmp);
    let typical = heights[(heights.len() * 9 / 10).min(heights.len() - 1)];
    if typical.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Vec::new();
    }
    let mut spki = max0.min(typical) * 0.5;
    let mut npki = mean0.min(typical * 0.1) * 0.5;
    let threshold = |s: f32, n: f32| n + 0.25 * (s - n);

    let mut qrs: Vec<usize> = Vec::new();
    let mut thr_at = Vec::with_capacity(cands.len());
    for &c in &cands {
        let h = mwi[c];
        let thr1 = threshold(spki, npki);
        thr_at.push(thr1);
        let is_t_wave = match qrs.last() {
            Some(&prev) if ((c - prev) as f64) < pass.t_wave_window * fs => h < 0.5 * mwi[prev],
            _ => false,
        };
        if h > thr1 && !is_t_wave {
            spki = 0.125 * h + 0.875 * spki;
            qrs.push(c);
        } else {
            npki = 0.125 * h + 0.875 * npki;
        }
    }
    search_back(mwi, &cands, &thr_at, qrs, pass.min_gap)
}

/// Pan–Tompkins search-back: in every gap longer than 1.66 median RR intervals, accept the largest
/// candidate above half the threshold in force there and `min_gap` seconds from both ends,
/// until no gap changes.
fn search_back(
    mwi: &[f32],
    cands: &[usize],
    thr_at: &[f32],
    mut qrs: Vec<usize>,
    min_gap: f64,
) -> Vec<usize> {
    let fs = WORK_RATE;
    let min_gap = (min_gap * fs) as usize;
    for _ in 0..cands.len() {
        if qrs.len() < 2 {
            break;
        }
        let mut rr: Vec<usize> = qrs.windows(2).map(|w| w[1] - w[0]).collect();
        rr.sort_unstable();
        let limit = 1.66 * rr[rr.len() / 2] as f64;
        let mut edges = Vec::with_capacity(qrs.len() + 2);
        edges.push(None);
        edges.extend(qrs.iter().map(|&q| Some(q)));
        edges.push(None);
        let mut added = None;
        for w in edges.windows(2) {
            let lo = w[0].map_or(0, |v| v);
            let hi = w[1].map_or(mwi.len(), |v| v);
            if ((hi - lo) as f64) <= limit {
                continue;
            }
            let best = cands
                .iter()
                .enumerate()
                .filter(|&(_, &c)| {
                    (w[0].is_none() || c >= lo + min_gap) && (w[1].is_none() || c + min_gap <= hi)
                })
                .filter(|&(k, &c)| mwi[c] > 0.5 * thr_at[k])
                .max_by(|a, b| mwi[*a.1].total_cmp(&mwi[*b.1]));
            if let Some((_, &c)) = best {
                added = Some(c);
                break;
            }
        }
        match added {
            Some(c) => {
                let pos = qrs.partition_point(|&q| q < c);
                qrs.insert(pos, c);
            }
            None => break,
        }
    }
    qrs
}

/// The sign (+1 or −1) of the dominant QRS deflection in `wide` around `qrs` positions.
fn polarity(wide: &[f32], qrs: &[usize], half: usize) -> f32 {
    let mut votes = 0i64;
    for &q in qrs {
        let lo = q.saturating_sub(half);
        let hi = (q + half + 1).min(wide.len());
        let (mx, mn) = wide[lo..hi]
            .iter()
            .fold((f32::MIN, f32::MAX), |(a, b), &v| (a.max(v), b.min(v)));
        votes += if mx >= -mn { 1 } else { -1 };
    }
    if votes >= 0 { 1.0 } else { -1.0 }
}

/// Detects R peaks in a raw ECG lead of any polarity, at any rate from 100 Hz to 48 kHz.
/// Returns times in seconds from the start of the signal, in order; empty when no beats are found
/// or the rate is outside the accepted range.
pub fn detect_r_peaks(ecg: Signal<'_>) -> Vec<Seconds> {
    let Some(p) = prepare(ecg) else {
        return Vec::new();
    };
    r_peak_indices(&p)
        .0
        .into_iter()
        .map(|i| Seconds(i as f64 / WORK_RATE))
        .collect()
}

/// R peaks with how much each beat's QRS resembles the recording's average QRS.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Beats {
    /// R-peak times, seconds from the start of the signal, in order.
    pub r_peaks: Vec<Seconds>,
    /// Per beat, the correlation (−1..1) of its QRS with the average QRS template.
    pub template_correlation: Vec<f32>,
    /// Per beat, the end of its T wave (see [`t_wave_ends`]).
    pub t_wave_ends: Vec<Option<Seconds>>,
}

impl Beats {
    /// The median template correlation: near 1 for a clean lead, low when the "beats" are noise.
    pub fn quality(&self) -> f32 {
        median(self.template_correlation.clone())
    }
}

/// Detects R peaks as [`detect_r_peaks`] does, scores each beat against the QRS template and
/// places its T-wave end, from one pass of the filters.
pub fn detect_beats(ecg: Signal<'_>) -> Beats {
    let Some(p) = prepare(ecg) else {
        return Beats::default();
    };
    let (peaks, correlation) = r_peak_indices(&p);
    let correlation = correlation.unwrap_or_else(|| template_correlations(&p.wide, &peaks));
    let r_peaks: Vec<Seconds> = peaks
        .into_iter()
        .map(|i| Seconds(i as f64 / WORK_RATE))
        .collect();
    Beats {
        t_wave_ends: t_ends_from(&p, &r_peaks),
        r_peaks,
        template_correlation: correlation,
    }
}

/// R-peak positions (work-rate indices): the [`STANDARD`] reading, or, where it finds a heart
/// faster than 120 bpm or almost nothing, the [`FAST`] one if that finds more beats, nearly all
/// that its rate implies, at a rate faster than 120 bpm, with alike complexes. A lead read at
/// under 120 bpm keeps its first reading. With the fast reading's template correlations when
/// they were computed to accept it.
fn r_peak_indices(p: &Prepared) -> (Vec<usize>, Option<Vec<f32>>) {
    let first = qrs_positions_with(&p.mwi, &STANDARD);
    if rr_and_coverage(p, &first).is_some_and(|(rr, _)| rr.0 > FAST_RR) {
        return (r_peaks_at(p, &first), None);
    }
    let second = qrs_positions_with(&p.mwi, &FAST);
    let fast_and_full = rr_and_coverage(p, &second)
        .is_some_and(|(rr, coverage)| rr.0 <= FAST_RR && coverage >= FAST_COVERAGE);
    if second.len() > first.len() && fast_and_full {
        let peaks = r_peaks_at(p, &second);
        let correlation = template_correlations(&p.wide, &peaks);
        if median(correlation.clone()) >= FAST_ALIKE {
            return (peaks, Some(correlation));
        }
    }
    (r_peaks_at(p, &first), None)
}

/// The R peak of each QRS position: the largest deflection of the lead's dominant polarity
/// within 80 ms.
fn r_peaks_at(p: &Prepared, qrs: &[usize]) -> Vec<usize> {
    let half = (0.08 * WORK_RATE) as usize;
    let pol = polarity(&p.wide, qrs, half);
    let mut peaks: Vec<usize> = qrs
        .iter()
        .map(|&q| {
            let lo = q.saturating_sub(half);
            let hi = (q + half + 1).min(p.wide.len());
            (lo..hi)
                .max_by(|&a, &b| (pol * p.wide[a]).total_cmp(&(pol * p.wide[b])))
                .unwrap_or(q)
        })
        .collect();
    peaks.dedup();
    peaks
}

/// Per peak, the correlation of its QRS (50 ms before to 80 ms after, on `wide`) with the
/// average of all of them; 0 for a peak too near an edge to have one.
fn template_correlations(wide: &[f32], peaks: &[usize]) -> Vec<f32> {
    let before = (0.05 * WORK_RATE) as usize;
    let after = (0.08 * WORK_RATE) as usize;
    let len = before + after;
    let windows: Vec<Option<&[f32]>> = peaks
        .iter()
        .map(|&i| (i >= before && i + after <= wide.len()).then(|| &wide[i - before..i + after]))
        .collect();
    let mut template = vec![0.0f32; len];
    let mut count = 0;
    for w in windows.iter().flatten() {
        for (t, v) in template.iter_mut().zip(*w) {
            *t += v;
        }
        count += 1;
    }
    if count > 0 {
        for t in &mut template {
            *t /= count as f32;
        }
    }
    windows
        .iter()
        .map(|w| w.map_or(0.0, |w| crate::quality::pearson(w, &template)))
        .collect()
}

/// The median (the upper one of an even count) of `v`; 0 for none.
fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// The end of the T wave after each R peak (None when it cannot be placed, e.g. the last beat
/// with no room after it). `r_peaks` are in seconds, as given by [`detect_r_peaks`].
pub fn t_wave_ends(ecg: Signal<'_>, r_peaks: &[Seconds]) -> Vec<Option<Seconds>> {
    match prepare(ecg) {
        Some(p) => t_ends_from(&p, r_peaks),
        None => vec![None; r_peaks.len()],
    }
}

fn t_ends_from(p: &Prepared, r_peaks: &[Seconds]) -> Vec<Option<Seconds>> {
    // T waves live below ~15 Hz; smooth to suppress residual noise before the area indicator.
    let smooth = moving_average(&p.wide, (0.02 * WORK_RATE) as usize | 1);
    let fs = WORK_RATE;
    let n = smooth.len();
    let median_rr = median_rr(r_peaks).unwrap_or(Seconds(0.8)).0;
    r_peaks
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let rr = r_peaks
                .get(k + 1)
                .map_or(median_rr, |next| next.0 - r.0)
                .clamp(0.3, 2.0);
            let r_i = (r.0 * fs).round() as isize;
            if r_i < 0 {
                return None;
            }
            let r_i = r_i as usize;
            let t_lo = r_i + (0.1 * fs) as usize;
            let t_hi = (r_i + ((0.12 + 0.45 * rr).min(0.55) * fs) as usize).min(n);
            if t_lo + 2 >= t_hi {
                return None;
            }
            // Baseline: the isoelectric level just before the QRS (PR segment).
            let b_lo = r_i.saturating_sub((0.12 * fs) as usize);
            let b_hi = r_i
                .saturating_sub((0.06 * fs) as usize)
                .max(b_lo + 1)
                .min(n);
            let base = smooth[b_lo..b_hi].iter().sum::<f32>() / (b_hi - b_lo) as f32;
            let t_peak = (t_lo..t_hi).max_by(|&a, &b| {
                (smooth[a] - base)
                    .abs()
                    .total_cmp(&(smooth[b] - base).abs())
            })?;
            let sign = if smooth[t_peak] >= base { 1.0 } else { -1.0 };
            let w = (0.06 * fs) as usize;
            let end_hi = (t_peak + (0.25 * fs) as usize).min(n);
            // The area indicator of each candidate end, once; the last of equal maxima wins.
            let area = |k: usize| -> f32 {
                let lo = k.saturating_sub(w);
                sign * smooth[lo..=k].iter().map(|&s| s - smooth[k]).sum::<f32>()
            };
            let (t_end, _) = (t_peak + 1..end_hi)
                .map(|k| (k, area(k)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(Seconds(t_end as f64 / fs))
        })
        .collect()
}

/// The median RR interval of a peak train (None with fewer than two peaks).
pub fn median_rr(r_peaks: &[Seconds]) -> Option<Seconds> {
    let mut rr: Vec<f64> = r_peaks
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|v| *v > 0.0)
        .collect();
    if rr.is_empty() {
        return None;
    }
    rr.sort_by(f64::total_cmp);
    Some(Seconds(rr[rr.len() / 2]))
}

/// Heart rate from the median RR interval.
pub fn heart_rate_from_r_peaks(r_peaks: &[Seconds]) -> Option<Bpm> {
    median_rr(r_peaks).map(|rr| Bpm(60.0 / rr.0))
}

/// Expected Q-to-S2 interval at a heart rate (Weissler 1968: 546 − 2.1·HR ms), clamped to a
/// physiological range.
pub fn qs2_interval(hr: Bpm) -> Seconds {
    Seconds(((546.0 - 2.1 * hr.0) / 1000.0).clamp(0.2, 0.5))
}

/// A cheap check that an ECG carries beats: the fraction of 2 s blocks whose QRS energy peak
/// stands clear of the block median. Exposed for quality checks.
pub fn beat_evidence(ecg: Signal<'_>) -> f32 {
    let Some(p) = prepare(ecg) else {
        return 0.0;
    };
    let block = (2.0 * WORK_RATE) as usize;
    let means = block_mean(&p.mwi, block / 50);
    let per = 50;
    let blocks: Vec<&[f32]> = means.chunks(per).filter(|c| c.len() == per).collect();
    if blocks.is_empty() {
        return 0.0;
    }
    let clear = blocks
        .iter()
        .filter(|c| {
            let mut s = c.to_vec();
            s.sort_by(f32::total_cmp);
            let med = s[s.len() / 2];
            s[s.len() - 1] > 4.0 * med && s[s.len() - 1] > 0.0
        })
        .count();
    clear as f32 / blocks.len() as f32
}

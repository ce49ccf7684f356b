//! Per-phase mel-frequency cepstral coefficients (MFCCs) of the heart cycles (issue 8 §3, after
//! Potes et al. 2016 and the per-phase MFCCs of the PhysioNet 2016 benchmark features).
//!
//! For every accepted cycle and each of its four phases (S1, the trimmed systole, S2, the
//! trimmed diastole; [`crate::features::phase_windows`]) the phase is cut into Hann-windowed
//! frames of [`FRAME`] samples every [`HOP`], each frame's power spectrum (realfft, zero-padded to
//! [`NFFT`]) is summed into [`MEL_FILTERS`] triangular mel filters between [`MEL_LOW`] and
//! [`MEL_HIGH`], the log filter energies are averaged over the phase's frames, and a DCT-II
//! gives [`MFCC_COEFFS`] coefficients (the mean over frames of the frames' MFCCs: the DCT is
//! linear). The result is an `ndarray` `Array3<f32>`, cycles × phases × coefficients.
//!
//! Absolute MFCCs describe the stethoscope as much as the heart (its gain is c0, its frequency
//! response the low coefficients), so what the recording is judged on is *relative*: a phase's
//! MFCCs minus the mean of the same cycle's S1 and S2 MFCCs ([`CycleMfcc::relative`]). That is the
//! DCT of the log ratio, filter by filter, of the phase's energy to the heart sounds' energy in the
//! same mel band of the same cycle: a gain cancels exactly and a device's frequency response
//! cancels as far as it is flat across one mel filter. Pure: no I/O, no state between calls.

use std::cell::RefCell;

use ndarray::{Array2, Array3, ArrayView1, Axis};
use realfft::RealFftPlanner;

use crate::features::phase_windows;
use crate::model::Cycle;

/// Samples per frame at the analysis rate (64 ms at 1 kHz).
pub const FRAME: usize = 64;
/// Samples between frame starts (32 ms at 1 kHz: half-overlapping frames).
pub const HOP: usize = 32;
/// FFT length (frames are zero-padded to it: 7.8 Hz bins at 1 kHz).
pub const NFFT: usize = 128;
/// Triangular mel filters.
pub const MEL_FILTERS: usize = 20;
/// Cepstral coefficients kept (c0 the log energy, then c1, …).
pub const MFCC_COEFFS: usize = 13;
/// Lower edge of the filterbank (Hz), the PCG band's lower edge.
pub const MEL_LOW: f64 = 25.0;
/// Upper edge of the filterbank (Hz), capped at 0.45 × the rate.
pub const MEL_HIGH: f64 = 450.0;
/// Phases of a cycle along [`PHASE_AXIS`], in this order.
pub const PHASES: [Phase; 4] = [Phase::S1, Phase::Systole, Phase::S2, Phase::Diastole];

/// Axis of [`CycleMfcc::coeffs`]: the cycle.
pub const CYCLE_AXIS: Axis = Axis(0);
/// Axis of [`CycleMfcc::coeffs`]: the phase ([`PHASES`] order).
pub const PHASE_AXIS: Axis = Axis(1);
/// Axis of [`CycleMfcc::coeffs`]: the cepstral coefficient.
pub const COEFF_AXIS: Axis = Axis(2);

/// The shortest phase (samples) that gets coefficients: half a frame.
const MIN_PHASE: usize = FRAME / 2;

/// Floor added to filter energies before the log (the preprocessed PCG has unit scale).
const EPS: f64 = 1e-12;

thread_local! {
    static PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
}

/// A phase of the heart cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first heart sound.
    S1,
    /// Between S1 and S2 (trimmed).
    Systole,
    /// The second heart sound.
    S2,
    /// Between S2 and the next S1 (trimmed).
    Diastole,
}

impl Phase {
    /// Index along [`PHASE_AXIS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Triangular mel filters over the `NFFT / 2 + 1` bins: `MEL_FILTERS × bins`.
pub fn mel_filterbank(rate: f64) -> Array2<f32> {
    let bins = NFFT / 2 + 1;
    let (lo, hi) = (hz_to_mel(MEL_LOW), hz_to_mel(MEL_HIGH.min(0.45 * rate)));
    let edges: Vec<f64> = (0..MEL_FILTERS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (MEL_FILTERS + 1) as f64))
        .collect();
    let mut fb = Array2::zeros((MEL_FILTERS, bins));
    for m in 0..MEL_FILTERS {
        let (a, b, c) = (edges[m], edges[m + 1], edges[m + 2]);
        for k in 0..bins {
            let f = k as f64 * rate / NFFT as f64;
            let w = if f > a && f <= b {
                (f - a) / (b - a)
            } else if f > b && f < c {
                (c - f) / (c - b)
            } else {
                0.0
            };
            fb[[m, k]] = w as f32;
        }
    }
    fb
}

/// The orthonormal DCT-II, `MFCC_COEFFS × MEL_FILTERS`.
pub fn dct_matrix() -> Array2<f32> {
    let n = MEL_FILTERS as f64;
    Array2::from_shape_fn((MFCC_COEFFS, MEL_FILTERS), |(k, m)| {
        let scale = if k == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        (scale * (std::f64::consts::PI * k as f64 * (m as f64 + 0.5) / n).cos()) as f32
    })
}

/// The bins `[first, last]` each filter of a filterbank covers (its non-zero weights), so a
/// frame's filter energies cost a few bins per filter rather than every bin.
fn filter_spans(filterbank: &Array2<f32>) -> [(usize, usize); MEL_FILTERS] {
    let mut spans = [(0, 0); MEL_FILTERS];
    for (span, row) in spans.iter_mut().zip(filterbank.outer_iter()) {
        let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
        let last = row.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        *span = (first, last.max(first));
    }
    spans
}

/// The mean over frames of the log mel energies of `x` (`None` when shorter than half a frame).
/// A phase shorter than a frame is one frame of its own length.
pub fn log_mel(x: &[f32], filterbank: &Array2<f32>) -> Option<[f64; MEL_FILTERS]> {
    log_mel_spans(x, filterbank, &filter_spans(filterbank))
}

fn log_mel_spans(
    x: &[f32],
    filterbank: &Array2<f32>,
    spans: &[(usize, usize); MEL_FILTERS],
) -> Option<[f64; MEL_FILTERS]> {
    if x.len() < MIN_PHASE {
        return None;
    }
    let len = x.len().min(FRAME);
    let window: Vec<f32> = (0..len)
        .map(|i| {
            let p = std::f64::consts::PI * 2.0 * (i as f64 + 0.5) / len as f64;
            (0.5 - 0.5 * p.cos()) as f32
        })
        .collect();
    let norm: f64 = window.iter().map(|&w| (w as f64) * (w as f64)).sum();
    let fft = PLANNER.with(|p| p.borrow_mut().plan_fft_forward(NFFT));
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0f32; spectrum.len()];
    let mut acc = [0f64; MEL_FILTERS];
    let mut frames = 0usize;
    let mut start = 0;
    while start + len <= x.len() {
        input.iter_mut().for_each(|v| *v = 0.0);
        for ((o, &s), &w) in input.iter_mut().zip(&x[start..start + len]).zip(&window) {
            *o = s * w;
        }
        if fft
            .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .is_err()
        {
            return None;
        }
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for ((a, row), &(first, last)) in acc.iter_mut().zip(filterbank.outer_iter()).zip(spans) {
            let e: f64 = (first..=last)
                .map(|k| row[k] as f64 * power[k] as f64)
                .sum();
            *a += (e / norm + EPS).ln();
        }
        frames += 1;
        start += HOP;
    }
    for a in &mut acc {
        *a /= frames as f64;
    }
    Some(acc)
}

/// MFCCs of a vector of (mean) log mel energies.
fn cepstrum(log_mel: &[f64; MEL_FILTERS], dct: &Array2<f32>) -> [f32; MFCC_COEFFS] {
    let mut c = [0f32; MFCC_COEFFS];
    for (k, v) in c.iter_mut().enumerate() {
        *v = dct
            .row(k)
            .iter()
            .zip(log_mel)
            .map(|(&d, &l)| d as f64 * l)
            .sum::<f64>() as f32;
    }
    c
}

/// The per-phase MFCCs of a recording's accepted cycles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleMfcc {
    /// `cycles × PHASES × MFCC_COEFFS`: axes [`CYCLE_AXIS`], [`PHASE_AXIS`], [`COEFF_AXIS`].
    pub coeffs: Array3<f32>,
}

impl CycleMfcc {
    /// The MFCCs of every accepted cycle of `pcg` (sampled at `rate`) whose four phases are each
    /// at least half a frame long.
    pub fn of(pcg: &[f32], rate: f64, cycles: &[Cycle]) -> CycleMfcc {
        let fb = mel_filterbank(rate);
        let dct = dct_matrix();
        let spans = filter_spans(&fb);
        let span = |t0: f64, t1: f64| -> &[f32] {
            let n = pcg.len();
            let i0 = ((t0 * rate).round().max(0.0) as usize).min(n);
            let i1 = ((t1 * rate).round().max(0.0) as usize).min(n);
            &pcg[i0..i1.max(i0)]
        };
        let mut rows: Vec<[[f32; MFCC_COEFFS]; 4]> = Vec::new();
        'cycles: for c in cycles.iter().filter(|c| c.accepted) {
            let ((ss, se), (ds, de)) = phase_windows(c);
            let windows = [
                (c.s1.start.0, c.s1.end.0),
                (ss, se),
                (c.s2.start.0, c.s2.end.0),
                (ds, de),
            ];
            let mut row = [[0f32; MFCC_COEFFS]; 4];
            for (slot, (t0, t1)) in row.iter_mut().zip(windows) {
                match log_mel_spans(span(t0, t1), &fb, &spans) {
                    Some(l) => *slot = cepstrum(&l, &dct),
                    None => continue 'cycles,
                }
            }
            rows.push(row);
        }
        CycleMfcc {
            coeffs: Array3::from(rows),
        }
    }

    /// How many cycles there are.
    pub fn cycles(&self) -> usize {
        self.coeffs.len_of(CYCLE_AXIS)
    }

    /// One cycle's coefficients of one phase.
    pub fn at(&self, cycle: usize, phase: Phase) -> ArrayView1<'_, f32> {
        self.coeffs
            .index_axis(CYCLE_AXIS, cycle)
            .index_axis_move(Axis(0), phase.index())
    }

    /// A phase's MFCCs relative to the same cycle's heart sounds (minus the mean of its S1 and S2
    /// MFCCs): `cycles × MFCC_COEFFS`. Gain cancels exactly.
    pub fn relative(&self, phase: Phase) -> Array2<f32> {
        let n = self.cycles();
        Array2::from_shape_fn((n, MFCC_COEFFS), |(c, k)| {
            let p = self.coeffs[[c, phase.index(), k]];
            let s1 = self.coeffs[[c, Phase::S1.index(), k]];
            let s2 = self.coeffs[[c, Phase::S2.index(), k]];
            p - 0.5 * (s1 + s2)
        })
    }

    /// The median over cycles of [`CycleMfcc::relative`] coefficient `k` (NaN without cycles).
    pub fn median_relative(&self, phase: Phase, k: usize) -> f32 {
        crate::features::median(&mut self.relative(phase).column(k).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Interval;
    use crate::units::Seconds;

    const RATE: f64 = 1000.0;

    fn interval(a: f64, b: f64) -> Interval {
        Interval {
            start: Seconds(a),
            end: Seconds(b),
        }
    }

    /// One-second cycles: S1 at 0.0–0.1 s (60 Hz burst), S2 at 0.35–0.45 s (90 Hz burst), a
    /// quiet broadband floor, and optionally a 300 Hz tone inside the trimmed systole.
    fn signal(cycles: usize, systolic_tone: bool, gain: f32) -> (Vec<f32>, Vec<Cycle>) {
        let n = cycles * RATE as usize;
        let mut x = vec![0f32; n];
        let mut seed = 12345u64;
        let mut cs = Vec::new();
        for (i, v) in x.iter_mut().enumerate() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.02;
            let t = (i % RATE as usize) as f64 / RATE;
            let tt = i as f64 / RATE;
            let mut s = noise as f64;
            if t < 0.1 {
                s += (2.0 * std::f64::consts::PI * 60.0 * tt).sin();
            } else if (0.35..0.45).contains(&t) {
                s += 0.8 * (2.0 * std::f64::consts::PI * 90.0 * tt).sin();
            } else if systolic_tone && (0.13..0.32).contains(&t) {
                s += 0.3 * (2.0 * std::f64::consts::PI * 300.0 * tt).sin();
            }
            *v = gain * s as f32;
        }
        for c in 0..cycles {
            let o = c as f64;
            cs.push(Cycle {
                r_peak: None,
                s1: interval(o, o + 0.1),
                s2: interval(o + 0.35, o + 0.45),
                end: Seconds(o + 1.0),
                quality: 1.0,
                accepted: true,
            });
        }
        (x, cs)
    }

    #[test]
    fn shapes_and_filterbank() {
        let fb = mel_filterbank(RATE);
        assert_eq!(fb.dim(), (MEL_FILTERS, NFFT / 2 + 1));
        // Every filter covers at least one bin.
        for row in fb.outer_iter() {
            assert!(row.iter().any(|&w| w > 0.0));
        }
        let (x, cs) = signal(5, false, 1.0);
        let m = CycleMfcc::of(&x, RATE, &cs);
        assert_eq!(m.coeffs.dim(), (5, 4, MFCC_COEFFS));
        assert!(m.coeffs.iter().all(|v| v.is_finite()));
        // A too-short phase drops the cycle; no cycles gives NaN medians.
        let mut short = cs.clone();
        short[0].s1 = interval(0.0, 0.02);
        assert_eq!(CycleMfcc::of(&x, RATE, &short).cycles(), 4);
        let none = CycleMfcc::of(&x, RATE, &[]);
        assert_eq!(none.cycles(), 0);
        assert!(none.median_relative(Phase::Systole, 1).is_nan());
    }

    #[test]
    fn a_systolic_tone_moves_only_systolic_coefficients() {
        let (quiet, cs) = signal(6, false, 1.0);
        let (tone, _) = signal(6, true, 1.0);
        let a = CycleMfcc::of(&quiet, RATE, &cs);
        let b = CycleMfcc::of(&tone, RATE, &cs);
        for phase in [Phase::S1, Phase::S2, Phase::Diastole] {
            for c in 0..a.cycles() {
                for (x, y) in a.at(c, phase).iter().zip(b.at(c, phase)) {
                    assert!((x - y).abs() < 1e-4, "{phase:?}: {x} vs {y}");
                }
            }
        }
        // Systole: the tone raises its energy by orders of magnitude (c0) and changes its shape.
        let d0 = b.median_relative(Phase::Systole, 0) - a.median_relative(Phase::Systole, 0);
        assert!(d0 > 5.0, "c0 moved {d0}");
        let shape: f32 = (1..MFCC_COEFFS)
            .map(|k| {
                (b.median_relative(Phase::Systole, k) - a.median_relative(Phase::Systole, k)).abs()
            })
            .sum();
        assert!(shape > 5.0, "c1.. moved {shape}");
        // Diastole relative to the heart sounds is unchanged.
        for k in 0..MFCC_COEFFS {
            let (x, y) = (
                a.median_relative(Phase::Diastole, k),
                b.median_relative(Phase::Diastole, k),
            );
            assert!((x - y).abs() < 1e-4);
        }
    }

    #[test]
    fn relative_coefficients_ignore_gain_absolute_c0_does_not() {
        let (x, cs) = signal(5, true, 1.0);
        let (y, _) = signal(5, true, 10.0);
        let a = CycleMfcc::of(&x, RATE, &cs);
        let b = CycleMfcc::of(&y, RATE, &cs);
        // Absolute c0 moves by ln(100) · sqrt(MEL_FILTERS).
        let moved = b.at(0, Phase::Systole)[0] - a.at(0, Phase::Systole)[0];
        let expected = (100f32).ln() * (MEL_FILTERS as f32).sqrt();
        assert!((moved - expected).abs() < 0.01, "{moved} vs {expected}");
        for phase in [Phase::Systole, Phase::Diastole] {
            for k in 0..MFCC_COEFFS {
                let (p, q) = (a.median_relative(phase, k), b.median_relative(phase, k));
                assert!((p - q).abs() < 1e-3, "{phase:?} c{k}: {p} vs {q}");
            }
        }
    }
}

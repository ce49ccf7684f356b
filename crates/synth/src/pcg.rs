//! The clean phonocardiogram: where each heart sound goes relative to the ECG (the cycle plan), the
//! sounds themselves as damped multi-component transients, and the murmurs as band-limited noise
//! under a per-cycle envelope.
//!
//! Timing (see `shared/DOMAIN.md`): S1 onset at the R peak plus a small lag; S2 onset at
//! Q onset + QS2, with QS2 = 546 − 2.1·HR ms (Weissler) and Q onset taken 40 ms before the R peak;
//! S1 ≈ 122 ± 12 ms, S2 ≈ 94 ± 10 ms.

use std::f64::consts::PI;

use rand_chacha::ChaCha8Rng;

use crate::config::{MurmurKind, MurmurSpec, Rhythm, SynthConfig};
use crate::filter::{Cascade, normalise_rms};
use crate::model::Heart;
use crate::rng::{gauss, uniform};
use crate::truth::BeatKind;

/// Q onset before the R peak, seconds.
const Q_ONSET_BEFORE_R: f64 = 0.040;

/// Spectral modes of a transient: (frequency ratio to the fundamental, weight).
type Modes = &'static [(f64, f64)];

const S1_MODES: Modes = &[(1.0, 1.0), (1.9, 0.45), (0.6, 0.35)];
const S2_MODES: Modes = &[(1.0, 1.0), (1.7, 0.5), (2.6, 0.2)];
const GALLOP_MODES: Modes = &[(1.0, 1.0), (1.5, 0.3)];
const CLICK_MODES: Modes = &[(1.0, 1.0), (1.6, 0.5)];

/// A damped oscillation under a beta-shaped window that is zero outside `[start, start + len]`:
/// fast attack, slower decay, a slight downward chirp.
#[derive(Debug, Clone, Copy)]
struct Transient {
    start: f64,
    len: f64,
    amp: f64,
    freq: f64,
    modes: Modes,
    phase: f64,
}

impl Transient {
    const ATTACK: f64 = 2.2;
    const DECAY: f64 = 3.2;
    const CHIRP: f64 = 0.2;

    fn render(&self, out: &mut [f64], rate: f64) {
        let i0 = (self.start * rate).ceil().max(0.0) as usize;
        let i1 = (((self.start + self.len) * rate).floor().max(0.0) as usize).min(out.len());
        let mode = (Self::ATTACK - 1.0) / (Self::ATTACK + Self::DECAY - 2.0);
        for (i, v) in out.iter_mut().enumerate().take(i1).skip(i0) {
            let tau = i as f64 / rate - self.start;
            let u = (tau / self.len).clamp(0.0, 1.0);
            let w = (u / mode).powf(Self::ATTACK - 1.0)
                * ((1.0 - u) / (1.0 - mode)).powf(Self::DECAY - 1.0);
            let warped = tau - Self::CHIRP * tau * tau / (2.0 * self.len);
            let carrier: f64 = self
                .modes
                .iter()
                .enumerate()
                .map(|(m, (ratio, weight))| {
                    weight
                        * (2.0 * PI * self.freq * ratio * warped + self.phase * (m + 1) as f64)
                            .sin()
                })
                .sum();
            *v += self.amp * w * carrier;
        }
    }
}

/// Where the sounds of one cycle go.
#[derive(Debug, Clone)]
pub(crate) struct CyclePlan {
    /// Index of the beat that opens the cycle.
    pub(crate) beat: usize,
    pub(crate) s1: (f64, f64),
    pub(crate) s2: (f64, f64),
    pub(crate) s3: Option<(f64, f64)>,
    pub(crate) s4: Option<(f64, f64)>,
    pub(crate) click: Option<f64>,
    pub(crate) opening_snap: Option<f64>,
    pub(crate) murmur: Option<(f64, f64)>,
    s1_amp: f64,
    s2_amp: f64,
    split: f64,
}

/// The cycle plans of every beat that has a successor, in time order.
pub(crate) fn plan_cycles(
    cfg: &SynthConfig,
    heart: &Heart,
    rng: &mut ChaCha8Rng,
) -> Vec<CyclePlan> {
    let beats = &heart.beats;
    let lag = cfg.s1_lag_s.unwrap_or_else(|| uniform(rng, 0.0, 0.020));
    let s1_onsets: Vec<f64> = heart
        .r_peaks
        .iter()
        .map(|r| r + lag + (0.004 * gauss(rng)).clamp(-0.008, 0.008))
        .collect();
    let mut plans = Vec::with_capacity(beats.len());
    for k in 0..beats.len().saturating_sub(1) {
        let r = heart.r_peaks[k];
        let rr = beats[k + 1].t - beats[k].t;
        let next_s1 = s1_onsets[k + 1];
        let hr = 60.0 / rr;
        let d1 = (0.122 + 0.012 * gauss(rng)).clamp(0.09, 0.16);
        let d2 = (0.094 + 0.010 * gauss(rng)).clamp(0.07, 0.13);
        let s1 = (s1_onsets[k], s1_onsets[k] + d1);
        let qs2 = (546.0 - 2.1 * hr) / 1000.0;
        let s2_on = (r - Q_ONSET_BEFORE_R + qs2 + 0.004 * gauss(rng))
            .max(s1.1 + 0.04)
            .min(next_s1 - d2 - 0.02);
        let s2 = (s2_on, s2_on + d2);
        let insp = heart.resp.inspiration(s2_on);
        let split = (0.015 + 0.030 * insp).min(0.5 * d2);
        let damping = 1.0 - 0.1 * heart.resp.inspiration(s1.0);

        let (mut s1_amp, mut s2_amp) = match beats[k].kind {
            BeatKind::Normal => (1.0, 0.75),
            BeatKind::Ventricular => (0.6, 0.4),
        };
        if cfg.rhythm == Rhythm::AtrialFibrillation && k > 0 {
            // A short filling time leaves the mitral leaflets wide open: a louder S1.
            let rr_prev = beats[k].t - beats[k - 1].t;
            s1_amp *= (heart.mean_rr / rr_prev).sqrt().clamp(0.6, 1.5);
        }
        s1_amp *= damping * uniform(rng, 0.9, 1.1);
        s2_amp *= damping * uniform(rng, 0.9, 1.1);

        let mut plan = CyclePlan {
            beat: k,
            s1,
            s2,
            s3: None,
            s4: None,
            click: None,
            opening_snap: None,
            murmur: None,
            s1_amp,
            s2_amp,
            split,
        };
        if cfg.extra_sounds.s3 {
            let start = s2_on + uniform(rng, 0.12, 0.16);
            let span = (start, start + 0.045);
            if span.1 < next_s1 - 0.06 {
                plan.s3 = Some(span);
            }
        }
        let next_conducted = beats[k + 1].kind == BeatKind::Normal;
        if cfg.extra_sounds.s4 && cfg.rhythm == Rhythm::Sinus && next_conducted {
            let span = (next_s1 - 0.10, next_s1 - 0.055);
            let after = plan.s3.map_or(s2.1, |s3| s3.1) + 0.04;
            if span.0 > after {
                plan.s4 = Some(span);
            }
        }
        if let Some(m) = cfg.murmur {
            place_murmur(&mut plan, m.kind, m.grade, next_s1);
        }
        plans.push(plan);
    }
    plans
}

/// Set the murmur span (and click or opening snap) of one cycle; leave it empty when the phase is
/// too short to hold it.
fn place_murmur(plan: &mut CyclePlan, kind: MurmurKind, grade: u8, next_s1: f64) {
    let (s1, s2) = (plan.s1, plan.s2);
    let span = match kind {
        MurmurKind::AorticStenosis => (s1.1 + 0.005, s2.0 - 0.015),
        MurmurKind::MitralRegurgitation => (s1.0 + 0.025, s2.0 + 0.01),
        MurmurKind::AorticRegurgitation => {
            let start = s2.0 + 0.015;
            (start, start + 0.6 * (next_s1 - start))
        }
        MurmurKind::MitralStenosis => {
            // A2–opening-snap interval shortens as stenosis worsens.
            let os = s2.0 + 0.10 - 0.006 * f64::from(grade);
            if os + 0.02 < next_s1 - 0.1 {
                plan.opening_snap = Some(os + 0.01);
            }
            (os + 0.03, next_s1 - 0.005)
        }
        MurmurKind::MitralValveProlapse => {
            let click = s1.1 + 0.45 * (s2.0 - s1.1);
            if click > s1.1 + 0.015 && click + 0.03 < s2.0 - 0.04 {
                plan.click = Some(click);
            }
            (click + 0.02, s2.0 + 0.005)
        }
    };
    if span.1 - span.0 >= 0.05
        && plan.opening_snap.is_some() == (kind == MurmurKind::MitralStenosis)
        && plan.click.is_some() == (kind == MurmurKind::MitralValveProlapse)
    {
        plan.murmur = Some(span);
    }
}

/// Render S1, S2 (A2 and P2), S3, S4, clicks and opening snaps.
pub(crate) fn render_sounds(
    plans: &[CyclePlan],
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut out = vec![0.0; n];
    let phase = |rng: &mut ChaCha8Rng| uniform(rng, 0.0, 2.0 * PI);
    for p in plans {
        let (s1, s2) = (p.s1, p.s2);
        let d1 = s1.1 - s1.0;
        let f1 = uniform(rng, 40.0, 60.0);
        let m1 = Transient {
            start: s1.0,
            len: 0.6 * d1,
            amp: p.s1_amp,
            freq: f1,
            modes: S1_MODES,
            phase: phase(rng),
        };
        let t1 = Transient {
            start: s1.0 + 0.25 * d1,
            len: 0.75 * d1,
            amp: 0.6 * p.s1_amp,
            freq: 0.85 * f1,
            modes: S1_MODES,
            phase: phase(rng),
        };
        let d2 = s2.1 - s2.0;
        let f2 = uniform(rng, 60.0, 90.0);
        let a2 = Transient {
            start: s2.0,
            len: (d2 - p.split).max(0.6 * d2),
            amp: p.s2_amp,
            freq: f2,
            modes: S2_MODES,
            phase: phase(rng),
        };
        let p2 = Transient {
            start: s2.0 + p.split,
            len: d2 - p.split,
            amp: 0.5 * p.s2_amp,
            freq: 0.85 * f2,
            modes: S2_MODES,
            phase: phase(rng),
        };
        for t in [m1, t1, a2, p2] {
            t.render(&mut out, rate);
        }
        for (span, amp) in [(p.s3, 0.45), (p.s4, 0.4)] {
            if let Some((start, end)) = span {
                Transient {
                    start,
                    len: end - start,
                    amp: amp * p.s1_amp,
                    freq: uniform(rng, 22.0, 35.0),
                    modes: GALLOP_MODES,
                    phase: phase(rng),
                }
                .render(&mut out, rate);
            }
        }
        for (centre, amp, lo, hi, len) in [
            (p.click, 0.5, 150.0, 250.0, 0.012),
            (p.opening_snap, 0.6, 90.0, 140.0, 0.02),
        ] {
            if let Some(c) = centre {
                Transient {
                    start: c - len / 2.0,
                    len,
                    amp: amp * p.s1_amp,
                    freq: uniform(rng, lo, hi),
                    modes: CLICK_MODES,
                    phase: phase(rng),
                }
                .render(&mut out, rate);
            }
        }
    }
    out
}

/// The murmur's envelope at position `u` (0..1) of its span.
fn envelope(kind: MurmurKind, grade: u8, rhythm: Rhythm, u: f64, span_s: f64) -> f64 {
    // Short linear ramps at both ends keep the noise from clicking on and off.
    let ramp = |u: f64, ms: f64| (u * span_s / (ms / 1000.0)).min(1.0);
    let edges = ramp(u, 8.0).min(ramp(1.0 - u, 8.0));
    let shape = match kind {
        MurmurKind::AorticStenosis => {
            // The peak moves later as stenosis worsens.
            let peak = 0.4 + 0.04 * f64::from(grade.saturating_sub(1));
            if u < peak {
                (u / peak).powf(1.3)
            } else {
                ((1.0 - u) / (1.0 - peak)).powf(1.3)
            }
        }
        MurmurKind::MitralRegurgitation => ramp(u, 15.0).min(ramp(1.0 - u, 15.0)),
        MurmurKind::AorticRegurgitation => ramp(u, 20.0) * (1.0 - u).powf(1.5),
        MurmurKind::MitralStenosis => {
            let rumble = 0.3 + 0.6 * (-u / 0.2).exp();
            if rhythm == Rhythm::Sinus && u > 0.65 {
                rumble.max(((u - 0.65) / 0.35).powf(1.2))
            } else {
                rumble
            }
        }
        MurmurKind::MitralValveProlapse => 0.2 + 0.8 * u.powf(1.2),
    };
    shape * edges
}

/// Render the murmur, scaled so its RMS at the envelope's peak is `relative_amplitude × s1_rms`.
pub(crate) fn render_murmur(
    plans: &[CyclePlan],
    spec: MurmurSpec,
    rhythm: Rhythm,
    s1_rms: f64,
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let (lo, hi) = spec.kind.band_hz();
    let mut band = Cascade::band_pass(lo, hi.min(0.45 * rate), rate);
    let mut carrier: Vec<f64> = (0..n).map(|_| band.step(gauss(rng))).collect();
    normalise_rms(&mut carrier);
    let gain = spec.relative_amplitude() * s1_rms;
    let mut out = vec![0.0; n];
    for (start, end) in plans.iter().filter_map(|p| p.murmur) {
        let i0 = (start * rate).ceil().max(0.0) as usize;
        let i1 = ((end * rate).floor().max(0.0) as usize).min(n);
        for i in i0..i1 {
            let u = (i as f64 / rate - start) / (end - start);
            out[i] = gain * envelope(spec.kind, spec.grade, rhythm, u, end - start) * carrier[i];
        }
    }
    out
}

//! The ECG: McSharry's ECGSYN wave model (P, Q, R, S, T as Gaussian terms in the phase of a limit
//! cycle) driven by the beat sequence, plus lead options (inversion, baseline wander, mains hum, EMG)
//! and fibrillatory waves in AF.
//!
//! On the limit cycle the trajectory's radius is 1 and only its phase θ(t) matters; ECGSYN's
//! `dz/dt = −Σ aᵢ Δθᵢ exp(−Δθᵢ²/2bᵢ²)`, taken per unit phase, has the closed form
//! `z(θ) = Σ aᵢ bᵢ² exp(−Δθᵢ²/2bᵢ²)`, which is evaluated directly: exact, and free of integration drift.
//! The phase runs linearly from one beat's zero crossing (the R wave) to the next.
//!
//! One departure from ECGSYN: its T wave sits at a fixed phase, so QT would scale with the whole
//! RR interval and the T wave would end after S2 at slow rates. Here each beat's T wave is placed
//! in time from a Bazett QT (`QT = QTc·√RR`), which keeps the T-wave end a few tens of ms before
//! S2 as in real recordings.

use std::f64::consts::PI;

use rand_chacha::ChaCha8Rng;

use crate::config::{EcgOptions, Rhythm};
use crate::filter::{Cascade, normalise_rms};
use crate::model::Heart;
use crate::rhythm::Beat;
use crate::rng::{gauss, uniform};
use crate::truth::BeatKind;

/// One Gaussian wave: its phase, weight and width (radians).
#[derive(Debug, Clone, Copy)]
struct Wave {
    theta: f64,
    a: f64,
    b: f64,
}

/// Where one beat's T wave sits, in the phase of the interval that follows its R wave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TWave {
    theta: f64,
    b: f64,
}

impl TWave {
    /// The T wave of a beat of `kind` followed by an interval of `interval` s, for a QTc of `qtc` s.
    /// Returns it with the time from the beat's zero phase to the T-wave end (peak + 2σ).
    pub(crate) fn place(kind: BeatKind, interval: f64, qtc: f64) -> (Self, f64) {
        let (widen, longer) = match kind {
            BeatKind::Normal => (1.0, 0.0),
            BeatKind::Ventricular => (1.2, 0.04),
        };
        let sigma = 0.05 * interval.sqrt() * widen;
        // QT runs from Q onset, 40 ms before the R wave.
        let mut end = qtc * interval.sqrt() + longer - 0.04;
        // The T wave must finish before the phase is handed to the next beat (half the interval).
        end = end.min(0.45 * interval);
        let sigma = sigma.min(end / 4.0);
        let to_phase = 2.0 * PI / interval;
        let t = TWave {
            theta: (end - 2.0 * sigma) * to_phase,
            b: sigma * to_phase,
        };
        (t, end)
    }
}

/// The five waves of one beat morphology, scaled so its R peak is `r_mv`. The T wave's amplitude
/// is here; its place comes per beat from a [`TWave`].
#[derive(Debug, Clone)]
pub(crate) struct Morphology {
    waves: [Wave; 5],
    scale: f64,
    /// Phase of the R-peak extremum (close to, not exactly, 0).
    pub(crate) r_theta: f64,
}

impl Morphology {
    /// ECGSYN's normal-beat parameters with its heart-rate scaling (`hrfact = √(HR/60)`).
    fn new(kind: BeatKind, rhythm: Rhythm, mean_hr: f64, r_mv: f64) -> Self {
        let hrfact = (mean_hr / 60.0).sqrt();
        let hrfact2 = hrfact.sqrt();
        let p_amp = if rhythm == Rhythm::AtrialFibrillation {
            0.0
        } else {
            1.2
        };
        let raw = match kind {
            BeatKind::Normal => [
                (-PI / 3.0 * hrfact2, p_amp, 0.25),
                (-PI / 12.0 * hrfact, -5.0, 0.1),
                (0.0, 30.0, 0.1),
                (PI / 12.0 * hrfact, -7.5, 0.1),
                (PI / 2.0, 0.75, 0.4),
            ],
            // Wide, bizarre QRS without a P wave and with a discordant T wave.
            BeatKind::Ventricular => [
                (-PI / 3.0, 0.0, 0.25),
                (-PI / 10.0 * hrfact, -2.0, 0.15),
                (0.0, 14.0, 0.24),
                (PI / 7.0 * hrfact, -10.0, 0.2),
                (PI / 2.0, -0.9, 0.45),
            ],
        };
        let waves = raw.map(|(theta, a, b)| Wave {
            theta,
            a,
            b: b * hrfact,
        });
        let mut m = Self {
            waves,
            scale: 1.0,
            r_theta: 0.0,
        };
        let template_t = TWave {
            theta: m.waves[4].theta,
            b: m.waves[4].b,
        };
        // Locate the R extremum finely; scale to the requested amplitude.
        let (mut best, mut best_z) = (0.0, f64::MIN);
        for i in 0..=6000 {
            let theta = -0.3 + 0.6 * i as f64 / 6000.0;
            let z = m.z(theta, template_t);
            if z > best_z {
                best = theta;
                best_z = z;
            }
        }
        m.r_theta = best;
        m.scale = if best_z > 0.0 { r_mv / best_z } else { 1.0 };
        m
    }

    /// The wave sum at phase `theta` (radians, any range) with the T wave at `t`, in mV.
    pub(crate) fn z(&self, theta: f64, t: TWave) -> f64 {
        let [p, q, r, s, t_template] = self.waves;
        let placed_t = Wave {
            theta: t.theta,
            a: t_template.a,
            b: t.b,
        };
        self.scale
            * [p, q, r, s, placed_t]
                .iter()
                .filter(|w| w.a != 0.0)
                .map(|w| {
                    let d = wrap(theta - w.theta);
                    w.a * w.b * w.b * (-d * d / (2.0 * w.b * w.b)).exp()
                })
                .sum::<f64>()
    }
}

/// Wrap an angle into (−π, π].
fn wrap(x: f64) -> f64 {
    let y = (x + PI).rem_euclid(2.0 * PI) - PI;
    if y <= -PI { y + 2.0 * PI } else { y }
}

/// The morphologies of one recording.
#[derive(Debug, Clone)]
pub(crate) struct Morphologies {
    normal: Morphology,
    ventricular: Morphology,
}

impl Morphologies {
    pub(crate) fn new(rhythm: Rhythm, mean_hr: f64, rng: &mut ChaCha8Rng) -> Self {
        let r_mv = 1.2 * uniform(rng, 0.8, 1.2);
        Self {
            normal: Morphology::new(BeatKind::Normal, rhythm, mean_hr, r_mv),
            ventricular: Morphology::new(BeatKind::Ventricular, rhythm, mean_hr, 1.5 * r_mv),
        }
    }

    pub(crate) fn of(&self, kind: BeatKind) -> &Morphology {
        match kind {
            BeatKind::Normal => &self.normal,
            BeatKind::Ventricular => &self.ventricular,
        }
    }
}

/// Phase position of time `t` among the beats: the beat whose morphology applies and the phase.
/// In the interval between beats k and k+1 the first half belongs to beat k (θ from 0 to π) and the
/// second half to beat k+1 (θ from −π to 0), so each beat's P wave sits before its own R wave.
fn phase_at(beats: &[Beat], k: usize, t: f64) -> (usize, f64) {
    let (t0, t1) = (beats[k].t, beats[k + 1].t);
    let frac = (t - t0) / (t1 - t0);
    if frac < 0.5 {
        (k, 2.0 * PI * frac)
    } else {
        (k + 1, 2.0 * PI * (frac - 1.0))
    }
}

/// The time at phase `theta` of beat `k` (positive phases after it, negative before it).
pub(crate) fn time_at_phase(beats: &[Beat], k: usize, theta: f64) -> f64 {
    let b = beats[k].t;
    if theta >= 0.0 {
        let next = beats.get(k + 1).map_or(b + 1.0, |n| n.t);
        b + theta / (2.0 * PI) * (next - b)
    } else {
        let prev = if k > 0 { beats[k - 1].t } else { b - 1.0 };
        b + theta / (2.0 * PI) * (b - prev)
    }
}

/// Render the ECG at `rate` for `n` samples, lead options applied, in mV.
pub(crate) fn render(
    heart: &Heart,
    options: &EcgOptions,
    n: usize,
    rate: f64,
    ecg_rng: &mut ChaCha8Rng,
    noise_rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let (beats, morph, resp) = (&heart.beats, &heart.morph, &heart.resp);
    let mut out = vec![0.0f64; n];
    let mut k = 0;
    for (i, v) in out.iter_mut().enumerate() {
        let t = i as f64 / rate;
        while k + 2 < beats.len() && beats[k + 1].t <= t {
            k += 1;
        }
        if k + 1 >= beats.len() {
            break;
        }
        let (owner, theta) = phase_at(beats, k, t);
        *v = morph.of(beats[owner].kind).z(theta, heart.t_waves[owner]);
    }

    if heart.rhythm == Rhythm::AtrialFibrillation {
        // Fibrillatory waves: 4–9 Hz, wandering frequency and amplitude.
        let f0 = uniform(ecg_rng, 5.0, 7.5);
        let a0 = uniform(ecg_rng, 0.03, 0.07);
        let (wf, wa) = (
            uniform(ecg_rng, 0.0, 2.0 * PI),
            uniform(ecg_rng, 0.0, 2.0 * PI),
        );
        let mut phase = uniform(ecg_rng, 0.0, 2.0 * PI);
        for (i, v) in out.iter_mut().enumerate() {
            let t = i as f64 / rate;
            let f = f0 * (1.0 + 0.15 * (2.0 * PI * 0.13 * t + wf).sin());
            phase += 2.0 * PI * f / rate;
            *v += a0 * (1.0 + 0.4 * (2.0 * PI * 0.3 * t + wa).sin()) * phase.sin();
        }
    }

    if options.baseline_wander_mv > 0.0 {
        let drift_f = uniform(noise_rng, 0.02, 0.06);
        let drift_phase = uniform(noise_rng, 0.0, 2.0 * PI);
        for (i, v) in out.iter_mut().enumerate() {
            let t = i as f64 / rate;
            *v += options.baseline_wander_mv
                * (0.7 * resp.sinusoid(t) + 0.3 * (2.0 * PI * drift_f * t + drift_phase).sin());
        }
    }
    if let Some(mains) = options.mains_hz {
        let phase = uniform(noise_rng, 0.0, 2.0 * PI);
        for (i, v) in out.iter_mut().enumerate() {
            let t = i as f64 / rate;
            let mut hum = (2.0 * PI * mains * t + phase).sin();
            if 3.0 * mains < rate / 2.0 {
                hum += 0.2 * (2.0 * PI * 3.0 * mains * t + 3.0 * phase).sin();
            }
            *v += options.mains_mv * hum;
        }
    }
    if options.emg_mv > 0.0 {
        let mut band = Cascade::band_pass(20.0, 150.0f64.min(0.45 * rate), rate);
        let mut emg: Vec<f64> = (0..n).map(|_| band.step(gauss(noise_rng))).collect();
        normalise_rms(&mut emg);
        for (v, e) in out.iter_mut().zip(&emg) {
            *v += options.emg_mv * e;
        }
    }
    let sign = if options.inverted { -1.0 } else { 1.0 };
    out.into_iter().map(|v| (sign * v) as f32).collect()
}

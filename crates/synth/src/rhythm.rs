//! The beat sequence: an RR tachogram with respiratory sinus arrhythmia and Mayer waves (after
//! McSharry et al. 2003), or an AF-like irregular rhythm, with optional premature ventricular beats;
//! and the respiration that drives RSA, S2 splitting and breath sounds.

use std::f64::consts::PI;

use rand_chacha::ChaCha8Rng;

use crate::config::{Rhythm, SynthConfig};
use crate::rng::{gauss, uniform};
use crate::truth::BeatKind;

/// Fraction of the breathing cycle spent in inspiration.
const INSPIRATION_FRACTION: f64 = 0.4;

/// Respiration: a fixed-rate breathing cycle with a random starting phase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Respiration {
    freq_hz: f64,
    phase0: f64,
}

impl Respiration {
    pub(crate) fn new(resp_rate_bpm: f64, rng: &mut ChaCha8Rng) -> Self {
        Self {
            freq_hz: resp_rate_bpm / 60.0,
            phase0: uniform(rng, 0.0, 1.0),
        }
    }

    /// Position in the breathing cycle, 0..1, inspiration first.
    pub(crate) fn position(&self, t: f64) -> f64 {
        (self.freq_hz * t + self.phase0).rem_euclid(1.0)
    }

    /// Inspiratory drive, 0 (expiration) to 1 (mid-inspiration), smooth.
    pub(crate) fn inspiration(&self, t: f64) -> f64 {
        let u = self.position(t);
        if u < INSPIRATION_FRACTION {
            (PI * u / INSPIRATION_FRACTION).sin().powi(2)
        } else {
            0.0
        }
    }

    /// Airflow loudness for breath sounds: full in inspiration, half in expiration.
    pub(crate) fn airflow(&self, t: f64) -> f64 {
        let u = self.position(t);
        if u < INSPIRATION_FRACTION {
            (PI * u / INSPIRATION_FRACTION).sin().powi(2)
        } else {
            0.5 * (PI * (u - INSPIRATION_FRACTION) / (1.0 - INSPIRATION_FRACTION))
                .sin()
                .powi(2)
        }
    }

    /// A sinusoid in phase with breathing (for RSA and baseline wander), −1..1, peaking mid-inspiration.
    pub(crate) fn sinusoid(&self, t: f64) -> f64 {
        (2.0 * PI * (self.position(t) - INSPIRATION_FRACTION / 2.0) + PI / 2.0).sin()
    }
}

/// One beat: the time its phase crosses zero (the R wave's centre) and its kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Beat {
    pub(crate) t: f64,
    pub(crate) kind: BeatKind,
}

/// Mayer waves: a narrow-band process around 0.1 Hz made of random-phase sinusoids.
struct Mayer {
    components: Vec<(f64, f64)>,
    amplitude: f64,
}

impl Mayer {
    const COMPONENTS: usize = 16;

    fn new(sd: f64, rng: &mut ChaCha8Rng) -> Self {
        let components = (0..Self::COMPONENTS)
            .map(|_| {
                let f = (0.1 + 0.015 * gauss(rng)).max(0.03);
                (f, uniform(rng, 0.0, 2.0 * PI))
            })
            .collect();
        Self {
            components,
            amplitude: sd * (2.0 / Self::COMPONENTS as f64).sqrt(),
        }
    }

    fn at(&self, t: f64) -> f64 {
        self.amplitude
            * self
                .components
                .iter()
                .map(|(f, phi)| (2.0 * PI * f * t + phi).cos())
                .sum::<f64>()
    }
}

/// The beat times from before 0 (so the first cycle at t = 0 is complete on the ECG) to beyond the end.
pub(crate) fn beats(cfg: &SynthConfig, resp: &Respiration, rng: &mut ChaCha8Rng) -> Vec<Beat> {
    let rr0 = 60.0 / cfg.heart_rate_bpm;
    // SD of RR from SD of HR: dRR = 60 dHR / HR².
    let rr_sd = 60.0 * cfg.hrv_sd_bpm / (cfg.heart_rate_bpm * cfg.heart_rate_bpm);
    let hf_amp = rr_sd * (2.0f64 / 3.0).sqrt() * std::f64::consts::SQRT_2;
    let mayer = Mayer::new(rr_sd / 3.0f64.sqrt(), rng);
    let next_rr = |t: f64, rng: &mut ChaCha8Rng| -> f64 {
        let rr = match cfg.rhythm {
            Rhythm::Sinus => rr0 - hf_amp * resp.sinusoid(t) + mayer.at(t) + 0.002 * gauss(rng),
            Rhythm::AtrialFibrillation => rr0 * (0.2 * gauss(rng) - 0.02).exp(),
        };
        rr.clamp(0.28, 2.5)
    };

    let mut out = Vec::new();
    let mut t = -uniform(rng, 1.0, 2.0) * rr0;
    let mut previous_ectopic = true;
    let end = cfg.duration_s + 2.5;
    while t < end {
        out.push(Beat {
            t,
            kind: BeatKind::Normal,
        });
        let rr = next_rr(t, rng);
        let ectopic = !previous_ectopic && uniform(rng, 0.0, 1.0) < cfg.ectopic_probability;
        if ectopic {
            let coupling = uniform(rng, 0.55, 0.7) * rr;
            out.push(Beat {
                t: t + coupling,
                kind: BeatKind::Ventricular,
            });
            // Full compensatory pause: the next sinus beat comes when it would have.
            t += 2.0 * rr;
        } else {
            t += rr;
        }
        previous_ectopic = ectopic;
    }
    out
}

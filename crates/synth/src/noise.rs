//! Noise that real stethoscope recordings carry: white noise, friction bursts, speech, breath
//! sounds and spikes. Each generator returns its own signal (and the events it placed) so the
//! caller sets levels relative to the clean heart sounds.

use std::f64::consts::PI;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::filter::{Biquad, Cascade, normalise_rms, rms};
use crate::rhythm::Respiration;
use crate::rng::{exponential, gauss, uniform};
use crate::truth::{NoiseEvent, NoiseKind};

/// Vowel formants (F1, F2, F3), Hz, after Peterson & Barney's adult male averages.
const VOWELS: [(f64, f64, f64); 5] = [
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (300.0, 870.0, 2240.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
];

/// White Gaussian noise with standard deviation `sd`.
pub(crate) fn white(n: usize, sd: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n).map(|_| sd * gauss(rng)).collect()
}

/// Start times of a Poisson process of `per_min` events over `duration` seconds, each event lasting
/// up to `max_len` so it ends inside the recording.
fn poisson_starts(per_min: f64, duration: f64, max_len: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut out = Vec::new();
    let mut t = exponential(rng, per_min / 60.0);
    while t + max_len < duration {
        out.push(t);
        t += max_len + exponential(rng, per_min / 60.0);
    }
    out
}

/// Friction bursts: broadband, high-passed noise in a few decaying sub-bursts, peak `peak`.
pub(crate) fn friction(
    per_min: f64,
    peak: f64,
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
    events: &mut Vec<NoiseEvent>,
) -> Vec<f64> {
    let duration = n as f64 / rate;
    let mut out = vec![0.0; n];
    for start in poisson_starts(per_min, duration, 0.4, rng) {
        let len = uniform(rng, 0.05, 0.4);
        let i0 = (start * rate) as usize;
        let i1 = (((start + len) * rate) as usize).min(n);
        let mut hp = Cascade::band_pass(150.0, 0.45 * rate, rate);
        let subs = 2 + (uniform(rng, 0.0, 5.0) as usize);
        let onsets: Vec<(f64, f64)> = (0..subs)
            .map(|_| (uniform(rng, 0.0, 0.8 * len), uniform(rng, 0.01, 0.05)))
            .collect();
        let mut burst: Vec<f64> = (i0..i1)
            .map(|i| {
                let tau = i as f64 / rate - start;
                let env: f64 = onsets
                    .iter()
                    .filter(|(on, _)| tau >= *on)
                    .map(|(on, decay)| (-(tau - on) / decay).exp())
                    .sum();
                env * hp.step(gauss(rng))
            })
            .collect();
        let max = burst.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if max > 0.0 {
            burst.iter_mut().for_each(|v| *v *= peak / max);
        }
        for (o, b) in out[i0..i1].iter_mut().zip(&burst) {
            *o += b;
        }
        events.push(NoiseEvent {
            kind: NoiseKind::Friction,
            start_s: start,
            end_s: start + len,
        });
    }
    out
}

/// Speech picked up through the chest: glottal pulses at a wandering F0, shaped by the formants of
/// a vowel per syllable, syllables at about 4 per second, low-passed as by the chest wall.
/// Each utterance is scaled to RMS `level`.
pub(crate) fn speech(
    per_min: f64,
    level: f64,
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
    events: &mut Vec<NoiseEvent>,
) -> Vec<f64> {
    let duration = n as f64 / rate;
    let mut out = vec![0.0; n];
    for start in poisson_starts(per_min, duration, 2.5, rng) {
        let len = uniform(rng, 0.8, 2.5);
        let i0 = (start * rate) as usize;
        let i1 = (((start + len) * rate) as usize).min(n);
        let f0_base = if uniform(rng, 0.0, 1.0) < 0.5 {
            uniform(rng, 95.0, 140.0)
        } else {
            uniform(rng, 175.0, 240.0)
        };
        let syllable = uniform(rng, 0.2, 0.3);
        let mut glottis = Biquad::low_pass(300.0, 0.7, rate);
        let mut chest = Cascade::band_pass(60.0, 1200.0, rate);
        let mut resonators: Vec<(Biquad, f64)> = Vec::new();
        let mut current_syllable = usize::MAX;
        let mut pulse_phase = 0.0;
        let mut utterance: Vec<f64> = Vec::with_capacity(i1.saturating_sub(i0));
        for i in i0..i1 {
            let tau = i as f64 / rate - start;
            let s = (tau / syllable) as usize;
            if s != current_syllable {
                current_syllable = s;
                let (f1, f2, f3) =
                    VOWELS[(uniform(rng, 0.0, VOWELS.len() as f64) as usize).min(VOWELS.len() - 1)];
                resonators = [(f1, 80.0, 1.0), (f2, 100.0, 0.5), (f3, 150.0, 0.25)]
                    .into_iter()
                    .filter(|(f, _, _)| *f < 0.45 * rate)
                    .map(|(f, bw, w)| (Biquad::resonator(f, f / bw, rate), w))
                    .collect();
            }
            // Declination and intonation of the pitch over the utterance.
            let f0 =
                f0_base * (1.0 - 0.15 * tau / len) * (1.0 + 0.05 * (2.0 * PI * 3.0 * tau).sin());
            pulse_phase += f0 / rate;
            let excitation = if pulse_phase >= 1.0 {
                pulse_phase -= 1.0;
                1.0
            } else {
                0.0
            } + 0.02 * gauss(rng);
            let g = glottis.step(excitation);
            let voiced: f64 = resonators.iter_mut().map(|(r, w)| *w * r.step(g)).sum();
            let within = (tau / syllable).fract();
            let gate = if within < 0.8 {
                (PI * within / 0.8).sin().powi(2)
            } else {
                0.0
            };
            utterance.push(chest.step(voiced * gate));
        }
        let r = rms(&utterance);
        if r > 0.0 {
            for (o, u) in out[i0..i1].iter_mut().zip(&utterance) {
                *o += level * u / r;
            }
        }
        events.push(NoiseEvent {
            kind: NoiseKind::Speech,
            start_s: start,
            end_s: start + len,
        });
    }
    out
}

/// Breath sounds: band-limited noise whose loudness follows airflow (full in inspiration, half in
/// expiration); RMS `level` at peak airflow.
pub(crate) fn breathing(
    level: f64,
    resp: &Respiration,
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut band = Cascade::band_pass(150.0, 800.0f64.min(0.45 * rate), rate);
    let mut carrier: Vec<f64> = (0..n).map(|_| band.step(gauss(rng))).collect();
    normalise_rms(&mut carrier);
    carrier
        .iter()
        .enumerate()
        .map(|(i, c)| level * resp.airflow(i as f64 / rate) * c)
        .collect()
}

/// Impulsive spikes of 1 to 4 ms, random sign, amplitude about `peak`.
pub(crate) fn spikes(
    per_min: f64,
    peak: f64,
    n: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
    events: &mut Vec<NoiseEvent>,
) -> Vec<f64> {
    let duration = n as f64 / rate;
    let mut out = vec![0.0; n];
    for start in poisson_starts(per_min, duration, 0.004, rng) {
        let len = uniform(rng, 0.001, 0.004);
        let amp = peak
            * uniform(rng, 0.7, 1.3)
            * if uniform(rng, 0.0, 1.0) < 0.5 {
                -1.0
            } else {
                1.0
            };
        // A sharp onset at the first sample, then a fast decay over the spike's length.
        let i0 = (start * rate).ceil() as usize;
        let i1 = (((start + len) * rate).ceil() as usize).min(n);
        for (i, o) in out.iter_mut().enumerate().take(i1).skip(i0) {
            let tau = (i - i0) as f64 / rate;
            *o += amp * (-3.0 * tau / len).exp();
        }
        events.push(NoiseEvent {
            kind: NoiseKind::Spike,
            start_s: start,
            end_s: start + len,
        });
    }
    out
}

/// A kind of recorded-like noise to add to a known clean recording, e.g. to measure a denoiser
/// (see [`recorded_noise`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordedNoise {
    /// Breath sounds: 150–800 Hz noise whose loudness follows airflow at 12–20 breaths a minute.
    Breathing,
    /// Diaphragm rubbing on skin or clothes: high-passed friction bursts, about 30 a minute.
    Rubbing,
    /// Speech-band noise: 300–3400 Hz noise gated at syllable rate (about 4 Hz) in utterances.
    SpeechBand,
    /// Voiced speech through the chest wall (glottal pulses shaped by vowel formants).
    Voice,
    /// Impulsive spikes of 1 to 4 ms, about 40 a minute.
    Spikes,
    /// White Gaussian noise.
    White,
}

impl RecordedNoise {
    /// Every kind, for iteration in tests and tools.
    pub const ALL: [RecordedNoise; 6] = [
        RecordedNoise::Breathing,
        RecordedNoise::Rubbing,
        RecordedNoise::SpeechBand,
        RecordedNoise::Voice,
        RecordedNoise::Spikes,
        RecordedNoise::White,
    ];

    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            RecordedNoise::Breathing => "breathing",
            RecordedNoise::Rubbing => "rubbing",
            RecordedNoise::SpeechBand => "speech-band",
            RecordedNoise::Voice => "voice",
            RecordedNoise::Spikes => "spikes",
            RecordedNoise::White => "white",
        }
    }
}

/// `n` samples at `rate` Hz of `kind`, scaled to unit RMS; the same `seed` gives the same samples.
/// All zeros when the recording is too short for one event of an event-like kind.
pub fn recorded_noise(kind: RecordedNoise, n: usize, rate: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A stream of its own per kind, apart from the streams `generate` uses.
    rng.set_stream(100 + kind as u64);
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        1.0
    };
    let mut events = Vec::new();
    let mut out = match kind {
        RecordedNoise::Breathing => {
            let resp = Respiration::new(uniform(&mut rng, 12.0, 20.0), &mut rng);
            breathing(1.0, &resp, n, rate, &mut rng)
        }
        RecordedNoise::Rubbing => friction(30.0, 1.0, n, rate, &mut rng, &mut events),
        RecordedNoise::SpeechBand => speech_band(n, rate, &mut rng),
        RecordedNoise::Voice => speech(15.0, 1.0, n, rate, &mut rng, &mut events),
        RecordedNoise::Spikes => spikes(40.0, 1.0, n, rate, &mut rng, &mut events),
        RecordedNoise::White => white(n, 1.0, &mut rng),
    };
    normalise_rms(&mut out);
    out.into_iter().map(|v| v as f32).collect()
}

/// Speech-band noise: utterances of 1 to 3 s (about 20 a minute) of 300–3400 Hz noise, gated at
/// a syllable rate of about 4 Hz with a slower loudness drift.
fn speech_band(n: usize, rate: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let duration = n as f64 / rate;
    let mut band = Cascade::band_pass(300.0, 3400.0f64.min(0.45 * rate), rate);
    let carrier: Vec<f64> = (0..n).map(|_| band.step(gauss(rng))).collect();
    let mut out = vec![0.0; n];
    for start in poisson_starts(20.0, duration, 3.0, rng) {
        let len = uniform(rng, 1.0, 3.0);
        let syllable = uniform(rng, 0.2, 0.3);
        let drift = uniform(rng, 0.0, 2.0 * PI);
        let i0 = (start * rate) as usize;
        let i1 = (((start + len) * rate) as usize).min(n);
        for i in i0..i1 {
            let tau = i as f64 / rate - start;
            let within = (tau / syllable).fract();
            let gate = if within < 0.75 {
                (PI * within / 0.75).sin().powi(2)
            } else {
                0.0
            };
            let loudness = 0.7 + 0.3 * (2.0 * PI * 0.7 * tau + drift).sin();
            out[i] = carrier[i] * gate * loudness;
        }
    }
    out
}

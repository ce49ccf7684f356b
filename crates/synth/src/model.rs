//! The shared cardiac model of one recording: beats, respiration and ECG morphologies, from which
//! both the ECG and the PCG are drawn so that they agree.

use rand_chacha::ChaCha8Rng;

use crate::config::{Rhythm, SynthConfig};
use crate::ecg::{Morphologies, TWave, time_at_phase};
use crate::rhythm::{Beat, Respiration, beats};
use crate::rng::uniform;

/// Beats, breathing and ECG morphology of one recording.
#[derive(Debug, Clone)]
pub(crate) struct Heart {
    pub(crate) beats: Vec<Beat>,
    /// The R-peak time of each beat (the extremum of its clean QRS).
    pub(crate) r_peaks: Vec<f64>,
    /// The T wave of each beat.
    pub(crate) t_waves: Vec<TWave>,
    /// The T-wave end of each beat.
    pub(crate) t_ends: Vec<f64>,
    pub(crate) resp: Respiration,
    pub(crate) morph: Morphologies,
    pub(crate) rhythm: Rhythm,
    pub(crate) mean_rr: f64,
}

impl Heart {
    pub(crate) fn new(
        cfg: &SynthConfig,
        rhythm_rng: &mut ChaCha8Rng,
        ecg_rng: &mut ChaCha8Rng,
    ) -> Self {
        let resp = Respiration::new(cfg.resp_rate_bpm, rhythm_rng);
        let beats = beats(cfg, &resp, rhythm_rng);
        let morph = Morphologies::new(cfg.rhythm, cfg.heart_rate_bpm, ecg_rng);
        let r_peaks = (0..beats.len())
            .map(|k| time_at_phase(&beats, k, morph.of(beats[k].kind).r_theta))
            .collect();
        let qtc = uniform(ecg_rng, 0.38, 0.42);
        let mean_rr = 60.0 / cfg.heart_rate_bpm;
        let (t_waves, t_ends) = beats
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let interval = beats.get(k + 1).map_or(mean_rr, |n| n.t - b.t);
                let (t, end) = TWave::place(b.kind, interval, qtc);
                (t, b.t + end)
            })
            .unzip();
        Self {
            beats,
            r_peaks,
            t_waves,
            t_ends,
            resp,
            morph,
            rhythm: cfg.rhythm,
            mean_rr,
        }
    }
}

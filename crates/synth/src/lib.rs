//! Seeded synthetic heart recordings with exact ground truth: a PCG and a simultaneous ECG drawn
//! from one cardiac model, so that every S1, S2, murmur and R peak is known to the sample.
//!
//! - ECG: McSharry's ECGSYN wave model on an RR tachogram with respiratory sinus arrhythmia and
//!   Mayer waves, or an AF-like rhythm; ventricular ectopics; lead inversion, baseline wander, mains
//!   hum and EMG noise ([`EcgOptions`]).
//! - PCG: S1 (M1, T1) and S2 (A2, P2 with a respiratory split) as damped multi-component
//!   transients timed from the ECG (S1 at R + lag, S2 from QS2 = 546 − 2.1·HR ms); S3, S4; the
//!   murmurs of AS, MR, AR, MS and MVP at a Levine grade; white, friction, speech, breath and spike
//!   noise ([`PcgNoise`]).
//! - [`vitals`]: per-resident vital-sign series with scripted deteriorations and event times.
//!
//! This crate is pure: no I/O, no async, no clock, no global state. The same [`SynthConfig`] gives
//! the same samples bit for bit. It must never depend on the analysis crates (it is their test
//! oracle), so it speaks plain `f64` seconds, hertz and bpm.

mod config;
mod ecg;
mod error;
mod filter;
mod model;
mod noise;
mod pcg;
mod rhythm;
mod rng;
mod truth;
pub mod vitals;

pub use config::{
    EcgOptions, ExtraSounds, MAX_SAMPLES, MurmurKind, MurmurPhase, MurmurPitch, MurmurShape,
    MurmurSpec, MurmurTiming, PcgNoise, Rhythm, Scenario, SynthConfig,
};
pub use error::SynthError;
pub use noise::{RecordedNoise, recorded_noise};
pub use truth::{BeatKind, BeatTruth, GroundTruth, MurmurTruth, NoiseEvent, NoiseKind};

use filter::rms;
use model::Heart;
use rng::Stream;

/// The peak of the clean PCG (heart sounds plus murmur) after scaling, in arbitrary units.
pub const CLEAN_PCG_PEAK: f32 = 0.5;

/// A synthetic recording: PCG, ECG (mV) and what was put in them.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticRecording {
    /// Phonocardiogram, arbitrary units: the clean sounds peak at [`CLEAN_PCG_PEAK`]; noise may exceed it.
    pub pcg: Vec<f32>,
    /// PCG sample rate, Hz.
    pub pcg_rate_hz: f64,
    /// ECG lead, millivolts, sample-aligned in time with the PCG (both start at t = 0).
    pub ecg: Vec<f32>,
    /// ECG sample rate, Hz.
    pub ecg_rate_hz: f64,
    /// Where everything is.
    pub truth: GroundTruth,
}

impl SyntheticRecording {
    /// Length of the recording, seconds.
    pub fn duration_s(&self) -> f64 {
        self.pcg.len() as f64 / self.pcg_rate_hz
    }
}

/// Synthesise a recording.
///
/// # Errors
/// [`SynthError::InvalidConfig`] or [`SynthError::TooLarge`] when `cfg` fails [`SynthConfig::validate`].
pub fn generate(cfg: &SynthConfig) -> Result<SyntheticRecording, SynthError> {
    cfg.validate()?;
    let mut rhythm_rng = rng::stream(cfg.seed, Stream::Rhythm);
    let mut ecg_rng = rng::stream(cfg.seed, Stream::Ecg);
    let mut sounds_rng = rng::stream(cfg.seed, Stream::Sounds);
    let mut murmur_rng = rng::stream(cfg.seed, Stream::Murmur);
    let mut pcg_noise_rng = rng::stream(cfg.seed, Stream::PcgNoise);
    let mut ecg_noise_rng = rng::stream(cfg.seed, Stream::EcgNoise);

    let heart = Heart::new(cfg, &mut rhythm_rng, &mut ecg_rng);
    let n_pcg = (cfg.duration_s * cfg.pcg_rate_hz).round() as usize;
    let n_ecg = (cfg.duration_s * cfg.ecg_rate_hz).round() as usize;
    let duration = cfg.duration_s;

    let ecg = ecg::render(
        &heart,
        &cfg.ecg,
        n_ecg,
        cfg.ecg_rate_hz,
        &mut ecg_rng,
        &mut ecg_noise_rng,
    );

    let plans = pcg::plan_cycles(cfg, &heart, &mut sounds_rng);
    let mut clean = pcg::render_sounds(&plans, n_pcg, cfg.pcg_rate_hz, &mut sounds_rng);
    let s1_samples: Vec<f64> = plans
        .iter()
        .flat_map(|p| samples_in(&clean, p.s1, cfg.pcg_rate_hz))
        .collect();
    let s1_rms = rms(&s1_samples);
    if let Some(spec) = cfg.murmur {
        let murmur = pcg::render_murmur(
            &plans,
            spec,
            cfg.rhythm,
            s1_rms,
            n_pcg,
            cfg.pcg_rate_hz,
            &mut murmur_rng,
        );
        clean.iter_mut().zip(&murmur).for_each(|(c, m)| *c += m);
    }
    let peak = clean.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if peak > 0.0 {
        f64::from(CLEAN_PCG_PEAK) / peak
    } else {
        1.0
    };
    clean.iter_mut().for_each(|v| *v *= scale);
    let s1_peak = plans
        .iter()
        .flat_map(|p| samples_in(&clean, p.s1, cfg.pcg_rate_hz))
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let clean_rms = rms(&clean);

    let mut noise_events = Vec::new();
    let mut pcg = clean;
    add_pcg_noise(
        cfg,
        &heart,
        &mut pcg,
        s1_peak,
        clean_rms,
        &mut pcg_noise_rng,
        &mut noise_events,
    );
    noise_events.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));

    let truth = build_truth(cfg, &heart, &plans, noise_events, duration);
    Ok(SyntheticRecording {
        pcg: pcg.into_iter().map(|v| v as f32).collect(),
        pcg_rate_hz: cfg.pcg_rate_hz,
        ecg,
        ecg_rate_hz: cfg.ecg_rate_hz,
        truth,
    })
}

/// The samples of `signal` inside `span`.
fn samples_in(signal: &[f64], span: (f64, f64), rate: f64) -> impl Iterator<Item = f64> + '_ {
    let i0 = ((span.0 * rate).ceil().max(0.0) as usize).min(signal.len());
    let i1 = ((span.1 * rate).floor().max(0.0) as usize).min(signal.len());
    signal[i0..i1.max(i0)].iter().copied()
}

fn add_pcg_noise(
    cfg: &SynthConfig,
    heart: &Heart,
    pcg: &mut [f64],
    s1_peak: f64,
    clean_rms: f64,
    rng: &mut rand_chacha::ChaCha8Rng,
    events: &mut Vec<NoiseEvent>,
) {
    let n = pcg.len();
    let rate = cfg.pcg_rate_hz;
    let spec = &cfg.pcg_noise;
    let mut add = |noise: Vec<f64>| pcg.iter_mut().zip(&noise).for_each(|(p, v)| *p += v);
    if spec.breathing_level > 0.0 {
        add(noise::breathing(
            spec.breathing_level * clean_rms,
            &heart.resp,
            n,
            rate,
            rng,
        ));
    }
    if spec.friction_per_min > 0.0 {
        add(noise::friction(
            spec.friction_per_min,
            spec.friction_level * s1_peak,
            n,
            rate,
            rng,
            events,
        ));
    }
    if spec.speech_per_min > 0.0 {
        add(noise::speech(
            spec.speech_per_min,
            spec.speech_level * clean_rms,
            n,
            rate,
            rng,
            events,
        ));
    }
    if spec.spikes_per_min > 0.0 {
        add(noise::spikes(
            spec.spikes_per_min,
            spec.spike_level * s1_peak,
            n,
            rate,
            rng,
            events,
        ));
    }
    if let Some(snr_db) = spec.white_snr_db {
        let sd = clean_rms / 10f64.powf(snr_db / 20.0);
        add(noise::white(n, sd, rng));
    }
}

fn build_truth(
    cfg: &SynthConfig,
    heart: &Heart,
    plans: &[pcg::CyclePlan],
    noise_events: Vec<NoiseEvent>,
    duration: f64,
) -> GroundTruth {
    let inside = |span: (f64, f64)| span.0 >= 0.0 && span.1 <= duration;
    let inside_opt = |span: Option<(f64, f64)>| span.filter(|s| inside(*s));
    let point_inside = |t: f64| (0.0..duration).contains(&t);

    let beats: Vec<BeatTruth> = (0..heart.beats.len())
        .filter(|&k| point_inside(heart.r_peaks[k]))
        .map(|k| {
            let plan = plans.iter().find(|p| p.beat == k);
            BeatTruth {
                r_peak_s: heart.r_peaks[k],
                kind: heart.beats[k].kind,
                t_end_s: heart.t_ends[k],
                s1: plan.and_then(|p| inside_opt(Some(p.s1))),
                s2: plan.and_then(|p| inside_opt(Some(p.s2))),
                murmur: plan.and_then(|p| inside_opt(p.murmur)),
            }
        })
        .collect();
    let r_peaks_s: Vec<f64> = beats.iter().map(|b| b.r_peak_s).collect();
    let heart_rate_bpm = if r_peaks_s.len() >= 2 {
        let span = r_peaks_s[r_peaks_s.len() - 1] - r_peaks_s[0];
        60.0 * (r_peaks_s.len() - 1) as f64 / span
    } else {
        cfg.heart_rate_bpm
    };
    let collect = |f: &dyn Fn(&pcg::CyclePlan) -> Option<(f64, f64)>| -> Vec<(f64, f64)> {
        plans.iter().filter_map(f).filter(|s| inside(*s)).collect()
    };
    let murmur = cfg.murmur.map(|spec| MurmurTruth {
        kind: spec.kind,
        grade: spec.grade,
        timing: spec.kind.timing(),
        phase: spec.kind.phase(),
        shape: spec.kind.shape(),
        pitch: spec.kind.pitch(),
        spans: collect(&|p| p.murmur),
    });
    GroundTruth {
        rhythm: cfg.rhythm,
        heart_rate_bpm,
        resp_rate_bpm: cfg.resp_rate_bpm,
        r_peaks_s,
        beats,
        s1: collect(&|p| Some(p.s1)),
        s2: collect(&|p| Some(p.s2)),
        s3: collect(&|p| p.s3),
        s4: collect(&|p| p.s4),
        clicks_s: plans
            .iter()
            .filter_map(|p| p.click)
            .filter(|&t| point_inside(t))
            .collect(),
        opening_snaps_s: plans
            .iter()
            .filter_map(|p| p.opening_snap)
            .filter(|&t| point_inside(t))
            .collect(),
        murmur,
        noise_events,
        ecg_inverted: cfg.ecg.inverted,
    }
}

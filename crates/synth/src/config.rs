//! What to synthesise: the [`SynthConfig`] and the named [`Scenario`] presets built on it.
//!
//! Plain numbers in seconds, hertz and beats per minute; no dependence on the `dsp` crate, so the
//! engine's tests can use this crate as a dev-dependency without a cycle.

use std::fmt;
use std::str::FromStr;

use crate::error::{SynthError, check_range};

/// The most samples one generated signal may hold.
pub const MAX_SAMPLES: u64 = 60_000_000;

/// The underlying cardiac rhythm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rhythm {
    /// Sinus rhythm with respiratory sinus arrhythmia and Mayer waves.
    #[default]
    Sinus,
    /// An irregularly irregular rhythm without P waves, with fibrillatory waves (AF-like).
    AtrialFibrillation,
}

/// Which valve lesion produces the murmur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurKind {
    /// Aortic stenosis: crescendo-decrescendo mid-systolic ejection murmur, harsh, medium pitch.
    AorticStenosis,
    /// Mitral regurgitation: holosystolic plateau, blowing, high pitch.
    MitralRegurgitation,
    /// Aortic regurgitation: early diastolic decrescendo, blowing, high pitch.
    AorticRegurgitation,
    /// Mitral stenosis: opening snap, low-pitched mid-diastolic rumble, presystolic accentuation
    /// (absent in atrial fibrillation).
    MitralStenosis,
    /// Mitral valve prolapse: mid-systolic click then a late systolic crescendo murmur.
    MitralValveProlapse,
}

impl MurmurKind {
    /// Every kind, for iteration in tests and tools.
    pub const ALL: [MurmurKind; 5] = [
        MurmurKind::AorticStenosis,
        MurmurKind::MitralRegurgitation,
        MurmurKind::AorticRegurgitation,
        MurmurKind::MitralStenosis,
        MurmurKind::MitralValveProlapse,
    ];

    /// Where in the cycle this murmur sits.
    pub fn timing(self) -> MurmurTiming {
        match self {
            MurmurKind::AorticStenosis
            | MurmurKind::MitralRegurgitation
            | MurmurKind::MitralValveProlapse => MurmurTiming::Systolic,
            MurmurKind::AorticRegurgitation | MurmurKind::MitralStenosis => MurmurTiming::Diastolic,
        }
    }

    /// Which part of its phase it occupies.
    pub fn phase(self) -> MurmurPhase {
        match self {
            MurmurKind::AorticStenosis | MurmurKind::MitralStenosis => MurmurPhase::Mid,
            MurmurKind::MitralRegurgitation => MurmurPhase::Holo,
            MurmurKind::AorticRegurgitation => MurmurPhase::Early,
            MurmurKind::MitralValveProlapse => MurmurPhase::Late,
        }
    }

    /// The intensity profile over its span.
    pub fn shape(self) -> MurmurShape {
        match self {
            MurmurKind::AorticStenosis => MurmurShape::CrescendoDecrescendo,
            MurmurKind::MitralRegurgitation => MurmurShape::Plateau,
            MurmurKind::AorticRegurgitation => MurmurShape::Decrescendo,
            MurmurKind::MitralStenosis => MurmurShape::RumbleWithPresystolicAccentuation,
            MurmurKind::MitralValveProlapse => MurmurShape::Crescendo,
        }
    }

    /// The dominant pitch.
    pub fn pitch(self) -> MurmurPitch {
        match self {
            MurmurKind::AorticStenosis | MurmurKind::MitralValveProlapse => MurmurPitch::Medium,
            MurmurKind::MitralRegurgitation | MurmurKind::AorticRegurgitation => MurmurPitch::High,
            MurmurKind::MitralStenosis => MurmurPitch::Low,
        }
    }

    /// The frequency band (Hz) of the murmur's noise carrier.
    pub fn band_hz(self) -> (f64, f64) {
        match self {
            MurmurKind::AorticStenosis => (90.0, 400.0),
            MurmurKind::MitralRegurgitation => (150.0, 550.0),
            MurmurKind::AorticRegurgitation => (200.0, 650.0),
            MurmurKind::MitralStenosis => (25.0, 90.0),
            MurmurKind::MitralValveProlapse => (120.0, 450.0),
        }
    }

    /// A short lower-case name (`as`, `mr`, `ar`, `ms`, `mvp`).
    pub fn short_name(self) -> &'static str {
        match self {
            MurmurKind::AorticStenosis => "as",
            MurmurKind::MitralRegurgitation => "mr",
            MurmurKind::AorticRegurgitation => "ar",
            MurmurKind::MitralStenosis => "ms",
            MurmurKind::MitralValveProlapse => "mvp",
        }
    }
}

/// Where in the cardiac cycle a murmur sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurTiming {
    /// Between S1 and S2.
    Systolic,
    /// Between S2 and the next S1.
    Diastolic,
}

/// Which part of its phase a murmur occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurPhase {
    /// Starting with the phase and fading (AR).
    Early,
    /// The middle of the phase (AS; the MS rumble).
    Mid,
    /// The last part of the phase (MVP).
    Late,
    /// The whole phase (MR).
    Holo,
}

/// The intensity profile of a murmur over its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurShape {
    /// Diamond: rising then falling.
    CrescendoDecrescendo,
    /// Flat.
    Plateau,
    /// Falling.
    Decrescendo,
    /// Rising.
    Crescendo,
    /// Falling after the opening snap, then rising again before S1 (flat in AF).
    RumbleWithPresystolicAccentuation,
}

/// The dominant pitch of a murmur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MurmurPitch {
    /// Mostly below 150 Hz.
    Low,
    /// 150 to 300 Hz.
    Medium,
    /// Mostly above 300 Hz.
    High,
}

/// A murmur to add.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MurmurSpec {
    /// The lesion.
    pub kind: MurmurKind,
    /// Levine grade 1..=6: sets the murmur's loudness relative to S1 (see [`MurmurSpec::relative_amplitude`]).
    pub grade: u8,
}

impl MurmurSpec {
    /// The murmur's RMS at its loudest, relative to the RMS of S1: −17 dB at grade 1, +5 dB per grade
    /// (grade 3 ≈ −7 dB, grade 5 ≈ +3 dB).
    pub fn relative_amplitude(&self) -> f64 {
        10f64.powf((5.0 * f64::from(self.grade) - 22.0) / 20.0)
    }
}

/// Extra heart sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtraSounds {
    /// An early-diastolic third sound (ventricular gallop), 120 to 180 ms after S2 onset.
    pub s3: bool,
    /// A late-diastolic fourth sound (atrial gallop) just before S1; never in atrial fibrillation.
    pub s4: bool,
}

/// Noise added to the PCG. Every level is relative to the clean heart sounds, so a config means the
/// same at any sample rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcgNoise {
    /// White Gaussian noise at this SNR (dB, relative to the clean PCG's RMS); `None` for none.
    pub white_snr_db: Option<f64>,
    /// Mean number of friction bursts (diaphragm rubbing on skin or clothes) per minute.
    pub friction_per_min: f64,
    /// Friction burst peak amplitude relative to the S1 peak.
    pub friction_level: f64,
    /// Mean number of speech utterances (formant-filtered glottal pulses) per minute.
    pub speech_per_min: f64,
    /// Speech level (RMS) relative to the clean PCG's RMS.
    pub speech_level: f64,
    /// Breath-sound level (RMS at peak inspiration) relative to the clean PCG's RMS; 0 for none.
    pub breathing_level: f64,
    /// Mean number of impulsive spikes per minute.
    pub spikes_per_min: f64,
    /// Spike amplitude relative to the S1 peak.
    pub spike_level: f64,
}

impl PcgNoise {
    /// No noise at all.
    pub const NONE: PcgNoise = PcgNoise {
        white_snr_db: None,
        friction_per_min: 0.0,
        friction_level: 1.0,
        speech_per_min: 0.0,
        speech_level: 0.5,
        breathing_level: 0.0,
        spikes_per_min: 0.0,
        spike_level: 4.0,
    };

    /// A good clinical recording: faint white noise and quiet breathing.
    pub const CLEAN: PcgNoise = PcgNoise {
        white_snr_db: Some(30.0),
        breathing_level: 0.05,
        ..PcgNoise::NONE
    };

    /// A difficult home recording: friction, speech, breathing, spikes and white noise.
    pub const NOISY: PcgNoise = PcgNoise {
        white_snr_db: Some(10.0),
        friction_per_min: 6.0,
        friction_level: 1.5,
        speech_per_min: 4.0,
        speech_level: 0.8,
        breathing_level: 0.3,
        spikes_per_min: 6.0,
        spike_level: 5.0,
    };
}

impl Default for PcgNoise {
    fn default() -> Self {
        PcgNoise::CLEAN
    }
}

/// Options for the ECG lead. Amplitudes in millivolts (the clean R wave is about 1.2 mV).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EcgOptions {
    /// Flip the lead's polarity (electrodes swapped).
    pub inverted: bool,
    /// Baseline wander amplitude (respiratory plus a slow drift), mV.
    pub baseline_wander_mv: f64,
    /// Mains frequency, usually 50 or 60 Hz; `None` for no hum.
    pub mains_hz: Option<f64>,
    /// Mains hum amplitude, mV.
    pub mains_mv: f64,
    /// Muscle (EMG) noise RMS, mV.
    pub emg_mv: f64,
}

impl EcgOptions {
    /// A clean lead.
    pub const CLEAN: EcgOptions = EcgOptions {
        inverted: false,
        baseline_wander_mv: 0.0,
        mains_hz: None,
        mains_mv: 0.0,
        emg_mv: 0.0,
    };
    /// A realistic ambulatory lead: some wander, a little hum and muscle noise.
    pub const AMBULATORY: EcgOptions = EcgOptions {
        inverted: false,
        baseline_wander_mv: 0.15,
        mains_hz: Some(50.0),
        mains_mv: 0.03,
        emg_mv: 0.02,
    };
}

impl Default for EcgOptions {
    fn default() -> Self {
        EcgOptions::CLEAN
    }
}

/// Everything needed to synthesise one recording. Same config, same output, bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Length of the recording, seconds (0.5 to 3600).
    pub duration_s: f64,
    /// PCG sample rate, Hz (500 to 48000).
    pub pcg_rate_hz: f64,
    /// ECG sample rate, Hz (100 to 48000).
    pub ecg_rate_hz: f64,
    /// Mean heart rate, beats per minute (30 to 180).
    pub heart_rate_bpm: f64,
    /// Heart-rate variability as the SD of instantaneous heart rate, bpm (0 to 20); in sinus rhythm
    /// one third of the variance is Mayer waves (0.1 Hz), two thirds respiratory sinus arrhythmia.
    pub hrv_sd_bpm: f64,
    /// Respiratory rate, breaths per minute (4 to 60): drives RSA, S2 splitting, breath sounds and
    /// ECG baseline wander.
    pub resp_rate_bpm: f64,
    /// The rhythm.
    pub rhythm: Rhythm,
    /// Probability that a beat is a premature ventricular beat (0 to 0.3).
    pub ectopic_probability: f64,
    /// The murmur, if any.
    pub murmur: Option<MurmurSpec>,
    /// S3 and S4.
    pub extra_sounds: ExtraSounds,
    /// S1 onset lag after the R peak, seconds (−0.03 to 0.08); `None` draws it per recording from
    /// 0 to 20 ms. Each beat adds ±4 ms of jitter.
    pub s1_lag_s: Option<f64>,
    /// PCG noise.
    pub pcg_noise: PcgNoise,
    /// ECG options.
    pub ecg: EcgOptions,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            duration_s: 30.0,
            pcg_rate_hz: 4000.0,
            ecg_rate_hz: 500.0,
            heart_rate_bpm: 70.0,
            hrv_sd_bpm: 2.0,
            resp_rate_bpm: 15.0,
            rhythm: Rhythm::Sinus,
            ectopic_probability: 0.0,
            murmur: None,
            extra_sounds: ExtraSounds::default(),
            s1_lag_s: None,
            pcg_noise: PcgNoise::default(),
            ecg: EcgOptions::default(),
        }
    }
}

impl SynthConfig {
    /// Check every field; generation calls this first.
    pub fn validate(&self) -> Result<(), SynthError> {
        check_range("duration_s", self.duration_s, 0.5, 3600.0)?;
        check_range("pcg_rate_hz", self.pcg_rate_hz, 500.0, 48_000.0)?;
        check_range("ecg_rate_hz", self.ecg_rate_hz, 100.0, 48_000.0)?;
        check_range("heart_rate_bpm", self.heart_rate_bpm, 30.0, 180.0)?;
        check_range("hrv_sd_bpm", self.hrv_sd_bpm, 0.0, 20.0)?;
        check_range("resp_rate_bpm", self.resp_rate_bpm, 4.0, 60.0)?;
        check_range("ectopic_probability", self.ectopic_probability, 0.0, 0.3)?;
        if let Some(m) = self.murmur
            && !(1..=6).contains(&m.grade)
        {
            return Err(SynthError::InvalidConfig {
                field: "murmur.grade",
                reason: format!("Levine grade {} is not within 1..=6", m.grade),
            });
        }
        if let Some(lag) = self.s1_lag_s {
            check_range("s1_lag_s", lag, -0.03, 0.08)?;
        }
        let n = &self.pcg_noise;
        if let Some(snr) = n.white_snr_db {
            check_range("pcg_noise.white_snr_db", snr, -30.0, 100.0)?;
        }
        check_range("pcg_noise.friction_per_min", n.friction_per_min, 0.0, 120.0)?;
        check_range("pcg_noise.friction_level", n.friction_level, 0.0, 100.0)?;
        check_range("pcg_noise.speech_per_min", n.speech_per_min, 0.0, 60.0)?;
        check_range("pcg_noise.speech_level", n.speech_level, 0.0, 100.0)?;
        check_range("pcg_noise.breathing_level", n.breathing_level, 0.0, 100.0)?;
        check_range("pcg_noise.spikes_per_min", n.spikes_per_min, 0.0, 600.0)?;
        check_range("pcg_noise.spike_level", n.spike_level, 0.0, 100.0)?;
        let e = &self.ecg;
        check_range("ecg.baseline_wander_mv", e.baseline_wander_mv, 0.0, 10.0)?;
        check_range("ecg.mains_mv", e.mains_mv, 0.0, 10.0)?;
        check_range("ecg.emg_mv", e.emg_mv, 0.0, 10.0)?;
        if let Some(f) = e.mains_hz {
            check_range("ecg.mains_hz", f, 1.0, 1000.0)?;
        }
        for (field, rate) in [
            ("pcg_rate_hz", self.pcg_rate_hz),
            ("ecg_rate_hz", self.ecg_rate_hz),
        ] {
            let samples = (self.duration_s * rate).ceil() as u64;
            if samples > MAX_SAMPLES {
                return Err(SynthError::TooLarge {
                    field,
                    samples,
                    limit: MAX_SAMPLES,
                });
            }
        }
        Ok(())
    }
}

/// Named presets: a clinical picture each, for tests, demos and the simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Healthy adult at rest, clean recording.
    Normal,
    /// Aortic stenosis, grade 3.
    AorticStenosis,
    /// Mitral regurgitation, grade 3.
    MitralRegurgitation,
    /// Aortic regurgitation, grade 2.
    AorticRegurgitation,
    /// Mitral stenosis, grade 2, sinus rhythm.
    MitralStenosis,
    /// Mitral valve prolapse: click and late systolic murmur, grade 2.
    MitralValveProlapse,
    /// Heart failure: S3 gallop, HR 95.
    S3Gallop,
    /// Hypertensive heart: S4 gallop.
    S4Gallop,
    /// Atrial fibrillation, HR 100, no murmur.
    AtrialFibrillation,
    /// Sinus rhythm with frequent ventricular ectopics.
    Ectopics,
    /// Exercise: HR 130, fast breathing.
    Tachycardia,
    /// Normal heart, difficult home recording (friction, speech, breathing, spikes) and an
    /// ambulatory ECG with wander and hum.
    NoisyHome,
}

impl Scenario {
    /// Every preset.
    pub const ALL: [Scenario; 12] = [
        Scenario::Normal,
        Scenario::AorticStenosis,
        Scenario::MitralRegurgitation,
        Scenario::AorticRegurgitation,
        Scenario::MitralStenosis,
        Scenario::MitralValveProlapse,
        Scenario::S3Gallop,
        Scenario::S4Gallop,
        Scenario::AtrialFibrillation,
        Scenario::Ectopics,
        Scenario::Tachycardia,
        Scenario::NoisyHome,
    ];

    /// The short name used on command lines (`normal`, `as`, `mr`, `ar`, `ms`, `mvp`, `s3`, `s4`,
    /// `af`, `ectopics`, `tachycardia`, `noisy`).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::AorticStenosis => "as",
            Scenario::MitralRegurgitation => "mr",
            Scenario::AorticRegurgitation => "ar",
            Scenario::MitralStenosis => "ms",
            Scenario::MitralValveProlapse => "mvp",
            Scenario::S3Gallop => "s3",
            Scenario::S4Gallop => "s4",
            Scenario::AtrialFibrillation => "af",
            Scenario::Ectopics => "ectopics",
            Scenario::Tachycardia => "tachycardia",
            Scenario::NoisyHome => "noisy",
        }
    }

    /// The config of this preset for `seed` and `duration_s` (rates: PCG 4 kHz, ECG 500 Hz).
    pub fn config(self, seed: u64, duration_s: f64) -> SynthConfig {
        let base = SynthConfig {
            seed,
            duration_s,
            ..SynthConfig::default()
        };
        let murmur = |kind, grade| Some(MurmurSpec { kind, grade });
        match self {
            Scenario::Normal => base,
            Scenario::AorticStenosis => SynthConfig {
                murmur: murmur(MurmurKind::AorticStenosis, 3),
                heart_rate_bpm: 72.0,
                ..base
            },
            Scenario::MitralRegurgitation => SynthConfig {
                murmur: murmur(MurmurKind::MitralRegurgitation, 3),
                heart_rate_bpm: 78.0,
                ..base
            },
            Scenario::AorticRegurgitation => SynthConfig {
                murmur: murmur(MurmurKind::AorticRegurgitation, 2),
                heart_rate_bpm: 68.0,
                ..base
            },
            Scenario::MitralStenosis => SynthConfig {
                murmur: murmur(MurmurKind::MitralStenosis, 2),
                heart_rate_bpm: 76.0,
                ..base
            },
            Scenario::MitralValveProlapse => SynthConfig {
                murmur: murmur(MurmurKind::MitralValveProlapse, 2),
                heart_rate_bpm: 66.0,
                ..base
            },
            Scenario::S3Gallop => SynthConfig {
                extra_sounds: ExtraSounds {
                    s3: true,
                    s4: false,
                },
                heart_rate_bpm: 95.0,
                resp_rate_bpm: 20.0,
                ..base
            },
            Scenario::S4Gallop => SynthConfig {
                extra_sounds: ExtraSounds {
                    s3: false,
                    s4: true,
                },
                heart_rate_bpm: 64.0,
                ..base
            },
            Scenario::AtrialFibrillation => SynthConfig {
                rhythm: Rhythm::AtrialFibrillation,
                heart_rate_bpm: 100.0,
                ..base
            },
            Scenario::Ectopics => SynthConfig {
                ectopic_probability: 0.12,
                ..base
            },
            Scenario::Tachycardia => SynthConfig {
                heart_rate_bpm: 130.0,
                resp_rate_bpm: 28.0,
                hrv_sd_bpm: 1.0,
                ..base
            },
            Scenario::NoisyHome => SynthConfig {
                pcg_noise: PcgNoise::NOISY,
                ecg: EcgOptions::AMBULATORY,
                ..base
            },
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = SynthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == lower)
            .ok_or_else(|| SynthError::UnknownScenario(s.to_owned()))
    }
}

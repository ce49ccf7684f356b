//! Synthetic vital-sign series for residents of a care home or ward, with scripted clinical
//! scenarios and their ground-truth event times: a quiet night (noise, circadian drift and motion
//! artefacts that must not alarm), a sepsis-like deterioration, an apnea, a fall in SpO2 and a
//! sensor that is unplugged.
//!
//! Each series is the noise-free physiology of the scenario (baseline, circadian rhythm, slow
//! Ornstein–Uhlenbeck drift, the scripted change) sampled at a fixed interval, plus measurement
//! noise and rounding as a monitor would report it. Pure: no I/O, no clock; the same
//! [`VitalsConfig`] always gives the same series. The NEWS2 score in the truth is computed here
//! from the noise-free state, independently of the `vitals` crate, so it can serve as its oracle.

use std::f64::consts::PI;

use rand_chacha::ChaCha8Rng;

use crate::error::{SynthError, check_range};
use crate::rng::{self, Stream, exponential, gauss, uniform};

/// Level of consciousness on the ACVPU scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acvpu {
    /// Alert.
    #[default]
    Alert,
    /// New confusion.
    NewConfusion,
    /// Responds to voice.
    Voice,
    /// Responds to pain.
    Pain,
    /// Unresponsive.
    Unresponsive,
}

/// A scripted clinical course.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VitalsScenario {
    /// Nothing happens: noise, circadian drift and brief motion artefacts only.
    QuietNight,
    /// Sepsis-like deterioration: heart rate, respiratory rate and temperature rise, blood
    /// pressure and SpO2 fall, new confusion late; a smooth ramp from `onset_s` over `ramp_s`.
    SepsisDeterioration {
        /// When the deterioration starts, seconds from the start.
        onset_s: f64,
        /// How long it takes to reach its full extent, seconds.
        ramp_s: f64,
    },
    /// Breathing stops (respiratory rate 0) at `onset_s` for `duration_s`; SpO2 falls after a lag
    /// and recovers after breathing resumes; heart rate dips then overshoots.
    Apnea {
        /// When breathing stops.
        onset_s: f64,
        /// How long it stays stopped.
        duration_s: f64,
    },
    /// SpO2 falls from baseline to `nadir_pct` over `ramp_s` from `onset_s` and stays there, with a
    /// compensatory rise of heart and respiratory rates.
    Desaturation {
        /// When the fall starts.
        onset_s: f64,
        /// How long the fall takes.
        ramp_s: f64,
        /// The SpO2 it settles at, %.
        nadir_pct: f64,
    },
    /// The sensor stops reporting at `at_s` and, if `back_s` is set, resumes then.
    SensorUnplugged {
        /// When reports stop.
        at_s: f64,
        /// When they resume, if they do.
        back_s: Option<f64>,
    },
}

/// A resident's resting values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalsBaseline {
    /// Heart rate, bpm.
    pub heart_rate_bpm: f64,
    /// Respiratory rate, breaths per minute.
    pub resp_rate_bpm: f64,
    /// SpO2, %.
    pub spo2_pct: f64,
    /// Body temperature, °C.
    pub temperature_c: f64,
    /// Systolic blood pressure, mmHg.
    pub systolic_mmhg: f64,
    /// Diastolic blood pressure, mmHg.
    pub diastolic_mmhg: f64,
}

impl Default for VitalsBaseline {
    fn default() -> Self {
        Self {
            heart_rate_bpm: 68.0,
            resp_rate_bpm: 15.0,
            spo2_pct: 97.0,
            temperature_c: 36.8,
            systolic_mmhg: 128.0,
            diastolic_mmhg: 78.0,
        }
    }
}

/// What to generate for one resident.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalsConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// The resident's identifier, copied to the series.
    pub resident: String,
    /// Length of the series, seconds (60 s to 7 days).
    pub duration_s: f64,
    /// Time between samples, seconds (1 to 3600; 1 for a continuous monitor, 60 for once a minute).
    pub interval_s: f64,
    /// Clock hour (0..24) at t = 0, for the circadian rhythm (lowest values around 04:00).
    pub start_hour: f64,
    /// The clinical course.
    pub scenario: VitalsScenario,
    /// Resting values; `None` draws a plausible adult at random.
    pub baseline: Option<VitalsBaseline>,
    /// Blood pressure is a spot measurement every this many seconds (≥ the interval).
    pub bp_every_s: f64,
    /// Temperature is a spot measurement every this many seconds (≥ the interval).
    pub temperature_every_s: f64,
    /// Mean number of motion artefacts per hour (5 to 40 s each: spurious HR, SpO2 and RR).
    pub artefacts_per_hour: f64,
}

impl Default for VitalsConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            resident: "resident-1".to_owned(),
            duration_s: 8.0 * 3600.0,
            interval_s: 60.0,
            start_hour: 22.0,
            scenario: VitalsScenario::QuietNight,
            baseline: None,
            bp_every_s: 900.0,
            temperature_every_s: 900.0,
            artefacts_per_hour: 2.0,
        }
    }
}

impl VitalsConfig {
    /// Check every field; generation calls this first.
    pub fn validate(&self) -> Result<(), SynthError> {
        check_range("duration_s", self.duration_s, 60.0, 7.0 * 86_400.0)?;
        check_range("interval_s", self.interval_s, 1.0, 3600.0)?;
        check_range("start_hour", self.start_hour, 0.0, 24.0)?;
        check_range("bp_every_s", self.bp_every_s, self.interval_s, 86_400.0)?;
        check_range(
            "temperature_every_s",
            self.temperature_every_s,
            self.interval_s,
            86_400.0,
        )?;
        check_range("artefacts_per_hour", self.artefacts_per_hour, 0.0, 60.0)?;
        let samples = self.duration_s / self.interval_s;
        if samples > crate::MAX_SAMPLES as f64 / 10.0 {
            return Err(SynthError::TooLarge {
                field: "interval_s",
                samples: samples as u64,
                limit: crate::MAX_SAMPLES / 10,
            });
        }
        if let Some(b) = self.baseline {
            check_range("baseline.heart_rate_bpm", b.heart_rate_bpm, 30.0, 150.0)?;
            check_range("baseline.resp_rate_bpm", b.resp_rate_bpm, 6.0, 40.0)?;
            check_range("baseline.spo2_pct", b.spo2_pct, 80.0, 100.0)?;
            check_range("baseline.temperature_c", b.temperature_c, 34.0, 40.0)?;
            check_range("baseline.systolic_mmhg", b.systolic_mmhg, 70.0, 220.0)?;
            check_range(
                "baseline.diastolic_mmhg",
                b.diastolic_mmhg,
                40.0,
                b.systolic_mmhg - 10.0,
            )?;
        }
        let d = self.duration_s;
        match self.scenario {
            VitalsScenario::QuietNight => {}
            VitalsScenario::SepsisDeterioration { onset_s, ramp_s } => {
                check_range("scenario.onset_s", onset_s, 0.0, d)?;
                check_range("scenario.ramp_s", ramp_s, 60.0, 7.0 * 86_400.0)?;
            }
            VitalsScenario::Apnea {
                onset_s,
                duration_s,
            } => {
                check_range("scenario.onset_s", onset_s, 0.0, d)?;
                check_range("scenario.duration_s", duration_s, 1.0, 3600.0)?;
            }
            VitalsScenario::Desaturation {
                onset_s,
                ramp_s,
                nadir_pct,
            } => {
                check_range("scenario.onset_s", onset_s, 0.0, d)?;
                check_range("scenario.ramp_s", ramp_s, 1.0, 86_400.0)?;
                check_range("scenario.nadir_pct", nadir_pct, 50.0, 99.0)?;
            }
            VitalsScenario::SensorUnplugged { at_s, back_s } => {
                check_range("scenario.at_s", at_s, 0.0, d)?;
                if let Some(back) = back_s {
                    check_range("scenario.back_s", back, at_s, d)?;
                }
            }
        }
        Ok(())
    }
}

/// One report of the monitor. A field is `None` when it was not measured at this time (blood
/// pressure and temperature are spot measurements; respiratory rate and SpO2 drop out during some
/// motion artefacts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalSample {
    /// Seconds from the start of the series.
    pub t_s: f64,
    /// Heart rate, bpm.
    pub heart_rate_bpm: Option<f64>,
    /// Respiratory rate, breaths per minute (0 during apnea).
    pub resp_rate_bpm: Option<f64>,
    /// SpO2, % (integer, as oximeters report).
    pub spo2_pct: Option<f64>,
    /// Temperature, °C (one decimal).
    pub temperature_c: Option<f64>,
    /// Systolic blood pressure, mmHg.
    pub systolic_mmhg: Option<f64>,
    /// Diastolic blood pressure, mmHg.
    pub diastolic_mmhg: Option<f64>,
    /// Level of consciousness.
    pub consciousness: Acvpu,
    /// Whether the resident is on supplemental oxygen.
    pub supplemental_o2: bool,
}

/// Kinds of ground-truth events in a vital-sign series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VitalEventKind {
    /// A sepsis-like deterioration.
    Deterioration,
    /// Breathing stopped.
    Apnea,
    /// SpO2 fell.
    Desaturation,
    /// The sensor stopped reporting.
    SensorUnplugged,
    /// A motion artefact: spurious values that should not raise a clinical alarm.
    MotionArtefact,
}

/// One ground-truth event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalEvent {
    /// What happened.
    pub kind: VitalEventKind,
    /// When it started, seconds.
    pub start_s: f64,
    /// When it ended, if it did within the series.
    pub end_s: Option<f64>,
}

/// What was put into a series.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalsTruth {
    /// The scripted event (if any) and every motion artefact, ascending by start.
    pub events: Vec<VitalEvent>,
    /// The resident's resting values.
    pub baseline: VitalsBaseline,
    /// NEWS2 aggregate of the noise-free state at each sample time (same length as the samples
    /// that would have been reported had the sensor stayed plugged in).
    pub news2: Vec<(f64, u8)>,
    /// First time the noise-free NEWS2 reaches 5 (urgent review), if it does.
    pub news2_reaches_5_s: Option<f64>,
    /// First time the noise-free NEWS2 reaches 7 (emergency response), if it does.
    pub news2_reaches_7_s: Option<f64>,
    /// Whether a correct monitor should raise a clinical alarm at all.
    pub clinical_alarm_expected: bool,
}

/// A resident's series.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalSeries {
    /// The resident's identifier.
    pub resident: String,
    /// Time between samples, seconds.
    pub interval_s: f64,
    /// The reports, ascending in time; missing while the sensor is unplugged.
    pub samples: Vec<VitalSample>,
    /// Ground truth.
    pub truth: VitalsTruth,
}

/// The noise-free physiological state at one time.
#[derive(Debug, Clone, Copy)]
struct State {
    hr: f64,
    rr: f64,
    spo2: f64,
    temp: f64,
    sys: f64,
    dia: f64,
    consciousness: Acvpu,
}

/// Ornstein–Uhlenbeck drift with exact discretisation for any step.
#[derive(Debug, Clone, Copy)]
struct Drift {
    x: f64,
    sd: f64,
    tau: f64,
}

impl Drift {
    fn new(sd: f64, tau: f64, rng: &mut ChaCha8Rng) -> Self {
        Self {
            x: sd * gauss(rng),
            sd,
            tau,
        }
    }
    fn step(&mut self, dt: f64, rng: &mut ChaCha8Rng) -> f64 {
        let a = (-dt / self.tau).exp();
        self.x = self.x * a + self.sd * (1.0 - a * a).sqrt() * gauss(rng);
        self.x
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// NEWS2 aggregate score (SpO2 scale 1) of a noise-free state.
fn news2(s: &State, on_oxygen: bool) -> u8 {
    let rr = s.rr.round();
    let rr_score = match rr {
        x if x <= 8.0 => 3,
        x if x <= 11.0 => 1,
        x if x <= 20.0 => 0,
        x if x <= 24.0 => 2,
        _ => 3,
    };
    let spo2 = s.spo2.round();
    let spo2_score = match spo2 {
        x if x <= 91.0 => 3,
        x if x <= 93.0 => 2,
        x if x <= 95.0 => 1,
        _ => 0,
    };
    let o2_score = if on_oxygen { 2 } else { 0 };
    let sys = s.sys.round();
    let sys_score = match sys {
        x if x <= 90.0 => 3,
        x if x <= 100.0 => 2,
        x if x <= 110.0 => 1,
        x if x <= 219.0 => 0,
        _ => 3,
    };
    let hr = s.hr.round();
    let hr_score = match hr {
        x if x <= 40.0 => 3,
        x if x <= 50.0 => 1,
        x if x <= 90.0 => 0,
        x if x <= 110.0 => 1,
        x if x <= 130.0 => 2,
        _ => 3,
    };
    let c_score = if s.consciousness == Acvpu::Alert {
        0
    } else {
        3
    };
    let t = (s.temp * 10.0).round() / 10.0;
    let t_score = match t {
        x if x <= 35.0 => 3,
        x if x <= 36.0 => 1,
        x if x <= 38.0 => 0,
        x if x <= 39.0 => 1,
        _ => 2,
    };
    rr_score + spo2_score + o2_score + sys_score + hr_score + c_score + t_score
}

fn random_baseline(rng: &mut ChaCha8Rng) -> VitalsBaseline {
    let systolic = uniform(rng, 112.0, 145.0);
    VitalsBaseline {
        heart_rate_bpm: uniform(rng, 58.0, 80.0),
        resp_rate_bpm: uniform(rng, 13.0, 17.0),
        spo2_pct: uniform(rng, 96.0, 98.5),
        temperature_c: uniform(rng, 36.4, 37.1),
        systolic_mmhg: systolic,
        diastolic_mmhg: systolic * uniform(rng, 0.55, 0.65),
    }
}

/// Generate one resident's series.
///
/// # Errors
/// [`SynthError::InvalidConfig`] or [`SynthError::TooLarge`] when `cfg` fails [`VitalsConfig::validate`].
pub fn generate_vitals(cfg: &VitalsConfig) -> Result<VitalSeries, SynthError> {
    cfg.validate()?;
    let mut rng = rng::stream(cfg.seed, Stream::Vitals);
    let baseline = cfg.baseline.unwrap_or_else(|| random_baseline(&mut rng));
    let dt = cfg.interval_s;
    let n = (cfg.duration_s / dt).floor() as usize;

    // Motion artefacts: brief, spurious, and never alarming when handled right.
    let mut artefacts = Vec::new();
    let mut t = exponential(&mut rng, cfg.artefacts_per_hour / 3600.0);
    while t < cfg.duration_s {
        let len = uniform(&mut rng, 5.0, 40.0);
        artefacts.push((t, (t + len).min(cfg.duration_s)));
        t += len + exponential(&mut rng, cfg.artefacts_per_hour / 3600.0);
    }

    let mut drift_hr = Drift::new(3.0, 1200.0, &mut rng);
    let mut drift_rr = Drift::new(0.8, 900.0, &mut rng);
    let mut drift_spo2 = Drift::new(0.5, 1800.0, &mut rng);
    let mut drift_temp = Drift::new(0.1, 7200.0, &mut rng);
    let mut drift_bp = Drift::new(5.0, 1800.0, &mut rng);

    let mut samples = Vec::with_capacity(n);
    let mut news = Vec::with_capacity(n);
    let mut artefact_kind = (0.0, 0.0);
    let mut current_artefact = usize::MAX;
    for i in 0..n {
        let t = i as f64 * dt;
        let hour = cfg.start_hour + t / 3600.0;
        // 1 at 04:00, −1 at 16:00.
        let night = (2.0 * PI * (hour - 4.0) / 24.0).cos();
        let mut s = State {
            hr: baseline.heart_rate_bpm - 5.0 * night + drift_hr.step(dt, &mut rng),
            rr: baseline.resp_rate_bpm - 0.8 * night + drift_rr.step(dt, &mut rng),
            spo2: (baseline.spo2_pct - 0.3 * night + drift_spo2.step(dt, &mut rng)).min(99.5),
            temp: baseline.temperature_c - 0.3 * night + drift_temp.step(dt, &mut rng),
            sys: 0.0,
            dia: 0.0,
            consciousness: Acvpu::Alert,
        };
        let bp = drift_bp.step(dt, &mut rng);
        s.sys = baseline.systolic_mmhg - 8.0 * night + bp;
        s.dia = baseline.diastolic_mmhg - 5.0 * night + 0.6 * bp;
        apply_scenario(cfg.scenario, t, &mut s);

        let on_oxygen = false;
        let score = news2(&s, on_oxygen);
        news.push((t, score));

        if let VitalsScenario::SensorUnplugged { at_s, back_s } = cfg.scenario
            && t >= at_s
            && back_s.is_none_or(|b| t < b)
        {
            continue;
        }

        let mut hr = s.hr + 1.5 * gauss(&mut rng);
        let mut rr = if s.rr < 0.5 {
            Some(0.0)
        } else {
            Some((s.rr + gauss(&mut rng)).max(1.0))
        };
        let mut spo2 = Some(s.spo2 + 0.5 * gauss(&mut rng));
        if let Some(k) = artefacts.iter().position(|&(a, b)| t >= a && t < b) {
            if k != current_artefact {
                current_artefact = k;
                artefact_kind = (uniform(&mut rng, -1.0, 1.0), uniform(&mut rng, 0.0, 1.0));
            }
            // Movement: the pulse reading jumps, the oximeter loses the pleth or reads low, the
            // respiration channel sees movement as breathing.
            let k = artefact_kind.0;
            hr += if k < 0.0 {
                -(20.0 + 20.0 * k.abs())
            } else {
                25.0 + 35.0 * k
            };
            spo2 = if artefact_kind.1 < 0.3 {
                None
            } else {
                Some(uniform(&mut rng, 78.0, 90.0))
            };
            rr = if artefact_kind.1 < 0.5 {
                None
            } else {
                Some(uniform(&mut rng, 26.0, 40.0))
            };
        }
        let spot = |every: f64| (t / every).fract() * every < dt * 0.5 || i == 0;
        let bp_now = spot(cfg.bp_every_s);
        let sys = (s.sys + 3.0 * gauss(&mut rng)).round();
        let dia = (s.dia + 3.0 * gauss(&mut rng)).round().min(sys - 10.0);
        samples.push(VitalSample {
            t_s: t,
            heart_rate_bpm: Some(hr.clamp(20.0, 250.0).round()),
            resp_rate_bpm: rr.map(f64::round),
            spo2_pct: spo2.map(|v| v.round().clamp(50.0, 100.0)),
            temperature_c: spot(cfg.temperature_every_s)
                .then(|| ((s.temp + 0.05 * gauss(&mut rng)) * 10.0).round() / 10.0),
            systolic_mmhg: bp_now.then_some(sys),
            diastolic_mmhg: bp_now.then_some(dia),
            consciousness: s.consciousness,
            supplemental_o2: on_oxygen,
        });
    }

    let mut events: Vec<VitalEvent> = artefacts
        .iter()
        .map(|&(a, b)| VitalEvent {
            kind: VitalEventKind::MotionArtefact,
            start_s: a,
            end_s: Some(b),
        })
        .collect();
    let end_within = |e: f64| (e <= cfg.duration_s).then_some(e);
    let scripted = match cfg.scenario {
        VitalsScenario::QuietNight => None,
        VitalsScenario::SepsisDeterioration { onset_s, .. } => Some(VitalEvent {
            kind: VitalEventKind::Deterioration,
            start_s: onset_s,
            end_s: None,
        }),
        VitalsScenario::Apnea {
            onset_s,
            duration_s,
        } => Some(VitalEvent {
            kind: VitalEventKind::Apnea,
            start_s: onset_s,
            end_s: end_within(onset_s + duration_s),
        }),
        VitalsScenario::Desaturation { onset_s, .. } => Some(VitalEvent {
            kind: VitalEventKind::Desaturation,
            start_s: onset_s,
            end_s: None,
        }),
        VitalsScenario::SensorUnplugged { at_s, back_s } => Some(VitalEvent {
            kind: VitalEventKind::SensorUnplugged,
            start_s: at_s,
            end_s: back_s,
        }),
    };
    events.extend(scripted);
    events.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));

    let first = |threshold: u8| news.iter().find(|(_, s)| *s >= threshold).map(|(t, _)| *t);
    let clinical_alarm_expected = matches!(
        cfg.scenario,
        VitalsScenario::SepsisDeterioration { .. }
            | VitalsScenario::Apnea { .. }
            | VitalsScenario::Desaturation { .. }
    );
    Ok(VitalSeries {
        resident: cfg.resident.clone(),
        interval_s: dt,
        samples,
        truth: VitalsTruth {
            events,
            baseline,
            news2_reaches_5_s: first(5),
            news2_reaches_7_s: first(7),
            news2: news,
            clinical_alarm_expected,
        },
    })
}

/// Apply the scripted course at time `t` to the noise-free state.
fn apply_scenario(scenario: VitalsScenario, t: f64, s: &mut State) {
    match scenario {
        VitalsScenario::QuietNight | VitalsScenario::SensorUnplugged { .. } => {}
        VitalsScenario::SepsisDeterioration { onset_s, ramp_s } => {
            let p = smoothstep((t - onset_s) / ramp_s);
            s.hr += 50.0 * p;
            s.rr += 13.0 * p;
            s.temp += 2.4 * p;
            s.sys -= 40.0 * p;
            s.dia -= 22.0 * p;
            s.spo2 -= 5.0 * p;
            if p > 0.85 {
                s.consciousness = Acvpu::NewConfusion;
            }
        }
        VitalsScenario::Apnea {
            onset_s,
            duration_s,
        } => {
            let since = t - onset_s;
            if since >= 0.0 && since < duration_s {
                s.rr = 0.0;
            }
            // SpO2 starts falling ~15 s after breathing stops, 0.3 %/s, floor 70 %; after breathing
            // resumes it recovers at 1 %/s (with the same circulation lag).
            let lag = 15.0;
            let fall = (since.min(duration_s) - lag).max(0.0) * 0.3;
            let recovered = (since - duration_s - lag).max(0.0) * 1.0;
            let drop = (fall - recovered).clamp(0.0, (s.spo2 - 70.0).max(0.0));
            s.spo2 -= drop;
            if since >= 0.0 && since < duration_s {
                // Diving-reflex bradycardia, then a catch-up tachycardia on recovery.
                s.hr -= 8.0 * (since / 20.0).min(1.0);
            } else if since >= duration_s {
                s.hr += 20.0 * (-(since - duration_s) / 60.0).exp();
            }
        }
        VitalsScenario::Desaturation {
            onset_s,
            ramp_s,
            nadir_pct,
        } => {
            let p = smoothstep((t - onset_s) / ramp_s);
            s.spo2 += (nadir_pct - s.spo2).min(0.0) * p;
            s.hr += 15.0 * p;
            s.rr += 7.0 * p;
        }
    }
}

/// Series for a ward of residents, one config each, seeds derived from `seed` so residents differ.
///
/// # Errors
/// The first resident config that fails validation.
pub fn generate_ward(
    seed: u64,
    residents: &[VitalsConfig],
) -> Result<Vec<VitalSeries>, SynthError> {
    residents
        .iter()
        .enumerate()
        .map(|(i, cfg)| {
            generate_vitals(&VitalsConfig {
                seed: seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(i as u64),
                ..cfg.clone()
            })
        })
        .collect()
}

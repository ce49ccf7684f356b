//! A seeded simulator of care-home residents' vital signs, with scripted events and their ground
//! truth, for scenario tests and the false-alarm measurement. It is test support: it reads no
//! clock and no file; the same seed gives the same day. Its residents are frail elderly people at
//! rest most of the day; the figures below are this simulator's assumptions, not measurements.
//!
//! Model (per resident): means drawn once (HR, RR, SpO2, temperature, blood pressure); a slow
//! AR(1) wander; a circadian dip at night (22:00–07:00: HR −6, RR −1.5, SBP −10, T −0.3);
//! daytime activity bouts (about six a day, 3–20 min, HR +5–18, RR +1–4); measurement noise;
//! artefacts (1 Hz: motion spikes of 3–20 s with HR anywhere in 35–170 and SpO2 82–90;
//! once a minute: one in 300 readings an outlier); short dropouts (10–90 s) about every 4 h;
//! nurse spot checks (BP, temperature, ACVPU, air) at 08, 12, 16 and 20 h.

#![allow(dead_code)]

use auscult_vitals::{
    Acvpu, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, DurationMs, OxygenSupport,
    Reading, Sample, SourceId, SpO2Percent, Timestamp,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// How often the wearable reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Once a second.
    PerSecond,
    /// Once a minute.
    PerMinute,
}

impl Cadence {
    pub fn step_ms(self) -> i64 {
        match self {
            Cadence::PerSecond => 1000,
            Cadence::PerMinute => 60_000,
        }
    }
}

/// A scripted event; `onset` is ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Sepsis-like deterioration ramping over 90 minutes (HR +40, RR +10, T +2.0, SpO2 −4,
    /// SBP −30).
    Sepsis,
    /// Acute hypoxia within 5 minutes (SpO2 −9, RR +6, HR +10).
    Hypoxia,
    /// Rapid tachyarrhythmia: HR to about 150 within a minute.
    Tachyarrhythmia,
    /// Cardiac arrest: HR and RR to 0, SpO2 stops.
    Arrest,
    /// Apnoea: RR to 0, pulse continues.
    Apnoea,
    /// The wearable stops reporting for 40 minutes.
    SensorOff,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Sepsis,
        EventKind::Hypoxia,
        EventKind::Tachyarrhythmia,
        EventKind::Arrest,
        EventKind::Apnoea,
        EventKind::SensorOff,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub onset: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Profile {
    hr: f64,
    rr: f64,
    spo2: f64,
    temp: f64,
    sbp: f64,
}

pub const WEARABLE: &str = "wearable-1";
pub const NURSE: &str = "nurse-tablet";

fn clampn(rng: &mut ChaCha8Rng, mean: f64, sd: f64, lo: f64, hi: f64) -> f64 {
    Normal::new(mean, sd)
        .map(|n| n.sample(rng))
        .unwrap_or(mean)
        .clamp(lo, hi)
}

/// Hour of day (0..24) of a time.
fn hour_of(t: Timestamp) -> f64 {
    (t.0.rem_euclid(86_400_000)) as f64 / 3_600_000.0
}

/// 1 at night, 0 by day, with half-hour ramps around 22:00 and 07:00.
fn night_weight(h: f64) -> f64 {
    let ramp = |x: f64| x.clamp(0.0, 1.0);
    if h >= 21.5 {
        ramp((h - 21.5) / 0.5)
    } else if h < 7.0 {
        1.0
    } else {
        1.0 - ramp((h - 7.0) / 0.5)
    }
}

/// Simulates one resident from `start` for `hours`, with scripted `events`.
pub fn simulate(
    seed: u64,
    start: Timestamp,
    hours: i64,
    cadence: Cadence,
    events: &[Event],
) -> Vec<Sample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = Profile {
        hr: clampn(&mut rng, 72.0, 8.0, 60.0, 90.0),
        rr: clampn(&mut rng, 16.0, 1.5, 13.0, 19.0),
        spo2: clampn(&mut rng, 96.8, 0.8, 95.0, 99.0),
        temp: clampn(&mut rng, 36.7, 0.2, 36.3, 37.2),
        sbp: clampn(&mut rng, 130.0, 12.0, 115.0, 165.0),
    };
    let wearable = SourceId::new(WEARABLE).expect("valid id");
    let nurse = SourceId::new(NURSE).expect("valid id");
    let step = cadence.step_ms();
    let end = start.0 + hours * 3_600_000;
    let mut out = Vec::new();

    // Slow wander (AR(1) with a 30-minute time constant), per second of simulated time.
    let (mut w_hr, mut w_rr, mut w_sp) = (0.0f64, 0.0f64, 0.0f64);
    let alpha = (-(step as f64) / 1_800_000.0).exp();
    let innov = (1.0 - alpha * alpha).sqrt();
    let unit = Normal::new(0.0, 1.0).expect("unit normal");

    let mut activity_until = 0i64;
    let mut activity = (0.0, 0.0);
    let mut artefact_until = 0i64;
    let mut artefact = (0.0, 0.0);
    let mut gap_until = 0i64;

    let mut t = start.0;
    while t < end {
        let ts = Timestamp(t);
        let h = hour_of(ts);
        let night = night_weight(h);
        w_hr = alpha * w_hr + innov * 3.0 * unit.sample(&mut rng);
        w_rr = alpha * w_rr + innov * 0.8 * unit.sample(&mut rng);
        w_sp = alpha * w_sp + innov * 0.5 * unit.sample(&mut rng);

        // Activity bouts by day: about six a day.
        if t >= activity_until && night < 0.5 {
            let rate = step as f64 / (14.0 * 3_600_000.0 / 6.0);
            if rng.random::<f64>() < rate {
                activity_until = t + rng.random_range(3..=20) * 60_000;
                activity = (rng.random_range(5.0..18.0), rng.random_range(1.0..4.0));
            } else {
                activity = (0.0, 0.0);
            }
        }
        let (act_hr, act_rr) = if t < activity_until {
            activity
        } else {
            (0.0, 0.0)
        };

        let mut hr = p.hr - 6.0 * night + w_hr + act_hr;
        let mut rr = p.rr - 1.5 * night + w_rr + act_rr;
        let mut spo2 = (p.spo2 + w_sp).min(99.5);
        let mut temp = p.temp - 0.3 * night;
        let mut sbp = p.sbp - 10.0 * night;
        let mut spo2_reported = true;
        let mut wearable_on = true;

        for e in events {
            let since = t - e.onset.0;
            if since < 0 {
                continue;
            }
            let ramp = |minutes: f64| (since as f64 / (minutes * 60_000.0)).min(1.0);
            match e.kind {
                EventKind::Sepsis => {
                    let r = ramp(90.0);
                    hr += 40.0 * r;
                    rr += 10.0 * r;
                    temp += 2.0 * r;
                    spo2 -= 4.0 * r;
                    sbp -= 30.0 * r;
                }
                EventKind::Hypoxia => {
                    let r = ramp(5.0);
                    spo2 -= 9.0 * r;
                    rr += 6.0 * r;
                    hr += 10.0 * r;
                }
                EventKind::Tachyarrhythmia => {
                    let r = ramp(1.0);
                    hr = hr + (150.0 - hr) * r;
                }
                EventKind::Arrest => {
                    hr = 0.0;
                    rr = 0.0;
                    spo2_reported = false;
                }
                EventKind::Apnoea => {
                    rr = 0.0;
                }
                EventKind::SensorOff => {
                    if since < 40 * 60_000 {
                        wearable_on = false;
                    }
                }
            }
        }

        // Dropouts: about one every 4 hours, 10–90 s.
        if t >= gap_until && rng.random::<f64>() < step as f64 / (4.0 * 3_600_000.0) {
            gap_until = t + rng.random_range(10..=90) * 1000;
        }
        let in_gap = t < gap_until;

        // Artefacts.
        let mut artefact_now = false;
        match cadence {
            Cadence::PerSecond => {
                if t >= artefact_until && rng.random::<f64>() < 1.0 / 1800.0 {
                    artefact_until = t + rng.random_range(3..=20) * 1000;
                    artefact = (
                        rng.random_range(35.0..170.0),
                        rng.random_range(82.0..90.0f64).round(),
                    );
                }
                artefact_now = t < artefact_until;
            }
            Cadence::PerMinute => {
                if rng.random::<f64>() < 1.0 / 300.0 {
                    artefact = (
                        rng.random_range(40.0..150.0),
                        rng.random_range(85.0..92.0f64).round(),
                    );
                    artefact_now = true;
                }
            }
        }

        if wearable_on && !in_gap {
            let alive = hr > 0.0;
            let hr_v = if artefact_now && alive {
                artefact.0
            } else if alive {
                hr + 2.0 * unit.sample(&mut rng)
            } else {
                0.0
            };
            let rr_v = if rr > 0.0 {
                (rr + 1.2 * unit.sample(&mut rng)).max(4.0)
            } else {
                0.0
            };
            let sp_v = if artefact_now {
                artefact.1
            } else {
                (spo2 + 0.6 * unit.sample(&mut rng)).round().min(100.0)
            };
            let push = |out: &mut Vec<Sample>, r: Option<Reading>| {
                if let Some(reading) = r {
                    out.push(Sample {
                        at: ts,
                        source: wearable.clone(),
                        reading,
                    });
                }
            };
            push(
                &mut out,
                BeatsPerMinute::new(hr_v.round().clamp(0.0, 300.0))
                    .ok()
                    .map(Reading::HeartRate),
            );
            push(
                &mut out,
                BreathsPerMinute::new(rr_v.round().clamp(0.0, 80.0))
                    .ok()
                    .map(Reading::RespiratoryRate),
            );
            if spo2_reported {
                push(&mut out, SpO2Percent::new(sp_v).ok().map(Reading::SpO2));
            }
        }

        // Nurse spot checks on the hour at 08, 12, 16, 20.
        let minute_of_day = t.rem_euclid(86_400_000) / 60_000;
        if t % 60_000 == 0 && [480, 720, 960, 1200].contains(&minute_of_day) {
            let s = (sbp + 8.0 * unit.sample(&mut rng))
                .round()
                .clamp(60.0, 250.0);
            let d = (s * 0.6).round();
            let readings = [
                BloodPressure::new(s, d).ok().map(Reading::BloodPressure),
                Celsius::new(((temp + 0.15 * unit.sample(&mut rng)) * 10.0).round() / 10.0)
                    .ok()
                    .map(Reading::Temperature),
                Some(Reading::Consciousness(if hr > 0.0 {
                    Acvpu::Alert
                } else {
                    Acvpu::Unresponsive
                })),
                Some(Reading::OxygenSupport(OxygenSupport::Air)),
            ];
            for reading in readings.into_iter().flatten() {
                out.push(Sample {
                    at: ts,
                    source: nurse.clone(),
                    reading,
                });
            }
        }
        t += step;
    }
    out
}

/// Expected reporting intervals of the simulated sources.
pub fn sources(cadence: Cadence) -> [(SourceId, DurationMs); 2] {
    [
        (
            SourceId::new(WEARABLE).expect("valid id"),
            DurationMs(cadence.step_ms()),
        ),
        (
            SourceId::new(NURSE).expect("valid id"),
            DurationMs::hours(6),
        ),
    ]
}

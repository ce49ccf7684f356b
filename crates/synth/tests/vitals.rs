//! Known-answer tests of the vital-sign scenarios.

use auscult_synth::SynthError;
use auscult_synth::vitals::{
    Acvpu, VitalEventKind, VitalSample, VitalSeries, VitalsBaseline, VitalsConfig, VitalsScenario,
    generate_vitals, generate_ward,
};

fn mean_of(
    samples: &[VitalSample],
    from: f64,
    to: f64,
    f: impl Fn(&VitalSample) -> Option<f64>,
) -> f64 {
    let v: Vec<f64> = samples
        .iter()
        .filter(|s| s.t_s >= from && s.t_s < to)
        .filter_map(f)
        .collect();
    assert!(!v.is_empty(), "no samples in {from}..{to}");
    v.iter().sum::<f64>() / v.len() as f64
}

fn in_artefact(series: &VitalSeries, t: f64) -> bool {
    series.truth.events.iter().any(|e| {
        e.kind == VitalEventKind::MotionArtefact
            && t >= e.start_s
            && e.end_s.is_none_or(|end| t < end)
    })
}

#[test]
fn the_same_seed_gives_the_same_series() {
    let cfg = VitalsConfig {
        seed: 3,
        ..VitalsConfig::default()
    };
    assert_eq!(generate_vitals(&cfg), generate_vitals(&cfg));
    let other = generate_vitals(&VitalsConfig {
        seed: 4,
        ..cfg.clone()
    })
    .expect("valid");
    assert_ne!(generate_vitals(&cfg).expect("valid").samples, other.samples);
}

#[test]
fn a_quiet_night_stays_normal_apart_from_brief_artefacts() {
    let cfg = VitalsConfig {
        seed: 11,
        interval_s: 1.0,
        artefacts_per_hour: 4.0,
        ..VitalsConfig::default()
    };
    let s = generate_vitals(&cfg).expect("valid");
    assert_eq!(s.samples.len(), 8 * 3600);
    assert!(s.truth.news2_reaches_5_s.is_none() && !s.truth.clinical_alarm_expected);
    assert!(
        s.truth.news2.iter().all(|(_, n)| *n <= 3),
        "noise-free NEWS2 stays low"
    );
    let artefacts: Vec<_> = s
        .truth
        .events
        .iter()
        .filter(|e| e.kind == VitalEventKind::MotionArtefact)
        .collect();
    assert!(artefacts.len() >= 15, "{} artefacts", artefacts.len());
    assert!(
        artefacts
            .iter()
            .all(|e| e.end_s.is_some_and(|end| end - e.start_s <= 40.0))
    );
    let (mut clean, mut odd) = (0usize, 0usize);
    let mut artefact_hr = Vec::new();
    for x in &s.samples {
        if in_artefact(&s, x.t_s) {
            artefact_hr.extend(x.heart_rate_bpm);
            continue;
        }
        clean += 1;
        let hr = x.heart_rate_bpm.expect("HR is continuous");
        let spo2 = x.spo2_pct.expect("SpO2 is continuous");
        let rr = x.resp_rate_bpm.expect("RR is continuous");
        if !(45.0..=100.0).contains(&hr) || spo2 < 93.0 || !(9.0..=22.0).contains(&rr) {
            odd += 1;
        }
        assert_eq!(x.consciousness, Acvpu::Alert);
    }
    assert!((odd as f64) < 0.005 * clean as f64, "{odd} odd of {clean}");
    let base = s.truth.baseline.heart_rate_bpm;
    let spurious = artefact_hr
        .iter()
        .filter(|hr| (*hr - base).abs() > 15.0)
        .count();
    assert!(
        spurious as f64 > 0.8 * artefact_hr.len() as f64,
        "artefacts look spurious"
    );
    // Spot measurements: blood pressure every 15 minutes.
    let bp = s
        .samples
        .iter()
        .filter(|x| x.systolic_mmhg.is_some())
        .count();
    assert_eq!(bp, 8 * 4);
}

#[test]
fn vital_signs_dip_in_the_small_hours() {
    let residents: Vec<VitalsConfig> = (0..8)
        .map(|i| VitalsConfig {
            resident: format!("r{i}"),
            start_hour: 20.0,
            duration_s: 12.0 * 3600.0,
            artefacts_per_hour: 0.0,
            temperature_every_s: 60.0,
            ..VitalsConfig::default()
        })
        .collect();
    let ward = generate_ward(5, &residents).expect("valid");
    assert_eq!(ward.len(), 8);
    assert_ne!(ward[0].samples, ward[1].samples);
    let hour = |h: f64| (h - 20.0) * 3600.0;
    let (mut hr_drop, mut temp_drop) = (0.0, 0.0);
    for s in &ward {
        hr_drop += mean_of(&s.samples, hour(20.0), hour(22.0), |x| x.heart_rate_bpm)
            - mean_of(&s.samples, hour(27.0), hour(29.0), |x| x.heart_rate_bpm);
        temp_drop += mean_of(&s.samples, hour(20.0), hour(22.0), |x| x.temperature_c)
            - mean_of(&s.samples, hour(27.0), hour(29.0), |x| x.temperature_c);
    }
    assert!(hr_drop / 8.0 > 2.0, "HR dips {}", hr_drop / 8.0);
    assert!(
        temp_drop / 8.0 > 0.1,
        "temperature dips {}",
        temp_drop / 8.0
    );
}

#[test]
fn sepsis_deteriorates_slowly_and_news2_crosses_thresholds_in_order() {
    let onset = 2.0 * 3600.0;
    let s = generate_vitals(&VitalsConfig {
        seed: 2,
        duration_s: 10.0 * 3600.0,
        start_hour: 10.0,
        scenario: VitalsScenario::SepsisDeterioration {
            onset_s: onset,
            ramp_s: 6.0 * 3600.0,
        },
        baseline: Some(VitalsBaseline::default()),
        artefacts_per_hour: 0.0,
        temperature_every_s: 60.0,
        bp_every_s: 60.0,
        ..VitalsConfig::default()
    })
    .expect("valid");
    let before = |f: fn(&VitalSample) -> Option<f64>| mean_of(&s.samples, 0.0, onset, f);
    let after =
        |f: fn(&VitalSample) -> Option<f64>| mean_of(&s.samples, 9.0 * 3600.0, 10.0 * 3600.0, f);
    assert!(after(|x| x.heart_rate_bpm) - before(|x| x.heart_rate_bpm) > 35.0);
    assert!(after(|x| x.resp_rate_bpm) - before(|x| x.resp_rate_bpm) > 9.0);
    assert!(after(|x| x.temperature_c) - before(|x| x.temperature_c) > 1.8);
    assert!(before(|x| x.systolic_mmhg) - after(|x| x.systolic_mmhg) > 30.0);
    let five = s.truth.news2_reaches_5_s.expect("reaches 5");
    let seven = s.truth.news2_reaches_7_s.expect("reaches 7");
    assert!(
        five > onset + 1800.0 && seven > five && seven < 10.0 * 3600.0,
        "5 at {five}, 7 at {seven}"
    );
    assert!(
        s.samples
            .last()
            .is_some_and(|x| x.consciousness == Acvpu::NewConfusion)
    );
    assert!(
        s.samples
            .iter()
            .filter(|x| x.t_s < onset + 3600.0)
            .all(|x| x.consciousness == Acvpu::Alert)
    );
    assert!(s.truth.clinical_alarm_expected);
    assert!(
        s.truth
            .events
            .iter()
            .any(|e| e.kind == VitalEventKind::Deterioration && e.start_s == onset)
    );
}

#[test]
fn apnea_stops_breathing_and_spo2_follows_with_a_lag() {
    let onset = 600.0;
    let s = generate_vitals(&VitalsConfig {
        seed: 8,
        duration_s: 1800.0,
        interval_s: 1.0,
        scenario: VitalsScenario::Apnea {
            onset_s: onset,
            duration_s: 60.0,
        },
        baseline: Some(VitalsBaseline::default()),
        artefacts_per_hour: 0.0,
        ..VitalsConfig::default()
    })
    .expect("valid");
    for x in &s.samples {
        let rr = x.resp_rate_bpm.expect("RR");
        let apneic = x.t_s >= onset && x.t_s < onset + 60.0;
        assert_eq!(rr == 0.0, apneic, "RR {rr} at {}", x.t_s);
    }
    let at = |t: f64| s.samples[t as usize].spo2_pct.expect("SpO2");
    assert!(
        at(onset + 5.0) >= 94.0,
        "no fall before the circulation lag"
    );
    let nadir = (onset as usize..onset as usize + 120)
        .filter_map(|i| s.samples[i].spo2_pct)
        .fold(f64::MAX, f64::min);
    assert!(nadir < 87.0, "nadir {nadir}");
    assert!(at(onset + 300.0) >= 94.0, "recovered {}", at(onset + 300.0));
    let apnea = s
        .truth
        .events
        .iter()
        .find(|e| e.kind == VitalEventKind::Apnea)
        .expect("event");
    assert_eq!((apnea.start_s, apnea.end_s), (onset, Some(onset + 60.0)));
    assert!(
        s.truth
            .news2_reaches_5_s
            .is_some_and(|t| (onset..onset + 120.0).contains(&t))
    );
}

#[test]
fn desaturation_settles_at_its_nadir() {
    let s = generate_vitals(&VitalsConfig {
        seed: 9,
        duration_s: 4.0 * 3600.0,
        scenario: VitalsScenario::Desaturation {
            onset_s: 3600.0,
            ramp_s: 1200.0,
            nadir_pct: 88.0,
        },
        baseline: Some(VitalsBaseline::default()),
        artefacts_per_hour: 0.0,
        ..VitalsConfig::default()
    })
    .expect("valid");
    let early = mean_of(&s.samples, 0.0, 3600.0, |x| x.spo2_pct);
    let late = mean_of(&s.samples, 3.0 * 3600.0, 4.0 * 3600.0, |x| x.spo2_pct);
    assert!(
        early > 95.0 && (late - 88.0).abs() < 1.5,
        "{early} → {late}"
    );
}

#[test]
fn an_unplugged_sensor_stops_reporting_and_comes_back() {
    let s = generate_vitals(&VitalsConfig {
        seed: 10,
        duration_s: 3600.0,
        interval_s: 1.0,
        scenario: VitalsScenario::SensorUnplugged {
            at_s: 1000.0,
            back_s: Some(1600.0),
        },
        ..VitalsConfig::default()
    })
    .expect("valid");
    assert!(s.samples.iter().all(|x| x.t_s < 1000.0 || x.t_s >= 1600.0));
    assert_eq!(s.samples.len(), 3600 - 600);
    assert!(s.samples.iter().any(|x| x.t_s >= 1600.0));
    assert!(!s.truth.clinical_alarm_expected);
    let forever = generate_vitals(&VitalsConfig {
        scenario: VitalsScenario::SensorUnplugged {
            at_s: 1000.0,
            back_s: None,
        },
        duration_s: 3600.0,
        interval_s: 1.0,
        ..VitalsConfig::default()
    })
    .expect("valid");
    assert_eq!(forever.samples.last().map(|x| x.t_s), Some(999.0));
}

#[test]
fn bad_vitals_configs_are_refused() {
    let bad = [
        VitalsConfig {
            interval_s: 0.0,
            ..VitalsConfig::default()
        },
        VitalsConfig {
            scenario: VitalsScenario::SensorUnplugged {
                at_s: 100.0,
                back_s: Some(50.0),
            },
            ..VitalsConfig::default()
        },
        VitalsConfig {
            scenario: VitalsScenario::Desaturation {
                onset_s: 0.0,
                ramp_s: 10.0,
                nadir_pct: 10.0,
            },
            ..VitalsConfig::default()
        },
        VitalsConfig {
            baseline: Some(VitalsBaseline {
                diastolic_mmhg: 150.0,
                ..VitalsBaseline::default()
            }),
            ..VitalsConfig::default()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(generate_vitals(&cfg), Err(SynthError::InvalidConfig { .. })),
            "{cfg:?}"
        );
    }
}

//! NEWS2 against the RCP 2017 chart: every band boundary on both sides, the rounding rule, SpO2
//! scale 2, the aggregate, the single-parameter-3 rule and the response bands; and properties
//! (no panic on any number, sub-scores monotone away from the normal range).

use auscult_vitals::news2::{
    ClinicalRisk, News2Inputs, SpO2Scale, score, score_consciousness, score_oxygen, score_pulse,
    score_respiration, score_spo2, score_systolic, score_temperature,
};
use auscult_vitals::{
    Acvpu, BeatsPerMinute, BreathsPerMinute, Celsius, MmHg, OxygenSupport, SpO2Percent,
};
use proptest::prelude::*;

fn rr(v: f64) -> BreathsPerMinute {
    BreathsPerMinute::new(v).expect("in range")
}
fn hr(v: f64) -> BeatsPerMinute {
    BeatsPerMinute::new(v).expect("in range")
}
fn sat(v: f64) -> SpO2Percent {
    SpO2Percent::new(v).expect("in range")
}
fn temp(v: f64) -> Celsius {
    Celsius::new(v).expect("in range")
}
fn sbp(v: f64) -> MmHg {
    MmHg::new(v).expect("in range")
}

#[test]
fn respiration_boundaries() {
    let table = [
        (0.0, 3),
        (8.0, 3),
        (8.49, 3),
        (8.5, 1),
        (9.0, 1),
        (11.0, 1),
        (12.0, 0),
        (20.0, 0),
        (20.4, 0),
        (20.5, 2),
        (21.0, 2),
        (24.0, 2),
        (25.0, 3),
        (80.0, 3),
    ];
    for (v, want) in table {
        assert_eq!(score_respiration(rr(v)), want, "RR {v}");
    }
}

#[test]
fn spo2_scale1_boundaries() {
    let table = [
        (50.0, 3),
        (91.0, 3),
        (92.0, 2),
        (93.0, 2),
        (94.0, 1),
        (95.0, 1),
        (95.5, 0),
        (96.0, 0),
        (100.0, 0),
    ];
    for (v, want) in table {
        for o in [None, Some(OxygenSupport::Air), Some(OxygenSupport::Oxygen)] {
            assert_eq!(
                score_spo2(sat(v), SpO2Scale::Scale1, o),
                want,
                "SpO2 {v} {o:?}"
            );
        }
    }
}

#[test]
fn spo2_scale2_boundaries() {
    use OxygenSupport::{Air, Oxygen};
    let table = [
        (83.0, Some(Air), 3),
        (83.0, Some(Oxygen), 3),
        (84.0, Some(Air), 2),
        (85.0, Some(Oxygen), 2),
        (86.0, Some(Air), 1),
        (87.0, Some(Oxygen), 1),
        (88.0, Some(Air), 0),
        (92.0, Some(Oxygen), 0),
        (93.0, Some(Air), 0),
        (100.0, Some(Air), 0),
        (100.0, None, 0),
        (93.0, Some(Oxygen), 1),
        (94.0, Some(Oxygen), 1),
        (95.0, Some(Oxygen), 2),
        (96.0, Some(Oxygen), 2),
        (97.0, Some(Oxygen), 3),
        (100.0, Some(Oxygen), 3),
    ];
    for (v, o, want) in table {
        assert_eq!(
            score_spo2(sat(v), SpO2Scale::Scale2, o),
            want,
            "SpO2 {v} {o:?}"
        );
    }
}

#[test]
fn oxygen_and_consciousness() {
    assert_eq!(score_oxygen(OxygenSupport::Air), 0);
    assert_eq!(score_oxygen(OxygenSupport::Oxygen), 2);
    assert_eq!(score_consciousness(Acvpu::Alert), 0);
    for c in [
        Acvpu::NewConfusion,
        Acvpu::Voice,
        Acvpu::Pain,
        Acvpu::Unresponsive,
    ] {
        assert_eq!(score_consciousness(c), 3, "{c:?}");
    }
}

#[test]
fn systolic_boundaries() {
    let table = [
        (40.0, 3),
        (90.0, 3),
        (91.0, 2),
        (100.0, 2),
        (101.0, 1),
        (110.0, 1),
        (111.0, 0),
        (219.0, 0),
        (219.4, 0),
        (219.5, 3),
        (220.0, 3),
        (300.0, 3),
    ];
    for (v, want) in table {
        assert_eq!(score_systolic(sbp(v)), want, "SBP {v}");
    }
}

#[test]
fn pulse_boundaries() {
    let table = [
        (0.0, 3),
        (40.0, 3),
        (41.0, 1),
        (50.0, 1),
        (51.0, 0),
        (90.0, 0),
        (91.0, 1),
        (110.0, 1),
        (111.0, 2),
        (130.0, 2),
        (131.0, 3),
        (300.0, 3),
    ];
    for (v, want) in table {
        assert_eq!(score_pulse(hr(v)), want, "HR {v}");
    }
}

#[test]
fn temperature_boundaries() {
    let table = [
        (25.0, 3),
        (35.0, 3),
        (35.04, 3),
        (35.05, 1),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (45.0, 2),
    ];
    for (v, want) in table {
        assert_eq!(score_temperature(temp(v)), want, "T {v}");
    }
}

fn normal() -> News2Inputs {
    News2Inputs {
        respiration: Some(rr(16.0)),
        spo2: Some(sat(98.0)),
        oxygen: Some(OxygenSupport::Air),
        systolic: Some(sbp(125.0)),
        pulse: Some(hr(70.0)),
        consciousness: Some(Acvpu::Alert),
        temperature: Some(temp(36.8)),
    }
}

#[test]
fn aggregate_and_bands() {
    let s = score(&normal(), SpO2Scale::Scale1);
    assert_eq!(
        (s.aggregate, s.risk, s.complete()),
        (0, ClinicalRisk::Routine, true)
    );

    // 1–4 without a single 3: low.
    let low = News2Inputs {
        pulse: Some(hr(95.0)),
        temperature: Some(temp(38.5)),
        ..normal()
    };
    let s = score(&low, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (2, ClinicalRisk::Low));

    let four = News2Inputs {
        pulse: Some(hr(115.0)),
        respiration: Some(rr(22.0)),
        ..normal()
    };
    let s = score(&four, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (4, ClinicalRisk::Low));

    // A single 3 with an aggregate of 3: low-medium.
    let single = News2Inputs {
        consciousness: Some(Acvpu::NewConfusion),
        ..normal()
    };
    let s = score(&single, SpO2Scale::Scale1);
    assert_eq!(
        (s.aggregate, s.risk, s.single_three),
        (3, ClinicalRisk::LowMedium, true)
    );

    // 5 and 6: medium, even with a single 3.
    let five = News2Inputs {
        spo2: Some(sat(91.0)),
        respiration: Some(rr(22.0)),
        ..normal()
    };
    let s = score(&five, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (5, ClinicalRisk::Medium));
    let six = News2Inputs {
        oxygen: Some(OxygenSupport::Oxygen),
        pulse: Some(hr(115.0)),
        respiration: Some(rr(22.0)),
        ..normal()
    };
    let s = score(&six, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (6, ClinicalRisk::Medium));

    // 7+: high.
    let seven = News2Inputs {
        spo2: Some(sat(91.0)),
        respiration: Some(rr(22.0)),
        pulse: Some(hr(115.0)),
        ..normal()
    };
    let s = score(&seven, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (7, ClinicalRisk::High));

    // Every parameter at its worst: 3+3+2+3+3+3+3 = 20.
    let worst = News2Inputs {
        respiration: Some(rr(30.0)),
        spo2: Some(sat(85.0)),
        oxygen: Some(OxygenSupport::Oxygen),
        systolic: Some(sbp(80.0)),
        pulse: Some(hr(140.0)),
        consciousness: Some(Acvpu::Unresponsive),
        temperature: Some(temp(34.0)),
    };
    let s = score(&worst, SpO2Scale::Scale1);
    assert_eq!((s.aggregate, s.risk), (20, ClinicalRisk::High));
}

#[test]
fn band_function_boundaries() {
    let table = [
        (0, false, ClinicalRisk::Routine),
        (1, false, ClinicalRisk::Low),
        (4, false, ClinicalRisk::Low),
        (3, true, ClinicalRisk::LowMedium),
        (4, true, ClinicalRisk::LowMedium),
        (5, false, ClinicalRisk::Medium),
        (5, true, ClinicalRisk::Medium),
        (6, true, ClinicalRisk::Medium),
        (7, false, ClinicalRisk::High),
        (7, true, ClinicalRisk::High),
        (20, true, ClinicalRisk::High),
    ];
    for (agg, three, want) in table {
        assert_eq!(ClinicalRisk::from_scores(agg, three), want, "{agg} {three}");
    }
}

#[test]
fn missing_parameters_are_reported_and_score_nothing() {
    let partial = News2Inputs {
        pulse: Some(hr(135.0)),
        ..News2Inputs::default()
    };
    let s = score(&partial, SpO2Scale::Scale1);
    assert_eq!(s.aggregate, 3);
    assert_eq!(s.missing.len(), 6);
    assert!(!s.complete());
    assert_eq!(s.risk, ClinicalRisk::LowMedium);
}

#[test]
fn hypercapnic_resident_on_scale2_is_not_penalised_for_target_saturation() {
    let inputs = News2Inputs {
        spo2: Some(sat(89.0)),
        ..normal()
    };
    assert_eq!(score(&inputs, SpO2Scale::Scale1).aggregate, 3);
    assert_eq!(score(&inputs, SpO2Scale::Scale2).aggregate, 0);
}

/// Checks `f` never increases as `x` rises toward `centre` and never decreases above it.
fn monotone_around(f: impl Fn(f64) -> u8, lo: f64, centre: f64, hi: f64, step: f64) {
    let mut x = lo;
    let mut prev = f(lo);
    while x <= centre {
        let s = f(x);
        assert!(s <= prev, "not falling toward normal at {x}");
        prev = s;
        x += step;
    }
    let mut prev = f(centre);
    let mut x = centre;
    while x <= hi {
        let s = f(x);
        assert!(s >= prev, "not rising away from normal at {x}");
        prev = s;
        x += step;
    }
}

#[test]
fn sub_scores_are_monotone_away_from_normal() {
    monotone_around(|v| score_respiration(rr(v)), 0.0, 16.0, 80.0, 0.05);
    monotone_around(|v| score_pulse(hr(v)), 0.0, 70.0, 300.0, 0.05);
    monotone_around(|v| score_systolic(sbp(v)), 40.0, 150.0, 300.0, 0.05);
    monotone_around(|v| score_temperature(temp(v)), 25.0, 37.0, 45.0, 0.005);
    monotone_around(
        |v| score_spo2(sat(v), SpO2Scale::Scale1, None),
        50.0,
        100.0,
        100.0,
        0.01,
    );
}

fn arb_inputs() -> impl Strategy<Value = News2Inputs> {
    (
        proptest::option::of(0.0..=80.0f64),
        proptest::option::of(50.0..=100.0f64),
        proptest::option::of(any::<bool>()),
        proptest::option::of(40.0..=300.0f64),
        proptest::option::of(0.0..=300.0f64),
        proptest::option::of(0usize..5),
        proptest::option::of(25.0..=45.0f64),
    )
        .prop_map(|(r, s, o, b, h, c, t)| News2Inputs {
            respiration: r.map(rr),
            spo2: s.map(sat),
            oxygen: o.map(|o| {
                if o {
                    OxygenSupport::Oxygen
                } else {
                    OxygenSupport::Air
                }
            }),
            systolic: b.map(sbp),
            pulse: h.map(hr),
            consciousness: c.map(|i| {
                [
                    Acvpu::Alert,
                    Acvpu::NewConfusion,
                    Acvpu::Voice,
                    Acvpu::Pain,
                    Acvpu::Unresponsive,
                ][i]
            }),
            temperature: t.map(temp),
        })
}

proptest! {
    #[test]
    fn constructors_never_panic(v in any::<f64>()) {
        let _ = BeatsPerMinute::new(v);
        let _ = BreathsPerMinute::new(v);
        let _ = SpO2Percent::new(v);
        let _ = Celsius::new(v);
        let _ = MmHg::new(v);
        let _ = auscult_vitals::BloodPressure::new(v, v / 2.0);
    }

    #[test]
    fn scores_are_bounded_and_consistent(inputs in arb_inputs(), scale2 in any::<bool>()) {
        let scale = if scale2 { SpO2Scale::Scale2 } else { SpO2Scale::Scale1 };
        let s = score(&inputs, scale);
        prop_assert!(s.aggregate <= 20);
        prop_assert_eq!(s.risk, ClinicalRisk::from_scores(s.aggregate, s.single_three));
        prop_assert_eq!(s.missing.len() + [
            inputs.respiration.is_some(), inputs.spo2.is_some(), inputs.oxygen.is_some(),
            inputs.systolic.is_some(), inputs.pulse.is_some(), inputs.consciousness.is_some(),
            inputs.temperature.is_some()].iter().filter(|p| **p).count(), 7);
    }

    /// Adding a parameter, or moving the pulse further from normal, never lowers the score.
    #[test]
    fn aggregate_is_monotone(inputs in arb_inputs(), extra in 0.0..=300.0f64) {
        let base = score(&inputs, SpO2Scale::Scale1);
        if inputs.pulse.is_none() {
            let more = News2Inputs { pulse: Some(hr(extra)), ..inputs };
            let s = score(&more, SpO2Scale::Scale1);
            prop_assert!(s.aggregate >= base.aggregate);
            prop_assert!(s.risk >= base.risk);
        } else if let Some(p) = inputs.pulse {
            let further = if p.get() >= 70.0 { (p.get() + extra).min(300.0) } else { (p.get() - extra).max(0.0) };
            let s = score(&News2Inputs { pulse: Some(hr(further)), ..inputs }, SpO2Scale::Scale1);
            prop_assert!(s.aggregate >= base.aggregate);
            prop_assert!(s.risk >= base.risk);
        }
    }
}

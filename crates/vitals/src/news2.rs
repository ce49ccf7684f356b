//! NEWS2 (National Early Warning Score 2, Royal College of Physicians 2017).
//!
//! Scores follow the RCP chart exactly. The chart is printed in whole numbers (temperature in
//! tenths of a degree), so a measured value is first rounded half away from zero to the chart's
//! resolution: a respiratory rate of 20.4 scores as 20, 20.5 as 21; 38.05 °C scores as 38.1.
//! SpO2 scale 2 (target 88–92 %) is used only for residents with hypercapnic respiratory failure,
//! set per resident by a clinician.
//!
//! A missing parameter contributes nothing, so the aggregate of an incomplete set is a lower bound
//! of the full score; [`News2::complete`] says whether all seven were present. This module is pure
//! arithmetic: it never decides whether to alert (that is [`crate::monitor`]'s job).

use std::collections::BTreeMap;

use crate::reading::Parameter;
use crate::units::{
    Acvpu, BeatsPerMinute, BreathsPerMinute, Celsius, MmHg, OxygenSupport, SpO2Percent, Timestamp,
};

/// Which SpO2 scoring scale applies to a resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpO2Scale {
    /// The standard scale.
    #[default]
    Scale1,
    /// For confirmed hypercapnic respiratory failure (target 88–92 %).
    Scale2,
}

/// The clinical response band of a NEWS2 result, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClinicalRisk {
    /// Aggregate 0: routine monitoring.
    Routine,
    /// Aggregate 1–4 with no single parameter scoring 3: ward-based response.
    Low,
    /// Aggregate 1–4 with at least one parameter scoring 3: urgent ward review.
    LowMedium,
    /// Aggregate 5–6: urgent review within the hour.
    Medium,
    /// Aggregate 7 or more: emergency response.
    High,
}

impl ClinicalRisk {
    /// The band for an aggregate score, given whether any single parameter scored 3.
    pub fn from_scores(aggregate: u8, any_single_three: bool) -> Self {
        match aggregate {
            0 => ClinicalRisk::Routine,
            7.. => ClinicalRisk::High,
            5..=6 => ClinicalRisk::Medium,
            _ if any_single_three => ClinicalRisk::LowMedium,
            _ => ClinicalRisk::Low,
        }
    }

    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClinicalRisk::Routine => "routine",
            ClinicalRisk::Low => "low",
            ClinicalRisk::LowMedium => "low_medium",
            ClinicalRisk::Medium => "medium",
            ClinicalRisk::High => "high",
        }
    }
}

fn whole(v: f64) -> i64 {
    v.round() as i64
}

/// Respiratory rate sub-score.
pub fn score_respiration(rr: BreathsPerMinute) -> u8 {
    match whole(rr.get()) {
        ..=8 => 3,
        9..=11 => 1,
        12..=20 => 0,
        21..=24 => 2,
        _ => 3,
    }
}

/// SpO2 sub-score. On scale 2 the score above 92 % depends on whether oxygen is given; an unknown
/// oxygen status is scored as air there (the oxygen sub-score then counts as missing).
pub fn score_spo2(spo2: SpO2Percent, scale: SpO2Scale, oxygen: Option<OxygenSupport>) -> u8 {
    let s = whole(spo2.get());
    match scale {
        SpO2Scale::Scale1 => match s {
            ..=91 => 3,
            92..=93 => 2,
            94..=95 => 1,
            _ => 0,
        },
        SpO2Scale::Scale2 => match (s, oxygen) {
            (..=83, _) => 3,
            (84..=85, _) => 2,
            (86..=87, _) => 1,
            (88..=92, _) => 0,
            (_, None | Some(OxygenSupport::Air)) => 0,
            (93..=94, Some(OxygenSupport::Oxygen)) => 1,
            (95..=96, Some(OxygenSupport::Oxygen)) => 2,
            (_, Some(OxygenSupport::Oxygen)) => 3,
        },
    }
}

/// Air or oxygen sub-score.
pub fn score_oxygen(o: OxygenSupport) -> u8 {
    match o {
        OxygenSupport::Air => 0,
        OxygenSupport::Oxygen => 2,
    }
}

/// Systolic blood pressure sub-score.
pub fn score_systolic(sbp: MmHg) -> u8 {
    match whole(sbp.get()) {
        ..=90 => 3,
        91..=100 => 2,
        101..=110 => 1,
        111..=219 => 0,
        _ => 3,
    }
}

/// Pulse sub-score.
pub fn score_pulse(hr: BeatsPerMinute) -> u8 {
    match whole(hr.get()) {
        ..=40 => 3,
        41..=50 => 1,
        51..=90 => 0,
        91..=110 => 1,
        111..=130 => 2,
        _ => 3,
    }
}

/// Consciousness sub-score: alert 0; new confusion, voice, pain or unresponsive 3.
pub fn score_consciousness(c: Acvpu) -> u8 {
    match c {
        Acvpu::Alert => 0,
        Acvpu::NewConfusion | Acvpu::Voice | Acvpu::Pain | Acvpu::Unresponsive => 3,
    }
}

/// Temperature sub-score, on the chart's 0.1 °C resolution.
pub fn score_temperature(t: Celsius) -> u8 {
    match whole(t.get() * 10.0) {
        ..=350 => 3,
        351..=360 => 1,
        361..=380 => 0,
        381..=390 => 1,
        _ => 2,
    }
}

/// The seven NEWS2 inputs; any may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct News2Inputs {
    /// Respiratory rate.
    pub respiration: Option<BreathsPerMinute>,
    /// Oxygen saturation.
    pub spo2: Option<SpO2Percent>,
    /// Air or oxygen.
    pub oxygen: Option<OxygenSupport>,
    /// Systolic blood pressure.
    pub systolic: Option<MmHg>,
    /// Pulse.
    pub pulse: Option<BeatsPerMinute>,
    /// Level of consciousness.
    pub consciousness: Option<Acvpu>,
    /// Temperature.
    pub temperature: Option<Celsius>,
}

/// Per-parameter sub-scores; `None` where the input was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubScores {
    /// Respiratory rate.
    pub respiration: Option<u8>,
    /// Oxygen saturation.
    pub spo2: Option<u8>,
    /// Air or oxygen.
    pub oxygen: Option<u8>,
    /// Systolic blood pressure.
    pub systolic: Option<u8>,
    /// Pulse.
    pub pulse: Option<u8>,
    /// Consciousness.
    pub consciousness: Option<u8>,
    /// Temperature.
    pub temperature: Option<u8>,
}

impl SubScores {
    fn all(&self) -> [Option<u8>; 7] {
        [
            self.respiration,
            self.spo2,
            self.oxygen,
            self.systolic,
            self.pulse,
            self.consciousness,
            self.temperature,
        ]
    }
}

/// A NEWS2 result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News2 {
    /// Sum of the present sub-scores (0–20).
    pub aggregate: u8,
    /// The sub-scores.
    pub sub_scores: SubScores,
    /// True when some parameter scored 3 on its own.
    pub single_three: bool,
    /// The response band.
    pub risk: ClinicalRisk,
    /// The parameters that were missing (empty when complete).
    pub missing: Vec<Parameter>,
}

impl News2 {
    /// True when all seven parameters were present.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Scores a set of inputs on the given SpO2 scale.
pub fn score(inputs: &News2Inputs, scale: SpO2Scale) -> News2 {
    let sub_scores = SubScores {
        respiration: inputs.respiration.map(score_respiration),
        spo2: inputs.spo2.map(|s| score_spo2(s, scale, inputs.oxygen)),
        oxygen: inputs.oxygen.map(score_oxygen),
        systolic: inputs.systolic.map(score_systolic),
        pulse: inputs.pulse.map(score_pulse),
        consciousness: inputs.consciousness.map(score_consciousness),
        temperature: inputs.temperature.map(score_temperature),
    };
    let all = sub_scores.all();
    let aggregate: u8 = all.iter().flatten().sum();
    let single_three = all.iter().flatten().any(|&s| s == 3);
    let params = [
        Parameter::RespiratoryRate,
        Parameter::SpO2,
        Parameter::OxygenSupport,
        Parameter::BloodPressure,
        Parameter::HeartRate,
        Parameter::Consciousness,
        Parameter::Temperature,
    ];
    let missing = params
        .into_iter()
        .zip(all)
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| p)
        .collect();
    News2 {
        aggregate,
        sub_scores,
        single_three,
        risk: ClinicalRisk::from_scores(aggregate, single_three),
        missing,
    }
}

/// The NEWS2 of each trend bucket from its mean values (`means`: bucket start and parameter to
/// the bucket's mean; blood pressure's is the systolic), in bucket order: what a nurse station
/// plots next to the parameters. Consciousness and oxygen support have no rollups, so the
/// aggregate is of the five measured parameters (a lower bound of the full score, like any
/// incomplete set). A bucket is scored only when respiration, SpO2 and pulse are all present,
/// so a gap in the main sensor shows as a gap, not as a falsely low score; a mean outside its
/// unit's range (never from validated samples) counts as missing.
pub fn trend_of_means(
    means: &BTreeMap<(Timestamp, Parameter), f64>,
    scale: SpO2Scale,
) -> Vec<(Timestamp, News2)> {
    let mut starts: Vec<Timestamp> = means.keys().map(|(t, _)| *t).collect();
    starts.dedup();
    starts
        .into_iter()
        .filter_map(|t| {
            let mean = |p: Parameter| means.get(&(t, p)).copied();
            let inputs = News2Inputs {
                respiration: mean(Parameter::RespiratoryRate)
                    .and_then(|v| BreathsPerMinute::new(v).ok()),
                spo2: mean(Parameter::SpO2).and_then(|v| SpO2Percent::new(v).ok()),
                oxygen: None,
                systolic: mean(Parameter::BloodPressure).and_then(|v| MmHg::new(v).ok()),
                pulse: mean(Parameter::HeartRate).and_then(|v| BeatsPerMinute::new(v).ok()),
                consciousness: None,
                temperature: mean(Parameter::Temperature).and_then(|v| Celsius::new(v).ok()),
            };
            (inputs.respiration.is_some() && inputs.spo2.is_some() && inputs.pulse.is_some())
                .then(|| (t, score(&inputs, scale)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_buckets_are_scored_from_their_means_and_gaps_stay_gaps() {
        let mut means = BTreeMap::new();
        // Bucket 0: RR 25 (3), SpO2 91 (3), HR 70 (0), systolic 120 (0), 37.0 °C (0).
        for (p, v) in [
            (Parameter::RespiratoryRate, 25.0),
            (Parameter::SpO2, 91.0),
            (Parameter::HeartRate, 70.0),
            (Parameter::BloodPressure, 120.0),
            (Parameter::Temperature, 37.0),
        ] {
            means.insert((Timestamp(0), p), v);
        }
        // Bucket 1: HR and RR without SpO2: not scored.
        means.insert((Timestamp(60_000), Parameter::HeartRate), 140.0);
        means.insert((Timestamp(60_000), Parameter::RespiratoryRate), 15.0);
        // Bucket 2: the three required ones, normal; an out-of-range temperature is missing.
        means.insert((Timestamp(120_000), Parameter::HeartRate), 70.0);
        means.insert((Timestamp(120_000), Parameter::RespiratoryRate), 15.0);
        means.insert((Timestamp(120_000), Parameter::SpO2), 97.0);
        means.insert((Timestamp(120_000), Parameter::Temperature), 99.0);
        let trend = trend_of_means(&means, SpO2Scale::Scale1);
        let got: Vec<(i64, u8)> = trend.iter().map(|(t, n)| (t.0, n.aggregate)).collect();
        assert_eq!(got, vec![(0, 6), (120_000, 0)]);
        assert!(trend[0].1.single_three);
        assert!(trend[1].1.missing.contains(&Parameter::Temperature));
    }
}

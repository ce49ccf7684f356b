//! Spot vital signs of a visit: range checks (through `auscult-vitals`' physiological types) and
//! the NEWS2 score of one set.
//!
//! Must never store or score a value the `vitals` crate refuses: a reading out of physiological
//! range is `INVALID_ARGUMENT`, not a high score.

use auscult_proto::v1 as pb;
use auscult_vitals::news2::{self, News2, News2Inputs, SpO2Scale};
use auscult_vitals::units::{
    Acvpu, BeatsPerMinute, BloodPressure, BreathsPerMinute, Celsius, MmHg, OxygenSupport,
    SpO2Percent,
};

use crate::error::{Result, ServerError};

fn bad(e: impl std::fmt::Display) -> ServerError {
    ServerError::InvalidArgument(e.to_string())
}

fn consciousness(c: i32) -> Result<Option<Acvpu>> {
    Ok(match pb::Consciousness::try_from(c) {
        Ok(pb::Consciousness::Unspecified) => None,
        Ok(pb::Consciousness::Alert) => Some(Acvpu::Alert),
        Ok(pb::Consciousness::NewConfusion) => Some(Acvpu::NewConfusion),
        Ok(pb::Consciousness::Voice) => Some(Acvpu::Voice),
        Ok(pb::Consciousness::Pain) => Some(Acvpu::Pain),
        Ok(pb::Consciousness::Unresponsive) => Some(Acvpu::Unresponsive),
        Err(_) => return Err(bad("unknown consciousness level")),
    })
}

/// Checks a set of spot vitals and returns its NEWS2 inputs: every value in physiological range,
/// blood pressure as a pair (diastolic below systolic), at least one measurement, a short source.
pub fn check(v: &pb::SpotVitals) -> Result<News2Inputs> {
    if v.source.chars().count() > 200 {
        return Err(bad("source is at most 200 characters"));
    }
    let systolic = match (v.systolic_mmhg, v.diastolic_mmhg) {
        (Some(s), Some(d)) => {
            BloodPressure::new(s, d).map_err(bad)?;
            Some(MmHg::new(s).map_err(bad)?)
        }
        (None, None) => None,
        _ => return Err(bad("blood pressure needs both systolic and diastolic")),
    };
    let inputs = News2Inputs {
        respiration: v
            .respiratory_rate_per_min
            .map(BreathsPerMinute::new)
            .transpose()
            .map_err(bad)?,
        spo2: v
            .spo2_percent
            .map(SpO2Percent::new)
            .transpose()
            .map_err(bad)?,
        oxygen: v.supplemental_oxygen.map(|o| {
            if o {
                OxygenSupport::Oxygen
            } else {
                OxygenSupport::Air
            }
        }),
        systolic,
        pulse: v
            .heart_rate_bpm
            .map(BeatsPerMinute::new)
            .transpose()
            .map_err(bad)?,
        consciousness: consciousness(v.consciousness)?,
        temperature: v.temperature_c.map(Celsius::new).transpose().map_err(bad)?,
    };
    if inputs == News2Inputs::default() {
        return Err(bad("vitals hold no measurement"));
    }
    Ok(inputs)
}

/// NEWS2 of checked inputs (standard SpO2 scale: scale 2 is a per-resident clinical decision this
/// programme does not record).
pub fn score(inputs: &News2Inputs) -> News2 {
    news2::score(inputs, SpO2Scale::Scale1)
}

/// The protobuf form of a score.
pub fn score_pb(n: &News2) -> pb::News2Score {
    pb::News2Score {
        aggregate: u32::from(n.aggregate),
        risk: n.risk.as_str().to_owned(),
        complete: n.complete(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> pb::SpotVitals {
        pb::SpotVitals {
            heart_rate_bpm: Some(72.0),
            respiratory_rate_per_min: Some(14.0),
            spo2_percent: Some(97.0),
            temperature_c: Some(36.6),
            systolic_mmhg: Some(124.0),
            diastolic_mmhg: Some(78.0),
            consciousness: pb::Consciousness::Alert as i32,
            supplemental_oxygen: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn a_normal_full_set_scores_zero_and_complete() {
        let n = score(&check(&full()).expect("a valid set"));
        assert_eq!(n.aggregate, 0);
        assert!(n.complete());
    }

    #[test]
    fn out_of_range_half_pairs_and_empty_sets_are_refused() {
        let mut v = full();
        v.spo2_percent = Some(130.0);
        assert!(check(&v).is_err());
        let mut v = full();
        v.diastolic_mmhg = None;
        assert!(check(&v).is_err());
        let mut v = full();
        v.diastolic_mmhg = Some(140.0);
        assert!(check(&v).is_err());
        let mut v = full();
        v.heart_rate_bpm = Some(f64::NAN);
        assert!(check(&v).is_err());
        assert!(check(&pb::SpotVitals::default()).is_err());
    }
}

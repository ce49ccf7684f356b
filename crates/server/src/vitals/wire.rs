//! Conversions between the wire (protobuf) and the vitals engine's and store's types, and the
//! refusals a device is told.

use super::*;

/// The wire form of a stored alert state.
pub fn alert_proto(e: &NewAlertEvent) -> pb::Alert {
    pb::Alert {
        alert_id: e.alert_id.clone(),
        subject_id: e.subject_id.clone(),
        kind: alert_kind_pb(e.kind).into(),
        severity: severity_pb(e.severity).into(),
        state: alert_state_pb(e.state).into(),
        conditions: e.conditions.iter().map(condition_pb).collect(),
        condition_active: e.condition_active,
        escalation_level: u32::try_from(e.level).unwrap_or(0),
        detail: e.detail.clone(),
        raised_at: Some(convert::timestamp(e.raised_at_ms)),
        snoozed_until: e.snoozed_until_ms.map(convert::timestamp),
        acted_by: e.acted_by.clone(),
    }
}

pub(super) fn event_proto(event_id: i64, e: &NewAlertEvent) -> pb::AlertEvent {
    pb::AlertEvent {
        event_id: u64::try_from(event_id).unwrap_or(0),
        at: Some(convert::timestamp(e.at_ms)),
        change: e
            .change
            .map_or(pb::AlertChange::Unspecified, alert_change_pb)
            .into(),
        alert: Some(alert_proto(e)),
    }
}

/// A parameter on the wire.
pub fn parameter_pb(p: Parameter) -> pb::VitalParameter {
    match p {
        Parameter::HeartRate => pb::VitalParameter::HeartRate,
        Parameter::RespiratoryRate => pb::VitalParameter::RespiratoryRate,
        Parameter::SpO2 => pb::VitalParameter::Spo2,
        Parameter::Temperature => pb::VitalParameter::Temperature,
        Parameter::BloodPressure => pb::VitalParameter::BloodPressure,
        Parameter::Consciousness => pb::VitalParameter::Consciousness,
        Parameter::OxygenSupport => pb::VitalParameter::OxygenSupport,
    }
}

/// The parameter of a wire value; `None` for `UNSPECIFIED` or a value this server does not know.
pub fn parameter_of(p: i32) -> Option<Parameter> {
    match pb::VitalParameter::try_from(p).ok()? {
        pb::VitalParameter::Unspecified => None,
        pb::VitalParameter::HeartRate => Some(Parameter::HeartRate),
        pb::VitalParameter::RespiratoryRate => Some(Parameter::RespiratoryRate),
        pb::VitalParameter::Spo2 => Some(Parameter::SpO2),
        pb::VitalParameter::Temperature => Some(Parameter::Temperature),
        pb::VitalParameter::BloodPressure => Some(Parameter::BloodPressure),
        pb::VitalParameter::Consciousness => Some(Parameter::Consciousness),
        pb::VitalParameter::OxygenSupport => Some(Parameter::OxygenSupport),
    }
}

/// An alert's kind on the wire.
pub fn alert_kind_pb(k: AlertClass) -> pb::AlertKind {
    match k {
        AlertClass::Clinical => pb::AlertKind::Clinical,
        AlertClass::SensorSilent => pb::AlertKind::SensorSilent,
    }
}

/// The kind of a wire value; `None` for `UNSPECIFIED` or an unknown value.
pub fn alert_kind_of(k: i32) -> Option<AlertClass> {
    AlertClass::ALL
        .iter()
        .copied()
        .find(|&v| alert_kind_pb(v) as i32 == k)
}

/// A severity on the wire.
pub fn severity_pb(s: Severity) -> pb::AlertSeverity {
    match s {
        Severity::Technical => pb::AlertSeverity::Technical,
        Severity::Low => pb::AlertSeverity::Low,
        Severity::LowMedium => pb::AlertSeverity::LowMedium,
        Severity::Medium => pb::AlertSeverity::Medium,
        Severity::High => pb::AlertSeverity::High,
        Severity::Critical => pb::AlertSeverity::Critical,
    }
}

/// The severity of a wire value; `None` for `UNSPECIFIED` or an unknown value.
pub fn severity_of(s: i32) -> Option<Severity> {
    Severity::ALL
        .iter()
        .copied()
        .find(|&v| severity_pb(v) as i32 == s)
}

/// An alert's state on the wire.
pub fn alert_state_pb(s: AlertStatus) -> pb::AlertState {
    match s {
        AlertStatus::Open => pb::AlertState::Open,
        AlertStatus::Acknowledged => pb::AlertState::Acknowledged,
        AlertStatus::Resolved => pb::AlertState::Resolved,
    }
}

/// The state of a wire value; `None` for `UNSPECIFIED` or an unknown value.
pub fn alert_state_of(s: i32) -> Option<AlertStatus> {
    AlertStatus::ALL
        .iter()
        .copied()
        .find(|&v| alert_state_pb(v) as i32 == s)
}

/// What happened to an alert, on the wire.
pub fn alert_change_pb(c: AlertEventKind) -> pb::AlertChange {
    match c {
        AlertEventKind::Raised => pb::AlertChange::Raised,
        AlertEventKind::SeverityRaised => pb::AlertChange::SeverityRaised,
        AlertEventKind::Escalated => pb::AlertChange::Escalated,
        AlertEventKind::Acknowledged => pb::AlertChange::Acknowledged,
        AlertEventKind::Snoozed => pb::AlertChange::Snoozed,
        AlertEventKind::SnoozeEnded => pb::AlertChange::SnoozeEnded,
        AlertEventKind::ConditionAdded => pb::AlertChange::ConditionAdded,
        AlertEventKind::ConditionCleared => pb::AlertChange::ConditionCleared,
        AlertEventKind::Resolved => pb::AlertChange::Resolved,
        AlertEventKind::Resumed => pb::AlertChange::Resumed,
    }
}

/// The change of a wire value; `None` for `UNSPECIFIED` or an unknown value.
pub fn alert_change_of(c: i32) -> Option<AlertEventKind> {
    AlertEventKind::ALL
        .iter()
        .copied()
        .find(|&v| alert_change_pb(v) as i32 == c)
}

fn condition_kind_pb(c: ConditionClass) -> pb::AlertConditionKind {
    match c {
        ConditionClass::News2 => pb::AlertConditionKind::News2,
        ConditionClass::SuddenChange => pb::AlertConditionKind::SuddenChange,
        ConditionClass::NoPulse => pb::AlertConditionKind::NoPulse,
        ConditionClass::NoBreathing => pb::AlertConditionKind::NoBreathing,
        ConditionClass::SensorSilent => pb::AlertConditionKind::SensorSilent,
    }
}

/// A condition on the wire: its kind, and its parameter or sensor.
pub fn condition_pb(c: &Condition) -> pb::AlertCondition {
    pb::AlertCondition {
        kind: condition_kind_pb(c.class()).into(),
        parameter: match c {
            Condition::SuddenChange(p) => parameter_pb(*p).into(),
            _ => pb::VitalParameter::Unspecified.into(),
        },
        sensor: match c {
            Condition::SensorSilent(s) => s.as_str().to_owned(),
            _ => String::new(),
        },
    }
}

/// The condition of a wire value; `None` when its kind is unknown, or a sudden change lacks
/// its parameter, or a silent sensor its name.
pub fn condition_of(c: &pb::AlertCondition) -> Option<Condition> {
    let class = ConditionClass::ALL
        .iter()
        .copied()
        .find(|&v| condition_kind_pb(v) as i32 == c.kind)?;
    match class {
        ConditionClass::News2 => Some(Condition::News2),
        ConditionClass::NoPulse => Some(Condition::NoPulse),
        ConditionClass::NoBreathing => Some(Condition::NoBreathing),
        ConditionClass::SuddenChange => parameter_of(c.parameter).map(Condition::SuddenChange),
        ConditionClass::SensorSilent => {
            SourceId::parse(&c.sensor).ok().map(Condition::SensorSilent)
        }
    }
}

/// Checks a subject id as devices send it: 1 to 128 characters, no control characters.
pub(crate) fn check_subject_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ServerError::InvalidArgument(
            "subject_id must be 1 to 128 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// Why one sample of a batch was refused.
pub(super) fn bad(i: usize, why: impl std::fmt::Display) -> (Option<u32>, String) {
    (
        Some(u32::try_from(i).unwrap_or(u32::MAX)),
        format!("sample {i}: {why}"),
    )
}

/// Why the engine refused a sample, in the words of an ack.
pub(super) fn refusal(e: &VitalsError, sample: &Sample, config: &MonitorConfig) -> String {
    let parameter = sample.reading.parameter();
    match e {
        VitalsError::InFuture { at, now } => format!(
            "measured {} s in the future of the server clock",
            at.since(*now).0 / 1000
        ),
        VitalsError::AfterSent { .. } => "measured after the batch's sent_at".into(),
        VitalsError::TooOld { .. } => format!(
            "older than the {}-day backfill limit",
            config.max_backfill.0 / DurationMs::hours(24).0
        ),
        VitalsError::Duplicate { .. } => {
            format!("duplicate {parameter} sample from this source at this time")
        }
        VitalsError::OutOfOrder { at, last } => format!(
            "out of order: {parameter} sample {} ms before the last accepted one",
            last.since(*at).0
        ),
        other => other.to_string(),
    }
}

/// Converts and range-checks one sample sent by `device_id`.
pub(super) fn to_sample(
    s: &pb::VitalSample,
    device_id: &str,
) -> std::result::Result<Sample, String> {
    use pb::vital_sample::Value;
    let at = s
        .measured_at
        .as_ref()
        .map(convert::millis)
        .ok_or("measured_at is missing")?;
    let source = SourceId::of_device(device_id, &s.source_device).map_err(|e| e.to_string())?;
    let e = |e: auscult_vitals::VitalsError| e.to_string();
    let reading = match s.value.as_ref().ok_or("no value")? {
        Value::HeartRatePerMin(v) => Reading::HeartRate(BeatsPerMinute::new(*v).map_err(e)?),
        Value::RespiratoryRatePerMin(v) => {
            Reading::RespiratoryRate(BreathsPerMinute::new(*v).map_err(e)?)
        }
        Value::Spo2Percent(v) => Reading::SpO2(SpO2Percent::new(*v).map_err(e)?),
        Value::TemperatureCelsius(v) => Reading::Temperature(Celsius::new(*v).map_err(e)?),
        Value::BloodPressure(bp) => Reading::BloodPressure(
            BloodPressure::new(bp.systolic_mmhg, bp.diastolic_mmhg).map_err(e)?,
        ),
        Value::Consciousness(c) => Reading::Consciousness(
            match pb::Acvpu::try_from(*c).unwrap_or(pb::Acvpu::Unspecified) {
                pb::Acvpu::Alert => Acvpu::Alert,
                pb::Acvpu::NewConfusion => Acvpu::NewConfusion,
                pb::Acvpu::Voice => Acvpu::Voice,
                pb::Acvpu::Pain => Acvpu::Pain,
                pb::Acvpu::Unresponsive => Acvpu::Unresponsive,
                pb::Acvpu::Unspecified => return Err("consciousness is unspecified".into()),
            },
        ),
        Value::Oxygen(o) => Reading::OxygenSupport(
            match pb::OxygenSupport::try_from(*o).unwrap_or(pb::OxygenSupport::Unspecified) {
                pb::OxygenSupport::Air => OxygenSupport::Air,
                pb::OxygenSupport::Oxygen => OxygenSupport::Oxygen,
                pb::OxygenSupport::Unspecified => {
                    return Err("oxygen support is unspecified".into());
                }
            },
        ),
    };
    Ok(Sample {
        at: Timestamp(at),
        source,
        reading,
    })
}

/// The stored row of a sample sent by `device_id`, its sensor named `source` by that device.
pub(super) fn to_row(s: &Sample, device_id: &str, source: &str) -> VitalRow {
    let (value, value2) = match s.reading {
        Reading::BloodPressure(bp) => (bp.systolic().get(), Some(bp.diastolic().get())),
        Reading::Consciousness(c) => (
            match c {
                Acvpu::Alert => 0.0,
                Acvpu::NewConfusion => 1.0,
                Acvpu::Voice => 2.0,
                Acvpu::Pain => 3.0,
                Acvpu::Unresponsive => 4.0,
            },
            None,
        ),
        Reading::OxygenSupport(o) => (if o == OxygenSupport::Oxygen { 1.0 } else { 0.0 }, None),
        other => (other.numeric().unwrap_or(0.0), None),
    };
    VitalRow {
        parameter: s.reading.parameter().as_str().to_owned(),
        device_id: device_id.to_owned(),
        source: source.to_owned(),
        measured_at_ms: s.at.0,
        value,
        value2,
    }
}

pub(super) fn rollup_rows(samples: &[Sample]) -> Vec<(String, MinuteRow)> {
    rollup_minutes(samples)
        .into_iter()
        .map(|((m, p), r)| {
            (
                p.as_str().to_owned(),
                MinuteRow {
                    minute_ms: m.start().0,
                    count: i64::from(r.count),
                    min: r.min,
                    max: r.max,
                    sum: r.sum,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use auscult_vitals::vocab::every_condition;

    use super::*;

    /// Every term of the vital-sign vocabulary has its own protobuf value, never `UNSPECIFIED`,
    /// and comes back from it unchanged; `UNSPECIFIED` and unknown values come back as `None`.
    #[test]
    fn every_alert_term_goes_through_protobuf_and_back() {
        fn walk<T: Term + std::fmt::Debug>(to: fn(T) -> i32, back: fn(i32) -> Option<T>) {
            let mut seen = HashSet::new();
            for &t in T::ALL {
                let v = to(t);
                assert_ne!(v, 0, "{t:?} is UNSPECIFIED on the wire");
                assert!(seen.insert(v), "{t:?} shares its wire value");
                assert_eq!(back(v), Some(t));
            }
            assert_eq!(back(0), None);
            assert_eq!(back(999), None);
        }
        walk::<AlertClass>(|t| alert_kind_pb(t) as i32, alert_kind_of);
        walk::<Severity>(|t| severity_pb(t) as i32, severity_of);
        walk::<AlertStatus>(|t| alert_state_pb(t) as i32, alert_state_of);
        walk::<AlertEventKind>(|t| alert_change_pb(t) as i32, alert_change_of);
        walk::<ConditionClass>(
            |t| condition_kind_pb(t) as i32,
            |v| {
                ConditionClass::ALL
                    .iter()
                    .copied()
                    .find(|&c| condition_kind_pb(c) as i32 == v)
            },
        );

        let mut seen = HashSet::new();
        for p in Parameter::ALL {
            let v = parameter_pb(p) as i32;
            assert_ne!(v, 0);
            assert!(seen.insert(v));
            assert_eq!(parameter_of(v), Some(p));
        }
        assert_eq!(parameter_of(0), None);

        let conditions = every_condition();
        let classes: HashSet<_> = conditions.iter().map(Condition::class).collect();
        assert_eq!(classes.len(), ConditionClass::ALL.len());
        for c in conditions {
            assert_eq!(condition_of(&condition_pb(&c)), Some(c.clone()), "{c}");
        }
        // A sudden change without its parameter, or a silent sensor without its name, is not a
        // condition.
        for kind in [
            pb::AlertConditionKind::SuddenChange,
            pb::AlertConditionKind::SensorSilent,
        ] {
            let bare = pb::AlertCondition {
                kind: kind.into(),
                ..pb::AlertCondition::default()
            };
            assert_eq!(condition_of(&bare), None, "{kind:?}");
        }
    }
}

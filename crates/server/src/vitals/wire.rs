//! Conversions between the wire (protobuf) and the vitals engine's and store's types, and the
//! refusals a device is told.

use super::*;

/// The wire form of a stored alert state.
pub fn alert_proto(e: &NewAlertEvent) -> pb::Alert {
    pb::Alert {
        alert_id: e.alert_id.clone(),
        subject_id: e.subject_id.clone(),
        kind: e.kind.as_str().to_owned(),
        severity: e.severity.as_str().to_owned(),
        state: e.state.as_str().to_owned(),
        conditions: e.conditions.iter().map(ToString::to_string).collect(),
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
        change: e.change.map_or("", AlertEventKind::as_str).to_owned(),
        alert: Some(alert_proto(e)),
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

//! Point-of-care blood results of a visit (the fingertip test): recording them and their
//! protobuf form.
//!
//! The analytes, units, plausible bounds, reference ranges and how a result weighs on the
//! outcome are `auscult_triage::labs`'; this module maps the proto enum to the domain one (the
//! only mapping), checks a request's fields with those rules, and stores all of a request's
//! results or none. Must never store a result the rules refuse, or log a value.

use std::collections::HashSet;

use auscult_proto::v1 as pb;
use auscult_store::labs::{LabRow, NewLab};
use auscult_store::now_ms;
use auscult_triage::{Analyte, Classification, LabResult, LabWeight};

use super::fields::invalid;
use super::{ProgramApi, STAFF, subject_of};
use crate::auth::Caller;
use crate::convert;
use crate::error::{Result, ServerError};

/// How long before the visit a sample may have been measured (a result entered for the visit is
/// the visit's test, not an old one).
const MEASURED_BEFORE_VISIT_MS: i64 = 24 * 60 * 60 * 1000;
/// How far in the future a measurement time may be (clock skew).
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The domain analyte of a proto one (`None`: unspecified or unknown).
pub(crate) fn analyte(a: i32) -> Option<Analyte> {
    Some(match pb::LabAnalyte::try_from(a).ok()? {
        pb::LabAnalyte::Unspecified => return None,
        pb::LabAnalyte::Hba1c => Analyte::HbA1c,
        pb::LabAnalyte::Glucose => Analyte::Glucose,
        pb::LabAnalyte::TotalCholesterol => Analyte::TotalCholesterol,
        pb::LabAnalyte::HdlCholesterol => Analyte::HdlCholesterol,
        pb::LabAnalyte::Triglycerides => Analyte::Triglycerides,
    })
}

/// The proto analyte of a domain one.
pub(crate) fn analyte_pb(a: Analyte) -> pb::LabAnalyte {
    match a {
        Analyte::HbA1c => pb::LabAnalyte::Hba1c,
        Analyte::Glucose => pb::LabAnalyte::Glucose,
        Analyte::TotalCholesterol => pb::LabAnalyte::TotalCholesterol,
        Analyte::HdlCholesterol => pb::LabAnalyte::HdlCholesterol,
        Analyte::Triglycerides => pb::LabAnalyte::Triglycerides,
    }
}

fn classification_pb(c: Classification) -> pb::LabClassification {
    match c {
        Classification::Low => pb::LabClassification::Low,
        Classification::Normal => pb::LabClassification::Normal,
        Classification::High => pb::LabClassification::High,
    }
}

/// A stored result as the rules see it (a stored value the rules refuse is corrupt: nothing
/// else could have stored it).
pub(crate) fn checked(row: &LabRow) -> Result<LabResult> {
    LabResult::new(row.analyte, row.value, row.fasting)
        .map_err(|_| ServerError::Corrupt("a stored lab result is out of bounds"))
}

/// A stored result as protobuf, classified against the range that applies to it.
pub(crate) fn lab_result_pb(row: &LabRow) -> Result<pb::LabResult> {
    let result = checked(row)?;
    let analyte = result.analyte();
    let range = result.reference_range();
    let unit = analyte.unit().as_str();
    let sample = match (analyte.depends_on_fasting(), result.fasting()) {
        (false, _) => "",
        (true, true) => ", fasting",
        (true, false) => ", non-fasting",
    };
    Ok(pb::LabResult {
        analyte: analyte_pb(analyte) as i32,
        value: result.value(),
        unit: unit.to_owned(),
        measured_at: Some(convert::timestamp(row.measured_at_ms)),
        fasting: result.fasting(),
        classification: classification_pb(result.classify()) as i32,
        reference_range: Some(pb::LabReferenceRange {
            low: range.low,
            high: range.high,
            text: format!("{range} {unit} (adult{sample})"),
        }),
        loinc_code: analyte.loinc().to_owned(),
        name: analyte.name_en().to_owned(),
        name_ja: analyte.name_ja().to_owned(),
        reason: result.reason().unwrap_or_default(),
        refers: result.weight() == LabWeight::Refer,
        entered_by: row.entered_by.clone(),
        entered_at: Some(convert::timestamp(row.entered_at_ms)),
    })
}

/// Checks a request's results: 1 to 5, one per analyte, each with its analyte's unit, a
/// plausible value and a measurement time between a day before the visit and now. Returns them
/// with their measurement times (Unix ms).
fn check_results(
    results: &[pb::LabResultInput],
    visited_at_ms: i64,
    now: i64,
) -> Result<Vec<(LabResult, i64)>> {
    if results.is_empty() {
        return Err(invalid("results are required"));
    }
    if results.len() > Analyte::ALL.len() {
        return Err(invalid("at most one result per analyte (5)"));
    }
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        let a = analyte(r.analyte).ok_or_else(|| {
            invalid(format!(
                "results[{i}].analyte must be HBA1C, GLUCOSE, TOTAL_CHOLESTEROL, HDL_CHOLESTEROL or TRIGLYCERIDES"
            ))
        })?;
        if !seen.insert(a) {
            return Err(invalid(format!("results[{i}]: {a} is given twice")));
        }
        let result = LabResult::with_unit(a, r.value, &r.unit, r.fasting)
            .map_err(|e| invalid(format!("results[{i}]: {e}")))?;
        let measured = r.measured_at.as_ref().map_or(now, convert::millis);
        if measured > now + CLOCK_SKEW_MS {
            return Err(invalid(format!(
                "results[{i}].measured_at is in the future"
            )));
        }
        if measured < visited_at_ms.saturating_sub(MEASURED_BEFORE_VISIT_MS) {
            return Err(invalid(format!(
                "results[{i}].measured_at is more than a day before the visit"
            )));
        }
        checked.push((result, measured));
    }
    Ok(checked)
}

impl ProgramApi {
    /// `RecordLabResults`: programme staff enter a visit's point-of-care results; each replaces
    /// the visit's earlier result of its analyte. Returns the visit as `GetVisit` would.
    pub(crate) async fn record_labs_inner(
        &self,
        caller: &Caller,
        req: pb::RecordLabResultsRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        if !resident.consenting() {
            return Err(ServerError::FailedPrecondition(
                "the resident has withdrawn consent: no data changes".into(),
            ));
        }
        let now = now_ms();
        let results = check_results(&req.results, visit.visited_at_ms, now)?;
        let rows: Vec<NewLab<'_>> = results
            .iter()
            .map(|(r, measured_at_ms)| NewLab {
                analyte: r.analyte(),
                value: r.value(),
                unit: r.analyte().unit().as_str(),
                fasting: r.fasting(),
                measured_at_ms: *measured_at_ms,
            })
            .collect();
        let stored = self
            .state
            .store
            .put_visit_labs(
                tenant_id,
                &caller.actor(),
                &visit.id,
                &subject_of(&resident),
                &rows,
                now,
            )
            .await?;
        if !stored {
            return Err(ServerError::NotFound("visit"));
        }
        tracing::info!(visit_id = %visit.id, results = rows.len(), "lab results recorded");
        self.reread_visit(tenant_id, &visit.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(a: pb::LabAnalyte, value: f64, unit: &str) -> pb::LabResultInput {
        pb::LabResultInput {
            analyte: a as i32,
            value,
            unit: unit.into(),
            measured_at: None,
            fasting: true,
        }
    }

    #[test]
    fn every_proto_analyte_maps_both_ways() {
        for a in Analyte::ALL {
            assert_eq!(analyte(analyte_pb(a) as i32), Some(a));
        }
        assert_eq!(analyte(pb::LabAnalyte::Unspecified as i32), None);
        assert_eq!(analyte(99), None);
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let now = 1_800_000_000_000;
        let ok = check_results(
            &[
                input(pb::LabAnalyte::Hba1c, 7.1, "%"),
                input(pb::LabAnalyte::Glucose, 130.0, "mg/dL"),
            ],
            now,
            now,
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].1, now);
        let refused = |results: &[pb::LabResultInput]| match check_results(results, now, now) {
            Err(ServerError::InvalidArgument(m)) => m,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        };
        assert_eq!(refused(&[]), "results are required");
        assert!(refused(&[input(pb::LabAnalyte::Unspecified, 7.1, "%")]).contains("analyte"));
        assert!(
            refused(&[pb::LabResultInput {
                analyte: 42,
                ..input(pb::LabAnalyte::Hba1c, 7.1, "%")
            }])
            .contains("analyte")
        );
        assert_eq!(
            refused(&[input(pb::LabAnalyte::Glucose, 7.0, "mmol/L")]),
            "results[0]: Glucose is entered in mg/dL, not \"mmol/L\""
        );
        assert!(refused(&[input(pb::LabAnalyte::Hba1c, f64::NAN, "%")]).contains("not a number"));
        assert!(refused(&[input(pb::LabAnalyte::Hba1c, -1.0, "%")]).contains("impossible"));
        assert!(
            refused(&[
                input(pb::LabAnalyte::Hba1c, 6.0, "%"),
                input(pb::LabAnalyte::Hba1c, 6.1, "%"),
            ])
            .contains("twice")
        );
        let at = |ms: i64| pb::LabResultInput {
            measured_at: Some(convert::timestamp(ms)),
            ..input(pb::LabAnalyte::Hba1c, 6.0, "%")
        };
        assert!(refused(&[at(now + 3_600_000)]).contains("future"));
        assert!(refused(&[at(now - 2 * MEASURED_BEFORE_VISIT_MS)]).contains("before the visit"));
        assert!(check_results(&[at(now - 3_600_000)], now, now).is_ok());
        assert!(refused(&vec![input(pb::LabAnalyte::Hba1c, 6.0, "%"); 6]).contains("at most"));
    }
}

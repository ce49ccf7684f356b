//! What staff enter on the visit page by hand: spot vitals and the fingertip blood test's
//! results. Empty fields were not measured; the API checks ranges and units.

use std::sync::Arc;

use auscult_proto::v1 as pb;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::{api, form};
use crate::web::session::require;
use crate::web::{Web, WebError, WebResult};

/// The point-of-care results form: empty fields were not measured.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LabsForm {
    csrf: String,
    hba1c: String,
    glucose: String,
    total_cholesterol: String,
    hdl: String,
    triglycerides: String,
    fasting: Option<String>,
}

/// `POST /visits/{id}/labs`: the fingertip blood test's results (each replaces the visit's
/// earlier result of the same analyte).
pub async fn record_labs(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<LabsForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &LabsForm| &f.csrf)?;
    let now = Some(crate::convert::timestamp(Utc::now().timestamp_millis()));
    let mut results = Vec::new();
    for (value, analyte, unit) in [
        (&f.hba1c, pb::LabAnalyte::Hba1c, "%"),
        (&f.glucose, pb::LabAnalyte::Glucose, "mg/dL"),
        (
            &f.total_cholesterol,
            pb::LabAnalyte::TotalCholesterol,
            "mg/dL",
        ),
        (&f.hdl, pb::LabAnalyte::HdlCholesterol, "mg/dL"),
        (&f.triglycerides, pb::LabAnalyte::Triglycerides, "mg/dL"),
    ] {
        if let Some(value) = number(value)? {
            results.push(pb::LabResultInput {
                analyte: analyte as i32,
                value,
                unit: unit.into(),
                measured_at: now,
                fasting: f.fasting.is_some(),
            });
        }
    }
    if results.is_empty() {
        return Err(WebError::BadRequest);
    }
    api(&web)
        .record_labs_inner(
            &signed.caller,
            pb::RecordLabResultsRequest {
                visit_id: id.clone(),
                results,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/visits/{id}?saved=1")).into_response())
}

/// The spot vitals form: empty fields are not measured.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VitalsForm {
    csrf: String,
    heart_rate: String,
    respiratory_rate: String,
    spo2: String,
    temperature: String,
    systolic: String,
    diastolic: String,
    consciousness: String,
    oxygen: Option<String>,
}

fn number(s: &str) -> WebResult<Option<f64>> {
    let s = s.trim().replace(',', ".");
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(Some)
        .ok_or(WebError::BadRequest)
}

/// `POST /visits/{id}/vitals`.
pub async fn record_vitals(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<VitalsForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &VitalsForm| &f.csrf)?;
    let consciousness = match f.consciousness.as_str() {
        "" => pb::Consciousness::Unspecified,
        "alert" => pb::Consciousness::Alert,
        "new_confusion" => pb::Consciousness::NewConfusion,
        "voice" => pb::Consciousness::Voice,
        "pain" => pb::Consciousness::Pain,
        "unresponsive" => pb::Consciousness::Unresponsive,
        _ => return Err(WebError::BadRequest),
    };
    api(&web)
        .record_vitals_inner(
            &signed.caller,
            pb::RecordVitalsRequest {
                visit_id: id.clone(),
                vitals: Some(pb::SpotVitals {
                    measured_at: Some(crate::convert::timestamp(Utc::now().timestamp_millis())),
                    source: "web console".into(),
                    heart_rate_bpm: number(&f.heart_rate)?,
                    respiratory_rate_per_min: number(&f.respiratory_rate)?,
                    spo2_percent: number(&f.spo2)?,
                    temperature_c: number(&f.temperature)?,
                    systolic_mmhg: number(&f.systolic)?,
                    diastolic_mmhg: number(&f.diastolic)?,
                    consciousness: consciousness as i32,
                    supplemental_oxygen: Some(f.oxygen.is_some()),
                }),
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/visits/{id}?saved=1")).into_response())
}

//! A programme's report (the page and its CSV) and the FHIR R4 bundles of a programme or one
//! resident, as downloads.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::{api, millis, origin};
use crate::web::program_words::{Words, words};
use crate::web::session::{SignedIn, require};
use crate::web::view::{self, Chrome, iso};
use crate::web::{Web, WebResult};

#[derive(Template)]
#[template(path = "program_report.html")]
struct ReportPage {
    c: Chrome,
    p: &'static Words,
    id: String,
    name: String,
    generated: String,
    rows: Vec<(String, pb::ReportCounts)>,
    totals: pb::ReportCounts,
}

async fn report_of(web: &Web, signed: &SignedIn, id: &str) -> WebResult<pb::ProgramReport> {
    Ok(api(web)
        .report_inner(
            &signed.caller,
            pb::GetProgramReportRequest {
                program_id: id.to_owned(),
            },
        )
        .await?)
}

/// `GET /programs/{id}/report`.
pub async fn report(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let report = report_of(&web, &signed, &id).await?;
    let page = ReportPage {
        c: signed.chrome(),
        p: words(signed.lang),
        id: report.program_id.clone(),
        name: report.name.clone(),
        generated: iso(millis(report.generated_at.as_ref())),
        rows: report
            .sites
            .iter()
            .map(|s| (s.name.clone(), s.counts.unwrap_or_default()))
            .collect(),
        totals: report.totals.unwrap_or_default(),
    };
    Ok(view::html(&page).into_response())
}

fn attachment(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

/// `GET /programs/{id}/report.csv`: the report as the API writes it.
pub async fn report_csv(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let report = report_of(&web, &signed, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("report-{}.csv", report.program_id)),
            ),
        ],
        report.csv,
    )
        .into_response())
}

/// A FHIR bundle's chunks as a streamed download.
fn fhir_download(chunks: Vec<pb::ExportChunk>, file: &str) -> Response {
    let stream = tokio_stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::convert::Infallible>(c.data)),
    );
    (
        [
            (header::CONTENT_TYPE, "application/fhir+json".to_owned()),
            (header::CONTENT_DISPOSITION, attachment(file)),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn base_url(web: &Web, headers: &HeaderMap) -> String {
    format!("{}/fhir", origin(web, headers))
}

/// `GET /programs/{id}/fhir`: the programme's bundle.
pub async fn program_fhir(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let chunks = api(&web)
        .export_program_inner(
            &signed.caller,
            pb::ExportProgramFhirRequest {
                program_id: id.clone(),
                base_url: base_url(&web, &headers),
            },
        )
        .await?;
    Ok(fhir_download(chunks, &format!("programme-{id}.fhir.json")))
}

/// `GET /programs/{id}/residents/{rid}/fhir`: one resident's bundle.
pub async fn resident_fhir(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let chunks = api(&web)
        .export_resident_inner(
            &signed.caller,
            pb::ExportResidentFhirRequest {
                program_id: id,
                resident_id: rid.clone(),
                base_url: base_url(&web, &headers),
            },
        )
        .await?;
    Ok(fhir_download(chunks, &format!("resident-{rid}.fhir.json")))
}

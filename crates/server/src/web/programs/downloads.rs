//! A programme's report (the page and its CSV) and the FHIR R4 bundles of a programme or one
//! resident, as downloads.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use tokio_stream::StreamExt as _;

use super::{api, millis, origin};
use crate::outbound;
use crate::programs::FhirExport;
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

/// A FHIR bundle as a download, written while it is sent. A failure midway cuts the download
/// short (the browser reports it failed), never a complete-looking file with a part missing.
fn fhir_download(export: FhirExport, file: &str) -> Response {
    let chunks = outbound::spawn(None, |out| export.send(out)).map(|chunk| match chunk {
        Ok(chunk) => Ok(chunk.data),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "FHIR download cut short");
            Err(std::io::Error::other("the export failed"))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/fhir+json".to_owned()),
            (header::CONTENT_DISPOSITION, attachment(file)),
        ],
        Body::from_stream(chunks),
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
    let export = api(&web)
        .export_program_inner(
            &signed.caller,
            pb::ExportProgramFhirRequest {
                program_id: id.clone(),
                base_url: base_url(&web, &headers),
            },
        )
        .await?;
    Ok(fhir_download(export, &format!("programme-{id}.fhir.json")))
}

/// `GET /programs/{id}/residents/{rid}/fhir`: one resident's bundle.
pub async fn resident_fhir(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let export = api(&web)
        .export_resident_inner(
            &signed.caller,
            pb::ExportResidentFhirRequest {
                program_id: id,
                resident_id: rid.clone(),
                base_url: base_url(&web, &headers),
            },
        )
        .await?;
    Ok(fhir_download(export, &format!("resident-{rid}.fhir.json")))
}

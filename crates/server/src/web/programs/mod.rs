//! Programme staff and clinicians in the console: programmes and their sites, residents
//! (enrolled one by one with their consent, or from a town hall's roster with a preview first),
//! the day's visits at a site with what each still lacks, the visit page (questionnaire link,
//! spot vitals, the four auscultation sites, the proposed outcome and its confirmation), the
//! report (and its CSV), the questionnaire as a resident sees it, and the FHIR R4 downloads.
//!
//! Every handler signs the person in and calls the same [`ProgramApi`] handler the gRPC
//! `ProgramService` runs, with the person's [`crate::auth::Caller`]: roles, tenant scoping
//! (another tenant's programme is 404), checks and the audit trail are the API's. This module
//! only maps forms to requests and messages to pages.
//!
//! This file holds the routes and what the pages share (the signed-in person's permissions,
//! forms' CSRF check, outcome words, the browser's day); the pages are in
//! [`setup`] (programmes, sites, the questionnaire editor), [`program_page`] (a programme's
//! day), [`residents`] (enrolment, withdrawal, roster import), [`visits`] (the visit page),
//! [`measurements`] (its spot vitals and blood results) and [`downloads`] (report, CSV, FHIR).

mod downloads;
mod measurements;
mod program_page;
mod residents;
mod setup;
mod visits;

use std::sync::Arc;

use auscult_proto::v1 as pb;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use super::program_words::Words;
use super::session::SignedIn;
use super::{Web, WebError, WebResult};
use crate::auth::Role;
use crate::programs::{self, ProgramApi, roster};

/// The largest roster upload (the file and the form around it), bytes.
const MAX_IMPORT_BYTES: usize = roster::MAX_BYTES * 2 + 64 * 1024;

/// The programme pages' routes, merged into the console's router.
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/programs", get(setup::list).post(setup::create))
        .route("/programs/{id}", get(program_page::program_page))
        .route("/programs/{id}/sites", post(setup::add_site))
        .route("/programs/{id}/residents", post(residents::enrol))
        .route(
            "/programs/{id}/residents/{rid}/withdraw",
            post(residents::withdraw),
        )
        .route(
            "/programs/{id}/residents/{rid}/fhir",
            get(downloads::resident_fhir),
        )
        .route(
            "/programs/{id}/import",
            get(residents::import_form)
                .post(residents::import_preview)
                .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route(
            "/programs/{id}/import/confirm",
            post(residents::import_confirm).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/programs/{id}/visits", post(visits::open_visit))
        .route("/programs/{id}/report", get(downloads::report))
        .route("/programs/{id}/report.csv", get(downloads::report_csv))
        .route("/programs/{id}/fhir", get(downloads::program_fhir))
        .route(
            "/programs/{id}/questionnaire",
            get(setup::questionnaire_preview),
        )
        .route(
            "/programs/{id}/questionnaire/edit",
            get(setup::questionnaire_edit).post(setup::questionnaire_save),
        )
        .route("/visits/{id}", get(visits::visit))
        .route("/visits/{id}/link", post(visits::create_link))
        .route("/visits/{id}/vitals", post(measurements::record_vitals))
        .route("/visits/{id}/labs", post(measurements::record_labs))
        .route("/visits/{id}/recordings", post(visits::link_recording))
        .route("/visits/{id}/confirm", post(visits::confirm))
}

/// The four auscultation sites of a check-up, as stored and on the wire.
const SITES: [(pb::AuscultationSite, &str); 4] = [
    (pb::AuscultationSite::Aortic, "aortic"),
    (pb::AuscultationSite::Pulmonic, "pulmonic"),
    (pb::AuscultationSite::Tricuspid, "tricuspid"),
    (pb::AuscultationSite::Mitral, "mitral"),
];

fn api(web: &Web) -> ProgramApi {
    ProgramApi::new(web.app.clone())
}

/// Whether `role` sees the programmes link: those who read residents and visits.
pub fn may_use(role: Role) -> bool {
    programs::PERSON_READERS.contains(&role)
}

fn may(signed: &SignedIn, roles: &[Role]) -> bool {
    roles.contains(&signed.caller.role)
}

fn outcome_words(o: i32, p: &Words) -> &'static str {
    match pb::VisitOutcome::try_from(o) {
        Ok(pb::VisitOutcome::Normal) => p.outcome_normal,
        Ok(pb::VisitOutcome::Refer) => p.outcome_refer,
        Ok(pb::VisitOutcome::ReRecord) => p.outcome_rerecord,
        Ok(pb::VisitOutcome::FollowUp) => p.outcome_followup,
        _ => "",
    }
}

fn outcome_class(o: i32) -> &'static str {
    match pb::VisitOutcome::try_from(o) {
        Ok(pb::VisitOutcome::Refer) => "flagged",
        Ok(pb::VisitOutcome::Normal) => "ok",
        Ok(pb::VisitOutcome::ReRecord) => "technical",
        Ok(pb::VisitOutcome::FollowUp) => "followup",
        _ => "",
    }
}

fn person_name(r: &pb::Resident) -> String {
    format!("{} {}", r.family_name, r.given_name)
        .trim()
        .to_owned()
}

fn millis(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, crate::convert::millis)
}

/// The browser's offset from UTC, minutes east (from the `tz` cookie `console.js` sets), within
/// ±14 h; 0 without one.
fn offset_minutes(headers: &HeaderMap) -> i64 {
    super::session::cookie(headers, "tzoff")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|m| m.abs() <= 14 * 60)
        .unwrap_or(0)
}

fn local_day(ms: i64, offset_min: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_millis(ms + offset_min * 60_000).map(|t| t.date_naive())
}

fn form<T>(
    form: Result<Form<T>, FormRejection>,
    signed: &SignedIn,
    csrf: impl Fn(&T) -> &str,
) -> WebResult<T> {
    // A body that does not parse carries no token this session issued: a forgery (403).
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(csrf(&form))?;
    Ok(form)
}

/// A form with only its CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

fn proposed_words(v: &pb::Visit, p: &Words) -> &'static str {
    match outcome_words(v.proposed_outcome, p) {
        "" => p.outcome_pending,
        w => w,
    }
}

/// The console's origin as the browser reached it (`https` unless on loopback; a `Host` with
/// anything but host-name characters is ignored), for links handed to others.
fn origin(web: &Web, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = if web.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

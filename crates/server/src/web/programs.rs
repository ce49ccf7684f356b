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

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::Form;
use axum::body::Body;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::i18n::Lang;
use super::program_words::{Words, words};
use super::session::{SignedIn, require};
use super::view::{self, Chrome, iso};
use super::{Web, WebError, WebResult};
use crate::auth::Role;
use crate::programs::{self, ProgramApi, roster};

/// The largest roster upload (the file and the form around it), bytes.
pub const MAX_IMPORT_BYTES: usize = roster::MAX_BYTES * 2 + 64 * 1024;

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

// ---------------------------------------------------------------------------------------------
// Views.

/// A programme in the list.
#[derive(Debug, Clone)]
pub struct ProgramItem {
    id: String,
    name: String,
    description: String,
    sites: usize,
}

#[derive(Template)]
#[template(path = "programs.html")]
struct ProgramsPage {
    c: Chrome,
    p: &'static Words,
    programs: Vec<ProgramItem>,
    can_create: bool,
}

/// A visit row of the day.
#[derive(Debug, Clone)]
struct VisitItem {
    id: String,
    at: String,
    resident: String,
    site: String,
    missing: Vec<&'static str>,
    proposed: &'static str,
    proposed_class: &'static str,
    confirmed: &'static str,
}

#[derive(Debug, Clone)]
struct ResidentItem {
    id: String,
    name: String,
    birth_date: String,
    resident_number: String,
    subject: String,
    consenting: bool,
}

#[derive(Template)]
#[template(path = "program.html")]
struct ProgramPage {
    c: Chrome,
    p: &'static Words,
    id: String,
    name: String,
    description: String,
    sites: Vec<pb::ProgramSite>,
    questionnaire_version: u32,
    day: String,
    /// The site whose visits are shown (empty: all).
    site: String,
    prev_day: String,
    next_day: String,
    visits: Vec<VisitItem>,
    residents: Vec<ResidentItem>,
    is_staff: bool,
    can_export: bool,
    today: String,
}

#[derive(Debug, Clone)]
struct ImportItem {
    line: u32,
    name: String,
    birth_date: String,
    status_class: &'static str,
    status: &'static str,
    reason: String,
}

#[derive(Template)]
#[template(path = "program_import.html")]
struct ImportPage {
    c: Chrome,
    p: &'static Words,
    id: String,
    name: String,
    /// `form`, `preview` or `done`.
    stage: &'static str,
    error: String,
    rows: Vec<ImportItem>,
    new_count: u32,
    already_count: u32,
    refused_count: u32,
    csv: String,
    consent: ConsentForm,
    today: String,
}

impl ImportPage {
    /// The import form of programme `id` (`name`), with `consent` filled in.
    fn form(
        signed: &SignedIn,
        headers: &HeaderMap,
        id: String,
        name: String,
        consent: ConsentForm,
    ) -> ImportPage {
        ImportPage {
            c: signed.chrome(),
            p: words(signed.lang),
            id,
            name,
            stage: "form",
            error: String::new(),
            rows: Vec::new(),
            new_count: 0,
            already_count: 0,
            refused_count: 0,
            csv: String::new(),
            consent,
            today: today(headers),
        }
    }
}

#[derive(Debug, Clone)]
struct SiteItem {
    site: &'static str,
    state: &'static str,
    state_class: &'static str,
    murmur: &'static str,
    recording_id: String,
    /// The site's wire name (the link form's value).
    key: &'static str,
    /// Recordings staff may link here: (recording id, start time ISO 8601).
    candidates: Vec<(String, String)>,
}

/// A point-of-care result as the visit page shows it.
#[derive(Debug, Clone)]
struct LabItem {
    name: String,
    value: String,
    range: String,
    class: &'static str,
    classification: &'static str,
}

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage {
    c: Chrome,
    p: &'static Words,
    visit: pb::Visit,
    program_id: String,
    program_name: String,
    resident: String,
    resident_id: String,
    birth_date: String,
    site: String,
    at: String,
    answered: bool,
    questionnaire_version: u32,
    link_url: String,
    link_expires: String,
    qr_svg: String,
    vitals: Vec<(&'static str, String)>,
    news2: String,
    sites: Vec<SiteItem>,
    proposed: &'static str,
    proposed_class: &'static str,
    /// Why the proposal is what it is (the API's words).
    reasons: Vec<String>,
    labs: Vec<LabItem>,
    confirmed: &'static str,
    confirmed_at: String,
    confirmation_note: String,
    can_listen: bool,
    can_confirm: bool,
    is_staff: bool,
    can_export: bool,
    saved: bool,
}

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

// ---------------------------------------------------------------------------------------------
// Programmes.

/// `GET /programs`.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let reply = api(&web)
        .list_programs_inner(&signed.caller, pb::ListProgramsRequest {})
        .await?;
    let page = ProgramsPage {
        c: signed.chrome(),
        p: words(signed.lang),
        programs: reply
            .programs
            .iter()
            .map(|p| ProgramItem {
                id: p.program_id.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                sites: p.sites.len(),
            })
            .collect(),
        can_create: may(&signed, programs::STAFF),
    };
    Ok(view::html(&page).into_response())
}

/// A form with only its CSRF token and texts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameForm {
    csrf: String,
    name: String,
    description: String,
    address: String,
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

/// `POST /programs`: a new programme.
pub async fn create(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    body: Result<Form<NameForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &NameForm| &f.csrf)?;
    let program = api(&web)
        .create_program_inner(
            &signed.caller,
            pb::CreateProgramRequest {
                name: f.name,
                description: f.description,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/programs/{}", program.program_id)).into_response())
}

/// `POST /programs/{id}/sites`.
pub async fn add_site(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<NameForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &NameForm| &f.csrf)?;
    api(&web)
        .add_site_inner(
            &signed.caller,
            pb::AddSiteRequest {
                program_id: id.clone(),
                name: f.name,
                address: f.address,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/programs/{id}")).into_response())
}

/// The programme page's query.
#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    day: Option<String>,
    /// Only this site's visits (empty: every site).
    site: Option<String>,
}

/// `GET /programs/{id}?day=YYYY-MM-DD`: sites, the day's visits with what each lacks, the
/// residents and the forms of staff.
pub async fn program_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let p = words(signed.lang);
    let offset = offset_minutes(&headers);
    let today = local_day(Utc::now().timestamp_millis(), offset).ok_or(WebError::BadRequest)?;
    let day = match query.day.as_deref() {
        None | Some("") => today,
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| WebError::BadRequest)?,
    };
    let api = api(&web);
    let program = api
        .get_program_inner(
            &signed.caller,
            pb::GetProgramRequest {
                program_id: id.clone(),
            },
        )
        .await?;
    let residents = api
        .list_residents_inner(
            &signed.caller,
            pb::ListResidentsRequest {
                program_id: id.clone(),
            },
        )
        .await?
        .residents;
    let visits = api
        .list_visits_inner(
            &signed.caller,
            pb::ListVisitsRequest {
                program_id: id.clone(),
                resident_id: String::new(),
            },
        )
        .await?
        .visits;
    let site = query.site.clone().unwrap_or_default();
    if !site.is_empty() && !program.sites.iter().any(|s| s.site_id == site) {
        return Err(WebError::BadRequest);
    }
    let site_name = |sid: &str| {
        program
            .sites
            .iter()
            .find(|s| s.site_id == sid)
            .map_or_else(String::new, |s| s.name.clone())
    };
    let mut day_visits: Vec<&pb::Visit> = visits
        .iter()
        .filter(|v| local_day(millis(v.visited_at.as_ref()), offset) == Some(day))
        .filter(|v| site.is_empty() || v.site_id == site)
        .collect();
    day_visits.sort_by_key(|v| millis(v.visited_at.as_ref()));
    let visits = day_visits
        .iter()
        .map(|v| VisitItem {
            id: v.visit_id.clone(),
            at: iso(millis(v.visited_at.as_ref())),
            resident: residents
                .iter()
                .find(|r| r.resident_id == v.resident_id)
                .map(person_name)
                .unwrap_or_default(),
            site: site_name(&v.site_id),
            missing: missing(v, signed.lang),
            proposed: proposed_words(v, p),
            proposed_class: outcome_class(v.proposed_outcome),
            confirmed: outcome_words(v.confirmed_outcome, p),
        })
        .collect();
    let page = ProgramPage {
        c: signed.chrome(),
        p,
        id: program.program_id.clone(),
        name: program.name.clone(),
        description: program.description.clone(),
        sites: program.sites.clone(),
        questionnaire_version: program.questionnaire_version,
        day: day.format("%Y-%m-%d").to_string(),
        site,
        prev_day: (day - Duration::days(1)).format("%Y-%m-%d").to_string(),
        next_day: (day + Duration::days(1)).format("%Y-%m-%d").to_string(),
        visits,
        residents: residents
            .iter()
            .map(|r| ResidentItem {
                id: r.resident_id.clone(),
                name: person_name(r),
                birth_date: r.birth_date.clone(),
                resident_number: r.resident_number.clone(),
                subject: r.subject_id.clone(),
                consenting: r.consent_withdrawn_at.is_none(),
            })
            .collect(),
        is_staff: may(&signed, programs::STAFF),
        can_export: may(&signed, programs::EXPORTERS),
        today: today.format("%Y-%m-%d").to_string(),
    };
    Ok(view::html(&page).into_response())
}

/// What a visit still lacks, in words: the questionnaire, spot vitals, any of the four sites.
fn missing(v: &pb::Visit, lang: Lang) -> Vec<&'static str> {
    let p = words(lang);
    let mut out = Vec::new();
    if v.questionnaire_response.is_none() {
        out.push(p.questionnaire);
    }
    if v.vitals.is_none() {
        out.push(p.spot_vitals);
    }
    for (site, name) in SITES {
        if !v.recordings.iter().any(|r| r.site == site as i32) {
            out.push(lang.site(name));
        }
    }
    out
}

fn proposed_words(v: &pb::Visit, p: &Words) -> &'static str {
    match outcome_words(v.proposed_outcome, p) {
        "" => p.outcome_pending,
        w => w,
    }
}

// ---------------------------------------------------------------------------------------------
// Residents.

/// The consent part of the enrolment and import forms.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConsentForm {
    consent_recorded_by: String,
    consent_date: String,
    consent_document: String,
    consent_scope: String,
    consent_confirmed: Option<String>,
}

impl ConsentForm {
    /// The consent, when the form confirms it was given; a date in the browser's day.
    fn consent(&self) -> WebResult<pb::Consent> {
        if self.consent_confirmed.is_none() {
            return Err(WebError::BadRequest);
        }
        let day = NaiveDate::parse_from_str(self.consent_date.trim(), "%Y-%m-%d")
            .map_err(|_| WebError::BadRequest)?;
        let at = day
            .and_hms_opt(0, 0, 0)
            .ok_or(WebError::BadRequest)?
            .and_utc()
            .timestamp_millis();
        Ok(pb::Consent {
            recorded_by: self.consent_recorded_by.clone(),
            given_at: Some(crate::convert::timestamp(at)),
            document_version: self.consent_document.clone(),
            scope: self.consent_scope.clone(),
        })
    }
}

/// The enrolment form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnrolForm {
    csrf: String,
    family_name: String,
    given_name: String,
    birth_date: String,
    gender: String,
    resident_number: String,
    address: String,
    phone: String,
    #[serde(flatten)]
    consent: ConsentForm,
}

/// `POST /programs/{id}/residents`: one resident with their consent.
pub async fn enrol(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<EnrolForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &EnrolForm| &f.csrf)?;
    let consent = f.consent.consent()?;
    let gender = match f.gender.as_str() {
        "male" => pb::Gender::Male,
        "female" => pb::Gender::Female,
        "other" => pb::Gender::Other,
        "" | "unknown" => pb::Gender::Unspecified,
        _ => return Err(WebError::BadRequest),
    };
    let (family, given) = (f.family_name.trim(), f.given_name.trim());
    if family.is_empty() && given.is_empty() {
        return Err(WebError::BadRequest);
    }
    let (birth_date, number) = (f.birth_date.trim(), f.resident_number.trim());
    let key = roster::same_person_key(number, family, given, birth_date);
    let tenant = signed.caller.tenant_id.clone().unwrap_or_default();
    api(&web)
        .enroll_inner(
            &signed.caller,
            pb::EnrollResidentRequest {
                program_id: id.clone(),
                subject_id: roster::subject_id(&tenant, &id, &key),
                family_name: family.to_owned(),
                given_name: given.to_owned(),
                gender: gender as i32,
                birth_date: birth_date.to_owned(),
                resident_number: number.to_owned(),
                consent: Some(consent),
                address: f.address,
                phone: f.phone,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/programs/{id}#residents")).into_response())
}

/// A form with only its CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /programs/{id}/residents/{rid}/withdraw`.
pub async fn withdraw(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    form(body, &signed, |f: &CsrfForm| &f.csrf)?;
    api(&web)
        .withdraw_inner(
            &signed.caller,
            pb::WithdrawConsentRequest {
                program_id: id.clone(),
                resident_id: rid,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/programs/{id}#residents")).into_response())
}

async fn program_name(web: &Web, signed: &SignedIn, id: &str) -> WebResult<String> {
    Ok(api(web)
        .get_program_inner(
            &signed.caller,
            pb::GetProgramRequest {
                program_id: id.to_owned(),
            },
        )
        .await?
        .name)
}

fn today(headers: &HeaderMap) -> String {
    local_day(Utc::now().timestamp_millis(), offset_minutes(headers))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `GET /programs/{id}/import`: the roster form.
pub async fn import_form(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    if !may(&signed, programs::STAFF) {
        return Err(WebError::Forbidden);
    }
    let name = program_name(&web, &signed, &id).await?;
    let consent = ConsentForm {
        consent_recorded_by: signed.session.user.name.clone(),
        consent_scope: "checkup,auscultation,fhir-export".into(),
        ..ConsentForm::default()
    };
    let page = ImportPage::form(&signed, &headers, id, name, consent);
    Ok(view::html(&page).into_response())
}

fn refusal_words(r: i32, lang: Lang) -> &'static str {
    use pb::ImportRefusal as R;
    let (en, ja) = match R::try_from(r) {
        Ok(R::MissingName) => ("no name", "氏名がありません"),
        Ok(R::MissingBirthDate) => ("no date of birth", "生年月日がありません"),
        Ok(R::BadBirthDate) => (
            "the date of birth is not a date",
            "生年月日が日付として読めません",
        ),
        Ok(R::ImplausibleBirthDate) => (
            "the date of birth is in the future or before 1900",
            "生年月日が未来または1900年より前です",
        ),
        Ok(R::BadPhone) => (
            "the phone number is not a phone number",
            "電話番号が正しくありません",
        ),
        Ok(R::BadGender) => ("unknown gender", "性別が読めません"),
        Ok(R::TooLong) => ("a field is too long", "長すぎる項目があります"),
        Ok(R::DuplicateInFile) => (
            "the same person appears earlier in the file",
            "同じ人がファイルの前の行にいます",
        ),
        _ => ("the row cannot be read", "この行は読めません"),
    };
    match lang {
        Lang::En => en,
        Lang::Ja => ja,
    }
}

/// Runs an import (or its dry run) and renders the preview or the result.
async fn run_import(
    web: &Web,
    signed: &SignedIn,
    headers: &HeaderMap,
    id: String,
    csv: String,
    consent: ConsentForm,
    dry_run: bool,
) -> WebResult<Response> {
    let p = words(signed.lang);
    let name = program_name(web, signed, &id).await?;
    let mut page = ImportPage::form(signed, headers, id.clone(), name, consent.clone());
    let consent_pb = match consent.consent() {
        Ok(c) => c,
        Err(_) => {
            page.error = match signed.lang {
                Lang::En => {
                    "Confirm that every resident gave written consent, and give its date.".into()
                }
                Lang::Ja => {
                    "全員から書面で同意を得たことを確認し、同意日を入力してください。".into()
                }
            };
            return Ok((StatusCode::BAD_REQUEST, view::html(&page)).into_response());
        }
    };
    let reply = api(web)
        .import_inner(
            &signed.caller,
            pb::ImportResidentsRequest {
                program_id: id,
                csv: csv.clone().into_bytes(),
                consent: Some(consent_pb),
                dry_run,
            },
        )
        .await;
    let reply = match reply {
        Ok(r) => r,
        Err(crate::error::ServerError::InvalidArgument(m)) => {
            // The whole file was refused (no name column, too large): say why, in English
            // when the reason is the reader's (it names the column).
            page.error = m;
            return Ok((StatusCode::BAD_REQUEST, view::html(&page)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    page.stage = if dry_run { "preview" } else { "done" };
    page.new_count = reply.new_residents;
    page.already_count = reply.already_enrolled;
    page.refused_count = reply.refused;
    page.csv = csv;
    page.rows = reply
        .rows
        .iter()
        .map(|r| {
            let (status_class, status) = match pb::ImportRowStatus::try_from(r.status) {
                Ok(pb::ImportRowStatus::New) if dry_run => ("new", p.will_enrol),
                Ok(pb::ImportRowStatus::New) => ("new", p.enrolled),
                Ok(pb::ImportRowStatus::AlreadyEnrolled) => ("already", p.already),
                _ => ("refused", p.refused),
            };
            ImportItem {
                line: r.line,
                name: r.resident.as_ref().map(person_name).unwrap_or_default(),
                birth_date: r
                    .resident
                    .as_ref()
                    .map(|r| r.birth_date.clone())
                    .unwrap_or_default(),
                status_class,
                status,
                reason: if status_class == "refused" {
                    let mut why = refusal_words(r.refusal, signed.lang).to_owned();
                    if let Some(line) = r.detail.strip_prefix("the same person as line ") {
                        why.push_str(&format!(" ({} {line})", p.line));
                    }
                    why
                } else {
                    String::new()
                },
            }
        })
        .collect();
    Ok(view::html(&page).into_response())
}

/// `POST /programs/{id}/import` (multipart: the file and the consent): the preview; nothing is
/// stored.
pub async fn import_preview(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let mut multipart = multipart.map_err(|_| WebError::Forbidden)?;
    let mut csrf = String::new();
    let mut bytes = Vec::new();
    let mut consent = ConsentForm::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| WebError::BadRequest)?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            bytes = field
                .bytes()
                .await
                .map_err(|_| WebError::BadRequest)?
                .to_vec();
            continue;
        }
        let value = field.text().await.map_err(|_| WebError::BadRequest)?;
        match name.as_str() {
            "csrf" => csrf = value,
            "consent_recorded_by" => consent.consent_recorded_by = value,
            "consent_date" => consent.consent_date = value,
            "consent_document" => consent.consent_document = value,
            "consent_scope" => consent.consent_scope = value,
            "consent_confirmed" => consent.consent_confirmed = Some(value),
            _ => {}
        }
    }
    signed.check_csrf(&csrf)?;
    let text = match roster::decode(&bytes) {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(program_id = %id, error = %e, "roster refused");
            return Err(WebError::BadRequest);
        }
    };
    run_import(&web, &signed, &headers, id, text, consent, true).await
}

/// The preview's confirmation: the roster's text again (as the preview showed it) and the
/// consent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImportConfirmForm {
    csrf: String,
    csv: String,
    #[serde(flatten)]
    consent: ConsentForm,
}

/// `POST /programs/{id}/import/confirm`: enrols the new residents of the previewed roster.
pub async fn import_confirm(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<ImportConfirmForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &ImportConfirmForm| &f.csrf)?;
    run_import(&web, &signed, &headers, id, f.csv, f.consent, false).await
}

// ---------------------------------------------------------------------------------------------
// Visits.

/// The form that opens a visit.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OpenVisitForm {
    csrf: String,
    resident_id: String,
    site_id: String,
}

/// `POST /programs/{id}/visits`: opens a visit now, then shows it.
pub async fn open_visit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<OpenVisitForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &OpenVisitForm| &f.csrf)?;
    let visit = api(&web)
        .create_visit_inner(
            &signed.caller,
            pb::CreateVisitRequest {
                program_id: id,
                resident_id: f.resident_id,
                site_id: f.site_id,
                visited_at: None,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/visits/{}", visit.visit_id)).into_response())
}

/// The visit page's query.
#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// A link made for the resident, shown once on the page that made it.
struct NewLink {
    url: String,
    expires: String,
    qr_svg: String,
}

async fn visit_page(
    web: &Web,
    signed: &SignedIn,
    id: &str,
    link: Option<NewLink>,
    saved: bool,
) -> WebResult<Response> {
    let p = words(signed.lang);
    let lang = signed.lang;
    let api = api(web);
    let visit = api
        .get_visit_inner(
            &signed.caller,
            pb::GetVisitRequest {
                visit_id: id.to_owned(),
            },
        )
        .await?;
    let program = api
        .get_program_inner(
            &signed.caller,
            pb::GetProgramRequest {
                program_id: visit.program_id.clone(),
            },
        )
        .await?;
    let resident = api
        .get_resident_inner(&signed.caller, &visit.program_id, &visit.resident_id)
        .await?;
    let vitals = visit
        .vitals
        .as_ref()
        .map(|v| {
            let mut out = Vec::new();
            let mut put = |label: &'static str, value: Option<f64>, digits: usize| {
                if let Some(x) = value {
                    out.push((label, format!("{x:.digits$}")));
                }
            };
            put(p.heart_rate, v.heart_rate_bpm, 0);
            put(p.respiratory_rate, v.respiratory_rate_per_min, 0);
            put(p.spo2, v.spo2_percent, 0);
            put(p.temperature, v.temperature_c, 1);
            put(p.systolic, v.systolic_mmhg, 0);
            put(p.diastolic, v.diastolic_mmhg, 0);
            out
        })
        .unwrap_or_default();
    let news2 = visit
        .news2
        .as_ref()
        .map(|n| format!("{} ({})", n.aggregate, n.risk))
        .unwrap_or_default();
    let candidates = if may(signed, programs::STAFF) {
        api.link_candidates_inner(&signed.caller, &visit.visit_id)
            .await?
    } else {
        Vec::new()
    };
    let sites = SITES
        .iter()
        .map(|(site, name)| {
            let rec = visit.recordings.iter().find(|r| r.site == *site as i32);
            let (state, state_class, murmur, recording_id) = match rec {
                None => (p.not_recorded, "missing", "", String::new()),
                Some(r) => {
                    let murmur = match pb::MurmurStatus::try_from(r.murmur_status) {
                        Ok(pb::MurmurStatus::Present) => p.murmur_present,
                        Ok(pb::MurmurStatus::Absent) => p.murmur_absent,
                        Ok(pb::MurmurStatus::Unknown) => p.murmur_unknown,
                        _ => "",
                    };
                    match pb::AnalysisState::try_from(r.analysis_state) {
                        Ok(pb::AnalysisState::Done) if r.flagged => {
                            (p.flagged, "flagged", murmur, r.recording_id.clone())
                        }
                        Ok(pb::AnalysisState::Done) => ("", "ok", murmur, r.recording_id.clone()),
                        Ok(pb::AnalysisState::Failed) => {
                            (p.analysis_failed, "failed", "", r.recording_id.clone())
                        }
                        _ => (p.analysing, "pending", "", r.recording_id.clone()),
                    }
                }
            };
            SiteItem {
                site: lang.site(name),
                state,
                state_class,
                murmur,
                key: name,
                candidates: if rec.is_none() {
                    candidates
                        .iter()
                        .filter(|c| c.meta.site == *name)
                        .map(|c| (c.id.clone(), iso(c.meta.started_at_ms)))
                        .collect()
                } else {
                    Vec::new()
                },
                recording_id,
            }
        })
        .collect();
    let (link_url, link_expires, qr_svg) = match link {
        Some(l) => (l.url, l.expires, l.qr_svg),
        None => Default::default(),
    };
    let page = VisitPage {
        c: signed.chrome(),
        p,
        program_id: program.program_id.clone(),
        program_name: program.name.clone(),
        resident: person_name(&resident),
        resident_id: resident.resident_id.clone(),
        birth_date: resident.birth_date.clone(),
        site: program
            .sites
            .iter()
            .find(|s| s.site_id == visit.site_id)
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        at: iso(millis(visit.visited_at.as_ref())),
        answered: visit.questionnaire_response.is_some(),
        questionnaire_version: program.questionnaire_version,
        link_url,
        link_expires,
        qr_svg,
        vitals,
        news2,
        sites,
        proposed: proposed_words(&visit, p),
        proposed_class: outcome_class(visit.proposed_outcome),
        reasons: visit.proposal_reasons.clone(),
        labs: visit
            .lab_results
            .iter()
            .map(|l| {
                let (class, classification) =
                    match pb::LabClassification::try_from(l.classification) {
                        Ok(pb::LabClassification::High) => ("flagged", p.lab_high),
                        Ok(pb::LabClassification::Low) => ("flagged", p.lab_low),
                        _ => ("ok", p.lab_normal),
                    };
                LabItem {
                    name: match lang {
                        Lang::En => l.name.clone(),
                        Lang::Ja => l.name_ja.clone(),
                    },
                    value: format!("{} {}", l.value, l.unit),
                    range: l
                        .reference_range
                        .as_ref()
                        .map(|r| r.text.clone())
                        .unwrap_or_default(),
                    class,
                    classification,
                }
            })
            .collect(),
        confirmed: outcome_words(visit.confirmed_outcome, p),
        confirmed_at: visit
            .confirmed_at
            .as_ref()
            .map(|t| iso(crate::convert::millis(t)))
            .unwrap_or_default(),
        confirmation_note: visit.confirmation_note.clone(),
        can_listen: crate::cases::READERS.contains(&signed.caller.role),
        can_confirm: may(signed, programs::CONFIRMERS),
        is_staff: may(signed, programs::STAFF),
        can_export: may(signed, programs::EXPORTERS),
        saved,
        visit,
    };
    Ok(view::html(&page).into_response())
}

/// `GET /visits/{id}`.
pub async fn visit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let saved = query.ok().is_some_and(|Query(q)| q.saved.is_some());
    visit_page(&web, &signed, &id, None, saved).await
}

/// `POST /visits/{id}/link`: a one-time questionnaire link for the resident, shown with its QR
/// code (this page only: the link's secret is not stored).
pub async fn create_link(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<CsrfForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    form(body, &signed, |f: &CsrfForm| &f.csrf)?;
    let link = api(&web)
        .create_link_inner(
            &signed.caller,
            pb::CreateQuestionnaireLinkRequest {
                visit_id: id.clone(),
                questionnaire_version: 0,
                lifetime_seconds: 0,
            },
        )
        .await?;
    let url = format!("{}{}", origin(&web, &headers), link.path);
    let qr_svg = qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build();
            // Inline in the page: without the XML declaration.
            match svg.find("<svg") {
                Some(i) => svg[i..].to_owned(),
                None => String::new(),
            }
        })
        .unwrap_or_default();
    let link = NewLink {
        url,
        expires: iso(millis(link.expires_at.as_ref())),
        qr_svg,
    };
    visit_page(&web, &signed, &id, Some(link), false).await
}

/// The form that links a recording to a visit's site.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    csrf: String,
    site: String,
    recording_id: String,
}

/// `POST /visits/{id}/recordings`: links a recording of the resident to one of the four sites.
pub async fn link_recording(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<LinkForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &LinkForm| &f.csrf)?;
    let site = SITES
        .iter()
        .find(|(_, name)| *name == f.site)
        .map(|(site, _)| *site)
        .ok_or(WebError::BadRequest)?;
    api(&web)
        .link_inner(
            &signed.caller,
            pb::LinkRecordingRequest {
                visit_id: id.clone(),
                site: site as i32,
                recording_id: f.recording_id,
                upload_id: String::new(),
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/visits/{id}?saved=1")).into_response())
}

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

/// The outcome form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    csrf: String,
    outcome: String,
    note: String,
}

/// `POST /visits/{id}/confirm`.
pub async fn confirm(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<ConfirmForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &ConfirmForm| &f.csrf)?;
    let outcome = match f.outcome.as_str() {
        "normal" => pb::VisitOutcome::Normal,
        "refer" => pb::VisitOutcome::Refer,
        "rerecord" => pb::VisitOutcome::ReRecord,
        "followup" => pb::VisitOutcome::FollowUp,
        _ => return Err(WebError::BadRequest),
    };
    api(&web)
        .confirm_inner(
            &signed.caller,
            pb::ConfirmOutcomeRequest {
                visit_id: id.clone(),
                outcome: outcome as i32,
                note: f.note,
            },
        )
        .await?;
    tracing::info!(visit_id = %id, principal_id = %signed.caller.principal_id, "visit outcome confirmed in the web console");
    Ok(Redirect::to(&format!("/visits/{id}?saved=1")).into_response())
}

// ---------------------------------------------------------------------------------------------
// Report, questionnaire preview, exports.

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

/// The preview's query.
#[derive(Debug, Default, Deserialize)]
pub struct VersionQuery {
    version: Option<u32>,
}

/// `GET /programs/{id}/questionnaire?version=N`: the questionnaire (the latest, or version N)
/// as a resident sees it, in the page's language; a preview that saves nothing.
pub async fn questionnaire_preview(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<VersionQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let q = api(&web)
        .get_questionnaire_inner(
            &signed.caller,
            pb::GetQuestionnaireRequest {
                program_id: id.clone(),
                version: query.version.unwrap_or(0),
            },
        )
        .await?;
    Ok(view::html(&super::questionnaire::preview(
        &q,
        signed.lang,
        words(signed.lang).preview_banner,
    ))
    .into_response())
}

#[derive(Template)]
#[template(path = "questionnaire_edit.html")]
struct QuestionnaireEditPage {
    c: Chrome,
    p: &'static Words,
    id: String,
    name: String,
    version: u32,
    title_ja: String,
    title_en: String,
    lines: String,
    error: String,
}

/// The questionnaire editor's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QuestionnaireForm {
    csrf: String,
    title_ja: String,
    title_en: String,
    lines: String,
}

/// `GET /programs/{id}/questionnaire/edit`: the latest version as lines, to make the next.
pub async fn questionnaire_edit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    if !may(&signed, programs::STAFF) {
        return Err(WebError::Forbidden);
    }
    let program = api(&web)
        .get_program_inner(
            &signed.caller,
            pb::GetProgramRequest {
                program_id: id.clone(),
            },
        )
        .await?;
    let latest = if program.questionnaire_version > 0 {
        Some(
            api(&web)
                .get_questionnaire_inner(
                    &signed.caller,
                    pb::GetQuestionnaireRequest {
                        program_id: id.clone(),
                        version: 0,
                    },
                )
                .await?,
        )
    } else {
        None
    };
    let title = |lang: &str| {
        latest
            .as_ref()
            .and_then(|q| q.title.iter().find(|t| t.language == lang))
            .map(|t| t.text.clone())
            .unwrap_or_default()
    };
    let page = QuestionnaireEditPage {
        c: signed.chrome(),
        p: words(signed.lang),
        name: program.name,
        version: program.questionnaire_version,
        title_ja: title("ja"),
        title_en: title("en"),
        lines: latest
            .as_ref()
            .map(|q| super::questionnaire_text::to_text(&q.questions))
            .unwrap_or_default(),
        error: String::new(),
        id,
    };
    Ok(view::html(&page).into_response())
}

/// `POST /programs/{id}/questionnaire/edit`: stores the lines as the next version and shows it
/// as a resident will see it; a mistake comes back with its line and stores nothing.
pub async fn questionnaire_save(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Form<QuestionnaireForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let f = form(body, &signed, |f: &QuestionnaireForm| &f.csrf)?;
    let program = api(&web)
        .get_program_inner(
            &signed.caller,
            pb::GetProgramRequest {
                program_id: id.clone(),
            },
        )
        .await?;
    let mut page = QuestionnaireEditPage {
        c: signed.chrome(),
        p: words(signed.lang),
        name: program.name,
        version: program.questionnaire_version,
        title_ja: f.title_ja.clone(),
        title_en: f.title_en.clone(),
        lines: f.lines.clone(),
        error: String::new(),
        id: id.clone(),
    };
    let questions = match super::questionnaire_text::parse(&f.lines) {
        Ok(q) => q,
        Err(e) => {
            page.error = match signed.lang {
                Lang::En => format!("Line {}: {}", e.line, e.en),
                Lang::Ja => format!("{}行目: {}", e.line, e.ja),
            };
            return Ok((StatusCode::BAD_REQUEST, view::html(&page)).into_response());
        }
    };
    let title = |language: &str, text: &str| pb::LocalizedString {
        language: language.into(),
        text: text.trim().into(),
    };
    let stored = api(&web)
        .put_questionnaire_inner(
            &signed.caller,
            pb::PutQuestionnaireRequest {
                program_id: id.clone(),
                title: vec![title("ja", &f.title_ja), title("en", &f.title_en)],
                questions,
            },
        )
        .await;
    match stored {
        Ok(q) => Ok(Redirect::to(&format!(
            "/programs/{id}/questionnaire?version={}",
            q.version
        ))
        .into_response()),
        Err(crate::error::ServerError::InvalidArgument(m)) => {
            // The server's own checks (duplicate ids, lengths): its words, in English.
            page.error = m;
            Ok((StatusCode::BAD_REQUEST, view::html(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

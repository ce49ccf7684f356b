//! Residents: enrolment one by one with their recorded consent, withdrawal of consent, and a
//! town hall's roster (CSV) imported with a preview first, then confirmed; refusals are shown
//! per line with their reasons.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use auscult_store::TenantId;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::{CsrfForm, api, form, local_day, may, offset_minutes, person_name};
use crate::programs::{self, roster};
use crate::web::i18n::Lang;
use crate::web::program_words::{Words, words};
use crate::web::session::{SignedIn, require};
use crate::web::view::{self, Chrome};
use crate::web::{Web, WebError, WebResult};

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
    let tenant = signed
        .caller
        .tenant_id
        .as_ref()
        .map_or("", TenantId::as_str);
    api(&web)
        .enroll_inner(
            &signed.caller,
            pb::EnrollResidentRequest {
                program_id: id.clone(),
                subject_id: roster::subject_id(tenant, &id, &key),
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

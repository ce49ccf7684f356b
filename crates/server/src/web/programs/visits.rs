//! A visit: opening one, its page (the resident, questionnaire link and QR code, spot vitals,
//! blood results, the four auscultation sites, the proposed outcome and why), linking a
//! recording to a site, and confirming the outcome.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    CsrfForm, SITES, api, form, may, millis, origin, outcome_class, outcome_words, person_name,
    proposed_words,
};
use crate::programs;
use crate::web::i18n::Lang;
use crate::web::program_words::{Words, words};
use crate::web::session::{SignedIn, require};
use crate::web::view::{self, Chrome, iso};
use crate::web::{Web, WebError, WebResult};

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

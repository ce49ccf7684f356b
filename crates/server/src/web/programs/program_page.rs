//! A programme's page: its sites, the day's visits (in the browser's day, at one site or all)
//! with what each still lacks and its outcome, its residents, and the forms of staff.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::{
    SITES, api, local_day, may, millis, offset_minutes, outcome_class, outcome_words, person_name,
    proposed_words,
};
use crate::programs;
use crate::web::i18n::Lang;
use crate::web::program_words::{Words, words};
use crate::web::session::require;
use crate::web::view::{self, Chrome, iso};
use crate::web::{Web, WebError, WebResult};

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

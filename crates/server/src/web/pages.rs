//! The worklist and the case page, and the review form's POST.
//!
//! Each handler signs the person in from the session cookie, then calls [`crate::cases`] exactly
//! as the gRPC `ReviewService` does (roles, tenant scoping and audit are there), and renders.

use std::sync::Arc;

use auscult_store::recordings::{CaseFilter, CaseStatus};
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{SignedIn, require};
use super::view::{
    self, AuditView, CasePage, CaseRow, Choice, ReviewView, RowsFragment, WorklistPage,
};
use super::waveform::{self, EcgTrace};
use super::{Web, WebError, WebResult};
use crate::cases::{self, StoredEcg};

/// Cases per worklist page.
const PAGE: u32 = 25;
/// The sites a filter may name, as stored.
const SITES: [&str; 5] = ["aortic", "pulmonic", "tricuspid", "mitral", "other"];

/// The worklist's query.
#[derive(Debug, Default, Deserialize)]
pub struct WorklistQuery {
    flagged: Option<String>,
    unreviewed: Option<String>,
    site: Option<String>,
    after: Option<String>,
    /// The worklist version the polling page shows (`/worklist/rows` only).
    since: Option<String>,
}

impl WorklistQuery {
    fn on(v: Option<&String>) -> bool {
        v.is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// The store's filter; an unknown site is a bad request.
    fn filter(&self) -> WebResult<CaseFilter> {
        let flagged = Self::on(self.flagged.as_ref());
        let unreviewed = Self::on(self.unreviewed.as_ref());
        let site = match self.site.as_deref() {
            None | Some("") => None,
            Some(s) => Some(
                SITES
                    .iter()
                    .find(|k| **k == s)
                    .ok_or(WebError::BadRequest)?
                    .to_string(),
            ),
        };
        Ok(CaseFilter {
            // Flagged cases are unreviewed ones by definition, so "flagged" alone decides.
            status: if flagged {
                Some(CaseStatus::Flagged)
            } else if unreviewed {
                Some(CaseStatus::Unreviewed)
            } else {
                None
            },
            site,
            ..CaseFilter::default()
        })
    }

    /// The query string of these filters (without the cursor).
    fn filters_query(&self) -> String {
        let mut parts = Vec::new();
        if Self::on(self.flagged.as_ref()) {
            parts.push("flagged=1".to_owned());
        }
        if Self::on(self.unreviewed.as_ref()) {
            parts.push("unreviewed=1".to_owned());
        }
        if let Some(site) = self.site.as_deref().filter(|s| SITES.contains(s)) {
            parts.push(format!("site={site}"));
        }
        parts.join("&")
    }
}

/// One page of the worklist for the signed-in person.
async fn worklist_page(
    web: &Web,
    signed: &SignedIn,
    query: &WorklistQuery,
) -> WebResult<(Vec<CaseRow>, String)> {
    let filter = query.filter()?;
    let page = cases::list(
        &web.app,
        &signed.caller,
        &filter,
        query.after.as_deref().unwrap_or(""),
        PAGE,
    )
    .await?;
    let rows = page
        .rows
        .iter()
        .map(|r| CaseRow::of(r, signed.lang))
        .collect();
    Ok((rows, page.next_page_token))
}

/// `GET /`: the worklist, flagged and unreviewed cases first.
pub async fn worklist(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    query: Result<Query<WorklistQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    if signed.caller.role == crate::auth::Role::Family {
        // A family member's home is their relatives' page.
        return Ok(Redirect::to("/family").into_response());
    }
    // People who read no cases start where their work is.
    if !cases::READERS.contains(&signed.caller.role) {
        if super::programs::may_use(signed.caller.role) {
            return Ok(Redirect::to("/programs").into_response());
        }
        if crate::vitals::VitalsApi::may_watch(signed.caller.role) {
            return Ok(Redirect::to("/station").into_response());
        }
    }
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    // Read before the rows: a change in between shows up at the page's next poll.
    let version = cases::worklist_version(&web.app, &signed.caller).await?;
    let (rows, next) = worklist_page(&web, &signed, &query).await?;
    let filters = query.filters_query();
    let join = |extra: &str| {
        [filters.as_str(), extra]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("&")
    };
    let next_href = (!next.is_empty()).then(|| format!("/?{}", join(&format!("after={next}"))));
    let first_page = query.after.as_deref().unwrap_or("").is_empty();
    let poll_href = first_page.then(|| format!("/worklist/rows?{filters}"));
    let site = query.site.as_deref().unwrap_or("");
    let page = WorklistPage {
        c: signed.chrome(),
        rows,
        flagged: WorklistQuery::on(query.flagged.as_ref()),
        unreviewed: WorklistQuery::on(query.unreviewed.as_ref()),
        sites: SITES
            .iter()
            .map(|s| Choice {
                value: s,
                label: signed.lang.site(s),
                selected: *s == site,
            })
            .collect(),
        next_href,
        poll_href,
        version,
        here: format!("/?{}", join("")),
    };
    Ok(view::html(&page).into_response())
}

/// `GET /worklist/rows`: the first page's rows alone, for the worklist's script to show new
/// cases without a reload (audited like the page). With `since` equal to the current worklist
/// version nothing changed: `204 No Content`, no case is read and nothing is audited, so a page
/// left open all day does not fill the audit trail. The rows carry their version in
/// [`WORKLIST_VERSION_HEADER`].
pub async fn worklist_rows(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    query: Result<Query<WorklistQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Query(mut query) = query.map_err(|_| WebError::BadRequest)?;
    query.after = None;
    let version = cases::worklist_version(&web.app, &signed.caller).await?;
    if query.since.as_deref() == Some(version.as_str()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (rows, _) = worklist_page(&web, &signed, &query).await?;
    let fragment = RowsFragment { rows };
    let mut response = view::html(&fragment).into_response();
    if let Ok(v) = HeaderValue::from_str(&version) {
        response.headers_mut().insert(WORKLIST_VERSION_HEADER, v);
    }
    Ok(response)
}

/// The header that carries the worklist version of polled rows.
pub const WORKLIST_VERSION_HEADER: &str = "x-worklist-version";

/// The case page's query.
#[derive(Debug, Default, Deserialize)]
pub struct CaseQuery {
    saved: Option<String>,
}

/// `GET /cases/{id}`: the waveform and player, the review form, the subject's earlier
/// recordings at this site, the case's audit trail.
pub async fn case_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<CaseQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let saved = query.ok().is_some_and(|Query(q)| q.saved.is_some());
    let lang = signed.lang;
    let w = lang.words();
    let case = cases::get(&web.app, &signed.caller, &id).await?;
    // The waveform shows the recording's samples: read (and audited) as its audio is.
    let row = cases::open_audio(&web.app, &signed.caller, &case.row.id).await?;
    let (samples, rate) = cases::pcg_samples(&web.app, &row).await?;
    let ecg = cases::ecg(&web.app, &row).await?;
    let analysis = case.analysis.clone();
    let (svg, ensemble) = tokio::task::spawn_blocking(move || {
        let trace = match &ecg {
            StoredEcg::None => EcgTrace::None,
            StoredEcg::Samples { samples, rate_hz } => EcgTrace::Samples {
                samples,
                rate: *rate_hz,
            },
            StoredEcg::RPeaks(peaks) => EcgTrace::RPeaks(peaks),
        };
        (
            waveform::svg(&samples, rate, analysis.as_ref(), trace),
            waveform::ensemble_svg(&samples, rate, analysis.as_ref()),
        )
    })
    .await
    .map_err(|_| WebError::Unavailable)?;
    let earlier_filter = CaseFilter {
        subject_id: Some(case.row.meta.subject_id.clone()),
        site: Some(case.row.meta.site.clone()),
        ..CaseFilter::default()
    };
    let earlier = cases::list(&web.app, &signed.caller, &earlier_filter, "", 50)
        .await?
        .rows
        .iter()
        .filter(|r| r.id != case.row.id && r.meta.started_at_ms <= case.row.meta.started_at_ms)
        .map(|r| CaseRow::of(r, lang))
        .collect();
    let audit = if cases::AUDITORS.contains(&signed.caller.role) {
        let events =
            cases::audit_trail(&web.app, &signed.caller, Some(&case.row.id), 0, 200).await?;
        Some(events.iter().map(AuditView::of).collect())
    } else {
        None
    };
    let page = CasePage {
        c: signed.chrome(),
        case: CaseRow::of(&case.row, lang),
        heart_rate: case
            .row
            .heart_rate_bpm
            .map(|b| format!("{b:.0} bpm"))
            .unwrap_or_default(),
        svg: svg.svg,
        has_ecg: svg.has_ecg,
        ecg_set_aside: case
            .analysis
            .as_ref()
            .and_then(|a| a.ecg_set_aside)
            .map_or("", |why| lang.ecg_set_aside(why)),
        duration_s: svg.duration_s,
        ensemble_svg: ensemble.as_ref().map(|e| e.svg.clone()).unwrap_or_default(),
        ensemble_cycles: ensemble.map_or(0, |e| e.cycles),
        can_clean: case.analysis.as_ref().is_some_and(|a| !a.cycles.is_empty()),
        earlier,
        reviews: case.reviews.iter().map(|r| ReviewView::of(r, w)).collect(),
        can_review: cases::REVIEWERS.contains(&signed.caller.role),
        audit,
        saved,
        here: format!("/cases/{}", case.row.id),
    };
    Ok(view::html(&page).into_response())
}

/// The review form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReviewForm {
    csrf: String,
    verdict: String,
    findings: String,
    refer: Option<String>,
    rerecord: Option<String>,
}

/// `POST /cases/{id}/review`.
pub async fn submit_review(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    // The token is checked before the form is judged; a body that does not parse carries no
    // token this session issued, so it is refused as a forgery (403), and a well-formed form
    // with the token but bad fields is a bad request (400).
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    let review = cases::submit_review(
        &web.app,
        &signed.caller,
        cases::ReviewInput {
            case_id: &id,
            verdict: &form.verdict,
            findings: &form.findings,
            refer: form.refer.is_some(),
            request_rerecording: form.rerecord.is_some(),
        },
    )
    .await?;
    tracing::info!(case_id = %review.recording_id, principal_id = %signed.caller.principal_id, "review submitted in the web console");
    Ok(Redirect::to(&format!("/cases/{}?saved=1", review.recording_id)).into_response())
}

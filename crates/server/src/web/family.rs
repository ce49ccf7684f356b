//! The families' view (the watch from afar), and the station's side of it.
//!
//! A family member (role `family`) signs in and sees only the residents they were invited for:
//! `/family` (their relatives; straight to the one when there is one) and
//! `/family/residents/{subject}`: the status in plain words (the rule is
//! [`auscult_vitals::family_status`]), seven days of pulse and breathing (the station's chart
//! data, [`super::station::trend_json`], two parameters only), and the history of alerts with
//! what the nurses did (no nurse's name, no alert detail, no severity). The page's script
//! (`static/family.js`) follows `/family/residents/{subject}/events` (the resident's alert
//! events only, from [`VitalsApi::open_watch`], resumable by `Last-Event-ID` as the station's
//! stream is), re-reads the status, and notifies the person through the browser's Notification
//! API when an alert is raised and when it is resolved.
//!
//! Every read goes through [`VitalsApi`], which checks the family member's grant where the data
//! is read: another resident, or another tenant's, is 404 (the same page as a missing one).
//! Every page view is audited (`family.view`, naming the resident), as are the reads beneath
//! it.
//!
//! The station's side: a nurse (or the tenant's administrator) records the resident's consent
//! and makes a one-time invitation on the resident's page (`POST
//! /station/residents/{subject}/family`), is shown its link once, and may withdraw an
//! invitation or a grant. The family member opens `/family/invite/{token}`, chooses a username
//! and a password (or, already signed in as a family member of the tenant, adds the resident to
//! their account) and is signed in. The rules are [`crate::family`]'s.
//!
//! [`VitalsApi`]: crate::vitals::VitalsApi
//! [`VitalsApi::open_watch`]: crate::vitals::VitalsApi

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use auscult_store::family::FamilyAccess;
use auscult_store::{StoreError, SubjectId, TenantId, now_ms};
use auscult_vitals::{
    AlertEventKind, AlertStatus, Condition, FamilyAlert, FamilyStatus, Parameter, Timestamp,
    family_status,
};
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::i18n::Lang;
use super::session::{self, SignedIn, require};
use super::station::{self, EventsQuery, JsonBody, TrendQueryForm, resume_after, station_user};
use super::view::{self, Chrome};
use super::{Web, WebError, WebResult};
use crate::error::ServerError;
use crate::family::{self as rules, Accepting, Consent};
use crate::vitals::wire;

/// The parameters a family sees charted.
const FAMILY_CHARTED: [Parameter; 2] = [Parameter::HeartRate, Parameter::RespiratoryRate];
/// How far back the history goes, ms (7 days).
const HISTORY_MS: i64 = 7 * 86_400_000;
/// Most events in the history.
const HISTORY_EVENTS: u32 = 200;
/// Most unresolved alerts the status is decided from.
const STATUS_ALERTS: u32 = 100;
/// The longest form a family page posts, bytes.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The signed-in family member (anyone else: 403).
async fn family_user(web: &Web, headers: &HeaderMap) -> WebResult<SignedIn> {
    let signed = require(web, headers).await?;
    if signed.caller.role != crate::auth::Role::Family {
        return Err(WebError::Forbidden);
    }
    Ok(signed)
}

/// The family's list of relatives.
#[derive(Debug, Template)]
#[template(path = "family_home.html")]
pub struct FamilyHomePage {
    /// Around the page.
    pub c: Chrome,
    /// The residents they may see.
    pub residents: Vec<String>,
}

/// `GET /family`: the family member's relatives; straight to the page of the one when there is
/// one.
pub async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> WebResult<Response> {
    let signed = family_user(&web, &headers).await?;
    let mut residents: Vec<String> = rules::grants(&web.app, &signed.caller)
        .await?
        .into_iter()
        .map(|g| g.subject_id)
        .collect();
    residents.dedup();
    if let [only] = residents.as_slice() {
        return Ok(Redirect::to(&relative_href(only)).into_response());
    }
    let page = FamilyHomePage {
        c: signed.chrome(),
        residents,
    };
    Ok(view::html(&page).into_response())
}

/// `s` as one path segment (every byte but the unreserved ones percent-encoded).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn relative_href(subject: &str) -> String {
    format!("/family/residents/{}", path_segment(subject))
}

/// One line of the history: what happened to an alert, and when.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// The alert.
    pub alert_id: String,
    /// The change as spelled by the vocabulary (test hook, CSS class).
    pub change: &'static str,
    /// When, ISO 8601.
    pub at: String,
    /// What happened, in the family's words.
    pub what: &'static str,
    /// What the alert is about, in words.
    pub about: String,
}

/// A resident's page for the family.
#[derive(Debug, Template)]
#[template(path = "family_relative.html")]
pub struct RelativePage {
    /// Around the page.
    pub c: Chrome,
    /// The resident.
    pub subject: String,
    /// The status's name ([`FamilyStatus::as_str`]).
    pub status: &'static str,
    /// The status in words.
    pub status_text: &'static str,
    /// Since when a sensor is silent, ISO 8601.
    pub since: Option<String>,
    /// The newest event id before the page was read: its stream resumes after it.
    pub after: i64,
    /// Alert events of the last 7 days, newest first.
    pub history: Vec<HistoryRow>,
    /// Whether the resident consented to sharing recordings.
    pub share_recordings: bool,
    /// Whether the person follows several residents (the page links back to the list).
    pub several: bool,
}

/// What an alert is about, in words (its findings; a silent sensor is "sensor silent").
fn about(conditions: &[Condition], lang: Lang) -> String {
    let mut words: Vec<&str> = conditions
        .iter()
        .map(|c| lang.condition(c.class()))
        .collect();
    words.dedup();
    words.join(", ")
}

/// The family's status of a resident now, from its unresolved alerts and its sensors' last
/// samples (a silent sensor is silent since its last sample; since the alert when unknown).
async fn status_now(web: &Web, signed: &SignedIn, subject: &str) -> WebResult<FamilyStatus> {
    let alerts = web
        .vitals
        .alerts(&signed.caller, Some(subject), false, STATUS_ALERTS)
        .await?;
    let sensors = web.vitals.sensors(&signed.caller, subject).await?;
    let mut last: HashMap<String, i64> = HashMap::new();
    for s in &sensors {
        let at = last
            .entry(format!("{}/{}", s.device_id, s.source))
            .or_insert(s.at_ms);
        *at = (*at).max(s.at_ms);
    }
    let now = now_ms();
    let seen: Vec<FamilyAlert> = alerts
        .iter()
        .map(|r| {
            let e = &r.event;
            let silent_since = e.conditions.iter().find_map(|c| match c {
                Condition::SensorSilent(source) => Some(Timestamp(
                    last.get(source.as_str()).copied().unwrap_or(e.raised_at_ms),
                )),
                _ => None,
            });
            FamilyAlert {
                status: e.state,
                snoozed: e.snoozed_until_ms.is_some_and(|until| until > now),
                silent_since,
            }
        })
        .collect();
    Ok(family_status(&seen))
}

/// The status as the page's script reads it.
fn status_json(status: FamilyStatus, lang: Lang) -> Value {
    let since = match status {
        FamilyStatus::SensorSilent { since } => Some(since.0),
        _ => None,
    };
    json!({
        "status": status.as_str(),
        "text": lang.family_status(status),
        "since": since,
    })
}

/// `GET /family/residents/{subject}`: the resident's status, charts and history. Audited as
/// `family.view` (and each read beneath it).
pub async fn relative_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> WebResult<Response> {
    let signed = family_user(&web, &headers).await?;
    let lang = signed.lang;
    // Read before the rest: the stream resumed after it brings every change since.
    let after = web
        .vitals
        .latest_event_id(&signed.caller, Some(&subject))
        .await?;
    let status = status_now(&web, &signed, &subject).await?;
    let events = web
        .vitals
        .history(
            &signed.caller,
            &subject,
            now_ms() - HISTORY_MS,
            HISTORY_EVENTS,
        )
        .await?;
    let history = events
        .iter()
        .filter_map(|r| {
            let e = &r.event;
            let change = e.change?;
            Some(HistoryRow {
                alert_id: e.alert_id.clone(),
                change: change.as_str(),
                at: view::iso(e.at_ms),
                what: lang.family_change(change)?,
                about: about(&e.conditions, lang),
            })
        })
        .collect();
    let grants = rules::grants(&web.app, &signed.caller).await?;
    let share_recordings = grants
        .iter()
        .any(|g| g.subject_id == subject && g.share_recordings);
    let several = grants.iter().any(|g| g.subject_id != subject);
    web.app
        .store
        .audit_subject(
            &signed.caller.actor(),
            "family.view",
            &SubjectId::new(subject.as_str()),
            now_ms(),
        )
        .await?;
    let page = RelativePage {
        c: signed.chrome(),
        status: status.as_str(),
        status_text: lang.family_status(status),
        since: match status {
            FamilyStatus::SensorSilent { since } => Some(view::iso(since.0)),
            _ => None,
        },
        subject,
        after,
        history,
        share_recordings,
        several,
    };
    Ok(view::html(&page).into_response())
}

/// `GET /family/residents/{subject}/status`: the status now (JSON), which the page's script
/// reads after each event.
pub async fn relative_status(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> WebResult<Response> {
    let signed = family_user(&web, &headers).await?;
    let status = status_now(&web, &signed, &subject).await?;
    Ok(JsonBody(status_json(status, signed.lang)).into_response())
}

/// `GET /family/residents/{subject}/trend?range=7d`: pulse and breathing for the charts.
pub async fn relative_trend(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    query: Result<Query<TrendQueryForm>, QueryRejection>,
) -> WebResult<Response> {
    let signed = family_user(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let range = query.range.as_deref().or(Some("7d"));
    let body = station::trend_json(&web, &signed, &subject, range, &FAMILY_CHARTED, false).await?;
    Ok(JsonBody(body).into_response())
}

/// An alert event as the family's script sees it: what happened in the family's words, what
/// the alert is about, its state. No severity, detail or nurse.
fn family_event_json(ev: &pb::AlertEvent, lang: Lang) -> Value {
    let change = wire::alert_change_of(ev.change);
    let alert = ev.alert.as_ref();
    let conditions = alert.map(station::conditions_of).unwrap_or_default();
    json!({
        "event_id": ev.event_id,
        "change": change.map_or("", AlertEventKind::as_str),
        "what": change.and_then(|c| lang.family_change(c)).unwrap_or(""),
        "at": ev.at.as_ref().map(crate::convert::millis),
        "alert_id": alert.map_or("", |a| a.alert_id.as_str()),
        "about": about(&conditions, lang),
        "resolved": alert.is_some_and(|a| wire::alert_state_of(a.state) == Some(AlertStatus::Resolved)),
    })
}

/// `GET /family/residents/{subject}/events`: the resident's alert events after the resume
/// point (`Last-Event-ID`, else `?after=`), stored ones first, then live ones, as server-sent
/// events; it ends when the session does (access withdrawn, signed out) or the server stops.
pub async fn relative_events(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = family_user(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let after = resume_after(last_event_id, query.after.as_deref()).ok_or(WebError::BadRequest)?;
    station::alert_events(&web, signed, Some(subject), after, family_event_json).await
}

/// The invitation form of the station's resident page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    csrf: String,
    relative_name: String,
    relationship: String,
    consent_recorded_by: String,
    consent_version: String,
    share_recordings: Option<String>,
}

/// The nurse's page with a fresh invitation's link (shown once).
#[derive(Debug, Template)]
#[template(path = "family_invited.html")]
pub struct InvitedPage {
    /// Around the page.
    pub c: Chrome,
    /// The resident.
    pub subject: String,
    /// The link to give the family member.
    pub link: String,
    /// Its expiry, ISO 8601.
    pub expires: String,
}

/// The console's own origin as the browser reached it (for a link a nurse copies).
fn origin(web: &Web, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(h) => format!(
            "{}://{h}",
            if web.secure_cookies { "https" } else { "http" }
        ),
        None => String::new(),
    }
}

/// `POST /station/residents/{subject}/family`: records the resident's consent and makes an
/// invitation; shows its link once. A form missing a field is 400.
pub async fn invite(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    form: Result<Form<InviteForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::BadRequest)?;
    signed.check_csrf(&form.csrf)?;
    let invitation = rules::invite(
        &web.app,
        &signed.caller,
        &subject,
        Consent {
            relative_name: &form.relative_name,
            relationship: &form.relationship,
            recorded_by: &form.consent_recorded_by,
            document_version: &form.consent_version,
            share_recordings: form
                .share_recordings
                .as_deref()
                .is_some_and(|v| !v.is_empty()),
        },
    )
    .await?;
    let page = InvitedPage {
        c: signed.chrome(),
        link: format!(
            "{}/family/invite/{}",
            origin(&web, &headers),
            invitation.token
        ),
        expires: view::iso(invitation.expires_at_ms),
        subject,
    };
    Ok(view::html(&page).into_response())
}

/// `POST /station/residents/{subject}/family/{id}/revoke`: withdraws an invitation or a grant
/// (the family member's sessions end) and goes back to the resident's page.
pub async fn revoke(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((subject, access_id)): Path<(String, String)>,
    form: Result<Form<session::CsrfForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    rules::revoke(&web.app, &signed.caller, &subject, &access_id).await?;
    let back = format!(
        "/station/residents/{}#family-access",
        path_segment(&subject)
    );
    Ok(Redirect::to(&back).into_response())
}

/// The invitation's page: who invites whom to follow which resident, and the login form.
#[derive(Debug, Template)]
#[template(path = "family_invitation.html")]
pub struct InvitationPage {
    /// Around the page (no session, or a family member's).
    pub c: Chrome,
    /// The invitation.
    pub access: FamilyAccess,
    /// The path it posts to.
    pub action: String,
    /// The username typed (shown again after a mistake).
    pub username: String,
    /// What was wrong with the last attempt.
    pub error: Option<&'static str>,
    /// Whether a family member of the tenant is signed in (the page offers to add the resident
    /// to their account instead of a new login).
    pub signed_in: bool,
}

/// The invitation's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AcceptForm {
    csrf: String,
    username: String,
    password: String,
    password_again: String,
    /// Set by the "add to my account" button.
    add: Option<String>,
}

/// The family member signed in for an invitation of `tenant`, if any.
async fn signed_family(web: &Web, headers: &HeaderMap, tenant_id: &str) -> Option<SignedIn> {
    require(web, headers).await.ok().filter(|s| {
        s.caller.role == crate::auth::Role::Family
            && s.caller.tenant_id.as_ref().map(TenantId::as_str) == Some(tenant_id)
    })
}

/// What an invitation's form shows.
struct Shown<'a> {
    access: FamilyAccess,
    token: &'a str,
    /// The username typed before.
    username: String,
    /// What was wrong.
    error: Option<&'static str>,
}

fn invitation_form(
    web: &Web,
    lang: Lang,
    signed: Option<&SignedIn>,
    shown: Shown<'_>,
    status: StatusCode,
) -> Response {
    let Shown {
        access,
        token,
        username,
        error,
    } = shown;
    let (c, cookie) = match signed {
        Some(s) => (s.chrome(), None),
        None => {
            let (csrf, cookie) = session::form_token(web);
            (
                Chrome {
                    lang,
                    w: lang.words(),
                    user_name: None,
                    csrf,
                    station: false,
                    live: false,
                    programs: false,
                    family: true,
                },
                Some(cookie),
            )
        }
    };
    let page = InvitationPage {
        c,
        access,
        action: format!("/family/invite/{token}"),
        username,
        error,
        signed_in: signed.is_some(),
    };
    let mut response = (status, view::html(&page)).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /family/invite/{token}`: the invitation, while it is usable (else 404: used, withdrawn,
/// expired and unknown links look alike).
pub async fn invitation(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> WebResult<Response> {
    let access = rules::open_invitation(&web.app, &token)
        .await?
        .ok_or(WebError::NotFound)?;
    let signed = signed_family(&web, &headers, &access.tenant_id).await;
    Ok(invitation_form(
        &web,
        session::lang(&headers),
        signed.as_ref(),
        Shown {
            access,
            token: &token,
            username: String::new(),
            error: None,
        },
        StatusCode::OK,
    ))
}

/// `POST /family/invite/{token}`: accepts the invitation with a new login (or for the signed-in
/// family member) and signs in. A mistake in the form is shown on it with 400.
pub async fn accept(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Form<AcceptForm>, FormRejection>,
) -> WebResult<Response> {
    let Form(form) = form.map_err(|_| WebError::BadRequest)?;
    let access = rules::open_invitation(&web.app, &token)
        .await?
        .ok_or(WebError::NotFound)?;
    let lang = session::lang(&headers);
    let w = lang.words();
    let signed = signed_family(&web, &headers, &access.tenant_id).await;
    if let (Some(s), Some(_)) = (&signed, &form.add) {
        s.check_csrf(&form.csrf)?;
        return match rules::accept(&web.app, &access, Accepting::Signed(&s.caller)).await? {
            Some(_) => Ok(Redirect::to(&relative_href(&access.subject_id)).into_response()),
            None => Err(WebError::NotFound),
        };
    }
    if !session::check_form_token(&headers, &form.csrf) {
        return Err(WebError::Forbidden);
    }
    let username = form.username.trim().to_owned();
    let refuse = |error| {
        Ok(invitation_form(
            &web,
            lang,
            None,
            Shown {
                access: access.clone(),
                token: &token,
                username: username.clone(),
                error: Some(error),
            },
            StatusCode::BAD_REQUEST,
        ))
    };
    if form.password != form.password_again {
        return refuse(w.passwords_differ);
    }
    let accepted = rules::accept(
        &web.app,
        &access,
        Accepting::New {
            username: &username,
            password: &form.password,
        },
    )
    .await;
    match accepted {
        Ok(Some(user)) => session::start_session(&web, &user, "/family", now_ms()).await,
        Ok(None) => Err(WebError::NotFound),
        Err(ServerError::InvalidArgument(_)) => refuse(w.login_invalid),
        Err(ServerError::Store(StoreError::AlreadyExists(_)) | ServerError::AlreadyExists(_)) => {
            refuse(w.username_taken)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_events_carry_no_severity_detail_or_nurse() {
        let ev = pb::AlertEvent {
            event_id: 7,
            change: pb::AlertChange::Acknowledged.into(),
            alert: Some(pb::Alert {
                alert_id: "a1".into(),
                severity: pb::AlertSeverity::Critical.into(),
                state: pb::AlertState::Acknowledged.into(),
                conditions: vec![wire::condition_pb(&Condition::NoBreathing)],
                detail: "respiratory rate 0 for 30 s".into(),
                acted_by: "nurse-principal".into(),
                ..pb::Alert::default()
            }),
            ..pb::AlertEvent::default()
        };
        let j = family_event_json(&ev, Lang::En);
        assert_eq!(j["what"], "A nurse is looking at it");
        assert_eq!(j["about"], "no breathing");
        assert_eq!(j["resolved"], false);
        let text = j.to_string();
        for hidden in ["critical", "respiratory rate 0", "nurse-principal"] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        assert_eq!(
            family_event_json(&ev, Lang::Ja)["what"],
            "看護師が対応しています"
        );
    }

    #[test]
    fn subjects_become_one_path_segment() {
        assert_eq!(relative_href("resident-1"), "/family/residents/resident-1");
        assert_eq!(path_segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(path_segment("入"), "%E5%85%A5");
    }

    #[test]
    fn the_status_tells_a_silent_sensor_with_its_time() {
        let j = status_json(
            FamilyStatus::SensorSilent {
                since: Timestamp(7_800_000),
            },
            Lang::En,
        );
        assert_eq!(j["status"], "sensor_silent");
        assert_eq!(j["since"], 7_800_000);
        assert_eq!(
            status_json(FamilyStatus::AllUsual, Lang::Ja)["text"],
            "いつも通りです。"
        );
    }
}

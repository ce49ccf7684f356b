//! The nurses' station: the tenant's live alerts (server-sent events from the same event log
//! and the same resumable cursor as the gRPC `Watch`), alert actions, silent sensors, and a
//! resident's page with trend charts.
//!
//! Every handler signs the person in from the session cookie and calls [`VitalsApi`] exactly as
//! the gRPC `VitalsService` does, with the person's [`Caller`]: the roles allowed (nurses,
//! clinicians, the tenant's administrators), tenant scoping (another tenant's resident or
//! alert is 404) and the audit trail (`alerts.read` for the list, `alerts.watch` for every live
//! delivery, `alerts.acknowledge`/`snooze`/`resolve`/`escalate`, the trend reads and
//! `vitals.sensors_read` for a resident's page) are the API's. Nothing here decides anything
//! about an alert.
//!
//! The event stream resumes from `Last-Event-ID` (sent by the browser's `EventSource` when it
//! reconnects by itself) or else `?after=` (the page's script, after it reads the current
//! alerts and the newest event id): each event after that id is sent once. It ends when the
//! session ends (re-checked every [`SESSION_RECHECK`]) or the server stops.
//!
//! [`Caller`]: crate::auth::Caller

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_store::now_ms;
use auscult_vitals::{
    AlertClass, AlertEventKind, AlertStatus, Condition, ConditionClass, Parameter, Severity,
    Timestamp,
};
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::i18n::Lang;
use super::session::{SignedIn, require};
use super::view::{self, AlertRow, FamilyRow, ResidentPage, SensorRow, StationPage};
use super::{Web, WebError, WebResult};
use crate::convert;
use crate::error::ServerError;
use crate::vitals::{Action, TrendRequest, VitalsApi, alert_proto, wire};

/// How often an open event stream checks that its session still lives.
pub const SESSION_RECHECK: Duration = Duration::from_secs(10);
/// How long a snooze from the station lasts when the form does not say.
const DEFAULT_SNOOZE_MINUTES: i64 = 15;
/// Most alerts the station loads when it opens (unresolved ones, newest first).
const STATION_ALERTS: u32 = 500;
/// Most alerts of one resident on the resident's page (resolved ones too).
const RESIDENT_ALERTS: u32 = 50;
/// The parameters charted, in the order shown.
const CHARTED: [Parameter; 5] = [
    Parameter::HeartRate,
    Parameter::RespiratoryRate,
    Parameter::SpO2,
    Parameter::Temperature,
    Parameter::BloodPressure,
];

/// The signed-in person, if they may use the station (else 403).
pub(super) async fn station_user(web: &Web, headers: &HeaderMap) -> WebResult<SignedIn> {
    let signed = require(web, headers).await?;
    if !VitalsApi::may_watch(signed.caller.role) {
        return Err(WebError::Forbidden);
    }
    Ok(signed)
}

/// `GET /station`: the page; its script loads the alerts and opens the event stream.
pub async fn station_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let page = StationPage { c: signed.chrome() };
    Ok(view::html(&page).into_response())
}

/// `GET /station/alerts`: the tenant's unresolved alerts now (audited as a read, like
/// `ListAlerts`) and the newest event id, read first: the stream resumed after that id brings
/// every change since, so nothing falls between the list and the stream.
pub async fn station_alerts(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let last = web.vitals.latest_event_id(&signed.caller, None).await?;
    let rows = web
        .vitals
        .alerts(&signed.caller, None, false, STATION_ALERTS)
        .await?;
    let alerts: Vec<Value> = rows
        .iter()
        .map(|r| alert_json(&alert_proto(&r.event), signed.lang))
        .collect();
    Ok(JsonBody(json!({ "last_event_id": last, "alerts": alerts })).into_response())
}

/// The event stream's query.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    pub(super) after: Option<String>,
}

/// Where an event stream resumes: after the `Last-Event-ID` the browser sends when it
/// reconnects by itself, else after `?after=`, else from the start of the log. A malformed or
/// negative id is a bad request (never "from the start", which would resend everything).
pub fn resume_after(last_event_id: Option<&str>, after: Option<&str>) -> Option<i64> {
    match last_event_id.or(after) {
        None => Some(0),
        Some(v) if v.trim().is_empty() => Some(0),
        Some(v) => v.trim().parse::<i64>().ok().filter(|n| *n >= 0),
    }
}

/// `GET /station/events`: the tenant's alert events after the resume point, stored ones
/// first, then live ones, as server-sent events (`id:` the event id, `event: alert`).
pub async fn station_events(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let after = resume_after(last_event_id, query.after.as_deref()).ok_or(WebError::BadRequest)?;
    alert_events(&web, signed, None, after, event_json).await
}

/// The alert events (of `subject`, or of the tenant) after `after` for `signed`, as server-sent
/// events written by `json`: stored ones first, then live ones; the stream ends when the session
/// does (checked every [`SESSION_RECHECK`]) or the server stops. The station's and the families'
/// streams are this one.
pub async fn alert_events(
    web: &Web,
    signed: SignedIn,
    subject: Option<String>,
    after: i64,
    json: fn(&pb::AlertEvent, Lang) -> serde_json::Value,
) -> WebResult<Response> {
    let store = web.app.store.clone();
    let session = signed.id_sha256().to_owned();
    // The stream lives as long as the session: signing out (here or elsewhere), a password
    // change or the session's expiry end it within SESSION_RECHECK.
    let ended = async move {
        loop {
            tokio::time::sleep(SESSION_RECHECK).await;
            match store.find_web_session(&session, now_ms()).await {
                Ok(Some(_)) => {}
                Ok(None) => return ServerError::Unauthenticated("session ended"),
                // The stream goes on; the next re-check asks again.
                Err(e) => tracing::warn!(error = %e, "session re-check failed"),
            }
        }
    };
    let lang = signed.lang;
    let rx = web
        .vitals
        .open_watch(signed.caller, subject, after, ended)
        .await?;
    let events = ReceiverStream::new(rx).map(move |item| {
        Ok::<Event, Infallible>(match item {
            Ok(ev) => Event::default()
                .id(ev.event_id.to_string())
                .event("alert")
                .data(json(&ev, lang).to_string()),
            // The stream's last message: the browser reconnects and resumes (or, when the
            // session ended, is refused and the page goes to sign-in).
            Err(status) => Event::default()
                .event("end")
                .data(format!("{:?}", status.code())),
        })
    });
    let first = tokio_stream::once(Ok::<Event, Infallible>(
        Event::default()
            .retry(Duration::from_secs(1))
            .comment("open"),
    ));
    Ok(Sse::new(first.chain(events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// An alert action's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
    /// Snooze length in minutes (default 15).
    minutes: Option<i64>,
}

/// The lifecycle action a station button names, or `None`. A snooze lasts `minutes` from
/// `now_ms` (the domain refuses one beyond its maximum).
pub fn parse_action(name: &str, minutes: Option<i64>, now_ms: i64) -> Option<Action> {
    Some(match name {
        "acknowledge" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        "escalate" => Action::Escalate,
        "snooze" => {
            let minutes = minutes.unwrap_or(DEFAULT_SNOOZE_MINUTES);
            Action::Snooze(now_ms.saturating_add(minutes.saturating_mul(60_000)))
        }
        _ => return None,
    })
}

/// `POST /station/alerts/{id}/{action}` (`acknowledge`, `snooze`, `resolve`, `escalate`): the
/// same lifecycle call as the gRPC one, with the form's CSRF token. Answers the alert after
/// the action (JSON); a transition the alert's state forbids is 409.
pub async fn alert_action(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((alert_id, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    let action = parse_action(&action, form.minutes, now_ms()).ok_or(WebError::NotFound)?;
    let alert = web.vitals.act(&signed.caller, &alert_id, action).await?;
    tracing::info!(alert_id = %alert.alert_id, principal_id = %signed.caller.principal_id, action = ?action, "alert action in the nurses' station");
    Ok(JsonBody(alert_json(&alert, signed.lang)).into_response())
}

/// `GET /station/residents/{subject}`: a resident's sensors (last sample of each, silent ones
/// marked), alerts and trend charts. Audited: the sensors' read, the alerts' read and each
/// trend read.
pub async fn resident_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let sensors = web.vitals.sensors(&signed.caller, &subject).await?;
    let rows = web
        .vitals
        .alerts(&signed.caller, Some(&subject), true, RESIDENT_ALERTS)
        .await?;
    let alerts: Vec<pb::Alert> = rows.iter().map(|r| alert_proto(&r.event)).collect();
    let silent: HashSet<String> = alerts
        .iter()
        .filter(|a| wire::alert_state_of(a.state) != Some(AlertStatus::Resolved))
        .filter_map(|a| silent_sensor(&conditions_of(a)))
        .collect();
    let lang = signed.lang;
    let sensors = sensors
        .iter()
        .map(|s| {
            let sensor = if s.device_id.is_empty() {
                s.source.clone()
            } else {
                format!("{}/{}", s.device_id, s.source)
            };
            SensorRow {
                silent: silent.contains(&sensor),
                parameter: Parameter::parse(&s.parameter)
                    .map_or("", |p| lang.parameter(p))
                    .to_owned(),
                last: view::iso(s.at_ms),
                sensor: s.source.clone(),
            }
        })
        .collect();
    let alerts = alerts.iter().map(|a| AlertRow::of(a, lang)).collect();
    let family = if crate::family::INVITERS.contains(&signed.caller.role) {
        let now = now_ms();
        Some(
            crate::family::access_of(&web.app, &signed.caller, &subject)
                .await?
                .iter()
                .map(|a| FamilyRow::of(a, lang, now))
                .collect(),
        )
    } else {
        None
    };
    let page = ResidentPage {
        c: signed.chrome(),
        subject,
        sensors,
        alerts,
        family,
    };
    Ok(view::html(&page).into_response())
}

/// The trend query.
#[derive(Debug, Default, Deserialize)]
pub struct TrendQueryForm {
    pub(super) range: Option<String>,
}

/// A trend range the station offers: (span in ms, bucket width in minutes).
pub fn trend_range(range: Option<&str>) -> Option<(i64, u32)> {
    match range.unwrap_or("24h") {
        // 1,440 one-minute points: the stored rollups themselves.
        "24h" => Some((86_400_000, 1)),
        // 1,008 ten-minute points.
        "7d" => Some((7 * 86_400_000, 10)),
        _ => None,
    }
}

/// `GET /station/residents/{subject}/trend?range=24h|7d`: every charted parameter's buckets
/// (start in Unix seconds, mean, min, max) and the NEWS2 of each bucket, for the charts.
pub async fn resident_trend(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    query: Result<Query<TrendQueryForm>, QueryRejection>,
) -> WebResult<Response> {
    let signed = station_user(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let body = trend_json(
        &web,
        &signed,
        &subject,
        query.range.as_deref(),
        &CHARTED,
        true,
    )
    .await?;
    Ok(JsonBody(body).into_response())
}

/// The charts' data of a resident: each of `parameters`' buckets over `range` (start in Unix
/// seconds, mean, min, max), and the NEWS2 of each bucket when `with_news2`. Every read is
/// [`VitalsApi::trend`]'s (roles, scope, audit).
pub(super) async fn trend_json(
    web: &Web,
    signed: &SignedIn,
    subject: &str,
    range: Option<&str>,
    parameters: &[Parameter],
    with_news2: bool,
) -> WebResult<Value> {
    let (span, bucket_minutes) = trend_range(range).ok_or(WebError::BadRequest)?;
    // Through the end of the current minute.
    let until = now_ms()
        .div_euclid(60_000)
        .saturating_add(1)
        .saturating_mul(60_000);
    let from = until - span;
    let mut series = Vec::with_capacity(parameters.len() + 1);
    let mut means = BTreeMap::new();
    for &parameter in parameters {
        let buckets = web
            .vitals
            .trend(
                &signed.caller,
                &TrendRequest {
                    subject_id: subject,
                    parameter,
                    from_ms: from,
                    until_ms: until,
                    bucket_minutes,
                },
            )
            .await?;
        let (mut t, mut mean, mut min, mut max) = (vec![], vec![], vec![], vec![]);
        for (start, r) in &buckets {
            means.insert((*start, parameter), r.mean());
            t.push(start.0 / 1000);
            mean.push(r.mean());
            min.push(r.min);
            max.push(r.max);
        }
        series.push(json!({
            "key": parameter.as_str(),
            "label": signed.lang.parameter(parameter),
            "t": t, "mean": mean, "min": min, "max": max,
        }));
    }
    if with_news2 {
        let news2 = auscult_vitals::news2::trend_of_means(&means, web.vitals.spo2_scale());
        let (t, score): (Vec<i64>, Vec<u8>) = news2
            .iter()
            .map(|(Timestamp(at), n)| (at / 1000, n.aggregate))
            .unzip();
        series.push(json!({
            "key": "news2",
            "label": signed.lang.words().news2,
            "t": t, "mean": score, "min": [], "max": [],
        }));
    }
    Ok(json!({
        "from": from / 1000,
        "until": until / 1000,
        "bucket_minutes": bucket_minutes,
        "series": series,
    }))
}

/// A JSON body (`application/json`).
pub(super) struct JsonBody(pub(super) Value);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

/// The conditions of a wire alert that this server can read.
pub fn conditions_of(a: &pb::Alert) -> Vec<Condition> {
    a.conditions.iter().filter_map(wire::condition_of).collect()
}

/// The sensor (`<device>/<source>`) of a silent-sensor alert's conditions.
pub fn silent_sensor(conditions: &[Condition]) -> Option<String> {
    conditions.iter().find_map(|c| match c {
        Condition::SensorSilent(s) => Some(s.as_str().to_owned()),
        _ => None,
    })
}

/// An alert for the station's script, with its words in the page's language and its
/// severity's rank (higher is more urgent) for sorting. Kinds, severities and states are
/// spelled as the vitals vocabulary spells them (`auscult_vitals::Term`).
pub fn alert_json(a: &pb::Alert, lang: Lang) -> Value {
    let severity = wire::severity_of(a.severity);
    let state = wire::alert_state_of(a.state);
    let conditions = conditions_of(a);
    let findings: Vec<&str> = conditions
        .iter()
        .map(|c| lang.condition(c.class()))
        .collect();
    let sensor = silent_sensor(&conditions);
    json!({
        "id": a.alert_id,
        "subject": a.subject_id,
        "kind": wire::alert_kind_of(a.kind).map_or("", AlertClass::as_str),
        "severity": severity.map_or("", Severity::as_str),
        "severity_rank": severity.map_or(0, |s| s as u8),
        "severity_label": severity.map_or("", |s| lang.severity(s)),
        "state": state.map_or("", AlertStatus::as_str),
        "state_label": state.map_or("", |s| lang.alert_status(s)),
        "findings": findings.join(", "),
        "sensor": sensor.as_deref().map(|s| s.rsplit('/').next().unwrap_or(s)),
        "silent_sensor": conditions.iter().any(|c| c.class() == ConditionClass::SensorSilent),
        "level": a.escalation_level,
        "detail": a.detail,
        "condition_active": a.condition_active,
        "raised_at": a.raised_at.as_ref().map(convert::millis),
        "snoozed_until": a.snoozed_until.as_ref().map(convert::millis),
    })
}

/// An alert event for the station's script.
pub fn event_json(ev: &pb::AlertEvent, lang: Lang) -> Value {
    let change = wire::alert_change_of(ev.change);
    json!({
        "event_id": ev.event_id,
        "change": change.map_or("", AlertEventKind::as_str),
        "change_label": change.map_or("", |c| lang.alert_change(c)),
        "at": ev.at.as_ref().map(convert::millis),
        "alert": ev.alert.as_ref().map(|a| alert_json(a, lang)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_vitals::SourceId;

    #[test]
    fn the_stream_resumes_after_last_event_id_then_after_then_the_start() {
        assert_eq!(resume_after(Some("42"), Some("7")), Some(42));
        assert_eq!(resume_after(None, Some("7")), Some(7));
        assert_eq!(resume_after(None, None), Some(0));
        assert_eq!(resume_after(Some(""), None), Some(0));
        assert_eq!(resume_after(Some("-1"), None), None);
        assert_eq!(resume_after(None, Some("x")), None);
        assert_eq!(resume_after(Some("99999999999999999999"), None), None);
    }

    #[test]
    fn station_buttons_name_the_lifecycle_actions() {
        assert_eq!(
            parse_action("acknowledge", None, 0),
            Some(Action::Acknowledge)
        );
        assert_eq!(parse_action("resolve", None, 0), Some(Action::Resolve));
        assert_eq!(parse_action("escalate", None, 0), Some(Action::Escalate));
        assert_eq!(
            parse_action("snooze", None, 1_000),
            Some(Action::Snooze(1_000 + 15 * 60_000))
        );
        assert_eq!(
            parse_action("snooze", Some(30), 0),
            Some(Action::Snooze(30 * 60_000))
        );
        assert_eq!(parse_action("delete", None, 0), None);
    }

    #[test]
    fn trend_ranges_are_a_day_by_minute_or_a_week_by_ten_minutes() {
        assert_eq!(trend_range(None), Some((86_400_000, 1)));
        assert_eq!(trend_range(Some("7d")), Some((604_800_000, 10)));
        assert_eq!(trend_range(Some("1y")), None);
    }

    #[test]
    fn alerts_carry_words_rank_and_sensor() {
        let silent = Condition::SensorSilent(SourceId::parse("dev-1/ox:1").expect("a sensor name"));
        let a = pb::Alert {
            alert_id: "a1".into(),
            subject_id: "s1".into(),
            kind: pb::AlertKind::SensorSilent.into(),
            severity: pb::AlertSeverity::Technical.into(),
            state: pb::AlertState::Open.into(),
            conditions: vec![wire::condition_pb(&silent)],
            ..pb::Alert::default()
        };
        let j = alert_json(&a, Lang::En);
        assert_eq!(j["kind"], "sensor_silent");
        assert_eq!(j["severity"], "technical");
        assert_eq!(j["severity_rank"], 0);
        assert_eq!(j["state"], "open");
        assert_eq!(j["state_label"], "open");
        assert_eq!(j["findings"], "sensor silent");
        assert_eq!(j["sensor"], "ox:1");
        assert_eq!(j["silent_sensor"], true);
        assert_eq!(
            silent_sensor(&conditions_of(&a)).as_deref(),
            Some("dev-1/ox:1")
        );
        let critical = pb::Alert {
            severity: pb::AlertSeverity::Critical.into(),
            state: pb::AlertState::Acknowledged.into(),
            conditions: vec![wire::condition_pb(&Condition::NoBreathing)],
            ..a
        };
        let j = alert_json(&critical, Lang::Ja);
        assert_eq!(j["severity_rank"], Severity::Critical as u8);
        assert!(j["severity_rank"].as_u64() > Some(Severity::High as u64));
        assert_eq!(j["findings"], "呼吸なし");
        assert_eq!(j["silent_sensor"], false);
    }
}

//! Live auscultation in the console: `GET /live` (the tenant's live sessions), `GET /live/{id}`
//! (the page: scrolling waveform with S1/S2, the player, requests to the device),
//! `GET /live/{id}/stream` (the listener's frames, streamed as the device sends them) and
//! `POST /live/{id}/instruction`.
//!
//! Each handler signs the person in and calls [`crate::live`] (roles, tenant scoping and the
//! audit — one `live.listen` event per listener — are there). The stream is one long HTTP
//! response of [`crate::live::encode`]d frames, read by `static/live.js` with `fetch` and played
//! with Web Audio; a listener that reads too slowly loses frames, the device never waits.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::session::require;
use super::view::{self, Choice, LiveListPage, LivePage, LiveRow};
use super::{Web, WebError, WebResult};
use crate::cases::REVIEWERS;
use crate::live::{self, Frame, Instruction, NEXT_SITES};

/// `GET /live`: the live sessions of the tenant.
pub async fn live_list(State(web): State<Arc<Web>>, headers: HeaderMap) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let sessions = live::list(&web.app, &signed.caller).await?;
    let page = LiveListPage {
        c: signed.chrome(),
        sessions: sessions
            .iter()
            .map(|s| LiveRow::of(s, signed.lang))
            .collect(),
    };
    Ok(view::html(&page).into_response())
}

/// The live page's query.
#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    sent: Option<String>,
}

/// `GET /live/{id}`: one live session.
pub async fn live_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<LiveQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let sent = query.ok().is_some_and(|Query(q)| q.sent.is_some());
    let session = live::get(&web.app, &signed.caller, &id).await?;
    let lang = signed.lang;
    let page = LivePage {
        c: signed.chrome(),
        session: LiveRow::of(&session, lang),
        rate: session.pcg_rate_hz,
        sites: NEXT_SITES
            .iter()
            .map(|s| Choice {
                value: s,
                label: lang.site(s),
                selected: *s == session.site,
            })
            .collect(),
        can_instruct: REVIEWERS.contains(&signed.caller.role),
        takes_instructions: session.takes_instructions(),
        sent,
        here: format!("/live/{}", session.recording_id),
    };
    Ok(view::html(&page).into_response())
}

/// How often a listener's console session is checked again while it listens.
const SESSION_RECHECK: Duration = Duration::from_secs(10);

/// `GET /live/{id}/stream`: joins the session as a listener (audited) and streams its frames
/// until it ends, or until the listener's console session does (signed out, expired).
pub async fn live_stream(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let frames = live::listen(&web.app, &signed.caller, &id).await?;
    let listener = Listener {
        shutdown: web.shutdown.clone(),
        web,
        headers,
        frames,
        recheck: tokio::time::interval_at(
            tokio::time::Instant::now() + SESSION_RECHECK,
            SESSION_RECHECK,
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(frame_stream(listener)),
    )
        .into_response())
}

/// One listener's end of a live session.
struct Listener {
    web: Arc<Web>,
    headers: HeaderMap,
    frames: broadcast::Receiver<Frame>,
    recheck: tokio::time::Interval,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The encoded frames of a listener, skipping what it lagged behind on, ending with the session
/// (an ended frame), with the server (an ended frame) or with the listener's console session
/// (nothing more).
fn frame_stream(
    listener: Listener,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures::stream::unfold(Some(listener), |listener| async move {
        let mut l = listener?;
        let ended = || Some((Ok(Bytes::from(live::encode(&Frame::Ended))), None));
        loop {
            tokio::select! {
                frame = l.frames.recv() => match frame {
                    Ok(Frame::Ended) | Err(broadcast::error::RecvError::Closed) => return ended(),
                    Ok(frame) => return Some((Ok(Bytes::from(live::encode(&frame))), Some(l))),
                    // Too slow: the oldest frames are gone; carry on with the newest.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                },
                () = async { let _ = l.shutdown.wait_for(|stop| *stop).await; } => return ended(),
                _ = l.recheck.tick() => {
                    if require(&l.web, &l.headers).await.is_err() {
                        return None;
                    }
                }
            }
        }
    })
}

/// The request form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InstructionForm {
    csrf: String,
    kind: String,
    site: String,
}

/// `POST /live/{id}/instruction`: a clinician's request to the device.
pub async fn live_instruction(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<InstructionForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    let instruction = Instruction::parse(&form.kind, &form.site)?;
    live::instruct(&web.app, &signed.caller, &id, instruction).await?;
    // `id` named a live session of the tenant (instruct found it), so it is a plain id.
    Ok(Redirect::to(&format!("/live/{id}?sent=1")).into_response())
}

//! The clinicians' web console, served by `auscult serve` on its own listener (`--web-listen`,
//! `127.0.0.1:8787` by default): people sign in with a username and a password, see the
//! worklist, open a case, listen to it, review it and read its audit trail; listen live to a
//! device that is recording ([`crate::live`], `/live`); nurses (and the other roles that may
//! watch vital signs) use the nurses' station ([`station`]): live alerts by server-sent events,
//! alert actions, silent sensors and residents' trend charts. Residents answer a visit's
//! questionnaire through a one-time link (`/q/{token}`, [`questionnaire`]). Programme staff
//! and clinicians run check-ups ([`programs`]): programmes and sites, residents (one by one or
//! from a roster CSV with a preview), the day's visits and what each lacks, the visit page with
//! its outcome, the report and its CSV, the FHIR downloads. Families invited by a nurse with
//! the resident's consent (`/family/invite/{token}`) follow their relative only ([`family`]):
//! status in plain words, a week of pulse and breathing, the alerts and what the nurses did,
//! and browser notifications while the page is open.
//!
//! Server-rendered HTML (askama templates in `crates/server/templates/`), small external scripts
//! (the console's, the station's, vendored uPlot) and style sheets embedded in the binary and
//! served from `/static/`. No inline script anywhere: the content security policy forbids it.
//!
//! Architecture invariants: this module holds no rule of its own about cases. Every page calls
//! the same functions as the gRPC `ReviewService` ([`crate::cases`]) with a [`Caller`] made from
//! the signed-in person's principal, so roles, tenant scoping (another tenant's case is 404,
//! never 403) and the audit trail are the API's. Likewise the station calls
//! [`crate::vitals::VitalsApi`] as the gRPC `VitalsService` does (alerts, `Watch`'s event
//! stream, actions, trends), and so do the families' pages, whose scope (their relatives only;
//! anyone else 404) `VitalsApi` checks on every read. It holds no SQL (sessions and web users are
//! `auscult_store::web_users`). Logs carry ids, never usernames, passwords or subject data.
//!
//! [`Caller`]: crate::auth::Caller

mod audio;
mod family;
mod i18n;
mod live;
mod pages;
mod program_words;
mod programs;
mod questionnaire;
mod questionnaire_text;
mod session;
mod station;
mod view;
mod waveform;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ServerError;
use crate::state::AppState;

pub use i18n::Lang;

/// The content security policy of every response: nothing but this server's own files, no
/// inline script, no plugins, never framed.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

/// What every handler shares.
#[derive(Debug)]
pub struct Web {
    app: Arc<AppState>,
    /// The vitals API the nurses' station calls, as the gRPC service does.
    vitals: crate::vitals::VitalsApi,
    /// Whether cookies carry `Secure`: always, except when the console is served in plain HTTP
    /// on loopback (a browser on the same machine), where a `Secure` cookie would never be sent
    /// back over `http://127.0.0.1`. Beyond loopback the console must sit behind a
    /// TLS-terminating proxy, and the cookie is `Secure`.
    secure_cookies: bool,
    /// Turns true when the server stops: long responses (a live listener's stream) end then, so
    /// a graceful stop never waits on a browser.
    shutdown: watch::Receiver<bool>,
}

/// Whether the web console on `addr` (plain HTTP) sets `Secure` cookies: everywhere but
/// loopback.
pub fn secure_cookies_for(addr: SocketAddr) -> bool {
    !crate::is_loopback(addr)
}

/// The console's routes over `app`; long responses (live audio, the station's event streams)
/// end when `shutdown` turns true, so a graceful stop does not wait for them.
pub fn router(app: Arc<AppState>, secure_cookies: bool, shutdown: watch::Receiver<bool>) -> Router {
    let web = Arc::new(Web {
        vitals: crate::vitals::VitalsApi::new(Arc::clone(&app), shutdown.clone()),
        app,
        secure_cookies,
        shutdown,
    });
    Router::new()
        .route("/", get(pages::worklist))
        .route("/worklist/rows", get(pages::worklist_rows))
        .route("/cases/{id}", get(pages::case_page))
        .route("/cases/{id}/review", post(pages::submit_review))
        .route("/cases/{id}/audio", get(audio::case_audio))
        .route("/live", get(live::live_list))
        .route("/live/{id}", get(live::live_page))
        .route("/live/{id}/stream", get(live::live_stream))
        .route("/live/{id}/instruction", post(live::live_instruction))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route(
            "/account",
            get(session::account_page).post(session::change_password),
        )
        .route("/station", get(station::station_page))
        .route("/station/alerts", get(station::station_alerts))
        .route("/station/events", get(station::station_events))
        .route("/station/alerts/{id}/{action}", post(station::alert_action))
        .route("/station/residents/{subject}", get(station::resident_page))
        .route(
            "/station/residents/{subject}/trend",
            get(station::resident_trend),
        )
        .merge(programs::routes())
        .route(
            "/station/residents/{subject}/family",
            post(family::invite).layer(DefaultBodyLimit::max(family::MAX_FORM_BYTES)),
        )
        .route(
            "/station/residents/{subject}/family/{id}/revoke",
            post(family::revoke),
        )
        .route("/family", get(family::home))
        .route("/family/residents/{subject}", get(family::relative_page))
        .route(
            "/family/residents/{subject}/status",
            get(family::relative_status),
        )
        .route(
            "/family/residents/{subject}/trend",
            get(family::relative_trend),
        )
        .route(
            "/family/residents/{subject}/events",
            get(family::relative_events),
        )
        .route(
            "/family/invite/{token}",
            get(family::invitation)
                .post(family::accept)
                .layer(DefaultBodyLimit::max(family::MAX_FORM_BYTES)),
        )
        .route("/lang/{tag}", get(session::switch_language))
        .route(
            "/q/{token}",
            get(questionnaire::open)
                .post(questionnaire::submit)
                .layer(DefaultBodyLimit::max(questionnaire::MAX_FORM_BYTES)),
        )
        .route(
            "/q/{token}/draft",
            post(questionnaire::save_draft)
                .layer(DefaultBodyLimit::max(questionnaire::MAX_FORM_BYTES)),
        )
        .route("/static/questionnaire.js", get(static_questionnaire_js))
        .route("/static/station.js", get(static_station_js))
        .route("/static/family.js", get(static_family_js))
        .route("/static/vendor/uPlot.iife.min.js", get(static_uplot_js))
        .route("/static/vendor/uPlot.min.css", get(static_uplot_css))
        .route("/static/console.js", get(static_js))
        .route("/static/console.css", get(static_css))
        .route("/static/live.js", get(static_live_js))
        .fallback(not_found)
        .with_state(web)
        .layer(axum::middleware::map_response(security_headers))
}

/// Serves the console on `listener` until shutdown.
pub fn serve(
    app: Arc<AppState>,
    listener: TcpListener,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let router = router(app, secure_cookies_for(addr), shutdown.clone());
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the web console stopped");
        }
    })
}

/// Adds the security headers to every response.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show people's data: no copy in shared or browser caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const CONSOLE_JS: &str = include_str!("../../static/console.js");
const CONSOLE_CSS: &str = include_str!("../../static/console.css");
const QUESTIONNAIRE_JS: &str = include_str!("../../static/questionnaire.js");
const LIVE_JS: &str = include_str!("../../static/live.js");

const STATION_JS: &str = include_str!("../../static/station.js");
const FAMILY_JS: &str = include_str!("../../static/family.js");
/// uPlot (MIT), vendored from its npm package: `static/vendor/README.md`.
const UPLOT_JS: &str = include_str!("../../static/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../static/vendor/uPlot.min.css");

async fn static_station_js() -> Response {
    static_file(STATION_JS, "text/javascript; charset=utf-8")
}

async fn static_family_js() -> Response {
    static_file(FAMILY_JS, "text/javascript; charset=utf-8")
}

async fn static_uplot_js() -> Response {
    static_file(UPLOT_JS, "text/javascript; charset=utf-8")
}

async fn static_uplot_css() -> Response {
    static_file(UPLOT_CSS, "text/css; charset=utf-8")
}

async fn static_js() -> Response {
    static_file(CONSOLE_JS, "text/javascript; charset=utf-8")
}

async fn static_questionnaire_js() -> Response {
    static_file(QUESTIONNAIRE_JS, "text/javascript; charset=utf-8")
}

async fn static_live_js() -> Response {
    static_file(LIVE_JS, "text/javascript; charset=utf-8")
}

async fn static_css() -> Response {
    static_file(CONSOLE_CSS, "text/css; charset=utf-8")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    WebError::NotFound.into_response()
}

/// Why a console request failed; each is a page (in both languages: it is shown before or
/// without a session) with the right status, and nothing internal in it.
#[derive(Debug)]
pub enum WebError {
    /// No (live) session: to the sign-in page.
    SignIn,
    /// Missing, or of another tenant (never told apart).
    NotFound,
    /// A malformed form, query or id.
    BadRequest,
    /// A form without this session's CSRF token, or a role that may not do this.
    Forbidden,
    /// An action the thing's present state forbids (an alert already resolved).
    Conflict,
    /// Storage or another part failed (logged, not shown).
    Unavailable,
}

impl From<ServerError> for WebError {
    fn from(e: ServerError) -> WebError {
        match e {
            ServerError::NotFound(_) => WebError::NotFound,
            ServerError::InvalidArgument(_) | ServerError::OutOfRange(_) => WebError::BadRequest,
            ServerError::PermissionDenied(_) => WebError::Forbidden,
            ServerError::FailedPrecondition(_) => WebError::Conflict,
            ServerError::Unauthenticated(_) => WebError::SignIn,
            other => {
                tracing::error!(error = %other, "web console request failed");
                WebError::Unavailable
            }
        }
    }
}

impl From<auscult_store::StoreError> for WebError {
    fn from(e: auscult_store::StoreError) -> WebError {
        WebError::from(ServerError::from(e))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, en, ja) = match self {
            WebError::SignIn => return Redirect::to("/sign-in").into_response(),
            WebError::NotFound => (StatusCode::NOT_FOUND, Lang::En, Lang::Ja),
            WebError::BadRequest => (StatusCode::BAD_REQUEST, Lang::En, Lang::Ja),
            WebError::Forbidden => (StatusCode::FORBIDDEN, Lang::En, Lang::Ja),
            WebError::Conflict => (StatusCode::CONFLICT, Lang::En, Lang::Ja),
            WebError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Lang::En, Lang::Ja),
        };
        let text = |lang: Lang| {
            let w = lang.words();
            match status {
                StatusCode::NOT_FOUND => w.not_found,
                StatusCode::BAD_REQUEST => w.bad_request,
                StatusCode::FORBIDDEN => w.forbidden,
                StatusCode::CONFLICT => w.conflict,
                _ => w.unavailable,
            }
        };
        let page = view::ErrorPage {
            status: status.as_u16(),
            en: text(en),
            ja: text(ja),
        };
        (status, view::html(&page)).into_response()
    }
}

/// Shorthand for console handlers.
pub type WebResult<T> = std::result::Result<T, WebError>;

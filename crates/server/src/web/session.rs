//! Signing people in and out, their sessions, CSRF tokens, password changes and the language
//! switch.
//!
//! A session id is 244 random bits (two UUID v4s) kept only in the browser's cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` except in plain HTTP on loopback); the store keeps its
//! SHA-256. Each session has its own CSRF token, which every form carries and every POST is
//! checked against in constant time; the sign-in form, which comes before any session, carries a
//! token that must equal a cookie set with the form (double submit). Five failed sign-ins in a
//! row lock the account for 15 minutes. Nothing here logs a username or a password.

use auscult_store::now_ms;
use auscult_store::web_users::{FailedSignIn, LockoutPolicy, NewWebSession, WebSession, WebUser};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, extract::rejection::QueryRejection};
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::i18n::Lang;
use super::view::{self, AccountPage, Chrome, SignInPage};
use super::{Web, WebError, WebResult};
use crate::auth::{Caller, Role};
use crate::passwords::{self, random_secret, sha256_hex, well_formed_secret};

/// The session cookie.
pub const SESSION_COOKIE: &str = "auscult_session";
/// The sign-in form's double-submit cookie.
const SIGN_IN_COOKIE: &str = "auscult_signin";
/// The language cookie.
const LANG_COOKIE: &str = "auscult_lang";
/// How long a session lives, ms (a working day).
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// Five failures in a row lock an account for 15 minutes.
pub const LOCKOUT: LockoutPolicy = LockoutPolicy {
    max_failures: 5,
    lock_ms: 15 * 60 * 1000,
};

/// The value of cookie `name` in a request.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The request's language: the switch's cookie, else `Accept-Language`.
pub fn lang(headers: &HeaderMap) -> Lang {
    Lang::choose(
        cookie(headers, LANG_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A `Set-Cookie` value with the console's attributes.
fn set_cookie(web: &Web, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in person of a request, as the API's [`Caller`].
#[derive(Debug)]
pub struct SignedIn {
    /// The session (and its user).
    pub session: WebSession,
    /// The person as a caller of the domain functions.
    pub caller: Caller,
    /// The page language.
    pub lang: Lang,
    id_sha256: String,
}

impl SignedIn {
    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, presented: &str) -> WebResult<()> {
        if same(presented, &self.session.csrf_token) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// What every page shows around its content.
    pub fn chrome(&self) -> Chrome {
        Chrome {
            lang: self.lang,
            w: self.lang.words(),
            user_name: Some(self.session.user.name.clone()),
            csrf: self.session.csrf_token.clone(),
            station: crate::vitals::VitalsApi::may_watch(self.caller.role),
            live: crate::cases::READERS.contains(&self.caller.role),
            programs: super::programs::may_use(self.caller.role),
            family: self.caller.role == Role::Family,
        }
    }

    /// The SHA-256 of the session id (how the store knows the session).
    pub fn id_sha256(&self) -> &str {
        &self.id_sha256
    }
}

/// The signed-in person of a request, or [`WebError::SignIn`].
pub async fn require(web: &Web, headers: &HeaderMap) -> WebResult<SignedIn> {
    let Some(id) = cookie(headers, SESSION_COOKIE).filter(|id| well_formed_secret(id)) else {
        return Err(WebError::SignIn);
    };
    let id_sha256 = sha256_hex(id);
    let Some(session) = web.app.store.find_web_session(&id_sha256, now_ms()).await? else {
        return Err(WebError::SignIn);
    };
    let role = Role::parse(&session.user.role).ok_or(WebError::SignIn)?;
    let caller = Caller {
        principal_id: session.user.principal_id.clone(),
        tenant_id: Some(session.user.tenant_id.clone()),
        role,
        // Web calls are unary and re-check the session on every request; no token to watch.
        token_id: String::new(),
        token_expires_at_ms: Some(session.expires_at_ms),
    };
    Ok(SignedIn {
        session,
        caller,
        lang: lang(headers),
        id_sha256,
    })
}

/// `GET /sign-in`.
pub async fn sign_in_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if require(&web, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    sign_in_form(&web, lang(&headers), None, StatusCode::OK)
}

/// A form shown before any session (sign-in, a family's invitation): its CSRF token, and the
/// cookie to set with the page that carries it (double submit; see [`check_form_token`]).
pub(super) fn form_token(web: &Web) -> (String, HeaderValue) {
    let csrf = random_secret();
    let cookie = set_cookie(web, SIGN_IN_COOKIE, &csrf, 3600);
    (csrf, cookie)
}

/// Whether a form posted before any session carries the token its page set in the cookie.
pub(super) fn check_form_token(headers: &HeaderMap, presented: &str) -> bool {
    cookie(headers, SIGN_IN_COOKIE).is_some_and(|c| well_formed_secret(c) && same(c, presented))
}

/// Starts a session for `user` (just signed in, or just made by accepting a family's
/// invitation) and answers a redirect to `to` that sets its cookie.
pub(super) async fn start_session(
    web: &Web,
    user: &WebUser,
    to: &str,
    now: i64,
) -> WebResult<Response> {
    let id = random_secret();
    let csrf = random_secret();
    web.app
        .store
        .start_web_session(
            user,
            NewWebSession {
                id_sha256: &sha256_hex(&id),
                csrf_token: &csrf,
                expires_at_ms: now + SESSION_TTL_MS,
            },
            now,
        )
        .await?;
    tracing::info!(principal_id = %user.principal_id, "web sign-in");
    let mut response = Redirect::to(to).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(web, SESSION_COOKIE, &id, SESSION_TTL_MS / 1000),
    );
    headers.append(header::SET_COOKIE, set_cookie(web, SIGN_IN_COOKIE, "", 0));
    Ok(response)
}

fn sign_in_form(
    web: &Web,
    lang: Lang,
    error: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let (csrf, form_cookie) = form_token(web);
    let page = SignInPage {
        c: Chrome {
            lang,
            w: lang.words(),
            user_name: None,
            csrf: csrf.clone(),
            station: false,
            live: false,
            programs: false,
            family: false,
        },
        error,
    };
    let mut response = (status, view::html(&page)).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, form_cookie);
    response
}

/// The sign-in form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    username: String,
    password: String,
    csrf: String,
}

/// `POST /sign-in`.
pub async fn sign_in(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> WebResult<Response> {
    // A body that does not parse carries no token to check: refused as a forgery.
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    let lang = lang(&headers);
    let w = lang.words();
    if !check_form_token(&headers, &form.csrf) {
        return Err(WebError::Forbidden);
    }
    let store = &web.app.store;
    let now = now_ms();
    let user = if form.username.len() <= passwords::MAX_USERNAME_BYTES {
        store.find_web_user(form.username.trim()).await?
    } else {
        None
    };
    if let Some(u) = user.as_ref().filter(|u| u.locked(now)) {
        store
            .audit(&u.actor(), "web.sign_in_refused_locked", &[], now)
            .await?;
        tracing::info!(principal_id = %u.principal_id, "web sign-in refused: account locked");
        return Ok(sign_in_form(
            &web,
            lang,
            Some(w.locked),
            StatusCode::UNAUTHORIZED,
        ));
    }
    let hash = user.as_ref().map_or_else(
        || passwords::decoy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || passwords::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    match user {
        Some(user) if matches => start_session(&web, &user, "/", now).await,
        user => {
            let outcome = store
                .record_failed_sign_in(user.as_ref(), LOCKOUT, now)
                .await?;
            match &user {
                Some(u) => tracing::info!(principal_id = %u.principal_id, "web sign-in failed"),
                None => tracing::info!("web sign-in failed for an unknown username"),
            }
            let message = match outcome {
                FailedSignIn::LockedOut => w.locked,
                FailedSignIn::Counted => w.sign_in_failed,
            };
            Ok(sign_in_form(
                &web,
                lang,
                Some(message),
                StatusCode::UNAUTHORIZED,
            ))
        }
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub(super) csrf: String,
}

/// `POST /sign-out`.
pub async fn sign_out(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    web.app
        .store
        .end_web_session(&signed.session, &signed.id_sha256, now_ms())
        .await?;
    tracing::info!(principal_id = %signed.caller.principal_id, "web sign-out");
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&web, SESSION_COOKIE, "", 0));
    Ok(response)
}

/// `GET /account`: the password change form.
pub async fn account_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    Ok(account(&signed, None, StatusCode::OK))
}

fn account(signed: &SignedIn, message: Option<&'static str>, status: StatusCode) -> Response {
    let page = AccountPage {
        c: signed.chrome(),
        message,
    };
    (status, view::html(&page)).into_response()
}

/// The password change form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

/// `POST /account`: changes the signed-in person's password (the current one must be given; a
/// wrong one counts as a failed sign-in). Other sessions of the person end.
pub async fn change_password(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Form(form) = form.map_err(|_| WebError::Forbidden)?;
    signed.check_csrf(&form.csrf)?;
    let w = signed.lang.words();
    let hash = signed.session.user.password_hash.clone();
    let current = form.current;
    let matches = tokio::task::spawn_blocking(move || passwords::verify_password(&current, &hash))
        .await
        .unwrap_or(false);
    let now = now_ms();
    if !matches {
        web.app
            .store
            .record_failed_sign_in(Some(&signed.session.user), LOCKOUT, now)
            .await?;
        return Ok(account(
            &signed,
            Some(w.wrong_password),
            StatusCode::BAD_REQUEST,
        ));
    }
    if passwords::validate_password(&form.new).is_err() {
        return Ok(account(
            &signed,
            Some(w.wrong_password),
            StatusCode::BAD_REQUEST,
        ));
    }
    let new = form.new;
    let new_hash = tokio::task::spawn_blocking(move || passwords::hash_password(&new))
        .await
        .map_err(|_| WebError::Unavailable)??;
    web.app
        .store
        .change_web_password(&signed.session.user, &new_hash, &signed.id_sha256, now)
        .await?;
    tracing::info!(principal_id = %signed.caller.principal_id, "web password changed");
    Ok(account(&signed, Some(w.password_changed), StatusCode::OK))
}

/// Where the language switch returns to.
#[derive(Debug, Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// `GET /lang/{tag}?back=/path`: remembers the language in a cookie and goes back (to a path
/// of this site only).
pub async fn switch_language(
    State(web): State<Arc<Web>>,
    Path(tag): Path<String>,
    back: Result<Query<Back>, QueryRejection>,
) -> WebResult<Response> {
    let lang = Lang::parse(&tag).ok_or(WebError::NotFound)?;
    let back = back
        .ok()
        .and_then(|Query(b)| b.back)
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".to_owned());
    let mut response = Redirect::to(&back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&web, LANG_COOKIE, lang.tag(), 365 * 24 * 3600),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; auscult_session=abc; b=2"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("auscult_lang=ja"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LANG_COOKIE), Some("ja"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(lang(&h), Lang::Ja);
    }

    #[test]
    fn secrets_are_well_formed_and_distinct() {
        let a = random_secret();
        assert!(well_formed_secret(&a));
        assert_ne!(a, random_secret());
        assert!(!well_formed_secret("short"));
        assert!(!well_formed_secret(&"g".repeat(64)));
    }
}

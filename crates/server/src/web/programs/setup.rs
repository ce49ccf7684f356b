//! Setting a programme up: the list of programmes and a new one, its sites, and its
//! questionnaire (the editor that stores each change as a new version, and the preview as a
//! resident sees it).

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{api, form, may};
use crate::programs;
use crate::web::i18n::Lang;
use crate::web::program_words::{Words, words};
use crate::web::session::require;
use crate::web::view::{self, Chrome};
use crate::web::{Web, WebError, WebResult};

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
    Ok(view::html(&crate::web::questionnaire::preview(
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
            .map(|q| crate::web::questionnaire_text::to_text(&q.questions))
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
    let questions = match crate::web::questionnaire_text::parse(&f.lines) {
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

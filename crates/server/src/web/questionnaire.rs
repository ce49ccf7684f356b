//! The residents' web questionnaire (web 問診): `/q/{token}` opens one visit's questionnaire on
//! a phone without an account, in Japanese or English, in large type, one question per screen
//! when the page's script runs (every question on one page when it does not). Answers are saved
//! as they go (`POST /q/{token}/draft`) so the resident can close the page and resume; `POST
//! /q/{token}` submits once, after which the link shows a thank-you and takes nothing more.
//!
//! The token in the path is the whole capability (see [`crate::programs::links`]); there is no
//! cookie and no session, so there is nothing a cross-site form could ride on: a forged POST
//! would have to know the token. Every rule about the response is the API's
//! ([`ProgramApi::submit_by_link`]); here a form becomes answers, and a mistake becomes a
//! sentence beside its question.

use std::sync::Arc;

use askama::Template;
use auscult_proto::v1 as pb;
use auscult_store::questionnaire_links::LinkState;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::i18n::Lang;
use super::session;
use super::view::html;
use super::{Web, WebError, WebResult};
use crate::error::ServerError;
use crate::programs::ProgramApi;
use crate::programs::links::{LiveLink, Opened};

/// The longest form the page may post, bytes (a questionnaire's answers, with room).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The words of the residents' pages.
#[derive(Debug)]
pub struct ResidentWords {
    pub title: &'static str,
    pub intro: &'static str,
    pub expires: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub next: &'static str,
    pub back: &'static str,
    pub submit: &'static str,
    pub saved: &'static str,
    pub not_saved: &'static str,
    pub optional: &'static str,
    pub question_of: &'static str,
    pub fix_below: &'static str,
    pub required: &'static str,
    pub whole_number: &'static str,
    pub number: &'static str,
    pub date: &'static str,
    pub choose: &'static str,
    pub too_long: &'static str,
    pub not_accepted: &'static str,
    pub thanks_title: &'static str,
    pub thanks: &'static str,
    pub used: &'static str,
    pub expired: &'static str,
    pub revoked: &'static str,
}

static EN: ResidentWords = ResidentWords {
    title: "Health check-up questionnaire",
    intro: "Please answer these questions before your check-up. Your answers are saved as you go: you can close this page and come back with the same link.",
    expires: "This link works until",
    yes: "Yes",
    no: "No",
    next: "Next",
    back: "Back",
    submit: "Send my answers",
    saved: "Saved",
    not_saved: "Not saved yet: check your connection",
    optional: "optional",
    question_of: "Question",
    fix_below: "Some answers need a look: see the questions marked below.",
    required: "Please answer this question.",
    whole_number: "Please enter a whole number, for example 3.",
    number: "Please enter a number, for example 1.5.",
    date: "Please enter a date.",
    choose: "Please choose one of the answers.",
    too_long: "This answer is too long.",
    not_accepted: "These answers could not be accepted. Please check them and send again, or ask the check-up staff.",
    thanks_title: "Thank you",
    thanks: "Your answers have been sent to the check-up team. You can close this page.",
    used: "These answers have already been sent. Thank you. If you need to change something, please tell the check-up staff.",
    expired: "This link has expired. Please ask the check-up staff for a new one.",
    revoked: "This link is no longer in use. Please use the newest link you were given, or ask the check-up staff.",
};

static JA: ResidentWords = ResidentWords {
    title: "健康診断 問診票",
    intro: "健診の前に、次の質問にお答えください。回答は入力するたびに保存されます。ページを閉じても、同じリンクから続きを入力できます。",
    expires: "このリンクの有効期限",
    yes: "はい",
    no: "いいえ",
    next: "次へ",
    back: "戻る",
    submit: "回答を送信する",
    saved: "保存しました",
    not_saved: "まだ保存されていません。通信状態をご確認ください",
    optional: "任意",
    question_of: "質問",
    fix_below: "確認が必要な回答があります。下の印のついた質問をご覧ください。",
    required: "この質問にお答えください。",
    whole_number: "整数で入力してください (例: 3)。",
    number: "数字で入力してください (例: 1.5)。",
    date: "日付を入力してください。",
    choose: "選択肢から1つ選んでください。",
    too_long: "回答が長すぎます。",
    not_accepted: "この回答は受け付けられませんでした。内容を確認して再度送信するか、健診スタッフにお尋ねください。",
    thanks_title: "ありがとうございました",
    thanks: "回答は健診チームに送信されました。このページは閉じて構いません。",
    used: "この回答はすでに送信されています。ありがとうございました。変更がある場合は健診スタッフにお伝えください。",
    expired: "このリンクは有効期限が切れています。健診スタッフに新しいリンクをお尋ねください。",
    revoked: "このリンクは現在使われていません。最新のリンクを使うか、健診スタッフにお尋ねください。",
};

fn words(lang: Lang) -> &'static ResidentWords {
    match lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    }
}

/// One question as the page shows it.
#[derive(Debug, Clone)]
pub struct QuestionView {
    /// Its stable id (the form field is `a.<id>`).
    pub id: String,
    /// 1-based position.
    pub number: usize,
    /// `boolean`, `choice`, `integer`, `decimal`, `text` or `date`.
    pub kind: &'static str,
    /// The question in the page's language.
    pub text: String,
    /// Whether it must be answered.
    pub required: bool,
    /// Choice options: (code, label).
    pub options: Vec<(String, String)>,
    /// The value the form shows (the draft's, or what was just posted).
    pub value: String,
    /// What is wrong with it, in words.
    pub error: &'static str,
}

/// The questionnaire page.
#[derive(Template)]
#[template(path = "questionnaire.html")]
pub struct QuestionnairePage {
    lang: Lang,
    w: &'static ResidentWords,
    title: String,
    path: String,
    expires_at: String,
    questions: Vec<QuestionView>,
    errors: bool,
    not_accepted: bool,
    /// Set (to the banner's words) when staff preview the questionnaire: nothing is saved.
    preview: &'static str,
}

/// A page with one message (thanks, used, expired).
#[derive(Template)]
#[template(path = "questionnaire_done.html")]
pub struct DonePage {
    lang: Lang,
    w: &'static ResidentWords,
    heading: &'static str,
    message: &'static str,
}

impl QuestionnairePage {
    fn other(&self) -> Lang {
        self.lang.other()
    }
}

/// `?lang=` on the resident's pages (no cookie: the link is the whole state).
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

fn page_lang(headers: &HeaderMap, query: Result<Query<LangQuery>, QueryRejection>) -> Lang {
    query
        .ok()
        .and_then(|Query(q)| q.lang)
        .and_then(|l| Lang::parse(&l))
        .unwrap_or_else(|| session::lang(headers))
}

/// The text in `lang`, else the first (the primary language).
fn localized(texts: &[pb::LocalizedString], lang: Lang) -> String {
    texts
        .iter()
        .find(|t| t.language.eq_ignore_ascii_case(lang.tag()))
        .or_else(|| texts.first())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

fn kind_of(q: &pb::Question) -> &'static str {
    match pb::QuestionType::try_from(q.r#type) {
        Ok(pb::QuestionType::Boolean) => "boolean",
        Ok(pb::QuestionType::Choice) => "choice",
        Ok(pb::QuestionType::Integer) => "integer",
        Ok(pb::QuestionType::Decimal) => "decimal",
        Ok(pb::QuestionType::Date) => "date",
        _ => "text",
    }
}

/// An answer as the form shows it.
fn shown(a: &pb::Answer) -> String {
    match &a.value {
        Some(pb::answer::Value::Boolean(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(pb::answer::Value::Integer(i)) => i.to_string(),
        Some(pb::answer::Value::Decimal(d)) => d.to_string(),
        Some(pb::answer::Value::Text(t) | pb::answer::Value::Date(t)) => t.clone(),
        Some(pb::answer::Value::Choice(c)) => c.clone(),
        None => String::new(),
    }
}

/// The longest free-text answer, characters (as the API's rule).
const MAX_TEXT_CHARS: usize = 2000;

/// The posted form as answers, and what is wrong with each question (`""` when nothing).
/// `complete` demands every required question (a submission); a draft takes any subset.
/// Pure: fields in, answers and messages out.
pub fn parse_answers(
    questions: &[pb::Question],
    fields: &[(String, String)],
    w: &'static ResidentWords,
    complete: bool,
) -> (Vec<pb::Answer>, Vec<(String, &'static str)>, Vec<String>) {
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    let mut values = Vec::new();
    for q in questions {
        let key = format!("a.{}", q.link_id);
        let raw = fields
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
            .unwrap_or_default();
        values.push(raw.to_owned());
        if raw.is_empty() {
            if complete && q.required {
                errors.push((q.link_id.clone(), w.required));
            }
            continue;
        }
        use pb::answer::Value;
        let value = match kind_of(q) {
            "boolean" => match raw {
                "yes" => Ok(Value::Boolean(true)),
                "no" => Ok(Value::Boolean(false)),
                _ => Err(w.choose),
            },
            "choice" => {
                if q.options.iter().any(|o| o.code == raw) {
                    Ok(Value::Choice(raw.to_owned()))
                } else {
                    Err(w.choose)
                }
            }
            "integer" => raw
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| w.whole_number),
            "decimal" => raw
                .replace(',', ".")
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .map(Value::Decimal)
                .ok_or(w.number),
            "date" => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|_| Value::Date(raw.to_owned()))
                .map_err(|_| w.date),
            _ => {
                if raw.chars().count() > MAX_TEXT_CHARS {
                    Err(w.too_long)
                } else {
                    Ok(Value::Text(raw.to_owned()))
                }
            }
        };
        match value {
            Ok(v) => answers.push(pb::Answer {
                link_id: q.link_id.clone(),
                value: Some(v),
            }),
            Err(e) => errors.push((q.link_id.clone(), e)),
        }
    }
    (answers, errors, values)
}

/// What the fields show: the saved draft (the default), or what the resident just sent with
/// its mistakes.
#[derive(Debug, Default)]
struct Filled<'a> {
    /// The values as sent, one per question in order (`None`: the draft's answers).
    values: Option<Vec<String>>,
    /// The mistakes, by question id.
    errors: &'a [(String, &'static str)],
    /// The answers passed the form's checks but the server refused them.
    not_accepted: bool,
}

fn page(live: &LiveLink, lang: Lang, path: String, filled: Filled<'_>) -> QuestionnairePage {
    questions_page(
        &live.questionnaire,
        &live.draft,
        live.expires_at_ms,
        lang,
        path,
        filled,
    )
}

/// The questionnaire as a resident sees it, for staff: nothing is saved or submitted (the form
/// has no draft address and its submit button is disabled), `banner` says so.
pub fn preview(q: &pb::Questionnaire, lang: Lang, banner: &'static str) -> QuestionnairePage {
    let mut page = questions_page(q, &[], 0, lang, String::new(), Filled::default());
    page.preview = banner;
    page
}

fn questions_page(
    questionnaire: &pb::Questionnaire,
    draft: &[pb::Answer],
    expires_at_ms: i64,
    lang: Lang,
    path: String,
    filled: Filled<'_>,
) -> QuestionnairePage {
    let Filled {
        values,
        errors,
        not_accepted,
    } = filled;
    let w = words(lang);
    let questions = questionnaire
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| QuestionView {
            id: q.link_id.clone(),
            number: i + 1,
            kind: kind_of(q),
            text: localized(&q.text, lang),
            required: q.required,
            options: q
                .options
                .iter()
                .map(|o| (o.code.clone(), localized(&o.label, lang)))
                .collect(),
            value: match &values {
                Some(v) => v.get(i).cloned().unwrap_or_default(),
                None => draft
                    .iter()
                    .find(|a| a.link_id == q.link_id)
                    .map(shown)
                    .unwrap_or_default(),
            },
            error: errors
                .iter()
                .find(|(id, _)| *id == q.link_id)
                .map_or("", |(_, e)| e),
        })
        .collect();
    QuestionnairePage {
        lang,
        w,
        title: localized(&questionnaire.title, lang),
        path,
        expires_at: super::view::iso(expires_at_ms),
        questions,
        errors: !errors.is_empty(),
        not_accepted,
        preview: "",
    }
}

fn closed(state: LinkState, lang: Lang) -> Response {
    let w = words(lang);
    let message = match state {
        LinkState::Used => w.used,
        LinkState::Expired => w.expired,
        LinkState::Revoked | LinkState::Live => w.revoked,
    };
    let status = match state {
        LinkState::Used => StatusCode::OK,
        _ => StatusCode::GONE,
    };
    (
        status,
        html(&DonePage {
            lang,
            w,
            heading: w.title,
            message,
        }),
    )
        .into_response()
}

fn api(web: &Web) -> ProgramApi {
    ProgramApi::new(web.app.clone())
}

/// `GET /q/{token}`.
pub async fn open(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    query: Result<Query<LangQuery>, QueryRejection>,
) -> WebResult<Response> {
    let lang = page_lang(&headers, query);
    match api(&web).open_link(&token).await? {
        Opened::Closed(state) => Ok(closed(state, lang)),
        Opened::Live(live) => {
            let path = format!("/q/{token}");
            Ok(html(&page(&live, lang, path, Filled::default())).into_response())
        }
    }
}

/// The form's fields, in order (the router limits the body to [`MAX_FORM_BYTES`]).
type Fields = Result<Form<Vec<(String, String)>>, FormRejection>;

fn fields_of(form: Fields) -> WebResult<Vec<(String, String)>> {
    form.map(|Form(f)| f).map_err(|_| WebError::BadRequest)
}

/// `POST /q/{token}/draft`: keeps the answers so far (204), or 410 when the link no longer
/// works. Answers that do not parse yet are left out of the draft, not refused.
pub async fn save_draft(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    form: Fields,
) -> WebResult<Response> {
    let fields = fields_of(form)?;
    let api = api(&web);
    let Opened::Live(live) = api.find_link(&token).await? else {
        return Ok(StatusCode::GONE.into_response());
    };
    let (answers, _, _) = parse_answers(&live.questionnaire.questions, &fields, &EN, false);
    if api.save_link_draft(&live, answers).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(StatusCode::GONE.into_response())
    }
}

/// `POST /q/{token}`: submits. Mistakes come back beside their questions (422, the answers
/// kept as a draft); a link that no longer works says why.
pub async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    query: Result<Query<LangQuery>, QueryRejection>,
    form: Fields,
) -> WebResult<Response> {
    let lang = page_lang(&headers, query);
    let fields = fields_of(form)?;
    let api = api(&web);
    let live = match api.find_link(&token).await? {
        Opened::Closed(state) => return Ok(closed(state, lang)),
        Opened::Live(live) => live,
    };
    let w = words(lang);
    let path = format!("/q/{token}");
    let (answers, errors, values) = parse_answers(&live.questionnaire.questions, &fields, w, true);
    if !errors.is_empty() {
        api.save_link_draft(&live, answers).await?;
        let filled = Filled {
            values: Some(values),
            errors: &errors,
            not_accepted: false,
        };
        let p = page(&live, lang, path, filled);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&p)).into_response());
    }
    match api.submit_by_link(&live, answers.clone()).await {
        Ok(true) => Ok(html(&DonePage {
            lang,
            w,
            heading: w.thanks_title,
            message: w.thanks,
        })
        .into_response()),
        Ok(false) => match api.find_link(&token).await? {
            Opened::Closed(state) => Ok(closed(state, lang)),
            Opened::Live(_) => Err(WebError::Unavailable),
        },
        Err(ServerError::InvalidArgument(_)) => {
            api.save_link_draft(&live, answers).await?;
            let filled = Filled {
                values: Some(values),
                errors: &[],
                not_accepted: true,
            };
            let p = page(&live, lang, path, filled);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&p)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, t: pb::QuestionType, required: bool) -> pb::Question {
        pb::Question {
            link_id: id.into(),
            r#type: t as i32,
            required,
            text: vec![],
            options: vec![pb::ChoiceOption {
                code: "never".into(),
                label: vec![],
            }],
        }
    }

    fn f(k: &str, v: &str) -> (String, String) {
        (format!("a.{k}"), v.into())
    }

    #[test]
    fn a_form_becomes_answers_and_mistakes_become_sentences() {
        use pb::QuestionType as T;
        let qs = [
            q("smoker", T::Boolean, true),
            q("cigs", T::Integer, false),
            q("weight", T::Decimal, true),
            q("since", T::Date, false),
            q("alcohol", T::Choice, true),
            q("notes", T::Text, false),
        ];
        let fields = [
            f("smoker", "yes"),
            f("cigs", "ten"),
            f("weight", "61,5"),
            f("since", "2020-02-30"),
            f("alcohol", "daily"),
            f("notes", "  "),
        ];
        let (answers, errors, values) = parse_answers(&qs, &fields, &EN, true);
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[1].value, Some(pb::answer::Value::Decimal(61.5)));
        assert_eq!(
            errors,
            vec![
                ("cigs".to_owned(), EN.whole_number),
                ("since".to_owned(), EN.date),
                ("alcohol".to_owned(), EN.choose),
            ]
        );
        assert_eq!(values[1], "ten", "what was typed is shown again");
        // A missing required answer is a mistake on submission, not in a draft.
        let (_, errors, _) = parse_answers(&qs, &[], &JA, true);
        assert_eq!(errors.len(), 3);
        assert!(errors.iter().all(|(_, e)| *e == JA.required));
        let (answers, errors, _) = parse_answers(&qs, &[f("smoker", "no")], &EN, false);
        assert!(errors.is_empty());
        assert_eq!(answers[0].value, Some(pb::answer::Value::Boolean(false)));
        // Unknown fields and NaN are ignored or refused, never a panic.
        let (answers, errors, _) = parse_answers(
            &qs,
            &[f("weight", "NaN"), ("x".into(), "y".into())],
            &EN,
            false,
        );
        assert!(answers.is_empty());
        assert_eq!(errors, vec![("weight".to_owned(), EN.number)]);
    }
}

//! Questionnaires and responses: protobuf messages to the `fhir` crate's definitions, checked
//! with its validators, and the stored (encoded) form.
//!
//! A definition must have a title and questions with link ids, texts in at least one language
//! and a known type (choices with options); a response must bind to a stored version, answer only
//! questions that exist, with values of the question's type, and answer every required question.
//! Any breach is `INVALID_ARGUMENT`. Must never accept a response the definition would not.

use auscult_fhir::{
    AnswerValue, ChoiceOption, LocalizedText, QuestionDef, QuestionKind, QuestionnaireDef,
    QuestionnaireResponseInput,
};
use auscult_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{Result, ServerError};

/// Limits on a definition, so a stored definition stays small.
const MAX_QUESTIONS: usize = 500;
const MAX_TEXT: usize = 2000;
const MAX_OPTIONS: usize = 100;

/// The canonical URL of a programme's questionnaire (the same across versions).
pub fn canonical_url(program_id: &str) -> String {
    format!("https://auscult.invalid/fhir/Questionnaire/{program_id}")
}

/// The FHIR id of one questionnaire version.
pub fn fhir_id(program_id: &str, version: u32) -> String {
    format!("q-{program_id}-v{version}")
}

fn localized(texts: &[pb::LocalizedString], what: &str) -> Result<LocalizedText> {
    if texts
        .iter()
        .any(|t| t.text.chars().count() > MAX_TEXT || t.language.len() > 35)
    {
        return Err(ServerError::InvalidArgument(format!(
            "{what} is too long (at most {MAX_TEXT} characters)"
        )));
    }
    Ok(LocalizedText(
        texts
            .iter()
            .map(|t| (t.language.clone(), t.text.clone()))
            .collect(),
    ))
}

fn invalid(e: auscult_fhir::FhirError) -> ServerError {
    ServerError::InvalidArgument(e.to_string())
}

/// The `fhir` definition of a stored or submitted protobuf questionnaire, validated.
pub fn definition(
    program_id: &str,
    version: u32,
    q: &pb::Questionnaire,
) -> Result<QuestionnaireDef> {
    if q.questions.len() > MAX_QUESTIONS {
        return Err(ServerError::InvalidArgument(format!(
            "at most {MAX_QUESTIONS} questions"
        )));
    }
    let mut questions = Vec::with_capacity(q.questions.len());
    for question in &q.questions {
        let kind = match pb::QuestionType::try_from(question.r#type) {
            Ok(pb::QuestionType::Boolean) => QuestionKind::Boolean,
            Ok(pb::QuestionType::Integer) => QuestionKind::Integer,
            Ok(pb::QuestionType::Decimal) => QuestionKind::Decimal,
            Ok(pb::QuestionType::Text) => QuestionKind::Text,
            Ok(pb::QuestionType::Date) => QuestionKind::Date,
            Ok(pb::QuestionType::Choice) => {
                if question.options.len() > MAX_OPTIONS {
                    return Err(ServerError::InvalidArgument(format!(
                        "at most {MAX_OPTIONS} options per question"
                    )));
                }
                QuestionKind::Choice(
                    question
                        .options
                        .iter()
                        .map(|o| {
                            Ok(ChoiceOption {
                                code: o.code.clone(),
                                label: localized(&o.label, "option label")?,
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
            Ok(pb::QuestionType::Unspecified) | Err(_) => {
                return Err(ServerError::InvalidArgument(format!(
                    "question {:?} has no known type",
                    question.link_id
                )));
            }
        };
        if !matches!(kind, QuestionKind::Choice(_)) && !question.options.is_empty() {
            return Err(ServerError::InvalidArgument(format!(
                "question {:?} has options but is not a choice",
                question.link_id
            )));
        }
        if question.link_id.len() > 200 {
            return Err(ServerError::InvalidArgument("link id too long".into()));
        }
        questions.push(QuestionDef {
            link_id: question.link_id.clone(),
            text: localized(&question.text, "question text")?,
            kind,
            required: question.required,
        });
    }
    let def = QuestionnaireDef {
        id: fhir_id(program_id, version.max(1)),
        url: canonical_url(program_id),
        version: version.max(1).to_string(),
        title: localized(&q.title, "title")?,
        questions,
    };
    auscult_fhir::questionnaire::validate_definition(&def).map_err(invalid)?;
    Ok(def)
}

/// The `fhir` response of a protobuf response for `patient_id`, validated against `def`.
pub fn response(
    def: &QuestionnaireDef,
    id: &str,
    patient_id: &str,
    r: &pb::QuestionnaireResponse,
) -> Result<QuestionnaireResponseInput> {
    let authored = r
        .authored_at
        .as_ref()
        .map(crate::convert::millis)
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| ServerError::InvalidArgument("authored_at out of range".into()))?;
    let mut answers = Vec::with_capacity(r.answers.len());
    for a in &r.answers {
        let value = match &a.value {
            Some(pb::answer::Value::Boolean(b)) => AnswerValue::Boolean(*b),
            Some(pb::answer::Value::Integer(i)) => AnswerValue::Integer(*i),
            Some(pb::answer::Value::Decimal(d)) => AnswerValue::Decimal(*d),
            Some(pb::answer::Value::Text(t)) => {
                if t.chars().count() > MAX_TEXT {
                    return Err(ServerError::InvalidArgument("answer text too long".into()));
                }
                AnswerValue::Text(t.clone())
            }
            Some(pb::answer::Value::Date(d)) => {
                AnswerValue::Date(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    ServerError::InvalidArgument(format!(
                        "answer to {:?} is not a YYYY-MM-DD date",
                        a.link_id
                    ))
                })?)
            }
            Some(pb::answer::Value::Choice(c)) => AnswerValue::Choice(c.clone()),
            None => {
                return Err(ServerError::InvalidArgument(format!(
                    "answer to {:?} has no value",
                    a.link_id
                )));
            }
        };
        answers.push((a.link_id.clone(), value));
    }
    let input = QuestionnaireResponseInput {
        id: id.to_owned(),
        questionnaire_version: r.questionnaire_version.to_string(),
        patient_id: patient_id.to_owned(),
        authored,
        answers,
    };
    auscult_fhir::questionnaire::validate_response(def, &input).map_err(invalid)?;
    Ok(input)
}

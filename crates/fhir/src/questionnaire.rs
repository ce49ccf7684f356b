//! Checking questionnaire definitions and responses before they are stored or exported.
//!
//! A response must name the definition's version, answer only questions that exist, each at
//! most once, with a value of the question's type (a choice with one of its option codes), and
//! answer every required question. This module is pure and never does I/O.

use std::collections::HashSet;

use crate::error::FhirError;
use crate::model::{
    AnswerValue, LocalizedText, QuestionKind, QuestionnaireDef, QuestionnaireResponseInput,
};

fn check_text(text: &LocalizedText, what: &'static str) -> Result<(), FhirError> {
    if text.0.is_empty()
        || text
            .0
            .iter()
            .any(|(lang, t)| lang.trim().is_empty() || t.trim().is_empty())
    {
        return Err(FhirError::EmptyText(what));
    }
    Ok(())
}

/// Checks a definition: a version, at least one question, unique link ids, non-empty texts in
/// every language given, and options for every choice question.
pub fn validate_definition(def: &QuestionnaireDef) -> Result<(), FhirError> {
    crate::resources::check_id(&def.id)?;
    if def.version.trim().is_empty() || def.url.trim().is_empty() {
        return Err(FhirError::InvalidQuestionnaire(
            "needs a canonical URL and a version".into(),
        ));
    }
    check_text(&def.title, "questionnaire title")?;
    if def.questions.is_empty() {
        return Err(FhirError::InvalidQuestionnaire("has no questions".into()));
    }
    let mut seen = HashSet::new();
    for q in &def.questions {
        if q.link_id.trim().is_empty() {
            return Err(FhirError::InvalidQuestionnaire(
                "has a question without a link id".into(),
            ));
        }
        if !seen.insert(q.link_id.as_str()) {
            return Err(FhirError::DuplicateQuestion(q.link_id.clone()));
        }
        check_text(&q.text, "question text")?;
        if let QuestionKind::Choice(options) = &q.kind {
            if options.is_empty() {
                return Err(FhirError::InvalidQuestionnaire(format!(
                    "choice question {:?} has no options",
                    q.link_id
                )));
            }
            let mut codes = HashSet::new();
            for o in options {
                check_text(&o.label, "option label")?;
                if o.code.trim().is_empty() || !codes.insert(o.code.as_str()) {
                    return Err(FhirError::InvalidQuestionnaire(format!(
                        "choice question {:?} has an empty or repeated option code",
                        q.link_id
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Checks a response against its definition.
pub fn validate_response(
    def: &QuestionnaireDef,
    response: &QuestionnaireResponseInput,
) -> Result<(), FhirError> {
    if response.questionnaire_version != def.version {
        return Err(FhirError::VersionMismatch {
            expected: def.version.clone(),
            given: response.questionnaire_version.clone(),
        });
    }
    let mut answered = HashSet::new();
    for (link_id, value) in &response.answers {
        let q = def
            .questions
            .iter()
            .find(|q| &q.link_id == link_id)
            .ok_or_else(|| FhirError::UnknownQuestion(link_id.clone()))?;
        if !answered.insert(link_id.as_str()) {
            return Err(FhirError::DuplicateAnswer(link_id.clone()));
        }
        let mismatch = || FhirError::AnswerTypeMismatch {
            link_id: link_id.clone(),
            expected: q.kind.fhir_type(),
        };
        match (&q.kind, value) {
            (QuestionKind::Boolean, AnswerValue::Boolean(_))
            | (QuestionKind::Integer, AnswerValue::Integer(_))
            | (QuestionKind::Date, AnswerValue::Date(_)) => {}
            (QuestionKind::Decimal, AnswerValue::Decimal(v)) => {
                if !v.is_finite() {
                    return Err(FhirError::NotFinite("decimal answer"));
                }
            }
            (QuestionKind::Text, AnswerValue::Text(t)) => {
                if t.trim().is_empty() {
                    return Err(mismatch());
                }
            }
            (QuestionKind::Choice(options), AnswerValue::Choice(code)) => {
                if !options.iter().any(|o| &o.code == code) {
                    return Err(FhirError::UnknownOption {
                        link_id: link_id.clone(),
                        code: code.clone(),
                    });
                }
            }
            _ => return Err(mismatch()),
        }
    }
    if let Some(q) = def
        .questions
        .iter()
        .find(|q| q.required && !answered.contains(q.link_id.as_str()))
    {
        return Err(FhirError::RequiredMissing(q.link_id.clone()));
    }
    Ok(())
}

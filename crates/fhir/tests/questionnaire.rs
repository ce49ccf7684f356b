//! Questionnaire definitions and responses: every way a response can be wrong gets its own
//! clear error.

use auscult_fhir::questionnaire::{validate_definition, validate_response};
use auscult_fhir::*;
use chrono::{TimeZone, Utc};

fn def() -> QuestionnaireDef {
    QuestionnaireDef {
        id: "q".into(),
        url: "https://auscult.invalid/fhir/Questionnaire/q".into(),
        version: "1".into(),
        title: LocalizedText::new(&[("ja", "問診"), ("en", "Interview")]),
        questions: vec![
            QuestionDef {
                link_id: "smoker".into(),
                text: LocalizedText::new(&[("ja", "喫煙"), ("en", "Smoker")]),
                kind: QuestionKind::Boolean,
                required: true,
            },
            QuestionDef {
                link_id: "level".into(),
                text: LocalizedText::new(&[("ja", "程度"), ("en", "Level")]),
                kind: QuestionKind::Choice(vec![ChoiceOption {
                    code: "mild".into(),
                    label: LocalizedText::new(&[("ja", "軽度"), ("en", "Mild")]),
                }]),
                required: false,
            },
        ],
    }
}

fn response(answers: Vec<(&str, AnswerValue)>) -> QuestionnaireResponseInput {
    QuestionnaireResponseInput {
        id: "r".into(),
        questionnaire_version: "1".into(),
        patient_id: "p".into(),
        authored: Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
            .single()
            .expect("time"),
        answers: answers
            .into_iter()
            .map(|(l, v)| (l.to_owned(), v))
            .collect(),
    }
}

#[test]
fn good_response_passes() {
    assert_eq!(validate_definition(&def()), Ok(()));
    let r = response(vec![
        ("smoker", AnswerValue::Boolean(false)),
        ("level", AnswerValue::Choice("mild".into())),
    ]);
    assert_eq!(validate_response(&def(), &r), Ok(()));
}

#[test]
fn answer_to_a_question_that_does_not_exist() {
    let r = response(vec![
        ("smoker", AnswerValue::Boolean(false)),
        ("shoe-size", AnswerValue::Integer(42)),
    ]);
    assert_eq!(
        validate_response(&def(), &r),
        Err(FhirError::UnknownQuestion("shoe-size".into()))
    );
    assert_eq!(
        validate_response(&def(), &r).map_err(|e| e.to_string()),
        Err("the questionnaire has no question \"shoe-size\"".to_owned())
    );
}

#[test]
fn wrong_type_unknown_option_duplicate_missing_and_version() {
    let d = def();
    assert!(matches!(
        validate_response(&d, &response(vec![("smoker", AnswerValue::Integer(1))])),
        Err(FhirError::AnswerTypeMismatch {
            expected: "boolean",
            ..
        })
    ));
    assert!(matches!(
        validate_response(
            &d,
            &response(vec![
                ("smoker", AnswerValue::Boolean(true)),
                ("level", AnswerValue::Choice("severe".into()))
            ])
        ),
        Err(FhirError::UnknownOption { .. })
    ));
    assert!(matches!(
        validate_response(
            &d,
            &response(vec![
                ("smoker", AnswerValue::Boolean(true)),
                ("smoker", AnswerValue::Boolean(false))
            ])
        ),
        Err(FhirError::DuplicateAnswer(_))
    ));
    assert_eq!(
        validate_response(
            &d,
            &response(vec![("level", AnswerValue::Choice("mild".into()))])
        ),
        Err(FhirError::RequiredMissing("smoker".into()))
    );
    let mut r = response(vec![("smoker", AnswerValue::Boolean(true))]);
    r.questionnaire_version = "0".into();
    assert!(matches!(
        validate_response(&d, &r),
        Err(FhirError::VersionMismatch { .. })
    ));
}

#[test]
fn bad_definitions_are_refused() {
    let mut d = def();
    d.questions.push(d.questions[0].clone());
    assert!(matches!(
        validate_definition(&d),
        Err(FhirError::DuplicateQuestion(_))
    ));
    let mut d = def();
    d.questions.clear();
    assert!(validate_definition(&d).is_err());
    let mut d = def();
    d.questions[1].kind = QuestionKind::Choice(vec![]);
    assert!(validate_definition(&d).is_err());
    let mut d = def();
    d.title = LocalizedText::new(&[("ja", "")]);
    assert!(matches!(
        validate_definition(&d),
        Err(FhirError::EmptyText(_))
    ));
}

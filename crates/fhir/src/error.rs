//! The one error type of the `fhir` crate.

/// Why a resource or bundle could not be built, or a questionnaire response was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// A resource id breaks FHIR's id rule (1–64 of `A-Z a-z 0-9 - .`).
    #[error("invalid FHIR id {0:?}: 1 to 64 characters of A-Z, a-z, 0-9, '-' or '.'")]
    InvalidId(String),
    /// The export base URL is not an absolute http(s) URL without a trailing slash.
    #[error("invalid base URL: expected an absolute http(s) URL without a trailing slash")]
    InvalidBaseUrl,
    /// A number that must be finite is NaN or infinite.
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    /// A localized text has no entry, or an empty language tag or text.
    #[error("{0}: a text needs at least one non-empty entry with a language tag")]
    EmptyText(&'static str),
    /// A questionnaire has no questions, or a choice question has no options.
    #[error("questionnaire {0}")]
    InvalidQuestionnaire(String),
    /// Two questions of a questionnaire share a link id.
    #[error("questionnaire has two questions with link id {0:?}")]
    DuplicateQuestion(String),
    /// A response answers a question the questionnaire does not have.
    #[error("the questionnaire has no question {0:?}")]
    UnknownQuestion(String),
    /// A response answers the same question twice.
    #[error("question {0:?} is answered more than once")]
    DuplicateAnswer(String),
    /// An answer's type does not match its question's type.
    #[error("question {link_id:?} expects a {expected} answer")]
    AnswerTypeMismatch {
        /// The question.
        link_id: String,
        /// The type the question expects.
        expected: &'static str,
    },
    /// A choice answer is not one of the question's options.
    #[error("{code:?} is not an option of question {link_id:?}")]
    UnknownOption {
        /// The question.
        link_id: String,
        /// The code given.
        code: String,
    },
    /// A required question has no answer.
    #[error("required question {0:?} is not answered")]
    RequiredMissing(String),
    /// The response names a different questionnaire version than the definition given.
    #[error("response is for questionnaire version {given:?}, definition is {expected:?}")]
    VersionMismatch {
        /// The version the definition has.
        expected: String,
        /// The version the response names.
        given: String,
    },
    /// A resource could not be written as JSON (not for the resources [`crate::resources`]
    /// builds, whose keys are all strings).
    #[error("a resource does not serialise: {0}")]
    Unserialisable(String),
}

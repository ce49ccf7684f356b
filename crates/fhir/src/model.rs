//! Plain domain inputs for the FHIR builders. These are ordinary Rust values filled by the
//! caller (the server, from its own store); they know nothing of protobuf or SQL, and this
//! module never does I/O.

use auscult_triage::LabResult;
use chrono::{DateTime, NaiveDate, Utc};

/// Administrative gender as FHIR codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// male
    Male,
    /// female
    Female,
    /// other
    Other,
    /// unknown
    Unknown,
}

impl Gender {
    /// The FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
            Gender::Unknown => "unknown",
        }
    }
}

/// A resident (FHIR Patient).
#[derive(Debug, Clone, PartialEq)]
pub struct PatientInput {
    /// Resource id.
    pub id: String,
    /// A business identifier: (system URI, value), e.g. the municipality's resident number.
    pub identifier: Option<(String, String)>,
    /// Family name.
    pub family: Option<String>,
    /// Given names.
    pub given: Vec<String>,
    /// Gender.
    pub gender: Gender,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
}

/// A vital-sign value in its FHIR unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VitalValue {
    /// Heart rate, /min.
    HeartRate(f64),
    /// Respiratory rate, /min.
    RespiratoryRate(f64),
    /// Oxygen saturation by pulse oximetry, %.
    SpO2(f64),
    /// Body temperature, °C.
    Temperature(f64),
    /// Blood pressure, mmHg.
    BloodPressure {
        /// Systolic.
        systolic: f64,
        /// Diastolic.
        diastolic: f64,
    },
}

/// One vital-sign measurement (a single reading or a rollup's median).
#[derive(Debug, Clone, PartialEq)]
pub struct VitalObservationInput {
    /// Resource id.
    pub id: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When it was measured.
    pub effective: DateTime<Utc>,
    /// The source device's identifier, if known.
    pub device: Option<String>,
    /// The value.
    pub value: VitalValue,
}

/// A NEWS2 aggregate score.
#[derive(Debug, Clone, PartialEq)]
pub struct News2Input {
    /// Resource id.
    pub id: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When it was scored.
    pub effective: DateTime<Utc>,
    /// Aggregate score, 0–20.
    pub score: u8,
    /// The response band in words ("low", "low_medium", "medium", "high", "routine").
    pub risk: String,
    /// Ids of the vital-sign Observations it was computed from (must be in the same bundle).
    pub derived_from: Vec<String>,
}

/// A point-of-care blood result (HbA1c, glucose, lipids) of a check-up visit, checked and
/// classified by `auscult-triage`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabObservationInput {
    /// Resource id.
    pub id: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When the sample was measured.
    pub effective: DateTime<Utc>,
    /// The result: analyte, value, fasting state; its code, unit and range follow from it.
    pub result: LabResult,
}

/// A heart-sound recording exported as a Media with its bytes in a Binary.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInput {
    /// Media resource id.
    pub media_id: String,
    /// Binary resource id.
    pub binary_id: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When it was recorded.
    pub created: DateTime<Utc>,
    /// MIME type of the bytes, e.g. `audio/wav`.
    pub content_type: String,
    /// The audio file's bytes.
    pub bytes: Vec<u8>,
    /// Auscultation site in words, e.g. "mitral area".
    pub site: Option<String>,
    /// Length in seconds.
    pub duration_s: Option<f64>,
}

/// Whether a murmur was heard.
#[derive(Debug, Clone, PartialEq)]
pub enum MurmurStatus {
    /// A murmur is present.
    Present,
    /// No murmur.
    Absent,
    /// The recording could not be judged, and why.
    Unknown(String),
}

/// When in the cycle a murmur sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MurmurTiming {
    /// Systolic.
    Systolic,
    /// Diastolic.
    Diastolic,
    /// Both.
    Both,
}

/// A murmur finding from the analysis of one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct MurmurFindingInput {
    /// Resource id.
    pub id: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When the recording was made.
    pub effective: DateTime<Utc>,
    /// Present, absent or unknown.
    pub status: MurmurStatus,
    /// Timing when present.
    pub timing: Option<MurmurTiming>,
    /// The analysis's confidence, 0–1.
    pub confidence: Option<f64>,
    /// For an absent call, what it could not have heard, in words (the softest murmur the
    /// recording's noise would let through); written as a note.
    pub limit: Option<String>,
    /// Auscultation site in words.
    pub site: Option<String>,
    /// The Media id of the recording it was derived from (must be in the same bundle).
    pub media_id: String,
}

/// A text in one or more languages; the first entry is the primary language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalizedText(pub Vec<(String, String)>);

impl LocalizedText {
    /// A text from (language tag, text) pairs, primary first.
    pub fn new(entries: &[(&str, &str)]) -> Self {
        Self(
            entries
                .iter()
                .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
                .collect(),
        )
    }
    /// The primary language and text.
    pub fn primary(&self) -> Option<(&str, &str)> {
        self.0.first().map(|(l, t)| (l.as_str(), t.as_str()))
    }
    /// The text in `lang`, if present.
    pub fn get(&self, lang: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(l, _)| l == lang)
            .map(|(_, t)| t.as_str())
    }
}

/// One option of a choice question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// Stable code stored in responses.
    pub code: String,
    /// Label for people.
    pub label: LocalizedText,
}

/// What kind of answer a question takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    /// Yes or no.
    Boolean,
    /// A whole number.
    Integer,
    /// A decimal number.
    Decimal,
    /// Free text.
    Text,
    /// A calendar date.
    Date,
    /// One of a fixed list.
    Choice(Vec<ChoiceOption>),
}

impl QuestionKind {
    /// The FHIR item type code.
    pub fn fhir_type(&self) -> &'static str {
        match self {
            QuestionKind::Boolean => "boolean",
            QuestionKind::Integer => "integer",
            QuestionKind::Decimal => "decimal",
            QuestionKind::Text => "string",
            QuestionKind::Date => "date",
            QuestionKind::Choice(_) => "choice",
        }
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionDef {
    /// Stable id within the questionnaire.
    pub link_id: String,
    /// The question in each language.
    pub text: LocalizedText,
    /// The answer it takes.
    pub kind: QuestionKind,
    /// Whether it must be answered.
    pub required: bool,
}

/// A versioned questionnaire definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionnaireDef {
    /// Resource id.
    pub id: String,
    /// Canonical URL (the same across versions).
    pub url: String,
    /// Version label; responses name it.
    pub version: String,
    /// Title in each language.
    pub title: LocalizedText,
    /// The questions, in order.
    pub questions: Vec<QuestionDef>,
}

/// An answer value.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerValue {
    /// Yes or no.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A decimal.
    Decimal(f64),
    /// Free text.
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// The code of a choice option.
    Choice(String),
}

/// A completed questionnaire.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionnaireResponseInput {
    /// Resource id.
    pub id: String,
    /// The version of the questionnaire answered.
    pub questionnaire_version: String,
    /// The resident's Patient id.
    pub patient_id: String,
    /// When it was completed.
    pub authored: DateTime<Utc>,
    /// (link id, answer) pairs.
    pub answers: Vec<(String, AnswerValue)>,
}

//! Assembling resources into a FHIR R4 `collection` Bundle.
//!
//! Each entry's `fullUrl` is `{base}/{resourceType}/{id}`, so the relative references inside
//! the resources (`Patient/p1`) resolve within the bundle. Adding a resource whose id is already
//! in the bundle replaces nothing: the duplicate is skipped, so a Patient shared by several
//! findings appears once. This module never does I/O.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::FhirError;
use crate::model::{
    LabObservationInput, MurmurFindingInput, News2Input, PatientInput, QuestionnaireDef,
    QuestionnaireResponseInput, RecordingInput, VitalObservationInput,
};
use crate::resources;

/// Builds a collection Bundle.
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    base: String,
    entries: Vec<Value>,
    keys: std::collections::HashSet<(String, String)>,
}

impl BundleBuilder {
    /// A builder whose `fullUrl`s start with `base` (absolute http(s), no trailing slash).
    pub fn new(base: &str) -> Result<Self, FhirError> {
        let ok = (base.starts_with("https://") || base.starts_with("http://"))
            && !base.ends_with('/')
            && !base.chars().any(char::is_whitespace);
        if !ok {
            return Err(FhirError::InvalidBaseUrl);
        }
        Ok(Self {
            base: base.to_owned(),
            entries: Vec::new(),
            keys: Default::default(),
        })
    }

    /// Adds any resource built by [`crate::resources`] (it must have `resourceType` and `id`).
    pub fn push(&mut self, resource: Value) -> Result<&mut Self, FhirError> {
        let kind = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        resources::check_id(&id)?;
        if kind.is_empty() {
            return Err(FhirError::InvalidId(id));
        }
        if self.keys.insert((kind.clone(), id.clone())) {
            self.entries.push(json!({
                "fullUrl": format!("{}/{kind}/{id}", self.base),
                "resource": resource,
            }));
        }
        Ok(self)
    }

    /// Adds a Patient.
    pub fn patient(&mut self, p: &PatientInput) -> Result<&mut Self, FhirError> {
        self.push(resources::patient(p)?)
    }

    /// Adds a vital-sign Observation.
    pub fn vital(&mut self, o: &VitalObservationInput) -> Result<&mut Self, FhirError> {
        self.push(resources::vital_observation(o)?)
    }

    /// Adds a NEWS2 Observation.
    pub fn news2(&mut self, n: &News2Input) -> Result<&mut Self, FhirError> {
        self.push(resources::news2_observation(n)?)
    }

    /// Adds a point-of-care blood result Observation.
    pub fn lab(&mut self, o: &LabObservationInput) -> Result<&mut Self, FhirError> {
        self.push(resources::lab_observation(o)?)
    }

    /// Adds a recording's Media and Binary.
    pub fn recording(&mut self, r: &RecordingInput) -> Result<&mut Self, FhirError> {
        let (binary, media) = resources::recording(r)?;
        self.push(media)?;
        self.push(binary)
    }

    /// Adds a murmur finding Observation.
    pub fn murmur(&mut self, m: &MurmurFindingInput) -> Result<&mut Self, FhirError> {
        self.push(resources::murmur_observation(m)?)
    }

    /// Adds a Questionnaire.
    pub fn questionnaire(&mut self, q: &QuestionnaireDef) -> Result<&mut Self, FhirError> {
        self.push(resources::questionnaire(q)?)
    }

    /// Adds a QuestionnaireResponse (checked against `def`).
    pub fn questionnaire_response(
        &mut self,
        def: &QuestionnaireDef,
        r: &QuestionnaireResponseInput,
    ) -> Result<&mut Self, FhirError> {
        self.push(resources::questionnaire_response(def, r)?)
    }

    /// Number of entries so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The Bundle.
    pub fn build(self, id: &str, timestamp: &DateTime<Utc>) -> Result<Value, FhirError> {
        resources::check_id(id)?;
        Ok(json!({
            "resourceType": "Bundle",
            "id": id,
            "type": "collection",
            "timestamp": resources::instant(timestamp),
            "entry": self.entries,
        }))
    }
}

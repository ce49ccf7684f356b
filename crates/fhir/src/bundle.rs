//! Assembling resources into a FHIR R4 `collection` Bundle, written as JSON piece by piece.
//!
//! Each entry's `fullUrl` is `{base}/{resourceType}/{id}`, so the relative references inside
//! the resources (`Patient/p1`) resolve within the bundle. Adding a resource whose id is already
//! in the bundle replaces nothing: the duplicate is skipped, so a Patient shared by several
//! findings appears once. This module never does I/O.
//!
//! A resource is serialised as soon as it is added, and [`BundleWriter::take`] hands out the JSON
//! written so far: an export that takes the bytes after each resident (or recording) holds that
//! much, never the whole bundle. Concatenated, the pieces are exactly the compact JSON of the
//! whole Bundle (`serde_json`'s output for it). The writer keeps the kind and id of every entry
//! written, to skip duplicates: a few dozen bytes per entry.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::FhirError;
use crate::model::{
    LabObservationInput, MurmurFindingInput, News2Input, PatientInput, QuestionnaireDef,
    QuestionnaireResponseInput, RecordingInput, VitalObservationInput,
};
use crate::resources;

/// Writes a collection Bundle.
#[derive(Debug, Clone)]
pub struct BundleWriter {
    base: String,
    keys: HashSet<(String, String)>,
    /// JSON written and not yet taken.
    out: Vec<u8>,
    /// What closes the `entry` array and the Bundle: its other members.
    tail: String,
}

impl BundleWriter {
    /// A Bundle `id` stamped `timestamp`, whose `fullUrl`s start with `base` (absolute http(s),
    /// no trailing slash).
    pub fn new(base: &str, id: &str, timestamp: &DateTime<Utc>) -> Result<Self, FhirError> {
        let ok = (base.starts_with("https://") || base.starts_with("http://"))
            && !base.ends_with('/')
            && !base.chars().any(char::is_whitespace);
        if !ok {
            return Err(FhirError::InvalidBaseUrl);
        }
        resources::check_id(id)?;
        let members = json!({
            "resourceType": "Bundle",
            "id": id,
            "type": "collection",
            "timestamp": resources::instant(timestamp),
        })
        .to_string();
        // serde_json writes an object's members sorted by key (no crate here enables its
        // `preserve_order`) and `entry` sorts first: the array opens the object, the other
        // members follow it. `tests/bundle_schema.rs` checks the pieces against the Bundle
        // serialised at once.
        Ok(Self {
            base: base.to_owned(),
            keys: HashSet::new(),
            out: br#"{"entry":["#.to_vec(),
            tail: format!("],{}", members.strip_prefix('{').unwrap_or(&members)),
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
        let entry = json!({
            "fullUrl": format!("{}/{kind}/{id}", self.base),
            "resource": resource,
        });
        if self.keys.insert((kind, id)) {
            if self.keys.len() > 1 {
                self.out.push(b',');
            }
            serde_json::to_writer(&mut self.out, &entry)
                .map_err(|e| FhirError::Unserialisable(e.to_string()))?;
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
        self.keys.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The JSON written since the last take (the first holds the Bundle's opening).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The rest of the JSON, closing the Bundle.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(self.tail.as_bytes());
        self.out
    }
}

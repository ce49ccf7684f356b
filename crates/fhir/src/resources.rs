//! Builders of single FHIR R4 resources as JSON values.
//!
//! Codes: LOINC for vital signs (heart rate 8867-4, respiratory rate 9279-1, SpO2 59408-5 with
//! the core 2708-6, body temperature 8310-5, blood pressure panel 85354-9 with systolic 8480-6
//! and diastolic 8462-4), UCUM units, the `vital-signs` category; SNOMED CT for murmur findings
//! (heart murmur 88610006, systolic 31574009, diastolic 30782001) and the qualifiers present
//! (52101004) and absent (2667000). Multilingual texts use the core `translation` extension.
//!
//! Point-of-care blood results are `laboratory` Observations coded in LOINC (the codes, UCUM
//! units and reference ranges are `auscult_triage::Analyte`'s), interpreted H / N / L in the v3
//! ObservationInterpretation system.
//!
//! Every builder checks ids and numbers; none does I/O.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use auscult_triage::Classification;

use crate::error::FhirError;
use crate::model::{
    AnswerValue, LabObservationInput, LocalizedText, MurmurFindingInput, MurmurStatus,
    MurmurTiming, News2Input, PatientInput, QuestionKind, QuestionnaireDef,
    QuestionnaireResponseInput, RecordingInput, VitalObservationInput, VitalValue,
};

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";

/// Checks a FHIR resource id: 1–64 characters of `A-Z a-z 0-9 - .`.
pub fn check_id(id: &str) -> Result<(), FhirError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(FhirError::InvalidId(id.to_owned()))
    }
}

/// An instant in FHIR's format (UTC, milliseconds, `Z`).
pub fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn finite(v: f64, what: &'static str) -> Result<f64, FhirError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(FhirError::NotFinite(what))
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn concept(codings: Vec<Value>, text: &str) -> Value {
    json!({ "coding": codings, "text": text })
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

fn quantity(value: f64, unit: &str, code: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": code })
}

fn category(code: &str, display: &str) -> Value {
    json!([{ "coding": [coding(OBS_CATEGORY, code, display)] }])
}

/// A Patient.
pub fn patient(p: &PatientInput) -> Result<Value, FhirError> {
    check_id(&p.id)?;
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id,
        "gender": p.gender.code(),
    });
    if let Some((system, value)) = &p.identifier {
        r["identifier"] = json!([{ "system": system, "value": value }]);
    }
    if p.family.is_some() || !p.given.is_empty() {
        let mut name = json!({ "use": "official" });
        if let Some(f) = &p.family {
            name["family"] = json!(f);
        }
        if !p.given.is_empty() {
            name["given"] = json!(p.given);
        }
        r["name"] = json!([name]);
    }
    if let Some(d) = p.birth_date {
        r["birthDate"] = json!(d.format("%Y-%m-%d").to_string());
    }
    Ok(r)
}

/// A vital-sign Observation.
pub fn vital_observation(o: &VitalObservationInput) -> Result<Value, FhirError> {
    check_id(&o.id)?;
    check_id(&o.patient_id)?;
    let mut r = json!({
        "resourceType": "Observation",
        "id": o.id,
        "status": "final",
        "category": category("vital-signs", "Vital Signs"),
        "subject": reference("Patient", &o.patient_id),
        "effectiveDateTime": instant(&o.effective),
    });
    let per_min = |v: f64| quantity(v, "/min", "/min");
    match o.value {
        VitalValue::HeartRate(v) => {
            r["code"] = concept(vec![coding(LOINC, "8867-4", "Heart rate")], "Heart rate");
            r["valueQuantity"] = per_min(finite(v, "heart rate")?);
        }
        VitalValue::RespiratoryRate(v) => {
            r["code"] = concept(
                vec![coding(LOINC, "9279-1", "Respiratory rate")],
                "Respiratory rate",
            );
            r["valueQuantity"] = per_min(finite(v, "respiratory rate")?);
        }
        VitalValue::SpO2(v) => {
            r["code"] = concept(
                vec![
                    coding(
                        LOINC,
                        "59408-5",
                        "Oxygen saturation in Arterial blood by Pulse oximetry",
                    ),
                    coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
                ],
                "SpO2",
            );
            r["valueQuantity"] = quantity(finite(v, "SpO2")?, "%", "%");
        }
        VitalValue::Temperature(v) => {
            r["code"] = concept(
                vec![coding(LOINC, "8310-5", "Body temperature")],
                "Body temperature",
            );
            r["valueQuantity"] = quantity(finite(v, "temperature")?, "Cel", "Cel");
        }
        VitalValue::BloodPressure {
            systolic,
            diastolic,
        } => {
            r["code"] = concept(
                vec![coding(
                    LOINC,
                    "85354-9",
                    "Blood pressure panel with all children optional",
                )],
                "Blood pressure",
            );
            r["component"] = json!([
                {
                    "code": concept(vec![coding(LOINC, "8480-6", "Systolic blood pressure")], "Systolic"),
                    "valueQuantity": quantity(finite(systolic, "systolic pressure")?, "mmHg", "mm[Hg]"),
                },
                {
                    "code": concept(vec![coding(LOINC, "8462-4", "Diastolic blood pressure")], "Diastolic"),
                    "valueQuantity": quantity(finite(diastolic, "diastolic pressure")?, "mmHg", "mm[Hg]"),
                },
            ]);
        }
    }
    if let Some(d) = &o.device {
        r["device"] = json!({ "identifier": { "value": d } });
    }
    Ok(r)
}

/// A NEWS2 total score Observation, derived from the vital-sign Observations it used.
pub fn news2_observation(n: &News2Input) -> Result<Value, FhirError> {
    check_id(&n.id)?;
    check_id(&n.patient_id)?;
    for d in &n.derived_from {
        check_id(d)?;
    }
    let mut r = json!({
        "resourceType": "Observation",
        "id": n.id,
        "status": "final",
        "category": category("survey", "Survey"),
        "code": concept(
            vec![coding(
                SNOMED,
                "1104051000000101",
                "Royal College of Physicians National Early Warning Score 2 (NEWS2) total score",
            )],
            "NEWS2 total score",
        ),
        "subject": reference("Patient", &n.patient_id),
        "effectiveDateTime": instant(&n.effective),
        "valueInteger": n.score,
        "interpretation": [{ "text": format!("clinical risk: {}", n.risk) }],
    });
    if !n.derived_from.is_empty() {
        r["derivedFrom"] = Value::Array(
            n.derived_from
                .iter()
                .map(|id| reference("Observation", id))
                .collect(),
        );
    }
    Ok(r)
}

/// A point-of-care blood result as a `laboratory` Observation: LOINC code (English name, the
/// Japanese one as a translation), the value in its UCUM unit, the adult reference range that
/// applies to the sample (fasting or not) and the interpretation (H, N or L).
pub fn lab_observation(o: &LabObservationInput) -> Result<Value, FhirError> {
    check_id(&o.id)?;
    check_id(&o.patient_id)?;
    let result = &o.result;
    let analyte = result.analyte();
    let unit = analyte.unit().as_str();
    let range = result.reference_range();
    let (code, display) = match result.classify() {
        Classification::High => ("H", "High"),
        Classification::Normal => ("N", "Normal"),
        Classification::Low => ("L", "Low"),
    };
    let sample = if !analyte.depends_on_fasting() {
        "point-of-care fingertip test"
    } else if result.fasting() {
        "point-of-care fingertip test, fasting sample"
    } else {
        "point-of-care fingertip test, non-fasting sample"
    };
    let mut code_concept = json!({
        "coding": [coding(LOINC, analyte.loinc(), analyte.loinc_display())],
    });
    put_text(
        &mut code_concept,
        "text",
        &LocalizedText::new(&[("en", analyte.name_en()), ("ja", analyte.name_ja())]),
    )?;
    let mut reference_range = json!({
        "text": format!(
            "{range} {unit} (adult{})",
            match (analyte.depends_on_fasting(), result.fasting()) {
                (false, _) => "",
                (true, true) => ", fasting",
                (true, false) => ", non-fasting",
            }
        ),
    });
    if let Some(low) = range.low {
        reference_range["low"] = quantity(finite(low, "reference range")?, unit, unit);
    }
    if let Some(high) = range.high {
        reference_range["high"] = quantity(finite(high, "reference range")?, unit, unit);
    }
    Ok(json!({
        "resourceType": "Observation",
        "id": o.id,
        "status": "final",
        "category": category("laboratory", "Laboratory"),
        "code": code_concept,
        "subject": reference("Patient", &o.patient_id),
        "effectiveDateTime": instant(&o.effective),
        "valueQuantity": quantity(finite(result.value(), "lab value")?, unit, unit),
        "interpretation": [concept(vec![coding(INTERPRETATION, code, display)], display)],
        "referenceRange": [reference_range],
        "method": { "text": sample },
    }))
}

/// The Binary holding a recording's bytes (base64) and the Media describing it.
pub fn recording(rec: &RecordingInput) -> Result<(Value, Value), FhirError> {
    check_id(&rec.media_id)?;
    check_id(&rec.binary_id)?;
    check_id(&rec.patient_id)?;
    let binary = json!({
        "resourceType": "Binary",
        "id": rec.binary_id,
        "contentType": rec.content_type,
        "data": base64::engine::general_purpose::STANDARD.encode(&rec.bytes),
    });
    let mut media = json!({
        "resourceType": "Media",
        "id": rec.media_id,
        "status": "completed",
        "type": concept(
            vec![coding("http://terminology.hl7.org/CodeSystem/media-type", "audio", "Audio")],
            "Audio",
        ),
        "subject": reference("Patient", &rec.patient_id),
        "createdDateTime": instant(&rec.created),
        "content": {
            "contentType": rec.content_type,
            "url": format!("Binary/{}", rec.binary_id),
            "size": rec.bytes.len(),
            "title": "heart sound recording",
        },
    });
    if let Some(site) = &rec.site {
        media["bodySite"] = json!({ "text": site });
    }
    if let Some(d) = rec.duration_s {
        media["duration"] = json!(finite(d, "duration")?);
    }
    Ok((binary, media))
}

/// A murmur finding Observation derived from the recording's Media.
pub fn murmur_observation(m: &MurmurFindingInput) -> Result<Value, FhirError> {
    check_id(&m.id)?;
    check_id(&m.patient_id)?;
    check_id(&m.media_id)?;
    let murmur = || coding(SNOMED, "88610006", "Heart murmur");
    let systolic = || coding(SNOMED, "31574009", "Systolic murmur");
    let diastolic = || coding(SNOMED, "30782001", "Diastolic murmur");
    let present = || concept(vec![coding(SNOMED, "52101004", "Present")], "present");
    let code = match (&m.status, m.timing) {
        (MurmurStatus::Present, Some(MurmurTiming::Systolic)) => {
            concept(vec![systolic()], "Systolic murmur")
        }
        (MurmurStatus::Present, Some(MurmurTiming::Diastolic)) => {
            concept(vec![diastolic()], "Diastolic murmur")
        }
        _ => concept(vec![murmur()], "Heart murmur"),
    };
    let mut r = json!({
        "resourceType": "Observation",
        "id": m.id,
        "status": "final",
        "category": category("exam", "Exam"),
        "code": code,
        "subject": reference("Patient", &m.patient_id),
        "effectiveDateTime": instant(&m.effective),
        "method": { "text": "automated heart-sound analysis (auscult)" },
        "derivedFrom": [reference("Media", &m.media_id)],
    });
    match &m.status {
        MurmurStatus::Present => {
            r["valueCodeableConcept"] = present();
            if m.timing == Some(MurmurTiming::Both) {
                r["component"] = json!([
                    { "code": concept(vec![systolic()], "Systolic murmur"), "valueCodeableConcept": present() },
                    { "code": concept(vec![diastolic()], "Diastolic murmur"), "valueCodeableConcept": present() },
                ]);
            }
        }
        MurmurStatus::Absent => {
            r["valueCodeableConcept"] =
                concept(vec![coding(SNOMED, "2667000", "Absent")], "absent");
        }
        MurmurStatus::Unknown(reason) => {
            r["dataAbsentReason"] = json!({
                "coding": [coding(
                    "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "unknown",
                    "Unknown",
                )],
                "text": reason,
            });
        }
    }
    if let Some(site) = &m.site {
        r["bodySite"] = json!({ "text": site });
    }
    let mut notes = Vec::new();
    if let Some(c) = m.confidence {
        notes.push(json!({ "text": format!("confidence {:.2}", finite(c, "confidence")?) }));
    }
    if let (MurmurStatus::Absent, Some(limit)) = (&m.status, &m.limit) {
        notes.push(json!({ "text": limit }));
    }
    if !notes.is_empty() {
        r["note"] = json!(notes);
    }
    Ok(r)
}

/// Writes a localized text as `field` (primary language) with translations on `_field`.
fn put_text(target: &mut Value, field: &str, text: &LocalizedText) -> Result<(), FhirError> {
    let Some((_, primary)) = text.primary() else {
        return Err(FhirError::EmptyText("text"));
    };
    target[field] = json!(primary);
    let translations: Vec<Value> = text
        .0
        .iter()
        .skip(1)
        .map(|(lang, t)| {
            json!({
                "url": TRANSLATION,
                "extension": [
                    { "url": "lang", "valueCode": lang },
                    { "url": "content", "valueString": t },
                ],
            })
        })
        .collect();
    if !translations.is_empty() {
        target[format!("_{field}")] = json!({ "extension": translations });
    }
    Ok(())
}

/// The coding system of a questionnaire's choice options.
fn option_system(def: &QuestionnaireDef) -> String {
    format!("{}/options", def.url)
}

/// A Questionnaire.
pub fn questionnaire(def: &QuestionnaireDef) -> Result<Value, FhirError> {
    crate::questionnaire::validate_definition(def)?;
    let mut r = json!({
        "resourceType": "Questionnaire",
        "id": def.id,
        "url": def.url,
        "version": def.version,
        "status": "active",
    });
    if let Some((lang, _)) = def.title.primary() {
        r["language"] = json!(lang);
    }
    put_text(&mut r, "title", &def.title)?;
    let mut items = Vec::with_capacity(def.questions.len());
    for q in &def.questions {
        let mut item = json!({
            "linkId": q.link_id,
            "type": q.kind.fhir_type(),
            "required": q.required,
        });
        put_text(&mut item, "text", &q.text)?;
        if let QuestionKind::Choice(options) = &q.kind {
            let mut opts = Vec::with_capacity(options.len());
            for o in options {
                let mut c = json!({ "system": option_system(def), "code": o.code });
                put_text(&mut c, "display", &o.label)?;
                opts.push(json!({ "valueCoding": c }));
            }
            item["answerOption"] = Value::Array(opts);
        }
        items.push(item);
    }
    r["item"] = Value::Array(items);
    Ok(r)
}

/// A QuestionnaireResponse, checked against its definition.
pub fn questionnaire_response(
    def: &QuestionnaireDef,
    resp: &QuestionnaireResponseInput,
) -> Result<Value, FhirError> {
    check_id(&resp.id)?;
    check_id(&resp.patient_id)?;
    crate::questionnaire::validate_response(def, resp)?;
    let mut items = Vec::with_capacity(resp.answers.len());
    // Items follow the questionnaire's order, whatever order the answers came in.
    for q in &def.questions {
        let Some((_, value)) = resp.answers.iter().find(|(l, _)| *l == q.link_id) else {
            continue;
        };
        let answer = match value {
            AnswerValue::Boolean(b) => json!({ "valueBoolean": b }),
            AnswerValue::Integer(i) => json!({ "valueInteger": i }),
            AnswerValue::Decimal(d) => json!({ "valueDecimal": d }),
            AnswerValue::Text(t) => json!({ "valueString": t }),
            AnswerValue::Date(d) => json!({ "valueDate": d.format("%Y-%m-%d").to_string() }),
            AnswerValue::Choice(code) => {
                let mut c = json!({ "system": option_system(def), "code": code });
                if let QuestionKind::Choice(options) = &q.kind
                    && let Some((_, label)) = options
                        .iter()
                        .find(|o| &o.code == code)
                        .and_then(|o| o.label.primary())
                {
                    c["display"] = json!(label);
                }
                json!({ "valueCoding": c })
            }
        };
        let mut item = json!({ "linkId": q.link_id, "answer": [answer] });
        if let Some((_, text)) = q.text.primary() {
            item["text"] = json!(text);
        }
        items.push(item);
    }
    Ok(json!({
        "resourceType": "QuestionnaireResponse",
        "id": resp.id,
        "questionnaire": format!("{}|{}", def.url, def.version),
        "status": "completed",
        "subject": reference("Patient", &resp.patient_id),
        "authored": instant(&resp.authored),
        "item": items,
    }))
}

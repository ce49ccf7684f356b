//! Bundles built by this crate validate against the official FHIR R4 JSON schema
//! (`tests/schema/fhir.schema.json`, provenance in `tests/schema/README.md`), and broken
//! resources do not. A bundle written in pieces is the same JSON as the Bundle serialised at
//! once.

use std::sync::OnceLock;

use auscult_fhir::*;
use auscult_triage::{Analyte, LabResult};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The hash recorded in `tests/schema/README.md`.
const SCHEMA_SHA256: &str = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d";

fn schema_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schema/fhir.schema.json");
        let text = std::fs::read_to_string(path).expect("vendored schema");
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex, SCHEMA_SHA256,
            "fhir.schema.json differs from the vendored file (see tests/schema/README.md)"
        );
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        assert_eq!(schema["id"], "http://hl7.org/fhir/json-schema/4.0");
        jsonschema::draft6::new(&schema).expect("schema compiles")
    })
}

fn errors(instance: &Value) -> Vec<String> {
    schema_validator()
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn at(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0)
        .single()
        .expect("valid time")
}

fn questionnaire_def() -> QuestionnaireDef {
    QuestionnaireDef {
        id: "checkup-q".into(),
        url: "https://auscult.invalid/fhir/Questionnaire/checkup".into(),
        version: "2".into(),
        title: LocalizedText::new(&[("ja", "健診問診票"), ("en", "Check-up questionnaire")]),
        questions: vec![
            QuestionDef {
                link_id: "breathless".into(),
                text: LocalizedText::new(&[
                    ("ja", "階段で息切れがしますか？"),
                    ("en", "Are you breathless on stairs?"),
                ]),
                kind: QuestionKind::Boolean,
                required: true,
            },
            QuestionDef {
                link_id: "chest-pain".into(),
                text: LocalizedText::new(&[("ja", "胸の痛み"), ("en", "Chest pain")]),
                kind: QuestionKind::Choice(vec![
                    ChoiceOption {
                        code: "none".into(),
                        label: LocalizedText::new(&[("ja", "なし"), ("en", "None")]),
                    },
                    ChoiceOption {
                        code: "exertion".into(),
                        label: LocalizedText::new(&[("ja", "運動時"), ("en", "On exertion")]),
                    },
                ]),
                required: false,
            },
            QuestionDef {
                link_id: "falls".into(),
                text: LocalizedText::new(&[("ja", "転倒回数"), ("en", "Falls this year")]),
                kind: QuestionKind::Integer,
                required: false,
            },
            QuestionDef {
                link_id: "weight".into(),
                text: LocalizedText::new(&[("ja", "体重 (kg)"), ("en", "Weight (kg)")]),
                kind: QuestionKind::Decimal,
                required: false,
            },
            QuestionDef {
                link_id: "notes".into(),
                text: LocalizedText::new(&[("ja", "その他"), ("en", "Other")]),
                kind: QuestionKind::Text,
                required: false,
            },
            QuestionDef {
                link_id: "last-visit".into(),
                text: LocalizedText::new(&[("ja", "前回受診日"), ("en", "Last doctor visit")]),
                kind: QuestionKind::Date,
                required: false,
            },
        ],
    }
}

/// The full bundle's JSON, taken after every resource as an export takes it.
fn full_bundle_pieces() -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut b =
        BundleWriter::new("https://auscult.invalid/fhir", "export-1", &at(10, 0)).expect("base");
    b.patient(&PatientInput {
        id: "r-1".into(),
        identifier: Some(("urn:oid:1.2.392.0.0".into(), "A-0001".into())),
        family: Some("山田".into()),
        given: vec!["花子".into()],
        gender: Gender::Female,
        birth_date: NaiveDate::from_ymd_opt(1941, 3, 9),
    })
    .expect("patient");
    pieces.push(b.take());
    let vitals = [
        ("v-hr", VitalValue::HeartRate(72.0)),
        ("v-rr", VitalValue::RespiratoryRate(16.0)),
        ("v-spo2", VitalValue::SpO2(97.0)),
        ("v-t", VitalValue::Temperature(36.8)),
        (
            "v-bp",
            VitalValue::BloodPressure {
                systolic: 128.0,
                diastolic: 76.0,
            },
        ),
    ];
    for (id, value) in vitals {
        b.vital(&VitalObservationInput {
            id: id.into(),
            patient_id: "r-1".into(),
            effective: at(9, 0),
            device: Some("wearable-1".into()),
            value,
        })
        .expect("vital");
    }
    b.news2(&News2Input {
        id: "n2-1".into(),
        patient_id: "r-1".into(),
        effective: at(9, 1),
        score: 0,
        risk: "routine".into(),
        derived_from: vitals.iter().map(|(id, _)| (*id).to_owned()).collect(),
    })
    .expect("news2");
    let labs = [
        ("lab-a1c", Analyte::HbA1c, 7.1, true),
        ("lab-glu", Analyte::Glucose, 62.0, true),
        ("lab-tc", Analyte::TotalCholesterol, 204.0, false),
        ("lab-hdl", Analyte::HdlCholesterol, 55.0, false),
        ("lab-tg", Analyte::Triglycerides, 160.0, false),
    ];
    for (id, analyte, value, fasting) in labs {
        b.lab(&LabObservationInput {
            id: id.into(),
            patient_id: "r-1".into(),
            effective: at(9, 2),
            result: LabResult::new(analyte, value, fasting).expect("plausible"),
        })
        .expect("lab");
    }
    b.recording(&RecordingInput {
        media_id: "rec-1".into(),
        binary_id: "rec-1-audio".into(),
        patient_id: "r-1".into(),
        created: at(9, 5),
        content_type: "audio/wav".into(),
        bytes: b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec(),
        site: Some("mitral area".into()),
        duration_s: Some(20.0),
    })
    .expect("recording");
    pieces.push(b.take());
    let statuses = [
        ("m-1", MurmurStatus::Present, Some(MurmurTiming::Systolic)),
        ("m-2", MurmurStatus::Present, Some(MurmurTiming::Diastolic)),
        ("m-3", MurmurStatus::Present, Some(MurmurTiming::Both)),
        ("m-4", MurmurStatus::Absent, None),
        ("m-5", MurmurStatus::Unknown("too noisy".into()), None),
    ];
    for (id, status, timing) in statuses {
        let limit = (status == MurmurStatus::Absent).then(|| {
            "a murmur softer than grade 3/6 would stay under this recording's noise".into()
        });
        b.murmur(&MurmurFindingInput {
            id: id.into(),
            patient_id: "r-1".into(),
            effective: at(9, 5),
            status,
            timing,
            confidence: Some(0.91),
            limit,
            site: Some("mitral area".into()),
            media_id: "rec-1".into(),
        })
        .expect("murmur");
    }
    let def = questionnaire_def();
    pieces.push(b.take());
    b.questionnaire(&def).expect("questionnaire");
    b.questionnaire_response(
        &def,
        &QuestionnaireResponseInput {
            id: "qr-1".into(),
            questionnaire_version: "2".into(),
            patient_id: "r-1".into(),
            authored: at(8, 50),
            answers: vec![
                ("chest-pain".into(), AnswerValue::Choice("exertion".into())),
                ("breathless".into(), AnswerValue::Boolean(true)),
                ("falls".into(), AnswerValue::Integer(1)),
                ("weight".into(), AnswerValue::Decimal(52.5)),
                ("notes".into(), AnswerValue::Text("特になし".into())),
                (
                    "last-visit".into(),
                    AnswerValue::Date(NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")),
                ),
            ],
        },
    )
    .expect("response");
    pieces.push(b.take());
    pieces.push(b.finish());
    pieces
}

fn full_bundle() -> Value {
    serde_json::from_slice(&full_bundle_pieces().concat()).expect("the bundle is JSON")
}

#[test]
fn full_bundle_validates_against_the_r4_schema() {
    let bundle = full_bundle();
    let errs = errors(&bundle);
    assert!(errs.is_empty(), "{errs:#?}");
    let entries = bundle["entry"].as_array().expect("entries");
    // Patient, 5 vitals, NEWS2, 5 labs, Media, Binary, 5 murmurs, Questionnaire, Response.
    assert_eq!(entries.len(), 21);
    for e in entries {
        let r = &e["resource"];
        let url = format!(
            "https://auscult.invalid/fhir/{}/{}",
            r["resourceType"].as_str().expect("type"),
            r["id"].as_str().expect("id")
        );
        assert_eq!(e["fullUrl"], json!(url));
        // Each resource on its own validates too.
        let errs = errors(r);
        assert!(errs.is_empty(), "{errs:#?}");
    }
}

fn resource<'a>(bundle: &'a Value, id: &str) -> &'a Value {
    bundle["entry"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["resource"]["id"] == id))
        .map(|e| &e["resource"])
        .unwrap_or_else(|| panic!("no resource {id}"))
}

#[test]
fn codes_are_the_standard_ones() {
    let b = full_bundle();
    let code = |id: &str| resource(&b, id)["code"]["coding"][0]["code"].clone();
    assert_eq!(code("v-hr"), "8867-4");
    assert_eq!(code("v-rr"), "9279-1");
    assert_eq!(code("v-spo2"), "59408-5");
    assert_eq!(code("v-t"), "8310-5");
    assert_eq!(code("v-bp"), "85354-9");
    let bp = resource(&b, "v-bp");
    assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
    assert_eq!(bp["component"][1]["code"]["coding"][0]["code"], "8462-4");
    assert_eq!(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(
        resource(&b, "v-hr")["category"][0]["coding"][0]["code"],
        "vital-signs"
    );
    assert_eq!(code("m-1"), "31574009");
    assert_eq!(code("m-2"), "30782001");
    assert_eq!(code("m-3"), "88610006");
    assert_eq!(code("m-4"), "88610006");
    assert_eq!(
        resource(&b, "m-4")["valueCodeableConcept"]["coding"][0]["code"],
        "2667000"
    );
    // An absent call carries what it could not have heard as a second note.
    assert_eq!(
        resource(&b, "m-4")["note"],
        json!([
            { "text": "confidence 0.91" },
            { "text": "a murmur softer than grade 3/6 would stay under this recording's noise" }
        ])
    );
    assert_eq!(
        resource(&b, "m-1")["note"],
        json!([{ "text": "confidence 0.91" }])
    );
    assert_eq!(
        resource(&b, "m-1")["derivedFrom"][0]["reference"],
        "Media/rec-1"
    );
    assert_eq!(
        resource(&b, "rec-1")["content"]["url"],
        "Binary/rec-1-audio"
    );
    assert_eq!(
        resource(&b, "n2-1")["derivedFrom"].as_array().map(Vec::len),
        Some(5)
    );
    let codes: Vec<Value> = ["lab-a1c", "lab-glu", "lab-tc", "lab-hdl", "lab-tg"]
        .into_iter()
        .map(code)
        .collect();
    assert_eq!(codes, ["4548-4", "41653-7", "2093-3", "2085-9", "2571-8"]);
    let a1c = resource(&b, "lab-a1c");
    assert_eq!(a1c["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(
        a1c["valueQuantity"],
        json!({ "value": 7.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%" })
    );
    assert_eq!(a1c["referenceRange"][0]["low"]["value"], 4.6);
    assert_eq!(a1c["referenceRange"][0]["high"]["value"], 6.2);
    let interpretation = |id: &str| resource(&b, id)["interpretation"][0]["coding"][0].clone();
    assert_eq!(
        interpretation("lab-a1c")["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    );
    assert_eq!(interpretation("lab-a1c")["code"], "H");
    assert_eq!(interpretation("lab-glu")["code"], "L");
    assert_eq!(interpretation("lab-tc")["code"], "N");
    // HDL has no upper limit; triglycerides after a meal use the non-fasting range.
    let hdl = resource(&b, "lab-hdl");
    assert_eq!(hdl["referenceRange"][0]["low"]["value"], 40.0);
    assert!(hdl["referenceRange"][0].get("high").is_none());
    let tg = resource(&b, "lab-tg");
    assert_eq!(tg["referenceRange"][0]["high"]["value"], 174.0);
    assert_eq!(tg["valueQuantity"]["code"], "mg/dL");
    assert_eq!(interpretation("lab-tg")["code"], "N");
    assert_eq!(
        tg["code"]["_text"]["extension"][0]["extension"][1]["valueString"],
        "中性脂肪"
    );
    let q = resource(&b, "checkup-q");
    assert_eq!(q["item"][0]["text"], "階段で息切れがしますか？");
    assert_eq!(
        q["item"][0]["_text"]["extension"][0]["extension"][1]["valueString"],
        "Are you breathless on stairs?"
    );
    let qr = resource(&b, "qr-1");
    assert_eq!(
        qr["questionnaire"],
        "https://auscult.invalid/fhir/Questionnaire/checkup|2"
    );
    // Items follow the questionnaire's order.
    assert_eq!(qr["item"][0]["linkId"], "breathless");
    assert_eq!(
        qr["item"][1]["answer"][0]["valueCoding"]["display"],
        "運動時"
    );
}

#[test]
fn broken_resources_fail_the_schema() {
    let mut bundle = full_bundle();
    bundle["entry"][1]["resource"]["status"] = json!("bogus");
    assert!(
        !errors(&bundle).is_empty(),
        "an invalid status code must fail"
    );

    let mut bundle = full_bundle();
    bundle["entry"][1]["resource"]["valueQuantity"]["value"] = json!("72");
    assert!(!errors(&bundle).is_empty(), "a string quantity must fail");

    let mut bundle = full_bundle();
    bundle["entry"][0]["resource"]["favouriteColour"] = json!("blue");
    assert!(!errors(&bundle).is_empty(), "an unknown element must fail");

    let mut bundle = full_bundle();
    bundle["type"] = json!("pile");
    assert!(
        !errors(&bundle).is_empty(),
        "an unknown bundle type must fail"
    );
}

/// The reference: the Bundle as one JSON value, serialised at once.
fn whole(id: &str, timestamp: &str, entries: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "collection",
        "timestamp": timestamp,
        "entry": entries,
    }))
    .expect("serialises")
}

#[test]
fn the_pieces_are_the_bundle_serialised_at_once() {
    let pieces = full_bundle_pieces();
    assert!(
        pieces.iter().filter(|p| !p.is_empty()).count() >= 4,
        "the bundle is written in pieces"
    );
    let bytes = pieces.concat();
    let bundle: Value = serde_json::from_slice(&bytes).expect("the bundle is JSON");
    assert_eq!(
        bytes,
        whole(
            "export-1",
            "2026-11-26T10:00:00.000Z",
            bundle["entry"].clone()
        )
    );

    let empty = BundleWriter::new("https://x.invalid/fhir", "b", &at(1, 0)).expect("base");
    assert_eq!(
        empty.finish(),
        whole("b", "2026-11-26T01:00:00.000Z", json!([]))
    );
}

#[test]
fn ids_and_base_urls_are_checked() {
    assert!(matches!(
        BundleWriter::new("auscult.invalid/fhir", "b", &at(1, 0)),
        Err(FhirError::InvalidBaseUrl)
    ));
    assert!(BundleWriter::new("https://x.invalid/fhir/", "b", &at(1, 0)).is_err());
    assert!(matches!(
        BundleWriter::new("https://x.invalid/fhir", "has space", &at(1, 0)),
        Err(FhirError::InvalidId(_))
    ));
    let mut b = BundleWriter::new("https://x.invalid/fhir", "b", &at(1, 0)).expect("base");
    let bad = PatientInput {
        id: "has space".into(),
        identifier: None,
        family: None,
        given: vec![],
        gender: Gender::Unknown,
        birth_date: None,
    };
    assert!(matches!(b.patient(&bad), Err(FhirError::InvalidId(_))));
    let nan = VitalObservationInput {
        id: "v".into(),
        patient_id: "p".into(),
        effective: at(1, 0),
        device: None,
        value: VitalValue::HeartRate(f64::NAN),
    };
    assert!(matches!(b.vital(&nan), Err(FhirError::NotFinite(_))));
    assert!(b.is_empty());
}

#[test]
fn duplicate_resources_appear_once() {
    let mut b = BundleWriter::new("https://x.invalid/fhir", "b", &at(1, 0)).expect("base");
    let p = PatientInput {
        id: "p".into(),
        identifier: None,
        family: None,
        given: vec![],
        gender: Gender::Male,
        birth_date: None,
    };
    b.patient(&p).expect("once");
    b.patient(&p).expect("twice");
    assert_eq!(b.len(), 1);
}

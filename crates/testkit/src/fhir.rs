//! The vendored official FHIR R4 JSON schema (`crates/fhir/tests/schema/`), compiled once, and
//! the check every export test makes against it.

use std::sync::OnceLock;

use serde_json::Value;

fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fhir/tests/schema/fhir.schema.json"
        );
        let text = std::fs::read_to_string(path).expect("the vendored FHIR R4 schema");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        assert_eq!(schema["id"], "http://hl7.org/fhir/json-schema/4.0");
        jsonschema::draft6::new(&schema).expect("schema compiles")
    })
}

/// Fails the test, listing the first 20 errors, unless `bundle` is valid against the R4 schema.
pub fn assert_valid(bundle: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(bundle)
        .take(20)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "Bundle fails the R4 schema: {errors:#?}");
}

//! FHIR R4 export: builders that turn plain domain values (residents, vital signs, NEWS2
//! scores, point-of-care blood results, heart-sound recordings and murmur findings,
//! questionnaires and responses) into FHIR
//! R4 JSON resources and `collection` Bundles, and the checks of questionnaire responses.
//!
//! Architecture invariant: this crate is pure. It does no I/O and no async, and knows nothing of
//! protobuf or SQL; the server fills the [`model`] inputs from its store. Bundles built here are
//! validated against the official FHIR R4 JSON schema in the tests.

pub mod bundle;
pub mod error;
pub mod model;
pub mod questionnaire;
pub mod resources;

pub use bundle::BundleWriter;
pub use error::FhirError;
pub use model::*;

//! Enrolment: residents join a programme with their recorded consent, may withdraw it, and are
//! listed.
//!
//! Enrolment without consent (who recorded it, when, which document, what scope) is refused.
//! Withdrawal keeps the resident's past but stops new visits and exports. Listing residents is a
//! read of personal data and is audited per subject before it is returned.

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::now_ms;
use auscult_store::programs::{ConsentRecord, NewResident};

use super::fields::{MAX_DESCRIPTION, MAX_ID, MAX_NAME, gender_name, id, invalid, text};
use super::messages::resident_pb;
use super::{PERSON_READERS, ProgramApi, STAFF};
use crate::convert;
use crate::error::{Result, ServerError};

impl ProgramApi {
    pub(crate) async fn enroll_inner(
        &self,
        caller: &Caller,
        req: pb::EnrollResidentRequest,
    ) -> Result<pb::Resident> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
        let program = self.program(tenant_id, &req.program_id).await?;
        let resident = new_resident(req, &program.id)?;
        let row = self
            .state
            .store
            .enroll_resident(tenant_id, &caller.actor(), &resident, now_ms())
            .await?;
        tracing::info!(program_id = %program.id, resident_id = %row.id, "resident enrolled");
        Ok(resident_pb(&row))
    }

    pub(crate) async fn withdraw_inner(
        &self,
        caller: &Caller,
        req: pb::WithdrawConsentRequest,
    ) -> Result<pb::Resident> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
        let program = self.program(tenant_id, &req.program_id).await?;
        let row = self
            .state
            .store
            .withdraw_consent(
                tenant_id,
                &caller.actor(),
                &program.id,
                id(&req.resident_id, "resident")?,
                now_ms(),
            )
            .await?
            .ok_or(ServerError::NotFound("resident"))?;
        Ok(resident_pb(&row))
    }

    pub(crate) async fn list_residents_inner(
        &self,
        caller: &Caller,
        req: pb::ListResidentsRequest,
    ) -> Result<pb::ListResidentsResponse> {
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let program = self.program(tenant_id, &req.program_id).await?;
        let rows = self
            .state
            .store
            .list_residents(tenant_id, &program.id)
            .await?;
        let subjects: Vec<&str> = rows
            .iter()
            .map(|r| r.resident.subject_id.as_str())
            .collect();
        self.state
            .store
            .audit_subjects(&caller.actor(), "resident.list", &subjects, now_ms())
            .await?;
        Ok(pb::ListResidentsResponse {
            residents: rows.iter().map(resident_pb).collect(),
        })
    }
}

/// The resident a request enrols, checked field by field; consent with its time, document and
/// scope is required.
fn new_resident(req: &pb::EnrollResidentRequest, program_id: &str) -> Result<NewResident> {
    let subject_id = text(&req.subject_id, "subject_id", MAX_ID, true)?;
    let consent = req
        .consent
        .as_ref()
        .ok_or_else(|| invalid("consent is required to enroll"))?;
    let given_at_ms = consent
        .given_at
        .as_ref()
        .map(convert::millis)
        .ok_or_else(|| invalid("consent.given_at is required"))?;
    if given_at_ms > now_ms() + 5 * 60 * 1000 {
        return Err(invalid("consent.given_at is in the future"));
    }
    let birth_date = text(&req.birth_date, "birth_date", 10, false)?;
    if !birth_date.is_empty() && chrono::NaiveDate::parse_from_str(&birth_date, "%Y-%m-%d").is_err()
    {
        return Err(invalid("birth_date must be YYYY-MM-DD"));
    }
    Ok(NewResident {
        program_id: program_id.to_owned(),
        subject_id,
        family_name: text(&req.family_name, "family_name", MAX_NAME, false)?,
        given_name: text(&req.given_name, "given_name", MAX_NAME, false)?,
        gender: gender_name(req.gender)?.to_owned(),
        birth_date,
        resident_number: text(&req.resident_number, "resident_number", MAX_ID, false)?,
        consent: ConsentRecord {
            recorded_by: text(&consent.recorded_by, "consent.recorded_by", MAX_NAME, true)?,
            given_at_ms,
            version: text(
                &consent.document_version,
                "consent.document_version",
                MAX_NAME,
                true,
            )?,
            scope: text(&consent.scope, "consent.scope", MAX_DESCRIPTION, true)?,
        },
    })
}

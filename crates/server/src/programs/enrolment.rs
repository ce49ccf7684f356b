//! Enrolment: residents join a programme with their recorded consent, may withdraw it, and are
//! listed.
//!
//! Enrolment without consent (who recorded it, when, which document, what scope) is refused.
//! Withdrawal keeps the resident's past but stops new visits and exports. Listing residents is a
//! read of personal data and is audited per subject before it is returned.

use crate::auth::Caller;
use std::collections::HashMap;

use auscult_proto::v1 as pb;
use auscult_store::programs::{ConsentRecord, NewResident, ResidentRow};
use auscult_store::{SubjectId, TenantId, now_ms};

use super::fields::{MAX_DESCRIPTION, MAX_ID, MAX_NAME, gender_name, id, invalid, text};
use super::messages::resident_pb;
use super::{PERSON_READERS, ProgramApi, STAFF, roster, subject_of};
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

    pub(crate) async fn import_inner(
        &self,
        caller: &Caller,
        req: pb::ImportResidentsRequest,
    ) -> Result<pb::ImportResidentsResponse> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let program = self.program(tenant_id, &req.program_id).await?;
        let consent = consent_record(req.consent.as_ref())?;
        let text = roster::decode(&req.csv).map_err(|e| invalid(e.to_string()))?;
        let parsed = roster::parse(&text).map_err(|e| invalid(e.to_string()))?;
        let news: Vec<NewResident> = parsed
            .rows
            .iter()
            .filter_map(|(_, row)| match row {
                roster::RosterRow::Person(p) => {
                    Some(roster_resident(p, tenant_id, &program.id, &consent))
                }
                roster::RosterRow::Refused(..) => None,
            })
            .collect();
        let (enrolled, skipped) = if req.dry_run {
            let existing = self
                .state
                .store
                .list_residents(tenant_id, &program.id)
                .await?;
            let seen = news
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((i, existing[already_enrolled(r, &existing)?].clone())))
                .collect();
            (None, seen)
        } else {
            let (rows, seen) = self
                .state
                .store
                .enroll_residents(
                    tenant_id,
                    &caller.actor(),
                    &program.id,
                    &news,
                    already_enrolled,
                    now_ms(),
                )
                .await?;
            (Some(rows), seen)
        };
        if !skipped.is_empty() {
            // The rows of people already enrolled show what is stored of them: a read.
            let subjects: Vec<SubjectId> = skipped.iter().map(|(_, r)| subject_of(r)).collect();
            self.state
                .store
                .audit_subjects(
                    &caller.actor(),
                    "resident.import_match",
                    &subjects,
                    now_ms(),
                )
                .await?;
        }
        // What each person of the file became, in file order: the resident already enrolled,
        // the one enrolled now, or (dry run) the one that would be.
        let mut skipped: HashMap<usize, ResidentRow> = skipped.into_iter().collect();
        let mut enrolled = enrolled.map(Vec::into_iter);
        let mut people = news.into_iter().enumerate();
        let mut rows = Vec::with_capacity(parsed.rows.len());
        let mut counts = (0u32, 0u32, 0u32);
        for (line, row) in &parsed.rows {
            let (status, refusal, detail, resident) = match row {
                roster::RosterRow::Refused(why, detail) => {
                    counts.2 += 1;
                    (
                        pb::ImportRowStatus::Refused,
                        *why as i32,
                        detail.clone(),
                        None,
                    )
                }
                roster::RosterRow::Person(_) => {
                    let (k, new) = people.next().ok_or_else(|| {
                        ServerError::Internal("the roster's people went out of step".into())
                    })?;
                    let (status, shown) = match skipped.remove(&k) {
                        Some(old) => {
                            counts.1 += 1;
                            (pb::ImportRowStatus::AlreadyEnrolled, resident_pb(&old))
                        }
                        None => {
                            counts.0 += 1;
                            let shown = match enrolled.as_mut().and_then(Iterator::next) {
                                Some(row) => resident_pb(&row),
                                // A dry run: the resident as it would be enrolled (no id yet).
                                None => pb::Resident {
                                    enrolled_at: None,
                                    ..resident_pb(&ResidentRow {
                                        id: String::new(),
                                        resident: new,
                                        consent_withdrawn_at_ms: None,
                                        enrolled_at_ms: 0,
                                    })
                                },
                            };
                            (pb::ImportRowStatus::New, shown)
                        }
                    };
                    (status, 0, String::new(), Some(shown))
                }
            };
            rows.push(pb::ImportRow {
                line: *line,
                status: status as i32,
                refusal,
                detail,
                resident,
            });
        }
        tracing::info!(
            program_id = %program.id,
            new = counts.0,
            already = counts.1,
            refused = counts.2,
            dry_run = req.dry_run,
            "roster imported"
        );
        Ok(pb::ImportResidentsResponse {
            rows,
            new_residents: counts.0,
            already_enrolled: counts.1,
            refused: counts.2,
            dry_run: req.dry_run,
        })
    }

    /// One resident of a programme, audited as `resident.get`.
    pub(crate) async fn get_resident_inner(
        &self,
        caller: &Caller,
        program_id: &str,
        resident_id: &str,
    ) -> Result<pb::Resident> {
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let program = self.program(tenant_id, program_id).await?;
        let row = self.resident(tenant_id, &program.id, resident_id).await?;
        self.state
            .store
            .audit_subjects(
                &caller.actor(),
                "resident.get",
                &[subject_of(&row)],
                now_ms(),
            )
            .await?;
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
        let subjects: Vec<SubjectId> = rows.iter().map(subject_of).collect();
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
        address: text(&req.address, "address", roster::MAX_ADDRESS, false)?,
        phone: if req.phone.trim().is_empty() {
            String::new()
        } else {
            roster::phone(&req.phone).ok_or_else(|| {
                invalid("phone must be 6 to 15 digits with spaces, '+', '-' or parentheses")
            })?
        },
        consent: consent_record(req.consent.as_ref())?,
    })
}

/// The consent a request records: who, when (not in the future), which document, what scope.
fn consent_record(consent: Option<&pb::Consent>) -> Result<ConsentRecord> {
    let consent = consent.ok_or_else(|| invalid("consent is required to enroll"))?;
    let given_at_ms = consent
        .given_at
        .as_ref()
        .map(convert::millis)
        .ok_or_else(|| invalid("consent.given_at is required"))?;
    if given_at_ms > now_ms() + 5 * 60 * 1000 {
        return Err(invalid("consent.given_at is in the future"));
    }
    Ok(ConsentRecord {
        recorded_by: text(&consent.recorded_by, "consent.recorded_by", MAX_NAME, true)?,
        given_at_ms,
        version: text(
            &consent.document_version,
            "consent.document_version",
            MAX_NAME,
            true,
        )?,
        scope: text(&consent.scope, "consent.scope", MAX_DESCRIPTION, true)?,
    })
}

/// The resident a roster's person becomes in `program_id`.
fn roster_resident(
    p: &roster::RosterPerson,
    tenant_id: &TenantId,
    program_id: &str,
    consent: &ConsentRecord,
) -> NewResident {
    NewResident {
        program_id: program_id.to_owned(),
        subject_id: p.subject_id(tenant_id.as_str(), program_id),
        family_name: p.family_name.clone(),
        given_name: p.given_name.clone(),
        gender: p.gender.to_owned(),
        birth_date: p.birth_date.clone(),
        resident_number: p.resident_number.clone(),
        address: p.address.clone(),
        phone: p.phone.clone(),
        consent: consent.clone(),
    }
}

/// Whether `r` is already among `existing` (see [`roster::same_person_key`]): its index.
fn already_enrolled(r: &NewResident, existing: &[ResidentRow]) -> Option<usize> {
    let key = |n: &NewResident| {
        roster::same_person_key(
            &n.resident_number,
            &n.family_name,
            &n.given_name,
            &n.birth_date,
        )
    };
    let mine = key(r);
    existing.iter().position(|e| {
        e.resident.subject_id == r.subject_id
            || key(&e.resident) == mine
            || (!e.resident.resident_number.is_empty()
                && e.resident.resident_number == r.resident_number)
    })
}

//! `ProgramService`: municipal check-up programmes, from enrolment to the report and the exports.
//!
//! A tenant runs programmes; a programme has sites, residents enrolled with their consent, a
//! versioned questionnaire and visits. A visit ties a questionnaire response, spot vitals and the
//! recordings of the four auscultation sites together; its outcome is proposed from the analyses
//! ([`outcome`]) and confirmed by a clinician.
//!
//! This module holds the service value, the roles and the tenant-scoped look-ups every handler
//! shares. The handlers live by seam: [`setup`] (programmes, sites, questionnaires),
//! [`enrolment`] (residents and consent, one by one or from a roster read by [`roster`]),
//! [`visits`] (opening, reading and confirming visits), [`checkup`] (what a visit gathers:
//! answers, spot vitals, recordings), [`labs`] (the visit's point-of-care blood results),
//! [`reports`] (the report
//! and the exports); [`service`] is the `ProgramService` impl that only forwards to them.
//! [`fields`] checks request fields and [`messages`] turns stored rows into protobuf.
//!
//! Architecture invariants: the tenant comes from the caller's token, never from the request, and
//! every store call names it, so another tenant's programme, resident, visit or recording is
//! NOT_FOUND like a missing one. Every read of a resident's data is audited before it is returned;
//! logs carry ids only, never names, birth dates or answers.

mod checkup;
mod enrolment;
pub mod export;
mod fields;
mod labs;
pub mod links;
mod messages;
pub mod outcome;
pub mod questionnaire;
mod reports;
pub mod roster;
mod service;
mod setup;
pub mod spot;
mod visits;

use std::sync::Arc;

use auscult_proto::v1 as pb;
use auscult_store::programs::{ProgramRow, ResidentRow, VisitRow};
use auscult_store::{SubjectId, TenantId};
use tonic::Request;

use crate::auth::{Caller, Role, authenticate};
use crate::error::{Result, ServerError};
use crate::state::AppState;
use fields::id;
use messages::visit_pb;
pub(crate) use reports::FhirExport;

/// Who runs programmes: create programmes, sites, questionnaires, enroll, record visits.
pub const STAFF: &[Role] = &[Role::ProgramStaff, Role::Admin];
/// Who reads programme structure (no personal data).
pub const VIEWERS: &[Role] = &[
    Role::ProgramStaff,
    Role::Clinician,
    Role::Nurse,
    Role::Admin,
];
/// Who reads residents and visits.
pub const PERSON_READERS: &[Role] = &[Role::ProgramStaff, Role::Clinician, Role::Admin];
/// Who decides outcomes.
pub const CONFIRMERS: &[Role] = &[Role::Clinician, Role::Admin];
/// Who exports FHIR bundles (they hold the recordings).
pub const EXPORTERS: &[Role] = &[Role::Clinician, Role::Admin];
/// Who exports recordings as WFDB (the same people who may listen to them).
pub const RECORDING_READERS: &[Role] = &[Role::Clinician, Role::Nurse, Role::Admin];

/// A resident's subject id, as the store's audit trail takes it.
fn subject_of(r: &ResidentRow) -> SubjectId {
    SubjectId::new(r.resident.subject_id.as_str())
}

/// The programme service.
#[derive(Debug, Clone)]
pub struct ProgramApi {
    state: Arc<AppState>,
}

impl ProgramApi {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> ProgramApi {
        ProgramApi { state }
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller> {
        authenticate(&self.state.store, request.metadata()).await
    }

    async fn program(&self, tenant_id: &TenantId, program_id: &str) -> Result<ProgramRow> {
        self.state
            .store
            .get_program(tenant_id, id(program_id, "program")?)
            .await?
            .ok_or(ServerError::NotFound("program"))
    }

    async fn resident(
        &self,
        tenant_id: &TenantId,
        program_id: &str,
        resident_id: &str,
    ) -> Result<ResidentRow> {
        self.state
            .store
            .get_resident(tenant_id, program_id, id(resident_id, "resident")?)
            .await?
            .ok_or(ServerError::NotFound("resident"))
    }

    /// A visit of the tenant and its resident.
    async fn visit(&self, tenant_id: &TenantId, visit_id: &str) -> Result<(VisitRow, ResidentRow)> {
        let visit = self
            .state
            .store
            .get_visit(tenant_id, id(visit_id, "visit")?)
            .await?
            .ok_or(ServerError::NotFound("visit"))?;
        let resident = self
            .resident(tenant_id, &visit.program_id, &visit.resident_id)
            .await?;
        Ok((visit, resident))
    }

    async fn visit_message(&self, tenant_id: &TenantId, visit: &VisitRow) -> Result<pb::Visit> {
        let links = self
            .state
            .store
            .list_links(tenant_id, &visit.program_id, Some(&visit.id))
            .await?;
        let labs = self
            .state
            .store
            .list_visit_labs(tenant_id, &visit.program_id, Some(&visit.id))
            .await?;
        visit_pb(
            visit,
            &links.iter().collect::<Vec<_>>(),
            &labs.iter().collect::<Vec<_>>(),
        )
    }

    async fn reread_visit(&self, tenant_id: &TenantId, visit_id: &str) -> Result<pb::Visit> {
        let (visit, _) = self.visit(tenant_id, visit_id).await?;
        self.visit_message(tenant_id, &visit).await
    }
}

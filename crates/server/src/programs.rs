//! `ProgramService`: municipal check-up programmes, from enrolment to the report and the exports.
//!
//! A tenant runs programmes; a programme has sites, residents enrolled with their consent, a
//! versioned questionnaire and visits. A visit ties a questionnaire response, spot vitals and the
//! recordings of the four auscultation sites together; its outcome is proposed from the analyses
//! ([`outcome`]) and confirmed by a clinician.
//!
//! Architecture invariants: the tenant comes from the caller's token, never from the request, and
//! every store call names it, so another tenant's programme, resident, visit or recording is
//! NOT_FOUND like a missing one. Every read of a resident's data is audited before it is returned;
//! logs carry ids only, never names, birth dates or answers.

pub mod export;
pub mod outcome;
pub mod questionnaire;
pub mod spot;

use std::collections::HashMap;
use std::sync::Arc;

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_server::ProgramService;
use auscult_store::now_ms;
use auscult_store::programs::{
    ConsentRecord, LinkOutcome, LinkRow, NewResident, ProgramRow, ResidentRow, SiteRow, VisitRow,
};
use auscult_store::recordings::{RecordingRow, analysis_state, state};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, Role, authenticate};
use crate::convert;
use crate::error::{Result, ServerError};
use crate::state::AppState;
use outcome::Outcome;

/// Who runs programmes: create programmes, sites, questionnaires, enroll, record visits.
const STAFF: &[Role] = &[Role::ProgramStaff, Role::Admin];
/// Who reads programme structure (no personal data).
const VIEWERS: &[Role] = &[
    Role::ProgramStaff,
    Role::Clinician,
    Role::Nurse,
    Role::Admin,
];
/// Who reads residents and visits.
const PERSON_READERS: &[Role] = &[Role::ProgramStaff, Role::Clinician, Role::Admin];
/// Who decides outcomes.
const CONFIRMERS: &[Role] = &[Role::Clinician, Role::Admin];
/// Who exports FHIR bundles (they hold the recordings).
const EXPORTERS: &[Role] = &[Role::Clinician, Role::Admin];
/// Who exports recordings as WFDB (the same people who may listen to them).
const RECORDING_READERS: &[Role] = &[Role::Clinician, Role::Nurse, Role::Admin];
/// Bundle bytes per streamed message.
const EXPORT_CHUNK_BYTES: usize = 256 * 1024;
const MAX_ID: usize = 64;
const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2000;
const MAX_NOTE: usize = 10_000;

/// The programme service.
#[derive(Debug, Clone)]
pub struct ProgramApi {
    state: Arc<AppState>,
}

fn invalid(m: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument(m.into())
}

fn text(value: &str, what: &str, max: usize, required: bool) -> Result<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(invalid(format!("{what} is required")));
    }
    if v.chars().count() > max {
        return Err(invalid(format!("{what} is at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(format!("{what} holds control characters")));
    }
    Ok(v.to_owned())
}

/// An id from a request: too long or empty is simply not found.
fn id<'a>(value: &'a str, what: &'static str) -> Result<&'a str> {
    if value.is_empty() || value.len() > MAX_ID {
        Err(ServerError::NotFound(what))
    } else {
        Ok(value)
    }
}

fn gender_name(g: i32) -> Result<&'static str> {
    Ok(match pb::Gender::try_from(g) {
        Ok(pb::Gender::Unspecified) => "unknown",
        Ok(pb::Gender::Male) => "male",
        Ok(pb::Gender::Female) => "female",
        Ok(pb::Gender::Other) => "other",
        Err(_) => return Err(invalid("unknown gender")),
    })
}

fn gender_pb(name: &str) -> pb::Gender {
    match name {
        "male" => pb::Gender::Male,
        "female" => pb::Gender::Female,
        "other" => pb::Gender::Other,
        _ => pb::Gender::Unspecified,
    }
}

fn outcome_pb(o: Option<Outcome>) -> pb::VisitOutcome {
    match o {
        None => pb::VisitOutcome::Unspecified,
        Some(Outcome::Normal) => pb::VisitOutcome::Normal,
        Some(Outcome::Refer) => pb::VisitOutcome::Refer,
        Some(Outcome::ReRecord) => pb::VisitOutcome::ReRecord,
    }
}

fn site_pb(name: &str) -> pb::AuscultationSite {
    match name {
        "aortic" => pb::AuscultationSite::Aortic,
        "pulmonic" => pb::AuscultationSite::Pulmonic,
        "tricuspid" => pb::AuscultationSite::Tricuspid,
        "mitral" => pb::AuscultationSite::Mitral,
        _ => pb::AuscultationSite::Other,
    }
}

fn program_pb(p: &ProgramRow, sites: &[SiteRow]) -> pb::Program {
    pb::Program {
        program_id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        created_at: Some(convert::timestamp(p.created_at_ms)),
        sites: sites.iter().map(site_row_pb).collect(),
        questionnaire_version: p.questionnaire_version,
    }
}

fn site_row_pb(s: &SiteRow) -> pb::ProgramSite {
    pb::ProgramSite {
        site_id: s.id.clone(),
        program_id: s.program_id.clone(),
        name: s.name.clone(),
        address: s.address.clone(),
    }
}

fn resident_pb(r: &ResidentRow) -> pb::Resident {
    let res = &r.resident;
    pb::Resident {
        resident_id: r.id.clone(),
        program_id: res.program_id.clone(),
        subject_id: res.subject_id.clone(),
        family_name: res.family_name.clone(),
        given_name: res.given_name.clone(),
        gender: gender_pb(&res.gender) as i32,
        birth_date: res.birth_date.clone(),
        resident_number: res.resident_number.clone(),
        consent: Some(pb::Consent {
            recorded_by: res.consent.recorded_by.clone(),
            given_at: Some(convert::timestamp(res.consent.given_at_ms)),
            document_version: res.consent.version.clone(),
            scope: res.consent.scope.clone(),
        }),
        consent_withdrawn_at: r.consent_withdrawn_at_ms.map(convert::timestamp),
        enrolled_at: Some(convert::timestamp(r.enrolled_at_ms)),
    }
}

fn analysis_state_pb(s: &str) -> pb::AnalysisState {
    match s {
        analysis_state::DONE => pb::AnalysisState::Done,
        analysis_state::FAILED => pb::AnalysisState::Failed,
        _ => pb::AnalysisState::Pending,
    }
}

fn visit_pb(v: &VisitRow, links: &[&LinkRow]) -> Result<pb::Visit> {
    let vitals = v
        .vitals
        .as_deref()
        .map(pb::SpotVitals::decode)
        .transpose()
        .map_err(|_| ServerError::Corrupt("stored vitals do not decode"))?;
    let news2 = match &vitals {
        Some(vs) => Some(spot::score_pb(&spot::score(&spot::check(vs)?))),
        None => None,
    };
    let questionnaire_response = v
        .response
        .as_deref()
        .map(pb::QuestionnaireResponse::decode)
        .transpose()
        .map_err(|_| ServerError::Corrupt("stored response does not decode"))?;
    Ok(pb::Visit {
        visit_id: v.id.clone(),
        program_id: v.program_id.clone(),
        resident_id: v.resident_id.clone(),
        site_id: v.site_id.clone(),
        visited_at: Some(convert::timestamp(v.visited_at_ms)),
        questionnaire_response,
        vitals,
        news2,
        recordings: links
            .iter()
            .map(|l| pb::VisitSiteRecording {
                site: site_pb(&l.site) as i32,
                recording_id: l.recording_id.clone(),
                analysis_state: analysis_state_pb(&l.analysis_state) as i32,
                murmur_status: crate::convert::murmur_status_pb(l.murmur_status.as_deref()) as i32,
                flagged: l.flagged,
            })
            .collect(),
        proposed_outcome: outcome_pb(outcome::propose(links.iter().copied())) as i32,
        confirmed_outcome: outcome_pb(v.confirmed_outcome.as_deref().and_then(Outcome::parse))
            as i32,
        confirmed_by: v.confirmed_by.clone().unwrap_or_default(),
        confirmed_at: v.confirmed_at_ms.map(convert::timestamp),
        confirmation_note: v.confirmation_note.clone(),
    })
}

impl ProgramApi {
    /// A service over shared state.
    pub fn new(state: Arc<AppState>) -> ProgramApi {
        ProgramApi { state }
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller> {
        authenticate(&self.state.store, request.metadata()).await
    }

    async fn program(&self, tenant_id: &str, program_id: &str) -> Result<ProgramRow> {
        self.state
            .store
            .get_program(tenant_id, id(program_id, "program")?)
            .await?
            .ok_or(ServerError::NotFound("program"))
    }

    async fn resident(
        &self,
        tenant_id: &str,
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
    async fn visit(&self, tenant_id: &str, visit_id: &str) -> Result<(VisitRow, ResidentRow)> {
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

    async fn visit_message(&self, tenant_id: &str, visit: &VisitRow) -> Result<pb::Visit> {
        let links = self
            .state
            .store
            .list_links(tenant_id, &visit.program_id, Some(&visit.id))
            .await?;
        visit_pb(visit, &links.iter().collect::<Vec<_>>())
    }

    async fn reread_visit(&self, tenant_id: &str, visit_id: &str) -> Result<pb::Visit> {
        let (visit, _) = self.visit(tenant_id, visit_id).await?;
        self.visit_message(tenant_id, &visit).await
    }

    async fn create_program_inner(
        &self,
        request: Request<pb::CreateProgramRequest>,
    ) -> Result<pb::Program> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
        let name = text(&req.name, "name", MAX_NAME, true)?;
        let description = text(&req.description, "description", MAX_DESCRIPTION, false)?;
        let p = self
            .state
            .store
            .create_program(tenant_id, &caller.actor(), &name, &description, now_ms())
            .await?;
        tracing::info!(program_id = %p.id, "program created");
        Ok(program_pb(&p, &[]))
    }

    async fn list_programs_inner(
        &self,
        request: Request<pb::ListProgramsRequest>,
    ) -> Result<pb::ListProgramsResponse> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let mut programs = Vec::new();
        for p in self.state.store.list_programs(tenant_id).await? {
            let sites = self.state.store.list_sites(tenant_id, &p.id).await?;
            programs.push(program_pb(&p, &sites));
        }
        Ok(pb::ListProgramsResponse { programs })
    }

    async fn get_program_inner(
        &self,
        request: Request<pb::GetProgramRequest>,
    ) -> Result<pb::Program> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let p = self
            .program(tenant_id, &request.get_ref().program_id)
            .await?;
        let sites = self.state.store.list_sites(tenant_id, &p.id).await?;
        Ok(program_pb(&p, &sites))
    }

    async fn add_site_inner(
        &self,
        request: Request<pb::AddSiteRequest>,
    ) -> Result<pb::ProgramSite> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
        let name = text(&req.name, "name", MAX_NAME, true)?;
        let address = text(&req.address, "address", MAX_DESCRIPTION, false)?;
        let site = self
            .state
            .store
            .add_site(
                tenant_id,
                id(&req.program_id, "program")?,
                &name,
                &address,
                now_ms(),
            )
            .await?
            .ok_or(ServerError::NotFound("program"))?;
        Ok(site_row_pb(&site))
    }

    async fn put_questionnaire_inner(
        &self,
        request: Request<pb::PutQuestionnaireRequest>,
    ) -> Result<pb::Questionnaire> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.into_inner();
        let program = self.program(tenant_id, &req.program_id).await?;
        let mut q = pb::Questionnaire {
            program_id: program.id.clone(),
            version: 0,
            title: req.title,
            questions: req.questions,
            created_at: None,
        };
        questionnaire::definition(&program.id, program.questionnaire_version + 1, &q)?;
        let row = self
            .state
            .store
            .put_questionnaire(
                tenant_id,
                &caller.actor(),
                &program.id,
                &q.encode_to_vec(),
                now_ms(),
            )
            .await?
            .ok_or(ServerError::NotFound("program"))?;
        q.version = row.version;
        q.created_at = Some(convert::timestamp(row.created_at_ms));
        Ok(q)
    }

    async fn questionnaire_pb(
        &self,
        tenant_id: &str,
        program_id: &str,
        version: Option<u32>,
    ) -> Result<pb::Questionnaire> {
        let row = self
            .state
            .store
            .get_questionnaire(tenant_id, program_id, version)
            .await?
            .ok_or(ServerError::NotFound("questionnaire"))?;
        let mut q = pb::Questionnaire::decode(row.definition.as_slice())
            .map_err(|_| ServerError::Corrupt("stored questionnaire does not decode"))?;
        q.program_id = row.program_id;
        q.version = row.version;
        q.created_at = Some(convert::timestamp(row.created_at_ms));
        Ok(q)
    }

    async fn get_questionnaire_inner(
        &self,
        request: Request<pb::GetQuestionnaireRequest>,
    ) -> Result<pb::Questionnaire> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
        self.questionnaire_pb(
            tenant_id,
            &program.id,
            (req.version != 0).then_some(req.version),
        )
        .await
    }

    async fn enroll_inner(
        &self,
        request: Request<pb::EnrollResidentRequest>,
    ) -> Result<pb::Resident> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
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
        if !birth_date.is_empty()
            && chrono::NaiveDate::parse_from_str(&birth_date, "%Y-%m-%d").is_err()
        {
            return Err(invalid("birth_date must be YYYY-MM-DD"));
        }
        let resident = NewResident {
            program_id: program.id.clone(),
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
        };
        let row = self
            .state
            .store
            .enroll_resident(tenant_id, &caller.actor(), &resident, now_ms())
            .await?;
        tracing::info!(program_id = %program.id, resident_id = %row.id, "resident enrolled");
        Ok(resident_pb(&row))
    }

    async fn withdraw_inner(
        &self,
        request: Request<pb::WithdrawConsentRequest>,
    ) -> Result<pb::Resident> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
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

    async fn list_residents_inner(
        &self,
        request: Request<pb::ListResidentsRequest>,
    ) -> Result<pb::ListResidentsResponse> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let program = self
            .program(tenant_id, &request.get_ref().program_id)
            .await?;
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

    async fn create_visit_inner(
        &self,
        request: Request<pb::CreateVisitRequest>,
    ) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
        let resident = self
            .resident(tenant_id, &program.id, &req.resident_id)
            .await?;
        if !resident.consenting() {
            return Err(ServerError::FailedPrecondition(
                "the resident has withdrawn consent: no visits".into(),
            ));
        }
        let site_id = id(&req.site_id, "site")?;
        let sites = self.state.store.list_sites(tenant_id, &program.id).await?;
        if !sites.iter().any(|s| s.id == site_id) {
            return Err(ServerError::NotFound("site"));
        }
        let now = now_ms();
        let visited_at_ms = req.visited_at.as_ref().map_or(now, convert::millis);
        if visited_at_ms > now + 5 * 60 * 1000 {
            return Err(invalid("visited_at is in the future"));
        }
        let visit = self
            .state
            .store
            .create_visit(
                tenant_id,
                &caller.actor(),
                &resident,
                site_id,
                visited_at_ms,
                now,
            )
            .await?
            .ok_or_else(|| {
                ServerError::FailedPrecondition(
                    "the resident has withdrawn consent: no visits".into(),
                )
            })?;
        tracing::info!(visit_id = %visit.id, "visit opened");
        visit_pb(&visit, &[])
    }

    async fn submit_response_inner(
        &self,
        request: Request<pb::SubmitQuestionnaireResponseRequest>,
    ) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.into_inner();
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        if req.questionnaire_version == 0 {
            return Err(invalid("questionnaire_version is required"));
        }
        let stored = self
            .state
            .store
            .get_questionnaire(
                tenant_id,
                &visit.program_id,
                Some(req.questionnaire_version),
            )
            .await?
            .ok_or_else(|| invalid("the programme has no such questionnaire version"))?;
        let q = pb::Questionnaire::decode(stored.definition.as_slice())
            .map_err(|_| ServerError::Corrupt("stored questionnaire does not decode"))?;
        let def = questionnaire::definition(&visit.program_id, stored.version, &q)?;
        let response = pb::QuestionnaireResponse {
            questionnaire_version: req.questionnaire_version,
            answers: req.answers,
            authored_at: Some(
                req.authored_at
                    .unwrap_or_else(|| convert::timestamp(now_ms())),
            ),
        };
        questionnaire::response(&def, &format!("{}-qr", visit.id), &resident.id, &response)?;
        let stored = self
            .state
            .store
            .set_visit_response(
                tenant_id,
                &caller.actor(),
                &visit.id,
                &resident.resident.subject_id,
                req.questionnaire_version,
                &response.encode_to_vec(),
                now_ms(),
            )
            .await?;
        if !stored {
            return Err(ServerError::NotFound("visit"));
        }
        self.reread_visit(tenant_id, &visit.id).await
    }

    async fn record_vitals_inner(
        &self,
        request: Request<pb::RecordVitalsRequest>,
    ) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.into_inner();
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        let mut vitals = req.vitals.ok_or_else(|| invalid("vitals are required"))?;
        spot::check(&vitals)?;
        let now = now_ms();
        let measured = vitals.measured_at.as_ref().map_or(now, convert::millis);
        if measured > now + 5 * 60 * 1000 {
            return Err(invalid("vitals.measured_at is in the future"));
        }
        vitals.measured_at = Some(convert::timestamp(measured));
        let stored = self
            .state
            .store
            .set_visit_vitals(
                tenant_id,
                &caller.actor(),
                &visit.id,
                &resident.resident.subject_id,
                &vitals.encode_to_vec(),
                now,
            )
            .await?;
        if !stored {
            return Err(ServerError::NotFound("visit"));
        }
        self.reread_visit(tenant_id, &visit.id).await
    }

    async fn recording_by_upload(&self, tenant_id: &str, upload_id: &str) -> Result<RecordingRow> {
        let ids = self
            .state
            .store
            .recording_ids_by_upload(tenant_id, upload_id)
            .await?;
        match ids.as_slice() {
            [one] => self
                .state
                .store
                .get_recording(tenant_id, one)
                .await?
                .ok_or(ServerError::NotFound("recording")),
            [] => Err(ServerError::NotFound("recording")),
            _ => Err(invalid(
                "several devices used this upload id: link by recording_id",
            )),
        }
    }

    async fn link_inner(&self, request: Request<pb::LinkRecordingRequest>) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = request.get_ref();
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        let site = match convert::site_name(req.site) {
            Some(s) if auscult_triage::Site::parse(s).is_some() => s,
            _ => {
                return Err(invalid(
                    "site must be aortic, pulmonic, tricuspid or mitral",
                ));
            }
        };
        let row = if req.recording_id.is_empty() {
            self.recording_by_upload(tenant_id, id(&req.upload_id, "recording")?)
                .await?
        } else {
            self.state
                .store
                .get_recording(tenant_id, id(&req.recording_id, "recording")?)
                .await?
                .ok_or(ServerError::NotFound("recording"))?
        };
        if row.meta.subject_id != resident.resident.subject_id {
            return Err(invalid(
                "the recording is of another subject than the visit's resident",
            ));
        }
        if row.meta.site != site {
            return Err(invalid(
                "the recording was made at another auscultation site",
            ));
        }
        if row.state != state::COMPLETE {
            return Err(ServerError::FailedPrecondition(
                "the recording's upload is not complete".into(),
            ));
        }
        let linked = self
            .state
            .store
            .link_recording(
                tenant_id,
                &caller.actor(),
                &visit.id,
                site,
                &row.id,
                &resident.resident.subject_id,
                now_ms(),
            )
            .await?;
        match linked {
            LinkOutcome::Linked => self.reread_visit(tenant_id, &visit.id).await,
            LinkOutcome::NoVisit => Err(ServerError::NotFound("visit")),
            LinkOutcome::LinkedElsewhere => Err(ServerError::FailedPrecondition(
                "the recording is already linked to another visit or site".into(),
            )),
        }
    }

    async fn get_visit_inner(&self, request: Request<pb::GetVisitRequest>) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let (visit, resident) = self.visit(tenant_id, &request.get_ref().visit_id).await?;
        let message = self.visit_message(tenant_id, &visit).await?;
        self.state
            .store
            .audit_subjects(
                &caller.actor(),
                "visit.get",
                &[&resident.resident.subject_id],
                now_ms(),
            )
            .await?;
        Ok(message)
    }

    async fn list_visits_inner(
        &self,
        request: Request<pb::ListVisitsRequest>,
    ) -> Result<pb::ListVisitsResponse> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
        let resident = if req.resident_id.is_empty() {
            None
        } else {
            Some(
                self.resident(tenant_id, &program.id, &req.resident_id)
                    .await?,
            )
        };
        let visits = self
            .state
            .store
            .list_visits(
                tenant_id,
                &program.id,
                resident.as_ref().map(|r| r.id.as_str()),
            )
            .await?;
        let links = self
            .state
            .store
            .list_links(tenant_id, &program.id, None)
            .await?;
        let mut by_visit: HashMap<&str, Vec<&LinkRow>> = HashMap::new();
        for l in &links {
            by_visit.entry(l.visit_id.as_str()).or_default().push(l);
        }
        let residents = self
            .state
            .store
            .list_residents(tenant_id, &program.id)
            .await?;
        let subject_of: HashMap<&str, &str> = residents
            .iter()
            .map(|r| (r.id.as_str(), r.resident.subject_id.as_str()))
            .collect();
        let mut subjects: Vec<&str> = visits
            .iter()
            .filter_map(|v| subject_of.get(v.resident_id.as_str()).copied())
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        let messages = visits
            .iter()
            .map(|v| {
                visit_pb(
                    v,
                    by_visit.get(v.id.as_str()).map_or(&[][..], Vec::as_slice),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        self.state
            .store
            .audit_subjects(&caller.actor(), "visit.list", &subjects, now_ms())
            .await?;
        Ok(pb::ListVisitsResponse { visits: messages })
    }

    async fn confirm_inner(
        &self,
        request: Request<pb::ConfirmOutcomeRequest>,
    ) -> Result<pb::Visit> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(CONFIRMERS)?;
        let req = request.get_ref();
        let outcome = match pb::VisitOutcome::try_from(req.outcome) {
            Ok(pb::VisitOutcome::Normal) => Outcome::Normal,
            Ok(pb::VisitOutcome::Refer) => Outcome::Refer,
            Ok(pb::VisitOutcome::ReRecord) => Outcome::ReRecord,
            _ => return Err(invalid("outcome must be NORMAL, REFER or RE_RECORD")),
        };
        let note = text(&req.note, "note", MAX_NOTE, false)?;
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        let links = self
            .state
            .store
            .list_links(tenant_id, &visit.program_id, Some(&visit.id))
            .await?;
        if links.is_empty() {
            return Err(ServerError::FailedPrecondition(
                "the visit has no recordings to review".into(),
            ));
        }
        let confirmed = self
            .state
            .store
            .confirm_outcome(
                tenant_id,
                &caller.actor(),
                &visit.id,
                &resident.resident.subject_id,
                outcome.as_str(),
                &note,
                now_ms(),
            )
            .await?;
        if !confirmed {
            return Err(ServerError::NotFound("visit"));
        }
        tracing::info!(visit_id = %visit.id, outcome = outcome.as_str(), "visit outcome confirmed");
        self.reread_visit(tenant_id, &visit.id).await
    }

    async fn report_inner(
        &self,
        request: Request<pb::GetProgramReportRequest>,
    ) -> Result<pb::ProgramReport> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let program = self
            .program(tenant_id, &request.get_ref().program_id)
            .await?;
        let store = &self.state.store;
        let residents = store.list_residents(tenant_id, &program.id).await?;
        let sites = store.list_sites(tenant_id, &program.id).await?;
        let visits = store.list_visits(tenant_id, &program.id, None).await?;
        let links = store.list_links(tenant_id, &program.id, None).await?;
        let report = outcome::report(&residents, &sites, &visits, &links);
        let csv = outcome::report_csv(&program.id, &program.name, &report)
            .map_err(|_| ServerError::Internal("report CSV could not be written".into()))?;
        let counts = |c: &outcome::Counts| pb::ReportCounts {
            enrolled: c.enrolled,
            attended: c.attended,
            flagged: c.flagged,
            referred: c.referred,
            awaiting_review: c.awaiting_review,
            visits: c.visits,
        };
        store
            .audit_subjects(&caller.actor(), "program.report", &[], now_ms())
            .await?;
        Ok(pb::ProgramReport {
            program_id: program.id.clone(),
            name: program.name.clone(),
            totals: Some(counts(&report.totals)),
            sites: report
                .sites
                .iter()
                .map(|(s, c)| pb::SiteReport {
                    site_id: s.id.clone(),
                    name: s.name.clone(),
                    counts: Some(counts(c)),
                })
                .collect(),
            csv,
            generated_at: Some(convert::timestamp(now_ms())),
        })
    }

    /// Builds a bundle of `residents` (audited per subject as `fhir.export`) and splits it.
    async fn export_bundle(
        &self,
        caller: &Caller,
        tenant_id: &str,
        base_url: &str,
        bundle_id: &str,
        residents: &[ResidentRow],
    ) -> Result<Vec<pb::ExportChunk>> {
        let mut b = export::builder(base_url)?;
        let subjects: Vec<&str> = residents
            .iter()
            .map(|r| r.resident.subject_id.as_str())
            .collect();
        self.state
            .store
            .audit_subjects(&caller.actor(), "fhir.export", &subjects, now_ms())
            .await?;
        for r in residents {
            export::add_resident(&self.state, tenant_id, &mut b, r).await?;
        }
        let entries = b.len();
        let bytes = export::finish(b, bundle_id)?;
        tracing::info!(
            bundle_id,
            entries,
            bytes = bytes.len(),
            "FHIR bundle exported"
        );
        Ok(bytes
            .chunks(EXPORT_CHUNK_BYTES)
            .map(|c| pb::ExportChunk { data: c.to_vec() })
            .collect())
    }

    async fn export_resident_inner(
        &self,
        request: Request<pb::ExportResidentFhirRequest>,
    ) -> Result<Vec<pb::ExportChunk>> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(EXPORTERS)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
        let resident = self
            .resident(tenant_id, &program.id, &req.resident_id)
            .await?;
        if !resident.consenting() {
            return Err(ServerError::FailedPrecondition(
                "the resident has withdrawn consent: nothing is exported".into(),
            ));
        }
        let bundle_id = format!("r-{}", resident.id);
        self.export_bundle(&caller, tenant_id, &req.base_url, &bundle_id, &[resident])
            .await
    }

    async fn export_program_inner(
        &self,
        request: Request<pb::ExportProgramFhirRequest>,
    ) -> Result<Vec<pb::ExportChunk>> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(EXPORTERS)?;
        let req = request.get_ref();
        let program = self.program(tenant_id, &req.program_id).await?;
        // Residents who withdrew consent are left out of the programme's hand-over.
        let residents: Vec<ResidentRow> = self
            .state
            .store
            .list_residents(tenant_id, &program.id)
            .await?
            .into_iter()
            .filter(ResidentRow::consenting)
            .collect();
        let bundle_id = format!("p-{}", program.id);
        self.export_bundle(&caller, tenant_id, &req.base_url, &bundle_id, &residents)
            .await
    }

    async fn export_wfdb_inner(
        &self,
        request: Request<pb::ExportRecordingWfdbRequest>,
    ) -> Result<pb::WfdbRecord> {
        let caller = self.caller(&request).await?;
        let tenant_id = caller.tenant_with(RECORDING_READERS)?;
        let row = self
            .state
            .store
            .get_recording(tenant_id, id(&request.get_ref().recording_id, "recording")?)
            .await?
            .filter(|r| r.state == state::COMPLETE)
            .ok_or(ServerError::NotFound("recording"))?;
        self.state
            .store
            .audit(
                &caller.actor(),
                "case.wfdb",
                &[(&row.id, &row.meta.subject_id)],
                now_ms(),
            )
            .await?;
        export::wfdb(&self.state, &row).await
    }
}

fn stream(
    chunks: Vec<pb::ExportChunk>,
) -> ReceiverStream<std::result::Result<pb::ExportChunk, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for chunk in chunks {
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

type Reply<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProgramService for ProgramApi {
    async fn create_program(&self, r: Request<pb::CreateProgramRequest>) -> Reply<pb::Program> {
        Ok(Response::new(self.create_program_inner(r).await?))
    }
    async fn list_programs(
        &self,
        r: Request<pb::ListProgramsRequest>,
    ) -> Reply<pb::ListProgramsResponse> {
        Ok(Response::new(self.list_programs_inner(r).await?))
    }
    async fn get_program(&self, r: Request<pb::GetProgramRequest>) -> Reply<pb::Program> {
        Ok(Response::new(self.get_program_inner(r).await?))
    }
    async fn add_site(&self, r: Request<pb::AddSiteRequest>) -> Reply<pb::ProgramSite> {
        Ok(Response::new(self.add_site_inner(r).await?))
    }
    async fn put_questionnaire(
        &self,
        r: Request<pb::PutQuestionnaireRequest>,
    ) -> Reply<pb::Questionnaire> {
        Ok(Response::new(self.put_questionnaire_inner(r).await?))
    }
    async fn get_questionnaire(
        &self,
        r: Request<pb::GetQuestionnaireRequest>,
    ) -> Reply<pb::Questionnaire> {
        Ok(Response::new(self.get_questionnaire_inner(r).await?))
    }
    async fn enroll_resident(&self, r: Request<pb::EnrollResidentRequest>) -> Reply<pb::Resident> {
        Ok(Response::new(self.enroll_inner(r).await?))
    }
    async fn withdraw_consent(
        &self,
        r: Request<pb::WithdrawConsentRequest>,
    ) -> Reply<pb::Resident> {
        Ok(Response::new(self.withdraw_inner(r).await?))
    }
    async fn list_residents(
        &self,
        r: Request<pb::ListResidentsRequest>,
    ) -> Reply<pb::ListResidentsResponse> {
        Ok(Response::new(self.list_residents_inner(r).await?))
    }
    async fn create_visit(&self, r: Request<pb::CreateVisitRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(self.create_visit_inner(r).await?))
    }
    async fn submit_questionnaire_response(
        &self,
        r: Request<pb::SubmitQuestionnaireResponseRequest>,
    ) -> Reply<pb::Visit> {
        Ok(Response::new(self.submit_response_inner(r).await?))
    }
    async fn record_vitals(&self, r: Request<pb::RecordVitalsRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(self.record_vitals_inner(r).await?))
    }
    async fn link_recording(&self, r: Request<pb::LinkRecordingRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(self.link_inner(r).await?))
    }
    async fn get_visit(&self, r: Request<pb::GetVisitRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(self.get_visit_inner(r).await?))
    }
    async fn list_visits(
        &self,
        r: Request<pb::ListVisitsRequest>,
    ) -> Reply<pb::ListVisitsResponse> {
        Ok(Response::new(self.list_visits_inner(r).await?))
    }
    async fn confirm_outcome(&self, r: Request<pb::ConfirmOutcomeRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(self.confirm_inner(r).await?))
    }
    async fn get_program_report(
        &self,
        r: Request<pb::GetProgramReportRequest>,
    ) -> Reply<pb::ProgramReport> {
        Ok(Response::new(self.report_inner(r).await?))
    }

    type ExportResidentFhirStream = ReceiverStream<std::result::Result<pb::ExportChunk, Status>>;

    async fn export_resident_fhir(
        &self,
        r: Request<pb::ExportResidentFhirRequest>,
    ) -> Reply<Self::ExportResidentFhirStream> {
        Ok(Response::new(stream(self.export_resident_inner(r).await?)))
    }

    type ExportProgramFhirStream = ReceiverStream<std::result::Result<pb::ExportChunk, Status>>;

    async fn export_program_fhir(
        &self,
        r: Request<pb::ExportProgramFhirRequest>,
    ) -> Reply<Self::ExportProgramFhirStream> {
        Ok(Response::new(stream(self.export_program_inner(r).await?)))
    }

    async fn export_recording_wfdb(
        &self,
        r: Request<pb::ExportRecordingWfdbRequest>,
    ) -> Reply<pb::WfdbRecord> {
        Ok(Response::new(self.export_wfdb_inner(r).await?))
    }
}

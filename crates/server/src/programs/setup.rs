//! Setting a programme up: programmes, their sites and the versions of their questionnaire.
//!
//! Programme structure only, no personal data: staff write it, anyone working in the programme
//! reads it. A questionnaire is checked ([`super::questionnaire`]) before it is stored as a new
//! version; stored versions are never changed.

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::{TenantId, now_ms};
use prost::Message;

use super::fields::{MAX_DESCRIPTION, MAX_NAME, id, text};
use super::messages::{program_pb, site_row_pb};
use super::{ProgramApi, STAFF, VIEWERS, questionnaire};
use crate::convert;
use crate::error::{Result, ServerError};

impl ProgramApi {
    pub(crate) async fn create_program_inner(
        &self,
        caller: &Caller,
        req: pb::CreateProgramRequest,
    ) -> Result<pb::Program> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
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

    pub(crate) async fn list_programs_inner(
        &self,
        caller: &Caller,
        _req: pb::ListProgramsRequest,
    ) -> Result<pb::ListProgramsResponse> {
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let mut programs = Vec::new();
        for p in self.state.store.list_programs(tenant_id).await? {
            let sites = self.state.store.list_sites(tenant_id, &p.id).await?;
            programs.push(program_pb(&p, &sites));
        }
        Ok(pb::ListProgramsResponse { programs })
    }

    pub(crate) async fn get_program_inner(
        &self,
        caller: &Caller,
        req: pb::GetProgramRequest,
    ) -> Result<pb::Program> {
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let p = self.program(tenant_id, &req.program_id).await?;
        let sites = self.state.store.list_sites(tenant_id, &p.id).await?;
        Ok(program_pb(&p, &sites))
    }

    pub(crate) async fn add_site_inner(
        &self,
        caller: &Caller,
        req: pb::AddSiteRequest,
    ) -> Result<pb::ProgramSite> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
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

    pub(crate) async fn put_questionnaire_inner(
        &self,
        caller: &Caller,
        req: pb::PutQuestionnaireRequest,
    ) -> Result<pb::Questionnaire> {
        let tenant_id = caller.tenant_with(STAFF)?;
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
        tenant_id: &TenantId,
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

    pub(crate) async fn get_questionnaire_inner(
        &self,
        caller: &Caller,
        req: pb::GetQuestionnaireRequest,
    ) -> Result<pb::Questionnaire> {
        let tenant_id = caller.tenant_with(VIEWERS)?;
        let req = &req;
        let program = self.program(tenant_id, &req.program_id).await?;
        self.questionnaire_pb(
            tenant_id,
            &program.id,
            (req.version != 0).then_some(req.version),
        )
        .await
    }
}

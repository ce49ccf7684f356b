//! The `ProgramService` gRPC impl: each call forwards to its handler and turns the domain
//! error into a `Status`; the FHIR exports are written while they stream, for as long as the
//! caller's token authenticates ([`crate::outbound`]).
//!
//! Nothing else happens here: authentication, checks and audit are the handlers' work.

use auscult_proto::v1 as pb;
use auscult_proto::v1::program_service_server::ProgramService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::ProgramApi;
use crate::outbound;

type Reply<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProgramService for ProgramApi {
    async fn create_program(&self, r: Request<pb::CreateProgramRequest>) -> Reply<pb::Program> {
        Ok(Response::new(
            self.create_program_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn list_programs(
        &self,
        r: Request<pb::ListProgramsRequest>,
    ) -> Reply<pb::ListProgramsResponse> {
        Ok(Response::new(
            self.list_programs_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn get_program(&self, r: Request<pb::GetProgramRequest>) -> Reply<pb::Program> {
        Ok(Response::new(
            self.get_program_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn add_site(&self, r: Request<pb::AddSiteRequest>) -> Reply<pb::ProgramSite> {
        Ok(Response::new(
            self.add_site_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn put_questionnaire(
        &self,
        r: Request<pb::PutQuestionnaireRequest>,
    ) -> Reply<pb::Questionnaire> {
        Ok(Response::new(
            self.put_questionnaire_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn get_questionnaire(
        &self,
        r: Request<pb::GetQuestionnaireRequest>,
    ) -> Reply<pb::Questionnaire> {
        Ok(Response::new(
            self.get_questionnaire_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn enroll_resident(&self, r: Request<pb::EnrollResidentRequest>) -> Reply<pb::Resident> {
        Ok(Response::new(
            self.enroll_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn withdraw_consent(
        &self,
        r: Request<pb::WithdrawConsentRequest>,
    ) -> Reply<pb::Resident> {
        Ok(Response::new(
            self.withdraw_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn import_residents(
        &self,
        r: Request<pb::ImportResidentsRequest>,
    ) -> Reply<pb::ImportResidentsResponse> {
        Ok(Response::new(
            self.import_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn list_residents(
        &self,
        r: Request<pb::ListResidentsRequest>,
    ) -> Reply<pb::ListResidentsResponse> {
        Ok(Response::new(
            self.list_residents_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn create_visit(&self, r: Request<pb::CreateVisitRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.create_visit_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn submit_questionnaire_response(
        &self,
        r: Request<pb::SubmitQuestionnaireResponseRequest>,
    ) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.submit_response_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn create_questionnaire_link(
        &self,
        r: Request<pb::CreateQuestionnaireLinkRequest>,
    ) -> Reply<pb::QuestionnaireLink> {
        Ok(Response::new(
            self.create_link_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn record_vitals(&self, r: Request<pb::RecordVitalsRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.record_vitals_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn record_lab_results(
        &self,
        r: Request<pb::RecordLabResultsRequest>,
    ) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.record_labs_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn link_recording(&self, r: Request<pb::LinkRecordingRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.link_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn get_visit(&self, r: Request<pb::GetVisitRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.get_visit_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn list_visits(
        &self,
        r: Request<pb::ListVisitsRequest>,
    ) -> Reply<pb::ListVisitsResponse> {
        Ok(Response::new(
            self.list_visits_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn confirm_outcome(&self, r: Request<pb::ConfirmOutcomeRequest>) -> Reply<pb::Visit> {
        Ok(Response::new(
            self.confirm_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
    async fn get_program_report(
        &self,
        r: Request<pb::GetProgramReportRequest>,
    ) -> Reply<pb::ProgramReport> {
        Ok(Response::new(
            self.report_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }

    type ExportResidentFhirStream = ReceiverStream<std::result::Result<pb::ExportChunk, Status>>;

    async fn export_resident_fhir(
        &self,
        r: Request<pb::ExportResidentFhirRequest>,
    ) -> Reply<Self::ExportResidentFhirStream> {
        let caller = self.caller(&r).await?;
        let export = self.export_resident_inner(&caller, r.into_inner()).await?;
        let token = self.state.token_watch(&caller);
        Ok(Response::new(outbound::spawn(Some(token), |out| {
            export.send(out)
        })))
    }

    type ExportProgramFhirStream = ReceiverStream<std::result::Result<pb::ExportChunk, Status>>;

    async fn export_program_fhir(
        &self,
        r: Request<pb::ExportProgramFhirRequest>,
    ) -> Reply<Self::ExportProgramFhirStream> {
        let caller = self.caller(&r).await?;
        let export = self.export_program_inner(&caller, r.into_inner()).await?;
        let token = self.state.token_watch(&caller);
        Ok(Response::new(outbound::spawn(Some(token), |out| {
            export.send(out)
        })))
    }

    async fn export_recording_wfdb(
        &self,
        r: Request<pb::ExportRecordingWfdbRequest>,
    ) -> Reply<pb::WfdbRecord> {
        Ok(Response::new(
            self.export_wfdb_inner(&self.caller(&r).await?, r.into_inner())
                .await?,
        ))
    }
}

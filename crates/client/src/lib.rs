//! The operators' client of the auscult server: one typed call per operator's command over gRPC
//! ([`Client`]), the reasons a case is flagged in the result contract's vocabulary
//! ([`findings`]), the contract's JSON of a server's analysis ([`contract`]) and what the
//! `auscult` commands print ([`render`]).
//!
//! The `auscult` binary parses arguments and prints; everything it says about a case is worded
//! here. Must never hold server logic (authorisation, triage, analysis): it words what the
//! server sent, and never prints a token other than one a call just created.

pub mod contract;
pub mod error;
pub mod findings;
pub mod render;
pub mod time;

pub use auscult_proto::v1 as pb;
pub use error::{ClientError, Result};

use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// Largest message accepted from the server (audio, WFDB records, reports).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Audit events asked for per page.
const AUDIT_PAGE: u32 = 500;

/// A connection to one server as one principal (its bearer token).
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    authorization: MetadataValue<Ascii>,
}

impl Client {
    /// Connects to `server` (e.g. `http://127.0.0.1:50051`) with `token`.
    pub async fn connect(server: &str, token: &str) -> Result<Client> {
        let authorization = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::InvalidToken)?;
        let endpoint =
            Channel::from_shared(server.to_owned()).map_err(|_| ClientError::InvalidUrl {
                url: server.to_owned(),
            })?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                url: server.to_owned(),
                source,
            })?;
        Ok(Client {
            channel,
            authorization,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    fn review(&self) -> ReviewServiceClient<Channel> {
        ReviewServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    fn programs(&self) -> ProgramServiceClient<Channel> {
        ProgramServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// `tenant create`.
    pub async fn create_tenant(&self, name: &str, kind: pb::TenantKind) -> Result<pb::Tenant> {
        let request = self.request(pb::CreateTenantRequest {
            name: name.to_owned(),
            kind: kind as i32,
        });
        self.admin()
            .create_tenant(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("tenant create", &s))
    }

    /// `tenant list`.
    pub async fn list_tenants(&self) -> Result<Vec<pb::Tenant>> {
        self.admin()
            .list_tenants(self.request(pb::ListTenantsRequest {}))
            .await
            .map(|r| r.into_inner().tenants)
            .map_err(|s| ClientError::refused("tenant list", &s))
    }

    /// `register-device`: the device and its first token.
    pub async fn register_device(
        &self,
        tenant_id: &str,
        name: &str,
        lifetime_seconds: Option<u64>,
    ) -> Result<pb::PrincipalWithToken> {
        let request = self.request(pb::RegisterDeviceRequest {
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            lifetime_seconds,
        });
        self.admin()
            .register_device(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("register-device", &s))
    }

    /// `add-user`: the user and its first token.
    pub async fn create_user(
        &self,
        tenant_id: &str,
        name: &str,
        role: pb::Role,
        lifetime_seconds: Option<u64>,
        web_login: Option<pb::WebLogin>,
    ) -> Result<pb::PrincipalWithToken> {
        let request = self.request(pb::CreateUserRequest {
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            role: role as i32,
            lifetime_seconds,
            web_login,
        });
        self.admin()
            .create_user(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("add-user", &s))
    }

    /// `token PRINCIPAL`: a new token; the principal's earlier tokens are revoked with it.
    pub async fn rotate_token(
        &self,
        principal_id: &str,
        lifetime_seconds: Option<u64>,
    ) -> Result<pb::PrincipalWithToken> {
        let request = self.request(pb::RotateTokenRequest {
            principal_id: principal_id.to_owned(),
            lifetime_seconds,
        });
        self.admin()
            .rotate_token(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("token", &s))
    }

    /// `token PRINCIPAL --revoke`: how many tokens were revoked.
    pub async fn revoke_tokens(&self, principal_id: &str) -> Result<u32> {
        let request = self.request(pb::RevokeTokensRequest {
            principal_id: principal_id.to_owned(),
        });
        self.admin()
            .revoke_tokens(request)
            .await
            .map(|r| r.into_inner().revoked)
            .map_err(|s| ClientError::refused("token --revoke", &s))
    }

    /// `token list`: the tokens of one principal, or (with `principal_id` empty) of a tenant.
    pub async fn list_tokens(
        &self,
        principal_id: &str,
        tenant_id: &str,
    ) -> Result<Vec<pb::TokenInfo>> {
        let request = self.request(pb::ListTokensRequest {
            principal_id: principal_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
        });
        self.admin()
            .list_tokens(request)
            .await
            .map(|r| r.into_inner().tokens)
            .map_err(|s| ClientError::refused("token list", &s))
    }

    /// `webhook add`: the webhook and its signing secret (shown once).
    pub async fn create_webhook(
        &self,
        tenant_id: &str,
        url: &str,
    ) -> Result<pb::CreateWebhookResponse> {
        let request = self.request(pb::CreateWebhookRequest {
            tenant_id: tenant_id.to_owned(),
            url: url.to_owned(),
        });
        self.admin()
            .create_webhook(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("webhook add", &s))
    }

    /// `webhook list`: the tenant's webhooks (never a secret).
    pub async fn list_webhooks(&self, tenant_id: &str) -> Result<Vec<pb::Webhook>> {
        let request = self.request(pb::ListWebhooksRequest {
            tenant_id: tenant_id.to_owned(),
        });
        self.admin()
            .list_webhooks(request)
            .await
            .map(|r| r.into_inner().webhooks)
            .map_err(|s| ClientError::refused("webhook list", &s))
    }

    /// `webhook remove`.
    pub async fn delete_webhook(&self, tenant_id: &str, webhook_id: &str) -> Result<()> {
        let request = self.request(pb::DeleteWebhookRequest {
            tenant_id: tenant_id.to_owned(),
            webhook_id: webhook_id.to_owned(),
        });
        self.admin()
            .delete_webhook(request)
            .await
            .map(drop)
            .map_err(|s| ClientError::refused("webhook remove", &s))
    }

    /// `webhook dead-letters`: deliveries that failed every attempt, newest first.
    pub async fn dead_letters(&self, tenant_id: &str, limit: u32) -> Result<Vec<pb::DeadLetter>> {
        let request = self.request(pb::ListDeadLettersRequest {
            tenant_id: tenant_id.to_owned(),
            limit,
        });
        self.admin()
            .list_dead_letters(request)
            .await
            .map(|r| r.into_inner().dead_letters)
            .map_err(|s| ClientError::refused("webhook dead-letters", &s))
    }

    /// `webhook replay`: sends a dead letter again.
    pub async fn replay_dead_letter(&self, tenant_id: &str, delivery_id: &str) -> Result<()> {
        let request = self.request(pb::ReplayDeadLetterRequest {
            tenant_id: tenant_id.to_owned(),
            delivery_id: delivery_id.to_owned(),
        });
        self.admin()
            .replay_dead_letter(request)
            .await
            .map(drop)
            .map_err(|s| ClientError::refused("webhook replay", &s))
    }

    /// `case list`: one page of the worklist, most urgent first.
    pub async fn list_cases(&self, request: pb::ListCasesRequest) -> Result<pb::ListCasesResponse> {
        self.review()
            .list_cases(self.request(request))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("case list", &s))
    }

    /// `case show`.
    pub async fn get_case(&self, case_id: &str) -> Result<pb::Case> {
        let request = self.request(pb::GetCaseRequest {
            case_id: case_id.to_owned(),
        });
        self.review()
            .get_case(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("case show", &s))
    }

    /// `case review`.
    pub async fn submit_review(&self, request: pb::SubmitReviewRequest) -> Result<pb::Review> {
        self.review()
            .submit_review(self.request(request))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("case review", &s))
    }

    /// `case export-wav`: the PCG as one WAV file.
    pub async fn pcg_wav(&self, case_id: &str) -> Result<Vec<u8>> {
        const CALL: &str = "case export-wav";
        let request = self.request(pb::GetAudioRequest {
            case_id: case_id.to_owned(),
            format: pb::AudioFormat::Wav as i32,
            include_ecg: false,
        });
        let mut stream = self
            .review()
            .get_audio(request)
            .await
            .map_err(|s| ClientError::refused(CALL, &s))?
            .into_inner();
        let mut wav = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| ClientError::refused(CALL, &s))?
        {
            if let Some(pb::audio_chunk::Kind::Data(d)) = chunk.kind
                && d.stream() == pb::SignalStream::Pcg
            {
                wav.extend_from_slice(&d.data);
            }
        }
        if wav.is_empty() {
            return Err(ClientError::Missing {
                call: CALL,
                what: "audio",
            });
        }
        Ok(wav)
    }

    /// `case export-wfdb`: the record's files, each named by a plain file name (checked).
    pub async fn wfdb_record(&self, case_id: &str) -> Result<Vec<pb::WfdbFile>> {
        let request = self.request(pb::ExportRecordingWfdbRequest {
            recording_id: case_id.to_owned(),
        });
        let record = self
            .programs()
            .export_recording_wfdb(request)
            .await
            .map_err(|s| ClientError::refused("case export-wfdb", &s))?
            .into_inner();
        for f in &record.files {
            let plain = std::path::Path::new(&f.name)
                .file_name()
                .is_some_and(|n| n == std::ffi::OsStr::new(&f.name));
            if !plain {
                return Err(ClientError::UnsafeFileName(f.name.clone()));
            }
        }
        Ok(record.files)
    }

    /// `case audit`: every audit event of one case (or of the tenant), newest first.
    pub async fn audit_events(&self, case_id: Option<&str>) -> Result<Vec<pb::AuditEvent>> {
        let mut events = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = self.request(pb::ListAuditEventsRequest {
                case_id: case_id.unwrap_or_default().to_owned(),
                page_size: AUDIT_PAGE,
                page_token,
            });
            let page = self
                .review()
                .list_audit_events(request)
                .await
                .map_err(|s| ClientError::refused("case audit", &s))?
                .into_inner();
            events.extend(page.events);
            if page.next_page_token.is_empty() {
                return Ok(events);
            }
            page_token = page.next_page_token;
        }
    }

    /// `program report`.
    pub async fn program_report(&self, program_id: &str) -> Result<pb::ProgramReport> {
        let request = self.request(pb::GetProgramReportRequest {
            program_id: program_id.to_owned(),
        });
        self.programs()
            .get_program_report(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("program report", &s))
    }

    /// A consent record given at `given_at`.
    pub fn consent(
        recorded_by: String,
        given_at: std::time::SystemTime,
        document_version: String,
        scope: String,
    ) -> pb::Consent {
        pb::Consent {
            recorded_by,
            given_at: Some(prost_types::Timestamp::from(given_at)),
            document_version,
            scope,
        }
    }

    /// `program import`: residents from a roster (CSV bytes) with one recorded consent; with
    /// `dry_run` nothing is stored.
    pub async fn import_residents(
        &self,
        program_id: &str,
        csv: Vec<u8>,
        consent: pb::Consent,
        dry_run: bool,
    ) -> Result<pb::ImportResidentsResponse> {
        let request = self.request(pb::ImportResidentsRequest {
            program_id: program_id.to_owned(),
            csv,
            consent: Some(consent),
            dry_run,
        });
        self.programs()
            .import_residents(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("import residents", &s))
    }

    /// `program labs`: a visit's point-of-care blood results; returns the visit with every result
    /// classified and the proposed outcome with its reasons.
    pub async fn record_lab_results(
        &self,
        visit_id: &str,
        results: Vec<pb::LabResultInput>,
    ) -> Result<pb::Visit> {
        let request = self.request(pb::RecordLabResultsRequest {
            visit_id: visit_id.to_owned(),
            results,
        });
        self.programs()
            .record_lab_results(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("program labs", &s))
    }

    /// `program questionnaire-link`: a resident's one-time link to a visit's questionnaire.
    pub async fn questionnaire_link(
        &self,
        visit_id: &str,
        lifetime_seconds: u32,
    ) -> Result<pb::QuestionnaireLink> {
        let request = self.request(pb::CreateQuestionnaireLinkRequest {
            visit_id: visit_id.to_owned(),
            questionnaire_version: 0,
            lifetime_seconds,
        });
        self.programs()
            .create_questionnaire_link(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| ClientError::refused("questionnaire link", &s))
    }

    /// `fhir export`: the FHIR R4 Bundle (JSON) of a programme, or of one of its residents.
    pub async fn fhir_bundle(
        &self,
        program_id: &str,
        resident_id: Option<&str>,
        base_url: &str,
    ) -> Result<Vec<u8>> {
        const CALL: &str = "fhir export";
        let mut client = self.programs();
        let response = match resident_id {
            Some(resident_id) => {
                let request = self.request(pb::ExportResidentFhirRequest {
                    program_id: program_id.to_owned(),
                    resident_id: resident_id.to_owned(),
                    base_url: base_url.to_owned(),
                });
                client.export_resident_fhir(request).await
            }
            None => {
                let request = self.request(pb::ExportProgramFhirRequest {
                    program_id: program_id.to_owned(),
                    base_url: base_url.to_owned(),
                });
                client.export_program_fhir(request).await
            }
        };
        let mut stream = response
            .map_err(|s| ClientError::refused(CALL, &s))?
            .into_inner();
        let mut bundle = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| ClientError::refused(CALL, &s))?
        {
            bundle.extend_from_slice(&chunk.data);
        }
        if bundle.is_empty() {
            return Err(ClientError::Missing {
                call: CALL,
                what: "bundle",
            });
        }
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_or_token_is_refused_before_any_call() {
        let e = Client::connect("not a url", "t")
            .await
            .expect_err("an invalid URL");
        assert!(matches!(e, ClientError::InvalidUrl { .. }), "{e}");
        let e = Client::connect("http://127.0.0.1:1", "bad\ntoken")
            .await
            .expect_err("an invalid token");
        assert!(matches!(e, ClientError::InvalidToken), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_server_names_the_url() {
        // Port 1 on loopback: nothing listens there on a test machine.
        let e = Client::connect("http://127.0.0.1:1", "t")
            .await
            .expect_err("nothing listens on port 1");
        assert_eq!(e.to_string(), "cannot connect to http://127.0.0.1:1");
        assert!(std::error::Error::source(&e).is_some());
    }
}

//! What a visit gathers: the questionnaire response, a set of spot vital signs and the
//! recordings of the auscultation sites.
//!
//! Each is checked before it is stored: a response against the questionnaire version it names,
//! vitals through [`super::spot`], a recording for being complete, of the visit's resident and
//! made at the site it is linked as. Must never link one recording to two visits or sites.

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::programs::{LinkOutcome, VisitLink, VisitResponse};
use auscult_store::recordings::{RecordingRow, state};
use auscult_store::{CaseId, TenantId, now_ms};
use prost::Message;

use super::fields::{id, invalid};
use super::{ProgramApi, STAFF, questionnaire, spot, subject_of};
use crate::convert;
use crate::error::{Result, ServerError};

impl ProgramApi {
    pub(crate) async fn submit_response_inner(
        &self,
        caller: &Caller,
        req: pb::SubmitQuestionnaireResponseRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(STAFF)?;
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
                &VisitResponse {
                    visit_id: &visit.id,
                    subject_id: &subject_of(&resident),
                    version: req.questionnaire_version,
                    response: &response.encode_to_vec(),
                },
                now_ms(),
            )
            .await?;
        if !stored {
            return Err(ServerError::NotFound("visit"));
        }
        self.reread_visit(tenant_id, &visit.id).await
    }

    pub(crate) async fn record_vitals_inner(
        &self,
        caller: &Caller,
        req: pb::RecordVitalsRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(STAFF)?;
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
                &subject_of(&resident),
                &vitals.encode_to_vec(),
                now,
            )
            .await?;
        if !stored {
            return Err(ServerError::NotFound("visit"));
        }
        self.reread_visit(tenant_id, &visit.id).await
    }

    async fn recording_by_upload(
        &self,
        tenant_id: &TenantId,
        upload_id: &str,
    ) -> Result<RecordingRow> {
        let ids = self
            .state
            .store
            .recording_ids_by_upload(tenant_id, upload_id)
            .await?;
        match ids.as_slice() {
            [one] => self
                .state
                .store
                .get_recording(tenant_id, &CaseId::new(one.as_str()))
                .await?
                .ok_or(ServerError::NotFound("recording")),
            [] => Err(ServerError::NotFound("recording")),
            _ => Err(invalid(
                "several devices used this upload id: link by recording_id",
            )),
        }
    }

    pub(crate) async fn link_inner(
        &self,
        caller: &Caller,
        req: pb::LinkRecordingRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
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
                .get_recording(tenant_id, &CaseId::new(id(&req.recording_id, "recording")?))
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
                &VisitLink {
                    visit_id: &visit.id,
                    site,
                    recording_id: &CaseId::new(row.id.as_str()),
                    subject_id: &subject_of(&resident),
                },
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

    /// The resident's complete recordings within 12 hours of the visit, at one of the four
    /// sites and linked to no visit yet: what staff may link to it. Audited as
    /// `visit.candidates` (it shows when and where the resident was recorded).
    pub(crate) async fn link_candidates_inner(
        &self,
        caller: &Caller,
        visit_id: &str,
    ) -> Result<Vec<RecordingRow>> {
        const WINDOW_MS: i64 = 12 * 3600 * 1000;
        let tenant_id = caller.tenant_with(STAFF)?;
        let (visit, resident) = self.visit(tenant_id, visit_id).await?;
        let filter = auscult_store::recordings::CaseFilter {
            subject_id: Some(resident.resident.subject_id.clone()),
            from_ms: Some(visit.visited_at_ms - WINDOW_MS),
            until_ms: Some(visit.visited_at_ms + WINDOW_MS),
            ..Default::default()
        };
        let rows = self
            .state
            .store
            .list_cases(tenant_id, &filter, None, 100)
            .await?;
        let linked: std::collections::HashSet<String> = self
            .state
            .store
            .list_links(tenant_id, &visit.program_id, None)
            .await?
            .into_iter()
            .map(|l| l.recording_id)
            .collect();
        let candidates: Vec<RecordingRow> = rows
            .into_iter()
            .filter(|r| {
                r.state == state::COMPLETE
                    && auscult_triage::Site::parse(&r.meta.site).is_some()
                    && !linked.contains(&r.id)
            })
            .collect();
        self.state
            .store
            .audit_subjects(
                &caller.actor(),
                "visit.candidates",
                &[subject_of(&resident)],
                now_ms(),
            )
            .await?;
        Ok(candidates)
    }
}

//! Visits: opening one for a consenting resident at a programme site, reading one or a list
//! (audited per subject), and a clinician confirming its outcome.
//!
//! A visit's proposed outcome is computed from its recordings and blood results on every read ([`super::outcome`]);
//! only the confirmed outcome is stored. An outcome is never confirmed for a visit with nothing
//! to review (no recordings and no blood results).

use std::collections::HashMap;

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::labs::LabRow;
use auscult_store::programs::{LinkRow, OutcomeDecision};
use auscult_store::{SubjectId, now_ms};

use super::fields::{MAX_NOTE, id, invalid, text};
use super::messages::visit_pb;
use super::outcome::Outcome;
use super::{CONFIRMERS, PERSON_READERS, ProgramApi, STAFF, subject_of};
use crate::convert;
use crate::error::{Result, ServerError};

impl ProgramApi {
    pub(crate) async fn create_visit_inner(
        &self,
        caller: &Caller,
        req: pb::CreateVisitRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(STAFF)?;
        let req = &req;
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
        visit_pb(&visit, &[], &[])
    }

    pub(crate) async fn get_visit_inner(
        &self,
        caller: &Caller,
        req: pb::GetVisitRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        let message = self.visit_message(tenant_id, &visit).await?;
        self.state
            .store
            .audit_subjects(
                &caller.actor(),
                "visit.get",
                &[subject_of(&resident)],
                now_ms(),
            )
            .await?;
        Ok(message)
    }

    pub(crate) async fn list_visits_inner(
        &self,
        caller: &Caller,
        req: pb::ListVisitsRequest,
    ) -> Result<pb::ListVisitsResponse> {
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let req = &req;
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
        let labs = self
            .state
            .store
            .list_visit_labs(tenant_id, &program.id, None)
            .await?;
        let mut labs_by_visit: HashMap<&str, Vec<&LabRow>> = HashMap::new();
        for l in &labs {
            labs_by_visit
                .entry(l.visit_id.as_str())
                .or_default()
                .push(l);
        }
        let residents = self
            .state
            .store
            .list_residents(tenant_id, &program.id)
            .await?;
        let subject_by_resident: HashMap<&str, SubjectId> = residents
            .iter()
            .map(|r| (r.id.as_str(), subject_of(r)))
            .collect();
        let mut subjects: Vec<SubjectId> = visits
            .iter()
            .filter_map(|v| subject_by_resident.get(v.resident_id.as_str()).cloned())
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        let messages = visits
            .iter()
            .map(|v| {
                visit_pb(
                    v,
                    by_visit.get(v.id.as_str()).map_or(&[][..], Vec::as_slice),
                    labs_by_visit
                        .get(v.id.as_str())
                        .map_or(&[][..], Vec::as_slice),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        self.state
            .store
            .audit_subjects(&caller.actor(), "visit.list", &subjects, now_ms())
            .await?;
        Ok(pb::ListVisitsResponse { visits: messages })
    }

    pub(crate) async fn confirm_inner(
        &self,
        caller: &Caller,
        req: pb::ConfirmOutcomeRequest,
    ) -> Result<pb::Visit> {
        let tenant_id = caller.tenant_with(CONFIRMERS)?;
        let req = &req;
        let outcome = match pb::VisitOutcome::try_from(req.outcome) {
            Ok(pb::VisitOutcome::Normal) => Outcome::Normal,
            Ok(pb::VisitOutcome::Refer) => Outcome::Refer,
            Ok(pb::VisitOutcome::ReRecord) => Outcome::ReRecord,
            Ok(pb::VisitOutcome::FollowUp) => Outcome::FollowUp,
            _ => {
                return Err(invalid(
                    "outcome must be NORMAL, REFER, RE_RECORD or FOLLOW_UP",
                ));
            }
        };
        let note = text(&req.note, "note", MAX_NOTE, false)?;
        let (visit, resident) = self.visit(tenant_id, &req.visit_id).await?;
        let links = self
            .state
            .store
            .list_links(tenant_id, &visit.program_id, Some(&visit.id))
            .await?;
        if links.is_empty()
            && self
                .state
                .store
                .list_visit_labs(tenant_id, &visit.program_id, Some(&visit.id))
                .await?
                .is_empty()
        {
            return Err(ServerError::FailedPrecondition(
                "the visit has no recordings or blood results to review".into(),
            ));
        }
        let confirmed = self
            .state
            .store
            .confirm_outcome(
                tenant_id,
                &caller.actor(),
                &OutcomeDecision {
                    visit_id: &visit.id,
                    subject_id: &subject_of(&resident),
                    outcome: outcome.as_str(),
                    note: &note,
                },
                now_ms(),
            )
            .await?;
        if !confirmed {
            return Err(ServerError::NotFound("visit"));
        }
        tracing::info!(visit_id = %visit.id, outcome = outcome.as_str(), "visit outcome confirmed");
        self.reread_visit(tenant_id, &visit.id).await
    }
}

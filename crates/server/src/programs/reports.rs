//! The programme's outputs: the report (counts and CSV), FHIR bundles of a resident or of the
//! whole programme, and one recording as WFDB.
//!
//! This module authorises, applies consent (residents who withdrew are not exported) and writes
//! the audit events before anything leaves; the counting lives in [`super::outcome`] and the
//! assembly in [`super::export`].

use crate::auth::Caller;
use auscult_proto::v1 as pb;
use auscult_store::programs::ResidentRow;
use auscult_store::recordings::state;
use auscult_store::{CaseId, SubjectId, TenantId, now_ms};

use super::fields::id;
use super::{
    EXPORTERS, PERSON_READERS, ProgramApi, RECORDING_READERS, export, labs, outcome, subject_of,
};
use crate::convert;
use crate::error::{Result, ServerError};

/// Bundle bytes per streamed message.
const EXPORT_CHUNK_BYTES: usize = 256 * 1024;

impl ProgramApi {
    pub(crate) async fn report_inner(
        &self,
        caller: &Caller,
        req: pb::GetProgramReportRequest,
    ) -> Result<pb::ProgramReport> {
        let tenant_id = caller.tenant_with(PERSON_READERS)?;
        let program = self.program(tenant_id, &req.program_id).await?;
        let store = &self.state.store;
        let residents = store.list_residents(tenant_id, &program.id).await?;
        let sites = store.list_sites(tenant_id, &program.id).await?;
        let visits = store.list_visits(tenant_id, &program.id, None).await?;
        let links = store.list_links(tenant_id, &program.id, None).await?;
        let lab_rows = store.list_visit_labs(tenant_id, &program.id, None).await?;
        let report = outcome::report(&residents, &sites, &visits, &links, &lab_rows);
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
        let lab_counts = |c: &outcome::Counts| -> Vec<pb::LabReportCount> {
            c.labs_out_of_range
                .iter()
                .map(|(a, visits)| pb::LabReportCount {
                    analyte: labs::analyte_pb(a) as i32,
                    visits,
                })
                .collect()
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
                    labs_out_of_range: lab_counts(c),
                })
                .collect(),
            csv,
            generated_at: Some(convert::timestamp(now_ms())),
            labs_out_of_range: lab_counts(&report.totals),
        })
    }

    /// Builds a bundle of `residents` (audited as `fhir.export` per subject, and per recording it
    /// includes) and splits it.
    async fn export_bundle(
        &self,
        caller: &Caller,
        tenant_id: &TenantId,
        base_url: &str,
        bundle_id: &str,
        residents: &[ResidentRow],
    ) -> Result<Vec<pb::ExportChunk>> {
        let mut b = export::builder(base_url)?;
        let subjects: Vec<SubjectId> = residents.iter().map(subject_of).collect();
        self.state
            .store
            .audit_subjects(&caller.actor(), "fhir.export", &subjects, now_ms())
            .await?;
        let mut recordings = Vec::new();
        for r in residents {
            recordings.extend(export::add_resident(&self.state, tenant_id, &mut b, r).await?);
        }
        // Each recording the bundle carries is audited too, with its case, so the case's own
        // trail shows that it left in an export.
        if !recordings.is_empty() {
            let cases: Vec<(CaseId, SubjectId)> = recordings
                .iter()
                .map(|(recording, subject)| {
                    (
                        CaseId::new(recording.as_str()),
                        SubjectId::new(subject.as_str()),
                    )
                })
                .collect();
            self.state
                .store
                .audit(&caller.actor(), "fhir.export", &cases, now_ms())
                .await?;
        }
        let entries = b.len();
        // Building and serialising the bundle (base64 of every recording) runs off the async
        // threads.
        let id = bundle_id.to_owned();
        let bytes = self
            .state
            .heavy
            .run(move || export::finish(b, &id))
            .await??;
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

    pub(crate) async fn export_resident_inner(
        &self,
        caller: &Caller,
        req: pb::ExportResidentFhirRequest,
    ) -> Result<Vec<pb::ExportChunk>> {
        let tenant_id = caller.tenant_with(EXPORTERS)?;
        let req = &req;
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
        self.export_bundle(caller, tenant_id, &req.base_url, &bundle_id, &[resident])
            .await
    }

    pub(crate) async fn export_program_inner(
        &self,
        caller: &Caller,
        req: pb::ExportProgramFhirRequest,
    ) -> Result<Vec<pb::ExportChunk>> {
        let tenant_id = caller.tenant_with(EXPORTERS)?;
        let req = &req;
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
        self.export_bundle(caller, tenant_id, &req.base_url, &bundle_id, &residents)
            .await
    }

    pub(crate) async fn export_wfdb_inner(
        &self,
        caller: &Caller,
        req: pb::ExportRecordingWfdbRequest,
    ) -> Result<pb::WfdbRecord> {
        let tenant_id = caller.tenant_with(RECORDING_READERS)?;
        let row = self
            .state
            .store
            .get_recording(tenant_id, &CaseId::new(id(&req.recording_id, "recording")?))
            .await?
            .filter(|r| r.state == state::COMPLETE)
            .ok_or(ServerError::NotFound("recording"))?;
        self.state
            .store
            .audit(
                &caller.actor(),
                "case.wfdb",
                &[crate::cases::audited(&row)],
                now_ms(),
            )
            .await?;
        export::wfdb(&self.state, &row).await
    }
}

//! The programme's outputs: the report (counts and CSV), FHIR bundles of a resident or of the
//! whole programme, and one recording as WFDB.
//!
//! This module authorises, applies consent (residents who withdrew are not exported) and writes
//! the audit events before anything leaves; the counting lives in [`super::outcome`] and the
//! assembly in [`super::export`]. A FHIR bundle is checked and its subjects audited before the
//! call answers; it is then written and sent piece by piece ([`FhirExport::send`]), so a failure
//! midway ends the stream with an error after part of the JSON (the client must discard it).

use std::sync::Arc;

use crate::auth::Caller;
use auscult_fhir::BundleWriter;
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
use crate::outbound::{Batches, Outbox};
use crate::state::AppState;

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

    /// Checks a FHIR export's request and audits its subjects (`fhir.export`), before anything is
    /// written: what is left is writing and sending the bundle ([`FhirExport::send`]).
    async fn fhir_export(
        &self,
        caller: &Caller,
        tenant_id: &TenantId,
        base_url: &str,
        bundle_id: String,
        residents: Vec<ResidentRow>,
    ) -> Result<FhirExport> {
        let writer = export::writer(base_url, &bundle_id)?;
        let subjects: Vec<SubjectId> = residents.iter().map(subject_of).collect();
        self.state
            .store
            .audit_subjects(&caller.actor(), "fhir.export", &subjects, now_ms())
            .await?;
        Ok(FhirExport {
            state: Arc::clone(&self.state),
            caller: caller.clone(),
            tenant_id: tenant_id.clone(),
            bundle_id,
            residents,
            writer,
        })
    }

    pub(crate) async fn export_resident_inner(
        &self,
        caller: &Caller,
        req: pb::ExportResidentFhirRequest,
    ) -> Result<FhirExport> {
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
        self.fhir_export(caller, tenant_id, &req.base_url, bundle_id, vec![resident])
            .await
    }

    pub(crate) async fn export_program_inner(
        &self,
        caller: &Caller,
        req: pb::ExportProgramFhirRequest,
    ) -> Result<FhirExport> {
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
        self.fhir_export(caller, tenant_id, &req.base_url, bundle_id, residents)
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

/// A FHIR export whose request passed its checks and whose subjects are audited; the bundle is
/// written while it is sent.
#[derive(Debug)]
pub(crate) struct FhirExport {
    state: Arc<AppState>,
    caller: Caller,
    tenant_id: TenantId,
    bundle_id: String,
    residents: Vec<ResidentRow>,
    writer: BundleWriter,
}

impl FhirExport {
    /// Writes the bundle one resident, visit and recording at a time and sends it in chunks of
    /// [`EXPORT_CHUNK_BYTES`] as it goes, so the server holds one recording's entries and a
    /// chunk, never the bundle. Each recording is audited with its case (`fhir.export`), so the
    /// case's own trail shows that it left in an export, before its bytes are written.
    pub(crate) async fn send(self, out: Outbox<pb::ExportChunk>) -> Result<()> {
        let FhirExport {
            state,
            caller,
            tenant_id,
            bundle_id,
            residents,
            writer: mut b,
        } = self;
        let mut chunks = Batches::new(EXPORT_CHUNK_BYTES);
        let mut definitions = export::Definitions::new();
        for resident in &residents {
            export::add_patient(&mut b, resident)?;
            for visit in export::visits(&state, &tenant_id, resident).await? {
                export::add_visit(
                    &state,
                    &tenant_id,
                    &mut b,
                    resident,
                    &visit,
                    &mut definitions,
                )
                .await?;
                let recordings =
                    export::linked_recordings(&state, &tenant_id, resident, &visit).await?;
                if !recordings.is_empty() {
                    let cases: Vec<(CaseId, SubjectId)> =
                        recordings.iter().map(crate::cases::audited).collect();
                    state
                        .store
                        .audit(&caller.actor(), "fhir.export", &cases, now_ms())
                        .await?;
                }
                for row in &recordings {
                    send_full(&out, &mut chunks, &b.take()).await?;
                    b = export::add_recording(&state, b, resident, row).await?;
                }
                send_full(&out, &mut chunks, &b.take()).await?;
            }
        }
        let entries = b.len();
        send_full(&out, &mut chunks, &b.finish()).await?;
        let bytes = chunks.values();
        if let Some((_, chunk)) = chunks.rest() {
            out.send(pb::ExportChunk { data: chunk }).await?;
        }
        tracing::info!(bundle_id, entries, bytes, "FHIR bundle exported");
        Ok(())
    }
}

/// Sends every chunk `bytes` completes; keeps the rest for the next bytes.
async fn send_full(
    out: &Outbox<pb::ExportChunk>,
    chunks: &mut Batches<u8>,
    mut bytes: &[u8],
) -> Result<()> {
    while let Some((_, data)) = chunks.next_full(&mut bytes) {
        out.send(pb::ExportChunk { data }).await?;
    }
    Ok(())
}

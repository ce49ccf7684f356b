//! Exports: a resident's or a programme's check-ups as a FHIR R4 collection Bundle (written
//! with `auscult-fhir`'s [`BundleWriter`]), and one recording as a WFDB record (written with
//! `auscult-recording`).
//!
//! The service checks roles, tenants and writes the audit events; this module only gathers the
//! tenant's rows it is given ids for and adds them to the bundle, a resident's Patient, one
//! visit's entries, one recording's at a time, so the bundle can be sent as it is written
//! ([`super::reports`]). Resource ids are derived from stored ids (`<visit>-hr`,
//! `<visit>-lab-<LOINC>`, `m-<recording>` ...), so an export of the same data is the same Bundle
//! apart from its timestamp. Must never read another tenant's rows or log personal data.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use auscult_dsp::{Hz, Seconds};
use auscult_fhir::{
    BundleWriter, Gender, LabObservationInput, MurmurFindingInput, MurmurStatus, MurmurTiming,
    News2Input, PatientInput, QuestionnaireDef, RecordingInput, VitalObservationInput, VitalValue,
};
use auscult_proto::v1 as pb;
use auscult_recording::export::{CycleSounds, ecg_on_pcg_grid, writable_heart_sounds};
use auscult_store::analysis::StoredAnalysis;
use auscult_store::programs::{ResidentRow, VisitRow};
use auscult_store::recordings::{EcgMode, RecordingRow, StreamKind, analysis_state};
use auscult_store::{CaseId, TenantId};
use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;

use super::questionnaire;
use crate::convert;
use crate::error::{Result, ServerError};
use crate::parts::{StreamParts, WavFile};
use crate::state::AppState;

/// The default base of the entries' `fullUrl`.
pub const DEFAULT_BASE_URL: &str = "https://auscult.invalid/fhir";
/// The identifier system of residents' municipal numbers.
const RESIDENT_NUMBER_SYSTEM: &str = "https://auscult.invalid/fhir/sid/resident-number";

fn fhir(e: auscult_fhir::FhirError) -> ServerError {
    ServerError::InvalidArgument(format!("export: {e}"))
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn site_words(site: &str) -> String {
    format!("{site} area")
}

/// Starts bundle `id`, stamped now, on `base_url` (empty means [`DEFAULT_BASE_URL`]).
pub fn writer(base_url: &str, id: &str) -> Result<BundleWriter> {
    let base = if base_url.is_empty() {
        DEFAULT_BASE_URL
    } else {
        base_url
    };
    BundleWriter::new(base, id, &Utc::now()).map_err(fhir)
}

fn patient(r: &ResidentRow) -> PatientInput {
    let res = &r.resident;
    PatientInput {
        id: r.id.clone(),
        identifier: (!res.resident_number.is_empty()).then(|| {
            (
                RESIDENT_NUMBER_SYSTEM.to_owned(),
                res.resident_number.clone(),
            )
        }),
        family: (!res.family_name.is_empty()).then(|| res.family_name.clone()),
        given: if res.given_name.is_empty() {
            Vec::new()
        } else {
            vec![res.given_name.clone()]
        },
        gender: match res.gender.as_str() {
            "male" => Gender::Male,
            "female" => Gender::Female,
            "other" => Gender::Other,
            _ => Gender::Unknown,
        },
        birth_date: NaiveDate::parse_from_str(&res.birth_date, "%Y-%m-%d").ok(),
    }
}

/// The PCG of a complete recording as a 16-bit WAV file, in memory (a Binary carries it whole,
/// in base64), read one stored part at a time.
async fn wav(state: &AppState, row: &RecordingRow) -> Result<Vec<u8>> {
    let mut file = WavFile::open(state, row, StreamKind::Pcg).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(file.len()).unwrap_or(0));
    while let Some(piece) = file.next(state).await? {
        bytes.extend_from_slice(&piece);
    }
    Ok(bytes)
}

fn vitals_resources(
    b: &mut BundleWriter,
    visit: &VisitRow,
    patient_id: &str,
    v: &pb::SpotVitals,
) -> Result<()> {
    let effective = utc(v
        .measured_at
        .as_ref()
        .map_or(visit.visited_at_ms, convert::millis));
    let device = (!v.source.is_empty()).then(|| v.source.clone());
    let mut values = Vec::new();
    if let Some(x) = v.heart_rate_bpm {
        values.push(("hr", VitalValue::HeartRate(x)));
    }
    if let Some(x) = v.respiratory_rate_per_min {
        values.push(("rr", VitalValue::RespiratoryRate(x)));
    }
    if let Some(x) = v.spo2_percent {
        values.push(("spo2", VitalValue::SpO2(x)));
    }
    if let Some(x) = v.temperature_c {
        values.push(("temp", VitalValue::Temperature(x)));
    }
    if let (Some(systolic), Some(diastolic)) = (v.systolic_mmhg, v.diastolic_mmhg) {
        values.push((
            "bp",
            VitalValue::BloodPressure {
                systolic,
                diastolic,
            },
        ));
    }
    let mut ids = Vec::new();
    for (suffix, value) in values {
        let id = format!("{}-{suffix}", visit.id);
        b.vital(&VitalObservationInput {
            id: id.clone(),
            patient_id: patient_id.to_owned(),
            effective,
            device: device.clone(),
            value,
        })
        .map_err(fhir)?;
        ids.push(id);
    }
    let inputs = super::spot::check(v)?;
    let score = super::spot::score(&inputs);
    b.news2(&News2Input {
        id: format!("{}-news2", visit.id),
        patient_id: patient_id.to_owned(),
        effective,
        score: score.aggregate,
        risk: score.risk.as_str().to_owned(),
        derived_from: ids,
    })
    .map_err(fhir)?;
    Ok(())
}

fn murmur(
    row: &RecordingRow,
    a: &StoredAnalysis,
    patient_id: &str,
    media_id: &str,
) -> MurmurFindingInput {
    let status = match a.murmur.status {
        auscult_dsp::MurmurCall::Present => MurmurStatus::Present,
        auscult_dsp::MurmurCall::Absent => MurmurStatus::Absent,
        auscult_dsp::MurmurCall::Unknown => MurmurStatus::Unknown(
            a.murmur
                .unknown_reason
                .clone()
                .unwrap_or_else(|| "could not be judged".into()),
        ),
    };
    MurmurFindingInput {
        id: format!("mu-{}", row.id),
        patient_id: patient_id.to_owned(),
        effective: utc(row.meta.started_at_ms),
        timing: a.murmur.timing.map(|t| match t {
            auscult_dsp::MurmurTiming::Systolic => MurmurTiming::Systolic,
            auscult_dsp::MurmurTiming::Diastolic => MurmurTiming::Diastolic,
            auscult_dsp::MurmurTiming::Both => MurmurTiming::Both,
        }),
        status,
        confidence: Some(f64::from(a.murmur.confidence)),
        limit: a
            .murmur
            .softest_grade
            .and_then(auscult_dsp::vocab::softest_grade_words),
        site: Some(site_words(&row.meta.site)),
        media_id: media_id.to_owned(),
    }
}

/// Adds a resident's Patient to `b`.
pub fn add_patient(b: &mut BundleWriter, resident: &ResidentRow) -> Result<()> {
    b.patient(&patient(resident)).map_err(fhir)?;
    Ok(())
}

/// The visits of a resident, oldest first.
pub async fn visits(
    state: &AppState,
    tenant_id: &TenantId,
    resident: &ResidentRow,
) -> Result<Vec<VisitRow>> {
    Ok(state
        .store
        .list_visits(tenant_id, &resident.resident.program_id, Some(&resident.id))
        .await?)
}

/// The questionnaire definitions an export has read, by version: read once per export.
pub type Definitions = BTreeMap<u32, QuestionnaireDef>;

/// Adds one visit's entries but its recordings to `b`: vitals and NEWS2, point-of-care blood
/// results, the questionnaire response with its questionnaire.
pub async fn add_visit(
    state: &AppState,
    tenant_id: &TenantId,
    b: &mut BundleWriter,
    resident: &ResidentRow,
    visit: &VisitRow,
    definitions: &mut Definitions,
) -> Result<()> {
    let program_id = &resident.resident.program_id;
    if let Some(bytes) = &visit.vitals {
        let v = pb::SpotVitals::decode(bytes.as_slice())
            .map_err(|_| ServerError::Corrupt("stored vitals do not decode"))?;
        vitals_resources(b, visit, &resident.id, &v)?;
    }
    for lab in state
        .store
        .list_visit_labs(tenant_id, program_id, Some(&visit.id))
        .await?
    {
        b.lab(&LabObservationInput {
            id: format!("{}-lab-{}", visit.id, lab.analyte.loinc()),
            patient_id: resident.id.clone(),
            effective: utc(lab.measured_at_ms),
            result: super::labs::checked(&lab)?,
        })
        .map_err(fhir)?;
    }
    if let (Some(version), Some(bytes)) = (visit.response_version, &visit.response) {
        let response = pb::QuestionnaireResponse::decode(bytes.as_slice())
            .map_err(|_| ServerError::Corrupt("stored response does not decode"))?;
        let def = match definitions.entry(version) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                e.insert(stored_definition(state, tenant_id, program_id, version).await?)
            }
        };
        b.questionnaire(def).map_err(fhir)?;
        let input =
            questionnaire::response(def, &format!("{}-qr", visit.id), &resident.id, &response)?;
        b.questionnaire_response(def, &input).map_err(fhir)?;
    }
    Ok(())
}

/// The definition of a stored questionnaire version a response was given to.
async fn stored_definition(
    state: &AppState,
    tenant_id: &TenantId,
    program_id: &str,
    version: u32,
) -> Result<QuestionnaireDef> {
    let row = state
        .store
        .get_questionnaire(tenant_id, program_id, Some(version))
        .await?
        .ok_or(ServerError::Corrupt(
            "a response's questionnaire is missing",
        ))?;
    let q = pb::Questionnaire::decode(row.definition.as_slice())
        .map_err(|_| ServerError::Corrupt("stored questionnaire does not decode"))?;
    questionnaire::definition(program_id, version, &q)
}

/// The recordings linked to one visit (a link whose recording is gone is skipped).
pub async fn linked_recordings(
    state: &AppState,
    tenant_id: &TenantId,
    resident: &ResidentRow,
    visit: &VisitRow,
) -> Result<Vec<RecordingRow>> {
    let links = state
        .store
        .list_links(tenant_id, &resident.resident.program_id, Some(&visit.id))
        .await?;
    let mut rows = Vec::new();
    for link in links {
        if let Some(row) = state
            .store
            .get_recording(tenant_id, &CaseId::new(link.recording_id.as_str()))
            .await?
        {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Adds one recording of a resident's visit to `b`: its Media and Binary (the WAV file in
/// base64), and the murmur finding of an analysed one. Encoding and serialising run off the
/// async threads, so `b` goes there and back.
pub async fn add_recording(
    state: &AppState,
    mut b: BundleWriter,
    resident: &ResidentRow,
    row: &RecordingRow,
) -> Result<BundleWriter> {
    let media_id = format!("m-{}", row.id);
    let input = RecordingInput {
        media_id: media_id.clone(),
        binary_id: format!("b-{}", row.id),
        patient_id: resident.id.clone(),
        created: utc(row.meta.started_at_ms),
        content_type: "audio/wav".into(),
        bytes: wav(state, row).await?,
        site: Some(site_words(&row.meta.site)),
        duration_s: (row.duration_s > 0.0).then_some(row.duration_s),
    };
    let finding = match (&row.analysis_json, row.analysis_state.as_str()) {
        (Some(json), analysis_state::DONE) => Some(murmur(
            row,
            &StoredAnalysis::from_json(json)?,
            &resident.id,
            &media_id,
        )),
        _ => None,
    };
    state
        .heavy
        .run(move || {
            b.recording(&input).map_err(fhir)?;
            drop(input);
            if let Some(finding) = &finding {
                b.murmur(finding).map_err(fhir)?;
            }
            Ok(b)
        })
        .await?
}

/// The WFDB files of a complete recording: `<name>.hea`, `<name>.dat` (PCG, plus the raw ECG
/// resampled to the PCG's rate when recorded) and `<name>.seg` with the analysis's S1/S2 spans of
/// accepted cycles (absent without an analysis). A record that could not be sent is refused
/// before any sample is read ([`wfdb_fits`]); the others are decoded one stored part at a time.
pub async fn wfdb(state: &AppState, row: &RecordingRow) -> Result<pb::WfdbRecord> {
    let pcg = StreamParts::list(state, row, StreamKind::Pcg).await?;
    let ecg = if row.meta.ecg()? == EcgMode::Samples && row.meta.ecg_rate_hz > 0 {
        Some(StreamParts::list(state, row, StreamKind::Ecg).await?)
    } else {
        None
    };
    wfdb_fits(
        pcg.values(),
        ecg.as_ref().map(StreamParts::values),
        state.config.max_message_bytes,
    )?;
    let pcg = pcg.decode_all(state).await?;
    let ecg = match ecg {
        Some(parts) => Some(parts.decode_all(state).await?),
        None => None,
    };
    // Resampling and writing the files run off the async threads.
    let row = row.clone();
    state.heavy.run(move || write_wfdb(&row, &pcg, ecg)).await?
}

/// Whether a WFDB record of `pcg` samples (and `ecg` raw ECG samples) can be exported: it goes
/// out as one message, so its signal file (16 bits per sample and signal) must fit in
/// `max_message_bytes`, and the samples decoded to write it (4 bytes each) may take at most twice
/// that (more only when the ECG was sampled faster than the PCG). Checked from the parts' counts
/// before any sample is read, this bounds what an export holds to a small multiple of the
/// message limit.
fn wfdb_fits(pcg: u64, ecg: Option<u64>, max_message_bytes: usize) -> Result<()> {
    let limit = max_message_bytes as u64;
    let signals = if ecg.is_some() { 2 } else { 1 };
    let record = pcg.saturating_mul(2 * signals);
    let decoded = pcg.saturating_add(ecg.unwrap_or(0)).saturating_mul(4);
    if record > limit || decoded > limit.saturating_mul(2) {
        return Err(ServerError::ResourceExhausted(format!(
            "the recording is too long for one WFDB record: {record} bytes of signal, \
             {decoded} bytes of samples to decode; a reply holds at most {limit} bytes"
        )));
    }
    Ok(())
}

/// The WFDB files of `row` from its stored PCG (and raw ECG) samples.
fn write_wfdb(row: &RecordingRow, pcg: &[f32], ecg: Option<Vec<f32>>) -> Result<pb::WfdbRecord> {
    let rate = f64::from(row.meta.pcg_rate_hz);
    let ecg = ecg.map(|raw| {
        let ecg_rate = Hz(f64::from(row.meta.ecg_rate_hz));
        ecg_on_pcg_grid(raw, ecg_rate, Hz(rate), pcg.len())
    });
    let sounds = match (&row.analysis_json, row.analysis_state.as_str()) {
        (Some(json), analysis_state::DONE) => {
            let a = StoredAnalysis::from_json(json)?;
            let accepted = a.cycles.iter().filter(|c| c.accepted);
            writable_heart_sounds(
                accepted.map(|c| CycleSounds { s1: c.s1, s2: c.s2 }),
                Seconds(pcg.len() as f64 / rate),
            )
        }
        _ => Vec::new(),
    };
    let name = format!("rec_{}", row.id.replace('-', ""));
    let dir = tempfile::tempdir()?;
    let written = auscult_recording::write_wfdb_record(
        dir.path(),
        &name,
        Hz(rate),
        pcg,
        ecg.as_deref(),
        &sounds,
    )
    .map_err(|e| {
        ServerError::FailedPrecondition(format!("recording cannot be written as WFDB: {e}"))
    })?;
    let mut paths = vec![written.header, written.data];
    paths.extend(written.annotations);
    let mut files = Vec::new();
    let unique: BTreeSet<_> = paths.into_iter().collect();
    for path in unique {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(pb::WfdbFile {
            name: file_name,
            data: std::fs::read(&path)?,
        });
    }
    Ok(pb::WfdbRecord {
        record_name: name,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wfdb_record_fits_in_one_message_or_is_refused() {
        let limit = 4 * 1024 * 1024;
        let mib = 1024 * 1024;
        // The PCG alone: 2 bytes a sample in the signal file.
        assert!(wfdb_fits(2 * mib, None, limit).is_ok());
        assert!(matches!(
            wfdb_fits(2 * mib + 1, None, limit),
            Err(ServerError::ResourceExhausted(_))
        ));
        // With an ECG at the PCG's rate, 4 bytes a frame: the decoded samples never decide.
        assert!(wfdb_fits(mib, Some(mib), limit).is_ok());
        assert!(wfdb_fits(mib + 1, Some(mib + 1), limit).is_err());
        assert!(wfdb_fits(mib, Some(mib / 10), limit).is_ok());
        // An ECG sampled far faster than the PCG is refused for what decoding it would take.
        assert!(wfdb_fits(1000, Some(2 * mib), limit).is_err());
        assert!(wfdb_fits(u64::MAX, Some(u64::MAX), limit).is_err());
    }
}

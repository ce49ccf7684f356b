//! Stored programme rows as protobuf messages: programmes, sites, residents with their consent,
//! and visits with their answers, spot vitals, NEWS2, point-of-care blood results, linked
//! recordings and outcomes (the proposal with its reasons).
//!
//! Pure mapping, no I/O and no authorisation: the handlers decide what may be shown and audit it
//! before calling here. A stored blob that does not decode is `Corrupt`, never a partial message.

use auscult_proto::v1 as pb;
use auscult_store::labs::LabRow;
use auscult_store::programs::{LinkRow, ProgramRow, ResidentRow, SiteRow, VisitRow};
use auscult_store::recordings::analysis_state;
use prost::Message;

use super::outcome::{self, Outcome};
use super::{labs, spot};
use crate::convert;
use crate::error::{Result, ServerError};

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
        Some(Outcome::FollowUp) => pb::VisitOutcome::FollowUp,
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

pub(super) fn program_pb(p: &ProgramRow, sites: &[SiteRow]) -> pb::Program {
    pb::Program {
        program_id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        created_at: Some(convert::timestamp(p.created_at_ms)),
        sites: sites.iter().map(site_row_pb).collect(),
        questionnaire_version: p.questionnaire_version,
    }
}

pub(super) fn site_row_pb(s: &SiteRow) -> pb::ProgramSite {
    pb::ProgramSite {
        site_id: s.id.clone(),
        program_id: s.program_id.clone(),
        name: s.name.clone(),
        address: s.address.clone(),
    }
}

pub(super) fn resident_pb(r: &ResidentRow) -> pb::Resident {
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
        address: res.address.clone(),
        phone: res.phone.clone(),
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

pub(super) fn visit_pb(
    v: &VisitRow,
    links: &[&LinkRow],
    lab_rows: &[&LabRow],
) -> Result<pb::Visit> {
    let lab_results = lab_rows
        .iter()
        .map(|l| labs::lab_result_pb(l))
        .collect::<Result<Vec<_>>>()?;
    let checked = lab_rows
        .iter()
        .map(|l| labs::checked(l))
        .collect::<Result<Vec<_>>>()?;
    let proposal = outcome::propose(links.iter().copied(), &checked);
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
        proposed_outcome: outcome_pb(proposal.outcome) as i32,
        confirmed_outcome: outcome_pb(v.confirmed_outcome.as_deref().and_then(Outcome::parse))
            as i32,
        confirmed_by: v.confirmed_by.clone().unwrap_or_default(),
        confirmed_at: v.confirmed_at_ms.map(convert::timestamp),
        confirmation_note: v.confirmation_note.clone(),
        lab_results,
        proposal_reasons: proposal.reasons,
    })
}

//! Conversions between protobuf messages and the store's plain types.
//!
//! The only place where protobuf enums meet their stored names. Must hold no policy: validation
//! lives in `ingest` and the services, permissions in `auth`.

use auscult_dsp::{MurmurCall, MurmurTiming, Term};
use auscult_proto::v1 as pb;
use auscult_store::analysis::StoredAnalysis;
use auscult_store::recordings::{RecordingRow, SampleFormat, analysis_state};
use auscult_store::reviews::ReviewRow;

use crate::auth::Role;

/// A protobuf timestamp from Unix milliseconds.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Unix milliseconds from a protobuf timestamp (saturating).
pub fn millis(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

/// Stored site name of a site (`None` for unspecified or unknown values).
pub fn site_name(site: i32) -> Option<&'static str> {
    Some(match pb::AuscultationSite::try_from(site).ok()? {
        pb::AuscultationSite::Aortic => "aortic",
        pb::AuscultationSite::Pulmonic => "pulmonic",
        pb::AuscultationSite::Tricuspid => "tricuspid",
        pb::AuscultationSite::Mitral => "mitral",
        pb::AuscultationSite::Other => "other",
        pb::AuscultationSite::Unspecified => return None,
    })
}

/// The protobuf site of a stored site name (unspecified for an unknown one).
pub fn site_of(name: &str) -> pb::AuscultationSite {
    match name {
        "aortic" => pb::AuscultationSite::Aortic,
        "pulmonic" => pb::AuscultationSite::Pulmonic,
        "tricuspid" => pb::AuscultationSite::Tricuspid,
        "mitral" => pb::AuscultationSite::Mitral,
        "other" => pb::AuscultationSite::Other,
        _ => pb::AuscultationSite::Unspecified,
    }
}

/// Stored position name (`unspecified` for unspecified; `None` for unknown values).
pub fn position_name(position: i32) -> Option<&'static str> {
    Some(match pb::BodyPosition::try_from(position).ok()? {
        pb::BodyPosition::Unspecified => "unspecified",
        pb::BodyPosition::Supine => "supine",
        pb::BodyPosition::Sitting => "sitting",
        pb::BodyPosition::Standing => "standing",
        pb::BodyPosition::LeftLateral => "left_lateral",
        pb::BodyPosition::Other => "other",
    })
}

fn position_of(name: &str) -> pb::BodyPosition {
    match name {
        "supine" => pb::BodyPosition::Supine,
        "sitting" => pb::BodyPosition::Sitting,
        "standing" => pb::BodyPosition::Standing,
        "left_lateral" => pb::BodyPosition::LeftLateral,
        "other" => pb::BodyPosition::Other,
        _ => pb::BodyPosition::Unspecified,
    }
}

/// The sample width of a stored format name (for callers still holding the name).
pub fn format_width(name: &str) -> Option<usize> {
    SampleFormat::parse(name).map(SampleFormat::width)
}

/// The sample format of a protobuf one (`None` for unspecified or unknown).
pub fn sample_format(format: i32) -> Option<SampleFormat> {
    match pb::SampleFormat::try_from(format).ok()? {
        pb::SampleFormat::S16le => Some(SampleFormat::S16le),
        pb::SampleFormat::F32le => Some(SampleFormat::F32le),
        pb::SampleFormat::Unspecified => None,
    }
}

/// The protobuf sample format of a stored name.
pub fn format_of(name: &str) -> pb::SampleFormat {
    match SampleFormat::parse(name) {
        Some(SampleFormat::S16le) => pb::SampleFormat::S16le,
        Some(SampleFormat::F32le) => pb::SampleFormat::F32le,
        None => pb::SampleFormat::Unspecified,
    }
}

/// The protobuf role of a server role.
pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::Clinician => pb::Role::Clinician,
        Role::Nurse => pb::Role::Nurse,
        Role::ProgramStaff => pb::Role::ProgramStaff,
        Role::Device => pb::Role::Device,
        Role::Family => pb::Role::Family,
    }
}

/// The server role of a protobuf role.
pub fn role_from_pb(role: i32) -> Option<Role> {
    match pb::Role::try_from(role).ok()? {
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::Clinician => Some(Role::Clinician),
        pb::Role::Nurse => Some(Role::Nurse),
        pb::Role::ProgramStaff => Some(Role::ProgramStaff),
        pb::Role::Device => Some(Role::Device),
        pb::Role::Family => Some(Role::Family),
        pb::Role::Unspecified => None,
    }
}

/// The protobuf murmur status of the engine's call.
pub fn murmur_call_pb(call: MurmurCall) -> pb::MurmurStatus {
    match call {
        MurmurCall::Present => pb::MurmurStatus::Present,
        MurmurCall::Absent => pb::MurmurStatus::Absent,
        MurmurCall::Unknown => pb::MurmurStatus::Unknown,
    }
}

/// The protobuf murmur status of a stored call spelled as the engine spells it (the database's
/// `murmur_status` column); nothing stored (not analysed) or an unknown spelling is unspecified.
pub fn murmur_status_pb(stored: Option<&str>) -> pb::MurmurStatus {
    stored
        .and_then(<MurmurCall as Term>::parse)
        .map_or(pb::MurmurStatus::Unspecified, murmur_call_pb)
}

/// The protobuf murmur timing of the engine's.
pub fn murmur_timing_pb(timing: Option<MurmurTiming>) -> pb::MurmurTiming {
    match timing {
        Some(MurmurTiming::Systolic) => pb::MurmurTiming::Systolic,
        Some(MurmurTiming::Diastolic) => pb::MurmurTiming::Diastolic,
        Some(MurmurTiming::Both) => pb::MurmurTiming::Both,
        None => pb::MurmurTiming::Unspecified,
    }
}

/// Stored verdict name.
pub fn verdict_name(verdict: i32) -> Option<&'static str> {
    match pb::Verdict::try_from(verdict).ok()? {
        pb::Verdict::Agree => Some("agree"),
        pb::Verdict::Disagree => Some("disagree"),
        pb::Verdict::Unspecified => None,
    }
}

fn verdict_of(name: Option<&str>) -> pb::Verdict {
    match name {
        Some("agree") => pb::Verdict::Agree,
        Some("disagree") => pb::Verdict::Disagree,
        _ => pb::Verdict::Unspecified,
    }
}

/// The worklist line of a recording.
pub fn case_summary(row: &RecordingRow) -> pb::CaseSummary {
    let analysis_state = match row.analysis_state.as_str() {
        analysis_state::DONE => pb::AnalysisState::Done,
        analysis_state::FAILED => pb::AnalysisState::Failed,
        analysis_state::PENDING => pb::AnalysisState::Pending,
        _ => pb::AnalysisState::Unspecified,
    };
    pb::CaseSummary {
        case_id: row.id.clone(),
        subject_id: row.meta.subject_id.clone(),
        site: site_of(&row.meta.site) as i32,
        position: position_of(&row.meta.position) as i32,
        recorded_at: Some(timestamp(row.meta.started_at_ms)),
        received_at: Some(timestamp(row.received_at_ms)),
        device_id: row.device_id.clone(),
        analysis_state: analysis_state as i32,
        flagged: row.flagged,
        murmur_status: murmur_status_pb(row.murmur_status.as_deref()) as i32,
        heart_rate_bpm: row.heart_rate_bpm,
        priority: row.priority,
        review_count: row.review_count,
        last_verdict: verdict_of(row.last_verdict.as_deref()) as i32,
        duration_s: row.duration_s,
    }
}

/// The recording facts of a case.
pub fn recording_info(row: &RecordingRow) -> pb::RecordingInfo {
    pb::RecordingInfo {
        pcg_rate_hz: row.meta.pcg_rate_hz,
        pcg_format: format_of(&row.meta.pcg_format) as i32,
        pcg_samples: row.committed.pcg,
        ecg_rate_hz: row.meta.ecg_rate_hz,
        ecg_format: format_of(&row.meta.ecg_format) as i32,
        ecg_samples: row.committed.ecg,
        r_peaks: row.committed.r_peaks,
        payload_sha256: row.meta.payload_sha256.clone().unwrap_or_default(),
        device_serial: row.meta.device_serial.clone(),
        upload_id: row.meta.upload_id.clone(),
    }
}

fn interval(span: [f64; 2]) -> Option<pb::Interval> {
    Some(pb::Interval {
        start_s: span[0],
        end_s: span[1],
    })
}

/// The cycles of a stored analysis with the partial ones its edges cut: an S2 heard before the
/// first whole cycle, an S1 after the last (as the result contract writes them).
fn cycles(a: &StoredAnalysis) -> Vec<pb::Cycle> {
    let span = |iv: auscult_dsp::Interval| interval([iv.start.0, iv.end.0]);
    a.reported_cycles()
        .into_iter()
        .map(|c| pb::Cycle {
            r_peak_s: c.r_peak.map(|r| r.0),
            s1: c.s1.and_then(span),
            s2: c.s2.and_then(span),
            end_s: c.end.0,
            quality: c.quality,
            accepted: c.accepted,
            partial: c.partial,
        })
        .collect()
}

/// The protobuf analysis of a stored one.
pub fn analysis(a: &StoredAnalysis, analysed_at_ms: Option<i64>) -> pb::Analysis {
    let word = |t: Option<&'static str>| t.unwrap_or_default().to_owned();
    pb::Analysis {
        duration_s: a.duration_s,
        sample_rate_hz: a.sample_rate_hz,
        ecg_used: a.ecg_used,
        heart_rate_bpm: a.heart_rate_bpm,
        rhythm: a.rhythm.as_ref().map(|r| pb::Rhythm {
            heart_rate_bpm: r.heart_rate_bpm,
            rr_sd_s: r.rr_sd_s,
            rmssd_s: r.rmssd_s,
            intervals: r.intervals,
            irregular: r.irregular,
            phasic: r.phasic,
        }),
        cycles: cycles(a),
        murmur: Some(pb::Murmur {
            status: murmur_call_pb(a.murmur.status) as i32,
            timing: murmur_timing_pb(a.murmur.timing) as i32,
            phase: word(a.murmur.phase.map(|p| p.as_str())),
            shape: word(a.murmur.shape.map(|s| s.as_str())),
            pitch: word(a.murmur.pitch.map(|p| p.as_str())),
            grade: a.murmur.grade.map(u32::from).unwrap_or(0),
            softest_grade: a.murmur.softest_grade.map(u32::from),
            confidence: a.murmur.confidence,
            unknown_reason: a.murmur.unknown_reason.clone().unwrap_or_default(),
        }),
        extra_sounds: a
            .extra_sounds
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        quality: Some(pb::Quality {
            usable: a.quality.usable,
            sqi: a.quality.sqi,
            reason: a.quality.reason.clone().unwrap_or_default(),
        }),
        flagged: a.flagged,
        analysed_at: analysed_at_ms.map(timestamp),
        flag_reasons: a
            .flag_reasons
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        abnormal_score: a.abnormal_score,
        ecg_set_aside: word(a.ecg_set_aside.map(|e| e.as_str())),
    }
}

/// The protobuf review of a stored one.
pub fn review(r: &ReviewRow) -> pb::Review {
    pb::Review {
        review_id: r.id.clone(),
        case_id: r.recording_id.clone(),
        reviewer_id: r.reviewer_id.clone(),
        verdict: verdict_of(Some(&r.verdict)) as i32,
        findings: r.findings.clone(),
        refer: r.refer,
        request_rerecording: r.request_rerecording,
        created_at: Some(timestamp(r.created_at_ms)),
    }
}

/// A page token encodes the offset of the next page (`o<offset>`, the audit trail's paging);
/// `None` for anything else.
pub fn page_offset(token: &str) -> Option<u64> {
    if token.is_empty() {
        return Some(0);
    }
    token.strip_prefix("o")?.parse().ok()
}

/// The token of the page after `offset + taken`, or empty when this was the last page.
pub fn next_page_token(offset: u64, taken: usize, page_size: u32) -> String {
    if taken < page_size as usize {
        String::new()
    } else {
        format!("o{}", offset.saturating_add(taken as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every murmur call and timing maps to its own protobuf value, never `UNSPECIFIED`, and the
    /// database's spelling of a call maps to the same value as the call itself.
    #[test]
    fn every_term_has_its_own_protobuf_value() {
        let mut seen = std::collections::HashSet::new();
        for &call in MurmurCall::ALL {
            let p = murmur_call_pb(call);
            assert_ne!(p, pb::MurmurStatus::Unspecified);
            assert!(seen.insert(p as i32));
            assert_eq!(murmur_status_pb(Some(call.as_str())), p);
        }
        assert_eq!(murmur_status_pb(None), pb::MurmurStatus::Unspecified);
        assert_eq!(
            murmur_status_pb(Some("maybe")),
            pb::MurmurStatus::Unspecified
        );
        let mut seen = std::collections::HashSet::new();
        for &t in MurmurTiming::ALL {
            let p = murmur_timing_pb(Some(t));
            assert_ne!(p, pb::MurmurTiming::Unspecified);
            assert!(seen.insert(p as i32));
        }
        assert_eq!(murmur_timing_pb(None), pb::MurmurTiming::Unspecified);
    }

    /// An absent call's detection limit reaches the review API; an analysis stored before the
    /// engine measured it has none.
    #[test]
    fn an_absent_calls_softest_grade_reaches_the_api() {
        let json = |murmur: &str| {
            format!(
                r#"{{"duration_s": 10.0, "sample_rate_hz": 2000.0, "ecg_used": false,
                "cycles": [], "murmur": {murmur}, "extra_sounds": [],
                "quality": {{"usable": true, "sqi": 0.9}}, "flagged": false}}"#
            )
        };
        let now = StoredAnalysis::from_json(&json(
            r#"{"status": "absent", "confidence": 0.9, "softest_grade": 3}"#,
        ))
        .expect("stored analysis");
        let m = analysis(&now, None).murmur.expect("murmur");
        assert_eq!(m.softest_grade, Some(3));
        let before = StoredAnalysis::from_json(&json(r#"{"status": "absent", "confidence": 0.9}"#))
            .expect("an analysis stored before 2026-12-07 still reads");
        assert_eq!(
            analysis(&before, None)
                .murmur
                .expect("murmur")
                .softest_grade,
            None
        );
    }

    /// The sounds of the cycles a recording's edges cut reach the review API as partial cycles,
    /// first and last; an analysis stored before the engine reported them has none.
    #[test]
    fn edge_sounds_are_partial_cycles_first_and_last() {
        let json = |edges: &str| {
            format!(
                r#"{{"duration_s": 10.0, "sample_rate_hz": 2000.0, "ecg_used": false,
                "cycles": [{{"s1": [1.0, 1.1], "s2": [1.4, 1.5], "end_s": 2.0,
                             "quality": 1.0, "accepted": true}}],
                {edges}
                "murmur": {{"status": "absent", "confidence": 0.9}}, "extra_sounds": [],
                "quality": {{"usable": true, "sqi": 0.9}}, "flagged": false}}"#
            )
        };
        let with = StoredAnalysis::from_json(&json(
            r#""edge_sounds": {"leading_s2": [0.2, 0.3], "trailing_s1": [9.8, 9.9]},"#,
        ))
        .expect("stored analysis");
        let cycles = analysis(&with, None).cycles;
        assert_eq!(cycles.len(), 3);
        assert!(cycles[0].partial && cycles[0].s1.is_none() && !cycles[0].accepted);
        assert_eq!(cycles[0].s2.as_ref().map(|s| s.start_s), Some(0.2));
        assert_eq!(
            cycles[0].end_s, 1.0,
            "ends where the first whole cycle begins"
        );
        assert!(!cycles[1].partial && cycles[1].s1.is_some() && cycles[1].s2.is_some());
        assert!(cycles[2].partial && cycles[2].s2.is_none());
        assert_eq!(cycles[2].s1.as_ref().map(|s| s.end_s), Some(9.9));
        let old = StoredAnalysis::from_json(&json("")).expect("an older stored analysis");
        let cycles = analysis(&old, None).cycles;
        assert_eq!(cycles.len(), 1);
        assert!(!cycles[0].partial);
    }
}

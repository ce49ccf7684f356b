//! One analysis as a line of the result contract (`shared/eval/README.md`).

use auscult_dsp::model::{
    Analysis, FlagReason, MurmurPhase, MurmurPitch, MurmurShape, MurmurStatus, MurmurTiming,
    UnknownReason,
};
use serde_json::{Value, json};

fn reason_text(r: &UnknownReason) -> String {
    match r {
        UnknownReason::TooShort { duration } => format!("too short ({:.2} s)", duration.0),
        UnknownReason::NoHeartSounds => "no heart sounds".into(),
        UnknownReason::Clipped { fraction } => format!("clipped ({:.0} %)", fraction * 100.0),
        UnknownReason::TooNoisy { sqi } => format!("too noisy (SQI {sqi:.2})"),
        UnknownReason::TooFewCycles { accepted } => format!("too few cycles ({accepted})"),
        UnknownReason::NonFinite => "non-finite samples".into(),
        UnknownReason::UnlikeTraining { .. } => {
            "recording unlike any the engine was trained on: re-record or listen".into()
        }
    }
}

/// The contract's spelling of a flag reason.
pub fn flag_reason_name(r: FlagReason) -> &'static str {
    match r {
        FlagReason::Murmur => "murmur",
        FlagReason::IrregularRhythm => "irregular_rhythm",
        FlagReason::ExtraSound => "extra_sound",
        FlagReason::CannotJudge => "cannot_judge",
        FlagReason::AbnormalScore => "abnormal_score",
    }
}

/// The contract JSON object for one analysed file.
pub fn analysis_json(file: &str, a: &Analysis) -> Value {
    let m = &a.murmur;
    let (status, reason) = match &m.status {
        MurmurStatus::Present => ("present", None),
        MurmurStatus::Absent => ("absent", None),
        MurmurStatus::Unknown(r) => ("unknown", Some(reason_text(r))),
    };
    let timing = m.timing.map(|t| match t {
        MurmurTiming::Systolic => "systolic",
        MurmurTiming::Diastolic => "diastolic",
        MurmurTiming::Both => "both",
    });
    let phase = m.phase.map(|p| match p {
        MurmurPhase::Early => "early",
        MurmurPhase::Mid => "mid",
        MurmurPhase::Late => "late",
        MurmurPhase::Holo => "holo",
    });
    let shape = m.shape.map(|s| match s {
        MurmurShape::CrescendoDecrescendo => "crescendo-decrescendo",
        MurmurShape::Plateau => "plateau",
        MurmurShape::Decrescendo => "decrescendo",
        MurmurShape::Crescendo => "crescendo",
    });
    let pitch = m.pitch.map(|p| match p {
        MurmurPitch::Low => "low",
        MurmurPitch::Medium => "medium",
        MurmurPitch::High => "high",
    });
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let cycles: Vec<Value> = a
        .cycles
        .iter()
        .map(|c| {
            json!({
                "r_s": c.r_peak.map(|r| r3(r.0)),
                "s1": [r3(c.s1.start.0), r3(c.s1.end.0)],
                "s2": [r3(c.s2.start.0), r3(c.s2.end.0)],
                "quality": (c.quality as f64 * 100.0).round() / 100.0,
                "accepted": c.accepted,
            })
        })
        .collect();
    let mut murmur = json!({
        "status": status,
        "timing": timing,
        "phase": phase,
        "shape": shape,
        "pitch": pitch,
        "grade": m.grade,
        "confidence": (m.confidence as f64 * 1000.0).round() / 1000.0,
    });
    if let (Some(r), Some(obj)) = (reason, murmur.as_object_mut()) {
        obj.insert("reason".into(), Value::String(r));
    }
    json!({
        "file": file,
        "duration_s": r3(a.duration.0),
        "sample_rate_hz": a.sample_rate.0,
        "ecg_used": a.ecg_used,
        "heart_rate_bpm": a.heart_rate.map(|b| (b.0 * 10.0).round() / 10.0),
        "cycles": cycles,
        "murmur": murmur,
        "rhythm": a.rhythm.as_ref().map(|r| json!({
            "rr_sd_s": r3(r.rr_sd.0), "rmssd_s": r3(r.rmssd.0), "irregular": r.irregular})),
        "extra_sounds": a.extra_sounds.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>(),
        "quality": {"usable": a.quality.usable, "sqi": (a.quality.sqi as f64 * 100.0).round() / 100.0},
        "abnormal_score": a.abnormal_score.map(|s| (s as f64 * 1000.0).round() / 1000.0),
        "flag_reasons": a.flag_reasons.iter().map(|r| flag_reason_name(*r)).collect::<Vec<_>>(),
        "flagged": a.flagged,
    })
}

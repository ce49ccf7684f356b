//! One analysis as a line of the result contract (`shared/eval/README.md`).

use auscult_dsp::model::{Analysis, Interval};
use serde_json::{Value, json};

/// The contract JSON object for one analysed file (every word from `auscult_dsp::vocab`).
pub fn analysis_json(file: &str, a: &Analysis) -> Value {
    let m = &a.murmur;
    let status = m.status.call().as_str();
    let reason = m.status.reason().map(|r| r.describe());
    let timing = m.timing.map(|t| t.as_str());
    let phase = m.phase.map(|p| p.as_str());
    let shape = m.shape.map(|s| s.as_str());
    let pitch = m.pitch.map(|p| p.as_str());
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let span = |iv: &Interval| [r3(iv.start.0), r3(iv.end.0)];
    // With the partial cycles at the edges (an S2 before the first whole cycle, an S1 after
    // the last), as `auscult analyze` writes them.
    let cycles: Vec<Value> = a
        .edge_sounds
        .around(&a.cycles, a.duration)
        .iter()
        .map(|c| {
            if c.partial {
                json!({"s1": c.s1.as_ref().map(span), "s2": c.s2.as_ref().map(span),
                    "quality": 0.0, "accepted": false, "partial": true})
            } else {
                json!({
                    "r_s": c.r_peak.map(|r| r3(r.0)),
                    "s1": c.s1.as_ref().map(span),
                    "s2": c.s2.as_ref().map(span),
                    "quality": (c.quality as f64 * 100.0).round() / 100.0,
                    "accepted": c.accepted,
                })
            }
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
            "rr_sd_s": r3(r.rr_sd.0), "rmssd_s": r3(r.rmssd.0), "intervals": r.intervals,
            "irregular": r.irregular, "phasic": r.phasic})),
        "extra_sounds": a.extra_sounds.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "quality": {"usable": a.quality.usable, "sqi": (a.quality.sqi as f64 * 100.0).round() / 100.0},
        "abnormal_score": a.abnormal_score.map(|s| (s as f64 * 1000.0).round() / 1000.0),
        "flag_reasons": a.flag_reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "flagged": a.flagged,
    })
}

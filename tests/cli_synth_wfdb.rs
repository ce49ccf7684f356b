//! The file path end to end without the binary: a synthetic recording with known S1/S2 is written
//! as a WFDB record (PCG + ECG in format 16, heart sounds as annotations), read back by
//! `auscult-recording`, and analysed by the engine, which must find the sounds the annotation
//! file says are there.

use auscult_dsp::{Hz, Interval, Seconds};
use auscult_recording::wfdb::{
    HeartSound, HeartSoundKind, heart_sounds_from_annotations, read_annotations,
};
use auscult_recording::{LoadedEcg, read_wfdb_record, write_wfdb_record};
use auscult_synth::{SynthConfig, generate};

/// Share of annotated sounds the ECG-gated engine must place within ±60 ms.
const SYNTH_RECALL_FLOOR: f64 = 0.9;

fn recall(reference: &[f64], detected: &[f64]) -> f64 {
    let mut used = vec![false; detected.len()];
    let mut hits = 0usize;
    for r in reference {
        let best = detected
            .iter()
            .enumerate()
            .filter(|(j, d)| !used[*j] && (*d - r).abs() <= 0.06)
            .min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs()));
        if let Some((j, _)) = best {
            used[j] = true;
            hits += 1;
        }
    }
    hits as f64 / reference.len().max(1) as f64
}

#[test]
fn synthetic_record_survives_wfdb_and_is_segmented() {
    let cfg = SynthConfig {
        seed: 7,
        duration_s: 20.0,
        pcg_rate_hz: 2000.0,
        ecg_rate_hz: 2000.0,
        heart_rate_bpm: 75.0,
        ..SynthConfig::default()
    };
    let synth = generate(&cfg).expect("synthesise");
    let iv = |(a, b): (f64, f64)| Interval {
        start: Seconds(a),
        end: Seconds(b),
    };
    let sounds: Vec<HeartSound> = synth
        .truth
        .s1
        .iter()
        .map(|s| HeartSound {
            kind: HeartSoundKind::S1,
            span: iv(*s),
        })
        .chain(synth.truth.s2.iter().map(|s| HeartSound {
            kind: HeartSoundKind::S2,
            span: iv(*s),
        }))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = Hz(cfg.pcg_rate_hz);
    let written = write_wfdb_record(
        dir.path(),
        "synth07",
        rate,
        &synth.pcg,
        Some(&synth.ecg),
        &sounds,
    )
    .expect("write WFDB");

    let rec = read_wfdb_record(&written.header).expect("read WFDB");
    assert_eq!(rec.pcg.samples.len(), synth.pcg.len());
    assert!(matches!(rec.ecg, Some(LoadedEcg::Raw(_))));
    let anns = read_annotations(written.annotations.as_deref().expect("annotations"))
        .expect("read annotations");
    let truth = heart_sounds_from_annotations(&anns, rate);
    assert_eq!(truth.len(), sounds.len());

    let analysis = auscult_dsp::analyze(&rec.as_recording()).expect("analyse");
    assert!(analysis.ecg_used);
    let centres = |kind: HeartSoundKind| -> Vec<f64> {
        truth
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.span.centre().0)
            .collect()
    };
    let s1: Vec<f64> = analysis.cycles.iter().map(|c| c.s1.centre().0).collect();
    let s2: Vec<f64> = analysis.cycles.iter().map(|c| c.s2.centre().0).collect();
    let (r1, r2) = (
        recall(&centres(HeartSoundKind::S1), &s1),
        recall(&centres(HeartSoundKind::S2), &s2),
    );
    assert!(
        r1 >= SYNTH_RECALL_FLOOR && r2 >= SYNTH_RECALL_FLOOR,
        "S1 recall {r1:.3}, S2 recall {r2:.3}"
    );
    let hr = analysis.heart_rate.expect("heart rate").0;
    assert!(
        (hr - synth.truth.heart_rate_bpm).abs() < 5.0,
        "heart rate {hr} vs {}",
        synth.truth.heart_rate_bpm
    );
}

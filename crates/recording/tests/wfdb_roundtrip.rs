//! Writing a WFDB record and reading it back: signals, multiplexing and heart-sound annotations;
//! and the real PhysioNet 2016 / EPHNOGRAM records when `../shared/data` is present.

use std::path::{Path, PathBuf};

use auscult_dsp::{Hz, Interval, Seconds};
use auscult_recording::wfdb::{
    HeartSound, HeartSoundKind, heart_sounds_from_annotations, read_annotations, read_wfdb_signals,
};
use auscult_recording::{
    LoadedEcg, RecordingError, WavChannels, read_recording, read_wfdb_record, write_wfdb_record,
};

fn sine(n: usize, f: f64, rate: f64, amp: f32) -> Vec<f32> {
    (0..n)
        .map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin() as f32)
        .collect()
}

#[test]
fn signals_and_annotations_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = Hz(2000.0);
    let pcg = sine(5000, 50.0, rate.0, 0.8);
    let ecg = sine(5000, 1.2, rate.0, 1.5);
    let iv = |a, b| Interval {
        start: Seconds(a),
        end: Seconds(b),
    };
    let sounds = vec![
        HeartSound {
            kind: HeartSoundKind::S1,
            span: iv(0.1, 0.22),
        },
        HeartSound {
            kind: HeartSoundKind::S2,
            span: iv(0.45, 0.54),
        },
        HeartSound {
            kind: HeartSoundKind::S1,
            span: iv(0.9, 1.02),
        },
        HeartSound {
            kind: HeartSoundKind::S2,
            span: iv(1.25, 1.34),
        },
    ];
    let written =
        write_wfdb_record(dir.path(), "rt01", rate, &pcg, Some(&ecg), &sounds).expect("write");

    let rec = read_wfdb_record(&written.header).expect("read");
    assert_eq!(rec.pcg.rate, rate);
    assert_eq!(rec.pcg.samples.len(), pcg.len());
    let tol = |peak: f32| peak / 30000.0 * 0.51 + 1e-6;
    for (a, b) in rec.pcg.samples.iter().zip(&pcg) {
        assert!((a - b).abs() <= tol(0.8), "{a} vs {b}");
    }
    let Some(LoadedEcg::Raw(e)) = rec.ecg else {
        panic!("no ECG read back")
    };
    for (a, b) in e.samples.iter().zip(&ecg) {
        assert!((a - b).abs() <= tol(1.5), "{a} vs {b}");
    }

    let anns = read_annotations(written.annotations.as_deref().expect("annotation file"))
        .expect("read anns");
    let back = heart_sounds_from_annotations(&anns, rate);
    assert_eq!(back.len(), sounds.len());
    for (a, b) in back.iter().zip(&sounds) {
        assert_eq!(a.kind, b.kind);
        assert!(
            (a.span.start.0 - b.span.start.0).abs() < 1e-9
                && (a.span.end.0 - b.span.end.0).abs() < 1e-9
        );
    }

    // The header's checksums and initial values agree with the data written.
    let full = read_wfdb_signals(&written.header, None).expect("read all");
    for (spec, sig) in full.header.signals.iter().zip(&full.signals) {
        let adc: Vec<i16> = sig
            .as_ref()
            .expect("signal read")
            .iter()
            .map(|v| (f64::from(*v) * spec.gain).round() as i16)
            .collect();
        assert_eq!(i64::from(adc[0]), spec.initial_value);
        assert_eq!(
            i64::from(adc.iter().fold(0i16, |s, v| s.wrapping_add(*v))),
            spec.checksum
        );
    }
}

#[test]
fn multiplexed_212_with_three_signals_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three signals, 4 frames, format 212 (12 samples = 18 bytes), after a 10-byte preamble.
    let values: [[i32; 3]; 4] = [[1, -1, 2047], [-2048, 100, 0], [5, 6, 7], [-5, -6, -7]];
    let flat: Vec<i32> = values.iter().flatten().copied().collect();
    let mut dat = vec![0xaa; 10];
    for p in flat.chunks(2) {
        let (a, b) = (p[0] & 0xfff, p[1] & 0xfff);
        dat.extend_from_slice(&[
            (a & 0xff) as u8,
            ((a >> 8) | ((b >> 8) << 4)) as u8,
            (b & 0xff) as u8,
        ]);
    }
    std::fs::write(dir.path().join("m.dat"), dat).expect("write dat");
    let hea = dir.path().join("m.hea");
    std::fs::write(
        &hea,
        "m 3 500 4\nm.dat 212+10 2(1)/mV 12 0 0 0 0 RESP\nm.dat 212+10 1/mV 12 0 0 0 0 ECG lead II\nm.dat 212+10 1 12 0 0 0 0 PCG\n",
    )
    .expect("write hea");
    let rec = read_wfdb_record(&hea).expect("read");
    assert_eq!(rec.pcg.samples, vec![2047.0, 0.0, 7.0, -7.0]);
    assert_eq!(rec.pcg.rate, Hz(500.0));
    let Some(LoadedEcg::Raw(e)) = rec.ecg else {
        panic!("no ECG")
    };
    assert_eq!(e.samples, vec![-1.0, 100.0, 6.0, -6.0]);
    let all = read_wfdb_signals(&hea, None).expect("all");
    assert_eq!(
        all.signals[0].as_deref(),
        Some(&[0.0, -1024.5, 2.0, -3.0][..])
    );
}

#[test]
fn truncated_and_lying_headers_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("t.dat"), vec![0u8; 100]).expect("write");
    let cases = [
        ("t 1 1000 51\nt.dat 16 1 16 0 0 0 0 PCG\n", "Truncated"),
        (
            "t 1 1000 18446744073709551615\nt.dat 16 1 16 0 0 0 0 PCG\n",
            "TooLarge",
        ),
        (
            "t 2 1000 4000000000\nt.dat 16 1 16 0 0 0 0 PCG\nt.dat 16 1 16 0 0 0 0 ECG\n",
            "TooLarge",
        ),
        ("t 1 1000\nmissing.dat 16 1 16 0 0 0 0 PCG\n", "Io"),
        ("t 1 1000\nt.dat 16 1 16 0 0 0 0 RESP\nq\n", "Header"),
        (
            "t 2 1000\nt.dat 16 1 16 0 0 0 0 RESP\nt.dat 16 1 16 0 0 0 0 BP\n",
            "NoPcg",
        ),
        ("t 1 1000\nt.dat 16+200 1 16 0 0 0 0 PCG\n", "Empty"),
    ];
    for (i, (hea, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("t{i}.hea"));
        std::fs::write(&path, hea).expect("write");
        let got = read_wfdb_record(&path);
        let name = match &got {
            Err(RecordingError::Truncated { .. }) => "Truncated",
            Err(RecordingError::TooLarge { .. }) => "TooLarge",
            Err(RecordingError::Io { .. }) => "Io",
            Err(RecordingError::Header { .. }) => "Header",
            Err(RecordingError::NoPcg(_)) => "NoPcg",
            Err(RecordingError::Empty) => "Empty",
            other => panic!("{hea:?}: unexpected {other:?}"),
        };
        assert_eq!(name, *want, "{hea:?}: {got:?}");
        // Every error explains itself.
        assert!(!got.expect_err("error").to_string().is_empty());
    }
}

#[path = "../../testkit/src/ci.rs"]
mod ci;

/// `../shared/data`, or `None` after saying the test is skipped (a failure when CI declared it).
fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    ci::require_or_skip(
        ci::Service::SharedData,
        p.is_dir().then_some(p),
        "../shared/data is absent",
    )
}

#[test]
fn reads_physionet_2016_record_when_present() {
    let Some(data) = shared_data() else {
        return;
    };
    let dir = data.join("physionet2016/training-a");
    let rec = read_wfdb_record(&dir.join("a0001.hea")).expect("read a0001.hea");
    assert_eq!(rec.pcg.samples.len(), 71332);
    assert_eq!(rec.pcg.rate, Hz(2000.0));
    let Some(LoadedEcg::Raw(e)) = &rec.ecg else {
        panic!("a0001 has an ECG")
    };
    assert_eq!(e.samples.len(), 71332);
    // The .hea view of the PCG is the WAV's samples at gain 1.
    let wav =
        read_recording(&dir.join("a0001.wav"), WavChannels::default()).expect("read a0001.wav");
    assert_eq!(wav.pcg.samples.len(), rec.pcg.samples.len());
    for (a, b) in wav.pcg.samples.iter().zip(&rec.pcg.samples).take(5000) {
        assert!((a * 32768.0 - b).abs() < 1e-3);
    }
    // Header checksum of the ECG agrees with the data.
    let full = read_wfdb_signals(&dir.join("a0001.hea"), None).expect("all");
    let spec = &full.header.signals[1];
    let sum = full.signals[1]
        .as_ref()
        .expect("ecg")
        .iter()
        .fold(0i16, |s, v| {
            s.wrapping_add((f64::from(*v) * spec.gain).round() as i16)
        });
    assert_eq!(i64::from(sum), spec.checksum);
}

#[test]
fn reads_ephnogram_record_when_present() {
    let Some(data) = shared_data() else {
        return;
    };
    let hea = data.join("ephnogram/WFDB/ECGPCG0003.hea");
    let rec = read_wfdb_record(&hea).expect("read EPHNOGRAM");
    assert_eq!(rec.pcg.rate, Hz(8000.0));
    assert_eq!(rec.pcg.samples.len(), 240000);
    let Some(LoadedEcg::Raw(e)) = &rec.ecg else {
        panic!("EPHNOGRAM has an ECG")
    };
    assert_eq!(e.samples.len(), 240000);
    // Both signals multiplexed in one .dat: checksums match per signal.
    let full = read_wfdb_signals(&hea, None).expect("all");
    for (spec, sig) in full.header.signals.iter().zip(&full.signals) {
        let sum = sig.as_ref().expect("sig").iter().fold(0i16, |s, v| {
            s.wrapping_add((f64::from(*v) * spec.gain + spec.baseline as f64).round() as i16)
        });
        assert_eq!(i64::from(sum), spec.checksum, "{}", spec.description);
    }
}

/// PhysioNet's own reader (the `wfdb` Python package) reads what we write: same signals, and
/// the heart sounds as `(`/`)` annotations with `S1`/`S2` aux strings. Skips when it is absent.
#[test]
fn physionet_wfdb_python_reads_our_records() {
    if ci::require_or_skip(
        ci::Service::Wfdb,
        ci::python_runs("import wfdb").then_some(()),
        "python3 with the wfdb package is not installed (pip install wfdb)",
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = Hz(4000.0);
    let pcg = sine(8000, 60.0, rate.0, 0.3);
    let ecg = sine(8000, 1.0, rate.0, 2.0);
    let iv = |a, b| Interval {
        start: Seconds(a),
        end: Seconds(b),
    };
    let sounds = vec![
        HeartSound {
            kind: HeartSoundKind::S1,
            span: iv(0.1, 0.22),
        },
        HeartSound {
            kind: HeartSoundKind::S2,
            span: iv(0.45, 0.54),
        },
        HeartSound {
            kind: HeartSoundKind::S1,
            span: iv(1.5, 1.62),
        },
    ];
    write_wfdb_record(dir.path(), "py01", rate, &pcg, Some(&ecg), &sounds).expect("write");
    let script = r#"
import sys, wfdb, json
rec = wfdb.rdrecord(sys.argv[1] + "/py01")
ann = wfdb.rdann(sys.argv[1] + "/py01", "seg")
print(json.dumps({"fs": rec.fs, "names": rec.sig_name, "n": rec.sig_len,
  "pcg": [float(v) for v in rec.p_signal[:50, 0]], "ecg": [float(v) for v in rec.p_signal[:50, 1]],
  "samples": [int(s) for s in ann.sample], "symbols": list(ann.symbol), "aux": list(ann.aux_note)}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "wfdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields = |key: &str| -> String {
        let start = text.find(&format!("\"{key}\": ")).expect("key") + key.len() + 4;
        let rest = &text[start..];
        let end = if rest.starts_with('[') {
            rest.find(']').expect("]") + 1
        } else {
            rest.find([',', '}']).expect("end")
        };
        rest[..end].to_string()
    };
    assert_eq!(fields("fs").parse::<f64>().ok(), Some(4000.0));
    assert_eq!(fields("names"), r#"["PCG", "ECG"]"#);
    assert_eq!(fields("n"), "8000");
    let nums = |s: String| -> Vec<f64> {
        s.trim_matches(['[', ']'])
            .split(',')
            .map(|v| v.trim().parse().expect("number"))
            .collect()
    };
    for (got, want, peak) in [
        (nums(fields("pcg")), &pcg, 0.3f32),
        (nums(fields("ecg")), &ecg, 2.0),
    ] {
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((*g as f32 - w).abs() <= peak / 30000.0 + 1e-6, "{g} vs {w}");
        }
    }
    assert_eq!(fields("samples"), "[400, 880, 1800, 2160, 6000, 6480]");
    assert_eq!(fields("symbols"), r#"["(", ")", "(", ")", "(", ")"]"#);
    assert_eq!(fields("aux"), r#"["S1", "", "S2", "", "S1", ""]"#);
}

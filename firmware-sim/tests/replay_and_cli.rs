//! Replaying real files, and the real binary run against the in-memory server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use firmware_sim::{
    Connection, DeviceRecording, EcgPayload, PcgFormat, SimError, UploadOptions, upload,
};
use support::start_reference;

const TOKEN: &str = "device-token-2";

fn write_wav(path: &std::path::Path, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        w.write_sample(*s).expect("write");
    }
    w.finalize().expect("finalize");
}

#[tokio::test]
async fn a_wav_file_is_replayed_sample_for_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("beat.wav");
    let samples: Vec<i16> = (0..8000)
        .map(|i| ((i as f64 * 0.05).sin() * 20000.0) as i16)
        .collect();
    write_wav(&path, 4000, &samples);
    let rec = DeviceRecording::from_file(&path, None).expect("reads");
    assert_eq!((rec.pcg_rate_hz, rec.pcg.len()), (4000, 8000));
    assert_eq!(rec.ecg, EcgPayload::None);

    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    let enc = Arc::new(rec.encode(PcgFormat::S16));
    upload(
        &conn,
        enc,
        &UploadOptions {
            upload_id: "wav-1".into(),
            ..UploadOptions::default()
        },
    )
    .await
    .expect("uploads");
    let stored = server.get("wav-1").expect("stored");
    let back: Vec<i16> = stored
        .pcg
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(back.len(), samples.len());
    assert!(
        back.iter()
            .zip(&samples)
            .all(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() <= 1)
    );
}

#[test]
fn unreadable_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"RIFF....not a wav").expect("write");
    assert!(matches!(
        DeviceRecording::from_file(&junk, None),
        Err(SimError::Read { .. })
    ));
    assert!(DeviceRecording::from_file(&dir.path().join("missing.hea"), None).is_err());
    let odd = dir.path().join("odd.wav");
    write_wav(&odd, 800, &[0; 100]);
    assert!(matches!(
        DeviceRecording::from_file(&odd, None),
        Err(SimError::Unsupported(_))
    ));
}

async fn run_binary(args: &[String]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
            .args(args)
            .env_remove("AUSCULT_DEVICE_TOKEN")
            .env_remove("AUSCULT_SERVER")
            .output(),
    )
    .await
    .expect("finishes")
    .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_records_replays_and_runs_a_fleet() {
    let (addr, server) = start_reference(TOKEN).await;
    let url = format!("http://{addr}");
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();

    let (ok, out, err) = run_binary(&s(&[
        "record",
        "--server",
        &url,
        "--token",
        TOKEN,
        "--scenario",
        "mr",
        "--duration",
        "4",
        "--fast",
        "--upload-id",
        "cli-1",
        "--simulate-drops",
        "1",
        "--drop-after-chunks",
        "5",
        "--json",
    ]))
    .await;
    assert!(ok, "stdout {out}\nstderr {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(report["upload_id"], "cli-1");
    assert_eq!(report["attempts"], 2);
    assert!(server.get("cli-1").is_some_and(|u| u.complete));

    let (ok, out, err) = run_binary(&s(&[
        "record",
        "--server",
        &url,
        "--token",
        TOKEN,
        "--scenario",
        "af",
        "--duration",
        "3",
        "--ecg",
        "rpeaks",
        "--devices",
        "3",
        "--uploads-per-device",
        "2",
        "--json",
    ]))
    .await;
    assert!(ok, "stdout {out}\nstderr {err}");
    let fleet: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(fleet["uploads_completed"], 6);
    assert_eq!(fleet["loss"], 0.0);
    assert!(
        fleet["ack_latency"]["p99_us"]
            .as_u64()
            .is_some_and(|p| p > 0)
    );

    let (ok, out, _) = run_binary(&s(&[
        "status",
        "--server",
        &url,
        "--token",
        TOKEN,
        "--upload-id",
        "cli-1",
    ]))
    .await;
    assert!(ok && out.contains("Complete"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("r.wav");
    write_wav(&wav, 2000, &vec![100; 4000]);
    let (ok, out, err) = run_binary(&s(&[
        "replay",
        "--server",
        &url,
        "--token",
        TOKEN,
        wav.to_str().expect("utf8"),
    ]))
    .await;
    assert!(ok, "stdout {out}\nstderr {err}");
    assert!(out.contains("complete"), "{out}");

    let (ok, _, err) = run_binary(&s(&[
        "record",
        "--server",
        &url,
        "--token",
        "wrong",
        "--duration",
        "2",
    ]))
    .await;
    assert!(!ok && err.contains("Unauthenticated"), "{err}");
    let (ok, _, err) = run_binary(&s(&["record", "--server", &url, "--duration", "2"])).await;
    assert!(!ok && err.contains("token"), "{err}");
}

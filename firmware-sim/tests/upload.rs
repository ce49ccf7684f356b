//! The simulator against a protocol-faithful in-memory server on 127.0.0.1:0: complete uploads
//! carry exactly the recording's bytes; broken connections are resumed from the committed offsets
//! without gaps or duplicates; refusals are not retried; fleets report counts and latencies.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auscult_synth::{Scenario, SynthConfig, generate};
use firmware_sim::{
    Connection, Counts, DeviceRecording, EcgChoice, FleetDevice, Pacing, PcgFormat, SimError,
    SimulatedDrops, UploadMode, UploadOptions, run_fleet, upload,
};
use support::{start_cutting_proxy, start_reference};

const TOKEN: &str = "device-token-1";

fn recording(seed: u64, seconds: f64, ecg: EcgChoice) -> DeviceRecording {
    let cfg = SynthConfig {
        pcg_rate_hz: 2000.0,
        ecg_rate_hz: 500.0,
        ..Scenario::AorticStenosis.config(seed, seconds)
    };
    let rec = generate(&cfg).expect("valid scenario");
    DeviceRecording::from_synth(format!("as#{seed}"), &rec, ecg).expect("protocol rates")
}

fn fast_opts(id: &str) -> UploadOptions {
    UploadOptions {
        upload_id: id.to_owned(),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ack_timeout: Duration::from_secs(5),
        ..UploadOptions::default()
    }
}

#[tokio::test]
async fn a_complete_upload_carries_exactly_the_recording() {
    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    for (i, (ecg, format, mode)) in [
        (EcgChoice::Samples, PcgFormat::S16, UploadMode::WithAcks),
        (EcgChoice::RPeaks, PcgFormat::F32, UploadMode::WithAcks),
        (EcgChoice::None, PcgFormat::S16, UploadMode::ClientStream),
        (EcgChoice::Samples, PcgFormat::S16, UploadMode::ClientStream),
    ]
    .into_iter()
    .enumerate()
    {
        let enc = Arc::new(recording(i as u64, 6.0, ecg).encode(format));
        let id = format!("upload-{i}");
        let report = upload(
            &conn,
            Arc::clone(&enc),
            &UploadOptions {
                mode,
                ..fast_opts(&id)
            },
        )
        .await
        .expect("uploads");
        let stored = server.get(&id).expect("stored");
        assert!(stored.complete);
        assert_eq!(stored.pcg, enc.pcg_bytes, "case {i}");
        assert_eq!(stored.ecg, enc.ecg_bytes, "case {i}");
        assert_eq!(stored.r_peaks, enc.r_peaks, "case {i}");
        assert_eq!(report.attempts, 1);
        assert!(report.resumed_from.is_empty());
        assert_eq!(report.committed, report.totals);
        assert_eq!(report.case_id, stored.case_id);
        assert!(!report.duplicate);
        if mode == UploadMode::WithAcks {
            assert_eq!(
                report.ack_latencies.len() as u64,
                report.chunks_sent,
                "every chunk acknowledged"
            );
        }
        if ecg == EcgChoice::RPeaks {
            assert!(stored.r_peaks.len() >= 5);
        }
    }
}

#[tokio::test]
async fn a_cut_connection_is_resumed_from_the_committed_offsets() {
    let (addr, server) = start_reference(TOKEN).await;
    let enc = Arc::new(recording(7, 20.0, EcgChoice::Samples).encode(PcgFormat::S16));
    let payload = (enc.pcg_bytes.len() + enc.ecg_bytes.len()) as u64;
    // Each of the first two connections dies after about a third of the payload.
    let (proxy, cuts) = start_cutting_proxy(addr, 2, payload / 3).await;
    let conn = Connection::new(&format!("http://{proxy}"), TOKEN).expect("url");
    let report = upload(&conn, Arc::clone(&enc), &fast_opts("resume-1"))
        .await
        .expect("survives");
    assert_eq!(cuts.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(report.attempts >= 3, "attempts {}", report.attempts);
    assert!(report.resumed_from.len() >= 2);
    assert!(
        report.resumed_from.iter().any(|c| c.pcg > 0),
        "resumed mid-way, not from scratch: {:?}",
        report.resumed_from
    );
    // Resumed, not restarted: well under twice the payload went over the wire.
    assert!(
        report.bytes_sent < payload * 3 / 2,
        "{} bytes for {payload}",
        report.bytes_sent
    );
    let stored = server.get("resume-1").expect("stored");
    assert!(stored.complete && stored.streams >= 3);
    assert_eq!(stored.pcg, enc.pcg_bytes);
    assert_eq!(stored.ecg, enc.ecg_bytes);
}

#[tokio::test]
async fn simulated_drops_resume_in_both_modes() {
    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    for mode in [UploadMode::WithAcks, UploadMode::ClientStream] {
        let enc = Arc::new(recording(3, 10.0, EcgChoice::RPeaks).encode(PcgFormat::S16));
        let id = format!("drops-{mode:?}");
        let report = upload(
            &conn,
            Arc::clone(&enc),
            &UploadOptions {
                mode,
                drops: SimulatedDrops {
                    attempts: 2,
                    after_chunks: 9,
                },
                ..fast_opts(&id)
            },
        )
        .await
        .expect("survives");
        assert_eq!(report.attempts, 3, "{mode:?}");
        let stored = server.get(&id).expect("stored");
        assert_eq!(stored.pcg, enc.pcg_bytes, "{mode:?}");
        assert_eq!(stored.r_peaks, enc.r_peaks, "{mode:?}");
        let first = report.resumed_from[0];
        assert!(
            first.pcg > 0 && first.pcg < report.totals.pcg,
            "{mode:?} resumed from {first:?}"
        );
    }
}

#[tokio::test]
async fn retrying_a_finished_upload_sends_nothing_twice() {
    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    let enc = Arc::new(recording(1, 5.0, EcgChoice::Samples).encode(PcgFormat::S16));
    let first = upload(&conn, Arc::clone(&enc), &fast_opts("again"))
        .await
        .expect("first");
    let chunks_after_first = server.chunks.load(std::sync::atomic::Ordering::Relaxed);
    let second = upload(&conn, Arc::clone(&enc), &fast_opts("again"))
        .await
        .expect("second");
    assert!(second.duplicate);
    assert_eq!(second.case_id, first.case_id);
    assert_eq!(
        server.chunks.load(std::sync::atomic::Ordering::Relaxed),
        chunks_after_first
    );
    assert_eq!(server.cases.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_bad_token_is_refused_without_retrying() {
    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), "wrong").expect("url");
    let enc = Arc::new(recording(1, 3.0, EcgChoice::None).encode(PcgFormat::S16));
    // Both ways of uploading, and a device that asks for the status first: each makes exactly
    // one call, which the server counts, refused or not (a retry would be a second call).
    for (i, (mode, status_first)) in [
        (UploadMode::WithAcks, false),
        (UploadMode::ClientStream, false),
        (UploadMode::WithAcks, true),
    ]
    .into_iter()
    .enumerate()
    {
        let calls_before = server.calls.load(std::sync::atomic::Ordering::SeqCst);
        let err = upload(
            &conn,
            Arc::clone(&enc),
            &UploadOptions {
                mode,
                status_first,
                ..fast_opts("nope")
            },
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(
                err,
                SimError::Refused {
                    code: tonic::Code::Unauthenticated,
                    ..
                }
            ),
            "case {i}: {err}"
        );
        assert_eq!(
            server.calls.load(std::sync::atomic::Ordering::SeqCst) - calls_before,
            1,
            "case {i} ({mode:?}, status first {status_first}): the refusal was retried"
        );
    }
    assert!(server.get("nope").is_none());
}

#[tokio::test]
async fn an_absent_server_is_given_up_on_after_the_attempt_limit() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conn = Connection::new(&format!("http://127.0.0.1:{port}"), TOKEN).expect("url");
    let enc = Arc::new(recording(1, 2.0, EcgChoice::None).encode(PcgFormat::S16));
    let err = upload(
        &conn,
        enc,
        &UploadOptions {
            max_attempts: 3,
            ..fast_opts("down")
        },
    )
    .await
    .expect_err("no server");
    assert!(matches!(err, SimError::GaveUp { attempts: 3, .. }), "{err}");
}

#[tokio::test]
async fn bad_urls_and_tokens_are_refused_up_front() {
    assert!(matches!(
        Connection::new("ftp://x", TOKEN),
        Err(SimError::BadUrl { .. })
    ));
    assert!(matches!(
        Connection::new("http://127.0.0.1:1", "bad\ntoken"),
        Err(SimError::BadToken)
    ));
}

#[tokio::test]
async fn realtime_pacing_takes_the_recording_time() {
    let (addr, _server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    let enc = Arc::new(recording(2, 1.5, EcgChoice::Samples).encode(PcgFormat::S16));
    let started = Instant::now();
    upload(
        &conn,
        enc,
        &UploadOptions {
            pacing: Pacing::Realtime,
            ..fast_opts("rt")
        },
    )
    .await
    .expect("uploads");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_reports_counts_loss_and_latency() {
    let (addr, server) = start_reference(TOKEN).await;
    let devices: Vec<FleetDevice> = (0..6)
        .map(|d| FleetDevice {
            token: TOKEN.to_owned(),
            serial: format!("fleet-{d}"),
            recordings: (0..2)
                .map(|u| {
                    Arc::new(recording(d * 2 + u, 4.0, EcgChoice::Samples).encode(PcgFormat::S16))
                })
                .collect(),
        })
        .collect();
    let expected: u64 = devices
        .iter()
        .flat_map(|d| &d.recordings)
        .map(|r| firmware_sim::plan::totals(r).total())
        .sum();
    let report = run_fleet(&format!("http://{addr}"), devices, &fast_opts("unused")).await;
    assert_eq!(
        (
            report.devices,
            report.uploads_completed,
            report.uploads_failed
        ),
        (6, 12, 0)
    );
    assert_eq!(report.samples_total, expected);
    assert_eq!(report.samples_committed, expected);
    assert!(report.loss.abs() < 1e-12);
    assert_eq!(report.ack_latency.count as u64, report.chunks_sent);
    assert!(report.ack_latency.p50_us <= report.ack_latency.p99_us);
    assert_eq!(server.cases.load(std::sync::atomic::Ordering::Relaxed), 12);

    // With a wrong token every upload fails and everything counts as lost.
    let bad = vec![FleetDevice {
        token: "wrong".into(),
        serial: "bad".into(),
        recordings: vec![Arc::new(
            recording(1, 2.0, EcgChoice::None).encode(PcgFormat::S16),
        )],
    }];
    let report = run_fleet(&format!("http://{addr}"), bad, &fast_opts("unused")).await;
    assert_eq!((report.uploads_completed, report.uploads_failed), (0, 1));
    assert!((report.loss - 1.0).abs() < 1e-12);
    assert_eq!(report.failures.len(), 1);
}

#[tokio::test]
async fn counts_never_exceed_what_was_recorded() {
    let (addr, server) = start_reference(TOKEN).await;
    let conn = Connection::new(&format!("http://{addr}"), TOKEN).expect("url");
    let enc = Arc::new(recording(4, 3.0, EcgChoice::Samples).encode(PcgFormat::S16));
    let report = upload(&conn, Arc::clone(&enc), &fast_opts("counts"))
        .await
        .expect("ok");
    assert!(report.committed.within(report.totals));
    assert_eq!(
        report.totals,
        Counts {
            pcg: 6000,
            ecg: 1500,
            r_peaks: 0
        }
    );
    assert!(server.get("counts").is_some_and(|u| u.complete));
}

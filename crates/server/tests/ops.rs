//! Operations: gRPC health, reflection, the metrics endpoint, graceful shutdown, config checks.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COUNTERS: [&str; 7] = [
    "auscult_ingest_chunks_total",
    "auscult_ingest_bytes_total",
    "auscult_ingest_commits_total",
    "auscult_uploads_completed_total",
    "auscult_uploads_rejected_total",
    "auscult_analyses_done_total",
    "auscult_analyses_failed_total",
];
const HISTOGRAM: &str = "auscult_ingest_chunk_ack_seconds";

/// `GET /metrics`: every sample line as (name with labels, value); panics unless 200 OK.
async fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").expect("a body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF: {body}"
    );
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("line {l:?}"));
            let value = value.parse().unwrap_or_else(|_| panic!("value of {l:?}"));
            (name.to_owned(), value)
        })
        .collect()
}

#[tokio::test]
async fn health_metrics_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = auscult_server::start(config).await.unwrap();
    let ch = connect(server.addr).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "auscult.v1.IngestService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // Nothing happened yet: every counter is zero.
    let metrics_addr = server.metrics_addr.unwrap();
    let before = scrape(metrics_addr).await;
    for name in COUNTERS {
        assert_eq!(before.get(name), Some(&0.0), "{name} in {before:?}");
    }
    assert_eq!(before.get(&format!("{HISTOGRAM}_count")), Some(&0.0));

    // Two uploads (one on each ingest RPC), one stream refused, two analyses: every counter moves
    // by exactly what happened.
    let admin_token = server.bootstrap_token.clone().unwrap();
    let t = make_tenant(&ch, &admin_token, "metrics").await;
    let (mut chunks, mut bytes) = (0u64, 0u64);
    let mut count = |msgs: &[pb::UploadRequest]| {
        for m in msgs {
            if let Some(pb::upload_request::Kind::Chunk(c)) = &m.kind {
                chunks += 1;
                bytes += c.samples.len() as u64;
            }
        }
    };
    let first = whole_upload("metrics-1", &synth(Scenario::Normal, 3, 6.0));
    count(&first);
    let first = upload(&ch, &t.device_token, first).await.unwrap();
    assert_eq!(first.state(), pb::UploadState::Complete);
    let second = whole_upload("metrics-2", &synth(Scenario::AorticStenosis, 4, 5.0));
    count(&second);
    let mut acks = ingest(&ch)
        .upload_with_acks(authed(&t.device_token, tokio_stream::iter(second)))
        .await
        .unwrap()
        .into_inner();
    let mut second_case = String::new();
    while let Some(ack) = acks.message().await.unwrap() {
        second_case = ack.case_id;
    }
    assert!(!second_case.is_empty(), "the acknowledged upload completed");
    let rec = synth(Scenario::Normal, 5, 2.0);
    let refused = upload(
        &ch,
        &t.device_token,
        vec![
            meta_msg(metadata("metrics-bad", &rec)),
            chunk_msg(pb::SignalStream::Pcg, 100, rec.pcg_s16[..400].to_vec()),
        ],
    )
    .await
    .unwrap_err();
    assert_ne!(refused.code(), tonic::Code::Ok);
    for case_id in [&first.case_id, &second_case] {
        let case = wait_analysed(&ch, &t.clinician_token, case_id).await;
        assert_eq!(
            case.summary.unwrap().analysis_state(),
            pb::AnalysisState::Done
        );
    }
    // The counter moves just after the analysis is stored: wait for it, not for a time.
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let m = scrape(metrics_addr).await;
        if m.get("auscult_analyses_done_total") == Some(&2.0) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "analyses_done never reached 2: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let get = |name: &str| *after.get(name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(
        get("auscult_ingest_chunks_total"),
        chunks as f64,
        "{after:?}"
    );
    assert_eq!(get("auscult_ingest_bytes_total"), bytes as f64, "{after:?}");
    assert_eq!(get("auscult_uploads_completed_total"), 2.0, "{after:?}");
    assert_eq!(get("auscult_uploads_rejected_total"), 1.0, "{after:?}");
    assert_eq!(get("auscult_analyses_failed_total"), 0.0, "{after:?}");
    // Parts are committed every 8 KiB (the test configuration) and at the finish.
    let commits = get("auscult_ingest_commits_total");
    assert!(
        commits >= (bytes / (8 * 1024)) as f64 && commits <= chunks as f64,
        "{commits} commits for {chunks} chunks of {bytes} bytes"
    );
    // Every accepted chunk's handling time is observed once; buckets are cumulative.
    assert_eq!(get(&format!("{HISTOGRAM}_count")), chunks as f64);
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{HISTOGRAM}_bucket{{le=\"")) && !k.contains("+Inf")
        })
        .map(|(k, v)| {
            let le: f64 = k
                .split('"')
                .nth(1)
                .and_then(|b| b.parse().ok())
                .unwrap_or_else(|| panic!("bucket bound in {k}"));
            (le, *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let buckets: Vec<f64> = buckets.into_iter().map(|(_, v)| v).collect();
    assert_eq!(buckets.len(), 10, "{after:?}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(buckets.last().unwrap() <= &(chunks as f64));
    assert_eq!(
        get(&format!("{HISTOGRAM}_bucket{{le=\"+Inf\"}}")),
        chunks as f64
    );
    assert!(get(&format!("{HISTOGRAM}_sum")) > 0.0);

    server.shutdown().await.unwrap();

    let mut bad = test_config(dir.path(), None);
    bad.max_message_bytes = 1;
    assert!(
        auscult_server::start(bad).await.is_err(),
        "invalid configuration is refused at start"
    );
    let mut bad = test_config(dir.path(), None);
    bad.database_url = Some("mysql://nope".into());
    assert!(auscult_server::start(bad).await.is_err());
}

/// The metrics endpoint is a real HTTP server: another path is 404, and a client that connects
/// and sends nothing (or only half a request) is disconnected instead of holding a task forever.
#[tokio::test]
async fn metrics_endpoint_refuses_strangers_and_drops_silent_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = auscult_server::start(config).await.unwrap();
    let addr = server.metrics_addr.unwrap();

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    for partial in [&b""[..], &b"GET /metrics HTTP/1.1\r\nHost:"[..]] {
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        silent.write_all(partial).await.unwrap();
        let mut buf = Vec::new();
        // The server closes the connection (header read timeout, 5 s); generous deadline.
        let closed = tokio::time::timeout(Duration::from_secs(60), silent.read_to_end(&mut buf))
            .await
            .expect("the server dropped a silent client");
        assert!(closed.is_ok() || buf.is_empty(), "{closed:?}");
        assert!(
            !String::from_utf8_lossy(&buf).contains("200 OK"),
            "a half request is not served"
        );
    }
    server.shutdown().await.unwrap();
}

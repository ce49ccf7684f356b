//! Operations: gRPC health, reflection, the metrics endpoint, graceful shutdown, config checks.
#![allow(clippy::unwrap_used)]

use auscult_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    let mut socket = tokio::net::TcpStream::connect(server.metrics_addr.unwrap())
        .await
        .unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    socket.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"));
    assert!(body.contains("auscult_ingest_chunks_total 0"));
    assert!(body.contains("auscult_ingest_chunk_ack_seconds_bucket{le=\"+Inf\"}"));

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

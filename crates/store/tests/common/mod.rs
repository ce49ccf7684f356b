//! Shared helpers of the store's integration tests: open a store on SQLite in a temp dir or on a
//! fresh PostgreSQL database (`AUSCULT_TEST_POSTGRES_URL`), with local blobs or a fresh bucket on
//! the S3-compatible test server (`AUSCULT_TEST_S3_URL`), and make complete cases.
#![allow(dead_code, clippy::unwrap_used)]

use auscult_store::audit::Actor;
use auscult_store::recordings::{Counts, NewRecording, Part, StreamKind};
use auscult_store::{BlobConfig, DbOptions, Store};
use auscult_store::{CaseId, DeviceId, TenantId};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../../testkit/src/ci.rs"]
pub mod ci;
use ci::{Service, require_or_skip};

/// A database URL: SQLite in `dir`, or a fresh PostgreSQL database (`None` when not configured,
/// a failure when CI declared PostgreSQL present).
pub async fn database_url(dir: &std::path::Path, postgres: bool) -> Option<String> {
    if !postgres {
        return Some(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()));
    }
    let base = require_or_skip(
        Service::Postgres,
        std::env::var("AUSCULT_TEST_POSTGRES_URL").ok(),
        "AUSCULT_TEST_POSTGRES_URL is not set: the PostgreSQL variant is skipped",
    )?;
    let name = format!("auscult_store_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))
}

/// Local blobs under `dir/blobs`.
pub fn local_blobs(dir: &std::path::Path) -> BlobConfig {
    BlobConfig::Local {
        root: dir.join("blobs"),
    }
}

/// A store on SQLite or PostgreSQL with the given blobs (`None` when PostgreSQL is not set up).
pub async fn open_with(dir: &std::path::Path, postgres: bool, blobs: &BlobConfig) -> Option<Store> {
    let url = database_url(dir, postgres).await?;
    let db = DbOptions {
        url,
        max_connections: 4,
    };
    Some(Store::open(&db, blobs).await.unwrap())
}

/// A store with local blobs.
pub async fn open(dir: &std::path::Path, postgres: bool) -> Option<Store> {
    open_with(dir, postgres, &local_blobs(dir)).await
}

/// A fresh bucket on the S3 test server named by `AUSCULT_TEST_S3_URL` (created with an unsigned
/// `PUT /<bucket>`, which moto accepts), or `None` with a message when it is not set (a failure
/// when CI declared S3 present).
pub async fn s3_blobs() -> Option<BlobConfig> {
    let url = require_or_skip(
        Service::S3,
        std::env::var("AUSCULT_TEST_S3_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned()),
        "AUSCULT_TEST_S3_URL is not set: the S3 variant is skipped (start one with `bash .ci/s3.sh` and set AUSCULT_TEST_S3_URL to the URL it prints)",
    )?;
    let bucket = format!("auscult-store-{}", uuid::Uuid::new_v4().simple());
    let host = url.strip_prefix("http://").expect("an http:// URL");
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "CreateBucket: {text}");
    Some(BlobConfig::S3 {
        bucket,
        region: "us-east-1".into(),
        endpoint: Some(url),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        allow_http: true,
    })
}

/// Declared metadata of a test upload.
pub fn meta(upload_id: &str) -> NewRecording {
    NewRecording {
        upload_id: upload_id.into(),
        device_serial: "SN".into(),
        subject_id: "s1".into(),
        site: "aortic".into(),
        position: "supine".into(),
        started_at_ms: 1_780_000_000_000,
        pcg_rate_hz: 4000,
        pcg_format: "s16le".into(),
        ecg_mode: "none".into(),
        ecg_rate_hz: 0,
        ecg_format: String::new(),
        payload_sha256: None,
    }
}

/// A complete case with one PCG part (blob key `key`, not written here) and the given worklist
/// priority and start time; returns its id.
pub async fn complete_case(
    store: &Store,
    tenant_id: &TenantId,
    device_id: &DeviceId,
    upload_id: &str,
    started_at_ms: i64,
    priority: i64,
) -> String {
    let mut m = meta(upload_id);
    m.started_at_ms = started_at_ms;
    let now = auscult_store::now_ms();
    let (row, created) = store
        .open_upload(tenant_id, device_id, &m, now)
        .await
        .unwrap();
    assert!(created);
    let part = Part {
        start: 0,
        count: 100,
        object_key: format!("test/{upload_id}"),
        bytes: None,
    };
    store
        .commit_part(
            tenant_id,
            &CaseId::new(row.id.as_str()),
            StreamKind::Pcg,
            &part,
        )
        .await
        .unwrap();
    let actor = Actor {
        tenant_id: Some(tenant_id.as_str()),
        principal_id: device_id.as_str(),
        role: "device",
    };
    store
        .complete_upload(
            tenant_id,
            &CaseId::new(row.id.as_str()),
            Counts {
                pcg: 100,
                ..Counts::default()
            },
            0.025,
            &actor,
            now,
        )
        .await
        .unwrap();
    sqlx::query("UPDATE recordings SET priority = $1 WHERE id = $2")
        .bind(priority)
        .bind(&row.id)
        .execute(store.pool())
        .await
        .unwrap();
    row.id
}

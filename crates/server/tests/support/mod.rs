//! Shared helpers of the server's integration tests: start a real server (in process or as a
//! child process) on 127.0.0.1:0 against SQLite in a temp dir or a fresh PostgreSQL database,
//! make tenants, devices and users over gRPC, and stream synthetic recordings.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::ingest_service_client::IngestServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use auscult_server::{RunningServer, ServerConfig};
use sqlx::Connection;
use tonic::Request;
use tonic::transport::Channel;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database URL, or `None` (with a message) when no server is configured.
pub async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("AUSCULT_TEST_POSTGRES_URL") else {
        eprintln!(
            "AUSCULT_TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant of this test"
        );
        return None;
    };
    let name = format!("auscult_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database path");
    Some(format!("{prefix}/{name}"))
}

/// A configuration for tests: ephemeral port, temp dir, fast polling, small commits.
pub fn test_config(dir: &std::path::Path, database_url: Option<String>) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url,
        workers: 1,
        flush_bytes: 16 * 1024,
        job_poll_ms: 100,
        job_retry_base_ms: 200,
        max_recording_seconds: 120,
        ..ServerConfig::default()
    }
}

/// A running in-process server and what a test needs to talk to it.
pub struct TestServer {
    pub server: RunningServer,
    pub channel: Channel,
    pub admin_token: String,
    pub dir: tempfile::TempDir,
}

/// Starts a server on `db`, or `None` when that database is not available.
pub async fn start(db: Db) -> Option<TestServer> {
    let dir = tempfile::tempdir().unwrap();
    let url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(postgres_url().await?),
    };
    let server = auscult_server::start(test_config(dir.path(), url))
        .await
        .expect("server starts");
    let admin_token = server
        .bootstrap_token
        .clone()
        .expect("bootstrap token on first start");
    let channel = connect(server.addr).await;
    Some(TestServer {
        server,
        channel,
        admin_token,
        dir,
    })
}

pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

pub fn admin(ch: &Channel) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(ch.clone())
}

pub fn review(ch: &Channel) -> ReviewServiceClient<Channel> {
    ReviewServiceClient::new(ch.clone()).max_decoding_message_size(16 * 1024 * 1024)
}

pub fn ingest(ch: &Channel) -> IngestServiceClient<Channel> {
    IngestServiceClient::new(ch.clone()).max_encoding_message_size(64 * 1024 * 1024)
}

/// A tenant with a device, a clinician, a nurse and a tenant admin.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub device_token: String,
    pub device_id: String,
    pub clinician_token: String,
    pub clinician_id: String,
    pub nurse_token: String,
    pub admin_token: String,
}

pub async fn make_tenant(ch: &Channel, system_admin: &str, name: &str) -> Tenant {
    let mut a = admin(ch);
    let t = a
        .create_tenant(authed(
            system_admin,
            pb::CreateTenantRequest {
                name: name.into(),
                kind: pb::TenantKind::Clinic as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let device = a
        .register_device(authed(
            system_admin,
            pb::RegisterDeviceRequest {
                tenant_id: t.tenant_id.clone(),
                name: format!("{name}-steth-1"),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let user = |role: pb::Role, n: &str| pb::CreateUserRequest {
        tenant_id: t.tenant_id.clone(),
        name: format!("{name}-{n}"),
        role: role as i32,
    };
    let clinician = a
        .create_user(authed(system_admin, user(pb::Role::Clinician, "dr")))
        .await
        .unwrap()
        .into_inner();
    let nurse = a
        .create_user(authed(system_admin, user(pb::Role::Nurse, "rn")))
        .await
        .unwrap()
        .into_inner();
    let tadmin = a
        .create_user(authed(system_admin, user(pb::Role::Admin, "admin")))
        .await
        .unwrap()
        .into_inner();
    Tenant {
        id: t.tenant_id,
        device_id: device.principal.unwrap().principal_id,
        device_token: device.token,
        clinician_id: clinician.principal.clone().unwrap().principal_id,
        clinician_token: clinician.token,
        nurse_token: nurse.token,
        admin_token: tadmin.token,
    }
}

/// A synthetic recording packed as a device would send it.
#[derive(Debug, Clone)]
pub struct DeviceRecording {
    pub pcg_s16: Vec<u8>,
    pub ecg_f32: Vec<u8>,
    pub pcg_rate: u32,
    pub ecg_rate: u32,
}

impl DeviceRecording {
    pub fn pcg_samples(&self) -> u64 {
        (self.pcg_s16.len() / 2) as u64
    }
    pub fn ecg_samples(&self) -> u64 {
        (self.ecg_f32.len() / 4) as u64
    }
}

/// Synthesises `seconds` of a scenario with the workspace's synthesiser.
pub fn synth(scenario: auscult_synth::Scenario, seed: u64, seconds: f64) -> DeviceRecording {
    let rec = auscult_synth::generate(&scenario.config(seed, seconds)).expect("synthesise");
    let peak = rec.pcg.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    let pcg_s16 = rec
        .pcg
        .iter()
        .flat_map(|x| (((x / peak) * 30000.0).round() as i16).to_le_bytes())
        .collect();
    let ecg_f32 = rec.ecg.iter().flat_map(|x| x.to_le_bytes()).collect();
    DeviceRecording {
        pcg_s16,
        ecg_f32,
        pcg_rate: rec.pcg_rate_hz.round() as u32,
        ecg_rate: rec.ecg_rate_hz.round() as u32,
    }
}

pub fn metadata(upload_id: &str, rec: &DeviceRecording) -> pb::UploadMetadata {
    pb::UploadMetadata {
        upload_id: upload_id.into(),
        device_serial: "SN-0001".into(),
        subject_id: "subject-42".into(),
        site: pb::AuscultationSite::Aortic as i32,
        position: pb::BodyPosition::Supine as i32,
        started_at: Some(prost_types::Timestamp {
            seconds: 1_780_000_000,
            nanos: 0,
        }),
        pcg_rate_hz: rec.pcg_rate,
        pcg_format: pb::SampleFormat::S16le as i32,
        ecg_mode: pb::EcgMode::Samples as i32,
        ecg_rate_hz: rec.ecg_rate,
        ecg_format: pb::SampleFormat::F32le as i32,
        payload_sha256: Vec::new(),
    }
}

pub fn meta_msg(m: pb::UploadMetadata) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Metadata(m)),
    }
}

pub fn chunk_msg(stream: pb::SignalStream, offset: u64, samples: Vec<u8>) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Chunk(pb::UploadChunk {
            stream: stream as i32,
            offset,
            samples,
            r_peaks_s: Vec::new(),
        })),
    }
}

pub fn finish_msg(pcg: u64, ecg: u64, r_peaks: u64) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Finish(pb::UploadFinish {
            totals: Some(pb::CommittedCounts {
                pcg_samples: pcg,
                ecg_samples: ecg,
                r_peaks,
            }),
        })),
    }
}

/// Chunks of 0.25 s of PCG and ECG, interleaved, starting from the given sample offsets.
pub fn chunks_from(rec: &DeviceRecording, pcg_from: u64, ecg_from: u64) -> Vec<pb::UploadRequest> {
    let pcg_step = (rec.pcg_rate / 4) as usize;
    let ecg_step = (rec.ecg_rate / 4) as usize;
    let mut out = Vec::new();
    let (mut p, mut e) = (pcg_from as usize, ecg_from as usize);
    let (np, ne) = (rec.pcg_s16.len() / 2, rec.ecg_f32.len() / 4);
    while p < np || e < ne {
        if p < np {
            let end = (p + pcg_step).min(np);
            out.push(chunk_msg(
                pb::SignalStream::Pcg,
                p as u64,
                rec.pcg_s16[p * 2..end * 2].to_vec(),
            ));
            p = end;
        }
        if e < ne {
            let end = (e + ecg_step).min(ne);
            out.push(chunk_msg(
                pb::SignalStream::Ecg,
                e as u64,
                rec.ecg_f32[e * 4..end * 4].to_vec(),
            ));
            e = end;
        }
    }
    out
}

/// Every message of a whole upload.
pub fn whole_upload(upload_id: &str, rec: &DeviceRecording) -> Vec<pb::UploadRequest> {
    let mut msgs = vec![meta_msg(metadata(upload_id, rec))];
    msgs.extend(chunks_from(rec, 0, 0));
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    msgs
}

pub async fn upload(
    ch: &Channel,
    token: &str,
    msgs: Vec<pb::UploadRequest>,
) -> Result<pb::UploadResponse, tonic::Status> {
    ingest(ch)
        .upload(authed(token, tokio_stream::iter(msgs)))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn upload_status(
    ch: &Channel,
    token: &str,
    upload_id: &str,
) -> Result<pb::UploadStatus, tonic::Status> {
    ingest(ch)
        .get_upload_status(authed(
            token,
            pb::GetUploadStatusRequest {
                upload_id: upload_id.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_case(ch: &Channel, token: &str, case_id: &str) -> Result<pb::Case, tonic::Status> {
    review(ch)
        .get_case(authed(
            token,
            pb::GetCaseRequest {
                case_id: case_id.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Polls until the case's analysis is no longer pending.
pub async fn wait_analysed(ch: &Channel, token: &str, case_id: &str) -> pb::Case {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let case = get_case(ch, token, case_id).await.expect("get case");
        let state = case.summary.as_ref().unwrap().analysis_state();
        if state != pb::AnalysisState::Pending {
            return case;
        }
        assert!(Instant::now() < deadline, "analysis did not finish in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads a case's audio in a format, returning (header, PCG bytes, ECG bytes).
pub async fn get_audio(
    ch: &Channel,
    token: &str,
    case_id: &str,
    format: pb::AudioFormat,
) -> Result<(pb::AudioHeader, Vec<u8>, Vec<u8>), tonic::Status> {
    let mut stream = review(ch)
        .get_audio(authed(
            token,
            pb::GetAudioRequest {
                case_id: case_id.into(),
                format: format as i32,
                include_ecg: true,
            },
        ))
        .await?
        .into_inner();
    let mut header = None;
    let (mut pcg, mut ecg) = (Vec::new(), Vec::new());
    while let Some(m) = stream.message().await? {
        match m.kind {
            Some(pb::audio_chunk::Kind::Header(h)) => header = Some(h),
            Some(pb::audio_chunk::Kind::Data(d)) => match d.stream() {
                pb::SignalStream::Pcg => pcg.extend_from_slice(&d.data),
                pb::SignalStream::Ecg => ecg.extend_from_slice(&d.data),
                _ => {}
            },
            None => {}
        }
    }
    Ok((header.expect("header first"), pcg, ecg))
}

pub async fn list_cases(
    ch: &Channel,
    token: &str,
    req: pb::ListCasesRequest,
) -> Result<pb::ListCasesResponse, tonic::Status> {
    review(ch)
        .list_cases(authed(token, req))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn audit(
    ch: &Channel,
    token: &str,
    case_id: &str,
) -> Result<Vec<pb::AuditEvent>, tonic::Status> {
    review(ch)
        .list_audit_events(authed(
            token,
            pb::ListAuditEventsRequest {
                case_id: case_id.into(),
                page_size: 500,
                page_token: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().events)
}

/// Declares a test for SQLite and for PostgreSQL (skipped with a message when not configured).
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Db::Postgres).await;
            }
        }
    };
}

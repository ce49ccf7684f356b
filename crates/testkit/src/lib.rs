//! Test-only helpers shared by the server's integration tests and the workspace end-to-end tests:
//! start the real auscult server (in process, or as a child process that can be SIGKILLed) on
//! 127.0.0.1:0 against SQLite in a temp dir or a fresh PostgreSQL database, provision tenants over
//! the admin gRPC API with the bootstrap token, build and send uploads, read cases back as a
//! clinician, and make fresh buckets on a local S3-compatible test server.
//!
//! A dev-dependency only: no shipped crate may depend on it. It must never talk to anything but
//! the servers it started, the PostgreSQL server named by `AUSCULT_TEST_POSTGRES_URL` and the S3
//! server named by `AUSCULT_TEST_S3_URL`, and never hide a failure: every helper returns the
//! server's error or panics with the reason, so the test calling it fails loudly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::ingest_service_client::IngestServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use auscult_server::config::S3Config;
use auscult_server::{RunningServer, ServerConfig};
use auscult_synth::Scenario;
use firmware_sim::{DeviceRecording, EcgChoice, EncodedRecording, PcgFormat};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Request;
use tonic::transport::Channel;

pub use auscult_server;

pub mod browser;
pub mod ci;
pub mod fhir;
pub mod web;
use ci::{Service, require_or_skip};

/// How long [`wait_analysed`] waits by default.
pub const ANALYSIS_WAIT: Duration = Duration::from_secs(300);

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// SQLite in the server's data directory.
    Sqlite,
    /// A fresh database on the server named by `AUSCULT_TEST_POSTGRES_URL`.
    Postgres,
}

/// A fresh PostgreSQL database URL on `AUSCULT_TEST_POSTGRES_URL`, or `None` (after printing why)
/// when that variable is not set; fails the test instead when CI declared PostgreSQL present
/// ([`ci::require_or_skip`]).
pub async fn postgres_url() -> Option<String> {
    let base = require_or_skip(
        Service::Postgres,
        std::env::var("AUSCULT_TEST_POSTGRES_URL").ok(),
        "AUSCULT_TEST_POSTGRES_URL is not set: the PostgreSQL variant of this test is skipped",
    )?;
    let name = format!("auscult_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to AUSCULT_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a fresh test database");
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("AUSCULT_TEST_POSTGRES_URL has a database path");
    Some(format!("{prefix}/{name}"))
}

/// The database URL for `db`: `Some(None)` for SQLite (the server's default in its data dir),
/// `Some(Some(url))` of a fresh PostgreSQL database, or `None` when the PostgreSQL variant is
/// skipped.
pub async fn database_url(db: Db) -> Option<Option<String>> {
    match db {
        Db::Sqlite => Some(None),
        Db::Postgres => postgres_url().await.map(Some),
    }
}

/// The server configuration of the tests: ephemeral port, the given data dir and database, one
/// analysis worker, fast job polling, a 10 s job lease, small commits (so a cut upload has
/// committed data).
pub fn test_config(dir: &Path, database_url: Option<String>) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: dir.to_path_buf(),
        database_url,
        workers: 1,
        flush_bytes: 8 * 1024,
        job_poll_ms: 100,
        job_retry_base_ms: 200,
        max_recording_seconds: 120,
        // Short, so a job held by a killed process is recovered within seconds on PostgreSQL
        // (where a starting server must wait out other servers' leases) rather than 5 min.
        job_lease_ms: 10_000,
        ..ServerConfig::default()
    }
}

/// Starts the real server in this process.
pub async fn start_in_process(dir: &Path, database_url: Option<String>) -> RunningServer {
    auscult_server::start(test_config(dir, database_url))
        .await
        .expect("the server starts")
}

/// A running in-process server and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// A plaintext channel to it.
    pub channel: Channel,
    /// The bootstrap system administrator's token.
    pub admin_token: String,
    /// Its data directory (removed on drop).
    pub dir: tempfile::TempDir,
}

/// Starts a server on `db` with the test configuration, or `None` when that database is not
/// available.
pub async fn start(db: Db) -> Option<TestServer> {
    start_with(db, |_| {}).await
}

/// Like [`start`], after `adjust` has changed the test configuration (e.g. S3 blobs).
pub async fn start_with(db: Db, adjust: impl FnOnce(&mut ServerConfig)) -> Option<TestServer> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = database_url(db).await?;
    let mut config = test_config(dir.path(), url);
    adjust(&mut config);
    let server = auscult_server::start(config)
        .await
        .expect("the server starts");
    let admin_token = server
        .bootstrap_token
        .clone()
        .expect("a bootstrap token on first start");
    let channel = connect(server.addr).await;
    Some(TestServer {
        server,
        channel,
        admin_token,
        dir,
    })
}

/// The environment variable that makes [`child_server_main`] run a server (set only on the
/// child process started by [`ChildServer::spawn`]).
pub const CHILD_DIR_ENV: &str = "AUSCULT_E2E_CHILD_DATA_DIR";
/// The database URL handed to the child server (absent for SQLite).
pub const CHILD_DB_ENV: &str = "AUSCULT_E2E_CHILD_DATABASE_URL";

/// The real server running in a separate process (the current test binary re-executed on an
/// ignored test that calls [`child_server_main`]), so a test can SIGKILL it mid-upload.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// The bootstrap administrator token, when this start created it.
    pub bootstrap_token: Option<String>,
}

impl ChildServer {
    /// Re-executes the current test binary running only `child_test` with the data dir and
    /// database in its environment, and waits until it prints that it is ready.
    pub fn spawn(child_test: &str, dir: &Path, database_url: Option<&str>) -> Self {
        let exe = std::env::current_exe().expect("path of the test binary");
        let mut cmd = Command::new(exe);
        cmd.args([child_test, "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR_ENV, dir)
            .env_remove(CHILD_DB_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.env(CHILD_DB_ENV, url);
        }
        let mut child = cmd.spawn().expect("spawn the child server");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (mut addr, mut bootstrap_token) = (None, None);
        // libtest prints `test child_server ... ` before the test's own output, on the same line.
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some((_, a)) = line.split_once("e2e-child listening on ") {
                addr = a.trim().parse().ok();
            } else if let Some((_, path)) = line.split_once("e2e-child bootstrap token file ") {
                bootstrap_token = Some(read_token_file(Path::new(path.trim())));
            } else if line.contains("e2e-child ready") {
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child server exited or never printed its address");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            addr,
            bootstrap_token,
        }
    }

    /// SIGKILL: no graceful shutdown, no flushing, connections cut.
    pub fn kill(mut self) {
        self.child.kill().expect("kill the child server");
        self.child.wait().expect("reap the child server");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the ignored child-server test: when [`CHILD_DIR_ENV`] is set, start the server on
/// that data dir, print its address (and the path of the bootstrap token's file, written as
/// `auscult serve` writes it), and serve until killed. Without the
/// variable it returns at once (so running ignored tests by hand does nothing harmful).
pub async fn child_server_main() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        eprintln!("{CHILD_DIR_ENV} is not set: this helper only runs as a child of a test");
        return;
    };
    let url = std::env::var(CHILD_DB_ENV).ok();
    let dir = Path::new(&dir);
    let mut server = start_in_process(dir, url).await;
    println!("e2e-child listening on {}", server.addr);
    if let Some(t) = &server.bootstrap_token {
        let path = auscult_server::serve::write_bootstrap_token(dir, t)
            .expect("write the bootstrap token file");
        println!("e2e-child bootstrap token file {}", path.display());
    }
    println!("e2e-child ready");
    let _ = server.wait().await;
}

/// The token in a token file (the bootstrap administrator's, as `auscult serve` writes it), without
/// its line ending.
pub fn read_token_file(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the token file {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// A plaintext gRPC channel to `addr`.
pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(url(addr))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connect to the server")
}

/// The plaintext URL of `addr` (what firmware-sim dials).
pub fn url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}")
}

/// `message` with `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    r
}

/// The admin client.
pub fn admin(ch: &Channel) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(ch.clone())
}

/// The review client (large messages for audio).
pub fn review(ch: &Channel) -> ReviewServiceClient<Channel> {
    ReviewServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

/// The ingest client (large messages allowed, so the server's limit is what is tested).
pub fn ingest(ch: &Channel) -> IngestServiceClient<Channel> {
    IngestServiceClient::new(ch.clone()).max_encoding_message_size(64 * 1024 * 1024)
}

/// A tenant provisioned over the admin API: a device, a clinician, a nurse and a tenant admin
/// (tokens as shown once).
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// The device's principal id.
    pub device_id: String,
    /// The device's bearer token.
    pub device_token: String,
    /// The clinician's principal id.
    pub clinician_id: String,
    /// The clinician's bearer token.
    pub clinician_token: String,
    /// The nurse's bearer token.
    pub nurse_token: String,
    /// The tenant administrator's bearer token.
    pub admin_token: String,
}

/// Creates a clinic tenant named `name`, registers a device and creates a clinician, a nurse and
/// a tenant admin with the system administrator's token.
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
        .expect("create tenant")
        .into_inner();
    let device = a
        .register_device(authed(
            system_admin,
            pb::RegisterDeviceRequest {
                tenant_id: t.tenant_id.clone(),
                name: format!("{name}-steth-1"),
                lifetime_seconds: None,
            },
        ))
        .await
        .expect("register device")
        .into_inner();
    let user = |role: pb::Role, n: &str| pb::CreateUserRequest {
        tenant_id: t.tenant_id.clone(),
        name: format!("{name}-{n}"),
        role: role as i32,
        lifetime_seconds: None,
        web_login: None,
    };
    let mut create = async |role, n| {
        a.create_user(authed(system_admin, user(role, n)))
            .await
            .expect("create user")
            .into_inner()
    };
    let clinician = create(pb::Role::Clinician, "dr").await;
    let nurse = create(pb::Role::Nurse, "rn").await;
    let tenant_admin = create(pb::Role::Admin, "admin").await;
    for token in [
        &device.token,
        &clinician.token,
        &nurse.token,
        &tenant_admin.token,
    ] {
        assert!(!token.is_empty(), "a new token is shown once");
    }
    Tenant {
        id: t.tenant_id,
        device_id: device.principal.expect("device principal").principal_id,
        device_token: device.token,
        clinician_id: clinician.principal.expect("user principal").principal_id,
        clinician_token: clinician.token,
        nurse_token: nurse.token,
        admin_token: tenant_admin.token,
    }
}

/// Assigns the device `device_id` to `subjects` with an administrator's token (AssignDevice),
/// returning how many assignments were new.
pub async fn assign_device(
    ch: &Channel,
    admin_token: &str,
    device_id: &str,
    subjects: &[&str],
) -> Result<u32, tonic::Status> {
    admin(ch)
        .assign_device(authed(
            admin_token,
            pb::DeviceAssignmentRequest {
                tenant_id: String::new(),
                device_id: device_id.into(),
                subject_ids: subjects.iter().map(|s| (*s).to_owned()).collect(),
            },
        ))
        .await
        .map(|r| r.into_inner().changed)
}

impl Tenant {
    /// Assigns the tenant's device to `subjects` (as the tenant administrator); panics on failure.
    pub async fn assign(&self, ch: &Channel, subjects: &[&str]) {
        assign_device(ch, &self.admin_token, &self.device_id, subjects)
            .await
            .expect("assign the device to its subjects");
    }
}

/// A synthetic recording packed as a device sends it: PCG as signed 16-bit, ECG as f32.
#[derive(Debug, Clone)]
pub struct PackedRecording {
    /// PCG, s16le.
    pub pcg_s16: Vec<u8>,
    /// ECG, f32le.
    pub ecg_f32: Vec<u8>,
    /// PCG rate, Hz.
    pub pcg_rate: u32,
    /// ECG rate, Hz.
    pub ecg_rate: u32,
}

impl PackedRecording {
    /// PCG samples.
    pub fn pcg_samples(&self) -> u64 {
        (self.pcg_s16.len() / 2) as u64
    }
    /// ECG samples.
    pub fn ecg_samples(&self) -> u64 {
        (self.ecg_f32.len() / 4) as u64
    }
}

/// Synthesises `seconds` of a scenario with the workspace's synthesiser, peak-normalised to s16.
pub fn synth(scenario: Scenario, seed: u64, seconds: f64) -> PackedRecording {
    let rec = auscult_synth::generate(&scenario.config(seed, seconds)).expect("synthesise");
    let peak = rec.pcg.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    let pcg_s16 = rec
        .pcg
        .iter()
        .flat_map(|x| (((x / peak) * 30000.0).round() as i16).to_le_bytes())
        .collect();
    let ecg_f32 = rec.ecg.iter().flat_map(|x| x.to_le_bytes()).collect();
    PackedRecording {
        pcg_s16,
        ecg_f32,
        pcg_rate: rec.pcg_rate_hz.round() as u32,
        ecg_rate: rec.ecg_rate_hz.round() as u32,
    }
}

/// `seconds` of a synthetic scenario with its raw ECG, encoded as firmware-sim sends it (PCG as
/// signed 16-bit, ECG as f32).
pub fn recording(scenario: Scenario, seed: u64, seconds: f64) -> Arc<EncodedRecording> {
    let synth = auscult_synth::generate(&scenario.config(seed, seconds)).expect("synthesise");
    let device =
        DeviceRecording::from_synth(format!("{scenario:?}-{seed}"), &synth, EcgChoice::Samples)
            .expect("a recording the protocol can carry");
    Arc::new(device.encode(PcgFormat::S16))
}

/// Upload metadata for a packed recording (aortic, supine, subject-42, raw ECG).
pub fn metadata(upload_id: &str, rec: &PackedRecording) -> pb::UploadMetadata {
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
        live: false,
    }
}

/// The metadata message.
pub fn meta_msg(m: pb::UploadMetadata) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Metadata(m)),
    }
}

/// A chunk message of raw samples.
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

/// The finish message with the totals of each stream.
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
pub fn chunks_from(rec: &PackedRecording, pcg_from: u64, ecg_from: u64) -> Vec<pb::UploadRequest> {
    let pcg_step = (rec.pcg_rate / 4).max(1) as usize;
    let ecg_step = (rec.ecg_rate / 4).max(1) as usize;
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
pub fn whole_upload(upload_id: &str, rec: &PackedRecording) -> Vec<pb::UploadRequest> {
    let mut msgs = vec![meta_msg(metadata(upload_id, rec))];
    msgs.extend(chunks_from(rec, 0, 0));
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    msgs
}

/// Opens `UploadWithAcks` as the device holding `token`: where to send its messages (at most
/// `capacity` waiting) and its acknowledgements.
pub async fn open_upload_with_acks(
    ch: &Channel,
    token: &str,
    capacity: usize,
) -> (
    tokio::sync::mpsc::Sender<pb::UploadRequest>,
    tonic::Streaming<pb::UploadAck>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let acks = ingest(ch)
        .upload_with_acks(authed(
            token,
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .await
        .expect("UploadWithAcks starts")
        .into_inner();
    (tx, acks)
}

/// Upload (client stream) of `msgs`.
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

/// GetUploadStatus.
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

/// GetCase.
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

/// Polls GetCase until the analysis is no longer pending (panics after [`ANALYSIS_WAIT`]).
pub async fn wait_analysed(ch: &Channel, token: &str, case_id: &str) -> pb::Case {
    wait_analysed_within(ch, token, case_id, ANALYSIS_WAIT).await
}

/// Polls GetCase until the analysis is no longer pending (panics after `limit`).
pub async fn wait_analysed_within(
    ch: &Channel,
    token: &str,
    case_id: &str,
    limit: Duration,
) -> pb::Case {
    let deadline = Instant::now() + limit;
    loop {
        let case = get_case(ch, token, case_id).await.expect("GetCase");
        let state = case
            .summary
            .as_ref()
            .expect("a case has a summary")
            .analysis_state();
        if state != pb::AnalysisState::Pending {
            return case;
        }
        assert!(
            Instant::now() < deadline,
            "case {case_id} not analysed within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// GetAudio in `format` with raw ECG: (header, PCG bytes, ECG bytes), checking that the header
/// comes first and once. R-peak data (recordings without raw ECG) is not collected.
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
            Some(pb::audio_chunk::Kind::Header(h)) => {
                assert!(header.is_none(), "a second audio header");
                header = Some(h);
            }
            Some(pb::audio_chunk::Kind::Data(d)) => {
                assert!(header.is_some(), "audio data before the header");
                match d.stream() {
                    pb::SignalStream::Pcg => pcg.extend_from_slice(&d.data),
                    pb::SignalStream::Ecg => ecg.extend_from_slice(&d.data),
                    pb::SignalStream::RPeaks => {}
                    other => panic!("unexpected audio stream {other:?}"),
                }
            }
            None => panic!("an empty audio chunk"),
        }
    }
    Ok((header.expect("an audio header"), pcg, ecg))
}

/// GetAudio in the stored sample format.
pub async fn get_samples(
    ch: &Channel,
    token: &str,
    case_id: &str,
) -> Result<(pb::AudioHeader, Vec<u8>, Vec<u8>), tonic::Status> {
    get_audio(ch, token, case_id, pb::AudioFormat::Samples).await
}

/// Asserts that the server holds exactly these PCG and ECG bytes (no loss, no duplicates).
pub async fn assert_stored_bytes(
    ch: &Channel,
    token: &str,
    case_id: &str,
    pcg_bytes: &[u8],
    ecg_bytes: &[u8],
) {
    let (header, pcg, ecg) = get_samples(ch, token, case_id).await.expect("GetAudio");
    assert_eq!(header.format(), pb::AudioFormat::Samples);
    assert_eq!(
        pcg.len(),
        pcg_bytes.len(),
        "stored PCG bytes differ in length from the uploaded recording"
    );
    assert!(
        pcg == pcg_bytes,
        "stored PCG samples differ from the uploaded ones"
    );
    assert_eq!(
        ecg.len(),
        ecg_bytes.len(),
        "stored ECG bytes differ in length from the uploaded recording"
    );
    assert!(
        ecg == ecg_bytes,
        "stored ECG samples differ from the uploaded ones"
    );
}

/// Asserts that the server holds exactly the recording's samples.
pub async fn assert_stored_exactly(
    ch: &Channel,
    token: &str,
    case_id: &str,
    rec: &EncodedRecording,
) {
    assert_stored_bytes(ch, token, case_id, &rec.pcg_bytes, &rec.ecg_bytes).await;
}

/// ListCases.
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

/// ListCases, first page of up to 500 cases.
pub async fn list_all_cases(
    ch: &Channel,
    token: &str,
) -> Result<Vec<pb::CaseSummary>, tonic::Status> {
    list_cases(
        ch,
        token,
        pb::ListCasesRequest {
            page_size: 500,
            ..Default::default()
        },
    )
    .await
    .map(|r| r.cases)
}

/// ListAuditEvents of one case (up to 500 events).
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

/// The S3-compatible test server's URL from `AUSCULT_TEST_S3_URL` (e.g. `http://127.0.0.1:9577`,
/// moto started by `.ci/s3.sh`), or `None` after printing that the test is skipped; fails the
/// test instead when CI declared S3 present ([`ci::require_or_skip`]).
pub fn s3_url() -> Option<String> {
    require_or_skip(
        Service::S3,
        std::env::var("AUSCULT_TEST_S3_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned()),
        "AUSCULT_TEST_S3_URL is not set: this S3 test is skipped (start one with `bash .ci/s3.sh` and set AUSCULT_TEST_S3_URL to the URL it prints)",
    )
}

/// Creates a fresh bucket on the S3 test server with an unsigned `PUT /<bucket>` (what moto
/// accepts) and returns the server settings that reach it, or `None` when `AUSCULT_TEST_S3_URL`
/// is unset.
pub async fn s3_test_config() -> Option<S3Config> {
    let url = s3_url()?;
    let bucket = format!("auscult-test-{}", uuid::Uuid::new_v4().simple());
    create_bucket(&url, &bucket).await;
    Some(S3Config {
        bucket,
        region: "us-east-1".into(),
        endpoint: Some(url),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        allow_http: true,
    })
}

/// `PUT /<bucket>` over plain HTTP/1.1 to `url` (`http://host:port`); panics unless 200.
pub async fn create_bucket(url: &str, bucket: &str) {
    let host = url
        .strip_prefix("http://")
        .expect("AUSCULT_TEST_S3_URL must be an http:// URL")
        .trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect to the S3 test server at {host}: {e}"));
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("send CreateBucket");
    let mut response = Vec::new();
    socket
        .read_to_end(&mut response)
        .await
        .expect("read CreateBucket response");
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "creating bucket {bucket} failed: {text}"
    );
}

/// Declares a test for SQLite and for PostgreSQL (the latter skipped with a message when
/// `AUSCULT_TEST_POSTGRES_URL` is not set, unless CI declared PostgreSQL present). The test is `async fn name(db: Db)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Db::Postgres).await;
            }
        }
    };
}

/// A TCP proxy on loopback in front of a real server (the S3 test server, PostgreSQL) that can
/// cut every connection, open or new: an outage or a restart of that server as its clients see
/// it, without touching the server other tests share.
#[derive(Debug)]
pub struct CutProxy {
    /// Where clients connect instead of the server.
    pub addr: std::net::SocketAddr,
    cut: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// Connections refused while cut.
    pub refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CutProxy {
    /// Starts forwarding to `target` (`host:port`).
    pub async fn start(target: String) -> CutProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let cut = Arc::new(tokio::sync::watch::Sender::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let (cut_, refused_) = (Arc::clone(&cut), Arc::clone(&refused));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_.borrow() {
                    refused_.fetch_add(1, Ordering::Relaxed);
                    drop(inbound);
                    continue;
                }
                let mut down = cut_.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        CutProxy { addr, cut, refused }
    }

    /// Cuts every open connection and refuses new ones (`true`), or lets them through again.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

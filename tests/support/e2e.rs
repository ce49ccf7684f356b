//! Helpers of the workspace-level end-to-end tests (`tests/e2e_*.rs`): start the real auscult
//! server (in process, or as a separate process that can be SIGKILLed) on 127.0.0.1:0 against
//! SQLite in a temp dir or a fresh PostgreSQL database, provision a tenant over the admin gRPC
//! API with the bootstrap token, make recordings the way the firmware simulator does, and read
//! cases back as a clinician.
//!
//! Included by each e2e test with `#[path = "support/e2e.rs"] mod e2e;` (not part of the
//! `auscult_suite` library: it uses the package's dev-dependencies).
//!
//! Must never talk to anything but the servers it started (and the PostgreSQL server named by
//! `AUSCULT_TEST_POSTGRES_URL`), and never hide a failure: every helper returns the server's
//! error or panics with the reason, so the tests calling it fail loudly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use auscult_server::{RunningServer, ServerConfig};
use auscult_synth::Scenario;
use firmware_sim::{DeviceRecording, EcgChoice, EncodedRecording, PcgFormat};
use sqlx::Connection as _;
use tonic::Request;
use tonic::transport::Channel;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// SQLite in the server's data directory.
    Sqlite,
    /// A fresh database on the server named by `AUSCULT_TEST_POSTGRES_URL`.
    Postgres,
}

/// The database URL for `db`: `Ok(None)` for SQLite (the server's default in its data dir), a
/// freshly created PostgreSQL database for PostgreSQL, or `Err(())` (after printing why) when
/// the PostgreSQL variant is skipped because `AUSCULT_TEST_POSTGRES_URL` is not set.
pub async fn database_url(db: Db) -> Result<Option<String>, ()> {
    match db {
        Db::Sqlite => Ok(None),
        Db::Postgres => {
            let Ok(base) = std::env::var("AUSCULT_TEST_POSTGRES_URL") else {
                eprintln!(
                    "AUSCULT_TEST_POSTGRES_URL is not set: the PostgreSQL variant of this test is skipped"
                );
                return Err(());
            };
            let name = format!("auscult_e2e_{}", uuid::Uuid::new_v4().simple());
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
            Ok(Some(format!("{prefix}/{name}")))
        }
    }
}

/// The server configuration of these tests: ephemeral port, the given data dir and database,
/// one analysis worker, fast job polling, small commits (so a cut upload has committed data).
pub fn config(dir: &Path, database_url: Option<String>) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url,
        workers: 1,
        flush_bytes: 8 * 1024,
        job_poll_ms: 100,
        job_retry_base_ms: 200,
        max_recording_seconds: 120,
        ..ServerConfig::default()
    }
}

/// Starts the real server in this process.
pub async fn start_in_process(dir: &Path, database_url: Option<String>) -> RunningServer {
    auscult_server::start(config(dir, database_url))
        .await
        .expect("the server starts")
}

/// The environment variable that makes [`child_server_main`] run a server (set only on the
/// child process started by [`ChildServer::spawn`]).
pub const CHILD_DIR_ENV: &str = "AUSCULT_E2E_CHILD_DATA_DIR";
/// The database URL handed to the child server (absent for SQLite).
pub const CHILD_DB_ENV: &str = "AUSCULT_E2E_CHILD_DATABASE_URL";

/// The real server running in a separate process (this test binary re-executed on its ignored
/// `child_server` test), so a test can SIGKILL it in the middle of an upload.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// The bootstrap administrator token, when this start created it.
    pub bootstrap_token: Option<String>,
}

impl ChildServer {
    /// Re-executes the current test binary running only `child_test` (an ignored test that calls
    /// [`child_server_main`]) with the data dir and database in its environment, and waits until
    /// it prints that it is ready.
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
            } else if let Some((_, t)) = line.split_once("e2e-child bootstrap token ") {
                bootstrap_token = Some(t.trim().to_owned());
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

/// The body of the ignored `child_server` test: when [`CHILD_DIR_ENV`] is set, start the server
/// on that data dir, print its address (and bootstrap token), and serve until killed. Without the
/// variable it returns at once (so running ignored tests by hand does nothing harmful).
pub async fn child_server_main() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        eprintln!("{CHILD_DIR_ENV} is not set: this helper only runs as a child of an e2e test");
        return;
    };
    let url = std::env::var(CHILD_DB_ENV).ok();
    let mut server = start_in_process(Path::new(&dir), url).await;
    println!("e2e-child listening on {}", server.addr);
    if let Some(t) = &server.bootstrap_token {
        println!("e2e-child bootstrap token {t}");
    }
    println!("e2e-child ready");
    let _ = server.wait().await;
}

/// A gRPC channel to `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the server")
}

/// The URL firmware-sim dials for `addr`.
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

/// A tenant provisioned over the admin API: one device and one clinician (tokens as shown once).
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
}

/// Creates a clinic tenant, registers a device and creates a clinician with the system
/// administrator's token.
pub async fn provision(ch: &Channel, admin_token: &str, name: &str) -> Tenant {
    let mut a = AdminServiceClient::new(ch.clone());
    let t = a
        .create_tenant(authed(
            admin_token,
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
            admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: t.tenant_id.clone(),
                name: format!("{name}-stethoscope"),
            },
        ))
        .await
        .expect("register device")
        .into_inner();
    let clinician = a
        .create_user(authed(
            admin_token,
            pb::CreateUserRequest {
                tenant_id: t.tenant_id.clone(),
                name: format!("{name}-clinician"),
                role: pb::Role::Clinician as i32,
            },
        ))
        .await
        .expect("create clinician")
        .into_inner();
    assert!(!device.token.is_empty(), "the device token is shown once");
    assert!(
        !clinician.token.is_empty(),
        "the clinician token is shown once"
    );
    Tenant {
        id: t.tenant_id,
        device_id: device.principal.expect("device principal").principal_id,
        device_token: device.token,
        clinician_id: clinician.principal.expect("user principal").principal_id,
        clinician_token: clinician.token,
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

/// The review client (large messages for audio).
pub fn review(ch: &Channel) -> ReviewServiceClient<Channel> {
    ReviewServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
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

/// Polls GetCase until the analysis is no longer pending (panics after `limit`).
pub async fn wait_analysed(ch: &Channel, token: &str, case_id: &str, limit: Duration) -> pb::Case {
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

/// ListCases (every case, up to 500).
pub async fn list_cases(ch: &Channel, token: &str) -> Result<Vec<pb::CaseSummary>, tonic::Status> {
    review(ch)
        .list_cases(authed(
            token,
            pb::ListCasesRequest {
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().cases)
}

/// GetAudio in the stored sample format: (header, PCG bytes, ECG bytes), checking that the data
/// of each stream arrives contiguously from offset 0.
pub async fn get_samples(
    ch: &Channel,
    token: &str,
    case_id: &str,
) -> Result<(pb::AudioHeader, Vec<u8>, Vec<u8>), tonic::Status> {
    let mut stream = review(ch)
        .get_audio(authed(
            token,
            pb::GetAudioRequest {
                case_id: case_id.into(),
                format: pb::AudioFormat::Samples as i32,
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
                    other => panic!("unexpected audio stream {other:?}"),
                }
            }
            None => panic!("an empty audio chunk"),
        }
    }
    Ok((header.expect("an audio header"), pcg, ecg))
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

/// Asserts that the server holds exactly the recording's samples (no loss, no duplicates).
pub async fn assert_stored_exactly(
    ch: &Channel,
    token: &str,
    case_id: &str,
    rec: &EncodedRecording,
) {
    let (header, pcg, ecg) = get_samples(ch, token, case_id).await.expect("GetAudio");
    assert_eq!(header.format(), pb::AudioFormat::Samples);
    assert_eq!(
        pcg.len(),
        rec.pcg_bytes.len(),
        "stored PCG bytes differ in length from the uploaded recording"
    );
    assert!(
        pcg == rec.pcg_bytes,
        "stored PCG samples differ from the uploaded ones"
    );
    assert_eq!(
        ecg.len(),
        rec.ecg_bytes.len(),
        "stored ECG bytes differ in length from the uploaded recording"
    );
    assert!(
        ecg == rec.ecg_bytes,
        "stored ECG samples differ from the uploaded ones"
    );
}

/// Declares a test for SQLite and for PostgreSQL (the latter skipped with a message when
/// `AUSCULT_TEST_POSTGRES_URL` is not set).
#[macro_export]
macro_rules! e2e_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::e2e::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::e2e::Db::Postgres).await;
            }
        }
    };
}

//! Helpers of the programme end-to-end test (`tests/e2e_program.rs`): start the real auscult
//! server in this process on 127.0.0.1:0 against SQLite in a temp dir or a fresh PostgreSQL
//! database, provision tenants and users over the admin gRPC API, make recordings the way the
//! firmware simulator sends them, and wait for their analyses.
//!
//! Included with `#[path = "support/program.rs"] mod program_support;`. Must never talk to
//! anything but the server it started (and the PostgreSQL server named by
//! `AUSCULT_TEST_POSTGRES_URL`), and never hide a failure: helpers panic with the reason.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use auscult_server::{RunningServer, ServerConfig};
use auscult_synth::Scenario;
use firmware_sim::{DeviceRecording, EcgChoice, EncodedRecording, PcgFormat};
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

/// `Some(None)` for SQLite, `Some(Some(url))` of a fresh PostgreSQL database, or `None` (after
/// saying why) when the PostgreSQL variant is skipped because the variable is not set (a failure
/// instead when CI declared PostgreSQL present: `auscult_testkit::postgres_url`).
pub async fn database_url(db: Db) -> Option<Option<String>> {
    match db {
        Db::Sqlite => Some(None),
        Db::Postgres => auscult_testkit::postgres_url().await.map(Some),
    }
}

/// Starts the real server: ephemeral port, the given data dir and database, one analysis
/// worker, fast job polling.
pub async fn start(dir: &Path, database_url: Option<String>) -> RunningServer {
    auscult_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url,
        workers: 1,
        job_poll_ms: 100,
        job_retry_base_ms: 200,
        max_recording_seconds: 120,
        ..ServerConfig::default()
    })
    .await
    .expect("the server starts")
}

/// A gRPC channel to `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the server")
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

/// A municipality provisioned over the admin API, with its principals' tokens.
#[derive(Debug, Clone)]
pub struct Town {
    /// Tenant id.
    pub id: String,
    /// The stethoscope's token.
    pub device_token: String,
    /// The clinician's principal id.
    pub clinician_id: String,
    /// The clinician's token.
    pub clinician_token: String,
    /// The programme staff member's token.
    pub staff_token: String,
}

async fn user(
    a: &mut AdminServiceClient<Channel>,
    admin: &str,
    tenant: &str,
    name: &str,
    role: pb::Role,
) -> pb::PrincipalWithToken {
    a.create_user(authed(
        admin,
        pb::CreateUserRequest {
            tenant_id: tenant.into(),
            name: name.into(),
            role: role as i32,
            lifetime_seconds: None,
            web_login: None,
        },
    ))
    .await
    .expect("create user")
    .into_inner()
}

/// Creates a municipality tenant with a device, a clinician and a programme staff member.
pub async fn provision(ch: &Channel, admin: &str, name: &str) -> Town {
    let mut a = AdminServiceClient::new(ch.clone());
    let t = a
        .create_tenant(authed(
            admin,
            pb::CreateTenantRequest {
                name: name.into(),
                kind: pb::TenantKind::Municipality as i32,
            },
        ))
        .await
        .expect("create tenant")
        .into_inner();
    let device = a
        .register_device(authed(
            admin,
            pb::RegisterDeviceRequest {
                tenant_id: t.tenant_id.clone(),
                name: format!("{name}-stethoscope"),
                lifetime_seconds: None,
            },
        ))
        .await
        .expect("register device")
        .into_inner();
    let clinician = user(
        &mut a,
        admin,
        &t.tenant_id,
        &format!("{name}-clinician"),
        pb::Role::Clinician,
    )
    .await;
    let staff = user(
        &mut a,
        admin,
        &t.tenant_id,
        &format!("{name}-staff"),
        pb::Role::ProgramStaff,
    )
    .await;
    Town {
        id: t.tenant_id,
        device_token: device.token,
        clinician_id: clinician.principal.expect("user principal").principal_id,
        clinician_token: clinician.token,
        staff_token: staff.token,
    }
}

/// `seconds` of a synthetic scenario with its raw ECG, encoded as firmware-sim sends it.
pub fn recording(scenario: Scenario, seed: u64, seconds: f64) -> Arc<EncodedRecording> {
    let synth = auscult_synth::generate(&scenario.config(seed, seconds)).expect("synthesise");
    let device =
        DeviceRecording::from_synth(format!("{scenario:?}-{seed}"), &synth, EcgChoice::Samples)
            .expect("a recording the protocol can carry");
    Arc::new(device.encode(PcgFormat::S16))
}

/// The review client (large messages).
pub fn review(ch: &Channel) -> ReviewServiceClient<Channel> {
    ReviewServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

/// Polls GetCase until the analysis is no longer pending (panics after `limit`).
pub async fn wait_analysed(ch: &Channel, token: &str, case_id: &str, limit: Duration) -> pb::Case {
    let deadline = Instant::now() + limit;
    loop {
        let case = review(ch)
            .get_case(authed(
                token,
                pb::GetCaseRequest {
                    case_id: case_id.into(),
                },
            ))
            .await
            .expect("GetCase")
            .into_inner();
        let state = case.summary.as_ref().expect("a summary").analysis_state();
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

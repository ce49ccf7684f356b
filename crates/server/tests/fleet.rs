//! Several servers on one database.
//!
//! - The server registry: a server with local blobs (or any second server on SQLite) refuses to
//!   start beside a live server, starts once that server shut down gracefully or went silent.
//! - A worker keeps its job's lease while it analyses, and notices when it lost it.
//! - The fleet: three real `auscult-server` processes on one PostgreSQL database and one bucket of
//!   the S3 test server, devices on different servers, one server SIGKILLed mid-upload and the
//!   upload resumed on another: every upload stored exactly once, byte for byte, every recording
//!   analysed once, exactly one bootstrap administrator. Needs `AUSCULT_TEST_POSTGRES_URL` and
//!   `AUSCULT_TEST_S3_URL` (skipped with a message without them, unless CI declared them).
//! - A nurse's `Watch` on one server delivers the alerts raised through another, exactly once
//!   and in event-id order, also mixed with its own server's live events, and resumes by id on
//!   the other server.
//! - Live auscultation across servers: a device streams live to server A; a clinician signed in
//!   on server B finds the session in B's `/live`, and B's `/live/{id}/stream` carries the same
//!   frames, byte for byte, as A's (PCG equal to what the device sent, in order, no duplicates,
//!   the engine's marks), a little later (the lag is measured and printed); an instruction posted
//!   on B reaches the device on its ack stream; the session leaves B's list when the upload ends.
//!   Another tenant's clinician on B gets 404. A second session's holder is SIGKILLed: B's stream
//!   ends and B's list drops the session within the liveness window (measured and printed).
#![allow(clippy::unwrap_used)]

mod vitals_common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_server::config::S3Config;
use auscult_server::state::AppState;
use auscult_server::{ServerConfig, ServerError};
use auscult_store::audit::Actor;
use auscult_store::identity::NewPrincipal;
use auscult_store::jobs::{ClaimedJob, job_state};
use auscult_store::recordings::{Counts, NewRecording, Part, StreamKind};
use auscult_store::servers::{BlobBackend, ServerEntry};
use auscult_store::{CaseId, DeviceId, Store, TenantId, now_ms};
use auscult_testkit::web::{listed_session, live_ids, web_get};
use auscult_testkit::*;
use firmware_sim::plan::plan_chunks;
use firmware_sim::{Connection, DeviceRecording, EncodedRecording, UploadOptions};

/// The database URL of `config` as a test opens it beside the servers.
async fn open_store(config: &ServerConfig) -> Store {
    Store::open(&config.db_options(), &config.blob_config())
        .await
        .unwrap()
}

fn refusal(result: Result<auscult_server::RunningServer, ServerError>) -> String {
    match result {
        Err(ServerError::Refused(why)) => why,
        Err(other) => panic!("expected a refusal, got the error {other}"),
        Ok(_) => panic!("expected a refusal, but the server started"),
    }
}

async fn registry_guards_local_blobs(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let first_dir = tempfile::tempdir().unwrap();
    let first_config = test_config(first_dir.path(), url.clone());
    // The second server shares the first's database (on SQLite, its file) but not its directory.
    let shared_url = Some(first_config.db_options().url);
    let first = auscult_server::start(first_config.clone()).await.unwrap();

    let second_dir = tempfile::tempdir().unwrap();
    let second_config = test_config(second_dir.path(), shared_url.clone());
    let why = refusal(auscult_server::start(second_config.clone()).await);
    assert!(why.contains(&first.server_id), "{why}");
    let remedy = match db {
        Db::Sqlite => "SQLite",
        Db::Postgres => "S3",
    };
    assert!(why.contains(remedy), "{why}");
    assert!(why.contains(&first.addr.to_string()), "{why}");

    // A graceful shutdown removes the first server's entry: the second may start.
    first.shutdown().await.unwrap();
    let second = auscult_server::start(second_config.clone()).await.unwrap();
    let store = open_store(&second_config).await;
    let ids: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, std::slice::from_ref(&second.server_id));
    second.shutdown().await.unwrap();
    assert!(store.list_servers().await.unwrap().is_empty());

    // A server that died without a shutdown (its entry left behind) is ignored once its
    // heartbeat is older than three intervals; one still heartbeating is not.
    let heartbeat = i64::try_from(second_config.server_heartbeat_ms).unwrap();
    let mut dead = ServerEntry {
        id: "killed-long-ago".into(),
        started_at_ms: now_ms() - 3_600_000,
        heartbeat_at_ms: now_ms() - 4 * heartbeat,
        blob_backend: BlobBackend::Local,
        address: "10.0.0.9:50051".into(),
    };
    store
        .register_server(&dead, dead.heartbeat_at_ms - 1)
        .await
        .unwrap();
    let third = auscult_server::start(second_config.clone()).await.unwrap();
    third.shutdown().await.unwrap();
    dead.id = "alive-elsewhere".into();
    dead.heartbeat_at_ms = now_ms();
    store
        .register_server(&dead, dead.heartbeat_at_ms - 1)
        .await
        .unwrap();
    let why = refusal(auscult_server::start(second_config).await);
    assert!(
        why.contains("alive-elsewhere") && why.contains("10.0.0.9:50051"),
        "{why}"
    );
    store.close().await;
}
both_backends!(registry_guards_local_blobs);

/// A complete case straight through the store, so that no server's worker takes its job.
async fn queued_case(store: &Store) -> (TenantId, CaseId) {
    let now = now_ms();
    let tenant = store
        .create_tenant(&Actor::SYSTEM, "lease", "clinic", now)
        .await
        .unwrap();
    let device = store
        .create_principal(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&tenant.id),
                name: "dev",
                role: "device",
            },
            auscult_store::identity::NewToken {
                id: "tok-lease",
                secret_sha256: &[3; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    let tenant_id = tenant.id;
    let meta = NewRecording {
        upload_id: "lease-1".into(),
        device_serial: "SN".into(),
        subject_id: "s1".into(),
        site: "aortic".into(),
        position: "supine".into(),
        started_at_ms: now,
        pcg_rate_hz: 4000,
        pcg_format: "s16le".into(),
        ecg_mode: "none".into(),
        ecg_rate_hz: 0,
        ecg_format: String::new(),
        payload_sha256: None,
    };
    let (row, _) = store
        .open_upload(&tenant_id, &DeviceId::new(device.id.as_str()), &meta, now)
        .await
        .unwrap();
    let case_id = CaseId::new(row.id.as_str());
    let part = Part {
        start: 0,
        count: 100,
        object_key: "test/lease-1".into(),
        bytes: None,
    };
    store
        .commit_part(&tenant_id, &case_id, StreamKind::Pcg, &part)
        .await
        .unwrap();
    let actor = Actor {
        tenant_id: Some(tenant_id.as_str()),
        principal_id: device.id.as_str(),
        role: "device",
    };
    let totals = Counts {
        pcg: 100,
        ..Counts::default()
    };
    store
        .complete_upload(&tenant_id, &case_id, totals, 0.025, &actor, now)
        .await
        .unwrap();
    (tenant_id, case_id)
}

async fn lease_kept_while_analysing(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        job_lease_ms: 1000,
        ..test_config(dir.path(), url)
    };
    let store = open_store(&config).await;
    let (tenant, case) = queued_case(&store).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let job: ClaimedJob = store
        .claim_job("worker-1", now_ms(), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.recording_id, case);
    let claimed_at = now_ms();
    let state = AppState::new(store.clone(), config).unwrap();

    // Two and a half leases of analysis: the lease is extended all along, so recovery (which
    // puts back jobs whose lease is older than one lease) leaves the job with its worker.
    let kept = tokio::time::timeout(
        Duration::from_millis(2500),
        auscult_server::worker::keep_lease(&state, &job, "worker-1"),
    )
    .await;
    assert!(kept.is_err(), "the lease was never lost");
    let row = store
        .job_of_recording(&tenant, &case)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, job_state::RUNNING);
    assert!(
        row.locked_at_ms.unwrap() > claimed_at + 1000,
        "the lease was extended: {:?} after a claim at {claimed_at}",
        row.locked_at_ms
    );
    auscult_server::worker::recover(&state, now_ms() - 1000, false)
        .await
        .unwrap();
    let row = store
        .job_of_recording(&tenant, &case)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state,
        job_state::RUNNING,
        "not taken from a live worker"
    );
    assert_eq!(row.attempts, 1);

    // Once the job is taken from it (here: its lease declared run out), the worker notices.
    auscult_server::worker::recover(&state, now_ms() + 1, false)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        auscult_server::worker::keep_lease(&state, &job, "worker-1"),
    )
    .await
    .expect("keep_lease returns once the lease is lost");
    store.close().await;
}
both_backends!(lease_kept_while_analysing);

/// One real `auscult-server` process.
struct ServerProcess {
    child: Child,
    addr: std::net::SocketAddr,
    /// Its web console, `http://host:port`.
    web: String,
    bootstrap_token: Option<String>,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// The id it registered under (kept in its data directory).
    fn server_id(&self) -> String {
        read_token_file(&self.dir.path().join(auscult_server::fleet::SERVER_ID_FILE))
    }

    /// Graceful stop (SIGTERM) and its exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().unwrap()
    }

    /// SIGKILL: no shutdown, connections cut, its registry entry left behind.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real server binary on `database_url` with S3 blobs in `s3`'s bucket (not waiting).
fn spawn_server(database_url: &str, s3: &S3Config) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auscult-server"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--web-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir.path())
    .args(["--database-url", database_url])
    .args(["--s3-bucket", &s3.bucket])
    .args(["--s3-endpoint", s3.endpoint.as_deref().unwrap()])
    .args(["--s3-access-key-id", &s3.access_key_id])
    .args(["--s3-secret-access-key", &s3.secret_access_key])
    .arg("--s3-allow-http")
    .args(["--workers", "1", "--flush-bytes", "4096"])
    // Short enough that a dead server's job would come back within the test, long enough
    // that a busy machine never lets a heartbeating worker's lease lapse.
    .args(["--job-lease-ms", "5000", "--server-heartbeat-ms", "500"])
    // A killed server's residents are taken over within about this.
    .args(["--vitals-lease-ms", "1500"])
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    (cmd.spawn().expect("spawn auscult-server"), dir)
}

/// Waits for a spawned server to print its address and `ready`.
fn await_ready(mut child: Child, dir: tempfile::TempDir) -> ServerProcess {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut web, mut bootstrap_token) = (None, None, None);
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = a.trim().parse().ok();
        } else if let Some(w) = line.strip_prefix("web console: ") {
            web = Some(w.trim().trim_end_matches('/').to_owned());
        } else if let Some(path) = line.strip_prefix("bootstrap admin token file: ") {
            bootstrap_token = Some(read_token_file(Path::new(path.trim())));
        } else if line == "ready" {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let (Some(addr), Some(web)) = (addr, web) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("a server exited before it was ready");
    };
    ServerProcess {
        child,
        addr,
        web,
        bootstrap_token,
        dir,
    }
}

/// The real recordings replayed by the devices (PhysioNet 2016, PCG with its ECG).
fn real_recordings() -> Vec<Arc<EncodedRecording>> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/physionet2016");
    ["a0035.hea", "a0131.hea"]
        .iter()
        .map(|name| {
            let rec = DeviceRecording::from_file(&data.join(name), None).unwrap();
            Arc::new(rec.encode(rec.lossless_pcg_format()))
        })
        .collect()
}

/// The metadata message of `rec` under `upload_id`, as firmware-sim sends it.
fn metadata_of(
    rec: &EncodedRecording,
    upload_id: &str,
    started: std::time::SystemTime,
) -> pb::UploadRequest {
    meta_msg(pb::UploadMetadata {
        upload_id: upload_id.into(),
        device_serial: "sim-0001".into(),
        subject_id: "subject-0001".into(),
        site: pb::AuscultationSite::Mitral as i32,
        position: pb::BodyPosition::Supine as i32,
        started_at: Some(prost_types::Timestamp::from(started)),
        pcg_rate_hz: rec.pcg_rate_hz,
        pcg_format: rec.pcg_format as i32,
        ecg_mode: rec.ecg_mode as i32,
        ecg_rate_hz: rec.ecg_rate_hz,
        ecg_format: if rec.ecg_rate_hz > 0 {
            pb::SampleFormat::F32le as i32
        } else {
            pb::SampleFormat::Unspecified as i32
        },
        payload_sha256: rec.sha256.clone(),
        live: false,
    })
}

/// One device's upload through firmware-sim to `addr`, of a recording started at `started`; with
/// `status_first` it first asks for the committed counts and resumes from them.
async fn device_upload(
    addr: std::net::SocketAddr,
    token: &str,
    rec: &Arc<EncodedRecording>,
    upload_id: &str,
    started: std::time::SystemTime,
    status_first: bool,
) -> firmware_sim::UploadReport {
    let conn = Connection::new(&url(addr), token).unwrap();
    let opts = UploadOptions {
        upload_id: upload_id.into(),
        started_at: started,
        status_first,
        ..UploadOptions::default()
    };
    firmware_sim::upload(&conn, Arc::clone(rec), &opts)
        .await
        .unwrap_or_else(|e| panic!("upload {upload_id}: {e}"))
}

/// A device of the tenant: (principal id, token).
async fn register_device(
    ch: &tonic::transport::Channel,
    admin_token: &str,
    tenant_id: &str,
    name: &str,
) -> String {
    admin(ch)
        .register_device(authed(
            admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: tenant_id.into(),
                name: name.into(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token
}

/// `n` server processes started together on the test PostgreSQL and S3, each ready, and the
/// bootstrap administrator's token; `None` (the service lookups say why) without either.
async fn start_fleet(n: usize) -> Option<(Vec<ServerProcess>, String)> {
    let s3 = s3_test_config().await?;
    let database_url = postgres_url().await?;
    let spawned: Vec<_> = (0..n).map(|_| spawn_server(&database_url, &s3)).collect();
    let servers: Vec<ServerProcess> = spawned
        .into_iter()
        .map(|(child, dir)| await_ready(child, dir))
        .collect();
    let admin_token = servers
        .iter()
        .find_map(|s| s.bootstrap_token.clone())
        .expect("one server created the bootstrap administrator");
    Some((servers, admin_token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_one_database_one_killed_mid_upload() {
    let Some(s3) = s3_test_config().await else {
        return;
    };
    let Some(database_url) = postgres_url().await else {
        return;
    };
    let recordings = real_recordings();

    // Three replicas start together: exactly one creates the bootstrap administrator.
    let spawned: Vec<_> = (0..3).map(|_| spawn_server(&database_url, &s3)).collect();
    let mut servers: Vec<ServerProcess> = spawned
        .into_iter()
        .map(|(child, dir)| await_ready(child, dir))
        .collect();
    let tokens: Vec<&String> = servers
        .iter()
        .filter_map(|s| s.bootstrap_token.as_ref())
        .collect();
    assert_eq!(tokens.len(), 1, "exactly one bootstrap administrator");
    let admin_token = tokens[0].clone();
    let channels = [
        connect(servers[0].addr).await,
        connect(servers[1].addr).await,
        connect(servers[2].addr).await,
    ];
    let t = make_tenant(&channels[1], &admin_token, "fleet").await;
    let device_tokens = [
        t.device_token.clone(),
        register_device(&channels[2], &admin_token, &t.id, "fleet-steth-2").await,
        register_device(&channels[0], &admin_token, &t.id, "fleet-steth-3").await,
    ];

    // Each device uploads a real recording to its own server, all at once.
    let mut uploads: Vec<(String, Arc<EncodedRecording>, String)> = Vec::new();
    let mut first_round = Vec::new();
    for i in 0..3 {
        let (addr, token, rec) = (
            servers[i].addr,
            device_tokens[i].clone(),
            Arc::clone(&recordings[i % 2]),
        );
        first_round.push(tokio::spawn(async move {
            let id = format!("round1-{i}");
            let report =
                device_upload(addr, &token, &rec, &id, std::time::SystemTime::now(), false).await;
            (report.case_id, rec, id)
        }));
    }
    for task in first_round {
        uploads.push(task.await.unwrap());
    }
    // Wait until the fleet has analysed them, so that no server holds a job when one is killed.
    for (i, (case_id, _, _)) in uploads.iter().enumerate() {
        let case = wait_analysed(&channels[(i + 1) % 3], &t.clinician_token, case_id).await;
        assert_eq!(
            case.summary.unwrap().analysis_state(),
            pb::AnalysisState::Done
        );
    }

    // Device 0 streams to server 0, which is SIGKILLed once half the chunks are acknowledged.
    let rec = Arc::clone(&recordings[0]);
    let started = std::time::SystemTime::now();
    let (tx, mut acks) = open_upload_with_acks(&channels[0], &device_tokens[0], 4).await;
    tx.send(metadata_of(&rec, "round2-killed", started))
        .await
        .unwrap();
    let chunks = plan_chunks(&rec, firmware_sim::Counts::default(), 0.25);
    let mut acked = pb::CommittedCounts::default();
    for planned in &chunks[..chunks.len() / 2] {
        tx.send(pb::UploadRequest {
            kind: Some(pb::upload_request::Kind::Chunk(planned.chunk.clone())),
        })
        .await
        .unwrap();
        acked = acks.message().await.unwrap().unwrap().committed.unwrap();
    }
    assert!(
        acked.pcg_samples > 0,
        "server 0 committed data before it died"
    );
    servers[0].kill();
    drop(tx);

    // The device resumes on server 1 from what server 0 committed; meanwhile the other devices
    // upload to servers 1 and 2, crossed.
    let resumed = {
        let (addr, token, rec) = (servers[1].addr, device_tokens[0].clone(), Arc::clone(&rec));
        tokio::spawn(async move {
            device_upload(addr, &token, &rec, "round2-killed", started, true).await
        })
    };
    let mut second_round = Vec::new();
    for (device, server) in [(1, 2), (2, 1)] {
        let (addr, token, rec) = (
            servers[server].addr,
            device_tokens[device].clone(),
            Arc::clone(&recordings[device % 2]),
        );
        second_round.push(tokio::spawn(async move {
            let id = format!("round2-{device}");
            let report =
                device_upload(addr, &token, &rec, &id, std::time::SystemTime::now(), false).await;
            (report.case_id, rec, id)
        }));
    }
    let report = resumed.await.unwrap();
    let from = report.resumed_from.first().copied().unwrap_or_default();
    assert!(
        from.pcg >= acked.pcg_samples && from.ecg >= acked.ecg_samples && from.pcg > 0,
        "resumed from {from:?}, after server 0 acknowledged {acked:?} as committed"
    );
    uploads.push((report.case_id, Arc::clone(&rec), "round2-killed".into()));
    for task in second_round {
        uploads.push(task.await.unwrap());
    }

    // Sending a finished upload again (to yet another server) stores nothing.
    let again = device_upload(
        servers[2].addr,
        &device_tokens[0],
        &rec,
        "round2-killed",
        started,
        false,
    )
    .await;
    assert!(
        again.duplicate && again.attempts == 1,
        "a finished upload is not stored twice: {again:?}"
    );
    assert_eq!(again.case_id, uploads[3].0);

    // Nothing lost, nothing twice: one case per upload, each holding exactly the samples sent
    // and analysed exactly once.
    let survivors = [&channels[1], &channels[2]];
    let cases = list_all_cases(survivors[0], &t.clinician_token)
        .await
        .unwrap();
    assert_eq!(cases.len(), uploads.len(), "one case per upload");
    let config = ServerConfig {
        database_url: Some(database_url.clone()),
        s3: Some(s3.clone()),
        ..ServerConfig::default()
    };
    let store = open_store(&config).await;
    for (i, (case_id, rec, upload_id)) in uploads.iter().enumerate() {
        let ch = survivors[i % 2];
        assert!(
            cases.iter().any(|c| &c.case_id == case_id),
            "{upload_id} is listed"
        );
        assert_stored_exactly(ch, &t.clinician_token, case_id, rec).await;
        let case = wait_analysed(ch, &t.clinician_token, case_id).await;
        assert_eq!(
            case.summary.as_ref().unwrap().analysis_state(),
            pb::AnalysisState::Done,
            "{upload_id}: {}",
            case.analysis_error
        );
        assert!(case.analysis.is_some(), "{upload_id} has its analysis");
        let job = store
            .job_of_recording(
                &TenantId::new(t.id.as_str()),
                &CaseId::new(case_id.as_str()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, job_state::DONE, "{upload_id}");
        assert_eq!(job.attempts, 1, "{upload_id} analysed once");
    }

    // The killed server's entry stays until it goes stale; the others remove theirs on SIGTERM.
    let killed_id = servers[0].server_id();
    let survivors: Vec<ServerProcess> = servers.drain(1..).collect();
    for server in survivors {
        let status = server.terminate();
        assert!(status.success(), "graceful shutdown: {status}");
    }
    let left: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [killed_id]);
    store.close().await;
}

/// Two servers (separate state, one PostgreSQL database, one bucket): a nurse watching on server
/// A sees the alerts raised by sensors reporting through server B, exactly once and in id order,
/// also when A's own live events come in between; a watch on B resumes after an event id that A
/// delivered; an acknowledgement made through A reaches the watch on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_on_one_server_sees_alerts_raised_through_another() {
    use vitals_common::{
        next_event, raise_marker, raise_no_pulse, subject_of, until_marker, wall_ms, watch,
    };

    let Some(s3) = s3_test_config().await else {
        return;
    };
    let Some(database_url) = postgres_url().await else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut servers = Vec::new();
    for dir in &dirs {
        let mut config = test_config(dir.path(), Some(database_url.clone()));
        config.s3 = Some(s3.clone());
        servers.push(auscult_server::start(config).await.unwrap());
    }
    let admin_token = servers[0].bootstrap_token.clone().unwrap();
    assert!(
        servers[1].bootstrap_token.is_none(),
        "one bootstrap administrator"
    );
    let (a, b) = (
        connect(servers[0].addr).await,
        connect(servers[1].addr).await,
    );
    let t = make_tenant(&a, &admin_token, "crosswatch").await;

    // The nurse's station is on A; the residents' gateway reports through B.
    let mut on_a = watch(&a, &t.nurse_token, 0, "").await.unwrap();
    raise_no_pulse(&b, &t, "r1", wall_ms() - 30_000).await;
    let first = next_event(&mut on_a).await;
    assert_eq!(
        (first.change(), subject_of(&first)),
        (pb::AlertChange::Raised, "r1"),
        "{first:?}"
    );
    let r1_alert = first.alert.as_ref().unwrap().alert_id.clone();

    // B stores r2's alert; A then raises a marker of its own, broadcast live on A at once. The
    // watch on A must still deliver r2 first (from the store), once, and then the marker.
    raise_no_pulse(&b, &t, "r2", wall_ms() - 30_000).await;
    let marker = raise_marker(&a, &t).await;
    let between = until_marker(&mut on_a, &marker).await;
    let raised: Vec<&str> = between
        .iter()
        .filter(|e| e.change() == pb::AlertChange::Raised)
        .map(subject_of)
        .collect();
    assert_eq!(raised, ["r2"], "{between:?}");
    let mut ids: Vec<u64> = std::iter::once(first.event_id)
        .chain(between.iter().map(|e| e.event_id))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");

    // A watch on B resumes after r1's raise (an id A delivered): r2, then A's marker, once each.
    let mut on_b = watch(&b, &t.nurse_token, first.event_id, "").await.unwrap();
    let resumed = until_marker(&mut on_b, &marker).await;
    assert!(resumed.iter().all(|e| e.event_id > first.event_id));
    let raised: Vec<&str> = resumed
        .iter()
        .filter(|e| e.change() == pb::AlertChange::Raised)
        .map(subject_of)
        .collect();
    assert_eq!(raised, ["r2"], "{resumed:?}");

    // The nurse acknowledges r1's alert through A; the watch on B (which never saw r1's monitor)
    // receives the acknowledgement.
    let acked = vitals_common::vitals(&a)
        .acknowledge_alert(authed(
            &t.nurse_token,
            pb::AlertActionRequest {
                alert_id: r1_alert.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.state(), pb::AlertState::Acknowledged);
    let seen = loop {
        let e = next_event(&mut on_b).await;
        if e.alert.as_ref().is_some_and(|al| al.alert_id == r1_alert) {
            break e;
        }
    };
    assert_eq!(
        seen.alert.as_ref().unwrap().state(),
        pb::AlertState::Acknowledged,
        "{seen:?}"
    );
    ids.push(seen.event_id);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");

    for server in servers {
        server.shutdown().await.unwrap();
    }
}

/// Registers a second device in `t`'s tenant (as the system administrator) and assigns it to
/// `subjects`; returns its token.
async fn second_device(
    ch: &tonic::transport::Channel,
    admin_token: &str,
    t: &Tenant,
    subjects: &[&str],
) -> String {
    let device = admin(ch)
        .register_device(authed(
            admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: t.id.clone(),
                name: "bedside-patch".into(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let id = device.principal.unwrap().principal_id;
    assign_device(ch, &t.admin_token, &id, subjects)
        .await
        .unwrap();
    device.token
}

/// The lifecycle changes (raised, resumed, acknowledged, resolved) of `subject`'s alerts in
/// `events`, in order. (Whether a single reading's condition has cleared by the time the test
/// reads depends on the clock; it is not what this test is about.)
fn changes_of(events: &[pb::AlertEvent], subject: &str) -> Vec<pb::AlertChange> {
    events
        .iter()
        .filter(|e| vitals_common::subject_of(e) == subject)
        .map(pb::AlertEvent::change)
        .filter(|c| *c != pb::AlertChange::ConditionCleared)
        .collect()
}

/// Vital signs across a fleet: three server processes on one PostgreSQL database; a resident's
/// two devices report through different servers, yet one server monitors the resident (the
/// other relays what it stores), so each scripted event raises exactly one alert. The holder is
/// SIGKILLed mid-monitoring: another server takes the resident over from storage (the open
/// alert continues, nothing is raised twice), nurses' actions work through any server, and a
/// `Watch` cut by the kill resumes on another server without gap or duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_monitor_each_resident_once_and_take_over_a_killed_one() {
    use vitals_common::{
        batch, hr, next_event, normal, raise_marker, rr, sample, send_batches, until_marker,
        wall_ms, watch,
    };

    let Some((mut servers, admin_token)) = start_fleet(3).await else {
        return;
    };
    let (a, b, c) = (
        connect(servers[0].addr).await,
        connect(servers[1].addr).await,
        connect(servers[2].addr).await,
    );
    let t = make_tenant(&c, &admin_token, "fleet-vitals").await;
    t.assign(&c, &["r1"]).await;
    let patch_token = second_device(&c, &admin_token, &t, &["r1"]).await;

    // Nurses watch on C (the whole run) and on A (cut when A is killed).
    let mut on_c = watch(&c, &t.nurse_token, 0, "").await.unwrap();
    let mut on_a = watch(&a, &t.nurse_token, 0, "").await.unwrap();

    // The oximeter reports through A first, so A monitors r1.
    let end = wall_ms() - 240_000;
    let history: Vec<_> = (0..5)
        .map(|i| batch(i, "r1", normal(end - (5 - i as i64) * 60_000)))
        .collect();
    let acks = send_batches(&a, &t.device_token, history).await.unwrap();
    assert!(acks.iter().all(|k| k.error.is_empty()), "{acks:?}");

    // The bedside patch reports through B: its samples are stored by B and reach A's monitor.
    // Scripted event 1: the patch finds no pulse. B raises nothing itself.
    let patch = |id: u64, at: i64, v: f64| {
        batch(
            id,
            "r1",
            vec![sample(
                at,
                "ecg-patch",
                pb::vital_sample::Value::HeartRatePerMin(v),
            )],
        )
    };
    let acks = send_batches(
        &b,
        &patch_token,
        vec![patch(1, end - 60_000, 72.0), patch(2, end, 0.0)],
    )
    .await
    .unwrap();
    assert!(
        acks.iter().all(|k| k.error.is_empty() && k.accepted == 1),
        "{acks:?}"
    );
    assert!(
        acks.iter().all(|k| k.alert_events == 0),
        "B monitors nothing: {acks:?}"
    );
    let raised = next_event(&mut on_c).await;
    assert_eq!(
        (raised.change(), vitals_common::subject_of(&raised)),
        (pb::AlertChange::Raised, "r1"),
        "{raised:?}"
    );
    let alert = raised.alert.clone().unwrap();
    assert!(
        alert
            .conditions
            .iter()
            .any(|k| k.kind() == pb::AlertConditionKind::NoPulse),
        "{alert:?}"
    );
    let seen_on_a = next_event(&mut on_a).await;
    assert_eq!(seen_on_a.event_id, raised.event_id);

    // A is killed mid-monitoring. Its Watch ends; the nurse resumes on B from the last id seen.
    servers[0].kill();
    let cut = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match tokio_stream::StreamExt::next(&mut on_a).await {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "a killed server's Watch ends");
    let mut on_b = watch(&b, &t.nurse_token, seen_on_a.event_id, "")
        .await
        .unwrap();

    // The oximeter reconnects to C and still finds no pulse: whichever server took r1 over
    // continues the stored alert (`resumed`), it raises no second one.
    let still = batch(
        20,
        "r1",
        vec![hr(end + 60_000, 0.0), rr(end + 60_000, 14.0)],
    );
    let acks = send_batches(&c, &t.device_token, vec![still])
        .await
        .unwrap();
    assert!(acks.iter().all(|k| k.error.is_empty()), "{acks:?}");
    let resumed = next_event(&mut on_c).await;
    assert_eq!(
        (
            resumed.change(),
            resumed.alert.as_ref().unwrap().alert_id.as_str()
        ),
        (pb::AlertChange::Resumed, alert.alert_id.as_str()),
        "{resumed:?}"
    );

    // Nurses act through B and C: one of them does not hold r1 and relays to the one that does.
    let action = || pb::AlertActionRequest {
        alert_id: alert.alert_id.clone(),
    };
    let acked = vitals_common::vitals(&b)
        .acknowledge_alert(authed(&t.nurse_token, action()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.state(), pb::AlertState::Acknowledged);
    let resolved = vitals_common::vitals(&c)
        .resolve_alert(authed(&t.nurse_token, action()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state(), pb::AlertState::Resolved);

    // Scripted event 2, after the pulse came back and the alert was resolved: the patch (still
    // through B) finds no pulse again: exactly one new alert.
    let back = batch(21, "r1", normal(end + 120_000));
    let acks = send_batches(&c, &t.device_token, vec![back]).await.unwrap();
    assert!(acks.iter().all(|k| k.error.is_empty()), "{acks:?}");
    let acks = send_batches(
        &b,
        &patch_token,
        vec![patch(3, end + 120_000, 71.0), patch(4, end + 180_000, 0.0)],
    )
    .await
    .unwrap();
    assert!(acks.iter().all(|k| k.error.is_empty()), "{acks:?}");

    // The holder applies what B relays within a relay poll: wait for the second raise, then
    // for a marker raised after it (nothing else may come between).
    let mut all_c = vec![raised.clone(), resumed.clone()];
    loop {
        let e = next_event(&mut on_c).await;
        let second = vitals_common::subject_of(&e) == "r1" && e.change() == pb::AlertChange::Raised;
        all_c.push(e);
        if second {
            break;
        }
    }
    let marker = raise_marker(&c, &t).await;
    all_c.extend(until_marker(&mut on_c, &marker).await);
    assert_eq!(
        changes_of(&all_c, "r1"),
        [
            pb::AlertChange::Raised,
            pb::AlertChange::Resumed,
            pb::AlertChange::Acknowledged,
            pb::AlertChange::Resolved,
            pb::AlertChange::Raised,
        ],
        "{all_c:#?}"
    );
    let ids: Vec<u64> = all_c.iter().map(|e| e.event_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");
    let second = all_c
        .iter()
        .rev()
        .find(|e| e.change() == pb::AlertChange::Raised)
        .unwrap();
    assert_ne!(second.alert.as_ref().unwrap().alert_id, alert.alert_id);

    // The Watch resumed on B saw exactly what C saw after the cut: no gap, no duplicate.
    let after_cut = until_marker(&mut on_b, &marker).await;
    let on_c_after: Vec<u64> = all_c
        .iter()
        .filter(|e| e.event_id > seen_on_a.event_id)
        .map(|e| e.event_id)
        .collect();
    let on_b_after: Vec<u64> = after_cut.iter().map(|e| e.event_id).collect();
    assert_eq!(on_b_after, on_c_after);

    for server in servers.drain(1..) {
        let status = server.terminate();
        assert!(status.success(), "{status:?}");
    }
}

const LIVE_SUBJECT: &str = "subject-live-fleet";

/// A web user of `tenant_id` with a password, made over the admin API (as `auscult add-user
/// --username` does).
async fn add_web_clinician(
    ch: &tonic::transport::Channel,
    admin_token: &str,
    tenant_id: &str,
    username: &str,
) {
    admin(ch)
        .create_user(authed(
            admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant_id.into(),
                name: format!("Dr {username}"),
                role: pb::Role::Clinician as i32,
                lifetime_seconds: None,
                web_login: Some(pb::WebLogin {
                    username: username.into(),
                    password: "correct horse battery staple".into(),
                }),
            },
        ))
        .await
        .unwrap();
}

/// A web console session of `username` on `base`, signed in over plain HTTP: the `Cookie`.
async fn web_sign_in(base: &str, username: &str) -> String {
    auscult_testkit::web::sign_in(base, username, "correct horse battery staple").await
}

/// One frame of a listener's stream, as received.
#[derive(Debug, Clone)]
struct Received {
    bytes: Vec<u8>,
    at: std::time::Instant,
}

/// Reads a listener's stream until it ends (an ended frame, or the end of the body), sending
/// each frame on `frames`; how it ended (`true`: an ended frame).
async fn read_stream(
    response: reqwest::Response,
    frames: tokio::sync::mpsc::UnboundedSender<Received>,
) -> bool {
    use auscult_server::live::FRAME_ENDED;
    let mut response = response;
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => buffer.extend_from_slice(&chunk),
            Ok(None) | Err(_) => return false,
        }
        let at = std::time::Instant::now();
        while buffer.len() >= 5 {
            let len = u32::from_le_bytes(buffer[1..5].try_into().unwrap()) as usize;
            if buffer.len() < 5 + len {
                break;
            }
            let bytes: Vec<u8> = buffer.drain(..5 + len).collect();
            let ended = bytes[0] == FRAME_ENDED;
            let _ = frames.send(Received { bytes, at });
            if ended {
                return true;
            }
        }
    }
}

/// Opens `/live/{id}/stream` on `base` and reads it in a task: its frames, and how it ended.
async fn listen_on(
    base: &str,
    session: &str,
    id: &str,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<Received>,
    tokio::task::JoinHandle<bool>,
) {
    let response = web_get(base, session, &format!("/live/{id}/stream")).await;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "listening on {base}"
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (rx, tokio::spawn(read_stream(response, tx)))
}

/// The offset of an audio frame's bytes.
fn audio_offset(bytes: &[u8]) -> Option<u64> {
    (bytes[0] == auscult_server::live::FRAME_AUDIO)
        .then(|| u64::from_le_bytes(bytes[5..13].try_into().unwrap()))
}

fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Received>) -> Vec<Received> {
    let mut all = Vec::new();
    while let Ok(r) = rx.try_recv() {
        all.push(r);
    }
    all
}

/// Milliseconds at the quantile `q` of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    v[((v.len() - 1) as f64 * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_sessions_are_heard_and_moved_on_from_any_server() {
    use auscult_synth::Scenario;
    use firmware_sim::{Pacing, ReceivedInstruction, UploadMode};

    let Some((mut servers, admin_token)) = start_fleet(2).await else {
        return;
    };
    let (on_a, on_b) = (
        connect(servers[0].addr).await,
        connect(servers[1].addr).await,
    );
    let (web_a, web_b) = (servers[0].web.clone(), servers[1].web.clone());
    let t = make_tenant(&on_a, &admin_token, "live-fleet").await;
    let other = make_tenant(&on_b, &admin_token, "live-fleet-other").await;
    t.assign(&on_a, &[LIVE_SUBJECT]).await;
    add_web_clinician(&on_a, &admin_token, &t.id, "dr-fleet").await;
    add_web_clinician(&on_a, &admin_token, &other.id, "dr-other").await;
    let (clinician_a, clinician_b, other_b) = (
        web_sign_in(&web_a, "dr-fleet").await,
        web_sign_in(&web_b, "dr-fleet").await,
        web_sign_in(&web_b, "dr-other").await,
    );

    // The device streams 40 s to A, live, and follows instructions (one site).
    let rec = recording(Scenario::Normal, 31, 40.0);
    let sent_pcg = auscult_server::samples::decode(&rec.pcg_bytes, rec.pcg_width);
    let device_at = |upload_id: &str| {
        let device = Connection::new(&url(servers[0].addr), &t.device_token).unwrap();
        let options = UploadOptions {
            upload_id: upload_id.into(),
            identity: firmware_sim::DeviceIdentity {
                serial: "SIM-FLEET-LIVE".into(),
                subject_id: LIVE_SUBJECT.into(),
                site: pb::AuscultationSite::Mitral,
                position: pb::BodyPosition::Supine,
            },
            chunk_s: 0.2,
            pacing: Pacing::Realtime,
            mode: UploadMode::WithAcks,
            live: true,
            follow_instructions: true,
            ..UploadOptions::default()
        };
        (device, options)
    };
    let (device, options) = device_at("fleet-live-1");
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<ReceivedInstruction>();
    let rec1 = Arc::clone(&rec);
    let device_run = tokio::spawn(async move {
        firmware_sim::follow_session(
            &device,
            rec1,
            &options,
            1,
            &mut |i| {
                let _ = heard_tx.send(i.clone());
            },
            &mut |_| {},
        )
        .await
    });

    // B lists the session A holds, and both servers stream it.
    let id = listed_session(&web_b, &clinician_b, None, Duration::from_secs(20)).await;
    let (mut heard_on_a, a_done) = listen_on(&web_a, &clinician_a, &id).await;
    let (mut heard_on_b, b_done) = listen_on(&web_b, &clinician_b, &id).await;

    // Another tenant's clinician on B finds neither the session nor its stream.
    assert!(!live_ids(&web_b, &other_b).await.contains(&id));
    for path in [format!("/live/{id}"), format!("/live/{id}/stream")] {
        assert_eq!(
            web_get(&web_b, &other_b, &path).await.status(),
            reqwest::StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Listen 12 s, then "next site: aortic" from B reaches the device on A.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let posted =
        auscult_testkit::web::instruct_next_site(&web_b, &clinician_b, &id, "aortic").await;
    assert_eq!(posted.status(), reqwest::StatusCode::SEE_OTHER);
    let instruction = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("the instruction from B reached the device on A")
        .unwrap();
    assert_eq!(instruction.next_site(), Some(pb::AuscultationSite::Aortic));
    assert_eq!(instruction.sequence, 1);

    // The device moved on: the upload ends, and so does the session on both servers.
    let reports = tokio::time::timeout(Duration::from_secs(30), device_run)
        .await
        .expect("the device ended the upload")
        .unwrap()
        .unwrap();
    assert_eq!(reports[0].moved_to.as_deref(), Some("aortic"));
    assert_eq!(reports[0].case_id, id);
    let ended_b = tokio::time::timeout(Duration::from_secs(10), b_done)
        .await
        .expect("B's stream ended with the upload")
        .unwrap();
    assert!(ended_b, "B's stream ended with an ended frame");
    assert!(
        tokio::time::timeout(Duration::from_secs(10), a_done)
            .await
            .unwrap()
            .unwrap()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while live_ids(&web_b, &clinician_b).await.contains(&id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ended session stays listed on B"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // B's frames are A's, byte for byte: the PCG the device sent, in order, none twice.
    let (from_a, from_b) = (drain(&mut heard_on_a), drain(&mut heard_on_b));
    let a_audio: HashMap<u64, &Received> = from_a
        .iter()
        .filter_map(|r| Some((audio_offset(&r.bytes)?, r)))
        .collect();
    let b_audio: Vec<(u64, &Received)> = from_b
        .iter()
        .filter_map(|r| Some((audio_offset(&r.bytes)?, r)))
        .collect();
    assert!(b_audio.len() >= 50, "{} audio frames on B", b_audio.len());
    assert!(
        b_audio.len() * 10 >= a_audio.len() * 9,
        "B lost frames: {} of A's {}",
        b_audio.len(),
        a_audio.len()
    );
    assert!(
        b_audio.windows(2).all(|w| w[0].0 < w[1].0),
        "in order, none twice"
    );
    let mut lags = Vec::new();
    for (offset, got) in &b_audio {
        let samples: Vec<f32> = got.bytes[13..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let at = usize::try_from(*offset).unwrap();
        assert_eq!(samples, sent_pcg[at..at + samples.len()], "PCG at {offset}");
        if let Some(on_a) = a_audio.get(offset) {
            assert_eq!(on_a.bytes, got.bytes, "the same frame at {offset}");
            lags.push(got.at.duration_since(on_a.at).as_secs_f64() * 1000.0);
        }
    }
    let a_marks: Vec<&Vec<u8>> = from_a
        .iter()
        .filter(|r| r.bytes[0] == auscult_server::live::FRAME_MARKS)
        .map(|r| &r.bytes)
        .collect();
    let b_marks: Vec<&Vec<u8>> = from_b
        .iter()
        .filter(|r| r.bytes[0] == auscult_server::live::FRAME_MARKS)
        .map(|r| &r.bytes)
        .collect();
    assert!(b_marks.len() >= 3, "{} mark frames on B", b_marks.len());
    assert!(
        b_marks.iter().all(|m| a_marks.contains(m)),
        "B's marks are A's"
    );
    lags.sort_by(f64::total_cmp);
    println!(
        "relay lag, A's listener → B's listener: n={} min={:.1} ms median={:.1} ms p90={:.1} ms max={:.1} ms",
        lags.len(),
        lags[0],
        quantile(&lags, 0.5),
        quantile(&lags, 0.9),
        lags[lags.len() - 1]
    );
    assert!(
        quantile(&lags, 0.5) < 500.0,
        "median relay lag {:.0} ms",
        quantile(&lags, 0.5)
    );

    // Audited on the server the clinician used, as for a local session.
    let events = audit(&on_b, &t.clinician_token, &id).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for wanted in [
        "live.list",
        "live.get",
        "live.listen",
        "live.instruct.next_site",
    ] {
        assert!(
            actions.contains(&wanted),
            "{wanted} missing from {actions:?}"
        );
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "live.listen").count(),
        2,
        "{actions:?}"
    );

    // A second session; its holder A is killed mid-session.
    let (device, options) = device_at("fleet-live-2");
    let rec2 = Arc::clone(&rec);
    let _second = tokio::spawn(async move {
        firmware_sim::follow_session(&device, rec2, &options, 1, &mut |_| {}, &mut |_| {}).await
    });
    let second = listed_session(&web_b, &clinician_b, Some(&id), Duration::from_secs(20)).await;
    let (mut heard_second, second_done) = listen_on(&web_b, &clinician_b, &second).await;
    let first_frame = tokio::time::timeout(Duration::from_secs(10), heard_second.recv())
        .await
        .expect("the second session's frames reach B")
        .unwrap();
    assert!(
        audio_offset(&first_frame.bytes).is_some()
            || first_frame.bytes[0] == auscult_server::live::FRAME_MARKS
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    servers[0].kill();
    let killed = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), second_done)
        .await
        .expect("B's stream of a killed holder's session ends")
        .unwrap();
    let stream_ended_after = killed.elapsed();
    assert!(ended, "with an ended frame");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live_ids(&web_b, &clinician_b).await.contains(&second) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the killed holder's session stays listed on B"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unlisted_after = killed.elapsed();
    println!(
        "holder killed: B's stream ended after {:.0} ms, B's list dropped the session after {:.0} ms (liveness window 1500 ms)",
        stream_ended_after.as_secs_f64() * 1000.0,
        unlisted_after.as_secs_f64() * 1000.0
    );
    assert!(
        unlisted_after < Duration::from_secs(4),
        "{unlisted_after:?}"
    );
    assert_eq!(
        web_get(&web_b, &clinician_b, &format!("/live/{second}"))
            .await
            .status(),
        reqwest::StatusCode::NOT_FOUND
    );
}

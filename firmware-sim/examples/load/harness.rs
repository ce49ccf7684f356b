//! The load run of issue #3's capacity goal, shared by `examples/load/main.rs` (the measurement)
//! and `tests/load_run.rs` (the same path, small, in CI).
//!
//! Real-time phase: the real `auscult-server` (its own Tokio runtime, SQLite and local blobs in a
//! temp dir, served on a real 127.0.0.1 socket) gets N devices provisioned over the admin API,
//! each with its own token and connection, streaming PCG (4 kHz, 16-bit) with an ECG lead (500 Hz)
//! in real time through `UploadWithAcks`; the fleet reports chunk-acknowledgement latency, and
//! afterwards every completed upload is read back from the server's store and compared byte for
//! byte with what the device sent (zero loss is checked, not assumed).
//!
//! Bulk phase: the same fleet code uploads recordings as fast as possible, alternately to a fresh
//! real server and to the bare discarding tonic service (`firmware_sim::sink`), round after round
//! in the same process, and reports MB/s of both and their ratio.
//!
//! This harness measures and reports; it must never weaken what it measures (no skipped
//! verification, no stored results) and never talk to anything but the servers it started.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_server::{RunningServer, ServerConfig};
use auscult_store::recordings::StreamKind;
use auscult_synth::Scenario;
use firmware_sim::sink::start_sink;
use firmware_sim::{
    CompletedUpload, DeviceRecording, EcgChoice, EncodedRecording, FleetDevice, FleetOptions,
    FleetReport, Pacing, PcgFormat, UploadMode, UploadOptions, run_fleet_with,
};
use tonic::Request;
use tonic::transport::Channel;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Real-time devices streaming at once.
    pub devices: usize,
    /// Seconds each real-time device records (one upload each).
    pub duration_s: f64,
    /// Milliseconds of signal per chunk of the real-time phase.
    pub chunk_ms: u64,
    /// Devices start uniformly spread over this window.
    pub start_spread: Duration,
    /// Distinct synthetic recordings, shared round-robin by the devices.
    pub distinct_recordings: usize,
    /// Analysis workers of the server (0: one per core, the server's default).
    pub server_workers: usize,
    /// Tokio worker threads of the server's runtime.
    pub server_threads: usize,
    /// The server's `flush_interval_ms` (how long received data may wait before it is committed);
    /// `None` keeps the server's default.
    pub flush_interval_ms: Option<u64>,
    /// Bulk rounds (each: the sink and a fresh real server, order alternating).
    pub bulk_rounds: usize,
    /// Concurrent bulk uploaders.
    pub bulk_devices: usize,
    /// Uploads per bulk uploader per round.
    pub bulk_uploads_per_device: usize,
    /// Seconds of each bulk recording.
    pub bulk_duration_s: f64,
    /// Milliseconds of signal per bulk chunk.
    pub bulk_chunk_ms: u64,
    /// Which RPC the bulk phase uses.
    pub bulk_mode: UploadMode,
    /// Seconds to wait for an acknowledgement before calling a stream dead.
    pub ack_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            devices: 2000,
            duration_s: 90.0,
            chunk_ms: 250,
            start_spread: Duration::from_secs(30),
            distinct_recordings: 12,
            server_workers: 0,
            server_threads: 2,
            flush_interval_ms: None,
            bulk_rounds: 3,
            bulk_devices: 16,
            bulk_uploads_per_device: 4,
            bulk_duration_s: 30.0,
            bulk_chunk_ms: 250,
            bulk_mode: UploadMode::WithAcks,
            ack_timeout: Duration::from_secs(30),
        }
    }
}

/// The 1-, 5- and 15-minute load averages, as the kernel reports them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The real server on its own runtime (as if it were another process on the same cores).
pub struct ServerUnderTest {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The system administrator's bootstrap token.
    pub admin_token: String,
}

impl std::fmt::Debug for ServerUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUnderTest")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerUnderTest {
    /// Starts the server with its default configuration except: `127.0.0.1:0`, a temp data dir
    /// (SQLite and local blobs), the configured analysis workers and flush interval, recordings
    /// up to an hour.
    pub async fn start(cfg: &LoadConfig) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let defaults = ServerConfig::default();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().to_path_buf(),
            workers: cfg.server_workers,
            max_recording_seconds: 3600,
            flush_interval_ms: cfg.flush_interval_ms.unwrap_or(defaults.flush_interval_ms),
            ..defaults
        };
        let threads = cfg.server_threads;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("auscult-server")
            .enable_all()
            .build()
            .context("server runtime")?;
        let server = runtime
            .spawn(auscult_server::start(config))
            .await
            .context("server start task")??;
        let admin_token = server
            .bootstrap_token
            .clone()
            .context("a fresh server prints a bootstrap token")?;
        Ok(Self {
            addr: server.addr,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            server: Some(server),
            _dir: dir,
            admin_token,
        })
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads every completed upload back from the store and compares it with what was sent.
    pub async fn verify(&self, tenant_id: &str, uploads: &[CompletedUpload]) -> Verification {
        let Some(server) = &self.server else {
            return Verification::default();
        };
        // Eight readers, each checking its share of the uploads in turn.
        let mut tasks = Vec::new();
        let share = uploads.len().div_ceil(8).max(1);
        for part in uploads.chunks(share) {
            let state = Arc::clone(server.state());
            let tenant = tenant_id.to_owned();
            let part = part.to_vec();
            tasks.push(self.handle.spawn(async move {
                let mut v = Verification::default();
                for u in &part {
                    match verify_one(&state.store, &tenant, u).await {
                        Ok(()) => v.matched += 1,
                        Err(e) => {
                            v.mismatched += 1;
                            v.problems.push(format!("{}: {e:#}", u.upload_id));
                        }
                    }
                }
                v
            }));
        }
        let mut all = Verification::default();
        for task in tasks {
            match task.await {
                Ok(v) => {
                    all.matched += v.matched;
                    all.mismatched += v.mismatched;
                    all.problems.extend(v.problems);
                }
                Err(e) => all.problems.push(format!("verification task failed: {e}")),
            }
        }
        all.problems.truncate(10);
        all
    }

    /// Graceful shutdown, then the runtime is dropped in the background.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.handle.spawn(server.shutdown()).await;
        }
    }
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        // Dropping a runtime may block, which an async caller must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn verify_one(
    store: &auscult_store::Store,
    tenant_id: &str,
    u: &CompletedUpload,
) -> anyhow::Result<()> {
    let row = store
        .get_recording(
            &auscult_store::TenantId::new(tenant_id),
            &auscult_store::CaseId::new(u.case_id.as_str()),
        )
        .await?
        .context("no such case in the store")?;
    if row.state != "complete" {
        bail!("stored state is {}", row.state);
    }
    let rec = &u.recording;
    let want = [
        (StreamKind::Pcg, rec.pcg_samples(), rec.pcg_bytes.clone()),
        (StreamKind::Ecg, rec.ecg_samples(), rec.ecg_bytes.clone()),
        (
            StreamKind::RPeaks,
            rec.r_peaks.len() as u64,
            rec.r_peaks.iter().flat_map(|t| t.to_le_bytes()).collect(),
        ),
    ];
    for (stream, count, bytes) in want {
        if row.committed.get(stream) != count {
            bail!(
                "{} committed {} of {count}",
                stream.as_str(),
                row.committed.get(stream)
            );
        }
        let mut stored = Vec::with_capacity(bytes.len());
        let mut next = 0;
        for part in store
            .list_parts(&auscult_store::CaseId::new(row.id.as_str()), stream)
            .await?
        {
            if part.start != next {
                bail!(
                    "{} part starts at {} after {next}",
                    stream.as_str(),
                    part.start
                );
            }
            next = part.start + part.count;
            stored.extend_from_slice(&store.read_part(&part).await?);
        }
        if next != count {
            bail!("{} parts cover {next} of {count}", stream.as_str());
        }
        if stored != bytes {
            bail!(
                "{} stored bytes differ from those sent ({} vs {} bytes)",
                stream.as_str(),
                stored.len(),
                bytes.len()
            );
        }
    }
    Ok(())
}

/// What reading the uploads back found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Uploads whose stored bytes equal the sent bytes exactly.
    pub matched: usize,
    /// Uploads that differ (or could not be read).
    pub mismatched: usize,
    /// The first few problems.
    pub problems: Vec<String>,
}

fn authed<T>(token: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

/// Creates a tenant and registers `n` devices over the admin API; returns the tenant id and the
/// devices' tokens.
pub async fn provision(
    url: &str,
    admin_token: &str,
    n: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let channel = Channel::from_shared(url.to_owned())?.connect().await?;
    let mut admin = AdminServiceClient::new(channel);
    let tenant = admin
        .create_tenant(authed(
            admin_token,
            pb::CreateTenantRequest {
                name: "load-run".into(),
                kind: pb::TenantKind::Clinic as i32,
            },
        )?)
        .await?
        .into_inner();
    let mut tokens = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        let calls = chunk.iter().map(|&d| {
            let mut admin = admin.clone();
            let request = authed(
                admin_token,
                pb::RegisterDeviceRequest {
                    tenant_id: tenant.tenant_id.clone(),
                    name: format!("load-{d:05}"),
                    lifetime_seconds: None,
                },
            );
            async move { anyhow::Ok(admin.register_device(request?).await?.into_inner().token) }
        });
        for token in futures::future::join_all(calls).await {
            tokens.push(token?);
        }
    }
    Ok((tenant.tenant_id, tokens))
}

/// `count` distinct synthetic recordings (scenarios in turn) of `seconds`, PCG 4 kHz 16-bit with
/// a 500 Hz ECG lead.
pub fn recordings(count: usize, seconds: f64) -> anyhow::Result<Vec<Arc<EncodedRecording>>> {
    (0..count.max(1))
        .map(|i| {
            let sc = Scenario::ALL[i % Scenario::ALL.len()];
            let cfg = auscult_synth::SynthConfig {
                pcg_rate_hz: 4000.0,
                ecg_rate_hz: 500.0,
                ..sc.config(i as u64, seconds)
            };
            let rec = auscult_synth::generate(&cfg)?;
            let dev = DeviceRecording::from_synth(format!("{sc}#{i}"), &rec, EcgChoice::Samples)?;
            Ok(Arc::new(dev.encode(PcgFormat::S16)))
        })
        .collect()
}

/// The real-time phase's results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RealtimeResult {
    /// Load average before the phase.
    pub load_before: String,
    /// Load average after streaming, before verification.
    pub load_after: String,
    /// Seconds spent provisioning devices (not part of the measurement).
    pub provision_s: f64,
    /// The fleet's report.
    pub fleet: FleetReport,
    /// What reading back found.
    pub verification: Verification,
}

impl RealtimeResult {
    /// Every upload completed and read back byte-identical, and nothing else was stored wrong.
    pub fn zero_loss(&self, devices: usize) -> bool {
        self.fleet.uploads_failed == 0
            && self.fleet.uploads_completed == devices
            && self.fleet.samples_committed == self.fleet.samples_total
            && self.verification.matched == devices
            && self.verification.mismatched == 0
    }
}

/// Runs the real-time phase.
pub async fn realtime(cfg: &LoadConfig) -> anyhow::Result<RealtimeResult> {
    let recs = recordings(cfg.distinct_recordings, cfg.duration_s)?;
    let server = ServerUnderTest::start(cfg).await?;
    let url = server.url();
    let provision_start = Instant::now();
    let (tenant_id, tokens) = provision(&url, &server.admin_token, cfg.devices).await?;
    let provision_s = provision_start.elapsed().as_secs_f64();
    let devices: Vec<FleetDevice> = tokens
        .into_iter()
        .enumerate()
        .map(|(d, token)| FleetDevice {
            token,
            serial: format!("rt-{d:05}"),
            recordings: vec![Arc::clone(&recs[d % recs.len()])],
        })
        .collect();
    let opts = UploadOptions {
        chunk_s: cfg.chunk_ms as f64 / 1000.0,
        pacing: Pacing::Realtime,
        mode: UploadMode::WithAcks,
        ack_timeout: cfg.ack_timeout,
        ..UploadOptions::default()
    };
    let load_before = load_average();
    let fleet = run_fleet_with(
        &url,
        devices,
        &opts,
        FleetOptions {
            start_spread: cfg.start_spread,
        },
    )
    .await;
    let load_after = load_average();
    let verification = server.verify(&tenant_id, &fleet.completed).await;
    server.stop().await;
    Ok(RealtimeResult {
        load_before,
        load_after,
        provision_s,
        fleet,
        verification,
    })
}

/// One bulk measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BulkRun {
    /// `server` or `sink`.
    pub target: &'static str,
    /// The round.
    pub round: usize,
    /// Sample payload MB (10^6 bytes) per second.
    pub megabytes_per_s: f64,
    /// Uploads completed.
    pub uploads_completed: usize,
    /// Uploads failed.
    pub uploads_failed: usize,
    /// Chunk-acknowledgement latency (acks mode).
    pub ack_latency: firmware_sim::LatencySummary,
    /// For the server: uploads read back byte-identical.
    pub verified: Option<Verification>,
    /// Load average before the run.
    pub load_before: String,
}

/// The bulk phase's results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BulkResult {
    /// Every run.
    pub runs: Vec<BulkRun>,
    /// Median MB/s through the real server.
    pub server_median_mb_s: f64,
    /// Median MB/s into the sink.
    pub sink_median_mb_s: f64,
    /// sink / server (how many times slower the real server is).
    pub ratio: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if !v.len().is_multiple_of(2) {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Runs the bulk phase.
pub async fn bulk(cfg: &LoadConfig) -> anyhow::Result<BulkResult> {
    let recs = recordings(cfg.distinct_recordings, cfg.bulk_duration_s)?;
    let opts = UploadOptions {
        chunk_s: cfg.bulk_chunk_ms as f64 / 1000.0,
        pacing: Pacing::Fast,
        mode: cfg.bulk_mode,
        ack_timeout: cfg.ack_timeout,
        ..UploadOptions::default()
    };
    let fleet_of = |tokens: &[String]| -> Vec<FleetDevice> {
        (0..cfg.bulk_devices)
            .map(|d| FleetDevice {
                token: tokens[d % tokens.len()].clone(),
                serial: format!("bulk-{d:03}"),
                recordings: (0..cfg.bulk_uploads_per_device)
                    .map(|u| Arc::clone(&recs[(d + u) % recs.len()]))
                    .collect(),
            })
            .collect()
    };
    let mut runs = Vec::new();
    for round in 0..cfg.bulk_rounds.max(1) {
        let order: [&'static str; 2] = if round % 2 == 0 {
            ["sink", "server"]
        } else {
            ["server", "sink"]
        };
        for target in order {
            let load_before = load_average();
            let run = if target == "sink" {
                // The sink gets its own runtime with the server's thread count, as the server
                // does: on the simulated devices' runtime it competed with them for its two
                // threads, which made it slower than a bare sink is and flattered the server
                // (the server beat it by up to 16 % on a quiet machine).
                let sink_runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(cfg.server_threads.max(1))
                    .thread_name("bare-sink")
                    .enable_all()
                    .build()
                    .context("sink runtime")?;
                let sink = sink_runtime
                    .spawn(start_sink("127.0.0.1:0".parse()?))
                    .await
                    .context("sink start task")??;
                let report = run_fleet_with(
                    &format!("http://{}", sink.addr),
                    fleet_of(&["sink".to_owned()]),
                    &opts,
                    FleetOptions::default(),
                )
                .await;
                let counted = sink
                    .counters
                    .bytes
                    .load(std::sync::atomic::Ordering::Relaxed);
                let _ = sink_runtime.spawn(sink.shutdown()).await;
                // Dropping a runtime may block, which an async caller must not do.
                sink_runtime.shutdown_background();
                if counted != report.bytes_sent {
                    bail!(
                        "the sink counted {counted} bytes but {} were sent",
                        report.bytes_sent
                    );
                }
                BulkRun {
                    target,
                    round,
                    megabytes_per_s: report.megabytes_per_s,
                    uploads_completed: report.uploads_completed,
                    uploads_failed: report.uploads_failed,
                    ack_latency: report.ack_latency,
                    verified: None,
                    load_before,
                }
            } else {
                let server = ServerUnderTest::start(cfg).await?;
                let (tenant_id, tokens) =
                    provision(&server.url(), &server.admin_token, cfg.bulk_devices).await?;
                let report = run_fleet_with(
                    &server.url(),
                    fleet_of(&tokens),
                    &opts,
                    FleetOptions::default(),
                )
                .await;
                let verified = server.verify(&tenant_id, &report.completed).await;
                server.stop().await;
                BulkRun {
                    target,
                    round,
                    megabytes_per_s: report.megabytes_per_s,
                    uploads_completed: report.uploads_completed,
                    uploads_failed: report.uploads_failed,
                    ack_latency: report.ack_latency,
                    verified: Some(verified),
                    load_before,
                }
            };
            runs.push(run);
        }
    }
    let of = |t: &str| {
        median(
            runs.iter()
                .filter(|r| r.target == t)
                .map(|r| r.megabytes_per_s)
                .collect(),
        )
    };
    let (server_median_mb_s, sink_median_mb_s) = (of("server"), of("sink"));
    Ok(BulkResult {
        ratio: if server_median_mb_s > 0.0 {
            sink_median_mb_s / server_median_mb_s
        } else {
            f64::INFINITY
        },
        runs,
        server_median_mb_s,
        sink_median_mb_s,
    })
}

//! Fleet mode: many simulated devices uploading at once, each on its own connection, to drive
//! load and measure what the server sustains: uploads completed and failed, resumes, samples
//! lost, chunk-acknowledgement latency percentiles, how far real-time uploads fell behind the
//! recording clock, and how many streams were open at once.
//!
//! The fleet only measures and reports; it never decides whether a number is good enough (the
//! load run and its readers do), and it keeps each completed upload's identity and checksum so a
//! caller can verify what the server stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::latency::LatencySummary;
use crate::plan::Counts;
use crate::source::EncodedRecording;
use crate::upload::{Connection, DeviceIdentity, Pacing, UploadOptions, upload};

/// One device of the fleet: its token and the recordings it will upload in turn.
#[derive(Debug, Clone)]
pub struct FleetDevice {
    /// The device's bearer token.
    pub token: String,
    /// Its serial.
    pub serial: String,
    /// What it uploads, in order.
    pub recordings: Vec<Arc<EncodedRecording>>,
}

/// How the fleet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetOptions {
    /// Each device starts after a random delay in `0..start_spread` (uniform), as devices in the
    /// field do, instead of every device sending its chunks at the same instants. Zero starts all
    /// at once.
    pub start_spread: Duration,
}

/// A completed upload, kept so the caller can check what the server stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedUpload {
    /// The upload id the device chose.
    pub upload_id: String,
    /// The case the server created.
    pub case_id: String,
    /// The device's serial.
    pub serial: String,
    /// What the recording holds.
    pub totals: Counts,
    /// What the server said it committed.
    pub committed: Counts,
    /// The recording that was sent (its bytes and SHA-256).
    pub recording: Arc<EncodedRecording>,
    /// Wall time of the upload.
    pub elapsed: Duration,
}

/// The fleet's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FleetReport {
    /// Devices run.
    pub devices: usize,
    /// Uploads the server reported complete.
    pub uploads_completed: usize,
    /// Uploads given up on.
    pub uploads_failed: usize,
    /// The first few failure messages.
    pub failures: Vec<String>,
    /// Attempts over all uploads (first tries plus resumes).
    pub attempts: u64,
    /// Resumes after a broken stream.
    pub resumes: u64,
    /// Chunks sent (resends included).
    pub chunks_sent: u64,
    /// Sample payload bytes sent (resends included).
    pub bytes_sent: u64,
    /// Samples and R peaks in all recordings.
    pub samples_total: u64,
    /// Samples and R peaks the server committed.
    pub samples_committed: u64,
    /// Fraction of samples not committed (0 when nothing was lost).
    pub loss: f64,
    /// Chunk-acknowledgement latency (sent → received by the server).
    pub ack_latency: LatencySummary,
    /// The part of `ack_latency` of each upload's first [`OPENING_CHUNKS`] chunks, which wait
    /// for the server to open the upload.
    pub opening_ack_latency: LatencySummary,
    /// The part of `ack_latency` of every later chunk (the steady stream).
    pub steady_ack_latency: LatencySummary,
    /// Chunk durability latency (sent → reported committed; `UploadWithAcks` only).
    pub commit_latency: LatencySummary,
    /// For real-time pacing: the largest amount by which an upload took longer than the
    /// recording it carried, seconds (how far the slowest device fell behind its own clock).
    pub max_realtime_lag_s: f64,
    /// The most uploads in flight at the same moment.
    pub peak_concurrent_uploads: usize,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// Committed samples per second of wall time.
    pub samples_per_s: f64,
    /// Sample payload megabytes (10^6 bytes) sent per second of wall time.
    pub megabytes_per_s: f64,
    /// Every completed upload, for verification by the caller.
    #[serde(skip)]
    pub completed: Vec<CompletedUpload>,
}

/// Run every device concurrently against `url`; each device uploads its recordings one after
/// another with `base` options (a fresh upload id each). All devices start at once.
pub async fn run_fleet(url: &str, devices: Vec<FleetDevice>, base: &UploadOptions) -> FleetReport {
    run_fleet_with(url, devices, base, FleetOptions::default()).await
}

/// How many of an upload's first chunks [`FleetReport::opening_ack_latency`] covers.
pub const OPENING_CHUNKS: usize = 4;

/// One upload's outcome inside a device task.
type Outcome = Result<(crate::upload::UploadReport, CompletedUpload), (String, u64)>;

/// Like [`run_fleet`], with start options.
pub async fn run_fleet_with(
    url: &str,
    devices: Vec<FleetDevice>,
    base: &UploadOptions,
    fleet: FleetOptions,
) -> FleetReport {
    let start = Instant::now();
    let n = devices.len();
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, device) in devices.into_iter().enumerate() {
        let url = url.to_owned();
        let base = base.clone();
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        let delay = if fleet.start_spread.is_zero() {
            Duration::ZERO
        } else {
            fleet.start_spread.mul_f64(rand::random_range(0.0..1.0))
        };
        tasks.spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::with_capacity(device.recordings.len());
            tokio::time::sleep(delay).await;
            let conn = match Connection::new(&url, &device.token) {
                Ok(c) => c,
                Err(e) => {
                    let totals = device
                        .recordings
                        .iter()
                        .map(|r| crate::plan::totals(r).total())
                        .sum();
                    outcomes.push(Err((e.to_string(), totals)));
                    return outcomes;
                }
            };
            for (j, rec) in device.recordings.into_iter().enumerate() {
                let opts = UploadOptions {
                    upload_id: format!("{}-{i}-{j}-{}", device.serial, uuid::Uuid::new_v4()),
                    identity: DeviceIdentity {
                        serial: device.serial.clone(),
                        subject_id: format!("subject-{i:04}-{j:03}"),
                        ..base.identity.clone()
                    },
                    started_at: std::time::SystemTime::now(),
                    ..base.clone()
                };
                let total = crate::plan::totals(&rec).total();
                let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                peak.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                let result = upload(&conn, Arc::clone(&rec), &opts).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                outcomes.push(
                    result
                        .map(|r| {
                            let done = CompletedUpload {
                                upload_id: r.upload_id.clone(),
                                case_id: r.case_id.clone(),
                                serial: device.serial.clone(),
                                totals: r.totals,
                                committed: r.committed,
                                recording: rec,
                                elapsed: r.elapsed,
                            };
                            (r, done)
                        })
                        .map_err(|e| (e.to_string(), total)),
                );
            }
            outcomes
        });
    }
    let mut report = FleetReport {
        devices: n,
        uploads_completed: 0,
        uploads_failed: 0,
        failures: Vec::new(),
        attempts: 0,
        resumes: 0,
        chunks_sent: 0,
        bytes_sent: 0,
        samples_total: 0,
        samples_committed: 0,
        loss: 0.0,
        ack_latency: LatencySummary::default(),
        opening_ack_latency: LatencySummary::default(),
        steady_ack_latency: LatencySummary::default(),
        commit_latency: LatencySummary::default(),
        max_realtime_lag_s: 0.0,
        peak_concurrent_uploads: 0,
        elapsed_s: 0.0,
        samples_per_s: 0.0,
        megabytes_per_s: 0.0,
        completed: Vec::new(),
    };
    let mut latencies: Vec<Duration> = Vec::new();
    let (mut opening_latencies, mut steady_latencies) = (Vec::new(), Vec::new());
    let mut commit_latencies: Vec<Duration> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let outcomes = match joined {
            Ok(o) => o,
            Err(e) => {
                report.uploads_failed += 1;
                report.failures.push(format!("device task failed: {e}"));
                continue;
            }
        };
        for outcome in outcomes {
            match outcome {
                Ok((r, done)) => {
                    report.uploads_completed += 1;
                    report.attempts += u64::from(r.attempts);
                    report.resumes += r.resumed_from.len() as u64;
                    report.chunks_sent += r.chunks_sent;
                    report.bytes_sent += r.bytes_sent;
                    report.samples_total += r.totals.total();
                    report.samples_committed += r.committed.total().min(r.totals.total());
                    if base.pacing == Pacing::Realtime {
                        let rec = &done.recording;
                        let duration = rec.pcg_samples() as f64 / f64::from(rec.pcg_rate_hz.max(1));
                        let lag = r.elapsed.as_secs_f64() - duration;
                        report.max_realtime_lag_s = report.max_realtime_lag_s.max(lag);
                    }
                    let opening = r.ack_latencies.len().min(OPENING_CHUNKS);
                    opening_latencies.extend_from_slice(&r.ack_latencies[..opening]);
                    steady_latencies.extend_from_slice(&r.ack_latencies[opening..]);
                    latencies.extend(r.ack_latencies);
                    commit_latencies.extend(r.commit_latencies);
                    report.completed.push(done);
                }
                Err((message, total)) => {
                    report.uploads_failed += 1;
                    report.samples_total += total;
                    if report.failures.len() < 10 {
                        report.failures.push(message);
                    }
                }
            }
        }
    }
    report.ack_latency = LatencySummary::of(&latencies);
    report.opening_ack_latency = LatencySummary::of(&opening_latencies);
    report.steady_ack_latency = LatencySummary::of(&steady_latencies);
    report.commit_latency = LatencySummary::of(&commit_latencies);
    report.peak_concurrent_uploads = peak.load(std::sync::atomic::Ordering::Relaxed);
    report.elapsed_s = start.elapsed().as_secs_f64();
    if report.samples_total > 0 {
        report.loss = 1.0 - report.samples_committed as f64 / report.samples_total as f64;
    }
    if report.elapsed_s > 0.0 {
        report.samples_per_s = report.samples_committed as f64 / report.elapsed_s;
        report.megabytes_per_s = report.bytes_sent as f64 / 1e6 / report.elapsed_s;
    }
    report
}

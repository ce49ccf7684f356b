//! Fleet mode: many simulated devices uploading at once, each on its own connection, to drive
//! load and measure what the server sustains: uploads completed and failed, resumes, samples
//! lost, and chunk-acknowledgement latency percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::latency::LatencySummary;
use crate::source::EncodedRecording;
use crate::upload::{Connection, DeviceIdentity, UploadOptions, upload};

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
    /// Chunk-acknowledgement latency.
    pub ack_latency: LatencySummary,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// Committed samples per second of wall time.
    pub samples_per_s: f64,
}

/// Run every device concurrently against `url`; each device uploads its recordings one after
/// another with `base` options (a fresh upload id each).
pub async fn run_fleet(url: &str, devices: Vec<FleetDevice>, base: &UploadOptions) -> FleetReport {
    let start = Instant::now();
    let n = devices.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, device) in devices.into_iter().enumerate() {
        let url = url.to_owned();
        let base = base.clone();
        tasks.spawn(async move {
            let mut outcomes = Vec::with_capacity(device.recordings.len());
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
                    ..base.clone()
                };
                let total = crate::plan::totals(&rec).total();
                outcomes.push(
                    upload(&conn, rec, &opts)
                        .await
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
        elapsed_s: 0.0,
        samples_per_s: 0.0,
    };
    let mut latencies: Vec<Duration> = Vec::new();
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
                Ok(r) => {
                    report.uploads_completed += 1;
                    report.attempts += u64::from(r.attempts);
                    report.resumes += r.resumed_from.len() as u64;
                    report.chunks_sent += r.chunks_sent;
                    report.bytes_sent += r.bytes_sent;
                    report.samples_total += r.totals.total();
                    report.samples_committed += r.committed.total().min(r.totals.total());
                    latencies.extend(r.ack_latencies);
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
    report.elapsed_s = start.elapsed().as_secs_f64();
    if report.samples_total > 0 {
        report.loss = 1.0 - report.samples_committed as f64 / report.samples_total as f64;
    }
    if report.elapsed_s > 0.0 {
        report.samples_per_s = report.samples_committed as f64 / report.elapsed_s;
    }
    report
}

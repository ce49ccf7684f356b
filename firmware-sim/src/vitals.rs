//! A simulated bedside vital-sign sensor and its gateway: scripted scenarios from
//! `auscult-synth` (slow deterioration, apnea, a fall in SpO2, an unplugged sensor, a quiet
//! night) turned into `VitalsBatch` messages with device timestamps, streamed over
//! `IngestVitals` in real time or accelerated, with the ground truth of when the event starts.
//!
//! Clock handling: every sample carries its device time (`start_ms` + its offset in the
//! series). The gateway sends one batch every `batch_s` seconds of device time, stamped
//! `sent_at` with its device clock; while the sensor is unplugged it still sends empty batches
//! (heartbeats), so the server's per-subject clock keeps moving in an accelerated replay the way
//! wall time does in a real one. Accelerated replays use a `start_ms` in the past, so that no
//! device time is ever ahead of the server's wall clock.
//!
//! Must never talk to anything but the server URL it was given; never loop without bound (a
//! script is finite).

use std::str::FromStr;
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_proto::v1::vitals_service_client::VitalsServiceClient;
use auscult_synth::vitals::{
    Acvpu, VitalEventKind, VitalSample, VitalsConfig, VitalsScenario, generate_vitals,
};
use serde::Serialize;
use tokio_stream::StreamExt;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::SimError;

/// A scripted course of the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VitalsScenarioKind {
    /// Sepsis-like drift over 90 minutes.
    SlowDeterioration,
    /// Breathing stops for 90 seconds.
    Apnea,
    /// SpO2 falls to 85 % over 5 minutes and stays there.
    Spo2Drop,
    /// The sensor stops reporting for 30 minutes.
    Unplugged,
    /// Nothing happens.
    QuietNight,
}

impl VitalsScenarioKind {
    /// Every scenario.
    pub const ALL: [VitalsScenarioKind; 5] = [
        VitalsScenarioKind::SlowDeterioration,
        VitalsScenarioKind::Apnea,
        VitalsScenarioKind::Spo2Drop,
        VitalsScenarioKind::Unplugged,
        VitalsScenarioKind::QuietNight,
    ];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            VitalsScenarioKind::SlowDeterioration => "slow-deterioration",
            VitalsScenarioKind::Apnea => "apnea",
            VitalsScenarioKind::Spo2Drop => "spo2-drop",
            VitalsScenarioKind::Unplugged => "unplugged",
            VitalsScenarioKind::QuietNight => "quiet-night",
        }
    }

    /// The alert kind a correct server raises for it (`None` for a quiet night).
    pub fn expected_alert_kind(self) -> Option<&'static str> {
        match self {
            VitalsScenarioKind::QuietNight => None,
            VitalsScenarioKind::Unplugged => Some("sensor_silent"),
            _ => Some("clinical"),
        }
    }

    /// The latency (device time from the event's start to the alert) the server promises,
    /// given the sample interval and the gateway's batch period. Detector latency as stated in
    /// `crates/vitals/README.md`, plus one batch period (samples wait in the gateway) and one
    /// server tick.
    pub fn stated_latency(self, interval_s: f64, batch_s: f64) -> Duration {
        let fast = interval_s <= 1.0;
        let detector = match self {
            // NEWS2 crosses the alerting band about two thirds into the 90-minute ramp.
            VitalsScenarioKind::SlowDeterioration => 90.0 * 60.0,
            VitalsScenarioKind::Spo2Drop => 12.0 * 60.0,
            VitalsScenarioKind::Apnea if fast => 20.0,
            VitalsScenarioKind::Apnea => 120.0,
            VitalsScenarioKind::Unplugged => (3.0 * interval_s.max(60.0)).max(120.0) + 15.0,
            VitalsScenarioKind::QuietNight => 0.0,
        };
        Duration::from_secs_f64(detector + batch_s + 1.0)
    }
}

impl std::fmt::Display for VitalsScenarioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VitalsScenarioKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scenario `{s}`; one of: {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalsPlan {
    /// The course.
    pub kind: VitalsScenarioKind,
    /// Seed of the synthetic resident.
    pub seed: u64,
    /// Length, seconds.
    pub duration_s: f64,
    /// Seconds between sensor reports (1 or 60 typically).
    pub interval_s: f64,
    /// When the event starts, seconds from the start (default: two hours before the end, or
    /// half-way for a series shorter than four hours).
    pub onset_s: Option<f64>,
    /// Clock hour at the start (circadian rhythm).
    pub start_hour: f64,
}

impl Default for VitalsPlan {
    fn default() -> Self {
        Self {
            kind: VitalsScenarioKind::QuietNight,
            seed: 0,
            duration_s: 8.0 * 3600.0,
            interval_s: 60.0,
            onset_s: None,
            start_hour: 22.0,
        }
    }
}

/// When the scripted event happens, in device time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    /// The scenario.
    pub scenario: VitalsScenarioKind,
    /// Device time of the first sample, Unix ms.
    pub start_ms: i64,
    /// Device time of the event's start, Unix ms (`None` for a quiet night).
    pub event_start_ms: Option<i64>,
    /// Device time of the event's end, if it ends within the series.
    pub event_end_ms: Option<i64>,
    /// The alert kind a correct server raises (`clinical`, `sensor_silent`), if any.
    pub expected_alert_kind: Option<&'static str>,
    /// The latency the server promises, ms of device time from the event's start.
    pub stated_latency_ms: i64,
    /// Device time at which the noise-free NEWS2 first reaches 5, if it does.
    pub news2_reaches_5_ms: Option<i64>,
    /// Motion artefacts in the series (must not alarm).
    pub motion_artefacts: usize,
}

/// One batch and the device time it is due.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledBatch {
    /// Device time when the gateway sends it (also its `sent_at`), Unix ms.
    pub device_ms: i64,
    /// The message.
    pub batch: pb::VitalsBatch,
}

/// Everything one simulated sensor will send, and the truth about it.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalsScript {
    /// Batches in sending order.
    pub batches: Vec<ScheduledBatch>,
    /// Ground truth.
    pub truth: GroundTruth,
    /// Samples in all batches.
    pub samples: usize,
}

fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn sample(at_ms: i64, source: &str, value: pb::vital_sample::Value) -> pb::VitalSample {
    pb::VitalSample {
        measured_at: Some(ts(at_ms)),
        source_device: source.to_owned(),
        value: Some(value),
    }
}

fn acvpu(a: Acvpu) -> pb::Acvpu {
    match a {
        Acvpu::Alert => pb::Acvpu::Alert,
        Acvpu::NewConfusion => pb::Acvpu::NewConfusion,
        Acvpu::Voice => pb::Acvpu::Voice,
        Acvpu::Pain => pb::Acvpu::Pain,
        Acvpu::Unresponsive => pb::Acvpu::Unresponsive,
    }
}

/// The sensor's readings at one report, as wire samples.
pub fn to_wire(
    s: &VitalSample,
    at_ms: i64,
    source: &str,
    with_context: bool,
) -> Vec<pb::VitalSample> {
    use pb::vital_sample::Value;
    let mut out = Vec::with_capacity(6);
    if let Some(v) = s.heart_rate_bpm {
        out.push(sample(at_ms, source, Value::HeartRatePerMin(v)));
    }
    if let Some(v) = s.resp_rate_bpm {
        out.push(sample(at_ms, source, Value::RespiratoryRatePerMin(v)));
    }
    if let Some(v) = s.spo2_pct {
        out.push(sample(at_ms, source, Value::Spo2Percent(v)));
    }
    if let Some(v) = s.temperature_c {
        out.push(sample(at_ms, source, Value::TemperatureCelsius(v)));
    }
    if let (Some(sys), Some(dia)) = (s.systolic_mmhg, s.diastolic_mmhg) {
        out.push(sample(
            at_ms,
            source,
            Value::BloodPressure(pb::BloodPressure {
                systolic_mmhg: sys,
                diastolic_mmhg: dia,
            }),
        ));
    }
    if with_context {
        out.push(sample(
            at_ms,
            source,
            Value::Consciousness(acvpu(s.consciousness) as i32),
        ));
        let o2 = if s.supplemental_o2 {
            pb::OxygenSupport::Oxygen
        } else {
            pb::OxygenSupport::Air
        };
        out.push(sample(at_ms, source, Value::Oxygen(o2 as i32)));
    }
    out
}

/// Generates the series and cuts it into the gateway's batches.
///
/// `start_ms` is the device time of the first sample; `batch_s` the gateway's batch period
/// (at least the sample interval); `first_batch_id` numbers the batches.
pub fn script(
    plan: &VitalsPlan,
    subject: &str,
    source: &str,
    start_ms: i64,
    batch_s: f64,
    first_batch_id: u64,
) -> Result<VitalsScript, SimError> {
    let d = plan.duration_s;
    let onset = plan.onset_s.unwrap_or(if d >= 4.0 * 3600.0 {
        d - 2.0 * 3600.0
    } else {
        d / 2.0
    });
    let scenario = match plan.kind {
        VitalsScenarioKind::QuietNight => VitalsScenario::QuietNight,
        VitalsScenarioKind::SlowDeterioration => VitalsScenario::SepsisDeterioration {
            onset_s: onset,
            ramp_s: 5400.0,
        },
        VitalsScenarioKind::Apnea => VitalsScenario::Apnea {
            onset_s: onset,
            duration_s: 90.0,
        },
        VitalsScenarioKind::Spo2Drop => VitalsScenario::Desaturation {
            onset_s: onset,
            ramp_s: 300.0,
            nadir_pct: 85.0,
        },
        VitalsScenarioKind::Unplugged => VitalsScenario::SensorUnplugged {
            at_s: onset,
            back_s: Some((onset + 1800.0).min(d)),
        },
    };
    let series = generate_vitals(&VitalsConfig {
        seed: plan.seed,
        resident: subject.to_owned(),
        duration_s: d,
        interval_s: plan.interval_s,
        start_hour: plan.start_hour,
        scenario,
        baseline: None,
        ..VitalsConfig::default()
    })?;
    let batch_ms = (batch_s.max(plan.interval_s) * 1000.0).round() as i64;
    let interval_s = u32::try_from(plan.interval_s.round() as i64).unwrap_or(60);
    let mut batches = Vec::new();
    let mut next = 0usize;
    let mut total = 0usize;
    let end_ms = start_ms + (d * 1000.0) as i64;
    let mut due = start_ms + batch_ms;
    let mut last_context: Option<(Acvpu, bool, f64)> = None;
    let mut id = first_batch_id;
    while due <= end_ms + batch_ms {
        let mut samples = Vec::new();
        while next < series.samples.len() {
            let s = &series.samples[next];
            let at = start_ms + (s.t_s * 1000.0).round() as i64;
            if at >= due {
                break;
            }
            // ACVPU and oxygen when they change, and every 15 minutes.
            let context = match last_context {
                None => true,
                Some((c, o, t)) => {
                    c != s.consciousness || o != s.supplemental_o2 || s.t_s - t >= 900.0
                }
            };
            if context {
                last_context = Some((s.consciousness, s.supplemental_o2, s.t_s));
            }
            samples.extend(to_wire(s, at, source, context));
            next += 1;
        }
        total += samples.len();
        let sent = due.min(end_ms);
        batches.push(ScheduledBatch {
            device_ms: sent,
            batch: pb::VitalsBatch {
                batch_id: id,
                subject_id: subject.to_owned(),
                samples,
                sent_at: Some(ts(sent)),
                expected_interval_seconds: interval_s,
            },
        });
        id += 1;
        if due >= end_ms {
            break;
        }
        due += batch_ms;
    }
    let scripted = series
        .truth
        .events
        .iter()
        .find(|e| e.kind != VitalEventKind::MotionArtefact);
    let to_ms = |s: f64| start_ms + (s * 1000.0).round() as i64;
    let truth = GroundTruth {
        scenario: plan.kind,
        start_ms,
        event_start_ms: scripted.map(|e| to_ms(e.start_s)),
        event_end_ms: scripted.and_then(|e| e.end_s).map(to_ms),
        expected_alert_kind: plan.kind.expected_alert_kind(),
        stated_latency_ms: plan
            .kind
            .stated_latency(plan.interval_s, batch_ms as f64 / 1000.0)
            .as_millis() as i64,
        news2_reaches_5_ms: series.truth.news2_reaches_5_s.map(to_ms),
        motion_artefacts: series
            .truth
            .events
            .iter()
            .filter(|e| e.kind == VitalEventKind::MotionArtefact)
            .count(),
    };
    Ok(VitalsScript {
        batches,
        truth,
        samples: total,
    })
}

/// How to pace a replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VitalsPacing {
    /// Each batch when its device time comes, `speed` times faster than real time (1 = real
    /// time).
    Speed(f64),
    /// Each batch as soon as the previous one is acknowledged.
    AsFastAsAcked,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamReport {
    /// Batches sent.
    pub batches: u64,
    /// Batches the server refused (with its reasons, first 10).
    pub refused: u64,
    /// Reasons of the first refusals.
    pub refusals: Vec<String>,
    /// Samples the server stored.
    pub samples_accepted: u64,
    /// Alert events the server said the batches caused.
    pub alert_events: u64,
    /// Wall time of the replay, seconds.
    pub elapsed_s: f64,
}

/// A channel to the server (lazy).
pub fn channel(url: &str) -> Result<Channel, SimError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SimError::BadUrl {
            url: url.to_owned(),
            reason: "expected http:// or https://".into(),
        });
    }
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| SimError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// A request with the bearer token.
pub fn authed<T>(token: &str, message: T) -> Result<Request<T>, SimError> {
    let mut r = Request::new(message);
    let v = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| SimError::BadToken)?;
    r.metadata_mut().insert("authorization", v);
    Ok(r)
}

/// Streams batches over one `IngestVitals` call, paced, and reads every acknowledgement.
/// `on_sent` is called with each batch's index as it is handed to the transport.
pub async fn stream_batches(
    channel: Channel,
    token: &str,
    batches: Vec<ScheduledBatch>,
    pacing: VitalsPacing,
    mut on_sent: impl FnMut(usize, Instant) + Send,
) -> Result<StreamReport, SimError> {
    let started = Instant::now();
    let mut client = VitalsServiceClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::VitalsBatch>(64);
    let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut acks = client
        .ingest_vitals(authed(token, outbound)?)
        .await
        .map_err(|s| SimError::Refused {
            code: s.code(),
            message: s.message().to_owned(),
        })?
        .into_inner();
    let mut report = StreamReport::default();
    let first_ms = batches.first().map_or(0, |b| b.device_ms);
    let n = batches.len();
    let mut pending = 0usize;
    let record = |report: &mut StreamReport, ack: pb::VitalsBatchAck| {
        if ack.error.is_empty() {
            report.samples_accepted += u64::from(ack.accepted);
            report.alert_events += u64::from(ack.alert_events);
        } else {
            report.refused += 1;
            if report.refusals.len() < 10 {
                report
                    .refusals
                    .push(format!("batch {}: {}", ack.batch_id, ack.error));
            }
        }
    };
    for (i, b) in batches.into_iter().enumerate() {
        match pacing {
            VitalsPacing::Speed(speed) => {
                let offset = (b.device_ms - first_ms).max(0) as f64 / 1000.0 / speed.max(1e-3);
                let due = started + Duration::from_secs_f64(offset);
                tokio::time::sleep_until(due.into()).await;
            }
            VitalsPacing::AsFastAsAcked => {
                while pending > 0 {
                    let ack = acks.next().await.ok_or_else(|| {
                        SimError::Protocol("the server ended the stream early".into())
                    })?;
                    let ack = ack.map_err(|s| SimError::Refused {
                        code: s.code(),
                        message: s.message().to_owned(),
                    })?;
                    pending -= 1;
                    record(&mut report, ack);
                }
            }
        }
        on_sent(i, Instant::now());
        tx.send(b.batch)
            .await
            .map_err(|_| SimError::Protocol("the server ended the stream early".into()))?;
        pending += 1;
        report.batches += 1;
        // Read whatever acknowledgements are ready without waiting.
        while let Ok(Some(ack)) = tokio::time::timeout(Duration::ZERO, acks.next()).await {
            let ack = ack.map_err(|s| SimError::Refused {
                code: s.code(),
                message: s.message().to_owned(),
            })?;
            pending = pending.saturating_sub(1);
            record(&mut report, ack);
        }
    }
    drop(tx);
    while let Some(ack) = acks.next().await {
        let ack = ack.map_err(|s| SimError::Refused {
            code: s.code(),
            message: s.message().to_owned(),
        })?;
        record(&mut report, ack);
    }
    if report.batches != n as u64 {
        return Err(SimError::Protocol("not every batch was sent".into()));
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Arguments of `firmware-sim vitals`.
#[derive(Debug, clap::Args)]
pub struct VitalsArgs {
    /// The server's gRPC URL.
    #[arg(long, env = "AUSCULT_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The device's bearer token. An administrator must have assigned the device to the
    /// subject (AdminService.AssignDevice), or every batch is refused.
    #[arg(long, env = "AUSCULT_DEVICE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// slow-deterioration, apnea, spo2-drop, unplugged or quiet-night.
    #[arg(long, default_value = "quiet-night")]
    pub scenario: VitalsScenarioKind,
    /// Seed of the synthetic resident.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length of the series, hours.
    #[arg(long, default_value_t = 8.0)]
    pub hours: f64,
    /// Seconds between sensor reports (1 = continuous monitor, 60 = once a minute).
    #[arg(long, default_value_t = 60.0)]
    pub interval: f64,
    /// When the event starts, hours from the start (default: 2 h before the end).
    #[arg(long)]
    pub onset_hours: Option<f64>,
    /// Replay this many times faster than real time (1 = real time). Device times then start
    /// in the past so that none is ahead of the server's clock.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Send each batch as soon as the previous one is acknowledged (device times in the past).
    #[arg(long, conflicts_with = "speed")]
    pub fast: bool,
    /// Gateway batch period, seconds of device time (default: the interval, at least 5 s).
    #[arg(long)]
    pub batch_seconds: Option<f64>,
    /// Pseudonymous subject id.
    #[arg(long, default_value = "resident-0001")]
    pub subject: String,
    /// The sensor's device id.
    #[arg(long, default_value = "vitals-sim-0001")]
    pub source: String,
    /// Write the ground truth as JSON to this file.
    #[arg(long)]
    pub truth: Option<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs `firmware-sim vitals`: prints the ground truth, streams the scenario, prints a report.
pub async fn run_cli(a: VitalsArgs) -> anyhow::Result<()> {
    if !(a.hours > 0.0 && a.speed >= 1.0 && a.interval >= 1.0) {
        anyhow::bail!("--hours must be positive, --speed and --interval at least 1");
    }
    let duration_s = a.hours * 3600.0;
    let plan = VitalsPlan {
        kind: a.scenario,
        seed: a.seed,
        duration_s,
        interval_s: a.interval,
        onset_s: a.onset_hours.map(|h| h * 3600.0),
        ..VitalsPlan::default()
    };
    // Device time must never be ahead of the server's clock: start far enough in the past.
    let lag_s = if a.fast {
        duration_s
    } else {
        duration_s * (1.0 - 1.0 / a.speed)
    };
    let start_ms = wall_ms() - (lag_s * 1000.0).ceil() as i64;
    let batch_s = a.batch_seconds.unwrap_or(a.interval.max(5.0));
    let s = script(&plan, &a.subject, &a.source, start_ms, batch_s, 1)?;
    let truth_json = serde_json::to_string_pretty(&s.truth)?;
    if let Some(path) = &a.truth {
        std::fs::write(path, &truth_json)?;
    }
    if !a.json {
        println!("ground truth: {truth_json}");
        println!(
            "streaming {} batches ({} samples) of {} to {}",
            s.batches.len(),
            s.samples,
            a.scenario,
            a.server
        );
    }
    let pacing = if a.fast {
        VitalsPacing::AsFastAsAcked
    } else {
        VitalsPacing::Speed(a.speed)
    };
    let report =
        stream_batches(channel(&a.server)?, &a.token, s.batches, pacing, |_, _| {}).await?;
    if a.json {
        let v = serde_json::json!({ "truth": s.truth, "report": report });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "sent {} batches in {:.1} s: {} samples stored, {} refused, {} alert events",
            report.batches,
            report.elapsed_s,
            report.samples_accepted,
            report.refused,
            report.alert_events
        );
        for r in &report.refusals {
            println!("  refused: {r}");
        }
    }
    if report.refused > 0 {
        anyhow::bail!("{} batch(es) refused", report.refused);
    }
    Ok(())
}

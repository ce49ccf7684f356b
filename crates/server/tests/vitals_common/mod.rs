//! Helpers of the vitals acceptance tests: a `VitalsService` client over the real socket,
//! sample builders, ingestion of batches over one stream, and collecting `Watch` events.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_proto::v1::vitals_service_client::VitalsServiceClient;
use auscult_testkit::{Tenant, authed};
use pb::vital_sample::Value;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

pub fn vitals(ch: &Channel) -> VitalsServiceClient<Channel> {
    VitalsServiceClient::new(ch.clone())
}

pub fn pts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap(),
    }
}

pub fn ms(t: &Option<prost_types::Timestamp>) -> i64 {
    let t = t.as_ref().unwrap();
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

pub fn wall_ms() -> i64 {
    auscult_store::now_ms()
}

pub fn sample(at: i64, source: &str, v: Value) -> pb::VitalSample {
    pb::VitalSample {
        measured_at: Some(pts(at)),
        source_device: source.into(),
        value: Some(v),
    }
}

pub fn hr(at: i64, v: f64) -> pb::VitalSample {
    sample(at, "oximeter-1", Value::HeartRatePerMin(v))
}

pub fn rr(at: i64, v: f64) -> pb::VitalSample {
    sample(at, "oximeter-1", Value::RespiratoryRatePerMin(v))
}

pub fn spo2(at: i64, v: f64) -> pb::VitalSample {
    sample(at, "oximeter-1", Value::Spo2Percent(v))
}

/// Normal readings (HR, RR, SpO2) at `at`.
pub fn normal(at: i64) -> Vec<pb::VitalSample> {
    vec![hr(at, 70.0), rr(at, 15.0), spo2(at, 97.0)]
}

pub fn batch(id: u64, subject: &str, samples: Vec<pb::VitalSample>) -> pb::VitalsBatch {
    pb::VitalsBatch {
        batch_id: id,
        subject_id: subject.into(),
        samples,
        sent_at: None,
        expected_interval_seconds: 60,
    }
}

/// Sends `batches` over one `IngestVitals` stream and returns every acknowledgement.
pub async fn send_batches(
    ch: &Channel,
    token: &str,
    batches: Vec<pb::VitalsBatch>,
) -> Result<Vec<pb::VitalsBatchAck>, tonic::Status> {
    let n = batches.len();
    let mut acks = vitals(ch)
        .ingest_vitals(authed(token, tokio_stream::iter(batches)))
        .await?
        .into_inner();
    let mut out = Vec::with_capacity(n);
    while let Some(a) = acks.next().await {
        out.push(a?);
    }
    Ok(out)
}

/// Sends one batch and returns its acknowledgement.
pub async fn ingest_one(ch: &Channel, token: &str, b: pb::VitalsBatch) -> pb::VitalsBatchAck {
    send_batches(ch, token, vec![b]).await.unwrap().remove(0)
}

/// Opens a Watch stream.
pub async fn watch(
    ch: &Channel,
    token: &str,
    after: u64,
    subject: &str,
) -> Result<tonic::Streaming<pb::AlertEvent>, tonic::Status> {
    vitals(ch)
        .watch(authed(
            token,
            pb::WatchRequest {
                after_event_id: after,
                subject_id: subject.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Reads events until `quiet` passes without one (or `max` events). Only for a consumer that
/// takes "some" events before dropping its stream: a quiet window proves nothing (on a loaded
/// machine an event can come later), so no test asserts on what did not arrive within one; use
/// [`take`] and [`until_marker`].
pub async fn drain(
    stream: &mut tonic::Streaming<pb::AlertEvent>,
    quiet: Duration,
    max: usize,
) -> Vec<pb::AlertEvent> {
    let mut out = Vec::new();
    while out.len() < max {
        match tokio::time::timeout(quiet, stream.next()).await {
            Ok(Some(Ok(e))) => out.push(e),
            Ok(Some(Err(s))) => panic!("watch failed: {s}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// How long a test waits for an event it knows is coming before it fails.
pub const EVENT_WAIT: Duration = Duration::from_secs(60);

/// The next event on `stream`; panics when none comes within [`EVENT_WAIT`].
pub async fn next_event(stream: &mut tonic::Streaming<pb::AlertEvent>) -> pb::AlertEvent {
    match tokio::time::timeout(EVENT_WAIT, stream.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(s))) => panic!("watch failed: {s}"),
        Ok(None) => panic!("the watch stream ended"),
        Err(_) => panic!("no event within {EVENT_WAIT:?}"),
    }
}

/// The next `n` events on `stream`, each within [`EVENT_WAIT`].
pub async fn take(stream: &mut tonic::Streaming<pb::AlertEvent>, n: usize) -> Vec<pb::AlertEvent> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next_event(stream).await);
    }
    out
}

/// A resident with an hour of normal readings ending at `end`, then `hr 0` (no pulse) from a
/// once-a-minute sensor of the tenant's device (assigned to the resident first): one critical
/// clinical alert.
pub async fn raise_no_pulse(ch: &Channel, t: &Tenant, subject: &str, end: i64) {
    t.assign(ch, &[subject]).await;
    let token = &t.device_token;
    let mut batches: Vec<_> = (0..5)
        .map(|i| batch(i, subject, normal(end - (5 - i as i64) * 60_000)))
        .collect();
    batches.push(batch(
        9,
        subject,
        vec![hr(end, 0.0), rr(end, 14.0), spo2(end, 96.0)],
    ));
    let acks = send_batches(ch, token, batches).await.unwrap();
    assert!(acks.iter().all(|a| a.error.is_empty()), "{acks:?}");
    assert!(acks.last().unwrap().alert_events >= 1, "{acks:?}");
}

/// Subject ids of marker alerts start with this.
pub const MARKER_PREFIX: &str = "zz-marker-";

/// Whether `e` is a marker's event.
pub fn is_marker(e: &pb::AlertEvent) -> bool {
    subject_of(e).starts_with(MARKER_PREFIX)
}

/// Raises an alert for a fresh marker subject with the tenant's device and returns the subject.
///
/// A positive signal in place of a quiet window: the server stores (and broadcasts) an alert
/// event before it acknowledges the batch or action that caused it, and `Watch` delivers a
/// tenant's events in increasing id order; so every event caused by what was acknowledged
/// before the marker reaches a tenant-wide watch before the marker's raise.
pub async fn raise_marker(ch: &Channel, t: &Tenant) -> String {
    let subject = format!("{MARKER_PREFIX}{}", uuid::Uuid::new_v4().simple());
    raise_no_pulse(ch, t, &subject, wall_ms() - 30_000).await;
    subject
}

/// Reads `stream` (a tenant-wide watch) until the raise of `marker` arrives and returns the
/// events before it (panics when it does not come within [`EVENT_WAIT`] of the previous event).
pub async fn until_marker(
    stream: &mut tonic::Streaming<pb::AlertEvent>,
    marker: &str,
) -> Vec<pb::AlertEvent> {
    let mut out = Vec::new();
    loop {
        let e = next_event(stream).await;
        if subject_of(&e) == marker && e.change() == pb::AlertChange::Raised {
            return out;
        }
        out.push(e);
    }
}

/// Every stored event of the tenant except markers' (a fresh Watch from 0, read up to a fresh
/// marker raised with the tenant's device).
pub async fn all_events(ch: &Channel, token: &str, t: &Tenant) -> Vec<pb::AlertEvent> {
    let marker = raise_marker(ch, t).await;
    let mut w = watch(ch, token, 0, "").await.unwrap();
    let mut events = until_marker(&mut w, &marker).await;
    events.retain(|e| !is_marker(e));
    events
}

pub async fn list_alerts(
    ch: &Channel,
    token: &str,
    subject: &str,
    include_resolved: bool,
) -> Result<Vec<pb::Alert>, tonic::Status> {
    vitals(ch)
        .list_alerts(authed(
            token,
            pb::ListAlertsRequest {
                subject_id: subject.into(),
                include_resolved,
                limit: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().alerts)
}

pub async fn trend(
    ch: &Channel,
    token: &str,
    subject: &str,
    from: i64,
    until: i64,
) -> Result<Vec<pb::TrendPoint>, tonic::Status> {
    vitals(ch)
        .query_trend(authed(
            token,
            pb::QueryTrendRequest {
                subject_id: subject.into(),
                parameter: pb::VitalParameter::HeartRate as i32,
                from: Some(pts(from)),
                until: Some(pts(until)),
                bucket_minutes: 1,
            },
        ))
        .await
        .map(|r| r.into_inner().points)
}

pub fn raised(events: &[pb::AlertEvent]) -> Vec<&pb::AlertEvent> {
    events
        .iter()
        .filter(|e| e.change() == pb::AlertChange::Raised)
        .collect()
}

pub fn subject_of(e: &pb::AlertEvent) -> &str {
    &e.alert.as_ref().unwrap().subject_id
}

/// Firmware-sim's apnea scenario for `subject`'s `sensor` at 1 Hz: breathing stops after 30
/// minutes and the series ends a minute later (before an unacknowledged critical alert's first
/// automatic escalation), a few seconds ago in device time, streamed to the server at `addr` as
/// fast as it acknowledges. The task's result is the stream's report.
pub fn replay_apnea(
    addr: std::net::SocketAddr,
    device_token: &str,
    subject: &str,
    sensor: &str,
    seed: u64,
) -> tokio::task::JoinHandle<firmware_sim::vitals::StreamReport> {
    use firmware_sim::vitals::{
        VitalsPacing, VitalsPlan, VitalsScenarioKind, channel, script, stream_batches,
    };
    let plan = VitalsPlan {
        kind: VitalsScenarioKind::Apnea,
        seed,
        duration_s: 31.0 * 60.0,
        interval_s: 1.0,
        onset_s: Some(30.0 * 60.0),
        ..VitalsPlan::default()
    };
    let start_ms = wall_ms() - (plan.duration_s * 1000.0) as i64 - 5_000;
    let s = script(&plan, subject, sensor, start_ms, 5.0, 1).unwrap();
    let (url, token) = (auscult_testkit::url(addr), device_token.to_owned());
    tokio::spawn(async move {
        stream_batches(
            channel(&url).unwrap(),
            &token,
            s.batches,
            VitalsPacing::AsFastAsAcked,
            |_, _| {},
        )
        .await
        .unwrap()
    })
}

/// Normal HR, RR and SpO2 from `sensor` of the tenant's device every 2 s in real time (each
/// sensor's expected interval 2 s), until the returned task is aborted: a resident whose sensor
/// goes on reporting, so no silent-sensor alert opens while a test runs.
pub fn feed_normal_readings(
    ch: &Channel,
    token: &str,
    subject: &'static str,
    sensor: &'static str,
) -> tokio::task::JoinHandle<()> {
    let (ch, token) = (ch.clone(), token.to_owned());
    tokio::spawn(async move {
        for i in 0u64.. {
            let at = wall_ms();
            let samples = vec![
                sample(at, sensor, Value::HeartRatePerMin(72.0)),
                sample(at, sensor, Value::RespiratoryRatePerMin(15.0)),
                sample(at, sensor, Value::Spo2Percent(97.0)),
            ];
            let mut b = batch(1_000_000 + i, subject, samples);
            b.expected_interval_seconds = 2;
            ingest_one(&ch, &token, b).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

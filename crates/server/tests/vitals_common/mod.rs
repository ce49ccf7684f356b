//! Helpers of the vitals acceptance tests: a `VitalsService` client over the real socket,
//! sample builders, ingestion of batches over one stream, and collecting `Watch` events.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_proto::v1::vitals_service_client::VitalsServiceClient;
use auscult_testkit::authed;
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

/// Reads events until `quiet` passes without one (or `max` events).
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

/// Every stored event of the tenant (a fresh Watch from 0, read until quiet).
pub async fn all_events(ch: &Channel, token: &str) -> Vec<pb::AlertEvent> {
    let mut w = watch(ch, token, 0, "").await.unwrap();
    drain(&mut w, Duration::from_millis(1500), usize::MAX).await
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
    events.iter().filter(|e| e.change == "raised").collect()
}

pub fn subject_of(e: &pb::AlertEvent) -> &str {
    &e.alert.as_ref().unwrap().subject_id
}

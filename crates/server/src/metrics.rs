//! Prometheus metrics: a handful of counters and a latency histogram, encoded by
//! prometheus-client (OpenMetrics text) and served by axum on hyper with header-read and
//! connection timeouts. Holds no personal data: labels are fixed names, never ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

/// Upper bounds (seconds) of the chunk-handling latency histogram.
const BUCKETS_S: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0];

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Chunks accepted.
    pub chunks: AtomicU64,
    /// Payload bytes accepted.
    pub bytes: AtomicU64,
    /// Parts durably committed.
    pub commits: AtomicU64,
    /// Uploads completed.
    pub uploads_completed: AtomicU64,
    /// Upload streams rejected with an error.
    pub uploads_rejected: AtomicU64,
    /// Analyses finished.
    pub analyses_done: AtomicU64,
    /// Analysis attempts that failed.
    pub analyses_failed: AtomicU64,
    /// Webhook deliveries the receiver took.
    pub webhooks_delivered: AtomicU64,
    /// Webhook attempts that failed.
    pub webhook_attempts_failed: AtomicU64,
    /// Webhook deliveries that failed their last attempt (dead letters).
    pub webhooks_dead: AtomicU64,
    chunk_latency_buckets: [AtomicU64; BUCKETS_S.len()],
    chunk_latency_count: AtomicU64,
    chunk_latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Records the time from receiving a chunk to acknowledging it.
    pub fn observe_chunk_latency(&self, seconds: f64) {
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.chunk_latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.chunk_latency_count.fetch_add(1, Ordering::Relaxed);
        // Whole microseconds are plenty for a latency sum.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let us = (seconds * 1e6).max(0.0) as u64;
        self.chunk_latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The OpenMetrics text exposition (prometheus-client's encoder).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot::of(self)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// The counters' values at one scrape, and the histogram's buckets.
#[derive(Debug)]
struct Snapshot {
    counters: Vec<(&'static str, &'static str, u64)>,
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum_s: f64,
}

impl Snapshot {
    fn of(m: &Metrics) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counters = vec![
            ("auscult_ingest_chunks", "Chunks accepted.", get(&m.chunks)),
            (
                "auscult_ingest_bytes",
                "Payload bytes accepted.",
                get(&m.bytes),
            ),
            (
                "auscult_ingest_commits",
                "Parts durably committed.",
                get(&m.commits),
            ),
            (
                "auscult_uploads_completed",
                "Uploads completed.",
                get(&m.uploads_completed),
            ),
            (
                "auscult_uploads_rejected",
                "Upload streams ended by an error.",
                get(&m.uploads_rejected),
            ),
            (
                "auscult_analyses_done",
                "Analyses stored.",
                get(&m.analyses_done),
            ),
            (
                "auscult_analyses_failed",
                "Failed analysis attempts.",
                get(&m.analyses_failed),
            ),
            (
                "auscult_webhooks_delivered",
                "Webhook deliveries the receiver took.",
                get(&m.webhooks_delivered),
            ),
            (
                "auscult_webhook_attempts_failed",
                "Failed webhook attempts.",
                get(&m.webhook_attempts_failed),
            ),
            (
                "auscult_webhooks_dead",
                "Webhook deliveries that became dead letters.",
                get(&m.webhooks_dead),
            ),
        ];
        // Prometheus buckets are cumulative, as they are counted.
        let buckets = BUCKETS_S
            .iter()
            .zip(&m.chunk_latency_buckets)
            .map(|(b, c)| (*b, get(c)))
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let sum_s = get(&m.chunk_latency_sum_us) as f64 / 1e6;
        Snapshot {
            counters,
            buckets,
            count: get(&m.chunk_latency_count),
            sum_s,
        }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, help, value) in &self.counters {
            let counter = ConstCounter::new(*value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let mut metric = encoder.encode_descriptor(
            "auscult_ingest_chunk_ack_seconds",
            "Time from receiving a chunk to acknowledging it.",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(
            self.sum_s,
            self.count,
            &self.histogram_buckets(),
            None,
        )
    }
}

impl Snapshot {
    /// Per-bucket (not cumulative) counts, as the encoder wants them, with the +Inf bucket.
    fn histogram_buckets(&self) -> Vec<(f64, u64)> {
        let mut previous = 0;
        let mut out: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let here = cumulative.saturating_sub(previous);
                previous = cumulative;
                (bound, here)
            })
            .collect();
        // prometheus-client writes the bucket bounded by f64::MAX as le="+Inf".
        out.push((f64::MAX, self.count.saturating_sub(previous)));
        out
    }
}

/// Longest a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one metrics connection may stay open, whatever it does.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `GET /metrics` over HTTP/1.1 (axum on hyper) until `shutdown` turns true. A client
/// that does not send its headers within 5 s, or holds a connection for 30 s, is disconnected.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(state);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((socket, _)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(socket), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection ended"),
                Err(_) => tracing::debug!("metrics connection timed out"),
            }
        });
    }
}

async fn scrape(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

//! Prometheus metrics: a handful of counters and a latency histogram, rendered in the text
//! exposition format. Holds no personal data: labels are fixed names, never ids.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

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

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "auscult_ingest_chunks_total",
                "Chunks accepted.",
                &self.chunks,
            ),
            (
                "auscult_ingest_bytes_total",
                "Payload bytes accepted.",
                &self.bytes,
            ),
            (
                "auscult_ingest_commits_total",
                "Parts durably committed.",
                &self.commits,
            ),
            (
                "auscult_uploads_completed_total",
                "Uploads completed.",
                &self.uploads_completed,
            ),
            (
                "auscult_uploads_rejected_total",
                "Upload streams ended by an error.",
                &self.uploads_rejected,
            ),
            (
                "auscult_analyses_done_total",
                "Analyses stored.",
                &self.analyses_done,
            ),
            (
                "auscult_analyses_failed_total",
                "Failed analysis attempts.",
                &self.analyses_failed,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "auscult_ingest_chunk_ack_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from receiving a chunk to acknowledging it.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.chunk_latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.chunk_latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.chunk_latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        out
    }
}

//! The capacity load run's path, small: 20 real-time devices for a few seconds against the real
//! server, then one bulk round against the real server and the discarding sink. Checks that
//! nothing was lost (every upload read back byte-identical) and that the latency and throughput
//! figures are produced; it asserts no speed (the measurement is `examples/load`).

#[path = "../examples/load/harness.rs"]
mod harness;

use std::time::Duration;

use firmware_sim::UploadMode;
use harness::{LoadConfig, bulk, realtime};

fn small() -> LoadConfig {
    LoadConfig {
        devices: 20,
        duration_s: 3.0,
        chunk_ms: 250,
        start_spread: Duration::from_millis(250),
        distinct_recordings: 3,
        server_workers: 1,
        server_threads: 2,
        flush_interval_ms: None,
        bulk_rounds: 1,
        bulk_devices: 3,
        bulk_uploads_per_device: 2,
        bulk_duration_s: 4.0,
        bulk_chunk_ms: 500,
        bulk_mode: UploadMode::WithAcks,
        ack_timeout: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_fleet_loses_nothing_and_reports_latency() {
    let cfg = small();
    let r = realtime(&cfg).await.expect("the real-time phase runs");
    let f = &r.fleet;
    assert!(f.failures.is_empty(), "failures: {:?}", f.failures);
    assert_eq!(f.uploads_completed, cfg.devices);
    assert_eq!(f.samples_committed, f.samples_total);
    assert_eq!(f.loss, 0.0);
    assert_eq!(
        r.verification.matched, cfg.devices,
        "read back: {:?}",
        r.verification
    );
    assert!(r.zero_loss(cfg.devices));
    // Every chunk of every device was acknowledged and timed: 3 s at 250 ms is 12 windows of
    // PCG and ECG each.
    assert_eq!(f.ack_latency.count as u64, f.chunks_sent);
    // Every chunk is reported durable by the end (the finish commits the rest), and never
    // before it was received.
    assert_eq!(f.commit_latency.count as u64, f.chunks_sent);
    assert!(f.commit_latency.p50_us >= f.ack_latency.p50_us);
    assert_eq!(f.chunks_sent, cfg.devices as u64 * 24);
    let l = f.ack_latency;
    assert!(l.p50_us > 0 && l.p50_us <= l.p99_us && l.p99_us <= l.max_us);
    assert!(f.peak_concurrent_uploads >= 1 && f.peak_concurrent_uploads <= cfg.devices);
    // Real-time pacing: no upload can finish before its recording would have ended (its last
    // chunk is due at the first chunk boundary at or after the end), and the report's lag is the
    // largest of the uploads' own lags, which stay bounded (a device that fell behind its clock
    // by more than the whole recording is not keeping up with real time).
    assert_eq!(f.completed.len(), cfg.devices);
    let lags: Vec<f64> = f
        .completed
        .iter()
        .map(|u| {
            let duration = u.recording.pcg_samples() as f64 / f64::from(u.recording.pcg_rate_hz);
            u.elapsed.as_secs_f64() - duration
        })
        .collect();
    let min_lag = lags.iter().copied().fold(f64::INFINITY, f64::min);
    let max_lag = lags.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(
        min_lag >= 0.0,
        "an upload finished {:.3} s before its recording ended: not paced in real time",
        -min_lag
    );
    assert_eq!(f.max_realtime_lag_s, max_lag, "lags {lags:?}");
    assert!(
        max_lag < cfg.duration_s,
        "the slowest device fell {max_lag:.3} s behind a {} s recording",
        cfg.duration_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_round_measures_server_and_sink() {
    let cfg = small();
    let b = bulk(&cfg).await.expect("the bulk phase runs");
    assert_eq!(b.runs.len(), 2);
    for run in &b.runs {
        assert_eq!(run.uploads_failed, 0, "{run:?}");
        assert_eq!(run.uploads_completed, 6, "{run:?}");
        assert!(run.megabytes_per_s > 0.0, "{run:?}");
        if run.target == "server" {
            let v = run.verified.as_ref().expect("server runs are read back");
            assert_eq!((v.matched, v.mismatched), (6, 0), "{v:?}");
        }
    }
    assert!(b.server_median_mb_s > 0.0 && b.sink_median_mb_s > 0.0);
    assert!(b.ratio.is_finite() && b.ratio > 0.0);
}

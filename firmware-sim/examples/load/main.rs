//! The capacity load run of issue #3 (see `firmware-sim/README.md` for the measured numbers):
//!
//! ```text
//! cargo run --release -p firmware-sim --example load -- --devices 2000 --duration 60
//! ```
//!
//! Bulk phase first (short), then the real-time phase. Real-time phase: N simulated stethoscopes stream PCG (4 kHz, 16-bit) + ECG (500 Hz) in
//! real time to the real server (in this process, own runtime, SQLite in a temp dir, over
//! 127.0.0.1), then every upload is read back and compared byte for byte. Bulk phase: the same
//! client code uploads as fast as possible to the real server and to a bare discarding tonic
//! service, alternating, and the MB/s of both are compared. Exits non-zero when the goal
//! (p99 < 200 ms, zero loss, bulk within 1.5x of the sink) is missed.

mod harness;

use std::time::Duration;

use clap::Parser;
use firmware_sim::UploadMode;
use firmware_sim::fleet::OPENING_CHUNKS;
use harness::{LoadConfig, bulk, load_average, realtime};

#[derive(Debug, Parser)]
#[command(name = "load", about = "auscult capacity load run")]
struct Args {
    /// Real-time devices streaming at once.
    #[arg(long, default_value_t = 2000)]
    devices: usize,
    /// Seconds each real-time device records.
    #[arg(long, default_value_t = 90.0)]
    duration: f64,
    /// Milliseconds of signal per real-time chunk.
    #[arg(long, default_value_t = 250)]
    chunk_ms: u64,
    /// Devices start uniformly over this many seconds.
    #[arg(long, default_value_t = 30.0)]
    start_spread: f64,
    /// Distinct synthetic recordings shared by the devices.
    #[arg(long, default_value_t = 12)]
    distinct: usize,
    /// Server analysis workers (0: one per core, the default).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Tokio threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// The server's flush interval, ms (default: the server's own default).
    #[arg(long)]
    flush_interval_ms: Option<u64>,
    /// Skip the real-time phase.
    #[arg(long)]
    no_realtime: bool,
    /// Skip the bulk phase.
    #[arg(long)]
    no_bulk: bool,
    /// Bulk rounds (sink and real server each once per round).
    #[arg(long, default_value_t = 3)]
    bulk_rounds: usize,
    /// Concurrent bulk uploaders.
    #[arg(long, default_value_t = 16)]
    bulk_devices: usize,
    /// Uploads per bulk uploader per round.
    #[arg(long, default_value_t = 4)]
    bulk_uploads: usize,
    /// Seconds per bulk recording.
    #[arg(long, default_value_t = 30.0)]
    bulk_duration: f64,
    /// Milliseconds of signal per bulk chunk.
    #[arg(long, default_value_t = 250)]
    bulk_chunk_ms: u64,
    /// Bulk through the client-streaming `Upload` RPC instead of `UploadWithAcks`.
    #[arg(long)]
    bulk_client_stream: bool,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = LoadConfig {
        devices: a.devices,
        duration_s: a.duration,
        chunk_ms: a.chunk_ms,
        start_spread: Duration::from_secs_f64(a.start_spread.max(0.0)),
        distinct_recordings: a.distinct,
        server_workers: a.workers,
        server_threads: a.server_threads,
        flush_interval_ms: a.flush_interval_ms,
        bulk_rounds: a.bulk_rounds,
        bulk_devices: a.bulk_devices,
        bulk_uploads_per_device: a.bulk_uploads,
        bulk_duration_s: a.bulk_duration,
        bulk_chunk_ms: a.bulk_chunk_ms,
        bulk_mode: if a.bulk_client_stream {
            UploadMode::ClientStream
        } else {
            UploadMode::WithAcks
        },
        ..LoadConfig::default()
    };
    // The simulated devices get two threads, as does the server's own runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("devices")
        .enable_all()
        .build()?;
    runtime.block_on(run(&cfg, &a))
}

async fn run(cfg: &LoadConfig, a: &Args) -> anyhow::Result<()> {
    println!(
        "load run: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut ok = true;
    let mut json = serde_json::Map::new();
    if !a.no_bulk {
        let b = bulk(cfg).await?;
        println!(
            "bulk: {} uploaders x {} uploads x {:.0} s ({} ms chunks, {:?}), {} rounds",
            cfg.bulk_devices,
            cfg.bulk_uploads_per_device,
            cfg.bulk_duration_s,
            cfg.bulk_chunk_ms,
            cfg.bulk_mode,
            cfg.bulk_rounds
        );
        for run in &b.runs {
            let verified = run.verified.as_ref().map_or(String::new(), |v| {
                format!(
                    ", read back {} identical / {} differ",
                    v.matched, v.mismatched
                )
            });
            println!(
                "  round {} {:6}: {:8.2} MB/s, {} complete, {} failed, ack p99 {:.2} ms{verified} (load {})",
                run.round,
                run.target,
                run.megabytes_per_s,
                run.uploads_completed,
                run.uploads_failed,
                ms(run.ack_latency.p99_us),
                run.load_before
            );
            ok &= run.uploads_failed == 0
                && run
                    .verified
                    .as_ref()
                    .is_none_or(|v| v.mismatched == 0 && v.matched == run.uploads_completed);
        }
        println!(
            "  median: server {:.2} MB/s, bare sink {:.2} MB/s, sink/server = {:.2}",
            b.server_median_mb_s, b.sink_median_mb_s, b.ratio
        );
        ok &= b.ratio <= 1.5;
        json.insert("bulk".into(), serde_json::to_value(&b)?);
    }
    if !a.no_realtime {
        let r = realtime(cfg).await?;
        let f = &r.fleet;
        let l = &f.ack_latency;
        let zero_loss = r.zero_loss(cfg.devices);
        println!(
            "real-time: {} devices x {:.0} s ({} ms chunks, PCG 4 kHz s16 + ECG 500 Hz), peak {} streams at once",
            cfg.devices, cfg.duration_s, cfg.chunk_ms, f.peak_concurrent_uploads
        );
        println!(
            "  {} complete, {} failed, {} resumes; {} chunks acked: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            f.uploads_completed,
            f.uploads_failed,
            f.resumes,
            l.count,
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.max_us)
        );
        for (what, l) in [
            (
                format!("each upload's first {OPENING_CHUNKS} chunks"),
                &f.opening_ack_latency,
            ),
            ("later chunks".to_owned(), &f.steady_ack_latency),
        ] {
            println!(
                "    {what} ({}): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                l.count,
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.max_us)
            );
        }
        let c = &f.commit_latency;
        println!(
            "  durably committed (sent → an ack's committed count covers it): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(c.p50_us),
            ms(c.p90_us),
            ms(c.p99_us),
            ms(c.max_us)
        );
        println!(
            "  slowest device finished {:.2} s after its recording ended; {:.2} MB/s of signal in",
            f.max_realtime_lag_s, f.megabytes_per_s
        );
        println!(
            "  read back: {} byte-identical, {} differ; zero loss: {zero_loss}",
            r.verification.matched, r.verification.mismatched
        );
        for p in f.failures.iter().chain(&r.verification.problems) {
            println!("  problem: {p}");
        }
        println!(
            "  load average before {}, after {}",
            r.load_before, r.load_after
        );
        ok &= zero_loss && l.count > 0 && l.p99_us < 200_000;
        json.insert("realtime".into(), serde_json::to_value(&r)?);
    }
    println!("load average at the end {}", load_average());
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    if !ok {
        anyhow::bail!("the capacity goal was not met in this run (see above)");
    }
    Ok(())
}

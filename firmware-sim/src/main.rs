//! `firmware-sim`: a simulated stethoscope that streams recordings to an auscult server.
//! Arguments are parsed here and handed to the library; nothing else lives in this file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use auscult_proto::v1::{AuscultationSite, BodyPosition};
use auscult_synth::Scenario;
use clap::{Args, Parser, Subcommand, ValueEnum};
use firmware_sim::{
    Connection, DeviceIdentity, DeviceRecording, EcgChoice, FleetDevice, FleetReport,
    LatencySummary, Pacing, PcgFormat, SimulatedDrops, UploadMode, UploadOptions, follow_session,
    run_fleet, upload_status,
};

#[derive(Debug, Parser)]
#[command(
    name = "firmware-sim",
    version,
    about = "A simulated digital stethoscope streaming to auscult over gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record a synthetic scenario and upload it (one device, or a fleet with --devices).
    Record(RecordArgs),
    /// Replay real recordings (.wav, or WFDB .hea with its ECG) as a device would.
    Replay(ReplayArgs),
    /// Ask the server what it has committed for an upload.
    Status(StatusArgs),
    /// Stream a scripted vital-sign scenario (real time or accelerated), with its ground truth.
    Vitals(firmware_sim::vitals::VitalsArgs),
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// The server's gRPC URL.
    #[arg(long, env = "AUSCULT_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The device's bearer token.
    #[arg(long, env = "AUSCULT_DEVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file of device tokens, one per line (fleet devices take them in turn).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl ServerArgs {
    fn tokens(&self) -> anyhow::Result<Vec<String>> {
        let mut tokens = Vec::new();
        if let Some(t) = &self.token {
            tokens.push(t.clone());
        }
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
        if tokens.is_empty() {
            bail!("a device token is needed: --token, --token-file or AUSCULT_DEVICE_TOKEN");
        }
        Ok(tokens)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EcgArg {
    Samples,
    Rpeaks,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// UploadWithAcks (per-chunk acknowledgements, latency measured).
    Acks,
    /// Upload (client streaming).
    Stream,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    S16,
    F32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SiteArg {
    Aortic,
    Pulmonic,
    Tricuspid,
    Mitral,
}

#[derive(Debug, Args)]
struct StreamArgs {
    /// Send each chunk when it would have been recorded.
    #[arg(long, conflicts_with = "fast")]
    realtime: bool,
    /// Send as fast as the server takes it (the default).
    #[arg(long)]
    fast: bool,
    /// Milliseconds of signal per chunk.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    chunk_ms: u64,
    /// Which RPC to use.
    #[arg(long, value_enum, default_value_t = ModeArg::Acks)]
    mode: ModeArg,
    /// Most unacknowledged chunks in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    window: u64,
    /// Most attempts per upload (first try plus resumes).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
    /// Cut the stream deliberately in this many first attempts (to exercise resumption).
    #[arg(long, default_value_t = 0)]
    simulate_drops: u32,
    /// ...after this many chunks of the attempt.
    #[arg(long, default_value_t = 20)]
    drop_after_chunks: u32,
    /// PCG sample packing. Default: s16 for synthetic recordings (as a device's ADC would); for
    /// replayed files, whichever sends the file's samples unchanged (s16 for a 16-bit WAV, f32
    /// otherwise, e.g. a WFDB record in physical units).
    #[arg(long, value_enum)]
    pcg_format: Option<FormatArg>,
    /// Auscultation site.
    #[arg(long, value_enum, default_value_t = SiteArg::Mitral)]
    site: SiteArg,
    /// Pseudonymous subject id.
    #[arg(long, default_value = "subject-0001")]
    subject: String,
    /// Device serial.
    #[arg(long, default_value = "sim-0001")]
    serial: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A live session (remote auscultation): clinicians can listen in the web console while it
    /// streams and send instructions back, which are printed. Use with --realtime and acks mode.
    #[arg(long)]
    live: bool,
    /// Act on clinicians' instructions: "next site" ends this site's recording and starts the
    /// next site's as a new live upload (of the same recording). Implies --live.
    #[arg(long)]
    follow_instructions: bool,
}

/// Most sites one live session moves through when following instructions.
const MAX_SITES: usize = 8;

#[derive(Debug, Args)]
struct RecordArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    stream: StreamArgs,
    /// The clinical scenario: normal, as, mr, ar, ms, mvp, s3, s4, af, ectopics, tachycardia, noisy.
    #[arg(long, default_value = "normal")]
    scenario: Scenario,
    /// Seed of the synthetic recording.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seconds to record.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// PCG sample rate, Hz.
    #[arg(long, default_value_t = 4000)]
    pcg_rate: u32,
    /// How the ECG is sent.
    #[arg(long, value_enum, default_value_t = EcgArg::Samples)]
    ecg: EcgArg,
    /// ECG sample rate, Hz.
    #[arg(long, default_value_t = 500)]
    ecg_rate: u32,
    /// Upload id (default: a new UUID). Reuse one to retry or resume an upload.
    #[arg(long)]
    upload_id: Option<String>,
    /// Run a fleet of this many devices at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    devices: u64,
    /// Uploads per device in fleet mode.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    uploads_per_device: u64,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    stream: StreamArgs,
    /// Files to replay, one upload each.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The WAV channel (zero-based) that holds an ECG, if any; channel 0 is the PCG.
    #[arg(long)]
    wav_ecg_channel: Option<usize>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The upload id.
    #[arg(long)]
    upload_id: String,
}

fn options(s: &StreamArgs, upload_id: Option<String>) -> UploadOptions {
    UploadOptions {
        // A named upload may have been started before: ask where it stands first.
        status_first: upload_id.is_some(),
        upload_id: upload_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        identity: DeviceIdentity {
            serial: s.serial.clone(),
            subject_id: s.subject.clone(),
            site: match s.site {
                SiteArg::Aortic => AuscultationSite::Aortic,
                SiteArg::Pulmonic => AuscultationSite::Pulmonic,
                SiteArg::Tricuspid => AuscultationSite::Tricuspid,
                SiteArg::Mitral => AuscultationSite::Mitral,
            },
            position: BodyPosition::Supine,
        },
        chunk_s: s.chunk_ms as f64 / 1000.0,
        pacing: if s.realtime {
            Pacing::Realtime
        } else {
            Pacing::Fast
        },
        mode: match s.mode {
            ModeArg::Acks => UploadMode::WithAcks,
            ModeArg::Stream => UploadMode::ClientStream,
        },
        window: s.window as usize,
        max_attempts: s.max_attempts,
        live: s.live || s.follow_instructions,
        follow_instructions: s.follow_instructions,
        drops: SimulatedDrops {
            attempts: s.simulate_drops,
            after_chunks: s.drop_after_chunks,
        },
        ..UploadOptions::default()
    }
}

/// The packing for `rec`: the one asked for, else S16 for synthetic recordings and the lossless
/// one for replayed files. Warns when an explicit S16 would clip a replayed file.
fn pcg_format(s: &StreamArgs, rec: &DeviceRecording, replayed: bool) -> PcgFormat {
    match s.pcg_format {
        Some(FormatArg::S16) => {
            let clipped = rec.samples_clipped_by_s16();
            if replayed && clipped > 0 {
                eprintln!(
                    "{}: warning: --pcg-format s16 clips {clipped} of {} samples (the file's \
                     values exceed full scale); leave --pcg-format out to send them unchanged",
                    rec.label,
                    rec.pcg.len()
                );
            }
            PcgFormat::S16
        }
        Some(FormatArg::F32) => PcgFormat::F32,
        None if replayed => rec.lossless_pcg_format(),
        None => PcgFormat::S16,
    }
}

fn print_latency(l: &LatencySummary) {
    if l.count > 0 {
        println!(
            "  ack latency: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
            l.count,
            l.p50_us as f64 / 1000.0,
            l.p90_us as f64 / 1000.0,
            l.p99_us as f64 / 1000.0,
            l.max_us as f64 / 1000.0
        );
    }
}

fn print_fleet(r: &FleetReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "fleet: {} devices, {} uploads complete, {} failed, {} resumes, {} chunks, {:.1} MB sent in {:.2} s",
        r.devices,
        r.uploads_completed,
        r.uploads_failed,
        r.resumes,
        r.chunks_sent,
        r.bytes_sent as f64 / 1e6,
        r.elapsed_s
    );
    println!(
        "  samples committed {}/{} (loss {:.4} %), {:.0} samples/s",
        r.samples_committed,
        r.samples_total,
        100.0 * r.loss,
        r.samples_per_s
    );
    print_latency(&r.ack_latency);
    for f in &r.failures {
        println!("  failure: {f}");
    }
    Ok(())
}

async fn upload_one(
    url: &str,
    token: &str,
    rec: DeviceRecording,
    s: &StreamArgs,
    upload_id: Option<String>,
    replayed: bool,
) -> anyhow::Result<()> {
    let conn = Connection::new(url, token)?;
    let opts = options(s, upload_id);
    let encoded = Arc::new(rec.encode(pcg_format(s, &rec, replayed)));
    let label = encoded.label.clone();
    let mut printed = Ok(());
    follow_session(
        &conn,
        encoded,
        &opts,
        MAX_SITES,
        &mut |i: &firmware_sim::ReceivedInstruction| println!("{label}: {i}"),
        &mut |report: &firmware_sim::UploadReport| {
            if printed.is_ok() {
                printed = print_report(s, report);
            }
            if let Some(site) = &report.moved_to {
                println!("{label}: moving to the {site} site");
            }
        },
    )
    .await?;
    printed?;
    Ok(())
}

fn print_report(s: &StreamArgs, report: &firmware_sim::UploadReport) -> anyhow::Result<()> {
    if s.json {
        let mut v = serde_json::to_value(report)?;
        v["ack_latency"] = serde_json::to_value(LatencySummary::of(&report.ack_latencies))?;
        v["elapsed_s"] = report.elapsed.as_secs_f64().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: upload {} complete{} as case {} after {} attempt(s), {} chunks, {:.2} s",
            report.label,
            report.upload_id,
            if report.duplicate {
                " (already done)"
            } else {
                ""
            },
            report.case_id,
            report.attempts,
            report.chunks_sent,
            report.elapsed.as_secs_f64()
        );
        for r in &report.resumed_from {
            println!(
                "  resumed from pcg={} ecg={} r_peaks={}",
                r.pcg, r.ecg, r.r_peaks
            );
        }
        print_latency(&LatencySummary::of(&report.ack_latencies));
    }
    Ok(())
}

async fn record(a: RecordArgs) -> anyhow::Result<()> {
    let tokens = a.server.tokens()?;
    let ecg = match a.ecg {
        EcgArg::Samples => EcgChoice::Samples,
        EcgArg::Rpeaks => EcgChoice::RPeaks,
        EcgArg::None => EcgChoice::None,
    };
    let make = |seed: u64| -> anyhow::Result<DeviceRecording> {
        let cfg = auscult_synth::SynthConfig {
            pcg_rate_hz: f64::from(a.pcg_rate),
            ecg_rate_hz: f64::from(a.ecg_rate),
            ..a.scenario.config(seed, a.duration)
        };
        let rec = auscult_synth::generate(&cfg)?;
        Ok(DeviceRecording::from_synth(
            format!("{}#{seed}", a.scenario),
            &rec,
            ecg,
        )?)
    };
    if a.devices == 1 && a.uploads_per_device == 1 {
        return upload_one(
            &a.server.server,
            &tokens[0],
            make(a.seed)?,
            &a.stream,
            a.upload_id,
            false,
        )
        .await;
    }
    if a.upload_id.is_some() {
        bail!("--upload-id names one upload; it cannot be used with a fleet");
    }
    let mut devices = Vec::new();
    for d in 0..a.devices {
        let mut recordings = Vec::new();
        for u in 0..a.uploads_per_device {
            let seed = a.seed + d * a.uploads_per_device + u;
            let rec = make(seed)?;
            recordings.push(Arc::new(rec.encode(pcg_format(&a.stream, &rec, false))));
        }
        devices.push(FleetDevice {
            token: tokens[(d as usize) % tokens.len()].clone(),
            serial: format!("{}-{d:05}", a.stream.serial),
            recordings,
        });
    }
    let report = run_fleet(&a.server.server, devices, &options(&a.stream, None)).await;
    print_fleet(&report, a.stream.json)?;
    if report.uploads_failed > 0 {
        bail!("{} upload(s) failed", report.uploads_failed);
    }
    Ok(())
}

async fn replay(a: ReplayArgs) -> anyhow::Result<()> {
    let tokens = a.server.tokens()?;
    let mut failed = 0;
    for file in &a.files {
        let result = match DeviceRecording::from_file(file, a.wav_ecg_channel) {
            Ok(rec) => upload_one(&a.server.server, &tokens[0], rec, &a.stream, None, true).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            failed += 1;
            eprintln!("{}: {e:#}", file.display());
        }
    }
    if failed > 0 {
        bail!("{failed} of {} replays failed", a.files.len());
    }
    Ok(())
}

async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let tokens = a.server.tokens()?;
    let conn = Connection::new(&a.server.server, &tokens[0])?;
    let (state, committed, case_id) =
        upload_status(&conn, &a.upload_id, Duration::from_secs(10)).await?;
    println!(
        "{}: {state:?}, committed pcg={} ecg={} r_peaks={}{}",
        a.upload_id,
        committed.pcg,
        committed.ecg,
        committed.r_peaks,
        if case_id.is_empty() {
            String::new()
        } else {
            format!(", case {case_id}")
        }
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Record(a) => record(a).await,
        Command::Replay(a) => replay(a).await,
        Command::Status(a) => status(a).await,
        Command::Vitals(a) => firmware_sim::vitals::run_cli(a).await,
    }
}

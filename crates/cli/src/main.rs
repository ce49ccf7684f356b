//! `auscult`: analyse heart-sound recordings, plot them, and score the analysis on the public
//! datasets. A thin binary: arguments are parsed once into typed options here, the work lives
//! in `auscult-recording` (files) and `auscult-dsp` (the engine).
//!
//! Exit status: 0 when the command ran (a recording that cannot be read or analysed is reported
//! as an `{"file", "error"}` line and does not change the status); 1 when the command itself
//! failed (output not writable, ECG file unreadable, no recordings found, scorer failed); 2 for
//! usage errors.

mod batch;
mod denoise;
mod errors;
mod eval;
mod inputs;
mod ops;
mod plot;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auscult_recording::WavChannels;
use clap::{Parser, Subcommand, ValueEnum};

/// Heart-sound (PCG) and ECG analysis.
#[derive(Debug, Parser)]
#[command(name = "auscult", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse recordings: one JSON line (or a text summary) per recording, in input order.
    #[command(
        after_help = "Exit status: 0 when every input got a line (unreadable recordings get \
        {\"file\", \"error\"} lines), 1 when the output or --ecg cannot be used or no recording \
        was found, 2 for usage errors."
    )]
    Analyze(AnalyzeArgs),
    /// Plot a recording: PCG with S1/S2 shaded, ECG beneath, murmur marked, ensemble cycle beside.
    Plot(PlotArgs),
    /// Write the recording with what is not locked to the heartbeat removed (same rate, length
    /// and level), to listen to beside the original.
    Denoise(DenoiseArgs),
    /// Score the analysis on the datasets in --data with shared/eval/score.py.
    Eval(eval::EvalArgs),
    /// Run the server (zero configuration: SQLite and files under ./auscult-data).
    Serve(Box<auscult_server::serve::ServeArgs>),
    /// The operators' commands, which talk to a running server over gRPC.
    #[command(flatten)]
    Ops(ops::Command),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// JSON Lines, the result contract.
    Json,
    /// A readable summary.
    Text,
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Recordings (.wav, WFDB .hea) and directories (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write results here instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// ECG for a single recording: a WAV, a WFDB .hea, or a CSV of R-peak times in seconds.
    #[arg(long)]
    ecg: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    /// Worker threads (default: every core).
    #[arg(short, long)]
    jobs: Option<usize>,
    #[command(flatten)]
    channels: ChannelArgs,
}

/// Channel layout of multi-channel WAV files.
#[derive(Debug, Clone, Copy, clap::Args)]
struct ChannelArgs {
    /// Zero-based WAV channel holding the PCG.
    #[arg(long, default_value_t = 0)]
    pcg_channel: usize,
    /// Zero-based WAV channel holding the ECG, if any.
    #[arg(long)]
    ecg_channel: Option<usize>,
}

impl From<ChannelArgs> for WavChannels {
    fn from(c: ChannelArgs) -> Self {
        WavChannels {
            pcg: c.pcg_channel,
            ecg: c.ecg_channel,
        }
    }
}

#[derive(Debug, clap::Args)]
struct PlotArgs {
    /// The recording (.wav or WFDB .hea).
    recording: PathBuf,
    /// Output image: .svg or .png.
    #[arg(short, long)]
    output: PathBuf,
    /// ECG to attach: WAV, WFDB .hea or R-peak CSV.
    #[arg(long)]
    ecg: Option<PathBuf>,
    /// Plot only this many seconds from the start (default: up to 10 s).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[command(flatten)]
    channels: ChannelArgs,
}

#[derive(Debug, clap::Args)]
struct DenoiseArgs {
    /// The recording (.wav or WFDB .hea; a .hea brings its ECG).
    recording: PathBuf,
    /// The cleaned recording to write (.wav).
    #[arg(short, long)]
    output: PathBuf,
    /// ECG to attach: WAV, WFDB .hea or R-peak CSV.
    #[arg(long)]
    ecg: Option<PathBuf>,
    /// Sample format of the output.
    #[arg(long, value_enum, default_value_t = denoise::WavFormat::Float)]
    format: denoise::WavFormat,
    #[command(flatten)]
    channels: ChannelArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => run_analyze(args),
        Command::Plot(args) => plot::run(
            &args.recording,
            &args.output,
            args.ecg.as_deref(),
            args.channels.into(),
            args.seconds,
        ),
        Command::Denoise(args) => denoise::run(&denoise::DenoiseRequest {
            recording: &args.recording,
            output: &args.output,
            ecg: args.ecg.as_deref(),
            channels: args.channels.into(),
            format: args.format,
        }),
        Command::Eval(args) => eval::run(&args),
        Command::Serve(args) => serve(&args),
        Command::Ops(command) => ops::run_blocking(command).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("auscult: {}", errors::chain_once(&e));
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &auscult_server::serve::ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(auscult_server::serve::serve(args))?;
    Ok(ExitCode::SUCCESS)
}

fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let inputs = inputs::expand(&args.paths);
    if inputs.is_empty() {
        anyhow::bail!("no .wav or .hea recordings found in the given directories");
    }
    if args.ecg.is_some() && inputs.len() != 1 {
        eprintln!(
            "auscult: --ecg attaches to a single recording, but {} were given",
            inputs.len()
        );
        return Ok(ExitCode::from(2));
    }
    if args.jobs == Some(0) {
        eprintln!("auscult: --jobs must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let opts = batch::BatchOptions {
        ecg: args.ecg.clone(),
        channels: args.channels.into(),
        jobs: args.jobs,
        progress: true,
    };
    let format = args.format;
    let summary = batch::run_batch(&inputs, &opts, |o| {
        match format {
            OutputFormat::Json => writeln!(out, "{}", o.to_json()),
            OutputFormat::Text => write!(out, "{}", o.to_text()),
        }
        .context("cannot write results")?;
        // Lines go out as they are ready, so a long batch can be watched.
        out.flush().context("cannot write results")
    })?;
    out.flush().context("cannot write results")?;
    if summary.failed > 0 {
        eprintln!(
            "auscult: {} of {} recording(s) could not be analysed (see their \"error\" lines)",
            summary.failed,
            summary.failed + summary.analysed
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `auscult denoise`: the recording with what is not locked to the heartbeat removed, as a WAV
//! a clinician can listen to beside the original.
//!
//! The recording (and its ECG, from `--ecg` or its `.hea`) is read exactly as `analyze` reads
//! it, the engine's analysis gives the cycles, `auscult_dsp::denoise` cleans the PCG, and the
//! result is written at the input's rate and length. This module only moves samples between
//! files and the engine: it must never hold signal processing of its own.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use auscult_dsp::{DenoiseMethod, Denoiser, FallbackReason};
use auscult_recording::{WavChannels, read_ecg};

use crate::batch::{analyse, load};

/// The sample format of the written WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WavFormat {
    /// 32-bit float: the input's scale exactly, whatever it is.
    Float,
    /// 16-bit PCM, full scale ±1 (louder samples are clipped, and counted).
    Pcm16,
}

/// What `auscult denoise` was asked to do.
#[derive(Debug, Clone)]
pub struct DenoiseRequest<'a> {
    /// The recording (.wav or WFDB .hea).
    pub recording: &'a Path,
    /// Where to write the cleaned WAV.
    pub output: &'a Path,
    /// An ECG to attach (WAV, WFDB .hea or R-peak CSV).
    pub ecg: Option<&'a Path>,
    /// Channel layout of a WAV recording.
    pub channels: WavChannels,
    /// Sample format of the output.
    pub format: WavFormat,
}

/// Runs `auscult denoise`.
pub fn run(req: &DenoiseRequest<'_>) -> anyhow::Result<ExitCode> {
    if req
        .output
        .extension()
        .is_none_or(|e| !e.eq_ignore_ascii_case("wav"))
    {
        bail!("the output must end in .wav");
    }
    let ecg = req
        .ecg
        .map(|p| read_ecg(p).with_context(|| format!("cannot read ECG {}", p.display())))
        .transpose()?;
    let rec = load(req.recording, req.channels, ecg.as_ref())
        .with_context(|| format!("cannot read {}", req.recording.display()))?;
    let analysis = analyse(&mut auscult_dsp::Analyzer::new(), &rec)?;
    let cleaned = Denoiser::default()
        .denoise_analysis(rec.pcg.as_signal(), &analysis)
        .context("cannot denoise the recording")?;
    let rate = cleaned.rate.0.round();
    if !(rate >= 1.0 && rate <= f64::from(u32::MAX)) {
        bail!("cannot write a WAV at {} Hz", cleaned.rate.0);
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate as u32,
        bits_per_sample: match req.format {
            WavFormat::Float => 32,
            WavFormat::Pcm16 => 16,
        },
        sample_format: match req.format {
            WavFormat::Float => hound::SampleFormat::Float,
            WavFormat::Pcm16 => hound::SampleFormat::Int,
        },
    };
    let cannot_write = || format!("cannot write {}", req.output.display());
    let mut writer = hound::WavWriter::create(req.output, spec).with_context(cannot_write)?;
    let mut clipped = 0usize;
    for &v in &cleaned.samples {
        match req.format {
            WavFormat::Float => writer.write_sample(v),
            WavFormat::Pcm16 => {
                if v.abs() > 1.0 {
                    clipped += 1;
                }
                writer.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            }
        }
        .with_context(cannot_write)?;
    }
    writer.finalize().with_context(cannot_write)?;
    let how = match cleaned.method {
        DenoiseMethod::CycleLocked {
            cycles,
            locked_fraction,
        } => format!(
            "locked to {cycles} cycles{} ({:.0} % of the recording)",
            match (analysis.ecg_used, analysis.ecg_set_aside) {
                (true, _) => " (ECG-gated)".to_owned(),
                (false, Some(why)) =>
                    format!(" from the sound alone (ECG set aside: {})", why.describe()),
                (false, None) => String::new(),
            },
            100.0 * locked_fraction
        ),
        DenoiseMethod::Stationary { reason } => format!(
            "stationary-noise gating only: {}",
            match reason {
                FallbackReason::NoCycles => "no heart cycles were found".to_owned(),
                FallbackReason::TooFewCycles { usable } =>
                    format!("only {usable} usable heart cycle(s) were found"),
            }
        ),
    };
    eprintln!(
        "auscult: wrote {}: {} Hz, {} samples, {how}, {:.1} dB removed",
        req.output.display(),
        cleaned.rate.0,
        cleaned.samples.len(),
        cleaned.removed_db
    );
    if clipped > 0 {
        eprintln!(
            "auscult: {clipped} sample(s) beyond full scale were clipped in the 16-bit output \
             (use --format float to keep them)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

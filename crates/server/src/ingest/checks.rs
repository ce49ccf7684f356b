//! The checks of what a device sends: an upload's metadata and each chunk against the upload's
//! rules. Pure: no I/O, no state; any message gives a value or an error with the status a device
//! can act on, never a panic (`tests/decode_props.rs`).

use auscult_dsp::Term;
use auscult_proto::v1 as pb;
use auscult_store::StoreError;
use auscult_store::recordings::{Counts, EcgMode, NewRecording, SampleFormat, StreamKind};

use crate::convert;
use crate::error::{Result, ServerError};

const MAX_ID_LEN: usize = 128;

pub(super) fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Checks an upload's metadata message and turns it into what the store keeps; `now_ms` bounds
/// the start time (a day of clock skew is tolerated). Pure: any message gives a recording or an
/// INVALID_ARGUMENT naming the field at fault, never a panic (`tests/decode_props.rs`).
pub fn validate_metadata(m: &pb::UploadMetadata, now_ms: i64) -> Result<NewRecording> {
    let invalid = |msg: &str| ServerError::InvalidArgument(msg.to_owned());
    if !valid_id(&m.upload_id) {
        return Err(invalid(
            "upload_id must be 1-128 characters of [A-Za-z0-9-_.:]",
        ));
    }
    if !valid_id(&m.subject_id) {
        return Err(invalid(
            "subject_id must be 1-128 characters of [A-Za-z0-9-_.:]",
        ));
    }
    if m.device_serial.len() > MAX_ID_LEN || m.device_serial.chars().any(char::is_control) {
        return Err(invalid(
            "device_serial must be at most 128 printable characters",
        ));
    }
    let site = convert::site_name(m.site).ok_or_else(|| invalid("site must be specified"))?;
    let position = convert::position_name(m.position).ok_or_else(|| invalid("unknown position"))?;
    let started = m
        .started_at
        .as_ref()
        .ok_or_else(|| invalid("started_at is required"))?;
    let started_at_ms = convert::millis(started);
    // 2000-01-01 to a day after now: anything else is a broken device clock.
    if !(946_684_800_000..=now_ms.saturating_add(86_400_000)).contains(&started_at_ms)
        || !(0..1_000_000_000).contains(&started.nanos)
    {
        return Err(invalid("started_at is not a plausible time"));
    }
    if !(1000..=48_000).contains(&m.pcg_rate_hz) {
        return Err(invalid("pcg_rate_hz must be between 1000 and 48000"));
    }
    let pcg_format = convert::sample_format(m.pcg_format)
        .ok_or_else(|| invalid("pcg_format must be specified"))?;
    let ecg_mode = pb::EcgMode::try_from(m.ecg_mode).map_err(|_| invalid("unknown ecg_mode"))?;
    let (ecg_mode, ecg_rate_hz, ecg_format) = match ecg_mode {
        pb::EcgMode::Unspecified | pb::EcgMode::None | pb::EcgMode::RPeaks => {
            if m.ecg_rate_hz != 0 || m.ecg_format != 0 {
                return Err(invalid(
                    "ecg_rate_hz and ecg_format are only for ECG_MODE_SAMPLES",
                ));
            }
            let mode = if ecg_mode == pb::EcgMode::RPeaks {
                EcgMode::RPeaks
            } else {
                EcgMode::None
            };
            (mode, 0, None)
        }
        pb::EcgMode::Samples => {
            if !(100..=48_000).contains(&m.ecg_rate_hz) {
                return Err(invalid("ecg_rate_hz must be between 100 and 48000"));
            }
            let f = convert::sample_format(m.ecg_format)
                .ok_or_else(|| invalid("ecg_format must be specified"))?;
            (EcgMode::Samples, m.ecg_rate_hz, Some(f))
        }
    };
    let payload_sha256 = match m.payload_sha256.len() {
        0 => None,
        32 => Some(m.payload_sha256.clone()),
        _ => return Err(invalid("payload_sha256 must be 32 bytes or empty")),
    };
    Ok(NewRecording {
        upload_id: m.upload_id.clone(),
        device_serial: m.device_serial.clone(),
        subject_id: m.subject_id.clone(),
        site: site.to_owned(),
        position: position.to_owned(),
        started_at_ms,
        pcg_rate_hz: m.pcg_rate_hz,
        pcg_format: pcg_format.as_str().to_owned(),
        ecg_mode: ecg_mode.as_str().to_owned(),
        ecg_rate_hz,
        ecg_format: ecg_format.map_or("", SampleFormat::as_str).to_owned(),
        payload_sha256,
    })
}

fn stream_kind(stream: i32) -> Option<StreamKind> {
    match pb::SignalStream::try_from(stream).ok()? {
        pb::SignalStream::Pcg => Some(StreamKind::Pcg),
        pb::SignalStream::Ecg => Some(StreamKind::Ecg),
        pb::SignalStream::RPeaks => Some(StreamKind::RPeaks),
        pb::SignalStream::Unspecified => None,
    }
}

/// What every chunk of one upload must satisfy: the declared sample formats and ECG mode, and how
/// many values each stream may hold in all (the longest recording accepted at the declared
/// rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRules {
    /// PCG sample format.
    pub pcg_format: SampleFormat,
    /// What the ECG stream carries.
    pub ecg: EcgMode,
    /// ECG sample format; set exactly when `ecg` is [`EcgMode::Samples`].
    pub ecg_format: Option<SampleFormat>,
    /// Longest recording accepted, seconds (R-peak times must lie within it).
    pub max_recording_seconds: u32,
    /// Most values per stream.
    pub limits: Counts,
}

impl ChunkRules {
    /// The rules of an upload with metadata `meta` on a server accepting recordings of up to
    /// `max_recording_seconds`.
    pub fn of(meta: &NewRecording, max_recording_seconds: u32) -> Result<ChunkRules> {
        let secs = u64::from(max_recording_seconds);
        let limits = Counts {
            pcg: u64::from(meta.pcg_rate_hz).saturating_mul(secs),
            ecg: u64::from(meta.ecg_rate_hz).saturating_mul(secs),
            // A heart beats at most ~5 times a second.
            r_peaks: 5 * secs,
        };
        let ecg = meta.ecg()?;
        let ecg_format = meta.ecg_sample_format()?;
        if (ecg == EcgMode::Samples) != ecg_format.is_some() {
            return Err(StoreError::Corrupt(
                "ECG format without ECG samples, or the reverse".into(),
            )
            .into());
        }
        Ok(ChunkRules {
            pcg_format: meta.pcg_sample_format()?,
            ecg,
            ecg_format,
            max_recording_seconds,
            limits,
        })
    }
}

/// A chunk that passed [`check_chunk`]: the stream it extends, by how many values, the bytes to
/// store, and the stream's last R-peak time after it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedChunk {
    /// The stream it extends.
    pub stream: StreamKind,
    /// Values (samples or R-peak times) it adds.
    pub count: u64,
    /// What is stored: the sample bytes as sent, or the R-peak times as `f64` little-endian.
    pub bytes: Vec<u8>,
    /// The last R-peak time received, after this chunk.
    pub last_r_peak: Option<f64>,
}

/// Checks one upload chunk against the upload's rules, the values each stream has `received` so
/// far and the last R-peak time received. Pure: any chunk gives a [`CheckedChunk`] or an error
/// with a status a device can act on (INVALID_ARGUMENT for a malformed chunk, OUT_OF_RANGE for a
/// gap or overlap, RESOURCE_EXHAUSTED past the longest recording), never a panic
/// (`tests/decode_props.rs`).
pub fn check_chunk(
    rules: &ChunkRules,
    received: Counts,
    last_r_peak: Option<f64>,
    chunk: pb::UploadChunk,
) -> Result<CheckedChunk> {
    let stream = stream_kind(chunk.stream)
        .ok_or_else(|| ServerError::InvalidArgument("chunk stream must be specified".into()))?;
    let format = match (stream, rules.ecg) {
        (StreamKind::Pcg, _) => Some(rules.pcg_format),
        (StreamKind::Ecg, EcgMode::Samples) => rules.ecg_format,
        (StreamKind::RPeaks, EcgMode::RPeaks) => None,
        _ => {
            return Err(ServerError::InvalidArgument(format!(
                "{} chunks are not allowed with ECG mode {}",
                stream.as_str(),
                rules.ecg.as_str()
            )));
        }
    };
    let expected = received.get(stream);
    if chunk.offset != expected {
        let what = if chunk.offset < expected {
            "overlaps data already received"
        } else {
            "leaves a gap"
        };
        return Err(ServerError::OutOfRange(format!(
            "{} chunk at offset {} {what}; expected offset {expected}",
            stream.as_str(),
            chunk.offset
        )));
    }
    let mut last = last_r_peak;
    let (count, bytes) = match stream {
        StreamKind::Pcg | StreamKind::Ecg => {
            if !chunk.r_peaks_s.is_empty() {
                return Err(ServerError::InvalidArgument(
                    "sample chunks carry no r_peaks_s".into(),
                ));
            }
            // `ChunkRules::of` refused raw ECG without a format.
            let format = format.ok_or(ServerError::Internal(
                "sample chunk without a sample format".into(),
            ))?;
            let width = format.width();
            if chunk.samples.is_empty() || !chunk.samples.len().is_multiple_of(width) {
                return Err(ServerError::InvalidArgument(format!(
                    "{} chunk must hold a positive whole number of {width}-byte samples",
                    stream.as_str()
                )));
            }
            if format == SampleFormat::F32le
                && chunk
                    .samples
                    .chunks_exact(4)
                    .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            {
                return Err(ServerError::InvalidArgument(format!(
                    "{} chunk holds a non-finite float sample (NaN or infinity)",
                    stream.as_str()
                )));
            }
            ((chunk.samples.len() / width) as u64, chunk.samples)
        }
        StreamKind::RPeaks => {
            if !chunk.samples.is_empty() || chunk.r_peaks_s.is_empty() {
                return Err(ServerError::InvalidArgument(
                    "R-peak chunks carry r_peaks_s only".into(),
                ));
            }
            let max_t = f64::from(rules.max_recording_seconds);
            for &t in &chunk.r_peaks_s {
                if !t.is_finite() || t < 0.0 || t > max_t || last.is_some_and(|l| t <= l) {
                    return Err(ServerError::InvalidArgument(
                        "R-peak times must be finite, within the recording and strictly increasing"
                            .into(),
                    ));
                }
                last = Some(t);
            }
            let bytes = chunk
                .r_peaks_s
                .iter()
                .flat_map(|t| t.to_le_bytes())
                .collect();
            (chunk.r_peaks_s.len() as u64, bytes)
        }
    };
    if expected.saturating_add(count) > rules.limits.get(stream) {
        return Err(ServerError::ResourceExhausted(format!(
            "{} exceeds the longest recording accepted ({} s)",
            stream.as_str(),
            rules.max_recording_seconds
        )));
    }
    Ok(CheckedChunk {
        stream,
        count,
        bytes,
        last_r_peak: last,
    })
}

//! WFDB records: headers, signal files (several signals may share one file), MIT annotation
//! files, and a writer whose output PhysioNet's tools read.
//!
//! Must never read outside the header's folder, never allocate for more samples than the signal
//! file holds, and never guess which signal is which: the PCG and ECG are found by their
//! descriptions.

mod annotation;
mod header;
mod write;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use annotation::{
    Annotation, HeartSound, HeartSoundKind, code, encode_annotations, heart_sound_annotations,
    heart_sounds_from_annotations, parse_annotations, read_annotations, write_annotations,
};
pub use header::{Format, Header, MAX_SIGNALS, SignalSpec};
pub use write::{HEART_SOUND_ANNOTATOR, WrittenRecord, write_wfdb_record};

use crate::{LoadedEcg, LoadedRecording, RecordingError, SampledSignal, check_rate, check_samples};

/// The largest file this crate will read into memory (1 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// What a signal's description says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// A phonocardiogram (heart-sound microphone).
    Pcg,
    /// An ECG lead.
    Ecg,
    /// Anything else (respiration, blood pressure, unnamed).
    Other,
}

/// Classifies a WFDB signal description (`PCG`, `ECG`, `II`, `heart sound`, ...).
pub fn classify_description(description: &str) -> SignalKind {
    let d = description.trim().to_ascii_lowercase();
    let words: Vec<&str> = d
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    if d.contains("pcg")
        || d.contains("phono")
        || d.contains("heart sound")
        || has("sound")
        || has("mic")
    {
        return SignalKind::Pcg;
    }
    const LEADS: [&str; 14] = [
        "i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6", "mlii", "mli",
    ];
    if d.contains("ecg") || d.contains("ekg") || has("lead") || LEADS.iter().any(|l| has(l)) {
        return SignalKind::Ecg;
    }
    SignalKind::Other
}

/// A WFDB record's header with the samples of some of its signals, in physical units.
#[derive(Debug, Clone, PartialEq)]
pub struct WfdbRecord {
    /// The parsed header.
    pub header: Header,
    /// One entry per header signal: the samples when read, `None` when not asked for.
    pub signals: Vec<Option<Vec<f32>>>,
}

/// Reads a header file.
pub fn read_header(path: &Path) -> Result<Header, RecordingError> {
    let bytes = read_file_bounded_to(path, 1 << 20)?;
    let text = String::from_utf8_lossy(&bytes);
    Header::parse(&text)
}

/// Reads the signals whose indices are in `wanted` (all when `None`) from the record whose
/// header is at `hea`. Signal files are looked up beside the header.
pub fn read_wfdb_signals(
    hea: &Path,
    wanted: Option<&[usize]>,
) -> Result<WfdbRecord, RecordingError> {
    let header = read_header(hea)?;
    let dir = hea.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut signals: Vec<Option<Vec<f32>>> = vec![None; header.signals.len()];
    let mut start = 0;
    while start < header.signals.len() {
        let file = &header.signals[start].file;
        let end = start
            + header.signals[start..]
                .iter()
                .take_while(|s| &s.file == file)
                .count();
        if header.signals[end..].iter().any(|s| &s.file == file) {
            return Err(RecordingError::UnsupportedWfdb(format!(
                "signals of file {file:?} are not consecutive in the header"
            )));
        }
        let group = &header.signals[start..end];
        let needed = wanted.is_none_or(|w| (start..end).any(|i| w.contains(&i)));
        if needed {
            let decoded = read_group(&dir.join(file), group, header.samples_per_signal)?;
            for (k, s) in decoded.into_iter().enumerate() {
                if wanted.is_none_or(|w| w.contains(&(start + k))) {
                    signals[start + k] = Some(s);
                }
            }
        }
        start = end;
    }
    Ok(WfdbRecord { header, signals })
}

/// Reads a WFDB record as a PCG with its ECG (when the header declares one), finding each by
/// its description. A lone signal without a recognisable description is taken as the PCG.
pub fn read_wfdb_record(hea: &Path) -> Result<LoadedRecording, RecordingError> {
    let header = read_header(hea)?;
    let kinds: Vec<SignalKind> = header
        .signals
        .iter()
        .map(|s| classify_description(&s.description))
        .collect();
    let pcg = kinds
        .iter()
        .position(|k| *k == SignalKind::Pcg)
        .or_else(|| (kinds == [SignalKind::Other]).then_some(0))
        .ok_or_else(|| RecordingError::NoPcg(descriptions(&header)))?;
    let ecg = kinds.iter().position(|k| *k == SignalKind::Ecg);
    let wanted: Vec<usize> = std::iter::once(pcg).chain(ecg).collect();
    let mut rec = read_wfdb_signals(hea, Some(&wanted))?;
    let rate = check_rate(rec.header.sampling_frequency)?;
    let take = |rec: &mut WfdbRecord, i: usize| {
        rec.signals
            .get_mut(i)
            .and_then(Option::take)
            .unwrap_or_default()
    };
    let pcg_samples = take(&mut rec, pcg);
    if pcg_samples.is_empty() {
        return Err(RecordingError::Empty);
    }
    Ok(LoadedRecording {
        pcg: SampledSignal {
            samples: pcg_samples,
            rate,
        },
        ecg: ecg.map(|i| {
            LoadedEcg::Raw(SampledSignal {
                samples: take(&mut rec, i),
                rate,
            })
        }),
    })
}

/// Reads only the ECG of a WFDB record (for attaching to a separate PCG recording).
pub fn read_wfdb_ecg(hea: &Path) -> Result<SampledSignal, RecordingError> {
    let header = read_header(hea)?;
    let i = header
        .signals
        .iter()
        .position(|s| classify_description(&s.description) == SignalKind::Ecg)
        .or_else(|| (header.signals.len() == 1).then_some(0))
        .ok_or_else(|| {
            RecordingError::UnsupportedWfdb(format!(
                "no ECG signal found (signal descriptions: {})",
                descriptions(&header)
            ))
        })?;
    let mut rec = read_wfdb_signals(hea, Some(&[i]))?;
    let rate = check_rate(rec.header.sampling_frequency)?;
    let samples = rec
        .signals
        .get_mut(i)
        .and_then(Option::take)
        .unwrap_or_default();
    if samples.is_empty() {
        return Err(RecordingError::Empty);
    }
    Ok(SampledSignal { samples, rate })
}

fn descriptions(h: &Header) -> String {
    h.signals
        .iter()
        .map(|s| format!("{:?}", s.description))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and de-multiplexes one signal file holding `group.len()` interleaved signals.
fn read_group(
    path: &Path,
    group: &[SignalSpec],
    declared_frames: Option<u64>,
) -> Result<Vec<Vec<f32>>, RecordingError> {
    let first = &group[0];
    if group.iter().any(|s| s.format != first.format) {
        return Err(RecordingError::UnsupportedWfdb(format!(
            "mixed formats in signal file {:?}",
            first.file
        )));
    }
    let nsig = group.len() as u64;
    let format = first.format;
    let mut file = File::open(path).map_err(|e| RecordingError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| RecordingError::io(path, e))?
        .len();
    let available = len.saturating_sub(first.byte_offset);
    let frames = match declared_frames {
        Some(frames) => {
            let total = frames.checked_mul(nsig).ok_or(RecordingError::TooLarge {
                what: "samples",
                declared: u64::MAX,
                limit: crate::MAX_SAMPLES,
            })?;
            check_samples("samples in one signal file", total)?;
            let expected = format.bytes_for(total).unwrap_or(u64::MAX);
            if expected > available {
                return Err(RecordingError::Truncated {
                    path: path.to_path_buf(),
                    expected,
                    actual: available,
                });
            }
            frames
        }
        None => format.samples_in(available) / nsig,
    };
    let total = frames * nsig;
    check_samples("samples in one signal file", total)?;
    let nbytes = format.bytes_for(total).unwrap_or(u64::MAX);
    let mut bytes = vec![
        0u8;
        usize::try_from(nbytes).map_err(|_| RecordingError::TooLarge {
            what: "signal file bytes",
            declared: nbytes,
            limit: MAX_FILE_BYTES,
        })?
    ];
    file.seek(SeekFrom::Start(first.byte_offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| RecordingError::io(path, e))?;
    let raw = decode(format, &bytes, total as usize);
    let mut out: Vec<Vec<f32>> = group
        .iter()
        .map(|_| Vec::with_capacity(frames as usize))
        .collect();
    for frame in raw.chunks_exact(group.len()) {
        for ((v, spec), sig) in frame.iter().zip(group).zip(out.iter_mut()) {
            sig.push(((*v as f64 - spec.baseline as f64) / spec.gain) as f32);
        }
    }
    Ok(out)
}

/// Decodes up to `n` samples stored in `format` from `bytes` (stopping early if they run out).
pub fn decode(format: Format, bytes: &[u8], n: usize) -> Vec<i32> {
    let n = n.min(format.samples_in(bytes.len() as u64) as usize);
    let mut out = Vec::with_capacity(n);
    match format {
        Format::Offset8 => out.extend(bytes.iter().map(|&b| i32::from(b) - 128)),
        Format::Le16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        Format::Be16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| i32::from(i16::from_be_bytes([c[0], c[1]]))),
        ),
        Format::Le24 => out.extend(
            bytes
                .chunks_exact(3)
                .map(|c| i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8),
        ),
        Format::Le32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        Format::Packed212 => {
            let sign12 = |v: i32| if v & 0x800 != 0 { v - 0x1000 } else { v };
            let mut it = bytes.chunks(3);
            while out.len() < n {
                let Some(c) = it.next() else { break };
                if c.len() >= 2 {
                    out.push(sign12(i32::from(c[0]) | (i32::from(c[1] & 0x0f) << 8)));
                }
                if c.len() == 3 {
                    out.push(sign12(i32::from(c[2]) | (i32::from(c[1] & 0xf0) << 4)));
                }
            }
        }
    }
    out.truncate(n);
    out
}

/// Reads a whole file, refusing files over [`MAX_FILE_BYTES`].
pub(crate) fn read_file_bounded(path: &Path) -> Result<Vec<u8>, RecordingError> {
    read_file_bounded_to(path, MAX_FILE_BYTES)
}

fn read_file_bounded_to(path: &Path, limit: u64) -> Result<Vec<u8>, RecordingError> {
    let file = File::open(path).map_err(|e| RecordingError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| RecordingError::io(path, e))?
        .len();
    if len > limit {
        return Err(RecordingError::TooLarge {
            what: "file bytes",
            declared: len,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| RecordingError::io(path, e))?;
    Ok(bytes)
}

/// The `.hea` path of a record given its folder and name.
pub fn header_path(dir: &Path, record: &str) -> PathBuf {
    dir.join(format!("{record}.hea"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_descriptions() {
        for (d, k) in [
            ("PCG", SignalKind::Pcg),
            ("ECG", SignalKind::Ecg),
            ("ECG lead II", SignalKind::Ecg),
            ("II", SignalKind::Ecg),
            ("MLII", SignalKind::Ecg),
            ("heart sound", SignalKind::Pcg),
            ("Phonocardiogram", SignalKind::Pcg),
            ("RESP", SignalKind::Other),
            ("", SignalKind::Other),
        ] {
            assert_eq!(classify_description(d), k, "{d:?}");
        }
    }

    #[test]
    fn decodes_212() {
        // 0x123 and -1 (0xfff): bytes 0x23, 0xf1, 0xff
        assert_eq!(
            decode(Format::Packed212, &[0x23, 0xf1, 0xff], 2),
            vec![0x123, -1]
        );
        assert_eq!(
            decode(Format::Packed212, &[0x23, 0xf1, 0xff, 0x00, 0x08], 3),
            vec![0x123, -1, -2048]
        );
    }

    #[test]
    fn decodes_8_16_24_32() {
        assert_eq!(
            decode(Format::Offset8, &[0, 128, 255], 3),
            vec![-128, 0, 127]
        );
        assert_eq!(
            decode(Format::Le16, &[0xff, 0x7f, 0x00, 0x80], 2),
            vec![32767, -32768]
        );
        assert_eq!(decode(Format::Be16, &[0x7f, 0xff], 1), vec![32767]);
        assert_eq!(
            decode(Format::Le24, &[0xff, 0xff, 0xff, 1, 0, 0], 2),
            vec![-1, 1]
        );
        assert_eq!(decode(Format::Le32, &[0xfe, 0xff, 0xff, 0xff], 1), vec![-2]);
        assert_eq!(decode(Format::Le16, &[1, 0, 2], 5), vec![1]);
    }
}

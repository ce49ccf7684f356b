//! WAV files through hound: integer PCM of 8 to 32 bits and 32-bit float, mono or
//! multi-channel with the PCG (and optionally the ECG) in chosen channels.
//!
//! Must never trust the data-chunk length: a WAV written by a recorder that crashed, or a
//! streamed WAV, declares more than it holds. We read the complete frames that are present and
//! never reserve memory for more frames than the bytes could hold.

use std::io::Cursor;
use std::path::Path;

use hound::{SampleFormat, WavReader};

use crate::{LoadedEcg, LoadedRecording, RecordingError, SampledSignal, check_rate, check_samples};

/// Which channels of a multi-channel WAV hold the PCG and the ECG (zero-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WavChannels {
    /// The phonocardiogram channel.
    pub pcg: usize,
    /// The ECG channel, if the file carries one.
    pub ecg: Option<usize>,
}

/// Reads a WAV file. Integer samples are scaled to ±1 full scale; float samples are kept.
pub fn read_wav(path: &Path, channels: WavChannels) -> Result<LoadedRecording, RecordingError> {
    let bytes = crate::wfdb::read_file_bounded(path)?;
    read_wav_bytes(&bytes, channels)
}

/// Reads a WAV held in memory (see [`read_wav`]).
pub fn read_wav_bytes(
    bytes: &[u8],
    channels: WavChannels,
) -> Result<LoadedRecording, RecordingError> {
    let mut reader = WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    let nchan = usize::from(spec.channels);
    if nchan == 0 {
        return Err(RecordingError::UnsupportedWav("zero channels".into()));
    }
    for ch in std::iter::once(channels.pcg).chain(channels.ecg) {
        if ch >= nchan {
            return Err(RecordingError::NoSuchChannel {
                channel: ch,
                channels: nchan,
            });
        }
    }
    let rate = check_rate(f64::from(spec.sample_rate))?;
    let bytes_per_sample = usize::from(spec.bits_per_sample).div_ceil(8).max(1);
    let frames_present = (bytes.len() / (bytes_per_sample * nchan)) as u64;
    let frames_declared = u64::from(reader.duration());
    let frames = check_samples("WAV frames", frames_declared.min(frames_present))?;

    let mut pcg = Vec::with_capacity(frames);
    let mut ecg = channels.ecg.map(|_| Vec::with_capacity(frames));
    let mut route = |i: usize, v: f32| {
        let ch = i % nchan;
        if ch == channels.pcg {
            pcg.push(v);
        }
        if let (Some(want), Some(e)) = (channels.ecg, ecg.as_mut())
            && ch == want
        {
            e.push(v);
        }
    };
    let limit = frames.saturating_mul(nchan);
    match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, 16) => {
            // The common case, decoded from the data chunk in bulk: the same values, in the
            // same order, as hound's sample iterator gives (which stops at the declared length
            // or at the last whole sample present).
            let declared = reader.len() as usize;
            let at = usize::try_from(reader.into_inner().position()).unwrap_or(usize::MAX);
            let data = bytes.get(at..).unwrap_or_default();
            let scale = 1.0 / f64::powi(2.0, 15);
            let count = limit.min(declared).min(data.len() / 2);
            for (i, b) in data.chunks_exact(2).take(count).enumerate() {
                let v = i16::from_le_bytes([b[0], b[1]]);
                route(i, (f64::from(v) * scale) as f32);
            }
        }
        (SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / f64::powi(2.0, i32::from(bits) - 1);
            for (i, s) in reader.samples::<i32>().take(limit).enumerate() {
                match s {
                    Ok(v) => route(i, (f64::from(v) * scale) as f32),
                    Err(e) if is_eof(&e) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        (SampleFormat::Float, 32) => {
            for (i, s) in reader.samples::<f32>().take(limit).enumerate() {
                match s {
                    Ok(v) => route(i, v),
                    Err(e) if is_eof(&e) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        (format, bits) => {
            return Err(RecordingError::UnsupportedWav(format!(
                "{bits}-bit {format:?} samples"
            )));
        }
    }
    // A partial last frame would leave the channels unequal: keep whole frames only.
    let n = ecg.as_ref().map_or(pcg.len(), |e| e.len().min(pcg.len()));
    pcg.truncate(n);
    if pcg.is_empty() {
        return Err(RecordingError::Empty);
    }
    Ok(LoadedRecording {
        pcg: SampledSignal { samples: pcg, rate },
        ecg: ecg.map(|mut e| {
            e.truncate(n);
            LoadedEcg::Raw(SampledSignal { samples: e, rate })
        }),
    })
}

/// Reading from memory, an I/O error can only mean the bytes ran out before the declared end.
fn is_eof(e: &hound::Error) -> bool {
    matches!(e, hound::Error::IoError(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hound::{WavSpec, WavWriter};

    fn wav_bytes(
        spec: WavSpec,
        write: impl FnOnce(&mut WavWriter<&mut Cursor<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut cur = Cursor::new(Vec::new());
        {
            let mut w = WavWriter::new(&mut cur, spec).expect("writer");
            write(&mut w);
            w.finalize().expect("finalize");
        }
        cur.into_inner()
    }

    fn spec(channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec {
            channels,
            sample_rate: 4000,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn reads_every_integer_width_to_full_scale() {
        for bits in [8u16, 16, 24, 32] {
            let full = 1i64 << (bits - 1);
            let bytes = wav_bytes(spec(1, bits, SampleFormat::Int), |w| {
                for v in [0i64, full / 2, -full] {
                    w.write_sample(v as i32).expect("write");
                }
            });
            let r = read_wav_bytes(&bytes, WavChannels::default()).expect("read");
            assert_eq!(r.pcg.samples, vec![0.0, 0.5, -1.0], "{bits} bits");
            assert_eq!(r.pcg.rate, auscult_dsp::Hz(4000.0));
            assert!(r.ecg.is_none());
        }
    }

    #[test]
    fn reads_float() {
        let bytes = wav_bytes(spec(1, 32, SampleFormat::Float), |w| {
            for v in [0.25f32, -0.75] {
                w.write_sample(v).expect("write");
            }
        });
        let r = read_wav_bytes(&bytes, WavChannels::default()).expect("read");
        assert_eq!(r.pcg.samples, vec![0.25, -0.75]);
    }

    #[test]
    fn picks_pcg_and_ecg_channels() {
        let bytes = wav_bytes(spec(3, 16, SampleFormat::Int), |w| {
            for frame in 0..4i16 {
                for ch in 0..3i16 {
                    w.write_sample((ch * 1000 + frame) * 8).expect("write");
                }
            }
        });
        let r = read_wav_bytes(
            &bytes,
            WavChannels {
                pcg: 2,
                ecg: Some(1),
            },
        )
        .expect("read");
        let want_pcg: Vec<f32> = (0..4).map(|f| ((2000 + f) * 8) as f32 / 32768.0).collect();
        let want_ecg: Vec<f32> = (0..4).map(|f| ((1000 + f) * 8) as f32 / 32768.0).collect();
        assert_eq!(r.pcg.samples, want_pcg);
        assert_eq!(
            r.ecg,
            Some(LoadedEcg::Raw(SampledSignal {
                samples: want_ecg,
                rate: auscult_dsp::Hz(4000.0)
            }))
        );
        assert!(matches!(
            read_wav_bytes(&bytes, WavChannels { pcg: 3, ecg: None }),
            Err(RecordingError::NoSuchChannel {
                channel: 3,
                channels: 3
            })
        ));
    }

    /// What hound's sample iterator gives for the PCG and ECG channels (the reading before the
    /// 16-bit bulk path), whole frames only.
    fn through_hound(bytes: &[u8], pcg: usize, ecg: usize) -> (Vec<f32>, Vec<f32>) {
        let mut r = WavReader::new(Cursor::new(bytes)).expect("header");
        let n = usize::from(r.spec().channels);
        let all: Vec<f32> = r
            .samples::<i32>()
            .map_while(Result::ok)
            .map(|v| (f64::from(v) / 32768.0) as f32)
            .collect();
        let frames = all.len() / n;
        let pick = |c: usize| (0..frames).map(|f| all[f * n + c]).collect();
        (pick(pcg), pick(ecg))
    }

    #[test]
    fn sixteen_bit_bulk_reading_matches_hound_sample_for_sample() {
        let mut seed = 12345u32;
        let bytes = wav_bytes(spec(3, 16, SampleFormat::Int), |w| {
            for _ in 0..3001 * 3 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                w.write_sample((seed >> 16) as i16).expect("write");
            }
        });
        let channels = WavChannels {
            pcg: 2,
            ecg: Some(0),
        };
        // Whole; cut inside a frame; cut inside a sample; with a chunk after the data.
        let mut with_tail = bytes.clone();
        with_tail.extend_from_slice(b"LIST\x04\x00\x00\x00abcd");
        let riff = (with_tail.len() - 8) as u32;
        with_tail[4..8].copy_from_slice(&riff.to_le_bytes());
        for b in [
            bytes.clone(),
            bytes[..bytes.len() - 4].to_vec(),
            bytes[..bytes.len() - 3].to_vec(),
            with_tail,
        ] {
            let r = read_wav_bytes(&b, channels).expect("read");
            let (pcg, ecg) = through_hound(&b, 2, 0);
            assert_eq!(r.pcg.samples, pcg);
            assert_eq!(
                r.ecg,
                Some(LoadedEcg::Raw(SampledSignal {
                    samples: ecg,
                    rate: auscult_dsp::Hz(4000.0)
                }))
            );
        }
    }

    #[test]
    fn lying_data_length_reads_what_is_there() {
        let mut bytes = wav_bytes(spec(1, 16, SampleFormat::Int), |w| {
            for v in 0..100i16 {
                w.write_sample(v).expect("write");
            }
        });
        // Claim 2 GB of data in the data chunk's size field (bytes 40..44 of a canonical header).
        bytes[40..44].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        let r = read_wav_bytes(&bytes, WavChannels::default()).expect("read");
        assert_eq!(r.pcg.samples.len(), 100);
    }

    #[test]
    fn empty_and_garbage_are_errors() {
        let bytes = wav_bytes(spec(1, 16, SampleFormat::Int), |_| {});
        assert!(matches!(
            read_wav_bytes(&bytes, WavChannels::default()),
            Err(RecordingError::Empty)
        ));
        assert!(read_wav_bytes(b"RIFF\x00\x00", WavChannels::default()).is_err());
    }
}

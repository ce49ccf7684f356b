//! Sample packing: decoding stored bytes to `f32` for the engine and encoding 16-bit WAV files,
//! whole or one stored part at a time (a header written from the count up front, then each
//! part's samples converted on their own).
//!
//! Pure functions over byte slices; never touches the store or the network.

use crate::error::{Result, ServerError};

/// The length of the canonical PCM WAV header, before the samples.
pub const WAV_HEADER_BYTES: u64 = 44;

/// Decodes little-endian samples (`width` 2 = s16le, 4 = f32le) to `f32`; s16 is scaled to ±1.
/// Trailing bytes that do not make a whole sample are ignored (the ingest never stores any).
pub fn decode(bytes: &[u8], width: usize) -> Vec<f32> {
    let mut out = Vec::new();
    decode_into(bytes, width, &mut out);
    out
}

/// [`decode`], appending to `out`.
pub fn decode_into(bytes: &[u8], width: usize, out: &mut Vec<f32>) {
    match width {
        2 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
        ),
        4 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        _ => {}
    }
}

/// Decodes little-endian f64 values (R-peak times).
pub fn decode_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}

/// The largest finite magnitude of f32 samples (`width` 4); 0 for s16, which is never scaled.
/// The peak of a recording is the largest of its parts' peaks.
pub fn peak(bytes: &[u8], width: usize) -> f32 {
    if width != 4 {
        return 0.0;
    }
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()))
}

/// How stored samples become 16-bit PCM: s16 samples are copied as they are; f32 samples are
/// scaled so the recording's peak fits full scale (when it exceeds ±1) and rounded, a non-finite
/// one is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pcm16 {
    width: usize,
    scale: f32,
}

impl Pcm16 {
    /// For samples `width` bytes wide whose peak over the whole recording is `peak` ([`peak`]).
    pub fn new(width: usize, peak: f32) -> Pcm16 {
        let scale = if peak > 1.0 { 1.0 / peak } else { 1.0 };
        Pcm16 { width, scale }
    }

    /// Appends `bytes` (whole samples; a trailing partial one is ignored) to `out` as s16le.
    pub fn convert(self, bytes: &[u8], out: &mut Vec<u8>) {
        match self.width {
            2 => out.extend_from_slice(&bytes[..bytes.len() - bytes.len() % 2]),
            4 => {
                out.reserve(bytes.len() / 2);
                for b in bytes.chunks_exact(4) {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let v = if x.is_finite() { x * self.scale } else { 0.0 };
                    // Clamped to the i16 range first, so the cast cannot wrap.
                    #[allow(clippy::cast_possible_truncation)]
                    let s = (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            _ => {}
        }
    }
}

/// The canonical 44-byte header of a mono 16-bit PCM WAV file of `samples` samples at
/// `rate_hz`. A stored rate of zero (or one whose byte rate overflows), or more samples than a
/// WAV file can hold, is refused.
pub fn wav_header(samples: u64, rate_hz: u32) -> Result<[u8; 44]> {
    if rate_hz == 0 || rate_hz > u32::MAX / 2 {
        return Err(ServerError::Corrupt("stored sample rate"));
    }
    // The RIFF size counts the data and 36 header bytes in a u32.
    let data = samples
        .checked_mul(2)
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| d.checked_add(36).is_some())
        .ok_or_else(|| {
            ServerError::ResourceExhausted("the recording is too long for a WAV file".into())
        })?;
    let mut h = [0u8; 44];
    h[..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate_hz.to_le_bytes());
    h[28..32].copy_from_slice(&(rate_hz * 2).to_le_bytes()); // bytes per second
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // bytes per frame
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    Ok(h)
}

/// A mono 16-bit PCM WAV file of stored samples held in memory (the header of [`wav_header`],
/// the samples converted by [`Pcm16`] with their own peak).
pub fn wav_s16(bytes: &[u8], width: usize, rate_hz: u32) -> Result<Vec<u8>> {
    let samples = match width {
        2 | 4 => bytes.len() / width,
        _ => 0,
    };
    let header = wav_header(samples as u64, rate_hz)?;
    let mut out = Vec::with_capacity(header.len() + 2 * samples);
    out.extend_from_slice(&header);
    Pcm16::new(width, peak(bytes, width)).convert(bytes, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_round_trips_through_wav() {
        let samples: Vec<i16> = vec![0, 1000, -1000, i16::MAX, i16::MIN];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let wav = wav_s16(&bytes, 2, 4000).expect("a WAV file");
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
            4000
        );
        assert_eq!(&wav[44..], &bytes[..]);
        let decoded = decode(&bytes, 2);
        assert!((decoded[1] - 1000.0 / 32768.0).abs() < 1e-7);
    }

    #[test]
    fn loud_f32_is_scaled_not_wrapped() {
        let bytes: Vec<u8> = [2.0f32, -4.0, 1.0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let wav = wav_s16(&bytes, 4, 1000).expect("a WAV file");
        let pcm = decode(&wav[44..], 2);
        assert!(
            (pcm[1] + 1.0).abs() < 1e-3,
            "peak maps to full scale: {pcm:?}"
        );
        assert!((pcm[0] - 0.5).abs() < 1e-3);
    }

    #[test]
    fn the_header_is_the_canonical_44_byte_pcm_header() {
        let bytes: Vec<u8> = [7i16, -7, 300]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let wav = wav_s16(&bytes, 2, 2000).expect("a WAV file");
        let mut want = Vec::new();
        want.extend_from_slice(b"RIFF");
        want.extend_from_slice(&(36u32 + 6).to_le_bytes());
        want.extend_from_slice(b"WAVEfmt ");
        want.extend_from_slice(&16u32.to_le_bytes());
        want.extend_from_slice(&1u16.to_le_bytes()); // PCM
        want.extend_from_slice(&1u16.to_le_bytes()); // mono
        want.extend_from_slice(&2000u32.to_le_bytes());
        want.extend_from_slice(&4000u32.to_le_bytes()); // byte rate
        want.extend_from_slice(&2u16.to_le_bytes()); // block align
        want.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        want.extend_from_slice(b"data");
        want.extend_from_slice(&6u32.to_le_bytes());
        want.extend_from_slice(&bytes);
        assert_eq!(wav, want);
        // A trailing odd byte is not a sample.
        let mut odd = bytes.clone();
        odd.push(0x55);
        assert_eq!(wav_s16(&odd, 2, 2000).expect("a WAV file"), want);
    }

    /// hound's file of the same 16-bit samples: the reference for the hand-written header.
    fn hound_wav(pcm: &[i16], rate_hz: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate_hz,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("a writer");
        for &s in pcm {
            writer.write_sample(s).expect("a sample");
        }
        writer.finalize().expect("finalised");
        out.into_inner()
    }

    #[test]
    fn files_are_hounds_and_parts_convert_alone() {
        for (n, rate) in [(0usize, 4000u32), (1, 1000), (777, 44_100), (4096, 48_000)] {
            let pcm: Vec<i16> = (0..n).map(|i| (i as i16).wrapping_mul(97)).collect();
            let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
            assert_eq!(
                wav_s16(&bytes, 2, rate).expect("a WAV file"),
                hound_wav(&pcm, rate)
            );
        }
        // f32 with its peak (above 1) in one part only, and non-finite samples.
        let mut samples: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.37).sin() * 0.8).collect();
        samples[1500] = -2.5;
        samples[10] = f32::NAN;
        samples[11] = f32::INFINITY;
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let whole = wav_s16(&bytes, 4, 4000).expect("a WAV file");
        let pcm: Vec<i16> = whole[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(whole, hound_wav(&pcm, 4000));
        assert_eq!(pcm[1500], -32767, "the peak is full scale");
        let parts: Vec<&[u8]> = vec![
            &bytes[..400],
            &bytes[400..404],
            &bytes[404..6000],
            &bytes[6000..],
        ];
        let peak = parts.iter().fold(0.0f32, |m, p| m.max(peak(p, 4)));
        let mut streamed = wav_header(2000, 4000).expect("a header").to_vec();
        for part in parts {
            Pcm16::new(4, peak).convert(part, &mut streamed);
        }
        assert_eq!(streamed, whole);
    }

    #[test]
    fn a_zero_rate_is_refused_not_a_panic() {
        assert!(matches!(
            wav_s16(&[0, 0], 2, 0),
            Err(ServerError::Corrupt(_))
        ));
        assert!(wav_s16(&[0, 0], 2, u32::MAX).is_err());
        assert!(wav_header((u64::from(u32::MAX) - 36) / 2, 8000).is_ok());
        assert!(matches!(
            wav_header((u64::from(u32::MAX) - 36) / 2 + 1, 8000),
            Err(ServerError::ResourceExhausted(_))
        ));
    }
}

//! Sample packing: decoding stored bytes to `f32` for the engine and encoding WAV files.
//!
//! Pure functions over byte slices; never touches the store or the network.

use crate::error::{Result, ServerError};

/// Decodes little-endian samples (`width` 2 = s16le, 4 = f32le) to `f32`; s16 is scaled to ±1.
/// Trailing bytes that do not make a whole sample are ignored (the ingest never stores any).
pub fn decode(bytes: &[u8], width: usize) -> Vec<f32> {
    match width {
        2 => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        4 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        _ => Vec::new(),
    }
}

/// Decodes little-endian f64 values (R-peak times).
pub fn decode_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}

/// A mono 16-bit PCM WAV file of stored samples, written with hound. s16 samples are copied as
/// they are; f32 samples are scaled so their peak fits full scale (when it exceeds ±1) and
/// rounded. A stored rate of zero, or more data than a WAV file can hold, is refused.
pub fn wav_s16(bytes: &[u8], width: usize, rate_hz: u32) -> Result<Vec<u8>> {
    let pcm: Vec<i16> = match width {
        2 => bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
        _ => {
            let samples = decode(bytes, width);
            let peak = samples
                .iter()
                .filter(|x| x.is_finite())
                .fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if peak > 1.0 { 1.0 / peak } else { 1.0 };
            samples
                .iter()
                .map(|&x| {
                    let v = if x.is_finite() { x * scale } else { 0.0 };
                    // Clamped to the i16 range first, so the cast cannot wrap.
                    #[allow(clippy::cast_possible_truncation)]
                    let s = (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
                    s
                })
                .collect()
        }
    };
    // hound divides by the rate and counts data bytes in a u32: refuse what it cannot write.
    if rate_hz == 0 || rate_hz > u32::MAX / 2 {
        return Err(ServerError::Corrupt("stored sample rate"));
    }
    if pcm.len() > (u32::MAX as usize - 36) / 2 {
        return Err(ServerError::ResourceExhausted(
            "the recording is too long for a WAV file".into(),
        ));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav_failed = |e: hound::Error| ServerError::Internal(format!("writing WAV: {e}"));
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + 2 * pcm.len()));
    let mut writer = hound::WavWriter::new(&mut out, spec).map_err(wav_failed)?;
    for s in pcm {
        writer.write_sample(s).map_err(wav_failed)?;
    }
    writer.finalize().map_err(wav_failed)?;
    Ok(out.into_inner())
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

    #[test]
    fn a_zero_rate_is_refused_not_a_panic() {
        assert!(matches!(
            wav_s16(&[0, 0], 2, 0),
            Err(ServerError::Corrupt(_))
        ));
        assert!(wav_s16(&[0, 0], 2, u32::MAX).is_err());
    }
}

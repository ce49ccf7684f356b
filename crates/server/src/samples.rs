//! Sample packing: decoding stored bytes to `f32` for the engine and encoding WAV files.
//!
//! Pure functions over byte slices; never touches the store or the network.

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

/// A mono 16-bit PCM WAV file of stored samples. s16 samples are copied as they are; f32 samples
/// are scaled so their peak fits full scale (when it exceeds ±1) and rounded.
pub fn wav_s16(bytes: &[u8], width: usize, rate_hz: u32) -> Vec<u8> {
    let pcm: Vec<u8> = match width {
        2 => bytes[..bytes.len() - bytes.len() % 2].to_vec(),
        _ => {
            let samples = decode(bytes, width);
            let peak = samples
                .iter()
                .filter(|x| x.is_finite())
                .fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if peak > 1.0 { 1.0 / peak } else { 1.0 };
            samples
                .iter()
                .flat_map(|&x| {
                    let v = if x.is_finite() { x * scale } else { 0.0 };
                    // Clamped to the i16 range first, so the cast cannot wrap.
                    #[allow(clippy::cast_possible_truncation)]
                    let s = (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
                    s.to_le_bytes()
                })
                .collect()
        }
    };
    let data_len = u32::try_from(pcm.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate_hz.to_le_bytes());
    out.extend_from_slice(&rate_hz.saturating_mul(2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&pcm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_round_trips_through_wav() {
        let samples: Vec<i16> = vec![0, 1000, -1000, i16::MAX, i16::MIN];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let wav = wav_s16(&bytes, 2, 4000);
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
        let wav = wav_s16(&bytes, 4, 1000);
        let pcm = decode(&wav[44..], 2);
        assert!(
            (pcm[1] + 1.0).abs() < 1e-3,
            "peak maps to full scale: {pcm:?}"
        );
        assert!((pcm[0] - 0.5).abs() < 1e-3);
    }
}

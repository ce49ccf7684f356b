//! The bodies of the recording readers' fuzz targets, shared by the cargo-fuzz targets
//! (`fuzz_targets/read_wav.rs`, `parse_wfdb.rs`) and by the property tests that run them on
//! stable Rust in the test suite (`crates/recording/tests/fuzz_bodies.rs`), which CI runs.
//! Each takes any bytes and must return without a panic or a runaway allocation.
#![allow(dead_code)]

use auscult_recording::rpeaks::parse_rpeaks_csv;
use auscult_recording::wav::{WavChannels, read_wav_bytes};
use auscult_recording::wfdb::{Format, Header, decode, parse_annotations};

/// WAV bytes of any shape give a recording or an error; a recording holds no more samples than
/// the bytes could carry.
pub fn read_wav(data: &[u8]) {
    if let Ok(r) = read_wav_bytes(
        data,
        WavChannels {
            pcg: 0,
            ecg: Some(1),
        },
    ) {
        assert!(r.pcg.samples.len() <= data.len(), "more samples than bytes");
    }
}

/// WFDB headers, annotation files, signal bytes and R-peak CSVs give errors, never panics; a
/// decoded signal has no more samples than bytes.
pub fn parse_wfdb(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = Header::parse(&text);
    let _ = parse_rpeaks_csv(&text);
    let _ = parse_annotations(data);
    for n in [80, 16, 61, 24, 32, 212] {
        if let Some(f) = Format::from_number(n) {
            assert!(decode(f, data, usize::MAX).len() <= data.len());
        }
    }
}

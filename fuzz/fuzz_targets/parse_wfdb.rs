//! WFDB headers, annotation files, signal bytes and R-peak CSVs: errors, never panics.
#![no_main]

use auscult_recording::rpeaks::parse_rpeaks_csv;
use auscult_recording::wfdb::{Format, Header, decode, parse_annotations};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Header::parse(&text);
    let _ = parse_rpeaks_csv(&text);
    let _ = parse_annotations(data);
    for n in [80, 16, 61, 24, 32, 212] {
        if let Some(f) = Format::from_number(n) {
            let _ = decode(f, data, usize::MAX);
        }
    }
});

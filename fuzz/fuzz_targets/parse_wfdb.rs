//! WFDB headers, annotation files, signal bytes and R-peak CSVs: errors, never panics.
#![no_main]

#[path = "../bodies/recording.rs"]
mod bodies;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bodies::parse_wfdb(data));

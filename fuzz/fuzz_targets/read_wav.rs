//! WAV bytes of any shape must give a recording or an error, never a panic or a huge allocation.
#![no_main]

#[path = "../bodies/recording.rs"]
mod bodies;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bodies::read_wav(data));

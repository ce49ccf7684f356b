//! WAV bytes of any shape must give a recording or an error, never a panic or a huge allocation.
#![no_main]

use auscult_recording::wav::{WavChannels, read_wav_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_wav_bytes(
        data,
        WavChannels {
            pcg: 0,
            ecg: Some(1),
        },
    );
});

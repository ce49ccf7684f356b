//! Any bytes as an `UploadRequest` message: the server's metadata and chunk checks give a value
//! or a clear error (INVALID_ARGUMENT, OUT_OF_RANGE, RESOURCE_EXHAUSTED), never a panic.
#![no_main]

#[path = "../bodies/server.rs"]
mod bodies;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bodies::upload_message(data));

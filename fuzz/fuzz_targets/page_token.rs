//! Any bytes as a page token (worklist keyset tokens, audit offsets): a cursor or
//! INVALID_ARGUMENT, never a panic; every accepted token round-trips.
#![no_main]

#[path = "../bodies/server.rs"]
mod bodies;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bodies::page_token(data));

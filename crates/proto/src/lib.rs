//! Generated protobuf messages and gRPC stubs for the `auscult.v1` package.
//!
//! The code is generated at build time from `proto/auscult/v1/*.proto` (protox + tonic-prost-build);
//! nothing here is written by hand except this module. This crate must never hold logic: conversions
//! between protobuf and domain types belong to the server.

/// The `auscult.v1` package: every message, enum, client and server.
pub mod v1 {
    #![allow(
        missing_docs,
        missing_debug_implementations,
        clippy::all,
        clippy::pedantic
    )]
    tonic::include_proto!("auscult.v1");
}

/// The encoded `FileDescriptorSet` of every `auscult.v1` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/auscult_descriptor.bin"));

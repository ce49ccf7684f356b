//! A simulated digital stethoscope with ECG: it records (a synthetic scenario from `auscult-synth`,
//! or a real WAV/WFDB file replayed) and streams the recording to the auscult server over gRPC
//! the way the device firmware does: metadata first, then paced chunks with per-stream offsets,
//! then a finish with totals; bearer-token authentication; resumption from the server's committed
//! offsets after a broken stream; and a fleet mode that drives many devices to measure load.
//!
//! Layout: [`source`] makes the bytes to send, [`plan`] cuts them into chunks, [`upload`] runs one
//! resumable upload, [`fleet`] runs many, [`latency`] summarises acknowledgement times, [`sink`]
//! is the discarding baseline server of the load run (`examples/load`). The
//! binary (`main.rs`) only parses arguments.
//!
//! Must never talk to anything but the server URL it was given, and never loop without bound
//! (attempts are capped; recordings are finite).

mod error;
pub mod fleet;
pub mod latency;
pub mod plan;
pub mod sink;
pub mod source;
pub mod upload;
pub mod vitals;

pub use error::SimError;
pub use fleet::{
    CompletedUpload, FleetDevice, FleetOptions, FleetReport, run_fleet, run_fleet_with,
};
pub use latency::LatencySummary;
pub use plan::Counts;
pub use source::{DeviceRecording, EcgChoice, EcgPayload, EncodedRecording, PcgFormat};
pub use upload::{
    ChunkCapture, Connection, DeviceIdentity, Pacing, ReceivedInstruction, SimulatedDrops,
    UploadMode, UploadOptions, UploadReport, follow_session, upload, upload_status, upload_with,
};

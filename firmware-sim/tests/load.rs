//! A load measurement, not a pass/fail check: many devices against the in-memory server.
//! Run with `cargo test -p firmware-sim --release --test load -- --ignored --nocapture`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auscult_synth::{Scenario, generate};
use firmware_sim::{DeviceRecording, EcgChoice, FleetDevice, PcgFormat, UploadOptions, run_fleet};
use support::start_reference;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn fleet_load_report() {
    let devices: usize = std::env::var("FLEET_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seconds: f64 = std::env::var("FLEET_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30.0);
    let (addr, _server) = start_reference("load").await;
    let synth_start = Instant::now();
    let fleet: Vec<FleetDevice> = (0..devices)
        .map(|d| {
            let sc = Scenario::ALL[d % Scenario::ALL.len()];
            let rec = generate(&sc.config(d as u64, seconds)).expect("valid");
            let dev = DeviceRecording::from_synth(format!("{sc}#{d}"), &rec, EcgChoice::Samples)
                .expect("rates");
            FleetDevice {
                token: "load".into(),
                serial: format!("load-{d}"),
                recordings: vec![Arc::new(dev.encode(PcgFormat::S16))],
            }
        })
        .collect();
    let synth = synth_start.elapsed();
    let report = run_fleet(
        &format!("http://{addr}"),
        fleet,
        &UploadOptions {
            ack_timeout: Duration::from_secs(30),
            ..UploadOptions::default()
        },
    )
    .await;
    println!(
        "synthesised {devices} × {seconds} s (PCG 4 kHz + ECG 500 Hz) in {:.2} s",
        synth.as_secs_f64()
    );
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    assert_eq!(report.uploads_failed, 0);
}

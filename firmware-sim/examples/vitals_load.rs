//! Capacity run of vital-sign monitoring against the real auscult server (started in this
//! process on 127.0.0.1:0, SQLite in a temp dir unless `--database-url` is given; every call is
//! real gRPC over the socket).
//!
//! In real time: `--minute-residents` report HR, RR and SpO2 once a minute (spread over the
//! minute) and `--second-residents` report them every second, through `--gateways` gateway
//! connections (one `IngestVitals` stream each). A nurse station watches the whole tenant. In
//! `--inject` of the residents the pulse disappears (HR 0) at a random time after the first
//! minute; the time from sending the batch that confirms it (the first for a once-a-minute
//! sensor, the eleventh second for a 1 Hz one) to the `raised` event arriving on Watch is the
//! sample-to-alert latency. Reports throughput, ack latency, sample-to-alert latency, missed
//! injections and alerts on residents without injection.
//!
//!     cargo run --release -p firmware-sim --example vitals_load -- --minutes 4
//!
//! Across a fleet (`--servers 2`, on an empty PostgreSQL database and an S3-compatible store):
//! the servers run in this process, each on its own socket with its own runtime tasks; gateway
//! `g` streams to server `g % servers` and, after `--move-after-s`, reconnects to the next one (as
//! a load balancer may move a connection), so from then on every batch reaches a server that does
//! not hold its resident's lease and is relayed to the holder; the nurse station watches on the
//! last server. The sample-to-alert latency is reported for alerts confirmed before and after the
//! move.
//!
//!     cargo run --release -p firmware-sim --example vitals_load -- --minutes 4 --servers 2 \
//!         --database-url postgres://…/empty_db --s3-url http://127.0.0.1:9577

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::vitals_service_client::VitalsServiceClient;
use clap::Parser;
use firmware_sim::vitals::{authed, channel};
use pb::vital_sample::Value;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;
use tokio_stream::StreamExt;

#[derive(Debug, Parser)]
struct Args {
    /// Residents reporting once a minute.
    #[arg(long, default_value_t = 10_000)]
    minute_residents: usize,
    /// Residents reporting every second.
    #[arg(long, default_value_t = 500)]
    second_residents: usize,
    /// Wall-clock minutes to run (real time).
    #[arg(long, default_value_t = 4.0)]
    minutes: f64,
    /// Fraction of residents in whom the pulse disappears.
    #[arg(long, default_value_t = 0.02)]
    inject: f64,
    /// Gateway connections.
    #[arg(long, default_value_t = 20)]
    gateways: usize,
    /// PostgreSQL URL (default: SQLite in a temp dir); an empty database (the run creates the
    /// bootstrap administrator).
    #[arg(long)]
    database_url: Option<String>,
    /// Servers sharing the database (more than one needs `--database-url` and `--s3-url`).
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// S3-compatible endpoint (`http://host:port`, access key and secret `testing`, as moto
    /// takes); a fresh bucket is created in it.
    #[arg(long)]
    s3_url: Option<String>,
    /// With several servers: seconds after the start when each gateway reconnects to the next
    /// server (default: a third of the run).
    #[arg(long)]
    move_after_s: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Clone)]
struct Resident {
    subject: String,
    per_second: bool,
    /// Offset of its report within the period, ms.
    phase_ms: u64,
    hr: f64,
    rr: f64,
    spo2: f64,
    /// Wall ms from the start when the pulse disappears.
    inject_at_ms: Option<u64>,
}

fn wall_ms() -> i64 {
    auscult_store::now_ms()
}

fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// "p50 … p99 … max … (n=…)" of sorted milliseconds.
fn summary(sorted: &[f64]) -> String {
    format!(
        "p50 {:.1} p99 {:.1} max {:.1} (n={})",
        pct(sorted, 0.5),
        pct(sorted, 0.99),
        pct(sorted, 1.0),
        sorted.len()
    )
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Shared {
    /// Subject -> when each of its no-pulse batches was handed to the transport, in order.
    sent: std::sync::Mutex<HashMap<String, Vec<Instant>>>,
    ack_ms: std::sync::Mutex<Vec<f64>>,
    batches: AtomicU64,
    samples: AtomicU64,
    refused: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(a.servers >= 1, "--servers must be at least 1");
    anyhow::ensure!(
        a.servers == 1 || (a.database_url.is_some() && a.s3_url.is_some()),
        "several servers need --database-url and --s3-url"
    );
    let s3 = match &a.s3_url {
        Some(url) => {
            let bucket = format!("vitals-load-{}", std::process::id());
            create_bucket(url, &bucket).await?;
            Some(auscult_server::config::S3Config {
                bucket,
                region: "us-east-1".into(),
                endpoint: Some(url.clone()),
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
                allow_http: true,
            })
        }
        None => None,
    };
    let mut dirs = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..a.servers {
        let dir = tempfile::tempdir()?;
        let config = auscult_server::ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().to_path_buf(),
            database_url: a.database_url.clone(),
            s3: s3.clone(),
            workers: 1,
            ..auscult_server::ServerConfig::default()
        };
        servers.push(auscult_server::start(config).await?);
        dirs.push(dir);
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}", s.addr))
        .collect();
    let url = urls[0].clone();
    let admin_token = servers[0]
        .bootstrap_token
        .clone()
        .context("bootstrap token (is the database empty?)")?;
    let ch = channel(&url)?;
    let mut admin = AdminServiceClient::new(ch.clone());
    let tenant = admin
        .create_tenant(authed(
            &admin_token,
            pb::CreateTenantRequest {
                name: "load-town".into(),
                kind: pb::TenantKind::Clinic as i32,
            },
        )?)
        .await?
        .into_inner()
        .tenant_id;
    let mut device_tokens = Vec::new();
    let mut device_ids = Vec::new();
    for g in 0..a.gateways {
        let d = admin
            .register_device(authed(
                &admin_token,
                pb::RegisterDeviceRequest {
                    tenant_id: tenant.clone(),
                    name: format!("gateway-{g}"),
                    lifetime_seconds: None,
                },
            )?)
            .await?
            .into_inner();
        device_tokens.push(d.token);
        device_ids.push(d.principal.context("device principal")?.principal_id);
    }
    let nurse = admin
        .create_user(authed(
            &admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant.clone(),
                name: "station".into(),
                role: pb::Role::Nurse as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        )?)
        .await?
        .into_inner()
        .token;

    let run_ms = (a.minutes * 60_000.0) as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
    let mut residents = Vec::new();
    for i in 0..a.minute_residents + a.second_residents {
        let per_second = i >= a.minute_residents;
        let inject = rng.random::<f64>() < a.inject;
        residents.push(Resident {
            subject: format!("{}-{i:05}", if per_second { "cont" } else { "min" }),
            per_second,
            phase_ms: if per_second {
                (i as u64 % 10) * 100
            } else {
                rng.random_range(0..60_000)
            },
            hr: rng.random_range(58.0..82.0),
            rr: rng.random_range(13.0..17.0),
            spo2: rng.random_range(96.0..99.0),
            // After the first minute, early enough to be seen before the end.
            inject_at_ms: inject
                .then(|| rng.random_range(60_000..run_ms.saturating_sub(75_000).max(60_001))),
        });
    }
    // Each gateway (a device) reports only for the residents it is assigned to.
    for (g, device_id) in device_ids.iter().enumerate() {
        let mine: Vec<String> = residents
            .iter()
            .enumerate()
            .filter(|(i, _)| i % a.gateways == g)
            .map(|(_, r)| r.subject.clone())
            .collect();
        for chunk in mine.chunks(1_000) {
            admin
                .assign_device(authed(
                    &admin_token,
                    pb::DeviceAssignmentRequest {
                        tenant_id: tenant.clone(),
                        device_id: device_id.clone(),
                        subject_ids: chunk.to_vec(),
                    },
                )?)
                .await?;
        }
    }
    let injected: HashMap<String, bool> = residents
        .iter()
        .filter(|r| r.inject_at_ms.is_some())
        .map(|r| (r.subject.clone(), r.per_second))
        .collect();
    let move_at_ms =
        (a.servers > 1).then(|| (a.move_after_s.unwrap_or(a.minutes * 20.0) * 1000.0) as u64);
    if let Some(at) = move_at_ms {
        println!(
            "{} servers; gateway g streams to server g % {}, and to the next one after {:.0} s (its batches relayed to the lease holder from then on); the nurse station watches on the last",
            a.servers,
            a.servers,
            at as f64 / 1000.0
        );
    }
    println!(
        "server on {url}; {} once-a-minute and {} 1 Hz residents over {} gateways for {:.1} min; pulse disappears in {} of them",
        a.minute_residents,
        a.second_residents,
        a.gateways,
        a.minutes,
        injected.len()
    );

    // The nurse station.
    let arrivals: Arc<Mutex<Vec<(pb::AlertEvent, Instant)>>> = Arc::default();
    let watch_url = urls[a.servers - 1].clone();
    let mut watch = VitalsServiceClient::new(channel(&watch_url)?)
        .watch(authed(
            &nurse,
            pb::WatchRequest {
                after_event_id: 0,
                subject_id: String::new(),
            },
        )?)
        .await?
        .into_inner();
    let station = {
        let arrivals = Arc::clone(&arrivals);
        tokio::spawn(async move {
            while let Some(Ok(e)) = watch.next().await {
                arrivals.lock().await.push((e, Instant::now()));
            }
        })
    };

    let shared = Arc::new(Shared::default());
    let t0 = Instant::now();
    let mut gateways = Vec::new();
    for (g, token) in device_tokens.iter().enumerate().take(a.gateways) {
        let mine: Vec<Resident> = residents
            .iter()
            .enumerate()
            .filter(|(i, _)| i % a.gateways == g)
            .map(|(_, r)| r.clone())
            .collect();
        let token = token.clone();
        // Where the gateway streams first, and after the move.
        let route = Route {
            first: urls[g % a.servers].clone(),
            then: move_at_ms.map(|at| (at, urls[(g + 1) % a.servers].clone())),
        };
        let shared = Arc::clone(&shared);
        gateways.push(tokio::spawn(async move {
            run_gateway(&route, &token, mine, t0, run_ms, shared, g as u64).await
        }));
    }
    for gw in gateways {
        gw.await??;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    station.abort();

    // Sample-to-alert latency of each injected resident's first raise.
    let sent = shared.sent.lock().map(|m| m.clone()).unwrap_or_default();
    let arrivals = arrivals.lock().await;
    let mut lat_min = Vec::new();
    let mut lat_sec = Vec::new();
    // Alerts confirmed by a batch sent after the gateways moved (relayed to the lease holder).
    let mut lat_relayed = Vec::new();
    let moved_at = move_at_ms.map(|ms| t0 + Duration::from_millis(ms));
    let mut false_alarms = 0;
    let mut raised_for: HashMap<String, usize> = HashMap::new();
    for (e, at) in arrivals.iter() {
        if e.change() != pb::AlertChange::Raised {
            continue;
        }
        let alert = e.alert.clone().unwrap_or_default();
        *raised_for.entry(alert.subject_id.clone()).or_default() += 1;
        let Some(per_second) = injected.get(&alert.subject_id) else {
            false_alarms += 1;
            continue;
        };
        // The confirming batch: the first no-pulse report of a once-a-minute sensor, the
        // eleventh (10 s of absence) of a 1 Hz one.
        let confirming = if *per_second { 10 } else { 0 };
        if let Some(s) = sent.get(&alert.subject_id).and_then(|v| v.get(confirming)) {
            let ms = at.duration_since(*s).as_secs_f64() * 1000.0;
            if moved_at.is_some_and(|m| *s >= m) {
                lat_relayed.push(ms);
            }
            if *per_second {
                lat_sec.push(ms);
            } else {
                lat_min.push(ms);
            }
        }
    }
    let missed = injected
        .keys()
        .filter(|s| !raised_for.contains_key(*s))
        .count();
    let duplicates = raised_for
        .iter()
        .filter(|(s, n)| injected.contains_key(*s) && **n > 1)
        .count();
    let mut all: Vec<f64> = lat_min.iter().chain(lat_sec.iter()).copied().collect();
    for v in [&mut lat_min, &mut lat_sec, &mut lat_relayed, &mut all] {
        v.sort_by(f64::total_cmp);
    }
    let mut acks = shared.ack_ms.lock().map(|v| v.clone()).unwrap_or_default();
    acks.sort_by(f64::total_cmp);
    let batches = shared.batches.load(Ordering::Relaxed);
    let samples = shared.samples.load(Ordering::Relaxed);
    println!(
        "ran {elapsed:.1} s: {batches} batches ({:.0}/s), {samples} samples stored ({:.0}/s), {} refused; {} monitors in the server",
        batches as f64 / elapsed,
        samples as f64 / elapsed,
        shared.refused.load(Ordering::Relaxed),
        servers
            .iter()
            .map(|s| s.state().vitals.subjects())
            .sum::<usize>()
    );
    println!("ack latency ms: {}", summary(&acks));
    println!(
        "sample-to-alert ms (send of the confirming batch -> raised on Watch): all {}; once-a-minute {}; 1 Hz {}",
        summary(&all),
        summary(&lat_min),
        summary(&lat_sec)
    );
    if move_at_ms.is_some() {
        println!(
            "  of them confirmed after the move (the batch relayed to the lease holder, the alert to the station's server): {}",
            summary(&lat_relayed)
        );
    }
    println!(
        "injected {}: missed {missed}, raised more than once {duplicates}; alerts on residents without injection: {false_alarms}",
        injected.len()
    );
    for server in servers {
        server.shutdown().await?;
    }
    drop(dirs);
    Ok(())
}

/// `PUT /<bucket>` over plain HTTP/1.1 to an S3-compatible `url` (`http://host:port`).
async fn create_bucket(url: &str, bucket: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = url
        .strip_prefix("http://")
        .context("--s3-url must be an http:// URL")?
        .trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(host).await?;
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await?;
    let status = String::from_utf8_lossy(&response);
    anyhow::ensure!(
        status.starts_with("HTTP/1.1 200"),
        "CreateBucket: {}",
        status.lines().next().unwrap_or("")
    );
    Ok(())
}

/// The server a gateway streams to, and the one it moves to (after ms from the start).
struct Route {
    first: String,
    then: Option<(u64, String)>,
}

/// One gateway's `IngestVitals` stream to `url`: where to send batches, and the task reading
/// the acknowledgements.
type GatewayStream = (
    tokio::sync::mpsc::Sender<pb::VitalsBatch>,
    tokio::task::JoinHandle<()>,
);

async fn open_stream(
    url: &str,
    token: &str,
    in_flight: &Arc<std::sync::Mutex<HashMap<u64, Instant>>>,
    shared: &Arc<Shared>,
) -> anyhow::Result<GatewayStream> {
    let mut client = VitalsServiceClient::new(channel(url)?);
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::VitalsBatch>(4096);
    let mut acks = client
        .ingest_vitals(authed(
            token,
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )?)
        .await?
        .into_inner();
    let reader = {
        let in_flight = Arc::clone(in_flight);
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            while let Some(Ok(ack)) = acks.next().await {
                let sent = in_flight
                    .lock()
                    .ok()
                    .and_then(|mut m| m.remove(&ack.batch_id));
                if let (Some(s), Ok(mut v)) = (sent, shared.ack_ms.lock()) {
                    v.push(s.elapsed().as_secs_f64() * 1000.0);
                }
                if ack.error.is_empty() {
                    shared
                        .samples
                        .fetch_add(u64::from(ack.accepted), Ordering::Relaxed);
                } else {
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    eprintln!("refused: {}", ack.error);
                }
            }
        })
    };
    Ok((tx, reader))
}

/// One gateway: every 100 ms, sends a batch for each of its residents that is due; moves to
/// another server when its route says so (the old stream ends once its batches are answered).
async fn run_gateway(
    route: &Route,
    token: &str,
    residents: Vec<Resident>,
    t0: Instant,
    run_ms: u64,
    shared: Arc<Shared>,
    seed: u64,
) -> anyhow::Result<()> {
    let in_flight: Arc<std::sync::Mutex<HashMap<u64, Instant>>> = Arc::default();
    let (mut tx, mut reader) = open_stream(&route.first, token, &in_flight, &shared).await?;
    let mut moved = false;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut id = 0u64;
    let mut slot = 0u64;
    loop {
        let slot_start = t0 + Duration::from_millis(slot * 100);
        tokio::time::sleep_until(slot_start.into()).await;
        let since = slot * 100;
        if since >= run_ms {
            break;
        }
        if let Some((at, next)) = &route.then
            && !moved
            && since >= *at
        {
            let (new_tx, new_reader) = open_stream(next, token, &in_flight, &shared).await?;
            drop(std::mem::replace(&mut tx, new_tx));
            let _ = std::mem::replace(&mut reader, new_reader).await;
            moved = true;
        }
        for r in &residents {
            let period = if r.per_second { 1000 } else { 60_000 };
            if since % period != r.phase_ms - r.phase_ms % 100 {
                continue;
            }
            let at = wall_ms();
            let no_pulse = r.inject_at_ms.is_some_and(|t| since >= t);
            let hr = if no_pulse {
                0.0
            } else {
                (r.hr + rng.random_range(-2.0..2.0_f64)).round()
            };
            let source = "bedside-1".to_owned();
            let sample = |v: Value| pb::VitalSample {
                measured_at: Some(ts(at)),
                source_device: source.clone(),
                value: Some(v),
            };
            let batch = pb::VitalsBatch {
                batch_id: id,
                subject_id: r.subject.clone(),
                samples: vec![
                    sample(Value::HeartRatePerMin(hr)),
                    sample(Value::RespiratoryRatePerMin(
                        (r.rr + rng.random_range(-1.0..1.0_f64)).round(),
                    )),
                    sample(Value::Spo2Percent(
                        (r.spo2 + rng.random_range(-0.6..0.6_f64))
                            .round()
                            .min(100.0),
                    )),
                ],
                sent_at: Some(ts(at)),
                expected_interval_seconds: if r.per_second { 1 } else { 60 },
            };
            let now = Instant::now();
            if no_pulse && let Ok(mut m) = shared.sent.lock() {
                m.entry(r.subject.clone()).or_default().push(now);
            }
            if let Ok(mut m) = in_flight.lock() {
                m.insert(id, now);
            }
            id += 1;
            shared.batches.fetch_add(1, Ordering::Relaxed);
            if tx.send(batch).await.is_err() {
                anyhow::bail!("the server ended a gateway stream");
            }
        }
        slot += 1;
    }
    drop(tx);
    let _ = reader.await;
    Ok(())
}

//! `auscult serve` (and the `auscult-server` binary): flags and `AUSCULT_*` environment variables
//! turned here, once, into a validated [`ServerConfig`], then the server run until a signal.
//!
//! Nothing else reads the environment. The operators' commands that talk to a running server are
//! not here: they are the `auscult` binary's, over `auscult-client`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::{S3Config, ServerConfig, TlsConfig};

/// Where `auscult serve` serves the web console unless told otherwise: loopback, so a fresh
/// install shows people's data to this machine only.
pub const DEFAULT_WEB_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8787,
));

/// `auscult serve` options; each also reads `AUSCULT_<NAME>` from the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A JSON configuration file; flags and environment override it.
    #[arg(long, env = "AUSCULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address.
    #[arg(long, env = "AUSCULT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory (SQLite database and local blobs).
    #[arg(long, env = "AUSCULT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`).
    #[arg(long, env = "AUSCULT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Analysis workers (0: one per core).
    #[arg(long, env = "AUSCULT_WORKERS")]
    pub workers: Option<usize>,
    /// Run the analysis engine at the same CPU priority as ingest (by default its threads run at
    /// `nice` 10, so a busy server queues analyses rather than slowing devices' acknowledgements).
    #[arg(long, env = "AUSCULT_ENGINE_NORMAL_PRIORITY")]
    pub engine_normal_priority: bool,
    /// Prometheus metrics listen address.
    #[arg(long, env = "AUSCULT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The clinicians' web console's listen address (default 127.0.0.1:8787; plain HTTP, so
    /// beyond loopback serve it behind a TLS-terminating proxy).
    #[arg(long, env = "AUSCULT_WEB_LISTEN", conflicts_with = "no_web")]
    pub web_listen: Option<SocketAddr>,
    /// Serve no web console.
    #[arg(long, env = "AUSCULT_NO_WEB")]
    pub no_web: bool,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "AUSCULT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, env = "AUSCULT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Do not serve gRPC server reflection (v1 and v1alpha); clients then need the `.proto` files.
    #[arg(long, env = "AUSCULT_NO_REFLECTION")]
    pub no_reflection: bool,
    /// S3 bucket for recordings (local files when absent).
    #[arg(long, env = "AUSCULT_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 endpoint URL (S3-compatible servers).
    #[arg(long, env = "AUSCULT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AUSCULT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(long, env = "AUSCULT_S3_ACCESS_KEY_ID", default_value = "")]
    pub s3_access_key_id: String,
    /// S3 secret access key.
    #[arg(
        long,
        env = "AUSCULT_S3_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub s3_secret_access_key: String,
    /// Allow plain HTTP to the S3 endpoint.
    #[arg(long, env = "AUSCULT_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// Largest gRPC message, bytes.
    #[arg(long, env = "AUSCULT_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Longest recording accepted, seconds.
    #[arg(long, env = "AUSCULT_MAX_RECORDING_SECONDS")]
    pub max_recording_seconds: Option<u32>,
    /// Buffered bytes per stream that trigger a durable commit.
    #[arg(long, env = "AUSCULT_FLUSH_BYTES")]
    pub flush_bytes: Option<usize>,
    /// Longest wait before received data is committed, milliseconds.
    #[arg(long, env = "AUSCULT_FLUSH_INTERVAL_MS")]
    pub flush_interval_ms: Option<u64>,
    /// How long an analysis job may stay claimed before another server takes it over,
    /// milliseconds (also how long a PostgreSQL-backed restart waits for a dead process's jobs).
    #[arg(long, env = "AUSCULT_JOB_LEASE_MS")]
    pub job_lease_ms: Option<u64>,
    /// Most signal a device may store per 24 hours, MiB (0: no quota).
    #[arg(long, env = "AUSCULT_DEVICE_QUOTA_MIB_PER_DAY")]
    pub device_quota_mib_per_day: Option<u64>,
    /// Days after its start when an upload that never completed is deleted (0: never).
    #[arg(long, env = "AUSCULT_ABANDONED_UPLOAD_DAYS")]
    pub abandoned_upload_days: Option<u32>,
    /// How often this server heartbeats its entry in the database's server registry,
    /// milliseconds (the same on every server sharing the database).
    #[arg(long, env = "AUSCULT_SERVER_HEARTBEAT_MS")]
    pub server_heartbeat_ms: Option<u64>,
    /// How long a call may wait for its client's next message before the server ends it,
    /// milliseconds (frees the upload of a device whose connection died silently).
    #[arg(long, env = "AUSCULT_STREAM_IDLE_TIMEOUT_MS")]
    pub stream_idle_timeout_ms: Option<u64>,
    /// How often a streaming call re-reads its token in the database, milliseconds (a token
    /// revoked by another server ends the stream within this interval).
    #[arg(long, env = "AUSCULT_TOKEN_RECHECK_MS")]
    pub token_recheck_ms: Option<u64>,
    /// Longest a unary call may run, milliseconds.
    #[arg(long, env = "AUSCULT_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Interval of the server's HTTP/2 pings, milliseconds.
    #[arg(long, env = "AUSCULT_HTTP2_KEEPALIVE_INTERVAL_MS")]
    pub http2_keepalive_interval_ms: Option<u64>,
    /// How long an HTTP/2 ping may go unanswered before the connection is closed, milliseconds.
    #[arg(long, env = "AUSCULT_HTTP2_KEEPALIVE_TIMEOUT_MS")]
    pub http2_keepalive_timeout_ms: Option<u64>,
    /// Idle time before TCP keepalive probes, milliseconds.
    #[arg(long, env = "AUSCULT_TCP_KEEPALIVE_MS")]
    pub tcp_keepalive_ms: Option<u64>,
    /// Most concurrent calls on one HTTP/2 connection.
    #[arg(long, env = "AUSCULT_MAX_CONCURRENT_STREAMS")]
    pub max_concurrent_streams: Option<u32>,
    /// How long a dormant vital-sign monitor stays in memory without a batch, milliseconds.
    #[arg(long, env = "AUSCULT_VITALS_IDLE_EVICT_MS")]
    pub vitals_idle_evict_ms: Option<u64>,
    /// How long a server's lease on a resident's vital-sign monitoring lasts unrenewed,
    /// milliseconds (another server takes the resident over after it).
    #[arg(long, env = "AUSCULT_VITALS_LEASE_MS")]
    pub vitals_lease_ms: Option<u64>,
    /// Attempts at delivering an alert event to a webhook before it is a dead letter.
    #[arg(long, env = "AUSCULT_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    /// Longest one webhook request may take, milliseconds.
    #[arg(long, env = "AUSCULT_WEBHOOK_TIMEOUT_MS")]
    pub webhook_timeout_ms: Option<u64>,
}

impl ServeArgs {
    /// The validated configuration: file, then environment and flags.
    pub fn to_config(&self) -> crate::Result<ServerConfig> {
        let mut c = match &self.config {
            Some(path) => ServerConfig::from_json_file(path)?,
            None => ServerConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = &self.data_dir {
            c.data_dir.clone_from(v);
        }
        if let Some(v) = &self.database_url {
            c.database_url = Some(v.clone());
        }
        if let Some(v) = self.workers {
            c.workers = v;
        }
        if self.engine_normal_priority {
            c.engine_low_priority = false;
        }
        if let Some(v) = self.metrics_listen {
            c.metrics_listen = Some(v);
        }
        c.web_listen = if self.no_web {
            None
        } else {
            Some(
                self.web_listen
                    .or(c.web_listen)
                    .unwrap_or(DEFAULT_WEB_LISTEN),
            )
        };
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if self.no_reflection {
            c.reflection = false;
        }
        if let Some(bucket) = &self.s3_bucket {
            c.s3 = Some(S3Config {
                bucket: bucket.clone(),
                region: self.s3_region.clone(),
                endpoint: self.s3_endpoint.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
            });
        }
        if let Some(v) = self.max_message_bytes {
            c.max_message_bytes = v;
        }
        if let Some(v) = self.max_recording_seconds {
            c.max_recording_seconds = v;
        }
        if let Some(v) = self.flush_bytes {
            c.flush_bytes = v;
        }
        if let Some(v) = self.job_lease_ms {
            c.job_lease_ms = v;
        }
        if let Some(v) = self.server_heartbeat_ms {
            c.server_heartbeat_ms = v;
        }
        if let Some(v) = self.flush_interval_ms {
            c.flush_interval_ms = v;
        }
        if let Some(v) = self.stream_idle_timeout_ms {
            c.stream_idle_timeout_ms = v;
        }
        if let Some(v) = self.token_recheck_ms {
            c.token_recheck_ms = v;
        }
        if let Some(v) = self.abandoned_upload_days {
            c.abandoned_upload_days = v;
        }
        if let Some(v) = self.device_quota_mib_per_day {
            c.device_quota_mib_per_day = v;
        }
        if let Some(v) = self.request_timeout_ms {
            c.request_timeout_ms = v;
        }
        if let Some(v) = self.http2_keepalive_interval_ms {
            c.http2_keepalive_interval_ms = v;
        }
        if let Some(v) = self.http2_keepalive_timeout_ms {
            c.http2_keepalive_timeout_ms = v;
        }
        if let Some(v) = self.tcp_keepalive_ms {
            c.tcp_keepalive_ms = v;
        }
        if let Some(v) = self.max_concurrent_streams {
            c.max_concurrent_streams = v;
        }
        if let Some(v) = self.vitals_idle_evict_ms {
            c.vitals_idle_evict_ms = v;
        }
        if let Some(v) = self.vitals_lease_ms {
            c.vitals_lease_ms = v;
        }
        if let Some(v) = self.webhook_max_attempts {
            c.webhook_max_attempts = v;
        }
        if let Some(v) = self.webhook_timeout_ms {
            c.webhook_timeout_ms = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs `auscult serve` until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(args: &ServeArgs) -> crate::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = args.to_config()?;
    let data_dir = config.data_dir.clone();
    let mut server = crate::start(config).await?;
    println!("listening on {}", server.addr);
    if let Some(addr) = server.metrics_addr {
        println!("metrics on http://{addr}/metrics");
    }
    if let Some(addr) = server.web_addr {
        println!("web console: http://{addr}/");
    }
    if let Some(token) = &server.bootstrap_token {
        let path = write_bootstrap_token(&data_dir, token)?;
        println!("bootstrap admin token file: {}", path.display());
    }
    println!("ready");
    tokio::select! {
        result = server.wait() => return result,
        () = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
}

/// The file, in the data directory, that receives the bootstrap administrator's token.
pub const BOOTSTRAP_TOKEN_FILE: &str = "bootstrap-admin.token";

/// Writes the bootstrap administrator's token to [`BOOTSTRAP_TOKEN_FILE`] in `data_dir`, readable
/// by the server's user alone (mode 0600 on Unix), and returns the file's path.
///
/// The token goes to a file and never to standard output, where logs, terminals and process
/// supervisors would keep it. The file is written under a temporary name, made durable, then
/// renamed over any earlier one, so a reader never sees a partial token and a file left with
/// looser permissions by someone else is replaced rather than reused.
pub fn write_bootstrap_token(data_dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    let path = data_dir.join(BOOTSTRAP_TOKEN_FILE);
    let staging = data_dir.join(format!("{BOOTSTRAP_TOKEN_FILE}.tmp"));
    match std::fs::remove_file(&staging) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&staging)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&staging, &path)?;
    #[cfg(unix)]
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(path)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

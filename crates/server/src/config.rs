//! Typed server configuration, validated once at start.
//!
//! Values come from flags and `AUSCULT_*` environment variables (see `serve`), optionally on top of
//! a JSON file; everything has a default that works with no configuration at all (SQLite and files
//! under `./auscult-data`). Nothing outside this module reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auscult_store::{BlobConfig, DbOptions};
use serde::Deserialize;

use crate::error::{Result, ServerError};

/// S3-compatible blob storage settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint URL of an S3-compatible server.
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain HTTP.
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// TLS certificate and key (PEM files).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Prometheus metrics listen address; `None` disables the endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// The clinicians' web console's listen address (plain HTTP; put a TLS-terminating proxy in
    /// front beyond loopback); `None` serves no console. `auscult serve` defaults it to
    /// [`crate::serve::DEFAULT_WEB_LISTEN`]; an embedding (or a test) opts in.
    pub web_listen: Option<SocketAddr>,
    /// Directory for the SQLite database and local blobs.
    pub data_dir: PathBuf,
    /// Database URL; default `sqlite://<data_dir>/auscult.db`.
    pub database_url: Option<String>,
    /// Maximum pooled database connections.
    pub db_max_connections: u32,
    /// S3 settings; local files under `<data_dir>/blobs` when absent.
    pub s3: Option<S3Config>,
    /// TLS; plain HTTP/2 when absent.
    pub tls: Option<TlsConfig>,
    /// Serve gRPC server reflection (`grpc.reflection.v1` and `v1alpha`), which lets tools such as
    /// grpcurl, Postman and Evans list and describe the services without the `.proto` files.
    pub reflection: bool,
    /// Analysis workers; 0 means one per core.
    pub workers: usize,
    /// Run the analysis engine's threads at a lower CPU priority (`nice` 10) than the threads
    /// that answer devices and people, so analyses queue instead of acknowledgements slowing.
    pub engine_low_priority: bool,
    /// Largest gRPC message accepted or sent, bytes.
    pub max_message_bytes: usize,
    /// Longest recording accepted, seconds.
    pub max_recording_seconds: u32,
    /// Buffered bytes per signal stream that trigger a durable commit.
    pub flush_bytes: usize,
    /// Longest time received data waits before a durable commit, milliseconds.
    pub flush_interval_ms: u64,
    /// Attempts at analysing a recording before giving up.
    pub job_max_attempts: u32,
    /// First retry delay, doubled on each further attempt, milliseconds.
    pub job_retry_base_ms: u64,
    /// How long a claimed job may run before another worker may take it over, milliseconds.
    pub job_lease_ms: u64,
    /// How often idle workers look for jobs, milliseconds.
    pub job_poll_ms: u64,
    /// Days after its start when an upload that never completed is deleted with its stored
    /// parts (audited as `upload.expired`); 0 keeps incomplete uploads forever. Devices keep a
    /// recording until its upload completes: one that resumes later sends it again in full.
    pub abandoned_upload_days: u32,
    /// Most signal a device may store in uploads started in the last 24 hours, MiB: a new upload
    /// beyond it is refused with `RESOURCE_EXHAUSTED` (resumes of started uploads are not); 0
    /// means no quota.
    pub device_quota_mib_per_day: u64,
    /// How often this server refreshes its entry in the database's server registry,
    /// milliseconds; a server silent for three intervals counts as gone. The same on every server
    /// of a fleet.
    pub server_heartbeat_ms: u64,
    /// Create a system administrator and print its token when none exists.
    pub bootstrap_admin: bool,
    /// How long a call may wait for its client's next message before the server ends it,
    /// milliseconds: a device whose connection died silently mid-upload frees its upload then.
    pub stream_idle_timeout_ms: u64,
    /// Longest a unary call may run before it ends with `DEADLINE_EXCEEDED`, milliseconds
    /// (streaming calls are bounded by the idle timeout instead).
    pub request_timeout_ms: u64,
    /// How often the server pings an HTTP/2 connection, milliseconds.
    pub http2_keepalive_interval_ms: u64,
    /// How long the server waits for a ping's answer before closing the connection, milliseconds.
    pub http2_keepalive_timeout_ms: u64,
    /// Idle time before TCP keepalive probes on accepted connections, milliseconds.
    pub tcp_keepalive_ms: u64,
    /// Most concurrent HTTP/2 streams (calls) on one connection; a client queues the rest.
    pub max_concurrent_streams: u32,
    /// How long a subject's vital-sign monitor stays in memory without a batch once it is
    /// dormant (every sensor silent with its alert raised, no alert timer running),
    /// milliseconds; then it is evicted and rebuilt from storage when data comes again.
    pub vitals_idle_evict_ms: u64,
    /// How long a server's lease on a resident's monitoring lasts without renewal,
    /// milliseconds (renewed every third of it): when a server dies, another takes its residents
    /// over within about this time.
    pub vitals_lease_ms: u64,
    /// How often a streaming call re-reads its token in the database, milliseconds: a token
    /// revoked by another server sharing the database ends the stream within this interval
    /// (revocations through this server end it at once).
    pub token_recheck_ms: u64,
    /// Attempts at delivering an alert event to a webhook before it becomes a dead letter.
    pub webhook_max_attempts: u32,
    /// Wait after a webhook's first failed attempt, milliseconds; doubled after each further
    /// one (with jitter), up to `webhook_retry_max_ms`.
    pub webhook_retry_base_ms: u64,
    /// Longest wait between two attempts of a webhook delivery, milliseconds.
    pub webhook_retry_max_ms: u64,
    /// Longest one webhook request may take (connecting, sending, the answer's headers),
    /// milliseconds. A claimed delivery's lease is twice this plus 5 s.
    pub webhook_timeout_ms: u64,
    /// Most webhook requests this server has in flight at once (at most one per webhook).
    pub webhook_concurrency: usize,
    /// How often the deliverer looks for due deliveries (retries, other servers' events),
    /// milliseconds; this server's own events wake it at once.
    pub webhook_poll_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: None,
            web_listen: None,
            data_dir: PathBuf::from("auscult-data"),
            database_url: None,
            db_max_connections: 8,
            s3: None,
            tls: None,
            reflection: true,
            workers: 0,
            engine_low_priority: true,
            max_message_bytes: 4 * 1024 * 1024,
            max_recording_seconds: 600,
            flush_bytes: 256 * 1024,
            flush_interval_ms: 1000,
            job_max_attempts: 3,
            job_retry_base_ms: 2000,
            job_lease_ms: 300_000,
            job_poll_ms: 500,
            abandoned_upload_days: 30,
            // About 400 ten-minute recordings of 4 kHz PCG with ECG a day.
            device_quota_mib_per_day: 4096,
            server_heartbeat_ms: 5000,
            bootstrap_admin: true,
            stream_idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
            http2_keepalive_interval_ms: 30_000,
            http2_keepalive_timeout_ms: 20_000,
            tcp_keepalive_ms: 60_000,
            // Protects memory from one connection opening thousands of uploads; an HTTP/2 load
            // balancer that reaches it opens another connection.
            max_concurrent_streams: 256,
            vitals_idle_evict_ms: 3_600_000,
            vitals_lease_ms: 15_000,
            token_recheck_ms: 30_000,
            // Attempts over roughly 12 to 22 hours: 10 s, 20 s, 40 s, ... then every 30 to 60 min.
            webhook_max_attempts: 30,
            webhook_retry_base_ms: 10_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_timeout_ms: 10_000,
            webhook_concurrency: 16,
            webhook_poll_ms: 1_000,
        }
    }
}

impl ServerConfig {
    /// Reads a JSON configuration file (any field may be left out).
    pub fn from_json_file(path: &std::path::Path) -> Result<ServerConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("reading {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }

    /// Checks every value, returning the first problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(ServerError::Config(m.to_owned()));
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.max_message_bytes) {
            return bad("max_message_bytes must be between 64 KiB and 64 MiB");
        }
        if !(1..=3600).contains(&self.max_recording_seconds) {
            return bad("max_recording_seconds must be between 1 and 3600");
        }
        if self.flush_bytes == 0 || self.flush_bytes > 64 * 1024 * 1024 {
            return bad("flush_bytes must be between 1 byte and 64 MiB");
        }
        if self.job_max_attempts == 0 {
            return bad("job_max_attempts must be at least 1");
        }
        if self.job_lease_ms < 1000 {
            return bad("job_lease_ms must be at least 1000");
        }
        if self.job_poll_ms == 0 {
            return bad("job_poll_ms must be positive");
        }
        if self.abandoned_upload_days > 3650 {
            return bad("abandoned_upload_days must be at most 3650 (0 keeps incomplete uploads)");
        }
        if !(100..=600_000).contains(&self.server_heartbeat_ms) {
            return bad("server_heartbeat_ms must be between 100 ms and 10 minutes");
        }
        for (name, ms) in [
            ("stream_idle_timeout_ms", self.stream_idle_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "http2_keepalive_interval_ms",
                self.http2_keepalive_interval_ms,
            ),
            (
                "http2_keepalive_timeout_ms",
                self.http2_keepalive_timeout_ms,
            ),
            ("tcp_keepalive_ms", self.tcp_keepalive_ms),
            ("token_recheck_ms", self.token_recheck_ms),
        ] {
            if !(100..=86_400_000).contains(&ms) {
                return Err(ServerError::Config(format!(
                    "{name} must be between 100 ms and a day"
                )));
            }
        }
        if !(600..=600_000).contains(&self.vitals_lease_ms) {
            return bad("vitals_lease_ms must be between 600 ms and 10 minutes");
        }
        if !(100..=7 * 86_400_000).contains(&self.vitals_idle_evict_ms) {
            return bad("vitals_idle_evict_ms must be between 100 ms and 7 days");
        }
        if !(1..=1000).contains(&self.webhook_max_attempts) {
            return bad("webhook_max_attempts must be between 1 and 1000");
        }
        if !(10..=86_400_000).contains(&self.webhook_retry_base_ms)
            || self.webhook_retry_max_ms < self.webhook_retry_base_ms
            || self.webhook_retry_max_ms > 7 * 86_400_000
        {
            return bad(
                "webhook_retry_base_ms must be between 10 ms and a day, and webhook_retry_max_ms \
                 between it and 7 days",
            );
        }
        if !(100..=300_000).contains(&self.webhook_timeout_ms) {
            return bad("webhook_timeout_ms must be between 100 ms and 5 minutes");
        }
        if !(1..=1024).contains(&self.webhook_concurrency) {
            return bad("webhook_concurrency must be between 1 and 1024");
        }
        if !(10..=600_000).contains(&self.webhook_poll_ms) {
            return bad("webhook_poll_ms must be between 10 ms and 10 minutes");
        }
        if self.max_concurrent_streams == 0 {
            return bad("max_concurrent_streams must be positive");
        }
        if self.db_max_connections == 0 {
            return bad("db_max_connections must be positive");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres:")
                || url.starts_with("postgresql:"))
        {
            return bad("database_url must start with sqlite: or postgres:");
        }
        if let Some(s3) = &self.s3
            && s3.bucket.is_empty()
        {
            return bad("s3.bucket must not be empty");
        }
        Ok(())
    }

    /// Analysis workers to run.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }
    }

    /// Database options.
    pub fn db_options(&self) -> DbOptions {
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("auscult.db").display()
            )
        });
        DbOptions {
            url,
            max_connections: self.db_max_connections,
        }
    }

    /// Blob store options.
    pub fn blob_config(&self) -> BlobConfig {
        match &self.s3 {
            Some(s3) => BlobConfig::S3 {
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                endpoint: s3.endpoint.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.clone(),
                allow_http: s3.allow_http,
            },
            None => BlobConfig::Local {
                root: self.data_dir.join("blobs"),
            },
        }
    }

    /// The flush interval.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// How long a call may wait for its client's next message.
    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.stream_idle_timeout_ms)
    }

    /// How often a streaming call re-reads its token in the database.
    pub fn token_recheck(&self) -> Duration {
        Duration::from_millis(self.token_recheck_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_caught() {
        assert!(ServerConfig::default().validate().is_ok());
        let tiny_messages = ServerConfig {
            max_message_bytes: 10,
            ..ServerConfig::default()
        };
        assert!(tiny_messages.validate().is_err());
        let unknown_database = ServerConfig {
            database_url: Some("mysql://x".into()),
            ..ServerConfig::default()
        };
        assert!(unknown_database.validate().is_err());
        let no_idle_timeout = ServerConfig {
            stream_idle_timeout_ms: 0,
            ..ServerConfig::default()
        };
        assert!(no_idle_timeout.validate().is_err());
        let no_streams = ServerConfig {
            max_concurrent_streams: 0,
            ..ServerConfig::default()
        };
        assert!(no_streams.validate().is_err());
    }

    #[test]
    fn json_file_overrides_some_fields() {
        let c: ServerConfig =
            serde_json::from_str(r#"{"workers": 3, "listen": "0.0.0.0:9000"}"#).expect("parses");
        assert_eq!(c.workers, 3);
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.flush_bytes, ServerConfig::default().flush_bytes);
        assert!(serde_json::from_str::<ServerConfig>(r#"{"wokers": 3}"#).is_err());
    }
}

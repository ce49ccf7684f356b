//! The `auscult serve` command and the operators' subcommands, which talk to a server over gRPC.
//!
//! Flags and `AUSCULT_*` environment variables are turned here, once, into a validated
//! [`ServerConfig`]; nothing else reads the environment. Tokens are read from `--token` or
//! `AUSCULT_TOKEN` and never printed except the one a command just created.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use auscult_proto::v1 as pb;
use auscult_proto::v1::admin_service_client::AdminServiceClient;
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_proto::v1::review_service_client::ReviewServiceClient;
use clap::{Args, Subcommand, ValueEnum};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::config::{S3Config, ServerConfig, TlsConfig};

/// The server's subcommands, flattened into the `auscult` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (zero configuration: SQLite and files under ./auscult-data).
    Serve(Box<ServeArgs>),
    /// Manage tenants (system administrator).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Register a device and print its token (shown once).
    RegisterDevice {
        /// Device serial or label.
        name: String,
        /// Tenant id (required for a system administrator).
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Add a user with a role and print its token (shown once).
    AddUser {
        /// Display name.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Tenant id (required for a system administrator).
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Rotate a principal's token (prints the new one) or revoke all of them.
    Token {
        /// The principal.
        principal: String,
        /// Revoke instead of rotating.
        #[arg(long)]
        revoke: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Clinicians' work: list, show, review, export cases.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Check-up programmes: the report.
    #[command(subcommand)]
    Program(ProgramCommand),
    /// FHIR R4 export of a programme or one resident.
    #[command(subcommand)]
    Fhir(FhirCommand),
}

/// Programme subcommands.
#[derive(Debug, Subcommand)]
pub enum ProgramCommand {
    /// Print a programme's report (counts, or RFC 4180 CSV with `--csv`).
    Report {
        /// The programme id.
        program: String,
        /// Print the report as CSV.
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        conn: Connection,
    },
}

/// FHIR subcommands.
#[derive(Debug, Subcommand)]
pub enum FhirCommand {
    /// Write a programme's (or one resident's) FHIR R4 collection Bundle as JSON.
    Export {
        /// The programme id.
        #[arg(long)]
        program: String,
        /// Only this resident.
        #[arg(long)]
        resident: Option<String>,
        /// Base of the entries' fullUrl (default https://auscult.invalid/fhir).
        #[arg(long, default_value = "")]
        base_url: String,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Where the server is and who we are.
#[derive(Debug, Args)]
pub struct Connection {
    /// Server URL.
    #[arg(long, env = "AUSCULT_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Bearer token.
    #[arg(long, env = "AUSCULT_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Tenant subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Name.
        name: String,
        /// Kind.
        #[arg(long, value_enum, default_value = "clinic")]
        kind: TenantKindArg,
        #[command(flatten)]
        conn: Connection,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        conn: Connection,
    },
}

/// Case subcommands.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// The worklist, highest priority first.
    List {
        /// Only flagged, unreviewed or reviewed cases.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only this subject.
        #[arg(long)]
        subject: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        conn: Connection,
    },
    /// One case with its analysis and reviews.
    Show {
        /// Case id.
        case: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Record a decision.
    Review {
        /// Case id.
        case: String,
        /// Agree or disagree with the engine.
        #[arg(long, value_enum)]
        verdict: VerdictArg,
        /// Findings.
        #[arg(long, default_value = "")]
        findings: String,
        /// Refer the subject.
        #[arg(long)]
        refer: bool,
        /// Ask for a new recording.
        #[arg(long)]
        rerecord: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Export the PCG as a WAV file.
    ExportWav {
        /// Case id.
        case: String,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
    /// Export the recording as a WFDB record (.hea, .dat, .seg) into a directory.
    ExportWfdb {
        /// Case id.
        case: String,
        /// Output directory (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
    /// The audit trail (of one case, or of the tenant).
    Audit {
        /// Case id.
        case: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Roles on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(missing_docs)]
pub enum RoleArg {
    Admin,
    Clinician,
    Nurse,
    ProgramStaff,
}

/// Tenant kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(missing_docs)]
pub enum TenantKindArg {
    Municipality,
    Clinic,
    Other,
}

/// Worklist filters on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(missing_docs)]
pub enum StatusArg {
    Flagged,
    Unreviewed,
    Reviewed,
}

/// Verdicts on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(missing_docs)]
pub enum VerdictArg {
    Agree,
    Disagree,
}

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
    /// Prometheus metrics listen address.
    #[arg(long, env = "AUSCULT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "AUSCULT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, env = "AUSCULT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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
        if let Some(v) = self.metrics_listen {
            c.metrics_listen = Some(v);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
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
        if let Some(v) = self.flush_interval_ms {
            c.flush_interval_ms = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs `auscult serve` until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = args.to_config()?;
    let mut server = crate::start(config).await?;
    println!("listening on {}", server.addr);
    if let Some(addr) = server.metrics_addr {
        println!("metrics on http://{addr}/metrics");
    }
    if let Some(token) = &server.bootstrap_token {
        println!("bootstrap admin token (shown once): {token}");
    }
    println!("ready");
    tokio::select! {
        result = server.wait() => return result.context("server stopped"),
        () = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
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

async fn channel(conn: &Connection) -> anyhow::Result<Channel> {
    Channel::from_shared(conn.server.clone())
        .context("invalid server URL")?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", conn.server))
}

fn authed<T>(conn: &Connection, message: T) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {}", conn.token)
        .parse()
        .context("token is not valid ASCII")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

fn print_principal(p: &pb::PrincipalWithToken) {
    if let Some(principal) = &p.principal {
        println!("principal {}", principal.principal_id);
    }
    println!("token (shown once): {}", p.token);
}

/// Runs one of the server's subcommands.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(&args).await,
        Command::Tenant(TenantCommand::Create { name, kind, conn }) => {
            let kind = match kind {
                TenantKindArg::Municipality => pb::TenantKind::Municipality,
                TenantKindArg::Clinic => pb::TenantKind::Clinic,
                TenantKindArg::Other => pb::TenantKind::Other,
            };
            let mut client = AdminServiceClient::new(channel(&conn).await?);
            let t = client
                .create_tenant(authed(
                    &conn,
                    pb::CreateTenantRequest {
                        name,
                        kind: kind as i32,
                    },
                )?)
                .await?
                .into_inner();
            println!("tenant {} {}", t.tenant_id, t.name);
            Ok(())
        }
        Command::Tenant(TenantCommand::List { conn }) => {
            let mut client = AdminServiceClient::new(channel(&conn).await?);
            for t in client
                .list_tenants(authed(&conn, pb::ListTenantsRequest {})?)
                .await?
                .into_inner()
                .tenants
            {
                println!("{}\t{}", t.tenant_id, t.name);
            }
            Ok(())
        }
        Command::RegisterDevice { name, tenant, conn } => {
            let mut client = AdminServiceClient::new(channel(&conn).await?);
            let p = client
                .register_device(authed(
                    &conn,
                    pb::RegisterDeviceRequest {
                        tenant_id: tenant,
                        name,
                    },
                )?)
                .await?
                .into_inner();
            print_principal(&p);
            Ok(())
        }
        Command::AddUser {
            name,
            role,
            tenant,
            conn,
        } => {
            let role = match role {
                RoleArg::Admin => pb::Role::Admin,
                RoleArg::Clinician => pb::Role::Clinician,
                RoleArg::Nurse => pb::Role::Nurse,
                RoleArg::ProgramStaff => pb::Role::ProgramStaff,
            };
            let mut client = AdminServiceClient::new(channel(&conn).await?);
            let p = client
                .create_user(authed(
                    &conn,
                    pb::CreateUserRequest {
                        tenant_id: tenant,
                        name,
                        role: role as i32,
                    },
                )?)
                .await?
                .into_inner();
            print_principal(&p);
            Ok(())
        }
        Command::Token {
            principal,
            revoke,
            conn,
        } => {
            let mut client = AdminServiceClient::new(channel(&conn).await?);
            if revoke {
                let r = client
                    .revoke_tokens(authed(
                        &conn,
                        pb::RevokeTokensRequest {
                            principal_id: principal,
                        },
                    )?)
                    .await?
                    .into_inner();
                println!("revoked {} token(s)", r.revoked);
            } else {
                let p = client
                    .rotate_token(authed(
                        &conn,
                        pb::RotateTokenRequest {
                            principal_id: principal,
                        },
                    )?)
                    .await?
                    .into_inner();
                print_principal(&p);
            }
            Ok(())
        }
        Command::Case(command) => run_case(command).await,
        Command::Program(command) => run_program(command).await,
        Command::Fhir(command) => run_fhir(command).await,
    }
}

async fn run_case(command: CaseCommand) -> anyhow::Result<()> {
    match command {
        CaseCommand::List {
            status,
            subject,
            limit,
            conn,
        } => {
            let status = match status {
                None => pb::CaseStatusFilter::Unspecified,
                Some(StatusArg::Flagged) => pb::CaseStatusFilter::Flagged,
                Some(StatusArg::Unreviewed) => pb::CaseStatusFilter::Unreviewed,
                Some(StatusArg::Reviewed) => pb::CaseStatusFilter::Reviewed,
            };
            let mut client = ReviewServiceClient::new(channel(&conn).await?);
            let request = pb::ListCasesRequest {
                status: status as i32,
                subject_id: subject.unwrap_or_default(),
                page_size: limit,
                ..Default::default()
            };
            let response = client
                .list_cases(authed(&conn, request)?)
                .await?
                .into_inner();
            println!("case_id\tpriority\tflagged\tmurmur\tanalysis\treviews\tsubject");
            for c in response.cases {
                println!(
                    "{}\t{}\t{}\t{:?}\t{:?}\t{}\t{}",
                    c.case_id,
                    c.priority,
                    c.flagged,
                    c.murmur_status(),
                    c.analysis_state(),
                    c.review_count,
                    c.subject_id
                );
            }
            Ok(())
        }
        CaseCommand::Show { case, conn } => {
            let mut client = ReviewServiceClient::new(channel(&conn).await?);
            let c = client
                .get_case(authed(&conn, pb::GetCaseRequest { case_id: case })?)
                .await?
                .into_inner();
            println!("{c:#?}");
            Ok(())
        }
        CaseCommand::Review {
            case,
            verdict,
            findings,
            refer,
            rerecord,
            conn,
        } => {
            let verdict = match verdict {
                VerdictArg::Agree => pb::Verdict::Agree,
                VerdictArg::Disagree => pb::Verdict::Disagree,
            };
            let mut client = ReviewServiceClient::new(channel(&conn).await?);
            let request = pb::SubmitReviewRequest {
                case_id: case,
                verdict: verdict as i32,
                findings,
                refer,
                request_rerecording: rerecord,
            };
            let r = client
                .submit_review(authed(&conn, request)?)
                .await?
                .into_inner();
            println!("review {}", r.review_id);
            Ok(())
        }
        CaseCommand::ExportWav { case, out, conn } => {
            let mut client = ReviewServiceClient::new(channel(&conn).await?);
            let request = pb::GetAudioRequest {
                case_id: case,
                format: pb::AudioFormat::Wav as i32,
                include_ecg: false,
            };
            let mut stream = client
                .get_audio(authed(&conn, request)?)
                .await?
                .into_inner();
            let mut wav = Vec::new();
            while let Some(chunk) = stream.message().await? {
                if let Some(pb::audio_chunk::Kind::Data(d)) = chunk.kind
                    && d.stream() == pb::SignalStream::Pcg
                {
                    wav.extend_from_slice(&d.data);
                }
            }
            if wav.is_empty() {
                bail!("the server sent no audio");
            }
            std::fs::write(&out, &wav).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} bytes to {}", wav.len(), out.display());
            Ok(())
        }
        CaseCommand::ExportWfdb { case, out, conn } => {
            let mut client = programs_client(channel(&conn).await?);
            let request = pb::ExportRecordingWfdbRequest { recording_id: case };
            let record = client
                .export_recording_wfdb(authed(&conn, request)?)
                .await?
                .into_inner();
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for f in &record.files {
                // The server names the files; keep only the final component all the same.
                let name = std::path::Path::new(&f.name)
                    .file_name()
                    .context("the server sent a file without a name")?;
                let path = out.join(name);
                std::fs::write(&path, &f.data)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        CaseCommand::Audit { case, conn } => {
            let mut client = ReviewServiceClient::new(channel(&conn).await?);
            let request = pb::ListAuditEventsRequest {
                case_id: case.unwrap_or_default(),
                page_size: 500,
                page_token: String::new(),
            };
            for e in client
                .list_audit_events(authed(&conn, request)?)
                .await?
                .into_inner()
                .events
            {
                let at = e.at.map(|t| t.seconds).unwrap_or_default();
                println!(
                    "{at}\t{}\t{:?}\t{}\t{}",
                    e.actor_id,
                    e.actor_role(),
                    e.action,
                    e.case_id
                );
            }
            Ok(())
        }
    }
}

fn programs_client(ch: Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch).max_decoding_message_size(64 * 1024 * 1024)
}

async fn run_program(command: ProgramCommand) -> anyhow::Result<()> {
    match command {
        ProgramCommand::Report { program, csv, conn } => {
            let mut client = programs_client(channel(&conn).await?);
            let request = pb::GetProgramReportRequest {
                program_id: program,
            };
            let report = client
                .get_program_report(authed(&conn, request)?)
                .await?
                .into_inner();
            if csv {
                print!("{}", report.csv);
                return Ok(());
            }
            let line = |label: &str, c: &pb::ReportCounts| {
                println!(
                    "{label}\tenrolled {}\tattended {}\tflagged {}\treferred {}\tawaiting review {}\tvisits {}",
                    c.enrolled, c.attended, c.flagged, c.referred, c.awaiting_review, c.visits
                );
            };
            if let Some(t) = &report.totals {
                line(&report.name, t);
            }
            for s in &report.sites {
                if let Some(c) = &s.counts {
                    line(&format!("  site {}", s.name), c);
                }
            }
            Ok(())
        }
    }
}

async fn run_fhir(command: FhirCommand) -> anyhow::Result<()> {
    match command {
        FhirCommand::Export {
            program,
            resident,
            base_url,
            out,
            conn,
        } => {
            let mut client = programs_client(channel(&conn).await?);
            let mut stream = match resident {
                Some(resident_id) => {
                    let request = pb::ExportResidentFhirRequest {
                        program_id: program,
                        resident_id,
                        base_url,
                    };
                    client.export_resident_fhir(authed(&conn, request)?).await?
                }
                None => {
                    let request = pb::ExportProgramFhirRequest {
                        program_id: program,
                        base_url,
                    };
                    client.export_program_fhir(authed(&conn, request)?).await?
                }
            }
            .into_inner();
            let mut bundle = Vec::new();
            while let Some(chunk) = stream.message().await? {
                bundle.extend_from_slice(&chunk.data);
            }
            std::fs::write(&out, &bundle).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} bytes to {}", bundle.len(), out.display());
            Ok(())
        }
    }
}

/// Runs one of the server's subcommands on a fresh multi-threaded runtime, for synchronous `main`s.
pub fn run_blocking(command: Command) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(command))
}

//! The operators' commands: `tenant`, `register-device`, `add-user`, `token` (and `token list`),
//! `webhook add|list|remove|dead-letters|replay`, `case ...`,
//! `program report|labs|questionnaire-link`, `fhir export`. Each parses into a typed command here, makes its call through
//! `auscult-client` and prints what `auscult_client::render` words.
//!
//! Times print in the local zone (set `TZ` to choose another), ISO 8601 with the offset. Tokens
//! come from `--token-file` or `AUSCULT_TOKEN`, never from the command line (where every user of
//! the machine sees them), and are never printed except one a command just created.

use std::path::PathBuf;

use anyhow::Context;
use auscult_client::{Client, pb, render};
use chrono::Local;
use clap::{Args, Subcommand, ValueEnum};

/// The commands that talk to a running server, flattened into `auscult`.
#[derive(Debug, Subcommand)]
pub enum Command {
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
        lifetime: Lifetime,
        #[command(flatten)]
        conn: Connection,
    },
    /// Add a user with a role and print its token (shown once); with `--username` and
    /// `--password-stdin` the person can also sign in to the web console.
    AddUser {
        /// Display name.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Tenant id (required for a system administrator).
        #[arg(long, default_value = "")]
        tenant: String,
        /// The web console username (3 to 64 characters of a-z, 0-9, '.', '_', '-'); needs
        /// --password-stdin.
        #[arg(long, requires = "password_stdin")]
        username: Option<String>,
        /// Read the web console password (at least 12 characters) from the first line of
        /// standard input. There is no `--password`: the command line is seen by every user of
        /// the machine.
        #[arg(long, requires = "username")]
        password_stdin: bool,
        #[command(flatten)]
        lifetime: Lifetime,
        #[command(flatten)]
        conn: Connection,
    },
    /// Rotate a principal's token (prints the new one) or revoke all of them (which also ends
    /// the streams open with them); `token list` shows tokens, never their secrets.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Token {
        /// The principal.
        #[arg(required = true)]
        principal: Option<String>,
        /// Revoke instead of rotating.
        #[arg(long, conflicts_with = "lifetime")]
        revoke: bool,
        #[command(flatten)]
        lifetime: Lifetime,
        #[command(flatten)]
        conn: Connection,
        #[command(subcommand)]
        list: Option<TokenCommand>,
    },
    /// Outbound alert webhooks of a tenant (administrators): add (prints the signing secret, once),
    /// list, remove; the dead-letter list and replaying one.
    #[command(subcommand)]
    Webhook(WebhookCommand),
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

/// Where the server is and who we are.
#[derive(Debug, Args)]
pub struct Connection {
    /// Server URL.
    #[arg(long, env = "AUSCULT_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// A file holding the bearer token (e.g. the bootstrap administrator's token file); without
    /// it the token is read from the AUSCULT_TOKEN environment variable. There is no `--token`:
    /// a token on the command line is seen by every user of the machine and kept in shell history.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

/// The environment variable that holds the bearer token.
const TOKEN_ENV: &str = "AUSCULT_TOKEN";

impl Connection {
    async fn client(&self) -> anyhow::Result<Client> {
        let token = self.token()?;
        Ok(Client::connect(&self.server, &token).await?)
    }

    /// The bearer token: the one in `--token-file` when given, else `AUSCULT_TOKEN`.
    fn token(&self) -> anyhow::Result<String> {
        let token = match &self.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the token file {}", path.display()))?;
                let token = text.trim();
                if token.is_empty() || token.contains(char::is_whitespace) {
                    anyhow::bail!(
                        "the token file {} must hold one token and nothing else",
                        path.display()
                    );
                }
                token.to_owned()
            }
            None => std::env::var(TOKEN_ENV)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        if token.is_empty() {
            anyhow::bail!("no token: set {TOKEN_ENV} or pass --token-file PATH");
        }
        Ok(token)
    }
}

/// The first line of standard input, without its line ending: a password piped in (never a
/// command-line argument).
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("--password-stdin: standard input held no password");
    }
    Ok(password)
}

/// How long a new token lives.
#[derive(Debug, Args)]
pub struct Lifetime {
    /// Days until the new token expires (default: 30 for administrators, 90 for other people,
    /// never for devices).
    #[arg(long = "lifetime-days", id = "lifetime", value_name = "DAYS",
          value_parser = clap::value_parser!(u64).range(1..=3660))]
    days: Option<u64>,
}

impl Lifetime {
    fn seconds(&self) -> Option<u64> {
        self.days.map(|d| d * 24 * 60 * 60)
    }
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List tokens (ids, owner, created, expires, revoked; never a secret) of one principal or,
    /// with `--tenant`, of a tenant (an administrator's own tenant when neither is given).
    List {
        /// Only this principal's tokens.
        #[arg(long, conflicts_with = "tenant")]
        principal: Option<String>,
        /// Tenant id (a system administrator must give it, or `--principal`).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
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

/// Webhook subcommands. `--tenant` is required of a system administrator; a tenant
/// administrator's own tenant is the default.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook: alert events are POSTed to URL (https; plain http only to loopback),
    /// signed with the secret printed here once.
    Add {
        /// The receiver's URL.
        url: String,
        /// Tenant id.
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the tenant's webhooks (never a secret).
    List {
        /// Tenant id.
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Remove a webhook: no further events; deliveries not yet made are cancelled.
    Remove {
        /// The webhook id.
        webhook: String,
        /// Tenant id.
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Deliveries that failed every attempt, newest first.
    DeadLetters {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Tenant id.
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Send a dead letter again (same idempotency key and body, attempts reset).
    Replay {
        /// The delivery id (from `webhook dead-letters`).
        delivery: String,
        /// Tenant id.
        #[arg(long, default_value = "")]
        tenant: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Case subcommands.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// The worklist, most urgent first, with why each case is there.
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
    /// One case: subject, site, time, the engine's findings in words, the reviews.
    Show {
        /// Case id.
        case: String,
        /// One JSON object instead; its `analysis` is the result contract.
        #[arg(long)]
        json: bool,
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
    /// The audit trail (of one case, or of the tenant), newest first.
    Audit {
        /// Case id.
        case: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
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
    /// Enrol the residents of a town hall's roster (CSV: UTF-8 or Shift_JIS; 氏名/name and
    /// 生年月日/date of birth required; address, phone, resident number, gender optional).
    /// Prints every row: enrolled, already enrolled (left alone) or refused with its reason.
    /// Run with `--dry-run` first: it stores nothing.
    Import {
        /// The programme id.
        program: String,
        /// The roster file.
        #[arg(long)]
        csv: PathBuf,
        /// Who recorded the residents' consent.
        #[arg(long)]
        consent_recorded_by: String,
        /// The consent document's version, e.g. 2026-04.
        #[arg(long)]
        consent_document: String,
        /// What the residents consented to.
        #[arg(long, default_value = "checkup,auscultation,fhir-export")]
        consent_scope: String,
        /// When consent was given, YYYY-MM-DD (default: today).
        #[arg(long)]
        consent_date: Option<String>,
        /// Show what would happen; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Record a visit's point-of-care blood results (each replaces the visit's earlier result of
    /// the same analyte) and print them classified, with the proposed outcome and why.
    Labs {
        /// The visit id.
        #[arg(long)]
        visit: String,
        /// HbA1c, NGSP %.
        #[arg(long, value_name = "PERCENT")]
        hba1c: Option<f64>,
        /// Glucose, mg/dL.
        #[arg(long, value_name = "MG_PER_DL")]
        glucose: Option<f64>,
        /// Total cholesterol, mg/dL.
        #[arg(long, value_name = "MG_PER_DL")]
        total_cholesterol: Option<f64>,
        /// HDL cholesterol, mg/dL.
        #[arg(long, value_name = "MG_PER_DL")]
        hdl: Option<f64>,
        /// Triglycerides, mg/dL.
        #[arg(long, value_name = "MG_PER_DL")]
        triglycerides: Option<f64>,
        /// The sample was taken fasting (10 h or more without food).
        #[arg(long)]
        fasting: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Make a visit's questionnaire link for its resident (web 問診): prints the URL and a QR
    /// code to show on a phone; usable once, replaces the visit's earlier links.
    QuestionnaireLink {
        /// The visit id.
        visit: String,
        /// The web console's public address, e.g. https://checkup.example.jp
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        web_url: String,
        /// How long the link works, hours (at most 720).
        #[arg(long, default_value_t = 72)]
        hours: u32,
        /// Also write the QR code as an SVG file (to print).
        #[arg(long)]
        qr_svg: Option<PathBuf>,
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

/// Roles on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Tenant administrator.
    Admin,
    /// Reads and reviews cases.
    Clinician,
    /// Reads cases, listens to recordings.
    Nurse,
    /// Runs check-up programmes.
    ProgramStaff,
}

/// Tenant kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TenantKindArg {
    /// A municipality running check-up programmes.
    Municipality,
    /// A clinic.
    Clinic,
    /// Anything else.
    Other,
}

/// Worklist filters on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Flagged and not yet reviewed.
    Flagged,
    /// Not yet reviewed.
    Unreviewed,
    /// Reviewed at least once.
    Reviewed,
}

/// Verdicts on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VerdictArg {
    /// Agree with the engine.
    Agree,
    /// Disagree with the engine.
    Disagree,
}

/// Runs one operator's command on a fresh runtime.
pub fn run_blocking(command: Command) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(command))
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let tz = Local;
    match command {
        Command::Tenant(TenantCommand::Create { name, kind, conn }) => {
            let kind = match kind {
                TenantKindArg::Municipality => pb::TenantKind::Municipality,
                TenantKindArg::Clinic => pb::TenantKind::Clinic,
                TenantKindArg::Other => pb::TenantKind::Other,
            };
            let t = conn.client().await?.create_tenant(&name, kind).await?;
            print!("{}", render::tenant(&t));
        }
        Command::Tenant(TenantCommand::List { conn }) => {
            let tenants = conn.client().await?.list_tenants().await?;
            print!("{}", render::tenants(&tenants, &tz));
        }
        Command::RegisterDevice {
            name,
            tenant,
            lifetime,
            conn,
        } => {
            let p = conn
                .client()
                .await?
                .register_device(&tenant, &name, lifetime.seconds())
                .await?;
            print!("{}", render::principal_with_token(&p));
        }
        Command::AddUser {
            name,
            role,
            tenant,
            username,
            password_stdin,
            lifetime,
            conn,
        } => {
            let shown_username = username.clone().filter(|_| password_stdin);
            let web_login = match username {
                Some(username) if password_stdin => Some(pb::WebLogin {
                    username,
                    password: password_from_stdin()?,
                }),
                _ => None,
            };
            let role = match role {
                RoleArg::Admin => pb::Role::Admin,
                RoleArg::Clinician => pb::Role::Clinician,
                RoleArg::Nurse => pb::Role::Nurse,
                RoleArg::ProgramStaff => pb::Role::ProgramStaff,
            };
            let p = conn
                .client()
                .await?
                .create_user(&tenant, &name, role, lifetime.seconds(), web_login)
                .await?;
            print!("{}", render::principal_with_token(&p));
            if let Some(username) = shown_username {
                println!("web console sign-in: {username}");
            }
        }
        Command::Token {
            list:
                Some(TokenCommand::List {
                    principal,
                    tenant,
                    conn,
                }),
            ..
        } => {
            let tokens = conn
                .client()
                .await?
                .list_tokens(
                    principal.as_deref().unwrap_or_default(),
                    tenant.as_deref().unwrap_or_default(),
                )
                .await?;
            print!("{}", render::tokens(&tokens, &tz));
        }
        Command::Token {
            principal,
            revoke,
            lifetime,
            conn,
            list: None,
        } => {
            let principal = principal.unwrap_or_default();
            let client = conn.client().await?;
            if revoke {
                let n = client.revoke_tokens(&principal).await?;
                println!("revoked {n} token(s) of {principal}");
            } else {
                let p = client.rotate_token(&principal, lifetime.seconds()).await?;
                print!("{}", render::principal_with_token(&p));
            }
        }
        Command::Webhook(command) => run_webhook(command, &tz).await?,
        Command::Case(command) => run_case(command, &tz).await?,
        Command::Program(ProgramCommand::Report { program, csv, conn }) => {
            let report = conn.client().await?.program_report(&program).await?;
            if csv {
                print!("{}", report.csv);
            } else {
                print!("{}", render::program_report(&report, &tz));
            }
        }
        Command::Program(ProgramCommand::Import {
            program,
            csv,
            consent_recorded_by,
            consent_document,
            consent_scope,
            consent_date,
            dry_run,
            conn,
        }) => {
            let bytes = std::fs::read(&csv)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", csv.display()))?;
            let given_at = match consent_date {
                None => std::time::SystemTime::now(),
                Some(d) => {
                    let day = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .map_err(|_| anyhow::anyhow!("--consent-date must be YYYY-MM-DD"))?;
                    let secs = day
                        .and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc().timestamp())
                        .and_then(|s| u64::try_from(s).ok())
                        .ok_or_else(|| anyhow::anyhow!("--consent-date is out of range"))?;
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
                }
            };
            let consent = auscult_client::Client::consent(
                consent_recorded_by,
                given_at,
                consent_document,
                consent_scope,
            );
            let reply = conn
                .client()
                .await?
                .import_residents(&program, bytes, consent, dry_run)
                .await?;
            print!("{}", render::import_report(&reply));
        }
        Command::Program(ProgramCommand::Labs {
            visit,
            hba1c,
            glucose,
            total_cholesterol,
            hdl,
            triglycerides,
            fasting,
            conn,
        }) => {
            // The units are these flags' own: each flag documents the one it takes.
            let results: Vec<pb::LabResultInput> = [
                (hba1c, pb::LabAnalyte::Hba1c, "%"),
                (glucose, pb::LabAnalyte::Glucose, "mg/dL"),
                (total_cholesterol, pb::LabAnalyte::TotalCholesterol, "mg/dL"),
                (hdl, pb::LabAnalyte::HdlCholesterol, "mg/dL"),
                (triglycerides, pb::LabAnalyte::Triglycerides, "mg/dL"),
            ]
            .into_iter()
            .filter_map(|(value, analyte, unit)| {
                value.map(|value| pb::LabResultInput {
                    analyte: analyte as i32,
                    value,
                    unit: unit.to_owned(),
                    measured_at: None,
                    fasting,
                })
            })
            .collect();
            if results.is_empty() {
                anyhow::bail!(
                    "give at least one of --hba1c, --glucose, --total-cholesterol, --hdl, --triglycerides"
                );
            }
            let v = conn
                .client()
                .await?
                .record_lab_results(&visit, results)
                .await?;
            print!("{}", render::visit_labs(&v, &tz));
        }
        Command::Program(ProgramCommand::QuestionnaireLink {
            visit,
            web_url,
            hours,
            qr_svg,
            conn,
        }) => {
            let seconds = hours
                .checked_mul(3600)
                .filter(|s| *s > 0)
                .ok_or_else(|| anyhow::anyhow!("--hours must be 1 to 720"))?;
            let link = conn
                .client()
                .await?
                .questionnaire_link(&visit, seconds)
                .await?;
            let url = format!("{}{}", web_url.trim_end_matches('/'), link.path);
            let code = qrcode::QrCode::new(url.as_bytes())?;
            println!("{url}");
            println!(
                "works once, until {}",
                auscult_client::time::iso8601(link.expires_at.as_ref(), &tz)
            );
            println!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            );
            if let Some(path) = qr_svg {
                let svg = code
                    .render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(256, 256)
                    .build();
                write_file(&path, svg.as_bytes())?;
                println!("wrote the QR code to {}", path.display());
            }
        }
        Command::Fhir(FhirCommand::Export {
            program,
            resident,
            base_url,
            out,
            conn,
        }) => {
            let bundle = conn
                .client()
                .await?
                .fhir_bundle(&program, resident.as_deref(), &base_url)
                .await?;
            write_file(&out, &bundle)?;
            println!("wrote {} bytes to {}", bundle.len(), out.display());
        }
    }
    Ok(())
}

async fn run_webhook(command: WebhookCommand, tz: &Local) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add { url, tenant, conn } => {
            let created = conn.client().await?.create_webhook(&tenant, &url).await?;
            print!("{}", render::webhook_created(&created));
        }
        WebhookCommand::List { tenant, conn } => {
            let hooks = conn.client().await?.list_webhooks(&tenant).await?;
            print!("{}", render::webhooks(&hooks, tz));
        }
        WebhookCommand::Remove {
            webhook,
            tenant,
            conn,
        } => {
            conn.client()
                .await?
                .delete_webhook(&tenant, &webhook)
                .await?;
            println!("removed webhook {webhook}");
        }
        WebhookCommand::DeadLetters {
            limit,
            tenant,
            conn,
        } => {
            let dead = conn.client().await?.dead_letters(&tenant, limit).await?;
            print!("{}", render::dead_letters(&dead, tz));
        }
        WebhookCommand::Replay {
            delivery,
            tenant,
            conn,
        } => {
            conn.client()
                .await?
                .replay_dead_letter(&tenant, &delivery)
                .await?;
            println!("replaying delivery {delivery}");
        }
    }
    Ok(())
}

async fn run_case(command: CaseCommand, tz: &Local) -> anyhow::Result<()> {
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
            let request = pb::ListCasesRequest {
                status: status as i32,
                subject_id: subject.unwrap_or_default(),
                page_size: limit,
                ..Default::default()
            };
            let page = conn.client().await?.list_cases(request).await?;
            print!("{}", render::case_list(&page.cases, tz));
            if !page.next_page_token.is_empty() {
                println!("(more cases: raise --limit)");
            }
        }
        CaseCommand::Show { case, json, conn } => {
            let case = conn.client().await?.get_case(&case).await?;
            if json {
                let value = serde_json::to_string(&render::case_json(&case, tz))
                    .context("writing the case as JSON")?;
                println!("{value}");
            } else {
                print!("{}", render::case_text(&case, tz));
            }
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
            let request = pb::SubmitReviewRequest {
                case_id: case,
                verdict: verdict as i32,
                findings,
                refer,
                request_rerecording: rerecord,
            };
            let r = conn.client().await?.submit_review(request).await?;
            println!("review {} of case {}", r.review_id, r.case_id);
        }
        CaseCommand::ExportWav { case, out, conn } => {
            let wav = conn.client().await?.pcg_wav(&case).await?;
            write_file(&out, &wav)?;
            println!("wrote {} bytes to {}", wav.len(), out.display());
        }
        CaseCommand::ExportWfdb { case, out, conn } => {
            let files = conn.client().await?.wfdb_record(&case).await?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for f in &files {
                let path = out.join(&f.name);
                write_file(&path, &f.data)?;
                println!("wrote {}", path.display());
            }
        }
        CaseCommand::Audit { case, conn } => {
            let events = conn.client().await?.audit_events(case.as_deref()).await?;
            print!("{}", render::audit(&events, tz));
        }
    }
    Ok(())
}

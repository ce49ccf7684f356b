//! The auscult gRPC server: thin glue between devices, clinicians, the store and the engine.
//!
//! Devices stream recordings to [`ingest`]; workers ([`worker`]) run the `dsp` engine on complete
//! uploads; clinicians use [`review`] (gRPC) or the [`web`] console, both through [`cases`];
//! administrators use [`admin`]; alert events go out to tenants' receivers through [`webhooks`].
//! Architecture invariants: only
//! this crate sees protobuf types; it holds no SQL (that is `auscult-store`) and no signal
//! processing (that is `auscult-dsp`); every handler authenticates first and scopes every store
//! call to the caller's tenant; logs carry ids, never subject data.

pub mod admin;
pub mod auth;
pub mod cases;
pub mod config;
pub mod convert;
pub mod engine_pool;
pub mod error;
pub mod family;
pub mod fleet;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod parts;
pub mod passwords;
pub mod programs;
pub mod review;
pub mod samples;
pub mod serve;
pub mod state;
pub mod transport;
pub mod vitals;
pub mod web;
pub mod webhooks;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use auscult_proto::v1::admin_service_server::AdminServiceServer;
use auscult_proto::v1::ingest_service_server::IngestServiceServer;
use auscult_proto::v1::program_service_server::ProgramServiceServer;
use auscult_proto::v1::review_service_server::ReviewServiceServer;
use auscult_proto::v1::vitals_service_server::VitalsServiceServer;
use auscult_store::{Store, now_ms};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic_health::pb::health_server::{Health, HealthServer};

pub use config::ServerConfig;
pub use error::{Result, ServerError};

use crate::auth::{Role, mint_token};
use crate::state::AppState;

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    /// The gRPC address actually bound.
    pub addr: SocketAddr,
    /// The metrics address actually bound, when enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The web console's address actually bound, when enabled.
    pub web_addr: Option<SocketAddr>,
    /// The bootstrap administrator's token, when this start created it.
    pub bootstrap_token: Option<String>,
    /// This server's id in the database's server registry.
    pub server_id: String,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    serve: JoinHandle<std::result::Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// Stops accepting calls, lets running calls and the current analyses finish, removes this
    /// server from the registry, closes storage.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let served = self.serve.await;
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.state.store.deregister_server(&self.server_id).await {
            tracing::error!(server_id = %self.server_id, error = %e, "removing this server from the registry failed");
        }
        self.state.store.close().await;
        match served {
            Ok(result) => result.map_err(ServerError::from),
            Err(_) => Err(ServerError::Internal("server task panicked".into())),
        }
    }

    /// Resolves when the server stops by itself (a transport failure).
    pub async fn wait(&mut self) -> Result<()> {
        match (&mut self.serve).await {
            Ok(result) => result.map_err(ServerError::from),
            Err(_) => Err(ServerError::Internal("server task panicked".into())),
        }
    }

    /// The shared state, for tests and embedding.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }
}

/// Validates the configuration, opens storage, binds the listeners, registers this server in the
/// database's server registry (refusing to start when it may not run beside a live one), recovers
/// interrupted jobs, creates the bootstrap administrator if there is none, starts workers and
/// serves gRPC (with health, reflection and gRPC-Web) on the configured address.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let server_id = fleet::server_id(&config.data_dir)?;
    let store = Store::open(&config.db_options(), &config.blob_config()).await?;
    let tls = tls_config(&config)?;
    let listeners = Listeners::bind(&config).await?;
    let started_at_ms = now_ms();
    fleet::register(&store, &config, &server_id, listeners.addr, started_at_ms).await?;
    let state = AppState::new(store, config)?;
    match start_registered(&state, &server_id, started_at_ms, tls, listeners).await {
        Ok(started) => Ok(started),
        Err(e) => {
            // Leave no live-looking entry behind for a server that never served.
            if let Err(d) = state.store.deregister_server(&server_id).await {
                tracing::error!(error = %d, "removing this server from the registry failed");
            }
            state.store.close().await;
            Err(e)
        }
    }
}

/// The rest of [`start`], once this server is registered.
async fn start_registered(
    state: &Arc<AppState>,
    server_id: &str,
    started_at_ms: i64,
    tls: Option<ServerTlsConfig>,
    listeners: Listeners,
) -> Result<RunningServer> {
    let addr = listeners.addr;
    let metrics_addr = listeners.metrics_addr;
    let web_addr = listeners.web_addr;
    if let Some(warning) = exposure_warning(addr, tls.is_some()) {
        tracing::warn!(%addr, "{warning}");
    }
    if let Some(web) = web_addr.filter(|a| !is_loopback(*a)) {
        tracing::warn!(
            %web,
            "the web console listens beyond loopback in plain HTTP: serve it behind a \
             TLS-terminating proxy (its session cookies are Secure and a browser only sends \
             them over HTTPS)"
        );
    }
    let workers = state.config.worker_count();
    let max_message = state.config.max_message_bytes;
    let lease_ms = i64::try_from(state.config.job_lease_ms).unwrap_or(i64::MAX);
    worker::recover(state, now_ms().saturating_sub(lease_ms), true).await?;
    let bootstrap_token = bootstrap_admin(&state.store, &state.config).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    state.vitals.join_fleet(server_id);
    let mut tasks = spawn_background(state, workers, listeners.metrics, &shutdown_rx).await?;
    tasks.extend(live::join_fleet(state, server_id, shutdown_rx.clone()).await?);
    if let (Some(listener), Some(web_at)) = (listeners.web, web_addr) {
        tasks.push(web::serve(
            Arc::clone(state),
            listener,
            web_at,
            shutdown_rx.clone(),
        ));
    }
    tasks.push(tokio::spawn(fleet::run_heartbeat(
        Arc::clone(state),
        server_id.to_owned(),
        addr,
        started_at_ms,
        shutdown_rx.clone(),
    )));
    let serve = serve_grpc(state, &shutdown_rx, max_message, tls, listeners.grpc).await?;
    tracing::info!(%addr, workers, %server_id, "auscult server listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        web_addr,
        bootstrap_token,
        server_id: server_id.to_owned(),
        state: Arc::clone(state),
        shutdown: shutdown_tx,
        tasks,
        serve,
    })
}

/// The warning due when gRPC is served in plaintext on an address other machines can reach
/// (anything but loopback): bearer tokens and recordings would cross the network unencrypted.
pub fn exposure_warning(addr: SocketAddr, tls: bool) -> Option<String> {
    if tls || is_loopback(addr) {
        return None;
    }
    Some(format!(
        "gRPC listens on {addr}, beyond loopback, without TLS: bearer tokens and recordings cross \
         the network unencrypted; configure --tls-cert/--tls-key or listen on 127.0.0.1 behind \
         a TLS-terminating proxy"
    ))
}

/// Whether `addr` is a loopback address (IPv4-mapped IPv6 included): only this machine reaches it.
pub fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// Creates the bootstrap administrator when configured and there is no system administrator yet
/// (exactly one, even when several servers start at once); returns its token, which is shown once.
async fn bootstrap_admin(store: &Store, config: &ServerConfig) -> Result<Option<String>> {
    if !config.bootstrap_admin {
        return Ok(None);
    }
    let minted = mint_token();
    let created = store
        .create_first_system_principal(
            &auscult_store::audit::Actor::SYSTEM,
            "bootstrap-admin",
            Role::Admin.as_str(),
            // The bootstrap administrator's token does not expire: it is how an operator gets
            // back in when every other administrator's token has.
            minted.stored(None),
            now_ms(),
        )
        .await?;
    Ok(created.map(|_| minted.token))
}

/// The TLS identity read from the configured PEM files, when TLS is on.
fn tls_config(config: &ServerConfig) -> Result<Option<ServerTlsConfig>> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let cert = std::fs::read(&tls.cert)?;
    let key = std::fs::read(&tls.key)?;
    Ok(Some(
        ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
    ))
}

/// The bound gRPC and (optional) metrics listeners with the addresses actually bound.
struct Listeners {
    grpc: tonic::transport::server::TcpIncoming,
    addr: SocketAddr,
    metrics: Option<TcpListener>,
    metrics_addr: Option<SocketAddr>,
    web: Option<TcpListener>,
    web_addr: Option<SocketAddr>,
}

impl Listeners {
    async fn bind(config: &ServerConfig) -> Result<Listeners> {
        let grpc = TcpListener::bind(config.listen).await?;
        let addr = grpc.local_addr()?;
        let grpc = transport::incoming(grpc, config);
        let metrics = match config.metrics_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let metrics_addr = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
        let web = match config.web_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let web_addr = web.as_ref().map(TcpListener::local_addr).transpose()?;
        Ok(Listeners {
            grpc,
            addr,
            metrics,
            metrics_addr,
            web,
            web_addr,
        })
    }
}

/// Starts the analysis workers, recovers the vitals monitors and starts the vitals ticker, the
/// webhook deliverer, the job recovery, the orphan-blob sweep and (when bound) the metrics responder.
async fn spawn_background(
    state: &Arc<AppState>,
    workers: usize,
    metrics_listener: Option<TcpListener>,
    shutdown_rx: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for i in 0..workers {
        let worker_id = format!("{}-{i}", uuid::Uuid::new_v4().simple());
        tasks.push(tokio::spawn(worker::run_worker(
            Arc::clone(state),
            worker_id,
            shutdown_rx.clone(),
        )));
    }
    state.vitals.recover().await?;
    tasks.push(tokio::spawn(vitals::run_ticker(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(vitals::run_leases(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(worker::run_recovery(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(webhooks::run_deliveries(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(sweep_orphan_blobs(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(worker::run_upload_expiry(
        Arc::clone(state),
        shutdown_rx.clone(),
    )));
    if let Some(listener) = metrics_listener {
        tasks.push(tokio::spawn(metrics::serve(
            Arc::clone(state),
            listener,
            shutdown_rx.clone(),
        )));
    }
    Ok(tasks)
}

/// The health service, with every auscult service reported as serving.
async fn health_service() -> HealthServer<impl Health> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<IngestServiceServer<ingest::IngestApi>>()
        .await;
    health_reporter
        .set_serving::<ReviewServiceServer<review::ReviewApi>>()
        .await;
    health_reporter
        .set_serving::<AdminServiceServer<admin::AdminApi>>()
        .await;
    health_reporter
        .set_serving::<ProgramServiceServer<programs::ProgramApi>>()
        .await;
    health_reporter
        .set_serving::<VitalsServiceServer<vitals::VitalsApi>>()
        .await;
    health_service
}

/// gRPC server reflection as `grpc.reflection.v1` and as `grpc.reflection.v1alpha` (which older
/// grpcurl, Postman and Evans still call), each describing the auscult services, health and both
/// reflection services.
fn reflection_services() -> Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(auscult_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
    };
    let failed =
        |e: tonic_reflection::server::Error| ServerError::Internal(format!("reflection: {e}"));
    Ok((
        builder().build_v1().map_err(failed)?,
        builder().build_v1alpha().map_err(failed)?,
    ))
}

/// Builds the router (gRPC-Web, health, reflection unless switched off, and the five services,
/// each bounded to `max_message` bytes) and serves it on `listener` until shutdown.
async fn serve_grpc(
    state: &Arc<AppState>,
    shutdown_rx: &watch::Receiver<bool>,
    max_message: usize,
    tls: Option<ServerTlsConfig>,
    listener: tonic::transport::server::TcpIncoming,
) -> Result<JoinHandle<std::result::Result<(), tonic::transport::Error>>> {
    let health_service = health_service().await;
    let (reflection_v1, reflection_v1alpha) = if state.config.reflection {
        let (v1, v1alpha) = reflection_services()?;
        (Some(v1), Some(v1alpha))
    } else {
        (None, None)
    };

    let ingest = IngestServiceServer::new(ingest::IngestApi::new(Arc::clone(state)))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let review = ReviewServiceServer::new(review::ReviewApi::new(Arc::clone(state)))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let vitals_api = VitalsServiceServer::new(vitals::VitalsApi::new(
        Arc::clone(state),
        shutdown_rx.clone(),
    ))
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let admin = AdminServiceServer::new(admin::AdminApi::new(Arc::clone(state)))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let programs_api = ProgramServiceServer::new(programs::ProgramApi::new(Arc::clone(state)))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);

    let mut builder = transport::server_builder(&state.config);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let router = builder
        .accept_http1(true)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(transport::CallLimitsLayer::new(&state.config)?)
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(ingest)
        .add_service(review)
        .add_service(admin)
        .add_service(programs_api)
        .add_service(vitals_api);
    let mut rx = shutdown_rx.clone();
    Ok(tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(listener, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    }))
}

/// How old a recording blob with no committed row must be before the sweep deletes it: far
/// longer than any write-then-commit of an upload takes (milliseconds), so only blobs that a
/// crash or a lost commit race left behind are ever removed.
pub const ORPHAN_BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// How often the orphan sweep runs after the one at start.
const ORPHAN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Deletes orphaned recording blobs at start and then every [`ORPHAN_SWEEP_EVERY`].
async fn sweep_orphan_blobs(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let grace_ms = i64::try_from(ORPHAN_BLOB_GRACE.as_millis()).unwrap_or(i64::MAX);
    loop {
        match state.store.sweep_orphan_blobs(now_ms() - grace_ms).await {
            Ok(r) if r.deleted + r.staging_deleted > 0 => tracing::warn!(
                examined = r.examined,
                deleted = r.deleted,
                staging_deleted = r.staging_deleted,
                "deleted orphaned recording blobs left by an interrupted write"
            ),
            Ok(r) => tracing::debug!(examined = r.examined, young = r.young, "orphan sweep"),
            Err(e) => tracing::error!(error = %e, "orphan blob sweep failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(ORPHAN_SWEEP_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exposure_warning;

    #[test]
    fn only_plaintext_beyond_loopback_is_warned_about() {
        let addr = |s: &str| s.parse().expect("a socket address");
        for exposed in [
            "0.0.0.0:50051",
            "[::]:50051",
            "10.1.2.3:1",
            "[::ffff:10.0.0.1]:1",
        ] {
            assert!(
                exposure_warning(addr(exposed), false).is_some(),
                "{exposed}"
            );
            assert!(exposure_warning(addr(exposed), true).is_none(), "{exposed}");
        }
        for local in [
            "127.0.0.1:50051",
            "127.9.9.9:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(exposure_warning(addr(local), false).is_none(), "{local}");
        }
    }
}

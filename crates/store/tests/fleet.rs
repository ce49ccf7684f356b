//! What several servers on one database rely on, against SQLite and (when
//! `AUSCULT_TEST_POSTGRES_URL` is set) a fresh PostgreSQL database: jobs are only claimed with
//! attempts left, a worker's lease extension keeps its job from being taken over, a job whose
//! lease ran out on its last attempt is failed (and its case shown failed) instead of requeued
//! forever; the server registry refuses local blobs beside a live server and ignores stale
//! entries; concurrent starts create exactly one bootstrap administrator.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewPrincipal, NewToken};
use auscult_store::jobs::{AnalysisOutcome, Exhausted, Recovered, job_state};
use auscult_store::servers::{BlobBackend, ServerEntry};
use auscult_store::{Backend, DbOptions, Store, StoreError, now_ms};
use auscult_store::{CaseId, DeviceId, TenantId};
use common::{complete_case, open};

const EXHAUSTED: Exhausted<'static> = Exhausted {
    error: "interrupted on every attempt",
    priority: 1050,
};

/// A tenant with a device, for cases.
async fn tenant_and_device(store: &Store, now: i64) -> (TenantId, DeviceId) {
    let t = store
        .create_tenant(&Actor::SYSTEM, "t", "clinic", now)
        .await
        .unwrap();
    let dev = store
        .create_principal(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "dev",
                role: "device",
            },
            NewToken {
                id: "tok-dev",
                secret_sha256: &[1; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    (t.id, DeviceId::new(dev.id.into_string()))
}

async fn jobs_run_out_of_attempts(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let (tenant, device) = tenant_and_device(&store, now_ms()).await;
    let case = CaseId::new(complete_case(&store, &tenant, &device, "u1", now_ms(), 0).await);
    // Jobs are ready from their completion on: claim a little later.
    let now = now_ms() + 1000;
    let max = 2;

    // A worker that extends its lease keeps the job: recovery with a cutoff after the claim but
    // before the extension leaves it running.
    let first = store.claim_job("w1", now, max).await.unwrap().unwrap();
    assert_eq!(first.attempts, 1);
    assert!(store.extend_lease(&first, "w1", now + 5000).await.unwrap());
    let row = store
        .job_of_recording(&tenant, &case)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.locked_at_ms, Some(now + 5000));
    assert_eq!(
        store
            .recover_jobs(now + 1000, false, max, EXHAUSTED)
            .await
            .unwrap(),
        Recovered::default(),
        "an extended lease is not taken over"
    );

    // Its lease runs out (the server died): put back, attempts left; the old holder lost it.
    assert_eq!(
        store
            .recover_jobs(now + 6000, false, max, EXHAUSTED)
            .await
            .unwrap(),
        Recovered {
            requeued: 1,
            failed: 0
        }
    );
    assert!(!store.extend_lease(&first, "w1", now + 6000).await.unwrap());
    let second = store
        .claim_job("w2", now + 6000, max)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempts, 2);
    assert!(
        store
            .claim_job("w3", now + 6000, max)
            .await
            .unwrap()
            .is_none()
    );

    // The last attempt's lease runs out too: failed for good, the case shows why.
    assert_eq!(
        store
            .recover_jobs(now + 20_000, false, max, EXHAUSTED)
            .await
            .unwrap(),
        Recovered {
            requeued: 0,
            failed: 1
        }
    );
    let job = store
        .job_of_recording(&tenant, &case)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, job_state::FAILED);
    assert_eq!(job.last_error.as_deref(), Some(EXHAUSTED.error));
    let rec = store.get_recording(&tenant, &case).await.unwrap().unwrap();
    assert_eq!(rec.analysis_state, "failed");
    assert_eq!(rec.analysis_error.as_deref(), Some(EXHAUSTED.error));
    assert_eq!(rec.priority, EXHAUSTED.priority);
    assert!(
        store
            .claim_job("w4", now + 30_000, max)
            .await
            .unwrap()
            .is_none(),
        "a failed job is never claimed again"
    );
    assert_eq!(
        store
            .recover_jobs(now + 60_000, false, max, EXHAUSTED)
            .await
            .unwrap(),
        Recovered::default(),
        "nor requeued"
    );
    let outcome = AnalysisOutcome {
        analysis_json: "{}".into(),
        flagged: false,
        murmur_status: "absent".into(),
        heart_rate_bpm: None,
        priority: 0,
    };
    assert!(
        !store
            .finish_job(&second, "w2", &outcome, now + 60_000)
            .await
            .unwrap(),
        "the late worker cannot finish a failed job"
    );

    // A queued job with no attempts left (the limit was lowered) is not claimed but failed.
    let other = CaseId::new(complete_case(&store, &tenant, &device, "u2", now_ms(), 0).await);
    let now = now_ms() + 1000;
    let job = store.claim_job("w5", now, 3).await.unwrap().unwrap();
    assert_eq!(job.recording_id, other);
    store
        .fail_job(&job, "w5", "storage hiccup", Some(now), 1050)
        .await
        .unwrap();
    assert!(store.claim_job("w6", now, 1).await.unwrap().is_none());
    assert_eq!(
        store.recover_jobs(now, false, 1, EXHAUSTED).await.unwrap(),
        Recovered {
            requeued: 0,
            failed: 1
        }
    );
    let rec = store.get_recording(&tenant, &other).await.unwrap().unwrap();
    assert_eq!(rec.analysis_state, "failed");
    store.close().await;
}

#[tokio::test]
async fn jobs_run_out_of_attempts_sqlite() {
    jobs_run_out_of_attempts(false).await;
}

#[tokio::test]
async fn jobs_run_out_of_attempts_postgres() {
    jobs_run_out_of_attempts(true).await;
}

fn entry(id: &str, backend: BlobBackend, heartbeat_at_ms: i64) -> ServerEntry {
    ServerEntry {
        id: id.into(),
        started_at_ms: heartbeat_at_ms,
        heartbeat_at_ms,
        blob_backend: backend,
        address: format!("127.0.0.1:{}", 5000 + id.len()),
    }
}

fn refused(result: Result<(), StoreError>) -> String {
    match result {
        Err(StoreError::ServerRefused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn server_registry(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let live_after = now - 15_000;
    let local_a = entry("local-a", BlobBackend::Local, now);
    store.register_server(&local_a, live_after).await.unwrap();

    // Local blobs beside a live server: refused, naming the other server and the remedy.
    let why = refused(
        store
            .register_server(&entry("local-b", BlobBackend::Local, now), live_after)
            .await,
    );
    assert!(why.contains("local-a") && why.contains("S3"), "{why}");
    let why = refused(
        store
            .register_server(&entry("s3-c", BlobBackend::S3, now), live_after)
            .await,
    );
    assert!(why.contains("local-a"), "{why}");

    // The same installation restarting (its old entry still fresh after a crash) replaces it.
    store
        .register_server(&entry("local-a", BlobBackend::Local, now + 10), live_after)
        .await
        .unwrap();
    assert!(store.heartbeat_server("local-a", now + 20).await.unwrap());
    assert_eq!(store.list_servers().await.unwrap().len(), 1);

    // Once its heartbeat is older than the liveness window it is ignored, and pruned.
    let later = now + 60_000;
    store
        .register_server(&entry("local-b", BlobBackend::Local, later), later - 15_000)
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["local-b"]);
    assert!(
        !store.heartbeat_server("local-a", later).await.unwrap(),
        "a pruned server learns it is gone"
    );

    // A graceful shutdown removes the entry.
    store.deregister_server("local-b").await.unwrap();
    assert!(store.list_servers().await.unwrap().is_empty());

    // S3 servers share PostgreSQL; SQLite serves one process whatever its blobs.
    store
        .register_server(&entry("s3-x", BlobBackend::S3, later), later - 15_000)
        .await
        .unwrap();
    let second = store
        .register_server(&entry("s3-y", BlobBackend::S3, later), later - 15_000)
        .await;
    match store.backend() {
        Backend::Postgres => {
            second.unwrap();
            let why = refused(
                store
                    .register_server(&entry("local-z", BlobBackend::Local, later), later - 15_000)
                    .await,
            );
            assert!(why.contains("s3-"), "{why}");
        }
        Backend::Sqlite => {
            let why = refused(second);
            assert!(why.contains("s3-x") && why.contains("SQLite"), "{why}");
        }
    }
    store.close().await;
}

#[tokio::test]
async fn server_registry_sqlite() {
    server_registry(false).await;
}

#[tokio::test]
async fn server_registry_postgres() {
    server_registry(true).await;
}

/// Replicas starting together (each with its own pool, as separate processes have) race to
/// create the bootstrap administrator: exactly one does.
async fn one_bootstrap_admin(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(dir.path(), postgres).await else {
        return;
    };
    let blobs = common::local_blobs(dir.path());
    let db = DbOptions {
        url,
        max_connections: 2,
    };
    // Migrate once, so the race is the bootstrap's, not the migrations'.
    Store::open(&db, &blobs).await.unwrap().close().await;
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(Store::open(&db, &blobs).await.unwrap());
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        let barrier = std::sync::Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .create_first_system_principal(
                    &Actor::SYSTEM,
                    "bootstrap-admin",
                    "admin",
                    NewToken {
                        id: &format!("tok-{i}"),
                        secret_sha256: &[2; 32],
                        expires_at_ms: None,
                    },
                    now_ms(),
                )
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(created, 1, "exactly one bootstrap administrator");
    assert!(stores[0].has_system_principal("admin").await.unwrap());
    let row = sqlx::query("SELECT COUNT(*) AS n FROM principals WHERE tenant_id IS NULL")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    let n: i64 = sqlx::Row::try_get(&row, "n").unwrap();
    assert_eq!(n, 1);
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_bootstrap_admin_sqlite() {
    one_bootstrap_admin(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_bootstrap_admin_postgres() {
    one_bootstrap_admin(true).await;
}

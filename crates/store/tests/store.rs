//! The store against SQLite in a temp dir and, when `AUSCULT_TEST_POSTGRES_URL` is set, a fresh
//! PostgreSQL database: uploads commit by compare-and-set, completion queues exactly one job,
//! jobs are claimed once, recovered after a crash, and every query is scoped to its tenant.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewPrincipal, NewToken, TokenOwners};
use auscult_store::jobs::{AnalysisOutcome, Exhausted, Recovered};
use auscult_store::recordings::{CaseFilter, Counts, Part, StreamKind};
use auscult_store::{CaseId, DeviceId, TenantId};
use auscult_store::{StoreError, now_ms};
use common::{meta, open};

const EXHAUSTED: Exhausted<'static> = Exhausted {
    error: "interrupted on every attempt",
    priority: 1050,
};

async fn lifecycle(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let a = store
        .create_tenant(&auscult_store::audit::Actor::SYSTEM, "a", "clinic", now)
        .await
        .unwrap();
    let b = store
        .create_tenant(&auscult_store::audit::Actor::SYSTEM, "b", "clinic", now)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_tenant(&auscult_store::audit::Actor::SYSTEM, "a", "clinic", now)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let dev = store
        .create_principal(
            &auscult_store::audit::Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&a.id),
                name: "dev",
                role: "device",
            },
            auscult_store::identity::NewToken {
                id: "tok1",
                secret_sha256: &[1; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    let found = store.find_token("tok1").await.unwrap().unwrap();
    assert_eq!(found.principal.id, dev.id);
    assert_eq!(found.secret_sha256, vec![1; 32]);
    assert!(!found.revoked);
    assert!(
        store
            .get_principal(&dev.id, Some(&b.id))
            .await
            .unwrap()
            .is_none(),
        "scoped to its tenant"
    );

    let (row, created) = store
        .open_upload(
            &TenantId::new(a.id.as_str()),
            &DeviceId::new(dev.id.as_str()),
            &meta("u1"),
            now,
        )
        .await
        .unwrap();
    assert!(created);
    let (again, created) = store
        .open_upload(
            &TenantId::new(a.id.as_str()),
            &DeviceId::new(dev.id.as_str()),
            &meta("u1"),
            now,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, row.id);

    let part = |start, count| Part {
        start,
        count,
        object_key: format!("k{start}"),
        bytes: None,
    };
    store
        .commit_part(
            &TenantId::new(a.id.as_str()),
            &CaseId::new(row.id.as_str()),
            StreamKind::Pcg,
            &part(0, 100),
        )
        .await
        .unwrap();
    // A second writer that thinks the count is still 0 loses.
    assert!(matches!(
        store
            .commit_part(
                &TenantId::new(a.id.as_str()),
                &CaseId::new(row.id.as_str()),
                StreamKind::Pcg,
                &part(0, 50)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Another tenant cannot commit into it.
    assert!(
        store
            .commit_part(
                &TenantId::new(b.id.as_str()),
                &CaseId::new(row.id.as_str()),
                StreamKind::Pcg,
                &part(100, 50)
            )
            .await
            .is_err()
    );
    store
        .commit_part(
            &TenantId::new(a.id.as_str()),
            &CaseId::new(row.id.as_str()),
            StreamKind::Pcg,
            &part(100, 50),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list_parts(&CaseId::new(row.id.as_str()), StreamKind::Pcg)
            .await
            .unwrap()
            .len(),
        2
    );

    let actor = Actor {
        tenant_id: Some(a.id.as_str()),
        principal_id: dev.id.as_str(),
        role: "device",
    };
    let wrong = Counts {
        pcg: 149,
        ..Counts::default()
    };
    assert!(
        store
            .complete_upload(
                &TenantId::new(a.id.as_str()),
                &CaseId::new(row.id.as_str()),
                wrong,
                0.0,
                &actor,
                now
            )
            .await
            .is_err()
    );
    let totals = Counts {
        pcg: 150,
        ..Counts::default()
    };
    store
        .complete_upload(
            &TenantId::new(a.id.as_str()),
            &CaseId::new(row.id.as_str()),
            totals,
            150.0 / 4000.0,
            &actor,
            now,
        )
        .await
        .unwrap();
    assert!(
        store
            .complete_upload(
                &TenantId::new(a.id.as_str()),
                &CaseId::new(row.id.as_str()),
                totals,
                0.0,
                &actor,
                now
            )
            .await
            .is_err(),
        "only once"
    );
    assert!(
        store
            .get_recording(&TenantId::new(b.id.as_str()), &CaseId::new(row.id.as_str()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .list_cases(
                &TenantId::new(a.id.as_str()),
                &CaseFilter::default(),
                None,
                10
            )
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .list_cases(
                &TenantId::new(b.id.as_str()),
                &CaseFilter::default(),
                None,
                10
            )
            .await
            .unwrap()
            .is_empty()
    );

    // Claimed once; a crash leaves it running; recovery puts it back; finishing stores the result.
    let job = store.claim_job("w1", now, 3).await.unwrap().unwrap();
    assert_eq!(job.recording_id.as_str(), row.id);
    assert!(store.claim_job("w2", now, 3).await.unwrap().is_none());
    assert_eq!(
        store
            .recover_jobs(now - 1000, false, 3, EXHAUSTED)
            .await
            .unwrap(),
        Recovered::default(),
        "lease not run out"
    );
    assert_eq!(
        store
            .recover_jobs(now + 1, false, 3, EXHAUSTED)
            .await
            .unwrap(),
        Recovered {
            requeued: 1,
            failed: 0
        }
    );
    let job = store.claim_job("w2", now, 3).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    let outcome = AnalysisOutcome {
        analysis_json: "{}".into(),
        flagged: true,
        murmur_status: "present".into(),
        heart_rate_bpm: Some(72.0),
        priority: 1100,
    };
    assert!(
        !store.finish_job(&job, "w1", &outcome, now).await.unwrap(),
        "a stale worker cannot finish"
    );
    assert!(store.finish_job(&job, "w2", &outcome, now).await.unwrap());
    let done = store
        .get_recording(&TenantId::new(a.id.as_str()), &CaseId::new(row.id.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert!(done.flagged);
    assert_eq!(done.analysis_state, "done");
    assert_eq!(done.priority, 1100);
    let events = store
        .list_audit_events(&a.id, Some(&CaseId::new(row.id.as_str())), 0, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "upload.complete");
    store.close().await;
}

#[tokio::test]
async fn lifecycle_sqlite() {
    lifecycle(false).await;
}

#[tokio::test]
async fn lifecycle_postgres() {
    lifecycle(true).await;
}

/// Every administrative change writes its audit event with the change, naming who, what and
/// which tenant; the database refuses to update or delete an audit event, whoever asks.
async fn admin_changes_are_audited_and_the_trail_is_append_only(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(dir.path(), postgres).await else {
        return;
    };
    let db = auscult_store::DbOptions {
        url: url.clone(),
        max_connections: 4,
    };
    let store = auscult_store::Store::open(&db, &common::local_blobs(dir.path()))
        .await
        .unwrap();
    let now = now_ms();
    let root = Actor {
        tenant_id: None,
        principal_id: "root-admin",
        role: "admin",
    };
    let t = store
        .create_tenant(&root, "audited", "clinic", now)
        .await
        .unwrap();
    let admin = Actor {
        tenant_id: Some(t.id.as_str()),
        principal_id: "tenant-admin",
        role: "admin",
    };
    let nurse = store
        .create_principal(
            &admin,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "nurse",
                role: "nurse",
            },
            NewToken {
                id: "tok-n",
                secret_sha256: &[2; 32],
                expires_at_ms: None,
            },
            now + 1,
        )
        .await
        .unwrap();
    let expires = now + 86_400_000;
    store
        .rotate_token(
            &admin,
            &nurse,
            NewToken {
                id: "tok-n2",
                secret_sha256: &[3; 32],
                expires_at_ms: Some(expires),
            },
            now + 2,
        )
        .await
        .unwrap();
    let record = store.find_token("tok-n2").await.unwrap().unwrap();
    assert_eq!(record.expires_at_ms, Some(expires));
    assert!(!record.expired(expires - 1) && record.expired(expires));
    assert_eq!(
        store.revoke_tokens(&admin, &nurse, now + 3).await.unwrap(),
        1
    );
    // Listing shows both tokens, newest first, with their expiry and revocation (never a hash:
    // `TokenInfo` has no field for one); listing is audited too.
    let listed = store
        .list_tokens(&admin, TokenOwners::Principal(&nurse), now + 4)
        .await
        .unwrap();
    let summary: Vec<(&str, Option<i64>, Option<i64>)> = listed
        .iter()
        .map(|k| (k.id.as_str(), k.expires_at_ms, k.revoked_at_ms))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("tok-n2", Some(expires), Some(now + 3)),
            ("tok-n", None, Some(now + 2)),
        ]
    );
    assert!(
        listed
            .iter()
            .all(|k| k.principal_id == nurse.id && k.role == "nurse")
    );
    let by_tenant = store
        .list_tokens(&admin, TokenOwners::Tenant(&t.id), now + 5)
        .await
        .unwrap();
    assert_eq!(by_tenant, listed, "the tenant has only the nurse's tokens");
    // A failed change leaves no event: a duplicate tenant name is refused and not audited.
    assert!(
        store
            .create_tenant(&root, "audited", "clinic", now + 6)
            .await
            .is_err()
    );

    let events = store.list_audit_events(&t.id, None, 0, 100).await.unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .rev()
        .map(|e| {
            (
                e.action.as_str(),
                e.actor_id.as_str(),
                e.target_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("tenant.create", "root-admin", Some(t.id.as_str())),
            ("principal.create", "tenant-admin", Some(nurse.id.as_str())),
            ("token.rotate", "tenant-admin", Some(nurse.id.as_str())),
            ("token.revoke", "tenant-admin", Some(nurse.id.as_str())),
            ("token.list", "tenant-admin", Some(nurse.id.as_str())),
            ("token.list", "tenant-admin", Some(t.id.as_str())),
        ]
    );

    // The trail cannot be rewritten through the application's own connection.
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for sql in [
        "UPDATE audit_events SET actor_id = 'someone-else'",
        "DELETE FROM audit_events",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(
        store.list_audit_events(&t.id, None, 0, 100).await.unwrap(),
        events
    );
}

#[tokio::test]
async fn admin_changes_are_audited_sqlite() {
    admin_changes_are_audited_and_the_trail_is_append_only(false).await;
}

#[tokio::test]
async fn admin_changes_are_audited_postgres() {
    admin_changes_are_audited_and_the_trail_is_append_only(true).await;
}

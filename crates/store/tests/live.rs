//! Live sessions across servers (SQLite, and PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set):
//! a session is listed for its tenant only, while its holder heartbeats; it ends with its holder's
//! end or restart; a resumed upload's row moves to its new holder, whose row the old holder's end
//! leaves alone. On PostgreSQL a message put in a server's inbox reaches that server's inbox
//! only, in the order sent; SQLite has no inboxes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use auscult_store::audit::Actor;
use auscult_store::live::{LiveSessionRow, MAX_LIVE_MESSAGE, inbox_channel};
use auscult_store::servers::{BlobBackend, ServerEntry};
use auscult_store::{CaseId, StoreError, SubjectId, TenantId};

fn server(id: &str, heartbeat_at_ms: i64) -> ServerEntry {
    ServerEntry {
        id: id.into(),
        started_at_ms: heartbeat_at_ms,
        heartbeat_at_ms,
        blob_backend: BlobBackend::S3,
        address: "127.0.0.1:1".into(),
    }
}

fn session(id: &str, tenant: &TenantId, holder: &str, started: i64) -> LiveSessionRow {
    LiveSessionRow {
        recording_id: CaseId::new(id),
        tenant_id: tenant.clone(),
        subject_id: SubjectId::new("s1"),
        site: "mitral".into(),
        server_id: holder.into(),
        started_at_ms: started,
        pcg_rate_hz: 4000,
        takes_instructions: true,
    }
}

fn ids(rows: &[LiveSessionRow]) -> Vec<&str> {
    rows.iter().map(|r| r.recording_id.as_str()).collect()
}

async fn live_sessions(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = common::open(dir.path(), postgres).await else {
        return;
    };
    let now = 1_000_000;
    let t1 = store
        .create_tenant(&Actor::SYSTEM, "t1", "clinic", now)
        .await
        .unwrap()
        .id;
    let t2 = store
        .create_tenant(&Actor::SYSTEM, "t2", "clinic", now)
        .await
        .unwrap()
        .id;
    // On SQLite one server registers; the rows behave the same.
    store
        .register_server(&server("A", now), now - 1)
        .await
        .unwrap();
    if postgres {
        store
            .register_server(&server("B", now), now - 1)
            .await
            .unwrap();
    }
    let b = if postgres { "B" } else { "A" };

    store
        .open_live_session(&session("r2", &t1, "A", 20), now)
        .await
        .unwrap();
    store
        .open_live_session(&session("r1", &t1, b, 10), now)
        .await
        .unwrap();
    store
        .open_live_session(&session("r3", &t2, "A", 5), now)
        .await
        .unwrap();
    let listed = store.live_sessions(&t1, now - 1).await.unwrap();
    assert_eq!(ids(&listed), ["r1", "r2"], "the tenant's, oldest first");
    assert_eq!(listed[1], session("r2", &t1, "A", 20));
    assert_eq!(
        ids(&store.live_sessions(&t2, now - 1).await.unwrap()),
        ["r3"]
    );
    assert!(
        store
            .live_session(&t2, &CaseId::new("r1"), now - 1)
            .await
            .unwrap()
            .is_none(),
        "another tenant's session is not found"
    );
    assert_eq!(
        store
            .live_session(&t1, &CaseId::new("r1"), now - 1)
            .await
            .unwrap()
            .unwrap()
            .server_id,
        b
    );

    // A holder whose heartbeat is older than the liveness window holds nothing live.
    assert!(
        store.live_sessions(&t1, now + 1).await.unwrap().is_empty(),
        "a stale holder's sessions are not listed"
    );
    assert!(
        store
            .live_session(&t1, &CaseId::new("r2"), now + 1)
            .await
            .unwrap()
            .is_none()
    );

    // An upload resumed on another holder moves the row; the old holder's end leaves it.
    store
        .open_live_session(&session("r2", &t1, b, 20), now)
        .await
        .unwrap();
    if postgres {
        store
            .end_live_session(&CaseId::new("r2"), "A")
            .await
            .unwrap();
        assert_eq!(
            ids(&store.live_sessions(&t1, now - 1).await.unwrap()),
            ["r1", "r2"]
        );
    }
    store.end_live_session(&CaseId::new("r2"), b).await.unwrap();
    assert_eq!(
        ids(&store.live_sessions(&t1, now - 1).await.unwrap()),
        ["r1"]
    );

    // A restarted holder ends what it held before.
    assert_eq!(
        store.end_live_sessions_of("A").await.unwrap(),
        1 + u64::from(!postgres)
    );
    assert!(store.live_sessions(&t2, now - 1).await.unwrap().is_empty());

    // Rows of a server gone from the registry are deleted when a session opens.
    if postgres {
        store.deregister_server("B").await.unwrap();
        store
            .open_live_session(&session("r4", &t1, "A", 30), now)
            .await
            .unwrap();
        assert_eq!(ids(&store.live_sessions(&t1, 0).await.unwrap()), ["r4"]);
    }

    if !postgres {
        assert!(matches!(
            store.live_inbox("A").await,
            Err(StoreError::Unsupported(_))
        ));
        assert!(matches!(
            store.send_live("A", "hello").await,
            Err(StoreError::Unsupported(_))
        ));
        return;
    }
    let mut inbox_a = store.live_inbox("A").await.unwrap();
    let mut inbox_b = store.live_inbox("B").await.unwrap();
    let long = "x".repeat(MAX_LIVE_MESSAGE);
    for k in 0..20 {
        store.send_live("A", &format!("m{k}")).await.unwrap();
    }
    store.send_live("B", &long).await.unwrap();
    assert!(matches!(
        store.send_live("B", &format!("{long}y")).await,
        Err(StoreError::Unsupported(_))
    ));
    for k in 0..20 {
        let got = tokio::time::timeout(Duration::from_secs(5), inbox_a.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, format!("m{k}"), "in the order sent");
    }
    let got = tokio::time::timeout(Duration::from_secs(5), inbox_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, long, "only B's message reached B");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), inbox_a.recv())
            .await
            .is_err(),
        "nothing else reached A"
    );
    assert_ne!(inbox_channel("A"), inbox_channel("B"));
    assert!(inbox_channel(&"long id ".repeat(40)).len() <= 63);
    store.close().await;
}

#[tokio::test]
async fn live_sessions_on_sqlite() {
    live_sessions(false).await;
}

#[tokio::test]
async fn live_sessions_on_postgres() {
    live_sessions(true).await;
}

//! An upload's last flush is recorded in the transaction that completes it: all of it or none.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewPrincipal, NewToken};
use auscult_store::recordings::{Completion, Counts, Part, PartCommit, StreamKind, state};
use auscult_store::{CaseId, DeviceId, StoreError, TenantId, now_ms};
use common::{meta, open};

async fn last_parts_complete_with_the_upload_or_not_at_all(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let tenant = store
        .create_tenant(&Actor::SYSTEM, "t", "clinic", now)
        .await
        .unwrap();
    let dev = store
        .create_principal(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&tenant.id),
                name: "dev",
                role: "device",
            },
            NewToken {
                id: "tok-finish",
                secret_sha256: &[2; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    let tenant_id = TenantId::new(tenant.id.as_str());
    let (row, _) = store
        .open_upload(
            &tenant_id,
            &DeviceId::new(dev.id.as_str()),
            &meta("f1"),
            now,
        )
        .await
        .unwrap();
    let case_id = CaseId::new(row.id.as_str());
    let part = |start: u64, count: u64| PartCommit {
        tenant_id: tenant.id.as_str().to_owned(),
        recording_id: row.id.clone(),
        stream: StreamKind::Pcg,
        part: Part {
            start,
            count,
            object_key: format!("test/f1-{start}"),
            bytes: Some(0..count * 2),
        },
    };
    assert_eq!(
        store.commit_parts(&[part(0, 100)]).await.unwrap(),
        vec![true]
    );
    let actor = Actor {
        tenant_id: Some(tenant.id.as_str()),
        principal_id: dev.id.as_str(),
        role: "device",
    };
    let totals = Counts {
        pcg: 150,
        ..Counts::default()
    };
    // A last part that starts where nothing was committed: nothing is recorded.
    let stale = [part(40, 110)];
    let refused = store
        .finish_upload(
            Completion {
                tenant_id: &tenant_id,
                recording_id: &case_id,
                totals,
                duration_s: 150.0 / 4000.0,
                last_parts: &stale,
            },
            &actor,
            now,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let after = store
        .get_recording(&tenant_id, &case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.state, state::RECEIVING);
    assert_eq!(after.committed.pcg, 100);
    assert_eq!(
        store
            .list_parts(&case_id, StreamKind::Pcg)
            .await
            .unwrap()
            .len(),
        1
    );

    // The right last part completes the upload with it.
    let last = [part(100, 50)];
    store
        .finish_upload(
            Completion {
                tenant_id: &tenant_id,
                recording_id: &case_id,
                totals,
                duration_s: 150.0 / 4000.0,
                last_parts: &last,
            },
            &actor,
            now,
        )
        .await
        .unwrap();
    let done = store
        .get_recording(&tenant_id, &case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, state::COMPLETE);
    assert_eq!(done.committed.pcg, 150);
    let parts = store.list_parts(&case_id, StreamKind::Pcg).await.unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].bytes, Some(0..100), "the byte range is stored");
}

#[tokio::test]
async fn last_parts_sqlite() {
    last_parts_complete_with_the_upload_or_not_at_all(false).await;
}

#[tokio::test]
async fn last_parts_postgres() {
    last_parts_complete_with_the_upload_or_not_at_all(true).await;
}

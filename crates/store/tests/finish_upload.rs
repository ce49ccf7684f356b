//! An upload's last flush is recorded in the transaction that completes it: all of it or none,
//! alone or in a group commit with other uploads' opens, parts and completions.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewPrincipal, NewToken};
use auscult_store::recordings::{
    Completion, CompletionCommit, Counts, GroupItem, OpenCommit, Part, PartCommit, StreamKind,
    state,
};
use auscult_store::{CaseId, DeviceId, Store, StoreError, TenantId, now_ms};
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

/// A tenant and a device of it.
async fn tenant_and_device(store: &Store, name: &str) -> (String, String) {
    let now = now_ms();
    let tenant = store
        .create_tenant(&Actor::SYSTEM, name, "clinic", now)
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
                id: &format!("tok-{name}"),
                secret_sha256: &[3; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    (tenant.id.as_str().to_owned(), dev.id.as_str().to_owned())
}

async fn completions_in_a_group_are_each_all_or_nothing(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let (tenant, dev) = tenant_and_device(&store, "t-group").await;
    let tenant_id = TenantId::new(tenant.as_str());
    let mut rows = Vec::new();
    for upload in ["g1", "g2", "g3"] {
        let (row, _) = store
            .open_upload(
                &tenant_id,
                &DeviceId::new(dev.as_str()),
                &meta(upload),
                now_ms(),
            )
            .await
            .unwrap();
        rows.push(row);
    }
    let part = |row: usize, start: u64, count: u64| PartCommit {
        tenant_id: tenant.clone(),
        recording_id: rows[row].id.clone(),
        stream: StreamKind::Pcg,
        part: Part {
            start,
            count,
            object_key: format!("test/{row}-{start}"),
            bytes: Some(0..count * 2),
        },
    };
    let complete = |row: usize, pcg: u64, last_parts: Vec<PartCommit>| {
        GroupItem::Complete(CompletionCommit {
            tenant_id: tenant_id.clone(),
            recording_id: CaseId::new(rows[row].id.as_str()),
            totals: Counts {
                pcg,
                ..Counts::default()
            },
            duration_s: pcg as f64 / 4000.0,
            last_parts,
            actor_tenant_id: Some(tenant.clone()),
            actor_principal_id: dev.clone(),
            actor_role: "device".into(),
            now_ms: now_ms(),
        })
    };
    // Opens in a group: a new upload is inserted (and can then flush and complete in the same
    // transaction), one the device already has is not inserted again.
    let open = |id: &str, upload: &str| {
        GroupItem::Open(OpenCommit {
            id: id.to_owned(),
            tenant_id: tenant_id.clone(),
            device_id: DeviceId::new(dev.as_str()),
            meta: meta(upload),
            now_ms: now_ms(),
        })
    };
    let fresh = PartCommit {
        tenant_id: tenant.clone(),
        recording_id: "fresh-row".into(),
        stream: StreamKind::Pcg,
        part: Part {
            start: 0,
            count: 10,
            object_key: "test/fresh-0".into(),
            bytes: Some(0..20),
        },
    };
    let opened = store
        .commit_group(&[
            open("fresh-row", "g4"),
            open("dup-row", "g1"),
            GroupItem::Parts(vec![fresh]),
        ])
        .await
        .unwrap();
    assert_eq!(opened, vec![true, false, true]);
    let g4 = store
        .find_upload(&tenant_id, &DeviceId::new(dev.as_str()), "g4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((g4.id.as_str(), g4.committed.pcg), ("fresh-row", 10));
    let g1 = store
        .find_upload(&tenant_id, &DeviceId::new(dev.as_str()), "g1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        g1.id, rows[0].id,
        "an open of a known upload changes nothing"
    );

    let group = [
        // Upload 0: a flush, then (in order, same transaction) its completion.
        GroupItem::Parts(vec![part(0, 0, 100)]),
        complete(0, 150, vec![part(0, 100, 50)]),
        // Upload 1: a completion whose last part starts where nothing was committed.
        complete(1, 150, vec![part(1, 40, 110)]),
        // Upload 2: a completion whose totals differ from what its last part brings.
        complete(2, 999, vec![part(2, 0, 100)]),
        // Upload 2 again, a flush after the refused completion: recorded.
        GroupItem::Parts(vec![part(2, 0, 100)]),
    ];
    let recorded = store.commit_group(&group).await.unwrap();
    assert_eq!(recorded, vec![true, true, false, false, true]);
    let get = |row: usize| {
        let (store, tenant_id) = (store.clone(), tenant_id.clone());
        let id = CaseId::new(rows[row].id.as_str());
        async move { store.get_recording(&tenant_id, &id).await.unwrap().unwrap() }
    };
    let done = get(0).await;
    assert_eq!(done.state, state::COMPLETE);
    assert_eq!(done.committed.pcg, 150);
    let refused = get(1).await;
    assert_eq!(refused.state, state::RECEIVING);
    assert_eq!(refused.committed.pcg, 0, "nothing of a refused completion");
    let refused = get(2).await;
    assert_eq!(refused.state, state::RECEIVING);
    assert_eq!(
        refused.committed.pcg, 100,
        "only the flush after the refused completion"
    );
    let parts_of = |row: usize| {
        let store = store.clone();
        let id = CaseId::new(rows[row].id.as_str());
        async move { store.list_parts(&id, StreamKind::Pcg).await.unwrap().len() }
    };
    assert_eq!(parts_of(0).await, 2);
    assert_eq!(parts_of(1).await, 0);
    assert_eq!(parts_of(2).await, 1);
    // Only the completed upload is audited as complete.
    let audit = store
        .list_audit_events(&tenant_id, None, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "upload.complete")
        .count();
    assert_eq!(audit, 1, "one upload.complete audit event");
}

#[tokio::test]
async fn group_sqlite() {
    completions_in_a_group_are_each_all_or_nothing(false).await;
}

#[tokio::test]
async fn group_postgres() {
    completions_in_a_group_are_each_all_or_nothing(true).await;
}

//! Keyset pagination of the worklist (`Store::list_cases` with a `CaseKey` cursor): pages follow
//! the worklist order exactly, ties on (priority, start time) are broken by id, and cases
//! inserted between two page reads never shift the remaining pages (no case shown twice, none
//! skipped). Runs on SQLite and, when `AUSCULT_TEST_POSTGRES_URL` is set, PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::Store;
use auscult_store::identity::NewPrincipal;
use auscult_store::recordings::{CaseFilter, CaseKey};
use auscult_store::{DeviceId, TenantId};
use common::{complete_case, open};

async fn page_through(store: &Store, tenant: &TenantId, size: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<CaseKey> = None;
    loop {
        let page = store
            .list_cases(tenant, &CaseFilter::default(), after.as_ref(), size)
            .await
            .unwrap();
        assert!(page.len() <= size as usize);
        let Some(last) = page.last() else { break };
        after = Some(CaseKey::of(last));
        seen.extend(page.iter().map(|r| r.id.clone()));
    }
    seen
}

async fn keyset_pages(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = auscult_store::now_ms();
    let t = store
        .create_tenant(&auscult_store::audit::Actor::SYSTEM, "t", "clinic", now)
        .await
        .unwrap();
    let dev = store
        .create_principal(
            &auscult_store::audit::Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "dev",
                role: "device",
            },
            auscult_store::identity::NewToken {
                id: "tok",
                secret_sha256: &[1; 32],
                expires_at_ms: None,
            },
            now,
        )
        .await
        .unwrap();
    let dev = DeviceId::new(dev.id.into_string());
    let base = 1_780_000_000_000i64;
    // (priority, start offset in minutes): two exact ties, so the id decides.
    let plan = [
        (0, 0),
        (5, 1),
        (5, 1),
        (5, 2),
        (-1, 9),
        (100, 0),
        (0, 3),
        (0, 3),
        (7, 7),
    ];
    for (i, (priority, minute)) in plan.iter().enumerate() {
        complete_case(
            &store,
            &t.id,
            &dev,
            &format!("u{i}"),
            base + minute * 60_000,
            *priority,
        )
        .await;
    }
    let all = store
        .list_cases(&t.id, &CaseFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), plan.len());
    let keys: Vec<CaseKey> = all.iter().map(CaseKey::of).collect();
    for w in keys.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ordered = a.priority > b.priority
            || (a.priority == b.priority && a.started_at_ms > b.started_at_ms)
            || (a.priority == b.priority && a.started_at_ms == b.started_at_ms && a.id < b.id);
        assert!(ordered, "worklist order broken between {a:?} and {b:?}");
    }
    let full: Vec<String> = all.iter().map(|r| r.id.clone()).collect();
    for size in [1, 2, 3, 4, 100] {
        assert_eq!(
            page_through(&store, &t.id, size).await,
            full,
            "pages of {size} concatenate to the full worklist"
        );
    }

    // Stability under inserts: read the first page, then insert one case that sorts before the
    // cursor and one that sorts after it, then read on.
    let first = store
        .list_cases(&t.id, &CaseFilter::default(), None, 3)
        .await
        .unwrap();
    let cursor = CaseKey::of(first.last().unwrap());
    let before = complete_case(&store, &t.id, &dev, "new-top", base, 1000).await;
    let after_cursor = complete_case(&store, &t.id, &dev, "new-low", base, -50).await;
    let mut seen: Vec<String> = first.iter().map(|r| r.id.clone()).collect();
    let mut after = Some(cursor);
    loop {
        let page = store
            .list_cases(&t.id, &CaseFilter::default(), after.as_ref(), 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(CaseKey::of(last));
        seen.extend(page.iter().map(|r| r.id.clone()));
    }
    let mut expected = full.clone();
    expected.push(after_cursor.clone());
    assert_eq!(
        seen, expected,
        "every earlier case exactly once, in order; the new case after the cursor at the end"
    );
    assert!(
        !seen.contains(&before),
        "a case inserted above the cursor does not shift pages"
    );

    // The cursor is scoped to the tenant: another tenant's listing with it is empty.
    let other = store
        .create_tenant(&auscult_store::audit::Actor::SYSTEM, "o", "clinic", now)
        .await
        .unwrap();
    assert!(
        store
            .list_cases(
                &other.id,
                &CaseFilter::default(),
                Some(&CaseKey::of(&all[0])),
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn keyset_pages_sqlite() {
    keyset_pages(false).await;
}

#[tokio::test]
async fn keyset_pages_postgres() {
    keyset_pages(true).await;
}

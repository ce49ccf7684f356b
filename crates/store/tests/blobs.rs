//! The blob layer against local files and a REAL S3-compatible server (`AUSCULT_TEST_S3_URL`,
//! e.g. `moto_server` started by `.ci/run`; the S3 variants are skipped with a message when it is
//! not set): byte-exact round trips, listing, deletes, and the orphan sweep, which removes blobs
//! that no committed row references once they are older than the cutoff, and nothing else.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use auscult_store::blobs::{legacy_part_key, part_key, recording_of_key};
use auscult_store::identity::NewPrincipal;
use auscult_store::recordings::{Part, StreamKind};
use auscult_store::{BlobConfig, Blobs, Store, now_ms};
use auscult_store::{CaseId, DeviceId, TenantId};
use bytes::Bytes;
use common::{local_blobs, meta, open_with, s3_blobs};

fn payload(n: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

async fn round_trips(config: BlobConfig) {
    let blobs = Blobs::open(&config).unwrap();
    let sizes = [0usize, 1, 4095, 4096, 1 << 20, 5 * (1 << 20) + 3];
    let mut keys = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let key = part_key("t", "r", "pcg", *n as u64);
        let data = payload(*n, i as u8);
        blobs.put(&key, data.clone()).await.unwrap();
        let back = blobs.get(&key).await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "blob of {n} bytes differs after a round trip");
        keys.push(key);
    }
    let mut listed: Vec<String> = blobs
        .list("tenants")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    listed.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(
        listed, expected,
        "listing shows exactly the objects written"
    );
    blobs.delete(&keys[0]).await.unwrap();
    assert!(
        blobs.get(&keys[0]).await.is_err(),
        "a deleted object is gone"
    );
    blobs.delete(&keys[0]).await.unwrap();
    assert!(blobs.get("tenants/none/recordings/x/pcg/y").await.is_err());
}

#[tokio::test]
async fn local_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    round_trips(local_blobs(dir.path())).await;
}

#[tokio::test]
async fn s3_round_trips() {
    let Some(config) = s3_blobs().await else {
        return;
    };
    round_trips(config).await;
}

/// A referenced blob, an orphan of the same recording (written, never committed: what a crash
/// between the write and the commit leaves), an orphan of a recording that never got a row, and
/// objects outside the part-key layout; then sweeps with a past and a future cutoff.
async fn sweep(store: Store, local_root: Option<std::path::PathBuf>) {
    let now = now_ms();
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
    let (row, _) = store
        .open_upload(
            &TenantId::new(t.id.as_str()),
            &DeviceId::new(dev.id.as_str()),
            &meta("u1"),
            now,
        )
        .await
        .unwrap();
    let kept = part_key(t.id.as_str(), &row.id, "pcg", 0);
    let kept_bytes = payload(10_000, 1);
    store.blobs.put(&kept, kept_bytes.clone()).await.unwrap();
    store
        .commit_part(
            &TenantId::new(t.id.as_str()),
            &CaseId::new(row.id.as_str()),
            StreamKind::Pcg,
            &Part {
                start: 0,
                count: 5000,
                object_key: kept.clone(),
                bytes: None,
            },
        )
        .await
        .unwrap();
    // A part written in the layout before the current one (one directory per recording and
    // stream) is still read, and counted as referenced.
    let legacy_kept = legacy_part_key(t.id.as_str(), &row.id, "pcg", 5000);
    let legacy_kept_bytes = payload(200, 5);
    store
        .blobs
        .put(&legacy_kept, legacy_kept_bytes.clone())
        .await
        .unwrap();
    store
        .commit_part(
            &TenantId::new(t.id.as_str()),
            &CaseId::new(row.id.as_str()),
            StreamKind::Pcg,
            &Part {
                start: 5000,
                count: 100,
                object_key: legacy_kept.clone(),
                bytes: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(recording_of_key(&kept), Some(row.id.as_str()));
    assert_eq!(recording_of_key(&legacy_kept), Some(row.id.as_str()));
    let legacy_orphan = legacy_part_key(t.id.as_str(), &row.id, "ecg", 0);
    store
        .blobs
        .put(&legacy_orphan, payload(100, 6))
        .await
        .unwrap();
    let orphan_same = part_key(t.id.as_str(), &row.id, "pcg", 5100);
    store
        .blobs
        .put(&orphan_same, payload(100, 2))
        .await
        .unwrap();
    let orphan_other = part_key(t.id.as_str(), "no-such-recording", "ecg", 0);
    store
        .blobs
        .put(&orphan_other, payload(100, 3))
        .await
        .unwrap();
    let foreign = ["elsewhere/object", "tenants/t/notes.txt"];
    for key in foreign {
        store.blobs.put(key, payload(10, 4)).await.unwrap();
    }
    let stale_staging = local_root.as_ref().map(|root| {
        let dir = root.join(kept.rsplit_once('/').unwrap().0);
        let path = dir.join("00000000000000009999-dead#1");
        std::fs::write(&path, b"torn").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        path
    });

    // Every object is young: a sweep with a cutoff an hour ago deletes no object (but the
    // three-day-old staging file of a torn local write goes).
    let report = store.sweep_orphan_blobs(now - 3_600_000).await.unwrap();
    assert_eq!(report.deleted, 0);
    if let Some(path) = &stale_staging {
        assert_eq!(report.staging_deleted, 1, "{report:?}");
        assert!(!path.exists(), "a stale staging file is removed");
    }
    assert_eq!(report.young, 3, "{report:?}");
    assert_eq!(
        report.examined, 5,
        "only part keys (of both layouts) are examined: {report:?}"
    );
    assert!(store.blobs.get(&orphan_same).await.is_ok());

    // A cutoff after the writes: the orphans of both layouts go, the referenced blobs and
    // foreign objects stay.
    let report = store.sweep_orphan_blobs(now_ms() + 60_000).await.unwrap();
    assert_eq!(report.deleted, 3, "{report:?}");
    assert!(store.blobs.get(&orphan_same).await.is_err());
    assert!(store.blobs.get(&orphan_other).await.is_err());
    assert!(store.blobs.get(&legacy_orphan).await.is_err());
    assert!(store.blobs.get(&kept).await.unwrap() == kept_bytes);
    assert!(store.blobs.get(&legacy_kept).await.unwrap() == legacy_kept_bytes);
    for key in foreign {
        assert!(
            store.blobs.get(key).await.is_ok(),
            "{key} must never be swept"
        );
    }
    // Idempotent.
    let again = store.sweep_orphan_blobs(now_ms() + 60_000).await.unwrap();
    assert_eq!(again.deleted, 0);
    assert_eq!(again.examined, 2);
}

async fn sweep_local(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = local_blobs(dir.path());
    let Some(store) = open_with(dir.path(), postgres, &blobs).await else {
        return;
    };
    sweep(store, Some(dir.path().join("blobs"))).await;
}

#[tokio::test]
async fn sweep_local_sqlite() {
    sweep_local(false).await;
}

#[tokio::test]
async fn sweep_local_postgres() {
    sweep_local(true).await;
}

#[tokio::test]
async fn sweep_s3_sqlite() {
    let Some(blobs) = s3_blobs().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(dir.path(), false, &blobs).await.unwrap();
    sweep(store, None).await;
}

//! Subject leases and the relay to a lease's holder (SQLite, and PostgreSQL when
//! `AUSCULT_TEST_POSTGRES_URL` is set): a lease is never taken from a holder before it expires,
//! renewals report what is still held, an expired or ended lease is taken over, a batch's relay
//! row is written with its samples (or not at all), relayed rows reach only the holder, and a
//! rebuilt monitor's last sample times leave out what is still waiting in the relay.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::SubjectId;
use auscult_store::audit::Actor;
use auscult_store::leases::{Lease, RelayKind};
use auscult_store::vitals::{MinuteRow, VitalRow, VitalsBatchRows};

fn key(t: &str, s: &str) -> (String, String) {
    (t.to_owned(), s.to_owned())
}

fn hr(at: i64) -> VitalRow {
    VitalRow {
        parameter: "heart_rate".into(),
        device_id: "dev-1".into(),
        source: "ox".into(),
        measured_at_ms: at,
        value: 70.0,
        value2: None,
    }
}

async fn leases_and_relay(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = common::open(dir.path(), postgres).await else {
        return;
    };
    let ttl = 1_000;
    let now = 1_000_000;
    let t = &store
        .create_tenant(&Actor::SYSTEM, "t", "clinic", now)
        .await
        .unwrap()
        .id;
    let (r1, r2) = (&SubjectId::new("r1"), &SubjectId::new("r2"));
    // A takes r1; B cannot before it expires, A renews it.
    assert_eq!(
        store
            .acquire_subject_lease(t, r1, "A", now, ttl)
            .await
            .unwrap(),
        Lease::Mine {
            expires_at_ms: now + ttl
        }
    );
    assert_eq!(
        store
            .acquire_subject_lease(t, r1, "B", now + 999, ttl)
            .await
            .unwrap(),
        Lease::Held {
            server_id: "A".into()
        }
    );
    assert!(matches!(
        store
            .acquire_subject_lease(t, r1, "A", now + 500, ttl)
            .await
            .unwrap(),
        Lease::Mine { .. }
    ));
    assert_eq!(
        store
            .renew_subject_leases("A", now + 600, ttl)
            .await
            .unwrap(),
        vec![key(t.as_str(), "r1")]
    );
    assert!(
        store
            .expired_subject_leases(now + 1_500, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A stops renewing (killed): once expired, B takes r1 over, and A's renewal no longer has it.
    assert_eq!(
        store.expired_subject_leases(now + 1_600, 10).await.unwrap(),
        vec![key(t.as_str(), "r1")]
    );
    assert!(matches!(
        store
            .acquire_subject_lease(t, r1, "B", now + 1_600, ttl)
            .await
            .unwrap(),
        Lease::Mine { .. }
    ));
    assert!(
        store
            .renew_subject_leases("A", now + 1_700, ttl)
            .await
            .unwrap()
            .is_empty()
    );

    // B relays nothing to itself; A (holding r2) receives B's batch for r2 with its samples.
    store
        .acquire_subject_lease(t, r2, "A", now + 1_700, ttl)
        .await
        .unwrap();
    let samples = [hr(10_000)];
    let rollups = [(
        "heart_rate".to_owned(),
        MinuteRow {
            minute_ms: 0,
            count: 1,
            min: 70.0,
            max: 70.0,
            sum: 70.0,
        },
    )];
    let relayed = VitalsBatchRows {
        tenant_id: t,
        subject_id: r2,
        samples: &samples,
        rollups: &rollups,
        relay: Some(b"batch-1"),
    };
    store
        .insert_vitals_group(std::slice::from_ref(&relayed), now + 1_800)
        .await
        .unwrap();
    assert!(store.relayed_to("B", 10).await.unwrap().is_empty());
    let rows = store.relayed_to("A", 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].kind,
            rows[0].subject_id.as_str(),
            rows[0].payload.as_slice()
        ),
        (RelayKind::Batch, "r2", b"batch-1".as_slice())
    );
    // A monitor rebuilt now does not count the relayed sample as seen; the sensors' view does.
    assert!(
        store
            .last_sample_times(t, r2, 60_000, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .last_sample_times(t, r2, 60_000, false)
            .await
            .unwrap()
            .len(),
        1
    );
    // The same samples again: refused whole, and no second relay row.
    assert!(
        store
            .insert_vitals_group(std::slice::from_ref(&relayed), now + 1_900)
            .await
            .is_err()
    );
    assert_eq!(store.relayed_to("A", 10).await.unwrap().len(), 1);
    store.delete_relays(&[rows[0].relay_id]).await.unwrap();
    assert_eq!(
        store
            .last_sample_times(t, r2, 60_000, true)
            .await
            .unwrap()
            .len(),
        1
    );

    // An action relayed to A is answered by A and read by the asker.
    let id = store
        .relay_action(t, r2, b"ack", now + 2_000)
        .await
        .unwrap();
    assert_eq!(store.relay_answer(id).await.unwrap(), None);
    let asked = store.relayed_to("A", 10).await.unwrap();
    assert_eq!(
        (asked.len(), asked[0].kind, asked[0].relay_id),
        (1, RelayKind::Action, id)
    );
    store.answer_relay(id, b"done").await.unwrap();
    assert!(store.relayed_to("A", 10).await.unwrap().is_empty());
    assert_eq!(
        store.relay_answer(id).await.unwrap().as_deref(),
        Some(b"done".as_slice())
    );
    store.delete_relays(&[id]).await.unwrap();

    // Rows nobody handled are swept by age: an answered action whose asker died, a batch.
    let stale = store
        .relay_action(t, r2, b"lost", now + 2_000)
        .await
        .unwrap();
    store.answer_relay(stale, b"unread").await.unwrap();
    assert_eq!(store.sweep_relays(now + 2_000).await.unwrap(), 0);
    assert_eq!(store.sweep_relays(now + 2_001).await.unwrap(), 1);
    assert_eq!(store.relay_answer(stale).await.unwrap(), None);

    // A graceful shutdown ends A's leases at once; a released lease is gone.
    store.expire_subject_leases("A").await.unwrap();
    assert_eq!(
        store.expired_subject_leases(now + 2_000, 10).await.unwrap(),
        vec![key(t.as_str(), "r2")]
    );
    store.release_subject_lease(t, r1, "B").await.unwrap();
    assert!(
        store
            .renew_subject_leases("B", now + 2_000, ttl)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn leases_and_relay_sqlite() {
    leases_and_relay(false).await;
}

#[tokio::test]
async fn leases_and_relay_postgres() {
    leases_and_relay(true).await;
}

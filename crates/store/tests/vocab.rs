//! Every term of the vital-sign vocabulary goes into the store and comes back the same (SQLite,
//! and PostgreSQL when `AUSCULT_TEST_POSTGRES_URL` is set); a spelling the store does not know
//! comes back as `Corrupt`, not as a default.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::vitals::NewAlertEvent;
use auscult_store::{StoreError, TenantId};
use auscult_vitals::vocab::every_condition;
use auscult_vitals::{AlertClass, AlertEventKind, AlertStatus, Severity, Term};

fn event(alert: &str, n: usize) -> NewAlertEvent {
    let pick = |all_len: usize| n % all_len;
    let conditions = every_condition();
    NewAlertEvent {
        subject_id: "s1".into(),
        alert_id: alert.into(),
        at_ms: 1_000 + n as i64,
        change: Some(AlertEventKind::ALL[pick(AlertEventKind::ALL.len())]),
        kind: AlertClass::ALL[pick(AlertClass::ALL.len())],
        severity: Severity::ALL[pick(Severity::ALL.len())],
        // Never resolved here, so every alert stays listed; resolved is walked below.
        state: AlertStatus::ALL[pick(AlertStatus::ALL.len() - 1)],
        // Every condition, rotated, and the empty list.
        conditions: if n == 0 {
            Vec::new()
        } else {
            let mut c = conditions.clone();
            c.rotate_left(n % conditions.len());
            c
        },
        detail: format!("detail {n}"),
        condition_active: n.is_multiple_of(2),
        level: (n % 3) as i64,
        raised_at_ms: 1_000,
        snoozed_until_ms: (n % 2 == 1).then_some(5_000),
        acted_by: String::new(),
    }
}

async fn every_term_round_trips(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = common::open(dir.path(), postgres).await else {
        return;
    };
    let tenant = store
        .create_tenant(&auscult_store::audit::Actor::SYSTEM, "t", "clinic", 0)
        .await
        .unwrap();
    let tenant_id = TenantId::new(tenant.id.as_str());
    let actor = Actor {
        tenant_id: Some(tenant.id.as_str()),
        principal_id: "nurse",
        role: "nurse",
    };
    // Enough events that every term of every list is used at least once.
    let n = [
        AlertEventKind::ALL.len(),
        AlertClass::ALL.len(),
        Severity::ALL.len(),
        every_condition().len(),
    ]
    .into_iter()
    .max()
    .unwrap();
    let mut written = Vec::new();
    for i in 0..n {
        let e = event(&format!("a{i}"), i);
        store.append_alert_event(&tenant_id, &e).await.unwrap();
        written.push(e);
    }
    // A resolved alert, and an event without a change.
    let mut resolved = event("r", 1);
    resolved.state = AlertStatus::Resolved;
    resolved.change = None;
    store
        .append_alert_event(&tenant_id, &resolved)
        .await
        .unwrap();
    written.push(resolved.clone());

    let read: Vec<NewAlertEvent> = store
        .alert_events_after(&actor, &tenant_id, 0, None, 1000, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(read, written);

    // The current state of each alert: the same, without the change.
    for e in &written {
        let current = store
            .get_alert(&tenant_id, &e.alert_id)
            .await
            .unwrap()
            .unwrap()
            .event;
        assert_eq!(current.change, None);
        assert_eq!(
            NewAlertEvent {
                change: e.change,
                ..current
            },
            *e
        );
    }
    let listed = store
        .list_alerts(&actor, &tenant_id, None, false, 1000, 0)
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        n,
        "every unresolved alert, not the resolved one"
    );
    assert_eq!(store.unresolved_alerts().await.unwrap().len(), n);

    // A row holding a spelling this version does not know is corrupt, in every column.
    let good: String = sqlx::query_scalar("SELECT kind FROM vital_alerts WHERE alert_id = 'a1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    for (column, bad) in [
        ("severity", "'severe'"),
        ("kind", "'clinicall'"),
        ("state", "'closed'"),
        ("conditions", "'[\"news3\"]'"),
        ("conditions", "'[\"sudden_change:pulse\"]'"),
        ("conditions", "'[not json'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE vital_alerts SET {column} = {bad} WHERE alert_id = 'a1'"
        )))
        .execute(store.pool())
        .await
        .unwrap();
        let got = store.get_alert(&tenant_id, "a1").await;
        assert!(
            matches!(got, Err(StoreError::Corrupt(_))),
            "{column} = {bad}: {got:?}"
        );
        // Put the good row back (appending its event again rewrites all but the kind).
        sqlx::query("UPDATE vital_alerts SET kind = $1 WHERE alert_id = 'a1'")
            .bind(&good)
            .execute(store.pool())
            .await
            .unwrap();
        store
            .append_alert_event(&tenant_id, &written[1])
            .await
            .unwrap();
        assert!(store.get_alert(&tenant_id, "a1").await.is_ok());
    }
    sqlx::query("UPDATE alert_events SET change = 'exploded' WHERE alert_id = 'a2'")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store
            .alert_events_after(&actor, &tenant_id, 0, None, 1000, 0)
            .await,
        Err(StoreError::Corrupt(_))
    ));

    // Conditions stored comma-joined before they were stored as a JSON array still read.
    sqlx::query(
        "UPDATE vital_alerts SET conditions = 'news2,sudden_change:spo2,sensor_silent:ox-1' \
         WHERE alert_id = 'a3'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let legacy = store.get_alert(&tenant_id, "a3").await.unwrap().unwrap();
    let spelled: Vec<String> = legacy
        .event
        .conditions
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        spelled,
        ["news2", "sudden_change:spo2", "sensor_silent:ox-1"]
    );
}

#[tokio::test]
async fn every_term_round_trips_sqlite() {
    every_term_round_trips(false).await;
}

#[tokio::test]
async fn every_term_round_trips_postgres() {
    every_term_round_trips(true).await;
}

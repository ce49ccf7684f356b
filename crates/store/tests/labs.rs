//! A visit's point-of-care blood results on SQLite and (with `AUSCULT_TEST_POSTGRES_URL`) on a
//! fresh PostgreSQL database: entering an analyte again replaces its row (audited), results are
//! read back exactly, and another tenant's visit is neither written nor read.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::labs::NewLab;
use auscult_store::programs::{ConsentRecord, NewResident};
use auscult_store::{SubjectId, now_ms};
use auscult_triage::Analyte;
use common::open;

fn lab(analyte: Analyte, value: f64, fasting: bool, at: i64) -> NewLab<'static> {
    NewLab {
        analyte,
        value,
        unit: analyte.unit().as_str(),
        fasting,
        measured_at_ms: at,
    }
}

async fn labs(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let town = store
        .create_tenant(&Actor::SYSTEM, "town", "municipality", now)
        .await
        .unwrap();
    let other = store
        .create_tenant(&Actor::SYSTEM, "other", "municipality", now)
        .await
        .unwrap();
    let town_id = &town.id;
    let subj = &SubjectId::new("subj-1");
    let staff = Actor {
        tenant_id: Some(town.id.as_str()),
        principal_id: "staff-1",
        role: "program_staff",
    };
    let program = store
        .create_program(town_id, &staff, "check-up", "", now)
        .await
        .unwrap();
    let site = store
        .add_site(town_id, &program.id, "hall", "", now)
        .await
        .unwrap()
        .unwrap();
    let resident = store
        .enroll_resident(
            town_id,
            &staff,
            &NewResident {
                program_id: program.id.clone(),
                subject_id: "subj-1".into(),
                family_name: String::new(),
                given_name: String::new(),
                gender: "unknown".into(),
                birth_date: String::new(),
                resident_number: String::new(),
                address: String::new(),
                phone: String::new(),
                consent: ConsentRecord {
                    recorded_by: "staff".into(),
                    given_at_ms: now,
                    version: "1".into(),
                    scope: "checkup".into(),
                },
            },
            now,
        )
        .await
        .unwrap();
    let visit = store
        .create_visit(town_id, &staff, &resident, &site.id, now, now)
        .await
        .unwrap()
        .unwrap();

    let first = [
        lab(Analyte::Triglycerides, 180.0, false, now - 60_000),
        lab(Analyte::HbA1c, 6.8, false, now - 60_000),
    ];
    assert!(
        store
            .put_visit_labs(&town.id, &staff, &visit.id, subj, &first, now)
            .await
            .unwrap()
    );
    let stored = store
        .list_visit_labs(&town.id, &program.id, Some(&visit.id))
        .await
        .unwrap();
    let analytes: Vec<_> = stored.iter().map(|l| l.analyte).collect();
    assert_eq!(analytes, [Analyte::HbA1c, Analyte::Triglycerides]);
    assert_eq!(stored[0].value, 6.8);
    assert_eq!(stored[0].unit, "%");
    assert!(!stored[0].fasting);
    assert_eq!(stored[0].measured_at_ms, now - 60_000);
    assert_eq!(stored[0].entered_by, "staff-1");

    // HbA1c again (a corrected entry) and glucose: HbA1c is replaced, not duplicated.
    let second = [
        lab(Analyte::HbA1c, 7.1, true, now),
        lab(Analyte::Glucose, 131.5, true, now),
    ];
    assert!(
        store
            .put_visit_labs(&town.id, &staff, &visit.id, subj, &second, now + 1)
            .await
            .unwrap()
    );
    let stored = store
        .list_visit_labs(&town.id, &program.id, None)
        .await
        .unwrap();
    let values: Vec<_> = stored
        .iter()
        .map(|l| (l.analyte, l.value, l.fasting))
        .collect();
    assert_eq!(
        values,
        [
            (Analyte::HbA1c, 7.1, true),
            (Analyte::Glucose, 131.5, true),
            (Analyte::Triglycerides, 180.0, false),
        ]
    );
    let events = store
        .list_audit_events(&town.id, None, 0, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action.starts_with("visit.labs"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "visit.labs").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "visit.labs.replace")
            .count(),
        1,
        "{actions:?}"
    );
    assert!(
        events
            .iter()
            .filter(|e| e.action.starts_with("visit.labs"))
            .all(|e| e.subject_id.as_deref() == Some("subj-1"))
    );

    // Another tenant sees nothing and writes nothing, not even part of a batch.
    let intruder = Actor {
        tenant_id: Some(other.id.as_str()),
        principal_id: "staff-2",
        role: "program_staff",
    };
    assert!(
        !store
            .put_visit_labs(&other.id, &intruder, &visit.id, subj, &second, now + 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_visit_labs(&other.id, &intruder, &visit.id, subj, &[], now + 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .list_visit_labs(&other.id, &program.id, Some(&visit.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_visit_labs(&town.id, &program.id, None)
            .await
            .unwrap(),
        stored
    );
    assert!(
        store
            .list_audit_events(&other.id, None, 0, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.action.starts_with("visit.labs"))
    );
}

#[tokio::test]
async fn labs_sqlite() {
    labs(false).await;
}

#[tokio::test]
async fn labs_postgres() {
    labs(true).await;
}

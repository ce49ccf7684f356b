//! Web users and browser sessions against SQLite and (when `AUSCULT_TEST_POSTGRES_URL` is set)
//! PostgreSQL: a principal and its login are created together or not at all, failures count up
//! to the lock-out and a success clears them, a session is found only by its hash while live,
//! sign-out and a password change end sessions, and each step is audited.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewPrincipal, NewToken};
use auscult_store::web_users::{FailedSignIn, LockoutPolicy, NewWebLogin, NewWebSession};
use auscult_store::{StoreError, now_ms};
use common::open;

const POLICY: LockoutPolicy = LockoutPolicy {
    max_failures: 3,
    lock_ms: 60_000,
};

fn token(id: &str) -> NewToken<'_> {
    NewToken {
        id,
        secret_sha256: &[7; 32],
        expires_at_ms: None,
    }
}

async fn web_users(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let t = store
        .create_tenant(&Actor::SYSTEM, "clinic", "clinic", now)
        .await
        .unwrap();
    let login = |username| NewWebLogin {
        username,
        password_hash: "$argon2id$fake",
    };
    let p = store
        .create_principal_with_login(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "Dr A",
                role: "clinician",
            },
            token("t1"),
            Some(login("dr.a")),
            now,
        )
        .await
        .unwrap();
    // A taken username creates nothing: neither the principal nor its token.
    let taken = store
        .create_principal_with_login(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "Dr B",
                role: "clinician",
            },
            token("t2"),
            Some(login("dr.a")),
            now,
        )
        .await;
    assert!(matches!(taken, Err(StoreError::AlreadyExists("username"))));
    assert!(store.find_token("t2").await.unwrap().is_none());
    assert_eq!(store.list_principals(&t.id).await.unwrap().len(), 1);

    let user = store.find_web_user("dr.a").await.unwrap().unwrap();
    assert_eq!(
        (user.principal_id.as_str(), user.role.as_str()),
        (p.id.as_str(), "clinician")
    );
    assert!(store.find_web_user("nobody").await.unwrap().is_none());

    // Failures count; the third locks; the lock ends on time.
    for _ in 0..2 {
        let outcome = store
            .record_failed_sign_in(Some(&user), POLICY, now)
            .await
            .unwrap();
        assert_eq!(outcome, FailedSignIn::Counted);
    }
    let outcome = store
        .record_failed_sign_in(Some(&user), POLICY, now)
        .await
        .unwrap();
    assert_eq!(outcome, FailedSignIn::LockedOut);
    let locked = store.find_web_user("dr.a").await.unwrap().unwrap();
    assert!(locked.locked(now) && !locked.locked(now + 60_000));
    assert_eq!(locked.failed_attempts, 0, "the count starts again");
    store
        .record_failed_sign_in(None, POLICY, now)
        .await
        .unwrap();

    // A session: found by its hash while live, gone after sign-out or expiry.
    store
        .start_web_session(
            &locked,
            NewWebSession {
                id_sha256: "h1",
                csrf_token: "c1",
                expires_at_ms: now + 1000,
            },
            now,
        )
        .await
        .unwrap();
    let cleared = store.find_web_user("dr.a").await.unwrap().unwrap();
    assert!(!cleared.locked(now), "a sign-in clears the lock");
    let s1 = store.find_web_session("h1", now).await.unwrap().unwrap();
    assert_eq!(s1.csrf_token, "c1");
    assert!(
        store
            .find_web_session("h1", now + 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_web_session("h9", now).await.unwrap().is_none());
    store
        .start_web_session(
            &cleared,
            NewWebSession {
                id_sha256: "h2",
                csrf_token: "c2",
                expires_at_ms: now + 1000,
            },
            now,
        )
        .await
        .unwrap();
    // A password change keeps the session that made it and ends the others.
    store
        .change_web_password(&cleared, "$argon2id$new", "h2", now)
        .await
        .unwrap();
    assert!(store.find_web_session("h1", now).await.unwrap().is_none());
    let s2 = store.find_web_session("h2", now).await.unwrap().unwrap();
    assert_eq!(s2.user.password_hash, "$argon2id$new");
    store.end_web_session(&s2, "h2", now).await.unwrap();
    assert!(store.find_web_session("h2", now).await.unwrap().is_none());

    let actions: Vec<String> = store
        .list_audit_events(&t.id, None, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("web_user.create"), 1);
    assert_eq!(count("web.sign_in_failed"), 3, "{actions:?}");
    assert_eq!(count("web.locked_out"), 1);
    assert_eq!(count("web.sign_in"), 2);
    assert_eq!(count("web.password_change"), 1);
    assert_eq!(count("web.sign_out"), 1);
}

#[tokio::test]
async fn web_users_sqlite() {
    web_users(false).await;
}

#[tokio::test]
async fn web_users_postgres() {
    web_users(true).await;
}

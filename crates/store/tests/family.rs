//! Families' access against SQLite and (when `AUSCULT_TEST_POSTGRES_URL` is set) PostgreSQL: an
//! invitation is found only by its token's hash, accepted once (a taken username makes nothing
//! and leaves it usable), not after it expires or is withdrawn; the grant lets its family member
//! see that resident only, in that tenant; withdrawing it ends the family member's sessions;
//! each step is audited.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::audit::Actor;
use auscult_store::family::{Acceptor, AccessState, NewFamilyInvitation};
use auscult_store::identity::{NewPrincipal, NewToken};
use auscult_store::web_users::{NewWebLogin, NewWebSession};
use auscult_store::{StoreError, SubjectId, TenantId, now_ms};
use common::open;

fn invitation<'a>(
    tenant_id: &'a TenantId,
    subject_id: &'a SubjectId,
    token_sha256: &'a str,
    expires_at_ms: i64,
) -> NewFamilyInvitation<'a> {
    NewFamilyInvitation {
        tenant_id,
        subject_id,
        relative_name: "Hanako",
        relationship: "daughter",
        consent_recorded_by: "nurse on duty",
        consent_version: "v2",
        share_recordings: false,
        token_sha256,
        expires_at_ms,
    }
}

fn new_login(username: &str) -> Acceptor<'_> {
    Acceptor::NewLogin {
        role: "family",
        login: NewWebLogin {
            username,
            password_hash: "$argon2id$fake",
        },
    }
}

async fn family(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = open(dir.path(), postgres).await else {
        return;
    };
    let now = now_ms();
    let t = store
        .create_tenant(&Actor::SYSTEM, "home", "clinic", now)
        .await
        .unwrap();
    let other = store
        .create_tenant(&Actor::SYSTEM, "elsewhere", "clinic", now)
        .await
        .unwrap();
    // A staff login whose username a family member will try to take.
    store
        .create_principal_with_login(
            &Actor::SYSTEM,
            NewPrincipal {
                tenant_id: Some(&t.id),
                name: "Nurse",
                role: "nurse",
            },
            NewToken {
                id: "nurse-token",
                secret_sha256: &[1; 32],
                expires_at_ms: None,
            },
            Some(NewWebLogin {
                username: "taken",
                password_hash: "$argon2id$fake",
            }),
            now,
        )
        .await
        .unwrap();
    let nurse = Actor {
        tenant_id: Some(t.id.as_str()),
        principal_id: "nurse-1",
        role: "nurse",
    };
    let (r1, r2) = (SubjectId::new("resident-1"), SubjectId::new("resident-2"));
    store
        .create_family_invitation(&nurse, invitation(&t.id, &r1, "h1", now + 60_000), now)
        .await
        .unwrap();
    let access = store
        .family_invitation_by_token("h1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(access.state(now), AccessState::Invited);
    assert!(
        store
            .family_invitation_by_token("h2")
            .await
            .unwrap()
            .is_none()
    );

    // A taken username makes nothing and leaves the invitation usable.
    let taken = store
        .accept_family_invitation(&access, new_login("taken"), now)
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::AlreadyExists(_)), "{taken:?}");
    let again = store
        .family_invitation_by_token("h1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.state(now), AccessState::Invited);

    let user = store
        .accept_family_invitation(&access, new_login("hanako"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, "family");
    assert_eq!(user.name, "Hanako");
    assert_eq!(user.tenant_id, t.id);
    // Once only.
    assert!(
        store
            .accept_family_invitation(&access, new_login("hanako2"), now)
            .await
            .unwrap()
            .is_none()
    );
    let p = &user.principal_id;
    let (tid, oid) = (t.id.clone(), other.id.clone());
    assert!(store.family_may_see(&tid, p, &r1).await.unwrap());
    assert!(!store.family_may_see(&tid, p, &r2).await.unwrap());
    assert!(!store.family_may_see(&oid, p, &r1).await.unwrap());
    let grants = store.family_grants(&tid, p).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].state(now), AccessState::Active);

    // A second resident added to the same family member's account; another tenant's
    // invitation cannot be.
    let second = invitation(&t.id, &r2, "h3", now + 60_000);
    store
        .create_family_invitation(&nurse, second, now)
        .await
        .unwrap();
    let second = store
        .family_invitation_by_token("h3")
        .await
        .unwrap()
        .unwrap();
    let existing = Acceptor::Existing {
        principal_id: p,
        role: "family",
    };
    let elsewhere = Actor {
        tenant_id: Some(other.id.as_str()),
        ..nurse
    };
    store
        .create_family_invitation(
            &elsewhere,
            invitation(&other.id, &r1, "h4", now + 60_000),
            now,
        )
        .await
        .unwrap();
    let foreign = store
        .family_invitation_by_token("h4")
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .accept_family_invitation(&foreign, existing, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .accept_family_invitation(&second, existing, now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.family_grants(&tid, p).await.unwrap().len(), 2);

    // Expired: refused.
    store
        .create_family_invitation(&nurse, invitation(&t.id, &r1, "h5", now + 10), now)
        .await
        .unwrap();
    let late = store
        .family_invitation_by_token("h5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.state(now + 10), AccessState::Expired);
    assert!(
        store
            .accept_family_invitation(&late, new_login("late"), now + 10)
            .await
            .unwrap()
            .is_none()
    );

    // Withdrawing the grant ends the family member's sessions and the grant; not twice, not
    // from another tenant.
    store
        .start_web_session(
            &user,
            NewWebSession {
                id_sha256: "s1",
                csrf_token: "c",
                expires_at_ms: now + 60_000,
            },
            now,
        )
        .await
        .unwrap();
    assert!(store.find_web_session("s1", now).await.unwrap().is_some());
    assert!(
        !store
            .revoke_family_access(&elsewhere, &oid, &r1, &access.id, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_family_access(&nurse, &tid, &r1, &access.id, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_family_access(&nurse, &tid, &r1, &access.id, now)
            .await
            .unwrap()
    );
    assert!(store.find_web_session("s1", now).await.unwrap().is_none());
    assert!(!store.family_may_see(&tid, p, &r1).await.unwrap());
    assert!(store.family_may_see(&tid, p, &r2).await.unwrap());
    let listed = store
        .family_access_of_subject(&nurse, &tid, &r1, now)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "the invitations of this resident");
    assert_eq!(
        listed
            .iter()
            .filter(|a| a.state(now) == AccessState::Revoked)
            .count(),
        1
    );

    let trail = store.list_audit_events(&t.id, None, 0, 500).await.unwrap();
    for (action, n) in [
        ("family.invite", 3),
        ("family.accept", 2),
        ("family.revoke", 1),
        ("family.list", 1),
    ] {
        assert_eq!(
            trail.iter().filter(|e| e.action == action).count(),
            n,
            "{action}"
        );
    }
}

#[tokio::test]
async fn family_access_sqlite() {
    family(false).await;
}

#[tokio::test]
async fn family_access_postgres() {
    family(true).await;
}

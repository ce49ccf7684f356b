//! People's sign-in to the web console: web users (a username and an argon2id password hash for
//! one principal), failed-attempt counting with lock-out, and browser sessions.
//!
//! This module never sees a password nor a session id: the server hashes both (argon2id for the
//! password, SHA-256 for the session id) and passes the hashes. The lock-out policy (how many
//! failures, for how long) is the caller's; this module counts and stores. Every sign-in, failed
//! sign-in, lock-out, sign-out and password change writes its audit event in the same
//! transaction as the change.

use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_admin_audit};
use crate::db::new_id;
use crate::error::{Result, StoreError};
use crate::ids::{PrincipalId, TenantId};

/// A web login to create with a principal: the username and the password's PHC hash string.
#[derive(Debug, Clone, Copy)]
pub struct NewWebLogin<'a> {
    /// Unique across the installation.
    pub username: &'a str,
    /// The argon2id PHC string.
    pub password_hash: &'a str,
}

/// A web user and the principal it acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    /// Identifier.
    pub id: String,
    /// Its tenant (the principal's).
    pub tenant_id: TenantId,
    /// The principal it acts as.
    pub principal_id: PrincipalId,
    /// The principal's role name.
    pub role: String,
    /// The principal's display name.
    pub name: String,
    /// The password's argon2id PHC string.
    pub password_hash: String,
    /// Failed sign-ins since the last success or lock-out.
    pub failed_attempts: u32,
    /// Locked until then, Unix ms.
    pub locked_until_ms: Option<i64>,
}

impl WebUser {
    /// Whether the account is locked at `now_ms`.
    pub fn locked(&self, now_ms: i64) -> bool {
        self.locked_until_ms.is_some_and(|until| until > now_ms)
    }

    /// The user as an audit actor.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            tenant_id: Some(self.tenant_id.as_str()),
            principal_id: self.principal_id.as_str(),
            role: &self.role,
        }
    }
}

/// A live browser session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The signed-in user.
    pub user: WebUser,
    /// The session's CSRF token, to be echoed by every form.
    pub csrf_token: String,
    /// When it ends, Unix ms.
    pub expires_at_ms: i64,
}

/// A new session to store.
#[derive(Debug, Clone, Copy)]
pub struct NewWebSession<'a> {
    /// SHA-256 of the session id, hex.
    pub id_sha256: &'a str,
    /// Its CSRF token.
    pub csrf_token: &'a str,
    /// When it ends, Unix ms.
    pub expires_at_ms: i64,
}

/// How many failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the account.
    pub max_failures: u32,
    /// How long it stays locked, ms.
    pub lock_ms: i64,
}

/// What a failed sign-in did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedSignIn {
    /// Counted; the account is still open.
    Counted,
    /// This failure locked the account.
    LockedOut,
}

/// The actor of a sign-in attempt for a username nobody has.
const ANONYMOUS: Actor<'static> = Actor {
    tenant_id: None,
    principal_id: "anonymous",
    role: "anonymous",
};

const USER_COLUMNS: &str = "u.id, u.tenant_id, u.principal_id, p.role, p.name, u.password_hash, \
     u.failed_attempts, u.locked_until_ms";

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<WebUser> {
    let failed: i64 = row.try_get("failed_attempts")?;
    Ok(WebUser {
        id: row.try_get("id")?,
        tenant_id: TenantId::new(row.try_get::<String, _>("tenant_id")?),
        principal_id: PrincipalId::new(row.try_get::<String, _>("principal_id")?),
        role: row.try_get("role")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until_ms: row.try_get("locked_until_ms")?,
    })
}

/// Inserts a web user for `principal_id` (in the caller's transaction).
pub(crate) async fn insert_web_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &TenantId,
    principal_id: &PrincipalId,
    login: NewWebLogin<'_>,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO web_users (id, tenant_id, principal_id, username, password_hash, \
         failed_attempts, locked_until_ms, created_at_ms, password_changed_at_ms) \
         VALUES ($1, $2, $3, $4, $5, 0, NULL, $6, $6)",
    )
    .bind(new_id())
    .bind(tenant_id.as_str())
    .bind(principal_id.as_str())
    .bind(login.username)
    .bind(login.password_hash)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::unique_as(e, "username"))?;
    Ok(())
}

/// Writes a sign-in audit event about the web user `user` (or an unknown username).
async fn audit_sign_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: Option<&WebUser>,
    action: &str,
    now_ms: i64,
) -> Result<()> {
    match user {
        Some(u) => {
            insert_admin_audit(
                tx,
                &u.actor(),
                Some(&u.tenant_id),
                action,
                u.principal_id.as_str(),
                now_ms,
            )
            .await
        }
        None => crate::audit::insert_audit(tx, &ANONYMOUS, action, None, None, now_ms).await,
    }
}

impl Store {
    /// The web user signing in as `username` (usernames are unique across tenants, so this
    /// lookup is not scoped by tenant; the user found carries its tenant).
    pub async fn find_web_user(&self, username: &str) -> Result<Option<WebUser>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM web_users u JOIN principals p ON p.id = u.principal_id \
             WHERE u.username = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Counts a failed sign-in (of `user`, or of a username nobody has) and audits it as
    /// `web.sign_in_failed`; the failure that reaches `policy.max_failures` locks the account for
    /// `policy.lock_ms` (audited as `web.locked_out`) and starts the count again.
    pub async fn record_failed_sign_in(
        &self,
        user: Option<&WebUser>,
        policy: LockoutPolicy,
        now_ms: i64,
    ) -> Result<FailedSignIn> {
        let mut tx = self.pool.begin().await?;
        audit_sign_in(&mut tx, user, "web.sign_in_failed", now_ms).await?;
        let Some(user) = user else {
            tx.commit().await?;
            return Ok(FailedSignIn::Counted);
        };
        sqlx::query(
            "UPDATE web_users SET \
             locked_until_ms = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until_ms END, \
             failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END \
             WHERE id = $1",
        )
        .bind(&user.id)
        .bind(i64::from(policy.max_failures))
        .bind(now_ms.saturating_add(policy.lock_ms))
        .execute(&mut *tx)
        .await?;
        let locked: Option<i64> =
            sqlx::query("SELECT locked_until_ms FROM web_users WHERE id = $1")
                .bind(&user.id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("locked_until_ms")?;
        let outcome = if locked.is_some_and(|until| until > now_ms) {
            audit_sign_in(&mut tx, Some(user), "web.locked_out", now_ms).await?;
            FailedSignIn::LockedOut
        } else {
            FailedSignIn::Counted
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Starts a session for `user` after a successful sign-in: clears the failure count and the
    /// lock, stores the session (its id's hash only), audits `web.sign_in`.
    pub async fn start_web_session(
        &self,
        user: &WebUser,
        session: NewWebSession<'_>,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE web_users SET failed_attempts = 0, locked_until_ms = NULL WHERE id = $1",
        )
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, user_id, csrf_token, created_at_ms, expires_at_ms, \
             revoked_at_ms) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(session.id_sha256)
        .bind(&user.id)
        .bind(session.csrf_token)
        .bind(now_ms)
        .bind(session.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        audit_sign_in(&mut tx, Some(user), "web.sign_in", now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session whose id hashes to `id_sha256`: not revoked, not expired at `now_ms`.
    pub async fn find_web_session(
        &self,
        id_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<WebSession>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at_ms FROM web_sessions s \
             JOIN web_users u ON u.id = s.user_id JOIN principals p ON p.id = u.principal_id \
             WHERE s.id_sha256 = $1 AND s.revoked_at_ms IS NULL AND s.expires_at_ms > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_sha256)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|row| {
                Ok(WebSession {
                    user: user_from_row(row)?,
                    csrf_token: row.try_get("csrf_token")?,
                    expires_at_ms: row.try_get("expires_at_ms")?,
                })
            })
            .transpose()
    }

    /// Ends a session (sign-out), audited as `web.sign_out`.
    pub async fn end_web_session(
        &self,
        session: &WebSession,
        id_sha256: &str,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE web_sessions SET revoked_at_ms = $2 WHERE id_sha256 = $1 AND revoked_at_ms IS NULL",
        )
        .bind(id_sha256)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        audit_sign_in(&mut tx, Some(&session.user), "web.sign_out", now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces `user`'s password hash and ends every other session of the user (the one with
    /// `keep_session_sha256` stays), audited as `web.password_change`.
    pub async fn change_web_password(
        &self,
        user: &WebUser,
        password_hash: &str,
        keep_session_sha256: &str,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE web_users SET password_hash = $2, password_changed_at_ms = $3 WHERE id = $1",
        )
        .bind(&user.id)
        .bind(password_hash)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE web_sessions SET revoked_at_ms = $3 \
             WHERE user_id = $1 AND id_sha256 <> $2 AND revoked_at_ms IS NULL",
        )
        .bind(&user.id)
        .bind(keep_session_sha256)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        audit_sign_in(&mut tx, Some(user), "web.password_change", now_ms).await?;
        tx.commit().await?;
        Ok(())
    }
}

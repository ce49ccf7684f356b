//! Families' access to a resident (the watch from afar): the resident's recorded consent, the
//! invitation a nurse gives a relative, and, once accepted, the relative's grant to see that one
//! resident.
//!
//! One row per invitation: it is an invitation until accepted (once, before it expires, unless
//! revoked) and the grant afterwards, until revoked. This module never sees an invitation's
//! token: the server hashes it (SHA-256) and passes the hash. It does not interpret roles: the
//! server names the family role. Making, accepting and revoking are audited in the same
//! transaction as the change; revoking also ends the relative's browser sessions.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{Actor, insert_admin_audit_about};
use crate::db::new_id;
use crate::error::Result;
use crate::ids::{PrincipalId, SubjectId, TenantId};
use crate::web_users::{NewWebLogin, WebUser, insert_web_user};

/// An invitation, or the grant it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyAccess {
    /// Identifier (not the token).
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The resident the relative may see.
    pub subject_id: String,
    /// The relative's display name.
    pub relative_name: String,
    /// The relative's relationship to the resident.
    pub relationship: String,
    /// Who recorded the resident's consent.
    pub consent_recorded_by: String,
    /// The version of the consent document.
    pub consent_version: String,
    /// Whether the resident consented to the family hearing recordings.
    pub share_recordings: bool,
    /// Who made the invitation (principal id).
    pub created_by: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// The invitation is unusable from then on, Unix ms.
    pub expires_at_ms: i64,
    /// When the relative accepted it.
    pub accepted_at_ms: Option<i64>,
    /// The relative's principal, once accepted.
    pub principal_id: Option<String>,
    /// When it was revoked.
    pub revoked_at_ms: Option<i64>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessState {
    /// Waiting for the relative, usable.
    Invited,
    /// Accepted: the relative sees the resident.
    Active,
    /// Never accepted, past its expiry.
    Expired,
    /// Withdrawn (before or after acceptance).
    Revoked,
}

impl FamilyAccess {
    /// Its state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> AccessState {
        if self.revoked_at_ms.is_some() {
            AccessState::Revoked
        } else if self.accepted_at_ms.is_some() {
            AccessState::Active
        } else if now_ms >= self.expires_at_ms {
            AccessState::Expired
        } else {
            AccessState::Invited
        }
    }
}

/// A new invitation with the resident's consent.
#[derive(Debug, Clone, Copy)]
pub struct NewFamilyInvitation<'a> {
    /// Its tenant.
    pub tenant_id: &'a TenantId,
    /// The resident.
    pub subject_id: &'a SubjectId,
    /// The relative's display name.
    pub relative_name: &'a str,
    /// The relative's relationship to the resident.
    pub relationship: &'a str,
    /// Who recorded the resident's consent.
    pub consent_recorded_by: &'a str,
    /// The consent document's version.
    pub consent_version: &'a str,
    /// Whether recordings may be shared with the family.
    pub share_recordings: bool,
    /// SHA-256 of the token, hex.
    pub token_sha256: &'a str,
    /// Unix ms.
    pub expires_at_ms: i64,
}

/// Who accepts an invitation.
#[derive(Debug, Clone, Copy)]
pub enum Acceptor<'a> {
    /// A new family member: a principal with `role` and this web login is made.
    NewLogin {
        /// The role name of family principals.
        role: &'a str,
        /// The login chosen.
        login: NewWebLogin<'a>,
    },
    /// A family member already signed in (of the invitation's tenant) adds this resident.
    Existing {
        /// Their principal.
        principal_id: &'a PrincipalId,
        /// Its role name.
        role: &'a str,
    },
}

const COLUMNS: &str = "id, tenant_id, subject_id, relative_name, relationship, \
     consent_recorded_by, consent_version, share_recordings, created_by, created_at_ms, \
     expires_at_ms, accepted_at_ms, principal_id, revoked_at_ms";

fn from_row(row: &AnyRow) -> Result<FamilyAccess> {
    let share: i64 = row.try_get("share_recordings")?;
    Ok(FamilyAccess {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        subject_id: row.try_get("subject_id")?,
        relative_name: row.try_get("relative_name")?,
        relationship: row.try_get("relationship")?,
        consent_recorded_by: row.try_get("consent_recorded_by")?,
        consent_version: row.try_get("consent_version")?,
        share_recordings: share != 0,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        accepted_at_ms: row.try_get("accepted_at_ms")?,
        principal_id: row.try_get("principal_id")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

impl Store {
    /// Stores the resident's consent and an invitation for a relative, audited as
    /// `family.invite` (the resident; the invitation as target). Returns its id.
    pub async fn create_family_invitation(
        &self,
        actor: &Actor<'_>,
        inv: NewFamilyInvitation<'_>,
        now_ms: i64,
    ) -> Result<String> {
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO family_access (id, tenant_id, subject_id, relative_name, relationship, \
             consent_recorded_by, consent_version, share_recordings, token_sha256, created_by, \
             created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(inv.tenant_id.as_str())
        .bind(inv.subject_id.as_str())
        .bind(inv.relative_name)
        .bind(inv.relationship)
        .bind(inv.consent_recorded_by)
        .bind(inv.consent_version)
        .bind(i64::from(inv.share_recordings))
        .bind(inv.token_sha256)
        .bind(actor.principal_id)
        .bind(now_ms)
        .bind(inv.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        insert_admin_audit_about(
            &mut tx,
            actor,
            Some(inv.tenant_id),
            "family.invite",
            &id,
            Some(inv.subject_id),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The invitation whose token hashes to `token_sha256`, in any state.
    pub async fn family_invitation_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<FamilyAccess>> {
        let sql = format!("SELECT {COLUMNS} FROM family_access WHERE token_sha256 = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Uses up a live invitation for `acceptor`, in one transaction: a new family member's
    /// principal and web login are made (a taken username makes nothing:
    /// [`crate::StoreError::AlreadyExists`]), and the invitation becomes their grant; audited as
    /// `family.accept` by the family member. `None` when the invitation is no longer usable
    /// (accepted, revoked or expired meanwhile), or the existing acceptor is of another tenant.
    /// Returns the family member's web user.
    pub async fn accept_family_invitation(
        &self,
        access: &FamilyAccess,
        acceptor: Acceptor<'_>,
        now_ms: i64,
    ) -> Result<Option<WebUser>> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE family_access SET accepted_at_ms = $1 WHERE id = $2 \
             AND accepted_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(now_ms)
        .bind(&access.id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let tenant_id = TenantId::new(access.tenant_id.as_str());
        let (principal_id, role) = match acceptor {
            Acceptor::NewLogin { role, login } => {
                let id = PrincipalId::new(new_id());
                sqlx::query(
                    "INSERT INTO principals (id, tenant_id, name, role, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id.as_str())
                .bind(tenant_id.as_str())
                .bind(&access.relative_name)
                .bind(role)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                insert_web_user(&mut tx, &tenant_id, &id, login, now_ms).await?;
                (id, role)
            }
            Acceptor::Existing { principal_id, role } => {
                let same_tenant = sqlx::query(
                    "SELECT COUNT(*) AS n FROM principals WHERE id = $1 AND tenant_id = $2 AND role = $3",
                )
                .bind(principal_id.as_str())
                .bind(tenant_id.as_str())
                .bind(role)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>("n")?;
                if same_tenant != 1 {
                    return Ok(None);
                }
                (principal_id.clone(), role)
            }
        };
        sqlx::query("UPDATE family_access SET principal_id = $1 WHERE id = $2")
            .bind(principal_id.as_str())
            .bind(&access.id)
            .execute(&mut *tx)
            .await?;
        let actor = Actor {
            tenant_id: Some(tenant_id.as_str()),
            principal_id: principal_id.as_str(),
            role,
        };
        insert_admin_audit_about(
            &mut tx,
            &actor,
            Some(&tenant_id),
            "family.accept",
            &access.id,
            Some(&SubjectId::new(access.subject_id.as_str())),
            now_ms,
        )
        .await?;
        let user = sqlx::query(
            "SELECT u.id, u.tenant_id, u.principal_id, p.role, p.name, u.password_hash, \
             u.failed_attempts, u.locked_until_ms FROM web_users u \
             JOIN principals p ON p.id = u.principal_id WHERE u.principal_id = $1",
        )
        .bind(principal_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user
            .as_ref()
            .map(crate::web_users::user_from_row)
            .transpose()?
        else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(user))
    }

    /// The residents a family member may see now: their accepted, unrevoked grants in their
    /// tenant, oldest first.
    pub async fn family_grants(
        &self,
        tenant_id: &TenantId,
        principal_id: &PrincipalId,
    ) -> Result<Vec<FamilyAccess>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM family_access WHERE tenant_id = $1 AND principal_id = $2 \
             AND accepted_at_ms IS NOT NULL AND revoked_at_ms IS NULL ORDER BY accepted_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(principal_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether the family member `principal_id` may see `subject_id` of the tenant now.
    pub async fn family_may_see(
        &self,
        tenant_id: &TenantId,
        principal_id: &PrincipalId,
        subject_id: &SubjectId,
    ) -> Result<bool> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM family_access WHERE tenant_id = $1 AND principal_id = $2 \
             AND subject_id = $3 AND accepted_at_ms IS NOT NULL AND revoked_at_ms IS NULL",
        )
        .bind(tenant_id.as_str())
        .bind(principal_id.as_str())
        .bind(subject_id.as_str())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }

    /// Every invitation and grant of a resident, newest first, audited as `family.list` (it
    /// names the relatives).
    pub async fn family_access_of_subject(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        now_ms: i64,
    ) -> Result<Vec<FamilyAccess>> {
        let mut tx = self.pool.begin().await?;
        crate::audit::insert_audit(
            &mut tx,
            actor,
            "family.list",
            None,
            Some(subject_id.as_str()),
            now_ms,
        )
        .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM family_access WHERE tenant_id = $1 AND subject_id = $2 \
             ORDER BY created_at_ms DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(subject_id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(from_row).collect()
    }

    /// Withdraws an invitation or a grant of the resident (unusable, and the family member no
    /// longer sees the resident) and ends every browser session of the family member, audited
    /// as `family.revoke`. False when there is no such unrevoked row in the tenant.
    pub async fn revoke_family_access(
        &self,
        actor: &Actor<'_>,
        tenant_id: &TenantId,
        subject_id: &SubjectId,
        access_id: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE family_access SET revoked_at_ms = $1, revoked_by = $2 \
             WHERE id = $3 AND tenant_id = $4 AND subject_id = $5 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(actor.principal_id)
        .bind(access_id)
        .bind(tenant_id.as_str())
        .bind(subject_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE web_sessions SET revoked_at_ms = $1 WHERE revoked_at_ms IS NULL AND user_id IN \
             (SELECT u.id FROM web_users u JOIN family_access f ON f.principal_id = u.principal_id \
              WHERE f.id = $2)",
        )
        .bind(now_ms)
        .bind(access_id)
        .execute(&mut *tx)
        .await?;
        insert_admin_audit_about(
            &mut tx,
            actor,
            Some(tenant_id),
            "family.revoke",
            access_id,
            Some(subject_id),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> FamilyAccess {
        FamilyAccess {
            id: "f".into(),
            tenant_id: "t".into(),
            subject_id: "s".into(),
            relative_name: "r".into(),
            relationship: "daughter".into(),
            consent_recorded_by: "n".into(),
            consent_version: "v1".into(),
            share_recordings: false,
            created_by: "p".into(),
            created_at_ms: 0,
            expires_at_ms: 1_000,
            accepted_at_ms: None,
            principal_id: None,
            revoked_at_ms: None,
        }
    }

    #[test]
    fn an_invitation_is_usable_until_accepted_revoked_or_expired() {
        assert_eq!(access().state(999), AccessState::Invited);
        assert_eq!(access().state(1_000), AccessState::Expired);
        let accepted = FamilyAccess {
            accepted_at_ms: Some(5),
            ..access()
        };
        assert_eq!(
            accepted.state(5_000),
            AccessState::Active,
            "a grant does not expire"
        );
        let revoked = FamilyAccess {
            revoked_at_ms: Some(9),
            ..accepted
        };
        assert_eq!(revoked.state(10), AccessState::Revoked);
    }
}

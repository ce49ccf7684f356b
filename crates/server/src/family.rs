//! Families' access to a resident (the watch from afar): a nurse (or the tenant's
//! administrator) records the resident's consent and invites a relative; the relative accepts
//! the invitation once, choosing a username and password, and from then on sees that resident
//! only, until a nurse withdraws the access.
//!
//! The invitation's token is a capability in a URL (`/family/invite/{token}`): 244 random bits,
//! stored only as its SHA-256, usable once, for [`INVITATION_TTL_MS`]. What a family member may
//! read is not decided here but where data is read ([`crate::vitals::VitalsApi`] checks the
//! grant on every read); this module makes, lists, accepts and withdraws grants. Every change
//! is audited by the store in the same transaction (`family.invite`, `family.accept`,
//! `family.revoke`; `family.list` when a nurse reads who has access). Logs carry ids only.

use auscult_store::family::{Acceptor, AccessState, FamilyAccess, NewFamilyInvitation};
use auscult_store::web_users::{NewWebLogin, WebUser};
use auscult_store::{SubjectId, TenantId, now_ms};

use crate::auth::{Caller, Role};
use crate::error::{Result, ServerError};
use crate::passwords::{random_secret, sha256_hex, well_formed_secret};
use crate::state::AppState;
use crate::vitals::check_subject_id;

/// Who may invite a family member and withdraw their access.
pub const INVITERS: &[Role] = &[Role::Nurse, Role::Admin];
/// How long an invitation may wait to be accepted, ms (7 days).
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// The longest text of a consent's field, characters.
pub const MAX_FIELD_CHARS: usize = 100;

/// The resident's consent and who is invited, as a nurse records it.
#[derive(Debug, Clone, Copy)]
pub struct Consent<'a> {
    /// The relative's display name.
    pub relative_name: &'a str,
    /// The relative's relationship to the resident.
    pub relationship: &'a str,
    /// Who recorded the resident's consent.
    pub recorded_by: &'a str,
    /// The consent document's version.
    pub document_version: &'a str,
    /// Whether the resident consented to the family hearing recordings.
    pub share_recordings: bool,
}

/// A field of a consent: 1 to [`MAX_FIELD_CHARS`] characters after trimming, no control
/// characters.
fn field<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_FIELD_CHARS || v.chars().any(char::is_control) {
        return Err(ServerError::InvalidArgument(format!(
            "{what} must be 1 to {MAX_FIELD_CHARS} characters"
        )));
    }
    Ok(v)
}

/// A fresh invitation: the token to put in the link (shown once) and its expiry.
#[derive(Debug)]
pub struct Invitation {
    /// The token (the link is `/family/invite/{token}`).
    pub token: String,
    /// Unusable from then on, Unix ms.
    pub expires_at_ms: i64,
}

/// The tenant of an inviter, after checking that `subject_id` is a resident of it with vital
/// signs (else NOT_FOUND, as for a missing one).
async fn inviter_tenant<'c>(
    app: &AppState,
    caller: &'c Caller,
    subject_id: &SubjectId,
) -> Result<&'c TenantId> {
    let tenant_id = caller.tenant_with(INVITERS)?;
    check_subject_id(subject_id.as_str())?;
    if !app
        .store
        .vitals_subject_exists(tenant_id, subject_id)
        .await?
    {
        return Err(ServerError::NotFound("subject"));
    }
    Ok(tenant_id)
}

/// Records the resident's consent and makes a one-time invitation for the relative.
pub async fn invite(
    app: &AppState,
    caller: &Caller,
    subject_id: &str,
    consent: Consent<'_>,
) -> Result<Invitation> {
    let subject_id = &SubjectId::new(subject_id);
    let tenant_id = inviter_tenant(app, caller, subject_id).await?;
    let relative_name = field(consent.relative_name, "the relative's name")?;
    let relationship = field(consent.relationship, "the relationship")?;
    let recorded_by = field(consent.recorded_by, "who recorded the consent")?;
    let document_version = field(consent.document_version, "the consent document's version")?;
    let token = random_secret();
    let now = now_ms();
    let expires_at_ms = now + INVITATION_TTL_MS;
    let id = app
        .store
        .create_family_invitation(
            &caller.actor(),
            NewFamilyInvitation {
                tenant_id,
                subject_id,
                relative_name,
                relationship,
                consent_recorded_by: recorded_by,
                consent_version: document_version,
                share_recordings: consent.share_recordings,
                token_sha256: &sha256_hex(&token),
                expires_at_ms,
            },
            now,
        )
        .await?;
    tracing::info!(invitation_id = %id, principal_id = %caller.principal_id, "family invitation made");
    Ok(Invitation {
        token,
        expires_at_ms,
    })
}

/// A resident's invitations and grants, newest first (audited: it names the relatives).
pub async fn access_of(
    app: &AppState,
    caller: &Caller,
    subject_id: &str,
) -> Result<Vec<FamilyAccess>> {
    let subject_id = &SubjectId::new(subject_id);
    let tenant_id = inviter_tenant(app, caller, subject_id).await?;
    Ok(app
        .store
        .family_access_of_subject(&caller.actor(), tenant_id, subject_id, now_ms())
        .await?)
}

/// Withdraws an invitation or a grant of the resident; the family member's sessions end.
pub async fn revoke(
    app: &AppState,
    caller: &Caller,
    subject_id: &str,
    access_id: &str,
) -> Result<()> {
    let subject_id = &SubjectId::new(subject_id);
    let tenant_id = inviter_tenant(app, caller, subject_id).await?;
    if access_id.is_empty() || access_id.len() > 64 {
        return Err(ServerError::NotFound("family access"));
    }
    if !app
        .store
        .revoke_family_access(&caller.actor(), tenant_id, subject_id, access_id, now_ms())
        .await?
    {
        return Err(ServerError::NotFound("family access"));
    }
    tracing::info!(access_id = %access_id, principal_id = %caller.principal_id, "family access withdrawn");
    Ok(())
}

/// The invitation a token opens, while it is usable; `None` for a malformed or unknown token
/// and for one accepted, withdrawn or expired (never told apart: the link simply does not
/// work).
pub async fn open_invitation(app: &AppState, token: &str) -> Result<Option<FamilyAccess>> {
    if !well_formed_secret(token) {
        return Ok(None);
    }
    let found = app
        .store
        .family_invitation_by_token(&sha256_hex(token))
        .await?;
    Ok(found.filter(|a| a.state(now_ms()) == AccessState::Invited))
}

/// Who accepts an invitation: a new family member with a chosen username and password (checked
/// and hashed with argon2id here), or a family member already signed in.
#[derive(Debug)]
pub enum Accepting<'a> {
    /// A new login.
    New {
        /// The username chosen.
        username: &'a str,
        /// The password chosen.
        password: &'a str,
    },
    /// The signed-in family member.
    Signed(&'a Caller),
}

/// Accepts a usable invitation; `None` when it was used up, withdrawn or expired meanwhile
/// (or a signed-in acceptor is not a family member of its tenant). A taken username is
/// ALREADY_EXISTS and changes nothing. Returns the family member's web user (to sign in).
pub async fn accept(
    app: &AppState,
    access: &FamilyAccess,
    who: Accepting<'_>,
) -> Result<Option<WebUser>> {
    let role = Role::Family.as_str();
    let accepted = match who {
        Accepting::New { username, password } => {
            crate::passwords::validate_username(username)?;
            crate::passwords::validate_password(password)?;
            let password = password.to_owned();
            let hash =
                tokio::task::spawn_blocking(move || crate::passwords::hash_password(&password))
                    .await
                    .map_err(|_| ServerError::Internal("password hashing task failed".into()))??;
            app.store
                .accept_family_invitation(
                    access,
                    Acceptor::NewLogin {
                        role,
                        login: NewWebLogin {
                            username,
                            password_hash: &hash,
                        },
                    },
                    now_ms(),
                )
                .await?
        }
        Accepting::Signed(caller) => {
            if caller.role != Role::Family {
                return Ok(None);
            }
            app.store
                .accept_family_invitation(
                    access,
                    Acceptor::Existing {
                        principal_id: &caller.principal_id,
                        role,
                    },
                    now_ms(),
                )
                .await?
        }
    };
    if let Some(user) = &accepted {
        tracing::info!(access_id = %access.id, principal_id = %user.principal_id, "family invitation accepted");
    }
    Ok(accepted)
}

/// The residents a signed-in family member may see (none for anyone else).
pub async fn grants(app: &AppState, caller: &Caller) -> Result<Vec<FamilyAccess>> {
    let tenant_id = caller.tenant_with(&[Role::Family])?;
    Ok(app
        .store
        .family_grants(tenant_id, &caller.principal_id)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_fields_are_trimmed_bounded_and_printable() {
        assert_eq!(field("  Hanako  ", "x").ok(), Some("Hanako"));
        assert!(field("   ", "x").is_err());
        assert!(field(&"あ".repeat(MAX_FIELD_CHARS), "x").is_ok());
        assert!(field(&"あ".repeat(MAX_FIELD_CHARS + 1), "x").is_err());
        assert!(field("a\u{0}b", "x").is_err());
    }
}

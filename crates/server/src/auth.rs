//! Bearer-token authentication and role checks.
//!
//! A token reads `ausc_<id>_<secret>`: the id finds the stored record, the secret is hashed with
//! SHA-256 and compared with the stored hash in constant time. The secret itself is never stored
//! or logged. This module must never decide tenant scoping of data: it only says who the caller is.
//!
//! Lookups go through the store's cache of recent answers ([`auscult_store::token_cache`]): a
//! flood of well-formed but unknown tokens reaches the database at a bounded rate and is then
//! refused with `RESOURCE_EXHAUSTED` (tokens already cached keep working), and a revocation made
//! through this server takes effect at once, through another server within the cache's TTL.
//!
//! Tokens expire ([`Role::default_token_lifetime`] unless a lifetime is given when one is minted);
//! an expired token is refused with `UNAUTHENTICATED` "token expired", cached or not. A call that
//! streams holds a [`TokenWatch`]: the stream ends with `UNAUTHENTICATED` when its token is revoked
//! or replaced by this server (at once), by another server sharing the database (within the
//! configured re-check interval), or when it expires.

use std::time::Duration;

use auscult_store::audit::Actor;
use auscult_store::identity::{NewToken, TokenRecord};
use auscult_store::token_cache::TokenLookup;
use auscult_store::{DeviceId, PrincipalId, Store, TenantId, now_ms};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

use crate::error::{Result, ServerError};

const PREFIX: &str = "ausc_";

/// A role, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Administrator (system-wide when bound to no tenant).
    Admin,
    /// Clinician.
    Clinician,
    /// Nurse.
    Nurse,
    /// Programme staff.
    ProgramStaff,
    /// Recording device.
    Device,
    /// A resident's relative, invited by a nurse: sees only the residents they were invited for
    /// (the scope is checked where data is read, [`crate::vitals::VitalsApi`]), nothing else.
    Family,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Nurse => "nurse",
            Role::ProgramStaff => "program_staff",
            Role::Device => "device",
            Role::Family => "family",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "clinician" => Role::Clinician,
            "nurse" => Role::Nurse,
            "program_staff" => Role::ProgramStaff,
            "device" => Role::Device,
            "family" => Role::Family,
            _ => return None,
        })
    }

    /// How long a token minted for this role lives when no lifetime is asked for: people's tokens
    /// expire (an administrator's soonest), a device's does not (it has nobody to log in again;
    /// revoke or rotate it when it is lost or retired).
    pub fn default_token_lifetime(self) -> Option<Duration> {
        const DAY: u64 = 24 * 60 * 60;
        match self {
            Role::Admin => Some(Duration::from_secs(30 * DAY)),
            Role::Clinician | Role::Nurse | Role::ProgramStaff | Role::Family => {
                Some(Duration::from_secs(90 * DAY))
            }
            Role::Device => None,
        }
    }
}

/// The longest lifetime a token may be given (ten years).
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 10 * 366 * 24 * 60 * 60;

/// When a token minted now for `role` expires, Unix ms: after `lifetime_seconds` when asked for,
/// else after the role's default lifetime (`None`: never).
pub fn token_expiry(role: Role, lifetime_seconds: Option<u64>, now_ms: i64) -> Result<Option<i64>> {
    let lifetime = match lifetime_seconds {
        None => role.default_token_lifetime(),
        Some(0) => {
            return Err(ServerError::InvalidArgument(
                "lifetime_seconds must be at least 1 (leave it out for the role's default)".into(),
            ));
        }
        Some(s) if s > MAX_TOKEN_LIFETIME_SECONDS => {
            return Err(ServerError::InvalidArgument(format!(
                "lifetime_seconds must be at most {MAX_TOKEN_LIFETIME_SECONDS} (ten years)"
            )));
        }
        Some(s) => Some(Duration::from_secs(s)),
    };
    Ok(lifetime.map(|l| {
        let ms = i64::try_from(l.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_add(ms)
    }))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal's id.
    pub principal_id: PrincipalId,
    /// Its tenant (`None` for a system administrator).
    pub tenant_id: Option<TenantId>,
    /// Its role.
    pub role: Role,
    /// The public id of the token it authenticated with.
    pub token_id: String,
    /// When that token expires, Unix ms (`None`: never).
    pub token_expires_at_ms: Option<i64>,
}

impl Caller {
    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            tenant_id: self.tenant_id.as_ref().map(TenantId::as_str),
            principal_id: self.principal_id.as_str(),
            role: self.role.as_str(),
        }
    }

    /// The caller's id as a device: a device authenticates as its own principal, so for a caller
    /// with [`Role::Device`] this is the device that records.
    pub fn device_id(&self) -> DeviceId {
        DeviceId::new(self.principal_id.as_str())
    }

    /// Requires one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServerError::PermissionDenied(
                "role not allowed for this call",
            ))
        }
    }

    /// Requires one of `roles` and a tenant, returning the tenant.
    pub fn tenant_with(&self, roles: &[Role]) -> Result<&TenantId> {
        self.require(roles)?;
        self.tenant_id.as_ref().ok_or(ServerError::PermissionDenied(
            "a tenant-bound principal is required",
        ))
    }
}

/// A freshly minted token: what to give the holder and what to store.
#[derive(Debug)]
pub struct MintedToken {
    /// The full bearer token, shown once.
    pub token: String,
    /// The public id.
    pub id: String,
    /// SHA-256 of the secret.
    pub secret_sha256: Vec<u8>,
}

impl MintedToken {
    /// What the store keeps of this token, expiring at `expires_at_ms`.
    pub fn stored(&self, expires_at_ms: Option<i64>) -> NewToken<'_> {
        NewToken {
            id: &self.id,
            secret_sha256: &self.secret_sha256,
            expires_at_ms,
        }
    }
}

/// Makes a new random token (244 bits of secret from the OS generator, via UUID v4).
pub fn mint_token() -> MintedToken {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let secret_sha256 = Sha256::digest(secret.as_bytes()).to_vec();
    MintedToken {
        token: format!("{PREFIX}{id}_{secret}"),
        id,
        secret_sha256,
    }
}

/// Splits a bearer token into id and secret.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (well_formed(id, 32) && well_formed(secret, 64)).then_some((id, secret))
}

/// Reads the bearer token of a request.
fn bearer(metadata: &MetadataMap) -> Result<&str> {
    let value = metadata
        .get("authorization")
        .ok_or(ServerError::Unauthenticated("missing authorization"))?
        .to_str()
        .map_err(|_| ServerError::Unauthenticated("malformed authorization"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(ServerError::Unauthenticated(
            "authorization must be a bearer token",
        ))
}

/// Authenticates a request's bearer token against the store.
pub async fn authenticate(store: &Store, metadata: &MetadataMap) -> Result<Caller> {
    let token = bearer(metadata)?;
    let (id, secret) = parse_token(token).ok_or(ServerError::Unauthenticated("invalid token"))?;
    let record = match store.lookup_token(id).await? {
        TokenLookup::Found(record) => Some(record),
        TokenLookup::Unknown => None,
        TokenLookup::Throttled => {
            return Err(ServerError::ResourceExhausted(
                "too many failed authentications; retry later".into(),
            ));
        }
    };
    let presented = Sha256::digest(secret.as_bytes());
    // Compare even when the id is unknown, so timing does not tell which ids exist.
    let stored = record.as_ref().map_or(&[0u8; 32][..], |r| &r.secret_sha256);
    let matches: bool = presented.as_slice().ct_eq(stored).into();
    match record {
        Some(r) if matches => {
            still_valid(&r)?;
            let role = Role::parse(&r.principal.role)
                .ok_or(ServerError::Unauthenticated("invalid token"))?;
            Ok(Caller {
                principal_id: r.principal.id,
                tenant_id: r.principal.tenant_id,
                role,
                token_id: id.to_owned(),
                token_expires_at_ms: r.expires_at_ms,
            })
        }
        _ => Err(ServerError::Unauthenticated("invalid token")),
    }
}

/// Whether a stored token (whose secret matched) still authenticates now.
fn still_valid(record: &TokenRecord) -> Result<()> {
    if record.revoked {
        Err(ServerError::Unauthenticated("token revoked"))
    } else if record.expired(now_ms()) {
        Err(ServerError::Unauthenticated("token expired"))
    } else {
        Ok(())
    }
}

/// Watches the token a streaming call authenticated with, so the stream can end when the token
/// stops authenticating. Hold one per stream and `select!` (biased, first) on
/// [`TokenWatch::ended`] next to the stream's own work; `ended` is cancel-safe.
///
/// A revocation through this server is seen in the stream's own task, without a query, so nothing
/// the stream would send after the revocation is sent. A background task re-reads the token in
/// the database every re-check interval for revocations through other servers; it stops with the
/// watch.
#[derive(Debug)]
pub struct TokenWatch {
    principal_id: PrincipalId,
    expires_at: Option<Instant>,
    revocations: Option<tokio::sync::broadcast::Receiver<PrincipalId>>,
    verdict: tokio::sync::watch::Receiver<Option<&'static str>>,
    check_now: std::sync::Arc<tokio::sync::Notify>,
    rechecks: tokio::task::JoinHandle<()>,
}

impl TokenWatch {
    /// Watches `caller`'s token: at once for this store's revocations, every `recheck` in the
    /// database, and at its expiry.
    pub fn new(store: &Store, caller: &Caller, recheck: Duration) -> TokenWatch {
        let expires_at = caller.token_expires_at_ms.map(|at| {
            let left = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
            Instant::now() + Duration::from_millis(left)
        });
        let (verdict_tx, verdict) = tokio::sync::watch::channel(None);
        let check_now = std::sync::Arc::new(tokio::sync::Notify::new());
        let rechecks = tokio::spawn(recheck_token(
            store.clone(),
            caller.token_id.clone(),
            caller.principal_id.clone(),
            recheck,
            std::sync::Arc::clone(&check_now),
            verdict_tx,
        ));
        TokenWatch {
            principal_id: caller.principal_id.clone(),
            expires_at,
            revocations: Some(store.token_revocations()),
            verdict,
            check_now,
            rechecks,
        }
    }

    /// Resolves when the token no longer authenticates, with the error to end the stream with.
    pub async fn ended(&mut self) -> ServerError {
        loop {
            let expires_at = self.expires_at;
            let revocations = &mut self.revocations;
            let verdict = &mut self.verdict;
            let wake = tokio::select! {
                biased;
                revoked = async {
                    match revocations {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match revoked {
                    Ok(principal_id) if principal_id == self.principal_id => {
                        return ServerError::Unauthenticated("token revoked");
                    }
                    Ok(_) => continue,
                    // Revocations were missed: let the database say whether this one was among them.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Wake::Missed,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => Wake::StoreGone,
                },
                said = async {
                    let said = verdict.wait_for(Option::is_some).await.map(|said| *said);
                    match said {
                        Ok(said) => said,
                        Err(_) => std::future::pending().await,
                    }
                } => match said {
                    Some(reason) => return ServerError::Unauthenticated(reason),
                    None => continue,
                },
                () = async {
                    match expires_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => return ServerError::Unauthenticated("token expired"),
            };
            match wake {
                Wake::Missed => self.check_now.notify_one(),
                Wake::StoreGone => self.revocations = None,
            }
        }
    }
}

impl Drop for TokenWatch {
    fn drop(&mut self) {
        self.rechecks.abort();
    }
}

/// What else woke a [`TokenWatch`].
enum Wake {
    Missed,
    StoreGone,
}

/// Re-reads a token in the database every `interval` (or when asked) until it no longer
/// authenticates, then says why.
async fn recheck_token(
    store: Store,
    token_id: String,
    principal_id: PrincipalId,
    interval: Duration,
    check_now: std::sync::Arc<tokio::sync::Notify>,
    verdict: tokio::sync::watch::Sender<Option<&'static str>>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = check_now.notified() => {}
        }
        let reason = match store.find_token(&token_id).await {
            Ok(Some(r)) if r.principal.id == principal_id => match still_valid(&r) {
                Ok(()) => continue,
                Err(ServerError::Unauthenticated(reason)) => reason,
                Err(_) => "token revoked",
            },
            Ok(_) => "token revoked",
            Err(e) => {
                // The stream goes on; the next re-check asks again.
                tracing::warn!(error = %e, "token re-check failed");
                continue;
            }
        };
        let _ = verdict.send(Some(reason));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_hash() {
        let t = mint_token();
        let (id, secret) = parse_token(&t.token).expect("well formed");
        assert_eq!(id, t.id);
        assert_eq!(Sha256::digest(secret.as_bytes()).to_vec(), t.secret_sha256);
        assert_ne!(mint_token().token, t.token);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "ausc_",
            "ausc_abc_def",
            "xyz_0123",
            &format!("ausc_{}_{}", "g".repeat(32), "0".repeat(64)),
        ] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }
}

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

use auscult_store::Store;
use auscult_store::audit::Actor;
use auscult_store::identity::Principal;
use auscult_store::token_cache::TokenLookup;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
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
            _ => return None,
        })
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal's id.
    pub principal_id: String,
    /// Its tenant (`None` for a system administrator).
    pub tenant_id: Option<String>,
    /// Its role.
    pub role: Role,
}

impl Caller {
    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            tenant_id: self.tenant_id.as_deref(),
            principal_id: &self.principal_id,
            role: self.role.as_str(),
        }
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
    pub fn tenant_with(&self, roles: &[Role]) -> Result<&str> {
        self.require(roles)?;
        self.tenant_id
            .as_deref()
            .ok_or(ServerError::PermissionDenied(
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
    let (stored, revoked, principal): (Vec<u8>, bool, Option<Principal>) = match record {
        Some(r) => (r.secret_sha256, r.revoked, Some(r.principal)),
        None => (vec![0u8; 32], true, None),
    };
    let matches: bool = presented.as_slice().ct_eq(stored.as_slice()).into();
    match principal {
        Some(p) if matches && !revoked => {
            let role = Role::parse(&p.role).ok_or(ServerError::Unauthenticated("invalid token"))?;
            Ok(Caller {
                principal_id: p.id,
                tenant_id: p.tenant_id,
                role,
            })
        }
        Some(_) if matches => Err(ServerError::Unauthenticated("token revoked")),
        _ => Err(ServerError::Unauthenticated("invalid token")),
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

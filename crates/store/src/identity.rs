//! Tenants, principals (users and devices) and their tokens.
//!
//! Only token hashes are stored; this module never sees a token's secret. Roles are stored as the
//! lowercase names the server defines; this module does not interpret them. Every change here is
//! an administrative change, and writes its audit event (who, what, which tenant and principal) in
//! the same transaction as the change.

use std::time::Instant;

use sqlx::Row;

use crate::Store;
use crate::audit::{Actor, insert_admin_audit};
use crate::db::new_id;
use crate::error::{Result, StoreError};
use crate::ids::{PrincipalId, TenantId};
use crate::token_cache::{Miss, TokenLookup, TokenLookupStats};

/// A tenant: a municipality, a clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Unique display name.
    pub name: String,
    /// `municipality`, `clinic` or `other`.
    pub kind: String,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
}

/// A user or a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Identifier.
    pub id: PrincipalId,
    /// The tenant, `None` for a system administrator.
    pub tenant_id: Option<TenantId>,
    /// Display name or device serial.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
    /// Tokens not revoked.
    pub live_tokens: u32,
}

/// A stored token: its public id, its owner and the hash of its secret.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// The owner.
    pub principal: Principal,
    /// SHA-256 of the token's secret.
    pub secret_sha256: Vec<u8>,
    /// Whether the token was revoked.
    pub revoked: bool,
    /// When the token stops authenticating, Unix ms (`None`: never).
    pub expires_at_ms: Option<i64>,
}

impl TokenRecord {
    /// Whether the token has expired at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// A token to store: its public id, the hash of its secret and when it expires.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// The public id.
    pub id: &'a str,
    /// SHA-256 of the secret.
    pub secret_sha256: &'a [u8],
    /// When it stops authenticating, Unix ms (`None`: never).
    pub expires_at_ms: Option<i64>,
}

/// A principal to create: its tenant (`None`: a system principal), name and role.
#[derive(Debug, Clone, Copy)]
pub struct NewPrincipal<'a> {
    /// The tenant it belongs to, `None` for a system principal.
    pub tenant_id: Option<&'a TenantId>,
    /// Its name.
    pub name: &'a str,
    /// Its role.
    pub role: &'a str,
}

/// What an administrator may see of a token: never its secret nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The public id.
    pub id: String,
    /// The owner.
    pub principal_id: PrincipalId,
    /// The owner's name.
    pub principal_name: String,
    /// The owner's role.
    pub role: String,
    /// When it was issued, Unix ms.
    pub created_at_ms: i64,
    /// When it expires, Unix ms (`None`: never).
    pub expires_at_ms: Option<i64>,
    /// When it was revoked, Unix ms (`None`: not revoked).
    pub revoked_at_ms: Option<i64>,
}

/// Whose tokens to list.
#[derive(Debug, Clone, Copy)]
pub enum TokenOwners<'a> {
    /// One principal (found by the caller, so its tenant is known).
    Principal(&'a Principal),
    /// Every principal of a tenant.
    Tenant(&'a TenantId),
}

/// The PostgreSQL advisory lock that serialises the creation of the first system principal
/// (`"ausc"` and 2).
const BOOTSTRAP_LOCK: i64 = 0x6175_7363_0000_0002;

const PRINCIPAL_COLUMNS: &str = "p.id, p.tenant_id, p.name, p.role, p.created_at_ms, \
     (SELECT COUNT(*) FROM tokens t WHERE t.principal_id = p.id AND t.revoked_at_ms IS NULL) AS live";

fn principal_from_row(row: &sqlx::any::AnyRow) -> Result<Principal> {
    let live: i64 = row.try_get("live")?;
    let tenant_id: Option<String> = row.try_get("tenant_id")?;
    Ok(Principal {
        id: PrincipalId::new(row.try_get::<String, _>("id")?),
        tenant_id: tenant_id.map(TenantId::new),
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at_ms: row.try_get("created_at_ms")?,
        live_tokens: u32::try_from(live).unwrap_or(u32::MAX),
    })
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId::new(row.try_get::<String, _>("id")?),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl Store {
    /// Creates a tenant; the name must be unused. Audited as `tenant.create` in the new tenant.
    pub async fn create_tenant(
        &self,
        actor: &Actor<'_>,
        name: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<Tenant> {
        let id = TenantId::new(new_id());
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, kind, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(id.as_str())
            .bind(name)
            .bind(kind)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique_as(e, "tenant name"))?;
        insert_admin_audit(
            &mut tx,
            actor,
            Some(&id),
            "tenant.create",
            id.as_str(),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(Tenant {
            id,
            name: name.to_owned(),
            kind: kind.to_owned(),
            created_at_ms: now_ms,
        })
    }

    /// Every tenant, by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name, kind, created_at_ms FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// One tenant.
    pub async fn get_tenant(&self, tenant_id: &TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, kind, created_at_ms FROM tenants WHERE id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Creates a principal together with its first token (stored as a hash), atomically, audited
    /// as `principal.create` (the role is the principal's own, on its row).
    pub async fn create_principal(
        &self,
        actor: &Actor<'_>,
        principal: NewPrincipal<'_>,
        token: NewToken<'_>,
        now_ms: i64,
    ) -> Result<Principal> {
        self.create_principal_with_login(actor, principal, token, None, now_ms)
            .await
    }

    /// Like [`Store::create_principal`], and when `login` is given also the principal's web
    /// console sign-in (which needs a tenant), all in one transaction: a taken username creates
    /// nothing ([`StoreError::AlreadyExists`]). Audited as `principal.create` (and
    /// `web_user.create`).
    pub async fn create_principal_with_login(
        &self,
        actor: &Actor<'_>,
        principal: NewPrincipal<'_>,
        token: NewToken<'_>,
        login: Option<crate::web_users::NewWebLogin<'_>>,
        now_ms: i64,
    ) -> Result<Principal> {
        let NewPrincipal {
            tenant_id,
            name,
            role,
        } = principal;
        let id = PrincipalId::new(new_id());
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO principals (id, tenant_id, name, role, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(tenant_id.map(TenantId::as_str))
        .bind(name)
        .bind(role)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, &id, token, now_ms).await?;
        insert_admin_audit(
            &mut tx,
            actor,
            tenant_id,
            "principal.create",
            id.as_str(),
            now_ms,
        )
        .await?;
        if let Some(login) = login {
            let tenant_id = tenant_id.ok_or(StoreError::Conflict(
                "a web console sign-in needs a tenant-bound principal",
            ))?;
            crate::web_users::insert_web_user(&mut tx, tenant_id, &id, login, now_ms).await?;
            insert_admin_audit(
                &mut tx,
                actor,
                Some(tenant_id),
                "web_user.create",
                id.as_str(),
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        self.tokens.forget_token(token.id);
        Ok(Principal {
            id,
            tenant_id: tenant_id.cloned(),
            name: name.to_owned(),
            role: role.to_owned(),
            created_at_ms: now_ms,
            live_tokens: 1,
        })
    }

    /// Creates the first system principal with `role` (no tenant) together with its token, unless
    /// one exists already; audited as `principal.create`. Returns `None` when one existed. Safe
    /// when several servers start at once: on PostgreSQL the check and the insert run under a
    /// transaction-scoped advisory lock, and on SQLite the insert is one conditional statement
    /// (one writer at a time), so exactly one caller creates it.
    pub async fn create_first_system_principal(
        &self,
        actor: &Actor<'_>,
        name: &str,
        role: &str,
        token: NewToken<'_>,
        now_ms: i64,
    ) -> Result<Option<Principal>> {
        let id = PrincipalId::new(new_id());
        let mut tx = self.pool.begin().await?;
        crate::servers::lock_for_transaction(&mut tx, self.backend, BOOTSTRAP_LOCK).await?;
        let inserted = sqlx::query(
            "INSERT INTO principals (id, tenant_id, name, role, created_at_ms) \
             SELECT $1, NULL, $2, $3, $4 \
             WHERE NOT EXISTS (SELECT 1 FROM principals WHERE tenant_id IS NULL AND role = $3)",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(role)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        insert_token(&mut tx, &id, token, now_ms).await?;
        insert_admin_audit(
            &mut tx,
            actor,
            None,
            "principal.create",
            id.as_str(),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.tokens.forget_token(token.id);
        Ok(Some(Principal {
            id,
            tenant_id: None,
            name: name.to_owned(),
            role: role.to_owned(),
            created_at_ms: now_ms,
            live_tokens: 1,
        }))
    }

    /// Whether any principal with this role and no tenant exists (used to bootstrap the first admin).
    pub async fn has_system_principal(&self, role: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM principals WHERE tenant_id IS NULL AND role = $1",
        )
        .bind(role)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }

    /// One principal. With `tenant_id` set, only a principal of that tenant is found.
    pub async fn get_principal(
        &self,
        principal_id: &PrincipalId,
        tenant_id: Option<&TenantId>,
    ) -> Result<Option<Principal>> {
        let sql = format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.id = $1 AND ($2 IS NULL OR p.tenant_id = $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(principal_id.as_str())
            .bind(tenant_id.map(TenantId::as_str))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(principal_from_row).transpose()
    }

    /// The principals of a tenant, by name.
    pub async fn list_principals(&self, tenant_id: &TenantId) -> Result<Vec<Principal>> {
        let sql = format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.tenant_id = $1 ORDER BY p.name, p.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(principal_from_row).collect()
    }

    /// Looks a token up by its public id through the cache of recent lookups, with lookups of
    /// unknown ids held to a budget (see [`crate::token_cache`]). What authentication uses.
    pub async fn lookup_token(&self, token_id: &str) -> Result<TokenLookup> {
        if let Some(hit) = self.tokens.cached(token_id, Instant::now()) {
            return Ok(hit);
        }
        // The semaphore is never closed, so acquiring only waits.
        let _slot = self.tokens.database_slots.acquire().await.ok();
        // Another lookup of the same id may have answered while this one waited for a slot.
        let now = Instant::now();
        if let Some(hit) = self.tokens.cached(token_id, now) {
            return Ok(hit);
        }
        let generation = match self.tokens.miss(token_id, now) {
            Miss::Query(generation) => generation,
            Miss::Throttled => return Ok(TokenLookup::Throttled),
        };
        let found = self.find_token(token_id).await?;
        self.tokens
            .remember(token_id, found.as_ref(), generation, Instant::now());
        Ok(match found {
            Some(record) => TokenLookup::Found(record),
            None => TokenLookup::Unknown,
        })
    }

    /// How many token lookups this store answered from the database, from its cache, or refused.
    pub fn token_lookup_stats(&self) -> TokenLookupStats {
        self.tokens.stats()
    }

    /// Looks a token up by its public id in the database, bypassing the cache.
    pub async fn find_token(&self, token_id: &str) -> Result<Option<TokenRecord>> {
        self.tokens.count_database_lookup();
        let sql = format!(
            "SELECT {PRINCIPAL_COLUMNS}, k.secret_sha256, k.revoked_at_ms, k.expires_at_ms \
             FROM tokens k JOIN principals p ON p.id = k.principal_id WHERE k.id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let revoked_at: Option<i64> = row.try_get("revoked_at_ms")?;
        Ok(Some(TokenRecord {
            principal: principal_from_row(&row)?,
            secret_sha256: row.try_get("secret_sha256")?,
            revoked: revoked_at.is_some(),
            expires_at_ms: row.try_get("expires_at_ms")?,
        }))
    }

    /// Revokes every live token of a principal, returning how many were revoked; audited as
    /// `token.revoke` in the principal's tenant.
    pub async fn revoke_tokens(
        &self,
        actor: &Actor<'_>,
        principal: &Principal,
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at_ms = $1 WHERE principal_id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(principal.id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_admin_audit(
            &mut tx,
            actor,
            principal.tenant_id.as_ref(),
            "token.revoke",
            principal.id.as_str(),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.tokens.forget_principal(&principal.id);
        Ok(done.rows_affected())
    }

    /// Revokes every live token of a principal and adds a new one, atomically; audited as
    /// `token.rotate` in the principal's tenant.
    pub async fn rotate_token(
        &self,
        actor: &Actor<'_>,
        principal: &Principal,
        token: NewToken<'_>,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE tokens SET revoked_at_ms = $1 WHERE principal_id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(principal.id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, &principal.id, token, now_ms).await?;
        insert_admin_audit(
            &mut tx,
            actor,
            principal.tenant_id.as_ref(),
            "token.rotate",
            principal.id.as_str(),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.tokens.forget_principal(&principal.id);
        self.tokens.forget_token(token.id);
        Ok(())
    }

    /// The tokens of one principal or of every principal of a tenant, newest first, revoked and
    /// expired ones included; audited as `token.list` (target: the principal or the tenant) in
    /// the owners' tenant. Never returns a secret or its hash.
    pub async fn list_tokens(
        &self,
        actor: &Actor<'_>,
        owners: TokenOwners<'_>,
        now_ms: i64,
    ) -> Result<Vec<TokenInfo>> {
        let (principal_id, tenant_id, audit_tenant, target) = match owners {
            TokenOwners::Principal(p) => (
                Some(p.id.as_str()),
                None,
                p.tenant_id.as_ref(),
                p.id.as_str(),
            ),
            TokenOwners::Tenant(t) => (None, Some(t.as_str()), Some(t), t.as_str()),
        };
        let mut tx = self.pool.begin().await?;
        insert_admin_audit(&mut tx, actor, audit_tenant, "token.list", target, now_ms).await?;
        let rows = sqlx::query(
            "SELECT k.id, k.principal_id, p.name, p.role, k.created_at_ms, k.expires_at_ms, \
                    k.revoked_at_ms \
             FROM tokens k JOIN principals p ON p.id = k.principal_id \
             WHERE ($1 IS NULL OR k.principal_id = $1) AND ($2 IS NULL OR p.tenant_id = $2) \
             ORDER BY k.created_at_ms DESC, k.id",
        )
        .bind(principal_id)
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        let tokens = rows
            .iter()
            .map(|row| {
                Ok(TokenInfo {
                    id: row.try_get("id")?,
                    principal_id: PrincipalId::new(row.try_get::<String, _>("principal_id")?),
                    principal_name: row.try_get("name")?,
                    role: row.try_get("role")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                    expires_at_ms: row.try_get("expires_at_ms")?,
                    revoked_at_ms: row.try_get("revoked_at_ms")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// A receiver of the principal id of every revocation or rotation this store makes from now
    /// on (all of that principal's earlier tokens are revoked), so long-running calls end at once.
    pub fn token_revocations(&self) -> tokio::sync::broadcast::Receiver<PrincipalId> {
        self.tokens.revocations()
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    principal_id: &PrincipalId,
    token: NewToken<'_>,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (id, principal_id, secret_sha256, created_at_ms, expires_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.id)
    .bind(principal_id.as_str())
    .bind(token.secret_sha256.to_vec())
    .bind(now_ms)
    .bind(token.expires_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

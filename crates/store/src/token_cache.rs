//! A small in-process cache in front of token lookups, with a budget on lookups of ids the
//! database does not know.
//!
//! Every authenticated call looks its token up. Without this module a flood of well-formed but
//! unknown tokens costs one query each and can hold every connection of the pool, starving the
//! uploads and reviews that share it. So:
//!
//! - recent answers, found or not, are kept for [`TOKEN_CACHE_TTL`], at most
//!   [`TOKEN_CACHE_CAPACITY`] of them;
//! - lookups that reach the database hold one of a few slots (half the pool), so authentication
//!   never takes the whole pool however many calls arrive at once;
//! - each lookup that finds no such id spends one unit of a budget ([`UNKNOWN_LOOKUP_BURST`],
//!   refilled at [`UNKNOWN_LOOKUPS_PER_SECOND`]); while it is spent, ids the cache has never
//!   seen found are refused without a query ([`TokenLookup::Throttled`]). Tokens found before
//!   keep working: an expired answer that found a token is looked up again without the budget.
//!
//! Revocation: the store's own `revoke_tokens` and `rotate_token` forget the principal's entries
//! at once, and a lookup that began before a revocation does not put its older answer back; a
//! server that shares the database with the one that revoked sees the revocation within
//! [`TOKEN_CACHE_TTL`]. Every revocation or rotation is also announced with its principal to the
//! long-running calls that listen ([`crate::Store::token_revocations`]), so streams of a revoked
//! token end at once.
//!
//! Expiry: a kept answer carries the token's `expires_at_ms`, and authentication compares it with
//! the clock on every call, so an expired token is refused even while its answer is cached.
//!
//! This module must never hold a token's secret (only its stored hash, as the database does) nor
//! grow beyond its capacity. It takes the time as an argument, so its rules are tested without
//! waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::identity::TokenRecord;
use crate::ids::PrincipalId;

/// How long an answer (a token found, revoked or unknown) is reused.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
/// The most answers kept at once.
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;
/// How many lookups of unknown ids may reach the database in a burst.
pub const UNKNOWN_LOOKUP_BURST: f64 = 32.0;
/// How fast the budget for lookups of unknown ids refills, per second.
pub const UNKNOWN_LOOKUPS_PER_SECOND: f64 = 8.0;

/// How many announced revocations a slow listener may fall behind before it must ask the database.
pub const REVOCATIONS_BUFFERED: usize = 256;

/// What a token lookup found.
#[derive(Debug, Clone)]
pub enum TokenLookup {
    /// The stored token (it may be revoked).
    Found(TokenRecord),
    /// No token has this id.
    Unknown,
    /// Not looked up: too many lookups of unknown ids lately; the caller should retry later.
    Throttled,
}

/// Counts of token lookups since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenLookupStats {
    /// Lookups that queried the database.
    pub database: u64,
    /// Lookups answered from the cache.
    pub cached: u64,
    /// Lookups refused because the budget for unknown ids was spent.
    pub throttled: u64,
}

/// The cache, its budget and its counters; shared by every clone of a `Store`.
#[derive(Debug)]
pub(crate) struct TokenCache {
    rules: Mutex<CacheRules>,
    /// Slots for lookups that query the database.
    pub(crate) database_slots: tokio::sync::Semaphore,
    /// The principal of every revocation or rotation, for long-running calls.
    revocations: tokio::sync::broadcast::Sender<PrincipalId>,
    database: AtomicU64,
    cached: AtomicU64,
    throttled: AtomicU64,
}

/// Where a lookup that missed the cache stands.
#[derive(Debug)]
pub(crate) enum Miss {
    /// Query the database, then [`TokenCache::remember`] the answer with this generation.
    Query(u64),
    /// Do not query: the budget is spent.
    Throttled,
}

impl TokenCache {
    /// A cache whose database lookups hold at most `database_slots` connections at once.
    pub(crate) fn new(database_slots: usize, now: Instant) -> TokenCache {
        TokenCache {
            rules: Mutex::new(CacheRules::new(now)),
            database_slots: tokio::sync::Semaphore::new(database_slots.max(1)),
            revocations: tokio::sync::broadcast::Sender::new(REVOCATIONS_BUFFERED),
            database: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, CacheRules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `token_id`, if a fresh one is kept.
    pub(crate) fn cached(&self, token_id: &str, now: Instant) -> Option<TokenLookup> {
        let hit = self.rules().cached(token_id, now)?;
        self.cached.fetch_add(1, Ordering::Relaxed);
        Some(match hit {
            Some(record) => TokenLookup::Found(record),
            None => TokenLookup::Unknown,
        })
    }

    /// Whether a lookup that missed the cache may query the database now.
    pub(crate) fn miss(&self, token_id: &str, now: Instant) -> Miss {
        let mut rules = self.rules();
        if rules.may_query(token_id, now) {
            Miss::Query(rules.generation)
        } else {
            drop(rules);
            self.throttled.fetch_add(1, Ordering::Relaxed);
            Miss::Throttled
        }
    }

    /// Counts one query of the tokens table.
    pub(crate) fn count_database_lookup(&self) {
        self.database.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the database's answer for `token_id` (unless a revocation came since `generation`)
    /// and spends budget when there was no such token.
    pub(crate) fn remember(
        &self,
        token_id: &str,
        record: Option<&TokenRecord>,
        generation: u64,
        now: Instant,
    ) {
        let budget_was_spent = self.rules().remember(token_id, record, generation, now);
        if budget_was_spent {
            tracing::warn!(
                "token lookups of unknown ids exceed {UNKNOWN_LOOKUPS_PER_SECOND}/s: \
                 uncached tokens are refused until the rate falls"
            );
        }
    }

    /// Forgets every answer naming `principal_id` (its tokens were revoked or replaced) and tells
    /// the watchers of [`TokenCache::changes`].
    pub(crate) fn forget_principal(&self, principal_id: &PrincipalId) {
        self.rules().forget_principal(principal_id);
        // Nobody listening is fine: no stream is open.
        let _ = self.revocations.send(principal_id.clone());
    }

    /// A receiver of the principals whose tokens are revoked from now on.
    pub(crate) fn revocations(&self) -> tokio::sync::broadcast::Receiver<PrincipalId> {
        self.revocations.subscribe()
    }

    /// Forgets the answer for `token_id` (a token with this id was just created).
    pub(crate) fn forget_token(&self, token_id: &str) {
        self.rules().forget_token(token_id);
    }

    /// The counters.
    pub(crate) fn stats(&self) -> TokenLookupStats {
        TokenLookupStats {
            database: self.database.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Entry {
    record: Option<TokenRecord>,
    expires_at: Instant,
}

/// The cache's rules, with the time passed in.
#[derive(Debug)]
struct CacheRules {
    entries: HashMap<String, Entry>,
    /// Bumped by every forget, so an answer read before it is not kept after it.
    generation: u64,
    /// Lookups of unknown ids that may still reach the database.
    budget: f64,
    refilled_at: Instant,
    /// Whether the budget ran out and has not refilled since (to warn once per episode).
    spent: bool,
}

impl CacheRules {
    fn new(now: Instant) -> CacheRules {
        CacheRules {
            entries: HashMap::new(),
            generation: 0,
            budget: UNKNOWN_LOOKUP_BURST,
            refilled_at: now,
            spent: false,
        }
    }

    fn cached(&mut self, token_id: &str, now: Instant) -> Option<Option<TokenRecord>> {
        match self.entries.get(token_id) {
            Some(e) if e.expires_at > now => Some(e.record.clone()),
            // An expired answer that found a token stays as a mark that the id is real, so its
            // next lookup does not wait for the budget of unknown ids.
            Some(e) if e.record.is_some() => None,
            Some(_) => {
                self.entries.remove(token_id);
                None
            }
            None => None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.budget =
            (self.budget + elapsed * UNKNOWN_LOOKUPS_PER_SECOND).min(UNKNOWN_LOOKUP_BURST);
        self.refilled_at = now;
        if self.budget >= 1.0 {
            self.spent = false;
        }
    }

    /// Whether `token_id`, not answered by the cache, may be looked up in the database: always
    /// when it was found before (its answer expired), else while the budget lasts.
    fn may_query(&mut self, token_id: &str, now: Instant) -> bool {
        self.refill(now);
        self.budget >= 1.0
            || self
                .entries
                .get(token_id)
                .is_some_and(|e| e.record.is_some())
    }

    /// Returns true when this answer spent the last of the budget.
    fn remember(
        &mut self,
        token_id: &str,
        record: Option<&TokenRecord>,
        generation: u64,
        now: Instant,
    ) -> bool {
        let mut newly_spent = false;
        if record.is_none() {
            self.refill(now);
            self.budget = (self.budget - 1.0).max(0.0);
            if self.budget < 1.0 && !self.spent {
                self.spent = true;
                newly_spent = true;
            }
        }
        if generation != self.generation {
            return newly_spent;
        }
        if self.entries.len() >= TOKEN_CACHE_CAPACITY && !self.entries.contains_key(token_id) {
            self.entries.retain(|_, e| e.expires_at > now);
            if self.entries.len() >= TOKEN_CACHE_CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(
            token_id.to_owned(),
            Entry {
                record: record.cloned(),
                expires_at: now + TOKEN_CACHE_TTL,
            },
        );
        newly_spent
    }

    fn forget_principal(&mut self, principal_id: &PrincipalId) {
        self.generation += 1;
        self.entries.retain(|_, e| {
            e.record
                .as_ref()
                .is_none_or(|r| r.principal.id != *principal_id)
        });
    }

    fn forget_token(&mut self, token_id: &str) {
        self.generation += 1;
        self.entries.remove(token_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Principal;

    fn record(principal: &str) -> TokenRecord {
        TokenRecord {
            principal: Principal {
                id: PrincipalId::new(principal),
                tenant_id: None,
                name: "someone".to_owned(),
                role: "nurse".to_owned(),
                created_at_ms: 0,
                live_tokens: 1,
            },
            secret_sha256: vec![7; 32],
            revoked: false,
            expires_at_ms: None,
        }
    }

    fn found_principal(hit: Option<Option<TokenRecord>>) -> Option<String> {
        hit.flatten().map(|r| r.principal.id.into_string())
    }

    #[test]
    fn answers_are_kept_for_the_ttl_and_no_longer() {
        let t0 = Instant::now();
        let mut rules = CacheRules::new(t0);
        rules.remember("known", Some(&record("p1")), 0, t0);
        rules.remember("unknown", None, 0, t0);
        let just_before = t0 + TOKEN_CACHE_TTL - Duration::from_millis(1);
        assert_eq!(
            found_principal(rules.cached("known", just_before)),
            Some("p1".to_owned())
        );
        assert!(matches!(rules.cached("unknown", just_before), Some(None)));
        let after = t0 + TOKEN_CACHE_TTL;
        assert!(rules.cached("known", after).is_none());
        assert!(rules.cached("unknown", after).is_none());
        assert!(
            !rules.entries.contains_key("unknown"),
            "expired unknown ids are dropped"
        );
    }

    #[test]
    fn a_revocation_forgets_the_principal_and_outdates_lookups_in_flight() {
        let t0 = Instant::now();
        let mut rules = CacheRules::new(t0);
        rules.remember("a", Some(&record("p1")), 0, t0);
        rules.remember("b", Some(&record("p2")), 0, t0);
        let in_flight = rules.generation;
        rules.forget_principal(&PrincipalId::new("p1"));
        assert!(rules.cached("a", t0).is_none());
        assert_eq!(
            found_principal(rules.cached("b", t0)),
            Some("p2".to_owned())
        );
        // A lookup that read the token before the revocation does not put it back.
        rules.remember("a", Some(&record("p1")), in_flight, t0);
        assert!(rules.cached("a", t0).is_none());
        rules.remember("a", Some(&record("p1")), rules.generation, t0);
        assert!(rules.cached("a", t0).is_some());
        rules.forget_token("a");
        assert!(rules.cached("a", t0).is_none());
    }

    #[test]
    fn unknown_ids_spend_a_budget_that_refills_with_time() {
        let t0 = Instant::now();
        let mut rules = CacheRules::new(t0);
        let mut queried = 0u32;
        let mut warned = 0u32;
        for i in 0..1000 {
            if rules.may_query(&format!("fake{i}"), t0) {
                queried += 1;
                warned += u32::from(rules.remember(&format!("fake{i}"), None, 0, t0));
            }
        }
        assert_eq!(f64::from(queried), UNKNOWN_LOOKUP_BURST);
        assert_eq!(warned, 1, "one warning per episode");
        // Found tokens spend nothing, and are looked up again when their answer expires even
        // while the budget is spent.
        rules.remember("known", Some(&record("p1")), 0, t0);
        assert!(!rules.may_query("another", t0));
        // A second later the budget has refilled by the rate, no more.
        let one_second = t0 + Duration::from_secs(1);
        let mut queried = 0u32;
        for i in 0..1000 {
            if rules.may_query(&format!("later{i}"), one_second) {
                queried += 1;
                rules.remember(&format!("later{i}"), None, 0, one_second);
            }
        }
        assert_eq!(f64::from(queried), UNKNOWN_LOOKUPS_PER_SECOND);
        assert!(!rules.may_query("another", one_second));
        // A token found before is looked up again once its answer expires.
        let expired = t0 + TOKEN_CACHE_TTL;
        assert!(rules.cached("known", expired).is_none());
        assert!(rules.may_query("known", expired));
    }

    #[test]
    fn the_cache_never_grows_beyond_its_capacity() {
        let t0 = Instant::now();
        let mut rules = CacheRules::new(t0);
        for i in 0..(TOKEN_CACHE_CAPACITY + 10) {
            rules.remember(&format!("id{i}"), Some(&record("p")), 0, t0);
            assert!(rules.entries.len() <= TOKEN_CACHE_CAPACITY);
        }
        assert!(
            rules
                .cached(&format!("id{}", TOKEN_CACHE_CAPACITY + 9), t0)
                .is_some()
        );
    }
}

//! Authentication cannot exhaust the database: a flood of well-formed but unknown tokens reaches
//! the database at a bounded rate and is then refused, while a token already in use keeps
//! working; repeated lookups of one token are answered from the cache; and a revocation still
//! takes effect at once. The counts come from the store's own counters of the real server.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use auscult_proto::v1 as pb;
use auscult_server::auth::mint_token;
use auscult_store::token_cache::{
    TOKEN_CACHE_TTL, UNKNOWN_LOOKUP_BURST, UNKNOWN_LOOKUPS_PER_SECOND,
};
use auscult_testkit::*;
use futures::StreamExt as _;
use tonic::Code;
use tonic::transport::Channel;

async fn who_am_i(ch: &Channel, token: &str) -> Result<pb::Principal, tonic::Status> {
    admin(ch)
        .who_am_i(authed(token, pb::WhoAmIRequest::default()))
        .await
        .map(tonic::Response::into_inner)
}

/// Database lookups allowed in `elapsed` for answers the cache cannot give: one per TTL begun.
fn per_ttl(elapsed: std::time::Duration) -> u64 {
    1 + (elapsed.as_secs_f64() / TOKEN_CACHE_TTL.as_secs_f64()).floor() as u64
}

async fn lookups_are_cached_limited_and_revocable(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let store = &ts.server.state().store;
    let t = make_tenant(ch, &ts.admin_token, "auth-limits").await;

    // One token used again and again: one database lookup per TTL, not one per call.
    let before = store.token_lookup_stats();
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(
            who_am_i(ch, &t.clinician_token).await.unwrap().role(),
            pb::Role::Clinician
        );
    }
    let used = store.token_lookup_stats().database - before.database;
    assert!(
        used <= per_ttl(started.elapsed()),
        "{used} lookups for 50 calls"
    );

    // One unknown token again and again: the same.
    let unknown = mint_token().token;
    let before = store.token_lookup_stats();
    let started = Instant::now();
    for _ in 0..50 {
        let e = who_am_i(ch, &unknown).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e}");
    }
    let used = store.token_lookup_stats().database - before.database;
    assert!(
        used <= per_ttl(started.elapsed()),
        "{used} lookups for 50 calls"
    );

    // Revoking a token in use (so cached) ends it at once; rotating ends the old one and the
    // new one works.
    let out = admin(ch)
        .rotate_token(authed(
            &ts.admin_token,
            pb::RotateTokenRequest {
                principal_id: t.clinician_id.clone(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let e = who_am_i(ch, &t.clinician_token).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e}");
    assert_eq!(e.message(), "token revoked");
    who_am_i(ch, &out.token).await.unwrap();
    admin(ch)
        .revoke_tokens(authed(
            &ts.admin_token,
            pb::RevokeTokensRequest {
                principal_id: t.clinician_id.clone(),
            },
        ))
        .await
        .unwrap();
    let e = who_am_i(ch, &out.token).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e}");
    assert_eq!(e.message(), "token revoked");

    // A flood of distinct well-formed unknown tokens, 32 calls at a time, while the nurse's
    // token is in use.
    who_am_i(ch, &t.nurse_token).await.unwrap();
    const FLOOD: usize = 400;
    let before = store.token_lookup_stats();
    let started = Instant::now();
    let codes: Vec<Code> = futures::stream::iter(0..FLOOD)
        .map(|_| async {
            let token = mint_token().token;
            who_am_i(ch, &token).await.unwrap_err().code()
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let after = store.token_lookup_stats();
    let used = after.database - before.database;
    // The budget, what refilled meanwhile, and the lookups that were in flight when it ran out
    // (at most the pool's size).
    let bound = UNKNOWN_LOOKUP_BURST + UNKNOWN_LOOKUPS_PER_SECOND * elapsed.as_secs_f64() + 8.0;
    assert!(
        (used as f64) <= bound,
        "{used} database lookups for {FLOOD} unknown tokens in {elapsed:?} (bound {bound})"
    );
    let refused = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Unauthenticated | Code::ResourceExhausted)),
        "{codes:?}"
    );
    assert_eq!(
        refused as u64,
        after.throttled - before.throttled,
        "every refusal is counted"
    );
    assert!(
        refused > 0,
        "the flood was refused once the budget was spent"
    );

    // Tokens in use keep working while the budget is spent.
    assert_eq!(
        who_am_i(ch, &ts.admin_token).await.unwrap().role(),
        pb::Role::Admin
    );
    who_am_i(ch, &t.nurse_token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_are_cached_limited_and_revocable_sqlite() {
    lookups_are_cached_limited_and_revocable(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_are_cached_limited_and_revocable_postgres() {
    lookups_are_cached_limited_and_revocable(Db::Postgres).await;
}

//! PostgreSQL over TLS: a database URL with `sslmode=require` opens the store (sqlx is built with
//! rustls), and the server reports the store's connection as encrypted in `pg_stat_ssl`; the
//! same query on a `sslmode=disable` connection reads false, so it does tell the two apart.
//! PostgreSQL only (`AUSCULT_TEST_POSTGRES_URL`, whose server `.ci/postgres.sh` sets up with TLS);
//! required in CI through `AUSCULT_CI_REQUIRE`.
#![allow(clippy::unwrap_used)]

mod common;

use auscult_store::{DbOptions, Store};

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// Whether the store's own connection is encrypted, as the server sees it.
async fn encrypted(store: &Store) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(dir.path(), true).await else {
        return;
    };
    let blobs = common::local_blobs(dir.path());
    let options = |mode: &str| DbOptions {
        url: with_param(&url, &format!("sslmode={mode}")),
        max_connections: 2,
    };

    let tls = Store::open(&options("require"), &blobs)
        .await
        .unwrap_or_else(|e| panic!("the store opens with sslmode=require: {e}"));
    assert!(
        encrypted(&tls).await,
        "sslmode=require but pg_stat_ssl says the connection is not encrypted"
    );
    tls.close().await;

    let plain = Store::open(&options("disable"), &blobs).await.unwrap();
    assert!(
        !encrypted(&plain).await,
        "sslmode=disable but pg_stat_ssl says the connection is encrypted"
    );
    plain.close().await;
}

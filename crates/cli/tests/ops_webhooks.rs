//! `auscult webhook add|list|remove|dead-letters|replay` against `auscult serve`: a tenant
//! administrator adds a webhook and sees its signing secret once, lists it (never the secret),
//! removes it; a URL that is not https (or http to loopback) is refused with the reason; another
//! tenant's administrator cannot remove it; the dead-letter list and replay answer for the
//! tenant only. (Deliveries, retries and replays end to end: `crates/server/tests/webhooks.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;

use ops_support::{Served, shown_token, word_after};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_the_command_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let served = Served::start(&dir.path().join("data"));
    let system = served.admin_shell();
    let mut admins = Vec::new();
    for name in ["Hook Clinic", "Other Clinic"] {
        let out = system.run(&["tenant", "create", name]).await.ok();
        let tenant = word_after(&out, "tenant ");
        let out = system
            .run(&["add-user", "Admin", "--role", "admin", "--tenant", &tenant])
            .await
            .ok();
        admins.push((tenant, system.as_token(&shown_token(&out))));
    }
    let (tenant, admin) = &admins[0];
    let (_, other) = &admins[1];

    let out = admin
        .run(&["webhook", "add", "http://127.0.0.1:9/alerts"])
        .await
        .ok();
    assert!(
        out.contains(&format!("-> http://127.0.0.1:9/alerts (tenant {tenant})")),
        "{out}"
    );
    let hook = word_after(&out, "webhook ");
    let secret = word_after(&out, "signing secret (shown once): ");
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{out}");

    let out = admin.run(&["webhook", "list"]).await.ok();
    let row = out
        .lines()
        .find(|l| l.starts_with(&hook))
        .unwrap_or_else(|| panic!("{hook} not listed:\n{out}"));
    assert!(row.contains("http://127.0.0.1:9/alerts"), "{out}");
    assert!(row.trim_end().ends_with(" -"), "not removed: {out}");
    assert!(!out.contains(&secret) && !out.contains("whsec_"), "{out}");

    let err = admin
        .run(&["webhook", "add", "http://hooks.example.org/x"])
        .await
        .fails();
    assert!(
        err.contains("plain http is allowed only to a loopback"),
        "{err}"
    );
    // A system administrator names the tenant.
    let err = system
        .run(&["webhook", "add", "https://hooks.example.org/x"])
        .await
        .fails();
    assert!(err.contains("tenant_id is required"), "{err}");

    // The other tenant's administrator sees none of it and cannot remove it.
    let out = other.run(&["webhook", "list"]).await.ok();
    assert_eq!(out, "no webhooks\n");
    let err = other.run(&["webhook", "remove", &hook]).await.fails();
    assert!(err.contains("not found"), "{err}");

    let out = admin.run(&["webhook", "dead-letters"]).await.ok();
    assert_eq!(out, "no dead letters\n");
    let err = admin
        .run(&["webhook", "replay", "00000000-0000-0000-0000-000000000000"])
        .await
        .fails();
    assert!(err.contains("not found"), "{err}");

    let out = admin.run(&["webhook", "remove", &hook]).await.ok();
    assert_eq!(out, format!("removed webhook {hook}\n"));
    let out = system
        .run(&["webhook", "list", "--tenant", tenant])
        .await
        .ok();
    let row = out.lines().find(|l| l.starts_with(&hook)).unwrap();
    assert!(!row.trim_end().ends_with(" -"), "removed: {out}");
    let err = admin.run(&["webhook", "remove", &hook]).await.fails();
    assert!(err.contains("not found"), "{err}");
}

//! Outbound webhooks against the real server (SQLite and PostgreSQL) and a real HTTP receiver
//! (axum on 127.0.0.1) that checks every request's HMAC-SHA256 signature and timestamp with the
//! RustCrypto `hmac` crate directly (the server signs through it too; RFC 4231 vectors check it in the unit tests): alerts raised by a device, then
//! acknowledged and resolved over gRPC, reach the receiver; a delivery refused twice is sent a
//! third time with the same idempotency key and body; a receiver that always fails (or hangs past
//! the timeout) puts the delivery in the dead-letter list after the last attempt, and the
//! tenant's administrator replays it once the receiver is fixed; another tenant's administrator
//! neither sees nor replays it; a wrong secret does not verify. Plus: two servers on one
//! PostgreSQL deliver each event once.
#![allow(clippy::unwrap_used)]

mod vitals_common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_server::ServerConfig;
use auscult_testkit::*;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::Mac;
use tonic::Code;
use vitals_common::*;

/// How far a signature's time may be from the receiver's clock.
const TOLERANCE_S: i64 = 300;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Attempt {
    path: String,
    key: String,
    signature: String,
    body: Bytes,
}

/// How the receiver answers one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 500 for the first `n` attempts of each delivery, then 200.
    FailFirst(usize),
    /// Always 500.
    Broken,
    /// Holds the request for a minute (past the server's timeout).
    Hang,
}

#[derive(Debug, Default)]
struct Book {
    secrets: HashMap<String, String>,
    modes: HashMap<String, Mode>,
    attempts: Vec<Attempt>,
    /// Requests whose signature or timestamp did not verify.
    bad_signatures: usize,
    /// (path, idempotency key, body) of each 2xx answer.
    delivered: Vec<(String, String, serde_json::Value)>,
}

#[derive(Debug, Clone, Default)]
struct Receiver(Arc<Mutex<Book>>);

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The receiver's check, with RustCrypto's HMAC: `t=<unix>,v1=<hex>` over `"<t>." + body`,
/// within [`TOLERANCE_S`] of now.
fn verifies(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = unhex(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (wall_ms() / 1000 - t).abs() > TOLERANCE_S {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

async fn receive(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (signature, key) = (header("auscult-signature"), header("idempotency-key"));
    let (mode, ok) = {
        let mut book = r.0.lock().unwrap();
        let secret = book.secrets.get(&path).cloned().unwrap_or_default();
        if !verifies(&secret, &signature, &body)
            || header("content-type") != "application/json"
            || key.is_empty()
        {
            book.bad_signatures += 1;
            return StatusCode::UNAUTHORIZED;
        }
        book.attempts.push(Attempt {
            path: path.clone(),
            key: key.clone(),
            signature,
            body: body.clone(),
        });
        let seen = book
            .attempts
            .iter()
            .filter(|a| a.key == key && a.path == path)
            .count();
        let mode = book.modes.get(&path).copied().unwrap_or(Mode::FailFirst(0));
        let ok = matches!(mode, Mode::FailFirst(n) if seen > n);
        if ok {
            let json = serde_json::from_slice(&body).unwrap();
            book.delivered.push((path.clone(), key, json));
        }
        (mode, ok)
    };
    match (mode, ok) {
        (Mode::Hang, _) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        (_, true) => StatusCode::OK,
        (_, false) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Receiver {
    async fn start() -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/hooks/{path}", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, addr)
    }

    fn set(&self, path: &str, secret: &str, mode: Mode) {
        let mut book = self.0.lock().unwrap();
        book.secrets.insert(path.into(), secret.into());
        book.modes.insert(path.into(), mode);
    }

    fn mode(&self, path: &str, mode: Mode) {
        self.0.lock().unwrap().modes.insert(path.into(), mode);
    }

    fn book<T>(&self, f: impl FnOnce(&Book) -> T) -> T {
        f(&self.0.lock().unwrap())
    }

    /// Waits (up to a minute) for a 2xx answer on `path` whose body satisfies `want`; returns
    /// its idempotency key and body.
    async fn delivered(
        &self,
        path: &str,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> (String, serde_json::Value) {
        for _ in 0..600 {
            let found = self.book(|b| {
                b.delivered
                    .iter()
                    .find(|(p, _, body)| p == path && want(body))
                    .map(|(_, k, body)| (k.clone(), body.clone()))
            });
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "nothing delivered to {path} within a minute: {:?}",
            self.book(|b| b.delivered.clone())
        );
    }

    fn attempts_of(&self, key: &str) -> Vec<Attempt> {
        self.book(|b| {
            b.attempts
                .iter()
                .filter(|a| a.key == key)
                .cloned()
                .collect()
        })
    }
}

/// Fast retries, three attempts, a short timeout: what the test can wait for.
fn quick_webhooks(c: &mut ServerConfig) {
    c.webhook_max_attempts = 3;
    c.webhook_retry_base_ms = 100;
    c.webhook_retry_max_ms = 400;
    c.webhook_timeout_ms = 1_000;
    c.webhook_poll_ms = 50;
}

async fn create_webhook(
    ch: &tonic::transport::Channel,
    token: &str,
    url: &str,
) -> Result<pb::CreateWebhookResponse, tonic::Status> {
    admin(ch)
        .create_webhook(authed(
            token,
            pb::CreateWebhookRequest {
                tenant_id: String::new(),
                url: url.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn dead_letters(
    ch: &tonic::transport::Channel,
    token: &str,
) -> Result<Vec<pb::DeadLetter>, tonic::Status> {
    admin(ch)
        .list_dead_letters(authed(
            token,
            pb::ListDeadLettersRequest {
                tenant_id: String::new(),
                limit: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().dead_letters)
}

async fn replay(
    ch: &tonic::transport::Channel,
    token: &str,
    tenant_id: &str,
    delivery_id: &str,
) -> Result<(), tonic::Status> {
    admin(ch)
        .replay_dead_letter(authed(
            token,
            pb::ReplayDeadLetterRequest {
                tenant_id: tenant_id.into(),
                delivery_id: delivery_id.into(),
            },
        ))
        .await
        .map(drop)
}

/// Waits (up to a minute) until the tenant's dead letters hold one of `webhook_id`.
async fn dead_letter_of(
    ch: &tonic::transport::Channel,
    token: &str,
    webhook_id: &str,
) -> pb::DeadLetter {
    for _ in 0..600 {
        let dead = dead_letters(ch, token).await.unwrap();
        if let Some(d) = dead.into_iter().find(|d| d.webhook_id == webhook_id) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dead letter of {webhook_id} within a minute");
}

fn alert_event(alert_id: &str, event: &str) -> impl Fn(&serde_json::Value) -> bool {
    let (alert_id, event) = (alert_id.to_owned(), event.to_owned());
    move |b| b["alert_id"] == alert_id.as_str() && b["event"] == event.as_str()
}

async fn webhooks_deliver_retry_and_dead_letter(db: Db) {
    let Some(ts) = start_with(db, quick_webhooks).await else {
        return;
    };
    let ch = &ts.channel;
    let (receiver, at) = Receiver::start().await;
    let url = |path: &str| format!("http://{at}/hooks/{path}");
    let a = make_tenant(ch, &ts.admin_token, "hooks-a").await;
    let b = make_tenant(ch, &ts.admin_token, "hooks-b").await;

    // Only administrators create webhooks; https, or http to loopback only.
    let refused = create_webhook(ch, &a.nurse_token, &url("a")).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    for bad in [
        "http://hooks.example.org/x",
        "ftp://127.0.0.1/x",
        "https://u:p@hooks.example.org/x",
    ] {
        let refused = create_webhook(ch, &a.admin_token, bad).await;
        assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument, "{bad}");
    }

    let hook_a = create_webhook(ch, &a.admin_token, &url("a")).await.unwrap();
    let secret_a = hook_a.secret.clone();
    let hook_a = hook_a.webhook.unwrap();
    assert!(secret_a.starts_with("whsec_") && secret_a.len() == 6 + 64);
    assert_eq!(hook_a.tenant_id, a.id);
    // A second receiver of A's that hangs past the timeout.
    let hang = create_webhook(ch, &a.admin_token, &url("hang"))
        .await
        .unwrap();
    let hook_b = create_webhook(ch, &b.admin_token, &url("b")).await.unwrap();
    assert_ne!(hook_b.secret, secret_a);
    receiver.set("a", &secret_a, Mode::FailFirst(2));
    receiver.set("hang", &hang.secret, Mode::Hang);
    receiver.set("b", &hook_b.secret, Mode::Broken);
    let hook_b = hook_b.webhook.unwrap();

    // Listing shows the webhooks, never a secret; each tenant only its own.
    let listed = admin(ch)
        .list_webhooks(authed(&a.admin_token, pb::ListWebhooksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let ids: BTreeSet<&str> = listed
        .webhooks
        .iter()
        .map(|w| w.webhook_id.as_str())
        .collect();
    let hang_id = hang.webhook.as_ref().unwrap().webhook_id.clone();
    assert_eq!(
        ids,
        BTreeSet::from([hook_a.webhook_id.as_str(), hang_id.as_str()])
    );
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&secret_a) && !shown.contains(&hang.secret));
    assert!(!shown.contains("whsec_"));

    // A raised alert reaches A's receiver after two refusals, signed, with the same key and
    // body on each attempt.
    raise_no_pulse(ch, &a, "r1", wall_ms() - 30_000).await;
    let (key, raised) = receiver
        .delivered("a", |b| b["event"] == "raised" && b["subject_id"] == "r1")
        .await;
    let fields: BTreeSet<&str> = raised
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "alert_id",
            "at_ms",
            "event",
            "event_id",
            "kind",
            "severity",
            "state",
            "subject_id",
            "tenant_id"
        ]),
        "ids and the alert's terms only: {raised}"
    );
    assert_eq!(raised["tenant_id"], a.id.as_str());
    assert_eq!(
        (&raised["kind"], &raised["severity"], &raised["state"]),
        (
            &serde_json::json!("clinical"),
            &serde_json::json!("critical"),
            &serde_json::json!("open")
        )
    );
    assert!(raised["event_id"].as_u64().unwrap() > 0);
    let alert_id = raised["alert_id"].as_str().unwrap().to_owned();
    let tries = receiver.attempts_of(&key);
    assert_eq!(tries.len(), 3, "two refusals, then delivered: {tries:?}");
    assert!(
        tries
            .iter()
            .all(|t| t.body == tries[0].body && t.path == "a")
    );

    // A wrong secret does not verify a request the right one verifies (both checks).
    let first = &tries[0];
    let now_s = wall_ms() / 1000;
    assert!(verifies(&secret_a, &first.signature, &first.body));
    assert!(!verifies(&hang.secret, &first.signature, &first.body));
    assert!(!verifies(
        &format!("{secret_a}x"),
        &first.signature,
        &first.body
    ));
    use auscult_server::webhooks::verify_signature;
    assert!(verify_signature(
        &secret_a,
        &first.signature,
        &first.body,
        now_s,
        TOLERANCE_S
    ));
    assert!(!verify_signature(
        &unused_secret(),
        &first.signature,
        &first.body,
        now_s,
        TOLERANCE_S
    ));

    // Acknowledged and resolved over gRPC: their events follow.
    let action = |id: &str| pb::AlertActionRequest {
        alert_id: id.into(),
    };
    vitals(ch)
        .acknowledge_alert(authed(&a.nurse_token, action(&alert_id)))
        .await
        .unwrap();
    let (ack_key, acked) = receiver
        .delivered("a", alert_event(&alert_id, "acknowledged"))
        .await;
    assert_eq!(acked["state"], "acknowledged");
    vitals(ch)
        .resolve_alert(authed(&a.clinician_token, action(&alert_id)))
        .await
        .unwrap();
    let (res_key, resolved) = receiver
        .delivered("a", alert_event(&alert_id, "resolved"))
        .await;
    assert_eq!(resolved["state"], "resolved");
    let event_ids = [&raised, &acked, &resolved].map(|b| b["event_id"].as_u64().unwrap());
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");
    assert_eq!(
        BTreeSet::from([&key, &ack_key, &res_key]).len(),
        3,
        "one key per delivery"
    );
    for k in [&ack_key, &res_key] {
        assert_eq!(receiver.attempts_of(k).len(), 3);
    }

    // The hanging receiver times out on every attempt: A's raise there is a dead letter, and
    // it held up none of the deliveries above.
    let hung = dead_letter_of(ch, &a.admin_token, &hang_id).await;
    assert_eq!(hung.attempts, 3);
    assert_eq!(
        (hung.last_status, hung.last_error.as_str()),
        (0, "timed out")
    );

    // B's receiver always fails: after three attempts the delivery is a dead letter of B's.
    raise_no_pulse(ch, &b, "r9", wall_ms() - 30_000).await;
    let dead = dead_letter_of(ch, &b.admin_token, &hook_b.webhook_id).await;
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_status, 500);
    assert!(dead.last_error.contains("500"), "{dead:?}");
    assert_eq!(receiver.attempts_of(&dead.delivery_id).len(), 3);
    assert!(dead.event_id > 0 && !dead.alert_id.is_empty());

    // A's administrator neither sees nor replays it, nor removes B's webhook.
    let seen_by_a = dead_letters(ch, &a.admin_token).await.unwrap();
    assert!(
        seen_by_a
            .iter()
            .all(|d| d.delivery_id != dead.delivery_id && d.webhook_id != hook_b.webhook_id)
    );
    for tenant in ["", b.id.as_str()] {
        let refused = replay(ch, &a.admin_token, tenant, &dead.delivery_id).await;
        assert_eq!(refused.unwrap_err().code(), Code::NotFound, "{tenant:?}");
    }
    let refused = admin(ch)
        .delete_webhook(authed(
            &a.admin_token,
            pb::DeleteWebhookRequest {
                tenant_id: String::new(),
                webhook_id: hook_b.webhook_id.clone(),
            },
        ))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::NotFound);
    // Nor does a nurse of B's.
    let refused = replay(ch, &b.nurse_token, "", &dead.delivery_id).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);

    // B fixes its receiver; its administrator replays: delivered, under the same key.
    receiver.mode("b", Mode::FailFirst(0));
    replay(ch, &b.admin_token, "", &dead.delivery_id)
        .await
        .unwrap();
    let (replayed_key, body) = receiver.delivered("b", |_| true).await;
    assert_eq!(replayed_key, dead.delivery_id);
    assert_eq!(body["tenant_id"], b.id.as_str());
    assert_eq!(body["subject_id"], "r9");
    assert!(dead_letters(ch, &b.admin_token).await.unwrap().is_empty());
    let again = replay(ch, &b.admin_token, "", &dead.delivery_id).await;
    assert_eq!(again.unwrap_err().code(), Code::NotFound);

    // Removing A's hanging webhook: listed as removed; its dead letter can no longer be replayed.
    admin(ch)
        .delete_webhook(authed(
            &a.admin_token,
            pb::DeleteWebhookRequest {
                tenant_id: String::new(),
                webhook_id: hang_id.clone(),
            },
        ))
        .await
        .unwrap();
    let listed = admin(ch)
        .list_webhooks(authed(&a.admin_token, pb::ListWebhooksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let removed = listed
        .webhooks
        .iter()
        .find(|w| w.webhook_id == hang_id)
        .unwrap();
    assert!(removed.removed_at.is_some());
    let refused = replay(ch, &a.admin_token, "", &hung.delivery_id).await;
    assert_eq!(refused.unwrap_err().code(), Code::NotFound);

    // Every request verified; every change is in the audit trail, and so is each delivery.
    assert_eq!(receiver.book(|b| b.bad_signatures), 0);
    let store = &ts.server.state().store;
    let actions = |tenant: &str| {
        let store = store.clone();
        let tenant = auscult_store::TenantId::new(tenant);
        async move {
            store
                .list_audit_events(&tenant, None, 0, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.action, e.target_id, e.subject_id))
                .collect::<Vec<_>>()
        }
    };
    let audit_b = actions(&b.id).await;
    for (action, target) in [
        ("webhook.create", hook_b.webhook_id.as_str()),
        ("webhook.replay", dead.delivery_id.as_str()),
        ("webhook.dead_letters", b.id.as_str()),
    ] {
        assert!(
            audit_b
                .iter()
                .any(|(a, t, _)| a == action && t.as_deref() == Some(target)),
            "{action} {target} in {audit_b:?}"
        );
    }
    assert!(
        audit_b
            .iter()
            .any(|(a, _, s)| a == "webhook.deliver" && s.as_deref() == Some("r9"))
    );
    let audit_a = actions(&a.id).await;
    assert!(
        audit_a
            .iter()
            .any(|(a, t, _)| a == "webhook.remove" && t.as_deref() == Some(hang_id.as_str()))
    );
    assert!(
        audit_a
            .iter()
            .filter(|(a, _, s)| a == "webhook.deliver" && s.as_deref() == Some("r1"))
            .count()
            >= 3
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(webhooks_deliver_retry_and_dead_letter);

/// A secret of the right form that signed nothing.
fn unused_secret() -> String {
    format!("whsec_{}", "0".repeat(64))
}

/// Two servers on one PostgreSQL (S3 blobs) share the outbox: every alert event is delivered,
/// each once (one key, one 2xx), whichever server raised it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_deliver_each_event_once() {
    let Some(s3) = s3_test_config().await else {
        return;
    };
    let Some(database_url) = postgres_url().await else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut servers = Vec::new();
    for dir in &dirs {
        let mut config = test_config(dir.path(), Some(database_url.clone()));
        config.s3 = Some(s3.clone());
        quick_webhooks(&mut config);
        servers.push(auscult_server::start(config).await.unwrap());
    }
    let admin_token = servers[0].bootstrap_token.clone().unwrap();
    let chans = [
        connect(servers[0].addr).await,
        connect(servers[1].addr).await,
    ];
    let (receiver, at) = Receiver::start().await;
    let t = make_tenant(&chans[0], &admin_token, "hooks-fleet").await;
    let hook = create_webhook(&chans[0], &t.admin_token, &format!("http://{at}/hooks/f"))
        .await
        .unwrap();
    receiver.set("f", &hook.secret, Mode::FailFirst(0));
    let subjects: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    for (i, s) in subjects.iter().enumerate() {
        raise_no_pulse(&chans[i % 2], &t, s, wall_ms() - 30_000).await;
    }
    for s in &subjects {
        receiver
            .delivered("f", |b| {
                b["subject_id"] == s.as_str() && b["event"] == "raised"
            })
            .await;
    }
    // Let any duplicate that would come arrive, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (delivered, attempts) = receiver.book(|b| (b.delivered.clone(), b.attempts.clone()));
    let keys: HashSet<&str> = delivered.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        keys.len(),
        delivered.len(),
        "each delivery answered 2xx once"
    );
    assert_eq!(attempts.len(), delivered.len(), "no delivery sent twice");
    let events: HashSet<u64> = delivered
        .iter()
        .map(|(_, _, b)| b["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(events.len(), delivered.len(), "one delivery per event");
    assert!(delivered.len() >= subjects.len());
    assert_eq!(receiver.book(|b| b.bad_signatures), 0);
    for server in servers {
        server.shutdown().await.unwrap();
    }
}

//! Outbound webhooks: alert events POSTed to each tenant's receivers, signed, retried with
//! back-off, dead-lettered after the last attempt.
//!
//! The deliveries are an outbox in the database (`auscult_store::webhooks`): each is enqueued in
//! the transaction that stores its alert event and claimed with a lease, so several servers on
//! one PostgreSQL deliver each once (at least once: a receiver must dedupe on the
//! `Idempotency-Key`, which is the delivery id and the same on every attempt and replay).
//!
//! A request is `POST <url>` with the delivery's JSON body and
//! - `Auscult-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
//!   webhook's secret (the ASCII bytes of the `whsec_...` string as shown);
//! - `Idempotency-Key: <delivery id>`, `Auscult-Event-Id: <alert event id>`.
//!
//! A 2xx answer delivers it; anything else (another status, a redirect, a timeout, a refused
//! connection) fails the attempt, retried after [`backoff_ms`]. Each request has a timeout and
//! at most one request per webhook is in flight per server, so a receiver that hangs holds one
//! slot of [`run_deliveries`] for the timeout at most and never stalls other receivers.
//!
//! The secret is in no log, no metric, no read API (only `CreateWebhook`'s answer); logs carry
//! delivery, webhook and event ids only.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use auscult_store::now_ms;
use auscult_store::webhooks::{ClaimedDelivery, FailedAttempt};
use hmac::{Hmac, Mac};
use rand::{Rng, TryRngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::error::{Result, ServerError};
use crate::state::AppState;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Auscult-Signature";
/// The idempotency header: the delivery id.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The alert event id header.
pub const EVENT_ID_HEADER: &str = "Auscult-Event-Id";
/// What a secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// How long delivered deliveries are kept before they are purged (the audit trail keeps the
/// record of each delivery).
pub const KEEP_DELIVERED: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often delivered deliveries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (RustCrypto `hmac`).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so this never fails; were it to, an all-zero signature
    // would only fail the receiver's check, never pass it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The `Auscult-Signature` value of `body` sent at `unix_seconds`, signed with `secret`:
/// `t=<unix_seconds>,v1=<hex HMAC-SHA256(secret, "<unix_seconds>." + body)>`.
pub fn signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut signed = format!("{unix_seconds}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={unix_seconds},v1={}",
        hex(&hmac_sha256(secret.as_bytes(), &signed))
    )
}

/// Whether `header` is a valid signature of `body` under `secret`, made within `tolerance_s` of
/// `now_s` (what a receiver checks; compared in constant time).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now_s - t).abs() > tolerance_s {
        return false;
    }
    let expected = signature_header(secret, t, body);
    let Some((_, expected_v1)) = expected.split_once(",v1=") else {
        return false;
    };
    expected_v1.as_bytes().ct_eq(v1.as_bytes()).into()
}

/// A new signing secret: [`SECRET_PREFIX`] and 32 bytes from the operating system's generator,
/// in hex.
pub fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| ServerError::Internal("the OS random generator failed".into()))?;
    Ok(format!("{SECRET_PREFIX}{}", hex(&bytes)))
}

/// The wait before the attempt after attempt number `attempt` (1-based) failed, milliseconds:
/// `base_ms * 2^(attempt-1)`, capped at `max_ms`, of which the upper half is scaled by `jitter`
/// (in `[0, 1]`), so receivers that failed together are not retried together.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let shift = attempt.saturating_sub(1).min(32);
    let full = base_ms.saturating_mul(1u64 << shift).min(max_ms);
    let half = full / 2;
    // Exact for any delay below 2^53 ms.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let jittered = ((full - half) as f64 * jitter.clamp(0.0, 1.0)) as u64;
    half.saturating_add(jittered.min(full - half))
}

/// Checks a webhook URL: `https://` with a host, or `http://` to a loopback address (for tests
/// and a receiver on the same machine); no user name or password; at most [`MAX_URL_CHARS`].
pub fn check_url(url: &str) -> Result<reqwest::Url> {
    let bad = |why: &str| Err(ServerError::InvalidArgument(format!("webhook url: {why}")));
    if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
        return bad(&format!("must be 1 to {MAX_URL_CHARS} characters"));
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return bad("not a URL");
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("must not hold a user name or password");
    }
    let loopback = match parsed.host() {
        None => return bad("has no host"),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        "http" => bad("plain http is allowed only to a loopback address; use https"),
        _ => bad("must be https"),
    }
}

/// The HTTP client of the deliveries: rustls, no redirects followed, a timeout on the whole
/// request and on connecting.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("auscult-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServerError::Internal(format!("webhook HTTP client: {}", e.without_url())))
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    Failed(Option<u16>, String),
}

/// Sends one attempt of `d`.
async fn attempt(client: &reqwest::Client, d: &ClaimedDelivery) -> Outcome {
    let t = now_ms().div_euclid(1000);
    let signature = signature_header(&d.secret, t, d.payload.as_bytes());
    let sent = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(IDEMPOTENCY_HEADER, &d.id)
        .header(EVENT_ID_HEADER, d.event_id.to_string())
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
        Ok(r) => {
            let status = r.status();
            Outcome::Failed(Some(status.as_u16()), format!("HTTP {status}"))
        }
        Err(e) => {
            // Never the URL (it may hold a receiver's path token): the kind of failure only.
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            Outcome::Failed(None, why.to_owned())
        }
    }
}

/// Makes one attempt of a claimed delivery and records its outcome.
async fn deliver(state: &AppState, client: &reqwest::Client, worker: &str, d: ClaimedDelivery) {
    let config = &state.config;
    let recorded = match attempt(client, &d).await {
        Outcome::Delivered(status) => {
            let r = state
                .store
                .finish_delivery(&d, worker, status, now_ms())
                .await;
            if matches!(r, Ok(true)) {
                state
                    .metrics
                    .webhooks_delivered
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(delivery_id = %d.id, webhook_id = %d.webhook_id, event_id = d.event_id, attempt = d.attempts, "webhook delivered");
            }
            r
        }
        Outcome::Failed(status, error) => {
            state
                .metrics
                .webhook_attempts_failed
                .fetch_add(1, Ordering::Relaxed);
            let retry_at_ms = (d.attempts < config.webhook_max_attempts).then(|| {
                let wait = backoff_ms(
                    d.attempts,
                    config.webhook_retry_base_ms,
                    config.webhook_retry_max_ms,
                    rand::rng().random::<f64>(),
                );
                now_ms().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX))
            });
            if retry_at_ms.is_none() {
                state.metrics.webhooks_dead.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(delivery_id = %d.id, webhook_id = %d.webhook_id, event_id = d.event_id, attempts = d.attempts, error = %error, "webhook delivery failed its last attempt: dead letter");
            } else {
                tracing::info!(delivery_id = %d.id, webhook_id = %d.webhook_id, event_id = d.event_id, attempt = d.attempts, error = %error, "webhook attempt failed; will retry");
            }
            let failed = FailedAttempt {
                status,
                error: &error,
                retry_at_ms,
            };
            state
                .store
                .fail_delivery(&d, worker, failed, now_ms())
                .await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery_id = %d.id, "lost the lease of a webhook delivery; another server has it");
        }
        Err(e) => {
            tracing::error!(delivery_id = %d.id, error = %e, "recording a webhook attempt failed");
        }
    }
}

/// Webhook ids with a request of this server in flight; removed on drop.
struct InFlight {
    busy: Arc<Mutex<HashSet<String>>>,
    webhook_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.webhook_id);
    }
}

/// The lease of a claimed delivery: a request ends (timeout) well within it.
pub fn lease_ms(timeout_ms: u64) -> i64 {
    i64::try_from(timeout_ms.saturating_mul(2).saturating_add(5_000)).unwrap_or(i64::MAX)
}

/// Delivers webhooks until `shutdown`: claims due deliveries (at most `webhook_concurrency`
/// requests at once, one per webhook), woken by each new alert event of this server and every
/// `webhook_poll_ms` (retries, other servers' events); purges old delivered rows hourly. On
/// shutdown it waits for the requests in flight (each bounded by its timeout).
pub async fn run_deliveries(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let config = &state.config;
    let client = match http_client(Duration::from_millis(config.webhook_timeout_ms)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook deliveries are off");
            return;
        }
    };
    let worker = format!("webhooks-{}", uuid::Uuid::new_v4().simple());
    let poll = Duration::from_millis(config.webhook_poll_ms);
    let lease = lease_ms(config.webhook_timeout_ms);
    let slots = Arc::new(Semaphore::new(config.webhook_concurrency.max(1)));
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut events = state.vitals.subscribe();
    let mut running = JoinSet::new();
    let mut next_purge = tokio::time::Instant::now() + Duration::from_secs(60);
    while !*shutdown.borrow() {
        while running.try_join_next().is_some() {}
        if tokio::time::Instant::now() >= next_purge {
            next_purge = tokio::time::Instant::now() + PURGE_EVERY;
            let keep = i64::try_from(KEEP_DELIVERED.as_millis()).unwrap_or(i64::MAX);
            match state.store.purge_deliveries(now_ms() - keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "purged delivered webhook deliveries"),
                Err(e) => tracing::error!(error = %e, "purging webhook deliveries failed"),
            }
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let skip: Vec<String> = busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        let now = now_ms();
        match state
            .store
            .claim_delivery(&worker, now, now - lease, &skip)
            .await
        {
            Ok(Some(d)) => {
                busy.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(d.webhook_id.clone());
                let in_flight = InFlight {
                    busy: Arc::clone(&busy),
                    webhook_id: d.webhook_id.clone(),
                };
                let (state, client, worker) = (Arc::clone(&state), client.clone(), worker.clone());
                running.spawn(async move {
                    deliver(&state, &client, &worker, d).await;
                    drop(in_flight);
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    e = events.recv() => {
                        if matches!(e, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                            tokio::time::sleep(poll).await;
                        }
                    }
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    () = state.webhooks_ready.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                drop(permit);
                tracing::error!(error = %e, "claiming a webhook delivery failed");
                tokio::time::sleep(poll).await;
            }
        }
    }
    while running.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the block.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(unhex("0b0c"), vec![0x0b, 0x0c]);
    }

    #[test]
    fn signatures_verify_only_with_the_secret_body_and_time() {
        let body = br#"{"event_id":7}"#;
        let header = signature_header("whsec_right", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify_signature(
            "whsec_right",
            &header,
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify_signature(
            "whsec_wrong",
            &header,
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify_signature(
            "whsec_right",
            &header,
            br#"{"event_id":8}"#,
            1_700_000_010,
            300
        ));
        // Too old (a replayed request), or malformed.
        assert!(!verify_signature(
            "whsec_right",
            &header,
            body,
            1_700_001_000,
            300
        ));
        assert!(!verify_signature("whsec_right", "v1=00", body, 0, 300));
        // The signed bytes are "<t>.<body>": moving the timestamp breaks it.
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify_signature(
            "whsec_right",
            &moved,
            body,
            1_700_000_010,
            300
        ));
    }

    #[test]
    fn secrets_are_fresh_32_byte_hex() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        let hex_part = a.strip_prefix(SECRET_PREFIX).expect("prefix");
        assert_eq!(hex_part.len(), 64);
        assert_eq!(unhex(hex_part).len(), 32);
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() {
        let base = 1_000;
        let max = 60_000;
        for attempt in 1..=10u32 {
            let full = (base << (attempt - 1).min(20)).min(max);
            let low = backoff_ms(attempt, base, max, 0.0);
            let high = backoff_ms(attempt, base, max, 1.0);
            assert_eq!(low, full / 2, "attempt {attempt}");
            assert_eq!(high, full, "attempt {attempt}");
            let mid = backoff_ms(attempt, base, max, 0.5);
            assert!(low <= mid && mid <= high);
        }
        assert_eq!(backoff_ms(1, base, max, 1.0), 1_000);
        assert_eq!(backoff_ms(2, base, max, 1.0), 2_000);
        assert_eq!(backoff_ms(3, base, max, 1.0), 4_000);
        // Capped, and never overflowing however many attempts.
        assert_eq!(backoff_ms(7, base, max, 1.0), 60_000);
        assert_eq!(backoff_ms(u32::MAX, u64::MAX, u64::MAX, 1.0), u64::MAX);
        // Random jitter spreads retries.
        let spread: HashSet<u64> = (0..50)
            .map(|_| backoff_ms(5, base, max, rand::rng().random::<f64>()))
            .collect();
        assert!(spread.len() > 10, "{spread:?}");
        assert!(spread.iter().all(|d| (8_000..=16_000).contains(d)));
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        for ok in [
            "https://hooks.example.org/auscult",
            "https://10.0.0.5:8443/x?y=1",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://localhost/hook",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "http://hooks.example.org/x",
            "http://10.0.0.5/x",
            "ftp://127.0.0.1/x",
            "https://user:pass@hooks.example.org/x",
            "not a url",
            "https://",
            "mailto:someone@example.org",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://h.example/{}", "a".repeat(MAX_URL_CHARS))).is_err());
    }
}

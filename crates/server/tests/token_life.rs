//! A token's life over real gRPC against the real server: tokens are minted with an expiry (the
//! role's default or the lifetime asked for), an expired token is refused even while its lookup is
//! cached, tokens can be listed (never their secrets) and listing is audited; revoking or
//! rotating a token ends the streams open with it (a revoked nurse's `Watch` ends and carries no
//! alert raised afterwards; a device's upload and vitals streams end, what was received stays
//! committed), also when another server sharing the database revoked it; reading the audit trail
//! is audited.
//!
//! No timing is asserted: every wait is for a positive signal under a deadline far longer than
//! anything configured here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod vitals_common;

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;
use vitals_common::*;

/// Far longer than anything configured here: reaching it means the server never acted.
const DEADLINE: Duration = Duration::from_secs(60);

async fn who_am_i(ch: &Channel, token: &str) -> Result<pb::Principal, tonic::Status> {
    admin(ch)
        .who_am_i(authed(token, pb::WhoAmIRequest {}))
        .await
        .map(tonic::Response::into_inner)
}

async fn list_tokens(
    ch: &Channel,
    token: &str,
    principal_id: &str,
    tenant_id: &str,
) -> Result<Vec<pb::TokenInfo>, tonic::Status> {
    admin(ch)
        .list_tokens(authed(
            token,
            pb::ListTokensRequest {
                principal_id: principal_id.into(),
                tenant_id: tenant_id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().tokens)
}

async fn revoke(ch: &Channel, admin_token: &str, principal_id: &str) -> u32 {
    admin(ch)
        .revoke_tokens(authed(
            admin_token,
            pb::RevokeTokensRequest {
                principal_id: principal_id.into(),
            },
        ))
        .await
        .expect("revoke")
        .into_inner()
        .revoked
}

/// The status a stream ends with; panics when it ends cleanly or not within [`DEADLINE`]. Every
/// message before the end is returned too.
async fn stream_end<T>(stream: &mut tonic::Streaming<T>) -> (Vec<T>, tonic::Status) {
    let mut before = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, stream.message()).await {
            Ok(Ok(Some(m))) => before.push(m),
            Ok(Ok(None)) => panic!("the stream ended without an error"),
            Ok(Err(status)) => return (before, status),
            Err(_) => panic!("the stream did not end within {DEADLINE:?}"),
        }
    }
}

fn assert_unauthenticated(status: &tonic::Status, message: &str) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

async fn revocation_ends_open_streams(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "streams").await;
    let nurse_id = who_am_i(ch, &t.nurse_token).await.unwrap().principal_id;

    // A nurse station watches the tenant; a marker shows the stream is live.
    let mut station = watch(ch, &t.nurse_token, 0, "").await.unwrap();
    let marker = raise_marker(ch, &t).await;
    until_marker(&mut station, &marker).await;

    // The nurse is revoked; an alert raised afterwards never reaches the station, which ends.
    assert_eq!(revoke(ch, &t.admin_token, &nurse_id).await, 1);
    let after = raise_marker(ch, &t).await;
    let (delivered, status) = stream_end(&mut station).await;
    assert_unauthenticated(&status, "token revoked");
    assert!(
        delivered.iter().all(|e| subject_of(e) != after),
        "an alert raised after the revocation was delivered: {delivered:?}"
    );
    assert_eq!(
        watch(ch, &t.nurse_token, 0, "")
            .await
            .map(|_| ())
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // A device is mid-upload (acknowledged) and mid-vitals when its token is rotated.
    let rec = synth(Scenario::Normal, 21, 4.0);
    let msgs = whole_upload("rotated-mid-upload", &rec);
    let (up_tx, up_rx) = mpsc::channel(16);
    up_tx.send(msgs[0].clone()).await.unwrap();
    up_tx.send(msgs[1].clone()).await.unwrap();
    let mut acks = ingest(ch)
        .upload_with_acks(authed(&t.device_token, ReceiverStream::new(up_rx)))
        .await
        .unwrap()
        .into_inner();
    let first_ack = tokio::time::timeout(DEADLINE, acks.message())
        .await
        .expect("an acknowledgement")
        .unwrap()
        .expect("the stream is open");
    let received = first_ack.received.unwrap();
    assert!(received.pcg_samples > 0, "{first_ack:?}");

    auscult_testkit::assign_device(ch, &t.admin_token, &t.device_id, &["rotated-vitals"])
        .await
        .expect("assign the device");
    let (vitals_tx, vitals_rx) = mpsc::channel(16);
    vitals_tx
        .send(batch(1, "rotated-vitals", normal(wall_ms() - 60_000)))
        .await
        .unwrap();
    let mut vitals_acks = vitals(ch)
        .ingest_vitals(authed(&t.device_token, ReceiverStream::new(vitals_rx)))
        .await
        .unwrap()
        .into_inner();
    let ack = tokio::time::timeout(DEADLINE, vitals_acks.message())
        .await
        .expect("a vitals acknowledgement")
        .unwrap()
        .expect("the vitals stream is open");
    assert!(ack.error.is_empty(), "{ack:?}");

    let rotated = admin(ch)
        .rotate_token(authed(
            &t.admin_token,
            pb::RotateTokenRequest {
                principal_id: t.device_id.clone(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (_, status) = stream_end(&mut acks).await;
    assert_unauthenticated(&status, "token revoked");
    let (_, status) = stream_end(&mut vitals_acks).await;
    assert_unauthenticated(&status, "token revoked");
    // The device's senders are still open: the server ended the calls, not the device.
    drop((up_tx, vitals_tx));

    // What was received before the rotation is committed; the new token resumes the upload.
    let status = upload_status(ch, &rotated.token, "rotated-mid-upload")
        .await
        .unwrap();
    assert_eq!(
        status.committed.unwrap().pcg_samples,
        received.pcg_samples,
        "{status:?}"
    );
    assert_eq!(
        upload_status(ch, &t.device_token, "rotated-mid-upload")
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    ts.server.shutdown().await.unwrap();
}
both_backends!(revocation_ends_open_streams);

/// A revocation made through one server ends a stream open on another server that shares the
/// database, through that server's periodic re-check of the token.
async fn another_servers_revocation_ends_streams(db: Db) {
    let mut url = None;
    let Some(a) = start_with(db, |c| {
        c.token_recheck_ms = 200;
        url = Some(c.database_url.clone());
    })
    .await
    else {
        return;
    };
    let mut config = test_config(a.dir.path(), url.unwrap());
    config.token_recheck_ms = 200;
    config.bootstrap_admin = false;
    let b = auscult_server::start(config)
        .await
        .expect("a second server");
    let b_channel = connect(b.addr).await;

    let t = make_tenant(&a.channel, &a.admin_token, "two-servers").await;
    let nurse_id = who_am_i(&a.channel, &t.nurse_token)
        .await
        .unwrap()
        .principal_id;
    let mut station = watch(&b_channel, &t.nurse_token, 0, "").await.unwrap();
    let marker = raise_marker(&b_channel, &t).await;
    until_marker(&mut station, &marker).await;

    assert_eq!(revoke(&a.channel, &a.admin_token, &nurse_id).await, 1);
    let (_, status) = stream_end(&mut station).await;
    assert_unauthenticated(&status, "token revoked");

    b.shutdown().await.unwrap();
    a.server.shutdown().await.unwrap();
}
both_backends!(another_servers_revocation_ends_streams);

async fn tokens_expire_and_are_listed(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "expiry").await;
    let other = make_tenant(ch, &ts.admin_token, "expiry-other").await;
    let create = |lifetime_seconds: Option<u64>, name: &str| {
        let mut a = admin(ch);
        let request = authed(
            &t.admin_token,
            pb::CreateUserRequest {
                tenant_id: String::new(),
                name: name.into(),
                role: pb::Role::Nurse as i32,
                lifetime_seconds,
                web_login: None,
            },
        );
        async move {
            a.create_user(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };

    // Lifetimes out of range are refused with a reason.
    for bad in [Some(0), Some(20 * 366 * 24 * 3600)] {
        let status = create(bad, "bad").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("lifetime_seconds"), "{status:?}");
    }

    // A token minted to live 2 s works, is cached, and is refused once it has expired: the
    // cache keeps answers for 10 s, so the refused call is answered from it.
    let short = create(Some(2), "short-lived").await.unwrap();
    let short_id = short.principal.as_ref().unwrap().principal_id.clone();
    who_am_i(ch, &short.token).await.unwrap();
    let mut station = watch(ch, &short.token, 0, "").await.unwrap();
    let (_, status) = stream_end(&mut station).await;
    assert_unauthenticated(&status, "token expired");
    let status = who_am_i(ch, &short.token).await.unwrap_err();
    assert_unauthenticated(&status, "token expired");
    // Rotating gives the principal a working token again.
    let renewed = admin(ch)
        .rotate_token(authed(
            &t.admin_token,
            pb::RotateTokenRequest {
                principal_id: short_id.clone(),
                lifetime_seconds: Some(3600),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    who_am_i(ch, &renewed.token).await.unwrap();

    // Defaults: a nurse's token expires after 90 days, a device's never.
    let before = wall_ms();
    let default_nurse = create(None, "default-nurse").await.unwrap();
    let default_id = default_nurse.principal.unwrap().principal_id;
    let listed = list_tokens(ch, &t.admin_token, &default_id, "")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let expires = ms(&listed[0].expires_at);
    let ninety_days = 90 * 24 * 3600 * 1000;
    assert!(
        (before + ninety_days..=wall_ms() + ninety_days).contains(&expires),
        "{listed:?}"
    );
    let device = list_tokens(ch, &t.admin_token, &t.device_id, "")
        .await
        .unwrap();
    assert!(
        device[0].expires_at.is_none() && device[0].live,
        "{device:?}"
    );

    // The tenant's tokens: ids, owners and dates, the expired and the revoked ones too, never a
    // secret (no field holds one, and no listed id is a token).
    let all = list_tokens(ch, &t.admin_token, "", "").await.unwrap();
    let short_tokens: Vec<_> = all.iter().filter(|k| k.principal_id == short_id).collect();
    assert_eq!(short_tokens.len(), 2, "{all:?}");
    assert!(short_tokens[0].live && short_tokens[0].revoked_at.is_none());
    assert!(!short_tokens[1].live && short_tokens[1].revoked_at.is_some());
    assert!(
        all.iter()
            .all(|k| !k.token_id.starts_with("ausc_") && k.token_id.len() == 32),
        "{all:?}"
    );
    assert!(
        short.token.contains(&short_tokens[1].token_id),
        "the id is the token's public part"
    );
    // A system administrator names the tenant; a principal lists its own tokens only.
    assert_eq!(
        list_tokens(ch, &ts.admin_token, "", "")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        list_tokens(ch, &ts.admin_token, "", &t.id)
            .await
            .unwrap()
            .len(),
        all.len()
    );
    assert_eq!(
        list_tokens(ch, &renewed.token, &short_id, "")
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        list_tokens(ch, &renewed.token, "", "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        list_tokens(ch, &renewed.token, &t.device_id, "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // Another tenant's principal is not found by a tenant administrator.
    assert_eq!(
        list_tokens(ch, &other.admin_token, &t.device_id, "")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Listing is audited, and so is reading the trail: this very read is in what it returns.
    let trail = audit(ch, &t.clinician_token, "").await.unwrap();
    let clinician = who_am_i(ch, &t.clinician_token).await.unwrap().principal_id;
    for (action, target) in [
        ("token.list", default_id.as_str()),
        ("token.list", t.id.as_str()),
        ("token.list", short_id.as_str()),
    ] {
        assert!(
            trail
                .iter()
                .any(|e| e.action == action && e.target_id == target),
            "no {action} of {target}"
        );
    }
    assert!(
        trail
            .iter()
            .any(|e| e.action == "audit.list" && e.actor_id == clinician),
        "the read of the audit trail is not audited"
    );

    ts.server.shutdown().await.unwrap();
}
both_backends!(tokens_expire_and_are_listed);

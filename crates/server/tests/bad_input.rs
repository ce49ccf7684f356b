//! Bad input gets clear gRPC status codes and leaves nothing half-stored that looks complete:
//! missing, wrong and revoked tokens, wrong roles, chunks out of order or overlapping, oversize
//! messages, impossible rates, empty uploads, mismatched totals and checksums.
#![allow(clippy::unwrap_used)]

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use sha2::Digest;
use tonic::Code;

async fn tokens_and_roles(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "auth").await;
    let rec = synth(Scenario::Normal, 2, 2.0);

    let mut plain = review(ch);
    let e = plain
        .list_cases(tonic::Request::new(pb::ListCasesRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "missing token");
    for bad in [
        "nonsense",
        "ausc_00000000000000000000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let e = list_cases(ch, bad, Default::default()).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{bad}");
    }
    // A right id with a wrong secret.
    let forged = format!(
        "{}{}",
        &t.clinician_token[..t.clinician_token.len() - 1],
        if t.clinician_token.ends_with('0') {
            '1'
        } else {
            '0'
        }
    );
    assert_eq!(
        list_cases(ch, &forged, Default::default())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // Roles.
    let e = upload(ch, &t.clinician_token, whole_upload("x", &rec))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        list_cases(ch, &t.device_token, Default::default())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let e = admin(ch)
        .create_user(authed(
            &t.clinician_token,
            pb::CreateUserRequest {
                tenant_id: t.id.clone(),
                name: "n".into(),
                role: pb::Role::Nurse as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Revocation and rotation.
    let mut adm = admin(ch);
    let me = adm
        .who_am_i(authed(&t.device_token, pb::WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.role(), pb::Role::Device);
    let rotated = adm
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
    assert_eq!(
        upload_status(ch, &t.device_token, "x")
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated,
        "old token revoked"
    );
    assert!(upload_status(ch, &rotated.token, "x").await.is_ok());
    let revoked = adm
        .revoke_tokens(authed(
            &t.admin_token,
            pb::RevokeTokensRequest {
                principal_id: t.device_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.revoked, 1);
    let e = upload(ch, &rotated.token, whole_upload("x", &rec))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    ts.server.shutdown().await.unwrap();
}
both_backends!(tokens_and_roles);

async fn bad_streams(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "bad").await;
    let rec = synth(Scenario::Normal, 4, 3.0);
    let dev = &t.device_token;
    let code = |r: Result<pb::UploadResponse, tonic::Status>| r.unwrap_err().code();
    let chunks = chunks_from(&rec, 0, 0);

    // Metadata problems.
    let mut m = metadata("rate", &rec);
    m.pcg_rate_hz = 100;
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m)]).await),
        Code::InvalidArgument
    );
    let mut m = metadata("ecg-rate", &rec);
    m.ecg_rate_hz = 1_000_000;
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m)]).await),
        Code::InvalidArgument
    );
    let mut m = metadata("site", &rec);
    m.site = 0;
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m)]).await),
        Code::InvalidArgument
    );
    let mut m = metadata("bad id with spaces", &rec);
    m.upload_id = "bad id".into();
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m)]).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(upload(ch, dev, vec![chunks[0].clone()]).await),
        Code::InvalidArgument,
        "chunk before metadata"
    );
    assert_eq!(
        code(upload(ch, dev, vec![]).await),
        Code::InvalidArgument,
        "nothing at all"
    );

    // Empty upload: metadata then finish with nothing.
    let e = upload(
        ch,
        dev,
        vec![meta_msg(metadata("empty", &rec)), finish_msg(0, 0, 0)],
    )
    .await;
    assert_eq!(code(e), Code::InvalidArgument);
    assert_eq!(
        upload_status(ch, dev, "empty").await.unwrap().state(),
        pb::UploadState::Receiving
    );

    // Out of order: a gap, then an overlap.
    let gap = chunk_msg(pb::SignalStream::Pcg, 5, rec.pcg_s16[10..20].to_vec());
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(metadata("gap", &rec)), gap]).await),
        Code::OutOfRange
    );
    let overlap = vec![
        meta_msg(metadata("overlap", &rec)),
        chunk_msg(pb::SignalStream::Pcg, 0, rec.pcg_s16[..200].to_vec()),
        chunk_msg(pb::SignalStream::Pcg, 50, rec.pcg_s16[100..300].to_vec()),
    ];
    assert_eq!(code(upload(ch, dev, overlap).await), Code::OutOfRange);
    // The good first chunk was kept; nothing of the bad one.
    let st = upload_status(ch, dev, "overlap").await.unwrap();
    assert_eq!(st.committed.unwrap().pcg_samples, 100);

    // Odd bytes, wrong stream for the ECG mode, R peaks not increasing.
    let odd = chunk_msg(pb::SignalStream::Pcg, 0, vec![1, 2, 3]);
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(metadata("odd", &rec)), odd]).await),
        Code::InvalidArgument
    );
    // A float ECG sample that is NaN or infinite: refused, nothing of it kept.
    let nan: Vec<u8> = [0.1f32, f32::NAN, 0.2, f32::INFINITY]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let e = upload(
        ch,
        dev,
        vec![
            meta_msg(metadata("nan", &rec)),
            chunk_msg(pb::SignalStream::Ecg, 0, nan),
        ],
    )
    .await;
    assert_eq!(code(e), Code::InvalidArgument, "non-finite ECG samples");
    let st = upload_status(ch, dev, "nan").await.unwrap();
    assert_eq!(st.committed.unwrap().ecg_samples, 0);
    let rp = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Chunk(pb::UploadChunk {
            stream: pb::SignalStream::RPeaks as i32,
            offset: 0,
            samples: vec![],
            r_peaks_s: vec![0.5, 0.4],
        })),
    };
    assert_eq!(
        code(
            upload(
                ch,
                dev,
                vec![meta_msg(metadata("rp-mode", &rec)), rp.clone()]
            )
            .await
        ),
        Code::InvalidArgument
    );
    let mut m = metadata("rp", &rec);
    m.ecg_mode = pb::EcgMode::RPeaks as i32;
    m.ecg_rate_hz = 0;
    m.ecg_format = 0;
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m), rp]).await),
        Code::InvalidArgument
    );

    // Oversize message: rejected, nothing stored.
    let huge = chunk_msg(pb::SignalStream::Pcg, 0, vec![0u8; 5 * 1024 * 1024]);
    let e = upload(ch, dev, vec![meta_msg(metadata("huge", &rec)), huge])
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{e:?}"
    );
    assert_eq!(
        upload_status(ch, dev, "huge")
            .await
            .unwrap()
            .committed
            .unwrap()
            .pcg_samples,
        0
    );

    // Longer than the limit (120 s in tests): rejected before it is stored.
    let mut m = metadata("long", &rec);
    m.pcg_rate_hz = 48_000;
    let long: Vec<pb::UploadRequest> = std::iter::once(meta_msg(m))
        .chain(
            (0..20u64).map(|i| chunk_msg(pb::SignalStream::Pcg, i * 400_000, vec![0u8; 800_000])),
        )
        .collect();
    assert_eq!(code(upload(ch, dev, long).await), Code::ResourceExhausted);

    // Totals that differ from the data.
    let mut msgs = vec![meta_msg(metadata("totals", &rec))];
    msgs.extend(chunks.iter().cloned());
    msgs.push(finish_msg(rec.pcg_samples() + 1, rec.ecg_samples(), 0));
    assert_eq!(code(upload(ch, dev, msgs).await), Code::FailedPrecondition);
    assert_eq!(
        upload_status(ch, dev, "totals").await.unwrap().state(),
        pb::UploadState::Receiving
    );

    // Different metadata for a known upload id.
    let mut m = metadata("totals", &rec);
    m.subject_id = "someone-else".into();
    assert_eq!(
        code(upload(ch, dev, vec![meta_msg(m)]).await),
        Code::FailedPrecondition
    );

    // Checksums: a wrong one keeps the upload incomplete; a right one completes it.
    let mut m = metadata("sum-bad", &rec);
    m.payload_sha256 = vec![0u8; 32];
    let mut msgs = vec![meta_msg(m)];
    msgs.extend(chunks.iter().cloned());
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    assert_eq!(code(upload(ch, dev, msgs).await), Code::DataLoss);
    assert_eq!(
        upload_status(ch, dev, "sum-bad").await.unwrap().state(),
        pb::UploadState::Receiving
    );
    let mut sha = sha2::Sha256::new();
    sha.update(&rec.pcg_s16);
    sha.update(&rec.ecg_f32);
    let mut m = metadata("sum-good", &rec);
    m.payload_sha256 = sha.finalize().to_vec();
    let mut msgs = vec![meta_msg(m)];
    msgs.extend(chunks.iter().cloned());
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    assert_eq!(
        upload(ch, dev, msgs).await.unwrap().state(),
        pb::UploadState::Complete
    );

    // Only the one good upload became a case.
    let cases = list_cases(ch, &t.clinician_token, Default::default())
        .await
        .unwrap();
    assert_eq!(cases.cases.len(), 1);
    ts.server.shutdown().await.unwrap();
}
both_backends!(bad_streams);

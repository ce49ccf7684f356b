//! Tenant isolation, RPC by RPC: a clinician (or device, or admin) of one tenant can neither list,
//! read, review nor learn the existence of another tenant's cases, uploads or principals.
#![allow(clippy::unwrap_used)]

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use tonic::Code;

async fn tenants_cannot_see_each_other(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let a = make_tenant(ch, &ts.admin_token, "tenant-a").await;
    let b = make_tenant(ch, &ts.admin_token, "tenant-b").await;
    let rec = synth(Scenario::Normal, 1, 3.0);
    let up = upload(ch, &a.device_token, whole_upload("shared-id", &rec))
        .await
        .unwrap();
    let case_a = up.case_id.clone();
    let missing = uuid::Uuid::new_v4().to_string();

    // ListCases: B sees nothing, even filtering by A's subject.
    let listed = list_cases(
        ch,
        &b.clinician_token,
        pb::ListCasesRequest {
            subject_id: "subject-42".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(listed.cases.is_empty());
    assert_eq!(
        list_cases(ch, &a.clinician_token, Default::default())
            .await
            .unwrap()
            .cases
            .len(),
        1
    );

    // GetCase / GetAudio / SubmitReview / ListAuditEvents: A's case is NOT_FOUND to B, exactly
    // like a case that does not exist.
    for id in [&case_a, &missing] {
        assert_eq!(
            get_case(ch, &b.clinician_token, id)
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
        let audio = get_audio(ch, &b.clinician_token, id, pb::AudioFormat::Wav)
            .await
            .unwrap_err();
        assert_eq!(audio.code(), Code::NotFound);
        let rv = review(ch)
            .submit_review(authed(
                &b.clinician_token,
                pb::SubmitReviewRequest {
                    case_id: id.clone(),
                    verdict: pb::Verdict::Disagree as i32,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(rv.code(), Code::NotFound);
        assert_eq!(
            audit(ch, &b.clinician_token, id).await.unwrap_err().code(),
            Code::NotFound
        );
    }
    let b_events = audit(ch, &b.clinician_token, "").await.unwrap();
    assert!(
        b_events.iter().all(|e| e.case_id != case_a),
        "B's trail holds nothing of A"
    );
    // A's case was not reviewed by B's attempt.
    assert!(
        get_case(ch, &a.clinician_token, &case_a)
            .await
            .unwrap()
            .reviews
            .is_empty()
    );

    // Ingest: B's device does not see A's upload and its own upload with the same id is separate.
    let st = upload_status(ch, &b.device_token, "shared-id")
        .await
        .unwrap();
    assert_eq!(st.state(), pb::UploadState::Unknown);
    let up_b = upload(ch, &b.device_token, whole_upload("shared-id", &rec))
        .await
        .unwrap();
    assert!(!up_b.duplicate);
    assert_ne!(up_b.case_id, case_a);
    assert_eq!(
        list_cases(ch, &a.clinician_token, Default::default())
            .await
            .unwrap()
            .cases
            .len(),
        1
    );

    // Admin: B's tenant admin cannot reach A's tenant or principals.
    let mut adm = admin(ch);
    let e = adm
        .list_principals(authed(
            &b.admin_token,
            pb::ListPrincipalsRequest {
                tenant_id: a.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = adm
        .register_device(authed(
            &b.admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: a.id.clone(),
                name: "intruder".into(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = adm
        .create_user(authed(
            &b.admin_token,
            pb::CreateUserRequest {
                tenant_id: a.id.clone(),
                name: "intruder".into(),
                role: pb::Role::Clinician as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    for principal in [&a.clinician_id, &a.device_id] {
        let e = adm
            .rotate_token(authed(
                &b.admin_token,
                pb::RotateTokenRequest {
                    principal_id: principal.clone(),
                    lifetime_seconds: None,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let e = adm
            .revoke_tokens(authed(
                &b.admin_token,
                pb::RevokeTokensRequest {
                    principal_id: principal.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }
    let tenants = adm
        .list_tenants(authed(&b.admin_token, pb::ListTenantsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenants.tenants.len(), 1);
    assert_eq!(tenants.tenants[0].tenant_id, b.id);
    let e = adm
        .create_tenant(authed(
            &b.admin_token,
            pb::CreateTenantRequest {
                name: "x".into(),
                kind: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // A's clinician still works: nothing was revoked by B's attempts.
    assert!(get_case(ch, &a.clinician_token, &case_a).await.is_ok());
    // B's own admin manages B.
    let own = adm
        .list_principals(authed(
            &b.admin_token,
            pb::ListPrincipalsRequest {
                tenant_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(own.principals.iter().all(|p| p.tenant_id == b.id));
    assert_eq!(own.principals.len(), 4);
    ts.server.shutdown().await.unwrap();
}
both_backends!(tenants_cannot_see_each_other);

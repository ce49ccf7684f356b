//! The clinical loop over real gRPC: a device streams a recording, a worker analyses it, a
//! clinician finds it, listens, reviews, and the audit trail shows who looked. Also idempotent
//! retries, resumption after a half-finished stream, and a device that vanishes mid-stream.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;

async fn upload_analyse_review_audit(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "north-clinic").await;
    let rec = synth(Scenario::AorticStenosis, 7, 20.0);

    let first = upload(ch, &t.device_token, whole_upload("u-1", &rec))
        .await
        .expect("upload");
    assert_eq!(first.state(), pb::UploadState::Complete);
    assert!(!first.duplicate);
    assert!(!first.case_id.is_empty());
    let committed = first.committed.unwrap();
    assert_eq!(committed.pcg_samples, rec.pcg_samples());
    assert_eq!(committed.ecg_samples, rec.ecg_samples());

    // A retry after success returns the same case and stores nothing twice.
    let retry = upload(ch, &t.device_token, whole_upload("u-1", &rec))
        .await
        .expect("retry");
    assert!(retry.duplicate);
    assert_eq!(retry.case_id, first.case_id);
    assert_eq!(retry.committed.unwrap(), committed);

    let case = wait_analysed(ch, &t.clinician_token, &first.case_id).await;
    let summary = case.summary.clone().unwrap();
    assert_eq!(
        summary.analysis_state(),
        pb::AnalysisState::Done,
        "error: {}",
        case.analysis_error
    );
    let analysis = case.analysis.clone().expect("analysis present");
    assert!(!analysis.cycles.is_empty(), "cycles found");
    assert!(analysis.murmur.is_some() && analysis.quality.is_some());
    assert!((analysis.duration_s - 20.0).abs() < 0.01);
    assert_eq!(summary.flagged, analysis.flagged);
    assert!(
        summary.flagged,
        "an aortic stenosis recording must be flagged: {analysis:?}"
    );
    assert_eq!(
        case.recording.as_ref().unwrap().pcg_samples,
        rec.pcg_samples()
    );

    let flagged = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            status: pb::CaseStatusFilter::Flagged as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(flagged.cases.len(), 1);
    assert_eq!(flagged.cases[0].case_id, first.case_id);
    assert!(flagged.cases[0].priority >= 1000);

    // The audio comes back exactly as sent, raw and as WAV.
    let (header, pcg, ecg) =
        get_audio(ch, &t.nurse_token, &first.case_id, pb::AudioFormat::Samples)
            .await
            .unwrap();
    assert_eq!(header.recording.unwrap().pcg_rate_hz, rec.pcg_rate);
    assert_eq!(pcg, rec.pcg_s16);
    assert_eq!(ecg, rec.ecg_f32);
    let (_, wav, _) = get_audio(ch, &t.clinician_token, &first.case_id, pb::AudioFormat::Wav)
        .await
        .unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[44..], &rec.pcg_s16[..]);

    // Nurses cannot review; clinicians can.
    let review_req = pb::SubmitReviewRequest {
        case_id: first.case_id.clone(),
        verdict: pb::Verdict::Agree as i32,
        findings: "Harsh systolic ejection murmur at the right upper sternal border.".into(),
        refer: true,
        request_rerecording: false,
    };
    let denied = review(ch)
        .submit_review(authed(&t.nurse_token, review_req.clone()))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let r = review(ch)
        .submit_review(authed(&t.clinician_token, review_req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.verdict(), pb::Verdict::Agree);
    assert_eq!(r.reviewer_id, t.clinician_id);

    let case = get_case(ch, &t.clinician_token, &first.case_id)
        .await
        .unwrap();
    assert_eq!(case.reviews.len(), 1);
    assert!(case.reviews[0].refer);
    assert_eq!(case.summary.unwrap().last_verdict(), pb::Verdict::Agree);
    let reviewed = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            status: pb::CaseStatusFilter::Reviewed as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reviewed.cases.len(), 1);
    let unreviewed = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            status: pb::CaseStatusFilter::Unreviewed as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(unreviewed.cases.is_empty());

    // Every read and write of the person's data is in the trail, attributed.
    let events = audit(ch, &t.clinician_token, &first.case_id).await.unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor_id.as_str()))
        .collect();
    for action in [
        "upload.complete",
        "case.list",
        "case.get",
        "case.audio",
        "case.review",
    ] {
        assert!(
            actions.iter().any(|(a, _)| *a == action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(actions.contains(&("case.review", t.clinician_id.as_str())));
    assert!(actions.contains(&("upload.complete", t.device_id.as_str())));
    assert!(
        events
            .iter()
            .filter(|e| e.action == "case.get")
            .all(|e| e.subject_id == "subject-42")
    );
    // Nurses do not read the audit trail.
    assert_eq!(
        audit(ch, &t.nurse_token, "").await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );

    ts.server.shutdown().await.unwrap();
}
both_backends!(upload_analyse_review_audit);

async fn worklist_filters_and_pages(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "paging").await;
    let rec = synth(Scenario::Normal, 3, 2.0);
    for i in 0..5u32 {
        let mut msgs = whole_upload(&format!("page-{i}"), &rec);
        if let Some(pb::upload_request::Kind::Metadata(m)) = &mut msgs[0].kind {
            m.subject_id = format!("s-{}", i % 2);
            m.site = if i == 4 {
                pb::AuscultationSite::Mitral as i32
            } else {
                pb::AuscultationSite::Aortic as i32
            };
            m.started_at = Some(prost_types::Timestamp {
                seconds: 1_780_000_000 + i64::from(i) * 3600,
                nanos: 0,
            });
        }
        upload(ch, &t.device_token, msgs).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list_cases(
            ch,
            &t.clinician_token,
            pb::ListCasesRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.cases.len() <= 2);
        seen.extend(page.cases.into_iter().map(|c| c.case_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every case exactly once across pages");
    let by_subject = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            subject_id: "s-1".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_subject.cases.len(), 2);
    let by_site = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            site: pb::AuscultationSite::Mitral as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_site.cases.len(), 1);
    let by_date = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            recorded_from: Some(prost_types::Timestamp {
                seconds: 1_780_000_000 + 3600,
                nanos: 0,
            }),
            recorded_until: Some(prost_types::Timestamp {
                seconds: 1_780_000_000 + 3 * 3600,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_date.cases.len(), 2);
    let bad = list_cases(
        ch,
        &t.clinician_token,
        pb::ListCasesRequest {
            page_token: "garbage".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    ts.server.shutdown().await.unwrap();
}
both_backends!(worklist_filters_and_pages);

async fn resume_after_half_finished_stream(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "resume").await;
    let rec = synth(Scenario::MitralRegurgitation, 11, 12.0);
    let all = chunks_from(&rec, 0, 0);
    let half = all.len() / 2;

    // The stream ends without a finish: what was received is committed, no case exists yet.
    let mut msgs = vec![meta_msg(metadata("resume-1", &rec))];
    msgs.extend(all[..half].iter().cloned());
    let partial = upload(ch, &t.device_token, msgs).await.unwrap();
    assert_eq!(partial.state(), pb::UploadState::Receiving);
    assert!(partial.case_id.is_empty());
    let status = upload_status(ch, &t.device_token, "resume-1")
        .await
        .unwrap();
    let committed = status.committed.unwrap();
    assert_eq!(committed, partial.committed.unwrap());
    assert!(committed.pcg_samples > 0 && committed.pcg_samples < rec.pcg_samples());
    assert!(
        list_cases(ch, &t.clinician_token, Default::default())
            .await
            .unwrap()
            .cases
            .is_empty(),
        "no half case"
    );

    // Resume exactly from the committed counts.
    let mut msgs = vec![meta_msg(metadata("resume-1", &rec))];
    msgs.extend(chunks_from(
        &rec,
        committed.pcg_samples,
        committed.ecg_samples,
    ));
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    let done = upload(ch, &t.device_token, msgs).await.unwrap();
    assert_eq!(done.state(), pb::UploadState::Complete);
    let (_, pcg, ecg) = get_audio(
        ch,
        &t.clinician_token,
        &done.case_id,
        pb::AudioFormat::Samples,
    )
    .await
    .unwrap();
    assert_eq!(pcg, rec.pcg_s16, "nothing lost, nothing twice");
    assert_eq!(ecg, rec.ecg_f32);
    let case = wait_analysed(ch, &t.clinician_token, &done.case_id).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(resume_after_half_finished_stream);

async fn device_vanishes_mid_stream(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "vanish").await;
    let rec = synth(Scenario::Normal, 5, 8.0);
    let chunks = chunks_from(&rec, 0, 0);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut client = ingest(ch);
    let token = t.device_token.clone();
    let call = tokio::spawn(async move {
        let mut acks = client
            .upload_with_acks(authed(
                &token,
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Ok(Some(ack)) = acks.message().await {
            last = Some(ack);
        }
        last
    });
    tx.send(meta_msg(metadata("vanish-1", &rec))).await.unwrap();
    for c in &chunks[..10] {
        tx.send(c.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The device disappears: the request stream is dropped without a finish, the call aborted.
    call.abort();
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = upload_status(ch, &t.device_token, "vanish-1")
        .await
        .unwrap();
    assert_eq!(
        status.state(),
        pb::UploadState::Receiving,
        "never looks complete"
    );
    let committed = status.committed.unwrap();
    assert!(committed.pcg_samples <= 5 * u64::from(rec.pcg_rate / 4));
    assert!(
        list_cases(ch, &t.clinician_token, Default::default())
            .await
            .unwrap()
            .cases
            .is_empty()
    );

    // It comes back and resumes with acknowledgements to the end.
    let mut msgs = vec![meta_msg(metadata("vanish-1", &rec))];
    msgs.extend(chunks_from(
        &rec,
        committed.pcg_samples,
        committed.ecg_samples,
    ));
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    let mut acks = ingest(ch)
        .upload_with_acks(authed(&t.device_token, tokio_stream::iter(msgs)))
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    while let Some(ack) = acks.message().await.unwrap() {
        let c = ack.committed.unwrap();
        let r = ack.received.unwrap();
        assert!(c.pcg_samples <= r.pcg_samples && c.ecg_samples <= r.ecg_samples);
        last = Some(ack);
    }
    let last = last.unwrap();
    assert_eq!(last.state(), pb::UploadState::Complete);
    let (_, pcg, _) = get_audio(
        ch,
        &t.clinician_token,
        &last.case_id,
        pb::AudioFormat::Samples,
    )
    .await
    .unwrap();
    assert_eq!(pcg, rec.pcg_s16);
    ts.server.shutdown().await.unwrap();
}
both_backends!(device_vanishes_mid_stream);

/// A chunk is acknowledged as soon as it is checked and buffered: the acknowledgement of a chunk
/// that starts a flush reports it received but not yet committed, and the flush lands in the
/// background (GetUploadStatus then reports it committed) without the device sending more.
async fn acknowledged_on_receipt_committed_in_the_background(db: Db) {
    let Some(ts) = start_with(db, |c| c.flush_bytes = 1).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "receipt").await;
    let rec = synth(Scenario::Normal, 6, 4.0);
    let chunks = chunks_from(&rec, 0, 0);
    let (tx, mut acks) = open_upload_with_acks(ch, &t.device_token, 8).await;
    tx.send(meta_msg(metadata("receipt-1", &rec)))
        .await
        .unwrap();
    tx.send(chunks[0].clone()).await.unwrap();
    let first = acks.message().await.unwrap().unwrap();
    let (received, committed) = (first.received.unwrap(), first.committed.unwrap());
    let sent = received.pcg_samples + received.ecg_samples;
    assert!(sent > 0, "the first chunk is received: {received:?}");
    assert_eq!(
        committed.pcg_samples + committed.ecg_samples,
        0,
        "the chunk's acknowledgement does not wait for its flush"
    );
    // The flush it started lands on its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = upload_status(ch, &t.device_token, "receipt-1")
            .await
            .unwrap();
        let c = status.committed.unwrap();
        if c.pcg_samples + c.ecg_samples == sent {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the background flush never committed: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for c in &chunks[1..] {
        tx.send(c.clone()).await.unwrap();
    }
    tx.send(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0))
        .await
        .unwrap();
    let mut last = first;
    while let Some(ack) = acks.message().await.unwrap() {
        let (c, r) = (ack.committed.unwrap(), ack.received.unwrap());
        assert!(c.pcg_samples <= r.pcg_samples && c.ecg_samples <= r.ecg_samples);
        last = ack;
    }
    assert_eq!(last.state(), pb::UploadState::Complete);
    assert_stored_bytes(
        ch,
        &t.clinician_token,
        &last.case_id,
        &rec.pcg_s16,
        &rec.ecg_f32,
    )
    .await;
    ts.server.shutdown().await.unwrap();
}
both_backends!(acknowledged_on_receipt_committed_in_the_background);

/// One flush writes one blob for all of a stream's signals: an upload flushed once (at its finish)
/// is one object holding its PCG and ECG, read back exactly.
async fn one_blob_per_flush_for_every_signal(db: Db) {
    let Some(ts) = start_with(db, |c| {
        c.flush_bytes = 64 * 1024 * 1024;
        c.flush_interval_ms = 600_000;
    })
    .await
    else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "oneblob").await;
    let rec = synth(Scenario::Normal, 7, 4.0);
    let done = upload(ch, &t.device_token, whole_upload("oneblob-1", &rec))
        .await
        .unwrap();
    assert!(!rec.ecg_f32.is_empty(), "the recording has an ECG");
    assert_stored_bytes(
        ch,
        &t.clinician_token,
        &done.case_id,
        &rec.pcg_s16,
        &rec.ecg_f32,
    )
    .await;
    let objects: Vec<_> = walk(&ts.dir.path().join("blobs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&done.case_id))
        .collect();
    assert_eq!(objects.len(), 1, "one object for PCG and ECG: {objects:?}");
    let size = std::fs::metadata(&objects[0]).unwrap().len();
    assert_eq!(size as usize, rec.pcg_s16.len() + rec.ecg_f32.len());
    ts.server.shutdown().await.unwrap();
}
both_backends!(one_blob_per_flush_for_every_signal);

/// A device that resends a finished upload at once, while the stream that finished it still
/// holds the upload's lock, is told it is a duplicate (it got ABORTED before, retried, and the
/// retry could no longer say that the server already had the recording).
async fn a_repeat_of_a_completed_upload_needs_no_lock(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "repeat").await;
    let rec = synth(Scenario::Normal, 12, 6.0);
    let all_msgs = || {
        let mut msgs = vec![meta_msg(metadata("repeat-1", &rec))];
        msgs.extend(chunks_from(&rec, 0, 0));
        msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
        msgs
    };
    let done = upload(ch, &t.device_token, all_msgs()).await.unwrap();
    assert_eq!(done.state(), pb::UploadState::Complete);
    assert!(!done.duplicate);
    // Another stream of the same upload is still running on the server.
    let held = ts
        .server
        .state()
        .lock_upload(&done.case_id)
        .expect("the finished stream released the lock");
    let again = upload(ch, &t.device_token, all_msgs()).await.unwrap();
    assert!(again.duplicate, "a duplicate, not ABORTED");
    assert_eq!(again.case_id, done.case_id);
    assert_eq!(again.state(), pb::UploadState::Complete);
    drop(held);
    ts.server.shutdown().await.unwrap();
}
both_backends!(a_repeat_of_a_completed_upload_needs_no_lock);

/// A clinician who asks for the next site as soon as a live session appears, before the device
/// sent any sound of this site: the device still sends the window it was recording, so the site
/// is an ordinary (short) case, and moves on (it sent a finish without sound before, which the
/// server rightly refused, and the device failed: a flake of the browser test `web_live`).
async fn moved_on_before_any_sound(db: Db) {
    use auscult_testkit::browser::{PASSWORD, add_web_user, start_console};
    use firmware_sim::{Pacing, UploadMode, UploadOptions};

    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "quick").await;
    t.assign(ch, &["subject-quick"]).await;
    add_web_user(&ts, &t.id, "dr-quick", pb::Role::Clinician).await;
    let cookie = auscult_testkit::web::sign_in(&base, "dr-quick", PASSWORD).await;
    let device = firmware_sim::Connection::new(&url(ts.server.addr), &t.device_token).unwrap();
    // Windows of 3 s in real time: the first sound leaves the device 3 s after the session opens.
    let options = UploadOptions {
        upload_id: "quick-1".into(),
        identity: firmware_sim::DeviceIdentity {
            serial: "SIM-QUICK".into(),
            subject_id: "subject-quick".into(),
            site: pb::AuscultationSite::Mitral,
            position: pb::BodyPosition::Supine,
        },
        chunk_s: 3.0,
        pacing: Pacing::Realtime,
        mode: UploadMode::WithAcks,
        live: true,
        follow_instructions: true,
        ..UploadOptions::default()
    };
    let rec = recording(Scenario::Normal, 23, 20.0);
    let first_window = 3 * u64::from(rec.pcg_rate_hz);
    let device_run = tokio::spawn(async move {
        firmware_sim::follow_session(&device, rec, &options, 1, &mut |_| {}, &mut |_| {}).await
    });
    let id =
        auscult_testkit::web::listed_session(&base, &cookie, None, Duration::from_secs(10)).await;
    let posted = auscult_testkit::web::instruct_next_site(&base, &cookie, &id, "aortic").await;
    assert_eq!(posted.status(), reqwest::StatusCode::SEE_OTHER);
    let reports = tokio::time::timeout(Duration::from_secs(30), device_run)
        .await
        .expect("the device ended the site")
        .unwrap()
        .expect("the device moved on without an error");
    let report = &reports[0];
    assert_eq!(report.moved_to.as_deref(), Some("aortic"));
    assert_eq!(report.case_id, id);
    assert_eq!(
        report.instructions[0].at_pcg_sample, 0,
        "the instruction came before any sound"
    );
    // The window being recorded, and no more.
    assert_eq!(report.committed.pcg, first_window);
    let case = get_case(ch, &t.clinician_token, &id).await.unwrap();
    assert_eq!(case.summary.unwrap().site(), pb::AuscultationSite::Mitral);
    ts.server.shutdown().await.unwrap();
}
both_backends!(moved_on_before_any_sound);

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

//! End-to-end acceptance of the remote-auscultation path, across crates: the real server
//! (`auscult-server`) on 127.0.0.1:0 with SQLite in a temp dir (or a fresh PostgreSQL database
//! when `AUSCULT_TEST_POSTGRES_URL` is set), the real device simulator (`firmware-sim`) streaming
//! synthetic recordings, and a clinician reading, reviewing and auditing the cases over gRPC.
//!
//! 1. Device to clinician: a murmur recording is analysed, flagged and put at the top of the
//!    worklist; the clinician gets the exact samples back, reviews, and sees their reads audited.
//! 2. A server SIGKILLed in the middle of an upload, restarted on the same data and database at a
//!    new address: the device resumes, nothing is lost or stored twice, the analysis completes.
//! 3. Idempotency: the same upload id again after success returns the same case, stores nothing.
//!
//! Must never use mocks or canned answers: every assertion is on what the real server returned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use firmware_sim::{Connection, Counts, Pacing, UploadMode, UploadOptions, upload, upload_status};

const ANALYSIS_LIMIT: Duration = Duration::from_secs(45);

fn options(upload_id: &str, subject: &str) -> UploadOptions {
    UploadOptions {
        upload_id: upload_id.to_owned(),
        identity: firmware_sim::DeviceIdentity {
            serial: "SIM-E2E-1".into(),
            subject_id: subject.into(),
            site: pb::AuscultationSite::Mitral,
            position: pb::BodyPosition::Supine,
        },
        pacing: Pacing::Fast,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(10),
        ..UploadOptions::default()
    }
}

/// The separate server process the restart test SIGKILLs (this binary re-executed; does nothing
/// unless started by `ChildServer::spawn`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as the child server process of resume_after_server_kill"]
async fn child_server() {
    child_server_main().await;
}

async fn device_to_clinician(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), url).await;
    let admin = server
        .bootstrap_token
        .clone()
        .expect("the first start creates a bootstrap admin");
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin, "e2e-clinic").await;
    let device = Connection::new(&url_of(&server), &t.device_token).unwrap();

    // The device records a mitral regurgitation (grade 3) and a normal heart, and uploads both.
    let mr = recording(Scenario::MitralRegurgitation, 7, 20.0);
    let normal = recording(Scenario::Normal, 8, 20.0);
    let mr_id = uuid::Uuid::new_v4().to_string();
    let normal_id = uuid::Uuid::new_v4().to_string();
    let mr_report = upload(&device, mr.clone(), &options(&mr_id, "subject-mr"))
        .await
        .expect("the murmur upload completes");
    let normal_report = upload(
        &device,
        normal.clone(),
        &options(&normal_id, "subject-normal"),
    )
    .await
    .expect("the normal upload completes");
    let total = Counts {
        pcg: mr.pcg_samples(),
        ecg: mr.ecg_samples(),
        r_peaks: 0,
    };
    assert_eq!(
        mr_report.committed, total,
        "the server committed everything"
    );
    assert_eq!(mr_report.attempts, 1);
    assert!(!mr_report.duplicate);
    assert!(!mr_report.case_id.is_empty());
    assert_ne!(mr_report.case_id, normal_report.case_id);
    eprintln!(
        "uploads: murmur {:?}, normal {:?}",
        mr_report.elapsed, normal_report.elapsed
    );

    // The engine analyses both; the murmur is flagged as a systolic murmur with cycles.
    let ct = &t.clinician_token;
    let mr_case = wait_analysed_within(&ch, ct, &mr_report.case_id, ANALYSIS_LIMIT).await;
    let normal_case = wait_analysed_within(&ch, ct, &normal_report.case_id, ANALYSIS_LIMIT).await;
    eprintln!("analysed after {:?}", t0.elapsed());
    let summary = mr_case.summary.clone().unwrap();
    assert_eq!(
        summary.analysis_state(),
        pb::AnalysisState::Done,
        "analysis error: {}",
        mr_case.analysis_error
    );
    let analysis = mr_case
        .analysis
        .clone()
        .expect("GetCase returns the analysis");
    let murmur = analysis.murmur.clone().expect("a murmur finding");
    assert_eq!(
        murmur.status(),
        pb::MurmurStatus::Present,
        "murmur finding: {murmur:?}"
    );
    assert_eq!(
        murmur.timing(),
        pb::MurmurTiming::Systolic,
        "murmur finding: {murmur:?}"
    );
    assert!(
        analysis.flagged && summary.flagged,
        "the murmur case is flagged"
    );
    assert_eq!(summary.murmur_status(), pb::MurmurStatus::Present);
    assert!(
        analysis.cycles.len() >= 10,
        "20 s of heartbeats give cycles, got {}",
        analysis.cycles.len()
    );
    assert!(analysis.ecg_used, "the raw ECG was used");
    assert!((analysis.duration_s - 20.0).abs() < 0.1);
    let recinfo = mr_case.recording.clone().expect("recording info");
    assert_eq!(recinfo.upload_id, mr_id);
    assert_eq!(recinfo.device_serial, "SIM-E2E-1");
    assert_eq!(summary.device_id, t.device_id);
    // The normal heart: stored whole, analysed, no murmur, not flagged, below the murmur.
    assert_eq!(
        normal_report.committed,
        Counts {
            pcg: normal.pcg_samples(),
            ecg: normal.ecg_samples(),
            r_peaks: 0,
        }
    );
    assert_eq!(normal_report.attempts, 1);
    let normal_summary = normal_case.summary.clone().unwrap();
    assert_eq!(
        normal_summary.analysis_state(),
        pb::AnalysisState::Done,
        "analysis error: {}",
        normal_case.analysis_error
    );
    let normal_analysis = normal_case
        .analysis
        .clone()
        .expect("GetCase returns the analysis");
    let normal_murmur = normal_analysis.murmur.clone().expect("a murmur finding");
    assert_eq!(
        normal_murmur.status(),
        pb::MurmurStatus::Absent,
        "normal heart's murmur finding: {normal_murmur:?}"
    );
    assert_eq!(normal_summary.murmur_status(), pb::MurmurStatus::Absent);
    assert!(
        !normal_analysis.flagged && !normal_summary.flagged,
        "the normal heart is not flagged: {normal_analysis:?}"
    );
    assert!(
        normal_analysis.cycles.len() >= 10,
        "20 s of heartbeats give cycles, got {}",
        normal_analysis.cycles.len()
    );
    assert!(normal_analysis.ecg_used, "the raw ECG was used");
    assert!((normal_analysis.duration_s - 20.0).abs() < 0.1);
    assert!(
        summary.priority > normal_summary.priority,
        "murmur priority {} above the normal heart's {}",
        summary.priority,
        normal_summary.priority
    );

    // The clinician's worklist: the murmur first, the normal heart below it.
    let cases = list_all_cases(&ch, ct).await.expect("ListCases");
    assert_eq!(cases.len(), 2, "exactly the two uploaded cases");
    assert_eq!(
        cases[0].case_id, mr_report.case_id,
        "the flagged murmur tops the worklist: {cases:?}"
    );
    assert!(cases[0].priority > cases[1].priority, "{cases:?}");

    // Listening: exactly the uploaded samples come back.
    assert_stored_exactly(&ch, ct, &mr_report.case_id, &mr).await;

    // Review.
    let review = review(&ch)
        .submit_review(authed(
            ct,
            pb::SubmitReviewRequest {
                case_id: mr_report.case_id.clone(),
                verdict: pb::Verdict::Agree as i32,
                findings: "Pansystolic murmur at the apex; echo requested.".into(),
                refer: true,
                request_rerecording: false,
            },
        ))
        .await
        .expect("SubmitReview")
        .into_inner();
    assert_eq!(review.case_id, mr_report.case_id);
    assert_eq!(review.reviewer_id, t.clinician_id);
    assert_eq!(review.verdict(), pb::Verdict::Agree);
    let reviewed = get_case(&ch, ct, &mr_report.case_id).await.unwrap();
    assert_eq!(reviewed.reviews.len(), 1);
    let rs = reviewed.summary.unwrap();
    assert_eq!(rs.review_count, 1);
    assert_eq!(rs.last_verdict(), pb::Verdict::Agree);

    // The audit trail shows who read and wrote this person's data.
    let events = audit(&ch, ct, &mr_report.case_id)
        .await
        .expect("ListAuditEvents");
    let by_clinician = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.actor_id == t.clinician_id)
            .count()
    };
    for action in ["case.list", "case.get", "case.audio", "case.review"] {
        assert!(
            by_clinician(action) >= 1,
            "no {action} by the clinician in {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e.action == "upload.complete" && e.actor_id == t.device_id),
        "the device's upload is in the trail: {events:?}"
    );
    assert!(events.iter().all(|e| e.case_id == mr_report.case_id));

    server.shutdown().await.expect("graceful shutdown");
    eprintln!("device_to_clinician({db:?}) took {:?}", t0.elapsed());
}

fn url_of(server: &auscult_server::RunningServer) -> String {
    url(server.addr)
}

async fn resume_after_server_kill(db: Db) {
    let Some(db_url) = database_url(db).await else {
        return;
    };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let first = ChildServer::spawn("child_server", dir.path(), db_url.as_deref());
    let admin = first
        .bootstrap_token
        .clone()
        .expect("the first start creates a bootstrap admin");
    let ch = connect(first.addr).await;
    let t = make_tenant(&ch, &admin, "e2e-restart").await;
    let rec = recording(Scenario::AorticStenosis, 21, 12.0);
    let total = Counts {
        pcg: rec.pcg_samples(),
        ecg: rec.ecg_samples(),
        r_peaks: 0,
    };
    let upload_id = uuid::Uuid::new_v4().to_string();

    // The device streams in real time, so the server dies in the middle of the recording.
    let device = Connection::new(&url(first.addr), &t.device_token).unwrap();
    let mut opts = options(&upload_id, "subject-restart");
    opts.pacing = Pacing::Realtime;
    opts.max_attempts = 1;
    opts.ack_timeout = Duration::from_secs(3);
    let in_flight = tokio::spawn({
        let (device, rec, opts) = (device.clone(), rec.clone(), opts.clone());
        async move { upload(&device, rec, &opts).await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let before_kill = loop {
        let (_, committed, _) = upload_status(&device, &upload_id, Duration::from_secs(5))
            .await
            .unwrap_or_default_status();
        if committed.pcg >= total.pcg / 3 {
            break committed;
        }
        assert!(Instant::now() < deadline, "the upload never got going");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        before_kill.pcg < total.pcg,
        "the upload finished before the kill"
    );
    drop(ch);
    first.kill();
    let cut = tokio::time::timeout(Duration::from_secs(20), in_flight)
        .await
        .expect("the device notices the dead server")
        .expect("upload task");
    assert!(
        cut.is_err(),
        "the upload cannot complete against a killed server: {cut:?}"
    );
    eprintln!(
        "killed at {before_kill:?} of {total:?} after {:?}",
        t0.elapsed()
    );

    // A new server on the same data dir and database, at a new address.
    let second = start_in_process(dir.path(), db_url).await;
    assert!(
        second.bootstrap_token.is_none(),
        "a restart finds its administrator and makes no new one"
    );
    let ch = connect(second.addr).await;
    let device = Connection::new(&url(second.addr), &t.device_token).unwrap();
    let (state, committed, _) = upload_status(&device, &upload_id, Duration::from_secs(5))
        .await
        .expect("GetUploadStatus after the restart");
    assert_eq!(state, pb::UploadState::Receiving);
    assert!(
        committed.pcg > 0 && committed.pcg < total.pcg && committed.within(total),
        "committed after restart: {committed:?} of {total:?}"
    );

    // The device resumes with the same upload id: it asks for the status and continues.
    // Same recording, same metadata (the device's clock at the start), now fast.
    let mut resume = opts.clone();
    resume.pacing = Pacing::Fast;
    resume.max_attempts = 8;
    resume.ack_timeout = Duration::from_secs(10);
    resume.status_first = true;
    let report = upload(&device, rec.clone(), &resume)
        .await
        .expect("the resumed upload completes");
    assert_eq!(report.committed, total);
    assert_eq!(
        report.resumed_from,
        vec![committed],
        "resumed from the committed offsets"
    );
    let full_bytes = (rec.pcg_bytes.len() + rec.ecg_bytes.len()) as u64;
    assert!(
        report.bytes_sent < full_bytes,
        "only the missing part is resent: {} of {full_bytes} bytes",
        report.bytes_sent
    );

    // Nothing lost, nothing stored twice, one case, analysed.
    let ct = &t.clinician_token;
    let cases = list_all_cases(&ch, ct).await.expect("ListCases");
    assert_eq!(cases.len(), 1, "exactly one case: {cases:?}");
    assert_eq!(cases[0].case_id, report.case_id);
    assert_stored_exactly(&ch, ct, &report.case_id, &rec).await;
    let case = wait_analysed_within(&ch, ct, &report.case_id, ANALYSIS_LIMIT).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done,
        "analysis error: {}",
        case.analysis_error
    );
    let analysis = case.analysis.expect("analysis");
    assert!((analysis.duration_s - 12.0).abs() < 0.1);
    assert!(!analysis.cycles.is_empty());

    second.shutdown().await.expect("graceful shutdown");
    eprintln!("resume_after_server_kill({db:?}) took {:?}", t0.elapsed());
}

/// A status answer, or "nothing yet" while the server has not seen the upload's metadata.
trait StatusOrNothing {
    fn unwrap_or_default_status(self) -> (pb::UploadState, Counts, String);
}

impl StatusOrNothing for Result<(pb::UploadState, Counts, String), firmware_sim::SimError> {
    fn unwrap_or_default_status(self) -> (pb::UploadState, Counts, String) {
        match self {
            Ok(s) => s,
            Err(firmware_sim::SimError::Refused {
                code: tonic::Code::NotFound,
                ..
            }) => (
                pb::UploadState::Unspecified,
                Counts::default(),
                String::new(),
            ),
            Err(e) => panic!("GetUploadStatus failed: {e}"),
        }
    }
}

async fn idempotent_reupload(db: Db) {
    let Some(url) = database_url(db).await else {
        return;
    };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), url).await;
    let admin = server.bootstrap_token.clone().expect("bootstrap admin");
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin, "e2e-idem").await;
    let device = Connection::new(&url_of(&server), &t.device_token).unwrap();
    let rec = recording(Scenario::Normal, 31, 8.0);
    let upload_id = uuid::Uuid::new_v4().to_string();

    let base = options(&upload_id, "subject-idem");
    let first = upload(&device, rec.clone(), &base)
        .await
        .expect("first upload");
    assert!(!first.duplicate);

    // The device did not hear the answer and sends everything again, on both RPCs.
    for mode in [UploadMode::WithAcks, UploadMode::ClientStream] {
        let mut again = base.clone();
        again.mode = mode;
        let second = upload(&device, rec.clone(), &again)
            .await
            .expect("the repeated upload succeeds");
        assert_eq!(second.case_id, first.case_id, "{mode:?}: the same case");
        assert!(
            second.duplicate,
            "{mode:?}: the server says it is a duplicate"
        );
        assert_eq!(second.committed, first.committed, "{mode:?}");
    }
    // A device that asks first is told the upload is complete and sends nothing.
    let mut ask = base.clone();
    ask.status_first = true;
    let third = upload(&device, rec.clone(), &ask)
        .await
        .expect("status-first upload");
    assert_eq!(third.case_id, first.case_id);
    assert_eq!(third.chunks_sent, 0);

    let ct = &t.clinician_token;
    let cases = list_all_cases(&ch, ct).await.expect("ListCases");
    assert_eq!(cases.len(), 1, "one case for one upload id: {cases:?}");
    assert_stored_exactly(&ch, ct, &first.case_id, &rec).await;
    let case = wait_analysed_within(&ch, ct, &first.case_id, ANALYSIS_LIMIT).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done
    );
    let completes = audit(&ch, ct, &first.case_id)
        .await
        .expect("ListAuditEvents")
        .iter()
        .filter(|e| e.action == "upload.complete")
        .count();
    assert_eq!(completes, 1, "the upload completed once");

    server.shutdown().await.expect("graceful shutdown");
    eprintln!("idempotent_reupload({db:?}) took {:?}", t0.elapsed());
}

both_backends!(device_to_clinician);
both_backends!(resume_after_server_kill);
both_backends!(idempotent_reupload);

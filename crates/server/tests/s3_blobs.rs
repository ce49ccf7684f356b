//! Recording blobs through the real server:
//!
//! - with S3 blobs on a REAL S3-compatible server (`AUSCULT_TEST_S3_URL`, e.g. `moto_server`
//!   started by `.ci/run`; skipped with a message when unset): upload, analysis and GetAudio are
//!   byte-exact, the parts are objects in the bucket, and nothing is written to local blob files;
//! - S3 unreachable for 30 s in the middle of a real-time upload (a proxy in front of the S3 test
//!   server cuts every connection): nothing is acknowledged as committed while S3 is away, the
//!   committed count a device can see never goes back, and the device's upload completes
//!   afterwards byte for byte;
//! - the orphan sweep at start: a blob written just before a crash (no committed row), older than
//!   the grace period, is deleted when the server starts; committed blobs and young orphans stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use auscult_proto::v1 as pb;
use auscult_store::blobs::{Blobs, part_key, recording_of_key};
use auscult_store::{BlobConfig, now_ms};
use auscult_synth::Scenario;
use auscult_testkit::*;

async fn upload_analyse_listen_on_s3(db: Db) {
    let Some(s3) = s3_test_config().await else {
        return;
    };
    let blob_config = BlobConfig::S3 {
        bucket: s3.bucket.clone(),
        region: s3.region.clone(),
        endpoint: s3.endpoint.clone(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: s3.secret_access_key.clone(),
        allow_http: s3.allow_http,
    };
    let Some(ts) = start_with(db, |c| c.s3 = Some(s3)).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "s3-clinic").await;
    let rec = synth(Scenario::MitralRegurgitation, 5, 8.0);
    let done = upload(ch, &t.device_token, whole_upload("s3-1", &rec))
        .await
        .expect("upload to an S3-backed server");
    assert_eq!(
        done.committed.as_ref().unwrap().pcg_samples,
        rec.pcg_samples()
    );

    let case = wait_analysed(ch, &t.clinician_token, &done.case_id).await;
    assert_eq!(
        case.summary.as_ref().unwrap().analysis_state(),
        pb::AnalysisState::Done,
        "the worker read the parts back from S3: {}",
        case.analysis_error
    );
    assert_stored_bytes(
        ch,
        &t.clinician_token,
        &done.case_id,
        &rec.pcg_s16,
        &rec.ecg_f32,
    )
    .await;
    let (_, wav, _) = get_audio(ch, &t.clinician_token, &done.case_id, pb::AudioFormat::Wav)
        .await
        .unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[44..], &rec.pcg_s16[..]);

    // The parts are objects in the bucket, under the tenant, named for the recording, covering
    // every byte.
    let bucket = Blobs::open(&blob_config).unwrap();
    let objects = bucket.list("tenants").await.unwrap();
    assert!(!objects.is_empty(), "no object in the bucket");
    assert!(objects.iter().all(|o| {
        o.key.starts_with(&format!("tenants/{}/parts/", t.id))
            && recording_of_key(&o.key) == Some(done.case_id.as_str())
    }));
    let total: u64 = objects.iter().map(|o| o.size).sum();
    assert_eq!(total, (rec.pcg_s16.len() + rec.ecg_f32.len()) as u64);
    assert!(
        !ts.dir.path().join("blobs").join("tenants").exists(),
        "with S3 configured nothing is written to local blob files"
    );

    // A retry of the same upload stores nothing twice.
    let again = upload(ch, &t.device_token, whole_upload("s3-1", &rec))
        .await
        .unwrap();
    assert_eq!(again.case_id, done.case_id);
    assert_eq!(bucket.list("tenants").await.unwrap().len(), objects.len());
    ts.server.shutdown().await.unwrap();
}
both_backends!(upload_analyse_listen_on_s3);

fn backdate(path: &std::path::Path, by: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_a_crash_are_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), None).await;
    let admin_token = server.bootstrap_token.clone().unwrap();
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin_token, "sweep-clinic").await;
    let rec = synth(Scenario::Normal, 9, 3.0);
    let done = upload(&ch, &t.device_token, whole_upload("sweep-1", &rec))
        .await
        .unwrap();
    server.shutdown().await.unwrap();

    // What a crash between writing a blob and committing its row leaves: an object under the
    // recording with no row, and a torn staging file. Both are older than the grace period; a
    // third orphan is young (a write that may still be about to commit) and must stay.
    let blobs = Blobs::open(&BlobConfig::Local {
        root: dir.path().join("blobs"),
    })
    .unwrap();
    let old_orphan = part_key(&t.id, &done.case_id, "pcg", rec.pcg_samples());
    let young_orphan = part_key(&t.id, &done.case_id, "ecg", rec.ecg_samples());
    blobs.put(&old_orphan, vec![1u8; 64].into()).await.unwrap();
    blobs
        .put(&young_orphan, vec![2u8; 64].into())
        .await
        .unwrap();
    let root = dir.path().join("blobs");
    let old_path = root.join(&old_orphan);
    let staging = root.join(format!("{young_orphan}#7"));
    std::fs::write(&staging, b"torn").unwrap();
    let grace = auscult_server::ORPHAN_BLOB_GRACE;
    backdate(&old_path, grace + Duration::from_secs(3600));
    backdate(&staging, grace + Duration::from_secs(3600));
    let committed_before = blobs.list("tenants").await.unwrap().len() - 2;

    let server = start_in_process(dir.path(), None).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while old_path.exists() || staging.exists() {
        assert!(
            Instant::now() < deadline,
            "the sweep at start did not remove the old orphan and the staging file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        blobs.get(&young_orphan).await.is_ok(),
        "a young orphan stays"
    );
    let left = blobs.list("tenants").await.unwrap();
    assert_eq!(left.len(), committed_before + 1);
    assert!(left.iter().all(|b| b.modified_ms <= now_ms()));

    // The committed recording is intact, byte for byte.
    let ch = connect(server.addr).await;
    assert_stored_bytes(
        &ch,
        &t.clinician_token,
        &done.case_id,
        &rec.pcg_s16,
        &rec.ecg_f32,
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_outage_loses_nothing_acknowledged() {
    let Some(mut s3) = s3_test_config().await else {
        return;
    };
    let target = s3
        .endpoint
        .clone()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CutProxy::start(target).await;
    s3.endpoint = Some(format!("http://{}", proxy.addr));
    let Some(ts) = start_with(Db::Sqlite, |c| c.s3 = Some(s3)).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "s3-outage").await;
    let rec = recording(Scenario::MitralRegurgitation, 3, 40.0);

    // The device streams in real time and resumes when its stream stalls or fails.
    let device = {
        let conn = firmware_sim::Connection::new(&url(ts.server.addr), &t.device_token).unwrap();
        let rec = Arc::clone(&rec);
        let opts = firmware_sim::UploadOptions {
            upload_id: "through-outage".into(),
            pacing: firmware_sim::Pacing::Realtime,
            max_attempts: 200,
            backoff_max: Duration::from_secs(2),
            ack_timeout: Duration::from_secs(5),
            ..firmware_sim::UploadOptions::default()
        };
        tokio::spawn(async move { firmware_sim::upload(&conn, rec, &opts).await })
    };
    // What the device would be told if it asked, four times a second, until complete.
    let observer = {
        let (ch, token) = (ch.clone(), t.device_token.clone());
        tokio::spawn(async move {
            let mut seen: Vec<(Instant, u64, u64)> = Vec::new();
            loop {
                let status = upload_status(&ch, &token, "through-outage").await.unwrap();
                let c = status.committed.unwrap_or_default();
                seen.push((Instant::now(), c.pcg_samples, c.ecg_samples));
                if status.state() == pb::UploadState::Complete {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.set_cut(true);
    let cut_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.set_cut(false);
    let back_at = Instant::now();

    let report = device
        .await
        .unwrap()
        .expect("the upload completes once S3 is back");
    let seen = observer.await.unwrap();
    assert!(
        proxy.refused.load(Ordering::Relaxed) > 0,
        "the server tried S3 while it was away"
    );
    assert_eq!(report.committed, report.totals, "{report:?}");
    assert!(
        seen.windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2),
        "a committed count never goes back"
    );
    let at = |when: Instant| {
        seen.iter()
            .rev()
            .find(|s| s.0 <= when)
            .map(|s| (s.1, s.2))
            .unwrap()
    };
    let before = at(cut_at + Duration::from_secs(3));
    assert!(before.0 > 0, "data was committed before the outage");
    assert_eq!(
        before,
        at(back_at),
        "nothing is acknowledged as committed while S3 is unreachable"
    );
    assert!(
        report.attempts > 1
            || report
                .ack_latencies
                .iter()
                .any(|l| *l >= Duration::from_secs(20)),
        "the device felt the outage: {report:?}"
    );
    assert_stored_exactly(ch, &t.clinician_token, &report.case_id, &rec).await;
    ts.server.shutdown().await.unwrap();
}

//! Recording blobs through the real server:
//!
//! - with S3 blobs on a REAL S3-compatible server (`AUSCULT_TEST_S3_URL`, e.g. `moto_server`
//!   started by `.ci/run`; skipped with a message when unset): upload, analysis and GetAudio are
//!   byte-exact, the parts are objects in the bucket, and nothing is written to local blob files;
//! - the orphan sweep at start: a blob written just before a crash (no committed row), older than
//!   the grace period, is deleted when the server starts; committed blobs and young orphans stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use auscult_proto::v1 as pb;
use auscult_store::blobs::{Blobs, part_key};
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

    // The parts are objects in the bucket, under the recording, covering every byte.
    let bucket = Blobs::open(&blob_config).unwrap();
    let objects = bucket.list("tenants").await.unwrap();
    assert!(!objects.is_empty(), "no object in the bucket");
    assert!(objects.iter().all(|o| {
        o.key
            .starts_with(&format!("tenants/{}/recordings/{}/", t.id, done.case_id))
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

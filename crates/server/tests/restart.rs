//! Kill the real server process (SIGKILL) in the middle of an upload, restart it on the same data,
//! resume: nothing lost, nothing stored twice, the analysis completes. Runs the `auscult-server`
//! binary as a child process.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_store::{DeviceId, TenantId};
use auscult_synth::Scenario;
use auscult_testkit::*;

struct Proc {
    child: Child,
    addr: std::net::SocketAddr,
    bootstrap: Option<String>,
}

fn spawn(dir: &std::path::Path, db_url: Option<&str>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auscult-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--no-web", "--data-dir"])
        .arg(dir)
        .args(["--flush-bytes", "4096", "--workers", "1"])
        // On PostgreSQL a starting server waits out the dead process's job lease (servers may
        // share the queue): keep it short so the test does not wait 5 minutes.
        .args(["--job-lease-ms", "10000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = db_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn().expect("spawn auscult-server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    let mut bootstrap = None;
    while let Some(Ok(line)) = lines.next() {
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = Some(a.trim().parse().unwrap());
        } else if let Some(path) = line.strip_prefix("bootstrap admin token file: ") {
            bootstrap = Some(read_token_file(std::path::Path::new(path.trim())));
        } else if line == "ready" {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Proc {
        child,
        addr: addr.expect("server printed its address"),
        bootstrap,
    }
}

async fn kill_mid_upload_and_resume(db: Db) {
    let url = match db {
        Db::Sqlite => None,
        Db::Postgres => match postgres_url().await {
            Some(u) => Some(u),
            None => return,
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let mut first = spawn(dir.path(), url.as_deref());
    let admin_token = first
        .bootstrap
        .clone()
        .expect("first start writes a bootstrap token file");
    let ch = connect(first.addr).await;
    let t = make_tenant(&ch, &admin_token, "restart").await;
    let rec = synth(Scenario::AorticStenosis, 21, 15.0);
    let chunks = chunks_from(&rec, 0, 0);

    // Stream with acknowledgements; after half the chunks are acknowledged, SIGKILL the server.
    let (tx, mut acks) = open_upload_with_acks(&ch, &t.device_token, 4).await;
    tx.send(meta_msg(metadata("restart-1", &rec)))
        .await
        .unwrap();
    let mut acked = pb::CommittedCounts::default();
    for c in &chunks[..chunks.len() / 2] {
        tx.send(c.clone()).await.unwrap();
        let ack = acks.message().await.unwrap().unwrap();
        acked = ack.committed.unwrap();
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(tx);
    assert!(
        acked.pcg_samples > 0,
        "some data was acknowledged as committed before the kill"
    );

    // Restart on the same data: no new bootstrap token, the old tokens still work.
    let mut second = spawn(dir.path(), url.as_deref());
    assert!(
        second.bootstrap.is_none(),
        "the bootstrap token is made only once"
    );
    let ch = connect(second.addr).await;
    let status = upload_status(&ch, &t.device_token, "restart-1")
        .await
        .unwrap();
    assert_eq!(status.state(), pb::UploadState::Receiving);
    let committed = status.committed.unwrap();
    assert!(
        committed.pcg_samples >= acked.pcg_samples,
        "nothing acknowledged was lost"
    );
    assert!(committed.ecg_samples >= acked.ecg_samples);

    let mut msgs = vec![meta_msg(metadata("restart-1", &rec))];
    msgs.extend(chunks_from(
        &rec,
        committed.pcg_samples,
        committed.ecg_samples,
    ));
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    let done = upload(&ch, &t.device_token, msgs).await.unwrap();
    assert_eq!(done.state(), pb::UploadState::Complete);
    let (_, pcg, ecg) = get_audio(
        &ch,
        &t.clinician_token,
        &done.case_id,
        pb::AudioFormat::Samples,
    )
    .await
    .unwrap();
    assert_eq!(pcg, rec.pcg_s16, "nothing lost, nothing twice");
    assert_eq!(ecg, rec.ecg_f32);
    let case = wait_analysed(&ch, &t.clinician_token, &done.case_id).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done,
        "{}",
        case.analysis_error
    );

    // A job left running by a killed process is picked up again after a restart.
    let up2 = upload(&ch, &t.device_token, whole_upload("restart-2", &rec))
        .await
        .unwrap();
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    let mut third = spawn(dir.path(), url.as_deref());
    let ch = connect(third.addr).await;
    let case = wait_analysed(&ch, &t.clinician_token, &up2.case_id).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done
    );
    third.child.kill().unwrap();
    third.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
both_backends!(kill_mid_upload_and_resume);

/// An upload that never completed is deleted with its blobs once it is older than
/// `abandoned_upload_days` (audited as `upload.expired`); a completed one of the same age and a
/// younger incomplete one are kept; the device that comes back later uploads it again in full.
async fn abandoned_uploads_expire(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let state = ts.server.state();
    let t = make_tenant(ch, &ts.admin_token, "expiry").await;
    let rec = synth(Scenario::AorticStenosis, 7, 10.0);
    let kept = upload(ch, &t.device_token, whole_upload("kept", &rec))
        .await
        .unwrap();

    // Half of "abandoned" is acknowledged as committed, then the device goes away.
    let chunks = chunks_from(&rec, 0, 0);
    let (tx, mut acks) = open_upload_with_acks(ch, &t.device_token, 4).await;
    tx.send(meta_msg(metadata("abandoned", &rec)))
        .await
        .unwrap();
    for c in &chunks[..chunks.len() / 2] {
        tx.send(c.clone()).await.unwrap();
        acks.message().await.unwrap().unwrap();
    }
    drop(tx);
    while acks.message().await.unwrap_or(None).is_some() {}
    let row = state
        .store
        .find_upload(
            &TenantId::new(t.id.as_str()),
            &DeviceId::new(t.device_id.as_str()),
            "abandoned",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(row.committed.pcg > 0);
    let keys_of = |blobs: &[auscult_store::blobs::BlobInfo]| {
        blobs.iter().filter(|b| b.key.contains(&row.id)).count()
    };
    let before = state.store.blobs.list("").await.unwrap();
    assert!(keys_of(&before) > 0, "its parts are stored");

    // 29 days on: too young. 31 days on: deleted, once.
    let day = 86_400_000;
    let now = auscult_store::now_ms();
    let expire = |at| auscult_server::worker::expire_abandoned_uploads(state, 30, at);
    assert_eq!(expire(now + 29 * day).await.unwrap(), 0);
    assert_eq!(expire(now + 31 * day).await.unwrap(), 1);
    assert_eq!(expire(now + 31 * day).await.unwrap(), 0);
    let after = state.store.blobs.list("").await.unwrap();
    assert_eq!(keys_of(&after), 0, "its blobs are gone");
    assert_eq!(
        after.len(),
        before.len() - keys_of(&before),
        "nothing else was deleted"
    );
    let status = upload_status(ch, &t.device_token, "abandoned")
        .await
        .unwrap();
    assert_eq!(status.state(), pb::UploadState::Unknown);
    assert_eq!(status.committed.unwrap().pcg_samples, 0);
    // The completed case is untouched; the expiry is in the tenant's audit trail.
    let case = get_case(ch, &t.clinician_token, &kept.case_id)
        .await
        .unwrap();
    assert!(case.summary.is_some());
    let trail = audit(ch, &t.clinician_token, "").await.unwrap();
    let expired: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "upload.expired")
        .collect();
    assert_eq!(expired.len(), 1, "{trail:?}");
    assert_eq!(
        (expired[0].case_id.as_str(), expired[0].subject_id.as_str()),
        (row.id.as_str(), "subject-42")
    );

    // The device comes back: it is told nothing is committed and sends the recording again.
    let again = upload(ch, &t.device_token, whole_upload("abandoned", &rec))
        .await
        .unwrap();
    assert_ne!(again.case_id, row.id);
    let stored = get_case(ch, &t.clinician_token, &again.case_id)
        .await
        .unwrap();
    assert!(stored.summary.is_some());
    ts.server.shutdown().await.unwrap();
}
both_backends!(abandoned_uploads_expire);

/// PostgreSQL goes away for 15 s (every connection cut and new ones refused, as in a restart)
/// while a device streams in real time: calls fail with `UNAVAILABLE` meanwhile (within the
/// pool's acquire timeout, not the call's deadline), the server reconnects by itself, the device
/// resumes, and its upload completes byte for byte; a new upload afterwards is analysed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load() {
    let Some(db_url) = postgres_url().await else {
        return;
    };
    let (head, rest) = db_url.split_once('@').expect("a URL with credentials");
    let (host_port, database) = rest.split_once('/').expect("a URL with a database");
    let proxy = CutProxy::start(host_port.to_owned()).await;
    let proxied = format!("{head}@{}/{database}", proxy.addr);
    let dir = tempfile::tempdir().unwrap();
    let server = auscult_server::start(test_config(dir.path(), Some(proxied)))
        .await
        .unwrap();
    let admin_token = server.bootstrap_token.clone().unwrap();
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin_token, "pg-restart").await;
    let rec = recording(Scenario::AorticStenosis, 11, 30.0);

    let device = {
        let conn = firmware_sim::Connection::new(&url(server.addr), &t.device_token).unwrap();
        let rec = std::sync::Arc::clone(&rec);
        let opts = firmware_sim::UploadOptions {
            upload_id: "through-pg-restart".into(),
            pacing: firmware_sim::Pacing::Realtime,
            max_attempts: 200,
            backoff_max: Duration::from_secs(2),
            ack_timeout: Duration::from_secs(5),
            ..firmware_sim::UploadOptions::default()
        };
        tokio::spawn(async move { firmware_sim::upload(&conn, rec, &opts).await })
    };

    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.set_cut(true);
    let asked = std::time::Instant::now();
    let refused = list_all_cases(&ch, &t.clinician_token).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(14),
        "refused within the acquire timeout: {:?}",
        asked.elapsed()
    );
    let remaining = Duration::from_secs(15).saturating_sub(asked.elapsed());
    tokio::time::sleep(remaining).await;
    proxy.set_cut(false);

    let report = device
        .await
        .unwrap()
        .expect("the upload completes once PostgreSQL is back");
    assert!(proxy.refused.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert_eq!(report.committed, report.totals, "{report:?}");
    assert_stored_exactly(&ch, &t.clinician_token, &report.case_id, &rec).await;
    let case = wait_analysed(&ch, &t.clinician_token, &report.case_id).await;
    assert_eq!(
        case.summary.unwrap().analysis_state(),
        pb::AnalysisState::Done
    );
    server.shutdown().await.unwrap();
}

/// A device that stored its daily quota gets `RESOURCE_EXHAUSTED` for a new upload, and nothing
/// of it is stored; what it already started or finished is not refused, and another device of
/// the tenant is not affected.
async fn device_quota_refuses_new_uploads(db: Db) {
    let Some(ts) = start_with(db, |c| c.device_quota_mib_per_day = 1).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "quota").await;
    // Two minutes of 4 kHz 16-bit PCG and 500 Hz float ECG: about 1.2 MiB.
    let rec = synth(Scenario::Normal, 5, 120.0);
    let first = upload(ch, &t.device_token, whole_upload("q1", &rec))
        .await
        .unwrap();
    assert!(!first.case_id.is_empty());
    let refused = upload(ch, &t.device_token, whole_upload("q2", &rec))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("quota is 1 MiB"), "{refused:?}");
    let status = upload_status(ch, &t.device_token, "q2").await.unwrap();
    assert_eq!(
        status.state(),
        pb::UploadState::Unknown,
        "nothing of q2 was stored"
    );
    // Sending the finished upload again is answered as before.
    let again = upload(ch, &t.device_token, whole_upload("q1", &rec))
        .await
        .unwrap();
    assert!(again.duplicate && again.case_id == first.case_id);
    // Another device of the tenant has its own quota.
    let other = admin(ch)
        .register_device(authed(
            &ts.admin_token,
            pb::RegisterDeviceRequest {
                tenant_id: t.id.clone(),
                name: "second-stethoscope".into(),
                lifetime_seconds: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    upload(ch, &other, whole_upload("q2", &rec)).await.unwrap();
    ts.server.shutdown().await.unwrap();
}
both_backends!(device_quota_refuses_new_uploads);

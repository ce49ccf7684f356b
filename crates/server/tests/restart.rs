//! Kill the real server process (SIGKILL) in the middle of an upload, restart it on the same data,
//! resume: nothing lost, nothing stored twice, the analysis completes. Runs the `auscult-server`
//! binary as a child process.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auscult_proto::v1 as pb;
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
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut acks = ingest(&ch)
        .upload_with_acks(authed(
            &t.device_token,
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .await
        .unwrap()
        .into_inner();
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

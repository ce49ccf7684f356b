//! The transport's limits, each against the real server over a real socket: a device that goes
//! silent mid-upload without closing its connection has its call ended by the stream idle timeout,
//! and its upload resumes and completes from a new connection (before, every resume was ABORTED
//! until the server restarted); a unary call that outlives the request timeout gets
//! DEADLINE_EXCEEDED while a client stream may last longer; a raw HTTP/2 client sees the
//! advertised `max_concurrent_streams` and has the stream over it refused, and one that never
//! answers the server's pings has its connection closed.
//!
//! Nothing here asserts how fast anything happens: every wait is for a positive signal (a status,
//! a frame, the end of the connection) under a deadline far longer than the configured timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_synth::Scenario;
use auscult_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Far longer than any timeout configured here: reaching it means the server never acted.
const DEADLINE: Duration = Duration::from_secs(60);

/// PCG and ECG samples carried by `msgs` (chunk messages only).
fn samples_in(msgs: &[pb::UploadRequest]) -> (u64, u64) {
    let (mut pcg, mut ecg) = (0, 0);
    for m in msgs {
        if let Some(pb::upload_request::Kind::Chunk(c)) = &m.kind {
            match c.stream() {
                pb::SignalStream::Pcg => pcg += c.samples.len() as u64 / 2,
                pb::SignalStream::Ecg => ecg += c.samples.len() as u64 / 4,
                _ => {}
            }
        }
    }
    (pcg, ecg)
}

/// A device sends metadata and some chunks on its own connection, then goes silent without
/// closing the stream or the connection; `with_acks` picks `UploadWithAcks` over `Upload`. The
/// server must end the call with the idle status; then a second device connection resumes the
/// same upload id from the committed counts and completes it.
async fn silent_device_then_resume(with_acks: bool) {
    let ts = start_with(Db::Sqlite, |c| c.stream_idle_timeout_ms = 1000)
        .await
        .unwrap();
    let t = make_tenant(&ts.channel, &ts.admin_token, "silent-clinic").await;
    let rec = synth(Scenario::Normal, 11, 6.0);
    let upload_id = if with_acks { "silent-acks" } else { "silent" };
    let chunks = chunks_from(&rec, 0, 0);
    let sent = &chunks[..8];
    let (sent_pcg, sent_ecg) = samples_in(sent);

    // The first device, on a connection of its own that stays open throughout.
    let first = connect(ts.server.addr).await;
    let (tx, rx) = mpsc::channel(64);
    tx.send(meta_msg(metadata(upload_id, &rec))).await.unwrap();
    for c in sent {
        tx.send(c.clone()).await.unwrap();
    }
    let status = if with_acks {
        let mut acks = ingest(&first)
            .upload_with_acks(authed(&t.device_token, ReceiverStream::new(rx)))
            .await
            .unwrap()
            .into_inner();
        // Every chunk is acknowledged as received; then the device says nothing more.
        loop {
            let ack = tokio::time::timeout(DEADLINE, acks.message())
                .await
                .expect("acknowledgements arrive")
                .expect("no error while the device sends")
                .expect("the stream stays open");
            let received = ack.received.unwrap();
            if (received.pcg_samples, received.ecg_samples) == (sent_pcg, sent_ecg) {
                break;
            }
        }
        tokio::time::timeout(DEADLINE, acks.message())
            .await
            .expect("the server ends a stream whose device went silent")
            .expect_err("the silent stream ends with an error status")
    } else {
        tokio::time::timeout(
            DEADLINE,
            ingest(&first).upload(authed(&t.device_token, ReceiverStream::new(rx))),
        )
        .await
        .expect("the server ends a stream whose device went silent")
        .expect_err("the silent stream ends with an error status")
    };
    assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
    assert!(status.message().contains("idle timeout"), "{status:?}");

    // The second connection finds what arrived committed and finishes the upload.
    let second = connect(ts.server.addr).await;
    let stored = upload_status(&second, &t.device_token, upload_id)
        .await
        .unwrap();
    let committed = stored.committed.unwrap();
    assert_eq!(
        (committed.pcg_samples, committed.ecg_samples),
        (sent_pcg, sent_ecg),
        "what the silent device sent is committed when its call ends"
    );
    let mut resume = vec![meta_msg(metadata(upload_id, &rec))];
    resume.extend(chunks_from(
        &rec,
        committed.pcg_samples,
        committed.ecg_samples,
    ));
    resume.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    let done = upload(&second, &t.device_token, resume)
        .await
        .expect("the resumed upload is not locked out by the silent one");
    assert_eq!(done.state(), pb::UploadState::Complete);
    assert!(!done.duplicate);
    let (_, pcg, _) = get_audio(
        &second,
        &t.clinician_token,
        &done.case_id,
        pb::AudioFormat::Samples,
    )
    .await
    .unwrap();
    assert_eq!(pcg, rec.pcg_s16);
    drop(tx);
    ts.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_stream_ends_and_its_upload_resumes_on_a_new_connection() {
    silent_device_then_resume(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_with_acks_ends_and_its_upload_resumes_on_a_new_connection() {
    silent_device_then_resume(true).await;
}

/// A unary call blocked behind a table lock held by the test ends with DEADLINE_EXCEEDED at the
/// request timeout, and the server serves the same call once the lock is gone. PostgreSQL only:
/// there a lock makes a read wait for as long as the test likes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_past_the_request_timeout_gets_deadline_exceeded() {
    use sqlx::Connection as _;
    let Some(ts) = start_with(Db::Postgres, |c| c.request_timeout_ms = 1000).await else {
        return;
    };
    let t = make_tenant(&ts.channel, &ts.admin_token, "slow-clinic").await;
    let url = ts.server.state().config.database_url.clone().unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut locked = conn.begin().await.unwrap();
    sqlx::query("LOCK TABLE recordings IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locked)
        .await
        .unwrap();
    let status = tokio::time::timeout(
        DEADLINE,
        upload_status(&ts.channel, &t.device_token, "never-sent"),
    )
    .await
    .expect("the server ends a unary call at its request timeout")
    .expect_err("a call stuck behind the lock fails");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("request timeout"), "{status:?}");
    locked.rollback().await.unwrap();
    let status = upload_status(&ts.channel, &t.device_token, "never-sent")
        .await
        .expect("the same call succeeds once the lock is released");
    assert_eq!(status.state(), pb::UploadState::Unknown);
    ts.server.shutdown().await.unwrap();
}

/// The request timeout is for unary calls only: an upload stream open for several times the
/// request timeout completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stream_may_outlast_the_request_timeout() {
    let ts = start_with(Db::Sqlite, |c| c.request_timeout_ms = 200)
        .await
        .unwrap();
    let t = make_tenant(&ts.channel, &ts.admin_token, "long-clinic").await;
    let rec = synth(Scenario::Normal, 12, 4.0);
    let msgs = whole_upload("long", &rec);
    let (tx, rx) = mpsc::channel(msgs.len());
    let call = {
        let ch = ts.channel.clone();
        let token = t.device_token.clone();
        tokio::spawn(async move {
            ingest(&ch)
                .upload(authed(&token, ReceiverStream::new(rx)))
                .await
        })
    };
    let half = msgs.len() / 2;
    for m in &msgs[..half] {
        tx.send(m.clone()).await.unwrap();
    }
    // Not a speed claim: only lets the open stream outlive the request timeout several times.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for m in &msgs[half..] {
        // A refused send means the call ended: its status is checked below.
        if tx.send(m.clone()).await.is_err() {
            break;
        }
    }
    drop(tx);
    let done = tokio::time::timeout(DEADLINE, call)
        .await
        .expect("the upload ends")
        .unwrap()
        .expect("a stream longer than the request timeout is not cut")
        .into_inner();
    assert_eq!(done.state(), pb::UploadState::Complete);
    ts.server.shutdown().await.unwrap();
}

/// One HTTP/2 frame: (type, flags, stream id, payload).
type Frame = (u8, u8, u32, Vec<u8>);

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const REFUSED_STREAM: u32 = 0x7;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A plaintext HTTP/2 connection written by hand, so the test controls every frame: it answers
/// nothing it is not told to (pings included) and may open more streams than the server allows.
struct RawH2 {
    socket: TcpStream,
}

impl RawH2 {
    /// Connects, sends the client preface and empty settings, and returns the server's settings.
    async fn connect(addr: std::net::SocketAddr) -> (RawH2, Vec<(u16, u32)>) {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        socket.write_all(&hello).await.unwrap();
        let mut raw = RawH2 { socket };
        loop {
            let (kind, flags, _, payload) = raw.next_frame().await.expect("the server's settings");
            if kind == SETTINGS && flags & ACK == 0 {
                let settings = payload
                    .chunks_exact(6)
                    .map(|s| {
                        (
                            u16::from_be_bytes([s[0], s[1]]),
                            u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
                        )
                    })
                    .collect();
                raw.send(frame(SETTINGS, ACK, 0, &[])).await;
                return (raw, settings);
            }
        }
    }

    async fn send(&mut self, bytes: Vec<u8>) {
        self.socket.write_all(&bytes).await.unwrap();
    }

    /// The next frame, or `None` once the server has closed (or reset) the connection.
    async fn next_frame(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        let read = tokio::time::timeout(DEADLINE, self.socket.read_exact(&mut head))
            .await
            .expect("the server sends a frame or closes the connection");
        if read.is_err() {
            return None;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        if self.socket.read_exact(&mut payload).await.is_err() {
            return None;
        }
        Some((head[3], head[4], stream, payload))
    }
}

/// A request header block (HPACK literals without indexing or Huffman coding) of a gRPC health
/// check.
fn health_check_headers() -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Check"),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0);
        block.push(u8::try_from(name.len()).unwrap());
        block.extend(name.as_bytes());
        block.push(u8::try_from(value.len()).unwrap());
        block.extend(value.as_bytes());
    }
    block
}

/// The server advertises `max_concurrent_streams`, and a client that opens one stream more on the
/// same connection (ignoring the setting, as a hostile one would) has that stream refused while
/// the ones within the limit stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_over_max_concurrent_streams_is_refused() {
    let ts = start_with(Db::Sqlite, |c| c.max_concurrent_streams = 2)
        .await
        .unwrap();
    let (mut raw, settings) = RawH2::connect(ts.server.addr).await;
    assert!(
        settings.contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 2)),
        "{settings:?}"
    );
    let headers = health_check_headers();
    // Three streams whose request bodies stay open, so none of them can finish meanwhile.
    for stream in [1, 3, 5] {
        raw.send(frame(HEADERS, END_HEADERS, stream, &headers))
            .await;
    }
    loop {
        let (kind, _, stream, payload) = raw
            .next_frame()
            .await
            .expect("the connection stays open while the server refuses a stream");
        if kind == RST_STREAM {
            assert_eq!(stream, 5, "only the stream over the limit is reset");
            let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            assert_eq!(code, REFUSED_STREAM);
            break;
        }
        assert_ne!(kind, DATA, "no stream got an answer before the refusal");
    }
    ts.server.shutdown().await.unwrap();
}

/// A connection that never answers the server's HTTP/2 pings (as one whose network vanished) is
/// closed by the server after the keepalive timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_answers_pings_is_closed() {
    let ts = start_with(Db::Sqlite, |c| {
        c.http2_keepalive_interval_ms = 300;
        c.http2_keepalive_timeout_ms = 300;
    })
    .await
    .unwrap();
    let (mut raw, _) = RawH2::connect(ts.server.addr).await;
    let mut pinged = false;
    while let Some((kind, flags, _, _)) = raw.next_frame().await {
        pinged |= kind == PING && flags & ACK == 0;
    }
    assert!(pinged, "the server pinged before closing the connection");
    ts.server.shutdown().await.unwrap();
}

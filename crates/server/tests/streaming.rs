//! Replies that carry a recording are sent while the server reads it, one stored part at a time,
//! through the real server over gRPC and HTTP on real sockets (SQLite, and PostgreSQL when
//! `AUSCULT_TEST_POSTGRES_URL` is set).
//!
//! How a test sees it: one stored part of a recording is swapped for a FIFO nobody writes to
//! ([`Gate`]), so the server's read of that part waits until the test lets it go. A server that
//! builds the whole reply before sending sends nothing while the gate is closed; one that streams
//! has already sent the parts before it. Once the gate is open again, the whole replies are
//! compared with the recording: streaming changes no byte.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_server::samples;
use auscult_synth::Scenario;
use auscult_testkit::browser::{PASSWORD, add_web_user, start_console};
use auscult_testkit::*;
use tonic::transport::Channel;

/// How long a reply may take to begin: far longer than any read, far shorter than forever.
const FIRST_BYTES: Duration = Duration::from_secs(20);

/// A stored part's blob swapped for a FIFO with no writer. Opening a FIFO for reading waits for a
/// writer, so the server's read of that part waits until [`Gate::release`] (or drop) lets it in
/// (it then reads nothing and fails) and puts the blob back for every later read.
struct Gate {
    path: PathBuf,
    aside: PathBuf,
    released: bool,
}

impl Gate {
    fn close(path: PathBuf) -> Gate {
        let aside = path.with_extension("aside");
        std::fs::rename(&path, &aside).expect("move the blob aside");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", path.display());
        Gate {
            path,
            aside,
            released: false,
        }
    }

    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        // Opening a FIFO for reading and writing does not wait (Linux): a reader waiting on it
        // gets in. The blob goes back over the FIFO's name before this writer closes, so no
        // later open can find the FIFO and wait forever.
        let writer = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .expect("open the FIFO");
        std::fs::rename(&self.aside, &self.path).expect("put the blob back");
        drop(writer);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release();
    }
}

/// The blob files of a recording, in order: one per flush, each holding that flush's PCG, ECG
/// and R-peak bytes.
fn part_files(ts: &TestServer, tenant_id: &str, case_id: &str) -> Vec<PathBuf> {
    let dir = ts
        .dir
        .path()
        .join("blobs/tenants")
        .join(tenant_id)
        .join("recordings")
        .join(case_id)
        .join("parts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains('#'))
        .collect();
    files.sort();
    files
}

/// A recording uploaded and analysed (the worker has read its parts before a gate closes).
async fn analysed(
    ch: &Channel,
    t: &Tenant,
    upload_id: &str,
    msgs: Vec<pb::UploadRequest>,
) -> String {
    let done = upload(ch, &t.device_token, msgs).await.expect("upload");
    assert_eq!(done.state(), pb::UploadState::Complete, "{upload_id}");
    wait_analysed(ch, &t.clinician_token, &done.case_id).await;
    done.case_id
}

/// The upload of `rec` with its PCG as f32, times `gain`; and those PCG bytes.
fn f32_upload(
    upload_id: &str,
    rec: &PackedRecording,
    gain: f32,
) -> (Vec<pb::UploadRequest>, Vec<u8>) {
    let pcg: Vec<u8> = rec
        .pcg_s16
        .chunks_exact(2)
        .flat_map(|b| (f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0 * gain).to_le_bytes())
        .collect();
    let mut meta = metadata(upload_id, rec);
    meta.pcg_format = pb::SampleFormat::F32le as i32;
    let mut msgs = vec![meta_msg(meta)];
    let (pcg_step, ecg_step) = ((rec.pcg_rate / 4) as usize, (rec.ecg_rate / 4) as usize);
    for (i, c) in pcg.chunks(pcg_step * 4).enumerate() {
        msgs.push(chunk_msg(
            pb::SignalStream::Pcg,
            (i * pcg_step) as u64,
            c.to_vec(),
        ));
    }
    for (i, c) in rec.ecg_f32.chunks(ecg_step * 4).enumerate() {
        msgs.push(chunk_msg(
            pb::SignalStream::Ecg,
            (i * ecg_step) as u64,
            c.to_vec(),
        ));
    }
    msgs.push(finish_msg(rec.pcg_samples(), rec.ecg_samples(), 0));
    (msgs, pcg)
}

/// A web console session of a new clinician of `tenant_id`, signed in over plain HTTP: the
/// `Cookie` header to send.
async fn web_session(ts: &TestServer, base: &str, tenant_id: &str) -> String {
    add_web_user(ts, tenant_id, "dr-stream", pb::Role::Clinician).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = |r: &reqwest::Response, name: &str| -> String {
        r.headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .unwrap_or_else(|| panic!("no {name} cookie"))
            .to_owned()
    };
    let page = http.get(format!("{base}/sign-in")).send().await.unwrap();
    let csrf = cookie(&page, "auscult_signin");
    let signed = http
        .post(format!("{base}/sign-in"))
        .header(reqwest::header::COOKIE, format!("auscult_signin={csrf}"))
        .form(&[
            ("username", "dr-stream"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), reqwest::StatusCode::SEE_OTHER, "signed in");
    format!("auscult_session={}", cookie(&signed, "auscult_session"))
}

/// `GET {base}{path}` with the session, and an optional `Range`.
async fn web_get(base: &str, session: &str, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header(reqwest::header::COOKIE, session);
    if let Some(range) = range {
        request = request.header(reqwest::header::RANGE, range);
    }
    request.send().await.unwrap()
}

/// The first data message of a `GetAudio` reply, within [`FIRST_BYTES`].
async fn first_audio_data(
    ch: &Channel,
    token: &str,
    case_id: &str,
    format: pb::AudioFormat,
) -> pb::AudioData {
    let first = async {
        let mut stream = review(ch)
            .get_audio(authed(
                token,
                pb::GetAudioRequest {
                    case_id: case_id.into(),
                    format: format as i32,
                    include_ecg: true,
                },
            ))
            .await
            .expect("GetAudio")
            .into_inner();
        loop {
            match stream
                .message()
                .await
                .expect("a message")
                .expect("more")
                .kind
            {
                Some(pb::audio_chunk::Kind::Data(d)) => return d,
                Some(pb::audio_chunk::Kind::Header(_)) => {}
                None => panic!("an empty message"),
            }
        }
    };
    tokio::time::timeout(FIRST_BYTES, first)
        .await
        .unwrap_or_else(|_| panic!("{format:?}: no audio before the last PCG part was read"))
}

async fn get_audio_and_the_wav_download_stream(db: Db) {
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "streaming-clinic").await;
    // A minute at 4 kHz: 480 KB of PCG, stored in 8 KB parts; a message carries 256 KB.
    let rec = synth(Scenario::Normal, 11, 60.0);
    let case_id = analysed(ch, &t, "u-long", whole_upload("u-long", &rec)).await;
    let session = web_session(&ts, &base, &t.id).await;
    let audio = format!("/cases/{case_id}/audio");
    let wav_len = 44 + rec.pcg_s16.len();

    let pcg_parts = part_files(&ts, &t.id, &case_id);
    assert!(pcg_parts.len() > 10, "{} part blobs", pcg_parts.len());
    let mut gate = Gate::close(pcg_parts.last().unwrap().clone());
    for format in [pb::AudioFormat::Samples, pb::AudioFormat::Wav] {
        let data = first_audio_data(ch, &t.clinician_token, &case_id, format).await;
        assert_eq!(data.stream(), pb::SignalStream::Pcg);
        assert_eq!(data.offset, 0);
        assert_eq!(
            data.data.len(),
            256 * 1024,
            "{format:?}: a whole first message"
        );
    }
    let response = tokio::time::timeout(FIRST_BYTES, web_get(&base, &session, &audio, None))
        .await
        .expect("the console's WAV begins before the last PCG part is read");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.content_length(), Some(wav_len as u64));
    let mut response = response;
    let first = tokio::time::timeout(FIRST_BYTES, response.chunk())
        .await
        .expect("bytes before the last PCG part is read")
        .unwrap()
        .expect("a first piece");
    assert!(
        first.starts_with(b"RIFF"),
        "the file begins with its header"
    );
    gate.release();
    drop(response);

    // Whole, the replies are the recording, byte for byte.
    assert_stored_bytes(ch, &t.clinician_token, &case_id, &rec.pcg_s16, &rec.ecg_f32).await;
    let wav = samples::wav_s16(&rec.pcg_s16, 2, rec.pcg_rate).unwrap();
    let (_, grpc_wav, ecg_wav) = get_audio(ch, &t.clinician_token, &case_id, pb::AudioFormat::Wav)
        .await
        .unwrap();
    assert_eq!(grpc_wav, wav);
    assert_eq!(
        ecg_wav,
        samples::wav_s16(&rec.ecg_f32, 4, rec.ecg_rate).unwrap()
    );
    let web_wav = web_get(&base, &session, &audio, None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(web_wav, wav);
    // Ranges are cut from the same file, reading only the parts they overlap.
    for (range, first, last) in [
        ("bytes=0-43", 0, 43),
        ("bytes=40-9000", 40, 9000),
        ("bytes=300000-", 300_000, wav_len - 1),
        ("bytes=-5", wav_len - 5, wav_len - 1),
    ] {
        let r = web_get(&base, &session, &audio, Some(range)).await;
        assert_eq!(r.status(), reqwest::StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()[reqwest::header::CONTENT_RANGE],
            format!("bytes {first}-{last}/{wav_len}").as_str()
        );
        assert_eq!(r.bytes().await.unwrap(), wav[first..=last], "{range}");
    }
    let r = web_get(&base, &session, &audio, Some(&format!("bytes={wav_len}-"))).await;
    assert_eq!(r.status(), reqwest::StatusCode::RANGE_NOT_SATISFIABLE);

    // f32 samples are scaled by the recording's peak, found before the first sample is sent.
    let (msgs, pcg_f32) = f32_upload("u-f32", &rec, 3.0);
    let loud = analysed(ch, &t, "u-f32", msgs).await;
    let wav = samples::wav_s16(&pcg_f32, 4, rec.pcg_rate).unwrap();
    let (_, grpc_wav, _) = get_audio(ch, &t.clinician_token, &loud, pb::AudioFormat::Wav)
        .await
        .unwrap();
    assert_eq!(grpc_wav, wav);
    let (_, raw, _) = get_samples(ch, &t.clinician_token, &loud).await.unwrap();
    assert_eq!(raw, pcg_f32);
    let web_wav = web_get(&base, &session, &format!("/cases/{loud}/audio"), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(web_wav, wav);
    ts.server.shutdown().await.unwrap();
}
both_backends!(get_audio_and_the_wav_download_stream);

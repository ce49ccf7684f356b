//! Replies that carry a recording are sent while the server reads it, one stored part at a time,
//! and FHIR bundles while they are written, one resident, visit and recording at a time; a WFDB
//! record, sent as one message, is refused before any sample is read when it could not be sent.
//! Through the real server over gRPC and HTTP on real sockets (SQLite, and PostgreSQL when
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
use auscult_proto::v1::program_service_client::ProgramServiceClient;
use auscult_server::samples;
use auscult_synth::Scenario;
use auscult_testkit::browser::{PASSWORD, add_web_user, start_console};
use auscult_testkit::*;
use base64::Engine as _;
use serde_json::Value;
use tonic::Code;
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
/// and R-peak bytes (named `<case>_parts_<start>_<uuid>`, in the tenant's directories by hour and
/// shard).
fn part_files(ts: &TestServer, tenant_id: &str, case_id: &str) -> Vec<PathBuf> {
    let dir = ts
        .dir
        .path()
        .join("blobs/tenants")
        .join(tenant_id)
        .join("parts");
    let prefix = format!("{case_id}_parts_");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flat_map(|hour| std::fs::read_dir(hour.unwrap().path()).unwrap())
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&prefix) && !name.contains('#')
        })
        .collect();
    files.sort_by_key(|p| p.file_name().unwrap().to_owned());
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
    auscult_testkit::web::sign_in(base, "dr-stream", PASSWORD).await
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

fn programs(ch: &Channel) -> ProgramServiceClient<Channel> {
    ProgramServiceClient::new(ch.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

/// A user of `tenant_id` with `role`: (principal id, token).
async fn user(ts: &TestServer, tenant_id: &str, name: &str, role: pb::Role) -> (String, String) {
    let made = admin(&ts.channel)
        .create_user(authed(
            &ts.admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant_id.into(),
                name: name.into(),
                role: role as i32,
                lifetime_seconds: None,
                web_login: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    (made.principal.unwrap().principal_id, made.token)
}

/// A consenting resident of `program_id` whose subject is `subject_id`, with `visits` visits at
/// `site_id`: (resident, visits).
async fn resident_with_visits(
    ch: &Channel,
    staff: &str,
    program_id: &str,
    site_id: &str,
    subject_id: &str,
    visits: usize,
) -> (String, Vec<String>) {
    let mut p = programs(ch);
    let resident_id = p
        .enroll_resident(authed(
            staff,
            pb::EnrollResidentRequest {
                program_id: program_id.into(),
                subject_id: subject_id.into(),
                family_name: "Streamed".into(),
                given_name: subject_id.into(),
                gender: pb::Gender::Female as i32,
                birth_date: "1948-02-03".into(),
                resident_number: String::new(),
                address: String::new(),
                phone: String::new(),
                consent: Some(pb::Consent {
                    recorded_by: "staff".into(),
                    given_at: Some(prost_types::Timestamp {
                        seconds: 1_790_000_000,
                        nanos: 0,
                    }),
                    document_version: "2026-04".into(),
                    scope: "checkup,auscultation,fhir-export".into(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .resident_id;
    let mut ids = Vec::new();
    for _ in 0..visits {
        ids.push(
            p.create_visit(authed(
                staff,
                pb::CreateVisitRequest {
                    program_id: program_id.into(),
                    resident_id: resident_id.clone(),
                    site_id: site_id.into(),
                    visited_at: None,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .visit_id,
        );
    }
    (resident_id, ids)
}

/// `seconds` of a recording of `subject_id` at the aortic site, uploaded, analysed and linked to
/// `visit_id`: (case, its PCG).
async fn linked_recording(
    ch: &Channel,
    t: &Tenant,
    staff: &str,
    visit_id: &str,
    subject_id: &str,
    seconds: f64,
) -> (String, PackedRecording) {
    let rec = synth(Scenario::Normal, seconds as u64, seconds);
    let upload_id = format!("u-{visit_id}");
    let mut msgs = whole_upload(&upload_id, &rec);
    if let Some(pb::upload_request::Kind::Metadata(m)) = &mut msgs[0].kind {
        m.subject_id = subject_id.into();
    }
    let case_id = analysed(ch, t, &upload_id, msgs).await;
    programs(ch)
        .link_recording(authed(
            staff,
            pb::LinkRecordingRequest {
                visit_id: visit_id.into(),
                site: pb::AuscultationSite::Aortic as i32,
                recording_id: case_id.clone(),
                upload_id: String::new(),
            },
        ))
        .await
        .unwrap();
    (case_id, rec)
}

async fn export_program(
    ch: &Channel,
    token: &str,
    program_id: &str,
) -> tonic::Streaming<pb::ExportChunk> {
    programs(ch)
        .export_program_fhir(authed(
            token,
            pb::ExportProgramFhirRequest {
                program_id: program_id.into(),
                base_url: String::new(),
            },
        ))
        .await
        .expect("ExportProgramFhir")
        .into_inner()
}

async fn export_resident(
    ch: &Channel,
    token: &str,
    program_id: &str,
    resident_id: &str,
) -> tonic::Streaming<pb::ExportChunk> {
    programs(ch)
        .export_resident_fhir(authed(
            token,
            pb::ExportResidentFhirRequest {
                program_id: program_id.into(),
                resident_id: resident_id.into(),
                base_url: String::new(),
            },
        ))
        .await
        .expect("ExportResidentFhir")
        .into_inner()
}

/// The first chunk of an export, within [`FIRST_BYTES`].
async fn first_chunk(
    what: &str,
    export: impl std::future::Future<Output = tonic::Streaming<pb::ExportChunk>>,
) -> (tonic::Streaming<pb::ExportChunk>, Vec<u8>) {
    tokio::time::timeout(FIRST_BYTES, async {
        let mut stream = export.await;
        let chunk = stream
            .message()
            .await
            .expect("a chunk")
            .expect("not the end");
        (stream, chunk.data)
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: nothing before the last recording was read"))
}

/// Every chunk of an export: the bundle, checked against the R4 schema.
async fn whole_bundle(mut stream: tonic::Streaming<pb::ExportChunk>) -> Value {
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.expect("the export") {
        chunks.push(chunk.data);
    }
    let (last, full) = chunks.split_last().expect("a chunk");
    assert!(
        full.iter().all(|c| c.len() == 256 * 1024),
        "chunks of 256 KiB"
    );
    assert!(!last.is_empty() && last.len() <= 256 * 1024);
    let bundle: Value = serde_json::from_slice(&chunks.concat()).expect("the bundle is JSON");
    auscult_testkit::fhir::assert_valid(&bundle);
    bundle
}

/// The WAV file a bundle's Binary of recording `case_id` carries.
fn binary_wav(bundle: &Value, case_id: &str) -> Vec<u8> {
    let data = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["id"] == format!("b-{case_id}"))
        .unwrap_or_else(|| panic!("no Binary of {case_id}"))["data"]
        .as_str()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

async fn fhir_exports_stream(db: Db) {
    let Some((ts, base)) = start_console(db).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "streaming-town").await;
    let (_, staff) = user(&ts, &t.id, "staff", pb::Role::ProgramStaff).await;
    let mut p = programs(ch);
    let program_id = p
        .create_program(authed(
            &staff,
            pb::CreateProgramRequest {
                name: "Streamed check-up".into(),
                description: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .program_id;
    let site_id = p
        .add_site(authed(
            &staff,
            pb::AddSiteRequest {
                program_id: program_id.clone(),
                name: "Hall".into(),
                address: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .site_id;
    // Resident A has one visit, B two; the first two recordings alone exceed a 256 KiB chunk
    // (40 s of 16-bit PCG at 4 kHz in base64), the last is read last.
    let (_, a_visits) = resident_with_visits(ch, &staff, &program_id, &site_id, "subj-a", 1).await;
    let (b, b_visits) = resident_with_visits(ch, &staff, &program_id, &site_id, "subj-b", 2).await;
    let recordings = [
        linked_recording(ch, &t, &staff, &a_visits[0], "subj-a", 40.0).await,
        linked_recording(ch, &t, &staff, &b_visits[0], "subj-b", 40.0).await,
        linked_recording(ch, &t, &staff, &b_visits[1], "subj-b", 5.0).await,
    ];
    let last = &recordings[2].0;
    let session = web_session(&ts, &base, &t.id).await;
    let (exporter, exporter_token) = user(&ts, &t.id, "exporter", pb::Role::Clinician).await;

    let mut gate = Gate::close(part_files(&ts, &t.id, last).pop().unwrap());
    let (_program, first) = first_chunk(
        "ExportProgramFhir",
        export_program(ch, &t.clinician_token, &program_id),
    )
    .await;
    assert!(
        first.starts_with(br#"{"entry":[{"fullUrl":"#),
        "the bundle opens"
    );
    assert_eq!(first.len(), 256 * 1024);
    let (_resident, first) = first_chunk(
        "ExportResidentFhir",
        export_resident(ch, &t.clinician_token, &program_id, &b),
    )
    .await;
    assert_eq!(first.len(), 256 * 1024);
    let mut download = tokio::time::timeout(
        FIRST_BYTES,
        web_get(
            &base,
            &session,
            &format!("/programs/{program_id}/fhir"),
            None,
        ),
    )
    .await
    .expect("the console's download begins before the last recording is read");
    assert_eq!(download.status(), reqwest::StatusCode::OK);
    let first = tokio::time::timeout(FIRST_BYTES, download.chunk())
        .await
        .expect("bytes before the last recording is read")
        .unwrap()
        .expect("a first piece");
    assert!(first.starts_with(br#"{"entry":["#));
    // A revoked token ends its export at once, though the export waits on storage.
    let (mut revoked, _) = first_chunk(
        "ExportProgramFhir",
        export_program(ch, &exporter_token, &program_id),
    )
    .await;
    admin(ch)
        .revoke_tokens(authed(
            &t.admin_token,
            pb::RevokeTokensRequest {
                principal_id: exporter,
            },
        ))
        .await
        .unwrap();
    let ended = tokio::time::timeout(FIRST_BYTES, async {
        loop {
            match revoked.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the export of a revoked token completed"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the export of a revoked token ends");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    gate.release();
    drop(download);

    // Whole, the bundles are valid R4 and carry each recording's WAV file as stored.
    let program = whole_bundle(export_program(ch, &t.clinician_token, &program_id).await).await;
    let kinds = |bundle: &Value, kind: &str| {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == kind)
            .count()
    };
    assert_eq!(kinds(&program, "Patient"), 2);
    assert_eq!(kinds(&program, "Binary"), 3);
    for (case_id, rec) in &recordings {
        assert_eq!(
            binary_wav(&program, case_id),
            samples::wav_s16(&rec.pcg_s16, 2, rec.pcg_rate).unwrap()
        );
    }
    let resident =
        whole_bundle(export_resident(ch, &t.clinician_token, &program_id, &b).await).await;
    assert_eq!(kinds(&resident, "Patient"), 1);
    assert_eq!(kinds(&resident, "Binary"), 2);
    let web: Value = serde_json::from_slice(
        &web_get(
            &base,
            &session,
            &format!("/programs/{program_id}/fhir"),
            None,
        )
        .await
        .bytes()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(web["entry"], {
        // The same entries but for the base of their fullUrl (the console's own address).
        let mut entries = program["entry"].clone();
        for e in entries.as_array_mut().unwrap() {
            let url = e["fullUrl"]
                .as_str()
                .unwrap()
                .replace("https://auscult.invalid/fhir", &format!("{base}/fhir"));
            e["fullUrl"] = Value::String(url);
        }
        entries
    });
    ts.server.shutdown().await.unwrap();
}
both_backends!(fhir_exports_stream);

/// A WFDB record goes out as one message: one too long for it is refused before any of its
/// samples is read (here none could be: they are gone), one that fits is exported.
async fn a_wfdb_record_too_long_for_a_message_is_refused_unread(db: Db) {
    let Some(ts) = start_with(db, |c| c.max_message_bytes = 512 * 1024).await else {
        return;
    };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "wfdb-clinic").await;
    // 40 s at 4 kHz with the ECG: a signal file of 640 KB.
    let long = synth(Scenario::Normal, 5, 40.0);
    let long_id = analysed(ch, &t, "u-long", whole_upload("u-long", &long)).await;
    let short = synth(Scenario::Normal, 6, 10.0);
    let short_id = analysed(ch, &t, "u-short", whole_upload("u-short", &short)).await;
    for part in part_files(&ts, &t.id, &long_id) {
        std::fs::remove_file(part).unwrap();
    }
    let wfdb = |recording_id: &str| {
        let mut client = programs(ch);
        let request = authed(
            &t.clinician_token,
            pb::ExportRecordingWfdbRequest {
                recording_id: recording_id.into(),
            },
        );
        async move { client.export_recording_wfdb(request).await }
    };
    let refused = wfdb(&long_id).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("WFDB"), "{refused:?}");
    let record = wfdb(&short_id)
        .await
        .expect("a record that fits")
        .into_inner();
    assert_eq!(record.files.len(), 3, "header, signals, annotations");
    let dat = record
        .files
        .iter()
        .find(|f| f.name.ends_with(".dat"))
        .unwrap();
    assert_eq!(
        dat.data.len(),
        4 * short.pcg_s16.len() / 2,
        "PCG and ECG, 16 bits each"
    );
    ts.server.shutdown().await.unwrap();
}
both_backends!(a_wfdb_record_too_long_for_a_message_is_refused_unread);

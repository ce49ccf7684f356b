//! A real recording reaches the clinician unchanged: every recording format the readers accept is
//! replayed by the device simulator (`firmware-sim`, its default lossless packing) into the real
//! server, and the test asserts that
//!
//! 1. the samples the server stores are the samples the reader got from the file, bit for bit
//!    (PCG and ECG), and
//! 2. the server's analysis equals `auscult analyze`'s of the same file: murmur status,
//!    `ecg_used` and why an ECG was set aside, the accepted cycles (and their S1/S2), heart rate, flagged.
//!
//! Formats: the bundled PhysioNet 2016 records (WFDB format 16 with ECG, and their 16-bit WAVs),
//! WFDB formats 212, 80, 24, 32 and 61 and a WFDB record with gain and baseline, WAVs in 16-bit
//! (with an ECG channel), 24-bit and 32-bit float, all written here from a real recording's
//! samples; and, when `../shared/data` is present, one record of each database (PhysioNet 2016
//! training-a with ECG (and a0023, whose ECG is set aside) and training-b, Yaseen 2018, PASCAL set B, EPHNOGRAM).
//!
//! The bug this guards against: a WFDB PCG in physical units (PhysioNet 2016 writes gain 1, so
//! values reach ±32767) was packed as 16-bit full scale ±1, so 96 % of the samples clipped and the
//! server judged the recording "unknown: clipped" while `auscult analyze` did not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use auscult_dsp::Analyzer;
use auscult_proto::v1 as pb;
use auscult_recording::{LoadedEcg, read_recording};
use auscult_testkit::*;
use firmware_sim::{
    Connection, DeviceRecording, Pacing, PcgFormat, UploadMode, UploadOptions, upload,
};

const LIMIT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn options(upload_id: &str, subject: &str) -> UploadOptions {
    UploadOptions {
        upload_id: upload_id.to_owned(),
        identity: firmware_sim::DeviceIdentity {
            serial: "SIM-ROUNDTRIP-1".into(),
            subject_id: subject.into(),
            site: pb::AuscultationSite::Mitral,
            position: pb::BodyPosition::Supine,
        },
        pacing: Pacing::Fast,
        mode: UploadMode::WithAcks,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(20),
        ..UploadOptions::default()
    }
}

/// One WFDB signal line's worth of digital samples, written in `format`.
fn encode_wfdb(format: u32, digital: &[i32]) -> Vec<u8> {
    match format {
        16 => digital
            .iter()
            .flat_map(|&d| (d as i16).to_le_bytes())
            .collect(),
        61 => digital
            .iter()
            .flat_map(|&d| (d as i16).to_be_bytes())
            .collect(),
        80 => digital.iter().map(|&d| (d + 128) as u8).collect(),
        24 => digital
            .iter()
            .flat_map(|&d| {
                let b = d.to_le_bytes();
                [b[0], b[1], b[2]]
            })
            .collect(),
        32 => digital.iter().flat_map(|&d| d.to_le_bytes()).collect(),
        212 => digital
            .chunks(2)
            .flat_map(|p| {
                let a = (p[0] & 0xfff) as u32;
                let b = p.get(1).map_or(0, |&v| (v & 0xfff) as u32);
                let bytes = [
                    (a & 0xff) as u8,
                    (((a >> 8) & 0x0f) | ((b >> 4) & 0xf0)) as u8,
                    (b & 0xff) as u8,
                ];
                if p.len() == 2 {
                    bytes.to_vec()
                } else {
                    bytes[..2].to_vec()
                }
            })
            .collect(),
        other => panic!("no encoder for format {other}"),
    }
}

/// Writes a one-signal WFDB record (PCG only) `name` in `dir` from `digital` samples.
fn write_wfdb(
    dir: &Path,
    name: &str,
    format: u32,
    rate: u32,
    digital: &[i32],
    spec: &str,
) -> PathBuf {
    std::fs::write(
        dir.join(format!("{name}.dat")),
        encode_wfdb(format, digital),
    )
    .unwrap();
    let hea = dir.join(format!("{name}.hea"));
    std::fs::write(
        &hea,
        format!(
            "{name} 1 {rate} {n}\n{name}.dat {format} {spec} {initial} {checksum} 0 PCG\n",
            n = digital.len(),
            initial = digital.first().copied().unwrap_or(0),
            // WFDB's checksum: the 16-bit two's-complement sum of the samples.
            checksum = digital.iter().fold(0i32, |acc, &d| acc.wrapping_add(d)) as i16
        ),
    )
    .unwrap();
    hea
}

/// Every format the readers accept, written from the real record a0131 (PCG as 16-bit ints).
fn written_fixtures(dir: &Path) -> Vec<PathBuf> {
    let a0131 = repo().join("tests/data/physionet2016/a0131.wav");
    let mut reader = hound::WavReader::open(&a0131).unwrap();
    let rate = reader.spec().sample_rate;
    // 12 s keeps the test quick and still holds a dozen cycles.
    let pcg: Vec<i32> = reader
        .samples::<i16>()
        .take(rate as usize * 12)
        .map(|s| i32::from(s.unwrap()))
        .collect();
    let ecg_loaded = read_recording(
        &repo().join("tests/data/physionet2016/a0131.hea"),
        auscult_recording::WavChannels::default(),
    )
    .unwrap();
    let Some(LoadedEcg::Raw(ecg)) = ecg_loaded.ecg else {
        panic!("a0131 has a raw ECG")
    };
    let mut out = vec![
        write_wfdb(
            dir,
            "f212",
            212,
            rate,
            &pcg.iter().map(|d| d >> 4).collect::<Vec<_>>(),
            "200 12 0",
        ),
        write_wfdb(
            dir,
            "f80",
            80,
            rate,
            &pcg.iter().map(|d| d >> 8).collect::<Vec<_>>(),
            "200 8 0",
        ),
        write_wfdb(
            dir,
            "f24",
            24,
            rate,
            &pcg.iter().map(|d| d * 256).collect::<Vec<_>>(),
            "1 24 0",
        ),
        write_wfdb(
            dir,
            "f32",
            32,
            rate,
            &pcg.iter().map(|d| d * 65536).collect::<Vec<_>>(),
            "1 32 0",
        ),
        write_wfdb(dir, "f61", 61, rate, &pcg, "1 16 0"),
        // A gain with a baseline (as EPHNOGRAM writes), which the old training reader read as 200.
        write_wfdb(dir, "gainbase", 16, rate, &pcg, "54162.0791(5104)/mV 16 0"),
    ];

    let spec = |channels, bits, fmt| hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: fmt,
    };
    let wav16 = dir.join("pcg_ecg_s16.wav");
    let mut w = hound::WavWriter::create(&wav16, spec(2, 16, hound::SampleFormat::Int)).unwrap();
    for (i, &d) in pcg.iter().enumerate() {
        w.write_sample(d as i16).unwrap();
        let e = ecg.samples.get(i).copied().unwrap_or(0.0);
        w.write_sample((e * 8000.0).round().clamp(-32768.0, 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    out.push(wav16);
    let wav24 = dir.join("pcg_s24.wav");
    let mut w = hound::WavWriter::create(&wav24, spec(1, 24, hound::SampleFormat::Int)).unwrap();
    for &d in &pcg {
        w.write_sample(d * 256 + 17).unwrap();
    }
    w.finalize().unwrap();
    out.push(wav24);
    let wavf = dir.join("pcg_f32.wav");
    let mut w = hound::WavWriter::create(&wavf, spec(1, 32, hound::SampleFormat::Float)).unwrap();
    for &d in &pcg {
        w.write_sample(d as f32 / 20_000.0).unwrap();
    }
    w.finalize().unwrap();
    out.push(wavf);
    out
}

/// One record of each database in `../shared/data`, when it is there.
fn shared_fixtures() -> Vec<PathBuf> {
    let data = repo().join("../shared/data");
    [
        "physionet2016/training-a/a0001.hea",
        // Its ECG is set aside (the detector reads T waves as beats): the reason travels too.
        "physionet2016/training-a/a0023.hea",
        "physionet2016/training-b/b0001.wav",
        "yaseen2018/MR/New_MR_001.wav",
        "pascal/set_b/normal__103_1305031931979_B.wav",
        "ephnogram/WFDB/ECGPCG0003.hea",
    ]
    .iter()
    .map(|p| data.join(p))
    .filter(|p| {
        let there = p.exists();
        if !there {
            eprintln!("{} is absent: not replayed", p.display());
        }
        there
    })
    .collect()
}

fn decode_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn decode_s16(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

async fn replay_and_compare(
    ch: &tonic::transport::Channel,
    t: &Tenant,
    device: &Connection,
    file: &Path,
    n: usize,
) {
    let name = file.display().to_string();
    let wav_ecg =
        (file.file_name().and_then(|f| f.to_str()) == Some("pcg_ecg_s16.wav")).then_some(1);
    let loaded = read_recording(
        file,
        auscult_recording::WavChannels {
            pcg: 0,
            ecg: wav_ecg,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let local = Analyzer::new()
        .analyze(&loaded.as_recording())
        .unwrap_or_else(|e| panic!("{name}: local analysis: {e}"));

    let rec = DeviceRecording::from_file(file, wav_ecg).unwrap();
    let format = rec.lossless_pcg_format();
    let encoded = std::sync::Arc::new(rec.encode(format));
    let upload_id = uuid::Uuid::new_v4().to_string();
    let report = upload(
        device,
        encoded.clone(),
        &options(&upload_id, &format!("subject-{n}")),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: upload: {e}"));
    let case = wait_analysed_within(ch, &t.clinician_token, &report.case_id, LIMIT).await;

    // 1. Stored = recorded, bit for bit.
    let (header, pcg_bytes, ecg_bytes) = get_samples(ch, &t.clinician_token, &report.case_id)
        .await
        .unwrap();
    assert_eq!(header.format(), pb::AudioFormat::Samples);
    let stored_pcg = match format {
        PcgFormat::S16 => decode_s16(&pcg_bytes),
        PcgFormat::F32 => decode_f32(&pcg_bytes),
    };
    assert_eq!(
        stored_pcg.len(),
        loaded.pcg.samples.len(),
        "{name}: PCG length"
    );
    let differing = stored_pcg
        .iter()
        .zip(&loaded.pcg.samples)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differing, 0,
        "{name}: {differing} stored PCG samples differ from the file's"
    );
    match &loaded.ecg {
        Some(LoadedEcg::Raw(e)) => assert!(
            decode_f32(&ecg_bytes) == e.samples,
            "{name}: stored ECG differs from the file's"
        ),
        _ => assert!(ecg_bytes.is_empty(), "{name}: an ECG appeared"),
    }

    // 2. The server's analysis is the local one.
    let summary = case.summary.clone().unwrap();
    assert_eq!(
        summary.analysis_state(),
        pb::AnalysisState::Done,
        "{name}: analysis error: {}",
        case.analysis_error
    );
    let server = case.analysis.clone().unwrap();
    let murmur = server.murmur.clone().unwrap();
    let local_status = match local.murmur.status {
        auscult_dsp::MurmurStatus::Present => pb::MurmurStatus::Present,
        auscult_dsp::MurmurStatus::Absent => pb::MurmurStatus::Absent,
        auscult_dsp::MurmurStatus::Unknown(_) => pb::MurmurStatus::Unknown,
    };
    assert_eq!(
        murmur.status(),
        local_status,
        "{name}: murmur status ({murmur:?})"
    );
    assert_eq!(server.ecg_used, local.ecg_used, "{name}: ecg_used");
    assert_eq!(
        server.ecg_set_aside,
        local.ecg_set_aside.map_or("", |why| why.as_str()),
        "{name}: ecg_set_aside"
    );
    assert_eq!(server.flagged, local.flagged, "{name}: flagged");
    // The sounds of the cycles the edges cut come as partial cycles, first and last.
    let (partial, whole): (Vec<&pb::Cycle>, Vec<&pb::Cycle>) =
        server.cycles.iter().partition(|c| c.partial);
    let edges = local.edge_sounds;
    let leading = server.cycles.first().filter(|c| c.partial);
    let trailing = server.cycles.last().filter(|c| c.partial && c.s2.is_none());
    assert_eq!(
        partial.len(),
        usize::from(edges.leading_s2.is_some()) + usize::from(edges.trailing_s1.is_some()),
        "{name}: partial cycles"
    );
    if let Some(s2) = edges.leading_s2 {
        let got = leading.and_then(|c| c.s2).map(|s| s.start_s);
        assert_eq!(got, Some(s2.start.0), "{name}: leading S2");
    }
    if let Some(s1) = edges.trailing_s1 {
        let got = trailing.and_then(|c| c.s1).map(|s| s.start_s);
        assert_eq!(got, Some(s1.start.0), "{name}: trailing S1");
    }
    assert_eq!(whole.len(), local.cycles.len(), "{name}: cycles");
    assert_eq!(
        whole.iter().filter(|c| c.accepted).count(),
        local.cycles.iter().filter(|c| c.accepted).count(),
        "{name}: accepted cycles"
    );
    for (s, l) in whole.iter().zip(&local.cycles) {
        let s1 = s.s1.unwrap();
        assert!((s1.start_s - l.s1.start.0).abs() < 1e-9, "{name}: S1 onset");
        let s2 = s.s2.unwrap();
        assert!((s2.start_s - l.s2.start.0).abs() < 1e-9, "{name}: S2 onset");
        assert_eq!(s.accepted, l.accepted, "{name}: accepted");
    }
    assert_eq!(
        server.heart_rate_bpm.map(|h| (h * 1e6).round()),
        local.heart_rate.map(|h| (h.0 * 1e6).round()),
        "{name}: heart rate"
    );
    eprintln!(
        "{name}: {format:?}, {} samples, murmur {:?}, ecg_used {}, {} accepted cycles: server = local",
        stored_pcg.len(),
        local_status,
        local.ecg_used,
        local.cycles.iter().filter(|c| c.accepted).count()
    );
}

async fn roundtrip(db: Db) {
    let Some(db_url) = database_url(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_in_process(dir.path(), db_url).await;
    let admin = server.bootstrap_token.clone().unwrap();
    let ch = connect(server.addr).await;
    let t = make_tenant(&ch, &admin, "roundtrip").await;
    let device = Connection::new(&url(server.addr), &t.device_token).unwrap();

    let fixtures_dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        repo().join("tests/data/physionet2016/a0131.hea"),
        repo().join("tests/data/physionet2016/a0035.hea"),
        repo().join("tests/data/physionet2016/a0131.wav"),
    ];
    files.extend(written_fixtures(fixtures_dir.path()));
    if db == Db::Sqlite {
        files.extend(shared_fixtures());
    }
    for (n, f) in files.iter().enumerate() {
        replay_and_compare(&ch, &t, &device, f, n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_recordings_reach_the_server_unchanged_sqlite() {
    roundtrip(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_recordings_reach_the_server_unchanged_postgres() {
    roundtrip(Db::Postgres).await;
}

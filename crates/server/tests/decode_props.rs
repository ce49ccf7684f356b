//! The server's decoding of client input, as property tests on stable Rust (CI cannot run
//! cargo-fuzz): upload messages (metadata and chunks, through `ingest::validate_metadata` and
//! `ingest::check_chunk`, the functions the upload handler calls) and page tokens (the worklist's
//! keyset tokens and the audit trail's offsets). The cargo-fuzz targets `upload_message` and
//! `page_token` run the same bodies (`fuzz/bodies/server.rs`), which panic on a panic inside the
//! server, an unclear error, or an accepted value that does not round-trip; here they run over
//! the committed seed corpus (`fuzz/corpus/`), random bytes, mutated seeds and structured
//! messages, and valid inputs are checked to be accepted and to round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/bodies/server.rs"]
mod bodies;

use auscult_proto::v1 as pb;
use auscult_server::convert::{next_page_token, page_offset};
use auscult_server::ingest::{check_chunk, validate_metadata};
use auscult_server::review::cases_token;
use auscult_store::recordings::{CaseKey, Counts, EcgMode, SampleFormat};
use proptest::prelude::*;
use prost::Message as _;

/// The seed corpus of a fuzz target: (file name, bytes), sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "the corpus of {target} is empty");
    seeds
}

#[test]
fn the_seed_corpus_is_accepted_by_the_server() {
    for (name, bytes) in corpus("upload_message") {
        bodies::upload_message(&bytes);
        let message = pb::UploadRequest::decode(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{name} is not an UploadRequest: {e}"));
        match message.kind.unwrap() {
            pb::upload_request::Kind::Metadata(m) => {
                assert!(bodies::metadata(&m), "{name} is refused")
            }
            pb::upload_request::Kind::Chunk(c) => {
                assert!(
                    bodies::chunk(&c) > 0,
                    "{name} is refused under every rule set"
                )
            }
            pb::upload_request::Kind::Finish(f) => assert!(f.totals.is_some(), "{name}"),
        }
    }
    for (name, bytes) in corpus("page_token") {
        bodies::page_token(&bytes);
        let token = String::from_utf8(bytes).unwrap();
        let fp = cases_token::filter_fingerprint(&bodies::filters()[0]);
        let worklist = cases_token::decode(&token, &fp);
        let audit = page_offset(&token);
        assert!(
            worklist.is_ok() || audit.is_some(),
            "{name}: neither a worklist nor an audit token"
        );
    }
}

/// A metadata message whose fields are drawn from valid and invalid values alike.
fn any_metadata() -> impl Strategy<Value = pb::UploadMetadata> {
    let id = prop_oneof![
        "[A-Za-z0-9._:-]{1,128}",
        ".{0,140}",
        Just(String::new()),
        "[a-z]{129,140}",
    ];
    (
        (id.clone(), ".{0,140}", id),
        (-2..8i32, -2..8i32),
        (
            prop_oneof![
                (946_684_800i64..1_767_312_000).boxed(),
                any::<i64>().boxed()
            ],
            prop_oneof![0..1_000_000_000i32, any::<i32>()],
            any::<bool>(),
        ),
        (prop_oneof![1000..=48_000u32, any::<u32>()], -1..4i32),
        (
            -1..5i32,
            prop_oneof![100..=48_000u32, Just(0u32), any::<u32>()],
            -1..4i32,
        ),
        prop_oneof![
            Just(Vec::new()),
            Just(vec![7u8; 32]),
            proptest::collection::vec(any::<u8>(), 0..40)
        ],
    )
        .prop_map(
            |(
                (upload_id, device_serial, subject_id),
                (site, position),
                (seconds, nanos, has_start),
                (pcg_rate_hz, pcg_format),
                (ecg_mode, ecg_rate_hz, ecg_format),
                payload_sha256,
            )| pb::UploadMetadata {
                upload_id,
                device_serial,
                subject_id,
                site,
                position,
                started_at: has_start.then_some(prost_types::Timestamp { seconds, nanos }),
                pcg_rate_hz,
                pcg_format,
                ecg_mode,
                ecg_rate_hz,
                ecg_format,
                payload_sha256,
                live: false,
            },
        )
}

/// A chunk whose fields are drawn from valid and invalid values alike.
fn any_chunk() -> impl Strategy<Value = pb::UploadChunk> {
    (
        -1..5i32,
        prop_oneof![0..64u64, any::<u64>()],
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<f64>(), 0..8),
            proptest::collection::vec(0.0..600.0f64, 0..8),
        ],
    )
        .prop_map(|(stream, offset, samples, r_peaks_s)| pb::UploadChunk {
            stream,
            offset,
            samples,
            r_peaks_s,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_through_the_fuzz_bodies(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        bodies::upload_message(&bytes);
        bodies::page_token(&bytes);
    }

    #[test]
    fn mutated_seeds_through_the_fuzz_bodies(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let seeds: Vec<Vec<u8>> = ["upload_message", "page_token"]
            .into_iter()
            .flat_map(corpus)
            .map(|(_, b)| b)
            .collect();
        let mut bytes = seeds[seed.index(seeds.len())].clone();
        if !bytes.is_empty() {
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bodies::upload_message(&bytes);
        bodies::page_token(&bytes);
    }

    #[test]
    fn structured_metadata_is_accepted_or_clearly_refused(m in any_metadata()) {
        bodies::metadata(&m);
        bodies::upload_message(&pb::UploadRequest {
            kind: Some(pb::upload_request::Kind::Metadata(m)),
        }.encode_to_vec());
    }

    #[test]
    fn structured_chunks_are_accepted_or_clearly_refused(c in any_chunk()) {
        bodies::chunk(&c);
        bodies::upload_message(&pb::UploadRequest {
            kind: Some(pb::upload_request::Kind::Chunk(c)),
        }.encode_to_vec());
    }

    /// Valid metadata is accepted and the stored recording says what the message said.
    #[test]
    fn valid_metadata_round_trips(
        upload_id in "[A-Za-z0-9._:-]{1,128}",
        subject_id in "[A-Za-z0-9._:-]{1,128}",
        device_serial in "[ -~]{0,128}",
        site in 1..=5i32,
        position in 0..=5i32,
        started_ms in 946_684_800_000i64..=bodies::NOW_MS,
        pcg_rate_hz in 1000..=48_000u32,
        pcg_f32 in any::<bool>(),
        ecg in prop_oneof![Just(None), Just(Some(0u32)), (100..=48_000u32).prop_map(Some)],
        ecg_f32 in any::<bool>(),
        sha in prop_oneof![Just(Vec::new()), proptest::collection::vec(any::<u8>(), 32)],
    ) {
        let format = |f32: bool| if f32 { pb::SampleFormat::F32le } else { pb::SampleFormat::S16le };
        let (ecg_mode, ecg_rate_hz, ecg_format) = match ecg {
            None => (pb::EcgMode::None, 0, 0),
            Some(0) => (pb::EcgMode::RPeaks, 0, 0),
            Some(rate) => (pb::EcgMode::Samples, rate, format(ecg_f32) as i32),
        };
        let m = pb::UploadMetadata {
            upload_id: upload_id.clone(),
            device_serial: device_serial.clone(),
            subject_id: subject_id.clone(),
            site,
            position,
            started_at: Some(prost_types::Timestamp {
                seconds: started_ms.div_euclid(1000),
                nanos: i32::try_from(started_ms.rem_euclid(1000) * 1_000_000).unwrap(),
            }),
            pcg_rate_hz,
            pcg_format: format(pcg_f32) as i32,
            ecg_mode: ecg_mode as i32,
            ecg_rate_hz,
            ecg_format,
            payload_sha256: sha.clone(),
            live: false,
        };
        prop_assert!(bodies::metadata(&m));
        let r = validate_metadata(&m, bodies::NOW_MS).unwrap();
        prop_assert_eq!(&r.upload_id, &upload_id);
        prop_assert_eq!(&r.subject_id, &subject_id);
        prop_assert_eq!(&r.device_serial, &device_serial);
        prop_assert_eq!(r.started_at_ms, started_ms);
        prop_assert_eq!(r.pcg_rate_hz, pcg_rate_hz);
        prop_assert_eq!(r.ecg_rate_hz, ecg_rate_hz);
        prop_assert_eq!(r.pcg_sample_format().unwrap(), if pcg_f32 { SampleFormat::F32le } else { SampleFormat::S16le });
        let expected_ecg = match ecg_mode {
            pb::EcgMode::Samples => EcgMode::Samples,
            pb::EcgMode::RPeaks => EcgMode::RPeaks,
            _ => EcgMode::None,
        };
        prop_assert_eq!(r.ecg().unwrap(), expected_ecg);
        prop_assert_eq!(r.payload_sha256, (!sha.is_empty()).then_some(sha));
    }

    /// Valid chunks (any 16-bit samples, finite floats, increasing R-peak times) are accepted
    /// under the rules that allow their stream, and stored as sent.
    #[test]
    fn valid_chunks_round_trip(
        samples in proptest::collection::vec(any::<i16>(), 1..256),
        floats in proptest::collection::vec(-1.0e6f32..1.0e6, 1..64),
        gaps in proptest::collection::vec(0.01..2.0f64, 1..32),
        offset in 0..2_000u64,
    ) {
        let s16: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let f32s: Vec<u8> = floats.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut t = 0.0;
        let times: Vec<f64> = gaps.iter().map(|g| { t += g; t }).collect();
        for (stream, bytes, r_peaks_s) in [
            (pb::SignalStream::Pcg, s16.clone(), Vec::new()),
            (pb::SignalStream::Pcg, f32s.clone(), Vec::new()),
            (pb::SignalStream::Ecg, s16.clone(), Vec::new()),
            (pb::SignalStream::RPeaks, Vec::new(), times.clone()),
        ] {
            let c = pb::UploadChunk { stream: stream as i32, offset, samples: bytes, r_peaks_s };
            prop_assert!(bodies::chunk(&c) > 0, "a valid {:?} chunk refused under every rule set", stream);
        }
        // And precisely: PCG f32 under f32 rules at the right offset.
        let rules = bodies::rule_sets()
            .into_iter()
            .find(|r| r.pcg_format == SampleFormat::F32le)
            .unwrap();
        let received = Counts { pcg: offset, ..Counts::default() };
        let c = pb::UploadChunk { stream: pb::SignalStream::Pcg as i32, offset, samples: f32s.clone(), r_peaks_s: Vec::new() };
        let checked = check_chunk(&rules, received, None, c).unwrap();
        prop_assert_eq!(checked.count, floats.len() as u64);
        prop_assert_eq!(checked.bytes, f32s);
    }

    /// Every worklist cursor round-trips through its token; any single changed hex digit is
    /// refused; a token is refused under other filters.
    #[test]
    fn worklist_tokens_round_trip(
        priority in any::<i64>(),
        started_at_ms in any::<i64>(),
        id in "[ -~]{1,64}",
        flip in any::<prop::sample::Index>(),
    ) {
        let [unfiltered, flagged] = bodies::filters();
        let fp = cases_token::filter_fingerprint(&unfiltered);
        let key = CaseKey { priority, started_at_ms, id };
        let token = cases_token::encode(&key, &fp);
        prop_assert_eq!(cases_token::decode(&token, &fp).unwrap(), Some(key));
        bodies::page_token_text(&token);
        let mut bytes = token.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'0' { b'f' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(cases_token::decode(&tampered, &fp).is_err());
        let other = cases_token::filter_fingerprint(&flagged);
        prop_assert!(cases_token::decode(&token, &other).is_err());
    }

    /// Audit offsets round-trip through their tokens; anything else is refused.
    #[test]
    fn audit_tokens_round_trip(offset in any::<u64>(), taken in 1..500usize, text in ".{0,40}") {
        let size = u32::try_from(taken).unwrap();
        let next = next_page_token(offset, taken, size);
        prop_assert_eq!(page_offset(&next), Some(offset.saturating_add(taken as u64)));
        prop_assert_eq!(next_page_token(offset, taken - 1, size), "");
        bodies::page_token_text(&text);
        if !text.is_empty() && !text.starts_with('o') {
            prop_assert_eq!(page_offset(&text), None);
        }
    }
}

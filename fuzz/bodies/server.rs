//! The bodies of the server's decoding fuzz targets, shared by the cargo-fuzz targets
//! (`fuzz_targets/upload_message.rs`, `page_token.rs`) and by the property tests that run them on
//! stable Rust in the test suite (`crates/server/tests/decode_props.rs`), which CI runs.
//!
//! Each takes any bytes, runs them through the server's own pure decoding (the functions the
//! gRPC handlers call, not copies) and panics only when the server misbehaves: a panic inside
//! it, an error a client could not act on (anything but INVALID_ARGUMENT, OUT_OF_RANGE or
//! RESOURCE_EXHAUSTED with a message), or an accepted value that does not round-trip.
#![allow(dead_code)]

use auscult_proto::v1 as pb;
use auscult_server::ServerError;
use auscult_server::convert::{next_page_token, page_offset};
use auscult_server::ingest::{ChunkRules, check_chunk, validate_metadata};
use auscult_server::review::cases_token;
use auscult_store::recordings::{
    CaseFilter, CaseStatus, Counts, EcgMode, SampleFormat, StreamKind,
};
use prost::Message as _;

/// "Now" for metadata checks: 2026-01-01T00:00:00Z, fixed so a run is reproducible.
pub const NOW_MS: i64 = 1_767_225_600_000;
/// The longest recording the fuzzed server accepts, seconds.
pub const MAX_RECORDING_SECONDS: u32 = 600;

/// Panics unless `e` is an error a device or clinician can act on: one of the client-fault
/// statuses, with a message saying what is wrong.
pub fn assert_clear(e: &ServerError, allowed: &[&str]) {
    let (kind, message) = match e {
        ServerError::InvalidArgument(m) => ("invalid_argument", m),
        ServerError::OutOfRange(m) => ("out_of_range", m),
        ServerError::ResourceExhausted(m) => ("resource_exhausted", m),
        other => panic!("a client's bytes caused a server-side error: {other:?}"),
    };
    assert!(allowed.contains(&kind), "{kind} is not expected here: {e}");
    assert!(message.len() >= 10, "an unclear message: {e:?}");
}

/// Every combination of sample formats and ECG modes an upload can declare, as the server
/// derives them from validated metadata (pcg 4 kHz, ECG 500 Hz).
pub fn rule_sets() -> Vec<ChunkRules> {
    let mut out = Vec::new();
    for pcg in [SampleFormat::S16le, SampleFormat::F32le] {
        for (ecg, ecg_format) in [
            (EcgMode::None, None),
            (EcgMode::RPeaks, None),
            (EcgMode::Samples, Some(SampleFormat::S16le)),
            (EcgMode::Samples, Some(SampleFormat::F32le)),
        ] {
            let secs = u64::from(MAX_RECORDING_SECONDS);
            out.push(ChunkRules {
                pcg_format: pcg,
                ecg,
                ecg_format,
                max_recording_seconds: MAX_RECORDING_SECONDS,
                limits: Counts {
                    pcg: 4000 * secs,
                    ecg: if ecg == EcgMode::Samples {
                        500 * secs
                    } else {
                        0
                    },
                    r_peaks: 5 * secs,
                },
            });
        }
    }
    out
}

/// Checks one chunk under every rule set, at offset 0 and at the chunk's own offset, with and
/// without an earlier R-peak; returns how many of those checks accepted it.
pub fn chunk(c: &pb::UploadChunk) -> usize {
    let mut accepted = 0;
    for rules in rule_sets() {
        let at = Counts {
            pcg: c.offset,
            ecg: c.offset,
            r_peaks: c.offset,
        };
        for received in [Counts::default(), at] {
            for last_r_peak in [None, Some(1.0)] {
                match check_chunk(&rules, received, last_r_peak, c.clone()) {
                    Ok(checked) => {
                        accepted += 1;
                        assert_eq!(received.get(checked.stream), c.offset, "accepted a gap");
                        assert!(checked.count > 0, "accepted an empty chunk");
                        assert!(
                            received.get(checked.stream).saturating_add(checked.count)
                                <= rules.limits.get(checked.stream),
                            "accepted past the limit"
                        );
                        match checked.stream {
                            StreamKind::Pcg | StreamKind::Ecg => {
                                assert_eq!(checked.bytes, c.samples, "stored bytes differ");
                                assert!(c.r_peaks_s.is_empty());
                            }
                            StreamKind::RPeaks => {
                                let back: Vec<f64> = checked
                                    .bytes
                                    .chunks_exact(8)
                                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                                    .collect();
                                assert_eq!(back, c.r_peaks_s, "stored R-peak times differ");
                                assert_eq!(checked.last_r_peak, c.r_peaks_s.last().copied());
                            }
                        }
                    }
                    Err(e) => assert_clear(
                        &e,
                        &["invalid_argument", "out_of_range", "resource_exhausted"],
                    ),
                }
            }
        }
    }
    accepted
}

/// Checks metadata; accepted metadata gives chunk rules.
pub fn metadata(m: &pb::UploadMetadata) -> bool {
    match validate_metadata(m, NOW_MS) {
        Ok(recording) => {
            assert_eq!(recording.upload_id, m.upload_id);
            ChunkRules::of(&recording, MAX_RECORDING_SECONDS)
                .expect("validated metadata gives chunk rules");
            true
        }
        Err(e) => {
            assert_clear(&e, &["invalid_argument"]);
            false
        }
    }
}

/// Any bytes as one message of the upload stream.
pub fn upload_message(data: &[u8]) {
    let Ok(message) = pb::UploadRequest::decode(data) else {
        return;
    };
    match &message.kind {
        Some(pb::upload_request::Kind::Metadata(m)) => {
            metadata(m);
        }
        Some(pb::upload_request::Kind::Chunk(c)) => {
            chunk(c);
        }
        Some(pb::upload_request::Kind::Finish(_)) | None => {}
    }
}

/// The filters page tokens are checked against: none, and a status filter.
pub fn filters() -> [CaseFilter; 2] {
    [
        CaseFilter::default(),
        CaseFilter {
            status: Some(CaseStatus::Flagged),
            ..CaseFilter::default()
        },
    ]
}

/// Any string as a worklist page token (under two filters) and as an audit page token.
pub fn page_token_text(token: &str) {
    for filter in filters() {
        let fp = cases_token::filter_fingerprint(&filter);
        match cases_token::decode(token, &fp) {
            Ok(None) => assert!(token.is_empty(), "a non-empty token read as the first page"),
            Ok(Some(key)) => {
                let again = cases_token::encode(&key, &fp);
                let back = cases_token::decode(&again, &fp).expect("a re-encoded token decodes");
                assert_eq!(back, Some(key), "an accepted token does not round-trip");
            }
            Err(e) => assert_clear(&e, &["invalid_argument"]),
        }
    }
    if let Some(offset) = page_offset(token) {
        let next = next_page_token(offset, 50, 50);
        assert_eq!(page_offset(&next), Some(offset.saturating_add(50)));
    }
}

/// Any bytes as a page token.
pub fn page_token(data: &[u8]) {
    page_token_text(&String::from_utf8_lossy(data));
}

//! Property tests: random bytes and mutated headers give errors, never panics or runaway
//! allocations.

use auscult_recording::wav::{WavChannels, read_wav_bytes};
use auscult_recording::wfdb::{Format, Header, decode, parse_annotations};
use auscult_recording::{read_wfdb_record, rpeaks::parse_rpeaks_csv};
use proptest::prelude::*;

const GOOD_HEADER: &str = "a0001 2 2000 200\na0001.wav 16+44 1 16 0 0 0 0 PCG\na0001.dat 16 1000 16 0 0 367 0 ECG\n# Abnormal\n";

fn canonical_wav() -> Vec<u8> {
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 2000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("writer");
        for i in 0..400i16 {
            w.write_sample(i).expect("write");
        }
        w.finalize().expect("finalize");
    }
    cur.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_any_reader(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_wav_bytes(&bytes, WavChannels { pcg: 0, ecg: Some(1) });
        let _ = Header::parse(&String::from_utf8_lossy(&bytes));
        let _ = parse_annotations(&bytes);
        let _ = parse_rpeaks_csv(&String::from_utf8_lossy(&bytes));
        for f in [80, 16, 61, 24, 32, 212] {
            let fmt = Format::from_number(f).expect("format");
            let out = decode(fmt, &bytes, usize::MAX);
            prop_assert!(out.len() <= bytes.len());
        }
    }

    #[test]
    fn mutated_wav_headers_never_panic(pos in 0usize..60, val in any::<u8>(), pos2 in 0usize..60, val2 in any::<u8>(), cut in 0usize..1700) {
        let mut bytes = canonical_wav();
        bytes[pos] = val;
        bytes[pos2] = val2;
        bytes.truncate(cut);
        if let Ok(r) = read_wav_bytes(&bytes, WavChannels { pcg: 0, ecg: Some(1) }) {
            prop_assert!(r.pcg.samples.len() <= bytes.len());
        }
    }

    #[test]
    fn mutated_wfdb_headers_never_panic(
        edits in proptest::collection::vec((0usize..120, prop::sample::select(vec![
            "0", "9", "-", "+", "/", "(", ")", " ", "\n", "x", ":", "99999999999999999999", "212", "80", "1e308", "#", "..", "PCG", "ECG",
        ])), 1..6),
        dat in proptest::collection::vec(any::<u8>(), 0..900),
    ) {
        let mut h = GOOD_HEADER.to_string();
        for (pos, s) in edits {
            let mut p = pos.min(h.len());
            while !h.is_char_boundary(p) { p -= 1; }
            h.insert_str(p, s);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a0001.hea"), &h).expect("write");
        std::fs::write(dir.path().join("a0001.wav"), &dat).expect("write");
        std::fs::write(dir.path().join("a0001.dat"), &dat).expect("write");
        if let Ok(r) = read_wfdb_record(&dir.path().join("a0001.hea")) {
            prop_assert!(r.pcg.samples.len() <= dat.len());
        }
    }
}

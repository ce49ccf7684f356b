//! The cargo-fuzz targets of the readers (`fuzz/fuzz_targets/read_wav.rs`, `parse_wfdb.rs`) run
//! here on stable Rust, as CI cannot run cargo-fuzz: the same bodies (`fuzz/bodies/recording.rs`)
//! over the committed seed corpus (`fuzz/corpus/<target>/`), random bytes and mutated seeds.

#[path = "../../../fuzz/bodies/recording.rs"]
mod bodies;

use proptest::prelude::*;

/// The seed corpus of a fuzz target: (file name, bytes), sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            (
                path.file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "the corpus of {target} is empty");
    seeds
}

fn all_seeds() -> Vec<Vec<u8>> {
    ["read_wav", "parse_wfdb"]
        .into_iter()
        .flat_map(corpus)
        .map(|(_, bytes)| bytes)
        .collect()
}

#[test]
fn the_seed_corpus_runs_through_the_fuzz_bodies() {
    for (name, bytes) in corpus("read_wav") {
        bodies::read_wav(&bytes);
        bodies::parse_wfdb(&bytes);
        // The seeds are real inputs, not noise: every complete WAV seed reads.
        let read = auscult_recording::wav::read_wav_bytes(
            &bytes,
            auscult_recording::wav::WavChannels { pcg: 0, ecg: None },
        );
        assert_eq!(read.is_ok(), name != "truncated.wav", "{name}: {read:?}");
    }
    for (name, bytes) in corpus("parse_wfdb") {
        bodies::parse_wfdb(&bytes);
        bodies::read_wav(&bytes);
        // Seeds named `regression_*` are crashes found by fuzzing: they need only not panic.
        if name.ends_with(".hea") && !name.starts_with("regression_") {
            let header = auscult_recording::wfdb::Header::parse(&String::from_utf8_lossy(&bytes));
            assert!(header.is_ok(), "{name}: {header:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_through_the_fuzz_bodies(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        bodies::read_wav(&bytes);
        bodies::parse_wfdb(&bytes);
    }

    #[test]
    fn mutated_seeds_through_the_fuzz_bodies(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let seeds = all_seeds();
        let mut bytes = seeds[seed.index(seeds.len())].clone();
        if !bytes.is_empty() {
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bodies::read_wav(&bytes);
        bodies::parse_wfdb(&bytes);
    }
}

//! ARCHITECTURE.md's "must never" column and invariants, checked by reading the sources.
//!
//! Each check scans the non-test part of every `.rs` file under a crate's `src/` (the text before
//! the first `#[cfg(test)]`, with `//` comments removed) or the crate's `[dependencies]` table.
//! A grep cannot prove an invariant, but it fails the moment someone writes the obvious breach.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a source file that ships: before its first `#[cfg(test)]`, comments removed.
fn shipped_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("source reads");
    let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
    shipped
        .lines()
        .map(|l| match l.find("//") {
            // Keep `://` inside string literals (URLs); drop line and doc comments.
            Some(i) if !l[..i].ends_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every (file, line) of the shipped code of `crate_dir/src` that contains one of `needles`.
fn offences(crate_dir: &str, needles: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&repo().join(crate_dir).join("src"), &mut files);
    assert!(!files.is_empty(), "{crate_dir}/src has no sources");
    let mut found = Vec::new();
    for f in files {
        for (n, line) in shipped_code(&f).lines().enumerate() {
            for needle in needles {
                if line.contains(needle) {
                    found.push(format!(
                        "{}:{}: `{needle}` in: {}",
                        f.strip_prefix(repo()).unwrap_or(&f).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

/// The dependency names of a crate's `[dependencies]` table (not dev- or build-dependencies).
fn dependencies(crate_dir: &str) -> Vec<String> {
    let toml =
        std::fs::read_to_string(repo().join(crate_dir).join("Cargo.toml")).expect("manifest");
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn assert_none(what: &str, found: Vec<String>) {
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

const PURE: [&str; 4] = [
    "crates/dsp",
    "crates/vitals",
    "crates/fhir",
    "crates/triage",
];

#[test]
fn pure_crates_do_no_io_no_async_and_read_no_clock() {
    let io = [
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "tokio",
        "async fn",
        ".await;",
        ".await?",
        ".await)",
        "SystemTime::now",
        "Instant::now",
        "Utc::now",
        "println!",
    ];
    for c in PURE {
        assert_none(&format!("{c} must be pure"), offences(c, &io));
        let deps = dependencies(c);
        for banned in [
            "tokio",
            "sqlx",
            "tonic",
            "prost",
            "object_store",
            "auscult-proto",
            "auscult-store",
        ] {
            assert!(!deps.iter().any(|d| d == banned), "{c} depends on {banned}");
        }
    }
}

#[test]
fn synthetic_data_reads_no_clock_and_no_os_randomness() {
    assert_none(
        "crates/synth must be seeded",
        offences(
            "crates/synth",
            &[
                "SystemTime",
                "Instant::now",
                "thread_rng",
                "OsRng",
                "from_entropy",
                "rand::rng()",
            ],
        ),
    );
}

#[test]
fn dsp_serializes_only_its_vocabulary_behind_a_feature() {
    let toml = std::fs::read_to_string(repo().join("crates/dsp/Cargo.toml")).expect("manifest");
    let serde_line = toml
        .lines()
        .find(|l| l.trim_start().starts_with("serde"))
        .expect("dsp names serde (optional)");
    assert!(
        serde_line.contains("optional = true"),
        "dsp's serde must be optional: {serde_line}"
    );
    let mut files = Vec::new();
    rust_files(&repo().join("crates/dsp/src"), &mut files);
    for f in files {
        if f.ends_with("vocab.rs") {
            continue;
        }
        let code = shipped_code(&f);
        assert!(
            !code.contains("serde"),
            "{}: only vocab.rs may name serde",
            f.display()
        );
    }
}

#[test]
fn only_the_store_writes_sql() {
    for c in [
        "crates/server",
        "crates/cli",
        "crates/client",
        "crates/dsp",
        "crates/vitals",
        "crates/fhir",
        "crates/triage",
        "crates/recording",
        "firmware-sim",
    ] {
        assert_none(
            &format!("{c} must not write SQL"),
            offences(
                c,
                &["sqlx::", "SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"],
            ),
        );
    }
}

#[test]
fn protobuf_stays_at_the_edge() {
    for c in [
        "crates/dsp",
        "crates/recording",
        "crates/synth",
        "crates/vitals",
        "crates/fhir",
        "crates/triage",
        "crates/store",
        "crates/train",
    ] {
        assert!(
            !dependencies(c)
                .iter()
                .any(|d| d == "auscult-proto" || d == "prost" || d == "tonic"),
            "{c} must not see protobuf"
        );
    }
}

#[test]
fn the_server_does_no_signal_processing_and_the_cli_makes_no_grpc_calls() {
    let server = dependencies("crates/server");
    for banned in ["rustfft", "realfft", "ndarray"] {
        assert!(
            !server.iter().any(|d| d == banned),
            "the server depends on {banned}"
        );
    }
    assert_none(
        "the cli calls the server through auscult-client",
        offences("crates/cli", &["tonic::", "Channel::from", "ServiceClient"]),
    );
}

#[test]
fn test_helpers_are_never_a_runtime_dependency() {
    let mut manifests = vec!["firmware-sim".to_owned()];
    for e in std::fs::read_dir(repo().join("crates"))
        .expect("crates")
        .flatten()
    {
        manifests.push(format!("crates/{}", e.file_name().to_string_lossy()));
    }
    for m in manifests {
        if !repo().join(&m).join("Cargo.toml").exists() {
            continue;
        }
        assert!(
            !dependencies(&m).iter().any(|d| d == "auscult-testkit"),
            "{m} depends on auscult-testkit outside dev-dependencies"
        );
    }
}

/// The engine's words are spelled once, in `auscult_dsp::vocab`: no other shipped code holds a
/// table of them.
#[test]
fn findings_are_spelled_only_in_the_vocabulary() {
    let spellings = [
        "\"systolic_click\"",
        "\"systolic-click\"",
        "\"crescendo-decrescendo\"",
        "\"crescendo_decrescendo\"",
        "\"irregular_rhythm\"",
        "\"cannot_judge\"",
    ];
    for c in [
        "crates/server",
        "crates/store",
        "crates/cli",
        "crates/client",
        "crates/triage",
        "crates/train",
        "firmware-sim",
    ] {
        assert_none(
            &format!("{c} spells an engine term itself (use auscult_dsp::vocab)"),
            offences(c, &spellings),
        );
    }
}

#[test]
fn learned_parameters_are_committed_text_loaded_at_compile_time() {
    let found = offences(
        "crates/dsp",
        &["include_str!(\"../params/", "include_str!(\"../../params/"],
    );
    assert!(
        !found.is_empty(),
        "dsp loads no committed parameters with include_str!"
    );
}

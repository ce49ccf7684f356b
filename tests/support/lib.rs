//! Shared helpers for the workspace-level integration tests in `tests/` and benches in `benches/`.
//!
//! Kept as the library target of the root `auscult-suite` package so every test binary can use it.

use std::path::PathBuf;

/// The repository root (where the workspace `Cargo.toml` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[path = "../../crates/testkit/src/ci.rs"]
mod ci;

/// `../shared/data` beside the repository, or `AUSCULT_SHARED_DATA` when set; `None` when absent
/// (after saying so), so tests that need the real recordings can skip; a failure instead when CI
/// declared the data present (`AUSCULT_CI_REQUIRE`).
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("AUSCULT_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    ci::require_or_skip(
        ci::Service::SharedData,
        dir.is_dir().then_some(dir),
        "../shared/data (or AUSCULT_SHARED_DATA) is absent",
    )
}

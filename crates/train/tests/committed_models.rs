//! Training is reproducible and the committed models are what the code trains: `auscult-train
//! train` over `../shared/data` writes a `murmur.txt` byte-identical to
//! `crates/dsp/params/murmur.txt`. Fails when a change to the features, the fitting or the data
//! moves the models without the parameters being retrained and committed, or when training
//! stops being deterministic. Skips (and says so) without the data, unless CI declared it
//! (`AUSCULT_CI_REQUIRE`).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../testkit/src/ci.rs"]
mod ci;

fn data_dir() -> Option<PathBuf> {
    let p = std::env::var_os("AUSCULT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.join("physionet2016/labels.csv").is_file().then_some(p)
}

/// A scratch folder removed when the test ends.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn training_reproduces_the_committed_models() {
    let Some(data) = ci::require_or_skip(
        ci::Service::SharedData,
        data_dir(),
        "no ../shared/data (set AUSCULT_DATA to retrain the models)",
    ) else {
        return;
    };
    let dir = Dir(std::env::temp_dir().join(format!("auscult-retrain-{}", std::process::id())));
    let run = Command::new(env!("CARGO_BIN_EXE_auscult-train"))
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.0.join("params"))
        .arg("--results")
        .arg(dir.0.join("lodo"))
        .output()
        .expect("run auscult-train train");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trained = std::fs::read_to_string(dir.0.join("params/murmur.txt")).expect("murmur.txt");
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsp/params/murmur.txt");
    let committed = std::fs::read_to_string(&committed_path).expect("committed murmur.txt");
    if trained != committed {
        let (line, (t, c)) = trained
            .lines()
            .zip(committed.lines())
            .enumerate()
            .find(|(_, (t, c))| t != c)
            .unwrap_or((
                trained.lines().count().min(committed.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "the trained models differ from {} at line {}:\n  trained:   {t}\n  committed: {c}\n\
             retrain (`cargo run --release -p auscult-train -- train --data <shared/data> \
             --out crates/dsp/params/`) and commit, or find what made training change",
            committed_path.display(),
            line + 1
        );
    }
}

//! Turning the paths on the command line into the list of recordings to analyse.
//!
//! Files are taken as given; directories are walked recursively in name order, keeping `.wav`
//! and `.hea` files, and a record present as both `X.hea` and `X.wav` is analysed once, through
//! its header (so its ECG is used). Must never reorder the command line's own paths, and never
//! follow a symbolic link to a directory (no loops).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One recording to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The name written in the output's `file` field: the path as given, or for files found
    /// in a directory, the directory argument joined with the relative path.
    pub display: String,
    /// Where to read it.
    pub path: PathBuf,
    /// Set when the input could not even be listed (e.g. an unreadable directory).
    pub problem: Option<String>,
}

fn is_recording(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("hea"))
}

/// Expands command-line paths into recordings, in order.
pub fn expand(args: &[PathBuf]) -> Vec<Input> {
    let mut out = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(arg, Path::new(""), &mut found) {
                out.push(Input {
                    display: arg.display().to_string(),
                    path: arg.clone(),
                    problem: Some(format!("cannot list directory: {e}")),
                });
                continue;
            }
            for rel in prefer_headers(found) {
                let path = arg.join(&rel);
                out.push(Input {
                    display: path.display().to_string(),
                    path,
                    problem: None,
                });
            }
        } else {
            out.push(Input {
                display: arg.display().to_string(),
                path: arg.clone(),
                problem: None,
            });
        }
    }
    out
}

fn walk(root: &Path, rel: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ty = e.file_type()?;
        let rel_path = rel.join(e.file_name());
        if ty.is_dir() {
            walk(root, &rel_path, found)?;
        } else if (ty.is_file() || (ty.is_symlink() && e.path().is_file()))
            && is_recording(&rel_path)
        {
            found.push(rel_path);
        }
    }
    Ok(())
}

/// Drops `X.wav` where `X.hea` is also present (case-insensitively on the extension).
fn prefer_headers(found: Vec<PathBuf>) -> Vec<PathBuf> {
    let headers: BTreeSet<PathBuf> = found
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("hea")))
        .map(|p| p.with_extension(""))
        .collect();
    found
        .into_iter()
        .filter(|p| {
            !(p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"))
                && headers.contains(&p.with_extension("")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_directories_in_order_preferring_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
        for f in [
            "b.wav",
            "a.hea",
            "a.wav",
            "a.dat",
            "notes.txt",
            "sub/c.WAV",
            "sub/deeper/d.hea",
        ] {
            std::fs::write(d.join(f), b"x").expect("write");
        }
        let arg = d.to_path_buf();
        let got: Vec<String> = expand(&[arg.clone(), PathBuf::from("given/as/is.wav")])
            .into_iter()
            .map(|i| i.display)
            .collect();
        let j = |p: &str| arg.join(p).display().to_string();
        assert_eq!(
            got,
            vec![
                j("a.hea"),
                j("b.wav"),
                j("sub/c.WAV"),
                j("sub/deeper/d.hea"),
                "given/as/is.wav".to_string()
            ]
        );
    }
}

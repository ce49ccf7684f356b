//! `auscult plot` writes a valid SVG (and PNG) of a real recording.

use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/physionet2016")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn plot_writes_a_valid_svg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("a0131.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_auscult"))
        .args(["plot", &fixture("a0131.hea"), "-o"])
        .arg(&svg)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(text.trim_start().starts_with("<svg"), "not an SVG");
    assert!(text.trim_end().ends_with("</svg>"), "SVG not closed");
    assert!(text.contains("a0131.hea"), "title missing");
    assert!(text.contains("ECG (R peaks red)"), "ECG panel missing");
    assert!(text.matches("<rect").count() > 20, "S1/S2 shading missing");
    assert!(text.contains("<polyline"), "traces missing");
}

#[test]
fn plot_writes_a_png_and_rejects_other_extensions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("a0035.png");
    let out = Command::new(env!("CARGO_BIN_EXE_auscult"))
        .args(["plot", &fixture("a0035.hea"), "-o"])
        .arg(&png)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("png written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // The title band (above the panels) holds the two title lines: dark glyphs on white.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .expect("png header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("png pixels");
    let channels = info.color_type.samples();
    let row = info.line_size;
    let dark_in = |rows: std::ops::Range<usize>| {
        rows.flat_map(|y| pixels[y * row..(y + 1) * row].chunks(channels))
            .filter(|p| p[..3].iter().all(|&c| c < 100))
            .count()
    };
    assert!(dark_in(0..30) > 300, "no title drawn into the PNG");
    assert!(dark_in(32..58) > 200, "no flag line drawn into the PNG");
    let out = Command::new(env!("CARGO_BIN_EXE_auscult"))
        .args(["plot", &fixture("a0035.hea"), "-o"])
        .arg(dir.path().join("x.gif"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

//! The case page's drawings, SVG made on the server from the stored samples and the engine's
//! stored analysis:
//!
//! - the recording ([`svg`]): the PCG with S1 and S2 of every cycle shaded and the murmur's
//!   phase of every accepted cycle when the engine found one, the ECG beneath it on the same
//!   time axis (its trace, or its R-peak times when the device sent only those), and a playhead
//!   line the page's script moves;
//! - the ensemble-averaged cycle ([`ensemble_svg`]): the engine's own cycle-synchronous
//!   average (`auscult_dsp::ensemble`) of the accepted cycles, with its S1, S2 and the murmur's
//!   phase, the figure a clinician reads a murmur's shape from.
//!
//! Pure: numbers in, markup out. Only numbers and fixed class names reach the markup, so
//! nothing in it needs escaping. The only signal processing is the engine's (preprocessing and
//! ensemble averaging); here each pixel column's minimum and maximum are picked.

use std::fmt::Write as _;

use auscult_dsp::ensemble::ensemble_average;
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::{Cycle, Hz, MurmurCall, Signal, murmur_marks};
use auscult_store::analysis::StoredAnalysis;

/// Width of the drawing in SVG units (one column per unit).
const WIDTH: usize = 1000;
/// Height of the PCG trace area.
const TRACE: f64 = 180.0;
/// Height of the ECG strip beneath it, when there is an ECG.
const ECG: f64 = 70.0;
/// Height of the time axis.
const AXIS: f64 = 25.0;

/// The ECG of a recording, as the device sent it.
#[derive(Debug, Clone, Copy, Default)]
pub enum EcgTrace<'a> {
    /// No ECG.
    #[default]
    None,
    /// Raw ECG samples at `rate` Hz.
    Samples {
        /// The samples.
        samples: &'a [f32],
        /// Their rate, Hz.
        rate: u32,
    },
    /// R-peak times only, s.
    RPeaks(&'a [f64]),
}

/// The drawn waveform.
#[derive(Debug, Clone)]
pub struct Waveform {
    /// The `<svg>` element.
    pub svg: String,
    /// The recording's duration, s.
    pub duration_s: f64,
    /// Whether an ECG strip is drawn beneath the PCG.
    pub has_ecg: bool,
}

/// Draws `samples` (at `rate` Hz) with the analysis's cycles and the ECG beneath.
pub fn svg(
    samples: &[f32],
    rate: u32,
    analysis: Option<&StoredAnalysis>,
    ecg: EcgTrace<'_>,
) -> Waveform {
    let duration_s = if rate == 0 {
        0.0
    } else {
        samples.len() as f64 / f64::from(rate)
    };
    let x_of = |t: f64| {
        if duration_s > 0.0 {
            (t / duration_s * WIDTH as f64).clamp(0.0, WIDTH as f64)
        } else {
            0.0
        }
    };
    let ecg_h = match ecg {
        EcgTrace::None => 0.0,
        _ => ECG,
    };
    let plot_h = TRACE + ecg_h;
    let height = plot_h + AXIS;
    let mut out = String::with_capacity(96 * 1024);
    let cycles = analysis.map(|a| a.cycles.as_slice()).unwrap_or_default();
    let spans: Vec<String> = cycles
        .iter()
        .map(|c| format!("{:.4},{:.4}", c.s1[0], c.end_s))
        .collect();
    let _ = write!(
        out,
        "<svg id=\"waveform\" viewBox=\"0 0 {WIDTH} {height}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{}\" data-duration=\"{duration_s:.4}\" data-cycles=\"{}\">",
        if ecg_h > 0.0 { "PCG, ECG" } else { "PCG" },
        spans.join(";")
    );
    let rect = |out: &mut String, class: &str, from: f64, to: f64| {
        let (a, b) = (x_of(from), x_of(to));
        if b > a {
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{a:.2}\" y=\"0\" width=\"{:.2}\" height=\"{TRACE}\"/>",
                b - a
            );
        }
    };
    let murmur = analysis
        .filter(|a| a.murmur.status == MurmurCall::Present)
        .and_then(|a| a.murmur.timing.map(|t| (t, a.murmur.phase)));
    for c in cycles {
        if let Some((timing, phase)) = murmur.filter(|_| c.accepted) {
            for (a, b) in murmur_marks(timing, phase, (c.s1[1], c.s2[0]), (c.s2[1], c.end_s)) {
                rect(&mut out, "mm", a, b);
            }
        }
        rect(&mut out, "s1", c.s1[0], c.s1[1]);
        rect(&mut out, "s2", c.s2[0], c.s2[1]);
    }
    // The sounds of the cycles the recording's edges cut.
    if let Some(edges) = analysis.map(|a| &a.edge_sounds) {
        for (class, sound) in [("s2", edges.leading_s2), ("s1", edges.trailing_s1)] {
            if let Some([from, to]) = sound {
                rect(&mut out, class, from, to);
            }
        }
    }
    let pcg_rate = f64::from(rate);
    trace(&mut out, "trace", samples, (WIDTH, 0.0, TRACE), |col| {
        column_span(col, WIDTH, duration_s, pcg_rate, samples.len())
    });
    match ecg {
        EcgTrace::None => {}
        EcgTrace::Samples { samples: e, rate } => {
            let ecg_rate = f64::from(rate);
            trace(&mut out, "ecg", e, (WIDTH, TRACE, ECG), |col| {
                column_span(col, WIDTH, duration_s, ecg_rate, e.len())
            });
        }
        EcgTrace::RPeaks(peaks) => {
            for &t in peaks.iter().filter(|t| t.is_finite() && **t >= 0.0) {
                let x = x_of(t);
                let _ = write!(
                    out,
                    "<line class=\"rpeak\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
                    TRACE + 8.0,
                    TRACE + ECG - 8.0
                );
            }
        }
    }
    if ecg_h > 0.0 {
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"0\" x2=\"{WIDTH}\" y1=\"{TRACE}\" y2=\"{TRACE}\"/>"
        );
    }
    axis(&mut out, duration_s, plot_h, x_of);
    let _ = write!(
        out,
        "<line id=\"playhead\" x1=\"0\" x2=\"0\" y1=\"0\" y2=\"{plot_h}\"/></svg>"
    );
    Waveform {
        svg: out,
        duration_s,
        has_ecg: ecg_h > 0.0,
    }
}

/// The samples (of a stream at `rate` Hz, `len` long) under pixel column `col` of `width`
/// columns spanning `duration_s`; empty past the stream's end.
fn column_span(
    col: usize,
    width: usize,
    duration_s: f64,
    rate: f64,
    len: usize,
) -> std::ops::Range<usize> {
    if duration_s <= 0.0 || rate <= 0.0 || len == 0 {
        return 0..0;
    }
    let at = |c: usize| {
        let i = (c as f64 / width as f64 * duration_s * rate).floor();
        if i.is_finite() && i > 0.0 {
            (i as usize).min(len)
        } else {
            0
        }
    };
    let from = at(col);
    from..at(col + 1).max(from + 1).min(len)
}

/// One vertical stroke per column from its minimum to its maximum, scaled to the peak, in the
/// band `top..top + height`; `span` gives the samples under each column.
fn trace(
    out: &mut String,
    class: &str,
    samples: &[f32],
    (width, top, height): (usize, f64, f64),
    span: impl Fn(usize) -> std::ops::Range<usize>,
) {
    let peak = samples
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()))
        .max(1e-9);
    let mid = top + height / 2.0;
    let scale = (height / 2.0 - 4.0) / f64::from(peak);
    let _ = write!(out, "<path class=\"{class}\" d=\"");
    for col in 0..width {
        let Some(column) = samples.get(span(col)).filter(|c| !c.is_empty()) else {
            continue;
        };
        let (lo, hi) = column
            .iter()
            .filter(|x| x.is_finite())
            .fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let y_hi = mid - f64::from(hi) * scale;
        let y_lo = mid - f64::from(lo) * scale;
        let _ = write!(out, "M{col}.5 {y_hi:.1}V{:.1}", y_lo.max(y_hi + 0.5));
    }
    out.push_str("\"/>");
}

/// A tick and a label every second (every 5 s for long recordings).
fn axis(out: &mut String, duration_s: f64, top: f64, x_of: impl Fn(f64) -> f64) {
    let step = if duration_s > 30.0 { 5.0 } else { 1.0 };
    let mut t = 0.0;
    while t <= duration_s {
        let x = x_of(t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{t:.0} s</text>",
            top + 5.0,
            x + 2.0,
            top + AXIS - 3.0
        );
        t += step;
    }
}

/// Width of the ensemble figure in SVG units.
const ENSEMBLE_WIDTH: usize = 600;
/// Height of its trace area.
const ENSEMBLE_TRACE: f64 = 150.0;

/// The drawn ensemble-averaged cycle.
#[derive(Debug, Clone)]
pub struct EnsembleFigure {
    /// The `<svg>` element.
    pub svg: String,
    /// How many accepted cycles were averaged.
    pub cycles: usize,
}

/// The engine's ensemble average of the accepted cycles of `samples` (at `rate` Hz), drawn:
/// the averaged waveform, its envelope, S1, S2 and the murmur's phase. `None` without an
/// analysis, without an accepted cycle, or when the engine cannot preprocess the recording.
pub fn ensemble_svg(
    samples: &[f32],
    rate: u32,
    analysis: Option<&StoredAnalysis>,
) -> Option<EnsembleFigure> {
    let analysis = analysis?;
    let cycles: Vec<Cycle> = analysis.cycles.iter().map(Into::into).collect();
    let pre = preprocess(Signal {
        samples,
        rate: Hz(f64::from(rate)),
    })
    .ok()?;
    let ens = ensemble_average(&pre, &cycles)?;
    let n = ens.waveform.len();
    let length_s = n as f64 / ens.rate.0;
    if n < 2 || !length_s.is_finite() || length_s <= 0.0 {
        return None;
    }
    let w = ENSEMBLE_WIDTH as f64;
    let x_of = |t: f64| (t / length_s * w).clamp(0.0, w);
    let height = ENSEMBLE_TRACE + AXIS;
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<svg id=\"ensemble\" viewBox=\"0 0 {ENSEMBLE_WIDTH} {height}\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-labelledby=\"ensemble-title\" \
         data-cycles=\"{}\" data-length=\"{length_s:.4}\">",
        ens.cycles
    );
    let mut rect = |class: &str, from: f64, to: f64| {
        let (a, b) = (x_of(from), x_of(to));
        if b > a {
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{a:.2}\" y=\"0\" width=\"{:.2}\" height=\"{ENSEMBLE_TRACE}\"/>",
                b - a
            );
        }
    };
    let murmur = (analysis.murmur.status == MurmurCall::Present)
        .then_some(analysis.murmur.timing)
        .flatten();
    if let Some(timing) = murmur {
        let systole = (ens.s1.end.0, ens.s2.start.0);
        let diastole = (ens.s2.end.0, length_s);
        for (a, b) in murmur_marks(timing, analysis.murmur.phase, systole, diastole) {
            rect("mm", a, b);
        }
    }
    rect("s1", ens.s1.start.0, ens.s1.end.0);
    rect("s2", ens.s2.start.0, ens.s2.end.0);
    let ens_rate = ens.rate.0;
    trace(
        &mut out,
        "trace",
        &ens.waveform,
        (ENSEMBLE_WIDTH, 0.0, ENSEMBLE_TRACE),
        |col| column_span(col, ENSEMBLE_WIDTH, length_s, ens_rate, n),
    );
    // The envelope: what is locked to the beat in intensity (a murmur stays, noise flattens).
    let peak = ens
        .envelope
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, &x| m.max(x))
        .max(1e-9);
    out.push_str("<path class=\"env\" d=\"");
    for col in 0..ENSEMBLE_WIDTH {
        let span = column_span(col, ENSEMBLE_WIDTH, length_s, ens_rate, n);
        let Some(column) = ens.envelope.get(span).filter(|c| !c.is_empty()) else {
            continue;
        };
        let v = column
            .iter()
            .filter(|x| x.is_finite())
            .fold(0.0f32, |m, &x| m.max(x));
        let y = ENSEMBLE_TRACE - 4.0 - f64::from(v / peak) * (ENSEMBLE_TRACE - 8.0);
        let _ = write!(out, "{}{col}.5 {y:.1}", if col == 0 { "M" } else { "L" });
    }
    out.push_str("\"/>");
    let mut t = 0.0;
    while t <= length_s {
        let x = x_of(t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{ENSEMBLE_TRACE}\" y2=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{:.0} ms</text>",
            ENSEMBLE_TRACE + 5.0,
            x + 2.0,
            height - 3.0,
            t * 1000.0
        );
        t += 0.2;
    }
    out.push_str("</svg>");
    Some(EnsembleFigure {
        svg: out,
        cycles: ens.cycles,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn draws_any_input_without_panicking() {
        for samples in [vec![], vec![0.0], vec![f32::NAN; 7], vec![0.5; 10_000]] {
            for rate in [0, 1, 4000] {
                let w = svg(&samples, rate, None, EcgTrace::None);
                assert!(w.svg.starts_with("<svg") && w.svg.ends_with("</svg>"));
                assert!(w.duration_s.is_finite());
            }
        }
        let w = svg(&[0.1; 8000], 4000, None, EcgTrace::None);
        assert!((w.duration_s - 2.0).abs() < 1e-9);
        assert!(w.svg.contains("id=\"playhead\""));
    }

    #[test]
    fn draws_the_ecg_beneath_on_the_same_time_axis() {
        let pcg = vec![0.1f32; 8000];
        let ecg: Vec<f32> = (0..1000)
            .map(|i| if i % 250 == 0 { 1.0 } else { 0.0 })
            .collect();
        let w = svg(
            &pcg,
            4000,
            None,
            EcgTrace::Samples {
                samples: &ecg,
                rate: 500,
            },
        );
        assert!(w.svg.contains("class=\"ecg\" d=\"M0.5 "), "an ECG trace");
        assert!(w.svg.contains("aria-label=\"PCG, ECG\""));
        // The playhead spans both strips.
        assert!(w.svg.contains(&format!("y2=\"{}\"/></svg>", TRACE + ECG)));
        let peaks = [0.4, 1.2, f64::NAN, -1.0, 1.9];
        let w = svg(&pcg, 4000, None, EcgTrace::RPeaks(&peaks));
        assert_eq!(
            w.svg.matches("class=\"rpeak\"").count(),
            3,
            "finite, non-negative peaks only"
        );
        // A short ECG or odd rates draw what there is and never panic.
        for rate in [0, 1, 100_000] {
            let w = svg(
                &pcg,
                4000,
                None,
                EcgTrace::Samples {
                    samples: &ecg,
                    rate,
                },
            );
            assert!(w.svg.ends_with("</svg>"));
        }
    }

    #[test]
    fn draws_the_engines_ensemble_of_a_murmur() {
        let rec = auscult_synth::generate(&auscult_synth::Scenario::AorticStenosis.config(3, 12.0))
            .unwrap();
        let rate = rec.pcg_rate_hz.round() as u32;
        let analysis = auscult_dsp::analyze(&auscult_dsp::Recording {
            pcg: Signal {
                samples: &rec.pcg,
                rate: Hz(rec.pcg_rate_hz),
            },
            ecg: None,
        })
        .unwrap();
        let stored = StoredAnalysis::from(&analysis);
        let fig = ensemble_svg(&rec.pcg, rate, Some(&stored)).expect("an ensemble");
        let accepted = stored.cycles.iter().filter(|c| c.accepted).count();
        assert!(
            fig.cycles >= 5 && fig.cycles == accepted,
            "{} of {accepted}",
            fig.cycles
        );
        assert!(fig.svg.contains("class=\"s1\"") && fig.svg.contains("class=\"s2\""));
        assert!(fig.svg.contains("class=\"env\" d=\"M0.5 "));
        if stored.murmur.status == MurmurCall::Present {
            assert!(
                fig.svg.contains("class=\"mm\""),
                "the murmur's phase is shaded"
            );
        }
        assert!(ensemble_svg(&rec.pcg, rate, None).is_none());
        assert!(ensemble_svg(&[], rate, Some(&stored)).is_none());
        assert!(ensemble_svg(&rec.pcg, 0, Some(&stored)).is_none());
    }
}

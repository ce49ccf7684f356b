//! The case page's waveform: an SVG drawn on the server from the stored PCG and the engine's
//! stored analysis (S1 and S2 of every cycle shaded, and the murmur's phase of every accepted
//! cycle when the engine found one), with a playhead line the page's script moves.
//!
//! Pure: numbers in, markup out. Only numbers and fixed class names reach the markup, so
//! nothing in it needs escaping. No signal processing beyond picking each pixel column's
//! minimum and maximum.

use std::fmt::Write as _;

use auscult_dsp::{MurmurCall, MurmurTiming};
use auscult_store::analysis::StoredAnalysis;

/// Width of the drawing in SVG units (one column per unit).
const WIDTH: usize = 1000;
/// Height of the trace area.
const TRACE: f64 = 180.0;
/// Height with the time axis.
const HEIGHT: f64 = 205.0;

/// The drawn waveform.
#[derive(Debug, Clone)]
pub struct Waveform {
    /// The `<svg>` element.
    pub svg: String,
    /// The recording's duration, s.
    pub duration_s: f64,
}

/// Draws `samples` (at `rate` Hz) with the analysis's cycles.
pub fn svg(samples: &[f32], rate: u32, analysis: Option<&StoredAnalysis>) -> Waveform {
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
    let mut out = String::with_capacity(64 * 1024);
    let cycles = analysis.map(|a| a.cycles.as_slice()).unwrap_or_default();
    let spans: Vec<String> = cycles
        .iter()
        .map(|c| format!("{:.4},{:.4}", c.s1[0], c.end_s))
        .collect();
    let _ = write!(
        out,
        "<svg id=\"waveform\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"PCG\" data-duration=\"{duration_s:.4}\" data-cycles=\"{}\">",
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
        .and_then(|a| a.murmur.timing);
    for c in cycles {
        if c.accepted {
            match murmur {
                Some(MurmurTiming::Systolic) => rect(&mut out, "mm", c.s1[1], c.s2[0]),
                Some(MurmurTiming::Diastolic) => rect(&mut out, "mm", c.s2[1], c.end_s),
                Some(MurmurTiming::Both) => {
                    rect(&mut out, "mm", c.s1[1], c.s2[0]);
                    rect(&mut out, "mm", c.s2[1], c.end_s);
                }
                None => {}
            }
        }
        rect(&mut out, "s1", c.s1[0], c.s1[1]);
        rect(&mut out, "s2", c.s2[0], c.s2[1]);
    }
    trace(&mut out, samples);
    axis(&mut out, duration_s, x_of);
    let _ = write!(
        out,
        "<line id=\"playhead\" x1=\"0\" x2=\"0\" y1=\"0\" y2=\"{TRACE}\"/></svg>"
    );
    Waveform {
        svg: out,
        duration_s,
    }
}

/// One vertical stroke per column from its minimum to its maximum, scaled to the peak.
fn trace(out: &mut String, samples: &[f32]) {
    let peak = samples
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()))
        .max(1e-9);
    let mid = TRACE / 2.0;
    let scale = (TRACE / 2.0 - 4.0) / f64::from(peak);
    out.push_str("<path class=\"trace\" d=\"");
    if !samples.is_empty() {
        for col in 0..WIDTH {
            let from = col * samples.len() / WIDTH;
            let to = ((col + 1) * samples.len() / WIDTH)
                .max(from + 1)
                .min(samples.len());
            let (lo, hi) = samples[from.min(samples.len() - 1)..to]
                .iter()
                .filter(|x| x.is_finite())
                .fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let y_hi = mid - f64::from(hi) * scale;
            let y_lo = mid - f64::from(lo) * scale;
            let _ = write!(out, "M{col}.5 {y_hi:.1}V{:.1}", y_lo.max(y_hi + 0.5));
        }
    }
    out.push_str("\"/>");
}

/// A tick and a label every second (every 5 s for long recordings).
fn axis(out: &mut String, duration_s: f64, x_of: impl Fn(f64) -> f64) {
    let step = if duration_s > 30.0 { 5.0 } else { 1.0 };
    let mut t = 0.0;
    while t <= duration_s {
        let x = x_of(t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TRACE}\" y2=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{t:.0} s</text>",
            TRACE + 5.0,
            x + 2.0,
            HEIGHT - 3.0
        );
        t += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_any_input_without_panicking() {
        for samples in [vec![], vec![0.0], vec![f32::NAN; 7], vec![0.5; 10_000]] {
            for rate in [0, 1, 4000] {
                let w = svg(&samples, rate, None);
                assert!(w.svg.starts_with("<svg") && w.svg.ends_with("</svg>"));
                assert!(w.duration_s.is_finite());
            }
        }
        let w = svg(&[0.1; 8000], 4000, None);
        assert!((w.duration_s - 2.0).abs() < 1e-9);
        assert!(w.svg.contains("id=\"playhead\""));
    }
}

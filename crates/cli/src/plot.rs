//! `auscult plot`: a picture of one analysed recording.
//!
//! Left: the PCG with S1 (blue) and S2 (green) shaded and the murmur's phase (red) marked in
//! accepted cycles, the ECG beneath with R peaks. Right: the ensemble-averaged cycle. SVG is the
//! The title says the call and, when the recording is flagged, every flag reason with its
//! evidence in the words of `auscult analyze`'s text output. SVG and PNG carry the same titles
//! and axis labels, laid out (and, in PNG, drawn) with DejaVu Sans, embedded in the binary
//! (`assets/fonts/`), so no system font is needed.
//! This module only draws what the engine returned: it must never re-analyse or adjust it.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use auscult_dsp::{Analysis, Analyzer, EnsembleCycle, MurmurStatus, murmur_marks};
use auscult_recording::{LoadedEcg, LoadedRecording, WavChannels, read_ecg};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::batch::{analyse, load};
use crate::report::ResultLine;

/// DejaVu Sans (Bitstream Vera licence, `assets/fonts/LICENSE-DejaVu.txt`): the bitmap
/// backend draws text only with a registered font.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Registers [`FONT`] as plotters' "sans-serif" once; whether text can be drawn (plotters lays
/// text out with the registered font for SVG too).
fn font_registered() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    })
}

const S1_COLOUR: RGBColor = RGBColor(40, 100, 220);
const S2_COLOUR: RGBColor = RGBColor(30, 160, 60);
const MURMUR_COLOUR: RGBColor = RGBColor(220, 40, 40);
const TRACE_COLOUR: RGBColor = RGBColor(30, 30, 30);

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Runs `auscult plot`.
pub fn run(
    recording: &Path,
    output: &Path,
    ecg: Option<&Path>,
    channels: WavChannels,
    seconds: f64,
) -> anyhow::Result<std::process::ExitCode> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    let ecg = ecg
        .map(|p| read_ecg(p).with_context(|| format!("cannot read ECG {}", p.display())))
        .transpose()?;
    let rec = load(recording, channels, ecg.as_ref())
        .with_context(|| format!("cannot read {}", recording.display()))?;
    let analysis = analyse(&mut Analyzer::new(), &rec)?;
    let title = recording.file_name().map_or_else(
        || recording.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let size = (1400, 720);
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(output, size).into_drawing_area();
            draw(&root, &rec, &analysis, &title, seconds, font_registered())?;
            root.present().map_err(plot_err)?;
        }
        Some("png") => {
            let root = BitMapBackend::new(output, size).into_drawing_area();
            draw(&root, &rec, &analysis, &title, seconds, font_registered())?;
            root.present().map_err(plot_err)?;
        }
        _ => bail!("the output must end in .svg or .png"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The median and a robust full scale (the 99.5th percentile of the distance from the median),
/// so one spike or a start-up transient does not flatten the whole trace.
fn robust_scale(samples: &[f32]) -> (f64, f64) {
    let step = (samples.len() / 20_000).max(1);
    let mut v: Vec<f64> = samples
        .iter()
        .step_by(step)
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x))
        .collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let full = dev[((dev.len() - 1) as f64 * 0.995) as usize];
    (median, if full > 0.0 { full } else { 1.0 })
}

/// Min/max per bucket so a long trace stays a few thousand points yet shows every peak; scaled
/// robustly to about ±1 and clamped to ±1.05.
fn envelope_points(samples: &[f32], rate: f64, t_end: f64, buckets: usize) -> Vec<(f64, f64)> {
    let n = ((t_end * rate) as usize).min(samples.len());
    let (median, full) = robust_scale(&samples[..n]);
    let norm = |v: f32| ((f64::from(v) - median) / full).clamp(-1.05, 1.05);
    let per = n.div_ceil(buckets.max(1)).max(1);
    let mut out = Vec::with_capacity(2 * n / per + 2);
    for (k, chunk) in samples[..n].chunks(per).enumerate() {
        let t = (k * per) as f64 / rate;
        let (lo, hi) = chunk
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if lo <= hi {
            out.push((t, norm(lo)));
            out.push((t, norm(hi)));
        }
    }
    out
}

/// A smooth curve (the ensemble envelope) scaled to a peak of 1.
fn curve_points(samples: &[f32], rate: f64) -> Vec<(f64, f64)> {
    let peak = samples
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()));
    let scale = if peak > 0.0 {
        1.0 / f64::from(peak)
    } else {
        1.0
    };
    samples
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| (i as f64 / rate, f64::from(v) * scale))
        .collect()
}

/// The timing of a murmur found present (nothing is shaded otherwise).
fn present_timing(a: &Analysis) -> Option<auscult_dsp::MurmurTiming> {
    a.murmur
        .timing
        .filter(|_| a.murmur.status == MurmurStatus::Present)
}

/// Where the murmur is shaded in each accepted cycle ([`auscult_dsp::murmur_marks`]: systole
/// from S1's end to S2's start, diastole from S2's end to the cycle's end, narrowed to the part
/// the finding names).
fn murmur_spans(a: &Analysis) -> Vec<(f64, f64)> {
    let Some(timing) = present_timing(a) else {
        return Vec::new();
    };
    a.cycles
        .iter()
        .filter(|c| c.accepted)
        .flat_map(|c| {
            murmur_marks(
                timing,
                a.murmur.phase,
                (c.s1.end.0, c.s2.start.0),
                (c.s2.end.0, c.end.0),
            )
        })
        .collect()
}

/// A panel's chart: time on x, the normalised trace on y.
type TraceChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn shade<DB: DrawingBackend>(
    chart: &mut TraceChart<'_, DB>,
    spans: impl IntoIterator<Item = (f64, f64)>,
    y: (f64, f64),
    style: ShapeStyle,
) -> anyhow::Result<()> {
    chart
        .draw_series(
            spans
                .into_iter()
                .map(|(a, b)| Rectangle::new([(a, y.0), (b, y.1)], style)),
        )
        .map_err(plot_err)?;
    Ok(())
}

/// How a panel's chart is laid out: its texts are drawn only when the backend can draw text.
struct PanelAxes<'t> {
    caption: &'t str,
    x_end: f64,
    x_desc: &'t str,
    y_desc: Option<&'t str>,
    y_label_area: u32,
}

/// A trace panel over `0..x_end` × ±1.05 with its mesh drawn, ready for the series.
fn panel_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    axes: &PanelAxes<'_>,
    text: bool,
) -> anyhow::Result<TraceChart<'a, DB>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(8)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { axes.y_label_area } else { 0 });
    if text {
        builder.caption(axes.caption, ("sans-serif", 16));
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..axes.x_end, -1.05..1.05)
        .map_err(plot_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh().light_line_style(WHITE.mix(0.0));
    if text {
        mesh.x_desc(axes.x_desc);
        if let Some(y_desc) = axes.y_desc {
            mesh.y_desc(y_desc);
        }
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(plot_err)?;
    Ok(chart)
}

/// The figure's title in two lines: the file, heart rate and murmur call; then whether it is
/// flagged and why, each reason with its evidence as `auscult analyze` writes it, and what an
/// absent call could not have heard.
fn figure_caption(a: &Analysis, title: &str) -> [String; 2] {
    let murmur = match &a.murmur.status {
        MurmurStatus::Present => format!(
            "murmur present{}",
            a.murmur
                .timing
                .map_or(String::new(), |t| format!(" ({t:?})").to_lowercase())
        ),
        MurmurStatus::Absent => "no murmur".into(),
        MurmurStatus::Unknown(r) => {
            format!("murmur unknown: {}", crate::report::reason_text(r))
        }
    };
    let hr = a
        .heart_rate
        .map_or("heart rate unknown".into(), |h| format!("{:.0} bpm", h.0));
    let flags = if a.flagged {
        format!(
            "flagged for review: {}",
            ResultLine::new(title.to_string(), a)
                .reasons_text()
                .join("; ")
        )
    } else {
        "not flagged".to_string()
    };
    let flags = match a
        .murmur
        .softest_grade
        .and_then(auscult_dsp::vocab::softest_grade_words)
    {
        Some(limit) => format!("{flags}; {limit}"),
        None => flags,
    };
    [
        format!(
            "{title}: {hr}, {murmur}{}",
            match (a.ecg_used, a.ecg_set_aside) {
                (true, _) => ", ECG-gated".to_string(),
                (false, Some(why)) =>
                    format!(", ECG set aside ({})", why.as_str().replace('_', " ")),
                (false, None) => String::new(),
            }
        ),
        flags,
    ]
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rec: &LoadedRecording,
    a: &Analysis,
    title: &str,
    seconds: f64,
    text: bool,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let body = if text {
        let (head, body) = root.split_vertically(60);
        let [first, second] = figure_caption(a, title);
        head.draw_text(
            &first,
            &("sans-serif", 22).into_font().color(&BLACK),
            (10, 6),
        )
        .map_err(plot_err)?;
        let colour = if a.flagged {
            MURMUR_COLOUR
        } else {
            TRACE_COLOUR
        };
        head.draw_text(
            &second,
            &("sans-serif", 18).into_font().color(&colour),
            (10, 34),
        )
        .map_err(plot_err)?;
        body
    } else {
        root.clone()
    };
    let (left, right) = body.split_horizontally(980);
    let has_ecg = rec.ecg.is_some();
    let (pcg_area, ecg_area) =
        left.split_vertically(if has_ecg { 62 } else { 100 }.percent_height());

    let t_end = seconds.min(rec.pcg.duration_s()).max(1.0 / rec.pcg.rate.0);
    draw_pcg(&pcg_area, rec, a, t_end, text)?;
    if let Some(ecg) = &rec.ecg {
        draw_ecg(&ecg_area, ecg, a, t_end, text)?;
    }
    draw_ensemble(&right, a, text)
}

/// The PCG up to `t_end` with S1/S2 and the murmur shaded in the cycles that start in view.
fn draw_pcg<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rec: &LoadedRecording,
    a: &Analysis,
    t_end: f64,
    text: bool,
) -> anyhow::Result<()> {
    let in_range = |t: f64| t < t_end;
    let axes = PanelAxes {
        caption: "PCG (S1 blue, S2 green, murmur red)",
        x_end: t_end,
        x_desc: "time (s)",
        y_desc: Some("normalised"),
        y_label_area: 50,
    };
    let mut chart = panel_chart(area, &axes, text)?;
    let cycles: Vec<_> = a.cycles.iter().filter(|c| in_range(c.s1.start.0)).collect();
    shade(
        &mut chart,
        murmur_spans(a).into_iter().filter(|s| in_range(s.0)),
        (-1.05, 1.05),
        MURMUR_COLOUR.mix(0.15).filled(),
    )?;
    shade(
        &mut chart,
        cycles.iter().map(|c| (c.s1.start.0, c.s1.end.0)),
        (-1.05, 1.05),
        S1_COLOUR.mix(0.3).filled(),
    )?;
    shade(
        &mut chart,
        cycles.iter().map(|c| (c.s2.start.0, c.s2.end.0)),
        (-1.05, 1.05),
        S2_COLOUR.mix(0.3).filled(),
    )?;
    chart
        .draw_series(LineSeries::new(
            envelope_points(&rec.pcg.samples, rec.pcg.rate.0, t_end, 2400),
            TRACE_COLOUR.stroke_width(1),
        ))
        .map_err(plot_err)?;
    Ok(())
}

/// The ECG beneath the PCG, with the R peaks the cycles were gated on (the trace itself only
/// when the raw ECG was given).
fn draw_ecg<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    ecg: &LoadedEcg,
    a: &Analysis,
    t_end: f64,
    text: bool,
) -> anyhow::Result<()> {
    let in_range = |t: f64| t < t_end;
    let axes = PanelAxes {
        caption: "ECG (R peaks red)",
        x_end: t_end,
        x_desc: "time (s)",
        y_desc: None,
        y_label_area: 50,
    };
    let mut ec = panel_chart(area, &axes, text)?;
    let peaks: Vec<f64> = match ecg {
        LoadedEcg::RPeaks(p) => p.iter().map(|s| s.0).collect(),
        LoadedEcg::Raw(_) => a
            .cycles
            .iter()
            .filter_map(|c| c.r_peak.map(|r| r.0))
            .collect(),
    };
    ec.draw_series(peaks.into_iter().filter(|t| in_range(*t)).map(|t| {
        PathElement::new(
            vec![(t, -1.05), (t, 1.05)],
            MURMUR_COLOUR.mix(0.6).stroke_width(1),
        )
    }))
    .map_err(plot_err)?;
    if let LoadedEcg::Raw(sig) = ecg {
        ec.draw_series(LineSeries::new(
            envelope_points(&sig.samples, sig.rate.0, t_end, 2400),
            TRACE_COLOUR.stroke_width(1),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// The ensemble-averaged cycle with its S1/S2 and murmur phase, or an empty panel saying why
/// there is none.
fn draw_ensemble<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: &Analysis,
    text: bool,
) -> anyhow::Result<()> {
    let Some(e) = a.ensemble.as_ref().filter(|e| !e.waveform.is_empty()) else {
        return draw_no_ensemble(area, text);
    };
    let len = e.waveform.len().max(e.envelope.len()) as f64 / e.rate.0;
    let axes = PanelAxes {
        caption: &format!("ensemble of {} cycles", e.cycles),
        x_end: len,
        x_desc: "time from S1 onset (s)",
        y_desc: None,
        y_label_area: 40,
    };
    let mut ch = panel_chart(area, &axes, text)?;
    shade(
        &mut ch,
        [(e.s1.start.0, e.s1.end.0)],
        (-1.05, 1.05),
        S1_COLOUR.mix(0.3).filled(),
    )?;
    shade(
        &mut ch,
        [(e.s2.start.0, e.s2.end.0)],
        (-1.05, 1.05),
        S2_COLOUR.mix(0.3).filled(),
    )?;
    if a.murmur.status == MurmurStatus::Present {
        shade(
            &mut ch,
            ensemble_murmur_spans(a, e, len),
            (-1.05, 1.05),
            MURMUR_COLOUR.mix(0.15).filled(),
        )?;
    }
    ch.draw_series(LineSeries::new(
        envelope_points(&e.waveform, e.rate.0, len, 800),
        RGBColor(170, 170, 170).stroke_width(1),
    ))
    .map_err(plot_err)?;
    ch.draw_series(LineSeries::new(
        curve_points(&e.envelope, e.rate.0),
        TRACE_COLOUR.stroke_width(2),
    ))
    .map_err(plot_err)?;
    Ok(())
}

/// Where the murmur is shaded in the ensemble cycle ([`auscult_dsp::murmur_marks`], as in the
/// recording's panel: systole from S1's end to S2's start, diastole from S2's end to the
/// cycle's end at `len`, narrowed to the part the finding names).
fn ensemble_murmur_spans(a: &Analysis, e: &EnsembleCycle, len: f64) -> Vec<(f64, f64)> {
    let Some(timing) = present_timing(a) else {
        return Vec::new();
    };
    murmur_marks(
        timing,
        a.murmur.phase,
        (e.s1.end.0, e.s2.start.0),
        (e.s2.end.0, len),
    )
    .collect()
}

/// The right-hand panel when too few clean cycles were averaged.
fn draw_no_ensemble<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: bool,
) -> anyhow::Result<()> {
    let mut rb = ChartBuilder::on(area);
    rb.margin(8)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 40 } else { 0 });
    if text {
        rb.caption("no ensemble (too few clean cycles)", ("sans-serif", 16));
    }
    let mut ch = rb
        .build_cartesian_2d(0.0..1.0, -1.0..1.0)
        .map_err(plot_err)?;
    ch.configure_mesh()
        .x_labels(0)
        .y_labels(0)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use auscult_dsp::MurmurTiming;

    #[test]
    fn the_embedded_font_draws_text_into_a_bitmap() {
        assert!(font_registered(), "the embedded font does not load");
        let (w, h) = (240u32, 40u32);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).expect("fill");
            root.draw_text(
                "flagged for review",
                &("sans-serif", 20).into_font().color(&BLACK),
                (4, 8),
            )
            .expect("text drawn");
            root.present().expect("present");
        }
        let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
        assert!(dark > 100, "only {dark} dark pixels: no glyphs were drawn");
    }

    /// The engine's analysis of a default synthetic recording (PCG only).
    fn synthetic_analysis() -> Analysis {
        use auscult_dsp::{Hz, Recording, Signal, analyze};
        let synth = auscult_synth::generate(&auscult_synth::SynthConfig::default())
            .expect("synthetic recording");
        analyze(&Recording {
            pcg: Signal {
                samples: &synth.pcg,
                rate: Hz(synth.pcg_rate_hz),
            },
            ecg: None,
        })
        .expect("analysed")
    }

    #[test]
    fn the_caption_names_every_flag_reason_with_its_evidence() {
        use auscult_dsp::FlagReason;
        let mut a = synthetic_analysis();
        a.flagged = false;
        a.flag_reasons.clear();
        let [first, second] = figure_caption(&a, "x.wav");
        assert!(first.starts_with("x.wav: "), "{first}");
        assert!(!first.contains("ECG"), "no ECG was given: {first}");
        assert_eq!(second, "not flagged");
        a.ecg_set_aside = Some(auscult_dsp::EcgSetAside::NotFollowed);
        let [first, _] = figure_caption(&a, "x.wav");
        assert!(first.ends_with(", ECG set aside (not followed)"), "{first}");
        a.ecg_set_aside = None;

        a.flagged = true;
        a.flag_reasons = vec![FlagReason::IrregularRhythm, FlagReason::AbnormalScore];
        a.abnormal_score = Some(0.97);
        let [_, second] = figure_caption(&a, "x.wav");
        assert!(
            second.starts_with("flagged for review: irregular rhythm"),
            "{second}"
        );
        assert!(
            second.ends_with("; learned abnormality score 0.97"),
            "{second}"
        );

        // An absent call says what it could not have heard, after the flag.
        a.murmur = auscult_dsp::MurmurFinding {
            softest_grade: Some(3),
            ..auscult_dsp::MurmurFinding::undescribed(MurmurStatus::Absent, 0.9)
        };
        let [first, second] = figure_caption(&a, "x.wav");
        assert!(first.contains(", no murmur"), "{first}");
        assert!(
            second.ends_with(
                "; a murmur softer than grade 3/6 would stay under this recording's noise"
            ),
            "{second}"
        );
    }

    #[test]
    fn the_murmur_is_shaded_where_its_phase_says() {
        use auscult_dsp::MurmurPhase;
        let mut a = synthetic_analysis();
        let c = a
            .cycles
            .iter()
            .find(|c| c.accepted)
            .cloned()
            .expect("an accepted cycle");
        a.murmur.status = MurmurStatus::Present;
        a.murmur.timing = Some(MurmurTiming::Systolic);
        let (s, e) = (c.s1.end.0, c.s2.start.0);
        let first = |a: &Analysis| murmur_spans(a)[0];
        a.murmur.phase = Some(MurmurPhase::Holo);
        assert_eq!(first(&a), (s, e));
        a.murmur.phase = Some(MurmurPhase::Late);
        let (ls, le) = first(&a);
        assert!((ls - (s + e) / 2.0).abs() < 1e-9 && (le - e).abs() < 1e-9);
        a.murmur.phase = Some(MurmurPhase::Early);
        let (es, ee) = first(&a);
        assert!((es - s).abs() < 1e-9 && (ee - (s + e) / 2.0).abs() < 1e-9);
        a.murmur.timing = Some(MurmurTiming::Diastolic);
        a.murmur.phase = Some(MurmurPhase::Mid);
        let (ms, me) = first(&a);
        let (ds, de) = (c.s2.end.0, c.end.0);
        assert!((ms - (ds + 0.25 * (de - ds))).abs() < 1e-9);
        assert!((me - (ds + 0.75 * (de - ds))).abs() < 1e-9);
        a.murmur.status = MurmurStatus::Absent;
        assert!(murmur_spans(&a).is_empty());
    }

    #[test]
    fn the_ensemble_shades_the_same_part_of_the_phase() {
        use auscult_dsp::MurmurPhase;
        let mut a = synthetic_analysis();
        let e = a.ensemble.clone().expect("an ensemble");
        let len = 1.0;
        a.murmur.status = MurmurStatus::Present;
        a.murmur.timing = Some(MurmurTiming::Diastolic);
        a.murmur.phase = Some(MurmurPhase::Late);
        let (ds, de) = (e.s2.end.0, len);
        let spans = ensemble_murmur_spans(&a, &e, len);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert!((spans[0].0 - (ds + de) / 2.0).abs() < 1e-9, "{spans:?}");
        assert!((spans[0].1 - de).abs() < 1e-9, "{spans:?}");
        a.murmur.timing = Some(MurmurTiming::Both);
        a.murmur.phase = Some(MurmurPhase::Holo);
        assert_eq!(
            ensemble_murmur_spans(&a, &e, len),
            vec![(e.s1.end.0, e.s2.start.0), (ds, de)]
        );
        a.murmur.status = MurmurStatus::Absent;
        assert!(ensemble_murmur_spans(&a, &e, len).is_empty());
    }

    #[test]
    fn envelope_points_keep_peaks_and_bound_size() {
        let mut s: Vec<f32> = (0..100_000).map(|i| ((i % 7) as f32 - 3.0) / 3.0).collect();
        s[54_321] = -40.0;
        let pts = envelope_points(&s, 1000.0, 100.0, 1000);
        assert!(pts.len() <= 2002);
        assert!(
            pts.iter().any(|p| p.1 == -1.05),
            "the spike is clamped, not lost"
        );
        assert!(
            pts.iter().any(|p| (p.1 - 1.0).abs() < 1e-9),
            "the body fills the scale"
        );
        assert!(
            envelope_points(&s, 1000.0, 0.5, 10)
                .iter()
                .all(|p| p.0 < 0.5)
        );
    }
}

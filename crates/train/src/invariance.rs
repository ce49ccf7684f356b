//! Device invariance on real recordings (`auscult-train invariance`): each recording of
//! `shared/data` analysed as recorded and as other stethoscopes might have heard it (gain ×0.1
//! and ×10, first-order high-pass "device responses" at 30 and 150 Hz, a first-order low-pass
//! at 300 Hz, white noise at 20 dB SNR), with the committed models. Counts, per database and
//! variant, how many recordings keep their murmur status, their flag reasons and `flagged`
//! (issue 8: "the same real and synthetic recordings … keep their murmur status and flag
//! reasons"). The ECG, where a record has one, is left as recorded: only the stethoscope
//! changes.
//!
//! Deterministic: the noise comes from a ChaCha8 generator seeded by the file name, so two runs
//! give the same table.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use auscult_dsp::analysis::Analyzer;
use auscult_dsp::features::{FEATURE_NAMES, NUM_FEATURES};
use auscult_dsp::filter::Sos;
use auscult_dsp::model::{Analysis, FlagReason, Recording, Signal};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::augment::{add_white_noise, seed};
use crate::data::{DATABASES, read_labels};
use crate::score::wilson;

/// How a variant changes the PCG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// Every sample times this gain.
    Gain(f32),
    /// First-order Butterworth high-pass at this many Hz.
    HighPass(f64),
    /// First-order Butterworth low-pass at this many Hz.
    LowPass(f64),
    /// White noise at this SNR (dB) of the recording's own power.
    Noise(f64),
}

/// The variants measured, in table order.
pub const VARIANTS: [Variant; 6] = [
    Variant::Gain(0.1),
    Variant::Gain(10.0),
    Variant::HighPass(30.0),
    Variant::HighPass(150.0),
    Variant::LowPass(300.0),
    Variant::Noise(20.0),
];

impl Variant {
    /// A short name for tables and the flips file.
    pub fn name(self) -> String {
        match self {
            Variant::Gain(g) => format!("gain x{g}"),
            Variant::HighPass(f) => format!("high-pass {f} Hz"),
            Variant::LowPass(f) => format!("low-pass {f} Hz"),
            Variant::Noise(snr) => format!("white noise {snr} dB SNR"),
        }
    }

    /// The PCG `x` (sampled at `rate` Hz) as this variant hears it; `file` seeds the noise.
    pub fn apply(self, x: &[f32], rate: f64, file: &str) -> Vec<f32> {
        let mut y = x.to_vec();
        match self {
            Variant::Gain(g) => y.iter_mut().for_each(|v| *v *= g),
            Variant::HighPass(f) => Sos::butter_highpass(1, f, rate).apply(&mut y),
            Variant::LowPass(f) => Sos::butter_lowpass(1, f.min(0.45 * rate), rate).apply(&mut y),
            Variant::Noise(snr_db) => {
                add_white_noise(
                    &mut y,
                    snr_db,
                    &mut ChaCha8Rng::seed_from_u64(seed(file, 0)),
                );
            }
        }
        y
    }
}

/// What one analysis concluded that a device must not change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Findings {
    status: &'static str,
    reasons: Vec<FlagReason>,
    flagged: bool,
}

impl Findings {
    fn of(a: &Analysis) -> Self {
        Findings {
            status: a.murmur.status.call().as_str(),
            reasons: a.flag_reasons.clone(),
            flagged: a.flagged,
        }
    }

    fn describe(&self) -> String {
        let reasons: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
        format!("{} [{}]", self.status, reasons.join(", "))
    }
}

/// Kept counts of one database and variant.
#[derive(Debug, Clone, Copy, Default)]
struct Kept {
    n: u32,
    status: u32,
    reasons: u32,
    flagged: u32,
}

/// The table and the flips of [`measure`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Markdown: per database and variant, the share keeping status, reasons and `flagged`.
    pub table: String,
    /// One line per recording and variant whose findings changed.
    pub flips: String,
    /// Markdown: per feature, how far each variant moves it against its spread over recordings.
    pub features: String,
    /// Recordings analysed (each with every variant).
    pub recordings: usize,
}

/// Analyses every `every`-th recording of each database under `data` (1: all) as recorded and
/// under each of [`VARIANTS`].
///
/// # Errors
/// When a labels file cannot be read. A recording that cannot be read or analysed is skipped
/// and named on standard error (it has no findings to keep).
pub fn measure(data: &Path, every: usize) -> Result<Report> {
    let every = every.max(1);
    let mut analyzer = Analyzer::new().with_all_features();
    // Per feature: its value as recorded, and per variant its change, over the recordings.
    let mut base_values: Vec<Vec<f32>> = vec![Vec::new(); NUM_FEATURES];
    let mut changes: Vec<Vec<Vec<f32>>> = vec![vec![Vec::new(); VARIANTS.len()]; NUM_FEATURES];
    let mut kept = vec![[Kept::default(); VARIANTS.len()]; DATABASES.len()];
    let mut report = Report::default();
    for ds in ["physionet2016", "yaseen2018", "pascal"] {
        let items = read_labels(&data.join(ds))?;
        let mut seen = [0usize; DATABASES.len()];
        for item in &items {
            let Some(d) = DATABASES.iter().position(|db| *db == item.database()) else {
                continue;
            };
            seen[d] += 1;
            if (seen[d] - 1) % every != 0 {
                continue;
            }
            let rec = match item.read() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("skipping {}: {e:#}", item.file());
                    continue;
                }
            };
            let (base, base_features) = match analyze(&mut analyzer, &rec.as_recording()) {
                Some(b) => b,
                None => {
                    eprintln!("skipping {}: the engine refused it", item.file());
                    continue;
                }
            };
            if let Some(f) = &base_features {
                for (i, v) in f.iter().enumerate() {
                    if v.is_finite() {
                        base_values[i].push(*v);
                    }
                }
            }
            report.recordings += 1;
            let rate = rec.pcg.rate.0;
            for (v, variant) in VARIANTS.iter().enumerate() {
                let pcg = variant.apply(&rec.pcg.samples, rate, item.file());
                let mut heard = rec.as_recording();
                heard.pcg = Signal {
                    samples: &pcg,
                    rate: rec.pcg.rate,
                };
                let got = analyze(&mut analyzer, &heard).map(|(g, f)| {
                    if let (Some(a), Some(b)) = (&base_features, &f) {
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            if x.is_finite() && y.is_finite() {
                                changes[i][v].push(y - x);
                            }
                        }
                    }
                    g
                });
                let k = &mut kept[d][v];
                k.n += 1;
                let same_status = got.as_ref().is_some_and(|g| g.status == base.status);
                let same_reasons = got.as_ref().is_some_and(|g| g.reasons == base.reasons);
                let same_flag = got.as_ref().is_some_and(|g| g.flagged == base.flagged);
                k.status += u32::from(same_status);
                k.reasons += u32::from(same_reasons);
                k.flagged += u32::from(same_flag);
                if !(same_status && same_reasons) {
                    let after = got.map_or_else(|| "error".to_string(), |g| g.describe());
                    let _ = writeln!(
                        report.flips,
                        "{}\t{}\t{}\t{}",
                        item.file(),
                        variant.name(),
                        base.describe(),
                        after
                    );
                }
            }
        }
    }
    report.table = table(&kept);
    report.features = feature_table(&base_values, &changes);
    Ok(report)
}

/// The findings and features of one analysis, `None` when the engine refused it (a variant so
/// refused counts as changed).
fn analyze(
    analyzer: &mut Analyzer,
    rec: &Recording<'_>,
) -> Option<(Findings, Option<[f32; NUM_FEATURES]>)> {
    let evidence = analyzer.evidence(rec).ok()?;
    let features = evidence
        .features
        .as_ref()
        .filter(|_| evidence.quality.usable)
        .map(|f| f.values);
    Some((Findings::of(&analyzer.conclude(evidence)), features))
}

/// The trainer's [`crate::quantile`] of f32 values (infinite for none).
fn quantile(v: &[f32], q: f64) -> f64 {
    crate::quantile(v.iter().map(|&x| f64::from(x)).collect(), q)
}

/// Per feature: its spread over the recordings as recorded (interquartile range) and, per
/// variant, the median absolute change the variant makes over that spread. A feature a device
/// moves by a large share of what separates recordings describes the device.
fn feature_table(base: &[Vec<f32>], changes: &[Vec<Vec<f32>>]) -> String {
    let mut t = String::from("| feature | IQR over recordings |");
    for v in VARIANTS {
        let _ = write!(t, " {} |", v.name());
    }
    t.push_str(" largest |\n|---|---|");
    for _ in 0..=VARIANTS.len() {
        t.push_str("---|");
    }
    t.push('\n');
    let mut rows: Vec<(f64, String)> = Vec::new();
    for (i, name) in FEATURE_NAMES.iter().enumerate() {
        let iqr = quantile(&base[i], 0.75) - quantile(&base[i], 0.25);
        let mut row = format!("| {name} | {iqr:.4} |");
        let mut largest = 0.0f64;
        for c in &changes[i] {
            let abs: Vec<f32> = c.iter().map(|d| d.abs()).collect();
            let r = quantile(&abs, 0.5) / iqr;
            if r.is_finite() {
                largest = largest.max(r);
            }
            let _ = write!(row, " {r:.3} |");
        }
        let _ = write!(row, " {largest:.3} |");
        rows.push((largest, row));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, row) in rows {
        t.push_str(&row);
        t.push('\n');
    }
    t
}

fn table(kept: &[[Kept; VARIANTS.len()]]) -> String {
    let share = |k: u32, n: u32| {
        let (lo, hi) = wilson(k, n);
        let p = if n == 0 {
            f64::NAN
        } else {
            k as f64 / n as f64
        };
        format!("{p:.3} ({k}/{n}; {lo:.2}–{hi:.2})")
    };
    let mut t = String::from(
        "| database | variant | murmur status kept | flag reasons kept | `flagged` kept |\n\
         |---|---|---|---|---|\n",
    );
    let mut row = |db: &str, variant: Variant, k: Kept| {
        let _ = writeln!(
            t,
            "| {db} | {} | {} | {} | {} |",
            variant.name(),
            share(k.status, k.n),
            share(k.reasons, k.n),
            share(k.flagged, k.n)
        );
    };
    let mut all = [Kept::default(); VARIANTS.len()];
    for (d, db) in DATABASES.iter().enumerate() {
        for (v, variant) in VARIANTS.iter().enumerate() {
            let k = kept[d][v];
            let a = &mut all[v];
            a.n += k.n;
            a.status += k.status;
            a.reasons += k.reasons;
            a.flagged += k.flagged;
            row(db, *variant, k);
        }
    }
    for (v, variant) in VARIANTS.iter().enumerate() {
        row("all", *variant, all[v]);
    }
    t
}

/// `auscult-train invariance`: [`measure`], the table to standard output and `out/invariance.md`,
/// the flips to `out/invariance_flips.tsv`.
///
/// # Errors
/// When the data cannot be read or the files cannot be written.
pub fn run(data: &Path, out: &Path, every: usize) -> Result<()> {
    let report = measure(data, every)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let md = format!(
        "Device invariance: {} recordings (every {}th of each database), committed models\n\n{}",
        report.recordings,
        every.max(1),
        report.table
    );
    std::fs::write(out.join("invariance.md"), &md)
        .with_context(|| format!("writing {}", out.join("invariance.md").display()))?;
    std::fs::write(out.join("invariance_flips.tsv"), &report.flips)
        .with_context(|| format!("writing {}", out.join("invariance_flips.tsv").display()))?;
    std::fs::write(out.join("invariance_features.md"), &report.features)
        .with_context(|| format!("writing {}", out.join("invariance_features.md").display()))?;
    println!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_change_what_they_say_and_nothing_else() {
        let rate = 2000.0;
        let x: Vec<f32> = (0..4000)
            .map(|i| (2.0 * std::f64::consts::PI * 20.0 * i as f64 / rate).sin() as f32)
            .collect();
        let rms = |v: &[f32]| {
            (v[1000..].iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / (v.len() - 1000) as f64)
                .sqrt()
        };
        let base = rms(&x);
        let ten = Variant::Gain(10.0).apply(&x, rate, "f");
        assert!((rms(&ten) / base - 10.0).abs() < 1e-4);
        // 20 Hz under a first-order 150 Hz high-pass: |H| = 20/√(20²+150²) ≈ 0.132.
        let hp = Variant::HighPass(150.0).apply(&x, rate, "f");
        assert!(
            (rms(&hp) / base - 0.132).abs() < 0.01,
            "{}",
            rms(&hp) / base
        );
        // ... and under a 300 Hz low-pass nearly all of it passes.
        let lp = Variant::LowPass(300.0).apply(&x, rate, "f");
        assert!((rms(&lp) / base - 1.0).abs() < 0.01);
        // 20 dB SNR: the added noise's power is a hundredth of the signal's; seeded by the file.
        let n = Variant::Noise(20.0).apply(&x, rate, "f");
        let noise: Vec<f32> = n.iter().zip(&x).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&x) / rms(&noise)).log10();
        assert!((snr - 20.0).abs() < 0.5, "{snr}");
        assert_eq!(n, Variant::Noise(20.0).apply(&x, rate, "f"));
        assert_ne!(n, Variant::Noise(20.0).apply(&x, rate, "g"));
    }
}

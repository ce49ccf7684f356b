//! Noise removal locked to the heartbeat: the recording a clinician listens to, with what is not
//! locked to the cardiac cycle taken out.
//!
//! Heart sounds and murmurs come back at the same place in every cycle; breathing, rubbing,
//! speech and spikes do not. The PCG is cut into short overlapping frames (STFT, Hann, 75 %
//! overlap, about 64 ms). Each frame gets a *cycle phase* from the engine's segmentation: its
//! delay after the S1 onset (systole), after the S2 onset (early diastole) or before the next S1
//! onset (late diastole), so a varying heart rate, which mostly changes diastole, does not smear
//! the sounds. Then, per frequency bin:
//!
//! - the **noise floor** `N(t, f)` is a low quantile of the power over a sliding window of
//!   0.65 s (bias-corrected for exponentially distributed noise power), shorter than half a
//!   breath, so it follows breathing's rise and fall, and bursts longer than that (speech);
//! - the **locked power** `S(t, f)` is the median, over the neighbouring cycles, of the power at
//!   the same cycle phase, less their noise floor (the cycle-synchronous ensemble in the power
//!   domain, so noise-like murmurs, whose waveform averages away, keep their power), kept where
//!   it stands `significance` spreads above the low end of the unlocked ensemble over the phases
//!   or, for noise that rises and falls (breathing), above its centre, and where the connected
//!   region of such bins (in time and frequency) holds enough evidence in all
//!   ([`DenoiseOptions::region_evidence`]: a heart sound or a murmur fills a broad region, or a
//!   small one far over the noise; noise that passes by chance leaves small, weak patches). It
//!   is widened by `phase_spread` in time so a sound found a little early or late is not cut;
//! - this cycle's own estimate `max(P − N, 0)` is kept up to `headroom` above `S`, so real
//!   beat-to-beat variation (a louder S2 in inspiration, a split) stays, while a bin standing
//!   further over what the other cycles share is taken for a burst they do not share (rubbing,
//!   speech, a knock over a heart sound): the further over, the less of it is kept
//!   ([`DenoiseOptions::burst_exponent`]);
//! - the gain is the square root of that estimate over the frame's power (power subtraction,
//!   which preserves the energy of the sounds on average, where a Wiener gain would shrink a
//!   murmur), floored at `floor_db`.
//!
//! Frames with no cycle phase (before the first or after the last cycle, long gaps) and whole
//! recordings with too few usable cycles fall back to stationary spectral gating against the
//! noise floor, and [`Denoised::method`] says so.
//!
//! Gains never exceed one: the output keeps the input's rate, length and level (nothing is
//! normalised or amplified). FFTs are planned once per [`Denoiser`] and frame length, and the
//! frame buffers are reused. No I/O; never panics on any input.

use std::f64::consts::{LN_2, PI};
use std::sync::Arc;

use ndarray::{Array2, ArrayViewMut1};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::error::DspError;
use crate::model::{Analysis, Cycle, Signal};
use crate::preprocess::{BAND_HIGH, BAND_LOW, MAX_PCG_RATE, MIN_PCG_RATE};
use crate::units::{Hz, Seconds};

/// How far before a sound's detected onset its cycle phase starts: onsets are found to about
/// ±30 ms, and a frame reaches half its length ahead of its centre.
const ONSET_MARGIN: f64 = 0.06;
/// The longest S1-onset-to-S2-onset interval that is taken as a systole.
const MAX_SYSTOLE: f64 = 0.6;
/// The longest half diastole: frames further from both their S2 and the next S1 have no phase.
const MAX_HALF_DIASTOLE: f64 = 1.2;
/// Two onsets further apart than this are not in one cycle (a gap in the segmentation).
const MAX_ANCHOR_GAP: f64 = 2.5;
/// Frames from at least this many cycles must share a phase for its ensemble to be trusted.
const MIN_SHARED: usize = 3;

/// How the denoiser works; the defaults are the measured ones (see `crates/dsp/DENOISE.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct DenoiseOptions {
    /// Target STFT frame length (rounded to a power of two in samples).
    pub frame: Seconds,
    /// Lowest gain, dB (how deep noise is cut).
    pub floor_db: f64,
    /// How far above the cycles' shared (locked) power one cycle may rise, dB. 5.5 since
    /// 2026-12-07 (3 before), with [`DenoiseOptions::burst_exponent`] (DENOISE.md).
    pub headroom_db: f64,
    /// How steeply a bin standing above the headroom is brought down: what is kept is
    /// `cap · (cap / own)^burst_exponent`, where `own` is the bin's power less the noise floor
    /// and `cap` the locked power times the headroom. A bin far over what the cycles share is
    /// mostly burst (rubbing, speech, a knock over a heart sound), so less of it is kept, not
    /// the cap. 0 holds it at the cap (the rule until the seventeenth stop of 2026-12-07,
    /// DENOISE.md).
    pub burst_exponent: f64,
    /// Fewest cycles sharing a frame's phase for a bin over the headroom to be brought down
    /// ([`DenoiseOptions::burst_exponent`]); with fewer it is held at the cap. With three or
    /// four beats (Yaseen's recordings) the median of their powers says little of what they
    /// share, and a mitral valve prolapse's click and late murmur, which move from beat to beat,
    /// were taken down: its systole lost 1.16 dB on average on clean recordings, 0.51 with 5
    /// (DENOISE.md, eighteenth stop).
    pub burst_min_cycles: usize,
    /// How many neighbouring cycles form the ensemble of a frame.
    pub neighbour_cycles: usize,
    /// Fewest well-formed cycles for cycle-locked denoising; fewer fall back to stationary gating.
    pub min_cycles: usize,
    /// Length of the sliding window of the noise floor, and of the phases the ensemble's floor
    /// is taken over. 0.65 s since 2026-12-06 (1.6 s before): a breath rises and falls within
    /// 1.5–2.5 s, which the longer window averaged over (DENOISE.md).
    pub noise_window: Seconds,
    /// The quantile of the power taken as the noise floor, 0..1.
    pub noise_quantile: f64,
    /// Over-subtraction of the noise floor in the stationary fallback.
    pub fallback_oversubtraction: f64,
    /// Frequencies above this are cut to the floor (heart sounds and murmurs lie below it).
    pub max_frequency: Hz,
    /// How far a locked sound is widened in time on each side.
    pub phase_spread: Seconds,
    /// How many spreads of a noise-only estimate the locked power must stand above zero
    /// (the spread is the noise floor over the square root of the cycles shared). 2 since
    /// 2026-12-08 (2.5 before), with [`DenoiseOptions::region_evidence`].
    pub significance: f64,
    /// The least evidence a connected region of locked bins must hold to be kept: the sum over
    /// its bins (neighbours in time or frequency) of how many spreads each stands above zero,
    /// times the bin's extent (hop × bin width), in spread·Hz·s. Noise that passes the
    /// significance test by chance does so in small patches that repeat at the same phase of
    /// neighbouring cycles (they share the ensemble), and the cleaned audio of a healthy heart
    /// then holds a faint "murmur"; a heart sound or murmur fills a region far larger, or stands
    /// far higher. At 75 % overlap a bin spans a quarter of a Hz·s, so 60 is 120 bins at two
    /// spreads (8 frames × 15 bins, 128 ms × 234 Hz, at the 64 ms frame), or 40 bins at six
    /// (DENOISE.md, eighteenth stop); 0 keeps every significant bin (the rule until then).
    pub region_evidence: f64,
    /// The quantile, over the phases of about two cycles, of the ensemble's power taken as the
    /// floor of what is not locked to the cycle.
    pub ensemble_floor_quantile: f64,
    /// How far the recording's own noise floor must swing over time ([`noise_swing`], natural
    /// log of its 90 % over its 10 % quantile) for noise that rises and falls, such as
    /// breathing, to be judged against the centre of what is not locked rather than its low
    /// floor. Breathing swings by 7–8, white noise by about 1. Infinite turns it off (the rule
    /// before 2026-12-06, fifth stop); only with cycles from an ECG until 2026-12-07, sixteenth
    /// stop (DENOISE.md).
    pub modulated_swing: f64,
    /// How far each S1 and S2 onset may be moved to where its sound best matches the same
    /// sound of the other cycles ([`align_anchors`]); 0 turns it off. The segmentation places
    /// onsets on a 20 ms grid and, at 0 dB, one in eight more than 25 ms off; the ensemble
    /// of a phase then mixes sounds that do not line up (DENOISE.md, sixteenth stop).
    pub align_reach: Seconds,
    /// How far an onset may move where its sound is found further off: only to a match of at
    /// least [`ALIGN_FAR_MIN_MATCH`] that beats the match where the segmentation put it by
    /// [`ALIGN_FAR_MIN_GAIN`], and never by more than [`ALIGN_FAR_GAP_SHARE`] of the gap to the
    /// next or last onset (so an S1 cannot reach its S2 in a fast heart). At 0 dB the
    /// segmentation puts up to 8 % of a mixture's onsets more than 100 ms off, on a lump of the
    /// noise (DENOISE.md, sixteenth stop). Below `align_reach` turns it off.
    pub align_far_reach: Seconds,
}

impl Default for DenoiseOptions {
    fn default() -> Self {
        DenoiseOptions {
            frame: Seconds(0.064),
            floor_db: -30.0,
            headroom_db: 5.5,
            burst_exponent: 3.0,
            burst_min_cycles: 5,
            neighbour_cycles: 16,
            min_cycles: 3,
            noise_window: Seconds(0.65),
            noise_quantile: 0.2,
            fallback_oversubtraction: 2.0,
            max_frequency: Hz(2000.0),
            phase_spread: Seconds(0.016),
            significance: 2.0,
            region_evidence: 60.0,
            ensemble_floor_quantile: 0.2,
            modulated_swing: 3.0,
            align_reach: Seconds(0.03),
            align_far_reach: Seconds(0.12),
        }
    }
}

/// Why the whole recording was denoised without the cardiac cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// The segmentation found no cycles.
    NoCycles,
    /// Too few well-formed cycles to tell what repeats from what does not.
    TooFewCycles {
        /// How many well-formed cycles there were.
        usable: usize,
    },
}

/// What the noise was judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DenoiseMethod {
    /// Against the cycle-synchronous ensemble of the segmented cycles.
    CycleLocked {
        /// Well-formed cycles used.
        cycles: usize,
        /// Fraction of the frames judged against the ensemble (the rest, e.g. before the first
        /// cycle, were gated against the stationary noise floor).
        locked_fraction: f64,
    },
    /// Stationary-noise spectral gating only (no usable segmentation).
    Stationary {
        /// Why.
        reason: FallbackReason,
    },
}

/// A cleaned recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Denoised {
    /// The cleaned PCG: same rate, same number of samples and same scale as the input.
    pub samples: Vec<f32>,
    /// Its rate (the input's).
    pub rate: Hz,
    /// How it was cleaned.
    pub method: DenoiseMethod,
    /// How much energy was removed, dB (input energy over output energy; 0 for silence).
    pub removed_db: f64,
}

/// The denoiser with its FFT plans and buffers. One per thread; `Send`.
pub struct Denoiser {
    options: DenoiseOptions,
    planner: RealFftPlanner<f32>,
    plan: Option<Plan>,
}

impl std::fmt::Debug for Denoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoiser")
            .field("options", &self.options)
            .field("frame_len", &self.plan.as_ref().map(|p| p.len))
            .finish()
    }
}

/// The FFTs and buffers of one frame length.
struct Plan {
    len: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch_forward: Vec<Complex<f32>>,
    scratch_inverse: Vec<Complex<f32>>,
}

impl Plan {
    fn new(planner: &mut RealFftPlanner<f32>, len: usize) -> Plan {
        let forward = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        // Periodic Hann: with a hop of a quarter frame its square sums to a constant.
        let window = (0..len)
            .map(|i| (0.5 - 0.5 * (2.0 * PI * i as f64 / len as f64).cos()) as f32)
            .collect();
        Plan {
            len,
            frame: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            scratch_forward: forward.make_scratch_vec(),
            scratch_inverse: inverse.make_scratch_vec(),
            forward,
            inverse,
            window,
        }
    }
}

impl Default for Denoiser {
    fn default() -> Self {
        Denoiser::new(DenoiseOptions::default())
    }
}

/// The STFT of a recording: row `m` is the frame centred on sample `m · hop`, column `k` the
/// frequency bin `k · rate / frame length`.
struct Stft {
    hop: usize,
    /// The spectra, `frames × bins`.
    spectra: Array2<Complex<f32>>,
    /// Their power, `frames × bins`.
    power: Array2<f32>,
}

impl Stft {
    fn frames(&self) -> usize {
        self.spectra.nrows()
    }

    fn bins(&self) -> usize {
        self.spectra.ncols()
    }
}

impl Denoiser {
    /// A denoiser with `options`.
    pub fn new(options: DenoiseOptions) -> Denoiser {
        Denoiser {
            options,
            planner: RealFftPlanner::new(),
            plan: None,
        }
    }

    /// The options in use.
    pub fn options(&self) -> &DenoiseOptions {
        &self.options
    }

    /// Cleans the PCG of `analysis` (its cycles are the segmentation).
    ///
    /// # Errors
    /// As [`Denoiser::denoise`].
    pub fn denoise_analysis(
        &mut self,
        pcg: Signal<'_>,
        analysis: &Analysis,
    ) -> Result<Denoised, DspError> {
        self.denoise(pcg, &analysis.cycles)
    }

    /// Cleans `pcg` given its cycles (times in seconds from the start of `pcg`, as the engine's
    /// segmentation gives them; accepted cycles form the ensemble when there are enough of them).
    ///
    /// # Errors
    /// [`DspError::Empty`] for no samples, [`DspError::UnsupportedRate`] for a rate outside
    /// 1–48 kHz. Non-finite samples are treated as zeros.
    pub fn denoise(&mut self, pcg: Signal<'_>, cycles: &[Cycle]) -> Result<Denoised, DspError> {
        let rate = pcg.rate.0;
        if !(rate.is_finite() && (MIN_PCG_RATE.0..=MAX_PCG_RATE.0).contains(&rate)) {
            return Err(DspError::UnsupportedRate(pcg.rate));
        }
        if pcg.samples.is_empty() {
            return Err(DspError::Empty);
        }
        let x: Vec<f32> = pcg
            .samples
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect();
        let len = frame_len(self.options.frame.0, rate);
        if self.plan.as_ref().is_none_or(|p| p.len != len) {
            self.plan = Some(Plan::new(&mut self.planner, len));
        }
        let Some(plan) = self.plan.as_mut() else {
            return Err(DspError::Empty);
        };
        let opts = &self.options;
        let mut stft = analyse(plan, &x);
        let hop_s = stft.hop as f64 / rate;
        let active_bins = (((opts.max_frequency.0.max(0.0) * len as f64 / rate).ceil() as usize)
            + 1)
        .min(stft.bins());
        let noise = noise_floor(&stft, active_bins, hop_s, opts.noise_window, opts);
        // Noise that rises and falls (breathing) spreads the ensemble over the phases more than
        // its low floor allows for: judge a locked sound against the centre of what is not
        // locked. From the sound alone too since the sound's rate is no longer read at the
        // breaths' pace (DENOISE.md, sixteenth stop).
        let band = band_bins(len, rate, active_bins);
        let centred = f64::from(noise_swing(&noise, band)) > opts.modulated_swing;

        let mut anchors = anchors(cycles, x.len() as f64 / rate);
        align_anchors(
            &x,
            rate,
            opts.align_reach.0,
            opts.align_far_reach.0,
            &mut anchors,
        );
        let usable = anchors.iter().filter(|a| a.sound == Sound::S2).count();
        let floor = 10f64.powf(opts.floor_db.min(0.0) / 20.0) as f32;
        let mut gains = Array2::from_elem(stft.power.raw_dim(), floor);
        let gating = Gating {
            stft: &stft,
            noise: &noise,
            floor,
            opts,
        };
        let method = if usable >= opts.min_cycles.max(1) {
            let phases = phases(&anchors, stft.frames(), stft.hop, rate);
            let (locked, shared) = locked_power(&stft, &phases, active_bins, hop_s, opts, centred);
            let mut locked_frames = 0usize;
            for ((m, row), frame_gains) in locked.iter().enumerate().zip(gains.outer_iter_mut()) {
                match row {
                    Some(row) => {
                        locked_frames += 1;
                        gating.locked_gains(m, row, shared[m], frame_gains);
                    }
                    None => gating.stationary_gains(m, frame_gains),
                }
            }
            DenoiseMethod::CycleLocked {
                cycles: usable,
                locked_fraction: locked_frames as f64 / stft.frames().max(1) as f64,
            }
        } else {
            // Too few cycles to tell what repeats. A murmur that fills diastole lifts the floor
            // of a window shorter than a cycle as much as noise does, and gating against it
            // took Yaseen's short mitral stenoses' rumble down 1.42 dB on average: gate against
            // the lower of that floor and the whole recording's (its quietest part, systole;
            // for steady noise the two are the same). DENOISE.md, eighteenth stop.
            // A window twice the recording: every frame's covers all of it.
            let whole = noise_floor(
                &stft,
                active_bins,
                hop_s,
                Seconds(2.0 * x.len() as f64 / rate),
                opts,
            );
            let lower = Array2::from_shape_fn(noise.raw_dim(), |i| noise[i].min(whole[i]));
            let gating = Gating {
                noise: &lower,
                ..gating
            };
            for (m, frame_gains) in gains.outer_iter_mut().enumerate() {
                gating.stationary_gains(m, frame_gains);
            }
            DenoiseMethod::Stationary {
                reason: if usable == 0 {
                    FallbackReason::NoCycles
                } else {
                    FallbackReason::TooFewCycles { usable }
                },
            }
        };
        for (s, g) in stft.spectra.iter_mut().zip(gains.iter()) {
            *s *= *g;
        }
        let samples = synthesise(plan, &stft, x.len());
        let energy = |v: &[f32]| v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let (e_in, e_out) = (energy(&x), energy(&samples));
        let removed_db = if e_in > 0.0 && e_out > 0.0 {
            10.0 * (e_in / e_out).log10()
        } else {
            0.0
        };
        Ok(Denoised {
            samples,
            rate: pcg.rate,
            method,
            removed_db,
        })
    }
}

/// Cleans `pcg` with the default options and a fresh [`Denoiser`] (reuse a `Denoiser` in loops).
///
/// # Errors
/// As [`Denoiser::denoise`].
pub fn denoise(pcg: Signal<'_>, cycles: &[Cycle]) -> Result<Denoised, DspError> {
    Denoiser::default().denoise(pcg, cycles)
}

/// The power of two nearest to `seconds` at `rate`, at least 16 samples.
fn frame_len(seconds: f64, rate: f64) -> usize {
    let target = (seconds * rate).max(16.0);
    let exp = target.log2().round().clamp(4.0, 16.0) as u32;
    1usize << exp
}

/// The STFT of `x` with `plan`'s window, hop a quarter frame.
fn analyse(plan: &mut Plan, x: &[f32]) -> Stft {
    let len = plan.len;
    let hop = len / 4;
    let half = len / 2;
    let frames = x.len().div_ceil(hop) + 1;
    let bins = len / 2 + 1;
    let mut spectra = Array2::from_elem((frames, bins), Complex::new(0.0f32, 0.0));
    for (m, mut row) in spectra.outer_iter_mut().enumerate() {
        let start = (m * hop) as isize - half as isize;
        for (i, (f, w)) in plan.frame.iter_mut().zip(&plan.window).enumerate() {
            let idx = start + i as isize;
            *f = if idx >= 0 && (idx as usize) < x.len() {
                x[idx as usize] * w
            } else {
                0.0
            };
        }
        // Lengths come from the plan itself, so the transform cannot refuse them; should it
        // ever, the frame stays silent rather than the call panicking.
        if plan
            .forward
            .process_with_scratch(
                &mut plan.frame,
                &mut plan.spectrum,
                &mut plan.scratch_forward,
            )
            .is_ok()
        {
            for (bin, &v) in row.iter_mut().zip(&plan.spectrum) {
                *bin = v;
            }
        }
    }
    let power = spectra.map(|c| c.norm_sqr());
    Stft {
        hop,
        spectra,
        power,
    }
}

/// Weighted overlap-add of the (modified) spectra back to `n` samples.
fn synthesise(plan: &mut Plan, stft: &Stft, n: usize) -> Vec<f32> {
    let len = plan.len;
    let half = len / 2;
    let mut out = vec![0.0f64; n];
    let mut norm = vec![0.0f64; n];
    let scale = 1.0 / len as f32;
    for (m, spectrum) in stft.spectra.outer_iter().enumerate() {
        for (bin, &v) in plan.spectrum.iter_mut().zip(spectrum) {
            *bin = v;
        }
        // A real signal's DC and Nyquist bins are real; the inverse transform insists on it.
        plan.spectrum[0].im = 0.0;
        if let Some(last) = plan.spectrum.last_mut() {
            last.im = 0.0;
        }
        if plan
            .inverse
            .process_with_scratch(
                &mut plan.spectrum,
                &mut plan.frame,
                &mut plan.scratch_inverse,
            )
            .is_err()
        {
            continue;
        }
        let start = (m * stft.hop) as isize - half as isize;
        for (i, (&v, &w)) in plan.frame.iter().zip(&plan.window).enumerate() {
            let idx = start + i as isize;
            if idx >= 0 && (idx as usize) < n {
                let k = idx as usize;
                out[k] += f64::from(v * scale * w);
                norm[k] += f64::from(w * w);
            }
        }
    }
    out.iter()
        .zip(&norm)
        .map(|(&o, &w)| if w > 1e-9 { (o / w) as f32 } else { 0.0 })
        .collect()
}

/// The noise floor per frame and active bin (`frames × active`): the `noise_quantile` of the
/// power over a sliding `window`, divided by that quantile of a unit exponential distribution,
/// computed every few frames and interpolated between (once, where every frame's window holds
/// the whole recording).
fn noise_floor(
    stft: &Stft,
    active: usize,
    hop_s: f64,
    window: Seconds,
    opts: &DenoiseOptions,
) -> Array2<f32> {
    let frames = stft.frames();
    let q = opts.noise_quantile.clamp(0.01, 0.99);
    let bias = (-(1.0 - q).ln()) as f32;
    let half_window = ((window.0.max(hop_s) / hop_s / 2.0).round() as usize).max(1);
    let step = if half_window + 1 >= frames {
        frames.max(1)
    } else {
        4
    };
    let centres: Vec<usize> = (0..frames).step_by(step).collect();
    let mut at_centres = Array2::zeros((centres.len(), active));
    let mut buf = Vec::with_capacity(2 * half_window + 1);
    for (&c, mut at) in centres.iter().zip(at_centres.outer_iter_mut()) {
        let lo = c.saturating_sub(half_window);
        let hi = (c + half_window + 1).min(frames);
        for (k, at) in at.iter_mut().enumerate() {
            buf.clear();
            buf.extend((lo..hi).map(|m| stft.power[[m, k]]));
            let idx = ((buf.len() as f64 * q) as usize).min(buf.len() - 1);
            let (_, v, _) = buf.select_nth_unstable_by(idx, f32::total_cmp);
            *at = *v / bias;
        }
    }
    let mut out = Array2::zeros((frames, active));
    for (m, mut row) in out.outer_iter_mut().enumerate() {
        let ci = m / step;
        let next = (ci + 1).min(centres.len() - 1);
        let frac = if next > ci {
            (m - centres[ci]) as f32 / (centres[next] - centres[ci]) as f32
        } else {
            0.0
        };
        for ((o, &a), &b) in row
            .iter_mut()
            .zip(at_centres.row(ci))
            .zip(at_centres.row(next))
        {
            *o = a + frac * (b - a);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sound {
    S1,
    S2,
}

/// A sound onset that cycle phases are measured from.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    t: f64,
    sound: Sound,
    /// Whether its cycle was accepted by the engine's quality check.
    accepted: bool,
}

/// The S1 and S2 onsets of the well-formed cycles in time order, plus the end of a cycle when
/// it is an S1 onset the next cycle does not start with (the last cycle, or before a gap).
fn anchors(cycles: &[Cycle], duration: f64) -> Vec<Anchor> {
    let mut good: Vec<&Cycle> = cycles
        .iter()
        .filter(|c| {
            let (a, b, e) = (c.s1.start.0, c.s2.start.0, c.end.0);
            a.is_finite()
                && b.is_finite()
                && e.is_finite()
                && a >= 0.0
                && a < b
                && b < e
                && b - a <= MAX_SYSTOLE
                && e <= duration + 1e-6
        })
        .collect();
    good.sort_by(|p, q| p.s1.start.0.total_cmp(&q.s1.start.0));
    let mut out: Vec<Anchor> = Vec::with_capacity(2 * good.len() + 1);
    for (i, c) in good.iter().enumerate() {
        // Overlapping cycles: keep the first.
        if out.last().is_some_and(|l| l.t >= c.s1.start.0) {
            continue;
        }
        let accepted = c.accepted;
        out.push(Anchor {
            t: c.s1.start.0,
            sound: Sound::S1,
            accepted,
        });
        out.push(Anchor {
            t: c.s2.start.0,
            sound: Sound::S2,
            accepted,
        });
        let next_s1 = good.get(i + 1).map(|n| n.s1.start.0);
        let end_is_onset = next_s1.is_none_or(|n| n - c.end.0 > 0.05);
        if end_is_onset && c.end.0 < duration - 0.05 {
            out.push(Anchor {
                t: c.end.0,
                sound: Sound::S1,
                accepted,
            });
        }
    }
    out
}

/// The band the onsets are aligned in: the heart sounds' own low band, the first of
/// [`crate::features::BANDS`], below most breath, speech and rubbing noise.
const ALIGN_BAND: (f64, f64) = crate::features::BANDS[0];
/// The envelope's resolution for the alignment (seconds per value).
const ALIGN_STEP: f64 = 0.001;
/// The power envelope is averaged over this long (seconds) before it is compared.
const ALIGN_SMOOTHING: f64 = 0.015;
/// The stretch around an onset that is compared: from this long before it…
const ALIGN_BEFORE: f64 = 0.05;
/// …to this long after it (a sound and the start of what follows it).
const ALIGN_AFTER: f64 = 0.12;
/// How many times the templates are rebuilt from the moved onsets and the onsets moved again.
const ALIGN_PASSES: usize = 2;
/// An S2 onset is moved only where its stretch matches the S2 template at least this well
/// (Pearson correlation). S2 is shorter and softer than S1, and under noise its best match is
/// often elsewhere: moved unconditionally, a voice over the sound alone lost 0.6 dB; the same
/// condition on S1 lost speech-band noise 0.5 dB (DENOISE.md, sixteenth stop).
const ALIGN_S2_MIN_MATCH: f32 = 0.6;
/// A move beyond `align_reach` needs a match at least this good…
const ALIGN_FAR_MIN_MATCH: f32 = 0.8;
/// …and this much better than the match where the onset is.
const ALIGN_FAR_MIN_GAIN: f32 = 0.3;
/// A move beyond `align_reach` stays within this share of the gap to the neighbouring onsets.
const ALIGN_FAR_GAP_SHARE: f64 = 0.25;

/// Moves each S1 and S2 onset (by at most `reach` seconds in all) to where the envelope of its
/// sound best matches that sound's median envelope over all the cycles, twice; or further, up to
/// `far_reach` (and [`ALIGN_FAR_GAP_SHARE`] of the gaps to its neighbours), where the match there is
/// strong ([`ALIGN_FAR_MIN_MATCH`]) and clearly better than where it is
/// ([`ALIGN_FAR_MIN_GAIN`]): the segmentation took a lump of noise for the sound.
///
/// The envelope is the square root of the power in [`ALIGN_BAND`], averaged over
/// [`ALIGN_SMOOTHING`] at [`ALIGN_STEP`], of a copy of the recording with its spikes removed
/// ([`crate::spike::remove_spikes`]: a spike in the band rings for tens of milliseconds and
/// would pull the onset to itself). The match is the Pearson correlation over
/// [`ALIGN_BEFORE`]..[`ALIGN_AFTER`] around the onset, so the envelope's level in a cycle does
/// not matter. A sound's template is the median over its onsets, so a burst in a few cycles
/// does not shape it. Fewer than [`MIN_SHARED`] onsets of a sound far enough from the ends:
/// that sound is left as it is. The anchors stay in time order.
fn align_anchors(x: &[f32], rate: f64, reach: f64, far_reach: f64, anchors: &mut [Anchor]) {
    if !(reach.is_finite() && reach > 0.0) || anchors.len() < MIN_SHARED {
        return;
    }
    let far_reach = if far_reach.is_finite() {
        far_reach.max(reach)
    } else {
        reach
    };
    let (env, step) = alignment_envelope(x, rate);
    let before = (ALIGN_BEFORE / step).round() as isize;
    let len = ((ALIGN_BEFORE + ALIGN_AFTER) / step).round() as usize;
    let reach_steps = (reach / step).round() as isize;
    let far_steps = (far_reach / step).round() as isize;
    let at = |t: f64| (t / step).round() as isize;
    // The stretch of `env` compared at sample `c`, when it lies inside.
    let stretch = |c: isize| {
        let start = usize::try_from(c - before).ok()?;
        env.get(start..start + len)
    };
    let origin: Vec<f64> = anchors.iter().map(|a| a.t).collect();
    // How far each onset may move once its sound is found further off.
    let far_limit: Vec<f64> = (0..origin.len())
        .map(|i| {
            let gap = |j: Option<usize>| {
                j.and_then(|j| origin.get(j))
                    .map_or(f64::INFINITY, |o| (o - origin[i]).abs())
            };
            let nearest = gap(i.checked_sub(1)).min(gap(Some(i + 1)));
            far_reach.min(ALIGN_FAR_GAP_SHARE * nearest).max(reach)
        })
        .collect();
    let mut limit = vec![reach; anchors.len()];
    let mut column = Vec::new();
    let mut template = vec![0.0f32; len];
    for _ in 0..ALIGN_PASSES {
        for sound in [Sound::S1, Sound::S2] {
            // Onsets whose stretch lies inside the envelope wherever the near search takes it.
            let chosen: Vec<usize> = (0..anchors.len())
                .filter(|&i| {
                    let c = at(anchors[i].t);
                    anchors[i].sound == sound
                        && stretch(c - reach_steps).is_some()
                        && stretch(c + reach_steps).is_some()
                })
                .collect();
            if chosen.len() < MIN_SHARED {
                continue;
            }
            for (j, t) in template.iter_mut().enumerate() {
                column.clear();
                column.extend(
                    chosen
                        .iter()
                        .filter_map(|&i| stretch(at(anchors[i].t)).map(|w| w[j])),
                );
                *t = median(&mut column);
            }
            for &i in &chosen {
                let c = at(anchors[i].t);
                let matching =
                    |d: isize| stretch(c + d).map(|w| crate::quality::pearson(w, &template));
                // The match where the onset is, then the best near and the best at every shift
                // the envelope allows; a shift must match better than staying (a flat
                // envelope or template, where every match is 0, moves nothing).
                let here = matching(0).unwrap_or(0.0);
                let (mut near, mut far) = ((here, 0), (here, 0));
                for d in -far_steps..=far_steps {
                    let Some(r) = matching(d) else { continue };
                    if d.abs() <= reach_steps && r > near.0 {
                        near = (r, d);
                    }
                    if r > far.0 {
                        far = (r, d);
                    }
                }
                let mut best = near;
                if far.1.abs() > reach_steps
                    && far.0 >= ALIGN_FAR_MIN_MATCH
                    && far.0 - here >= ALIGN_FAR_MIN_GAIN
                {
                    best = far;
                    limit[i] = far_limit[i];
                }
                if sound == Sound::S2 && best.0 < ALIGN_S2_MIN_MATCH {
                    continue;
                }
                let moved = anchors[i].t + best.1 as f64 * step;
                anchors[i].t = moved.clamp(origin[i] - limit[i], origin[i] + limit[i]);
            }
        }
    }
    anchors.sort_by(|p, q| p.t.total_cmp(&q.t));
}

/// The envelope [`align_anchors`] compares, and its step in seconds: the square root of the
/// power in [`ALIGN_BAND`], averaged over [`ALIGN_SMOOTHING`], at [`ALIGN_STEP`], of a copy of
/// `x` with its spikes removed.
fn alignment_envelope(x: &[f32], rate: f64) -> (Vec<f32>, f64) {
    let mut clean = x.to_vec();
    crate::spike::remove_spikes(&mut clean, rate);
    let band = crate::filter::Sos::butter_bandpass(2, ALIGN_BAND.0, ALIGN_BAND.1, rate);
    let power: Vec<f32> = band.filtfilt(&clean).iter().map(|v| v * v).collect();
    let smoothing = ((ALIGN_SMOOTHING * rate) as usize) | 1;
    let factor = ((ALIGN_STEP * rate).round() as usize).max(1);
    let env =
        crate::envelope::block_mean(&crate::filter::moving_average(&power, smoothing), factor)
            .into_iter()
            .map(|v| v.max(0.0).sqrt())
            .collect();
    (env, factor as f64 / rate)
}

/// The three stretches of a cycle that phases are counted in, each from its own sound.
#[derive(Debug, Clone, Copy)]
enum Stretch {
    /// From just before S1 onset through systole.
    AfterS1,
    /// From just before S2 onset through the first half of diastole.
    AfterS2,
    /// The second half of diastole, counted back from the next S1 onset.
    BeforeS1,
}

impl Stretch {
    /// The range of delays (seconds from the anchor) it covers.
    fn range(self) -> (f64, f64) {
        match self {
            Stretch::AfterS1 => (-ONSET_MARGIN, MAX_SYSTOLE),
            Stretch::AfterS2 => (-ONSET_MARGIN, MAX_HALF_DIASTOLE),
            Stretch::BeforeS1 => (-MAX_HALF_DIASTOLE, -ONSET_MARGIN),
        }
    }
}

/// A frame's cycle phase: a slot shared by the same phase of every cycle.
#[derive(Debug, Clone, Copy)]
struct Phase {
    slot: usize,
    accepted: bool,
}

/// The cycle phase of every frame centre (`None` outside the cycles).
fn phases(anchors: &[Anchor], frames: usize, hop: usize, rate: f64) -> Vec<Option<Phase>> {
    let width = hop as f64 / rate;
    let slots = |s: Stretch| {
        let (lo, hi) = s.range();
        ((hi - lo) / width).ceil() as usize + 1
    };
    let base = |s: Stretch| match s {
        Stretch::AfterS1 => 0,
        Stretch::AfterS2 => slots(Stretch::AfterS1),
        Stretch::BeforeS1 => slots(Stretch::AfterS1) + slots(Stretch::AfterS2),
    };
    let slot_of = |s: Stretch, delay: f64| -> Option<usize> {
        let (lo, hi) = s.range();
        (delay >= lo && delay < hi).then(|| base(s) + ((delay - lo) / width) as usize)
    };
    (0..frames)
        .map(|m| {
            let t = (m * hop) as f64 / rate;
            let i = anchors.partition_point(|a| a.t <= t);
            let prev = i.checked_sub(1).and_then(|k| anchors.get(k));
            let next = anchors.get(i);
            let phase = |s: Stretch, a: &Anchor| {
                slot_of(s, t - a.t).map(|slot| Phase {
                    slot,
                    accepted: a.accepted,
                })
            };
            if let Some(q) = next.filter(|q| q.t - t <= ONSET_MARGIN) {
                let s = match q.sound {
                    Sound::S1 => Stretch::AfterS1,
                    Sound::S2 => Stretch::AfterS2,
                };
                return phase(s, q);
            }
            match (prev, next) {
                (Some(p), _) if p.sound == Sound::S1 => phase(Stretch::AfterS1, p),
                (Some(p), Some(q))
                    if p.sound == Sound::S2
                        && q.sound == Sound::S1
                        && q.t - p.t <= MAX_ANCHOR_GAP =>
                {
                    if t - p.t < (q.t - p.t) / 2.0 {
                        phase(Stretch::AfterS2, p)
                    } else {
                        phase(Stretch::BeforeS1, q)
                    }
                }
                (Some(p), _) => phase(Stretch::AfterS2, p),
                (None, Some(q)) if q.sound == Sound::S1 => phase(Stretch::BeforeS1, q),
                _ => None,
            }
        })
        .collect()
}

/// One frame's ensemble excess over the floor per bin, its scatter per bin, and how many cycles
/// shared its phase.
type Excess = (Vec<f32>, Vec<f32>, usize);

/// Per frame with a shared phase, the locked power per active bin, or `None` for frames with no
/// phase or a phase too few cycles share.
///
/// Per frame and bin: the median over the neighbouring cycles at that phase of the power, over
/// the median of an exponential variable (ln 2), less the ensemble's floor (a low quantile over
/// the phases of the noise window, see [`DenoiseOptions::ensemble_floor_quantile`]; when
/// `centred`, the centre of that ensemble instead); averaged over the 3 × 3
/// neighbourhood of frames and bins (a noisy estimate's spread shrinks); kept only where it
/// stands `significance` scatters above zero (the scatter of the ensemble over the phases where
/// nothing is locked, at least `floor / √cycles`) and its connected region holds
/// `region_evidence` ([`drop_weak_regions`]); then widened by `phase_spread` in time.
fn locked_power(
    stft: &Stft,
    phases: &[Option<Phase>],
    active: usize,
    hop_s: f64,
    opts: &DenoiseOptions,
    centred: bool,
) -> (Vec<Option<Vec<f32>>>, Vec<usize>) {
    let slots = phases
        .iter()
        .flatten()
        .map(|p| p.slot + 1)
        .max()
        .unwrap_or(0);
    // Frames of each phase in time order: from accepted cycles when most frames are in
    // accepted cycles, else from all.
    let accepted_frames = phases.iter().flatten().filter(|p| p.accepted).count();
    let all_frames = phases.iter().flatten().count();
    let only_accepted = accepted_frames * 2 >= all_frames && accepted_frames > 0;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); slots];
    for (m, p) in phases.iter().enumerate() {
        if let Some(p) = p
            && (p.accepted || !only_accepted)
        {
            members[p.slot].push(m);
        }
    }
    let k_cycles = opts.neighbour_cycles.max(MIN_SHARED);
    // Per frame: (the ensemble's mean power per bin, cycles shared). The median over cycles
    // divided by ln 2 is the mean of an exponentially distributed power, robust to a burst in
    // a few cycles.
    let mut ens: Vec<Option<(Vec<f32>, usize)>> = vec![None; stft.frames()];
    let mut pw = Vec::with_capacity(k_cycles);
    for (m, p) in phases.iter().enumerate() {
        let Some(p) = p else { continue };
        let list = &members[p.slot];
        if list.len() < MIN_SHARED {
            continue;
        }
        let i = list.partition_point(|&g| g < m);
        let hi = (i.saturating_sub(k_cycles / 2) + k_cycles).min(list.len());
        let lo = hi.saturating_sub(k_cycles);
        let near = &list[lo..hi];
        let mut mean = vec![0.0f32; active];
        for (k, v) in mean.iter_mut().enumerate() {
            pw.clear();
            pw.extend(near.iter().map(|&g| stft.power[[g, k]]));
            *v = median(&mut pw) / LN_2 as f32;
        }
        ens[m] = Some((mean, near.len()));
    }
    // What is not locked to the cycle spreads evenly over its phases in the ensemble, however
    // it is modulated (breathing): its floor is a low quantile of the ensemble over the phases
    // of the noise window around the frame.
    let half_window = ((opts.noise_window.0.max(hop_s) / hop_s / 2.0).round() as usize).max(1);
    let step = 4usize;
    let mut floor_at: Vec<f32> = vec![0.0; active];
    let mut width_at: Vec<f32> = vec![0.0; active];
    let mut vals: Vec<f32> = Vec::with_capacity(2 * half_window + 1);
    let mut raw: Vec<Option<Excess>> = vec![None; stft.frames()];
    let lambda = opts.significance.max(0.0) as f32;
    for m in 0..stft.frames() {
        let Some((mean, shared)) = ens[m].as_ref() else {
            continue;
        };
        if m % step == 0 || raw[..m].iter().rev().take(step).all(Option::is_none) {
            let lo = m.saturating_sub(half_window);
            let hi = (m + half_window + 1).min(stft.frames());
            for (k, (f, w)) in floor_at.iter_mut().zip(width_at.iter_mut()).enumerate() {
                vals.clear();
                vals.extend(ens[lo..hi].iter().flatten().map(|(e, _)| e[k]));
                let q = opts.ensemble_floor_quantile.clamp(0.05, 0.5);
                (*f, *w) = if centred {
                    // The centre and spread of what is not locked, from its lower part read as
                    // a normal distribution's 5 % and 35 % points: a locked sound must stand
                    // `significance` spreads above that centre, not above the low floor, and
                    // what it keeps is its excess over that centre.
                    let lower = quantile(&mut vals, 0.05);
                    let upper = quantile(&mut vals, 0.35);
                    let spread = (upper - lower).max(0.0) / NORMAL_5_TO_35;
                    (upper + NORMAL_35_TO_50 * spread, spread)
                } else {
                    // The floor, and how far the ensemble of what is not locked scatters over
                    // the phases: the width of its lower part (the upper part holds the sounds).
                    let floor = quantile(&mut vals, q);
                    let width = (quantile(&mut vals, 0.5) - quantile(&mut vals, q - 0.05)).max(0.0);
                    (floor, width / 2.0)
                };
            }
        }
        let excess = mean.iter().zip(&floor_at).map(|(e, f)| e - f).collect();
        let scatter = floor_at
            .iter()
            .zip(&width_at)
            .map(|(f, w)| w.max(f / (*shared as f32).sqrt()))
            .collect();
        raw[m] = Some((excess, scatter, *shared));
    }
    // Smooth over 3 × 3 frames and bins, keep what is significant, with how many scatters it
    // stands above zero (infinite over a zero scatter).
    let mut significant: Vec<Option<Significant>> = (0..stft.frames())
        .map(|m| {
            let (_, scatter, _) = raw[m].as_ref()?;
            let lo = m.saturating_sub(1);
            let hi = (m + 2).min(stft.frames());
            let mut power = vec![0.0f32; active];
            let mut spreads = vec![0.0f32; active];
            for (k, (r, z)) in power.iter_mut().zip(spreads.iter_mut()).enumerate() {
                let k0 = k.saturating_sub(1);
                let k1 = (k + 2).min(active);
                let (mut sum, mut count) = (0.0f32, 0usize);
                for (e, _, _) in raw[lo..hi].iter().flatten() {
                    sum += e[k0..k1].iter().sum::<f32>();
                    count += k1 - k0;
                }
                let mean = sum / count.max(1) as f32;
                if mean > lambda * scatter[k] && mean > 0.0 {
                    *r = mean;
                    *z = mean / scatter[k];
                }
            }
            Some(Significant { power, spreads })
        })
        .collect();
    // A bin spans a hop in time and rate / frame length in frequency: hop / frame length in
    // Hz·s, a quarter at 75 % overlap whatever the frame.
    let bin_extent = stft.hop as f64 / (2 * stft.bins().saturating_sub(1)).max(1) as f64;
    if bin_extent > 0.0 && opts.region_evidence > 0.0 {
        drop_weak_regions(&mut significant, active, opts.region_evidence / bin_extent);
    }
    let significant: Vec<Option<Vec<f32>>> = significant
        .into_iter()
        .map(|s| s.map(|s| s.power))
        .collect();
    // Widen in time, over neighbouring frames that have a locked estimate (not in frequency:
    // widening a scatter of false detections in two directions would cover everything).
    let spread = (opts.phase_spread.0.max(0.0) / hop_s).round() as usize;
    let rows = (0..stft.frames())
        .map(|m| {
            significant[m].as_ref()?;
            let lo = m.saturating_sub(spread);
            let hi = (m + spread + 1).min(stft.frames());
            let mut row = vec![0.0f32; active];
            for other in significant[lo..hi].iter().flatten() {
                for (r, &v) in row.iter_mut().zip(other) {
                    *r = r.max(v);
                }
            }
            Some(row)
        })
        .collect();
    let shared = raw.iter().map(|r| r.as_ref().map_or(0, |r| r.2)).collect();
    (rows, shared)
}

/// One frame's significant locked power per active bin (0 where not significant), and how many
/// scatters each stands above zero.
struct Significant {
    power: Vec<f32>,
    spreads: Vec<f32>,
}

/// Clears every connected region of significant bins (neighbours in time, over consecutive
/// frames that have a locked estimate, or in frequency) whose spreads sum to less than
/// `least`. Iterative (no recursion), one pass over the frames × bins.
fn drop_weak_regions(rows: &mut [Option<Significant>], active: usize, least: f64) {
    let frames = rows.len();
    let on = |rows: &[Option<Significant>], m: usize, k: usize| {
        rows[m].as_ref().is_some_and(|r| r.power[k] > 0.0)
    };
    let mut seen = vec![false; frames * active];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut region: Vec<(usize, usize)> = Vec::new();
    for m0 in 0..frames {
        for k0 in 0..active {
            if seen[m0 * active + k0] || !on(rows, m0, k0) {
                continue;
            }
            region.clear();
            seen[m0 * active + k0] = true;
            stack.push((m0, k0));
            let mut evidence = 0.0f64;
            while let Some((m, k)) = stack.pop() {
                region.push((m, k));
                evidence += rows[m].as_ref().map_or(0.0, |r| f64::from(r.spreads[k]));
                let up = (m + 1 < frames).then(|| (m + 1, k));
                let down = m.checked_sub(1).map(|m| (m, k));
                let high = (k + 1 < active).then(|| (m, k + 1));
                let low = k.checked_sub(1).map(|k| (m, k));
                for (mm, kk) in [up, down, high, low].into_iter().flatten() {
                    if !seen[mm * active + kk] && on(rows, mm, kk) {
                        seen[mm * active + kk] = true;
                        stack.push((mm, kk));
                    }
                }
            }
            if evidence < least {
                for &(m, k) in &region {
                    if let Some(r) = rows[m].as_mut() {
                        r.power[k] = 0.0;
                    }
                }
            }
        }
    }
}

/// Standard normal distance between its 5 % and 35 % points (1.645 − 0.385).
const NORMAL_5_TO_35: f32 = 1.26;
/// Standard normal distance from its 35 % point to its median.
const NORMAL_35_TO_50: f32 = 0.385;

/// The active bins of the PCG band ([`BAND_LOW`]–[`BAND_HIGH`], 25–400 Hz), where heart sounds
/// and murmurs are judged.
fn band_bins(len: usize, rate: f64, active: usize) -> std::ops::Range<usize> {
    let bin = |hz: Hz| ((hz.0 * len as f64 / rate) as usize).min(active);
    bin(BAND_LOW).max(1).min(active)..bin(BAND_HIGH)
}

/// How far the noise floor (`frames × bins`) swings over time: per bin of `band`, the natural
/// log of its 90 % over its 10 % quantile over the frames; the median over the bins. About 1 for
/// stationary noise, 7–8 for breathing; 0 for an empty band.
fn noise_swing(noise: &Array2<f32>, band: std::ops::Range<usize>) -> f32 {
    let mut swings: Vec<f32> = band
        .filter(|&k| k < noise.ncols())
        .map(|k| {
            let mut column = noise.column(k).to_vec();
            let hi = quantile(&mut column, 0.9);
            let lo = quantile(&mut column, 0.1);
            (hi.max(f32::MIN_POSITIVE) / lo.max(f32::MIN_POSITIVE)).ln()
        })
        .collect();
    median(&mut swings)
}

/// The median of `v` (reordered); 0 for none.
fn median(v: &mut [f32]) -> f32 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (reordered); 0 for none.
fn quantile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let idx = ((v.len() as f64 * q.clamp(0.0, 1.0)) as usize).min(v.len() - 1);
    let (_, m, _) = v.select_nth_unstable_by(idx, f32::total_cmp);
    *m
}

/// What the gains of a frame are judged against.
struct Gating<'a> {
    stft: &'a Stft,
    /// The noise floor, `frames × active bins` (bins above keep the floor gain).
    noise: &'a Array2<f32>,
    /// The least gain.
    floor: f32,
    opts: &'a DenoiseOptions,
}

impl Gating<'_> {
    /// Gains of frame `m` against its locked power (one value per active bin), which `shared`
    /// cycles shared.
    fn locked_gains(&self, m: usize, locked: &[f32], shared: usize, gains: ArrayViewMut1<'_, f32>) {
        let headroom = 10f64.powf(self.opts.headroom_db.max(0.0) / 10.0) as f32;
        let exponent = if shared >= self.opts.burst_min_cycles {
            self.opts.burst_exponent.max(0.0) as f32
        } else {
            0.0
        };
        // The noise floor's row, like `locked`, holds the active bins only.
        for (((g, &p), &n), &l) in gains
            .into_iter()
            .zip(self.stft.power.row(m))
            .zip(self.noise.row(m))
            .zip(locked)
        {
            *g = gain(
                kept_power((p - n).max(0.0), headroom * l, exponent),
                p,
                self.floor,
            );
        }
    }

    /// Gains of frame `m` by stationary spectral gating (over-subtracted noise floor).
    fn stationary_gains(&self, m: usize, gains: ArrayViewMut1<'_, f32>) {
        let over = self.opts.fallback_oversubtraction.max(1.0) as f32;
        // The noise floor's row holds the active bins only.
        for ((g, &p), &n) in gains
            .into_iter()
            .zip(self.stft.power.row(m))
            .zip(self.noise.row(m))
        {
            let kept = (p - over * n).max(0.0);
            *g = gain(kept, p, self.floor);
        }
    }
}

/// How much of a bin's own estimate `own` (its power less the noise floor) is kept, given the
/// most the cycles' shared power allows, `cap` (the locked power times the headroom): all of it
/// up to the cap; above it `cap · (cap / own)^exponent`, so the further a bin stands over what
/// the cycles share, the less of it is taken for heart sound (a burst of rubbing or speech over
/// a heart sound; exponent 0 holds it at the cap, the rule until the seventeenth stop).
fn kept_power(own: f32, cap: f32, exponent: f32) -> f32 {
    if own <= cap {
        own
    } else {
        cap * (cap / own).powf(exponent)
    }
}

/// The power-subtraction gain keeping power `kept` of `power`, within [`floor`, 1].
fn gain(kept: f32, power: f32, floor: f32) -> f32 {
    if power > 0.0 && power.is_finite() {
        (kept / power).sqrt().clamp(floor, 1.0)
    } else {
        floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Interval;

    fn cycle(a: f64, b: f64, e: f64) -> Cycle {
        Cycle {
            r_peak: None,
            s1: Interval {
                start: Seconds(a),
                end: Seconds(a + 0.1),
            },
            s2: Interval {
                start: Seconds(b),
                end: Seconds(b + 0.08),
            },
            end: Seconds(e),
            quality: 1.0,
            accepted: true,
        }
    }

    /// One test sound at `t` seconds after its onset: `f` Hz under a 60 ms half-sine window,
    /// 0 outside it.
    fn sound_at(t: f64, f: f64) -> f64 {
        if (0.0..0.06).contains(&t) {
            (2.0 * PI * f * t).sin() * (PI * t / 0.06).sin()
        } else {
            0.0
        }
    }

    /// A train of identical sounds ([`sound_at`], 50 Hz as S1, 60 Hz at 0.6 of its height as
    /// S2) over faint noise, at a cycle of `period` with S2 `systole` after S1 (0.8 and 0.3 s:
    /// 75 bpm), with known onsets; the anchors handed to the aligner are off by up to 25 ms.
    /// The S2 of cycle `silent_s2`, if any, is left out (its anchor stays).
    fn heart_train(
        rate: f64,
        silent_s2: Option<usize>,
        period: f64,
        systole: f64,
    ) -> (Vec<f32>, Vec<f64>, Vec<Anchor>) {
        let n = (12.0 * rate) as usize;
        let mut x: Vec<f32> = (0..n)
            .map(|i| 0.01 * ((i as f32 * 12.9898).sin() * 43_758.547).fract())
            .collect();
        let burst = |x: &mut [f32], t0: f64, f: f64, amp: f32| {
            let start = (t0 * rate) as usize;
            for k in 0..(0.06 * rate) as usize {
                if let Some(s) = x.get_mut(start + k) {
                    *s += amp * sound_at(k as f64 / rate, f) as f32;
                }
            }
        };
        let (mut truth, mut anchors) = (Vec::new(), Vec::new());
        for (k, t) in (0..14).map(|k| (k, 0.5 + period * k as f64)) {
            burst(&mut x, t, 50.0, 1.0);
            if silent_s2 != Some(k) {
                burst(&mut x, t + systole, 60.0, 0.6);
            }
            // Off by −25..+25 ms, a different amount for each sound.
            let off = |j: usize| ((k * 7 + j * 3) % 11) as f64 * 0.005 - 0.025;
            for (j, (onset, sound)) in [(t, Sound::S1), (t + systole, Sound::S2)]
                .into_iter()
                .enumerate()
            {
                truth.push(onset);
                anchors.push(Anchor {
                    t: onset + off(j),
                    sound,
                    accepted: true,
                });
            }
        }
        (x, truth, anchors)
    }

    #[test]
    fn onsets_are_aligned_to_their_sounds() {
        let rate = 2000.0;
        let (x, truth, mut anchors) = heart_train(rate, None, 0.8, 0.3);
        let before: Vec<f64> = anchors.iter().zip(&truth).map(|(a, t)| a.t - t).collect();
        align_anchors(&x, rate, 0.03, 0.12, &mut anchors);
        let after: Vec<f64> = anchors.iter().zip(&truth).map(|(a, t)| a.t - t).collect();
        // The template is the median sound, so every onset lands at the same offset from its
        // sound (a shift common to all of them does not move a phase against another).
        for sound in [Sound::S1, Sound::S2] {
            let mut offsets: Vec<f64> = anchors
                .iter()
                .zip(&after)
                .filter(|(a, _)| a.sound == sound)
                .map(|(_, e)| *e)
                .collect();
            offsets.sort_by(f64::total_cmp);
            let spread = offsets[offsets.len() - 1] - offsets[0];
            assert!(
                spread <= 0.003,
                "{sound:?} onsets spread {spread:.4} s: {offsets:?}"
            );
        }
        let worst = |v: &[f64]| v.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(worst(&before) > 0.02, "the test jitters the onsets");
        assert!(
            worst(&after) <= 0.03,
            "no onset moves further than its reach"
        );
        // Still in time order.
        assert!(anchors.windows(2).all(|w| w[0].t <= w[1].t));
        // A reach of 0 leaves them where they were; so does too short a recording.
        let (x, _, mut anchors) = heart_train(rate, None, 0.8, 0.3);
        let kept: Vec<f64> = anchors.iter().map(|a| a.t).collect();
        align_anchors(&x, rate, 0.0, 0.12, &mut anchors);
        assert_eq!(anchors.iter().map(|a| a.t).collect::<Vec<_>>(), kept);
        align_anchors(&x[..100], rate, 0.03, 0.12, &mut anchors);
        assert_eq!(anchors.iter().map(|a| a.t).collect::<Vec<_>>(), kept);
        // Nor does digital silence, where every match is 0.
        align_anchors(&vec![0.0; x.len()], rate, 0.03, 0.12, &mut anchors);
        assert_eq!(anchors.iter().map(|a| a.t).collect::<Vec<_>>(), kept);
    }

    #[test]
    fn an_onset_far_off_is_moved_where_its_sound_clearly_is() {
        let rate = 2000.0;
        let (x, truth, mut anchors) = heart_train(rate, None, 0.8, 0.3);
        // The fifth S1 55 ms late, on nothing but the faint noise (its S2 then 245 ms on: a
        // quarter of that may be moved).
        anchors[8].t = truth[8] + 0.055;
        let offset_of = |anchors: &[Anchor]| {
            let mut v: Vec<f64> = anchors
                .iter()
                .zip(&truth)
                .filter(|(a, _)| a.sound == Sound::S1)
                .map(|(a, t)| a.t - t)
                .collect();
            let fifth = v[4];
            v.sort_by(f64::total_cmp);
            (fifth, v[v.len() / 2])
        };
        let mut near_only = anchors.clone();
        align_anchors(&x, rate, 0.03, 0.03, &mut near_only);
        let (fifth, median) = offset_of(&near_only);
        assert!(
            fifth - median > 0.015,
            "within 30 ms it cannot get there: {fifth} {median}"
        );
        align_anchors(&x, rate, 0.03, 0.12, &mut anchors);
        let (fifth, median) = offset_of(&anchors);
        assert!((fifth - median).abs() <= 0.003, "{fifth} {median}");
    }

    /// `x`, a train of sounds at 0.8 s cycles (`heart_train`), denoised with `options` against
    /// the true cycles from its onsets `truth` (S1, S2, S1, ...).
    fn denoise_train(x: &[f32], rate: f64, truth: &[f64], options: DenoiseOptions) -> Vec<f32> {
        let cycles: Vec<Cycle> = truth
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| cycle(p[0], p[1], p[0] + 0.8))
            .collect();
        Denoiser::new(options)
            .denoise(
                Signal {
                    samples: x,
                    rate: Hz(rate),
                },
                &cycles,
            )
            .expect("denoised")
            .samples
    }

    /// Output energy over each S1 (from 20 ms before to 80 ms after its onset) of a train of
    /// identical sounds (`heart_train`) in which the seventh S1 carries `extra` on top, denoised
    /// with `options` against the true cycles; also that S1's input energy. Energies are
    /// relative to the median output S1.
    fn s1_energies(options: DenoiseOptions, extra: &dyn Fn(f64) -> f64) -> (Vec<f64>, f64) {
        let rate = 2000.0;
        let (mut x, truth, _) = heart_train(rate, None, 0.8, 0.3);
        let onset = truth[12];
        let span = |t: f64| ((t - 0.02) * rate) as usize..((t + 0.08) * rate) as usize;
        for i in span(onset) {
            x[i] += extra(i as f64 / rate - onset) as f32;
        }
        let out = denoise_train(&x, rate, &truth, options);
        let energy = |v: &[f32], t: f64| v[span(t)].iter().map(|&s| f64::from(s).powi(2)).sum();
        let per_s1: Vec<f64> = truth.iter().step_by(2).map(|&t| energy(&out, t)).collect();
        let mut sorted = per_s1.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        (
            per_s1.iter().map(|e| e / median).collect(),
            energy(&x, onset) / median,
        )
    }

    #[test]
    fn a_burst_over_a_heart_sound_is_taken_down_and_a_louder_beat_kept() {
        let db = |r: f64| 10.0 * r.log10();
        // The seventh S1 raised by `gain_db`: the same 50 Hz sound added on top.
        let raised =
            |gain_db: f64| move |t: f64| (10f64.powf(gain_db / 20.0) - 1.0) * sound_at(t, 50.0);
        let committed = DenoiseOptions::default();
        let held_at_cap = DenoiseOptions {
            burst_exponent: 0.0,
            ..DenoiseOptions::default()
        };
        // A knock 15 dB over the sound in its own band: held at the cap it passes at the
        // headroom over the other S1s; brought down, it is no louder than they are.
        let (out, input) = s1_energies(committed.clone(), &raised(15.0));
        let (capped, _) = s1_energies(held_at_cap, &raised(15.0));
        assert!(
            db(input) > 14.0,
            "the knock stands out: {:.1} dB",
            db(input)
        );
        assert!(db(capped[6]) > 4.0, "at the cap: {:.1} dB", db(capped[6]));
        assert!(db(out[6]) < 0.0, "brought down: {:.1} dB", db(out[6]));
        // The other S1s are untouched by it.
        for (k, e) in out.iter().enumerate().filter(|(k, _)| *k != 6) {
            assert!(db(*e).abs() < 0.5, "S1 {k}: {:.1} dB", db(*e));
        }
        // A beat 4 dB louder than the rest (a louder S1 after a long pause) stays about 4 dB
        // louder: within the headroom nothing is taken off.
        let (out, input) = s1_energies(committed, &raised(4.0));
        assert!(
            (db(out[6]) - db(input)).abs() < 1.0,
            "louder beat: in {:.1} dB, out {:.1} dB",
            db(input),
            db(out[6])
        );
    }

    #[test]
    fn in_a_fast_heart_no_onset_moves_far_towards_the_next_sound() {
        // 171 bpm: S2 0.15 s after S1, the next S1 0.2 s after S2.
        let rate = 2000.0;
        let (x, _, mut anchors) = heart_train(rate, None, 0.35, 0.15);
        let origin: Vec<f64> = anchors.iter().map(|a| a.t).collect();
        // Every S1 placed 60 ms late, towards its S2.
        for a in anchors.iter_mut().filter(|a| a.sound == Sound::S1) {
            a.t += 0.06;
        }
        let placed: Vec<f64> = anchors.iter().map(|a| a.t).collect();
        align_anchors(&x, rate, 0.03, 0.12, &mut anchors);
        for (k, (a, p)) in anchors.iter().zip(&placed).enumerate() {
            let gaps = [k.checked_sub(1), Some(k + 1)]
                .into_iter()
                .flatten()
                .filter_map(|j| placed.get(j))
                .map(|q| (q - p).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                (a.t - p).abs() <= (ALIGN_FAR_GAP_SHARE * gaps).max(0.03) + 1e-9,
                "onset {k} moved {:.3} s with neighbours {gaps:.3} s away",
                a.t - p
            );
        }
        // And the S1s still sit before their S2s.
        assert!(anchors.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(origin.len(), anchors.len());
    }

    #[test]
    fn an_s2_that_is_not_there_is_not_moved() {
        let rate = 2000.0;
        let (x, _, mut anchors) = heart_train(rate, Some(6), 0.8, 0.3);
        let at = anchors
            .iter()
            .filter(|a| a.sound == Sound::S2)
            .nth(6)
            .map(|a| a.t)
            .expect("a seventh S2");
        align_anchors(&x, rate, 0.03, 0.03, &mut anchors);
        assert!(anchors.iter().any(|a| a.sound == Sound::S2 && a.t == at));
    }

    #[test]
    fn a_spike_near_a_sound_does_not_pull_its_onset() {
        let rate = 2000.0;
        let (mut x, truth, mut anchors) = heart_train(rate, None, 0.8, 0.3);
        // A knock 60 ms into the fifth S1: 5 ms up and 5 down at twenty times the sounds'
        // height. With its envelope taken from the raw signal the onset moved 31 ms (measured).
        let at = ((truth[8] + 0.06) * rate) as usize;
        for (k, v) in x[at..at + 20].iter_mut().enumerate() {
            *v = if k < 10 { 20.0 } else { -20.0 };
        }
        align_anchors(&x, rate, 0.03, 0.03, &mut anchors);
        let s1: Vec<f64> = anchors
            .iter()
            .zip(&truth)
            .filter(|(a, _)| a.sound == Sound::S1)
            .map(|(a, t)| a.t - t)
            .collect();
        let mut sorted = s1.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        assert!((s1[4] - median).abs() <= 0.003, "{s1:?}");
    }

    #[test]
    fn frame_lengths_are_powers_of_two_near_the_target() {
        assert_eq!(frame_len(0.064, 2000.0), 128);
        assert_eq!(frame_len(0.064, 4000.0), 256);
        assert_eq!(frame_len(0.064, 44100.0), 2048);
        assert_eq!(frame_len(0.064, 1000.0), 64);
    }

    #[test]
    fn analysis_and_synthesis_reconstruct_the_signal() {
        let mut planner = RealFftPlanner::new();
        let mut plan = Plan::new(&mut planner, 128);
        let x: Vec<f32> = (0..5000)
            .map(|i| ((i as f32 * 0.05).sin() + 0.3 * (i as f32 * 0.31).cos()) * 0.7)
            .collect();
        let stft = analyse(&mut plan, &x);
        let y = synthesise(&mut plan, &stft, x.len());
        let err = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "max reconstruction error {err}");
    }

    #[test]
    fn phases_follow_each_sound() {
        // Cycles of 0.8 s: S1 at 0, S2 at 0.3.
        let cycles: Vec<Cycle> = (0..5)
            .map(|k| {
                let t = 0.5 + 0.8 * k as f64;
                cycle(t, t + 0.3, t + 0.8)
            })
            .collect();
        let a = anchors(&cycles, 5.0);
        assert_eq!(a.len(), 11, "5 S1, 5 S2 and the last end");
        let rate = 1000.0;
        let hop = 16;
        let ph = phases(&a, 320, hop, rate);
        let at = |t: f64| ph[(t * rate / hop as f64).round() as usize].map(|p| p.slot);
        // The same phase of two cycles shares a slot; different phases do not.
        assert_eq!(at(0.5 + 0.112), at(1.3 + 0.112));
        assert_eq!(at(0.8 + 0.208), at(1.6 + 0.208));
        assert_eq!(at(1.3 - 0.16), at(2.1 - 0.16));
        assert_ne!(at(0.5 + 0.112), at(0.5 + 0.208));
        // Late diastole before the first cycle counts back from its S1 like every other.
        assert_eq!(at(0.5 - 0.16), at(1.3 - 0.16));
        // Long after the last cycle there is no phase.
        assert_eq!(at(5.1), None);
    }

    #[test]
    fn with_fewer_than_five_cycles_shared_a_loud_beat_is_held_at_the_cap() {
        let db = |r: f64| 10.0 * r.log10();
        let knock = |t: f64| (10f64.powf(15.0 / 20.0) - 1.0) * sound_at(t, 50.0);
        // Ensembles of four cycles: the median of four says too little of what they share to
        // take a bin down, so the knock is held at the headroom over the other S1s, as with no
        // take-down at all; allowed from four, it is brought down as over many cycles.
        let four = DenoiseOptions {
            neighbour_cycles: 4,
            ..DenoiseOptions::default()
        };
        let (held, _) = s1_energies(four.clone(), &knock);
        let (down, _) = s1_energies(
            DenoiseOptions {
                burst_min_cycles: 4,
                ..four
            },
            &knock,
        );
        assert!(db(held[6]) > 4.0, "held at the cap: {:.1} dB", db(held[6]));
        assert!(db(down[6]) < 0.0, "brought down: {:.1} dB", db(down[6]));
    }

    #[test]
    fn a_short_recording_keeps_a_murmur_that_fills_diastole() {
        // Two cycles of 0.8 s (too few to lock to), a rumble of twelve tones at 60–140 Hz
        // filling 0.35–0.8 s of each, over faint noise: gated against the stationary floor. A
        // floor read over 0.65 s sits on the rumble and took it down; against the whole
        // recording's (systole is quiet) it is kept.
        let rate = 2000.0;
        let n = (1.6 * rate) as usize;
        let diastole = |t: f64| {
            let p = t % 0.8;
            if (0.35..0.8).contains(&p) {
                (PI * (p - 0.35) / 0.45).sin().powf(0.25)
            } else {
                0.0
            }
        };
        let rumble: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / rate;
                let tones: f64 = (0..12)
                    .map(|j| {
                        let f = 60.0 + 80.0 * f64::from(j) / 11.0;
                        (2.0 * PI * f * t + f64::from(j * j) * 0.7).sin()
                    })
                    .sum();
                (0.1 * tones * diastole(t)) as f32
            })
            .collect();
        let x: Vec<f32> = rumble
            .iter()
            .enumerate()
            .map(|(i, &r)| r + 0.01 * ((i as f32 * 12.9898).sin() * 43_758.547).fract())
            .collect();
        let out = Denoiser::default()
            .denoise(
                Signal {
                    samples: &x,
                    rate: Hz(rate),
                },
                &[],
            )
            .expect("denoised");
        assert!(matches!(out.method, DenoiseMethod::Stationary { .. }));
        let energy = |v: &[f32]| v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let kept = 10.0 * (energy(&out.samples) / energy(&rumble)).log10();
        assert!(kept > -1.0, "rumble kept at {kept:+.2} dB");
    }

    /// Output over input energy (dB) of a train of sounds (`heart_train`) under white noise,
    /// denoised against the true cycles with `options`: far from the sounds (from 0.15 s after
    /// each onset to 0.08 s before the next) and over each S1's 100 ms.
    fn kept_between_and_on_sounds(options: DenoiseOptions) -> (f64, f64) {
        let rate = 2000.0;
        let (mut x, truth, _) = heart_train(rate, None, 0.8, 0.3);
        let clean = x.clone();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for v in x.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *v += 0.3 * ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32;
        }
        let out = denoise_train(&x, rate, &truth, options);
        let energy = |v: &[f32], a: f64, b: f64| -> f64 {
            v[(a * rate) as usize..(b * rate) as usize]
                .iter()
                .map(|&s| f64::from(s).powi(2))
                .sum()
        };
        let ratio = |spans: &[(f64, f64)], reference: &[f32]| {
            let (o, i): (f64, f64) = spans
                .iter()
                .map(|&(a, b)| (energy(&out, a, b), energy(reference, a, b)))
                .fold((0.0, 0.0), |(so, si), (o, i)| (so + o, si + i));
            10.0 * (o / i).log10()
        };
        let between: Vec<(f64, f64)> = truth
            .windows(2)
            .map(|w| (w[0] + 0.15, w[1] - 0.08))
            .collect();
        let s1: Vec<(f64, f64)> = truth.iter().step_by(2).map(|&t| (t, t + 0.1)).collect();
        (ratio(&between, &x), ratio(&s1, &clean))
    }

    #[test]
    fn noise_that_passes_by_chance_in_small_patches_is_not_kept() {
        // Every significant bin kept, at the same significance and at the rule until the
        // eighteenth stop (2.5), against the default's weak regions dropped.
        let patches = DenoiseOptions {
            region_evidence: 0.0,
            ..DenoiseOptions::default()
        };
        let before = DenoiseOptions {
            significance: 2.5,
            region_evidence: 0.0,
            ..DenoiseOptions::default()
        };
        let (between_patches, s1_patches) = kept_between_and_on_sounds(patches);
        let (between_before, _) = kept_between_and_on_sounds(before);
        let (between, s1) = kept_between_and_on_sounds(DenoiseOptions::default());
        println!(
            "noise kept between the sounds {between_patches:.1} / {between_before:.1} → \
             {between:.1} dB, S1 {s1_patches:+.2} → {s1:+.2} dB"
        );
        assert!(
            between < between_patches - 3.0,
            "{between} vs {between_patches}"
        );
        assert!(
            between < between_before - 3.0,
            "{between} vs {between_before}"
        );
        assert!(s1.abs() < 0.5, "S1 level {s1:+.2} dB");
    }

    #[test]
    fn a_weak_small_region_is_dropped_and_a_broad_or_strong_one_kept() {
        // 20 frames × 10 bins: a broad region of 60 bins at 2 spreads (evidence 120), a patch
        // of 4 bins at 2 spreads (8), a patch of 2 bins at 100 spreads (200); least 50.
        let mut rows: Vec<Option<Significant>> = (0..20)
            .map(|_| {
                Some(Significant {
                    power: vec![0.0; 10],
                    spreads: vec![0.0; 10],
                })
            })
            .collect();
        let mut set = |m: usize, k: usize, z: f32| {
            if let Some(r) = rows[m].as_mut() {
                r.power[k] = 1.0;
                r.spreads[k] = z;
            }
        };
        for m in 0..10 {
            for k in 0..6 {
                set(m, k, 2.0);
            }
        }
        for (m, k) in [(14, 2), (14, 3), (15, 2), (15, 3)] {
            set(m, k, 2.0);
        }
        set(18, 8, 100.0);
        set(19, 8, 100.0);
        // A frame with no locked estimate splits nothing it does not touch.
        rows[12] = None;
        drop_weak_regions(&mut rows, 10, 50.0);
        let kept = |m: usize, k: usize| rows[m].as_ref().is_some_and(|r| r.power[k] > 0.0);
        assert!((0..10).all(|m| (0..6).all(|k| kept(m, k))));
        assert!(!kept(14, 2) && !kept(15, 3));
        assert!(kept(18, 8) && kept(19, 8));
        // Nothing, or no frames, does not panic.
        drop_weak_regions(&mut [], 10, 50.0);
        drop_weak_regions(&mut rows, 0, 50.0);
    }

    #[test]
    fn a_floor_that_rises_and_falls_swings_and_a_steady_one_does_not() {
        // 200 frames × 8 bins: a steady floor with ±10 % ripple, and one that follows a breath
        // (from a hundredth of its peak up to it and back, every 50 frames).
        let steady = Array2::from_shape_fn((200, 8), |(m, k)| {
            1.0 + 0.1 * ((m * 7 + k * 3) as f32).sin()
        });
        let breath = Array2::from_shape_fn((200, 8), |(m, _)| {
            let phase = (m % 50) as f32 / 50.0;
            0.01 + (std::f32::consts::PI * phase).sin().powi(2)
        });
        let steady_swing = noise_swing(&steady, 1..7);
        let breath_swing = noise_swing(&breath, 1..7);
        assert!(steady_swing < 0.3, "steady floor swings {steady_swing}");
        assert!(breath_swing > 3.0, "breathing floor swings {breath_swing}");
        assert!(f64::from(breath_swing) > DenoiseOptions::default().modulated_swing);
        assert!(f64::from(steady_swing) < DenoiseOptions::default().modulated_swing);
        // Bins outside the floor, or none, give no swing rather than a panic.
        assert_eq!(noise_swing(&steady, 8..12), 0.0);
        assert_eq!(noise_swing(&Array2::zeros((0, 0)), 0..4), 0.0);
    }

    #[test]
    fn malformed_cycles_and_odd_input_do_not_panic() {
        let bad = [
            cycle(f64::NAN, 0.3, 0.8),
            cycle(0.5, 0.4, 0.8),
            cycle(0.5, 0.7, 0.6),
            cycle(-1.0, 0.3, 0.8),
            cycle(0.0, 0.3, 1e9),
        ];
        let x = vec![0.0f32; 3000];
        let pcg = Signal {
            samples: &x,
            rate: Hz(2000.0),
        };
        let out = denoise(pcg, &bad).expect("denoise");
        assert_eq!(out.samples.len(), x.len());
        assert!(matches!(
            out.method,
            DenoiseMethod::Stationary {
                reason: FallbackReason::NoCycles
            }
        ));
        let one = [f32::NAN];
        let out = denoise(
            Signal {
                samples: &one,
                rate: Hz(1000.0),
            },
            &[],
        )
        .expect("one sample");
        assert_eq!(out.samples, vec![0.0]);
        assert!(
            denoise(
                Signal {
                    samples: &[],
                    rate: Hz(2000.0)
                },
                &[]
            )
            .is_err()
        );
        assert!(
            denoise(
                Signal {
                    samples: &x,
                    rate: Hz(100.0)
                },
                &[]
            )
            .is_err()
        );
    }
}

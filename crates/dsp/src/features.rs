//! The fixed-length feature vector a recording is judged on: per-phase intensity and spectral
//! balance of the cycles relative to their own heart sounds, the ensemble profile, and a few
//! segmentation-free envelope and spectrum statistics that still speak when segmentation fails.
//!
//! The same function computes the features for training (`auscult-train`) and for analysis, so a
//! learned model can never see features computed differently from the ones it was trained on.
//! A feature that cannot be computed (no accepted cycle, no ensemble) is NaN; models read NaN as
//! "the training mean". Everything is relative (log ratios), never absolute levels, so the gain of
//! a stethoscope does not matter. Must stay cheap: O(n) over the preprocessed signal; the only
//! FFTs are the 128-point frames of the per-phase MFCCs ([`crate::mfcc`]).

use std::ops::Range;

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, Axis, Slice};

use crate::filter::{Sos, apply_bank};
use crate::mfcc::{CycleMfcc, Phase};
use crate::model::{Cycle, EnsembleCycle, MurmurLikelihood, Preprocessed, Rhythm};
use crate::units::Seconds;

/// Names of the features, in vector order (also the header of the parameter file).
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "sys_rel",
    "dia_rel",
    "sys_rel_low",
    "sys_rel_mid",
    "sys_rel_high",
    "dia_rel_low",
    "dia_rel_mid",
    "dia_rel_high",
    "sys_minus_dia",
    "sys_rel_spread",
    "env_fill_20",
    "env_fill_50",
    "whole_low_frac",
    "whole_high_frac",
    "ens_sys_rel",
    "ens_dia_rel",
    "ens_sys_flat",
    "ens_dia_flat",
    "sqi",
    "accepted_frac",
    "log_cycles",
    "heart_rate",
    "rr_cv",
    "sys_high_frac",
    "dia_low_frac",
    "sys_floor_all",
    "sys_floor_low",
    "sys_floor_mid",
    "sys_floor_high",
    "dia_floor_all",
    "dia_floor_low",
    "dia_floor_mid",
    "dia_floor_high",
    "sys_repeat",
    "dia_repeat",
    "sys_min_rel",
    "sys_min_minus_dia_min",
    "sys_mfcc_1",
    "sys_mfcc_2",
    "sys_mfcc_3",
    "sys_mfcc_4",
    "sys_mfcc_5",
    "sys_mfcc_6",
    "dia_mfcc_1",
    "dia_mfcc_2",
    "dia_mfcc_3",
    "dia_mfcc_4",
    "dia_mfcc_5",
    "dia_mfcc_6",
    "dia_rel_spread",
    "dia_min_rel",
    "sys_hsmm_lr",
    "dia_hsmm_lr",
    "sys_late_repeat",
    "dia_late_repeat",
    "sys_early_repeat",
    "dia_early_repeat",
];

/// How many features there are.
pub const NUM_FEATURES: usize = 57;

/// `sys_hsmm_lr`, then `dia_hsmm_lr`: the recording's [`MurmurLikelihood`] (a murmur HSMM
/// against the healthy one, per frame), computed only when asked for (see
/// [`Features::set_murmur_likelihood`]).
pub const FIRST_HSMM_LR_FEATURE: usize = 51;

/// `sys_late_repeat`, then `dia_late_repeat`: [`PhaseMap::late_repeat`] of systole and of
/// diastole. Read by the murmur call's repeat test ([`crate::murmur::repeat_share`]), never by a
/// model: they are [`GATE_FEATURES`].
pub const FIRST_LATE_REPEAT_FEATURE: usize = 53;

/// Features that only the murmur call's repeat test reads; the trainer never offers them to a
/// model (the models were measured without them, and the test's rule is not learned).
pub const GATE_FEATURES: [&str; 4] = [
    "sys_late_repeat",
    "dia_late_repeat",
    "sys_early_repeat",
    "dia_early_repeat",
];

/// `dia_rel_spread`, then `dia_min_rel`: the diastolic counterparts of `sys_rel_spread` and
/// `sys_min_rel`, so that every systolic feature of murmur evidence has a diastolic twin (the
/// trainer mirrors the phases, see `auscult-train`'s `mirror`).
pub const DIA_REL_SPREAD: usize = 49;

/// The first of the per-phase MFCC features ([`crate::mfcc`]): `sys_mfcc_k`, then `dia_mfcc_k`,
/// the median over cycles of the phase's coefficient k minus the mean of the same cycle's S1 and
/// S2 coefficient k, for k = 1..=[`MFCC_FEATURES`].
pub const FIRST_MFCC_FEATURE: usize = 37;

/// How many cepstral coefficients (c1, c2, …) of each phase are features.
pub const MFCC_FEATURES: usize = 6;

/// The first of the phase-map features (see [`PhaseMap`]); the ones before it are the older
/// per-phase medians and whole-recording statistics.
pub const FIRST_PHASE_MAP_FEATURE: usize = 25;

/// One recording's features (NaN where not computable).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// The values, in [`FEATURE_NAMES`] order.
    pub values: [f32; NUM_FEATURES],
}

impl Features {
    /// The value of the named feature (NaN for an unknown name).
    pub fn get(&self, name: &str) -> f32 {
        FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(f32::NAN, |i| self.values[i])
    }

    /// Sets `sys_hsmm_lr` and `dia_hsmm_lr` from the segmenter's murmur likelihood (NaN without
    /// one). Kept apart from [`extract_features`] because it comes from the segmenter's decodes,
    /// not from the cycles.
    pub fn set_murmur_likelihood(&mut self, lr: Option<MurmurLikelihood>) {
        let (s, d) = lr.map_or((f32::NAN, f32::NAN), |l| (l.systolic, l.diastolic));
        self.values[FIRST_HSMM_LR_FEATURE] = s;
        self.values[FIRST_HSMM_LR_FEATURE + 1] = d;
    }
}

/// Frequency bands (Hz) of the sub-band powers: low (rumbles), mid, high (blowing murmurs).
pub const BANDS: [(f64, f64); 3] = [(25.0, 80.0), (80.0, 200.0), (200.0, 450.0)];

/// Per-sample powers (full band and each of [`BANDS`]) as prefix sums, for O(1) window means.
#[derive(Debug, Default)]
pub struct BandPowers {
    /// Prefix sums: `prefix[b][i]` is the sum of power of band `b` (0 = full band) before `i`.
    prefix: [Vec<f64>; 4],
    rate: f64,
    scratch: [Vec<f32>; 3],
}

impl BandPowers {
    /// Filters the preprocessed PCG into the bands and accumulates powers, reusing buffers.
    pub fn compute(&mut self, pre: &Preprocessed) {
        self.rate = pre.rate.0;
        // First-order, causal: band *powers* need neither steep edges nor zero phase (the few-ms
        // delay is far inside the phase-window trimming), and this is 8x cheaper. The three
        // filters run side by side in one pass.
        let filters =
            BANDS.map(|(lo, hi)| Sos::butter_bandpass(1, lo, hi.min(0.45 * self.rate), self.rate));
        apply_bank(
            &[&filters[0], &filters[1], &filters[2]],
            &pre.pcg,
            &mut self.scratch,
        );
        let [low, mid, high] = &self.scratch;
        fill_prefixes(&mut self.prefix, [&pre.pcg, low, mid, high]);
    }

    /// Length of the powers, seconds (0 before [`BandPowers::compute`]).
    pub fn duration(&self) -> f64 {
        if self.rate > 0.0 {
            self.prefix[0].len().saturating_sub(1) as f64 / self.rate
        } else {
            0.0
        }
    }

    /// Mean power of band `b` (0 = full) over `[t0, t1)`, or `None` for an empty window.
    pub fn mean(&self, b: usize, t0: f64, t1: f64) -> Option<f64> {
        let p = &self.prefix[b];
        let n = p.len().checked_sub(1)?;
        let i0 = ((t0 * self.rate).round().max(0.0) as usize).min(n);
        let i1 = ((t1 * self.rate).round().max(0.0) as usize).min(n);
        (i1 > i0).then(|| (p[i1] - p[i0]) / (i1 - i0) as f64)
    }
}

/// `prefix[b]` becomes the running sum of squares of `x[b]` (with a leading 0). The four sums are
/// accumulated in one loop so their additions overlap; each in its own order, as four loops would.
fn fill_prefixes(prefix: &mut [Vec<f64>; 4], x: [&[f32]; 4]) {
    let n = x.iter().map(|v| v.len()).min().unwrap_or(0);
    for p in prefix.iter_mut() {
        p.clear();
        p.resize(n + 1, 0.0);
    }
    let mut acc = [0.0f64; 4];
    let [a, b, c, d] = x.map(|v| &v[..n]);
    let [pa, pb, pc, pd] = prefix;
    let outs = pa[1..]
        .iter_mut()
        .zip(&mut pb[1..])
        .zip(&mut pc[1..])
        .zip(&mut pd[1..]);
    let ins = a.iter().zip(b).zip(c).zip(d);
    for ((((pa, pb), pc), pd), (((&a, &b), &c), &d)) in outs.zip(ins) {
        for ((k, v), p) in [a, b, c, d].into_iter().enumerate().zip([pa, pb, pc, pd]) {
            let v = v as f64;
            acc[k] += v * v;
            *p = acc[k];
        }
    }
}

/// The trimmed phase windows of a cycle, in seconds: (systole, diastole). Trimming keeps the
/// tails of S1 and S2 (whose segmented edges are uncertain by tens of ms) out of the phases.
pub fn phase_windows(c: &Cycle) -> ((f64, f64), (f64, f64)) {
    let (s1e, s2s, s2e, end) = (c.s1.end.0, c.s2.start.0, c.s2.end.0, c.end.0);
    let sys_len = s2s - s1e;
    let ms = (0.1 * sys_len).max(0.015);
    let dia_len = end - s2e;
    let md0 = (0.08 * dia_len).max(0.02);
    let md1 = (0.1 * dia_len).max(0.04);
    ((s1e + ms, s2s - ms), (s2e + md0, end - md1))
}

const EPS: f64 = 1e-9;

fn log_ratio(a: f64, b: f64) -> f32 {
    ((a + EPS) / (b + EPS)).ln() as f32
}

/// The median of the finite values of `v` (NaN when there is none); reorders `v`.
pub(crate) fn median(v: &mut Vec<f32>) -> f32 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        0.5 * (v[m - 1] + v[m])
    } else {
        v[m]
    }
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Mean of the ensemble envelope over `[t0, t1)` seconds of the ensemble.
pub fn ensemble_mean(ens: &EnsembleCycle, t0: f64, t1: f64) -> Option<f64> {
    let n = ens.envelope.len();
    let i0 = ((t0 * ens.rate.0).round().max(0.0) as usize).min(n);
    let i1 = ((t1 * ens.rate.0).round().max(0.0) as usize).min(n);
    (i1 > i0)
        .then(|| ens.envelope[i0..i1].iter().map(|&v| v as f64).sum::<f64>() / (i1 - i0) as f64)
}

/// The ensemble envelope over `[t0, t1)` in `bins` equal bins (bin means), empty if too short.
pub fn ensemble_profile(ens: &EnsembleCycle, t0: f64, t1: f64, bins: usize) -> Vec<f64> {
    let w = (t1 - t0) / bins as f64;
    (0..bins)
        .filter_map(|k| ensemble_mean(ens, t0 + k as f64 * w, t0 + (k + 1) as f64 * w))
        .collect()
}

/// The ensemble's trimmed systole and diastole, in seconds of the ensemble.
pub fn ensemble_phases(ens: &EnsembleCycle) -> ((f64, f64), (f64, f64)) {
    let end = ens.envelope.len() as f64 / ens.rate.0;
    phase_windows(&Cycle {
        r_peak: None,
        s1: ens.s1,
        s2: ens.s2,
        end: Seconds(end),
        quality: 1.0,
        accepted: true,
    })
}

/// Phase bins per phase (systole, diastole) of a [`PhaseMap`].
pub const PHASE_BINS: usize = 4;

/// Power bands of a [`PhaseMap`]: 0 the full band, then [`BANDS`].
pub const MAP_BANDS: usize = 4;

/// Axis of [`PhaseMap::bins`] and [`PhaseMap::sounds`]: the accepted cycle.
pub const CYCLE_AXIS: Axis = Axis(0);

/// Axis of [`PhaseMap::bins`]: the phase bin, `PHASE_BINS` bins of the trimmed systole then
/// `PHASE_BINS` of the trimmed diastole.
pub const PHASE_BIN_AXIS: Axis = Axis(1);

/// Axis of [`PhaseMap::bins`]: the band (0 the full band, then [`BANDS`]).
pub const BAND_AXIS: Axis = Axis(2);

/// The phase-bin indices of systole or of diastole along [`PHASE_BIN_AXIS`].
fn phase_bins(diastole: bool) -> Range<usize> {
    if diastole {
        PHASE_BINS..2 * PHASE_BINS
    } else {
        0..PHASE_BINS
    }
}

/// The recording's own level map: for every accepted cycle, the log power of each phase bin
/// (`PHASE_BINS` equal bins of the trimmed systole, then of the trimmed diastole) in each band
/// (full, then [`BANDS`]), and the log power of the same cycle's S1 and S2 (their mean) per band.
///
/// Everything read from it is a difference of logs within one band of one recording, so a
/// stethoscope's gain cancels, its spectral tilt cancels (each band is compared with itself),
/// and stationary noise raises the floor as much as the phase it is compared with. The
/// recording's *floor* per band is the median over cycles of the quietest bin of the cycle: the
/// noise floor of the recording itself, not of a device the models once heard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseMap {
    /// Log powers, `cycles × (2·PHASE_BINS) × MAP_BANDS`: axes [`CYCLE_AXIS`],
    /// [`PHASE_BIN_AXIS`] (systole's bins, then diastole's) and [`BAND_AXIS`].
    pub bins: Array3<f32>,
    /// Log powers of each cycle's heart sounds (mean of S1 and S2), `cycles × MAP_BANDS`: axes
    /// [`CYCLE_AXIS`] and the band.
    pub sounds: Array2<f32>,
    /// Log power of each cycle's weaker heart sound (S1 or S2), full band: [`CYCLE_AXIS`].
    pub weaker: Array1<f32>,
    /// Whether each cycle is whole: its diastole ends at the next S1, not at the end of the
    /// recording ([`CYCLE_AXIS`]). The last cycle of a recording usually is not: its diastole's
    /// bins are spread over what the recording kept of it, so they are not the same phase as
    /// the other cycles' bins.
    pub whole: Vec<bool>,
}

impl PhaseMap {
    /// The map of the accepted cycles long enough to hold every bin.
    pub fn of(powers: &BandPowers, cycles: &[Cycle]) -> PhaseMap {
        // A cycle without a next S1 ends where the recording does (to the decoder's 20 ms frame).
        let cut_from = powers.duration() - CUT_BY_END;
        let mut whole: Vec<bool> = Vec::new();
        let mut bins: Vec<[[f32; MAP_BANDS]; 2 * PHASE_BINS]> = Vec::new();
        let mut sounds: Vec<[f32; MAP_BANDS]> = Vec::new();
        let mut weaker: Vec<f32> = Vec::new();
        for c in cycles.iter().filter(|c| c.accepted) {
            let ((ss, se), (ds, de)) = phase_windows(c);
            if se - ss < 0.04 || de - ds < 0.08 {
                continue;
            }
            let mut cycle_bins = [[0f32; MAP_BANDS]; 2 * PHASE_BINS];
            let mut cycle_sounds = [0f32; MAP_BANDS];
            let mut ok = true;
            for b in 0..MAP_BANDS {
                let s = 0.5
                    * (powers.mean(b, c.s1.start.0, c.s1.end.0).unwrap_or(0.0)
                        + powers.mean(b, c.s2.start.0, c.s2.end.0).unwrap_or(0.0));
                cycle_sounds[b] = ((s + EPS).ln()) as f32;
                for (diastole, (t0, t1)) in [(false, (ss, se)), (true, (ds, de))] {
                    let w = (t1 - t0) / PHASE_BINS as f64;
                    for (k, j) in phase_bins(diastole).enumerate() {
                        let a = t0 + k as f64 * w;
                        match powers.mean(b, a, a + w) {
                            Some(v) => cycle_bins[j][b] = ((v + EPS).ln()) as f32,
                            None => ok = false,
                        }
                    }
                }
            }
            if ok {
                let s1 = powers.mean(0, c.s1.start.0, c.s1.end.0).unwrap_or(0.0);
                let s2 = powers.mean(0, c.s2.start.0, c.s2.end.0).unwrap_or(0.0);
                bins.push(cycle_bins);
                whole.push(c.end.0 < cut_from);
                sounds.push(cycle_sounds);
                weaker.push(((s1.min(s2) + EPS).ln()) as f32);
            }
        }
        PhaseMap {
            bins: Array3::from(bins),
            sounds: Array2::from(sounds),
            weaker: Array1::from(weaker),
            whole,
        }
    }

    /// How many cycles the map holds.
    pub fn cycles(&self) -> usize {
        self.bins.len_of(CYCLE_AXIS)
    }

    /// Log power of cycle `c`, phase `diastole`, bin `k`, band `b`.
    pub fn at(&self, c: usize, diastole: bool, k: usize, b: usize) -> f32 {
        self.bins[[c, phase_bins(diastole).start + k, b]]
    }

    /// One phase's bins in band `b`: `cycles × PHASE_BINS`.
    pub fn phase(&self, diastole: bool, b: usize) -> ArrayView2<'_, f32> {
        self.bins
            .slice_axis(PHASE_BIN_AXIS, Slice::from(phase_bins(diastole)))
            .index_axis_move(BAND_AXIS, b)
    }

    /// The recording's floor in band `b`: median over cycles of the cycle's quietest bin; NaN
    /// without cycles.
    pub fn floor(&self, b: usize) -> f32 {
        if self.cycles() == 0 || b >= self.bins.len_of(BAND_AXIS) {
            // (`PhaseMap::default()` has no band axis to index.)
            return f32::NAN;
        }
        let mut v: Vec<f32> = self
            .bins
            .index_axis(BAND_AXIS, b)
            .outer_iter()
            .map(least)
            .collect();
        median(&mut v)
    }

    /// Median over cycles of a phase's mean log power above the recording's floor, in band `b`.
    pub fn above_floor(&self, diastole: bool, b: usize) -> f32 {
        let floor = self.floor(b);
        let mut v: Vec<f32> = self
            .phase(diastole, b)
            .outer_iter()
            .map(|bins| mean(bins) - floor)
            .collect();
        median(&mut v)
    }

    /// The largest share of cycles in which one stretch of [`REPEAT_BINS`] neighbouring bins of
    /// the phase (the same stretch in every cycle counted; full band) stands at least
    /// [`REPEAT_DB`] above the recording's floor: a murmur repeats at the same phase beat after
    /// beat, noise does not. Ejection murmurs (early to mid systole), late systolic murmurs and a
    /// stenosis' mid-to-late diastolic rumble fill three quarters of their phase as a
    /// holosystolic murmur fills all of it. NaN without cycles.
    pub fn repeat(&self, diastole: bool) -> f32 {
        let n = self.cycles();
        if n == 0 {
            return f32::NAN;
        }
        let floor = self.floor(0);
        let margin = log_power_margin(REPEAT_DB);
        let phase = self.phase(diastole, 0);
        let hits = (0..=PHASE_BINS - REPEAT_BINS)
            .map(|first| {
                phase
                    .outer_iter()
                    .filter(|bins| {
                        let stretch =
                            bins.slice_axis(Axis(0), Slice::from(first..first + REPEAT_BINS));
                        least(stretch) - floor >= margin
                    })
                    .count()
            })
            .max()
            .unwrap_or(0);
        hits as f32 / n as f32
    }

    /// The share of the whole cycles ([`PhaseMap::whole`]) in which the last [`LATE_BINS`] bins of
    /// the phase (full band) each stand at least [`LATE_DB`] above the recording's floor: a murmur
    /// confined to the end of its phase, which [`PhaseMap::repeat`]'s three bins miss (a late
    /// systolic murmur of mitral prolapse, the presystolic crescendo of mitral stenosis). The
    /// stretch is half a phase, so it must stand far higher; and only the *last* bins count, as
    /// the first bins of a phase hold the tail of the sound before them. NaN without whole
    /// cycles.
    pub fn late_repeat(&self, diastole: bool) -> f32 {
        let floor = self.floor(0);
        let margin = log_power_margin(LATE_DB);
        self.whole_cycle_share(diastole, 0, |bins| {
            let late = bins.slice_axis(Axis(0), Slice::from(PHASE_BINS - LATE_BINS..));
            least(late) - floor >= margin
        })
    }

    /// The share of the whole cycles in which the first [`EARLY_BINS`] bins of the phase, in the
    /// high band, each stand at least [`EARLY_DB`] above the phase's last bin in the same cycle
    /// and band: a high-pitched decrescendo from the start of its phase (aortic
    /// regurgitation's, right after S2), which [`PhaseMap::repeat`]'s three bins miss (it fills
    /// half of diastole) and whose height above the recording's floor depends on the device's
    /// noise. A contrast within one cycle and band does not. The first bins of a phase can hold
    /// the tail of the sound before them ([`PhaseMap::late_repeat`]), but a heart sound's tail is
    /// low-pitched and the phase's trimmed window starts after it: in the high band none of
    /// PhysioNet's normals repeats early. NaN without whole cycles.
    pub fn early_repeat(&self, diastole: bool) -> f32 {
        let margin = log_power_margin(EARLY_DB);
        self.whole_cycle_share(diastole, MAP_BANDS - 1, |bins| {
            let early = bins.slice_axis(Axis(0), Slice::from(0..EARLY_BINS));
            least(early) - bins[PHASE_BINS - 1] >= margin
        })
    }

    /// The share of the whole cycles ([`PhaseMap::whole`]) whose bins of the phase, in band
    /// `band`, pass `test`; NaN without whole cycles.
    fn whole_cycle_share(
        &self,
        diastole: bool,
        band: usize,
        test: impl Fn(ArrayView1<'_, f32>) -> bool,
    ) -> f32 {
        let whole = self.whole.iter().filter(|&&w| w).count();
        if whole == 0 {
            return f32::NAN;
        }
        let hits = self
            .phase(diastole, band)
            .outer_iter()
            .zip(&self.whole)
            .filter(|(bins, whole)| **whole && test(bins.view()))
            .count();
        hits as f32 / whole as f32
    }

    /// Median over cycles of how far (dB) the cycle's weaker heart sound stands above its
    /// quietest phase bin (full band); NaN without cycles. A heart gives two sounds a cycle, each
    /// well above the silence between them (at least 5.1 dB in 1,370 of the 1,371 recordings of
    /// `../shared/data` with two measurable cycles, median 18 dB; PhysioNet c0025, whose S2 a
    /// systolic murmur buries, 2.8 dB); a tapping, a knock or a pulse segmented as cycles gives
    /// one, and its "other sound" is silence (1.3 dB).
    pub fn weaker_sound_rise_db(&self) -> f32 {
        if self.cycles() == 0 || self.weaker.is_empty() {
            // (Also for `PhaseMap::default()`, whose arrays have no band axis to index.)
            return f32::NAN;
        }
        let mut v: Vec<f32> = self
            .weaker
            .iter()
            .zip(self.bins.index_axis(BAND_AXIS, 0).outer_iter())
            .map(|(&w, bins)| log_power_db(w - least(bins)))
            .collect();
        median(&mut v)
    }

    /// Median over cycles of how far (dB) the cycle's heart sounds (the mean of S1 and S2) stand
    /// above the middle of the same cycle's eight phase bins (the fifth quietest: with a phase
    /// loud and the other quiet, the loud one's level), in map band `band` (0 the
    /// full band, then [`BANDS`]); NaN without cycles or for a band the map lacks. Heart sounds
    /// are low-pitched transients: in 25–80 Hz every recording of `../shared/data` with three
    /// cycles or more in its map (1,243) has them at least 3.8 dB above the middle of their
    /// cycle (median 15 dB). Noise the decoder has cut into "cycles" (breathing, a mix of
    /// noises with no heart under them) stands 0–2.5 dB. Within one band and one recording,
    /// so a device's gain and tilt cancel.
    pub fn sound_rise_db(&self, band: usize) -> f32 {
        if self.cycles() == 0 || band >= self.bins.len_of(BAND_AXIS) {
            return f32::NAN;
        }
        let mut v: Vec<f32> = self
            .sounds
            .column(band)
            .iter()
            .zip(self.bins.index_axis(BAND_AXIS, band).outer_iter())
            .map(|(&sounds, bins)| {
                let mut b = bins.to_vec();
                b.sort_by(f32::total_cmp);
                log_power_db(sounds - b[b.len() / 2])
            })
            .collect();
        median(&mut v)
    }

    /// The softest murmur this recording could show, as a natural log of its power over the
    /// same cycles' heart sounds (full band, the reference of `sys_rel` and the grade): a murmur
    /// filling a phase passes [`PhaseMap::repeat`] only where it lifts the bins [`REPEAT_DB`]
    /// above the recording's floor, i.e. where its own power reaches `10^(REPEAT_DB/10) − 1`
    /// times the floor's, and [`SOFTEST_MARGIN_DB`] more so that it does in most cycles. Noise,
    /// a device's hiss or breathing raise the floor and with it this limit, so a murmur call of
    /// "absent" can say what it could not have heard. NaN without cycles.
    pub fn softest_murmur_rel(&self) -> f32 {
        if self.cycles() == 0 {
            return f32::NAN;
        }
        let mut sounds: Vec<f32> = self.sounds.column(0).to_vec();
        let over_floor =
            (10f64.powf(REPEAT_DB / 10.0) - 1.0).ln() as f32 + log_power_margin(SOFTEST_MARGIN_DB);
        over_floor + self.floor(0) - median(&mut sounds)
    }

    /// Median over cycles of the quietest systolic bin relative to the same cycle's heart
    /// sounds (full band): a holosystolic murmur fills every bin.
    pub fn sys_min_rel(&self) -> f32 {
        self.min_rel(false)
    }

    /// The same for diastole: a diastolic rumble (mitral stenosis) fills every diastolic bin.
    pub fn dia_min_rel(&self) -> f32 {
        self.min_rel(true)
    }

    /// Median over cycles of a phase's quietest bin relative to the same cycle's heart sounds.
    fn min_rel(&self, diastole: bool) -> f32 {
        let mut v: Vec<f32> = self
            .phase(diastole, 0)
            .outer_iter()
            .zip(self.sounds.column(0))
            .map(|(bins, &sounds)| least(bins) - sounds)
            .collect();
        median(&mut v)
    }

    /// Median over cycles of the quietest systolic bin minus the quietest diastolic bin of the
    /// same cycle (full band): stationary noise raises both alike.
    pub fn sys_min_minus_dia_min(&self) -> f32 {
        let mut v: Vec<f32> = self
            .phase(false, 0)
            .outer_iter()
            .zip(self.phase(true, 0).outer_iter())
            .map(|(sys, dia)| least(sys) - least(dia))
            .collect();
        median(&mut v)
    }
}

/// The mean of one cycle's bins of a phase, summed in bin order (ndarray's own `sum` reorders
/// the additions, and the features must not move by a bit).
fn mean(bins: ArrayView1<'_, f32>) -> f32 {
    bins.iter().sum::<f32>() / bins.len() as f32
}

/// A margin in dB as a difference of natural-log powers, as the phase map holds them.
fn log_power_margin(db: f64) -> f32 {
    (db / 10.0 * std::f64::consts::LN_10) as f32
}

/// A difference of natural-log powers in dB (the inverse of [`log_power_margin`]).
fn log_power_db(log_ratio: f32) -> f32 {
    log_ratio * (10.0 / std::f32::consts::LN_10)
}

/// The least of a cycle's bins.
fn least(bins: ArrayView1<'_, f32>) -> f32 {
    bins.iter().copied().fold(f32::INFINITY, f32::min)
}

/// How far (dB) above the recording's floor every bin of a stretch of [`REPEAT_BINS`] phase
/// bins must stand for that cycle to count as repeating murmur evidence ([`PhaseMap::repeat`]).
/// With the whole phase (4 bins) at 3 dB, 5.0 % of PhysioNet's normal recordings repeated in
/// ≥ 70 % of their cycles; with 3 bins at 4.5 dB, 4.6 % (RESULTS.md).
pub const REPEAT_DB: f64 = 4.5;

/// How far (dB) above the level at which it would just lift a phase [`REPEAT_DB`] above the
/// floor a murmur must stand to be found ([`PhaseMap::softest_murmur_rel`]). Measured on
/// `auscult-synth`'s mitral regurgitation (holosystolic), grades 1–4 under white noise from
/// 20 to −2.5 dB SNR, six seeds each: found in half the seeds or more where the murmur stood
/// 1.1, 1.6, 2.8 and 2.6 dB above that level. An ejection murmur, which fills part of systole,
/// needs 5.5–5.8 dB (aortic stenosis, grades 2–3).
pub const SOFTEST_MARGIN_DB: f64 = 3.0;

/// How many neighbouring bins of a phase (of [`PHASE_BINS`]) a murmur must fill to count as
/// repeating evidence in a cycle ([`PhaseMap::repeat`]).
pub const REPEAT_BINS: usize = 3;

/// How many bins at the start of a phase [`PhaseMap::early_repeat`] reads.
pub const EARLY_BINS: usize = 2;

/// How far (dB) both of a phase's first [`EARLY_BINS`] bins must stand above its last bin, in the
/// high band, for a cycle to count in [`PhaseMap::early_repeat`]: the three-bin test's margin
/// ([`REPEAT_DB`]). Measured leave one database out at 3, 4, 4.5, 5, 6, 8 and 10 dB: 4.5
/// changes the calls of 8 of the 1,412 recordings, 7 of them labelled abnormal or murmur (the
/// eighth a PASCAL normal already flagged for its rhythm); 8 and 10 change three and none, and
/// find fewer synthetic aortic regurgitations (crates/train/RESULTS.md).
pub const EARLY_DB: f64 = REPEAT_DB;

/// How many bins at the end of a phase [`PhaseMap::late_repeat`] reads.
pub const LATE_BINS: usize = 2;

/// How far (dB) above the recording's floor both of a phase's last [`LATE_BINS`] bins must stand
/// for a cycle to count in [`PhaseMap::late_repeat`]. Measured leave one database out with 6, 8,
/// 10, 12, 15, 20, 25 and 30 dB: 15 to 25 gave the same calls on every database, 6 to 12 moved
/// PASCAL's calls (0.740–0.749) and training-b's, 30 found fewer Yaseen murmurs (RESULTS.md). 15 is
/// the most sensitive end of that plateau: a synthetic prolapse repeats late in every cycle at
/// 15 dB and in 0.76 of them at 20.
pub const LATE_DB: f64 = 15.0;

/// How near (seconds) the end of the recording a cycle may end and still be whole: the
/// segmenter's frame is 20 ms, and a cycle without a next S1 ends at the recording's end.
const CUT_BY_END: f64 = 0.03;

/// Computes the features of one recording. `powers` must have been computed on `pre`. The
/// per-phase MFCC features are computed only with `mfcc` (else NaN): no committed model reads
/// them, and they cost about 1 ms a recording ([`crate::Analyzer`] asks for them when its models
/// read them, the trainer always).
pub fn extract_features(
    pre: &Preprocessed,
    powers: &BandPowers,
    cycles: &[Cycle],
    ensemble: Option<&EnsembleCycle>,
    rhythm: Option<&Rhythm>,
    sqi: f32,
    mfcc: bool,
) -> Features {
    extract_features_and_map(pre, powers, cycles, ensemble, rhythm, sqi, mfcc).0
}

/// As [`extract_features`], and the recording's [`PhaseMap`] the phase-map features were read
/// from (the analysis judges the cycles on it too, without building it twice).
pub fn extract_features_and_map(
    pre: &Preprocessed,
    powers: &BandPowers,
    cycles: &[Cycle],
    ensemble: Option<&EnsembleCycle>,
    rhythm: Option<&Rhythm>,
    sqi: f32,
    mfcc: bool,
) -> (Features, PhaseMap) {
    let mut v = [f32::NAN; NUM_FEATURES];
    let accepted: Vec<&Cycle> = cycles.iter().filter(|c| c.accepted).collect();
    // Per-cycle relative powers: [sys all, dia all, sys b1..b3, dia b1..b3, sys/dia, sys hi frac, dia lo frac].
    let mut per: Vec<[f32; 11]> = Vec::with_capacity(accepted.len());
    for c in &accepted {
        let ((ss, se), (ds, de)) = phase_windows(c);
        if se - ss < 0.03 {
            continue;
        }
        let mut row = [f32::NAN; 11];
        for b in 0..4 {
            let s = powers.mean(b, c.s1.start.0, c.s1.end.0).unwrap_or(0.0)
                + powers.mean(b, c.s2.start.0, c.s2.end.0).unwrap_or(0.0);
            let sys = powers.mean(b, ss, se).unwrap_or(0.0);
            let (col_s, col_d) = if b == 0 { (0, 1) } else { (1 + b, 4 + b) };
            row[col_s] = log_ratio(sys, 0.5 * s);
            if de - ds >= 0.05
                && let Some(dia) = powers.mean(b, ds, de)
            {
                row[col_d] = log_ratio(dia, 0.5 * s);
            }
        }
        let sys_all = powers.mean(0, ss, se).unwrap_or(0.0);
        row[8] = row[0] - row[1];
        row[9] = log_ratio(powers.mean(3, ss, se).unwrap_or(0.0), sys_all);
        if de - ds >= 0.05 {
            let dia_all = powers.mean(0, ds, de).unwrap_or(0.0);
            row[10] = log_ratio(powers.mean(1, ds, de).unwrap_or(0.0), dia_all);
        }
        per.push(row);
    }
    // Cycles × the 11 relative powers above.
    let per = Array2::from(per);
    let column = |j: usize| -> Vec<f32> { per.column(j).to_vec() };
    for (j, slot) in [0usize, 1, 2, 3, 4, 5, 6, 7, 8].into_iter().enumerate() {
        v[slot] = median(&mut column(j));
    }
    v[23] = median(&mut column(9));
    v[24] = median(&mut column(10));
    // Beat-to-beat spread (interquartile range) of each phase's relative power.
    for (column_index, slot) in [(0, 9), (1, DIA_REL_SPREAD)] {
        let mut sr = column(column_index);
        sr.retain(|x| x.is_finite());
        if sr.len() >= 3 {
            sr.sort_by(f32::total_cmp);
            v[slot] = percentile(&sr, 0.75) - percentile(&sr, 0.25);
        }
    }

    // Segmentation-free: how much the envelope fills the gaps between the loudest sounds, and the
    // spectral balance of the whole recording.
    // Percentiles of the envelope at ~100 Hz (block means): it is smooth below 8 Hz anyway.
    let block = ((pre.rate.0 / 100.0).round() as usize).max(1);
    let mut env: Vec<f32> = pre
        .envelope
        .chunks(block)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .filter(|x| x.is_finite())
        .collect();
    env.sort_unstable_by(f32::total_cmp);
    let p95 = percentile(&env, 0.95) as f64;
    v[10] = log_ratio(percentile(&env, 0.2) as f64, p95);
    v[11] = log_ratio(percentile(&env, 0.5) as f64, p95);
    let dur = pre.pcg.len() as f64 / pre.rate.0;
    if let Some(all) = powers.mean(0, 0.0, dur) {
        v[12] = log_ratio(powers.mean(1, 0.0, dur).unwrap_or(0.0), all);
        v[13] = log_ratio(powers.mean(3, 0.0, dur).unwrap_or(0.0), all);
    }

    if let Some(ens) = ensemble {
        let s = ensemble_mean(ens, ens.s1.start.0, ens.s1.end.0).unwrap_or(0.0)
            + ensemble_mean(ens, ens.s2.start.0, ens.s2.end.0).unwrap_or(0.0);
        let ((ss, se), (ds, de)) = ensemble_phases(ens);
        if let Some(sys) = ensemble_mean(ens, ss, se) {
            v[14] = log_ratio(sys, 0.5 * s);
            v[16] = flatness(&ensemble_profile(ens, ss, se, 6));
        }
        if let Some(dia) = ensemble_mean(ens, ds, de) {
            v[15] = log_ratio(dia, 0.5 * s);
            v[17] = flatness(&ensemble_profile(ens, ds, de, 6));
        }
    }
    v[18] = sqi;
    if !cycles.is_empty() {
        v[19] = accepted.len() as f32 / cycles.len() as f32;
    }
    v[20] = ((accepted.len() + 1) as f32).ln();
    let map = PhaseMap::of(powers, cycles);
    if map.cycles() > 0 {
        for b in 0..MAP_BANDS {
            v[FIRST_PHASE_MAP_FEATURE + b] = map.above_floor(false, b);
            v[FIRST_PHASE_MAP_FEATURE + 4 + b] = map.above_floor(true, b);
        }
        v[FIRST_PHASE_MAP_FEATURE + 8] = map.repeat(false);
        v[FIRST_PHASE_MAP_FEATURE + 9] = map.repeat(true);
        v[FIRST_PHASE_MAP_FEATURE + 10] = map.sys_min_rel();
        v[FIRST_PHASE_MAP_FEATURE + 11] = map.sys_min_minus_dia_min();
        v[DIA_REL_SPREAD + 1] = map.dia_min_rel();
        v[FIRST_LATE_REPEAT_FEATURE] = map.late_repeat(false);
        v[FIRST_LATE_REPEAT_FEATURE + 1] = map.late_repeat(true);
        v[FIRST_LATE_REPEAT_FEATURE + 2] = map.early_repeat(false);
        v[FIRST_LATE_REPEAT_FEATURE + 3] = map.early_repeat(true);
    }
    let mfcc = if mfcc {
        CycleMfcc::of(&pre.pcg, pre.rate.0, cycles)
    } else {
        CycleMfcc::default()
    };
    if mfcc.cycles() > 0 {
        for k in 1..=MFCC_FEATURES {
            v[FIRST_MFCC_FEATURE + k - 1] = mfcc.median_relative(Phase::Systole, k);
            v[FIRST_MFCC_FEATURE + MFCC_FEATURES + k - 1] =
                mfcc.median_relative(Phase::Diastole, k);
        }
    }
    if let Some(r) = rhythm {
        v[21] = (r.heart_rate.0 / 100.0) as f32;
        let mean_rr = 60.0 / r.heart_rate.0;
        v[22] = (r.rr_sd.0 / mean_rr) as f32;
    }
    (Features { values: v }, map)
}

/// min/max of a profile (1 = flat), NaN when empty or all zero.
fn flatness(p: &[f64]) -> f32 {
    let max = p.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = p.iter().cloned().fold(f64::INFINITY, f64::min);
    if p.is_empty() || max <= 0.0 {
        f32::NAN
    } else {
        (min / max) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Interval;
    use crate::units::Hz;

    #[test]
    fn names_match_count_and_band_means_are_exact() {
        assert_eq!(FEATURE_NAMES.len(), NUM_FEATURES);
        let pre = Preprocessed {
            rate: Hz(1000.0),
            pcg: vec![2.0; 1000],
            envelope: vec![1.0; 1000],
            duration: Seconds(1.0),
            original_rate: Hz(1000.0),
        };
        let mut p = BandPowers::default();
        p.compute(&pre);
        assert!((p.mean(0, 0.1, 0.2).unwrap_or(0.0) - 4.0).abs() < 1e-9);
        assert!(p.mean(0, 0.2, 0.2).is_none());
        assert!(p.mean(0, 5.0, 6.0).is_none());
    }

    /// A map of `cycles` cycles, every bin at the floor (0) but those `loud` sets, in dB.
    fn map_of(cycles: usize, loud: impl Fn(usize, usize) -> f32, whole: Vec<bool>) -> PhaseMap {
        let db = std::f32::consts::LN_10 / 10.0;
        PhaseMap {
            bins: Array3::from_shape_fn((cycles, 2 * PHASE_BINS, MAP_BANDS), |(c, j, _)| {
                loud(c, j) * db
            }),
            sounds: Array2::from_elem((cycles, MAP_BANDS), 40.0 * db),
            weaker: Array1::from_elem(cycles, 40.0 * db),
            whole,
        }
    }

    #[test]
    fn the_softest_murmur_stands_just_clear_of_the_floor_against_the_sounds() {
        // Sounds at 40 dB, every bin at `floor` dB but a systole 20 dB louder: a murmur filling
        // a phase lifts it REPEAT_DB above the floor at 10·log10(10^0.45 − 1) = 2.6 dB over the
        // floor's own power, and is found SOFTEST_MARGIN_DB above that.
        let rel = |floor: f32| {
            map_of(
                4,
                move |_, j| if j < PHASE_BINS { floor + 20.0 } else { floor },
                vec![true; 4],
            )
            .softest_murmur_rel()
        };
        let just_clear = 10.0 * (10f64.powf(REPEAT_DB / 10.0) - 1.0).log10();
        let want = just_clear + SOFTEST_MARGIN_DB - 40.0;
        assert!((f64::from(log_power_db(rel(0.0))) - want).abs() < 1e-3);
        // A floor 10 dB higher (noise) raises the limit by as much.
        assert!((f64::from(log_power_db(rel(10.0))) - (want + 10.0)).abs() < 1e-3);
        // As a grade: a quiet recording hears a grade 1 murmur; one whose floor stands 8 dB
        // under its sounds misses a grade 3 one (the limit, 2.4 dB under them, has grade 4's
        // amplitude).
        assert_eq!(crate::murmur::grade_of_rel(rel(0.0)), 1);
        assert_eq!(crate::murmur::grade_of_rel(rel(32.0)), 4);
        assert!(PhaseMap::default().softest_murmur_rel().is_nan());
    }

    #[test]
    fn sound_rise_reads_the_sounds_over_the_fifth_quietest_bin_of_their_cycle() {
        // Sounds at 40 dB; the cycle's bins at 0 dB but for its loud half at `loud` dB (the
        // systole, four bins): the fifth quietest bin is the loud half's quietest.
        let m = |loud: f32| {
            map_of(
                4,
                move |_, j| if j < PHASE_BINS { loud } else { 0.0 },
                vec![true; 4],
            )
        };
        for band in 0..MAP_BANDS {
            assert!((m(0.0).sound_rise_db(band) - 40.0).abs() < 1e-3);
            assert!((m(38.0).sound_rise_db(band) - 2.0).abs() < 1e-3);
        }
        // A band the map lacks, and no cycle at all: no value, no panic.
        assert!(m(0.0).sound_rise_db(MAP_BANDS).is_nan());
        assert!(PhaseMap::default().sound_rise_db(1).is_nan());
    }

    #[test]
    fn early_repeat_reads_the_start_of_a_phase_against_its_end_in_whole_cycles_only() {
        // Diastole's first two bins `rise` dB over its last, in every band; the last cycle is
        // cut by the recording's end.
        let early = |rise: f32| {
            move |_: usize, j: usize| {
                if (PHASE_BINS..PHASE_BINS + EARLY_BINS).contains(&j) {
                    rise
                } else {
                    0.0
                }
            }
        };
        let whole = vec![true, true, true, false];
        let m = map_of(4, early(10.0), whole.clone());
        assert_eq!(m.early_repeat(true), 1.0);
        assert_eq!(m.early_repeat(false), 0.0);
        // Half a phase: the three-bin test does not see it.
        assert_eq!(m.repeat(true), 0.0);
        let weak = map_of(4, early((EARLY_DB - 0.5) as f32), whole.clone());
        assert_eq!(weak.early_repeat(true), 0.0);
        // Loud only in the cut cycle: nothing.
        let only_cut = map_of(
            4,
            |c, j| if c == 3 { early(10.0)(c, j) } else { 0.0 },
            whole,
        );
        assert_eq!(only_cut.early_repeat(true), 0.0);
        // No cycle at all (as for a recording without one): no value, no panic.
        assert!(PhaseMap::default().early_repeat(true).is_nan());
        assert!(PhaseMap::default().late_repeat(true).is_nan());
    }

    #[test]
    fn late_repeat_reads_the_end_of_a_phase_in_whole_cycles_only() {
        let late_dia = |_: usize, j: usize| {
            if j >= 2 * PHASE_BINS - LATE_BINS {
                25.0
            } else {
                0.0
            }
        };
        // Three whole cycles and the recording's last one, cut by its end, whose stretched
        // "diastole" is quiet: the cut cycle does not count against the murmur.
        let cut_quiet = |c: usize, j: usize| if c == 3 { 0.0 } else { late_dia(c, j) };
        let m = map_of(4, cut_quiet, vec![true, true, true, false]);
        assert_eq!(m.late_repeat(true), 1.0);
        assert_eq!(m.late_repeat(false), 0.0);
        // The three-bin test does not see a murmur in two bins, whole cycles or not.
        assert_eq!(m.repeat(true), 0.0);
        // Loud only in the cut cycle: nothing.
        let only_cut = map_of(
            4,
            |c, j| if c == 3 { late_dia(c, j) } else { 0.0 },
            vec![true, true, true, false],
        );
        assert_eq!(only_cut.late_repeat(true), 0.0);
        // A late systolic murmur.
        let late_sys = map_of(
            3,
            |_, j| {
                if (PHASE_BINS - LATE_BINS..PHASE_BINS).contains(&j) {
                    20.0
                } else {
                    0.0
                }
            },
            vec![true; 3],
        );
        assert_eq!(late_sys.late_repeat(false), 1.0);
        assert_eq!(late_sys.late_repeat(true), 0.0);
        // A sound's tail at the *start* of a phase is not a late murmur, however loud.
        let tail = map_of(
            3,
            |_, j| {
                if j == PHASE_BINS || j == PHASE_BINS + 1 {
                    30.0
                } else {
                    0.0
                }
            },
            vec![true; 3],
        );
        assert_eq!(tail.late_repeat(true), 0.0);
        // Both bins must stand LATE_DB above the floor, in every cycle counted.
        let just_under = (LATE_DB - 0.5) as f32;
        let weak = map_of(
            3,
            |_, j| {
                if j >= 2 * PHASE_BINS - LATE_BINS {
                    just_under
                } else {
                    0.0
                }
            },
            vec![true; 3],
        );
        assert_eq!(weak.late_repeat(true), 0.0);
        let one_bin = map_of(
            3,
            |_, j| if j == 2 * PHASE_BINS - 1 { 30.0 } else { 0.0 },
            vec![true; 3],
        );
        assert_eq!(one_bin.late_repeat(true), 0.0);
        let two_of_three = map_of(
            3,
            |c, j| if c < 2 { late_dia(c, j) } else { 0.0 },
            vec![true; 3],
        );
        assert!((two_of_three.late_repeat(true) - 2.0 / 3.0).abs() < 1e-6);
        // No whole cycle: not measured.
        assert!(map_of(1, late_dia, vec![false]).late_repeat(true).is_nan());
        assert!(PhaseMap::default().late_repeat(true).is_nan());
    }

    #[test]
    fn the_last_cycle_of_a_recording_is_not_whole() {
        let n = 4000;
        let pre = Preprocessed {
            rate: Hz(1000.0),
            pcg: (0..n).map(|i| ((i * 37) % 11) as f32 - 5.0).collect(),
            envelope: vec![1.0; n],
            duration: Seconds(4.0),
            original_rate: Hz(1000.0),
        };
        let mut p = BandPowers::default();
        p.compute(&pre);
        assert!((p.duration() - 4.0).abs() < 1e-9);
        let cycle = |s1: f64, end: f64| Cycle {
            r_peak: None,
            s1: Interval {
                start: Seconds(s1),
                end: Seconds(s1 + 0.12),
            },
            s2: Interval {
                start: Seconds(s1 + 0.4),
                end: Seconds(s1 + 0.5),
            },
            end: Seconds(end),
            quality: 1.0,
            accepted: true,
        };
        let m = PhaseMap::of(
            &p,
            &[
                cycle(0.1, 1.1),
                cycle(1.1, 2.1),
                cycle(2.1, 3.1),
                cycle(3.1, 4.0),
            ],
        );
        assert_eq!(m.cycles(), 4);
        assert_eq!(m.whole, vec![true, true, true, false]);
    }

    #[test]
    fn no_cycles_gives_nan_cycle_features_but_finite_global_ones() {
        let pcg: Vec<f32> = (0..2000).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let pre = Preprocessed {
            rate: Hz(1000.0),
            envelope: pcg.iter().map(|v| v.abs()).collect(),
            pcg,
            duration: Seconds(2.0),
            original_rate: Hz(1000.0),
        };
        let mut p = BandPowers::default();
        p.compute(&pre);
        let f = extract_features(&pre, &p, &[], None, None, 0.5, true);
        assert!(f.get("sys_rel").is_nan());
        assert!(f.get("env_fill_20").is_finite());
        assert!(f.get("whole_high_frac").is_finite());
        assert!(f.get("no_such").is_nan());
        let c = Cycle {
            r_peak: None,
            s1: Interval {
                start: Seconds(0.1),
                end: Seconds(0.2),
            },
            s2: Interval {
                start: Seconds(0.45),
                end: Seconds(0.55),
            },
            end: Seconds(0.9),
            quality: 1.0,
            accepted: true,
        };
        let f = extract_features(&pre, &p, &[c], None, None, 0.5, true);
        assert!(f.get("sys_rel").is_finite());
        assert!(f.get("dia_rel").is_finite());
    }
}

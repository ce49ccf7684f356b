//! IIR filters for the front end: Butterworth low-pass, high-pass and band-pass as cascades of
//! second-order sections, run forwards or forwards-and-backwards (zero phase).
//!
//! Zero-phase filtering matters here: a heart sound's timing is what segmentation reports, and a
//! causal 25 Hz high-pass would shift it by several milliseconds. Filters are O(n), allocate only
//! their output, and must never panic, whatever the input (empty, NaN, one sample).

use multiversion::multiversion;
use std::f64::consts::PI;

/// One second-order section (biquad), normalised so `a0 == 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
}

impl Biquad {
    fn from_f64(b: [f64; 3], a: [f64; 3]) -> Self {
        let a0 = a[0];
        Biquad {
            b0: (b[0] / a0) as f32,
            b1: (b[1] / a0) as f32,
            b2: (b[2] / a0) as f32,
            a1: (a[1] / a0) as f32,
            a2: (a[2] / a0) as f32,
        }
    }
}

/// A section that passes its input through (pads a shorter cascade in a lane group).
const IDENTITY: Biquad = Biquad {
    b0: 1.0,
    b1: 0.0,
    b2: 0.0,
    a1: 0.0,
    a2: 0.0,
};

/// Steady-state initial conditions of a section for a constant input `x0`.
fn settled(s: &Biquad, x0: f32) -> (f32, f32, f32) {
    let den = 1.0 + s.a1 + s.a2;
    let g = if den.abs() > 1e-12 {
        (s.b0 + s.b1 + s.b2) / den
    } else {
        0.0
    };
    let y0 = g * x0;
    (y0 - s.b0 * x0, s.b2 * x0 - s.a2 * y0, y0)
}

/// How a pass chooses its sections' initial states from its first input sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Every section at the steady state of the previous one's steady-state output (filtfilt).
    Steady,
    /// Every section at the steady state of the previous one's actual first output, as when the
    /// sections are run one after the other ([`Sos::apply`]).
    Chained,
}

/// Initial `[z1, z2]` of every section of `sos` for a pass starting at input `x0`.
fn start_states(sos: &Sos, x0: f32, start: Start) -> Vec<[f32; 2]> {
    let mut input = x0;
    sos.sections
        .iter()
        .map(|sec| {
            let (z1, z2, y0) = settled(sec, input);
            input = match start {
                Start::Steady => y0,
                Start::Chained => sec.b0 * input + z1,
            };
            [z1, z2]
        })
        .collect()
}

/// Up to four sections of up to four cascades, one cascade per lane, coefficients and states
/// laid out structure-of-arrays so that one sample of every lane advances with a few vector
/// operations. A biquad is a serial recursion (each output waits on the last); running the lanes
/// and the sections side by side keeps the CPU busy while it waits.
///
/// Each lane computes exactly what a section-by-section transposed direct form II computes
/// (same operations in the same order), so results do not depend on the grouping.
struct Lanes<const C: usize, const S: usize> {
    b0: [[f32; C]; S],
    b1: [[f32; C]; S],
    b2: [[f32; C]; S],
    a1: [[f32; C]; S],
    a2: [[f32; C]; S],
    z1: [[f32; C]; S],
    z2: [[f32; C]; S],
}

impl<const C: usize, const S: usize> Lanes<C, S> {
    /// Sections `first..first + S` of each cascade (identity past a cascade's end), with their
    /// initial states.
    #[inline(always)]
    fn new(cascades: &[&Sos; C], states: &[Vec<[f32; 2]>; C], first: usize) -> Self {
        let mut l = Lanes {
            b0: [[0.0; C]; S],
            b1: [[0.0; C]; S],
            b2: [[0.0; C]; S],
            a1: [[0.0; C]; S],
            a2: [[0.0; C]; S],
            z1: [[0.0; C]; S],
            z2: [[0.0; C]; S],
        };
        for s in 0..S {
            for c in 0..C {
                let k = first + s;
                let sec = cascades[c].sections.get(k).unwrap_or(&IDENTITY);
                let z = states[c].get(k).copied().unwrap_or([0.0, 0.0]);
                l.b0[s][c] = sec.b0;
                l.b1[s][c] = sec.b1;
                l.b2[s][c] = sec.b2;
                l.a1[s][c] = sec.a1;
                l.a2[s][c] = sec.a2;
                l.z1[s][c] = z[0];
                l.z2[s][c] = z[1];
            }
        }
        l
    }

    #[inline(always)]
    fn step(&mut self, v: &mut [f32; C]) {
        for s in 0..S {
            for (c, lane) in v.iter_mut().enumerate() {
                let xi = *lane;
                let y = self.b0[s][c] * xi + self.z1[s][c];
                self.z1[s][c] = self.b1[s][c] * xi - self.a1[s][c] * y + self.z2[s][c];
                self.z2[s][c] = self.b2[s][c] * xi - self.a2[s][c] * y;
                *lane = y;
            }
        }
    }

    /// Steps `from..to` of a pass over `x` (step 0 is the first sample in the direction of
    /// travel).
    #[inline(always)]
    fn run_steps(&mut self, x: &mut [[f32; C]], backwards: bool, from: usize, to: usize) {
        let n = x.len();
        if backwards {
            for v in x[n - to..n - from].iter_mut().rev() {
                self.step(v);
            }
        } else {
            for v in x[from..to].iter_mut() {
                self.step(v);
            }
        }
    }

    /// Writes the lanes' states into `states` (sections `first..first + S` of each cascade that
    /// has them).
    #[inline(always)]
    fn store(&self, states: &mut States<C>, first: usize) {
        for (c, lane) in states.iter_mut().enumerate() {
            for s in 0..S {
                if let Some(z) = lane.get_mut(first + s) {
                    *z = [self.z1[s][c], self.z2[s][c]];
                }
            }
        }
    }

    #[inline(always)]
    fn run(mut self, x: &mut [[f32; C]], backwards: bool) {
        self.run_steps(x, backwards, 0, x.len());
    }
}

/// Runs `C` cascades, cascade `c` over lane `c` of `x`, in place, forwards or backwards, each
/// section starting as `start` says from the lane's first sample (in the direction of travel).
///
/// Compiled for any x86-64 and for one with AVX2 (`multiversion`, chosen when called, in
/// [`run_cascades_marked`]): both compute the same operations in the same order (no fused
/// multiply-add), so their results agree to the bit (checked by a test). Every filter here
/// runs through it.
#[inline]
fn run_cascades<const C: usize>(
    cascades: &[&Sos; C],
    x: &mut [[f32; C]],
    backwards: bool,
    start: Start,
) {
    run_cascades_marked(cascades, x, backwards, start, &[]);
}

/// [`run_cascades`], also returning every section's state in every lane after each step count
/// of `marks` (ascending) and at the end: `marks.len() + 1` snapshots (none without marks).
/// This is the function compiled twice, for any x86-64 and for AVX2.
#[multiversion(targets("x86_64+avx2"))]
fn run_cascades_marked<const C: usize>(
    cascades: &[&Sos; C],
    x: &mut [[f32; C]],
    backwards: bool,
    start: Start,
    marks: &[usize],
) -> Vec<States<C>> {
    cascades_portable(cascades, x, backwards, start, marks)
}

/// `[z1, z2]` of every section, lane by lane.
type States<const C: usize> = [Vec<[f32; 2]>; C];

/// The loop of [`run_cascades`] and [`run_cascades_marked`], inlined into each of their
/// versions. Returns the snapshots of `marks` (none for no marks).
#[inline(always)]
fn cascades_portable<const C: usize>(
    cascades: &[&Sos; C],
    x: &mut [[f32; C]],
    backwards: bool,
    start: Start,
    marks: &[usize],
) -> Vec<States<C>> {
    let first = if backwards { x.last() } else { x.first() };
    let Some(&first) = first else {
        return Vec::new();
    };
    let states: States<C> = std::array::from_fn(|c| start_states(cascades[c], first[c], start));
    let mut snaps = if marks.is_empty() {
        Vec::new()
    } else {
        vec![states.clone(); marks.len() + 1]
    };
    let sections = cascades.iter().map(|s| s.sections.len()).max().unwrap_or(0);
    let mut k = 0;
    while k < sections {
        match sections - k {
            1 => run_group::<C, 1>(cascades, &states, k, x, backwards, marks, &mut snaps),
            2 => run_group::<C, 2>(cascades, &states, k, x, backwards, marks, &mut snaps),
            3 => run_group::<C, 3>(cascades, &states, k, x, backwards, marks, &mut snaps),
            _ => run_group::<C, 4>(cascades, &states, k, x, backwards, marks, &mut snaps),
        }
        k += 4;
    }
    snaps
}

/// Sections `first..first + S` of each cascade over the whole pass; with `marks`, their
/// states stored into `snaps` after each mark and at the end.
#[inline(always)]
fn run_group<const C: usize, const S: usize>(
    cascades: &[&Sos; C],
    states: &States<C>,
    first: usize,
    x: &mut [[f32; C]],
    backwards: bool,
    marks: &[usize],
    snaps: &mut [States<C>],
) {
    let mut lanes = Lanes::<C, S>::new(cascades, states, first);
    if marks.is_empty() {
        lanes.run(x, backwards);
        return;
    }
    let mut from = 0;
    for (snap, &to) in snaps.iter_mut().zip(marks.iter().chain([&x.len()])) {
        let to = to.clamp(from, x.len());
        lanes.run_steps(x, backwards, from, to);
        lanes.store(snap, first);
        from = to;
    }
}

/// A cascade of biquads: one IIR filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Sos {
    sections: Vec<Biquad>,
}

/// The Q of each second-order section of an `order`-th order Butterworth filter, and whether a
/// first-order section is needed (odd orders).
fn butterworth_qs(order: usize) -> (Vec<f64>, bool) {
    let n = order.max(1);
    let qs = (0..n / 2)
        .map(|k| {
            // Pole angles from the negative real axis: (2k+1)π/2n for even n, (k+1)π/n for odd.
            let theta = if n.is_multiple_of(2) {
                PI * (2 * k + 1) as f64 / (2 * n) as f64
            } else {
                PI * (k + 1) as f64 / n as f64
            };
            1.0 / (2.0 * theta.cos())
        })
        .collect();
    (qs, n % 2 == 1)
}

/// Clamps a cut-off into (0, Nyquist) so designs never produce NaN coefficients.
fn normalised_omega(cutoff: f64, rate: f64) -> f64 {
    let nyq = rate / 2.0;
    let fc = if cutoff.is_finite() {
        cutoff.clamp(nyq * 1e-6, nyq * 0.999)
    } else {
        nyq * 0.5
    };
    2.0 * PI * fc / rate
}

impl Sos {
    /// A Butterworth low-pass of `order` (≥ 1) at `cutoff` Hz for signals sampled at `rate` Hz.
    pub fn butter_lowpass(order: usize, cutoff: f64, rate: f64) -> Self {
        let w0 = normalised_omega(cutoff, rate);
        let (qs, odd) = butterworth_qs(order);
        let (s, c) = w0.sin_cos();
        let mut sections: Vec<Biquad> = qs
            .iter()
            .map(|q| {
                let alpha = s / (2.0 * q);
                Biquad::from_f64(
                    [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
                    [1.0 + alpha, -2.0 * c, 1.0 - alpha],
                )
            })
            .collect();
        if odd {
            let k = (w0 / 2.0).tan();
            sections.push(Biquad::from_f64([k, k, 0.0], [k + 1.0, k - 1.0, 0.0]));
        }
        Sos { sections }
    }

    /// A Butterworth high-pass of `order` (≥ 1) at `cutoff` Hz for signals sampled at `rate` Hz.
    pub fn butter_highpass(order: usize, cutoff: f64, rate: f64) -> Self {
        let w0 = normalised_omega(cutoff, rate);
        let (qs, odd) = butterworth_qs(order);
        let (s, c) = w0.sin_cos();
        let mut sections: Vec<Biquad> = qs
            .iter()
            .map(|q| {
                let alpha = s / (2.0 * q);
                Biquad::from_f64(
                    [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
                    [1.0 + alpha, -2.0 * c, 1.0 - alpha],
                )
            })
            .collect();
        if odd {
            let k = (w0 / 2.0).tan();
            sections.push(Biquad::from_f64([1.0, -1.0, 0.0], [k + 1.0, k - 1.0, 0.0]));
        }
        Sos { sections }
    }

    /// A band-pass made of a high-pass at `low` and a low-pass at `high`, each of `order`.
    pub fn butter_bandpass(order: usize, low: f64, high: f64, rate: f64) -> Self {
        let mut sos = Sos::butter_highpass(order, low, rate);
        sos.sections
            .extend(Sos::butter_lowpass(order, high, rate).sections);
        sos
    }

    /// Filters `x` in place, causally (from the steady state for its first sample).
    pub fn apply(&self, x: &mut [f32]) {
        let (lanes, _) = x.as_chunks_mut::<1>();
        run_cascades(&[self], lanes, false, Start::Chained);
    }

    /// Filters `x` forwards then backwards (zero phase, squared magnitude response), with the ends
    /// padded by odd reflection to tame edge transients.
    pub fn filtfilt(&self, x: &[f32]) -> Vec<f32> {
        filtfilt_bank(&[self], x).pop().unwrap_or_default()
    }

    /// The largest radius of the filter's poles (0 for no section): how slowly its state
    /// forgets where it started.
    fn slowest_pole(&self) -> f64 {
        self.sections
            .iter()
            .map(|s| {
                // The roots of z² + a1·z + a2.
                let (a1, a2) = (f64::from(s.a1), f64::from(s.a2));
                let disc = a1 * a1 - 4.0 * a2;
                if disc < 0.0 {
                    a2.sqrt()
                } else {
                    let root = disc.sqrt();
                    ((-a1 + root) / 2.0).abs().max(((-a1 - root) / 2.0).abs())
                }
            })
            .fold(0.0, f64::max)
    }

    fn padding(&self, n: usize) -> usize {
        (6 * self.sections.len() * 8).min(n.saturating_sub(1))
    }
}

/// Cascades per lane group: four `f32` lanes fill one SSE vector. Three lanes measured slower
/// than four (the compiler then keeps the states in memory), so a group of fewer filters repeats
/// its last one in the spare lanes.
const GROUP: usize = 4;

/// Up to [`GROUP`] cascades, the last repeated to fill the group.
fn group_of<'a>(filters: &[&'a Sos]) -> [&'a Sos; GROUP] {
    std::array::from_fn(|c| filters[c.min(filters.len() - 1)])
}

/// [`Sos::filtfilt`] of one input through several filters at once (one output per filter),
/// four filters to a lane group so their recursions overlap.
pub fn filtfilt_bank(filters: &[&Sos], x: &[f32]) -> Vec<Vec<f32>> {
    let n = x.len();
    if n == 0 {
        return vec![Vec::new(); filters.len()];
    }
    let pad = filters.iter().map(|f| f.padding(n)).max().unwrap_or(0);
    let mut buf = padded(x, pad);
    let mut out = Vec::with_capacity(filters.len());
    if let [one] = filters {
        match filtfilt_split(one, &buf, pad, n) {
            Some(y) => out.push(y),
            None => filtfilt_lanes(&[*one], buf.as_chunks_mut::<1>().0, pad, n, &mut out),
        }
        return out;
    }
    for group in filters.chunks(GROUP) {
        let mut lanes: Vec<[f32; GROUP]> = buf.iter().map(|&v| [v; GROUP]).collect();
        filtfilt_lanes(&group_of(group), &mut lanes, pad, n, &mut out);
        out.truncate(out.len() - (GROUP - group.len()));
    }
    out
}

/// `x` (not empty) with `pad` samples at each end, reflected oddly about its end samples
/// (`pad` < `x.len()`).
fn padded(x: &[f32], pad: usize) -> Vec<f32> {
    let n = x.len();
    let mut buf = Vec::with_capacity(n + 2 * pad);
    let (first, last) = (x[0], x[n - 1]);
    buf.extend((1..=pad).rev().map(|i| 2.0 * first - x[i]));
    buf.extend_from_slice(x);
    buf.extend((1..=pad).map(|i| 2.0 * last - x[n - 1 - i]));
    buf
}

/// [`Sos::apply`] of one input through several filters at once: `outs[k]` (its buffer reused)
/// becomes `x` filtered causally by `filters[k]`, bit for bit what `apply` gives. Four filters
/// run side by side in one lane group, which costs little more than one of them alone. Extra
/// buffers in `outs` are left alone.
pub fn apply_bank(filters: &[&Sos], x: &[f32], outs: &mut [Vec<f32>]) {
    let k = filters.len().min(outs.len());
    for (group, outs) in filters[..k].chunks(GROUP).zip(outs.chunks_mut(GROUP)) {
        let mut lanes: Vec<[f32; GROUP]> = x.iter().map(|&v| [v; GROUP]).collect();
        run_cascades(&group_of(group), &mut lanes, false, Start::Chained);
        for (c, out) in outs.iter_mut().enumerate().take(group.len()) {
            out.clear();
            out.extend(lanes.iter().map(|v| v[c]));
        }
    }
}

/// Samples each lane of [`filtfilt_split`] runs before the stretch it keeps (after it, going
/// backwards), so that its state has forgotten where it started. A difference in a section's
/// state shrinks by the slowest pole's radius `r` each sample, to 1e-12 of itself in
/// `ln 1e-12 / ln r` samples, then may linger a while at the size of one `f32` rounding step,
/// longest for the front end's band-pass. Measured over the 1,413 recordings of
/// `../shared/data` (a split declines where a lane has not met the whole pass): the front
/// end's band-pass (r 0.895, 249 samples to 1e-12) met it in 69 of 841 passes within 498
/// samples, 212 of 263 within 996, 212 of 217 within 1,493 and 158 of 160 within 1,991; the
/// homomorphic envelope's low-pass (r 0.951, 549 samples) in every pass within 1,099.
const SPLIT_WARM_UP: usize = 1536;

/// The warm-up of [`filtfilt_split`] for a filter: [`SPLIT_WARM_UP`], if the slowest pole's
/// difference shrinks to 1e-12 within half of it (radius up to about 0.965); `None` for slower
/// filters (a 1 Hz high-pass at 500 Hz, r 0.991, needs 3,117 samples for that), whose
/// warm-ups would cost more than they save.
fn split_warm_up(filter: &Sos) -> Option<usize> {
    let r = filter.slowest_pole();
    (r < 1.0 && 1e-12f64.ln() / r.max(1e-3).ln() <= SPLIT_WARM_UP as f64 / 2.0)
        .then_some(SPLIT_WARM_UP)
}

/// The lanes [`filtfilt_split`] runs side by side: eight `f32` lanes fill one AVX2 vector
/// (two SSE ones).
const SPLIT_LANES: usize = 8;

/// [`Sos::filtfilt`] of one filter over a long padded signal `buf`, the signal cut into
/// [`SPLIT_LANES`] stretches that run side by side in the lanes of one group. A biquad's
/// recursion is serial: one filter alone leaves the lanes idle, and the CPU waits on each
/// sample's last result; split eight ways, a 30 s pass takes about a quarter of the time.
/// (Banks of two or more filters already fill a group's lanes; the segmentation's three bands
/// split two ways each measured slower, the copying in and out costing more than the shorter
/// passes saved.)
///
/// Each lane starts [`SPLIT_WARM_UP`] samples before its stretch (going forwards; after it,
/// going backwards), from the steady state of that sample as the whole pass starts from its
/// first, and keeps only its stretch. The first lane going forwards and the last going
/// backwards start where the whole pass does, so they compute it exactly. Each other lane, at
/// the end of its warm-up, must hold every section's state to the bit as the lane before it
/// (computing the whole pass there) holds it at the same sample: from there on both run the
/// same operations on the same inputs, so by induction every kept sample is the whole pass's,
/// to the bit. Where a lane's state has not met it yet (or holds a NaN), `None`: the caller
/// runs the whole pass. `None` too for a filter too slow to forget ([`split_warm_up`]) or a
/// signal too short (each stretch at least twice the warm-up, so the warm-ups cost at most a
/// third of the work: about 25 s at 1 kHz). Returns the kept `n` samples after `pad`.
fn filtfilt_split(filter: &Sos, buf: &[f32], pad: usize, n: usize) -> Option<Vec<f32>> {
    filtfilt_split_with(filter, buf, pad, n, split_warm_up(filter)?)
}

/// [`filtfilt_split`] with a warm-up of `warm_up` samples.
fn filtfilt_split_with(
    filter: &Sos,
    buf: &[f32],
    pad: usize,
    n: usize,
    warm_up: usize,
) -> Option<Vec<f32>> {
    let total = buf.len();
    if total < SPLIT_LANES * 2 * warm_up {
        return None;
    }
    let keep = total.div_ceil(SPLIT_LANES);
    let width = keep + warm_up;
    let group = [filter; SPLIT_LANES];
    // Forwards: lane c runs from `c·keep − warm-up` (lane 0 from 0) and keeps
    // `[c·keep, (c + 1)·keep)`.
    let fwd_start = |c: usize| -> isize {
        if c == 0 {
            0
        } else {
            (c * keep) as isize - warm_up as isize
        }
    };
    let mut lanes = vec![[0.0f32; SPLIT_LANES]; width];
    split_pass(&group, &mut lanes, buf, fwd_start, false, warm_up, keep)?;
    let mut forward = vec![0.0f32; total];
    for (c, stretch) in forward.chunks_mut(keep).enumerate() {
        let offset = ((c * keep) as isize - fwd_start(c)) as usize;
        for (y, l) in stretch.iter_mut().zip(&lanes[offset..]) {
            *y = l[c];
        }
    }
    // Backwards: lane c keeps `[end_c − keep, end_c)` with `end_c = total − (last − c)·keep`
    // and runs from `end_c + warm-up` (the last lane from the end).
    let last = SPLIT_LANES - 1;
    let end = |c: usize| -> isize { (total - (last - c) * keep) as isize };
    let bwd_start = |c: usize| -> isize {
        if c == last {
            total as isize - width as isize
        } else {
            end(c) - keep as isize
        }
    };
    split_pass(&group, &mut lanes, &forward, bwd_start, true, warm_up, keep)?;
    let mut out = vec![0.0f32; n];
    for c in 0..SPLIT_LANES {
        let from = (end(c) - keep as isize).max(pad as isize) as usize;
        let to = (end(c) as usize).min(pad + n).max(from);
        let offset = (from as isize - bwd_start(c)) as usize;
        for (y, l) in out[from - pad..to - pad].iter_mut().zip(&lanes[offset..]) {
            *y = l[c];
        }
    }
    Some(out)
}

/// One direction of [`filtfilt_split_with`]: lane `c` of `lanes` filled from `src` at
/// `start(c)`, the group run over them, and the check that every lane but the first in the
/// direction of travel ends its warm-up holding, to the bit, the state the lane before it
/// holds at the same sample: the first lane there after `keep` steps, any other at its end.
/// `None` where one does not.
fn split_pass(
    group: &[&Sos; SPLIT_LANES],
    lanes: &mut [[f32; SPLIT_LANES]],
    src: &[f32],
    start: impl Fn(usize) -> isize,
    backwards: bool,
    warm_up: usize,
    keep: usize,
) -> Option<()> {
    for c in 0..SPLIT_LANES {
        fill_lane(lanes, c, src, start(c));
    }
    let snaps = run_cascades_marked(group, lanes, backwards, Start::Steady, &[warm_up, keep]);
    let [warmed, at_keep, at_end] = &snaps[..] else {
        return None;
    };
    let first = if backwards { SPLIT_LANES - 1 } else { 0 };
    let before = |c: usize| if backwards { c + 1 } else { c - 1 };
    (0..SPLIT_LANES)
        .filter(|&c| c != first)
        .all(|c| {
            let b = before(c);
            same_bits(
                &warmed[c],
                if b == first { &at_keep[b] } else { &at_end[b] },
            )
        })
        .then_some(())
}

/// Lane `c` of `lanes` becomes `src[start..start + lanes.len()]`, 0 where that runs outside
/// `src` (wherever `start` lies).
fn fill_lane<const C: usize>(lanes: &mut [[f32; C]], c: usize, src: &[f32], start: isize) {
    // `lanes[lo..hi]` is what overlaps `src`, from `src[start + lo]`.
    let lo = usize::try_from(-start).unwrap_or(0).min(lanes.len());
    let hi = usize::try_from(src.len() as isize - start)
        .unwrap_or(0)
        .clamp(lo, lanes.len());
    for (j, v) in lanes.iter_mut().enumerate() {
        v[c] = if (lo..hi).contains(&j) {
            src[(start + j as isize) as usize]
        } else {
            0.0
        };
    }
}

/// Whether two lanes' section states are the same to the bit (a NaN never is, and −0 is not 0).
fn same_bits(a: &[[f32; 2]], b: &[[f32; 2]]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x[0].to_bits() == y[0].to_bits()
                && x[1].to_bits() == y[1].to_bits()
                && !x[0].is_nan()
                && !x[1].is_nan()
        })
}

/// Forward and backward passes of `C` filters over the padded lanes; appends each filter's
/// output (padding removed) to `out`.
fn filtfilt_lanes<const C: usize>(
    filters: &[&Sos; C],
    lanes: &mut [[f32; C]],
    pad: usize,
    n: usize,
    out: &mut Vec<Vec<f32>>,
) {
    run_cascades(filters, lanes, false, Start::Steady);
    run_cascades(filters, lanes, true, Start::Steady);
    let kept = &lanes[pad..pad + n];
    for c in 0..C {
        out.push(kept.iter().map(|v| v[c]).collect());
    }
}

/// A centred moving average of odd width `width` (clamped to at least 1), O(n), same length.
/// Compiled for any x86-64 and for one with AVX2, to the bit alike (see [`run_cascades`]).
#[multiversion(targets("x86_64+avx2"))]
pub fn moving_average(x: &[f32], width: usize) -> Vec<f32> {
    moving_average_portable(x, width)
}

/// The body of [`moving_average`], inlined into each of its versions.
#[inline(always)]
fn moving_average_portable(x: &[f32], width: usize) -> Vec<f32> {
    let n = x.len();
    let half = width / 2;
    if n == 0 {
        return Vec::new();
    }
    let mut prefix = vec![0.0f64; n + 1];
    let mut acc = 0.0f64;
    for (p, &v) in prefix[1..].iter_mut().zip(x) {
        acc += v as f64;
        *p = acc;
    }
    let mean = |i: usize| {
        let lo = i.saturating_sub(half);
        let hi = (i + half + 1).min(n);
        ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
    };
    // Where the whole window fits, every mean divides by the same width: one loop over two
    // shifted views of the prefix sums, which vectorises (the same divisions as at the edges).
    let full = n.saturating_sub(2 * half);
    if full == 0 {
        return (0..n).map(mean).collect();
    }
    let width = (2 * half + 1) as f64;
    let mut out = Vec::with_capacity(n);
    out.extend((0..half).map(mean));
    out.extend(
        prefix[2 * half + 1..=n]
            .iter()
            .zip(&prefix[..full])
            .map(|(hi, lo)| ((hi - lo) / width) as f32),
    );
    out.extend((half + full..n).map(mean));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * freq * i as f64 / rate).sin() as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn a_bank_of_causal_filters_is_bit_exact_against_apply() {
        let x: Vec<f32> = (0..3000)
            .map(|i| ((i as f32 * 0.37).sin() + 0.3 * (i as f32 * 0.011).cos()) * 2.0 + 0.5)
            .collect();
        let filters = [
            Sos::butter_bandpass(1, 25.0, 80.0, 1000.0),
            Sos::butter_bandpass(1, 80.0, 200.0, 1000.0),
            Sos::butter_bandpass(2, 200.0, 450.0, 1000.0),
            Sos::butter_lowpass(3, 50.0, 1000.0),
            Sos::butter_highpass(1, 20.0, 1000.0),
        ];
        let refs: Vec<&Sos> = filters.iter().collect();
        let mut outs = vec![vec![7.0f32; 5]; 6];
        apply_bank(&refs, &x, &mut outs);
        for (f, out) in filters.iter().zip(&outs) {
            let mut want = x.clone();
            f.apply(&mut want);
            assert!(
                want.iter()
                    .zip(out)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
        assert!(
            outs[5] == vec![7.0f32; 5],
            "a buffer without a filter is left alone"
        );
        apply_bank(&refs, &[], &mut outs);
        assert!(outs[..5].iter().all(Vec::is_empty));
    }

    #[test]
    fn bandpass_passes_band_and_stops_outside() {
        let sos = Sos::butter_bandpass(4, 25.0, 400.0, 1000.0);
        let mid = sos.filtfilt(&tone(100.0, 1000.0, 4000));
        let low = sos.filtfilt(&tone(5.0, 1000.0, 4000));
        let high = sos.filtfilt(&tone(490.0, 1000.0, 4000));
        let r = |v: &[f32]| rms(&v[1000..3000]) / (0.5f64).sqrt();
        assert!((r(&mid) - 1.0).abs() < 0.05, "passband gain {}", r(&mid));
        assert!(r(&low) < 0.01, "5 Hz gain {}", r(&low));
        assert!(r(&high) < 0.05, "490 Hz gain {}", r(&high));
    }

    #[test]
    fn odd_order_lowpass_is_minus_6_db_at_cutoff_after_filtfilt() {
        let sos = Sos::butter_lowpass(3, 50.0, 1000.0);
        let y = sos.filtfilt(&tone(50.0, 1000.0, 4000));
        let g = rms(&y[1000..3000]) / (0.5f64).sqrt();
        assert!((g - 0.5).abs() < 0.03, "gain at cutoff {g}");
    }

    #[test]
    fn fused_bank_matches_section_by_section_reference() {
        let x: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let a = Sos::butter_bandpass(2, 40.0, 60.0, 1000.0);
        let b = Sos::butter_lowpass(5, 100.0, 1000.0);
        let bank = filtfilt_bank(&[&a, &b], &x);
        let pad = a.padding(x.len()).max(b.padding(x.len()));
        for (got, f) in bank.iter().zip([&a, &b]) {
            // Reference: the same reflection padding, each section run on its own, unfused.
            let n = x.len();
            let mut r: Vec<f32> = (1..=pad).rev().map(|i| 2.0 * x[0] - x[i]).collect();
            r.extend_from_slice(&x);
            r.extend((1..=pad).map(|i| 2.0 * x[n - 1] - x[n - 1 - i]));
            f.apply(&mut r);
            r.reverse();
            f.apply(&mut r);
            r.reverse();
            let want = &r[pad..pad + n];
            let err = got
                .iter()
                .zip(want)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-5, "max difference {err}");
        }
    }

    /// The straightforward implementation the lane kernels replaced: one section at a time
    /// (`apply`), or all sections of all cascades per sample with a reversal between the passes
    /// (`filtfilt_bank`). The kernels must agree with it bit for bit.
    fn reference_section(sec: &Biquad, x: &mut [f32]) {
        let (mut z1, mut z2) = (0.0f32, 0.0f32);
        if let Some(&x0) = x.first() {
            (z1, z2, _) = settled(sec, x0);
        }
        for v in x.iter_mut() {
            let xi = *v;
            let y = sec.b0 * xi + z1;
            z1 = sec.b1 * xi - sec.a1 * y + z2;
            z2 = sec.b2 * xi - sec.a2 * y;
            *v = y;
        }
    }

    fn reference_fused(cascades: &[&Sos], bufs: &mut [Vec<f32>]) {
        let n = bufs.iter().map(Vec::len).min().unwrap_or(0);
        let mut states: Vec<Vec<[f32; 2]>> = Vec::new();
        for (sos, buf) in cascades.iter().zip(bufs.iter()) {
            let mut input = buf.first().copied().unwrap_or(0.0);
            states.push(
                sos.sections
                    .iter()
                    .map(|sec| {
                        let (z1, z2, y0) = settled(sec, input);
                        input = y0;
                        [z1, z2]
                    })
                    .collect(),
            );
        }
        for i in 0..n {
            for ((sos, buf), st) in cascades.iter().zip(bufs.iter_mut()).zip(states.iter_mut()) {
                let mut v = buf[i];
                for (sec, z) in sos.sections.iter().zip(st.iter_mut()) {
                    let y = sec.b0 * v + z[0];
                    z[0] = sec.b1 * v - sec.a1 * y + z[1];
                    z[1] = sec.b2 * v - sec.a2 * y;
                    v = y;
                }
                buf[i] = v;
            }
        }
    }

    fn reference_filtfilt_bank(filters: &[&Sos], x: &[f32]) -> Vec<Vec<f32>> {
        let n = x.len();
        let pad = filters.iter().map(|f| f.padding(n)).max().unwrap_or(0);
        let mut buf: Vec<f32> = (1..=pad).rev().map(|i| 2.0 * x[0] - x[i]).collect();
        buf.extend_from_slice(x);
        buf.extend((1..=pad).map(|i| 2.0 * x[n - 1] - x[n - 1 - i]));
        let mut bufs = vec![buf; filters.len()];
        reference_fused(filters, &mut bufs);
        bufs.iter_mut().for_each(|b| b.reverse());
        reference_fused(filters, &mut bufs);
        for b in &mut bufs {
            b.reverse();
            b.drain(..pad);
            b.truncate(n);
        }
        bufs
    }

    /// A test signal: a deterministic saw-like pattern over a slow sine.
    fn jagged(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0 + (i as f32 * 0.01).sin())
            .collect()
    }

    /// Filters of every kind and of odd and even orders (one to five sections).
    fn assorted_filters() -> [Sos; 6] {
        [
            Sos::butter_bandpass(2, 40.0, 60.0, 1000.0),
            Sos::butter_lowpass(5, 100.0, 1000.0),
            Sos::butter_bandpass(4, 25.0, 400.0, 1000.0),
            Sos::butter_lowpass(1, 8.0, 1000.0),
            Sos::butter_highpass(3, 30.0, 1000.0),
            Sos::butter_bandpass(5, 20.0, 300.0, 1000.0),
        ]
    }

    #[test]
    fn lane_kernels_are_bit_exact_against_the_reference() {
        let x = jagged(5000);
        let filters = assorted_filters();
        // Every group size from one to four lanes, and more cascades than lanes.
        for k in 1..=filters.len() {
            let bank: Vec<&Sos> = filters[..k].iter().collect();
            assert_eq!(
                filtfilt_bank(&bank, &x),
                reference_filtfilt_bank(&bank, &x),
                "{k} filters"
            );
        }
        for f in &filters {
            let mut got = x.clone();
            f.apply(&mut got);
            let mut want = x.clone();
            for sec in &f.sections {
                reference_section(sec, &mut want);
            }
            assert_eq!(got, want);
        }
    }

    /// The cascades' version for any x86-64, called directly, computes what the dispatched one
    /// (AVX2 wherever the CPU has it) does, bit for bit: one lane and four, both directions,
    /// both ways of starting.
    /// A heart-recording-like test signal: bursts of a 40–150 Hz tone every ~0.8 s over noise
    /// whose level swings, at 1 kHz; and its natural log's magnitude (what the homomorphic
    /// envelope filters).
    fn bursts(n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                let t = i as f32 / 1000.0;
                let phase = t % 0.8;
                let burst = if phase < 0.1 {
                    (std::f32::consts::TAU * (40.0 + 1000.0 * phase) * t).sin() * 3.0
                } else {
                    0.0
                };
                burst + noise * (0.2 + 0.15 * (t * 1.3).sin())
            })
            .collect();
        let logs = x.iter().map(|v| (v.abs() + 1e-3).ln()).collect();
        (x, logs)
    }

    #[test]
    fn one_filter_split_over_the_lanes_agrees_with_the_whole_pass_to_the_bit() {
        // The engine's two filters that run alone, the front end's band-pass and the
        // homomorphic envelope's low-pass (at 1 kHz), from their shortest split up to 60 s;
        // and assorted filters on a jagged signal.
        let band = Sos::butter_bandpass(2, 25.0, 400.0, 1000.0);
        let envelope = Sos::butter_lowpass(1, 8.0, 1000.0);
        let shortest = 2 * SPLIT_WARM_UP * SPLIT_LANES;
        for n in [shortest, shortest + 1, 30_000, 61_237] {
            let (x, logs) = bursts(n);
            for (name, f, x) in [("band-pass", &band, &x), ("envelope", &envelope, &logs)] {
                let want = reference_filtfilt_bank(&[f], x).pop().unwrap_or_default();
                let got = f.filtfilt(x);
                let differ = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(differ, 0, "{name}, n {n}: {differ} samples differ");
                assert_eq!(got.len(), n);
                // And the split itself is what ran, not the whole pass.
                let pad = f.padding(n);
                assert!(
                    filtfilt_split(f, &padded(x, pad), pad, n).is_some(),
                    "{name}, n {n}: not split"
                );
            }
        }
        for f in assorted_filters() {
            let x = jagged(40_000);
            let want = reference_filtfilt_bank(&[&f], &x).pop().unwrap_or_default();
            let got = f.filtfilt(&x);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{f:?}"
            );
        }
        // Where the lanes' states have not met the whole pass's when their warm-ups end (the
        // band-pass after 64 samples), the split declines and the whole pass runs; so it does
        // where a NaN makes states unequal, for a signal too short, and for a filter whose
        // slowest pole forgets too slowly (a 5 Hz high-pass at 1 kHz).
        let (x, _) = bursts(30_000);
        let pad = band.padding(x.len());
        let buf = padded(&x, pad);
        assert!(filtfilt_split_with(&band, &buf, pad, x.len(), SPLIT_WARM_UP).is_some());
        assert!(filtfilt_split_with(&band, &buf, pad, x.len(), 64).is_none());
        let split = |f: &Sos, x: &[f32]| {
            let pad = f.padding(x.len());
            filtfilt_split(f, &padded(x, pad), pad, x.len())
        };
        let nan: Vec<f32> = (0..30_000)
            .map(|i| if i == 20_000 { f32::NAN } else { 0.5 })
            .collect();
        assert!(split(&band, &nan).is_none());
        assert!(split(&band, &bursts(20_000).0).is_none());
        assert_eq!(split_warm_up(&Sos::butter_highpass(2, 5.0, 1000.0)), None);
        // A lane is filled from any start, in or out of the source, without a panic.
        let src = [1.0f32, 2.0, 3.0];
        for (start, want) in [
            (-5, [0.0, 0.0, 0.0, 0.0]),
            (-2, [0.0, 0.0, 1.0, 2.0]),
            (1, [2.0, 3.0, 0.0, 0.0]),
            (7, [0.0, 0.0, 0.0, 0.0]),
        ] {
            let mut lanes = [[9.0f32; 2]; 4];
            fill_lane(&mut lanes, 1, &src, start);
            assert_eq!(lanes.map(|l| l[1]), want, "start {start}");
            assert!(lanes.iter().all(|l| l[0] == 9.0));
        }
    }

    #[test]
    fn every_compiled_version_of_the_cascades_agrees_to_the_bit() {
        let x = jagged(4000);
        let filters = assorted_filters();
        for backwards in [false, true] {
            for start in [Start::Steady, Start::Chained] {
                let mut one: Vec<[f32; 1]> = x.iter().map(|&v| [v]).collect();
                let mut one_portable = one.clone();
                run_cascades(&[&filters[1]], &mut one, backwards, start);
                cascades_portable(&[&filters[1]], &mut one_portable, backwards, start, &[]);
                assert!(
                    one.iter()
                        .zip(&one_portable)
                        .all(|(a, b)| a[0].to_bits() == b[0].to_bits())
                );
                let refs: [&Sos; 4] = std::array::from_fn(|c| &filters[c]);
                let mut four: Vec<[f32; 4]> = x.iter().map(|&v| [v; 4]).collect();
                let mut four_portable = four.clone();
                run_cascades(&refs, &mut four, backwards, start);
                cascades_portable(&refs, &mut four_portable, backwards, start, &[]);
                let bits = |v: &[[f32; 4]]| -> Vec<u32> {
                    v.iter().flat_map(|l| l.map(f32::to_bits)).collect()
                };
                assert_eq!(bits(&four), bits(&four_portable));
            }
        }
    }

    /// The moving average, dispatched and portable, against its plain definition, bit for bit,
    /// for widths wider and narrower than the signal.
    #[test]
    fn every_compiled_version_of_the_moving_average_agrees_to_the_bit() {
        let x: Vec<f32> = (0..1001)
            .map(|i| ((i * 613) % 211) as f32 / 70.0 - 1.5)
            .collect();
        for n in [1usize, 2, 5, 30, 1001] {
            for width in [1usize, 2, 3, 9, 31, 61, 2001, 4001] {
                let x = &x[..n];
                let half = width / 2;
                let mut prefix = vec![0.0f64];
                for &v in x {
                    prefix.push(prefix.last().copied().unwrap_or(0.0) + v as f64);
                }
                let want: Vec<u32> = (0..n)
                    .map(|i| {
                        let lo = i.saturating_sub(half);
                        let hi = (i + half + 1).min(n);
                        (((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32).to_bits()
                    })
                    .collect();
                let bits = |v: Vec<f32>| -> Vec<u32> { v.into_iter().map(f32::to_bits).collect() };
                assert_eq!(bits(moving_average(x, width)), want, "n {n}, width {width}");
                assert_eq!(
                    bits(moving_average_portable(x, width)),
                    want,
                    "n {n}, width {width}"
                );
            }
        }
    }

    #[test]
    fn filters_survive_degenerate_input() {
        let sos = Sos::butter_bandpass(2, 25.0, 400.0, 1000.0);
        assert!(sos.filtfilt(&[]).is_empty());
        assert_eq!(sos.filtfilt(&[1.0]).len(), 1);
        let _ = Sos::butter_lowpass(2, f64::NAN, 1000.0).filtfilt(&[0.0; 10]);
        assert_eq!(moving_average(&[1.0, 2.0, 3.0], 3), vec![1.5, 2.0, 2.5]);
    }
}

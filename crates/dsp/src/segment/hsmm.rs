//! Explicit-duration (hidden semi-Markov) Viterbi decoding of the four heart-cycle states
//! S1 → systole → S2 → diastole → S1 … (Springer et al., IEEE TBME 2016).
//!
//! The caller supplies per-frame log emission scores, per-state duration log-probabilities over a
//! bounded range, and an optional per-segment score (used to pull S1 onsets onto R peaks). The
//! first and last segments may be cut by the recording's edges and are then not charged for their
//! duration. O(frames × states × max duration); never panics, an empty input gives no segments.

use multiversion::multiversion;

/// The four states of the cardiac cycle, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// First heart sound.
    S1 = 0,
    /// Between S1 and S2.
    Systole = 1,
    /// Second heart sound.
    S2 = 2,
    /// Between S2 and the next S1.
    Diastole = 3,
}

impl State {
    /// All states in cycle order.
    pub const ALL: [State; 4] = [State::S1, State::Systole, State::S2, State::Diastole];

    /// The state that precedes this one in the cycle.
    pub fn previous(self) -> State {
        State::ALL[(self as usize + 3) % 4]
    }
}

/// One decoded segment: `state` over frames `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The state.
    pub state: State,
    /// First frame.
    pub start: usize,
    /// One past the last frame.
    pub end: usize,
}

/// The duration model of one state: log-probabilities for durations `min..=max` frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Duration {
    /// Shortest duration, frames (≥ 1).
    pub min: usize,
    /// Log-probability of each duration from `min` up.
    pub log_p: Vec<f32>,
}

impl Duration {
    /// A discretised Gaussian over `min..=max` frames, normalised over that range.
    pub fn gaussian(mean: f64, sd: f64, min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        let sd = sd.max(0.5);
        let raw: Vec<f64> = (min..=max)
            .map(|d| -0.5 * ((d as f64 - mean) / sd).powi(2))
            .collect();
        let top = raw.iter().copied().fold(f64::MIN, f64::max);
        let log_z = top + raw.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
        Duration {
            min,
            log_p: raw.iter().map(|v| (v - log_z) as f32).collect(),
        }
    }

    /// A flat distribution over `min..=max` frames.
    pub fn uniform(min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        let n = (max - min + 1) as f32;
        Duration {
            min,
            log_p: vec![-n.ln(); max - min + 1],
        }
    }

    /// Longest duration, frames.
    pub fn max(&self) -> usize {
        self.min + self.log_p.len().saturating_sub(1)
    }
}

/// A state's extra log score for each complete segment, looked up in a table: at the segment's
/// start frame, or at its start plus end frame (twice its centre) when `plus_end`. 0 past the
/// table's end; `f32::NEG_INFINITY` forbids the segment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegmentScore<'a> {
    /// The scores.
    pub table: &'a [f32],
    /// Look up at start + end instead of start.
    pub plus_end: bool,
}

impl SegmentScore<'_> {
    /// No extra score.
    pub const NONE: SegmentScore<'static> = SegmentScore {
        table: &[],
        plus_end: false,
    };

    /// The table over every index a recording of `t_len` frames can look up, zeros past its end.
    fn padded(&self, t_len: usize) -> Vec<f32> {
        let len = if self.plus_end {
            2 * t_len + 1
        } else {
            t_len + 1
        };
        let mut v: Vec<f32> = self.table.iter().copied().take(len).collect();
        v.resize(len, 0.0);
        v
    }
}

/// Decodes the most likely state sequence; see [`viterbi_scored`].
pub fn viterbi(
    emission: &[[f32; 4]],
    durations: &[Duration; 4],
    scores: &[SegmentScore<'_>; 4],
) -> Vec<Span> {
    viterbi_scored(emission, durations, scores).0
}

/// Decodes the most likely state sequence and returns it with its log score.
///
/// `emission[t][s]` is the log score of frame `t` in state `s`; `durations[s]` the duration model
/// of state `s`; `scores[s]` an extra log score for a complete segment of state `s` (and for
/// the last, cut one of S1).
///
/// Compiled twice: for any x86-64 and for one with AVX2, chosen when called (`multiversion`).
/// Both run the same operations in the same order (no fused multiply-add, no reassociation),
/// so their results are the same to the bit (checked by a test); AVX2 lets the per-duration
/// loops work on eight scores at once and select without branching.
#[multiversion(targets("x86_64+avx2"))]
pub fn viterbi_scored(
    emission: &[[f32; 4]],
    durations: &[Duration; 4],
    scores: &[SegmentScore<'_>; 4],
) -> (Vec<Span>, f32) {
    decode(emission, durations, scores)
}

/// The decoder of [`viterbi_scored`], inlined into each of its versions.
#[inline(always)]
fn decode(
    emission: &[[f32; 4]],
    durations: &[Duration; 4],
    scores: &[SegmentScore<'_>; 4],
) -> (Vec<Span>, f32) {
    let t_len = emission.len();
    if t_len == 0 {
        return (Vec::new(), f32::NEG_INFINITY);
    }
    // cum[s][t] = sum of emission[..t][s], one contiguous run per state.
    let mut cum: [Vec<f64>; 4] = std::array::from_fn(|_| {
        let mut v = Vec::with_capacity(t_len + 1);
        v.push(0.0f64);
        v
    });
    let mut acc = [0.0f64; 4];
    for e in emission {
        for s in 0..4 {
            let v = if e[s].is_finite() { e[s] as f64 } else { -1e6 };
            acc[s] += v;
            cum[s].push(acc[s]);
        }
    }
    let emit = |s: usize, a: usize, b: usize| (cum[s][b] - cum[s][a]) as f32;
    let tables: [Vec<f32>; 4] = std::array::from_fn(|s| scores[s].padded(t_len));
    // Each duration model's log-probabilities, longest duration first.
    let log_p_rev: [Vec<f32>; 4] =
        std::array::from_fn(|s| durations[s].log_p.iter().rev().copied().collect());

    const NONE: f32 = f32::NEG_INFINITY;
    // delta[s][t]: best score with a segment of state s ending exactly at frame t (exclusive).
    let mut delta: [Vec<f32>; 4] = std::array::from_fn(|_| vec![NONE; t_len + 1]);
    // back[s][t]: that segment's duration, 0 meaning it started at frame 0 (cut by the edge).
    let mut back: [Vec<u16>; 4] = std::array::from_fn(|_| vec![0u16; t_len + 1]);
    let dmax: [usize; 4] = std::array::from_fn(|s| durations[s].max().min(u16::MAX as usize));
    // A look-up at start + end = 2t - d, split by parity so that, for one duration, successive
    // frames read successive entries.
    let halves: [[Vec<f32>; 2]; 4] = std::array::from_fn(|s| {
        if scores[s].plus_end {
            [0, 1].map(|parity| tables[s].iter().skip(parity).step_by(2).copied().collect())
        } else {
            [Vec::new(), Vec::new()]
        }
    });
    // The scores of one (frame, state)'s candidate durations, longest first, reused.
    let mut cand = vec![NONE; dmax.iter().copied().max().unwrap_or(0) + 1];
    let mut win_best = [NONE; WINDOW];
    let mut win_v = [NONE; WINDOW];
    // The best duration per frame, held as f32 (exact up to 2^24) so that its select has the
    // score's lane width.
    let mut win_d = [0f32; WINDOW];

    // State by state in windows of frames: state j can score frame t once its predecessor is
    // known up to t - min_j (a segment lasts at least min_j frames; a duration model starting at
    // 0 frames, which the constructors never make, is decoded from 1). Going round
    // the cycle, each state's window reaches as far as its predecessor allows, so windows grow
    // to about the sum of the minimum durations. Frames past the longest duration are scored
    // duration by duration over the whole window (a loop the compiler vectorises); the first
    // ones, where the edge cuts durations, frame by frame. Either way each frame keeps the
    // shortest duration reaching its best score, as a running "strictly better" scan from the
    // shortest would; a segment after a forbidden one scores -inf and never wins.
    let lo: [usize; 4] = std::array::from_fn(|s| durations[s].min.max(1));
    let mut done = [0usize; 4];
    while done.iter().any(|&d| d < t_len) {
        for s in State::ALL {
            let j = s as usize;
            let p = s.previous() as usize;
            let ta = done[j] + 1;
            let tb = (done[p] + lo[j]).min(t_len).min(done[j] + WINDOW);
            if ta > tb {
                continue;
            }
            // Many durations over few frames: scored frame by frame, across durations.
            let edge = if dmax[j] + 1 - lo[j].min(dmax[j]) > 2 * (tb + 1 - ta) {
                tb
            } else {
                dmax[j].clamp(ta - 1, tb)
            };
            for t in ta..=edge {
                let mut best = NONE;
                let mut best_d = 0u16;
                if t <= dmax[j] {
                    best = emit(j, 0, t);
                }
                let hi = dmax[j].min(t);
                if lo[j] <= hi {
                    // Durations hi down to lo, i.e. segment starts t - hi up to t - lo.
                    let n = hi - lo[j] + 1;
                    let (a, b) = (t - hi, t - lo[j] + 1);
                    let off = if scores[j].plus_end { t } else { 0 };
                    // log_p of durations hi down to lo, in the reversed table.
                    let lp = &log_p_rev[j];
                    let k0 = lp.len() - 1 - (hi - durations[j].min);
                    let end_cum = cum[j][t];
                    let out = &mut cand[..n];
                    for ((((c, &pv), &l), &c0), &sc) in out
                        .iter_mut()
                        .zip(&delta[p][a..b])
                        .zip(&lp[k0..k0 + n])
                        .zip(&cum[j][a..b])
                        .zip(&tables[j][a + off..b + off])
                    {
                        *c = pv + l + (end_cum - c0) as f32 + sc;
                    }
                    let top = max_of(out);
                    if top > best
                        && let Some(i) = out.iter().rposition(|&v| v == top)
                    {
                        best = top;
                        best_d = (t - (a + i)) as u16;
                    }
                }
                delta[j][t] = best;
                back[j][t] = best_d;
            }
            if edge < tb {
                let (wa, wb) = (edge + 1, tb + 1);
                let w = wb - wa;
                let best = &mut win_best[..w];
                let best_d = &mut win_d[..w];
                best.fill(NONE);
                best_d.fill(0.0);
                let end_cum = &cum[j][wa..wb];
                for d in lo[j]..=dmax[j] {
                    let l = durations[j].log_p[d - durations[j].min];
                    let sc = if scores[j].plus_end {
                        let k = d.div_ceil(2);
                        &halves[j][d % 2][wa - k..wb - k]
                    } else {
                        &tables[j][wa - d..wb - d]
                    };
                    // Two loops, so that each vectorises: the scores (f64 emission sums), then
                    // the selects of the better ones (f32 only).
                    let vals = &mut win_v[..w];
                    for ((((v, &pv), &c1), &c0), &sc) in vals
                        .iter_mut()
                        .zip(&delta[p][wa - d..wb - d])
                        .zip(end_cum)
                        .zip(&cum[j][wa - d..wb - d])
                        .zip(sc)
                    {
                        *v = pv + l + (c1 - c0) as f32 + sc;
                    }
                    let df = d as f32;
                    for ((bv, bd), &v) in best.iter_mut().zip(best_d.iter_mut()).zip(vals.iter()) {
                        let better = v > *bv;
                        *bv = if better { v } else { *bv };
                        *bd = if better { df } else { *bd };
                    }
                }
                delta[j][wa..wb].copy_from_slice(best);
                for (b, &d) in back[j][wa..wb].iter_mut().zip(best_d.iter()) {
                    *b = d as u16;
                }
            }
            done[j] = tb;
        }
    }

    // The last segment may be cut by the end: any duration up to its maximum, uncharged.
    let mut best = (NONE, 0usize, 0usize); // score, state, duration (0: whole recording)
    for s in State::ALL {
        let j = s as usize;
        let p = s.previous() as usize;
        if t_len <= dmax[j] {
            let v = emit(j, 0, t_len);
            if v > best.0 {
                best = (v, j, 0);
            }
        }
        for d in 1..=dmax[j].min(t_len - 1) {
            let prev = delta[p][t_len - d];
            if prev == NONE {
                continue;
            }
            let extra = if s == State::S1 {
                let off = if scores[j].plus_end { t_len } else { 0 };
                tables[j][t_len - d + off]
            } else {
                0.0
            };
            let v = prev + emit(j, t_len - d, t_len) + extra;
            if v > best.0 {
                best = (v, j, d);
            }
        }
    }
    if best.0 == NONE {
        return (Vec::new(), NONE);
    }

    let mut spans = Vec::new();
    let (_, mut j, d) = best;
    let mut end = t_len;
    let mut start = if d == 0 { 0 } else { t_len - d };
    loop {
        spans.push(Span {
            state: State::ALL[j],
            start,
            end,
        });
        if start == 0 {
            break;
        }
        end = start;
        j = State::ALL[j].previous() as usize;
        let d = back[j][end] as usize;
        start = if d == 0 { 0 } else { end - d };
    }
    spans.reverse();
    (spans, best.0)
}

/// Frames of one state scored together at most (the windows are usually shorter: about the
/// sum of the states' minimum durations).
const WINDOW: usize = 64;

/// The largest value of `v` (NaN ignored, -inf for none), in eight independent lanes.
fn max_of(v: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let (chunks, rest) = v.as_chunks::<8>();
    for c in chunks {
        for l in 0..8 {
            m[l] = if c[l] > m[l] { c[l] } else { m[l] };
        }
    }
    rest.iter()
        .chain(&m)
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder as first written (one running maximum per frame and state), kept to check the
    /// faster one against, bit for bit.
    #[allow(clippy::needless_range_loop)]
    fn viterbi_reference<F>(
        emission: &[[f32; 4]],
        durations: &[Duration; 4],
        segment_score: F,
    ) -> (Vec<Span>, f32)
    where
        F: Fn(State, usize, usize) -> f32,
    {
        let t_len = emission.len();
        if t_len == 0 {
            return (Vec::new(), f32::NEG_INFINITY);
        }
        // cum[s][t] = sum of emission[..t][s]
        let mut cum = vec![vec![0.0f64; t_len + 1]; 4];
        for (t, e) in emission.iter().enumerate() {
            for s in 0..4 {
                let v = if e[s].is_finite() { e[s] as f64 } else { -1e6 };
                cum[s][t + 1] = cum[s][t] + v;
            }
        }
        let emit = |s: usize, a: usize, b: usize| (cum[s][b] - cum[s][a]) as f32;

        const NONE: f32 = f32::NEG_INFINITY;
        // delta[t][s]: best score with a segment of state s ending exactly at frame t (exclusive).
        let mut delta = vec![[NONE; 4]; t_len + 1];
        // back[t][s]: that segment's duration, 0 meaning it started at frame 0 (cut by the edge).
        let mut back = vec![[0u16; 4]; t_len + 1];
        let dmax: Vec<usize> = durations
            .iter()
            .map(|d| d.max().min(u16::MAX as usize))
            .collect();

        for t in 1..=t_len {
            for s in State::ALL {
                let j = s as usize;
                let p = s.previous() as usize;
                let mut best = NONE;
                let mut best_d = 0u16;
                if t <= dmax[j] {
                    best = emit(j, 0, t);
                }
                let dur = &durations[j];
                let hi = dmax[j].min(t);
                for d in dur.min..=hi {
                    let prev = delta[t - d][p];
                    if prev == NONE {
                        continue;
                    }
                    let v = prev
                        + dur.log_p[d - dur.min]
                        + emit(j, t - d, t)
                        + segment_score(s, t - d, t);
                    if v > best {
                        best = v;
                        best_d = d as u16;
                    }
                }
                delta[t][j] = best;
                back[t][j] = best_d;
            }
        }

        // The last segment may be cut by the end: any duration up to its maximum, uncharged.
        let mut best = (NONE, 0usize, 0usize); // score, state, duration (0: whole recording)
        for s in State::ALL {
            let j = s as usize;
            let p = s.previous() as usize;
            if t_len <= dmax[j] {
                let v = emit(j, 0, t_len);
                if v > best.0 {
                    best = (v, j, 0);
                }
            }
            for d in 1..=dmax[j].min(t_len - 1) {
                let prev = delta[t_len - d][p];
                if prev == NONE {
                    continue;
                }
                let extra = if s == State::S1 {
                    segment_score(s, t_len - d, t_len)
                } else {
                    0.0
                };
                let v = prev + emit(j, t_len - d, t_len) + extra;
                if v > best.0 {
                    best = (v, j, d);
                }
            }
        }
        if best.0 == NONE {
            return (Vec::new(), NONE);
        }

        let mut spans = Vec::new();
        let (_, mut j, d) = best;
        let mut end = t_len;
        let mut start = if d == 0 { 0 } else { t_len - d };
        loop {
            spans.push(Span {
                state: State::ALL[j],
                start,
                end,
            });
            if start == 0 {
                break;
            }
            end = start;
            j = State::ALL[j].previous() as usize;
            let d = back[end][j] as usize;
            start = if d == 0 { 0 } else { end - d };
        }
        spans.reverse();
        (spans, best.0)
    }

    /// Random emissions (some not finite), duration ranges and segment scores (some forbidding):
    /// the decoder gives the reference's spans and the same score, bit for bit.
    #[test]
    fn matches_the_reference_decoder_bit_for_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..300 {
            let t_len = (next() * 400.0) as usize;
            let emission: Vec<[f32; 4]> = (0..t_len)
                .map(|_| {
                    std::array::from_fn(|_| match (next() * 200.0) as u32 {
                        0 => f32::NAN,
                        1 => f32::NEG_INFINITY,
                        // Coarse values make ties between durations common.
                        _ => ((next() * 8.0).round() - 6.0) as f32,
                    })
                })
                .collect();
            let durations: [Duration; 4] = std::array::from_fn(|_| {
                let min = 1 + (next() * 6.0) as usize;
                let max = min + (next() * 30.0) as usize;
                if next() < 0.5 {
                    Duration::uniform(min, max)
                } else {
                    Duration::gaussian(next() * 30.0, 0.5 + next() * 5.0, min, max)
                }
            });
            let bonus: Vec<f32> = (0..=2 * t_len)
                .map(|_| match (next() * 20.0) as u32 {
                    0 => f32::NEG_INFINITY,
                    1..=9 => 0.0,
                    _ => (next() * 6.0) as f32,
                })
                .collect();
            // The S1 table is at times shorter than the recording (0 past its end).
            let s1 = &bonus[..(next() * 2.0 * t_len as f64) as usize];
            let score = |s: State, a: usize, b: usize| match s {
                State::S1 => s1.get(a).copied().unwrap_or(0.0),
                State::S2 => bonus.get(a + b).copied().unwrap_or(0.0),
                _ => 0.0,
            };
            let scores = [
                SegmentScore {
                    table: s1,
                    plus_end: false,
                },
                SegmentScore::NONE,
                SegmentScore {
                    table: &bonus,
                    plus_end: true,
                },
                SegmentScore::NONE,
            ];
            let (spans, total) = viterbi_scored(&emission, &durations, &scores);
            let (want, want_total) = viterbi_reference(&emission, &durations, score);
            assert_eq!(spans, want, "case {case}");
            assert_eq!(total.to_bits(), want_total.to_bits(), "case {case}");
            // The version for any x86-64, called directly (the one above is the AVX2 version
            // wherever the CPU has it).
            let (portable, portable_total) = decode(&emission, &durations, &scores);
            assert_eq!(portable, want, "case {case}");
            assert_eq!(
                portable_total.to_bits(),
                want_total.to_bits(),
                "case {case}"
            );
        }
    }

    #[test]
    fn decodes_a_clean_sequence() {
        // 5 cycles of S1 3, systole 7, S2 3, diastole 12 frames.
        let pattern = [(0usize, 3usize), (1, 7), (2, 3), (3, 12)];
        let mut truth = Vec::new();
        for _ in 0..5 {
            for &(s, d) in &pattern {
                truth.extend(std::iter::repeat_n(s, d));
            }
        }
        let emission: Vec<[f32; 4]> = truth
            .iter()
            .map(|&s| {
                let mut e = [-2.0f32; 4];
                e[s] = 0.0;
                e
            })
            .collect();
        let durations = [
            Duration::gaussian(3.0, 1.0, 1, 6),
            Duration::gaussian(7.0, 1.5, 3, 12),
            Duration::gaussian(3.0, 1.0, 1, 6),
            Duration::gaussian(12.0, 2.0, 5, 20),
        ];
        let spans = viterbi(&emission, &durations, &[SegmentScore::NONE; 4]);
        let mut decoded = vec![9usize; truth.len()];
        for sp in &spans {
            for v in &mut decoded[sp.start..sp.end] {
                *v = sp.state as usize;
            }
        }
        assert_eq!(decoded, truth);
    }

    #[test]
    fn empty_and_forbidden_inputs_do_not_panic() {
        let d = Duration::uniform(1, 4);
        let durs = [d.clone(), d.clone(), d.clone(), d];
        assert!(viterbi(&[], &durs, &[SegmentScore::NONE; 4]).is_empty());
        let e = vec![[0.0f32; 4]; 50];
        let forbid = [f32::NEG_INFINITY; 200];
        let all = SegmentScore {
            table: &forbid,
            plus_end: false,
        };
        let _ = viterbi(&e, &durs, &[all; 4]);
        let e = vec![[f32::NAN; 4]; 3];
        let _ = viterbi(&e, &durs, &[SegmentScore::NONE; 4]);
    }
}

//! Explicit-duration (hidden semi-Markov) Viterbi decoding of the four heart-cycle states
//! S1 → systole → S2 → diastole → S1 … (Springer et al., IEEE TBME 2016).
//!
//! The caller supplies per-frame log emission scores, per-state duration log-probabilities over a
//! bounded range, and an optional per-segment score (used to pull S1 onsets onto R peaks). The
//! first and last segments may be cut by the recording's edges and are then not charged for their
//! duration. O(frames × states × max duration); never panics, an empty input gives no segments.

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

/// Decodes the most likely state sequence; see [`viterbi_scored`].
pub fn viterbi<F>(emission: &[[f32; 4]], durations: &[Duration; 4], segment_score: F) -> Vec<Span>
where
    F: Fn(State, usize, usize) -> f32,
{
    viterbi_scored(emission, durations, segment_score).0
}

/// Decodes the most likely state sequence and returns it with its log score.
///
/// `emission[t][s]` is the log score of frame `t` in state `s`; `durations[s]` the duration model
/// of state `s`; `segment_score(state, start, end)` an extra log score for a complete segment
/// (its start known), `f32::NEG_INFINITY` to forbid it.
pub fn viterbi_scored<F>(
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
                let v =
                    prev + dur.log_p[d - dur.min] + emit(j, t - d, t) + segment_score(s, t - d, t);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let spans = viterbi(&emission, &durations, |_, _, _| 0.0);
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
        assert!(viterbi(&[], &durs, |_, _, _| 0.0).is_empty());
        let e = vec![[0.0f32; 4]; 50];
        let _ = viterbi(&e, &durs, |_, _, _| f32::NEG_INFINITY);
        let e = vec![[f32::NAN; 4]; 3];
        let _ = viterbi(&e, &durs, |_, _, _| 0.0);
    }
}

//! Friction-spike removal (Schmidt et al., Physiol Meas 2010): the signal is cut into 0.5 s windows;
//! while some window's maximum absolute amplitude exceeds three times the median of the window
//! maxima, the spike at that maximum is zeroed between the zero crossings around it.
//!
//! Works in place, O(n) per removed spike, with an iteration bound so it always terminates.

/// Removes spikes from `x` (sampled at `rate` Hz) in place. Returns how many spikes were removed.
pub fn remove_spikes(x: &mut [f32], rate: f64) -> usize {
    let win = ((rate * 0.5).round() as usize).max(1);
    let n_windows = x.len() / win;
    if n_windows < 2 {
        return 0;
    }
    let window_max = |w: &[f32]| w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut maxima: Vec<f32> = (0..n_windows)
        .map(|k| window_max(&x[k * win..(k + 1) * win]))
        .collect();
    let mut sorted = maxima.clone();
    sorted.sort_by(f32::total_cmp);
    let median = if n_windows % 2 == 1 {
        sorted[n_windows / 2]
    } else {
        0.5 * (sorted[n_windows / 2 - 1] + sorted[n_windows / 2])
    };
    let limit = 3.0 * median;
    if limit <= 0.0 {
        return 0;
    }
    let mut removed = 0;
    // Each pass zeroes at least the maximum sample, so the loop ends; the bound is belt and braces.
    for _ in 0..(x.len().min(100_000)) {
        let Some((k, &m)) = maxima.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            break;
        };
        if m <= limit {
            break;
        }
        let w = &mut x[k * win..(k + 1) * win];
        let Some(peak) = w
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
        else {
            break;
        };
        let crosses = |i: usize, w: &[f32]| (w[i] >= 0.0) != (w[i + 1] >= 0.0);
        let start = (0..peak)
            .rev()
            .find(|&i| crosses(i, w))
            .map_or(0, |i| i + 1);
        let end = (peak..w.len() - 1)
            .find(|&i| crosses(i, w))
            .map_or(w.len(), |i| i + 1);
        for v in &mut w[start..end] {
            *v = 0.0;
        }
        maxima[k] = window_max(w);
        removed += 1;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_an_isolated_spike_and_keeps_the_rest() {
        let rate = 1000.0;
        let mut x: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
        let orig = x.clone();
        // A fat spike of amplitude 10 centred on sample 2600, with its own zero crossings.
        for (k, v) in x[2590..2610].iter_mut().enumerate() {
            *v = 10.0 * (k as f32 * std::f32::consts::PI / 20.0).sin();
        }
        let n = remove_spikes(&mut x, rate);
        assert!(n >= 1);
        assert!(x.iter().all(|v| v.abs() <= 0.5 + 1e-6));
        assert_eq!(&x[..2500], &orig[..2500]);
        assert_eq!(&x[3000..], &orig[3000..]);
    }

    #[test]
    fn leaves_a_clean_signal_alone_and_survives_silence() {
        let mut x: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.1).sin()).collect();
        let orig = x.clone();
        assert_eq!(remove_spikes(&mut x, 1000.0), 0);
        assert_eq!(x, orig);
        let mut z = vec![0.0f32; 4000];
        assert_eq!(remove_spikes(&mut z, 1000.0), 0);
        assert_eq!(remove_spikes(&mut [], 1000.0), 0);
    }
}

//! Segmentation features at 50 frames per second, computed from the preprocessed PCG: the
//! homomorphic envelope, the log RMS, three band energies (40–60 Hz as in Springer's PSD feature,
//! 60–125 Hz, 150–400 Hz) and the envelope's slope. Each is standardised per recording so the
//! emission model does not depend on gain.
//!
//! Pure and cheap (O(n) filters, no FFT). Never panics; a silent recording gives all-zero features.

use crate::envelope::{block_mean, standardise};
use crate::filter::{Sos, filtfilt_bank};
use crate::model::Preprocessed;

/// Frames per second of the features.
pub const FRAME_RATE: f64 = 50.0;
/// Number of features per frame.
pub const N_FEATURES: usize = 6;

/// One frame's features.
pub type Frame = [f32; N_FEATURES];

fn block_rms(x: &[f32], factor: usize) -> Vec<f32> {
    x.chunks(factor.max(1))
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect()
}

/// Computes the feature frames of a preprocessed recording.
pub fn frames(pre: &Preprocessed) -> Vec<Frame> {
    let rate = pre.rate.0;
    let factor = ((rate / FRAME_RATE).round() as usize).max(1);
    let x = &pre.pcg;
    let mut homo = block_mean(&pre.envelope, factor);
    let mut slope: Vec<f32> = (0..homo.len())
        .map(|i| {
            let a = homo[i.saturating_sub(1)];
            let b = homo[(i + 1).min(homo.len().saturating_sub(1))];
            b - a
        })
        .collect();
    let floor = 1e-6f32;
    let mut log_rms: Vec<f32> = block_rms(x, factor)
        .into_iter()
        .map(|v| (v + floor).ln())
        .collect();
    let bands = [
        Sos::butter_bandpass(2, 40.0, 60.0, rate),
        Sos::butter_bandpass(2, 60.0, 125.0, rate),
        Sos::butter_bandpass(2, 150.0, 400.0, rate),
    ];
    let mut filtered = filtfilt_bank(&[&bands[0], &bands[1], &bands[2]], x)
        .into_iter()
        .map(|y| block_rms(&y, factor));
    let mut low = filtered.next().unwrap_or_default();
    let mut mid = filtered.next().unwrap_or_default();
    let mut high = filtered.next().unwrap_or_default();
    for f in [
        &mut homo,
        &mut log_rms,
        &mut low,
        &mut mid,
        &mut high,
        &mut slope,
    ] {
        standardise(f);
    }
    (0..homo.len())
        .map(|i| {
            [
                homo[i],
                log_rms.get(i).copied().unwrap_or(0.0),
                low.get(i).copied().unwrap_or(0.0),
                mid.get(i).copied().unwrap_or(0.0),
                high.get(i).copied().unwrap_or(0.0),
                slope[i],
            ]
        })
        .collect()
}

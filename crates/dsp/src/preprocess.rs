//! The PCG front end: any input rate (1–48 kHz) to one analysis rate, 25–400 Hz Butterworth
//! band-pass (zero phase), friction-spike removal, unit-variance normalisation and the homomorphic
//! envelope. Everything downstream (segmentation, quality, murmur finding) starts from its output.
//!
//! Must never panic on what a device or a file gives it: non-finite samples are zeroed, silence and
//! DC give a flat (zero) signal, any length from one sample to hours is accepted. Only an empty
//! signal or an unsupported rate is an error.

use multiversion::multiversion;

use crate::envelope::{hilbert_envelope, homomorphic_envelope};
use crate::error::DspError;
use crate::filter::Sos;
use crate::model::{Preprocessed, Signal};
use crate::resample::resample;
use crate::spike::remove_spikes;
use crate::sums::sum_by;
use crate::units::{Hz, Seconds};

/// The rate every PCG is brought to before analysis.
pub const ANALYSIS_RATE: Hz = Hz(1000.0);
/// Lower edge of the PCG band.
pub const BAND_LOW: Hz = Hz(25.0);
/// Upper edge of the PCG band.
pub const BAND_HIGH: Hz = Hz(400.0);
/// Cut-off of the low-pass inside the homomorphic envelope.
pub const ENVELOPE_CUTOFF: Hz = Hz(8.0);
/// Lowest accepted PCG rate.
pub const MIN_PCG_RATE: Hz = Hz(1000.0);
/// Highest accepted PCG rate.
pub const MAX_PCG_RATE: Hz = Hz(48000.0);

/// Brings a raw PCG to the analysis rate, band-passes it, removes spikes, normalises it to unit
/// variance and computes its homomorphic envelope.
///
/// # Errors
/// [`DspError::Empty`] for no samples, [`DspError::UnsupportedRate`] for a rate outside 1–48 kHz.
pub fn preprocess(pcg: Signal<'_>) -> Result<Preprocessed, DspError> {
    let rate = pcg.rate.0;
    if !(rate.is_finite() && (MIN_PCG_RATE.0..=MAX_PCG_RATE.0).contains(&rate)) {
        return Err(DspError::UnsupportedRate(pcg.rate));
    }
    if pcg.samples.is_empty() {
        return Err(DspError::Empty);
    }
    let duration = Seconds(pcg.samples.len() as f64 / rate);

    // Zero non-finite samples and remove DC before filtering so edges do not ring.
    let mean = sum_by(pcg.samples, |v| f64::from(finite(v))) / pcg.samples.len() as f64;
    let centred = centre(pcg.samples, mean);

    let fs = ANALYSIS_RATE.0;
    let resampled = resample(&centred, rate, fs);
    let mut x = Sos::butter_bandpass(2, BAND_LOW.0, BAND_HIGH.0, fs).filtfilt(&resampled);
    remove_spikes(&mut x, fs);
    normalise(&mut x);
    let hilbert = hilbert_envelope(&x);
    let envelope = homomorphic_envelope(&hilbert, fs, ENVELOPE_CUTOFF.0);
    Ok(Preprocessed {
        rate: ANALYSIS_RATE,
        pcg: x,
        envelope,
        duration,
        original_rate: pcg.rate,
    })
}

/// A non-finite sample as 0.
#[inline(always)]
fn finite(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

/// `samples` less `mean` (non-finite ones as 0), in `f64` and back. Compiled for any x86-64 and
/// for one with AVX2 (`multiversion`, chosen when called; four samples at a time), to the bit
/// alike.
#[multiversion(targets("x86_64+avx2"))]
fn centre(samples: &[f32], mean: f64) -> Vec<f32> {
    let mut out = vec![0.0f32; samples.len()];
    for (o, &v) in out.iter_mut().zip(samples) {
        *o = (finite(v) as f64 - mean) as f32;
    }
    out
}

/// Scales to unit RMS (the band-pass has removed the mean); a silent signal is left at zero.
fn normalise(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let rms = (sum_by(x, |v| f64::from(v).powi(2)) / x.len() as f64).sqrt();
    if rms > 1e-20 && rms.is_finite() {
        let g = (1.0 / rms) as f32;
        for v in x.iter_mut() {
            *v *= g;
        }
    } else {
        x.fill(0.0);
    }
}

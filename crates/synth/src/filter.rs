//! Second-order IIR sections (RBJ cookbook) used to colour noise: murmur carriers, breath sounds,
//! formants, EMG. Internal to the crate; never used on signals that come from outside.

use std::f64::consts::PI;

/// One direct-form-I biquad section.
#[derive(Debug, Clone)]
pub(crate) struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
}

impl Biquad {
    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
            x1: 0.0,
            x2: 0.0,
            y1: 0.0,
            y2: 0.0,
        }
    }

    /// The cutoff clamped inside (0, Nyquist) so every section stays stable.
    fn omega(freq: f64, rate: f64) -> f64 {
        let f = freq.clamp(1e-3 * rate, 0.49 * rate);
        2.0 * PI * f / rate
    }

    /// Low-pass with quality `q` (0.7071 for Butterworth).
    pub(crate) fn low_pass(freq: f64, q: f64, rate: f64) -> Self {
        let w = Self::omega(freq, rate);
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * q);
        Self::normalised(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// High-pass with quality `q`.
    pub(crate) fn high_pass(freq: f64, q: f64, rate: f64) -> Self {
        let w = Self::omega(freq, rate);
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * q);
        Self::normalised(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// Band-pass (0 dB peak) centred on `freq` with bandwidth `freq / q`: a resonator.
    pub(crate) fn resonator(freq: f64, q: f64, rate: f64) -> Self {
        let w = Self::omega(freq, rate);
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * q);
        Self::normalised([alpha, 0.0, -alpha], [1.0 + alpha, -2.0 * c, 1.0 - alpha])
    }

    /// Filter one sample.
    pub(crate) fn step(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.b1 * self.x1 + self.b2 * self.x2
            - self.a1 * self.y1
            - self.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// A cascade of biquads: a band-pass built from 4th-order Butterworth high- and low-passes.
#[derive(Debug, Clone)]
pub(crate) struct Cascade(Vec<Biquad>);

impl Cascade {
    /// A 4th-order band-pass from `lo` to `hi` Hz (either edge dropped when it is outside the band
    /// the rate can represent).
    pub(crate) fn band_pass(lo: f64, hi: f64, rate: f64) -> Self {
        // The two section Qs of a 4th-order Butterworth response.
        const QS: [f64; 2] = [0.541_196_1, 1.306_563];
        let mut sections = Vec::with_capacity(4);
        if lo > 0.0 {
            sections.extend(QS.map(|q| Biquad::high_pass(lo, q, rate)));
        }
        if hi < 0.49 * rate {
            sections.extend(QS.map(|q| Biquad::low_pass(hi, q, rate)));
        }
        Self(sections)
    }

    /// Filter one sample.
    pub(crate) fn step(&mut self, x: f64) -> f64 {
        self.0.iter_mut().fold(x, |acc, s| s.step(acc))
    }
}

/// Scale `signal` to unit RMS (left alone when silent).
pub(crate) fn normalise_rms(signal: &mut [f64]) {
    let rms = rms(signal);
    if rms > 0.0 {
        signal.iter_mut().for_each(|v| *v /= rms);
    }
}

/// Root mean square of `signal` (0 when empty).
pub(crate) fn rms(signal: &[f64]) -> f64 {
    if signal.is_empty() {
        return 0.0;
    }
    (signal.iter().map(|v| v * v).sum::<f64>() / signal.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(mut f: Cascade, freq: f64, rate: f64) -> f64 {
        let n = (rate * 2.0) as usize;
        let out: Vec<f64> = (0..n)
            .map(|i| f.step((2.0 * PI * freq * i as f64 / rate).sin()))
            .collect();
        rms(&out[n / 2..]) * std::f64::consts::SQRT_2
    }

    #[test]
    fn band_pass_passes_its_band_and_stops_outside() {
        let rate = 4000.0;
        assert!((gain(Cascade::band_pass(100.0, 400.0, rate), 200.0, rate) - 1.0).abs() < 0.1);
        assert!(gain(Cascade::band_pass(100.0, 400.0, rate), 20.0, rate) < 0.05);
        assert!(gain(Cascade::band_pass(100.0, 400.0, rate), 1500.0, rate) < 0.05);
    }
}

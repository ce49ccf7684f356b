//! Cycle-synchronous (ensemble) averaging of the accepted cycles.
//!
//! Each cycle is cut in two and each half is aligned on its own heart sound: the systolic half
//! (S1 onset to S2 onset) on S1, the diastolic half (S2 onset to the cycle's end) on S2, so a
//! varying heart rate, which mostly changes diastole, does not smear S2. Nothing is stretched:
//! samples are averaged at their true delay from the sound that opened their half, and each
//! output sample is divided by the number of cycles that reached it.
//!
//! Averaging the *waveform* keeps what is phase-locked to the beat (S1, S2, clicks) and attenuates
//! everything else by √N in amplitude (background noise and, being turbulent noise too, murmurs).
//! Averaging the *envelope* keeps what is locked to the beat in intensity: a murmur stays, while
//! noise not locked to the beat flattens to a constant floor. Murmur finding reads the envelope
//! average; extra sounds and clicks the waveform average.
//!
//! Never allocates more than the ensemble itself and never panics on odd cycles (out of range,
//! unordered, zero length): they are skipped.

use crate::model::{Cycle, EnsembleCycle, Interval, Preprocessed};
use crate::units::Seconds;

/// A cycle's halves in samples of the preprocessed signal: (s1 onset, s2 onset, end).
fn cycle_marks(c: &Cycle, rate: f64, len: usize) -> Option<(usize, usize, usize)> {
    let at = |t: Seconds| -> Option<usize> {
        let v = (t.0 * rate).round();
        (v.is_finite() && v >= 0.0).then_some((v as usize).min(len))
    };
    let (a, b, e) = (at(c.s1.start)?, at(c.s2.start)?, at(c.end)?);
    (a < b && b < e).then_some((a, b, e))
}

/// The upper median of `v` (sorted in place); 0 for none.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The ensemble average of the accepted cycles, or `None` when none is accepted and well formed.
pub fn ensemble_average(pre: &Preprocessed, cycles: &[Cycle]) -> Option<EnsembleCycle> {
    let rate = pre.rate.0;
    let n = pre.pcg.len().min(pre.envelope.len());
    let used: Vec<(&Cycle, (usize, usize, usize))> = cycles
        .iter()
        .filter(|c| c.accepted)
        .filter_map(|c| cycle_marks(c, rate, n).map(|m| (c, m)))
        .collect();
    if used.is_empty() {
        return None;
    }
    let mut sys: Vec<f64> = used.iter().map(|(_, (a, b, _))| (b - a) as f64).collect();
    let mut dia: Vec<f64> = used.iter().map(|(_, (_, b, e))| (e - b) as f64).collect();
    let mut s1_len: Vec<f64> = used.iter().map(|(c, _)| c.s1.duration().0).collect();
    let mut s2_len: Vec<f64> = used.iter().map(|(c, _)| c.s2.duration().0).collect();
    let ls = median(&mut sys) as usize;
    let ld = median(&mut dia) as usize;
    let total = ls + ld;
    let mut waveform = vec![0.0f32; total];
    let mut envelope = vec![0.0f32; total];
    let mut count = vec![0u32; total];
    for &(_, (a, b, e)) in &used {
        let sys_len = (b - a).min(ls);
        for k in 0..sys_len {
            waveform[k] += pre.pcg[a + k];
            envelope[k] += pre.envelope[a + k];
            count[k] += 1;
        }
        let dia_len = (e - b).min(ld);
        for k in 0..dia_len {
            waveform[ls + k] += pre.pcg[b + k];
            envelope[ls + k] += pre.envelope[b + k];
            count[ls + k] += 1;
        }
    }
    for ((w, v), &c) in waveform.iter_mut().zip(envelope.iter_mut()).zip(&count) {
        if c > 0 {
            *w /= c as f32;
            *v /= c as f32;
        }
    }
    let s1_dur = median(&mut s1_len).clamp(0.0, ls as f64 / rate);
    let s2_dur = median(&mut s2_len).clamp(0.0, ld as f64 / rate);
    let s2_start = ls as f64 / rate;
    Some(EnsembleCycle {
        rate: pre.rate,
        waveform,
        envelope,
        s1: Interval {
            start: Seconds(0.0),
            end: Seconds(s1_dur),
        },
        s2: Interval {
            start: Seconds(s2_start),
            end: Seconds(s2_start + s2_dur),
        },
        cycles: used.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Hz;

    /// A small deterministic RNG (SplitMix64) with Gaussian samples by Box–Muller.
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed)
        }
        pub(crate) fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        pub(crate) fn gauss(&mut self) -> f64 {
            let u1 = self.uniform().max(1e-12);
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    fn cycle_at(t: f64) -> Cycle {
        Cycle {
            r_peak: None,
            s1: Interval {
                start: Seconds(t),
                end: Seconds(t + 0.1),
            },
            s2: Interval {
                start: Seconds(t + 0.35),
                end: Seconds(t + 0.43),
            },
            end: Seconds(t + 0.8),
            quality: 1.0,
            accepted: true,
        }
    }

    /// The clean beat: a 50 Hz S1 burst and a 70 Hz S2 burst, 0.8 s long at 1 kHz.
    fn clean_beat(k: usize) -> f32 {
        let t = k as f64 / 1000.0;
        let burst = |t0: f64, dur: f64, f: f64| {
            if (t0..t0 + dur).contains(&t) {
                let x = (t - t0) / dur;
                (std::f64::consts::PI * x).sin() * (2.0 * std::f64::consts::PI * f * (t - t0)).sin()
            } else {
                0.0
            }
        };
        (burst(0.0, 0.1, 50.0) + burst(0.35, 0.08, 70.0)) as f32
    }

    #[test]
    fn ensemble_attenuates_noise_not_locked_to_the_beat() {
        let beats = 16;
        let mut rng = Rng::new(7);
        let len = 800 * beats;
        let pcg: Vec<f32> = (0..len)
            .map(|i| clean_beat(i % 800) + 0.3 * rng.gauss() as f32)
            .collect();
        let envelope: Vec<f32> = pcg.iter().map(|v| v.abs()).collect();
        let pre = Preprocessed {
            rate: Hz(1000.0),
            pcg: pcg.clone(),
            envelope,
            duration: Seconds(len as f64 / 1000.0),
            original_rate: Hz(1000.0),
        };
        let cycles: Vec<Cycle> = (0..beats).map(|b| cycle_at(b as f64 * 0.8)).collect();
        let ens = ensemble_average(&pre, &cycles).expect("accepted cycles");
        assert_eq!(ens.cycles, beats);
        assert_eq!(ens.waveform.len(), 800);
        let snr = |x: &[f32]| {
            let (mut s, mut e) = (0.0f64, 0.0f64);
            for (k, &v) in x.iter().enumerate() {
                let c = clean_beat(k) as f64;
                s += c * c;
                e += (v as f64 - c).powi(2);
            }
            10.0 * (s / e).log10()
        };
        let single = snr(&pcg[..800]);
        let averaged = snr(&ens.waveform);
        let gain = averaged - single;
        // √16 in amplitude is 12 dB in power; allow for the estimate's own scatter.
        assert!(gain > 10.0 && gain < 14.0, "SNR gain {gain:.1} dB");
        assert!((ens.s2.start.0 - 0.35).abs() < 1e-9);
    }

    #[test]
    fn no_accepted_or_malformed_cycles_give_none() {
        let pre = Preprocessed {
            rate: Hz(1000.0),
            pcg: vec![0.0; 100],
            envelope: vec![0.0; 100],
            duration: Seconds(0.1),
            original_rate: Hz(1000.0),
        };
        let mut c = cycle_at(0.0);
        assert!(ensemble_average(&pre, std::slice::from_ref(&c)).is_none());
        c.accepted = false;
        assert!(ensemble_average(&pre, &[c]).is_none());
        assert!(ensemble_average(&pre, &[]).is_none());
    }
}

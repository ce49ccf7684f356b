//! Front-end and segmentation cost on a 30 s, 4 kHz PCG with a simultaneous 4 kHz ECG (the
//! engine's performance target is ≤ 2 ms for the whole analysis of such a recording).
//!
//! `cargo bench -p auscult-dsp --bench front_end`

use std::hint::black_box;

use auscult_dsp::ecg::detect_r_peaks;
use auscult_dsp::envelope::{hilbert_envelope, homomorphic_envelope};
use auscult_dsp::filter::{Sos, filtfilt_bank};
use auscult_dsp::model::{EcgInput, Signal};
use auscult_dsp::preprocess::preprocess;
use auscult_dsp::resample::resample;
use auscult_dsp::segment::segment;
use auscult_dsp::units::Hz;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const RATE: f64 = 4000.0;

/// A deterministic beating PCG (S1/S2 bursts, 72 bpm) with a little pseudo-random noise, and an
/// ECG with R peaks at the S1 onsets.
fn recording(secs: f64) -> (Vec<f32>, Vec<f32>) {
    let n = (RATE * secs) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let period = 60.0 / 72.0;
    let mut pcg = Vec::with_capacity(n);
    let mut ecg = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 / RATE;
        let ph = t % period;
        let burst = |start: f64, len: f64, f: f64| {
            let u = ph - start;
            if (0.0..len).contains(&u) {
                (std::f64::consts::PI * u / len).sin().powi(2)
                    * (2.0 * std::f64::consts::PI * f * u).sin()
            } else {
                0.0
            }
        };
        pcg.push((burst(0.0, 0.11, 55.0) + 0.8 * burst(0.31, 0.08, 80.0)) as f32 + 0.05 * noise());
        let r =
            (-(ph / 0.008).powi(2) / 2.0).exp() + (-((ph - period) / 0.008).powi(2) / 2.0).exp();
        let tw = 0.3 * (-((ph - 0.25) / 0.04).powi(2) / 2.0).exp();
        ecg.push((r + tw) as f32 + 0.01 * noise());
    }
    (pcg, ecg)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("front_end");
    for secs in [10.0, 30.0] {
        let (pcg, ecg) = recording(secs);
        let pcg_sig = Signal {
            samples: &pcg,
            rate: Hz(RATE),
        };
        let ecg_sig = Signal {
            samples: &ecg,
            rate: Hz(RATE),
        };
        let label = format!("{secs}s_4kHz");
        group.bench_with_input(BenchmarkId::new("preprocess", &label), &pcg_sig, |b, s| {
            b.iter(|| preprocess(black_box(*s)))
        });
        group.bench_with_input(BenchmarkId::new("r_peaks", &label), &ecg_sig, |b, s| {
            b.iter(|| detect_r_peaks(black_box(*s)))
        });
        let Ok(pre) = preprocess(pcg_sig) else {
            continue;
        };
        // The kernels inside preprocessing and segmentation, on the 1 kHz analysis signal.
        let x = pre.pcg.clone();
        let band = Sos::butter_bandpass(2, 25.0, 400.0, 1000.0);
        group.bench_with_input(BenchmarkId::new("resample_4k_1k", &label), &pcg, |b, p| {
            b.iter(|| resample(black_box(p), RATE, 1000.0))
        });
        group.bench_with_input(BenchmarkId::new("bandpass_filtfilt", &label), &x, |b, x| {
            b.iter(|| band.filtfilt(black_box(x)))
        });
        let bank = [
            Sos::butter_bandpass(2, 40.0, 60.0, 1000.0),
            Sos::butter_bandpass(2, 60.0, 125.0, 1000.0),
            Sos::butter_bandpass(2, 150.0, 400.0, 1000.0),
        ];
        group.bench_with_input(BenchmarkId::new("filtfilt_bank_3", &label), &x, |b, x| {
            b.iter(|| filtfilt_bank(&[&bank[0], &bank[1], &bank[2]], black_box(x)))
        });
        let causal = Sos::butter_bandpass(1, 80.0, 200.0, 1000.0);
        group.bench_with_input(BenchmarkId::new("bandpass_causal", &label), &x, |b, x| {
            b.iter(|| {
                let mut y = x.clone();
                causal.apply(black_box(&mut y));
                y
            })
        });
        group.bench_with_input(BenchmarkId::new("envelopes", &label), &x, |b, x| {
            b.iter(|| homomorphic_envelope(&hilbert_envelope(black_box(x)), 1000.0, 8.0))
        });
        group.bench_with_input(
            BenchmarkId::new("segment_pcg_only", &label),
            &pre,
            |b, p| b.iter(|| segment(black_box(p), None)),
        );
        group.bench_with_input(
            BenchmarkId::new("segment_with_ecg", &label),
            &pre,
            |b, p| b.iter(|| segment(black_box(p), Some(EcgInput::Raw(ecg_sig)))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

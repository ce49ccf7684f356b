//! Known-answer tests of the synthetic recordings: determinism, physiological timing, murmur
//! placement and shape, spectra, rhythm, noise and validation.

use auscult_synth::{
    BeatKind, EcgOptions, ExtraSounds, MurmurKind, MurmurSpec, PcgNoise, Rhythm, Scenario,
    SynthConfig, SynthError, generate,
};
use rustfft::{FftPlanner, num_complex::Complex};

fn quiet(seed: u64) -> SynthConfig {
    SynthConfig {
        seed,
        duration_s: 30.0,
        pcg_noise: PcgNoise::NONE,
        ..SynthConfig::default()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Mean square of `x` over `[a, b)` seconds.
fn energy(x: &[f32], rate: f64, a: f64, b: f64) -> f64 {
    let i0 = ((a * rate).ceil().max(0.0) as usize).min(x.len());
    let i1 = ((b * rate).floor().max(0.0) as usize).min(x.len());
    if i1 <= i0 {
        return 0.0;
    }
    x[i0..i1].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / (i1 - i0) as f64
}

/// Welch power spectrum (Hann, 50 % overlap): (bin width, power per bin).
fn spectrum(x: &[f32], rate: f64, seg: usize) -> (f64, Vec<f64>) {
    let fft = FftPlanner::<f64>::new().plan_fft_forward(seg);
    let hann: Vec<f64> = (0..seg)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / seg as f64).cos())
        .collect();
    let mut power = vec![0.0; seg / 2];
    let mut start = 0;
    while start + seg <= x.len() {
        let mut buf: Vec<Complex<f64>> = (0..seg)
            .map(|i| Complex::new(f64::from(x[start + i]) * hann[i], 0.0))
            .collect();
        fft.process(&mut buf);
        for (p, c) in power.iter_mut().zip(&buf) {
            *p += c.norm_sqr();
        }
        start += seg / 2;
    }
    (rate / seg as f64, power)
}

/// Fraction of power between `lo` and `hi` Hz, and the spectral centroid.
fn band_fraction_and_centroid(x: &[f32], rate: f64, lo: f64, hi: f64) -> (f64, f64) {
    let (df, p) = spectrum(x, rate, 1024);
    let total: f64 = p.iter().sum();
    let band: f64 = p
        .iter()
        .enumerate()
        .filter(|(i, _)| (lo..hi).contains(&(*i as f64 * df)))
        .map(|(_, v)| v)
        .sum();
    let centroid = p
        .iter()
        .enumerate()
        .map(|(i, v)| i as f64 * df * v)
        .sum::<f64>()
        / total;
    (band / total, centroid)
}

#[test]
fn the_same_seed_gives_the_same_recording_and_another_seed_does_not() {
    let cfg = Scenario::NoisyHome.config(42, 10.0);
    let a = generate(&cfg).expect("valid");
    let b = generate(&cfg).expect("valid");
    assert_eq!(a, b);
    let c = generate(&SynthConfig { seed: 43, ..cfg }).expect("valid");
    assert_ne!(a.pcg, c.pcg);
    assert_ne!(a.truth.r_peaks_s, c.truth.r_peaks_s);
}

#[test]
fn noise_options_leave_the_heart_untouched() {
    let clean = generate(&quiet(5)).expect("valid");
    let noisy = generate(&SynthConfig {
        pcg_noise: PcgNoise::NOISY,
        ecg: EcgOptions::AMBULATORY,
        ..quiet(5)
    })
    .expect("valid");
    assert_eq!(clean.truth.s1, noisy.truth.s1);
    assert_eq!(clean.truth.s2, noisy.truth.s2);
    assert_eq!(clean.truth.r_peaks_s, noisy.truth.r_peaks_s);
    assert!(!noisy.truth.noise_events.is_empty());
    assert_ne!(clean.pcg, noisy.pcg);
}

#[test]
fn sample_counts_and_rates_match_the_config() {
    let cfg = SynthConfig {
        duration_s: 12.5,
        pcg_rate_hz: 2000.0,
        ecg_rate_hz: 2000.0,
        ..quiet(1)
    };
    let r = generate(&cfg).expect("valid");
    assert_eq!(r.pcg.len(), 25_000);
    assert_eq!(r.ecg.len(), 25_000);
    assert!((r.duration_s() - 12.5).abs() < 1e-9);
    assert!(r.pcg.iter().chain(&r.ecg).all(|v| v.is_finite()));
    let peak = r.pcg.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        (peak - auscult_synth::CLEAN_PCG_PEAK).abs() < 1e-6,
        "peak {peak}"
    );
}

#[test]
fn s1_starts_just_after_the_r_peak_and_s2_follows_qs2() {
    for hr in [50.0, 70.0, 100.0, 140.0] {
        for seed in 0..3 {
            let r = generate(&SynthConfig {
                heart_rate_bpm: hr,
                ..quiet(seed)
            })
            .expect("valid");
            let beats = &r.truth.beats;
            assert!(
                beats.len() as f64 >= 0.8 * hr / 2.0,
                "{} beats at {hr} bpm",
                beats.len()
            );
            let mut s2_after_tend = Vec::new();
            for w in beats.windows(2) {
                let (b, next) = (&w[0], &w[1]);
                let (Some(s1), Some(s2)) = (b.s1, b.s2) else {
                    continue;
                };
                let lag = s1.0 - b.r_peak_s;
                assert!((-0.01..=0.035).contains(&lag), "S1 lag {lag} at {hr} bpm");
                let d1 = s1.1 - s1.0;
                let d2 = s2.1 - s2.0;
                assert!(
                    (0.0899..=0.1601).contains(&d1) && (0.0699..=0.1301).contains(&d2),
                    "{d1} {d2}"
                );
                let hr_inst = 60.0 / (next.r_peak_s - b.r_peak_s);
                let qs2 = (546.0 - 2.1 * hr_inst) / 1000.0;
                let measured = s2.0 - (b.r_peak_s - 0.04);
                // High rates clamp S2 to leave a gap after S1.
                if hr <= 100.0 {
                    assert!(
                        (measured - qs2).abs() < 0.02,
                        "QS2 {measured} vs {qs2} at {hr_inst} bpm"
                    );
                }
                assert!(s2.0 > s1.1 && s2.1 < next.s1.map_or(f64::MAX, |n| n.0));
                s2_after_tend.push((s2.0 + s2.1) / 2.0 - b.t_end_s);
            }
            // PhysioNet 2016: the S2 centre lies a median ~75 ms after the T-wave end (IQR 36–152).
            let m = median(&mut s2_after_tend);
            assert!(
                (0.03..=0.16).contains(&m),
                "S2 centre − T end median {m} at {hr} bpm"
            );
        }
    }
}

#[test]
fn heart_sound_durations_match_the_literature() {
    let r = generate(&quiet(7)).expect("valid");
    let d1: Vec<f64> = r.truth.s1.iter().map(|s| s.1 - s.0).collect();
    let d2: Vec<f64> = r.truth.s2.iter().map(|s| s.1 - s.0).collect();
    assert!((mean(&d1) - 0.122).abs() < 0.012, "S1 {}", mean(&d1));
    assert!((mean(&d2) - 0.094).abs() < 0.01, "S2 {}", mean(&d2));
}

#[test]
fn heart_sound_energy_lies_inside_the_labelled_spans() {
    let r = generate(&quiet(3)).expect("valid");
    let rate = r.pcg_rate_hz;
    let total: f64 = r.pcg.iter().map(|v| f64::from(*v).powi(2)).sum();
    let inside: f64 = r
        .truth
        .s1
        .iter()
        .chain(&r.truth.s2)
        .map(|&(a, b)| energy(&r.pcg, rate, a, b) * (b - a) * rate)
        .sum();
    assert!(
        inside / total > 0.97,
        "only {:.3} of the energy inside S1/S2",
        inside / total
    );
}

#[test]
fn r_peaks_are_the_ecg_extrema_in_either_polarity() {
    for inverted in [false, true] {
        let r = generate(&SynthConfig {
            ecg: EcgOptions {
                inverted,
                ..EcgOptions::CLEAN
            },
            ecg_rate_hz: 1000.0,
            ectopic_probability: 0.1,
            ..quiet(11)
        })
        .expect("valid");
        let sign = if inverted { -1.0 } else { 1.0 };
        assert!(
            r.truth
                .beats
                .iter()
                .any(|b| b.kind == BeatKind::Ventricular)
        );
        for &t in &r.truth.r_peaks_s {
            let i = (t * r.ecg_rate_hz).round() as usize;
            let lo = i.saturating_sub(60);
            let hi = (i + 60).min(r.ecg.len());
            let best = (lo..hi)
                .max_by(|&a, &b| (sign * r.ecg[a]).total_cmp(&(sign * r.ecg[b])))
                .expect("window");
            assert!(
                best.abs_diff(i) <= 1,
                "R at {t}: extremum at sample {best}, truth {i}"
            );
            assert!(sign * r.ecg[i] > 0.8, "R amplitude {}", r.ecg[i]);
        }
    }
}

#[test]
fn mean_heart_rate_follows_the_setting() {
    for hr in [40.0, 72.0, 120.0, 170.0] {
        let r = generate(&SynthConfig {
            heart_rate_bpm: hr,
            duration_s: 60.0,
            ..quiet(2)
        })
        .expect("valid");
        assert!(
            (r.truth.heart_rate_bpm - hr).abs() / hr < 0.04,
            "{} vs {hr}",
            r.truth.heart_rate_bpm
        );
    }
}

fn rr_cv(r: &auscult_synth::SyntheticRecording) -> f64 {
    let rr: Vec<f64> = r.truth.r_peaks_s.windows(2).map(|w| w[1] - w[0]).collect();
    let m = mean(&rr);
    (rr.iter().map(|x| (x - m).powi(2)).sum::<f64>() / rr.len() as f64).sqrt() / m
}

#[test]
fn sinus_rhythm_is_regular_with_rsa_and_af_is_irregular() {
    let sinus = generate(&SynthConfig {
        duration_s: 120.0,
        ..quiet(4)
    })
    .expect("valid");
    let af = generate(&SynthConfig {
        duration_s: 120.0,
        rhythm: Rhythm::AtrialFibrillation,
        extra_sounds: ExtraSounds {
            s3: false,
            s4: true,
        },
        ..quiet(4)
    })
    .expect("valid");
    let (cv_sinus, cv_af) = (rr_cv(&sinus), rr_cv(&af));
    assert!(
        cv_sinus > 0.005 && cv_sinus < 0.06,
        "sinus RR CV {cv_sinus}"
    );
    assert!(cv_af > 0.12, "AF RR CV {cv_af}");
    assert!(
        af.truth.s4.is_empty(),
        "no atrial sound without atrial contraction"
    );

    // RSA: the RR series oscillates at the respiratory rate (15/min = 0.25 Hz).
    let rr: Vec<f64> = sinus
        .truth
        .r_peaks_s
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    let m = mean(&rr);
    let rr: Vec<f64> = rr.iter().map(|x| x - m).collect();
    let times: Vec<f64> = sinus.truth.r_peaks_s[..rr.len()].to_vec();
    let power_at = |f: f64| {
        let (c, s) = rr.iter().zip(&times).fold((0.0, 0.0), |(c, s), (x, t)| {
            let ph = 2.0 * std::f64::consts::PI * f * t;
            (c + x * ph.cos(), s + x * ph.sin())
        });
        c * c + s * s
    };
    let resp = power_at(0.25);
    let off = (power_at(0.4) + power_at(0.55) + power_at(0.18)) / 3.0;
    assert!(resp > 5.0 * off, "RSA power {resp} vs off-band {off}");
}

#[test]
fn ectopic_beats_are_premature_with_a_compensatory_pause() {
    let r = generate(&SynthConfig {
        ectopic_probability: 0.2,
        duration_s: 60.0,
        ..quiet(9)
    })
    .expect("valid");
    let b = &r.truth.beats;
    let mut seen = 0;
    for k in 1..b.len().saturating_sub(1) {
        if b[k].kind == BeatKind::Ventricular {
            seen += 1;
            let coupling = b[k].r_peak_s - b[k - 1].r_peak_s;
            let pause = b[k + 1].r_peak_s - b[k].r_peak_s;
            assert!(pause > coupling * 1.3, "coupling {coupling} pause {pause}");
        }
    }
    assert!(seen >= 3, "{seen} ectopics");
}

/// Energy in mid-systole and mid-diastole windows, away from S1 and S2, summed over cycles.
fn phase_energies(r: &auscult_synth::SyntheticRecording) -> (f64, f64) {
    let rate = r.pcg_rate_hz;
    let (mut sys, mut dia) = (0.0, 0.0);
    for w in r.truth.beats.windows(2) {
        let (Some(s1), Some(s2), Some(n1)) = (w[0].s1, w[0].s2, w[1].s1) else {
            continue;
        };
        sys += energy(&r.pcg, rate, s1.1, s2.0);
        dia += energy(&r.pcg, rate, s2.1, n1.0);
    }
    (sys, dia)
}

#[test]
fn murmur_energy_lies_in_its_phase() {
    for kind in MurmurKind::ALL {
        let r = generate(&SynthConfig {
            murmur: Some(MurmurSpec { kind, grade: 3 }),
            pcg_noise: PcgNoise::CLEAN,
            ..quiet(21)
        })
        .expect("valid");
        let m = r.truth.murmur.as_ref().expect("murmur truth");
        assert!(m.spans.len() >= 25, "{kind:?}: {} spans", m.spans.len());
        let (sys, dia) = phase_energies(&r);
        match kind.timing() {
            auscult_synth::MurmurTiming::Systolic => {
                assert!(sys > 8.0 * dia, "{kind:?} sys {sys} dia {dia}")
            }
            auscult_synth::MurmurTiming::Diastolic => {
                assert!(dia > 8.0 * sys, "{kind:?} sys {sys} dia {dia}")
            }
        }
        for &(a, b) in &m.spans {
            let systolic = r.truth.beats.iter().any(|bt| match (bt.s1, bt.s2) {
                (Some(s1), Some(s2)) => a >= s1.0 && b <= s2.1,
                _ => false,
            });
            assert_eq!(
                systolic,
                kind.timing() == auscult_synth::MurmurTiming::Systolic,
                "{kind:?} span {a}..{b}"
            );
        }
    }
    let none = generate(&SynthConfig {
        pcg_noise: PcgNoise::CLEAN,
        ..quiet(21)
    })
    .expect("valid");
    let (sys, dia) = phase_energies(&none);
    let with = generate(&SynthConfig {
        murmur: Some(MurmurSpec {
            kind: MurmurKind::MitralRegurgitation,
            grade: 3,
        }),
        pcg_noise: PcgNoise::CLEAN,
        ..quiet(21)
    })
    .expect("valid");
    assert!(phase_energies(&with).0 > 20.0 * sys.max(dia));
}

/// Energy of thirds of each murmur span (the part clear of S1 and S2), averaged over cycles.
fn thirds(r: &auscult_synth::SyntheticRecording) -> [f64; 3] {
    let m = r.truth.murmur.as_ref().expect("murmur");
    let sounds: Vec<(f64, f64)> = r.truth.s1.iter().chain(&r.truth.s2).copied().collect();
    let mut out = [0.0; 3];
    for &(a, b) in &m.spans {
        let a = sounds
            .iter()
            .filter(|s| s.0 <= a && a < s.1)
            .fold(a, |x, s| x.max(s.1));
        let b = sounds
            .iter()
            .filter(|s| s.0 < b && b <= s.1)
            .fold(b, |x, s| x.min(s.0));
        let d = (b - a) / 3.0;
        for (j, o) in out.iter_mut().enumerate() {
            *o += energy(
                &r.pcg,
                r.pcg_rate_hz,
                a + j as f64 * d,
                a + (j + 1) as f64 * d,
            );
        }
    }
    out
}

#[test]
fn murmur_shapes_match_their_lesions() {
    let shape = |kind, rhythm| {
        let r = generate(&SynthConfig {
            murmur: Some(MurmurSpec { kind, grade: 4 }),
            rhythm,
            ..quiet(8)
        })
        .expect("valid");
        thirds(&r)
    };
    let [a, b, c] = shape(MurmurKind::AorticStenosis, Rhythm::Sinus);
    assert!(b > 1.5 * a && b > 1.5 * c, "AS diamond {a} {b} {c}");
    let [a, b, c] = shape(MurmurKind::MitralRegurgitation, Rhythm::Sinus);
    assert!(
        a / c > 0.6 && a / c < 1.6 && b / a > 0.6 && b / a < 1.6,
        "MR plateau {a} {b} {c}"
    );
    let [a, b, c] = shape(MurmurKind::AorticRegurgitation, Rhythm::Sinus);
    assert!(a > 2.0 * b && b > 2.0 * c, "AR decrescendo {a} {b} {c}");
    let [_, b, c] = shape(MurmurKind::MitralValveProlapse, Rhythm::Sinus);
    let [a, _, _] = shape(MurmurKind::MitralValveProlapse, Rhythm::Sinus);
    assert!(c > 1.5 * b && b > a, "MVP crescendo {a} {b} {c}");
    let [_, b, c] = shape(MurmurKind::MitralStenosis, Rhythm::Sinus);
    assert!(c > 2.0 * b, "MS presystolic accentuation {b} {c}");
    let [_, b, c] = shape(MurmurKind::MitralStenosis, Rhythm::AtrialFibrillation);
    assert!(c < 1.5 * b, "MS in AF: no presystolic accentuation {b} {c}");
}

#[test]
fn mvp_has_a_click_before_its_murmur_and_ms_an_opening_snap_after_s2() {
    let r = generate(&Scenario::MitralValveProlapse.config(3, 20.0)).expect("valid");
    let m = r.truth.murmur.as_ref().expect("murmur");
    assert!(!r.truth.clicks_s.is_empty());
    for c in r
        .truth
        .clicks_s
        .iter()
        .filter(|&&c| c + 0.3 < r.duration_s())
    {
        assert!(
            m.spans.iter().any(|(a, _)| (a - c) > 0.0 && (a - c) < 0.03),
            "click {c}"
        );
    }
    let r = generate(&Scenario::MitralStenosis.config(3, 20.0)).expect("valid");
    assert!(!r.truth.opening_snaps_s.is_empty());
    for os in &r.truth.opening_snaps_s {
        let gap = r
            .truth
            .s2
            .iter()
            .map(|s| os - s.0)
            .filter(|g| *g > 0.0)
            .fold(f64::MAX, f64::min);
        assert!((0.05..0.12).contains(&gap), "A2–OS {gap}");
    }
}

#[test]
fn louder_grades_are_louder() {
    let level = |grade| {
        let r = generate(&SynthConfig {
            murmur: Some(MurmurSpec {
                kind: MurmurKind::AorticStenosis,
                grade,
            }),
            ..quiet(6)
        })
        .expect("valid");
        // Relative to S1, since the whole PCG is normalised to its peak.
        let s1: f64 = r
            .truth
            .s1
            .iter()
            .map(|&(a, b)| energy(&r.pcg, r.pcg_rate_hz, a, b))
            .sum();
        phase_energies(&r).0 / s1
    };
    let levels: Vec<f64> = (1..=6).map(level).collect();
    assert!(levels.windows(2).all(|w| w[1] > 1.5 * w[0]), "{levels:?}");
}

#[test]
fn spectra_sit_in_plausible_bands() {
    let normal = generate(&quiet(12)).expect("valid");
    let (frac, centroid) = band_fraction_and_centroid(&normal.pcg, normal.pcg_rate_hz, 20.0, 250.0);
    assert!(frac > 0.9, "heart sounds: {frac} of power in 20–250 Hz");
    assert!(
        (40.0..150.0).contains(&centroid),
        "heart sounds centroid {centroid}"
    );

    // The murmur alone: same seed with and without, noise off, so the difference is the murmur.
    let murmur_only = |kind| {
        let with = generate(&SynthConfig {
            murmur: Some(MurmurSpec { kind, grade: 3 }),
            ..quiet(12)
        })
        .expect("valid");
        let without = generate(&quiet(12)).expect("valid");
        // Both are peak-normalised; undo it by matching S1 energy before subtracting.
        let s1 = with.truth.s1[0];
        let k = (energy(&without.pcg, 4000.0, s1.0, s1.1) / energy(&with.pcg, 4000.0, s1.0, s1.1))
            .sqrt() as f32;
        let diff: Vec<f32> = with
            .pcg
            .iter()
            .zip(&without.pcg)
            .map(|(a, b)| a * k - b)
            .collect();
        band_fraction_and_centroid(&diff, 4000.0, 0.0, 2000.0).1
    };
    let ms = murmur_only(MurmurKind::MitralStenosis);
    let as_ = murmur_only(MurmurKind::AorticStenosis);
    let mr = murmur_only(MurmurKind::MitralRegurgitation);
    assert!(ms < 90.0, "MS rumble centroid {ms}");
    assert!((120.0..320.0).contains(&as_), "AS centroid {as_}");
    assert!(mr > 250.0 && mr > as_, "MR centroid {mr}");

    let ecg = generate(&SynthConfig {
        ecg_rate_hz: 500.0,
        ..quiet(12)
    })
    .expect("valid");
    let (frac, _) = band_fraction_and_centroid(&ecg.ecg, 500.0, 0.0, 40.0);
    assert!(frac > 0.95, "ECG: {frac} of power below 40 Hz");
    let hum = generate(&SynthConfig {
        ecg: EcgOptions {
            mains_hz: Some(50.0),
            mains_mv: 0.1,
            ..EcgOptions::CLEAN
        },
        ..quiet(12)
    })
    .expect("valid");
    let (df, p) = spectrum(&hum.ecg, 500.0, 1000);
    let at50 = p[(50.0 / df) as usize];
    let near = (p[(44.0 / df) as usize] + p[(56.0 / df) as usize]) / 2.0;
    assert!(at50 > 100.0 * near, "50 Hz line {at50} vs {near}");
}

#[test]
fn s3_and_s4_sit_in_early_and_late_diastole() {
    let r = generate(&SynthConfig {
        extra_sounds: ExtraSounds { s3: true, s4: true },
        heart_rate_bpm: 60.0,
        ..quiet(14)
    })
    .expect("valid");
    assert!(r.truth.s3.len() >= 20 && r.truth.s4.len() >= 20);
    for s3 in &r.truth.s3 {
        let s2 = r
            .truth
            .s2
            .iter()
            .rev()
            .find(|s| s.0 < s3.0)
            .expect("S2 before S3");
        assert!((0.11..0.2).contains(&(s3.0 - s2.0)));
    }
    for s4 in &r.truth.s4 {
        let s1 = r.truth.s1.iter().find(|s| s.0 > s4.1).expect("S1 after S4");
        assert!(s1.0 - s4.1 < 0.08);
    }
}

#[test]
fn noise_events_are_where_the_truth_says() {
    let r = generate(&SynthConfig {
        pcg_noise: PcgNoise {
            spikes_per_min: 20.0,
            spike_level: 5.0,
            ..PcgNoise::NONE
        },
        duration_s: 60.0,
        ..quiet(15)
    })
    .expect("valid");
    let spikes: Vec<_> = r.truth.noise_events.iter().collect();
    assert!(spikes.len() >= 8, "{} spikes", spikes.len());
    for e in &spikes {
        let peak = (e.start_s * r.pcg_rate_hz).ceil() as usize;
        assert!(
            r.pcg[peak].abs() > 1.0,
            "spike at {} has {}",
            e.start_s,
            r.pcg[peak]
        );
        assert!(e.end_s <= r.duration_s());
    }
    let speech = generate(&SynthConfig {
        pcg_noise: PcgNoise {
            speech_per_min: 10.0,
            speech_level: 1.0,
            ..PcgNoise::NONE
        },
        duration_s: 60.0,
        ..quiet(15)
    })
    .expect("valid");
    assert!(!speech.truth.noise_events.is_empty());
    let clean = generate(&SynthConfig {
        duration_s: 60.0,
        ..quiet(15)
    })
    .expect("valid");
    for e in &speech.truth.noise_events {
        let with = energy(&speech.pcg, 4000.0, e.start_s, e.end_s);
        let without = energy(&clean.pcg, 4000.0, e.start_s, e.end_s);
        assert!(
            with > 1.5 * without,
            "speech at {}..{}: {with} vs {without}",
            e.start_s,
            e.end_s
        );
    }
}

#[test]
fn white_noise_meets_the_requested_snr() {
    let clean = generate(&quiet(16)).expect("valid");
    let noisy = generate(&SynthConfig {
        pcg_noise: PcgNoise {
            white_snr_db: Some(6.0),
            ..PcgNoise::NONE
        },
        ..quiet(16)
    })
    .expect("valid");
    let p = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    let noise: Vec<f32> = noisy
        .pcg
        .iter()
        .zip(&clean.pcg)
        .map(|(a, b)| a - b)
        .collect();
    let snr = 10.0 * (p(&clean.pcg) / p(&noise)).log10();
    assert!((snr - 6.0).abs() < 0.3, "SNR {snr}");
}

#[test]
fn every_scenario_generates_finite_signals_at_odd_rates() {
    for sc in Scenario::ALL {
        for (pcg_rate, ecg_rate) in [(2000.0, 2000.0), (8000.0, 250.0), (1000.0, 100.0)] {
            let r = generate(&SynthConfig {
                pcg_rate_hz: pcg_rate,
                ecg_rate_hz: ecg_rate,
                ..sc.config(1, 8.0)
            })
            .expect("valid");
            assert!(
                r.pcg.iter().chain(&r.ecg).all(|v| v.is_finite()),
                "{sc} at {pcg_rate}/{ecg_rate}"
            );
            assert!(
                !r.truth.s1.is_empty() && !r.truth.r_peaks_s.is_empty(),
                "{sc}"
            );
            assert_eq!(sc.name().parse::<Scenario>().expect("round trip"), sc);
        }
    }
}

#[test]
fn bad_configs_are_refused() {
    let bad = [
        SynthConfig {
            heart_rate_bpm: 300.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            duration_s: f64::NAN,
            ..SynthConfig::default()
        },
        SynthConfig {
            pcg_rate_hz: 100.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            murmur: Some(MurmurSpec {
                kind: MurmurKind::AorticStenosis,
                grade: 7,
            }),
            ..SynthConfig::default()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(generate(&cfg), Err(SynthError::InvalidConfig { .. })),
            "{cfg:?}"
        );
    }
    let huge = SynthConfig {
        duration_s: 3600.0,
        pcg_rate_hz: 48_000.0,
        ..SynthConfig::default()
    };
    assert!(matches!(generate(&huge), Err(SynthError::TooLarge { .. })));
    assert!(matches!(
        "xyz".parse::<Scenario>(),
        Err(SynthError::UnknownScenario(_))
    ));
}

//! Known-answer tests of the front end, R-peak detection and segmentation on synthetic signals
//! generated here with a seeded RNG: damped-sinusoid S1/S2 bursts at known times plus noise, and
//! an ECG with sharp R peaks, T waves, baseline wander and either polarity.

use auscult_dsp::ecg::{detect_r_peaks, t_wave_ends};
use auscult_dsp::heart_rate;
use auscult_dsp::model::{EcgInput, EcgSetAside, Preprocessed, Segmentation, Signal};
use auscult_dsp::preprocess::{ANALYSIS_RATE, preprocess};
use auscult_dsp::segment::segment;
use auscult_dsp::units::{Hz, Seconds};

/// A small seeded generator (xorshift64*) so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Beat onset times with some variability (seconds).
fn beat_times(secs: f64, period: f64, jitter: f64, rng: &mut Rng) -> Vec<f64> {
    let mut t = 0.35;
    let mut out = Vec::new();
    while t < secs - 0.2 {
        out.push(t);
        t += period * (1.0 + jitter * (rng.uniform() - 0.5));
    }
    out
}

const S1_LEN: f64 = 0.11;
const S2_LEN: f64 = 0.08;

/// PCG with an S1 at each beat onset and an S2 `sys` seconds later, plus white noise.
fn synth_pcg(rate: f64, secs: f64, beats: &[f64], sys: f64, noise: f64, rng: &mut Rng) -> Vec<f32> {
    let n = (rate * secs) as usize;
    let mut x: Vec<f64> = (0..n).map(|_| noise * rng.gauss()).collect();
    let mut burst = |start: f64, len: f64, freq: f64, amp: f64| {
        let i0 = (start * rate) as usize;
        for k in 0..(len * rate) as usize {
            if let Some(v) = x.get_mut(i0 + k) {
                let t = k as f64 / rate;
                let w = (std::f64::consts::PI * t / len).sin();
                *v += amp * w * w * (2.0 * std::f64::consts::PI * freq * t).sin();
            }
        }
    };
    for &b in beats {
        burst(b, S1_LEN, 55.0, 1.0);
        burst(b + sys, S2_LEN, 80.0, 0.8);
    }
    x.into_iter().map(|v| v as f32).collect()
}

/// ECG with R peaks at `beats`, a T wave ending ~0.33 s later, and a 0.3 Hz baseline wander.
fn synth_ecg(rate: f64, secs: f64, beats: &[f64], polarity: f64, rng: &mut Rng) -> Vec<f32> {
    let n = (rate * secs) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let mut v = 1.5 * (2.0 * std::f64::consts::PI * 0.3 * t).sin() + 0.02 * rng.gauss();
            for &b in beats {
                let d = t - b;
                if d.abs() < 0.6 {
                    v += polarity * (-(d / 0.008).powi(2) / 2.0).exp();
                    v -= polarity * 0.15 * (-((d + 0.02) / 0.01).powi(2) / 2.0).exp();
                    v += 0.3 * (-((d - 0.25) / 0.04).powi(2) / 2.0).exp();
                }
            }
            v as f32
        })
        .collect()
}

/// Fraction of reference events matched by a detected centre within `tol`.
fn recall(reference: &[f64], detected: &[f64], tol: f64) -> f64 {
    let hits = reference
        .iter()
        .filter(|&&r| detected.iter().any(|&d| (d - r).abs() <= tol))
        .count();
    hits as f64 / reference.len().max(1) as f64
}

fn centres(seg: &Segmentation) -> (Vec<f64>, Vec<f64>) {
    (
        seg.cycles.iter().map(|c| c.s1.centre().0).collect(),
        seg.cycles.iter().map(|c| c.s2.centre().0).collect(),
    )
}

fn check_segmentation(seg: &Segmentation, beats: &[f64], sys: f64, what: &str) {
    let (s1, s2) = centres(seg);
    let s1_ref: Vec<f64> = beats.iter().map(|b| b + S1_LEN / 2.0).collect();
    let s2_ref: Vec<f64> = beats.iter().map(|b| b + sys + S2_LEN / 2.0).collect();
    let (r1, r2) = (recall(&s1_ref, &s1, 0.06), recall(&s2_ref, &s2, 0.06));
    assert!(r1 >= 0.9, "{what}: S1 recall {r1}");
    assert!(r2 >= 0.9, "{what}: S2 recall {r2}");
    // No extra sounds either.
    let p1 = recall(&s1, &s1_ref, 0.06);
    let p2 = recall(&s2, &s2_ref, 0.06);
    assert!(p1 >= 0.9 && p2 >= 0.9, "{what}: precision S1 {p1}, S2 {p2}");
    for c in &seg.cycles {
        assert!(c.s1.start.0 < c.s1.end.0 && c.s1.end.0 <= c.s2.start.0);
        assert!(c.s2.end.0 <= c.end.0 + 1e-9);
        assert_eq!(c.quality, 1.0);
        assert!(c.accepted);
    }
}

#[test]
fn pcg_only_segmentation_finds_synthetic_s1_and_s2() {
    for (rate, period, sys, seed) in [
        (2000.0, 0.85, 0.30, 1u64),
        (4000.0, 0.62, 0.27, 2),
        (1000.0, 1.1, 0.34, 3),
        (44100.0, 0.75, 0.29, 4),
    ] {
        let mut rng = Rng(seed);
        let beats = beat_times(20.0, period, 0.05, &mut rng);
        let pcg = synth_pcg(rate, 20.0, &beats, sys, 0.05, &mut rng);
        let pre = preprocess(Signal {
            samples: &pcg,
            rate: Hz(rate),
        })
        .expect("valid PCG");
        assert_eq!(pre.rate, ANALYSIS_RATE);
        assert_eq!(pre.pcg.len(), pre.envelope.len());
        let seg = segment(&pre, None);
        assert!(!seg.ecg_used);
        assert_eq!(seg.ecg_set_aside, None, "no ECG was given");
        check_segmentation(&seg, &beats, sys, &format!("{rate} Hz"));
        let hr = seg.heart_rate.expect("heart rate").0;
        assert!(
            (hr - 60.0 / period).abs() < 5.0,
            "hr {hr} for period {period}"
        );
    }
}

#[test]
fn heart_rate_and_systolic_interval_from_the_envelope() {
    let mut rng = Rng(7);
    let beats = beat_times(30.0, 0.8, 0.0, &mut rng);
    let pcg = synth_pcg(2000.0, 30.0, &beats, 0.3, 0.02, &mut rng);
    let pre = preprocess(Signal {
        samples: &pcg,
        rate: Hz(2000.0),
    })
    .expect("valid");
    let (hr, sys) = heart_rate::estimate(&pre.envelope, pre.rate).expect("estimate");
    assert!((hr.0 - 75.0).abs() < 2.0, "{hr}");
    assert!((sys.0 - 0.3).abs() < 0.04, "{sys}");
}

#[test]
fn r_peaks_are_found_with_wander_either_polarity_and_any_rate() {
    for (rate, polarity, seed) in [
        (2000.0, 1.0, 11u64),
        (500.0, -1.0, 12),
        (250.0, 1.0, 13),
        (8000.0, -1.0, 14),
    ] {
        let mut rng = Rng(seed);
        // An irregular rhythm: the detector must not assume a fixed period.
        let beats = beat_times(30.0, 0.8, 0.4, &mut rng);
        let ecg = synth_ecg(rate, 30.0, &beats, polarity, &mut rng);
        let peaks = detect_r_peaks(Signal {
            samples: &ecg,
            rate: Hz(rate),
        });
        assert_eq!(peaks.len(), beats.len(), "rate {rate} polarity {polarity}");
        for (p, b) in peaks.iter().zip(&beats) {
            assert!((p.0 - b).abs() < 0.006, "peak {} vs {b}", p.0);
        }
        let ends = t_wave_ends(
            Signal {
                samples: &ecg,
                rate: Hz(rate),
            },
            &peaks,
        );
        let placed: Vec<f64> = ends
            .iter()
            .zip(&peaks)
            .filter_map(|(e, p)| e.map(|e| e.0 - p.0))
            .collect();
        assert!(placed.len() + 1 >= peaks.len());
        // The synthetic T wave peaks 0.25 s after R with σ 0.04 s: it ends about 0.3–0.4 s after R.
        let good = placed.iter().filter(|d| (0.28..0.42).contains(*d)).count();
        assert!(good * 10 >= placed.len() * 9, "T ends after R: {placed:?}");
    }
}

#[test]
fn ecg_gated_segmentation_follows_an_irregular_rhythm() {
    let mut rng = Rng(21);
    let rate = 2000.0;
    let beats = beat_times(25.0, 0.8, 0.5, &mut rng);
    let sys = 0.3;
    let pcg = synth_pcg(rate, 25.0, &beats, sys, 0.1, &mut rng);
    let ecg = synth_ecg(rate, 25.0, &beats, -1.0, &mut rng);
    let pre = preprocess(Signal {
        samples: &pcg,
        rate: Hz(rate),
    })
    .expect("valid");
    let seg = segment(
        &pre,
        Some(EcgInput::Raw(Signal {
            samples: &ecg,
            rate: Hz(rate),
        })),
    );
    assert!(seg.ecg_used);
    assert_eq!(seg.ecg_set_aside, None);
    assert_eq!(seg.r_peaks.len(), beats.len());
    check_segmentation(&seg, &beats, sys, "gated");
    assert!(seg.cycles.iter().all(|c| c.r_peak.is_some()));

    // The same with R-peak times from a device instead of a raw lead.
    let times: Vec<Seconds> = beats.iter().map(|&b| Seconds(b)).collect();
    let seg2 = segment(&pre, Some(EcgInput::RPeaks(&times)));
    assert!(seg2.ecg_used);
    check_segmentation(&seg2, &beats, sys, "gated on device R peaks");
}

/// A lead that is readable for 14 s, then swamped by noise 40 times the R wave (an electrode
/// coming off, as in PhysioNet a0047): the beats before the noise are all found, and the noise
/// gives almost none. Before the local clarity test the noise's energy peaks raised the adaptive
/// threshold past the real beats and became "beats" themselves. (The band-pass filters smear
/// the noise's onset a little earlier, so the beats in the last second before it are not asked
/// for.)
#[test]
fn a_stretch_of_loud_noise_neither_becomes_beats_nor_hides_the_beats_before_it() {
    let (rate, secs, clean_until) = (1000.0, 34.0, 14.0);
    let mut rng = Rng(31);
    let beats = beat_times(secs, 0.83, 0.04, &mut rng);
    let mut ecg = synth_ecg(rate, secs, &beats, 1.0, &mut rng);
    for (i, v) in ecg.iter_mut().enumerate() {
        if i as f64 / rate >= clean_until {
            *v += (40.0 * rng.gauss()) as f32;
        }
    }
    let peaks = detect_r_peaks(Signal {
        samples: &ecg,
        rate: Hz(rate),
    });
    let early: Vec<f64> = beats
        .iter()
        .copied()
        .filter(|&b| b < clean_until - 1.0)
        .collect();
    let found: Vec<f64> = peaks.iter().map(|p| p.0).collect();
    assert_eq!(
        recall(&early, &found, 0.01),
        1.0,
        "beats before the noise: {found:?}"
    );
    let in_noise = found.iter().filter(|&&t| t > clean_until + 0.5).count();
    let noisy_beats = beats.iter().filter(|&&b| b > clean_until + 0.5).count();
    assert!(
        in_noise * 10 <= noisy_beats,
        "{in_noise} peaks in the noise (of {noisy_beats} beats there): {found:?}"
    );
}

/// A 20 s heart at 2 kHz (cycles of 0.85 s ± 5 %, systole 0.30 s) drawn with `seed`: its beat
/// onsets, its systole and its preprocessed PCG.
fn steady_heart(seed: u64) -> (Vec<f64>, f64, Preprocessed) {
    let (rate, period, sys) = (2000.0, 0.85, 0.30);
    let mut rng = Rng(seed);
    let beats = beat_times(20.0, period, 0.05, &mut rng);
    let pcg = synth_pcg(rate, 20.0, &beats, sys, 0.05, &mut rng);
    let pre = preprocess(Signal {
        samples: &pcg,
        rate: Hz(rate),
    })
    .expect("valid");
    (beats, sys, pre)
}

/// `pre` segmented with a raw lead sampled at `rate` Hz.
fn segment_on_lead(pre: &Preprocessed, lead: &[f32], rate: f64) -> Segmentation {
    segment(
        pre,
        Some(EcgInput::Raw(Signal {
            samples: lead,
            rate: Hz(rate),
        })),
    )
}

/// A lead of noise alone (white, or smoothed to the QRS band's pace) gates nothing, with the
/// detector's second, fast-heart reading (a lower clearance level) tried on it too: its
/// "beats", if any, are too few for their rate.
#[test]
fn a_lead_of_noise_is_no_fast_heart() {
    let (_, _, pre) = steady_heart(51);
    for (ecg_rate, smooth) in [(500.0, 1usize), (500.0, 8), (2000.0, 1), (2000.0, 40)] {
        for seed in 1..=4u64 {
            let mut rng = Rng(seed * 7919 + smooth as u64);
            let white: Vec<f64> = (0..(ecg_rate * 20.0) as usize)
                .map(|_| rng.gauss())
                .collect();
            // A moving average of `smooth` samples: noise with the pace of a QRS complex.
            let lead: Vec<f32> = (0..white.len())
                .map(|i| {
                    let lo = i.saturating_sub(smooth - 1);
                    (white[lo..=i].iter().sum::<f64>() / (i + 1 - lo) as f64) as f32
                })
                .collect();
            let seg = segment_on_lead(&pre, &lead, ecg_rate);
            assert!(
                !seg.ecg_used,
                "noise at {ecg_rate} Hz smoothed over {smooth} (seed {seed}) gated the sound on {} peaks",
                seg.r_peaks.len()
            );
            assert!(seg.ecg_set_aside.is_some(), "a lead not used says why");
        }
    }
}

/// R-peak times that keep no rate (a few scattered detections in a long recording, as from a
/// lead that is mostly noise) do not gate the sound: it is segmented from the sound alone, and
/// no S1 is pulled to a "peak" between the real ones.
#[test]
fn scattered_peaks_do_not_gate_the_sound() {
    let (beats, sys, pre) = steady_heart(41);
    // Between the beats, at intervals of 1.6 to 3.5 s.
    let scattered: Vec<Seconds> = [1.9, 3.5, 6.0, 9.5, 11.35, 14.35, 18.0]
        .iter()
        .map(|&t| Seconds(t))
        .collect();
    let seg = segment(&pre, Some(EcgInput::RPeaks(&scattered)));
    assert!(!seg.ecg_used, "scattered peaks gated the sound");
    assert_eq!(seg.ecg_set_aside, Some(EcgSetAside::Unsteady));
    assert!(seg.r_peaks.is_empty());
    check_segmentation(&seg, &beats, sys, "scattered peaks");
}

/// A recording that starts inside a cycle's systole and ends inside the last one's: the S2 of
/// the first cycle and the S1 of the last are reported as edge sounds, at their true places, with
/// and without the ECG; one that starts and ends inside diastole reports none.
#[test]
fn sounds_of_the_cycles_cut_by_the_edges_are_reported() {
    let (rate, period, sys) = (2000.0, 0.85, 0.30);
    let mut rng = Rng(11);
    let beats = beat_times(20.0, period, 0.05, &mut rng);
    let pcg = synth_pcg(rate, 20.0, &beats, sys, 0.05, &mut rng);
    let ecg = synth_ecg(rate, 20.0, &beats, 1.0, &mut rng);
    let last = beats[beats.len() - 2];
    for (cut_start, cut_end, sounds) in [
        // In systole (after S1, before S2) at both ends.
        (beats[1] + S1_LEN + 0.05, last + S1_LEN + 0.08, true),
        // In diastole at both ends: every sound belongs to a whole cycle.
        (beats[1] + sys + S2_LEN + 0.2, last - 0.15, false),
    ] {
        let (i0, i1) = ((cut_start * rate) as usize, (cut_end * rate) as usize);
        let shift = |t: f64| t - i0 as f64 / rate;
        for with_ecg in [false, true] {
            let pre = preprocess(Signal {
                samples: &pcg[i0..i1],
                rate: Hz(rate),
            })
            .expect("valid PCG");
            let lead = Signal {
                samples: &ecg[i0..i1],
                rate: Hz(rate),
            };
            let seg = segment(&pre, with_ecg.then_some(EcgInput::Raw(lead)));
            assert_eq!(seg.ecg_used, with_ecg);
            let edges = seg.edge_sounds;
            let what = format!("cut at {cut_start:.2}-{cut_end:.2} s, ECG {with_ecg}");
            if !sounds {
                assert_eq!(edges.leading_s2, None, "{what}");
                assert_eq!(edges.trailing_s1, None, "{what}");
                continue;
            }
            let s2 = edges.leading_s2.expect("leading S2");
            let want = shift(beats[1] + sys + S2_LEN / 2.0);
            assert!(
                (s2.centre().0 - want).abs() <= 0.04,
                "{what}: S2 at {s2:?}, want {want}"
            );
            let s1 = edges.trailing_s1.expect("trailing S1");
            let want = shift(last + S1_LEN / 2.0);
            assert!(
                (s1.centre().0 - want).abs() <= 0.04,
                "{what}: S1 at {s1:?}, want {want}"
            );
            // Neither belongs to a whole cycle.
            let first = seg.cycles.first().expect("cycles");
            let final_cycle = seg.cycles.last().expect("cycles");
            assert!(s2.end.0 <= first.s1.start.0 && s1.start.0 >= final_cycle.s2.end.0);
        }
    }
    // Silence has no cycles, and so no sounds at its edges either.
    let pre = preprocess(Signal {
        samples: &[0.0; 4000],
        rate: Hz(4000.0),
    })
    .expect("valid PCG");
    let seg = segment(&pre, None);
    assert!(seg.cycles.is_empty());
    assert_eq!(seg.edge_sounds, auscult_dsp::model::EdgeSounds::default());
}

/// A synthetic irregular rhythm at 2 kHz from the sound alone: its beats and, for a
/// segmentation, its S1/S2 F1 (±60 ms) against them.
struct IrregularCase {
    pre: auscult_dsp::model::Preprocessed,
    beats: Vec<f64>,
    s1_ref: Vec<f64>,
    s2_ref: Vec<f64>,
}

impl IrregularCase {
    fn new(seed: u64, secs: f64, period: f64, jitter: f64, sys: f64) -> Self {
        let mut rng = Rng(seed);
        let rate = 2000.0;
        let beats = beat_times(secs, period, jitter, &mut rng);
        let pcg = synth_pcg(rate, secs, &beats, sys, 0.05, &mut rng);
        let pre = preprocess(Signal {
            samples: &pcg,
            rate: Hz(rate),
        })
        .expect("valid");
        let s1_ref = beats.iter().map(|b| b + S1_LEN / 2.0).collect();
        let s2_ref = beats.iter().map(|b| b + sys + S2_LEN / 2.0).collect();
        IrregularCase {
            pre,
            beats,
            s1_ref,
            s2_ref,
        }
    }

    fn f1(&self, seg: &Segmentation) -> f64 {
        let (s1, s2) = centres(seg);
        let r = (recall(&self.s1_ref, &s1, 0.06) + recall(&self.s2_ref, &s2, 0.06)) / 2.0;
        let p = (recall(&s1, &self.s1_ref, 0.06) + recall(&s2, &self.s2_ref, 0.06)) / 2.0;
        2.0 * r * p / (r + p).max(1e-9)
    }
}

/// From the sound alone, an irregularly irregular rhythm (beats 0.45–1.15 s apart, as in atrial
/// fibrillation): one duration model for every beat misplaces the long and short ones, so the
/// segmenter decodes again with diastole as wide as its first decoding's beats spread.
#[test]
fn pcg_only_segmentation_follows_an_irregular_rhythm() {
    use auscult_dsp::segment::emission::EmissionModel;
    use auscult_dsp::segment::{Gating, Segmenter};
    let once = Segmenter::new(
        EmissionModel::builtin().clone(),
        Gating {
            irregular_spread: 0.0,
            ..Gating::default()
        },
    );
    let (mut f_once, mut f_twice) = (Vec::new(), Vec::new());
    for seed in 31..39u64 {
        let case = IrregularCase::new(seed, 25.0, 0.8, 0.9, 0.3);
        f_once.push(case.f1(&once.segment(&case.pre, None)));
        f_twice.push(case.f1(&segment(&case.pre, None)));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!("one decoding {f_once:.3?}, mean {:.3}", mean(&f_once));
    eprintln!("with the second {f_twice:.3?}, mean {:.3}", mean(&f_twice));
    // Measured: 0.724 with one decoding, 0.883 with the second; no recording worse.
    assert!(mean(&f_twice) >= 0.85, "{f_twice:?}");
    assert!(
        mean(&f_twice) >= mean(&f_once) + 0.1,
        "{f_once:?} {f_twice:?}"
    );
    for (a, b) in f_once.iter().zip(&f_twice) {
        assert!(b >= a, "a recording segmented worse: {a} -> {b}");
    }
}

/// From the sound alone, a fast irregularly irregular rhythm (atrial fibrillation at about 110
/// bpm, beats 0.36–0.73 s apart): its envelope can repeat best over two beats, so the sound's
/// rate is half the heart's (PhysioNet c0019: 55 against 109 bpm), and the widened second
/// decoding at that rate keeps one cycle for two beats. Decoding at twice the rate too finds them.
#[test]
fn pcg_only_segmentation_finds_a_fast_irregular_rhythm_at_its_own_rate() {
    use auscult_dsp::segment::emission::EmissionModel;
    use auscult_dsp::segment::{Gating, Segmenter};
    let single = Segmenter::new(
        EmissionModel::builtin().clone(),
        Gating {
            irregular_double_rate: 0.0,
            ..Gating::default()
        },
    );
    let (mut f_single, mut f_double, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 51..67u64 {
        let case = IrregularCase::new(seed, 30.0, 0.55, 0.7, 0.22);
        let one = single.segment(&case.pre, None);
        let both = segment(&case.pre, None);
        let mut rr: Vec<f64> = case.beats.windows(2).map(|w| w[1] - w[0]).collect();
        rr.sort_by(f64::total_cmp);
        let true_rate = 60.0 / rr[rr.len() / 2];
        let reported = both.heart_rate.map_or(0.0, |h| h.0);
        f_single.push(case.f1(&one));
        f_double.push(case.f1(&both));
        // Where the sound's rate was half the heart's and the beats are found, the reported
        // rate is theirs.
        let sounds = one.heart_rate.map_or(0.0, |h| h.0);
        rates.push((sounds, reported, true_rate));
        if sounds < 0.6 * true_rate && case.f1(&both) >= 0.95 {
            assert!(
                (reported / true_rate - 1.0).abs() < 0.15,
                "seed {seed}: {reported:.0} bpm reported, {true_rate:.0} true"
            );
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!("rates (sound's, reported, true) {rates:.0?}");
    eprintln!(
        "at the sound's rate {f_single:.3?}, mean {:.3}",
        mean(&f_single)
    );
    eprintln!(
        "and at twice it {f_double:.3?}, mean {:.3}",
        mean(&f_double)
    );
    // Measured: 0.687 at the sound's rate, 0.876 with twice it too (5 of 16 recordings from
    // half-rate to whole); none worse.
    assert!(mean(&f_double) >= 0.85, "{f_double:?}");
    assert!(
        mean(&f_double) >= mean(&f_single) + 0.15,
        "{f_single:?} {f_double:?}"
    );
    for (a, b) in f_single.iter().zip(&f_double) {
        assert!(b >= a, "a recording segmented worse: {a} -> {b}");
    }
}

/// A lead of electrode pops (half-sine spikes of 5–40 ms, either sign, about three a second at
/// random times, on a small noise) is not used: the R-peak detector reads them as beats (their
/// shapes alike after the QRS band, some intervals in a row alike in length), but the sound
/// does not follow them, so the recording is segmented from the sound alone and reports no
/// R peaks.
#[test]
fn a_lead_of_electrode_pops_is_not_used() {
    let ecg_rate = 500.0;
    for seed in 1..=8u64 {
        let (beats, sys, pre) = steady_heart(60 + seed);
        let mut rng = Rng(seed * 104_729);
        let n = (ecg_rate * 20.0) as usize;
        let mut lead: Vec<f32> = (0..n).map(|_| (0.02 * rng.gauss()) as f32).collect();
        let mut t = 0.2 * rng.uniform();
        while t < 20.0 {
            let width = 0.005 + 0.035 * rng.uniform();
            let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
            let amp = sign * (0.5 + rng.uniform());
            let i0 = (t * ecg_rate) as usize;
            let len = ((width * ecg_rate) as usize).max(2);
            for k in 0..len {
                if let Some(v) = lead.get_mut(i0 + k) {
                    *v += (amp * (std::f64::consts::PI * k as f64 / len as f64).sin()) as f32;
                }
            }
            t += 0.1 + 0.47 * rng.uniform();
        }
        let seg = segment_on_lead(&pre, &lead, ecg_rate);
        assert!(
            !seg.ecg_used,
            "seed {seed}: pops gated the sound on {} peaks",
            seg.r_peaks.len()
        );
        assert!(seg.r_peaks.is_empty());
        assert_eq!(seg.ecg_set_aside, Some(EcgSetAside::NotFollowed));
        check_segmentation(&seg, &beats, sys, "a lead of pops");
    }
}

/// A steady lead stays the witness when loud noise bursts in the sound (0.05–0.3 s of noise
/// every 0.15–0.8 s, as loud as the heart sounds or louder) draw decoded S1s away from its
/// beats: the sound follows fewer of its peaks, but its beats keep a rate better than the
/// decoded sound's, so it is not set aside.
#[test]
fn a_steady_lead_under_noise_bursts_in_the_sound_is_kept() {
    let (rate, secs, sys) = (2000.0, 20.0, 0.30);
    for (seed, level) in [
        (71u64, 1.0),
        (72, 1.0),
        (73, 2.0),
        (74, 2.0),
        (75, 3.0),
        (76, 3.0),
        (77, 4.0),
        (78, 4.0),
    ] {
        let mut rng = Rng(seed);
        let beats = beat_times(secs, 0.85, 0.05, &mut rng);
        let mut pcg = synth_pcg(rate, secs, &beats, sys, 0.05, &mut rng);
        let mut i = 0usize;
        while i < pcg.len() {
            let len = ((0.05 + 0.25 * rng.uniform()) * rate) as usize;
            for v in pcg.iter_mut().skip(i).take(len) {
                *v += (level * 0.5 * rng.gauss()) as f32;
            }
            i += len + ((0.1 + 0.4 * rng.uniform()) * rate) as usize;
        }
        let pre = preprocess(Signal {
            samples: &pcg,
            rate: Hz(rate),
        })
        .expect("valid");
        let ecg = synth_ecg(500.0, secs, &beats, 1.0, &mut rng);
        let seg = segment_on_lead(&pre, &ecg, 500.0);
        assert!(
            seg.ecg_used,
            "seed {seed}, noise {level}: a steady lead was set aside ({:?})",
            seg.ecg_set_aside
        );
    }
}

/// A loud holosystolic murmur over a soft S2 (PhysioNet c0015 and c0025, whose S2 stands −4 to
/// +0.2 dB over systole): the decoder takes a lump of the murmur for S2, early in some cycles and
/// not in others. Where the decoded S2s stand less than 1 dB over their systoles, the segmenter
/// decodes again with every beat held to the one systolic interval it chose. Mitral
/// regurgitation of grade 4 or 5 with each S2 turned down 6 dB (its samples halved).
#[test]
fn a_soft_s2_after_a_loud_systolic_murmur_stays_where_the_systole_ends() {
    use auscult_dsp::segment::emission::EmissionModel;
    use auscult_dsp::segment::{Gating, Segmenter};
    use auscult_synth::{MurmurKind, MurmurSpec, PcgNoise, SynthConfig};
    const RATE: f64 = 2000.0;
    let without = Segmenter::new(
        EmissionModel::builtin().clone(),
        Gating {
            weak_s2_db: f64::NEG_INFINITY,
            ..Gating::default()
        },
    );
    let with = Segmenter::default();
    let (mut f_without, mut f_with) = (Vec::new(), Vec::new());
    for seed in 0..8u64 {
        let cfg = SynthConfig {
            seed,
            duration_s: 20.0,
            pcg_rate_hz: RATE,
            heart_rate_bpm: 60.0 + 4.0 * seed as f64,
            murmur: Some(MurmurSpec {
                kind: MurmurKind::MitralRegurgitation,
                grade: 4 + (seed % 2) as u8,
            }),
            pcg_noise: PcgNoise {
                white_snr_db: Some(25.0),
                ..PcgNoise::NONE
            },
            ..SynthConfig::default()
        };
        let rec = auscult_synth::generate(&cfg).expect("valid config");
        let mut pcg = rec.pcg;
        let s2: Vec<(f64, f64)> = rec.truth.beats.iter().filter_map(|b| b.s2).collect();
        for &(a, b) in &s2 {
            let end = ((b * RATE) as usize).min(pcg.len());
            for v in &mut pcg[((a * RATE) as usize).min(end)..end] {
                *v *= 0.5;
            }
        }
        let pre = preprocess(Signal {
            samples: &pcg,
            rate: Hz(RATE),
        })
        .expect("preprocess");
        let s2_ref: Vec<f64> = s2.iter().map(|(a, b)| (a + b) / 2.0).collect();
        let f1 = |seg: &Segmentation| {
            let (_, found) = centres(seg);
            let r = recall(&s2_ref, &found, 0.06);
            let p = recall(&found, &s2_ref, 0.06);
            2.0 * r * p / (r + p).max(1e-9)
        };
        f_without.push(f1(&without.segment(&pre, None)));
        f_with.push(f1(&with.segment(&pre, None)));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "S2 F1 without {f_without:.3?}, mean {:.3}",
        mean(&f_without)
    );
    eprintln!("S2 F1 with {f_with:.3?}, mean {:.3}", mean(&f_with));
    // Measured: 0.938 without, 0.959 with (three recordings better, none worse).
    assert!(
        mean(&f_with) >= mean(&f_without) + 0.015,
        "{f_without:?} {f_with:?}"
    );
    assert!(mean(&f_with) >= 0.95, "{f_with:?}");
    for (a, b) in f_without.iter().zip(&f_with) {
        assert!(b >= &(a - 0.05), "a recording segmented worse: {a} -> {b}");
    }
}

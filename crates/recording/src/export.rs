//! Preparing a stored, analysed recording for [`crate::write_wfdb_record`]: the ECG brought to
//! the PCG's rate and length, and the analysis's heart sounds that can be written as
//! annotations.
//!
//! Pure: samples and spans in, samples and spans out.

use auscult_dsp::{Hz, Interval, Seconds};

use crate::wfdb::{HeartSound, HeartSoundKind};

/// The ECG on the PCG's sample grid: resampled from `ecg_rate` to `pcg_rate` when they differ,
/// then cut or padded with zeros to `len` samples (the PCG's length), so both signals of the
/// record have one rate and one length.
pub fn ecg_on_pcg_grid(ecg: Vec<f32>, ecg_rate: Hz, pcg_rate: Hz, len: usize) -> Vec<f32> {
    let mut e = if ecg_rate == pcg_rate {
        ecg
    } else {
        auscult_dsp::resample::resample(&ecg, ecg_rate.0, pcg_rate.0)
    };
    e.resize(len, 0.0);
    e
}

/// One cycle's heart sounds as an analysis gives them: S1 and S2 as `[start, end]` seconds from
/// the start of the recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleSounds {
    /// The first heart sound.
    pub s1: [f64; 2],
    /// The second heart sound.
    pub s2: [f64; 2],
}

/// The heart sounds of `cycles` that a WFDB annotation file of a recording lasting `duration`
/// can hold: spans that lie inside the recording (start ≥ 0, end ≥ start, end ≤ duration; a NaN
/// is outside), sorted by onset; of two overlapping spans the earlier is kept.
pub fn writable_heart_sounds(
    cycles: impl IntoIterator<Item = CycleSounds>,
    duration: Seconds,
) -> Vec<HeartSound> {
    let mut sounds: Vec<HeartSound> = cycles
        .into_iter()
        .flat_map(|c| [(HeartSoundKind::S1, c.s1), (HeartSoundKind::S2, c.s2)])
        .filter(|(_, [start, end])| *start >= 0.0 && end >= start && *end <= duration.0)
        .map(|(kind, [start, end])| HeartSound {
            kind,
            span: Interval {
                start: Seconds(start),
                end: Seconds(end),
            },
        })
        .collect();
    sounds.sort_by(|x, y| x.span.start.0.total_cmp(&y.span.start.0));
    let mut last_end = f64::NEG_INFINITY;
    sounds.retain(|s| {
        let keep = s.span.start.0 >= last_end;
        if keep {
            last_end = s.span.end.0;
        }
        keep
    });
    sounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(sounds: &[HeartSound]) -> Vec<(HeartSoundKind, f64, f64)> {
        sounds
            .iter()
            .map(|s| (s.kind, s.span.start.0, s.span.end.0))
            .collect()
    }

    #[test]
    fn an_ecg_at_the_pcg_rate_is_only_cut_or_padded() {
        let ecg = vec![0.5f32, -0.25, 1.0];
        assert_eq!(
            ecg_on_pcg_grid(ecg.clone(), Hz(2000.0), Hz(2000.0), 5),
            vec![0.5, -0.25, 1.0, 0.0, 0.0]
        );
        assert_eq!(
            ecg_on_pcg_grid(ecg, Hz(2000.0), Hz(2000.0), 2),
            vec![0.5, -0.25]
        );
    }

    #[test]
    fn an_ecg_at_another_rate_is_resampled_onto_the_pcg_grid() {
        // A 5 Hz sine at 500 Hz for 2 s, put on a 2 kHz grid of 4000 samples.
        let from = 500.0;
        let ecg: Vec<f32> = (0..1000)
            .map(|i| (2.0 * std::f64::consts::PI * 5.0 * f64::from(i) / from).sin() as f32)
            .collect();
        let e = ecg_on_pcg_grid(ecg, Hz(from), Hz(2000.0), 4000);
        assert_eq!(e.len(), 4000);
        // Away from the edges the sine is where it should be on the new grid.
        for i in (400..3600).step_by(97) {
            let want = (2.0 * std::f64::consts::PI * 5.0 * i as f64 / 2000.0).sin();
            assert!(
                (f64::from(e[i]) - want).abs() < 0.02,
                "sample {i}: {} vs {want}",
                e[i]
            );
        }
    }

    #[test]
    fn spans_outside_the_recording_or_inverted_are_dropped() {
        let cycles = [
            CycleSounds {
                s1: [-0.01, 0.1],
                s2: [0.4, 0.5],
            },
            CycleSounds {
                s1: [1.0, 0.9],
                s2: [1.3, f64::NAN],
            },
            CycleSounds {
                s1: [1.8, 1.9],
                s2: [2.1, 2.01],
            },
            CycleSounds {
                s1: [2.5, 2.6],
                s2: [2.9, 3.1],
            },
        ];
        assert_eq!(
            spans(&writable_heart_sounds(cycles, Seconds(3.0))),
            vec![
                (HeartSoundKind::S2, 0.4, 0.5),
                (HeartSoundKind::S1, 1.8, 1.9),
                (HeartSoundKind::S1, 2.5, 2.6),
            ]
        );
    }

    #[test]
    fn sounds_are_sorted_and_the_earlier_of_two_overlapping_is_kept() {
        let cycles = [
            CycleSounds {
                s1: [1.0, 1.1],
                s2: [1.35, 1.45],
            },
            CycleSounds {
                s1: [0.0, 0.1],
                s2: [0.3, 0.4],
            },
            // Overlaps the S2 before it: dropped. Its S2 starts where that one ends: kept.
            CycleSounds {
                s1: [1.4, 1.5],
                s2: [1.45, 1.55],
            },
        ];
        assert_eq!(
            spans(&writable_heart_sounds(cycles, Seconds(2.0))),
            vec![
                (HeartSoundKind::S1, 0.0, 0.1),
                (HeartSoundKind::S2, 0.3, 0.4),
                (HeartSoundKind::S1, 1.0, 1.1),
                (HeartSoundKind::S2, 1.35, 1.45),
                (HeartSoundKind::S2, 1.45, 1.55),
            ]
        );
    }
}

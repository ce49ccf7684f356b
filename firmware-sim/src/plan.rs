//! Cutting an encoded recording into protocol chunks from given per-stream offsets, each chunk
//! tagged with the time (from the start of recording) at which a real device would have it.

use auscult_proto::v1::{SignalStream, UploadChunk};

use crate::source::{ECG_WIDTH, EncodedRecording};

/// Per-stream counts: samples of PCG and ECG, R peaks. Used both for offsets and for totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    /// PCG samples.
    pub pcg: u64,
    /// ECG samples.
    pub ecg: u64,
    /// R peaks.
    pub r_peaks: u64,
}

impl Counts {
    /// From the protocol's message.
    pub fn from_proto(c: Option<&auscult_proto::v1::CommittedCounts>) -> Self {
        c.map_or_else(Self::default, |c| Self {
            pcg: c.pcg_samples,
            ecg: c.ecg_samples,
            r_peaks: c.r_peaks,
        })
    }
    /// To the protocol's message.
    pub fn to_proto(self) -> auscult_proto::v1::CommittedCounts {
        auscult_proto::v1::CommittedCounts {
            pcg_samples: self.pcg,
            ecg_samples: self.ecg,
            r_peaks: self.r_peaks,
        }
    }
    /// Whether every stream of `self` is at most that of `other`.
    pub fn within(self, other: Counts) -> bool {
        self.pcg <= other.pcg && self.ecg <= other.ecg && self.r_peaks <= other.r_peaks
    }
    /// Sum over streams.
    pub fn total(self) -> u64 {
        self.pcg + self.ecg + self.r_peaks
    }
}

/// The totals of a recording.
pub fn totals(rec: &EncodedRecording) -> Counts {
    Counts {
        pcg: rec.pcg_samples(),
        ecg: rec.ecg_samples(),
        r_peaks: rec.r_peaks.len() as u64,
    }
}

/// A chunk and when the device has its data (seconds after recording started).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChunk {
    /// When the data is complete on the device.
    pub available_at_s: f64,
    /// The chunk.
    pub chunk: UploadChunk,
    /// The stream offset just after this chunk.
    pub end: u64,
}

/// The chunks still to send from `from`, in windows of `chunk_s` seconds, PCG then ECG then R
/// peaks within each window. Each stream's chunks are contiguous from its offset.
pub fn plan_chunks(rec: &EncodedRecording, from: Counts, chunk_s: f64) -> Vec<PlannedChunk> {
    let total = totals(rec);
    let pcg_rate = f64::from(rec.pcg_rate_hz);
    let ecg_rate = f64::from(rec.ecg_rate_hz);
    let mut cur = Counts {
        pcg: from.pcg.min(total.pcg),
        ecg: from.ecg.min(total.ecg),
        r_peaks: from.r_peaks.min(total.r_peaks),
    };
    // A chunk length that is not a positive number would never make progress.
    let chunk_s = if chunk_s.is_finite() {
        chunk_s.max(0.001)
    } else {
        0.25
    };
    let mut out = Vec::new();
    let mut k: u64 = 0;
    while cur != total {
        k += 1;
        let t = k as f64 * chunk_s;
        let covers = |rate: f64, n: u64| rate <= 0.0 || t * rate >= n as f64;
        let last = covers(pcg_rate, total.pcg) && covers(ecg_rate, total.ecg);
        let end_of = |rate: f64, n: u64| {
            if last {
                n
            } else {
                ((t * rate).ceil() as u64).min(n)
            }
        };
        let pcg_end = end_of(pcg_rate, total.pcg);
        if pcg_end > cur.pcg {
            let w = rec.pcg_width;
            out.push(PlannedChunk {
                available_at_s: t,
                chunk: UploadChunk {
                    stream: SignalStream::Pcg as i32,
                    offset: cur.pcg,
                    samples: rec.pcg_bytes[cur.pcg as usize * w..pcg_end as usize * w].to_vec(),
                    r_peaks_s: Vec::new(),
                },
                end: pcg_end,
            });
            cur.pcg = pcg_end;
        }
        let ecg_end = if ecg_rate > 0.0 {
            end_of(ecg_rate, total.ecg)
        } else {
            total.ecg
        };
        if ecg_end > cur.ecg {
            out.push(PlannedChunk {
                available_at_s: t,
                chunk: UploadChunk {
                    stream: SignalStream::Ecg as i32,
                    offset: cur.ecg,
                    samples: rec.ecg_bytes
                        [cur.ecg as usize * ECG_WIDTH..ecg_end as usize * ECG_WIDTH]
                        .to_vec(),
                    r_peaks_s: Vec::new(),
                },
                end: ecg_end,
            });
            cur.ecg = ecg_end;
        }
        let rp_end = if last {
            total.r_peaks
        } else {
            cur.r_peaks
                + rec.r_peaks[cur.r_peaks as usize..]
                    .iter()
                    .take_while(|&&p| p < t)
                    .count() as u64
        };
        if rp_end > cur.r_peaks {
            out.push(PlannedChunk {
                available_at_s: t,
                chunk: UploadChunk {
                    stream: SignalStream::RPeaks as i32,
                    offset: cur.r_peaks,
                    samples: Vec::new(),
                    r_peaks_s: rec.r_peaks[cur.r_peaks as usize..rp_end as usize].to_vec(),
                },
                end: rp_end,
            });
            cur.r_peaks = rp_end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{DeviceRecording, EcgPayload, PcgFormat};

    fn rec(ecg: EcgPayload) -> EncodedRecording {
        DeviceRecording {
            label: "t".into(),
            pcg_rate_hz: 1000,
            pcg: (0..2500).map(|i| (i as f32 / 2500.0) - 0.5).collect(),
            ecg,
        }
        .encode(PcgFormat::S16)
    }

    fn reassemble(
        r: &EncodedRecording,
        from: Counts,
        chunk_s: f64,
    ) -> (Vec<u8>, Vec<u8>, Vec<f64>) {
        let (mut pcg, mut ecg, mut rp) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = from;
        for c in plan_chunks(r, from, chunk_s) {
            match SignalStream::try_from(c.chunk.stream) {
                Ok(SignalStream::Pcg) => {
                    assert_eq!(c.chunk.offset, at.pcg);
                    at.pcg = c.end;
                    pcg.extend(c.chunk.samples);
                }
                Ok(SignalStream::Ecg) => {
                    assert_eq!(c.chunk.offset, at.ecg);
                    at.ecg = c.end;
                    ecg.extend(c.chunk.samples);
                }
                Ok(SignalStream::RPeaks) => {
                    assert_eq!(c.chunk.offset, at.r_peaks);
                    at.r_peaks = c.end;
                    rp.extend(c.chunk.r_peaks_s);
                }
                other => panic!("unexpected stream {other:?}"),
            }
        }
        assert_eq!(at, totals(r));
        (pcg, ecg, rp)
    }

    #[test]
    fn chunks_are_contiguous_and_cover_everything_from_any_offset() {
        let samples = rec(EcgPayload::Samples {
            rate_hz: 250,
            samples: vec![0.5; 625],
        });
        let (pcg, ecg, _) = reassemble(&samples, Counts::default(), 0.25);
        assert_eq!(pcg, samples.pcg_bytes);
        assert_eq!(ecg, samples.ecg_bytes);
        let from = Counts {
            pcg: 1001,
            ecg: 17,
            r_peaks: 0,
        };
        let (pcg, ecg, _) = reassemble(&samples, from, 0.3);
        assert_eq!(pcg, samples.pcg_bytes[1001 * 2..]);
        assert_eq!(ecg, samples.ecg_bytes[17 * 4..]);

        let peaks = rec(EcgPayload::RPeaks(vec![0.1, 0.9, 1.7, 2.45]));
        let (_, _, rp) = reassemble(
            &peaks,
            Counts {
                pcg: 0,
                ecg: 0,
                r_peaks: 2,
            },
            0.25,
        );
        assert_eq!(rp, vec![1.7, 2.45]);
        assert!(plan_chunks(&peaks, totals(&peaks), 0.25).is_empty());
    }

    #[test]
    fn chunks_become_available_in_time_order() {
        let r = rec(EcgPayload::None);
        let plan = plan_chunks(&r, Counts::default(), 0.25);
        assert_eq!(plan.len(), 10);
        assert!(
            plan.windows(2)
                .all(|w| w[0].available_at_s < w[1].available_at_s)
        );
        assert!((plan[9].available_at_s - 2.5).abs() < 1e-9);
    }
}

//! WFDB MIT-format annotation files, and heart sounds (S1, S2) expressed in them.
//!
//! Heart sounds are stored the way ecgpuwave stores wave boundaries: a `(` (WFON) annotation at
//! the onset carrying the sound's name (`S1`/`S2`) in its aux string, and a `)` (WFOFF) at its
//! end. `rdann -r REC -a seg` lists them. Must never trust a length inside the file beyond the
//! bytes present.

use auscult_dsp::{Hz, Interval, Seconds};

use crate::RecordingError;

/// Annotation type codes used here (from WFDB's `ecgcodes.h`).
pub mod code {
    /// Normal beat.
    pub const NORMAL: u8 = 1;
    /// Comment annotation.
    pub const NOTE: u8 = 22;
    /// Waveform onset `(`.
    pub const WFON: u8 = 39;
    /// Waveform end `)`.
    pub const WFOFF: u8 = 40;
    /// Pseudo-code: a 32-bit time skip follows.
    pub(crate) const SKIP: u8 = 59;
    /// Pseudo-code: sets the `num` field.
    pub(crate) const NUM: u8 = 60;
    /// Pseudo-code: sets the `subtyp` field.
    pub(crate) const SUB: u8 = 61;
    /// Pseudo-code: sets the `chan` field.
    pub(crate) const CHN: u8 = 62;
    /// Pseudo-code: an aux string follows.
    pub(crate) const AUX: u8 = 63;
}

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Sample number (at the record's sampling frequency).
    pub sample: u64,
    /// Annotation type code (see [`code`]).
    pub code: u8,
    /// Sub-type.
    pub subtype: i8,
    /// Signal number the annotation refers to.
    pub chan: u8,
    /// Annotator-specific number.
    pub num: i8,
    /// Free text (at most 255 bytes).
    pub aux: Option<String>,
}

impl Annotation {
    /// An annotation with zero sub-type, channel and number.
    pub fn new(sample: u64, code: u8, aux: Option<String>) -> Self {
        Annotation {
            sample,
            code,
            subtype: 0,
            chan: 0,
            num: 0,
            aux,
        }
    }
}

/// Encodes annotations (sorted by sample) in the MIT format, with the end-of-file marker.
pub fn encode_annotations(anns: &[Annotation]) -> Result<Vec<u8>, RecordingError> {
    let mut out = Vec::new();
    let word = |out: &mut Vec<u8>, code: u8, low: u16| {
        out.extend_from_slice(&((u16::from(code) << 10) | (low & 0x3ff)).to_le_bytes());
    };
    let (mut prev, mut subtype, mut chan, mut num) = (0u64, 0i8, 0u8, 0i8);
    for a in anns {
        if a.code == 0 || a.code > 49 {
            return Err(RecordingError::Unwritable(format!(
                "annotation code {}",
                a.code
            )));
        }
        let delta = a.sample.checked_sub(prev).ok_or_else(|| {
            RecordingError::Unwritable("annotations are not in time order".into())
        })?;
        if delta > 1023 {
            let d = i32::try_from(delta).map_err(|_| {
                RecordingError::Unwritable("annotation gap over 2^31 samples".into())
            })?;
            word(&mut out, code::SKIP, 0);
            out.extend_from_slice(&((d >> 16) as u16).to_le_bytes());
            out.extend_from_slice(&(d as u16).to_le_bytes());
            word(&mut out, a.code, 0);
        } else {
            word(&mut out, a.code, delta as u16);
        }
        prev = a.sample;
        if a.subtype != subtype {
            word(&mut out, code::SUB, a.subtype as u8 as u16);
            subtype = a.subtype;
        }
        if a.chan != chan {
            word(&mut out, code::CHN, u16::from(a.chan));
            chan = a.chan;
        }
        if a.num != num {
            word(&mut out, code::NUM, a.num as u8 as u16);
            num = a.num;
        }
        if let Some(aux) = &a.aux {
            let b = aux.as_bytes();
            if b.len() > 255 {
                return Err(RecordingError::Unwritable(
                    "aux string over 255 bytes".into(),
                ));
            }
            word(&mut out, code::AUX, b.len() as u16);
            out.extend_from_slice(b);
            if b.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// Parses an MIT-format annotation file. A file that ends at a word boundary without the
/// end marker is accepted; one that ends inside a word, skip or aux string is not.
pub fn parse_annotations(bytes: &[u8]) -> Result<Vec<Annotation>, RecordingError> {
    let trunc = || RecordingError::Annotation("truncated".into());
    let mut anns: Vec<Annotation> = Vec::new();
    let (mut time, mut subtype, mut chan, mut num) = (0u64, 0i8, 0u8, 0i8);
    let mut i = 0usize;
    while i < bytes.len() {
        let w = u16::from_le_bytes([bytes[i], *bytes.get(i + 1).ok_or_else(trunc)?]);
        i += 2;
        if w == 0 {
            break;
        }
        let (c, low) = ((w >> 10) as u8, w & 0x3ff);
        match c {
            code::SKIP => {
                let b = bytes.get(i..i + 4).ok_or_else(trunc)?;
                let hi = u16::from_le_bytes([b[0], b[1]]) as u32;
                let lo = u16::from_le_bytes([b[2], b[3]]) as u32;
                let d = ((hi << 16) | lo) as i32;
                i += 4;
                time = time
                    .checked_add_signed(i64::from(d))
                    .ok_or_else(|| RecordingError::Annotation("time before the start".into()))?;
            }
            code::NUM | code::SUB | code::CHN | code::AUX => {
                let last = anns.last_mut().ok_or_else(|| {
                    RecordingError::Annotation(format!("modifier {c} before any annotation"))
                })?;
                match c {
                    code::NUM => {
                        num = low as u8 as i8;
                        last.num = num;
                    }
                    code::SUB => {
                        subtype = low as u8 as i8;
                        last.subtype = subtype;
                    }
                    code::CHN => {
                        chan = low as u8;
                        last.chan = chan;
                    }
                    _ => {
                        let n = usize::from(low);
                        let s = bytes.get(i..i + n).ok_or_else(trunc)?;
                        last.aux = Some(String::from_utf8_lossy(s).into_owned());
                        i += n + n % 2;
                    }
                }
            }
            _ => {
                time += u64::from(low);
                anns.push(Annotation {
                    sample: time,
                    code: c,
                    subtype,
                    chan,
                    num,
                    aux: None,
                });
            }
        }
    }
    Ok(anns)
}

/// Writes an annotation file.
pub fn write_annotations(
    path: &std::path::Path,
    anns: &[Annotation],
) -> Result<(), RecordingError> {
    let bytes = encode_annotations(anns)?;
    std::fs::write(path, bytes).map_err(|e| RecordingError::io(path, e))
}

/// Reads an annotation file.
pub fn read_annotations(path: &std::path::Path) -> Result<Vec<Annotation>, RecordingError> {
    parse_annotations(&super::read_file_bounded(path)?)
}

/// Which heart sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartSoundKind {
    /// The first heart sound.
    S1,
    /// The second heart sound.
    S2,
}

impl HeartSoundKind {
    fn label(self) -> &'static str {
        match self {
            HeartSoundKind::S1 => "S1",
            HeartSoundKind::S2 => "S2",
        }
    }
}

/// A heart sound located in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeartSound {
    /// S1 or S2.
    pub kind: HeartSoundKind,
    /// Where it lies.
    pub span: Interval,
}

/// Turns heart sounds into `(`/`)` annotation pairs at `rate`. Sounds must not overlap once
/// sorted by onset.
pub fn heart_sound_annotations(
    sounds: &[HeartSound],
    rate: Hz,
) -> Result<Vec<Annotation>, RecordingError> {
    let mut sorted: Vec<HeartSound> = sounds.to_vec();
    sorted.sort_by(|a, b| a.span.start.0.total_cmp(&b.span.start.0));
    let mut out = Vec::with_capacity(sorted.len() * 2);
    let mut last_end = 0u64;
    for s in sorted {
        if !(s.span.start.0.is_finite() && s.span.end.0.is_finite())
            || s.span.start.0 < 0.0
            || s.span.end.0 < s.span.start.0
        {
            return Err(RecordingError::Unwritable(format!(
                "heart sound span {:?}",
                s.span
            )));
        }
        let on = rate.index_of(s.span.start).0 as u64;
        let off = rate.index_of(s.span.end).0 as u64;
        if on < last_end {
            return Err(RecordingError::Unwritable("heart sounds overlap".into()));
        }
        out.push(Annotation::new(on, code::WFON, Some(s.kind.label().into())));
        out.push(Annotation::new(off, code::WFOFF, None));
        last_end = off;
    }
    Ok(out)
}

/// Recovers heart sounds from `(`/`)` pairs whose onset carries `S1` or `S2`; other
/// annotations are ignored.
pub fn heart_sounds_from_annotations(anns: &[Annotation], rate: Hz) -> Vec<HeartSound> {
    let mut out = Vec::new();
    let mut open: Option<(HeartSoundKind, u64)> = None;
    for a in anns {
        match a.code {
            code::WFON => {
                open = match a.aux.as_deref().map(str::trim) {
                    Some("S1") => Some((HeartSoundKind::S1, a.sample)),
                    Some("S2") => Some((HeartSoundKind::S2, a.sample)),
                    _ => None,
                }
            }
            code::WFOFF => {
                if let Some((kind, on)) = open.take() {
                    out.push(HeartSound {
                        kind,
                        span: Interval {
                            start: Seconds(on as f64 / rate.0),
                            end: Seconds(a.sample as f64 / rate.0),
                        },
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_skips_modifiers_and_odd_aux() {
        let anns = vec![
            Annotation::new(5, code::NORMAL, None),
            Annotation {
                sample: 2000,
                code: code::WFON,
                subtype: -2,
                chan: 1,
                num: 3,
                aux: Some("S1".into()),
            },
            Annotation {
                sample: 2000,
                code: code::WFOFF,
                subtype: -2,
                chan: 1,
                num: 3,
                aux: None,
            },
            Annotation::new(3_000_000, code::NOTE, Some("odd".into())),
        ];
        let bytes = encode_annotations(&anns).expect("encode");
        assert_eq!(parse_annotations(&bytes).expect("parse"), anns);
    }

    #[test]
    fn known_bytes() {
        // N at sample 10: word = 1<<10 | 10 = 0x040a; then the end marker.
        let bytes = encode_annotations(&[Annotation::new(10, code::NORMAL, None)]).expect("encode");
        assert_eq!(bytes, vec![0x0a, 0x04, 0, 0]);
    }

    #[test]
    fn truncated_files_are_errors() {
        let bytes = encode_annotations(&[Annotation::new(5000, code::WFON, Some("S1".into()))])
            .expect("encode");
        for cut in [1, 3, 5, 9] {
            assert!(parse_annotations(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            parse_annotations(&[0x00, 0xfc]).is_err(),
            "aux before any annotation"
        );
    }

    #[test]
    fn heart_sounds_round_trip() {
        let rate = Hz(2000.0);
        let s = |kind, a, b| HeartSound {
            kind,
            span: Interval {
                start: Seconds(a),
                end: Seconds(b),
            },
        };
        let sounds = vec![
            s(HeartSoundKind::S2, 0.4, 0.5),
            s(HeartSoundKind::S1, 0.0, 0.12),
            s(HeartSoundKind::S1, 0.8, 0.92),
        ];
        let anns = heart_sound_annotations(&sounds, rate).expect("anns");
        let back = heart_sounds_from_annotations(
            &parse_annotations(&encode_annotations(&anns).expect("enc")).expect("parse"),
            rate,
        );
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], sounds[1]);
        assert_eq!(back[1], sounds[0]);
        let overlapping = vec![
            s(HeartSoundKind::S1, 0.0, 0.2),
            s(HeartSoundKind::S2, 0.1, 0.3),
        ];
        assert!(heart_sound_annotations(&overlapping, rate).is_err());
    }
}

//! Parsing WFDB `.hea` headers: the record line and one line per signal.
//!
//! Must never accept a header whose numbers it cannot honour: counts beyond the limits, a
//! multi-segment record, several samples per frame, or a signal file outside the header's
//! folder are errors, not guesses.

use crate::RecordingError;

/// The most signals a header may declare.
pub const MAX_SIGNALS: usize = 256;

/// The storage formats this reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Format 80: 8-bit offset binary.
    Offset8,
    /// Format 16: 16-bit two's complement, little-endian.
    Le16,
    /// Format 61: 16-bit two's complement, big-endian.
    Be16,
    /// Format 24: 24-bit two's complement, little-endian.
    Le24,
    /// Format 32: 32-bit two's complement, little-endian.
    Le32,
    /// Format 212: two 12-bit samples packed in three bytes.
    Packed212,
}

impl Format {
    /// The format from its WFDB number.
    pub fn from_number(n: u32) -> Option<Format> {
        Some(match n {
            80 => Format::Offset8,
            16 => Format::Le16,
            61 => Format::Be16,
            24 => Format::Le24,
            32 => Format::Le32,
            212 => Format::Packed212,
            _ => return None,
        })
    }

    /// The WFDB number of this format.
    pub fn number(self) -> u32 {
        match self {
            Format::Offset8 => 80,
            Format::Le16 => 16,
            Format::Be16 => 61,
            Format::Le24 => 24,
            Format::Le32 => 32,
            Format::Packed212 => 212,
        }
    }

    /// Bytes needed to store `n` samples.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        match self {
            Format::Offset8 => Some(n),
            Format::Le16 | Format::Be16 => n.checked_mul(2),
            Format::Le24 => n.checked_mul(3),
            Format::Le32 => n.checked_mul(4),
            Format::Packed212 => (n / 2).checked_mul(3)?.checked_add((n % 2) * 2),
        }
    }

    /// How many whole samples `bytes` bytes hold.
    pub fn samples_in(self, bytes: u64) -> u64 {
        match self {
            Format::Offset8 => bytes,
            Format::Le16 | Format::Be16 => bytes / 2,
            Format::Le24 => bytes / 3,
            Format::Le32 => bytes / 4,
            Format::Packed212 => bytes / 3 * 2 + u64::from(bytes % 3 == 2),
        }
    }
}

/// One signal line of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// The signal file name, relative to the header's folder.
    pub file: String,
    /// Storage format.
    pub format: Format,
    /// Bytes to skip at the start of the signal file (`16+44`).
    pub byte_offset: u64,
    /// ADC units per physical unit (WFDB's default 200 when the header says 0 or nothing).
    pub gain: f64,
    /// The ADC value of physical zero.
    pub baseline: i64,
    /// Physical units (e.g. `mV`).
    pub units: String,
    /// ADC resolution in bits (0 when unstated).
    pub adc_resolution: u32,
    /// ADC value at mid-range.
    pub adc_zero: i64,
    /// The first sample's value (unchecked).
    pub initial_value: i64,
    /// 16-bit sum of the samples (unchecked: real headers often carry 0).
    pub checksum: i64,
    /// Block size (0 for ordinary files).
    pub block_size: u64,
    /// Free-text description, e.g. `PCG`, `ECG`, `II`.
    pub description: String,
}

/// A parsed WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The record name.
    pub record: String,
    /// Samples per second per signal.
    pub sampling_frequency: f64,
    /// Samples per signal, when declared (a 0 or absent count means "read to the end").
    pub samples_per_signal: Option<u64>,
    /// The signal lines, in order.
    pub signals: Vec<SignalSpec>,
    /// `#` comment lines, without the `#`.
    pub comments: Vec<String>,
}

fn err(line: usize, message: impl Into<String>) -> RecordingError {
    RecordingError::Header {
        line,
        message: message.into(),
    }
}

fn int<T: std::str::FromStr>(line: usize, what: &str, tok: &str) -> Result<T, RecordingError> {
    tok.parse()
        .map_err(|_| err(line, format!("{what} {tok:?} is not a valid integer")))
}

impl Header {
    /// Parses the text of a `.hea` file.
    pub fn parse(text: &str) -> Result<Header, RecordingError> {
        let mut comments = Vec::new();
        let mut record: Option<(usize, String, f64, Option<u64>)> = None;
        let mut signals = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if let Some(c) = trimmed.strip_prefix('#') {
                comments.push(c.trim().to_string());
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
            match &record {
                None => record = Some(Self::parse_record_line(line, trimmed)?),
                Some((nsig, ..)) => {
                    if signals.len() == *nsig {
                        return Err(err(
                            line,
                            format!("more signal lines than the {nsig} declared"),
                        ));
                    }
                    signals.push(Self::parse_signal_line(line, trimmed)?);
                }
            }
        }
        let Some((nsig, name, fs, nsamples)) = record else {
            return Err(err(1, "no record line"));
        };
        if signals.len() != nsig {
            return Err(err(
                text.lines().count(),
                format!(
                    "{nsig} signals declared, {} signal lines found",
                    signals.len()
                ),
            ));
        }
        Ok(Header {
            record: name,
            sampling_frequency: fs,
            samples_per_signal: nsamples,
            signals,
            comments,
        })
    }

    fn parse_record_line(
        line: usize,
        s: &str,
    ) -> Result<(usize, String, f64, Option<u64>), RecordingError> {
        let mut tok = s.split_whitespace();
        let name = tok.next().ok_or_else(|| err(line, "empty record line"))?;
        if name.contains('/') {
            return Err(RecordingError::UnsupportedWfdb(format!(
                "multi-segment record {name:?}"
            )));
        }
        let nsig_tok = tok
            .next()
            .ok_or_else(|| err(line, "record line lacks the number of signals"))?;
        let nsig: usize = int(line, "number of signals", nsig_tok)?;
        if nsig > MAX_SIGNALS {
            return Err(RecordingError::TooLarge {
                what: "number of signals",
                declared: nsig as u64,
                limit: MAX_SIGNALS as u64,
            });
        }
        let fs = match tok.next() {
            None => 250.0,
            Some(t) => {
                let f = t.split(['/', '(']).next().unwrap_or(t);
                let fs: f64 = f
                    .parse()
                    .map_err(|_| err(line, format!("sampling frequency {t:?} is not a number")))?;
                if !(fs.is_finite() && fs > 0.0) {
                    return Err(RecordingError::InvalidRate(fs));
                }
                fs
            }
        };
        let nsamples = match tok.next() {
            None => None,
            Some(t) => match int::<u64>(line, "number of samples", t)? {
                0 => None,
                n => Some(n),
            },
        };
        Ok((nsig, name.to_string(), fs, nsamples))
    }

    fn parse_signal_line(line: usize, s: &str) -> Result<SignalSpec, RecordingError> {
        let mut tok = s.split_whitespace();
        let file = tok.next().ok_or_else(|| err(line, "empty signal line"))?;
        check_file_name(line, file)?;
        let fmt_tok = tok
            .next()
            .ok_or_else(|| err(line, "signal line lacks the format"))?;
        let (format, byte_offset) = parse_format(line, fmt_tok)?;

        let (gain, baseline, units) = match tok.next() {
            None => (200.0, None, "mV".to_string()),
            Some(t) => parse_gain(line, t)?,
        };
        let mut next_int = |what: &str| -> Result<Option<i64>, RecordingError> {
            tok.next().map(|t| int::<i64>(line, what, t)).transpose()
        };
        let adc_resolution = next_int("ADC resolution")?.unwrap_or(0);
        let adc_zero = next_int("ADC zero")?.unwrap_or(0);
        let initial_value = next_int("initial value")?.unwrap_or(0);
        let checksum = next_int("checksum")?.unwrap_or(0);
        let block_size = next_int("block size")?.unwrap_or(0);
        let description = tok.collect::<Vec<_>>().join(" ");
        Ok(SignalSpec {
            file: file.to_string(),
            format,
            byte_offset,
            gain,
            baseline: baseline.unwrap_or(adc_zero),
            units,
            adc_resolution: u32::try_from(adc_resolution)
                .map_err(|_| err(line, "ADC resolution out of range"))?,
            adc_zero,
            initial_value,
            checksum,
            block_size: u64::try_from(block_size).map_err(|_| err(line, "negative block size"))?,
            description,
        })
    }
}

/// Signal files must sit beside the header: no absolute paths, no `..`, no standard input.
fn check_file_name(line: usize, file: &str) -> Result<(), RecordingError> {
    let bad = file == "-"
        || file.starts_with('/')
        || file.starts_with('\\')
        || file.contains(':')
        || file.split(['/', '\\']).any(|c| c == ".." || c.is_empty());
    if bad {
        return Err(err(
            line,
            format!("signal file {file:?} must be a relative path below the header's folder"),
        ));
    }
    Ok(())
}

/// `16`, `16+44`, `212x1:0+512`.
fn parse_format(line: usize, t: &str) -> Result<(Format, u64), RecordingError> {
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let number: u32 = int(line, "format", &t[..digits_end])?;
    let format = Format::from_number(number)
        .ok_or_else(|| RecordingError::UnsupportedWfdb(format!("signal format {number}")))?;
    let mut rest = &t[digits_end..];
    let mut offset = 0u64;
    while let Some(c) = rest.chars().next() {
        // `c` may be any character (a header is text of any kind): step over all its bytes.
        let body = &rest[c.len_utf8()..];
        let end = body.find(['x', ':', '+']).unwrap_or(body.len());
        let value: u64 = int(line, "format modifier", &body[..end])?;
        match c {
            'x' if value > 1 => {
                return Err(RecordingError::UnsupportedWfdb(format!(
                    "{value} samples per frame"
                )));
            }
            'x' | ':' => {}
            '+' => offset = value,
            _ => return Err(err(line, format!("format {t:?} is malformed"))),
        }
        rest = &body[end..];
    }
    Ok((format, offset))
}

/// `1000`, `200/mV`, `110554.8863(10634)/mV`.
fn parse_gain(line: usize, t: &str) -> Result<(f64, Option<i64>, String), RecordingError> {
    let (gain_part, units) = match t.split_once('/') {
        Some((g, u)) => (g, u.to_string()),
        None => (t, "mV".to_string()),
    };
    let (gain_str, baseline) = match gain_part.split_once('(') {
        Some((g, b)) => {
            let b = b
                .strip_suffix(')')
                .ok_or_else(|| err(line, format!("baseline in {t:?} lacks ')'")))?;
            (g, Some(int::<i64>(line, "baseline", b)?))
        }
        None => (gain_part, None),
    };
    let gain: f64 = gain_str
        .parse()
        .map_err(|_| err(line, format!("gain {gain_str:?} is not a number")))?;
    if !gain.is_finite() || gain < 0.0 {
        return Err(err(
            line,
            format!("gain {gain_str:?} must be a finite positive number"),
        ));
    }
    Ok((if gain == 0.0 { 200.0 } else { gain }, baseline, units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_physionet_2016_header() {
        let h = Header::parse(
            "a0001 2 2000 71332\na0001.wav 16+44 1 16 0 0 0 0 PCG\na0001.dat 16 1000 16 0 0 367 0 ECG\n# Abnormal\n",
        )
        .expect("parse");
        assert_eq!(h.record, "a0001");
        assert_eq!(h.sampling_frequency, 2000.0);
        assert_eq!(h.samples_per_signal, Some(71332));
        assert_eq!(h.comments, vec!["Abnormal"]);
        let pcg = &h.signals[0];
        assert_eq!(
            (pcg.file.as_str(), pcg.format, pcg.byte_offset),
            ("a0001.wav", Format::Le16, 44)
        );
        assert_eq!(
            (pcg.gain, pcg.adc_resolution, pcg.description.as_str()),
            (1.0, 16, "PCG")
        );
        let ecg = &h.signals[1];
        assert_eq!(
            (ecg.gain, ecg.checksum, ecg.description.as_str()),
            (1000.0, 367, "ECG")
        );
    }

    #[test]
    fn parses_ephnogram_header_with_baseline_and_units() {
        let h = Header::parse(
            "ECGPCG0003 2 8000 240000\nECGPCG0003.dat 16 110554.8863(10634)/mV 0 0 10148 -14265 0 ECG\nECGPCG0003.dat 16 54162.0791(5104)/mV 0 0 2089 6207 0 PCG\n",
        )
        .expect("parse");
        assert_eq!(h.signals[0].gain, 110554.8863);
        assert_eq!(h.signals[0].baseline, 10634);
        assert_eq!(h.signals[0].units, "mV");
        assert_eq!(h.signals[1].initial_value, 2089);
        assert_eq!(h.signals[1].description, "PCG");
    }

    #[test]
    fn defaults_and_descriptions_with_spaces() {
        let h = Header::parse("r 1\nr.dat 212 0 12 5 0 0 0 heart sound apex\n").expect("parse");
        assert_eq!(h.sampling_frequency, 250.0);
        assert_eq!(h.samples_per_signal, None);
        assert_eq!(h.signals[0].gain, 200.0);
        assert_eq!(h.signals[0].baseline, 5);
        assert_eq!(h.signals[0].description, "heart sound apex");
    }

    #[test]
    fn rejects_lies_and_unsupported_features() {
        for bad in [
            "",
            "r 2 1000\nr.dat 16\n",
            "r 1 1000\nr.dat 16\nr.dat 16\n",
            "r x 1000\n",
            "r 1 -5\nr.dat 16\n",
            "r 1 1000 -3\nr.dat 16\n",
            "r 100000 1000\n",
            "r/3 2 1000\n",
            "r 1 1000\nr.dat 16x4\n",
            "r 1 1000\nr.dat 8\n",
            "r 1 1000\n../../etc/passwd 16\n",
            "r 1 1000\n/abs.dat 16\n",
            "r 1 1000\nr.dat 16 nan\n",
            "r 1 1000\nr.dat 16 200(5\n",
            "r 1 1000\nr.dat 16+x\n",
        ] {
            assert!(Header::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn format_sizes() {
        assert_eq!(Format::Packed212.bytes_for(4), Some(6));
        assert_eq!(Format::Packed212.bytes_for(3), Some(5));
        assert_eq!(Format::Packed212.samples_in(5), 3);
        assert_eq!(Format::Packed212.samples_in(6), 4);
        assert_eq!(Format::Le16.bytes_for(u64::MAX), None);
    }
}

//! R-peak times from CSV: one time in seconds per line, or a header naming an `r_s` or `time_s`
//! column (a one-column file may name its column anything).
//!
//! Must never accept times that are negative, non-finite or out of order: the engine gates
//! cycles on them.

use std::path::Path;

use auscult_dsp::Seconds;

use crate::RecordingError;

/// Reads an R-peak CSV file (see [`parse_rpeaks_csv`]).
pub fn read_rpeaks_csv(path: &Path) -> Result<Vec<Seconds>, RecordingError> {
    let bytes = crate::wfdb::read_file_bounded(path)?;
    parse_rpeaks_csv(&String::from_utf8_lossy(&bytes))
}

/// Parses R-peak times. Fields may be separated by commas, semicolons or tabs; blank lines and
/// `#` comments are skipped.
pub fn parse_rpeaks_csv(text: &str) -> Result<Vec<Seconds>, RecordingError> {
    let err = |line: usize, message: String| RecordingError::RPeaks { line, message };
    let split = |l: &str| -> Vec<String> {
        l.split([',', ';', '\t'])
            .map(|f| f.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut column: Option<usize> = None;
    let mut out: Vec<Seconds> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let fields = split(l);
        let col = match column {
            Some(c) => c,
            None => {
                if fields[0].parse::<f64>().is_ok() {
                    if fields.len() > 1 {
                        return Err(err(
                            line,
                            "several columns but no header naming r_s or time_s".into(),
                        ));
                    }
                    column = Some(0);
                    0
                } else {
                    let c = fields
                        .iter()
                        .position(|f| {
                            f.eq_ignore_ascii_case("r_s") || f.eq_ignore_ascii_case("time_s")
                        })
                        .or_else(|| (fields.len() == 1).then_some(0))
                        .ok_or_else(|| {
                            err(line, format!("no r_s or time_s column in header {l:?}"))
                        })?;
                    column = Some(c);
                    continue;
                }
            }
        };
        let f = fields
            .get(col)
            .ok_or_else(|| err(line, format!("missing column {}", col + 1)))?;
        let t: f64 = f
            .parse()
            .map_err(|_| err(line, format!("{f:?} is not a time in seconds")))?;
        if !t.is_finite() || t < 0.0 {
            return Err(err(line, format!("time {t} is negative or not finite")));
        }
        if out.last().is_some_and(|p| p.0 >= t) {
            return Err(err(line, format!("time {t} is not after the previous one")));
        }
        out.push(Seconds(t));
    }
    if out.is_empty() {
        return Err(err(text.lines().count().max(1), "no R-peak times".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(v: &[Seconds]) -> Vec<f64> {
        v.iter().map(|s| s.0).collect()
    }

    #[test]
    fn plain_list() {
        assert_eq!(
            times(&parse_rpeaks_csv("0.5\n1.3\n\n2.1\n").expect("parse")),
            vec![0.5, 1.3, 2.1]
        );
    }

    #[test]
    fn header_with_named_column() {
        let t =
            parse_rpeaks_csv("# from device\nbeat,time_s,amp\n1,0.4,3\n2,1.2,3\n").expect("parse");
        assert_eq!(times(&t), vec![0.4, 1.2]);
        let t = parse_rpeaks_csv("r_s\n0.4\n1.2\n").expect("parse");
        assert_eq!(times(&t), vec![0.4, 1.2]);
        let t = parse_rpeaks_csv("peaks\n0.4\n").expect("parse");
        assert_eq!(times(&t), vec![0.4]);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "a,b\n1,2\n",
            "0.5\n0.4\n",
            "-1\n",
            "NaN\n",
            "r_s\nabc\n",
            "0.1,0.2\n",
            "x,time_s\n1\n",
        ] {
            assert!(parse_rpeaks_csv(bad).is_err(), "{bad:?} accepted");
        }
    }
}

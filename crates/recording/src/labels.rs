//! `labels.csv`: the table of labelled recordings in an evaluation dataset folder (one row per
//! recording, a `file` column with its path relative to the folder, and any further label
//! columns such as `label`, `murmur`, `murmur_timing`, `ecg`, `segments`).
//!
//! Comma-separated with a header row; fields may be quoted (`"a,b"`, `""` for a quote). Blank
//! lines are skipped. Must never panic on a malformed table: a row with more fields than the
//! header, an unterminated quote or a missing `file` column is an error naming the line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::RecordingError;

/// One row of a `labels.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    /// The recording's path relative to the dataset folder (the `file` column).
    pub file: String,
    /// Every column of the row by header name (trimmed; missing trailing fields are empty).
    pub fields: BTreeMap<String, String>,
}

impl LabelRow {
    /// The value of a column, `None` when the column is absent or the field is empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields
            .get(column)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Reads a `labels.csv` file (see [`parse_labels_csv`]).
pub fn read_labels_csv(path: &Path) -> Result<Vec<LabelRow>, RecordingError> {
    let bytes = crate::wfdb::read_file_bounded(path)?;
    parse_labels_csv(&String::from_utf8_lossy(&bytes))
}

/// Parses the text of a `labels.csv`: a header naming a `file` column, then one row per
/// recording. Rows without a file are skipped.
pub fn parse_labels_csv(text: &str) -> Result<Vec<LabelRow>, RecordingError> {
    let err = |line: usize, message: &str| RecordingError::Labels {
        line,
        message: message.to_string(),
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or_else(|| err(1, "empty table"))?;
    let header = split_fields(header).map_err(|m| err(header_line, m))?;
    let file_col = header
        .iter()
        .position(|h| h == "file")
        .ok_or_else(|| err(header_line, "no `file` column"))?;
    let mut rows = Vec::new();
    for (line, raw) in lines {
        let values = split_fields(raw).map_err(|m| err(line, m))?;
        if values.len() > header.len() {
            return Err(err(line, "more fields than the header has columns"));
        }
        let file = values.get(file_col).cloned().unwrap_or_default();
        if file.is_empty() {
            continue;
        }
        let mut fields: BTreeMap<String, String> =
            header.iter().map(|h| (h.clone(), String::new())).collect();
        for (h, v) in header.iter().zip(values) {
            fields.insert(h.clone(), v);
        }
        rows.push(LabelRow { file, fields });
    }
    Ok(rows)
}

/// Splits one CSV line into trimmed fields, honouring double quotes.
fn split_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(finish(&field, was_quoted));
                field.clear();
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.push(finish(&field, was_quoted));
    Ok(out)
}

fn finish(field: &str, quoted: bool) -> String {
    if quoted {
        field.to_string()
    } else {
        field.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_by_column_name() {
        let rows = parse_labels_csv(
            "file,label,murmur\r\nMR/a.wav,MR,Present\n\nN/b.wav, N ,\n,orphan,\n",
        )
        .expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].file, "MR/a.wav");
        assert_eq!(rows[0].get("murmur"), Some("Present"));
        assert_eq!(rows[1].get("label"), Some("N"));
        assert_eq!(
            rows[1].get("murmur"),
            None,
            "an empty field reads as absent"
        );
        assert_eq!(rows[1].get("no_such_column"), None);
    }

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        let rows = parse_labels_csv("label,file\n\"a, \"\"b\"\"\",\"x,y.wav\"\n").expect("parses");
        assert_eq!(rows[0].file, "x,y.wav");
        assert_eq!(rows[0].get("label"), Some("a, \"b\""));
    }

    #[test]
    fn short_rows_fill_with_empty_fields() {
        let rows = parse_labels_csv("file,label,ecg\na.wav\n").expect("parses");
        assert_eq!(rows[0].fields.get("ecg").map(String::as_str), Some(""));
    }

    #[test]
    fn malformed_tables_are_errors_naming_the_line() {
        for (text, line) in [
            ("", 1),
            ("label,murmur\nx,y\n", 1),
            ("file,label\na.wav,N,extra\n", 2),
            ("file,label\n\"a.wav,N\n", 2),
        ] {
            match parse_labels_csv(text) {
                Err(RecordingError::Labels { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: expected a labels error, got {other:?}"),
            }
        }
    }

    #[test]
    fn reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, "file,label\nx.wav,Normal\n").expect("write");
        let rows = read_labels_csv(&path).expect("reads");
        assert_eq!(rows[0].get("label"), Some("Normal"));
        assert!(matches!(
            read_labels_csv(&dir.path().join("missing.csv")),
            Err(RecordingError::Io { .. })
        ));
    }
}

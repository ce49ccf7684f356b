//! A town hall's roster (CSV) read into residents to enrol: columns found by their English or
//! Japanese header, dates of birth in the forms Japanese offices write them (including era
//! dates), each row either a resident or the reason it is refused.
//!
//! Pure: bytes in, rows out; no I/O, no store. The bytes are UTF-8 (a BOM is dropped) or, when
//! they are not, Shift_JIS (what spreadsheets in Japan save as "CSV"). A file without a name or
//! a birth-date column is refused as a whole; every other problem refuses only its row.

use auscult_proto::v1 as pb;
use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};

use super::fields::{MAX_ID, MAX_NAME};

/// The largest roster read, bytes.
pub const MAX_BYTES: usize = 1 << 20;
/// The most rows read.
pub const MAX_ROWS: usize = 5_000;
/// The longest address kept, characters.
pub const MAX_ADDRESS: usize = 200;

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// Larger than [`MAX_BYTES`].
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// More rows than [`MAX_ROWS`].
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    /// No header line, or one without a name or a date-of-birth column.
    #[error("the file has no {0} column (a header line naming its columns is required)")]
    MissingColumn(&'static str),
    /// Nothing after the header.
    #[error("the file has no rows")]
    Empty,
}

/// One resident read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterPerson {
    /// Family name.
    pub family_name: String,
    /// Given name (empty when the name had one part).
    pub given_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `male`, `female`, `other`, `unknown`.
    pub gender: &'static str,
    /// One line, or empty.
    pub address: String,
    /// As written (full-width digits made ASCII), or empty.
    pub phone: String,
    /// The municipality's number, or empty.
    pub resident_number: String,
}

impl RosterPerson {
    /// What makes two rows the same person: the resident number when there is one, otherwise
    /// the name (without spaces) and the date of birth.
    pub fn key(&self) -> String {
        same_person_key(
            &self.resident_number,
            &self.family_name,
            &self.given_name,
            &self.birth_date,
        )
    }

    /// The pseudonymous subject id of this person in `program_id` of `tenant_id` ([`subject_id`]).
    pub fn subject_id(&self, tenant_id: &str, program_id: &str) -> String {
        subject_id(tenant_id, program_id, &self.key())
    }
}

/// The pseudonymous subject id of the person with `key` ([`same_person_key`]) in `program_id`
/// of `tenant_id`: the same for the same person, so two enrolments racing cannot enrol one
/// person twice (the store's UNIQUE(program_id, subject_id)).
pub fn subject_id(tenant_id: &str, program_id: &str, key: &str) -> String {
    let mut h = Sha256::new();
    for part in [tenant_id, program_id, key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("r-{hex}")
}

/// What makes two residents the same person (see [`RosterPerson::key`]).
pub fn same_person_key(
    resident_number: &str,
    family_name: &str,
    given_name: &str,
    birth_date: &str,
) -> String {
    if !resident_number.trim().is_empty() {
        return format!("n:{}", resident_number.trim());
    }
    let name: String = format!("{family_name}{given_name}")
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    format!("p:{name}|{birth_date}")
}

/// A row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterRow {
    /// Read.
    Person(RosterPerson),
    /// Refused, with a detail in English naming the field (never the whole row).
    Refused(pb::ImportRefusal, String),
}

/// The rows of a roster with their line numbers (the header is line 1), and the text it was
/// decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// `(line, row)` in file order.
    pub rows: Vec<(u32, RosterRow)>,
}

/// The text of a roster's bytes: UTF-8 without BOM, or Shift_JIS decoded.
pub fn decode(bytes: &[u8]) -> Result<String, RosterError> {
    if bytes.len() > MAX_BYTES {
        return Err(RosterError::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => {
            let (text, _, _) = encoding_rs::SHIFT_JIS.decode(bytes);
            Ok(text.into_owned())
        }
    }
}

#[derive(Debug, Default)]
struct Columns {
    name: Option<usize>,
    family: Option<usize>,
    given: Option<usize>,
    birth: Option<usize>,
    address: Option<usize>,
    phone: Option<usize>,
    number: Option<usize>,
    gender: Option<usize>,
}

fn header_key(h: &str) -> String {
    h.trim()
        .trim_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '_', '-', '　'], "")
}

impl Columns {
    fn of(headers: &csv::StringRecord) -> Columns {
        let mut c = Columns::default();
        for (i, h) in headers.iter().enumerate() {
            let slot = match header_key(h).as_str() {
                "name" | "fullname" | "氏名" | "名前" | "お名前" => &mut c.name,
                "familyname" | "surname" | "lastname" | "姓" | "氏" => &mut c.family,
                "givenname" | "firstname" | "名" => &mut c.given,
                "dateofbirth" | "birthdate" | "dob" | "birthday" | "生年月日" => &mut c.birth,
                "address" | "住所" => &mut c.address,
                "phone" | "telephone" | "tel" | "phonenumber" | "電話番号" | "電話" => {
                    &mut c.phone
                }
                "residentnumber" | "住民番号" | "宛名番号" | "個人番号" => {
                    &mut c.number
                }
                "gender" | "sex" | "性別" => &mut c.gender,
                _ => continue,
            };
            slot.get_or_insert(i);
        }
        c
    }
}

/// Reads a roster's text.
pub fn parse(text: &str) -> Result<Roster, RosterError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| RosterError::MissingColumn("name"))?
        .clone();
    let cols = Columns::of(&headers);
    if cols.name.is_none() && cols.family.is_none() {
        return Err(RosterError::MissingColumn("name"));
    }
    if cols.birth.is_none() {
        return Err(RosterError::MissingColumn("date of birth"));
    }
    let today = chrono::Utc::now().date_naive();
    let mut rows = Vec::new();
    let mut seen: Vec<(String, u32)> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line: u32 = 1;
    loop {
        let read = reader.read_record(&mut record);
        // The line of the record's first byte, counted here: csv's own line count is off by
        // one after CRLF line ends.
        let line_at = |byte: u64| {
            let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
            // After CRLF the record "starts" at the LF the reader had not yet consumed.
            while matches!(text.as_bytes().get(end), Some(b'\r' | b'\n')) {
                end += 1;
            }
            let newlines = text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            u32::try_from(newlines + 1).unwrap_or(u32::MAX)
        };
        line = match (&read, record.position()) {
            (Ok(_), Some(p)) => line_at(p.byte()),
            _ => line.saturating_add(1),
        };
        match read {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let Some(p) = e.position() {
                    line = line_at(p.byte());
                }
                rows.push((
                    line,
                    RosterRow::Refused(pb::ImportRefusal::Unreadable, "unreadable row".into()),
                ));
                // A broken quote swallows the rest: stop rather than guess.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
                continue;
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(RosterError::TooManyRows);
        }
        let row = match person(&cols, &record, today) {
            Ok(p) => {
                let key = p.key();
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                    RosterRow::Refused(
                        pb::ImportRefusal::DuplicateInFile,
                        format!("the same person as line {first}"),
                    )
                } else {
                    seen.push((key, line));
                    RosterRow::Person(p)
                }
            }
            Err((why, detail)) => RosterRow::Refused(why, detail),
        };
        rows.push((line, row));
    }
    if rows.is_empty() {
        return Err(RosterError::Empty);
    }
    Ok(Roster { rows })
}

type Refusal = (pb::ImportRefusal, String);

fn field(record: &csv::StringRecord, col: Option<usize>) -> &str {
    col.and_then(|i| record.get(i)).map_or("", str::trim)
}

fn bounded(value: &str, what: &str, max: usize) -> Result<String, Refusal> {
    if value.chars().count() > max {
        return Err((
            pb::ImportRefusal::TooLong,
            format!("{what} is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err((
            pb::ImportRefusal::Unreadable,
            format!("{what} holds control characters"),
        ));
    }
    Ok(value.to_owned())
}

fn person(
    cols: &Columns,
    r: &csv::StringRecord,
    today: NaiveDate,
) -> Result<RosterPerson, Refusal> {
    let (family, given) = match cols.name {
        Some(_) if !field(r, cols.name).is_empty() => split_name(field(r, cols.name)),
        _ => (
            field(r, cols.family).to_owned(),
            field(r, cols.given).to_owned(),
        ),
    };
    if family.is_empty() && given.is_empty() {
        return Err((pb::ImportRefusal::MissingName, "no name".into()));
    }
    let birth = field(r, cols.birth);
    if birth.is_empty() {
        return Err((
            pb::ImportRefusal::MissingBirthDate,
            "no date of birth".into(),
        ));
    }
    let date = birth_date(birth).ok_or_else(|| {
        (
            pb::ImportRefusal::BadBirthDate,
            "date of birth is not a date (e.g. 1950-04-01, 1950/4/1, 昭和25年4月1日)".into(),
        )
    })?;
    if date > today || date.year() < 1900 {
        return Err((
            pb::ImportRefusal::ImplausibleBirthDate,
            "date of birth is in the future or before 1900".into(),
        ));
    }
    let phone = phone(field(r, cols.phone)).ok_or_else(|| {
        (
            pb::ImportRefusal::BadPhone,
            "phone is not a phone number (6 to 15 digits)".into(),
        )
    })?;
    let gender = gender(field(r, cols.gender)).ok_or_else(|| {
        (
            pb::ImportRefusal::BadGender,
            "gender is not one of male, female, other, 男, 女".into(),
        )
    })?;
    Ok(RosterPerson {
        family_name: bounded(&family, "family name", MAX_NAME)?,
        given_name: bounded(&given, "given name", MAX_NAME)?,
        birth_date: date.format("%Y-%m-%d").to_string(),
        gender,
        address: bounded(field(r, cols.address), "address", MAX_ADDRESS)?,
        phone,
        resident_number: bounded(field(r, cols.number), "resident number", MAX_ID)?,
    })
}

/// "山田 太郎" / "山田　太郎" / "Yamada Taro": the family name first, then the rest.
fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.split_once(|c: char| c.is_whitespace()) {
        Some((family, given)) => (family.trim().to_owned(), given.trim().to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

/// Full-width digits and signs as ASCII.
fn ascii_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '－' | 'ー' | '−' => '-',
            '／' => '/',
            '．' => '.',
            '（' => '(',
            '）' => ')',
            '＋' => '+',
            '　' => ' ',
            _ => c,
        })
        .collect()
}

/// The Japanese eras a living resident's birth date may be written in: (names, first year).
const ERAS: [(&[&str], i32); 5] = [
    (&["明治", "M"], 1868),
    (&["大正", "T"], 1912),
    (&["昭和", "S"], 1926),
    (&["平成", "H"], 1989),
    (&["令和", "R"], 2019),
];

/// A date of birth as offices write it: `1950-04-01`, `1950/4/1`, `1950.4.1`, `1950年4月1日`,
/// `昭和25年4月1日`, `S25.4.1`, `S25/4/1`.
pub fn birth_date(s: &str) -> Option<NaiveDate> {
    let s = ascii_digits(s.trim());
    let (era_start, rest) = match ERAS.iter().find_map(|(names, start)| {
        names
            .iter()
            .find_map(|n| s.strip_prefix(n).map(|rest| (*start, rest)))
    }) {
        Some((start, rest)) => (Some(start), rest.trim()),
        None => (None, s.as_str()),
    };
    let rest = rest.replace("元年", "1年");
    let parts: Vec<&str> = rest
        .split(['-', '/', '.', '年', '月', '日'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if !(y.chars().all(|c| c.is_ascii_digit())
        && m.chars().all(|c| c.is_ascii_digit())
        && d.chars().all(|c| c.is_ascii_digit()))
        || y.len() > 4
        || m.len() > 2
        || d.len() > 2
    {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let year = match era_start {
        Some(start) if (1..=64).contains(&y) => start + y - 1,
        Some(_) => return None,
        None if y >= 1000 => y,
        None => return None,
    };
    NaiveDate::from_ymd_opt(year, m, d)
}

/// A phone number as written, if it is one (empty stays empty).
pub fn phone(s: &str) -> Option<String> {
    let s = ascii_digits(s).trim().to_owned();
    if s.is_empty() {
        return Some(s);
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'));
    (ok_chars && (6..=15).contains(&digits)).then_some(s)
}

fn gender(s: &str) -> Option<&'static str> {
    Some(match s.trim().to_lowercase().as_str() {
        "" | "unknown" | "不明" => "unknown",
        "m" | "male" | "男" | "男性" => "male",
        "f" | "female" | "女" | "女性" => "female",
        "other" | "その他" => "other",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn people(r: &Roster) -> Vec<&RosterPerson> {
        r.rows
            .iter()
            .filter_map(|(_, row)| match row {
                RosterRow::Person(p) => Some(p),
                RosterRow::Refused(..) => None,
            })
            .collect()
    }

    #[test]
    fn a_japanese_roster_is_read_with_its_era_dates_and_bad_rows_refused() {
        let csv = "氏名,生年月日,住所,電話番号\n\
                   山田　太郎,昭和25年4月1日,北海道札幌市1-1,011-123-4567\n\
                   佐藤 花子,1948/12/31,,０９０－１２３４－５６７８\n\
                   ,1950-01-01,,\n\
                   鈴木 一郎,昭和99年1月1日,,\n\
                   山田 太郎,S25.4.1,,\n\
                   田中 次郎,1960-02-30,,\n\
                   高橋 三郎,1955-05-05,,12\n";
        let r = parse(csv).unwrap();
        let lines: Vec<u32> = r.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
        let p = people(&r);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].family_name, "山田");
        assert_eq!(p[0].given_name, "太郎");
        assert_eq!(p[0].birth_date, "1950-04-01");
        assert_eq!(p[1].phone, "090-1234-5678");
        let refusals: Vec<pb::ImportRefusal> = r
            .rows
            .iter()
            .filter_map(|(_, row)| match row {
                RosterRow::Refused(why, _) => Some(*why),
                RosterRow::Person(_) => None,
            })
            .collect();
        assert_eq!(
            refusals,
            [
                pb::ImportRefusal::MissingName,
                pb::ImportRefusal::BadBirthDate,
                pb::ImportRefusal::DuplicateInFile,
                pb::ImportRefusal::BadBirthDate,
                pb::ImportRefusal::BadPhone,
            ]
        );
        assert!(matches!(&r.rows[4].1, RosterRow::Refused(_, d) if d.contains("line 2")));
    }

    #[test]
    fn english_headers_separate_names_and_shift_jis_are_read() {
        let csv = "Family name,Given name,Date of birth,Sex,Resident number\n\
                   Yamada,Taro,1950-04-01,M,0001\nYamada,Taro,1951-04-01,M,0001\n";
        let r = parse(csv).unwrap();
        assert_eq!(people(&r).len(), 1);
        assert_eq!(people(&r)[0].gender, "male");
        let (sjis, _, _) =
            encoding_rs::SHIFT_JIS.encode("氏名,生年月日\n山田 太郎,平成元年1月8日\n");
        let text = decode(&sjis).unwrap();
        let r = parse(&text).unwrap();
        assert_eq!(people(&r)[0].birth_date, "1989-01-08");
        assert_eq!(
            decode(b"\xEF\xBB\xBFname,dob\n").unwrap(),
            "name,dob\n".to_owned()
        );
    }

    #[test]
    fn lines_count_with_crlf() {
        let r =
            parse("name,dob,phone\r\nA B,1950-01-01,\r\nC D,,\r\nE F,1950-01-01,0120\r\n").unwrap();
        let lines: Vec<u32> = r.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4], "{r:?}");
    }

    #[test]
    fn a_file_without_the_columns_it_needs_is_refused_whole() {
        assert_eq!(
            parse("address,phone\nx,0123456\n"),
            Err(RosterError::MissingColumn("name"))
        );
        assert_eq!(
            parse("name\nYamada\n"),
            Err(RosterError::MissingColumn("date of birth"))
        );
        assert_eq!(parse("name,dob\n"), Err(RosterError::Empty));
        assert_eq!(parse(""), Err(RosterError::MissingColumn("name")));
    }

    #[test]
    fn the_same_person_has_the_same_subject_id() {
        let r = parse("name,dob\nYamada Taro,1950-04-01\n").unwrap();
        let again = parse("name,dob\nYamada  Taro,1950/4/1\n").unwrap();
        let (a, b) = (people(&r)[0], people(&again)[0]);
        assert_eq!(a.subject_id("t", "p"), b.subject_id("t", "p"));
        assert_ne!(a.subject_id("t", "p"), a.subject_id("t", "q"));
        assert!(a.subject_id("t", "p").len() <= MAX_ID);
    }

    proptest! {
        #[test]
        fn any_bytes_give_rows_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(text) = decode(&bytes) {
                let _ = parse(&text);
            }
            let mut csv = b"name,dob,phone\n".to_vec();
            csv.extend_from_slice(&bytes);
            let _ = parse(&decode(&csv).unwrap());
        }

        #[test]
        fn any_date_text_is_a_date_or_none(s in "\\PC{0,20}") {
            let _ = birth_date(&s);
        }
    }
}

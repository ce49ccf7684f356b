//! A questionnaire as staff write it in the console: one question per line,
//!
//! ```text
//! id | type | required | 日本語の質問 | The question in English | code=日本語/English; code=…
//! ```
//!
//! `type` is `boolean`, `choice`, `integer`, `decimal`, `text` or `date`; the third field is
//! `required` or `optional`; the options field is for `choice` only. Blank lines and lines
//! starting with `#` are skipped. Pure: text in, questions (or the first mistake, with its line)
//! out; the server's own checks (ids unique, options present…) run when it is stored.

use auscult_proto::v1 as pb;

/// A mistake on a line (1-based), in English and Japanese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line.
    pub line: usize,
    /// What is wrong, in English.
    pub en: &'static str,
    /// What is wrong, in Japanese.
    pub ja: &'static str,
}

fn ls(language: &str, text: &str) -> pb::LocalizedString {
    pb::LocalizedString {
        language: language.into(),
        text: text.trim().into(),
    }
}

fn type_name(t: i32) -> &'static str {
    match pb::QuestionType::try_from(t) {
        Ok(pb::QuestionType::Boolean) => "boolean",
        Ok(pb::QuestionType::Choice) => "choice",
        Ok(pb::QuestionType::Integer) => "integer",
        Ok(pb::QuestionType::Decimal) => "decimal",
        Ok(pb::QuestionType::Date) => "date",
        _ => "text",
    }
}

fn text_in(texts: &[pb::LocalizedString], language: &str) -> String {
    texts
        .iter()
        .find(|t| t.language == language)
        .map(|t| t.text.replace(['|', '\n'], " "))
        .unwrap_or_default()
}

/// The lines of `questions` (what the editor starts from).
pub fn to_text(questions: &[pb::Question]) -> String {
    let mut out = String::new();
    for q in questions {
        out.push_str(&format!(
            "{} | {} | {} | {} | {}",
            q.link_id,
            type_name(q.r#type),
            if q.required { "required" } else { "optional" },
            text_in(&q.text, "ja"),
            text_in(&q.text, "en"),
        ));
        if !q.options.is_empty() {
            let options: Vec<String> = q
                .options
                .iter()
                .map(|o| {
                    format!(
                        "{}={}/{}",
                        o.code,
                        text_in(&o.label, "ja").replace([';', '/'], " "),
                        text_in(&o.label, "en").replace([';', '/'], " ")
                    )
                })
                .collect();
            out.push_str(" | ");
            out.push_str(&options.join("; "));
        }
        out.push('\n');
    }
    out
}

/// The questions of `text`, or its first mistake.
pub fn parse(text: &str) -> Result<Vec<pb::Question>, LineError> {
    let mut questions = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |en, ja| LineError { line, en, ja };
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split('|').map(str::trim).collect();
        if !(5..=6).contains(&fields.len()) {
            return Err(err(
                "write id | type | required | Japanese | English (| options)",
                "「ID | 種類 | 必須 | 日本語 | 英語 (| 選択肢)」の形で書いてください",
            ));
        }
        let r#type = match fields[1].to_ascii_lowercase().as_str() {
            "boolean" => pb::QuestionType::Boolean,
            "choice" => pb::QuestionType::Choice,
            "integer" => pb::QuestionType::Integer,
            "decimal" => pb::QuestionType::Decimal,
            "text" => pb::QuestionType::Text,
            "date" => pb::QuestionType::Date,
            _ => {
                return Err(err(
                    "the type is one of boolean, choice, integer, decimal, text, date",
                    "種類は boolean, choice, integer, decimal, text, date のいずれかです",
                ));
            }
        };
        let required = match fields[2].to_ascii_lowercase().as_str() {
            "required" | "必須" => true,
            "optional" | "任意" => false,
            _ => {
                return Err(err(
                    "the third field is required or optional",
                    "3番目の項目は required か optional です",
                ));
            }
        };
        if fields[0].is_empty() || fields[3].is_empty() || fields[4].is_empty() {
            return Err(err(
                "every question needs an id and its text in Japanese and English",
                "質問ごとにIDと日本語・英語の文が必要です",
            ));
        }
        let mut options = Vec::new();
        if let Some(list) = fields.get(5).filter(|l| !l.is_empty()) {
            if r#type != pb::QuestionType::Choice {
                return Err(err(
                    "only choice questions have options",
                    "選択肢があるのは choice の質問だけです",
                ));
            }
            for item in list.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let (code, labels) = item.split_once('=').ok_or_else(|| {
                    err(
                        "write each option as code=日本語/English",
                        "選択肢は code=日本語/English の形で書いてください",
                    )
                })?;
                let (ja, en) = labels.split_once('/').ok_or_else(|| {
                    err(
                        "write each option as code=日本語/English",
                        "選択肢は code=日本語/English の形で書いてください",
                    )
                })?;
                options.push(pb::ChoiceOption {
                    code: code.trim().into(),
                    label: vec![ls("ja", ja), ls("en", en)],
                });
            }
        }
        if r#type == pb::QuestionType::Choice && options.is_empty() {
            return Err(err(
                "a choice question needs its options",
                "choice の質問には選択肢が必要です",
            ));
        }
        questions.push(pb::Question {
            link_id: fields[0].into(),
            r#type: r#type as i32,
            required,
            text: vec![ls("ja", fields[3]), ls("en", fields[4])],
            options,
        });
    }
    if questions.is_empty() {
        return Err(LineError {
            line: 1,
            en: "write at least one question",
            ja: "質問を1つ以上書いてください",
        });
    }
    Ok(questions)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_become_questions_and_back() {
        let text = "# 問診\n\
                    smoker | boolean | required | たばこを吸いますか | Do you smoke?\n\
                    \n\
                    chest | choice | optional | 胸の痛み | Chest pain | never=ない/Never; rest=安静時/At rest\n";
        let q = parse(text).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].options.len(), 2);
        assert_eq!(q[1].options[1].label[1].text, "At rest");
        assert!(q[0].required && !q[1].required);
        assert_eq!(parse(&to_text(&q)).unwrap(), q);
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(
            parse("a | boolean | required | 日本語\n").unwrap_err().line,
            1
        );
        assert_eq!(
            parse("a | boolean | required | 日 | E\nb | colour | required | 日 | E\n")
                .unwrap_err()
                .line,
            2
        );
        assert!(parse("a | choice | required | 日 | E\n").is_err());
        assert!(parse("a | text | required | 日 | E | x=1/2\n").is_err());
        assert!(parse("\n# nothing\n").is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_questions_or_a_mistake(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }
    }
}

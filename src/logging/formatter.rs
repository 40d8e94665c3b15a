// STUB: replaced by the formatter branch
//! Formatter stub: just enough of `logging.Formatter` (`%(attr)s` of name,
//! message, levelname, levelno) to route and test the engine while the real
//! formatter is written on another branch. The real file wins on merge.

use super::level::level_name;
use super::record::LogRecord;

/// Python's three format styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `%(name)s`
    Percent,
    /// `{name}`
    Brace,
    /// `${name}`
    Dollar,
}

impl Style {
    /// `'%'`, `'{'` or `'$'`; anything else is Python's ValueError.
    pub fn parse(s: &str) -> Result<Style, FormatterError> {
        match s {
            "%" => Ok(Style::Percent),
            "{" => Ok(Style::Brace),
            "$" => Ok(Style::Dollar),
            _ => Err(FormatterError::Style(s.to_owned())),
        }
    }
}

/// A formatter that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FormatterError {
    /// Unknown style character.
    #[error("Style must be one of: %,{{,$")]
    Style(String),
    /// The format has no field.
    #[error("Invalid format '{0}' for '{1}' style")]
    Invalid(String, char),
}

/// A record that cannot be formatted.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Unknown attribute.
    #[error("Formatting field not found in record: {0}")]
    Field(String),
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Name,
    Message,
    Levelname,
    Levelno,
    Unknown(String),
}

/// `logging.Formatter` (stub).
#[derive(Debug, Clone)]
pub struct Formatter {
    pieces: Vec<Piece>,
}

impl Formatter {
    /// `logging.Formatter(fmt, datefmt, style, validate, defaults=...)`.
    pub fn new(
        fmt: Option<&str>,
        _datefmt: Option<&str>,
        style: Style,
        validate: bool,
        _defaults: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Formatter, FormatterError> {
        let fmt = fmt.unwrap_or(match style {
            Style::Percent => "%(message)s",
            Style::Brace => "{message}",
            Style::Dollar => "${message}",
        });
        let mut pieces = Vec::new();
        let mut rest = fmt;
        let mut fields = 0;
        while let Some(i) = rest.find("%(") {
            if i > 0 {
                pieces.push(Piece::Lit(rest[..i].to_owned()));
            }
            let after = &rest[i + 2..];
            match after.find(")s") {
                Some(j) => {
                    fields += 1;
                    pieces.push(match &after[..j] {
                        "name" => Piece::Name,
                        "message" => Piece::Message,
                        "levelname" => Piece::Levelname,
                        "levelno" => Piece::Levelno,
                        other => Piece::Unknown(other.to_owned()),
                    });
                    rest = &after[j + 2..];
                }
                None => {
                    pieces.push(Piece::Lit(rest[i..].to_owned()));
                    rest = "";
                }
            }
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_owned()));
        }
        if validate && style == Style::Percent && fields == 0 {
            return Err(FormatterError::Invalid(fmt.to_owned(), '%'));
        }
        Ok(Formatter { pieces })
    }

    /// `"%(levelname)s:%(name)s:%(message)s"`.
    pub fn basic() -> Formatter {
        Formatter {
            pieces: vec![
                Piece::Levelname,
                Piece::Lit(":".into()),
                Piece::Name,
                Piece::Lit(":".into()),
                Piece::Message,
            ],
        }
    }

    /// Append the formatted record to `out` (no terminator); `out` is unchanged on error.
    pub fn format(&mut self, record: &LogRecord<'_>, out: &mut String) -> Result<(), FormatError> {
        let start = out.len();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Name => out.push_str(record.name),
                Piece::Message => out.push_str(record.msg),
                Piece::Levelname => out.push_str(&level_name(record.levelno)),
                Piece::Levelno => out.push_str(&record.levelno.to_string()),
                Piece::Unknown(n) => {
                    out.truncate(start);
                    return Err(FormatError::Field(n.clone()));
                }
            }
        }
        Ok(())
    }
}

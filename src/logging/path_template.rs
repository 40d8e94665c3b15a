//! DynamicFileHandler's `filename`: a `str.format`-style template of record
//! attributes (`/var/log/remote/{hostname}/{appname}.log`), and the one rule
//! that keeps a peer from choosing where its lines are written.
//!
//! Owns: parsing the template (its fixed directory, the fields), rendering
//! a record's path, and sanitising every value put into it. Does not own:
//! opening files ([`super::handler::dynamic`]).
//!
//! The template's fixed part, up to the last `/` before the first field, is
//! an absolute directory (a relative one is resolved against the start-up
//! directory): every rendered path lies beneath it, and it is all the
//! writer's confinement grants. A field's value cannot leave it: `/`, NUL,
//! control characters and a leading `.` become `_`, a `.` after a `.`
//! becomes `_` (so `..` never appears), an empty value is `-`, and every
//! component of the rendered part is cut at 255 bytes (`NAME_MAX`).

use std::path::{Path, PathBuf};

use super::attrs::Attr;
use super::field_template::{pieces, Piece};
use super::level::level_name;
use super::record::LogRecord;

/// Longest file name component (Linux's `NAME_MAX`).
const NAME_MAX: usize = 255;

/// A field of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// The logger name (the peer's address unless `--logger-name` says otherwise).
    Name,
    Levelname,
    /// A syslog attribute (`--parse-syslog`).
    Attr(Attr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A parsed `filename` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The fixed directory every path lies beneath (absolute).
    base: PathBuf,
    /// The rest, relative to `base`.
    parts: Vec<Part>,
    /// The template as given, for messages.
    text: String,
}

/// Why a DynamicFileHandler's `filename` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("filename: {0}")]
    Syntax(String),
    #[error("filename has no {{field}}: use FileHandler for one file (fields: name, levelname, or a syslog attribute such as {{hostname}})")]
    NoField,
    #[error("filename: unknown field {{{0}}} (fields: name, levelname, and the syslog attributes: peer, hostname, appname, facility, ...)")]
    UnknownField(String),
    #[error("filename: '.' and '..' may not follow the first field")]
    DotAfterField,
    #[error("filename: the directory {0} is not absolute")]
    NotAbsolute(PathBuf),
}

impl PathTemplate {
    /// Parse `template`; a relative one is taken from `cwd`.
    pub fn parse(template: &str, cwd: &Path) -> Result<PathTemplate, TemplateError> {
        let parts = parse_parts(template)?;
        let first_field = parts
            .iter()
            .position(|p| matches!(p, Part::Field(_)))
            .ok_or(TemplateError::NoField)?;
        let mut prefix: String = parts[..first_field]
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Field(_) => "",
            })
            .collect();
        // The base directory ends at the last '/' of the fixed prefix.
        let cut = prefix.rfind('/').map_or(0, |i| i + 1);
        let rest_text = prefix.split_off(cut);
        let base_text = if prefix.is_empty() { "." } else { &prefix };
        let base = normalise(&cwd.join(base_text))?;
        let mut rest = Vec::new();
        if !rest_text.is_empty() {
            rest.push(Part::Text(rest_text));
        }
        rest.extend(parts[first_field..].iter().cloned());
        if rest
            .iter()
            .any(|p| matches!(p, Part::Text(t) if t.split('/').any(|c| c == ".." || c == ".")))
        {
            return Err(TemplateError::DotAfterField);
        }
        Ok(PathTemplate {
            base,
            parts: rest,
            text: template.to_owned(),
        })
    }

    /// The fixed directory every rendered path lies beneath.
    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it names a syslog attribute (which needs `--parse-syslog`).
    pub fn uses_syslog_attributes(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Field::Attr(_))))
    }

    /// The path for `record`, relative to [`PathTemplate::base`], into
    /// `out` (cleared). Never absolute, never holds `.` or `..` components.
    pub fn render(&self, record: &LogRecord<'_>, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => push_sanitised(&field_text(*f, record), out),
            }
        }
        cut_components(out);
    }
}

/// A field's text on `record`: `-` for a syslog attribute the record lacks.
fn field_text<'r>(f: Field, record: &'r LogRecord<'_>) -> std::borrow::Cow<'r, str> {
    match f {
        Field::Name => record.name.into(),
        Field::Levelname => level_name(record.levelno),
        Field::Attr(a) => record
            .attrs
            .map_or(super::attrs::NIL, |attrs| attrs.display(a))
            .into(),
    }
}

/// Append `value` so that it stays one file name component of its own
/// making: see the module doc.
fn push_sanitised(value: &str, out: &mut String) {
    if value.is_empty() {
        out.push('-');
        return;
    }
    let mut previous: Option<char> = None;
    for (i, c) in value.chars().enumerate() {
        let safe = match c {
            '/' | '\0' => '_',
            c if c.is_control() => '_',
            '.' if i == 0 || previous == Some('.') => '_',
            c => c,
        };
        out.push(safe);
        previous = Some(c);
    }
}

/// Cut every `/`-separated component of `path` to [`NAME_MAX`] bytes.
fn cut_components(path: &mut String) {
    if path.split('/').all(|c| c.len() <= NAME_MAX) {
        return;
    }
    let cut: Vec<&str> = path
        .split('/')
        .map(|c| {
            let mut end = c.len().min(NAME_MAX);
            while !c.is_char_boundary(end) {
                end -= 1;
            }
            &c[..end]
        })
        .collect();
    *path = cut.join("/");
}

/// The template's text and fields, each field one this handler knows.
fn parse_parts(template: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    for piece in pieces(template).map_err(|e| TemplateError::Syntax(e.to_string()))? {
        parts.push(match piece {
            Piece::Text(t) => Part::Text(t),
            Piece::Field(name) => Part::Field(match name.as_str() {
                "name" => Field::Name,
                "levelname" => Field::Levelname,
                n => Field::Attr(
                    Attr::from_name(n).ok_or_else(|| TemplateError::UnknownField(n.to_owned()))?,
                ),
            }),
        });
    }
    Ok(parts)
}

/// `path` without `.` and `..` (lexically, as `os.path.abspath`).
fn normalise(path: &Path) -> Result<PathBuf, TemplateError> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.is_absolute() {
        Ok(out)
    } else {
        Err(TemplateError::NotAbsolute(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::attrs::{Origin, SyslogAttrs};

    fn render(template: &str, peer: &str, line: &str) -> (PathBuf, String) {
        let t = PathTemplate::parse(template, Path::new("/srv")).expect("template");
        let attrs = SyslogAttrs::of(
            Origin {
                peer,
                transport: "tcp",
                listener: "tcp://0.0.0.0:514",
                tls_client_name: None,
            },
            line,
        );
        let record = LogRecord {
            name: peer,
            msg: line,
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: Some(&attrs),
        };
        let mut out = String::new();
        t.render(&record, &mut out);
        (t.base().to_path_buf(), out)
    }

    #[test]
    fn the_base_is_the_fixed_directory() {
        let (base, rel) = render(
            "/var/log/remote/{hostname}/{appname}.log",
            "10.0.0.1",
            "<13>Oct 11 22:14:15 web1 sshd[1]: x",
        );
        assert_eq!(base, Path::new("/var/log/remote"));
        assert_eq!(rel, "web1/sshd.log");
        let (base, rel) = render("logs/host-{name}.log", "10.0.0.1", "x");
        assert_eq!(base, Path::new("/srv/logs"));
        assert_eq!(rel, "host-10.0.0.1.log");
        let (base, rel) = render("{name}.log", "::1", "x");
        assert_eq!(
            (base.as_path(), rel.as_str()),
            (Path::new("/srv"), "::1.log")
        );
    }

    #[test]
    fn a_peer_cannot_leave_the_base() {
        for (host, want) in [
            ("../../etc/passwd", "___.__etc_passwd"),
            ("a/b", "a_b"),
            (".hidden", "_hidden"),
            ("..", "__"),
            ("a..b", "a._b"),
        ] {
            let line = format!("<13>1 - {host} app - - - x");
            let (_, rel) = render("/logs/{hostname}/x.log", "10.0.0.1", &line);
            assert_eq!(rel, format!("{want}/x.log"), "host {host:?}");
            assert!(!rel.split('/').any(|c| c == ".." || c == "."), "{rel}");
        }
        let (_, rel) = render(
            "/logs/{appname}.log",
            "10.0.0.1",
            "<13>Oct 11 22:14:15 h a\u{1}b: x",
        );
        assert_eq!(rel, "a_b.log");
        let long = "m".repeat(300);
        let (_, rel) = render(
            "/logs/{syslog_message}",
            "10.0.0.1",
            &format!("<13>Oct 11 22:14:15 h a: {long}"),
        );
        assert_eq!(rel, "m".repeat(255));
        let (_, rel) = render("/logs/{msgid}.log", "10.0.0.1", "not syslog");
        assert_eq!(rel, "-.log");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "/logs/fixed.log",
            "/logs/{nosuch}.log",
            "/logs/{name",
            "/logs/{name}}",
            "/l/{name}/../x",
        ] {
            assert!(PathTemplate::parse(bad, Path::new("/")).is_err(), "{bad}");
        }
    }
}

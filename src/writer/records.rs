//! How the writer turns a received line into a record: pysyslog's
//! `logging.getLogger(peer).info(line)`, or with `--parse-syslog` the same
//! line with its syslog attributes, its level from the severity
//! (`--level-from-severity`) and its logger named by a template
//! (`--logger-name`).
//!
//! Owns: those options, the logger-name template and the per-line step.
//! Does not own: parsing ([`crate::syslog`]) or the attributes' values
//! ([`crate::logging::attrs`]).

use serde::{Deserialize, Serialize};

use crate::ipc::origin;
use crate::logging::field_template::{pieces, Piece};
use crate::logging::{level, Attr, Origin, SyslogAttrs};

/// What the writer does with each line beyond pysyslog's record; the
/// default is pysyslog's exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOptions {
    /// `--parse-syslog`.
    pub parse_syslog: bool,
    /// `--level-from-severity`.
    pub level_from_severity: bool,
    /// `--logger-name`; `None`: the peer, pysyslog's name.
    pub logger_name: Option<NameTemplate>,
}

/// A `--logger-name` template: `str.format`-style fields naming record
/// attributes (`{facility}.{appname}`), with `{{` and `}}` for braces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Part {
    Text(String),
    /// An attribute (its name checked when the template was parsed).
    Field(Attr),
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--logger-name {template:?}: {why}")]
pub struct TemplateError {
    template: String,
    why: String,
}

impl std::str::FromStr for NameTemplate {
    type Err = TemplateError;

    fn from_str(template: &str) -> Result<NameTemplate, TemplateError> {
        let fail = |why: String| TemplateError {
            template: template.to_owned(),
            why,
        };
        let mut parts = Vec::new();
        for piece in pieces(template).map_err(fail)? {
            match piece {
                Piece::Text(t) => parts.push(Part::Text(t)),
                Piece::Field(name) => {
                    if let Some(attr) = Attr::from_name(&name) {
                        parts.push(Part::Field(attr));
                        continue;
                    }
                    let known: Vec<&str> = crate::logging::attrs::ATTRS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect();
                    return Err(fail(format!(
                        "unknown field {{{name}}} (fields: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        if parts.is_empty() {
            return Err(fail("empty (the default is {peer})".into()));
        }
        Ok(NameTemplate { parts })
    }
}

impl NameTemplate {
    /// Whether it names only the peer (pysyslog's logger name).
    pub fn is_peer(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Field(Attr::Peer)])
    }

    /// The logger name for a record with `attrs`, into `out` (cleared).
    /// A field's characters that would break the hierarchy or an output
    /// line (whitespace and control characters) become `_`; its own dots
    /// stay, so an address or a domain name nests by its parts. An empty
    /// field is `-`. A name that would be the collector's own (`pysyslog`,
    /// `pysyslog.*`) or the root logger's gets a leading `_`: a sender must
    /// not log as the collector, nor past the logger hierarchy.
    pub fn render(&self, attrs: &SyslogAttrs<'_>, out: &mut String) {
        self.render_fields(attrs, out);
        let own = out == "pysyslog" || out.starts_with("pysyslog.") || out == "root";
        if own || out.is_empty() {
            out.insert(0, '_');
        }
    }

    fn render_fields(&self, attrs: &SyslogAttrs<'_>, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(attr) => {
                    let start = out.len();
                    push_clean(attrs.display(*attr), out);
                    if out.len() == start {
                        out.push('-');
                    }
                }
            }
        }
    }
}

fn push_clean(text: &str, out: &mut String) {
    for c in text.chars() {
        out.push(if c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        });
    }
}

/// Makes records from lines with the options; keeps its buffers.
#[derive(Debug, Default)]
pub struct RecordMaker {
    options: RecordOptions,
    name: String,
    /// Lines parsed since the last [`RecordMaker::take_tally`]: RFC 5424,
    /// RFC 3164, neither.
    tally: [u64; 3],
}

/// The parts of a record that depend on the line.
pub struct Made<'m> {
    pub name: &'m str,
    pub levelno: i32,
}

impl RecordMaker {
    pub fn new(options: RecordOptions) -> RecordMaker {
        RecordMaker {
            options,
            name: String::new(),
            tally: [0; 3],
        }
    }

    /// Whether lines get syslog attributes.
    pub fn parses(&self) -> bool {
        self.options.parse_syslog
    }

    /// The origin of `peer`'s lines from its encoded form (done once per
    /// run of a peer's lines, not per line).
    pub fn origin<'a>(peer: &'a str, origin: &'a [u8]) -> Origin<'a> {
        let nil = crate::logging::attrs::NIL;
        let text = |b: &'a [u8]| std::str::from_utf8(b).unwrap_or(nil);
        let decoded = origin::decode(origin);
        Origin {
            peer,
            transport: decoded.map_or(nil, |o| text(o.transport)),
            listener: decoded.map_or(nil, |o| text(o.listener)),
            tls_client_name: decoded.and_then(|o| o.client).map(text),
        }
    }

    /// Lines parsed since the last call, by format (RFC 5424, RFC 3164, neither).
    pub fn take_tally(&mut self) -> [u64; 3] {
        std::mem::take(&mut self.tally)
    }

    /// The logger name and level of a line with `attrs`.
    pub fn make<'m>(&'m mut self, attrs: &SyslogAttrs<'m>) -> Made<'m> {
        let format = match attrs.header.as_ref().map(|h| h.format) {
            Some(crate::syslog::Format::Rfc5424) => 0,
            Some(crate::syslog::Format::Rfc3164) => 1,
            None => 2,
        };
        self.tally[format] += 1;
        let levelno = match (&attrs.header, self.options.level_from_severity) {
            (Some(h), true) => crate::syslog::names::level_of_severity(h.severity()),
            _ => level::INFO,
        };
        match &self.options.logger_name {
            Some(t) if !t.is_peer() => {
                t.render(attrs, &mut self.name);
                Made {
                    name: &self.name,
                    levelno,
                }
            }
            _ => Made {
                name: attrs.origin.peer,
                levelno,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(line: &str) -> SyslogAttrs<'_> {
        SyslogAttrs::of(
            Origin {
                peer: "10.0.0.1",
                transport: "tcp",
                listener: "tcp://0.0.0.0:514",
                tls_client_name: None,
            },
            line,
        )
    }

    #[test]
    fn templates_parse_and_render() {
        let t: NameTemplate = "{facility}.{appname}".parse().expect("template");
        let mut out = String::new();
        t.render(&attrs("<38>Oct 11 22:14:15 h sshd[42]: x"), &mut out);
        assert_eq!(out, "auth.sshd");
        t.render(&attrs("not syslog"), &mut out);
        assert_eq!(out, "-.-");
        let t: NameTemplate = "host.{hostname}.{{x}}.{pri}".parse().expect("template");
        t.render(&attrs("<38>Oct 11 22:14:15 h.example sshd: x"), &mut out);
        assert_eq!(out, "host.h.example.{x}.38");
        assert!("{peer}".parse::<NameTemplate>().expect("peer").is_peer());
        let t: NameTemplate = "{appname}".parse().expect("template");
        for (tag, name) in [
            ("pysyslog", "_pysyslog"),
            ("pysyslog.writer", "_pysyslog.writer"),
            ("root", "_root"),
            ("pysyslogd", "pysyslogd"),
        ] {
            t.render(&attrs(&format!("<14>{tag}: x")), &mut out);
            assert_eq!(out, name, "a sender's {tag:?}");
        }
        for bad in ["", "{nope}", "a}b", "{message}"] {
            assert!(bad.parse::<NameTemplate>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_field_cannot_break_the_name() {
        let t: NameTemplate = "{appname}".parse().expect("template");
        let mut out = String::new();
        t.render(&attrs("<14>my\u{1b}app: x"), &mut out);
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }

    #[test]
    fn levels_follow_the_severity_only_when_asked() {
        let line = "<35>Oct 11 22:14:15 h su: x";
        let a = attrs(line);
        let mut plain = RecordMaker::new(RecordOptions {
            parse_syslog: true,
            ..RecordOptions::default()
        });
        assert_eq!(plain.make(&a).levelno, level::INFO);
        let mut by_severity = RecordMaker::new(RecordOptions {
            parse_syslog: true,
            level_from_severity: true,
            logger_name: None,
        });
        assert_eq!(by_severity.make(&a).levelno, level::ERROR);
        assert_eq!(by_severity.make(&a).name, "10.0.0.1");
        assert_eq!(by_severity.make(&attrs("no pri")).levelno, level::INFO);
    }
}

//! RFC 5424 STRUCTURED-DATA (§6.3): finding where it ends in a line, and
//! splitting it into elements and parameters.
//!
//! Owns: the SD grammar and the value escapes. Does not own: where the SD
//! starts or what follows it in a line (the header parser decides), nor what
//! the collector makes of the parameters.
//!
//! The grammar is the RFC's, strictly, with one leniency:
//! - `[` SD-ID *(SP PARAM-NAME `=` `"` PARAM-VALUE `"`) `]`, one or more
//!   elements with nothing between them; exactly one SP before each
//!   parameter and none before `]`.
//! - SD-ID and PARAM-NAME are 1 to 32 printable ASCII characters other than
//!   `=`, SP, `]` and `"`.
//! - PARAM-VALUE runs to the first `"` that is not escaped. An unescaped `]`
//!   inside it is accepted (the RFC says it MUST be escaped, but the closing
//!   quote already says where the value ends, and rsyslog accepts it too).
//! - Escapes (§6.3.3): `\"`, `\\` and `\]` stand for the character after the
//!   backslash; a backslash before anything else is kept together with that
//!   character (so `\n` stays two characters, unlike syslog_loose).
//!
//! One scanner ([`walk`]) serves both the header parser (which only needs
//! the end, and allocates nothing) and [`elements`].

use std::borrow::Cow;
use std::ops::Range;

/// The RFC's SD-NAME length limit (§6.3.2, §6.3.3).
const NAME_MAX: usize = 32;

/// One SD-ELEMENT: its SD-ID and its parameters in order, values with RFC 5424 §6.3.3's escapes undone (only \" \\ \] ; any other backslash is kept with the character after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<'a> {
    pub id: &'a str,
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

/// What [`walk`] reports, as byte ranges of the scanned text.
enum Part {
    Element(Range<usize>),
    /// A parameter's name and its raw value (escapes intact, quotes excluded).
    Param(Range<usize>, Range<usize>),
}

/// Parse the raw STRUCTURED-DATA text (as in Header::structured_data). None if malformed.
///
/// The NILVALUE `-` is well-formed and has no elements.
pub fn elements(raw: &str) -> Option<Vec<Element<'_>>> {
    if raw == "-" {
        return Some(Vec::new());
    }
    let mut out: Vec<Element<'_>> = Vec::new();
    let mut failed = false;
    let end = walk(raw.as_bytes(), 0, |part| match part {
        Part::Element(id) => match raw.get(id) {
            Some(id) => out.push(Element {
                id,
                params: Vec::new(),
            }),
            None => failed = true,
        },
        Part::Param(name, value) => match (raw.get(name), raw.get(value), out.last_mut()) {
            (Some(name), Some(value), Some(element)) => {
                element.params.push((name, unescape(value)))
            }
            _ => failed = true,
        },
    })?;
    (end == raw.len() && !failed).then_some(out)
}

/// Where the STRUCTURED-DATA that starts at `start` (a `[`) ends: the index
/// just after its last `]`. None if it is malformed before that.
pub(crate) fn end_of(b: &[u8], start: usize) -> Option<usize> {
    walk(b, start, |_| {})
}

/// Scans SD-ELEMENTs from `start` for as long as they follow each other and
/// returns the index after the last one's `]`, or None if one is malformed.
fn walk(b: &[u8], start: usize, mut on: impl FnMut(Part)) -> Option<usize> {
    let mut pos = start;
    while b.get(pos) == Some(&b'[') {
        let id_end = name_end(b, pos + 1)?;
        on(Part::Element(pos + 1..id_end));
        pos = id_end;
        loop {
            match b.get(pos) {
                Some(b']') => break,
                Some(b' ') => {
                    let (name, value) = param(b, pos + 1)?;
                    pos = value.end + 1;
                    on(Part::Param(name, value));
                }
                _ => return None,
            }
        }
        pos += 1;
    }
    (pos > start).then_some(pos)
}

/// One `NAME="VALUE"` from `at`: the name's range and the raw value's range
/// (the closing quote is at the value's end).
fn param(b: &[u8], at: usize) -> Option<(Range<usize>, Range<usize>)> {
    let name_stop = name_end(b, at)?;
    if b.get(name_stop) != Some(&b'=') || b.get(name_stop + 1) != Some(&b'"') {
        return None;
    }
    let value_start = name_stop + 2;
    let mut i = value_start;
    loop {
        match *b.get(i)? {
            b'"' => return Some((at..name_stop, value_start..i)),
            // Whatever follows a backslash cannot close the value; stepping
            // over it may land inside a multi-byte character, whose
            // continuation bytes are never `"` or `\`.
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The end of an SD-NAME starting at `at`.
fn name_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    while let Some(&c) = b.get(i) {
        if !(0x21..=0x7e).contains(&c) || matches!(c, b'=' | b']' | b'"') {
            break;
        }
        i += 1;
    }
    (i > at && i - at <= NAME_MAX).then_some(i)
}

/// A raw PARAM-VALUE with §6.3.3's three escapes undone; borrowed when there
/// is nothing to undo.
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some(e @ ('"' | '\\' | ']')) => {
                out.push(e);
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(e: &'a Element<'a>) -> Vec<(&'a str, &'a str)> {
        e.params.iter().map(|(n, v)| (*n, v.as_ref())).collect()
    }

    #[test]
    fn rfc_examples() {
        let raw = r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#;
        let els = elements(raw).unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].id, "exampleSDID@32473");
        assert_eq!(
            params(&els[0]),
            [
                ("iut", "3"),
                ("eventSource", "Application"),
                ("eventID", "1011")
            ]
        );
        assert_eq!(els[1].id, "examplePriority@32473");
        assert_eq!(params(&els[1]), [("class", "high")]);
        assert!(matches!(els[1].params[0].1, Cow::Borrowed(_)));
    }

    #[test]
    fn element_without_params_and_nil() {
        let els = elements("[b@2]").unwrap();
        assert_eq!(els[0].id, "b@2");
        assert!(els[0].params.is_empty());
        assert_eq!(elements("-"), Some(Vec::new()));
    }

    #[test]
    fn escapes() {
        let els = elements(r#"[a x="q\"b\\s\]e\n" y="]" z="é\é"]"#).unwrap();
        assert_eq!(
            params(&els[0]),
            [("x", "q\"b\\s]e\\n"), ("y", "]"), ("z", "é\\é")]
        );
        assert!(matches!(els[0].params[0].1, Cow::Owned(_)));
    }

    #[test]
    fn malformed() {
        for raw in [
            "",
            "[",
            "[]",
            "[a",
            "[a ]",
            "[a  x=\"1\"]",
            "[a x=1]",
            "[a x=\"1]",
            "[a x=\"1\\\"]",
            "[a x=\"1\"",
            "[a x=\"1\"]x",
            "[a x=\"1\"] [b]",
            "[a=b]",
            "[a\"]",
            "[a\tb]",
            "[ab x=\"1\"y=\"2\"]",
            "[abcdefghijabcdefghijabcdefghijabc]",
            "[é]",
            "--",
        ] {
            assert_eq!(elements(raw), None, "{raw:?}");
        }
        assert!(elements("[abcdefghijabcdefghijabcdefghijab]").is_some());
    }

    #[test]
    fn end_of_stops_after_the_last_element() {
        let line = br#"x [a][b c="]"] msg"#;
        assert_eq!(end_of(line, 2), Some(14));
        assert_eq!(end_of(b"[a] [b]", 0), Some(3));
        assert_eq!(end_of(b"[a", 0), None);
        assert_eq!(end_of(b"x", 0), None);
    }
}

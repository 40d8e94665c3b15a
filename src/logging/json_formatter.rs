//! python-json-logger 4.2's `pythonjsonlogger.json.JsonFormatter` (on CPython
//! 3.11) for the records pysyslog's writer makes: one JSON object per record,
//! byte for byte what `json.dumps` prints.
//!
//! Owns: which fields `fmt` names (the package's regular expressions, not
//! logging's), the key order of `add_fields` (defaults, `fmt` fields, static
//! fields, record extras in `record.__dict__` order, the timestamp, renamed
//! fields kept when missing), `RESERVED_ATTRS`, the encoder (`json.dumps` with
//! the package's `JsonEncoder`: separators, `ensure_ascii`, `indent`, float
//! `repr`, `NaN`/`Infinity`) and the timestamp's `isoformat`. Does not own:
//! reading the arguments from a configuration
//! (`config/json_formatter_args.rs`), the record's attribute values or
//! `asctime` (the [`Formatter`](super::formatter::Formatter) this is a mode
//! of resolves names and hands values in, through the source type `S`).
//!
//! A record's keys depend only on the formatter and on whether the record
//! has syslog attributes, so both key sequences are laid out once, at
//! construction, as literal text (keys, separators, the static and default
//! values already encoded) between the values that change per record.

use std::fmt::Write as _;

use serde_json::{Map, Value as Json};

use super::attrs::ATTRS;
use super::pyfmt::error::FormatError;
use super::pyfmt::pyvalue::{float_repr, repr_of, Value};
use super::pyfmt::validate;
use super::record::RECORD_KEYS;

/// `pythonjsonlogger.core.RESERVED_ATTRS` on Python 3.11 (no `taskName`).
pub(crate) const RESERVED_ATTRS: [&str; 22] = [
    "args",
    "asctime",
    "created",
    "exc_info",
    "exc_text",
    "filename",
    "funcName",
    "levelname",
    "levelno",
    "lineno",
    "module",
    "msecs",
    "message",
    "msg",
    "name",
    "pathname",
    "process",
    "processName",
    "relativeCreated",
    "stack_info",
    "thread",
    "threadName",
];

/// How `fmt` names the fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonFmt {
    /// A format string (`None`: logging's default), its `style` and `validate`.
    Text {
        fmt: Option<String>,
        style: String,
        validate: bool,
    },
    /// A list of field names; `style` and `validate` are then ignored.
    Names(Vec<String>),
}

/// The constructor's arguments, as python-json-logger keeps them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonOptions {
    pub fmt: JsonFmt,
    pub datefmt: Option<String>,
    pub prefix: String,
    /// `rename_fields`, in the dict's order.
    pub rename_fields: Vec<(String, String)>,
    pub rename_fields_keep_missing: bool,
    pub static_fields: Map<String, Json>,
    /// `None`: [`RESERVED_ATTRS`].
    pub reserved_attrs: Option<Vec<String>>,
    /// The timestamp's key (`timestamp=True` is `"timestamp"`), if any.
    pub timestamp: Option<String>,
    pub defaults: Map<String, Json>,
    pub ensure_ascii: bool,
    /// `json_indent` as the text of one level (`None`: no newlines).
    pub indent: Option<String>,
}

impl Default for JsonOptions {
    fn default() -> JsonOptions {
        JsonOptions {
            fmt: JsonFmt::Text {
                fmt: None,
                style: "%".into(),
                validate: true,
            },
            datefmt: None,
            prefix: String::new(),
            rename_fields: Vec::new(),
            rename_fields_keep_missing: false,
            static_fields: Map::new(),
            reserved_attrs: None,
            timestamp: None,
            defaults: Map::new(),
            ensure_ascii: true,
            indent: None,
        }
    }
}

/// `BaseJsonFormatter.__init__` then `parse()`: the field names `fmt`
/// names, or Python's ValueError message.
pub(crate) fn required_fields(fmt: &JsonFmt) -> Result<Vec<String>, String> {
    let (fmt, style, validate) = match fmt {
        JsonFmt::Names(names) => return Ok(names.clone()),
        JsonFmt::Text {
            fmt,
            style,
            validate,
        } => (fmt.as_deref(), style.as_str(), *validate),
    };
    let default = match style {
        "%" => "%(message)s",
        "{" => "{message}",
        "$" => "${message}",
        "," => return Ok(fmt.map(comma_names).unwrap_or_default()),
        _ if !validate => {
            return match fmt {
                None => Ok(Vec::new()),
                Some(_) => Err(format!("Style {} is not supported", repr_of(style))),
            }
        }
        _ => return Err("Style must be one of: '%{$,'".into()),
    };
    // `PercentStyle(fmt)`: `fmt or default_format`.
    let text = fmt.filter(|f| !f.is_empty()).unwrap_or(default);
    if validate {
        match style {
            "%" if !validate::percent(text) => {
                return Err(format!("Invalid format '{text}' for '%' style"))
            }
            "{" => validate::brace(text).map_err(|e| e.0)?,
            "$" => validate::dollar(text).map_err(|e| e.0)?,
            _ => {}
        }
    }
    Ok(match style {
        "%" => lazy_groups(text, "%(", ')'),
        "{" => lazy_groups(text, "{", '}'),
        _ => dollar_names(text),
    })
}

/// `re.findall(OPEN (.+?) CLOSE, text)`: `.` stops at a newline, and the
/// group takes at least one character.
fn lazy_groups(text: &str, open: &str, close: char) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(p) = text[at..].find(open) {
        let start = at + p + open.len();
        match group_end(&text[start..], close) {
            Some(len) => {
                names.push(text[start..start + len].to_owned());
                at = start + len + close.len_utf8();
            }
            // `open` starts with an ASCII character: one byte on.
            None => at += p + 1,
        }
    }
    names
}

/// The length of `.+?` before `close` at the start of `s`.
fn group_end(s: &str, close: char) -> Option<usize> {
    let mut chars = s.char_indices();
    match chars.next() {
        None | Some((_, '\n')) => return None,
        Some(_) => {}
    }
    for (i, c) in chars {
        if c == close {
            return Some(i);
        }
        if c == '\n' {
            return None;
        }
    }
    None
}

/// `\$(?:\$|\{(?P<braced>.+?)\}|(?P<named>[_a-z][_a-z0-9]*))` with `re.I`:
/// the braced or named groups, in order.
fn dollar_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(p) = text[at..].find('$') {
        let start = at + p + 1;
        let rest = &text[start..];
        if rest.starts_with('$') {
            at = start + 1;
            continue;
        }
        if let Some(len) = rest.strip_prefix('{').and_then(|r| group_end(r, '}')) {
            names.push(rest[1..1 + len].to_owned());
            at = start + len + 2;
            continue;
        }
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if ident_char(c, true) => {
                let end = chars
                    .find(|&(_, c)| !ident_char(c, false))
                    .map_or(rest.len(), |(i, _)| i);
                names.push(rest[..end].to_owned());
                at = start + end;
            }
            _ => at = start,
        }
    }
    names
}

/// `[_a-z]` (`first`) or `[_a-z0-9]` under `re.I`, which also folds
/// `İ` (U+0130), `ı` (U+0131), `ſ` (U+017F) and the Kelvin sign (U+212A).
fn ident_char(c: char, first: bool) -> bool {
    c == '_'
        || c.is_ascii_alphabetic()
        || (!first && c.is_ascii_digit())
        || matches!(c, '\u{130}' | '\u{131}' | '\u{17f}' | '\u{212a}')
}

/// `style=","`: `[f.strip() for f in fmt.split(",") if f.strip()]`.
fn comma_names(fmt: &str) -> Vec<String> {
    fmt.split(',')
        .map(|f| f.trim_matches(py_space))
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `str.isspace` of one character (Unicode White_Space plus U+001C-U+001F).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `json.dumps` with the package's `JsonEncoder`: how strings, numbers and
/// containers are written.
#[derive(Debug, Clone)]
struct Encoder {
    ascii: bool,
    indent: Option<String>,
}

impl Encoder {
    /// The separator before an item at `level` (the first one follows `{`/`[`).
    fn item_sep(&self, first: bool, level: usize, out: &mut String) {
        if !first {
            out.push(',');
        }
        match &self.indent {
            Some(ind) => {
                out.push('\n');
                for _ in 0..level {
                    out.push_str(ind);
                }
            }
            None if first => {}
            None => out.push(' '),
        }
    }

    /// What closes a non-empty container whose items are at `level`.
    fn close(&self, level: usize, bracket: char, out: &mut String) {
        if let Some(ind) = &self.indent {
            out.push('\n');
            for _ in 1..level {
                out.push_str(ind);
            }
        }
        out.push(bracket);
    }

    /// A JSON string (`encode_basestring_ascii` or `encode_basestring`).
    fn string(&self, s: &str, out: &mut String) {
        out.reserve(s.len() + 2);
        out.push('"');
        let bytes = s.as_bytes();
        let (mut run, mut i) = (0, 0);
        while i < bytes.len() {
            let b = bytes[i];
            let plain = b >= 0x20 && b != b'"' && b != b'\\' && (!self.ascii || b < 0x7f);
            if plain {
                i += 1;
                continue;
            }
            out.push_str(&s[run..i]);
            if b < 0x80 {
                escape_ascii(b, out);
                i += 1;
            } else {
                // Only with ensure_ascii: `i` is at a character's start.
                let c = s[i..].chars().next().unwrap_or('\u{fffd}');
                escape_unicode(c, out);
                i += c.len_utf8();
            }
            run = i;
        }
        out.push_str(&s[run..]);
        out.push('"');
    }

    /// A value `json.load` made (a default, a static field, structured data)
    /// as an item at `level`.
    fn json(&self, v: &Json, level: usize, out: &mut String) {
        match v {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(n) => number(n, out),
            Json::String(s) => self.string(s, out),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.item_sep(i == 0, level + 1, out);
                    self.json(item, level + 1, out);
                }
                self.close(level + 1, ']', out);
            }
            Json::Object(map) if map.is_empty() => out.push_str("{}"),
            Json::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    self.item_sep(i == 0, level + 1, out);
                    self.string(k, out);
                    out.push_str(": ");
                    self.json(item, level + 1, out);
                }
                self.close(level + 1, '}', out);
            }
        }
    }

    /// A record attribute's value as an item at `level`.
    fn value(&self, v: &Value<'_>, level: usize, out: &mut String) {
        match v {
            Value::Str(s) => self.string(s, out),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Float(x) => float(*x, out),
            Value::None => out.push_str("null"),
            Value::EmptyTuple => out.push_str("[]"),
            Value::Json(j) => self.json(j, level, out),
            Value::Mapping { map, .. } => self.json(map, level, out),
        }
    }
}

fn escape_ascii(b: u8, out: &mut String) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        _ => {
            let _ = write!(out, "\\u{b:04x}");
        }
    }
}

/// `\uXXXX` (lower-case hex), astral characters as a surrogate pair.
fn escape_unicode(c: char, out: &mut String) {
    let mut units = [0u16; 2];
    for u in c.encode_utf16(&mut units) {
        let _ = write!(out, "\\u{u:04x}");
    }
}

/// `float.__repr__`, with `NaN`, `Infinity`, `-Infinity` (`allow_nan`).
fn float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        out.push_str(&float_repr(x));
    }
}

/// A JSON number as `json.load` then `json.dumps` print it: an integer of
/// any size as its digits (`-0` is 0), anything else as a float.
fn number(n: &serde_json::Number, out: &mut String) {
    let text = n.as_str();
    if !text.contains(['.', 'e', 'E']) {
        out.push_str(if text == "-0" { "0" } else { text });
    } else {
        float(text.parse::<f64>().unwrap_or(f64::NAN), out);
    }
}

/// `datetime.fromtimestamp(created, tz=timezone.utc).isoformat()`.
fn iso_utc(created: f64, out: &mut String) -> Result<(), FormatError> {
    if created.is_nan() {
        return Err(FormatError::Value(
            "Invalid value NaN (not a number)".into(),
        ));
    }
    // _PyTime_DoubleToDenominator, rounding half to even.
    let mut secs = created.trunc();
    let mut us = ((created - secs) * 1e6).round_ties_even();
    if us >= 1e6 {
        us -= 1e6;
        secs += 1.0;
    } else if us < 0.0 {
        us += 1e6;
        secs -= 1.0;
    }
    if !(-9.2e18..9.2e18).contains(&secs) {
        return Err(FormatError::Overflow(
            "timestamp out of range for platform time_t".into(),
        ));
    }
    let secs = secs as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(FormatError::Value(format!("year {y} is out of range")));
    }
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if us != 0.0 {
        let _ = write!(out, ".{:06}", us as u32);
    }
    out.push_str("+00:00");
    Ok(())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One part of a record's text.
#[derive(Debug, Clone)]
enum Piece<S> {
    /// Keys, separators and values that are the same for every record.
    Lit(String),
    /// A record attribute's value.
    Field(S),
    Timestamp,
}

/// What `add_fields` puts under a key.
enum Slot<S> {
    Record(S),
    Fixed(Json),
    Timestamp,
}

/// `log_data`: a key written again keeps its first position.
struct LogData<S>(Vec<(String, Slot<S>)>);

impl<S> LogData<S> {
    fn set(&mut self, key: &str, slot: Slot<S>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = slot,
            None => self.0.push((key.to_owned(), slot)),
        }
    }
}

/// A JsonFormatter, compiled: the pieces of a record without syslog
/// attributes, and of one with them.
#[derive(Debug, Clone)]
pub(crate) struct JsonSpec<S> {
    plain: Vec<Piece<S>>,
    with_attrs: Vec<Piece<S>>,
    enc: Encoder,
}

impl<S: Clone> JsonSpec<S> {
    /// Lay out the keys. `fields` are [`required_fields`]; `resolve(name,
    /// with_attrs)` is the source of `record.__dict__[name]` (`None`: the
    /// record has no such attribute).
    pub(crate) fn new(
        opts: &JsonOptions,
        fields: &[String],
        resolve: &dyn Fn(&str, bool) -> Option<S>,
    ) -> JsonSpec<S> {
        let enc = Encoder {
            ascii: opts.ensure_ascii,
            indent: opts.indent.clone(),
        };
        let lay_out = |with_attrs| {
            let data = add_fields(opts, fields, &|k: &str| resolve(k, with_attrs), with_attrs);
            pieces(&enc, &opts.prefix, data)
        };
        JsonSpec {
            plain: lay_out(false),
            with_attrs: lay_out(true),
            enc,
        }
    }

    /// Append the record's text. `has_attrs`: the record has syslog
    /// attributes; `value` gives an attribute's value. On error `out` is
    /// unchanged.
    pub(crate) fn render<'a>(
        &'a self,
        has_attrs: bool,
        created: f64,
        value: &dyn Fn(&'a S) -> Result<Value<'a>, FormatError>,
        out: &mut String,
    ) -> Result<(), FormatError> {
        let start = out.len();
        let pieces = if has_attrs {
            &self.with_attrs
        } else {
            &self.plain
        };
        for piece in pieces {
            let done = match piece {
                Piece::Lit(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Piece::Field(src) => value(src).map(|v| self.enc.value(&v, 1, out)),
                Piece::Timestamp => {
                    out.push('"');
                    let r = iso_utc(created, out);
                    out.push('"');
                    r
                }
            };
            if let Err(e) = done {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// `BaseJsonFormatter.add_fields` for a record with (or without) syslog
/// attributes, by where each value comes from.
fn add_fields<S>(
    opts: &JsonOptions,
    fields: &[String],
    get: &dyn Fn(&str) -> Option<S>,
    with_attrs: bool,
) -> LogData<S> {
    let rename = |k: &str| -> String {
        opts.rename_fields
            .iter()
            .find(|(from, _)| from == k)
            .map_or(k, |(_, to)| to.as_str())
            .to_owned()
    };
    let dict_get = |k: &str| get(k).map_or(Slot::Fixed(Json::Null), Slot::Record);
    let mut data = LogData(Vec::new());
    for (k, v) in &opts.defaults {
        data.set(&rename(k), Slot::Fixed(v.clone()));
    }
    for f in fields {
        data.set(&rename(f), dict_get(f));
    }
    for (k, v) in &opts.static_fields {
        data.set(&rename(k), Slot::Fixed(v.clone()));
    }
    let reserved = |k: &str| match &opts.reserved_attrs {
        Some(list) => list.iter().any(|r| r == k),
        None => RESERVED_ATTRS.contains(&k),
    };
    let uses_time = fields.iter().any(|f| f == "asctime");
    // `record.__dict__`: LogRecord's attributes, `extra=`, then `message`
    // and `asctime`, which `format` sets.
    let (init, set_by_format) = RECORD_KEYS.split_at(RECORD_KEYS.len() - 2);
    let extras = ATTRS.iter().map(|(n, _)| *n).filter(|_| with_attrs);
    let by_format = set_by_format
        .iter()
        .copied()
        .filter(|k| *k != "asctime" || uses_time);
    for k in init.iter().copied().chain(extras).chain(by_format) {
        if !fields.iter().any(|f| f == k) && !reserved(k) && !k.starts_with('_') {
            data.set(&rename(k), dict_get(k));
        }
    }
    if let Some(key) = &opts.timestamp {
        data.set(&rename(key), Slot::Timestamp);
    }
    if opts.rename_fields_keep_missing {
        for (_, to) in &opts.rename_fields {
            if !data.0.iter().any(|(k, _)| k == to) {
                data.set(to, Slot::Fixed(Json::Null));
            }
        }
    }
    data
}

/// The record's text as literal pieces around the values that change.
fn pieces<S>(enc: &Encoder, prefix: &str, data: LogData<S>) -> Vec<Piece<S>> {
    let mut out = Vec::new();
    let mut lit = String::from(prefix);
    if data.0.is_empty() {
        lit.push_str("{}");
        out.push(Piece::Lit(lit));
        return out;
    }
    lit.push('{');
    for (i, (key, slot)) in data.0.into_iter().enumerate() {
        enc.item_sep(i == 0, 1, &mut lit);
        enc.string(&key, &mut lit);
        lit.push_str(": ");
        let piece = match slot {
            Slot::Fixed(v) => {
                enc.json(&v, 1, &mut lit);
                continue;
            }
            Slot::Record(src) => Piece::Field(src),
            Slot::Timestamp => Piece::Timestamp,
        };
        out.push(Piece::Lit(std::mem::take(&mut lit)));
        out.push(piece);
    }
    enc.close(1, '}', &mut lit);
    out.push(Piece::Lit(lit));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(fmt: &str, style: &str) -> JsonFmt {
        JsonFmt::Text {
            fmt: Some(fmt.into()),
            style: style.into(),
            validate: false,
        }
    }

    #[test]
    fn fields_follow_the_packages_regular_expressions() {
        let f = |fmt: &str, style: &str| required_fields(&text(fmt, style)).unwrap();
        assert_eq!(f("%(a)s %(b)-5d %()x) %(c\n)s", "%"), ["a", "b", ")x"]);
        assert_eq!(f("{a} {b:>8} {{x}} {c\n}", "{"), ["a", "b:>8", "{x"]);
        assert_eq!(f("$a ${b} $$c $1 ${x\n} $_y9z", "$"), ["a", "b", "_y9z"]);
        assert_eq!(f("\u{17f}x$\u{212a}k", "$"), ["\u{212a}k"]);
        assert_eq!(f(" a, b ,,\u{1c}c\u{1f} ", ","), ["a", "b", "c"]);
        assert_eq!(f("", "%"), ["message"]);
        let none = JsonFmt::Text {
            fmt: None,
            style: "x".into(),
            validate: false,
        };
        assert_eq!(required_fields(&none).unwrap(), Vec::<String>::new());
        assert_eq!(
            required_fields(&text("a", "x")).unwrap_err(),
            "Style 'x' is not supported"
        );
        let strict = JsonFmt::Text {
            fmt: Some("%(message)".into()),
            style: "%".into(),
            validate: true,
        };
        assert_eq!(
            required_fields(&strict).unwrap_err(),
            "Invalid format '%(message)' for '%' style"
        );
    }

    #[test]
    fn strings_escape_as_json_dumps() {
        let s = |ascii: bool, x: &str| {
            let mut out = String::new();
            Encoder {
                ascii,
                indent: None,
            }
            .string(x, &mut out);
            out
        };
        let x = "a\"b\\c/\u{0}\u{8}\u{c}\n\r\t\u{1f}\u{7f}\u{e9}\u{2028}\u{1f600}";
        assert_eq!(
            s(true, x),
            r#""a\"b\\c/\u0000\b\f\n\r\t\u001f\u007f\u00e9\u2028\ud83d\ude00""#
        );
        assert_eq!(
            s(false, x),
            "\"a\\\"b\\\\c/\\u0000\\b\\f\\n\\r\\t\\u001f\u{7f}\u{e9}\u{2028}\u{1f600}\""
        );
    }

    #[test]
    fn numbers_and_nesting_with_indent() {
        let enc = Encoder {
            ascii: true,
            indent: Some("  ".into()),
        };
        let v: Json = serde_json::from_str(
            r#"{"a": [1, 2.0, 1e16, -0.0, 1e400, -0], "b": {}, "c": [], "d": {"e": null}}"#,
        )
        .unwrap();
        let mut out = String::new();
        enc.json(&v, 0, &mut out);
        assert_eq!(
            out,
            "{\n  \"a\": [\n    1,\n    2.0,\n    1e+16,\n    -0.0,\n    Infinity,\n    0\n  ],\n  \
             \"b\": {},\n  \"c\": [],\n  \"d\": {\n    \"e\": null\n  }\n}"
        );
        let mut out = String::new();
        float(f64::NAN, &mut out);
        float(f64::NEG_INFINITY, &mut out);
        assert_eq!(out, "NaN-Infinity");
    }

    #[test]
    fn timestamps_are_utc_isoformat() {
        let iso = |t: f64| {
            let mut out = String::new();
            iso_utc(t, &mut out).map(|()| out)
        };
        assert_eq!(iso(1_700_000_000.0).unwrap(), "2023-11-14T22:13:20+00:00");
        assert_eq!(
            iso(1_700_000_000.5).unwrap(),
            "2023-11-14T22:13:20.500000+00:00"
        );
        assert_eq!(
            iso(1_700_000_000.999_999_9).unwrap(),
            "2023-11-14T22:13:21+00:00"
        );
        assert_eq!(iso(-1.25).unwrap(), "1969-12-31T23:59:58.750000+00:00");
        assert_eq!(iso(-62_135_596_800.0).unwrap(), "0001-01-01T00:00:00+00:00");
        assert_eq!(
            iso(1e12).unwrap_err().to_string(),
            "ValueError: year 33658 is out of range"
        );
        assert!(matches!(iso(1e20), Err(FormatError::Overflow(_))));
    }

    #[test]
    fn keys_keep_their_first_position_and_renames() {
        let opts = JsonOptions {
            defaults: json!({"message": "d", "env": "prod"})
                .as_object()
                .cloned()
                .unwrap(),
            static_fields: json!({"app": 1}).as_object().cloned().unwrap(),
            rename_fields: vec![
                ("levelname".into(), "level".into()),
                ("nope".into(), "gone".into()),
            ],
            rename_fields_keep_missing: true,
            timestamp: Some("ts".into()),
            prefix: "@: ".into(),
            ..JsonOptions::default()
        };
        let fields: Vec<String> = vec!["levelname".into(), "message".into(), "hostname".into()];
        let resolve = |name: &str, with_attrs: bool| {
            let known = ["levelname", "message", "hostname", "peer", "pri"];
            known
                .into_iter()
                .find(|k| *k == name)
                .filter(|k| with_attrs || *k != "hostname")
        };
        let spec = JsonSpec::new(&opts, &fields, &resolve);
        let value = |s: &&'static str| {
            Ok(match *s {
                "pri" => Value::Int(14),
                other => Value::Str(other),
            })
        };
        let mut out = String::new();
        spec.render(false, 1.5, &value, &mut out).unwrap();
        assert_eq!(
            out,
            "@: {\"message\": \"message\", \"env\": \"prod\", \"level\": \"levelname\", \
             \"hostname\": null, \"app\": 1, \"ts\": \"1970-01-01T00:00:01.500000+00:00\", \
             \"gone\": null}"
        );
        out.clear();
        spec.render(true, 1.0, &value, &mut out).unwrap();
        assert!(
            out.contains("\"hostname\": \"hostname\", \"app\": 1, \"peer\": \"peer\"")
                && out.contains("\"pri\": 14, \"syslog_timestamp\": null"),
            "{out}"
        );
        let mut out = String::from("kept");
        assert!(spec.render(false, 1e12, &value, &mut out).is_err());
        assert_eq!(out, "kept");
    }
}

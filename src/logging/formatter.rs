//! `logging.Formatter` of CPython 3.11 for the records pysyslog's writer makes:
//! the three styles (`%`, `{`, `$`), `validate`, `defaults`, `asctime`.
//!
//! Owns: the record's attribute set (names, Python types and values), compiling
//! a format string once, `usesTime`, the per-second `asctime` cache, construction
//! errors. Does not own: handlers, dictConfig parsing, or the Python value
//! formatting primitives ([`super::pyfmt`]: `%`, `{}`, `$`,
//! format specs, reprs, `strftime`).
//!
//! Record attributes (pysyslog sets `logThreads = logProcesses =
//! logMultiprocessing = 0` and `_srcfile = None`, passes no args): `name`,
//! `msg`, `message` (= msg), `args` = `()`, `levelname`, `levelno`, `pathname`,
//! `filename`, `module` = `'(unknown file)'`, `lineno` = 0, `funcName` =
//! `'(unknown function)'`, `created`, `msecs`, `relativeCreated`, `thread`,
//! `threadName`, `process`, `processName`, `exc_info`, `exc_text`, `stack_info`
//! = None, and `asctime` when the format uses it. No `taskName` (3.12+).
//!
//! Deliberate differences from CPython:
//! - `{name.attr}` attribute access is a per-record error (see [`super::pyfmt::brace`]).
//! - A bare `%s` (no key) prints `str(record.__dict__)`; Python's dict would also
//!   contain an `asctime` left there by another handler's formatter, ours only
//!   when this formatter uses the time.
//! - Widths/precisions above 2**24 are per-record errors, not huge allocations.
//! - Regex `\w`/`\d` in `validate` use CPython 3.11's Unicode tables; `re.I`
//!   folding is approximated by simple lower-casing.
//!
//! python-json-logger's `JsonFormatter` is a mode of this formatter
//! ([`Formatter::json`], laid out by [`super::json_formatter`]): its records
//! take their attribute values and `asctime` from here, and are always
//! formatted whole.

use std::borrow::Cow;

use serde_json::{Map, Value as Json};

use super::attrs::{Attr, ATTRS};
use super::json_formatter::{required_fields, JsonOptions, JsonSpec};
use super::level::level_name;
pub use super::pyfmt::error::FormatError;
use super::pyfmt::pyvalue::{repr_str, write_repr, Value};
use super::pyfmt::{brace, percent, template, timefmt, validate};
use super::record::{LogRecord, RECORD_KEYS};

/// A formatter's `style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Percent,
    Brace,
    Dollar,
}

impl Style {
    /// From dictConfig's `style` key. Python: ValueError('Style must be one of: %,{,$')
    pub fn parse(s: &str) -> Result<Style, FormatterError> {
        match s {
            "%" => Ok(Style::Percent),
            "{" => Ok(Style::Brace),
            "$" => Ok(Style::Dollar),
            other => Err(FormatterError::BadStyle(other.to_string())),
        }
    }

    fn default_format(self) -> &'static str {
        match self {
            Style::Percent => "%(message)s",
            Style::Brace => "{message}",
            Style::Dollar => "${message}",
        }
    }
}

/// Construction errors, with Python's wording where Python has one
/// (e.g. "Invalid format '%(message)' for '%' style", "Style must be one of: %,{,$",
/// "invalid format: no fields", "invalid field name/expression: ...").
#[derive(Debug, thiserror::Error)]
pub enum FormatterError {
    /// The `style` was not one of `%`, `{`, `$` (the offending value is kept).
    #[error("Style must be one of: %,{{,$")]
    BadStyle(String),
    /// `validate=True` rejected the format string; Python's ValueError text.
    #[error("{0}")]
    Invalid(String),
}

/// What goes into a cut of a run's text (see
/// [`Formatter::format_around_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hole {
    /// The record's message.
    Message,
    /// A syslog attribute's `str()`.
    Attr(Attr),
}

/// A place in a run's text where each record's own value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Byte offset in the text.
    pub at: usize,
    pub hole: Hole,
}

/// Where a field's value comes from, resolved when the format is compiled.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Name,
    Msg,
    Args,
    LevelName,
    LevelNo,
    UnknownFile,
    Lineno,
    FuncName,
    Created,
    Msecs,
    RelativeCreated,
    PyNone,
    Asctime,
    /// A syslog attribute (`--parse-syslog`), and the `defaults` value used
    /// when the record has none.
    Attr(Attr, Option<Json>),
    Default(Json),
    Missing(String),
}

fn record_source(name: &str, uses_time: bool) -> Option<Source> {
    Some(match name {
        "name" => Source::Name,
        "msg" | "message" => Source::Msg,
        "args" => Source::Args,
        "levelname" => Source::LevelName,
        "levelno" => Source::LevelNo,
        "pathname" | "filename" | "module" => Source::UnknownFile,
        "lineno" => Source::Lineno,
        "funcName" => Source::FuncName,
        "created" => Source::Created,
        "msecs" => Source::Msecs,
        "relativeCreated" => Source::RelativeCreated,
        "exc_info" | "exc_text" | "stack_info" | "thread" | "threadName" | "processName"
        | "process" => Source::PyNone,
        "asctime" if uses_time => Source::Asctime,
        _ => return None,
    })
}

#[derive(Debug, Clone)]
enum Compiled {
    Percent(Vec<percent::Item<Source>>),
    Brace(Vec<brace::Seg<Source>>),
    Dollar(Vec<template::Item<Source>>),
}

/// `logging.Formatter`, compiled.
#[derive(Debug, Clone)]
pub struct Formatter {
    compiled: Compiled,
    /// A JsonFormatter: every record is one JSON object (`compiled` unused).
    json: Option<Box<JsonSpec<Source>>>,
    datefmt: Option<String>,
    uses_time: bool,
    defaults: Map<String, Json>,
    /// Whole second of the cached time text, and the text: the seconds part of
    /// the default format, or the whole `datefmt` result.
    cache_sec: Option<i64>,
    cache_text: String,
    asctime: String,
    /// `created` (as bits) that `asctime` was made for: the writer reads the
    /// clock once per batch, so consecutive records share it and the time
    /// text is built once per batch, not once per record.
    asctime_for: Option<u64>,
    /// `created` (as bits) and its `msecs`, for the same reason (the
    /// computation calls `trunc` twice, a library call on baseline x86-64).
    msecs_for: Option<(u64, f64)>,
}

impl Formatter {
    /// logging.Formatter(fmt, datefmt, style, validate, defaults=...)  (compile once here)
    pub fn new(
        fmt: Option<&str>,
        datefmt: Option<&str>,
        style: Style,
        validate: bool,
        defaults: &Map<String, Json>,
    ) -> Result<Formatter, FormatterError> {
        let fmt = fmt
            .filter(|f| !f.is_empty())
            .unwrap_or(style.default_format());
        if validate {
            match style {
                Style::Percent => {
                    if !validate::percent(fmt) {
                        return Err(FormatterError::Invalid(format!(
                            "Invalid format '{fmt}' for '%' style"
                        )));
                    }
                }
                Style::Brace => validate::brace(fmt).map_err(|e| FormatterError::Invalid(e.0))?,
                Style::Dollar => validate::dollar(fmt).map_err(|e| FormatterError::Invalid(e.0))?,
            }
        }
        Ok(Self::build(fmt, datefmt, style, defaults))
    }

    /// `pythonjsonlogger.json.JsonFormatter(...)`: the record's attributes
    /// as one JSON object. `asctime` is made when `fmt` names it.
    pub(crate) fn json(opts: &JsonOptions) -> Result<Formatter, FormatterError> {
        let fields = required_fields(&opts.fmt).map_err(FormatterError::Invalid)?;
        let uses_time = fields.iter().any(|f| f == "asctime");
        let resolve = |name: &str, with_attrs: bool| {
            record_source(name, uses_time).or_else(|| {
                Attr::from_name(name)
                    .filter(|_| with_attrs)
                    .map(|a| Source::Attr(a, None))
            })
        };
        let spec = JsonSpec::new(opts, &fields, &resolve);
        let mut f = Self::build("", opts.datefmt.as_deref(), Style::Percent, &Map::new());
        f.uses_time = uses_time;
        f.json = Some(Box::new(spec));
        Ok(f)
    }

    /// Whether the format names a syslog attribute that no `defaults` entry
    /// stands in for: without `--parse-syslog` every record then fails (a
    /// JsonFormatter prints `null` instead).
    pub fn uses_syslog_attributes(&self) -> bool {
        if self.json.is_some() {
            return false;
        }
        let is_attr = |s: &Source| matches!(s, Source::Attr(_, None));
        match &self.compiled {
            Compiled::Percent(items) => items
                .iter()
                .any(|i| matches!(i, percent::Item::Field(s, _) if is_attr(s))),
            Compiled::Brace(segs) => segs.iter().any(|s| s.mentions(&is_attr)),
            Compiled::Dollar(items) => items
                .iter()
                .any(|i| matches!(i, template::Item::Field(s) if is_attr(s))),
        }
    }

    /// basicConfig's formatter: BASIC_FORMAT "%(levelname)s:%(name)s:%(message)s"
    pub fn basic() -> Formatter {
        Self::build(
            "%(levelname)s:%(name)s:%(message)s",
            None,
            Style::Percent,
            &Map::new(),
        )
    }

    fn build(
        fmt: &str,
        datefmt: Option<&str>,
        style: Style,
        defaults: &Map<String, Json>,
    ) -> Formatter {
        let uses_time = match style {
            Style::Percent => fmt.contains("%(asctime)"),
            Style::Brace => fmt.contains("{asctime"),
            Style::Dollar => fmt.contains("$asctime") || fmt.contains("${asctime}"),
        };
        let mut resolve = |name: &str| -> Source {
            record_source(name, uses_time)
                .or_else(|| {
                    Attr::from_name(name).map(|a| Source::Attr(a, defaults.get(name).cloned()))
                })
                .or_else(|| defaults.get(name).map(|v| Source::Default(v.clone())))
                .unwrap_or_else(|| Source::Missing(name.to_string()))
        };
        let compiled = match style {
            Style::Percent => Compiled::Percent(percent::compile(fmt, &mut resolve)),
            Style::Brace => Compiled::Brace(brace::compile(fmt, &mut resolve)),
            Style::Dollar => Compiled::Dollar(template::compile(fmt, &mut resolve)),
        };
        Formatter {
            compiled,
            json: None,
            datefmt: datefmt.filter(|d| !d.is_empty()).map(str::to_string),
            uses_time,
            defaults: defaults.clone(),
            cache_sec: None,
            cache_text: String::new(),
            asctime: String::new(),
            asctime_for: None,
            msecs_for: None,
        }
    }

    /// Append Formatter.format(record) (no terminator) to `out`. On error `out` is unchanged.
    pub fn format(&mut self, record: &LogRecord<'_>, out: &mut String) -> Result<(), FormatError> {
        let msecs = self.prepare_time(record)?;
        let ctx = Ctx {
            record,
            levelname: level_name(record.levelno),
            asctime: &self.asctime,
            msecs,
        };
        if let Some(json) = &self.json {
            let value = |s| ctx.value(s);
            return json.render(record.attrs.is_some(), record.created, &value, out);
        }
        let start = out.len();
        let result = match &self.compiled {
            Compiled::Percent(items) => self.render_percent(items, &ctx, out),
            Compiled::Brace(segs) => render_brace(segs, &ctx, out),
            Compiled::Dollar(items) => render_dollar(items, &ctx, out),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// `record.msecs`, and `asctime` when the format uses it.
    fn prepare_time(&mut self, record: &LogRecord<'_>) -> Result<f64, FormatError> {
        let bits = record.created.to_bits();
        let msecs = match self.msecs_for {
            Some((b, m)) if b == bits => m,
            _ => {
                let m = ((record.created - record.created.trunc()) * 1000.0).trunc() + 0.0;
                self.msecs_for = Some((bits, m));
                m
            }
        };
        if self.uses_time && self.asctime_for != Some(bits) {
            self.asctime_for = None;
            self.format_time(record.created, msecs)?;
            self.asctime_for = Some(bits);
        }
        Ok(msecs)
    }

    /// Format `record` leaving out the message, for a run of records that
    /// differ only in their message (the writer's runs share a peer, a level
    /// and the batch clock): appends the text to `out` and, for each place
    /// where `format` would put the message (or, on a record with syslog
    /// attributes, an attribute's `str()`), its byte offset in `out` and
    /// what goes there to `cuts`. Putting each record's values at the cuts
    /// then prints exactly what `format` prints. Returns false, with `out` and `cuts` unchanged, when
    /// the format does more with the message than insert it
    /// (`%(message)-20s`, `{message!r}`, a bare `%s`, nested `{}` specs) or
    /// fails: such records are formatted one by one, as are a JsonFormatter's.
    pub fn format_around_message(
        &mut self,
        record: &LogRecord<'_>,
        out: &mut String,
        cuts: &mut Vec<Cut>,
    ) -> bool {
        if self.json.is_some() {
            return false;
        }
        let (start, first_cut) = (out.len(), cuts.len());
        let done = self.render_around_message(record, out, cuts);
        if done.is_none() {
            out.truncate(start);
            cuts.truncate(first_cut);
        }
        done.is_some()
    }

    fn render_around_message(
        &mut self,
        record: &LogRecord<'_>,
        out: &mut String,
        cuts: &mut Vec<Cut>,
    ) -> Option<()> {
        let msecs = self.prepare_time(record).ok()?;
        let ctx = Ctx {
            record,
            levelname: level_name(record.levelno),
            asctime: &self.asctime,
            msecs,
        };
        // A syslog attribute is a hole like the message, so records that
        // differ only in their message and attributes share the run's text.
        let has_attrs = record.attrs.is_some();
        let hole = |k: &Source| match k {
            Source::Msg => Some(Hole::Message),
            Source::Attr(a, _) if has_attrs => Some(Hole::Attr(*a)),
            _ => None,
        };
        let is_hole = |k: &Source| hole(k).is_some();
        match &self.compiled {
            Compiled::Percent(items) => {
                for it in items {
                    match it {
                        percent::Item::Field(src, spec) if spec.is_plain_str() && is_hole(src) => {
                            cuts.push(Cut {
                                at: out.len(),
                                hole: hole(src)?,
                            })
                        }
                        percent::Item::Field(src, _) if is_hole(src) => return None,
                        percent::Item::Whole(_) => return None,
                        _ => self
                            .render_percent(std::slice::from_ref(it), &ctx, out)
                            .ok()?,
                    }
                }
            }
            Compiled::Brace(segs) => {
                for seg in segs {
                    if let Some(h) = seg.plain_key().and_then(hole) {
                        cuts.push(Cut {
                            at: out.len(),
                            hole: h,
                        });
                    } else if seg.mentions(&is_hole) {
                        return None;
                    } else {
                        render_brace(std::slice::from_ref(seg), &ctx, out).ok()?;
                    }
                }
            }
            Compiled::Dollar(items) => {
                for it in items {
                    match it {
                        // `$x` is always `str(x)`.
                        template::Item::Field(src) if is_hole(src) => cuts.push(Cut {
                            at: out.len(),
                            hole: hole(src)?,
                        }),
                        _ => render_dollar(std::slice::from_ref(it), &ctx, out).ok()?,
                    }
                }
            }
        }
        Some(())
    }

    /// `Formatter.formatTime` into `self.asctime`, formatting the seconds once
    /// per distinct whole second.
    fn format_time(&mut self, created: f64, msecs: f64) -> Result<(), FormatError> {
        let tm_sec = created.floor();
        let sec = if tm_sec.is_finite() && tm_sec.abs() < 9.0e18 {
            Some(tm_sec as i64)
        } else {
            None
        };
        if sec.is_none() || sec != self.cache_sec {
            self.cache_sec = None;
            self.cache_text.clear();
            let tm = timefmt::localtime(created)?;
            let fmt = self.datefmt.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S");
            timefmt::strftime(fmt, &tm, &mut self.cache_text)?;
            self.cache_sec = sec;
        }
        self.asctime.clear();
        self.asctime.push_str(&self.cache_text);
        if self.datefmt.is_none() {
            // '%s,%03d' % (t, msecs)
            let m = msecs as i64;
            if (0..1000).contains(&m) {
                let d = [
                    b',',
                    b'0' + (m / 100) as u8,
                    b'0' + (m / 10 % 10) as u8,
                    b'0' + (m % 10) as u8,
                ];
                // INVARIANT: ASCII digits.
                self.asctime
                    .push_str(std::str::from_utf8(&d).unwrap_or(",000"));
            } else {
                use std::fmt::Write as _;
                let _ = write!(self.asctime, ",{m:03}");
            }
        }
        Ok(())
    }

    fn render_percent(
        &self,
        items: &[percent::Item<Source>],
        ctx: &Ctx<'_, '_>,
        out: &mut String,
    ) -> Result<(), FormatError> {
        for it in items {
            match it {
                percent::Item::Lit(s) => out.push_str(s),
                percent::Item::Field(src, spec) => match ctx.text(src) {
                    // Plain `%(x)s` of a string: what `apply` would do, without
                    // building a value (the hot path of every usual format).
                    Some(text) if spec.is_plain_str() => out.push_str(text),
                    _ => percent::apply(spec, &ctx.value(src)?, out)?,
                },
                percent::Item::Whole(spec) => {
                    let repr = |ascii: bool| self.record_dict_repr(ctx, ascii);
                    percent::apply_dict(spec, &repr, out)?;
                }
                percent::Item::Fail(e) => return Err(e.clone()),
            }
        }
        Ok(())
    }

    /// `repr(defaults | record.__dict__)`.
    fn record_dict_repr(&self, ctx: &Ctx<'_, '_>, ascii: bool) -> String {
        let mut out = String::from("{");
        let n_keys = if self.uses_time {
            RECORD_KEYS.len()
        } else {
            RECORD_KEYS.len() - 1
        };
        let keys = &RECORD_KEYS[..n_keys];
        let mut first = true;
        let mut entry = |out: &mut String, k: &str, v: &Value<'_>| {
            if !first {
                out.push_str(", ");
            }
            first = false;
            repr_str(k, out, ascii);
            out.push_str(": ");
            write_repr(v, out, ascii);
        };
        let attrs = ctx.record.attrs;
        for (k, dv) in &self.defaults {
            let attr = attrs.and_then(|a| Attr::from_name(k).map(|n| a.value(n)));
            match record_source(k, self.uses_time).filter(|_| keys.contains(&k.as_str())) {
                Some(src) => entry(&mut out, k, &ctx.value(&src).unwrap_or(Value::None)),
                None => entry(&mut out, k, &attr.unwrap_or_else(|| Value::from_json(dv))),
            }
        }
        // `extra=` attributes come after `LogRecord.__init__`'s and before
        // `message` and `asctime`, which `Formatter.format` sets.
        for (i, k) in keys.iter().enumerate() {
            if let (true, Some(a)) = (i == RECORD_KEYS.len() - 2, attrs) {
                for (name, attr) in ATTRS {
                    if !self.defaults.contains_key(name) {
                        entry(&mut out, name, &a.value(attr));
                    }
                }
            }
            if self.defaults.contains_key(*k) {
                continue;
            }
            if let Some(src) = record_source(k, self.uses_time) {
                entry(&mut out, k, &ctx.value(&src).unwrap_or(Value::None));
            }
        }
        out.push('}');
        out
    }
}

fn render_brace<'v>(
    segs: &'v [brace::Seg<Source>],
    ctx: &'v Ctx<'_, '_>,
    out: &mut String,
) -> Result<(), FormatError> {
    brace::render(segs, &|s: &'v Source| ctx.value(s), out)
}

fn render_dollar<'v>(
    items: &'v [template::Item<Source>],
    ctx: &'v Ctx<'_, '_>,
    out: &mut String,
) -> Result<(), FormatError> {
    template::render(items, &|s: &'v Source| ctx.value(s), out)
}

/// The per-record values.
struct Ctx<'r, 'a> {
    record: &'r LogRecord<'a>,
    levelname: Cow<'static, str>,
    asctime: &'r str,
    msecs: f64,
}

impl<'r, 'a> Ctx<'r, 'a> {
    /// The attribute's text when it is a Python `str` (the common `%(name)s` case).
    fn text(&self, src: &Source) -> Option<&str> {
        match src {
            Source::Name => Some(self.record.name),
            Source::Msg => Some(self.record.msg),
            Source::LevelName => Some(&self.levelname),
            Source::Asctime => Some(self.asctime),
            Source::UnknownFile => Some("(unknown file)"),
            Source::FuncName => Some("(unknown function)"),
            Source::Attr(a, _) => self.record.attrs.and_then(|x| x.text(*a)),
            _ => None,
        }
    }

    fn value<'s>(&'s self, src: &'s Source) -> Result<Value<'s>, FormatError> {
        Ok(match src {
            Source::Name => Value::Str(self.record.name),
            Source::Msg => Value::Str(self.record.msg),
            Source::Args => Value::EmptyTuple,
            Source::LevelName => Value::Str(&self.levelname),
            Source::LevelNo => Value::Int(i128::from(self.record.levelno)),
            Source::UnknownFile => Value::Str("(unknown file)"),
            Source::Lineno => Value::Int(0),
            Source::FuncName => Value::Str("(unknown function)"),
            Source::Created => Value::Float(self.record.created),
            Source::Msecs => Value::Float(self.msecs),
            Source::RelativeCreated => Value::Float(self.record.relative_created),
            Source::PyNone => Value::None,
            Source::Asctime => Value::Str(self.asctime),
            Source::Attr(a, default) => match (self.record.attrs, default) {
                (Some(x), _) => x.value(*a),
                (None, Some(v)) => Value::from_json(v),
                (None, None) => {
                    let mut k = String::new();
                    repr_str(a.name(), &mut k, false);
                    return Err(FormatError::KeyError(k));
                }
            },
            Source::Default(v) => Value::from_json(v),
            Source::Missing(name) => {
                let mut k = String::new();
                repr_str(name, &mut k, false);
                return Err(FormatError::KeyError(k));
            }
        })
    }
}

#[cfg(test)]
#[path = "formatter_tests.rs"]
mod tests;

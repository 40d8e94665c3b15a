//! Handler sections of a dictConfig: class, constructor arguments with their
//! Python defaults and errors, `level`, `formatter`, `filters` and `.` properties.
//!
//! Owns: `configure_handler` up to (not including) construction, and Python's
//! order of construction (sorted names, MemoryHandlers deferred until their
//! target exists). Does not own: opening files or sockets (`handler/`).

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::args::build_class;
use super::{as_dict, check_filters, ConfigError, Ctx};
use crate::logging::convert::{self, py_repr, py_repr_str, truthy};

/// The handler classes pysyslog implements, by their Python names.
pub const SUPPORTED_CLASSES: &str = "logging.StreamHandler, logging.FileHandler, logging.NullHandler, \
logging.handlers.WatchedFileHandler, logging.handlers.RotatingFileHandler, \
logging.handlers.TimedRotatingFileHandler, logging.handlers.SysLogHandler, logging.handlers.MemoryHandler";

/// One configured handler.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// The handler's name in `handlers`.
    pub name: String,
    /// `level` (default NOTSET).
    pub level: i32,
    /// Formatter name, if any (else Python's default `%(message)s`).
    pub formatter: Option<String>,
    /// Filter names.
    pub filters: Vec<String>,
    /// What it is and its arguments.
    pub class: HandlerClass,
}

/// Where a StreamHandler writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTarget {
    /// `ext://sys.stdout`
    Stdout,
    /// `ext://sys.stderr` (the default)
    Stderr,
}

/// Text encodings supported for files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// utf-8 (also the default, as under Python's UTF-8 locale).
    Utf8,
    /// ascii
    Ascii,
    /// latin-1
    Latin1,
}

/// Python's `errors=` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsPolicy {
    /// The record fails (dropped for this handler).
    Strict,
    /// `?`
    Replace,
    /// Left out.
    Ignore,
    /// `\xe9`, `\u20ac`, `\U0001f600`
    BackslashReplace,
    /// `&#233;`
    XmlCharRefReplace,
}

/// Arguments shared by the file handlers.
#[derive(Debug, Clone)]
pub struct FileArgs {
    /// Absolute path (`os.path.abspath` at config time).
    pub path: PathBuf,
    /// `'w'` truncates when first opened.
    pub truncate: bool,
    /// Text encoding.
    pub encoding: Encoding,
    /// What to do with characters the encoding lacks.
    pub errors: ErrorsPolicy,
    /// Open at the first record instead of at build time.
    pub delay: bool,
    /// `terminator` (via `.`), `"\n"` by default.
    pub terminator: String,
}

/// TimedRotatingFileHandler's `when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// S, M, H, D: a fixed interval.
    Fixed,
    /// MIDNIGHT
    Midnight,
    /// W0..W6 (0 = Monday)
    Weekday(u32),
}

/// A SysLogHandler destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddress {
    /// `[host, port]`
    Inet(String, u16),
    /// A unix socket path.
    Unix(PathBuf),
}

/// The supported classes and their constructor arguments.
#[derive(Debug, Clone)]
pub enum HandlerClass {
    /// `logging.StreamHandler`
    Stream {
        target: StreamTarget,
        terminator: String,
    },
    /// `logging.FileHandler`
    File(FileArgs),
    /// `logging.handlers.WatchedFileHandler`
    Watched(FileArgs),
    /// `logging.handlers.RotatingFileHandler`
    Rotating {
        file: FileArgs,
        max_bytes: i64,
        backup_count: i64,
    },
    /// `logging.handlers.TimedRotatingFileHandler`
    Timed {
        file: FileArgs,
        when: When,
        interval: i64,
        suffix: &'static str,
        backup_count: i64,
        utc: bool,
    },
    /// `logging.handlers.SysLogHandler`
    Syslog {
        address: SyslogAddress,
        facility: u32,
        stream: Option<bool>,
        ident: String,
        append_nul: bool,
    },
    /// `logging.handlers.MemoryHandler`
    Memory {
        capacity: i64,
        flush_level: i32,
        target: Option<String>,
        flush_on_close: bool,
    },
    /// `logging.NullHandler`
    Null,
}

/// Configure every handler in Python's order: sorted by name, then the
/// MemoryHandlers whose target was not built yet.
pub(super) fn parse_all(
    ctx: &Ctx<'_>,
    doc: &Map<String, Value>,
    handlers: &Map<String, Value>,
    config: &super::Config,
) -> Result<Vec<HandlerSpec>, ConfigError> {
    let mut names: Vec<&String> = handlers.keys().collect();
    names.sort();
    let mut done: Vec<HandlerSpec> = Vec::new();
    let mut deferred = Vec::new();
    for pass in 0..2 {
        let list: Vec<&String> = if pass == 0 {
            names.clone()
        } else {
            std::mem::take(&mut deferred)
        };
        for name in list {
            let built: Vec<&str> = done.iter().map(|h| h.name.as_str()).collect();
            match parse_one(
                ctx,
                doc,
                name,
                &handlers[name.as_str()],
                config,
                &built,
                handlers,
            ) {
                Ok(h) => done.push(h),
                Err(Failure::NotYet(_)) if pass == 0 => deferred.push(name),
                Err(Failure::NotYet(e) | Failure::Bad(e)) => {
                    return Err(ctx.err(
                        format!("handlers.{name}"),
                        format!("Unable to configure handler {}: {e}", py_repr_str(name)),
                    ))
                }
            }
        }
    }
    Ok(done)
}

enum Failure {
    /// A MemoryHandler target exists but is not built yet (deferred once).
    NotYet(String),
    /// Anything else.
    Bad(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Bad(s)
    }
}

/// Keyword arguments as Python binds them to a constructor.
pub(super) struct Kwargs<'a> {
    pub(super) class: &'static str,
    map: Map<String, Value>,
    pub(super) ctx: &'a Ctx<'a>,
}

impl Kwargs<'_> {
    /// Reject names the constructor does not take, as Python's TypeError does.
    pub(super) fn check(&self, allowed: &[&str], required: &[&str]) -> Result<(), String> {
        if let Some(k) = self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "{}.__init__() got an unexpected keyword argument {}",
                self.class,
                py_repr_str(k)
            ));
        }
        let missing: Vec<&&str> = required
            .iter()
            .filter(|r| !self.map.contains_key(**r))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] => Err(format!(
                "{}.__init__() missing 1 required positional argument: '{one}'",
                self.class
            )),
            many => Err(format!(
                "{}.__init__() missing {} required positional arguments: {}",
                self.class,
                many.len(),
                many.iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        }
    }

    pub(super) fn get(&self, key: &str) -> Result<Option<Value>, String> {
        Ok(self.ctx.res.get(&self.map, key)?.filter(|v| !v.is_null()))
    }

    pub(super) fn int(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key)? {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(i64::from(b)),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("{key} must be an integer, not {}", py_repr(&v))),
        }
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        Ok(self.get(key)?.map_or(default, |v| truthy(&v)))
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(format!("{key} must be a string, not {}", py_repr(&v))),
        }
    }
}

fn parse_one(
    ctx: &Ctx<'_>,
    doc: &Map<String, Value>,
    _name: &str,
    spec: &Value,
    config: &super::Config,
    built: &[&str],
    all: &Map<String, Value>,
) -> Result<HandlerSpec, Failure> {
    let spec = ctx.res.conv(spec)?;
    let m = as_dict(&spec)?;
    let formatter = match ctx.res.get(m, "formatter")?.filter(truthy) {
        None => None,
        Some(Value::String(f)) if config.formatters.contains_key(&f) => Some(f),
        Some(f) => {
            let key = if doc.contains_key("formatters") {
                py_repr(&f)
            } else {
                "'formatters'".into()
            };
            return Err(format!("Unable to set formatter {}: {key}", py_repr(&f)).into());
        }
    };
    if m.contains_key("()") {
        return Err(format!(
            "handler factories ('()') are not supported by pysyslog; use 'class' with one of: {SUPPORTED_CLASSES}"
        )
        .into());
    }
    let class = match ctx.res.get(m, "class")? {
        // Python: `resolve(None)` fails with "'NoneType' object has no attribute 'split'".
        None => {
            return Err(format!("no 'class' given (pysyslog supports: {SUPPORTED_CLASSES})").into())
        }
        Some(Value::String(c)) => c,
        Some(other) => return Err(format!("unsupported handler class {}", py_repr(&other)).into()),
    };
    let mut kwargs = Map::new();
    for (k, v) in m {
        if !matches!(
            k.as_str(),
            "formatter" | "level" | "filters" | "class" | "."
        ) {
            convert::valid_ident(k)?;
            kwargs.insert(k.clone(), v.clone());
        }
    }
    let pyclass: &'static str = match class.as_str() {
        "logging.StreamHandler" => "StreamHandler",
        "logging.FileHandler" => "FileHandler",
        "logging.NullHandler" => "Handler",
        "logging.handlers.WatchedFileHandler" => "WatchedFileHandler",
        "logging.handlers.RotatingFileHandler" => "RotatingFileHandler",
        "logging.handlers.TimedRotatingFileHandler" => "TimedRotatingFileHandler",
        "logging.handlers.SysLogHandler" => "SysLogHandler",
        "logging.handlers.MemoryHandler" => "MemoryHandler",
        _ => {
            return Err(format!(
                "unsupported handler class {} (pysyslog supports: {SUPPORTED_CLASSES})",
                py_repr_str(&class)
            )
            .into())
        }
    };
    let kw = Kwargs {
        class: pyclass,
        map: kwargs,
        ctx,
    };
    // MemoryHandler's target is resolved before construction (and deferred once).
    if pyclass == "MemoryHandler" {
        if let Some(t) = kw.get("target")? {
            let tname = convert::py_str(&t);
            let msg =
                |cause: &str| format!("Unable to set target handler {}: {cause}", py_repr(&t));
            if !matches!(t, Value::String(_)) || !all.contains_key(&tname) {
                return Err(msg(&py_repr(&t)).into());
            }
            if !built.contains(&tname.as_str()) {
                return Err(Failure::NotYet(msg("target not configured yet")));
            }
        }
    }
    let mut class = build_class(&kw, ctx)?;
    let level = match ctx.res.get(m, "level")? {
        None | Some(Value::Null) => crate::logging::level::NOTSET,
        Some(v) => convert::check_level(&v)?,
    };
    let filters = match ctx.res.get(m, "filters")?.filter(truthy) {
        None => Vec::new(),
        Some(f) => check_filters(doc, &f, ctx)?,
    };
    if let Some(props) = ctx.res.get(m, ".")?.filter(truthy) {
        let props = props.as_object().ok_or_else(|| {
            format!(
                "'{}' object has no attribute 'items'",
                convert::py_type(&props)
            )
        })?;
        for (k, v) in props {
            set_prop(&mut class, k, &ctx.res.conv(v)?)?;
        }
    }
    Ok(HandlerSpec {
        name: _name.to_owned(),
        level,
        formatter,
        filters,
        class,
    })
}

/// `setattr(handler, name, value)` for the attributes that change output.
fn set_prop(class: &mut HandlerClass, key: &str, v: &Value) -> Result<(), String> {
    let text = || match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("{key} must be a string, not {}", py_repr(other))),
    };
    match (class, key) {
        (HandlerClass::Stream { terminator, .. }, "terminator") => *terminator = text()?,
        (
            HandlerClass::File(f)
            | HandlerClass::Watched(f)
            | HandlerClass::Rotating { file: f, .. }
            | HandlerClass::Timed { file: f, .. },
            "terminator",
        ) => f.terminator = text()?,
        (HandlerClass::Syslog { ident, .. }, "ident") => *ident = text()?,
        (HandlerClass::Syslog { append_nul, .. }, "append_nul") => *append_nul = truthy(v),
        (_, other) => {
            return Err(format!(
                "setting attribute {} with '.' is not supported by pysyslog (supported: terminator on stream and \
                 file handlers; ident, append_nul on SysLogHandler)",
                py_repr_str(other)
            ))
        }
    }
    Ok(())
}

//! Handler sections of a dictConfig: class, constructor arguments with their
//! Python defaults and errors, `level`, `formatter`, `filters` and `.` properties.
//!
//! Owns: `configure_handler` up to (not including) construction, and Python's
//! order of construction (sorted names, MemoryHandlers deferred until their
//! target exists). Does not own: opening files or sockets (`handler/`).

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{abspath, as_dict, check_filters, ConfigError, Ctx};
use crate::logging::convert::{self, py_repr, py_repr_str, truthy, EXT_STDERR, EXT_STDOUT};
use crate::logging::level::ERROR;

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
struct Kwargs<'a> {
    class: &'static str,
    map: Map<String, Value>,
    ctx: &'a Ctx<'a>,
}

impl Kwargs<'_> {
    /// Reject names the constructor does not take, as Python's TypeError does.
    fn check(&self, allowed: &[&str], required: &[&str]) -> Result<(), String> {
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

    fn get(&self, key: &str) -> Result<Option<Value>, String> {
        Ok(self.ctx.res.get(&self.map, key)?.filter(|v| !v.is_null()))
    }

    fn int(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key)? {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(i64::from(b)),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("{key} must be an integer, not {}", py_repr(&v))),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        Ok(self.get(key)?.map_or(default, |v| truthy(&v)))
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
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

fn build_class(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, String> {
    const FILE: &[&str] = &["filename", "mode", "encoding", "delay", "errors"];
    Ok(match kw.class {
        "StreamHandler" => {
            kw.check(&["stream"], &[])?;
            let target = match kw.get("stream")? {
                None => StreamTarget::Stderr,
                Some(Value::String(s)) if s == EXT_STDOUT => StreamTarget::Stdout,
                Some(Value::String(s)) if s == EXT_STDERR => StreamTarget::Stderr,
                Some(other) => {
                    return Err(format!(
                        "unsupported stream {} (use ext://sys.stdout or ext://sys.stderr)",
                        py_repr(&other)
                    ))
                }
            };
            HandlerClass::Stream {
                target,
                terminator: "\n".into(),
            }
        }
        "FileHandler" | "WatchedFileHandler" => {
            kw.check(FILE, &["filename"])?;
            let f = file_args(kw, ctx, false)?;
            if kw.class == "FileHandler" {
                HandlerClass::File(f)
            } else {
                HandlerClass::Watched(f)
            }
        }
        "RotatingFileHandler" => {
            kw.check(
                &[
                    "filename",
                    "mode",
                    "maxBytes",
                    "backupCount",
                    "encoding",
                    "delay",
                    "errors",
                ],
                &["filename"],
            )?;
            let max_bytes = kw.int("maxBytes", 0)?;
            let file = file_args(kw, ctx, max_bytes > 0)?;
            HandlerClass::Rotating {
                file,
                max_bytes,
                backup_count: kw.int("backupCount", 0)?,
            }
        }
        "TimedRotatingFileHandler" => {
            kw.check(
                &[
                    "filename",
                    "when",
                    "interval",
                    "backupCount",
                    "encoding",
                    "delay",
                    "utc",
                    "atTime",
                    "errors",
                ],
                &["filename"],
            )?;
            if kw.get("atTime")?.is_some() {
                return Err("atTime is not supported by pysyslog (Python needs a datetime.time, which JSON cannot give)".into());
            }
            let file = file_args(kw, ctx, true)?;
            let when = kw
                .string("when")?
                .unwrap_or_else(|| "h".into())
                .to_uppercase();
            let (unit, suffix, when_kind) = match when.as_str() {
                "S" => (1, "%Y-%m-%d_%H-%M-%S", When::Fixed),
                "M" => (60, "%Y-%m-%d_%H-%M", When::Fixed),
                "H" => (3600, "%Y-%m-%d_%H", When::Fixed),
                "D" => (86400, "%Y-%m-%d", When::Fixed),
                "MIDNIGHT" => (86400, "%Y-%m-%d", When::Midnight),
                w if w.starts_with('W') => {
                    if w.chars().count() != 2 {
                        return Err(format!(
                            "You must specify a day for weekly rollover from 0 to 6 (0 is Monday): {w}"
                        ));
                    }
                    let d = w.as_bytes()[1];
                    if !(b'0'..=b'6').contains(&d) {
                        return Err(format!("Invalid day specified for weekly rollover: {w}"));
                    }
                    (7 * 86400, "%Y-%m-%d", When::Weekday(u32::from(d - b'0')))
                }
                other => return Err(format!("Invalid rollover interval specified: {other}")),
            };
            let interval = unit * kw.int("interval", 1)?;
            HandlerClass::Timed {
                file,
                when: when_kind,
                interval,
                suffix,
                backup_count: kw.int("backupCount", 0)?,
                utc: kw.flag("utc", false)?,
            }
        }
        "SysLogHandler" => {
            kw.check(&["address", "facility", "socktype"], &[])?;
            let address = match kw.get("address")? {
                None => SyslogAddress::Inet("localhost".into(), 514),
                Some(Value::String(p)) => SyslogAddress::Unix(PathBuf::from(p)),
                Some(Value::Array(a)) if a.len() == 2 => {
                    let host = match ctx.res.conv(&a[0])? {
                        Value::String(h) => h,
                        other => {
                            return Err(format!(
                                "address host must be a string, not {}",
                                py_repr(&other)
                            ))
                        }
                    };
                    let port = ctx.res.conv(&a[1])?;
                    let port = port
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .ok_or_else(|| {
                            format!(
                                "address port must be an integer 0-65535, not {}",
                                py_repr(&port)
                            )
                        })?;
                    SyslogAddress::Inet(host, port)
                }
                Some(other) => {
                    return Err(format!(
                        "address must be [host, port] or a unix socket path, not {}",
                        py_repr(&other)
                    ))
                }
            };
            let facility = match kw.get("facility")? {
                None => 1,
                Some(Value::String(f)) => facility_code(&f).ok_or_else(|| py_repr_str(&f))?,
                Some(v) => v
                    .as_u64()
                    .and_then(|f| u32::try_from(f).ok())
                    .ok_or_else(|| {
                        format!("facility must be a name or a number, not {}", py_repr(&v))
                    })?,
            };
            let stream = match kw.get("socktype")? {
                None => None,
                Some(v) if v.as_i64() == Some(1) => Some(true),
                Some(v) if v.as_i64() == Some(2) => Some(false),
                Some(v) => return Err(format!("unsupported socktype {} (use ext://socket.SOCK_STREAM or ext://socket.SOCK_DGRAM)", py_repr(&v))),
            };
            HandlerClass::Syslog {
                address,
                facility,
                stream,
                ident: String::new(),
                append_nul: true,
            }
        }
        "MemoryHandler" => {
            kw.check(
                &["capacity", "flushLevel", "target", "flushOnClose"],
                &["capacity"],
            )?;
            let flush_level = match kw.get("flushLevel")? {
                None => ERROR,
                Some(v) => convert::check_level(&v)?,
            };
            HandlerClass::Memory {
                capacity: kw.int("capacity", 0)?,
                flush_level,
                target: kw.string("target")?,
                flush_on_close: kw.flag("flushOnClose", true)?,
            }
        }
        _ => {
            kw.check(&[], &[])?;
            HandlerClass::Null
        }
    })
}

fn file_args(kw: &Kwargs<'_>, ctx: &Ctx<'_>, force_append: bool) -> Result<FileArgs, String> {
    let filename = match kw.get("filename")? {
        Some(Value::String(s)) if !s.starts_with("ext://") => s,
        Some(other) => {
            return Err(format!(
                "expected str, bytes or os.PathLike object, not {}",
                convert::py_type(&other)
            ))
        }
        None => {
            return Err(format!(
                "{}.__init__() missing 1 required positional argument: 'filename'",
                kw.class
            ))
        }
    };
    let mode = if force_append {
        "a".to_string()
    } else {
        kw.string("mode")?.unwrap_or_else(|| "a".into())
    };
    let truncate = match mode.as_str() {
        "a" => false,
        "w" => true,
        other => {
            return Err(format!(
                "unsupported file mode {} (pysyslog supports 'a' and 'w')",
                py_repr_str(other)
            ))
        }
    };
    let encoding = match kw.string("encoding")? {
        None => Encoding::Utf8,
        Some(e) => parse_encoding(&e).ok_or_else(|| {
            format!(
                "unsupported encoding: {} (pysyslog supports utf-8, ascii, latin-1)",
                py_repr_str(&e)
            )
        })?,
    };
    let errors = match kw.string("errors")?.as_deref() {
        None | Some("strict") => ErrorsPolicy::Strict,
        Some("replace") => ErrorsPolicy::Replace,
        Some("ignore") => ErrorsPolicy::Ignore,
        Some("backslashreplace") => ErrorsPolicy::BackslashReplace,
        Some("xmlcharrefreplace") => ErrorsPolicy::XmlCharRefReplace,
        Some(other) => return Err(format!("unknown error handler name {}", py_repr_str(other))),
    };
    Ok(FileArgs {
        path: abspath(ctx.cwd, &filename),
        truncate,
        encoding,
        errors,
        delay: kw.flag("delay", false)?,
        terminator: "\n".into(),
    })
}

/// Python's codec names (normalised like `codecs.lookup`) for the encodings we implement.
fn parse_encoding(name: &str) -> Option<Encoding> {
    let n: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    match n.as_str() {
        "utf_8" | "utf8" | "u8" | "utf" | "cp65001" => Some(Encoding::Utf8),
        "ascii" | "us_ascii" | "646" | "us" => Some(Encoding::Ascii),
        "latin_1" | "latin1" | "latin" | "l1" | "iso_8859_1" | "iso8859_1" | "8859" | "cp819"
        | "iso_ir_100" => Some(Encoding::Latin1),
        _ => None,
    }
}

/// `SysLogHandler.facility_names`.
pub fn facility_code(name: &str) -> Option<u32> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "ntp" => 12,
        "security" => 13,
        "console" => 14,
        "solaris-cron" => 15,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

//! Constructor arguments of each supported handler class, with Python's
//! defaults, names and error wording (`RotatingFileHandler.__init__() got an
//! unexpected keyword argument ...`).
//!
//! Owns: turning keyword arguments into a `HandlerClass`. Does not own: the
//! common handler keys (`level`, `formatter`, `filters`, `.`), see `handler.rs`.

use std::path::PathBuf;

use serde_json::Value;

use super::convert::{self, py_repr, py_repr_str, EXT_STDERR, EXT_STDOUT};
use super::ctx::{abspath, Ctx};
use super::invalid::Invalid;
use super::kwargs::Kwargs;
use crate::logging::level::ERROR;
use crate::logging::path_template::PathTemplate;
use crate::logging::spec::{
    DynamicArgs, FileArgs, HandlerClass, OnFailure, StreamTarget, SyslogAddress, When,
};

/// One supported handler class's arguments, read into its [`HandlerClass`].
type Build = fn(&Kwargs<'_>, &Ctx<'_>) -> Result<HandlerClass, Invalid>;

/// The classes implemented, by the name their dictConfig `class` ends in
/// (the module part is checked by the caller): a new class is a row here
/// and its function.
const CLASSES: &[(&str, Build)] = &[
    ("StreamHandler", stream_handler),
    ("FileHandler", |kw, ctx| {
        Ok(HandlerClass::File(plain_file(kw, ctx)?))
    }),
    ("WatchedFileHandler", |kw, ctx| {
        Ok(HandlerClass::Watched(plain_file(kw, ctx)?))
    }),
    ("RotatingFileHandler", rotating_file_handler),
    ("TimedRotatingFileHandler", timed_rotating_file_handler),
    ("SysLogHandler", syslog_handler),
    ("KafkaHandler", |kw, _| super::kafka_args::build(kw)),
    ("DynamicFileHandler", dynamic_args),
    ("MemoryHandler", memory_handler),
];

pub(super) fn build_class(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
    match CLASSES.iter().find(|(name, _)| *name == kw.class) {
        Some((_, build)) => build(kw, ctx),
        // NullHandler: no arguments.
        None => {
            kw.check(&[], &[])?;
            Ok(HandlerClass::Null)
        }
    }
}

/// FileHandler's and WatchedFileHandler's arguments.
fn plain_file(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<FileArgs, Invalid> {
    kw.check(FILE, &["filename"])?;
    file_args(kw, ctx, false)
}

const FILE: &[&str] = &["filename", "mode", "encoding", "delay", "errors"];

/// `logging.StreamHandler(stream)`.
fn stream_handler(kw: &Kwargs<'_>, _ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
    kw.check(&["stream"], &[])?;
    let target = match kw.get("stream")? {
        None => StreamTarget::Stderr,
        Some(Value::String(s)) if s == EXT_STDOUT => StreamTarget::Stdout,
        Some(Value::String(s)) if s == EXT_STDERR => StreamTarget::Stderr,
        Some(other) => {
            return Err(format!(
                "unsupported stream {} (use ext://sys.stdout or ext://sys.stderr)",
                py_repr(&other)
            )
            .into())
        }
    };
    Ok(HandlerClass::Stream {
        target,
        terminator: "\n".into(),
    })
}

/// `logging.handlers.RotatingFileHandler`.
fn rotating_file_handler(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
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
    Ok(HandlerClass::Rotating {
        file,
        max_bytes,
        backup_count: kw.int("backupCount", 0)?,
    })
}

/// `logging.handlers.TimedRotatingFileHandler`.
fn timed_rotating_file_handler(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
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
                )
                .into());
            }
            let d = w.as_bytes()[1];
            if !(b'0'..=b'6').contains(&d) {
                return Err(format!("Invalid day specified for weekly rollover: {w}").into());
            }
            (7 * 86400, "%Y-%m-%d", When::Weekday(u32::from(d - b'0')))
        }
        other => return Err(format!("Invalid rollover interval specified: {other}").into()),
    };
    // Python accepts 0 or less and then loops forever at the first rollover.
    let interval = match kw.int("interval", 1)? {
        n if n >= 1 => i64::saturating_mul(unit, n),
        n => {
            // The value as given: an int below i64's range prints whole.
            let given = kw.get("interval")?.map_or(n.to_string(), |v| py_repr(&v));
            return Err(format!("interval must be a positive number of units, not {given}").into());
        }
    };
    Ok(HandlerClass::Timed {
        file,
        when: when_kind,
        interval,
        suffix,
        backup_count: kw.int("backupCount", 0)?,
        utc: kw.flag("utc", false)?,
    })
}

/// `logging.handlers.SysLogHandler(address, facility, socktype)`.
fn syslog_handler(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
    kw.check(&["address", "facility", "socktype"], &[])?;
    let address = match kw.get("address")? {
        None => SyslogAddress::Inet("localhost".into(), 514),
        Some(Value::String(p)) => SyslogAddress::Unix(PathBuf::from(p)),
        Some(Value::Array(a)) if a.len() == 2 => {
            let host = match ctx.res.conv(&a[0])? {
                Value::String(h) => h,
                other => {
                    return Err(
                        format!("address host must be a string, not {}", py_repr(&other)).into(),
                    )
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
            )
            .into())
        }
    };
    let facility = match kw.get("facility")? {
        None => 1,
        Some(Value::String(f)) => facility_code(&f).ok_or_else(|| py_repr_str(&f))?,
        Some(v) => v
            .as_u64()
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(|| format!("facility must be a name or a number, not {}", py_repr(&v)))?,
    };
    let stream = match kw.get("socktype")? {
        None => None,
        Some(v) if v.as_i64() == Some(1) => Some(true),
        Some(v) if v.as_i64() == Some(2) => Some(false),
        Some(v) => {
            return Err(format!(
                "unsupported socktype {} (use ext://socket.SOCK_STREAM or ext://socket.SOCK_DGRAM)",
                py_repr(&v)
            )
            .into())
        }
    };
    Ok(HandlerClass::Syslog {
        address,
        facility,
        stream,
        ident: String::new(),
        append_nul: true,
        on_failure: OnFailure::Hold,
    })
}

/// `logging.handlers.MemoryHandler(capacity, flushLevel, target, flushOnClose)`.
fn memory_handler(kw: &Kwargs<'_>, _ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
    kw.check(
        &["capacity", "flushLevel", "target", "flushOnClose"],
        &["capacity"],
    )?;
    let flush_level = match kw.get("flushLevel")? {
        None => ERROR,
        Some(v) => convert::check_level(&v)?,
    };
    Ok(HandlerClass::Memory {
        capacity: kw.int("capacity", 0)?,
        flush_level,
        target: kw.string("target")?,
        flush_on_close: kw.flag("flushOnClose", true)?,
    })
}

fn file_args(kw: &Kwargs<'_>, ctx: &Ctx<'_>, force_append: bool) -> Result<FileArgs, Invalid> {
    let filename = match kw.get("filename")? {
        Some(Value::String(s)) if !s.starts_with("ext://") => s,
        Some(other) => {
            return Err(format!(
                "expected str, bytes or os.PathLike object, not {}",
                convert::py_type(&other)
            )
            .into())
        }
        None => {
            return Err(format!(
                "{}.__init__() missing 1 required positional argument: 'filename'",
                kw.class
            )
            .into())
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
            )
            .into())
        }
    };
    let (encoding, errors) = super::encoding::text_encoding(kw)?;
    Ok(FileArgs {
        path: abspath(ctx.cwd, &filename),
        truncate,
        encoding,
        errors,
        delay: kw.flag("delay", false)?,
        terminator: "\n".into(),
        on_failure: OnFailure::Hold,
        fsync: false,
    })
}

/// DynamicFileHandler's arguments: FileHandler's (`delay` has no meaning:
/// every file opens at its first record) and its own.
fn dynamic_args(kw: &Kwargs<'_>, ctx: &Ctx<'_>) -> Result<HandlerClass, Invalid> {
    kw.check(
        &[
            "filename",
            "mode",
            "encoding",
            "errors",
            "max_open",
            "idle_close",
            "dir_mode",
        ],
        &["filename"],
    )?;
    let template =
        match kw.get("filename")? {
            Some(Value::String(s)) => {
                PathTemplate::parse(&s, ctx.cwd).map_err(|e| Invalid(e.to_string()))?
            }
            Some(other) => {
                return Err(format!(
                    "filename must be a template string, not {}",
                    convert::py_type(&other)
                )
                .into())
            }
            None => return Err(
                "DynamicFileHandler.__init__() missing 1 required positional argument: 'filename'"
                    .into(),
            ),
        };
    let mut file = file_args(kw, ctx, false)?;
    file.path = template.base().to_path_buf();
    file.delay = true;
    let max_open = match kw.int("max_open", 256)? {
        n @ 1..=65_536 => n as usize,
        n => return Err(format!("max_open must be from 1 to 65536, not {n}").into()),
    };
    let idle_close = match kw.get("idle_close")? {
        None => 300.0,
        Some(v) => v
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                format!(
                    "idle_close must be a positive number of seconds, not {}",
                    py_repr(&v)
                )
            })?,
    };
    let dir_mode = match kw.get("dir_mode")? {
        None => 0o750,
        Some(Value::String(s)) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                format!(
                    "dir_mode must be an octal mode such as \"0750\", not {}",
                    py_repr_str(&s)
                )
            })?,
        Some(v) => v
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                format!(
                    "dir_mode must be a mode (\"0750\" or 488), not {}",
                    py_repr(&v)
                )
            })?,
    };
    Ok(HandlerClass::Dynamic(Box::new(DynamicArgs {
        template,
        file,
        max_open,
        idle_close: std::time::Duration::from_secs_f64(idle_close),
        dir_mode,
    })))
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

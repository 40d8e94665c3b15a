//! Handler sections of a dictConfig: class, constructor arguments with their
//! Python defaults and errors, `level`, `formatter`, `filters` and `.` properties.
//!
//! Owns: `configure_handler` up to (not including) construction, and Python's
//! order of construction (sorted names, MemoryHandlers deferred until their
//! target exists). Does not own: opening files or sockets (`handler/`).

use serde_json::{Map, Value};

use super::args::build_class;
use super::convert::{self, py_repr, py_repr_str, truthy};
use super::ctx::{as_dict, check_filters, dot_warning, Ctx, DotUse};
use super::invalid::Invalid;
use super::kwargs::Kwargs;
use crate::logging::spec::{Config, ConfigError, HandlerClass, HandlerSpec, OnFailure};

/// The handler classes pysyslog implements, by their Python names.
pub const SUPPORTED_CLASSES: &str = "logging.StreamHandler, logging.FileHandler, logging.NullHandler, \
logging.handlers.WatchedFileHandler, logging.handlers.RotatingFileHandler, \
logging.handlers.TimedRotatingFileHandler, logging.handlers.SysLogHandler, logging.handlers.MemoryHandler, \
pysyslog.handlers.KafkaHandler, pysyslog.handlers.DynamicFileHandler";

/// Configure every handler in Python's order: sorted by name, then the
/// MemoryHandlers whose target was not built yet. Also returns a warning for
/// each handler given `.` attributes that have no effect here.
pub(super) fn parse_all(
    ctx: &Ctx<'_>,
    doc: &Map<String, Value>,
    handlers: &Map<String, Value>,
    config: &Config,
) -> Result<(Vec<HandlerSpec>, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
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
                Ok((h, unused)) => {
                    let path = format!("handlers.{name}");
                    warnings.extend(dot_warning(ctx, &path, DotUse::Handler, unused));
                    done.push(h);
                }
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
    Ok((done, warnings))
}

/// Why one handler section was not configured (yet).
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// A MemoryHandler target exists but is not built yet (deferred once).
    #[error("{0}")]
    NotYet(Invalid),
    /// Anything else.
    #[error("{0}")]
    Bad(#[from] Invalid),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Bad(Invalid(s))
    }
}

fn parse_one(
    ctx: &Ctx<'_>,
    doc: &Map<String, Value>,
    _name: &str,
    spec: &Value,
    config: &Config,
    built: &[&str],
    all: &Map<String, Value>,
) -> Result<(HandlerSpec, Vec<String>), Failure> {
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
        ).into());
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
        // Not a Python class: Python's dictConfig would refuse the file, so
        // nobody mistakes it for a configuration Python can run.
        "pysyslog.handlers.KafkaHandler" => "KafkaHandler",
        "pysyslog.handlers.DynamicFileHandler" => "DynamicFileHandler",
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
                return Err(Failure::NotYet(msg("target not configured yet").into()));
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
    // Python's `setattr` takes any name; those no handler here reads are
    // reported by the caller instead of refusing the configuration.
    let mut unused = Vec::new();
    if let Some(props) = ctx.res.get(m, ".")?.filter(truthy) {
        let props = props.as_object().ok_or_else(|| {
            format!(
                "'{}' object has no attribute 'items'",
                convert::py_type(&props)
            )
        })?;
        for (k, v) in props {
            if !set_prop(&mut class, k, &ctx.res.conv(v)?)? {
                unused.push(k.clone());
            }
        }
    }
    let spec = HandlerSpec {
        name: _name.to_owned(),
        level,
        formatter,
        filters,
        class,
    };
    Ok((spec, unused))
}

fn on_failure(v: &Value) -> Result<OnFailure, Invalid> {
    match v {
        Value::String(s) if s == "hold" => Ok(OnFailure::Hold),
        Value::String(s) if s == "drop" => Ok(OnFailure::Drop),
        other => Err(Invalid(format!(
            "on_failure must be 'hold' or 'drop', not {}",
            py_repr(other)
        ))),
    }
}

/// `setattr(handler, name, value)` for the attributes that change output;
/// `false` for a name pysyslog's handlers do not use.
fn set_prop(class: &mut HandlerClass, key: &str, v: &Value) -> Result<bool, Invalid> {
    let text = || match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(Invalid(format!(
            "{key} must be a string, not {}",
            py_repr(other)
        ))),
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
        (HandlerClass::Dynamic(d), "terminator") => d.file.terminator = text()?,
        (HandlerClass::Dynamic(d), "fsync") => d.file.fsync = truthy(v),
        (HandlerClass::Dynamic(d), "on_failure") => d.file.on_failure = on_failure(v)?,
        (
            HandlerClass::File(f)
            | HandlerClass::Watched(f)
            | HandlerClass::Rotating { file: f, .. }
            | HandlerClass::Timed { file: f, .. },
            "on_failure",
        ) => f.on_failure = on_failure(v)?,
        (
            HandlerClass::File(f)
            | HandlerClass::Watched(f)
            | HandlerClass::Rotating { file: f, .. }
            | HandlerClass::Timed { file: f, .. },
            "fsync",
        ) => f.fsync = truthy(v),
        (HandlerClass::Syslog { ident, .. }, "ident") => *ident = text()?,
        (HandlerClass::Syslog { append_nul, .. }, "append_nul") => *append_nul = truthy(v),
        (HandlerClass::Syslog { on_failure: o, .. }, "on_failure") => *o = on_failure(v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

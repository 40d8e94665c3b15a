//! What every part of the dictConfig parser shares: the document being read,
//! where relative paths start, and the checks several sections make (a
//! section is a dict, names refer to configured filters).
//!
//! Owns: the parsing context and those shared checks. Does not own: any one
//! section's schema (`mod.rs`, `handler.rs`, `args.rs`).

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::convert::{self, py_repr_str, Resolver};
use super::invalid::Invalid;
use crate::logging::spec::ConfigError;

/// Parsing context: the document, the file name, the directory relative paths start from.
pub(super) struct Ctx<'a> {
    pub(super) source: &'a Path,
    pub(super) cwd: &'a Path,
    pub(super) res: Resolver<'a>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.source, path, message)
    }
}

pub(super) fn as_dict(v: &Value) -> Result<&Map<String, Value>, Invalid> {
    v.as_object()
        .ok_or_else(|| format!("'{}' object has no attribute 'get'", convert::py_type(v)).into())
}

pub(super) fn opt_str(
    ctx: &Ctx<'_>,
    m: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, Invalid> {
    match ctx.res.get(m, key)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => {
            Err(format!("{key} must be a string, not {}", convert::py_type(&other)).into())
        }
    }
}

/// Names from a `handlers`/`filters` list; a string is iterated by character,
/// as Python does.
pub(super) fn name_list(v: &Value, what: &str) -> Result<Vec<String>, Invalid> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "Unable to add {what} {}: {}",
                    convert::py_repr(other),
                    convert::py_repr(other)
                )
                .into()),
            })
            .collect(),
        Value::String(s) => Ok(s.chars().map(String::from).collect()),
        other => Err(format!("'{}' object is not iterable", convert::py_type(other)).into()),
    }
}

/// `add_filters`: every name must be configured.
pub(super) fn check_filters(
    doc: &Map<String, Value>,
    list: &Value,
    ctx: &Ctx<'_>,
) -> Result<Vec<String>, Invalid> {
    let names = name_list(list, "filter")?;
    let filters = ctx.res.get(doc, "filters").ok().flatten();
    for f in &names {
        let known = filters
            .as_ref()
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key(f));
        if !known {
            let key = if filters.is_some() {
                py_repr_str(f)
            } else {
                "'filters'".into()
            };
            return Err(format!("Unable to add filter {}: {key}", py_repr_str(f)).into());
        }
    }
    Ok(names)
}

/// What a warning about `.` attributes says: a handler's are set by Python
/// (`setattr`), a formatter's or filter's are ignored by Python too.
#[derive(Debug, Clone, Copy)]
pub(super) enum DotUse {
    Handler,
    FormatterOrFilter,
}

/// The one warning for a section's `.` attributes that have no effect,
/// naming them in sorted order; `None` when there are none.
pub(super) fn dot_warning(
    ctx: &Ctx<'_>,
    path: &str,
    what: DotUse,
    mut names: Vec<String>,
) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    names.sort();
    let names: Vec<String> = names.iter().map(|n| py_repr_str(n)).collect();
    let why = match what {
        DotUse::Handler => "'.' sets attributes pysyslog does not use, they have no effect",
        DotUse::FormatterOrFilter => {
            "'.' has no effect without a '()' factory (Python ignores it too)"
        }
    };
    Some(
        ctx.err(path, format!("{why}: {}", names.join(", ")))
            .to_string(),
    )
}

/// The names in a formatter's or filter's `.`: Python's `configure_formatter`
/// and `configure_filter` read `.` only for `()` factories (which pysyslog
/// refuses), so the value is neither converted nor checked.
pub(super) fn dot_names(spec: &Value) -> Vec<String> {
    match spec.get(".") {
        Some(Value::Object(props)) => props.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `os.path.abspath`: join with the working directory and normalise lexically.
pub(super) fn abspath(cwd: &Path, p: &str) -> PathBuf {
    let joined = cwd.join(p);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

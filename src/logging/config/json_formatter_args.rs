//! The arguments of `{"()": "pythonjsonlogger.json.JsonFormatter", ...}` (or
//! the older `pythonjsonlogger.jsonlogger.JsonFormatter`): every key but `()`
//! and `.` is a keyword argument, as dictConfig's `configure_custom` passes
//! them, with `format` standing for `fmt` as `configure_formatter`'s retry
//! makes it. No Python runs: the class name selects pysyslog's own
//! implementation.
//!
//! Owns: the accepted keywords, their types, `cfg://`/`ext://` conversion
//! of the values (the top level of each, and of each dict's values, where
//! Python's `ConvertingDict` converts), and refusing what needs Python
//! (`json_default`, `json_encoder`, `json_serializer`, `.` attributes).
//! Does not own: what the arguments mean ([`crate::logging::json_formatter`]).

use serde_json::{Map, Value};

use super::convert::{py_repr_str, py_type, truthy, valid_ident, EXT_STDERR, EXT_STDOUT};
use super::ctx::Ctx;
use super::invalid::Invalid;
use crate::logging::formatter::Formatter;
use crate::logging::json_formatter::{JsonFmt, JsonOptions};

/// The factory names a configuration may give.
pub(super) const FACTORIES: [&str; 2] = [
    "pythonjsonlogger.json.JsonFormatter",
    "pythonjsonlogger.jsonlogger.JsonFormatter",
];

/// The keywords `JsonFormatter.__init__` takes (with `format` for `fmt`).
const KEYWORDS: [&str; 19] = [
    "fmt",
    "format",
    "datefmt",
    "style",
    "validate",
    "prefix",
    "rename_fields",
    "rename_fields_keep_missing",
    "static_fields",
    "reserved_attrs",
    "timestamp",
    "defaults",
    "exc_info_as_array",
    "stack_info_as_array",
    "json_default",
    "json_encoder",
    "json_serializer",
    "json_indent",
    "json_ensure_ascii",
];

/// The callables `json.dumps` would be given: they exist only in Python.
const CALLABLES: [&str; 3] = ["json_default", "json_encoder", "json_serializer"];

/// Widest `json_indent` accepted (a wider one is a mistake, and each
/// nesting level of every record would repeat it).
const MAX_INDENT: i64 = 64;

/// Build the formatter from the factory's keys.
pub(super) fn parse(ctx: &Ctx<'_>, m: &Map<String, Value>) -> Result<Formatter, Invalid> {
    let kw = keywords(ctx, m)?;
    let get = |k: &str| kw.get(k).filter(|v| !v.is_null());
    let flag = |k: &str, default: bool| get(k).map_or(default, truthy);
    let string = |k: &str| -> Result<Option<String>, Invalid> {
        match get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!("{k} must be a string, not {}", py_type(v)).into()),
        }
    };
    // `configure_formatter` retries a `format` as `fmt`, overwriting it.
    let fmt_key = if kw.contains_key("format") {
        "format"
    } else {
        "fmt"
    };
    let fmt = match get(fmt_key) {
        None => JsonFmt::Text {
            fmt: None,
            style: string("style")?.unwrap_or_else(|| "%".into()),
            validate: flag("validate", true),
        },
        Some(Value::String(s)) => JsonFmt::Text {
            fmt: Some(s.clone()),
            style: string("style")?.unwrap_or_else(|| "%".into()),
            validate: flag("validate", true),
        },
        Some(Value::Array(items)) => JsonFmt::Names(names(fmt_key, items)?),
        Some(v) => {
            return Err(format!(
                "{fmt_key} must be a format string or a list of field names, not {}",
                py_type(v)
            )
            .into())
        }
    };
    let opts = JsonOptions {
        fmt,
        datefmt: string("datefmt")?,
        prefix: string("prefix")?.unwrap_or_default(),
        rename_fields: renames(ctx, get("rename_fields"))?,
        rename_fields_keep_missing: flag("rename_fields_keep_missing", false),
        static_fields: dict(ctx, "static_fields", get("static_fields"))?,
        reserved_attrs: get("reserved_attrs").map(reserved).transpose()?,
        timestamp: get("timestamp").filter(|v| truthy(v)).map(|v| match v {
            Value::String(s) => s.clone(),
            _ => "timestamp".into(),
        }),
        defaults: dict(ctx, "defaults", get("defaults"))?,
        ensure_ascii: flag("json_ensure_ascii", true),
        indent: get("json_indent").map(indent).transpose()?,
    };
    Formatter::json(&opts).map_err(|e| Invalid(e.to_string()))
}

/// `configure_custom`: each key checked as an identifier and its value
/// converted, in order; then the call's TypeError for an unknown keyword.
fn keywords(ctx: &Ctx<'_>, m: &Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    let mut kw = Map::new();
    for (k, raw) in m {
        if k == "()" || k == "." {
            continue;
        }
        valid_ident(k)?;
        if CALLABLES.contains(&k.as_str()) && !raw.is_null() {
            return Err(format!(
                "{k} must be a Python callable, and pysyslog runs no Python: leave it out \
                 (values are encoded as python-json-logger's JsonEncoder does)"
            )
            .into());
        }
        kw.insert(k.clone(), ctx.res.conv(raw)?);
    }
    if let Some(k) = kw.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
        return Err(format!(
            "BaseJsonFormatter.__init__() got an unexpected keyword argument {}",
            py_repr_str(k)
        )
        .into());
    }
    if m.get(".").is_some_and(truthy) {
        return Err(
            "'.' (attributes set after construction) is not supported for \
                    JsonFormatter by pysyslog; pass them as arguments"
                .into(),
        );
    }
    Ok(kw)
}

/// `fmt` as a list of field names.
fn names(key: &str, items: &[Value]) -> Result<Vec<String>, Invalid> {
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(Invalid(format!(
                "{key} must list field names as strings, not {}",
                py_type(other)
            ))),
        })
        .collect()
}

/// A dict argument with each value converted (`static_fields`, `defaults`).
fn dict(ctx: &Ctx<'_>, key: &str, v: Option<&Value>) -> Result<Map<String, Value>, Invalid> {
    let Some(v) = v else {
        return Ok(Map::new());
    };
    let Value::Object(m) = v else {
        return Err(format!("{key} must be a dict, not {}", py_type(v)).into());
    };
    let mut out = Map::new();
    for (k, raw) in m {
        let value = ctx.res.conv(raw)?;
        if matches!(&value, Value::String(s) if s == EXT_STDOUT || s == EXT_STDERR) {
            return Err(format!(
                "{key}: {} is a stream, which has no JSON value",
                py_repr_str(k)
            )
            .into());
        }
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// `rename_fields`: old name to new name, in order.
fn renames(ctx: &Ctx<'_>, v: Option<&Value>) -> Result<Vec<(String, String)>, Invalid> {
    dict(ctx, "rename_fields", v)?
        .into_iter()
        .map(|(k, to)| match to {
            Value::String(s) => Ok((k, s)),
            other => Err(Invalid(format!(
                "rename_fields: the new name of {} must be a string, not {}",
                py_repr_str(&k),
                py_type(&other)
            ))),
        })
        .collect()
}

/// `set(reserved_attrs)`: a list's strings (other scalars can match no
/// attribute name), a string's characters, a dict's keys.
fn reserved(v: &Value) -> Result<Vec<String>, Invalid> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(Ok(s.clone())),
                Value::Array(_) | Value::Object(_) => {
                    Some(Err(format!("unhashable type: '{}'", py_type(i)).into()))
                }
                _ => None,
            })
            .collect(),
        Value::String(s) => Ok(s.chars().map(String::from).collect()),
        Value::Object(m) => Ok(m.keys().cloned().collect()),
        other => Err(format!("'{}' object is not iterable", py_type(other)).into()),
    }
}

/// `json_indent`: spaces for an integer (or a bool), a string as it is.
fn indent(v: &Value) -> Result<String, Invalid> {
    let n = match v {
        Value::String(s) => return Ok(s.clone()),
        Value::Bool(b) => i64::from(*b),
        Value::Number(n) if !n.as_str().contains(['.', 'e', 'E']) => {
            n.as_i64().unwrap_or(if n.as_str().starts_with('-') {
                0
            } else {
                i64::MAX
            })
        }
        other => {
            return Err(format!(
                "json_indent must be an integer, a string or null, not {}",
                py_type(other)
            )
            .into())
        }
    };
    if n > MAX_INDENT {
        return Err(format!("json_indent {n} is wider than pysyslog allows ({MAX_INDENT})").into());
    }
    Ok(" ".repeat(usize::try_from(n).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::logging::record::LogRecord;
    use crate::logging::spec::Config;

    fn parse(formatter: &str) -> Result<Config, String> {
        let text = format!(
            r#"{{"version": 1, "levels": {{"x": 20}}, "formatters": {{"j": {formatter}}}}}"#
        );
        Config::from_json_str_in(&text, Path::new("logging.json"), Path::new("/work"))
            .map_err(|e| e.to_string())
    }

    fn line(formatter: &str, msg: &str) -> String {
        let config = parse(formatter).unwrap();
        let mut f = config.formatters["j"].clone();
        let rec = LogRecord {
            name: "10.0.0.1",
            msg,
            levelno: 20,
            created: 1_700_000_000.5,
            relative_created: 2.5,
            attrs: None,
        };
        let (mut out, mut cuts) = (String::new(), Vec::new());
        assert!(!f.format_around_message(&rec, &mut out, &mut cuts));
        f.format(&rec, &mut out).unwrap();
        out
    }

    #[test]
    fn arguments_shape_the_object() {
        assert_eq!(
            line(
                r#"{"()": "pythonjsonlogger.json.JsonFormatter"}"#,
                "h\u{e9}"
            ),
            r#"{"message": "h\u00e9"}"#
        );
        assert_eq!(
            line(
                r#"{"()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                    "format": "%(levelname)s %(message)s", "prefix": "@cee: ",
                    "rename_fields": {"levelname": "level"}, "timestamp": "ts",
                    "static_fields": {"lvl": "cfg://levels.x", "n": 1.5e16}}"#,
                "x"
            ),
            r#"@cee: {"level": "INFO", "message": "x", "lvl": 20, "n": 1.5e+16, "ts": "2023-11-14T22:13:20.500000+00:00"}"#
        );
        assert_eq!(
            line(
                r#"{"()": "pythonjsonlogger.json.JsonFormatter", "fmt": ["name", "lineno"],
                    "json_indent": 1, "json_ensure_ascii": false}"#,
                "x"
            ),
            "{\n \"name\": \"10.0.0.1\",\n \"lineno\": 0\n}"
        );
    }

    #[test]
    fn errors_name_the_argument_and_the_path() {
        let err = |f: &str| parse(f).unwrap_err();
        assert_eq!(
            err(
                r#"{"()": "pythonjsonlogger.json.JsonFormatter", "format": "%(message)s", "colour": 1}"#
            ),
            "logging.json: formatters.j: Unable to configure formatter 'j': \
             BaseJsonFormatter.__init__() got an unexpected keyword argument 'colour'"
        );
        let e = err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "json_default": "str"}"#);
        assert!(
            e.starts_with("logging.json: formatters.j: Unable to configure formatter 'j': json_default must be a Python callable, and pysyslog runs no Python"),
            "{e}"
        );
        for k in ["json_encoder", "json_serializer"] {
            let e = err(&format!(
                r#"{{"()": "pythonjsonlogger.json.JsonFormatter", "{k}": "ext://json.dumps"}}"#
            ));
            assert!(
                e.contains(&format!("'j': {k} must be a Python callable")),
                "{e}"
            );
        }
        assert!(
            parse(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "json_default": null}"#).is_ok()
        );
        assert!(
            err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "bad-key": 1}"#)
                .ends_with("Not a valid Python identifier: 'bad-key'")
        );
        assert!(
            err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "style": "x"}"#)
                .ends_with("Style must be one of: '%{$,'")
        );
        assert!(
            err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", ".": {"prefix": "x"}}"#)
                .contains("'.' (attributes set after construction) is not supported")
        );
        assert!(
            err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "json_indent": 1.5}"#)
                .ends_with("json_indent must be an integer, a string or null, not float")
        );
        assert!(err(r#"{"()": "pythonjsonlogger.json.JsonFormatter", "static_fields": {"s": "ext://sys.stdout"}}"#)
            .ends_with("static_fields: 's' is a stream, which has no JSON value"));
        let e = err(r#"{"()": "my.Formatter"}"#);
        assert!(
            e.contains("formatter factory 'my.Formatter' is not supported")
                && e.contains("pythonjsonlogger.json.JsonFormatter"),
            "{e}"
        );
    }
}

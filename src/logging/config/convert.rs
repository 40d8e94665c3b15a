//! Python's value conversions in `dictConfig`: `cfg://` and `ext://` strings,
//! `_checkLevel`, `valid_ident`, truthiness, and `repr`/`str` of JSON values for
//! error messages worded as Python's.
//!
//! Owns: the meaning of a single config value. Does not own: the schema (see
//! `mod.rs`), which decides which values are converted and when.

use serde_json::{Map, Value};

use super::invalid::Invalid;
use crate::logging::level;
use crate::logging::pyfmt::pyvalue;

/// How deep `cfg://` references may chain before we call it a cycle (Python
/// would hit its recursion limit).
const MAX_CFG_DEPTH: usize = 32;

/// What `ext://sys.stdout` resolves to; only a handler's `stream` accepts it.
pub const EXT_STDOUT: &str = "ext://sys.stdout";
/// What `ext://sys.stderr` resolves to.
pub const EXT_STDERR: &str = "ext://sys.stderr";

/// Resolves `cfg://` and `ext://` values against the whole document, like
/// `BaseConfigurator.convert` (`CONVERT_PATTERN = ^[a-z]+://`).
pub struct Resolver<'a> {
    pub root: &'a Map<String, Value>,
}

impl Resolver<'_> {
    /// Convert one value; non-matching values are returned unchanged.
    pub fn conv(&self, v: &Value) -> Result<Value, Invalid> {
        self.conv_depth(v, 0)
    }

    fn conv_depth(&self, v: &Value, depth: usize) -> Result<Value, Invalid> {
        let Value::String(s) = v else {
            return Ok(v.clone());
        };
        let Some((prefix, suffix)) = split_convert(s) else {
            return Ok(v.clone());
        };
        if depth > MAX_CFG_DEPTH {
            return Err("maximum recursion depth exceeded".into());
        }
        match prefix {
            "ext" => ext_convert(suffix),
            "cfg" => {
                let found = self.cfg_lookup(s, suffix, depth + 1)?;
                self.conv_depth(&found, depth + 1)
            }
            _ => Ok(v.clone()),
        }
    }

    /// Get `key` of an object and convert it (`ConvertingDict.get`).
    pub fn get(&self, obj: &Map<String, Value>, key: &str) -> Result<Option<Value>, Invalid> {
        match obj.get(key) {
            None => Ok(None),
            Some(v) => self.conv(v).map(Some),
        }
    }

    /// `cfg_convert`: `WORD` then any of `.word` / `[word]` (digits index a list).
    /// Values met on the way are converted at `depth`, so a reference that leads
    /// back to itself (`"x": "cfg://x"`) ends in an error, not a stack overflow.
    fn cfg_lookup(&self, whole: &str, path: &str, depth: usize) -> Result<Value, Invalid> {
        let Some((first, mut rest)) = take_word(path.trim_start()) else {
            return Err(format!("Unable to convert {}", py_repr_str(whole)).into());
        };
        rest = rest.trim_start();
        let mut d = match self.root.get(first) {
            Some(v) => self.conv_depth(v, depth)?,
            None => return Err(py_repr_str(first).into()),
        };
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                if let Some((w, r)) = take_word(after.trim_start()) {
                    d = index_key(&d, w)?;
                    d = self.conv_depth(&d, depth)?;
                    rest = r.trim_start();
                    continue;
                }
            } else if let Some(after) = rest.strip_prefix('[') {
                if let Some((w, r)) = take_word(after.trim_start()) {
                    if let Some(r) = r.trim_start().strip_prefix(']') {
                        d = if w.bytes().all(|b| b.is_ascii_digit()) {
                            index_int(&d, w)?
                        } else {
                            index_key(&d, w)?
                        };
                        d = self.conv_depth(&d, depth)?;
                        rest = r.trim_start();
                        continue;
                    }
                }
            }
            return Err(format!(
                "Unable to convert {} at {}",
                py_repr_str(whole),
                py_repr_str(rest)
            )
            .into());
        }
        Ok(d)
    }
}

/// `^(?P<prefix>[a-z]+)://(?P<suffix>.*)$`
fn split_convert(s: &str) -> Option<(&str, &str)> {
    let i = s.find("://")?;
    let prefix = &s[..i];
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    // `.*` does not cross a newline.
    let suffix = &s[i + 3..];
    if suffix.contains('\n') {
        return None;
    }
    Some((prefix, suffix))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `(\w+)` at the start of `s`.
fn take_word(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !is_word_char(c)).unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// `d[key]` with a string key.
fn index_key(d: &Value, key: &str) -> Result<Value, Invalid> {
    match d {
        Value::Object(m) => m.get(key).cloned().ok_or_else(|| py_repr_str(key).into()),
        Value::Array(_) => Err("list indices must be integers or slices, not str".into()),
        Value::String(_) => Err("string indices must be integers, not 'str'".into()),
        other => Err(format!("'{}' object is not subscriptable", py_type(other)).into()),
    }
}

/// `d[n]` tried as an integer first: a dict gives KeyError, a list indexes.
fn index_int(d: &Value, digits: &str) -> Result<Value, Invalid> {
    let n: usize = digits
        .parse()
        .map_err(|_| "cannot fit 'int' into an index-sized integer".to_string())?;
    match d {
        Value::Array(a) => a
            .get(n)
            .cloned()
            .ok_or_else(|| "list index out of range".into()),
        Value::Object(_) => Err(n.to_string().into()),
        Value::String(s) => s
            .chars()
            .nth(n)
            .map(|c| Value::String(c.to_string()))
            .ok_or_else(|| "string index out of range".into()),
        other => Err(format!("'{}' object is not subscriptable", py_type(other)).into()),
    }
}

/// The `ext://` targets a JSON config can meaningfully name.
pub const SUPPORTED_EXT: &str = "sys.stdout, sys.stderr, socket.SOCK_STREAM, socket.SOCK_DGRAM, \
logging.CRITICAL, logging.FATAL, logging.ERROR, logging.WARNING, logging.WARN, logging.INFO, \
logging.DEBUG, logging.NOTSET";

fn ext_convert(name: &str) -> Result<Value, Invalid> {
    match name {
        "sys.stdout" => Ok(Value::String(EXT_STDOUT.into())),
        "sys.stderr" => Ok(Value::String(EXT_STDERR.into())),
        "socket.SOCK_STREAM" => Ok(Value::from(1)),
        "socket.SOCK_DGRAM" => Ok(Value::from(2)),
        _ => {
            if let Some(lv) = name
                .strip_prefix("logging.")
                .and_then(level::level_from_name)
            {
                return Ok(Value::from(lv));
            }
            Err(format!(
                "Cannot resolve {}: pysyslog supports only these ext:// names: {SUPPORTED_EXT}",
                py_repr_str(name)
            )
            .into())
        }
    }
}

/// `logging._checkLevel`: an int, or an exact level name.
pub fn check_level(v: &Value) -> Result<i32, Invalid> {
    match v {
        Value::Bool(b) => Ok(i32::from(*b)),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            let n = n.as_i64().unwrap_or(i64::MAX);
            Ok(n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        }
        Value::String(s) => level::level_from_name(s)
            .ok_or_else(|| format!("Unknown level: {}", py_repr_str(s)).into()),
        other => Err(format!("Level not an integer or a valid string: {}", py_repr(other)).into()),
    }
}

/// `valid_ident`: `^[a-z_][a-z0-9_]*$` (case-insensitive).
pub fn valid_ident(s: &str) -> Result<(), Invalid> {
    let mut chars = s.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Not a valid Python identifier: {}", py_repr_str(s)).into())
    }
}

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's type name of a JSON value.
pub fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `repr(str)`: CPython's quotes and escapes (`pyvalue` owns them).
pub fn py_repr_str(s: &str) -> String {
    pyvalue::repr_of(s)
}

/// The text of a JSON integer (no fraction, no exponent), which `json.load`
/// makes a Python `int` of any size; `None` for floats and other values.
pub fn int_text(v: &Value) -> Option<&str> {
    match v {
        Value::Number(n) => {
            let text = n.as_str();
            (!text.contains(['.', 'e', 'E'])).then_some(text)
        }
        _ => None,
    }
}

/// A JSON integer as an `i64`, saturated: Python's ints have no bound, and
/// every integer argument means the same beyond `i64`'s range as at its end
/// (a `maxBytes` no file reaches, a count no loop finishes).
pub fn saturated_int(v: &Value) -> Option<i64> {
    let text = int_text(v)?;
    Some(match v.as_i64() {
        Some(n) => n,
        None if text.starts_with('-') => i64::MIN,
        None => i64::MAX,
    })
}

/// `repr(value)` of the Python object json.load would make.
pub fn py_repr(v: &Value) -> String {
    // An integer of any size prints exactly (`-0` is the int 0).
    if let Some(text) = int_text(v) {
        return if text == "-0" {
            "0".into()
        } else {
            text.into()
        };
    }
    let mut out = String::new();
    pyvalue::write_repr(&pyvalue::Value::from_json(v), &mut out, false);
    out
}

/// `str(value)`.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "handlers": {"h1": {"level": "INFO", "list": [10, "cfg://handlers.h1.level"]}},
            "a": "cfg://handlers[h1][list][1]",
            "ext": "ext://sys.stdout",
            "chain": "cfg://ext",
        })
    }

    #[test]
    fn cfg_dot_and_index() {
        let d = doc();
        let r = Resolver {
            root: d.as_object().unwrap(),
        };
        assert_eq!(
            r.conv(&json!("cfg://handlers.h1.level")).unwrap(),
            json!("INFO")
        );
        assert_eq!(
            r.conv(&json!("cfg://handlers.h1.list[0]")).unwrap(),
            json!(10)
        );
        assert_eq!(r.conv(&json!("cfg://a")).unwrap(), json!("INFO"));
        assert_eq!(r.conv(&json!("cfg://chain")).unwrap(), json!(EXT_STDOUT));
        assert_eq!(r.conv(&json!("cfg://handlers.nope")).unwrap_err(), "'nope'");
        assert_eq!(
            r.conv(&json!("cfg://handlers.h1.list[7]")).unwrap_err(),
            "list index out of range"
        );
        assert_eq!(r.conv(&json!("cfg://handlers[0]")).unwrap_err(), "0");
        assert_eq!(
            r.conv(&json!("cfg://handlers!x")).unwrap_err(),
            "Unable to convert 'cfg://handlers!x' at '!x'"
        );
        assert_eq!(
            r.conv(&json!("cfg://!")).unwrap_err(),
            "Unable to convert 'cfg://!'"
        );
        assert_eq!(r.conv(&json!("http://x")).unwrap(), json!("http://x"));
        assert_eq!(
            r.conv(&json!("ext://socket.SOCK_STREAM")).unwrap(),
            json!(1)
        );
        assert!(r
            .conv(&json!("ext://os.system"))
            .unwrap_err()
            .0
            .starts_with("Cannot resolve 'os.system'"));
    }

    #[test]
    fn levels_like_check_level() {
        assert_eq!(check_level(&json!("WARN")), Ok(30));
        assert_eq!(check_level(&json!("FATAL")), Ok(50));
        assert_eq!(check_level(&json!(25)), Ok(25));
        assert_eq!(
            check_level(&json!("info")),
            Err("Unknown level: 'info'".into())
        );
        assert_eq!(check_level(&json!("20")), Err("Unknown level: '20'".into()));
        assert_eq!(
            check_level(&json!(1.5)),
            Err("Level not an integer or a valid string: 1.5".into())
        );
    }

    #[test]
    fn idents_and_repr() {
        assert!(valid_ident("maxBytes").is_ok());
        assert_eq!(
            valid_ident("bad-key").unwrap_err(),
            "Not a valid Python identifier: 'bad-key'"
        );
        assert_eq!(
            py_repr(&json!({"a": [1, 2.0, null, true]})),
            "{'a': [1, 2.0, None, True]}"
        );
        assert_eq!(py_repr_str("it's"), "\"it's\"");
    }

    /// `py_repr` is what error messages quote: it must be CPython's `repr` of
    /// the object `json.load` makes, floats and non-printable characters included.
    #[test]
    fn repr_matches_cpython() {
        let values = json!([
            1e16, 1e15, 123456789012345680.0, 0.1, -0.0, 1.5e-7, 2.5, 1e300, -1e22,
            "\u{85}", "\u{a0}", "\u{ad}", "\u{2028}", "\u{7f}", "\u{1f600}", "\u{e000}",
            "it's", "\"q\"", "both ' and \"", "tab\tnl\n", [1, 2.0, null, true, "\u{85}"],
            {"k\u{85}": 1e16}
        ]);
        let script = "import json, sys\nfor v in json.load(sys.stdin):\n    print(repr(v))\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed for this test");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(values.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let expected: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let ours: Vec<String> = values.as_array().unwrap().iter().map(py_repr).collect();
        assert_eq!(ours, expected);
        for v in values.as_array().unwrap() {
            if let Value::String(s) = v {
                assert_eq!(py_repr_str(s), py_repr(v));
            }
        }
    }

    #[test]
    fn cyclic_references_are_errors_not_stack_overflows() {
        // Found by tests/properties.rs: the depth was reset on the way.
        for (doc, reference) in [
            (json!({"x": "cfg://x"}), "cfg://x"),
            (json!({"x": "cfg://y", "y": "cfg://x"}), "cfg://x"),
            (json!({"x": {"y": "cfg://x.y"}}), "cfg://x.y"),
            (json!({"x": ["cfg://x[0]"]}), "cfg://x[0]"),
        ] {
            let root = doc.as_object().unwrap().clone();
            let r = Resolver { root: &root };
            let err = r
                .conv(&json!(reference))
                .err()
                .map(String::from)
                .unwrap_or_default();
            assert!(err.contains("recursion"), "{doc}: {err:?}");
        }
    }
}

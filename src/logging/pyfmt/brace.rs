//! `{`-style formatting (`fmt.format(**record.__dict__)`): CPython 3.11's
//! `MarkupIterator` / `parse_field` / `field_name_split` parsing, compiled once
//! (the parser is shared with `StrFormatStyle.validate` in [`super::validate`]).
//!
//! Owns: splitting the format string into literals and `{name!conv:spec}`
//! fields (with one level of nested `{}` in the spec, as Python allows),
//! field expressions, conversions. Does not own: the spec mini-language
//! ([`super::formatspec`]) or where values come from (the caller's lookup).
//!
//! Deliberate difference: attribute access in a field (`{name.upper}`,
//! `{created.real}`) is a per-record error here; Python would print the
//! attribute (for methods, a repr with a memory address). Indexing
//! (`{name[0]}`, list/dict defaults) works as in Python.

use super::error::FormatError;
use super::formatspec::{format_compiled, format_value, CompiledSpec};
use super::pyunicode::decimal_value;
use super::pyvalue::{repr_str, write_repr, write_str, Value};

/// One piece of a format string, as `string.Formatter().parse` yields it.
pub(crate) struct Piece {
    pub(crate) literal: String,
    /// (field name, conversion, spec, spec needs expanding)
    pub(crate) field: Option<(String, Option<char>, String, bool)>,
}

fn verr(s: &str) -> FormatError {
    FormatError::Value(s.into())
}

/// `MarkupIterator_next` over the whole string; stops at the first error.
pub(crate) fn parse(fmt: &str) -> (Vec<Piece>, Option<FormatError>) {
    let c: Vec<char> = fmt.chars().collect();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let start = i;
        let mut brace = None;
        while i < c.len() {
            let ch = c[i];
            i += 1;
            if ch == '{' || ch == '}' {
                brace = Some(ch);
                break;
            }
        }
        let at_end = i >= c.len();
        let mut len = i - start;
        if brace == Some('}') && (at_end || c[i] != '}') {
            return (
                pieces,
                Some(verr("Single '}' encountered in format string")),
            );
        }
        if at_end && brace == Some('{') {
            return (
                pieces,
                Some(verr("Single '{' encountered in format string")),
            );
        }
        let mut markup = brace.is_some();
        if !at_end && brace.is_some() {
            if Some(c[i]) == brace {
                i += 1;
                markup = false;
            } else {
                len -= 1;
            }
        }
        let literal: String = c[start..start + len].iter().collect();
        if !markup {
            pieces.push(Piece {
                literal,
                field: None,
            });
            continue;
        }
        match parse_field(&c, &mut i) {
            Ok(f) => pieces.push(Piece {
                literal,
                field: Some(f),
            }),
            Err(e) => return (pieces, Some(e)),
        }
    }
    (pieces, None)
}

fn parse_field(
    c: &[char],
    i: &mut usize,
) -> Result<(String, Option<char>, String, bool), FormatError> {
    let name_start = *i;
    let mut last = '\0';
    while *i < c.len() {
        last = c[*i];
        *i += 1;
        match last {
            '{' => return Err(verr("unexpected '{' in field name")),
            '[' => {
                while *i < c.len() && c[*i] != ']' {
                    *i += 1;
                }
                continue;
            }
            '}' | ':' | '!' => break,
            _ => continue,
        }
    }
    let name: String = c[name_start..(*i).saturating_sub(1).max(name_start)]
        .iter()
        .collect();
    if !matches!(last, '}' | ':' | '!') {
        return Err(verr("expected '}' before end of string"));
    }
    if last == '}' {
        return Ok((name, None, String::new(), false));
    }
    let mut conv = None;
    if last == '!' {
        if *i >= c.len() {
            return Err(verr("end of string while looking for conversion specifier"));
        }
        conv = Some(c[*i]);
        *i += 1;
        if *i < c.len() {
            let ch = c[*i];
            *i += 1;
            if ch == '}' {
                return Ok((name, conv, String::new(), false));
            }
            if ch != ':' {
                return Err(verr("expected ':' after conversion specifier"));
            }
        }
    }
    let spec_start = *i;
    let mut depth = 1;
    let mut expand = false;
    while *i < c.len() {
        let ch = c[*i];
        *i += 1;
        match ch {
            '{' => {
                expand = true;
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let spec: String = c[spec_start..*i - 1].iter().collect();
                    return Ok((name, conv, spec, expand));
                }
            }
            _ => {}
        }
    }
    Err(verr("unmatched '{' in format spec"))
}

/// `[index]` / `.attr` after the first name of a field.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    Index(usize),
    Key(String),
    Attr(String),
}

#[derive(Debug, Clone)]
pub(crate) enum SpecPart<K> {
    Static(CompiledSpec),
    Nested(Vec<Seg<K>>),
}

/// A compiled piece of a `{`-style format string.
#[derive(Debug, Clone)]
pub(crate) enum Seg<K> {
    Lit(String),
    Field {
        key: K,
        path: Vec<Access>,
        conv: Option<char>,
        spec: SpecPart<K>,
    },
    Fail(FormatError),
}

impl<K> Seg<K> {
    /// The key of a field printed as `str(value)` unchanged: `{key}` or `{key!s}`.
    pub(crate) fn plain_key(&self) -> Option<&K> {
        match self {
            Seg::Field {
                key,
                path,
                conv: None | Some('s'),
                spec: SpecPart::Static(spec),
            } if path.is_empty() && spec.is_empty() => Some(key),
            _ => None,
        }
    }

    /// Whether this piece uses a key `is_key` accepts, also inside a nested spec.
    pub(crate) fn mentions(&self, is_key: &dyn Fn(&K) -> bool) -> bool {
        match self {
            Seg::Field { key, spec, .. } => {
                is_key(key)
                    || matches!(spec, SpecPart::Nested(segs) if segs.iter().any(|s| s.mentions(is_key)))
            }
            Seg::Lit(_) | Seg::Fail(_) => false,
        }
    }
}

/// Compile `fmt` (recursion depth 2 as in `str.format`); `resolve` maps a
/// keyword field name to the caller's key.
pub(crate) fn compile<K>(fmt: &str, resolve: &mut impl FnMut(&str) -> K) -> Vec<Seg<K>> {
    compile_depth(fmt, 2, resolve)
}

fn compile_depth<K>(fmt: &str, depth: u32, resolve: &mut impl FnMut(&str) -> K) -> Vec<Seg<K>> {
    let (pieces, err) = parse(fmt);
    let mut segs = Vec::new();
    for p in pieces {
        if !p.literal.is_empty() {
            segs.push(Seg::Lit(p.literal));
        }
        let Some((name, conv, spec, expand)) = p.field else {
            continue;
        };
        match split_name(&name) {
            Ok((first, path)) => {
                let spec = if expand {
                    if depth <= 1 {
                        segs.push(Seg::Fail(verr("Max string recursion exceeded")));
                        return segs;
                    }
                    SpecPart::Nested(compile_depth(&spec, depth - 1, resolve))
                } else {
                    SpecPart::Static(CompiledSpec::new(&spec))
                };
                segs.push(Seg::Field {
                    key: resolve(&first),
                    path,
                    conv,
                    spec,
                });
            }
            Err(e) => {
                segs.push(Seg::Fail(e));
                return segs;
            }
        }
    }
    if let Some(e) = err {
        segs.push(Seg::Fail(e));
    }
    segs
}

fn all_decimal(s: &str) -> Option<usize> {
    if s.is_empty() {
        return None;
    }
    s.chars().try_fold(0usize, |n, c| {
        n.checked_mul(10)?.checked_add(decimal_value(c)? as usize)
    })
}

/// `field_name_split` + `FieldNameIterator`. Positional fields fail: logging
/// passes no positional arguments.
fn split_name(name: &str) -> Result<(String, Vec<Access>), FormatError> {
    let cut = name.find(['.', '[']).unwrap_or(name.len());
    let (first, mut rest) = name.split_at(cut);
    if first.is_empty() || first.chars().all(|c| decimal_value(c).is_some()) {
        let idx = all_decimal(first).unwrap_or(0);
        return Err(FormatError::Index(format!(
            "Replacement index {idx} out of range for positional args tuple"
        )));
    }
    let mut path = Vec::new();
    while let Some(ch) = rest.chars().next() {
        rest = &rest[ch.len_utf8()..];
        let item = match ch {
            '.' => {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let (a, r) = rest.split_at(end);
                rest = r;
                if a.is_empty() {
                    return Err(verr("Empty attribute in format string"));
                }
                Access::Attr(a.to_string())
            }
            '[' => {
                let Some(end) = rest.find(']') else {
                    return Err(verr("Missing ']' in format string"));
                };
                let (k, r) = rest.split_at(end);
                rest = &r[1..];
                if k.is_empty() {
                    return Err(verr("Empty attribute in format string"));
                }
                match all_decimal(k) {
                    Some(n) => Access::Index(n),
                    None => Access::Key(k.to_string()),
                }
            }
            _ => {
                return Err(verr(
                    "Only '.' or '[' may follow ']' in format field specifier",
                ))
            }
        };
        path.push(item);
    }
    Ok((first.to_string(), path))
}

/// Render compiled segments, appending to `out`.
pub(crate) fn render<'v, K>(
    segs: &'v [Seg<K>],
    lookup: &dyn Fn(&'v K) -> Result<Value<'v>, FormatError>,
    out: &mut String,
) -> Result<(), FormatError> {
    for seg in segs {
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Fail(e) => return Err(e.clone()),
            Seg::Field {
                key,
                path,
                conv,
                spec,
            } => {
                let mut v = lookup(key)?;
                for a in path {
                    v = access(v, a)?;
                }
                let mut converted = String::new();
                let v = match conv {
                    None => v,
                    Some(c) => {
                        match c {
                            's' => write_str(&v, &mut converted),
                            'r' => write_repr(&v, &mut converted, false),
                            'a' => write_repr(&v, &mut converted, true),
                            c if (*c as u32) > 32 && (*c as u32) < 127 => {
                                return Err(FormatError::Value(format!(
                                    "Unknown conversion specifier {c}"
                                )))
                            }
                            c => {
                                let msg =
                                    format!("Unknown conversion specifier \\x{:x}", *c as u32);
                                return Err(FormatError::Value(msg));
                            }
                        }
                        Value::Str(&converted)
                    }
                };
                match spec {
                    SpecPart::Static(s) => format_compiled(&v, s, out)?,
                    SpecPart::Nested(inner) => {
                        let mut s = String::new();
                        render(inner, lookup, &mut s)?;
                        format_value(&v, &s, out)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn access<'v>(v: Value<'v>, a: &'v Access) -> Result<Value<'v>, FormatError> {
    use serde_json::Value as J;
    let tname = v.type_name();
    match (v, a) {
        (_, Access::Attr(name)) => Err(FormatError::Unsupported(format!(
            "attribute access '.{name}' on a {tname} in a format field is not supported"
        ))),
        (Value::Str(s), Access::Index(n)) => match s.char_indices().nth(*n) {
            Some((b, c)) => Ok(Value::Str(&s[b..b + c.len_utf8()])),
            None => Err(FormatError::Index("string index out of range".into())),
        },
        (Value::EmptyTuple, Access::Index(_)) => {
            Err(FormatError::Index("tuple index out of range".into()))
        }
        (Value::Json(J::Array(items)), Access::Index(n)) => items
            .get(*n)
            .map(Value::from_json)
            .ok_or_else(|| FormatError::Index("list index out of range".into())),
        (Value::Mapping { map, .. }, a) => access(Value::Json(map), a),
        (Value::Json(J::Object(map)), Access::Key(k)) => map
            .get(k)
            .map(Value::from_json)
            .ok_or_else(|| FormatError::KeyError(repr_of(k))),
        (Value::Json(J::Object(_)), Access::Index(n)) => Err(FormatError::KeyError(n.to_string())),
        (Value::Str(_) | Value::EmptyTuple | Value::Json(_), Access::Key(_)) => {
            let what = if tname == "str" { "string" } else { tname };
            let tail = if tname == "str" { "" } else { " or slices" };
            Err(FormatError::Type(format!(
                "{what} indices must be integers{tail}, not 'str'"
            )))
        }
        _ => Err(FormatError::Type(format!(
            "'{tname}' object is not subscriptable"
        ))),
    }
}

fn repr_of(s: &str) -> String {
    let mut o = String::new();
    repr_str(s, &mut o, false);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fmt: &str) -> Result<String, FormatError> {
        let segs = compile(fmt, &mut |k: &str| k.to_string());
        let mut out = String::new();
        let lookup = |k: &String| match k.as_str() {
            "name" => Ok(Value::Str("10.0.0.1")),
            "n" => Ok(Value::Int(5)),
            other => Err(FormatError::KeyError(repr_of(other))),
        };
        render(&segs, &lookup, &mut out).map(|()| out)
    }

    #[test]
    fn rendering() {
        assert_eq!(
            run("a{{b}}c {name!r:>12} {name[1]}").unwrap(),
            "a{b}c   '10.0.0.1' 0"
        );
        assert_eq!(run("{name:>{n}.{n}}").unwrap(), "10.0.");
        for bad in [
            "{",
            "}",
            "{!}",
            "{name!x}",
            "{name.upper}",
            "{}",
            "{0}",
            "{x}",
            "{name:{n:{n}}}",
            "{name[}",
        ] {
            assert!(run(bad).is_err(), "{bad}");
        }
    }
}

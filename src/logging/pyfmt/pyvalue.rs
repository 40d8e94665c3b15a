//! The Python values a log record exposes to a format string, and their text:
//! `str()`, `repr()`, `ascii()`, and CPython's float-to-text core
//! (`PyOS_double_to_string`: the `e`/`f`/`g`/`r` modes shared by `%`-formatting,
//! `format()` and `repr(float)`).
//!
//! Owns: value kinds and type names (for error messages), string escaping,
//! float digit layout, integer digits in a base, thousands grouping. Does not
//! own: `%`-specs
//! ([`super::percent`]), format-spec mini-language ([`super::formatspec`]) or
//! where values come from (`logging::formatter`).

use std::fmt::Write as _;

use super::pyunicode::is_printable;

/// A Python object as seen by the formatting code.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Int(i128),
    Bool(bool),
    Float(f64),
    None,
    /// `record.args`, always `()` in pysyslog.
    EmptyTuple,
    /// A JSON array or object from a formatter's `defaults` (a Python list or dict).
    Json(&'a serde_json::Value),
    /// A `dict` subclass whose `str()` is `text` (a syslog message's
    /// structured data: indexed as a mapping, printed as it was sent).
    Mapping {
        text: &'a str,
        map: &'a serde_json::Value,
    },
}

impl<'a> Value<'a> {
    /// A value from a `defaults` map, as `json.load` would have made it.
    pub(crate) fn from_json(v: &'a serde_json::Value) -> Value<'a> {
        use serde_json::Value as J;
        match v {
            J::Null => Value::None,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Value::Int(i128::from(u))
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Str(s),
            J::Array(_) | J::Object(_) => Value::Json(v),
        }
    }

    /// `type(v).__name__`.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Float(_) => "float",
            Value::None => "NoneType",
            Value::EmptyTuple => "tuple",
            Value::Json(serde_json::Value::Array(_)) => "list",
            Value::Json(_) | Value::Mapping { .. } => "dict",
        }
    }
}

/// `str(v)` appended to `out`.
pub(crate) fn write_str(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Str(s) | Value::Mapping { text: s, .. } => out.push_str(s),
        _ => write_repr(v, out, false),
    }
}

/// `repr(v)` (or `ascii(v)` when `ascii`) appended to `out`.
pub(crate) fn write_repr(v: &Value<'_>, out: &mut String, ascii: bool) {
    match v {
        Value::Str(s) => repr_str(s, out, ascii),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::None => out.push_str("None"),
        Value::EmptyTuple => out.push_str("()"),
        Value::Json(serde_json::Value::Array(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(&Value::from_json(item), out, ascii);
            }
            out.push(']');
        }
        Value::Json(serde_json::Value::Object(map)) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(k, out, ascii);
                out.push_str(": ");
                write_repr(&Value::from_json(item), out, ascii);
            }
            out.push('}');
        }
        Value::Json(other) => write_repr(&Value::from_json(other), out, ascii),
        Value::Mapping { map, .. } => write_repr(&Value::Json(map), out, ascii),
    }
}

/// `repr(s)` as a new string.
pub(crate) fn repr_of(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    repr_str(s, &mut out, false);
    out
}

/// `repr(s)` / `ascii(s)` for a str: CPython's quote choice and escapes.
pub(crate) fn repr_str(s: &str, out: &mut String, ascii: bool) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.reserve(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..'\x7f').contains(&c) => out.push(c),
            c if !c.is_ascii() && !ascii && is_printable(c) => out.push(c),
            c => {
                let cp = c as u32;
                let _ = if cp < 0x100 {
                    write!(out, "\\x{cp:02x}")
                } else if cp < 0x10000 {
                    write!(out, "\\u{cp:04x}")
                } else {
                    write!(out, "\\U{cp:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// `repr(x)` for a float.
pub(crate) fn float_repr(x: f64) -> String {
    format_float(
        x,
        FloatCode::R,
        0,
        FloatFlags {
            add_dot_0: true,
            ..FloatFlags::default()
        },
    )
}

/// `PyOS_double_to_string` format codes (lower case; `upper` is a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatCode {
    E,
    F,
    G,
    R,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FloatFlags {
    pub alt: bool,
    pub add_dot_0: bool,
    pub upper: bool,
    /// `z` in a format spec: a result that rounds to zero loses its minus sign.
    pub no_neg_0: bool,
}

/// `PyOS_double_to_string(x, code, precision, flags)`: the text of a float with a
/// leading `-` when negative (never `+`; callers add signs). Digits come from
/// Rust's correctly rounded (round-half-even on the exact binary value) and
/// shortest-round-trip formatting, which is what David Gay's dtoa gives CPython.
pub(crate) fn format_float(x: f64, code: FloatCode, precision: usize, flags: FloatFlags) -> String {
    let mut out = String::new();
    if x.is_nan() {
        out.push_str(if flags.upper { "NAN" } else { "nan" });
        return out;
    }
    if x.is_infinite() {
        if x < 0.0 {
            out.push('-');
        }
        out.push_str(if flags.upper { "INF" } else { "inf" });
        return out;
    }
    let a = x.abs();
    let mut sign = x.is_sign_negative();
    let body = match code {
        FloatCode::F => {
            let mut s = format!("{a:.precision$}");
            if flags.alt && precision == 0 {
                s.push('.');
            }
            s
        }
        FloatCode::E | FloatCode::G | FloatCode::R => {
            let (mode_digits, precision) = match code {
                FloatCode::E => (Some(precision + 1), precision + 1),
                FloatCode::G => (Some(precision.max(1)), precision.max(1)),
                _ => (None, 0),
            };
            let sci = match mode_digits {
                Some(n) => format!("{:.*e}", n - 1, a),
                None => format!("{a:e}"),
            };
            let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
            let exp: i64 = exp.parse().unwrap_or(0);
            let mut digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
            // dtoa strips trailing zeros; keep at least one digit.
            while digits.len() > 1 && digits.ends_with('0') {
                digits.pop();
            }
            layout(&digits, exp + 1, code, precision, flags)
        }
    };
    if sign && flags.no_neg_0 && body.bytes().all(|b| matches!(b, b'0' | b'.' | b'e' | b'+')) {
        // Every digit is zero (the exponent of zero is `e+00`).
        sign = false;
    }
    // Only the exponent letter can be lower case here.
    finish(
        sign,
        if flags.upper {
            body.to_ascii_uppercase()
        } else {
            body
        },
    )
}

fn finish(sign: bool, body: String) -> String {
    if sign {
        let mut s = String::with_capacity(body.len() + 1);
        s.push('-');
        s.push_str(&body);
        s
    } else {
        body
    }
}

/// `format_float_short` from CPython's `pystrtod.c`, after `_Py_dg_dtoa`.
fn layout(
    digits: &str,
    decpt: i64,
    code: FloatCode,
    precision: usize,
    flags: FloatFlags,
) -> String {
    let digits_len = digits.len() as i64;
    let prec = precision as i64;
    let mut decpt = decpt;
    let mut use_exp = false;
    let mut vdigits_end = digits_len;
    match code {
        FloatCode::E => {
            use_exp = true;
            vdigits_end = prec;
        }
        FloatCode::G => {
            let limit = if flags.add_dot_0 { prec - 1 } else { prec };
            if decpt <= -4 || decpt > limit {
                use_exp = true;
            }
            if flags.alt {
                vdigits_end = prec;
            }
        }
        FloatCode::R => {
            if decpt <= -4 || decpt > 16 {
                use_exp = true;
            }
        }
        FloatCode::F => {}
    }
    let mut exp = 0;
    if use_exp {
        exp = decpt - 1;
        decpt = 1;
    }
    let vdigits_start = if decpt <= 0 { decpt - 1 } else { 0 };
    if !use_exp && flags.add_dot_0 {
        vdigits_end = vdigits_end.max(decpt + 1);
    } else {
        vdigits_end = vdigits_end.max(decpt);
    }
    let mut p = String::with_capacity((vdigits_end - vdigits_start) as usize + 8);
    let zeros = |p: &mut String, n: i64| {
        for _ in 0..n.max(0) {
            p.push('0');
        }
    };
    if decpt <= 0 {
        zeros(&mut p, decpt - vdigits_start);
        p.push('.');
        zeros(&mut p, -decpt);
    } else {
        zeros(&mut p, -vdigits_start);
    }
    if 0 < decpt && decpt <= digits_len {
        p.push_str(&digits[..decpt as usize]);
        p.push('.');
        p.push_str(&digits[decpt as usize..]);
    } else {
        p.push_str(digits);
    }
    if digits_len < decpt {
        zeros(&mut p, decpt - digits_len);
        p.push('.');
        zeros(&mut p, vdigits_end - decpt);
    } else {
        zeros(&mut p, vdigits_end - digits_len);
    }
    if p.ends_with('.') && !flags.alt {
        p.pop();
    }
    if use_exp {
        let _ = write!(
            p,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    p
}

/// The digits of `|n|` in `base` (2, 8, 10 or 16), lower case.
pub(crate) fn int_digits(n: i128, base: u32) -> String {
    let m = n.unsigned_abs();
    match base {
        2 => format!("{m:b}"),
        8 => format!("{m:o}"),
        16 => format!("{m:x}"),
        _ => format!("{m}"),
    }
}

/// `int(x)` for a finite float, as decimal digits of its magnitude, and its sign.
/// Floats at or above 2**53 are integers already, and `{:.0}` prints them exactly.
pub(crate) fn float_trunc_digits(x: f64) -> (bool, String) {
    let t = x.trunc();
    if t.abs() < 9.0e18 {
        return (t < 0.0, (t as i64).unsigned_abs().to_string());
    }
    (t < 0.0, format!("{:.0}", t.abs()))
}

/// `_PyUnicode_InsertThousandsGrouping`, zero-filling up to `min_width`.
pub(crate) fn group(digits: &str, min_width: i64, grouping: Option<(char, usize)>) -> String {
    let d = digits.as_bytes();
    let mut remaining = d.len() as i64;
    let mut min_width = min_width;
    // Built back to front.
    let mut rev: Vec<u8> = Vec::with_capacity(d.len() + 8);
    let mut use_sep = false;
    let emit = |rev: &mut Vec<u8>, remaining: i64, len: i64, use_sep: bool, sep: Option<char>| {
        if use_sep {
            if let Some(s) = sep {
                rev.push(s as u8);
            }
        }
        let n_chars = remaining.min(len).max(0);
        let n_zeros = (len - remaining).max(0);
        let end = remaining as usize;
        for k in 0..n_chars as usize {
            rev.push(d[end - 1 - k]);
        }
        rev.extend(std::iter::repeat(b'0').take(n_zeros as usize));
        n_chars
    };
    if let Some((sep, size)) = grouping {
        loop {
            let len = (size as i64).min(remaining.max(min_width).max(1));
            let used = emit(&mut rev, remaining, len, use_sep, Some(sep));
            use_sep = true;
            remaining -= used;
            min_width -= len;
            if remaining <= 0 && min_width <= 0 {
                rev.reverse();
                return String::from_utf8(rev).unwrap_or_default();
            }
            min_width -= 1;
        }
    }
    let len = remaining.max(min_width).max(1);
    emit(&mut rev, remaining, len, use_sep, None);
    rev.reverse();
    String::from_utf8(rev).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: f64, p: usize) -> String {
        format_float(x, FloatCode::G, p, FloatFlags::default())
    }

    #[test]
    fn repr_floats() {
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(1.5e300), "1.5e+300");
        assert_eq!(float_repr(f64::NAN), "nan");
        assert_eq!(float_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(float_repr(0.1), "0.1");
    }

    #[test]
    fn general_and_exp() {
        assert_eq!(g(1e16, 6), "1e+16");
        assert_eq!(g(123456.0, 6), "123456");
        assert_eq!(g(1234567.0, 6), "1.23457e+06");
        assert_eq!(g(0.0001234, 3), "0.000123");
        assert_eq!(g(-0.0, 6), "-0");
        let alt = FloatFlags {
            alt: true,
            ..FloatFlags::default()
        };
        assert_eq!(format_float(1.0, FloatCode::G, 6, alt), "1.00000");
        assert_eq!(format_float(1.5, FloatCode::E, 0, alt), "2.e+00");
        assert_eq!(
            format_float(1.5, FloatCode::E, 0, FloatFlags::default()),
            "2e+00"
        );
        assert_eq!(format_float(1.5, FloatCode::F, 0, alt), "2.");
        let z = FloatFlags {
            no_neg_0: true,
            ..FloatFlags::default()
        };
        assert_eq!(format_float(-0.01, FloatCode::F, 1, z), "0.0");
        assert_eq!(
            format_float(-0.01, FloatCode::F, 1, FloatFlags::default()),
            "-0.0"
        );
    }

    #[test]
    fn repr_strings() {
        let r = |s: &str, a: bool| {
            let mut o = String::new();
            repr_str(s, &mut o, a);
            o
        };
        assert_eq!(r("it's", false), "\"it's\"");
        assert_eq!(r("both ' and \"", false), "'both \\' and \"'");
        assert_eq!(
            r("\x7f\u{80}\u{a0}\u{200b}\u{1F600}", false),
            "'\\x7f\\x80\\xa0\\u200b\u{1F600}'"
        );
        assert_eq!(r("é\u{fffd}\u{1F600}", true), "'\\xe9\\ufffd\\U0001f600'");
    }
}

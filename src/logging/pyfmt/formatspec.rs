//! `format(value, spec)`: the format-spec mini-language of `str.format` for the
//! value kinds a record has (str, int, bool, float, None, tuple, list, dict), as
//! CPython 3.11's `Python/formatter_unicode.c` implements it, in the C locale.
//!
//! Owns: spec parsing (once, `CompiledSpec`), per-type checks and their error
//! messages, padding, alignment, sign, `#` prefixes. Does not own: float digits
//! and digit grouping ([`super::pyvalue`]) or `{field!conv:spec}` parsing
//! ([`super::brace`]).

use super::error::FormatError;
use super::pyunicode::decimal_value;
use super::pyvalue::{format_float, group, int_digits, write_str, FloatCode, FloatFlags, Value};

/// Widths and precisions above this are refused instead of allocating
/// gigabytes (CPython would try, and raise MemoryError).
pub(crate) const MAX_WIDTH: usize = 1 << 24;

/// A parsed spec, before the value's type supplies default type and alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    no_neg_0: bool,
    alt: bool,
    zero: bool,
    width: Option<usize>,
    grouping: Option<char>,
    prec: Option<usize>,
    ty: Option<char>,
}

/// The spec resolved for one value type.
struct Spec {
    fill: char,
    align: char,
    sign: Option<char>,
    no_neg_0: bool,
    alt: bool,
    width: Option<usize>,
    /// Separator and group size.
    grouping: Option<(char, usize)>,
    prec: Option<usize>,
    ty: char,
}

fn verr(s: impl Into<String>) -> FormatError {
    FormatError::Value(s.into())
}

fn get_integer(c: &[char], i: &mut usize) -> Result<Option<usize>, FormatError> {
    let mut n: Option<usize> = None;
    while let Some(d) = c.get(*i).and_then(|&ch| decimal_value(ch)) {
        let v = n
            .unwrap_or(0)
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as usize));
        match v {
            Some(v) if v <= isize::MAX as usize => n = Some(v),
            _ => return Err(verr("Too many decimal digits in format string")),
        }
        *i += 1;
    }
    Ok(n)
}

/// A spec parsed once: parsing does not depend on the value, except for the
/// type name in one message (filled in when the spec is used).
#[derive(Debug, Clone)]
pub(crate) struct CompiledSpec {
    text: String,
    parsed: Result<Raw, FormatError>,
}

const TYPE_PLACEHOLDER: &str = "\u{0}type\u{0}";

impl CompiledSpec {
    pub(crate) fn new(spec: &str) -> CompiledSpec {
        CompiledSpec {
            text: spec.to_string(),
            parsed: parse(spec, TYPE_PLACEHOLDER),
        }
    }

    /// An empty spec: `format(value, '')`, which for a `str` is the text itself.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn get(&self, type_name: &str) -> Result<&Raw, FormatError> {
        match &self.parsed {
            Ok(r) => Ok(r),
            Err(FormatError::Value(m)) if m.contains(TYPE_PLACEHOLDER) => {
                Err(FormatError::Value(m.replace(TYPE_PLACEHOLDER, type_name)))
            }
            Err(e) => Err(e.clone()),
        }
    }
}

fn parse(spec: &str, type_name: &str) -> Result<Raw, FormatError> {
    let c: Vec<char> = spec.chars().collect();
    let is_align = |ch: Option<&char>| matches!(ch, Some('<' | '>' | '=' | '^'));
    let mut r = Raw {
        fill: None,
        align: None,
        sign: None,
        no_neg_0: false,
        alt: false,
        zero: false,
        width: None,
        grouping: None,
        prec: None,
        ty: None,
    };
    let mut i = 0;
    if c.len() >= 2 && is_align(c.get(1)) {
        r.fill = Some(c[0]);
        r.align = Some(c[1]);
        i = 2;
    } else if is_align(c.first()) {
        r.align = Some(c[0]);
        i = 1;
    }
    if let Some(&s @ ('+' | '-' | ' ')) = c.get(i) {
        r.sign = Some(s);
        i += 1;
    }
    if c.get(i) == Some(&'z') {
        r.no_neg_0 = true;
        i += 1;
    }
    if c.get(i) == Some(&'#') {
        r.alt = true;
        i += 1;
    }
    if r.fill.is_none() && c.get(i) == Some(&'0') {
        r.zero = true;
        i += 1;
    }
    r.width = get_integer(&c, &mut i)?;
    if c.get(i) == Some(&',') {
        r.grouping = Some(',');
        i += 1;
    }
    if c.get(i) == Some(&'_') {
        if r.grouping.is_some() {
            return Err(verr("Cannot specify both ',' and '_'."));
        }
        r.grouping = Some('_');
        i += 1;
    }
    if c.get(i) == Some(&',') && r.grouping == Some('_') {
        return Err(verr("Cannot specify both ',' and '_'."));
    }
    if c.get(i) == Some(&'.') {
        i += 1;
        r.prec = get_integer(&c, &mut i)?;
        if r.prec.is_none() {
            return Err(verr("Format specifier missing precision"));
        }
    }
    match c.len() - i {
        0 => {}
        1 => r.ty = Some(c[i]),
        _ => {
            return Err(verr(format!(
                "Invalid format specifier '{spec}' for object of type '{type_name}'"
            )))
        }
    }
    if r.width.is_some_and(|w| w > MAX_WIDTH) || r.prec.is_some_and(|p| p > MAX_WIDTH) {
        return Err(verr("width or precision too big (pysyslog limit)"));
    }
    Ok(r)
}

fn show(c: char) -> String {
    if (c as u32) > 32 && (c as u32) < 128 {
        c.to_string()
    } else {
        format!("\\x{:x}", c as u32)
    }
}

fn resolve(r: &Raw, default_ty: char, default_align: char) -> Result<Spec, FormatError> {
    let ty = r.ty.unwrap_or(default_ty);
    let mut fill = r.fill.unwrap_or(' ');
    let mut align = r.align.unwrap_or(default_align);
    if r.zero {
        fill = '0';
        if r.align.is_none() && default_align == '>' {
            align = '=';
        }
    }
    let grouping = match r.grouping {
        None => None,
        Some(sep) => match ty {
            'd' | 'e' | 'f' | 'g' | 'E' | 'G' | '%' | 'F' | '\0' => Some((sep, 3)),
            'b' | 'o' | 'x' | 'X' if sep == '_' => Some(('_', 4)),
            _ => return Err(verr(format!("Cannot specify '{sep}' with '{}'.", show(ty)))),
        },
    };
    Ok(Spec {
        fill,
        align,
        sign: r.sign,
        no_neg_0: r.no_neg_0,
        alt: r.alt,
        width: r.width,
        grouping,
        prec: r.prec,
        ty,
    })
}

fn unknown_code(ty: char, type_name: &str) -> FormatError {
    verr(format!(
        "Unknown format code '{}' for object of type '{type_name}'",
        show(ty)
    ))
}

/// `format(v, spec)` appended to `out`.
pub(crate) fn format_value(v: &Value<'_>, spec: &str, out: &mut String) -> Result<(), FormatError> {
    if spec.is_empty() {
        write_str(v, out);
        return Ok(());
    }
    format_compiled(v, &CompiledSpec::new(spec), out)
}

/// `format(v, spec)` with a spec parsed in advance.
pub(crate) fn format_compiled(
    v: &Value<'_>,
    spec: &CompiledSpec,
    out: &mut String,
) -> Result<(), FormatError> {
    if spec.text.is_empty() {
        write_str(v, out);
        return Ok(());
    }
    let type_name = v.type_name();
    match v {
        Value::Str(s) => {
            let sp = resolve(spec.get(type_name)?, 's', '<')?;
            if sp.ty != 's' {
                return Err(unknown_code(sp.ty, type_name));
            }
            format_str(s, &sp, out)
        }
        Value::Int(_) | Value::Bool(_) => {
            let n = match v {
                Value::Int(n) => *n,
                Value::Bool(b) => i128::from(*b),
                _ => 0,
            };
            let sp = resolve(spec.get(type_name)?, 'd', '>')?;
            match sp.ty {
                'b' | 'c' | 'd' | 'o' | 'x' | 'X' | 'n' => format_int(n, &sp, out),
                'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%' => format_float_spec(n as f64, &sp, out),
                t => Err(unknown_code(t, type_name)),
            }
        }
        Value::Float(x) => {
            let sp = resolve(spec.get(type_name)?, '\0', '>')?;
            match sp.ty {
                '\0' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%' => {
                    format_float_spec(*x, &sp, out)
                }
                t => Err(unknown_code(t, type_name)),
            }
        }
        _ => Err(FormatError::Type(format!(
            "unsupported format string passed to {type_name}.__format__"
        ))),
    }
}

fn format_str(s: &str, sp: &Spec, out: &mut String) -> Result<(), FormatError> {
    match sp.sign {
        Some(' ') => return Err(verr("Space not allowed in string format specifier")),
        Some(_) => return Err(verr("Sign not allowed in string format specifier")),
        None => {}
    }
    if sp.no_neg_0 {
        return Err(verr(
            "Negative zero coercion (z) not allowed in string format specifier",
        ));
    }
    if sp.alt {
        return Err(verr(
            "Alternate form (#) not allowed in string format specifier",
        ));
    }
    if sp.align == '=' {
        return Err(verr("'=' alignment not allowed in string format specifier"));
    }
    let mut len = s.chars().count();
    let text = match sp.prec {
        Some(p) if len >= p => {
            len = p;
            s.char_indices().nth(p).map_or(s, |(b, _)| &s[..b])
        }
        _ => s,
    };
    let total = sp.width.map_or(len, |w| w.max(len));
    let lpad = match sp.align {
        '>' => total - len,
        '^' => (total - len) / 2,
        _ => 0,
    };
    pad(out, sp.fill, lpad);
    out.push_str(text);
    pad(out, sp.fill, total - len - lpad);
    Ok(())
}

fn pad(out: &mut String, fill: char, n: usize) {
    out.extend(std::iter::repeat(fill).take(n));
}

fn format_int(n: i128, sp: &Spec, out: &mut String) -> Result<(), FormatError> {
    if sp.prec.is_some() {
        return Err(verr("Precision not allowed in integer format specifier"));
    }
    if sp.no_neg_0 {
        return Err(verr(
            "Negative zero coercion (z) not allowed in integer format specifier",
        ));
    }
    if sp.ty == 'c' {
        if sp.sign.is_some() {
            return Err(verr("Sign not allowed with integer format specifier 'c'"));
        }
        if sp.alt {
            return Err(verr(
                "Alternate form (#) not allowed with integer format specifier 'c'",
            ));
        }
        let c = u32::try_from(n)
            .ok()
            .filter(|&c| c < 0x110000)
            .ok_or_else(|| FormatError::Overflow("%c arg not in range(0x110000)".into()))?;
        let c = char::from_u32(c).unwrap_or('\u{fffd}');
        layout_number(out, sp, None, "", "", false, &c.to_string());
        return Ok(());
    }
    let (base, prefix) = match sp.ty {
        'b' => (2, "0b"),
        'o' => (8, "0o"),
        'x' => (16, "0x"),
        'X' => (16, "0X"),
        _ => (10, ""),
    };
    let mut digits = int_digits(n, base);
    if sp.ty == 'X' {
        digits.make_ascii_uppercase();
    }
    let sign_char = (n < 0).then_some('-');
    let prefix = if sp.alt { prefix } else { "" };
    layout_number(out, sp, sign_char, prefix, &digits, false, "");
    Ok(())
}

fn format_float_spec(x: f64, sp: &Spec, out: &mut String) -> Result<(), FormatError> {
    if sp.prec.is_some_and(|p| p > i32::MAX as usize) {
        return Err(verr("precision too big"));
    }
    let mut flags = FloatFlags {
        alt: sp.alt,
        no_neg_0: sp.no_neg_0,
        ..FloatFlags::default()
    };
    let mut ty = sp.ty;
    let mut default_prec = 6;
    if ty == '\0' {
        flags.add_dot_0 = true;
        ty = 'r';
        default_prec = 0;
    }
    if ty == 'n' {
        ty = 'g';
    }
    let mut val = x;
    let mut pct = false;
    if ty == '%' {
        ty = 'f';
        val *= 100.0;
        pct = true;
    }
    let prec = match sp.prec {
        Some(p) => {
            if ty == 'r' {
                ty = 'g';
            }
            p
        }
        None => default_prec,
    };
    flags.upper = ty.is_ascii_uppercase();
    let code = match ty.to_ascii_lowercase() {
        'e' => FloatCode::E,
        'f' => FloatCode::F,
        'g' => FloatCode::G,
        _ => FloatCode::R,
    };
    let mut s = format_float(val, code, prec, flags);
    if pct {
        s.push('%');
    }
    let (sign_char, body) = match s.strip_prefix('-') {
        Some(rest) => (Some('-'), rest),
        None => (None, s.as_str()),
    };
    let int_end = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (digits, rest) = body.split_at(int_end);
    let (has_decimal, remainder) = match rest.strip_prefix('.') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    layout_number(out, sp, sign_char, "", digits, has_decimal, remainder);
    Ok(())
}

/// `calc_number_widths` + `fill_number`:
/// `<lpad><sign><prefix><spad><grouped digits><.><remainder><rpad>`.
fn layout_number(
    out: &mut String,
    sp: &Spec,
    sign_char: Option<char>,
    prefix: &str,
    digits: &str,
    has_decimal: bool,
    remainder: &str,
) {
    let sign = match (sp.sign, sign_char) {
        (_, Some('-')) => Some('-'),
        (Some('+'), _) => Some('+'),
        (Some(' '), _) => Some(' '),
        _ => None,
    };
    let width = sp.width.map_or(-1, |w| w as i64);
    let n_remainder = remainder.chars().count() as i64;
    let n_non_digit =
        i64::from(sign.is_some()) + prefix.len() as i64 + i64::from(has_decimal) + n_remainder;
    let min_width = if sp.fill == '0' && sp.align == '=' {
        width - n_non_digit
    } else {
        0
    };
    let grouped = if digits.is_empty() {
        String::new()
    } else {
        group(digits, min_width, sp.grouping)
    };
    let n_grouped = grouped.len() as i64;
    let n_padding = width - (n_non_digit + n_grouped);
    let (mut lpad, mut spad, mut rpad) = (0, 0, 0);
    if n_padding > 0 {
        let n = n_padding as usize;
        match sp.align {
            '<' => rpad = n,
            '^' => {
                lpad = n / 2;
                rpad = n - lpad;
            }
            '=' => spad = n,
            _ => lpad = n,
        }
    }
    pad(out, sp.fill, lpad);
    if let Some(s) = sign {
        out.push(s);
    }
    out.push_str(prefix);
    pad(out, sp.fill, spad);
    out.push_str(&grouped);
    if has_decimal {
        out.push('.');
    }
    out.push_str(remainder);
    pad(out, sp.fill, rpad);
}

#[cfg(test)]
#[path = "formatspec_tests.rs"]
mod tests;

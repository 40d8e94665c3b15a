//! `%`-style formatting (`fmt % record.__dict__`), as CPython 3.11's
//! `PyUnicode_Format` does it with a mapping argument (`PercentStyle.validate`
//! is in [`super::validate`]).
//!
//! Owns: parsing a `%` format string once into `Item`s, applying one
//! conversion (`diouxXeEfFgGcrsa`) with flags, width and precision to a
//! `Value`. Does not own: where values come from (the caller passes a lookup).

use super::error::FormatError;
use super::formatspec::MAX_WIDTH;
use super::pyvalue::{
    float_trunc_digits, format_float, int_digits, write_repr, write_str, FloatCode, FloatFlags,
    Value,
};

const F_LJUST: u8 = 1;
const F_SIGN: u8 = 2;
const F_BLANK: u8 = 4;
const F_ALT: u8 = 8;
const F_ZERO: u8 = 16;

/// One conversion: `%(key)<flags><width>.<prec><conv>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    flags: u8,
    width: Option<usize>,
    prec: Option<usize>,
    conv: char,
    /// Character index of the conversion, for "unsupported format character".
    index: usize,
}

impl Spec {
    /// `%s` with no width and no precision: a string value is copied as is
    /// (flags change nothing without a width).
    pub(crate) fn is_plain_str(&self) -> bool {
        self.conv == 's' && self.width.is_none() && self.prec.is_none()
    }
}

/// A compiled piece of a `%` format string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item<K> {
    Lit(String),
    /// `%(key)...`: `K` is the caller's resolved key.
    Field(K, Spec),
    /// A conversion without a key: it consumes the whole mapping (`str(dict)`).
    Whole(Spec),
    /// Python raises here when formatting reaches this point.
    Fail(FormatError),
}

/// A `*` width or precision: with a mapping Python looks for a second argument
/// (there is none); without one it wants an int.
fn star_error(keyed: bool) -> FormatError {
    let e = if keyed {
        "not enough arguments for format string"
    } else {
        "* wants int"
    };
    FormatError::Type(e.into())
}

/// Parse `fmt` the way `PyUnicode_Format` walks it. Keys are resolved with
/// `resolve` at compile time (the record's attribute set is fixed); errors that
/// Python raises while formatting become a trailing [`Item::Fail`].
pub(crate) fn compile<K>(fmt: &str, mut resolve: impl FnMut(&str) -> K) -> Vec<Item<K>> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    // Python's argidx for a mapping: -2 = the mapping is still unused.
    let mut whole_unused = true;
    while i < chars.len() {
        if chars[i] != '%' {
            lit.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if chars.get(i) == Some(&'%') {
            lit.push('%');
            i += 1;
            continue;
        }
        let item = conversion(&chars, &mut i, &mut resolve, &mut whole_unused);
        if !lit.is_empty() {
            items.push(Item::Lit(std::mem::take(&mut lit)));
        }
        match item {
            Ok(item) => items.push(item),
            Err(e) => {
                // Python raises here: the rest of the format is never read.
                items.push(Item::Fail(e));
                return items;
            }
        }
    }
    if !lit.is_empty() {
        items.push(Item::Lit(lit));
    }
    items
}

/// One conversion after its `%` (at `chars[*i]`): `%(key)`, flags, width,
/// precision, a length modifier, the conversion character. `Err`: what
/// Python raises for it.
fn conversion<K>(
    chars: &[char],
    i: &mut usize,
    resolve: &mut impl FnMut(&str) -> K,
    whole_unused: &mut bool,
) -> Result<Item<K>, FormatError> {
    let key = mapping_key(chars, i)?.map(|name| {
        *whole_unused = false;
        resolve(&name)
    });
    let mut spec = Spec {
        flags: 0,
        width: None,
        prec: None,
        conv: '\0',
        index: 0,
    };
    let mut ch = None;
    while *i < chars.len() {
        let c = chars[*i];
        *i += 1;
        ch = Some(c);
        match c {
            '-' => spec.flags |= F_LJUST,
            '+' => spec.flags |= F_SIGN,
            ' ' => spec.flags |= F_BLANK,
            '#' => spec.flags |= F_ALT,
            '0' => spec.flags |= F_ZERO,
            _ => break,
        }
    }
    if ch == Some('*') {
        return Err(star_error(key.is_some()));
    }
    let mut at_end = *i >= chars.len() && matches!(ch, Some('-' | '+' | ' ' | '#' | '0') | None);
    if let (false, Some(d @ '0'..='9')) = (at_end, ch) {
        let mut width = d as usize - '0' as usize;
        loop {
            if !next(chars, i, &mut ch) {
                at_end = true;
                break;
            }
            let Some(d @ '0'..='9') = ch else { break };
            width = match width
                .checked_mul(10)
                .and_then(|w| w.checked_add(d as usize - '0' as usize))
            {
                Some(w) if w <= isize::MAX as usize => w,
                _ => return Err(value_err("width too big")),
            };
        }
        spec.width = Some(width);
    }
    if !at_end && ch == Some('.') {
        let mut prec = 0usize;
        if !next(chars, i, &mut ch) {
            at_end = true;
        } else if ch == Some('*') {
            return Err(star_error(key.is_some()));
        } else if let Some(d @ '0'..='9') = ch {
            prec = d as usize - '0' as usize;
            loop {
                if !next(chars, i, &mut ch) {
                    at_end = true;
                    break;
                }
                let Some(d @ '0'..='9') = ch else { break };
                prec = prec * 10 + (d as usize - '0' as usize);
                if prec > i32::MAX as usize {
                    return Err(value_err("precision too big"));
                }
            }
        }
        spec.prec = Some(prec);
    }
    if !at_end && matches!(ch, Some('h' | 'l' | 'L')) && !next(chars, i, &mut ch) {
        at_end = true;
    }
    let Some(conv) = ch.filter(|_| !at_end) else {
        return Err(value_err("incomplete format"));
    };
    spec.conv = conv;
    spec.index = *i - 1;
    check_conversion(conv, *i - 1)?;
    match key {
        Some(k) => Ok(Item::Field(k, spec)),
        None if *whole_unused => {
            *whole_unused = false;
            Ok(Item::Whole(spec))
        }
        None => Err(FormatError::Type(
            "not enough arguments for format string".into(),
        )),
    }
}

/// `(name)` at `chars[*i]`, nested parentheses counted as Python does.
fn mapping_key(chars: &[char], i: &mut usize) -> Result<Option<String>, FormatError> {
    if chars.get(*i) != Some(&'(') {
        return Ok(None);
    }
    *i += 1;
    let start = *i;
    let mut depth = 1;
    while depth > 0 && *i < chars.len() {
        match chars[*i] {
            ')' => depth -= 1,
            '(' => depth += 1,
            _ => {}
        }
        *i += 1;
    }
    if depth > 0 || *i >= chars.len() {
        return Err(value_err("incomplete format key"));
    }
    Ok(Some(chars[start..*i - 1].iter().collect()))
}

/// The next character into `ch`; `false` at the end of the format.
fn next(chars: &[char], i: &mut usize, ch: &mut Option<char>) -> bool {
    if *i < chars.len() {
        *ch = Some(chars[*i]);
        *i += 1;
        true
    } else {
        false
    }
}

/// Python's error for a conversion character it does not know.
fn check_conversion(conv: char, index: usize) -> Result<(), FormatError> {
    if matches!(
        conv,
        's' | 'r'
            | 'a'
            | 'i'
            | 'd'
            | 'u'
            | 'o'
            | 'x'
            | 'X'
            | 'e'
            | 'E'
            | 'f'
            | 'F'
            | 'g'
            | 'G'
            | 'c'
    ) {
        return Ok(());
    }
    let shown = if (' '..='~').contains(&conv) {
        conv
    } else {
        '?'
    };
    Err(FormatError::Value(format!(
        "unsupported format character '{shown}' (0x{:x}) at index {index}",
        conv as u32
    )))
}

fn value_err(s: &str) -> FormatError {
    FormatError::Value(s.into())
}

/// Apply one conversion to `v`, appending to `out`.
pub(crate) fn apply(spec: &Spec, v: &Value<'_>, out: &mut String) -> Result<(), FormatError> {
    check_size(spec)?;
    let mut numeric = false;
    let text: String = match spec.conv {
        's' | 'r' | 'a' => {
            if let (Value::Str(s), 's', None, None) = (v, spec.conv, spec.width, spec.prec) {
                out.push_str(s);
                return Ok(());
            }
            let mut t = String::new();
            match spec.conv {
                's' => write_str(v, &mut t),
                'r' => write_repr(v, &mut t, false),
                _ => write_repr(v, &mut t, true),
            }
            t
        }
        'c' => {
            let c = match v {
                Value::Int(n) => char_of(*n)?,
                Value::Bool(b) => char_of(i128::from(*b))?,
                Value::Str(s) if s.chars().count() == 1 => s.chars().next().unwrap_or('\0'),
                _ => return Err(FormatError::Type("%c requires int or char".into())),
            };
            c.to_string()
        }
        'i' | 'd' | 'u' | 'o' | 'x' | 'X' => {
            if let (Value::Int(n), 'i' | 'd' | 'u', 0, None, None) =
                (v, spec.conv, spec.flags, spec.width, spec.prec)
            {
                use std::fmt::Write as _;
                let _ = write!(out, "{n}");
                return Ok(());
            }
            numeric = true;
            let (neg, digits) = match (v, spec.conv) {
                (Value::Int(n), c) => (*n < 0, int_digits(*n, base_of(c))),
                (Value::Bool(b), c) => (false, int_digits(i128::from(*b), base_of(c))),
                (Value::Float(f), 'i' | 'd' | 'u') => {
                    if f.is_nan() {
                        return Err(FormatError::Value(
                            "cannot convert float NaN to integer".into(),
                        ));
                    }
                    if f.is_infinite() {
                        return Err(FormatError::Overflow(
                            "cannot convert float infinity to integer".into(),
                        ));
                    }
                    float_trunc_digits(*f)
                }
                (other, 'i' | 'd' | 'u') => {
                    let msg = format!(
                        "%{} format: a real number is required, not {}",
                        spec.conv,
                        other.type_name()
                    );
                    return Err(FormatError::Type(msg));
                }
                (other, c) => {
                    let msg = format!(
                        "%{c} format: an integer is required, not {}",
                        other.type_name()
                    );
                    return Err(FormatError::Type(msg));
                }
            };
            let mut t = String::with_capacity(digits.len() + 4);
            if neg {
                t.push('-');
            }
            if spec.flags & F_ALT != 0 && matches!(spec.conv, 'o' | 'x' | 'X') {
                t.push('0');
                t.push(if spec.conv == 'o' { 'o' } else { 'x' });
            }
            for _ in digits.len()..spec.prec.unwrap_or(0) {
                t.push('0');
            }
            t.push_str(&digits);
            if spec.conv == 'X' {
                t.make_ascii_uppercase();
            }
            t
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            numeric = true;
            let x = match v {
                Value::Float(f) => *f,
                Value::Int(n) => *n as f64,
                Value::Bool(b) => f64::from(u8::from(*b)),
                other => {
                    return Err(FormatError::Type(format!(
                        "must be real number, not {}",
                        other.type_name()
                    )))
                }
            };
            let code = match spec.conv.to_ascii_lowercase() {
                'e' => FloatCode::E,
                'f' => FloatCode::F,
                _ => FloatCode::G,
            };
            let flags = FloatFlags {
                alt: spec.flags & F_ALT != 0,
                upper: spec.conv.is_ascii_uppercase(),
                ..FloatFlags::default()
            };
            format_float(x, code, spec.prec.unwrap_or(6), flags)
        }
        _ => {
            return Err(FormatError::Value(format!(
                "unsupported format character at index {}",
                spec.index
            )))
        }
    };
    output(spec, &text, numeric, out);
    Ok(())
}

/// Apply a key-less conversion to the whole mapping (a dict): `repr(ascii)`
/// renders it for `%s`/`%r` (`false`) or `%a` (`true`).
pub(crate) fn apply_dict(
    spec: &Spec,
    repr: &dyn Fn(bool) -> String,
    out: &mut String,
) -> Result<(), FormatError> {
    let text = match spec.conv {
        's' | 'r' => repr(false),
        'a' => repr(true),
        'c' => return Err(FormatError::Type("%c requires int or char".into())),
        'i' | 'd' | 'u' => {
            return Err(FormatError::Type(format!(
                "%{} format: a real number is required, not dict",
                spec.conv
            )))
        }
        'o' | 'x' | 'X' => {
            return Err(FormatError::Type(format!(
                "%{} format: an integer is required, not dict",
                spec.conv
            )))
        }
        _ => return Err(FormatError::Type("must be real number, not dict".into())),
    };
    check_size(spec)?;
    output(spec, &text, false, out);
    Ok(())
}

fn check_size(spec: &Spec) -> Result<(), FormatError> {
    if spec.width.is_some_and(|w| w > MAX_WIDTH) || spec.prec.is_some_and(|p| p > MAX_WIDTH) {
        return Err(FormatError::Value(
            "width or precision too big (pysyslog limit)".into(),
        ));
    }
    Ok(())
}

fn base_of(c: char) -> u32 {
    match c {
        'o' => 8,
        'x' | 'X' => 16,
        _ => 10,
    }
}

fn char_of(n: i128) -> Result<char, FormatError> {
    u32::try_from(n)
        .ok()
        .filter(|&c| c < 0x110000)
        .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
        .ok_or_else(|| FormatError::Overflow("%c arg not in range(0x110000)".into()))
}

/// `unicode_format_arg_output`: sign, `0x` prefix, zero or space padding.
fn output(spec: &Spec, text: &str, numeric: bool, out: &mut String) {
    let flags = spec.flags;
    let width = spec.width.unwrap_or(0);
    if !numeric {
        // No sign, space fill; the precision truncates `s`, `r` and `a`.
        let mut len = text.chars().count();
        let mut shown = text;
        if let (Some(p), 's' | 'r' | 'a') = (spec.prec, spec.conv) {
            if len > p {
                shown = &text[..text.char_indices().nth(p).map_or(text.len(), |(b, _)| b)];
                len = p;
            }
        }
        let pad = width.saturating_sub(len);
        if flags & F_LJUST == 0 {
            out.extend(std::iter::repeat(' ').take(pad));
        }
        out.push_str(shown);
        if flags & F_LJUST != 0 {
            out.extend(std::iter::repeat(' ').take(pad));
        }
        return;
    }
    // Numbers are ASCII, so byte offsets are character offsets.
    let mut len = text.len();
    if width <= len && spec.prec.map_or(true, |p| p >= len) && flags & (F_SIGN | F_BLANK) == 0 {
        out.push_str(text);
        return;
    }
    let mut sign = true;
    let mut pindex = 0;
    let mut signchar = '\0';
    match text.as_bytes().first() {
        Some(&c @ (b'-' | b'+')) => {
            signchar = char::from(c);
            len -= 1;
            pindex = 1;
        }
        _ if flags & F_SIGN != 0 => signchar = '+',
        _ if flags & F_BLANK != 0 => signchar = ' ',
        _ => sign = false,
    }
    let fill = if flags & F_ZERO != 0 { '0' } else { ' ' };
    let mut width = width.max(len);
    if sign {
        if fill != ' ' {
            out.push(signchar);
        }
        if width > len {
            width -= 1;
        }
    }
    let alt_prefix = flags & F_ALT != 0 && matches!(spec.conv, 'x' | 'X' | 'o') && len >= 2;
    if alt_prefix {
        if fill != ' ' {
            out.push_str(&text[pindex..pindex + 2]);
            pindex += 2;
        }
        width = width.saturating_sub(2);
        len -= 2;
    }
    if width > len && flags & F_LJUST == 0 {
        out.extend(std::iter::repeat(fill).take(width - len));
        width = len;
    }
    if fill == ' ' {
        if sign {
            out.push(signchar);
        }
        if alt_prefix {
            out.push_str(&text[pindex..pindex + 2]);
            pindex += 2;
        }
    }
    out.push_str(&text[pindex..pindex + len]);
    if width > len {
        out.extend(std::iter::repeat(' ').take(width - len));
    }
}

#[cfg(test)]
#[path = "percent_tests.rs"]
mod tests;

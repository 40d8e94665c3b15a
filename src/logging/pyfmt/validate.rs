//! `validate=True`: the construction-time checks of CPython 3.11's
//! `PercentStyle`, `StrFormatStyle` and `StringTemplateStyle`, including their
//! regular expressions (hand-compiled; `\\w`/`\\d` from CPython's Unicode tables,
//! `re.I` as simple lower-casing plus sre's `ı`/`ſ` equivalences).
//!
//! Owns: deciding whether a format string is accepted and Python's message when
//! it is not. Does not own: parsing for formatting (the style modules do that;
//! `{`-style parsing is shared with [`super::brace`]).

use super::brace;
use super::pyunicode::{decimal_value, is_word};
use super::pyvalue::repr_of;
use super::template::{dollar_at, DollarMatch};

/// A format string `validate=True` rejects: Python's ValueError message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidFormat(pub(crate) String);

#[cfg(test)]
impl PartialEq<&str> for InvalidFormat {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// `PercentStyle.validation_pattern.search(fmt)`:
/// `%\(\w+\)[#0+ -]*(\*|\d+)?(\.(\*|\d+))?[diouxefgcrsa%]` with `re.I`.
pub(crate) fn percent(fmt: &str) -> bool {
    let chars: Vec<char> = fmt.chars().collect();
    (0..chars.len()).any(|start| match_at(&chars, start))
}

fn match_at(c: &[char], start: usize) -> bool {
    let mut i = start;
    if c.get(i) != Some(&'%') || c.get(i + 1) != Some(&'(') {
        return false;
    }
    i += 2;
    let name_start = i;
    while c.get(i).is_some_and(|&ch| is_word(ch)) {
        i += 1;
    }
    if i == name_start || c.get(i) != Some(&')') {
        return false;
    }
    i += 1;
    while c.get(i).is_some_and(|ch| "#0+ -".contains(*ch)) {
        i += 1;
    }
    let star_or_digits = |i: &mut usize| {
        if c.get(*i) == Some(&'*') {
            *i += 1;
            return true;
        }
        let s = *i;
        while c.get(*i).is_some_and(|&ch| decimal_value(ch).is_some()) {
            *i += 1;
        }
        *i > s
    };
    star_or_digits(&mut i);
    if c.get(i) == Some(&'.') {
        let mut j = i + 1;
        if star_or_digits(&mut j) {
            i = j;
        }
    }
    c.get(i).is_some_and(|&ch| {
        // re.IGNORECASE: simple case folding, plus sre's extra equivalences.
        let folded = match ch {
            '\u{131}' | '\u{130}' => 'i',
            '\u{17f}' => 's',
            c => c
                .to_lowercase()
                .next()
                .filter(|_| c.to_lowercase().count() == 1)
                .unwrap_or(c),
        };
        "diouxefgcrsa%".contains(folded)
    })
}

/// `StrFormatStyle.validate` (3.11), returning Python's message on failure.
pub(crate) fn brace(fmt: &str) -> Result<(), InvalidFormat> {
    let (pieces, err) = brace::parse(fmt);
    let mut fields = 0;
    for p in &pieces {
        let Some((name, conv, spec, _)) = &p.field else {
            continue;
        };
        if !name.is_empty() {
            if !field_spec_matches(name) {
                return Err(InvalidFormat(format!(
                    "invalid format: invalid field name/expression: {}",
                    repr_of(name)
                )));
            }
            fields += 1;
        }
        if let Some(c) = conv {
            if !"rsa".contains(*c) {
                return Err(InvalidFormat(format!(
                    "invalid format: invalid conversion: {}",
                    repr_of(&c.to_string())
                )));
            }
        }
        if !spec.is_empty() && !fmt_spec_matches(spec) {
            return Err(InvalidFormat(format!(
                "invalid format: bad specifier: {}",
                repr_of(spec)
            )));
        }
    }
    if let Some(e) = err {
        return Err(InvalidFormat(format!("invalid format: {}", e.message())));
    }
    if fields == 0 {
        return Err(InvalidFormat("invalid format: no fields".into()));
    }
    Ok(())
}

/// Python's `$` in `re.match`: the end, or just before a final newline.
fn at_dollar(c: &[char], i: usize) -> bool {
    i == c.len() || (i + 1 == c.len() && c[i] == '\n')
}

/// `^(\d+|\w+)(\.\w+|\[[^]]+\])*$`
fn field_spec_matches(name: &str) -> bool {
    let c: Vec<char> = name.chars().collect();
    let words = |i: &mut usize| {
        let s = *i;
        while *i < c.len() && is_word(c[*i]) {
            *i += 1;
        }
        *i > s
    };
    let mut i = 0;
    if !words(&mut i) {
        return false;
    }
    loop {
        if at_dollar(&c, i) {
            return true;
        }
        match c.get(i) {
            Some('.') => {
                i += 1;
                if !words(&mut i) {
                    return false;
                }
            }
            Some('[') => {
                let s = i + 1;
                let mut j = s;
                while j < c.len() && c[j] != ']' {
                    j += 1;
                }
                if j == s || j >= c.len() {
                    return false;
                }
                i = j + 1;
            }
            _ => return false,
        }
    }
}

/// `^(.?[<>=^])?[+ -]?#?0?(\d+|{\w+})?[,_]?(\.(\d+|{\w+}))?[bcdefgnosx%]?$` with `re.I`.
fn fmt_spec_matches(spec: &str) -> bool {
    let c: Vec<char> = spec.chars().collect();
    let is_align = |ch: Option<&char>| matches!(ch, Some('<' | '>' | '=' | '^'));
    let mut starts = Vec::new();
    if c.len() >= 2 && c[0] != '\n' && is_align(c.get(1)) {
        starts.push(2);
    }
    if is_align(c.first()) {
        starts.push(1);
    }
    starts.push(0);
    starts.into_iter().any(|s| spec_tail_matches(&c, s))
}

fn spec_tail_matches(c: &[char], mut i: usize) -> bool {
    let num_or_field = |i: &mut usize| -> bool {
        let s = *i;
        if c.get(*i) == Some(&'{') {
            let mut j = *i + 1;
            while j < c.len() && is_word(c[j]) {
                j += 1;
            }
            if j > *i + 1 && c.get(j) == Some(&'}') {
                *i = j + 1;
                return true;
            }
            return false;
        }
        while *i < c.len() && decimal_value(c[*i]).is_some() {
            *i += 1;
        }
        *i > s
    };
    if matches!(c.get(i), Some('+' | ' ' | '-')) {
        i += 1;
    }
    if c.get(i) == Some(&'#') {
        i += 1;
    }
    if c.get(i) == Some(&'0') {
        i += 1;
    }
    num_or_field(&mut i);
    if matches!(c.get(i), Some(',' | '_')) {
        i += 1;
    }
    if c.get(i) == Some(&'.') {
        let mut j = i + 1;
        if num_or_field(&mut j) {
            i = j;
        }
    }
    if c.get(i).is_some_and(|&ch| {
        let folded = match ch {
            '\u{17f}' => 's',
            ch => ch.to_ascii_lowercase(),
        };
        "bcdefgnosx%".contains(folded)
    }) {
        i += 1;
    }
    at_dollar(c, i)
}

/// `StringTemplateStyle.validate`.
pub(crate) fn dollar(fmt: &str) -> Result<(), InvalidFormat> {
    let c: Vec<char> = fmt.chars().collect();
    let mut fields = 0;
    let mut i = 0;
    while i < c.len() {
        if c[i] != '$' {
            i += 1;
            continue;
        }
        match dollar_at(&c, i) {
            DollarMatch::Escaped => i += 2,
            DollarMatch::Named(_, next) => {
                fields += 1;
                i = next;
            }
            DollarMatch::Invalid => {
                return Err(InvalidFormat("invalid format: bare '$' not allowed".into()))
            }
        }
    }
    if fields == 0 {
        return Err(InvalidFormat("invalid format: no fields".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_style() {
        assert!(percent("%(message)s"));
        assert!(percent("x %(a)#0+ -5.3D y"));
        assert!(percent("%(a)%"));
        assert!(percent("%(a).*f"));
        assert!(!percent("%(message)"));
        assert!(!percent("%(message)y"));
        assert!(!percent("%s"));
        assert!(!percent("%()s"));
        assert!(!percent("%(a).y"));
    }

    #[test]
    fn brace_style() {
        assert!(brace("{message}").is_ok());
        assert!(brace("{name[0]} {x.y:>{w}}").is_ok());
        assert_eq!(brace("{:>5}").unwrap_err(), "invalid format: no fields");
        assert!(brace("{message!x}").is_err());
        assert!(brace("{message:>>>}").is_err());
        assert!(brace("{a-b}").is_err());
        assert!(brace("{message}}").is_err());
        assert!(brace("{message:z}").is_err());
        assert!(brace("{message:<5}").is_ok());
        assert!(brace("{message:<<5}").is_ok());
    }

    #[test]
    fn dollar_style() {
        assert!(dollar("$message").is_ok());
        assert!(dollar("$$ ${message}").is_ok());
        assert_eq!(
            dollar("$message $").unwrap_err(),
            "invalid format: bare '$' not allowed"
        );
        assert_eq!(dollar("$$").unwrap_err(), "invalid format: no fields");
    }
}

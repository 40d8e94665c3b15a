//! `$`-style formatting: `string.Template(fmt).substitute(**record.__dict__)`.
//!
//! Owns: the `Template.pattern` scan (`$$`, `$identifier`, `${identifier}`,
//! anything else an invalid placeholder) and rendering with `str()` of each
//! value. Does not own: where values come from (the caller's lookup) or
//! `validate` ([`super::validate`]).

use super::error::FormatError;
use super::pyvalue::{write_str, Value};

/// A compiled piece of a template.
#[derive(Debug, Clone)]
pub(crate) enum Item<K> {
    Lit(String),
    Field(K),
    Fail(FormatError),
}

/// One `string.Template` placeholder match at `c[i] == '$'`:
/// `$$`, `$identifier`, `${identifier}`, or invalid.
pub(crate) enum DollarMatch {
    Escaped,
    Named(String, usize),
    Invalid,
}

pub(crate) fn dollar_at(c: &[char], i: usize) -> DollarMatch {
    let is_start = |ch: char| ch.is_ascii_alphabetic() || ch == '_';
    let is_cont = |ch: char| ch.is_ascii_alphanumeric() || ch == '_';
    match c.get(i + 1) {
        Some('$') => DollarMatch::Escaped,
        Some(&ch) if is_start(ch) => {
            let mut j = i + 2;
            while c.get(j).is_some_and(|&ch| is_cont(ch)) {
                j += 1;
            }
            DollarMatch::Named(c[i + 1..j].iter().collect(), j)
        }
        Some('{') if c.get(i + 2).is_some_and(|&ch| is_start(ch)) => {
            let mut j = i + 3;
            while c.get(j).is_some_and(|&ch| is_cont(ch)) {
                j += 1;
            }
            if c.get(j) == Some(&'}') {
                DollarMatch::Named(c[i + 2..j].iter().collect(), j + 1)
            } else {
                DollarMatch::Invalid
            }
        }
        _ => DollarMatch::Invalid,
    }
}

/// Compile a template; `resolve` maps a placeholder name to the caller's key.
pub(crate) fn compile<K>(fmt: &str, resolve: &mut impl FnMut(&str) -> K) -> Vec<Item<K>> {
    let c: Vec<char> = fmt.chars().collect();
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] != '$' {
            lit.push(c[i]);
            i += 1;
            continue;
        }
        match dollar_at(&c, i) {
            DollarMatch::Escaped => {
                lit.push('$');
                i += 2;
            }
            DollarMatch::Named(name, next) => {
                if !lit.is_empty() {
                    items.push(Item::Lit(std::mem::take(&mut lit)));
                }
                items.push(Item::Field(resolve(&name)));
                i = next;
            }
            DollarMatch::Invalid => {
                let before = &c[..i + 1];
                let line = before.iter().filter(|&&ch| ch == '\n').count() + 1;
                let col = before.iter().rev().take_while(|&&ch| ch != '\n').count();
                let msg = format!("Invalid placeholder in string: line {line}, col {col}");
                items.push(Item::Fail(FormatError::Value(msg)));
                return items;
            }
        }
    }
    if !lit.is_empty() {
        items.push(Item::Lit(lit));
    }
    items
}

/// Render compiled items, appending to `out`.
pub(crate) fn render<'v, K>(
    items: &'v [Item<K>],
    lookup: &dyn Fn(&'v K) -> Result<Value<'v>, FormatError>,
    out: &mut String,
) -> Result<(), FormatError> {
    for it in items {
        match it {
            Item::Lit(s) => out.push_str(s),
            Item::Field(k) => write_str(&lookup(k)?, out),
            Item::Fail(e) => return Err(e.clone()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fmt: &str) -> Result<String, FormatError> {
        let items = compile(fmt, &mut |k: &str| k.to_string());
        let lookup = |k: &String| match k.as_str() {
            "name" => Ok(Value::Str("::1")),
            "n" => Ok(Value::Int(5)),
            other => Err(FormatError::KeyError(format!("'{other}'"))),
        };
        let mut out = String::new();
        render(&items, &lookup, &mut out).map(|()| out)
    }

    #[test]
    fn substitute() {
        assert_eq!(
            run("$name ${n}x $$ $n_").unwrap_err(),
            FormatError::KeyError("'n_'".into())
        );
        assert_eq!(run("$name ${n}x $$").unwrap(), "::1 5x $");
        assert!(run("${name").is_err());
        assert!(run("a $").is_err());
        assert!(run("$1").is_err());
    }
}

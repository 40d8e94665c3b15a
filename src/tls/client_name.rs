//! `--client-name PATTERN`: which client-certificate names are accepted.
//!
//! Owns: parsing a pattern and matching a DNS name against it. A `*` label
//! matches exactly one DNS label (`*.example.com` matches `a.example.com`,
//! not `example.com` nor `a.b.example.com`); comparison ignores ASCII case
//! and one trailing dot. Does not own: reading names from a certificate.

use std::fmt;
use std::str::FromStr;

/// A name pattern, stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--client-name '{text}': {why} (write a DNS name; '*' stands for one whole label, as in *.example.com)")]
pub struct PatternError {
    text: String,
    why: &'static str,
}

impl FromStr for NamePattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<NamePattern, PatternError> {
        let err = |why| PatternError {
            text: text.to_owned(),
            why,
        };
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(err("empty or longer than a DNS name"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(err("an empty or over-long label"));
            }
            if label != "*" && label.contains('*') {
                return Err(err("'*' must be a whole label"));
            }
            let ok = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*');
            if !ok {
                return Err(err("a character that is not in DNS names"));
            }
        }
        Ok(NamePattern(name))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl NamePattern {
    /// Whether the DNS name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut want = self.0.split('.');
        let mut have = name.split('.');
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some("*"), Some(label)) if !label.is_empty() => {}
                (Some(w), Some(h)) if w.eq_ignore_ascii_case(h) => {}
                _ => return false,
            }
        }
    }
}

/// Whether any of `names` matches any of `patterns`.
pub fn any_matches<'a>(patterns: &[NamePattern], names: impl IntoIterator<Item = &'a str>) -> bool {
    names
        .into_iter()
        .any(|name| patterns.iter().any(|p| p.matches(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> NamePattern {
        s.parse().unwrap()
    }

    #[test]
    fn star_is_one_label() {
        let p = pat("*.example.com");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("A.Example.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.b.example.com"));
        assert!(!p.matches(".example.com"));
        assert!(pat("web.*.example.com").matches("web.eu.example.com"));
        assert!(!pat("web.*.example.com").matches("db.eu.example.com"));
        assert!(pat("Host1.Example.com.").matches("host1.example.com"));
        assert!(!pat("host1.example.com").matches("host1.example.co"));
    }

    #[test]
    fn refuses_patterns_that_are_not_names() {
        for bad in [
            "",
            ".",
            "a..b",
            "a*.example.com",
            "*x",
            "a b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<NamePattern>().is_err(), "{bad}");
        }
        assert!(any_matches(&[pat("x"), pat("*.y")], ["q", "a.y"]));
        assert!(!any_matches(&[pat("x")], ["y"]));
    }

    proptest! {
        #[test]
        fn a_star_pattern_matches_any_one_label(label in "[a-z0-9-]{1,20}", deeper in "[a-z0-9-]{1,20}") {
            let p = pat("*.example.com");
            let one = format!("{label}.example.com");
            let two = format!("{deeper}.{label}.example.com");
            prop_assert!(p.matches(&one));
            prop_assert!(!p.matches(&two));
            prop_assert!(pat(&one).matches(&one.to_uppercase()));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,40}", n in "\\PC{0,40}") {
            if let Ok(p) = s.parse::<NamePattern>() {
                let _ = p.matches(&n);
            }
        }
    }
}

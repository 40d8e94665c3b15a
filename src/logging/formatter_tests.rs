//! Unit tests of [`super::Formatter`]: construction, validation, styles, errors.
//! Byte-for-byte agreement with CPython is in `tests/formatter_conformance.rs`.

use super::*;

fn rec<'a>(name: &'a str, msg: &'a str) -> LogRecord<'a> {
    LogRecord {
        name,
        msg,
        levelno: 20,
        created: 1_700_000_000.123_456,
        relative_created: 5.5,
        attrs: None,
    }
}

fn fmt(f: &str, style: Style) -> Result<String, FormatError> {
    let mut fm =
        Formatter::new(Some(f), None, style, false, &Map::new()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::from("keep");
    let r = fm.format(&rec("10.0.0.1", "hello"), &mut out);
    match r {
        Ok(()) => Ok(out["keep".len()..].to_string()),
        Err(e) => {
            assert_eq!(out, "keep", "output must be unchanged on error");
            Err(e)
        }
    }
}

#[test]
fn basic_format() {
    let mut f = Formatter::basic();
    let mut out = String::new();
    f.format(&rec("10.0.0.1", "hi"), &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "INFO:10.0.0.1:hi");
}

#[test]
fn styles() {
    assert_eq!(
        fmt("%(name)s %(levelno)d %(lineno)03d %(args)s", Style::Percent).unwrap(),
        "10.0.0.1 20 000 ()"
    );
    assert_eq!(
        fmt("{levelname:>8}|{name!r}", Style::Brace).unwrap(),
        "    INFO|'10.0.0.1'"
    );
    assert_eq!(
        fmt("$levelname ${name}x $$", Style::Dollar).unwrap(),
        "INFO 10.0.0.1x $"
    );
    assert_eq!(
        fmt("%(created)f %(msecs)03d", Style::Percent).unwrap(),
        "1700000000.123456 123"
    );
}

#[test]
fn errors() {
    assert_eq!(
        fmt("%(taskName)s", Style::Percent).unwrap_err().to_string(),
        "ValueError: Formatting field not found in record: 'taskName'"
    );
    assert!(fmt("%(process)d", Style::Percent).is_err());
    assert!(fmt("%(message)x", Style::Percent).is_err());
    assert!(fmt("{nope}", Style::Brace).is_err());
    assert!(fmt("$nope", Style::Dollar).is_err());
    assert!(fmt("$", Style::Dollar).is_err());
}

#[test]
fn construction() {
    let d = Map::new();
    assert_eq!(
        Style::parse("x").unwrap_err().to_string(),
        "Style must be one of: %,{,$"
    );
    assert_eq!(
        Formatter::new(Some("%(message)"), None, Style::Percent, true, &d)
            .unwrap_err()
            .to_string(),
        "Invalid format '%(message)' for '%' style"
    );
    assert_eq!(
        Formatter::new(Some("{:>5}"), None, Style::Brace, true, &d)
            .unwrap_err()
            .to_string(),
        "invalid format: no fields"
    );
    assert_eq!(
        Formatter::new(Some("{a-b}"), None, Style::Brace, true, &d)
            .unwrap_err()
            .to_string(),
        "invalid format: invalid field name/expression: 'a-b'"
    );
    assert!(Formatter::new(Some("$x $"), None, Style::Dollar, true, &d).is_err());
    assert!(Formatter::new(Some("no fields"), None, Style::Dollar, true, &d).is_err());
    assert!(Formatter::new(Some("%(message)"), None, Style::Percent, false, &d).is_ok());
    // Empty fmt means the style's default.
    let mut f = Formatter::new(Some(""), Some(""), Style::Brace, true, &d)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    f.format(&rec("n", "m"), &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "m");
}

#[test]
fn defaults_fill_missing_fields_only() {
    let d: Map<String, Json> =
        serde_json::from_str(r#"{"app": "sys", "n": 3, "name": "shadowed", "l": [1, "a", null]}"#)
            .unwrap_or_default();
    let mut f = Formatter::new(
        Some("%(app)s %(n)03d %(name)s %(l)r"),
        None,
        Style::Percent,
        true,
        &d,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    f.format(&rec("10.0.0.1", "m"), &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "sys 003 10.0.0.1 [1, 'a', None]");
}

#[test]
fn asctime_cache_follows_seconds() {
    let d = Map::new();
    let mut f = Formatter::new(Some("%(asctime)s"), Some("%S"), Style::Percent, true, &d)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut a = String::new();
    let mut r = rec("n", "m");
    f.format(&r, &mut a).unwrap_or_else(|e| panic!("{e}"));
    r.created += 1.0;
    let mut b = String::new();
    f.format(&r, &mut b).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a, b);
    let mut g = Formatter::new(Some("{asctime}"), None, Style::Brace, true, &d)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = String::new();
    g.format(&r, &mut c).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.ends_with(",123"), "{c}");
}

/// A small deterministic generator (xorshift) for fuzzing.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn fuzz_never_panics() {
    let alphabet: Vec<char> = "%(){}[]$!:.,_#0+- *<>=^123456789sdrafxXeEgGcbnoz%lhL\u{e9}\u{fffd}\nmessagenameasctimelevelno"
        .chars()
        .collect();
    let words = [
        "%(message)",
        "{message",
        "${",
        "$name",
        "{name[0]",
        "{levelno:",
        "%(asctime)",
        "{asctime}",
        "!r",
        ":{",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let d: Map<String, Json> =
        serde_json::from_str(r#"{"x": [1, {"a": 2}], "y": 1.5}"#).unwrap_or_default();
    for _ in 0..20_000 {
        let len = (rng.next() % 24) as usize;
        let mut s = String::new();
        for _ in 0..len {
            if rng.next() % 4 == 0 {
                s.push_str(words[(rng.next() % words.len() as u64) as usize]);
            } else {
                s.push(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
            }
        }
        for style in [Style::Percent, Style::Brace, Style::Dollar] {
            for validate in [false, true] {
                if let Ok(mut f) = Formatter::new(Some(&s), Some(&s), style, validate, &d) {
                    let mut out = String::new();
                    let _ = f.format(&rec("::1", "m\u{fffd}%s{}"), &mut out);
                }
            }
        }
    }
}

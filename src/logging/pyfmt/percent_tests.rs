//! Unit tests of [`super::compile`] and [`super::apply`]: `%`-conversions.

use super::*;

fn run(fmt: &str, v: Value<'_>) -> Result<String, FormatError> {
    let items = compile(fmt, |k| k.to_string());
    let mut out = String::new();
    for it in &items {
        match it {
            Item::Lit(s) => out.push_str(s),
            Item::Field(_, spec) => apply(spec, &v, &mut out)?,
            Item::Whole(_) => out.push_str("<dict>"),
            Item::Fail(e) => return Err(e.clone()),
        }
    }
    Ok(out)
}

#[test]
fn conversions() {
    assert_eq!(run("%(a)05d|", Value::Int(-3)).unwrap(), "-0003|");
    assert_eq!(run("%(a)#5.3x|", Value::Int(5)).unwrap(), "0x005|");
    assert_eq!(run("%(a)-#8.3o|", Value::Int(5)).unwrap(), "0o005   |");
    assert_eq!(run("%(a)#X", Value::Int(-255)).unwrap(), "-0XFF");
    assert_eq!(
        run("%(a)05f", Value::Float(f64::INFINITY)).unwrap(),
        "00inf"
    );
    assert_eq!(run("%(a)+f", Value::Float(f64::NAN)).unwrap(), "+nan");
    assert_eq!(run("%(a)5.1s|", Value::Str("hello")).unwrap(), "    h|");
    assert_eq!(run("%(a)ld", Value::Int(5)).unwrap(), "5");
    assert_eq!(run("%(a)d", Value::Float(-1.9)).unwrap(), "-1");
    assert_eq!(run("100%%", Value::None).unwrap(), "100%");
    assert!(run("%(a)d", Value::None).is_err());
    assert!(run("%(a)x", Value::Float(1.0)).is_err());
    assert!(run("%(a)c", Value::Str("ab")).is_err());
}

#[test]
fn parse_errors() {
    for bad in [
        "%", "100%", "%(a", "%(a)", "%(a)y", "%(a)*d", "%*d", "%(a)%", "%s %s", "%(a)s %s",
        "%(a).", "%(a)l",
    ] {
        assert!(run(bad, Value::Int(1)).is_err(), "{bad}");
    }
    assert!(run("%(a)99999999999999999999d", Value::Int(1)).is_err());
}

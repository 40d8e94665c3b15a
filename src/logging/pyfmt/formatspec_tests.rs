//! Unit tests of [`super::format_value`]: the spec mini-language per type.

use super::*;

fn f(v: Value<'_>, spec: &str) -> Result<String, FormatError> {
    let mut o = String::new();
    format_value(&v, spec, &mut o).map(|()| o)
}

#[test]
fn strings() {
    assert_eq!(f(Value::Str("ab"), "05").unwrap(), "ab000");
    assert_eq!(f(Value::Str("ab"), "*^8").unwrap(), "***ab***");
    assert_eq!(f(Value::Str("abcdef"), "5.3s").unwrap(), "abc  ");
    assert_eq!(f(Value::Str("a"), "é>5").unwrap(), "ééééa");
    assert!(f(Value::Str("ab"), "=5").is_err());
    assert!(f(Value::Str("ab"), "d").is_err());
    assert!(f(Value::Str("ab"), ",").is_err());
}

#[test]
fn ints() {
    assert_eq!(f(Value::Int(1234), "08,").unwrap(), "0,001,234");
    assert_eq!(f(Value::Int(1234), "09,").unwrap(), "0,001,234");
    assert_eq!(f(Value::Int(0x12345678), "_x").unwrap(), "1234_5678");
    assert_eq!(f(Value::Int(255), "#_b").unwrap(), "0b1111_1111");
    assert_eq!(f(Value::Int(-3), "^05").unwrap(), "0-300");
    assert_eq!(f(Value::Int(5), "=+8").unwrap(), "+      5");
    assert_eq!(f(Value::Bool(true), ">5").unwrap(), "    1");
    assert_eq!(f(Value::Bool(true), "").unwrap(), "True");
    assert!(f(Value::Int(5), ".2d").is_err());
    assert!(f(Value::Int(5), ",x").is_err());
    assert!(f(Value::None, ">5").is_err());
}

#[test]
fn floats() {
    assert_eq!(f(Value::Float(1234.5), "010,.2f").unwrap(), "001,234.50");
    assert_eq!(f(Value::Float(f64::INFINITY), "010").unwrap(), "0000000inf");
    assert_eq!(f(Value::Float(100.0), ".2").unwrap(), "1e+02");
    assert_eq!(f(Value::Float(1.0), ".3").unwrap(), "1.0");
    assert_eq!(f(Value::Float(1e16), "#").unwrap(), "1.e+16");
    assert_eq!(f(Value::Float(12345.0), ",%").unwrap(), "1,234,500.000000%");
    assert_eq!(f(Value::Float(-0.0), "z").unwrap(), "0.0");
    assert!(f(Value::Float(1.0), ".").is_err());
    assert!(f(Value::Float(1.0), "d").is_err());
}

//! Numeric levels and their names, as in CPython's `logging` module.

pub const CRITICAL: i32 = 50;
pub const ERROR: i32 = 40;
pub const WARNING: i32 = 30;
pub const INFO: i32 = 20;
pub const DEBUG: i32 = 10;
pub const NOTSET: i32 = 0;

/// `logging.getLevelName(levelno)` for the built-in levels; other numbers read
/// `Level N`, as in Python.
pub fn level_name(levelno: i32) -> std::borrow::Cow<'static, str> {
    match levelno {
        CRITICAL => "CRITICAL".into(),
        ERROR => "ERROR".into(),
        WARNING => "WARNING".into(),
        INFO => "INFO".into(),
        DEBUG => "DEBUG".into(),
        NOTSET => "NOTSET".into(),
        n => format!("Level {n}").into(),
    }
}

/// `logging._nameToLevel`: exact upper-case names only, as `_checkLevel` wants.
pub fn level_from_name(name: &str) -> Option<i32> {
    Some(match name {
        "CRITICAL" | "FATAL" => CRITICAL,
        "ERROR" => ERROR,
        "WARN" | "WARNING" => WARNING,
        "INFO" => INFO,
        "DEBUG" => DEBUG,
        "NOTSET" => NOTSET,
        _ => return None,
    })
}

//! Error wording and schema rules of `Config`, checked without running Python
//! (the conformance suite compares the same messages with CPython).

use std::path::Path;

use crate::logging::spec::{Config, HandlerClass, StreamTarget};

fn parse(text: &str) -> Result<Config, String> {
    Config::from_json_str_in(text, Path::new("logging.json"), Path::new("/work/dir"))
        .map_err(|e| e.to_string())
}

#[test]
fn version_rules() {
    assert_eq!(
        parse("{}").unwrap_err(),
        "logging.json: dictionary doesn't specify a version"
    );
    assert_eq!(
        parse(r#"{"version": 2}"#).unwrap_err(),
        "logging.json: version: Unsupported version: 2"
    );
    assert_eq!(
        parse(r#"{"version": "1"}"#).unwrap_err(),
        "logging.json: version: Unsupported version: 1"
    );
    assert!(parse(r#"{"version": 1.0, "unknown": [1]}"#).is_ok());
    let e = parse("{\n  \"version\": 1,\n}").unwrap_err();
    assert!(
        e.starts_with("logging.json: invalid JSON: trailing comma at line 3 column 1"),
        "{e}"
    );
}

#[test]
fn levels_are_exact_names() {
    assert_eq!(
        parse(r#"{"version": 1, "root": {"level": "info"}}"#).unwrap_err(),
        "logging.json: root: Unable to configure root logger: Unknown level: 'info'"
    );
    let c = parse(r#"{"version": 1, "loggers": {"10": {"level": "WARN"}}, "root": {"level": 25}}"#)
        .unwrap();
    assert_eq!(c.loggers[0].level, Some(30));
    assert_eq!(c.root.unwrap().level, Some(25));
}

#[test]
fn handler_errors_name_the_handler() {
    let e = parse(
        r#"{"version": 1, "handlers": {"h": {"class": "logging.FileHandler", "filename": "x", "foo": 1}}}"#,
    );
    assert_eq!(
        e.unwrap_err(),
        "logging.json: handlers.h: Unable to configure handler 'h': FileHandler.__init__() got an unexpected keyword argument 'foo'"
    );
    let e = parse(
        r#"{"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "bad-key": 1}}}"#,
    );
    assert!(e
        .unwrap_err()
        .ends_with("Not a valid Python identifier: 'bad-key'"));
    let e = parse(
        r#"{"version": 1, "handlers": {"h": {"class": "logging.handlers.RotatingFileHandler"}}}"#,
    );
    assert!(e.unwrap_err().ends_with(
        "RotatingFileHandler.__init__() missing 1 required positional argument: 'filename'"
    ));
    let e =
        parse(r#"{"version": 1, "handlers": {"h": {"class": "logging.handlers.SocketHandler"}}}"#)
            .unwrap_err();
    assert!(
        e.contains("unsupported handler class 'logging.handlers.SocketHandler'")
            && e.contains("logging.handlers.SysLogHandler"),
        "{e}"
    );
    let e = parse(r#"{"version": 1, "handlers": {"h": {"()": "my.factory"}}}"#).unwrap_err();
    assert!(
        e.contains("handler factories ('()') are not supported"),
        "{e}"
    );
    let e = parse(
        r#"{"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f"}}}"#,
    );
    assert_eq!(e.unwrap_err(), "logging.json: handlers.h: Unable to configure handler 'h': Unable to set formatter 'f': 'formatters'");
    let e = parse(
        r#"{"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://os.environ"}}}"#,
    );
    assert!(e.unwrap_err().contains("Cannot resolve 'os.environ'"));
}

#[test]
fn loggers_reference_known_handlers() {
    let e = parse(r#"{"version": 1, "handlers": {}, "loggers": {"10": {"handlers": ["h"]}}}"#)
        .unwrap_err();
    assert_eq!(
        e,
        "logging.json: loggers.10: Unable to configure logger '10': Unable to add handler 'h': 'h'"
    );
}

#[test]
fn stream_targets_terminator_and_paths() {
    let c = parse(
        r#"{"version": 1, "handlers": {
            "o": {"class": "logging.StreamHandler", "stream": "cfg://x.out", ".": {"terminator": "\r\n"}},
            "e": {"class": "logging.StreamHandler"},
            "f": {"class": "logging.FileHandler", "filename": "./logs/../a.log"}},
            "x": {"out": "ext://sys.stdout"}}"#,
    )
    .unwrap();
    let by = |n: &str| {
        c.handlers
            .iter()
            .find(|h| h.name == n)
            .unwrap()
            .class
            .clone()
    };
    assert!(
        matches!(by("o"), HandlerClass::Stream { target: StreamTarget::Stdout, terminator } if terminator == "\r\n")
    );
    assert!(matches!(
        by("e"),
        HandlerClass::Stream {
            target: StreamTarget::Stderr,
            ..
        }
    ));
    assert!(matches!(by("f"), HandlerClass::File(a) if a.path == Path::new("/work/dir/a.log")));
}

#[test]
fn memory_handlers_are_deferred_after_their_target() {
    let c = parse(
        r#"{"version": 1, "handlers": {
            "a": {"class": "logging.handlers.MemoryHandler", "capacity": 2, "target": "b"},
            "b": {"class": "logging.handlers.MemoryHandler", "capacity": 2, "target": "c"},
            "c": {"class": "logging.NullHandler"}}}"#,
    );
    // Python defers 'a' and 'b' once; in the deferred pass 'a' still misses 'b'.
    assert_eq!(
        c.unwrap_err(),
        "logging.json: handlers.a: Unable to configure handler 'a': Unable to set target handler 'b': target not configured yet"
    );
    let c = parse(
        r#"{"version": 1, "handlers": {
            "a": {"class": "logging.handlers.MemoryHandler", "capacity": 2, "target": "z"},
            "z": {"class": "logging.NullHandler"}}}"#,
    )
    .unwrap();
    let names: Vec<&str> = c.handlers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["z", "a"]);
}

#[test]
fn timed_and_syslog_arguments() {
    let e = parse(
        r#"{"version": 1, "handlers": {"t": {"class": "logging.handlers.TimedRotatingFileHandler", "filename": "t", "when": "W7"}}}"#,
    );
    assert!(e
        .unwrap_err()
        .ends_with("Invalid day specified for weekly rollover: W7"));
    let c = parse(
        r#"{"version": 1, "handlers": {"s": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", 514],
            "facility": "local3", "socktype": "ext://socket.SOCK_STREAM", ".": {"ident": "x: ", "append_nul": false}}}}"#,
    )
    .unwrap();
    match &c.handlers[0].class {
        HandlerClass::Syslog {
            facility,
            stream,
            ident,
            append_nul,
            ..
        } => {
            assert_eq!(
                (*facility, *stream, ident.as_str(), *append_nul),
                (19, Some(true), "x: ", false)
            );
        }
        other => panic!("{other:?}"),
    }
    let e = parse(
        r#"{"version": 1, "handlers": {"f": {"class": "logging.FileHandler", "filename": "f", "encoding": "utf-16"}}}"#,
    );
    assert!(e.unwrap_err().contains("unsupported encoding: 'utf-16'"));
}

#[test]
fn incremental_only_levels() {
    let e = parse(r#"{"version": 1, "incremental": true, "handlers": {"h": {"level": "INFO"}}}"#)
        .unwrap_err();
    assert_eq!(
        e,
        "logging.json: handlers.h: No handler found with name 'h'"
    );
    let c = parse(
        r#"{"version": 1, "incremental": true, "root": {"level": "DEBUG", "handlers": ["nope"]}}"#,
    )
    .unwrap();
    assert!(c.root.unwrap().handlers.is_empty());
}

#[test]
fn config_stays_small_enough_to_move_around() {
    // The writer keeps a Config in an enum beside a unit variant (clippy's
    // large_enum_variant limit is 200 bytes).
    assert!(
        std::mem::size_of::<Config>() < 200,
        "{}",
        std::mem::size_of::<Config>()
    );
}

/// dictConfig's `.` key sets any attribute on a handler (`setattr`) and Python
/// runs; the ones pysyslog uses take effect, the others are named in one
/// warning per section instead of refusing the configuration. A formatter's
/// or filter's `.` is ignored by CPython 3.11 without a `()` factory: warned
/// about as having no effect.
#[test]
fn dot_attributes_without_effect_are_warned_about_not_refused() {
    let c = parse(
        r#"{"version": 1,
            "formatters": {"b": {"format": "%(message)s", ".": {"shape": "round"}}},
            "filters": {"x": {"name": "a", ".": {"colour": 1}}},
            "handlers": {
                "o": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                      ".": {"foo": "bar", "terminator": "!\n", "baz\u0085": 1e16}},
                "n": {"class": "logging.NullHandler", ".": {}}},
            "root": {"level": "INFO", "handlers": ["o", "n"]}}"#,
    )
    .unwrap();
    let h = c.handlers.iter().find(|h| h.name == "o").unwrap();
    assert!(
        matches!(&h.class, HandlerClass::Stream { terminator, .. } if terminator == "!\n"),
        "{h:?}"
    );
    assert_eq!(
        c.warnings,
        [
            "logging.json: formatters.b: '.' has no effect without a '()' factory (Python ignores it too): 'shape'",
            "logging.json: filters.x: '.' has no effect without a '()' factory (Python ignores it too): 'colour'",
            "logging.json: handlers.o: '.' sets attributes pysyslog does not use, they have no effect: 'baz\\x85', 'foo'",
        ]
    );
    // What makes a configuration log less than it seems: said, not refused.
    let c = parse(
        r#"{"version": 1, "handler": {},
            "handlers": {"used": {"class": "logging.NullHandler"},
                         "spare": {"class": "logging.NullHandler"}},
            "root": {"handlers": ["used"]}}"#,
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(c.warnings[0].starts_with("logging.json: handler: unknown top-level key 'handler'"));
    assert!(c.warnings[1].starts_with("logging.json: root: no 'level'"));
    assert!(c.warnings[2].starts_with("logging.json: handlers.spare: attached to no logger"));
    // Attributes that are used keep their checks.
    assert!(parse(
        r#"{"version": 1, "handlers": {"o": {"class": "logging.StreamHandler", ".": {"terminator": 1}}}}"#
    )
    .unwrap_err()
    .contains("terminator must be a string, not 1"));
}

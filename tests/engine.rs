//! Runtime behaviour of the engine beyond what CPython can be compared with:
//! batching, reopen for logrotate, WatchedFileHandler, failure accounting, and
//! SysLogHandler surviving a TCP peer restart. Network tests use 127.0.0.1 only.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use pysyslog::logging::{Config, Engine, LogRecord};

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("engine")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn engine(d: &Path, json: &str) -> Engine {
    let c = Config::from_json_str_in(json, Path::new("logging.json"), d).unwrap();
    let mut e = Engine::build_at(&c, 1_795_486_003.0).unwrap();
    e.capture_output();
    e
}

fn rec<'a>(name: &'a str, msg: &'a str) -> LogRecord<'a> {
    LogRecord {
        name,
        msg,
        levelno: 20,
        created: 1_795_486_003.5,
        relative_created: 500.0,
        attrs: None,
    }
}

const FMT: &str = r#""formatters": {"b": {"format": "%(name)s %(message)s"}}"#;

#[test]
fn nothing_is_written_before_end_batch() {
    let d = dir("batch");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"f": {{"class": "logging.FileHandler", "filename": "f.log", "formatter": "b"}},
            "o": {{"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "b"}}}},
            "root": {{"level": "INFO", "handlers": ["f", "o"]}}}}"#
        ),
    );
    e.handle(&rec("1.2.3.4", "one"));
    e.handle(&rec("1.2.3.4", "two"));
    assert_eq!(std::fs::read(d.join("f.log")).unwrap(), b"");
    assert!(e.captured().unwrap().stdout.is_empty());
    e.end_batch();
    assert_eq!(
        std::fs::read_to_string(d.join("f.log")).unwrap(),
        "1.2.3.4 one\n1.2.3.4 two\n"
    );
    assert_eq!(e.captured().unwrap().stdout, b"1.2.3.4 one\n1.2.3.4 two\n");
}

#[test]
fn reopen_follows_logrotate_rename() {
    let d = dir("reopen");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"f": {{"class": "logging.FileHandler", "filename": "f.log", "formatter": "b"}}}},
            "root": {{"level": "INFO", "handlers": ["f"]}}}}"#
        ),
    );
    e.handle(&rec("a", "before"));
    e.end_batch();
    std::fs::rename(d.join("f.log"), d.join("f.log.1")).unwrap();
    e.handle(&rec("a", "still old"));
    e.end_batch();
    e.reopen();
    e.handle(&rec("a", "after"));
    e.end_batch();
    assert_eq!(
        std::fs::read_to_string(d.join("f.log.1")).unwrap(),
        "a before\na still old\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("f.log")).unwrap(),
        "a after\n"
    );
}

#[test]
fn watched_file_reopens_when_moved_or_deleted() {
    let d = dir("watched");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"w": {{"class": "logging.handlers.WatchedFileHandler", "filename": "w.log", "formatter": "b"}}}},
            "root": {{"level": "INFO", "handlers": ["w"]}}}}"#
        ),
    );
    e.handle(&rec("a", "one"));
    e.end_batch();
    std::fs::rename(d.join("w.log"), d.join("w.log.1")).unwrap();
    e.handle(&rec("a", "two"));
    e.end_batch();
    std::fs::remove_file(d.join("w.log")).unwrap();
    e.handle(&rec("a", "three"));
    e.end_batch();
    assert_eq!(
        std::fs::read_to_string(d.join("w.log.1")).unwrap(),
        "a one\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("w.log")).unwrap(),
        "a three\n"
    );
}

#[test]
fn format_failures_warn_once_per_minute_and_are_counted() {
    let d = dir("fmt");
    let mut e = engine(
        &d,
        r#"{"version": 1, "formatters": {"bad": {"format": "%(hostname)s %(message)s"}, "ok": {"format": "%(message)s"}},
            "handlers": {"bad": {"class": "logging.StreamHandler", "formatter": "bad"},
                         "good": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "ok"}},
            "root": {"level": "INFO", "handlers": ["bad", "good"]}}"#,
    );
    for m in ["1", "2", "3"] {
        e.handle(&rec("x", m));
    }
    e.end_batch();
    let c = e.captured().unwrap();
    assert_eq!(c.stdout, b"1\n2\n3\n", "other handlers are not affected");
    assert!(
        c.stderr.is_empty(),
        "Python prints nothing for a failed record"
    );
    let diag = String::from_utf8_lossy(&c.diag);
    assert_eq!(diag.lines().count(), 1, "{diag}");
    assert!(
        diag.contains("handler 'bad'") && diag.contains("failed to format"),
        "{diag}"
    );
    let bad = e.stats_of("bad").unwrap();
    assert_eq!(bad.format_errors, 3);
}

#[test]
fn write_failures_are_counted_and_do_not_stop_other_handlers() {
    let d = dir("full");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"full": {{"class": "logging.FileHandler", "filename": "/dev/full", "formatter": "b"}},
            "f": {{"class": "logging.FileHandler", "filename": "f.log", "formatter": "b"}}}},
            "root": {{"level": "INFO", "handlers": ["full", "f"]}}}}"#
        ),
    );
    for _ in 0..2 {
        e.handle(&rec("a", "x"));
        e.end_batch();
    }
    assert_eq!(
        std::fs::read_to_string(d.join("f.log")).unwrap(),
        "a x\na x\n"
    );
    let full = e.stats_of("full").unwrap();
    assert_eq!(full.write_errors, 2, "retried at the next batch");
    assert_eq!(full.dropped, 0, "kept, not dropped");
    // One warning when the failure starts, for the writer to log.
    let notices = e.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].starts_with(
            "handler 'full' writing /dev/full failed: [Errno 28] No space left on device"
        ),
        "{notices:?}"
    );
    // The writer holds every later batch back (backpressure) and retries.
    assert!(e.holding() && e.unwritten());
    e.retry();
    assert!(
        e.take_notices().is_empty(),
        "reminders at most once a minute"
    );

    // With on_failure: drop the same failure holds nothing back.
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"full": {{"class": "logging.FileHandler", "filename": "/dev/full", "formatter": "b",
                ".": {{"on_failure": "drop"}}}}}},
            "root": {{"level": "INFO", "handlers": ["full"]}}}}"#
        ),
    );
    e.handle(&rec("a", "x"));
    e.end_batch();
    assert!(!e.holding() && e.unwritten());
}

#[test]
fn syslog_tcp_reconnects_after_peer_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let d = dir("syslog");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, "handlers": {{"s": {{"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", {port}],
            "socktype": "ext://socket.SOCK_STREAM"}}}}, "root": {{"level": "INFO", "handlers": ["s"]}}}}"#
        ),
    );
    e.handle(&rec("a", "first"));
    e.end_batch();
    let (mut conn, _) = listener.accept().unwrap();
    let mut got = [0u8; 10];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"<14>first\0");
    // The peer restarts: the old connection and listener go away, a new one binds the port.
    drop(conn);
    drop(listener);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    // Records sent into the dead connection are lost (as in Python); once the
    // failure shows, the handler reconnects at the next batch.
    let mut accepted = None;
    for i in 0..50 {
        let m = format!("again {i}");
        e.handle(&rec("a", &m));
        e.end_batch();
        if let Ok((s, _)) = listener.accept() {
            accepted = Some(s);
            break;
        }
    }
    let mut conn = accepted.expect("the handler reconnected");
    e.handle(&rec("a", "final"));
    e.end_batch();
    e.close();
    drop(e);
    conn.set_nonblocking(false).unwrap();
    let mut all = Vec::new();
    conn.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.ends_with("<14>final\0"), "{text:?}");
    assert!(
        text.split('\0')
            .all(|r| r.is_empty() || r.starts_with("<14>again") || r == "<14>final"),
        "{text:?}"
    );
}

#[test]
fn basic_config_is_pysyslogs_default() {
    let mut e = Engine::basic_config();
    e.capture_output();
    e.handle(&rec("10.0.0.1", "hello"));
    e.handle(&LogRecord {
        levelno: 10,
        ..rec("10.0.0.1", "debug is below INFO")
    });
    e.end_batch();
    assert_eq!(e.captured().unwrap().stdout, b"INFO:10.0.0.1:hello\n");
}

/// Without a configuration stdout carries only what pysyslog printed (its
/// banner and the received lines), so `pysyslog | consumer` gets only data;
/// the collector's own diagnostics go to stderr in the same shape.
#[test]
fn basic_config_sends_the_collectors_diagnostics_to_stderr() {
    let mut e = Engine::basic_config();
    e.capture_output();
    e.handle(&LogRecord {
        levelno: 30,
        ..rec(
            "pysyslog.cli",
            "Listening for syslog over TCP on: 127.0.0.1:514 polling: 0.5",
        )
    });
    e.handle(&rec("10.0.0.1", "hello"));
    e.handle(&LogRecord {
        levelno: 30,
        ..rec("pysyslog.receiver", "a line was truncated")
    });
    e.handle(&LogRecord {
        levelno: 40,
        ..rec("pysyslog.writer", "writer process died")
    });
    e.end_batch();
    let out = e.captured().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "WARNING:pysyslog.cli:Listening for syslog over TCP on: 127.0.0.1:514 polling: 0.5\n\
         INFO:10.0.0.1:hello\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "WARNING:pysyslog.receiver:a line was truncated\n\
         ERROR:pysyslog.writer:writer process died\n"
    );
}

#[test]
fn syslog_unix_datagram_socket() {
    let d = dir("unixdgram");
    let path = d.join("log.sock");
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, "handlers": {{"s": {{"class": "logging.handlers.SysLogHandler", "address": {}, "facility": 16}}}},
            "root": {{"level": "INFO", "handlers": ["s"]}}}}"#,
            serde_json::Value::from(path.to_string_lossy().into_owned())
        ),
    );
    e.handle(&rec("a", "one"));
    e.handle(&LogRecord {
        levelno: 40,
        ..rec("a", "two")
    });
    e.end_batch();
    server.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"<134>one\0");
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"<131>two\0");
}

#[test]
fn config_file_errors_name_the_file() {
    let e = Config::from_file(Path::new("/nonexistent/logging.json")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/logging.json: [Errno 2] No such file or directory: '/nonexistent/logging.json'"
    );
    let d = dir("missingdir");
    let c = Config::from_json_str_in(
        r#"{"version": 1, "handlers": {"file1": {"class": "logging.FileHandler", "filename": "/nope/x.log"}}}"#,
        Path::new("logging.json"),
        &d,
    )
    .unwrap();
    let e = Engine::build(&c).err().unwrap();
    assert_eq!(
        e.to_string(),
        "logging.json: handlers.file1: Unable to configure handler 'file1': [Errno 2] No such file or directory: '/nope/x.log'"
    );
}

#[test]
fn syslog_tcp_peer_down_at_start_is_not_fatal() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir("syslogdown");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, "handlers": {{"s": {{"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", {port}],
            "socktype": "ext://socket.SOCK_STREAM"}},
            "o": {{"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}}}},
            "root": {{"level": "INFO", "handlers": ["s", "o"]}}}}"#
        ),
    );
    for _ in 0..3 {
        e.handle(&rec("a", "kept"));
        e.end_batch();
    }
    assert_eq!(e.captured().unwrap().stdout, b"kept\nkept\nkept\n");
    let s = e.stats_of("s").unwrap();
    assert_eq!(
        (s.write_errors, s.dropped),
        (1, 0),
        "one refused connect, then backoff; records stay queued"
    );
    assert!(e.holding(), "a peer that is away holds the batches");
    let notices = e.take_notices().join("\n");
    assert!(
        notices.contains("handler 's' sending to 127.0.0.1:") && notices.contains("failed"),
        "{notices}"
    );
}

/// A writer that replaces one that died finds the partial line the kill left
/// at the end of each file it appends to and cuts it before appending (the
/// batch it belonged to is replayed whole); `mode: 'w'` does not truncate
/// what the dead writer wrote. Delayed files are cut at their first open.
#[test]
fn after_a_crash_partial_last_lines_are_cut_and_nothing_is_truncated() {
    let d = dir("after_crash");
    let classes = [
        r#""class": "logging.FileHandler", "mode": "w""#,
        r#""class": "logging.handlers.WatchedFileHandler", "delay": true"#,
        r#""class": "logging.handlers.RotatingFileHandler", "maxBytes": 1000000, "backupCount": 2"#,
        r#""class": "logging.handlers.TimedRotatingFileHandler", "when": "midnight""#,
    ];
    let handlers: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!(r#""h{i}": {{{c}, "filename": "f{i}.log", "formatter": "b"}}"#))
        .collect();
    let names: Vec<String> = (0..classes.len()).map(|i| format!("\"h{i}\"")).collect();
    let json = format!(
        r#"{{"version": 1, {FMT}, "handlers": {{{}}}, "root": {{"level": "INFO", "handlers": [{}]}}}}"#,
        handlers.join(", "),
        names.join(", ")
    );
    let c = Config::from_json_str_in(&json, Path::new("logging.json"), &d).unwrap();
    for i in 0..classes.len() {
        std::fs::write(d.join(format!("f{i}.log")), "x whole\nx part").unwrap();
    }
    // The first writer keeps what it finds (Python would too), but truncates
    // for mode 'w'.
    let mut first = Engine::build_opening(&c, false).unwrap();
    first.handle(&rec("x", "first"));
    first.end_batch();
    first.close();
    assert_eq!(
        std::fs::read_to_string(d.join("f0.log")).unwrap(),
        "x first\n"
    );
    for i in 1..classes.len() {
        assert_eq!(
            std::fs::read_to_string(d.join(format!("f{i}.log"))).unwrap(),
            "x whole\nx partx first\n",
            "f{i}"
        );
    }
    for i in 0..classes.len() {
        std::fs::write(d.join(format!("f{i}.log")), "x whole\nx part").unwrap();
    }
    let mut e = Engine::build_opening(&c, true).unwrap();
    e.capture_output();
    e.handle(&rec("x", "replayed"));
    e.end_batch();
    for i in 0..classes.len() {
        assert_eq!(
            std::fs::read_to_string(d.join(format!("f{i}.log"))).unwrap(),
            "x whole\nx replayed\n",
            "f{i}"
        );
    }
    let notices = e.take_notices();
    assert_eq!(notices.len(), classes.len(), "{notices:?}");
    assert!(
        notices[0].starts_with("cut 6 bytes at the end of "),
        "{notices:?}"
    );
}

/// `".": {"fsync": true}` syncs each batch before it is acknowledged, and
/// `on_failure` takes only `hold` or `drop`; neither is warned about as an
/// attribute without effect.
#[test]
fn fsync_and_on_failure_are_file_handler_attributes() {
    let d = dir("fsync");
    let mut e = engine(
        &d,
        &format!(
            r#"{{"version": 1, {FMT}, "handlers": {{"f": {{"class": "logging.FileHandler", "filename": "f.log", "formatter": "b",
                ".": {{"fsync": true, "on_failure": "hold"}}}}}},
            "root": {{"level": "INFO", "handlers": ["f"]}}}}"#
        ),
    );
    e.handle(&rec("a", "synced"));
    e.end_batch();
    assert!(!e.unwritten());
    assert_eq!(
        std::fs::read_to_string(d.join("f.log")).unwrap(),
        "a synced\n"
    );
    let json = r#"{"version": 1, "handlers": {"f": {"class": "logging.FileHandler", "filename": "f.log", ".": {"fsync": 1}}},
        "root": {"level": "INFO", "handlers": ["f"]}}"#;
    let c = Config::from_json_str_in(json, Path::new("logging.json"), &d).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let json = r#"{"version": 1, "handlers": {"f": {"class": "logging.FileHandler", "filename": "f.log", ".": {"on_failure": "ignore"}}}}"#;
    let err = Config::from_json_str_in(json, Path::new("logging.json"), &d)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("on_failure must be 'hold' or 'drop', not 'ignore'"),
        "{err}"
    );
}

//! `--logging-config` end to end: the real binary and CPython's logging, fed the
//! same config and lines, must write the same files.

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use util::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Run tests/data/pyref.py (CPython's logging driven as pysyslog's writer does)
/// in `dir` on `config` with the `(logger, line, levelno)` records.
fn python_writes(dir: &Path, config: &Path, records: &[(&str, &str, i32)]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(name, line, level)| serde_json::json!([name, line, now, level]))
        .collect();
    let input = serde_json::json!({ "config_time": now, "start_time": now, "records": records });
    let input_path = dir.join("input.json");
    fs::write(&input_path, input.to_string()).expect("write input");
    let out = Command::new("python3")
        .arg(data("pyref.py"))
        .arg(config)
        .arg(&input_path)
        .current_dir(dir)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pyref failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(dir.join("stdout.log"), out.stdout).expect("write stdout");
    fs::remove_file(input_path).expect("remove input");
}

/// Replace a leading `YYYY-MM-DD HH:MM:SS,mmm` on every line: the two runs
/// cannot share a clock.
fn mask_asctime(text: &str) -> String {
    text.lines()
        .map(|l| {
            let b = l.as_bytes();
            let stamp = b.len() >= 23
                && b[..23].iter().enumerate().all(|(i, c)| match i {
                    4 | 7 => *c == b'-',
                    10 => *c == b' ',
                    13 | 16 => *c == b':',
                    19 => *c == b',',
                    _ => c.is_ascii_digit(),
                });
            if stamp {
                format!("<asctime>{}\n", &l[23..])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Every file in `dir`, by name, with its contents.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read_to_string(e.path()).unwrap_or_default())
        })
        .filter(|(name, _)| name != "stderr.log")
        .collect();
    out.sort();
    out
}

#[test]
fn pysyslogs_readme_example_config_works_unchanged() {
    let config = data("pysyslog-readme-logging.json");
    let c = Collector::start(&["-l", &config.display().to_string()]);
    let lines = [
        "first message",
        "  second, with spaces  ",
        "100% literal %(name)s",
    ];
    let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
    c.send(payload.as_bytes());
    c.wait_lines(lines.len());
    let mut c = c;
    assert_eq!(c.stop().code(), Some(0));

    let reference = tempfile::tempdir().expect("tempdir");
    let banner = format!(
        "Listening for syslog over TCP on: 127.0.0.1:{} polling: 0.5",
        c.port
    );
    let mut records = vec![("pysyslog.cli", banner.as_str(), 30)];
    let stripped: Vec<String> = lines.iter().map(|l| l.trim().to_owned()).collect();
    records.extend(stripped.iter().map(|l| ("127.0.0.1", l.as_str(), 20)));
    python_writes(reference.path(), &config, &records);

    let ours: Vec<(String, String)> = files(c.dir.path())
        .into_iter()
        .map(|(n, t)| (n, mask_asctime(&t)))
        .collect();
    let theirs: Vec<(String, String)> = files(reference.path())
        .into_iter()
        .map(|(n, t)| (n, mask_asctime(&t)))
        .collect();
    assert_eq!(ours, theirs);
    assert!(ours
        .iter()
        .any(|(name, text)| name == "localhost.log" && text.contains("first message")));
}

#[test]
fn a_rotating_config_writes_the_same_files_as_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rotating.json");
    let text = r#"{
      "version": 1,
      "formatters": {"plain": {"format": "%(levelname)s:%(name)s:%(message)s"}},
      "handlers": {
        "rot": {"class": "logging.handlers.RotatingFileHandler", "filename": "rot.log",
                "maxBytes": 200, "backupCount": 2, "formatter": "plain"}
      },
      "loggers": {"pysyslog": {"level": "CRITICAL", "propagate": false}},
      "root": {"level": "INFO", "handlers": ["rot"]}
    }"#;
    fs::write(&config, text).expect("write config");
    // Nothing goes to stdout with this config: ready when one probe line got
    // through (one per started process; a retry on another port probes again).
    let probed_port = std::cell::Cell::new(0u16);
    let c = Collector::start_on("127.0.0.1", &["-l", &config.display().to_string()], |c| {
        if probed_port.get() != c.port {
            let sent = std::net::TcpStream::connect(c.addr())
                .and_then(|mut s| std::io::Write::write_all(&mut s, b"probe\n"));
            if sent.is_ok() {
                probed_port.set(c.port);
            }
        }
        fs::read_to_string(c.dir.path().join("rot.log")).is_ok_and(|t| t.contains("probe"))
    });
    let probes = 1;
    let lines: Vec<String> = (0..40)
        .map(|i| format!("rotating line {i:02} of forty"))
        .collect();
    let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
    c.send(payload.as_bytes());
    wait_until("the last line", || {
        fs::read_to_string(c.dir.path().join("rot.log"))
            .is_ok_and(|t| t.contains("line 39 of forty"))
    });
    let mut c = c;
    assert_eq!(c.stop().code(), Some(0));

    let reference = tempfile::tempdir().expect("tempdir");
    let mut records: Vec<(&str, &str, i32)> = vec![("127.0.0.1", "probe", 20); probes];
    records.extend(lines.iter().map(|l| ("127.0.0.1", l.as_str(), 20)));
    python_writes(reference.path(), &config, &records);
    let ours: Vec<(String, String)> = files(c.dir.path())
        .into_iter()
        .filter(|(n, _)| n.starts_with("rot.log"))
        .collect();
    let theirs: Vec<(String, String)> = files(reference.path())
        .into_iter()
        .filter(|(n, _)| n.starts_with("rot.log"))
        .collect();
    assert_eq!(
        ours.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["rot.log", "rot.log.1", "rot.log.2"]
    );
    assert_eq!(ours, theirs);
}

/// Start the collector on `config` text; it must refuse with exit status 2 and
/// exactly one line on stderr, which is returned.
fn refused_config(config_text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.json");
    fs::write(&config, config_text).expect("write");
    let out = Command::new(BIN)
        .args([
            "127.0.0.1",
            &free_port().to_string(),
            "-l",
            &config.display().to_string(),
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.json"), "the file is named: {err}");
    err
}

#[test]
fn an_invalid_config_is_one_line_with_the_file_and_exit_2() {
    let err = refused_config(r#"{"version": 1, "root": {"level": "info"}}"#);
    assert!(err.contains("Unknown level: 'info'"), "{err}");
    // A handler that cannot open its file fails in the writer, after the fork:
    // still one line and exit 2.
    let err = refused_config(
        r#"{"version": 1, "handlers": {"f": {"class": "logging.FileHandler", "filename": "/nonexistent/dir/x.log"}},
            "root": {"level": "INFO", "handlers": ["f"]}}"#,
    );
    assert!(
        err.contains("Unable to configure handler 'f'")
            && err.contains("No such file or directory"),
        "{err}"
    );
    // Worded as every other configuration error: a bad file name is found
    // by the writer, the rest by the receiver; the operator sees one kind.
    for filename in ["/nonexistent/dir/x.log", "/", "a\\u0000b"] {
        let err = refused_config(&format!(
            r#"{{"version": 1, "handlers": {{"f": {{"class": "logging.FileHandler", "filename": "{filename}"}}}},
                "root": {{"level": "INFO", "handlers": ["f"]}}}}"#
        ));
        assert!(
            err.starts_with("pysyslog: error: logging configuration: "),
            "{err}"
        );
    }
}

/// Python's ints have no size: `maxBytes` (and every integer argument) past
/// 2^63 and past 2^64 is accepted, as CPython accepts it, and an integer
/// refused for its value is printed whole, never rounded to a float.
#[test]
fn integer_arguments_beyond_64_bits_are_taken_as_python_takes_them() {
    for max_bytes in ["9223372036854775808", "100000000000000000000"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("big.json");
        let text = format!(
            r#"{{"version": 1, "formatters": {{"m": {{"format": "%(message)s"}}}},
               "handlers": {{"r": {{"class": "logging.handlers.RotatingFileHandler",
                 "filename": "r.log", "maxBytes": {max_bytes}, "backupCount": 2, "formatter": "m"}}}},
               "root": {{"level": "INFO", "handlers": ["r"]}}}}"#
        );
        fs::write(&config, &text).expect("config");
        let py = Command::new("python3")
            .args(["-c", "import json, logging.config, sys; logging.config.dictConfig(json.load(open(sys.argv[1]))); print(logging.getLogger().handlers[0].maxBytes)"])
            .arg(&config)
            .current_dir(dir.path())
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&py.stdout).trim(),
            max_bytes,
            "CPython takes it: {}",
            String::from_utf8_lossy(&py.stderr)
        );
        // The banner goes where the root's records go: r.log.
        let log =
            |c: &Collector| fs::read_to_string(c.dir.path().join("r.log")).unwrap_or_default();
        let c = Collector::start_on(
            "127.0.0.1",
            &["--logging-config", &config.display().to_string()],
            |c| log(c).contains("Listening for syslog"),
        );
        c.send(b"a line\n");
        wait_until("the line in r.log", || log(&c).ends_with("\na line\n"));
    }
    let err = refused_config(
        r#"{"version": 1, "handlers": {"s": {"class": "logging.handlers.SysLogHandler",
            "address": ["127.0.0.1", 100000000000000000000]}}, "root": {"handlers": ["s"]}}"#,
    );
    assert!(
        err.contains("address port must be an integer 0-65535, not 100000000000000000000"),
        "{err}"
    );
}

/// A `.` attribute pysyslog does not use (`foo`) is set by Python, which runs;
/// the collector runs too, applies the one it uses (`terminator`), writes the
/// same file as Python, and warns once, on stderr: never through the
/// configuration the warning is about (into its files, as Python would not).
#[test]
fn dot_attributes_without_effect_start_with_a_warning_and_write_what_python_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dot.json");
    let text = r#"{
      "version": 1,
      "formatters": {"plain": {"format": "%(levelname)s:%(name)s:%(message)s"}},
      "handlers": {
        "f": {"class": "logging.FileHandler", "filename": "f.log", "formatter": "plain",
              ".": {"foo": "bar", "terminator": " |\n"}},
        "own": {"class": "logging.FileHandler", "filename": "own.log", "formatter": "plain"}
      },
      "loggers": {"pysyslog": {"level": "WARNING", "handlers": ["own"], "propagate": false}},
      "root": {"level": "INFO", "handlers": ["f"]}
    }"#;
    fs::write(&config, text).expect("write config");
    let c = Collector::start_on("127.0.0.1", &["-l", &config.display().to_string()], |c| {
        fs::read_to_string(c.dir.path().join("own.log"))
            .is_ok_and(|t| t.contains("Listening for syslog"))
    });
    let lines = ["first", "second"];
    let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
    c.send(payload.as_bytes());
    wait_until("the last line", || {
        fs::read_to_string(c.dir.path().join("f.log")).is_ok_and(|t| t.contains("second"))
    });
    let mut c = c;
    assert_eq!(c.stop().code(), Some(0));
    let warning = format!(
        "{}: handlers.f: '.' sets attributes pysyslog does not use, they have no effect: 'foo'",
        config.display()
    );
    let stderr = c.stderr_text();
    assert_eq!(
        stderr.matches(&warning).count(),
        1,
        "warned once on stderr: {stderr}"
    );
    let own = fs::read_to_string(c.dir.path().join("own.log")).expect("own.log");
    assert!(!own.contains("pysyslog.config"), "{own}");

    let reference = tempfile::tempdir().expect("tempdir");
    let records: Vec<(&str, &str, i32)> = lines.iter().map(|l| ("127.0.0.1", *l, 20)).collect();
    python_writes(reference.path(), &config, &records);
    let ours = fs::read_to_string(c.dir.path().join("f.log")).expect("f.log");
    let theirs = fs::read_to_string(reference.path().join("f.log")).expect("python's f.log");
    assert_eq!(ours, theirs);
    assert_eq!(ours, "INFO:127.0.0.1:first |\nINFO:127.0.0.1:second |\n");
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Start with `config`, which sends the collector's own messages to stderr.
fn start_logging_to_stderr(config: &Path) -> Collector {
    Collector::start_on("127.0.0.1", &["-l", &config.display().to_string()], |c| {
        c.stderr_text().contains("Listening for syslog")
    })
}

/// In the foreground (no `--daemonize`, so no umask 027) under the usual
/// umask 022, every file the collector creates, the ones rotation creates
/// too, is 0640: not readable by every local user.
#[test]
fn output_files_are_created_0640_in_the_foreground_under_umask_022() {
    // The child inherits the umask; 022 is also what tests/run has.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("modes.json");
    let text = r#"{
      "version": 1,
      "formatters": {"m": {"format": "%(message)s"}},
      "handlers": {
        "f": {"class": "logging.FileHandler", "filename": "f.log", "formatter": "m"},
        "w": {"class": "logging.handlers.WatchedFileHandler", "filename": "w.log", "formatter": "m", "delay": true},
        "r": {"class": "logging.handlers.RotatingFileHandler", "filename": "r.log", "formatter": "m",
              "maxBytes": 20, "backupCount": 2},
        "t": {"class": "logging.handlers.TimedRotatingFileHandler", "filename": "t.log", "formatter": "m",
              "when": "S", "backupCount": 2},
        "own": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
      },
      "loggers": {"pysyslog": {"level": "WARNING", "handlers": ["own"], "propagate": false}},
      "root": {"level": "INFO", "handlers": ["f", "w", "r", "t"]}
    }"#;
    fs::write(&config, text).expect("write config");
    let c = start_logging_to_stderr(&config);
    let path = |name: &str| c.dir.path().join(name);
    c.send(b"a line of sixteen\n");
    wait_until("the first line", || {
        fs::read_to_string(path("f.log")).is_ok_and(|t| t.contains("sixteen"))
    });
    // Past the second: the next line rolls t.log over; it also rolls r.log.
    std::thread::sleep(Duration::from_millis(1100));
    c.send(b"another line\n");
    wait_until("the rotated files", || {
        path("r.log.1").exists()
            && fs::read_to_string(path("t.log")).is_ok_and(|t| t.contains("another"))
    });
    let rotated_t = fs::read_dir(c.dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("t.log."))
        .map(|e| e.path())
        .expect("a rotated t.log");
    for p in [
        path("f.log"),
        path("w.log"),
        path("r.log"),
        path("r.log.1"),
        path("t.log"),
        rotated_t,
    ] {
        assert_eq!(mode_of(&p), 0o640, "{}", p.display());
    }
}

/// A symlink planted at an output path (by whoever can write the log
/// directory) is never followed: at start-up it is a configuration error as
/// an unopenable file is; for a delayed handler, the record is refused with
/// the writer's warning and the collector goes on. The target is untouched.
#[test]
fn a_symlink_at_an_output_path_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("precious");
    fs::write(&target, "precious\n").expect("target");
    let link = dir.path().join("out.log");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    for class in [
        "logging.FileHandler",
        "logging.handlers.WatchedFileHandler",
        "logging.handlers.RotatingFileHandler",
        "logging.handlers.TimedRotatingFileHandler",
    ] {
        let config = dir.path().join("refused.json");
        let text = format!(
            r#"{{"version": 1, "handlers": {{"f": {{"class": "{class}", "filename": "{}"}}}},
                "root": {{"level": "INFO", "handlers": ["f"]}}}}"#,
            link.display()
        );
        fs::write(&config, text).expect("write config");
        // With a deadline: a collector that followed the link would run on.
        let port = free_port().to_string();
        let (status, err) = run_with_timeout(Command::new(BIN).args([
            "127.0.0.1",
            &port,
            "-l",
            &config.display().to_string(),
        ]))
        .expect("refused at start-up");
        assert_eq!(status.code(), Some(2), "{class}: {err}");
        assert!(
            err.contains("Unable to configure handler 'f'")
                && err.contains("Too many levels of symbolic links")
                && err.contains(&link.display().to_string()),
            "{class}: {err}"
        );
    }

    let config = dir.path().join("delayed.json");
    let text = format!(
        r#"{{"version": 1, "formatters": {{"m": {{"format": "%(message)s"}}}},
            "handlers": {{
              "linked": {{"class": "logging.FileHandler", "filename": "{}", "delay": true, "formatter": "m"}},
              "plain": {{"class": "logging.FileHandler", "filename": "plain.log", "formatter": "m"}},
              "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}}},
            "loggers": {{"pysyslog": {{"level": "WARNING", "handlers": ["own"], "propagate": false}}}},
            "root": {{"level": "INFO", "handlers": ["linked", "plain"]}}}}"#,
        link.display()
    );
    fs::write(&config, text).expect("write config");
    let mut c = start_logging_to_stderr(&config);
    c.send(b"a line\n");
    wait_until("the warning", || {
        c.stderr_text()
            .contains("Too many levels of symbolic links")
    });
    wait_until("the other handler's line", || {
        fs::read_to_string(c.dir.path().join("plain.log")).is_ok_and(|t| t == "a line\n")
    });
    assert_eq!(c.stop().code(), Some(0));
    assert!(
        c.stderr_text().contains("handler 'linked'"),
        "{}",
        c.stderr_text()
    );
    assert_eq!(fs::read_to_string(&target).expect("target"), "precious\n");
    assert!(fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
}

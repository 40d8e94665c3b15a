//! `pysyslog.handlers.DynamicFileHandler` end to end: a file per sender or
//! per program from real connections, a peer that cannot choose the path,
//! `max_open` and `idle_close` with every line in its sender's file, and a
//! real logrotate run of the shipped example.

mod util;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

/// Start with a DynamicFileHandler writing `format` to `filename` (with
/// `extra` handler arguments) and `args`; `dir` holds the configuration.
fn start(dir: &Path, filename: &str, extra: serde_json::Value, args: &[&str]) -> Collector {
    let mut handler = serde_json::json!({
        "class": "pysyslog.handlers.DynamicFileHandler",
        "filename": filename,
        "formatter": "f"
    });
    if let (Some(h), Some(e)) = (handler.as_object_mut(), extra.as_object()) {
        h.extend(e.clone());
    }
    let config = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": "%(message)s"}},
        "handlers": {"dyn": handler},
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "DEBUG", "handlers": ["dyn"]}
    });
    let path = dir.join("logging.json");
    fs::write(&path, config.to_string()).expect("config");
    let mut all = vec!["--logging-config", path.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    Collector::start_on("127.0.0.1", &all, |c| {
        c.stderr_text().contains("Listening for syslog")
    })
}

/// Every file beneath `root`, by its path relative to it, with its lines.
fn files_beneath(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("beneath")
                    .display()
                    .to_string();
                let text = fs::read_to_string(&path).unwrap_or_default();
                out.insert(rel, text.lines().map(str::to_owned).collect());
            }
        }
    }
    out
}

#[test]
fn a_file_per_sender_without_parsing() {
    let out = tempfile::tempdir().expect("tempdir");
    let template = format!("{}/hosts/{{name}}.log", out.path().display());
    let c = start(out.path(), &template, serde_json::json!({}), &[]);
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..3 {
        for host in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
            let line = format!("round {round} from {host}");
            send_from(host, c.addr(), format!("{line}\n").as_bytes());
            expected
                .entry(format!("{host}.log"))
                .or_default()
                .push(line);
        }
    }
    let root = out.path().join("hosts");
    wait_until("every line in its sender's file", || {
        files_beneath(&root) == expected
    });
}

#[test]
fn a_peer_cannot_choose_the_path() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("remote");
    let template = format!("{}/{{hostname}}/{{appname}}.log", base.display());
    let c = start(
        out.path(),
        &template,
        serde_json::json!({}),
        &["--parse-syslog"],
    );
    // RFC 5424 takes any printable host name; RFC 3164's tag any byte but ':' and SP.
    let cases = [
        (
            "<13>1 - ../../etc/passwd app - - - one",
            "___.__etc_passwd/app.log",
        ),
        ("<13>1 - a/b app - - - two", "a_b/app.log"),
        ("<13>1 - .hidden app - - - three", "_hidden/app.log"),
        ("<13>1 - .. .. - - - four", "__/__.log"),
        ("<13>Oct 11 22:14:15 host ab\u{1}c: five", "host/ab_c.log"),
        ("not syslog at all", "127.0.0.1/-.log"),
    ];
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut s = c.connect();
    for (line, file) in cases {
        use std::io::Write;
        s.write_all(format!("{line}\n").as_bytes()).expect("send");
        expected
            .entry(file.to_owned())
            .or_default()
            .push(line.to_owned());
    }
    drop(s);
    wait_until("every line where the rules put it", || {
        files_beneath(&base) == expected
    });
    // Nothing beside the configuration, the collector's streams and the base.
    let top: Vec<String> = fs::read_dir(out.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "logging.json")
        .collect();
    assert_eq!(top, ["remote"], "{top:?}");
}

#[test]
fn a_long_value_is_cut_to_a_file_name() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("long");
    let template = format!("{}/{{syslog_message}}", base.display());
    let c = start(
        out.path(),
        &template,
        serde_json::json!({}),
        &["--parse-syslog"],
    );
    let message = "m".repeat(300);
    c.send(format!("<13>Oct 11 22:14:15 h app: {message}\n").as_bytes());
    let want = BTreeMap::from([(
        "m".repeat(255),
        vec![format!("<13>Oct 11 22:14:15 h app: {message}")],
    )]);
    wait_until("the line in a file named by its first 255 bytes", || {
        files_beneath(&base) == want
    });
}

/// The writer's open descriptors' targets.
fn open_files(pid: i32) -> Vec<PathBuf> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .collect()
}

#[test]
fn max_open_closes_files_and_lines_still_land_in_their_own() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("hosts");
    let template = format!("{}/{{name}}.log", base.display());
    let metrics = free_port();
    let listen = format!("127.0.0.1:{metrics}");
    let c = start(
        out.path(),
        &template,
        serde_json::json!({"max_open": 2}),
        &["--metrics-listen", &listen],
    );
    let hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..3 {
        for host in hosts {
            let line = format!("{host} {round}");
            send_from(host, c.addr(), format!("{line}\n").as_bytes());
            expected
                .entry(format!("{host}.log"))
                .or_default()
                .push(line);
            // One line at a time: each is its own batch, so the table turns.
            wait_until("the line written", || {
                fs::read_to_string(base.join(format!("{host}.log")))
                    .is_ok_and(|t| t.contains(&format!("{host} {round}")))
            });
        }
    }
    assert_eq!(files_beneath(&base), expected);
    let writer = c.writer_pid().expect("writer");
    let open_here = || {
        open_files(writer)
            .iter()
            .filter(|p| p.starts_with(&base))
            .count()
    };
    assert!(open_here() <= 2, "max_open: {:?}", open_files(writer));
    // Four senders through two open files, three times: every line a new open.
    let body = scrape_text(metrics);
    let opened = body
        .lines()
        .find_map(|l| l.strip_prefix("pysyslog_handler_files_opened_total{handler=\"dyn\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(opened, Some(12.0), "{body}");
}

#[test]
fn idle_files_are_closed_and_reopened_by_their_next_line() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("hosts");
    let template = format!("{}/{{name}}.log", base.display());
    let c = start(
        out.path(),
        &template,
        serde_json::json!({"idle_close": 0.3}),
        &[],
    );
    send_from("127.0.0.2", c.addr(), b"first\n");
    let quiet = base.join("127.0.0.2.log");
    let writer = c.writer_pid().expect("writer");
    wait_until("the quiet sender's file open", || {
        open_files(writer).iter().any(|p| p == &quiet)
    });
    // Idle files are closed at the end of a batch: another sender makes them.
    wait_until("the quiet sender's file closed", || {
        send_from("127.0.0.3", c.addr(), b"tick\n");
        !open_files(writer).iter().any(|p| p == &quiet)
    });
    send_from("127.0.0.2", c.addr(), b"second\n");
    wait_until("its next line appended to the same file", || {
        fs::read_to_string(&quiet).is_ok_and(|t| t == "first\nsecond\n")
    });
}

#[test]
fn the_shipped_logrotate_example_rotates_every_sender_s_file() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("remote");
    let template = format!("{}/{{hostname}}/{{appname}}.log", base.display());
    let c = start(
        out.path(),
        &template,
        serde_json::json!({}),
        &["--parse-syslog"],
    );
    for (host, app) in [("web1", "nginx"), ("db1", "postgres")] {
        c.send(format!("<13>Oct 11 22:14:15 {host} {app}: before\n").as_bytes());
    }
    wait_until("the first lines", || files_beneath(&base).len() == 2);
    // The example, pointed at this test's directory, its reload at this collector.
    let example = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dynamic/remote.logrotate"),
    )
    .expect("example");
    let conf = example
        .replace("/var/log/remote", &base.display().to_string())
        .replace(
            "if [ -d /run/systemd/system ]; then systemctl kill --kill-who=main --signal=USR1 pysyslog.service >/dev/null 2>&1 || true; else /etc/init.d/pysyslog reopen >/dev/null 2>&1 || true; fi",
            &format!("kill -USR1 {}", c.pid()),
        );
    assert!(
        conf.contains("kill -USR1"),
        "the example's postrotate changed: {conf}"
    );
    let conf_path = out.path().join("logrotate.conf");
    fs::write(&conf_path, conf).expect("conf");
    let status = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(out.path().join("state"))
        .arg(&conf_path)
        .status()
        .expect("logrotate");
    assert!(status.success());
    for (host, app) in [("web1", "nginx"), ("db1", "postgres")] {
        c.send(format!("<13>Oct 11 22:14:15 {host} {app}: after\n").as_bytes());
    }
    let want = |host: &str, app: &str| {
        BTreeMap::from([
            (
                format!("{host}/{app}.log"),
                vec![format!("<13>Oct 11 22:14:15 {host} {app}: after")],
            ),
            (
                format!("{host}/{app}.log.1"),
                vec![format!("<13>Oct 11 22:14:15 {host} {app}: before")],
            ),
        ])
    };
    let mut expected = want("web1", "nginx");
    expected.extend(want("db1", "postgres"));
    wait_until("the new lines in new files, the old ones rotated", || {
        files_beneath(&base) == expected
    });
}

#[test]
fn the_shipped_example_configuration_checks() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dynamic/remote.json");
    let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args(["--check-config", "--parse-syslog", "--logging-config"])
        .arg(&example)
        .output()
        .expect("--check-config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("read syslog attributes"), "{err}");
    // Without --parse-syslog the template's fields would all be `-`: said.
    let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args(["--check-config", "--logging-config"])
        .arg(&example)
        .output()
        .expect("--check-config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("handlers.per_host"), "{err}");
}

#[test]
fn a_symlink_planted_in_the_directory_is_never_followed() {
    let out = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("remote");
    fs::create_dir(&base).expect("base");
    std::os::unix::fs::symlink(elsewhere.path(), base.join("evil")).expect("symlink");
    let template = format!("{}/{{hostname}}/{{appname}}.log", base.display());
    let c = start(
        out.path(),
        &template,
        serde_json::json!({}),
        &["--parse-syslog"],
    );
    c.send(b"<13>Oct 11 22:14:15 evil app: redirected?\n<13>Oct 11 22:14:15 good app: fine\n");
    wait_until("the good line", || base.join("good/app.log").exists());
    wait_until("a warning naming the refused path", || {
        c.stderr_text().contains("evil")
    });
    assert_eq!(fs::read_dir(elsewhere.path()).expect("list").count(), 0);
}

/// The shipped example `examples/dynamic/remote-json.json`: a JSON-lines
/// file per host and program, for a log shipper.
#[test]
fn the_json_lines_example_writes_one_object_per_line_per_program() {
    let out = tempfile::tempdir().expect("tempdir");
    let base = out.path().join("remote");
    let example = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dynamic/remote-json.json"),
    )
    .expect("example");
    let cfg = out.path().join("logging.json");
    fs::write(
        &cfg,
        example.replace("/var/log/remote", &base.display().to_string()),
    )
    .expect("config");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            cfg.to_str().expect("utf-8"),
            "--parse-syslog",
        ],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    let line = "<13>Oct 11 22:14:15 web1 nginx[7]: said \"hi\" \\ bye";
    c.send(format!("{line}\n").as_bytes());
    let file = base.join("web1/nginx.jsonl");
    wait_until("the JSON line", || {
        fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n'))
    });
    let text = fs::read_to_string(&file).expect("read");
    let object: serde_json::Value = serde_json::from_str(text.trim_end()).expect("valid JSON");
    assert_eq!(object["raw"], line);
    assert_eq!(object["syslog_message"], "said \"hi\" \\ bye");
    assert_eq!(object["procid"], "7");
    assert_eq!(object["facility_code"], 1);
}

//! `--parse-syslog` end to end: real senders (util-linux `logger` in RFC 5424
//! and RFC 3164 modes, over TCP and UDP; CPython's `SysLogHandler`) to the
//! real binary, every attribute checked in the output bytes against what the
//! sender was told to send; `--level-from-severity`, `--logger-name` and
//! `pysyslog.filters.SyslogFilter` routing real messages.

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

/// Every attribute, `|`-separated, then the level and logger name.
const ALL_FIELDS: &str = "%(syslog_format)s|%(facility)s|%(severity)s|%(facility_code)s|\
%(severity_code)s|%(pri)s|%(syslog_timestamp)s|%(hostname)s|%(appname)s|%(procid)s|%(msgid)s|\
%(structured_data)s|%(syslog_message)s|%(peer)s|%(transport)s|%(listener)s|\
%(tls_client_name)s|%(levelname)s|%(name)s|%(message)s";

/// A configuration printing `format` on stdout for every record at DEBUG and up.
fn stdout_config(dir: &Path, format: &str) -> PathBuf {
    let config = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": format}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "f",
                             "stream": "ext://sys.stdout"}},
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "DEBUG", "handlers": ["out"]}
    });
    let path = dir.join("logging.json");
    fs::write(&path, config.to_string()).expect("write config");
    path
}

/// What the sending machine calls itself.
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

fn logger(args: &[&str]) {
    let status = Command::new("logger").args(args).status().expect("logger");
    assert!(status.success(), "logger {args:?}");
}

/// The output line whose message ends with `tag`, split into its fields.
fn fields_of(c: &Collector, tag: &str) -> Vec<String> {
    wait_until(&format!("a line with {tag}"), || {
        c.stdout_text().lines().any(|l| l.ends_with(tag))
    });
    let text = c.stdout_text();
    let line = text.lines().find(|l| l.ends_with(tag)).unwrap_or_default();
    line.split('|').map(str::to_owned).collect()
}

#[test]
fn logger_rfc5424_over_tcp_gives_every_attribute() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let config = stdout_config(conf_dir.path(), ALL_FIELDS);
    let config = config.to_str().expect("utf-8 path");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            config,
            "--parse-syslog",
            "--level-from-severity",
            "--logger-name",
            "{facility}.{appname}",
        ],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    let port = c.port.to_string();
    logger(&[
        "-T",
        "-n",
        "127.0.0.1",
        "-P",
        &port,
        "--rfc5424",
        "-p",
        "auth.warning",
        "-t",
        "myapp",
        "--id=4242",
        "--msgid",
        "ID47",
        "--sd-id",
        "zoo@123",
        "--sd-param",
        "tiger=\"hungry\"",
        "hello 5424",
    ]);
    let f = fields_of(&c, "hello 5424");
    assert_eq!(f.len(), 20, "{f:?}");
    let pri = 4 * 8 + 4;
    assert_eq!(
        &f[..6],
        ["rfc5424", "auth", "warning", "4", "4", &pri.to_string()]
    );
    // RFC 3339 with a T, as logger sends it.
    assert!(
        f[6].contains('T') && f[6].len() >= 19,
        "timestamp {:?}",
        f[6]
    );
    assert_eq!(f[7], host_name());
    assert_eq!(&f[8..11], ["myapp", "4242", "ID47"]);
    assert!(
        f[11].contains("[zoo@123 tiger=\"hungry\"]"),
        "structured data {:?}",
        f[11]
    );
    assert_eq!(f[12], "hello 5424");
    assert_eq!(
        &f[13..19],
        [
            "127.0.0.1",
            "tcp",
            &format!("tcp://127.0.0.1:{port}"),
            "-",
            "WARNING",
            "auth.myapp"
        ]
    );
    assert!(
        f[19].starts_with(&format!("<{pri}>1 ")),
        "message is the line as received: {:?}",
        f[19]
    );
}

#[test]
fn logger_rfc3164_over_udp_and_python_over_tcp() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let config = stdout_config(conf_dir.path(), ALL_FIELDS);
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            config.to_str().expect("utf-8 path"),
            "--parse-syslog",
            "--listen",
            &url,
        ],
        |c| c.stderr_text().matches("Listening for syslog").count() >= 2,
    );
    logger(&[
        "-d",
        "-n",
        "127.0.0.1",
        "-P",
        &udp.to_string(),
        "--rfc3164",
        "-p",
        "local3.err",
        "-t",
        "prog",
        "--id=77",
        "hello 3164",
    ]);
    let f = fields_of(&c, "hello 3164");
    let pri = 19 * 8 + 3;
    assert_eq!(
        &f[..6],
        ["rfc3164", "local3", "err", "19", "3", &pri.to_string()]
    );
    let short_host = host_name().split('.').next().unwrap_or_default().to_owned();
    assert_eq!(&f[7..12], [short_host.as_str(), "prog", "77", "-", "-"]);
    assert_eq!(
        &f[12..19],
        [
            "hello 3164",
            "127.0.0.1",
            "udp",
            &url,
            "-",
            "INFO",
            "127.0.0.1"
        ]
    );

    // CPython's SysLogHandler: `<PRI>ident: message` and a NUL, no time, no host.
    let script = r#"
import logging, logging.handlers, socket, sys
h = logging.handlers.SysLogHandler(address=("127.0.0.1", int(sys.argv[1])),
        facility=logging.handlers.SysLogHandler.LOG_LOCAL0, socktype=socket.SOCK_STREAM)
h.setFormatter(logging.Formatter("pyapp: %(message)s"))
log = logging.getLogger("x")
log.addHandler(h)
log.warning("hello python")
h.close()
"#;
    let out = Command::new("python3")
        .args(["-c", script, &c.port.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = fields_of(&c, "hello python");
    let pri = 16 * 8 + 4;
    assert_eq!(
        &f[..8],
        [
            "rfc3164",
            "local0",
            "warning",
            "16",
            "4",
            &pri.to_string(),
            "-",
            "127.0.0.1"
        ],
        "no timestamp; the host falls back to the peer"
    );
    assert_eq!(&f[8..10], ["pyapp", "-"]);
    assert_eq!(f[12], "hello python");
}

#[test]
fn parsing_alone_changes_no_byte_of_the_default_output() {
    let lines = b"<13>Oct 11 22:14:15 h app: one\nnot syslog at all\n<165>1 - - - - - - two\n";
    let run = |args: &[&str]| {
        let c = Collector::start(args);
        c.send(lines);
        // After the banner, which names the port.
        c.wait_lines(3)
    };
    let plain = run(&[]);
    let parsed = run(&["--parse-syslog"]);
    assert_eq!(plain, parsed);
    assert!(plain.contains(&"INFO:127.0.0.1:not syslog at all".to_owned()));
}

/// A configuration as an operator writes one: auth and authpriv to one file,
/// errors and worse to another, sshd's lines by logger name, the rest
/// dropped; read back from the files.
#[test]
fn routing_by_facility_severity_and_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let config = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": "%(hostname)s %(appname)s %(severity)s: %(syslog_message)s"}},
        "filters": {
            "auth": {"()": "pysyslog.filters.SyslogFilter", "facility": ["auth", "authpriv"]},
            "failures": {"()": "pysyslog.filters.SyslogFilter", "message_regex": "(?i)fail(ed|ure)"}
        },
        "handlers": {
            "auth": {"class": "logging.FileHandler", "filename": path("auth.log"),
                     "formatter": "f", "filters": ["auth"]},
            "errors": {"class": "logging.FileHandler", "filename": path("errors.log"),
                       "formatter": "f", "level": "ERROR"},
            "sshd": {"class": "logging.FileHandler", "filename": path("sshd.log"),
                     "formatter": "f", "filters": ["failures"]}
        },
        "loggers": {
            "pysyslog": {"propagate": false},
            "sshd": {"handlers": ["sshd"]}
        },
        "root": {"level": "DEBUG", "handlers": ["auth", "errors"]}
    });
    let config_path = path("logging.json");
    fs::write(&config_path, config.to_string()).expect("config");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            config_path.to_str().expect("utf-8"),
            "--parse-syslog",
            "--level-from-severity",
            "--logger-name",
            "{appname}",
        ],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    let port = c.port.to_string();
    for (prio, tag, text) in [
        ("auth.info", "sshd", "Accepted publickey"),
        ("authpriv.notice", "sudo", "session opened"),
        ("auth.warning", "sshd", "Failed password"),
        ("mail.err", "postfix", "lost connection"),
        ("daemon.info", "cron", "job ran"),
    ] {
        logger(&[
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "--rfc3164",
            "-p",
            prio,
            "-t",
            tag,
            text,
        ]);
    }
    let read = |name: &str| fs::read_to_string(path(name)).unwrap_or_default();
    wait_until("every routed line", || {
        read("auth.log").lines().count() == 3
            && read("errors.log").lines().count() == 1
            && read("sshd.log").lines().count() == 1
    });
    let host = host_name().split('.').next().unwrap_or_default().to_owned();
    assert_eq!(
        read("auth.log"),
        format!(
            "{host} sshd info: Accepted publickey\n{host} sudo notice: session opened\n\
             {host} sshd warning: Failed password\n"
        )
    );
    assert_eq!(
        read("errors.log"),
        format!("{host} postfix err: lost connection\n")
    );
    assert_eq!(
        read("sshd.log"),
        format!("{host} sshd warning: Failed password\n")
    );
}

#[test]
fn bad_filters_and_templates_are_start_up_errors_with_their_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |filter: serde_json::Value, extra: &[&str]| {
        let config = serde_json::json!({
            "version": 1,
            "filters": {"sel": filter},
            "handlers": {"h": {"class": "logging.NullHandler", "filters": ["sel"]}},
            "root": {"handlers": ["h"]}
        });
        let path = dir.path().join("logging.json");
        fs::write(&path, config.to_string()).expect("config");
        let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
            .arg("--check-config")
            .arg("--logging-config")
            .arg(&path)
            .args(extra)
            .output()
            .expect("run --check-config");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let filter = |kw: serde_json::Value| {
        let mut f = serde_json::json!({"()": "pysyslog.filters.SyslogFilter"});
        if let (Some(f), Some(kw)) = (f.as_object_mut(), kw.as_object()) {
            f.extend(kw.clone());
        }
        f
    };
    let parse: &[&str] = &["--parse-syslog"];
    // (filter arguments, options, exit status, what stderr must say)
    let cases: [(serde_json::Value, &[&str], i32, &[&str]); 6] = [
        (
            serde_json::json!({"facilty": "auth"}),
            parse,
            2,
            &["filters.sel", "'facilty'"],
        ),
        (
            serde_json::json!({"message_regex": "(unclosed"}),
            parse,
            2,
            &["filters.sel", "message_regex"],
        ),
        (
            serde_json::json!({"severity": "loud"}),
            parse,
            2,
            &["'loud'"],
        ),
        (
            serde_json::json!({"facility": "auth"}),
            &["--parse-syslog", "--logger-name", "{nosuch}"],
            2,
            &["{nosuch}"],
        ),
        (serde_json::json!({"facility": "auth"}), parse, 0, &[]),
        // Valid, but it would pass nothing: said, not refused.
        (
            serde_json::json!({"facility": "auth"}),
            &[],
            0,
            &["filters.sel", "--parse-syslog"],
        ),
    ];
    for (kw, options, status, said) in cases {
        let (code, err) = check(filter(kw.clone()), options);
        assert_eq!(code, Some(status), "{kw} {options:?}: {err}");
        for text in said {
            assert!(
                err.contains(text),
                "{kw} {options:?}: {text:?} not in {err}"
            );
        }
        if said.is_empty() {
            assert!(!err.contains("filters.sel"), "{err}");
        }
    }
}

#[test]
fn lines_are_counted_by_format_and_a_line_that_is_not_syslog_is_still_logged() {
    let metrics = free_port();
    let listen = format!("127.0.0.1:{metrics}");
    let c = Collector::start(&["--parse-syslog", "--metrics-listen", &listen]);
    c.send(b"<13>1 - h a - - - one\n<13>1 - h a - - - two\n<13>Oct 11 22:14:15 h a: three\njust text\n");
    let lines = c.wait_lines(4);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("INFO:127.0.0.1:just text")
    );
    let sample = |body: &str, format: &str| {
        let key = format!("pysyslog_syslog_lines_total{{format=\"{format}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    wait_until("the counts on the endpoint", || {
        let body = scrape_text(metrics);
        sample(&body, "rfc5424") == Some(2.0)
            && sample(&body, "rfc3164") == Some(1.0)
            && sample(&body, "none") == Some(1.0)
    });
}

#[test]
fn a_sender_cannot_log_as_the_collector() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let config = stdout_config(conf_dir.path(), "%(name)s|%(message)s");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            config.to_str().expect("utf-8 path"),
            "--parse-syslog",
            "--logger-name",
            "{appname}",
        ],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    c.send(b"<14>pysyslog.writer: forged\n<14>pysyslog: forged too\n<14>root: and root\n");
    wait_until("three lines", || c.stdout_text().lines().count() >= 3);
    let names: Vec<String> = c
        .stdout_text()
        .lines()
        .map(|l| l.split('|').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["_pysyslog.writer", "_pysyslog", "_root"]);
}

/// Lines of one batch that differ in every attribute share the run's text
/// (the attributes are cut into it): each must still print its own values,
/// in all three format styles.
#[test]
fn records_of_one_run_each_print_their_own_attributes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| dir.path().join(name);
    let config = serde_json::json!({
        "version": 1,
        "formatters": {
            "pct": {"format": "%(hostname)s %(pri)s %(appname)s %(structured_data)s|%(message)s"},
            "brace": {"format": "{hostname} {pri} {appname} {structured_data}|{message}", "style": "{"},
            "dollar": {"format": "$hostname $pri $appname $structured_data|$message", "style": "$"}
        },
        "handlers": {
            "pct": {"class": "logging.FileHandler", "filename": file("pct.log"), "formatter": "pct"},
            "brace": {"class": "logging.FileHandler", "filename": file("brace.log"), "formatter": "brace"},
            "dollar": {"class": "logging.FileHandler", "filename": file("dollar.log"), "formatter": "dollar"}
        },
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "DEBUG", "handlers": ["pct", "brace", "dollar"]}
    });
    let path = file("logging.json");
    fs::write(&path, config.to_string()).expect("config");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--logging-config",
            path.to_str().expect("utf-8"),
            "--parse-syslog",
        ],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    let mut sent = String::new();
    let mut expected = Vec::new();
    for i in 0..40u32 {
        let pri = i * 4 % 192;
        let (host, app) = (format!("host{i}"), format!("app{}", i % 3));
        let sd = if i % 2 == 0 {
            format!("[x@1 n=\"{i}\"]")
        } else {
            "-".to_owned()
        };
        let line = format!("<{pri}>1 - {host} {app} - - {sd} message {i}");
        expected.push(format!("{host} {pri} {app} {sd}|{line}"));
        sent.push_str(&line);
        sent.push('\n');
    }
    c.send(sent.as_bytes());
    for name in ["pct.log", "brace.log", "dollar.log"] {
        wait_until(name, || {
            fs::read_to_string(file(name)).is_ok_and(|t| t.lines().count() == expected.len())
        });
        let got = fs::read_to_string(file(name)).expect("read");
        assert_eq!(got.lines().collect::<Vec<_>>(), expected, "{name}");
    }
}

//! End-to-end tests of the backbone: the real binary, real sockets, real clients.

mod util;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use util::*;

/// The start-up banner as pysyslog 0.1.0 printed it, produced by CPython.
fn python_banner(host: &str, port: u16, poll: &str) -> String {
    let script = "import sys; print('WARNING:pysyslog.cli:Listening for syslog over TCP on: {}:{} polling: {}'\
                  .format(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))";
    let out = Command::new("python3")
        .args(["-c", script, host, &port.to_string(), poll])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn default_output_is_pysyslogs_byte_for_byte() {
    let mut c = Collector::start(&[]);
    let input: &[u8] =
        b"hello world\nCRLF line\r\n  spaced\t\r\n\n100% %s %(name)s safe\n\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\nbad \xff\xfe utf-8\nlast, unterminated";
    c.send(input);
    let expected_lines = python_reference("127.0.0.1", input);
    let n = expected_lines.iter().filter(|&&b| b == b'\n').count();
    c.wait_lines(n);
    assert_eq!(c.stop().code(), Some(0));
    let mut expected = python_banner("127.0.0.1", c.port, "0.5").into_bytes();
    expected.extend_from_slice(&expected_lines);
    assert_eq!(
        String::from_utf8_lossy(&c.stdout_bytes()),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(c.stdout_bytes(), expected);
}

#[test]
fn poll_interval_prints_as_a_python_float() {
    let mut c = Collector::start(&["-i", "1"]);
    assert_eq!(c.stop().code(), Some(0));
    assert_eq!(c.stdout_text(), python_banner("127.0.0.1", c.port, "1"));
}

#[test]
fn two_connections_keep_their_own_order() {
    let c = Collector::start(&[]);
    let mut a = c.connect();
    let mut b = c.connect();
    for i in 0..200 {
        writeln!(a, "a-{i}").expect("send a");
        writeln!(b, "b-{i}").expect("send b");
    }
    drop((a, b));
    let lines = c.wait_lines(400);
    for who in ["a", "b"] {
        let got: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("INFO:127.0.0.1:"))
            .filter(|m| m.starts_with(who))
            .collect();
        let want: Vec<String> = (0..200).map(|i| format!("{who}-{i}")).collect();
        assert_eq!(got, want, "order of connection {who}");
    }
}

#[test]
fn a_hundred_thousand_lines_on_one_connection_arrive_in_order() {
    let c = Collector::start(&[]);
    let mut s = c.connect();
    let mut payload = Vec::new();
    for i in 0..100_000 {
        writeln!(payload, "line {i:06} {}", "x".repeat(40)).expect("build");
    }
    s.write_all(&payload).expect("send");
    drop(s);
    let lines = c.wait_lines(100_000);
    assert_eq!(lines.len(), 100_000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            line,
            &format!("INFO:127.0.0.1:line {i:06} {}", "x".repeat(40))
        );
    }
}

#[test]
fn two_hundred_concurrent_connections_lose_nothing() {
    let c = Collector::start(&[]);
    let addr = c.addr();
    let senders: Vec<_> = (0..200)
        .map(|conn| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                let mut payload = Vec::new();
                for i in 0..500 {
                    writeln!(payload, "c{conn}-{i}").expect("build");
                }
                s.write_all(&payload).expect("send");
            })
        })
        .collect();
    for t in senders {
        t.join().expect("sender thread");
    }
    let lines = c.wait_lines(100_000);
    let got: HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("INFO:127.0.0.1:"))
        .collect();
    assert_eq!(lines.len(), 100_000, "no duplicates");
    for conn in 0..200 {
        for i in 0..500 {
            assert!(
                got.contains(format!("c{conn}-{i}").as_str()),
                "c{conn}-{i} missing"
            );
        }
    }
}

#[test]
fn nul_terminated_and_octet_counted_frames() {
    let c = Collector::start(&[]);
    // Python's SysLogHandler over TCP: NUL, no LF. Then NUL+LF, then RFC 6587.
    c.send(b"<14>first\x00<14>second\x00<14>third\x00\n11 <14>counted4 <1>x");
    let lines = c.wait_lines(5);
    assert_eq!(
        lines,
        [
            "<14>first",
            "<14>second",
            "<14>third",
            "<14>counted",
            "<1>x"
        ]
        .map(|m| format!("INFO:127.0.0.1:{m}"))
    );
}

#[test]
fn an_over_long_line_is_truncated_and_reported_and_the_next_line_is_whole() {
    let c = Collector::start(&["--max-line-length", "64"]);
    let long = "L".repeat(100);
    c.send(format!("{long}\nnext line\n").as_bytes());
    let lines = c.wait_lines(2);
    assert_eq!(
        lines,
        [
            format!("INFO:127.0.0.1:{}", &long[..64]),
            "INFO:127.0.0.1:next line".into()
        ]
    );
    // The report is the collector's own: on stderr, so stdout stays data.
    let diagnostics = c.wait_diagnostics(1);
    assert!(
        diagnostics[0].starts_with("WARNING:pysyslog.receiver:")
            && diagnostics[0].contains("longer than 64 bytes"),
        "{diagnostics:?}"
    );
    assert!(!c.stdout_text().contains("pysyslog.receiver"));
}

#[test]
fn util_linux_logger_lf_and_octet_counting() {
    let c = Collector::start(&[]);
    let port = c.port.to_string();
    for (i, extra) in [&[][..], &["--octet-count"][..]].iter().enumerate() {
        let token = format!("token-{i}-{}", std::process::id());
        let (status, err) = run_with_timeout(
            Command::new("logger")
                .args(["-T", "-n", "127.0.0.1", "-P", &port])
                .args(*extra)
                .arg(&token),
        )
        .expect("logger (util-linux) must be installed: tests/run installs bsdutils");
        assert!(status.success(), "logger failed: {err}");
        let lines = c.wait_lines(i + 1);
        let line = &lines[i];
        assert!(
            line.starts_with("INFO:127.0.0.1:<"),
            "no length prefix: {line:?}"
        );
        assert!(
            line.ends_with(&format!(" {token}")),
            "message whole: {line:?}"
        );
    }
}

#[test]
fn python_sysloghandler_over_tcp() {
    let c = Collector::start(&[]);
    let script = r#"
import logging, logging.handlers, socket, sys
h = logging.handlers.SysLogHandler(address=("127.0.0.1", int(sys.argv[1])), socktype=socket.SOCK_STREAM)
log = logging.getLogger("app"); log.addHandler(h); log.setLevel(logging.INFO)
for i in range(3):
    log.info("python message %d", i)
h.close()
"#;
    let status = Command::new("python3")
        .args(["-c", script, &c.port.to_string()])
        .status()
        .expect("python3");
    assert!(status.success());
    let lines = c.wait_lines(3);
    let want: Vec<String> = (0..3)
        .map(|i| format!("INFO:127.0.0.1:<14>python message {i}"))
        .collect();
    assert_eq!(lines, want);
}

#[test]
fn sigterm_right_after_a_burst_writes_everything_and_leaves_no_process() {
    let mut c = Collector::start(&[]);
    let writer = c.writer_pid().expect("writer process");
    let mut s = c.connect();
    let mut payload = Vec::new();
    for i in 0..50_000 {
        writeln!(payload, "burst {i}").expect("build");
    }
    s.write_all(&payload).expect("send");
    // The connection stays open: the stop must read what the peer already sent.
    let status = c.stop();
    assert_eq!(status.code(), Some(0), "{}", c.stderr_text());
    assert!(!alive(writer), "writer left running");
    let lines = c.lines();
    assert_eq!(lines.len(), 50_000);
    assert!(lines
        .iter()
        .enumerate()
        .all(|(i, l)| l == &format!("INFO:127.0.0.1:burst {i}")));
    drop(s);
}

#[test]
fn dual_stack_listener_names_ipv4_peers_in_dotted_form() {
    let c = Collector::start_on("::", &[], |c| {
        c.stdout_text().contains("Listening for syslog")
    });
    let mut v4 = TcpStream::connect(("127.0.0.1", c.port)).expect("IPv4 to ::");
    v4.write_all(b"over ipv4\n").expect("send");
    drop(v4);
    c.wait_lines(1);
    let mut v6 = TcpStream::connect(("::1", c.port)).expect("IPv6 loopback");
    v6.write_all(b"over ipv6\n").expect("send");
    drop(v6);
    let lines = c.wait_lines(2);
    assert_eq!(lines, ["INFO:127.0.0.1:over ipv4", "INFO:::1:over ipv6"]);
    assert!(c
        .stdout_text()
        .starts_with(&python_banner("::", c.port, "0.5")));
}

#[test]
fn a_port_in_use_is_one_clear_line_and_exit_2() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port().to_string();
    let out = Command::new(BIN)
        .args(["127.0.0.1", &port])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("Address already in use"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing printed before the bind failed"
    );
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["127.0.0.1", "99999"][..],
        &["-c", "cert.pem"][..],
        &["--max-line-length", "1"][..],
        &["--nope"][..],
    ] {
        let out = Command::new(BIN).args(args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("pysyslog: error: "), "{err}");
    }
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in [
        "--cert",
        "--key",
        "--logging-config",
        "--max-queue-size",
        "--poll-interval",
        "--max-line-length",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(
        help.contains("only appears in the start-up banner"),
        "--help explains -i"
    );
    let out = Command::new(BIN).arg("--version").output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pysyslog "));
}

#[test]
fn the_writer_exits_when_the_receiver_is_killed() {
    let mut c = Collector::start(&[]);
    let writer = c.writer_pid().expect("writer");
    signal(c.pid(), libc::SIGKILL);
    c.wait_exit();
    wait_until("the orphaned writer to exit", || !alive(writer));
}

#[test]
fn a_killed_writer_is_replaced_and_lines_keep_arriving() {
    let c = Collector::start(&[]);
    let first = c.writer_pid().expect("writer");
    c.send(b"before\n");
    c.wait_lines(1);
    signal(first, libc::SIGKILL);
    c.wait_new_writer(first);
    c.send(b"after\n");
    let lines = c.wait_lines(2);
    assert_eq!(lines, ["INFO:127.0.0.1:before", "INFO:127.0.0.1:after"]);
    let diagnostics = c.wait_diagnostics(1);
    assert!(
        diagnostics
            .iter()
            .any(|l| l.starts_with("ERROR:pysyslog.writer:writer process") && l.contains("died")),
        "{diagnostics:?}"
    );
}

/// One message, one line: an octet-counted frame holding LF and NUL cannot
/// become several output lines (one of which could pass for another peer's):
/// both are escaped as rsyslog does, and an LF-framed line prints as sent.
#[test]
fn lf_and_nul_inside_a_counted_frame_are_escaped_into_one_line() {
    let c = Collector::start(&[]);
    let forged = "<14>mine\nINFO:10.9.9.9:forged\0tail";
    c.send(format!("{} {forged}<14>plain\tline\r\n", forged.len()).as_bytes());
    let lines = c.wait_lines(2);
    assert_eq!(
        lines,
        [
            "INFO:127.0.0.1:<14>mine#012INFO:10.9.9.9:forged#000tail",
            "INFO:127.0.0.1:<14>plain\tline",
        ]
    );
}

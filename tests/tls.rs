//! TLS end-to-end: the real binary against openssl s_client, Python's ssl module
//! and raw sockets, with the committed fixtures of tests/data/tls.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
        .display()
        .to_string()
}

fn tls_collector(cert: &str, key: &str, extra: &[&str]) -> Collector {
    let (cert, key) = (fixture(cert), fixture(key));
    let mut args = vec!["--cert", cert.as_str(), "--key", key.as_str()];
    args.extend_from_slice(extra);
    Collector::start(&args)
}

/// Send `payload` with `openssl s_client`, verifying the server against our CA;
/// returns whether s_client succeeded, and its stderr.
fn s_client(port: u16, payload: &[u8], extra: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &fixture("ca.pem"),
        ])
        .args([
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-quiet",
            "-no_ign_eof",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (tests/run installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(payload)
        .expect("feed s_client");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "s_client hung");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("s_client output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// CPU time (user + system, clock ticks) of a process.
fn cpu_ticks(pid: i32) -> u64 {
    let fields = proc_stat(pid);
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    ticks(11) + ticks(12)
}

#[test]
fn every_key_kind_and_file_layout_serves_openssl() {
    for (cert, key) in [
        ("server-rsa.pem", "server-rsa.key"),
        ("server-rsa.pem", "server-rsa-pkcs1.key"),
        ("server-ec.pem", "server-ec.key"),
        ("server-ed25519.pem", "server-ed25519.key"),
        ("server-chain.pem", "server-chain.key"),
        ("combined.pem", "combined.pem"),
    ] {
        let c = tls_collector(cert, key, &[]);
        let token = format!("token {cert} {key}");
        let (ok, err) = s_client(c.port, format!("{token}\n").as_bytes(), &[]);
        assert!(ok, "{cert}/{key}: s_client failed: {err}");
        assert_eq!(
            c.wait_lines(1),
            [format!("INFO:127.0.0.1:{token}")],
            "{cert}/{key}"
        );
    }
}

#[test]
fn both_framings_over_tls_and_tls13_only() {
    let c = tls_collector(
        "server-ec.pem",
        "server-ec.key",
        &["--tls-min-version", "1.3"],
    );
    let msg = "<14>octet counted!";
    let (ok, err) = s_client(
        c.port,
        format!("{} {msg}plain line\n", msg.len()).as_bytes(),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(
        c.wait_lines(2),
        [
            "INFO:127.0.0.1:<14>octet counted!",
            "INFO:127.0.0.1:plain line"
        ]
    );
    let (ok, _) = s_client(c.port, b"refused\n", &["-tls1_2"]);
    assert!(!ok, "TLS 1.2 must be refused with --tls-min-version 1.3");
}

#[test]
fn silent_and_stopped_clients_delay_nobody_and_cost_no_cpu() {
    let c = tls_collector("server-rsa.pem", "server-rsa.key", &[]);
    // A client that connects and never speaks.
    let _silent = TcpStream::connect(c.addr()).expect("connect");
    // A client stopped mid-handshake: openssl frozen right after it starts.
    let mut stopped = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", c.port),
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    signal(stopped.id() as i32, libc::SIGSTOP);
    // A client that sent part of a ClientHello and went quiet.
    let mut partial = TcpStream::connect(c.addr()).expect("connect");
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .expect("partial hello");

    let pids = [vec![c.pid()], children(c.pid())].concat();
    let before: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let started = Instant::now();
    let (ok, err) = s_client(c.port, b"not delayed\n", &[]);
    assert!(ok, "{err}");
    c.wait_lines(1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "second client took {:?}",
        started.elapsed()
    );
    // Give a busy loop time to show, then check the collector stayed idle.
    std::thread::sleep(Duration::from_millis(1000));
    let used: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum::<u64>() - before;
    assert!(
        used < 30,
        "collector used {used} ticks of CPU while clients stalled"
    );
    signal(stopped.id() as i32, libc::SIGKILL);
    let _ = stopped.wait();
}

#[test]
fn stalled_handshakes_are_closed_at_the_deadline() {
    let c = tls_collector(
        "server-rsa.pem",
        "server-rsa.key",
        &["--tls-handshake-timeout", "0.5"],
    );
    let _silent = TcpStream::connect(c.addr()).expect("connect");
    let lines = c.wait_diagnostics(1);
    assert!(
        lines[0].starts_with("WARNING:pysyslog.receiver:TLS handshake with 127.0.0.1:"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("did not complete within 0.5s"),
        "{lines:?}"
    );
}

#[test]
fn a_close_without_close_notify_still_logs_the_last_line() {
    let c = tls_collector("server-rsa.pem", "server-rsa.key", &[]);
    // Python's SSLSocket.close() closes the socket without a close_notify.
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
s.sendall(b"first\nunterminated last")
s.close()
"#;
    let status = Command::new("python3")
        .args(["-c", script, &c.port.to_string(), &fixture("ca.pem")])
        .status();
    assert!(status.expect("python3").success());
    assert_eq!(
        c.wait_lines(2),
        ["INFO:127.0.0.1:first", "INFO:127.0.0.1:unterminated last"]
    );
}

#[test]
fn mutual_tls_admits_our_clients_and_refuses_others() {
    let ca = fixture("ca.pem");
    let c = tls_collector("server-rsa.pem", "server-rsa.key", &["--client-ca", &ca]);
    let (cert, key) = (fixture("client.pem"), fixture("client.key"));
    let (ok, err) = s_client(
        c.port,
        b"with a client certificate\n",
        &["-cert", &cert, "-key", &key],
    );
    assert!(ok, "{err}");
    c.wait_lines(1);

    let _ = s_client(c.port, b"no certificate\n", &[]);
    let refused = c.wait_diagnostics(1);
    assert!(
        refused[0].starts_with("ERROR:pysyslog.receiver:TLS handshake with 127.0.0.1:"),
        "{refused:?}"
    );
    assert!(refused[0].contains("failed"), "{refused:?}");

    let (other_cert, other_key) = (fixture("other-client.pem"), fixture("other-client.key"));
    let _ = s_client(
        c.port,
        b"other CA\n",
        &["-cert", &other_cert, "-key", &other_key],
    );
    let refused = c.wait_diagnostics(2);
    assert!(
        refused[1].starts_with("ERROR:pysyslog.receiver:TLS handshake with 127.0.0.1:"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("UnknownIssuer"),
        "the reason is logged: {refused:?}"
    );
    assert_eq!(c.lines(), ["INFO:127.0.0.1:with a client certificate"]);
    assert!(
        !c.stdout_text().contains("no certificate\n") && !c.stdout_text().contains("other CA\n")
    );
}

#[test]
fn tls_to_a_plain_port_is_reported_not_logged_as_garbage() {
    let c = Collector::start(&[]);
    let _ = s_client(c.port, b"secret\n", &[]);
    let lines = c.wait_diagnostics(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("ERROR:pysyslog.receiver:TLS handshake from 127.0.0.1:"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("--cert and --key"),
        "actionable: {lines:?}"
    );
}

#[test]
fn plain_text_to_a_tls_port_is_reported() {
    let c = tls_collector("server-rsa.pem", "server-rsa.key", &[]);
    c.send(b"<14>plain text\n");
    let lines = c.wait_diagnostics(1);
    assert!(
        lines[0].starts_with("ERROR:pysyslog.receiver:plain text from 127.0.0.1:"),
        "{lines:?}"
    );
    assert_eq!(
        lines.len(),
        1,
        "the payload is not logged as a line: {lines:?}"
    );
    assert!(c.lines().is_empty(), "{:?}", c.lines());
    assert!(
        lines[0].contains("(first bytes \"<14>plai\")"),
        "the first bytes help find the sender: {lines:?}"
    );
}

#[test]
fn start_up_errors_are_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--key", "server-rsa.key"],
            "--cert and --key must be given together",
        ),
        (
            &["--cert", "nope.pem", "--key", "server-rsa.key"],
            "cannot read TLS file",
        ),
        (
            &["--cert", "server-rsa.key", "--key", "server-rsa.key"],
            "no certificate found in",
        ),
        (
            &["--cert", "server-rsa.pem", "--key", "server-rsa.pem"],
            "no private key found in",
        ),
        (
            &["--cert", "server-rsa.pem", "--key", "server-ec.key"],
            "does not match the certificate",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with('-') {
                    a.to_string()
                } else {
                    fixture(a)
                }
            })
            .collect();
        let out = Command::new(BIN)
            .args(["127.0.0.1", &free_port().to_string()])
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn an_expired_certificate_is_warned_about_but_served() {
    let c = tls_collector("expired.pem", "expired.key", &[]);
    assert!(
        c.stderr_text().contains("warning: the certificate in")
            && c.stderr_text().contains("expired")
    );
    let lines = c.wait_diagnostics(1);
    assert!(
        lines[0].starts_with("WARNING:pysyslog.tls:the certificate in"),
        "{lines:?}"
    );
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(fixture("server-rsa.pem"), &cert).expect("copy");
    std::fs::copy(fixture("server-rsa.key"), &key).expect("copy");
    let c = Collector::start(&[
        "--cert",
        &cert.display().to_string(),
        "--key",
        &key.display().to_string(),
    ]);
    let served = |port: u16| -> String {
        let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
print(ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True)).strip())
s.close()
"#;
        let out = Command::new("python3")
            .args(["-c", script, &port.to_string(), &fixture("ca.pem")])
            .output();
        String::from_utf8_lossy(&out.expect("python3").stdout)
            .trim()
            .to_owned()
    };
    let pem = |name: &str| {
        std::fs::read_to_string(fixture(name))
            .expect("fixture")
            .trim()
            .to_owned()
    };
    assert_eq!(served(c.port), pem("server-rsa.pem"));
    std::fs::copy(fixture("server-ec.pem"), &cert).expect("copy");
    std::fs::copy(fixture("server-ec.key"), &key).expect("copy");
    signal(c.pid(), libc::SIGHUP);
    wait_until("the reload", || {
        c.stderr_text().contains("TLS certificate and key reloaded")
    });
    assert_eq!(served(c.port), pem("server-ec.pem"));
    // A broken file keeps the working configuration.
    std::fs::write(&key, "garbage").expect("write");
    signal(c.pid(), libc::SIGHUP);
    wait_until("the failed reload", || {
        c.stderr_text()
            .contains("TLS reload failed, keeping the previous certificate")
    });
    assert_eq!(served(c.port), pem("server-ec.pem"));
}

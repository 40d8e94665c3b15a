//! Several listeners in one collector, the PROXY protocol from trusted
//! sources, `--allow` and `--tcp-keepalive`: the real binary, raw sockets and
//! Python's `ssl` on loopback (127.0.0.0/8 gives distinct source addresses).

mod util;

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use util::*;

fn v2_header(cmd: u8, source: [u8; 4], port: u16, tlvs: &[u8]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | cmd);
    h.push(0x11);
    h.extend_from_slice(&((12 + tlvs.len()) as u16).to_be_bytes());
    h.extend_from_slice(&source);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&514u16.to_be_bytes());
    h.extend_from_slice(tlvs);
    h
}

#[test]
fn tls_plain_tcp_udp_and_ipv6_listeners_in_one_collector() {
    let (tcp, v6, udp) = (free_port(), free_port(), free_port());
    let (tcp_url, v6_url, udp_url, udp6_url) = (
        format!("tcp://127.0.0.1:{tcp}"),
        format!("tcp://[::1]:{v6}"),
        format!("udp://127.0.0.1:{udp}"),
        format!("udp://[::1]:{udp}"),
    );
    let (cert, key) = (tls_fixture("server-rsa.pem"), tls_fixture("server-rsa.key"));
    let c = start_listeners(
        &[
            "--cert", &cert, "--key", &key, "--listen", &tcp_url, "--listen", &v6_url, "--listen",
            &udp_url, "--listen", &udp6_url,
        ],
        5,
    );
    let banner: Vec<String> = c.stdout_text().lines().take(5).map(str::to_owned).collect();
    assert_eq!(
        banner,
        [
            format!(
                "WARNING:pysyslog.cli:Listening for syslog over TCP on: 127.0.0.1:{} polling: 0.5",
                c.port
            ),
            format!("WARNING:pysyslog.cli:Listening for syslog over TCP on: 127.0.0.1:{tcp}"),
            format!("WARNING:pysyslog.cli:Listening for syslog over TCP on: [::1]:{v6}"),
            format!("WARNING:pysyslog.cli:Listening for syslog over UDP on: 127.0.0.1:{udp}"),
            format!("WARNING:pysyslog.cli:Listening for syslog over UDP on: [::1]:{udp}"),
        ]
    );
    let sender = UdpSocket::bind("127.0.0.3:0").expect("udp");
    sender
        .send_to(b"udp line\0", ("127.0.0.1", udp))
        .expect("udp send");
    let sender6 = UdpSocket::bind("[::1]:0").expect("udp6");
    sender6
        .send_to(b"udp6 line\n", ("::1", udp))
        .expect("udp6 send");
    send_from(
        "127.0.0.2",
        SocketAddr::from(([127, 0, 0, 1], tcp)),
        b"plain line\n",
    );
    TcpStream::connect(("::1", v6))
        .and_then(|mut s| s.write_all(b"v6 line\n"))
        .expect("send over IPv6");
    python_tls("127.0.0.1", c.port, b"", "tls line\n");
    assert_eq!(
        wait_data(&c, 5),
        [
            "INFO:127.0.0.1:tls line",
            "INFO:127.0.0.2:plain line",
            "INFO:127.0.0.3:udp line",
            "INFO:::1:udp6 line",
            "INFO:::1:v6 line",
        ]
    );
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn listeners_that_would_share_a_port_are_a_start_up_error() {
    let port = free_port().to_string();
    let url = format!("tcp://localhost:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args(["127.0.0.1", &port, "--listen", &url])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("both listen on 127.0.0.1:"), "{err}");
}

#[test]
fn proxy_headers_from_a_trusted_balancer_name_the_client() {
    let c = start_listeners(&["--proxy-protocol-from", "127.0.0.1/32"], 1);
    let to = c.addr();
    send_from(
        "127.0.0.1",
        to,
        b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\nv1 line\n",
    );
    send_from(
        "127.0.0.1",
        to,
        &[
            &v2_header(1, [127, 0, 0, 3], 40001, &[4, 0, 3, 1, 2, 3])[..],
            b"v2 line\n",
        ]
        .concat(),
    );
    // A health check: LOCAL, served as the balancer itself.
    send_from(
        "127.0.0.1",
        to,
        &[&v2_header(0, [0; 4], 0, &[])[..], b"local line\n"].concat(),
    );
    send_from(
        "127.0.0.1",
        to,
        b"PROXY TCP6 2001:db8::7 ::1 1 514\r\nv6 client\n",
    );
    // Any chunking.
    let mut s = connect_from("127.0.0.1", to);
    for b in b"PROXY TCP4 127.0.0.4 127.0.0.1 1 514\r\nslow line\n" {
        s.write_all(&[*b]).expect("send");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(s);
    // A bare TCP check (connect, close) is not an error.
    drop(connect_from("127.0.0.1", to));
    // A client outside --proxy-protocol-from cannot forge its name.
    send_from(
        "127.0.0.9",
        to,
        b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\nforged\n",
    );
    assert_eq!(
        wait_data(&c, 7),
        [
            "INFO:127.0.0.1:local line",
            "INFO:127.0.0.2:v1 line",
            "INFO:127.0.0.3:v2 line",
            "INFO:127.0.0.4:slow line",
            "INFO:127.0.0.9:PROXY TCP4 127.0.0.2 127.0.0.1 40000 514",
            "INFO:127.0.0.9:forged",
            "INFO:2001:db8::7:v6 client",
        ]
    );
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn a_missing_or_bad_header_closes_with_one_rate_limited_error() {
    let c = start_listeners(&["--proxy-protocol-from", "127.0.0.0/8"], 1);
    let to = c.addr();
    send_from("127.0.0.5", to, b"<13>no header\n");
    let errors = c.wait_diagnostics(1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ERROR:pysyslog.receiver:connection from 127.0.0.5:")
            && errors[0].contains("no PROXY protocol header"),
        "{errors:?}"
    );
    // More bad headers at once: held back, not one error each.
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(300, b'x');
    send_from("127.0.0.6", to, &long);
    send_from("127.0.0.6", to, b"PROXY TCP4 1.2.3 127.0.0.1 1 2\r\n");
    // Whatever follows the refused headers is never logged.
    std::thread::sleep(Duration::from_millis(300));
    assert!(data_lines(&c).is_empty(), "{:?}", data_lines(&c));
    assert_eq!(c.diagnostics().len(), 1, "{:?}", c.diagnostics());
}

#[test]
fn the_header_comes_before_the_tls_handshake() {
    let (cert, key) = (tls_fixture("server-rsa.pem"), tls_fixture("server-rsa.key"));
    let c = start_listeners(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--proxy-protocol-from",
            "127.0.0.1",
        ],
        1,
    );
    python_tls(
        "127.0.0.1",
        c.port,
        b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\n",
        "over tls v1\n",
    );
    python_tls(
        "127.0.0.1",
        c.port,
        &v2_header(1, [127, 0, 0, 3], 1, &[]),
        "over tls v2\n",
    );
    assert_eq!(
        wait_data(&c, 2),
        ["INFO:127.0.0.2:over tls v1", "INFO:127.0.0.3:over tls v2"]
    );
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn allow_lists_refuse_other_sources_with_the_proxy_client_checked() {
    let c = start_listeners(
        &[
            "--allow",
            "127.0.0.2",
            "--proxy-protocol-from",
            "127.0.0.1",
            "--allow",
            "10.0.0.0/8",
        ],
        1,
    );
    let to = c.addr();
    send_from("127.0.0.2", to, b"allowed\n");
    send_from("127.0.0.3", to, b"refused\n");
    send_from("127.0.0.3", to, b"refused again\n");
    send_from(
        "127.0.0.1",
        to,
        b"PROXY TCP4 10.1.2.3 127.0.0.1 1 514\r\nproxied allowed\n",
    );
    send_from(
        "127.0.0.1",
        to,
        b"PROXY TCP4 192.0.2.1 127.0.0.1 1 514\r\nproxied refused\n",
    );
    assert_eq!(
        wait_data(&c, 2),
        ["INFO:10.1.2.3:proxied allowed", "INFO:127.0.0.2:allowed"]
    );
    let diags = c.wait_diagnostics(2);
    std::thread::sleep(Duration::from_millis(200));
    let diags: Vec<String> = c.diagnostics().into_iter().chain(diags).collect();
    assert!(
        diags.iter().any(|d| d.starts_with(
            "WARNING:pysyslog.receiver:refused a connection from 127.0.0.3 (not in --allow)"
        )),
        "{diags:?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.contains("refused a connection from 192.0.2.1 (not in --allow)")),
        "{diags:?}"
    );
    // The second refusal of 127.0.0.3 is counted, not logged again at once.
    assert_eq!(
        c.diagnostics()
            .iter()
            .filter(|d| d.contains("127.0.0.3"))
            .count(),
        1,
        "{diags:?}"
    );
    assert!(data_lines(&c).iter().all(|l| !l.contains("refused")));
}

/// The keepalive timer of the collector's side of connections to `port`, as `ss -o` shows it.
fn ss_timers(port: u16) -> String {
    let out = Command::new("ss")
        .args(["-tnoH", "state", "established", &format!("sport = :{port}")])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keepalive_is_on_accepted_sockets_unless_disabled() {
    let c = start_listeners(&["--tcp-keepalive", "120"], 1);
    let mut s = c.connect();
    s.write_all(b"hello\n").expect("send");
    wait_data(&c, 1);
    let timers = ss_timers(c.port);
    assert!(
        timers.contains("timer:(keepalive,1min") || timers.contains("timer:(keepalive,2min"),
        "{timers}"
    );

    let off = start_listeners(&["--tcp-keepalive", "0"], 1);
    let mut s = off.connect();
    s.write_all(b"hello\n").expect("send");
    wait_data(&off, 1);
    let timers = ss_timers(off.port);
    assert!(
        !timers.is_empty() && !timers.contains("keepalive"),
        "{timers}"
    );
}

/// Start with only `--listen` options after a positional TCP listener.
fn start_udp(extra: &[&str]) -> (Collector, u16) {
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let mut args = vec!["--listen", url.as_str()];
    args.extend_from_slice(extra);
    (start_listeners(&args, 2), udp)
}

#[test]
fn real_clients_over_udp_and_tcp_logger_and_python() {
    let (c, udp) = start_udp(&[]);
    let port = c.port.to_string();
    let udp_port = udp.to_string();
    for (flag, p, msg) in [
        ("-d", &udp_port, "logger over udp"),
        ("-T", &port, "logger over tcp"),
    ] {
        let status = Command::new("logger")
            .args([
                flag,
                "-n",
                "127.0.0.1",
                "-P",
                p,
                "--rfc3164",
                "-t",
                "t",
                msg,
            ])
            .status()
            .expect("logger");
        assert!(status.success());
    }
    let script = r#"
import logging, logging.handlers, socket, sys
udp, tcp = int(sys.argv[1]), int(sys.argv[2])
for port, kind, text in [(udp, socket.SOCK_DGRAM, "python udp"), (tcp, socket.SOCK_STREAM, "python tcp")]:
    h = logging.handlers.SysLogHandler(address=("127.0.0.1", port), socktype=kind)
    log = logging.getLogger(text)
    log.addHandler(h)
    log.warning(text)
    h.close()
"#;
    let status = Command::new("python3")
        .args(["-c", script, &udp_port, &port])
        .status()
        .expect("python3");
    assert!(status.success());
    let lines = wait_data(&c, 4);
    assert!(
        lines.iter().all(|l| l.starts_with("INFO:127.0.0.1:")),
        "{lines:?}"
    );
    for want in ["<12>python tcp", "<12>python udp"] {
        assert!(lines.iter().any(|l| l.ends_with(want)), "{want}: {lines:?}");
    }
    for want in ["t: logger over udp", "t: logger over tcp"] {
        assert_eq!(
            lines.iter().filter(|l| l.ends_with(want)).count(),
            1,
            "{want}: {lines:?}"
        );
    }
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn datagrams_are_truncated_allow_listed_and_never_crash() {
    let (c, udp) = start_udp(&["--max-line-length", "64", "--allow", "127.0.0.2"]);
    let to = ("127.0.0.1", udp);
    let ok = UdpSocket::bind("127.0.0.2:0").expect("udp");
    let refused = UdpSocket::bind("127.0.0.4:0").expect("udp");
    refused.send_to(b"not allowed", to).expect("send");
    ok.send_to(&[b'x'; 65_000], to)
        .expect("send a huge datagram");
    ok.send_to(b"\0\0\0", to).expect("send an empty one");
    ok.send_to(&[0xff, 0xfe, b'a', 0], to)
        .expect("send invalid UTF-8");
    ok.send_to(b"one\nmessage\0", to).expect("send LF inside");
    ok.send_to(b"last", to).expect("send");
    let lines = wait_data(&c, 4);
    assert_eq!(
        lines,
        [
            "INFO:127.0.0.2:last".to_owned(),
            "INFO:127.0.0.2:one#012message".to_owned(),
            format!("INFO:127.0.0.2:{}", "x".repeat(64)),
            "INFO:127.0.0.2:\u{fffd}\u{fffd}a".to_owned(),
        ]
    );
    let diags = c.wait_diagnostics(2);
    assert!(
        diags
            .iter()
            .any(|d| d.contains("refused a datagram from 127.0.0.4 (not in --allow)")),
        "{diags:?}"
    );
    assert!(
        diags.iter().any(|d| d.contains("longer than 64 bytes")),
        "{diags:?}"
    );
}

#[test]
fn two_hundred_thousand_datagrams_at_a_rate_kept_up_with_all_arrive() {
    const TOTAL: usize = 200_000;
    const WINDOW: usize = 4_000;
    let (c, udp) = start_udp(&[]);
    let sender = UdpSocket::bind("127.0.0.2:0").expect("udp");
    sender.connect(("127.0.0.1", udp)).expect("connect");
    let mut sent = 0;
    while sent < TOTAL {
        for _ in 0..WINDOW {
            sender
                .send(format!("<13>datagram {sent:06}").as_bytes())
                .expect("send");
            sent += 1;
        }
        // Closed loop: the next window goes once the collector is within one window.
        wait_until("the collector to keep up", || {
            count_lines(&c.stdout) + WINDOW >= sent
        });
    }
    let lines = wait_data(&c, TOTAL);
    assert_eq!(lines.len(), TOTAL);
    let mut seen = vec![false; TOTAL];
    for l in &lines {
        let n: usize = l
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("number");
        assert!(!seen[n], "datagram {n} twice");
        seen[n] = true;
    }
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn a_udp_flood_beyond_the_buffer_reports_kernel_drops_and_tcp_is_still_served() {
    let (c, udp) = start_udp(&["--udp-recv-buffer", "65536"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sender = UdpSocket::bind("127.0.0.2:0").expect("udp");
            sender.connect(("127.0.0.1", udp)).expect("connect");
            let payload = [b'y'; 200];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sender.send(&payload);
            }
        })
    };
    wait_until("a kernel drop report", || {
        c.diagnostics()
            .iter()
            .any(|d| d.contains("the kernel dropped"))
    });
    let mut s = connect_from("127.0.0.3", c.addr());
    s.write_all(b"tcp during the flood\n").expect("send");
    drop(s);
    wait_until("the TCP line", || {
        data_lines(&c)
            .iter()
            .any(|l| l == "INFO:127.0.0.3:tcp during the flood")
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().expect("flood");
    let report = c
        .diagnostics()
        .into_iter()
        .find(|d| d.contains("the kernel dropped"))
        .expect("report");
    assert!(
        report.starts_with("WARNING:pysyslog.receiver:the kernel dropped "),
        "{report}"
    );
}

/// A client certificate signed by the test CA, made with openssl in `dir`:
/// subject CN `cn`, and DNS subject alternative names when `san` is given.
fn client_cert(dir: &std::path::Path, name: &str, cn: &str, san: Option<&str>) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let pem = dir.join(format!("{name}.pem"));
    let ext = dir.join(format!("{name}.cnf"));
    let mut extensions = "[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n".to_owned();
    if let Some(san) = san {
        extensions.push_str(&format!("subjectAltName={san}\n"));
    }
    std::fs::write(&ext, extensions).expect("extensions");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (key_s, csr_s, pem_s, ext_s) = (
        key.display().to_string(),
        csr.display().to_string(),
        pem.display().to_string(),
        ext.display().to_string(),
    );
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key_s,
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        &key_s,
        "-subj",
        &format!("/CN={cn}"),
        "-out",
        &csr_s,
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &csr_s,
        "-CA",
        &tls_fixture("ca.pem"),
        "-CAkey",
        &tls_fixture("ca.key"),
        "-CAcreateserial",
        "-CAserial",
        &dir.join("ca.srl").display().to_string(),
        "-days",
        "2",
        "-extfile",
        &ext_s,
        "-extensions",
        "v3",
        "-out",
        &pem_s,
    ]);
    (pem_s, key_s)
}

/// Send `line` over TLS with a client certificate; whether the handshake held.
fn tls_with_client_cert(port: u16, cert: &str, key: &str, line: &str) -> bool {
    let script = r#"
import socket, ssl, sys
port, cert, key, ca, line = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(line.encode())
    # TLS 1.3 reports a refused client certificate on the first read.
    s.settimeout(2)
    s.unwrap()
except (ssl.SSLError, OSError):
    sys.exit(1)
"#;
    Command::new("python3")
        .args([
            "-c",
            script,
            &port.to_string(),
            cert,
            key,
            &tls_fixture("ca.pem"),
            line,
        ])
        .status()
        .expect("python3")
        .success()
}

#[test]
fn client_names_pin_the_certificates_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (web_cert, web_key) =
        client_cert(dir.path(), "web", "ignored", Some("DNS:web1.example.com"));
    let (cn_cert, cn_key) = client_cert(dir.path(), "cn", "db1.example.com", None);
    let (deep_cert, deep_key) =
        client_cert(dir.path(), "deep", "x", Some("DNS:a.web1.example.com"));
    let (cert, key, ca) = (
        tls_fixture("server-rsa.pem"),
        tls_fixture("server-rsa.key"),
        tls_fixture("ca.pem"),
    );
    let c = start_listeners(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--client-ca",
            &ca,
            "--client-name",
            "*.example.com",
            "--client-name",
            "db1.example.com",
        ],
        1,
    );
    assert!(tls_with_client_cert(
        c.port, &web_cert, &web_key, "by san\n"
    ));
    assert!(tls_with_client_cert(c.port, &cn_cert, &cn_key, "by cn\n"));
    tls_with_client_cert(c.port, &deep_cert, &deep_key, "two labels deep\n");
    tls_with_client_cert(
        c.port,
        &tls_fixture("client.pem"),
        &tls_fixture("client.key"),
        "no name\n",
    );
    assert_eq!(
        wait_data(&c, 2),
        ["INFO:127.0.0.1:by cn", "INFO:127.0.0.1:by san"]
    );
    let diags = c.wait_diagnostics(2);
    assert!(
        diags.iter().any(|d| d
            .contains(r#"client certificate names ["a.web1.example.com"] match no --client-name"#)),
        "{diags:?}"
    );
    assert!(
        diags.iter().any(
            |d| d.contains(r#"client certificate names ["client one"] match no --client-name"#)
        ),
        "{diags:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(data_lines(&c).len(), 2, "{:?}", data_lines(&c));
}

#[test]
fn a_header_that_never_completes_is_closed_after_the_handshake_timeout() {
    let c = start_listeners(
        &[
            "--proxy-protocol-from",
            "127.0.0.1",
            "--tls-handshake-timeout",
            "0.5",
        ],
        1,
    );
    let mut s = connect_from("127.0.0.1", c.addr());
    s.write_all(b"PROXY TCP4 127.0").expect("send");
    let diags = c.wait_diagnostics(1);
    assert!(
        diags[0].starts_with("WARNING:pysyslog.receiver:PROXY protocol header from 127.0.0.1:")
            && diags[0].contains("did not complete within 0.5s"),
        "{diags:?}"
    );
    // Closed by the collector: the read sees the end.
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 1];
    assert!(matches!(
        std::io::Read::read(&mut s, &mut buf),
        Ok(0) | Err(_)
    ));
}

/// One message, one line, under each of the three settings: an octet-counted
/// frame over TCP and a datagram, each holding LF, CR, NUL and ESC, and an
/// LF-framed line holding CR, ESC and TAB.
#[test]
fn control_characters_are_escaped_as_each_setting_says_over_tcp_and_udp() {
    let message = "<14>a\nb\rc\0d\x1be";
    let counted = format!("{} {message}", message.len());
    let plain = "<14>x\ry\x1bz\tw\n";
    for (flag, escaped, plain_out) in [
        (None, "<14>a#012b\rc#000d\x1be", "<14>x\ry\x1bz\tw"),
        (
            Some("--escape-control-characters"),
            "<14>a#012b#015c#000d#033e",
            "<14>x#015y#033z#011w",
        ),
        (
            Some("--keep-control-characters"),
            message,
            "<14>x\ry\x1bz\tw",
        ),
    ] {
        let (c, udp) = start_udp(flag.as_slice());
        c.send(format!("{counted}{plain}").as_bytes());
        let from = UdpSocket::bind("127.0.0.2:0").expect("udp");
        from.send_to(message.as_bytes(), ("127.0.0.1", udp))
            .expect("send");
        // Kept as received, the LF splits the two messages over two lines each.
        let lines = if flag == Some("--keep-control-characters") {
            5
        } else {
            3
        };
        let got = wait_data(&c, lines);
        let mut expected: Vec<String> = [
            format!("INFO:127.0.0.1:{escaped}"),
            format!("INFO:127.0.0.2:{escaped}"),
            format!("INFO:127.0.0.1:{plain_out}"),
        ]
        .iter()
        .flat_map(|l| l.split('\n').map(str::to_owned).collect::<Vec<_>>())
        .collect();
        expected.sort();
        assert_eq!(got, expected, "{flag:?}");
    }
}

/// Whether the collector closed `s` (EOF or reset) within a few seconds.
fn closed_by_collector(s: &mut TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    }
}

/// `--max-connections-per-source N`: the N+1th connection from one source is
/// closed at accept with a warning; another source is still served.
#[test]
fn the_per_source_cap_refuses_the_connection_past_it_and_not_another_source() {
    let c = Collector::start(&["--max-connections-per-source", "3"]);
    let mut held = Vec::new();
    for i in 0..3 {
        let mut s = connect_from("127.0.0.2", c.addr());
        s.write_all(format!("held {i}\n").as_bytes()).expect("send");
        held.push(s);
    }
    wait_data(&c, 3);
    let mut fourth = connect_from("127.0.0.2", c.addr());
    assert!(closed_by_collector(&mut fourth), "the fourth is refused");
    let mut other = connect_from("127.0.0.3", c.addr());
    other.write_all(b"from another source\n").expect("send");
    let lines = wait_data(&c, 4);
    assert!(
        lines
            .iter()
            .any(|l| l == "INFO:127.0.0.3:from another source"),
        "{lines:?}"
    );
    wait_until("the warning", || {
        c.stderr_text()
            .contains("refused a connection from 127.0.0.2 (over --max-connections-per-source 3)")
    });
    // Closing one makes room again.
    drop(held.pop());
    wait_until("room again", || {
        let mut s = connect_from("127.0.0.2", c.addr());
        let _ = s.write_all(b"again\n");
        std::thread::sleep(Duration::from_millis(50));
        data_lines(&c).iter().any(|l| l == "INFO:127.0.0.2:again")
    });
}

/// Raise this test process's open-files limit for many client sockets.
fn raise_nofile(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard.min(want), hard).expect("setrlimit");
}

/// The default refuses no connection a source opens: 500 from one address
/// (a balancer without the PROXY protocol, a NAT, a relay) are all served
/// while all are open (the default was a cap of 256 per source, which closed
/// the other 244 at accept).
#[test]
fn five_hundred_connections_from_one_address_are_all_served_by_default() {
    raise_nofile(4096);
    let c = Collector::start(&[]);
    let socks: Vec<TcpStream> = (0..500)
        .map(|i| {
            let mut s = connect_from("127.0.0.2", c.addr());
            s.write_all(format!("connection {i:03}\n").as_bytes())
                .expect("send");
            s
        })
        .collect();
    let lines = wait_data(&c, 500);
    let mut expected: Vec<String> = (0..500)
        .map(|i| format!("INFO:127.0.0.2:connection {i:03}"))
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
    assert!(!c.stderr_text().contains("refused"), "{}", c.stderr_text());
    drop(socks);
}

/// Thousands of connections each holding a partial line of 60 KiB, from
/// eight sources (so no per-source limit would apply): what lines still
/// arriving hold is bounded in all by --max-partial-bytes (16 MiB), past
/// which the longest are logged as far as they came, so the receiver grows
/// by less than 24 MiB (16 MiB, the connections, the allocator's slack).
/// Without the bound: 1,000 x 60 KiB = 59 MiB. Nothing is lost: once the
/// senders close, every byte they sent is in the output.
#[test]
fn partial_lines_on_a_thousand_connections_stay_within_their_budget_and_lose_nothing() {
    const CONNECTIONS: usize = 1000;
    const LINE: usize = 60 << 10;
    raise_nofile(8192);
    let c = Collector::start(&[]);
    let rss = || -> u64 {
        proc_status(c.receiver_pid().expect("receiver"), "VmRSS")
            .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    };
    let before = rss();
    let partial = vec![b'x'; LINE];
    let mut socks = Vec::new();
    for i in 0..CONNECTIONS {
        let mut s = connect_from(&format!("127.0.0.{}", 2 + i % 8), c.addr());
        s.write_all(&partial).expect("send");
        socks.push(s);
    }
    // A line from elsewhere, after all of them: once it is out, the
    // receiver has read what it was sent before.
    let mut marker = connect_from("127.0.0.20", c.addr());
    marker.write_all(b"after all\n").expect("send");
    wait_until("the marker", || {
        data_lines(&c)
            .iter()
            .any(|l| l == "INFO:127.0.0.20:after all")
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = rss();
    let grown_kib = after.saturating_sub(before);
    eprintln!(
        "receiver VmRSS {before} kB -> {after} kB (+{grown_kib} kB) with {CONNECTIONS} partial lines of {LINE} bytes"
    );
    assert!(
        grown_kib < 24 << 10,
        "the receiver grew by {grown_kib} kB ({before} -> {after})"
    );
    c.wait_stderr("the report of split lines", |text| {
        text.contains("lines still arriving held more than --max-partial-bytes (16777216 bytes)")
    });
    // The senders end their lines: every byte is logged, in pieces or not.
    for s in &mut socks {
        s.write_all(b"\n").expect("send");
    }
    drop(socks);
    let want = CONNECTIONS * LINE;
    let mut got = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while got < want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        got = c.stdout_bytes().iter().filter(|&&b| b == b'x').count();
    }
    assert_eq!(got, want, "bytes of the partial lines in the output");
}

/// IPv6 peers count as one source per /64 (`--source-prefix-v6`): over the
/// cap, the refusal names the address and the network it counts as; with
/// 128 each address is its own source. (Loopback offers IPv6 only ::1, so
/// that other addresses of its /64 share its count is a unit test of
/// `receiver::source` and `receiver::refusals`.)
#[test]
fn ipv6_peers_count_by_their_network() {
    for (prefix, named) in [
        (
            "64",
            "::1 in ::/64 (over --max-connections-per-source 2); further refusals of ::/64 are",
        ),
        (
            "128",
            "::1 (over --max-connections-per-source 2); further refusals of it are",
        ),
    ] {
        let port = free_port();
        let url = format!("tcp://[::1]:{port}");
        let c = start_listeners(
            &[
                "--listen",
                &url,
                "--max-connections-per-source",
                "2",
                "--source-prefix-v6",
                prefix,
            ],
            2,
        );
        let to: SocketAddr = format!("[::1]:{port}").parse().expect("addr");
        let held: Vec<TcpStream> = (0..2)
            .map(|i| {
                let mut s = connect_from("::1", to);
                s.write_all(format!("v6 {i}\n").as_bytes()).expect("send");
                s
            })
            .collect();
        wait_data(&c, 2);
        let mut third = connect_from("::1", to);
        assert!(
            closed_by_collector(&mut third),
            "/{prefix}: the third is refused"
        );
        // Another source (IPv4) is not counted with them.
        send_from("127.0.0.2", c.addr(), b"v4\n");
        let lines = wait_data(&c, 3);
        assert!(lines.contains(&"INFO:127.0.0.2:v4".to_owned()), "{lines:?}");
        c.wait_stderr("the refusal", |text| {
            text.contains(&format!("refused a connection from {named}"))
        });
        drop(held);
    }
}

/// Behind a balancer the cap counts the clients the PROXY headers name, not
/// the balancer: a third connection for one client is closed, another
/// client and health checks (LOCAL) are served.
#[test]
fn behind_a_balancer_the_per_source_cap_counts_each_client() {
    let c = Collector::start(&[
        "--proxy-protocol-from",
        "127.0.0.1/32",
        "--max-connections-per-source",
        "2",
    ]);
    let proxied = |client: [u8; 4], line: &str| {
        let mut s = c.connect();
        s.write_all(&[&v2_header(1, client, 40000, &[])[..], line.as_bytes()].concat())
            .expect("send");
        s
    };
    let _a = proxied([127, 0, 0, 5], "a1\n");
    let _b = proxied([127, 0, 0, 5], "a2\n");
    wait_data(&c, 2);
    let mut third = proxied([127, 0, 0, 5], "a3\n");
    assert!(
        closed_by_collector(&mut third),
        "the client's third is refused"
    );
    let _other = proxied([127, 0, 0, 6], "b1\n");
    let mut check = c.connect();
    check
        .write_all(&[&v2_header(0, [0; 4], 0, &[])[..], b"local\n"].concat())
        .expect("send");
    let lines = wait_data(&c, 4);
    assert!(lines.contains(&"INFO:127.0.0.6:b1".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"INFO:127.0.0.1:local".to_owned()),
        "{lines:?}"
    );
    assert!(
        !lines.contains(&"INFO:127.0.0.5:a3".to_owned()),
        "{lines:?}"
    );
    wait_until("the warning", || {
        c.stderr_text()
            .contains("refused a connection from 127.0.0.5 (over --max-connections-per-source 2)")
    });
}

/// Port 0 means any free port, everywhere: HOST PORT and `--listen`; the
/// banner names the port bound, and lines sent there are logged.
#[test]
fn port_zero_binds_a_free_port_and_the_banner_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args([
            "127.0.0.1",
            "0",
            "--listen",
            "tcp://127.0.0.1:0",
            "--listen",
            "udp://127.0.0.1:0",
        ])
        .stdout(fs::File::create(&out).expect("out"))
        .stderr(fs::File::create(&err).expect("err"))
        .spawn()
        .expect("spawn");
    let banner = || fs::read_to_string(&out).unwrap_or_default();
    wait_until("three banner lines", || {
        banner().matches("Listening for syslog").count() == 3
    });
    let ports: Vec<u16> = banner()
        .lines()
        .filter(|l| l.contains("Listening for syslog"))
        .filter_map(|l| {
            let at = l.split(" on: ").nth(1)?;
            let port = at.split_whitespace().next()?.rsplit(':').next()?;
            port.parse().ok()
        })
        .collect();
    assert_eq!(ports.len(), 3, "{}", banner());
    assert!(ports.iter().all(|&p| p != 0), "{}", banner());
    for (i, port) in ports[..2].iter().enumerate() {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", *port)).expect("connect");
        s.write_all(format!("tcp {i}\n").as_bytes()).expect("send");
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.send_to(b"udp 2", ("127.0.0.1", ports[2]))
        .expect("send");
    wait_until("the three lines", || {
        let text = banner();
        ["tcp 0", "tcp 1", "udp 2"]
            .iter()
            .all(|l| text.contains(&format!("INFO:127.0.0.1:{l}\n")))
    });
    signal(child.id() as i32, libc::SIGTERM);
    let _ = child.wait();
}

/// A taken port's hint names the right `ss` for UDP, and the metrics
/// endpoint on one of the collector's own listeners says so.
#[test]
fn bind_errors_say_what_holds_the_port() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = taken.local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args(["--listen", &format!("udp://127.0.0.1:{port}")])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ss -lunp"), "{err}");
    let tcp = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_pysyslog"))
        .args([
            "127.0.0.1",
            &tcp.to_string(),
            "--metrics-listen",
            &format!("127.0.0.1:{tcp}"),
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this collector's own listener"), "{err}");
}

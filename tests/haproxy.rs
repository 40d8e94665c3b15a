//! HAProxy (Debian's package, installed by tests/run) in front of the
//! collector in TCP mode, with `send-proxy` (v1) and `send-proxy-v2`, for a
//! plain and a TLS listener (TLS passed through): clients at 127.0.0.2 and
//! 127.0.0.3 are logged under their own addresses, and HAProxy's health
//! checks (`check check-send-proxy`) log nothing. Started in the foreground
//! with its own configuration on loopback, stopped by PID.

mod util;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use util::haproxy::{self, Haproxy};
use util::*;

/// One frontend per (collector port, proxy version): returns the frontend ports.
fn haproxy(backends: &[(u16, &str)]) -> (Haproxy, Vec<u16>) {
    let mut cfg = String::from(haproxy::PREAMBLE);
    let mut fronts = Vec::new();
    for (i, (port, send)) in backends.iter().enumerate() {
        let front = free_port();
        fronts.push(front);
        cfg.push_str(&format!(
            "frontend f{i}\n    bind 127.0.0.1:{front}\n    default_backend b{i}\n\n\
             backend b{i}\n    server c 127.0.0.1:{port} {send} check check-send-proxy inter 200ms\n\n"
        ));
    }
    (Haproxy::start(&cfg, &fronts), fronts)
}

fn front(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn haproxy_send_proxy_v1_and_v2_for_plain_and_tls_listeners() {
    let tls = free_port();
    let tls_url = format!("tls://127.0.0.1:{tls}");
    let (cert, key) = (tls_fixture("server-rsa.pem"), tls_fixture("server-rsa.key"));
    let c = start_listeners(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--listen",
            &tls_url,
            "--proxy-protocol-from",
            "127.0.0.1/32",
        ],
        2,
    );
    // The positional listener is TLS too (with --cert/--key); the plain one
    // is a second collector below, so both kinds are covered.
    let plain = start_listeners(&["--proxy-protocol-from", "127.0.0.1"], 1);
    let (_haproxy, fronts) = haproxy(&[
        (plain.port, "send-proxy"),
        (plain.port, "send-proxy-v2"),
        (tls, "send-proxy"),
        (tls, "send-proxy-v2"),
    ]);
    // Several health checks run meanwhile (every 200 ms).
    std::thread::sleep(Duration::from_millis(700));
    send_from("127.0.0.2", front(fronts[0]), b"plain v1 from .2\n");
    send_from("127.0.0.3", front(fronts[1]), b"plain v2 from .3\n");
    python_tls("127.0.0.2", fronts[2], b"", "tls v1 from .2\n");
    python_tls("127.0.0.3", fronts[3], b"", "tls v2 from .3\n");
    assert_eq!(
        wait_data(&plain, 2),
        [
            "INFO:127.0.0.2:plain v1 from .2",
            "INFO:127.0.0.3:plain v2 from .3"
        ]
    );
    assert_eq!(
        wait_data(&c, 2),
        [
            "INFO:127.0.0.2:tls v1 from .2",
            "INFO:127.0.0.3:tls v2 from .3"
        ]
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(plain.diagnostics().is_empty(), "{:?}", plain.diagnostics());
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
    // And a forged header from a client HAProxy does not front, straight to
    // the collector, is text.
    let mut s = connect_from("127.0.0.4", plain.addr());
    s.write_all(b"PROXY TCP4 10.9.9.9 127.0.0.1 1 514\r\n")
        .expect("send");
    drop(s);
    wait_until("the forged line", || {
        data_lines(&plain)
            .iter()
            .any(|l| l == "INFO:127.0.0.4:PROXY TCP4 10.9.9.9 127.0.0.1 1 514")
    });
}

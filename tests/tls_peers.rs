//! Real peers forward to the collector over TLS: rsyslog's omfwd with its GnuTLS
//! driver (both framings) and syslog-ng's RFC 5425 `syslog()` destination. Each
//! peer verifies our certificate against the test CA. The daemons come from
//! `tests/peers/install.sh` (run by `tests/run` as root); see `peers/mod.rs`.

// Not every peer helper is used here.
#[allow(dead_code)]
mod peers;
mod util;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use peers::{tls_file, Peer};
use util::{Collector, PATIENCE};

/// Our collector with the RSA server certificate for `localhost`/127.0.0.1.
fn tls_collector() -> Collector {
    Collector::start(&[
        "--cert",
        &tls_file("server-rsa.pem"),
        "--key",
        &tls_file("server-rsa.key"),
    ])
}

/// A token no other test or run prints.
fn token(case: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{case}-{}-{nanos}", std::process::id())
}

/// Sends a unique message through `peer`, then a second one as an end marker, and
/// checks that the first arrived whole, exactly once, as one clean line.
fn assert_forwards_whole(case: &str, collector: &Collector, peer: &Peer) {
    let message = format!("pysyslog peer test {} end", token(case));
    let marker = token(&format!("{case}-marker"));
    peer.send(&format!("<13>peertest: {message}"));
    peer.send(&format!("<13>peertest: {marker}"));

    let deadline = Instant::now() + PATIENCE;
    while !collector.stdout_text().contains(&marker) {
        assert!(
            Instant::now() < deadline,
            "{case}: the message did not reach the collector.\ncollector stdout:\n{}\n\
             collector stderr:\n{}\n{}",
            collector.stdout_text(),
            collector.stderr_text(),
            peer.log_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let output = collector.stdout_bytes();
    assert!(!output.contains(&0), "{case}: NUL in the output");
    let lines = collector.lines();
    let hits: Vec<&String> = lines.iter().filter(|l| l.contains(&message)).collect();
    assert_eq!(
        hits.len(),
        1,
        "{case}: one line with the message:\n{lines:#?}"
    );
    let line = hits[0];
    assert!(
        line.starts_with("INFO:127.0.0.1:<13>"),
        "{case}: a syslog line without framing left in it: {line:?}"
    );
    assert!(line.ends_with(&message), "{case}: message cut: {line:?}");
    assert!(
        !lines.iter().any(|l| l.starts_with("ERROR:")),
        "{case}: the collector reported errors:\n{lines:#?}"
    );
}

/// rsyslog's omfwd over GnuTLS, checking our certificate's name against the test CA.
fn rsyslog_gtls(collector: &Collector, framing: &str) -> Peer {
    Peer::rsyslog(&format!(
        "global(DefaultNetstreamDriverCAFile=\"{ca}\")\n\
         action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\"\n\
                StreamDriver=\"gtls\" StreamDriverMode=\"1\"\n\
                StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers=\"localhost\"\n\
                TCP_Framing=\"{framing}\")",
        ca = tls_file("ca.pem"),
        port = collector.port,
    ))
}

#[test]
fn rsyslog_gtls_traditional_framing() {
    let collector = tls_collector();
    let peer = rsyslog_gtls(&collector, "traditional");
    assert_forwards_whole("rsyslog-traditional", &collector, &peer);
}

#[test]
fn rsyslog_gtls_octet_counted_framing() {
    let collector = tls_collector();
    let peer = rsyslog_gtls(&collector, "octet-counted");
    assert_forwards_whole("rsyslog-octet-counted", &collector, &peer);
}

#[test]
fn syslog_ng_rfc5425_tls() {
    let collector = tls_collector();
    let peer = Peer::syslog_ng(&format!(
        "syslog(\"127.0.0.1\" port({port}) transport(\"tls\")\n\
         tls(ca-file(\"{ca}\") peer-verify(required-trusted)));",
        ca = tls_file("ca.pem"),
        port = collector.port,
    ));
    assert_forwards_whole("syslog-ng", &collector, &peer);
}

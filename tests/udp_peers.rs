//! Real peers forward to the collector over UDP: rsyslog's omfwd with
//! `protocol="udp"` and syslog-ng's `network(transport("udp"))`, from `tests/peers/install.sh` (run by `tests/run` as
//! root); see `peers/mod.rs`. Each message arrives once, whole, under the
//! sender's address.

// Not every peer helper is used here.
#[allow(dead_code)]
mod peers;
mod util;

use peers::Peer;
use util::*;

/// Start a collector with a UDP listener and the peer `make` builds for its port.
fn forwards_over_udp(make: impl FnOnce(u16) -> Peer) {
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let c = start_listeners(&["--listen", &url], 2);
    let peer = make(udp);
    let messages: Vec<String> = (0..20)
        .map(|i| format!("udp peer test {i} {}", std::process::id()))
        .collect();
    for m in &messages {
        peer.send(&format!("<13>peertest: {m}"));
    }
    let lines = wait_data(&c, messages.len());
    for m in &messages {
        let hits: Vec<&String> = lines.iter().filter(|l| l.ends_with(m.as_str())).collect();
        assert_eq!(hits.len(), 1, "{m}: {lines:#?}\n{}", peer.log_text());
        assert!(hits[0].starts_with("INFO:127.0.0.1:<13>"), "{hits:?}");
    }
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn rsyslog_omfwd_over_udp() {
    forwards_over_udp(|udp| {
        Peer::rsyslog(&format!(
            "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{udp}\" protocol=\"udp\")"
        ))
    });
}

#[test]
fn syslog_ng_network_udp() {
    forwards_over_udp(|udp| {
        Peer::syslog_ng(&format!(
            "network(\"127.0.0.1\" port({udp}) transport(\"udp\"));"
        ))
    });
}

//! Forwarding with `logging.handlers.SysLogHandler` over TCP to a real
//! rsyslog (imtcp, NUL-framed as Python's handler sends) that goes down and
//! comes back: the collector holds what it could not send (backpressure, the
//! senders slow down, nothing is dropped), says so, and once rsyslog is back
//! delivers every line, in order per sender, without waiting for new
//! traffic. rsyslog comes from `tests/peers/install.sh` (run by `tests/run`).

#[allow(dead_code)]
mod peers;
mod util;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use peers::Peer;
use util::*;

/// rsyslog listening on TCP `port`, writing each message's raw text as a
/// line to `out` (appended, so a restarted rsyslog continues the file).
fn rsyslog_sink(port: u16, out: &Path) -> Peer {
    let peer = Peer::rsyslog(&format!(
        "module(load=\"imtcp\" AddtlFrameDelimiter=\"0\")\n\
         input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
         if $inputname == \"imtcp\" then {{\n\
           action(type=\"omfile\" file=\"{out}\" template=\"raw\")\n\
           stop\n\
         }}\n",
        out = out.display()
    ));
    wait_until("rsyslog listening", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    peer
}

/// The collector forwarding every line to `port` and writing it to
/// `file` too; its own messages go to stderr.
fn collector(dir: &Path, port: u16, file: &Path) -> Collector {
    let config = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": "%(message)s"}},
        "handlers": {
            "fwd": {"class": "logging.handlers.SysLogHandler",
                    "address": ["127.0.0.1", port],
                    "socktype": "ext://socket.SOCK_STREAM", "formatter": "f"},
            "file": {"class": "logging.FileHandler", "filename": file.to_str().expect("utf-8"),
                     "formatter": "f"}
        },
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "INFO", "handlers": ["fwd", "file"]}
    });
    let path = dir.join("logging.json");
    fs::write(&path, config.to_string()).expect("config");
    Collector::start_with(
        "127.0.0.1",
        &["--logging-config", path.to_str().expect("utf-8")],
        &[("PYSYSLOG_FAILURE_REMINDER_SECS", "1")],
        |c| c.stderr_text().contains("Listening for syslog"),
    )
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `sender` sends `count` numbered lines, from `first`, on one connection.
fn send_numbered(to: std::net::SocketAddr, sender: usize, first: usize, count: usize) {
    let mut s = TcpStream::connect(to).expect("connect");
    let mut text = String::new();
    for i in first..first + count {
        text.push_str(&format!("s{sender} {i:07}\n"));
    }
    s.write_all(text.as_bytes()).expect("send");
}

/// Each sender's numbers in the order they arrived, from lines `<14>sN 0000001`.
fn per_sender(lines: &[String]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for l in lines {
        let l = l.strip_prefix("<14>").unwrap_or(l);
        if let Some((s, n)) = l.split_once(' ') {
            if let Ok(n) = n.trim().parse() {
                out.entry(s.to_owned()).or_default().push(n);
            }
        }
    }
    out
}

/// Every number below `count` is there for each of `senders`, in order;
/// repeats (what a dying connection had taken) only as a run sent again.
fn assert_complete_in_order(
    what: &str,
    got: &BTreeMap<String, Vec<usize>>,
    senders: usize,
    count: usize,
) {
    for s in 0..senders {
        let name = format!("s{s}");
        let seq = got.get(&name).cloned().unwrap_or_default();
        let mut next = 0;
        for &n in &seq {
            // A line sent again goes back at most to where the connection
            // broke; nothing may be skipped.
            assert!(n <= next, "{what}: {name} skipped from {next} to {n}");
            if n == next {
                next += 1;
            }
        }
        assert_eq!(next, count, "{what}: {name} has {next} of {count} lines");
    }
}

#[test]
fn a_peer_that_goes_down_holds_the_lines_and_gets_them_all_when_it_is_back() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let mut peer = rsyslog_sink(port, &received);
    let c = collector(work.path(), port, &file);

    // Before the outage: forwarded.
    let senders = 4;
    let before = 500;
    for s in 0..senders {
        send_numbered(c.addr(), s, 0, before);
    }
    wait_until("rsyslog receiving the first lines", || {
        lines_of(&received).len() >= senders * before
    });

    // rsyslog stops; the lines sent meanwhile are held.
    drop(peer);
    let during = 5000;
    let addr = c.addr();
    let flood: Vec<_> = (0..senders)
        .map(|s| std::thread::spawn(move || send_numbered(addr, s, before, during)))
        .collect();
    c.wait_stderr("the outage reported", |e| {
        e.contains("handler 'fwd' sending to 127.0.0.1:") && e.contains("failed")
    });
    c.wait_stderr("a reminder while it lasts", |e| e.contains("still failing"));
    let stderr = c.stderr_text();
    assert!(
        !stderr.contains("dropped"),
        "nothing is dropped while the peer is away:\n{stderr}"
    );

    // rsyslog is back on the same port: everything arrives, though no
    // sender sends anything more after the flood.
    peer = rsyslog_sink(port, &received);
    for t in flood {
        t.join().expect("sender");
    }
    let total = before + during;
    wait_until("rsyslog receiving every line", || {
        let got = per_sender(&lines_of(&received));
        (0..senders).all(|s| {
            got.get(&format!("s{s}"))
                .is_some_and(|v| v.iter().filter(|&&n| n == total - 1).count() > 0)
        })
    });
    assert_complete_in_order("rsyslog", &per_sender(&lines_of(&received)), senders, total);
    c.wait_stderr("the recovery reported", |e| e.contains("succeeds again"));
    // The file beside it has every line exactly once.
    let in_file = per_sender(&lines_of(&file));
    for s in 0..senders {
        let expected: Vec<usize> = (0..total).collect();
        assert_eq!(
            in_file.get(&format!("s{s}")),
            Some(&expected),
            "file, sender s{s}"
        );
    }
    drop(peer);
    let _: PathBuf = received;
}

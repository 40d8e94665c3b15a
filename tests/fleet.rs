//! A fleet on one machine: HAProxy (TCP mode, `send-proxy-v2`) in front of
//! three collectors on different loopback ports, all producing into one
//! Kafka topic (tansu, see `tests/broker`). RELP clients from four 127.0.0.x
//! addresses send over persistent sessions through the balancer; one
//! collector is stopped gracefully (SIGTERM) mid-run, and its clients
//! reconnect through HAProxy to the others and send again what was not
//! answered. Every line is in the topic at least once, keyed by its
//! client's own address (from the PROXY header), and the duplicates are at
//! most one window per broken session.
//!
//! The configuration mirrors `examples/fleet/`, whose files are checked here
//! too (`haproxy -c`, `pysyslog --check-config`).

mod broker;
mod util;

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::{read_topic, Broker};
use util::haproxy::{self, Haproxy};
use util::relp::{frame, read_frame, OFFERS};
use util::*;

const TOPIC: &str = "fleet";

/// Messages a client sends before waiting for answers (librdkafka's
/// default window for `omrelp` is 128 too).
const WINDOW: usize = 128;

/// The example's logging configuration with the test broker and topic.
fn logging_config(dir: &Path, broker: &Broker) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/logging.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&example).expect("example")).expect("JSON");
    let kafka = &mut json["handlers"]["kafka"];
    assert_eq!(kafka["class"], "pysyslog.handlers.KafkaHandler");
    kafka["bootstrap_servers"] = serde_json::json!([broker.bootstrap()]);
    kafka["topic"] = serde_json::json!(TOPIC);
    let path = dir.join("logging.json");
    fs::write(&path, json.to_string()).expect("config");
    path.display().to_string()
}

/// A collector with a RELP listener that takes PROXY headers from the
/// balancer (127.0.0.1); returns it and the RELP port.
fn collector(config: &str) -> (Collector, u16) {
    let port = free_port();
    let url = format!("relp://127.0.0.1:{port}");
    let c = Collector::start_on(
        "127.0.0.1",
        &[
            "--listen",
            &url,
            "--proxy-protocol-from",
            "127.0.0.1/32",
            "--logging-config",
            config,
        ],
        |c| c.stderr_text().matches("Listening for syslog").count() >= 2,
    );
    (c, port)
}

fn message(c: usize, n: u64) -> String {
    format!("<13>fleet c={c} n={n:07}")
}

/// What one client did.
#[derive(Debug, Default)]
struct Outcome {
    /// Sessions that ended before every message was answered.
    broken: u64,
}

/// A RELP client from `source` through the balancer at `front`: sends
/// `count` messages with a window of [`WINDOW`]; when a session breaks it
/// opens a new one and sends again, in order, what was not answered.
/// `answered` counts the messages answered so far (all clients together).
fn client(front: SocketAddr, source: &str, c: usize, count: u64, answered: &AtomicU64) -> Outcome {
    let mut out = Outcome::default();
    // Messages sent and not answered, oldest first.
    let mut unanswered: VecDeque<u64> = VecDeque::new();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    'session: loop {
        assert!(Instant::now() < deadline, "client {c}: no end");
        let Ok(mut s) = try_connect_from(source, front) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        s.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        if s.write_all(&frame(1, "open", OFFERS)).is_err()
            || !matches!(read_frame(&mut r), Some((1, cmd, data)) if cmd == "rsp" && data.starts_with("200 OK"))
        {
            // The balancer took the connection but its server is going.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut txnr = 2u32;
        // (txnr, n) in flight in this session.
        let mut inflight: VecDeque<(u32, u64)> = VecDeque::new();
        let mut pending: VecDeque<u64> = std::mem::take(&mut unanswered);
        loop {
            let mut buf = Vec::new();
            while inflight.len() < WINDOW {
                let n = match pending.pop_front() {
                    Some(n) => n,
                    None if next < count => {
                        next += 1;
                        next - 1
                    }
                    None => break,
                };
                buf.extend(frame(txnr, "syslog", &message(c, n)));
                inflight.push_back((txnr, n));
                txnr += 1;
            }
            if inflight.is_empty() {
                let _ = s.write_all(&frame(txnr, "close", ""));
                return out;
            }
            let answer = if s.write_all(&buf).is_ok() {
                read_frame(&mut r)
            } else {
                None
            };
            match answer {
                Some((t, cmd, data)) if cmd == "rsp" && data == "200 OK" => {
                    match inflight.pop_front() {
                        Some((expected, _)) if expected == t => {}
                        other => panic!("client {c}: answer {t}, expected {other:?}"),
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                // serverclose, EOF, a reset: send the rest again elsewhere.
                _ => {
                    out.broken += 1;
                    unanswered = inflight.into_iter().map(|(_, n)| n).collect();
                    unanswered.extend(pending);
                    continue 'session;
                }
            }
        }
    }
}

/// The balancer: one frontend, the collectors as servers with PROXY v2,
/// health-checked, a failed connection dispatched to another server.
fn balancer(front: u16, relp_ports: &[u16]) -> Haproxy {
    let mut cfg = String::from(haproxy::PREAMBLE);
    cfg.push_str(&format!(
        "frontend syslog\n    bind 127.0.0.1:{front}\n    default_backend collectors\n\n\
         backend collectors\n    balance roundrobin\n    option redispatch\n    retries 3\n"
    ));
    for (i, port) in relp_ports.iter().enumerate() {
        cfg.push_str(&format!(
            "    server c{i} 127.0.0.1:{port} send-proxy-v2 check check-send-proxy inter 200ms fall 1 rise 2\n"
        ));
    }
    Haproxy::start(&cfg, &[front])
}

#[test]
fn a_fleet_behind_haproxy_loses_nothing_when_one_collector_stops() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = logging_config(dir.path(), &broker);
    let mut fleet: Vec<(Collector, u16)> = (0..3).map(|_| collector(&config)).collect();
    let front = free_port();
    let ports: Vec<u16> = fleet.iter().map(|(_, p)| *p).collect();
    let _haproxy = balancer(front, &ports);
    let to = SocketAddr::from(([127, 0, 0, 1], front));

    let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    let per_client = 25_000;
    let total = per_client * sources.len() as u64;
    let answered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(c, &source)| {
            let answered = answered.clone();
            std::thread::spawn(move || client(to, source, c, per_client, &answered))
        })
        .collect();
    wait_until("a third of the lines to be answered", || {
        answered.load(Ordering::Relaxed) >= total / 3
    });
    let (stopped, _) = &mut fleet[0];
    signal(stopped.pid(), libc::SIGTERM);
    let status = stopped.wait_exit();
    assert!(status.success(), "{status}: {}", stopped.stderr_text());
    let broken: u64 = clients
        .into_iter()
        .map(|t| t.join().expect("client").broken)
        .sum();
    assert_eq!(answered.load(Ordering::Relaxed), total);

    let records = read_topic(&broker, TOPIC, total as usize, Duration::from_secs(240));
    let mut copies: HashMap<(usize, u64), u64> = HashMap::new();
    let mut bad = Vec::new();
    for r in records.values().flatten() {
        let text = r.text();
        let parsed = text
            .strip_prefix("<13>fleet c=")
            .and_then(|rest| rest.split_once(" n="))
            .and_then(|(c, n)| Some((c.parse::<usize>().ok()?, n.parse::<u64>().ok()?)));
        match parsed {
            Some((c, n)) if c < sources.len() && r.key.as_deref() == Some(sources[c]) => {
                *copies.entry((c, n)).or_default() += 1;
            }
            _ => bad.push(format!("{:?}: {text}", r.key)),
        }
    }
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(5)]);
    let missing = (0..sources.len())
        .flat_map(|c| (0..per_client).map(move |n| (c, n)))
        .filter(|k| !copies.contains_key(k))
        .count();
    assert_eq!(missing, 0, "lost lines");
    let duplicates: u64 = copies.values().map(|n| n - 1).sum();
    assert!(broken > 0, "no session went through the stopped collector");
    assert!(
        duplicates <= broken * WINDOW as u64,
        "{duplicates} duplicates for {broken} broken sessions"
    );
    eprintln!(
        "fleet: {total} lines, {broken} sessions broken, {duplicates} duplicates (bound {})",
        broken * WINDOW as u64
    );
    // Health checks and proxied sessions cost no collector an error.
    for (c, _) in &fleet {
        let errors: Vec<String> = c
            .stderr_text()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("PROXY"))
            .map(str::to_owned)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    for (c, _) in &fleet[1..] {
        assert!(alive(c.pid()));
    }
}

#[test]
fn the_fleet_example_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
    haproxy::check(&example.join("haproxy.cfg"));
    let out = Command::new(BIN)
        .arg("--check-config")
        .arg("--logging-config")
        .arg(example.join("logging.json"))
        .output()
        .expect("pysyslog");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

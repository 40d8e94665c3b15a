//! `pysyslog.handlers.KafkaHandler` end to end: the real binary producing
//! into a real Kafka-protocol broker (tansu, see `tests/broker`), the topic
//! read back with librdkafka's consumer. Lines arrive exactly once, keyed by
//! their source and in order; a paused broker slows the senders and loses
//! nothing; a killed writer loses nothing and duplicates at most what the
//! receiver's queue held; a record Kafka refuses is counted and warned about
//! while the rest flows; a stop and a reload deliver what was outstanding.

mod broker;
mod util;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use broker::{read_topic, Broker, Record};
use pysyslog::cli::{DEFAULT_MAX_QUEUE_BYTES_KAFKA, DEFAULT_MAX_QUEUE_LINES};
use util::*;

/// A logging configuration: every peer's line, as `%(message)s`, to
/// `topic` on `broker`, with `extra` (JSON members) added to the handler;
/// the collector's own messages on stderr.
fn config(dir: &Path, broker: &Broker, topic: &str, extra: &str) -> PathBuf {
    let path = dir.join("logging.json");
    let text = format!(
        r#"{{"version": 1,
          "formatters": {{"m": {{"format": "%(message)s"}},
                         "own": {{"format": "%(levelname)s:%(name)s:%(message)s"}}}},
          "handlers": {{
            "kafka": {{"class": "pysyslog.handlers.KafkaHandler",
                       "bootstrap_servers": ["{}"], "topic": "{topic}",
                       "formatter": "m"{extra}}},
            "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "own"}}}},
          "loggers": {{"pysyslog": {{"level": "INFO", "handlers": ["own"], "propagate": false}}}},
          "root": {{"level": "INFO", "handlers": ["kafka"]}}}}"#,
        broker.bootstrap()
    );
    fs::write(&path, text).expect("config");
    path
}

fn start(cfg: &Path, more: &[&str]) -> Collector {
    let mut args = vec!["--logging-config", cfg.to_str().expect("UTF-8 path")];
    args.extend_from_slice(more);
    Collector::start_on("127.0.0.1", &args, |c| {
        c.stderr_text().contains("Listening for syslog")
    })
}

/// Bytes of each flood line on the wire, newline included.
const LINE: usize = 100;

/// Line `n` of connection `c` of run `run`, `LINE` bytes with its newline.
fn line(run: &str, c: usize, n: u64) -> String {
    let head = format!("<14>kafka {run} c={c} n={n:09} ");
    format!("{head}{}\n", "x".repeat(LINE - 1 - head.len()))
}

/// (c, n) of a line of `run`, if it is one, whole.
fn parse(run: &str, text: &str) -> Option<(usize, u64)> {
    let rest = text.strip_prefix(&format!("<14>kafka {run} c="))?;
    let (c, rest) = rest.split_once(" n=")?;
    let (n, pad) = rest.split_once(' ')?;
    (text.len() == LINE - 1 && pad.bytes().all(|b| b == b'x'))
        .then(|| Some((c.parse().ok()?, n.parse().ok()?)))
        .flatten()
}

/// Senders on their own threads, one connection each, from the given
/// source addresses; each counts the lines it has written so far.
struct Senders {
    sources: Vec<&'static str>,
    per_conn: u64,
    sent: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Senders {
    fn start(to: SocketAddr, run: &str, sources: &[&'static str], per_conn: u64) -> Senders {
        let sent = Arc::new(AtomicU64::new(0));
        let threads = sources
            .iter()
            .enumerate()
            .map(|(c, &source)| {
                let (sent, run) = (sent.clone(), run.to_owned());
                std::thread::spawn(move || {
                    let mut s = connect_from(source, to);
                    let mut chunk = String::new();
                    let mut n = 0;
                    while n < per_conn {
                        chunk.clear();
                        let end = (n + 200).min(per_conn);
                        for i in n..end {
                            chunk.push_str(&line(&run, c, i));
                        }
                        s.write_all(chunk.as_bytes()).expect("send");
                        sent.fetch_add(end - n, Ordering::Relaxed);
                        n = end;
                    }
                })
            })
            .collect();
        Senders {
            sources: sources.to_vec(),
            per_conn,
            sent,
            threads,
        }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        self.per_conn * self.sources.len() as u64
    }

    fn join(self) {
        for t in self.threads {
            t.join().expect("sender");
        }
    }
}

/// What a topic holds of one run.
#[derive(Debug, Default)]
struct Tally {
    copies: HashMap<(usize, u64), u32>,
    /// Records that are not a line of the run, or under the wrong key.
    bad: Vec<String>,
    /// Lines of one connection after a later line of it, in one partition.
    out_of_order: Vec<String>,
    /// Connections whose lines went to more than one partition.
    split: Vec<usize>,
}

impl Tally {
    fn of(
        records: &std::collections::BTreeMap<i32, Vec<Record>>,
        run: &str,
        sources: &[&str],
    ) -> Tally {
        let mut t = Tally::default();
        let mut partition_of: HashMap<usize, i32> = HashMap::new();
        for (&p, list) in records {
            let mut last: HashMap<usize, u64> = HashMap::new();
            for r in list {
                let text = r.text();
                let Some((c, n)) = parse(run, &text) else {
                    t.bad.push(text.chars().take(100).collect());
                    continue;
                };
                if c >= sources.len() || r.key.as_deref() != Some(sources[c]) {
                    t.bad.push(format!("key {:?} for connection {c}", r.key));
                }
                if partition_of.entry(c).or_insert(p) != &p && !t.split.contains(&c) {
                    t.split.push(c);
                }
                if last.get(&c).is_some_and(|&prev| prev >= n) {
                    t.out_of_order
                        .push(format!("partition {p}: c={c} n={n} after {:?}", last[&c]));
                }
                last.insert(c, n);
                *t.copies.entry((c, n)).or_default() += 1;
            }
        }
        t
    }

    fn missing(&self, conns: usize, per_conn: u64) -> u64 {
        (0..conns)
            .flat_map(|c| (0..per_conn).map(move |n| (c, n)))
            .filter(|k| !self.copies.contains_key(k))
            .count() as u64
    }

    fn duplicates(&self) -> u64 {
        self.copies.values().map(|&n| u64::from(n - 1)).sum()
    }
}

/// Four connections from three source addresses.
const SOURCES: [&str; 4] = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"];

#[test]
fn lines_from_three_sources_arrive_once_each_keyed_by_source_and_in_order() {
    let broker = Broker::start();
    broker.create_topic("syslog", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = start(&config(dir.path(), &broker, "syslog", ""), &[]);
    let senders = Senders::start(c.addr(), "once", &SOURCES, 50_000);
    let total = senders.total();
    senders.join();
    let records = read_topic(&broker, "syslog", total as usize, Duration::from_secs(180));
    let t = Tally::of(&records, "once", &SOURCES);
    assert!(t.bad.is_empty(), "{:?}", &t.bad[..t.bad.len().min(5)]);
    assert_eq!(t.missing(SOURCES.len(), 50_000), 0, "lost lines");
    assert_eq!(t.duplicates(), 0, "duplicated lines");
    // Keyed by source: one source's lines share a partition, so each
    // connection's lines are in order within it.
    assert!(
        t.split.is_empty(),
        "connections split over partitions: {:?}",
        t.split
    );
    assert!(
        t.out_of_order.is_empty(),
        "{:?}",
        &t.out_of_order[..t.out_of_order.len().min(5)]
    );
    // Three keys over three partitions: more than one partition is used.
    assert!(records.len() > 1, "every source in one partition");
    c.stop();
    let diags: Vec<String> = diagnostics(&c.stderr_text())
        .into_iter()
        .filter(|l| !l.contains("Listening for syslog") && !l.starts_with("INFO:"))
        .collect();
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn a_paused_broker_slows_the_senders_and_loses_nothing() {
    let mut broker = Broker::start();
    broker.create_topic("syslog", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    // A small producer buffer (1 MiB) so the pause reaches the senders
    // soon; the kernel's socket buffers hold the rest.
    let cfg = config(
        dir.path(),
        &broker,
        "syslog",
        r#", "properties": {"queue.buffering.max.kbytes": 1024}"#,
    );
    let c = start(&cfg, &[]);
    let per_conn = 150_000;
    let senders = Senders::start(c.addr(), "pause", &SOURCES, per_conn);
    wait_until("the senders to start", || senders.sent() >= 40_000);
    broker.pause();
    let paused = Instant::now();
    // The senders stop: nothing more is taken from them while Kafka
    // acknowledges nothing (the count stays the same for a second).
    let mut before = senders.sent();
    let mut stalled_at = None;
    while paused.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_secs(1));
        let now = senders.sent();
        if now == before && now < senders.total() {
            stalled_at = Some(now);
            break;
        }
        before = now;
    }
    let stalled_at =
        stalled_at.expect("the senders were never held back while the broker was paused");
    c.wait_stderr("the outage notice", |e| {
        e.contains("handler 'kafka': Kafka has acknowledged nothing for 5 s")
    });
    while paused.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        senders.sent(),
        stalled_at,
        "a sender moved while the broker was paused"
    );
    broker.resume();
    let total = senders.total();
    senders.join();
    c.wait_stderr("the recovery notice", |e| {
        e.contains("handler 'kafka': Kafka acknowledges records again, after ")
    });
    let records = read_topic(&broker, "syslog", total as usize, Duration::from_secs(240));
    let t = Tally::of(&records, "pause", &SOURCES);
    assert!(t.bad.is_empty(), "{:?}", &t.bad[..t.bad.len().min(5)]);
    assert_eq!(t.missing(SOURCES.len(), per_conn), 0, "lost lines");
    assert_eq!(t.duplicates(), 0, "duplicated lines");
    let outage = c
        .stderr_text()
        .lines()
        .filter(|l| l.contains("Kafka has acknowledged nothing"))
        .count();
    assert_eq!(outage, 1, "the outage is told once: {}", c.stderr_text());
}

/// With `--spool-dir` the handler writes ahead to its disk backlog: a
/// paused broker fills the backlog, not the senders' path. The senders
/// finish while the broker is paused, and once it resumes every line
/// arrives once, in order per connection.
#[test]
fn a_paused_broker_with_a_backlog_keeps_the_senders_going_and_loses_nothing() {
    let mut broker = Broker::start();
    broker.create_topic("syslog", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        dir.path(),
        &broker,
        "syslog",
        r#", "properties": {"queue.buffering.max.kbytes": 1024}"#,
    );
    let spool = dir.path().join("spool");
    let metrics = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let c = start(
        &cfg,
        &[
            "--spool-dir",
            spool.to_str().expect("UTF-8 path"),
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let per_conn = 150_000;
    let senders = Senders::start(c.addr(), "spool", &SOURCES, per_conn);
    wait_until("the senders to start", || senders.sent() >= 40_000);
    broker.pause();
    // 60 MB, more than every buffer on the way: the senders can only
    // finish if nothing waits for the broker.
    let total = senders.total();
    senders.join();
    let backlog = |scrape: &str| {
        sample(scrape, "pysyslog_handler_spool_records{handler=\"kafka\"}").unwrap_or(0.0)
    };
    wait_until("the backlog holding what the broker did not take", || {
        backlog(&scrape(metrics)) > 0.0
    });
    c.wait_stderr("the outage notice", |e| {
        e.contains("handler 'kafka': Kafka has acknowledged nothing for 5 s")
    });
    broker.resume();
    let records = read_topic(&broker, "syslog", total as usize, Duration::from_secs(240));
    let t = Tally::of(&records, "spool", &SOURCES);
    assert!(t.bad.is_empty(), "{:?}", &t.bad[..t.bad.len().min(5)]);
    assert!(
        t.out_of_order.is_empty(),
        "{:?}",
        &t.out_of_order[..t.out_of_order.len().min(5)]
    );
    assert_eq!(t.missing(SOURCES.len(), per_conn), 0, "lost lines");
    assert_eq!(t.duplicates(), 0, "duplicated lines");
    wait_until("the backlog delivered", || backlog(&scrape(metrics)) == 0.0);
}

#[test]
fn a_writer_killed_mid_flood_loses_nothing_and_duplicates_within_the_bound() {
    let broker = Broker::start();
    broker.create_topic("syslog", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(&config(dir.path(), &broker, "syslog", ""), &[]);
    let per_conn = 50_000;
    let senders = Senders::start(c.addr(), "kill", &SOURCES, per_conn);
    wait_until("the flood to be under way", || senders.sent() >= 60_000);
    let writer = c.writer_pid().expect("writer");
    signal(writer, libc::SIGKILL);
    c.wait_new_writer(writer);
    let total = senders.total();
    senders.join();
    let records = read_topic(&broker, "syslog", total as usize, Duration::from_secs(180));
    let t = Tally::of(&records, "kill", &SOURCES);
    assert!(t.bad.is_empty(), "{:?}", &t.bad[..t.bad.len().min(5)]);
    assert_eq!(t.missing(SOURCES.len(), per_conn), 0, "lost lines");
    // What the dead writer had not acknowledged is produced again: at most
    // the receiver's queue (its default bounds with a KafkaHandler:
    // --max-queue-bytes of batches plus one read, and --max-queue-size).
    let bound = ((DEFAULT_MAX_QUEUE_BYTES_KAFKA + 128 * 1024) / LINE).min(DEFAULT_MAX_QUEUE_LINES);
    assert!(
        t.duplicates() <= bound as u64,
        "{} duplicates, bound {bound}",
        t.duplicates()
    );
}

#[test]
fn a_record_kafka_refuses_is_counted_and_warned_about_and_the_rest_flows() {
    let broker = Broker::start();
    broker.create_topic("syslog", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    // librdkafka's smallest record limit: 1000 bytes.
    let cfg = config(
        dir.path(),
        &broker,
        "syslog",
        r#", "properties": {"message.max.bytes": 1000}"#,
    );
    let metrics = free_port();
    let metrics_url = format!("127.0.0.1:{metrics}");
    let c = start(&cfg, &["--metrics-listen", &metrics_url]);
    let big = format!("big {}\n", "y".repeat(3000));
    send_from(
        "127.0.0.2",
        c.addr(),
        format!("before\n{big}after\n").as_bytes(),
    );
    let records = read_topic(&broker, "syslog", 2, Duration::from_secs(60));
    let values: Vec<String> = records.values().flatten().map(Record::text).collect();
    assert_eq!(values, ["before", "after"]);
    c.wait_stderr("the warning", |e| {
        e.lines().any(|l| {
            l.starts_with("pysyslog: handler 'kafka': record dropped: Kafka refused the record")
                && l.contains("too large")
        })
    });
    let dropped = "pysyslog_handler_records_dropped_total{handler=\"kafka\"} 1";
    wait_until("the drop to be counted", || {
        scrape(metrics).lines().any(|l| l == dropped)
    });
}

/// The metrics page, as Prometheus would read it.
fn scrape(port: u16) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// Send `count` numbered lines of `run` from 127.0.0.2 on one connection.
fn send_run(c: &Collector, run: &str, count: u64) {
    let mut s = connect_from("127.0.0.2", c.addr());
    for n in 0..count {
        s.write_all(line(run, 0, n).as_bytes()).expect("send");
    }
}

/// Wait until the outage notice says `count` records wait: they are all in
/// the producer, none acknowledged.
fn wait_outage_with(c: &Collector, count: u64) {
    let needle = format!("while {count} records wait");
    c.wait_stderr("the outage notice", |e| e.contains(&needle));
}

#[test]
fn sigterm_delivers_what_kafka_had_not_acknowledged_before_the_collector_exits() {
    let mut broker = Broker::start();
    broker.create_topic("syslog", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = start(&config(dir.path(), &broker, "syslog", ""), &[]);
    broker.pause();
    send_run(&c, "term", 1000);
    wait_outage_with(&c, 1000);
    signal(c.pid(), libc::SIGTERM);
    // The collector waits for Kafka (within its stop timeout) ...
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        alive(c.pid()),
        "exited before Kafka acknowledged: {}",
        c.stderr_text()
    );
    broker.resume();
    let status = c.wait_exit();
    assert!(status.success(), "{status}: {}", c.stderr_text());
    // ... and everything is in the topic once.
    let records = read_topic(&broker, "syslog", 1000, Duration::from_secs(60));
    let t = Tally::of(&records, "term", &["127.0.0.2"]);
    assert!(t.bad.is_empty(), "{:?}", t.bad);
    assert_eq!((t.missing(1, 1000), t.duplicates()), (0, 0));
}

/// A reload while the broker is paused: the old configuration's records are
/// all delivered to its topic before the new one takes over, and the new
/// one's go to its own; `extra` is added to the old KafkaHandler.
fn reload_while_paused(extra: &str) -> (Tally, Tally) {
    let mut broker = Broker::start();
    broker.create_topic("old", 1);
    broker.create_topic("new", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &broker, "old", extra);
    let c = start(&cfg, &[]);
    broker.pause();
    send_run(&c, "before", 500);
    wait_outage_with(&c, 500);
    config(dir.path(), &broker, "new", "");
    signal(c.pid(), libc::SIGHUP);
    // Long enough for deliveries with a short timeout to time out while
    // the reload waits for them.
    std::thread::sleep(Duration::from_secs(3));
    broker.resume();
    c.wait_stderr("the reload", |e| {
        e.contains("logging configuration reloaded")
    });
    send_run(&c, "after", 500);
    let old = Tally::of(
        &read_topic(&broker, "old", 500, Duration::from_secs(60)),
        "before",
        &["127.0.0.2"],
    );
    let new = Tally::of(
        &read_topic(&broker, "new", 500, Duration::from_secs(60)),
        "after",
        &["127.0.0.2"],
    );
    assert!(
        old.bad.is_empty() && new.bad.is_empty(),
        "{:?} {:?}",
        old.bad,
        new.bad
    );
    (old, new)
}

#[test]
fn a_reload_delivers_the_old_configurations_records_before_the_new_one_takes_over() {
    let (old, new) = reload_while_paused("");
    assert_eq!((old.missing(1, 500), old.duplicates()), (0, 0));
    assert_eq!((new.missing(1, 500), new.duplicates()), (0, 0));
}

#[test]
fn records_that_time_out_during_a_reload_are_produced_again_and_delivered() {
    // Deliveries time out after 1 s (the default never does): they are
    // produced again while the reload waits, and the collector goes on
    // acknowledging once the broker is back.
    let (old, new) = reload_while_paused(r#", "properties": {"message.timeout.ms": 1000}"#);
    assert_eq!(old.missing(1, 500), 0, "lost lines");
    assert_eq!((new.missing(1, 500), new.duplicates()), (0, 0));
}

#[test]
fn a_property_librdkafka_does_not_know_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("logging.json");
    fs::write(
        &cfg,
        r#"{"version": 1,
            "handlers": {"k": {"class": "pysyslog.handlers.KafkaHandler",
                               "bootstrap_servers": "127.0.0.1:9",
                               "topic": "t", "properties": {"no.such.property": "1"}}},
            "root": {"handlers": ["k"]}}"#,
    )
    .expect("config");
    let out = Command::new(BIN)
        .args(["127.0.0.1", &free_port().to_string(), "--logging-config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .expect("run pysyslog");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {err}");
    assert!(
        err.contains("handler 'k'") && err.contains("no.such.property"),
        "{err}"
    );
}

/// The shipped example `examples/kafka/json.json`: JSON lines (the
/// python-json-logger formatter) to Kafka, with the syslog attributes.
#[test]
fn the_json_lines_example_produces_one_json_object_per_line() {
    let broker = Broker::start();
    broker.create_topic("syslog-json", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let example =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kafka/json.json"))
            .expect("example");
    let cfg = dir.path().join("logging.json");
    fs::write(&cfg, example.replace("127.0.0.1:9092", &broker.bootstrap())).expect("config");
    let mut c = start(&cfg, &["--parse-syslog", "--level-from-severity"]);
    let lines = [
        "<11>1 2026-12-07T21:36:51Z web1 nginx 42 - [req@1 id=\"7\"] GET / \"quoted\" \\ back",
        "<30>Dec  7 21:36:51 db1 postgres[9]: checkpoint",
    ];
    c.send(format!("{}\n{}\n", lines[0], lines[1]).as_bytes());
    let records = read_topic(&broker, "syslog-json", 2, Duration::from_secs(60));
    let objects: Vec<serde_json::Value> = records
        .values()
        .flatten()
        .map(|r| serde_json::from_slice(&r.value).expect("each record is one JSON object"))
        .collect();
    assert_eq!(objects.len(), 2);
    let first = &objects[0];
    assert_eq!(first["message"], lines[0]);
    assert_eq!(first["levelname"], "ERROR");
    assert_eq!(first["collector"], "pysyslog");
    assert_eq!(first["hostname"], "web1");
    assert_eq!(first["appname"], "nginx");
    assert_eq!(first["pri"], 11);
    assert_eq!(first["structured_data"]["req@1"]["id"], "7");
    assert_eq!(first["syslog_message"], "GET / \"quoted\" \\ back");
    assert!(first["@timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with("+00:00")));
    let second = &objects[1];
    assert_eq!(
        (
            second["hostname"].as_str(),
            second["procid"].as_str(),
            second["severity"].as_str()
        ),
        (Some("db1"), Some("9"), Some("info"))
    );
    c.stop();
}

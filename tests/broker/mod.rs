//! A real Kafka-protocol broker for the tests, and a real consumer to read a
//! topic back.
//!
//! The broker is tansu (crates.io), built by `tests/peers/tansu.sh`, which
//! `tests/run` runs and whose binary it names in `PYSYSLOG_TANSU`. Each
//! `Broker` runs one in the foreground on a free loopback port with in-memory
//! storage, its output in a temporary directory; dropping it stops it by PID
//! (resumed first if the test paused it). The consumer is librdkafka's, through
//! `rdkafka` (the product's own client library), assigned every partition
//! from the beginning, without a consumer group.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::util::{free_port, signal, wait_until, PATIENCE};

/// The tansu binary: `PYSYSLOG_TANSU`, else what `tests/peers/tansu.sh
/// --check` finds in its cache. Missing, the test fails (tests/run builds it).
pub fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("PYSYSLOG_TANSU") {
        return PathBuf::from(path);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tansu.sh");
    let out = Command::new(script)
        .arg("--check")
        .output()
        .expect("run tests/peers/tansu.sh");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success(),
        "tansu is not built ({}): run tests/run, or tests/peers/tansu.sh, which builds it",
        path.display()
    );
    path
}

pub struct Broker {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    paused: bool,
}

impl Broker {
    /// A broker on a free loopback port, accepting connections.
    pub fn start() -> Broker {
        let bin = tansu();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let log = fs::File::create(dir.path().join("tansu.log")).expect("log file");
            let child = Command::new(&bin)
                .arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .args(["--cluster-id", "pysyslog-tests"])
                // Its own configuration only: none of the broker's
                // environment variables (CLUSTER_ID, LISTENER_URL, ...)
                // from the caller's environment.
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("RUST_LOG", "warn")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start tansu");
            let mut b = Broker {
                child,
                port,
                dir,
                paused: false,
            };
            let deadline = Instant::now() + PATIENCE;
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return b;
                }
                if let Ok(Some(status)) = b.child.try_wait() {
                    let log = b.log();
                    if log.contains("in use") {
                        break; // lost the race for the port: try another
                    }
                    panic!("tansu exited at start-up ({status}): {log}");
                }
                assert!(
                    Instant::now() < deadline,
                    "tansu did not listen: {}",
                    b.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("tansu could not bind a free port in 5 attempts");
    }

    /// `host:port`, for `bootstrap_servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }

    /// Create `topic` with `partitions` partitions, with tansu's own client.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let broker = format!("tcp://127.0.0.1:{}", self.port);
        let mut last = String::new();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let out = Command::new(tansu())
                .args(["topic", "create", topic, "--partitions"])
                .arg(partitions.to_string())
                .args(["--broker", &broker])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .output()
                .expect("run tansu topic create");
            if out.status.success() {
                wait_until("the topic to be listed", || {
                    self.partitions(topic) == partitions as usize
                });
                return;
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("tansu topic create {topic}: {last}\nbroker: {}", self.log());
    }

    /// The partitions of `topic` the broker's metadata lists.
    pub fn partitions(&self, topic: &str) -> usize {
        let consumer = consumer(&self.bootstrap());
        consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| {
                m.topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len())
            })
            .unwrap_or(0)
    }

    /// Stop the broker's process where it stands (SIGSTOP): connections
    /// stay open and nothing is answered.
    pub fn pause(&mut self) {
        signal(self.pid(), libc::SIGSTOP);
        self.paused = true;
    }

    pub fn resume(&mut self) {
        signal(self.pid(), libc::SIGCONT);
        self.paused = false;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.paused {
            signal(self.pid(), libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "pysyslog-tests-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("broker.address.family", "v4")
        .create()
        .expect("create a consumer")
}

/// One record of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Vec<u8>,
}

impl Record {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}

/// How long a topic stays quiet after the last record before it is taken
/// to be all there (records beyond the expected number are duplicates).
const QUIET: Duration = Duration::from_secs(2);

/// Every record of `topic`, per partition in offset order: read until at
/// least `expect` records have arrived and then nothing more for [`QUIET`].
/// `patience` bounds the whole read.
pub fn read_topic(
    broker: &Broker,
    topic: &str,
    expect: usize,
    patience: Duration,
) -> BTreeMap<i32, Vec<Record>> {
    let consumer = consumer(&broker.bootstrap());
    let partitions = broker.partitions(topic);
    assert!(partitions > 0, "topic {topic} has no partitions");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p as i32, Offset::Beginning)
            .expect("partition offset");
    }
    consumer.assign(&list).expect("assign");
    let mut out: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + patience;
    let mut last = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                count += 1;
                last = Instant::now();
                out.entry(m.partition()).or_default().push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: m.payload().unwrap_or_default().to_vec(),
                });
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        if count >= expect && last.elapsed() >= QUIET {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "read {count} of {expect} records of {topic} in {patience:?}"
        );
    }
}

//! bench-peers' `kafka` scenario: lines/s from 4 connections into a Kafka
//! broker through a collector, every line counted by reading the topic back,
//! against the ceiling of the same broker on this machine (a librdkafka
//! producer writing the same lines straight to it) and rsyslog's `omkafka`.
//!
//! The broker is tansu (`tests/peers/tansu.sh` builds it), on a free loopback
//! port with in-memory storage, one fresh broker per run, stopped by PID. A
//! consumer (librdkafka, assigned every partition from the beginning) runs
//! beside each run and notes when the last distinct line arrived: lines/s is
//! lines over the time from the first line sent to that moment. Lost and
//! duplicated lines are what the consumer did not, or more than once, see.
//! One run of ours pauses the broker (SIGSTOP) for a while mid-flood.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::procstat;
use super::{free_port, run_dir, say, Env, LINE_SIZE};
use crate::flood::payload::{Framing, LineFormat};
use crate::flood::verify::Verifier;

/// Who produces into the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Our collector with a KafkaHandler.
    Ours,
    /// Our collector, with the broker paused mid-flood.
    OursPaused,
    /// rsyslog with imtcp and omkafka.
    Omkafka,
    /// A librdkafka producer in this process: the broker's ceiling.
    Direct,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::OursPaused => "ours, broker paused",
            Side::Omkafka => "rsyslog omkafka",
            Side::Direct => "librdkafka producer (ceiling)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct KafkaPlan {
    pub runs: usize,
    pub lines: u64,
    pub connections: u32,
    /// How long the paused run stops the broker.
    pub pause: Duration,
    /// The tansu binary.
    pub tansu: PathBuf,
    pub omkafka: bool,
    /// Our collector's `--max-queue-bytes` (None: its default).
    pub max_queue_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaSample {
    pub lines: u64,
    pub seconds: f64,
    pub lines_per_sec: f64,
    pub cpu_us_per_line: f64,
    pub lost: u64,
    pub duplicated: u64,
}

#[derive(Debug, Default)]
pub struct KafkaResults {
    pub samples: Vec<(Side, Vec<KafkaSample>)>,
    /// Sides that could not run, and why.
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

impl KafkaResults {
    fn push(&mut self, side: Side, s: KafkaSample) {
        match self.samples.iter_mut().find(|(k, _)| *k == side) {
            Some((_, v)) => v.push(s),
            None => self.samples.push((side, vec![s])),
        }
    }

    /// Lines lost or duplicated by our collector (a run of omkafka that
    /// could not talk to the broker is a note, not a loss of ours).
    pub fn losses(&self) -> u64 {
        self.samples
            .iter()
            .filter(|(k, _)| matches!(k, Side::Ours | Side::OursPaused))
            .flat_map(|(_, v)| v)
            .map(|s| s.lost + s.duplicated)
            .sum()
    }
}

/// A tansu broker for one run.
struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    fn start(tansu: &Path, dir: &Path) -> Result<Broker, String> {
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let log = fs::File::create(dir.join("tansu.log")).map_err(|e| e.to_string())?;
        let child = Command::new(tansu)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--cluster-id", "bench-peers"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", tansu.display()))?;
        let mut b = Broker {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || matches!(b.child.try_wait(), Ok(Some(_))) {
                return Err(format!("tansu did not listen: {}", b.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = Command::new(tansu)
            .args([
                "topic",
                "create",
                "bench",
                "--partitions",
                "3",
                "--broker",
                &url,
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "tansu topic create: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(b)
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the broker this run started (resumed first, in
        // case the run paused it).
        unsafe { libc::kill(self.pid(), libc::SIGCONT) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the topic from the beginning on its own thread and notes when the
/// last of the expected distinct lines arrived; it ends once they all have
/// and the topic was quiet for 2 s after (duplicates arrive meanwhile), or
/// at its deadline.
struct Reader {
    thread: std::thread::JoinHandle<Result<(Verifier, Option<Instant>), String>>,
}

impl Reader {
    fn start(
        bootstrap: String,
        run_id: &str,
        connections: u32,
        per_conn: u64,
        patience: Duration,
    ) -> Result<Reader, String> {
        let mut verifier =
            Verifier::new(run_id, connections, per_conn).map_err(|e| e.to_string())?;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "bench-peers")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| format!("consumer: {e}"))?;
        let mut list = TopicPartitionList::new();
        for p in 0..3 {
            list.add_partition_offset("bench", p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&list).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + patience;
        let thread = std::thread::spawn(move || {
            let mut complete_at = None;
            let mut last = Instant::now();
            loop {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        verifier.feed(m.payload().unwrap_or_default());
                        verifier.feed(b"\n");
                        last = Instant::now();
                        if complete_at.is_none() && verifier.complete() {
                            complete_at = Some(last);
                        }
                    }
                    Some(Err(e)) => return Err(format!("reading the topic: {e}")),
                    None => {}
                }
                let quiet = last.elapsed() >= Duration::from_secs(2);
                // Nothing for a minute (well beyond a paused broker's
                // pause): nothing more is coming.
                let stuck = last.elapsed() >= Duration::from_secs(60);
                if (complete_at.is_some() && quiet) || stuck || Instant::now() > deadline {
                    return Ok((verifier, complete_at));
                }
            }
        });
        Ok(Reader { thread })
    }

    fn finish(self) -> Result<(Verifier, Option<Instant>), String> {
        self.thread
            .join()
            .map_err(|_| "the reader panicked".to_owned())?
    }
}

fn logging_config(bootstrap: &str) -> String {
    format!(
        r#"{{"version": 1,
  "formatters": {{"m": {{"format": "%(message)s"}}}},
  "handlers": {{"kafka": {{"class": "pysyslog.handlers.KafkaHandler",
    "bootstrap_servers": ["{bootstrap}"], "topic": "bench", "formatter": "m"}},
    "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}}},
  "loggers": {{"pysyslog": {{"level": "INFO", "handlers": ["own"], "propagate": false}}}},
  "root": {{"level": "INFO", "handlers": ["kafka"]}}}}"#
    )
}

fn omkafka_config(dir: &Path, port: u16, bootstrap: &str) -> String {
    format!(
        "global(workDirectory=\"{}\" net.enableDNS=\"off\" maxMessageSize=\"64k\")\n\
         module(load=\"imtcp\")\nmodule(load=\"omkafka\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\")\n\
         input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
         action(type=\"omkafka\" broker=[\"{bootstrap}\"] topic=\"bench\" template=\"raw\"\n\
                confParam=[\"acks=all\"] queue.type=\"LinkedList\" queue.size=\"200000\")\n",
        dir.display()
    )
}

/// A started collector: its process and its output.
struct Started {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Started {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the collector this run started.
        unsafe { libc::kill(i32::try_from(self.child.id()).unwrap_or(0), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_collector(
    env: &Env,
    side: Side,
    dir: &Path,
    bootstrap: &str,
    max_queue_bytes: Option<usize>,
) -> Result<Started, String> {
    let port = free_port()?;
    let log = dir.join("collector.log");
    let out = fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = if side == Side::Omkafka {
        let module = env.rsyslog_modules().join("omkafka.so");
        if !module.is_file() {
            return Err(format!(
                "{} is missing (tests/peers/install.sh unpacks rsyslog-kafka)",
                module.display()
            ));
        }
        let conf = dir.join("rsyslog.conf");
        fs::write(&conf, omkafka_config(dir, port, bootstrap)).map_err(|e| e.to_string())?;
        super::collector::rsyslogd_foreground(&env.rsyslogd(), &env.rsyslog_modules(), &conf, dir)
    } else {
        let conf = dir.join("logging.json");
        fs::write(&conf, logging_config(bootstrap)).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(env.bin_dir.join("pysyslog"));
        cmd.arg("127.0.0.1")
            .arg(port.to_string())
            .arg("--logging-config")
            .arg(&conf);
        if let Some(b) = max_queue_bytes {
            cmd.arg("--max-queue-bytes").arg(b.to_string());
        }
        cmd
    };
    let child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", side.name()))?;
    let mut s = Started { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !super::collector::listening(port) {
        if Instant::now() > deadline || matches!(s.child.try_wait(), Ok(Some(_))) {
            return Err(format!("{} did not start: {}", side.name(), s.log_text()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(s)
}

/// One run of `side`.
pub fn measure(env: &Env, side: Side, plan: &KafkaPlan) -> Result<KafkaSample, String> {
    let dir = run_dir(env, "kafka")?;
    let result = measure_in(env, side, plan, &dir);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn measure_in(env: &Env, side: Side, plan: &KafkaPlan, dir: &Path) -> Result<KafkaSample, String> {
    let broker = Broker::start(&plan.tansu, dir)?;
    let bootstrap = broker.bootstrap();
    let per_conn = (plan.lines / u64::from(plan.connections)).max(1);
    let lines = per_conn * u64::from(plan.connections);
    let run_id = crate::flood::default_run_id();
    // Patience for the last line: generous, a paused broker adds its pause.
    let timeout = Duration::from_secs(300) + plan.pause;
    let reader = Reader::start(
        bootstrap.clone(),
        &run_id,
        plan.connections,
        per_conn,
        timeout,
    )?;
    let (started, at, cpu, verifier, log) = if side == Side::Direct {
        let started = Instant::now();
        produce_direct(&bootstrap, &run_id, plan.connections, per_conn)?;
        let (verifier, at) = reader.finish()?;
        // This process also runs the reader: its CPU is not the producer's.
        (started, at, None, verifier, String::new())
    } else {
        let c = start_collector(env, side, dir, &bootstrap, plan.max_queue_bytes)?;
        let pid = i32::try_from(c.child.id()).unwrap_or(0);
        let before = procstat::CpuSnapshot::of_tree(pid);
        let started = Instant::now();
        let sc = super::Scenario {
            connections: plan.connections,
            tls: false,
        };
        let running = super::flood(env, c.port, sc, per_conn, None, None)
            .args(["--run-id", &run_id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("pysyslog-flood: {e}"))?;
        if side == Side::OursPaused {
            std::thread::sleep(Duration::from_millis(500));
            // SAFETY: kill(2) on the broker this run started.
            unsafe { libc::kill(broker.pid(), libc::SIGSTOP) };
            std::thread::sleep(plan.pause);
            // SAFETY: as above.
            unsafe { libc::kill(broker.pid(), libc::SIGCONT) };
        }
        let out = running
            .wait_with_output()
            .map_err(|e| format!("pysyslog-flood: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pysyslog-flood failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let (verifier, at) = reader.finish()?;
        let cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
        (started, at, Some(cpu), verifier, c.log_text())
    };
    let seconds = at.map(|t| t.duration_since(started).as_secs_f64());
    let tally = verifier.tally();
    let Some(seconds) = seconds else {
        return Err(format!(
            "{} of {lines} lines reached the topic{}",
            tally.received,
            if log.trim().is_empty() {
                String::new()
            } else {
                format!("; the collector said:\n{}", tail(&log, 20))
            }
        ));
    };
    Ok(KafkaSample {
        lines,
        seconds,
        lines_per_sec: tally.received as f64 / seconds,
        cpu_us_per_line: cpu.map_or(f64::NAN, |c| {
            c.as_secs_f64() * 1e6 / (tally.received.max(1)) as f64
        }),
        lost: tally.lost,
        duplicated: tally.duplicated,
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The same lines, produced straight to the broker by one librdkafka
/// producer with our handler's delivery settings, keyed as ours keys them.
fn produce_direct(
    bootstrap: &str,
    run_id: &str,
    connections: u32,
    per_conn: u64,
) -> Result<(), String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "0")
        .set("queue.buffering.max.kbytes", "65536")
        .set("queue.buffering.max.messages", "10000000")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let format = LineFormat::new(run_id, LINE_SIZE, Framing::Lf).map_err(|e| e.to_string())?;
    let mut line = vec![0u8; format.size()];
    for n in 0..per_conn {
        for c in 0..connections {
            format.write_line(c, n, &mut line);
            let value = &line[..line.len() - 1];
            loop {
                match producer.send(
                    BaseRecord::<[u8], [u8]>::to("bench")
                        .key(b"127.0.0.1")
                        .payload(value),
                ) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        _,
                    )) => {
                        producer.poll(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(format!("produce: {e}")),
                }
            }
        }
        if n % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| format!("flush: {e}"))
}

/// Every side, `runs` times, interleaved; one paused run of ours.
pub fn run(env: &Env, plan: &KafkaPlan) -> KafkaResults {
    let mut r = KafkaResults::default();
    let mut sides = vec![Side::Ours, Side::Direct];
    if plan.omkafka {
        sides.push(Side::Omkafka);
    }
    for run in 1..=plan.runs {
        for &side in &sides {
            if r.notes.iter().any(|n| n.starts_with(side.name())) {
                continue;
            }
            match measure(env, side, plan) {
                Ok(s) => {
                    say(&format!(
                        "kafka | {} | run {run}/{}: {:.0} lines/s, lost {}, dup {}",
                        side.name(),
                        plan.runs,
                        s.lines_per_sec,
                        s.lost,
                        s.duplicated
                    ));
                    r.push(side, s);
                }
                // omkafka's librdkafka may not talk to the test broker at
                // all: that is a finding about it, not a failed run.
                Err(e) if side == Side::Omkafka => {
                    say(&format!("kafka | {}: {e}", side.name()));
                    // What rsyslog said about Kafka, if anything.
                    let said = e
                        .lines()
                        .rfind(|l| l.contains("kafka") || l.contains("Kafka"))
                        .map(|l| format!(" (rsyslog: {})", l.trim()))
                        .unwrap_or_default();
                    r.notes
                        .push(format!("{}: {}{said}", side.name(), first_line(&e)));
                }
                Err(e) => {
                    let e = format!("kafka | {} | run {run}: {e}", side.name());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    match measure(env, Side::OursPaused, plan) {
        Ok(s) => {
            say(&format!(
                "kafka | {} for {} s: {:.0} lines/s, lost {}, dup {}",
                Side::OursPaused.name(),
                plan.pause.as_secs(),
                s.lines_per_sec,
                s.lost,
                s.duplicated
            ));
            r.push(Side::OursPaused, s);
        }
        Err(e) => r
            .errors
            .push(format!("kafka | {}: {e}", Side::OursPaused.name())),
    }
    r
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// The Markdown table, medians over the runs, and the target.
pub fn report(plan: &KafkaPlan, r: &KafkaResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#### Kafka: {} lines of {LINE_SIZE} bytes from {} connections into tansu (in memory, 3 partitions), read back",
        plan.lines, plan.connections
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| producer | lines/s | collector CPU µs/line | lost | duplicated | runs |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let median = |v: &[KafkaSample], f: fn(&KafkaSample) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(f64::total_cmp);
        x.get(x.len() / 2).copied().unwrap_or(f64::NAN)
    };
    for (side, v) in &r.samples {
        let label = if *side == Side::OursPaused {
            format!("{} for {} s", side.name(), plan.pause.as_secs())
        } else {
            side.name().to_owned()
        };
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {} | {} | {} | {} |",
            median(v, |s| s.lines_per_sec),
            match median(v, |s| s.cpu_us_per_line) {
                c if c.is_nan() => "—".to_owned(),
                c => format!("{c:.2}"),
            },
            v.iter().map(|s| s.lost).sum::<u64>(),
            v.iter().map(|s| s.duplicated).sum::<u64>(),
            v.len()
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "\n{n}");
    }
    let rate = |side| {
        r.samples
            .iter()
            .find(|(k, _)| *k == side)
            .map(|(_, v)| median(v, |s| s.lines_per_sec))
    };
    if let (Some(ours), Some(direct)) = (rate(Side::Ours), rate(Side::Direct)) {
        let ratio = ours / direct;
        let _ = writeln!(
            out,
            "\nTarget: ours at least 0.7 of the direct producer: {ratio:.2} ({}); 0 lost in every run: {}",
            if ratio >= 0.7 { "holds" } else { "missed" },
            if r.losses() == 0 { "holds" } else { "missed" }
        );
    }
    out
}

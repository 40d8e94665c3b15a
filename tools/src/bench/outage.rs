//! bench-peers' `outage` scenario (`--outage-runs N`, off by default): 4
//! plain TCP connections flood a collector that writes every line to a local
//! file and forwards every line over TCP to a target, and the target goes
//! away for `--outage-seconds` shortly after the flood begins, then comes
//! back on the same port.
//!
//! - ours: a dictConfig with a `FileHandler` and a `SysLogHandler`
//!   (`socktype` `SOCK_STREAM`), both `%(message)s`, with `--spool-dir`
//!   (one row per `--outage-fsync` policy);
//! - rsyslog: `omfile` and `omfwd` (TCP) with a disk-assisted action queue
//!   ([`rsyslog_config`]);
//! - syslog-ng: `file()` and a `network()` destination with
//!   `disk-buffer(reliable(yes))`, `flags(flow-control)` ([`syslog_ng_config`]).
//!
//! The target is [`Target`], a receiver inside bench-peers: a thread per
//! connection splits what it reads at NUL (ours sends Python's
//! `SysLogHandler` frames, NUL-ended) or LF (the peers' traditional
//! framing), appends each record with an LF to a file and notes each run
//! token it holds, so that the driver knows the moment it has every line.
//! It goes down in order, as a receiver being stopped: it stops accepting,
//! half-closes each connection (the collector sees the peer close), reads
//! until the collector closes or [`GRACE`] passes, then closes; nothing
//! listens on the port until it is back.
//!
//! Every collector writes the line as received (120 bytes with its LF) so
//! the local file's length, sampled every [`SAMPLE`], gives the lines
//! written at any moment: **before** is the rate from the file's first
//! growth to the outage, **during** the rate while the target is down (up
//! to the moment the file has every line, if that comes first); **drain**
//! is the time from the target's return until it has every line. Lost and
//! duplicated are counted in the local file (`pysyslog-flood --verify`)
//! and at the target.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::collector::{self, Kind, Running};
use super::{fmt_rate, free_port, median, ratio, run_dir, say, write_targets, Env, LINE_SIZE};
use crate::flood::payload::token_needle;
use crate::flood::verify::parse_tail;

/// A collector that lost lines is done draining once no new line reached
/// the target for this long (after the flood ended and the target was back).
pub const QUIET: Duration = Duration::from_secs(10);
/// How often the local file's length is noted.
const SAMPLE: Duration = Duration::from_millis(5);
/// How long after the flood's first line the target goes down.
pub const BEFORE: Duration = Duration::from_secs(1);
/// How long a stopping target reads what its peers still send after it
/// half-closed their connections.
pub const GRACE: Duration = Duration::from_secs(1);
/// The disk every collector may use for its backlog (ours
/// `--spool-max-bytes`, rsyslog `queue.maxDiskSpace`, syslog-ng
/// `disk-buf-size()`): more than any run needs, so none holds for want of it.
pub const DISK_BUDGET: u64 = 16 << 30;

/// A collector of the scenario: ours with a `--spool-fsync` policy, or a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Ours(String),
    Rsyslog,
    SyslogNg,
}

impl Side {
    pub fn label(&self) -> String {
        match self {
            Side::Ours(f) => format!("ours (--spool-fsync {f})"),
            Side::Rsyslog => "rsyslog".into(),
            Side::SyslogNg => "syslog-ng".into(),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Side::Ours(_) => Kind::Ours,
            Side::Rsyslog => Kind::Rsyslog,
            Side::SyslogNg => Kind::SyslogNg,
        }
    }

    /// The sides for `kinds`, ours once per fsync policy.
    pub fn of(kinds: &[Kind], fsync: &[String]) -> Result<Vec<Side>, String> {
        let mut v = Vec::new();
        for k in kinds {
            match k {
                Kind::Ours => {
                    for f in fsync.iter().filter(|f| !f.is_empty()) {
                        if !matches!(f.as_str(), "batch" | "second" | "never") {
                            return Err(format!(
                                "unknown --outage-fsync {f:?} (batch, second, never)"
                            ));
                        }
                        v.push(Side::Ours(f.clone()));
                    }
                }
                Kind::Rsyslog => v.push(Side::Rsyslog),
                Kind::SyslogNg => v.push(Side::SyslogNg),
                k => {
                    return Err(format!(
                        "{} cannot run the outage scenario (ours, rsyslog, syslog-ng)",
                        k.name()
                    ))
                }
            }
        }
        Ok(v)
    }
}

#[derive(Debug, Clone)]
pub struct OutagePlan {
    pub runs: usize,
    /// Lines per run, all connections together.
    pub lines: u64,
    pub connections: u32,
    pub outage: Duration,
    pub sides: Vec<Side>,
    pub verify_timeout: f64,
    /// How long after the target's return the driver waits for every line.
    pub drain_timeout: Duration,
}

/// One run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub lines: u64,
    /// Lines/s into the local file before the outage.
    pub before: f64,
    /// Lines/s into the local file while the target was down (NaN when the
    /// file had every line before the outage began).
    pub during: f64,
    /// How long the target was down.
    pub outage_s: f64,
    /// From the target's return until the last line it got (None: it got
    /// none after its return); every line if `target_lost` is 0.
    pub drain_s: Option<f64>,
    /// Lines in the local file but not at the target when it came back.
    pub backlog: u64,
    /// From the target's return to the first new line it got.
    pub reconnect_s: Option<f64>,
    /// Lines the target got after its return, per second of drain.
    pub drain_lps: f64,
    pub file_lost: u64,
    pub file_dup: u64,
    pub target_lost: u64,
    pub target_dup: u64,
}

#[derive(Debug, Default)]
pub struct OutageResults {
    pub samples: Vec<(Side, Vec<Sample>)>,
    pub errors: Vec<String>,
}

/// Medians and totals over the runs of one side.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub runs: usize,
    pub before: f64,
    pub during: f64,
    pub min_during: f64,
    pub max_during: f64,
    pub outage_s: f64,
    /// Median drain, None if any run did not drain.
    pub drain_s: Option<f64>,
    pub max_drain_s: Option<f64>,
    pub backlog: f64,
    pub reconnect_s: Option<f64>,
    pub drain_lps: f64,
    pub file_lost: u64,
    pub file_dup: u64,
    pub target_lost: u64,
    pub target_dup: u64,
}

fn summarize(v: &[Sample]) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    let during: Vec<f64> = v
        .iter()
        .map(|s| s.during)
        .filter(|d| d.is_finite())
        .collect();
    let drains: Option<Vec<f64>> = v.iter().map(|s| s.drain_s).collect();
    Some(Summary {
        runs: v.len(),
        before: median(v.iter().map(|s| s.before).collect()),
        during: median(during.clone()),
        min_during: during.iter().copied().fold(f64::NAN, f64::min),
        max_during: during.iter().copied().fold(f64::NAN, f64::max),
        outage_s: median(v.iter().map(|s| s.outage_s).collect()),
        max_drain_s: drains
            .as_ref()
            .map(|d| d.iter().copied().fold(0.0, f64::max)),
        drain_s: drains.map(median),
        backlog: median(v.iter().map(|s| s.backlog as f64).collect()),
        reconnect_s: v
            .iter()
            .map(|s| s.reconnect_s)
            .collect::<Option<Vec<f64>>>()
            .map(median),
        drain_lps: median(v.iter().map(|s| s.drain_lps).collect()),
        file_lost: v.iter().map(|s| s.file_lost).sum(),
        file_dup: v.iter().map(|s| s.file_dup).sum(),
        target_lost: v.iter().map(|s| s.target_lost).sum(),
        target_dup: v.iter().map(|s| s.target_dup).sum(),
    })
}

impl OutageResults {
    fn push(&mut self, side: &Side, s: Sample) {
        match self.samples.iter_mut().find(|(k, _)| k == side) {
            Some((_, v)) => v.push(s),
            None => self.samples.push((side.clone(), vec![s])),
        }
    }

    fn get(&self, pred: impl Fn(&Side) -> bool) -> Option<Summary> {
        self.samples
            .iter()
            .find(|(k, _)| pred(k))
            .and_then(|(_, v)| summarize(v))
    }

    /// Lines lost or duplicated by ours (file and target).
    pub fn losses(&self) -> u64 {
        self.samples
            .iter()
            .filter(|(k, _)| matches!(k, Side::Ours(_)))
            .flat_map(|(_, v)| v)
            .map(|s| s.file_lost + s.file_dup + s.target_lost + s.target_dup)
            .sum()
    }
}

/// What the target has seen of the run's lines.
struct Seen {
    /// Copies of each line seen, per connection (saturating).
    per_conn: Vec<Vec<u8>>,
    distinct: u64,
    total: u64,
}

/// The forwarding target: see the module's documentation.
pub struct Target {
    pub port: u16,
    out: Arc<File>,
    needle: Arc<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
    distinct: Arc<AtomicU64>,
    /// When the last line not seen before arrived.
    last_new: Arc<Mutex<Option<Instant>>>,
    /// While up: the flags that stop accepting and close the connections,
    /// and the accepting thread (it returns the connections' threads).
    up: Option<Up>,
}

type Up = (
    Arc<AtomicBool>,
    Arc<AtomicBool>,
    JoinHandle<Vec<JoinHandle<()>>>,
);

impl Target {
    pub fn new(
        port: u16,
        out: &Path,
        run_id: &str,
        connections: u32,
        per_conn: u64,
    ) -> io::Result<Target> {
        let file = OpenOptions::new().create(true).append(true).open(out)?;
        Ok(Target {
            port,
            out: Arc::new(file),
            needle: Arc::new(token_needle(run_id)),
            seen: Arc::new(Mutex::new(Seen {
                per_conn: (0..connections)
                    .map(|_| vec![0u8; per_conn as usize])
                    .collect(),
                distinct: 0,
                total: 0,
            })),
            distinct: Arc::new(AtomicU64::new(0)),
            last_new: Arc::new(Mutex::new(None)),
            up: None,
        })
    }

    /// Listen on the port (again), retrying for a moment while it is taken.
    pub fn up(&mut self) -> Result<(), String> {
        if self.up.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("target: cannot listen on {}: {e}", self.port))
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        };
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let close = Arc::new(AtomicBool::new(false));
        let (s, c, out, needle, seen, distinct, last_new) = (
            Arc::clone(&stop),
            Arc::clone(&close),
            Arc::clone(&self.out),
            Arc::clone(&self.needle),
            Arc::clone(&self.seen),
            Arc::clone(&self.distinct),
            Arc::clone(&self.last_new),
        );
        let accept = thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (c, out, needle, seen, distinct, last_new) = (
                            Arc::clone(&c),
                            Arc::clone(&out),
                            Arc::clone(&needle),
                            Arc::clone(&seen),
                            Arc::clone(&distinct),
                            Arc::clone(&last_new),
                        );
                        conns.push(thread::spawn(move || {
                            let counts = Counts {
                                needle: &needle,
                                seen: &seen,
                                distinct: &distinct,
                                last_new: &last_new,
                            };
                            let r = serve(tcp, &c, &out, &counts);
                            if let Err(e) = r {
                                say(&format!("outage target: connection: {e}"));
                            }
                        }));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            conns
        });
        self.up = Some((stop, close, accept));
        Ok(())
    }

    /// Go down in order: close the listening socket (a connection made
    /// after this is refused, none waits unaccepted in its queue, whose
    /// data would be acknowledged by TCP and then lost), then half-close
    /// every connection, read what comes until the peer closes or [`GRACE`]
    /// passes, close.
    pub fn down(&mut self) {
        if let Some((stop, close, accept)) = self.up.take() {
            stop.store(true, Ordering::Relaxed);
            let conns = accept.join().unwrap_or_default();
            close.store(true, Ordering::Relaxed);
            for c in conns {
                let _ = c.join();
            }
        }
    }

    pub fn distinct(&self) -> u64 {
        self.distinct.load(Ordering::Relaxed)
    }

    fn distinct_handle(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.distinct)
    }

    /// When the last line not seen before arrived.
    pub fn last_new(&self) -> Option<Instant> {
        *self.last_new.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lines never seen and extra copies, of `connections` × `per_conn`.
    pub fn lost_and_duplicated(&self) -> (u64, u64) {
        let s = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let expected: u64 = s.per_conn.iter().map(|v| v.len() as u64).sum();
        (expected - s.distinct, s.total - s.distinct)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.down();
    }
}

/// Where a connection of the target counts what it reads.
struct Counts<'a> {
    needle: &'a [u8],
    seen: &'a Mutex<Seen>,
    distinct: &'a AtomicU64,
    last_new: &'a Mutex<Option<Instant>>,
}

/// One connection of the target.
fn serve(mut tcp: TcpStream, stop: &AtomicBool, mut out: &File, k: &Counts) -> io::Result<()> {
    let needle = k.needle;
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_millis(20)))?;
    let finder = memchr::memmem::Finder::new(needle);
    let mut buf = vec![0u8; 256 << 10];
    let mut held = 0;
    let mut text = Vec::with_capacity(300 << 10);
    let mut tokens: Vec<(u32, u64)> = Vec::with_capacity(4096);
    let mut closing: Option<Instant> = None;
    loop {
        if closing.is_none() && stop.load(Ordering::Relaxed) {
            let _ = tcp.shutdown(Shutdown::Write);
            closing = Some(Instant::now() + GRACE);
        }
        if closing.is_some_and(|d| Instant::now() > d) {
            break;
        }
        if held == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match tcp.read(&mut buf[held..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        };
        let end = held + n;
        let Some(last) = memchr::memrchr2(b'\n', 0, &buf[held..end]).map(|i| held + i) else {
            held = end;
            continue;
        };
        text.clear();
        tokens.clear();
        for rec in buf[..last].split(|&b| b == b'\n' || b == 0) {
            if rec.is_empty() {
                continue;
            }
            text.extend_from_slice(rec);
            text.push(b'\n');
            if let Some(at) = finder.find(rec) {
                if let Some(t) = parse_tail(&rec[at + needle.len()..]) {
                    tokens.push(t);
                }
            }
        }
        out.write_all(&text)?;
        {
            let mut guard = k.seen.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut *guard;
            let before = s.distinct;
            for &(c, n) in &tokens {
                s.total += 1;
                let slot = s
                    .per_conn
                    .get_mut(c as usize)
                    .and_then(|v| v.get_mut(n as usize));
                if let Some(x) = slot {
                    if *x == 0 {
                        s.distinct += 1;
                    }
                    *x = x.saturating_add(1);
                }
            }
            if s.distinct > before {
                *k.last_new.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
            k.distinct.store(s.distinct, Ordering::Relaxed);
        }
        buf.copy_within(last + 1..end, 0);
        held = end - last - 1;
    }
    Ok(())
}

/// Values noted over time, oldest first.
type Samples = Vec<(Instant, u64)>;

/// Notes a file's length and the lines the target has every [`SAMPLE`]
/// until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(Instant, u64, u64)>>,
}

impl Sampler {
    fn start(path: PathBuf, target: Arc<AtomicU64>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut v = Vec::with_capacity(1 << 16);
            while !s.load(Ordering::Relaxed) {
                let len = fs::metadata(&path).map_or(0, |m| m.len());
                v.push((Instant::now(), len, target.load(Ordering::Relaxed)));
                thread::sleep(SAMPLE);
            }
            v
        });
        Sampler { stop, handle }
    }

    /// The file's samples and the target's.
    fn finish(self) -> (Samples, Samples) {
        self.stop.store(true, Ordering::Relaxed);
        let v = self.handle.join().unwrap_or_default();
        (
            v.iter().map(|&(t, f, _)| (t, f)).collect(),
            v.iter().map(|&(t, _, d)| (t, d)).collect(),
        )
    }
}

/// Bytes in the file at `t`: the last sample at or before it.
fn bytes_at(samples: &[(Instant, u64)], t: Instant) -> u64 {
    let i = samples.partition_point(|(at, _)| *at <= t);
    if i == 0 {
        0
    } else {
        samples[i - 1].1
    }
}

/// The first sample at which the file held `bytes`.
fn when_holds(samples: &[(Instant, u64)], bytes: u64) -> Option<Instant> {
    samples.iter().find(|(_, b)| *b >= bytes).map(|(t, _)| *t)
}

/// The phases of a run, as the driver saw them.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// The local file's first growth.
    pub first: Instant,
    /// The target was told to go down.
    pub stop: Instant,
    /// It was down (nothing listening).
    pub down: Instant,
    /// It listened again.
    pub up: Instant,
}

/// Lines/s before and during the outage from the local file's samples
/// (`lines` 120-byte lines expected).
pub fn rates(samples: &[(Instant, u64)], t: &Timeline, lines: u64) -> (f64, f64) {
    let line = LINE_SIZE as f64;
    let pre = (t.stop - t.first).as_secs_f64();
    let before = bytes_at(samples, t.stop) as f64 / line / pre.max(1e-3);
    let full = when_holds(samples, lines * LINE_SIZE as u64);
    let end = full.map_or(t.up, |f| f.min(t.up));
    let during = if end > t.down + Duration::from_millis(100) {
        let b = bytes_at(samples, end).saturating_sub(bytes_at(samples, t.down));
        b as f64 / line / (end - t.down).as_secs_f64()
    } else {
        f64::NAN
    };
    (before, during)
}

/// A dictConfig for ours: the line to `out` and forwarded to `target`.
pub fn ours_config(out: &Path, target: u16) -> String {
    serde_json::json!({
        "version": 1,
        "formatters": {"m": {"format": "%(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": out.to_string_lossy(),
                     "formatter": "m"},
            "fwd": {"class": "logging.handlers.SysLogHandler",
                    "address": ["127.0.0.1", target],
                    "socktype": "ext://socket.SOCK_STREAM", "formatter": "m"},
            "own": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
        "loggers": {"pysyslog": {"level": "INFO", "handlers": ["own"], "propagate": false}},
        "root": {"level": "INFO", "handlers": ["file", "fwd"]},
    })
    .to_string()
}

/// rsyslog: imtcp to omfile and to omfwd (TCP, traditional LF framing) with
/// a disk-assisted LinkedList queue: kept on shutdown, disk space
/// [`DISK_BUDGET`], 32 MiB queue files (as ours' largest segments; the
/// default is 1 MiB), retried forever every second (the default interval
/// is 30 s), and an in-memory part of 100,000 messages: with the default
/// (1,000) the queue stopped taking messages soon after it went to disk, and
/// with it the file, until the target was back (tools/BENCHMARKS.md). The
/// rest are rsyslog's defaults.
pub fn rsyslog_config(dir: &Path, out: &Path, port: u16, target: u16) -> String {
    format!(
        "global(workDirectory=\"{dir}\" net.enableDNS=\"off\" maxMessageSize=\"64k\")\n\
         module(load=\"imtcp\" MaxSessions=\"32\")\n\
         input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ratelimit.interval=\"0\")\n\
         template(name=\"bench\" type=\"string\" string=\"%rawmsg%\\n\")\n\
         action(type=\"omfile\" file=\"{out}\" template=\"bench\")\n\
         action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{target}\" protocol=\"tcp\" \
         template=\"bench\" queue.type=\"LinkedList\" queue.filename=\"fwdq\" \
         queue.spoolDirectory=\"{dir}/spool\" queue.saveOnShutdown=\"on\" \
         queue.maxDiskSpace=\"{}g\" queue.maxFileSize=\"32m\" queue.size=\"100000\" \
         action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")\n",
        DISK_BUDGET >> 30,
        dir = dir.display(),
        out = out.display(),
    )
}

/// syslog-ng: network() (no parsing) to file() and to a network()
/// destination with a reliable disk buffer of [`DISK_BUDGET`] (3.38 names
/// it `disk-buf-size()`), flow control, reconnecting every second (the
/// default `time-reopen()` is 60 s).
pub fn syslog_ng_config(version: &str, dir: &Path, out: &Path, port: u16, target: u16) -> String {
    format!(
        "@version: {version}\n\
         options {{ use-dns(no); use-fqdn(no); keep-hostname(yes); stats-freq(0); time-reopen(1); }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\") flags(no-parse) \
         max-connections(32) log-iw-size(3200)); }};\n\
         destination f {{ file(\"{out}\" template(\"${{MSG}}\\n\")); }};\n\
         destination fwd {{ network(\"127.0.0.1\" port({target}) transport(\"tcp\") \
         template(\"${{MSG}}\\n\") disk-buffer(reliable(yes) dir(\"{dir}/spool\") \
         disk-buf-size({DISK_BUDGET}))); }};\n\
         log {{ source(s); destination(f); destination(fwd); flags(flow-control); }};\n",
        dir = dir.display(),
        out = out.display(),
    )
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn start(env: &Env, side: &Side, dir: &Path, port: u16, target: u16) -> Result<Running, String> {
    let out = dir.join("out.log");
    let spool = dir.join("spool");
    fs::create_dir_all(&spool).map_err(|e| format!("{}: {e}", spool.display()))?;
    let cmd = match side {
        Side::Ours(fsync) => {
            let conf = dir.join("logging.json");
            write(&conf, &ours_config(&out, target))?;
            let mut c = Command::new(env.bin_dir.join("pysyslog"));
            c.args([
                "--max-connections",
                "4096",
                "--max-connections-per-source",
                "0",
            ])
            .arg("-l")
            .arg(&conf)
            .arg("--spool-dir")
            .arg(&spool)
            .arg("--spool-max-bytes")
            .arg(DISK_BUDGET.to_string())
            .arg("--spool-fsync")
            .arg(fsync)
            .arg("127.0.0.1")
            .arg(port.to_string());
            c
        }
        Side::Rsyslog => {
            let conf = dir.join("rsyslog.conf");
            write(&conf, &rsyslog_config(dir, &out, port, target))?;
            collector::rsyslogd_foreground(&env.rsyslogd(), &env.rsyslog_modules(), &conf, dir)
        }
        Side::SyslogNg => {
            let conf = dir.join("syslog-ng.conf");
            write(
                &conf,
                &syslog_ng_config(&env.syslog_ng_version(), dir, &out, port, target),
            )?;
            let modules = env
                .syslog_ng_modules()
                .ok_or("syslog-ng's module directory is missing")?;
            collector::syslog_ng_foreground(
                &env.syslog_ng(),
                &env.syslog_ng_libs(),
                &modules,
                &conf,
                dir,
            )
        }
    };
    collector::spawn(side.kind(), cmd, dir, port, false)
}

/// One run of `side`.
pub fn measure(env: &Env, side: &Side, plan: &OutagePlan) -> Result<Sample, String> {
    let dir = run_dir(env, &format!("outage-{}", side.kind().name()))?;
    let r = measure_in(env, side, plan, &dir);
    // PYSYSLOG_BENCH_KEEP=1 leaves the run's directory (configurations,
    // files, the collector's output, the backlog) to look at.
    if std::env::var_os("PYSYSLOG_BENCH_KEEP").is_some() {
        say(&format!("outage: kept {}", dir.display()));
    } else {
        let _ = fs::remove_dir_all(&dir);
    }
    r
}

fn measure_in(env: &Env, side: &Side, plan: &OutagePlan, dir: &Path) -> Result<Sample, String> {
    let run_id = crate::flood::default_run_id();
    let per_conn = (plan.lines / u64::from(plan.connections)).max(1);
    let lines = per_conn * u64::from(plan.connections);
    let mut target = Target::new(
        free_port()?,
        &dir.join("target.log"),
        &run_id,
        plan.connections,
        per_conn,
    )
    .map_err(|e| format!("target: {e}"))?;
    target.up()?;
    let port = free_port()?;
    let mut c = start(env, side, dir, port, target.port)?;
    let sampler = Sampler::start(c.out.clone(), target.distinct_handle());
    let sc = super::Scenario {
        connections: plan.connections,
        tls: false,
    };
    let flood = super::flood(
        env,
        port,
        sc,
        per_conn,
        Some((&c.out, plan.verify_timeout)),
        None,
    )
    .args(["--run-id", &run_id])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| format!("cannot run pysyslog-flood: {e}"))?;
    // The outage begins BEFORE after the file's first growth.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        match fs::metadata(&c.out) {
            Ok(m) if m.len() > 0 => break Instant::now(),
            _ if Instant::now() > deadline => break Instant::now(),
            _ => thread::sleep(Duration::from_millis(1)),
        }
    };
    thread::sleep(BEFORE.saturating_sub(first.elapsed()));
    let stop = Instant::now();
    target.down();
    let down = Instant::now();
    thread::sleep(plan.outage);
    target.up()?;
    let up = Instant::now();
    let out = flood
        .wait_with_output()
        .map_err(|e| format!("pysyslog-flood: {e}"))?;
    // Until the target has every line, or (a collector that lost some) no
    // new line came for QUIET since the flood ended and the target was
    // back, or the drain timeout.
    let drain_deadline = up + plan.drain_timeout;
    let flood_done = Instant::now();
    loop {
        if target.distinct() >= lines || Instant::now() > drain_deadline || !c.alive() {
            break;
        }
        let quiet_since = target.last_new().map_or(flood_done, |t| t.max(flood_done));
        if quiet_since.elapsed() > QUIET {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    // Late copies, if any, are counted too.
    thread::sleep(Duration::from_millis(500));
    let alive = c.alive();
    let log = c.log_text();
    c.stop();
    target.down();
    let (samples, at_target) = sampler.finish();
    let j = super::flood_report(&out, &log)?;
    if !alive {
        return Err(format!("{} died during the run:\n{log}", side.label()));
    }
    let t = Timeline {
        first,
        stop,
        down,
        up,
    };
    let (before, during) = rates(&samples, &t, lines);
    let (target_lost, target_dup) = target.lost_and_duplicated();
    let num = |k: &str| j[k].as_f64().unwrap_or(0.0) as u64;
    let at_up = bytes_at(&at_target, up);
    let drain_s = target
        .last_new()
        .filter(|t| *t > up)
        .map(|t| (t - up).as_secs_f64());
    let reconnect_s = at_target
        .iter()
        .find(|(t, d)| *t > up && *d > at_up)
        .map(|(t, _)| (*t - up).as_secs_f64());
    Ok(Sample {
        lines,
        before,
        during,
        outage_s: (up - down).as_secs_f64(),
        drain_s,
        backlog: (bytes_at(&samples, up) / LINE_SIZE as u64).saturating_sub(at_up),
        reconnect_s,
        drain_lps: drain_s.map_or(f64::NAN, |d| {
            target.distinct().saturating_sub(at_up) as f64 / d.max(1e-3)
        }),
        file_lost: num("lost"),
        file_dup: num("duplicated"),
        target_lost,
        target_dup,
    })
}

/// Every side, `runs` times, interleaved.
pub fn run(env: &Env, plan: &OutagePlan) -> OutageResults {
    let mut r = OutageResults::default();
    for run in 1..=plan.runs {
        for side in &plan.sides {
            match measure(env, side, plan) {
                Ok(s) => {
                    say(&format!(
                        "outage | {} | run {run}/{}: before {:.0} lines/s, during {:.0} lines/s, outage {:.1} s, backlog {} at the return, first line after {}, drain {} ({:.0} lines/s), file lost {} dup {}, target lost {} dup {}",
                        side.label(),
                        plan.runs,
                        s.before,
                        s.during,
                        s.outage_s,
                        s.backlog,
                        s.reconnect_s.map_or("-".into(), |d| format!("{d:.2} s")),
                        s.drain_s.map_or("no line after the return".into(), |d| format!("{d:.2} s")),
                        s.drain_lps,
                        s.file_lost,
                        s.file_dup,
                        s.target_lost,
                        s.target_dup,
                    ));
                    r.push(side, s);
                }
                Err(e) => {
                    let e = format!("outage | {} | run {run}: {e}", side.label());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    r
}

fn secs(d: Option<f64>) -> String {
    d.map_or("none came".into(), |d| format!("{d:.2}"))
}

/// The Markdown table (medians over the runs) and the targets.
pub fn report(plan: &OutagePlan, r: &OutageResults) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "#### Forwarding target down: {} lines of {LINE_SIZE} bytes per run from {} plain TCP \
         connections, each written to a file and forwarded over TCP; the target down for {:.0} s \
         from {:.0} s after the first line. **drain**: from the target's return to the \
         last line it got (every line when it lost none)\n\n\
         | collector | runs | lines/s before | lines/s during outage (median) | min-max | vs rsyslog | outage s | backlog at return (lines) | first line after return s | drain s (median) | drain max | drained lines/s | file lost | file dup | target lost | target dup |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        plan.lines,
        plan.connections,
        plan.outage.as_secs_f64(),
        BEFORE.as_secs_f64(),
    );
    let rs = r.get(|s| *s == Side::Rsyslog).map(|s| s.during);
    for (side, v) in &r.samples {
        let Some(s) = summarize(v) else { continue };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {}-{} | {} | {:.1} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            side.label(),
            s.runs,
            fmt_rate(s.before),
            fmt_rate(s.during),
            fmt_rate(s.min_during),
            fmt_rate(s.max_during),
            ratio(s.during, rs),
            s.outage_s,
            s.backlog,
            secs(s.reconnect_s),
            secs(s.drain_s),
            secs(s.max_drain_s),
            fmt_rate(s.drain_lps),
            s.file_lost,
            s.file_dup,
            s.target_lost,
            s.target_dup,
        );
    }
    write_targets(&mut t, "outage", &targets(r), &r.errors);
    t
}

/// The scenario's targets, as `(result, what)`: for ours with the default
/// policy (`batch`), or the first one measured.
pub fn targets(r: &OutageResults) -> Vec<(Option<bool>, String)> {
    let ours_side = r
        .samples
        .iter()
        .map(|(k, _)| k)
        .find(|k| **k == Side::Ours("batch".into()))
        .or_else(|| {
            r.samples
                .iter()
                .map(|(k, _)| k)
                .find(|k| matches!(k, Side::Ours(_)))
        })
        .cloned();
    let ours = ours_side.as_ref().and_then(|o| r.get(|s| s == o));
    let rs = r.get(|s| *s == Side::Rsyslog);
    let ng = r.get(|s| *s == Side::SyslogNg);
    let name = ours_side.map_or("ours".into(), |s| s.label());
    let mut v = vec![(
        ours.zip(rs).map(|(o, r)| o.during >= 3.0 * r.during),
        format!(
            "outage: {name} ≥ 3× rsyslog lines/s during the outage (is {})",
            ours.map_or("-".into(), |o| ratio(o.during, rs.map(|r| r.during)))
        ),
    )];
    if let Some(o) = ours {
        v.push((
            Some(o.file_lost + o.target_lost == 0),
            format!(
                "outage: {name} 0 lost (is {} in the file, {} at the target; duplicated {} and {}; {} runs)",
                o.file_lost, o.target_lost, o.file_dup, o.target_dup, o.runs
            ),
        ));
    }
    let faster = |p: Option<Summary>| -> Option<bool> {
        let p = p?;
        let o = ours?;
        Some(match (o.drain_s, p.drain_s) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, _) => false,
        })
    };
    let show = |s: Option<Summary>| {
        s.map_or("-".into(), |s| {
            s.drain_s
                .map_or("no line after the return".into(), |d| format!("{d:.2} s"))
        })
    };
    v.push((
        faster(rs).zip(faster(ng)).map(|(a, b)| a && b),
        format!(
            "outage: {name} drains faster than rsyslog and syslog-ng (is {} against {} and {})",
            show(ours),
            show(rs),
            show(ng)
        ),
    ));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_file_samples() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let l = LINE_SIZE as u64;
        // 1,000 lines/s for 1 s, then 500 lines/s while down (1-3 s).
        let samples: Vec<(Instant, u64)> = (0..=40)
            .map(|i| {
                let ms = i * 100;
                let lines = if ms <= 1000 {
                    ms
                } else {
                    1000 + (ms - 1000) / 2
                };
                (at(ms), lines * l)
            })
            .collect();
        let t = Timeline {
            first: at(0),
            stop: at(1000),
            down: at(1000),
            up: at(3000),
        };
        let (b, d) = rates(&samples, &t, 1_000_000);
        assert!((b - 1000.0).abs() < 1.0, "{b}");
        assert!((d - 500.0).abs() < 1.0, "{d}");
        // The file had every line before the target came back: the rate
        // is up to that moment.
        let (_, d) = rates(&samples, &t, 1500);
        assert!((d - 500.0).abs() < 1.0, "{d}");
        // ... or before the outage: nothing to measure.
        let (_, d) = rates(&samples, &t, 900);
        assert!(d.is_nan());
    }

    #[test]
    fn the_target_counts_each_line_and_goes_down_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let mut t = Target::new(port, &dir.path().join("t.log"), "r1", 2, 3).unwrap();
        t.up().unwrap();
        let format = crate::flood::payload::LineFormat::new(
            "r1",
            LINE_SIZE,
            crate::flood::payload::Framing::Lf,
        )
        .unwrap();
        let line = |c: u32, n: u64| {
            let mut l = format.line(c, n);
            l.pop();
            l
        };
        let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // NUL-ended (ours), LF-ended (the peers), one repeated, one split
        // over two writes.
        let mut m = b"<14>".to_vec();
        m.extend(line(0, 0));
        m.push(0);
        m.extend(line(0, 1));
        m.push(b'\n');
        m.extend(line(0, 1));
        m.push(0);
        let l2 = line(0, 2);
        m.extend(&l2[..50]);
        a.write_all(&m).unwrap();
        a.flush().unwrap();
        thread::sleep(Duration::from_millis(50));
        a.write_all(&l2[50..]).unwrap();
        a.write_all(b"\0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.distinct() < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(t.distinct(), 3);
        // Down: the connection is half-closed by the target, nothing listens.
        let closer = thread::spawn(move || {
            let mut b = [0u8; 16];
            a.read(&mut b).unwrap()
        });
        t.down();
        assert_eq!(closer.join().unwrap(), 0, "the target half-closed");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        t.up().unwrap();
        let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut m = line(1, 0);
        m.push(b'\n');
        b.write_all(&m).unwrap();
        drop(b);
        while t.distinct() < 4 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        t.down();
        assert_eq!(t.lost_and_duplicated(), (2, 1));
        let written = fs::read_to_string(dir.path().join("t.log")).unwrap();
        assert_eq!(written.lines().count(), 5);
        assert!(written.starts_with("<14><13>bench r1") || written.starts_with("<14>"));
    }

    #[test]
    fn configs_forward_with_a_disk_queue() {
        let d = Path::new("/d");
        let o = Path::new("/d/out.log");
        let r = rsyslog_config(d, o, 5000, 6000);
        assert!(r.contains("type=\"omfwd\" target=\"127.0.0.1\" port=\"6000\""));
        assert!(r.contains("queue.type=\"LinkedList\" queue.filename=\"fwdq\""));
        assert!(r.contains("action.resumeRetryCount=\"-1\""));
        let g = syslog_ng_config("3.38", d, o, 5000, 6000);
        assert!(
            g.contains("disk-buffer(reliable(yes) dir(\"/d/spool\""),
            "{g}"
        );
        assert!(g.contains("flags(flow-control)") && g.contains("port(6000)"));
        let c: serde_json::Value = serde_json::from_str(&ours_config(o, 6000)).unwrap();
        assert_eq!(c["handlers"]["fwd"]["address"][1], 6000);
        assert_eq!(c["root"]["handlers"], serde_json::json!(["file", "fwd"]));
        assert!(Side::of(&[Kind::Ours], &["fast".into()]).is_err());
        assert_eq!(
            Side::of(
                &[Kind::Ours, Kind::Rsyslog],
                &["batch".into(), "never".into()]
            )
            .unwrap(),
            vec![
                Side::Ours("batch".into()),
                Side::Ours("never".into()),
                Side::Rsyslog
            ]
        );
    }
}

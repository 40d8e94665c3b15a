//! The scenarios beyond bulk throughput (`--scenarios udp,churn,idle10k`), each
//! driven by bench-peers itself (no pysyslog-flood) against ours, rsyslog and
//! syslog-ng started as for the comparison:
//!
//! - `udp`: datagrams of [`LINE_SIZE`] − 1 bytes to the collector's UDP listener,
//!   first at full speed, then paced at rsyslog's best written rate; lines in
//!   the file once it stopped growing for a second.
//! - `churn`: workers that each connect, send one line and close, again and
//!   again for a fixed time, plain and TLS (a full handshake per connection);
//!   connections per second, then the lines in the file.
//! - `idle10k`: many connections opened (from several 127.0.0.0/8 source
//!   addresses, so the loopback ports do not run out), one line each, then left
//!   idle: peak RSS of the collector's processes and their CPU over the idle
//!   window.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::collector::{self, Env, Kind};
use super::{fmt_rate, free_port, mib, procstat, ratio, run_dir, say, LINE_SIZE};
use crate::flood::tls::{client_config, server_name, TlsStream, Verify};

/// One of the extra scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    Udp,
    Churn,
    Idle,
}

impl Extra {
    pub const ALL: [Extra; 3] = [Extra::Udp, Extra::Churn, Extra::Idle];
    pub fn name(self) -> &'static str {
        match self {
            Extra::Udp => "udp",
            Extra::Churn => "churn",
            Extra::Idle => "idle10k",
        }
    }
}

/// `--scenarios`: a comma-separated list of `udp`, `churn`, `idle10k`, `all`,
/// or `auto` (all of them when rsyslog is among the compared collectors, the
/// full benchmark; none otherwise, as in CI's smoke run); empty entries are
/// ignored (so `''` selects none).
pub fn parse_extras(names: &[String], with_rsyslog: bool) -> Result<Vec<Extra>, String> {
    let mut v = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n == "all" || (n == "auto" && with_rsyslog) {
            v.extend(Extra::ALL);
            continue;
        }
        if n == "auto" {
            continue;
        }
        let e = Extra::ALL
            .into_iter()
            .find(|e| e.name() == n)
            .ok_or(format!("unknown scenario {n:?} (udp, churn, idle10k, all)"))?;
        v.push(e);
    }
    let mut seen = Vec::new();
    v.retain(|e| {
        let new = !seen.contains(e);
        seen.push(*e);
        new
    });
    Ok(v)
}

/// What the extra scenarios are asked to do.
#[derive(Debug, Clone)]
pub struct ExtraPlan {
    pub scenarios: Vec<Extra>,
    pub collectors: Vec<Kind>,
    pub udp_lines: u64,
    pub churn_seconds: f64,
    pub churn_workers: usize,
    pub idle_connections: u32,
    pub idle_seconds: f64,
    pub source_addresses: u8,
}

#[derive(Debug, Clone)]
pub struct UdpSample {
    pub kind: Kind,
    /// The pace asked for (None: full speed).
    pub pace: Option<f64>,
    pub sent: u64,
    pub sent_per_sec: f64,
    pub written: u64,
    pub written_per_sec: f64,
    pub cpu_us_per_line: f64,
    pub peak_rss: u64,
}

#[derive(Debug, Clone)]
pub struct ChurnSample {
    pub kind: Kind,
    pub tls: bool,
    pub connections: u64,
    pub failed: u64,
    pub per_sec: f64,
    pub written: u64,
    pub cpu_us_per_conn: f64,
    pub peak_rss: u64,
}

#[derive(Debug, Clone)]
pub struct IdleSample {
    pub kind: Kind,
    pub tls: bool,
    pub connections: u64,
    pub failed: u64,
    pub setup_seconds: f64,
    pub peak_rss: u64,
    pub idle_seconds: f64,
    pub idle_cpu: Duration,
    pub written: u64,
}

impl IdleSample {
    /// CPU while idle, in percent of one core.
    pub fn idle_cpu_percent(&self) -> f64 {
        100.0 * self.idle_cpu.as_secs_f64() / self.idle_seconds.max(1e-9)
    }
}

#[derive(Debug, Default)]
pub struct ExtraResults {
    pub udp: Vec<UdpSample>,
    pub churn: Vec<ChurnSample>,
    pub idle: Vec<IdleSample>,
    pub errors: Vec<String>,
}

/// The line of message `seq`: `<13>` and a tag, padded to `LINE_SIZE - 1` bytes.
pub fn line(seq: u64, tag: &str) -> Vec<u8> {
    let mut l = format!("<13>bench {tag} {seq:012} ").into_bytes();
    l.resize(LINE_SIZE - 1, b'x');
    l
}

/// The driver's lines in the file (0 when missing): those with a `<13>bench `
/// tag, so a collector's own start-up messages are not counted.
fn count_lines(path: &Path) -> u64 {
    fs::read(path).map_or(0, |b| {
        memchr::memmem::find_iter(&b, b"<13>bench ").count() as u64
    })
}

/// Wait until `path` has `expected` lines or has not grown for `quiet`
/// (at most `timeout`); the lines and when the file last grew.
fn settle(path: &Path, expected: u64, quiet: Duration, timeout: Duration) -> (u64, Instant) {
    let start = Instant::now();
    let mut last_len = 0;
    let mut last_change = start;
    let mut checked_len = u64::MAX;
    loop {
        let len = fs::metadata(path).map_or(0, |m| m.len());
        let now = Instant::now();
        if len != last_len {
            last_len = len;
            last_change = now;
        }
        // Count only when the file could hold every line (each has LINE_SIZE - 1 bytes at least).
        if len >= expected * (LINE_SIZE as u64 - 1) && len != checked_len {
            checked_len = len;
            let n = count_lines(path);
            if n >= expected {
                return (n, last_change);
            }
        }
        if now - last_change >= quiet || now - start >= timeout {
            return (count_lines(path), last_change);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub use crate::flood::sender::connect_from;

/// Source address `i` of `n`: 127.0.0.2, 127.0.0.3, ...
pub fn source(i: u64, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % u64::from(n.max(1))) as u8)
}

/// A started collector for one extra run, in a fresh directory removed after.
fn with_collector<T>(
    env: &Env,
    kind: Kind,
    setup: collector::Setup,
    f: impl FnOnce(&mut collector::Running) -> Result<T, String>,
) -> Result<T, String> {
    let dir = run_dir(env, &format!("extra-{}", kind.name()))?;
    let r = (|| {
        let mut c = collector::start(env, kind, &dir, &setup)?;
        let r = f(&mut c);
        let alive = c.alive();
        let log = c.log_text();
        c.stop();
        if !alive && r.is_ok() {
            return Err(format!("{} died during the run:\n{log}", kind.name()));
        }
        r
    })();
    let _ = fs::remove_dir_all(&dir);
    r
}

/// Datagrams per sendmmsg(2).
const BATCH: usize = 32;

/// Send every buffer as one datagram on the connected `sock` with as few
/// sendmmsg(2) calls as it takes; how many the kernel took (a full socket
/// buffer or an error drops the rest of the batch, as a syslog sender would).
fn send_batch(sock: &UdpSocket, bufs: &mut [Vec<u8>]) -> u64 {
    use std::os::fd::AsRawFd;
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: zeroed msghdrs are valid; each points at one iovec that outlives the call.
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut done = 0usize;
    while done < msgs.len() {
        // SAFETY: the pointer and length describe live mmsghdrs.
        let n = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                msgs[done..].as_mut_ptr(),
                (msgs.len() - done) as libc::c_uint,
                0,
            )
        };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    done as u64
}

fn udp_run(env: &Env, kind: Kind, lines: u64, pace: Option<f64>) -> Result<UdpSample, String> {
    let port = free_port()?;
    let setup = collector::Setup {
        port,
        tls: false,
        max_connections: 8,
        udp: true,
        output: collector::Output::Usual,
    };
    with_collector(env, kind, setup, |c| {
        let pid = c.pid();
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.connect(("127.0.0.1", port))
            .map_err(|e| e.to_string())?;
        let before = procstat::CpuSnapshot::of_tree(pid);
        let start = Instant::now();
        let mut sent = 0u64;
        let mut seq = 0u64;
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| line(0, "udp")).collect();
        while seq < lines {
            let n = (lines - seq).min(BATCH as u64) as usize;
            for (i, b) in bufs.iter_mut().take(n).enumerate() {
                let digits = format!("{:012}", seq + i as u64);
                b[14..26].copy_from_slice(digits.as_bytes());
            }
            sent += send_batch(&sock, &mut bufs[..n]);
            seq += n as u64;
            if let Some(rate) = pace {
                let due = start + Duration::from_secs_f64(seq as f64 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        let send_time = start.elapsed().as_secs_f64();
        let (written, last) = settle(
            &c.out,
            sent,
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        let cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
        let span = (last - start).as_secs_f64().max(send_time).max(1e-6);
        Ok(UdpSample {
            kind,
            pace,
            sent,
            sent_per_sec: sent as f64 / send_time.max(1e-6),
            written,
            written_per_sec: written as f64 / span,
            cpu_us_per_line: cpu.as_secs_f64() * 1e6 / (written.max(1) as f64),
            peak_rss: procstat::tree_peak_rss(pid),
        })
    })
}

fn churn_run(env: &Env, kind: Kind, tls: bool, plan: &ExtraPlan) -> Result<ChurnSample, String> {
    let port = free_port()?;
    let setup = collector::Setup {
        port,
        tls,
        // As a real deployment would: room for many sessions (rsyslog sizes its
        // listen backlog from MaxSessions, syslog-ng rejects connections beyond
        // max-connections, and closed sessions are noticed a little later).
        max_connections: 4096,
        udp: false,
        output: collector::Output::Usual,
    };
    let config = client_config(&Verify::Ca(env.tls_file("ca.pem"))).map_err(|e| e.to_string())?;
    with_collector(env, kind, setup, |c| {
        let pid = c.pid();
        let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let seq = Arc::new(AtomicU64::new(0));
        let before = procstat::CpuSnapshot::of_tree(pid);
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(plan.churn_seconds);
        let workers: Vec<_> = (0..plan.churn_workers)
            .map(|w| {
                let (ok, failed, seq, config) = (
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                    Arc::clone(&seq),
                    Arc::clone(&config),
                );
                let src = source(w as u64, plan.source_addresses);
                std::thread::spawn(move || {
                    while Instant::now() < deadline {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        let mut l = line(n, "churn");
                        l.push(b'\n');
                        let r = (|| -> io::Result<()> {
                            let tcp = connect_from(src, dst)?;
                            if tls {
                                let name = server_name("127.0.0.1").map_err(io::Error::other)?;
                                let mut s = TlsStream::connect(&config, name, tcp)?;
                                s.write_all(&l)?;
                                s.flush()?;
                                crate::flood::sender::FloodStream::finish(&mut s)
                            } else {
                                let mut tcp = tcp;
                                tcp.write_all(&l)
                            }
                        })();
                        match r {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let secs = start.elapsed().as_secs_f64();
        let ok = ok.load(Ordering::Relaxed);
        let (written, _) = settle(&c.out, ok, Duration::from_secs(2), Duration::from_secs(30));
        let cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
        Ok(ChurnSample {
            kind,
            tls,
            connections: ok,
            failed: failed.load(Ordering::Relaxed),
            per_sec: ok as f64 / secs,
            written,
            cpu_us_per_conn: cpu.as_secs_f64() * 1e6 / ok.max(1) as f64,
            peak_rss: procstat::tree_peak_rss(pid),
        })
    })
}

fn idle_run(env: &Env, kind: Kind, tls: bool, plan: &ExtraPlan) -> Result<IdleSample, String> {
    let port = free_port()?;
    let n = plan.idle_connections;
    let setup = collector::Setup {
        port,
        tls,
        max_connections: n,
        udp: false,
        output: collector::Output::Usual,
    };
    let config = client_config(&Verify::Ca(env.tls_file("ca.pem"))).map_err(|e| e.to_string())?;
    let sources = plan.source_addresses;
    with_collector(env, kind, setup, |c| {
        let pid = c.pid();
        let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let start = Instant::now();
        const THREADS: u64 = 4;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let config = Arc::clone(&config);
                std::thread::spawn(move || {
                    let mut held: Vec<Box<dyn Write + Send>> = Vec::new();
                    let mut failed = 0u64;
                    for i in (t..u64::from(n)).step_by(THREADS as usize) {
                        let mut l = line(i, "idle");
                        l.push(b'\n');
                        let r = (|| -> io::Result<Box<dyn Write + Send>> {
                            let tcp = connect_from(source(i, sources), dst)?;
                            let mut s: Box<dyn Write + Send> = if tls {
                                let name = server_name("127.0.0.1").map_err(io::Error::other)?;
                                Box::new(TlsStream::connect(&config, name, tcp)?)
                            } else {
                                Box::new(tcp)
                            };
                            s.write_all(&l)?;
                            s.flush()?;
                            Ok(s)
                        })();
                        match r {
                            Ok(s) => held.push(s),
                            Err(_) => failed += 1,
                        }
                    }
                    (held, failed)
                })
            })
            .collect();
        let mut held = Vec::new();
        let mut failed = 0;
        for h in handles {
            let (mut v, f) = h.join().map_err(|_| "a connecting thread panicked")?;
            held.append(&mut v);
            failed += f;
        }
        let connections = held.len() as u64;
        let (written, _) = settle(
            &c.out,
            connections,
            Duration::from_secs(3),
            Duration::from_secs(60),
        );
        let setup_seconds = start.elapsed().as_secs_f64();
        // Let the collector finish whatever follows the burst, then measure idle.
        std::thread::sleep(Duration::from_millis(500));
        let before = procstat::CpuSnapshot::of_tree(pid);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(plan.idle_seconds));
        let idle_cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
        let idle_seconds = t.elapsed().as_secs_f64();
        let peak_rss = procstat::tree_peak_rss(pid);
        drop(held);
        Ok(IdleSample {
            kind,
            tls,
            connections,
            failed,
            setup_seconds,
            peak_rss,
            idle_seconds,
            idle_cpu,
            written,
        })
    })
}

/// Run every extra scenario of `plan` for each of its collectors.
pub fn run(env: &Env, plan: &ExtraPlan) -> ExtraResults {
    let mut r = ExtraResults::default();
    let fail = |r: &mut ExtraResults, what: String, e: String| {
        let e = format!("{what}: {e}");
        say(&e);
        r.errors.push(e);
    };
    if plan.scenarios.contains(&Extra::Udp) {
        for &k in &plan.collectors {
            match udp_run(env, k, plan.udp_lines, None) {
                Ok(s) => {
                    say(&format!(
                        "udp | {} | full speed: sent {:.0}/s, written {:.0}/s, lost {}",
                        k.name(),
                        s.sent_per_sec,
                        s.written_per_sec,
                        s.sent - s.written.min(s.sent)
                    ));
                    r.udp.push(s);
                }
                Err(e) => fail(&mut r, format!("udp | {} | full speed", k.name()), e),
            }
        }
        let best = r
            .udp
            .iter()
            .find(|s| s.kind == Kind::Rsyslog)
            .map(|s| s.written_per_sec);
        if let Some(rate) = best.filter(|r| r.is_finite() && *r > 0.0) {
            for &k in &plan.collectors {
                match udp_run(env, k, plan.udp_lines, Some(rate)) {
                    Ok(s) => {
                        say(&format!(
                            "udp | {} | at {:.0}/s: written {:.0}/s, lost {}",
                            k.name(),
                            rate,
                            s.written_per_sec,
                            s.sent - s.written.min(s.sent)
                        ));
                        r.udp.push(s);
                    }
                    Err(e) => fail(&mut r, format!("udp | {} | paced", k.name()), e),
                }
            }
        }
    }
    if plan.scenarios.contains(&Extra::Churn) {
        for tls in [false, true] {
            for &k in &plan.collectors {
                match churn_run(env, k, tls, plan) {
                    Ok(s) => {
                        say(&format!(
                            "churn | {} | {}: {:.0} connections/s, {} failed, {} of {} lines written",
                            k.name(),
                            transport(tls),
                            s.per_sec,
                            s.failed,
                            s.written,
                            s.connections
                        ));
                        r.churn.push(s);
                    }
                    Err(e) => fail(
                        &mut r,
                        format!("churn | {} | {}", k.name(), transport(tls)),
                        e,
                    ),
                }
            }
        }
    }
    if plan.scenarios.contains(&Extra::Idle) {
        for tls in [false, true] {
            for &k in &plan.collectors {
                match idle_run(env, k, tls, plan) {
                    Ok(s) => {
                        say(&format!(
                            "idle | {} | {}: {} connections ({} failed), peak RSS {} MiB, idle CPU {:?}",
                            k.name(),
                            transport(tls),
                            s.connections,
                            s.failed,
                            mib(s.peak_rss),
                            s.idle_cpu
                        ));
                        r.idle.push(s);
                    }
                    Err(e) => fail(
                        &mut r,
                        format!("idle | {} | {}", k.name(), transport(tls)),
                        e,
                    ),
                }
            }
        }
    }
    r
}

fn transport(tls: bool) -> &'static str {
    if tls {
        "TLS"
    } else {
        "plain"
    }
}

/// The extra scenarios' tables, in Markdown (empty when none ran).
pub fn report(plan: &ExtraPlan, r: &ExtraResults) -> String {
    let mut t = String::new();
    if !r.udp.is_empty() {
        let _ = write!(
            t,
            "\n### UDP: {} datagrams of {} bytes per run\n\n\
             | collector | sender | sent lines/s | written lines/s | vs rsyslog | written | lost | lost % | CPU µs/line | peak RSS MiB |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            plan.udp_lines,
            LINE_SIZE - 1
        );
        for paced in [false, true] {
            let rows: Vec<&UdpSample> =
                r.udp.iter().filter(|s| s.pace.is_some() == paced).collect();
            let rs = rows
                .iter()
                .find(|s| s.kind == Kind::Rsyslog)
                .map(|s| s.written_per_sec);
            for s in rows {
                let lost = s.sent - s.written.min(s.sent);
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | {} | {} | {} | {} | {:.1}% | {:.2} | {} |",
                    s.kind.name(),
                    match s.pace {
                        None => "full speed".to_string(),
                        Some(p) => format!("at rsyslog's best ({})", fmt_rate(p)),
                    },
                    fmt_rate(s.sent_per_sec),
                    fmt_rate(s.written_per_sec),
                    ratio(s.written_per_sec, rs),
                    s.written,
                    lost,
                    100.0 * lost as f64 / s.sent.max(1) as f64,
                    s.cpu_us_per_line,
                    mib(s.peak_rss)
                );
            }
        }
    }
    if !r.churn.is_empty() {
        let _ = write!(
            t,
            "\n### Connection churn: one line per connection (connect, send, close), {} workers for {} s\n\n\
             | collector | transport | connections/s | vs rsyslog | connections | failed | lines written | CPU µs/connection | peak RSS MiB |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
            plan.churn_workers, plan.churn_seconds
        );
        for tls in [false, true] {
            let rows: Vec<&ChurnSample> = r.churn.iter().filter(|s| s.tls == tls).collect();
            let rs = rows
                .iter()
                .find(|s| s.kind == Kind::Rsyslog)
                .map(|s| s.per_sec);
            for s in rows {
                let _ = writeln!(
                    t,
                    "| {} | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} |",
                    s.kind.name(),
                    transport(tls),
                    s.per_sec,
                    ratio(s.per_sec, rs),
                    s.connections,
                    s.failed,
                    s.written,
                    s.cpu_us_per_conn,
                    mib(s.peak_rss)
                );
            }
        }
    }
    if !r.idle.is_empty() {
        let _ = write!(
            t,
            "\n### Idle connections: {} at once (from {} source addresses), one line each, then {} s idle\n\n\
             | collector | transport | connections | failed | set-up s | peak RSS MiB | idle CPU ms | idle CPU % of a core | lines written |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
            plan.idle_connections, plan.source_addresses, plan.idle_seconds
        );
        for s in &r.idle {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {:.1} | {} | {:.0} | {:.2}% | {} |",
                s.kind.name(),
                transport(s.tls),
                s.connections,
                s.failed,
                s.setup_seconds,
                mib(s.peak_rss),
                s.idle_cpu.as_secs_f64() * 1e3,
                s.idle_cpu_percent(),
                s.written
            );
        }
    }
    t
}

/// The extra scenarios' targets, as `(result, what)` rows of the Targets table.
pub fn targets(r: &ExtraResults) -> Vec<(Option<bool>, String)> {
    let mut v = Vec::new();
    if !r.udp.is_empty() {
        let full = |k: Kind| r.udp.iter().find(|s| s.kind == k && s.pace.is_none());
        let (o, rs) = (full(Kind::Ours), full(Kind::Rsyslog));
        let lost = |s: &UdpSample| s.sent - s.written.min(s.sent);
        v.push((
            o.zip(rs).map(|(o, r)| {
                o.written_per_sec >= 5.0 * r.written_per_sec && (lost(o) == 0 || lost(o) < lost(r))
            }),
            format!(
                "UDP at full speed: ≥ 5× rsyslog's imudp lines/s with fewer losses (is {}, lost {} vs {})",
                o.zip(rs).map_or("-".into(), |(o, r)| ratio(
                    o.written_per_sec,
                    Some(r.written_per_sec)
                )),
                o.map_or("-".into(), |s| lost(s).to_string()),
                rs.map_or("-".into(), |s| lost(s).to_string()),
            ),
        ));
    }
    for (tls, need) in [(false, 3.0), (true, 2.0)] {
        let get = |k: Kind| r.churn.iter().find(|s| s.kind == k && s.tls == tls);
        let (o, rs) = (get(Kind::Ours), get(Kind::Rsyslog));
        if o.is_none() && rs.is_none() {
            continue;
        }
        v.push((
            o.zip(rs).map(|(o, r)| o.per_sec >= need * r.per_sec),
            format!(
                "churn, {}: ≥ {need}× rsyslog's connections/s (is {})",
                transport(tls),
                o.zip(rs)
                    .map_or("-".into(), |(o, r)| ratio(o.per_sec, Some(r.per_sec)))
            ),
        ));
    }
    for (tls, limit) in [(false, 64u64), (true, 160)] {
        let Some(o) = r.idle.iter().find(|s| s.kind == Kind::Ours && s.tls == tls) else {
            continue;
        };
        v.push((
            Some(o.peak_rss < limit << 20),
            format!(
                "idle, {} {} connections: peak RSS under {limit} MiB (is {} MiB)",
                o.connections,
                transport(tls),
                mib(o.peak_rss)
            ),
        ));
        // "No measurable CPU": at most one clock tick (10 ms) per 10 s idle.
        v.push((
            Some(o.idle_cpu_percent() <= 0.1),
            format!(
                "idle, {} {} connections: no measurable CPU while idle, ≤ 0.1% of a core (is {:.0} ms in {:.0} s, {:.2}%)",
                o.connections,
                transport(tls),
                o.idle_cpu.as_secs_f64() * 1e3,
                o.idle_seconds,
                o.idle_cpu_percent()
            ),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenarios() {
        let s =
            |v: &[&str]| parse_extras(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), false);
        assert_eq!(s(&[""]).unwrap(), vec![]);
        assert_eq!(s(&["auto"]).unwrap(), vec![]);
        let auto = parse_extras(&["auto".to_string()], true).unwrap();
        assert_eq!(auto, Extra::ALL.to_vec());
        assert_eq!(
            s(&["udp", "idle10k"]).unwrap(),
            vec![Extra::Udp, Extra::Idle]
        );
        assert_eq!(s(&["all"]).unwrap(), Extra::ALL.to_vec());
        assert!(s(&["idle"]).unwrap_err().contains("unknown scenario"));
    }

    #[test]
    fn lines_have_the_size_and_sources_stay_in_loopback() {
        let l = line(42, "udp");
        assert_eq!(l.len(), LINE_SIZE - 1);
        assert!(l.starts_with(b"<13>bench udp 000000000042 x"));
        assert_eq!(&l[14..26], b"000000000042");
        assert_eq!(source(0, 16), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source(17, 16), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(source(5, 0), Ipv4Addr::new(127, 0, 0, 2));
    }

    fn plan() -> ExtraPlan {
        ExtraPlan {
            scenarios: Extra::ALL.to_vec(),
            collectors: vec![Kind::Ours, Kind::Rsyslog],
            udp_lines: 1000,
            churn_seconds: 5.0,
            churn_workers: 8,
            idle_connections: 10_000,
            idle_seconds: 10.0,
            source_addresses: 16,
        }
    }

    #[test]
    fn report_and_targets() {
        let udp = |kind, written_per_sec, written| UdpSample {
            kind,
            pace: None,
            sent: 1000,
            sent_per_sec: 2e6,
            written,
            written_per_sec,
            cpu_us_per_line: 0.5,
            peak_rss: 8 << 20,
        };
        let churn = |kind, tls, per_sec| ChurnSample {
            kind,
            tls,
            connections: 100,
            failed: 0,
            per_sec,
            written: 100,
            cpu_us_per_conn: 20.0,
            peak_rss: 8 << 20,
        };
        let idle = |tls, mb: u64, ms| IdleSample {
            kind: Kind::Ours,
            tls,
            connections: 10_000,
            failed: 0,
            setup_seconds: 2.0,
            peak_rss: mb << 20,
            idle_seconds: 10.0,
            idle_cpu: Duration::from_millis(ms),
            written: 10_000,
        };
        let r = ExtraResults {
            udp: vec![udp(Kind::Ours, 1e6, 1000), udp(Kind::Rsyslog, 1e5, 900)],
            churn: vec![
                churn(Kind::Ours, false, 9000.0),
                churn(Kind::Rsyslog, false, 2000.0),
                churn(Kind::Ours, true, 1000.0),
                churn(Kind::Rsyslog, true, 800.0),
            ],
            idle: vec![idle(false, 40, 0), idle(true, 200, 50)],
            errors: vec![],
        };
        let t = report(&plan(), &r);
        assert!(
            t.contains(
                "| ours | full speed | 2.00 M | 1.00 M | 10.00× | 1000 | 0 | 0.0% | 0.50 | 8.0 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| rsyslog | full speed | 2.00 M | 100 k | 1.00× | 900 | 100 | 10.0% |"),
            "{t}"
        );
        assert!(
            t.contains("| ours | plain | 9000 | 4.50× | 100 | 0 | 100 | 20 | 8.0 |"),
            "{t}"
        );
        assert!(
            t.contains("| ours | TLS | 10000 | 0 | 2.0 | 200.0 | 50 | 0.50% | 10000 |"),
            "{t}"
        );
        let g = targets(&r);
        let find = |s: &str| g.iter().find(|(_, w)| w.contains(s)).unwrap().0;
        assert_eq!(find("UDP at full speed"), Some(true));
        assert_eq!(find("churn, plain"), Some(true));
        assert_eq!(find("churn, TLS"), Some(false));
        assert_eq!(find("TLS connections: peak RSS under 160"), Some(false));
        assert_eq!(find("plain connections: peak RSS under 64"), Some(true));
        assert_eq!(find("plain connections: no measurable CPU"), Some(true));
        assert_eq!(find("TLS connections: no measurable CPU"), Some(false));
        assert!(targets(&ExtraResults::default()).is_empty());
    }
}

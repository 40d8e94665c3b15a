//! `bench-peers`: the comparison driver. With one command it installs the peers
//! if missing, then measures our collector against rsyslog, syslog-ng,
//! pysyslog 0.1.0 and a raw socket-to-file copier, in the same run and
//! interleaved (A B C A B C ...), and prints Markdown tables.
//!
//! - [`collector`]: each collector's configuration, start and stop (by PID).
//! - [`procstat`]: CPU time and peak RSS of a process tree, from `/proc`.
//! - [`copier`]: the raw copier (the `bench-peers copier` mode).
//! - [`latency`]: probe lines timed from socket to file.
//! - [`kafka`]: the kafka scenario (a broker, its ceiling, lines read back).
//! - [`parse`]: the parse scenario (RFC 5424 and 3164 lines, parsed fields
//!   written, against ours without parsing and the peers' parsers).
//! - [`dynfile`]: the dynfile scenario (1,000 senders, a file each).
//! - [`json`]: the json scenario (the parse scenario's lines written as
//!   JSON objects).
//! - [`outage`]: the outage scenario (a forwarding target down for a while,
//!   the disk backlogs of ours, rsyslog and syslog-ng).
//!
//! One run of one collector: a fresh collector on a free loopback port with
//! its own directory; `pysyslog-flood --json --verify` sends the lines and
//! follows the output file until every line is there; throughput is lines over
//! the time from the first line sent to the last line readable in the file;
//! CPU is the user + system time the collector's process tree used meanwhile;
//! peak RSS is the sum of `VmHWM` over its processes; then it is stopped and
//! its directory removed.

pub mod chart;
pub mod collector;
pub mod copier;
pub mod dynfile;
pub mod json;
pub mod kafka;
pub mod latency;
pub mod outage;
pub mod parse;
pub mod procstat;
pub mod scenarios;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use collector::{Env, Kind};

/// Bytes per line on the wire (LF included).
pub const LINE_SIZE: usize = 120;

/// A scenario: how many connections, plain TCP or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scenario {
    pub connections: u32,
    pub tls: bool,
}

impl Scenario {
    pub fn label(&self) -> String {
        format!(
            "{}, {} connection{}",
            if self.tls { "TLS" } else { "plain TCP" },
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        )
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub lines: u64,
    pub seconds: f64,
    pub lines_per_sec: f64,
    pub mb_per_sec: f64,
    pub cpu_us_per_line: f64,
    pub peak_rss: u64,
    pub lost: u64,
    pub duplicated: u64,
}

/// What the driver is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub collectors: Vec<Kind>,
    pub connections: Vec<u32>,
    pub transports: Vec<bool>,
    pub runs: usize,
    pub lines: u64,
    pub pysyslog_lines: u64,
    pub scaling_connections: Vec<u32>,
    pub scaling_collectors: Vec<Kind>,
    pub latency_collectors: Vec<Kind>,
    pub latency_probes: usize,
    pub latency_interval: Duration,
    pub verify_timeout: f64,
    /// The extra scenarios (udp, churn, idle10k); none when its list is empty.
    pub extra: scenarios::ExtraPlan,
    /// Collectors the opt-in scenarios run besides (parse, dynfile, json):
    /// installed if missing and named in the header.
    pub opt_in_collectors: Vec<Kind>,
}

impl Plan {
    /// Every collector the plan starts, in any table (with repeats).
    pub fn all_collectors(&self) -> Vec<Kind> {
        self.collectors
            .iter()
            .chain(&self.scaling_collectors)
            .chain(&self.latency_collectors)
            .chain(if self.extra.scenarios.is_empty() {
                &[][..]
            } else {
                &self.extra.collectors[..]
            })
            .chain(&self.opt_in_collectors)
            .copied()
            .collect()
    }
}

/// Everything measured, for the tables and the targets.
#[derive(Debug, Default)]
pub struct Results {
    pub compare: HashMap<(Kind, Scenario), Vec<Sample>>,
    pub scaling: HashMap<(Kind, Scenario), Vec<Sample>>,
    pub latency: Vec<(Kind, String, latency::Probes)>,
    pub extra: scenarios::ExtraResults,
    pub errors: Vec<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Medians (and totals) over the runs of one collector in one scenario.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub runs: usize,
    pub lines: u64,
    pub lines_per_sec: f64,
    pub min_lps: f64,
    pub max_lps: f64,
    pub mb_per_sec: f64,
    pub cpu_us_per_line: f64,
    pub peak_rss: u64,
    pub lost: u64,
    pub duplicated: u64,
}

pub fn summarize(s: &[Sample]) -> Option<Summary> {
    if s.is_empty() {
        return None;
    }
    let lps: Vec<f64> = s.iter().map(|x| x.lines_per_sec).collect();
    Some(Summary {
        runs: s.len(),
        lines: s[0].lines,
        lines_per_sec: median(lps.clone()),
        min_lps: lps.iter().copied().fold(f64::INFINITY, f64::min),
        max_lps: lps.iter().copied().fold(0.0, f64::max),
        mb_per_sec: median(s.iter().map(|x| x.mb_per_sec).collect()),
        cpu_us_per_line: median(s.iter().map(|x| x.cpu_us_per_line).collect()),
        peak_rss: s.iter().map(|x| x.peak_rss).max().unwrap_or(0),
        lost: s.iter().map(|x| x.lost).sum(),
        duplicated: s.iter().map(|x| x.duplicated).sum(),
    })
}

/// A free loopback port (bound, then released for the collector).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn run_dir(env: &Env, tag: &str) -> Result<PathBuf, String> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = env
        .work
        .join(format!("run-{}-{n}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The flood's JSON report.
fn flood(
    env: &Env,
    port: u16,
    sc: Scenario,
    per_conn: u64,
    verify: Option<(&Path, f64)>,
    rate: Option<f64>,
) -> Command {
    let mut cmd = Command::new(env.bin_dir.join("pysyslog-flood"));
    cmd.arg("--json")
        .arg("-c")
        .arg(sc.connections.to_string())
        .arg("-n")
        .arg(per_conn.to_string())
        .arg("-s")
        .arg(LINE_SIZE.to_string());
    if let Some((out, timeout)) = verify {
        cmd.arg("--verify")
            .arg(out)
            .arg("--verify-timeout")
            .arg(timeout.to_string());
    }
    if let Some(r) = rate {
        cmd.arg("--rate").arg(r.to_string());
    }
    if sc.tls {
        cmd.arg("--ca").arg(env.tls_file("ca.pem"));
    }
    cmd.arg("127.0.0.1").arg(port.to_string());
    cmd.stdin(Stdio::null());
    cmd
}

/// Measure one run of `kind` in `sc` with `lines` lines in all.
pub fn measure(
    env: &Env,
    kind: Kind,
    sc: Scenario,
    lines: u64,
    verify_timeout: f64,
) -> Result<Sample, String> {
    let dir = run_dir(env, kind.name())?;
    let result = measure_in(
        env,
        kind,
        sc,
        lines,
        verify_timeout,
        &dir,
        collector::Output::Usual,
        &[],
    );
    let _ = fs::remove_dir_all(&dir);
    result
}

/// One run in `dir` (left for the caller to look at, then remove; the
/// collector's file is `dir/out.log`): the collector writes `output`, and
/// the flood is given `flood_args` too.
#[allow(clippy::too_many_arguments)]
fn measure_in(
    env: &Env,
    kind: Kind,
    sc: Scenario,
    lines: u64,
    verify_timeout: f64,
    dir: &Path,
    output: collector::Output,
    flood_args: &[&str],
) -> Result<Sample, String> {
    let port = free_port()?;
    let setup = collector::Setup {
        port,
        tls: sc.tls,
        max_connections: sc.connections,
        udp: false,
        output,
    };
    let mut c = collector::start(env, kind, dir, &setup)?;
    let pid = c.pid();
    let per_conn = (lines / u64::from(sc.connections)).max(1);
    let before = procstat::CpuSnapshot::of_tree(pid);
    let out = flood(
        env,
        port,
        sc,
        per_conn,
        Some((&c.out, verify_timeout)),
        None,
    )
    .args(flood_args)
    .stderr(Stdio::piped())
    .output()
    .map_err(|e| format!("cannot run pysyslog-flood: {e}"))?;
    let cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
    let rss = procstat::tree_peak_rss(pid);
    let alive = c.alive();
    let log = c.log_text();
    c.stop();
    let j = flood_report(&out, &log)?;
    if !alive {
        return Err(format!("{} died during the run:\n{log}", kind.name()));
    }
    let num = |k: &str| j[k].as_f64().unwrap_or(0.0);
    let received = num("received");
    let expected = num("expected");
    let seconds = j["complete_seconds"]
        .as_f64()
        .unwrap_or_else(|| num("seconds"));
    let bytes_in = received * LINE_SIZE as f64;
    Ok(Sample {
        lines: expected as u64,
        seconds,
        lines_per_sec: received / seconds,
        mb_per_sec: bytes_in / seconds / 1e6,
        cpu_us_per_line: cpu.as_secs_f64() * 1e6 / received.max(1.0),
        peak_rss: rss,
        lost: num("lost") as u64,
        duplicated: num("duplicated") as u64,
    })
}

pub fn say(msg: &str) {
    eprintln!("bench-peers: {msg}");
}

/// Measure every collector in every scenario, interleaved: for each scenario,
/// `runs` rounds of one run per collector.
fn interleaved(
    env: &Env,
    kinds: &[Kind],
    scenarios: &[Scenario],
    plan: &Plan,
    into: &mut HashMap<(Kind, Scenario), Vec<Sample>>,
    errors: &mut Vec<String>,
) {
    for &sc in scenarios {
        for run in 1..=plan.runs {
            for &kind in kinds {
                let lines = if kind == Kind::Pysyslog {
                    plan.pysyslog_lines
                } else {
                    plan.lines
                };
                let lines = lines.max(u64::from(sc.connections));
                let t = Instant::now();
                match measure(env, kind, sc, lines, plan.verify_timeout) {
                    Ok(s) => {
                        say(&format!(
                            "{} | {} | run {run}/{}: {:.0} lines/s, {:.2} µs CPU/line, {:.1} MiB, lost {}, dup {} ({:.1} s)",
                            sc.label(),
                            kind.name(),
                            plan.runs,
                            s.lines_per_sec,
                            s.cpu_us_per_line,
                            s.peak_rss as f64 / 1048576.0,
                            s.lost,
                            s.duplicated,
                            t.elapsed().as_secs_f64()
                        ));
                        into.entry((kind, sc)).or_default().push(s);
                    }
                    Err(e) => {
                        let e = format!("{} | {} | run {run}: {e}", sc.label(), kind.name());
                        say(&e);
                        errors.push(e);
                    }
                }
            }
        }
    }
}

/// Run the whole plan.
pub fn run(env: &Env, plan: &Plan) -> Results {
    let mut r = Results::default();
    let scenarios: Vec<Scenario> = plan
        .transports
        .iter()
        .flat_map(|&tls| {
            plan.connections
                .iter()
                .map(move |&connections| Scenario { connections, tls })
        })
        .collect();
    if !plan.collectors.is_empty() {
        interleaved(
            env,
            &plan.collectors,
            &scenarios,
            plan,
            &mut r.compare,
            &mut r.errors,
        );
    }
    if !plan.scaling_collectors.is_empty() {
        let sc: Vec<Scenario> = plan
            .scaling_connections
            .iter()
            .map(|&connections| Scenario {
                connections,
                tls: false,
            })
            .collect();
        let mut scaling = HashMap::new();
        interleaved(
            env,
            &plan.scaling_collectors,
            &sc,
            plan,
            &mut scaling,
            &mut r.errors,
        );
        r.scaling = scaling;
    }
    for &kind in &plan.latency_collectors {
        for loaded in [false, true] {
            match latency_run(env, kind, loaded, plan, &r) {
                Ok((label, p)) => {
                    say(&format!(
                        "latency | {} | {label}: median {:?}, p99 {:?}, lost {}",
                        kind.name(),
                        p.quantile(0.5).unwrap_or_default(),
                        p.quantile(0.99).unwrap_or_default(),
                        p.lost
                    ));
                    r.latency.push((kind, label, p));
                }
                Err(e) => {
                    let e = format!("latency | {}: {e}", kind.name());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    if !plan.extra.scenarios.is_empty() && !plan.extra.collectors.is_empty() {
        r.extra = scenarios::run(env, &plan.extra);
        r.errors.append(&mut r.extra.errors);
    }
    r
}

/// The plain 4-connection throughput of `kind`: measured earlier in this run,
/// or now (two runs).
fn known_throughput(env: &Env, kind: Kind, plan: &Plan, r: &Results) -> Result<f64, String> {
    let sc = Scenario {
        connections: 4,
        tls: false,
    };
    if let Some(s) = r.compare.get(&(kind, sc)).and_then(|s| summarize(s)) {
        return Ok(s.lines_per_sec);
    }
    let mut v = Vec::new();
    for _ in 0..2 {
        v.push(measure(env, kind, sc, plan.lines, plan.verify_timeout)?.lines_per_sec);
    }
    Ok(median(v))
}

fn latency_run(
    env: &Env,
    kind: Kind,
    loaded: bool,
    plan: &Plan,
    r: &Results,
) -> Result<(String, latency::Probes), String> {
    let rate = if loaded {
        Some(known_throughput(env, kind, plan, r)? / 2.0)
    } else {
        None
    };
    let dir = run_dir(env, &format!("latency-{}", kind.name()))?;
    let port = free_port()?;
    let setup = collector::Setup {
        port,
        tls: false,
        max_connections: 8,
        udp: false,
        output: collector::Output::Usual,
    };
    let result = (|| {
        let mut c = collector::start(env, kind, &dir, &setup)?;
        let probe_time = plan.latency_interval * plan.latency_probes as u32;
        let mut load = match rate {
            None => None,
            Some(rate) => {
                let secs = probe_time.as_secs_f64() + 1.5;
                let per_conn = ((rate * secs) / 4.0).ceil() as u64;
                let sc = Scenario {
                    connections: 4,
                    tls: false,
                };
                let child = flood(env, port, sc, per_conn, None, Some(rate))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("cannot run pysyslog-flood: {e}"))?;
                std::thread::sleep(Duration::from_millis(500));
                Some(child)
            }
        };
        let id = format!("{:x}", std::process::id());
        let p = latency::probe(
            port,
            &c.out,
            &id,
            plan.latency_probes,
            plan.latency_interval,
        );
        if let Some(l) = load.as_mut() {
            // The flood is ours: wait for it (it ends by itself), kill it if stuck.
            let deadline = Instant::now() + Duration::from_secs(60);
            while matches!(l.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = l.kill();
            let _ = l.wait();
        }
        c.stop();
        let label = match rate {
            None => "idle".to_string(),
            Some(r) => format!("half load ({:.2} M lines/s)", r / 1e6),
        };
        p.map(|p| (label, p))
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}

/// `a / b` as a factor (`2.03×`), or `-` when there is no `b`.
fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "-".into(),
    }
}

/// An opt-in scenario's targets table (`(result, what)` rows) and its errors.
fn write_targets(
    t: &mut String,
    scenario: &str,
    targets: &[(Option<bool>, String)],
    errors: &[String],
) {
    use std::fmt::Write as _;
    let _ = write!(t, "\n| target ({scenario}) | result |\n|---|---|\n");
    for (ok, what) in targets {
        let mark = match ok {
            Some(true) => "holds",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(t, "| {what} | {mark} |");
    }
    if !errors.is_empty() {
        t.push_str("\nErrors:\n\n");
        for e in errors {
            let _ = writeln!(t, "- {}", e.replace('\n', " / "));
        }
    }
}

fn fmt_rate(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else {
        format!("{:.0} k", v / 1e3)
    }
}

fn fmt_ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "-".into(),
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1048576.0)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
}

/// The whole report, in Markdown.
pub fn report(plan: &Plan, r: &Results, header: &str) -> String {
    let mut t = String::new();
    t.push_str(header);
    let mut scenarios: Vec<Scenario> = r.compare.keys().map(|k| k.1).collect();
    scenarios.sort_by_key(|s| (s.tls, s.connections));
    scenarios.dedup();
    for sc in &scenarios {
        let get = |k: Kind| r.compare.get(&(k, *sc)).and_then(|s| summarize(s));
        let rs = get(Kind::Rsyslog).map(|s| s.lines_per_sec);
        let cp = get(Kind::Copier).map(|s| s.lines_per_sec);
        let _ = writeln!(t, "\n### {}\n", sc.label());
        t.push_str(
            "| collector | lines per run | runs | lines/s (median) | min-max | MB/s | vs rsyslog | vs copier | CPU µs/line | peak RSS MiB | lost | dup |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for &k in &plan.collectors {
            let Some(s) = get(k) else { continue };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {}-{} | {:.0} | {} | {} | {:.2} | {} | {} | {} |",
                k.name(),
                s.lines,
                s.runs,
                fmt_rate(s.lines_per_sec),
                fmt_rate(s.min_lps),
                fmt_rate(s.max_lps),
                s.mb_per_sec,
                fmt_ratio(s.lines_per_sec, rs),
                match cp {
                    Some(c) if c > 0.0 => format!("{:.0}%", 100.0 * s.lines_per_sec / c),
                    _ => "-".into(),
                },
                s.cpu_us_per_line,
                mib(s.peak_rss),
                s.lost,
                s.duplicated
            );
        }
    }
    if !r.scaling.is_empty() {
        t.push_str("\n### Scaling (plain TCP): lines/s and CPU µs per line\n\n| connections |");
        for k in &plan.scaling_collectors {
            let _ = write!(
                t,
                " {0} lines/s | {0} CPU µs/line | {0} peak RSS MiB |",
                k.name()
            );
        }
        t.push_str("\n|---:|");
        for _ in &plan.scaling_collectors {
            t.push_str("---:|---:|---:|");
        }
        t.push('\n');
        for &c in &plan.scaling_connections {
            let sc = Scenario {
                connections: c,
                tls: false,
            };
            let _ = write!(t, "| {c} |");
            for &k in &plan.scaling_collectors {
                match r.scaling.get(&(k, sc)).and_then(|s| summarize(s)) {
                    Some(s) => {
                        let _ = write!(
                            t,
                            " {} | {:.2} | {} |",
                            fmt_rate(s.lines_per_sec),
                            s.cpu_us_per_line,
                            mib(s.peak_rss)
                        );
                    }
                    None => t.push_str(" - | - | - |"),
                }
            }
            t.push('\n');
        }
    }
    if !r.latency.is_empty() {
        let _ = write!(
            t,
            "\n### Latency: line written to the socket -> readable in the file ({} probes, {} ms apart on average)\n\n\
             | collector | load | median ms | p99 ms | max ms | lost |\n|---|---|---:|---:|---:|---:|\n",
            plan.latency_probes,
            plan.latency_interval.as_millis()
        );
        for (k, label, p) in &r.latency {
            let _ = writeln!(
                t,
                "| {} | {label} | {} | {} | {} | {} |",
                k.name(),
                ms(p.quantile(0.5)),
                ms(p.quantile(0.99)),
                ms(p.quantile(1.0)),
                p.lost
            );
        }
    }
    t.push_str(&scenarios::report(&plan.extra, &r.extra));
    // A run of an opt-in scenario alone (kafka, parse, dynfile, json) has
    // its own targets.
    let planned = !(plan.collectors.is_empty()
        && plan.scaling_collectors.is_empty()
        && plan.latency_collectors.is_empty()
        && (plan.extra.scenarios.is_empty() || plan.extra.collectors.is_empty()));
    if planned {
        t.push_str(&targets(r));
    }
    if !r.errors.is_empty() {
        t.push_str("\n### Errors\n\n");
        for e in &r.errors {
            let _ = writeln!(t, "- {}", e.replace('\n', " / "));
        }
    }
    t
}

/// The issue's targets, checked against what was measured.
fn targets(r: &Results) -> String {
    let mut t = String::new();
    let mut line = |ok: Option<bool>, what: String| {
        let mark = match ok {
            Some(true) => "holds",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(t, "| {what} | {mark} |");
    };
    let get = |k: Kind, connections: u32, tls: bool| {
        r.compare
            .get(&(k, Scenario { connections, tls }))
            .and_then(|s| summarize(s))
    };
    for tls in [false, true] {
        for c in [4, 100] {
            let (o, rs, cp) = (
                get(Kind::Ours, c, tls),
                get(Kind::Rsyslog, c, tls),
                get(Kind::Copier, c, tls),
            );
            let need = if tls { 3.0 } else { 4.0 };
            let label = Scenario {
                connections: c,
                tls,
            }
            .label();
            line(
                o.zip(rs)
                    .map(|(o, r)| o.lines_per_sec >= need * r.lines_per_sec),
                format!(
                    "{label}: ≥ {need}× rsyslog lines/s (is {})",
                    o.zip(rs).map_or("-".into(), |(o, r)| fmt_ratio(
                        o.lines_per_sec,
                        Some(r.lines_per_sec)
                    ))
                ),
            );
            if !tls {
                line(
                    o.zip(cp)
                        .map(|(o, c)| o.lines_per_sec >= 0.4 * c.lines_per_sec),
                    format!(
                        "{label}: ≥ 40% of the raw copier (is {})",
                        o.zip(cp).map_or("-".into(), |(o, c)| format!(
                            "{:.0}%",
                            100.0 * o.lines_per_sec / c.lines_per_sec
                        ))
                    ),
                );
            }
            line(
                o.zip(rs)
                    .map(|(o, r)| o.cpu_us_per_line <= r.cpu_us_per_line / 4.0),
                format!(
                    "{label}: CPU per line ≤ 1/4 of rsyslog's (is {})",
                    o.zip(rs).map_or("-".into(), |(o, r)| format!(
                        "{:.2} vs {:.2} µs",
                        o.cpu_us_per_line, r.cpu_us_per_line
                    ))
                ),
            );
            if c == 100 {
                let ng = get(Kind::SyslogNg, c, tls);
                line(
                    o.zip(ng).map(|(o, n)| o.peak_rss < n.peak_rss),
                    format!(
                        "{label}: peak RSS below syslog-ng's (is {})",
                        o.zip(ng).map_or("-".into(), |(o, n)| format!(
                            "{} vs {} MiB",
                            mib(o.peak_rss),
                            mib(n.peak_rss)
                        ))
                    ),
                );
                line(
                    o.zip(rs).map(|(o, r)| o.peak_rss * 4 <= r.peak_rss),
                    format!(
                        "{label}: peak RSS ≤ 1/4 of rsyslog's (is {})",
                        o.zip(rs).map_or("-".into(), |(o, r)| format!(
                            "{} vs {} MiB",
                            mib(o.peak_rss),
                            mib(r.peak_rss)
                        ))
                    ),
                );
            }
        }
    }
    let idle = r
        .latency
        .iter()
        .find(|(k, l, _)| *k == Kind::Ours && l == "idle")
        .and_then(|(_, _, p)| p.quantile(0.99));
    line(
        idle.map(|d| d <= Duration::from_millis(2)),
        format!("idle line readable within 2 ms p99 (is {} ms)", ms(idle)),
    );
    let ours: Vec<&Sample> = r
        .compare
        .iter()
        .chain(r.scaling.iter())
        .filter(|((k, _), _)| *k == Kind::Ours)
        .flat_map(|(_, v)| v.iter())
        .collect();
    let bad: u64 = ours.iter().map(|s| s.lost + s.duplicated).sum();
    line(
        (!ours.is_empty()).then_some(bad == 0),
        format!(
            "no line lost or duplicated (ours, {} runs: {bad} lost or duplicated)",
            ours.len()
        ),
    );
    for (ok, what) in scenarios::targets(&r.extra) {
        line(ok, what);
    }
    format!("\n### Targets (ours)\n\n| target | result |\n|---|---|\n{t}")
}

/// Lines lost or duplicated by any collector in any run (for `--check-loss`).
pub fn losses(r: &Results) -> u64 {
    r.compare
        .values()
        .chain(r.scaling.values())
        .flatten()
        .map(|s| s.lost + s.duplicated)
        .sum::<u64>()
        + r.latency.iter().map(|(_, _, p)| p.lost as u64).sum::<u64>()
}

/// Make the peers and pysyslog 0.1.0 usable, installing what is missing.
pub fn ensure_installed(env: &Env, kinds: &[Kind], install: bool) -> Result<(), String> {
    let needs_peers = kinds
        .iter()
        .any(|k| matches!(k, Kind::Rsyslog | Kind::SyslogNg));
    if needs_peers {
        let script = env.repo.join("tests/peers/install.sh");
        let ok = |args: &[&str]| {
            Command::new(&script)
                .args(args)
                .env("PYSYSLOG_PEERS", &env.peers)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["--check"]) {
            if !install {
                return Err(format!(
                    "rsyslog/syslog-ng are missing under {} (run without --no-install, as root)",
                    env.peers.display()
                ));
            }
            say("installing rsyslog and syslog-ng (tests/peers/install.sh)");
            if !ok(&[]) {
                return Err("tests/peers/install.sh failed".into());
            }
        }
    }
    if kinds.contains(&Kind::Pysyslog) && !env.pysyslog().exists() {
        if !install {
            return Err(format!(
                "pysyslog 0.1.0 is missing in {} (run without --no-install)",
                env.venv.display()
            ));
        }
        let python = ["python3.11", "python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args([
                        "-c",
                        "import sys, ssl; sys.exit(not hasattr(ssl, 'wrap_socket'))",
                    ])
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .ok_or("pysyslog 0.1.0 needs Python ≤ 3.11 (ssl.wrap_socket): none found")?;
        say(&format!(
            "installing pysyslog 0.1.0 into {} ({python})",
            env.venv.display()
        ));
        let run = |cmd: &mut Command| {
            cmd.status()
                .map_err(|e| e.to_string())
                .and_then(|s| s.success().then_some(()).ok_or(s.to_string()))
        };
        run(Command::new(python).arg("-m").arg("venv").arg(&env.venv))
            .map_err(|e| format!("python venv: {e}"))?;
        run(Command::new(env.venv.join("bin/pip")).args([
            "install",
            "-q",
            "pysyslog==0.1.0",
            "click",
        ]))
        .map_err(|e| format!("pip install pysyslog==0.1.0 click: {e}"))?;
    }
    Ok(())
}

/// First line of a command's output (for versions).
fn first_line(cmd: &mut Command) -> String {
    cmd.stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Date, machine and versions, as a Markdown paragraph.
pub fn header(env: &Env, plan: &Plan, took: Option<Duration>) -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]));
    let kernel = first_line(Command::new("uname").arg("-r"));
    let load = fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut versions = vec![format!("ours {}", env!("CARGO_PKG_VERSION"))];
    let all = plan.all_collectors();
    if all.contains(&Kind::Rsyslog) {
        let v = first_line(Command::new(env.rsyslogd()).arg("-v"));
        let v = v.split(" compiled").next().unwrap_or("");
        versions.push(v.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if all.contains(&Kind::SyslogNg) {
        versions.push(first_line(
            Command::new(env.syslog_ng())
                .env("LD_LIBRARY_PATH", env.syslog_ng_libs())
                .arg("-V"),
        ));
    }
    if all.contains(&Kind::Pysyslog) {
        let py = first_line(Command::new(env.venv.join("bin/python")).arg("--version"));
        versions.push(format!("pysyslog 0.1.0 ({py})"));
    }
    // The runs and lines of the comparison, scaling and latency tables (an
    // opt-in scenario alone names its own in its table).
    let runs = if plan.collectors.is_empty()
        && plan.scaling_collectors.is_empty()
        && plan.latency_collectors.is_empty()
    {
        String::new()
    } else {
        format!(
            ", {} lines per run{}, {} runs per collector, interleaved; medians",
            plan.lines,
            if all.contains(&Kind::Pysyslog) {
                format!(" ({} for pysyslog)", plan.pysyslog_lines)
            } else {
                String::new()
            },
            plan.runs,
        )
    };
    let mut h = format!(
        "## Benchmark {date}\n\n\
         Machine: {cores} cores ({cpu}), Linux {kernel}, load average at the end {load}. \
         Loopback, {LINE_SIZE}-byte lines (LF){runs}. Versions: {}.\n",
        versions.join("; ")
    );
    if let Some(d) = took {
        let _ = writeln!(
            h,
            "\nThe whole run took {:.0} s ({:.1} min).",
            d.as_secs_f64(),
            d.as_secs_f64() / 60.0
        );
    }
    h
}

/// Raise the open-files limit to its hard limit (1000 connections need it).
pub fn raise_nofile() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// What `pysyslog-flood --json` reported, or why it has nothing to say (with
/// the collector's output, `log`, for the reader of the error).
pub fn flood_report(out: &std::process::Output, log: &str) -> Result<serde_json::Value, String> {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|_| {
        format!(
            "pysyslog-flood failed ({}): {}\ncollector output:\n{log}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn report_has_ratios_and_targets() {
        let sc = Scenario {
            connections: 4,
            tls: false,
        };
        let s = |lps: f64, cpu: f64| Sample {
            lines: 1000,
            seconds: 1.0,
            lines_per_sec: lps,
            mb_per_sec: lps * 120.0 / 1e6,
            cpu_us_per_line: cpu,
            peak_rss: 10 << 20,
            lost: 0,
            duplicated: 0,
        };
        let mut r = Results::default();
        r.compare.insert(
            (Kind::Ours, sc),
            vec![s(4e6, 0.3), s(5e6, 0.2), s(3e6, 0.4)],
        );
        r.compare.insert((Kind::Rsyslog, sc), vec![s(1e6, 1.5)]);
        r.compare.insert((Kind::Copier, sc), vec![s(8e6, 0.1)]);
        let plan = Plan {
            collectors: vec![Kind::Ours, Kind::Rsyslog, Kind::Copier],
            connections: vec![4],
            transports: vec![false],
            runs: 3,
            lines: 1000,
            pysyslog_lines: 100,
            scaling_connections: vec![],
            scaling_collectors: vec![],
            latency_collectors: vec![],
            latency_probes: 0,
            latency_interval: Duration::from_millis(10),
            verify_timeout: 1.0,
            extra: scenarios::ExtraPlan {
                scenarios: vec![],
                collectors: vec![],
                udp_lines: 0,
                churn_seconds: 0.0,
                churn_workers: 0,
                idle_connections: 0,
                idle_seconds: 0.0,
                source_addresses: 1,
            },
            opt_in_collectors: vec![],
        };
        let t = report(&plan, &r, "");
        assert!(
            t.contains("| ours | 1000 | 3 | 4.00 M | 3.00 M-5.00 M | 480 | 4.00× | 50% | 0.30 |"),
            "{t}"
        );
        assert!(t.contains("plain TCP, 4 connections: ≥ 4× rsyslog lines/s (is 4.00×) | holds"));
        assert!(t.contains("≥ 40% of the raw copier (is 50%) | holds"));
        assert!(t.contains("CPU per line ≤ 1/4 of rsyslog's (is 0.30 vs 1.50 µs) | holds"));
        assert_eq!(losses(&r), 0);
    }
}

//! bench-peers' `dynfile` scenario (`--dynfile-runs N`, off by default): a
//! file per sender. `pysyslog-flood --source-addresses 1000 -c 100` sends
//! the lines of 1,000 connections, each from its own loopback address
//! (127.0.1.1 ... 127.0.4.250, see [`source_address`]), 100 at a time: each
//! of the 100 senders sends one connection's lines, closes it, waits until
//! the collector has closed it too and opens the next from a new address,
//! so 10 rounds of 100 connections, 1,000 distinct senders, never more than
//! 100 connections at the collector (without the wait, connections whose
//! lines fit in the socket buffers were done before a slow collector
//! accepted them, its listen queue overflowed and the dropped SYNs' 1-s
//! retransmissions were what was measured: [`listen_overflows`] counts them). The collectors write each
//! line as received to a file named after its sender's address,
//! `senders/ADDRESS.log`:
//!
//! - ours with `pysyslog.handlers.DynamicFileHandler`,
//!   `"filename": "DIR/{name}.log"` (the logger is named after the peer's
//!   address; no parsing) and the format `%(message)s`;
//! - rsyslog with an omfile `dynaFile` template `DIR/%FROMHOST-IP%.log`, its
//!   `dynaFileCacheSize` raised to 1,000, and `%rawmsg%`;
//! - syslog-ng with `file("DIR/$SOURCEIP.log")`, `flags(no-parse)` and
//!   `${MSG}`.
//!
//! Every output line is the line as sent, [`LINE_SIZE`] bytes with its LF,
//! so the run is done when the files hold `lines × LINE_SIZE` bytes
//! together. The flood does not follow the files (it knows one file);
//! bench-peers does, once the flood has sent everything and exited (so the
//! polling takes no CPU from the collector while the sender runs): every
//! millisecond it adds up the files' lengths (`fstat` of each, the directory
//! read again while files are missing). **lines/s** is the lines found over
//! the time from the flood's first line (its `start_unix_s`) to the end of
//! the first pass that saw every byte. Then every file is read: each line
//! of the run must be in the file of the address its connection number
//! maps to, and be the line as sent; lost and duplicated come from the
//! tokens, as the flood counts them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::collector::{self, senders_dir, Kind, Output};
use super::LINE_SIZE;
use super::{
    fmt_rate, free_port, mib, procstat, ratio, run_dir, say, summarize, write_targets, Env, Sample,
    Summary,
};
use crate::flood::payload::{token_needle, Framing, LineFormat};
use crate::flood::sender::{id_of_source, source_address};
use crate::flood::verify::parse_tail;

#[derive(Debug, Clone)]
pub struct DynfilePlan {
    pub runs: usize,
    /// Lines per run, all senders together.
    pub lines: u64,
    /// Distinct senders (source addresses), one connection each.
    pub sources: u32,
    /// Connections open at a time.
    pub connections: u32,
    pub kinds: Vec<Kind>,
    pub verify_timeout: f64,
}

impl DynfilePlan {
    /// Lines each sender sends.
    pub fn lines_per_source(&self) -> u64 {
        (self.lines / u64::from(self.sources.max(1))).max(1)
    }
}

/// The collectors that can run the scenario.
pub fn kinds(collectors: &[Kind]) -> Result<Vec<Kind>, String> {
    for k in collectors {
        if !matches!(k, Kind::Ours | Kind::Rsyslog | Kind::SyslogNg) {
            return Err(format!(
                "{} cannot run the dynfile scenario (ours, rsyslog, syslog-ng)",
                k.name()
            ));
        }
    }
    Ok(collectors.to_vec())
}

/// What reading every file of a run found.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Files named after one of the run's source addresses.
    pub files: u64,
    /// Lines of the run found (duplicates included).
    pub seen: u64,
    /// Distinct lines of the run found.
    pub received: u64,
    pub duplicated: u64,
    /// Lines in another sender's file (or in a file not named after a
    /// sender), and lines not as sent.
    pub wrong_file: u64,
    pub wrong_text: u64,
    /// The first wrong line: where it was, the line, what is wrong.
    pub example: Option<String>,
    /// Listen queue overflows on the machine during the run (see
    /// [`listen_overflows`]).
    pub listen_overflows: Option<u64>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.wrong_file == 0 && self.wrong_text == 0 && self.seen > 0
    }

    fn describe(&self) -> String {
        let mut t = format!(
            "{} files; {} of {} lines in another sender's file, {} not as sent",
            self.files, self.wrong_file, self.seen, self.wrong_text
        );
        if let Some(e) = &self.example {
            let _ = write!(t, "; e.g. {e}");
        }
        t
    }
}

/// Read every file of `dir` and check each line of run `run_id`: `sources`
/// connections of `lines` lines each. Lines without the run's token (a
/// collector's own messages) are left out.
pub fn check_files(dir: &Path, run_id: &str, sources: u32, lines: u64) -> Result<Check, String> {
    let format = LineFormat::new(run_id, LINE_SIZE, Framing::Lf).map_err(|e| e.to_string())?;
    let needle = token_needle(run_id);
    let finder = memchr::memmem::Finder::new(&needle);
    let mut seen = vec![false; (u64::from(sources) * lines) as usize];
    let mut check = Check::default();
    let mut line = Vec::with_capacity(256);
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let owner = name
            .strip_suffix(".log")
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
            .and_then(id_of_source)
            .filter(|&id| id < sources);
        if owner.is_some() {
            check.files += 1;
        }
        let path = entry.path();
        let f = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut r = BufReader::with_capacity(1 << 18, f);
        loop {
            line.clear();
            let got = r
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if got == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let Some(at) = finder.find(&line) else {
                continue;
            };
            let token =
                parse_tail(&line[at + needle.len()..]).filter(|&(c, n)| c < sources && n < lines);
            check.seen += 1;
            let wrong = |what: String, check: &mut Check| {
                if check.example.is_none() {
                    check.example = Some(format!(
                        "{name}: {:?}: {what}",
                        String::from_utf8_lossy(&line)
                    ));
                }
            };
            let Some((c, n)) = token else {
                check.wrong_text += 1;
                wrong("a malformed token".into(), &mut check);
                continue;
            };
            let bit = (u64::from(c) * lines + n) as usize;
            if seen[bit] {
                check.duplicated += 1;
            } else {
                seen[bit] = true;
                check.received += 1;
            }
            if owner != Some(c) {
                check.wrong_file += 1;
                wrong(format!("sent from {}", source_address(c)), &mut check);
            }
            let sent = format.line(c, n);
            if line != sent[..sent.len() - 1] {
                check.wrong_text += 1;
                wrong("not the line as sent".into(), &mut check);
            }
        }
    }
    Ok(check)
}

/// The kernel's count of connections dropped because a listen queue was
/// full (`TcpExt: ListenOverflows` in `/proc/net/netstat`, the whole
/// machine's): a client whose SYN is dropped so retries after a second.
pub fn listen_overflows() -> Option<u64> {
    netstat_value(
        &fs::read_to_string("/proc/net/netstat").ok()?,
        "TcpExt",
        "ListenOverflows",
    )
}

/// A value of `/proc/net/netstat`'s text: a line of names, then one of
/// values, for each prefix.
fn netstat_value(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next()?;
        let Some(names) = names.strip_prefix(prefix).and_then(|n| n.strip_prefix(':')) else {
            continue;
        };
        let values = values.strip_prefix(prefix)?.strip_prefix(':')?;
        let at = names.split_whitespace().position(|n| n == name)?;
        return values.split_whitespace().nth(at)?.parse().ok();
    }
    None
}

/// How following the files ended.
#[derive(Debug, Clone, Copy)]
struct Followed {
    /// When the files held every byte (the end of the pass that saw it), or
    /// when they last grew.
    at: SystemTime,
    bytes: u64,
    complete: bool,
    /// From the flood's exit to the end of the first pass.
    first_pass: Duration,
}

/// Follow the files of `dir` until they hold `bytes` bytes together, or
/// have not grown for `quiet`, or `timeout` has passed.
fn follow(dir: &Path, files: u32, bytes: u64, quiet: Duration, timeout: Duration) -> Followed {
    let start = Instant::now();
    let mut open: HashMap<OsString, fs::File> = HashMap::new();
    let mut last = (0u64, SystemTime::now(), start);
    let mut first_pass = None;
    loop {
        if open.len() < files as usize {
            if let Ok(entries) = fs::read_dir(dir) {
                for e in entries.flatten() {
                    let name = e.file_name();
                    if let std::collections::hash_map::Entry::Vacant(v) = open.entry(name) {
                        if let Ok(f) = fs::File::open(e.path()) {
                            v.insert(f);
                        }
                    }
                }
            }
        }
        let total: u64 = open
            .values()
            .map(|f| f.metadata().map_or(0, |m| m.len()))
            .sum();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let first_pass = *first_pass.get_or_insert(now - start);
        if total >= bytes {
            return Followed {
                at: wall,
                bytes: total,
                complete: true,
                first_pass,
            };
        }
        if total != last.0 {
            last = (total, wall, now);
        }
        if now - last.2 >= quiet || now - start >= timeout {
            return Followed {
                at: last.1,
                bytes: total,
                complete: false,
                first_pass,
            };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One run of `kind`.
pub fn measure(env: &Env, kind: Kind, plan: &DynfilePlan) -> Result<(Sample, Check), String> {
    let dir = run_dir(env, &format!("dynfile-{}", kind.name()))?;
    let r = measure_in(env, kind, plan, &dir);
    let _ = fs::remove_dir_all(&dir);
    r
}

fn measure_in(
    env: &Env,
    kind: Kind,
    plan: &DynfilePlan,
    dir: &Path,
) -> Result<(Sample, Check), String> {
    let port = free_port()?;
    let setup = collector::Setup {
        port,
        tls: false,
        // Room for every sender's connection, as in churn (a peer notices
        // closed ones a moment late: syslog-ng refuses connections beyond
        // its maximum; rsyslog sizes its listen queue from it, a tenth).
        max_connections: plan.sources.max(4096),
        udp: false,
        output: Output::PerSender,
    };
    let run_id = crate::flood::default_run_id();
    let per_source = plan.lines_per_source();
    let expected = per_source * u64::from(plan.sources);
    let mut c = collector::start(env, kind, dir, &setup)?;
    let pid = c.pid();
    let files = senders_dir(&c.out);
    let before = procstat::CpuSnapshot::of_tree(pid);
    let overflows = listen_overflows();
    let out = Command::new(env.bin_dir.join("pysyslog-flood"))
        .arg("--json")
        .args(["-c", &plan.connections.to_string()])
        .args(["--source-addresses", &plan.sources.to_string()])
        .args(["-n", &per_source.to_string()])
        .args(["-s", &LINE_SIZE.to_string()])
        .args(["--run-id", &run_id])
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run pysyslog-flood: {e}"))?;
    let followed = follow(
        &files,
        plan.sources,
        expected * LINE_SIZE as u64,
        Duration::from_secs(2),
        Duration::from_secs_f64(plan.verify_timeout),
    );
    let cpu = procstat::CpuSnapshot::of_tree(pid).since(&before);
    let rss = procstat::tree_peak_rss(pid);
    let overflows = overflows
        .zip(listen_overflows())
        .map(|(a, b)| b.saturating_sub(a));
    let alive = c.alive();
    let log = c.log_text();
    c.stop();
    let text = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(text.trim())
        .ok()
        .filter(|_| out.status.success())
        .ok_or_else(|| {
            format!(
                "pysyslog-flood failed ({}): {}\ncollector output:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    if !alive {
        return Err(format!("{} died during the run:\n{log}", kind.name()));
    }
    let mut check = check_files(&files, &run_id, plan.sources, per_source)?;
    check.listen_overflows = overflows;
    let start = j["start_unix_s"]
        .as_f64()
        .ok_or("the flood gave no start time")?;
    let end = j["end_unix_s"].as_f64().unwrap_or(start);
    let seconds = (unix(followed.at) - start).max(1e-6);
    say(&format!(
        "dynfile | {}: sent in {:.3} s, files {} {:.3} s after the end of sending \
         (first pass {:.1} ms after the flood exited), {} of {} bytes, {} listen queue overflows",
        kind.name(),
        end - start,
        if followed.complete {
            "complete"
        } else {
            "last grew"
        },
        unix(followed.at) - end,
        followed.first_pass.as_secs_f64() * 1e3,
        followed.bytes,
        expected * LINE_SIZE as u64,
        overflows.map_or("?".into(), |o| o.to_string())
    ));
    let received = check.received;
    Ok((
        Sample {
            lines: expected,
            seconds,
            lines_per_sec: received as f64 / seconds,
            mb_per_sec: (received * LINE_SIZE as u64) as f64 / seconds / 1e6,
            cpu_us_per_line: cpu.as_secs_f64() * 1e6 / received.max(1) as f64,
            peak_rss: rss,
            lost: expected - received.min(expected),
            duplicated: check.duplicated,
        },
        check,
    ))
}

#[derive(Debug, Default)]
pub struct DynfileResults {
    pub samples: Vec<(Kind, Vec<Sample>, Vec<Check>)>,
    pub errors: Vec<String>,
}

impl DynfileResults {
    fn push(&mut self, kind: Kind, s: Sample, c: Check) {
        match self.samples.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, v, cs)) => {
                v.push(s);
                cs.push(c);
            }
            None => self.samples.push((kind, vec![s], vec![c])),
        }
    }

    fn get(&self, kind: Kind) -> Option<(Summary, &[Check])> {
        self.samples
            .iter()
            .find(|(k, _, _)| *k == kind)
            .and_then(|(_, v, c)| Some((summarize(v)?, c.as_slice())))
    }

    /// Lines lost or duplicated by ours.
    pub fn losses(&self) -> u64 {
        self.samples
            .iter()
            .filter(|(k, _, _)| *k == Kind::Ours)
            .flat_map(|(_, v, _)| v)
            .map(|s| s.lost + s.duplicated)
            .sum()
    }
}

/// Every collector, `runs` times, interleaved.
pub fn run(env: &Env, plan: &DynfilePlan) -> DynfileResults {
    let mut r = DynfileResults::default();
    for run in 1..=plan.runs {
        for &kind in &plan.kinds {
            match measure(env, kind, plan) {
                Ok((s, c)) => {
                    say(&format!(
                        "dynfile | {} | run {run}/{}: {:.0} lines/s, {:.2} µs CPU/line, {:.1} MiB, lost {}, dup {}, {} files, output {}",
                        kind.name(),
                        plan.runs,
                        s.lines_per_sec,
                        s.cpu_us_per_line,
                        s.peak_rss as f64 / 1048576.0,
                        s.lost,
                        s.duplicated,
                        c.files,
                        if c.ok() { "as expected".to_string() } else { c.describe() }
                    ));
                    if !c.ok() {
                        r.errors.push(format!(
                            "dynfile | {} | run {run}: lines not in their sender's file: {}",
                            kind.name(),
                            c.describe()
                        ));
                    }
                    r.push(kind, s, c);
                }
                Err(e) => {
                    let e = format!("dynfile | {} | run {run}: {e}", kind.name());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    r
}

/// The Markdown table (medians over the runs) and the targets.
pub fn report(plan: &DynfilePlan, r: &DynfileResults) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "#### A file per sender: {} lines of {LINE_SIZE} bytes per run from {} source addresses \
         ({} lines each), {} plain TCP connections at a time\n\n\
         | collector | runs | lines/s (median) | min-max | vs rsyslog | CPU µs/line | peak RSS MiB | files | listen overflows | lost | dup | output |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        plan.lines_per_source() * u64::from(plan.sources),
        plan.sources,
        plan.lines_per_source(),
        plan.connections
    );
    let rs = r.get(Kind::Rsyslog).map(|(s, _)| s.lines_per_sec);
    for (kind, v, checks) in &r.samples {
        let Some(s) = summarize(v) else { continue };
        let bad: Vec<&Check> = checks.iter().filter(|c| !c.ok()).collect();
        let output = match bad.first() {
            Some(c) => format!(
                "**FAILED** in {} of {} runs: {} of {} lines in another file, {} not as sent",
                bad.len(),
                checks.len(),
                c.wrong_file,
                c.seen,
                c.wrong_text
            ),
            None => "every line in its sender's file".into(),
        };
        let files = checks.iter().map(|c| c.files).min().unwrap_or(0);
        let overflows: Vec<u64> = checks.iter().filter_map(|c| c.listen_overflows).collect();
        let overflows = if overflows.is_empty() {
            "-".to_string()
        } else {
            (overflows.iter().sum::<u64>() / overflows.len() as u64).to_string()
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {}-{} | {} | {:.2} | {} | {files} | {overflows} | {} | {} | {output} |",
            kind.name(),
            s.runs,
            fmt_rate(s.lines_per_sec),
            fmt_rate(s.min_lps),
            fmt_rate(s.max_lps),
            ratio(s.lines_per_sec, rs),
            s.cpu_us_per_line,
            mib(s.peak_rss),
            s.lost,
            s.duplicated,
        );
    }
    write_targets(&mut t, "dynfile", &targets(r), &r.errors);
    t
}

/// The scenario's targets, as `(result, what)`.
pub fn targets(r: &DynfileResults) -> Vec<(Option<bool>, String)> {
    let ours = r.get(Kind::Ours);
    let o = ours.as_ref().map(|(s, _)| s.lines_per_sec);
    let rs = r.get(Kind::Rsyslog).map(|(s, _)| s.lines_per_sec);
    let mut v = vec![(
        o.zip(rs).map(|(o, r)| o >= 5.0 * r),
        format!(
            "dynfile: ours ≥ 5× rsyslog lines/s (is {})",
            o.map_or("-".into(), |o| ratio(o, rs))
        ),
    )];
    if let Some((s, checks)) = &ours {
        v.push((
            Some(s.lost == 0 && s.duplicated == 0),
            format!(
                "dynfile: ours 0 lost (is {} lost, {} duplicated in {} runs)",
                s.lost, s.duplicated, s.runs
            ),
        ));
        v.push((
            Some(checks.iter().all(Check::ok)),
            "dynfile: ours, every line in its sender's file".into(),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_wants_every_line_in_its_senders_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = LineFormat::new("r1", LINE_SIZE, Framing::Lf).unwrap();
        let body =
            |c: u32, ns: &[u64]| -> Vec<u8> { ns.iter().flat_map(|&n| f.line(c, n)).collect() };
        let file = |c: u32| dir.path().join(format!("{}.log", source_address(c)));
        fs::write(file(0), body(0, &[0, 1])).unwrap();
        fs::write(file(1), body(1, &[0, 1])).unwrap();
        // A collector's own messages, in a file of their own.
        fs::write(dir.path().join("127.0.0.1.log"), "rsyslogd: started\n").unwrap();
        let c = check_files(dir.path(), "r1", 3, 2).unwrap();
        assert!(c.ok(), "{c:?}");
        assert_eq!((c.files, c.seen, c.received, c.duplicated), (2, 4, 4, 0));
        // Sender 2's lines in sender 1's file, one of them twice, one cut.
        let mut b = body(1, &[0, 1]);
        b.extend(body(2, &[0, 0]));
        b.extend_from_slice(&f.line(2, 1)[..100]);
        b.push(b'\n');
        fs::write(file(1), b).unwrap();
        let c = check_files(dir.path(), "r1", 3, 2).unwrap();
        assert!(!c.ok());
        assert_eq!((c.seen, c.received, c.duplicated), (7, 7 - 1, 1));
        assert_eq!((c.wrong_file, c.wrong_text), (3, 1));
        assert!(
            c.describe()
                .contains("127.0.1.2.log: \"<14>flood r1 c=0002 n=000000000"),
            "{}",
            c.describe()
        );
        assert!(
            c.describe().contains("sent from 127.0.1.3"),
            "{}",
            c.describe()
        );
    }

    #[test]
    fn netstat_values() {
        let t = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                 TcpExt: 0 1905 1906\n\
                 IpExt: InNoRoutes ListenOverflows\n\
                 IpExt: 0 3\n";
        assert_eq!(netstat_value(t, "TcpExt", "ListenOverflows"), Some(1905));
        assert_eq!(netstat_value(t, "IpExt", "ListenOverflows"), Some(3));
        assert_eq!(netstat_value(t, "TcpExt", "Nothing"), None);
        assert!(listen_overflows().is_some());
    }

    #[test]
    fn following_stops_at_the_bytes_or_when_quiet() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.log"), [b'x'; 10]).unwrap();
        fs::write(dir.path().join("b.log"), [b'x'; 5]).unwrap();
        let f = follow(
            dir.path(),
            2,
            15,
            Duration::from_secs(5),
            Duration::from_secs(5),
        );
        assert!(f.complete && f.bytes == 15);
        let t = Instant::now();
        let f = follow(
            dir.path(),
            3,
            16,
            Duration::from_millis(50),
            Duration::from_secs(5),
        );
        assert!(!f.complete && f.bytes == 15);
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn report_ratios_and_targets() {
        let s = |lps: f64, lost| Sample {
            lines: 1000,
            seconds: 1.0,
            lines_per_sec: lps,
            mb_per_sec: 0.0,
            cpu_us_per_line: 0.3,
            peak_rss: 8 << 20,
            lost,
            duplicated: 0,
        };
        let ok = Check {
            files: 1000,
            seen: 1000,
            received: 1000,
            ..Check::default()
        };
        let mut r = DynfileResults::default();
        r.push(
            Kind::Ours,
            s(4e6, 0),
            Check {
                listen_overflows: Some(7),
                ..ok.clone()
            },
        );
        r.push(Kind::Rsyslog, s(1e6, 0), ok.clone());
        r.push(
            Kind::SyslogNg,
            s(5e5, 3),
            Check {
                wrong_file: 2,
                ..ok.clone()
            },
        );
        let plan = DynfilePlan {
            runs: 1,
            lines: 1000,
            sources: 1000,
            connections: 100,
            kinds: kinds(&[Kind::Ours, Kind::Rsyslog, Kind::SyslogNg]).unwrap(),
            verify_timeout: 1.0,
        };
        let t = report(&plan, &r);
        assert!(t.contains("1000 lines of 120 bytes per run from 1000 source addresses (1 lines each), 100 plain"), "{t}");
        assert!(
            t.contains("| ours | 1 | 4.00 M | 4.00 M-4.00 M | 4.00× | 0.30 | 8.0 | 1000 | 7 | 0 | 0 | every line in its sender's file |"),
            "{t}"
        );
        assert!(
            t.contains("**FAILED** in 1 of 1 runs: 2 of 1000 lines in another file"),
            "{t}"
        );
        assert!(
            t.contains("dynfile: ours ≥ 5× rsyslog lines/s (is 4.00×) | MISSED"),
            "{t}"
        );
        assert!(t.contains("dynfile: ours 0 lost (is 0 lost, 0 duplicated in 1 runs) | holds"));
        assert!(kinds(&[Kind::Pysyslog]).is_err());
        assert_eq!(r.losses(), 0);
    }
}

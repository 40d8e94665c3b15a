//! Nothing lost, nothing invented, end to end with the real binary: writers
//! killed while they write large batches leave no torn line in any file
//! handler's output, and a full disk becomes backpressure (the senders are
//! slowed, every line arrives once when space comes back, the operator is
//! told when it starts, while it lasts and when it ends).

mod util;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pysyslog::link::BATCH_CAP_BYTES;
use util::*;

/// A configuration with `handler` (JSON members) writing `%(message)s` to
/// `out.log` (or stdout, for a StreamHandler), and the collector's own
/// messages on stderr.
fn config(dir: &Path, handler: &str) -> PathBuf {
    let path = dir.join("logging.json");
    let filename = if handler.contains("StreamHandler") {
        ""
    } else {
        r#", "filename": "out.log""#
    };
    let text = format!(
        r#"{{"version": 1,
          "formatters": {{"m": {{"format": "%(message)s"}}}},
          "handlers": {{
            "out": {{{handler}{filename}, "formatter": "m"}},
            "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}}},
          "loggers": {{"pysyslog": {{"level": "INFO", "handlers": ["own"], "propagate": false}}}},
          "root": {{"level": "INFO", "handlers": ["out"]}}}}"#
    );
    fs::write(&path, text).expect("config");
    path
}

/// A collector whose only output is `handler` (see [`config`]), ready; the
/// directory holding its configuration lives as long as the caller keeps it.
fn start_with_handler(handler: &str) -> (tempfile::TempDir, Collector) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), handler);
    let c = Collector::start_on(
        "127.0.0.1",
        &["--logging-config", &cfg.display().to_string()],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    (dir, c)
}

/// Every file the handler wrote: `out.log` and its rotated siblings, or the
/// collector's stdout.
fn outputs(dir: &Path) -> Vec<PathBuf> {
    let stdout = dir.join("stdout.log");
    if fs::metadata(&stdout).is_ok_and(|m| m.len() > 0) {
        return vec![stdout];
    }
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
    let (_config_dir, c) = start_with_handler(handler);
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
        c.wait_new_writer(writer);
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

/// A partial line at the end of the output, as a writer killed mid-write
/// leaves it, is cut by the next writer before anything is appended. The
/// test writes the partial line itself, so the cut always has work to do
/// (a kill lands mid-write only now and then), and the writer that cuts is
/// the confined one a crash starts.
fn a_new_writer_cuts_a_partial_line(handler: &str, output: impl Fn(&Collector) -> PathBuf) {
    use std::io::Write;
    // Longer than the line after it: on stdout (`>`, the offset shared with
    // the writer) an uncut partial line is not hidden by being overwritten.
    const PARTIAL: &[u8] = b"half a line, as a killed writer leaves it, with no end";
    let (_config_dir, c) = start_with_handler(handler);
    let out = output(&c);
    let text = || fs::read_to_string(&out).unwrap_or_default();
    c.send(b"before the kill\n");
    wait_until("the first line", || text().contains("before the kill\n"));
    fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .and_then(|mut f| f.write_all(PARTIAL))
        .expect("append a partial line");
    let writer = c.writer_pid().expect("writer");
    signal(writer, libc::SIGKILL);
    c.wait_new_writer(writer);
    c.send(b"after the kill\n");
    wait_until("the second line", || text().contains("after the kill"));
    assert_eq!(text(), "before the kill\nafter the kill\n");
    c.wait_stderr("the cut reported", |err| {
        err.lines().any(|l| {
            l.contains(&format!("cut {} bytes", PARTIAL.len()))
                && l.contains("the partial line the writer that died left")
        })
    });
}

#[test]
fn a_new_writer_cuts_a_partial_line_at_the_end_of_stdout() {
    a_new_writer_cuts_a_partial_line(
        r#""class": "logging.StreamHandler", "stream": "ext://sys.stdout""#,
        |c| c.stdout.clone(),
    );
}

#[test]
fn a_new_writer_cuts_a_partial_line_at_the_end_of_a_file_handler() {
    a_new_writer_cuts_a_partial_line(r#""class": "logging.FileHandler""#, |c| {
        c.dir.path().join("out.log")
    });
}

// Five kills per collector: the restart budget allows five within a minute.
// Twenty in all over the four classes that append to files, and five more
// for stdout.

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

/// stdout redirected to a file (`>`, not O_APPEND: the offset is shared with
/// the receiver and is put back after the cut).
#[test]
fn killed_writers_leave_no_torn_line_on_stdout_redirected_to_a_file() {
    killed_writers_leave_whole_lines(
        r#""class": "logging.StreamHandler", "stream": "ext://sys.stdout""#,
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

/// `VmHWM` (peak resident memory) of a process, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    proc_status(pid, "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The collector with `out` (JSON members) on the full tmpfs and `side`, a
/// FileHandler on an ordinary disk, both `%(message)s`; its own messages on
/// stderr; reminders every second.
fn start_on_full_disk(disk: &Tmpfs, out: &str, side: &Path) -> Collector {
    start_on_full_disk_with(disk, out, side, &[])
}

/// [`start_on_full_disk`] with more command-line arguments.
fn start_on_full_disk_with(disk: &Tmpfs, out: &str, side: &Path, args: &[&str]) -> Collector {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logging.json");
    let out_log = disk.path().join("out.log");
    let text = format!(
        r#"{{"version": 1,
          "formatters": {{"m": {{"format": "%(message)s"}}}},
          "handlers": {{
            "out": {{{out}, "filename": "{}", "formatter": "m"}},
            "side": {{"class": "logging.FileHandler", "filename": "{}", "formatter": "m"}},
            "own": {{"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}}},
          "loggers": {{"pysyslog": {{"level": "INFO", "handlers": ["own"], "propagate": false}}}},
          "root": {{"level": "INFO", "handlers": ["out", "side"]}}}}"#,
        out_log.display(),
        side.display()
    );
    fs::write(&path, text).expect("config");
    let config = path.display().to_string();
    let mut all = vec!["--logging-config", config.as_str()];
    all.extend_from_slice(args);
    Collector::start_with(
        "127.0.0.1",
        &all,
        &[("PYSYSLOG_FAILURE_REMINDER_SECS", "1")],
        |c| c.stderr_text().contains("Listening for syslog"),
    )
}

fn flood_in_background(
    port: u16,
    run: &str,
    connections: u64,
    lines: u64,
    size: usize,
) -> std::thread::JoinHandle<serde_json::Value> {
    let args: Vec<String> = [
        "-c".into(),
        connections.to_string(),
        "-n".into(),
        lines.to_string(),
        "-s".into(),
        size.to_string(),
        "--run-id".into(),
        run.to_owned(),
    ]
    .to_vec();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flood(port, &args)
    })
}

/// The full disk holds the sender back instead of dropping: nothing is
/// written and the flood does not finish while the disk is full, both
/// processes stay small, the three warnings come, and once space is freed
/// every line is in the file exactly once, continuing where the disk filled.
#[test]
fn a_full_disk_slows_the_senders_and_loses_nothing() {
    const CONNECTIONS: u64 = 4;
    const LINES: u64 = 100_000;
    const SIZE: usize = 100;
    let disk = Tmpfs::mount("48m");
    let side_dir = tempfile::tempdir().expect("tempdir");
    let side = side_dir.path().join("side.log");
    let c = start_on_full_disk(&disk, r#""class": "logging.FileHandler""#, &side);
    let writer = c.writer_pid().expect("writer");
    let start_rss =
        peak_rss_kib(c.pid()) + peak_rss_kib(c.receiver_pid().unwrap_or(0)) + peak_rss_kib(writer);
    let filler = disk.fill();
    let run = format!("d{}", std::process::id());
    let sender = flood_in_background(c.port, &run, CONNECTIONS, LINES, SIZE);
    c.wait_stderr("the warning that writes fail", |err| {
        err.contains("handler 'out' writing")
    });
    c.wait_stderr("a reminder", |err| err.contains("still failing after"));
    // The disk stays full for a while: this is the scenario.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!sender.is_finished(), "the sender was not slowed down");
    let err = c.stderr_text();
    assert!(
        err.contains("No space left on device") && err.contains("holding its lines"),
        "{err}"
    );
    // The queue (1 MiB) and one read buffer in the receiver, one batch and
    // its formatted output in the writer, allocator slack.
    let bound = start_rss + 1024 + 128 + 4 * 64 + 4096;
    let peak =
        peak_rss_kib(c.pid()) + peak_rss_kib(c.receiver_pid().unwrap_or(0)) + peak_rss_kib(writer);
    assert!(peak <= bound, "peak RSS {peak} KiB above {bound} KiB");
    assert_eq!(c.writer_pid(), Some(writer), "the writer was not replaced");
    fs::remove_file(filler).expect("free space");
    let report = sender.join().expect("flood");
    assert_eq!(report["lines"], CONNECTIONS * LINES, "{report}");
    let out = disk.path().join("out.log");
    let deadline = Instant::now() + PATIENCE;
    let (scan_out, scan_side) = loop {
        let (o, s) = (
            scan(std::slice::from_ref(&out), &run, SIZE),
            scan(std::slice::from_ref(&side), &run, SIZE),
        );
        let done = |s: &Scan| s.seen.len() as u64 == CONNECTIONS * LINES;
        if (done(&o) && done(&s)) || Instant::now() > deadline {
            break (o, s);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for (name, s) in [("out", &scan_out), ("side", &scan_side)] {
        assert!(
            s.bad.is_empty(),
            "{name}: {:?}",
            &s.bad[..s.bad.len().min(3)]
        );
        assert_eq!(
            s.seen.len() as u64,
            CONNECTIONS * LINES,
            "{name}: lines lost"
        );
        assert!(s.seen.values().all(|&n| n == 1), "{name}: duplicates");
    }
    c.wait_stderr("the recovery warning", |err| {
        err.contains("succeeds again after")
    });
    let err = c.stderr_text();
    let recovered = err
        .lines()
        .find(|l| l.contains("succeeds again after"))
        .unwrap_or_default();
    assert!(recovered.contains("none lost"), "{recovered}");
    let peak =
        peak_rss_kib(c.pid()) + peak_rss_kib(c.receiver_pid().unwrap_or(0)) + peak_rss_kib(writer);
    assert!(
        peak <= bound,
        "peak RSS {peak} KiB above {bound} KiB after the drain"
    );
    eprintln!("full disk: {recovered}; peak RSS {peak} KiB, bound {bound} KiB");
}

/// With `--spool-dir` on another disk, a full disk's FileHandler keeps its
/// lines in its backlog: the sender finishes and the other handler gets
/// every line while the disk is full; once space is freed the file gets
/// every line exactly once, in order.
#[test]
fn a_full_disk_with_a_backlog_slows_nobody_and_loses_nothing() {
    const CONNECTIONS: u64 = 4;
    const LINES: u64 = 50_000;
    const SIZE: usize = 100;
    let disk = Tmpfs::mount("48m");
    let side_dir = tempfile::tempdir().expect("tempdir");
    let side = side_dir.path().join("side.log");
    let spool = side_dir.path().join("spool");
    let spool_arg = spool.display().to_string();
    let c = start_on_full_disk_with(
        &disk,
        r#""class": "logging.FileHandler""#,
        &side,
        &["--spool-dir", &spool_arg],
    );
    let filler = disk.fill();
    let run = format!("b{}", std::process::id());
    let sender = flood_in_background(c.port, &run, CONNECTIONS, LINES, SIZE);
    c.wait_stderr("the warning that writes fail", |err| {
        err.contains("handler 'out' writing") && err.contains("in its backlog")
    });
    wait_until("the sender finishing while the disk is full", || {
        sender.is_finished()
    });
    let report = sender.join().expect("flood");
    assert_eq!(report["lines"], CONNECTIONS * LINES, "{report}");
    let out = disk.path().join("out.log");
    wait_until("the other handler getting every line", || {
        scan(std::slice::from_ref(&side), &run, SIZE).seen.len() as u64 == CONNECTIONS * LINES
    });
    assert!(
        (scan(std::slice::from_ref(&out), &run, SIZE).seen.len() as u64) < CONNECTIONS * LINES,
        "the disk was full"
    );
    fs::remove_file(filler).expect("free space");
    wait_until("the full disk's file getting every line", || {
        scan(std::slice::from_ref(&out), &run, SIZE).seen.len() as u64 == CONNECTIONS * LINES
    });
    let s = scan(std::slice::from_ref(&out), &run, SIZE);
    assert!(s.bad.is_empty(), "{:?}", &s.bad[..s.bad.len().min(3)]);
    assert!(s.seen.values().all(|&n| n == 1), "duplicates");
    c.wait_stderr("the backlog delivered", |err| {
        err.contains("succeeds again after")
    });
}

/// `on_failure: drop` on the full disk's handler: the other handler gets
/// every line at full speed, the failing one drops beyond its bound, and
/// every drop is counted: the lines written plus the drops reported are all
/// the lines sent.
#[test]
fn on_failure_drop_spares_the_other_handlers_and_counts_every_drop() {
    const CONNECTIONS: u64 = 4;
    const LINES: u64 = 50_000;
    const SIZE: usize = 100;
    let disk = Tmpfs::mount("32m");
    let side_dir = tempfile::tempdir().expect("tempdir");
    let side = side_dir.path().join("side.log");
    let c = start_on_full_disk(
        &disk,
        r#""class": "logging.FileHandler", ".": {"on_failure": "drop"}"#,
        &side,
    );
    assert!(
        !c.stderr_text().contains("no effect"),
        "on_failure is used: {}",
        c.stderr_text()
    );
    let writer = c.writer_pid().expect("writer");
    let filler = disk.fill();
    let run = format!("p{}", std::process::id());
    let sender = flood_in_background(c.port, &run, CONNECTIONS, LINES, SIZE);
    let report = sender
        .join()
        .expect("flood: finishes while the disk is full");
    assert_eq!(report["lines"], CONNECTIONS * LINES, "{report}");
    wait_until("every line in the other handler's file", || {
        scan(std::slice::from_ref(&side), &run, SIZE).seen.len() as u64 == CONNECTIONS * LINES
    });
    let out = disk.path().join("out.log");
    assert!(
        scan(std::slice::from_ref(&out), &run, SIZE).seen.is_empty(),
        "the disk is still full"
    );
    c.wait_stderr("a reminder counting drops", |err| {
        err.lines()
            .any(|l| l.contains("still failing after") && l.contains("dropped (on_failure: drop)"))
    });
    // A new writer would not know of the outage: it must not be replaced.
    assert_eq!(c.writer_pid(), Some(writer), "the writer was not replaced");
    fs::remove_file(filler).expect("free space");
    c.wait_stderr("the recovery warning", |err| {
        err.contains("succeeds again after")
    });
    let err = c.stderr_text();
    let recovered = err
        .lines()
        .find(|l| l.contains("succeeds again after"))
        .unwrap_or_default()
        .to_owned();
    let dropped: u64 = recovered
        .split(", ")
        .find_map(|part| part.strip_suffix(" dropped (on_failure: drop)"))
        .and_then(|n| n.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in {recovered:?}"));
    let written = scan(std::slice::from_ref(&out), &run, SIZE);
    assert!(
        written.bad.is_empty(),
        "{:?}",
        &written.bad[..written.bad.len().min(3)]
    );
    assert!(dropped > 0, "{recovered}");
    assert_eq!(
        written.seen.len() as u64 + dropped,
        CONNECTIONS * LINES,
        "written and dropped make every line: {recovered}"
    );
    eprintln!("on_failure drop: {recovered}");
}

/// stdout redirected to a file on the full disk holds as a file handler
/// does: the sender is slowed, the warnings come, and once space is freed
/// every line is on stdout exactly once.
#[test]
fn a_full_disk_behind_stdout_holds_and_loses_nothing() {
    const CONNECTIONS: u64 = 2;
    const LINES: u64 = 100_000;
    const SIZE: usize = 100;
    let disk = Tmpfs::mount("32m");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        dir.path(),
        r#""class": "logging.StreamHandler", "stream": "ext://sys.stdout""#,
    );
    let stdout = disk.path().join("stdout.log");
    let stderr = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = Stopped(
        Command::new(BIN)
            .args(["127.0.0.1", &port.to_string(), "--logging-config"])
            .arg(&cfg)
            .env("PYSYSLOG_FAILURE_REMINDER_SECS", "1")
            .stdout(fs::File::create(&stdout).expect("stdout"))
            .stderr(fs::File::create(&stderr).expect("stderr"))
            .spawn()
            .expect("spawn"),
    );
    let err = || fs::read_to_string(&stderr).unwrap_or_default();
    wait_until("the banner", || err().contains("Listening for syslog"));
    let filler = disk.fill();
    let run = format!("o{}", std::process::id());
    let sender = flood_in_background(port, &run, CONNECTIONS, LINES, SIZE);
    wait_until("the warning that writes fail", || {
        err().contains("writing to stdout failed")
    });
    wait_until("a reminder", || {
        err().contains("writing to stdout still failing")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(!sender.is_finished(), "the sender was not slowed down");
    fs::remove_file(filler).expect("free space");
    sender.join().expect("flood");
    let files = [stdout.clone()];
    wait_until("every line on stdout", || {
        scan(&files, &run, SIZE).seen.len() as u64 == CONNECTIONS * LINES
    });
    let s = scan(&files, &run, SIZE);
    assert!(s.bad.is_empty(), "{:?}", &s.bad[..s.bad.len().min(3)]);
    assert!(s.seen.values().all(|&n| n == 1), "duplicates");
    wait_until("the recovery warning", || {
        err().contains("writing to stdout succeeds again after")
    });
    assert!(err().contains("none lost"), "{}", err());
    signal(child.0.id() as i32, libc::SIGTERM);
    assert!(child.0.wait().expect("wait").success());
}

/// A collector started by hand, killed (by its PID) if the test fails first,
/// so that the tmpfs can be unmounted.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let kids = children(self.0.id() as i32);
            let _ = self.0.kill();
            let _ = self.0.wait();
            for kid in kids {
                signal(kid, libc::SIGKILL);
            }
        }
    }
}

//! Crash isolation and bounded resources, end to end: a killed writer loses
//! nothing, a stalled output slows senders instead of eating memory, and hostile
//! or broken clients cannot take the collector down.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pysyslog::link::BATCH_CAP_BYTES;
use util::*;

/// A `kB` figure of /proc/PID/status (`VmHWM`: peak resident memory; `VmRSS`: now).
fn status_kib(pid: i32, name: &str) -> u64 {
    proc_status(pid, name)
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: i32) -> u64 {
    status_kib(pid, "VmHWM")
}

fn current_rss_kib(pid: i32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// Raise this test process's open-files limit to its hard limit.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// Start the collector on `port` with stdout to `stdout`, stderr to `stderr`,
/// and one resource limit (soft = hard = `value`) set before exec, so the
/// collector cannot raise it.
fn spawn_limited(
    port: u16,
    stdout: &std::path::Path,
    stderr: Stdio,
    resource: libc::__rlimit_resource_t,
    value: u64,
) -> std::process::Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["127.0.0.1", &port.to_string()])
        .stdout(std::fs::File::create(stdout).expect("stdout"))
        .stderr(stderr);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    cmd.spawn().expect("spawn pysyslog")
}

#[test]
fn a_writer_killed_mid_flow_loses_no_line() {
    let c = Collector::start(&[]);
    let first = c.writer_pid().expect("writer");
    let port = c.port;
    let stdout = c.stdout.display().to_string();
    let sender = std::thread::spawn(move || {
        flood(
            port,
            &[
                "-c",
                "4",
                "-n",
                "50000",
                "--verify",
                &stdout,
                "--verify-timeout",
                "60",
            ],
        )
    });
    wait_until("lines to flow", || count_lines(&c.stdout) > 20_000);
    signal(first, libc::SIGKILL);
    let report = sender.join().expect("flood thread");
    assert_eq!(report["lost"], 0, "{report}");
    // At-least-once: only the batch being written when the writer died may be
    // written twice, and a batch holds at most BATCH_CAP_BYTES of lines, each
    // costing its message (the flood's `size` less the LF) and a u32 length.
    let line_cost = report["size"].as_u64().expect("size") - 1 + 4;
    let bound = BATCH_CAP_BYTES as u64 / line_cost + 1;
    let duplicated = report["duplicated"].as_u64().expect("duplicated");
    assert!(
        duplicated <= bound,
        "{duplicated} duplicates, bound {bound}: {report}"
    );
    assert!(alive(c.pid()), "the collector keeps running");
    let second = c.writer_pid().expect("a new writer");
    assert_ne!(first, second);
    assert!(c
        .stderr_text()
        .contains("ERROR:pysyslog.writer:writer process"));
}

#[test]
fn a_writer_that_keeps_dying_ends_the_collector_with_exit_1() {
    // A file size limit kills the writer (SIGXFSZ) at every write once its
    // output reaches it: a poison set-up that restarting cannot cure.
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = dir.path().join("stdout.log");
    let port = free_port();
    // stderr is a pipe: a file would be held to the same size limit.
    let mut child = spawn_limited(port, &stdout, Stdio::piped(), libc::RLIMIT_FSIZE, 8192);
    wait_until("the banner", || count_lines(&stdout) >= 1);
    let writers_of = |pid: i32| {
        children(pid)
            .into_iter()
            .filter(move |&p| process_name(p).as_deref() != Some("pysyslog-recv"))
    };
    let mut writers: Vec<i32> = writers_of(child.id() as i32).collect();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    for i in 0..500 {
        let _ = writeln!(s, "line {i} {}", "x".repeat(100));
    }
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        writers.extend(writers_of(child.id() as i32));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the collector did not give up");
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the writer process keeps dying"), "{err}");
    writers.sort();
    writers.dedup();
    assert!(writers.len() > 1, "writers were restarted: {writers:?}");
    for w in writers {
        wait_until(&format!("writer {w} to be gone"), || !alive(w));
    }
}

/// A failed assertion must not leave the collector running (nobody reads
/// its stdout any more): its processes are killed by PID then. They are
/// not reaped yet at that point, so the PIDs are still theirs.
struct StopOnPanic(Vec<i32>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for &pid in &self.0 {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn a_stalled_output_slows_senders_and_bounds_memory() {
    const LINES: u64 = 1_000_000;
    const QUEUE_BYTES: u64 = 4 << 20;
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "127.0.0.1",
            &port.to_string(),
            "--max-queue-size",
            "10000000",
        ])
        .args(["--max-queue-bytes", &QUEUE_BYTES.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    out.read_line(&mut banner).expect("banner");
    assert!(banner.contains("Listening for syslog"), "{banner}");
    let writer = writer_of(pid).expect("the writer");
    let receiver = receiver_of(pid).expect("the receiver");
    let _stop = StopOnPanic(vec![pid, receiver, writer]);
    let start_rss = current_rss_kib(pid) + current_rss_kib(receiver) + current_rss_kib(writer);

    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, done) = (sent.clone(), done.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let mut chunk = Vec::new();
            for i in 0..LINES {
                writeln!(chunk, "line {i:07} {}", "y".repeat(80)).expect("build");
                if chunk.len() >= 64 * 1024 || i + 1 == LINES {
                    s.write_all(&chunk).expect("send");
                    sent.fetch_add((chunk.len() / 94) as u64, Ordering::Relaxed);
                    chunk.clear();
                }
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    // Nobody reads the output for 5 s: this is the scenario, not a synchronisation.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !done.load(Ordering::Relaxed),
        "the sender was not slowed down"
    );
    let stalled_at = sent.load(Ordering::Relaxed);
    assert!(stalled_at < LINES, "sender got through {stalled_at} lines");

    // Bound: the queue (--max-queue-bytes) plus one read buffer and one batch in
    // the receiver; one batch being written in the writer; 4 MiB of allocator slack.
    let bound = start_rss + QUEUE_BYTES / 1024 + 128 + 2 * (BATCH_CAP_BYTES as u64 / 1024) + 4096;
    let peak = peak_rss_kib(pid) + peak_rss_kib(receiver) + peak_rss_kib(writer);
    assert!(
        peak <= bound,
        "peak RSS {peak} KiB above the bound {bound} KiB"
    );

    let mut line = String::new();
    for i in 0..LINES {
        line.clear();
        out.read_line(&mut line).expect("read output");
        assert_eq!(
            line.trim_end(),
            format!("INFO:127.0.0.1:line {i:07} {}", "y".repeat(80))
        );
    }
    sender.join().expect("sender");
    eprintln!(
        "DEBUG start {start_rss} monitor {} receiver {} writer {}",
        peak_rss_kib(pid),
        peak_rss_kib(receiver),
        peak_rss_kib(writer)
    );
    let peak = peak_rss_kib(pid) + peak_rss_kib(receiver) + peak_rss_kib(writer);
    assert!(
        peak <= bound,
        "peak RSS {peak} KiB above the bound {bound} KiB after the drain"
    );
    signal(pid, libc::SIGTERM);
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).expect("drain");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn a_thousand_connections_deliver_every_line() {
    raise_nofile();
    // All from 127.0.0.1: past the default per-source cap.
    let c = Collector::start(&["--max-connections-per-source", "0"]);
    let stdout = c.stdout.display().to_string();
    let report = flood(c.port, &["-c", "1000", "-n", "100", "--verify", &stdout]);
    assert_eq!(
        (report["lost"].as_u64(), report["duplicated"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(report["received"], 100_000);
}

#[test]
fn the_connection_limit_holds_newcomers_back_and_spares_the_rest() {
    let c = Collector::start(&["--max-connections", "100"]);
    let mut first: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = c.connect();
            writeln!(s, "early {i}").expect("send");
            s
        })
        .collect();
    c.wait_lines(100);
    let mut late = c.connect();
    writeln!(late, "the 101st").expect("send");
    wait_until("the limit warning", || {
        c.stderr_text()
            .contains("connections open (--max-connections)")
    });
    // The first 100 are unaffected.
    writeln!(first[0], "still served").expect("send");
    wait_until("a line from an open connection", || {
        c.stdout_text().contains("INFO:127.0.0.1:still served")
    });
    assert!(!c.stdout_text().contains("the 101st"), "the 101st waits");
    // Below 90% of the limit, accepting resumes.
    first.truncate(89);
    wait_until("the 101st line", || {
        c.stdout_text().contains("INFO:127.0.0.1:the 101st")
    });
    assert!(c.stderr_text().contains("accepting new connections again"));
}

#[test]
fn slow_senders_do_not_delay_a_normal_client() {
    // 500 from 127.0.0.1: past the default per-source cap.
    let c = Collector::start(&["--max-connections-per-source", "0"]);
    let mut slow: Vec<TcpStream> = (0..500).map(|_| c.connect()).collect();
    for round in 0..3 {
        for s in &mut slow {
            s.write_all(b"x").expect("one byte");
        }
        let started = Instant::now();
        let mut normal = c.connect();
        writeln!(normal, "normal client round {round}").expect("send");
        drop(normal);
        wait_until("the normal line", || {
            c.stdout_text()
                .contains(&format!("normal client round {round}"))
        });
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(slow);
    // Each slow connection's partial line is logged when it closes.
    c.wait_lines(3 + 500);
    assert_eq!(
        c.lines()
            .iter()
            .filter(|l| l.as_str() == "INFO:127.0.0.1:xxx")
            .count(),
        500
    );
}

#[test]
fn a_ten_megabyte_line_is_truncated_with_bounded_memory() {
    let c = Collector::start(&[]);
    let receiver = c.receiver_pid().expect("receiver");
    let start = current_rss_kib(receiver);
    let mut s = c.connect();
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..10 {
        s.write_all(&chunk).expect("send");
    }
    s.write_all(b"\nafter the long line\n").expect("send");
    drop(s);
    let lines = c.wait_lines(2);
    assert_eq!(
        lines[0],
        format!("INFO:127.0.0.1:{}", "z".repeat(64 * 1024))
    );
    assert_eq!(lines[1], "INFO:127.0.0.1:after the long line");
    let diagnostics = c.wait_diagnostics(1);
    assert!(
        diagnostics[0].starts_with("WARNING:pysyslog.receiver:a line from 127.0.0.1:"),
        "{diagnostics:?}"
    );
    let grown = peak_rss_kib(receiver).saturating_sub(start);
    assert!(
        grown < 2048,
        "receiver grew by {grown} KiB for a 10 MB line"
    );
}

#[test]
fn garbage_and_broken_frames_never_stop_the_service() {
    let c = Collector::start(&["--max-line-length", "1024"]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut junk = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut abusers = Vec::new();
    for i in 0..60 {
        let mut s = c.connect();
        let payload: Vec<u8> = match i % 6 {
            0 => junk(100_000),
            1 => b"99999 <14>truncated octet count".to_vec(),
            2 => b"999999999 <14>"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'q', 50_000))
                .collect(),
            3 => vec![0u8; 100_000],
            4 => vec![b'\r'; 100_000],
            _ => b"\x16\x03\x01\x00\x05hello".to_vec(),
        };
        let _ = s.write_all(&payload);
        abusers.push(s);
    }
    for round in 0..20 {
        c.send(format!("well-behaved {round}\n").as_bytes());
    }
    wait_until("every well-behaved line", || {
        let text = c.stdout_text();
        (0..20).all(|r| text.contains(&format!("INFO:127.0.0.1:well-behaved {r}\n")))
    });
    drop(abusers);
    c.send(b"still serving\n");
    wait_until("service after the abuse", || {
        c.stdout_text().contains("INFO:127.0.0.1:still serving\n")
    });
    assert!(alive(c.pid()) && c.writer_pid().is_some_and(alive));
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let c = Collector::start(&["--idle-timeout", "0.5"]);
    let mut s = c.connect();
    s.write_all(b"partial, then silence").expect("send");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    assert_eq!(
        s.read(&mut buf).expect("read"),
        0,
        "the collector closes the connection"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    let lines = c.wait_lines(1);
    assert_eq!(lines[0], "INFO:127.0.0.1:partial, then silence");
    let diagnostics = c.wait_diagnostics(1);
    assert!(
        diagnostics[0].starts_with("INFO:pysyslog.receiver:closed the connection from 127.0.0.1:"),
        "{diagnostics:?}"
    );
    assert!(
        diagnostics[0].contains("(--idle-timeout)"),
        "{diagnostics:?}"
    );
}

#[test]
fn a_peer_that_closes_while_reading_is_paused_is_released_at_once() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["127.0.0.1", &port.to_string(), "--max-queue-size", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    out.read_line(&mut banner).expect("banner");
    let quiet = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // Fill the pipe and the queue: nobody reads the output, so reading pauses.
    let written = Arc::new(AtomicU64::new(0));
    let flooder = {
        let written = written.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let chunk = format!("{}\n", "f".repeat(200)).repeat(100);
            while s.write_all(chunk.as_bytes()).is_ok() {
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        })
    };
    // Paused: the flooder's socket stopped taking data (no progress for 500 ms).
    let mut last = (u64::MAX, Instant::now());
    wait_until("reading to pause", || {
        let now = written.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        now > 0 && last.1.elapsed() >= Duration::from_millis(500)
    });
    quiet.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut quiet = quiet;
    quiet
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 1];
    let got = quiet.read(&mut buf);
    assert!(
        matches!(got, Ok(0)),
        "the collector released the closed peer while paused: {got:?}"
    );
    signal(child.id() as i32, libc::SIGKILL);
    let _ = child.wait();
    drop(out);
    let _ = flooder.join();
}

#[test]
fn running_out_of_descriptors_pauses_accepting_and_recovers() {
    // soft = hard = 40: the collector cannot raise it; ~30 connections fit.
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = dir.path().join("stdout.log");
    let port = free_port();
    let stderr = dir.path().join("stderr.log");
    let stderr_file = std::fs::File::create(&stderr).expect("stderr");
    let mut child = spawn_limited(port, &stdout, stderr_file.into(), libc::RLIMIT_NOFILE, 40);
    let text = || std::fs::read_to_string(&stdout).unwrap_or_default();
    let diagnostics = || std::fs::read_to_string(&stderr).unwrap_or_default();
    wait_until("the banner", || text().contains("Listening for syslog"));
    let mut clients: Vec<TcpStream> = (0..60)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect (backlog)");
            writeln!(s, "client {i}").expect("send");
            s
        })
        .collect();
    wait_until("accept deferred", || {
        diagnostics().contains("ERROR:pysyslog.receiver:accept deferred:")
    });
    assert!(alive(child.id() as i32));
    // Free descriptors: the rest are accepted after the pause, nothing is lost.
    clients.clear();
    wait_until("every client's line", || {
        (0..60).all(|i| text().contains(&format!("INFO:127.0.0.1:client {i}\n")))
    });
    assert!(diagnostics().contains("accepting new connections again"));
    assert!(
        !text().contains("pysyslog.receiver"),
        "stdout carries only data"
    );
    signal(child.id() as i32, libc::SIGTERM);
    assert!(child.wait().expect("wait").success());
}

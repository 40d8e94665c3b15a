//! The process model, end to end: the collector started is the monitor; the
//! receiver and every writer are its children; signals to the monitor reach
//! the receiver once; whichever process dies, none is left behind.

mod util;

use util::*;

/// `PPid` of a process, from /proc.
fn parent_of(pid: i32) -> Option<i32> {
    proc_status(pid, "PPid").and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_monitor_starts_the_receiver_and_every_writer() {
    let c = Collector::start(&[]);
    let receiver = c.receiver_pid().expect("a receiver");
    let writer = c.writer_pid().expect("a writer");
    assert_eq!(parent_of(receiver), Some(c.pid()));
    assert_eq!(parent_of(writer), Some(c.pid()));
    assert_eq!(children(c.pid()).len(), 2, "{:?}", children(c.pid()));
    assert!(children(receiver).is_empty(), "the receiver forks nothing");
    // A replacement writer is the monitor's child too.
    signal(writer, libc::SIGKILL);
    let second = c.wait_new_writer(writer);
    assert_eq!(parent_of(second), Some(c.pid()));
    c.send(b"after the replacement\n");
    let lines = c.wait_lines(1);
    assert_eq!(lines, ["INFO:127.0.0.1:after the replacement"]);
}

#[test]
fn sigterm_to_the_monitor_stops_everything_with_status_0() {
    let mut c = Collector::start(&[]);
    let kids = children(c.pid());
    c.send(b"before the stop\n");
    c.wait_lines(1);
    assert!(c.stop().success());
    for kid in kids {
        assert!(!alive(kid), "pid {kid} outlived the monitor");
    }
    assert_eq!(c.lines(), ["INFO:127.0.0.1:before the stop"]);
}

#[test]
fn sighup_to_the_monitor_reaches_the_receiver_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("logging.json");
    std::fs::write(
        &cfg,
        r#"{"version": 1, "handlers": {"o": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"level": "INFO", "handlers": ["o"]}}"#,
    )
    .expect("config");
    let c = Collector::start_on(
        "127.0.0.1",
        &["--logging-config", &cfg.display().to_string()],
        |c| c.stdout_text().contains("Listening for syslog"),
    );
    signal(c.pid(), libc::SIGHUP);
    c.wait_stderr("the reload", |e| {
        e.contains("logging configuration reloaded")
    });
    // Anything a second reload would have written comes before this line.
    c.send(b"after the reload\n");
    wait_until("the line", || c.stdout_text().contains("after the reload"));
    // A diagnostic about the configuration: on stderr, not in the data.
    assert!(!c.stdout_text().contains("reloaded"));
    let err = c.stderr_text();
    assert_eq!(
        err.matches("logging configuration reloaded").count(),
        1,
        "{err}"
    );
}

#[test]
fn a_killed_monitor_takes_the_receiver_and_the_writer_with_it() {
    let mut c = Collector::start(&[]);
    let receiver = c.receiver_pid().expect("receiver");
    let writer = c.writer_pid().expect("writer");
    signal(c.pid(), libc::SIGKILL);
    c.wait_exit();
    wait_until("the receiver to die with the monitor", || !alive(receiver));
    // The writer ends once the receiver's end of its channel is gone.
    wait_until("the writer to exit", || !alive(writer));
    assert!(
        std::net::TcpStream::connect(c.addr()).is_err(),
        "nothing listens any more"
    );
}

#[test]
fn a_killed_receiver_is_replaced_and_takes_over_its_listeners() {
    let c = Collector::start(&[]);
    c.send(b"written before\n");
    c.wait_lines(1);
    let receiver = c.receiver_pid().expect("receiver");
    let writer = c.writer_pid().expect("writer");
    signal(receiver, libc::SIGKILL);
    c.wait_new_receiver(receiver);
    // Its writer finished and went; the new receiver has its own.
    wait_until("the old writer to exit", || !alive(writer));
    c.wait_new_writer(writer);
    c.send(b"written after\n");
    let lines = c.wait_lines(2);
    assert_eq!(
        lines,
        [
            "INFO:127.0.0.1:written before",
            "INFO:127.0.0.1:written after"
        ]
    );
    assert!(
        c.stderr_text().contains(&format!(
            "the receiver process (pid {receiver}) was killed by SIGKILL; a new receiver takes over its listeners"
        )),
        "{}",
        c.stderr_text()
    );
}

/// The confined receiver cannot open a file: made to try (a fault injected
/// for this test, on its next reload), it is stopped by its seccomp filter
/// with a report naming the call, and the monitor starts a new one; lines
/// before and after arrive once each.
#[test]
fn a_receiver_that_tries_to_open_a_file_is_stopped_and_replaced() {
    let c = Collector::start_with(
        "127.0.0.1",
        &[],
        &[("PYSYSLOG_FAULT_INJECT", "receiver-open-on-reload")],
        |c| c.stdout_text().contains("Listening for syslog"),
    );
    let receiver = c.receiver_pid().expect("receiver");
    assert_eq!(
        proc_status(receiver, "Seccomp").as_deref().map(str::trim),
        Some("2")
    );
    assert_eq!(
        proc_status(receiver, "NoNewPrivs")
            .as_deref()
            .map(str::trim),
        Some("1")
    );
    c.send(b"before the fault\n");
    c.wait_lines(1);
    signal(c.pid(), libc::SIGHUP);
    c.wait_new_receiver(receiver);
    let err = c.stderr_text();
    assert!(
        err.contains("a confined process made a system call outside its seccomp filter: openat"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the receiver process (pid {receiver}) made a system call its confinement forbids"
        )),
        "{err}"
    );
    c.send(b"after the fault\n");
    let lines = c.wait_lines(2);
    assert_eq!(
        lines,
        [
            "INFO:127.0.0.1:before the fault",
            "INFO:127.0.0.1:after the fault"
        ]
    );
}

/// A receiver cannot choose what a writer is started with, nor run more
/// than one: made to act as a compromised one would (a fault injected for
/// this test), it sends with every request for a writer a logging
/// configuration of its own, writing to a file the test watches, and asks
/// for a second writer once it has one. Every writer is built from the
/// monitor's configuration (lines reach stdout, the forged file is never
/// created), and every second request is refused and reported.
#[test]
fn a_receiver_cannot_choose_a_writers_configuration_nor_start_a_second_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let forged = dir.path().join("forged.log");
    let cfg = dir.path().join("logging.json");
    std::fs::write(
        &cfg,
        r#"{"version": 1, "handlers": {"o": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
            "root": {"level": "INFO", "handlers": ["o"]}}"#,
    )
    .expect("config");
    let fault = format!("receiver-forged-spawn:{}", forged.display());
    let c = Collector::start_with(
        "127.0.0.1",
        &["--logging-config", &cfg.display().to_string()],
        &[("PYSYSLOG_FAULT_INJECT", &fault)],
        |c| c.stdout_text().contains("Listening for syslog") || forged.exists(),
    );
    c.send(b"first writer\n");
    wait_until("the line on stdout, or in the forged file", || {
        c.stdout_text().contains("first writer") || forged.exists()
    });
    assert!(
        !forged.exists(),
        "the first writer used the receiver's configuration"
    );
    // A writer started after a crash is asked for the same way.
    let writer = c.writer_pid().expect("a writer");
    signal(writer, libc::SIGKILL);
    c.wait_new_writer(writer);
    c.send(b"second writer\n");
    wait_until("the line on stdout, or in the forged file", || {
        c.stdout_text().contains("second writer") || forged.exists()
    });
    assert!(
        !forged.exists(),
        "a writer used the receiver's configuration: {}",
        std::fs::read_to_string(&forged).unwrap_or_default()
    );
    let refused = "refused the receiver's request for a writer: writer process (pid";
    c.wait_stderr("both second requests refused", |err| {
        err.matches(refused).count() >= 2
    });
    let err = c.stderr_text();
    assert_eq!(
        err.matches("the monitor answered a second request for a writer: Failed")
            .count(),
        2,
        "{err}"
    );
    assert_eq!(children(c.pid()).len(), 2, "{:?}", children(c.pid()));
}

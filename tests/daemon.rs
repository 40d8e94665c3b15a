//! Running as a service: privilege drop, `--daemonize` and `--pidfile`,
//! SIGHUP (reopen for logrotate, configuration reload), systemd notifications,
//! and stopping that never hangs. The real binary, on 127.0.0.1 only.
//!
//! Tests that need root (CI runs as root) print why they skip otherwise.

mod util;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True (and says why) when the test cannot run here.
fn skip_unless_root(test: &str) -> bool {
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root to bind port 514 and switch users (CI runs as root)");
        return true;
    }
    false
}

const NOBODY: u32 = 65534;

/// A dictConfig routing everything at INFO to `out` with `%(name)s %(message)s`.
fn file_config(out: &Path, class: &str) -> String {
    serde_json::json!({
        "version": 1,
        "formatters": {"plain": {"format": "%(name)s %(message)s"}},
        "handlers": {"out": {"class": class, "filename": out, "formatter": "plain"}},
        "root": {"level": "INFO", "handlers": ["out"]},
    })
    .to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Lines of `path` that are peer lines (logger 127.0.0.1), without the logger.
fn peer_lines(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .filter_map(|l| l.strip_prefix("127.0.0.1 ").map(str::to_owned))
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i:06}")).collect()
}

fn payload(range: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in numbered(range) {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A directory the service user can write to, and its files.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().expect("tempdir");
        Work { dir }
    }

    /// Hand the directory to nobody:nogroup (root only).
    fn for_nobody(self) -> Work {
        std::os::unix::fs::chown(self.dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).expect("write");
        p
    }
}

/// Start the collector on 127.0.0.1 and a free port with `args` after PORT,
/// `envs` set, until `out` holds the banner.
fn start_logging_to(out: &Path, args: &[&str], envs: &[(&str, &str)]) -> Collector {
    Collector::start_with("127.0.0.1", args, envs, |_| {
        read(out).contains("Listening for syslog")
    })
}

/// `Uid:`, `Gid:` and `Groups:` of a process, as numbers.
fn ids(pid: i32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let field = |name: &str| -> Vec<u32> {
        proc_status(pid, name)
            .expect("proc status")
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    (field("Uid"), field("Gid"), field("Groups"))
}

#[test]
fn privileges_are_dropped_in_both_processes_and_files_belong_to_the_user() {
    if skip_unless_root("privileges_are_dropped_in_both_processes_and_files_belong_to_the_user") {
        return;
    }
    let work = Work::new().for_nobody();
    let out = work.path("messages.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let stderr = work.path("stderr.log");
    let child = Command::new(BIN)
        .args(["127.0.0.1", "514", "-l"])
        .arg(&config)
        .args(["--user", "nobody", "--group", "nogroup"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn pysyslog");
    let mut c = Collector {
        child,
        dir: tempfile::tempdir().expect("tempdir"),
        port: 514,
        stdout: work.path("no-stdout"),
        stderr: stderr.clone(),
    };
    wait_until("the banner in the output file", || {
        if let Ok(Some(status)) = c.child.try_wait() {
            let err = read(&stderr);
            if err.contains("in use") {
                panic!(
                    "port 514 on 127.0.0.1 is busy (another syslog daemon?); this test needs it free: {err}"
                );
            }
            panic!("pysyslog exited at start-up ({status}): {err}");
        }
        read(&out).contains("Listening for syslog")
    });
    let writer = c.writer_pid().expect("writer process");
    let receiver = c.receiver_pid().expect("receiver process");
    for pid in [c.pid(), receiver, writer] {
        let (uids, gids, groups) = ids(pid);
        assert_eq!(
            uids,
            vec![NOBODY; 4],
            "pid {pid}: real/effective/saved/fs uid"
        );
        assert_eq!(gids, vec![NOBODY; 4], "pid {pid}: gids");
        assert!(
            groups.iter().all(|&g| g == NOBODY),
            "pid {pid}: supplementary groups {groups:?}"
        );
        // Not dumpable after the drop (changing uid resets the flag, so it is
        // set again): the kernel then keeps /proc/PID's files root's, and
        // nobody (the service user itself, or a compromised sibling) can read
        // the process's memory through them.
        let mem = fs::metadata(format!("/proc/{pid}/mem")).expect("/proc/PID/mem");
        assert_eq!(mem.uid(), 0, "pid {pid} is dumpable after the drop");
    }
    // The receiver and the writer confine themselves: no new privileges, a
    // seccomp filter; no process keeps a capability after the drop.
    for (who, pid) in [("receiver", receiver), ("writer", writer)] {
        for (field, want) in [("NoNewPrivs", "1"), ("Seccomp", "2")] {
            assert_eq!(
                proc_status(pid, field).as_deref(),
                Some(want),
                "{who} {pid}: {field}"
            );
        }
    }
    for pid in [c.pid(), receiver, writer] {
        for field in ["CapEff", "CapPrm"] {
            assert_eq!(
                proc_status(pid, field).as_deref(),
                Some("0000000000000000"),
                "pid {pid}: {field}"
            );
        }
    }
    c.send(&payload(0..3));
    wait_until("3 lines", || peer_lines(&out).len() == 3);
    assert_eq!(peer_lines(&out), numbered(0..3));
    let meta = fs::metadata(&out).expect("output file");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (NOBODY, NOBODY),
        "the writer creates its files as the service user"
    );
    assert_eq!(c.stop().code(), Some(0), "{}", read(&stderr));
}

#[test]
fn an_unknown_user_or_group_is_a_start_up_error() {
    for (flags, wanted) in [
        (
            vec!["--user", "no-such-user-pysyslog"],
            "--user no-such-user-pysyslog: no such user",
        ),
        (
            vec!["--user", "0", "--group", "no-such-group-pysyslog"],
            "--group no-such-group-pysyslog: no such group",
        ),
    ] {
        let port = free_port().to_string();
        let (status, err) = run_with_timeout(
            Command::new(BIN)
                .args(["127.0.0.1", &port])
                .args(&flags)
                .stdin(Stdio::null()),
        )
        .expect("run");
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(err.contains(wanted), "{err}");
    }
}

/// logrotate's way: `mv` the file, then SIGHUP; the collector runs as nobody
/// (when root), as a packaged one does.
#[test]
fn mv_then_hup_splits_the_lines_between_the_old_and_the_new_file() {
    let work = if is_root() {
        Work::new().for_nobody()
    } else {
        Work::new()
    };
    let out = work.path("messages.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut args = vec!["-l", config.to_str().expect("utf-8 path")];
    if is_root() {
        args.extend(["--user", "nobody", "--group", "nogroup"]);
    }
    let mut c = start_logging_to(&out, &args, &[]);
    c.send(&payload(0..500));
    wait_until("the first 500 lines", || peer_lines(&out).len() == 500);
    let rotated = work.path("messages.log.1");
    fs::rename(&out, &rotated).expect("mv");
    signal(c.pid(), libc::SIGHUP);
    wait_until("the reopened file", || out.exists());
    c.send(&payload(500..1000));
    wait_until("the next 500 lines", || peer_lines(&out).len() == 500);
    assert_eq!(peer_lines(&rotated), numbered(0..500));
    assert_eq!(peer_lines(&out), numbered(500..1000));
    if is_root() {
        assert_eq!(fs::metadata(&out).expect("new file").uid(), NOBODY);
    }
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
    assert_eq!(peer_lines(&rotated).len() + peer_lines(&out).len(), 1000);
}

/// SIGUSR1 reopens the files and does nothing else: with a logging
/// configuration broken in the meantime (which a SIGHUP would refuse, and a
/// packaged `reload` would not even send), logrotate's `mv` is still
/// followed, and nothing is reloaded.
#[test]
fn usr1_reopens_the_files_whatever_the_configuration_file_holds() {
    let work = Work::new();
    let out = work.path("messages.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut c = start_logging_to(&out, &["-l", config.to_str().expect("path")], &[]);
    c.send(&payload(0..200));
    wait_until("the first 200 lines", || peer_lines(&out).len() == 200);
    fs::write(&config, "{\"version\": 1, \"root\": ").expect("broken config");
    let rotated = work.path("messages.log.1");
    fs::rename(&out, &rotated).expect("mv");
    signal(c.pid(), libc::SIGUSR1);
    wait_until("the reopened file", || out.exists());
    c.send(&payload(200..400));
    wait_until("the next 200 lines", || peer_lines(&out).len() == 200);
    assert_eq!(peer_lines(&rotated), numbered(0..200));
    assert_eq!(peer_lines(&out), numbered(200..400));
    let all = read(&rotated) + &read(&out) + &c.stderr_text();
    assert!(!all.contains("reload"), "nothing was reloaded: {all}");
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

/// A reloaded configuration's own warnings are about the configuration,
/// not the data: on stderr, never through the configuration into its files.
#[test]
fn a_reloads_warnings_go_to_stderr_not_into_the_output() {
    let work = Work::new();
    let out = work.path("messages.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut c = start_logging_to(&out, &["-l", config.to_str().expect("path")], &[]);
    let mut with_spare: serde_json::Value =
        serde_json::from_str(&file_config(&out, "logging.FileHandler")).expect("json");
    with_spare["handlers"]["spare"] = serde_json::json!({"class": "logging.NullHandler"});
    fs::write(&config, with_spare.to_string()).expect("new config");
    signal(c.pid(), libc::SIGHUP);
    wait_until("the warning on stderr", || {
        c.stderr_text().contains("WARNING:pysyslog.config:")
            && c.stderr_text().contains("handlers.spare")
    });
    c.send(b"after\n");
    wait_until("a line after the reload", || {
        peer_lines(&out).contains(&"after".to_owned())
    });
    assert!(!read(&out).contains("pysyslog.config"), "{}", read(&out));
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

#[test]
fn a_watched_file_handler_follows_a_mv_without_hup() {
    let work = Work::new();
    let out = work.path("messages.log");
    let config = work.write(
        "logging.json",
        &file_config(&out, "logging.handlers.WatchedFileHandler"),
    );
    let mut c = start_logging_to(&out, &["-l", config.to_str().expect("path")], &[]);
    c.send(&payload(0..300));
    wait_until("the first 300 lines", || peer_lines(&out).len() == 300);
    let rotated = work.path("messages.log.1");
    fs::rename(&out, &rotated).expect("mv");
    c.send(&payload(300..600));
    wait_until("the next 300 lines in a new file", || {
        peer_lines(&out).len() == 300
    });
    assert_eq!(peer_lines(&rotated), numbered(0..300));
    assert_eq!(peer_lines(&out), numbered(300..600));
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

#[test]
fn hup_reloads_the_configuration_in_order_with_the_data() {
    let work = Work::new();
    let (a, b) = (work.path("a.log"), work.path("b.log"));
    let config = work.write("logging.json", &file_config(&a, "logging.FileHandler"));
    let mut c = start_logging_to(&a, &["-l", config.to_str().expect("path")], &[]);
    // One connection; the HUP lands somewhere in the middle of the stream.
    let mut s = c.connect();
    s.write_all(&payload(0..20_000)).expect("send");
    fs::write(&config, file_config(&b, "logging.FileHandler")).expect("new config");
    signal(c.pid(), libc::SIGHUP);
    s.write_all(&payload(20_000..40_000)).expect("send");
    drop(s);
    wait_until("every line in a.log or b.log", || {
        peer_lines(&a).len() + peer_lines(&b).len() == 40_000
    });
    let (in_a, in_b) = (peer_lines(&a), peer_lines(&b));
    let split = in_a.len();
    assert!(
        split >= 20_000,
        "lines sent before the HUP were written with the old configuration: {split}"
    );
    assert_eq!(in_a, numbered(0..split), "a.log: a prefix, in order, once");
    assert_eq!(
        in_b,
        numbered(split..40_000),
        "b.log: the rest, in order, once"
    );
    // Diagnostics about the configuration go to stderr (the journal),
    // never into the data files of a configuration that does not route
    // the collector's own loggers.
    c.wait_stderr("the reload reported", |e| {
        e.contains("INFO:pysyslog.writer:logging configuration reloaded from")
    });
    assert!(!read(&b).contains("reloaded"), "{}", read(&b));

    // An invalid configuration keeps the current one, and says why.
    fs::write(&config, "{\"version\": 1, \"root\": ").expect("broken config");
    signal(c.pid(), libc::SIGHUP);
    c.wait_stderr("the reload error", |e| {
        e.contains(
            "ERROR:pysyslog.config:logging configuration not reloaded, keeping the previous one",
        ) && e.contains("invalid JSON")
    });
    assert!(!read(&b).contains("not reloaded"), "{}", read(&b));
    c.send(b"still here\n");
    wait_until("a line after the failed reload", || {
        peer_lines(&b).last().map(String::as_str) == Some("still here")
    });
    assert_eq!(peer_lines(&a).len(), split, "a.log is not written any more");
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

#[test]
fn a_reload_that_writes_in_a_new_directory_is_applied_by_a_new_writer() {
    // A writer may write only beneath its handlers' directories (Landlock):
    // a configuration that adds a handler elsewhere gets a new writer, built
    // from it, and nothing is lost or written twice on the way.
    let work = Work::new();
    let a = work.path("a.log");
    let elsewhere = tempfile::tempdir().expect("second directory");
    let b = elsewhere.path().join("b.log");
    let config = work.write("logging.json", &file_config(&a, "logging.FileHandler"));
    let mut c = start_logging_to(&a, &["-l", config.to_str().expect("path")], &[]);
    let first = c.writer_pid().expect("writer");
    let mut s = c.connect();
    s.write_all(&payload(0..5_000)).expect("send");
    wait_until("the first lines", || peer_lines(&a).len() == 5_000);
    let both = serde_json::json!({
        "version": 1,
        "formatters": {"plain": {"format": "%(name)s %(message)s"}},
        "handlers": {
            "a": {"class": "logging.FileHandler", "filename": a, "formatter": "plain"},
            "b": {"class": "logging.FileHandler", "filename": b, "formatter": "plain"},
        },
        "root": {"level": "INFO", "handlers": ["a", "b"]},
    });
    fs::write(&config, both.to_string()).expect("new config");
    signal(c.pid(), libc::SIGHUP);
    wait_until("the hand-over in a.log", || {
        read(&a).contains("handed over")
    });
    s.write_all(&payload(5_000..10_000)).expect("send");
    drop(s);
    wait_until("every line in a.log", || peer_lines(&a).len() == 10_000);
    wait_until("the later lines in b.log", || {
        peer_lines(&b).last().map(String::as_str) == Some("line 009999")
    });
    assert_eq!(
        peer_lines(&a),
        numbered(0..10_000),
        "a.log: every line once"
    );
    assert_eq!(
        peer_lines(&b),
        numbered(5_000..10_000),
        "b.log: the lines after the reload"
    );
    let text = read(&a);
    assert!(
        text.contains(&format!("needs writing in {}", elsewhere.path().display())),
        "{text}"
    );
    assert!(
        c.stderr_text()
            .contains("logging configuration reloaded from"),
        "{}",
        c.stderr_text()
    );
    let second = c.writer_pid().expect("writer");
    assert_ne!(first, second, "a new writer applied the reload");
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

/// A test's notification socket, as systemd's.
struct NotifySocket {
    socket: UnixDatagram,
}

impl NotifySocket {
    fn next(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).expect("a notification in time");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

fn check_notifications(notify_socket: &str, server: NotifySocket) {
    let work = Work::new();
    let out = work.path("out.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut c = start_logging_to(
        &out,
        &["-l", config.to_str().expect("path")],
        &[("NOTIFY_SOCKET", notify_socket)],
    );
    let ready = server.next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    assert!(ready.contains(&format!("MAINPID={}", c.pid())), "{ready}");
    // Ready means listening: a connection works at once.
    TcpStream::connect(c.addr()).expect("listening when READY=1 arrives");

    signal(c.pid(), libc::SIGHUP);
    let reloading = server.next();
    let mut fields = reloading.lines();
    assert_eq!(fields.next(), Some("RELOADING=1"), "{reloading}");
    let usec = fields
        .next()
        .and_then(|f| f.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading}");
    assert!(server.next().starts_with("READY=1"));

    signal(c.pid(), libc::SIGTERM);
    assert_eq!(server.next(), "STOPPING=1");
    assert_eq!(c.wait_exit().code(), Some(0), "{}", c.stderr_text());
}

#[test]
fn systemd_notifications_on_a_path_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).expect("bind");
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    check_notifications(path.to_str().expect("path"), NotifySocket { socket });
}

#[test]
fn systemd_notifications_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("pysyslog-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
    let socket = UnixDatagram::bind_addr(&addr).expect("bind");
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    check_notifications(&format!("@{name}"), NotifySocket { socket });
}

/// A daemon this test started, stopped by PID if the test fails.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if alive(self.0) {
            let kids = children(self.0);
            signal(self.0, libc::SIGKILL);
            for k in kids {
                signal(k, libc::SIGKILL);
            }
        }
    }
}

/// Run `pysyslog 127.0.0.1 PORT args...` to completion (the launcher), on a
/// free port; returns its status, stderr and the port.
fn launch(args: &[&str]) -> (std::process::ExitStatus, String, u16) {
    for _attempt in 0..5 {
        let port = free_port();
        let (status, err) = run_with_timeout(
            Command::new(BIN)
                .arg("127.0.0.1")
                .arg(port.to_string())
                .args(args)
                .stdin(Stdio::null()),
        )
        .expect("the launcher exits");
        if !err.contains("Address already in use") {
            return (status, err, port);
        }
    }
    panic!("could not find a free port");
}

/// Processes whose command line mentions `needle` (this test's unique paths).
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid) {
                found.push(pid);
            }
        }
    }
    found
}

#[test]
fn daemonize_reports_readiness_and_keeps_a_pid_file() {
    let work = Work::new();
    let out = work.path("out.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let pidfile = work.path("pysyslog.pid");
    let args = [
        "-l",
        config.to_str().expect("path"),
        "--daemonize",
        "--pidfile",
        pidfile.to_str().expect("path"),
    ];
    let (status, err, port) = launch(&args);
    assert_eq!(status.code(), Some(0), "{err}");
    // Ready when the launcher returns: the pid file is written and the port listens.
    let pid: i32 = read(&pidfile)
        .trim()
        .parse()
        .expect("a pid in the pid file");
    let _guard = Daemon(pid);
    assert!(alive(pid), "the daemon runs");
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("listening once started");
    s.write_all(&payload(0..10)).expect("send");
    drop(s);
    wait_until("10 lines", || peer_lines(&out).len() == 10);
    let writer = writer_of(pid).expect("the writer");

    // Detached: its own session (not a leader), cwd /, stdin on /dev/null.
    // `session` is field 6 of proc(5), index 3 after the command name.
    let sid: i32 = proc_stat(pid).get(3).expect("stat").parse().expect("sid");
    assert!(
        sid > 0,
        "the daemon's session is visible in our pid namespace"
    );
    // SAFETY: getsid of our own process.
    let our_sid = unsafe { libc::getsid(0) };
    assert_ne!(sid, our_sid, "a new session");
    assert_ne!(sid, pid, "not a session leader (double fork)");
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd"),
        PathBuf::from("/")
    );
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/fd/0")).expect("fd 0"),
        PathBuf::from("/dev/null")
    );

    // A second instance with the same pid file refuses, naming the first.
    let (status, err, _) = launch(&args);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("pysyslog is already running as pid {pid}")),
        "{err}"
    );
    assert_eq!(
        read(&pidfile).trim(),
        pid.to_string(),
        "the pid file is untouched"
    );

    signal(pid, libc::SIGTERM);
    wait_until("the daemon to exit", || !alive(pid) && !alive(writer));
    wait_until("the pid file to be removed", || !pidfile.exists());
}

#[test]
fn daemonize_with_a_bad_configuration_fails_with_the_error() {
    let work = Work::new();
    let pidfile = work.path("pysyslog.pid");
    // Invalid JSON: found before detaching.
    let broken = work.write("broken.json", "{\"version\": 1,");
    // Valid, but the writer cannot open its file: found after detaching, and
    // reported through the readiness pipe.
    let unopenable = work.write(
        "unopenable.json",
        &file_config(&work.path("missing-dir/out.log"), "logging.FileHandler"),
    );
    for (config, wanted) in [
        (&broken, "invalid JSON"),
        (&unopenable, "No such file or directory"),
    ] {
        let (status, err, _) = launch(&[
            "-l",
            config.to_str().expect("path"),
            "--daemonize",
            "--pidfile",
            pidfile.to_str().expect("path"),
        ]);
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(err.contains(wanted), "{err}");
        assert!(!pidfile.exists(), "no pid file left");
        assert_eq!(
            processes_mentioning(pidfile.to_str().expect("path")),
            Vec::<i32>::new(),
            "no process left"
        );
    }
}

/// Start with stdout on a pipe the test never reads, and fill it: the writer
/// blocks in write(2) and the receiver's queue fills. Returns the collector
/// and the unread pipe (dropping it would unblock the writer).
fn stuck_collector() -> (Collector, std::process::ChildStdout) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let stderr = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["127.0.0.1", &port.to_string(), "-m", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&stderr).expect("stderr"))
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("banner");
    assert!(banner.contains("Listening for syslog"), "{banner}");
    let c = Collector {
        child,
        dir,
        port,
        stdout: PathBuf::from("/nonexistent"),
        stderr,
    };
    // 4 MiB of lines: far more than a pipe (64 KiB) and the queue hold.
    let mut s = c.connect();
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let chunk = payload(0..10_000);
    let deadline = Instant::now() + PATIENCE;
    let mut sent = 0;
    while sent < 4 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            // The collector stopped reading: it is stuck, as wanted.
            Err(_) => break,
        }
        assert!(Instant::now() < deadline, "could not fill the pipe");
    }
    // The connection stays open (dropped with the test); the peer is quiet now.
    std::mem::forget(s);
    (c, stdout.into_inner())
}

#[test]
fn a_stop_that_cannot_drain_ends_within_its_bound() {
    let (mut c, _pipe) = stuck_collector();
    let writer = c.writer_pid().expect("writer");
    let started = Instant::now();
    signal(c.pid(), libc::SIGTERM);
    c.wait_exit();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(25), "stop took {took:?}");
    wait_until("the writer to be gone", || !alive(writer));
}

#[test]
fn a_second_sigterm_while_stopping_ends_the_collector_sooner() {
    let (mut c, _pipe) = stuck_collector();
    let writer = c.writer_pid().expect("writer");
    let started = Instant::now();
    signal(c.pid(), libc::SIGTERM);
    // The first stop began once the listener is closed.
    wait_until("the listener to close", || {
        TcpStream::connect(c.addr()).is_err()
    });
    signal(c.pid(), libc::SIGTERM);
    c.wait_exit();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    wait_until("the writer to be gone", || !alive(writer));
}

/// A new configuration that validates but cannot be applied (its directory is
/// missing) keeps the old one, in the running writer and in one started after
/// a crash.
#[test]
fn a_reload_that_cannot_be_applied_keeps_the_old_configuration_across_a_writer_crash() {
    let work = Work::new();
    let out = work.path("out.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let c = start_logging_to(&out, &["-l", config.to_str().expect("path")], &[]);
    fs::write(
        &config,
        file_config(&work.path("missing/out.log"), "logging.FileHandler"),
    )
    .expect("new config");
    signal(c.pid(), libc::SIGHUP);
    c.wait_stderr("the writer's reload error", |e| {
        e.contains(
            "ERROR:pysyslog.writer:logging configuration not reloaded, keeping the previous one",
        )
    });
    c.send(b"before the crash\n");
    wait_until("a line", || peer_lines(&out) == ["before the crash"]);

    let first = c.writer_pid().expect("writer");
    signal(first, libc::SIGKILL);
    c.wait_new_writer(first);
    c.wait_stderr("the fallback reported", |e| {
        e.contains("the reloaded logging configuration cannot be applied, using the previous one")
    });
    c.send(b"after the crash\n");
    wait_until("the line after the crash", || {
        peer_lines(&out).last().map(String::as_str) == Some("after the crash")
    });
}

/// Start the collector with `file` inherited as descriptor 9 (no close-on-exec,
/// as a careless launcher leaves it); stdout goes to `stdout`.
fn spawn_inheriting(file: &fs::File, port: u16, stdout: &Path) -> std::process::Child {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = file.as_raw_fd();
    let mut cmd = Command::new(BIN);
    cmd.args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(fs::File::create(stdout).expect("stdout"))
        .stderr(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn pysyslog")
}

/// The descriptors of `pid` that point at `path`.
fn descriptors_to(pid: i32, path: &Path) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter(|e| fs::read_link(e.path()).is_ok_and(|target| target == path))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn inherited_descriptors_are_closed_and_no_core_can_be_dumped_in_both_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("inherited-secret");
    let file = fs::File::create(&secret).expect("create");
    let stdout = dir.path().join("stdout.log");
    let port = free_port();
    // A Collector stops the process by PID even when an assertion fails.
    let mut c = Collector {
        child: spawn_inheriting(&file, port, &stdout),
        dir,
        port,
        stdout: stdout.clone(),
        stderr: secret.with_file_name("no-stderr"),
    };
    wait_until("the banner", || {
        read(&stdout).contains("Listening for syslog")
    });
    let writer = c.writer_pid().expect("the writer");
    let receiver = c.receiver_pid().expect("the receiver");
    for p in [c.pid(), receiver, writer] {
        assert_eq!(
            descriptors_to(p, &secret),
            Vec::<String>::new(),
            "pid {p} kept the launcher's descriptor"
        );
        let limits = fs::read_to_string(format!("/proc/{p}/limits")).expect("limits");
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .expect("a core limit line");
        let values: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
        assert_eq!(values, ["0", "0"], "pid {p}: {core}");
    }
    assert_eq!(c.stop().code(), Some(0));
}

/// A collector started as an ordinary user (no credential change, which would
/// reset the flag by itself) is still not dumpable: /proc/PID's files stay
/// root's, so the user cannot read its memory.
#[test]
fn a_collector_started_as_a_user_is_not_dumpable() {
    if skip_unless_root("a_collector_started_as_a_user_is_not_dumpable") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = dir.path().join("stdout.log");
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).expect("stdout"))
        .stderr(Stdio::null())
        .uid(NOBODY)
        // std clears the supplementary groups itself when leaving root.
        .gid(NOBODY);
    let mut c = Collector {
        child: cmd.spawn().expect("spawn pysyslog as nobody"),
        dir,
        port,
        stdout: stdout.clone(),
        stderr: stdout.with_file_name("no-stderr"),
    };
    wait_until("the banner", || {
        read(&stdout).contains("Listening for syslog")
    });
    let writer = c.writer_pid().expect("the writer");
    let receiver = c.receiver_pid().expect("the receiver");
    for pid in [c.pid(), receiver, writer] {
        assert_eq!(ids(pid).0, vec![NOBODY; 4], "pid {pid} runs as nobody");
        let mem = fs::metadata(format!("/proc/{pid}/mem")).expect("/proc/PID/mem");
        assert_eq!(mem.uid(), 0, "pid {pid} is dumpable");
    }
    assert_eq!(c.stop().code(), Some(0));
}

/// Still root (no --user), the monitor checks the logging configuration at
/// each SIGHUP as start-up did: a file others could change is not
/// reloaded, the previous configuration stays, and the log says why.
#[test]
fn a_reload_as_root_refuses_a_configuration_others_could_change() {
    if skip_unless_root("a_reload_as_root_refuses_a_configuration_others_could_change") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let work = Work::new();
    let out = work.path("out.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut c = start_logging_to(&out, &["-l", config.to_str().expect("path")], &[]);
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).expect("chmod");
    signal(c.pid(), libc::SIGHUP);
    c.wait_stderr("the refusal", |e| {
        e.contains("logging configuration not reloaded, keeping the previous one")
    });
    assert!(
        c.stderr_text().contains(&format!(
            "--logging-config {}: is writable by users other than root (owner uid 0, mode 666)",
            config.display()
        )),
        "{}",
        c.stderr_text()
    );
    c.send(b"still written\n");
    wait_until("a line after the refused reload", || {
        peer_lines(&out).last().map(String::as_str) == Some("still written")
    });
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

/// Under --user, every process runs as the service user once start-up is
/// done: a TLS key that user could read (as its owner, through its group,
/// or as anyone) is refused at start-up, with the fix. A key only root can
/// read is kept from start-up to stop: SIGHUP says it is not re-read.
#[test]
fn under_user_a_key_the_service_user_could_read_is_refused_and_a_private_one_is_kept() {
    if skip_unless_root(
        "under_user_a_key_the_service_user_could_read_is_refused_and_a_private_one_is_kept",
    ) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let keys = Work::new();
    let cert = keys.path("server.pem");
    let key = keys.path("server.key");
    fs::copy(tls_fixture("server-ec.pem"), &cert).expect("copy");
    fs::copy(tls_fixture("server-ec.key"), &key).expect("copy");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let tls_as_nobody = [
        "--cert", &cert_arg, "--key", &key_arg, "--user", "nobody", "--group", "nogroup",
    ];
    for (owner, group, mode) in [(0, 0, 0o644), (0, NOBODY, 0o640), (NOBODY, 0, 0o600)] {
        std::os::unix::fs::chown(&key, Some(owner), Some(group)).expect("chown");
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).expect("chmod");
        let (status, err, _) = launch(&tls_as_nobody);
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "--key {key_arg}: readable by the service user nobody (owner uid {owner}, group gid {group}, mode {mode:03o})"
            )) && err.contains(&format!("chmod 600 {key_arg}")),
            "{err}"
        );
    }
    std::os::unix::fs::chown(&key, Some(0), Some(0)).expect("chown");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let work = Work::new().for_nobody();
    let out = work.path("messages.log");
    let config = work.write("logging.json", &file_config(&out, "logging.FileHandler"));
    let mut args = vec!["-l", config.to_str().expect("path")];
    args.extend(tls_as_nobody);
    let mut c = start_logging_to(&out, &args, &[]);
    signal(c.pid(), libc::SIGHUP);
    c.wait_stderr("the reload reported", |e| {
        e.contains("logging configuration reloaded")
    });
    wait_until("the TLS reload's note in the output", || {
        read(&out).contains("pysyslog.tls ")
    });
    let text = read(&out);
    assert!(
        text.contains(
            "pysyslog.tls TLS certificate and key not re-read: the collector runs as nobody"
        ),
        "{text}"
    );
    assert!(!text.contains("TLS reload failed"), "{text}");
    assert_eq!(c.stop().code(), Some(0), "{}", c.stderr_text());
}

/// A writer reads only what it needs outside its directories (its time
/// zone, name resolution, the libraries it loads for it): made to read
/// other files once confined (a fault injected for this test), it cannot,
/// though as root every permission bit would let it.
#[test]
fn a_writer_reads_no_system_file_it_does_not_need() {
    // SAFETY: the syscall only returns the Landlock ABI version.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if abi < 1 {
        eprintln!("SKIPPED a_writer_reads_no_system_file_it_does_not_need: no Landlock here");
        return;
    }
    let probes = "/etc/passwd:/proc/self/status:/etc/hosts:/usr/share/zoneinfo/UTC";
    let fault = format!("writer-read:{probes}");
    let mut c = Collector::start_with(
        "127.0.0.1",
        &[],
        &[("PYSYSLOG_FAULT_INJECT", &fault)],
        |c| c.stdout_text().contains("Listening for syslog"),
    );
    c.wait_stderr("the writer's four reads", |err| {
        err.matches("pysyslog-writer: fault injection: reading")
            .count()
            >= 4
    });
    let err = c.stderr_text();
    for refused in ["/etc/passwd", "/proc/self/status"] {
        assert!(
            err.contains(&format!(
                "fault injection: reading {refused}: Permission denied"
            )),
            "{err}"
        );
    }
    assert!(
        err.contains("fault injection: reading /etc/hosts: read"),
        "{err}"
    );
    if Path::new("/usr/share/zoneinfo/UTC").exists() {
        assert!(
            err.contains("fault injection: reading /usr/share/zoneinfo/UTC: read"),
            "{err}"
        );
    }
    assert_eq!(c.stop().code(), Some(0));
}

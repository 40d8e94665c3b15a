//! Test harness: runs the real `pysyslog` binary on loopback and watches its output.
//!
//! `Collector` starts the binary in the foreground with stdout redirected to a
//! file in its own temporary directory, waits for the start-up banner (so the
//! listener is bound and the writer ready), and stops it by PID on drop.
//! Everything polls for a condition with a deadline; nothing sleeps to synchronise.

#![allow(dead_code)]

pub mod haproxy;
pub mod relp;
pub mod tmpfs;
#[allow(unused_imports)]
pub use tmpfs::Tmpfs;

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pysyslog");

/// A binary of the tools crate (`pysyslog-flood`, `bench-peers`). Cargo hands
/// a test only its own package's binaries, so the tools' are found where the
/// same build put them: beside `pysyslog` (`cargo test --workspace`, which
/// `tests/run` uses, builds them first).
pub fn tool(name: &str) -> PathBuf {
    let path = Path::new(BIN).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the tools with `cargo build -p pysyslog-tools --bins` \
         (tests/run does) with the same profile as the tests",
        path.display()
    );
    path
}

/// How long any condition may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The lines of `text` that are the collector's own messages:
/// `LEVEL:pysyslog.NAME:message`.
pub fn diagnostics(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|logger| logger.starts_with("pysyslog."))
        })
        .map(str::to_owned)
        .collect()
}

/// Poll `cond` until it holds or `PATIENCE` passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A port that was free a moment ago (the collector gets a few tries).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Collector {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Collector {
    /// Start with `args` after HOST PORT, on 127.0.0.1, and wait for the banner on stdout.
    pub fn start(args: &[&str]) -> Collector {
        Self::start_on("127.0.0.1", args, |c| {
            c.stdout_text().contains("Listening for syslog")
        })
    }

    /// Start on `host`, waiting until `ready` holds.
    pub fn start_on(host: &str, args: &[&str], ready: impl Fn(&Collector) -> bool) -> Collector {
        Self::start_with(host, args, &[], ready)
    }

    /// Start on `host` with `envs` set, waiting until `ready` holds.
    pub fn start_with(
        host: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        ready: impl Fn(&Collector) -> bool,
    ) -> Collector {
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let stdout = dir.path().join("stdout.log");
            let stderr = dir.path().join("stderr.log");
            let child = Command::new(BIN)
                .arg(host)
                .arg(port.to_string())
                .args(args)
                .envs(envs.iter().copied())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(fs::File::create(&stdout).expect("stdout file"))
                .stderr(fs::File::create(&stderr).expect("stderr file"))
                .spawn()
                .expect("spawn pysyslog");
            let mut c = Collector {
                child,
                dir,
                port,
                stdout,
                stderr,
            };
            let deadline = Instant::now() + PATIENCE;
            loop {
                if ready(&c) {
                    return c;
                }
                if let Ok(Some(status)) = c.child.try_wait() {
                    let err = c.stderr_text();
                    if err.contains("Address already in use") {
                        break; // lost the race for the port: try another
                    }
                    panic!("pysyslog exited at start-up ({status}): {err}");
                }
                assert!(
                    Instant::now() < deadline,
                    "pysyslog did not become ready: {}",
                    c.stderr_text()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        panic!("could not find a free port");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr()).expect("connect")
    }

    /// Send `data` on a new connection and close it.
    pub fn send(&self, data: &[u8]) {
        let mut s = self.connect();
        s.write_all(data).expect("send");
    }

    pub fn stdout_bytes(&self) -> Vec<u8> {
        fs::read(&self.stdout).unwrap_or_default()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout_bytes()).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Output lines after the banner.
    pub fn lines(&self) -> Vec<String> {
        self.stdout_text()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect()
    }

    /// Wait until stdout holds `n` lines after the banner.
    pub fn wait_lines(&self, n: usize) -> Vec<String> {
        wait_until(&format!("{n} output lines"), || {
            count_lines(&self.stdout) > n
        });
        self.lines()
    }

    /// The collector's own messages (`LEVEL:pysyslog.*:...`), which go to
    /// stderr without a logging configuration so that stdout carries only data.
    pub fn diagnostics(&self) -> Vec<String> {
        diagnostics(&self.stderr_text())
    }

    /// Wait until stderr holds `n` of the collector's own messages.
    pub fn wait_diagnostics(&self, n: usize) -> Vec<String> {
        wait_until(&format!("{n} diagnostics on stderr"), || {
            self.diagnostics().len() >= n
        });
        self.diagnostics()
    }

    /// Wait until the collector's stderr satisfies `cond`; on a timeout the
    /// panic shows the end of stderr, which says what the collector did.
    pub fn wait_stderr(&self, what: &str, mut cond: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.stderr_text();
            if cond(&text) {
                return;
            }
            if Instant::now() >= deadline {
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                panic!("timed out waiting for {what}; the end of stderr:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The writer process: the collector's child.
    pub fn writer_pid(&self) -> Option<i32> {
        writer_of(self.pid())
    }

    /// Wait until a writer other than `old` runs (its replacement); its pid.
    pub fn wait_new_writer(&self, old: i32) -> i32 {
        let mut new = None;
        wait_until("a new writer", || {
            new = self.writer_pid().filter(|&w| w != old && alive(w));
            new.is_some()
        });
        new.unwrap_or_default()
    }

    /// Wait until a receiver other than `old` runs (its replacement); its pid.
    pub fn wait_new_receiver(&self, old: i32) -> i32 {
        let mut new = None;
        wait_until("a new receiver", || {
            new = receiver_of(self.pid()).filter(|&r| r != old && alive(r));
            new.is_some()
        });
        new.unwrap_or_default()
    }

    /// The receiver process: the monitor's child named `pysyslog-recv`
    /// (waited for: a collector may look ready, by a socket the monitor
    /// bound, a moment before its receiver has named itself).
    pub fn receiver_pid(&self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = receiver_of(self.pid());
            if found.is_some() || Instant::now() >= deadline || !alive(self.pid()) {
                return found;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Send SIGTERM and wait for the exit; checks that no child is left behind.
    pub fn stop(&mut self) -> ExitStatus {
        let kids = children(self.pid());
        signal(self.pid(), libc::SIGTERM);
        let status = self.wait_exit();
        for kid in kids {
            wait_until(&format!("writer {kid} to exit"), || !alive(kid));
        }
        status
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "pysyslog did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let kids = children(self.pid());
            let _ = self.child.kill();
            let _ = self.child.wait();
            for kid in kids {
                signal(kid, libc::SIGKILL);
            }
        }
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a PID this test started.
    unsafe { libc::kill(pid, sig) };
}

/// The fields of `/proc/PID/stat` after the command name: `[0]` is the state
/// (field 3 in proc(5)), `[3]` the session, `[11]`/`[12]` utime/stime;
/// empty when the process is gone.
pub fn proc_stat(pid: i32) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The value of `NAME:` in `/proc/PID/status` (e.g. `VmHWM`, `Uid`), trimmed.
pub fn proc_status(pid: i32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// A process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    proc_stat(pid).first().is_some_and(|state| state != "Z")
}

/// The writer among the collector's (the monitor's) children: the process
/// named `pysyslog-writer` (a writer names itself so).
pub fn writer_of(monitor: i32) -> Option<i32> {
    children(monitor)
        .into_iter()
        .find(|&p| process_name(p).as_deref() == Some("pysyslog-writer"))
}

/// The receiver among the collector's (the monitor's) children: the process
/// named `pysyslog-recv`.
pub fn receiver_of(monitor: i32) -> Option<i32> {
    children(monitor)
        .into_iter()
        .find(|&p| process_name(p).as_deref() == Some("pysyslog-recv"))
}

/// `/proc/PID/comm`, without its newline.
pub fn process_name(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

/// Child PIDs of `pid`, from /proc.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = fs::read_to_string(task.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    out
}

pub fn count_lines(path: &Path) -> usize {
    fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// What pysyslog 0.1.0 prints for LF-framed input, computed by CPython itself:
/// its writer's `logging.getLogger(peer).info(line.strip().decode())` under
/// `basicConfig(stream=sys.stdout, level=INFO)`, for every line `rfile` yields.
/// (pysyslog dies on invalid UTF-8; we decode lossily, so the reference does too.)
pub fn python_reference(peer: &str, input: &[u8]) -> Vec<u8> {
    let script = r#"
import io, logging, sys
logging.logThreads = logging.logProcesses = logging.logMultiprocessing = 0
logging._srcfile = None
logging.raiseExceptions = False
out = io.StringIO()
logging.basicConfig(stream=out, level=20)
peer = sys.argv[1]
for line in io.BytesIO(sys.stdin.buffer.read()):
    logging.getLogger(peer).info(line.strip().decode('utf-8', 'replace'))
sys.stdout.buffer.write(out.getvalue().encode())
"#;
    let out = output_fed(
        Command::new("python3").args(["-c", script, peer]),
        input,
        "python3 must be installed (tests/run installs it)",
    );
    assert!(out.status.success(), "python reference failed");
    out.stdout
}

/// Run `cmd` with `input` on its stdin and its stdout captured (stderr as the
/// caller set it), to completion. `what` says what failed to start.
pub fn output_fed(cmd: &mut Command, input: &[u8], what: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .unwrap_or_else(|e| panic!("feeding {what}: {e}"));
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Run a command to completion with a deadline; returns its status and stderr.
pub fn run_with_timeout(cmd: &mut Command) -> io::Result<(ExitStatus, String)> {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                io::Read::read_to_string(&mut e, &mut err)?;
            }
            return Ok((status, err));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(io::ErrorKind::TimedOut, "command timed out"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// Helpers for tests with several listeners, source addresses and TLS clients.

pub fn tls_fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
        .display()
        .to_string()
}

/// Start with HOST PORT and `args`, and wait until `listeners` banner lines are out.
pub fn start_listeners(args: &[&str], listeners: usize) -> Collector {
    Collector::start_on("127.0.0.1", args, |c| {
        c.stdout_text().matches("Listening for syslog").count() >= listeners
    })
}

/// Data lines (the banner's lines are not data).
pub fn data_lines(c: &Collector) -> Vec<String> {
    c.stdout_text()
        .lines()
        .filter(|l| !l.contains(":pysyslog.cli:"))
        .map(str::to_owned)
        .collect()
}

pub fn wait_data(c: &Collector, n: usize) -> Vec<String> {
    wait_until(&format!("{n} data lines"), || data_lines(c).len() >= n);
    let mut lines = data_lines(c);
    lines.sort();
    lines
}

/// A connection from `source` (a loopback address) to `to`.
pub fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    try_connect_from(source, to).expect("connect")
}

/// A connection from `source` (a loopback address) to `to`, or the error
/// (for clients that reconnect).
pub fn try_connect_from(source: &str, to: SocketAddr) -> io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )?;
    let ip: IpAddr = source.parse().expect("ip");
    sock.bind(&SocketAddr::new(ip, 0).into())?;
    sock.connect(&to.into())?;
    Ok(sock.into())
}

pub fn send_from(source: &str, to: SocketAddr, data: &[u8]) {
    let mut s = connect_from(source, to);
    s.write_all(data).expect("send");
}

/// Send `lines` over TLS with Python's `ssl`, after `preamble` in clear (a
/// PROXY header), verifying the server against the test CA.
pub fn python_tls(source: &str, port: u16, preamble: &[u8], lines: &str) {
    let script = r#"
import socket, ssl, sys
port, preamble, lines, ca, source = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
raw.sendall(preamble)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(lines.encode())
s.unwrap()
s.close()
"#;
    let hex: String = preamble.iter().map(|b| format!("{b:02x}")).collect();
    let status = Command::new("python3")
        .args([
            "-c",
            script,
            &port.to_string(),
            &hex,
            lines,
            &tls_fixture("ca.pem"),
            source,
        ])
        .status()
        .expect("python3");
    assert!(status.success(), "python ssl client failed");
}

/// Run pysyslog-flood against 127.0.0.1:`port` with `--json`; returns the
/// parsed report.
pub fn flood(port: u16, args: &[&str]) -> serde_json::Value {
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

/// One scrape of the metrics endpoint on 127.0.0.1:`port`: the whole response.
pub fn scrape_text(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    let _ = io::Read::read_to_string(&mut s, &mut body);
    body
}

/// The value of the first sample of `scrape` whose line starts with
/// `series` (a metric name, with its labels or a space to be exact).
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

//! Real peer syslog daemons, rsyslog and syslog-ng, as the tests' senders.
//!
//! `tests/peers/install.sh` unpacks them into a private prefix (`PYSYSLOG_PEERS`,
//! by default `target/peers/root`; `tests/run` runs it as root). A `Peer` runs one
//! in the foreground with its own configuration, pid and state files in a temporary
//! directory. Its only input is a unix datagram socket in that directory (nothing
//! listens on the network); `send` writes one message to it. Dropping the `Peer`
//! stops the daemon by PID.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{signal, PATIENCE};

/// Where install.sh unpacked the daemons.
pub fn prefix() -> PathBuf {
    std::env::var_os("PYSYSLOG_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/root"))
}

/// Absolute path of a committed TLS fixture.
pub fn tls_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path.to_str().expect("UTF-8 fixture path").to_owned()
}

/// A file of the prefix, which must exist: a missing peer fails the test.
fn installed(relative: &str) -> PathBuf {
    let path = prefix().join(relative);
    assert!(
        path.exists(),
        "{} is missing: the peer daemons are not installed. Run tests/run as root \
         (it runs tests/peers/install.sh), or set PYSYSLOG_PEERS to their prefix",
        path.display()
    );
    path
}

pub struct Peer {
    name: &'static str,
    child: Child,
    _dir: tempfile::TempDir,
    socket: PathBuf,
    log: PathBuf,
}

impl Peer {
    /// rsyslogd reading its private unix socket and running `actions` (RainerScript).
    pub fn rsyslog(actions: &str) -> Peer {
        let rsyslogd = installed("usr/sbin/rsyslogd");
        let modules = installed("usr/lib/x86_64-linux-gnu/rsyslog");
        installed("usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so");
        Peer::start("rsyslogd", |dir, socket| {
            let config = format!(
                "global(workDirectory=\"{dir}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\" RateLimit.Interval=\"0\")\n\
                 {actions}\n",
                dir = dir.display(),
                socket = socket.display(),
            );
            let conf = dir.join("rsyslog.conf");
            fs::write(&conf, config).expect("write rsyslog.conf");
            rsyslogd_foreground(&rsyslogd, &modules, &conf, dir)
        })
    }

    /// syslog-ng reading its private unix socket into `destination` (the body of
    /// a `destination d { ... };` block).
    pub fn syslog_ng(destination: &str) -> Peer {
        let syslog_ng = installed("usr/sbin/syslog-ng");
        let libs = installed("usr/lib/syslog-ng");
        let modules = installed("usr/lib/syslog-ng/3.38");
        Peer::start("syslog-ng", |dir, socket| {
            let config = format!(
                "@version: 3.38\n\
                 source s {{ unix-dgram(\"{socket}\"); }};\n\
                 destination d {{ {destination} }};\n\
                 log {{ source(s); destination(d); }};\n",
                socket = socket.display(),
            );
            let conf = dir.join("syslog-ng.conf");
            fs::write(&conf, config).expect("write syslog-ng.conf");
            syslog_ng_foreground(&syslog_ng, &libs, &modules, &conf, dir)
        })
    }

    /// Write the configuration and command with `setup(dir, socket)`, run it with
    /// stdout and stderr to `dir/peer.log`, and wait until the socket exists.
    fn start(name: &'static str, setup: impl FnOnce(&Path, &Path) -> Command) -> Peer {
        let dir = tempfile::tempdir().expect("tempdir for the peer");
        let socket = dir.path().join("log.sock");
        let log = dir.path().join("peer.log");
        let out = fs::File::create(&log).expect("peer log file");
        let child = setup(dir.path(), &socket)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("peer log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        let mut peer = Peer {
            name,
            child,
            _dir: dir,
            socket,
            log,
        };
        let deadline = Instant::now() + PATIENCE;
        while !peer.socket.exists() {
            if let Ok(Some(status)) = peer.child.try_wait() {
                panic!("{name} exited at start-up ({status}):\n{}", peer.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not create {}:\n{}",
                peer.socket.display(),
                peer.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        peer
    }

    /// Hand one syslog message (`<PRI>TAG: text`) to the peer, as a local program would.
    pub fn send(&self, message: &str) {
        UnixDatagram::unbound()
            .and_then(|s| s.send_to(message.as_bytes(), &self.socket))
            .unwrap_or_else(|e| panic!("send to {}'s socket: {e}", self.name));
    }

    /// Hand many messages to the peer over one socket; a full socket
    /// buffer blocks the sender rather than dropping.
    pub fn send_all(&self, messages: impl IntoIterator<Item = String>) {
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect(&self.socket).map(|()| s))
            .unwrap_or_else(|e| panic!("connect to {}'s socket: {e}", self.name));
        for m in messages {
            socket
                .send(m.as_bytes())
                .unwrap_or_else(|e| panic!("send to {}'s socket: {e}", self.name));
        }
    }

    /// What the daemon printed: its diagnostics when a test fails.
    pub fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        format!("--- {} output ---\n{text}--- end ---", self.name)
    }
}

impl Drop for Peer {
    /// SIGTERM by PID, then SIGKILL if it has not exited within PATIENCE.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id() as i32, libc::SIGTERM);
            let deadline = Instant::now() + PATIENCE;
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() >= deadline {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = self.child.wait();
        }
    }
}

/// rsyslogd in the foreground with its own configuration, pid file and module
/// directory, so it touches nothing of the system's.
fn rsyslogd_foreground(binary: &Path, modules: &Path, conf: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("-n").arg("-f").arg(conf);
    cmd.arg("-i").arg(state.join("rsyslogd.pid"));
    cmd.arg("-M").arg(modules);
    cmd
}

/// syslog-ng in the foreground from the private prefix, with its pid, persist
/// and control files in `state`.
fn syslog_ng_foreground(
    binary: &Path,
    libs: &Path,
    modules: &Path,
    conf: &Path,
    state: &Path,
) -> Command {
    let option = |name: &str, value: &Path| format!("--{name}={}", value.display());
    let mut cmd = Command::new(binary);
    cmd.env("LD_LIBRARY_PATH", libs);
    cmd.args(["--foreground", "--stderr", "--no-caps"]);
    cmd.arg(option("cfgfile", conf));
    cmd.arg(option("module-path", modules));
    for (name, file) in [
        ("pidfile", "syslog-ng.pid"),
        ("persist-file", "syslog-ng.persist"),
        ("control", "syslog-ng.ctl"),
    ] {
        cmd.arg(option(name, &state.join(file)));
    }
    cmd
}

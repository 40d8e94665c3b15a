//! HAProxy (Debian's package, installed by tests/run) in the foreground with
//! a test's own configuration, on loopback; stopped by PID on drop.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::wait_until;

/// The `global` and `defaults` sections every test's configuration starts
/// with (TCP mode).
pub const PREAMBLE: &str = "global\n    maxconn 256\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

/// `haproxy -c`: the configuration at `path` is valid, or the test fails
/// with HAProxy's complaint.
pub fn check(path: &Path) {
    let check = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(path)
        .output()
        .expect("haproxy (tests/run installs it)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

pub struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Check `config` with `haproxy -c`, run it, and wait until every port
    /// of `fronts` accepts connections.
    pub fn start(config: &str, fronts: &[u16]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("haproxy.cfg");
        fs::write(&path, config).expect("config");
        check(&path);
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("stderr")).expect("stderr"))
            .spawn()
            .expect("haproxy");
        for &front in fronts {
            wait_until("haproxy to listen", || {
                std::net::TcpStream::connect(("127.0.0.1", front)).is_ok()
            });
        }
        Haproxy { child, dir }
    }

    /// What HAProxy wrote on stderr (its alerts and warnings).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

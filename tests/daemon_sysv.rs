//! The SysV init script `packaging/sysv/pysyslog`, driven as an administrator
//! would (`start`, `status`, `reload`, `stop`), with a temporary defaults file,
//! pid file and port (the script reads PYSYSLOG_DEFAULTS, PYSYSLOG_PIDFILE and
//! PYSYSLOG_BIN for exactly this).

mod util;

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use util::*;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/sysv/pysyslog")
}

fn have_start_stop_daemon() -> bool {
    ["/sbin/start-stop-daemon", "/usr/sbin/start-stop-daemon"]
        .iter()
        .any(|p| Path::new(p).exists())
}

struct Service {
    dir: tempfile::TempDir,
    defaults: PathBuf,
    pidfile: PathBuf,
    out: PathBuf,
}

impl Service {
    /// A defaults file listening on `port` with `config`.
    fn new() -> Service {
        let dir = tempfile::tempdir().expect("tempdir");
        let defaults = dir.path().join("default-pysyslog");
        let pidfile = dir.path().join("run/pysyslog.pid");
        let out = dir.path().join("messages.log");
        Service {
            dir,
            defaults,
            pidfile,
            out,
        }
    }

    fn configure(&self, port: u16, config_json: &str) {
        let config = self.dir.path().join("logging.json");
        fs::write(&config, config_json).expect("config");
        fs::write(
            &self.defaults,
            format!(
                "PYSYSLOG_OPTS=\"127.0.0.1 {port} --logging-config {}\"\n",
                config.display()
            ),
        )
        .expect("defaults");
    }

    fn good_config(&self) -> String {
        serde_json::json!({
            "version": 1,
            "formatters": {"plain": {"format": "%(name)s %(message)s"}},
            "handlers": {"out": {"class": "logging.FileHandler", "filename": self.out, "formatter": "plain"}},
            "root": {"level": "INFO", "handlers": ["out"]},
        })
        .to_string()
    }

    fn run(&self, action: &str) -> Output {
        let mut child = Command::new(script())
            .arg(action)
            .env("PYSYSLOG_DEFAULTS", &self.defaults)
            .env("PYSYSLOG_PIDFILE", &self.pidfile)
            .env("PYSYSLOG_BIN", BIN)
            .env("PYSYSLOG_USER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the init script");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if child.try_wait().expect("wait").is_some() {
                return child.wait_with_output().expect("output");
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                panic!("`pysyslog {action}` did not finish");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn pid(&self) -> Option<i32> {
        fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Kills what the test started if an assertion fails half-way.
struct Guard(Option<i32>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            if alive(pid) {
                let kids = children(pid);
                signal(pid, libc::SIGKILL);
                for k in kids {
                    signal(k, libc::SIGKILL);
                }
            }
        }
    }
}

#[test]
fn start_status_reload_stop_as_an_administrator_would() {
    if !have_start_stop_daemon() {
        eprintln!("SKIPPED: start-stop-daemon (package dpkg) is not installed");
        return;
    }
    let svc = Service::new();
    let o = svc.run("status");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // start: success only once the collector is up.
    let mut port = 0;
    for _attempt in 0..5 {
        port = free_port();
        svc.configure(port, &svc.good_config());
        let o = svc.run("start");
        if o.status.success() {
            break;
        }
        assert!(text(&o).contains("Address already in use"), "{}", text(&o));
    }
    let pid = svc.pid().expect("a pid file after start");
    let mut guard = Guard(Some(pid));
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("listening when start returns");
    s.write_all(b"via init\n").expect("send");
    drop(s);
    wait_until("the line in the output file", || {
        fs::read_to_string(&svc.out).is_ok_and(|t| t.contains("127.0.0.1 via init"))
    });
    let writer = writer_of(pid).expect("the writer");

    let o = svc.run("status");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("running (pid {pid})")),
        "{}",
        text(&o)
    );

    // start again: already running, nothing new started.
    let o = svc.run("start");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(svc.pid(), Some(pid));

    let o = svc.run("reload");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    wait_until("the reload to be logged", || {
        fs::read_to_string(&svc.out).is_ok_and(|t| t.contains("logging configuration reloaded"))
    });

    let o = svc.run("stop");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!alive(pid), "the receiver is gone when stop returns");
    wait_until("the writer to exit", || !alive(writer));
    assert!(!svc.pidfile.exists(), "pid file removed");
    guard.0 = None;

    let o = svc.run("status");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = svc.run("stop");
    assert_eq!(
        o.status.code(),
        Some(0),
        "stopping a stopped service: {}",
        text(&o)
    );
}

#[test]
fn start_with_a_broken_configuration_reports_failure() {
    if !have_start_stop_daemon() {
        eprintln!("SKIPPED: start-stop-daemon (package dpkg) is not installed");
        return;
    }
    let svc = Service::new();
    let unwritable = serde_json::json!({
        "version": 1,
        "handlers": {"out": {"class": "logging.FileHandler", "filename": svc.dir.path().join("no/such/dir.log")}},
        "root": {"level": "INFO", "handlers": ["out"]},
    })
    .to_string();
    for (config, wanted) in [
        ("{\"version\": 1, \"handlers\": ".to_owned(), "invalid JSON"),
        (unwritable, "No such file or directory"),
    ] {
        svc.configure(free_port(), &config);
        let o = svc.run("start");
        assert!(!o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(wanted), "{}", text(&o));
        assert!(text(&o).contains("failed to start"), "{}", text(&o));
        assert!(svc.pid().is_none(), "no pid file after a failed start");
        let o = svc.run("status");
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    }
}

//! `--daemonize`: detach from the terminal, with a readiness pipe.
//!
//! Owns: the double fork, `setsid`, `chdir /`, the umask, standard streams to
//! `/dev/null`, and the readiness pipe (OpenBSD syslogd's "lockpipe"): the
//! launching process waits on the pipe and exits 0 only when the daemon reports
//! that it listens and its writer applied the configuration; otherwise it
//! prints the daemon's error and exits with the daemon's status. So an init
//! script's `start` fails visibly when the configuration or the bind fails.
//! Does not own: what "ready" means (see [`crate::daemon`]).
//!
//! Must be called while the process is single-threaded (no thread is ever
//! started by the collector), and after every relative path was made absolute.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::stat::{umask, Mode};
use nix::sys::wait::waitpid;
use nix::unistd::{chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid, ForkResult};

/// Umask of the daemon: files it creates are not world-readable.
const DAEMON_UMASK: u32 = 0o027;

/// Why detaching failed (reported by the launcher, which still has a terminal).
#[derive(Debug, thiserror::Error)]
pub enum DaemonizeError {
    #[error("--daemonize: cannot create the readiness pipe: {0}")]
    Pipe(#[source] nix::Error),
    #[error("--daemonize: cannot fork: {0}")]
    Fork(#[source] nix::Error),
}

/// The daemon's end of the readiness pipe.
#[derive(Debug)]
pub struct Readiness {
    pipe: File,
}

impl Readiness {
    /// Its descriptor, for a forked process that must not keep it.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.pipe)
    }

    /// Start-up succeeded: the launcher prints `warnings` and exits 0.
    pub fn ready(mut self, warnings: &[String]) {
        let mut report = b"R".to_vec();
        for w in warnings {
            report.extend_from_slice(w.as_bytes());
            report.push(b'\n');
        }
        let _ = self.pipe.write_all(&report);
    }

    /// Start-up failed: the launcher prints `message` and exits with `code`.
    pub fn failed(mut self, code: i32, message: &str) {
        let _ = self
            .pipe
            .write_all(format!("F{}\n{message}", code.clamp(1, 255)).as_bytes());
    }
}

/// Detach. Returns in the daemon only; the launching process waits for the
/// daemon's readiness report and exits with it.
pub fn daemonize() -> Result<Readiness, DaemonizeError> {
    let (read_end, write_end) = pipe().map_err(DaemonizeError::Pipe)?;
    // SAFETY: single-threaded (see the module comment).
    match unsafe { fork() }.map_err(DaemonizeError::Fork)? {
        ForkResult::Parent { child } => {
            drop(write_end);
            let code = launcher_wait(read_end);
            // The intermediate child exits at once; reap it.
            let _ = waitpid(child, None);
            std::process::exit(code);
        }
        ForkResult::Child => {}
    }
    drop(read_end);
    // A new session: no controlling terminal, not in the launcher's process group.
    let _ = setsid();
    // SAFETY: still single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            // SAFETY: _exit skips destructors and stdio buffers that belong to
            // the daemon now.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Child) => {}
        Err(e) => {
            let mut pipe = File::from(write_end);
            let _ = pipe.write_all(format!("F1\n--daemonize: cannot fork: {e}").as_bytes());
            // SAFETY: as above.
            unsafe { libc::_exit(1) }
        }
    }
    // The session leader is gone: this process can never regain a terminal.
    let _ = chdir("/");
    umask(Mode::from_bits_truncate(DAEMON_UMASK));
    null_stdio();
    let pipe = File::from(write_end);
    // The writer process must not hold the pipe open (it closes what it inherits
    // anyway); CLOEXEC keeps any exec away from it too.
    let _ = nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Ok(Readiness { pipe })
}

/// Standard streams to /dev/null: nothing is read from or written to a terminal.
fn null_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
        let _ = dup2_stderr(&null);
        if null.as_raw_fd() <= 2 {
            std::mem::forget(null);
        }
    }
}

/// The launcher: wait for the daemon's report and turn it into an exit status.
fn launcher_wait(read_end: OwnedFd) -> i32 {
    let mut pipe = File::from(read_end);
    let mut report = Vec::new();
    let read = loop {
        match pipe.read_to_end(&mut report) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let text = String::from_utf8_lossy(&report);
    match (read, text.as_bytes().first()) {
        (_, Some(b'R')) => {
            for warning in text[1..].lines() {
                crate::say!("pysyslog: warning: {warning}");
            }
            0
        }
        (_, Some(b'F')) => {
            let (code, message) = text[1..].split_once('\n').unwrap_or(("1", &text[1..]));
            crate::say!("pysyslog: error: {message}");
            code.parse().unwrap_or(1)
        }
        (Err(e), _) => {
            crate::say!(
                "pysyslog: error: --daemonize: cannot read the daemon's start-up report: {e}"
            );
            1
        }
        (Ok(_), _) => {
            crate::say!("pysyslog: error: the daemon exited during start-up without a report");
            1
        }
    }
}

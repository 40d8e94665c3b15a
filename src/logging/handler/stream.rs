//! StreamHandler and the process's stdout/stderr: every stream handler of a
//! target appends to one shared batch buffer, so records keep Python's order
//! across handlers, and each buffer is written with one `write` loop on the raw
//! fd per batch (not Rust's line-buffered `Stdout`).
//!
//! Owns: stdout/stderr batch buffers, diagnostics, test capture. Does not own:
//! formatting (the caller passes the formatted line).

use std::io::{self, ErrorKind};
use std::os::fd::AsFd;

use super::stats::{count_lines, Diag, Health, Stats, MAX_PENDING_BYTES};
use crate::logging::spec::StreamTarget;

/// Output captured instead of written, for tests (production never sets it).
#[derive(Debug, Default, Clone)]
pub struct Capture {
    /// What StreamHandlers wrote to stdout.
    pub stdout: Vec<u8>,
    /// What StreamHandlers and lastResort wrote to stderr.
    pub stderr: Vec<u8>,
    /// pysyslog's own warnings (Python prints nothing there).
    pub diag: Vec<u8>,
}

/// The process's standard streams as the engine sees them.
#[derive(Debug, Default)]
pub struct Io {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_stats: Stats,
    stderr_stats: Stats,
    stdout_health: Health,
    stderr_health: Health,
    /// What to tell the operator under `pysyslog.writer` (taken by the engine).
    pub notes: Vec<String>,
    /// `Some` in tests: output goes here instead of fds 1 and 2.
    pub capture: Option<Capture>,
}

impl Io {
    /// Buffer for a target.
    pub fn buf(&mut self, t: StreamTarget) -> &mut Vec<u8> {
        match t {
            StreamTarget::Stdout => &mut self.stdout,
            StreamTarget::Stderr => &mut self.stderr,
        }
    }

    /// Whether a stream's writes fail and it keeps what it could not write:
    /// the writer holds every batch back until they succeed.
    pub fn holds(&self) -> bool {
        !self.stdout.is_empty() || !self.stderr.is_empty()
    }

    /// Bytes a stream keeps because its writes fail (after [`Io::flush`]).
    pub fn held_bytes(&self, t: StreamTarget) -> u64 {
        match t {
            StreamTarget::Stdout => self.stdout.len() as u64,
            StreamTarget::Stderr => self.stderr.len() as u64,
        }
    }

    /// While writes fail: remind the operator (at most once a minute).
    pub fn remind(&mut self) {
        for (buf, health, name) in [
            (&self.stdout, &mut self.stdout_health, "stdout"),
            (&self.stderr, &mut self.stderr_health, "stderr"),
        ] {
            let what = format!("writing to {name}");
            health.remind(&what, count_lines(buf, b'\n'), &mut self.notes);
        }
    }

    /// Write both buffers: one write loop each. A buffer whose write fails
    /// is kept (and held, see [`Io::holds`]) unless the failure is one no
    /// retry can cure: the reader of a pipe is gone.
    pub fn flush(&mut self) {
        if let Some(c) = &mut self.capture {
            c.stdout.append(&mut self.stdout);
            c.stderr.append(&mut self.stderr);
            return;
        }
        let mut report = Vec::new();
        for (buf, stats, health, fd, name) in [
            (
                &mut self.stdout,
                &mut self.stdout_stats,
                &mut self.stdout_health,
                1,
                "stdout",
            ),
            (
                &mut self.stderr,
                &mut self.stderr_stats,
                &mut self.stderr_health,
                2,
                "stderr",
            ),
        ] {
            if buf.is_empty() {
                continue;
            }
            let what = format!("writing to {name}");
            // Counted only while failing: the normal path pays nothing.
            let held = if health.is_failing() {
                count_lines(buf, b'\n')
            } else {
                0
            };
            let res = if fd == 1 {
                write_fd(io::stdout().as_fd(), buf)
            } else {
                write_fd(io::stderr().as_fd(), buf)
            };
            match res {
                Ok(_) => {
                    buf.clear();
                    health.recovered(&what, held, &mut self.notes);
                }
                Err((n, e)) => {
                    buf.drain(..n);
                    stats.write_errors += 1;
                    let gone = matches!(e.raw_os_error(), Some(libc::EPIPE | libc::EBADF));
                    if gone || buf.len() > MAX_PENDING_BYTES {
                        stats.dropped += count_lines(buf, b'\n');
                        buf.clear();
                        report.push((name, e));
                    } else {
                        health.failed(
                            &what,
                            e.to_string(),
                            "holding its lines, and every batch after them, until a write succeeds (the receiver stops reading, so senders slow down); retrying",
                            &mut self.notes,
                        );
                    }
                }
            }
        }
        for (name, e) in report {
            let stats = if name == "stdout" {
                &mut self.stdout_stats
            } else {
                &mut self.stderr_stats
            };
            let mut tmp = Io {
                capture: None,
                ..Io::default()
            };
            stats.report(&mut tmp, name, "write failed, will retry", &e);
        }
    }
}

impl Diag for Io {
    /// A warning of pysyslog's own, written at once to stderr (or captured).
    fn diag(&mut self, text: &str) {
        match &mut self.capture {
            Some(c) => c.diag.extend_from_slice(text.as_bytes()),
            None => {
                let _ = write_fd(io::stderr().as_fd(), text.as_bytes());
            }
        }
    }
}

/// Write all of `buf` to `fd`, retrying on EINTR; returns bytes written, or
/// the count written before an error.
pub fn write_fd(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> Result<usize, (usize, io::Error)> {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::write(fd, &buf[done..]) {
            Ok(0) => return Err((done, io::Error::from(ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err((done, io::Error::from(e))),
        }
    }
    Ok(done)
}

/// `logging.StreamHandler` on stdout or stderr.
#[derive(Debug)]
pub struct StreamOut {
    target: StreamTarget,
    terminator: String,
}

impl StreamOut {
    pub fn new(target: StreamTarget, terminator: String) -> StreamOut {
        StreamOut { target, terminator }
    }

    /// The stream written to.
    pub fn target(&self) -> StreamTarget {
        self.target
    }

    /// Written after each record.
    pub fn terminator(&self) -> &str {
        &self.terminator
    }

    /// `stream.write(msg + self.terminator)`.
    pub fn emit(&mut self, line: &str, io: &mut Io) {
        let buf = io.buf(self.target);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(self.terminator.as_bytes());
    }
}

/// After a writer died: cut a partial last line off stdout and stderr where
/// they are regular files (see [`crate::control::Start::AfterCrash`]), and put
/// an offset left beyond the new end back to it (the descriptors are shared
/// with the receiver and whoever started it, and a write past the end would
/// leave a hole). A pipe or terminal cannot be cut: its reader may see the
/// partial line joined to the first replayed one. Returns what to report.
pub fn cut_torn_streams() -> Vec<String> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut notes = Vec::new();
    for (fd, name) in [(1, "stdout"), (2, "stderr")] {
        // SAFETY: fds 1 and 2 stay open for the life of the process; the
        // File is never dropped (ManuallyDrop), so it never closes them.
        let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let Ok(meta) = file.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        // The descriptor may be write-only (`>`): read through a new one.
        let cut = std::fs::File::open(format!("/proc/self/fd/{fd}"))
            .and_then(|reader| super::torn::complete_lines_len(&reader, meta.len(), b'\n'))
            .and_then(|keep| {
                if keep < meta.len() {
                    file.set_len(keep)?;
                }
                Ok(meta.len() - keep)
            });
        match cut {
            Ok(0) => {}
            Ok(n) => notes.push(format!(
                "cut {n} bytes at the end of {name}: the partial line the writer that died left there (its batch is written again whole)"
            )),
            Err(e) => notes.push(format!("cannot check {name} for a partial line: {e}")),
        }
        if let Ok(meta) = file.metadata() {
            // SAFETY: lseek on a descriptor this process holds open.
            let at = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_CUR) };
            if at > 0 && at as u64 > meta.len() {
                // SAFETY: as above.
                unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
            }
        }
    }
    notes
}

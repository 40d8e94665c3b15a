//! `--pidfile FILE`: the receiver's pid, written atomically and locked.
//!
//! Owns: refusing to start when another collector holds the file (checked
//! before binding, so the message names the real cause), writing the pid
//! (a temporary file in the same directory, locked, then renamed over FILE, so
//! a reader never sees a half-written file), and removing it at exit.
//! Does not own: when it is written (after `--daemonize`, so the pid is the
//! final one; before dropping privileges, so `/run` is writable).
//!
//! The lock (`flock`, held for the collector's life) is what says "running": a
//! file left behind by a killed collector is unlocked and simply replaced.
//! After dropping privileges the directory may not be writable any more; the
//! file is then emptied instead of removed (put it in a directory owned by
//! the service user, such as `/run/pysyslog/`, to have it removed).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("pysyslog is already running{} (it holds the pid file {path}); stop it first, or give this instance another --pidfile", pid.map(|p| format!(" as pid {p}")).unwrap_or_default())]
    Running { path: PathBuf, pid: Option<i32> },
    #[error("--pidfile {path}: cannot {step}: {source}")]
    Io {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

impl PidFileError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// The pid file of this running collector; removed (or emptied) on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    /// Holds the lock for the collector's life.
    file: File,
    /// The pid written, so only the process that wrote it removes it.
    pid: u32,
}

fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Refuse when a running collector holds `path`.
pub fn check_free(path: &Path) -> Result<(), PidFileError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(PidFileError::Io {
                path: path.to_owned(),
                step: "open it",
                source,
            })
        }
    };
    let free = try_lock(&file).map_err(|source| PidFileError::Io {
        path: path.to_owned(),
        step: "lock it",
        source,
    })?;
    if free {
        // A stale file (its collector was killed): the lock is released when
        // `file` closes, and the file is replaced at start.
        return Ok(());
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    Err(PidFileError::Running {
        path: path.to_owned(),
        pid: text.trim().parse().ok(),
    })
}

impl PidFile {
    /// Write this process's pid to `path`, atomically, and keep it locked.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let pid = std::process::id();
        let io_err = |step: &'static str| {
            move |source: io::Error| PidFileError::Io {
                path: path.to_owned(),
                step,
                source,
            }
        };
        check_free(path)?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pysyslog.pid".into());
        let temp = dir.join(format!(".{name}.{pid}.tmp"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(io_err("create a temporary file beside it"))?;
        let written = (|| {
            if !try_lock(&file)? {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "temporary file locked by another process",
                ));
            }
            file.write_all(format!("{pid}\n").as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_err("write it")(e));
        }
        // Two collectors starting at once: the last rename wins, the other one
        // finds the file is not its own and gives up.
        let ours = file.metadata().map_err(io_err("stat it"))?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
            _ => {
                return Err(check_free(path).err().unwrap_or(PidFileError::Running {
                    path: path.to_owned(),
                    pid: None,
                }))
            }
        }
        Ok(PidFile {
            path: path.to_owned(),
            file,
            pid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A forked writer has a copy of this value but never drops it; check anyway.
        if std::process::id() != self.pid {
            return;
        }
        let ours = match (self.file.metadata(), fs::metadata(&self.path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if ours && fs::remove_file(&self.path).is_err() {
            // No write permission on the directory after dropping privileges:
            // leave an empty, unlocked file, which reads as "not running".
            let _ = self.file.set_len(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_locked_refused_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        let pid = PidFile::create(&path).expect("create");
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open of the
        // file in this process conflicts like another process would.
        let e = check_free(&path).expect_err("locked");
        assert!(e.to_string().contains("already running"), "{e}");
        drop(pid);
        assert!(!path.exists());
        check_free(&path).expect("free again");
    }

    #[test]
    fn a_stale_file_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        fs::write(&path, "999999\n").expect("write");
        let _pid = PidFile::create(&path).expect("stale file replaced");
        assert_eq!(
            fs::read_to_string(&path).expect("read").trim(),
            std::process::id().to_string()
        );
    }
}

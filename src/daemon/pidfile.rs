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
//!
//! This runs as root in a directory someone else may be able to write to, so
//! it never goes through a name another user could have planted: every name is
//! opened relative to the directory's descriptor (itself opened without
//! following a symlink) with `O_NOFOLLOW`; the temporary file has an
//! unpredictable name and is created with `O_EXCL`; an existing pid file that
//! is a symlink, a FIFO or anything but a regular file is refused, never
//! opened in a way that could block; and as root, a directory that users other
//! than root can write to is refused outright. Two collectors started at once
//! against a stale file cannot both win: the old file is locked, and checked to
//! still be the one at the name, before ours is renamed over it (or ours is
//! put there only if no file exists, `RENAME_NOREPLACE`).
//!
//! After start-up only a read-only descriptor (what `flock` needs) stays open.
//! After dropping privileges the directory may not be writable any more; the
//! file is then left in place, unlocked, which reads as "not running" (the
//! SysV script removes it when it stops the service).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat2, AtFlags, OFlag, RenameFlags, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{linkat, unlinkat, UnlinkatFlags};

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
    #[error("--pidfile {path} is {kind}, not a regular file: refusing to use it; remove it, or give another --pidfile")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("--pidfile {path}: its directory is writable by users other than root (owner uid {uid}, mode {mode:o}), who could redirect what root writes there; use a directory only root can write to, such as /run")]
    UnsafeDirectory { path: PathBuf, uid: u32, mode: u32 },
}

impl PidFileError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// The pid file of this running collector; removed on drop when it can be.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    /// The directory, opened once: the file is only ever named relative to it.
    dir: OwnedFd,
    name: OsString,
    /// Read-only, and holds the lock for the collector's life.
    file: File,
    /// The pid written, so only the process that wrote it removes it.
    pid: u32,
}

fn try_lock(file: &impl AsRawFd) -> io::Result<bool> {
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

/// The same file: device and inode.
fn same_file(a: &FileStat, b: &FileStat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Where the pid file lives: its directory's descriptor and its name there.
struct Location<'a> {
    path: &'a Path,
    dir: OwnedFd,
    name: &'a OsStr,
}

impl<'a> Location<'a> {
    fn new(path: &'a Path) -> Result<Location<'a>, PidFileError> {
        let name = path.file_name().ok_or_else(|| PidFileError::Io {
            path: path.to_owned(),
            step: "use it",
            source: io::Error::new(io::ErrorKind::InvalidInput, "it names no file"),
        })?;
        let dir_path = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = openat(
            AT_FDCWD,
            dir_path,
            // The directory may be reached through a symlink (/var/run -> /run):
            // what is checked below is the directory actually opened, and the
            // file is only ever named inside it, without following links.
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| PidFileError::Io {
            path: path.to_owned(),
            step: "open its directory",
            source: e.into(),
        })?;
        let location = Location { path, dir, name };
        if nix::unistd::geteuid().is_root() {
            let st = fstat(&location.dir).map_err(location.error("stat its directory"))?;
            let mode = st.st_mode & 0o7777;
            if st.st_uid != 0 || mode & 0o022 != 0 {
                return Err(PidFileError::UnsafeDirectory {
                    path: path.to_owned(),
                    uid: st.st_uid,
                    mode,
                });
            }
        }
        Ok(location)
    }

    fn error(&self, step: &'static str) -> impl Fn(Errno) -> PidFileError + '_ {
        move |e| PidFileError::Io {
            path: self.path.to_owned(),
            step,
            source: e.into(),
        }
    }

    fn open(&self, name: &OsStr, flags: OFlag, mode: u32) -> Result<OwnedFd, Errno> {
        openat(
            &self.dir,
            name,
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
    }

    /// The file now at the name, without following it.
    fn stat_name(&self) -> Result<FileStat, Errno> {
        fstatat(&self.dir, self.name, AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    /// The pid file as it exists now, read-only, or `None`. Never through a
    /// symlink, and never blocking (a FIFO opened to read waits for a writer):
    /// anything but a regular file is an error.
    fn open_existing(&self) -> Result<Option<(File, FileStat)>, PidFileError> {
        let fd = match self.open(self.name, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => {
                return Err(PidFileError::NotRegular {
                    path: self.path.to_owned(),
                    kind: "a symbolic link",
                })
            }
            Err(e) => return Err(self.error("open it")(e)),
        };
        let st = fstat(&fd).map_err(self.error("stat it"))?;
        let kind = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFREG => return Ok(Some((File::from(fd), st))),
            SFlag::S_IFIFO => "a FIFO",
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFSOCK => "a socket",
            SFlag::S_IFCHR | SFlag::S_IFBLK => "a device",
            _ => "a special file",
        };
        Err(PidFileError::NotRegular {
            path: self.path.to_owned(),
            kind,
        })
    }

    /// `Running` with the pid the locked file holds.
    fn running(&self, file: &File) -> PidFileError {
        let mut text = String::new();
        let _ = file.take(32).read_to_string(&mut text);
        PidFileError::Running {
            path: self.path.to_owned(),
            pid: text.trim().parse().ok(),
        }
    }

    /// A temporary file beside the pid file holding `pid`, created under a
    /// name nobody can have planted; returns its name and a read-only,
    /// locked descriptor to it.
    fn write_temporary(&self, pid: u32) -> Result<(OsString, File), PidFileError> {
        let mut name = OsString::from(".");
        name.push(self.name);
        name.push(format!(".{:016x}.tmp", random_u64()));
        let written = (|| {
            let fd = self.open(
                &name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                0o644,
            )?;
            let mut out = File::from(fd);
            out.write_all(format!("{pid}\n").as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            // What stays open is read-only: flock needs no more.
            let reader = self.open(&name, OFlag::O_RDONLY, 0)?;
            if !same_file(&fstat(&reader)?, &fstat(out.as_fd())?) {
                return Err(Errno::EAGAIN);
            }
            let reader = File::from(reader);
            if !try_lock(&reader)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
            {
                return Err(Errno::EAGAIN);
            }
            Ok(reader)
        })();
        match written {
            Ok(file) => Ok((name, file)),
            Err(e) => {
                let _ = unlinkat(&self.dir, name.as_os_str(), UnlinkatFlags::NoRemoveDir);
                Err(self.error("write a temporary file beside it")(e))
            }
        }
    }

    /// The temporary file at the name only if nothing is there. File systems
    /// without `RENAME_NOREPLACE` (some network and FUSE ones: EINVAL) get a
    /// hard link, which never replaces either, then the temporary name goes.
    fn place_if_absent(&self, temp: &OsStr) -> Result<(), Errno> {
        match renameat2(
            &self.dir,
            temp,
            &self.dir,
            self.name,
            RenameFlags::RENAME_NOREPLACE,
        ) {
            Err(Errno::EINVAL) => {
                linkat(&self.dir, temp, &self.dir, self.name, AtFlags::empty())?;
                let _ = unlinkat(&self.dir, temp, UnlinkatFlags::NoRemoveDir);
                Ok(())
            }
            done => done,
        }
    }

    /// Put the temporary file at the name: over a stale file only while
    /// holding that file's lock and after checking it is still the one there;
    /// where there is none, only if there is still none.
    fn install(&self, temp: &OsStr) -> Result<(), PidFileError> {
        // Each turn either finishes or found the name changed under it by
        // another collector starting at the same moment; a few suffice.
        for _ in 0..16 {
            match self.open_existing()? {
                None => match self.place_if_absent(temp) {
                    Ok(()) => return Ok(()),
                    Err(Errno::EEXIST) => continue,
                    Err(e) => return Err(self.error("rename the temporary file over it")(e)),
                },
                Some((old, old_stat)) => {
                    if !try_lock(&old).map_err(|e| PidFileError::Io {
                        path: self.path.to_owned(),
                        step: "lock it",
                        source: e,
                    })? {
                        return Err(self.running(&old));
                    }
                    match self.stat_name() {
                        Ok(now) if same_file(&now, &old_stat) => {}
                        _ => continue,
                    }
                    // `old` stays locked until ours is in its place.
                    return renameat2(&self.dir, temp, &self.dir, self.name, RenameFlags::empty())
                        .map_err(self.error("rename the temporary file over it"));
                }
            }
        }
        Err(PidFileError::Io {
            path: self.path.to_owned(),
            step: "replace it",
            source: io::Error::new(io::ErrorKind::WouldBlock, "it kept changing under us"),
        })
    }
}

/// An unpredictable number for a temporary name (`getrandom`; the time and
/// pid if it fails: the name is created with `O_EXCL` either way, so a guess
/// only makes the start fail, never redirects a write).
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == buf.len() as isize {
        return u64::from_ne_bytes(buf);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Refuse when a running collector holds `path` (or when `path` is not a
/// regular file, or its directory is unsafe).
pub fn check_free(path: &Path) -> Result<(), PidFileError> {
    let location = Location::new(path)?;
    match location.open_existing()? {
        None => Ok(()),
        Some((file, _)) => {
            let free = try_lock(&file).map_err(|source| PidFileError::Io {
                path: path.to_owned(),
                step: "lock it",
                source,
            })?;
            // A stale file (its collector was killed): the lock is released
            // when `file` closes, and the file is replaced at start.
            if free {
                Ok(())
            } else {
                Err(location.running(&file))
            }
        }
    }
}

impl PidFile {
    /// Write this process's pid to `path`, atomically, and keep it locked.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let pid = std::process::id();
        let location = Location::new(path)?;
        let (temp, file) = location.write_temporary(pid)?;
        if let Err(e) = location.install(&temp) {
            let _ = unlinkat(&location.dir, temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
        Ok(PidFile {
            path: path.to_owned(),
            name: location.name.to_owned(),
            dir: location.dir,
            file,
            pid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its descriptors, for a forked process that must not keep them.
    pub fn raw_fds(&self) -> [std::os::fd::RawFd; 2] {
        use std::os::fd::AsRawFd;
        [self.dir.as_raw_fd(), self.file.as_raw_fd()]
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A forked writer has a copy of this value but never drops it; check anyway.
        if std::process::id() != self.pid {
            return;
        }
        let ours = match (
            fstat(self.file.as_fd()),
            fstatat(
                &self.dir,
                self.name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ),
        ) {
            (Ok(a), Ok(b)) => same_file(&a, &b),
            _ => false,
        };
        if ours {
            // Without write permission on the directory after dropping
            // privileges this fails: the file stays, unlocked ("not running").
            let _ = unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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

    /// A symlink planted at the name the collector would write through (the
    /// old temporary name was `.NAME.PID.tmp`) or at the pid file itself
    /// never makes it write where the link points.
    #[test]
    fn planted_symlinks_leave_their_targets_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        fs::write(&target, "keep me\n").expect("write");
        let path = dir.path().join("p.pid");
        let pid = std::process::id();
        for name in [format!(".p.pid.{pid}.tmp"), ".p.pid.tmp".into()] {
            std::os::unix::fs::symlink(&target, dir.path().join(name)).expect("symlink");
        }
        let created = PidFile::create(&path).expect("create beside the planted links");
        assert_eq!(fs::read_to_string(&target).expect("read"), "keep me\n");
        drop(created);

        std::os::unix::fs::symlink(&target, &path).expect("symlink at the pid file");
        let e = PidFile::create(&path).expect_err("a symlink at the pid file is refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = check_free(&path).expect_err("and refused by the early check too");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).expect("read"), "keep me\n");
        assert!(fs::symlink_metadata(&path)
            .expect("lstat")
            .file_type()
            .is_symlink());
    }

    /// A FIFO at the pid path is refused at once, not waited on (opening one
    /// to read blocks until a writer comes).
    #[test]
    fn a_fifo_at_the_pid_path_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let (done, result) = std::sync::mpsc::channel();
        let fifo = path.clone();
        std::thread::spawn(move || {
            let _ = done.send((check_free(&fifo).err(), PidFile::create(&fifo).err()));
        });
        let (early, create) = result
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the pid file code hung on a FIFO");
        for e in [early, create] {
            let e = e.expect("a FIFO is refused");
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    /// Collectors started at once against a stale pid file: exactly one owns it.
    /// (flock locks belong to open file descriptions, so threads of one process
    /// contend for them like processes do.)
    #[test]
    fn of_collectors_started_at_once_exactly_one_owns_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        for round in 0..100 {
            fs::write(&path, "999999\n").expect("a stale file");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let starters: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        PidFile::create(&path).ok()
                    })
                })
                .collect();
            let owners: Vec<_> = starters
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect();
            let owners: Vec<PidFile> = owners.into_iter().flatten().collect();
            assert_eq!(owners.len(), 1, "round {round}: {} owners", owners.len());
            // The winner's file is the one at the path, and it is locked.
            assert!(check_free(&path).is_err(), "round {round}");
            drop(owners);
            let leftovers: Vec<_> = fs::read_dir(dir.path())
                .expect("list")
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(leftovers.is_empty(), "round {round}: left {leftovers:?}");
        }
    }

    /// As root, a directory that others can write to is refused: whoever can
    /// write there could swap the file between the checks and the write.
    #[test]
    fn a_directory_others_can_write_is_refused_as_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let open = dir.path().join("open");
        fs::create_dir(&open).expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
        let result = PidFile::create(&open.join("p.pid"));
        if nix::unistd::geteuid().is_root() {
            let e = result.expect_err("refused as root");
            assert!(
                e.to_string().contains("writable by users other than root"),
                "{e}"
            );
        } else {
            // Without root there is nothing to redirect: the file is written.
            result.expect("written without root");
        }
    }

    /// A directory reached through a symlink (`/var/run` is one to `/run` on
    /// Debian) is fine: the check is on the directory opened, and only names
    /// inside it are never followed.
    #[test]
    fn a_pid_file_under_a_symlinked_directory_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("run");
        fs::create_dir(&real).expect("mkdir");
        std::os::unix::fs::symlink(&real, dir.path().join("var-run")).expect("symlink");
        let path = dir.path().join("var-run/p.pid");
        let pid = PidFile::create(&path).expect("written through the directory's symlink");
        assert_eq!(
            fs::read_to_string(real.join("p.pid")).expect("read").trim(),
            std::process::id().to_string()
        );
        drop(pid);
        assert!(!real.join("p.pid").exists());
    }
}

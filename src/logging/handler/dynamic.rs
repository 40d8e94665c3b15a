//! `pysyslog.handlers.DynamicFileHandler`: one file per rendered `filename`
//! template (a file per host, per program), what rsyslog's `dynaFile` and
//! syslog-ng's `file("$HOST")` do.
//!
//! Owns: the set of open files (at most `max_open`, the least recently used
//! closed first, and any not written for `idle_close`), creating the
//! directories beneath the template's fixed one without following a
//! symlink, and gathering what its files have to say. Does not own: the
//! files themselves: each is a WatchedFileHandler's [`FileOut`] (moved or
//! removed by logrotate: reopened; writes that fail: held, warned about and
//! retried as a FileHandler's), nor the template ([`PathTemplate`]).
//!
//! Memory: each open file is a descriptor and its batch buffer (empty
//! between batches unless its writes fail), so `max_open` bounds both. With
//! more senders than `max_open`, files are closed and opened again as their
//! senders take turns: nothing grows, and the opens are counted.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};

use super::file::FileOut;
use super::stats::{EmitFailure, Stats};
use super::stream::Io;
use crate::logging::oserror::PathError;
use crate::logging::record::LogRecord;
use crate::logging::spec::{DynamicArgs, Encoding, ErrorsPolicy, HandlerClass};

/// One open file and when it was last written.
#[derive(Debug)]
struct Open {
    out: FileOut,
    /// When it was last written: a count of records, for least recently used.
    used: u64,
    /// Written in the current batch (its idle time starts at the batch's end).
    touched: bool,
    /// The end of the last batch that wrote it.
    idle_since: Instant,
}

/// A DynamicFileHandler's files.
#[derive(Debug)]
pub struct DynamicOut {
    args: DynamicArgs,
    /// By path relative to the template's directory.
    files: HashMap<String, Open>,
    /// The rendered path of the current record (reused).
    relative: String,
    /// Records written so far: the clock of `Open::used` (no system clock
    /// per record).
    records: u64,
    /// This writer replaces one that died (see `FileOut::new`).
    after_crash: bool,
    /// Encoding its lines (not UTF-8).
    pub scratch: Vec<u8>,
}

impl DynamicOut {
    pub fn new(args: &DynamicArgs, after_crash: bool) -> DynamicOut {
        DynamicOut {
            args: args.clone(),
            files: HashMap::new(),
            relative: String::new(),
            records: 0,
            after_crash,
            scratch: Vec::new(),
        }
    }

    /// Every file's text encoding, error policy and terminator.
    pub fn text_settings(&self) -> (Encoding, ErrorsPolicy, &str) {
        let f = &self.args.file;
        (f.encoding, f.errors, &f.terminator)
    }

    /// The record's file: its bytes (the formatted line, encoded with its
    /// terminator) appended there.
    pub fn emit(
        &mut self,
        line: &str,
        bytes: &[&[u8]],
        record: &LogRecord<'_>,
        io: &mut Io,
        stats: &mut Stats,
        name: &str,
    ) -> Result<(), EmitFailure> {
        self.args.template.render(record, &mut self.relative);
        self.records += 1;
        let used = self.records;
        let open = match self.files.get_mut(self.relative.as_str()) {
            Some(open) => open,
            None => {
                self.make_room(stats, name);
                let relative = self.relative.clone();
                let open = self.open(relative)?;
                stats.files_opened += 1;
                open
            }
        };
        open.used = used;
        open.touched = true;
        open.out.emit(line, bytes, record, io, stats, name)
    }

    /// Add `path` to the table (opened by its first write), creating its
    /// directories beneath the base.
    fn open(&mut self, relative: String) -> Result<&mut Open, EmitFailure> {
        let base = self.args.template.base();
        let path = base.join(&relative);
        let relative_dir = Path::new(&relative).parent().unwrap_or(Path::new(""));
        make_dirs(base, relative_dir, self.args.dir_mode)
            .map_err(|e| EmitFailure::from(PathError::new(e, &path)))?;
        let mut file = self.args.file.clone();
        file.path = path;
        let out = FileOut::new(&HandlerClass::Watched(file), 0.0, 0, self.after_crash)
            .map_err(|e| EmitFailure::Io(e.to_string()))?;
        let open = Open {
            out,
            used: self.records,
            touched: false,
            idle_since: Instant::now(),
        };
        Ok(self.files.entry(relative).or_insert(open))
    }

    /// At `max_open`: close the least recently used file that holds nothing.
    /// (Files whose writes fail are kept: what they hold must be written;
    /// the writer takes no new batch meanwhile, so they cannot multiply.)
    fn make_room(&mut self, stats: &mut Stats, name: &str) {
        while self.files.len() >= self.args.max_open {
            let oldest = self
                .files
                .iter()
                .filter(|(_, o)| !o.out.unwritten())
                .min_by_key(|(_, o)| o.used)
                .map(|(p, _)| p.clone());
            let Some(path) = oldest else { return };
            if let Some(mut o) = self.files.remove(&path) {
                o.out.end_batch(stats, name);
                o.out.close();
            }
        }
    }

    /// End of batch: every file writes; files idle past `idle_close` close.
    pub fn end_batch(&mut self, stats: &mut Stats, name: &str) {
        let (idle, now) = (self.args.idle_close, Instant::now());
        for o in self.files.values_mut() {
            o.out.end_batch(stats, name);
            if std::mem::take(&mut o.touched) {
                o.idle_since = now;
            }
        }
        self.files
            .retain(|_, o| o.out.unwritten() || now.saturating_duration_since(o.idle_since) < idle);
    }

    /// SIGHUP: close every file; each reopens at its next record.
    pub fn reopen(&mut self, stats: &mut Stats, name: &str) {
        for o in self.files.values_mut() {
            o.out.end_batch(stats, name);
        }
        self.files.retain(|_, o| o.out.unwritten());
        for o in self.files.values_mut() {
            o.out.reopen(&mut Io::default(), stats, name);
        }
    }

    /// Whether a file holds every batch back (see `FileOut::holds`).
    pub fn holds(&self) -> bool {
        self.files.values().any(|o| o.out.holds())
    }

    /// Whether a file waits for a write that failed.
    pub fn unwritten(&self) -> bool {
        self.files.values().any(|o| o.out.unwritten())
    }

    /// Bytes its files keep because writes fail.
    pub fn held_bytes(&self) -> u64 {
        self.files.values().map(|o| o.out.held_bytes()).sum()
    }

    /// Remind the operator of files whose writes still fail.
    pub fn remind(&mut self, name: &str) {
        for o in self.files.values_mut() {
            o.out.remind(name);
        }
    }

    /// What its files have to tell the operator.
    pub fn take_notes(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for o in self.files.values_mut() {
            notes.append(&mut o.out.notes);
        }
        notes
    }

    /// Write and close every file.
    pub fn close(&mut self, stats: &mut Stats, name: &str) {
        for o in self.files.values_mut() {
            o.out.end_batch(stats, name);
            o.out.close();
        }
        self.files.clear();
    }
}

/// Create `relative` beneath `base` (which must exist) one component at a
/// time, each opened with `O_NOFOLLOW`: a symlink planted anywhere on the
/// way (by whoever can write in the log directory) is refused, not followed.
fn make_dirs(base: &Path, relative: &Path, mode: u32) -> std::io::Result<()> {
    if relative.as_os_str().is_empty() {
        return Ok(());
    }
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let mut dir: OwnedFd = nix::fcntl::open(base, flags, Mode::empty())?;
    for component in relative.components() {
        let name = component.as_os_str();
        match mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(mode)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        dir = openat(dir.as_fd(), name, flags, Mode::empty())?;
    }
    Ok(())
}

/// Create a DynamicFileHandler's base directory if it is missing (before
/// the writer confines itself: its grant is that directory, which must
/// exist to be granted).
pub fn prepare_base(args: &DynamicArgs) {
    use std::os::unix::fs::DirBuilderExt;
    let base = args.template.base();
    if !base.exists() {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(args.dir_mode)
            .create(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_made_and_a_symlink_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        make_dirs(dir.path(), Path::new("a/b"), 0o750).unwrap();
        assert!(dir.path().join("a/b").is_dir());
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("link")).unwrap();
        let err = make_dirs(dir.path(), Path::new("link/c"), 0o750).unwrap_err();
        // O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR (or ELOOP).
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)),
            "{err}"
        );
        assert!(!elsewhere.path().join("c").exists());
    }
}

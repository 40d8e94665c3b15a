//! The file handlers: FileHandler, WatchedFileHandler, RotatingFileHandler and
//! TimedRotatingFileHandler share one writer that opens lazily (`delay`),
//! appends with O_APPEND, and writes a batch with one `write` loop.
//!
//! Owns: opening, reopening (logrotate and WatchedFileHandler), the batch buffer,
//! write-error retry, and when to roll over. Does not own: the rollover file
//! operations (`rotating.rs`, `timed.rs`) or formatting.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use super::backlog::Backlog;
use super::encode::char_len;
use super::rotating;
use super::stats::{count_lines, EmitFailure, Health, Stats, MAX_PENDING_BYTES};
use super::stream::Io;
use super::timed::Timed;
use super::torn::cut_torn_tail;
use crate::logging::oserror::{os_error_text, PathError};
use crate::logging::record::LogRecord;
use crate::logging::spec::{FileArgs, HandlerClass, OnFailure};

/// Records of the backlog written to the file in one end of batch, at most.
const DRAIN_RECORDS: usize = 64;

/// Write as much of `bytes` as `f` takes: how much, and the error that
/// stopped it.
fn write_some(f: &mut File, bytes: &[u8]) -> (usize, Option<io::Error>) {
    let mut done = 0;
    while done < bytes.len() {
        match f.write(&bytes[done..]) {
            Ok(0) => return (done, Some(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// What a handler with `on_failure: drop` keeps while its writes fail; records
/// beyond it are dropped and counted.
pub const DROP_POLICY_HELD_BYTES: usize = 4 << 20;

/// The mode output files are created with, before the umask.
pub const OUTPUT_FILE_MODE: u32 = 0o640;

/// When the file rolls over.
#[derive(Debug)]
enum Rollover {
    /// FileHandler, WatchedFileHandler.
    Never,
    /// RotatingFileHandler (`maxBytes` > 0 and `backupCount` > 0; otherwise the
    /// file only grows, and Python's close-and-reopen changes no byte).
    Size { max_bytes: u64, backup_count: u32 },
    /// TimedRotatingFileHandler.
    Time(Timed),
}

/// One file handler's state.
#[derive(Debug)]
pub struct FileOut {
    /// The first handler using this file: its counters take write errors.
    pub owner: usize,
    args: FileArgs,
    /// Python's `mode='w'`: truncate on the first open only.
    truncate_next_open: bool,
    watched: bool,
    rollover: Rollover,
    file: Option<File>,
    dev_ino: Option<(u64, u64)>,
    /// Bytes in the file plus pending bytes (`stream.tell()`).
    size: u64,
    /// The path is something other than a regular file (never roll it).
    path_irregular: bool,
    /// The path was stat'ed in this batch.
    checked: bool,
    pending: Vec<u8>,
    /// This writer replaces one that died: the first open cuts a partial
    /// last line (see [`crate::control::Start::AfterCrash`]).
    after_crash: bool,
    /// What to tell the operator under `pysyslog.writer` (taken by the engine).
    pub notes: Vec<String>,
    /// Whether writes fail, and the warnings about it.
    health: Health,
    /// `fsync`: written since the last successful `fdatasync`.
    unsynced: bool,
    /// Its disk backlog (`--spool-dir`; FileHandler and WatchedFileHandler
    /// with `on_failure: hold`): what a failing write could not write goes
    /// there instead of holding every batch.
    backlog: Option<Backlog>,
    /// A record read back from the backlog, as far as it is not written
    /// yet, and its sequence number there.
    draining: Option<(u64, Vec<u8>)>,
}

/// A file handler that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its file cannot be opened (or its time broken down): Python's OSError text.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The class is not a file handler's (the caller's mistake).
    #[error("not a file handler")]
    NotAFile,
    /// A KafkaHandler's producer could not be created.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
}

/// The file arguments of a file handler class.
pub fn args_of(class: &HandlerClass) -> Option<&FileArgs> {
    match class {
        HandlerClass::File(a)
        | HandlerClass::Watched(a)
        | HandlerClass::Rotating { file: a, .. }
        | HandlerClass::Timed { file: a, .. } => Some(a),
        _ => None,
    }
}

impl FileOut {
    /// Build from the class; opens the file unless `delay`. `after_crash`:
    /// this writer replaces one that died.
    pub fn new(
        class: &HandlerClass,
        now: f64,
        owner: usize,
        after_crash: bool,
    ) -> Result<FileOut, OpenError> {
        let (args, watched, rollover) = match class {
            HandlerClass::File(a) => (a, false, Rollover::Never),
            HandlerClass::Watched(a) => (a, true, Rollover::Never),
            HandlerClass::Rotating {
                file,
                max_bytes,
                backup_count,
            } => {
                let r = if *max_bytes > 0 && *backup_count > 0 {
                    Rollover::Size {
                        max_bytes: u64::try_from(*max_bytes).unwrap_or(u64::MAX),
                        backup_count: u32::try_from(*backup_count).unwrap_or(u32::MAX),
                    }
                } else {
                    Rollover::Never
                };
                (file, false, r)
            }
            HandlerClass::Timed {
                file,
                when,
                interval,
                suffix,
                backup_count,
                utc,
            } => {
                // First rollover from the existing file's mtime, else now.
                let t = match std::fs::metadata(&file.path) {
                    Ok(m) => m.mtime(),
                    Err(_) => now.floor() as i64,
                };
                let timed = Timed::new(*when, *interval, suffix, *backup_count, *utc, t)
                    .map_err(|e| PathError::new(e, &file.path))?;
                (file, false, Rollover::Time(timed))
            }
            _ => return Err(OpenError::NotAFile),
        };
        let mut f = FileOut {
            owner,
            // What a dead writer wrote in `mode: 'w'` was acknowledged: keep it.
            truncate_next_open: args.truncate && !after_crash,
            args: args.clone(),
            watched,
            rollover,
            file: None,
            dev_ino: None,
            size: 0,
            path_irregular: false,
            checked: false,
            pending: Vec::new(),
            after_crash,
            notes: Vec::new(),
            health: Health::default(),
            unsynced: false,
            backlog: None,
            draining: None,
        };
        if !f.args.delay {
            f.open()?;
        }
        // Python opens the file first, then takes the first rollover from its
        // mtime if it exists (so a file just created counts from the real
        // clock), else from `time.time()`.
        if let Rollover::Time(t) = &mut f.rollover {
            let start = match std::fs::metadata(&f.args.path) {
                Ok(m) => m.mtime(),
                Err(_) => now.floor() as i64,
            };
            t.rollover_at = t
                .compute_rollover(start)
                .map_err(|e| PathError::new(e, &f.args.path))?;
        }
        Ok(f)
    }

    /// Give it the disk backlog of handler `name` (with `--spool-dir`): only
    /// a file that never rolls over and holds on failure takes one.
    pub fn with_backlog(mut self, name: &str) -> FileOut {
        if matches!(self.rollover, Rollover::Never) && self.args.on_failure == OnFailure::Hold {
            self.backlog = Backlog::for_handler(name);
        }
        self
    }

    /// Another plain FileHandler/WatchedFileHandler on the same path with the
    /// same mode and delay writes through this one. Rotating handlers never share.
    pub fn shares_with(&self, class: &HandlerClass) -> bool {
        let (a, watched) = match class {
            HandlerClass::File(a) => (a, false),
            HandlerClass::Watched(a) => (a, true),
            _ => return false,
        };
        matches!(self.rollover, Rollover::Never)
            && self.watched == watched
            && self.args.path == a.path
            && self.args.truncate == a.truncate
            && self.args.delay == a.delay
            && self.args.on_failure == a.on_failure
            && self.args.fsync == a.fsync
    }

    fn path(&self) -> &PathBuf {
        &self.args.path
    }

    fn open(&mut self) -> Result<(), PathError> {
        let mut o = OpenOptions::new();
        // 0640 (the umask may only make it stricter): the collector's output
        // is not for every local user, whether or not it daemonized (which
        // sets umask 027). O_NOFOLLOW: whoever can write the log directory
        // must not make the writer (root, without --user) append to another
        // file through a symlink; directories on the way are still followed.
        o.mode(OUTPUT_FILE_MODE).custom_flags(libc::O_NOFOLLOW);
        if self.truncate_next_open {
            o.write(true).truncate(true).create(true);
        } else {
            // Reading only to find a torn line's start after a crash.
            o.append(true).create(true).read(self.after_crash);
        }
        let f = o
            .open(self.path())
            .map_err(|e| PathError::new(e, self.path()))?;
        let mut m = f.metadata().map_err(|e| PathError::new(e, self.path()))?;
        if std::mem::take(&mut self.after_crash) && m.file_type().is_file() {
            let end = self.args.terminator.as_bytes().last().copied();
            let cut = end
                .map(|end| cut_torn_tail(&f, m.len(), end))
                .transpose()
                .map_err(|e| PathError::new(e, self.path()))?;
            if let Some(bytes @ 1..) = cut {
                self.notes.push(format!(
                    "cut {bytes} bytes at the end of {}: the partial line the writer that died left there (its batch is written again whole)",
                    self.path().display()
                ));
                m = f.metadata().map_err(|e| PathError::new(e, self.path()))?;
            }
        }
        self.truncate_next_open = false;
        self.dev_ino = Some((m.dev(), m.ino()));
        self.size = m.len() + self.pending.len() as u64;
        self.path_irregular = !m.file_type().is_file();
        self.file = Some(f);
        Ok(())
    }

    /// Once per batch: WatchedFileHandler's `reopenIfNeeded`, and whether the
    /// path is a regular file (bpo-45401: never roll anything else).
    fn check_path(&mut self, io: &mut Io, stats: &mut Stats, name: &str) {
        // A plain FileHandler neither reopens nor rolls: no stat per batch.
        if self.checked || (!self.watched && matches!(self.rollover, Rollover::Never)) {
            return;
        }
        self.checked = true;
        // Not following a link: a symlink planted in place of the file reads
        // as a moved file, and its reopen is refused (O_NOFOLLOW).
        let st = std::fs::symlink_metadata(self.path()).ok();
        self.path_irregular = st.as_ref().is_some_and(|m| !m.file_type().is_file());
        if self.watched && self.file.is_some() {
            let same = st.is_some_and(|m| Some((m.dev(), m.ino())) == self.dev_ino);
            if !same {
                self.write_pending(stats, name);
                self.file = None;
                match self.open() {
                    Ok(()) => stats.reopens += 1,
                    Err(e) => {
                        stats.write_errors += 1;
                        stats.report(io, name, "cannot reopen", &e);
                    }
                }
            }
        }
    }

    /// `emit`: maybe roll over, then append the encoded record, given in parts (`line` is the
    /// formatted text, `bytes` it encoded with its terminator).
    pub fn emit(
        &mut self,
        line: &str,
        bytes: &[&[u8]],
        record: &LogRecord<'_>,
        io: &mut Io,
        stats: &mut Stats,
        name: &str,
    ) -> Result<(), EmitFailure> {
        self.check_path(io, stats, name);
        match &mut self.rollover {
            Rollover::Never => {}
            Rollover::Size {
                max_bytes,
                backup_count,
            } => {
                let (max_bytes, backup_count) = (*max_bytes, *backup_count);
                if !self.path_irregular {
                    if self.file.is_none() {
                        self.open()?;
                    }
                    if self.size + char_len(line) as u64 + 1 >= max_bytes {
                        self.write_pending(stats, name);
                    }
                    // While writes fail, the file rolls over once they succeed:
                    // what is held belongs in the current file.
                    if self.size + char_len(line) as u64 + 1 >= max_bytes && self.pending.is_empty()
                    {
                        self.file = None;
                        rotating::rotate(self.path(), backup_count)
                            .map_err(|e| PathError::new(e, self.path()))?;
                        stats.rotations += 1;
                        self.open()?;
                    }
                }
            }
            Rollover::Time(t) => {
                let now = record.created.floor() as i64;
                let due = now >= t.rollover_at;
                if due && !self.pending.is_empty() {
                    self.write_pending(stats, name);
                }
                // As for size: while writes fail, the file rolls over later.
                let Rollover::Time(t) = &mut self.rollover else {
                    return Err(EmitFailure::Io("rollover state lost".into()));
                };
                if due && self.pending.is_empty() {
                    if self.path_irregular {
                        t.rollover_at = t
                            .compute_rollover(now)
                            .map_err(|e| PathError::new(e, &self.args.path))?;
                    } else {
                        // Split borrow: the current file is finished, rotate.
                        let mut t = std::mem::replace(&mut self.rollover, Rollover::Never);
                        self.file = None;
                        let res = match &mut t {
                            Rollover::Time(t) => t.do_rollover(self.path(), now),
                            _ => Ok(()),
                        };
                        self.rollover = t;
                        res.map_err(|e| PathError::new(e, self.path()))?;
                        stats.rotations += 1;
                        if !self.args.delay {
                            self.open()?;
                        }
                    }
                }
            }
        }
        if self.file.is_none() {
            self.open()?;
        }
        let len: usize = bytes.iter().map(|b| b.len()).sum();
        self.append(len, |pending| {
            for part in bytes {
                pending.extend_from_slice(part);
            }
        })
    }

    /// Whether, for the rest of this batch, records may go straight to
    /// [`FileOut::append`] without `emit`'s per-record checks: the file is
    /// open and never rolls over. Makes WatchedFileHandler's check, once per
    /// batch as `emit` does.
    pub fn takes_appends(&mut self, io: &mut Io, stats: &mut Stats, name: &str) -> bool {
        self.check_path(io, stats, name);
        matches!(self.rollover, Rollover::Never) && self.file.is_some()
    }

    /// Add `len` bytes, written by `fill`, to the batch buffer unless that
    /// would pass its bound (only reached while writes fail).
    pub fn append(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EmitFailure> {
        if self.args.on_failure == OnFailure::Drop
            && self.pending.len() + len > DROP_POLICY_HELD_BYTES
            && self.health.is_failing()
        {
            self.health.dropped();
            return Err(EmitFailure::Full("writes failing, on_failure: drop".into()));
        }
        // Only reached by one batch making more than this (a MemoryHandler
        // of a huge capacity flushing): while writes fail, the writer takes
        // no more batches (see `holds`).
        if self.pending.len() + len > MAX_PENDING_BYTES {
            return Err(EmitFailure::Full(
                "batch buffer full (earlier writes failed)".into(),
            ));
        }
        let before = self.pending.len();
        fill(&mut self.pending);
        debug_assert_eq!(self.pending.len(), before + len);
        self.size += len as u64;
        Ok(())
    }

    /// Whether this file holds every batch back: its writes fail and it
    /// keeps what it could not write (`on_failure: hold`, the default).
    /// With a backlog, only while the backlog cannot take the batches.
    pub fn holds(&self) -> bool {
        match &self.backlog {
            Some(b) if b.is_usable() => b.holds() || self.unsynced,
            Some(b) => b.holds() || self.unwritten(),
            None => self.args.on_failure == OnFailure::Hold && self.unwritten(),
        }
    }

    /// Whether something waits for a write (or, with `fsync`, a sync) that
    /// failed, or in the backlog: the writer retries on a timer.
    pub fn unwritten(&self) -> bool {
        !self.pending.is_empty()
            || self.unsynced
            || self.draining.is_some()
            || self.backlog.as_ref().is_some_and(|b| b.records() > 0)
    }

    /// While writes fail: remind the operator (at most once a minute).
    pub fn remind(&mut self, name: &str) {
        if self.health.is_failing() {
            let held = self.held_lines();
            let what = match &self.backlog {
                Some(b) if b.records() > 0 => format!(
                    "{} (its backlog {} has {} batches of lines)",
                    self.what(name),
                    b.dir().display(),
                    b.records()
                ),
                _ => self.what(name),
            };
            self.health.remind(&what, held, &mut self.notes);
        }
    }

    fn what(&self, name: &str) -> String {
        format!("handler '{name}' writing {}", self.path().display())
    }

    fn held_lines(&self) -> u64 {
        let end = self
            .args
            .terminator
            .as_bytes()
            .last()
            .copied()
            .unwrap_or(b'\n');
        let draining = self
            .draining
            .as_ref()
            .map_or(0, |(_, rest)| count_lines(rest, end));
        count_lines(&self.pending, end) + draining
    }

    /// A write (or open, or sync) failed: the buffer stays, every later
    /// record is appended to it, and the writer retries.
    fn failed(&mut self, stats: &mut Stats, name: &str, error: String) {
        stats.write_errors += 1;
        let kept;
        let meanwhile = match (&self.backlog, self.args.on_failure) {
            (Some(b), _) if b.is_usable() => {
                kept = format!(
                    "keeping its lines in its backlog {} (nothing is held back); retrying",
                    b.dir().display()
                );
                kept.as_str()
            }
            (_, OnFailure::Hold) => "holding its lines, and every batch after them, until a write succeeds (the receiver stops reading, so senders slow down); retrying",
            (_, OnFailure::Drop) => "keeping up to 4 MiB of its lines and dropping the rest until a write succeeds (on_failure: drop); retrying",
        };
        let what = self.what(name);
        self.health.failed(&what, error, meanwhile, &mut self.notes);
    }

    /// Write the batch buffer (and `fdatasync` it with `fsync`); on failure
    /// keep it, and the bytes on disk continue where they stopped at the
    /// next try (appends; a partial write is not written again).
    fn write_pending(&mut self, stats: &mut Stats, name: &str) {
        if self.pending.is_empty() && !self.unsynced {
            return;
        }
        // Counted only while failing: the normal path pays nothing.
        let held = if self.health.is_failing() {
            self.held_lines()
        } else {
            0
        };
        if self.file.is_none() {
            if let Err(e) = self.open() {
                self.failed(stats, name, e.to_string());
                return;
            }
        }
        let Some(f) = self.file.as_mut() else { return };
        let (done, mut error) = write_some(f, &self.pending);
        self.pending.drain(..done);
        if self.args.fsync && done > 0 {
            // Written, not yet synced: the batch waits for a sync that works.
            self.unsynced = true;
        }
        if self.args.fsync && error.is_none() && (done > 0 || self.unsynced) {
            // Once fdatasync failed, the kernel may have dropped the pages
            // it could not write: retrying can only tell whether the disk
            // works again, so it is retried and reported, never skipped.
            self.unsynced = true;
            match f.sync_data() {
                Ok(()) => self.unsynced = false,
                Err(e) => error = Some(e),
            }
        }
        if let Some(e) = error {
            let text = os_error_text(&e, &self.args.path);
            self.failed(stats, name, text);
            return;
        }
        if self.health.is_failing() {
            let what = self.what(name);
            self.health.recovered(&what, held, &mut self.notes);
        }
    }

    /// End of batch: one write; the path is stat'ed again next batch.
    /// With a backlog: what cannot be written (or must wait behind the
    /// backlog's lines) goes to the backlog, which is then drained into
    /// the file as far as it takes.
    pub fn end_batch(&mut self, stats: &mut Stats, name: &str) {
        if self.backlog.is_some() {
            let behind =
                self.draining.is_some() || self.backlog.as_ref().is_some_and(Backlog::takes_new);
            if !behind {
                self.write_pending(stats, name);
            }
            if let Some(b) = self.backlog.as_mut() {
                // Behind the backlog (or another engine's, during a
                // reload), or written only in part: the rest goes there.
                if !self.pending.is_empty() && (behind || b.is_open()) {
                    b.push(std::mem::take(&mut self.pending));
                }
                b.end_batch(name);
                self.notes.append(&mut b.notes);
            }
            self.drain(stats, name);
            if let Some(b) = self.backlog.as_mut() {
                b.count(stats);
                self.notes.append(&mut b.notes);
            }
            self.recovered_from_backlog(name, 0);
        } else {
            self.write_pending(stats, name);
        }
        self.checked = false;
    }

    /// Write the backlog's lines to the file, oldest first, as far as it
    /// takes them; a record leaves the backlog once written (and synced,
    /// with `fsync`).
    fn drain(&mut self, stats: &mut Stats, name: &str) {
        let waiting =
            self.draining.is_some() || self.backlog.as_ref().is_some_and(Backlog::has_unread);
        if !waiting {
            return;
        }
        let held = self.held_lines();
        if self.file.is_none() {
            if let Err(e) = self.open() {
                self.failed(stats, name, e.to_string());
                return;
            }
        }
        let FileOut {
            backlog: Some(b),
            draining,
            file: Some(f),
            ..
        } = self
        else {
            return;
        };
        let mut written = Vec::new();
        let mut error = None;
        for _ in 0..DRAIN_RECORDS {
            if draining.is_none() {
                let mut record = Vec::new();
                match b.read(&mut record) {
                    Some(seq) => *draining = Some((seq, record)),
                    None => break,
                }
            }
            let Some((seq, rest)) = draining.as_mut() else {
                break;
            };
            let (done, failed) = write_some(f, rest);
            rest.drain(..done);
            if let Some(e) = failed {
                error = Some(e);
                break;
            }
            written.push(*seq);
            *draining = None;
        }
        if self.args.fsync && !written.is_empty() {
            // What was written whole is synced before it leaves the
            // backlog, whatever stopped the next record.
            if let Err(e) = f.sync_data() {
                // Not durable: read back again by the next writer if this
                // one stops before a sync succeeds.
                written.clear();
                error.get_or_insert(e);
            }
        }
        b.delivered(&written);
        if let Some(e) = error {
            let text = os_error_text(&e, &self.args.path);
            self.failed(stats, name, text);
            return;
        }
        self.recovered_from_backlog(name, held);
    }

    /// Once the backlog is written out and nothing else waits, an outage
    /// is over.
    fn recovered_from_backlog(&mut self, name: &str, held: u64) {
        let done = self.draining.is_none()
            && self.pending.is_empty()
            && !self.unsynced
            && self.backlog.as_ref().is_some_and(|b| b.records() == 0);
        if done && self.health.is_failing() {
            let what = self.what(name);
            self.health.recovered(&what, held, &mut self.notes);
        }
    }

    /// Close and reopen (SIGHUP / logrotate). A delayed file never opened stays closed.
    pub fn reopen(&mut self, io: &mut Io, stats: &mut Stats, name: &str) {
        if self.file.take().is_some() {
            match self.open() {
                Ok(()) => stats.reopens += 1,
                Err(e) => {
                    stats.write_errors += 1;
                    stats.report(io, name, "cannot reopen", &e);
                }
            }
        }
    }

    /// Bytes kept because a write (or sync) failed: after
    /// [`FileOut::end_batch`], what its output holds.
    pub fn held_bytes(&self) -> u64 {
        self.pending.len() as u64
    }

    /// Close the file.
    pub fn close(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::spec::{Encoding, ErrorsPolicy};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    /// The umask is the process's: tests that set it take turns.
    static UMASK: Mutex<()> = Mutex::new(());

    fn args(path: PathBuf, delay: bool) -> FileArgs {
        FileArgs {
            path,
            truncate: false,
            encoding: Encoding::Utf8,
            errors: ErrorsPolicy::Strict,
            delay,
            terminator: "\n".into(),
            on_failure: OnFailure::Hold,
            fsync: false,
        }
    }

    fn record() -> LogRecord<'static> {
        LogRecord {
            name: "127.0.0.1",
            msg: "x",
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: None,
        }
    }

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_0640_under_umask_022_and_a_stricter_umask_wins() {
        let dir = tempfile::tempdir().unwrap();
        let _turn = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let plain = dir.path().join("plain.log");
        let f = FileOut::new(
            &HandlerClass::File(args(plain.clone(), false)),
            0.0,
            0,
            false,
        );
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let strict = dir.path().join("strict.log");
        let g = FileOut::new(
            &HandlerClass::File(args(strict.clone(), false)),
            0.0,
            0,
            false,
        );
        nix::sys::stat::umask(old);
        f.unwrap();
        g.unwrap();
        assert_eq!(mode(&plain), 0o640);
        assert_eq!(mode(&strict), 0o600);
    }

    #[test]
    fn rotation_creates_the_new_file_0640() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("r.log");
        let _turn = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let class = HandlerClass::Rotating {
            file: args(base.clone(), false),
            max_bytes: 10,
            backup_count: 1,
        };
        let res = (|| {
            let mut f = FileOut::new(&class, 0.0, 0, false).map_err(|e| e.to_string())?;
            let (mut io, mut stats) = (Io::default(), Stats::default());
            let record = record();
            for _ in 0..3 {
                f.emit(
                    "0123456789",
                    &[b"0123456789\n"],
                    &record,
                    &mut io,
                    &mut stats,
                    "r",
                )
                .map_err(|e| format!("{e:?}"))?;
                f.end_batch(&mut stats, "r");
            }
            Ok::<_, String>(())
        })();
        nix::sys::stat::umask(old);
        res.unwrap();
        let rotated = dir.path().join("r.log.1");
        assert!(rotated.exists());
        assert_eq!(mode(&base), 0o640);
        assert_eq!(mode(&rotated), 0o640);
    }

    #[test]
    fn a_symlink_at_the_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let link = dir.path().join("out.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for class in [
            HandlerClass::File(args(link.clone(), false)),
            HandlerClass::Watched(args(link.clone(), false)),
            HandlerClass::Rotating {
                file: args(link.clone(), false),
                max_bytes: 10,
                backup_count: 1,
            },
        ] {
            let err = FileOut::new(&class, 0.0, 0, false).unwrap_err().to_string();
            assert!(err.contains("Too many levels of symbolic links"), "{err}");
            assert!(err.contains("out.log"), "{err}");
        }
        // Delayed: refused at the first record, which the handler keeps.
        let mut f =
            FileOut::new(&HandlerClass::File(args(link.clone(), true)), 0.0, 0, false).unwrap();
        let (mut io, mut stats) = (Io::default(), Stats::default());
        let record = record();
        assert!(f
            .emit("line", &[b"line\n"], &record, &mut io, &mut stats, "f")
            .is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    }

    #[test]
    fn a_watched_file_replaced_by_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.log");
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let mut f = FileOut::new(
            &HandlerClass::Watched(args(path.clone(), false)),
            0.0,
            0,
            false,
        )
        .unwrap();
        let (mut io, mut stats) = (Io::default(), Stats::default());
        let record = record();
        f.emit("one", &[b"one\n"], &record, &mut io, &mut stats, "w")
            .unwrap();
        f.end_batch(&mut stats, "w");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let _ = f.emit("two", &[b"two\n"], &record, &mut io, &mut stats, "w");
        f.end_batch(&mut stats, "w");
        // Reported as any failed reopen is (a write error, a warning).
        assert!(stats.write_errors > 0);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    }
}

//! A handler's backlog on disk (`--spool-dir`): records its output could not
//! take yet, kept in order in append-only segment files, read back when the
//! output comes back, and deleted a whole segment at a time once delivered.
//!
//! Layout, per handler: `DIR/<handler>/` holds `<first seq, 16 hex>.seg`
//! segments of framed records ([`frame`]), `head` (the first record not
//! yet delivered, [`head`]) and `lock` (an `flock`, so two writers, or the
//! old and new engines of a reload, never append to one backlog).
//!
//! Crash safety: a record is appended and (with `--spool-fsync batch`)
//! synced before the batch that carried it is acknowledged; `head` moves
//! only after delivery, and is a hint (records below it are skipped; a lost
//! `head` means records delivered twice, never lost). On open the last
//! segment is scanned: a record a crash cut short is cut off; damaged
//! records anywhere are skipped, counted by the gap in sequence numbers
//! they leave, and reported with their file and offset.
//!
//! Owns: the files, their format, the bytes all backlogs of this process
//! use together (`--spool-max-bytes`). Does not own: when a handler spills
//! or drains (the handler decides), or which directory (the monitor's
//! settings, [`init`]).

pub mod frame;
mod head;
mod read;
mod segment;

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frame::HEADER;
use head::Head;
use read::Reader;
use segment::{io_at, Segment};

pub use segment::SpoolError;

/// A new segment is started once the current one holds this much (or a
/// sixteenth of the budget, if less, so a small budget is given back as
/// records are delivered): the granularity of deletion.
const SEGMENT_BYTES: u64 = 32 << 20;
const MIN_SEGMENT_BYTES: u64 = 64 << 10;

/// When appended records are synced to disk (`--spool-fsync`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum Fsync {
    /// Before each batch is acknowledged: survives a power loss.
    #[default]
    Batch,
    /// At most a second after: a power loss may lose the last second.
    Second,
    /// Left to the kernel: survives any crash of the collector, not a
    /// power loss.
    Never,
}

/// `--spool-dir`, `--spool-max-bytes`, `--spool-fsync`: the monitor's, sent
/// to each writer in its boot message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub fsync: Fsync,
}

static SETTINGS: OnceLock<Option<Settings>> = OnceLock::new();

/// Bytes of every backlog open in this process: their budget is shared.
static USED: AtomicU64 = AtomicU64::new(0);

/// The writer's spool settings, once, at boot (none: no backlogs).
pub fn init(settings: Option<Settings>) {
    let _ = SETTINGS.set(settings);
}

/// The settings [`init`] was given.
pub fn settings() -> Option<&'static Settings> {
    SETTINGS.get().and_then(Option::as_ref)
}

/// Bytes all open backlogs of this process take on disk.
pub fn used_bytes() -> u64 {
    USED.load(Ordering::Relaxed)
}

/// The directory name of a handler's backlog: its name with every byte but
/// ASCII letters, digits, `-` and `_` written `%XX`, so no name reaches
/// outside DIR or collides with another.
pub fn handler_dir(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    out
}

/// Backlogs in `dir` that hold records and whose handler is not among
/// `names`: left in place, reported.
pub fn orphans<'a>(dir: &Path, names: impl IntoIterator<Item = &'a str>) -> Vec<(PathBuf, u64)> {
    let known: Vec<String> = names.into_iter().map(handler_dir).collect();
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if known.contains(&name) {
            continue;
        }
        let path = entry.path();
        let bytes: u64 = fs::read_dir(&path)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        if bytes > 0 {
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One handler's backlog.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    tail: Option<File>,
    /// Records appended but not yet written to the tail.
    pending: Vec<u8>,
    /// The sequence number the next record appended gets.
    next_seq: u64,
    /// The sequence number after the last record written to a segment.
    flushed_seq: u64,
    reader: Reader,
    head: Head,
    /// When records were written, of those read and not yet delivered.
    read_times: VecDeque<(u64, u64)>,
    /// Records delivered ahead of an earlier one still in flight (an
    /// output that delivers out of order, as Kafka does across partitions).
    done_ahead: BTreeSet<u64>,
    fsync: Fsync,
    last_sync: Instant,
    unsynced: bool,
    max_bytes: u64,
    segment_bytes: u64,
    /// Bytes this backlog counts in [`USED`].
    counted: u64,
    _lock: File,
    /// Records found damaged and skipped.
    pub damaged: u64,
    /// Records read back out.
    pub drained: u64,
    /// What to tell the operator (damage found, tails cut).
    pub notes: Vec<String>,
}

impl Spool {
    /// Open (creating it if need be) the backlog in `dir`, which holds at
    /// most what the process-wide budget `max_bytes` leaves.
    pub fn open(dir: &Path, max_bytes: u64, fsync: Fsync) -> Result<Spool, SpoolError> {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_at(dir)(e)),
        }
        let meta = fs::symlink_metadata(dir).map_err(io_at(dir))?;
        if !meta.is_dir() {
            return Err(SpoolError::NotADirectory(dir.to_path_buf()));
        }
        let open_rw = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
                .map_err(io_at(&path))
        };
        let lock = open_rw("lock")?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(SpoolError::Busy(dir.to_path_buf()));
        }
        let head = Head::open(open_rw("head")?).map_err(io_at(&dir.join("head")))?;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            segments: VecDeque::new(),
            tail: None,
            pending: Vec::new(),
            next_seq: head.seq(),
            flushed_seq: head.seq(),
            reader: Reader::default(),
            head,
            read_times: VecDeque::new(),
            done_ahead: BTreeSet::new(),
            fsync,
            last_sync: Instant::now(),
            unsynced: false,
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(MIN_SEGMENT_BYTES, SEGMENT_BYTES),
            counted: 0,
            _lock: lock,
            damaged: 0,
            drained: 0,
            notes: Vec::new(),
        };
        spool.load_segments()?;
        Ok(spool)
    }

    /// Find the segments, cut a torn tail, skip what was delivered.
    fn load_segments(&mut self) -> Result<(), SpoolError> {
        self.segments = segment::find(&self.dir)?.into();
        let head = self.head.seq();
        if let Some(from_name) = self.segments.back().map(|s| s.first) {
            let last_seq = match self.segments.back_mut() {
                Some(last) => segment::check_tail(last, &mut self.notes)?,
                None => None,
            };
            self.next_seq = last_seq
                .map_or(from_name, |s| s.saturating_add(1))
                .max(head);
        }
        self.flushed_seq = self.next_seq;
        self.counted = self.segments.iter().map(|s| s.bytes).sum();
        USED.fetch_add(self.counted, Ordering::Relaxed);
        // What lies below the first segment was delivered and deleted (a
        // head not yet synced when that happened can be older): not damage.
        let first = self.segments.front().map_or(head, |s| s.first);
        self.reader = Reader::at(head.max(first.min(self.next_seq)));
        self.forget_delivered();
        if let Some(s) = self.segments.back() {
            if s.bytes < self.segment_bytes {
                let path = s.path.clone();
                self.tail = Some(
                    OpenOptions::new()
                        .append(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(&path)
                        .map_err(io_at(&path))?,
                );
            }
        }
        Ok(())
    }

    /// Delete the segments every record of which was delivered.
    fn forget_delivered(&mut self) {
        let head = self.head.seq();
        let everything = head >= self.next_seq && self.pending.is_empty();
        while !self.segments.is_empty() {
            let done = match self.segments.get(1) {
                Some(next) => next.first <= head,
                None => everything,
            };
            if !done {
                break;
            }
            if let Some(s) = self.segments.pop_front() {
                let _ = fs::remove_file(&s.path);
                self.uncount(s.bytes);
                if self.segments.is_empty() {
                    self.tail = None;
                }
                self.reader.first_segment_gone();
            }
        }
    }

    fn uncount(&mut self, bytes: u64) {
        let n = bytes.min(self.counted);
        self.counted -= n;
        USED.fetch_sub(n, Ordering::Relaxed);
    }

    /// Records not yet delivered.
    pub fn records(&self) -> u64 {
        self.next_seq.saturating_sub(self.head.seq())
    }

    /// Bytes on disk and waiting to be written.
    pub fn bytes(&self) -> u64 {
        self.counted
    }

    /// Whether records wait to be read back (appended, not yet read).
    pub fn has_unread(&self) -> bool {
        self.reader.next < self.next_seq
    }

    /// Whether nothing is waiting at all.
    pub fn is_empty(&self) -> bool {
        self.records() == 0
    }

    /// How old the oldest record not yet delivered is.
    pub fn oldest_age(&self) -> Duration {
        let ms = self
            .read_times
            .front()
            .map(|&(_, ms)| ms)
            .or_else(|| self.reader.peek_time())
            .or_else(|| self.segments.front().map(|s| s.first_ms))
            .unwrap_or(0);
        if ms == 0 || self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_millis(now_ms().saturating_sub(ms))
    }

    /// Bytes the budget has room for, and what a record of `len` bytes takes.
    pub fn room(&self) -> usize {
        usize::try_from(self.max_bytes.saturating_sub(USED.load(Ordering::Relaxed)))
            .unwrap_or(usize::MAX)
    }

    pub fn cost(len: usize) -> usize {
        HEADER + len
    }

    /// Take one record: `false` when the budget has no room for it.
    /// A record larger than the whole budget goes into an empty backlog
    /// all the same (nothing else would ever make room for it).
    pub fn append(&mut self, payload: &[u8]) -> bool {
        let need = (HEADER + payload.len()) as u64;
        let alone = self.is_empty() && self.pending.is_empty();
        if USED.load(Ordering::Relaxed) + need > self.max_bytes && !alone {
            return false;
        }
        frame::encode(self.next_seq, now_ms(), payload, &mut self.pending);
        self.next_seq += 1;
        self.counted += need;
        USED.fetch_add(need, Ordering::Relaxed);
        true
    }

    /// Write what was appended (and sync it, as `--spool-fsync` says). On
    /// failure it stays appended and the next call tries again.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if !self.pending.is_empty() {
            let starts_segment = match (self.segments.back(), &self.tail) {
                (Some(s), Some(_)) => s.bytes >= self.segment_bytes,
                _ => true,
            };
            if starts_segment {
                self.start_segment()?;
            }
            let (Some(seg), Some(tail)) = (self.segments.back_mut(), self.tail.as_mut()) else {
                return Ok(());
            };
            if let Err(e) = tail.write_all(&self.pending) {
                // Nothing half-written stays: the next try appends whole.
                let _ = tail.set_len(seg.bytes);
                return Err(io_at(&seg.path)(e));
            }
            seg.bytes += self.pending.len() as u64;
            if seg.first_ms == 0 {
                seg.first_ms = now_ms();
            }
            self.pending.clear();
            self.flushed_seq = self.next_seq;
            self.unsynced = true;
        }
        let due = match self.fsync {
            Fsync::Batch => true,
            Fsync::Second => self.last_sync.elapsed() >= Duration::from_secs(1),
            Fsync::Never => false,
        };
        if due && self.unsynced {
            if let (Some(seg), Some(tail)) = (self.segments.back(), self.tail.as_ref()) {
                tail.sync_data().map_err(io_at(&seg.path))?;
            }
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        if let (Some(tail), true) = (&self.tail, self.fsync != Fsync::Never) {
            // The full segment's last records, before the next one exists.
            let _ = tail.sync_data();
        }
        let path = self.dir.join(format!("{:016x}.seg", self.flushed_seq));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_at(&path))?;
        if self.fsync != Fsync::Never {
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        self.segments.push_back(Segment {
            first: self.flushed_seq,
            path,
            bytes: 0,
            first_ms: 0,
        });
        self.tail = Some(file);
        Ok(())
    }

    /// The next record not yet read, into `out` (appended); its sequence
    /// number, or `None` when every record written was read. Damaged records
    /// are skipped, counted and reported.
    pub fn read_next(&mut self, out: &mut Vec<u8>) -> Option<u64> {
        let read = self.reader.read_next(&self.segments, self.flushed_seq, out);
        self.damaged = self.reader.damaged;
        for note in self.reader.notes.drain(..) {
            self.notes
                .push(format!("{} ({})", note, self.dir.display()));
        }
        match read {
            Some(r) => {
                self.read_times.push_back((r.seq, r.time_ms));
                self.drained += 1;
                Some(r.seq)
            }
            None => {
                // Records skipped as damaged, with nothing read waiting for
                // delivery: delivered as far as they are concerned.
                if self.read_times.is_empty() {
                    self.advance_head();
                }
                None
            }
        }
    }

    /// Records read were delivered, in any order: the head moves past
    /// those delivered with every earlier one.
    pub fn delivered(&mut self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        for &seq in seqs {
            if self.read_times.front().is_some_and(|&(s, _)| seq > s) {
                self.done_ahead.insert(seq);
            } else if self.read_times.front().is_some_and(|&(s, _)| seq == s) {
                self.read_times.pop_front();
            }
            while let Some(&(s, _)) = self.read_times.front() {
                if !self.done_ahead.remove(&s) {
                    break;
                }
                self.read_times.pop_front();
            }
        }
        self.advance_head();
    }

    /// Records read and not yet delivered.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.read_times.len()
    }

    /// Every record up to `seq` was delivered: the head moves past it and
    /// the segments wholly delivered are deleted.
    pub fn delivered_through(&mut self, seq: u64) {
        while self.read_times.front().is_some_and(|&(s, _)| s <= seq) {
            self.read_times.pop_front();
        }
        if seq < self.head.seq() {
            return;
        }
        self.advance_head();
    }

    /// The head moves up to the first record read and not delivered; with
    /// none, past every record read so far (damaged ones skipped included).
    fn advance_head(&mut self) {
        let head = self
            .read_times
            .front()
            .map_or(self.reader.next, |&(s, _)| s);
        if head >= self.head.seq() {
            self.move_head(head);
        }
    }

    fn move_head(&mut self, head: u64) {
        let sync = self.fsync == Fsync::Batch;
        if let Err(e) = self.head.set(head, sync) {
            self.notes.push(format!(
                "backlog {}: cannot record what was delivered: {e} (it may be delivered again)",
                self.dir.display()
            ));
        }
        self.forget_delivered();
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = self.flush();
        if let Some(t) = &self.tail {
            let _ = t.sync_data();
        }
        let n = self.counted;
        self.uncount(n);
    }
}

#[cfg(test)]
mod tests;

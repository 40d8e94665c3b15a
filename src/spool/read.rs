//! Reading a backlog back, in order: records checked as they are read,
//! damaged ones skipped (resynchronising on the next whole record of the
//! expected sequence numbers), counted by the gap they leave and reported
//! with their file and offset.
//!
//! Owns: the reader's position and buffer, and what it found damaged.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::frame::{self, Parsed, HEADER};
use super::segment::Segment;

/// How much of a segment is read at a time.
const READ_CHUNK: usize = 256 << 10;

/// Where reading stands.
#[derive(Debug, Default)]
pub(super) struct Reader {
    /// Index in `segments`.
    pub(super) seg: usize,
    /// File offset of the next record.
    pub(super) offset: u64,
    /// Bytes read from the segment, starting at file offset `buf_at`.
    pub(super) buf: Vec<u8>,
    pub(super) buf_at: u64,
    pub(super) file: Option<File>,
    /// The sequence number the next record should have.
    pub(super) next: u64,
    /// Records found damaged and skipped.
    pub(super) damaged: u64,
    /// What it found, to tell the operator.
    pub(super) notes: Vec<String>,
}

/// A record read: its sequence number and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Read {
    pub seq: u64,
    pub time_ms: u64,
}

impl Reader {
    /// A reader whose next record is `next`.
    pub(super) fn at(next: u64) -> Reader {
        Reader {
            next,
            ..Reader::default()
        }
    }

    /// The first segment was deleted (every record in it delivered).
    pub(super) fn first_segment_gone(&mut self) {
        if self.seg == 0 {
            self.offset = 0;
            self.buf.clear();
            self.buf_at = 0;
            self.file = None;
        } else {
            self.seg -= 1;
        }
    }

    /// When the next unread record was written, if the reader has its
    /// header at hand.
    pub(super) fn peek_time(&self) -> Option<u64> {
        let r = self;
        let from = usize::try_from(r.offset.checked_sub(r.buf_at)?).ok()?;
        let b = r.buf.get(from + 16..from + 24)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The next record not yet read from `segments`, which hold the
    /// records below `flushed_seq`, into `out` (appended); `None` when every
    /// one was read. Damaged records are skipped, counted and reported.
    pub(super) fn read_next(
        &mut self,
        segments: &VecDeque<Segment>,
        flushed_seq: u64,
        out: &mut Vec<u8>,
    ) -> Option<Read> {
        loop {
            if self.next >= flushed_seq {
                return None;
            }
            let Some(seg) = segments.get(self.seg) else {
                // Segments end before the records they should hold.
                self.lost(flushed_seq, "the backlog ends early".into());
                return None;
            };
            let is_last = self.seg + 1 == segments.len();
            let seg_bytes = seg.bytes;
            let seg_path = seg.path.clone();
            let at = self.offset;
            if at >= seg_bytes {
                if is_last {
                    self.lost(flushed_seq, format!("{} ends early", seg_path.display()));
                    return None;
                }
                self.next_segment();
                continue;
            }
            if let Err(e) = self.fill(&seg_path, at, seg_bytes) {
                self.notes.push(format!(
                    "backlog {}: cannot read at offset {at}: {e}; skipping the rest of it",
                    seg_path.display()
                ));
                self.next_segment();
                continue;
            }
            let from = usize::try_from(at - self.buf_at).unwrap_or(usize::MAX);
            let avail = self.buf.get(from..).unwrap_or_default();
            match frame::parse(avail) {
                Parsed::Record {
                    seq,
                    time_ms,
                    payload,
                    len,
                } => {
                    self.offset += len as u64;
                    if seq < self.next {
                        continue;
                    }
                    out.extend_from_slice(payload);
                    if seq > self.next {
                        let text = format!(
                            "records {}..{} damaged before offset {at} of {}",
                            self.next,
                            seq,
                            seg_path.display()
                        );
                        self.lost(seq, text);
                    }
                    self.next = seq.saturating_add(1);
                    return Some(Read { seq, time_ms });
                }
                Parsed::Incomplete => {
                    // `fill` read to the end of the segment: the record runs past it.
                    self.notes.push(format!(
                        "backlog {}: a record at offset {at} runs past the end; skipping the rest of the file",
                        seg_path.display()
                    ));
                    if is_last {
                        self.lost(flushed_seq, format!("{} ends early", seg_path.display()));
                        return None;
                    }
                    self.next_segment();
                }
                Parsed::Damaged => {
                    let skip = frame::resync(avail, self.next..flushed_seq);
                    self.notes.push(format!(
                        "backlog {}: a damaged record at offset {at}, skipped",
                        seg_path.display()
                    ));
                    match skip {
                        Some(n) => self.offset += n as u64,
                        None => {
                            if is_last {
                                self.lost(
                                    flushed_seq,
                                    format!("{} ends in damage", seg_path.display()),
                                );
                                return None;
                            }
                            self.next_segment();
                        }
                    }
                }
            }
        }
    }

    /// Records from the reader's position up to `upto` are lost to damage.
    fn lost(&mut self, upto: u64, why: String) {
        let n = upto.saturating_sub(self.next);
        if n > 0 {
            self.damaged += n;
            self.notes.push(format!("backlog: {n} records lost: {why}"));
            self.next = upto;
        }
    }

    fn next_segment(&mut self) {
        self.seg += 1;
        self.offset = 0;
        self.buf.clear();
        self.buf_at = 0;
        self.file = None;
    }

    /// Make the reader's buffer hold the record at `at` whole, as far as
    /// the segment goes; after damage, the rest of the segment (to find
    /// the next record).
    fn fill(&mut self, path: &Path, at: u64, seg_bytes: u64) -> io::Result<()> {
        // A header read tells the length the next read needs: two reads
        // at most, a third finds the buffer complete.
        for _ in 0..3 {
            if self.fill_once(path, at, seg_bytes)? {
                break;
            }
        }
        Ok(())
    }

    /// One step of [`Spool::fill`]: `true` when the buffer has what it needs.
    fn fill_once(&mut self, path: &Path, at: u64, seg_bytes: u64) -> io::Result<bool> {
        let r = self;
        let rest = seg_bytes.saturating_sub(at);
        let buffered = if at >= r.buf_at {
            usize::try_from(at - r.buf_at)
                .ok()
                .and_then(|from| r.buf.get(from..))
        } else {
            None
        };
        let want = match buffered {
            Some(b) if !b.is_empty() => {
                let whole = b.len() as u64 >= rest;
                match frame::parse(b) {
                    Parsed::Record { .. } => return Ok(true),
                    _ if whole => return Ok(true),
                    Parsed::Damaged => rest,
                    Parsed::Incomplete => match b.get(..4) {
                        Some(l) => {
                            HEADER as u64
                                + u64::from(u32::from_le_bytes(l.try_into().unwrap_or([0; 4])))
                        }
                        None => HEADER as u64,
                    },
                }
            }
            _ => HEADER as u64,
        };
        if r.file.is_none() {
            r.file = Some(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)?,
            );
        }
        let Some(file) = r.file.as_ref() else {
            return Ok(true);
        };
        let size = want.max(READ_CHUNK as u64).min(rest);
        let size = usize::try_from(size).unwrap_or(READ_CHUNK);
        r.buf.clear();
        r.buf.resize(size, 0);
        let mut got = 0;
        while got < size {
            match file.read_at(&mut r.buf[got..], at + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    r.buf.clear();
                    return Err(e);
                }
            }
        }
        r.buf.truncate(got);
        r.buf_at = at;
        Ok(false)
    }
}

//! The batch wire format, receiver -> writer. A batch crosses in a shared slot
//! ([`super::slots`], a reference on the ipc-channel) or, larger than a slot,
//! as one ipc-channel message.
//!
//! Owns: encoding and decoding batches. Does not own: sending them, acks, replay.
//!
//! ```text
//! batch  = u8 version(=1) | u64 seq (LE) | item*
//! item   = 1 | u16 name_len | name | u32 count | count * (u32 len | line)   lines from a peer, INFO
//!        | 2 | i32 level | u16 name_len | name | u32 len | text             one of our own records
//!        | 3                                                                reopen output files
//!        | 4 | u16 len | source | u16 len | cwd | u32 len | json            apply a new logging configuration
//!        | 5 | u16 name_len | name | u16 origin_len | origin | u32 count | count * (u32 len | line)
//!                                                  lines from a peer with their origin, INFO
//! ```
//!
//! Lines carry an origin ([`super::origin`]) only when the writer parses
//! syslog: otherwise a batch is exactly what it was before origins existed.
//!
//! A reload carries the configuration text the receiver validated (not just its
//! path), so the writer applies exactly that, at that point of the stream:
//! records before it go through the old configuration, records after it
//! through the new one. `source` names the file for messages; `cwd` is the
//! directory relative file names are resolved against (the start-up one).
//!
//! Lines from one peer are grouped, so a peer's name is sent once per run of its
//! lines. Lines are raw bytes (possibly invalid UTF-8); the writer decodes them.
//! The decoder never allocates and never panics: lengths are checked against the
//! message before slicing.

use crate::logging::level::INFO;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8;
const TAG_LINES: u8 = 1;
const TAG_RECORD: u8 = 2;
const TAG_REOPEN: u8 = 3;
const TAG_RELOAD: u8 = 4;
const TAG_LINES_FROM: u8 = 5;

/// Builds one batch in a single buffer, in arrival order.
#[derive(Debug)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    /// Offset of the count field of the open group of lines, and where its name is.
    group: Option<Group>,
    lines: usize,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    name_at: usize,
    name_len: usize,
    origin_at: usize,
    origin_len: usize,
    count_at: usize,
    count: u32,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::with_buffer(Vec::new())
    }

    /// A builder writing into `buf` (a recycled batch: its contents are dropped,
    /// its capacity is kept, so steady state allocates nothing).
    pub fn with_buffer(mut buf: Vec<u8>) -> BatchBuilder {
        buf.clear();
        buf.extend_from_slice(&[VERSION, 0, 0, 0, 0, 0, 0, 0, 0]);
        BatchBuilder {
            buf,
            group: None,
            lines: 0,
        }
    }

    /// Bytes that appending `line` from `peer` would add (at most; less when it
    /// joins the open group of the same peer).
    pub fn cost_of_line(peer: &str, origin: &[u8], line: &[u8]) -> usize {
        let origin = if origin.is_empty() {
            0
        } else {
            2 + origin.len().min(u16::MAX as usize)
        };
        1 + 2 + peer.len().min(u16::MAX as usize) + origin + 4 + 4 + line.len()
    }

    /// Encoded size so far, in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Items (lines, records, controls) in the batch.
    pub fn items(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Append a line received from `peer`. Names longer than 64 KiB are cut
    /// (peer names are IP addresses; this only bounds the format).
    pub fn push_line(&mut self, peer: &str, line: &[u8]) {
        self.push_line_from(peer, &[], line);
    }

    /// Append a line received from `peer`, with its encoded origin (empty:
    /// none, the group is the plain kind).
    pub fn push_line_from(&mut self, peer: &str, origin: &[u8], line: &[u8]) {
        let peer = clip(peer.as_bytes(), u16::MAX as usize);
        let origin = clip(origin, u16::MAX as usize);
        let same = self.group.is_some_and(|g| {
            &self.buf[g.name_at..g.name_at + g.name_len] == peer
                && &self.buf[g.origin_at..g.origin_at + g.origin_len] == origin
        });
        if !same {
            self.close_group();
            self.buf.push(if origin.is_empty() {
                TAG_LINES
            } else {
                TAG_LINES_FROM
            });
            put_u16(&mut self.buf, peer.len());
            let name_at = self.buf.len();
            self.buf.extend_from_slice(peer);
            if !origin.is_empty() {
                put_u16(&mut self.buf, origin.len());
            }
            let origin_at = self.buf.len();
            self.buf.extend_from_slice(origin);
            let count_at = self.buf.len();
            self.buf.extend_from_slice(&[0; 4]);
            self.group = Some(Group {
                name_at,
                name_len: peer.len(),
                origin_at,
                origin_len: origin.len(),
                count_at,
                count: 0,
            });
        }
        self.push_to_group(line);
    }

    /// Append a line to the open group of lines, whose peer the caller knows
    /// is this line's too (its previous `push_line` was from the same
    /// connection): this skips comparing the names. Returns false, appending
    /// nothing, when no group is open (after a record, a control item, or in
    /// a new batch); then the line takes `push_line`.
    pub fn push_to_group(&mut self, line: &[u8]) -> bool {
        let Some(g) = &mut self.group else {
            return false;
        };
        g.count += 1;
        let full = g.count == u32::MAX;
        put_u32(&mut self.buf, line.len());
        self.buf.extend_from_slice(line);
        if full {
            self.close_group();
        }
        self.lines += 1;
        true
    }

    /// Append one of the collector's own records (logger `name`, `level`).
    pub fn push_record(&mut self, level: i32, name: &str, text: &str) {
        self.close_group();
        self.buf.push(TAG_RECORD);
        self.buf.extend_from_slice(&level.to_le_bytes());
        let name = clip(name.as_bytes(), u16::MAX as usize);
        put_u16(&mut self.buf, name.len());
        self.buf.extend_from_slice(name);
        put_u32(&mut self.buf, text.len());
        self.buf.extend_from_slice(text.as_bytes());
        self.lines += 1;
    }

    /// Ask the writer to reopen its output files at this point of the stream.
    pub fn push_reopen(&mut self) {
        self.close_group();
        self.buf.push(TAG_REOPEN);
        self.lines += 1;
    }

    /// Ask the writer to switch to the configuration `json` (validated, read
    /// from `source`, relative names against `cwd`) at this point of the stream.
    pub fn push_reload(&mut self, source: &[u8], cwd: &[u8], json: &[u8]) {
        self.close_group();
        self.buf.push(TAG_RELOAD);
        for part in [source, cwd] {
            let part = clip(part, u16::MAX as usize);
            put_u16(&mut self.buf, part.len());
            self.buf.extend_from_slice(part);
        }
        let json = clip(json, u32::MAX as usize);
        put_u32(&mut self.buf, json.len());
        self.buf.extend_from_slice(json);
        self.lines += 1;
    }

    /// Seal the batch with its sequence number and start a new one in `next`
    /// (a recycled buffer, or a new empty one).
    pub fn take(&mut self, seq: u64, next: Vec<u8>) -> Vec<u8> {
        self.close_group();
        self.buf[1..HEADER_LEN].copy_from_slice(&seq.to_le_bytes());
        let next = BatchBuilder::with_buffer(next);
        self.lines = 0;
        std::mem::replace(&mut self.buf, next.buf)
    }

    fn close_group(&mut self) {
        if let Some(g) = self.group.take() {
            self.buf[g.count_at..g.count_at + 4].copy_from_slice(&g.count.to_le_bytes());
        }
    }
}

fn clip(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

fn put_u16(buf: &mut Vec<u8>, n: usize) {
    buf.extend_from_slice(&(n.min(u16::MAX as usize) as u16).to_le_bytes());
}

fn put_u32(buf: &mut Vec<u8>, n: usize) {
    // Lines are bounded by --max-line-length, far below 4 GiB.
    buf.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_le_bytes());
}

/// One decoded item, borrowing from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A record: `name` is the logger, `text` the raw message bytes,
    /// `origin` where a peer's line came from (empty: not sent).
    Record {
        level: i32,
        name: &'a [u8],
        text: &'a [u8],
        origin: &'a [u8],
    },
    /// Reopen output files here.
    Reopen,
    /// Switch to this logging configuration here.
    Reload {
        source: &'a [u8],
        cwd: &'a [u8],
        json: &'a [u8],
    },
}

/// A batch that does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("batch of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unsupported batch version {0}")]
    Version(u8),
    #[error("batch is malformed at byte {0}")]
    Malformed(usize),
}

/// Zero-copy reader over one received batch.
#[derive(Debug)]
pub struct BatchReader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Lines left in the current group, its peer name and origin.
    group: Option<(u32, &'a [u8], &'a [u8])>,
    failed: bool,
}

impl<'a> BatchReader<'a> {
    /// Check the header; returns the batch's sequence number and a reader of its items.
    pub fn new(buf: &'a [u8]) -> Result<(u64, BatchReader<'a>), DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Short(buf.len()));
        }
        if buf[0] != VERSION {
            return Err(DecodeError::Version(buf[0]));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&buf[1..HEADER_LEN]);
        Ok((
            u64::from_le_bytes(seq),
            BatchReader {
                buf,
                pos: HEADER_LEN,
                group: None,
                failed: false,
            },
        ))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn u16(&mut self) -> Option<usize> {
        self.bytes(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn next_item(&mut self) -> Option<Item<'a>> {
        if let Some((left, name, origin)) = self.group {
            let len = self.u32()? as usize;
            let text = self.bytes(len)?;
            self.group = (left > 1).then_some((left - 1, name, origin));
            return Some(Item::Record {
                level: INFO,
                name,
                text,
                origin,
            });
        }
        match self.bytes(1)?[0] {
            tag @ (TAG_LINES | TAG_LINES_FROM) => {
                let name_len = self.u16()?;
                let name = self.bytes(name_len)?;
                let origin = if tag == TAG_LINES_FROM {
                    let len = self.u16()?;
                    self.bytes(len)?
                } else {
                    &[]
                };
                let count = self.u32()?;
                if count == 0 {
                    return self.next_item();
                }
                self.group = Some((count, name, origin));
                self.next_item()
            }
            TAG_RECORD => {
                let level = self
                    .bytes(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
                let name_len = self.u16()?;
                let name = self.bytes(name_len)?;
                let len = self.u32()? as usize;
                let text = self.bytes(len)?;
                Some(Item::Record {
                    level,
                    name,
                    text,
                    origin: &[],
                })
            }
            TAG_REOPEN => Some(Item::Reopen),
            TAG_RELOAD => {
                let len = self.u16()?;
                let source = self.bytes(len)?;
                let len = self.u16()?;
                let cwd = self.bytes(len)?;
                let len = self.u32()? as usize;
                let json = self.bytes(len)?;
                Some(Item::Reload { source, cwd, json })
            }
            _ => None,
        }
    }
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Result<Item<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || (self.group.is_none() && self.pos == self.buf.len()) {
            return None;
        }
        let at = self.pos;
        match self.next_item() {
            Some(item) => Some(Ok(item)),
            None if self.group.is_none() && self.pos == self.buf.len() => None,
            None => {
                self.failed = true;
                Some(Err(DecodeError::Malformed(at)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(buf: &[u8]) -> (u64, Vec<Result<Item<'_>, DecodeError>>) {
        let (seq, r) = BatchReader::new(buf).expect("header");
        (seq, r.collect())
    }

    #[test]
    fn round_trip_keeps_order_and_grouping() {
        let mut b = BatchBuilder::new();
        b.push_line("10.0.0.1", b"a");
        b.push_line("10.0.0.1", b"");
        b.push_record(30, "pysyslog.cli", "banner");
        b.push_line("10.0.0.1", b"\xff\xfe");
        b.push_line("::1", b"b");
        b.push_reopen();
        b.push_line("::1", b"c");
        b.push_reload(b"/etc/l.json", b"/", b"{}");
        b.push_line("::1", b"d");
        assert_eq!(b.items(), 9);
        let buf = b.take(42, Vec::new());
        assert!(b.is_empty());
        let (seq, items) = decode(&buf);
        assert_eq!(seq, 42);
        let rec = |level, name: &'static str, text: &'static [u8]| {
            Ok(Item::Record {
                level,
                name: name.as_bytes(),
                text,
                origin: &[],
            })
        };
        assert_eq!(
            items,
            vec![
                rec(INFO, "10.0.0.1", b"a"),
                rec(INFO, "10.0.0.1", b""),
                rec(30, "pysyslog.cli", b"banner"),
                rec(INFO, "10.0.0.1", b"\xff\xfe"),
                rec(INFO, "::1", b"b"),
                Ok(Item::Reopen),
                rec(INFO, "::1", b"c"),
                Ok(Item::Reload {
                    source: b"/etc/l.json",
                    cwd: b"/",
                    json: b"{}"
                }),
                rec(INFO, "::1", b"d"),
            ]
        );
    }

    #[test]
    fn peer_name_is_sent_once_per_run() {
        let mut b = BatchBuilder::new();
        b.push_line("10.0.0.1", b"x");
        let one = b.len();
        b.push_line("10.0.0.1", b"x");
        assert_eq!(
            b.len() - one,
            4 + 1,
            "a further line costs its length and bytes only"
        );
    }

    #[test]
    fn a_line_joins_only_an_open_group() {
        let mut b = BatchBuilder::new();
        assert!(!b.push_to_group(b"none open"));
        b.push_line("10.0.0.1", b"a");
        let one = b.len();
        assert!(b.push_to_group(b"b"));
        assert_eq!(b.len() - one, 4 + 1);
        b.push_record(30, "pysyslog.cli", "closes the group");
        assert!(!b.push_to_group(b"c"));
        b.push_line("10.0.0.1", b"c");
        b.push_reopen();
        assert!(!b.push_to_group(b"d"));
        assert_eq!(b.items(), 5, "lines, the record and the reopen");
        let buf = b.take(1, Vec::new());
        assert!(!b.push_to_group(b"e"), "a new batch has no open group");
        let (_, items) = decode(&buf);
        let lines: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Ok(Item::Record { name, text, .. }) => Some((*name, *text)),
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            [
                (&b"10.0.0.1"[..], &b"a"[..]),
                (b"10.0.0.1", b"b"),
                (b"pysyslog.cli", b"closes the group"),
                (b"10.0.0.1", b"c"),
            ]
        );
    }

    #[test]
    fn lines_with_an_origin_group_by_peer_and_origin() {
        let mut b = BatchBuilder::new();
        b.push_line_from("10.0.0.1", b"tcp", b"a");
        b.push_line_from("10.0.0.1", b"tcp", b"b");
        b.push_line_from("10.0.0.1", b"tls", b"c");
        b.push_line("10.0.0.1", b"d");
        let buf = b.take(3, Vec::new());
        let (_, items) = decode(&buf);
        let got: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Ok(Item::Record { text, origin, .. }) => Some((*text, *origin)),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [
                (&b"a"[..], &b"tcp"[..]),
                (b"b", b"tcp"),
                (b"c", b"tls"),
                (b"d", b""),
            ]
        );
    }

    #[test]
    fn empty_batch_decodes_to_nothing() {
        let buf = BatchBuilder::new().take(7, Vec::new());
        let (seq, items) = decode(&buf);
        assert_eq!((seq, items.len()), (7, 0));
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(
            BatchReader::new(b"\x01\x00").err(),
            Some(DecodeError::Short(2))
        );
        assert_eq!(
            BatchReader::new(&[9; 9]).err(),
            Some(DecodeError::Version(9))
        );
    }

    #[test]
    fn every_truncation_of_a_batch_fails_cleanly() {
        let mut b = BatchBuilder::new();
        b.push_line("10.0.0.1", b"hello");
        b.push_record(40, "pysyslog.receiver", "oops");
        b.push_line("10.0.0.2", b"world");
        b.push_reload(b"/x.json", b"/", b"{\"version\": 1}");
        let buf = b.take(1, Vec::new());
        for cut in HEADER_LEN..buf.len() {
            let (_, items) = decode(&buf[..cut]);
            let errors = items.iter().filter(|i| i.is_err()).count();
            // A cut exactly between items is a valid shorter batch.
            assert!(errors <= 1, "cut at {cut}");
            assert!(items.iter().take_while(|i| i.is_ok()).count() <= 4);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400 {
            let mut buf = vec![VERSION];
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push((seed % 7) as u8);
            }
            if let Ok((_, r)) = BatchReader::new(&buf) {
                assert!(r.count() <= buf.len());
            }
        }
    }
}

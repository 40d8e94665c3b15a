//! Verification of a run against a collector's output file: finding this run's
//! tokens in arbitrary output lines ([`Verifier`], pure and unit-tested) and
//! following the file as it grows ([`watch_file`]; while the flood still
//! sends, only its length is noted, see [`watch_file_until`]).
//!
//! Memory is one bit per expected line (connections × lines bits) and a
//! bounded [`Growth`] history, never a set of strings. A token is `flood RUNID c=CCCC n=NNNNNNNNN`; whatever prefix the
//! collector writes before it is ignored. Only complete lines (ended by `\n`)
//! are scanned while the file grows; a partial last line is carried over to the
//! next read and scanned as a line at the very end.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use memchr::memmem;

use super::growth::Growth;
use super::payload::{token_needle, CONN_DIGITS, SEQ_DIGITS, TOKEN_TAIL};

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot allocate a {bits}-bit bitmap to verify {connections} x {lines} lines")]
    TooLarge {
        connections: u32,
        lines: u64,
        bits: u128,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The counts a verification ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Lines sent: connections × lines.
    pub expected: u64,
    /// Distinct `(c, n)` tokens found.
    pub received: u64,
    /// `expected - received`.
    pub lost: u64,
    /// Extra copies: occurrences of a `(c, n)` token already found.
    pub duplicated: u64,
    /// Occurrences of this run's needle whose `c`/`n` are malformed, cut off or
    /// out of range (a sign of corruption).
    pub invalid: u64,
}

/// Tracks which lines of a run have been seen in the output.
pub struct Verifier {
    finder: memmem::Finder<'static>,
    connections: u32,
    lines: u64,
    seen: Vec<u64>,
    received: u64,
    duplicated: u64,
    invalid: u64,
    carry: Vec<u8>,
    /// A token repeated within one line counts once.
    once_per_line: bool,
}

impl Verifier {
    /// A verifier for `connections` × `lines` lines of `run_id`.
    pub fn new(run_id: &str, connections: u32, lines: u64) -> Result<Self, VerifyError> {
        let bits = u128::from(connections) * u128::from(lines);
        let too_large = || VerifyError::TooLarge {
            connections,
            lines,
            bits,
        };
        let words = usize::try_from(bits.div_ceil(64)).map_err(|_| too_large())?;
        let mut seen = Vec::new();
        seen.try_reserve_exact(words).map_err(|_| too_large())?;
        seen.resize(words, 0);
        Ok(Verifier {
            finder: memmem::Finder::new(&token_needle(run_id)).into_owned(),
            connections,
            lines,
            seen,
            received: 0,
            duplicated: 0,
            invalid: 0,
            carry: Vec::new(),
            once_per_line: false,
        })
    }

    /// Count a token that a line holds more than once as one (an output
    /// that writes the message twice in a record, as a JSON object with the
    /// line as received and its parsed message does). Off by default: two
    /// copies of a token anywhere are a duplicate.
    pub fn once_per_line(mut self, on: bool) -> Self {
        self.once_per_line = on;
        self
    }

    /// Scan the next bytes of the output. Complete lines are scanned now; a
    /// trailing partial line is kept until its end arrives (or [`Self::finish`]).
    /// Returns how many new distinct tokens were found.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let before = self.received;
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                None => {
                    self.carry.extend_from_slice(data);
                    return 0;
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(&data[..=i]);
                    self.scan(&line);
                    line.clear();
                    self.carry = line; // keep the allocation
                    data = &data[i + 1..];
                }
            }
        }
        match memchr::memrchr(b'\n', data) {
            Some(i) => {
                self.scan(&data[..=i]);
                self.carry.extend_from_slice(&data[i + 1..]);
            }
            None => self.carry.extend_from_slice(data),
        }
        self.received - before
    }

    /// Scan the partial last line, if any, as if it were complete (end of
    /// input). Returns how many new distinct tokens were found.
    pub fn finish(&mut self) -> u64 {
        let before = self.received;
        let line = std::mem::take(&mut self.carry);
        self.scan(&line);
        self.received - before
    }

    /// Forget a partial line (the file it came from was truncated).
    pub fn drop_partial(&mut self) {
        self.carry.clear();
    }

    /// Whether every expected line has been seen.
    pub fn complete(&self) -> bool {
        u128::from(self.received) == u128::from(self.connections) * u128::from(self.lines)
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        let expected = u64::from(self.connections).saturating_mul(self.lines);
        Tally {
            expected,
            received: self.received,
            lost: expected.saturating_sub(self.received),
            duplicated: self.duplicated,
            invalid: self.invalid,
        }
    }

    /// Count every token in `region`, which holds whole lines only.
    fn scan(&mut self, region: &[u8]) {
        let needle_len = self.finder.needle().len();
        // The previous token and where its line starts (once_per_line).
        let mut previous: Option<(usize, (u32, u64))> = None;
        for at in self.finder.find_iter(region) {
            let token = parse_tail(&region[at + needle_len..]);
            if self.once_per_line {
                let line_start = memchr::memrchr(b'\n', &region[..at]).map_or(0, |i| i + 1);
                let here = token.map(|t| (line_start, t));
                if here.is_some() && here == previous {
                    continue;
                }
                previous = here;
            }
            match token {
                Some((c, n)) if c < self.connections && n < self.lines => {
                    let bit = u64::from(c) * self.lines + n;
                    // In range: bit < connections*lines, whose words were allocated.
                    let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
                    if self.seen[word] & mask == 0 {
                        self.seen[word] |= mask;
                        self.received += 1;
                    } else {
                        self.duplicated += 1;
                    }
                }
                _ => self.invalid += 1,
            }
        }
    }
}

/// Parse `CCCC n=NNNNNNNNN` at the start of `tail`; the number must not go on
/// with another digit.
pub fn parse_tail(tail: &[u8]) -> Option<(u32, u64)> {
    let t = tail.get(..TOKEN_TAIL)?;
    if tail.get(TOKEN_TAIL).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let c = parse_digits(&t[..CONN_DIGITS])?;
    if &t[CONN_DIGITS..CONN_DIGITS + 3] != b" n=" {
        return None;
    }
    let n = parse_digits(&t[CONN_DIGITS + 3..CONN_DIGITS + 3 + SEQ_DIGITS])?;
    Some((u32::try_from(c).ok()?, n))
}

fn parse_digits(d: &[u8]) -> Option<u64> {
    d.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Where reading the output file starts: its inode and length before sending,
/// so lines of earlier runs are skipped. A file replaced since is read from 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartPos {
    pub ino: Option<u64>,
    pub offset: u64,
}

/// Record where `path` ends now (nothing if it does not exist yet).
pub fn start_position(path: &Path) -> Result<StartPos, VerifyError> {
    match fs::metadata(path) {
        Ok(m) => Ok(StartPos {
            ino: Some(m.ino()),
            offset: m.len(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(StartPos::default()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// How following the file ended.
#[derive(Debug, Clone, Copy)]
pub struct WatchOutcome {
    /// When the last new token was found (poll granularity).
    pub last_arrival: Option<Instant>,
    /// The timeout passed before every line arrived.
    pub timed_out: bool,
}

/// Poll interval when the file has no new data.
const POLL: Duration = Duration::from_millis(5);
/// How long a file renamed away (rotated) must stay unchanged before it is
/// taken as finished: its writer appends to it until it reopens the path (a
/// collector does on the SIGHUP that follows logrotate's rename).
const ROTATED_QUIET: Duration = Duration::from_millis(1000);
/// How often the file's length is noted while the flood is still sending.
const SAMPLE: Duration = Duration::from_millis(1);
/// Bytes per read: also the granularity of arrival times while scanning.
const READ_BUF: usize = 256 << 10;

/// Follow `path` from `start` until `verifier` is complete or `deadline`
/// passes. Reads incrementally from the last offset; sleeps only `POLL`
/// when there is nothing new. A truncated file is re-read from 0; a replaced
/// file (rotation) is read to its end and the new one followed from 0.
pub fn watch_file(
    path: &Path,
    start: StartPos,
    verifier: &mut Verifier,
    deadline: Instant,
) -> Result<WatchOutcome, VerifyError> {
    watch_file_until(path, start, verifier, &|| Some(deadline))
}

/// [`watch_file`] with a deadline that may not be known yet: `deadline()`
/// returns `None` while there is none (the flood is still sending). Until
/// then only the file's length is noted, every millisecond: scanning while the
/// collector works would take CPU from it (on a small machine, enough to
/// change what is measured). The scan that follows dates each token by the
/// first sample that held it, so arrival times stay as precise as if the file
/// had been scanned as it grew.
pub fn watch_file_until(
    path: &Path,
    start: StartPos,
    verifier: &mut Verifier,
    deadline: &dyn Fn() -> Option<Instant>,
) -> Result<WatchOutcome, VerifyError> {
    let past = |now: Instant| deadline().is_some_and(|d| now >= d);
    let mut buf = vec![0u8; READ_BUF];
    let mut last_arrival = None;
    // The files to read, oldest first: (file, inode, offset). More than one
    // when the path was replaced (rotated) since the oldest was opened.
    let mut files: VecDeque<(File, u64, u64)> = VecDeque::new();
    let mut first_open = true;
    let mut growth = Growth::default();
    // Open the file at `path` if it is not the newest one already open.
    // Returns what `path` was found to be (one stat serves the caller too).
    let mut open_new =
        |files: &mut VecDeque<(File, u64, u64)>| -> Result<Option<fs::Metadata>, VerifyError> {
            let newest = files.back().map(|&(_, ino, _)| ino);
            let found = match fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(path, e)),
            };
            if Some(found.ino()) == newest {
                return Ok(Some(found));
            }
            match File::open(path) {
                Ok(mut f) => {
                    let ino = f.metadata().map_err(|e| io_err(path, e))?.ino();
                    if Some(ino) != newest {
                        let offset = if first_open && start.ino == Some(ino) {
                            start.offset
                        } else {
                            0
                        };
                        f.seek(SeekFrom::Start(offset))
                            .map_err(|e| io_err(path, e))?;
                        files.push_back((f, ino, offset));
                        first_open = false;
                    }
                    Ok(Some(found))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(path, e)),
            }
        };
    // Still sending: note the length only. Each file the path names is opened
    // as soon as it appears, so rotations meanwhile hide nothing that was
    // renamed away (copytruncate, which copies and empties the file, does: the
    // verifier never reads the copy).
    while deadline().is_none() {
        if let Some(m) = open_new(&mut files)? {
            growth.note(Instant::now(), m.ino(), m.len());
        }
        std::thread::sleep(SAMPLE);
    }
    // Since when the oldest file, rotated away, has not grown.
    let mut oldest_quiet_since: Option<Instant> = None;
    loop {
        open_new(&mut files)?;
        let mut progressed = false;
        let newer_queued = files.len() > 1;
        let mut done_with_oldest = false;
        if let Some((f, ino, offset)) = files.front_mut() {
            let before = *offset;
            loop {
                let n = match f.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(path, e)),
                };
                if n == 0 {
                    break;
                }
                progressed = true;
                *offset += n as u64;
                let now = growth.note_file(f, *ino);
                if verifier.feed(&buf[..n]) > 0 {
                    last_arrival = Some(growth.arrival(*ino, *offset).unwrap_or(now));
                }
                if verifier.complete() || past(Instant::now()) {
                    break;
                }
            }
            if verifier.complete() {
                return Ok(WatchOutcome {
                    last_arrival,
                    timed_out: false,
                });
            }
            let now = Instant::now();
            if newer_queued {
                if *offset != before {
                    oldest_quiet_since = Some(now);
                } else if now.duration_since(*oldest_quiet_since.get_or_insert(now))
                    >= ROTATED_QUIET
                {
                    // Rotated and quiet: read to its end; its partial last
                    // line will never be completed.
                    if verifier.finish() > 0 {
                        last_arrival = Some(Instant::now());
                    }
                    growth.forget(*ino);
                    done_with_oldest = true;
                    progressed = true;
                    oldest_quiet_since = None;
                }
            } else if let Ok(m) = fs::metadata(path) {
                if m.ino() == *ino && m.len() < *offset {
                    // Truncated: read it again from the start.
                    verifier.drop_partial();
                    growth.forget(*ino);
                    f.seek(SeekFrom::Start(0)).map_err(|e| io_err(path, e))?;
                    *offset = 0;
                    progressed = true;
                }
            }
        }
        if done_with_oldest {
            files.pop_front();
        }
        let now = Instant::now();
        if past(now) {
            break;
        }
        if !progressed {
            let left = deadline().map_or(POLL, |d| d.saturating_duration_since(now));
            std::thread::sleep(POLL.min(left));
        }
    }
    if verifier.finish() > 0 {
        last_arrival = Some(Instant::now());
    }
    Ok(WatchOutcome {
        last_arrival,
        timed_out: !verifier.complete(),
    })
}

fn io_err(path: &Path, source: io::Error) -> VerifyError {
    VerifyError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::super::payload::{ChunkBuilder, Framing, LineFormat};
    use super::*;

    fn output_of(run: &str, conns: u32, lines: u64, skip: impl Fn(u32, u64) -> bool) -> Vec<u8> {
        let f = LineFormat::new(run, 90, Framing::Lf).unwrap();
        let mut out = Vec::new();
        for n in 0..lines {
            for c in 0..conns {
                if !skip(c, n) {
                    out.extend_from_slice(
                        format!("2026-11-24 03:00:00,{:03} 127.0.0.1 ", n % 1000).as_bytes(),
                    );
                    out.extend_from_slice(&f.line(c, n));
                }
            }
        }
        out
    }

    #[test]
    fn finds_tokens_behind_any_prefix() {
        let mut v = Verifier::new("r1", 2, 3).unwrap();
        let text = b"INFO:127.0.0.1:<14>flood r1 c=0000 n=000000000 abc\n\
            2026-11-24 03:00:00,123 127.0.0.1 <14>flood r1 c=0001 n=000000002 xyz\n\
            flood r1 c=0000 n=000000001 \n\
            noise flood r2 c=0000 n=000000002 other run\n\
            [::1]:5 <14>flood r1 c=0001 n=000000000\n";
        assert_eq!(v.feed(text), 4);
        let t = v.tally();
        assert_eq!(
            t,
            Tally {
                expected: 6,
                received: 4,
                lost: 2,
                duplicated: 0,
                invalid: 0
            }
        );
        assert!(!v.complete());
    }

    #[test]
    fn a_token_twice_in_one_line_counts_once_if_asked() {
        let text = b"{\"message\": \"<134>x flood r1 c=0000 n=000000000 a\", \"syslog_message\": \"flood r1 c=0000 n=000000000 a\"}\n\
            {\"message\": \"flood r1 c=0000 n=000000001\", \"m\": \"flood r1 c=0000 n=000000001\"}\n\
            flood r1 c=0000 n=000000001 again, on a line of its own\n";
        let mut v = Verifier::new("r1", 1, 2).unwrap().once_per_line(true);
        v.feed(text);
        assert_eq!((v.tally().received, v.tally().duplicated), (2, 1));
        let mut v = Verifier::new("r1", 1, 2).unwrap();
        v.feed(text);
        assert_eq!((v.tally().received, v.tally().duplicated), (2, 3));
    }

    #[test]
    fn other_run_with_same_prefix_is_ignored() {
        let mut v = Verifier::new("r1", 1, 1).unwrap();
        v.feed(b"<14>flood r10 c=0000 n=000000000 x\n<14>flood xr1 c=0000 n=000000000 x\n");
        // "flood xr1 c=" does not contain "flood r1 c=".
        assert_eq!(v.tally().received, 0);
        assert_eq!(v.tally().invalid, 0);
    }

    #[test]
    fn duplicates_and_missing_are_counted_per_token() {
        let mut out = output_of("d", 3, 50, |c, n| c == 1 && n % 10 == 0);
        let f = LineFormat::new("d", 90, Framing::Lf).unwrap();
        // Twice more for (2, 7), once more for (0, 0).
        out.extend_from_slice(&f.line(2, 7));
        out.extend_from_slice(&f.line(2, 7));
        out.extend_from_slice(&f.line(0, 0));
        let mut v = Verifier::new("d", 3, 50).unwrap();
        v.feed(&out);
        v.finish();
        let t = v.tally();
        assert_eq!(t.expected, 150);
        assert_eq!(t.lost, 5);
        assert_eq!(t.received, 145);
        assert_eq!(t.duplicated, 3);
        assert_eq!(t.invalid, 0);
    }

    #[test]
    fn malformed_and_out_of_range_are_invalid() {
        let mut v = Verifier::new("m", 2, 10).unwrap();
        v.feed(
            b"flood m c=0002 n=000000000 \n\
              flood m c=0000 n=000000010 \n\
              flood m c=00x0 n=000000001 \n\
              flood m c=0000 n=0000000011 \n\
              flood m c=0000 n=00000\n\
              flood m c=0001 n=000000003 ok\n",
        );
        let t = v.tally();
        assert_eq!(t.invalid, 5);
        assert_eq!(t.received, 1);
    }

    #[test]
    fn partial_lines_across_every_read_boundary() {
        let out = output_of("p", 2, 40, |_, _| false);
        // Split at every possible point, and also feed byte by byte.
        for split in (0..out.len()).step_by(7) {
            let mut v = Verifier::new("p", 2, 40).unwrap();
            v.feed(&out[..split]);
            v.feed(&out[split..]);
            assert_eq!(v.tally().received, 80, "split {split}");
            assert!(v.complete());
        }
        let mut v = Verifier::new("p", 2, 40).unwrap();
        for b in &out {
            v.feed(std::slice::from_ref(b));
        }
        assert!(v.complete());
        assert_eq!(v.tally().duplicated, 0);
        assert_eq!(v.tally().invalid, 0);
    }

    #[test]
    fn partial_last_line_counts_only_at_finish() {
        let mut v = Verifier::new("z", 1, 2).unwrap();
        assert_eq!(
            v.feed(b"x flood z c=0000 n=000000000 abc\nx flood z c=0000 n=000000001 ab"),
            1
        );
        assert_eq!(v.tally().received, 1);
        assert_eq!(v.finish(), 1);
        assert!(v.complete());
    }

    #[test]
    fn token_cut_by_newline_is_invalid() {
        let mut v = Verifier::new("k", 1, 1).unwrap();
        v.feed(b"flood k c=0000 n=0000\n00000 \n");
        assert_eq!(v.tally().invalid, 1);
        assert_eq!(v.tally().received, 0);
    }

    #[test]
    fn octet_stream_without_newlines_is_found_at_finish() {
        let f = LineFormat::new("o", 64, Framing::Octet).unwrap();
        let mut b = ChunkBuilder::new(&f, 0, 10, 1 << 16);
        let data = b.next_chunk(usize::MAX).unwrap().to_vec();
        let mut v = Verifier::new("o", 1, 10).unwrap();
        assert_eq!(v.feed(&data), 0);
        assert_eq!(v.finish(), 10);
    }

    #[test]
    fn huge_bitmap_is_an_error_not_an_abort() {
        assert!(matches!(
            Verifier::new("h", u32::MAX, u64::MAX),
            Err(VerifyError::TooLarge { .. })
        ));
    }

    #[test]
    fn watch_reads_a_file_from_the_recorded_offset() {
        let dir = std::env::temp_dir().join(format!("flood-verify-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.log");
        // An earlier run with the same id must not count as duplicates.
        fs::write(&path, output_of("w", 1, 5, |_, _| false)).unwrap();
        let start = start_position(&path).unwrap();
        let mut data = fs::read(&path).unwrap();
        data.extend_from_slice(&output_of("w", 1, 5, |_, n| n == 3));
        fs::write(&path, &data).unwrap();
        let mut v = Verifier::new("w", 1, 5).unwrap();
        let out = watch_file(&path, start, &mut v, Instant::now()).unwrap();
        assert!(out.timed_out);
        assert_eq!(v.tally().received, 4);
        assert_eq!(v.tally().lost, 1);
        assert_eq!(v.tally().duplicated, 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_rotated_away_while_sending_are_all_read() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = std::env::temp_dir().join(format!("flood-rotate-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.log");
        let _ = fs::remove_file(&path);
        let start = start_position(&path).unwrap();
        let sending = AtomicBool::new(true);
        let all = output_of("r", 3, 20, |_, _| false);
        let lines: Vec<&[u8]> = all.split_inclusive(|&b| b == b'\n').collect();
        let mut v = Verifier::new("r", 3, 20).unwrap();
        let out = std::thread::scope(|scope| {
            // The "collector": a third of the lines to each of three files, the
            // first two renamed away (two rotations while the flood sends).
            scope.spawn(|| {
                let third = lines.len() / 3;
                for (i, part) in lines.chunks(third).enumerate() {
                    let wait = |p: &Path| {
                        while fs::metadata(p).is_err() {
                            std::thread::yield_now();
                        }
                    };
                    fs::write(&path, part.concat()).unwrap();
                    wait(&path);
                    // The scenario, not a synchronisation: rotations come
                    // some time apart (the watcher looks every millisecond).
                    std::thread::sleep(Duration::from_millis(20));
                    if i < 2 {
                        fs::rename(&path, dir.join(format!("out.log.{i}"))).unwrap();
                    }
                }
                sending.store(false, Ordering::Relaxed);
            });
            // Five seconds after sending ends, fixed once known.
            let end = std::sync::OnceLock::new();
            let deadline = || {
                (!sending.load(Ordering::Relaxed))
                    .then(|| *end.get_or_init(|| Instant::now() + Duration::from_secs(5)))
            };
            watch_file_until(&path, start, &mut v, &deadline).unwrap()
        });
        assert!(!out.timed_out, "{:?}", v.tally());
        assert_eq!(v.tally().received, 60);
        assert_eq!(v.tally().duplicated, 0);
        let _ = fs::remove_dir_all(&dir);
    }
}

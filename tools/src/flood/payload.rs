//! The exact bytes of every flood line: the line format, its framing (LF or
//! RFC 6587 octet counting) and the reusable chunk buffer the senders write.
//!
//! A line is `<14>flood RUNID c=CCCC n=NNNNNNNNN ` followed by filler letters up
//! to the requested size. The token `flood RUNID c=CCCC n=NNNNNNNNN` has fixed
//! widths, so every line of a run has the same size and the token can be found
//! anywhere in a collector's output line, whatever prefix the collector adds.
//!
//! - `lf`: `MSG\n`, `size` bytes in all.
//! - `octet`: `LEN SP MSG` (no terminator), `size` bytes in all; `LEN` counts MSG.

use std::fmt;

/// Digits of the connection number `c` in the token.
pub const CONN_DIGITS: usize = 4;
/// Digits of the line number `n` in the token.
pub const SEQ_DIGITS: usize = 9;
/// Connections are numbered `0..connections`, so at most 10^4 of them.
pub const MAX_CONNECTIONS: u32 = 10_000;
/// Lines per connection are numbered `0..lines`, so at most 10^9 of them.
pub const MAX_LINES: u64 = 1_000_000_000;
/// Upper bound for `--size`: a line is one syslog message, not a bulk transfer.
pub const MAX_SIZE: usize = 1 << 20;
/// Longest accepted run id.
pub const MAX_RUN_ID: usize = 64;

/// The syslog priority every line starts with (facility user, severity info).
const PRI: &[u8] = b"<14>";
/// The word that starts the token.
const TAG: &[u8] = b"flood ";
/// Filler cycles through the alphabet: easy to eyeball, contains no token.
const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// How lines are delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `MSG\n`
    Lf,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    Octet,
}

impl Framing {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Lf => "lf",
            Framing::Octet => "octet",
        }
    }
}

/// Why a line format cannot be built from the given options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("run id {0:?} must be 1 to {MAX_RUN_ID} characters from [A-Za-z0-9._-]")]
    BadRunId(String),
    #[error("size {size} is too small: at least {min} bytes are needed for the token of run id {run_id:?} with {framing} framing")]
    TooSmall {
        size: usize,
        min: usize,
        run_id: String,
        framing: &'static str,
    },
    #[error("size {0} is too large: at most {MAX_SIZE} bytes")]
    TooLarge(usize),
    #[error("size {size} is impossible with octet framing (LEN SP MSG cannot total {size} bytes); use {} or {}", size - 1, size + 1)]
    OctetImpossible { size: usize },
}

/// Check that a run id can be embedded in a token: non-empty, no spaces, short.
pub fn validate_run_id(run_id: &str) -> Result<(), PayloadError> {
    let ok = !run_id.is_empty()
        && run_id.len() <= MAX_RUN_ID
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PayloadError::BadRunId(run_id.to_string()))
    }
}

/// The bytes that precede the connection number in every token of a run:
/// `flood RUNID c=`. The verifier searches for exactly this.
pub fn token_needle(run_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(TAG.len() + run_id.len() + 3);
    v.extend_from_slice(TAG);
    v.extend_from_slice(run_id.as_bytes());
    v.extend_from_slice(b" c=");
    v
}

/// Length of what follows the needle in a token: `CCCC n=NNNNNNNNN`.
pub const TOKEN_TAIL: usize = CONN_DIGITS + 3 + SEQ_DIGITS;

/// Number of decimal digits of `v` (at least 1).
fn decimal_digits(mut v: usize) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

static DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Write `v` as exactly `out.len()` zero-padded decimal digits (the high digits
/// are dropped if `v` does not fit; callers keep `v` in range).
#[inline]
pub fn write_fixed_digits(out: &mut [u8], mut v: u64) {
    let mut i = out.len();
    while i >= 2 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        out[i - 2] = DIGIT_PAIRS[pair];
        out[i - 1] = DIGIT_PAIRS[pair + 1];
        i -= 2;
    }
    if i == 1 {
        out[0] = b'0' + (v % 10) as u8;
    }
}

/// One run's line layout: a template frame plus where `c` and `n` go in it.
#[derive(Clone)]
pub struct LineFormat {
    template: Vec<u8>,
    c_offset: usize,
    n_offset: usize,
    framing: Framing,
}

impl fmt::Debug for LineFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineFormat")
            .field("template", &String::from_utf8_lossy(&self.template))
            .field("framing", &self.framing)
            .finish()
    }
}

impl LineFormat {
    /// Lay out lines of exactly `size` bytes (framing included) for `run_id`.
    pub fn new(run_id: &str, size: usize, framing: Framing) -> Result<Self, PayloadError> {
        validate_run_id(run_id)?;
        if size > MAX_SIZE {
            return Err(PayloadError::TooLarge(size));
        }
        // `<14>flood RUNID c=CCCC n=NNNNNNNNN ` : the message header.
        let header_len = PRI.len() + token_needle(run_id).len() + TOKEN_TAIL + 1;
        let (prefix, msg_len) = match framing {
            Framing::Lf => {
                let min = header_len + 1;
                if size < min {
                    return Err(too_small(size, min, run_id, framing));
                }
                (Vec::new(), size - 1)
            }
            Framing::Octet => {
                let min = decimal_digits(header_len) + 1 + header_len;
                if size < min {
                    return Err(too_small(size, min, run_id, framing));
                }
                let msg_len = (1..=decimal_digits(size))
                    .filter(|d| size > d + 1)
                    .map(|d| (d, size - 1 - d))
                    .find(|&(d, m)| decimal_digits(m) == d)
                    .map(|(_, m)| m)
                    .ok_or(PayloadError::OctetImpossible { size })?;
                (format!("{msg_len} ").into_bytes(), msg_len)
            }
        };

        let mut t = Vec::with_capacity(size);
        t.extend_from_slice(&prefix);
        let msg_start = t.len();
        t.extend_from_slice(PRI);
        t.extend_from_slice(&token_needle(run_id));
        let c_offset = t.len();
        t.extend_from_slice(&[b'0'; CONN_DIGITS]);
        t.extend_from_slice(b" n=");
        let n_offset = t.len();
        t.extend_from_slice(&[b'0'; SEQ_DIGITS]);
        t.push(b' ');
        let filler = msg_len - (t.len() - msg_start);
        t.extend(FILLER.iter().copied().cycle().take(filler));
        if framing == Framing::Lf {
            t.push(b'\n');
        }
        debug_assert_eq!(t.len(), size);
        Ok(LineFormat {
            template: t,
            c_offset,
            n_offset,
            framing,
        })
    }

    /// Bytes per line on the wire, framing included.
    pub fn size(&self) -> usize {
        self.template.len()
    }

    /// The framing this format was built for.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Write line `n` of connection `c` into `out` (exactly [`Self::size`] bytes).
    pub fn write_line(&self, c: u32, n: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.template);
        self.set_conn(out, c);
        self.set_seq(out, n);
    }

    /// The complete line `n` of connection `c`, as a new vector.
    pub fn line(&self, c: u32, n: u64) -> Vec<u8> {
        let mut v = vec![0; self.size()];
        self.write_line(c, n, &mut v);
        v
    }

    fn set_conn(&self, line: &mut [u8], c: u32) {
        write_fixed_digits(
            &mut line[self.c_offset..self.c_offset + CONN_DIGITS],
            u64::from(c),
        );
    }

    #[inline]
    fn set_seq(&self, line: &mut [u8], n: u64) {
        write_fixed_digits(&mut line[self.n_offset..self.n_offset + SEQ_DIGITS], n);
    }
}

fn too_small(size: usize, min: usize, run_id: &str, framing: Framing) -> PayloadError {
    PayloadError::TooSmall {
        size,
        min,
        run_id: run_id.to_string(),
        framing: framing.name(),
    }
}

/// A reusable buffer holding up to `lines_per_chunk` consecutive lines of one
/// connection. Each [`ChunkBuilder::next_chunk`] only rewrites the 9 digits of
/// `n` in each line, so building costs a few ns per line while the kernel copy
/// costs far more: the generator never limits throughput.
pub struct ChunkBuilder {
    format: LineFormat,
    buf: Vec<u8>,
    lines_per_chunk: usize,
    next: u64,
    end: u64,
}

impl ChunkBuilder {
    /// Lines `0..lines` of connection `c`, in chunks of at most `chunk_bytes`
    /// (rounded down to whole lines, at least one line).
    pub fn new(format: &LineFormat, c: u32, lines: u64, chunk_bytes: usize) -> Self {
        let size = format.size();
        let max_lines = (chunk_bytes / size).max(1);
        let lines_per_chunk = usize::try_from(lines).map_or(max_lines, |l| l.clamp(1, max_lines));
        let mut line = format.template.clone();
        format.set_conn(&mut line, c);
        let mut buf = Vec::with_capacity(lines_per_chunk * size);
        for _ in 0..lines_per_chunk {
            buf.extend_from_slice(&line);
        }
        ChunkBuilder {
            format: format.clone(),
            buf,
            lines_per_chunk,
            next: 0,
            end: lines,
        }
    }

    /// Most lines one chunk can hold.
    pub fn lines_per_chunk(&self) -> usize {
        self.lines_per_chunk
    }

    /// Lines not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.end - self.next
    }

    /// The next up to `max_lines` lines (at least one if any remain), or `None`
    /// when all lines have been handed out.
    pub fn next_chunk(&mut self, max_lines: usize) -> Option<&[u8]> {
        let remaining = self.remaining();
        if remaining == 0 {
            return None;
        }
        let k = max_lines
            .clamp(1, self.lines_per_chunk)
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let size = self.format.size();
        let n0 = self.next;
        for (i, line) in self.buf[..k * size].chunks_exact_mut(size).enumerate() {
            self.format.set_seq(line, n0 + i as u64);
        }
        self.next += k as u64;
        Some(&self.buf[..k * size])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn split_octet(mut data: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let sp = data.iter().position(|&b| b == b' ').expect("space");
            let len: usize = std::str::from_utf8(&data[..sp])
                .expect("utf8")
                .parse()
                .expect("len");
            out.push(&data[sp + 1..sp + 1 + len]);
            data = &data[sp + 1 + len..];
        }
        out
    }

    #[test]
    fn lf_line_layout_and_exact_size() {
        let f = LineFormat::new("run1", 120, Framing::Lf).unwrap();
        let line = f.line(3, 42);
        assert_eq!(line.len(), 120);
        assert!(line.starts_with(b"<14>flood run1 c=0003 n=000000042 abcdef"));
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn minimum_sizes() {
        // "<14>flood r c=0000 n=000000000 " is 31 bytes, + LF.
        assert!(LineFormat::new("r", 32, Framing::Lf).is_ok());
        assert!(matches!(
            LineFormat::new("r", 31, Framing::Lf),
            Err(PayloadError::TooSmall { min: 32, .. })
        ));
        // "31 " + 31 bytes.
        assert!(LineFormat::new("r", 34, Framing::Octet).is_ok());
        assert!(LineFormat::new("r", 33, Framing::Octet).is_err());
        assert!(LineFormat::new("r", MAX_SIZE + 1, Framing::Lf).is_err());
    }

    #[test]
    fn bad_run_ids_rejected() {
        for bad in ["", "a b", "x\n", "é", &"a".repeat(MAX_RUN_ID + 1)] {
            assert!(LineFormat::new(bad, 200, Framing::Lf).is_err(), "{bad:?}");
        }
        assert!(LineFormat::new("A-z_0.9", 200, Framing::Lf).is_ok());
    }

    #[test]
    fn octet_count_is_correct_for_many_sizes() {
        for size in 40..1200 {
            match LineFormat::new("oc", size, Framing::Octet) {
                Ok(f) => {
                    let line = f.line(1, 7);
                    assert_eq!(line.len(), size);
                    let msgs = split_octet(&line);
                    assert_eq!(msgs.len(), 1);
                    assert!(msgs[0].starts_with(b"<14>flood oc c=0001 n=000000007 "));
                    assert!(!line.contains(&b'\n'));
                }
                Err(PayloadError::OctetImpossible { size: s }) => {
                    assert_eq!(s, size);
                    assert!(size == 103 || size == 1004, "unexpected {size}");
                }
                Err(e) => panic!("{size}: {e}"),
            }
        }
    }

    #[test]
    fn octet_default_size() {
        let f = LineFormat::new("abc", 120, Framing::Octet).unwrap();
        let line = f.line(0, 0);
        assert!(line.starts_with(b"116 <14>flood abc c=0000 n=000000000 "));
        assert_eq!(line.len(), 120);
    }

    #[test]
    fn chunks_cover_all_lines_uniquely_with_exact_sizes() {
        for framing in [Framing::Lf, Framing::Octet] {
            let f = LineFormat::new("u", 60, framing).unwrap();
            let mut seen = HashSet::new();
            let mut total = 0usize;
            for c in 0..3u32 {
                // 1000 bytes per chunk -> 16 lines per chunk, 250 lines: last chunk partial.
                let mut b = ChunkBuilder::new(&f, c, 250, 1000);
                assert_eq!(b.lines_per_chunk(), 16);
                let mut n = 0u64;
                while let Some(chunk) = b.next_chunk(usize::MAX) {
                    assert_eq!(chunk.len() % 60, 0);
                    total += chunk.len();
                    for line in chunk.chunks_exact(60) {
                        assert_eq!(line, f.line(c, n).as_slice());
                        assert!(seen.insert(line.to_vec()));
                        n += 1;
                    }
                }
                assert_eq!(n, 250);
            }
            assert_eq!(total, 3 * 250 * 60);
        }
    }

    #[test]
    fn lf_stream_splits_into_equal_lines() {
        let f = LineFormat::new("s", 77, Framing::Lf).unwrap();
        let mut b = ChunkBuilder::new(&f, 9, 100, 64 * 1024);
        let chunk = b.next_chunk(usize::MAX).unwrap().to_vec();
        assert!(b.next_chunk(usize::MAX).is_none());
        let lines: Vec<&[u8]> = chunk.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 100);
        assert!(lines.iter().all(|l| l.len() == 77));
    }

    #[test]
    fn small_max_lines_paces_chunks() {
        let f = LineFormat::new("p", 50, Framing::Lf).unwrap();
        let mut b = ChunkBuilder::new(&f, 0, 10, 1 << 20);
        assert_eq!(b.lines_per_chunk(), 10);
        assert_eq!(b.next_chunk(3).map(<[u8]>::len), Some(150));
        assert_eq!(b.next_chunk(0).map(<[u8]>::len), Some(50));
        assert_eq!(b.remaining(), 6);
        let last = b.next_chunk(100).unwrap();
        assert_eq!(&last[..50], f.line(0, 4).as_slice());
        assert_eq!(&last[250..], f.line(0, 9).as_slice());
        assert_eq!(last.len(), 300);
        assert!(b.next_chunk(1).is_none());
    }

    #[test]
    fn fixed_digits() {
        let mut b = [0u8; 9];
        write_fixed_digits(&mut b, 123_456_789);
        assert_eq!(&b, b"123456789");
        write_fixed_digits(&mut b, 7);
        assert_eq!(&b, b"000000007");
        let mut c = [0u8; 4];
        write_fixed_digits(&mut c, 9999);
        assert_eq!(&c, b"9999");
        write_fixed_digits(&mut c, 10);
        assert_eq!(&c, b"0010");
    }
}

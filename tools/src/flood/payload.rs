//! The exact bytes of every flood line: the line format, its framing (LF or
//! RFC 6587 octet counting) and the reusable chunk buffer the senders write.
//!
//! A line is `<14>flood RUNID c=CCCC n=NNNNNNNNN ` followed by filler letters up
//! to the requested size. The token `flood RUNID c=CCCC n=NNNNNNNNN` has fixed
//! widths, so every line of a run has the same size and the token can be found
//! anywhere in a collector's output line, whatever prefix the collector adds.
//! With a syslog [`Header`] the `<14>` gives way to a whole RFC 5424 or RFC
//! 3164 header (`host1 app1[4242]`, local0.info), or to both in turn (even
//! line numbers RFC 5424, odd ones RFC 3164), the filler shortened so that
//! every line still has the requested size: the rest of the message, the
//! *payload* from `flood` on, is what a parsing collector writes as the
//! message.
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
/// The RFC 5424 header of [`Header::Rfc5424`] lines (PRI 134: local0.info).
pub const RFC5424_HEADER: &[u8] = b"<134>1 2026-12-07T21:36:51.123456Z host1 app1 4242 - - ";
/// The RFC 3164 header of [`Header::Rfc3164`] lines (the same fields).
pub const RFC3164_HEADER: &[u8] = b"<134>Dec  7 21:36:51 host1 app1[4242]: ";
/// What a collector that parses either header makes of it in the format
/// `HOSTNAME APPNAME[PROCID] SEVERITY: ` (PRI 134 is severity 6, info).
pub const PARSED_PREFIX: &[u8] = b"host1 app1[4242] info: ";
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

/// What precedes the payload (`flood RUNID c=... n=... filler`) in a line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// `<14>` alone (no timestamp, host or tag): pysyslog's own flood lines.
    #[default]
    Pri,
    /// [`RFC5424_HEADER`].
    Rfc5424,
    /// [`RFC3164_HEADER`].
    Rfc3164,
    /// Half and half: [`RFC5424_HEADER`] on even line numbers,
    /// [`RFC3164_HEADER`] on odd ones, in every connection.
    Mixed,
}

impl Header {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Header::Pri => "pri",
            Header::Rfc5424 => "rfc5424",
            Header::Rfc3164 => "rfc3164",
            Header::Mixed => "mixed",
        }
    }

    /// The headers lines take in turn (line `n` has `headers()[n % len]`).
    fn headers(self) -> &'static [&'static [u8]] {
        match self {
            Header::Pri => &[PRI],
            Header::Rfc5424 => &[RFC5424_HEADER],
            Header::Rfc3164 => &[RFC3164_HEADER],
            Header::Mixed => &[RFC5424_HEADER, RFC3164_HEADER],
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

/// One layout of a line: a template frame plus where `c`, `n` and the
/// payload are in it.
#[derive(Clone)]
struct Variant {
    template: Vec<u8>,
    c_offset: usize,
    n_offset: usize,
    /// Where the payload (`flood ...`) starts.
    payload_offset: usize,
}

/// One run's line layout: one [`Variant`] per header the lines take in turn
/// (one but for [`Header::Mixed`]), all of the same size.
#[derive(Clone)]
pub struct LineFormat {
    variants: Vec<Variant>,
    framing: Framing,
}

impl fmt::Debug for LineFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let templates: Vec<_> = self
            .variants
            .iter()
            .map(|v| String::from_utf8_lossy(&v.template))
            .collect();
        f.debug_struct("LineFormat")
            .field("templates", &templates)
            .field("framing", &self.framing)
            .finish()
    }
}

impl LineFormat {
    /// Lay out lines of exactly `size` bytes (framing included) for `run_id`.
    pub fn new(run_id: &str, size: usize, framing: Framing) -> Result<Self, PayloadError> {
        LineFormat::with_header(run_id, size, framing, Header::Pri)
    }

    /// As [`Self::new`], each message starting with `header` instead of `<14>`.
    pub fn with_header(
        run_id: &str,
        size: usize,
        framing: Framing,
        header: Header,
    ) -> Result<Self, PayloadError> {
        validate_run_id(run_id)?;
        if size > MAX_SIZE {
            return Err(PayloadError::TooLarge(size));
        }
        let headers = header.headers();
        // `HEADER flood RUNID c=CCCC n=NNNNNNNNN ` : the longest message header.
        let longest = headers.iter().map(|h| h.len()).max().unwrap_or(0);
        let header_len = longest + token_needle(run_id).len() + TOKEN_TAIL + 1;
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

        let variants = headers
            .iter()
            .map(|h| {
                let mut t = Vec::with_capacity(size);
                t.extend_from_slice(&prefix);
                let msg_start = t.len();
                t.extend_from_slice(h);
                let payload_offset = t.len();
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
                Variant {
                    template: t,
                    c_offset,
                    n_offset,
                    payload_offset,
                }
            })
            .collect();
        Ok(LineFormat { variants, framing })
    }

    /// Bytes per line on the wire, framing included.
    pub fn size(&self) -> usize {
        self.variants[0].template.len()
    }

    /// The framing this format was built for.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The layout of line `n`.
    #[inline]
    fn variant(&self, n: u64) -> usize {
        (n % self.variants.len() as u64) as usize
    }

    /// Write line `n` of connection `c` into `out` (exactly [`Self::size`] bytes).
    pub fn write_line(&self, c: u32, n: u64, out: &mut [u8]) {
        let v = &self.variants[self.variant(n)];
        out.copy_from_slice(&v.template);
        set_conn(v, out, c);
        set_seq(v, out, n);
    }

    /// The complete line `n` of connection `c`, as a new vector.
    pub fn line(&self, c: u32, n: u64) -> Vec<u8> {
        let mut v = vec![0; self.size()];
        self.write_line(c, n, &mut v);
        v
    }

    /// Where the message's header ends and its payload (`flood RUNID ...`)
    /// starts in line `n`, and where the payload ends (before an LF).
    pub fn payload_range(&self, n: u64) -> std::ops::Range<usize> {
        let end = match self.framing {
            Framing::Lf => self.size() - 1,
            Framing::Octet => self.size(),
        };
        self.variants[self.variant(n)].payload_offset..end
    }
}

fn set_conn(v: &Variant, line: &mut [u8], c: u32) {
    write_fixed_digits(
        &mut line[v.c_offset..v.c_offset + CONN_DIGITS],
        u64::from(c),
    );
}

#[inline]
fn set_seq(v: &Variant, line: &mut [u8], n: u64) {
    write_fixed_digits(&mut line[v.n_offset..v.n_offset + SEQ_DIGITS], n);
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
/// costs far more: the generator never limits throughput. With headers taken
/// in turn ([`Header::Mixed`]) a chunk holds a whole number of turns, so that
/// slot `i` keeps the layout of line `n0 + i`; a slot whose line needs the
/// other layout (after a short, paced chunk) is rewritten whole.
pub struct ChunkBuilder {
    format: LineFormat,
    conn: u32,
    buf: Vec<u8>,
    /// The layout each slot of `buf` holds.
    slots: Vec<usize>,
    lines_per_chunk: usize,
    next: u64,
    end: u64,
}

impl ChunkBuilder {
    /// Lines `0..lines` of connection `c`, in chunks of at most `chunk_bytes`
    /// (rounded down to whole lines, and to whole turns of the headers when
    /// that leaves any, at least one line).
    pub fn new(format: &LineFormat, c: u32, lines: u64, chunk_bytes: usize) -> Self {
        let size = format.size();
        let turn = format.variants.len();
        let mut max_lines = (chunk_bytes / size).max(1);
        if max_lines >= turn {
            max_lines -= max_lines % turn;
        }
        let lines_per_chunk = usize::try_from(lines).map_or(max_lines, |l| l.clamp(1, max_lines));
        let mut buf = vec![0; lines_per_chunk * size];
        let mut slots = Vec::with_capacity(lines_per_chunk);
        for (i, line) in buf.chunks_exact_mut(size).enumerate() {
            let v = format.variant(i as u64);
            line.copy_from_slice(&format.variants[v].template);
            set_conn(&format.variants[v], line, c);
            slots.push(v);
        }
        ChunkBuilder {
            format: format.clone(),
            conn: c,
            buf,
            slots,
            lines_per_chunk,
            next: 0,
            end: lines,
        }
    }

    /// Start over with the same number of lines of connection `c` (the
    /// buffer is reused: only each slot's connection digits are rewritten).
    pub fn restart(&mut self, c: u32) {
        let size = self.format.size();
        for (line, &v) in self.buf.chunks_exact_mut(size).zip(&self.slots) {
            set_conn(&self.format.variants[v], line, c);
        }
        self.conn = c;
        self.next = 0;
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
            let n = n0 + i as u64;
            let want = self.format.variant(n);
            let v = &self.format.variants[want];
            if self.slots[i] != want {
                line.copy_from_slice(&v.template);
                set_conn(v, line, self.conn);
                self.slots[i] = want;
            }
            set_seq(v, line, n);
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
    fn syslog_headers_keep_the_size_and_the_token() {
        let f = LineFormat::with_header("run1", 120, Framing::Lf, Header::Mixed).unwrap();
        let (even, odd) = (f.line(2, 10), f.line(2, 11));
        assert_eq!((even.len(), odd.len()), (120, 120));
        assert!(even.starts_with(RFC5424_HEADER), "{even:?}");
        assert!(odd.starts_with(RFC3164_HEADER), "{odd:?}");
        let p = f.payload_range(10);
        assert_eq!(p, RFC5424_HEADER.len()..119);
        assert!(even[p].starts_with(b"flood run1 c=0002 n=000000010 abc"));
        let p = f.payload_range(11);
        assert_eq!(p.start, RFC3164_HEADER.len());
        assert!(odd[p].starts_with(b"flood run1 c=0002 n=000000011 abc"));
        let plain = LineFormat::new("run1", 120, Framing::Lf).unwrap();
        assert_eq!(plain.payload_range(3), 4..119);
        let one = LineFormat::with_header("r", 100, Framing::Octet, Header::Rfc3164).unwrap();
        assert!(one
            .line(0, 1)
            .starts_with(b"97 <134>Dec  7 21:36:51 host1 app1[4242]: flood r"));
        assert_eq!(one.payload_range(1), 3 + RFC3164_HEADER.len()..100);
        // The longest header sets the minimum.
        let min = RFC5424_HEADER.len() + "flood r c=0000 n=000000000 ".len() + 1;
        assert!(LineFormat::with_header("r", min, Framing::Lf, Header::Mixed).is_ok());
        assert!(LineFormat::with_header("r", min - 1, Framing::Lf, Header::Mixed).is_err());
    }

    #[test]
    fn mixed_chunks_alternate_even_when_paced() {
        let f = LineFormat::with_header("m", 100, Framing::Lf, Header::Mixed).unwrap();
        // 1000 bytes: 10 lines, a whole number of turns; 1050 is rounded down too.
        assert_eq!(ChunkBuilder::new(&f, 1, 50, 1050).lines_per_chunk(), 10);
        assert_eq!(ChunkBuilder::new(&f, 1, 50, 150).lines_per_chunk(), 1);
        for sizes in [vec![usize::MAX], vec![3, 1, 4, 1, 5, 9, 2, 6]] {
            let mut b = ChunkBuilder::new(&f, 1, 50, 1050);
            let mut n = 0u64;
            for &k in sizes.iter().cycle() {
                let Some(chunk) = b.next_chunk(k) else { break };
                for line in chunk.chunks_exact(100) {
                    assert_eq!(line, f.line(1, n).as_slice(), "line {n}");
                    n += 1;
                }
            }
            assert_eq!(n, 50);
        }
    }

    #[test]
    fn a_restarted_builder_sends_another_connections_lines() {
        let f = LineFormat::with_header("r", 100, Framing::Lf, Header::Mixed).unwrap();
        let mut b = ChunkBuilder::new(&f, 3, 7, 400);
        while b.next_chunk(3).is_some() {}
        b.restart(1042);
        assert_eq!(b.remaining(), 7);
        let mut n = 0u64;
        while let Some(chunk) = b.next_chunk(usize::MAX) {
            for line in chunk.chunks_exact(100) {
                assert_eq!(line, f.line(1042, n).as_slice(), "line {n}");
                n += 1;
            }
        }
        assert_eq!(n, 7);
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

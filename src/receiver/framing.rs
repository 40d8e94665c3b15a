//! Syslog-over-TCP framing: bytes in, frames out. Pure and I/O-free.
//!
//! Owns: finding frame boundaries (RFC 6587 octet counting and non-transparent
//! framing, detected per frame), pysyslog's `bytes.strip()`, and the frame-length
//! bound. Does not own: sockets, TLS, decoding text, reporting truncations (it
//! flags them; the connection reports them).
//!
//! Both framings are accepted on one port, detected per frame, because senders
//! differ: RFC 5425 clients and `logger --octet-count` count octets, most
//! others end lines with LF, and Python's `SysLogHandler` ends them with NUL.
//! The rules (docs/listeners.md, "Framing", states them for operators):
//! - A frame that starts with a digit 1-9, up to 8 more digits, a space and `<` is
//!   octet-counted: `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1). The `<` keeps text
//!   lines that merely begin with a number from being misread (a guess from
//!   the leading digits alone gets those wrong).
//! - Anything else is non-transparent (RFC 6587 §3.4.2): it ends at LF or at NUL.
//!   Python's `SysLogHandler` over TCP ends messages with NUL and no LF; a NUL
//!   directly followed by LF ends one frame, not two, and an empty frame ended by
//!   NUL is dropped. An empty LF-terminated line is an empty message (pysyslog
//!   logs those).
//! - Every frame is stripped of ASCII whitespace at both ends, like Python's
//!   `bytes.strip()`.
//! - A frame longer than `max_line` bytes yields its first `max_line` bytes as a
//!   truncated frame; the rest of it is discarded. Memory per framer is bounded by
//!   `max_line` plus an 11-byte header.
//! - At end of stream, an unterminated last frame is still emitted.
//! - A frame still arriving may be split ([`Framer::spill`], when the
//!   partial frames of all connections pass their budget): what it holds is
//!   emitted now and the rest of it follows as another frame. Both pieces
//!   count against `max_line` together, a piece is stripped only at the
//!   frame's own ends, and an empty piece after the first is not emitted.
//! - Control characters inside a frame are escaped by the connection's
//!   [`ControlChars`] policy (`escape.rs`): by default LF and NUL, which only an
//!   octet-counted frame can hold, so every message stays one line. The bound
//!   holds after escaping: an escaped frame longer than `max_line` is cut there
//!   (never inside an escape) and reported truncated.

use memchr::memchr2;

use super::escape::ControlChars;

/// The longest octet-counting header we look at: 9 digits, a space and the `<`
/// that must start the message.
const MAX_HEADER: usize = 11;

/// A frame found in the stream. The slice is only valid during the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame, stripped.
    Line(&'a [u8]),
    /// The first `max_line` bytes of an over-long frame (or an octet-counted frame
    /// cut short by end of stream), stripped. The rest was discarded.
    Truncated(&'a [u8]),
}

/// Where the framer is within the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames; `buf` may hold the first bytes of a possible octet count.
    Start,
    /// Inside a non-transparent frame; `buf` holds its bytes so far.
    Line,
    /// Inside an octet-counted frame with `remaining` message bytes still to come.
    Counted {
        remaining: usize,
        truncate: bool,
        skip_after: u64,
    },
    /// Discarding the rest of an over-long non-transparent frame, up to LF or NUL.
    SkipLine,
    /// Discarding the rest of an over-long octet-counted frame.
    SkipCounted { remaining: u64 },
}

/// How the start of a frame reads.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// Too few bytes to tell.
    Incomplete,
    /// Not an octet count: a non-transparent frame.
    Plain,
    /// `len` message bytes follow the first `header_len` bytes.
    Counted { len: u64, header_len: usize },
}

/// Classify the first bytes of a frame.
fn classify(p: &[u8]) -> Header {
    match p.first() {
        None => return Header::Incomplete,
        Some(b'1'..=b'9') => {}
        Some(_) => return Header::Plain,
    }
    let mut i = 1;
    while i < p.len() && p[i].is_ascii_digit() {
        i += 1;
        if i > 9 {
            return Header::Plain;
        }
    }
    match (p.get(i), p.get(i + 1)) {
        (None, _) | (Some(b' '), None) => Header::Incomplete,
        (Some(b' '), Some(b'<')) => {
            let len = p[..i]
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            Header::Counted {
                len,
                header_len: i + 1,
            }
        }
        _ => Header::Plain,
    }
}

/// Python's `bytes.strip()`: ASCII whitespace (space, \t, \n, \r, \x0b, \x0c).
pub fn py_strip(mut s: &[u8]) -> &[u8] {
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    while let [first, rest @ ..] = s {
        if !ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// A piece of a frame stripped as the whole frame would be: at its start
/// only if it is the frame's `first` piece, at its end only if `last`.
fn strip_piece(s: &[u8], first: bool, last: bool) -> &[u8] {
    if first && last {
        // A whole frame, nearly always.
        return py_strip(s);
    }
    let s = if first { &s[leading_ws(s)..] } else { s };
    if last {
        &s[..s.len() - trailing_ws(s)]
    } else {
        s
    }
}

/// ASCII whitespace as [`py_strip`] strips it.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// How many bytes of whitespace `s` starts with.
fn leading_ws(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| is_ws(b)).count()
}

/// How many bytes of whitespace `s` ends with.
fn trailing_ws(s: &[u8]) -> usize {
    s.iter().rev().take_while(|&&b| is_ws(b)).count()
}

/// Incremental frame decoder for one connection.
#[derive(Debug)]
pub struct Framer {
    max_line: usize,
    buf: Vec<u8>,
    state: State,
    /// The previous frame ended with NUL: an LF right after it belongs to it.
    after_nul: bool,
    control: ControlChars,
    /// An escaped frame while it is emitted; empty (no allocation) otherwise.
    escaped: Vec<u8>,
    /// Bytes of the current frame already emitted by [`Framer::spill`]:
    /// they count against `max_line` with the rest.
    spilled: usize,
    /// A piece of the current frame was emitted: the next is not stripped
    /// at its start, and is not emitted if empty.
    piece_out: bool,
}

/// An escaped frame's buffer is given back after use when larger than this:
/// frames needing escapes are rare, and a connection should not keep four
/// times `max_line` for one.
const KEEP_ESCAPED: usize = 4096;

/// A frame buffer at most this large is kept between frames and turns: the
/// ordinary short line split across reads fits in it without allocating.
const KEEP_BUF: usize = 4096;

/// Emit `frame` (stripped) after escaping what `control` escapes in it, held
/// to `max_line` bytes (an escaped frame cut there is a truncated one).
fn emit_clean(
    control: ControlChars,
    escaped: &mut Vec<u8>,
    frame: &[u8],
    max_line: usize,
    truncated: bool,
    emit: &mut impl FnMut(Frame<'_>),
) {
    let (clean, cut) = control.apply_within(frame, max_line, escaped);
    // Cut short, it is stripped again, as a frame cut at the bound is.
    let clean = if cut { py_strip(clean) } else { clean };
    emit(if truncated || cut {
        Frame::Truncated(clean)
    } else {
        Frame::Line(clean)
    });
    if escaped.capacity() > KEEP_ESCAPED {
        *escaped = Vec::new();
    }
}

impl Framer {
    /// A framer whose frames are at most `max_line` bytes (at least 1), with
    /// the default escaping (LF and NUL).
    pub fn new(max_line: usize) -> Framer {
        Framer::with_control(max_line, ControlChars::default())
    }

    /// A framer escaping control characters as `control` says.
    pub fn with_control(max_line: usize, control: ControlChars) -> Framer {
        Framer {
            max_line: max_line.max(1),
            buf: Vec::new(),
            state: State::Start,
            after_nul: false,
            control,
            escaped: Vec::new(),
            spilled: 0,
            piece_out: false,
        }
    }

    /// The longest frame kept.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes held for an unfinished frame (bounded by `max_line` + 11).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Memory held for a frame still arriving that [`Framer::spill`] can
    /// give back: its buffer's size. Nothing between frames (an empty buffer
    /// kept for the next frame, or the first bytes of an octet count, at most
    /// 11, in it, which stay with the connection).
    pub fn held_bytes(&self) -> usize {
        match self.state {
            State::Line | State::Counted { .. } if !self.buf.is_empty() => self.buf.capacity(),
            _ => 0,
        }
    }

    /// A whole message framed by another protocol (the data of a RELP
    /// `syslog` command): stripped, escaped and truncated as an
    /// octet-counted frame is.
    pub fn whole(&mut self, frame: &[u8], emit: impl FnMut(Frame<'_>)) {
        self.piece(frame, true, true, emit);
    }

    /// A piece of such a message, split by its protocol's reader: stripped
    /// only at the message's own ends (`first`, `last`). An empty piece is
    /// emitted only if it is the whole message. Returns whether it was.
    pub fn piece(
        &mut self,
        frame: &[u8],
        first: bool,
        last: bool,
        mut emit: impl FnMut(Frame<'_>),
    ) -> bool {
        let truncate = frame.len() > self.max_line;
        let kept = if truncate {
            &frame[..self.max_line]
        } else {
            frame
        };
        let clean = strip_piece(kept, first, last);
        if clean.is_empty() && !(first && last) {
            return false;
        }
        emit_clean(
            self.control,
            &mut self.escaped,
            clean,
            self.max_line,
            truncate,
            &mut emit,
        );
        true
    }

    /// Emit what is held of a frame still arriving, now, and give its buffer
    /// back; the rest of the frame follows as another frame. Returns the
    /// bytes it held (0: nothing to split: no frame under way, or only the
    /// first bytes of an octet count).
    pub fn spill(&mut self, mut emit: impl FnMut(Frame<'_>)) -> usize {
        let held = self.buf.len();
        let scan = match self.state {
            State::Line => self.control.scans_terminated_frames(),
            // Counted frames may hold LF and NUL.
            State::Counted { .. } => true,
            _ => return 0,
        };
        if held == 0 {
            return 0;
        }
        let buf = std::mem::take(&mut self.buf);
        let piece = strip_piece(&buf, !self.piece_out, false);
        if !piece.is_empty() {
            self.piece_out = true;
            if scan {
                emit_clean(
                    self.control,
                    &mut self.escaped,
                    piece,
                    self.max_line,
                    false,
                    &mut emit,
                );
            } else {
                emit(Frame::Line(piece));
            }
        }
        self.spilled += held;
        held
    }

    /// The current frame is over (emitted, cut, or the stream ended).
    fn frame_done(&mut self) {
        self.spilled = 0;
        self.piece_out = false;
    }

    /// The connection went quiet (its socket drained at the end of a read
    /// turn): give back what the buffer holds beyond its partial frame, all
    /// of it when there is none. Once per turn, never per frame; a buffer that
    /// stayed small is left alone, so ordinary traffic never reallocates.
    pub fn release_spare(&mut self) {
        if self.buf.capacity() <= KEEP_BUF {
            return;
        }
        if self.buf.is_empty() {
            self.buf = Vec::new();
        } else if self.buf.capacity() - self.buf.len() > KEEP_BUF {
            // Shrinking in place: the allocator copies nothing.
            self.buf.shrink_to_fit();
        }
    }

    /// Feed bytes; `emit` is called for every frame they complete.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(Frame<'_>)) {
        let mut pos = 0;
        while pos < data.len() {
            pos += match self.state {
                State::Start => self.start(&data[pos..]),
                State::Line => self.line(&data[pos..], &mut emit),
                State::Counted { .. } => self.counted(&data[pos..], &mut emit),
                State::SkipLine => self.skip_line(&data[pos..]),
                State::SkipCounted { remaining } => {
                    let n = remaining.min((data.len() - pos) as u64);
                    self.state = match remaining - n {
                        0 => State::Start,
                        left => State::SkipCounted { remaining: left },
                    };
                    n as usize
                }
            };
        }
    }

    /// End of stream: emit an unterminated last frame, if any.
    pub fn finish(&mut self, mut emit: impl FnMut(Frame<'_>)) {
        let first = !self.piece_out;
        match self.state {
            State::Start | State::Line if !self.buf.is_empty() => {
                let frame = strip_piece(&self.buf, first, true);
                if frame.is_empty() && !first {
                    // The end of a split frame: nothing more to log.
                } else if self.control.scans_terminated_frames() {
                    emit_clean(
                        self.control,
                        &mut self.escaped,
                        frame,
                        self.max_line,
                        false,
                        &mut emit,
                    );
                } else {
                    emit(Frame::Line(frame));
                }
            }
            State::Counted { .. } if !self.buf.is_empty() => {
                let frame = strip_piece(&self.buf, first, true);
                emit_clean(
                    self.control,
                    &mut self.escaped,
                    frame,
                    self.max_line,
                    true,
                    &mut emit,
                );
            }
            _ => {}
        }
        self.buf.clear();
        self.state = State::Start;
        self.after_nul = false;
        self.frame_done();
    }

    /// At a frame start: decide its framing. Returns the bytes consumed.
    fn start(&mut self, data: &[u8]) -> usize {
        if std::mem::take(&mut self.after_nul) && self.buf.is_empty() && data[0] == b'\n' {
            return 1;
        }
        // Nearly every frame starts with `<` (or anything but 1-9): no octet
        // count to read, so skip assembling and classifying a header.
        if self.buf.is_empty() && !matches!(data[0], b'1'..=b'9') {
            self.state = State::Line;
            return 0;
        }
        let mut head = [0u8; MAX_HEADER];
        let held = self.buf.len();
        head[..held].copy_from_slice(&self.buf);
        let take = (MAX_HEADER - held).min(data.len());
        head[held..held + take].copy_from_slice(&data[..take]);
        match classify(&head[..held + take]) {
            Header::Incomplete => {
                // Fewer than MAX_HEADER bytes in all, so `data` fits entirely.
                self.buf.extend_from_slice(data);
                data.len()
            }
            Header::Plain => {
                // `buf` holds only digits and maybe a space: no terminator in it.
                self.state = State::Line;
                0
            }
            Header::Counted { len, header_len } => {
                self.buf.clear();
                let max = self.max_line as u64;
                self.state = State::Counted {
                    remaining: len.min(max) as usize,
                    truncate: len > max,
                    skip_after: len.saturating_sub(max),
                };
                header_len - held
            }
        }
    }

    /// Inside a non-transparent frame. Returns the bytes consumed.
    fn line(&mut self, data: &[u8], emit: &mut impl FnMut(Frame<'_>)) -> usize {
        let max = self.max_line;
        // What the frame may still hold: pieces already split count.
        let room = max.saturating_sub(self.spilled);
        let first = !self.piece_out;
        match memchr2(b'\n', b'\0', data) {
            Some(end) => {
                let nul = data[end] == b'\0';
                let whole = self.buf.len() + end;
                let frame: &[u8] = if self.buf.is_empty() {
                    &data[..end]
                } else {
                    let keep = end.min(room.saturating_sub(self.buf.len()));
                    self.buf.extend_from_slice(&data[..keep]);
                    &self.buf
                };
                // A frame ended by LF or NUL holds neither: the default
                // escaping has nothing to do here, and costs nothing.
                let scan = self.control.scans_terminated_frames();
                let truncated = whole > room;
                let line = strip_piece(&frame[..whole.min(room)], first, true);
                // An empty NUL-ended frame is no message, nor is an empty
                // end of a split one (a cut frame is reported all the same).
                let nothing = line.is_empty() && ((nul && !truncated) || !first);
                if !nothing {
                    if scan {
                        emit_clean(self.control, &mut self.escaped, line, max, truncated, emit);
                    } else if truncated {
                        emit(Frame::Truncated(line));
                    } else {
                        emit(Frame::Line(line));
                    }
                }
                self.buf.clear();
                self.state = State::Start;
                self.after_nul = nul;
                self.frame_done();
                end + 1
            }
            None if self.buf.len() + data.len() > room => {
                // `buf` may already exceed `room` when it holds a long header.
                let keep = room.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&data[..keep]);
                let line = strip_piece(&self.buf[..room.min(self.buf.len())], first, true);
                if line.is_empty() && !first {
                    // Cut where a split frame had nothing more.
                } else if self.control.scans_terminated_frames() {
                    emit_clean(self.control, &mut self.escaped, line, max, true, emit);
                } else {
                    emit(Frame::Truncated(line));
                }
                self.buf.clear();
                self.state = State::SkipLine;
                self.frame_done();
                keep
            }
            None => {
                self.buf.extend_from_slice(data);
                data.len()
            }
        }
    }

    /// Inside an octet-counted frame. Returns the bytes consumed.
    fn counted(&mut self, data: &[u8], emit: &mut impl FnMut(Frame<'_>)) -> usize {
        let State::Counted {
            remaining,
            truncate,
            skip_after,
        } = self.state
        else {
            return 0;
        };
        let n = remaining.min(data.len());
        if n < remaining {
            self.buf.extend_from_slice(&data[..n]);
            self.state = State::Counted {
                remaining: remaining - n,
                truncate,
                skip_after,
            };
            return n;
        }
        let frame: &[u8] = if self.buf.is_empty() {
            &data[..n]
        } else {
            self.buf.extend_from_slice(&data[..n]);
            &self.buf
        };
        let first = !self.piece_out;
        let line = strip_piece(frame, first, true);
        if first || !line.is_empty() {
            // Counted frames may hold anything, LF and NUL included.
            emit_clean(
                self.control,
                &mut self.escaped,
                line,
                self.max_line,
                truncate,
                emit,
            );
        }
        self.buf.clear();
        self.frame_done();
        self.state = if skip_after > 0 {
            State::SkipCounted {
                remaining: skip_after,
            }
        } else {
            State::Start
        };
        n
    }

    /// Discarding the rest of an over-long frame. Returns the bytes consumed.
    fn skip_line(&mut self, data: &[u8]) -> usize {
        match memchr2(b'\n', b'\0', data) {
            Some(end) => {
                self.after_nul = data[end] == b'\0';
                self.state = State::Start;
                end + 1
            }
            None => data.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the framer yields, owned, for comparisons.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Out {
        L(Vec<u8>),
        T(Vec<u8>),
    }

    fn run_chunks(max: usize, chunks: &[&[u8]]) -> Vec<Out> {
        run_chunks_with(max, chunks, ControlChars::default())
    }

    fn run_chunks_with(max: usize, chunks: &[&[u8]], control: ControlChars) -> Vec<Out> {
        let mut f = Framer::with_control(max, control);
        let mut out = Vec::new();
        let mut sink = |fr: Frame<'_>| {
            out.push(match fr {
                Frame::Line(l) => Out::L(l.to_vec()),
                Frame::Truncated(l) => Out::T(l.to_vec()),
            })
        };
        for c in chunks {
            f.push(c, &mut sink);
        }
        f.finish(&mut sink);
        assert_eq!(f.buffered(), 0);
        out
    }

    /// Feed `input` whole, split at every offset, split at every pair of offsets
    /// (for short inputs) and byte by byte: every chunking must give the same frames.
    fn frames(max: usize, input: &[u8]) -> Vec<Out> {
        let whole = run_chunks(max, &[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run_chunks(max, &[a, b]), whole, "split at {i} of {input:?}");
        }
        if input.len() <= 40 {
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let parts = [&input[..i], &input[i..j], &input[j..]];
                    assert_eq!(
                        run_chunks(max, &parts),
                        whole,
                        "split at {i},{j} of {input:?}"
                    );
                }
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run_chunks(max, &bytes), whole, "byte by byte: {input:?}");
        whole
    }

    fn l(s: &str) -> Out {
        Out::L(s.as_bytes().to_vec())
    }
    fn t(s: &str) -> Out {
        Out::T(s.as_bytes().to_vec())
    }

    #[test]
    fn strip_matches_python_bytes_strip() {
        assert_eq!(py_strip(b"  spaced\t\r\n"), b"spaced");
        assert_eq!(py_strip(b"\x0b\x0cx\x0c\x0b"), b"x");
        assert_eq!(
            py_strip(b"\xa0x\xa0"),
            b"\xa0x\xa0",
            "non-ASCII space is not stripped"
        );
        assert_eq!(
            py_strip(b"\x00x\x00"),
            b"\x00x\x00",
            "NUL is not whitespace"
        );
        assert_eq!(py_strip(b" \t "), b"");
        assert_eq!(py_strip(b""), b"");
    }

    #[test]
    fn lf_framing_like_pysyslog() {
        assert_eq!(frames(64, b"one\ntwo\n"), vec![l("one"), l("two")]);
        assert_eq!(
            frames(64, b"crlf\r\n  spaced\t\r\n"),
            vec![l("crlf"), l("spaced")]
        );
        assert_eq!(
            frames(64, b"\n\n"),
            vec![l(""), l("")],
            "empty lines are empty messages"
        );
        assert_eq!(
            frames(64, b"a\nlast"),
            vec![l("a"), l("last")],
            "unterminated last line"
        );
        assert_eq!(
            frames(64, b"a\n   "),
            vec![l("a"), l("")],
            "whitespace tail is a line"
        );
        assert_eq!(frames(64, b""), Vec::<Out>::new());
        assert_eq!(frames(64, b"100% sure\n"), vec![l("100% sure")]);
    }

    #[test]
    fn nul_framing_like_python_sysloghandler() {
        assert_eq!(frames(64, b"<14>a\0<14>b\0"), vec![l("<14>a"), l("<14>b")]);
        assert_eq!(
            frames(64, b"a\0\nb\0\n"),
            vec![l("a"), l("b")],
            "NUL+LF ends one frame"
        );
        assert_eq!(
            frames(64, b"\0\0\0a\0"),
            vec![l("a")],
            "empty NUL frames are dropped"
        );
        assert_eq!(
            frames(64, b"a\0\n\nb"),
            vec![l("a"), l(""), l("b")],
            "only one LF is absorbed"
        );
        assert_eq!(frames(64, b"a\0 \0"), vec![l("a")]);
    }

    #[test]
    fn octet_counting_detected_per_frame() {
        assert_eq!(
            frames(64, b"5 <14>a6 <14>bc"),
            vec![l("<14>a"), l("<14>bc")]
        );
        assert_eq!(
            frames(64, b"5 <14>a\nplain\n6 <14>bc"),
            vec![l("<14>a"), l(""), l("plain"), l("<14>bc")],
            "the LF after a counted frame starts an (empty) plain frame"
        );
        assert_eq!(
            run_chunks_with(64, &[b"11 <14>a\nb\0c d"], ControlChars::Keep),
            vec![l("<14>a\nb\0c d")],
            "counted bytes are opaque to the framing"
        );
        assert_eq!(frames(64, b"3 <1>"), vec![l("<1>")]);
    }

    #[test]
    fn text_starting_with_a_number_is_not_octet_counted() {
        assert_eq!(frames(64, b"123 apples\n"), vec![l("123 apples")]);
        assert_eq!(frames(64, b"2026-11-24 x\n"), vec![l("2026-11-24 x")]);
        assert_eq!(
            frames(64, b"0 <14>x\n"),
            vec![l("0 <14>x")],
            "a count cannot start with 0"
        );
        assert_eq!(
            frames(64, b"1234567890 <x\n"),
            vec![l("1234567890 <x")],
            "at most 9 digits"
        );
        assert_eq!(frames(64, b"12\n"), vec![l("12")]);
        assert_eq!(
            frames(64, b"12 "),
            vec![l("12")],
            "unfinished header at EOF is a line"
        );
        assert_eq!(frames(64, b"7\n"), vec![l("7")]);
    }

    #[test]
    fn over_long_plain_frames_are_truncated_and_the_rest_discarded() {
        assert_eq!(
            frames(4, b"abcd\n"),
            vec![l("abcd")],
            "exactly the limit is whole"
        );
        assert_eq!(frames(4, b"abcde\nok\n"), vec![t("abcd"), l("ok")]);
        assert_eq!(frames(4, b"abcdefghij\nok\n"), vec![t("abcd"), l("ok")]);
        assert_eq!(
            frames(4, b"abcdefghij"),
            vec![t("abcd")],
            "no LF ever: still bounded"
        );
        assert_eq!(frames(4, b"abcdefgh\0\nok"), vec![t("abcd"), l("ok")]);
        assert_eq!(
            frames(4, b" ab  xyz\n"),
            vec![t("ab")],
            "strip applies to the kept part"
        );
    }

    #[test]
    fn over_long_counted_frames_are_truncated_and_the_rest_discarded() {
        assert_eq!(frames(4, b"4 <1>x"), vec![l("<1>x")]);
        assert_eq!(frames(4, b"7 <1>xyzw5 <1>ab"), vec![t("<1>x"), t("<1>a")]);
        assert_eq!(frames(4, b"7 <1>xyzwok\n"), vec![t("<1>x"), l("ok")]);
        assert_eq!(
            frames(8, b"9 <14>ab"),
            vec![t("<14>ab")],
            "EOF inside a counted frame"
        );
        assert_eq!(frames(8, b"999999999 <14>abcdefgh"), vec![t("<14>abcd")]);
    }

    #[test]
    fn invalid_utf8_passes_through_untouched() {
        assert_eq!(
            frames(64, b"\xff\xfe\n"),
            vec![Out::L(b"\xff\xfe".to_vec())]
        );
    }

    #[test]
    fn a_quiet_framer_gives_back_what_its_partial_frame_does_not_need() {
        let mut f = Framer::new(65536);
        let mut n = 0;
        // A long line split across reads grows the buffer; once it ends, a
        // quiet connection keeps nothing of it.
        for _ in 0..15 {
            f.push(&[b'x'; 4000], |_| n += 1);
        }
        f.push(b"x\nshort", |_| n += 1);
        assert_eq!(n, 1);
        assert!(f.buf.capacity() > 60_000);
        f.release_spare();
        assert_eq!(f.buf, b"short");
        assert!(f.buf.capacity() <= KEEP_BUF, "{}", f.buf.capacity());
        // A long partial frame is kept, without the spare room after it.
        for _ in 0..12 {
            f.push(&[b'y'; 4000], |_| n += 1);
        }
        let held = f.buffered();
        assert!(f.buf.capacity() - held > KEEP_BUF);
        f.release_spare();
        assert_eq!(f.buffered(), held);
        assert_eq!(f.buf.capacity(), held);
        f.push(b"\n", |_| n += 1);
        assert_eq!(n, 2);
        f.release_spare();
        assert_eq!(f.buf.capacity(), 0);
        // Small buffers stay: no reallocation on ordinary traffic.
        f.push(b"<13>a short line split", |_| {});
        let cap = f.buf.capacity();
        f.release_spare();
        assert_eq!(f.buf.capacity(), cap);
    }

    #[test]
    fn memory_stays_bounded_for_an_endless_line() {
        let mut f = Framer::new(16);
        let mut n = 0;
        for _ in 0..1000 {
            f.push(&[b'x'; 1000], |_| n += 1);
            assert!(f.buffered() <= 16 + MAX_HEADER);
        }
        assert_eq!(n, 1);
    }

    /// One message, one line: LF and NUL inside a counted frame are escaped by
    /// default, as are other control characters when asked, wherever the
    /// frame was cut; LF-ended lines are untouched by default.
    #[test]
    fn control_characters_in_a_frame_are_escaped_by_policy() {
        let counted = b"16 <14>a\nb\0c\rd\x1be\tf\x7f";
        assert_eq!(
            frames(64, counted),
            vec![l("<14>a#012b#000c\rd\x1be\tf\x7f")]
        );
        let all = ControlChars::EscapeAll;
        assert_eq!(
            run_chunks_with(64, &[counted], all),
            vec![l("<14>a#012b#000c#015d#033e#011f#177")]
        );
        for cut in 0..counted.len() {
            let (a, b) = counted.split_at(cut);
            assert_eq!(
                run_chunks_with(64, &[a, b], all),
                run_chunks_with(64, &[counted], all)
            );
        }
        // Escaping happens within the bound: an escape that would cross it
        // is left out whole, and the frame is reported truncated.
        assert_eq!(
            frames(16, b"11 <14>a\nb\0c d"),
            vec![Out::T(b"<14>a#012b#000c".to_vec())]
        );
        assert_eq!(
            frames(9, b"11 <14>a\nb\0c d"),
            vec![Out::T(b"<14>a#012".to_vec())]
        );
        assert_eq!(frames(11, b"5 <14>\0"), vec![l("<14>#000")]);
        // A frame of max_line NULs stays within max_line once escaped.
        let nuls = [&b"64 <"[..], &[0u8; 63]].concat();
        let out = frames(64, &nuls);
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0], Out::T(t) if t.len() <= 64 && t.starts_with(b"<#000")),
            "{out:?}"
        );
        // LF-ended lines: nothing to escape by default; CR and ESC only when asked.
        assert_eq!(frames(64, b"<14>x\ry\x1b\n"), vec![l("<14>x\ry\x1b")]);
        assert_eq!(
            run_chunks_with(64, &[b"<14>x\ry\x1bz\n", b"last\tline"], all),
            vec![l("<14>x#015y#033z"), l("last#011line")]
        );
    }

    /// Push each step; `None` is a spill. The frames, and each spill's held bytes.
    fn with_spills(max: usize, steps: &[Option<&[u8]>], end: bool) -> (Vec<Out>, Vec<usize>) {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        let mut held = Vec::new();
        let mut sink = |fr: Frame<'_>| {
            out.push(match fr {
                Frame::Line(l) => Out::L(l.to_vec()),
                Frame::Truncated(l) => Out::T(l.to_vec()),
            })
        };
        for step in steps {
            match step {
                Some(data) => f.push(data, &mut sink),
                None => held.push(f.spill(&mut sink)),
            }
        }
        if end {
            f.finish(&mut sink);
        }
        assert_eq!(f.held_bytes(), 0);
        (out, held)
    }

    #[test]
    fn a_split_line_loses_no_byte_and_keeps_its_whitespace_inside() {
        let (out, held) = with_spills(64, &[Some(b"  <14>a "), None, Some(b" b  \nnext\n")], false);
        assert_eq!(out, vec![l("<14>a "), l(" b"), l("next")]);
        assert_eq!(held, vec![8]);
        // Split twice, ended by the stream's end.
        let (out, _) = with_spills(
            64,
            &[Some(b"ab"), None, Some(b"cd"), None, Some(b"ef")],
            true,
        );
        assert_eq!(out, vec![l("ab"), l("cd"), l("ef")]);
        // Nothing after the split: no empty line for the end of it.
        let (out, _) = with_spills(64, &[Some(b"abc"), None, Some(b"  \n")], true);
        assert_eq!(out, vec![l("abc")]);
        // Nothing to split between frames, or in an octet count's first bytes.
        let (out, held) = with_spills(64, &[None, Some(b"12"), None, Some(b"x\n")], false);
        assert_eq!(held, vec![0, 0]);
        assert_eq!(out, vec![l("12x")]);
    }

    #[test]
    fn the_pieces_of_a_split_line_count_against_max_line_together() {
        let (out, _) = with_spills(10, &[Some(b"abcdefgh"), None, Some(b"ijklm\nok\n")], false);
        assert_eq!(out, vec![l("abcdefgh"), Out::T(b"ij".to_vec()), l("ok")]);
        let (out, _) = with_spills(
            10,
            &[Some(b"abcdefgh"), None, Some(b"ijklm"), Some(b"more\nok\n")],
            false,
        );
        assert_eq!(out, vec![l("abcdefgh"), Out::T(b"ij".to_vec()), l("ok")]);
    }

    #[test]
    fn a_split_octet_counted_frame_keeps_its_count() {
        let (out, held) = with_spills(
            64,
            &[Some(b"11 <13>abc"), None, Some(b"defg9 <13>x\ny z")],
            false,
        );
        assert_eq!(held, vec![7]);
        assert_eq!(out, vec![l("<13>abc"), l("defg"), l("<13>x#012y z")]);
    }
}

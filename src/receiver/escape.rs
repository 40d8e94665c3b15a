//! One message, one line: control characters inside a message are written as
//! `#` and three octal digits, as rsyslog does (`#012` for LF, `#000` for NUL).
//! Pure and I/O-free.
//!
//! An octet-counted frame (and a datagram) may hold LF and NUL; written as
//! they are, one peer's message would become several lines of the output file,
//! any of which could pass for a line from another address, and a forwarding
//! `SysLogHandler` would turn an embedded NUL into a message boundary
//! downstream. A frame ended by LF or NUL cannot contain either, so such
//! frames are untouched by default and print exactly as pysyslog printed them.
//!
//! Owns: which bytes each policy escapes and how. Does not own: which frames
//! can hold them (the framer knows), where the setting comes from (the CLI).

use memchr::memchr2;

/// What is done with control characters inside a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlChars {
    /// LF and NUL are escaped (the default): every message stays one line.
    #[default]
    EscapeLineBreaks,
    /// Every C0 control character (TAB and CR included) and DEL is escaped
    /// (`--escape-control-characters`): nothing a terminal acts on reaches a
    /// file an operator follows with `tail`.
    EscapeAll,
    /// Bytes are kept as received (`--keep-control-characters`).
    Keep,
}

impl ControlChars {
    /// Whether a frame that ended at LF or NUL can still need escaping.
    pub fn scans_terminated_frames(self) -> bool {
        self == ControlChars::EscapeAll
    }

    fn escapes(self, b: u8) -> bool {
        match self {
            ControlChars::EscapeLineBreaks => b == b'\n' || b == 0,
            ControlChars::EscapeAll => b < 0x20 || b == 0x7f,
            ControlChars::Keep => false,
        }
    }

    /// `frame` with the bytes this policy escapes written as `#ooo`: `frame`
    /// itself when it holds none (no copy), else the escaped copy in `out`.
    /// The copy is at most four times as long as `frame`.
    pub fn apply<'a>(self, frame: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        self.apply_within(frame, usize::MAX, out).0
    }

    /// [`apply`](Self::apply), the result held to `limit` bytes: an escape
    /// that would cross the limit is left out whole, with the rest of the
    /// frame, and the second value says so. A line must stay within the
    /// frame-length bound after escaping too: the link relies on it to keep
    /// every batch small enough to cross to the writer without blocking.
    pub fn apply_within<'a>(
        self,
        frame: &'a [u8],
        limit: usize,
        out: &'a mut Vec<u8>,
    ) -> (&'a [u8], bool) {
        let first = match self {
            ControlChars::Keep => None,
            ControlChars::EscapeLineBreaks => memchr2(b'\n', 0, frame),
            ControlChars::EscapeAll => frame.iter().position(|&b| self.escapes(b)),
        };
        let Some(first) = first else {
            return (&frame[..frame.len().min(limit)], frame.len() > limit);
        };
        out.clear();
        out.extend_from_slice(&frame[..first.min(limit)]);
        if first >= limit {
            return (out, true);
        }
        for &b in &frame[first..] {
            let escape;
            let piece: &[u8] = if self.escapes(b) {
                escape = [b'#', b'0' + (b >> 6), b'0' + ((b >> 3) & 7), b'0' + (b & 7)];
                &escape
            } else {
                std::slice::from_ref(&b)
            };
            if out.len() + piece.len() > limit {
                return (out, true);
            }
            out.extend_from_slice(piece);
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(policy: ControlChars, frame: &[u8]) -> Vec<u8> {
        policy.apply(frame, &mut Vec::new()).to_vec()
    }

    #[test]
    fn the_default_escapes_lf_and_nul_as_rsyslog_does() {
        let frame = b"<13>one\ntwo\0three\r\x1b[31m\tend";
        assert_eq!(
            apply(ControlChars::EscapeLineBreaks, frame),
            b"<13>one#012two#000three\r\x1b[31m\tend"
        );
        assert_eq!(
            apply(ControlChars::EscapeAll, frame),
            b"<13>one#012two#000three#015#033[31m#011end"
        );
        assert_eq!(apply(ControlChars::Keep, frame), frame);
        assert_eq!(apply(ControlChars::EscapeAll, b"del\x7f"), b"del#177");
    }

    #[test]
    fn a_clean_frame_is_returned_as_it_is() {
        let frame = b"<14>nothing to see";
        let mut out = Vec::new();
        let got = ControlChars::EscapeAll.apply(frame, &mut out);
        assert!(std::ptr::eq(got, &frame[..]));
        assert!(out.is_empty());
    }

    #[test]
    fn an_escaped_frame_is_held_to_the_limit_without_splitting_an_escape() {
        let mut out = Vec::new();
        let policy = ControlChars::EscapeLineBreaks;
        let mut within = |frame: &[u8], limit| {
            let (got, cut) = policy.apply_within(frame, limit, &mut out);
            (got.to_vec(), cut)
        };
        assert_eq!(within(b"ab\0cd", 6), (b"ab#000".to_vec(), true));
        assert_eq!(within(b"ab\0cd", 5), (b"ab".to_vec(), true));
        assert_eq!(within(b"ab\0cd", 8), (b"ab#000cd".to_vec(), false));
        assert_eq!(within(b"abcd", 3), (b"abc".to_vec(), true));
        assert_eq!(within(b"abcd\n", 3), (b"abc".to_vec(), true));
        assert_eq!(within(b"abc\n", 3), (b"abc".to_vec(), true));
    }

    proptest! {
        /// Each escaped byte becomes `#` and its three octal digits (as std
        /// formats them), every other byte stays in order, and the result
        /// holds no LF or NUL.
        #[test]
        fn escaped_frames_are_one_line(frame in proptest::collection::vec(any::<u8>(), 0..300)) {
            for policy in [ControlChars::EscapeLineBreaks, ControlChars::EscapeAll] {
                let out = apply(policy, &frame);
                let expected: Vec<u8> = frame
                    .iter()
                    .flat_map(|&b| if policy.escapes(b) { format!("#{b:03o}").into_bytes() } else { vec![b] })
                    .collect();
                prop_assert_eq!(&out, &expected);
                prop_assert!(!out.contains(&b'\n') && !out.contains(&0));
                prop_assert!(out.len() <= frame.len() * 4);
            }
        }
    }
}

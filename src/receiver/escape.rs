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
        let first = match self {
            ControlChars::Keep => None,
            ControlChars::EscapeLineBreaks => memchr2(b'\n', 0, frame),
            ControlChars::EscapeAll => frame.iter().position(|&b| self.escapes(b)),
        };
        let Some(first) = first else {
            return frame;
        };
        out.clear();
        out.extend_from_slice(&frame[..first]);
        for &b in &frame[first..] {
            if self.escapes(b) {
                out.extend_from_slice(&[
                    b'#',
                    b'0' + (b >> 6),
                    b'0' + ((b >> 3) & 7),
                    b'0' + (b & 7),
                ]);
            } else {
                out.push(b);
            }
        }
        out
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

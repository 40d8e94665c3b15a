//! Partial last lines left by a writer that was killed mid-`write`: finding
//! where the last complete line ends, and cutting there (see
//! [`crate::control::Start::AfterCrash`] for why cut).
//!
//! Owns: the backward scan and the cut. Does not own: when to cut (the file
//! handlers at their first open, the streams at a replacement's start).

use std::fs::File;
use std::io;

/// Cut `file` (`len` bytes long) after its last `end` byte, the end of its
/// last complete line; returns how many bytes were cut. A file without any
/// `end` is one partial line and is emptied.
pub(super) fn cut_torn_tail(file: &File, len: u64, end: u8) -> io::Result<u64> {
    let keep = complete_lines_len(file, len, end)?;
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(len - keep)
}

/// The length of `file`'s complete lines: up to and with its last `end`
/// byte, read backwards from `len`.
pub(super) fn complete_lines_len(file: &File, len: u64, end: u8) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = len;
    let keep = loop {
        if at == 0 {
            break 0;
        }
        let n = usize::try_from(at).map_or(buf.len(), |at| at.min(buf.len()));
        let start = at - n as u64;
        let chunk = &mut buf[..n];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = memchr::memrchr(end, chunk) {
            break start + i as u64 + 1;
        }
        at = start;
    };
    Ok(keep)
}

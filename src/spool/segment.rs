//! A backlog's segment files, and finding them again when it is opened:
//! the last one checked whole, a record a crash cut short cut off (and
//! reported).
//!
//! Owns: what a segment is, finding and checking them, the errors of the
//! backlog's files.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::frame::{self, Parsed, HEADER};

/// Why a backlog cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: in use by another writer")]
    Busy(PathBuf),
    #[error("{0}: not a directory (a symbolic link?)")]
    NotADirectory(PathBuf),
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One segment file.
#[derive(Debug)]
pub(super) struct Segment {
    /// The sequence number its name gives: no record in it is below.
    pub(super) first: u64,
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
    /// When its first record was written (0: unknown).
    pub(super) first_ms: u64,
}

/// The segments in `dir`, oldest first, with when each one's first record
/// was written.
pub(super) fn find(dir: &Path) -> Result<Vec<Segment>, SpoolError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(first) = name
            .strip_suffix(".seg")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            continue;
        };
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(io_at(&path))?;
        if !meta.is_file() {
            continue;
        }
        let mut b = [0u8; HEADER];
        let first_ms = File::open(&path)
            .and_then(|f| f.read_at(&mut b, 0))
            .ok()
            .filter(|&n| n == HEADER)
            .map_or(0, |_| {
                u64::from_le_bytes(b[16..24].try_into().unwrap_or([0; 8]))
            });
        found.push(Segment {
            first,
            path,
            bytes: meta.len(),
            first_ms,
        });
    }
    found.sort_by_key(|s| s.first);
    Ok(found)
}

/// Check the last segment whole: the sequence number of its last good
/// record; a torn end is cut off, damage reported (it is skipped when
/// read).
pub(super) fn check_tail(
    seg: &mut Segment,
    notes: &mut Vec<String>,
) -> Result<Option<u64>, SpoolError> {
    let bytes = fs::read(&seg.path).map_err(io_at(&seg.path))?;
    let mut at = 0;
    let mut last = None;
    while at < bytes.len() {
        match frame::parse(&bytes[at..]) {
            Parsed::Record { seq, len, .. } => {
                last = Some(seq);
                at += len;
            }
            Parsed::Damaged => {
                // Sequence numbers this segment can hold: at most one record
                // per header's worth of bytes after the last good one.
                let from = last.map_or(seg.first, |s| s.saturating_add(1));
                let upto = from.saturating_add((bytes.len() / HEADER) as u64);
                match frame::resync(&bytes[at..], from..upto) {
                    Some(skip) => at += skip,
                    None => break,
                }
            }
            Parsed::Incomplete => break,
        }
    }
    if at < bytes.len() {
        // A record cut by a crash (or damage with nothing whole after
        // it): nothing past `at` was acknowledged whole.
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&seg.path)
            .map_err(io_at(&seg.path))?;
        f.set_len(at as u64).map_err(io_at(&seg.path))?;
        notes.push(format!(
            "backlog {}: cut {} bytes of a record cut short at offset {at} (a crash while it was written)",
            seg.path.display(),
            bytes.len() - at
        ));
        seg.bytes = at as u64;
    }
    Ok(last)
}

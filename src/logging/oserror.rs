//! Python's `OSError.__str__` for an error about a path, shared by the config
//! reader (the file itself) and the file handlers (what they open and rotate).
//!
//! Owns: that one text, and the error that carries it. A module of its own so
//! that neither side imports the other for it.

use std::io;
use std::path::{Path, PathBuf};

use super::pyfmt::pyvalue::repr_of;

/// Python's `OSError.__str__`: `[Errno 2] No such file or directory: '/nope/x.log'`.
pub fn os_error_text(e: &io::Error, path: &Path) -> String {
    let text = e.to_string();
    let desc = text.split(" (os error").next().unwrap_or(&text);
    match e.raw_os_error() {
        Some(n) => format!("[Errno {n}] {desc}: {}", repr_of(&path.to_string_lossy())),
        None => format!("{desc}: {}", repr_of(&path.to_string_lossy())),
    }
}

/// An OS error about a path; displayed as [`os_error_text`] words it.
#[derive(Debug, thiserror::Error)]
#[error("{}", os_error_text(.error, .path))]
pub(crate) struct PathError {
    #[source]
    pub(crate) error: io::Error,
    pub(crate) path: PathBuf,
}

impl PathError {
    pub(crate) fn new(error: io::Error, path: &Path) -> PathError {
        PathError {
            error,
            path: path.to_owned(),
        }
    }
}

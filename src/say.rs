//! The collector's fallback lines on stderr, each in one `write`.
//!
//! Why: stderr is unbuffered, and `eprintln!` writes a formatted line in
//! as many pieces as it has parts, so another process's line (the
//! receiver's, a writer's, under systemd all in one journal stream) can land
//! in the middle of it. Owns: that one write. Does not own: what is said.

use std::io::Write;

/// Write `text` and a newline to stderr in one `write`.
pub fn line(text: &str) {
    let mut buf = String::with_capacity(text.len() + 1);
    buf.push_str(text);
    buf.push('\n');
    let _ = std::io::stderr().write_all(buf.as_bytes());
}

/// `eprintln!` in one write: format, then [`line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say::line(&format!($($arg)*))
    };
}

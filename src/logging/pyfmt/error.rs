//! The one error of Python-compatible text formatting: which Python exception
//! a conversion raises, with Python's message.
//!
//! Owns: the exception names and the message split. Does not own: where the
//! text came from (a formatter, a config value), so it depends on nothing.

/// Per-record failures (unknown attribute -> Python's KeyError/"Formatting field not found
/// in record: 'x'", type mismatch like %(process)d with None, incomplete format, ...).
/// The text after the Python exception name is Python's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// A field that is neither a record attribute nor in `defaults`: the key's repr.
    #[error("ValueError: Formatting field not found in record: {0}")]
    KeyError(String),
    #[error("ValueError: {0}")]
    Value(String),
    #[error("TypeError: {0}")]
    Type(String),
    #[error("IndexError: {0}")]
    Index(String),
    #[error("OverflowError: {0}")]
    Overflow(String),
    #[error("OSError: {0}")]
    Os(String),
    /// Something Python would print but pysyslog deliberately does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl FormatError {
    /// The message without the exception name.
    pub fn message(&self) -> String {
        match self {
            FormatError::KeyError(k) => k.clone(),
            FormatError::Value(m)
            | FormatError::Type(m)
            | FormatError::Index(m)
            | FormatError::Overflow(m)
            | FormatError::Os(m)
            | FormatError::Unsupported(m) => m.clone(),
        }
    }
}

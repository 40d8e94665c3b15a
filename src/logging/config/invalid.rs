//! The one error inside the dictConfig parser: a section or value that
//! `DictConfigurator` would reject, worded as Python's exception message.
//!
//! Owns: that message. The parser's entry points wrap it in a
//! [`ConfigError`](crate::logging::ConfigError) with the file and the JSON
//! path; nothing else sees it.

/// A value or section dictConfig rejects; Python's message, exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub(crate) String);

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Invalid {
        Invalid(message.to_owned())
    }
}

impl From<Invalid> for String {
    fn from(e: Invalid) -> String {
        e.0
    }
}

/// Tests compare the message with Python's text directly.
#[cfg(test)]
impl PartialEq<&str> for Invalid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

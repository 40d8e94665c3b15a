//! Syslog message headers: RFC 5424 and RFC 3164 (with the variants real
//! senders use) parsed into borrowed fields, and the facility and severity
//! names.
//!
//! Owns: telling the two formats apart, splitting a line into PRI, timestamp,
//! hostname, app name, process id, message id, structured data and message
//! ([`parse`]), splitting structured data into its elements ([`sd`]), and the
//! name tables and the severity-to-level mapping ([`names`]). Does not own:
//! framing (the receiver strips the trailing LF or NUL before a line gets
//! here), what the collector does with a line that has no valid PRI, a
//! hostname fallback to the peer's address, or turning timestamps into times:
//! every field is the text as sent, a subslice of the line.
//!
//! Pure, allocation-free on the per-line path, and dependent on `std` only.

pub mod names;
pub mod parse;
pub mod sd;

pub use parse::{parse, Format, Header};

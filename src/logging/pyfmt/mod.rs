//! Python's text formatting as CPython 3.11 does it: `%`-formatting, `str.format`
//! and `string.Template`, the format-spec mini-language, `repr`/`str` of the
//! values a record holds, `str.isprintable`/`\d`/`\w` tables, the format
//! validation of `logging`'s styles, and `time.strftime`.
//!
//! Owns: turning values and a format string into Python's exact text, and
//! Python's exception for each failure ([`FormatError`](error::FormatError)).
//! Does not own: log records, levels or configuration; nothing here imports
//! the rest of `logging`, so it can be tested against CPython on its own.

pub(crate) mod brace;
pub(crate) mod error;
pub(crate) mod formatspec;
pub(crate) mod percent;
pub(crate) mod pyunicode;
pub(crate) mod pyvalue;
pub(crate) mod template;
pub(crate) mod timefmt;
pub(crate) mod validate;

//! CPython's `logging` and `logging.config.dictConfig`, reimplemented so that
//! existing pysyslog configuration files print the same bytes.
//!
//! Owns: levels, records, formatters, filters, the logger hierarchy, handlers and
//! the dictConfig schema. Does not own: sockets, processes, the batch wire format.
//! Everything here is usable in one process, so it is unit-tested and compared
//! with CPython directly.

pub mod config;
pub mod convert;
pub mod engine;
pub mod filter;
pub mod formatter;
pub mod handler;
pub mod level;
pub mod manager;
pub(crate) mod pyfmt;
pub mod record;
pub mod run;

pub use engine::{Config, ConfigError, Engine};
pub use formatter::{Formatter, FormatterError, Style};
pub use pyfmt::error::FormatError;
/// The daemon loads the zone data before dropping privileges.
pub(crate) use pyfmt::timefmt;
pub use record::LogRecord;

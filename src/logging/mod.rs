//! CPython's `logging` and `logging.config.dictConfig`, reimplemented so that
//! existing pysyslog configuration files print the same bytes.
//!
//! Owns: levels, records, formatters, filters, the logger hierarchy, handlers and
//! the dictConfig schema. Does not own: sockets, processes, the batch wire format.
//! Everything here is usable in one process, so it is unit-tested and compared
//! with CPython directly.

pub(crate) mod attrs;
pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod field_template;
pub(crate) mod filter;
pub(crate) mod formatter;
pub(crate) mod handler;
pub(crate) mod json_formatter;
pub(crate) mod level;
pub(crate) mod manager;
pub(crate) mod oserror;
pub(crate) mod path_template;
pub(crate) mod pyfmt;
pub(crate) mod record;
pub(crate) mod run;
pub(crate) mod spec;
pub(crate) mod syslog_filter;

// The public face: build a configuration, an engine from it, feed it records;
// or format one record with one formatter.
pub use attrs::{Attr, Origin, SyslogAttrs};
pub use engine::{Capture, Engine};
pub use formatter::{Formatter, FormatterError, Style};
pub use handler::stream::cut_torn_streams;
pub use handler::Stats;
pub use pyfmt::error::FormatError;
pub use record::LogRecord;
pub use spec::{Config, ConfigError};

// For the rest of the crate: the daemon and the writer name levels, read the
// clock as records do, word OS errors as Python does, and load the zone data
// before dropping privileges.
pub(crate) use oserror::os_error_text;
pub(crate) use pyfmt::timefmt;

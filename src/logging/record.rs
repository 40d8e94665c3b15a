//! The record the writer hands to the engine: what pysyslog's writer gets from
//! `logging.getLogger(peer).info(line)`, and with `--parse-syslog` its
//! syslog attributes (`extra=`).

use super::attrs::SyslogAttrs;

/// `record.__dict__` keys in insertion order (3.11 `LogRecord.__init__`, then
/// `message` and `asctime` from `Formatter.format`).
pub(crate) const RECORD_KEYS: [&str; 22] = [
    "name",
    "msg",
    "args",
    "levelname",
    "levelno",
    "pathname",
    "filename",
    "module",
    "exc_info",
    "exc_text",
    "stack_info",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "processName",
    "process",
    "message",
    "asctime",
];

/// One log record. Every other `LogRecord` attribute is derived from these
/// fields or is a constant in pysyslog's writer (`lineno` 0, `process` None, ...).
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// Logger name: the peer's IP address as text, or `pysyslog.*` for our own messages.
    pub name: &'a str,
    /// The stripped line, never %-interpolated (pysyslog passes no args).
    pub msg: &'a str,
    pub levelno: i32,
    /// Seconds since the Unix epoch when the writer took the record (`time.time()`).
    pub created: f64,
    /// Milliseconds since the engine was created (`relativeCreated`).
    pub relative_created: f64,
    /// The syslog attributes (`--parse-syslog` only; `None` keeps exactly
    /// the attributes pysyslog's records had).
    pub attrs: Option<&'a SyslogAttrs<'a>>,
}

/// Python's `time.time()`: seconds since the Unix epoch (0.0 if the clock is
/// before it).
pub fn time_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

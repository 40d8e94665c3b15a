//! The validated configuration: what a dictConfig document says, once checked.
//! The parser (`config`) produces it; the engine and the handlers consume it.
//!
//! Owns: the data types of formatters' and handlers' settings, loggers, and the
//! configuration error. Does not own: reading JSON (`config`) or acting on it
//! (`engine`, `handler`), so both sides import this and not each other.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::filter::Filter;
use super::formatter::Formatter;

/// A validated dictConfig document, parsed before privileges are dropped and
/// before the writer is forked; building it into an `Engine` opens files.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the config came from (for error messages).
    pub source: PathBuf,
    /// `incremental: true`: only logger levels and `propagate` are applied.
    pub incremental: bool,
    /// Formatters by name.
    pub formatters: BTreeMap<String, Formatter>,
    /// Filters by name.
    pub filters: BTreeMap<String, Filter>,
    /// Handlers in the order Python constructs them (sorted, deferred last).
    pub handlers: Vec<HandlerSpec>,
    /// Named loggers (document order); the root logger is `root`.
    pub loggers: Vec<LoggerSpec>,
    /// The `root` section, applied after `loggers`.
    pub root: Option<Box<LoggerSpec>>,
    /// What was accepted but has no effect, one line each with the file and
    /// section (the collector logs them as WARNINGs under `pysyslog.config`).
    pub warnings: Vec<String>,
}

impl Config {
    /// What in the configuration reads syslog attributes
    /// (`formatters.x`, `filters.y`): without `--parse-syslog` such a
    /// format fails on every record and such a filter passes nothing.
    pub fn syslog_attribute_users(&self) -> Vec<String> {
        let formats = self
            .formatters
            .iter()
            .filter(|(_, f)| f.uses_syslog_attributes())
            .map(|(n, _)| format!("formatters.{n}"));
        let filters = self
            .filters
            .iter()
            .filter(|(_, f)| f.reads_record())
            .map(|(n, _)| format!("filters.{n}"));
        let templates = self
            .handlers
            .iter()
            .filter(|h| matches!(&h.class, HandlerClass::Dynamic(d) if d.template.uses_syslog_attributes()))
            .map(|h| format!("handlers.{}", h.name));
        formats.chain(filters).chain(templates).collect()
    }

    /// Whether a handler produces to Kafka (its batches wait for the
    /// broker's acknowledgements).
    pub fn has_kafka(&self) -> bool {
        self.handlers
            .iter()
            .any(|h| matches!(h.class, HandlerClass::Kafka { .. }))
    }
}

/// One logger's configuration (`loggers.<name>` or `root`).
#[derive(Debug, Clone, Default)]
pub struct LoggerSpec {
    /// Logger name; `""` for the root logger.
    pub name: String,
    /// `level`, if given.
    pub level: Option<i32>,
    /// Handler names, without duplicates (`addHandler` ignores repeats).
    pub handlers: Vec<String>,
    /// Filter names.
    pub filters: Vec<String>,
    /// `propagate`, if given.
    pub propagate: Option<bool>,
}

/// A configuration that cannot be loaded or built: which file, where, and why.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// JSON path of the offending section, e.g. `handlers.file1`; empty for the document.
    pub path: String,
    /// Python's wording with its cause chain joined by `": "`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl ConfigError {
    pub(crate) fn new(
        file: &Path,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// One configured handler.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// The handler's name in `handlers`.
    pub name: String,
    /// `level` (default NOTSET).
    pub level: i32,
    /// Formatter name, if any (else Python's default `%(message)s`).
    pub formatter: Option<String>,
    /// Filter names.
    pub filters: Vec<String>,
    /// What it is and its arguments.
    pub class: HandlerClass,
}

/// Where a StreamHandler writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTarget {
    /// `ext://sys.stdout`
    Stdout,
    /// `ext://sys.stderr` (the default)
    Stderr,
}

/// Text encodings supported for files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// utf-8 (also the default, as under Python's UTF-8 locale).
    Utf8,
    /// ascii
    Ascii,
    /// latin-1
    Latin1,
}

/// Python's `errors=` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsPolicy {
    /// The record fails (dropped for this handler).
    Strict,
    /// `?`
    Replace,
    /// Left out.
    Ignore,
    /// `\xe9`, `\u20ac`, `\U0001f600`
    BackslashReplace,
    /// `&#233;`
    XmlCharRefReplace,
}

/// Arguments shared by the file handlers.
#[derive(Debug, Clone)]
pub struct FileArgs {
    /// Absolute path (`os.path.abspath` at config time).
    pub path: PathBuf,
    /// `'w'` truncates when first opened.
    pub truncate: bool,
    /// Text encoding.
    pub encoding: Encoding,
    /// What to do with characters the encoding lacks.
    pub errors: ErrorsPolicy,
    /// Open at the first record instead of at build time.
    pub delay: bool,
    /// `terminator` (via `.`), `"\n"` by default.
    pub terminator: String,
    /// `on_failure` (via `.`): what a failing write does to the others.
    pub on_failure: OnFailure,
    /// `fsync` (via `.`): `fdatasync` before the batch is acknowledged.
    pub fsync: bool,
}

/// What a file or syslog handler does while its writes fail (`"."`: `on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Keep everything and hold every batch back until the write succeeds:
    /// the receiver's queue fills and reading pauses (backpressure).
    #[default]
    Hold,
    /// Keep a bounded amount, drop (and count) beyond it, and never hold the
    /// other handlers back.
    Drop,
}

/// TimedRotatingFileHandler's `when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// S, M, H, D: a fixed interval.
    Fixed,
    /// MIDNIGHT
    Midnight,
    /// W0..W6 (0 = Monday)
    Weekday(u32),
}

/// A SysLogHandler destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddress {
    /// `[host, port]`
    Inet(String, u16),
    /// A unix socket path.
    Unix(PathBuf),
}

/// The supported classes and their constructor arguments.
#[derive(Debug, Clone)]
pub enum HandlerClass {
    /// `logging.StreamHandler`
    Stream {
        target: StreamTarget,
        terminator: String,
    },
    /// `logging.FileHandler`
    File(FileArgs),
    /// `logging.handlers.WatchedFileHandler`
    Watched(FileArgs),
    /// `logging.handlers.RotatingFileHandler`
    Rotating {
        file: FileArgs,
        max_bytes: i64,
        backup_count: i64,
    },
    /// `logging.handlers.TimedRotatingFileHandler`
    Timed {
        file: FileArgs,
        when: When,
        interval: i64,
        suffix: &'static str,
        backup_count: i64,
        utc: bool,
    },
    /// `logging.handlers.SysLogHandler`
    Syslog {
        address: SyslogAddress,
        facility: u32,
        stream: Option<bool>,
        ident: String,
        append_nul: bool,
        /// `on_failure` (via `.`): what a peer that is away does to the others.
        on_failure: OnFailure,
    },
    /// `logging.handlers.MemoryHandler`
    Memory {
        capacity: i64,
        flush_level: i32,
        target: Option<String>,
        /// Checked, but it changes nothing: pysyslog's writer forwards every
        /// buffer at close, as `logging.shutdown()` does (its `flush()` runs
        /// before `close()`, whatever `flushOnClose` says).
        flush_on_close: bool,
    },
    /// `pysyslog.handlers.KafkaHandler`: records produced to a Kafka
    /// topic; a batch is acknowledged once Kafka has acknowledged its records.
    Kafka {
        kafka: crate::kafka::KafkaArgs,
        encoding: Encoding,
        errors: ErrorsPolicy,
    },
    /// `pysyslog.handlers.DynamicFileHandler`: a file per record's
    /// rendered `filename` template, each watched as a WatchedFileHandler's.
    Dynamic(Box<DynamicArgs>),
    /// `logging.NullHandler`
    Null,
}

/// DynamicFileHandler's arguments.
#[derive(Debug, Clone)]
pub struct DynamicArgs {
    /// Where each record goes.
    pub template: super::path_template::PathTemplate,
    /// Every file's settings (its `path` is the template's base directory,
    /// replaced by each rendered path).
    pub file: FileArgs,
    /// Open files kept; the least recently used is closed first.
    pub max_open: usize,
    /// A file not written for this long is closed (reopened at its next record).
    pub idle_close: std::time::Duration,
    /// Mode of the directories it creates (before the umask).
    pub dir_mode: u32,
}

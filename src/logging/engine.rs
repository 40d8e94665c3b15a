//! The engine the writer drives: route records to handlers, write once per batch.
//!
//! PLACEHOLDER: only Python's `basicConfig(stream=sys.stdout, level=INFO)`, the
//! no-config behaviour of pysyslog. The dictConfig engine replaces this file and
//! keeps its public API.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::level::{level_name, INFO};
use super::record::LogRecord;

/// A validated dictConfig document, parsed before privileges are dropped and
/// before the writer is forked; building it into an [`Engine`] opens files.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
}

/// A configuration that cannot be loaded or built: which file, where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}

impl Config {
    /// Read and validate a dictConfig JSON file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Err(ConfigError { file: path.to_owned(), message: "dictConfig is not implemented yet".into() })
    }
}

/// A configured logging system: loggers, handlers, formatters.
pub struct Engine {
    out: Vec<u8>,
}

impl Engine {
    /// `logging.basicConfig(stream=sys.stdout, level=INFO)`: `LEVEL:name:message` on stdout.
    pub fn basic_config() -> Engine {
        Engine { out: Vec::with_capacity(64 * 1024) }
    }

    /// Build handlers from a config (opens files that are not `delay`ed).
    pub fn build(config: &Config) -> Result<Engine, ConfigError> {
        Err(ConfigError { file: config.source.clone(), message: "not implemented".into() })
    }

    /// Handle one record: route it and format it into the handlers' batch buffers.
    pub fn handle(&mut self, record: &LogRecord<'_>) {
        if record.levelno < INFO {
            return;
        }
        self.out.extend_from_slice(level_name(record.levelno).as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(record.name.as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(record.msg.as_bytes());
        self.out.push(b'\n');
    }

    /// End of a batch: every handler writes and flushes what the batch produced.
    /// Failures are the handlers' own business (reported, counted, retried).
    pub fn end_batch(&mut self) {
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(&self.out).and_then(|()| stdout.flush()).is_err() {
            // The placeholder has no error accounting.
        }
        self.out.clear();
    }

    /// Reopen every file handler (logrotate's `postrotate`).
    pub fn reopen(&mut self) {}

    /// Flush and close every handler (MemoryHandler's flushOnClose included).
    pub fn close(&mut self) {
        self.end_batch();
    }
}

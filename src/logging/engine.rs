//! The engine the writer drives: route records to handlers, write once per batch.
//!
//! PLACEHOLDER: only Python's `basicConfig(stream=sys.stdout, level=INFO)`, the
//! no-config behaviour of pysyslog. The dictConfig engine replaces this file and
//! keeps its public API.

use std::io::Write;

use super::level::{level_name, INFO};
use super::record::LogRecord;

/// A configured logging system: loggers, handlers, formatters.
pub struct Engine {
    out: Vec<u8>,
}

/// Errors from writing a batch's output.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("writing to stdout: {0}")]
    Io(#[from] std::io::Error),
}

impl Engine {
    /// `logging.basicConfig(stream=sys.stdout, level=INFO)`: `LEVEL:name:message` on stdout.
    pub fn basic_config() -> Engine {
        Engine { out: Vec::with_capacity(64 * 1024) }
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
    pub fn end_batch(&mut self) -> Result<(), EngineError> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&self.out)?;
        stdout.flush()?;
        self.out.clear();
        Ok(())
    }

    /// Reopen every file handler (logrotate's `postrotate`).
    pub fn reopen(&mut self) {}
}

//! Where framed lines go: the open batch, sealed into the writer link.
//!
//! Owns: when a batch is sealed (at its byte cap, and at the end of every loop
//! iteration, so a lone line reaches the writer at once under light load and
//! batches grow by themselves under heavy load). Does not own: the batch format
//! ([`crate::ipc`]) or the queues ([`super::link`]).

use crate::ipc::BatchBuilder;
use crate::logging::level;

use super::link::WriterLink;

/// A batch is sealed once it reaches this many bytes. 64 KiB keeps batches far
/// below ipc-channel's fragmentation threshold (~208 KiB) even with one maximal
/// line on top, where the per-message cost is near its minimum.
pub const BATCH_CAP_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct Sink {
    batch: BatchBuilder,
    pub link: WriterLink,
    /// The connection whose line was pushed last.
    last_connection: Option<u64>,
}

impl Sink {
    pub fn new(link: WriterLink) -> Sink {
        Sink {
            batch: BatchBuilder::new(),
            link,
            last_connection: None,
        }
    }

    /// A line from a peer, logged at INFO under the peer's name. `connection`
    /// identifies the connection for the life of the process: consecutive
    /// lines of one connection join the batch's open group without comparing
    /// peer names.
    pub fn line(&mut self, connection: u64, peer: &str, line: &[u8]) {
        // Seal first when the line would take the batch past its cap: buffers
        // then never reallocate (a lone line longer than the cap is the exception).
        if !self.batch.is_empty()
            && self.batch.len() + BatchBuilder::cost_of_line(peer, line) > BATCH_CAP_BYTES
        {
            self.link.submit(&mut self.batch);
        }
        if self.last_connection == Some(connection) && self.batch.push_to_group(line) {
            return;
        }
        self.batch.push_line(peer, line);
        self.last_connection = Some(connection);
    }

    /// One of the collector's own messages, under a `pysyslog.*` logger.
    pub fn record(&mut self, levelno: i32, logger: &str, text: &str) {
        self.batch.push_record(levelno, logger, text);
    }

    pub fn warning(&mut self, logger: &str, text: &str) {
        self.record(level::WARNING, logger, text);
    }

    /// Ask the writer to reopen its files after everything queued so far.
    pub fn reopen(&mut self) {
        self.batch.push_reopen();
    }

    /// Ask the writer to switch to a new logging configuration after
    /// everything queued so far (see [`crate::ipc::batch`]).
    pub fn reload(&mut self, source: &[u8], cwd: &[u8], json: &[u8]) {
        self.batch.push_reload(source, cwd, json);
    }

    /// End of a loop iteration: hand over whatever the batch holds.
    pub fn flush(&mut self) {
        self.link.submit(&mut self.batch);
    }

    /// Held lines or bytes reached their bound: stop reading sockets.
    pub fn is_full(&self) -> bool {
        self.link.is_full()
    }
}

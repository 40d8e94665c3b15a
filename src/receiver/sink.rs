//! Where framed lines go: the open batch, sealed into the writer link.
//!
//! Owns: when a batch is sealed (at its byte cap, and at the end of every loop
//! iteration, so a lone line reaches the writer at once under light load and
//! batches grow by themselves under heavy load). Does not own: the batch format
//! ([`crate::ipc`]) or the queues ([`super::link`]).

use crate::ipc::slots::SLOT_BYTES;
use crate::ipc::BatchBuilder;
use crate::logging::level;

use super::link::WriterLink;

/// A batch is sealed before it would pass this many bytes, so it fits a shared
/// slot ([`SLOT_BYTES`]); only a lone line longer than this makes a larger
/// batch, which goes whole on the channel (below ipc-channel's fragmentation
/// threshold, ~208 KiB, even with a maximal line).
pub const BATCH_CAP_BYTES: usize = 64 * 1024;
const _: () = assert!(BATCH_CAP_BYTES <= SLOT_BYTES);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{BatchReader, Item, Slots};
    use crate::receiver::link::tests::fake_writer;
    use crate::receiver::link::QueueLimits;

    #[test]
    fn lines_keep_their_peer_across_connections_records_and_seals() {
        let (writer, rx, _writer_end) = fake_writer(1);
        let limits = QueueLimits {
            max_lines: 1_000_000,
            max_bytes: 64 << 20,
        };
        // Whole batches, all inside the channel's window (no acks here).
        let link = WriterLink::new(writer, limits, Slots::none()).expect("link");
        let mut sink = Sink::new(link);
        let mut sent = Vec::new();
        for i in 0..150 {
            // Runs of one and two lines from two connections, a record now and
            // then, and about 150 KB in all: sealed at the cap twice.
            let (id, peer) = if i % 3 == 0 {
                (7, "10.0.0.7")
            } else {
                (9, "10.0.0.9")
            };
            let line = format!("{i:04} {}", "x".repeat(1000));
            sink.line(id, peer, line.as_bytes());
            sent.push((peer.as_bytes().to_vec(), line.into_bytes()));
            if i % 40 == 20 {
                sink.warning("pysyslog.test", "between lines");
            }
        }
        sink.flush();
        let (mut got, mut batches) = (Vec::new(), 0);
        while let Ok(bytes) = rx.try_recv() {
            batches += 1;
            let (_, items) = BatchReader::new(&bytes).expect("batch");
            for item in items {
                if let Ok(Item::Record { level, name, text }) = item {
                    if level == level::INFO {
                        got.push((name.to_vec(), text.to_vec()));
                    }
                }
            }
        }
        assert!(batches >= 3, "{batches} batches");
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "a line was logged under another peer's name");
    }
}

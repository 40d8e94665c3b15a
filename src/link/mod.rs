//! The link to the writer process: everything between the receiver's framer
//! and the writer.
//!
//! Owns: the open batch and when it is sealed, the queues and their bounds
//! (`queue`), the shared slots, acks, replay, asking the monitor for a new
//! writer ([`crate::control`]), the restart budget, and putting a
//! reload in the stream of batches. Does not own: what a writer is built
//! from (the monitor's configuration, [`crate::monitor::writers`]), the wire
//! formats ([`crate::ipc`]), the writer's loop ([`crate::writer`]) or
//! sockets and framing ([`crate::receiver`]).
//!
//! The receiver sees only [`WriterLink`]: push lines and records, flush at the
//! end of every loop turn, stop reading sockets while [`WriterLink::is_full`],
//! and call [`WriterLink::on_status_readable`] when the status stream it
//! registered is readable. A writer that died is replaced inside the link,
//! with what it had not acknowledged replayed to its successor.
//!
//! A batch is sealed at its byte cap and at the end of every loop iteration,
//! so a lone line reaches the writer at once under light load and batches grow
//! by themselves under heavy load.

mod queue;
mod stats;

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};

use crate::control::{ConfigText, Start};
use crate::control::{MonitorClient, WriterProcess};
use crate::ipc::counters::HandlerValues;
use crate::ipc::counters::SharedCounters;
use crate::ipc::slots::{Slots, SLOT_BYTES};
use crate::ipc::BatchBuilder;
use crate::logging::level;
use crate::metrics::counts::LinkCounts;
use queue::{Queue, WriterFailure};
use stats::LinkStats;

pub use crate::control::SpawnError;
pub use queue::QueueLimits;

/// A batch is sealed before it would pass this many bytes, so it fits a shared
/// slot ([`SLOT_BYTES`]); only a lone line longer than this makes a larger
/// batch, which goes whole on the channel (below ipc-channel's fragmentation
/// threshold even with a maximal line).
pub const BATCH_CAP_BYTES: usize = 64 * 1024;
const _: () = assert!(BATCH_CAP_BYTES <= SLOT_BYTES);

/// Writer restarts allowed within [`RESTART_WINDOW`] before giving up.
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// How long a writer that died is waited for before it is killed and reaped.
const DEAD_WRITER_PATIENCE: Duration = Duration::from_secs(2);

/// Logger for what the link reports (a writer replaced).
const LOGGER: &str = "pysyslog.writer";

/// A failure of the link that ends the receiver.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the writer process keeps dying ({restarts} restarts within {window}s; last: {last}); giving up so that a supervisor can intervene")]
    RestartBudget {
        restarts: usize,
        window: u64,
        last: String,
    },
    #[error("cannot restart the writer process: {0}")]
    Respawn(#[source] SpawnError),
    /// Attaching a new writer's status stream to the event loop failed.
    #[error("cannot set up the event loop: {0}")]
    Attach(#[source] io::Error),
}

/// The receiver's end of the link to the writer process.
#[derive(Debug)]
pub struct WriterLink {
    /// The open batch: lines and records not yet sealed.
    batch: BatchBuilder,
    /// The connection whose line was pushed last.
    last_connection: Option<u64>,
    /// Sealed batches until acknowledged, and the writer they go to.
    queue: Queue,
    /// When writers were started again lately, oldest first.
    restarts: VecDeque<Instant>,
    /// The status stream's token in the event loop, once registered.
    token: Option<Token>,
    /// Counters for the metrics.
    stats: LinkStats,
    /// Starts and reaps writers.
    monitor: MonitorClient,
}

impl WriterLink {
    /// Make the shared slots and have the monitor start the first writer.
    pub fn start(
        mut monitor: MonitorClient,
        limits: QueueLimits,
        slots: Slots,
        counters: SharedCounters,
    ) -> Result<WriterLink, SpawnError> {
        let writer = monitor.spawn(Start::First)?;
        let mut link =
            WriterLink::new(writer, limits, slots, monitor).map_err(SpawnError::Channel)?;
        link.stats = LinkStats::new(counters);
        Ok(link)
    }

    fn new(
        writer: WriterProcess,
        limits: QueueLimits,
        slots: Slots,
        monitor: MonitorClient,
    ) -> io::Result<WriterLink> {
        Ok(WriterLink {
            batch: BatchBuilder::new(),
            last_connection: None,
            queue: Queue::new(writer, limits, slots)?,
            restarts: VecDeque::new(),
            token: None,
            stats: LinkStats::new(SharedCounters::none()),
            monitor,
        })
    }

    /// Watch the status stream (acks, the writer's end) under `token`; a
    /// replacement writer's stream is registered under the same token.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(self.queue.status_stream(), token, Interest::READABLE)?;
        self.token = Some(token);
        Ok(())
    }

    /// A line from a peer, logged at INFO under the peer's name, with its
    /// encoded origin ([`crate::ipc::origin`]; empty unless the writer
    /// parses syslog). `connection` identifies the connection for the life
    /// of the process: consecutive lines of one connection join the batch's
    /// open group without comparing peer names.
    pub fn push_line(&mut self, connection: u64, peer: &str, origin: &[u8], line: &[u8]) {
        // Seal first when the line would take the batch past its cap: buffers
        // then never reallocate (a lone line longer than the cap is the exception).
        if !self.batch.is_empty()
            && self.batch.len() + BatchBuilder::cost_of_line(peer, origin, line) > BATCH_CAP_BYTES
        {
            self.queue.submit(&mut self.batch);
        }
        if self.last_connection == Some(connection) && self.batch.push_to_group(line) {
            return;
        }
        self.batch.push_line_from(peer, origin, line);
        self.last_connection = Some(connection);
    }

    /// [`WriterLink::push_line`], returning the sequence number of the batch
    /// the line went into, for a sender that waits for its acknowledgement
    /// (RELP); see [`WriterLink::acknowledged`]. Other lines pay nothing.
    pub fn push_line_tracked(
        &mut self,
        connection: u64,
        peer: &str,
        origin: &[u8],
        line: &[u8],
    ) -> u64 {
        self.push_line(connection, peer, origin, line);
        // The line is in the open batch, which is numbered when sealed.
        self.queue.next_seq()
    }

    /// Every batch numbered up to this has been written and flushed by every
    /// handler (the writer acknowledged it).
    pub fn acknowledged(&self) -> u64 {
        self.queue.acknowledged()
    }

    /// One of the collector's own messages, under a `pysyslog.*` logger.
    pub fn push_record(&mut self, levelno: i32, logger: &str, text: &str) {
        self.batch.push_record(levelno, logger, text);
    }

    pub fn warning(&mut self, logger: &str, text: &str) {
        self.push_record(level::WARNING, logger, text);
    }

    /// Ask the writer to reopen its files after everything queued so far.
    pub fn reopen(&mut self) {
        self.batch.push_reopen();
    }

    /// Switch to a new logging configuration after everything queued so far:
    /// the writer applies `json` (read from `source`, relative names against
    /// `cwd`; see [`crate::ipc::batch`]) within what its boot configurations
    /// grant it. A writer started later boots from the monitor's copy.
    pub fn reload(&mut self, config: ConfigText) {
        // A batch of its own from the reload on: a confined writer that cannot
        // apply it leaves the whole batch to its successor (see
        // [`crate::writer`]), and must not have written part of it.
        self.queue.submit(&mut self.batch);
        self.batch
            .push_reload(&config.source, &config.cwd, config.json.as_bytes());
    }

    /// End of a loop turn: hand over whatever the batch holds, and replace the
    /// writer if sending showed it dead.
    pub fn flush(&mut self, registry: &Registry) -> Result<(), LinkError> {
        self.queue.submit(&mut self.batch);
        let done = match self.queue.take_failure() {
            Some(cause) => self.replace_writer(registry, cause),
            None => Ok(()),
        };
        self.stats.note_full(self.queue.is_full());
        done
    }

    /// The status stream is readable: collect acks (sending what they make
    /// room for), or replace the writer if it is gone.
    pub fn on_status_readable(&mut self, registry: &Registry) -> Result<(), LinkError> {
        let done = match self.queue.read_acks() {
            Ok(()) => Ok(()),
            Err(cause) => self.replace_writer(registry, cause),
        };
        self.stats.note_full(self.queue.is_full());
        done
    }

    /// What the writer uses, with the CPU time of the writers before it
    /// (a counter across writers); the monitor reads it.
    pub fn writer_usage(&mut self) -> Option<crate::metrics::process::Usage> {
        let mut usage = self.monitor.usage(self.queue.pid())?;
        usage.cpu_seconds += self.stats.dead_writers_cpu;
        Some(usage)
    }

    /// The link's counters, for the metrics.
    pub fn counts(&self) -> LinkCounts {
        let (lines, bytes) = self.queue.held();
        let limits = self.queue.limits();
        LinkCounts {
            queued_lines: lines as u64,
            queued_bytes: bytes as u64,
            max_lines: limits.max_lines as u64,
            max_bytes: limits.max_bytes as u64,
            backpressure_seconds: self.stats.backpressure_seconds(),
            batches_replayed: self.stats.replayed,
            writer_restarts: self.stats.restarts,
        }
    }

    /// Reloads the writers applied and could not apply, and the Unix time
    /// of the last applied one (0 if none).
    pub fn writer_reloads(&self) -> (u64, u64, f64) {
        self.stats.reloads()
    }

    /// Lines writers parsed (`--parse-syslog`), by format, across writers.
    pub fn orphaned_backlog_bytes(&self) -> u64 {
        self.stats.orphaned_backlog_bytes()
    }

    pub fn writer_syslog_lines(&self) -> [u64; crate::ipc::counters::SYSLOG_FORMATS] {
        self.stats.syslog_lines()
    }

    /// The writer's handler counters, monotonic across writers; `None`
    /// while the writer is changing them (a reload).
    pub fn handler_counts(&self) -> Option<Vec<HandlerValues>> {
        self.stats.handlers()
    }

    /// Held lines or bytes reached their bound: stop reading sockets.
    pub fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// Everything pushed and flushed has been written and acknowledged.
    pub fn is_idle(&self) -> bool {
        self.queue.is_idle()
    }

    /// Hand over the open batch, close the data channel and wait up to
    /// `patience` for the writer to write the rest and exit.
    pub fn finish(mut self, patience: Duration) {
        self.queue.submit(&mut self.batch);
        let pid = self.queue.close();
        let _ = self.monitor.reap(pid, patience);
    }

    /// The writer died: reap it, start a new one within the restart budget,
    /// replay what it had not acknowledged.
    fn replace_writer(
        &mut self,
        registry: &Registry,
        cause: WriterFailure,
    ) -> Result<(), LinkError> {
        let old = self.queue.pid();
        let cause = match cause {
            WriterFailure::Retired(_) => cause,
            other => match self.queue.last_words() {
                Some(reason) => WriterFailure::Retired(reason),
                None => other,
            },
        };
        let retired = matches!(cause, WriterFailure::Retired(_));
        let _ = registry.deregister(self.queue.status_stream());
        // Read before it is reaped: a zombie's /proc entry still has it.
        if let Some(usage) = self.monitor.usage(old) {
            self.stats.dead_writers_cpu += usage.cpu_seconds;
        }
        let how = self.monitor.reap(old, DEAD_WRITER_PATIENCE);
        self.stats.absorb_dead_writer();
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            self.restarts.pop_front();
        }
        if !retired && self.restarts.len() >= MAX_RESTARTS {
            return Err(LinkError::RestartBudget {
                restarts: self.restarts.len(),
                window: RESTART_WINDOW.as_secs(),
                last: format!("pid {old}, {how}"),
            });
        }
        if !retired {
            self.restarts.push_back(now);
        }
        let writer = self
            .monitor
            .spawn(Start::AfterCrash)
            .map_err(LinkError::Respawn)?;
        let replay = self.queue.unacknowledged();
        self.stats.restarts += 1;
        self.stats.replayed += replay as u64;
        self.queue
            .replace_writer(writer)
            .map_err(LinkError::Attach)?;
        if let Some(token) = self.token {
            registry
                .register(self.queue.status_stream(), token, Interest::READABLE)
                .map_err(LinkError::Attach)?;
        }
        if retired {
            let text = format!(
                "writer process (pid {old}) handed over: {cause}; started pid {} with the new configuration, replaying {replay} unacknowledged batches",
                self.queue.pid()
            );
            self.push_record(level::INFO, LOGGER, &text);
        } else {
            let text = format!(
                "writer process (pid {old}) died ({cause}; {how}); started pid {}, replaying {replay} unacknowledged batches",
                self.queue.pid()
            );
            self.push_record(level::ERROR, LOGGER, &text);
        }
        Ok(())
    }
}

/// A link to a writer that is only channel ends, for other modules' tests:
/// what the link sends arrives at the receiver returned; the stream returned
/// is the writer's end of the status stream.
#[cfg(test)]
pub(crate) fn fake_link() -> (
    WriterLink,
    ipc_channel::ipc::IpcBytesReceiver,
    std::os::unix::net::UnixStream,
) {
    let (writer, rx, status) = queue::tests::fake_writer(1);
    let limits = QueueLimits {
        max_lines: 1_000_000,
        max_bytes: 64 << 20,
    };
    let link =
        WriterLink::new(writer, limits, Slots::none(), MonitorClient::detached()).expect("link");
    (link, rx, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{BatchReader, Item};

    #[test]
    fn lines_keep_their_peer_across_connections_records_and_seals() {
        // Whole batches, all inside the channel's window (no acks here).
        let (mut link, rx, _writer_end) = fake_link();
        let poll = mio::Poll::new().expect("poll");
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
            link.push_line(id, peer, &[], line.as_bytes());
            sent.push((peer.as_bytes().to_vec(), line.into_bytes()));
            if i % 40 == 20 {
                link.warning("pysyslog.test", "between lines");
            }
        }
        link.flush(poll.registry()).expect("flush");
        let (mut got, mut batches) = (Vec::new(), 0);
        while let Ok(bytes) = rx.try_recv() {
            batches += 1;
            let (_, items) = BatchReader::new(&bytes).expect("batch");
            for item in items {
                if let Ok(Item::Record {
                    level, name, text, ..
                }) = item
                {
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

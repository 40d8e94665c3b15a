//! The engine the writer drives: build handlers and loggers from a [`Config`],
//! route records, and write once per batch.
//!
//! Owns: building (Python's handler order, MemoryHandler targets), dispatch
//! (`Logger.handle` / `callHandlers` / `lastResort`) and the batch cycle. Does
//! not own: the schema (`config`), the tree (`manager`) or output (`handler`).
//!
//! Reconfiguration is building a new `Engine` beside the old one; unlike
//! Python's second `dictConfig`, already-seen peer loggers are not disabled.
//!
//! Deliberate differences from CPython 3.11 (everything else prints the same bytes):
//! - Output is written once per batch (`end_batch`), not flushed per record.
//!   Handlers on one stream or on one plain file share a buffer, so records
//!   stay in Python's order.
//! - A delayed FileHandler whose file cannot be opened drops the record for
//!   that handler (rate-limited warning, counter); Python raises out of
//!   `logger.info()`, which kills pysyslog's writer.
//! - Write errors (ENOSPC, EIO) keep what could not be written and hold
//!   every later batch back until a retry succeeds ([`Engine::holding`]), or
//!   with `on_failure: drop` keep a bounded amount and drop beyond it; a
//!   warning when an output starts failing, reminders, and one when it
//!   recovers ([`Engine::take_notices`]). Python drops silently.
//! - SysLogHandler over TCP does not fail start-up when the peer is down, and
//!   reconnects with backoff after a peer restart, sending again what the
//!   peer had not acknowledged; it never blocks the writer: a peer that is
//!   away or slow holds the batches as a failing file does (`on_failure:
//!   drop`: a bounded queue, drops counted). Python fails at start-up, or
//!   never reconnects, and drops what it could not send.
//! - An unknown syslog facility name, a `flushLevel` given as a level name,
//!   `atTime`, `()` factories and classes other than the eight supported are
//!   configuration errors or accepted explicitly, instead of failing per record.
//! - A MemoryHandler without target drops its buffer when it would flush
//!   (Python keeps it forever); at `close` every MemoryHandler forwards its
//!   buffer, as `logging.shutdown()` does.
//! - `reopen` (SIGHUP) reopens files in append mode, also those configured
//!   with `mode: 'w'` (which are truncated only when first opened).
//! - A `.` attribute no pysyslog handler reads (anything but `terminator`,
//!   `on_failure` and `fsync` on file handlers, and `ident`/`append_nul`/
//!   `on_failure` on SysLogHandler) is accepted with a warning
//!   naming it, logged under `pysyslog.config`; Python sets it and runs.
//! - Files use UTF-8 unless `encoding` says utf-8, ascii or latin-1; other
//!   encodings are configuration errors.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Map;

use crate::kafka::{DeliverySink, KafkaOut};

use super::formatter::{Formatter, Style};
use super::handler::dynamic::DynamicOut;
use super::handler::kafka::{KafkaRef, STOP_FLUSH};
use super::handler::syslog::SyslogOut;
use super::handler::{FileOut, Handler, Io, Kind, OwnedRecord, Stats};
use super::level::INFO;
use super::manager::Manager;
use super::pyfmt::pyvalue::repr_of as py_repr_str;
use super::record::LogRecord;
use super::run::{Run, Step};
use super::spec::{Config, ConfigError, HandlerClass, HandlerSpec, StreamTarget};

pub use super::handler::stream::Capture;

/// A configured logging system: loggers, handlers, formatters.
pub struct Engine {
    handlers: Vec<Handler>,
    /// Open files, shared by plain file handlers on one path.
    files: Vec<FileOut>,
    last_resort: Handler,
    manager: Manager,
    io: Io,
    /// The plan for the current run of records (cleared at every batch end).
    run: Run,
    /// Where diagnostics about the configuration go (see [`Engine::diagnose`]).
    own: OwnRoute,
}

/// Where the collector's diagnostics about the configuration go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnRoute {
    /// No configuration: the engine writes `pysyslog.*` to stderr itself.
    Basic,
    /// The configuration names a `pysyslog` logger: through it, and stderr.
    Configured,
    /// It does not: stderr alone (never into the data it routes).
    Unrouted,
}

/// Whether this process's stderr is `/dev/null` (what `--daemonize` leaves).
fn stderr_is_null() -> bool {
    static NULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NULL.get_or_init(|| {
        let null = std::fs::metadata("/dev/null").ok();
        // SAFETY: fstat writes into a zeroed struct; fd 2 may be closed (EBADF).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::fstat(2, &mut st) } == 0;
        use std::os::unix::fs::MetadataExt;
        ok && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR
            && null.is_some_and(|n| n.rdev() == st.st_rdev)
    })
}

/// `%(message)s`: Python's default formatter.
fn default_formatter() -> Formatter {
    Formatter::new(None, None, Style::Percent, true, &Map::new())
        .unwrap_or_else(|_| Formatter::basic())
}

impl Engine {
    /// `logging.basicConfig(stream=sys.stdout, level=INFO)`: `LEVEL:name:message` on stdout,
    /// pysyslog's output without a configuration. The collector's own loggers
    /// (`pysyslog.*`) write to stderr in the same shape, all but the banner
    /// (`pysyslog.cli`, which pysyslog printed on stdout): stdout then carries
    /// only what pysyslog printed, so `pysyslog | consumer` gets only data.
    pub fn basic_config() -> Engine {
        const STDOUT: usize = 0;
        const STDERR: usize = 1;
        let stream = |target| HandlerSpec {
            name: String::new(),
            level: 0,
            formatter: None,
            filters: Vec::new(),
            class: HandlerClass::Stream {
                target,
                terminator: "\n".into(),
            },
        };
        let mut manager = Manager::new();
        let root = manager.root_mut();
        root.level = INFO;
        root.handlers = vec![STDOUT];
        for (name, handler) in [("pysyslog", STDERR), ("pysyslog.cli", STDOUT)] {
            let logger = manager.logger_mut(name);
            logger.handlers = vec![handler];
            logger.propagate = false;
        }
        let mut files = Vec::new();
        let mut open = |target| {
            Handler::open(
                &stream(target),
                Formatter::basic(),
                Vec::new(),
                0.0,
                &mut files,
                0,
                false,
            )
        };
        // Stream handlers open nothing; should one fail all the same, none is
        // used rather than one at the other's index.
        let handlers = match (open(StreamTarget::Stdout), open(StreamTarget::Stderr)) {
            (Ok(stdout), Ok(stderr)) => vec![stdout, stderr],
            _ => Vec::new(),
        };
        Engine {
            handlers,
            files,
            last_resort: Handler::last_resort(default_formatter()),
            manager,
            io: Io::default(),
            run: Run::default(),
            own: OwnRoute::Basic,
        }
    }

    /// Build handlers from a config (opens files that are not `delay`ed).
    pub fn build(config: &Config) -> Result<Engine, ConfigError> {
        Engine::build_at(config, super::record::time_now())
    }

    /// [`Engine::build`] with the clock given: TimedRotatingFileHandler's first
    /// rollover is computed from `now` when its file does not exist yet.
    pub fn build_at(config: &Config, now: f64) -> Result<Engine, ConfigError> {
        Engine::build_inner(config, now, false)
    }

    /// [`Engine::build`] for a writer that replaces one that died when
    /// `after_crash` (see [`crate::control::Start::AfterCrash`]): files are
    /// opened without truncating, and a partial last line is cut off.
    pub fn build_opening(config: &Config, after_crash: bool) -> Result<Engine, ConfigError> {
        Engine::build_inner(config, super::record::time_now(), after_crash)
    }

    fn build_inner(config: &Config, now: f64, after_crash: bool) -> Result<Engine, ConfigError> {
        let mut handlers = Vec::with_capacity(config.handlers.len());
        let mut files = Vec::new();
        for spec in &config.handlers {
            let err = |e: String| {
                ConfigError::new(
                    &config.source,
                    format!("handlers.{}", spec.name),
                    format!(
                        "Unable to configure handler {}: {e}",
                        py_repr_str(&spec.name)
                    ),
                )
            };
            let formatter =
                match &spec.formatter {
                    Some(f) => config.formatters.get(f).cloned().ok_or_else(|| {
                        err(format!("Unable to set formatter {}", py_repr_str(f)))
                    })?,
                    None => default_formatter(),
                };
            let filters = spec
                .filters
                .iter()
                .filter_map(|f| config.filters.get(f).cloned())
                .collect();
            let owner = handlers.len();
            handlers.push(
                Handler::open(
                    spec,
                    formatter,
                    filters,
                    now,
                    &mut files,
                    owner,
                    after_crash,
                )
                .map_err(|e| err(e.to_string()))?,
            );
        }
        let index = |name: &str| config.handlers.iter().position(|h| h.name == name);
        for (i, spec) in config.handlers.iter().enumerate() {
            if let (
                HandlerClass::Memory {
                    target: Some(t), ..
                },
                Kind::Memory(m),
            ) = (&spec.class, &mut handlers[i].kind)
            {
                m.target = index(t);
            }
        }
        let mut manager = Manager::new();
        for l in config.loggers.iter().chain(config.root.as_deref()) {
            let node = if l.name.is_empty() {
                manager.root_mut()
            } else {
                manager.logger_mut(&l.name)
            };
            if let Some(level) = l.level {
                node.level = level;
            }
            if !config.incremental {
                node.handlers = l.handlers.iter().filter_map(|h| index(h)).collect();
                node.filters = l
                    .filters
                    .iter()
                    .filter_map(|f| config.filters.get(f).cloned())
                    .collect();
            }
            if let Some(p) = l.propagate {
                node.propagate = p;
            }
        }
        Ok(Engine {
            handlers,
            files,
            last_resort: Handler::last_resort(default_formatter()),
            manager,
            io: Io::default(),
            run: Run::default(),
            own: if config
                .loggers
                .iter()
                .any(|l| l.name == "pysyslog" || l.name.starts_with("pysyslog."))
            {
                OwnRoute::Configured
            } else {
                OwnRoute::Unrouted
            },
        })
    }

    /// A diagnostic about the configuration (a reload applied or refused,
    /// a setting without effect): on stderr as `LEVEL:logger:message` (the
    /// journal under systemd), and through the configuration only if it
    /// routes the collector's own loggers (names a `pysyslog` logger), so it
    /// never lands in the data files of a configuration that does not;
    /// unless stderr is `/dev/null` (a daemonized collector), where the
    /// configuration is the only place it can be read.
    pub fn diagnose(&mut self, record: &LogRecord<'_>) {
        let to_stderr = self.own != OwnRoute::Basic && !stderr_is_null();
        if to_stderr {
            crate::say!(
                "{}:{}:{}",
                super::level::level_name(record.levelno),
                record.name,
                record.msg
            );
        }
        if self.own != OwnRoute::Unrouted || !to_stderr {
            self.handle(record);
        }
    }

    /// Test support: stream handlers and diagnostics write into memory instead
    /// of fds 1 and 2. Production never calls it.
    pub fn capture_output(&mut self) {
        self.io.capture = Some(Capture::default());
    }

    /// What was captured so far (after `end_batch`).
    pub fn captured(&self) -> Option<&Capture> {
        self.io.capture.as_ref()
    }

    /// What the handlers have to tell the operator (under `pysyslog.writer`)
    /// since the last call.
    /// Notices of another engine (the one a reload replaced), logged with
    /// this one's.
    pub fn adopt_notices(&mut self, mut notices: Vec<String>) {
        self.io.notes.append(&mut notices);
    }

    pub fn take_notices(&mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.io.notes);
        for f in &mut self.files {
            out.append(&mut f.notes);
        }
        for h in &mut self.handlers {
            match &mut h.kind {
                Kind::Dynamic(d) => out.append(&mut d.take_notes()),
                Kind::Syslog(s) => out.append(&mut s.notes),
                _ => {}
            }
        }
        out
    }

    /// DynamicFileHandlers' outputs.
    fn dynamic(&self) -> impl Iterator<Item = &DynamicOut> {
        self.handlers.iter().filter_map(|h| match &h.kind {
            Kind::Dynamic(d) => Some(&**d),
            _ => None,
        })
    }

    /// After [`Engine::end_batch`]: an output whose writes fail keeps what
    /// it could not write and holds every batch back (its policy is
    /// `on_failure: hold`, the default, or it is a stream). The writer then
    /// neither acknowledges the batch nor takes the next one, so the
    /// receiver's queue fills and it stops reading: backpressure.
    pub fn holding(&self) -> bool {
        self.io.holds()
            || self.files.iter().any(FileOut::holds)
            || self.dynamic().any(DynamicOut::holds)
            || self.syslog().any(SyslogOut::holds)
            || self.kafka_holds()
    }

    /// SysLogHandlers' outputs.
    fn syslog(&self) -> impl Iterator<Item = &SyslogOut> {
        self.handlers.iter().filter_map(|h| match &h.kind {
            Kind::Syslog(s) => Some(&**s),
            _ => None,
        })
    }

    /// A KafkaHandler has records waiting for room in librdkafka's queue
    /// (a broker outage reached the handler's byte bound).
    fn kafka_holds(&self) -> bool {
        self.kafka_refs().any(KafkaRef::holds)
    }

    /// An output waits for a peer to take more (a KafkaHandler whose
    /// queue is full or whose backlog has records, a SysLogHandler whose
    /// connection is up and full): it has room again as soon as the peer
    /// takes records, so the writer tries again soon rather than backing
    /// off (outputs whose writes failed are tried as often, which costs a
    /// failing system call each).
    pub fn retry_soon(&self) -> bool {
        self.kafka_refs().any(|k| k.holds() || k.can_produce_more())
            || self.syslog().any(|s| s.unwritten() && s.waits_for_room())
    }

    /// After [`Engine::end_batch`]: something waits for a write that failed
    /// (held, or kept within `on_failure: drop`'s bound); the writer retries
    /// on a timer ([`Engine::retry`]).
    pub fn unwritten(&self) -> bool {
        self.io.holds()
            || self.files.iter().any(FileOut::unwritten)
            || self.dynamic().any(DynamicOut::unwritten)
            || self.syslog().any(SyslogOut::unwritten)
            || self.kafka_refs().any(KafkaRef::unwritten)
    }

    /// Try the failed writes again (they continue where they stopped), and
    /// remind the operator of outputs that still fail (at most once a minute).
    pub fn retry(&mut self) {
        self.end_batch();
        for f in &mut self.files {
            let h = &self.handlers[f.owner];
            f.remind(&h.name);
        }
        for h in &mut self.handlers {
            match &mut h.kind {
                Kind::Dynamic(d) => d.remind(&h.name),
                Kind::Syslog(s) => s.remind(&h.name),
                _ => {}
            }
        }
        self.io.remind();
    }

    /// The counters of the handler named `name` (the first of that name).
    pub fn stats_of(&self, name: &str) -> Option<&Stats> {
        self.handlers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.stats)
    }

    /// Every configured handler's name and counters, in a stable order.
    pub(crate) fn handler_stats(&self) -> impl Iterator<Item = (&str, &Stats)> {
        self.handlers.iter().map(|h| (h.name.as_str(), &h.stats))
    }

    /// Handle one record: route it and format it into the handlers' batch
    /// buffers. Consecutive records that differ only in their message are
    /// routed and formatted once (see `logging::run`).
    pub fn handle(&mut self, record: &LogRecord<'_>) {
        if !self.run.is_for(record) {
            self.plan_run(record);
        }
        for k in 0..self.run.steps.len() {
            match self.run.steps[k].clone() {
                Step::Splice {
                    handler,
                    dest,
                    span,
                    cuts,
                } => self.handlers[handler].append_spliced(
                    dest,
                    &self.run.text,
                    span,
                    &self.run.cuts[cuts],
                    record,
                    &mut self.files,
                    &mut self.io,
                ),
                Step::Record(i) => self.handle_by(i, record, 0),
                Step::LastResort => self.last_resort.emit(record, &mut self.io, &mut self.files),
            }
        }
    }

    /// Route a record and decide, per handler, how the records of its run
    /// are taken (`Logger.handle` / `callHandlers` / `lastResort`).
    fn plan_run(&mut self, record: &LogRecord<'_>) {
        self.run.start(record);
        let route = self.manager.route(record.name);
        if record.levelno < route.level
            || !route.passes
            || !route.record_filters.iter().all(|f| f.passes(record))
        {
            return;
        }
        if route.handlers.is_empty() {
            if record.levelno >= self.last_resort.level {
                self.run.steps.push(Step::LastResort);
            }
            return;
        }
        // A shared handle on the index list, so handlers can be borrowed mutably.
        let targets = route.handlers.clone();
        self.run.attrs_shareable = route.record_filters.is_empty()
            && targets
                .iter()
                .all(|&i| !self.handlers[i].filters_read_records());
        for &i in targets.iter() {
            let h = &mut self.handlers[i];
            // Both depend on the name and level only: the same for the whole
            // run. A NullHandler takes nothing.
            if record.levelno < h.level || !h.passes(record) || matches!(h.kind, Kind::Null) {
                continue;
            }
            let (span_start, first_cut) = (self.run.text.len(), self.run.cuts.len());
            let step = match h.plan_splice(
                record,
                &mut self.files,
                &mut self.io,
                &mut self.run.text,
                &mut self.run.cuts,
            ) {
                Some(dest) => Step::Splice {
                    handler: i,
                    dest,
                    span: span_start..self.run.text.len(),
                    cuts: first_cut..self.run.cuts.len(),
                },
                None => Step::Record(i),
            };
            self.run.steps.push(step);
        }
    }

    /// `Handler.handle`: the handler's filters, then `emit` (MemoryHandler
    /// buffers and forwards to its target, which applies its own filters only).
    fn handle_by(&mut self, i: usize, record: &LogRecord<'_>, depth: usize) {
        if !self.handlers[i].passes(record) {
            return;
        }
        let flush = match &mut self.handlers[i].kind {
            Kind::Memory(m) => {
                m.buffer.push(OwnedRecord::of(record));
                m.buffer.len() >= m.capacity || record.levelno >= m.flush_level
            }
            _ => {
                self.handlers[i].emit(record, &mut self.io, &mut self.files);
                return;
            }
        };
        if flush {
            self.flush_memory(i, depth);
        }
    }

    /// `MemoryHandler.flush`: forward the buffer to the target. Without a
    /// target Python keeps the buffer forever; we drop it (bounded memory).
    fn flush_memory(&mut self, i: usize, depth: usize) {
        let (target, records) = match &mut self.handlers[i].kind {
            Kind::Memory(m) => (m.target, std::mem::take(&mut m.buffer)),
            _ => return,
        };
        match target {
            // A chain of MemoryHandlers cannot loop (targets are built first), but stay safe.
            Some(t) if depth < 16 => {
                for r in &records {
                    let attrs = r.attrs();
                    self.handle_by(t, &r.as_record(attrs.as_ref()), depth + 1);
                }
            }
            _ => self.handlers[i].stats.dropped += records.len() as u64,
        }
    }

    /// End of a batch: every handler writes and flushes what the batch produced.
    /// Failures are the handlers' own business (reported, counted, retried).
    pub fn end_batch(&mut self) {
        self.run.clear();
        for h in &mut self.handlers {
            h.end_batch(&mut self.io);
        }
        for f in &mut self.files {
            let h = &mut self.handlers[f.owner];
            f.end_batch(&mut h.stats, &h.name);
        }
        self.io.flush();
        self.note_held();
    }

    /// What each handler's output holds now, into its counters: a file's to
    /// the handler that owns it, a stream's to the first handler on it.
    fn note_held(&mut self) {
        // A KafkaHandler's is set by the handler itself (what Kafka has
        // not acknowledged yet).
        for h in &mut self.handlers {
            match &h.kind {
                Kind::Kafka(_) => {}
                Kind::Dynamic(d) => h.stats.held_bytes = d.held_bytes(),
                Kind::Syslog(s) => h.stats.held_bytes = s.held_bytes(),
                _ => h.stats.held_bytes = 0,
            }
        }
        for f in &self.files {
            if let Some(h) = self.handlers.get_mut(f.owner) {
                h.stats.held_bytes += f.held_bytes();
            }
        }
        for target in [StreamTarget::Stdout, StreamTarget::Stderr] {
            let held = self.io.held_bytes(target);
            if held == 0 {
                continue;
            }
            let first = self
                .handlers
                .iter_mut()
                .find(|h| matches!(&h.kind, Kind::Stream(s) if s.target() == target));
            if let Some(h) = first {
                h.stats.held_bytes += held;
            }
        }
    }

    /// Whether a handler produces to Kafka: batches are then acknowledged
    /// only once Kafka has acknowledged their records.
    pub fn has_kafka(&self) -> bool {
        self.kafka().next().is_some()
    }

    fn kafka_refs(&self) -> impl Iterator<Item = &KafkaRef> {
        self.handlers.iter().filter_map(|h| match &h.kind {
            Kind::Kafka(k) => Some(&**k),
            _ => None,
        })
    }

    fn kafka(&self) -> impl Iterator<Item = &KafkaOut> {
        self.handlers.iter().filter_map(|h| match &h.kind {
            Kind::Kafka(k) => Some(&k.out),
            _ => None,
        })
    }

    fn kafka_mut(&mut self) -> impl Iterator<Item = &mut KafkaOut> {
        self.handlers.iter_mut().filter_map(|h| match &mut h.kind {
            Kind::Kafka(k) => Some(&mut k.out),
            _ => None,
        })
    }

    /// Where every KafkaHandler reports the batches Kafka settled.
    pub fn attach_deliveries(&mut self, sink: &Arc<dyn DeliverySink>) {
        for k in self.kafka() {
            k.attach(sink.clone());
        }
    }

    /// Records handled from now on belong to batch `seq`
    /// ([`crate::kafka::UNTRACKED`]: to none).
    pub fn begin_batch(&mut self, seq: u64) {
        for k in self.kafka_mut() {
            k.begin_batch(seq);
        }
    }

    /// Records produced to Kafka for the current batch since the last call:
    /// the deliveries the batch waits for.
    pub fn take_produced(&mut self) -> u64 {
        self.kafka_mut().map(KafkaOut::take_produced).sum()
    }

    /// Fold what the Kafka producers learnt into the counters and notices
    /// (also done at every batch end).
    pub fn service(&mut self) {
        for h in &mut self.handlers {
            if let Kind::Kafka(k) = &mut h.kind {
                k.sync(&mut h.stats, &mut self.io, &h.name);
            }
        }
    }

    /// Before a reload replaces this engine: wait until Kafka has settled
    /// every record (however long: the batches holding them must be
    /// acknowledged before the next configuration takes over), then close.
    pub fn retire(&mut self) {
        self.close_waiting_for_kafka(None);
    }

    /// Reopen every file handler (logrotate's `postrotate`).
    pub fn reopen(&mut self) {
        self.end_batch();
        for f in &mut self.files {
            let h = &mut self.handlers[f.owner];
            f.reopen(&mut self.io, &mut h.stats, &h.name);
        }
        for h in &mut self.handlers {
            if let Kind::Dynamic(d) = &mut h.kind {
                d.reopen(&mut h.stats, &h.name);
            }
        }
    }

    /// Flush and close every handler as `logging.shutdown()` does: in reverse
    /// order of creation, `flush()` then `close()`. A MemoryHandler's `flush()`
    /// forwards its buffer to its target, so at shutdown it is forwarded even
    /// with `flushOnClose: false` (which only matters for an explicit `close()`).
    pub fn close(&mut self) {
        // One deadline for all KafkaHandlers together: within the time the
        // receiver and the monitor give a stopping writer.
        self.close_waiting_for_kafka(Some(Instant::now() + STOP_FLUSH));
    }

    /// Close every handler in reverse order (MemoryHandlers flush into their
    /// targets before those close), KafkaHandlers waiting for Kafka until
    /// `kafka_deadline` (`None`: as long as it takes).
    fn close_waiting_for_kafka(&mut self, kafka_deadline: Option<Instant>) {
        self.run.clear();
        for i in (0..self.handlers.len()).rev() {
            if matches!(&self.handlers[i].kind, Kind::Memory(_)) {
                self.flush_memory(i, 0);
            }
            if let Kind::Memory(m) = &mut self.handlers[i].kind {
                m.buffer.clear();
                m.target = None;
            }
            self.handlers[i].close(&mut self.io, kafka_deadline);
        }
        for f in &mut self.files {
            let h = &mut self.handlers[f.owner];
            f.end_batch(&mut h.stats, &h.name);
            f.close();
        }
        self.io.flush();
    }
}

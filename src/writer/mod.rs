//! The writer process: receives batches, drives the logging engine, acknowledges.
//!
//! Owns: the writer's main loop, decoding lines (lossily: invalid UTF-8 becomes
//! U+FFFD; pysyslog's writer died on it), the batch clock, acks. Does not own:
//! routing or formatting (the [`crate::logging`] engine does that), nor how the
//! process was created (see [`crate::link`]).
//!
//! The loop is blocking on purpose: the writer has nothing else to wait for. It
//! ends when the receiver closes the data channel (graceful stop, or the receiver
//! died): the writer then writes what it has, closes its handlers and exits, so
//! it is never orphaned.
//!
//! Output failures are backpressure: while an output whose writes fail holds
//! what it could not write ([`Engine::holding`]), the writer acknowledges
//! nothing and takes no further batch, so the receiver's queue fills and it
//! stops reading sockets. It retries on a timer (100 ms, doubling up to
//! 1.6 s), not only when a batch arrives, acknowledges the held batch once
//! the write succeeds, and meanwhile watches the status stream for the
//! receiver's end. Memory stays bounded by the receiver's queue bounds: the
//! writer holds at most the batch it had taken.

use std::borrow::Cow;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcBytesReceiver;

pub mod boot;
mod counters;
mod gate;
pub mod records;

use crate::confine::Grants;
use crate::control::{ConfigText, EngineSource, Start};
use crate::ipc::counters::SharedCounters;
use crate::ipc::{BatchReader, Item, SlotRef, Slots, Status};
use crate::logging::record::time_now;
use crate::logging::{level, Config, Engine, LogRecord, Origin, SyslogAttrs};
use records::RecordMaker;

/// The writer's own messages (reloads) go under this logger.
const LOGGER: &str = "pysyslog.writer";

/// The configuration's own warnings (accepted settings without effect) go
/// under this logger, at start-up (logged by the receiver) and at a reload.
const CONFIG_LOGGER: &str = "pysyslog.config";

/// Build the new engine beside the old one; on success swap and close the old
/// one, otherwise keep it. Returns what to log about it, and at which level,
/// then the new configuration's warnings.
fn reload(
    engine: &mut Engine,
    source: &[u8],
    cwd: &[u8],
    json: &[u8],
) -> (String, i32, Vec<String>) {
    use std::os::unix::ffi::OsStrExt;
    let source = Path::new(std::ffi::OsStr::from_bytes(source));
    let cwd = Path::new(std::ffi::OsStr::from_bytes(cwd));
    let built = std::str::from_utf8(json)
        .map_err(|e| format!("{}: not UTF-8: {e}", source.display()))
        .and_then(|text| Config::from_json_str_in(text, source, cwd).map_err(|e| e.to_string()))
        .and_then(|config| {
            Engine::build(&config)
                .map(|e| (e, config.warnings))
                .map_err(|e| e.to_string())
        });
    match built {
        Ok((new, warnings)) => {
            let mut old = std::mem::replace(engine, new);
            // Kafka's outstanding records settle first: their batches are
            // acknowledged through the old producers. What the old
            // handlers had to say is logged through the new ones.
            old.retire();
            engine.adopt_notices(old.take_notices());
            (
                format!("logging configuration reloaded from {}", source.display()),
                level::INFO,
                warnings,
            )
        }
        Err(e) => (
            format!("logging configuration not reloaded, keeping the previous one: {e}"),
            level::ERROR,
            Vec::new(),
        ),
    }
}

/// Exit status of a writer that could not apply its configuration.
pub const EXIT_CONFIG: i32 = 2;

/// How a writer begins: its [`Start`], and what it found at the ends of its
/// standard streams, checked before it is confined (a confined writer
/// cannot open them again to read them).
#[derive(Debug)]
pub struct Begin {
    pub start: Start,
    pub notices: Vec<String>,
}

impl Begin {
    /// After a crash, cut the partial line a dead writer left on stdout or
    /// stderr (regular files only): before the engine opens (and its stream
    /// handlers write to) anything.
    pub fn prepare(start: Start) -> Begin {
        let notices = match start {
            Start::AfterCrash => crate::logging::cut_torn_streams(),
            Start::First => Vec::new(),
        };
        Begin { start, notices }
    }
}

/// The writer's main loop. Returns the process exit status. Batches arrive
/// whole, or as references into `slots` (see [`crate::ipc::slots`]); the
/// handlers' counters go to `counters` after every batch. A reload in the
/// stream that needs more than `grants` (what the boot configurations need,
/// and all a confined writer may do) is handed over to a new writer, with
/// Landlock or without: the configurations a writer boots with are the
/// monitor's, the reloads come through the receiver.
#[allow(clippy::too_many_arguments)]
pub fn run(
    source: &EngineSource,
    records: records::RecordOptions,
    begin: Begin,
    data: IpcBytesReceiver,
    mut status: UnixStream,
    slots: &Slots,
    counters: &SharedCounters,
    grants: &Grants,
) -> i32 {
    let Begin { start, mut notices } = begin;
    let (mut engine, fallback) = match source.build(start) {
        Ok(built) => built,
        Err(message) => {
            // Worded as the receiver's own configuration errors are: the
            // writer finds what only opening can tell (a file name).
            let message = format!("logging configuration: {message}");
            let _ = status.write_all(&Status::Failed(message).encode());
            return EXIT_CONFIG;
        }
    };
    let (orphan_notes, orphaned) = orphaned_backlogs(&engine);
    notices.extend(orphan_notes);
    counters.set_orphaned_backlog_bytes(orphaned);
    // The handlers are in the counters page before Ready: a scrape once the
    // collector is up always shows every handler.
    let publisher = counters::Publisher::new(counters, &engine);
    let gate = match status.try_clone() {
        Ok(out) => std::sync::Arc::new(gate::Gate::new(out)),
        Err(_) => return 0,
    };
    let sink: std::sync::Arc<dyn crate::kafka::DeliverySink> = gate.clone();
    engine.attach_deliveries(&sink);
    if !gate.send(&Status::Ready) {
        return 0;
    }
    let started = Instant::now();
    if let Some(text) = fallback {
        engine.diagnose(&LogRecord {
            name: LOGGER,
            msg: &text,
            levelno: level::ERROR,
            created: time_now(),
            relative_created: 0.0,
            attrs: None,
        });
        engine.end_batch();
    }
    notices.append(&mut engine.take_notices());
    log_notices(&mut engine, notices, started);
    let mut w = Loop {
        engine,
        maker: records::RecordMaker::new(records),
        publisher,
        gate,
        sink,
        data,
        status,
        slots,
        grants,
        started,
        retry: Retry::default(),
        held: None,
    };
    loop {
        match w.retry_step() {
            Step::Again => continue,
            Step::Stop => break,
            Step::Take => {}
        }
        let message = match w.take() {
            Taken::Batch(message) => message,
            Taken::Nothing => continue,
            Taken::Gone => break,
        };
        match w.write(&message) {
            Ok(seq) => {
                if !w.answer(seq) {
                    break;
                }
            }
            Err(reason) => {
                w.retire(reason);
                return 0;
            }
        }
    }
    w.finish();
    0
}

/// Backlogs in `--spool-dir` no handler of the configuration is named for:
/// a warning for each, and their bytes.
fn orphaned_backlogs(engine: &Engine) -> (Vec<String>, u64) {
    let Some(spool) = crate::spool::settings() else {
        return (Vec::new(), 0);
    };
    let names: Vec<&str> = engine.handler_stats().map(|(name, _)| name).collect();
    let found = crate::spool::orphans(&spool.dir, names);
    let bytes = found.iter().map(|(_, b)| b).sum();
    let notes = found
        .into_iter()
        .map(|(dir, bytes)| {
            format!(
                "backlog {} holds {bytes} bytes of records, and no handler of the configuration is named for it (renamed or removed?): left in place; name the handler so again to deliver it, or remove the directory",
                dir.display()
            )
        })
        .collect();
    (notes, bytes)
}

/// What the loop does next, after [`Loop::retry_step`].
enum Step {
    /// Go round again (a retry was made, or the wait for one ended).
    Again,
    /// The receiver is gone, or the status stream closed.
    Stop,
    /// Take a batch.
    Take,
}

/// What [`Loop::take`] got.
enum Taken {
    Batch(Vec<u8>),
    /// Nothing yet (while polling).
    Nothing,
    /// The receiver closed the data channel.
    Gone,
}

/// The writer's loop and what it works with: take the next batch, write
/// it, retry failed writes, answer (acknowledge) the batches.
struct Loop<'a> {
    engine: Engine,
    maker: RecordMaker,
    publisher: counters::Publisher<'a>,
    gate: std::sync::Arc<gate::Gate>,
    sink: std::sync::Arc<dyn crate::kafka::DeliverySink>,
    data: IpcBytesReceiver,
    status: UnixStream,
    slots: &'a Slots,
    grants: &'a Grants,
    started: Instant,
    retry: Retry,
    /// The batch every handler has taken but a failing output holds: it is
    /// acknowledged once that output's writes succeed again.
    held: Option<(u64, u64)>,
}

impl Loop<'_> {
    /// Try failed writes again when due (and answer the batch they held,
    /// once nothing holds it); while an output holds, wait here for the
    /// next try or the receiver's end.
    fn retry_step(&mut self) -> Step {
        if !self.engine.unwritten() {
            self.retry.stop();
            return Step::Take;
        }
        let now = self.retry.start();
        if self.engine.retry_soon() {
            self.retry.within(now, PEER_FULL_RETRY);
        }
        if now >= self.retry.at {
            self.engine.retry();
            self.log_notices();
            self.retry.tried(self.engine.unwritten());
            if self.engine.retry_soon() {
                self.retry.within(Instant::now(), PEER_FULL_RETRY);
            }
            // A retry writes what was held: counted before it is acknowledged.
            self.publisher.publish(&self.engine);
            if !self.engine.holding() {
                if let Some((seq, produced)) = self.held.take() {
                    if !self.gate.finish(seq, produced) {
                        return Step::Stop;
                    }
                }
            }
            return Step::Again;
        }
        if self.engine.holding() {
            // Take no batch: wait for the next try, or the receiver's end.
            let wait = self.retry.at.saturating_duration_since(now);
            return if receiver_gone(&self.status, wait) {
                Step::Stop
            } else {
                Step::Again
            };
        }
        Step::Take
    }

    /// The next batch (or a reference to its slot). Taken without
    /// blocking while outputs with `on_failure: drop` or a backlog wait for
    /// a retry (not past it), and while batches wait for Kafka's
    /// acknowledgements (so the producers' news is logged meanwhile).
    fn take(&mut self) -> Taken {
        let awaiting = self.engine.has_kafka() && self.gate.waiting() > 0;
        if !self.retry.active && !awaiting {
            return match self.data.recv() {
                Ok(message) => Taken::Batch(message),
                Err(_) => Taken::Gone,
            };
        }
        match self.data.try_recv() {
            Ok(message) => Taken::Batch(message),
            Err(ipc_channel::TryRecvError::Empty) => {
                let pause = if self.retry.active {
                    let wait = self.retry.at.saturating_duration_since(Instant::now());
                    wait.min(DROP_POLICY_POLL)
                } else {
                    self.engine.service();
                    self.log_notices();
                    self.publisher.publish(&self.engine);
                    KAFKA_POLL
                };
                std::thread::sleep(pause);
                Taken::Nothing
            }
            Err(_) => Taken::Gone,
        }
    }

    /// Write one batch (read from its slot, which is lent for the write
    /// only: the answer frees it). `Err`: a reload this writer may not
    /// apply (see [`write_batch`]).
    fn write(&mut self, message: &[u8]) -> Result<Option<(u64, u64)>, String> {
        let Loop {
            engine,
            maker,
            publisher,
            gate,
            sink,
            slots,
            grants,
            started,
            ..
        } = self;
        let mut write = |batch: &[u8]| {
            write_batch(
                engine, maker, batch, *started, publisher, grants, gate, sink,
            )
        };
        let outcome = match SlotRef::decode(message) {
            None => write(message),
            Some(r) => slots.read(r, write).unwrap_or_else(|| {
                crate::say!("pysyslog-writer: dropping a reference to no batch slot: {r:?}");
                Ok(None)
            }),
        };
        self.log_notices();
        outcome
    }

    /// Acknowledge a batch written, or hold it while an output holds;
    /// `false` when the status stream is gone.
    fn answer(&mut self, seq: Option<(u64, u64)>) -> bool {
        // Before the ack: a batch acknowledged is a batch counted, even if
        // this writer dies right after.
        self.publisher.publish(&self.engine);
        match seq {
            Some((seq, produced)) if self.engine.holding() => {
                self.held = Some((seq, produced));
                true
            }
            Some((seq, produced)) => self.gate.finish(seq, produced),
            None => true,
        }
    }

    /// A reload this writer may not apply: everything before the batch is
    /// acknowledged (once Kafka settles it); the batch goes whole to the
    /// writer that replaces this one.
    fn retire(&mut self, reason: String) {
        self.gate.abandon_unfinished();
        self.engine.retire();
        say_unlogged(self.engine.take_notices());
        let _ = self.gate.send(&Status::Retire(reason));
    }

    /// The receiver is gone: write what is left, close the outputs.
    fn finish(&mut self) {
        self.engine.close();
        say_unlogged(self.engine.take_notices());
        if self.engine.unwritten() {
            crate::say!(
                "pysyslog-writer: stopping while writes still fail: what the failing outputs held is not written"
            );
        }
    }

    fn log_notices(&mut self) {
        let notices = self.engine.take_notices();
        log_notices(&mut self.engine, notices, self.started);
    }
}

/// Notices of an engine that was closed (no handler left to log them):
/// on stderr, where the writer's last words go.
fn say_unlogged(notices: Vec<String>) {
    for text in notices {
        crate::say!("pysyslog-writer: {text}");
    }
}

/// How often the writer looks for a batch while an `on_failure: drop`
/// output waits for its retry (it has no channel to wait on with a timeout).
const DROP_POLICY_POLL: Duration = Duration::from_millis(10);

/// How soon the writer produces again records a full librdkafka queue or
/// a full SysLogHandler connection left waiting (they drain as fast as the
/// peer takes them).
const PEER_FULL_RETRY: Duration = Duration::from_millis(5);

/// How often the writer looks for a batch while earlier ones wait for
/// Kafka's acknowledgements (the acknowledgements themselves go out from
/// the producers' poll threads as they arrive).
const KAFKA_POLL: Duration = Duration::from_millis(2);

/// The first retry of a failed write comes after this, each next one after
/// twice as long, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_millis(1600);

/// When the failed writes are tried again.
#[derive(Debug)]
struct Retry {
    active: bool,
    delay: Duration,
    at: Instant,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            active: false,
            delay: RETRY_FIRST,
            at: Instant::now(),
        }
    }
}

impl Retry {
    /// Writes failed: the first try is scheduled unless one is. Returns now.
    fn start(&mut self) -> Instant {
        let now = Instant::now();
        if !self.active {
            self.active = true;
            self.delay = RETRY_FIRST;
            self.at = now + self.delay;
        }
        now
    }

    /// A try was made; if writes still fail, the next comes later.
    fn tried(&mut self, still_failing: bool) {
        if still_failing {
            self.delay = (self.delay * 2).min(RETRY_MAX);
            self.at = Instant::now() + self.delay;
        } else {
            self.stop();
        }
    }

    fn stop(&mut self) {
        self.active = false;
    }

    /// The next try comes at most `wait` after `now`.
    fn within(&mut self, now: Instant, wait: Duration) {
        self.at = self.at.min(now + wait);
    }
}

/// Wait up to `timeout` for the receiver to go away (the status stream,
/// which the receiver never writes to, becomes readable or hangs up).
fn receiver_gone(status: &UnixStream, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: status.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
    n > 0 && fds[0].revents != 0
}

/// Log what the engine has to tell the operator, under `pysyslog.writer`.
fn log_notices(engine: &mut Engine, mut notices: Vec<String>, started: Instant) {
    // Writing them is a batch of its own, whose end may have more to say
    // (an output that recovers in it): those too, a few rounds at most.
    for _ in 0..4 {
        if notices.is_empty() {
            return;
        }
        let created = time_now();
        let relative_created = started.elapsed().as_secs_f64() * 1000.0;
        for text in &notices {
            engine.handle(&LogRecord {
                name: LOGGER,
                msg: text,
                levelno: level::WARNING,
                created,
                relative_created,
                attrs: None,
            });
        }
        engine.end_batch();
        notices = engine.take_notices();
    }
}

/// Text from the wire: invalid UTF-8 becomes U+FFFD (pysyslog's writer died on
/// it). Valid text, nearly all of it, is borrowed after one fast check, which
/// is cheaper than `from_utf8_lossy`'s validation on every line.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if is_ascii(bytes) {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Whether every byte is ASCII: one OR over 8-byte words with no early exit,
/// which the compiler vectorises. Syslog lines are nearly always ASCII, and
/// this is much cheaper than `str::from_utf8`, which checks and branches byte
/// pair by byte pair.
fn is_ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        acc |= u64::from_ne_bytes(b);
    }
    for &b in words.remainder() {
        acc |= u64::from(b);
    }
    acc & 0x8080_8080_8080_8080 == 0
}

/// Hand every item of a batch to the engine, then let it write once.
/// `Ok(Some(seq))` to acknowledge it, `Ok(None)` if it was unreadable.
/// `Err(reason)`: the batch starts with a reload that needs more than
/// `grants`, and nothing of it was written (the receiver seals a batch
/// before a reload).
#[allow(clippy::too_many_arguments)]
fn write_batch(
    engine: &mut Engine,
    maker: &mut records::RecordMaker,
    batch: &[u8],
    started: Instant,
    publisher: &mut counters::Publisher<'_>,
    grants: &Grants,
    gate: &gate::Gate,
    sink: &std::sync::Arc<dyn crate::kafka::DeliverySink>,
) -> Result<Option<(u64, u64)>, String> {
    let (seq, items) = match BatchReader::new(batch) {
        Ok(ok) => ok,
        Err(e) => {
            crate::say!("pysyslog-writer: dropping an unreadable batch: {e}");
            return Ok(None);
        }
    };
    // One clock reading per batch: Python reads it per record; within a batch the
    // difference is far below a millisecond.
    gate.begin(seq);
    engine.begin_batch(seq);
    let mut produced = 0;
    let created = time_now();
    let relative_created = started.elapsed().as_secs_f64() * 1000.0;
    // Lines of one peer arrive in runs sharing one name and origin: decode
    // them once per run.
    let mut peer: (&[u8], Cow<'_, str>) = (&[], Cow::Borrowed(""));
    let mut origin_of: (*const u8, Origin<'_>) = (std::ptr::null(), RecordMaker::origin("", &[]));
    for item in items {
        match item {
            Ok(Item::Record {
                level,
                name,
                text,
                origin,
            }) => {
                if !std::ptr::eq(peer.0, name) {
                    peer = (name, decode(name));
                }
                let msg = decode(text);
                // Only a peer's lines carry an origin: the collector's own
                // records are never parsed.
                if maker.parses() && !origin.is_empty() {
                    if origin_of.0 != origin.as_ptr() {
                        origin_of = (origin.as_ptr(), RecordMaker::origin("", origin));
                    }
                    let from = Origin {
                        peer: &peer.1,
                        ..origin_of.1
                    };
                    let attrs = SyslogAttrs::of(from, &msg);
                    let made = maker.make(&attrs);
                    engine.handle(&LogRecord {
                        name: made.name,
                        msg: &msg,
                        levelno: made.levelno,
                        created,
                        relative_created,
                        attrs: Some(&attrs),
                    });
                    continue;
                }
                let record = LogRecord {
                    name: &peer.1,
                    msg: &msg,
                    levelno: level,
                    created,
                    relative_created,
                    attrs: None,
                };
                // The receiver's word on a reload it refused (or a TLS
                // reload): about the configuration, not the data.
                if peer.1 == CONFIG_LOGGER {
                    engine.diagnose(&record);
                } else {
                    engine.handle(&record);
                }
            }
            Ok(Item::Reopen) => {
                // Records before the reopen belong in the old files.
                engine.end_batch();
                engine.reopen();
            }
            Ok(Item::Reload { source, cwd, json }) => {
                if let Some(reason) = needs_more(grants, source, cwd, json) {
                    return Err(reason);
                }
                // Records before the reload are written with the old engine.
                engine.end_batch();
                publisher.publish(engine);
                produced += engine.take_produced();
                let (text, level, warnings) = reload(engine, source, cwd, json);
                engine.attach_deliveries(sink);
                engine.begin_batch(seq);
                publisher.reloaded(level != level::ERROR);
                publisher.adopt(engine);
                engine.diagnose(&LogRecord {
                    name: LOGGER,
                    msg: &text,
                    levelno: level,
                    created,
                    relative_created,
                    attrs: None,
                });
                // About the configuration, not the data: on stderr (the
                // journal), never through the configuration they are about.
                for warning in &warnings {
                    crate::say!("WARNING:{CONFIG_LOGGER}:{warning}");
                }
            }
            Err(e) => {
                crate::say!("pysyslog-writer: rest of batch {seq} unreadable: {e}");
                break;
            }
        }
    }
    engine.end_batch();
    // Counted before the ack, as the handlers' counters are.
    publisher.count_syslog_lines(maker.take_tally());
    produced += engine.take_produced();
    engine.begin_batch(crate::kafka::UNTRACKED);
    Ok(Some((seq, produced)))
}

/// What a reloaded configuration needs beyond `grants`; `None` if it fits
/// (or does not parse: the reload then fails as it would unconfined).
fn needs_more(grants: &Grants, source: &[u8], cwd: &[u8], json: &[u8]) -> Option<String> {
    let text = ConfigText {
        json: String::from_utf8_lossy(json).into_owned(),
        source: source.to_vec(),
        cwd: cwd.to_vec(),
    };
    let config = text.parse().ok()?;
    let missing = grants.missing(&Grants::for_configs([&config]))?;
    Some(format!(
        "the reloaded logging configuration needs {missing}, beyond what this writer may do"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_returns_the_new_configurations_warnings() {
        let mut engine = Engine::basic_config();
        let json = br#"{"version": 1, "handlers": {"n": {"class": "logging.NullHandler", ".": {"foo": 1}}}, "root": {"level": "INFO", "handlers": ["n"]}}"#;
        let (text, level, warnings) = reload(&mut engine, b"/etc/x.json", b"/", json);
        assert_eq!(
            (text.as_str(), level),
            (
                "logging configuration reloaded from /etc/x.json",
                level::INFO
            )
        );
        assert_eq!(
            warnings,
            ["/etc/x.json: handlers.n: '.' sets attributes pysyslog does not use, they have no effect: 'foo'"]
        );
    }

    #[test]
    fn is_ascii_agrees_with_std_for_a_high_byte_anywhere() {
        for len in 0..40 {
            let mut bytes = vec![b'a'; len];
            assert!(is_ascii(&bytes), "len {len}");
            for at in 0..len {
                for high in [0x80u8, 0xC3, 0xFF] {
                    bytes[at] = high;
                    assert_eq!(is_ascii(&bytes), bytes.is_ascii(), "len {len} at {at}");
                    bytes[at] = 0x7F;
                    assert!(is_ascii(&bytes), "len {len} at {at}");
                    bytes[at] = b'a';
                }
            }
        }
    }

    #[test]
    fn decode_borrows_valid_text_and_replaces_invalid_bytes() {
        for bytes in [
            &b"plain ascii line"[..],
            "caf\u{e9} \u{2603} utf-8".as_bytes(),
            b"bad \xff byte",
            b"cut \xe2\x98",
            b"",
        ] {
            let got = decode(bytes);
            assert_eq!(got, String::from_utf8_lossy(bytes));
            assert_eq!(
                matches!(got, Cow::Borrowed(_)),
                std::str::from_utf8(bytes).is_ok()
            );
        }
    }
}

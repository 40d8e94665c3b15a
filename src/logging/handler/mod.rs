//! Handlers: format a record into a per-batch buffer, write it once per batch.
//!
//! Owns: the common `Handler` (level, filters, formatter) and what each kind
//! does with a formatted record. Its parts: error accounting (`stats.rs`), text
//! encoding (`encode.rs`), the process-wide stdout/stderr batch buffers
//! (`stream.rs`), files (`file.rs`, `rotating.rs`, `timed.rs`), cutting
//! partial lines after a crash (`torn.rs`) and syslog
//! (`syslog.rs`); none of them imports this module. Does not own: routing
//! (manager) or MemoryHandler's forwarding to its target (the engine does
//! that, since it needs the other handlers).

mod backlog;
pub(crate) mod dynamic;
mod encode;
mod file;
pub(crate) mod kafka;
mod rotating;
mod send_queue;
mod stats;
pub(crate) mod stream;
pub(crate) mod syslog;
mod timed;
mod torn;

use std::ops::Range;

use super::attrs::{OwnedOrigin, SyslogAttrs};
use super::filter::{all_pass, Filter};
use super::formatter::{Cut, Formatter, Hole};
use super::record::LogRecord;
use super::spec::{Encoding, ErrorsPolicy, HandlerClass, HandlerSpec, OnFailure, StreamTarget};
use encode::encode;
pub use file::{FileOut, OpenError};
pub use stats::{EmitFailure, Stats};
pub use stream::{Io, StreamOut};

/// A record a MemoryHandler keeps past the batch.
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    pub name: Box<str>,
    pub msg: Box<str>,
    pub levelno: i32,
    pub created: f64,
    pub relative_created: f64,
    /// Where the line came from, when it has syslog attributes (the header
    /// is parsed again from `msg` when the record is forwarded).
    pub origin: Option<OwnedOrigin>,
}

impl OwnedRecord {
    pub fn of(r: &LogRecord<'_>) -> OwnedRecord {
        OwnedRecord {
            name: r.name.into(),
            msg: r.msg.into(),
            levelno: r.levelno,
            created: r.created,
            relative_created: r.relative_created,
            origin: r.attrs.map(|a| OwnedOrigin::of(&a.origin)),
        }
    }

    /// The syslog attributes the record had, made again.
    pub fn attrs(&self) -> Option<SyslogAttrs<'_>> {
        self.origin
            .as_ref()
            .map(|o| SyslogAttrs::of(o.as_origin(), &self.msg))
    }

    /// The record, with the attributes [`OwnedRecord::attrs`] made.
    pub fn as_record<'a>(&'a self, attrs: Option<&'a SyslogAttrs<'a>>) -> LogRecord<'a> {
        LogRecord {
            name: &self.name,
            msg: &self.msg,
            levelno: self.levelno,
            created: self.created,
            relative_created: self.relative_created,
            attrs,
        }
    }
}

/// `line` and `terminator` as the bytes a file takes: UTF-8 needs no
/// encoding step (the text's bytes go straight into the file's batch
/// buffer, one copy fewer per record); other encodings go through `scratch`.
fn encoded<'a>(
    line: &'a str,
    encoding: Encoding,
    errors: ErrorsPolicy,
    terminator: &'a str,
    scratch: &'a mut Vec<u8>,
) -> Result<[&'a [u8]; 2], EmitFailure> {
    if matches!(encoding, Encoding::Utf8) {
        return Ok([line.as_bytes(), terminator.as_bytes()]);
    }
    scratch.clear();
    encode(line, encoding, errors, scratch)
        .and_then(|()| encode(terminator, encoding, errors, scratch))
        .map_err(|e| EmitFailure::Encode(e.to_string()))?;
    Ok([scratch, &[]])
}

/// What a handler is.
#[derive(Debug)]
pub enum Kind {
    /// StreamHandler
    Stream(StreamOut),
    /// FileHandler, WatchedFileHandler, RotatingFileHandler, TimedRotatingFileHandler
    /// (the open file lives in the engine's file table, shared by handlers on one path).
    File(FileRef),
    /// SysLogHandler
    Syslog(Box<syslog::SyslogOut>),
    /// MemoryHandler (its records are forwarded by the engine).
    Memory(Memory),
    /// KafkaHandler
    Kafka(Box<kafka::KafkaRef>),
    /// DynamicFileHandler (its files are its own, not in the engine's table).
    Dynamic(Box<dynamic::DynamicOut>),
    /// NullHandler
    Null,
}

/// Where a handler's bytes go in a batch.
#[derive(Debug, Clone, Copy)]
pub enum Dest {
    /// `files[i]`'s batch buffer.
    File(usize),
    /// The process's stdout or stderr batch buffer.
    Stream(StreamTarget),
}

/// A file handler's own settings; the file itself is `files[sink]`.
#[derive(Debug)]
pub struct FileRef {
    /// Index in the engine's file table.
    pub sink: usize,
    encoding: Encoding,
    errors: ErrorsPolicy,
    terminator: String,
    scratch: Vec<u8>,
}

/// MemoryHandler state.
#[derive(Debug)]
pub struct Memory {
    pub capacity: usize,
    pub flush_level: i32,
    pub target: Option<usize>,
    pub buffer: Vec<OwnedRecord>,
}

/// One configured handler.
#[derive(Debug)]
pub struct Handler {
    pub name: String,
    pub level: i32,
    pub filters: Vec<Filter>,
    pub formatter: Formatter,
    pub kind: Kind,
    pub stats: Stats,
    line: String,
}

impl Handler {
    /// Build a handler from its spec; opens files unless `delay`.
    /// `now` is the clock for TimedRotatingFileHandler's first rollover.
    pub fn open(
        spec: &HandlerSpec,
        formatter: Formatter,
        filters: Vec<Filter>,
        now: f64,
        files: &mut Vec<FileOut>,
        owner: usize,
        after_crash: bool,
    ) -> Result<Handler, OpenError> {
        let kind = match &spec.class {
            HandlerClass::Stream { target, terminator } => {
                Kind::Stream(StreamOut::new(*target, terminator.clone()))
            }
            HandlerClass::Null => Kind::Null,
            HandlerClass::Kafka {
                kafka,
                encoding,
                errors,
            } => Kind::Kafka(Box::new(
                kafka::KafkaRef::open(kafka, *encoding, *errors, &spec.name)
                    .map_err(OpenError::Kafka)?,
            )),
            HandlerClass::Memory {
                capacity,
                flush_level,
                ..
            } => Kind::Memory(Memory {
                capacity: usize::try_from(*capacity).unwrap_or(0),
                flush_level: *flush_level,
                target: None,
                buffer: Vec::new(),
            }),
            HandlerClass::Dynamic(d) => {
                Kind::Dynamic(Box::new(dynamic::DynamicOut::new(d, after_crash)))
            }
            HandlerClass::Syslog {
                address,
                facility,
                stream,
                ident,
                append_nul,
                on_failure,
            } => Kind::Syslog(Box::new(syslog::SyslogOut::new(
                address,
                *facility,
                *stream,
                ident.clone(),
                *append_nul,
                *on_failure,
                // `on_failure: drop` drops: no backlog (not even opened).
                match on_failure {
                    OnFailure::Hold => backlog::Backlog::for_handler(&spec.name),
                    OnFailure::Drop => None,
                },
            ))),
            other => {
                // Python's handlers on one path interleave per record (each
                // flushes per record), so plain file handlers on one path share
                // one batch buffer to keep that order.
                let sink = match files.iter().position(|f| f.shares_with(other)) {
                    Some(i) => i,
                    None => {
                        files.push(
                            FileOut::new(other, now, owner, after_crash)?.with_backlog(&spec.name),
                        );
                        files.len() - 1
                    }
                };
                let a = file::args_of(other).ok_or(OpenError::NotAFile)?;
                Kind::File(FileRef {
                    sink,
                    encoding: a.encoding,
                    errors: a.errors,
                    terminator: a.terminator.clone(),
                    scratch: Vec::new(),
                })
            }
        };
        Ok(Handler {
            name: spec.name.clone(),
            level: spec.level,
            filters,
            formatter,
            kind,
            stats: Stats::default(),
            line: String::new(),
        })
    }

    /// Python's `lastResort`: stderr, WARNING, `%(message)s`.
    pub fn last_resort(formatter: Formatter) -> Handler {
        Handler {
            name: "lastResort".into(),
            level: super::level::WARNING,
            filters: Vec::new(),
            formatter,
            kind: Kind::Stream(StreamOut::new(StreamTarget::Stderr, "\n".into())),
            stats: Stats::default(),
            line: String::new(),
        }
    }

    /// `Handler.filter`: the handler's own filters.
    pub fn passes(&self, record: &LogRecord<'_>) -> bool {
        all_pass(&self.filters, record)
    }

    /// `emit` for every kind but MemoryHandler (which the engine handles).
    pub fn emit(&mut self, record: &LogRecord<'_>, io: &mut Io, files: &mut [FileOut]) {
        if matches!(self.kind, Kind::Null | Kind::Memory(_)) {
            return;
        }
        self.line.clear();
        if let Err(e) = self.formatter.format(record, &mut self.line) {
            self.stats.format_errors += 1;
            self.stats
                .report(io, &self.name, "record dropped, it failed to format", &e);
            return;
        }
        let Handler {
            kind,
            line,
            stats,
            name,
            ..
        } = self;
        let taken = line.len()
            + match kind {
                Kind::Stream(s) => s.terminator().len(),
                Kind::File(f) => f.terminator.len(),
                Kind::Dynamic(d) => d.text_settings().2.len(),
                _ => 0,
            };
        let result = match kind {
            Kind::Stream(s) => {
                s.emit(line, io);
                Ok(())
            }
            Kind::File(f) => encoded(line, f.encoding, f.errors, &f.terminator, &mut f.scratch)
                .and_then(|parts| files[f.sink].emit(line, &parts, record, io, stats, name)),
            Kind::Dynamic(d) => {
                let (encoding, errors, terminator) = d.text_settings();
                let terminator = terminator.to_owned();
                let mut scratch = std::mem::take(&mut d.scratch);
                let result = encoded(line, encoding, errors, &terminator, &mut scratch)
                    .and_then(|parts| d.emit(line, &parts, record, io, stats, name));
                d.scratch = scratch;
                result
            }
            Kind::Syslog(s) => s.emit(line, record),
            Kind::Kafka(k) => k.emit(line, record),
            Kind::Memory(_) | Kind::Null => Ok(()),
        };
        match result {
            Ok(()) => {
                stats.emitted += 1;
                stats.bytes += taken as u64;
            }
            Err(failure) => stats.count(io, name, failure),
        }
    }

    /// Prepare this handler to take a run of records that differ only in
    /// their message (see [`crate::logging::run`]): when its output is that
    /// message inserted into text that is the same for every record of the
    /// run, append the text and its terminator to `text`, each place the
    /// message goes to `cuts`, and return where the bytes go. `None` (and
    /// `text`, `cuts` unchanged) when records must take [`Handler::emit`]
    /// one by one: other handler classes, encodings other than UTF-8, files
    /// that roll over or are not open, formats that do more with the message.
    /// A file is checked as `emit` checks it (a WatchedFileHandler's path,
    /// once per batch), and only once the format is known to splice.
    pub fn plan_splice(
        &mut self,
        record: &LogRecord<'_>,
        files: &mut [FileOut],
        io: &mut Io,
        text: &mut String,
        cuts: &mut Vec<Cut>,
    ) -> Option<Dest> {
        let (dest, terminator) = match &self.kind {
            Kind::Stream(s) => (Dest::Stream(s.target()), s.terminator()),
            Kind::File(f) if matches!(f.encoding, Encoding::Utf8) => {
                (Dest::File(f.sink), f.terminator.as_str())
            }
            _ => return None,
        };
        let (text_len, cuts_len) = (text.len(), cuts.len());
        if !self.formatter.format_around_message(record, text, cuts) {
            return None;
        }
        if let Dest::File(i) = dest {
            if !files[i].takes_appends(io, &mut self.stats, &self.name) {
                text.truncate(text_len);
                cuts.truncate(cuts_len);
                return None;
            }
        }
        text.push_str(terminator);
        Some(dest)
    }

    /// Append one record of a run planned by [`Handler::plan_splice`]:
    /// `text[span]` with the record's message (or attribute) at each of
    /// `cuts` (offsets into `text`, within `span`).
    #[allow(clippy::too_many_arguments)]
    pub fn append_spliced(
        &mut self,
        dest: Dest,
        text: &str,
        span: Range<usize>,
        cuts: &[Cut],
        record: &LogRecord<'_>,
        files: &mut [FileOut],
        io: &mut Io,
    ) {
        let value = |hole: Hole| -> &[u8] {
            match (hole, record.attrs) {
                (Hole::Message, _) => record.msg.as_bytes(),
                (Hole::Attr(a), Some(attrs)) => attrs.display(a).as_bytes(),
                (Hole::Attr(_), None) => b"-",
            }
        };
        let text = text.as_bytes();
        // Each hole's value once (the length first, then the copy); a
        // format with more holes than this looks the rest up twice.
        let mut values: [&[u8]; 16] = [&[]; 16];
        for (v, cut) in values.iter_mut().zip(cuts) {
            *v = value(cut.hole);
        }
        let nth = |i: usize, cut: &Cut| values.get(i).copied().unwrap_or_else(|| value(cut.hole));
        let len = span.len()
            + cuts
                .iter()
                .enumerate()
                .map(|(i, c)| nth(i, c).len())
                .sum::<usize>();
        let fill = |out: &mut Vec<u8>| {
            out.reserve(len);
            let (mut at, end) = (span.start, span.end);
            for (i, cut) in cuts.iter().enumerate() {
                out.extend_from_slice(text.get(at..cut.at).unwrap_or_default());
                out.extend_from_slice(nth(i, cut));
                at = cut.at;
            }
            out.extend_from_slice(text.get(at..end).unwrap_or_default());
        };
        let taken = match dest {
            Dest::Stream(target) => {
                fill(io.buf(target));
                true
            }
            Dest::File(i) => match files[i].append(len, fill) {
                Ok(()) => true,
                Err(failure) => {
                    self.stats.count(io, &self.name, failure);
                    false
                }
            },
        };
        if taken {
            self.stats.emitted += 1;
            self.stats.bytes += len as u64;
        }
    }

    /// Whether a filter of this handler reads more than the logger name.
    pub fn filters_read_records(&self) -> bool {
        self.filters.iter().any(Filter::reads_record)
    }

    /// End of batch: one write and flush of what the batch produced.
    pub fn end_batch(&mut self, io: &mut Io) {
        let Handler {
            kind, stats, name, ..
        } = self;
        match kind {
            Kind::Syslog(s) => s.end_batch(stats, name),
            Kind::Kafka(k) => k.end_batch(stats, io, name),
            Kind::Dynamic(d) => d.end_batch(stats, name),
            Kind::File(_) | Kind::Stream(_) | Kind::Memory(_) | Kind::Null => {}
        }
    }

    /// Write what is pending and release files and sockets; a
    /// KafkaHandler waits for Kafka's acknowledgements until
    /// `kafka_deadline` (`None`: as long as it takes).
    pub fn close(&mut self, io: &mut Io, kafka_deadline: Option<std::time::Instant>) {
        // A KafkaHandler's close writes its backlog without producing more
        // from it (what is there stays for the next engine).
        if !matches!(self.kind, Kind::Kafka(_)) {
            self.end_batch(io);
        }
        match &mut self.kind {
            Kind::Syslog(s) => s.close(),
            Kind::Dynamic(d) => d.close(&mut self.stats, &self.name),
            Kind::Kafka(k) => k.close(kafka_deadline, &mut self.stats, io, &self.name),
            _ => {}
        }
    }
}

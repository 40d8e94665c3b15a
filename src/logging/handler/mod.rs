//! Handlers: format a record into a per-batch buffer, write it once per batch.
//!
//! Owns: the common `Handler` (level, filters, formatter), the per-handler error
//! accounting (rate-limited warnings and counters), text encoding, and the
//! process-wide stdout/stderr batch buffers. Does not own: routing (manager) or
//! MemoryHandler's forwarding to its target (the engine does that, since it
//! needs the other handlers).

pub mod file;
mod rotating;
pub mod stream;
mod syslog;
mod timed;

use std::ops::Range;
use std::time::{Duration, Instant};

use super::config::{Encoding, ErrorsPolicy, HandlerClass, HandlerSpec, StreamTarget};
use super::filter::{all_pass, Filter};
use super::formatter::Formatter;
use super::record::LogRecord;
pub use file::FileOut;
pub use stream::{Io, StreamOut};

/// At most one warning per handler per this interval (OpenBSD syslogd rate-limits likewise).
const WARN_INTERVAL: Duration = Duration::from_secs(60);
/// Bytes a handler keeps for retry after a failed write before dropping.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;

/// A record a MemoryHandler keeps past the batch.
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    pub name: Box<str>,
    pub msg: Box<str>,
    pub levelno: i32,
    pub created: f64,
    pub relative_created: f64,
}

impl OwnedRecord {
    pub fn of(r: &LogRecord<'_>) -> OwnedRecord {
        OwnedRecord {
            name: r.name.into(),
            msg: r.msg.into(),
            levelno: r.levelno,
            created: r.created,
            relative_created: r.relative_created,
        }
    }

    pub fn as_record(&self) -> LogRecord<'_> {
        LogRecord {
            name: &self.name,
            msg: &self.msg,
            levelno: self.levelno,
            created: self.created,
            relative_created: self.relative_created,
        }
    }
}

/// Failure counters of one handler, reported at a limited rate.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records that failed to format or encode (dropped for this handler).
    pub format_errors: u64,
    /// Failed writes/opens/sends.
    pub write_errors: u64,
    /// Records or bytes given up (buffer full, unrecoverable).
    pub dropped: u64,
    unreported: u64,
    last_warn: Option<Instant>,
}

impl Stats {
    /// Count a record a handler did not take, and report it (rate-limited).
    fn count(&mut self, io: &mut Io, handler: &str, failure: EmitFailure) {
        let (what, text) = match failure {
            EmitFailure::Encode(e) => {
                self.format_errors += 1;
                ("record dropped, it cannot be encoded", e)
            }
            EmitFailure::Io(e) => {
                self.write_errors += 1;
                self.dropped += 1;
                ("record dropped", e)
            }
            EmitFailure::Full(e) => {
                self.dropped += 1;
                ("record dropped", e)
            }
        };
        self.report(io, handler, what, &text);
    }

    /// Count one failure and write a warning unless one was written less than
    /// a minute ago; the warning carries how many were not reported.
    pub fn report(&mut self, io: &mut Io, handler: &str, what: &str, err: &dyn std::fmt::Display) {
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last_warn
            .is_some_and(|t| now.duration_since(t) < WARN_INTERVAL)
        {
            return;
        }
        let n = std::mem::take(&mut self.unreported);
        self.last_warn = Some(now);
        io.diag(&format!(
            "pysyslog: handler '{handler}': {what}: {err} ({n} since last report)\n"
        ));
    }
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
    Syslog(syslog::SyslogOut),
    /// MemoryHandler (its records are forwarded by the engine).
    Memory(Memory),
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
    pub flush_on_close: bool,
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

/// Why one record was not taken by a handler.
#[derive(Debug)]
pub enum EmitFailure {
    /// The text cannot be encoded (`errors='strict'`): counted as a format error.
    Encode(String),
    /// Opening or rolling the file failed: counted as a write error.
    Io(String),
    /// The handler's buffer is full: counted as dropped.
    Full(String),
}

impl From<String> for EmitFailure {
    fn from(s: String) -> EmitFailure {
        EmitFailure::Io(s)
    }
}

/// Opening a handler at build time failed (Python's wording).
pub type OpenError = String;

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
    ) -> Result<Handler, OpenError> {
        let kind = match &spec.class {
            HandlerClass::Stream { target, terminator } => {
                Kind::Stream(StreamOut::new(*target, terminator.clone()))
            }
            HandlerClass::Null => Kind::Null,
            HandlerClass::Memory {
                capacity,
                flush_level,
                flush_on_close,
                ..
            } => Kind::Memory(Memory {
                capacity: usize::try_from(*capacity).unwrap_or(0),
                flush_level: *flush_level,
                target: None,
                flush_on_close: *flush_on_close,
                buffer: Vec::new(),
            }),
            HandlerClass::Syslog {
                address,
                facility,
                stream,
                ident,
                append_nul,
            } => Kind::Syslog(syslog::SyslogOut::new(
                address,
                *facility,
                *stream,
                ident.clone(),
                *append_nul,
            )),
            other => {
                // Python's handlers on one path interleave per record (each
                // flushes per record), so plain file handlers on one path share
                // one batch buffer to keep that order.
                let sink = match files.iter().position(|f| f.shares_with(other)) {
                    Some(i) => i,
                    None => {
                        files.push(FileOut::new(other, now, owner)?);
                        files.len() - 1
                    }
                };
                let a = file::args_of(other).ok_or("not a file handler")?;
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
            kind: Kind::Stream(StreamOut::new(
                super::config::StreamTarget::Stderr,
                "\n".into(),
            )),
            stats: Stats::default(),
            line: String::new(),
        }
    }

    /// `Handler.filter`: the handler's own filters.
    pub fn passes(&self, record: &LogRecord<'_>) -> bool {
        all_pass(&self.filters, record.name)
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
        let result = match kind {
            Kind::Stream(s) => {
                s.emit(line, io);
                Ok(())
            }
            Kind::File(f) => {
                // UTF-8 needs no encoding step: the text's bytes go straight into
                // the file's batch buffer (one copy fewer per record).
                let utf8 = matches!(f.encoding, Encoding::Utf8);
                let encoded = if utf8 {
                    Ok(())
                } else {
                    f.scratch.clear();
                    encode(line, f.encoding, f.errors, &mut f.scratch)
                        .and_then(|()| encode(&f.terminator, f.encoding, f.errors, &mut f.scratch))
                };
                encoded
                    .map_err(|e| EmitFailure::Encode(e.to_string()))
                    .and_then(|()| {
                        let parts: [&[u8]; 2] = if utf8 {
                            [line.as_bytes(), f.terminator.as_bytes()]
                        } else {
                            [&f.scratch, &[]]
                        };
                        files[f.sink].emit(line, &parts, record, io, stats, name)
                    })
            }
            Kind::Syslog(s) => s.emit(line, record),
            Kind::Memory(_) | Kind::Null => Ok(()),
        };
        if let Err(failure) = result {
            stats.count(io, name, failure);
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
        cuts: &mut Vec<usize>,
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
    /// `text[span]` with `msg` at each of `cuts` (offsets into `text`, within
    /// `span`).
    #[allow(clippy::too_many_arguments)]
    pub fn append_spliced(
        &mut self,
        dest: Dest,
        text: &str,
        span: Range<usize>,
        cuts: &[usize],
        msg: &str,
        files: &mut [FileOut],
        io: &mut Io,
    ) {
        let (text, msg) = (text.as_bytes(), msg.as_bytes());
        let len = span.len() + cuts.len() * msg.len();
        let fill = |out: &mut Vec<u8>| {
            out.reserve(len);
            let (mut at, end) = (span.start, span.end);
            for &cut in cuts {
                out.extend_from_slice(text.get(at..cut).unwrap_or_default());
                out.extend_from_slice(msg);
                at = cut;
            }
            out.extend_from_slice(text.get(at..end).unwrap_or_default());
        };
        match dest {
            Dest::Stream(target) => fill(io.buf(target)),
            Dest::File(i) => {
                if let Err(failure) = files[i].append(len, fill) {
                    self.stats.count(io, &self.name, failure);
                }
            }
        }
    }

    /// End of batch: one write and flush of what the batch produced.
    pub fn end_batch(&mut self, io: &mut Io) {
        let Handler {
            kind, stats, name, ..
        } = self;
        match kind {
            Kind::Syslog(s) => s.end_batch(io, stats, name),
            Kind::File(_) | Kind::Stream(_) | Kind::Memory(_) | Kind::Null => {}
        }
    }

    /// Write what is pending and release files and sockets.
    pub fn close(&mut self, io: &mut Io) {
        self.end_batch(io);
        if let Kind::Syslog(s) = &mut self.kind {
            s.close();
        }
    }
}

/// A record that cannot be encoded with `errors='strict'` (Python's UnicodeEncodeError text).
#[derive(Debug, thiserror::Error)]
#[error("'{codec}' codec can't encode character '\\x{code:x}' in position {pos}: ordinal not in range({limit})")]
pub struct EncodeError {
    codec: &'static str,
    code: u32,
    pos: usize,
    limit: u32,
}

/// Append `text` encoded as Python's `text.encode(encoding, errors)`; `out`
/// is unchanged on error.
pub fn encode(
    text: &str,
    enc: Encoding,
    errors: ErrorsPolicy,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let (limit, codec) = match enc {
        Encoding::Utf8 => {
            out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        Encoding::Ascii => (0x80u32, "ascii"),
        Encoding::Latin1 => (0x100u32, "latin-1"),
    };
    if text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let start = out.len();
    for (pos, c) in text.chars().enumerate() {
        let code = c as u32;
        if code < limit {
            out.push(code as u8);
            continue;
        }
        match errors {
            ErrorsPolicy::Strict => {
                out.truncate(start);
                return Err(EncodeError {
                    codec,
                    code,
                    pos,
                    limit,
                });
            }
            ErrorsPolicy::Replace => out.push(b'?'),
            ErrorsPolicy::Ignore => {}
            ErrorsPolicy::BackslashReplace => {
                let s = if code < 0x100 {
                    format!("\\x{code:02x}")
                } else if code < 0x10000 {
                    format!("\\u{code:04x}")
                } else {
                    format!("\\U{code:08x}")
                };
                out.extend_from_slice(s.as_bytes());
            }
            ErrorsPolicy::XmlCharRefReplace => {
                out.extend_from_slice(format!("&#{code};").as_bytes())
            }
        }
    }
    Ok(())
}

/// `len(text)` in characters, as Python counts for RotatingFileHandler.
pub fn char_len(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python() {
        let mut out = Vec::new();
        encode(
            "é€😀",
            Encoding::Ascii,
            ErrorsPolicy::BackslashReplace,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"\\xe9\\u20ac\\U0001f600");
        out.clear();
        encode("aé€", Encoding::Latin1, ErrorsPolicy::Replace, &mut out).unwrap();
        assert_eq!(out, b"a\xe9?");
        out.clear();
        let e = encode("abé", Encoding::Ascii, ErrorsPolicy::Strict, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'ascii' codec can't encode character '\\xe9' in position 2: ordinal not in range(128)"
        );
        assert!(out.is_empty());
        encode(
            "é",
            Encoding::Ascii,
            ErrorsPolicy::XmlCharRefReplace,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"&#233;");
        assert_eq!(char_len("é\n"), 2);
    }
}

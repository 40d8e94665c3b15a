//! One handler's failure accounting: counters, and warnings about failures
//! at a limited rate, written wherever pysyslog's own diagnostics go.
//!
//! Owns: the counters, the rate limit, why a record was not taken
//! ([`EmitFailure`]) and the bound on what is kept for retry. Does not own:
//! where diagnostics are written ([`Diag`], implemented by the stream buffers).

use std::time::{Duration, Instant};

use crate::logging::oserror::PathError;

/// At most one warning per handler per this interval (OpenBSD syslogd rate-limits likewise).
const WARN_INTERVAL: Duration = Duration::from_secs(60);
/// Bytes a handler keeps for retry after a failed write before dropping.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;

/// Where pysyslog's own warnings go (stderr, or a test's capture).
pub trait Diag {
    /// Write one warning line at once.
    fn diag(&mut self, text: &str);
}

/// Failure counters of one handler, reported at a limited rate.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records taken into the output, for the metrics.
    pub emitted: u64,
    /// Bytes of formatted text taken into the output, terminators included.
    pub bytes: u64,
    /// Records that failed to format or encode (dropped for this handler).
    pub format_errors: u64,
    /// Failed writes/opens/sends.
    pub write_errors: u64,
    /// Records or bytes given up (buffer full, unrecoverable).
    pub dropped: u64,
    /// Bytes its output holds because writes fail, as of the last end of
    /// a batch (set by the engine; not a counter).
    pub held_bytes: u64,
    /// Files reopened: WatchedFileHandler found its file moved or gone,
    /// or SIGHUP.
    pub reopens: u64,
    /// RotatingFileHandler and TimedRotatingFileHandler rollovers.
    pub rotations: u64,
    /// Files a DynamicFileHandler opened (first time, or again after it
    /// closed them for `max_open` or `idle_close`).
    pub files_opened: u64,
    /// Its disk backlog (`--spool-dir`): bytes, records, age of the oldest
    /// in ms (gauges), records read back and records found damaged.
    pub spool_bytes: u64,
    pub spool_records: u64,
    pub spool_age_ms: u64,
    pub spool_drained: u64,
    pub spool_damaged: u64,
    unreported: u64,
    last_warn: Option<Instant>,
}

impl Stats {
    /// Count a record a handler did not take, and report it (rate-limited).
    pub(super) fn count(&mut self, io: &mut dyn Diag, handler: &str, failure: EmitFailure) {
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
    pub fn report(
        &mut self,
        io: &mut dyn Diag,
        handler: &str,
        what: &str,
        err: &dyn std::fmt::Display,
    ) {
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

impl From<PathError> for EmitFailure {
    fn from(e: PathError) -> EmitFailure {
        EmitFailure::Io(e.to_string())
    }
}

/// How often an output that keeps failing is reminded about: 60 s, or
/// `PYSYSLOG_FAILURE_REMINDER_SECS` (for tests, which cannot wait minutes).
fn reminder_interval() -> Duration {
    static INTERVAL: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *INTERVAL.get_or_init(|| {
        std::env::var("PYSYSLOG_FAILURE_REMINDER_SECS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(WARN_INTERVAL, Duration::from_secs_f64)
    })
}

/// Lines in `bytes`, ended by `end`: what a failing output holds. Counted only
/// while it fails.
pub(crate) fn count_lines(bytes: &[u8], end: u8) -> u64 {
    memchr::memchr_iter(end, bytes).count() as u64
}

/// An output whose writes fail: since when, the last error, and what it
/// dropped meanwhile (only with `on_failure: drop`).
#[derive(Debug)]
struct Outage {
    since: Instant,
    last_told: Instant,
    error: String,
    dropped: u64,
}

/// Whether an output's writes fail, and the operator's three warnings about
/// it: when it starts failing, a reminder at most every minute while it
/// fails, and when it recovers. Written as notes for `pysyslog.writer`.
#[derive(Debug, Default)]
pub struct Health {
    outage: Option<Outage>,
}

impl Health {
    pub fn is_failing(&self) -> bool {
        self.outage.is_some()
    }

    /// A write of `what` (`handler 'x' ... FILE`) failed with `error`; the
    /// first failure starts an outage and says what happens meanwhile.
    pub fn failed(&mut self, what: &str, error: String, meanwhile: &str, notes: &mut Vec<String>) {
        match &mut self.outage {
            Some(o) => o.error = error,
            None => {
                notes.push(format!("{what} failed: {error}; {meanwhile}"));
                let now = Instant::now();
                self.outage = Some(Outage {
                    since: now,
                    last_told: now,
                    error,
                    dropped: 0,
                });
            }
        }
    }

    /// One record dropped during the outage (`on_failure: drop`).
    pub fn dropped(&mut self) {
        if let Some(o) = &mut self.outage {
            o.dropped += 1;
        }
    }

    /// While failing: a reminder, unless one was given within the interval.
    pub fn remind(&mut self, what: &str, held_lines: u64, notes: &mut Vec<String>) {
        let Some(o) = &mut self.outage else { return };
        let now = Instant::now();
        if now.duration_since(o.last_told) < reminder_interval() {
            return;
        }
        o.last_told = now;
        let dropped = match o.dropped {
            0 => String::new(),
            n => format!(", {n} dropped (on_failure: drop)"),
        };
        notes.push(format!(
            "{what} still failing after {:.0} s: {}; {held_lines} lines held{dropped}",
            now.duration_since(o.since).as_secs_f64(),
            o.error
        ));
    }

    /// Everything held was written: the outage ends.
    pub fn recovered(&mut self, what: &str, held_lines: u64, notes: &mut Vec<String>) {
        let Some(o) = self.outage.take() else { return };
        let lost = match o.dropped {
            0 => "none lost".to_owned(),
            n => format!("{n} dropped (on_failure: drop)"),
        };
        notes.push(format!(
            "{what} succeeds again after {:.1} s of failures; {held_lines} lines were held and are written, {lost}",
            o.since.elapsed().as_secs_f64()
        ));
    }
}

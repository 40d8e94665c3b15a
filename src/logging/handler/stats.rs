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

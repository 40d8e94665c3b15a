//! Runs of records that differ only in their message.
//!
//! The writer hands the engine one peer's lines of a batch in a row, and they
//! share everything but the message: the logger name, the level and the batch
//! clock. So the engine routes and formats once per run: a handler that only
//! inserts the message into its format gets the rest of its output line as
//! text with cuts, and each record of the run is then three copies into the
//! handler's batch buffer. Handlers that need each record (MemoryHandler,
//! SysLogHandler, files that roll over, other encodings, formats that pad or
//! repr the message) keep the per-record path, at their place in the handler
//! order, so every buffer gets the same bytes in the same order as before.
//!
//! Owns: the run key and the plan. Does not own: routing (the engine and
//! [`super::manager`]), formatting around the message
//! ([`super::formatter::Formatter::format_around_message`]) or buffers (the
//! handlers).

use std::ops::Range;

use super::formatter::Cut;
use super::handler::Dest;
use super::record::LogRecord;

/// How one routed handler takes the records of the run.
#[derive(Debug, Clone)]
pub enum Step {
    /// `text[span]` with the message at `cuts[cuts]`, into `dest`.
    Splice {
        handler: usize,
        dest: Dest,
        span: Range<usize>,
        cuts: Range<usize>,
    },
    /// The per-record path: the handler's filters, then `emit` (or a
    /// MemoryHandler's buffer).
    Record(usize),
    /// No handler on the route: Python's `lastResort`.
    LastResort,
}

/// What the records of a run have in common.
#[derive(Debug, Default, PartialEq)]
struct Key {
    name: String,
    levelno: i32,
    created: u64,
    relative_created: u64,
    /// The records carry syslog attributes.
    attrs: bool,
}

impl Key {
    fn matches(&self, r: &LogRecord<'_>) -> bool {
        self.attrs == r.attrs.is_some()
            && self.levelno == r.levelno
            && self.created == r.created.to_bits()
            && self.relative_created == r.relative_created.to_bits()
            && self.name == r.name
    }
}

/// The plan for the current run. Valid until [`Run::clear`], which the engine
/// calls at the end of every batch (files may be reopened or rolled then).
#[derive(Debug, Default)]
pub struct Run {
    key: Option<Key>,
    /// Routed handlers in `callHandlers` order.
    pub steps: Vec<Step>,
    /// Every `Splice` step's text, one after another.
    pub text: String,
    /// Where in `text` each record's message (or attribute) goes.
    pub cuts: Vec<Cut>,
    /// Records with syslog attributes may share the plan: no filter on
    /// their route reads more than the logger name (else each record of
    /// them is planned alone).
    pub attrs_shareable: bool,
}

impl Run {
    /// Whether the plan was made for records like `r`.
    /// Records with syslog attributes share a plan only when no filter on
    /// their route reads them (their text differs only at the cuts).
    pub fn is_for(&self, r: &LogRecord<'_>) -> bool {
        (r.attrs.is_none() || self.attrs_shareable)
            && self.key.as_ref().is_some_and(|k| k.matches(r))
    }

    /// Start a plan for records like `r`, reusing the buffers.
    pub fn start(&mut self, r: &LogRecord<'_>) {
        let mut key = self.key.take().unwrap_or_default();
        key.name.clear();
        key.name.push_str(r.name);
        key.levelno = r.levelno;
        key.created = r.created.to_bits();
        key.relative_created = r.relative_created.to_bits();
        key.attrs = r.attrs.is_some();
        self.key = Some(key);
        self.attrs_shareable = false;
        self.steps.clear();
        self.text.clear();
        self.cuts.clear();
    }

    /// Forget the plan: the next record makes a new one.
    pub fn clear(&mut self) {
        self.key = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(name: &'a str, msg: &'a str, created: f64) -> LogRecord<'a> {
        LogRecord {
            name,
            msg,
            levelno: 20,
            created,
            relative_created: 5.0,
            attrs: None,
        }
    }

    #[test]
    fn a_plan_is_for_records_that_differ_only_in_their_message() {
        let mut run = Run::default();
        let first = record("10.0.0.1", "one", 1.5);
        assert!(!run.is_for(&first));
        run.start(&first);
        assert!(run.is_for(&record("10.0.0.1", "two", 1.5)));
        assert!(!run.is_for(&record("10.0.0.2", "one", 1.5)));
        assert!(!run.is_for(&record("10.0.0.1", "one", 1.75)));
        assert!(!run.is_for(&LogRecord {
            levelno: 30,
            ..first
        }));
        assert!(!run.is_for(&LogRecord {
            relative_created: 6.0,
            attrs: None,
            ..first
        }));
        run.clear();
        assert!(!run.is_for(&first));
    }
}

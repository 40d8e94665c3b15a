//! The writer's side of the shared counters: what each handler counted,
//! stored into the shared page ([`crate::ipc::counters`]) once per batch.
//!
//! Owns: the order of the entries (the engine's handlers, then handlers of
//! earlier configurations) and the base that keeps a handler's counters
//! monotonic across reloads, where the engine starts its handlers at zero.
//! Does not own: counting (the handlers' [`Stats`]) or keeping counters
//! across writers (the link does that, from the page the dead writer left).

use crate::ipc::counters::{
    HandlerValues, SharedCounters, BYTES, DROPPED, EMITTED, FILES_OPENED, FORMAT_ERRORS, GAUGES,
    HELD_BYTES, MAX_HANDLERS, REOPENS, ROTATIONS, SPOOL_AGE_MS, SPOOL_BYTES, SPOOL_DAMAGED,
    SPOOL_DRAINED, SPOOL_RECORDS, VALUES, WRITE_ERRORS,
};
use crate::logging::handler::Stats;
use crate::logging::Engine;

/// Publishes one engine's counters into the page.
#[derive(Debug)]
pub struct Publisher<'a> {
    page: &'a SharedCounters,
    /// Per handler of the engine, in its order: what handlers of that name
    /// counted under earlier configurations.
    base: Vec<[u64; VALUES]>,
}

fn values(stats: &Stats) -> [u64; VALUES] {
    let mut v = [0; VALUES];
    v[EMITTED] = stats.emitted;
    v[BYTES] = stats.bytes;
    v[WRITE_ERRORS] = stats.write_errors;
    v[FORMAT_ERRORS] = stats.format_errors;
    v[DROPPED] = stats.dropped;
    v[HELD_BYTES] = stats.held_bytes;
    v[REOPENS] = stats.reopens;
    v[ROTATIONS] = stats.rotations;
    v[FILES_OPENED] = stats.files_opened;
    v[SPOOL_BYTES] = stats.spool_bytes;
    v[SPOOL_RECORDS] = stats.spool_records;
    v[SPOOL_AGE_MS] = stats.spool_age_ms;
    v[SPOOL_DRAINED] = stats.spool_drained;
    v[SPOOL_DAMAGED] = stats.spool_damaged;
    v
}

/// `values` as a base to count on from: what is held now is not added to.
fn as_base(mut values: [u64; VALUES]) -> [u64; VALUES] {
    for gauge in GAUGES {
        values[gauge] = 0;
    }
    values
}

impl<'a> Publisher<'a> {
    /// Start publishing `engine`'s handlers (a new writer: the page was
    /// cleared by the receiver).
    pub fn new(page: &'a SharedCounters, engine: &Engine) -> Publisher<'a> {
        let mut p = Publisher {
            page,
            base: Vec::new(),
        };
        p.adopt(engine);
        p
    }

    /// `engine` replaced the one published so far (a reload): handlers
    /// keep counting from what handlers of the same name had; handlers that
    /// are gone keep their last values (and hold nothing: they are closed).
    pub fn adopt(&mut self, engine: &Engine) {
        let mut retired = self.page.read_any();
        for r in &mut retired {
            r.values = as_base(r.values);
        }
        let mut entries: Vec<HandlerValues> = engine
            .handler_stats()
            .map(|(name, _)| HandlerValues {
                name: name.to_owned(),
                values: retired
                    .iter()
                    .find(|r| r.name == name)
                    .map_or([0; VALUES], |r| r.values),
            })
            .collect();
        self.base = entries.iter().map(|e| e.values).collect();
        for r in retired {
            if !entries.iter().any(|e| e.name == r.name) {
                entries.push(r);
            }
        }
        self.page.set_handlers(&entries);
        self.publish(engine);
    }

    /// Lines parsed in the batch, by format.
    pub fn count_syslog_lines(&self, lines: [u64; crate::ipc::counters::SYSLOG_FORMATS]) {
        if lines.iter().any(|&n| n > 0) {
            self.page.count_syslog_lines(lines);
        }
    }

    /// A reload was applied, or not.
    pub fn reloaded(&self, applied: bool) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.page.count_reload(applied, now);
    }

    /// Store every handler's counters (after a batch, before its ack).
    pub fn publish(&self, engine: &Engine) {
        for (i, ((_, stats), base)) in engine.handler_stats().zip(&self.base).enumerate() {
            if i >= MAX_HANDLERS {
                return;
            }
            let now = values(stats);
            self.page
                .store(i, std::array::from_fn(|k| base[k].saturating_add(now[k])));
        }
    }
}

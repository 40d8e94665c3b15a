//! What the link counts for the metrics: writer restarts, replayed batches,
//! time spent paused by backpressure, and the writer's handler counters
//! kept monotonic across writers.
//!
//! Owns: those counters, the shared page the writers store theirs into, and
//! the base that absorbs a dead writer's last values (a new writer starts
//! from zero). Does not own: the page's layout ([`crate::ipc::counters`]).

use std::time::{Duration, Instant};

use crate::ipc::counters::{HandlerValues, SharedCounters, GAUGES, SYSLOG_FORMATS};

/// Time with reading paused. Read the clock only when the state changes.
#[derive(Debug, Default)]
struct PauseClock {
    since: Option<Instant>,
    total: Duration,
}

#[derive(Debug)]
pub struct LinkStats {
    /// Where writers store their handlers' counters.
    pub page: SharedCounters,
    /// What writers that died had counted.
    base: Vec<HandlerValues>,
    pub restarts: u64,
    pub replayed: u64,
    paused: PauseClock,
    /// CPU seconds of writers that died, so the writer's CPU counter does
    /// not go back when a new one starts.
    pub dead_writers_cpu: f64,
    /// Reloads dead writers applied and failed, and the last applied time.
    dead_reloads: (u64, u64, f64),
    /// Lines dead writers parsed, by format.
    dead_syslog_lines: [u64; SYSLOG_FORMATS],
}

impl LinkStats {
    pub fn new(page: SharedCounters) -> LinkStats {
        LinkStats {
            page,
            base: Vec::new(),
            restarts: 0,
            replayed: 0,
            paused: PauseClock::default(),
            dead_writers_cpu: 0.0,
            dead_reloads: (0, 0, 0.0),
            dead_syslog_lines: [0; SYSLOG_FORMATS],
        }
    }

    /// Whether the queue is at a bound now (called after every change of it
    /// the loop makes: a flush, acks).
    #[inline]
    pub fn note_full(&mut self, full: bool) {
        match (full, self.paused.since) {
            (true, None) => self.paused.since = Some(Instant::now()),
            (false, Some(since)) => {
                self.paused.total += since.elapsed();
                self.paused.since = None;
            }
            _ => {}
        }
    }

    pub fn backpressure_seconds(&self) -> f64 {
        let current = self.paused.since.map_or(Duration::ZERO, |s| s.elapsed());
        (self.paused.total + current).as_secs_f64()
    }

    /// The writer died and is reaped: keep what it counted, and clear the
    /// page for its successor.
    pub fn absorb_dead_writer(&mut self) {
        let (applied, failed, last) = self.page.reloads();
        self.dead_reloads.0 += applied;
        self.dead_reloads.1 += failed;
        self.dead_reloads.2 = self.dead_reloads.2.max(last);
        for (dead, n) in self
            .dead_syslog_lines
            .iter_mut()
            .zip(self.page.syslog_lines())
        {
            *dead = dead.saturating_add(n);
        }
        for mut dead in self.page.read_any() {
            // What it held is replayed to its successor, which holds it if
            // its output still fails: not a count to keep.
            for gauge in GAUGES {
                dead.values[gauge] = 0;
            }
            match self.base.iter_mut().find(|b| b.name == dead.name) {
                Some(b) => {
                    for (v, d) in b.values.iter_mut().zip(dead.values) {
                        *v = v.saturating_add(d);
                    }
                }
                None => self.base.push(dead),
            }
        }
        self.page.clear();
    }

    /// Reloads writers applied and could not apply, and the Unix time of
    /// the last applied one (0 if none), across writers.
    pub fn reloads(&self) -> (u64, u64, f64) {
        let (applied, failed, last) = self.page.reloads();
        let dead = self.dead_reloads;
        (dead.0 + applied, dead.1 + failed, dead.2.max(last))
    }

    /// Lines writers parsed, by format, across writers.
    /// Bytes in backlogs no configured handler is named for (the running
    /// writer's finding).
    pub fn orphaned_backlog_bytes(&self) -> u64 {
        self.page.orphaned_backlog_bytes()
    }

    pub fn syslog_lines(&self) -> [u64; SYSLOG_FORMATS] {
        let live = self.page.syslog_lines();
        std::array::from_fn(|i| self.dead_syslog_lines[i].saturating_add(live[i]))
    }

    /// Every handler's counters: the dead writers' plus the running one's.
    /// `None` while the running writer is changing the names.
    pub fn handlers(&self) -> Option<Vec<HandlerValues>> {
        let mut all = self.base.clone();
        for live in self.page.read()? {
            match all.iter_mut().find(|b| b.name == live.name) {
                Some(b) => {
                    for (v, l) in b.values.iter_mut().zip(live.values) {
                        *v = v.saturating_add(l);
                    }
                }
                None => all.push(live),
            }
        }
        Some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::counters::{EMITTED, HELD_BYTES, ROTATIONS};

    fn h(name: &str, emitted: u64) -> HandlerValues {
        let mut values = [0; crate::ipc::counters::VALUES];
        values[EMITTED] = emitted;
        HandlerValues {
            name: name.into(),
            values,
        }
    }

    fn emitted(stats: &LinkStats) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = stats
            .handlers()
            .expect("stable")
            .into_iter()
            .map(|h| (h.name, h.values[EMITTED]))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_dead_writer_s_counts_are_kept_and_its_successor_adds_to_them() {
        let mut stats = LinkStats::new(SharedCounters::new().expect("page"));
        stats.page.set_handlers(&[h("a", 10), h("b", 3)]);
        assert_eq!(emitted(&stats), [("a".into(), 10), ("b".into(), 3)]);
        stats.absorb_dead_writer();
        // The page is clear for the next writer; nothing went backwards.
        assert_eq!(stats.page.read(), Some(vec![]));
        assert_eq!(emitted(&stats), [("a".into(), 10), ("b".into(), 3)]);
        // The next writer counts from zero, under a configuration with a new handler.
        stats.page.set_handlers(&[h("a", 2), h("c", 1)]);
        assert_eq!(
            emitted(&stats),
            [("a".into(), 12), ("b".into(), 3), ("c".into(), 1)]
        );
    }

    #[test]
    fn what_a_dead_writer_held_is_not_kept_and_its_counters_are() {
        use crate::ipc::counters::VALUES;
        let handler = |held: u64, rotations: u64| {
            let mut values = [0; VALUES];
            values[HELD_BYTES] = held;
            values[ROTATIONS] = rotations;
            HandlerValues {
                name: "a".into(),
                values,
            }
        };
        let seen = |stats: &LinkStats| {
            let h = &stats.handlers().expect("stable")[0];
            (h.values[HELD_BYTES], h.values[ROTATIONS])
        };
        let mut stats = LinkStats::new(SharedCounters::new().expect("page"));
        stats.page.set_handlers(&[handler(100, 3)]);
        assert_eq!(seen(&stats), (100, 3));
        // Its batches are replayed to the next writer, which holds them
        // again if the output still fails.
        stats.absorb_dead_writer();
        assert_eq!(seen(&stats), (0, 3));
        stats.page.set_handlers(&[handler(7, 1)]);
        assert_eq!(seen(&stats), (7, 4));
    }

    #[test]
    fn backpressure_time_runs_only_while_full() {
        let mut stats = LinkStats::new(SharedCounters::none());
        assert_eq!(stats.backpressure_seconds(), 0.0);
        stats.note_full(true);
        std::thread::sleep(Duration::from_millis(30));
        stats.note_full(true);
        stats.note_full(false);
        let paused = stats.backpressure_seconds();
        assert!(paused >= 0.03, "{paused}");
        std::thread::sleep(Duration::from_millis(30));
        stats.note_full(false);
        assert_eq!(stats.backpressure_seconds(), paused);
    }
}

//! A handler's side of its disk backlog (`--spool-dir`): when to put records
//! in it, when to read them back, and what to tell the operator.
//!
//! A handler with a backlog never holds the other handlers back because its
//! output is away or slow: what it cannot send goes to the backlog (synced
//! before the batch is acknowledged, as `--spool-fsync` says), and while the
//! backlog holds records every new one goes behind them, so the order is
//! kept. Once the output takes records again they are read back a little at
//! a time (`DRAIN_LOW`), between batches, so new traffic is not starved.
//! Only a full backlog (`--spool-max-bytes`, or its disk) or one that cannot
//! be written makes the handler hold, as it would without one.
//!
//! Owns: those decisions and their messages. Does not own: the files
//! ([`crate::spool`]) or the output (the handler).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use super::send_queue::{Confirmed, SendQueue};
use super::stats::Stats;
use crate::spool::{self, Spool, SpoolError};

/// Read back from the backlog while less than this waits to be sent.
pub const DRAIN_LOW: usize = 256 << 10;

/// One handler's backlog.
#[derive(Debug)]
pub struct Backlog {
    dir: PathBuf,
    spool: Option<Spool>,
    settings: &'static spool::Settings,
    /// Why it could not be opened or written, once said.
    trouble: Option<String>,
    /// Records that waited for room in the backlog (it was full): the
    /// handler holds until they are in.
    waiting: VecDeque<Vec<u8>>,
    /// Since when records go to the backlog, and how many it held then.
    spilling: Option<(Instant, u64)>,
    /// It was found full, and that was said.
    full: bool,
    /// Another engine still has it open (a reload hands over): records wait
    /// in `waiting` for it, behind what it holds.
    busy: bool,
    pub notes: Vec<String>,
}

impl Backlog {
    /// The backlog of handler `name`, if the collector has `--spool-dir`.
    pub fn for_handler(name: &str) -> Option<Backlog> {
        spool::settings().map(|settings| Backlog::in_dir(name, settings))
    }

    /// The backlog of handler `name` under `settings` (tests give their own).
    pub fn in_dir(name: &str, settings: &'static spool::Settings) -> Backlog {
        let mut b = Backlog {
            dir: settings.dir.join(spool::handler_dir(name)),
            spool: None,
            settings,
            trouble: None,
            waiting: VecDeque::new(),
            spilling: None,
            full: false,
            busy: false,
            notes: Vec::new(),
        };
        b.open();
        b
    }

    /// Open it unless open; a backlog another engine still has (a reload
    /// in progress) is tried again at the next batch.
    fn open(&mut self) -> bool {
        if self.spool.is_none() {
            match Spool::open(&self.dir, self.settings.max_bytes, self.settings.fsync) {
                Ok(mut s) => {
                    self.notes.append(&mut s.notes);
                    if !s.is_empty() {
                        self.notes.push(format!(
                            "backlog {}: {} records ({} bytes) from before are delivered first",
                            self.dir.display(),
                            s.records(),
                            s.bytes()
                        ));
                        self.spilling = Some((Instant::now(), s.records()));
                    }
                    self.trouble = None;
                    self.busy = false;
                    self.spool = Some(s);
                }
                Err(SpoolError::Busy(_)) => self.busy = true,
                Err(e) => {
                    self.busy = false;
                    self.trouble(format!("cannot open it: {e}"));
                }
            }
        }
        self.spool.is_some()
    }

    fn trouble(&mut self, text: String) {
        if self.trouble.as_deref() != Some(text.as_str()) {
            self.notes.push(format!(
                "backlog {}: {text}; the handler holds its records meanwhile",
                self.dir.display()
            ));
            self.trouble = Some(text);
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Whether new records must go behind the backlog's: it has records
    /// to read back, records wait to go in, or another engine still has
    /// it (whatever it holds comes first).
    pub fn takes_new(&self) -> bool {
        self.busy || !self.waiting.is_empty() || self.spool.as_ref().is_some_and(Spool::has_unread)
    }

    /// A new record, behind what the backlog holds.
    pub fn push(&mut self, record: Vec<u8>) {
        if self.waiting.is_empty() {
            if let Some(s) = self.spool.as_mut() {
                if s.append(&record) {
                    return;
                }
            }
        }
        self.waiting.push_back(record);
        if self.spool.is_some() {
            self.is_full();
        }
    }

    /// It has no room: said once until it has room again.
    fn is_full(&mut self) {
        if !self.full {
            self.full = true;
            self.notes.push(format!(
                "backlog {} is full (--spool-max-bytes {} for every backlog): the handler holds its records, and every batch after them, until records are delivered (the receiver stops reading, so senders slow down)",
                self.dir.display(),
                self.settings.max_bytes
            ));
        }
    }

    /// Put in the backlog the records `queue` has not sent (those that did
    /// not come from it); `true` if any moved.
    /// `why`: what to say when it starts (`None`: the outage was told).
    /// Returns whether records stayed in the queue that the backlog had no
    /// room for (or could not take): the handler then holds.
    pub fn spill(&mut self, queue: &mut SendQueue, why: Option<&str>) -> bool {
        if !self.open() || !self.waiting.is_empty() {
            return queue.unsent_bytes() > 0;
        }
        let Some(s) = self.spool.as_mut() else {
            return queue.unsent_bytes() > 0;
        };
        // The queue's records that did not come from the backlog, after the
        // last that did, are newer than everything in it (the spill takes
        // them all or none): they go behind.
        let room = s.room();
        let spilled = queue.spill(
            room,
            |r| Spool::cost(r.len()),
            |r| {
                // Within the room just measured: taken.
                s.append(r);
            },
        );
        if spilled.moved > 0 && self.spilling.is_none() {
            self.spilling = Some((Instant::now(), s.records()));
            if let Some(why) = why {
                self.notes.push(format!(
                    "{why}: keeping what it cannot send yet in its backlog {} (on disk, up to {} bytes for every backlog); nothing is held back",
                    self.dir.display(),
                    self.settings.max_bytes
                ));
            }
        }
        if spilled.short {
            self.is_full();
        }
        spilled.short
    }

    /// Read records back into `queue` while less than [`DRAIN_LOW`] waits
    /// there to be sent. Returns how many came.
    pub fn drain_into(&mut self, queue: &mut SendQueue) -> usize {
        let Some(s) = self.spool.as_mut() else {
            return 0;
        };
        let mut n = 0;
        while queue.unsent_bytes() < DRAIN_LOW {
            let mut record = Vec::new();
            match s.read_next(&mut record) {
                Some(seq) => {
                    queue.push(record, Some(seq));
                    n += 1;
                }
                None => break,
            }
        }
        self.notes.append(&mut s.notes);
        n
    }

    /// The output confirmed records: those from the backlog are delivered.
    pub fn confirmed(&mut self, c: &Confirmed) {
        if let (Some(seq), Some(s)) = (c.last_spooled, self.spool.as_mut()) {
            s.delivered_through(seq);
            self.notes.append(&mut s.notes);
        }
    }

    /// End of a batch: records waiting for room go in while it has some,
    /// then what was appended is written (and synced). `false` while the
    /// backlog cannot take the batch: the handler holds.
    pub fn end_batch(&mut self, name: &str) -> bool {
        if !self.open() {
            return self.waiting.is_empty();
        }
        let Some(s) = self.spool.as_mut() else {
            return false;
        };
        while let Some(r) = self.waiting.front() {
            if !s.append(r) {
                break;
            }
            self.waiting.pop_front();
        }
        let flushed = s.flush();
        self.notes.append(&mut s.notes);
        let ok = match flushed {
            Ok(()) => {
                self.trouble = None;
                if self.waiting.is_empty() && self.full && s.room() > 0 {
                    self.full = false;
                }
                self.waiting.is_empty()
            }
            Err(e) => {
                self.trouble(format!("cannot write it: {e}"));
                false
            }
        };
        if let (Some((since, _)), Some(s)) = (self.spilling, self.spool.as_ref()) {
            if s.is_empty() && self.waiting.is_empty() {
                self.spilling = None;
                self.notes.push(format!(
                    "handler '{name}': its backlog {} is delivered, {:.1} s after it began; {} records were read back",
                    self.dir.display(),
                    since.elapsed().as_secs_f64(),
                    s.drained
                ));
            }
        }
        ok
    }

    /// Whether the handler must hold: records wait for room, or the
    /// backlog cannot be written.
    pub fn holds(&self) -> bool {
        !self.waiting.is_empty() || (self.spool.is_some() && self.trouble.is_some())
    }

    /// Whether it is open (records pushed go to it, or wait for room in
    /// it); one that is not is tried again at the end of each batch.
    pub fn is_open(&self) -> bool {
        self.spool.is_some()
    }

    /// The next record to send from it, into `out`; its sequence number.
    pub fn read(&mut self, out: &mut Vec<u8>) -> Option<u64> {
        let s = self.spool.as_mut()?;
        let seq = s.read_next(out);
        self.notes.append(&mut s.notes);
        seq
    }

    /// Records read from it were delivered (or given up), in any order.
    pub fn delivered(&mut self, seqs: &[u64]) {
        if let Some(s) = self.spool.as_mut() {
            s.delivered(seqs);
            self.notes.append(&mut s.notes);
        }
    }

    /// Whether it can take records (open, writable).
    pub fn is_usable(&self) -> bool {
        self.spool.is_some() && self.trouble.is_none()
    }

    /// Whether it has records to read back.
    pub fn has_unread(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::has_unread)
    }

    /// Records it holds, for the reminders.
    pub fn records(&self) -> u64 {
        self.spool.as_ref().map_or(0, Spool::records) + self.waiting.len() as u64
    }

    /// Its figures, into the handler's counters.
    pub fn count(&self, stats: &mut Stats) {
        if let Some(s) = &self.spool {
            stats.spool_bytes = s.bytes();
            stats.spool_records = s.records();
            stats.spool_age_ms = u64::try_from(s.oldest_age().as_millis()).unwrap_or(u64::MAX);
            stats.spool_drained = s.drained;
            stats.spool_damaged = s.damaged;
        }
    }
}

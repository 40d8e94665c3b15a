//! KafkaHandler: the formatted record, in the handler's encoding, produced
//! with the logger name (the peer's address) as its key.
//!
//! With `--spool-dir` it writes ahead to its disk backlog: every record is
//! put there (synced before its batch is acknowledged, which then waits for
//! nothing else), and produced from there; a record leaves the backlog once
//! Kafka acknowledged it. A broker that is down or slow then fills the
//! backlog instead of holding every batch; only a full backlog holds.
//!
//! Owns: turning a formatted line into a record's key and value, and folding
//! what the producer learnt into the handler's counters and notices. Does
//! not own: the producer ([`crate::kafka::KafkaOut`]).

use std::time::Duration;

use super::backlog::Backlog;
use super::encode::encode;
use super::stats::{Diag, EmitFailure, Stats};
use super::stream::Io;
use crate::kafka::{KafkaArgs, KafkaOut, KeySource};
use crate::logging::record::LogRecord;
use crate::logging::spec::{Encoding, ErrorsPolicy};

/// How long a stopping writer waits for Kafka's acknowledgements: within
/// the time the receiver and the monitor give a stopping writer.
pub const STOP_FLUSH: Duration = Duration::from_secs(8);

/// Records produced from the backlog in one end of batch, at most: the
/// batch's turn stays short (librdkafka's queue bounds what is in flight).
const DRAIN_RECORDS: usize = 20_000;

#[derive(Debug)]
pub struct KafkaRef {
    pub out: KafkaOut,
    key: KeySource,
    encoding: Encoding,
    errors: ErrorsPolicy,
    scratch: Vec<u8>,
    backlog: Option<Backlog>,
    /// A record read from the backlog that librdkafka had no room for.
    unsent: Option<(u64, Vec<u8>)>,
}

/// A record as the backlog keeps it: `0` (no key) or `1`, the key's length
/// (u32, little-endian) and the key, then the value.
fn to_backlog(key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + key.map_or(0, <[u8]>::len) + value.len());
    match key {
        Some(k) => {
            out.push(1);
            out.extend_from_slice(&u32::try_from(k.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(k);
        }
        None => out.push(0),
    }
    out.extend_from_slice(value);
    out
}

/// The key and value of a record [`to_backlog`] made (a damaged one, which
/// its checksum would have caught, is taken as a value alone).
fn from_backlog(record: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match record.split_first() {
        Some((1, rest)) => {
            let len = rest
                .get(..4)
                .and_then(|l| l.try_into().ok())
                .map_or(0, |l| u32::from_le_bytes(l) as usize);
            match (rest.get(4..4 + len), rest.get(4 + len..)) {
                (Some(k), Some(v)) => (Some(k), v),
                _ => (None, rest),
            }
        }
        Some((_, rest)) => (None, rest),
        None => (None, record),
    }
}

impl KafkaRef {
    pub fn open(
        args: &KafkaArgs,
        encoding: Encoding,
        errors: ErrorsPolicy,
        name: &str,
    ) -> Result<KafkaRef, crate::kafka::KafkaError> {
        Ok(KafkaRef {
            out: KafkaOut::open(args, name)?,
            key: args.key,
            encoding,
            errors,
            scratch: Vec::new(),
            backlog: Backlog::for_handler(name),
            unsent: None,
        })
    }

    /// Whether it holds every batch back: with a backlog, only while the
    /// backlog cannot take records; without, while librdkafka's queue is
    /// full.
    pub fn holds(&self) -> bool {
        match &self.backlog {
            Some(b) if b.is_usable() => b.holds(),
            Some(b) => b.holds() || self.out.holds(),
            None => self.out.holds(),
        }
    }

    /// It could produce more from its backlog right now (librdkafka took
    /// the last one): worth coming back soon, not after a backoff.
    pub fn can_produce_more(&self) -> bool {
        self.unsent.is_none() && self.backlog.as_ref().is_some_and(Backlog::has_unread)
    }

    /// Records wait: the writer comes back on a timer (to produce from the
    /// backlog, and to mark what Kafka acknowledged delivered there).
    pub fn unwritten(&self) -> bool {
        self.holds()
            || self.unsent.is_some()
            || self.backlog.as_ref().is_some_and(|b| b.records() > 0)
    }

    /// End of a batch: what was put in the backlog is written (and synced),
    /// what Kafka acknowledged leaves it, and more is produced from it.
    pub fn end_batch(&mut self, stats: &mut Stats, io: &mut Io, name: &str) {
        self.out.produce_waiting();
        if let Some(b) = self.backlog.as_mut() {
            b.end_batch(name);
            b.delivered(&self.out.take_spooled());
            for _ in 0..DRAIN_RECORDS {
                let (seq, record) = match self.unsent.take() {
                    Some(r) => r,
                    None => {
                        let mut record = Vec::new();
                        match b.read(&mut record) {
                            Some(seq) => (seq, record),
                            None => break,
                        }
                    }
                };
                let (key, value) = from_backlog(&record);
                if !self.out.send_spooled(seq, key, value) {
                    self.unsent = Some((seq, record));
                    break;
                }
            }
            b.count(stats);
            io.notes.append(&mut b.notes);
        }
        self.sync(stats, io, name);
    }

    /// Produce `line` (the formatted record, without a terminator).
    pub fn emit(&mut self, line: &str, record: &LogRecord<'_>) -> Result<(), EmitFailure> {
        let value: &[u8] = if matches!(self.encoding, Encoding::Utf8) {
            line.as_bytes()
        } else {
            self.scratch.clear();
            encode(line, self.encoding, self.errors, &mut self.scratch)
                .map_err(|e| EmitFailure::Encode(e.to_string()))?;
            &self.scratch
        };
        let key = match self.key {
            KeySource::LoggerName => Some(record.name.as_bytes()),
            KeySource::None => None,
        };
        if let Some(b) = self.backlog.as_mut() {
            if b.is_open() || b.takes_new() {
                b.push(to_backlog(key, value));
                return Ok(());
            }
        }
        self.out
            .send(key, value)
            .map_err(|e| EmitFailure::Io(e.to_string()))
    }

    /// Wait for Kafka's acknowledgements until `deadline` (`None`: as long
    /// as it takes); what it acknowledged leaves the backlog, the rest stays
    /// there for the next writer. With a backlog nothing waits: its records
    /// are on disk and their batches answered, so a reload or a stop during
    /// a broker outage is not held up (a record Kafka got and had not
    /// acknowledged is produced again).
    pub fn close(
        &mut self,
        deadline: Option<std::time::Instant>,
        stats: &mut Stats,
        io: &mut Io,
        name: &str,
    ) {
        self.out.produce_waiting();
        let deadline = match &self.backlog {
            Some(b) if b.is_open() => Some(std::time::Instant::now()),
            _ => deadline,
        };
        self.out.close(deadline);
        if let Some(b) = self.backlog.as_mut() {
            b.delivered(&self.out.take_spooled());
            b.end_batch(name);
            b.count(stats);
            io.notes.append(&mut b.notes);
        }
        self.sync(stats, io, name);
    }

    /// What the producer learnt since the last call, into `stats` and
    /// `io`'s notices; records Kafka refused are warned about (rate-limited).
    pub fn sync(&mut self, stats: &mut Stats, io: &mut Io, name: &str) {
        let p = self.out.sync();
        stats.write_errors += p.write_errors;
        stats.dropped += p.given_up;
        stats.held_bytes = p.held_bytes;
        if p.given_up > 0 {
            let why = p.last_give_up.unwrap_or_default();
            stats.report(
                io as &mut dyn Diag,
                name,
                &format!("{} records dropped, Kafka refused them", p.given_up),
                &why,
            );
        }
        io.notes.extend(self.out.take_notices());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_goes_through_the_backlog_unchanged() {
        for (key, value) in [
            (Some(&b"10.0.0.1"[..]), &b"hello"[..]),
            (None, &b"no key"[..]),
            (Some(&b""[..]), &b""[..]),
        ] {
            assert_eq!(from_backlog(&to_backlog(key, value)), (key, value));
        }
    }
}

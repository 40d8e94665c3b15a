//! KafkaHandler: the formatted record, in the handler's encoding, produced
//! with the logger name (the peer's address) as its key.
//!
//! Owns: turning a formatted line into a record's key and value, and folding
//! what the producer learnt into the handler's counters and notices. Does
//! not own: the producer ([`crate::kafka::KafkaOut`]).

use std::time::Duration;

use super::encode::encode;
use super::stats::{Diag, EmitFailure, Stats};
use super::stream::Io;
use crate::kafka::{KafkaArgs, KafkaOut, KeySource};
use crate::logging::record::LogRecord;
use crate::logging::spec::{Encoding, ErrorsPolicy};

/// How long a stopping writer waits for Kafka's acknowledgements: within
/// the time the receiver and the monitor give a stopping writer.
pub const STOP_FLUSH: Duration = Duration::from_secs(8);

#[derive(Debug)]
pub struct KafkaRef {
    pub out: KafkaOut,
    key: KeySource,
    encoding: Encoding,
    errors: ErrorsPolicy,
    scratch: Vec<u8>,
}

impl KafkaRef {
    pub fn open(
        args: &KafkaArgs,
        encoding: Encoding,
        errors: ErrorsPolicy,
        name: &str,
    ) -> Result<KafkaRef, String> {
        Ok(KafkaRef {
            out: KafkaOut::open(args, name)?,
            key: args.key,
            encoding,
            errors,
            scratch: Vec::new(),
        })
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
        self.out.send(key, value).map_err(EmitFailure::Io)
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

//! The writer's acknowledgements, in order, once every handler has finished
//! a batch: its files written, and every Kafka record of it acknowledged by
//! the broker.
//!
//! Owns: the status stream's writing end (the writer's thread and the Kafka
//! poll threads both acknowledge through it, so their messages never
//! interleave) and the batches written but not yet acknowledged. Does not
//! own: writing batches (the loop) or producing (`crate::kafka`).
//!
//! Batches are pipelined: the writer goes on with the next batches while a
//! batch's deliveries are outstanding, and acknowledges in order as they
//! complete. Memory stays bounded by the receiver's queue bounds: a batch
//! waiting here still counts in the receiver's queue.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use crate::ipc::Status;
use crate::kafka::DeliverySink;

/// One batch written but not acknowledged.
#[derive(Debug)]
struct Pending {
    seq: u64,
    /// The writer has finished it (every handler took it): only deliveries
    /// can keep it now.
    finished: bool,
    /// Records produced and not yet settled. Below zero while reports
    /// arrive before the writer finished the batch and said how many.
    outstanding: i64,
}

#[derive(Debug)]
struct Inner {
    status: UnixStream,
    pending: VecDeque<Pending>,
    /// The status stream failed: the receiver is gone.
    broken: bool,
}

/// Acknowledges batches to the receiver, in order.
#[derive(Debug)]
pub struct Gate {
    inner: Mutex<Inner>,
}

impl Gate {
    pub fn new(status: UnixStream) -> Gate {
        Gate {
            inner: Mutex::new(Inner {
                status,
                pending: VecDeque::new(),
                broken: false,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = match self.inner.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut inner)
    }

    /// Send a status message other than an acknowledgement. `false`: the
    /// receiver is gone.
    pub fn send(&self, status: &Status) -> bool {
        self.with(|i| i.write(status))
    }

    /// Batch `seq` is about to be written: deliveries may be reported for
    /// it from now on.
    pub fn begin(&self, seq: u64) {
        self.with(|i| {
            i.pending.push_back(Pending {
                seq,
                finished: false,
                outstanding: 0,
            })
        });
    }

    /// Every handler has taken batch `seq`, producing `produced` Kafka
    /// records for it: acknowledge it once they are settled, after every
    /// batch before it. `false`: the receiver is gone.
    pub fn finish(&self, seq: u64, produced: u64) -> bool {
        self.with(|i| {
            match i.pending.iter_mut().find(|p| p.seq == seq) {
                Some(p) => {
                    p.finished = true;
                    p.outstanding += i64::try_from(produced).unwrap_or(i64::MAX);
                }
                // Not begun (an unreadable batch's number): nothing waits.
                None => i.pending.push_back(Pending {
                    seq,
                    finished: true,
                    outstanding: i64::try_from(produced).unwrap_or(i64::MAX),
                }),
            }
            i.release()
        })
    }

    /// Batches written and not acknowledged yet.
    pub fn waiting(&self) -> usize {
        self.with(|i| i.pending.len())
    }

    /// Forget batches that were begun and never finished (a batch whose
    /// writing was given up, the receiver replays it to the next writer).
    pub fn abandon_unfinished(&self) {
        self.with(|i| i.pending.retain(|p| p.finished));
    }
}

impl Inner {
    fn write(&mut self, status: &Status) -> bool {
        if self.broken {
            return false;
        }
        if self.status.write_all(&status.encode()).is_err() {
            self.broken = true;
        }
        !self.broken
    }

    /// Acknowledge the finished, settled batches at the front.
    fn release(&mut self) -> bool {
        while let Some(p) = self.pending.front() {
            if !p.finished || p.outstanding > 0 {
                break;
            }
            let seq = p.seq;
            self.pending.pop_front();
            if !self.write(&Status::Ack(seq)) {
                return false;
            }
        }
        !self.broken
    }
}

impl DeliverySink for Gate {
    fn settled(&self, runs: &[(u64, u64)]) {
        self.with(|i| {
            for &(seq, n) in runs {
                if let Some(p) = i.pending.iter_mut().find(|p| p.seq == seq) {
                    p.outstanding -= i64::try_from(n).unwrap_or(i64::MAX);
                }
            }
            i.release();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn acks(peer: &mut UnixStream) -> Vec<u64> {
        peer.set_nonblocking(true).expect("nonblocking");
        let mut bytes = Vec::new();
        let _ = peer.read_to_end(&mut bytes);
        let mut decoder = crate::ipc::status::StatusDecoder::default();
        decoder.push(&bytes);
        let mut out = Vec::new();
        while let Ok(Some(status)) = decoder.next_message() {
            if let Status::Ack(seq) = status {
                out.push(seq);
            }
        }
        out
    }

    #[test]
    fn batches_are_acknowledged_in_order_once_their_records_are_settled() {
        let (ours, mut peer) = UnixStream::pair().expect("pair");
        let gate = Gate::new(ours);
        for seq in 1..=3 {
            gate.begin(seq);
        }
        // A report can come before the writer says how many it produced.
        gate.settled(&[(2, 1)]);
        assert!(gate.finish(1, 2));
        assert!(gate.finish(2, 1));
        assert!(gate.finish(3, 0));
        assert_eq!(
            acks(&mut peer),
            Vec::<u64>::new(),
            "1 waits, and 2, 3 behind it"
        );
        gate.settled(&[(1, 1)]);
        assert_eq!(acks(&mut peer), Vec::<u64>::new());
        gate.settled(&[(1, 1)]);
        assert_eq!(acks(&mut peer), [1, 2, 3]);
        assert_eq!(gate.waiting(), 0);
    }

    #[test]
    fn without_kafka_records_a_batch_is_acknowledged_when_finished() {
        let (ours, mut peer) = UnixStream::pair().expect("pair");
        let gate = Gate::new(ours);
        gate.begin(7);
        assert!(gate.finish(7, 0));
        assert!(gate.finish(8, 0), "a batch never begun");
        assert_eq!(acks(&mut peer), [7, 8]);
    }

    #[test]
    fn a_gone_receiver_is_told() {
        let (ours, peer) = UnixStream::pair().expect("pair");
        drop(peer);
        let gate = Gate::new(ours);
        assert!(!gate.finish(1, 0));
        assert!(!gate.send(&Status::Ready));
    }
}

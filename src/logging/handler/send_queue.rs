//! The records a SysLogHandler has not yet seen confirmed, in order.
//!
//! A record moves through three states: unsent, written (into the current
//! connection's socket, whole), and confirmed (the peer's TCP acknowledged
//! its bytes, or it was a datagram). Only confirmed records leave the queue.
//! When a connection breaks, what was written but not confirmed becomes
//! unsent again and goes whole over the next connection: the kernel's send
//! buffer dies with the connection, and a peer that stopped took with it
//! whatever it had not acknowledged. So a peer restart loses nothing; it may
//! get again the records written since the last confirmation, and the
//! start of a record that was cut.
//!
//! Owns: the order and the three states. Does not own: sockets (`syslog.rs`
//! asks the kernel how much of what it wrote is unacknowledged).

use std::collections::VecDeque;

/// Records waiting for a peer.
#[derive(Debug, Default)]
pub struct SendQueue {
    records: VecDeque<Vec<u8>>,
    /// Bytes of every record in the queue.
    bytes: usize,
    /// How many records at the front were written whole to the connection.
    written: usize,
    /// Their bytes.
    written_bytes: usize,
    /// Bytes of the record after them already written.
    partial: usize,
}

impl SendQueue {
    pub fn push(&mut self, record: Vec<u8>) {
        self.bytes += record.len();
        self.records.push_back(record);
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records in the queue, written or not.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes of every record in the queue.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes not yet written to the current connection.
    pub fn unsent_bytes(&self) -> usize {
        self.bytes - self.written_bytes - self.partial
    }

    /// Bytes written to the current connection and not yet confirmed.
    pub fn in_flight(&self) -> usize {
        self.written_bytes + self.partial
    }

    /// The rest of the first record not yet written, if any.
    pub fn next_unsent(&self) -> Option<&[u8]> {
        self.records
            .get(self.written)
            .and_then(|r| r.get(self.partial..))
    }

    /// `n` more bytes of the next unsent record went into the connection.
    pub fn wrote(&mut self, n: usize) {
        let Some(len) = self.records.get(self.written).map(Vec::len) else {
            return;
        };
        self.partial += n;
        if self.partial >= len {
            self.partial = 0;
            self.written += 1;
            self.written_bytes += len;
        }
    }

    /// The connection holds `unacknowledged` bytes of what was written to it
    /// (the kernel's send queue): the records wholly before them are
    /// confirmed and leave the queue. Returns how many left.
    pub fn confirm(&mut self, unacknowledged: usize) -> usize {
        let mut acked = self.in_flight().saturating_sub(unacknowledged);
        let mut gone = 0;
        while self.written > 0 {
            let Some(len) = self.records.front().map(Vec::len) else {
                break;
            };
            if len > acked {
                break;
            }
            acked -= len;
            self.records.pop_front();
            self.bytes -= len;
            self.written -= 1;
            self.written_bytes -= len;
            gone += 1;
        }
        gone
    }

    /// Every record written is confirmed (datagrams, which have no
    /// acknowledgement to wait for).
    pub fn confirm_written(&mut self) -> usize {
        let n = self.written;
        for _ in 0..n {
            if let Some(r) = self.records.pop_front() {
                self.bytes -= r.len();
            }
        }
        self.written = 0;
        self.written_bytes = 0;
        n
    }

    /// The connection is gone: what it did not confirm is unsent again.
    pub fn rewind(&mut self) {
        self.written = 0;
        self.written_bytes = 0;
        self.partial = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(i: usize) -> Vec<u8> {
        format!("<14>record {i}\0").into_bytes()
    }

    #[test]
    fn records_leave_only_once_the_peer_acknowledged_them() {
        let mut q = SendQueue::default();
        q.push(rec(1));
        q.push(rec(2));
        let (a, b) = (rec(1).len(), rec(2).len());
        q.wrote(a);
        q.wrote(b - 1);
        assert_eq!(q.unsent_bytes(), 1);
        // The kernel still holds all but the first record's bytes.
        assert_eq!(q.confirm(b - 1), 1);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next_unsent(), Some(&rec(2)[b - 1..]));
        q.rewind();
        assert_eq!(q.next_unsent(), Some(&rec(2)[..]));
        assert_eq!(q.unsent_bytes(), b);
    }

    #[test]
    fn datagrams_are_confirmed_once_written() {
        let mut q = SendQueue::default();
        q.push(rec(1));
        q.push(rec(2));
        q.wrote(rec(1).len());
        assert_eq!(q.confirm_written(), 1);
        assert_eq!(q.next_unsent(), Some(&rec(2)[..]));
        assert_eq!(q.bytes(), rec(2).len());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Push,
        Write(usize),
        /// The kernel reports this share (per mille) of what is in flight as unacknowledged.
        Confirm(u16),
        Rewind,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Push),
            (1usize..40).prop_map(Step::Write),
            (0u16..=1000).prop_map(Step::Confirm),
            Just(Step::Rewind),
        ]
    }

    proptest! {
        /// Whatever the connection does, every record is confirmed once, in
        /// order, or is still in the queue; and what goes over a connection
        /// is the queue's bytes in order from its first unconfirmed record.
        #[test]
        fn no_record_is_lost_or_reordered(steps in proptest::collection::vec(step(), 0..200)) {
            let mut q = SendQueue::default();
            let mut pushed = 0;
            let mut confirmed: Vec<Vec<u8>> = Vec::new();
            for s in steps {
                match s {
                    Step::Push => { q.push(rec(pushed)); pushed += 1; }
                    Step::Write(n) => {
                        if let Some(rest) = q.next_unsent() {
                            let n = n.min(rest.len());
                            q.wrote(n);
                        }
                    }
                    Step::Confirm(share) => {
                        let before: Vec<Vec<u8>> = q.records.iter().cloned().collect();
                        let unacked = q.in_flight() * usize::from(share) / 1000;
                        let gone = q.confirm(unacked);
                        confirmed.extend(before.into_iter().take(gone));
                        prop_assert!(q.in_flight() >= unacked.min(q.in_flight()));
                    }
                    Step::Rewind => q.rewind(),
                }
                prop_assert_eq!(q.bytes(), q.records.iter().map(Vec::len).sum::<usize>());
                prop_assert!(q.written <= q.len());
            }
            let all: Vec<Vec<u8>> = confirmed.into_iter().chain(q.records.iter().cloned()).collect();
            let expected: Vec<Vec<u8>> = (0..pushed).map(rec).collect();
            prop_assert_eq!(all, expected);
        }
    }
}

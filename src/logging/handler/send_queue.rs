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
//! Each record may carry its sequence number in the handler's disk backlog
//! (`--spool-dir`), so that what is confirmed can be marked delivered there.
//!
//! Owns: the order and the three states. Does not own: sockets (`syslog.rs`
//! asks the kernel how much of what it wrote is unacknowledged).

use std::collections::VecDeque;

/// What a confirmation took out of the queue.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Confirmed {
    pub records: usize,
    /// The backlog sequence number of the last of them that came from the
    /// backlog.
    pub last_spooled: Option<u64>,
}

/// What [`SendQueue::spill`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Spilled {
    pub moved: usize,
    /// A record stayed for want of room.
    pub short: bool,
}

/// One record in the queue.
#[derive(Debug)]
struct Entry {
    bytes: Vec<u8>,
    /// Its sequence number in the backlog it was read from.
    spooled: Option<u64>,
    /// Some of it went over a connection once (it may have been received):
    /// older than anything put in a backlog since, so it never goes there.
    sent: bool,
}

/// Records waiting for a peer.
#[derive(Debug, Default)]
pub struct SendQueue {
    records: VecDeque<Entry>,
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
    /// Add a record; `spooled`: its sequence number in the backlog it was
    /// read from.
    pub fn push(&mut self, record: Vec<u8>, spooled: Option<u64>) {
        self.bytes += record.len();
        self.records.push_back(Entry {
            bytes: record,
            spooled,
            sent: false,
        });
    }

    /// Hand `keep` the records at the end that never went over a
    /// connection and did not come from the backlog (all of them, oldest
    /// first, or none if they do not fit in `room` at `cost` each), and
    /// take them out of the queue. They are newer than everything in the
    /// backlog, and after the move nothing left here is newer than what
    /// the backlog holds, so sending the queue, then the backlog, keeps the
    /// order. Returns whether they stayed for want of room.
    pub fn spill(
        &mut self,
        room: usize,
        cost: impl Fn(&[u8]) -> usize,
        mut keep: impl FnMut(&[u8]),
    ) -> Spilled {
        let unsent_from = self.written + usize::from(self.partial > 0);
        let mut from = self.records.len();
        let mut needed = 0usize;
        while from > unsent_from {
            match self.records.get(from - 1) {
                Some(e) if e.spooled.is_none() && !e.sent => {
                    needed = needed.saturating_add(cost(&e.bytes));
                    from -= 1;
                }
                _ => break,
            }
        }
        if needed > room {
            return Spilled {
                moved: 0,
                short: true,
            };
        }
        let moved = self.records.len() - from;
        for e in self.records.drain(from..) {
            self.bytes -= e.bytes.len();
            keep(&e.bytes);
        }
        Spilled {
            moved,
            short: false,
        }
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
            .and_then(|e| e.bytes.get(self.partial..))
    }

    /// `n` more bytes of the next unsent record went into the connection.
    pub fn wrote(&mut self, n: usize) {
        let Some(e) = self.records.get_mut(self.written) else {
            return;
        };
        e.sent = true;
        let len = e.bytes.len();
        self.partial += n;
        if self.partial >= len {
            self.partial = 0;
            self.written += 1;
            self.written_bytes += len;
        }
    }

    /// The connection holds `unacknowledged` bytes of what was written to it
    /// (the kernel's send queue): the records wholly before them are
    /// confirmed and leave the queue.
    pub fn confirm(&mut self, unacknowledged: usize) -> Confirmed {
        let mut acked = self.in_flight().saturating_sub(unacknowledged);
        let mut gone = Confirmed::default();
        while self.written > 0 {
            let Some(len) = self.records.front().map(|e| e.bytes.len()) else {
                break;
            };
            if len > acked {
                break;
            }
            acked -= len;
            if let Some(e) = self.records.pop_front() {
                gone.last_spooled = e.spooled.or(gone.last_spooled);
            }
            self.bytes -= len;
            self.written -= 1;
            self.written_bytes -= len;
            gone.records += 1;
        }
        gone
    }

    /// At close: every record not from the backlog, whatever its state
    /// (written and not confirmed ones included), out of the queue, oldest
    /// first. What came from the backlog stays there.
    pub fn take_unspooled(&mut self) -> Vec<Vec<u8>> {
        self.rewind();
        let (unspooled, spooled): (Vec<Entry>, Vec<Entry>) =
            self.records.drain(..).partition(|e| e.spooled.is_none());
        self.records = spooled.into();
        self.bytes = self.records.iter().map(|e| e.bytes.len()).sum();
        unspooled.into_iter().map(|e| e.bytes).collect()
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
        q.push(rec(1), None);
        q.push(rec(2), None);
        let (a, b) = (rec(1).len(), rec(2).len());
        q.wrote(a);
        q.wrote(b - 1);
        assert_eq!(q.unsent_bytes(), 1);
        // The kernel still holds all but the first record's bytes.
        assert_eq!(q.confirm(b - 1).records, 1);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next_unsent(), Some(&rec(2)[b - 1..]));
        q.rewind();
        assert_eq!(q.next_unsent(), Some(&rec(2)[..]));
        assert_eq!(q.unsent_bytes(), b);
    }

    #[test]
    fn datagrams_are_confirmed_once_written() {
        let mut q = SendQueue::default();
        q.push(rec(1), None);
        q.push(rec(2), None);
        q.wrote(rec(1).len());
        assert_eq!(q.confirm(0).records, 1);
        assert_eq!(q.next_unsent(), Some(&rec(2)[..]));
        assert_eq!(q.bytes(), rec(2).len());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Push,
        /// Records from a backlog (tagged), as a drain pushes them.
        PushSpooled,
        /// Unsent untagged records at the end go to a backlog (which takes
        /// at most this many), to come back later.
        Spill(usize),
        Write(usize),
        /// The kernel reports this share (per mille) of what is in flight as unacknowledged.
        Confirm(u16),
        Rewind,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Push),
            Just(Step::PushSpooled),
            (0usize..5).prop_map(Step::Spill),
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
            // The handler's backlog, as a model: records spilled, in order.
            let mut backlog: std::collections::VecDeque<Vec<u8>> = Default::default();
            let mut spooled_seq = 0;
            let mut pushed = 0;
            let mut confirmed: Vec<Vec<u8>> = Vec::new();
            for s in steps {
                match s {
                    // While the backlog holds records, new ones go behind them.
                    Step::Push if backlog.is_empty() => { q.push(rec(pushed), None); pushed += 1; }
                    Step::Push => { backlog.push_back(rec(pushed)); pushed += 1; }
                    Step::PushSpooled => {
                        if let Some(r) = backlog.pop_front() {
                            q.push(r, Some(spooled_seq));
                            spooled_seq += 1;
                        }
                    }
                    Step::Spill(room) => {
                        q.spill(room, |_| 1, |r| backlog.push_back(r.to_vec()));
                    }
                    Step::Write(n) => {
                        if let Some(rest) = q.next_unsent() {
                            let n = n.min(rest.len());
                            q.wrote(n);
                        }
                    }
                    Step::Confirm(share) => {
                        let before: Vec<Vec<u8>> = q.records.iter().map(|e| e.bytes.clone()).collect();
                        let unacked = q.in_flight() * usize::from(share) / 1000;
                        let gone = q.confirm(unacked);
                        confirmed.extend(before.into_iter().take(gone.records));
                    }
                    Step::Rewind => q.rewind(),
                }
                prop_assert_eq!(q.bytes(), q.records.iter().map(|e| e.bytes.len()).sum::<usize>());
                prop_assert!(q.written <= q.len());
            }
            let all: Vec<Vec<u8>> = confirmed
                .into_iter()
                .chain(q.records.iter().map(|e| e.bytes.clone()))
                .chain(backlog)
                .collect();
            let expected: Vec<Vec<u8>> = (0..pushed).map(rec).collect();
            prop_assert_eq!(all, expected);
        }
    }
}

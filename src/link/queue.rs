//! The batches between sealing and acknowledgement, and the channel they
//! travel: bounded queues, sequence numbers, slots in use, acks, replay.
//!
//! Owns: the sequence numbers, the batches not yet acknowledged (sent or not),
//! the queue bounds that make the receiver stop reading sockets, which shared
//! slots are free, reading acks, and replaying unacknowledged batches to a new
//! writer. Does not own: the open batch or when it is sealed, forking, or
//! deciding to respawn (all in [`super`], the link's owner).
//!
//! A batch stays here from the moment it is sealed until the writer acks it
//! (after every handler wrote and flushed it). A batch in flight normally sits
//! in one of the shared slots ([`crate::ipc::slots`]) and only its 9-byte
//! reference goes on the channel. A batch larger than a slot goes whole, as
//! every batch does when the shared mapping could not be made; at most
//! [`IN_FLIGHT_BYTES`] of whole batches are inside the socket at once, so
//! `send` never blocks the event loop (ipc-channel's send blocks when the
//! socket buffer is full). A batch in a slot counts a whole slot towards
//! `--max-queue-bytes`: that is the memory it pins.

use std::collections::VecDeque;
use std::io::{self, Read};

use ipc_channel::ipc::IpcBytesSender;
use nix::unistd::Pid;

use crate::control::WriterProcess;
use crate::ipc::slots::SLOT_BYTES;
use crate::ipc::{BatchBuilder, SlotRef, Slots, Status, StatusDecoder};

/// Bytes of batches allowed inside the channel's socket at once. Linux's default
/// socket buffer (`wmem_default`, 208 KiB) holds this with room to spare, so a
/// send never waits for the writer.
pub const IN_FLIGHT_BYTES: usize = 192 * 1024;

/// Bounds on what is held between receiving and writing.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Lines (pysyslog's `--max-queue-size`).
    pub max_lines: usize,
    /// Bytes of encoded batches.
    pub max_bytes: usize,
}

#[derive(Debug)]
struct Held {
    seq: u64,
    /// The batch, until it is copied into a slot (then empty).
    bytes: Vec<u8>,
    /// The slot holding the batch once it was first sent in one.
    slot: Option<SlotRef>,
    items: usize,
}

impl Held {
    /// Memory the batch holds: its buffer, or the slot it pins.
    fn cost(&self) -> usize {
        match self.slot {
            Some(_) => SLOT_BYTES,
            None => self.bytes.capacity(),
        }
    }
}

/// Why the writer is taken for dead: the link's owner replaces it.
#[derive(Debug, thiserror::Error)]
pub enum WriterFailure {
    #[error("the writer closed its status stream")]
    WriterGone,
    #[error("sending a batch to the writer failed: {0}")]
    Send(#[source] io::Error),
    #[error("reading from the writer failed: {0}")]
    Status(String),
    /// The writer cannot apply the next reload within its confinement and
    /// asked to be replaced by one built from the new configuration.
    #[error("{0}")]
    Retired(String),
}

#[derive(Debug)]
pub struct Queue {
    pid: Pid,
    data: IpcBytesSender,
    /// Acks (and the writer's end of life) come from here.
    status: mio::net::UnixStream,
    decoder: StatusDecoder,
    next_seq: u64,
    /// Sent, not yet acknowledged, oldest first.
    in_flight: VecDeque<Held>,
    /// Bytes of whole batches (not slot references) among `in_flight`.
    in_flight_bytes: usize,
    /// Where batches in flight are; shared with every writer.
    slots: Slots,
    /// Slots no unacknowledged batch is in.
    free_slots: Vec<usize>,
    /// Sealed, not yet sent, oldest first.
    pending: VecDeque<Held>,
    held_items: usize,
    held_bytes: usize,
    limits: QueueLimits,
    /// Set when a send failed; the link's owner takes it and respawns.
    broken: Option<WriterFailure>,
    /// Buffers of acknowledged batches, reused for new ones.
    spare: Vec<Vec<u8>>,
}

/// Acknowledged batch buffers kept for reuse (each about one batch cap).
const MAX_SPARE_BUFFERS: usize = 8;

/// A sealed batch whose buffer is more than twice its length (and more than
/// twice this) is copied into an exact-size one.
const SMALL_BATCH_BYTES: usize = 4096;

impl Queue {
    /// A link to `writer`, which was forked after `slots` were made.
    pub fn new(writer: WriterProcess, limits: QueueLimits, slots: Slots) -> io::Result<Queue> {
        writer.status.set_nonblocking(true)?;
        Ok(Queue {
            pid: writer.pid,
            data: writer.data,
            status: mio::net::UnixStream::from_std(writer.status),
            decoder: StatusDecoder::default(),
            next_seq: 1,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            free_slots: (0..slots.count()).rev().collect(),
            slots,
            pending: VecDeque::new(),
            held_items: 0,
            held_bytes: 0,
            limits,
            broken: None,
            spare: Vec::new(),
        })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The stream acks arrive on, to register with the event loop.
    pub fn status_stream(&mut self) -> &mut mio::net::UnixStream {
        &mut self.status
    }

    /// Seal the batch (if it holds anything) and queue it for the writer.
    pub fn submit(&mut self, batch: &mut BatchBuilder) {
        if batch.is_empty() {
            return;
        }
        let items = batch.items();
        let seq = self.next_seq;
        self.next_seq += 1;
        let next = self.spare.pop().unwrap_or_default();
        let mut bytes = batch.take(seq, next);
        if bytes.capacity() > 2 * bytes.len().max(SMALL_BATCH_BYTES) {
            // A batch sealed at the end of a quiet loop turn would otherwise
            // keep a recycled buffer of a full batch's capacity for a few
            // lines: copy it out and recycle the big buffer at once.
            let exact = bytes.to_vec();
            bytes.clear();
            if self.spare.len() < MAX_SPARE_BUFFERS {
                self.spare.push(std::mem::replace(&mut bytes, exact));
            } else {
                bytes = exact;
            }
        }
        let held = Held {
            seq,
            bytes,
            slot: None,
            items,
        };
        self.held_items += items;
        // Memory held, not bytes used: the bound is on what the queue costs.
        self.held_bytes += held.cost();
        self.pending.push_back(held);
        self.pump();
        if !self.pending.is_empty() && self.broken.is_none() {
            // The window is full: collect acks now rather than at the next
            // poll, so the writer gets its next batch while this loop turn is
            // still reading sockets (a turn can read many batches' worth).
            if let Err(e) = self.read_acks() {
                self.broken = Some(e);
            }
        }
    }

    /// The sequence number the next sealed batch gets (the open batch's).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every batch numbered up to this has been acknowledged: the oldest
    /// held batch (sent or not) is the first one that has not.
    pub fn acknowledged(&self) -> u64 {
        self.in_flight
            .front()
            .or(self.pending.front())
            .map_or(self.next_seq - 1, |b| b.seq - 1)
    }

    /// The bound is reached: stop reading sockets until acks come back.
    pub fn is_full(&self) -> bool {
        self.held_items >= self.limits.max_lines || self.held_bytes >= self.limits.max_bytes
    }

    /// Everything submitted has been written and acknowledged.
    pub fn is_idle(&self) -> bool {
        self.held_items == 0 && self.pending.is_empty() && self.in_flight.is_empty()
    }

    /// Batches held (sent or not) that the writer has not acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }

    /// A failure seen while sending, to be handled by the loop.
    /// Lines and bytes held now, for the metrics.
    pub fn held(&self) -> (usize, usize) {
        (self.held_items, self.held_bytes)
    }

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    pub fn take_failure(&mut self) -> Option<WriterFailure> {
        self.broken.take()
    }

    /// Send queued batches, in order, while there is a free slot for each
    /// (or, for one larger than a slot, room in the socket).
    fn pump(&mut self) {
        while self.broken.is_none() {
            let Some(next) = self.pending.front_mut() else {
                return;
            };
            if next.slot.is_none() && self.slots.count() > 0 && next.bytes.len() <= SLOT_BYTES {
                // It goes in a slot: wait for one to be free.
                let Some(&slot) = self.free_slots.last() else {
                    return;
                };
                if let Some(r) = self.slots.fill(slot, &next.bytes) {
                    self.free_slots.pop();
                    let bytes = std::mem::take(&mut next.bytes);
                    self.held_bytes -= bytes.capacity();
                    self.held_bytes += SLOT_BYTES;
                    next.slot = Some(r);
                    if self.spare.len() < MAX_SPARE_BUFFERS {
                        self.spare.push(bytes);
                    }
                }
            }
            let (sent, whole_bytes) = if let Some(r) = next.slot {
                // In a slot (also when replayed to a new writer: the slot still
                // holds it): only the reference goes.
                (self.data.send(&r.encode()), 0)
            } else {
                if !self.in_flight.is_empty()
                    && self.in_flight_bytes + next.bytes.len() > IN_FLIGHT_BYTES
                {
                    return;
                }
                (self.data.send(&next.bytes), next.bytes.len())
            };
            if let Err(e) = sent {
                self.broken = Some(WriterFailure::Send(e));
                return;
            }
            self.in_flight_bytes += whole_bytes;
            if let Some(sent) = self.pending.pop_front() {
                self.in_flight.push_back(sent);
            }
        }
    }

    /// Read acks until the stream would block; release acknowledged batches.
    pub fn read_acks(&mut self) -> Result<(), WriterFailure> {
        // Acks are a few bytes each and the loop reads until WouldBlock: a
        // small buffer is enough, and keeps zeroing it per call cheap (this
        // runs at least once per loop turn under load).
        let mut buf = [0u8; 512];
        loop {
            match self.status.read(&mut buf) {
                Ok(0) => return Err(WriterFailure::WriterGone),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WriterFailure::Status(e.to_string())),
            }
            while let Some(msg) = self
                .decoder
                .next_message()
                .map_err(|e| WriterFailure::Status(e.to_string()))?
            {
                match msg {
                    Status::Ack(seq) => self.release(seq),
                    Status::Retire(reason) => return Err(WriterFailure::Retired(reason)),
                    _ => {}
                }
            }
        }
        self.pump();
        Ok(())
    }

    /// A writer that is gone may have said why first: its acks and a
    /// retirement left unread on the status stream.
    pub fn last_words(&mut self) -> Option<String> {
        match self.read_acks() {
            Err(WriterFailure::Retired(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Batches up to `seq` are written: forget them.
    fn release(&mut self, seq: u64) {
        while self.in_flight.front().is_some_and(|b| b.seq <= seq) {
            if let Some(done) = self.in_flight.pop_front() {
                self.held_items -= done.items;
                self.held_bytes -= done.cost();
                match done.slot {
                    Some(r) => self.free_slots.push(r.slot as usize),
                    None => {
                        self.in_flight_bytes -= done.bytes.len();
                        if self.spare.len() < MAX_SPARE_BUFFERS {
                            self.spare.push(done.bytes);
                        }
                    }
                }
            }
        }
    }

    /// Attach a new writer and resend everything it has not acknowledged, in order.
    /// The batch that was being written when the old writer died may be written
    /// twice: delivery is at-least-once.
    pub fn replace_writer(&mut self, writer: WriterProcess) -> io::Result<()> {
        writer.status.set_nonblocking(true)?;
        self.pid = writer.pid;
        self.data = writer.data;
        self.status = mio::net::UnixStream::from_std(writer.status);
        self.decoder = StatusDecoder::default();
        while let Some(b) = self.in_flight.pop_back() {
            self.pending.push_front(b);
        }
        self.in_flight_bytes = 0;
        self.broken = None;
        self.pump();
        Ok(())
    }

    /// Close the data channel: the writer finishes what it has and exits.
    /// Returns its pid, to reap it.
    pub fn close(self) -> Pid {
        self.pid
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use ipc_channel::ipc::{self, IpcBytesReceiver};

    use super::*;
    use crate::ipc::BatchReader;

    const LIMITS: QueueLimits = QueueLimits {
        max_lines: 1_000_000,
        max_bytes: 64 << 20,
    };

    /// A writer that is only channel ends, as a test's `WriterProcess`: what
    /// the link sends arrives at the receiver returned, and the stream
    /// returned is the writer's end of the status stream.
    pub(crate) fn fake_writer(pid: i32) -> (WriterProcess, IpcBytesReceiver, UnixStream) {
        let (data, rx) = ipc::bytes_channel().expect("channel");
        let (ours, theirs) = UnixStream::pair().expect("pair");
        let writer = WriterProcess {
            pid: Pid::from_raw(pid),
            data,
            status: ours,
        };
        (writer, rx, theirs)
    }

    /// A link to a fake writer with `slots` shared slots: its data channel
    /// and status stream end.
    fn link_with(slots: usize) -> (Queue, IpcBytesReceiver, UnixStream) {
        let (writer, rx, status) = fake_writer(1);
        let slots = Slots::new(slots).expect("slots");
        let link = Queue::new(writer, LIMITS, slots).expect("link");
        (link, rx, status)
    }

    /// The writer died: attach a new fake one, which gets the replay.
    fn replace_writer(link: &mut Queue) -> IpcBytesReceiver {
        let (writer, rx, _status) = fake_writer(2);
        link.replace_writer(writer).expect("replace");
        rx
    }

    /// A link without slots: every batch goes whole on the channel.
    fn link() -> (Queue, IpcBytesReceiver, UnixStream) {
        link_with(0)
    }

    /// Submit one batch of `lines` 1 KiB lines, built in `batch` (one builder
    /// for a whole test, as the link keeps one).
    fn submit(link: &mut Queue, batch: &mut BatchBuilder, lines: usize) {
        for _ in 0..lines {
            batch.push_line("10.0.0.1", &[b'x'; 1024]);
        }
        link.submit(batch);
    }

    /// Submit `batches` batches of `lines` lines; returns the builder for more.
    fn submit_batches(link: &mut Queue, batches: usize, lines: usize) -> BatchBuilder {
        let mut batch = BatchBuilder::new();
        for _ in 0..batches {
            submit(link, &mut batch, lines);
        }
        batch
    }

    fn received_seqs(rx: &IpcBytesReceiver) -> Vec<u64> {
        received(rx, &Slots::none())
            .into_iter()
            .map(|(seq, _)| seq)
            .collect()
    }

    /// What a writer gets: each batch's sequence number and the slot it was
    /// read from (`None`: sent whole).
    fn received(rx: &IpcBytesReceiver, slots: &Slots) -> Vec<(u64, Option<u32>)> {
        let mut got = Vec::new();
        while let Ok(bytes) = rx.try_recv() {
            let (batch, slot) = match SlotRef::decode(&bytes) {
                Some(r) => (
                    slots.read(r, <[u8]>::to_vec).expect("slot in bounds"),
                    Some(r.slot),
                ),
                None => (bytes, None),
            };
            got.push((BatchReader::new(&batch).expect("batch").0, slot));
        }
        got
    }

    fn ack(status: &mut UnixStream, link: &mut Queue, seq: u64) {
        status.write_all(&Status::Ack(seq).encode()).expect("ack");
        link.read_acks().expect("acks");
    }

    #[test]
    fn batches_go_in_slots_and_a_slot_is_refilled_only_after_its_ack() {
        let (mut link, rx, mut status) = link_with(3);
        submit_batches(&mut link, 5, 60);
        let first = received(&rx, &link.slots);
        assert_eq!(first.len(), 3, "one batch per slot in flight: {first:?}");
        assert!(first.iter().all(|(_, slot)| slot.is_some()), "{first:?}");
        ack(&mut status, &mut link, first[0].0);
        let next = received(&rx, &link.slots);
        assert_eq!(
            next,
            vec![(first[0].0 + 3, first[0].1)],
            "the freed slot is reused"
        );
        assert_eq!(link.unacknowledged(), 4);
        // Slots pin their memory; the batches' buffers went back for reuse.
        assert_eq!(
            link.held_bytes,
            3 * SLOT_BYTES + link.pending[0].bytes.capacity()
        );
    }

    #[test]
    fn a_batch_larger_than_a_slot_goes_whole_in_order() {
        let (mut link, rx, mut status) = link_with(2);
        let mut batch = BatchBuilder::new();
        submit(&mut link, &mut batch, 10);
        batch.push_line("10.0.0.1", &vec![b'y'; SLOT_BYTES + 1]);
        link.submit(&mut batch);
        submit(&mut link, &mut batch, 10);
        let got = received(&rx, &link.slots);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1), "{got:?}");
        assert_eq!(
            got.iter().map(|(_, s)| s.is_some()).collect::<Vec<_>>(),
            [true, false, true]
        );
        ack(&mut status, &mut link, got[2].0);
        assert!(link.is_idle());
        assert_eq!(link.held_bytes, 0);
        assert_eq!(link.free_slots.len(), 2);
    }

    #[test]
    fn acknowledged_is_everything_below_the_oldest_batch_held() {
        let (mut link, rx, mut status) = link_with(3);
        assert_eq!(link.acknowledged(), 0);
        let first = link.next_seq();
        submit_batches(&mut link, 4, 60);
        assert_eq!(link.acknowledged(), first - 1);
        let sent = received(&rx, &link.slots);
        ack(&mut status, &mut link, sent[1].0);
        assert_eq!(link.acknowledged(), sent[1].0);
        // Held again for a new writer, the unacknowledged stay unacknowledged.
        let _new_rx = replace_writer(&mut link);
        assert_eq!(link.acknowledged(), sent[1].0);
        assert_eq!(link.next_seq(), first + 4);
    }

    #[test]
    fn a_new_writer_is_sent_the_same_slots_again() {
        let (mut link, rx, mut status) = link_with(2);
        submit_batches(&mut link, 3, 60);
        let sent = received(&rx, &link.slots);
        ack(&mut status, &mut link, sent[0].0);
        let third = received(&rx, &link.slots);
        let new_rx = replace_writer(&mut link);
        let replayed = received(&new_rx, &link.slots);
        assert_eq!(replayed, vec![sent[1], third[0]]);
    }

    #[test]
    fn no_more_than_the_window_is_sent_before_acks() {
        let (mut link, rx, _status) = link();
        submit_batches(&mut link, 10, 60);
        let sent = received_seqs(&rx);
        let batch_bytes = 60 * (1024 + 4);
        assert_eq!(sent.len(), IN_FLIGHT_BYTES / batch_bytes, "{sent:?}");
        assert_eq!(link.unacknowledged(), 10);
        assert!(!link.is_idle());
    }

    #[test]
    fn acks_waiting_on_the_stream_are_collected_when_the_window_is_full() {
        let (mut link, rx, mut status) = link();
        let mut batch = submit_batches(&mut link, 10, 60);
        let first = received_seqs(&rx);
        // The writer acks everything it got; the loop has not polled yet.
        let last = *first.last().expect("some sent");
        status.write_all(&Status::Ack(last).encode()).expect("ack");
        // The next sealed batch finds the window full, reads the acks and
        // sends the queued batches without waiting for the next poll.
        submit(&mut link, &mut batch, 60);
        let next = received_seqs(&rx);
        assert_eq!(next.first(), Some(&(last + 1)), "{next:?}");
        assert_eq!(link.unacknowledged(), 11 - first.len());
    }

    #[test]
    fn acks_release_batches_and_a_new_writer_gets_the_rest_in_order() {
        let (mut link, rx, mut status) = link();
        submit_batches(&mut link, 5, 60);
        let sent = received_seqs(&rx);
        ack(&mut status, &mut link, sent[0]);
        assert_eq!(link.unacknowledged(), 4);

        let new_rx = replace_writer(&mut link);
        let replayed = received_seqs(&new_rx);
        assert_eq!(replayed.first(), Some(&(sent[0] + 1)), "{replayed:?}");
        assert!(
            replayed.windows(2).all(|w| w[1] == w[0] + 1),
            "{replayed:?}"
        );
    }

    #[test]
    fn small_batches_do_not_hold_recycled_full_size_buffers() {
        let (mut link, rx, mut status) = link();
        let mut batch = BatchBuilder::new();
        // Full batches, acknowledged: their buffers are kept for reuse.
        for _ in 0..MAX_SPARE_BUFFERS {
            submit(&mut link, &mut batch, 60);
        }
        while !link.is_idle() {
            let sent = received_seqs(&rx);
            ack(&mut status, &mut link, *sent.last().expect("sent"));
        }
        assert_eq!(link.spare.len(), MAX_SPARE_BUFFERS);
        let before = link.held_bytes;
        // Batches of one line each, as sealed by quiet loop turns, each
        // started in a recycled buffer.
        for _ in 0..MAX_SPARE_BUFFERS {
            submit(&mut link, &mut batch, 1);
        }
        let per_batch = (link.held_bytes - before) / MAX_SPARE_BUFFERS;
        assert!(
            per_batch < 2 * SMALL_BATCH_BYTES,
            "{per_batch} bytes held per one-line batch"
        );
    }

    #[test]
    fn a_closed_status_stream_is_a_failure() {
        let (mut link, _rx, status) = link();
        drop(status);
        assert!(matches!(link.read_acks(), Err(WriterFailure::WriterGone)));
    }
}

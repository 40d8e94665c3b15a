//! The receiver's end of the link to the writer: bounded queues, acks, replay.
//!
//! Owns: the sequence numbers, the batches not yet acknowledged (sent or not),
//! the queue bounds that make the receiver stop reading sockets, and replaying
//! unacknowledged batches to a new writer. Does not own: forking (see
//! [`crate::daemon::spawn`]) or deciding when to respawn (the receiver loop).
//!
//! A batch stays here from the moment it is sealed until the writer acks it
//! (after every handler wrote and flushed it). At most [`IN_FLIGHT_BYTES`] of it
//! are inside the socket at once, so `send` never blocks the event loop
//! (ipc-channel's send blocks when the socket buffer is full).

use std::collections::VecDeque;
use std::io::{self, Read};

use ipc_channel::ipc::IpcBytesSender;
use nix::unistd::Pid;

use crate::daemon::spawn::WriterProcess;
use crate::ipc::{BatchBuilder, Status, StatusDecoder};

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
    bytes: Vec<u8>,
    items: usize,
}

/// Why the link failed: the writer is gone.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the writer closed its status stream")]
    WriterGone,
    #[error("sending a batch to the writer failed: {0}")]
    Send(#[source] io::Error),
    #[error("reading from the writer failed: {0}")]
    Status(String),
}

#[derive(Debug)]
pub struct WriterLink {
    pid: Pid,
    data: IpcBytesSender,
    pub status: mio::net::UnixStream,
    decoder: StatusDecoder,
    next_seq: u64,
    /// Sent, not yet acknowledged, oldest first.
    in_flight: VecDeque<Held>,
    in_flight_bytes: usize,
    /// Sealed, not yet sent, oldest first.
    pending: VecDeque<Held>,
    held_items: usize,
    held_bytes: usize,
    limits: QueueLimits,
    /// Set when a send failed; the loop checks it and respawns.
    broken: Option<LinkError>,
    /// Buffers of acknowledged batches, reused for new ones.
    spare: Vec<Vec<u8>>,
}

/// Acknowledged batch buffers kept for reuse (each about one batch cap).
const MAX_SPARE_BUFFERS: usize = 8;

impl WriterLink {
    pub fn new(writer: WriterProcess, limits: QueueLimits) -> io::Result<WriterLink> {
        writer.status.set_nonblocking(true)?;
        Ok(WriterLink {
            pid: writer.pid,
            data: writer.data,
            status: mio::net::UnixStream::from_std(writer.status),
            decoder: StatusDecoder::default(),
            next_seq: 1,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
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

    /// Seal the batch (if it holds anything) and queue it for the writer.
    pub fn submit(&mut self, batch: &mut BatchBuilder) {
        if batch.is_empty() {
            return;
        }
        let items = batch.items();
        let seq = self.next_seq;
        self.next_seq += 1;
        let next = self.spare.pop().unwrap_or_default();
        let bytes = batch.take(seq, next);
        self.held_items += items;
        self.held_bytes += bytes.len();
        self.pending.push_back(Held { seq, bytes, items });
        self.pump();
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
    pub fn take_failure(&mut self) -> Option<LinkError> {
        self.broken.take()
    }

    /// Send queued batches while the socket has room.
    fn pump(&mut self) {
        if self.broken.is_some() {
            return;
        }
        while let Some(next) = self.pending.front() {
            if !self.in_flight.is_empty()
                && self.in_flight_bytes + next.bytes.len() > IN_FLIGHT_BYTES
            {
                break;
            }
            if let Err(e) = self.data.send(&next.bytes) {
                self.broken = Some(LinkError::Send(e));
                return;
            }
            if let Some(sent) = self.pending.pop_front() {
                self.in_flight_bytes += sent.bytes.len();
                self.in_flight.push_back(sent);
            }
        }
    }

    /// Read acks until the stream would block; release acknowledged batches.
    pub fn on_status_readable(&mut self) -> Result<(), LinkError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.status.read(&mut buf) {
                Ok(0) => return Err(LinkError::WriterGone),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LinkError::Status(e.to_string())),
            }
            while let Some(msg) = self
                .decoder
                .next_message()
                .map_err(|e| LinkError::Status(e.to_string()))?
            {
                if let Status::Ack(seq) = msg {
                    self.release(seq);
                }
            }
        }
        self.pump();
        Ok(())
    }

    /// Batches up to `seq` are written: forget them.
    fn release(&mut self, seq: u64) {
        while self.in_flight.front().is_some_and(|b| b.seq <= seq) {
            if let Some(done) = self.in_flight.pop_front() {
                self.in_flight_bytes -= done.bytes.len();
                self.held_items -= done.items;
                self.held_bytes -= done.bytes.len();
                if self.spare.len() < MAX_SPARE_BUFFERS {
                    self.spare.push(done.bytes);
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
    pub fn close(self) -> Pid {
        self.pid
    }
}

//! Batch slots: memory shared by the receiver and its writers, so that a batch
//! crosses to the writer as a 9-byte slot reference on the data channel
//! instead of as 64 KiB copied into the channel's socket and out again.
//!
//! Why: with batches sent whole, every batch is copied by the kernel into the
//! socket and out again, and the socket buffer those copies need also caps
//! how many batches can be in flight. Under load those copies cost more than
//! framing and formatting together.
//!
//! Owns: the shared mapping, slot references on the wire, and the rule that
//! keeps the two processes off each other's bytes. Does not own: which slots
//! are free or when batches are acknowledged ([`crate::link`]).
//!
//! The mapping is anonymous and `MAP_SHARED`, made by the receiver before it
//! forks its first writer, so every writer (a respawned one too) sees the same
//! pages; each writer makes its view read-only right after the fork. A slot is
//! the receiver's to fill until it sends a reference to it, then the writer's
//! to read until the writer acknowledges that batch; only then may the
//! receiver fill it again. A writer that dies is reaped before its
//! replacement starts, and the replacement gets the same references: the
//! bytes are still there, and no writer could have changed them.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};

use nix::sys::mman::{mprotect, munmap, ProtFlags};

/// One slot holds one batch of up to this many bytes: the receiver's batch
/// cap. Larger batches (one line longer than the cap) go whole on the channel.
pub const SLOT_BYTES: usize = 64 * 1024;

/// Slots made at start-up: the batches in flight to the writer at most.
pub const SLOT_COUNT: usize = 8;

/// Most slots made at start-up: 256 MiB of mapping.
pub const MAX_SLOT_COUNT: usize = 4096;

/// Slots for a writer that acknowledges late (a KafkaHandler waits for the
/// broker's acknowledgements, and a batch keeps its slot until then): as
/// many as a queue bounded at `max_queue_bytes` holds (a batch in a slot
/// counts a whole slot towards the bound), so the whole queue can be in
/// flight and cover the broker's round trip.
pub fn count_covering(max_queue_bytes: usize) -> usize {
    (max_queue_bytes / SLOT_BYTES).clamp(SLOT_COUNT, MAX_SLOT_COUNT)
}

/// First byte of a slot reference; a whole batch starts with its version (1).
const REF_TAG: u8 = 0xB5;
const REF_LEN: usize = 1 + 4 + 4;

/// "The batch is the first `len` bytes of slot `slot`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRef {
    pub slot: u32,
    pub len: u32,
}

impl SlotRef {
    /// The message sent on the data channel.
    pub fn encode(self) -> [u8; REF_LEN] {
        let mut m = [REF_TAG; REF_LEN];
        m[1..5].copy_from_slice(&self.slot.to_le_bytes());
        m[5..9].copy_from_slice(&self.len.to_le_bytes());
        m
    }

    /// A data channel message that is a slot reference; `None` for a whole batch.
    pub fn decode(m: &[u8]) -> Option<SlotRef> {
        if m.len() != REF_LEN || m[0] != REF_TAG {
            return None;
        }
        let word = |at: usize| u32::from_le_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
        Some(SlotRef {
            slot: word(1),
            len: word(5),
        })
    }
}

/// The shared slots. `Slots::none()` has no slot: every batch goes whole.
#[derive(Debug)]
pub struct Slots {
    base: Option<NonNull<c_void>>,
    count: usize,
    /// The memfd behind the mapping (receiver only), handed to each writer.
    fd: Option<OwnedFd>,
}

impl Slots {
    /// Map `count` slots, to be shared with writers through [`Slots::fd`].
    pub fn new(count: usize) -> std::io::Result<Slots> {
        let Some(len) = NonZeroUsize::new(count * SLOT_BYTES) else {
            return Ok(Slots::none());
        };
        let (base, fd) = super::shared_memory::create_shared(c"pysyslog-slots", len)?;
        Ok(Slots {
            base: Some(base),
            count,
            fd: Some(fd),
        })
    }

    /// Writer: map, read-only, the `count` slots the receiver made.
    pub fn from_fd(fd: OwnedFd, count: usize) -> std::io::Result<Slots> {
        let Some(len) = NonZeroUsize::new(count * SLOT_BYTES) else {
            return Ok(Slots::none());
        };
        let base = super::shared_memory::map_fd(&fd, len, false)?;
        Ok(Slots {
            base: Some(base),
            count,
            fd: None,
        })
    }

    /// The descriptor a writer maps the slots from; `None` without slots.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// No slots (the mapping could not be made, or tests of the whole-batch path).
    pub fn none() -> Slots {
        Slots {
            base: None,
            count: 0,
            fd: None,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Receiver: copy `batch` into `slot` and return its reference. `None`
    /// if it does not fit or there is no such slot. The caller must own the
    /// slot (no reference to it is unacknowledged): only the link's free list
    /// knows that, so this is not public outside the crate.
    pub(crate) fn fill(&mut self, slot: usize, batch: &[u8]) -> Option<SlotRef> {
        let base = self.base?;
        if slot >= self.count || batch.len() > SLOT_BYTES {
            return None;
        }
        // SAFETY: in bounds of the mapping (checked above); no writer reads
        // this slot now (the caller's ownership), and only this process writes.
        unsafe {
            let dst = base.as_ptr().cast::<u8>().add(slot * SLOT_BYTES);
            std::ptr::copy_nonoverlapping(batch.as_ptr(), dst, batch.len());
        }
        // The system call that sends the reference orders these bytes for
        // the writer; the fence states the rule and keeps the copy before it.
        fence(Ordering::SeqCst);
        Some(SlotRef {
            slot: u32::try_from(slot).ok()?,
            len: u32::try_from(batch.len()).ok()?,
        })
    }

    /// Writer: run `f` on the batch a reference names; `None` for a
    /// reference out of bounds. The batch is only lent to `f`: the writer
    /// acknowledges it after `f` returns, and only then may the receiver
    /// fill the slot again.
    pub fn read<T>(&self, r: SlotRef, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let base = self.base?;
        let (slot, len) = (r.slot as usize, r.len as usize);
        if slot >= self.count || len > SLOT_BYTES {
            return None;
        }
        // The reference arrived (a system call) before the bytes are read.
        fence(Ordering::SeqCst);
        // SAFETY: in bounds of the mapping; the receiver does not write this
        // slot until the writer acknowledges the batch, and the slice cannot
        // outlive `f`, which returns before the writer can acknowledge it.
        let batch = unsafe {
            std::slice::from_raw_parts(base.as_ptr().cast::<u8>().add(slot * SLOT_BYTES), len)
        };
        Some(f(batch))
    }

    /// Writer, right after the fork: this process may only read the slots.
    pub fn make_read_only(&self) -> std::io::Result<()> {
        let Some(base) = self.base else {
            return Ok(());
        };
        // SAFETY: changes the protection of our own mapping only; nothing in
        // the writer writes to it.
        unsafe { mprotect(base, self.count * SLOT_BYTES, ProtFlags::PROT_READ) }
            .map_err(std::io::Error::from)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        if let Some(base) = self.base.take() {
            // SAFETY: our mapping, no slice into it outlives `self`.
            let _ = unsafe { munmap(base, self.count * SLOT_BYTES) };
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn there_are_slots_for_the_whole_queue_within_bounds() {
        assert_eq!(count_covering(1024 * 1024), 16);
        assert_eq!(count_covering(16 * 1024 * 1024), 256);
        assert_eq!(count_covering(1), SLOT_COUNT);
        assert_eq!(count_covering(usize::MAX), MAX_SLOT_COUNT);
    }

    use super::*;

    #[test]
    fn a_reference_round_trips_and_is_never_a_batch() {
        let r = SlotRef {
            slot: 7,
            len: 65_536,
        };
        assert_eq!(SlotRef::decode(&r.encode()), Some(r));
        // A whole batch starts with its version byte.
        let mut batch = crate::ipc::BatchBuilder::new();
        batch.push_line("10.0.0.1", b"x");
        assert_eq!(SlotRef::decode(&batch.take(1, Vec::new())), None);
        assert_eq!(SlotRef::decode(&r.encode()[..8]), None);
    }

    #[test]
    fn filled_slots_read_back_and_bounds_are_checked() {
        let mut slots = Slots::new(2).expect("mmap");
        let a = slots.fill(0, b"first").expect("fits");
        let b = slots.fill(1, &vec![7u8; SLOT_BYTES]).expect("fits");
        assert_eq!(slots.read(a, <[u8]>::to_vec), Some(b"first".to_vec()));
        assert_eq!(slots.read(b, <[u8]>::len), Some(SLOT_BYTES));
        assert_eq!(slots.fill(2, b"no such slot"), None);
        assert_eq!(slots.fill(0, &vec![0u8; SLOT_BYTES + 1]), None);
        assert_eq!(slots.read(SlotRef { slot: 2, len: 1 }, <[u8]>::len), None);
        let too_long = SlotRef {
            slot: 0,
            len: SLOT_BYTES as u32 + 1,
        };
        assert_eq!(slots.read(too_long, <[u8]>::len), None);
        assert_eq!(Slots::none().fill(0, b"x"), None);
    }

    #[test]
    fn a_forked_child_reads_what_the_parent_filled_and_cannot_write() {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        let mut slots = Slots::new(1).expect("mmap");
        let r = slots.fill(0, b"shared").expect("fits");
        // SAFETY: the child only reads memory, calls mprotect and _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let same = slots.read(r, |b| b == b"shared") == Some(true);
                if !same || slots.make_read_only().is_err() {
                    // SAFETY: _exit without running the parent's destructors.
                    unsafe { libc::_exit(1) };
                }
                if let Some(base) = slots.base {
                    // SAFETY: none: this must fault (SIGSEGV), which is the test.
                    unsafe { std::ptr::write_volatile(base.as_ptr().cast::<u8>(), 0) };
                }
                // SAFETY: as above.
                unsafe { libc::_exit(2) };
            }
            ForkResult::Parent { child } => {
                assert_eq!(
                    waitpid(child, None).expect("wait"),
                    WaitStatus::Signaled(child, nix::sys::signal::Signal::SIGSEGV, false)
                );
                // The child's read-only view does not change ours.
                assert_eq!(slots.read(r, <[u8]>::to_vec), Some(b"shared".to_vec()));
                assert!(slots.fill(0, b"again").is_some());
            }
        }
    }
}

//! Memory shared with the writer processes forked later: an anonymous shared
//! mapping, made before the first fork so that every writer inherits it. The
//! batch slots and the counters page are both made here.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

/// `len` bytes, zero-filled, readable and writable, shared across fork.
pub fn map_shared(len: NonZeroUsize) -> std::io::Result<NonNull<c_void>> {
    // SAFETY: a fresh anonymous mapping at an address the kernel picks
    // overlaps nothing of ours.
    unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }
    .map_err(std::io::Error::from)
}

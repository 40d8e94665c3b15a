//! Memory shared with the writer processes: a sealed `memfd`, mapped by the
//! receiver and handed by descriptor to every writer, which maps it again
//! after `exec` (a writer shares no other memory with the receiver). The
//! batch slots and the counters page are both made here.
//!
//! The size is sealed (`F_SEAL_SHRINK | F_SEAL_GROW`) before the descriptor
//! leaves the process: a writer can never shrink the file under the
//! receiver's mapping (which would make the receiver fault on a slot).

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{mmap, MapFlags, ProtFlags};
use nix::sys::signal::{signal, SigHandler, Signal};

/// A new `memfd` of `len` bytes, zero-filled and sealed at that size, and
/// its mapping, readable and writable.
pub fn create_shared(
    name: &std::ffi::CStr,
    len: NonZeroUsize,
) -> std::io::Result<(NonNull<c_void>, OwnedFd)> {
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let size = libc::off_t::try_from(len.get())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // A file-size limit (RLIMIT_FSIZE) applies to a memfd too: past it the
    // kernel would end the process with SIGXFSZ; ignored for this one call,
    // the limit is an error and the caller goes on without shared memory.
    // SAFETY: swapping a signal disposition; SIG_IGN runs no code.
    let before = unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) };
    let sized = nix::unistd::ftruncate(&fd, size);
    if let Ok(before) = before {
        // SAFETY: restoring the disposition found above.
        let _ = unsafe { signal(Signal::SIGXFSZ, before) };
    }
    sized?;
    fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    let ptr = map_fd(&fd, len, true)?;
    Ok((ptr, fd))
}

/// Map `len` bytes of a shared `memfd` another process made; read-only
/// unless `writable`. The descriptor may be closed afterwards.
pub fn map_fd(
    fd: impl AsFd,
    len: NonZeroUsize,
    writable: bool,
) -> std::io::Result<NonNull<c_void>> {
    let size = nix::sys::stat::fstat(fd.as_fd())?.st_size;
    if usize::try_from(size).ok() < Some(len.get()) {
        // Mapping past its end would fault on first use instead of failing here.
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let prot = if writable {
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
    } else {
        ProtFlags::PROT_READ
    };
    // SAFETY: a fresh mapping at an address the kernel picks overlaps
    // nothing of ours; the file is at least `len` bytes (checked above) and
    // sealed against shrinking by its maker.
    unsafe { mmap(None, len, prot, MapFlags::MAP_SHARED, fd, 0) }.map_err(std::io::Error::from)
}

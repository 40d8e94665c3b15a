//! What every process of the collector does to itself before it holds a
//! secret or faces the network, with no privilege needed.
//!
//! - Descriptors inherited from the launcher (a shell's, a supervisor's, a
//!   test harness's) are closed: only the standard streams cross into the
//!   collector, so none reaches the writer or the receiver by accident.
//! - No core file (`RLIMIT_CORE` 0) and not dumpable (`PR_SET_DUMPABLE` 0):
//!   the TLS private key in memory never lands in a core file, and `/proc`
//!   readers other than root (the service user itself included) cannot read
//!   the process's memory. The kernel resets the dumpable flag when a process
//!   changes its uid or gid, so [`crate::privdrop::drop_to`] sets it again.
//!
//! Owns: those settings. Does not own: when they are applied (start-up, in
//! [`crate::daemon`], and after dropping privileges).

use std::io;

/// The first descriptor that is not a standard stream.
const FIRST_INHERITED: u32 = 3;

/// Close every descriptor from 3 up. Call before opening anything.
pub fn close_inherited_descriptors() -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; none from 3 up is in use
    // yet (this runs first thing at start-up).
    let done = unsafe { libc::syscall(libc::SYS_close_range, FIRST_INHERITED, u32::MAX, 0u32) };
    if done == 0 {
        return Ok(());
    }
    // Kernels before 5.9 (ENOSYS), and seccomp profiles written before
    // close_range existed (EPERM): list /proc/self/fd first, then close what
    // it named (the listing's own descriptor is closed when the listing ends).
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|&fd| fd >= FIRST_INHERITED as i32)
        .collect();
    for fd in open {
        // SAFETY: closing a descriptor nothing in this process uses; EBADF
        // (the listing's own, already closed) is harmless.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// No core file and not dumpable.
pub fn forbid_core_dumps() -> io::Result<()> {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit and prctl with plain integer arguments.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_becomes_undumpable_without_a_core_limit() {
        forbid_core_dumps().unwrap();
        // SAFETY: prctl with plain integer arguments.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
        let mut lim = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into `lim`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) }, 0);
        assert_eq!((lim.rlim_cur, lim.rlim_max), (0, 0));
    }
}

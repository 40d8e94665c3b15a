//! Confinement each process applies to itself once it holds what it needs:
//! `PR_SET_NO_NEW_PRIVS`, a Landlock ruleset ([`filesystem`]) and a seccomp
//! filter ([`syscalls`]), on any init system.
//!
//! - The receiver faces the network: no file-system access at all, no TCP
//!   bind or connect, and a seccomp allow-list of its steady-state calls.
//! - A writer may write only beneath the directories of its file handlers,
//!   read what name resolution and time zones need, connect only to the TCP
//!   ports its forwarding handlers name, and never exec, trace, mount, load
//!   BPF or the like (a seccomp deny-list).
//!
//! A kernel without Landlock or seccomp gets a warning, not a refusal: the
//! collector still runs, less confined, and says so ([`Support`] is what
//! `--check-config` reports).
//!
//! Owns: what each process is allowed, and applying it. Does not own: when
//! (the receiver once its listeners are handed to it, a writer once it has
//! its channel: [`crate::daemon`], [`crate::writer::boot`]).

mod error;
pub mod filesystem;
pub mod grants;
pub mod syscalls;

use std::io;

pub use error::ConfineError;
pub use grants::Grants;

/// How far the confinement went, for the log and `--check-config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Landlock ABI version enforced (`None`: not available).
    pub landlock_abi: Option<i32>,
    /// Whether the seccomp filter is in place.
    pub seccomp: bool,
    /// What could not be applied, one line each.
    pub warnings: Vec<String>,
}

/// What the running kernel offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    pub landlock_abi: Option<i32>,
    pub seccomp: bool,
}

impl Support {
    pub fn probe() -> Support {
        Support {
            landlock_abi: filesystem::abi_version(),
            seccomp: syscalls::available(),
        }
    }

    /// One line for `--check-config`.
    pub fn describe(&self) -> String {
        let landlock = match self.landlock_abi {
            Some(v) if v >= 4 => format!("Landlock ABI {v} (files and TCP ports)"),
            Some(v) => format!("Landlock ABI {v} (files only: no TCP port rules before ABI 4)"),
            None => "no Landlock (processes are not confined to their files)".to_owned(),
        };
        let seccomp = if self.seccomp {
            "seccomp filters"
        } else {
            "no seccomp (system calls are not filtered)"
        };
        format!("confinement: {landlock}; {seccomp}")
    }
}

/// `PR_SET_NO_NEW_PRIVS`: nothing this process execs can gain privileges.
pub fn no_new_privs() -> Result<(), ConfineError> {
    // SAFETY: prctl with plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(ConfineError::NoNewPrivs(io::Error::last_os_error()));
    }
    Ok(())
}

/// Confine the receiver: nothing of the file system, no TCP bind or connect,
/// only its steady-state system calls.
pub fn receiver() -> Applied {
    apply(filesystem::receiver(), syscalls::apply_receiver)
}

/// Confine a writer to `grants`.
pub fn writer(grants: &Grants) -> Applied {
    apply(filesystem::writer(grants), syscalls::apply_writer)
}

fn apply(
    landlock: Result<Option<i32>, ConfineError>,
    seccomp: impl FnOnce() -> Result<(), ConfineError>,
) -> Applied {
    let mut applied = Applied::default();
    if let Err(e) = no_new_privs() {
        applied.warnings.push(e.to_string());
    }
    match landlock {
        Ok(Some(abi)) => applied.landlock_abi = Some(abi),
        Ok(None) => applied
            .warnings
            .push("the kernel has no Landlock: file access is not confined".to_owned()),
        Err(e) => applied.warnings.push(e.to_string()),
    }
    match seccomp() {
        Ok(()) => applied.seccomp = true,
        Err(e) => applied.warnings.push(e.to_string()),
    }
    applied
}

//! Landlock rulesets: the receiver's (nothing at all) and a writer's.
//!
//! Owns: the access rights each process keeps. Uses the `landlock` crate
//! (maintained by Landlock's author; it degrades to what the running kernel
//! supports instead of failing on an older ABI).

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, ABI,
};

use super::error::ConfineError;
use super::grants::Grants;

/// The newest ABI this build knows; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V5;

/// Read-only for what a writer needs outside its directories: name
/// resolution (`/etc`, NSS modules in the library directories, a resolver
/// under `/run`), time zones (`/usr/share/zoneinfo`), its own `/proc` entries
/// (metrics).
const WRITER_READ: &[&str] = &["/etc", "/usr", "/lib", "/lib64", "/run", "/proc"];

/// The kernel's Landlock ABI version, if it has Landlock.
pub fn abi_version() -> Option<i32> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    // only returns the version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    (v > 0).then_some(v as i32)
}

fn err(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Landlock(e.to_string())
}

fn enforced(status: RulesetStatus) -> Option<i32> {
    match status {
        RulesetStatus::NotEnforced => None,
        _ => abi_version(),
    }
}

/// The receiver: every file-system access right handled and none granted;
/// TCP bind and connect handled with no port allowed. Its listeners are
/// already bound, its peers' sockets come from accept.
pub fn receiver() -> Result<Option<i32>, ConfineError> {
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .map_err(err)?
        .handle_access(AccessNet::from_all(ABI_WANTED))
        .map_err(err)?
        .create()
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    Ok(enforced(status.ruleset))
}

/// A writer: read-only where name resolution and time zones look; create,
/// write, truncate, rename and remove beneath its handlers' directories;
/// TCP connect to its forwarding ports only.
pub fn writer(grants: &Grants) -> Result<Option<i32>, ConfineError> {
    let read = AccessFs::from_read(ABI_WANTED) & !AccessFs::Execute;
    let write = AccessFs::from_all(ABI_WANTED)
        & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::MakeSock)
        & !(AccessFs::MakeFifo | AccessFs::MakeSym);
    let readable = WRITER_READ
        .iter()
        .filter(|p| std::path::Path::new(p).exists());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .map_err(err)?
        .handle_access(AccessNet::ConnectTcp | AccessNet::BindTcp)
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(readable, read))
        .map_err(err)?
        // Python's FileHandler may name /dev/null or a terminal.
        .add_rules(path_beneath_rules(
            ["/dev/null"],
            read | AccessFs::WriteFile,
        ))
        .map_err(err)?
        // A directory that does not exist cannot hold a rule; a handler there
        // fails to open as it would unconfined.
        .add_rules(path_beneath_rules(
            grants.write_dirs.iter().filter(|d| d.is_dir()),
            write,
        ))
        .map_err(err)?;
    for port in &grants.tcp_ports {
        ruleset = ruleset
            .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
            .map_err(err)?;
    }
    let status = ruleset.restrict_self().map_err(err)?;
    Ok(enforced(status.ruleset))
}

//! Landlock rulesets: the receiver's (nothing at all) and a writer's.
//!
//! Owns: the access rights each process keeps. Uses the `landlock` crate
//! (maintained by Landlock's author; it degrades to what the running kernel
//! supports instead of failing on an older ABI).

use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, ABI,
};

use super::error::ConfineError;
use super::grants::Grants;

/// The newest ABI this build knows; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V5;

/// Files a writer reads outside its directories, read-only: the local time
/// zone (read before confinement too, and again by the C library when the
/// zone changes) and name resolution for its forwarding handlers (the C
/// library's configuration, and `ld.so.cache`, through which it finds the
/// NSS modules). Nothing else in `/etc`: as root (no `--user`) every file
/// there would be readable, the TLS key among them.
///
/// A rule holds the file it names when the writer starts: a file replaced by
/// a new one (a rename, as some editors and resolver managers do) is read by
/// the next writer (a restart, or a reload's hand-over); one rewritten in
/// place is read at once.
const WRITER_READ_FILES: &[&str] = &[
    "/etc/localtime",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ld.so.cache",
];

/// Directories a writer reads beneath: the zone files (`TZ` names one
/// there), and the libraries NSS modules are loaded from. No `/proc`: the
/// writer's usage is read by the monitor, and what a writer reads of its
/// own `/proc` entries it reads before it is confined.
const WRITER_READ_DIRS: &[&str] = &[
    "/usr/share/zoneinfo",
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
];

/// What a writer may read: [`WRITER_READ_FILES`], [`WRITER_READ_DIRS`], and
/// the directory of the file `/etc/resolv.conf` links to, if it is a link
/// (systemd-resolved and resolvconf replace that file as the network
/// changes, and a rule on the file alone would keep the old one).
fn writer_reads() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = WRITER_READ_FILES
        .iter()
        .chain(WRITER_READ_DIRS)
        .map(PathBuf::from)
        .collect();
    let resolver = Path::new("/etc/resolv.conf");
    if resolver.is_symlink() {
        let dir = std::fs::canonicalize(resolver)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf));
        // Never the whole of /etc (or /) for it.
        if let Some(dir) = dir.filter(|d| !Path::new("/etc").starts_with(d)) {
            paths.push(dir);
        }
    }
    paths
}

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

/// A writer: read-only what name resolution and time zones need; create,
/// write, truncate, rename and remove beneath its handlers' directories;
/// TCP connect to its forwarding ports only.
pub fn writer(grants: &Grants) -> Result<Option<i32>, ConfineError> {
    let read = AccessFs::from_read(ABI_WANTED) & !AccessFs::Execute;
    let write = AccessFs::from_all(ABI_WANTED)
        & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::MakeSock)
        & !(AccessFs::MakeFifo | AccessFs::MakeSym);
    // A path that does not exist holds no rule (and is skipped).
    let readable = writer_reads();
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

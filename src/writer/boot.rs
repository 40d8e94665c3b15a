//! A writer's first steps after exec: take the three descriptors it was
//! given, get its data channel, then run the writer's loop.
//!
//! Owns: the hidden sub-command's argument vector, which descriptor is which,
//! the one-shot server the writer receives [`WriterBoot`] on, and refusing to
//! run when started by anything but the collector. Does not own: the loop
//! ([`super::run`]) or how the parent got here ([`crate::link`]).
//!
//! ```text
//! pysyslog-writer __writer SLOTS
//!   fd 3  status stream (a Unix stream socket to the receiver)
//!   fd 4  the batch slots' memfd (SLOTS slots; absent when SLOTS is 0)
//!   fd 5  the counters page's memfd (absent: no counters)
//! ```
//!
//! ipc-channel ends cannot be inherited across exec, so the writer opens an
//! ipc-channel one-shot server (a socket in a private temporary directory),
//! names it on the status stream, and the parent connects and sends the
//! [`WriterBoot`] message there, with the data channel's receiving end in it.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use ipc_channel::ipc::{IpcBytesReceiver, IpcOneShotServer};

use super::EXIT_CONFIG;
use crate::confine::Grants;
use crate::control::{EngineSource, Start};
use crate::ipc::counters::SharedCounters;
use crate::ipc::{Slots, Status};

/// The hidden sub-command (first argument) that makes the binary a writer.
pub const SUBCOMMAND: &str = "__writer";

pub const STATUS_FD: RawFd = 3;
pub const SLOTS_FD: RawFd = 4;
pub const COUNTERS_FD: RawFd = 5;

/// How long the writer waits for its parent to send [`WriterBoot`]: a parent
/// that died in between must not leave it waiting for ever.
const BOOT_TIMEOUT_SECS: u32 = 30;

/// What the monitor sends a new writer, once, over its one-shot server:
/// everything in it is the monitor's own (its configuration and settings),
/// but for the data channel the receiver made.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WriterBoot {
    /// Batches (or references to slots) arrive here.
    pub data: IpcBytesReceiver,
    pub source: EngineSource,
    pub start: Start,
    /// How lines become records (`--parse-syslog` and its options), from
    /// the monitor's own settings.
    pub records: super::records::RecordOptions,
    /// `--spool-dir` and its options, from the monitor's own settings.
    pub spool: Option<crate::spool::Settings>,
}

/// The writer's argument vector (`argv[0]` names it in `ps`).
pub fn argv(slot_count: usize) -> Vec<CString> {
    [
        "pysyslog-writer".to_owned(),
        SUBCOMMAND.to_owned(),
        slot_count.to_string(),
    ]
    .into_iter()
    .filter_map(|a| CString::new(a).ok())
    .collect()
}

/// Whether `fd` is open and a socket.
fn is_socket(fd: RawFd) -> bool {
    // SAFETY: fstat writes into a zeroed struct; a closed fd is EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    unsafe { libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK }
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// The writer process's `main`: `args` are the arguments after the
/// sub-command. Returns the exit status.
pub fn main(args: &[String]) -> i32 {
    // exec made the process dumpable again; the name is for ps and top.
    let _ = crate::hardening::forbid_core_dumps();
    let _ = nix::sys::prctl::set_name(c"pysyslog-writer");
    if !is_socket(STATUS_FD) {
        crate::say!(
            "pysyslog: error: '{SUBCOMMAND}' is how the collector starts its writer processes; it is not run by hand"
        );
        return 2;
    }
    // SAFETY: descriptor 3 is the status stream the parent placed there
    // (checked to be a socket), owned by nothing else in this process.
    let mut status = unsafe { UnixStream::from_raw_fd(STATUS_FD) };
    let fail = |status: &mut UnixStream, text: String| {
        let _ = status.write_all(&Status::Failed(format!("writer: {text}")).encode());
        EXIT_CONFIG
    };
    let slot_count: usize = match args.first().map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => return fail(&mut status, format!("bad arguments {args:?}")),
    };
    let slots = if slot_count > 0 && is_open(SLOTS_FD) {
        // SAFETY: descriptor 4 is the slots' memfd, owned by nothing else.
        match Slots::from_fd(unsafe { OwnedFd::from_raw_fd(SLOTS_FD) }, slot_count) {
            Ok(slots) => slots,
            Err(e) => return fail(&mut status, format!("cannot map the batch slots: {e}")),
        }
    } else {
        Slots::none()
    };
    let counters = if is_open(COUNTERS_FD) {
        // SAFETY: descriptor 5 is the counters' memfd, owned by nothing else.
        match SharedCounters::from_fd(unsafe { OwnedFd::from_raw_fd(COUNTERS_FD) }) {
            Ok(counters) => counters,
            Err(e) => return fail(&mut status, format!("cannot map the counters page: {e}")),
        }
    } else {
        SharedCounters::none()
    };
    let boot = match receive_boot(&mut status) {
        Ok(boot) => boot,
        Err(e) => return fail(&mut status, e.to_string()),
    };
    // Reading stdout and stderr again needs a path the confinement forbids.
    let begin = super::Begin::prepare(boot.start);
    // Confined before the engine opens anything: the handlers' files are
    // opened under the same rules as every later reopen and rotation.
    let parsed: Vec<_> = boot
        .source
        .configs()
        .into_iter()
        .filter_map(|text| text.parse().ok())
        .collect();
    // A DynamicFileHandler's directory must exist to be granted.
    for config in &parsed {
        for handler in &config.handlers {
            if let crate::logging::spec::HandlerClass::Dynamic(d) = &handler.class {
                crate::logging::handler::dynamic::prepare_base(d);
            }
        }
    }
    let mut grants = Grants::for_configs(&parsed);
    // Its backlogs: the directory the monitor checked at start-up, alone.
    if let Some(spool) = &boot.spool {
        grants.write_dirs.insert(spool.dir.clone());
    }
    crate::spool::init(boot.spool.clone());
    // The zone is read while it may be: the writer's later reads of zone
    // files are what its confinement leaves it (see crate::confine).
    crate::privdrop::preload_time_zone();
    let applied = crate::confine::writer(&grants);
    for warning in &applied.warnings {
        crate::say!("pysyslog-writer: warning: not confined as designed: {warning}");
    }
    if let Some(crate::fault::Fault::WriterRead(paths)) = crate::fault::injected() {
        try_reading(&paths);
    }
    super::run(
        &boot.source,
        boot.records,
        begin,
        boot.data,
        status,
        &slots,
        &counters,
        &grants,
    )
}

/// `PYSYSLOG_FAULT_INJECT=writer-read:...` (see [`crate::fault`]): try to
/// read each path, confined, and say how it went.
fn try_reading(paths: &[std::path::PathBuf]) {
    for path in paths {
        let how = match std::fs::read(path) {
            Ok(bytes) => format!("read {} bytes", bytes.len()),
            Err(e) => e.to_string(),
        };
        crate::say!(
            "pysyslog-writer: fault injection: reading {}: {how}",
            path.display()
        );
    }
}

/// Why a writer did not get its boot message.
#[derive(Debug, thiserror::Error)]
enum BootError {
    #[error("cannot create the channel to the receiver: {0}")]
    Channel(#[source] std::io::Error),
    #[error("cannot reach the receiver: {0}")]
    Status(#[source] std::io::Error),
    #[error("did not receive its channel from the receiver: {0}")]
    Receive(String),
}

fn receive_boot(status: &mut UnixStream) -> Result<WriterBoot, BootError> {
    let (server, name) = IpcOneShotServer::<WriterBoot>::new().map_err(BootError::Channel)?;
    status
        .write_all(&Status::Bootstrap(name).encode())
        .map_err(BootError::Status)?;
    // SAFETY: alarm only arms a timer; SIGALRM's default action ends the
    // process if the parent never connects.
    unsafe { libc::alarm(BOOT_TIMEOUT_SECS) };
    let accepted = server.accept();
    // SAFETY: as above, disarming it.
    unsafe { libc::alarm(0) };
    let (_rest, boot) = accepted.map_err(|e| BootError::Receive(format!("{e:?}")))?;
    Ok(boot)
}

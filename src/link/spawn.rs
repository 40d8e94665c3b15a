//! Forking the writer process.
//!
//! Owns: creating the two channels, `fork`, what the child does before it
//! becomes a writer (signals, inherited descriptors, process name, privileges),
//! waiting for its Ready, and reaping it. Does not own: the writer's loop
//! ([`crate::writer`]) or when to respawn ([`super::WriterLink`]).

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcBytesSender};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::ipc::counters::SharedCounters;
use crate::ipc::{Slots, Status, StatusDecoder};
use crate::privdrop::{self, Identity, PrivError};
use crate::writer::{self, EngineSource};

/// How long a new writer may take to build its handlers before start-up fails.
pub const WRITER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running writer as the receiver sees it.
#[derive(Debug)]
pub struct WriterProcess {
    pub pid: Pid,
    /// Batches go here.
    pub data: IpcBytesSender,
    /// Ready/Failed/acks come from here (blocking until the receiver makes it non-blocking).
    pub status: UnixStream,
}

/// Why a writer could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot create the channel to the writer process: {0}")]
    Channel(#[source] io::Error),
    #[error("cannot fork the writer process: {0}")]
    Fork(#[source] nix::Error),
    /// The writer could not apply the logging configuration.
    #[error("{0}")]
    Config(String),
    /// The receiver could not drop privileges.
    #[error("{0}")]
    Privileges(#[source] PrivError),
    #[error("the writer process (pid {pid}) did not become ready: {reason}")]
    NotReady { pid: Pid, reason: String },
}

/// Open descriptors of this process, from /proc/self/fd.
fn open_fds() -> BTreeSet<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Fork a writer to replace one that died, and wait until it reports Ready.
/// It is told it follows a dead writer: what that one left half-written
/// belongs to a batch it never acknowledged, which is replayed whole (see
/// [`writer::Start::AfterCrash`]).
///
/// Must be called while the process is single-threaded (the receiver's loop,
/// which starts no threads).
pub fn spawn_writer(
    source: &EngineSource,
    slots: &Slots,
    counters: &SharedCounters,
) -> Result<WriterProcess, SpawnError> {
    spawn(source, None, slots, counters, writer::Start::AfterCrash)
}

/// [`spawn_writer`], dropping privileges to `identity` in both processes: the
/// child before it builds its engine (so output files are created by the
/// service user, as a later reopen will), the parent (the receiver) right
/// after the fork, before it waits for the child.
///
/// The child reads batches from `slots` (made before any writer was forked),
/// through a read-only view of them.
pub fn spawn_writer_as(
    source: &EngineSource,
    identity: Option<&Identity>,
    slots: &Slots,
    counters: &SharedCounters,
) -> Result<WriterProcess, SpawnError> {
    spawn(source, identity, slots, counters, writer::Start::First)
}

fn spawn(
    source: &EngineSource,
    identity: Option<&Identity>,
    slots: &Slots,
    counters: &SharedCounters,
    start: writer::Start,
) -> Result<WriterProcess, SpawnError> {
    // The channel's descriptors are the ones that appear while it is created:
    // ipc-channel does not expose them, and the child must keep them open while
    // closing everything else it inherited (listeners, peers' sockets, epoll).
    let before = open_fds();
    let (data_tx, data_rx) = ipc::bytes_channel().map_err(SpawnError::Channel)?;
    let channel_fds: Vec<RawFd> = open_fds().difference(&before).copied().collect();
    let (mut status_rx, status_tx) = UnixStream::pair().map_err(SpawnError::Channel)?;

    // SAFETY: the process is single-threaded here (no thread is ever started by
    // the receiver: no ipc-channel ROUTER, signals arrive through a mio source),
    // so the child is a complete copy and may allocate and run ordinary code.
    match unsafe { fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            drop(data_tx);
            drop(status_rx);
            let mut keep = vec![0, 1, 2, status_tx.as_raw_fd()];
            keep.extend(channel_fds);
            for fd in open_fds() {
                if !keep.contains(&fd) {
                    // SAFETY: closing inherited descriptors this child never uses;
                    // the objects owning them in the copied receiver are never used
                    // here and the process exits without dropping them.
                    unsafe { libc::close(fd) };
                }
            }
            // The receiver decides when to stop; a terminal ^C or a HUP to the
            // process group must not kill the writer while it holds lines.
            for sig in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGTERM] {
                // SAFETY: installing SIG_IGN runs no handler code.
                let _ = unsafe { signal(sig, SigHandler::SigIgn) };
            }
            let _ = nix::sys::prctl::set_name(c"pysyslog-writer");
            if let Err(e) = slots.make_read_only() {
                let mut status_tx = status_tx;
                let _ = status_tx.write_all(
                    &Status::Failed(format!("writer: cannot protect the batch slots: {e}"))
                        .encode(),
                );
                std::process::exit(writer::EXIT_CONFIG);
            }
            if let Some(id) = identity {
                if let Err(e) = privdrop::drop_to(id) {
                    let mut status_tx = status_tx;
                    let _ = status_tx.write_all(&Status::Failed(format!("writer: {e}")).encode());
                    std::process::exit(writer::EXIT_CONFIG);
                }
            }
            let code = writer::run(source, start, data_rx, status_tx, slots, counters);
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(data_rx);
            drop(status_tx);
            if let Some(id) = identity {
                if let Err(e) = privdrop::drop_to(id) {
                    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                    reap(child, Duration::from_secs(1));
                    return Err(SpawnError::Privileges(e));
                }
            }
            wait_ready(child, &mut status_rx)?;
            Ok(WriterProcess {
                pid: child,
                data: data_tx,
                status: status_rx,
            })
        }
    }
}

/// Block until the writer says Ready (or Failed, or dies, or times out).
fn wait_ready(pid: Pid, status: &mut UnixStream) -> Result<(), SpawnError> {
    let deadline = Instant::now() + WRITER_READY_TIMEOUT;
    let mut decoder = StatusDecoder::default();
    let mut buf = [0u8; 4096];
    let not_ready = |reason: String| SpawnError::NotReady { pid, reason };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            reap(pid, Duration::from_secs(1));
            return Err(not_ready(format!(
                "no answer within {}s",
                WRITER_READY_TIMEOUT.as_secs()
            )));
        }
        status
            .set_read_timeout(Some(left))
            .map_err(|e| not_ready(e.to_string()))?;
        match status.read(&mut buf) {
            Ok(0) => {
                let how = reap(pid, Duration::from_secs(5));
                return Err(not_ready(format!("it exited ({how})")));
            }
            Ok(n) => decoder.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(not_ready(e.to_string())),
        }
        match decoder.next_message() {
            Ok(Some(Status::Ready)) => return Ok(()),
            Ok(Some(Status::Failed(message))) => {
                reap(pid, Duration::from_secs(5));
                return Err(SpawnError::Config(message));
            }
            Ok(Some(Status::Ack(_))) | Ok(None) => {}
            Err(e) => return Err(not_ready(e.to_string())),
        }
    }
}

/// Wait up to `patience` for `pid` to exit, then kill it; describe how it ended.
pub fn reap(pid: Pid, patience: Duration) -> String {
    let deadline = Instant::now() + patience;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return format!("exit status {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => return format!("killed by {sig}"),
            Ok(WaitStatus::StillAlive) | Ok(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(_) => {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return format!(
                    "killed after not exiting within {}s",
                    patience.as_secs_f32()
                );
            }
            Err(e) => return format!("cannot wait for it: {e}"),
        }
    }
}

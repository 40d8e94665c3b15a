//! Starting a writer process: fork, then exec of the collector's own binary.
//!
//! Owns: the status stream, `fork`, what the child does before it execs
//! (signals, descriptors), handing the new writer its data channel through
//! ipc-channel's one-shot server, waiting for its Ready, and reaping it. Runs
//! in the monitor, which has dropped privileges already, so writers run as
//! the service user. Does not own: the writer's loop ([`crate::writer`]), what
//! the writer does after exec ([`crate::writer::boot`]), when to respawn
//! ([`crate::link::WriterLink`]), how the receiver asks
//! ([`super::control`]) or what a writer boots with ([`super::writers`]).
//!
//! Why exec: a forked copy would carry the monitor's heap (the TLS private
//! key among it) and its address-space layout into a process that parses
//! configuration and writes files. After exec the writer shares nothing but
//! the three descriptors it is given: the status stream, the batch slots
//! (read-only) and the counters page.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcBytesReceiver, IpcSender};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::control::{self, EngineSource, SpawnError, WRITER_READY_TIMEOUT};
use crate::ipc::counters::SharedCounters;
use crate::ipc::{Slots, Status, StatusDecoder};
use crate::writer;
use crate::writer::boot::{self, WriterBoot};

/// A writer that said Ready: its pid and the receiver's end of its status
/// stream (its data channel's sending end stayed with the receiver).
#[derive(Debug)]
pub struct SpawnedWriter {
    pub pid: Pid,
    pub status: UnixStream,
}

/// Start a writer and wait until it reports Ready. `start` says whether it
/// follows a dead writer: what that one left half-written belongs to a batch
/// it never acknowledged, which is replayed whole (see
/// [`control::Start::AfterCrash`]).
///
/// Must be called while the process is single-threaded (the monitor, which
/// starts no threads).
pub fn spawn(
    data: IpcBytesReceiver,
    source: &EngineSource,
    (slots, counters): (&Slots, &SharedCounters),
    start: control::Start,
    (records, spool): (
        &writer::records::RecordOptions,
        &Option<crate::spool::Settings>,
    ),
) -> Result<SpawnedWriter, SpawnError> {
    let (mut status_rx, status_tx) = UnixStream::pair().map_err(SpawnError::Channel)?;
    // Built before the fork: the child only moves descriptors and execs.
    let argv = boot::argv(slots.count());
    let inherited = [Some(status_tx.as_fd()), slots.fd(), counters.fd()];

    // SAFETY: the monitor is single-threaded (it starts no thread: signals
    // come through signal-hook's self-pipe), so the child may run ordinary
    // code until it execs.
    match unsafe { fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            let failure = exec_writer(&argv, inherited);
            // Only reached when exec failed; the status stream is still fd 3.
            // SAFETY: descriptor 3 is the status stream (moved there above)
            // or closed, in which case the write fails harmlessly.
            let mut status =
                unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(boot::STATUS_FD) };
            let _ = status.write_all(&Status::Failed(failure).encode());
            // SAFETY: leave without running the copied monitor's destructors.
            unsafe { libc::_exit(writer::EXIT_CONFIG) };
        }
        ForkResult::Parent { child } => {
            drop(status_tx);
            let mut boot = Some(WriterBoot {
                data,
                source: source.clone(),
                start,
                records: records.clone(),
                spool: spool.clone(),
            });
            wait_ready(child, &mut status_rx, &mut boot)?;
            Ok(SpawnedWriter {
                pid: child,
                status: status_rx,
            })
        }
    }
}

/// In the forked child: the status stream, the slots and the counters page
/// become descriptors 3, 4 and 5 and every other one is closed; signals the
/// collector handles are ignored (the receiver decides when a writer stops:
/// a terminal ^C or a HUP to the process group must not kill it while it
/// holds lines; ignored signals stay ignored across exec); then exec.
/// Returns only on failure, with what failed.
fn exec_writer(argv: &[std::ffi::CString], inherited: [Option<BorrowedFd<'_>>; 3]) -> String {
    for sig in [
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGUSR1,
    ] {
        // SAFETY: installing SIG_IGN runs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    // The monitor's handler for SIGCHLD (signal-hook's) does not survive
    // exec anyway; the mask is cleared so the writer gets what it expects.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    // First above every target, so that moving one cannot overwrite another.
    let mut staged: [RawFd; 3] = [-1; 3];
    for (slot, fd) in staged.iter_mut().zip(inherited) {
        if let Some(fd) = fd {
            // SAFETY: duplicating a descriptor we hold.
            *slot = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 16) };
            if *slot < 0 {
                return format!(
                    "writer: cannot pass descriptors: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
    for (target, fd) in (boot::STATUS_FD..).zip(staged) {
        // SAFETY: dup2 onto 3, 4, 5 (clearing close-on-exec there), or
        // closing a target that has nothing to receive.
        let done = unsafe {
            if fd >= 0 {
                libc::dup2(fd, target)
            } else {
                libc::close(target);
                0
            }
        };
        if done < 0 {
            return format!(
                "writer: cannot pass descriptors: {}",
                io::Error::last_os_error()
            );
        }
    }
    // SAFETY: closes every descriptor above the three passed on: listeners,
    // peers' sockets, epoll and the staged copies never reach the writer.
    unsafe { libc::syscall(libc::SYS_close_range, boot::COUNTERS_FD + 1, u32::MAX, 0u32) };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: a NUL-terminated argv of C strings that outlive the call; the
    // environment is passed as it is (TZ, the locale).
    unsafe { libc::execv(c"/proc/self/exe".as_ptr(), ptrs.as_ptr()) };
    format!(
        "writer: cannot execute the collector's binary (/proc/self/exe): {}",
        io::Error::last_os_error()
    )
}

/// Block until the writer says Ready (or Failed, or dies, or times out);
/// when it names its one-shot server, send it `boot` there.
fn wait_ready(
    pid: Pid,
    status: &mut UnixStream,
    boot: &mut Option<WriterBoot>,
) -> Result<(), SpawnError> {
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
        loop {
            match decoder.next_message() {
                Ok(Some(Status::Ready)) => return Ok(()),
                Ok(Some(Status::Failed(message))) => {
                    reap(pid, Duration::from_secs(5));
                    return Err(SpawnError::Config(message));
                }
                Ok(Some(Status::Bootstrap(name))) => {
                    let handed = match boot.take() {
                        Some(message) => IpcSender::<WriterBoot>::connect(name)
                            .map_err(|e| format!("cannot reach it: {e}"))
                            .and_then(|tx| {
                                tx.send(message)
                                    .map_err(|e| format!("cannot hand it its channel: {e}"))
                            }),
                        None => Err("it asked for its channel twice".to_owned()),
                    };
                    if let Err(reason) = handed {
                        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                        reap(pid, Duration::from_secs(1));
                        return Err(not_ready(reason));
                    }
                }
                Ok(Some(Status::Ack(_) | Status::Retire(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                    reap(pid, Duration::from_secs(1));
                    return Err(not_ready(e.to_string()));
                }
            }
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

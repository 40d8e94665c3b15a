//! The monitor: the process the collector was started as, once start-up is
//! done. It forks the receiver and then only supervises.
//!
//! ```text
//!   monitor (pid file, readiness, signals; starts and reaps writers)
//!    ├── receiver  (network: listeners, connections, the link)
//!    └── writer    (fork + exec of our binary: outputs)
//! ```
//!
//! Owns: forking the receiver; starting writers when the receiver asks
//! ([`spawn`], over [`control`]) and reaping them; passing SIGHUP, SIGTERM
//! and SIGINT on to the receiver (which leaves the terminal's process group,
//! so that a ^C reaches it once); telling the launcher (`--daemonize`) and
//! systemd (`NotifyAccess=main`) what the receiver reports; leaving with the
//! receiver's exit status, the pid file removed by its owner. Does not own:
//! start-up ([`crate::daemon`]), the receiver or the writer.
//!
//! Why a separate process: writers are started by the process that holds
//! nothing a network peer could reach, and a process that starts writers by
//! exec cannot be confined more than they are (Landlock and seccomp are
//! inherited). The receiver never forks or execs, so it can be confined to
//! what its steady state needs.

pub mod control;
pub mod spawn;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcReceiver;
use ipc_channel::{IpcError, TryRecvError};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::ipc::counters::SharedCounters;
use crate::ipc::Slots;
use control::{send_answer, Answer, Request, ServiceState};

/// How the monitor tells the world about the receiver's state: the
/// launcher's readiness pipe (`--daemonize`) and systemd.
pub trait StateSink {
    fn report(&mut self, state: &ServiceState);
}

/// The monitor's wake-up when nothing happens: signals and requests wake it
/// sooner (a signal interrupts the wait).
const TICK: Duration = Duration::from_secs(1);

/// How long writers left behind by a receiver that ended are given to exit
/// (they finish what they hold first).
const WRITER_EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// Why the monitor could not supervise.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot set up the monitor's signals: {0}")]
    Signals(#[source] io::Error),
}

/// What the monitor needs to start writers for the receiver.
pub struct Supervised<'a> {
    pub receiver: Pid,
    pub requests: IpcReceiver<Request>,
    pub answers: UnixStream,
    pub slots: &'a Slots,
    pub counters: &'a SharedCounters,
}

/// Supervise until the receiver ends; returns the exit status the collector
/// leaves with (the receiver's, or 1 when it was killed).
pub fn supervise(job: Supervised<'_>, sink: &mut dyn StateSink) -> Result<i32, MonitorError> {
    let mut signals =
        Signals::new([SIGHUP, SIGINT, SIGTERM, SIGCHLD]).map_err(MonitorError::Signals)?;
    let mut writers: Vec<Pid> = Vec::new();
    let mut requests_open = true;
    let ended = loop {
        for sig in signals.pending() {
            let pass = match sig {
                SIGHUP => Some(Signal::SIGHUP),
                SIGINT => Some(Signal::SIGINT),
                SIGTERM => Some(Signal::SIGTERM),
                _ => None,
            };
            if let Some(sig) = pass {
                let _ = kill(job.receiver, sig);
            }
        }
        if let Some(status) = receiver_ended(job.receiver, false) {
            break status;
        }
        if !requests_open {
            // The receiver closed its end: it is exiting.
            if let Some(status) = receiver_ended(job.receiver, true) {
                break status;
            }
            continue;
        }
        match job.requests.try_recv_timeout(TICK) {
            Ok(request) => serve(request, &job, &mut writers, sink),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::IpcError(IpcError::Io(e)))
                if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => requests_open = false,
        }
    };
    // What the receiver said last (a start-up failure) is told before the
    // monitor leaves.
    while let Ok(request) = job.requests.try_recv() {
        if let Request::State(state) = request {
            sink.report(&state);
        }
    }
    finish_writers(&mut writers);
    Ok(match ended {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(pid, sig, _) => {
            eprintln!("pysyslog: error: the receiver process (pid {pid}) was killed by {sig}");
            1
        }
        _ => 1,
    })
}

/// The receiver's end, if it has ended (waiting for it with `block`).
fn receiver_ended(receiver: Pid, block: bool) -> Option<WaitStatus> {
    let flags = if block {
        None
    } else {
        Some(WaitPidFlag::WNOHANG)
    };
    match waitpid(receiver, flags) {
        Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => Some(s),
        Ok(_) => None,
        Err(nix::errno::Errno::EINTR) => None,
        // Not our child any more (never happens): nothing to wait for.
        Err(_) => Some(WaitStatus::Exited(receiver, 1)),
    }
}

fn serve(request: Request, job: &Supervised<'_>, writers: &mut Vec<Pid>, sink: &mut dyn StateSink) {
    match request {
        Request::Spawn {
            data,
            source,
            start,
        } => {
            let sent = match spawn::spawn(data, &source, job.slots, job.counters, start) {
                Ok(writer) => {
                    writers.push(writer.pid);
                    send_answer(
                        &job.answers,
                        &Answer::Spawned {
                            pid: writer.pid.as_raw(),
                        },
                        Some(writer.status.as_raw_fd()),
                    )
                    // The monitor's copy of the stream closes here: the
                    // receiver holds the only one.
                }
                Err(e) => send_answer(&job.answers, &Answer::failed(&e), None),
            };
            if let Err(e) = sent {
                eprintln!("pysyslog: error: cannot answer the receiver: {e}");
            }
        }
        Request::Reap { pid, patience_ms } => {
            let pid = Pid::from_raw(pid);
            let how = if writers.contains(&pid) {
                writers.retain(|w| *w != pid);
                spawn::reap(pid, Duration::from_millis(patience_ms))
            } else {
                "not known: not a writer of this collector".to_owned()
            };
            if let Err(e) = send_answer(&job.answers, &Answer::Ended { how }, None) {
                eprintln!("pysyslog: error: cannot answer the receiver: {e}");
            }
        }
        Request::State(state) => sink.report(&state),
    }
}

/// After the receiver: its writers finish what they hold (their data channel
/// closed) and exit; any still running after the patience is killed.
fn finish_writers(writers: &mut Vec<Pid>) {
    let deadline = Instant::now() + WRITER_EXIT_PATIENCE;
    for pid in writers.drain(..) {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = spawn::reap(pid, left);
    }
}

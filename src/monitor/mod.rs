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
//! ([`spawn`], over [`control`]), from its own copy of the logging
//! configuration and one at a time ([`writers`]), and reaping them; on
//! SIGHUP, reading the logging configuration and the TLS files (these not
//! under `--user`: [`TlsReread`]) again and sending them to the receiver
//! (which may open no file); passing SIGTERM and SIGINT on to the
//! receiver (which leaves the terminal's process group, so that a ^C
//! reaches it once); telling the launcher (`--daemonize`) and
//! systemd (`NotifyAccess=main`) what the receiver reports; leaving with the
//! receiver's exit status, the pid file removed by its owner. Does not own:
//! start-up ([`crate::daemon`]), the receiver or the writer.
//!
//! Why a separate process: writers are started by the process that holds
//! nothing a network peer could reach, and a process that starts writers by
//! exec cannot be confined more than they are (Landlock and seccomp are
//! inherited). The receiver never forks or execs, so it can be confined to
//! what its steady state needs.

pub mod reread;
pub mod spawn;
pub mod writers;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcReceiver;
use ipc_channel::{IpcError, TryRecvError};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::control::SpawnError;
use crate::control::{
    encode_order, send_answer, Answer, Order, PemBytes, Request, ServiceState, TlsReload,
};
use crate::ipc::counters::SharedCounters;
use crate::ipc::Slots;
use crate::tls::{self, TlsFiles};
use reread::ConfigReload;
use writers::Writers;

/// Write one line of the collector's own on stderr in one write: the
/// writer and the receiver write there too, and `eprintln!` (unbuffered)
/// writes a formatted line in pieces another process's line can fall
/// between.
pub fn say(line: &str) {
    crate::say::line(line);
}

/// How the monitor tells the world about the receiver's state: the
/// launcher's readiness pipe (`--daemonize`) and systemd.
pub trait StateSink {
    fn report(&mut self, state: &ServiceState);
}

/// The monitor's wake-up when nothing happens: signals and requests wake it
/// sooner (a signal interrupts the wait).
const TICK: Duration = Duration::from_secs(1);

/// Why the monitor could not supervise.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot set up the monitor's signals: {0}")]
    Signals(#[source] io::Error),
}

/// The monitor's ends of one receiver's channels.
pub struct ReceiverChannels {
    pub pid: Pid,
    pub requests: IpcReceiver<Request>,
    pub answers: UnixStream,
    /// Where reload orders go (the receiver's event loop watches it).
    pub orders: UnixStream,
}

/// Starting receivers: the first at start-up, a replacement when one dies.
pub trait Receivers {
    /// Fork a receiver; `notes` are logged by it once it runs (why it was
    /// started). Returns in the monitor only.
    fn start(&mut self, notes: Vec<String>) -> io::Result<ReceiverChannels>;
    /// A reload built this TLS configuration: a receiver started later
    /// starts from it.
    fn reloaded(&mut self, tls: Option<tls::Loaded>);
    /// The shared memory every writer maps: the batch slots and the
    /// counters page.
    fn writer_memory(&self) -> (&Slots, &SharedCounters);
    /// The collector is stopping: no receiver will be started again, so the
    /// monitor's copies of the listeners close (peers are refused, not left
    /// in a backlog nobody reads).
    fn stop_listening(&mut self);
}

/// What the monitor reads again on SIGHUP (`--logging-config` and the TLS
/// files), and the writers it starts.
pub struct Supervision {
    pub logging: Option<ConfigReload>,
    pub tls: Option<TlsReread>,
    /// What writers boot with (the logging configuration, how lines become
    /// records): the monitor's own copy, never the receiver's word.
    pub writers: Writers,
}

/// What SIGHUP does with the TLS files.
#[derive(Debug, Clone)]
pub enum TlsReread {
    /// Reads them again: the monitor can (root, or the user that read them
    /// at start-up).
    Files(TlsFiles),
    /// Under `--user` the key is root's alone (start-up refuses one the
    /// service user could read), so a monitor running as that user cannot
    /// read it: the files are not read again, and the text says why.
    Kept(String),
}

/// Receivers that may die within [`RESTART_WINDOW`] before the monitor gives
/// up (a receiver that keeps dying is not a fault a restart mends).
const MAX_RECEIVER_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// Exit statuses with which a receiver ended on purpose (stopped, a start-up
/// error, giving up): the collector leaves with them. Any other end (a
/// signal, the seccomp report) is a crash, and a new receiver is started.
fn ended_on_purpose(status: &WaitStatus) -> bool {
    matches!(status, WaitStatus::Exited(_, code) if *code != crate::confine::syscalls::EXIT_SECCOMP)
}

/// Supervise receivers until one ends on purpose, or the monitor is told to
/// stop and the receiver has; returns the exit status the collector leaves
/// with.
pub fn supervise(
    receivers: &mut dyn Receivers,
    mut job: ReceiverChannels,
    mut how: Supervision,
    sink: &mut dyn StateSink,
) -> Result<i32, MonitorError> {
    let mut signals =
        Signals::new([SIGHUP, SIGINT, SIGTERM, SIGCHLD, SIGUSR1]).map_err(MonitorError::Signals)?;
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let mut stopping = false;
    loop {
        let ended = serve_receiver(&job, &mut how, &mut signals, &mut stopping, receivers, sink);
        let what = describe(job.pid, &ended);
        if stopping || ended_on_purpose(&ended) {
            how.writers.finish();
            return Ok(match ended {
                WaitStatus::Exited(_, code) => code,
                _ => {
                    say(&format!("pysyslog: error: {what}"));
                    1
                }
            });
        }
        let now = Instant::now();
        while restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            restarts.pop_front();
        }
        if restarts.len() >= MAX_RECEIVER_RESTARTS {
            say(&format!(
                "pysyslog: error: {what}; the receiver keeps dying ({} restarts within {}s): giving up so that a supervisor can intervene",
                restarts.len(),
                RESTART_WINDOW.as_secs()
            ));
            how.writers.finish();
            return Ok(1);
        }
        restarts.push_back(now);
        // Its writers finish what they hold once their channel is gone.
        how.writers.finish();
        let note = format!("{what}; a new receiver takes over its listeners");
        say(&format!("pysyslog: error: {note}"));
        job = match receivers.start(vec![note]) {
            Ok(job) => job,
            Err(e) => {
                say(&format!(
                    "pysyslog: error: cannot start a new receiver: {e}"
                ));
                return Ok(1);
            }
        };
    }
}

fn describe(pid: Pid, status: &WaitStatus) -> String {
    match status {
        WaitStatus::Signaled(_, sig, _) => {
            format!("the receiver process (pid {pid}) was killed by {sig}")
        }
        WaitStatus::Exited(_, code) if *code == crate::confine::syscalls::EXIT_SECCOMP => format!(
            "the receiver process (pid {pid}) made a system call its confinement forbids (exit status {code})"
        ),
        WaitStatus::Exited(_, code) => {
            format!("the receiver process (pid {pid}) exited with status {code}")
        }
        other => format!("the receiver process (pid {pid}) ended: {other:?}"),
    }
}

/// Serve one receiver until it ends; how it ended.
fn serve_receiver(
    job: &ReceiverChannels,
    how: &mut Supervision,
    signals: &mut Signals,
    stopping: &mut bool,
    receivers: &mut dyn Receivers,
    sink: &mut dyn StateSink,
) -> WaitStatus {
    let mut requests_open = true;
    let ended = loop {
        for sig in signals.pending() {
            let pass = match sig {
                SIGHUP => {
                    reload(job, how, receivers, sink);
                    None
                }
                SIGUSR1 => {
                    send_order(job, &Order::Reopen);
                    None
                }
                SIGINT => Some(Signal::SIGINT),
                SIGTERM => Some(Signal::SIGTERM),
                _ => None,
            };
            if let Some(sig) = pass {
                if !*stopping {
                    receivers.stop_listening();
                }
                *stopping = true;
                let _ = kill(job.pid, sig);
            }
        }
        if let Some(status) = receiver_ended(job.pid, false) {
            break status;
        }
        if !requests_open {
            // The receiver closed its end: it is exiting.
            if let Some(status) = receiver_ended(job.pid, true) {
                break status;
            }
            continue;
        }
        match job.requests.try_recv_timeout(TICK) {
            Ok(request) => serve(request, job, how, receivers, sink),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::IpcError(IpcError::Io(e)))
                if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => requests_open = false,
        }
    };
    // What the receiver said last (a start-up failure) is told before the
    // monitor goes on.
    while let Ok(request) = job.requests.try_recv() {
        if let Request::State(state) = request {
            sink.report(&state);
        }
    }
    ended
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

fn serve(
    request: Request,
    job: &ReceiverChannels,
    how: &mut Supervision,
    receivers: &mut dyn Receivers,
    sink: &mut dyn StateSink,
) {
    match request {
        Request::Spawn { data, start } => {
            let started = how.writers.start(data, start, receivers.writer_memory());
            let sent = match started {
                Ok(writer) => send_answer(
                    &job.answers,
                    &Answer::Spawned {
                        pid: writer.pid.as_raw(),
                    },
                    Some(writer.status.as_raw_fd()),
                ),
                // The monitor's copy of the stream closes here: the
                // receiver holds the only one.
                Err(e) => {
                    if matches!(e, SpawnError::TooMany { .. }) {
                        // Not something the receiver's code does: said
                        // here, where a compromised receiver cannot hide it.
                        say(&format!("pysyslog: error: {e}"));
                    }
                    send_answer(&job.answers, &Answer::failed(&e), None)
                }
            };
            if let Err(e) = sent {
                say(&format!("pysyslog: error: cannot answer the receiver: {e}"));
            }
        }
        Request::Reap { pid, patience_ms } => {
            let ended = how
                .writers
                .reap(Pid::from_raw(pid), Duration::from_millis(patience_ms));
            if let Err(e) = send_answer(&job.answers, &Answer::Ended { how: ended }, None) {
                say(&format!("pysyslog: error: cannot answer the receiver: {e}"));
            }
        }
        Request::State(state) => sink.report(&state),
        Request::Reload => reload(job, how, receivers, sink),
        Request::Usage { pid } => {
            let usage = how
                .writers
                .is_running(Pid::from_raw(pid))
                .then(|| crate::metrics::process::usage(pid))
                .flatten();
            if let Err(e) = send_answer(&job.answers, &Answer::Usage(usage), None) {
                say(&format!("pysyslog: error: cannot answer the receiver: {e}"));
            }
        }
    }
}

/// The TLS files read again, checked as at start-up when still root, and
/// built here too: a receiver started later starts from them, and a file
/// that does not build is reported as the receiver would.
/// Why a SIGHUP did not re-read the TLS files (the previous ones stay).
#[derive(Debug, thiserror::Error)]
enum TlsRereadError {
    #[error(transparent)]
    Permissions(#[from] crate::permissions::PermissionError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

fn reread_tls(files: &TlsFiles) -> Result<(tls::TlsPems, tls::Loaded), TlsRereadError> {
    let root = nix::unistd::geteuid().is_root();
    crate::permissions::check_tls_files(files, None, root)?;
    let pems = tls::read_pems(files)?;
    let loaded = tls::build(files, &pems)?;
    Ok((pems, loaded))
}

/// SIGHUP: read the logging configuration and the TLS files again and send
/// them to the receiver, which applies them in band with the data; writers
/// and receivers started later start from what was read.
fn reload(
    job: &ReceiverChannels,
    how: &mut Supervision,
    receivers: &mut dyn Receivers,
    sink: &mut dyn StateSink,
) {
    sink.report(&ServiceState::Reloading);
    let logging = how
        .logging
        .as_ref()
        .map(|r| r.load().map_err(|e| e.to_string()));
    let (pems, loaded) = match &how.tls {
        None => (None, None),
        Some(TlsReread::Kept(why)) => (Some(TlsReload::Kept(why.clone())), None),
        Some(TlsReread::Files(files)) => match reread_tls(files) {
            Ok((p, loaded)) => (Some(TlsReload::Read(PemBytes::from(&p))), Some(loaded)),
            // The order carries the reason as text (it crosses to the receiver).
            Err(e) => (Some(TlsReload::Failed(e.to_string())), None),
        },
    };
    if let Some(Ok(text)) = &logging {
        how.writers.reloaded(text.clone());
    }
    receivers.reloaded(loaded);
    send_order(job, &Order::Reload { logging, tls: pems });
}

/// Give the receiver an order (a reload, a reopen).
fn send_order(job: &ReceiverChannels, order: &Order) {
    let sent = encode_order(order).and_then(|frame| (&job.orders).write_all(&frame));
    if let Err(e) = sent {
        say(&format!(
            "pysyslog: error: cannot send an order to the receiver: {e}"
        ));
    }
}

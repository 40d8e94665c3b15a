//! Start-up order and process lifecycle: the only code that knows the sequence.
//!
//! Everything that needs root happens first, in the process that was started:
//!
//! 1. make relative paths absolute (configuration, TLS files, pid file): a
//!    daemon changes to `/`; resolve `--user`/`--group` (unknown: exit 2);
//!    refuse early if another collector holds `--pidfile`;
//! 2. validate the logging configuration; read the TLS certificate and key;
//!    load the time zone (`tzset`); raise the open-files limit;
//! 3. bind the listeners (errors here exit 2 with the address and a hint);
//! 4. `--daemonize`: double fork, `setsid`, `chdir /`, streams to /dev/null,
//!    keeping a readiness pipe to the launching process;
//! 5. write `--pidfile` (the final pid, while `/run` is still writable);
//! 6. make the shared slots and counters page; fork the receiver while
//!    single-threaded; both processes drop privileges. The process that was
//!    started becomes the monitor ([`crate::monitor`]): it starts writers
//!    when the receiver asks (so they run as the service user too), passes
//!    signals on, and tells the launcher and systemd what the receiver
//!    reports;
//! 7. in the receiver: the first writer (asked of the monitor by the link),
//!    the event loop and signals, the banner, readiness (reported to the
//!    monitor: the launcher exits 0; systemd gets `READY=1`); run until a
//!    signal stops it, then let the writer finish. The monitor leaves with
//!    the receiver's exit status and removes the pid file.
//!
//! Owns: that order, and the open-files limit. Does not own: what each step does.

pub mod configuration;
pub mod daemonize;
pub mod pidfile;

use std::sync::Arc;

use crate::cli::{py_float_str, Settings};
use crate::error::Error;
use std::os::unix::net::UnixStream;

use ipc_channel::ipc;

use crate::ipc::counters::SharedCounters;
use crate::ipc::slots::{Slots, SLOT_COUNT};
use crate::link::{QueueLimits, WriterLink};
use crate::logging::level;
use crate::monitor::control::{MonitorClient, Request, ServiceState};
use crate::monitor::{self, StateSink};
use crate::privdrop;
use crate::receiver::endpoint::Transport;
use crate::receiver::listener::{self, BoundSocket, Listener, ListenerKind};
use crate::receiver::{Policy, Receiver, ReceiverConfig};
use crate::service::{notify, ConfigReload, ServiceHooks};
use configuration::Prepared;
use daemonize::Readiness;
use pidfile::PidFile;

/// Descriptors the collector needs beyond connections: listeners, the writer
/// link, epoll, signals, standard streams.
const SPARE_FDS: u64 = 64;

/// `--check-config`: the warnings start-up would print and what confinement
/// the kernel offers, on stderr, then `configuration OK` on stdout; or the
/// error start-up would stop with.
pub fn check_config(settings: Settings) -> Result<(), Error> {
    for warning in configuration::check(settings)? {
        eprintln!("pysyslog: warning: {warning}");
    }
    // What the running kernel lets the processes confine themselves with.
    let support = crate::confine::Support::probe();
    let level = if support.landlock_abi.is_some() && support.seccomp {
        "note"
    } else {
        "warning"
    };
    eprintln!("pysyslog: {level}: {}", support.describe());
    println!("configuration OK");
    Ok(())
}

/// Run the collector until stopped (in the foreground, or detached with
/// `--daemonize`: then this returns in the daemon only).
pub fn run(settings: Settings) -> Result<(), Error> {
    // Before anything is opened or read: no launcher's descriptor crosses into
    // the collector, and no core file or /proc reader ever sees the TLS key.
    crate::hardening::close_inherited_descriptors().map_err(Error::Io)?;
    crate::hardening::forbid_core_dumps().map_err(Error::Io)?;
    let mut readiness: Option<Readiness> = None;
    let result = start_and_run(settings, &mut readiness);
    if let (Err(e), Some(r)) = (&result, readiness.take()) {
        r.failed(e.exit_code(), &e.to_string());
    }
    result
}

fn start_and_run(mut settings: Settings, readiness: &mut Option<Readiness>) -> Result<(), Error> {
    // 1-2. Paths, identity, the pid file free; the files that may be readable
    // by root only. Warnings are said once start-up succeeded, so that a
    // start-up error stays one line.
    let Prepared {
        cwd,
        identity,
        engine_source,
        config: _,
        tls,
        mut warnings,
        config_warnings,
    } = configuration::prepare(&mut settings, true)?;
    if let Some(loaded) = &tls {
        for warning in &loaded.warnings {
            eprintln!("pysyslog: warning: {warning}");
        }
    }
    privdrop::preload_time_zone();
    raise_fd_limit(settings.max_connections as u64 + SPARE_FDS);

    // 3. Privileged ports.
    let bound = listener::bind_all(&settings.listeners, settings.udp_recv_buffer)?;
    warnings.extend(bound.warnings.iter().cloned());
    let metrics_socket = settings.metrics_listen.map(listener::bind).transpose()?;

    // 4-5. Detach; the pid file holds the final pid.
    if settings.daemonize {
        *readiness = Some(daemonize::daemonize()?);
    }
    let _pidfile = match &settings.pidfile {
        Some(path) => Some(PidFile::create(path)?),
        None => None,
    };

    // 6. The shared memory every writer maps; the receiver forked; both
    // processes drop privileges. The monitor starts writers when the
    // receiver asks, so they run as the service user too.
    let slots = Slots::new(SLOT_COUNT).unwrap_or_else(|e| {
        eprintln!(
            "pysyslog: warning: no shared memory for batches ({e}); sending them whole to the writer"
        );
        Slots::none()
    });
    let counters = SharedCounters::new().unwrap_or_else(|e| {
        eprintln!(
            "pysyslog: warning: no shared memory for the writer's counters ({e}); the metrics will not show handlers"
        );
        SharedCounters::none()
    });
    let (requests_tx, requests_rx) = ipc::channel::<Request>().map_err(Error::Io)?;
    let (answers_monitor, answers_receiver) = UnixStream::pair().map_err(Error::Io)?;
    let monitor_pid = nix::unistd::getpid();
    // SAFETY: the process is single-threaded here (nothing before starts a
    // thread), so the child may run ordinary code.
    let receiver_pid = match unsafe { nix::unistd::fork() }.map_err(|e| Error::Io(e.into()))? {
        nix::unistd::ForkResult::Child => {
            // The launcher's pipe and the pid file are the monitor's.
            drop(readiness.take());
            drop(_pidfile);
            drop(requests_rx);
            drop(answers_monitor);
            become_receiver(monitor_pid);
            let client = MonitorClient::new(requests_tx, answers_receiver).map_err(Error::Io);
            let states = client.as_ref().ok().map(MonitorClient::states);
            let result = client.and_then(|client| {
                if let Some(id) = &identity {
                    privdrop::drop_to(id)?;
                }
                let start = ReceiverStart {
                    settings,
                    cwd,
                    engine_source,
                    tls,
                    warnings,
                    config_warnings,
                    bound,
                    metrics_socket,
                    slots,
                    counters,
                };
                run_receiver(start, client)
            });
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    let code = e.exit_code();
                    eprintln!("pysyslog: error: {e}");
                    if let Some(states) = &states {
                        states.report(ServiceState::Failed {
                            code,
                            message: e.to_string(),
                        });
                    }
                    code
                }
            };
            std::process::exit(code);
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(requests_tx);
    drop(answers_receiver);
    // The receiver has the listeners; the monitor keeps none of the network.
    drop(bound);
    drop(metrics_socket);
    drop(tls);
    if let Some(id) = &identity {
        privdrop::drop_to(id)?;
    }
    let mut sink = ServiceStates {
        readiness: readiness.take(),
        notifier: notify::Notifier::from_env(),
    };
    let job = monitor::Supervised {
        receiver: receiver_pid,
        requests: requests_rx,
        answers: answers_monitor,
        slots: &slots,
        counters: &counters,
    };
    let code = monitor::supervise(job, &mut sink)?;
    // A receiver that died before it reported: run() tells the launcher.
    *readiness = sink.readiness.take();
    match code {
        0 => Ok(()),
        code => Err(Error::ReceiverExited(code)),
    }
}

/// Everything start-up prepared that the receiver takes over.
struct ReceiverStart {
    settings: Settings,
    cwd: std::path::PathBuf,
    engine_source: crate::writer::EngineSource,
    tls: Option<crate::tls::Loaded>,
    warnings: Vec<String>,
    config_warnings: Vec<String>,
    bound: listener::Bound,
    metrics_socket: Option<mio::net::TcpListener>,
    slots: Slots,
    counters: SharedCounters,
}

/// In the receiver, just forked: leave the terminal's process group (a ^C
/// reaches the monitor, which passes it on once), die with the monitor,
/// never be stopped for writing to a terminal from the background, and be
/// named `pysyslog-recv`.
fn become_receiver(monitor: nix::unistd::Pid) {
    use nix::sys::signal::{signal, SigHandler, Signal};
    let zero = nix::unistd::Pid::from_raw(0);
    let _ = nix::unistd::setpgid(zero, zero);
    // SAFETY: installing SIG_IGN runs no handler code.
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigIgn) };
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // For ps and top (and the tests): which process is which.
    let _ = nix::sys::prctl::set_name(c"pysyslog-recv");
    // The monitor died before the death signal was set.
    if nix::unistd::getppid() != monitor {
        std::process::exit(1);
    }
}

/// The receiver's life: start the first writer (through the monitor), set up
/// the event loop, report readiness, run until stopped.
fn run_receiver(start: ReceiverStart, monitor: MonitorClient) -> Result<(), Error> {
    let ReceiverStart {
        settings,
        cwd,
        engine_source,
        tls,
        warnings,
        config_warnings,
        bound,
        metrics_socket,
        slots,
        counters,
    } = start;
    let limits = QueueLimits {
        max_lines: settings.max_queue_lines,
        max_bytes: settings.max_queue_bytes,
    };
    let states = monitor.states();
    let link = WriterLink::start(monitor, engine_source, limits, slots, counters)?;
    let hooks = ServiceHooks {
        reload: settings.logging_config.as_ref().map(|path| ConfigReload {
            path: path.clone(),
            cwd: cwd.clone(),
        }),
        states: Some(states),
    };
    let config = ReceiverConfig {
        max_line_bytes: settings.max_line_bytes,
        control_chars: settings.control_chars,
        max_connections: settings.max_connections,
        max_connections_per_source: settings.max_connections_per_source,
        tls: settings.tls.clone(),
        handshake_timeout: settings.handshake_timeout,
        idle_timeout: settings.idle_timeout,
        hooks: hooks.clone(),
        policy: Policy {
            allow: Arc::new(settings.allow.clone()),
            proxy_from: settings.proxy_from.clone(),
            keepalive: settings.tcp_keepalive,
        },
    };
    let (tls_config, tls_warnings) = match tls {
        Some(loaded) => (Some(loaded.config), loaded.warnings),
        None => (None, Vec::new()),
    };
    let mut listeners = Vec::new();
    let mut datagrams = Vec::new();
    for (transport, socket) in bound.sockets {
        match (socket, transport) {
            (BoundSocket::Datagram(socket), _) => datagrams.push(socket),
            (BoundSocket::Stream(socket), Transport::Tls) => {
                // Settings refuse tls:// without --cert/--key.
                if let Some(config) = &tls_config {
                    listeners.push(Listener::new(socket, ListenerKind::Tls(Arc::clone(config))));
                }
            }
            (BoundSocket::Stream(socket), Transport::RelpTls) => {
                if let Some(config) = &tls_config {
                    listeners.push(Listener::new(
                        socket,
                        ListenerKind::RelpTls(Arc::clone(config)),
                    ));
                }
            }
            (BoundSocket::Stream(socket), Transport::Relp) => {
                listeners.push(Listener::new(socket, ListenerKind::Relp))
            }
            (BoundSocket::Stream(socket), _) => {
                listeners.push(Listener::new(socket, ListenerKind::Tcp))
            }
        }
    }

    // 7. The loop.
    let mut receiver = Receiver::new(listeners, datagrams, link, config)?;
    if let Some(socket) = metrics_socket {
        receiver.serve_metrics(socket)?;
    }
    for line in banner(&settings) {
        receiver.log(level::WARNING, "pysyslog.cli", &line);
    }
    for warning in &tls_warnings {
        receiver.log(level::WARNING, "pysyslog.tls", warning);
    }
    for warning in &config_warnings {
        receiver.log(level::WARNING, "pysyslog.config", warning);
    }
    hooks.notify_ready(&warnings);
    receiver.run()?;
    Ok(())
}

/// The monitor's side of the receiver's states: the launcher's readiness
/// pipe (`--daemonize`) and systemd's notification socket.
struct ServiceStates {
    readiness: Option<Readiness>,
    notifier: Option<notify::Notifier>,
}

impl StateSink for ServiceStates {
    fn report(&mut self, state: &ServiceState) {
        match state {
            ServiceState::Ready { warnings } => {
                match self.readiness.take() {
                    Some(r) => r.ready(warnings),
                    None => {
                        for w in warnings {
                            eprintln!("pysyslog: warning: {w}");
                        }
                    }
                }
                if let Some(n) = &self.notifier {
                    n.ready();
                }
            }
            ServiceState::Reloaded => {
                if let Some(n) = &self.notifier {
                    n.ready();
                }
            }
            ServiceState::Reloading => {
                if let Some(n) = &self.notifier {
                    n.reloading();
                }
            }
            ServiceState::Stopping => {
                if let Some(n) = &self.notifier {
                    n.stopping();
                }
            }
            ServiceState::Failed { code, message } => {
                if let Some(r) = self.readiness.take() {
                    r.failed(*code, message);
                }
            }
        }
    }
}

/// The start-up banner, one line per listener. The positional listener's line
/// is pysyslog's, word for word (`logger.warn(...)` under `pysyslog.cli`, "TCP"
/// even when it speaks TLS, the host as given); the others say what they speak.
fn banner(settings: &Settings) -> Vec<String> {
    settings
        .listeners
        .iter()
        .map(|spec| {
            let e = &spec.endpoint;
            if spec.positional {
                format!(
                    "Listening for syslog over TCP on: {}:{} polling: {}",
                    e.host,
                    e.port,
                    py_float_str(settings.poll_interval)
                )
            } else {
                let host = if e.host.contains(':') {
                    format!("[{}]", e.host)
                } else {
                    e.host.clone()
                };
                let what = match e.transport {
                    Transport::Tcp => "TCP",
                    Transport::Tls => "TLS",
                    Transport::Udp => "UDP",
                    Transport::Relp => "RELP",
                    Transport::RelpTls => "RELP over TLS",
                };
                format!("Listening for syslog over {what} on: {host}:{}", e.port)
            }
        })
        .collect()
}

/// Raise the soft open-files limit towards `wanted` (up to the hard limit), so
/// that `--max-connections` can be reached.
fn raise_fd_limit(wanted: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let target = wanted.min(hard);
        if target > soft {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, target, hard);
        }
    }
}

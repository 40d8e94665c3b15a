//! A receiver process: forking one from the monitor, and its life from the
//! fork to its exit.
//!
//! Owns: what a receiver takes over from start-up ([`ReceiverStart`], kept
//! by the monitor to start a replacement), what it does right after the fork
//! (its process group, death with the monitor, its name, privileges), and its
//! start-up order: the first writer (asked of the monitor), the event loop,
//! the orders stream, its confinement, the banner, readiness. Does not own:
//! supervising it ([`crate::monitor`]) or the loop ([`crate::receiver`]).

use std::io;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use ipc_channel::ipc;
use nix::unistd::{ForkResult, Pid};

use super::error::Error;
use crate::cli::{py_float_str, Settings};
use crate::control::{MonitorClient, Request, ServiceState};
use crate::ipc::counters::SharedCounters;
use crate::ipc::slots::Slots;
use crate::link::{QueueLimits, WriterLink};
use crate::logging::level;
use crate::monitor::{ReceiverChannels, Receivers};
use crate::privdrop::{self, Identity};
use crate::receiver::endpoint::Transport;
use crate::receiver::listener::{self, BoundSocket, Listener, ListenerKind};
use crate::receiver::origin::Origins;
use crate::receiver::{Policy, Receiver, ReceiverConfig};
use crate::service::ServiceHooks;

/// Everything start-up prepared that a receiver takes over. The monitor
/// keeps it (the listeners stay open there, unused) to start a new receiver
/// if one dies.
pub struct ReceiverStart {
    pub settings: Settings,
    /// The newest TLS configuration (reloads update it).
    pub tls: Option<crate::tls::Loaded>,
    /// Start-up's warnings: told by the first receiver only.
    pub warnings: Vec<String>,
    pub bound: listener::Bound,
    pub metrics_socket: Option<mio::net::TcpListener>,
    /// Why this receiver was started (a replacement), logged once it runs.
    pub notes: Vec<String>,
}

/// What a forked receiver gets besides its [`ReceiverStart`].
struct ReceiverEnds {
    slots: Slots,
    counters: SharedCounters,
    monitor: MonitorClient,
    orders: UnixStream,
}

/// Forks receivers for the monitor: the first, and one to replace a
/// receiver that died.
pub struct ReceiverForker {
    /// Taken by the child of each fork (its copy), kept by the monitor.
    template: Option<ReceiverStart>,
    slots: Slots,
    counters: SharedCounters,
    /// Dropped to in each receiver, until the monitor has dropped to it too.
    identity: Option<Identity>,
    monitor: Pid,
    /// Descriptors of the monitor's that a receiver must not keep (the pid
    /// file, the launcher's readiness pipe).
    close_in_child: Vec<RawFd>,
}

impl ReceiverForker {
    pub fn new(
        template: ReceiverStart,
        (slots, counters): (Slots, SharedCounters),
        identity: Option<Identity>,
        close_in_child: Vec<RawFd>,
    ) -> ReceiverForker {
        ReceiverForker {
            template: Some(template),
            slots,
            counters,
            identity,
            monitor: nix::unistd::getpid(),
            close_in_child,
        }
    }

    /// The monitor drops privileges (after its first receiver did): later
    /// receivers are forked by the service user already.
    pub fn monitor_dropping_privileges(&mut self) -> Result<(), Error> {
        if let Some(id) = self.identity.take() {
            privdrop::drop_to(&id)?;
        }
        // Start-up's warnings were the first receiver's to tell.
        if let Some(t) = &mut self.template {
            t.warnings.clear();
        }
        Ok(())
    }

    /// In the child: become the receiver and run it; never returns.
    fn child(&mut self, notes: Vec<String>, ends: ChildEnds) -> ! {
        for &fd in &self.close_in_child {
            // SAFETY: closing the monitor's descriptors in this process,
            // which never uses their owners again (it exits below without
            // running destructors).
            unsafe { libc::close(fd) };
        }
        become_receiver(self.monitor);
        let client = MonitorClient::new(ends.requests, ends.answers).map_err(Error::Io);
        let states = client.as_ref().ok().map(MonitorClient::states);
        let result = client.and_then(|monitor| {
            if let Some(id) = &self.identity {
                privdrop::drop_to(id)?;
            }
            let mut start = self
                .template
                .take()
                .ok_or_else(|| Error::Io(io::Error::other("no receiver start-up state")))?;
            start.notes = notes;
            let ends = ReceiverEnds {
                slots: std::mem::replace(&mut self.slots, Slots::none()),
                counters: std::mem::replace(&mut self.counters, SharedCounters::none()),
                monitor,
                orders: ends.orders,
            };
            run_receiver(start, ends)
        });
        let code = match result {
            Ok(()) => 0,
            Err(e) => {
                let code = e.exit_code();
                crate::say!("pysyslog: error: {e}");
                if let Some(states) = &states {
                    states.report(ServiceState::Failed {
                        code,
                        message: e.to_string(),
                    });
                }
                code
            }
        };
        std::process::exit(code)
    }
}

/// The receiver's ends of its channels to the monitor, in the child.
struct ChildEnds {
    requests: ipc::IpcSender<Request>,
    answers: UnixStream,
    orders: UnixStream,
}

impl Receivers for ReceiverForker {
    fn start(&mut self, notes: Vec<String>) -> io::Result<ReceiverChannels> {
        let (requests_tx, requests_rx) = ipc::channel::<Request>()?;
        let (answers_monitor, answers_receiver) = UnixStream::pair()?;
        let (orders_monitor, orders_receiver) = UnixStream::pair()?;
        // SAFETY: the monitor is single-threaded (it starts no thread), so
        // the child may run ordinary code.
        match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
            ForkResult::Child => {
                drop((requests_rx, answers_monitor, orders_monitor));
                self.child(
                    notes,
                    ChildEnds {
                        requests: requests_tx,
                        answers: answers_receiver,
                        orders: orders_receiver,
                    },
                )
            }
            ForkResult::Parent { child } => Ok(ReceiverChannels {
                pid: child,
                requests: requests_rx,
                answers: answers_monitor,
                orders: orders_monitor,
            }),
        }
    }

    fn reloaded(&mut self, tls: Option<crate::tls::Loaded>) {
        let Some(t) = &mut self.template else { return };
        if tls.is_some() {
            t.tls = tls;
        }
    }

    fn writer_memory(&self) -> (&Slots, &SharedCounters) {
        (&self.slots, &self.counters)
    }

    fn stop_listening(&mut self) {
        if let Some(t) = &mut self.template {
            t.bound.sockets.clear();
            t.metrics_socket = None;
        }
    }
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
fn run_receiver(start: ReceiverStart, ends: ReceiverEnds) -> Result<(), Error> {
    let ReceiverStart {
        settings,
        tls,
        warnings,
        bound,
        metrics_socket,
        notes,
    } = start;
    let ReceiverEnds {
        slots,
        counters,
        monitor,
        orders,
    } = ends;
    let limits = QueueLimits {
        max_lines: settings.max_queue_lines,
        max_bytes: settings.max_queue_bytes,
    };
    let states = monitor.states();
    let link = WriterLink::start(monitor, limits, slots, counters)?;
    let hooks = ServiceHooks {
        states: Some(states),
    };
    let mut config = ReceiverConfig {
        max_line_bytes: settings.max_line_bytes,
        control_chars: settings.control_chars,
        max_connections: settings.max_connections,
        max_connections_per_source: settings.max_connections_per_source,
        max_partial_bytes: settings.max_partial_bytes,
        tls: settings.tls.clone(),
        handshake_timeout: settings.handshake_timeout,
        idle_timeout: settings.idle_timeout,
        hooks: hooks.clone(),
        policy: Policy::new(
            settings.allow.clone(),
            settings.proxy_from.clone(),
            settings.tcp_keepalive,
            settings.source_prefix_v6,
            settings.metrics_allow.clone(),
        ),
        origins: None,
        rate_limit: settings.rate_limit,
        spool_max_bytes: settings.spool.as_ref().map(|s| s.max_bytes),
    };
    let (tls_config, tls_warnings) = match tls {
        Some(loaded) => (Some(loaded.config), loaded.warnings),
        None => (None, Vec::new()),
    };
    let Sockets {
        listeners,
        datagrams,
        stream_origins,
        datagram_origins,
    } = sockets(bound, tls_config.as_ref());

    config.origins = settings.records.parse_syslog.then(|| {
        Origins::new(
            stream_origins,
            datagram_origins,
            settings.client_names.clone(),
        )
    });

    // 7. The loop.
    let mut receiver = Receiver::new(listeners, datagrams, link, config)?;
    if let Some(socket) = metrics_socket {
        receiver.serve_metrics(socket)?;
    }
    orders.set_nonblocking(true).map_err(Error::Io)?;
    receiver.take_orders(mio::net::UnixStream::from_std(orders))?;
    // Everything the receiver will ever open is open: from here it may open
    // no file, bind or connect nothing, and make only its steady-state calls.
    let confined = crate::confine::receiver();
    for warning in &confined.warnings {
        receiver.log(
            level::WARNING,
            "pysyslog.receiver",
            &format!("not confined as designed: {warning}"),
        );
    }
    // Once per collector: a replacement receiver says why it started
    // instead (stdout carries exactly what pysyslog printed).
    if notes.is_empty() {
        for line in banner(&settings) {
            receiver.log(level::WARNING, "pysyslog.cli", &line);
        }
    }
    for warning in &tls_warnings {
        receiver.log(level::WARNING, "pysyslog.tls", warning);
    }
    for note in &notes {
        receiver.log(level::ERROR, "pysyslog.monitor", note);
    }
    hooks.notify_ready(&warnings);
    receiver.run()?;
    Ok(())
}

/// The bound sockets as the receiver's listeners (a TLS one only with a
/// TLS configuration: settings refuse `tls://` without `--cert`/`--key`)
/// and datagram sockets, with each one's origin for `--parse-syslog`.
fn sockets(bound: listener::Bound, tls_config: Option<&Arc<rustls::ServerConfig>>) -> Sockets {
    let mut listeners = Vec::new();
    let mut datagrams = Vec::new();
    let (mut stream_origins, mut datagram_origins) = (Vec::new(), Vec::new());
    for (endpoint, socket) in bound.sockets {
        let transport = endpoint.transport;
        let origin = (transport.scheme(), endpoint.to_string());
        if matches!(socket, BoundSocket::Datagram(_)) {
            datagram_origins.push(origin);
        } else if !transport.is_tls() || tls_config.is_some() {
            stream_origins.push(origin);
        }
        match (socket, transport) {
            (BoundSocket::Datagram(socket), _) => datagrams.push(socket),
            (BoundSocket::Stream(socket), Transport::Tls) => {
                // Settings refuse tls:// without --cert/--key.
                if let Some(config) = tls_config {
                    listeners.push(Listener::new(socket, ListenerKind::Tls(Arc::clone(config))));
                }
            }
            (BoundSocket::Stream(socket), Transport::RelpTls) => {
                if let Some(config) = tls_config {
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
    Sockets {
        listeners,
        datagrams,
        stream_origins,
        datagram_origins,
    }
}

/// What [`sockets`] makes of the bound sockets.
struct Sockets {
    listeners: Vec<Listener>,
    datagrams: Vec<mio::net::UdpSocket>,
    stream_origins: Vec<(&'static str, String)>,
    datagram_origins: Vec<(&'static str, String)>,
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

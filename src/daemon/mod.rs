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
pub mod error;
pub mod pidfile;
pub mod receiver_process;

use crate::cli::Settings;
use crate::control::ServiceState;
use crate::ipc::counters::SharedCounters;
use crate::ipc::slots::{self, Slots};
use crate::monitor::reread::ConfigReload;
use crate::monitor::{self, Receivers, StateSink};
use crate::privdrop;
use crate::receiver::listener;
use crate::service::notify;
use configuration::Prepared;
use daemonize::Readiness;
use error::Error;
use pidfile::PidFile;
use receiver_process::{ReceiverForker, ReceiverStart};

/// Descriptors the collector needs beyond connections: listeners, the writer
/// link, epoll, signals, standard streams.
const SPARE_FDS: u64 = 64;

/// `--check-config`: the warnings start-up would print and what confinement
/// the kernel offers, on stderr, then `configuration OK` on stdout; or the
/// error start-up would stop with.
pub fn check_config(settings: Settings) -> Result<(), Error> {
    for warning in configuration::check(settings)? {
        crate::say!("pysyslog: warning: {warning}");
    }
    // What the running kernel lets the processes confine themselves with.
    let support = crate::confine::Support::probe();
    let level = if support.landlock_abi.is_some() && support.seccomp {
        "note"
    } else {
        "warning"
    };
    crate::say!("pysyslog: {level}: {}", support.describe());
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
        config,
        tls,
        mut warnings,
        ..
    } = configuration::prepare(&mut settings, true)?;
    let kafka = config.as_ref().is_some_and(|c| c.has_kafka());
    if kafka && !settings.max_queue_bytes_given {
        settings.max_queue_bytes = crate::cli::DEFAULT_MAX_QUEUE_BYTES_KAFKA;
    }
    if let Some(loaded) = &tls {
        for warning in &loaded.warnings {
            crate::say!("pysyslog: warning: {warning}");
        }
    }
    privdrop::preload_time_zone();
    raise_fd_limit(settings.max_connections as u64 + SPARE_FDS);

    // 3. Privileged ports.
    let (bound, metrics_socket) = bind(&mut settings)?;
    warnings.extend(bound.warnings.iter().cloned());

    // 4-5. Detach; the pid file holds the final pid.
    if settings.daemonize {
        *readiness = Some(daemonize::daemonize()?);
    }
    let pidfile = match &settings.pidfile {
        Some(path) => Some(PidFile::create(path)?),
        None => None,
    };

    // 6. The shared memory every writer maps; the receiver forked; both
    // processes drop privileges. The monitor starts writers when the
    // receiver asks, so they run as the service user too.
    // With a KafkaHandler a batch keeps its slot until the broker has
    // acknowledged it: the slots must cover the whole queue.
    let (slots, counters) = shared_memory(kafka, settings.max_queue_bytes);
    // What the monitor reads again on SIGHUP.
    let reread_logging = settings.logging_config.as_ref().map(|path| ConfigReload {
        path: path.clone(),
        cwd: cwd.clone(),
    });
    let reread_tls = settings
        .tls
        .clone()
        .map(|files| tls_reread(files, identity.as_ref()));
    // What every writer boots with: the monitor's, never the receiver's.
    let writers = monitor::writers::Writers::new(
        engine_source,
        settings.records.clone(),
        settings.spool.clone(),
    );
    let close_in_child: Vec<_> = readiness
        .iter()
        .map(Readiness::raw_fd)
        .chain(pidfile.iter().flat_map(PidFile::raw_fds))
        .collect();
    let mut receivers = ReceiverForker::new(
        ReceiverStart {
            settings,
            tls,
            warnings,
            bound,
            metrics_socket,
            notes: Vec::new(),
        },
        (slots, counters),
        identity,
        close_in_child,
    );
    let first = receivers.start(Vec::new()).map_err(Error::Io)?;
    // The monitor keeps the listeners (a new receiver takes them over if
    // one dies) but never accepts; it drops privileges as the receiver does.
    receivers.monitor_dropping_privileges()?;
    let mut sink = ServiceStates {
        readiness: readiness.take(),
        notifier: notify::Notifier::from_env(),
        failed: None,
    };
    let how = monitor::Supervision {
        logging: reread_logging,
        tls: reread_tls,
        writers,
    };
    let code = monitor::supervise(&mut receivers, first, how, &mut sink)?;
    // The pid file goes before the launcher hears of a failure: a launcher
    // that exits with the error must not find the file still there.
    drop(pidfile);
    if let Some((code, message)) = sink.failed.take() {
        if let Some(r) = sink.readiness.take() {
            r.failed(code, &message);
        }
    }
    // A receiver that died before it reported: run() tells the launcher.
    *readiness = sink.readiness.take();
    match code {
        0 => Ok(()),
        code => Err(Error::ReceiverExited(code)),
    }
}

/// Bind every listener and the metrics endpoint. Port 0: the banner names
/// the port the kernel chose (for a listener given twice, each its own; for
/// a name of several addresses, the first).
fn bind(
    settings: &mut Settings,
) -> Result<(listener::Bound, Option<mio::net::TcpListener>), Error> {
    let bound = listener::bind_all(&settings.listeners, settings.udp_recv_buffer)?;
    let mut chosen = bound.chosen_ports.clone();
    for spec in &mut settings.listeners {
        if let Some(i) = chosen.iter().position(|(e, _)| *e == spec.endpoint) {
            spec.endpoint.port = chosen.remove(i).1;
        }
    }
    let metrics_socket = match settings.metrics_listen {
        Some(addr) => Some(bind_metrics(addr, &bound)?),
        None => None,
    };
    Ok((bound, metrics_socket))
}

/// The shared memory every writer maps: the batch slots (with a
/// KafkaHandler a batch keeps its slot until the broker acknowledged it, so
/// they cover the whole queue) and the counters page. Without them the
/// collector still works, less well, and says so.
fn shared_memory(kafka: bool, max_queue_bytes: usize) -> (Slots, SharedCounters) {
    let slot_count = if kafka {
        slots::count_covering(max_queue_bytes)
    } else {
        slots::SLOT_COUNT
    };
    let slots = Slots::new(slot_count).unwrap_or_else(|e| {
        crate::say!(
            "pysyslog: warning: no shared memory for batches ({e}); sending them whole to the writer"
        );
        Slots::none()
    });
    let counters = SharedCounters::new().unwrap_or_else(|e| {
        crate::say!(
            "pysyslog: warning: no shared memory for the writer's counters ({e}); the metrics will not show handlers"
        );
        SharedCounters::none()
    });
    (slots, counters)
}

/// What SIGHUP does with the TLS files: read them again, unless the
/// monitor drops to a user who may not read the key (start-up made sure).
fn tls_reread(
    files: crate::tls::TlsFiles,
    identity: Option<&privdrop::Identity>,
) -> monitor::TlsReread {
    let dropping = identity.filter(|id| nix::unistd::geteuid().is_root() && !id.uid.is_root());
    match dropping {
        Some(id) => monitor::TlsReread::Kept(format!(
            "the collector runs as {}, who may not read the key; restart it to use a new certificate or key",
            id.user
        )),
        None => monitor::TlsReread::Files(files),
    }
}

/// The monitor's side of the receiver's states: the launcher's readiness
/// pipe (`--daemonize`) and systemd's notification socket.
struct ServiceStates {
    readiness: Option<Readiness>,
    notifier: Option<notify::Notifier>,
    /// Start-up failed (the receiver said so): told to the launcher once
    /// the collector has cleaned up after itself.
    failed: Option<(i32, String)>,
}

impl StateSink for ServiceStates {
    fn report(&mut self, state: &ServiceState) {
        match state {
            ServiceState::Ready { warnings } => {
                match self.readiness.take() {
                    Some(r) => r.ready(warnings),
                    None => {
                        for w in warnings {
                            monitor::say(&format!("pysyslog: warning: {w}"));
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
                self.failed = Some((*code, message.clone()));
            }
        }
    }
}

/// The metrics endpoint's socket; a clear error when it is one of the
/// collector's own stream listeners' places (the kernel only says "in use").
fn bind_metrics(
    addr: std::net::SocketAddr,
    bound: &listener::Bound,
) -> Result<mio::net::TcpListener, Error> {
    listener::bind(addr).map_err(|e| {
        let own = bound.sockets.iter().find(|(endpoint, socket)| {
            matches!(socket, listener::BoundSocket::Stream(_))
                && socket.local_port() == Some(addr.port())
                && endpoint.transport.is_stream()
        });
        match own {
            Some((endpoint, _)) => listener::BindError::OwnListener {
                addr,
                listener: endpoint.to_string(),
            }
            .into(),
            None => e.into(),
        }
    })
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

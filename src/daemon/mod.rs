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
//! 6. fork the writer while single-threaded ([`crate::link`] does the
//!    forking, here and when it replaces a writer); the writer drops privileges and
//!    then builds its handlers (files are created by the service user); the
//!    receiver drops privileges right after the fork and waits for the
//!    writer's Ready;
//! 7. set up the event loop and signals, log the banner, report readiness (the
//!    launcher exits 0; systemd gets `READY=1`); run until a signal stops it,
//!    then let the writer finish and remove the pid file.
//!
//! Owns: that order, and the open-files limit. Does not own: what each step does.

pub mod configuration;
pub mod daemonize;
pub mod pidfile;

use std::sync::Arc;

use crate::cli::{py_float_str, Settings};
use crate::error::Error;
use crate::link::{QueueLimits, WriterLink};
use crate::logging::level;
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

    // 6. The writer, and privileges dropped in both processes.
    let limits = QueueLimits {
        max_lines: settings.max_queue_lines,
        max_bytes: settings.max_queue_bytes,
    };
    let link = WriterLink::start(engine_source, identity.as_ref(), limits)?;
    let hooks = ServiceHooks {
        reload: settings.logging_config.as_ref().map(|path| ConfigReload {
            path: path.clone(),
            cwd: cwd.clone(),
        }),
        notify: notify::Notifier::from_env(),
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
    match readiness.take() {
        Some(r) => r.ready(&warnings),
        None => {
            for w in &warnings {
                eprintln!("pysyslog: warning: {w}");
            }
        }
    }
    hooks.notify_ready();
    receiver.run()?;
    Ok(())
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

//! Start-up order and process lifecycle: the only code that knows the sequence.
//!
//! 1. validate the logging configuration (before anything is bound or forked);
//! 2. bind the listeners (errors here exit 2 with the address and a hint);
//! 3. fork the writer while single-threaded, wait until it has applied its
//!    configuration;
//! 4. run the receiver loop until a signal stops it, then let the writer finish.
//!
//! Owns: that order, and the open-files limit. Does not own: what each step does.

pub mod spawn;

use crate::cli::{py_float_str, Settings};
use crate::error::Error;
use crate::logging::{level, Config};
use crate::receiver::link::{QueueLimits, WriterLink};
use crate::receiver::sink::Sink;
use crate::receiver::{listener, Receiver, ReceiverConfig};
use crate::tls;
use crate::writer::EngineSource;

/// Descriptors the collector needs beyond connections: listeners, the writer
/// link, epoll, signals, standard streams.
const SPARE_FDS: u64 = 64;

/// Run the collector in the foreground until stopped.
pub fn run(settings: Settings) -> Result<(), Error> {
    let engine_source = match &settings.logging_config {
        Some(path) => EngineSource::DictConfig(Config::from_file(path)?),
        None => EngineSource::Basic,
    };
    let tls = match &settings.tls {
        Some(files) => {
            let loaded = tls::load(files)?;
            for warning in &loaded.warnings {
                eprintln!("pysyslog: warning: {warning}");
            }
            Some(loaded)
        }
        None => None,
    };
    raise_fd_limit(settings.max_connections as u64 + SPARE_FDS);

    let mut listeners = Vec::new();
    for addr in listener::resolve(&settings.host, settings.port)? {
        listeners.push(listener::bind(addr)?);
    }

    let writer = spawn::spawn_writer(&engine_source)?;
    let limits = QueueLimits {
        max_lines: settings.max_queue_lines,
        max_bytes: settings.max_queue_bytes,
    };
    let link = WriterLink::new(writer, limits).map_err(Error::Io)?;
    let config = ReceiverConfig {
        max_line_bytes: settings.max_line_bytes,
        max_connections: settings.max_connections,
        tls: settings.tls.clone(),
        handshake_timeout: settings.handshake_timeout,
        idle_timeout: settings.idle_timeout,
    };
    let (tls_config, tls_warnings) = match tls {
        Some(loaded) => (Some(loaded.config), loaded.warnings),
        None => (None, Vec::new()),
    };
    let mut receiver = Receiver::new(
        listeners,
        Sink::new(link),
        config,
        engine_source,
        tls_config,
    )?;
    // pysyslog's banner, word for word: `logger.warn(...)` under `pysyslog.cli`.
    receiver.log(
        level::WARNING,
        "pysyslog.cli",
        &format!(
            "Listening for syslog over TCP on: {}:{} polling: {}",
            settings.host,
            settings.port,
            py_float_str(settings.poll_interval)
        ),
    );
    for warning in &tls_warnings {
        receiver.log(level::WARNING, "pysyslog.tls", warning);
    }
    receiver.run()?;
    Ok(())
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

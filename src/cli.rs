//! Command-line interface: pysyslog 0.1.0's arguments plus ours.
//!
//! Owns: the flags, their defaults and help, and turning them into validated
//! [`Settings`]. Does not own: acting on them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::tls::{MinVersion, TlsFiles};

/// Defaults and bounds, with their units in the name.
pub const DEFAULT_MAX_LINE_BYTES: u32 = 64 * 1024;
/// The largest `--max-line-length`: a line must fit in one IPC batch (see `ipc`).
pub const MAX_MAX_LINE_BYTES: u32 = 128 * 1024;
pub const DEFAULT_MAX_QUEUE_LINES: usize = 50_000;
/// 1 MiB is 16 full batches, several times what keeps the writer busy (the
/// throughput is the same from 1 MiB up, measured at 4 and 100 connections,
/// plain and TLS); a longer stall of the writer is buffered by the kernel in
/// each connection's TCP receive buffer, which is where backpressure belongs,
/// not in this process's memory.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;

/// The command line (its `--help` text is the `about` below).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pysyslog",
    version,
    about = "A fast syslog collector over TCP and TLS. Every received line is logged under \
             a logger named after the peer's IP address, at level INFO; where it goes is set \
             by a Python logging.config.dictConfig JSON file (default: stdout as \
             INFO:<ip>:<message>).",
    max_term_width = 100
)]
pub struct Args {
    /// Address to listen on: IPv4, IPv6 (`::` listens on both) or a host name.
    #[arg(default_value = "127.0.0.1")]
    pub host: String,

    /// TCP port to listen on.
    #[arg(default_value_t = 514)]
    pub port: u16,

    /// Accepted for compatibility with pysyslog 0.1.0, where it was how often
    /// (seconds) the server polled for shutdown. The event loop here needs no
    /// polling; the value only appears in the start-up banner.
    #[arg(short = 'i', long, default_value_t = 0.5, value_name = "SECONDS")]
    pub poll_interval: f64,

    /// Most lines held between receiving and writing; when reached, the collector
    /// stops reading from sockets until the writer catches up (TCP slows senders).
    #[arg(short = 'm', long, default_value_t = DEFAULT_MAX_QUEUE_LINES, value_name = "LINES")]
    pub max_queue_size: usize,

    /// TLS certificate chain (PEM): the collector then speaks syslog over TLS
    /// (RFC 5425) on PORT. The same file may hold the key.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Require TLS clients to present a certificate signed by a CA in this PEM
    /// bundle (mutual TLS). Refused clients are logged with the reason.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub client_ca: Option<PathBuf>,

    /// Lowest TLS version accepted.
    #[arg(long, value_enum, default_value = "1.2", value_name = "VERSION")]
    pub tls_min_version: MinVersion,

    /// Seconds a TLS handshake may take; silent or stalled clients are closed after it.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub tls_handshake_timeout: f64,

    /// Close connections that send nothing for this many seconds (default: never).
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,

    /// Python logging.config.dictConfig JSON file routing the lines.
    #[arg(short = 'l', long, value_name = "FILE")]
    pub logging_config: Option<PathBuf>,

    /// Longest frame kept, in bytes; longer frames are truncated to this and the
    /// truncation is logged under `pysyslog.receiver`.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(64..=MAX_MAX_LINE_BYTES as i64))]
    pub max_line_length: u32,

    /// Most bytes of memory held by batches between receiving and writing
    /// (with --max-queue-size); a batch handed to the writer counts 64 KiB,
    /// the shared slot it occupies.
    #[arg(long, default_value_t = DEFAULT_MAX_QUEUE_BYTES, value_name = "BYTES")]
    pub max_queue_bytes: usize,

    /// Most simultaneous connections; more wait in the listen backlog until the
    /// count drops below 90% of this.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Run as this user (name or uid) once the port is bound and the
    /// configuration, TLS key and time zone are read; both processes drop to
    /// it and output files are created by it. Needs root at start.
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,

    /// Run as this group (name or gid); default: USER's primary group.
    #[arg(short = 'g', long, value_name = "GROUP", requires = "user")]
    pub group: Option<String>,

    /// Detach from the terminal (double fork, setsid, chdir /, standard streams
    /// to /dev/null). The command exits 0 once the collector listens and its
    /// writer applied the configuration, or non-zero with the error.
    #[arg(long)]
    pub daemonize: bool,

    /// Write the collector's pid to FILE (atomically, locked while running,
    /// removed at exit); refuse to start if another collector holds it.
    #[arg(long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics (an IP and a port, as
    /// 127.0.0.1:9514 or [::1]:9514). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Validated settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HOST exactly as given (the banner prints it so).
    pub host: String,
    pub port: u16,
    pub poll_interval: f64,
    pub max_queue_lines: usize,
    pub max_queue_bytes: usize,
    pub max_line_bytes: usize,
    pub max_connections: usize,
    pub logging_config: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    pub handshake_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    /// `--user` and `--group`, unresolved.
    pub user: Option<String>,
    pub group: Option<String>,
    pub daemonize: bool,
    pub pidfile: Option<PathBuf>,
    /// `--metrics-listen`: where the metrics endpoint listens.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Arguments that parse but do not make sense together.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("--cert and --key must be given together (got only {given}); pysyslog 0.1.0 silently fell back to plain TCP, this collector refuses")]
    HalfTls { given: &'static str },
    #[error("--poll-interval must be a positive number of seconds, got {0}")]
    PollInterval(f64),
    #[error("--max-queue-size and --max-queue-bytes must be at least 1")]
    EmptyQueue,
    #[error("--tls-handshake-timeout must be a positive number of seconds, got {0}")]
    HandshakeTimeout(f64),
    #[error("--idle-timeout must be a positive number of seconds, got {0}")]
    IdleTimeout(f64),
}

impl Args {
    pub fn into_settings(self) -> Result<Settings, UsageError> {
        let tls = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: self.client_ca,
                min_version: self.tls_min_version,
            }),
            (None, None) => None,
            (Some(_), None) => return Err(UsageError::HalfTls { given: "--cert" }),
            (None, Some(_)) => return Err(UsageError::HalfTls { given: "--key" }),
        };
        if !(self.poll_interval.is_finite() && self.poll_interval > 0.0) {
            return Err(UsageError::PollInterval(self.poll_interval));
        }
        if self.max_queue_size == 0 || self.max_queue_bytes == 0 {
            return Err(UsageError::EmptyQueue);
        }
        let handshake_timeout = Duration::try_from_secs_f64(self.tls_handshake_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(UsageError::HandshakeTimeout(self.tls_handshake_timeout))?;
        let idle_timeout = match self.idle_timeout {
            None => None,
            Some(secs) => Some(
                Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or(UsageError::IdleTimeout(secs))?,
            ),
        };
        Ok(Settings {
            host: self.host,
            port: self.port,
            poll_interval: self.poll_interval,
            max_queue_lines: self.max_queue_size,
            max_queue_bytes: self.max_queue_bytes,
            max_line_bytes: self.max_line_length as usize,
            max_connections: self.max_connections as usize,
            logging_config: self.logging_config,
            tls,
            handshake_timeout,
            idle_timeout,
            user: self.user,
            group: self.group,
            daemonize: self.daemonize,
            pidfile: self.pidfile,
            metrics_listen: self.metrics_listen,
        })
    }
}

/// Python's `str(float)`: the shortest repr, with `.0` on whole numbers
/// (`-i 1` prints `1.0` in the banner, as pysyslog did).
pub fn py_float_str(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'i', 'N']) {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        let args = Args::try_parse_from(std::iter::once("pysyslog").chain(args.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        args.into_settings().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_pysyslogs() {
        let s = parse(&[]).expect("defaults parse");
        assert_eq!(
            (s.host.as_str(), s.port, s.poll_interval),
            ("127.0.0.1", 514, 0.5)
        );
        assert_eq!(s.max_queue_lines, 50_000);
        assert!(s.tls.is_none() && s.logging_config.is_none());
    }

    #[test]
    fn positional_host_and_port_and_short_flags() {
        let s = parse(&["0.0.0.0", "8000", "-i", "1", "-m", "10", "-l", "x.json"]).expect("parse");
        assert_eq!(
            (s.host.as_str(), s.port, s.max_queue_lines),
            ("0.0.0.0", 8000, 10)
        );
        assert_eq!(s.logging_config, Some(PathBuf::from("x.json")));
    }

    #[test]
    fn half_tls_is_refused() {
        let e = parse(&["-c", "cert.pem"]).expect_err("must refuse");
        assert!(e.contains("--cert and --key must be given together"), "{e}");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(parse(&["127.0.0.1", "70000"]).is_err());
        assert!(parse(&["--max-line-length", "10"]).is_err());
        assert!(parse(&["-i", "0"]).is_err());
    }

    #[test]
    fn service_flags() {
        let s =
            parse(&["--user", "nobody", "--daemonize", "--pidfile", "/run/p.pid"]).expect("parse");
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert!(s.group.is_none() && s.daemonize);
        assert_eq!(s.pidfile, Some(PathBuf::from("/run/p.pid")));
        assert!(
            parse(&["--group", "nogroup"]).is_err(),
            "--group needs --user"
        );
    }

    #[test]
    fn floats_print_like_python_str() {
        assert_eq!(py_float_str(0.5), "0.5");
        assert_eq!(py_float_str(1.0), "1.0");
        assert_eq!(py_float_str(2.25), "2.25");
        assert_eq!(py_float_str(0.1), "0.1");
    }
}

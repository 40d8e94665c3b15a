//! Command-line interface: pysyslog 0.1.0's arguments plus ours.
//!
//! Owns: the flags, their defaults and help, and turning them into validated
//! [`Settings`]. Does not own: acting on them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::cidr::{Cidr, CidrSet};
use crate::receiver::endpoint::{Endpoint, ListenerSpec, Transport};
use crate::receiver::escape::ControlChars;
use crate::receiver::rate_limit::RateLimit;
use crate::receiver::source::DEFAULT_V6_PREFIX;
use crate::tls::client_name::NamePattern;
use crate::tls::{MinVersion, TlsFiles};
use crate::writer::records::{NameTemplate, RecordOptions};

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
/// With a KafkaHandler a batch is acknowledged only once the broker has
/// acknowledged its records, so the batches in flight must cover the
/// broker's round trip: 8 MiB (with the 50,000-line bound, about 6 MB of
/// 120-byte lines) reaches the broker's own ceiling in the kafka benchmark.
pub const DEFAULT_MAX_QUEUE_BYTES_KAFKA: usize = 8 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;
/// `--max-connections-per-source`: off. A balancer without the PROXY
/// protocol, a NAT or a busy relay is one address for many senders, and a
/// default must not refuse what the collector can serve; the memory bound
/// holds without it (`--max-partial-bytes`).
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: u32 = 0;
/// `--max-partial-bytes`: 256 lines of the default `--max-line-length`
/// still arriving at once; past it the longest are split (see
/// `receiver::connections`).
pub const DEFAULT_MAX_PARTIAL_BYTES: usize = 16 << 20;
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 514;
/// Two hours is the kernel's default idle time, far longer than the NAT and
/// firewall timeouts that silently drop connections; five minutes is within
/// the usual ones.
pub const DEFAULT_TCP_KEEPALIVE_SECS: u32 = 300;
/// The kernel refuses a longer keepalive idle time (TCP_KEEPIDLE).
pub const MAX_TCP_KEEPALIVE_SECS: u32 = 32_767;
/// A UDP listener's receive buffer: the kernel's default (about 208 KiB)
/// holds only a few hundred datagrams (each is charged its buffer overhead,
/// not its length), which a burst overflows while the writer is busy.
pub const DEFAULT_UDP_RECV_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// The command line (its `--help` text is the `about` below).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pysyslog",
    version,
    about = "A fast syslog collector over TCP, TLS, UDP and RELP. Every received line is logged under \
             a logger named after the peer's IP address, at level INFO; where it goes is set \
             by a Python logging.config.dictConfig JSON file (default: stdout as \
             INFO:<ip>:<message>).",
    max_term_width = 100
)]
pub struct Args {
    /// Address to listen on: IPv4, IPv6 (`::` listens on both) or a host name
    /// [default: 127.0.0.1, unless only --listen options are given].
    pub host: Option<String>,

    /// TCP port to listen on [default: 514].
    pub port: Option<u16>,

    /// Another listener, repeatable: tcp://HOST:PORT, tls://HOST:PORT (with
    /// --cert/--key), udp://HOST:PORT, relp://HOST:PORT or relp+tls://HOST:PORT
    /// (RELP, rsyslog's reliable protocol); IPv6 in brackets (tcp://[::1]:514); port 0: any free port.
    /// A host name listens on every address it resolves to. With only
    /// --listen options, HOST PORT's defaults are not added.
    #[arg(help_heading = "Listeners", long, value_name = "URL")]
    pub listen: Vec<Endpoint>,

    /// TCP and TLS peers in this network (repeatable; CIDR or one address)
    /// must start with a PROXY protocol header (v1 or v2); lines are then
    /// logged under the address in the header. Others are never parsed for one.
    #[arg(help_heading = "Listeners", long, value_name = "CIDR")]
    pub proxy_protocol_from: Vec<Cidr>,

    /// Only serve sources in this network (repeatable; default: everyone).
    /// With the PROXY protocol, the address checked is the client's.
    #[arg(help_heading = "Listeners", long, value_name = "CIDR")]
    pub allow: Vec<Cidr>,

    /// Idle seconds before TCP keepalive probes start on accepted connections,
    /// so peers that died behind NAT or a firewall are closed; 0 disables.
    #[arg(help_heading = "Listeners", long, default_value_t = DEFAULT_TCP_KEEPALIVE_SECS, value_name = "SECONDS",
          value_parser = clap::value_parser!(u32).range(0..=MAX_TCP_KEEPALIVE_SECS as i64))]
    pub tcp_keepalive: u32,

    /// Accept a client certificate only if one of its DNS names (or, lacking
    /// any, its subject CN) matches (repeatable; `*` matches one label).
    #[arg(
        help_heading = "TLS",
        long,
        value_name = "PATTERN",
        requires = "client_ca"
    )]
    pub client_name: Vec<NamePattern>,

    /// Receive buffer of UDP listeners (as root, beyond net.core.rmem_max).
    #[arg(help_heading = "Listeners", long, default_value_t = DEFAULT_UDP_RECV_BUFFER_BYTES, value_name = "BYTES")]
    pub udp_recv_buffer: usize,

    /// Accepted for compatibility with pysyslog 0.1.0, where it was how often
    /// (seconds) the server polled for shutdown. The event loop here needs no
    /// polling; the value only appears in the start-up banner.
    #[arg(
        help_heading = "Listeners",
        short = 'i',
        long,
        default_value_t = 0.5,
        value_name = "SECONDS"
    )]
    pub poll_interval: f64,

    /// Most lines held between receiving and writing; when reached, the collector
    /// stops reading from sockets until the writer catches up (TCP slows senders).
    #[arg(help_heading = "Limits", short = 'm', long, default_value_t = DEFAULT_MAX_QUEUE_LINES, value_name = "LINES")]
    pub max_queue_size: usize,

    /// TLS certificate chain (PEM): the collector then speaks syslog over TLS
    /// (RFC 5425) on PORT. The same file may hold the key.
    #[arg(help_heading = "TLS", short = 'c', long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(help_heading = "TLS", short = 'k', long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Require TLS clients to present a certificate signed by a CA in this PEM
    /// bundle (mutual TLS). Refused clients are logged with the reason.
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "cert")]
    pub client_ca: Option<PathBuf>,

    /// Lowest TLS version accepted.
    #[arg(
        help_heading = "TLS",
        long,
        value_enum,
        default_value = "1.2",
        value_name = "VERSION"
    )]
    pub tls_min_version: MinVersion,

    /// Seconds a TLS handshake may take; silent or stalled clients are closed after it.
    #[arg(
        help_heading = "TLS",
        long,
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub tls_handshake_timeout: f64,

    /// Close connections that send nothing for this many seconds (default: never).
    #[arg(help_heading = "Limits", long, value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,

    /// Python logging.config.dictConfig JSON file routing the lines.
    #[arg(help_heading = "Output", short = 'l', long, value_name = "FILE")]
    pub logging_config: Option<PathBuf>,

    /// Parse each message as RFC 5424 or RFC 3164 syslog: its facility,
    /// severity, host name, program and the rest become record attributes
    /// (%(hostname)s, {appname}...) for formats, filters and --logger-name.
    #[arg(help_heading = "Output", long)]
    pub parse_syslog: bool,

    /// With --parse-syslog: a record's level comes from the message's
    /// severity (emerg, alert, crit: CRITICAL; err: ERROR; warning: WARNING;
    /// notice, info: INFO; debug: DEBUG), so dictConfig levels filter by it.
    #[arg(help_heading = "Output", long, requires = "parse_syslog")]
    pub level_from_severity: bool,

    /// With --parse-syslog: name each record's logger from its attributes,
    /// as {facility}.{appname} or {hostname} [default: {peer}, the address].
    #[arg(
        help_heading = "Output",
        long,
        value_name = "TEMPLATE",
        requires = "parse_syslog"
    )]
    pub logger_name: Option<NameTemplate>,

    /// Keep what an output cannot take yet (its peer down or slow) in a
    /// backlog on disk in this directory, a subdirectory per handler, instead
    /// of holding every batch back: the senders and the other handlers go on.
    /// It must belong to the service user (--user) and not be writable by
    /// others; it is created if missing. Default: no backlog (backpressure).
    #[arg(help_heading = "Backlog", long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Most bytes the backlogs may take on disk together (suffixes K, M, G:
    /// KiB, MiB, GiB); past it a handler holds, as without a backlog.
    #[arg(help_heading = "Backlog", long, default_value = "1G", value_name = "SIZE",
          value_parser = parse_size, requires = "spool_dir")]
    pub spool_max_bytes: u64,

    /// When records put in a backlog are synced to disk: batch (before the
    /// batch is acknowledged: survives a power loss), second (a power loss
    /// may lose the last second), never (survives any crash of the
    /// collector, not of the machine).
    #[arg(
        help_heading = "Backlog",
        long,
        value_enum,
        default_value = "batch",
        value_name = "WHEN",
        requires = "spool_dir"
    )]
    pub spool_fsync: crate::spool::Fsync,

    /// Escape every C0 control character (TAB, CR, ESC...) and DEL inside a
    /// message as #ooo, not only LF and NUL (which are always escaped, so that
    /// every message stays one line).
    #[arg(
        help_heading = "Output",
        long,
        conflicts_with = "keep_control_characters"
    )]
    pub escape_control_characters: bool,

    /// Keep messages' bytes as received, LF and NUL included (a message holding
    /// them then spans several output lines).
    #[arg(help_heading = "Output", long)]
    pub keep_control_characters: bool,

    /// Longest frame kept, in bytes; longer frames are truncated to this and the
    /// truncation is logged under `pysyslog.receiver`.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(64..=MAX_MAX_LINE_BYTES as i64))]
    pub max_line_length: u32,

    /// Most bytes of memory held by batches between receiving and writing
    /// (with --max-queue-size); a batch handed to the writer counts 64 KiB,
    /// the shared slot it occupies. Default: 1 MiB, or 8 MiB when the
    /// logging configuration at start-up has a KafkaHandler (its batches wait
    /// for the broker's acknowledgements).
    #[arg(help_heading = "Limits", long, value_name = "BYTES")]
    pub max_queue_bytes: Option<usize>,

    /// Most simultaneous connections; more wait in the listen backlog until the
    /// count drops below 90% of this.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Most simultaneous connections from one source address (behind a
    /// balancer, the client's from the PROXY header); more are closed with a
    /// warning, at accept or once the header is read. 0 (the default): no
    /// limit.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_MAX_CONNECTIONS_PER_SOURCE, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub max_connections_per_source: u32,

    /// Most bytes lines still arriving may hold on all connections
    /// together; past it the longest are logged as far as they came and the
    /// rest of each follows as a line of its own (nothing is lost). At least
    /// --max-line-length.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_MAX_PARTIAL_BYTES, value_name = "BYTES")]
    pub max_partial_bytes: usize,

    /// IPv6 peers count as one source per network of this many bits (a
    /// host is commonly given a /64) for --max-connections-per-source and
    /// the reports of refused sources; 128: each address.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_V6_PREFIX, value_name = "BITS",
          value_parser = clap::value_parser!(u8).range(0..=128))]
    pub source_prefix_v6: u8,

    /// Most lines per second one source may send, with BURST lines at once
    /// after a quiet spell [default BURST: one second's worth]. A TCP, TLS
    /// or RELP sender above it is read more slowly (nothing is lost); a UDP
    /// sender's excess is dropped and counted. By source as for
    /// --max-connections-per-source. Off by default.
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "LINES_PER_S[:BURST]",
        allow_negative_numbers = true
    )]
    pub rate_limit_per_source: Option<RateLimit>,

    /// Run as this user (name or uid) once the port is bound and the
    /// configuration, TLS key and time zone are read; both processes drop to
    /// it and output files are created by it. Needs root at start.
    #[arg(
        help_heading = "Daemon",
        short = 'u',
        long,
        value_name = "USER",
        overrides_with = "user"
    )]
    pub user: Option<String>,

    /// Run as this group (name or gid); default: USER's primary group.
    #[arg(
        help_heading = "Daemon",
        short = 'g',
        long,
        value_name = "GROUP",
        requires = "user",
        overrides_with = "group"
    )]
    pub group: Option<String>,

    /// Detach from the terminal (double fork, setsid, chdir /, standard streams
    /// to /dev/null). The command exits 0 once the collector listens and its
    /// writer applied the configuration, or non-zero with the error.
    #[arg(help_heading = "Daemon", long)]
    pub daemonize: bool,

    /// Write the collector's pid to FILE (atomically, locked while running,
    /// removed at exit); refuse to start if another collector holds it.
    #[arg(help_heading = "Daemon", long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics (an IP and a port, as
    /// 127.0.0.1:9514 or [::1]:9514). Off by default.
    #[arg(help_heading = "Monitoring", long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Only clients in this network may use the metrics endpoint
    /// (repeatable; CIDR or one address) [default: loopback and --allow's
    /// networks]. Others are closed at accept.
    #[arg(help_heading = "Monitoring", long, value_name = "CIDR")]
    pub metrics_allow: Vec<Cidr>,

    /// Check the command line, the logging configuration, the TLS files, the
    /// listeners and the output files, print `configuration OK` and exit 0
    /// (or the error and exit 2), without binding, dropping privileges or
    /// writing anything.
    #[arg(help_heading = "Daemon", long)]
    pub check_config: bool,
}

/// Validated settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every listener, the positional one first when there is one; its host
    /// exactly as given (the banner prints it so).
    pub listeners: Vec<ListenerSpec>,
    /// Peers that must send a PROXY protocol header.
    pub proxy_from: CidrSet,
    /// Sources served; empty: everyone.
    pub allow: CidrSet,
    /// `None`: keepalive off.
    pub tcp_keepalive: Option<Duration>,
    pub client_names: Vec<NamePattern>,
    pub udp_recv_buffer: usize,
    pub poll_interval: f64,
    pub max_queue_lines: usize,
    pub max_queue_bytes: usize,
    /// `--max-queue-bytes` was given (else the default depends on the
    /// handlers: see [`DEFAULT_MAX_QUEUE_BYTES_KAFKA`]).
    pub max_queue_bytes_given: bool,
    pub max_line_bytes: usize,
    /// What is done with control characters inside a message.
    pub control_chars: ControlChars,
    pub max_connections: usize,
    /// `--max-connections-per-source`; 0: no limit.
    pub max_connections_per_source: usize,
    /// `--source-prefix-v6`: IPv6 peers count as one source per network
    /// of this many bits.
    pub source_prefix_v6: u8,
    /// `--rate-limit-per-source`; `None`: off.
    pub rate_limit: Option<RateLimit>,
    /// `--max-partial-bytes`: what lines still arriving may hold in all.
    pub max_partial_bytes: usize,
    pub logging_config: Option<PathBuf>,
    /// `--parse-syslog`, `--level-from-severity`, `--logger-name`.
    pub records: RecordOptions,
    /// `--spool-dir`, `--spool-max-bytes`, `--spool-fsync`.
    pub spool: Option<crate::spool::Settings>,
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
    /// `--metrics-allow`, or its default: who may use the metrics endpoint.
    pub metrics_allow: CidrSet,
    /// `--check-config`: check, do not run.
    pub check_config: bool,
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
    #[error("listener {0} is given twice")]
    DuplicateListener(String),
    #[error("{first} and {second} are both TCP on the same address and port: one port speaks one protocol")]
    ConflictingListeners { first: String, second: String },
    #[error("{0} needs --cert and --key")]
    TlsWithoutCert(String),
    #[error("--cert and --key are given but no listener speaks TLS (use tls:// in --listen, or positional HOST PORT)")]
    CertWithoutTls,
    #[error("--udp-recv-buffer must be from 1 to {max} bytes, got {got}")]
    UdpRecvBuffer { got: usize, max: usize },
    #[error("--max-partial-bytes must be at least --max-line-length ({min}), got {got}: a line must fit whole")]
    PartialBudget { got: usize, min: usize },
}

/// Same host and port, both streams: one kernel socket cannot be both.
fn check_listeners(listeners: &[ListenerSpec]) -> Result<(), UsageError> {
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[..i] {
            let (a, b) = (&a.endpoint, &b.endpoint);
            // Port 0 is a different free port for each listener.
            let same_place =
                a.port == b.port && a.port != 0 && a.host.eq_ignore_ascii_case(&b.host);
            if !same_place || a.transport.is_stream() != b.transport.is_stream() {
                continue;
            }
            if a.transport == b.transport {
                return Err(UsageError::DuplicateListener(a.to_string()));
            }
            return Err(UsageError::ConflictingListeners {
                first: b.to_string(),
                second: a.to_string(),
            });
        }
    }
    Ok(())
}

impl Args {
    pub fn into_settings(self) -> Result<Settings, UsageError> {
        let tls = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: self.client_ca,
                min_version: self.tls_min_version,
                client_names: self.client_name.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(UsageError::HalfTls { given: "--cert" }),
            (None, Some(_)) => return Err(UsageError::HalfTls { given: "--key" }),
        };
        if !(self.poll_interval.is_finite() && self.poll_interval > 0.0) {
            return Err(UsageError::PollInterval(self.poll_interval));
        }
        if self.max_queue_size == 0 || self.max_queue_bytes == Some(0) {
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
        let mut listeners = Vec::with_capacity(self.listen.len() + 1);
        if self.listen.is_empty() || self.host.is_some() {
            listeners.push(ListenerSpec {
                endpoint: Endpoint {
                    transport: if tls.is_some() {
                        Transport::Tls
                    } else {
                        Transport::Tcp
                    },
                    host: self.host.unwrap_or_else(|| DEFAULT_HOST.to_owned()),
                    port: self.port.unwrap_or(DEFAULT_PORT),
                },
                positional: true,
            });
        }
        listeners.extend(self.listen.into_iter().map(|endpoint| ListenerSpec {
            endpoint,
            positional: false,
        }));
        check_listeners(&listeners)?;
        let any_tls = listeners.iter().find(|l| l.endpoint.transport.is_tls());
        match (any_tls, &tls) {
            (Some(l), None) => return Err(UsageError::TlsWithoutCert(l.endpoint.to_string())),
            (None, Some(_)) => return Err(UsageError::CertWithoutTls),
            _ => {}
        }
        // The kernel's own ceiling for SO_RCVBUF(FORCE) is INT_MAX / 2.
        let max_buffer = (i32::MAX / 2) as usize;
        if self.udp_recv_buffer == 0 || self.udp_recv_buffer > max_buffer {
            return Err(UsageError::UdpRecvBuffer {
                got: self.udp_recv_buffer,
                max: max_buffer,
            });
        }
        if self.max_partial_bytes < self.max_line_length as usize {
            return Err(UsageError::PartialBudget {
                got: self.max_partial_bytes,
                min: self.max_line_length as usize,
            });
        }
        let metrics_allow = metrics_allow(self.metrics_allow, &self.allow);
        Ok(Settings {
            listeners,
            proxy_from: CidrSet::new(self.proxy_protocol_from),
            allow: CidrSet::new(self.allow),
            tcp_keepalive: (self.tcp_keepalive > 0)
                .then(|| Duration::from_secs(u64::from(self.tcp_keepalive))),
            client_names: self.client_name,
            udp_recv_buffer: self.udp_recv_buffer,
            poll_interval: self.poll_interval,
            max_queue_lines: self.max_queue_size,
            max_queue_bytes: self.max_queue_bytes.unwrap_or(DEFAULT_MAX_QUEUE_BYTES),
            max_queue_bytes_given: self.max_queue_bytes.is_some(),
            max_line_bytes: self.max_line_length as usize,
            control_chars: match (self.escape_control_characters, self.keep_control_characters) {
                (true, _) => ControlChars::EscapeAll,
                (_, true) => ControlChars::Keep,
                _ => ControlChars::EscapeLineBreaks,
            },
            max_connections: self.max_connections as usize,
            max_connections_per_source: self.max_connections_per_source as usize,
            source_prefix_v6: self.source_prefix_v6,
            rate_limit: self.rate_limit_per_source,
            max_partial_bytes: self.max_partial_bytes,
            logging_config: self.logging_config,
            records: RecordOptions {
                parse_syslog: self.parse_syslog,
                level_from_severity: self.level_from_severity,
                logger_name: self.logger_name,
            },
            spool: self.spool_dir.map(|dir| crate::spool::Settings {
                dir,
                max_bytes: self.spool_max_bytes,
                fsync: self.spool_fsync,
            }),
            tls,
            handshake_timeout,
            idle_timeout,
            user: self.user,
            group: self.group,
            daemonize: self.daemonize,
            pidfile: self.pidfile,
            metrics_listen: self.metrics_listen,
            metrics_allow,
            check_config: self.check_config,
        })
    }
}

/// `--metrics-allow` as given, or else loopback and `--allow`'s networks:
/// whoever may send lines may read the counters, and nobody else unless
/// told (the endpoint has no authentication).
fn metrics_allow(given: Vec<Cidr>, allow: &[Cidr]) -> CidrSet {
    if !given.is_empty() {
        return CidrSet::new(given);
    }
    let loopback = [
        Cidr::containing(std::net::Ipv4Addr::LOCALHOST.into(), 8),
        Cidr::containing(std::net::Ipv6Addr::LOCALHOST.into(), 128),
    ];
    CidrSet::new(loopback.into_iter().chain(allow.iter().copied()).collect())
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

/// A size in bytes, with an optional K, M or G (KiB, MiB, GiB) suffix.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a size (a number of bytes, or with K, M or G)"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("'{text}' is less than 1M, too small for a backlog"));
    }
    Ok(bytes)
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
        assert_eq!(s.listeners, vec![spec("tcp://127.0.0.1:514", true)]);
        assert_eq!(s.poll_interval, 0.5);
        assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(300)));
        assert!(s.allow.is_empty() && s.proxy_from.is_empty());
        assert_eq!(s.max_queue_lines, 50_000);
        assert!(s.tls.is_none() && s.logging_config.is_none());
        assert_eq!(s.max_connections_per_source, 0, "no per-source limit");
        assert_eq!(s.max_partial_bytes, 16 << 20);
        assert!(parse(&["--max-partial-bytes", "65535"]).is_err());
        assert!(parse(&["--max-partial-bytes", "1000", "--max-line-length", "1000"]).is_ok());
    }

    #[test]
    fn positional_host_and_port_and_short_flags() {
        let s = parse(&["0.0.0.0", "8000", "-i", "1", "-m", "10", "-l", "x.json"]).expect("parse");
        assert_eq!(s.listeners, vec![spec("tcp://0.0.0.0:8000", true)]);
        assert_eq!(s.max_queue_lines, 10);
        assert_eq!(s.logging_config, Some(PathBuf::from("x.json")));
    }

    fn spec(url: &str, positional: bool) -> ListenerSpec {
        ListenerSpec {
            endpoint: url.parse().expect("url"),
            positional,
        }
    }

    #[test]
    fn listen_options_replace_the_positional_defaults() {
        let s = parse(&[
            "--listen",
            "udp://[::1]:1514",
            "--listen",
            "tcp://127.0.0.1:1514",
        ])
        .expect("parse");
        assert_eq!(
            s.listeners,
            vec![
                spec("udp://[::1]:1514", false),
                spec("tcp://127.0.0.1:1514", false)
            ]
        );
        let s = parse(&["127.0.0.2", "--listen", "udp://127.0.0.2:514"]).expect("parse");
        assert_eq!(
            s.listeners,
            vec![
                spec("tcp://127.0.0.2:514", true),
                spec("udp://127.0.0.2:514", false)
            ]
        );
        let s = parse(&["-c", "c.pem", "-k", "k.pem", "--listen", "tls://h:1"]).expect("parse");
        assert_eq!(s.listeners, vec![spec("tls://h:1", false)]);
        let s = parse(&["-c", "c.pem", "-k", "k.pem", "h"]).expect("parse");
        assert_eq!(s.listeners, vec![spec("tls://h:514", true)]);
    }

    #[test]
    fn duplicate_and_conflicting_listeners_are_refused() {
        let e = parse(&["--listen", "tcp://h:1", "--listen", "tcp://H:1"]).expect_err("dup");
        assert!(e.contains("given twice"), "{e}");
        let e = parse(&[
            "-c",
            "c",
            "-k",
            "k",
            "127.0.0.1",
            "--listen",
            "tcp://127.0.0.1:514",
        ])
        .expect_err("conflict");
        assert!(
            e.contains("tls://127.0.0.1:514 and tcp://127.0.0.1:514"),
            "{e}"
        );
        parse(&["127.0.0.1", "--listen", "udp://127.0.0.1:514"])
            .expect("udp and tcp may share a port");
        let e = parse(&["--listen", "tls://h:1"]).expect_err("tls without cert");
        assert!(e.contains("needs --cert"), "{e}");
        let e = parse(&["-c", "c", "-k", "k", "--listen", "tcp://h:1"]).expect_err("unused cert");
        assert!(e.contains("no listener speaks TLS"), "{e}");
    }

    #[test]
    fn network_and_name_options() {
        let s = parse(&[
            "--allow",
            "10.0.0.0/8",
            "--allow",
            "::1",
            "--proxy-protocol-from",
            "127.0.0.1",
            "--tcp-keepalive",
            "0",
            "--client-ca",
            "ca.pem",
            "-c",
            "c",
            "-k",
            "k",
            "--client-name",
            "*.example.com",
            "--udp-recv-buffer",
            "1048576",
        ])
        .expect("parse");
        assert!(s.allow.contains("10.1.1.1".parse().expect("ip")));
        assert!(s.proxy_from.contains("127.0.0.1".parse().expect("ip")));
        assert_eq!(s.tcp_keepalive, None);
        assert_eq!(s.client_names.len(), 1);
        assert_eq!(s.udp_recv_buffer, 1 << 20);
        assert!(parse(&["--allow", "10.0.0.0/40"]).is_err());
        assert!(
            parse(&["--client-name", "x"]).is_err(),
            "--client-name needs --client-ca"
        );
        assert!(parse(&["--udp-recv-buffer", "0"]).is_err());
        assert_eq!(s.source_prefix_v6, 64);
        let s = parse(&["--source-prefix-v6", "48"]).expect("parse");
        assert_eq!(s.source_prefix_v6, 48);
        assert!(parse(&["--source-prefix-v6", "129"]).is_err());
        assert_eq!(s.rate_limit, None, "no rate limit by default");
        let s = parse(&["--rate-limit-per-source", "2000:200"]).expect("parse");
        assert_eq!(s.rate_limit.map(|l| (l.rate, l.burst)), Some((2000.0, 200)));
        for bad in ["0", "-1", "x", "10:0", "10:y"] {
            assert!(
                parse(&["--rate-limit-per-source", bad]).is_err(),
                "{bad} is refused"
            );
        }
        assert!(parse(&["--tcp-keepalive", "32767"]).is_ok());
        assert!(
            parse(&["--tcp-keepalive", "32768"]).is_err(),
            "beyond TCP_KEEPIDLE"
        );
    }

    #[test]
    fn the_metrics_endpoint_serves_loopback_and_allow_unless_told() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let s = parse(&[]).expect("parse");
        assert!(s.metrics_allow.contains(ip("127.0.0.1")));
        assert!(s.metrics_allow.contains(ip("127.9.9.9")));
        assert!(s.metrics_allow.contains(ip("::1")));
        assert!(!s.metrics_allow.contains(ip("10.0.0.1")));
        let s = parse(&["--allow", "10.0.0.0/8"]).expect("parse");
        assert!(s.metrics_allow.contains(ip("10.1.1.1")));
        assert!(s.metrics_allow.contains(ip("127.0.0.1")));
        assert!(!s.metrics_allow.contains(ip("192.0.2.1")));
        let s = parse(&["--allow", "10.0.0.0/8", "--metrics-allow", "192.0.2.1"]).expect("parse");
        assert!(s.metrics_allow.contains(ip("192.0.2.1")));
        assert!(!s.metrics_allow.contains(ip("127.0.0.1")));
        assert!(!s.metrics_allow.contains(ip("10.1.1.1")));
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

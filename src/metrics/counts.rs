//! The counters the metrics report, as plain numbers: kept by the parts
//! where the events happen (the receiver's connections, the link, the
//! reloader), gathered into a [`Snapshot`] when a scraper asks.
//!
//! Owns: the shapes and their arithmetic. Imports nothing, so every part can
//! use it without an import cycle.

/// Why a connection was refused, or closed for breaking its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The TLS handshake failed (bad certificate, no common version, ...).
    TlsHandshake,
    /// The TLS handshake did not finish within `--tls-handshake-timeout`.
    TlsHandshakeTimeout,
    /// TLS on a plain listener, or plain text on a TLS listener.
    WrongProtocol,
    /// The connection could not be set up (registration, TLS session).
    Setup,
    /// The source (or the client a PROXY header names) is outside `--allow`.
    AllowList,
    /// A PROXY protocol header missing, malformed, or cut by a close.
    ProxyHeader,
    /// A RELP session broke the protocol (a bad frame or command): the
    /// collector sent `serverclose` and closed it.
    RelpProtocol,
    /// The source already had `--max-connections-per-source` open.
    PerSourceLimit,
}

impl Refusal {
    pub const COUNT: usize = 8;
    pub const ALL: [Refusal; Refusal::COUNT] = [
        Refusal::TlsHandshake,
        Refusal::TlsHandshakeTimeout,
        Refusal::WrongProtocol,
        Refusal::Setup,
        Refusal::AllowList,
        Refusal::ProxyHeader,
        Refusal::RelpProtocol,
        Refusal::PerSourceLimit,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::TlsHandshake => "tls_handshake",
            Refusal::TlsHandshakeTimeout => "tls_handshake_timeout",
            Refusal::WrongProtocol => "wrong_protocol",
            Refusal::Setup => "setup",
            Refusal::AllowList => "allow_list",
            Refusal::ProxyHeader => "proxy_header",
            Refusal::RelpProtocol => "relp_protocol",
            Refusal::PerSourceLimit => "per_source_limit",
        }
    }
}

/// What one connection received (kept in the connection itself, so the
/// per-line cost is an increment in a struct the loop already touches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub lines: u64,
    pub bytes: u64,
    pub truncated: u64,
    /// Lines logged in two pieces or more: the partial lines of all
    /// connections passed `--max-partial-bytes`.
    pub split: u64,
}

impl Received {
    pub fn add(&mut self, other: &Received) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.truncated += other.truncated;
        self.split += other.split;
    }
}

/// One listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerCounts {
    pub open: u64,
    pub accepted: u64,
    /// By [`Refusal`], in the order of [`Refusal::ALL`].
    pub refused: [u64; Refusal::COUNT],
    pub received: Received,
    /// Times a connection was paused because its source was out of tokens
    /// (`--rate-limit-per-source`), and for how long in all (ns; a pause
    /// counts once it ends).
    pub rate_limit_pauses: u64,
    pub rate_limit_paused_ns: u64,
}

impl ListenerCounts {
    pub fn refuse(&mut self, why: Refusal) {
        self.refused[why as usize] += 1;
    }
}

/// One UDP listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounts {
    /// Datagrams read from the socket, refused and empty ones included.
    pub datagrams: u64,
    /// Datagrams the kernel dropped because the socket's buffer was full
    /// (`SO_RXQ_OVFL`).
    pub dropped: u64,
    /// Datagrams from sources outside `--allow`.
    pub refused: u64,
    /// Datagrams dropped because their source was out of tokens
    /// (`--rate-limit-per-source`).
    pub rate_limited: u64,
    /// Lines logged (one per datagram that is not empty), bytes of the
    /// allowed datagrams, lines truncated.
    pub received: Received,
}

/// Why accepting paused (peers then wait in the listen backlog).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptPauses {
    /// `--max-connections` reached.
    pub limit: u64,
    /// The process ran out of file descriptors.
    pub descriptors: u64,
}

/// The link between the processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkCounts {
    pub queued_lines: u64,
    pub queued_bytes: u64,
    pub max_lines: u64,
    pub max_bytes: u64,
    /// Seconds reading was paused because the queue was full.
    pub backpressure_seconds: f64,
    pub batches_replayed: u64,
    pub writer_restarts: u64,
}

/// SIGHUP reloads of the logging configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reloads {
    pub succeeded: u64,
    pub failed: u64,
    /// Unix time of the last configuration that was applied (start-up included).
    pub last_success: f64,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// By listener label (`tcp://127.0.0.1:514`).
    pub listeners: Vec<(String, ListenerCounts)>,
    /// By UDP listener label (`udp://127.0.0.1:514`).
    pub udp: Vec<(String, UdpCounts)>,
    pub accept_pauses: AcceptPauses,
    pub link: LinkCounts,
    /// Per handler, monotonic across reloads and writers (gauges: now).
    pub handlers: Vec<crate::ipc::counters::HandlerValues>,
    pub reloads: Reloads,
    /// Sources whose rate-limit buckets are kept (`None`: no
    /// `--rate-limit-per-source`).
    pub rate_limit_sources: Option<u64>,
    /// `--spool-max-bytes` (`None`: no `--spool-dir`).
    pub spool_max_bytes: Option<u64>,
    /// Bytes in backlogs no configured handler is named for.
    pub spool_orphaned_bytes: u64,
    /// Lines parsed (`--parse-syslog`) as RFC 5424, RFC 3164, and neither.
    pub syslog_lines: [u64; 3],
    /// The receiver's and the writer's usage (`None`: not readable).
    pub receiver_usage: Option<super::process::Usage>,
    pub writer_usage: Option<super::process::Usage>,
}

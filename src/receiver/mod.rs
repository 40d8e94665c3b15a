//! The receiver: one mio event loop owning every socket.
//!
//! Owns: the loop, fair reading (a byte budget per connection per turn, so one
//! fast sender cannot starve the others), backpressure (no reads while the
//! writer link is full) and signals. The loop is this file; its parts are
//! owned structs: `accept` (the listener set, the connection limit, the
//! out-of-descriptors pause), `connections` (open connections and the ready
//! queue), `deadlines` (handshakes, idle), `stopping`, `hup` (reopen and
//! reloads), `token` (which source an event is for), `rates`
//! (`--rate-limit-per-source`: pacing connections, dropping datagrams), with [`conn`] (one
//! connection, plain or TLS), [`listener`] (binding) and [`framing`].
//! Batches go to the writer through [`crate::link`]. Does not own: formats
//! ([`crate::ipc`]) or output.
//!
//! Every loop iteration: wait for events, serve connections that have unread
//! data (each gets one budgeted turn, those with more left go to the back of the
//! queue), then seal the open batch. So a lone line is handed to the writer in
//! the iteration it arrived, and batches grow by themselves under load.

mod accept;
pub mod conn;
mod connections;
mod deadlines;
pub mod endpoint;
pub mod escape;
pub mod framing;
mod hup;
pub mod listener;
mod lru;
mod metrics;
pub mod origin;
mod policy;
pub mod proxy;
mod rate_drops;
pub mod rate_limit;
mod rates;
mod refusals;
pub mod relp;
pub mod source;
mod stopping;
mod token;
mod udp;

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;

use crate::control::{Order, OrderDecoder};
use crate::ipc::counters::HandlerValues;
use crate::link::{LinkError, WriterLink};
use crate::metrics::counts::Refusal;
use crate::metrics::process::OwnProc;
use crate::metrics::MetricsServer;
use crate::service::ServiceHooks;
use crate::tls::TlsFiles;
use accept::Acceptor;
use conn::{ProxyState, Turn};
use connections::Connections;
use deadlines::Deadlines;
use escape::ControlChars;
use hup::Reloader;
use listener::{Listener, ListenerId};
use policy::Admission;
pub use policy::Policy;
use rate_limit::RateLimit;
use rates::{Pace, SourceRates};
use refusals::Refusals;
use stopping::Stopping;
use token::Source;
use udp::UdpListeners;

/// One read into the shared scratch buffer; big reads mean few syscalls.
const READ_CHUNK_BYTES: usize = 128 * 1024;
/// Bytes one connection may read per turn before others get theirs.
const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Longest a reload waits for the connections to be read dry (under a
/// flood they never are).
const RELOAD_DRAIN_LIMIT: Duration = Duration::from_millis(200);

/// A failure that ends the receiver.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("event loop failed: {0}")]
    Poll(#[source] io::Error),
    #[error("cannot set up the event loop: {0}")]
    Setup(#[source] io::Error),
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// Receiver settings the loop needs.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub max_line_bytes: usize,
    /// What is done with control characters inside a message.
    pub control_chars: ControlChars,
    pub max_connections: usize,
    /// `--max-connections-per-source`; 0: no limit.
    pub max_connections_per_source: usize,
    /// `--max-partial-bytes`: what lines still arriving may hold in all.
    pub max_partial_bytes: usize,
    /// TLS files, re-read on SIGHUP; `None` for plain TCP.
    pub tls: Option<TlsFiles>,
    /// How long a TLS handshake may take before the connection is closed.
    pub handshake_timeout: Duration,
    /// Close connections that sent nothing for this long (`--idle-timeout`).
    pub idle_timeout: Option<Duration>,
    /// Configuration reload on SIGHUP and systemd notifications.
    pub hooks: ServiceHooks,
    /// `--allow`, `--proxy-protocol-from`, `--tcp-keepalive`.
    pub policy: Policy,
    /// Each listener's origin, sent with its lines when the writer parses
    /// syslog; `None` otherwise.
    pub origins: Option<origin::Origins>,
    /// `--rate-limit-per-source`; `None`: off.
    pub rate_limit: Option<RateLimit>,
    /// `--spool-max-bytes` with `--spool-dir` (shown on the metrics
    /// endpoint, for an alert on a backlog filling up).
    pub spool_max_bytes: Option<u64>,
}

pub struct Receiver {
    poll: Poll,
    signals: Signals,
    listeners: Acceptor,
    conns: Connections,
    link: WriterLink,
    /// The one read buffer, shared by every connection.
    scratch: Vec<u8>,
    deadlines: Deadlines,
    stopping: Stopping,
    reloader: Reloader,
    /// systemd notifications.
    hooks: ServiceHooks,
    policy: Policy,
    refusals: Refusals,
    udp: UdpListeners,
    /// `--rate-limit-per-source`'s buckets; `None` without it.
    rates: Option<SourceRates>,
    spool_max_bytes: Option<u64>,
    /// Which goes first in a turn, TCP connections or UDP listeners: it
    /// alternates, so neither can take every turn's room in the link.
    udp_first: bool,
    /// `--metrics-listen`'s endpoint (see `metrics.rs` here).
    metrics: Option<MetricsServer>,
    /// Each listener's `listener` label, by index.
    listener_labels: Vec<String>,
    /// Each UDP listener's, by index.
    udp_labels: Vec<String>,
    /// The handler counters of the last scrape, for one during a reload.
    last_handlers: Vec<HandlerValues>,
    /// The monitor's orders (reloads), once attached.
    orders: Option<(mio::net::UnixStream, OrderDecoder)>,
    /// This process's /proc entries, opened while it may (the metrics).
    own_proc: Option<OwnProc>,
    /// A reload the monitor ordered, applied once every connection has
    /// been read dry (or at the deadline): what peers had sent before the
    /// SIGHUP is written with the configuration before it.
    reload_due: Option<(Order, Instant)>,
    /// `PYSYSLOG_FAULT_INJECT=receiver-open-on-reload`: try to open a file
    /// on a reload, which the confinement must stop (the tests' check that
    /// it does, and that the monitor recovers).
    fault_open_on_reload: bool,
}

impl Receiver {
    pub fn new(
        listeners: Vec<Listener>,
        datagrams: Vec<mio::net::UdpSocket>,
        mut link: WriterLink,
        config: ReceiverConfig,
    ) -> Result<Receiver, ReceiverError> {
        let poll = Poll::new().map_err(ReceiverError::Setup)?;
        let registry = poll.registry();
        let mut signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).map_err(ReceiverError::Setup)?;
        registry
            .register(&mut signals, token::SIGNALS, mio::Interest::READABLE)
            .map_err(ReceiverError::Setup)?;
        link.register(registry, token::STATUS)
            .map_err(ReceiverError::Setup)?;
        let listeners = Acceptor::new(listeners, config.max_connections, registry)
            .map_err(ReceiverError::Setup)?;
        let mut udp = UdpListeners::new(
            datagrams,
            config.max_line_bytes,
            config.control_chars,
            registry,
        )
        .map_err(ReceiverError::Setup)?;
        if let Some(origins) = &config.origins {
            udp.set_origins(origins.clone());
        }
        Ok(Receiver {
            udp_labels: udp.labels(),
            udp,
            udp_first: false,
            listener_labels: listeners.labels(),
            metrics: None,
            last_handlers: Vec::new(),
            listeners,
            conns: Connections::new(
                config.max_line_bytes,
                config.control_chars,
                config.max_connections_per_source,
                config.policy.sources,
            )
            .with_origins(config.origins)
            .with_partial_budget(config.max_partial_bytes),
            link,
            scratch: vec![0; READ_CHUNK_BYTES],
            deadlines: Deadlines::new(config.handshake_timeout, config.idle_timeout),
            stopping: Stopping::Running,
            reloader: Reloader::new(config.tls),
            orders: None,
            own_proc: OwnProc::open().ok(),
            reload_due: None,
            fault_open_on_reload: crate::fault::injected()
                == Some(crate::fault::Fault::ReceiverOpenOnReload),
            hooks: config.hooks,
            refusals: Refusals::new(config.policy.sources),
            spool_max_bytes: config.spool_max_bytes,
            rates: config
                .rate_limit
                .map(|limit| SourceRates::new(limit, config.policy.sources)),
            policy: config.policy,
            poll,
            signals,
        })
    }

    /// Take the monitor's orders from `stream` (non-blocking).
    pub fn take_orders(&mut self, mut stream: mio::net::UnixStream) -> Result<(), ReceiverError> {
        self.poll
            .registry()
            .register(&mut stream, token::ORDERS, mio::Interest::READABLE)
            .map_err(ReceiverError::Setup)?;
        self.orders = Some((stream, OrderDecoder::default()));
        Ok(())
    }

    /// The orders stream is readable: apply every whole order.
    fn on_orders(&mut self) {
        use std::io::Read;
        let Some((stream, decoder)) = &mut self.orders else {
            return;
        };
        let mut closed = false;
        let mut buf = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let mut orders = Vec::new();
        loop {
            match decoder.next_order() {
                Ok(Some(order)) => orders.push(order),
                Ok(None) => break,
                Err(e) => {
                    self.link
                        .push_record(crate::logging::level::ERROR, "pysyslog.receiver", &e);
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            if let Some((mut stream, _)) = self.orders.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
        }
        for order in orders {
            if matches!(order, Order::Reopen) {
                // No order with the data to keep: files reopen at once.
                self.link.reopen();
                continue;
            }
            // A second order before the first is due: the first applies now.
            self.apply_due_reload();
            self.reload_due = Some((order, Instant::now() + RELOAD_DRAIN_LIMIT));
            self.conns.mark_all_readable();
        }
    }

    /// Apply the reload waiting for the connections to be read dry, if any.
    fn apply_due_reload(&mut self) {
        if let Some((Order::Reload { logging, tls }, _)) = self.reload_due.take() {
            if self.fault_open_on_reload {
                let _ = std::fs::File::open("/etc/hostname");
            }
            self.reloader
                .apply(logging, tls, &mut self.link, &mut self.listeners);
            self.hooks.notify_reloaded();
        }
    }

    /// Queue one of our own records (the start-up banner, for one).
    pub fn log(&mut self, levelno: i32, logger: &str, text: &str) {
        self.link.push_record(levelno, logger, text);
    }

    /// Run until stopped by a signal; returns when everything received is written.
    pub fn run(mut self) -> Result<(), ReceiverError> {
        let mut events = Events::with_capacity(1024);
        // Records queued before the loop (the banner) must not wait for an event.
        self.link.flush(self.poll.registry())?;
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ReceiverError::Poll(e));
            }
            for event in events.iter() {
                match token::source(event.token()) {
                    Source::Signals => self.on_signals(),
                    Source::Status => self.link.on_status_readable(self.poll.registry())?,
                    Source::Orders => self.on_orders(),
                    Source::Listener(index) => self.accept(ListenerId(index)),
                    Source::Datagram(index) => self.udp.mark_ready(index),
                    Source::Connection(key) => {
                        self.on_connection_event(key, event.is_read_closed())
                    }
                    Source::Metrics(index) => self.on_metrics_event(index),
                }
            }
            // Without the rate limit nothing is ever paused: no clock read.
            if self.conns.next_wake().is_some() {
                self.conns.wake_due(Instant::now());
            }
            self.udp_first = !self.udp_first;
            if self.udp_first {
                self.serve_datagrams();
            }
            self.serve_ready();
            if !self.udp_first {
                self.serve_datagrams();
            }
            if self
                .reload_due
                .as_ref()
                .is_some_and(|(_, by)| self.conns.ready_len() == 0 || Instant::now() >= *by)
            {
                self.apply_due_reload();
            }
            let registry = self.poll.registry();
            self.deadlines
                .expire_handshakes(&mut self.conns, registry, &mut self.link);
            let stopping = !self.stopping.is_running();
            self.deadlines
                .close_idle(&mut self.conns, registry, &mut self.link, stopping);
            self.link.flush(registry)?;
            self.conns.answer_relp(self.link.acknowledged(), registry);
            self.resume_accepting();
            self.expire_metrics();
            if let Some(rates) = self.rates.as_mut() {
                rates.report(Instant::now(), &mut self.link);
            }
            if let Some(deadline) = self.stopping.deadline() {
                if self.conns.is_empty() && self.link.is_idle() {
                    break;
                }
                if Instant::now() >= deadline {
                    self.conns.abandon_all(&mut self.link);
                    break;
                }
            }
        }
        self.link.finish(self.stopping.writer_patience());
        Ok(())
    }

    /// Zero while connections wait for a turn (and may read); otherwise until
    /// the earliest deadline, or forever.
    fn poll_timeout(&self) -> Option<Duration> {
        if (self.conns.ready_len() > 0 || self.udp.any_ready()) && !self.link.is_full() {
            return Some(Duration::ZERO);
        }
        [
            self.stopping.deadline(),
            self.listeners.retry_at(),
            self.deadlines.next(),
            self.metrics.as_ref().and_then(MetricsServer::next_deadline),
            self.reload_due.as_ref().map(|(_, by)| *by),
            self.conns.next_wake(),
            self.rates.as_ref().and_then(SourceRates::report_due),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|wake| wake.saturating_duration_since(Instant::now()))
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                // Sent to the receiver itself: the monitor reads the files.
                SIGHUP => self.hooks.request_reload(),
                // Reopening needs no file read: done here.
                SIGUSR1 => self.link.reopen(),
                _ if !self.stopping.is_running() => {
                    // A second stop request: give up draining now.
                    self.conns.abandon_all(&mut self.link);
                    self.stopping.force();
                }
                _ => self.begin_stop(),
            }
        }
    }

    /// Stop accepting; read what every peer already sent, then finish.
    fn begin_stop(&mut self) {
        self.hooks.notify_stopping();
        self.stopping.begin();
        self.listeners.stop(self.poll.registry());
        self.udp.stop(self.poll.registry());
        // What paused connections' peers sent is read now, as any other's.
        self.conns.wake_all(Instant::now());
        self.conns.mark_all_readable();
    }

    /// Take every connection waiting on `listener`, while the limits allow.
    fn accept(&mut self, listener: ListenerId) {
        let registry = self.poll.registry();
        while let Some(accepted) =
            self.listeners
                .accept(listener, self.conns.len(), registry, &mut self.link)
        {
            let proxy = match self.policy.admit_stream(accepted.addr.ip()) {
                Admission::Refuse => {
                    let refused = conn::Refused::NotAllowed {
                        ip: accepted.addr.ip(),
                        what: "connection",
                    };
                    self.conns
                        .count_refused(accepted.listener.0, refused.reason());
                    self.refusals.report(refused, &mut self.link);
                    continue;
                }
                Admission::Serve => {
                    if let Some(source) = self.conns.source_is_full(accepted.addr.ip()) {
                        self.conns
                            .count_refused(accepted.listener.0, Refusal::PerSourceLimit);
                        let cap = self.conns.per_source_cap();
                        self.refusals.over_source_cap(
                            accepted.addr.ip(),
                            source,
                            cap,
                            &mut self.link,
                        );
                        continue;
                    }
                    None
                }
                Admission::ServeAfterHeader => {
                    Some(ProxyState::new(std::sync::Arc::clone(&self.policy.allow)))
                }
            };
            // Without keepalive the connection works as before: not fatal.
            let _ = self.policy.set_up(&accepted.socket);
            if let Some(opened) = self.conns.open(accepted, proxy, registry, &mut self.link) {
                if opened.handshaking {
                    self.deadlines.handshake_started(opened.key, opened.id);
                }
            }
        }
    }

    /// After a pause, accept what waited on every listener.
    fn resume_accepting(&mut self) {
        let registry = self.poll.registry();
        if self
            .listeners
            .resume_if_due(self.conns.len(), registry, &mut self.link)
        {
            for index in 0..self.listeners.count() {
                self.accept(ListenerId(index));
            }
        }
    }

    /// A readiness event for a connection.
    fn on_connection_event(&mut self, key: usize, read_closed: bool) {
        if read_closed
            && self.link.is_full()
            && self
                .conns
                .close_if_nothing_unread(key, self.poll.registry(), &mut self.link)
        {
            return;
        }
        self.conns.mark_readable(key);
    }

    /// Give each ready UDP listener one budgeted turn.
    fn serve_datagrams(&mut self) {
        if self.stopping.is_running() {
            self.udp.serve(
                &self.policy,
                &mut self.refusals,
                self.rates.as_mut(),
                &mut self.link,
            );
        }
    }

    /// Give each connection with unread data one budgeted turn.
    fn serve_ready(&mut self) {
        let budget = self.stopping.read_budget(READ_BUDGET_BYTES);
        let running = self.stopping.is_running();
        let registry = self.poll.registry();
        for _ in 0..self.conns.ready_len() {
            self.conns.spill_over_budget(&mut self.link);
            if self.link.is_full() {
                return;
            }
            let Some(key) = self.conns.next_ready() else {
                return;
            };
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            // With --rate-limit-per-source (not while stopping: what peers
            // sent is then read at once), a turn reads what the source's
            // tokens allow; a source behind a balancer is known once the
            // header is read.
            let pace = match self.rates.as_mut() {
                Some(rates) if running && !conn.awaits_proxy_header() => {
                    let now = Instant::now();
                    Some((
                        now,
                        rates.pace(conn.addr().ip(), now, conn.is_handshaking()),
                    ))
                }
                _ => None,
            };
            let (lines, charged) = match pace {
                None => (u64::MAX, None),
                Some((now, Pace::Pause { until })) => {
                    self.conns.pause(key, now, until);
                    continue;
                }
                Some((_, Pace::Read { source, lines })) => (lines, Some(source)),
            };
            let before = conn.received().lines;
            let turn = conn.read(&mut self.scratch, budget, lines, &mut self.link);
            if !matches!(turn, Turn::Finished | Turn::Refused(_)) {
                conn.update_interest(registry, token::connection(key));
            }
            // Out of tokens after the turn: paused rather than queued again
            // (a handshake still under way is not: its deadline runs).
            let pause_until = match (charged, self.rates.as_mut()) {
                (Some(source), Some(rates)) => {
                    let read = conn.received().lines.saturating_sub(before);
                    let handshaking = conn.is_handshaking();
                    rates
                        .charge(source, read, Instant::now())
                        .filter(|_| !handshaking)
                }
                _ => None,
            };
            self.conns.note_partial(key);
            match turn {
                Turn::HeaderRead => match self.conns.count_proxied_client(key) {
                    Ok(()) => self.conns.requeue(key),
                    Err((client, source)) => {
                        let cap = self.conns.per_source_cap();
                        self.refusals
                            .over_source_cap(client, source, cap, &mut self.link);
                        self.conns
                            .close_refused(key, Refusal::PerSourceLimit, registry);
                    }
                },
                Turn::MoreLeft if running => match pause_until {
                    Some(until) => self.conns.pause(key, Instant::now(), until),
                    None => self.conns.requeue(key),
                },
                Turn::Drained if running => self.conns.unschedule(key),
                Turn::MoreLeft | Turn::Drained => {
                    // Stopping: what the peer had sent is read; close.
                    if let Some(conn) = self.conns.get_mut(key) {
                        conn.finish(&mut self.link);
                    }
                    self.conns.close(key, registry);
                }
                Turn::Finished => self.conns.close(key, registry),
                Turn::Refused(refused) => {
                    let why = refused.reason();
                    self.refusals.report(refused, &mut self.link);
                    self.conns.close_refused(key, why, registry);
                }
            }
        }
    }
}

//! The receiver: one mio event loop owning every socket.
//!
//! Owns: the loop, fair reading (a byte budget per connection per turn, so one
//! fast sender cannot starve the others), backpressure (no reads while the
//! writer link is full), signals and graceful stop. Its parts:
//! `accept` (connection limit, out-of-descriptors pause), `timers`
//! (handshake and idle deadlines), `hup` (reopen and reloads), [`conn`] (one connection, plain or TLS),
//! [`framing`]; batches go to the writer through [`crate::link`]. Does not own:
//! formats ([`crate::ipc`]) or output.
//!
//! Every loop iteration: wait for events, serve connections that have unread
//! data (each gets one budgeted turn, those with more left go to the back of the
//! queue), then seal the open batch. So a lone line is handed to the writer in
//! the iteration it arrived, and batches grow by themselves under load.

mod accept;
pub mod conn;
pub mod framing;
mod hup;
pub mod listener;
mod timers;

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::link::{LinkError, WriterLink};
use crate::tls::TlsFiles;
use accept::{Accepting, ListenerSlot};
use conn::{Connection, Turn};

const SIGNALS: Token = Token(0);
const STATUS: Token = Token(1);
const LISTENER_BASE: usize = 2;
const CONN_BASE: usize = 1024;

/// One read into the shared scratch buffer; big reads mean few syscalls.
const READ_CHUNK_BYTES: usize = 128 * 1024;
/// Bytes one connection may read per turn before others get theirs.
const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Pause after running out of descriptors before accepting again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// A graceful stop gives up on draining sockets after this long.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// After a second stop request, the writer gets this long to write what it
/// holds before it is killed.
const FORCED_STOP_WRITER_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read from one connection while stopping, at most: a sender that never
/// pauses must not keep the collector from stopping.
const STOP_READ_CAP_BYTES: usize = 16 * 1024 * 1024;

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
    pub max_connections: usize,
    /// TLS files, re-read on SIGHUP; `None` for plain TCP.
    pub tls: Option<TlsFiles>,
    /// How long a TLS handshake may take before the connection is closed.
    pub handshake_timeout: Duration,
    /// Close connections that sent nothing for this long (`--idle-timeout`).
    pub idle_timeout: Option<Duration>,
    /// Configuration reload on SIGHUP and systemd notifications.
    pub hooks: crate::service::ServiceHooks,
}

pub struct Receiver {
    poll: Poll,
    signals: Signals,
    listeners: Vec<ListenerSlot>,
    conns: Slab<Connection>,
    /// Connections with unread data, served in turn.
    ready: VecDeque<usize>,
    link: WriterLink,
    scratch: Vec<u8>,
    config: ReceiverConfig,
    accepting: Accepting,
    /// Set once a stop was asked for: the deadline of the drain.
    stopping: Option<Instant>,
    /// A second stop request came: the writer gets little time to finish.
    forced_stop: bool,
    /// The server configuration new TLS connections get (replaced on SIGHUP).
    tls_config: Option<Arc<rustls::ServerConfig>>,
    next_id: u64,
    /// TLS handshakes in progress, oldest first: (deadline, key, id).
    handshakes: VecDeque<(Instant, usize, u64)>,
    /// When idle connections are looked for next (with `--idle-timeout`).
    next_idle_sweep: Option<Instant>,
}

impl Receiver {
    pub fn new(
        listeners: Vec<TcpListener>,
        mut link: WriterLink,
        config: ReceiverConfig,
        tls_config: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Receiver, ReceiverError> {
        let poll = Poll::new().map_err(ReceiverError::Setup)?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(ReceiverError::Setup)?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(ReceiverError::Setup)?;
        link.register(poll.registry(), STATUS)
            .map_err(ReceiverError::Setup)?;
        let mut slots = Vec::new();
        for (i, mut socket) in listeners.into_iter().enumerate() {
            poll.registry()
                .register(&mut socket, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(ReceiverError::Setup)?;
            slots.push(ListenerSlot {
                socket,
                registered: true,
            });
        }
        Ok(Receiver {
            poll,
            signals,
            listeners: slots,
            conns: Slab::new(),
            ready: VecDeque::new(),
            link,
            scratch: vec![0; READ_CHUNK_BYTES],
            config,
            accepting: Accepting::Yes,
            stopping: None,
            forced_stop: false,
            tls_config,
            next_id: 0,
            handshakes: VecDeque::new(),
            next_idle_sweep: None,
        })
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
                match event.token() {
                    SIGNALS => self.on_signals(),
                    STATUS => self.link.on_status_readable(self.poll.registry())?,
                    Token(t) if t >= CONN_BASE => {
                        self.on_connection_event(t - CONN_BASE, event.is_read_closed())
                    }
                    Token(t) => self.accept(t - LISTENER_BASE),
                }
            }
            self.serve_ready();
            self.expire_handshakes();
            self.close_idle();
            self.link.flush(self.poll.registry())?;
            self.resume_accepting();
            if let Some(deadline) = self.stopping {
                if self.conns.is_empty() && self.link.is_idle() {
                    break;
                }
                if Instant::now() >= deadline {
                    self.abandon_connections();
                    break;
                }
            }
        }
        let patience = if self.forced_stop {
            FORCED_STOP_WRITER_TIMEOUT
        } else {
            STOP_TIMEOUT
        };
        self.link.finish(patience);
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() && !self.link.is_full() {
            return Some(Duration::ZERO);
        }
        let mut wake: Option<Instant> = self.stopping;
        let timers = [
            match self.accepting {
                Accepting::OutOfFds(at) => Some(at),
                _ => None,
            },
            self.handshakes.front().map(|h| h.0),
            self.next_idle_sweep,
        ];
        for at in timers.into_iter().flatten() {
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        wake.map(|w| w.saturating_duration_since(Instant::now()))
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGHUP => self.on_hup(),
                _ if self.stopping.is_some() => {
                    // A second stop request: give up draining now.
                    self.abandon_connections();
                    self.stopping = Some(Instant::now());
                    self.forced_stop = true;
                }
                _ => self.begin_stop(),
            }
        }
    }

    /// Stop accepting; read what every peer already sent, then finish.
    fn begin_stop(&mut self) {
        self.config.hooks.notify_stopping();
        self.stopping = Some(Instant::now() + STOP_TIMEOUT);
        self.set_listening(false);
        self.accepting = Accepting::Stopped;
        self.listeners.clear();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.mark_readable(key);
        }
    }

    /// Close every connection now, logging what each had buffered.
    fn abandon_connections(&mut self) {
        for mut conn in self.conns.drain() {
            conn.finish(&mut self.link);
        }
        self.ready.clear();
    }

    /// A readiness event for a connection.
    fn on_connection_event(&mut self, key: usize, read_closed: bool) {
        // While reading is paused (the queue is full), a peer that closed and has
        // nothing unread is closed at once, so it does not hold a connection slot
        // in CLOSE_WAIT until the writer catches up.
        if read_closed && self.link.is_full() {
            if let Some(conn) = self.conns.get_mut(key) {
                if !conn.scheduled && conn.unread_bytes() == 0 {
                    conn.finish(&mut self.link);
                    self.close(key);
                    return;
                }
            }
        }
        self.mark_readable(key);
    }

    fn mark_readable(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.readable = true;
            if !conn.scheduled {
                conn.scheduled = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Give each connection with unread data one budgeted turn.
    fn serve_ready(&mut self) {
        let turns = self.ready.len();
        for _ in 0..turns {
            if self.link.is_full() {
                return;
            }
            let Some(key) = self.ready.pop_front() else {
                return;
            };
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            let budget = if self.stopping.is_some() {
                STOP_READ_CAP_BYTES
            } else {
                READ_BUDGET_BYTES
            };
            let turn = conn.read(&mut self.scratch, budget, &mut self.link);
            let wanted = conn.wanted_interest();
            if turn != Turn::Finished && wanted != conn.interest {
                let token = Token(CONN_BASE + key);
                if self
                    .poll
                    .registry()
                    .reregister(&mut conn.socket, token, wanted)
                    .is_ok()
                {
                    conn.interest = wanted;
                }
            }
            match turn {
                Turn::MoreLeft if self.stopping.is_none() => self.ready.push_back(key),
                Turn::Drained if self.stopping.is_none() => conn.scheduled = false,
                Turn::MoreLeft | Turn::Drained => {
                    // Stopping: what the peer had sent is read; close.
                    conn.finish(&mut self.link);
                    self.close(key);
                }
                Turn::Finished => self.close(key),
            }
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut conn.socket);
        }
    }
}

//! The metrics endpoint's sockets, served on the receiver's event loop.
//!
//! Owns: the listening socket, who may connect (`--metrics-allow`), at most
//! [`MAX_SCRAPERS`] clients, the bound on a request's size and the deadline
//! of each exchange. Does not own: what a request means ([`super::http`]) or
//! the body ([`super::collect`]).
//!
//! No thread: the receiver forks writers, and a fork copies only the thread
//! that calls it. Scrapers never wait in the backlog behind a slow one: a
//! client past the limit takes the slot of the oldest client that has not
//! sent its whole request yet (silent clients cannot keep a scrape out), and
//! is closed at once only when every slot is sending a response. A client
//! that does not finish its exchange within [`DEADLINE`] is closed, so a
//! stalled client holds its slot for that long at most.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::http::{self, Request};
use crate::cidr::CidrSet;

/// Clients served at once.
pub const MAX_SCRAPERS: usize = 4;
/// Longest request head accepted (Prometheus sends a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has from being accepted to having read the whole response.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One scraper's exchange.
#[derive(Debug)]
struct Client {
    socket: TcpStream,
    /// The request head so far.
    request: Vec<u8>,
    /// The response and how much of it is sent, once known.
    response: Option<(Vec<u8>, usize)>,
    deadline: Instant,
}

/// What a client event asks of the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    Nothing,
    /// Client `client` asked for the metrics (without the body for HEAD).
    Metrics {
        client: usize,
        head: bool,
    },
}

#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    clients: Vec<Option<Client>>,
    /// The token of the listener; client `i` has `base + 1 + i`.
    base: usize,
    /// Clients served; others are closed at accept.
    allow: CidrSet,
}

impl MetricsServer {
    /// Serve clients in `allow` on `listener` (bound at start-up), its
    /// events under `Token(base)` and the clients' under the
    /// [`MAX_SCRAPERS`] tokens after it.
    pub fn new(
        mut listener: TcpListener,
        base: usize,
        registry: &Registry,
        allow: CidrSet,
    ) -> io::Result<MetricsServer> {
        registry.register(&mut listener, Token(base), Interest::READABLE)?;
        Ok(MetricsServer {
            listener,
            clients: (0..MAX_SCRAPERS).map(|_| None).collect(),
            base,
            allow,
        })
    }

    /// The listener is readable: take every waiting client.
    pub fn on_listener(&mut self, registry: &Registry) {
        loop {
            let (mut socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or out of descriptors: the next event retries.
                Err(_) => return,
            };
            if !self.allow.contains(peer.ip()) {
                // Closed at once (dropping the socket): it never takes a slot.
                continue;
            }
            let Some(free) = self.free_slot(registry) else {
                // Every slot is sending a response: closed at once.
                continue;
            };
            let token = Token(self.base + 1 + free);
            if registry
                .register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.clients[free] = Some(Client {
                socket,
                request: Vec::new(),
                response: None,
                deadline: Instant::now() + DEADLINE,
            });
        }
    }

    /// A free slot, or the slot of the oldest client still waiting for its
    /// request (closed to make room); `None` when every client is being
    /// answered.
    fn free_slot(&mut self, registry: &Registry) -> Option<usize> {
        if let Some(free) = self.clients.iter().position(Option::is_none) {
            return Some(free);
        }
        let oldest = self
            .clients
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| c.response.is_none())
            .min_by_key(|(_, c)| c.deadline)
            .map(|(i, _)| i)?;
        self.close(oldest, registry);
        Some(oldest)
    }

    /// An event for client `client`: read its request, or send more of its
    /// response.
    pub fn on_client(&mut self, client: usize, registry: &Registry) -> Wants {
        let Some(Some(c)) = self.clients.get_mut(client) else {
            return Wants::Nothing;
        };
        if c.response.is_some() {
            self.send(client, registry);
            return Wants::Nothing;
        }
        let mut chunk = [0u8; 1024];
        loop {
            match c.socket.read(&mut chunk) {
                Ok(0) => {
                    // Closed before a whole request: nothing to answer.
                    self.close(client, registry);
                    return Wants::Nothing;
                }
                Ok(n) => {
                    let room = MAX_REQUEST_BYTES - c.request.len();
                    c.request.extend_from_slice(&chunk[..n.min(room)]);
                    match http::parse(&c.request) {
                        Request::Metrics { head } => return Wants::Metrics { client, head },
                        Request::Partial if c.request.len() < MAX_REQUEST_BYTES => {}
                        other => {
                            self.respond(client, http::error_response(other), registry);
                            return Wants::Nothing;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Wants::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(client, registry);
                    return Wants::Nothing;
                }
            }
        }
    }

    /// Answer client `client` with `response` (whole HTTP bytes), then close.
    pub fn respond(&mut self, client: usize, response: Vec<u8>, registry: &Registry) {
        if let Some(Some(c)) = self.clients.get_mut(client) {
            c.response = Some((response, 0));
            self.send(client, registry);
        }
    }

    /// The earliest deadline of a client, for the poll timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients.iter().flatten().map(|c| c.deadline).min()
    }

    /// Close clients past their deadline.
    pub fn expire(&mut self, now: Instant, registry: &Registry) {
        for i in 0..self.clients.len() {
            if self.clients[i].as_ref().is_some_and(|c| c.deadline <= now) {
                self.close(i, registry);
            }
        }
    }

    /// Clients being served.
    pub fn clients(&self) -> usize {
        self.clients.iter().flatten().count()
    }

    /// Send what the socket takes; close once all is sent or it fails.
    fn send(&mut self, client: usize, registry: &Registry) {
        let Some(Some(c)) = self.clients.get_mut(client) else {
            return;
        };
        let Some((bytes, sent)) = c.response.as_mut() else {
            return;
        };
        while *sent < bytes.len() {
            match c.socket.write(&bytes[*sent..]) {
                Ok(0) => break,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // Said all there is: no more writes, so the peer sees the end.
        let _ = c.socket.shutdown(std::net::Shutdown::Write);
        self.close(client, registry);
    }

    fn close(&mut self, client: usize, registry: &Registry) {
        if let Some(slot) = self.clients.get_mut(client) {
            if let Some(mut c) = slot.take() {
                let _ = registry.deregister(&mut c.socket);
            }
        }
    }
}

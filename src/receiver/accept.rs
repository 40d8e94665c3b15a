//! Accepting connections: the connection limit with hysteresis, and the pause
//! when the process runs out of file descriptors.
//!
//! Owns: when the listeners are watched, and turning an accepted socket into a
//! [`Connection`] (with its TLS session, if any). Does not own: reading.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Interest, Token};

use super::conn::{Connection, LOGGER};
use super::listener::{classify_accept_error, peer_name, AcceptFailure};
use super::{Receiver, ACCEPT_RETRY_DELAY, CONN_BASE, LISTENER_BASE};
use crate::logging::level;

#[derive(Debug)]
pub(super) struct ListenerSlot {
    pub(super) socket: TcpListener,
    pub(super) registered: bool,
}

/// Why accepting is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accepting {
    Yes,
    /// At the connection limit; resume below 90% of it.
    AtLimit,
    /// Out of descriptors; retry at the instant.
    OutOfFds(Instant),
    /// Stopping: never again.
    Stopped,
}

impl Receiver {
    pub(super) fn accept(&mut self, index: usize) {
        loop {
            if self.accepting != Accepting::Yes {
                return;
            }
            if self.conns.len() >= self.config.max_connections {
                self.link.warning(
                    LOGGER,
                    &format!(
                        "{} connections open (--max-connections): new peers wait in the listen backlog until some close",
                        self.conns.len()
                    ),
                );
                self.accepting = Accepting::AtLimit;
                self.set_listening(false);
                return;
            }
            let Some(slot) = self.listeners.get(index) else {
                return;
            };
            match slot.socket.accept() {
                Ok((socket, addr)) => self.add_connection(socket, addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => match classify_accept_error(&e) {
                    AcceptFailure::Retry => {}
                    AcceptFailure::NoDescriptors => {
                        self.link.push_record(
                            level::ERROR,
                            LOGGER,
                            &format!(
                                "accept deferred: {e}; pausing new connections for {}s (raise the open files limit)",
                                ACCEPT_RETRY_DELAY.as_secs()
                            ),
                        );
                        self.accepting = Accepting::OutOfFds(Instant::now() + ACCEPT_RETRY_DELAY);
                        self.set_listening(false);
                        return;
                    }
                    AcceptFailure::Other => {
                        self.link
                            .push_record(level::ERROR, LOGGER, &format!("accept failed: {e}"));
                        return;
                    }
                },
            }
        }
    }

    pub(super) fn add_connection(&mut self, mut socket: mio::net::TcpStream, addr: SocketAddr) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut socket, Token(CONN_BASE + key), Interest::READABLE)
        {
            self.link.push_record(
                level::ERROR,
                LOGGER,
                &format!("cannot watch connection from {addr}: {e}"),
            );
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let tls = match &self.tls_config {
            None => None,
            Some(config) => match rustls::ServerConnection::new(config.clone()) {
                Ok(session) => {
                    let deadline = Instant::now() + self.config.handshake_timeout;
                    self.handshakes.push_back((deadline, key, id));
                    Some((session, deadline))
                }
                Err(e) => {
                    self.link.push_record(
                        level::ERROR,
                        LOGGER,
                        &format!("cannot start TLS with {addr}: {e}"),
                    );
                    let _ = self.poll.registry().deregister(&mut socket);
                    return;
                }
            },
        };
        entry.insert(Connection::new(
            socket,
            id,
            addr,
            peer_name(&addr),
            self.config.max_line_bytes,
            tls,
        ));
        // Data may have arrived with the connection; the edge may already be gone.
        self.mark_readable(key);
    }

    /// Resume accepting after a pause, once its reason is gone.
    pub(super) fn resume_accepting(&mut self) {
        let resume = match self.accepting {
            Accepting::AtLimit => self.conns.len() * 10 < self.config.max_connections * 9,
            Accepting::OutOfFds(at) => Instant::now() >= at,
            Accepting::Yes | Accepting::Stopped => false,
        };
        if resume {
            self.link
                .push_record(level::INFO, LOGGER, "accepting new connections again");
            self.accepting = Accepting::Yes;
            self.set_listening(true);
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
    }

    pub(super) fn set_listening(&mut self, on: bool) {
        for (i, slot) in self.listeners.iter_mut().enumerate() {
            if slot.registered == on {
                continue;
            }
            let registry = self.poll.registry();
            let done = if on {
                registry.register(
                    &mut slot.socket,
                    Token(LISTENER_BASE + i),
                    Interest::READABLE,
                )
            } else {
                registry.deregister(&mut slot.socket)
            };
            if done.is_ok() {
                slot.registered = on;
            }
        }
    }
}

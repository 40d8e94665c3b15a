//! Accepting connections: the listener set, the connection limit with
//! hysteresis, and the pause when the process runs out of file descriptors.
//!
//! Owns: the listeners (of any kind), when they are watched, and handing out
//! accepted sockets with the listener they came from and what that listener
//! speaks. Does not own: turning a socket into a connection
//! ([`super::connections`]) or reading.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::conn::LOGGER;
use super::listener::{classify_accept_error, AcceptFailure, Listener, ListenerId};
use super::token;
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::AcceptPauses;

/// Pause after running out of descriptors before accepting again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Why accepting is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    Yes,
    /// At the connection limit; resume below 90% of it.
    AtLimit,
    /// Out of descriptors; retry at the instant.
    OutOfFds(Instant),
    /// Stopping: never again.
    Stopped,
}

/// A listener and whether the event loop watches it now.
#[derive(Debug)]
struct Watched {
    listener: Listener,
    registered: bool,
}

/// A socket just accepted, not yet a connection.
#[derive(Debug)]
pub struct Accepted {
    pub socket: TcpStream,
    pub addr: SocketAddr,
    pub listener: ListenerId,
    /// The session configuration, when the listener speaks TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The listener speaks RELP.
    pub relp: bool,
}

/// Every listener, and whether new connections are taken.
#[derive(Debug)]
pub struct Acceptor {
    listeners: Vec<Watched>,
    state: Accepting,
    max_connections: usize,
    /// How often accepting paused, for the metrics.
    pauses: AcceptPauses,
}

impl Acceptor {
    /// Watch every listener; at most `max_connections` connections at once.
    pub fn new(
        listeners: Vec<Listener>,
        max_connections: usize,
        registry: &Registry,
    ) -> io::Result<Acceptor> {
        let mut watched = Vec::with_capacity(listeners.len());
        for (i, mut listener) in listeners.into_iter().enumerate() {
            registry.register(listener.source(), token::listener(i), Interest::READABLE)?;
            watched.push(Watched {
                listener,
                registered: true,
            });
        }
        Ok(Acceptor {
            listeners: watched,
            state: Accepting::Yes,
            max_connections,
            pauses: AcceptPauses::default(),
        })
    }

    /// Listeners in the set; their ids are `0..count()`.
    pub fn count(&self) -> usize {
        self.listeners.len()
    }

    /// How often accepting paused.
    pub fn pauses(&self) -> AcceptPauses {
        self.pauses
    }

    /// The metrics label of each listener: `tcp://ADDR` or `tls://ADDR`.
    pub fn labels(&self) -> Vec<String> {
        self.listeners
            .iter()
            .map(|w| {
                let scheme = match (w.listener.is_relp(), w.listener.tls_config().is_some()) {
                    (false, false) => "tcp",
                    (false, true) => "tls",
                    (true, false) => "relp",
                    (true, true) => "relp+tls",
                };
                match w.listener.local_addr() {
                    Ok(addr) => format!("{scheme}://{addr}"),
                    Err(_) => format!("{scheme}://unknown"),
                }
            })
            .collect()
    }

    /// The next socket waiting on listener `id`, while accepting is allowed
    /// with `open` connections open. `None` when there is none now, or when
    /// accepting just paused (reported under the receiver's logger).
    pub fn accept(
        &mut self,
        id: ListenerId,
        open: usize,
        registry: &Registry,
        link: &mut WriterLink,
    ) -> Option<Accepted> {
        loop {
            if self.state != Accepting::Yes {
                return None;
            }
            if open >= self.max_connections {
                link.warning(
                    LOGGER,
                    &format!(
                        "{open} connections open (--max-connections): new peers wait in the listen backlog until some close"
                    ),
                );
                self.state = Accepting::AtLimit;
                self.pauses.limit += 1;
                self.set_listening(false, registry);
                return None;
            }
            let watched = self.listeners.get(id.0)?;
            match watched.listener.accept() {
                Ok((socket, addr)) => {
                    return Some(Accepted {
                        socket,
                        addr,
                        listener: id,
                        tls: watched.listener.tls_config().cloned(),
                        relp: watched.listener.is_relp(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => match classify_accept_error(&e) {
                    AcceptFailure::Retry => {}
                    AcceptFailure::NoDescriptors => {
                        link.push_record(
                            level::ERROR,
                            LOGGER,
                            &format!(
                                "accept deferred: {e}; pausing new connections for {}s (raise the open files limit)",
                                ACCEPT_RETRY_DELAY.as_secs()
                            ),
                        );
                        self.state = Accepting::OutOfFds(Instant::now() + ACCEPT_RETRY_DELAY);
                        self.pauses.descriptors += 1;
                        self.set_listening(false, registry);
                        return None;
                    }
                    AcceptFailure::Other => {
                        link.push_record(level::ERROR, LOGGER, &format!("accept failed: {e}"));
                        return None;
                    }
                },
            }
        }
    }

    /// Resume accepting after a pause once its reason is gone (`open`
    /// connections open). Returns whether it resumed: then the caller accepts
    /// what waited on every listener, as no new edge may come for it.
    pub fn resume_if_due(
        &mut self,
        open: usize,
        registry: &Registry,
        link: &mut WriterLink,
    ) -> bool {
        let resume = match self.state {
            Accepting::AtLimit => open * 10 < self.max_connections * 9,
            Accepting::OutOfFds(at) => Instant::now() >= at,
            Accepting::Yes | Accepting::Stopped => false,
        };
        if resume {
            link.push_record(level::INFO, LOGGER, "accepting new connections again");
            self.state = Accepting::Yes;
            self.set_listening(true, registry);
        }
        resume
    }

    /// When the out-of-descriptors pause ends, if accepting is paused for that.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.state {
            Accepting::OutOfFds(at) => Some(at),
            Accepting::Yes | Accepting::AtLimit | Accepting::Stopped => None,
        }
    }

    /// Stop for good: stop watching and close every listener.
    pub fn stop(&mut self, registry: &Registry) {
        self.set_listening(false, registry);
        self.state = Accepting::Stopped;
        self.listeners.clear();
    }

    /// A reloaded certificate: TLS listeners start new sessions with `config`;
    /// established connections keep theirs.
    pub fn replace_tls_config(&mut self, config: &Arc<rustls::ServerConfig>) {
        for watched in &mut self.listeners {
            watched.listener.replace_tls_config(config);
        }
    }

    fn set_listening(&mut self, on: bool, registry: &Registry) {
        for (i, watched) in self.listeners.iter_mut().enumerate() {
            if watched.registered == on {
                continue;
            }
            let socket = watched.listener.source();
            let done = if on {
                registry.register(socket, token::listener(i), Interest::READABLE)
            } else {
                registry.deregister(socket)
            };
            if done.is_ok() {
                watched.registered = on;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::link::fake_link;
    use crate::receiver::listener::{bind, ListenerKind};

    /// Accept on listener 0 with `open` connections, retrying briefly while
    /// the kernel completes the peer's connect.
    fn accept_soon(
        acceptor: &mut Acceptor,
        open: usize,
        registry: &Registry,
        link: &mut WriterLink,
    ) -> Option<Accepted> {
        for _ in 0..200 {
            if let Some(accepted) = acceptor.accept(ListenerId(0), open, registry, link) {
                return Some(accepted);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    #[test]
    fn accepting_pauses_at_the_limit_and_resumes_below_ninety_percent() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let (mut link, _rx, _writer_end) = fake_link();
        let socket = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = socket.local_addr().expect("addr");
        let listeners = vec![Listener::new(socket, ListenerKind::Tcp)];
        let mut acceptor = Acceptor::new(listeners, 10, registry).expect("acceptor");

        let _first = std::net::TcpStream::connect(addr).expect("connect");
        let accepted = accept_soon(&mut acceptor, 0, registry, &mut link).expect("accepted");
        assert_eq!(accepted.listener, ListenerId(0));
        assert!(
            accepted.tls.is_none(),
            "a TCP listener starts no TLS session"
        );

        let _second = std::net::TcpStream::connect(addr).expect("connect");
        assert!(accept_soon(&mut acceptor, 10, registry, &mut link).is_none());
        assert!(
            !acceptor.resume_if_due(9, registry, &mut link),
            "90% is not below 90%"
        );
        assert!(acceptor.resume_if_due(8, registry, &mut link));
        assert!(accept_soon(&mut acceptor, 8, registry, &mut link).is_some());
    }

    #[test]
    fn a_stopped_acceptor_takes_nobody() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let (mut link, _rx, _writer_end) = fake_link();
        let socket = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let listeners = vec![Listener::new(socket, ListenerKind::Tcp)];
        let mut acceptor = Acceptor::new(listeners, 10, registry).expect("acceptor");
        acceptor.stop(registry);
        assert_eq!(acceptor.count(), 0);
        assert!(acceptor
            .accept(ListenerId(0), 0, registry, &mut link)
            .is_none());
        assert!(!acceptor.resume_if_due(0, registry, &mut link));
    }
}

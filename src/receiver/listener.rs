//! Listening sockets: resolving HOST, binding, what each listener speaks, and
//! the accept-side errors.
//!
//! Owns: socket options (SO_REUSEADDR, dual-stack `::`, backlog), the bind error
//! messages operators see, a listener's kind, and classifying accept errors.
//! Does not own: the accept loop or connection limits (`super::accept`).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog: room for a burst of new senders while the loop is busy
/// (pysyslog's was 5, which fails a burst of 100 connections). The kernel caps it
/// at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

/// A failure to listen, with the address and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot resolve host '{host}': {source}; give an IP address or a name this machine can resolve")]
    Resolve { host: String, source: io::Error },
    #[error("host '{host}' resolves to no address")]
    NoAddress { host: String },
    #[error("cannot listen on {addr}: {source}{hint}")]
    Listen {
        addr: SocketAddr,
        source: io::Error,
        hint: &'static str,
    },
}

/// The addresses HOST:PORT stands for (an IP literal is one address; a name may be several).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, BindError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| BindError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(BindError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(addrs)
}

/// Which listener a connection came from: its place in the listener set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerId(pub usize);

/// What a listener's peers speak.
#[derive(Debug, Clone)]
pub enum ListenerKind {
    /// Syslog over plain TCP (RFC 6587).
    Tcp,
    /// Syslog over TLS (RFC 5425): every connection starts a session with this
    /// configuration (replaced when the certificate is reloaded).
    Tls(Arc<rustls::ServerConfig>),
}

/// A bound, listening socket and what it speaks.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    kind: ListenerKind,
}

impl Listener {
    pub fn new(socket: TcpListener, kind: ListenerKind) -> Listener {
        Listener { socket, kind }
    }

    pub(super) fn accept(&self) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
        self.socket.accept()
    }

    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The socket, to (de)register with the event loop.
    pub(super) fn source(&mut self) -> &mut TcpListener {
        &mut self.socket
    }

    /// The TLS configuration a new connection starts its session with;
    /// `None` on a plain TCP listener.
    pub(super) fn tls_config(&self) -> Option<&Arc<rustls::ServerConfig>> {
        match &self.kind {
            ListenerKind::Tcp => None,
            ListenerKind::Tls(config) => Some(config),
        }
    }

    /// A reloaded certificate: new connections on a TLS listener use it.
    pub(super) fn replace_tls_config(&mut self, config: &Arc<rustls::ServerConfig>) {
        if let ListenerKind::Tls(current) = &mut self.kind {
            *current = Arc::clone(config);
        }
    }
}

/// What an operator should do about a bind error.
fn hint(err: &io::Error, addr: &SocketAddr) -> &'static str {
    match err.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE: start as root (add --user to drop privileges) or use a port >= 1024"
        }
        io::ErrorKind::AddrInUse => {
            "; another process listens there: stop it, or choose another port (see `ss -ltnp`)"
        }
        io::ErrorKind::AddrNotAvailable => "; no local interface has this address: check HOST",
        _ => "",
    }
}

/// Bind one listening socket: non-blocking, close-on-exec, SO_REUSEADDR (so a
/// restart does not wait out TIME_WAIT), dual-stack for IPv6.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let listen = || -> io::Result<Socket> {
        let sock = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // `::` then accepts IPv4 peers too, as `::ffff:a.b.c.d`.
            sock.set_only_v6(false)?;
        }
        sock.bind(&addr.into())?;
        sock.listen(LISTEN_BACKLOG)?;
        Ok(sock)
    };
    let sock = listen().map_err(|source| BindError::Listen {
        hint: hint(&source, &addr),
        addr,
        source,
    })?;
    Ok(TcpListener::from_std(sock.into()))
}

/// The peer's logger name: its IP address as text, with IPv4-mapped IPv6
/// addresses written as dotted IPv4 (the logger hierarchy splits on dots).
pub fn peer_name(addr: &SocketAddr) -> String {
    addr.ip().to_canonical().to_string()
}

/// What to do after a failed `accept`.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The connection died in the backlog, or a signal interrupted: try the next one.
    Retry,
    /// Out of file descriptors: stop accepting for a while.
    NoDescriptors,
    /// Anything else: report it and wait for the next readiness event.
    Other,
}

pub fn classify_accept_error(err: &io::Error) -> AcceptFailure {
    match err.raw_os_error() {
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM) => AcceptFailure::Retry,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            AcceptFailure::NoDescriptors
        }
        _ => AcceptFailure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_peers_are_named_in_dotted_form() {
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:5000".parse().expect("addr");
        assert_eq!(peer_name(&mapped), "10.1.2.3");
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().expect("addr");
        assert_eq!(peer_name(&v6), "2001:db8::1");
    }

    #[test]
    fn ip_literals_resolve_to_themselves() {
        assert_eq!(
            resolve("::", 514).expect("resolve"),
            vec!["[::]:514".parse().expect("addr")]
        );
        assert!(resolve("localhost", 514)
            .expect("resolve")
            .iter()
            .all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn a_port_in_use_is_reported_with_the_address_and_a_hint() {
        let first = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = first.local_addr().expect("addr");
        // SO_REUSEADDR does not allow two listeners on one port.
        let err = bind(addr).expect_err("second bind must fail").to_string();
        assert!(
            err.contains(&addr.to_string()) && err.contains("another process"),
            "{err}"
        );
    }
}

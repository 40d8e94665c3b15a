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

use super::endpoint::{Endpoint, ListenerSpec};
use super::token::MAX_LISTENERS;
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
    #[error("{first} and {second} both listen on {addr}: give each address and port once")]
    Overlap {
        first: String,
        second: String,
        addr: SocketAddr,
    },
    #[error("--metrics-listen {addr} is where this collector's own listener {listener} listens: give the metrics endpoint another port")]
    OwnListener { addr: SocketAddr, listener: String },
    #[error("{count} listeners of one kind (TCP/TLS, or UDP) are more than the {max} the collector handles")]
    TooMany { count: usize, max: usize },
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
    /// RELP (librelp's protocol) over plain TCP.
    Relp,
    /// RELP over TLS.
    RelpTls(Arc<rustls::ServerConfig>),
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
            ListenerKind::Tcp | ListenerKind::Relp => None,
            ListenerKind::Tls(config) | ListenerKind::RelpTls(config) => Some(config),
        }
    }

    /// Whether its peers speak RELP.
    pub(super) fn is_relp(&self) -> bool {
        matches!(self.kind, ListenerKind::Relp | ListenerKind::RelpTls(_))
    }

    /// A reloaded certificate: new connections on a TLS listener use it.
    pub(super) fn replace_tls_config(&mut self, config: &Arc<rustls::ServerConfig>) {
        if let ListenerKind::Tls(current) | ListenerKind::RelpTls(current) = &mut self.kind {
            *current = Arc::clone(config);
        }
    }
}

/// Whether two listening addresses would take the same port: the same
/// address, or one of them a wildcard (`0.0.0.0`, or `::`, which is dual-stack).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() {
        return false;
    }
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    x == y
        || x.is_unspecified() && (x.is_ipv6() || y.is_ipv4())
        || y.is_unspecified() && (y.is_ipv6() || x.is_ipv4())
}

/// A bound socket of either kind.
#[derive(Debug)]
pub enum BoundSocket {
    Stream(TcpListener),
    Datagram(mio::net::UdpSocket),
}

/// Every bound socket with what it speaks, and what the operator should know
/// (a UDP receive buffer smaller than asked for).
#[derive(Debug, Default)]
pub struct Bound {
    /// Each socket with the listener it was bound for (port 0 replaced by
    /// the port bound).
    pub sockets: Vec<(Endpoint, BoundSocket)>,
    /// Each socket bound for a listener given port 0, in order, with the
    /// port it got.
    pub chosen_ports: Vec<(Endpoint, u16)>,
    pub warnings: Vec<String>,
}

/// Every address each listener resolves to, in order, refused when two of
/// the same kind (stream or datagram) would share a port or there are more
/// than the event loop has room for. Binds nothing (`--check-config` uses it).
pub fn plan(specs: &[ListenerSpec]) -> Result<Vec<(&Endpoint, SocketAddr)>, BindError> {
    let mut planned: Vec<(&Endpoint, SocketAddr)> = Vec::new();
    for spec in specs {
        let e = &spec.endpoint;
        for addr in resolve(&e.host, e.port)? {
            // Port 0 is a different free port for each socket.
            let clash = planned.iter().find(|(other, at)| {
                other.transport.is_stream() == e.transport.is_stream()
                    && addr.port() != 0
                    && overlaps(*at, addr)
            });
            if let Some((other, _)) = clash {
                return Err(BindError::Overlap {
                    first: other.to_string(),
                    second: e.to_string(),
                    addr,
                });
            }
            planned.push((e, addr));
        }
    }
    for stream in [true, false] {
        let count = planned
            .iter()
            .filter(|(e, _)| e.transport.is_stream() == stream)
            .count();
        if count > MAX_LISTENERS {
            return Err(BindError::TooMany {
                count,
                max: MAX_LISTENERS,
            });
        }
    }
    Ok(planned)
}

/// Resolve and bind every listener, in order; UDP sockets get a receive
/// buffer of `udp_recv_buffer` bytes. Two listeners that would share a port
/// (after resolving names) are refused before anything is bound.
pub fn bind_all(specs: &[ListenerSpec], udp_recv_buffer: usize) -> Result<Bound, BindError> {
    let planned = plan(specs)?;
    let mut bound = Bound::default();
    for (e, addr) in planned {
        let socket = if e.transport.is_stream() {
            BoundSocket::Stream(bind(addr)?)
        } else {
            let (socket, got) = bind_udp(addr, udp_recv_buffer)?;
            if got < udp_recv_buffer {
                bound.warnings.push(format!(
                    "UDP listener {e}: receive buffer is {got} bytes, not the {udp_recv_buffer} of --udp-recv-buffer (net.core.rmem_max limits it without root)"
                ));
            }
            BoundSocket::Datagram(socket)
        };
        let mut endpoint = e.clone();
        if e.port == 0 {
            // The kernel chose: the banner and the origins name its choice.
            if let Some(port) = socket.local_port().filter(|&p| p != 0) {
                endpoint.port = port;
                bound.chosen_ports.push((e.clone(), port));
            }
        }
        bound.sockets.push((endpoint, socket));
    }
    Ok(bound)
}

impl BoundSocket {
    /// The port it is bound to.
    pub fn local_port(&self) -> Option<u16> {
        match self {
            BoundSocket::Stream(s) => s.local_addr().ok().map(|a| a.port()),
            BoundSocket::Datagram(s) => s.local_addr().ok().map(|a| a.port()),
        }
    }
}

/// Bind one UDP socket: non-blocking, close-on-exec, dual-stack for IPv6, its
/// receive buffer as large as asked (beyond `rmem_max` with root's
/// SO_RCVBUFFORCE), and the kernel's drop count on every datagram
/// (SO_RXQ_OVFL). No SO_REUSEADDR: on UDP it would let a second collector
/// bind the same port and silently take half the datagrams. Returns the
/// socket and the buffer the kernel granted (it reports double the usable
/// size; halved here).
pub fn bind_udp(
    addr: SocketAddr,
    recv_buffer: usize,
) -> Result<(mio::net::UdpSocket, usize), BindError> {
    let open = || -> io::Result<(Socket, usize)> {
        let sock = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )?;
        if addr.is_ipv6() {
            sock.set_only_v6(false)?;
        }
        let wanted = libc::c_int::try_from(recv_buffer).unwrap_or(libc::c_int::MAX);
        if set_int(&sock, libc::SO_RCVBUFFORCE, wanted).is_err() {
            sock.set_recv_buffer_size(recv_buffer)?;
        }
        set_int(&sock, libc::SO_RXQ_OVFL, 1)?;
        sock.bind(&addr.into())?;
        let granted = sock.recv_buffer_size()? / 2;
        Ok((sock, granted))
    };
    let (sock, granted) = open().map_err(|source| BindError::Listen {
        hint: hint(&source, &addr, true),
        addr,
        source,
    })?;
    let std: std::net::UdpSocket = sock.into();
    Ok((mio::net::UdpSocket::from_std(std), granted))
}

fn set_int(sock: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: one c_int option value, passed by pointer with its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What an operator should do about a bind error (`udp`: the socket is UDP).
fn hint(err: &io::Error, addr: &SocketAddr, udp: bool) -> &'static str {
    match err.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE: start as root (add --user to drop privileges) or use a port >= 1024"
        }
        io::ErrorKind::AddrInUse if udp => {
            "; another process receives there: stop it, or choose another port (see `ss -lunp`)"
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
        hint: hint(&source, &addr, false),
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
    fn listeners_sharing_a_port_overlap() {
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(overlaps(a("127.0.0.1:514"), a("127.0.0.1:514")));
        assert!(overlaps(a("0.0.0.0:514"), a("127.0.0.1:514")));
        assert!(overlaps(a("[::]:514"), a("127.0.0.1:514")));
        assert!(overlaps(a("[::1]:514"), a("[::]:514")));
        assert!(overlaps(a("[::ffff:127.0.0.1]:514"), a("127.0.0.1:514")));
        assert!(!overlaps(a("0.0.0.0:514"), a("[::1]:514")));
        assert!(!overlaps(a("127.0.0.1:514"), a("127.0.0.2:514")));
        assert!(!overlaps(a("127.0.0.1:514"), a("127.0.0.1:515")));
    }

    #[test]
    fn a_name_resolving_to_a_bound_address_is_an_overlap() {
        let spec = |url: &str| ListenerSpec {
            endpoint: url.parse().expect("url"),
            positional: false,
        };
        let err = bind_all(
            &[spec("tcp://127.0.0.1:1"), spec("tls://localhost:1")],
            1 << 20,
        )
        .expect_err("overlap")
        .to_string();
        assert!(
            err.contains("tcp://127.0.0.1:1 and tls://localhost:1 both listen on 127.0.0.1:1"),
            "{err}"
        );
    }

    #[test]
    fn udp_sockets_get_their_buffer_and_refuse_a_second_binding() {
        let (socket, granted) =
            bind_udp("127.0.0.1:0".parse().expect("addr"), 1 << 20).expect("bind");
        // Root may exceed rmem_max; others get at most it.
        assert!(granted > 0);
        let addr = socket.local_addr().expect("addr");
        assert!(bind_udp(addr, 1 << 20).is_err(), "no SO_REUSEADDR on UDP");
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

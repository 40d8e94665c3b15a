//! SysLogHandler: `<PRI>` + ident + message + NUL, over UDP, TCP or a unix
//! socket, byte for byte as CPython sends it.
//!
//! Unlike Python it never blocks the writer and survives a peer restart: TCP
//! connects without blocking (the connection is checked at the next batches,
//! given up after `CONNECT_TIMEOUT`), sockets are non-blocking, reconnect
//! with exponential backoff, and queue at most `MAX_QUEUED_BYTES`
//! (whole records; the rest are counted as dropped). A record half-sent when a
//! connection breaks is not resent from its middle: its remainder is dropped.
//!
//! Owns: sockets, the send queue, reconnection. Does not own: formatting.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::stats::{EmitFailure, Stats};
use super::stream::Io;
use crate::logging::record::LogRecord;
use crate::logging::spec::SyslogAddress;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);
const MAX_QUEUED_BYTES: usize = 4 << 20;

#[derive(Debug)]
enum Conn {
    /// A non-blocking TCP connect in progress, and when it started.
    Connecting(socket2::Socket, Instant),
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
}

/// One SysLogHandler.
#[derive(Debug)]
pub struct SyslogOut {
    address: SyslogAddress,
    facility: u32,
    /// `socktype`: Some(true) stream, Some(false) datagram, None the default.
    stream: Option<bool>,
    ident: String,
    append_nul: bool,
    conn: Option<Conn>,
    /// The resolved addresses, in getaddrinfo's order, kept until every one failed.
    resolved: Vec<SocketAddr>,
    /// Which of `resolved` is tried or in use.
    candidate: usize,
    /// Whole records waiting, and how many bytes of the first were sent.
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    sent_of_first: usize,
    next_try: Option<Instant>,
    backoff: Duration,
}

/// `SysLogHandler.priority_map` then `priority_names`.
fn priority(levelno: i32) -> u32 {
    match levelno {
        10 => 7,
        20 => 6,
        30 => 4,
        40 => 3,
        50 => 2,
        _ => 4,
    }
}

impl SyslogOut {
    pub fn new(
        address: &SyslogAddress,
        facility: u32,
        stream: Option<bool>,
        ident: String,
        append_nul: bool,
    ) -> SyslogOut {
        SyslogOut {
            address: address.clone(),
            facility,
            stream,
            ident,
            append_nul,
            conn: None,
            resolved: Vec::new(),
            candidate: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            sent_of_first: 0,
            next_try: None,
            backoff: FIRST_RETRY,
        }
    }

    /// The bytes Python sends for this record.
    pub fn emit(&mut self, line: &str, record: &LogRecord<'_>) -> Result<(), EmitFailure> {
        let pri = (self.facility << 3) | priority(record.levelno);
        let mut b = format!("<{pri}>").into_bytes();
        b.extend_from_slice(self.ident.as_bytes());
        b.extend_from_slice(line.as_bytes());
        if self.append_nul {
            b.push(0);
        }
        if self.queued_bytes + b.len() > MAX_QUEUED_BYTES {
            return Err(EmitFailure::Full(
                "send queue full (peer unreachable)".into(),
            ));
        }
        self.queued_bytes += b.len();
        self.queue.push_back(b);
        Ok(())
    }

    /// Open a socket to the current candidate address, moving on to the
    /// next one on failure as CPython's `SysLogHandler` loops over
    /// `getaddrinfo`'s results; the last error when none is left.
    fn connect(&mut self) -> io::Result<Conn> {
        match &self.address {
            SyslogAddress::Inet(host, port) => {
                if self.resolved.is_empty() {
                    self.resolved = (host.as_str(), *port).to_socket_addrs()?.collect();
                    self.candidate = 0;
                }
                let mut last = None;
                while let Some(&addr) = self.resolved.get(self.candidate) {
                    match open_inet(addr, self.stream == Some(true)) {
                        Ok(c) => return Ok(c),
                        Err(e) => {
                            last = Some(e);
                            self.candidate += 1;
                        }
                    }
                }
                Err(last.unwrap_or_else(|| io::Error::other("getaddrinfo returns an empty list")))
            }
            SyslogAddress::Unix(path) => connect_unix(path, self.stream),
        }
    }

    /// Send what the batch queued; reconnect when due.
    pub fn end_batch(&mut self, io: &mut Io, stats: &mut Stats, name: &str) {
        if self.queue.is_empty() {
            return;
        }
        if self.conn.is_none() && self.next_try.is_some_and(|t| Instant::now() < t) {
            return;
        }
        loop {
            if self.conn.is_none() {
                match self.connect() {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => return self.connect_failed(io, stats, name, &e),
                }
            }
            if let Some(Conn::Connecting(s, since)) = &self.conn {
                let failed = match connect_state(s) {
                    Ok(true) => None,
                    Ok(false) if since.elapsed() < CONNECT_TIMEOUT => return,
                    Ok(false) => Some(io::Error::from(io::ErrorKind::TimedOut)),
                    Err(e) => Some(e),
                };
                if let Some(e) = failed {
                    // The next resolved address at once; the backoff only
                    // once every address failed.
                    self.conn = None;
                    if self.candidate + 1 < self.resolved.len() {
                        self.candidate += 1;
                        continue;
                    }
                    return self.connect_failed(io, stats, name, &e);
                }
                if let Some(Conn::Connecting(s, _)) = self.conn.take() {
                    self.conn = Some(Conn::Tcp(s.into()));
                }
                self.backoff = FIRST_RETRY;
                self.next_try = None;
            } else if self.next_try.is_some() {
                self.backoff = FIRST_RETRY;
                self.next_try = None;
            }
            break;
        }
        if let Err(e) = self.send_queue() {
            stats.write_errors += 1;
            stats.report(io, name, "send failed, will reconnect", &e);
            self.conn = None;
            if self.sent_of_first > 0 {
                self.pop_first();
                stats.dropped += 1;
            }
        }
    }

    /// Count, report, and try again after the backoff.
    fn connect_failed(&mut self, io: &mut Io, stats: &mut Stats, name: &str, e: &io::Error) {
        stats.write_errors += 1;
        stats.report(io, name, "cannot connect, will retry", e);
        self.conn = None;
        self.resolved.clear();
        self.candidate = 0;
        self.next_try = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
    }

    fn pop_first(&mut self) {
        if let Some(b) = self.queue.pop_front() {
            self.queued_bytes -= b.len();
        }
        self.sent_of_first = 0;
    }

    /// Datagrams one per record; streams as much as the socket takes now.
    fn send_queue(&mut self) -> io::Result<()> {
        while let Some(first) = self.queue.front() {
            let res = match self.conn.as_mut() {
                None | Some(Conn::Connecting(..)) => return Ok(()),
                Some(Conn::Udp(s, addr)) => s.send_to(first, *addr).map(|_| first.len()),
                Some(Conn::UnixDgram(s)) => s.send(first).map(|_| first.len()),
                Some(Conn::Tcp(s)) => s
                    .write(&first[self.sent_of_first..])
                    .map(|n| self.sent_of_first + n),
                Some(Conn::UnixStream(s)) => s
                    .write(&first[self.sent_of_first..])
                    .map(|n| self.sent_of_first + n),
            };
            match res {
                Ok(n) if n >= first.len() => self.pop_first(),
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent_of_first = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Try once more to send, then drop the socket.
    pub fn close(&mut self) {
        let _ = self.send_queue();
        self.conn = None;
    }
}

/// A socket to one address: a TCP connect started without blocking, or a UDP
/// socket bound for the address's family.
fn open_inet(addr: SocketAddr, stream: bool) -> io::Result<Conn> {
    if stream {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        s.set_nonblocking(true)?;
        match s.connect(&addr.into()) {
            Ok(()) => Ok(Conn::Tcp(s.into())),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                Ok(Conn::Connecting(s, Instant::now()))
            }
            Err(e) => Err(e),
        }
    } else {
        let local: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(io::Error::other)?;
        let s = UdpSocket::bind(local)?;
        s.set_nonblocking(true)?;
        Ok(Conn::Udp(s, addr))
    }
}

/// A non-blocking connect: `Ok(true)` once established, `Ok(false)` while in
/// progress, the error if it failed.
fn connect_state(s: &socket2::Socket) -> io::Result<bool> {
    if let Some(e) = s.take_error()? {
        return Err(e);
    }
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Python's `_connect_unixsocket`: datagram first, stream if that fails and no socktype was given.
fn connect_unix(path: &PathBuf, stream: Option<bool>) -> io::Result<Conn> {
    if stream != Some(true) {
        let d = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
        match d {
            Ok(s) => {
                s.set_nonblocking(true)?;
                return Ok(Conn::UnixDgram(s));
            }
            Err(e) if stream.is_some() => return Err(e),
            Err(_) => {}
        }
    }
    let s = UnixStream::connect(path)?;
    s.set_nonblocking(true)?;
    Ok(Conn::UnixStream(s))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::net::TcpListener;

    use super::*;
    use crate::logging::handler::stream::Capture;

    /// CPython's SysLogHandler tries every getaddrinfo result in order: a name
    /// whose first address refuses (`::1` while the server is on 127.0.0.1)
    /// still connects through the next one.
    #[test]
    fn tcp_tries_each_resolved_address_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let good = listener.local_addr().unwrap();
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut out = SyslogOut::new(
            &SyslogAddress::Inet("unresolvable.invalid".into(), 514),
            1,
            Some(true),
            String::new(),
            false,
        );
        out.resolved = vec![refused, good];
        let record = LogRecord {
            name: "n",
            msg: "hello",
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: None,
        };
        out.emit("hello", &record).unwrap();
        let mut io = Io::default();
        io.capture = Some(Capture::default());
        let mut stats = Stats::default();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut peer = None;
        while Instant::now() < deadline && (peer.is_none() || !out.queue.is_empty()) {
            out.end_batch(&mut io, &mut stats, "s");
            if peer.is_none() {
                peer = listener.accept().ok().map(|(p, _)| p);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut peer = peer.expect("the second address was never tried");
        peer.set_nonblocking(false).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = [0u8; 9];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"<14>hello");
    }
}

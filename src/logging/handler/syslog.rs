//! SysLogHandler: `<PRI>` + ident + message + NUL, over UDP, TCP or a unix
//! socket, byte for byte as CPython sends it.
//!
//! Unlike Python it never blocks the writer and survives a peer restart: TCP
//! connects without blocking (the connection is checked at the next batches,
//! given up after `CONNECT_TIMEOUT`), sockets are non-blocking, and it
//! reconnects with a backoff of at most `MAX_RETRY`. Records stay in a
//! [`SendQueue`] until the peer's TCP acknowledged them, so what a peer that
//! went down had not acknowledged goes again over the next connection.
//!
//! A record it cannot send yet (peer down, or slower than the senders) is
//! held like a failing file's lines (`on_failure: hold`, the default): the
//! engine reports `holding()`, the writer takes no further batch and retries
//! on a timer, and sends as soon as the peer is back, without waiting for
//! traffic. With `on_failure: drop` it keeps up to `DROP_POLICY_QUEUED_BYTES`
//! and drops (and counts) beyond, never holding the other handlers.
//!
//! With `--spool-dir` it has a disk backlog (`backlog.rs`) instead: what
//! the peer cannot take at the end of a batch goes there, so nothing is
//! held back, and comes back in order once the peer takes records again.
//!
//! Owns: sockets, reconnection, when records count as sent. Does not own:
//! formatting, the queue's bookkeeping (`send_queue.rs`) or the backlog's.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::backlog::{Backlog, DRAIN_LOW};
use super::send_queue::{Confirmed, SendQueue};
use super::stats::{EmitFailure, Health, Stats, MAX_PENDING_BYTES};
use crate::logging::record::LogRecord;
use crate::logging::spec::{OnFailure, SyslogAddress};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// A peer that comes back is found within this (a connection attempt to a
/// host that is down costs a SYN).
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How long a closing handler with a backlog waits for its peer to
/// confirm what it was sent.
const CLOSE_CONFIRM: Duration = Duration::from_secs(1);
/// What `on_failure: drop` keeps while the peer is away or slow.
const DROP_POLICY_QUEUED_BYTES: usize = 4 << 20;

#[derive(Debug)]
enum Conn {
    /// A non-blocking TCP connect in progress, and when it started.
    Connecting(socket2::Socket, Instant),
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
}

impl Conn {
    /// The descriptor of an established stream connection.
    fn stream_fd(&self) -> Option<RawFd> {
        match self {
            Conn::Tcp(s) => Some(s.as_raw_fd()),
            Conn::UnixStream(s) => Some(s.as_raw_fd()),
            _ => None,
        }
    }
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
    on_failure: OnFailure,
    conn: Option<Conn>,
    /// The resolved addresses, in getaddrinfo's order, kept until every one failed.
    resolved: Vec<SocketAddr>,
    /// Which of `resolved` is tried or in use.
    candidate: usize,
    queue: SendQueue,
    next_try: Option<Instant>,
    backoff: Duration,
    health: Health,
    /// Its disk backlog, with `--spool-dir` and `on_failure: hold`.
    backlog: Option<Backlog>,
    /// Records stayed unsent that the backlog had no room for: held.
    spill_short: bool,
    /// The last try sent nothing and nothing was confirmed: the peer takes
    /// nothing now (it is not worth trying again soon).
    stalled: bool,
    /// Warnings for `pysyslog.writer` (outage, reminders, recovery).
    pub notes: Vec<String>,
}

/// How many times one end of batch reads back from the backlog and sends:
/// up to this many times [`DRAIN_LOW`], so a batch's turn stays short.
const DRAIN_ROUNDS: usize = 16;

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
        on_failure: OnFailure,
        backlog: Option<Backlog>,
    ) -> SyslogOut {
        SyslogOut {
            address: address.clone(),
            facility,
            stream,
            ident,
            append_nul,
            on_failure,
            conn: None,
            resolved: Vec::new(),
            candidate: 0,
            queue: SendQueue::default(),
            next_try: None,
            backoff: FIRST_RETRY,
            health: Health::default(),
            backlog: backlog.filter(|_| on_failure == OnFailure::Hold),
            spill_short: false,
            stalled: false,
            notes: Vec::new(),
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
        if let Some(backlog) = self.backlog.as_mut().filter(|b| b.takes_new()) {
            backlog.push(b);
            return Ok(());
        }
        let bound = match self.on_failure {
            OnFailure::Drop => DROP_POLICY_QUEUED_BYTES,
            // Only reached by one batch making more than this: while the
            // queue holds, the writer takes no further batch.
            OnFailure::Hold => MAX_PENDING_BYTES,
        };
        if self.queue.unsent_bytes() + b.len() > bound {
            self.health.dropped();
            return Err(EmitFailure::Full(match self.on_failure {
                OnFailure::Drop => "peer away or slow, on_failure: drop".into(),
                OnFailure::Hold => "send queue full".into(),
            }));
        }
        self.queue.push(b, None);
        Ok(())
    }

    /// Whether this handler holds every batch back: records it has not
    /// been able to write to its peer (`on_failure: hold`, the default).
    /// With a backlog it holds only while the backlog cannot take records.
    pub fn holds(&self) -> bool {
        if self.on_failure == OnFailure::Drop {
            return false;
        }
        let unsent = self.queue.unsent_bytes() > 0;
        match &self.backlog {
            Some(b) if b.is_usable() => b.holds() || (self.spill_short && unsent),
            Some(b) => b.holds() || unsent,
            None => unsent,
        }
    }

    /// Records wait for the peer: the writer tries again on a timer. With
    /// a backlog, also while records from it wait for the peer's
    /// acknowledgement (so it is marked delivered without new traffic).
    pub fn unwritten(&self) -> bool {
        self.queue.unsent_bytes() > 0
            || self
                .backlog
                .as_ref()
                .is_some_and(|b| b.records() > 0 || b.holds())
    }

    /// Connected, and only waiting for the peer to take more: worth trying
    /// again soon rather than after a backoff. Also while the outage is not
    /// over yet (it ends once the backlog is empty): a reconnected peer
    /// drains the backlog at the pace it takes records, not one socket
    /// buffer per backoff step (up to 1.6 s) when no traffic comes.
    pub fn waits_for_room(&self) -> bool {
        !self.stalled && matches!(self.conn, Some(Conn::Tcp(_) | Conn::UnixStream(_)))
    }

    /// Records waiting for the peer, in memory and in the backlog.
    fn held_records(&self) -> u64 {
        self.queue.len() as u64 + self.backlog.as_ref().map_or(0, Backlog::records)
    }

    /// Bytes held: not yet written to the peer.
    pub fn held_bytes(&self) -> u64 {
        self.queue.unsent_bytes() as u64
    }

    fn what(&self, name: &str) -> String {
        let to = match &self.address {
            SyslogAddress::Inet(host, port) => {
                let kind = if self.stream == Some(true) {
                    "TCP"
                } else {
                    "UDP"
                };
                format!("{host}:{port} over {kind}")
            }
            SyslogAddress::Unix(path) => path.display().to_string(),
        };
        format!("handler '{name}' sending to {to}")
    }

    /// While the peer is away: remind the operator (at most once a minute).
    pub fn remind(&mut self, name: &str) {
        if self.health.is_failing() {
            let what = self.what(name);
            let held = self.held_records();
            self.health.remind(&what, held, &mut self.notes);
        }
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

    /// Send what waits (reading back from the backlog while the peer takes
    /// it), reconnect when due; with a backlog, what is still unsent goes
    /// there, written before the batch is acknowledged.
    pub fn end_batch(&mut self, stats: &mut Stats, name: &str) {
        self.deliver(stats, name);
        if self.backlog.is_some() && self.queue.unsent_bytes() > 0 {
            let why = (!self.health.is_failing()).then(|| self.what(name) + " falls behind");
            if let Some(b) = self.backlog.as_mut() {
                self.spill_short = b.spill(&mut self.queue, why.as_deref());
            }
        }
        if let Some(b) = self.backlog.as_mut() {
            b.end_batch(name);
            b.count(stats);
            self.notes.append(&mut b.notes);
        }
    }

    fn deliver(&mut self, stats: &mut Stats, name: &str) {
        let backlog_waits = self.backlog.as_ref().is_some_and(|b| b.records() > 0);
        if self.queue.is_empty() && !backlog_waits {
            return;
        }
        if let Some(fd) = self.conn.as_ref().and_then(Conn::stream_fd) {
            if let Err(e) = self.check_stream(fd) {
                self.broken(stats, name, &e);
            }
        }
        if self.queue.unsent_bytes() == 0 && !backlog_waits {
            return;
        }
        // Counted only while failing: the normal path pays nothing.
        let held = if self.health.is_failing() {
            self.held_records()
        } else {
            0
        };
        if !self.ensure_connected(stats, name) {
            return;
        }
        let before = (self.queue.unsent_bytes(), self.queue.len());
        for _ in 0..DRAIN_ROUNDS {
            match self.send_queue() {
                Ok(c) => self.confirmed(&c),
                Err(e) => return self.broken(stats, name, &e),
            }
            let room = self.queue.unsent_bytes() < DRAIN_LOW;
            let more = match self.backlog.as_mut() {
                Some(b) if room => b.drain_into(&mut self.queue),
                _ => 0,
            };
            if more == 0 {
                break;
            }
        }
        self.stalled = (self.queue.unsent_bytes(), self.queue.len()) == before;
        let waiting = self.queue.unsent_bytes() > 0
            || self
                .backlog
                .as_ref()
                .is_some_and(|b| b.has_unread() || b.holds());
        if !waiting && self.health.is_failing() {
            let what = self.what(name);
            self.health.recovered(&what, held, &mut self.notes);
        }
    }

    /// Records the peer confirmed: those from the backlog are delivered.
    fn confirmed(&mut self, c: &Confirmed) {
        if let Some(b) = self.backlog.as_mut() {
            b.confirmed(c);
        }
    }

    /// A connection ready to send on; `false` while connecting, or after a
    /// failure (until the backoff's end).
    fn ensure_connected(&mut self, stats: &mut Stats, name: &str) -> bool {
        if self.conn.is_none() && self.next_try.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        loop {
            if self.conn.is_none() {
                match self.connect() {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.connect_failed(stats, name, &e);
                        return false;
                    }
                }
            }
            if let Some(Conn::Connecting(s, since)) = &self.conn {
                let failed = match connect_state(s) {
                    Ok(true) => None,
                    Ok(false) if since.elapsed() < CONNECT_TIMEOUT => return false,
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
                    self.connect_failed(stats, name, &e);
                    return false;
                }
                if let Some(Conn::Connecting(s, _)) = self.conn.take() {
                    self.conn = Some(Conn::Tcp(s.into()));
                }
            }
            self.backoff = FIRST_RETRY;
            self.next_try = None;
            return true;
        }
    }

    /// An established stream: records the peer acknowledged leave the
    /// queue; an error, or the peer closing its end, breaks it.
    fn check_stream(&mut self, fd: RawFd) -> io::Result<()> {
        let mut unacknowledged: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one int through the pointer, which
        // points to a live c_int; `fd` is this handler's open socket.
        if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut unacknowledged) } == 0 {
            let c = self
                .queue
                .confirm(usize::try_from(unacknowledged).unwrap_or(0));
            self.confirmed(&c);
        }
        let mut byte = [0u8; 1];
        // SAFETY: a one-byte buffer owned here; MSG_PEEK leaves the data.
        let n = unsafe {
            libc::recv(
                fd,
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the peer closed the connection",
            )),
            n if n > 0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                e if e.kind() == io::ErrorKind::Interrupted => Ok(()),
                e => Err(e),
            },
        }
    }

    /// The connection broke: what it did not confirm goes again over the
    /// next one, which is tried at once.
    fn broken(&mut self, stats: &mut Stats, name: &str, e: &io::Error) {
        stats.write_errors += 1;
        self.conn = None;
        self.queue.rewind();
        self.outage(name, e);
    }

    /// Count, report, and try again after the backoff.
    fn connect_failed(&mut self, stats: &mut Stats, name: &str, e: &io::Error) {
        stats.write_errors += 1;
        self.conn = None;
        self.resolved.clear();
        self.candidate = 0;
        self.next_try = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
        self.outage(name, e);
    }

    fn outage(&mut self, name: &str, e: &io::Error) {
        let kept;
        let meanwhile = match (&self.backlog, self.on_failure) {
            (Some(b), _) if b.is_usable() => {
                kept = format!(
                    "keeping its records in its backlog {} (nothing is held back); reconnecting",
                    b.dir().display()
                );
                kept.as_str()
            }
            (_, OnFailure::Hold) => "holding its records, and every batch after them, until the peer takes them (the receiver stops reading, so senders slow down); reconnecting",
            (_, OnFailure::Drop) => "keeping up to 4 MiB of its records and dropping the rest until the peer is back (on_failure: drop); reconnecting",
        };
        let what = self.what(name);
        self.health
            .failed(&what, e.to_string(), meanwhile, &mut self.notes);
    }

    /// Datagrams one per record; streams as much as the socket takes now.
    /// Datagrams sent are confirmed at once.
    fn send_queue(&mut self) -> io::Result<Confirmed> {
        while let Some(rest) = self.queue.next_unsent() {
            let res = match self.conn.as_mut() {
                None | Some(Conn::Connecting(..)) => return Ok(Confirmed::default()),
                Some(Conn::Udp(s, addr)) => s.send_to(rest, *addr).map(|_| rest.len()),
                Some(Conn::UnixDgram(s)) => s.send(rest).map(|_| rest.len()),
                Some(Conn::Tcp(s)) => s.write(rest),
                Some(Conn::UnixStream(s)) => s.write(rest),
            };
            match res {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.queue.wrote(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if matches!(self.conn, Some(Conn::Udp(..) | Conn::UnixDgram(_))) {
            // A datagram has no acknowledgement to wait for: nothing of
            // what was written stays unacknowledged.
            return Ok(self.queue.confirm(0));
        }
        Ok(Confirmed::default())
    }

    /// Try once more to send, then drop the socket (the kernel still
    /// delivers what it took).
    /// With a backlog, what the peer has not confirmed within
    /// [`CLOSE_CONFIRM`] goes to the backlog (a peer that is there confirms
    /// in a moment; what it got and had not confirmed arrives twice), so a
    /// stop or a reload loses nothing the socket held.
    pub fn close(&mut self) {
        if let Ok(c) = self.send_queue() {
            self.confirmed(&c);
        }
        if self.backlog.is_some() {
            let deadline = Instant::now() + CLOSE_CONFIRM;
            while self.queue.in_flight() > 0 && Instant::now() < deadline {
                let Some(fd) = self.conn.as_ref().and_then(Conn::stream_fd) else {
                    break;
                };
                if self.check_stream(fd).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let left = self.queue.take_unspooled();
            if let Some(b) = self.backlog.as_mut() {
                for record in left {
                    b.push(record);
                }
                b.end_batch("");
            }
        }
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
    use std::net::{TcpListener, TcpStream};

    use super::*;

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
            OnFailure::Hold,
            None,
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
        let mut stats = Stats::default();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut peer = None;
        while Instant::now() < deadline && (peer.is_none() || out.unwritten()) {
            out.end_batch(&mut stats, "s");
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

    fn record(msg: &str) -> LogRecord<'_> {
        LogRecord {
            name: "n",
            msg,
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: None,
        }
    }

    /// Read everything `peer` sends until it has `n` NUL-ended records.
    fn read_records(peer: &mut TcpStream, n: usize) -> Vec<String> {
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.iter().filter(|&&b| b == 0).count() < n {
            let k = peer.read(&mut buf).unwrap();
            assert!(
                k > 0,
                "peer closed early: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..k]);
        }
        got.split(|&b| b == 0)
            .filter(|r| !r.is_empty())
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    /// A peer that went away while records waited: they are held (the
    /// engine holds the batches), the outage is reported once, and the
    /// next peer on the address gets every record, without new traffic.
    #[test]
    fn records_wait_for_a_peer_that_comes_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut out = SyslogOut::new(
            &SyslogAddress::Inet("127.0.0.1".into(), addr.port()),
            1,
            Some(true),
            String::new(),
            true,
            OnFailure::Hold,
            None,
        );
        let mut stats = Stats::default();
        out.emit("first", &record("first")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.unwritten() {
            assert!(Instant::now() < deadline, "never connected");
            out.end_batch(&mut stats, "fwd");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (mut peer, _) = listener.accept().unwrap();
        assert_eq!(read_records(&mut peer, 1), ["<14>first"]);
        // The peer goes away: its end closes, nothing listens.
        drop(peer);
        drop(listener);
        for i in 0..3 {
            let m = format!("later {i}");
            out.emit(&m, &record(&m)).unwrap();
        }
        out.end_batch(&mut stats, "fwd");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !out.health.is_failing() {
            assert!(Instant::now() < deadline, "the outage was not noticed");
            std::thread::sleep(Duration::from_millis(20));
            out.end_batch(&mut stats, "fwd");
        }
        assert!(out.holds(), "a peer that is away holds the records");
        assert!(
            out.notes
                .iter()
                .any(|n| n.contains("handler 'fwd' sending to 127.0.0.1:")),
            "{:?}",
            out.notes
        );
        // The peer is back on the same address.
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut peer = loop {
            out.end_batch(&mut stats, "fwd");
            if let Ok((p, _)) = listener.accept() {
                break p;
            }
            assert!(Instant::now() < deadline, "never reconnected");
            std::thread::sleep(Duration::from_millis(20));
        };
        peer.set_nonblocking(false).unwrap();
        while out.unwritten() {
            assert!(Instant::now() < deadline, "never sent");
            out.end_batch(&mut stats, "fwd");
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = read_records(&mut peer, 3);
        let expected: Vec<String> = (0..3).map(|i| format!("<14>later {i}")).collect();
        // Records the dead connection had taken come again; none is missing
        // and their order holds.
        let tail: Vec<String> = got[got.len() - 3..].to_vec();
        assert_eq!(tail, expected, "{got:?}");
        assert!(!out.holds());
        assert!(
            out.notes.iter().any(|n| n.contains("succeeds again")),
            "{:?}",
            out.notes
        );
    }

    /// `on_failure: drop`: a peer that is away holds nothing back; records
    /// beyond the bound are dropped and counted.
    #[test]
    fn on_failure_drop_never_holds() {
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut out = SyslogOut::new(
            &SyslogAddress::Inet("127.0.0.1".into(), refused.port()),
            1,
            Some(true),
            String::new(),
            true,
            OnFailure::Drop,
            None,
        );
        let mut stats = Stats::default();
        let big = "x".repeat(64 << 10);
        let mut dropped = 0;
        for _ in 0..100 {
            if out.emit(&big, &record(&big)).is_err() {
                dropped += 1;
            }
            out.end_batch(&mut stats, "fwd");
        }
        assert!(!out.holds());
        assert!(out.unwritten());
        assert!(dropped > 0 && out.held_bytes() <= DROP_POLICY_QUEUED_BYTES as u64);
    }

    mod with_a_backlog {
        use super::*;
        use crate::logging::handler::backlog::Backlog;
        use crate::spool::{self, Fsync, Spool};

        fn settings() -> &'static spool::Settings {
            let dir = tempfile::tempdir().unwrap().keep();
            Box::leak(Box::new(spool::Settings {
                dir,
                max_bytes: 256 << 20,
                fsync: Fsync::Never,
            }))
        }

        fn out_to(port: u16, backlog: Backlog) -> SyslogOut {
            SyslogOut::new(
                &SyslogAddress::Inet("127.0.0.1".into(), port),
                1,
                Some(true),
                String::new(),
                true,
                OnFailure::Hold,
                Some(backlog),
            )
        }

        fn backlog_text(dir: &std::path::Path) -> Vec<String> {
            let mut s = Spool::open(dir, 256 << 20, Fsync::Never).unwrap();
            let mut all = Vec::new();
            let mut r = Vec::new();
            while s.read_next(&mut r).is_some() {
                all.push(
                    String::from_utf8_lossy(&r)
                        .trim_end_matches('\0')
                        .to_owned(),
                );
                r.clear();
            }
            all
        }

        /// A reload: the new engine's handler is built while the old one
        /// still has the backlog. Its records wait (the batch is held) and
        /// go in behind the old ones once it is free: none lost, in order.
        #[test]
        fn records_of_a_reload_wait_behind_the_old_engines_backlog() {
            let settings = settings();
            let dir = settings.dir.join(spool::handler_dir("fwd"));
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut old = Spool::open(&dir, 256 << 20, Fsync::Never).unwrap();
            for i in 0..3 {
                assert!(old.append(format!("<14>old {i}\0").as_bytes()));
            }
            old.flush().unwrap();
            let mut out = out_to(port, Backlog::in_dir("fwd", settings));
            let mut stats = Stats::default();
            out.emit("new 0", &record("new 0")).unwrap();
            out.end_batch(&mut stats, "fwd");
            assert!(
                out.holds(),
                "the batch waits while the old engine has the backlog"
            );
            drop(old);
            out.emit("new 1", &record("new 1")).unwrap();
            out.end_batch(&mut stats, "fwd");
            assert!(!out.holds(), "in the backlog now");
            out.close();
            drop(out);
            assert_eq!(
                backlog_text(&dir),
                [
                    "<14>old 0",
                    "<14>old 1",
                    "<14>old 2",
                    "<14>new 0",
                    "<14>new 1"
                ]
            );
        }

        /// A stop while the peer has not confirmed what it was sent (it
        /// stopped reading): those records go to the backlog, none lost.
        #[test]
        fn a_stop_puts_what_the_peer_did_not_confirm_in_the_backlog() {
            use std::os::fd::AsRawFd;
            let settings = settings();
            let dir = settings.dir.join(spool::handler_dir("fwd"));
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let small: libc::c_int = 4096;
            // SAFETY: a valid int option on a socket this test owns.
            unsafe {
                libc::setsockopt(
                    listener.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&small as *const libc::c_int).cast(),
                    4,
                )
            };
            let port = listener.local_addr().unwrap().port();
            let mut out = out_to(port, Backlog::in_dir("fwd", settings));
            let mut stats = Stats::default();
            let mut peer = None;
            let line = "x".repeat(1000);
            let mut n = 0;
            for _ in 0..100 {
                for _ in 0..20 {
                    let m = format!("{n:08} {line}");
                    out.emit(&m, &record(&m)).unwrap();
                    n += 1;
                }
                out.end_batch(&mut stats, "fwd");
                if peer.is_none() {
                    peer = listener.accept().ok();
                }
            }
            assert!(peer.is_some());
            out.close();
            drop(out);
            // The peer read nothing: every record is in the backlog, in order
            // from the first the peer's TCP had not acknowledged.
            let kept = backlog_text(&dir);
            let numbers: Vec<u64> = kept
                .iter()
                .filter_map(|r| r.strip_prefix("<14>")?.get(..8)?.parse().ok())
                .collect();
            let first = *numbers.first().expect("records kept");
            assert_eq!(
                numbers,
                (first..n).collect::<Vec<_>>(),
                "from {first} on, in order"
            );
            assert!(first > 0, "what the peer's kernel took counts as delivered");
        }
    }
}

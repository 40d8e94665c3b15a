//! One accepted TCP connection: reading within a budget, framing, reporting.
//!
//! Owns: the per-connection read loop, the end-of-stream rules (an unterminated
//! last line is logged), sniffing a TLS ClientHello on a plain listener, and
//! reporting truncated lines, and its registration's interest. Does not own:
//! when it is served (`super::connections`) or the listener.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConnection;

use super::framing::{Frame, Framer};
use super::listener::{peer_name, ListenerId};
use super::origin::ConnectionOrigin;
use super::policy::allowed;
use super::proxy::{Parsed, Proxied, ProxyParser};
use super::relp;
use crate::cidr::CidrSet;
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::{Received, Refusal};

/// Logger for the receiver's own messages.
pub const LOGGER: &str = "pysyslog.receiver";

/// What rustls may hold of a RELP+TLS session's answers unsent.
const RELP_TLS_BUFFER: usize = 16 * 1024;

/// How a turn of reading ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// Read until the socket had nothing more (WouldBlock).
    Drained,
    /// The budget ran out with data possibly left: serve again later.
    MoreLeft,
    /// The peer closed, or the connection failed or was refused: close it.
    Finished,
    /// A balancer's PROXY header was read and nothing after it: what
    /// follows waits for the next turn, so the client it names can be
    /// counted (`--max-connections-per-source`) before a line of it is taken.
    HeaderRead,
    /// Refused (a bad PROXY header, a proxied client outside `--allow`, a
    /// RELP session that broke the protocol): report it (rate-limited) and close.
    Refused(Refused),
}

/// What was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A source outside `--allow`: `what` is "connection" or "datagram".
    NotAllowed { ip: IpAddr, what: &'static str },
    /// A PROXY header missing, malformed or too long (the text names the peer).
    Header(String),
    /// A RELP session that broke the protocol (the text names the peer).
    Relp(String),
}

impl Refused {
    /// Its `reason` in the metrics.
    pub fn reason(&self) -> Refusal {
        match self {
            Refused::NotAllowed { .. } => Refusal::AllowList,
            Refused::Header(_) => Refusal::ProxyHeader,
            Refused::Relp(_) => Refusal::RelpProtocol,
        }
    }
}

/// A trusted balancer's connection before its PROXY header is complete.
#[derive(Debug)]
pub struct ProxyState {
    parser: ProxyParser,
    /// Bytes of header read so far.
    seen: usize,
    /// `--allow`, checked against the header's address.
    allow: Arc<CidrSet>,
}

impl ProxyState {
    pub fn new(allow: Arc<CidrSet>) -> ProxyState {
        ProxyState {
            parser: ProxyParser::new(),
            seen: 0,
            allow,
        }
    }
}

#[derive(Debug)]
pub struct Connection {
    socket: TcpStream,
    /// Unique for the life of the process (slab keys are reused).
    id: u64,
    /// The listener it was accepted on.
    listener: ListenerId,
    /// TLS session state; `None` on a plain listener.
    tls: Option<Box<ServerConnection>>,
    /// When bytes last arrived (or the connection was accepted).
    last_active: Instant,
    /// What the socket is registered for.
    interest: Interest,
    addr: SocketAddr,
    /// Logger name: the peer's IP address.
    peer: String,
    framer: Framer,
    /// The first bytes were checked for a TLS ClientHello.
    sniffed: bool,
    /// Set only on connections from `--proxy-protocol-from` until their
    /// header is read: other connections never look for one.
    proxy: Option<Box<ProxyState>>,
    truncated: u64,
    max_line: usize,
    /// What it received, for the metrics (folded into its listener's at close).
    received: Received,
    /// Why it was closed before delivering anything, if it was.
    refusal: Option<Refusal>,
    /// Set only on RELP connections: plain TCP and TLS never look at it.
    relp: Option<Box<relp::Server>>,
    /// Where its lines come from, when the writer parses syslog.
    origin: Option<Box<ConnectionOrigin>>,
}

impl Connection {
    /// A connection whose socket is registered for reading; `tls` is its
    /// session when the listener speaks TLS.
    pub fn new(
        socket: TcpStream,
        id: u64,
        listener: ListenerId,
        addr: SocketAddr,
        peer: String,
        framer: Framer,
        tls: Option<ServerConnection>,
    ) -> Connection {
        let max_line = framer.max_line();
        Connection {
            socket,
            id,
            listener,
            tls: tls.map(Box::new),
            last_active: Instant::now(),
            interest: Interest::READABLE,
            addr,
            peer,
            framer,
            sniffed: false,
            proxy: None,
            truncated: 0,
            max_line,
            received: Received::default(),
            refusal: None,
            relp: None,
            origin: None,
        }
    }

    /// Send its lines with this origin (the writer parses syslog).
    pub fn set_origin(&mut self, origin: Option<Box<ConnectionOrigin>>) {
        self.origin = origin;
    }

    /// Speak RELP: frames are RELP's, and every message is answered once the
    /// batch holding it is acknowledged ([`Connection::answer_relp`]).
    pub fn speak_relp(&mut self) {
        let max_data = self.max_line.saturating_add(relp::DATA_ALLOWANCE);
        self.relp = Some(Box::new(relp::Server::new(max_data)));
        if let Some(tls) = self.tls.as_mut() {
            // Answers are all it sends: a peer that does not read them
            // makes rustls hold at most this much before the session is
            // no longer read (rustls' default is 64 KiB).
            tls.set_buffer_limit(Some(RELP_TLS_BUFFER));
        }
    }

    /// Send small writes at once (TCP_NODELAY).
    pub fn set_nodelay(&self) -> io::Result<()> {
        self.socket.set_nodelay(true)
    }

    /// Whether it speaks RELP.
    pub fn is_relp(&self) -> bool {
        self.relp.is_some()
    }

    /// Batches up to `acknowledged` are written: send the answers to their
    /// messages. Returns false when the connection should close (its session
    /// is over and answered, or the socket failed).
    pub fn answer_relp(&mut self, acknowledged: u64) -> bool {
        let Some(server) = self.relp.as_mut() else {
            return true;
        };
        if server.unanswered() == 0 {
            return true;
        }
        server.answer(acknowledged);
        self.send_relp() && !self.relp.as_ref().is_some_and(|s| s.finished())
    }

    /// Send what the RELP session has to send, as far as the socket takes
    /// it. Returns false when the socket failed.
    fn send_relp(&mut self) -> bool {
        let Some(server) = self.relp.as_mut() else {
            return true;
        };
        if let Some(tls) = self.tls.as_mut() {
            // rustls takes what its buffer limit allows (0 once full): the
            // rest waits in the session, which then reads no more.
            while !server.output().is_empty() {
                match tls.writer().write(server.output()) {
                    Ok(0) => break,
                    Ok(n) => server.sent(n),
                    Err(_) => return false,
                }
            }
            return self.flush_tls();
        }
        while !server.output().is_empty() {
            match self.socket.write(server.output()) {
                Ok(0) => return false,
                Ok(n) => server.sent(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// After bytes were framed: how the turn ends for a RELP session that
    /// failed or was closed, if it did.
    fn relp_turn(&mut self) -> Option<Turn> {
        let server = self.relp.as_mut()?;
        let failed = server.take_error();
        if !server.is_done() {
            return None;
        }
        let sent = self.send_relp();
        if let Some(e) = failed {
            return Some(Turn::Refused(Refused::Relp(format!(
                "RELP session with {} ended: {e}; serverclose sent, connection closed",
                self.addr
            ))));
        }
        match self.relp.as_ref() {
            Some(server) if sent && !server.finished() => None,
            _ => Some(Turn::Finished),
        }
    }

    /// What it received so far.
    pub fn received(&self) -> &Received {
        &self.received
    }

    /// Why it was refused, if it was.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// It is being closed for `why`.
    pub fn refuse(&mut self, why: Refusal) {
        self.refusal = Some(why);
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The listener the connection was accepted on.
    pub fn listener(&self) -> ListenerId {
        self.listener
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When bytes last arrived (or the connection was accepted).
    pub fn last_active(&self) -> Instant {
        self.last_active
    }

    /// Bytes the kernel holds unread for this socket (FIONREAD).
    pub fn unread_bytes(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer we own.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                libc::FIONREAD,
                &mut n,
            )
        };
        if rc == 0 {
            n.max(0) as usize
        } else {
            usize::MAX
        }
    }

    /// Read a PROXY protocol header before anything else (TLS included).
    pub fn expect_proxy_header(&mut self, state: ProxyState) {
        self.proxy = Some(Box::new(state));
    }

    /// Is the PROXY header or the TLS handshake still under way?
    pub fn is_handshaking(&self) -> bool {
        self.proxy.is_some() || self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// What [`Connection::is_handshaking`] waits for, for messages (followed
    /// by the peer's address).
    pub fn handshake_name(&self) -> &'static str {
        if self.proxy.is_some() {
            "PROXY protocol header from"
        } else {
            "TLS handshake with"
        }
    }

    /// After a turn: watch for writability only while TLS has bytes to send.
    /// Re-registers only when that changes; a failed re-registration is tried
    /// again after the next turn.
    pub fn update_interest(&mut self, registry: &Registry, token: Token) {
        let relp_waits = self.relp.as_ref().is_some_and(|s| !s.output().is_empty());
        let wanted = match &self.tls {
            Some(tls) if tls.wants_write() => Interest::READABLE | Interest::WRITABLE,
            _ if relp_waits => Interest::READABLE | Interest::WRITABLE,
            _ => Interest::READABLE,
        };
        if wanted != self.interest && registry.reregister(&mut self.socket, token, wanted).is_ok() {
            self.interest = wanted;
        }
    }

    /// Stop watching the socket (it closes when the connection is dropped).
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.socket);
    }

    /// Whether a trusted balancer's PROXY header is still to be read (its
    /// address is the balancer's until then, not the client's).
    pub fn awaits_proxy_header(&self) -> bool {
        self.proxy.is_some()
    }

    /// Read and frame up to `budget` bytes, and stop once about `lines`
    /// lines were read (`u64::MAX`: no such limit; see [`super::rates`]).
    pub fn read(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        lines: u64,
        link: &mut WriterLink,
    ) -> Turn {
        let turn = self.read_turn(scratch, budget, Allowance::new(lines, &self.received), link);
        // Drained: the peer is quiet for now; a partial line must not pin
        // the buffer a long one grew (thousands of connections may wait so).
        if turn == Turn::Drained {
            self.framer.release_spare();
        }
        turn
    }

    fn read_turn(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        allowance: Allowance,
        link: &mut WriterLink,
    ) -> Turn {
        if self.proxy.is_some() {
            if let Some(turn) = self.read_proxy_header(scratch, link) {
                return turn;
            }
            return Turn::HeaderRead;
        }
        if self.relp.is_some() {
            if !self.send_relp() {
                return Turn::Finished;
            }
            if let Some(turn) = self.relp_turn() {
                return turn;
            }
            if self.relp.as_ref().is_some_and(|s| s.backlogged()) {
                // The peer does not read its answers: leave what it sends
                // in the kernel (TCP slows it) until the socket takes them;
                // the writable event that says so schedules the next turn.
                return Turn::Drained;
            }
        }
        if self.tls.is_some() {
            return self.read_tls(scratch, budget, allowance, link);
        }
        let mut left = budget;
        loop {
            let size = allowance.read_size(&self.received, scratch.len());
            match self.socket.read(&mut scratch[..size]) {
                Ok(0) => {
                    self.finish(link);
                    return Turn::Finished;
                }
                Ok(n) => {
                    self.last_active = Instant::now();
                    if !self.sniffed {
                        self.sniffed = true;
                        if looks_like_tls_client_hello(&scratch[..n]) {
                            self.refusal = Some(Refusal::WrongProtocol);
                            link.push_record(
                                level::ERROR,
                                LOGGER,
                                &format!(
                                    "TLS handshake from {} on a plain TCP listener: this listener is not TLS-enabled; \
                                     start pysyslog with --cert and --key, or send plain TCP to this port. Connection closed.",
                                    self.addr
                                ),
                            );
                            return Turn::Finished;
                        }
                    }
                    self.frame(&scratch[..n], link);
                    if let Some(turn) = self.relp_turn() {
                        return turn;
                    }
                    left = left.saturating_sub(n);
                    if left == 0 || allowance.reached(&self.received) {
                        return Turn::MoreLeft;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Turn::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    report_read_error(self.addr, &e, link);
                    self.finish(link);
                    return Turn::Finished;
                }
            }
        }
    }

    /// Take the PROXY header off the socket, exactly: it is peeked, and only
    /// the header's bytes are read, so what follows (a TLS ClientHello or
    /// syslog frames) is read by the ordinary path. `None` once the header is
    /// complete and the connection may be read on; otherwise the turn's end.
    fn read_proxy_header(&mut self, scratch: &mut [u8], link: &mut WriterLink) -> Option<Turn> {
        loop {
            let state = self.proxy.as_mut()?;
            let n = match self.socket.peek(scratch) {
                Ok(0) if state.seen == 0 => {
                    // A bare TCP check by the balancer: nothing to report.
                    return Some(Turn::Finished);
                }
                Ok(0) => {
                    return Some(Turn::Refused(Refused::Header(format!(
                        "connection from {} closed inside its PROXY protocol header",
                        self.addr
                    ))))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Turn::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    report_read_error(self.addr, &e, link);
                    return Some(Turn::Finished);
                }
            };
            self.last_active = Instant::now();
            let (header, take) = match state.parser.push(&scratch[..n]) {
                Ok(Parsed::NeedMore) => (None, n),
                Ok(Parsed::Done { header, consumed }) => (Some(header), consumed),
                Err(e) => {
                    return Some(Turn::Refused(Refused::Header(format!(
                    "connection from {} (in --proxy-protocol-from) refused: {e}; connection closed",
                    self.addr
                ))))
                }
            };
            state.seen += take;
            if let Err(e) = discard(&mut self.socket, &mut scratch[..take]) {
                report_read_error(self.addr, &e, link);
                return Some(Turn::Finished);
            }
            let Some(header) = header else {
                continue;
            };
            let allow = Arc::clone(&state.allow);
            self.proxy = None;
            if let Proxied::Source(source) = header {
                self.addr = source;
                self.peer = peer_name(&source);
            }
            if !allowed(&allow, self.addr.ip()) {
                return Some(Turn::Refused(Refused::NotAllowed {
                    ip: self.addr.ip(),
                    what: "connection",
                }));
            }
            return None;
        }
    }

    /// The TLS path: ciphertext in, handshake and alerts out, plaintext framed.
    fn read_tls(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        allowance: Allowance,
        link: &mut WriterLink,
    ) -> Turn {
        if !self.sniffed {
            if let Some(turn) = self.sniff_plain_text(link) {
                return turn;
            }
        }
        let mut left = budget;
        loop {
            let Some(tls) = self.tls.as_mut() else {
                return Turn::Finished;
            };
            let mut eof = false;
            let mut drained = false;
            match tls.read_tls(&mut self.socket) {
                Ok(0) => eof = true,
                Ok(n) => {
                    left = left.saturating_sub(n);
                    self.last_active = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    report_read_error(self.addr, &e, link);
                    eof = true;
                }
            }
            if let Err(e) = tls.process_new_packets() {
                // Last gasp: tell the peer why (the alert), then close.
                let _ = tls.write_tls(&mut self.socket);
                let stage = if tls.is_handshaking() {
                    self.refusal = Some(Refusal::TlsHandshake);
                    "handshake"
                } else {
                    "session"
                };
                link.push_record(
                    level::ERROR,
                    LOGGER,
                    &format!("TLS {stage} with {} failed: {e}", self.addr),
                );
                self.finish(link);
                return Turn::Finished;
            }
            eof |= self.drain_plaintext(scratch, link);
            if let Some(turn) = self.relp_turn() {
                return turn;
            }
            eof |= !self.send_relp();
            eof |= !self.flush_tls();
            if eof {
                self.finish(link);
                return Turn::Finished;
            }
            if drained {
                return Turn::Drained;
            }
            // A TLS read is not sized by the allowance: what one record
            // brings beyond it is the bucket's debt.
            if left == 0 || allowance.reached(&self.received) {
                return Turn::MoreLeft;
            }
        }
    }

    /// Before rustls sees a byte: plain text on a TLS listener is reported and
    /// closed. Returns the end of the turn, if any.
    fn sniff_plain_text(&mut self, link: &mut WriterLink) -> Option<Turn> {
        let mut first = [0u8; 8];
        match self.socket.peek(&mut first) {
            Ok(n) if n > 0 && first[0] != 0x16 => {
                self.refusal = Some(Refusal::WrongProtocol);
                link.push_record(
                    level::ERROR,
                    LOGGER,
                    &format!(
                        "plain text from {} on a TLS listener (first bytes {:?}): this port expects TLS (RFC 5425); \
                         configure the sender for TLS, or send plain TCP to a collector started without --cert/--key. \
                         Connection closed.",
                        self.addr,
                        String::from_utf8_lossy(&first[..n])
                    ),
                );
                Some(Turn::Finished)
            }
            // Nothing has arrived yet: the next readable event sniffs again.
            // (Feeding rustls first would make a later sniff see the records
            // that follow the ClientHello.)
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(Turn::Drained),
            Ok(_) | Err(_) => {
                self.sniffed = true;
                None
            }
        }
    }

    /// Frame every decrypted byte rustls holds. Returns whether the stream ended
    /// (close_notify, or a close without it).
    fn drain_plaintext(&mut self, scratch: &mut [u8], link: &mut WriterLink) -> bool {
        while let Some(tls) = self.tls.as_mut() {
            let got = tls.reader().read(scratch);
            match got {
                Ok(0) => {
                    // The peer's close_notify: answer with ours before closing.
                    tls.send_close_notify();
                    return true;
                }
                Ok(n) => self.frame(&scratch[..n], link),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    report_read_error(self.addr, &e, link);
                    return true;
                }
            }
        }
        false
    }

    /// Send what rustls wants to send (handshake messages, alerts). Returns
    /// false when the socket failed.
    fn flush_tls(&mut self) -> bool {
        let Some(tls) = self.tls.as_mut() else {
            return true;
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn frame(&mut self, data: &[u8], link: &mut WriterLink) {
        if let (Some(origin), Some(tls)) = (self.origin.as_mut(), self.tls.as_ref()) {
            // Plaintext flows only once the handshake is done.
            if origin.awaits_client() {
                origin.client_known(tls.peer_certificates());
            }
        }
        let Connection {
            framer,
            id,
            peer,
            addr,
            truncated,
            max_line,
            received,
            relp,
            origin,
            ..
        } = self;
        let origin = origin.as_deref().map_or(&[][..], ConnectionOrigin::encoded);
        received.bytes += data.len() as u64;
        if let Some(server) = relp {
            // The error is kept in the session and read by `relp_turn`.
            let _ = server.push(data, |piece| {
                let mut seq = None;
                framer.piece(piece.data, piece.first, piece.last, |frame| {
                    seq = Some(emit(
                        frame, *id, peer, origin, *addr, truncated, *max_line, received, link, true,
                    ));
                });
                seq
            });
            return;
        }
        framer.push(data, |frame| {
            emit(
                frame, *id, peer, origin, *addr, truncated, *max_line, received, link, false,
            );
        });
    }

    /// Memory it holds for a line (or RELP message) still arriving.
    pub fn partial_bytes(&self) -> usize {
        self.framer.held_bytes() + self.relp.as_ref().map_or(0, |s| s.held_bytes())
    }

    /// Log now what it holds of a line still arriving, and give the buffer
    /// back: the partial lines of all connections passed their budget
    /// ([`super::connections`]). The rest of the line follows as a line of
    /// its own; a RELP message is answered once both are written. Returns
    /// the bytes it held (0: nothing it could split).
    pub fn spill(&mut self, link: &mut WriterLink) -> usize {
        let Connection {
            framer,
            id,
            peer,
            addr,
            truncated,
            max_line,
            received,
            relp,
            origin,
            ..
        } = self;
        let origin = origin.as_deref().map_or(&[][..], ConnectionOrigin::encoded);
        let held = match relp {
            Some(server) => server.spill(|piece| {
                let mut seq = None;
                framer.piece(piece.data, piece.first, piece.last, |frame| {
                    seq = Some(emit(
                        frame, *id, peer, origin, *addr, truncated, *max_line, received, link, true,
                    ));
                });
                seq
            }),
            None => framer.spill(|frame| {
                emit(
                    frame, *id, peer, origin, *addr, truncated, *max_line, received, link, false,
                );
            }),
        };
        if held > 0 {
            received.split += 1;
        }
        held
    }

    /// End of stream: log the unterminated last line and any truncation tally.
    pub fn finish(&mut self, link: &mut WriterLink) {
        let Connection {
            framer,
            id,
            peer,
            addr,
            truncated,
            max_line,
            received,
            origin,
            ..
        } = self;
        let origin = origin.as_deref().map_or(&[][..], ConnectionOrigin::encoded);
        framer.finish(|frame| {
            emit(
                frame, *id, peer, origin, *addr, truncated, *max_line, received, link, false,
            );
        });
        if self.truncated > 1 {
            link.warning(
                LOGGER,
                &format!(
                    "{} lines from {} were truncated to {} bytes in all",
                    self.truncated, self.addr, self.max_line
                ),
            );
        }
        self.truncated = 0;
    }
}

/// How many lines a turn may read: with `--rate-limit-per-source`, about
/// as many as the source has tokens; otherwise no limit, and reads are the
/// whole scratch buffer as without the option.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    /// Lines received when the turn began, and how many more it may read
    /// (`u64::MAX`: no limit).
    start: u64,
    lines: u64,
}

impl Allowance {
    fn new(lines: u64, received: &Received) -> Allowance {
        Allowance {
            start: received.lines,
            lines,
        }
    }

    /// The turn read its lines.
    fn reached(&self, received: &Received) -> bool {
        self.lines != u64::MAX && received.lines.saturating_sub(self.start) >= self.lines
    }

    /// Bytes to read next, at most `most`.
    fn read_size(&self, received: &Received, most: usize) -> usize {
        if self.lines == u64::MAX {
            return most;
        }
        let left = self
            .lines
            .saturating_sub(received.lines.saturating_sub(self.start));
        super::rate_limit::read_size(left, received.bytes, received.lines, most)
    }
}

/// Queue one frame. The first truncation on a connection is reported right after
/// the truncated line; later ones are counted and reported when it closes.
/// With `track` (RELP) it returns the sequence number of the batch the line
/// went into; otherwise 0, and no bookkeeping is done.
#[allow(clippy::too_many_arguments)]
fn emit(
    frame: Frame<'_>,
    id: u64,
    peer: &str,
    origin: &[u8],
    addr: SocketAddr,
    truncated: &mut u64,
    max_line: usize,
    received: &mut Received,
    link: &mut WriterLink,
    track: bool,
) -> u64 {
    received.lines += 1;
    let push = |link: &mut WriterLink, line: &[u8]| {
        if track {
            link.push_line_tracked(id, peer, origin, line)
        } else {
            link.push_line(id, peer, origin, line);
            0
        }
    };
    match frame {
        Frame::Line(line) => push(link, line),
        Frame::Truncated(line) => {
            received.truncated += 1;
            let seq = push(link, line);
            if *truncated == 0 {
                link.warning(
                    LOGGER,
                    &format!(
                        "a line from {addr} is longer than {max_line} bytes (--max-line-length): logged truncated, the rest discarded"
                    ),
                );
            }
            *truncated += 1;
            seq
        }
    }
}

/// A read failed: log it, unless it is an ordinary abrupt end (a reset after
/// the peer's data, or a TLS peer closing without close_notify, which many
/// syslog senders do). What was received is logged either way.
fn report_read_error(addr: SocketAddr, e: &io::Error, link: &mut WriterLink) {
    if !matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
    ) {
        link.push_record(
            level::WARNING,
            LOGGER,
            &format!("reading from {addr} failed: {e}"),
        );
    }
}

/// Read exactly `buf.len()` bytes that a peek showed are there.
fn discard(socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match socket.read(&mut buf[at..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A TLS record header carrying a handshake: content type 22, version 3.x.
pub fn looks_like_tls_client_hello(first: &[u8]) -> bool {
    matches!(first, [0x16, 0x03, 0x00..=0x04, ..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_recognised_and_text_is_not() {
        assert!(looks_like_tls_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_tls_client_hello(b"<14>hello"));
        assert!(!looks_like_tls_client_hello(b"\x16"));
    }
}

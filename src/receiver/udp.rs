//! Syslog over UDP (RFC 5426): each datagram is one message.
//!
//! Owns: the UDP listeners, receiving in batches with `recvmmsg` within a
//! per-turn budget, turning a datagram into a line (LF and NUL inside it
//! escaped as in TCP frames, see [`super::escape`]), the allow-list for
//! datagrams, dropping and counting those of sources over
//! `--rate-limit-per-source` ([`super::rates`] decides), and counting the
//! kernel's drops (`SO_RXQ_OVFL`). Does not own:
//! binding ([`super::listener`]) or when a turn happens (the loop).
//!
//! UDP is best-effort: when the link to the writer is full the receiver stops
//! reading, the socket's kernel buffer fills and the kernel drops datagrams;
//! the sender never slows. The drops are counted and reported, rate-limited.
//! A datagram is delivered at least once from the moment it is read.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Registry};

use super::conn::{Refused, LOGGER};
use super::escape::ControlChars;
use super::framing::py_strip;
use super::listener::peer_name;
use super::origin::Origins;
use super::policy::Policy;
use super::rates::SourceRates;
use super::refusals::{Refusals, Throttle};
use super::token;
use crate::link::WriterLink;
use crate::metrics::counts::UdpCounts;

/// Datagrams per `recvmmsg` call.
const BATCH: usize = 32;
/// Datagrams one listener may take per turn before TCP connections get theirs.
const TURN_BUDGET: usize = 8 * BATCH;
/// The largest UDP payload (IPv6 without jumbograms; IPv4's is smaller).
const MAX_DATAGRAM: usize = 65_527;
/// Room for one `SO_RXQ_OVFL` control message (a u32), in u64 words so the
/// buffer is aligned for `cmsghdr`.
const CONTROL_WORDS: usize = 8;
/// How often kernel drops and truncations are reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Connection ids of UDP senders: above every TCP connection's id. A new id
/// is taken whenever the sender changes, so the link's grouping of
/// consecutive lines by connection never joins two senders.
const FIRST_ID: u64 = 1 << 63;

/// What a datagram becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    Line(&'a [u8]),
    /// Longer than `max_line`: its first `max_line` bytes, stripped.
    Truncated(&'a [u8]),
    /// Nothing but whitespace and NULs: not logged.
    Empty,
}

/// One datagram as one message, cleaned as a TCP frame is: trailing NULs
/// (Python's `SysLogHandler` ends messages with one) go, then whitespace at
/// both ends; longer than `max_line` bytes, it is cut to them.
pub fn datagram(payload: &[u8], max_line: usize) -> Datagram<'_> {
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let payload = &payload[..end];
    if payload.len() > max_line {
        return Datagram::Truncated(py_strip(&payload[..max_line]));
    }
    match py_strip(payload) {
        [] => Datagram::Empty,
        line => Datagram::Line(line),
    }
}

#[derive(Debug)]
struct UdpListener {
    socket: UdpSocket,
    /// Readable since the last `WouldBlock`.
    ready: bool,
    /// The kernel's running drop count, last seen.
    kernel_drops: u32,
    /// Drops and truncations not reported yet, and their rate limits.
    unreported_drops: u64,
    drops_report: Throttle,
    errors_report: Throttle,
    truncated: u64,
    truncation_report: Throttle,
    /// For the metrics: what it received since start-up.
    counts: UdpCounts,
}

/// Reused receive buffers: one slot per datagram of a batch.
struct Buffers {
    data: Vec<u8>,
    slot: usize,
    names: Vec<libc::sockaddr_storage>,
    control: Vec<u64>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffers({} x {})", BATCH, self.slot)
    }
}

/// The last sender: its name is built once per run of its datagrams.
#[derive(Debug)]
struct Sender {
    ip: Option<IpAddr>,
    /// The listener it sent to: lines of one listener share an origin.
    listener: usize,
    name: String,
    id: u64,
}

#[derive(Debug)]
pub struct UdpListeners {
    listeners: Vec<UdpListener>,
    buffers: Buffers,
    sender: Sender,
    max_line: usize,
    control: ControlChars,
    /// A datagram with characters to escape, while it is pushed.
    escaped: Vec<u8>,
    /// The listeners' counts when they stopped.
    stopped: Vec<UdpCounts>,
    /// Each listener's origin, sent with its lines when the writer parses syslog.
    origins: Option<Origins>,
}

impl UdpListeners {
    /// Watch every socket; lines are at most `max_line` bytes, their control
    /// characters escaped as `control` says.
    pub fn new(
        sockets: Vec<UdpSocket>,
        max_line: usize,
        control: ControlChars,
        registry: &Registry,
    ) -> io::Result<UdpListeners> {
        let mut listeners = Vec::with_capacity(sockets.len());
        for (i, mut socket) in sockets.into_iter().enumerate() {
            registry.register(&mut socket, token::datagram(i), Interest::READABLE)?;
            listeners.push(UdpListener {
                socket,
                // Datagrams may have arrived before registration.
                ready: true,
                kernel_drops: 0,
                unreported_drops: 0,
                drops_report: Throttle::default(),
                errors_report: Throttle::default(),
                truncated: 0,
                truncation_report: Throttle::default(),
                counts: UdpCounts::default(),
            });
        }
        // One byte more than a line may hold tells a datagram that is too long;
        // without UDP listeners nothing is allocated.
        let slot = if listeners.is_empty() {
            0
        } else {
            (max_line + 1).min(MAX_DATAGRAM)
        };
        let count = if listeners.is_empty() { 0 } else { BATCH };
        Ok(UdpListeners {
            listeners,
            buffers: Buffers {
                data: vec![0; slot * count],
                slot,
                // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
                names: vec![unsafe { std::mem::zeroed() }; count],
                control: vec![0; CONTROL_WORDS * count],
            },
            sender: Sender {
                ip: None,
                listener: 0,
                name: String::new(),
                id: FIRST_ID,
            },
            max_line,
            control,
            escaped: Vec::new(),
            stopped: Vec::new(),
            origins: None,
        })
    }

    /// Send each listener's origin with its lines (the writer parses syslog).
    pub fn set_origins(&mut self, origins: Origins) {
        self.origins = Some(origins);
    }

    /// The metrics label of each listener: `udp://ADDR`.
    pub fn labels(&self) -> Vec<String> {
        self.listeners
            .iter()
            .map(|l| match l.socket.local_addr() {
                Ok(addr) => format!("udp://{addr}"),
                Err(_) => "udp://unknown".to_owned(),
            })
            .collect()
    }

    /// What each listener received, in the order of [`UdpListeners::labels`]
    /// (after [`UdpListeners::stop`], what they had received).
    pub fn counts(&self) -> Vec<UdpCounts> {
        if self.listeners.is_empty() {
            return self.stopped.clone();
        }
        self.listeners.iter().map(|l| l.counts).collect()
    }

    pub fn mark_ready(&mut self, index: usize) {
        if let Some(l) = self.listeners.get_mut(index) {
            l.ready = true;
        }
    }

    /// Whether a listener has datagrams waiting for a turn.
    pub fn any_ready(&self) -> bool {
        self.listeners.iter().any(|l| l.ready)
    }

    /// Stop for good: the datagrams still queued in the kernel are not read.
    pub fn stop(&mut self, registry: &Registry) {
        for l in &mut self.listeners {
            let _ = registry.deregister(&mut l.socket);
        }
        self.stopped = self.counts();
        self.listeners.clear();
    }

    /// Give each ready listener one turn of at most [`TURN_BUDGET`] datagrams,
    /// while the link has room.
    /// Datagrams of sources over `rates` (`--rate-limit-per-source`) are
    /// dropped and counted.
    pub fn serve(
        &mut self,
        policy: &Policy,
        refusals: &mut Refusals,
        mut rates: Option<&mut SourceRates>,
        link: &mut WriterLink,
    ) {
        for index in 0..self.listeners.len() {
            let mut taken = 0;
            while taken < TURN_BUDGET && self.listeners[index].ready && !link.is_full() {
                match self.receive(index, policy, refusals, rates.as_deref_mut(), link) {
                    Ok(n) => taken += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.listeners[index].ready = false;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // ICMP errors and the like: not this collector's to fix,
                        // and the next datagram is read on the next turn.
                        let l = &mut self.listeners[index];
                        if l.errors_report.due(Instant::now(), REPORT_EVERY).is_some() {
                            let at = l
                                .socket
                                .local_addr()
                                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
                            link.warning(
                                LOGGER,
                                &format!("receiving on UDP listener {at} failed: {e}"),
                            );
                        }
                        break;
                    }
                }
            }
            self.report(index, link);
        }
    }

    /// One `recvmmsg` call; returns the datagrams it read.
    fn receive(
        &mut self,
        index: usize,
        policy: &Policy,
        refusals: &mut Refusals,
        mut rates: Option<&mut SourceRates>,
        link: &mut WriterLink,
    ) -> io::Result<usize> {
        let fd = self.listeners[index].socket.as_raw_fd();
        let b = &mut self.buffers;
        // Base pointers taken once, so that no later borrow of a buffer
        // invalidates the pointers the headers hold.
        let data = b.data.as_mut_ptr();
        let names = b.names.as_mut_ptr();
        let control = b.control.as_mut_ptr();
        // SAFETY: iovec and mmsghdr are plain data (all zeroes is valid).
        let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let iov = iovecs.as_mut_ptr();
        for (i, header) in headers.iter_mut().enumerate() {
            // SAFETY: `data` holds BATCH slots of `slot` bytes, `names` BATCH
            // addresses, `control` BATCH blocks of CONTROL_WORDS words, and
            // `iovecs` BATCH entries: every offset is in bounds. The buffers
            // outlive the call below and do not move during it.
            unsafe {
                *iov.add(i) = libc::iovec {
                    iov_base: data.add(i * b.slot).cast(),
                    iov_len: b.slot,
                };
                let h = &mut header.msg_hdr;
                h.msg_name = names.add(i).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = iov.add(i);
                h.msg_iovlen = 1;
                h.msg_control = control.add(i * CONTROL_WORDS).cast();
                h.msg_controllen = CONTROL_WORDS * 8;
            }
        }
        // SAFETY: `headers` holds BATCH initialised entries as described above.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                // MSG_TRUNC: a datagram's length is its own, even when the
                // slot held only its first bytes.
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        // One clock reading for the batch: its datagrams arrived together.
        let now = rates.is_some().then(Instant::now);
        let l = &mut self.listeners[index];
        l.counts.datagrams += got as u64;
        for h in headers.iter().take(got) {
            if let Some(count) = kernel_drop_count(&h.msg_hdr) {
                let new = u64::from(count.wrapping_sub(l.kernel_drops));
                l.unreported_drops += new;
                l.counts.dropped += new;
                l.kernel_drops = count;
            }
        }
        for (i, h) in headers.iter().enumerate().take(got) {
            let Some(addr) = sockaddr(&self.buffers.names[i], h.msg_hdr.msg_namelen) else {
                continue;
            };
            if !policy.allows(addr.ip()) {
                self.listeners[index].counts.refused += 1;
                refusals.report(
                    Refused::NotAllowed {
                        ip: addr.ip(),
                        what: "datagram",
                    },
                    link,
                );
                continue;
            }
            if let (Some(rates), Some(now)) = (rates.as_deref_mut(), now) {
                if !rates.admit_datagram(addr.ip(), now, link) {
                    self.listeners[index].counts.rate_limited += 1;
                    continue;
                }
            }
            self.listeners[index].counts.received.bytes += u64::from(h.msg_len);
            let len = (h.msg_len as usize).min(self.buffers.slot);
            let slot = &self.buffers.data[i * self.buffers.slot..][..len];
            let (line, mut truncated) = match datagram(slot, self.max_line) {
                Datagram::Empty => continue,
                Datagram::Line(line) => (line, false),
                Datagram::Truncated(line) => (line, true),
            };
            // A datagram may hold LF and NUL: escaped as in a TCP frame, so
            // one message stays one line (within the length bound).
            let (line, cut) = self
                .control
                .apply_within(line, self.max_line, &mut self.escaped);
            truncated |= cut;
            let l = &mut self.listeners[index];
            l.counts.received.lines += 1;
            if truncated {
                l.truncated += 1;
                l.counts.received.truncated += 1;
            }
            let ip = addr.ip();
            if self.sender.ip != Some(ip) || self.sender.listener != index {
                self.sender.ip = Some(ip);
                self.sender.listener = index;
                self.sender.name = peer_name(&addr);
                self.sender.id += 1;
            }
            let origin = self.origins.as_ref().map_or(&[][..], |o| o.datagram(index));
            link.push_line(self.sender.id, &self.sender.name, origin, line);
        }
        Ok(got)
    }

    /// Rate-limited reports of kernel drops and truncated datagrams.
    fn report(&mut self, index: usize, link: &mut WriterLink) {
        let l = &mut self.listeners[index];
        let now = Instant::now();
        let at = || {
            l.socket
                .local_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string())
        };
        if l.unreported_drops > 0 && l.drops_report.due(now, REPORT_EVERY).is_some() {
            link.warning(
                LOGGER,
                &format!(
                    "the kernel dropped {} datagrams on UDP listener {} (its receive buffer was full: UDP senders are not slowed; raise --udp-recv-buffer or reduce the load)",
                    l.unreported_drops,
                    at()
                ),
            );
            l.unreported_drops = 0;
        }
        if l.truncated > 0 && l.truncation_report.due(now, REPORT_EVERY).is_some() {
            link.warning(
                LOGGER,
                &format!(
                    "{} datagrams on UDP listener {} were longer than {} bytes (--max-line-length): logged truncated",
                    l.truncated,
                    at(),
                    self.max_line
                ),
            );
            l.truncated = 0;
        }
    }
}

/// The `SO_RXQ_OVFL` count carried by a received message, if any.
fn kernel_drop_count(h: &libc::msghdr) -> Option<u32> {
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG
    // macros walk only within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// The sender's address as the kernel wrote it.
fn sockaddr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in; storage is large and
            // aligned enough for any socket address.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_is_one_message_cleaned_like_a_frame() {
        assert_eq!(datagram(b"<13>hi\0", 64), Datagram::Line(b"<13>hi"));
        assert_eq!(
            datagram(b" <13>two\nlines \n", 64),
            Datagram::Line(b"<13>two\nlines")
        );
        assert_eq!(datagram(b"\0\0", 64), Datagram::Empty);
        assert_eq!(datagram(b"", 64), Datagram::Empty);
        assert_eq!(datagram(b" \n", 64), Datagram::Empty);
        assert_eq!(datagram(b"abcdefgh\0", 8), Datagram::Line(b"abcdefgh"));
        assert_eq!(datagram(b"abcdefghi", 8), Datagram::Truncated(b"abcdefgh"));
        assert_eq!(datagram(b"abc defghi", 4), Datagram::Truncated(b"abc"));
    }

    #[test]
    fn datagrams_are_read_in_batches_under_each_senders_name() {
        let poll = mio::Poll::new().unwrap();
        let (mut link, rx, _writer_end) = crate::link::fake_link();
        let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = socket.local_addr().unwrap();
        let mut udp =
            UdpListeners::new(vec![socket], 16, ControlChars::default(), poll.registry()).unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
        let mut bytes = 0;
        for i in 0..100 {
            let from = if i % 3 == 0 { &b } else { &a };
            bytes += from.send_to(format!("line {i}\0").as_bytes(), to).unwrap();
        }
        bytes += a.send_to(b"a line that is far too long", to).unwrap();
        bytes += a.send_to(b"two\nlines\0x", to).unwrap();
        let mut refusals = Refusals::default();
        let policy = Policy::default();
        while udp.any_ready() {
            udp.serve(&policy, &mut refusals, None, &mut link);
        }
        link.flush(poll.registry()).unwrap();
        let counts = udp.counts()[0];
        assert_eq!(counts.datagrams, 102);
        assert_eq!(counts.refused, 0);
        assert_eq!(counts.received.lines, 102);
        assert_eq!(counts.received.truncated, 2);
        // A datagram longer than its slot counts all its bytes.
        assert_eq!(counts.received.bytes, bytes as u64);
        let mut lines = Vec::new();
        while let Ok(bytes) = rx.try_recv() {
            let (_, items) = crate::ipc::BatchReader::new(&bytes).unwrap();
            for item in items {
                if let Ok(crate::ipc::Item::Record { name, text, .. }) = item {
                    let text = String::from_utf8_lossy(text).into_owned();
                    lines.push((String::from_utf8_lossy(name).into_owned(), text));
                }
            }
        }
        assert_eq!(lines.len(), 103, "{lines:?}");
        assert_eq!(lines[0], ("127.0.0.3".to_owned(), "line 0".to_owned()));
        assert_eq!(lines[1], ("127.0.0.2".to_owned(), "line 1".to_owned()));
        assert_eq!(
            lines[100],
            ("127.0.0.2".to_owned(), "a line that is f".to_owned())
        );
        assert_eq!(
            lines[101],
            ("127.0.0.2".to_owned(), "two#012lines#000".to_owned())
        );
        assert!(
            lines[102].1.contains("2 datagrams on UDP listener")
                && lines[102].1.contains("were longer than 16 bytes"),
            "{:?}",
            lines[102]
        );
    }
}

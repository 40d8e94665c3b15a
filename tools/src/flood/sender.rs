//! Sending: resolving the target, connecting every connection before timing
//! starts, one sender thread per connection writing pre-built chunks with large
//! `write_all`s (optionally paced), and closing the write side at the end.
//!
//! Why a thread per connection rather than a poll loop: each connection is a
//! blocking `write_all` of 64–256 KiB chunks, so the kernel does the copying and
//! a sender spends nearly all its time inside `write(2)`. With small stacks
//! (128 KiB) and chunk buffers scaled down as connections go up, a thread per
//! connection stays cheap up to ~1000 connections, keeps pacing trivial, and
//! works over any [`Write`] — a TLS stream only has to implement
//! [`FloodStream`], with no non-blocking state machine.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream, ToSocketAddrs};
use std::os::fd::FromRawFd;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::payload::{ChunkBuilder, LineFormat};
use super::progress::{Bar, Counters, TICK};

/// Stack size of a sender thread: it only loops over `write_all`.
const SENDER_STACK: usize = 128 * 1024;
/// Memory budget for all chunk buffers together, before per-connection clamping.
const CHUNK_BUDGET: usize = 32 << 20;
/// Bounds of one connection's chunk buffer.
const CHUNK_MIN: usize = 64 << 10;
const CHUNK_MAX: usize = 256 << 10;
/// With `--rate`, a connection sends a burst of about this much time's worth
/// of lines, then sleeps until the next burst is due.
const PACE_SLICE: Duration = Duration::from_millis(10);

/// Why sending failed; every variant names what failed and on which address.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot resolve {host}:{port}: {source}")]
    Resolve {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("{host}:{port} resolves to no address")]
    NoAddress { host: String, port: u16 },
    #[error("connection {index} of {count} to {addr} failed: {source}")]
    Connect {
        addr: String,
        index: u32,
        count: u32,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the sender thread for connection {conn}: {source}")]
    Spawn {
        conn: u32,
        #[source]
        source: io::Error,
    },
    #[error("sending on connection {conn} to {addr} failed: {source}")]
    Send {
        addr: SocketAddr,
        conn: u32,
        #[source]
        source: io::Error,
    },
    #[error("sender thread of connection {conn} to {addr} panicked")]
    Panicked { addr: SocketAddr, conn: u32 },
}

/// A connection the flood can be sent over. TCP now; a TLS stream later.
pub trait FloodStream: Write + Send + 'static {
    /// Flush and close the sending direction (TCP: FIN; TLS: close_notify, then FIN).
    fn finish(&mut self) -> io::Result<()>;

    /// After [`Self::finish`], wait until the collector has closed its side
    /// too (it has read everything): with [`Rounds`], the next connection
    /// opens only then, so the collector never has more connections than
    /// there are senders. Nothing to wait for by default.
    fn await_close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How long [`FloodStream::await_close`] waits for the collector.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

impl FloodStream for TcpStream {
    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        self.shutdown(Shutdown::Write)
    }

    fn await_close(&mut self) -> io::Result<()> {
        use std::io::Read;
        self.set_read_timeout(Some(CLOSE_TIMEOUT))?;
        let mut buf = [0u8; 512];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A collector that resets rather than closes has closed too.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "the collector did not close the connection within {CLOSE_TIMEOUT:?}"
                        ),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Resolve `host:port` to its addresses, in resolver order.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SendError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| SendError::Resolve {
            host: host.to_string(),
            port,
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SendError::NoAddress {
            host: host.to_string(),
            port,
        });
    }
    Ok(addrs)
}

/// Open `count` TCP connections. The first tries each address in turn; the
/// others go to the address that worked. Returns that address and the streams.
pub fn connect_all(
    addrs: &[SocketAddr],
    count: u32,
    timeout: Duration,
) -> Result<(SocketAddr, Vec<TcpStream>), SendError> {
    let mut first_err = None;
    let mut first = None;
    for &addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                first = Some((addr, s));
                break;
            }
            Err(e) => {
                first_err.get_or_insert((addr, e));
            }
        }
    }
    let (addr, stream) = match (first, first_err) {
        (Some(ok), _) => ok,
        (None, Some((addr, source))) => {
            let addr = if addrs.len() > 1 {
                let all: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                all.join(", ")
            } else {
                addr.to_string()
            };
            return Err(SendError::Connect {
                addr,
                index: 1,
                count,
                source,
            });
        }
        (None, None) => {
            return Err(SendError::Connect {
                addr: String::from("(no address)"),
                index: 1,
                count,
                source: io::Error::from(io::ErrorKind::AddrNotAvailable),
            })
        }
    };
    let _ = stream.set_nodelay(true);
    let mut streams = Vec::with_capacity(count as usize);
    streams.push(stream);
    for index in 2..=count {
        streams.push(connect_one(addr, index, count, timeout)?);
    }
    Ok((addr, streams))
}

/// Open connection `index` of `count` to `addr`.
pub fn connect_one(
    addr: SocketAddr,
    index: u32,
    count: u32,
    timeout: Duration,
) -> Result<TcpStream, SendError> {
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|source| SendError::Connect {
        addr: addr.to_string(),
        index,
        count,
        source,
    })?;
    // Whole chunks are written; no reason to hold back the last one.
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Addresses per third octet in [`source_address`].
const SOURCES_PER_OCTET: u32 = 250;

/// The source address of connection `id` with `--source-addresses`:
/// 127.0.X.Y with X = 1 + id / 250 and Y = 1 + id % 250 (127.0.1.1,
/// 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...), all on the loopback
/// interface, none of them 127.0.0.1.
pub fn source_address(id: u32) -> Ipv4Addr {
    let x = 1 + id / SOURCES_PER_OCTET;
    Ipv4Addr::new(
        127,
        0,
        u8::try_from(x).unwrap_or(u8::MAX),
        (1 + id % SOURCES_PER_OCTET) as u8,
    )
}

/// The connection id whose [`source_address`] is `ip`, if any.
pub fn id_of_source(ip: Ipv4Addr) -> Option<u32> {
    let [a, b, x, y] = ip.octets();
    if a != 127 || b != 0 || x == 0 || y == 0 || u32::from(y) > SOURCES_PER_OCTET {
        return None;
    }
    Some((u32::from(x) - 1) * SOURCES_PER_OCTET + u32::from(y) - 1)
}

fn sockaddr_in(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP connection from `src` to `dst` (`IP_BIND_ADDRESS_NO_PORT`: the port
/// is chosen at connect time, so each source address has the whole
/// ephemeral range towards the collector).
pub fn connect_from(src: Ipv4Addr, dst: SocketAddrV4) -> io::Result<TcpStream> {
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket syscalls on a descriptor we own (the TcpStream closes it).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sa = sockaddr_in(src, 0);
        if libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let da = sockaddr_in(*dst.ip(), dst.port());
        if libc::connect(fd, (&da as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// Connection ids beyond the first `streams.len()` of [`run_senders_rounds`]:
/// the sender of connection `c` goes on with ids `c + k * streams.len()`
/// below `total`, one after the other, each on a stream `connect(id)` opens
/// once the collector has closed the one before
/// ([`FloodStream::await_close`]).
pub struct Rounds<S> {
    pub total: u32,
    #[allow(clippy::type_complexity)]
    pub connect: Arc<dyn Fn(u32) -> io::Result<S> + Send + Sync>,
}

/// Write all lines of one connection, then close its write side.
///
/// `rate` is this connection's share in lines per second: a burst of about
/// `PACE_SLICE` worth of lines is written whenever it is due.
pub fn send_connection<S: FloodStream>(
    stream: &mut S,
    builder: &mut ChunkBuilder,
    line_size: usize,
    rate: Option<f64>,
    counters: &Counters,
    start: Instant,
) -> io::Result<()> {
    let burst = match rate {
        None => usize::MAX,
        Some(r) => ((r * PACE_SLICE.as_secs_f64()).ceil() as usize).max(1),
    };
    let mut sent = 0u64;
    while let Some(chunk) = builder.next_chunk(burst) {
        if let Some(r) = rate {
            let due = start + Duration::from_secs_f64(sent as f64 / r);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        let lines = (chunk.len() / line_size) as u64;
        stream.write_all(chunk)?;
        counters.add(lines, chunk.len() as u64);
        sent += lines;
    }
    stream.finish()
}

/// What the send phase did.
#[derive(Debug)]
pub struct SendOutcome {
    /// From the moment all senders were released until the last one finished.
    pub seconds: f64,
    /// When the senders were released.
    pub start: Instant,
    /// When the last sender finished.
    pub end: Instant,
    pub lines: u64,
    pub bytes: u64,
    /// One entry per connection that failed.
    pub errors: Vec<SendError>,
}

enum GateState {
    Waiting,
    Go(Instant),
    Abort,
}

/// Holds every sender until all are ready, then releases them at once.
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

impl Gate {
    fn set(&self, s: GateState) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *g = s;
        self.cv.notify_all();
    }

    /// The start instant, or `None` if the run was aborted.
    fn wait(&self) -> Option<Instant> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match *g {
                GateState::Waiting => g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner()),
                GateState::Go(t) => return Some(t),
                GateState::Abort => return None,
            }
        }
    }
}

enum Event {
    Ready,
    Done,
}

/// Send `lines` lines on each of `streams` (connection `c` is `streams[c]`),
/// `rate` lines per second in total if given. Chunk buffers are built before
/// the clock starts; a progress bar is drawn on a terminal.
pub fn run_senders<S: FloodStream>(
    streams: Vec<S>,
    addr: SocketAddr,
    format: &LineFormat,
    lines: u64,
    rate: Option<f64>,
) -> Result<SendOutcome, SendError> {
    run_senders_rounds(streams, addr, format, lines, rate, None)
}

/// [`run_senders`], each sender going on with the connection ids of
/// `rounds` (if any) once its first connection is done: `lines` lines per id.
pub fn run_senders_rounds<S: FloodStream>(
    streams: Vec<S>,
    addr: SocketAddr,
    format: &LineFormat,
    lines: u64,
    rate: Option<f64>,
    rounds: Option<Rounds<S>>,
) -> Result<SendOutcome, SendError> {
    let count = streams.len();
    let ids = rounds
        .as_ref()
        .map_or(count as u64, |r| u64::from(r.total).max(count as u64));
    let connect = rounds.map(|r| (r.total, r.connect));
    let chunk_bytes = (CHUNK_BUDGET / count.max(1)).clamp(CHUNK_MIN, CHUNK_MAX);
    let per_conn_rate = rate.map(|r| r / count.max(1) as f64);
    let counters = Arc::new(Counters::default());
    let gate = Arc::new(Gate {
        state: Mutex::new(GateState::Waiting),
        cv: Condvar::new(),
    });
    let (tx, rx) = mpsc::channel::<Event>();
    let line_size = format.size();

    let mut handles: Vec<(u32, JoinHandle<io::Result<()>>)> = Vec::with_capacity(count);
    for (c, mut stream) in (0u32..).zip(streams) {
        let format = format.clone();
        let counters = Arc::clone(&counters);
        let thread_gate = Arc::clone(&gate);
        let tx = tx.clone();
        let connect = connect.clone();
        let step = count as u32;
        let spawned = thread::Builder::new()
            .name(format!("flood-{c}"))
            .stack_size(SENDER_STACK)
            .spawn(move || {
                let mut builder = ChunkBuilder::new(&format, c, lines, chunk_bytes);
                let _ = tx.send(Event::Ready);
                let Some(start) = thread_gate.wait() else {
                    return Ok(());
                };
                let r = send_connection(
                    &mut stream,
                    &mut builder,
                    line_size,
                    per_conn_rate,
                    &counters,
                    start,
                );
                let r = r.and_then(|()| {
                    let Some((total, connect)) = &connect else {
                        return Ok(());
                    };
                    stream.await_close()?;
                    drop(stream);
                    let mut id = c + step;
                    while id < *total {
                        let context = |e: io::Error| {
                            io::Error::new(e.kind(), format!("connection id {id}: {e}"))
                        };
                        let mut s = connect(id).map_err(context)?;
                        builder.restart(id);
                        send_connection(
                            &mut s,
                            &mut builder,
                            line_size,
                            per_conn_rate,
                            &counters,
                            Instant::now(),
                        )
                        .and_then(|()| s.await_close())
                        .map_err(context)?;
                        id += step;
                    }
                    Ok(())
                });
                let _ = tx.send(Event::Done);
                r
            });
        match spawned {
            Ok(h) => handles.push((c, h)),
            Err(source) => {
                gate.set(GateState::Abort);
                for (_, h) in handles {
                    let _ = h.join();
                }
                return Err(SendError::Spawn { conn: c, source });
            }
        }
    }
    drop(tx);

    // Wait until every sender has built its buffer.
    let mut ready = 0;
    while ready < count {
        match rx.recv_timeout(TICK) {
            Ok(Event::Ready) => ready += 1,
            Ok(Event::Done) => {}
            Err(RecvTimeoutError::Timeout) => {
                if handles.iter().any(|(_, h)| h.is_finished()) {
                    break; // a sender died before it was ready: do not wait forever
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }

    let start = Instant::now();
    gate.set(GateState::Go(start));
    let total = lines.saturating_mul(ids);
    let mut bar = Bar::new(total, start);
    let mut done = 0;
    let mut end = None;
    while done < count {
        match rx.recv_timeout(TICK) {
            Ok(Event::Done) => {
                done += 1;
                if done == count {
                    end = Some(Instant::now());
                }
            }
            Ok(Event::Ready) => {}
            Err(RecvTimeoutError::Timeout) => {
                if handles.iter().all(|(_, h)| h.is_finished()) {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        bar.tick(counters.lines());
    }
    let end = end.unwrap_or_else(Instant::now);
    bar.clear();

    let mut errors = Vec::new();
    for (conn, h) in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(source)) => errors.push(SendError::Send { addr, conn, source }),
            Err(_) => errors.push(SendError::Panicked { addr, conn }),
        }
    }
    Ok(SendOutcome {
        seconds: end.duration_since(start).as_secs_f64(),
        start,
        end,
        lines: counters.lines(),
        bytes: counters.bytes(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::super::payload::Framing;
    use super::*;

    /// An in-memory stream that records what it got and whether it was finished.
    #[derive(Default)]
    struct Mem {
        data: Vec<u8>,
        writes: usize,
        finished: bool,
    }

    impl Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.data.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl FloodStream for Mem {
        fn finish(&mut self) -> io::Result<()> {
            self.finished = true;
            Ok(())
        }
    }

    #[test]
    fn sends_every_line_in_large_writes_then_finishes() {
        let f = LineFormat::new("t", 100, Framing::Lf).unwrap();
        let mut b = ChunkBuilder::new(&f, 2, 10_000, 256 << 10);
        let mut m = Mem::default();
        let counters = Counters::default();
        send_connection(&mut m, &mut b, 100, None, &counters, Instant::now()).unwrap();
        assert!(m.finished);
        assert_eq!(m.data.len(), 1_000_000);
        assert_eq!(m.writes, 4); // 2621 lines per 256 KiB chunk
        assert_eq!((counters.lines(), counters.bytes()), (10_000, 1_000_000));
        assert_eq!(&m.data[999_900..], f.line(2, 9_999).as_slice());
    }

    #[test]
    fn paced_sending_takes_about_the_planned_time() {
        let f = LineFormat::new("t", 64, Framing::Lf).unwrap();
        let mut b = ChunkBuilder::new(&f, 0, 300, 256 << 10);
        let mut m = Mem::default();
        let counters = Counters::default();
        let start = Instant::now();
        // 1000 lines/s, bursts of 10 lines: 290 lines' worth of waiting.
        send_connection(&mut m, &mut b, 64, Some(1000.0), &counters, start).unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert_eq!(m.writes, 30);
        assert_eq!(m.data.len(), 300 * 64);
    }

    /// A stream appending to a buffer shared with the test.
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl FloodStream for Shared {
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rounds_send_every_id_on_a_stream_of_its_own() {
        let f = LineFormat::new("t", 60, Framing::Lf).unwrap();
        let bufs: Vec<Arc<Mutex<Vec<u8>>>> = (0..5).map(|_| Arc::default()).collect();
        let streams: Vec<Shared> = bufs[..2].iter().map(|b| Shared(Arc::clone(b))).collect();
        let opened = Arc::new(Mutex::new(Vec::new()));
        let (b2, o2) = (bufs.clone(), Arc::clone(&opened));
        let rounds = Rounds {
            total: 5,
            connect: Arc::new(move |id: u32| {
                o2.lock().unwrap().push(id);
                Ok(Shared(Arc::clone(&b2[id as usize])))
            }),
        };
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let out = run_senders_rounds(streams, addr, &f, 3, None, Some(rounds)).unwrap();
        assert!(out.errors.is_empty());
        assert_eq!(out.lines, 15);
        let mut o = opened.lock().unwrap().clone();
        o.sort_unstable();
        assert_eq!(o, [2, 3, 4]);
        for (id, b) in bufs.iter().enumerate() {
            let want: Vec<u8> = (0..3).flat_map(|n| f.line(id as u32, n)).collect();
            assert_eq!(*b.lock().unwrap(), want, "id {id}");
        }
    }

    #[test]
    fn source_addresses_are_loopback_and_invertible() {
        assert_eq!(source_address(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(source_address(249), Ipv4Addr::new(127, 0, 1, 250));
        assert_eq!(source_address(250), Ipv4Addr::new(127, 0, 2, 1));
        assert_eq!(source_address(999), Ipv4Addr::new(127, 0, 4, 250));
        for id in 0..10_000 {
            assert_eq!(id_of_source(source_address(id)), Some(id));
        }
        assert_eq!(id_of_source(Ipv4Addr::LOCALHOST), None);
        assert_eq!(id_of_source(Ipv4Addr::new(127, 0, 1, 251)), None);
        assert_eq!(id_of_source(Ipv4Addr::new(10, 0, 1, 1)), None);
    }

    #[test]
    fn run_senders_over_memory_streams() {
        let f = LineFormat::new("t", 80, Framing::Octet).unwrap();
        let streams: Vec<Mem> = (0..3).map(|_| Mem::default()).collect();
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let out = run_senders(streams, addr, &f, 1000, None).unwrap();
        assert!(out.errors.is_empty());
        assert_eq!(out.lines, 3000);
        assert_eq!(out.bytes, 3000 * 80);
    }
}

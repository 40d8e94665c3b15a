//! One accepted TCP connection: reading within a budget, framing, reporting.
//!
//! Owns: the per-connection read loop, the end-of-stream rules (an unterminated
//! last line is logged), sniffing a TLS ClientHello on a plain listener, and
//! reporting truncated lines. Does not own: when it is served (the receiver's
//! fairness queue) or the listener.

use std::io::{self, Read};
use std::net::SocketAddr;

use mio::net::TcpStream;

use super::framing::{Frame, Framer};
use super::sink::Sink;
use crate::logging::level;

/// Logger for the receiver's own messages.
pub const LOGGER: &str = "pysyslog.receiver";

/// How a turn of reading ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// Read until the socket had nothing more (WouldBlock).
    Drained,
    /// The budget ran out with data possibly left: serve again later.
    MoreLeft,
    /// The peer closed, or the connection failed or was refused: close it.
    Finished,
}

#[derive(Debug)]
pub struct Connection {
    pub socket: TcpStream,
    pub addr: SocketAddr,
    /// Logger name: the peer's IP address.
    pub peer: String,
    framer: Framer,
    /// An edge was reported and not yet drained to WouldBlock.
    pub readable: bool,
    /// Queued in the receiver's ready queue.
    pub scheduled: bool,
    /// The first bytes were checked for a TLS ClientHello.
    sniffed: bool,
    truncated: u64,
    max_line: usize,
}

impl Connection {
    pub fn new(socket: TcpStream, addr: SocketAddr, peer: String, max_line: usize) -> Connection {
        Connection {
            socket,
            addr,
            peer,
            framer: Framer::new(max_line),
            readable: true,
            scheduled: false,
            sniffed: false,
            truncated: 0,
            max_line,
        }
    }

    /// Read and frame up to `budget` bytes.
    pub fn read(&mut self, scratch: &mut [u8], budget: usize, sink: &mut Sink) -> Turn {
        let mut left = budget;
        loop {
            match self.socket.read(scratch) {
                Ok(0) => {
                    self.finish(sink);
                    return Turn::Finished;
                }
                Ok(n) => {
                    if !self.sniffed {
                        self.sniffed = true;
                        if looks_like_tls_client_hello(&scratch[..n]) {
                            sink.record(
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
                    self.frame(&scratch[..n], sink);
                    left = left.saturating_sub(n);
                    if left == 0 {
                        return Turn::MoreLeft;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Turn::Drained;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A reset after the peer's data is an ordinary abrupt close;
                    // what was received is still logged.
                    if e.kind() != io::ErrorKind::ConnectionReset {
                        sink.record(
                            level::WARNING,
                            LOGGER,
                            &format!("reading from {} failed: {e}", self.addr),
                        );
                    }
                    self.finish(sink);
                    return Turn::Finished;
                }
            }
        }
    }

    fn frame(&mut self, data: &[u8], sink: &mut Sink) {
        let Connection {
            framer,
            peer,
            addr,
            truncated,
            max_line,
            ..
        } = self;
        framer.push(data, |frame| {
            emit(frame, peer, *addr, truncated, *max_line, sink)
        });
    }

    /// End of stream: log the unterminated last line and any truncation tally.
    pub fn finish(&mut self, sink: &mut Sink) {
        let Connection {
            framer,
            peer,
            addr,
            truncated,
            max_line,
            ..
        } = self;
        framer.finish(|frame| emit(frame, peer, *addr, truncated, *max_line, sink));
        if self.truncated > 1 {
            sink.warning(
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

/// Queue one frame. The first truncation on a connection is reported right after
/// the truncated line; later ones are counted and reported when it closes.
fn emit(
    frame: Frame<'_>,
    peer: &str,
    addr: SocketAddr,
    truncated: &mut u64,
    max_line: usize,
    sink: &mut Sink,
) {
    match frame {
        Frame::Line(line) => sink.line(peer, line),
        Frame::Truncated(line) => {
            sink.line(peer, line);
            if *truncated == 0 {
                sink.warning(
                    LOGGER,
                    &format!(
                        "a line from {addr} is longer than {max_line} bytes (--max-line-length): logged truncated, the rest discarded"
                    ),
                );
            }
            *truncated += 1;
        }
    }
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

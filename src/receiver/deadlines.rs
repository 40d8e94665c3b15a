//! Deadlines: TLS handshakes that take too long, and idle connections.
//!
//! Owns: the handshake deadlines, the idle sweep, and closing connections
//! whose time is up. Does not own: when the loop wakes (it asks
//! [`Deadlines::next`]) or the connections ([`super::connections`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mio::Registry;

use super::conn::LOGGER;
use super::connections::Connections;
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::Refusal;

#[derive(Debug)]
pub struct Deadlines {
    /// How long a TLS handshake may take (`--tls-handshake-timeout`).
    handshake_timeout: Duration,
    /// Close connections that sent nothing for this long (`--idle-timeout`).
    idle_timeout: Option<Duration>,
    /// TLS handshakes in progress, oldest first: (deadline, key, id).
    handshakes: VecDeque<(Instant, usize, u64)>,
    /// When idle connections are looked for next (with `--idle-timeout`).
    next_idle_sweep: Option<Instant>,
}

impl Deadlines {
    pub fn new(handshake_timeout: Duration, idle_timeout: Option<Duration>) -> Deadlines {
        Deadlines {
            handshake_timeout,
            idle_timeout,
            handshakes: VecDeque::new(),
            next_idle_sweep: None,
        }
    }

    /// Connection `key` (process-wide `id`) started a TLS handshake now.
    pub fn handshake_started(&mut self, key: usize, id: u64) {
        let deadline = Instant::now() + self.handshake_timeout;
        self.handshakes.push_back((deadline, key, id));
    }

    /// The earliest deadline, for the poll timeout.
    pub fn next(&self) -> Option<Instant> {
        let handshake = self.handshakes.front().map(|h| h.0);
        match (handshake, self.next_idle_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Close TLS connections whose handshake outlived its deadline. A peer that
    /// connects and says nothing, or stops mid-handshake, costs nothing until then.
    pub fn expire_handshakes(
        &mut self,
        conns: &mut Connections,
        registry: &Registry,
        link: &mut WriterLink,
    ) {
        let now = Instant::now();
        while let Some(&(deadline, key, id)) = self.handshakes.front() {
            // A handshake that finished (or a connection gone) leaves now,
            // not at its deadline: the loop would otherwise wake once per
            // connection opened, a handshake timeout later, with nothing
            // to do (10,000 idle TLS connections: 10,000 wake-ups).
            let pending = conns
                .get(key)
                .is_some_and(|c| c.id() == id && c.is_handshaking());
            if pending && deadline > now {
                break;
            }
            self.handshakes.pop_front();
            let Some(conn) = conns.get(key).filter(|_| pending) else {
                continue;
            };
            link.push_record(
                level::WARNING,
                LOGGER,
                &format!(
                    "{} {} did not complete within {}s (--tls-handshake-timeout): connection closed",
                    conn.handshake_name(),
                    conn.addr(),
                    self.handshake_timeout.as_secs_f32()
                ),
            );
            if let Some(conn) = conns.get_mut(key) {
                conn.refuse(Refusal::TlsHandshakeTimeout);
            }
            conns.close(key, registry);
        }
    }

    /// With `--idle-timeout`: once a second, close connections silent for
    /// longer. Not while `stopping`: then every connection is being drained.
    pub fn close_idle(
        &mut self,
        conns: &mut Connections,
        registry: &Registry,
        link: &mut WriterLink,
        stopping: bool,
    ) {
        let Some(limit) = self.idle_timeout else {
            return;
        };
        let now = Instant::now();
        if self.next_idle_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_idle_sweep = Some(now + Duration::from_secs(1).min(limit));
        if stopping {
            return;
        }
        for key in conns.idle(limit, now) {
            if let Some(conn) = conns.get_mut(key) {
                let addr = conn.addr();
                conn.finish(link);
                link.push_record(
                    level::INFO,
                    LOGGER,
                    &format!(
                        "closed the connection from {addr}: nothing received for {}s (--idle-timeout)",
                        limit.as_secs_f32()
                    ),
                );
                conns.close(key, registry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_wake_is_the_oldest_handshake_deadline() {
        let mut deadlines = Deadlines::new(Duration::from_secs(10), None);
        assert_eq!(deadlines.next(), None);
        deadlines.handshake_started(3, 7);
        let first = deadlines.next().expect("a deadline");
        deadlines.handshake_started(4, 8);
        assert_eq!(deadlines.next(), Some(first));
    }
}

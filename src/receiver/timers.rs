//! Deadlines: TLS handshakes that take too long, and idle connections.
//!
//! Owns: closing connections whose time is up. Does not own: when the loop wakes
//! (see `Receiver::poll_timeout`).

use std::time::{Duration, Instant};

use super::conn::LOGGER;
use super::Receiver;
use crate::logging::level;

impl Receiver {
    /// Close TLS connections whose handshake outlived its deadline. A peer that
    /// connects and says nothing, or stops mid-handshake, costs nothing until then.
    pub(super) fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, key, id)) = self.handshakes.front() {
            if deadline > now {
                break;
            }
            self.handshakes.pop_front();
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            if conn.id != id || !conn.is_handshaking() {
                continue;
            }
            let addr = conn.addr;
            self.link.push_record(
                level::WARNING,
                LOGGER,
                &format!(
                    "TLS handshake with {addr} did not complete within {}s (--tls-handshake-timeout): connection closed",
                    self.config.handshake_timeout.as_secs_f32()
                ),
            );
            self.close(key);
        }
    }

    /// With `--idle-timeout`: once a second, close connections silent for longer.
    pub(super) fn close_idle(&mut self) {
        let Some(limit) = self.config.idle_timeout else {
            return;
        };
        let now = Instant::now();
        if self.next_idle_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_idle_sweep = Some(now + Duration::from_secs(1).min(limit));
        if self.stopping.is_some() {
            return;
        }
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_active) >= limit)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            if let Some(conn) = self.conns.get_mut(key) {
                let addr = conn.addr;
                conn.finish(&mut self.link);
                self.link.push_record(
                    level::INFO,
                    LOGGER,
                    &format!(
                        "closed the connection from {addr}: nothing received for {}s (--idle-timeout)",
                        limit.as_secs_f32()
                    ),
                );
                self.close(key);
            }
        }
    }
}

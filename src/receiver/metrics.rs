//! The receiver's side of the metrics endpoint: its events, and gathering
//! a [`Snapshot`] from the parts that count when a scraper asks.
//!
//! Owns: which part's counters make up a scrape. Does not own: the endpoint
//! ([`crate::metrics`]) or the counting (the parts themselves).

use std::time::Instant;

use super::{token, Receiver, ReceiverError};
use crate::cidr::CidrSet;
use crate::metrics::counts::{Reloads, Snapshot};
use crate::metrics::server::MAX_SCRAPERS;
use crate::metrics::{self, MetricsServer, Wants};

const _: () = assert!(token::METRICS_BASE + 1 + MAX_SCRAPERS <= token::ORDERS.0);

impl Receiver {
    /// Serve the metrics on `socket` (bound at start-up).
    pub fn serve_metrics(&mut self, socket: mio::net::TcpListener) -> Result<(), ReceiverError> {
        let allow = self.policy.metrics_allow.clone();
        if let Ok(at) = socket.local_addr() {
            if !at.ip().is_loopback() && only_loopback(&allow) {
                self.log(
                    crate::logging::level::WARNING,
                    super::conn::LOGGER,
                    &format!(
                        "the metrics endpoint on {at} serves loopback clients only (--metrics-allow \
                         defaults to loopback and --allow's networks): add --metrics-allow for a \
                         scraper elsewhere"
                    ),
                );
            }
        }
        let server = MetricsServer::new(socket, token::METRICS_BASE, self.poll.registry(), allow)
            .map_err(ReceiverError::Setup)?;
        self.metrics = Some(server);
        Ok(())
    }

    /// An event of the metrics endpoint (`0` the listener, `1 + i` client `i`).
    pub(super) fn on_metrics_event(&mut self, index: usize) {
        let registry = self.poll.registry();
        let Some(server) = self.metrics.as_mut() else {
            return;
        };
        if index == 0 {
            server.on_listener(registry);
            return;
        }
        if let Wants::Metrics { client, head } = server.on_client(index - 1, registry) {
            let response = metrics::scrape_response(&self.snapshot(), head);
            if let Some(server) = self.metrics.as_mut() {
                server.respond(client, response, self.poll.registry());
            }
        }
    }

    /// Close metrics clients past their deadline.
    pub(super) fn expire_metrics(&mut self) {
        if let Some(server) = self.metrics.as_mut() {
            server.expire(Instant::now(), self.poll.registry());
        }
    }

    /// What every part counted so far.
    pub(super) fn snapshot(&mut self) -> Snapshot {
        let counts = self.conns.listener_counts(self.listener_labels.len());
        let handlers = match self.link.handler_counts() {
            Some(h) => {
                self.last_handlers.clone_from(&h);
                h
            }
            // The writer is changing them: what the last scrape saw.
            None => self.last_handlers.clone(),
        };
        Snapshot {
            listeners: self.listener_labels.iter().cloned().zip(counts).collect(),
            udp: self
                .udp_labels
                .iter()
                .cloned()
                .zip(self.udp.counts())
                .collect(),
            accept_pauses: self.listeners.pauses(),
            link: self.link.counts(),
            handlers,
            reloads: {
                // Refused here (invalid), or applied or not by the writer.
                let refused = self.reloader.reloads();
                let (applied, failed, last) = self.link.writer_reloads();
                Reloads {
                    succeeded: applied,
                    failed: refused.failed + failed,
                    last_success: refused.last_success.max(last),
                }
            },
            rate_limit_sources: self.rates.as_ref().map(|r| r.sources() as u64),
            spool_max_bytes: self.spool_max_bytes,
            spool_orphaned_bytes: self.link.orphaned_backlog_bytes(),
            syslog_lines: self.link.writer_syslog_lines(),
            receiver_usage: self.own_proc.as_mut().and_then(|p| p.usage()),
            writer_usage: self.link.writer_usage(),
        }
    }
}

/// Whether `allow` admits loopback clients only.
fn only_loopback(allow: &CidrSet) -> bool {
    allow
        .networks()
        .iter()
        .all(|net| net.network().is_loopback())
}

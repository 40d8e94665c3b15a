//! `--rate-limit-per-source` in the receiver: which bucket a peer's lines
//! are taken from, and what happens past it.
//!
//! Owns: the buckets of every source ([`super::rate_limit`]), grouped as
//! [`super::source`] says (an IPv4 address, an IPv6 network; behind a
//! trusted balancer the client its PROXY header names), and the reports of
//! dropped datagrams ([`super::rate_drops`]). Does not own: pausing and
//! waking connections ([`super::connections`]) or the counters.
//!
//! A TCP, TLS or RELP connection over its source's rate is read more
//! slowly: a turn reads about as many lines as its source has tokens, and
//! with none left the connection is paused until they are due, so the
//! kernel's buffers fill and TCP closes the sender's window. Nothing read is
//! dropped. Connections of one source share its bucket, and UDP datagrams
//! from it too; a datagram beyond it is dropped and counted.

use std::net::IpAddr;
use std::time::Instant;

use super::conn::LOGGER;
use super::rate_drops::RateDrops;
use super::rate_limit::{Buckets, RateLimit};
use super::source::{SourceGrouping, SourceKey};
use crate::link::WriterLink;

#[derive(Debug)]
pub struct SourceRates {
    buckets: Buckets,
    sources: SourceGrouping,
    drops: RateDrops,
    /// The option's value, for messages.
    limit: String,
}

/// What a stream connection may do this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Read about this many lines (the source's tokens).
    Read { source: SourceKey, lines: u64 },
    /// Its source has no token: pause it until then.
    Pause { until: Instant },
}

impl SourceRates {
    pub fn new(limit: RateLimit, sources: SourceGrouping) -> SourceRates {
        SourceRates {
            buckets: Buckets::new(limit, Instant::now()),
            sources,
            drops: RateDrops::default(),
            limit: limit.to_string(),
        }
    }

    /// A datagram from `ip` at `now`: whether it may be logged. When it may
    /// not, the drop is counted for the report (logged when one is due).
    pub fn admit_datagram(&mut self, ip: IpAddr, now: Instant, link: &mut WriterLink) -> bool {
        let source = self.sources.key(ip);
        if self.buckets.try_take(source, now) {
            return true;
        }
        if let Some(text) = self.drops.dropped(source, now, &self.limit) {
            link.warning(LOGGER, &text);
        }
        false
    }

    /// Before a turn of a connection from `ip`: how much it may read.
    /// `handshaking` connections are never paused (their deadline runs).
    pub fn pace(&mut self, ip: IpAddr, now: Instant, handshaking: bool) -> Pace {
        let source = self.sources.key(ip);
        match self.buckets.available(source, now) {
            0 if !handshaking => Pace::Pause {
                until: self.buckets.wake_at(source, now),
            },
            lines => Pace::Read {
                source,
                lines: lines.max(1),
            },
        }
    }

    /// After the turn: the `lines` it read are taken from `source`'s
    /// bucket. `Some(when to read it again)` when the source has no token left.
    pub fn charge(&mut self, source: SourceKey, lines: u64, now: Instant) -> Option<Instant> {
        self.buckets.charge(source, lines, now);
        (self.buckets.available(source, now) == 0).then(|| self.buckets.wake_at(source, now))
    }

    /// When a report of dropped datagrams is due, if one is.
    pub fn report_due(&self) -> Option<Instant> {
        self.drops.due()
    }

    /// Log the report of dropped datagrams if it is due.
    pub fn report(&mut self, now: Instant, link: &mut WriterLink) {
        if let Some(text) = self.drops.report(now, &self.limit) {
            link.warning(LOGGER, &text);
        }
    }

    /// Sources whose buckets are kept now.
    pub fn sources(&self) -> usize {
        self.buckets.sources()
    }
}

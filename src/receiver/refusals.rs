//! Reporting refused peers without flooding the log: a source outside
//! `--allow` or over `--max-connections-per-source` is named once a minute
//! with a count (an IPv6 source is its network, see [`super::source`]),
//! and bad PROXY headers are
//! reported at most once every few seconds with how many were not.
//!
//! Owns: those rates and the bounded table of refused sources. Does not own:
//! deciding to refuse ([`super::policy`]).
//!
//! The table costs the same for every refusal, full or not: it is kept in
//! the order sources were first refused, and a new source when it is full
//! takes the place of the oldest (whose count not yet reported joins the
//! count reported for unnamed sources). Forged UDP sources, one datagram
//! each, cost a hash lookup and an eviction, never a scan.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::conn::{Refused, LOGGER};
use super::source::{SourceGrouping, SourceKey};
use crate::link::WriterLink;
use crate::logging::level;

/// How often one refused source is named.
const PER_SOURCE: Duration = Duration::from_secs(60);
/// How often a PROXY header error is reported.
const HEADER_ERRORS: Duration = Duration::from_secs(10);
/// Sources remembered at once; a scan of many addresses cannot grow the table
/// beyond it (the sources it evicts are counted together).
const MAX_SOURCES: usize = 4096;

#[derive(Debug)]
struct Source {
    /// When it was last named.
    named: Instant,
    /// Refusals since.
    count: u64,
}

/// A limit of one report per period, counting what it held back.
#[derive(Debug, Default)]
pub struct Throttle {
    next: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// `Some(held back since the last report)` when a report is due now.
    pub fn due(&mut self, now: Instant, period: Duration) -> Option<u64> {
        if self.next.is_some_and(|next| now < next) {
            self.held_back += 1;
            return None;
        }
        self.next = Some(now + period);
        Some(std::mem::take(&mut self.held_back))
    }

    /// `n` events to count in the next report, without one of their own.
    fn hold(&mut self, n: u64) {
        self.held_back += n;
    }
}

/// Refused sources for one reason, each named once a minute with a count.
#[derive(Debug)]
struct PerSource {
    sources: HashMap<SourceKey, Source>,
    /// The keys of `sources`, oldest first: the next to evict.
    order: VecDeque<SourceKey>,
    /// Refusals of sources the full table could not name.
    unnamed: Throttle,
    capacity: usize,
}

impl Default for PerSource {
    fn default() -> Self {
        PerSource::with_capacity(MAX_SOURCES)
    }
}

impl PerSource {
    fn with_capacity(capacity: usize) -> PerSource {
        PerSource {
            sources: HashMap::new(),
            order: VecDeque::new(),
            unnamed: Throttle::default(),
            capacity,
        }
    }

    /// A refusal of `ip`, which counts as source `key`; the warning to log,
    /// if one is due. `why` is the reason in parentheses, e.g. "not in --allow".
    fn refused(
        &mut self,
        ip: IpAddr,
        key: SourceKey,
        what: &str,
        why: &str,
        now: Instant,
    ) -> Option<String> {
        if let Some(source) = self.sources.get_mut(&key) {
            source.count += 1;
            if now.duration_since(source.named) < PER_SOURCE {
                return None;
            }
            let text = format!(
                "refused {} {what}s from {key} ({why}) in the last minute",
                source.count
            );
            source.named = now;
            source.count = 0;
            return Some(text);
        }
        let full = self.sources.len() >= self.capacity;
        if full {
            self.evict_oldest();
        }
        self.order.push_back(key);
        self.sources.insert(
            key,
            Source {
                named: now,
                count: 0,
            },
        );
        if !full {
            let name = key.naming(ip);
            let it = if name == key.to_string() {
                "it".to_owned()
            } else {
                key.to_string()
            };
            return Some(format!(
                "refused a {what} from {name} ({why}); further refusals of {it} are counted and reported once a minute"
            ));
        }
        // Full: new sources are named together, once a minute, so a scan
        // of addresses logs one line a minute, not one per address.
        let held = self.unnamed.due(now, PER_SOURCE)?;
        let name = key.naming(ip);
        Some(with_held(
            format!("refused a {what} from {name} ({why})"),
            held,
        ))
    }

    /// Make room: the source first refused longest ago leaves the table;
    /// its refusals not yet reported are counted with the unnamed ones.
    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            if let Some(source) = self.sources.remove(&oldest) {
                self.unnamed.hold(source.count);
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Refusals {
    not_allowed: PerSource,
    over_cap: PerSource,
    headers: Throttle,
    sources: SourceGrouping,
}

impl Refusals {
    /// Refused sources counted as `sources` groups them.
    pub fn new(sources: SourceGrouping) -> Refusals {
        Refusals {
            sources,
            ..Refusals::default()
        }
    }

    pub fn report(&mut self, refused: Refused, link: &mut WriterLink) {
        let now = Instant::now();
        match refused {
            Refused::Header(text) | Refused::Relp(text) => {
                if let Some(held) = self.headers.due(now, HEADER_ERRORS) {
                    link.push_record(level::ERROR, LOGGER, &with_held(text, held));
                }
            }
            Refused::NotAllowed { ip, what } => {
                let key = self.sources.key(ip);
                if let Some(text) = self
                    .not_allowed
                    .refused(ip, key, what, "not in --allow", now)
                {
                    link.warning(LOGGER, &text);
                }
            }
        }
    }

    /// A connection from `ip` closed: its source `key` already has `cap` open.
    pub fn over_source_cap(
        &mut self,
        ip: IpAddr,
        key: SourceKey,
        cap: usize,
        link: &mut WriterLink,
    ) {
        let why = format!("over --max-connections-per-source {cap}");
        if let Some(text) = self
            .over_cap
            .refused(ip, key, "connection", &why, Instant::now())
        {
            link.warning(LOGGER, &text);
        }
    }
}

fn with_held(text: String, held: u64) -> String {
    if held == 0 {
        text
    } else {
        format!("{text} ({held} more like it not reported)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_reports_once_per_period_with_the_count() {
        let mut t = Throttle::default();
        let start = Instant::now();
        let p = Duration::from_secs(10);
        assert_eq!(t.due(start, p), Some(0));
        assert_eq!(t.due(start + Duration::from_secs(1), p), None);
        assert_eq!(t.due(start + Duration::from_secs(2), p), None);
        assert_eq!(t.due(start + p, p), Some(2));
    }

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    fn refused(
        table: &mut PerSource,
        ip: IpAddr,
        what: &str,
        why: &str,
        now: Instant,
    ) -> Option<String> {
        table.refused(ip, SourceGrouping::default().key(ip), what, why, now)
    }

    #[test]
    fn a_full_table_evicts_the_oldest_source_and_names_new_ones_together() {
        let mut table = PerSource::with_capacity(4);
        let now = Instant::now();
        let said = |t: Option<String>| t.unwrap_or_default();
        for i in 0..4 {
            assert!(
                said(refused(&mut table, ip(i), "datagram", "x", now)).contains("further refusals")
            );
        }
        // Counted, not named, within the minute.
        assert_eq!(refused(&mut table, ip(0), "datagram", "x", now), None);
        assert_eq!(refused(&mut table, ip(0), "datagram", "x", now), None);
        // Full: a new source takes the oldest's place, whose 2 refusals
        // not yet reported are counted; the first is named, the next within
        // the minute are not.
        assert_eq!(
            said(refused(&mut table, ip(4), "datagram", "x", now)),
            "refused a datagram from 10.0.0.4 (x) (2 more like it not reported)"
        );
        assert_eq!(table.sources.len(), 4);
        assert!(!table
            .sources
            .contains_key(&SourceGrouping::default().key(ip(0))));
        for i in 5..100 {
            assert_eq!(refused(&mut table, ip(i), "datagram", "x", now), None);
        }
        assert_eq!(table.sources.len(), 4);
        assert_eq!(table.order.len(), 4);
        // A minute on: one line for the unnamed ones, with their count.
        let later = now + PER_SOURCE;
        assert_eq!(
            said(refused(&mut table, ip(100), "datagram", "x", later)),
            "refused a datagram from 10.0.0.100 (x) (95 more like it not reported)"
        );
        // A source still in the table is named with its count.
        refused(&mut table, ip(99), "datagram", "x", now);
        assert_eq!(
            said(refused(&mut table, ip(99), "datagram", "x", later)),
            "refused 2 datagrams from 10.0.0.99 (x) in the last minute"
        );
    }

    #[test]
    fn an_ipv6_network_is_one_source() {
        let mut table = PerSource::default();
        let now = Instant::now();
        let g = SourceGrouping::default();
        let a: IpAddr = "2001:db8:0:1::5".parse().unwrap();
        assert_eq!(
            table.refused(a, g.key(a), "datagram", "x", now).unwrap_or_default(),
            "refused a datagram from 2001:db8:0:1::5 in 2001:db8:0:1::/64 (x); further refusals of 2001:db8:0:1::/64 are counted and reported once a minute"
        );
        for i in 0..1000u128 {
            let b = IpAddr::V6((0x2001_0db8_0000_0001_0000_0000_0000_0000u128 + i).into());
            assert_eq!(table.refused(b, g.key(b), "datagram", "x", now), None);
        }
        assert_eq!(table.sources.len(), 1);
        assert_eq!(
            table
                .refused(a, g.key(a), "datagram", "x", now + PER_SOURCE)
                .unwrap_or_default(),
            "refused 1001 datagrams from 2001:db8:0:1::/64 (x) in the last minute"
        );
    }

    /// Not a check: what one refusal of a new source costs with the table
    /// full (`cargo test --release --lib refusals -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn measure_refusals_of_new_sources_at_capacity() {
        let mut table = PerSource::default();
        let now = Instant::now();
        for i in 0..MAX_SOURCES as u32 {
            refused(&mut table, ip(i), "datagram", "x", now);
        }
        let n = 1_000_000u32;
        let started = Instant::now();
        for i in 0..n {
            std::hint::black_box(refused(&mut table, ip(1 << 20 | i), "datagram", "x", now));
        }
        let per = started.elapsed() / n;
        eprintln!("one refusal of a new source, table full: {per:?}");
    }
}

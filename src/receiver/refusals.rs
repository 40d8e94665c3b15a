//! Reporting refused peers without flooding the log: a source outside
//! `--allow` or over `--max-connections-per-source` is named once a minute
//! with a count, and bad PROXY headers are
//! reported at most once every few seconds with how many were not.
//!
//! Owns: those rates and the bounded table of refused sources. Does not own:
//! deciding to refuse ([`super::policy`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::conn::{Refused, LOGGER};
use crate::link::WriterLink;
use crate::logging::level;

/// How often one refused source is named.
const PER_SOURCE: Duration = Duration::from_secs(60);
/// How often a PROXY header error is reported.
const HEADER_ERRORS: Duration = Duration::from_secs(10);
/// Sources remembered at once; a scan of many addresses cannot grow the table
/// beyond it (the rest are counted together).
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
}

/// Refused sources for one reason, each named once a minute with a count.
#[derive(Debug, Default)]
struct PerSource {
    sources: HashMap<IpAddr, Source>,
    /// Refusals of sources the full table could not hold.
    unnamed: Throttle,
}

impl PerSource {
    /// `why` is the reason in parentheses, e.g. "not in --allow".
    fn refused(&mut self, ip: IpAddr, what: &str, why: &str, now: Instant, link: &mut WriterLink) {
        if let Some(source) = self.sources.get_mut(&ip) {
            source.count += 1;
            if now.duration_since(source.named) >= PER_SOURCE {
                link.warning(
                    LOGGER,
                    &format!(
                        "refused {} {what}s from {} ({why}) in the last minute",
                        source.count,
                        ip.to_canonical()
                    ),
                );
                source.named = now;
                source.count = 0;
            }
            return;
        }
        if self.sources.len() >= MAX_SOURCES {
            self.sources
                .retain(|_, s| now.duration_since(s.named) < PER_SOURCE || s.count > 0);
        }
        if self.sources.len() >= MAX_SOURCES {
            if let Some(held) = self.unnamed.due(now, PER_SOURCE) {
                link.warning(
                    LOGGER,
                    &with_held(
                        format!("refused a {what} from {} ({why})", ip.to_canonical()),
                        held,
                    ),
                );
            }
            return;
        }
        link.warning(
            LOGGER,
            &format!(
                "refused a {what} from {} ({why}); further refusals of it are counted and reported once a minute",
                ip.to_canonical()
            ),
        );
        self.sources.insert(
            ip,
            Source {
                named: now,
                count: 0,
            },
        );
    }
}

#[derive(Debug, Default)]
pub struct Refusals {
    not_allowed: PerSource,
    over_cap: PerSource,
    headers: Throttle,
}

impl Refusals {
    pub fn report(&mut self, refused: Refused, link: &mut WriterLink) {
        let now = Instant::now();
        match refused {
            Refused::Header(text) | Refused::Relp(text) => {
                if let Some(held) = self.headers.due(now, HEADER_ERRORS) {
                    link.push_record(level::ERROR, LOGGER, &with_held(text, held));
                }
            }
            Refused::NotAllowed { ip, what } => {
                self.not_allowed
                    .refused(ip, what, "not in --allow", now, link)
            }
        }
    }

    /// A connection from `ip` closed at accept: it already has `cap` open.
    pub fn over_source_cap(&mut self, ip: IpAddr, cap: usize, link: &mut WriterLink) {
        let why = format!("over --max-connections-per-source {cap}");
        self.over_cap
            .refused(ip, "connection", &why, Instant::now(), link);
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
}

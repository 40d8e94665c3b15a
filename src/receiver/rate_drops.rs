//! Reporting UDP datagrams dropped by `--rate-limit-per-source` without
//! flooding the log: the first drop is reported at once, later ones are
//! counted per source and reported at most once a minute, naming the
//! sources that lost the most, with counts.
//!
//! Owns: that rate and the bounded table of counts. Does not own: deciding
//! to drop ([`super::rate_limit`]) or counting for the metrics
//! ([`super::udp`]).
//!
//! The table names at most [`MAX_NAMED`] sources between two reports;
//! drops of further sources are counted together, so forged source
//! addresses cannot grow it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::source::SourceKey;

/// How often drops are reported.
pub const PERIOD: Duration = Duration::from_secs(60);
/// Sources counted by name between two reports.
const MAX_NAMED: usize = 1024;
/// Sources a report names.
const TOP: usize = 5;

#[derive(Debug, Default)]
pub struct RateDrops {
    /// Drops not reported yet, per source.
    named: HashMap<SourceKey, u64>,
    /// Drops not reported yet of sources beyond `MAX_NAMED`.
    unnamed: u64,
    /// When the next report may be made; `None`: at the next drop.
    next: Option<Instant>,
}

impl RateDrops {
    /// A datagram of `source` was dropped at `now`: the report to log, if
    /// one is due.
    pub fn dropped(&mut self, source: SourceKey, now: Instant, limit: &str) -> Option<String> {
        if let Some(n) = self.named.get_mut(&source) {
            *n += 1;
        } else if self.named.len() < MAX_NAMED {
            self.named.insert(source, 1);
        } else {
            self.unnamed += 1;
        }
        self.report(now, limit)
    }

    /// When a report of drops held back is due, if any are.
    pub fn due(&self) -> Option<Instant> {
        if self.named.is_empty() {
            return None;
        }
        self.next
    }

    /// The report of what was held back, when it is due at `now`.
    pub fn report(&mut self, now: Instant, limit: &str) -> Option<String> {
        if self.named.is_empty() || self.next.is_some_and(|next| now < next) {
            return None;
        }
        let first = self.next.is_none();
        self.next = Some(now + PERIOD);
        let mut counts: Vec<(SourceKey, u64)> = self.named.drain().collect();
        let total: u64 = counts.iter().map(|(_, n)| n).sum::<u64>() + self.unnamed;
        let sources = counts.len();
        counts.sort_unstable_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
        });
        let named: Vec<String> = counts
            .iter()
            .take(TOP)
            .map(|(s, n)| format!("{s} ({n})"))
            .collect();
        let mut text = format!(
            "dropped {total} UDP datagram{} over --rate-limit-per-source {limit}{}: {}",
            if total == 1 { "" } else { "s" },
            if first { "" } else { " in the last minute" },
            named.join(", ")
        );
        let rest = sources.saturating_sub(TOP);
        if rest > 0 || self.unnamed > 0 {
            let others = counts.iter().skip(TOP).map(|(_, n)| n).sum::<u64>() + self.unnamed;
            text.push_str(&format!(", {others} from other sources"));
        }
        if first {
            text.push_str("; further drops are counted and reported once a minute");
        }
        self.unnamed = 0;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::SourceGrouping;
    use super::*;

    fn source(i: u32) -> SourceKey {
        SourceGrouping::default().key(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
    }

    #[test]
    fn the_first_drop_is_reported_at_once_then_once_a_minute_with_the_most_dropped() {
        let mut d = RateDrops::default();
        let t0 = Instant::now();
        assert_eq!(
            d.dropped(source(1), t0, "10:10").as_deref(),
            Some("dropped 1 UDP datagram over --rate-limit-per-source 10:10: 10.0.0.1 (1); further drops are counted and reported once a minute")
        );
        assert_eq!(d.due(), None);
        for i in 0..10u32 {
            for _ in 0..=i {
                assert_eq!(d.dropped(source(i), t0, "10:10"), None);
            }
        }
        assert_eq!(d.due(), Some(t0 + PERIOD));
        assert_eq!(
            d.report(t0 + PERIOD - Duration::from_millis(1), "10:10"),
            None
        );
        assert_eq!(
            d.report(t0 + PERIOD, "10:10").as_deref(),
            Some("dropped 55 UDP datagrams over --rate-limit-per-source 10:10 in the last minute: 10.0.0.9 (10), 10.0.0.8 (9), 10.0.0.7 (8), 10.0.0.6 (7), 10.0.0.5 (6), 15 from other sources")
        );
        assert_eq!(d.due(), None);
        assert_eq!(d.report(t0 + PERIOD * 3, "10:10"), None);
    }

    #[test]
    fn sources_beyond_the_bound_are_counted_together() {
        let mut d = RateDrops::default();
        let t0 = Instant::now();
        d.dropped(source(0), t0, "1");
        for i in 0..(MAX_NAMED as u32 + 100) {
            d.dropped(source(i), t0, "1");
        }
        assert_eq!(d.named.len(), MAX_NAMED);
        let text = d.report(t0 + PERIOD, "1").unwrap_or_default();
        assert!(text.starts_with("dropped 1124 UDP datagrams"), "{text}");
        assert!(text.ends_with(", 1119 from other sources"), "{text}");
    }
}

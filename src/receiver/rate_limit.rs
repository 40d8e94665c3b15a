//! Per-source rate limits (`--rate-limit-per-source LINES_PER_S[:BURST]`):
//! the option's value and a token bucket per source. Pure: time is given.
//!
//! Owns: parsing the value, the bucket arithmetic, the bounded table of
//! buckets, and sizing a rate-limited connection's reads to its tokens. Does not own: what one source is ([`super::source`]), pausing
//! a connection ([`super::connections`]) or dropping a datagram
//! ([`super::udp`]).
//!
//! A bucket is kept as the time at which it would be full again (GCRA's
//! "theoretical arrival time"), in integer nanoseconds, so no rounding can
//! let more through than BURST + rate x elapsed: a line costs
//! `ceil(1e9 / rate)` ns, and a line passes while that time is at most
//! BURST lines' worth ahead of now. Stream connections take the lines a read
//! brought whatever the bucket holds (lines read are never dropped), so a
//! bucket may go into debt; such a source is not read again until the debt is
//! paid. UDP datagrams pass only with a token.
//!
//! The table holds at most [`MAX_SOURCES`] sources; past it the least
//! recently seen source is forgotten and, seen again, starts with a full
//! bucket (so a sender that stops for as long as many other sources appear
//! gets its burst again: never more than BURST lines early).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::lru::Lru;
use super::source::SourceKey;

/// Sources whose buckets are kept at once.
pub const MAX_SOURCES: usize = 65_536;
/// The lowest rate: one line in 1,000 s. Lower rates are refused (their
/// cost in nanoseconds times a burst would not fit the arithmetic).
pub const MIN_RATE: f64 = 0.001;
/// The highest rate and burst: beyond what one collector receives.
pub const MAX_RATE: f64 = 1e9;
pub const MAX_BURST: u64 = 10_000_000;
/// A paused connection is woken when this much of a second's worth of
/// tokens is due (at most 100 wake-ups a second per paused connection,
/// however high the rate), or one token at low rates.
const WAKE_FRACTION: f64 = 0.01;
/// Bytes a line is assumed to take before a connection has sent one: the
/// first read of a rate-limited connection is sized by it. Short, so that
/// the debt that read may leave stays small (lines are rarely shorter).
const FIRST_LINE_BYTES: u64 = 64;

/// `--rate-limit-per-source`'s value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Lines per second.
    pub rate: f64,
    /// Lines a source may send at once after being quiet: by default one
    /// second's worth (at least 1).
    pub burst: u64,
}

/// Why a value of `--rate-limit-per-source` was refused. Its message
/// follows the option and its value in clap's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (write LINES_PER_S or LINES_PER_S:BURST, e.g. 1000 or 1000:5000)")]
pub struct RateLimitError(String);

impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(s: &str) -> Result<RateLimit, RateLimitError> {
        let (rate_text, burst_text) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let rate: f64 = rate_text.trim().parse().map_err(|_| {
            RateLimitError(format!(
                "the rate {rate_text:?} is not a number of lines per second"
            ))
        })?;
        if !(rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)) {
            return Err(RateLimitError(format!(
                "the rate must be from {MIN_RATE} to {MAX_RATE} lines per second, got {rate_text}"
            )));
        }
        let burst = match burst_text {
            None => (rate.ceil() as u64).clamp(1, MAX_BURST),
            Some(b) => {
                let burst: u64 = b.trim().parse().map_err(|_| {
                    RateLimitError(format!("the burst {b:?} is not a whole number of lines"))
                })?;
                if !(1..=MAX_BURST).contains(&burst) {
                    return Err(RateLimitError(format!(
                        "the burst must be from 1 to {MAX_BURST} lines, got {b}"
                    )));
                }
                burst
            }
        };
        Ok(RateLimit { rate, burst })
    }
}

impl fmt::Display for RateLimit {
    /// As the option takes it: `RATE:BURST`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.rate, self.burst)
    }
}

/// The token buckets of every source seen lately.
#[derive(Debug)]
pub struct Buckets {
    limit: RateLimit,
    /// What one line costs, in ns: ceil(1e9 / rate), at least 1.
    cost: u64,
    /// BURST lines' worth, in ns.
    depth: u64,
    /// Tokens due before a paused connection is woken.
    wake_tokens: u64,
    /// Times are kept as ns since this.
    epoch: Instant,
    /// Per source: when its bucket is full again (ns since `epoch`); at or
    /// before now, the bucket is full.
    table: Lru<SourceKey, u64>,
}

impl Buckets {
    pub fn new(limit: RateLimit, epoch: Instant) -> Buckets {
        Buckets::with_capacity(limit, epoch, MAX_SOURCES)
    }

    fn with_capacity(limit: RateLimit, epoch: Instant, capacity: usize) -> Buckets {
        let cost = ((1e9 / limit.rate).ceil() as u64).max(1);
        Buckets {
            limit,
            cost,
            depth: cost.saturating_mul(limit.burst),
            wake_tokens: ((limit.rate * WAKE_FRACTION) as u64).clamp(1, limit.burst),
            epoch,
            table: Lru::new(capacity),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Sources whose buckets are kept now.
    pub fn sources(&self) -> usize {
        self.table.len()
    }

    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The bucket of `source` (a new, full one if it has none), and now in ns.
    fn bucket(&mut self, source: SourceKey, now: Instant) -> (&mut u64, u64) {
        let now = self.ns(now);
        (self.table.get_or_insert_with(source, || 0), now)
    }

    /// Whole tokens `source` has at `now` (0 when empty or in debt).
    pub fn available(&mut self, source: SourceKey, now: Instant) -> u64 {
        let (cost, depth) = (self.cost, self.depth);
        let (full_at, now) = self.bucket(source, now);
        tokens(*full_at, now, cost, depth)
    }

    /// A datagram: take a token if `source` has one. Whether it had.
    pub fn try_take(&mut self, source: SourceKey, now: Instant) -> bool {
        let (cost, depth) = (self.cost, self.depth);
        let (full_at, now) = self.bucket(source, now);
        if tokens(*full_at, now, cost, depth) == 0 {
            return false;
        }
        *full_at = (*full_at).max(now) + cost;
        true
    }

    /// A stream read `lines` of `source`: they are taken, into debt if need be.
    pub fn charge(&mut self, source: SourceKey, lines: u64, now: Instant) {
        if lines == 0 {
            return;
        }
        let cost = self.cost;
        let (full_at, now) = self.bucket(source, now);
        *full_at = (*full_at)
            .max(now)
            .saturating_add(cost.saturating_mul(lines));
    }

    /// When a connection of `source`, paused for want of tokens, is read
    /// again: once a batch of tokens is due (see [`WAKE_FRACTION`]).
    pub fn wake_at(&mut self, source: SourceKey, now: Instant) -> Instant {
        let (cost, depth, want) = (self.cost, self.depth, self.wake_tokens);
        let epoch = self.epoch;
        let (full_at, now_ns) = self.bucket(source, now);
        // Tokens are `(now + depth - full_at) / cost`: `want` of them are
        // due once now reaches full_at + want x cost - depth.
        let due = full_at
            .saturating_add(want.saturating_mul(cost))
            .saturating_sub(depth);
        epoch + Duration::from_nanos(due.max(now_ns))
    }
}

/// Bytes to read for about `lines` lines, from what a connection received
/// so far (`bytes` in `received` lines), at most `most`: a source over its
/// rate is read in reads that fit its tokens, so its debt stays within a
/// line or two.
pub fn read_size(lines: u64, received_bytes: u64, received_lines: u64, most: usize) -> usize {
    let per_line = received_bytes
        .checked_div(received_lines)
        .unwrap_or(FIRST_LINE_BYTES)
        .max(1);
    usize::try_from(lines.saturating_mul(per_line))
        .unwrap_or(usize::MAX)
        .clamp(1, most.max(1))
}

/// Whole tokens of a bucket full at `full_at`, at `now`.
fn tokens(full_at: u64, now: u64, cost: u64, depth: u64) -> u64 {
    now.saturating_add(depth).saturating_sub(full_at.max(now)) / cost
}

#[cfg(test)]
mod tests {
    use super::super::source::SourceGrouping;
    use super::*;
    use proptest::prelude::*;

    fn source(i: u32) -> SourceKey {
        SourceGrouping::default().key(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
    }

    #[test]
    fn values_parse_with_a_second_as_the_default_burst() {
        let p = |s: &str| s.parse::<RateLimit>();
        assert_eq!(
            p("1000"),
            Ok(RateLimit {
                rate: 1000.0,
                burst: 1000
            })
        );
        assert_eq!(
            p("2000:200"),
            Ok(RateLimit {
                rate: 2000.0,
                burst: 200
            })
        );
        assert_eq!(
            p("0.5"),
            Ok(RateLimit {
                rate: 0.5,
                burst: 1
            })
        );
        assert_eq!(p("2.5").map(|l| l.burst), Ok(3));
        for bad in [
            "",
            "0",
            "-5",
            "abc",
            "10:0",
            "10:-1",
            "10:x",
            "10:1.5",
            "nan",
            "inf",
            "1e10",
            "0.0001",
            ":5",
            "10:",
            "10:20000000",
        ] {
            let e = p(bad).expect_err(bad).to_string();
            assert!(e.contains("LINES_PER_S:BURST"), "{bad}: {e}");
        }
        assert!(p("0")
            .expect_err("0")
            .to_string()
            .starts_with("the rate must be from 0.001"));
        assert_eq!(
            p("x").expect_err("x").to_string().split(" (").next(),
            Some("the rate \"x\" is not a number of lines per second")
        );
        assert_eq!(
            RateLimit {
                rate: 2.5,
                burst: 3
            }
            .to_string(),
            "2.5:3"
        );
    }

    #[test]
    fn a_read_fits_the_tokens_by_the_lines_seen() {
        assert_eq!(read_size(10, 0, 0, 1 << 17), 640);
        assert_eq!(read_size(10, 2000, 100, 1 << 17), 200);
        assert_eq!(read_size(u64::MAX, 2000, 100, 1 << 17), 1 << 17);
        assert_eq!(read_size(1, 0, 5, 1 << 17), 1);
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_the_rate() {
        let t0 = Instant::now();
        let limit = "10:3".parse().expect("limit");
        let mut b = Buckets::new(limit, t0);
        let s = source(1);
        assert_eq!(b.available(s, t0), 3);
        assert!(b.try_take(s, t0) && b.try_take(s, t0) && b.try_take(s, t0));
        assert!(!b.try_take(s, t0));
        // Another source has its own bucket.
        assert!(b.try_take(source(2), t0));
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(!b.try_take(s, ms(99)));
        assert!(b.try_take(s, ms(100)));
        assert!(!b.try_take(s, ms(150)));
        // Quiet for long: full again, never more.
        assert_eq!(b.available(s, ms(10_000)), 3);
    }

    #[test]
    fn a_stream_goes_into_debt_and_wakes_when_tokens_are_due() {
        let t0 = Instant::now();
        let mut b = Buckets::new("100:10".parse().expect("limit"), t0);
        let s = source(1);
        // One read brought 30 lines: 20 beyond the burst, 200 ms of debt.
        b.charge(s, 30, t0);
        assert_eq!(b.available(s, t0), 0);
        // Woken when one token (1% of 100/s) is due: 200 ms + 10 ms.
        assert_eq!(b.wake_at(s, t0), t0 + Duration::from_millis(210));
        assert_eq!(b.available(s, t0 + Duration::from_millis(209)), 0);
        assert_eq!(b.available(s, t0 + Duration::from_millis(210)), 1);
        // A high rate wakes for a batch: 1% of a second's worth.
        let mut fast = Buckets::new("100000:1000".parse().expect("limit"), t0);
        fast.charge(s, 1000, t0);
        assert_eq!(fast.wake_at(s, t0), t0 + Duration::from_millis(10));
        assert_eq!(fast.available(s, t0 + Duration::from_millis(10)), 1000);
    }

    #[test]
    fn the_table_is_bounded_and_a_forgotten_source_starts_full() {
        let t0 = Instant::now();
        let mut b = Buckets::with_capacity("1:1".parse().expect("limit"), t0, 4);
        assert!(b.try_take(source(0), t0));
        assert!(!b.try_take(source(0), t0));
        for i in 1..5 {
            b.try_take(source(i), t0);
        }
        assert_eq!(b.sources(), 4);
        assert!(b.try_take(source(0), t0), "forgotten: a full bucket again");
    }

    /// Not a check: the memory one source costs in the table
    /// (`cargo test --lib rate_limit -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn measure_the_size_of_an_entry() {
        let node = std::mem::size_of::<(SourceKey, u64, u32, u32)>();
        let index = std::mem::size_of::<(SourceKey, u32)>() + 1;
        eprintln!("entry: {node} bytes, index: {index} bytes (before the hash table's slack)");
    }

    proptest! {
        /// Over any schedule of datagrams, from a full bucket: what passes
        /// never exceeds BURST + rate x elapsed.
        #[test]
        fn datagrams_passed_never_exceed_burst_plus_rate_times_elapsed(
            rate in 0.001f64..1e7,
            burst in 1u64..1000,
            gaps in prop::collection::vec(0u64..50_000_000, 1..400),
        ) {
            let t0 = Instant::now();
            let mut b = Buckets::new(RateLimit { rate, burst }, t0);
            let s = source(7);
            let (mut now, mut passed) = (t0, 0u64);
            for gap in gaps {
                now += Duration::from_nanos(gap);
                if b.try_take(s, now) {
                    passed += 1;
                }
                let elapsed = now.duration_since(t0).as_secs_f64();
                prop_assert!(passed as f64 <= burst as f64 + rate * elapsed + 1e-6,
                    "{passed} > {burst} + {rate} x {elapsed}");
            }
        }

        /// Streams: a read happens only with a token, and takes what it
        /// brought (debt). At every read, what passed before it is within
        /// BURST + rate x elapsed, so a sender is slowed to the rate
        /// whatever its reads bring.
        #[test]
        fn stream_reads_wait_for_their_debt(
            rate in 0.001f64..1e7,
            burst in 1u64..1000,
            steps in prop::collection::vec((0u64..50_000_000, 1u64..500), 1..300),
        ) {
            let t0 = Instant::now();
            let mut b = Buckets::new(RateLimit { rate, burst }, t0);
            let s = source(7);
            let (mut now, mut passed) = (t0, 0u64);
            for (gap, lines) in steps {
                now += Duration::from_nanos(gap);
                if b.available(s, now) == 0 {
                    let wake = b.wake_at(s, now);
                    prop_assert!(wake > now);
                    prop_assert!(b.available(s, wake) >= 1, "woken without a token");
                    continue;
                }
                let elapsed = now.duration_since(t0).as_secs_f64();
                prop_assert!((passed + 1) as f64 <= burst as f64 + rate * elapsed + 1e-6,
                    "read with {passed} passed at {elapsed}s ({rate}/s, burst {burst})");
                b.charge(s, lines, now);
                passed += lines;
            }
        }
    }
}

//! When a file reached which length. A reader that scans a growing file only
//! after it was written (so as not to take CPU from the process writing it)
//! notes the file's length cheaply meanwhile, and dates each part of the data
//! by the first sample that held it: as precise as scanning while it grew.

use std::collections::VecDeque;
use std::fs::File;
use std::time::Instant;

/// Length samples kept by default (at most one per change of length: at one
/// sample per millisecond, over a minute of history; older ones are dropped
/// first). 24 bytes each.
pub const MAX_SAMPLES: usize = 1 << 16;

/// (when, inode, length)
type Sample = (Instant, u64, u64);

/// When the file reached which length: lets a scan that runs after the data
/// was written still say when each part of it arrived.
#[derive(Debug)]
pub struct Growth {
    /// Oldest first; a sample is kept only when the length or the inode changed.
    samples: VecDeque<Sample>,
    limit: usize,
    /// The newest sample dropped for the limit: an upper bound on when any
    /// offset it held arrived.
    dropped: Option<Sample>,
}

impl Default for Growth {
    fn default() -> Growth {
        Growth::with_limit(MAX_SAMPLES)
    }
}

impl Growth {
    /// Keep at most `limit` samples.
    pub fn with_limit(limit: usize) -> Growth {
        Growth {
            samples: VecDeque::new(),
            limit: limit.max(1),
            dropped: None,
        }
    }

    pub fn note(&mut self, at: Instant, ino: u64, len: u64) {
        if self
            .samples
            .back()
            .is_some_and(|&(_, i, l)| i == ino && l == len)
        {
            return;
        }
        if self.samples.len() >= self.limit {
            self.dropped = self.samples.pop_front();
        }
        self.samples.push_back((at, ino, len));
    }

    /// Note the length of the open file `f` (inode `ino`) now; returns when.
    /// A failed stat notes nothing.
    pub fn note_file(&mut self, f: &File, ino: u64) -> Instant {
        let now = Instant::now();
        if let Ok(m) = f.metadata() {
            self.note(now, ino, m.len());
        }
        now
    }

    /// The first time file `ino` was seen holding `offset` bytes, if noted.
    /// Offsets asked for only grow, so older samples are dropped as they pass.
    pub fn arrival(&mut self, ino: u64, offset: u64) -> Option<Instant> {
        if let Some((at, i, l)) = self.dropped {
            if i == ino && offset <= l {
                return Some(at);
            }
        }
        while self
            .samples
            .front()
            .is_some_and(|&(_, i, l)| i == ino && l < offset)
        {
            self.samples.pop_front();
        }
        self.samples
            .front()
            .filter(|&&(_, i, _)| i == ino)
            .map(|&(at, _, _)| at)
    }

    /// The scan is done with file `ino` (rotated away or truncated).
    pub fn forget(&mut self, ino: u64) {
        self.samples.retain(|&(_, i, _)| i != ino);
        self.dropped = self.dropped.filter(|&(_, i, _)| i != ino);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn growth_dates_an_offset_by_the_first_sample_holding_it() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut g = Growth::default();
        g.note(at(0), 7, 0);
        g.note(at(1), 7, 100);
        g.note(at(2), 7, 100); // unchanged: not kept
        g.note(at(3), 7, 250);
        g.note(at(4), 9, 40); // rotated
        assert_eq!(g.samples.len(), 4);
        assert_eq!(g.arrival(7, 50), Some(at(1)));
        assert_eq!(g.arrival(7, 100), Some(at(1)));
        assert_eq!(g.arrival(7, 101), Some(at(3)));
        // The scan moves on to the new file once done with the old one.
        assert_eq!(g.arrival(9, 40), None, "inode 7's samples come first");
        g.forget(7);
        assert_eq!(g.arrival(9, 40), Some(at(4)));
        // Past everything noted: unknown, the caller uses "now".
        assert_eq!(g.arrival(9, 41), None);
    }

    #[test]
    fn growth_keeps_a_bounded_history() {
        let t0 = Instant::now();
        let mut g = Growth::default();
        for len in 0..(MAX_SAMPLES as u64 + 10) {
            g.note(t0, 1, len);
        }
        assert_eq!(g.samples.len(), MAX_SAMPLES);
        assert_eq!(g.samples.front().map(|s| s.2), Some(10));

        // Offsets whose samples were dropped get the newest dropped time: an
        // upper bound, tighter than the oldest sample kept.
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut g = Growth::with_limit(2);
        for (ms, len) in [(0, 10), (1, 20), (2, 30), (3, 40)] {
            g.note(at(ms), 5, len);
        }
        assert_eq!(g.arrival(5, 15), Some(at(1)));
        assert_eq!(g.arrival(5, 25), Some(at(2)));
        assert_eq!(g.arrival(5, 40), Some(at(3)));
    }
}

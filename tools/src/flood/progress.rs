//! Progress: the shared counters the senders bump once per chunk, and the
//! progress bar drawn on stderr (only when stderr is a terminal, at most about
//! ten times a second).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lines and bytes written so far, by all connections.
#[derive(Debug, Default)]
pub struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    /// Count one written chunk.
    pub fn add(&self, lines: u64, bytes: u64) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Redraw interval of the bar.
pub const TICK: Duration = Duration::from_millis(100);

/// A one-line progress bar on stderr; inert when stderr is not a terminal.
pub struct Bar {
    enabled: bool,
    total: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Bar {
    /// A bar for `total` lines, enabled only if stderr is a terminal.
    pub fn new(total: u64, start: Instant) -> Self {
        Bar {
            enabled: std::io::stderr().is_terminal(),
            total,
            start,
            last_draw: None,
        }
    }

    /// Redraw if enabled and at least [`TICK`] has passed since the last draw.
    pub fn tick(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now.duration_since(t) < TICK) {
            return;
        }
        self.last_draw = Some(now);
        let line = render(done, self.total, now.duration_since(self.start));
        let mut err = std::io::stderr().lock();
        // Progress is cosmetic: a failed write to the terminal is ignored.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Erase the bar so the report starts on a clean line.
    pub fn clear(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// The text of the bar: `[#####.....]  45.0%  1800000/4000000 lines  3.20 M lines/s`.
pub fn render(done: u64, total: u64, elapsed: Duration) -> String {
    const WIDTH: usize = 30;
    let frac = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (frac * WIDTH as f64) as usize;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let rate = if rate >= 1e6 {
        format!("{:.2} M lines/s", rate / 1e6)
    } else {
        format!("{rate:.0} lines/s")
    };
    format!(
        "[{}{}] {:5.1}%  {done}/{total} lines  {rate}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        frac * 100.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shapes() {
        let s = render(50, 100, Duration::from_secs(1));
        assert_eq!(
            s,
            "[###############...............]  50.0%  50/100 lines  50 lines/s"
        );
        assert!(render(3_000_000, 6_000_000, Duration::from_secs(1)).ends_with("3.00 M lines/s"));
        assert!(render(0, 0, Duration::ZERO).contains("100.0%"));
        assert!(render(200, 100, Duration::from_secs(1)).contains("100.0%"));
    }

    #[test]
    fn counters_add_up() {
        let c = Counters::default();
        c.add(3, 300);
        c.add(2, 200);
        assert_eq!((c.lines(), c.bytes()), (5, 500));
    }
}

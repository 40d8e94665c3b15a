//! The writer's counters, in a page of memory shared with the receiver.
//!
//! Why: the writer's per-handler counters must reach the receiver (which
//! serves the metrics) without a cost per record and without a message per
//! batch on the status stream. The writer stores its counters here once per
//! batch, with plain atomic stores; the receiver reads them only when scraped.
//!
//! Owns: the mapping, its layout, the rule for changing the handler names
//! (a sequence number, odd while names change) and reading a consistent
//! copy. Does not own: what the counters mean ([`crate::writer`] fills them)
//! or keeping them monotonic across writers ([`crate::link`] keeps the base).
//!
//! Like the batch slots ([`super::slots`]), the mapping is anonymous and
//! `MAP_SHARED`, made before the first writer is forked, so every writer
//! writes the same page. It stays writable in the writer: it holds nothing
//! the receiver trusts beyond numbers and names for labels. Handler names
//! longer than [`NAME_BYTES`] are cut; handlers past [`MAX_HANDLERS`] are not
//! exported.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::mman::munmap;

/// Handlers whose counters are exported.
pub const MAX_HANDLERS: usize = 64;
/// Longest handler name kept, in bytes.
pub const NAME_BYTES: usize = 96;
const NAME_WORDS: usize = NAME_BYTES / 8;

/// The counters of one handler, in their order in the page.
pub const VALUES: usize = 14;
/// Records the handler took (formatted into its output).
pub const EMITTED: usize = 0;
/// Bytes of formatted output the handler took.
pub const BYTES: usize = 1;
/// Failed opens, writes and sends.
pub const WRITE_ERRORS: usize = 2;
/// Records dropped because they failed to format or encode.
pub const FORMAT_ERRORS: usize = 3;
/// Records or output given up (full buffers, failed writes).
pub const DROPPED: usize = 4;
/// Bytes held because the output fails: a gauge, the only value that is
/// not a counter (never added up across writers or configurations).
pub const HELD_BYTES: usize = 5;
/// Files reopened (WatchedFileHandler, SIGHUP).
pub const REOPENS: usize = 6;
/// Rollovers of the rotating file handlers.
pub const ROTATIONS: usize = 7;
/// Files a DynamicFileHandler opened.
pub const FILES_OPENED: usize = 8;
/// Bytes in the handler's disk backlog (a gauge).
pub const SPOOL_BYTES: usize = 9;
/// Records in the handler's disk backlog (a gauge).
pub const SPOOL_RECORDS: usize = 10;
/// Age of the oldest record in its backlog, in ms (a gauge).
pub const SPOOL_AGE_MS: usize = 11;
/// Records read back out of its backlog.
pub const SPOOL_DRAINED: usize = 12;
/// Records found damaged in its backlog and skipped.
pub const SPOOL_DAMAGED: usize = 13;
/// The values that are gauges: what is now, never added up across writers
/// or configurations.
pub const GAUGES: [usize; 4] = [HELD_BYTES, SPOOL_BYTES, SPOOL_RECORDS, SPOOL_AGE_MS];

/// How one per-handler value is shown on the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub struct HandlerMetric {
    /// Its index in [`HandlerValues::values`].
    pub index: usize,
    pub name: &'static str,
    pub help: &'static str,
    /// A gauge (else a counter).
    pub gauge: bool,
    /// The value is shown divided by this (milliseconds as seconds: 1000).
    pub divisor: u32,
}

const fn counter(index: usize, name: &'static str, help: &'static str) -> HandlerMetric {
    HandlerMetric {
        index,
        name,
        help,
        gauge: false,
        divisor: 1,
    }
}

const fn gauge(index: usize, name: &'static str, help: &'static str) -> HandlerMetric {
    HandlerMetric {
        index,
        name,
        help,
        gauge: true,
        divisor: 1,
    }
}

/// Every per-handler value, once: the one table a new value is added to
/// (with its index above and where the writer sets it,
/// `crate::writer::counters`).
pub const HANDLER_METRICS: [HandlerMetric; VALUES] = [
    counter(EMITTED, "pysyslog_handler_records_emitted_total", "Records the handler took into its output."),
    counter(BYTES, "pysyslog_handler_output_bytes_total", "Bytes of formatted records the handler took into its output (terminators included)."),
    counter(WRITE_ERRORS, "pysyslog_handler_write_errors_total", "Failed opens, writes and sends of the handler."),
    counter(FORMAT_ERRORS, "pysyslog_handler_format_errors_total", "Records dropped by the handler because they failed to format or encode."),
    counter(DROPPED, "pysyslog_handler_records_dropped_total", "Records or output the handler gave up (full buffers, failed writes)."),
    gauge(HELD_BYTES, "pysyslog_handler_held_bytes", "Bytes the handler's output keeps because its writes fail (with on_failure: hold, every batch waits for them)."),
    counter(REOPENS, "pysyslog_handler_file_reopens_total", "Files the handler reopened: a WatchedFileHandler's file moved or removed, or SIGHUP."),
    counter(ROTATIONS, "pysyslog_handler_file_rotations_total", "Rollovers of a RotatingFileHandler or TimedRotatingFileHandler."),
    counter(FILES_OPENED, "pysyslog_handler_files_opened_total", "Files a DynamicFileHandler opened: a new file, or one it had closed (max_open, idle_close) opened again."),
    gauge(SPOOL_BYTES, "pysyslog_handler_spool_bytes", "Bytes in the handler's disk backlog (--spool-dir): records its output could not take yet."),
    gauge(SPOOL_RECORDS, "pysyslog_handler_spool_records", "Records in the handler's disk backlog, not yet delivered."),
    HandlerMetric {
        divisor: 1000,
        ..gauge(SPOOL_AGE_MS, "pysyslog_handler_spool_oldest_age_seconds", "Age of the oldest record in the handler's disk backlog not yet delivered (0: empty).")
    },
    counter(SPOOL_DRAINED, "pysyslog_handler_spool_drained_records_total", "Records the handler read back out of its disk backlog (--spool-dir) to send."),
    counter(SPOOL_DAMAGED, "pysyslog_handler_spool_damaged_records_total", "Records found damaged in the handler's disk backlog and skipped (each reported with its file and offset)."),
];

#[repr(C)]
struct Entry {
    name_len: AtomicU64,
    name: [AtomicU64; NAME_WORDS],
    values: [AtomicU64; VALUES],
}

#[repr(C)]
struct Page {
    /// Odd while the writer changes the names.
    seq: AtomicU64,
    /// Entries in use.
    count: AtomicU64,
    /// Reloads the writer applied, and could not apply.
    reloads_applied: AtomicU64,
    reloads_failed: AtomicU64,
    /// When the last one was applied: Unix seconds as `f64` bits (0: never).
    last_applied: AtomicU64,
    /// Lines the writer parsed (`--parse-syslog`), by [`SyslogFormat`] index.
    syslog_lines: [AtomicU64; SYSLOG_FORMATS],
    /// Bytes in backlogs (`--spool-dir`) no configured handler is named for
    /// (a gauge, as the writer found them at its start).
    orphaned_backlog_bytes: AtomicU64,
    entries: [Entry; MAX_HANDLERS],
}

/// What a parsed line was: RFC 5424, RFC 3164, or neither.
pub const SYSLOG_FORMATS: usize = 3;
/// Their label values on the metrics endpoint, in index order.
pub const SYSLOG_FORMAT_LABELS: [&str; SYSLOG_FORMATS] = ["rfc5424", "rfc3164", "none"];

/// One handler's counters as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerValues {
    pub name: String,
    pub values: [u64; VALUES],
}

/// The shared page; `SharedCounters::none()` has none (nothing is exported).
#[derive(Debug)]
pub struct SharedCounters {
    page: Option<NonNull<c_void>>,
    /// The memfd behind the page (receiver only), handed to each writer.
    fd: Option<OwnedFd>,
}

impl SharedCounters {
    /// Map the page, to be shared with writers through
    /// [`SharedCounters::fd`]. A new memfd is zero-filled: no entries.
    pub fn new() -> std::io::Result<SharedCounters> {
        let Some(len) = NonZeroUsize::new(std::mem::size_of::<Page>()) else {
            return Ok(SharedCounters::none());
        };
        let (page, fd) = super::shared_memory::create_shared(c"pysyslog-counters", len)?;
        Ok(SharedCounters {
            page: Some(page),
            fd: Some(fd),
        })
    }

    /// Writer: map the page the receiver made.
    pub fn from_fd(fd: OwnedFd) -> std::io::Result<SharedCounters> {
        let Some(len) = NonZeroUsize::new(std::mem::size_of::<Page>()) else {
            return Ok(SharedCounters::none());
        };
        let page = super::shared_memory::map_fd(&fd, len, true)?;
        Ok(SharedCounters {
            page: Some(page),
            fd: None,
        })
    }

    /// The descriptor a writer maps the page from; `None` without one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    pub fn none() -> SharedCounters {
        SharedCounters {
            page: None,
            fd: None,
        }
    }

    fn page(&self) -> Option<&Page> {
        // SAFETY: the mapping is as large as a Page, page-aligned, lives as
        // long as `self`, and all-zero bytes are a valid Page (atomics); it is
        // only ever accessed through atomics, from either process.
        self.page.map(|p| unsafe { &*p.as_ptr().cast::<Page>() })
    }

    /// Writer: the handlers are now `names`, in this order; every counter is
    /// set to `values` (what each had so far). Extra names are ignored.
    pub fn set_handlers(&self, handlers: &[HandlerValues]) {
        let Some(page) = self.page() else {
            return;
        };
        page.seq.fetch_add(1, Ordering::AcqRel);
        let n = handlers.len().min(MAX_HANDLERS);
        for (entry, h) in page.entries.iter().zip(&handlers[..n]) {
            let mut end = h.name.len().min(NAME_BYTES);
            while !h.name.is_char_boundary(end) {
                end -= 1;
            }
            let mut bytes = [0u8; NAME_BYTES];
            bytes[..end].copy_from_slice(&h.name.as_bytes()[..end]);
            for (word, chunk) in entry.name.iter().zip(bytes.chunks_exact(8)) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                word.store(u64::from_le_bytes(w), Ordering::Relaxed);
            }
            entry.name_len.store(end as u64, Ordering::Relaxed);
            for (slot, v) in entry.values.iter().zip(h.values) {
                slot.store(v, Ordering::Relaxed);
            }
        }
        page.count.store(n as u64, Ordering::Relaxed);
        page.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// Writer: handler `index`'s counters are now `values`.
    #[inline]
    pub fn store(&self, index: usize, values: [u64; VALUES]) {
        if let Some(entry) = self.page().and_then(|p| p.entries.get(index)) {
            for (slot, v) in entry.values.iter().zip(values) {
                slot.store(v, Ordering::Relaxed);
            }
        }
    }

    /// Writer: a reload was applied (`true`) or not, at Unix time `now`.
    pub fn count_reload(&self, applied: bool, now: f64) {
        let Some(page) = self.page() else {
            return;
        };
        if applied {
            page.reloads_applied.fetch_add(1, Ordering::Relaxed);
            page.last_applied.store(now.to_bits(), Ordering::Relaxed);
        } else {
            page.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writer: lines it parsed, by format, since the last call.
    pub fn count_syslog_lines(&self, lines: [u64; SYSLOG_FORMATS]) {
        let Some(page) = self.page() else {
            return;
        };
        for (slot, n) in page.syslog_lines.iter().zip(lines) {
            if n > 0 {
                slot.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Writer: bytes in backlogs no handler of its configuration is named for.
    pub fn set_orphaned_backlog_bytes(&self, bytes: u64) {
        if let Some(page) = self.page() {
            page.orphaned_backlog_bytes.store(bytes, Ordering::Relaxed);
        }
    }

    /// What [`SharedCounters::set_orphaned_backlog_bytes`] last stored.
    pub fn orphaned_backlog_bytes(&self) -> u64 {
        self.page()
            .map_or(0, |p| p.orphaned_backlog_bytes.load(Ordering::Relaxed))
    }

    /// Lines the writer parsed, by format.
    pub fn syslog_lines(&self) -> [u64; SYSLOG_FORMATS] {
        let Some(page) = self.page() else {
            return [0; SYSLOG_FORMATS];
        };
        std::array::from_fn(|i| page.syslog_lines[i].load(Ordering::Relaxed))
    }

    /// Reloads applied, not applied, and the Unix time of the last applied
    /// one (0 if none).
    pub fn reloads(&self) -> (u64, u64, f64) {
        let Some(page) = self.page() else {
            return (0, 0, 0.0);
        };
        (
            page.reloads_applied.load(Ordering::Relaxed),
            page.reloads_failed.load(Ordering::Relaxed),
            f64::from_bits(page.last_applied.load(Ordering::Relaxed)),
        )
    }

    /// Receiver: a copy of every handler's counters; `None` while the
    /// writer keeps changing the names (try at the next scrape).
    pub fn read(&self) -> Option<Vec<HandlerValues>> {
        let Some(page) = self.page() else {
            return Some(Vec::new());
        };
        for _ in 0..16 {
            let before = page.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let n = (page.count.load(Ordering::Relaxed) as usize).min(MAX_HANDLERS);
            let got: Vec<HandlerValues> = page.entries[..n].iter().map(entry_values).collect();
            if page.seq.load(Ordering::Acquire) == before {
                return Some(got);
            }
        }
        None
    }

    /// Writer, and the receiver once a writer died: a copy even if the
    /// names were being changed (only the writer changes them, and it is
    /// not running, or it is the caller).
    pub fn read_any(&self) -> Vec<HandlerValues> {
        let Some(page) = self.page() else {
            return Vec::new();
        };
        let n = (page.count.load(Ordering::Relaxed) as usize).min(MAX_HANDLERS);
        page.entries[..n].iter().map(entry_values).collect()
    }

    /// Receiver, with no writer running: forget every entry, for the next
    /// writer (also after a writer that died while changing the names).
    pub fn clear(&self) {
        let Some(page) = self.page() else {
            return;
        };
        let seq = page.seq.load(Ordering::Acquire) | 1;
        page.seq.store(seq, Ordering::Release);
        page.count.store(0, Ordering::Relaxed);
        page.reloads_applied.store(0, Ordering::Relaxed);
        page.reloads_failed.store(0, Ordering::Relaxed);
        page.last_applied.store(0, Ordering::Relaxed);
        for slot in &page.syslog_lines {
            slot.store(0, Ordering::Relaxed);
        }
        page.seq.store(seq + 1, Ordering::Release);
    }
}

fn entry_values(e: &Entry) -> HandlerValues {
    let mut bytes = [0u8; NAME_BYTES];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(&e.name) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    let len = (e.name_len.load(Ordering::Relaxed) as usize).min(NAME_BYTES);
    HandlerValues {
        name: String::from_utf8_lossy(&bytes[..len]).into_owned(),
        values: std::array::from_fn(|i| e.values[i].load(Ordering::Relaxed)),
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        if let Some(page) = self.page.take() {
            // SAFETY: our mapping; no reference into it outlives `self`.
            let _ = unsafe { munmap(page, std::mem::size_of::<Page>()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, values: [u64; VALUES]) -> HandlerValues {
        HandlerValues {
            name: name.into(),
            values,
        }
    }

    #[test]
    fn a_forked_writer_s_stores_are_read_by_the_parent() {
        let page = SharedCounters::new().expect("page");
        assert_eq!(page.read(), Some(vec![]));
        page.set_handlers(&[
            h("file", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
            h(&"é".repeat(60), [0; VALUES]),
        ]);
        // SAFETY: the child only stores into the page and exits.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                page.store(
                    0,
                    [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140],
                );
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                nix::sys::wait::waitpid(child, None).expect("wait");
            }
        }
        let got = page.read().expect("stable");
        assert_eq!(
            got[0],
            h(
                "file",
                [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140]
            )
        );
        assert_eq!(got[1].name, "é".repeat(48), "cut on a char boundary");
        page.clear();
        assert_eq!(page.read(), Some(vec![]));
        assert_eq!(SharedCounters::none().read(), Some(vec![]));
    }
}

//! Latency: the time from one line being written to the collector's socket to
//! that line being readable in its output file, idle and under load.
//!
//! Probe lines (`<14>probe RUNID n=NNNNNN ...`) are sent one at a time on their
//! own connection, a fixed interval apart. A watcher thread sleeps on inotify
//! events for the output directory and notes the file's length at each one
//! ([`Growth`]); once the probes are sent it scans the file and dates each
//! probe by the first length that held it. Under load, `pysyslog-flood --rate`
//! runs alongside on other connections: reading and scanning the flood's
//! hundreds of MB/s while it is written would take a core's worth of CPU from
//! the collector measured, and date probes by how far behind the scan was.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::flood::growth::Growth;

/// Digits of the probe number.
const DIGITS: usize = 6;

/// Latencies of the probes that arrived, and how many did not.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    pub latencies: Vec<Duration>,
    pub lost: usize,
}

impl Probes {
    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return None;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// The probe line `n` of run `id`.
pub fn probe_line(id: &str, n: usize) -> Vec<u8> {
    format!("<14>probe {id} n={n:0DIGITS$} latency probe\n").into_bytes()
}

/// Finds probe tokens in whole lines of the output.
struct Scanner {
    finder: memmem::Finder<'static>,
    carry: Vec<u8>,
    /// Bytes fed so far: the file offset just past the last byte fed.
    fed: u64,
}

impl Scanner {
    fn new(id: &str) -> Scanner {
        Scanner {
            finder: memmem::Finder::new(format!("probe {id} n=").as_bytes()).into_owned(),
            carry: Vec::new(),
            fed: 0,
        }
    }

    /// Feed bytes; call `found(n, end)` for each probe number in a completed
    /// line, with `end` the offset (from the first byte fed) just past its line.
    fn feed(&mut self, data: &[u8], found: &mut impl FnMut(usize, u64)) {
        // The carried partial line starts here.
        let region_at = self.fed - self.carry.len() as u64;
        self.fed += data.len() as u64;
        let Some(last) = memchr::memrchr(b'\n', data) else {
            self.carry.extend_from_slice(data);
            return;
        };
        let mut scan = |region: &[u8]| {
            let nl = self.finder.needle().len();
            for at in self.finder.find_iter(region) {
                let d = region.get(at + nl..at + nl + DIGITS);
                if let Some(n) = d
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|s| s.parse().ok())
                {
                    // Dated by the end of its line (the region holds whole lines).
                    let number_end = at + nl + DIGITS;
                    let line_end = memchr::memchr(b'\n', &region[number_end..])
                        .map_or(region.len(), |i| number_end + i + 1);
                    found(n, region_at + line_end as u64);
                }
            }
        };
        if self.carry.is_empty() {
            scan(&data[..=last]);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&data[..=last]);
            scan(&joined);
        }
        self.carry.clear();
        self.carry.extend_from_slice(&data[last + 1..]);
    }
}

/// Gaps between probes: uniform between half and one and a half times the
/// interval. A fixed gap would keep every probe at the same few phases of a
/// periodic load (the flood's `--rate` sends a burst every 10 ms), so that one
/// run measures only the bursts and the next only the pauses between them.
struct Jitter {
    interval: Duration,
    state: u64,
}

impl Jitter {
    fn new(interval: Duration) -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter {
            interval,
            state: seed | 1,
        }
    }

    fn next_gap(&mut self) -> Duration {
        // xorshift64: plenty for spreading probes over phases.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let unit = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        self.interval.mul_f64(0.5 + unit)
    }
}

/// Blocks until the directory has an event or `timeout` passes.
struct DirWatch {
    fd: i32,
}

impl DirWatch {
    fn new(dir: &Path) -> io::Result<DirWatch> {
        // SAFETY: plain syscalls; the fd is owned by the DirWatch.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let w = DirWatch { fd };
        let path = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: fd is valid, path is NUL-terminated.
        let r = unsafe {
            libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_MODIFY | libc::IN_CREATE)
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(w)
    }

    fn wait(&self, timeout: Duration) {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(1000) as i32) };
        let mut buf = [0u8; 4096];
        // Drain the events; only their arrival matters.
        // SAFETY: buf is writable for its length; the fd is non-blocking.
        while unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        // SAFETY: our fd, closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Send `count` probes to `port`, `interval` apart, and time their arrival
/// in `out` (whose directory is watched).
pub fn probe(
    port: u16,
    out: &Path,
    id: &str,
    count: usize,
    interval: Duration,
) -> Result<Probes, String> {
    let dir = out.parent().ok_or("output file has no directory")?;
    let watch = DirWatch::new(dir).map_err(|e| format!("inotify on {}: {e}", dir.display()))?;
    let arrivals: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; count]));
    let stop = Arc::new(AtomicBool::new(false));
    let sending = Arc::new(AtomicBool::new(true));
    let watcher = {
        let arrivals = Arc::clone(&arrivals);
        let (stop, sending) = (Arc::clone(&stop), Arc::clone(&sending));
        let out: PathBuf = out.to_path_buf();
        let id = id.to_string();
        thread::spawn(move || {
            let flags = WatchFlags {
                sending: &sending,
                stop: &stop,
            };
            watch_file(&watch, &out, &id, count, &arrivals, flags)
        })
    };

    let mut conn = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = conn.set_nodelay(true);
    let mut sent = Vec::with_capacity(count);
    let mut gaps = Jitter::new(interval);
    for n in 0..count {
        let line = probe_line(id, n);
        let t = Instant::now();
        conn.write_all(&line)
            .map_err(|e| format!("send probe: {e}"))?;
        sent.push(t);
        thread::sleep(gaps.next_gap());
    }
    sending.store(false, Ordering::Relaxed);
    // Give the last probes time to arrive, then stop the watcher.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .all(Option::is_some)
        {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    drop(conn);
    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    let mut p = Probes::default();
    for (t, a) in sent.iter().zip(arrivals.iter()) {
        match a {
            Some(a) => p.latencies.push(a.saturating_duration_since(*t)),
            None => p.lost += 1,
        }
    }
    Ok(p)
}

/// What the prober tells the watcher: probes are still being sent; give up.
struct WatchFlags<'a> {
    sending: &'a AtomicBool,
    stop: &'a AtomicBool,
}

fn watch_file(
    watch: &DirWatch,
    out: &Path,
    id: &str,
    count: usize,
    arrivals: &std::sync::Mutex<Vec<Option<Instant>>>,
    flags: WatchFlags<'_>,
) {
    let mut scanner = Scanner::new(id);
    // One sample per write the watcher wakes for: thousands per second under
    // load, so room for the whole probing time (24 MiB at the very most).
    let mut growth = Growth::with_limit(1 << 20);
    let mut file: Option<(File, u64)> = None;
    let mut buf = vec![0u8; 256 << 10];
    // Opens the file once it exists (read from its start: offsets are file
    // offsets), then notes its length.
    let note = |file: &mut Option<(File, u64)>, growth: &mut Growth| {
        if file.is_none() {
            if let Ok(f) = File::open(out) {
                if let Ok(m) = f.metadata() {
                    *file = Some((f, m.ino()));
                }
            }
        }
        if let Some((f, ino)) = file.as_ref() {
            growth.note_file(f, *ino);
        }
    };
    // While probes go out: only the file's length, at each write.
    while flags.sending.load(Ordering::Relaxed) && !flags.stop.load(Ordering::Relaxed) {
        note(&mut file, &mut growth);
        watch.wait(Duration::from_millis(50));
    }
    // Then scan, dating each probe by the first length that held it; probes
    // still to come are dated as the file is read.
    let mut seen = 0;
    while seen < count && !flags.stop.load(Ordering::Relaxed) {
        note(&mut file, &mut growth);
        let mut progressed = false;
        if let Some((f, ino)) = file.as_mut() {
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                progressed = true;
                let now = growth.note_file(f, *ino);
                let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                scanner.feed(&buf[..n], &mut |k, end| {
                    if let Some(slot @ None) = a.get_mut(k) {
                        *slot = Some(growth.arrival(*ino, end).unwrap_or(now));
                        seen += 1;
                    }
                });
            }
        }
        if !progressed {
            watch.wait(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_probes_across_reads() {
        let mut s = Scanner::new("x1");
        let mut data = Vec::new();
        for n in [0, 7, 123_456] {
            data.extend_from_slice(b"2026-11-24 03:00:00,000 127.0.0.1 ");
            data.extend_from_slice(&probe_line("x1", n));
            data.extend_from_slice(b"other <14>flood line\n");
        }
        data.extend_from_slice(&probe_line("x2", 1));
        let mut found = Vec::new();
        for piece in data.chunks(5) {
            s.feed(piece, &mut |n, end| found.push((n, end)));
        }
        let numbers: Vec<usize> = found.iter().map(|&(n, _)| n).collect();
        assert_eq!(numbers, vec![0, 7, 123_456]);
        // Each offset is just past the probe's line in the data fed.
        for (n, end) in found {
            let line = probe_line("x1", n);
            let end = end as usize;
            assert_eq!(&data[end - line.len()..end], &line[..]);
        }
    }

    #[test]
    fn probe_gaps_spread_around_the_interval() {
        let mut j = Jitter::new(Duration::from_millis(10));
        let gaps: Vec<Duration> = (0..1000).map(|_| j.next_gap()).collect();
        assert!(gaps
            .iter()
            .all(|g| *g >= Duration::from_millis(5) && *g < Duration::from_millis(15)));
        let mean = gaps.iter().sum::<Duration>() / 1000;
        assert!(
            mean > Duration::from_millis(9) && mean < Duration::from_millis(11),
            "{mean:?}"
        );
        // Spread over the whole range, not a few values.
        let below = gaps
            .iter()
            .filter(|g| **g < Duration::from_millis(7))
            .count();
        let above = gaps
            .iter()
            .filter(|g| **g > Duration::from_millis(13))
            .count();
        assert!(below > 100 && above > 100, "{below} {above}");
    }

    #[test]
    fn quantiles() {
        let p = Probes {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            lost: 0,
        };
        assert_eq!(p.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(p.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(p.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(Probes::default().quantile(0.5), None);
    }
}

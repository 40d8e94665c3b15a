//! Latency: the time from one line being written to the collector's socket to
//! that line being readable in its output file, idle and under load.
//!
//! Probe lines (`<14>probe RUNID n=NNNNNN ...`) are sent one at a time on their
//! own connection, a fixed interval apart. A watcher thread sleeps on inotify
//! events for the output directory and reads the file as it grows, noting when
//! each probe appears. Under load, `pysyslog-flood --rate` runs alongside on
//! other connections; the watcher then also reads (and skips) the flood.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use memchr::memmem;

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
}

impl Scanner {
    fn new(id: &str) -> Scanner {
        Scanner {
            finder: memmem::Finder::new(format!("probe {id} n=").as_bytes()).into_owned(),
            carry: Vec::new(),
        }
    }

    /// Feed bytes; call `found(n)` for each probe number in a completed line.
    fn feed(&mut self, data: &[u8], found: &mut impl FnMut(usize)) {
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
                    found(n);
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
    let watcher = {
        let arrivals = Arc::clone(&arrivals);
        let stop = Arc::clone(&stop);
        let out: PathBuf = out.to_path_buf();
        let id = id.to_string();
        thread::spawn(move || watch_file(&watch, &out, &id, count, &arrivals, &stop))
    };

    let mut conn = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = conn.set_nodelay(true);
    let mut sent = Vec::with_capacity(count);
    for n in 0..count {
        let line = probe_line(id, n);
        let t = Instant::now();
        conn.write_all(&line)
            .map_err(|e| format!("send probe: {e}"))?;
        sent.push(t);
        thread::sleep(interval);
    }
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

fn watch_file(
    watch: &DirWatch,
    out: &Path,
    id: &str,
    count: usize,
    arrivals: &std::sync::Mutex<Vec<Option<Instant>>>,
    stop: &AtomicBool,
) {
    let mut scanner = Scanner::new(id);
    let mut file: Option<File> = None;
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0;
    while seen < count && !stop.load(Ordering::Relaxed) {
        if file.is_none() {
            file = File::open(out).ok();
        }
        let mut progressed = false;
        if let Some(f) = file.as_mut() {
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                progressed = true;
                let now = Instant::now();
                let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                scanner.feed(&buf[..n], &mut |k| {
                    if let Some(slot @ None) = a.get_mut(k) {
                        *slot = Some(now);
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
            s.feed(piece, &mut |n| found.push(n));
        }
        assert_eq!(found, vec![0, 7, 123_456]);
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

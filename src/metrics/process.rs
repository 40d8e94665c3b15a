//! CPU time, resident memory and open descriptors of a process, from /proc.
//!
//! Owns: reading and parsing `/proc/<pid>/stat` and counting `/proc/<pid>/fd`
//! (the receiver's own through descriptors opened before it was confined:
//! [`OwnProc`]; the writer's by the monitor, which the receiver asks). Read
//! at scrape time only. The writer is not dumpable, so once both
//! processes run as a service user its `fd` directory belongs to root and
//! cannot be listed: its descriptor count is then absent, not zero.

/// What one process uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub open_fds: Option<u64>,
}

/// The usage of process `pid` (a writer, read by the monitor); `None` if it
/// cannot be read.
pub fn usage(pid: i32) -> Option<Usage> {
    let dir = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let (ticks, pages) = parse_stat(&stat)?;
    let open_fds = std::fs::read_dir(format!("{dir}/fd"))
        .ok()
        .map(|d| d.count() as u64);
    Some(from_ticks(ticks, pages, open_fds))
}

/// This process's own `/proc` entries, opened before it is confined (a
/// confined receiver may open no file): `stat` is read again from its start
/// and the `fd` directory listed again at each scrape.
#[derive(Debug)]
pub struct OwnProc {
    stat: std::fs::File,
    fds: Option<nix::dir::Dir>,
}

impl OwnProc {
    pub fn open() -> std::io::Result<OwnProc> {
        let stat = std::fs::File::open("/proc/self/stat")?;
        let fds = nix::dir::Dir::open(
            "/proc/self/fd",
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok();
        Ok(OwnProc { stat, fds })
    }

    /// What this process uses now; `None` if `stat` cannot be read.
    pub fn usage(&mut self) -> Option<Usage> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 4096];
        let n = self.stat.read_at(&mut buf, 0).ok()?;
        let stat = std::str::from_utf8(&buf[..n]).ok()?;
        let (ticks, pages) = parse_stat(stat)?;
        // Every entry but `.` and `..` (the iterator rewinds when done).
        let open_fds = self.fds.as_mut().map(|d| {
            d.iter()
                .filter_map(Result::ok)
                .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
                .count() as u64
        });
        Some(from_ticks(ticks, pages, open_fds))
    }
}

fn from_ticks(ticks: u64, pages: u64, open_fds: Option<u64>) -> Usage {
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    Usage {
        cpu_seconds: ticks as f64 / hz.max(1) as f64,
        resident_bytes: pages.saturating_mul(page.max(0) as u64),
        open_fds,
    }
}

/// User plus system ticks, and resident pages, from a `stat` line. The
/// command name is in parentheses and may hold spaces and parentheses, so
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the name start at field 3 (state): utime is 14, stime
    // 15, rss 24 (proc(5)).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((field(14)? + field(15)?, field(24)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 1000 250 18446744073709551615";
        assert_eq!(parse_stat(line), Some((10, 250)));
        assert_eq!(parse_stat("42 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let u = usage(std::process::id() as i32).expect("own /proc");
        assert!(u.resident_bytes > 0 && u.open_fds.is_some_and(|n| n >= 3));
    }

    #[test]
    fn own_entries_opened_once_are_read_afresh() {
        let mut own = OwnProc::open().expect("open");
        let before = own.usage().expect("usage").open_fds.expect("fds");
        let extra = std::fs::File::open("/proc/self/stat").expect("open");
        let during = own.usage().expect("usage").open_fds.expect("fds");
        drop(extra);
        let after = own.usage().expect("usage").open_fds.expect("fds");
        assert_eq!((during, after), (before + 1, before));
    }
}

//! TimedRotatingFileHandler's clock arithmetic and rollover, as CPython 3.11
//! computes them (`computeRollover`, `doRollover`, `getFilesToDelete`),
//! including its DST corrections in local time.
//!
//! Owns: rollover times, rotated names, clean-up. Does not own: the clock (the
//! record's `created` is the time, so tests inject it) or writing.

use std::io;
use std::path::Path;

use crate::logging::spec::When;

const DAY: i64 = 86_400;

/// Broken-down time as `time.localtime`/`time.gmtime` give it.
#[derive(Debug, Clone, Copy)]
struct Tm {
    year: i32,
    mon: i32,
    mday: i32,
    hour: i32,
    min: i32,
    sec: i32,
    /// Python's `tm_wday`: 0 = Monday.
    wday: i32,
    isdst: bool,
}

/// `time.localtime(t)` / `time.gmtime(t)`; a time the C library cannot break
/// down (a year beyond `int`) is Python's `OSError: [Errno 75] Value too large
/// for defined data type`, not a made-up date.
fn tm(t: i64, utc: bool) -> io::Result<Tm> {
    // SAFETY: `tm` is plain old data, zero is a valid value; localtime_r and
    // gmtime_r only write into it.
    let mut out: libc::tm = unsafe { std::mem::zeroed() };
    let tt = t as libc::time_t;
    // SAFETY: both pointers are valid for the duration of the call.
    let r = unsafe {
        if utc {
            libc::gmtime_r(&tt, &mut out)
        } else {
            libc::localtime_r(&tt, &mut out)
        }
    };
    if r.is_null() {
        // Both fail only with EOVERFLOW; `out` is then left as it was.
        return Err(io::Error::from_raw_os_error(libc::EOVERFLOW));
    }
    Ok(Tm {
        year: out.tm_year.saturating_add(1900),
        mon: out.tm_mon + 1,
        mday: out.tm_mday,
        hour: out.tm_hour,
        min: out.tm_min,
        sec: out.tm_sec,
        wday: (out.tm_wday + 6) % 7,
        isdst: out.tm_isdst > 0,
    })
}

/// The rollover state of one handler.
#[derive(Debug)]
pub struct Timed {
    when: When,
    interval: i64,
    suffix: &'static str,
    backup_count: i64,
    utc: bool,
    /// Next rollover, seconds since the epoch.
    pub rollover_at: i64,
}

impl Timed {
    /// `t` is the existing file's mtime, else now.
    pub fn new(
        when: When,
        interval: i64,
        suffix: &'static str,
        backup_count: i64,
        utc: bool,
        t: i64,
    ) -> io::Result<Timed> {
        let mut s = Timed {
            when,
            interval,
            suffix,
            backup_count,
            utc,
            rollover_at: 0,
        };
        s.rollover_at = s.compute_rollover(t)?;
        Ok(s)
    }

    fn daily(&self) -> bool {
        !matches!(self.when, When::Fixed)
    }

    /// `computeRollover`.
    pub fn compute_rollover(&self, now: i64) -> io::Result<i64> {
        let mut result = now.saturating_add(self.interval);
        if self.daily() {
            let t = tm(now, self.utc)?;
            let mut day = t.wday;
            let mut r = DAY - ((i64::from(t.hour) * 60 + i64::from(t.min)) * 60 + i64::from(t.sec));
            if r < 0 {
                r += DAY;
                day = (day + 1) % 7;
            }
            result = now.saturating_add(r);
            if let When::Weekday(dow) = self.when {
                let dow = dow as i32;
                if day != dow {
                    let wait = if day < dow {
                        dow - day
                    } else {
                        6 - day + dow + 1
                    };
                    let mut next = result.saturating_add(i64::from(wait) * DAY);
                    if !self.utc {
                        let dst_now = t.isdst;
                        if dst_now != tm(next, false)?.isdst {
                            next = next.saturating_add(if dst_now { 3600 } else { -3600 });
                        }
                    }
                    result = next;
                }
            }
        }
        Ok(result)
    }

    fn suffix_text(&self, t: &Tm) -> String {
        let date = format!("{:04}-{:02}-{:02}", t.year, t.mon, t.mday);
        match self.suffix {
            "%Y-%m-%d_%H-%M-%S" => format!("{date}_{:02}-{:02}-{:02}", t.hour, t.min, t.sec),
            "%Y-%m-%d_%H-%M" => format!("{date}_{:02}-{:02}", t.hour, t.min),
            "%Y-%m-%d_%H" => format!("{date}_{:02}", t.hour),
            _ => date,
        }
    }

    /// `doRollover` at time `now` (the file is already closed).
    pub fn do_rollover(&mut self, base: &Path, now: i64) -> io::Result<()> {
        let dst_now = tm(now, false)?.isdst;
        let t = self.rollover_at.saturating_sub(self.interval);
        let tt = if self.utc {
            tm(t, true)?
        } else {
            let then = tm(t, false)?;
            if dst_now != then.isdst {
                tm(t.saturating_add(if dst_now { 3600 } else { -3600 }), false)?
            } else {
                then
            }
        };
        let mut dfn = base.as_os_str().to_owned();
        dfn.push(".");
        dfn.push(self.suffix_text(&tt));
        let dfn = std::path::PathBuf::from(dfn);
        if dfn.exists() {
            std::fs::remove_file(&dfn)?;
        }
        if base.exists() {
            std::fs::rename(base, &dfn)?;
        }
        if self.backup_count > 0 {
            for f in self.files_to_delete(base)? {
                std::fs::remove_file(f)?;
            }
        }
        let mut next = self.compute_rollover(now)?;
        while next <= now && next < i64::MAX {
            next = next.saturating_add(self.interval);
        }
        if self.daily() && !self.utc && dst_now != tm(next, false)?.isdst {
            next = next.saturating_add(if dst_now { 3600 } else { -3600 });
        }
        self.rollover_at = next;
        Ok(())
    }

    /// `extMatch`: the suffix pattern, digits ASCII only.
    fn ext_match(&self, part: &str) -> bool {
        let shape: &[u8] = match self.suffix {
            "%Y-%m-%d_%H-%M-%S" => b"dddd-dd-dd_dd-dd-dd",
            "%Y-%m-%d_%H-%M" => b"dddd-dd-dd_dd-dd",
            "%Y-%m-%d_%H" => b"dddd-dd-dd_dd",
            _ => b"dddd-dd-dd",
        };
        let b = part.as_bytes();
        b.len() == shape.len()
            && b.iter().zip(shape).all(|(c, s)| {
                if *s == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == s
                }
            })
    }

    /// `getFilesToDelete`.
    fn files_to_delete(&self, base: &Path) -> io::Result<Vec<std::path::PathBuf>> {
        let dir = base.parent().unwrap_or(Path::new("/"));
        let base_name = base
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // os.path.splitext: the last dot not leading the name.
        let stem = match base_name.rfind('.') {
            Some(i) if !base_name[..i].trim_start_matches('.').is_empty() => &base_name[..i],
            _ => base_name.as_str(),
        };
        let prefix = format!("{stem}.");
        let mut result = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&base_name) {
                continue;
            }
            if let Some(suffix) = name.strip_prefix(&prefix) {
                if suffix.split('.').any(|p| self.ext_match(p)) {
                    result.push(dir.join(&name));
                }
            }
        }
        let keep = usize::try_from(self.backup_count).unwrap_or(usize::MAX);
        if result.len() < keep {
            return Ok(Vec::new());
        }
        result.sort();
        result.truncate(result.len() - keep);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_rollover_arithmetic() {
        // 2026-11-24 02:06:43 UTC is a Tuesday (wday 1).
        let now = 1_795_486_003;
        let s = Timed::new(When::Fixed, 10, "%Y-%m-%d_%H-%M-%S", 0, true, now).unwrap();
        assert_eq!(s.rollover_at, now + 10);
        let m = Timed::new(When::Midnight, DAY, "%Y-%m-%d", 0, true, now).unwrap();
        assert_eq!(m.rollover_at, 1_795_478_400 + DAY);
        let w = Timed::new(When::Weekday(0), 7 * DAY, "%Y-%m-%d", 0, true, now).unwrap();
        assert_eq!(
            w.rollover_at,
            1_795_478_400 + 7 * DAY,
            "Python rolls W0 at the midnight ending Monday"
        );
        assert_eq!(tm(now, true).unwrap().wday, 1);
        assert!(s.ext_match("2026-11-24_02-06-43"));
        assert!(!s.ext_match("2026-11-24_02-06-4x"));
    }

    /// A time gmtime_r/localtime_r cannot break down is an error, as in
    /// Python, and never a zeroed struct taken for 1900-01-00.
    #[test]
    fn unrepresentable_times_are_errors() {
        for utc in [true, false] {
            let e = tm(i64::MAX, utc).err().map(|e| e.raw_os_error());
            assert_eq!(e, Some(Some(libc::EOVERFLOW)), "utc={utc}");
            let e = Timed::new(When::Midnight, DAY, "%Y-%m-%d", 0, utc, i64::MAX).err();
            assert_eq!(
                e.map(|e| e.to_string().starts_with("Value too large")),
                Some(true)
            );
        }
        // A fixed interval needs no calendar: it saturates instead of overflowing.
        let s = Timed::new(When::Fixed, 10, "%Y-%m-%d_%H-%M-%S", 0, true, i64::MAX).unwrap();
        assert_eq!(s.rollover_at, i64::MAX);
    }
}

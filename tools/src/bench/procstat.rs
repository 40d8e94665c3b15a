//! What a collector costs, read from `/proc`: the CPU time (user + system) and
//! the peak resident memory (`VmHWM`) of a process and all its descendants.
//!
//! CPU is read from `/proc/PID/stat`, which counts every thread of a process,
//! including threads that already exited, and the children it has waited for
//! (a replaced writer, reaped by the receiver, leaves the tree but not the
//! figure); it ticks in `sysconf(_SC_CLK_TCK)`
//! (10 ms), so a run must use at least a few hundred ms of CPU to be precise.
//! A descendant is identified by its pid and start time, so a pid reused by an
//! unrelated process is never mistaken for (or signalled as) one of ours.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

/// One process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    /// user + system CPU of the process and of its reaped children, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks: with the pid, a process's identity.
    pub start: u64,
}

/// Parse the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses: fields are counted after
/// the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    // After ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    // ... starttime(22).
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        cpu_ticks: field(14)? + field(15)? + field(16)? + field(17)?,
        start: field(22)?,
    })
}

/// Every process on the machine, by pid.
pub fn all_processes() -> HashMap<i32, ProcStat> {
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(s) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            out.insert(pid, s);
        }
    }
    out
}

/// `root` and every live descendant of it (root first).
pub fn tree(root: i32) -> Vec<ProcStat> {
    let all = all_processes();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in all.values() {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if let Some(p) = all.get(&pid) {
            out.push(*p);
            if let Some(c) = children.get(&pid) {
                todo.extend(c);
            }
        }
    }
    out
}

/// Clock ticks per second.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU used by a process tree so far, per process identity.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    ticks: HashMap<(i32, u64), u64>,
}

impl CpuSnapshot {
    pub fn of_tree(root: i32) -> CpuSnapshot {
        CpuSnapshot::of(&tree(root))
    }

    pub fn of(processes: &[ProcStat]) -> CpuSnapshot {
        CpuSnapshot {
            ticks: processes
                .iter()
                .map(|p| ((p.pid, p.start), p.cpu_ticks))
                .collect(),
        }
    }

    /// CPU used between `earlier` and `self` by the tree: what each process
    /// alive now added (one born in between counts from zero). A process that
    /// was alive at `earlier` and is gone now was reaped by its parent, whose
    /// children time now holds its whole life: what it had used by `earlier`
    /// is taken off, so it counts once.
    pub fn since(&self, earlier: &CpuSnapshot) -> Duration {
        let added: u64 = self
            .ticks
            .iter()
            .map(|(id, &t)| t.saturating_sub(earlier.ticks.get(id).copied().unwrap_or(0)))
            .sum();
        let vanished: u64 = earlier
            .ticks
            .iter()
            .filter(|(id, _)| !self.ticks.contains_key(id))
            .map(|(_, &t)| t)
            .sum();
        let ticks = added.saturating_sub(vanished);
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }
}

/// `VmHWM` of one process, in bytes (0 if gone or a kernel thread).
pub fn peak_rss(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Sum of the peak RSS of `root` and its live descendants, in bytes.
pub fn tree_peak_rss(root: i32) -> u64 {
    tree(root).iter().map(|p| peak_rss(p.pid)).sum()
}

/// Whether the process `(pid, start)` still exists (and is not a reused pid).
pub fn alive(pid: i32, start: u64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat(&t))
        .is_some_and(|p| p.start == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let t = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                 7 5 3 1 20 0 1 0 98765 1000 200 18446744073709551615";
        let p = parse_stat(t).unwrap();
        assert_eq!(
            p,
            ProcStat {
                pid: 4242,
                ppid: 1,
                cpu_ticks: 16,
                start: 98765
            }
        );
    }

    /// A child that ran and was reaped between two snapshots (a replaced
    /// writer) is gone from the second, but its CPU is not: the kernel adds it
    /// to its parent's waited-for children time, which the parent's stat carries.
    #[test]
    fn cpu_of_a_reaped_child_is_counted() {
        // The root runs a busy child, waits for it, then sleeps (exec keeps the
        // pid and the children time) so it can be read after the reap.
        let mut root = std::process::Command::new("sh")
            .arg("-c")
            .arg("sh -c 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done'; exec sleep 30")
            .spawn()
            .unwrap();
        let pid = root.id() as i32;
        let before = CpuSnapshot::of_tree(pid);
        let comm = || fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // While the child runs, note the most CPU it was seen with.
        let mut child_seen = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while comm().trim() != "sleep" {
            assert!(
                std::time::Instant::now() < deadline,
                "the busy child never ended"
            );
            for p in tree(pid).iter().filter(|p| p.pid != pid) {
                child_seen = child_seen.max(p.cpu_ticks);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let used = CpuSnapshot::of_tree(pid).since(&before);
        let _ = root.kill();
        let _ = root.wait();
        assert!(child_seen > 0, "the busy child was never seen using CPU");
        let seen = Duration::from_secs_f64(child_seen as f64 / clock_ticks() as f64);
        assert!(
            used >= seen,
            "{used:?} counted, the reaped child alone used {seen:?}"
        );
    }

    /// A process alive at the first snapshot and gone at the second has its
    /// whole life in its parent's children time: what it had used before the
    /// first snapshot is not counted twice.
    #[test]
    fn a_vanished_process_is_not_counted_twice() {
        let stat = |pid, ppid, cpu_ticks| ProcStat {
            pid,
            ppid,
            cpu_ticks,
            start: 1,
        };
        let before = CpuSnapshot::of(&[stat(10, 1, 100), stat(11, 10, 40)]);
        // 11 used 10 more ticks, then was reaped: 10's children time grew by 50.
        let after = CpuSnapshot::of(&[stat(10, 1, 100 + 5 + 50)]);
        let ticks = after.since(&before).as_secs_f64() * clock_ticks() as f64;
        assert_eq!(ticks.round() as u64, 5 + 10);
    }

    #[test]
    fn own_process_is_seen() {
        let me = std::process::id() as i32;
        let t = tree(me);
        assert_eq!(t.first().map(|p| p.pid), Some(me));
        assert!(tree_peak_rss(me) > 0);
        assert!(alive(me, t[0].start));
        assert!(!alive(me, t[0].start + 1));
    }
}

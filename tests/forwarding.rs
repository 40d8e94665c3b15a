//! Forwarding with `logging.handlers.SysLogHandler` over TCP to a real
//! rsyslog (imtcp, NUL-framed as Python's handler sends) that goes down and
//! comes back. Without `--spool-dir` the collector holds what it could not
//! send (backpressure, the senders slow down, nothing is dropped), says so,
//! and once rsyslog is back delivers every line, in order per sender,
//! without waiting for new traffic. With `--spool-dir` the senders and a
//! FileHandler beside it go on during the outage, the backlog survives
//! `kill -9` of every process, damage in it is skipped and reported, and a
//! full one falls back to holding. rsyslog comes from
//! `tests/peers/install.sh` (run by `tests/run`).

#[allow(dead_code)]
mod peers;
mod util;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use peers::Peer;
use util::*;

/// rsyslog listening on TCP `port`, writing each message's raw text as a
/// line to `out` (appended, so a restarted rsyslog continues the file).
fn rsyslog_sink(port: u16, out: &Path) -> Peer {
    let peer = Peer::rsyslog(&format!(
        "module(load=\"imtcp\" AddtlFrameDelimiter=\"0\")\n\
         input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
         if $inputname == \"imtcp\" then {{\n\
           action(type=\"omfile\" file=\"{out}\" template=\"raw\")\n\
           stop\n\
         }}\n",
        out = out.display()
    ));
    wait_until("rsyslog listening", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    peer
}

/// The collector forwarding every line to `port` and writing it to
/// `file` too, with `args`; its own messages go to stderr.
fn collector(dir: &Path, port: u16, file: &Path, args: &[&str]) -> Collector {
    let config = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": "%(message)s"}},
        "handlers": {
            "fwd": {"class": "logging.handlers.SysLogHandler",
                    "address": ["127.0.0.1", port],
                    "socktype": "ext://socket.SOCK_STREAM", "formatter": "f"},
            "file": {"class": "logging.FileHandler", "filename": file.to_str().expect("utf-8"),
                     "formatter": "f"}
        },
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "INFO", "handlers": ["fwd", "file"]}
    });
    let path = dir.join("logging.json");
    fs::write(&path, config.to_string()).expect("config");
    let mut all = vec!["--logging-config", path.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    Collector::start_with(
        "127.0.0.1",
        &all,
        &[("PYSYSLOG_FAILURE_REMINDER_SECS", "1")],
        |c| c.stderr_text().contains("Listening for syslog"),
    )
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `sender` sends `count` numbered lines, from `first`, on one connection.
fn send_numbered(to: std::net::SocketAddr, sender: usize, first: usize, count: usize) {
    send_padded(to, sender, first, count, 0);
}

/// As [`send_numbered`], each line padded with `pad` bytes after its number.
fn send_padded(to: std::net::SocketAddr, sender: usize, first: usize, count: usize, pad: usize) {
    let mut s = TcpStream::connect(to).expect("connect");
    let padding = "p".repeat(pad);
    let mut text = String::new();
    for i in first..first + count {
        text.push_str(&format!("s{sender} {i:07} {padding}\n"));
        if text.len() > 1 << 20 {
            s.write_all(text.as_bytes()).expect("send");
            text.clear();
        }
    }
    s.write_all(text.as_bytes()).expect("send");
}

/// Each sender's numbers in the order they arrived, from lines `<14>sN 0000001`.
fn per_sender(lines: &[String]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for l in lines {
        let l = l.strip_prefix("<14>").unwrap_or(l);
        let mut words = l.split(' ');
        if let (Some(s), Some(n)) = (words.next(), words.next()) {
            if let Ok(n) = n.trim().parse() {
                out.entry(s.to_owned()).or_default().push(n);
            }
        }
    }
    out
}

/// Every number below `count` is there for each of `senders`, in order;
/// repeats (what a dying connection had taken) only as a run sent again.
fn assert_complete_in_order(
    what: &str,
    got: &BTreeMap<String, Vec<usize>>,
    senders: usize,
    count: usize,
) {
    for s in 0..senders {
        let name = format!("s{s}");
        let seq = got.get(&name).cloned().unwrap_or_default();
        let mut next = 0;
        for &n in &seq {
            // A line sent again goes back at most to where the connection
            // broke; nothing may be skipped.
            assert!(n <= next, "{what}: {name} skipped from {next} to {n}");
            if n == next {
                next += 1;
            }
        }
        assert_eq!(next, count, "{what}: {name} has {next} of {count} lines");
    }
}

#[test]
fn a_peer_that_goes_down_holds_the_lines_and_gets_them_all_when_it_is_back() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let mut peer = rsyslog_sink(port, &received);
    let c = collector(work.path(), port, &file, &[]);

    // Before the outage: forwarded.
    let senders = 4;
    let before = 500;
    for s in 0..senders {
        send_numbered(c.addr(), s, 0, before);
    }
    wait_until("rsyslog receiving the first lines", || {
        lines_of(&received).len() >= senders * before
    });

    // rsyslog stops; the lines sent meanwhile are held.
    drop(peer);
    let during = 5000;
    let addr = c.addr();
    let flood: Vec<_> = (0..senders)
        .map(|s| std::thread::spawn(move || send_numbered(addr, s, before, during)))
        .collect();
    c.wait_stderr("the outage reported", |e| {
        e.contains("handler 'fwd' sending to 127.0.0.1:") && e.contains("failed")
    });
    c.wait_stderr("a reminder while it lasts", |e| e.contains("still failing"));
    let stderr = c.stderr_text();
    assert!(
        !stderr.contains("dropped"),
        "nothing is dropped while the peer is away:\n{stderr}"
    );

    // rsyslog is back on the same port: everything arrives, though no
    // sender sends anything more after the flood.
    peer = rsyslog_sink(port, &received);
    for t in flood {
        t.join().expect("sender");
    }
    let total = before + during;
    wait_until("rsyslog receiving every line", || {
        let got = per_sender(&lines_of(&received));
        (0..senders).all(|s| {
            got.get(&format!("s{s}"))
                .is_some_and(|v| v.iter().filter(|&&n| n == total - 1).count() > 0)
        })
    });
    assert_complete_in_order("rsyslog", &per_sender(&lines_of(&received)), senders, total);
    c.wait_stderr("the recovery reported", |e| e.contains("succeeds again"));
    // The file beside it has every line exactly once.
    let in_file = per_sender(&lines_of(&file));
    for s in 0..senders {
        let expected: Vec<usize> = (0..total).collect();
        assert_eq!(
            in_file.get(&format!("s{s}")),
            Some(&expected),
            "file, sender s{s}"
        );
    }
    drop(peer);
    let _: PathBuf = received;
}

/// Each sender's numbers are there `0..count` in the file, exactly once.
fn assert_file_complete(file: &Path, senders: usize, count: usize) {
    let got = per_sender(&lines_of(file));
    for s in 0..senders {
        let expected: Vec<usize> = (0..count).collect();
        assert!(
            got.get(&format!("s{s}")) == Some(&expected),
            "file, sender s{s}: {} lines",
            got.get(&format!("s{s}")).map_or(0, Vec::len)
        );
    }
}

fn file_has(file: &Path, senders: usize, count: usize) -> bool {
    let got = per_sender(&lines_of(file));
    (0..senders).all(|s| got.get(&format!("s{s}")).is_some_and(|v| v.len() >= count))
}

/// rsyslog has every sender's last line.
fn rsyslog_has_all(received: &Path, senders: usize, count: usize) -> bool {
    let got = per_sender(&lines_of(received));
    (0..senders).all(|s| {
        got.get(&format!("s{s}"))
            .is_some_and(|v| v.contains(&(count - 1)))
    })
}

/// A metric's value for handler `fwd`, 0 if absent.
fn fwd_metric(scrape: &str, name: &str) -> f64 {
    sample(scrape, &format!("{name}{{handler=\"fwd\"}}")).unwrap_or(0.0)
}

/// The backlog's segment files for handler `fwd`, oldest first.
fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(spool.join("fwd"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "seg"));
    v.sort();
    v
}

#[test]
fn with_a_backlog_the_senders_and_the_file_go_on_while_the_peer_is_down() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let spool = work.path().join("spool");
    let mut peer = rsyslog_sink(port, &received);
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let c = collector(
        work.path(),
        port,
        &file,
        &[
            "--spool-dir",
            spool.to_str().expect("utf-8"),
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let senders = 4;
    let before = 500;
    for s in 0..senders {
        send_numbered(c.addr(), s, 0, before);
    }
    wait_until("rsyslog receiving the first lines", || {
        lines_of(&received).len() >= senders * before
    });

    drop(peer);
    let during = 20_000;
    let addr = c.addr();
    let flood: Vec<_> = (0..senders)
        .map(|s| std::thread::spawn(move || send_numbered(addr, s, before, during)))
        .collect();
    // While rsyslog is down, the senders finish and the file has it all:
    // nothing waits for the forwarding handler.
    for t in flood {
        t.join().expect("sender");
    }
    let total = before + during;
    wait_until("the file getting every line during the outage", || {
        file_has(&file, senders, total)
    });
    assert_file_complete(&file, senders, total);
    c.wait_stderr("the outage reported", |e| {
        e.contains("handler 'fwd' sending to 127.0.0.1:") && e.contains("in its backlog")
    });
    let scrape = scrape_text(metrics);
    assert!(
        fwd_metric(&scrape, "pysyslog_handler_spool_records") > 0.0,
        "{scrape}"
    );
    assert!(fwd_metric(&scrape, "pysyslog_handler_spool_bytes") > 0.0);
    assert!(!segments(&spool).is_empty(), "the backlog is on disk");
    assert!(
        lines_of(&received).len() < senders * total,
        "rsyslog is down"
    );

    // rsyslog is back: the backlog comes out, in order, and is deleted.
    peer = rsyslog_sink(port, &received);
    wait_until("rsyslog receiving every line", || {
        rsyslog_has_all(&received, senders, total)
    });
    assert_complete_in_order("rsyslog", &per_sender(&lines_of(&received)), senders, total);
    c.wait_stderr("the backlog delivered", |e| e.contains("is delivered"));
    wait_until("the drained records counted and the backlog empty", || {
        let scrape = scrape_text(metrics);
        fwd_metric(&scrape, "pysyslog_handler_spool_records") == 0.0
            && fwd_metric(&scrape, "pysyslog_handler_spool_drained_records_total") > 0.0
    });
    wait_until("the delivered segments deleted", || {
        segments(&spool).is_empty()
    });
    drop(peer);
}

/// More than 100 MB in the backlog; `kill -9` of the monitor, the receiver
/// and the writer; a new collector with the same directory delivers every
/// line the file got (every line a batch acknowledged) once rsyslog is back.
#[test]
fn a_backlog_survives_kill_9_of_every_process() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let spool = work.path().join("spool");
    let spool_arg = spool.to_str().expect("utf-8").to_owned();
    let mut c = collector(work.path(), port, &file, &["--spool-dir", &spool_arg]);
    // Nothing listens on `port`: the forwarding handler's peer is down from the start.
    let senders = 4;
    let count = 100_000;
    let addr = c.addr();
    let flood: Vec<_> = (0..senders)
        .map(|s| std::thread::spawn(move || send_padded(addr, s, 0, count, 250)))
        .collect();
    for t in flood {
        t.join().expect("sender");
    }
    wait_until("the file getting every line", || {
        file_has(&file, senders, count)
    });
    let backlog: u64 = segments(&spool)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert!(backlog > 100 << 20, "backlog of {backlog} bytes");
    let (monitor, receiver, writer) = (
        c.pid(),
        c.receiver_pid().expect("receiver"),
        c.writer_pid().expect("writer"),
    );
    for pid in [writer, receiver, monitor] {
        signal(pid, libc::SIGKILL);
    }
    c.wait_exit();
    wait_until("the receiver and writer gone", || {
        !alive(receiver) && !alive(writer)
    });

    let peer = rsyslog_sink(port, &received);
    let again_dir = work.path().join("again");
    fs::create_dir_all(&again_dir).expect("dir");
    let again_file = again_dir.join("file.log");
    let again = collector(&again_dir, port, &again_file, &["--spool-dir", &spool_arg]);
    wait_until("rsyslog receiving the backlog", || {
        rsyslog_has_all(&received, senders, count)
    });
    assert_complete_in_order(
        "rsyslog after kill -9",
        &per_sender(&lines_of(&received)),
        senders,
        count,
    );
    again.wait_stderr("the backlog delivered", |e| e.contains("is delivered"));
    drop(peer);
}

/// A backlog with a record cut short at its end and a flipped byte in
/// another: the collector starts, reports both with the file and offset,
/// and delivers every other line.
#[test]
fn damage_in_a_backlog_is_skipped_and_reported() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let spool = work.path().join("spool");
    let spool_arg = spool.to_str().expect("utf-8").to_owned();
    // 16 MiB in all: segments of 1 MiB.
    let args = [
        "--spool-dir",
        spool_arg.as_str(),
        "--spool-max-bytes",
        "16M",
    ];
    let mut c = collector(work.path(), port, &file, &args);
    let count = 20_000;
    send_padded(c.addr(), 0, 0, count, 150);
    wait_until("the file getting every line", || file_has(&file, 1, count));
    c.stop();
    let segs = segments(&spool);
    assert!(segs.len() >= 3, "{segs:?}");
    // Records: len u32 | crc u32 | seq u64 | time u64 | payload.
    let records = |bytes: &[u8]| -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 24 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4")) as usize;
            let payload = String::from_utf8_lossy(&bytes[at + 24..at + 24 + len]).into_owned();
            out.push((at, payload));
            at += 24 + len;
        }
        out
    };
    let number = |payload: &str| -> usize {
        payload
            .trim_start_matches("<14>s0 ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a numbered line")
    };
    // A flipped byte in the payload of a record in the middle of the first segment.
    let first = &segs[0];
    let mut bytes = fs::read(first).expect("segment");
    let recs = records(&bytes);
    let (flip_at, flipped) = recs[recs.len() / 2].clone();
    bytes[flip_at + 24 + 6] ^= 0x20;
    fs::write(first, &bytes).expect("write");
    // The last segment cut in the middle of its last record.
    let last = segs.last().expect("a segment");
    let bytes = fs::read(last).expect("segment");
    let (cut_at, cut) = records(&bytes).last().cloned().expect("a record");
    fs::OpenOptions::new()
        .write(true)
        .open(last)
        .and_then(|f| f.set_len((cut_at + 30) as u64))
        .expect("truncate");
    let lost = [number(&flipped), number(&cut)];

    let metrics = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let peer = rsyslog_sink(port, &received);
    let again_dir = work.path().join("again");
    fs::create_dir_all(&again_dir).expect("dir");
    let mut all = args.to_vec();
    all.extend(["--metrics-listen", metrics_addr.as_str()]);
    let again = collector(&again_dir, port, &again_dir.join("file.log"), &all);
    wait_until("rsyslog receiving the rest", || {
        let got = per_sender(&lines_of(&received));
        got.get("s0").is_some_and(|v| v.len() >= count - 2)
    });
    again.wait_stderr("the damage reported", |e| {
        e.contains(&format!("damaged record at offset {flip_at}"))
            && e.contains(&first.display().to_string())
    });
    again.wait_stderr("the cut tail reported", |e| {
        e.contains(&format!("at offset {cut_at}")) && e.contains(&last.display().to_string())
    });
    let got = per_sender(&lines_of(&received))
        .remove("s0")
        .unwrap_or_default();
    let expected: Vec<usize> = (0..count).filter(|n| !lost.contains(n)).collect();
    assert_eq!(got, expected, "every line but the two damaged, in order");
    wait_until("the damaged record counted", || {
        fwd_metric(
            &scrape_text(metrics),
            "pysyslog_handler_spool_damaged_records_total",
        ) == 1.0
    });
    drop(peer);
}

/// A full backlog falls back to holding: the senders wait, nothing is lost,
/// and the UDP datagrams the kernel dropped meanwhile are what the metrics
/// say.
#[test]
fn a_full_backlog_holds_and_loses_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let udp = free_port();
    let metrics = free_port();
    let received = work.path().join("rsyslog.out");
    let file = work.path().join("file.log");
    let spool = work.path().join("spool");
    let udp_url = format!("udp://127.0.0.1:{udp}");
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let c = collector(
        work.path(),
        port,
        &file,
        &[
            "--spool-dir",
            spool.to_str().expect("utf-8"),
            "--spool-max-bytes",
            "1M",
            "--listen",
            &udp_url,
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let count = 40_000;
    let addr = c.addr();
    let sender = std::thread::spawn(move || send_padded(addr, 0, 0, count, 100));
    c.wait_stderr("the backlog full", |e| e.contains("is full"));
    // Held: the file stops short while rsyslog is away.
    wait_until("the collector holding", || {
        fwd_metric(&scrape_text(metrics), "pysyslog_handler_spool_bytes") > 0.0
    });
    assert!(
        !file_has(&file, 1, count),
        "a full backlog holds the batches"
    );
    // UDP datagrams meanwhile: what the kernel drops is counted.
    let datagrams = 3_000;
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    for i in 0..datagrams {
        let _ = u.send_to(format!("u0 {i:07}").as_bytes(), ("127.0.0.1", udp));
    }
    let peer = rsyslog_sink(port, &received);
    sender.join().expect("sender");
    wait_until("rsyslog receiving every line", || {
        rsyslog_has_all(&received, 1, count)
    });
    assert_complete_in_order("rsyslog", &per_sender(&lines_of(&received)), 1, count);
    assert_file_complete(&file, 1, count);
    // One more datagram makes the receiver learn the kernel's drop count.
    let _ = u.send_to(format!("u0 {datagrams:07}").as_bytes(), ("127.0.0.1", udp));
    wait_until("the last datagram logged", || {
        per_sender(&lines_of(&file))
            .get("u0")
            .is_some_and(|v| v.contains(&datagrams))
    });
    let logged = per_sender(&lines_of(&file)).get("u0").map_or(0, Vec::len);
    let scrape = scrape_text(metrics);
    let dropped =
        sample(&scrape, "pysyslog_udp_datagrams_dropped_total").expect("the UDP drop counter");
    assert_eq!(logged + dropped as usize, datagrams + 1, "{scrape}");
    drop(peer);
}

/// A backlog whose handler left the configuration (renamed) stays on disk:
/// a warning names it, the metrics show its bytes, nothing is deleted.
#[test]
fn a_backlog_whose_handler_was_renamed_is_kept_and_reported() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let file = work.path().join("file.log");
    let spool = work.path().join("spool");
    let spool_arg = spool.to_str().expect("utf-8").to_owned();
    // Nothing listens on `port`: the lines stay in handler fwd's backlog.
    let mut c = collector(work.path(), port, &file, &["--spool-dir", &spool_arg]);
    send_numbered(c.addr(), 0, 0, 1000);
    wait_until("the file getting every line", || file_has(&file, 1, 1000));
    c.wait_stderr("the backlog in use", |e| e.contains("in its backlog"));
    c.stop();
    let kept: u64 = segments(&spool)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert!(kept > 0);

    let renamed = serde_json::json!({
        "version": 1,
        "formatters": {"f": {"format": "%(message)s"}},
        "handlers": {"forward": {"class": "logging.handlers.SysLogHandler",
                                 "address": ["127.0.0.1", port],
                                 "socktype": "ext://socket.SOCK_STREAM", "formatter": "f"}},
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "INFO", "handlers": ["forward"]}
    });
    let config = work.path().join("renamed.json");
    fs::write(&config, renamed.to_string()).expect("config");
    let metrics = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let again = Collector::start_with(
        "127.0.0.1",
        &[
            "--logging-config",
            config.to_str().expect("utf-8"),
            "--spool-dir",
            &spool_arg,
            "--metrics-listen",
            &metrics_addr,
        ],
        &[],
        |c| c.stderr_text().contains("Listening for syslog"),
    );
    again.wait_stderr("the orphaned backlog reported", |e| {
        e.contains(&spool.join("fwd").display().to_string())
            && e.contains("no handler of the configuration is named for it")
    });
    let scrape = scrape_text(metrics);
    let orphaned = sample(&scrape, "pysyslog_spool_orphaned_bytes ")
        .expect("the orphaned bytes metric") as u64;
    assert_eq!(orphaned, kept, "{scrape}");
    assert_eq!(
        segments(&spool).len(),
        fs::read_dir(spool.join("fwd"))
            .map(|d| d
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
                .count())
            .unwrap_or(0)
    );
    assert!(!segments(&spool).is_empty(), "nothing deleted");
}

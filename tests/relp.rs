//! `--listen relp://`: a RELP server as rsyslog's librelp defines it. A raw
//! client checks the protocol (answers only after the line is written,
//! `serverclose` on malformed input, the collector serving on), and rsyslog's
//! `omrelp` (Debian's rsyslog-relp, unpacked by `tests/peers/install.sh`)
//! delivers a flood exactly once, and at least once across collector kills.

// Not every peer helper is used here.
#[allow(dead_code)]
mod peers;
mod util;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use peers::Peer;
use util::relp::{frame, read_frame, OFFERS};
use util::*;

/// Start a collector with one RELP listener; returns it and the listener's address.
fn relp_collector(extra: &[&str]) -> (Collector, SocketAddr) {
    relp_collector_on(free_port(), extra)
}

fn relp_collector_on(port: u16, extra: &[&str]) -> (Collector, SocketAddr) {
    let url = format!("relp://127.0.0.1:{port}");
    let mut args = vec!["--listen", url.as_str()];
    args.extend_from_slice(extra);
    let c = start_listeners(&args, 2);
    (c, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn open_session(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    s.write_all(&frame(1, "open", OFFERS)).expect("open");
    let (txnr, command, data) = read_frame(&mut r).expect("open answer");
    assert_eq!((txnr, command.as_str()), (1, "rsp"));
    assert!(data.starts_with("200 OK\n"), "{data:?}");
    assert!(data.contains("commands=syslog"), "{data:?}");
    assert!(data.contains("relp_version=0"), "{data:?}");
    (s, r)
}

#[test]
fn a_raw_session_is_answered_after_each_message_is_written() {
    let (c, addr) = relp_collector(&[]);
    let (mut s, mut r) = open_session(addr);
    let mut input = Vec::new();
    for i in 0..5u32 {
        input.extend(frame(
            i + 2,
            "syslog",
            &format!("<13>relp {i}\nsecond\0part  "),
        ));
    }
    s.write_all(&input).expect("send");
    for i in 0..5u32 {
        let (txnr, command, data) = read_frame(&mut r).expect("answer");
        assert_eq!(
            (txnr, command.as_str(), data.as_str()),
            (i + 2, "rsp", "200 OK")
        );
        // The answer comes only once the line is written and flushed.
        let lines = data_lines(&c);
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("INFO:127.0.0.1:<13>relp {i}#012second#000part")),
            "{lines:#?}"
        );
    }
    s.write_all(&frame(7, "close", "")).expect("close");
    assert_eq!(read_frame(&mut r), Some((7, "rsp".into(), "200 OK".into())));
    assert_eq!(read_frame(&mut r), None, "closed after close");
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

#[test]
fn malformed_relp_gets_serverclose_and_the_collector_serves_on() {
    let (c, addr) = relp_collector(&["--max-line-length", "1024"]);
    let cases: &[(&str, &[u8])] = &[
        ("data longer than its length", b"2 syslog 2 hi!\n"),
        ("data length without data", b"2 syslog 3\n"),
        ("length not a number", b"2 syslog x1 hi\n"),
        ("unknown command", b"2 bogus 0\n"),
        ("txnr out of order", b"3 syslog 2 hi\n"),
        ("huge frame", b"2 syslog 999999999 "),
        (
            "header too long",
            b"2 syslogsyslogsyslogsyslogsyslogsyslog 0\n",
        ),
    ];
    for (what, bad) in cases {
        let (mut s, mut r) = open_session(addr);
        s.write_all(bad).expect("send");
        assert_eq!(
            read_frame(&mut r),
            Some((0, "serverclose".into(), String::new())),
            "{what}"
        );
        assert_eq!(read_frame(&mut r), None, "{what}: closed");
    }
    // A huge frame is refused from its header, whatever follows.
    let (mut s, mut r) = open_session(addr);
    s.write_all(b"2 syslog 2000 ").expect("send");
    let _ = s.write_all(&vec![b'x'; 1 << 20]);
    assert_eq!(
        read_frame(&mut r),
        Some((0, "serverclose".into(), String::new()))
    );
    // A session that never opened.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    s.write_all(&frame(1, "syslog", "early")).expect("send");
    assert_eq!(
        read_frame(&mut r),
        Some((0, "serverclose".into(), String::new()))
    );

    let errors = c.wait_diagnostics(1);
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("ERROR:pysyslog.receiver:RELP session with 127.0.0.1:")),
        "{errors:#?}"
    );
    // Still serving.
    let (mut s, mut r) = open_session(addr);
    s.write_all(&frame(2, "syslog", "after the bad ones"))
        .expect("send");
    assert_eq!(read_frame(&mut r), Some((2, "rsp".into(), "200 OK".into())));
    assert!(data_lines(&c)
        .iter()
        .any(|l| l.ends_with("after the bad ones")));
    assert_eq!(data_lines(&c).len(), 1, "{:#?}", data_lines(&c));
}

/// librelp's default window: what a sender may have unanswered.
const WINDOW: usize = 128;

/// rsyslog forwarding everything it reads to `port` with omrelp, retrying
/// for ever (a killed collector is a suspended action, not lost messages).
fn omrelp(port: u16) -> Peer {
    Peer::rsyslog(&format!(
        "module(load=\"omrelp\")\n\
         action(type=\"omrelp\" target=\"127.0.0.1\" port=\"{port}\" \
         action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")"
    ))
}

fn flood_message(run: u32, i: usize) -> String {
    format!("<13>relptest: flood {run} {i:07}")
}

/// How many times each message index appears in `lines`.
fn tally(lines: &[String], run: u32, n: usize) -> Vec<usize> {
    let marker = format!("flood {run} ");
    let mut seen = vec![0usize; n];
    for line in lines {
        if let Some(at) = line.find(&marker) {
            if let Ok(i) = line[at + marker.len()..].trim().parse::<usize>() {
                if i < n {
                    seen[i] += 1;
                }
            }
        }
    }
    seen
}

fn wait_tally(
    what: &str,
    n: usize,
    mut lines: impl FnMut() -> Vec<String>,
    run: u32,
    peer: &Peer,
) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = tally(&lines(), run, n);
        let missing = seen.iter().filter(|&&c| c == 0).count();
        if missing == 0 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {missing} of {n} lines missing\n{}",
            peer.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rsyslog_omrelp_delivers_a_flood_exactly_once() {
    const N: usize = 200_000;
    let (c, addr) = relp_collector(&[]);
    let peer = omrelp(addr.port());
    let run = std::process::id();
    peer.send_all((0..N).map(|i| flood_message(run, i)));
    let seen = wait_tally("omrelp flood", N, || data_lines(&c), run, &peer);
    let extra: Vec<usize> = (0..N).filter(|&i| seen[i] != 1).collect();
    assert!(
        extra.is_empty(),
        "lines not exactly once: {:?}",
        &extra[..extra.len().min(20)]
    );
    let lines = data_lines(&c);
    assert!(
        lines.iter().all(|l| l.starts_with("INFO:127.0.0.1:<13>")),
        "{:?}",
        lines.iter().find(|l| !l.starts_with("INFO:127.0.0.1:<13>"))
    );
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
}

/// SIGKILL to both processes of the collector.
fn kill_both(c: &mut Collector) {
    let kids = children(c.pid());
    signal(c.pid(), libc::SIGKILL);
    for kid in kids {
        signal(kid, libc::SIGKILL);
    }
    let _ = c.child.wait();
}

#[test]
fn rsyslog_omrelp_resends_what_a_killed_collector_did_not_answer() {
    const N: usize = 200_000;
    const KILLS: usize = 2;
    let port = free_port();
    let (mut c, _) = relp_collector_on(port, &[]);
    let peer = omrelp(port);
    let run = std::process::id();
    let mut outputs: Vec<String> = Vec::new();
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| peer.send_all((0..N).map(|i| flood_message(run, i))));
        for kill in 1..=KILLS {
            // Kill mid-flood: once this run's share of lines has arrived.
            let due = N * kill / (KILLS + 1);
            let deadline = Instant::now() + Duration::from_secs(120);
            while tally(&data_lines(&c), run, N)
                .iter()
                .filter(|&&n| n > 0)
                .count()
                + outputs_seen(&outputs, run, N)
                < due
            {
                assert!(
                    Instant::now() < deadline,
                    "flood stalled\n{}",
                    peer.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            kill_both(&mut c);
            outputs.push(c.stdout_text());
            c = relp_collector_on(port, &[]).0;
        }
        let _ = sender.join();
    });
    let before = outputs.clone();
    let seen = wait_tally(
        "omrelp across kills",
        N,
        || {
            let mut all: Vec<String> = before
                .iter()
                .flat_map(|o| o.lines().map(str::to_owned))
                .collect();
            all.extend(data_lines(&c));
            all
        },
        run,
        &peer,
    );
    let duplicates: usize = seen.iter().map(|&n| n.saturating_sub(1)).sum();
    eprintln!("omrelp across {KILLS} kills: {N} lines, {duplicates} duplicates");
    assert!(
        duplicates <= KILLS * WINDOW,
        "{duplicates} duplicates across {KILLS} kills: more than the window of {WINDOW} each"
    );
}

/// Distinct lines of this run in earlier collectors' outputs.
fn outputs_seen(outputs: &[String], run: u32, n: usize) -> usize {
    let lines: Vec<String> = outputs
        .iter()
        .flat_map(|o| o.lines().map(str::to_owned))
        .collect();
    tally(&lines, run, n).iter().filter(|&&c| c > 0).count()
}

#[test]
fn relp_over_tls_is_answered_through_the_session() {
    let port = free_port();
    let url = format!("relp+tls://127.0.0.1:{port}");
    let c = start_listeners(
        &[
            "--listen",
            &url,
            "--cert",
            &tls_fixture("server-rsa.pem"),
            "--key",
            &tls_fixture("server-rsa.key"),
        ],
        2,
    );
    let script = r#"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
offers = b"relp_version=0\nrelp_software=test\ncommands=syslog"
out = b"1 open %d %s\n" % (len(offers), offers)
for i in range(3):
    m = b"<13>over tls %d" % i
    out += b"%d syslog %d %s\n" % (i + 2, len(m), m)
out += b"5 close 0\n"
s.sendall(out)
got = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
sys.stdout.write(got.decode())
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string(), &tls_fixture("ca.pem")])
        .output()
        .expect("python3");
    let answers = String::from_utf8_lossy(&out.stdout).into_owned();
    let frames: Vec<&str> = answers.lines().filter(|l| l.contains(" rsp ")).collect();
    assert_eq!(
        &frames[1..],
        &[
            "2 rsp 6 200 OK",
            "3 rsp 6 200 OK",
            "4 rsp 6 200 OK",
            "5 rsp 6 200 OK"
        ],
        "{answers}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = data_lines(&c);
    for i in 0..3 {
        assert!(
            lines.contains(&format!("INFO:127.0.0.1:<13>over tls {i}")),
            "{lines:#?}"
        );
    }
}

#[test]
fn answers_wait_for_the_writer() {
    let (c, addr) = relp_collector(&[]);
    let (mut s, mut r) = open_session(addr);
    let writer = c.writer_pid().expect("writer");
    // A stopped writer acknowledges nothing: the message stays unanswered.
    signal(writer, libc::SIGSTOP);
    s.write_all(&frame(2, "syslog", "held back")).expect("send");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut byte = [0u8];
    let early = r.read(&mut byte);
    assert!(
        early.is_err(),
        "answered before the writer wrote: {early:?}"
    );
    assert!(!data_lines(&c).iter().any(|l| l.ends_with("held back")));
    signal(writer, libc::SIGCONT);
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    assert_eq!(read_frame(&mut r), Some((2, "rsp".into(), "200 OK".into())));
    assert!(data_lines(&c).iter().any(|l| l.ends_with("held back")));
}

#[test]
fn a_proxied_relp_session_is_logged_under_the_client() {
    let (c, addr) = relp_collector(&["--proxy-protocol-from", "127.0.0.2/32"]);
    let mut s = connect_from("127.0.0.2", addr);
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut input = format!("PROXY TCP4 10.1.2.3 127.0.0.1 5000 {}\r\n", addr.port()).into_bytes();
    input.extend(frame(1, "open", OFFERS));
    input.extend(frame(2, "syslog", "<13>through the balancer"));
    s.write_all(&input).expect("send");
    assert_eq!(read_frame(&mut r).map(|f| f.1), Some("rsp".into()));
    assert_eq!(read_frame(&mut r), Some((2, "rsp".into(), "200 OK".into())));
    let lines = data_lines(&c);
    assert!(
        lines.contains(&"INFO:10.1.2.3:<13>through the balancer".to_owned()),
        "{lines:#?}"
    );
}

/// The receiver's resident memory, in KiB.
fn receiver_rss_kib(c: &Collector) -> u64 {
    proc_status(c.receiver_pid().expect("receiver"), "VmRSS")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Wait until the receiver has done what it will: its CPU time and its
/// resident memory stay the same for a second.
fn wait_receiver_settled(c: &Collector) {
    let pid = c.receiver_pid().expect("receiver");
    let sample = || {
        let stat = proc_stat(pid);
        (
            stat.get(11).cloned(),
            stat.get(12).cloned(),
            proc_status(pid, "VmRSS"),
        )
    };
    let mut last = sample();
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while since.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "the receiver never settled");
        std::thread::sleep(Duration::from_millis(100));
        let now = sample();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// A RELP sender that writes its messages without reading an answer.
struct Unread {
    s: TcpStream,
    r: BufReader<TcpStream>,
    next: u32,
    pending: Vec<u8>,
    at: usize,
}

impl Unread {
    /// Write what the socket takes; whether anything was written.
    fn pump(&mut self, last: u32) -> bool {
        if self.at == self.pending.len() && self.next <= last {
            self.pending.clear();
            self.at = 0;
            while self.pending.len() < 16 * 1024 && self.next <= last {
                let m = format!("<13>unread {:07}", self.next);
                self.pending.extend(frame(self.next, "syslog", &m));
                self.next += 1;
            }
        }
        match self.s.write(&self.pending[self.at..]) {
            Ok(n) => {
                self.at += n;
                n > 0
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("send: {e}"),
        }
    }

    fn done(&self, last: u32) -> bool {
        self.next > last && self.at == self.pending.len()
    }
}

/// RELP senders that never read their answers are slowed, not buffered:
/// a session is not read while answers wait that its socket does not take,
/// so 200 sessions each trying to send 30,000 messages without reading an
/// answer leave the receiver within 16 MiB of its size before them (it
/// grew by about 1.1 MB a session when answers piled up in its memory).
/// Once one of them reads its answers, it gets every one and sends the rest.
#[test]
fn sessions_that_never_read_their_answers_are_slowed_not_buffered() {
    const SESSIONS: usize = 200;
    const LAST: u32 = 30_001;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("logging.json");
    std::fs::write(
        &config,
        r#"{"version": 1,
            "formatters": {"f": {"format": "%(levelname)s:%(name)s:%(message)s"}},
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "f"},
                         "none": {"class": "logging.NullHandler"}},
            "loggers": {"pysyslog": {"handlers": ["out"], "propagate": false}},
            "root": {"level": "INFO", "handlers": ["none"]}}"#,
    )
    .expect("config");
    let (c, addr) = relp_collector(&["-l", config.to_str().expect("path")]);
    let before = receiver_rss_kib(&c);
    let mut senders: Vec<Unread> = (0..SESSIONS)
        .map(|_| {
            let (s, r) = open_session(addr);
            s.set_nonblocking(true).expect("nonblocking");
            Unread {
                s,
                r,
                next: 2,
                pending: Vec::new(),
                at: 0,
            }
        })
        .collect();
    // Send until every session is done or none has been able to send for
    // a second (the collector no longer reads them).
    let mut stalled_since = Instant::now();
    while stalled_since.elapsed() < Duration::from_secs(1) && !senders.iter().all(|u| u.done(LAST))
    {
        let mut progress = false;
        for u in &mut senders {
            progress |= u.pump(LAST);
        }
        if progress {
            stalled_since = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    wait_receiver_settled(&c);
    let after = receiver_rss_kib(&c);
    let hwm = proc_status(c.receiver_pid().expect("receiver"), "VmHWM").unwrap_or_default();
    let sent: u64 = senders.iter().map(|u| u64::from(u.next - 2)).sum();
    eprintln!(
        "receiver VmRSS {before} kB -> {after} kB (VmHWM {hwm}) with {SESSIONS} sessions not reading their answers, {sent} messages written"
    );
    assert!(
        after.saturating_sub(before) < 16 << 10,
        "the receiver grew by {} kB ({before} -> {after})",
        after.saturating_sub(before)
    );

    // One reads its answers at last: all of them, in order, and the
    // collector reads the rest of what it sends.
    let Unread {
        mut s,
        mut r,
        next,
        pending,
        at,
    } = senders.pop().expect("a session");
    drop(senders);
    s.set_nonblocking(false).expect("blocking");
    let reader = std::thread::spawn(move || {
        for expected in 2..=LAST {
            let (txnr, command, data) = read_frame(&mut r).expect("an answer");
            assert_eq!(
                (txnr, command.as_str(), data.as_str()),
                (expected, "rsp", "200 OK")
            );
        }
    });
    let mut rest = pending[at..].to_vec();
    for txnr in next..=LAST {
        rest.extend(frame(txnr, "syslog", &format!("<13>unread {txnr:07}")));
    }
    s.write_all(&rest).expect("the rest");
    reader.join().expect("every answer, in order");
}

/// Past --max-partial-bytes, a RELP message still arriving is logged as far
/// as it came, and its rest once it comes; its answer waits for both.
/// Eight sessions each send 900 bytes of a 1,000-byte message, 7,200 bytes
/// in all against a budget of 4,096.
#[test]
fn messages_still_arriving_past_the_budget_are_logged_in_pieces_then_answered() {
    let (c, addr) = relp_collector(&["--max-line-length", "1024", "--max-partial-bytes", "4096"]);
    let message = |i: usize| {
        let head = format!("<13>m{i} {}", "y".repeat(900 - 7));
        let tail = format!("{}t{i}", "z".repeat(98));
        (head, tail)
    };
    let mut sessions: Vec<_> = (0..8).map(|_| open_session(addr)).collect();
    for (i, (s, _)) in sessions.iter_mut().enumerate() {
        let (head, _) = message(i);
        s.write_all(format!("2 syslog 1000 {head}").as_bytes())
            .expect("send");
    }
    c.wait_stderr("the report of split lines", |text| {
        text.contains("lines still arriving held more than --max-partial-bytes (4096 bytes)")
    });
    for (i, (s, r)) in sessions.iter_mut().enumerate() {
        let (_, tail) = message(i);
        s.write_all(format!("{tail}\n").as_bytes()).expect("send");
        assert_eq!(read_frame(r), Some((2, "rsp".into(), "200 OK".into())));
    }
    let lines = data_lines(&c);
    assert!(lines.len() > 8, "some messages came in pieces: {lines:#?}");
    for i in 0..8 {
        let (head, tail) = message(i);
        let pieces: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("INFO:127.0.0.1:"))
            .filter(|l| l.starts_with(&format!("<13>m{i} ")) || l.ends_with(&format!("t{i}")))
            .collect();
        assert_eq!(pieces.concat(), format!("{head}{tail}"), "message {i}");
        assert!(pieces.len() <= 2, "{pieces:?}");
    }
}

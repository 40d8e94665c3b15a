//! `--rate-limit-per-source` end to end: a TCP sender above its rate loses
//! nothing and is slowed to it, without slowing another source; a UDP
//! sender's excess is dropped and counted exactly; bad values are refused.

mod util;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use util::*;

/// A collector with `--metrics-listen` on a free port and `args`; returns
/// it and the metrics port.
fn start(args: &[&str], listeners: usize) -> (Collector, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut all = vec!["--metrics-listen", listen.as_str()];
    all.extend_from_slice(args);
    let c = start_listeners(&all, listeners);
    wait_until("the metrics endpoint", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (c, port)
}

/// The samples of a scrape: `name{labels}` -> value.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    let mut text = String::new();
    // A scrape while another client holds a slot may be closed unanswered.
    for _ in 0..50 {
        text = scrape_text(port);
        if !text.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, body) = text.split_once("\r\n\r\n").expect("head and body");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn get(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {samples:?}"))
}

/// The data lines of `peer`, in output order, without the `INFO:PEER:` prefix.
fn lines_of(c: &Collector, peer: &str) -> Vec<String> {
    let prefix = format!("INFO:{peer}:");
    c.stdout_text()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

/// Rate 2000/s, burst 200: 6000 lines sent at once on one connection all
/// arrive, in order, no sooner than the bucket allows; another source sends
/// and is logged while the first is held back.
#[test]
fn a_tcp_sender_above_its_rate_loses_nothing_and_is_slowed_but_not_another_source() {
    const RATE: f64 = 2000.0;
    const BURST: usize = 200;
    const LINES: usize = 6000;
    let limit = format!("{RATE}:{BURST}");
    let (c, metrics) = start(&["--rate-limit-per-source", &limit], 1);
    let to = c.addr();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut s = connect_from("127.0.0.2", to);
        let mut data = Vec::new();
        for i in 0..LINES {
            writeln!(data, "fast {i:05}").expect("format");
        }
        s.write_all(&data).expect("send");
    });
    // Once the first source's burst is through and it is held back, a
    // second source's lines are logged while the first's are still coming.
    wait_until("the first source's burst", || {
        lines_of(&c, "127.0.0.2").len() >= BURST
    });
    let mut other = connect_from("127.0.0.3", to);
    for i in 0..10 {
        writeln!(other, "other {i}").expect("send");
    }
    drop(other);
    wait_until("the second source's lines", || {
        lines_of(&c, "127.0.0.3").len() == 10
    });
    let first_then = lines_of(&c, "127.0.0.2").len();
    assert!(
        first_then < LINES,
        "the second source's lines waited for all {LINES} of the first"
    );
    sender.join().expect("sender");
    wait_until("every line of the first source", || {
        lines_of(&c, "127.0.0.2").len() >= LINES
    });
    let elapsed = started.elapsed();
    let fast = lines_of(&c, "127.0.0.2");
    let want: Vec<String> = (0..LINES).map(|i| format!("fast {i:05}")).collect();
    assert!(fast == want, "lines lost, doubled or out of order");
    // The bucket's guarantee: no more than BURST + RATE x elapsed lines
    // pass, give or take the lines of one read past the tokens (the debt
    // a read may leave, a few lines here: 50 ms is 100).
    let least = Duration::from_secs_f64((LINES - BURST) as f64 / RATE - 0.05);
    assert!(
        elapsed >= least,
        "{LINES} lines in {elapsed:?}, faster than {RATE}/s after a burst of {BURST}"
    );
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let pauses = format!("pysyslog_rate_limit_pauses_total{{listener=\"{listener}\"}}");
    let paused = format!("pysyslog_rate_limit_paused_seconds_total{{listener=\"{listener}\"}}");
    let received = format!("pysyslog_lines_received_total{{listener=\"{listener}\"}}");
    let mut s = scrape(metrics);
    wait_until("the pauses counted", || {
        s = scrape(metrics);
        get(&s, &paused) > 0.0
    });
    assert!(get(&s, &pauses) >= 1.0, "{s:?}");
    assert_eq!(get(&s, &received), (LINES + 10) as f64);
    assert_eq!(get(&s, "pysyslog_rate_limit_sources"), 2.0);
    // Slowing is not an error: nothing said about it.
    let said: Vec<String> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.contains("rate"))
        .collect();
    assert!(said.is_empty(), "{said:?}");
}

/// Behind a trusted balancer a source is the client its PROXY header
/// names: two connections naming one client share its bucket (together no
/// faster than the rate), a third naming another client has its own.
#[test]
fn behind_a_balancer_connections_of_one_client_share_its_bucket() {
    const RATE: f64 = 2000.0;
    const BURST: usize = 200;
    const EACH: usize = 3000;
    let limit = format!("{RATE}:{BURST}");
    let (c, metrics) = start(
        &[
            "--rate-limit-per-source",
            &limit,
            "--proxy-protocol-from",
            "127.0.0.1",
        ],
        1,
    );
    let to = c.addr();
    let started = Instant::now();
    let senders: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            std::thread::spawn(move || {
                let mut data = b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 514\r\n".to_vec();
                for i in 0..EACH {
                    writeln!(data, "{name} {i:05}").expect("format");
                }
                let mut s = TcpStream::connect(to).expect("connect");
                s.write_all(&data).expect("send");
            })
        })
        .collect();
    wait_until("the client's burst", || {
        lines_of(&c, "192.0.2.1").len() >= BURST
    });
    let mut other = TcpStream::connect(to).expect("connect");
    other
        .write_all(b"PROXY TCP4 192.0.2.2 127.0.0.1 40001 514\r\nanother client\n")
        .expect("send");
    drop(other);
    wait_until("the other client's line", || {
        lines_of(&c, "192.0.2.2").len() == 1
    });
    assert!(lines_of(&c, "192.0.2.1").len() < 2 * EACH);
    for s in senders {
        s.join().expect("sender");
    }
    wait_until("every line of the first client", || {
        lines_of(&c, "192.0.2.1").len() >= 2 * EACH
    });
    let elapsed = started.elapsed();
    let lines = lines_of(&c, "192.0.2.1");
    for name in ["a", "b"] {
        let got: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{name} ")))
            .collect();
        let want: Vec<String> = (0..EACH).map(|i| format!("{name} {i:05}")).collect();
        assert!(got == want.iter().collect::<Vec<_>>(), "connection {name}");
    }
    let least = Duration::from_secs_f64((2 * EACH - BURST) as f64 / RATE - 0.05);
    assert!(
        elapsed >= least,
        "{} lines of one client in {elapsed:?}: its connections did not share a bucket",
        2 * EACH
    );
    // Two buckets: the clients', none for the balancer.
    assert_eq!(get(&scrape(metrics), "pysyslog_rate_limit_sources"), 2.0);
}

/// Over TLS the same holds, but a read decrypts a whole TLS record, so the
/// bucket's debt may be one record's lines (16 KiB of plaintext at most).
#[test]
fn a_tls_sender_above_its_rate_loses_nothing_and_is_slowed() {
    const RATE: f64 = 2000.0;
    const BURST: usize = 200;
    const LINES: usize = 6000;
    const RECORD: usize = 16 * 1024;
    let (cert, key) = (tls_fixture("server-rsa.pem"), tls_fixture("server-rsa.key"));
    let limit = format!("{RATE}:{BURST}");
    let (c, _) = start(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--rate-limit-per-source",
            &limit,
        ],
        1,
    );
    let port = c.port;
    let text: String = (0..LINES).map(|i| format!("tls {i:05}\n")).collect();
    let line_bytes = text.len() / LINES;
    let started = Instant::now();
    let sender = std::thread::spawn(move || python_tls("127.0.0.2", port, b"", &text));
    wait_until("every line", || lines_of(&c, "127.0.0.2").len() >= LINES);
    let elapsed = started.elapsed();
    sender.join().expect("sender");
    let want: Vec<String> = (0..LINES).map(|i| format!("tls {i:05}")).collect();
    assert!(lines_of(&c, "127.0.0.2") == want, "lost or out of order");
    let record_lines = RECORD / line_bytes + 1;
    let least = Duration::from_secs_f64((LINES - BURST - record_lines) as f64 / RATE - 0.05);
    assert!(elapsed >= least, "{LINES} lines in {elapsed:?}");
}

/// A RELP sender above its rate is slowed the same way, every message
/// answered `200 OK` once written.
#[test]
fn a_relp_sender_above_its_rate_is_answered_for_every_message_and_slowed() {
    const RATE: f64 = 1000.0;
    const BURST: usize = 100;
    const MESSAGES: u32 = 3000;
    let relp = free_port();
    let url = format!("relp://127.0.0.1:{relp}");
    let limit = format!("{RATE}:{BURST}");
    let (c, _) = start(&["--listen", &url, "--rate-limit-per-source", &limit], 2);
    let mut s = TcpStream::connect(("127.0.0.1", relp)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut r = std::io::BufReader::new(s.try_clone().expect("clone"));
    let started = Instant::now();
    let mut input = util::relp::frame(1, "open", util::relp::OFFERS);
    for i in 0..MESSAGES {
        input.extend(util::relp::frame(i + 2, "syslog", &format!("relp {i:05}")));
    }
    let writer = std::thread::spawn(move || s.write_all(&input).expect("send"));
    let (txnr, command, _) = util::relp::read_frame(&mut r).expect("open answer");
    assert_eq!((txnr, command.as_str()), (1, "rsp"));
    for i in 0..MESSAGES {
        let answer = util::relp::read_frame(&mut r).expect("answer");
        assert_eq!(answer, (i + 2, "rsp".to_owned(), "200 OK".to_owned()));
    }
    let elapsed = started.elapsed();
    writer.join().expect("writer");
    let want: Vec<String> = (0..MESSAGES).map(|i| format!("relp {i:05}")).collect();
    assert!(lines_of(&c, "127.0.0.1") == want, "lost or out of order");
    let least = Duration::from_secs_f64((MESSAGES as usize - BURST) as f64 / RATE - 0.05);
    assert!(
        elapsed >= least,
        "{MESSAGES} messages answered in {elapsed:?}"
    );
}

/// Rate 1/s, burst 10: of N datagrams sent in bursts smaller than the
/// socket's buffer, every one is either logged or counted as rate-limited,
/// and what was logged is within the bucket's bound.
#[test]
fn a_udp_senders_excess_is_dropped_and_counted_exactly() {
    const RATE: f64 = 1.0;
    const BURST: u64 = 10;
    const BURSTS: u64 = 10;
    const EACH: u64 = 100;
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let limit = format!("{RATE}:{BURST}");
    let (c, metrics) = start(&["--listen", &url, "--rate-limit-per-source", &limit], 2);
    let at = |name: &str| format!("{name}{{listener=\"{url}\"}}");
    let sender = UdpSocket::bind("127.0.0.2:0").expect("udp");
    sender.connect(("127.0.0.1", udp)).expect("connect");
    let started = Instant::now();
    let mut sent = 0u64;
    for _ in 0..BURSTS {
        for _ in 0..EACH {
            sender
                .send(format!("datagram {sent:04}").as_bytes())
                .expect("send");
            sent += 1;
        }
        // The next burst goes once this one is read: the socket's buffer
        // never holds more than one burst, so the kernel drops none.
        wait_until("the burst read", || {
            get(
                &scrape(metrics),
                &at("pysyslog_udp_datagrams_received_total"),
            ) == sent as f64
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = scrape(metrics);
    assert_eq!(get(&s, &at("pysyslog_udp_datagrams_dropped_total")), 0.0);
    let logged = get(&s, &at("pysyslog_lines_received_total"));
    let limited = get(&s, &at("pysyslog_udp_datagrams_rate_limited_total"));
    assert_eq!(logged + limited, sent as f64, "{logged} + {limited}");
    assert!(logged >= BURST as f64, "the burst passes: {logged}");
    assert!(
        logged <= BURST as f64 + RATE * elapsed,
        "{logged} logged in {elapsed} s"
    );
    let lines = wait_data(&c, logged as usize);
    let data: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("INFO:127.0.0.2:"))
        .collect();
    assert_eq!(data.len() as f64, logged, "{lines:?}");
    // The drops are reported at once, naming the source, then once a
    // minute: one warning in this test.
    wait_until("the drop report", || {
        c.diagnostics()
            .iter()
            .any(|d| d.contains("dropped 1 UDP datagram"))
    });
    let reports: Vec<String> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.contains("rate-limit"))
        .collect();
    assert_eq!(
        reports,
        vec![format!(
            "WARNING:pysyslog.receiver:dropped 1 UDP datagram over --rate-limit-per-source {limit}: \
             127.0.0.2 (1); further drops are counted and reported once a minute"
        )]
    );
}

/// Zero, negative, non-numeric rates and bursts are refused at start-up,
/// with the exit status of any bad option, saying what is wrong.
#[test]
fn bad_values_are_refused_at_start_up() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (usage, _) = run(&["--source-prefix-v6", "129"]);
    assert_ne!(usage, Some(0));
    for (value, says) in [
        ("0", "the rate must be from 0.001"),
        ("-5", "the rate must be from 0.001"),
        ("fast", "the rate \"fast\" is not a number"),
        ("100:0", "the burst must be from 1"),
        ("100:-3", "the burst \"-3\" is not a whole number"),
        ("100:lots", "the burst \"lots\" is not a whole number"),
    ] {
        let (code, err) = run(&["--rate-limit-per-source", value]);
        assert_eq!(code, usage, "{value}: {err}");
        assert!(
            err.contains("--rate-limit-per-source") && err.contains(says),
            "{value}: {err}"
        );
    }
}

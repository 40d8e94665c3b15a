//! The metrics endpoint end to end: what each counter means (one event, one
//! increment of the counter it belongs to, nothing else), counters that go
//! on across a killed writer, and HTTP input that is not a scrape.

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use util::*;

/// A collector with `--metrics-listen` on a free port; returns it and the port.
fn start(args: &[&str]) -> (Collector, u16) {
    for _ in 0..5 {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut all = vec!["--metrics-listen", listen.as_str()];
        all.extend_from_slice(args);
        // The endpoint is bound before the writer starts and answers once
        // the loop runs: a scrape that succeeds means the collector is up.
        let c = Collector::start_on("127.0.0.1", &all, |_| {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (c, port);
        }
    }
    panic!("no metrics port");
}

/// One whole HTTP exchange: what the server sent until it closed.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    s.write_all(request).expect("request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("response");
    String::from_utf8_lossy(&out).into_owned()
}

/// The samples of a scrape: `name{labels}` -> value.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    // A client over the limit of concurrent scrapers (the start-up probes
    // may still hold slots) is closed unanswered: ask again.
    let mut response = String::new();
    for _ in 0..50 {
        response = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
        if !response.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("sample");
            (key.to_owned(), value.parse().expect("number"))
        })
        .collect()
}

fn get(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}"))
}

/// Wait until `key` reaches `value`; returns the scrape that showed it.
fn wait_for(port: u16, key: &str, value: f64) -> BTreeMap<String, f64> {
    let mut last = None;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let s = scrape(port);
        if s.get(key) == Some(&value) {
            return s;
        }
        last = s.get(key).copied();
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{key} is {last:?}, never {value}");
}

/// Wait until a scrape satisfies `cond`; returns that scrape.
fn wait_scrape(
    port: u16,
    what: &str,
    cond: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let s = scrape(port);
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `name{label="value",...}`, as the exposition writes a sample's key.
fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// The samples that differ between two scrapes, but for the processes'
/// usage, the queue's momentary state and the reload time.
fn changes(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    b.iter()
        .filter(|(k, _)| !k.starts_with("pysyslog_process_") && !k.starts_with("pysyslog_queue_"))
        .filter_map(|(k, v)| {
            let before = a.get(k).copied().unwrap_or(0.0);
            (*v != before).then(|| (k.clone(), v - before))
        })
        .collect()
}

fn listener_key(name: &str, c: &Collector) -> String {
    format!("{name}{{listener=\"tcp://127.0.0.1:{}\"}}", c.port)
}

#[test]
fn a_truncated_line_increments_the_truncation_counter_and_nothing_else_of_its_own() {
    let (c, port) = start(&["--max-line-length", "64"]);
    let lines = listener_key("pysyslog_lines_received_total", &c);
    c.send(b"short\n");
    let before = wait_for(port, &lines, 1.0);
    let mut long = vec![b'x'; 100];
    long.push(b'\n');
    c.send(&long);
    let after = wait_for(port, &lines, 2.0);
    let mut expected = BTreeMap::new();
    expected.insert(listener_key("pysyslog_connections_accepted_total", &c), 1.0);
    expected.insert(lines, 1.0);
    expected.insert(listener_key("pysyslog_received_bytes_total", &c), 101.0);
    expected.insert(listener_key("pysyslog_lines_truncated_total", &c), 1.0);
    // The handlers' counters move too (the line, and the warning about
    // its truncation): they are the writer's, tested below.
    let got: BTreeMap<String, f64> = changes(&before, &after)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("pysyslog_handler_"))
        .collect();
    assert_eq!(got, expected);
}

/// Past --max-partial-bytes, a line still arriving is logged in pieces:
/// counted in pysyslog_lines_split_total, each piece a line received.
#[test]
fn a_line_split_past_the_partial_budget_is_counted() {
    let (c, port) = start(&["--max-line-length", "1024", "--max-partial-bytes", "2048"]);
    let split = listener_key("pysyslog_lines_split_total", &c);
    let lines = listener_key("pysyslog_lines_received_total", &c);
    assert_eq!(get(&scrape(port), &split), 0.0);
    // Four lines of 1,000 bytes not yet ended, one connection each: the
    // fourth's turn finds 3,000 bytes held, past 2,048.
    let mut socks: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = c.connect();
            s.write_all(&[b'x'; 1000]).expect("send");
            s
        })
        .collect();
    let s = wait_scrape(port, "a split", |s| {
        s.get(&split).is_some_and(|&n| n >= 1.0)
    });
    let split_lines = get(&s, &split);
    assert_eq!(
        get(&s, &lines),
        split_lines,
        "each split so far is one piece"
    );
    // Ended with nothing more: a split line's empty rest is no line.
    for s in &mut socks {
        s.write_all(b"\n").expect("send");
    }
    drop(socks);
    wait_for(port, &lines, 4.0);
    wait_until("every byte", || {
        c.stdout_bytes().iter().filter(|&&b| b == b'x').count() == 4000
    });
}

#[test]
fn a_killed_writer_counts_one_restart_and_the_counters_go_on() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out.log");
    let config = dir.path().join("logging.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "root": {{"level": "INFO", "handlers": ["file"]}},
                "handlers": {{"file": {{"class": "logging.FileHandler", "filename": "{}"}}}}}}"#,
            out.display()
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let (c, port) = start(&["-l", &config]);
    let lines = listener_key("pysyslog_lines_received_total", &c);
    let emitted = "pysyslog_handler_records_emitted_total{handler=\"file\"}";
    c.send(&b"one line\n".repeat(10));
    wait_for(port, &lines, 10.0);
    wait_until("the lines written", || count_lines(&out) >= 11);
    let before = wait_for(port, emitted, count_lines(&out) as f64);
    assert_eq!(get(&before, "pysyslog_writer_restarts_total"), 0.0);

    let writer = c.writer_pid().expect("writer");
    signal(writer, libc::SIGKILL);
    c.wait_new_writer(writer);
    let restarted = wait_for(port, "pysyslog_writer_restarts_total", 1.0);
    assert_eq!(get(&restarted, &lines), 10.0);
    let cpu = "pysyslog_process_cpu_seconds_total{process=\"writer\"}";
    assert!(
        get(&restarted, cpu) >= get(&before, cpu),
        "the dead writer's CPU time is kept"
    );
    assert!(get(&restarted, emitted) >= get(&before, emitted));

    c.send(&b"after\n".repeat(5));
    let after = wait_for(port, &lines, 15.0);
    // The 5 lines and the message about the restart, on top of what the dead
    // writer had counted.
    wait_until("the lines written", || count_lines(&out) >= 17);
    let after_emitted = wait_for(port, emitted, count_lines(&out) as f64);
    assert_eq!(get(&after, "pysyslog_writer_restarts_total"), 1.0);
    assert!(get(&after_emitted, emitted) >= get(&before, emitted) + 6.0);
}

#[test]
fn a_tls_hello_on_the_plain_listener_is_a_wrong_protocol_refusal() {
    let (c, port) = start(&[]);
    c.send(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ]);
    let key = format!(
        "pysyslog_connections_refused_total{{listener=\"tcp://127.0.0.1:{}\",reason=\"wrong_protocol\"}}",
        c.port
    );
    let s = wait_for(port, &key, 1.0);
    assert_eq!(
        get(&s, &listener_key("pysyslog_lines_received_total", &c)),
        0.0
    );
    assert_eq!(get(&s, &listener_key("pysyslog_connections_open", &c)), 0.0);
}

#[test]
fn reloads_are_counted_by_result() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("logging.json");
    let good = r#"{"version": 1, "root": {"level": "INFO", "handlers": ["h"]},
                   "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}}}"#;
    std::fs::write(&config, good).expect("config");
    let config_arg = config.to_string_lossy().into_owned();
    let (c, port) = start(&["-l", &config_arg]);
    let first = scrape(port);
    signal(c.pid(), libc::SIGHUP);
    let ok = wait_for(
        port,
        "pysyslog_config_reloads_total{result=\"success\"}",
        1.0,
    );
    assert!(
        get(&ok, "pysyslog_config_last_reload_success_timestamp_seconds")
            > get(
                &first,
                "pysyslog_config_last_reload_success_timestamp_seconds"
            )
    );
    std::fs::write(&config, "{not json").expect("config");
    signal(c.pid(), libc::SIGHUP);
    let bad = wait_for(
        port,
        "pysyslog_config_reloads_total{result=\"failure\"}",
        1.0,
    );
    assert_eq!(
        get(&bad, "pysyslog_config_reloads_total{result=\"success\"}"),
        1.0
    );
    // Valid, but the writer cannot open the file: a failure too.
    let missing = dir.path().join("no-such-dir").join("x.log");
    let unopenable = format!(
        r#"{{"version": 1, "root": {{"level": "INFO", "handlers": ["f"]}},
            "handlers": {{"f": {{"class": "logging.FileHandler", "filename": "{}"}}}}}}"#,
        missing.display()
    );
    std::fs::write(&config, unopenable).expect("config");
    signal(c.pid(), libc::SIGHUP);
    let unapplied = wait_for(
        port,
        "pysyslog_config_reloads_total{result=\"failure\"}",
        2.0,
    );
    assert_eq!(
        get(
            &unapplied,
            "pysyslog_config_reloads_total{result=\"success\"}"
        ),
        1.0
    );
    assert_eq!(
        get(
            &unapplied,
            "pysyslog_config_last_reload_success_timestamp_seconds"
        ),
        get(&ok, "pysyslog_config_last_reload_success_timestamp_seconds")
    );
}

#[test]
fn http_that_is_not_a_scrape_is_answered_and_closed() {
    let (_c, port) = start(&[]);
    let status = |req: &[u8]| {
        exchange(port, req)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
    assert_eq!(
        status(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(
        status(b"\x00\x01garbage\r\n\r\n"),
        "HTTP/1.1 400 Bad Request"
    );
    // A head that never ends: cut at the bound, answered, closed.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat(b'a').take(64 * 1024));
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let _ = s.write_all(&huge);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // HEAD: the head only.
    let head = exchange(port, b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"));
}

/// Whether the collector has closed `s` by now (EOF or reset), without
/// waiting: `false` while it is open with nothing to read.
fn closed_now(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 16];
    let closed = match (&*s).read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).expect("blocking");
    closed
}

#[test]
fn silent_clients_give_way_to_a_scrape_and_are_closed_at_their_deadline() {
    let (_c, port) = start(&[]);
    // The loop runs and the start-up probes are gone.
    scrape(port);
    std::thread::sleep(Duration::from_millis(100));
    // Four clients that say nothing take every slot.
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        std::thread::sleep(Duration::from_millis(50));
    }
    // A scrape is answered all the same: it takes the oldest one's slot.
    let response = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(closed_now(&idle[0]), "the oldest silent client is closed");
    assert!(
        idle[1..].iter().all(|s| !closed_now(s)),
        "the others keep their slots"
    );
    // The stalled ones are closed at their deadline (10 s).
    let started = Instant::now();
    for mut s in idle {
        s.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // And scrapes are served again.
    assert!(get(&scrape(port), "pysyslog_writer_restarts_total") == 0.0);
}

/// One whole HTTP exchange from `source` (a loopback address).
fn exchange_from(source: &str, port: u16, request: &[u8]) -> String {
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = connect_from(source, to);
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn only_clients_in_metrics_allow_are_served() {
    let request = b"GET /metrics HTTP/1.1\r\n\r\n";
    let (_c, port) = start(&["--metrics-allow", "127.0.0.3"]);
    let mut served = String::new();
    for _ in 0..50 {
        // The start-up probes may still hold slots.
        served = exchange_from("127.0.0.3", port, request);
        if !served.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served.starts_with("HTTP/1.1 200 OK"), "{served}");
    for other in ["127.0.0.1", "127.0.0.2"] {
        assert_eq!(exchange_from(other, port, request), "", "{other}");
    }
    // By default: loopback, and --allow's networks (see cli.rs' tests).
    let (_c, port) = start(&["--allow", "127.0.0.5"]);
    assert!(exchange_from("127.0.0.2", port, request).starts_with("HTTP/1.1 200 OK"));
}

/// The changes between two scrapes that are not the writer's handlers'
/// (which count the collector's own messages about the events too).
fn receiver_changes(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    changes(a, b)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("pysyslog_handler_"))
        .collect()
}

fn refused_key(listener: &str, reason: &str) -> String {
    key(
        "pysyslog_connections_refused_total",
        &[("listener", listener), ("reason", reason)],
    )
}

#[test]
fn datagrams_from_logger_and_python_are_counted_and_refused_ones_apart() {
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let (c, port) = start(&[
        "--listen",
        &url,
        "--allow",
        "127.0.0.1",
        "--allow",
        "127.0.0.2",
    ]);
    let at = |name: &str| key(name, &[("listener", &url)]);
    let udp_port = udp.to_string();
    let status = std::process::Command::new("logger")
        .args([
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &udp_port,
            "--rfc3164",
            "-t",
            "t",
            "logger line",
        ])
        .status()
        .expect("logger");
    assert!(status.success());
    let script = r#"
import logging, logging.handlers, socket, sys
h = logging.handlers.SysLogHandler(address=("127.0.0.1", int(sys.argv[1])), socktype=socket.SOCK_DGRAM)
log = logging.getLogger("py")
log.addHandler(h)
log.warning("python line")
h.close()
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script, &udp_port])
        .status()
        .expect("python3");
    assert!(status.success());
    let before = wait_for(port, &at("pysyslog_lines_received_total"), 2.0);
    assert_eq!(
        get(&before, &at("pysyslog_udp_datagrams_received_total")),
        2.0
    );
    assert!(get(&before, &at("pysyslog_received_bytes_total")) > 0.0);
    let lines = wait_data(&c, 2);
    assert!(
        lines.iter().any(|l| l.ends_with("t: logger line")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("python line")),
        "{lines:?}"
    );

    let to = ("127.0.0.1", udp);
    let line = b"raw line\0";
    let empty = b"\0\0";
    let allowed = std::net::UdpSocket::bind("127.0.0.2:0").expect("udp");
    allowed.send_to(line, to).expect("send");
    allowed.send_to(empty, to).expect("send");
    std::net::UdpSocket::bind("127.0.0.4:0")
        .expect("udp")
        .send_to(b"refused", to)
        .expect("send");
    let after = wait_for(port, &at("pysyslog_udp_datagrams_received_total"), 5.0);
    let mut expected = BTreeMap::new();
    expected.insert(at("pysyslog_udp_datagrams_received_total"), 3.0);
    expected.insert(at("pysyslog_udp_datagrams_refused_total"), 1.0);
    expected.insert(at("pysyslog_lines_received_total"), 1.0);
    expected.insert(
        at("pysyslog_received_bytes_total"),
        (line.len() + empty.len()) as f64,
    );
    assert_eq!(receiver_changes(&before, &after), expected);
    assert_eq!(
        get(&after, &at("pysyslog_udp_datagrams_dropped_total")),
        0.0
    );
}

#[test]
fn datagrams_the_kernel_dropped_are_counted_and_with_those_read_make_all_sent() {
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let (c, port) = start(&["--listen", &url, "--udp-recv-buffer", "65536"]);
    let at = |name: &str| key(name, &[("listener", &url)]);
    let sender = std::net::UdpSocket::bind("127.0.0.2:0").expect("udp");
    sender.connect(("127.0.0.1", udp)).expect("connect");
    // The receiver reads nothing while stopped: the socket's buffer fills
    // and the kernel drops the rest.
    let receiver = c.receiver_pid().expect("receiver");
    signal(receiver, libc::SIGSTOP);
    let mut sent = 0u64;
    for _ in 0..3000 {
        if sender.send(&[b'y'; 200]).is_ok() {
            sent += 1;
        }
    }
    signal(receiver, libc::SIGCONT);
    // The kernel tells its drop count with the next datagram queued: send
    // one at a time until every datagram sent is accounted for.
    let deadline = Instant::now() + PATIENCE;
    let s = loop {
        if sender.send(b"marker").is_ok() {
            sent += 1;
        }
        let s = scrape(port);
        let read = get(&s, &at("pysyslog_udp_datagrams_received_total"));
        let dropped = get(&s, &at("pysyslog_udp_datagrams_dropped_total"));
        assert!(read + dropped <= sent as f64, "{read} + {dropped} > {sent}");
        if read + dropped == sent as f64 {
            break s;
        }
        assert!(Instant::now() < deadline, "{read} + {dropped} != {sent}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = get(&s, &at("pysyslog_udp_datagrams_received_total"));
    assert!(get(&s, &at("pysyslog_udp_datagrams_dropped_total")) > 0.0);
    assert_eq!(get(&s, &at("pysyslog_lines_received_total")), read);
}

#[test]
fn a_source_outside_allow_increments_exactly_the_allow_list_refusals() {
    let (c, port) = start(&["--allow", "127.0.0.2"]);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let before = scrape(port);
    let mut s = connect_from("127.0.0.4", c.addr());
    let _ = s.write_all(b"refused\n");
    let key = refused_key(&listener, "allow_list");
    let after = wait_for(port, &key, 1.0);
    assert_eq!(
        receiver_changes(&before, &after),
        BTreeMap::from([(key, 1.0)])
    );
    let mut out = Vec::new();
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    assert_eq!(s.read_to_end(&mut out).unwrap_or(0), 0, "closed");
}

#[test]
fn a_source_at_its_connection_limit_is_a_per_source_refusal() {
    let (c, port) = start(&["--max-connections-per-source", "1"]);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let lines = listener_key("pysyslog_lines_received_total", &c);
    let mut first = connect_from("127.0.0.3", c.addr());
    first.write_all(b"first\n").expect("send");
    let before = wait_for(port, &lines, 1.0);
    let mut second = connect_from("127.0.0.3", c.addr());
    let _ = second.write_all(b"second\n");
    let key = refused_key(&listener, "per_source_limit");
    let after = wait_for(port, &key, 1.0);
    assert_eq!(
        receiver_changes(&before, &after),
        BTreeMap::from([(key, 1.0)])
    );
    drop(first);
}

#[test]
fn a_proxied_client_at_its_connection_limit_is_a_per_source_refusal() {
    let (c, port) = start(&[
        "--max-connections-per-source",
        "1",
        "--proxy-protocol-from",
        "127.0.0.5",
    ]);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let lines = listener_key("pysyslog_lines_received_total", &c);
    let open = listener_key("pysyslog_connections_open", &c);
    let header = b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\n";
    let mut first = connect_from("127.0.0.5", c.addr());
    first.write_all(header).expect("send");
    first.write_all(b"first\n").expect("send");
    let before = wait_for(port, &lines, 1.0);
    // The balancer may open more, but not a second for the same client:
    // refused once its header names it, so it was accepted first.
    let mut second = connect_from("127.0.0.5", c.addr());
    second.write_all(header).expect("send");
    let _ = second.write_all(b"second\n");
    let key = refused_key(&listener, "per_source_limit");
    let after = wait_scrape(port, "the refusal", |s| {
        s.get(&key) == Some(&1.0) && s.get(&open) == Some(&1.0)
    });
    assert_eq!(
        receiver_changes(&before, &after),
        BTreeMap::from([
            (listener_key("pysyslog_connections_accepted_total", &c), 1.0),
            (key, 1.0)
        ])
    );
    drop(first);
}

#[test]
fn bad_proxy_headers_and_proxied_clients_outside_allow_are_told_apart() {
    let (c, port) = start(&["--proxy-protocol-from", "127.0.0.5", "--allow", "127.0.0.2"]);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let accepted = listener_key("pysyslog_connections_accepted_total", &c);
    let open = listener_key("pysyslog_connections_open", &c);
    let mut before = scrape(port);
    for (input, reason) in [
        (
            &b"PROXY TCP4 127.0.0.2 garbage\r\nline\n"[..],
            "proxy_header",
        ),
        (
            b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 514\r\nforged\n",
            "allow_list",
        ),
    ] {
        let mut s = connect_from("127.0.0.5", c.addr());
        s.write_all(input).expect("send");
        let key = refused_key(&listener, reason);
        let want = get(&before, &key) + 1.0;
        let after = wait_scrape(port, reason, |s| {
            s.get(&key) == Some(&want) && s.get(&open) == Some(&0.0)
        });
        assert_eq!(
            receiver_changes(&before, &after),
            BTreeMap::from([(accepted.clone(), 1.0), (key, 1.0)]),
            "{reason}"
        );
        before = after;
    }
    // A good header still serves its client.
    let mut s = connect_from("127.0.0.5", c.addr());
    s.write_all(b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\nproxied\n")
        .expect("send");
    drop(s);
    wait_for(
        port,
        &listener_key("pysyslog_lines_received_total", &c),
        1.0,
    );
}

#[test]
fn a_relp_session_that_breaks_the_protocol_is_a_relp_refusal() {
    let relp = free_port();
    let url = format!("relp://127.0.0.1:{relp}");
    let (_c, port) = start(&["--listen", &url]);
    let before = scrape(port);
    let offers = "relp_version=0\nrelp_software=test\ncommands=syslog";
    let mut s = TcpStream::connect(("127.0.0.1", relp)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    s.write_all(format!("1 open {} {offers}\n2 bogus 0\n", offers.len()).as_bytes())
        .expect("send");
    let mut answers = Vec::new();
    let _ = s.read_to_end(&mut answers);
    assert!(
        String::from_utf8_lossy(&answers).contains("serverclose"),
        "{}",
        String::from_utf8_lossy(&answers)
    );
    let key = refused_key(&url, "relp_protocol");
    let after = wait_for(port, &key, 1.0);
    let refusals: BTreeMap<String, f64> = receiver_changes(&before, &after)
        .into_iter()
        .filter(|(k, _)| k.starts_with("pysyslog_connections_refused_total"))
        .collect();
    assert_eq!(refusals, BTreeMap::from([(key, 1.0)]));
}

/// A logging configuration in `dir` with `handlers` (JSON members) on the
/// root logger, and the formatter `m` (`%(message)s`). The collector's own
/// messages go to a NullHandler: the files hold the lines sent, no more.
fn logging_config(dir: &Path, handlers: &str, root: &[&str]) -> String {
    let path = dir.join("logging.json");
    let root: Vec<String> = root.iter().map(|h| format!("\"{h}\"")).collect();
    std::fs::write(
        &path,
        format!(
            r#"{{"version": 1,
              "formatters": {{"m": {{"format": "%(message)s"}}}},
              "handlers": {{{handlers}, "none": {{"class": "logging.NullHandler"}}}},
              "loggers": {{"pysyslog": {{"handlers": ["none"], "propagate": false}}}},
              "root": {{"level": "INFO", "handlers": [{}]}}}}"#,
            root.join(", ")
        ),
    )
    .expect("config");
    path.to_string_lossy().into_owned()
}

fn handler_key(name: &str, handler: &str) -> String {
    key(name, &[("handler", handler)])
}

/// Files in `dir` whose name starts with `prefix`.
fn files_named(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
}

#[test]
fn a_rotating_file_handler_counts_one_rotation_per_file_rolled() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out.log");
    let config = logging_config(
        dir.path(),
        &format!(
            r#""rot": {{"class": "logging.handlers.RotatingFileHandler", "filename": "{}",
                        "maxBytes": 200, "backupCount": 1000, "formatter": "m"}}"#,
            out.display()
        ),
        &["rot"],
    );
    let (c, port) = start(&["-l", &config]);
    let lines: String = (0..30)
        .map(|i| format!("line {i:02} {}\n", "x".repeat(40)))
        .collect();
    c.send(lines.as_bytes());
    let s = wait_for(
        port,
        &handler_key("pysyslog_handler_records_emitted_total", "rot"),
        30.0,
    );
    let rolled = files_named(dir.path(), "out.log.");
    assert!(rolled > 1, "{rolled} files rolled");
    assert_eq!(
        get(
            &s,
            &handler_key("pysyslog_handler_file_rotations_total", "rot")
        ),
        rolled as f64
    );
    assert_eq!(
        get(
            &s,
            &handler_key("pysyslog_handler_file_reopens_total", "rot")
        ),
        0.0
    );
}

#[test]
fn a_timed_rotating_file_handler_counts_its_rollovers() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out.log");
    let config = logging_config(
        dir.path(),
        &format!(
            r#""timed": {{"class": "logging.handlers.TimedRotatingFileHandler", "filename": "{}",
                          "when": "S", "interval": 1, "formatter": "m"}}"#,
            out.display()
        ),
        &["timed"],
    );
    let (c, port) = start(&["-l", &config]);
    let rotations = handler_key("pysyslog_handler_file_rotations_total", "timed");
    // A rollover happens at the first record after its time: send until
    // two have.
    let deadline = Instant::now() + PATIENCE;
    let mut sent = 0.0;
    loop {
        c.send(b"tick\n");
        sent += 1.0;
        let s = wait_for(
            port,
            &handler_key("pysyslog_handler_records_emitted_total", "timed"),
            sent,
        );
        if get(&s, &rotations) >= 2.0 {
            let rolled = files_named(dir.path(), "out.log.");
            assert_eq!(get(&s, &rotations), rolled as f64);
            break;
        }
        assert!(Instant::now() < deadline, "no two rollovers");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_watched_file_moved_away_and_sighup_count_reopens() {
    let dir = tempfile::tempdir().expect("dir");
    let watched = dir.path().join("watched.log");
    let plain = dir.path().join("plain.log");
    let config = logging_config(
        dir.path(),
        &format!(
            r#""watched": {{"class": "logging.handlers.WatchedFileHandler", "filename": "{}", "formatter": "m"}},
               "plain": {{"class": "logging.FileHandler", "filename": "{}", "formatter": "m"}}"#,
            watched.display(),
            plain.display()
        ),
        &["watched", "plain"],
    );
    let (c, port) = start(&["-l", &config]);
    let reopens = |h: &str| handler_key("pysyslog_handler_file_reopens_total", h);
    c.send(b"one\n");
    let s = wait_for(
        port,
        &handler_key("pysyslog_handler_records_emitted_total", "watched"),
        1.0,
    );
    assert_eq!(
        (get(&s, &reopens("watched")), get(&s, &reopens("plain"))),
        (0.0, 0.0)
    );
    std::fs::rename(&watched, dir.path().join("watched.log.moved")).expect("move");
    c.send(b"two\n");
    let s = wait_for(port, &reopens("watched"), 1.0);
    assert_eq!(get(&s, &reopens("plain")), 0.0);
    wait_until("the line in the new file", || {
        std::fs::read_to_string(&watched).is_ok_and(|t| t == "two\n")
    });
    // SIGHUP reopens every file handler (and reloads: the counts go on).
    signal(c.pid(), libc::SIGHUP);
    let s = wait_for(port, &reopens("plain"), 1.0);
    assert_eq!(get(&s, &reopens("watched")), 2.0);
    assert_eq!(
        get(
            &s,
            &handler_key("pysyslog_handler_file_rotations_total", "plain")
        ),
        0.0
    );
}

#[test]
fn a_handler_on_a_full_disk_reports_the_bytes_it_holds_until_it_recovers() {
    let disk = Tmpfs::mount("1m");
    let dir = tempfile::tempdir().expect("dir");
    let out = disk.path().join("out.log");
    let config = logging_config(
        dir.path(),
        &format!(
            r#""out": {{"class": "logging.FileHandler", "filename": "{}", "formatter": "m"}}"#,
            out.display()
        ),
        &["out"],
    );
    let (mut c, port) = start(&["-l", &config]);
    let held = handler_key("pysyslog_handler_held_bytes", "out");
    assert_eq!(get(&scrape(port), &held), 0.0);
    let filler = disk.fill();
    let line = "held line";
    c.send(format!("{line}\n").as_bytes());
    let s = wait_scrape(port, "bytes held", |s| {
        s.get(&held).is_some_and(|v| *v > 0.0)
    });
    assert_eq!(get(&s, &held), (line.len() + 1) as f64);
    assert!(
        get(
            &s,
            &handler_key("pysyslog_handler_write_errors_total", "out")
        ) > 0.0
    );
    std::fs::remove_file(filler).expect("free space");
    wait_for(port, &held, 0.0);
    assert_eq!(
        std::fs::read_to_string(&out).expect("out"),
        format!("{line}\n")
    );
    // The writer's file is on the tmpfs: stop it before the unmount.
    c.stop();
}

//! End-to-end tests of the `pysyslog-flood` binary against a tiny in-test TCP
//! sink on 127.0.0.1 that writes what it receives to a file the way a collector
//! would (a prefix, then the message, one line per message).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

const FLOOD: &str = env!("CARGO_BIN_EXE_pysyslog-flood");

#[derive(Clone, Copy)]
enum SinkMode {
    /// Split on LF; write each line to the file.
    Lf { drop_every: Option<u64> },
    /// Parse `LEN SP MSG`; write each MSG plus LF to the file.
    Octet,
    /// Read and throw away (throughput measurement).
    Discard,
}

/// A collector stand-in: accepts forever, one thread per connection.
fn start_sink(mode: SinkMode, out: Option<&Path>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let addr = listener.local_addr().expect("sink addr");
    let file = out.map(|p| {
        Arc::new(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open sink file"),
        ))
    });
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let file = file.clone();
            thread::spawn(move || serve(conn, mode, file));
        }
    });
    addr
}

fn serve(mut conn: TcpStream, mode: SinkMode, file: Option<Arc<Mutex<File>>>) {
    let peer = conn
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let prefix = format!("INFO:{peer}:");
    let mut buf = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::new();
    let mut count = 0u64;
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if matches!(mode, SinkMode::Discard) {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::with_capacity(pending.len() * 2);
        let mut used = 0;
        match mode {
            SinkMode::Lf { drop_every } => {
                while let Some(i) = pending[used..].iter().position(|&b| b == b'\n') {
                    let line = &pending[used..used + i + 1];
                    used += i + 1;
                    count += 1;
                    if drop_every.is_some_and(|k| count % k == 0) {
                        continue;
                    }
                    out.extend_from_slice(prefix.as_bytes());
                    out.extend_from_slice(line);
                }
            }
            SinkMode::Octet => loop {
                let rest = &pending[used..];
                let Some(sp) = rest.iter().position(|&b| b == b' ') else {
                    break;
                };
                let len: usize = std::str::from_utf8(&rest[..sp])
                    .expect("utf8 length")
                    .parse()
                    .expect("octet length");
                if rest.len() < sp + 1 + len {
                    break;
                }
                out.extend_from_slice(b"2026-11-24 03:00:00,123 127.0.0.1 ");
                out.extend_from_slice(&rest[sp + 1..sp + 1 + len]);
                out.push(b'\n');
                used += sp + 1 + len;
            },
            SinkMode::Discard => {}
        }
        pending.drain(..used);
        if let Some(f) = &file {
            f.lock()
                .expect("sink lock")
                .write_all(&out)
                .expect("sink write");
        }
    }
}

/// A fresh path in the temp directory, unique to this test process.
fn temp_file(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pysyslog-flood-test-{}-{name}", std::process::id()));
    let _ = fs::remove_file(&p);
    p
}

fn flood(args: &[&str]) -> Output {
    Command::new(FLOOD)
        .args(args)
        .output()
        .expect("run pysyslog-flood")
}

fn json_report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): stdout={stdout:?} stderr={:?}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn every_line_arrives_and_is_verified() {
    let path = temp_file("ok.log");
    let addr = start_sink(SinkMode::Lf { drop_every: None }, Some(&path));
    let port = addr.port().to_string();
    let path_s = path.to_string_lossy().to_string();
    let out = flood(&[
        "-c",
        "4",
        "-n",
        "20000",
        "--json",
        "--run-id",
        "ok1",
        "--verify",
        &path_s,
        "127.0.0.1",
        &port,
    ]);
    let j = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(j["run_id"], "ok1");
    assert_eq!(j["connections"], 4);
    assert_eq!(j["lines"], 80_000);
    assert_eq!(j["bytes"], 80_000 * 120);
    assert_eq!(j["expected"], 80_000);
    assert_eq!(j["received"], 80_000);
    assert_eq!(j["lost"], 0);
    assert_eq!(j["duplicated"], 0);
    assert_eq!(j["invalid"], 0);
    assert!(j["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(j["lines_per_sec"].as_f64().is_some_and(|r| r > 0.0));
    // Every line the sink wrote has the size we asked for plus the prefix.
    let text = fs::read_to_string(&path).expect("read sink file");
    assert_eq!(text.lines().count(), 80_000);
    assert!(text
        .lines()
        .all(|l| l.len() == "INFO:127.0.0.1:".len() + 119 && l.contains("<14>flood ok1 c=")));
    let _ = fs::remove_file(&path);
}

#[test]
fn source_addresses_send_each_connection_from_its_own_address() {
    let path = temp_file("sources.log");
    let addr = start_sink(SinkMode::Lf { drop_every: None }, Some(&path));
    let port = addr.port().to_string();
    let path_s = path.to_string_lossy().to_string();
    let out = flood(&[
        "-c",
        "3",
        "--source-addresses",
        "260",
        "-n",
        "50",
        "--json",
        "--run-id",
        "src1",
        "--verify",
        &path_s,
        "127.0.0.1",
        &port,
    ]);
    let j = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(
        (j["connections"].as_u64(), j["source_addresses"].as_u64()),
        (Some(3), Some(260))
    );
    assert_eq!(
        (j["expected"].as_u64(), j["received"].as_u64()),
        (Some(13_000), Some(13_000))
    );
    assert!(j["end_unix_s"].as_f64() >= j["start_unix_s"].as_f64());
    // Connection c came from 127.0.X.Y, X = 1 + c / 250, Y = 1 + c % 250.
    let text = fs::read_to_string(&path).expect("read sink file");
    let mut seen = std::collections::HashSet::new();
    for l in text.lines() {
        let peer = l
            .strip_prefix("INFO:")
            .and_then(|r| r.split(':').next())
            .unwrap();
        let c: u32 = l.split("c=").nth(1).unwrap()[..4].parse().unwrap();
        assert_eq!(
            peer,
            format!("127.0.{}.{}", 1 + c / 250, 1 + c % 250),
            "{l}"
        );
        seen.insert(peer.to_string());
    }
    assert_eq!(seen.len(), 260);
    let _ = fs::remove_file(&path);
}

#[test]
fn octet_framing_arrives_and_is_verified_with_text_report() {
    let path = temp_file("octet.log");
    let addr = start_sink(SinkMode::Octet, Some(&path));
    let port = addr.port().to_string();
    let path_s = path.to_string_lossy().to_string();
    let out = flood(&[
        "-c",
        "2",
        "-n",
        "5000",
        "-s",
        "200",
        "--framing",
        "octet",
        "--verify",
        &path_s,
        "127.0.0.1",
        &port,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("lines:        10000 (5000 per connection)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("bytes:        2000000 (200 per line, octet framing)\n"));
    assert!(stdout.contains("received:     10000\n"));
    assert!(stdout.contains("lost:         0\n"));
    assert!(stdout.contains("duplicated:   0\n"));
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_file(&path);
}

#[test]
fn dropped_lines_are_reported_as_lost() {
    let path = temp_file("lossy.log");
    let addr = start_sink(
        SinkMode::Lf {
            drop_every: Some(1000),
        },
        Some(&path),
    );
    let port = addr.port().to_string();
    let path_s = path.to_string_lossy().to_string();
    // Lines are missing for good, so verification ends at its timeout.
    let out = flood(&[
        "-c",
        "3",
        "-n",
        "10000",
        "--json",
        "--verify",
        &path_s,
        "--verify-timeout",
        "2",
        "127.0.0.1",
        &port,
    ]);
    let j = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{j}");
    assert_eq!(j["lines"], 30_000);
    assert_eq!(j["lost"], 30);
    assert_eq!(j["received"], 29_970);
    assert_eq!(j["duplicated"], 0);
    assert_eq!(j["verify_timed_out"], true);
    let _ = fs::remove_file(&path);
}

#[test]
fn duplicated_lines_from_a_rerun_are_not_counted_but_new_ones_are() {
    // The same run id sent twice into the same file: the second run only
    // counts what arrived after it started, so it sees no duplicates.
    let path = temp_file("rerun.log");
    let addr = start_sink(SinkMode::Lf { drop_every: None }, Some(&path));
    let port = addr.port().to_string();
    let path_s = path.to_string_lossy().to_string();
    let args = [
        "-c",
        "2",
        "-n",
        "3000",
        "--json",
        "--run-id",
        "again",
        "--verify",
        &path_s,
        "127.0.0.1",
        &port,
    ];
    for _ in 0..2 {
        let out = flood(&args);
        let j = json_report(&out);
        assert_eq!(out.status.code(), Some(0), "{j}");
        assert_eq!(j["received"], 6000);
        assert_eq!(j["duplicated"], 0);
    }
    let _ = fs::remove_file(&path);
}

#[test]
fn connection_refused_is_exit_2_with_the_address() {
    // Bind then close, so nothing listens on this port.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = flood(&["-c", "2", "-n", "10", "127.0.0.1", &port.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("connection 1 of 2"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_are_exit_2() {
    for args in [
        &["-s", "10", "127.0.0.1", "1"][..],
        &["-c", "0", "127.0.0.1", "1"],
        &["--framing", "xml", "127.0.0.1", "1"],
        &["--run-id", "a b", "127.0.0.1", "1"],
        &["127.0.0.1"],
    ] {
        let out = flood(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn peer_reset_while_sending_is_exit_2_with_the_address() {
    // A peer that reads a little, then closes with unread data (RST).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
        }
    });
    let out = flood(&["-c", "1", "-n", "1000000", "127.0.0.1", &port.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "sending on connection 0 to 127.0.0.1:{port} failed"
        )),
        "{err}"
    );
    // The report of what was sent before the failure is still printed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("lines:"));
}

/// Throughput into a sink that discards: `cargo test --release --test flood
/// -- --ignored --nocapture throughput`. `FLOOD_BENCH_CONNECTIONS` and
/// `FLOOD_BENCH_LINES` (per connection) change the shape of the run.
#[test]
#[ignore]
fn throughput_into_a_discarding_sink() {
    let addr = start_sink(SinkMode::Discard, None);
    let port = addr.port().to_string();
    let conns = std::env::var("FLOOD_BENCH_CONNECTIONS").unwrap_or_else(|_| "4".into());
    let lines = std::env::var("FLOOD_BENCH_LINES").unwrap_or_else(|_| "2500000".into());
    let out = flood(&["-c", &conns, "-n", &lines, "--json", "127.0.0.1", &port]);
    let j = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    println!("{j}");
}

//! The metrics as Prometheus sees them: a real Prometheus (Debian's
//! package, installed by tests/run as root) scrapes the collector on
//! loopback, and its query API must report exactly the lines sent;
//! `promtool` checks the exposition and the shipped alerting rules.
//!
//! Skipped, with a message, where `prometheus`/`promtool` are not installed.
//! The Prometheus started here runs in the foreground with its own
//! configuration and storage in a temporary directory, and is stopped by
//! its PID.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/prometheus/pysyslog-alerts.yml"
);

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A whole HTTP/1.0 GET: the body, once the status is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then_some(())?;
    head.split(' ').nth(1).filter(|c| *c == "200")?;
    Some(body.to_owned())
}

/// Stops the Prometheus this test started, by its PID.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        signal(self.0.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(dir: &Path, target: u16) -> (Server, u16) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {RULES}\n\
             scrape_configs:\n  - job_name: pysyslog\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .expect("prometheus.yml");
    for _ in 0..5 {
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut server = Server(child);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if http_get(port, "/-/ready").is_some() {
                return (server, port);
            }
            if let Ok(Some(_)) = server.0.try_wait() {
                break; // lost the port: another try
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(server);
    }
    panic!(
        "prometheus did not start: {}",
        std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
    );
}

/// The value of an instant query's single sample, if there is one.
fn query(port: u16, expr: &str) -> Option<f64> {
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(port, &format!("/api/v1/query?query={encoded}"))?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = json.pointer("/data/result")?.as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0].pointer("/value/1")?.as_str()?.parse().ok()
}

/// `promtool check metrics` on `exposition`: no complaint at all.
fn promtool_accepts(exposition: &str) {
    let checked = output_fed(
        Command::new("promtool")
            .args(["check", "metrics"])
            .stderr(Stdio::piped()),
        exposition.as_bytes(),
        "promtool",
    );
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// A scrape of a collector with every kind of series: a UDP listener that
/// received a datagram, a file handler that rolled over.
fn every_kind_of_series() -> String {
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let udp = free_port();
    let url = format!("udp://127.0.0.1:{udp}");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("logging.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "root": {{"level": "INFO", "handlers": ["file"]}},
                "handlers": {{"file": {{"class": "logging.handlers.RotatingFileHandler",
                    "filename": "{}", "maxBytes": 10, "backupCount": 2}}}}}}"#,
            dir.path().join("out.log").display()
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let _c = Collector::start_on(
        "127.0.0.1",
        &["--metrics-listen", &listen, "--listen", &url, "-l", &config],
        |_| http_get(metrics_port, "/metrics").is_some(),
    );
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("udp")
        .send_to(b"<13>a datagram", ("127.0.0.1", udp))
        .expect("send");
    let sample = format!("pysyslog_udp_datagrams_received_total{{listener=\"{url}\"}} 1\n");
    let mut exposition = String::new();
    wait_until("the datagram counted and written", || {
        exposition = http_get(metrics_port, "/metrics").unwrap_or_default();
        exposition.contains(&sample)
            && !exposition.contains("pysyslog_handler_file_rotations_total{handler=\"file\"} 0\n")
    });
    exposition
}

#[test]
fn prometheus_scrapes_exactly_the_lines_sent_and_promtool_accepts_the_exposition_and_rules() {
    if !installed("prometheus") || !installed("promtool") {
        eprintln!("skipped: prometheus/promtool not installed (tests/run installs them as root)");
        return;
    }
    let rules = Command::new("promtool")
        .args(["check", "rules", RULES])
        .output()
        .expect("promtool");
    assert!(
        rules.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&rules.stdout),
        String::from_utf8_lossy(&rules.stderr)
    );

    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let c = Collector::start(&["--metrics-listen", &listen]);
    let sent = 1000;
    for chunk in 0..4 {
        let lines: String = (0..sent / 4)
            .map(|i| format!("<13>line {chunk}-{i}\n"))
            .collect();
        c.send(lines.as_bytes());
    }
    c.wait_lines(sent);

    promtool_accepts(&http_get(metrics_port, "/metrics").expect("scrape"));
    promtool_accepts(&every_kind_of_series());

    let dir = tempfile::tempdir().expect("dir");
    let (_server, port) = start_prometheus(dir.path(), metrics_port);
    let mut last = None;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        last = query(port, "pysyslog_lines_received_total");
        if last == Some(sent as f64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        last,
        Some(sent as f64),
        "pysyslog_lines_received_total in Prometheus"
    );
    assert_eq!(query(port, "up{job=\"pysyslog\"}"), Some(1.0));
}

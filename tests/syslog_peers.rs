//! `--parse-syslog` against real senders on loopback: rsyslog's omfwd with
//! its traditional (RFC 3164) and RFC 5424 templates, syslog-ng's
//! `network()` (RFC 3164) and `syslog()` (RFC 5424, octet-counted)
//! destinations, the four example messages of RFC 5424 §6.5 sent raw, and a
//! mutual-TLS client whose certificate name becomes `tls_client_name`. Every
//! attribute is read back from the collector's output bytes and compared with
//! what the sender was told to send. The daemons come from
//! `tests/peers/install.sh` (run by `tests/run` as root); see `peers/mod.rs`.

// Not every peer helper is used here.
#[allow(dead_code)]
mod peers;
mod util;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use peers::{tls_file, Peer};
use serde_json::{json, Value};
use util::*;

/// The attributes checked, `|`-separated, the message's text last (so a
/// line is found by how it ends). Indices: 0 syslog_format, 1 facility,
/// 2 severity, 3 facility_code, 4 severity_code, 5 pri, 6 syslog_timestamp,
/// 7 hostname, 8 appname, 9 procid, 10 msgid, 11 structured_data,
/// 12 transport, 13 listener, 14 tls_client_name, 15 levelname, 16 name,
/// 17 syslog_message.
const FIELDS: &str = "%(syslog_format)s|%(facility)s|%(severity)s|%(facility_code)s|\
%(severity_code)s|%(pri)s|%(syslog_timestamp)s|%(hostname)s|%(appname)s|%(procid)s|\
%(msgid)s|%(structured_data)s|%(transport)s|%(listener)s|%(tls_client_name)s|\
%(levelname)s|%(name)s|%(syslog_message)s";
const NFIELDS: usize = 18;

/// What rsyslog is told to call its host.
const RSYSLOG_HOST: &str = "testhost";

/// Options of every collector here but the TLS one.
const PARSE: [&str; 4] = [
    "--level-from-severity",
    "--logger-name",
    "{hostname}.{appname}",
    "--parse-syslog",
];

/// A dictConfig printing `format` on stdout for every record, with
/// `formatters`/`handlers` added (their handlers take records too).
fn config(format: &str, formatters: Value, handlers: Value) -> Value {
    let mut names: Vec<String> = vec!["out".into()];
    names.extend(
        handlers
            .as_object()
            .into_iter()
            .flat_map(|h| h.keys().cloned()),
    );
    let mut config = json!({
        "version": 1,
        "formatters": {"f": {"format": format}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "f",
                             "stream": "ext://sys.stdout"}},
        "loggers": {"pysyslog": {"propagate": false}},
        "root": {"level": "DEBUG", "handlers": names}
    });
    for (section, extra) in [("formatters", formatters), ("handlers", handlers)] {
        if let (Some(to), Some(from)) = (config[section].as_object_mut(), extra.as_object()) {
            to.extend(from.clone());
        }
    }
    config
}

/// A collector configured by `config` (written into `dir`) with `args`,
/// ready once its `listeners` banner lines are out.
fn collector(dir: &Path, config: &Value, args: &[&str], listeners: usize) -> Collector {
    let path = dir.join("logging.json");
    fs::write(&path, config.to_string()).expect("write config");
    let path = path.to_str().expect("utf-8 path").to_owned();
    let mut all = vec!["--logging-config", path.as_str()];
    all.extend_from_slice(args);
    Collector::start_on("127.0.0.1", &all, |c| {
        c.stderr_text().matches("Listening for syslog").count() >= listeners
    })
}

/// The first output line `pick` accepts, once one is there; on a timeout
/// the panic shows the collector's output and `context` (a peer's log).
fn wait_line(c: &Collector, context: &str, pick: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(line) = c.stdout_text().lines().find(|l| pick(l)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no such line.\ncollector stdout:\n{}\ncollector stderr:\n{}\n{context}",
            c.stdout_text(),
            c.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The fields of the line in `format` whose message ends with `text`.
fn fields(c: &Collector, peer: &Peer, format: &str, text: &str) -> Vec<String> {
    let line = wait_line(c, &peer.log_text(), |l| {
        l.starts_with(&format!("{format}|")) && l.ends_with(text)
    });
    line.splitn(NFIELDS, '|').map(str::to_owned).collect()
}

/// Every field but the timestamp equals `want` (17 values), and the
/// timestamp has the shape its format gives it.
fn assert_fields(f: &[String], want: &[&str]) {
    assert_eq!(f.len(), NFIELDS, "{f:?}");
    let ts = &f[6];
    let shaped = if f[0] == "rfc5424" {
        rfc3339_shaped(ts)
    } else {
        bsd_shaped(ts)
    };
    assert!(shaped, "timestamp {ts:?} of {f:?}");
    let got: Vec<&str> = f[..6].iter().chain(&f[7..]).map(String::as_str).collect();
    assert_eq!(got, want, "whole line: {f:?}");
}

/// `2026-12-07T21:52:29[.frac](Z|+hh:mm|-hh:mm)`.
fn rfc3339_shaped(ts: &str) -> bool {
    let b = ts.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && (ts.ends_with('Z') || b.get(b.len().saturating_sub(3)) == Some(&b':'))
}

/// `Mmm dd hh:mm:ss` with a space-padded day.
fn bsd_shaped(ts: &str) -> bool {
    const MONTHS: &str = "JanFebMarAprMayJunJulAugSepOctNovDec";
    let b = ts.as_bytes();
    ts.len() == 15
        && ts.get(..3).is_some_and(|m| MONTHS.contains(m))
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
}

/// The collector said nothing but its banner (and, as root, that it runs
/// as root): no record failed to format, no connection was refused.
fn assert_quiet(c: &Collector) {
    let err = c.stderr_text();
    let other: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("Listening for syslog") && !l.contains("running as root"))
        .collect();
    assert!(other.is_empty(), "collector stderr:\n{err}");
}

/// What this machine calls itself, without its domain: what syslog-ng sends
/// as HOST for local messages (`use-fqdn(no)`, its default).
fn short_host_name() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    name.trim().split('.').next().unwrap_or_default().to_owned()
}

#[test]
fn rsyslog_omfwd_traditional_and_protocol23_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = collector(dir.path(), &config(FIELDS, json!({}), json!({})), &PARSE, 1);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let action = |template: &str| {
        format!(
            "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" \
             template=\"{template}\")\n",
            c.port
        )
    };
    let peer = Peer::rsyslog(&format!(
        "global(localHostname=\"{RSYSLOG_HOST}\")\n{}{}",
        action("RSYSLOG_TraditionalForwardFormat"),
        action("RSYSLOG_SyslogProtocol23Format"),
    ));
    peer.send("<165>myprog[4242]: rsyslog says hello");
    peer.send("<34>nopid: rsyslog without a pid");

    let h = RSYSLOG_HOST;
    let (myprog, nopid) = (format!("{h}.myprog"), format!("{h}.nopid"));
    for format in ["rfc3164", "rfc5424"] {
        // rsyslog's %msg% keeps the space after the tag's colon, and its
        // RFC 5424 template adds one after STRUCTURED-DATA: MSG starts
        // with a space there, as sent.
        let lead = if format == "rfc5424" { " " } else { "" };
        let hello = format!("{lead}rsyslog says hello");
        let f = fields(&c, &peer, format, "rsyslog says hello");
        #[rustfmt::skip]
        assert_fields(&f, &[format, "local4", "notice", "20", "5", "165", h, "myprog", "4242",
            "-", "-", "tcp", &listener, "-", "INFO", &myprog, &hello]);
        let without = format!("{lead}rsyslog without a pid");
        let f = fields(&c, &peer, format, "rsyslog without a pid");
        #[rustfmt::skip]
        assert_fields(&f, &[format, "auth", "crit", "4", "2", "34", h, "nopid", "-",
            "-", "-", "tcp", &listener, "-", "CRITICAL", &nopid, &without]);
    }
    assert_eq!(c.stdout_text().lines().count(), 4, "{}", c.stdout_text());
    assert_quiet(&c);
}

#[test]
fn syslog_ng_network_rfc3164_and_syslog_rfc5424_over_tcp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = collector(dir.path(), &config(FIELDS, json!({}), json!({})), &PARSE, 1);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let peer = Peer::syslog_ng(&format!(
        "network(\"127.0.0.1\" port({port}) transport(\"tcp\"));\n\
         syslog(\"127.0.0.1\" port({port}) transport(\"tcp\") persist-name(\"rfc5424\"));",
        port = c.port
    ));
    peer.send("<165>myprog[4242]: syslog-ng says hello");
    peer.send("<34>nopid: syslog-ng without a pid");

    let h = short_host_name();
    let (myprog, nopid) = (format!("{h}.myprog"), format!("{h}.nopid"));
    for (format, sd1, sd2) in [
        ("rfc3164", "-", "-"),
        // syslog() numbers its messages in a meta element.
        (
            "rfc5424",
            "[meta sequenceId=\"1\"]",
            "[meta sequenceId=\"2\"]",
        ),
    ] {
        let f = fields(&c, &peer, format, "syslog-ng says hello");
        #[rustfmt::skip]
        assert_fields(&f, &[format, "local4", "notice", "20", "5", "165", &h, "myprog", "4242",
            "-", sd1, "tcp", &listener, "-", "INFO", &myprog, "syslog-ng says hello"]);
        let f = fields(&c, &peer, format, "syslog-ng without a pid");
        #[rustfmt::skip]
        assert_fields(&f, &[format, "auth", "crit", "4", "2", "34", &h, "nopid", "-",
            "-", sd2, "tcp", &listener, "-", "CRITICAL", &nopid, "syslog-ng without a pid"]);
    }
    assert_eq!(c.stdout_text().lines().count(), 4, "{}", c.stdout_text());
    assert_quiet(&c);
}

/// RFC 5424 §6.5's examples 1 to 4, with the BOM where the RFC writes one.
const RFC5424_EXAMPLES: [&[u8]; 4] = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
      \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \
      %% It's time to make the do-nuts.",
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
      [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \
      \xEF\xBB\xBFAn application event log entry...",
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
      [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
      [examplePriority@32473 class=\"high\"]",
];

#[test]
fn rfc5424_section_6_5_examples_give_the_rfc_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sd_file = dir.path().join("sd.log");
    let brace = "{appname} {msgid} {structured_data[exampleSDID@32473][eventSource]} \
                 {structured_data[exampleSDID@32473][eventID]}";
    let mut config = config(
        FIELDS,
        json!({"brace": {"format": brace, "style": "{"}}),
        json!({"sd": {"class": "logging.FileHandler", "filename": sd_file,
                      "formatter": "brace", "filters": ["evntslog"]}}),
    );
    config["filters"] =
        json!({"evntslog": {"()": "pysyslog.filters.SyslogFilter", "appname": "evntslog"}});
    let c = collector(dir.path(), &config, &PARSE, 1);
    let listener = format!("tcp://127.0.0.1:{}", c.port);
    let mut input = Vec::new();
    for example in RFC5424_EXAMPLES {
        input.extend_from_slice(example);
        input.push(b'\n');
    }
    c.send(&input);
    wait_until("four lines and two structured data lines", || {
        c.stdout_text().lines().count() == 4 && count_lines(&sd_file) == 2
    });

    let sd = "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]";
    let sd_both = format!("{sd}[examplePriority@32473 class=\"high\"]");
    let host = "mymachine.example.com";
    let ts = "2003-10-11T22:14:15.003Z";
    let (su, evntslog) = (format!("{host}.su"), format!("{host}.evntslog"));
    #[rustfmt::skip]
    let want: [[&str; NFIELDS]; 4] = [
        ["rfc5424", "auth", "crit", "4", "2", "34", ts, host, "su", "-", "ID47", "-",
         "tcp", &listener, "-", "CRITICAL", &su, "'su root' failed for lonvick on /dev/pts/8"],
        ["rfc5424", "local4", "notice", "20", "5", "165", "2003-08-24T05:14:15.000003-07:00",
         "192.0.2.1", "myproc", "8710", "-", "-", "tcp", &listener, "-", "INFO",
         "192.0.2.1.myproc", "%% It's time to make the do-nuts."],
        ["rfc5424", "local4", "notice", "20", "5", "165", ts, host, "evntslog", "-", "ID47", sd,
         "tcp", &listener, "-", "INFO", &evntslog, "An application event log entry..."],
        ["rfc5424", "local4", "notice", "20", "5", "165", ts, host, "evntslog", "-", "ID47",
         &sd_both, "tcp", &listener, "-", "INFO", &evntslog, ""],
    ];
    let text = c.stdout_text();
    let got: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.splitn(NFIELDS, '|').collect())
        .collect();
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
    let bom: &[u8] = b"\xEF\xBB\xBF";
    assert!(
        !c.stdout_bytes().windows(3).any(|w| w == bom),
        "syslog_message carries no BOM: {text}"
    );
    assert_eq!(
        fs::read_to_string(&sd_file).expect("sd.log"),
        "evntslog ID47 Application 1011\nevntslog ID47 Application 1011\n"
    );
    assert_quiet(&c);
}

/// The name pysyslog should report for a client certificate, read with
/// openssl: its first DNS subject alternative name, else its subject CN.
fn certificate_name(pem: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253"])
        .args(["-ext", "subjectAltName", "-in", pem])
        .output()
        .expect("openssl must be installed (tests/run installs it)");
    assert!(out.status.success(), "openssl x509 -in {pem}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let dns = text
        .split([',', '\n'])
        .find_map(|part| part.trim().strip_prefix("DNS:"));
    let cn = || {
        let subject = text.lines().find_map(|l| l.strip_prefix("subject="))?;
        subject.split(',').find_map(|rdn| rdn.strip_prefix("CN="))
    };
    let name = dns.or_else(cn).expect("a DNS name or a CN").to_owned();
    assert!(!name.is_empty(), "{text}");
    name
}

/// Send `line` over TLS with Python's `ssl`, presenting the client
/// certificate `cert`/`key`, verifying the server against the test CA.
fn send_with_client_certificate(port: u16, cert: &str, key: &str, line: &str) {
    let script = r#"
import socket, ssl, sys
port, cert, key, ca, line = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.sendall(line.encode())
s.unwrap()
s.close()
"#;
    let status = Command::new("python3")
        .args(["-c", script, &port.to_string(), cert, key])
        .args([&tls_file("ca.pem"), line])
        .status()
        .expect("python3");
    assert!(status.success(), "python ssl client failed");
}

#[test]
fn mutual_tls_names_the_client_certificate_and_plain_tcp_names_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tcp = free_port();
    let tcp_url = format!("tcp://127.0.0.1:{tcp}");
    let format = "%(transport)s|%(listener)s|%(tls_client_name)s|%(peer)s|\
                  %(appname)s|%(syslog_message)s";
    let (cert, key, ca) = (
        tls_file("server-rsa.pem"),
        tls_file("server-rsa.key"),
        tls_file("ca.pem"),
    );
    #[rustfmt::skip]
    let args = ["--parse-syslog", "--cert", &cert, "--key", &key, "--client-ca", &ca,
                "--listen", &tcp_url];
    let c = collector(dir.path(), &config(format, json!({}), json!({})), &args, 2);
    let (client_cert, client_key) = (tls_file("client.pem"), tls_file("client.key"));
    let name = certificate_name(&client_cert);

    send_with_client_certificate(
        c.port,
        &client_cert,
        &client_key,
        "<14>tlsapp: over mutual TLS\n",
    );
    send_from(
        "127.0.0.1",
        ([127, 0, 0, 1], tcp).into(),
        b"<14>tcpapp: over plain TCP\n",
    );
    let over_tls = wait_line(&c, "", |l| l.ends_with("over mutual TLS"));
    let over_tcp = wait_line(&c, "", |l| l.ends_with("over plain TCP"));
    assert_eq!(
        over_tls,
        format!(
            "tls|tls://127.0.0.1:{}|{name}|127.0.0.1|tlsapp|over mutual TLS",
            c.port
        )
    );
    assert_eq!(
        over_tcp,
        format!("tcp|{tcp_url}|-|127.0.0.1|tcpapp|over plain TCP")
    );
    assert_quiet(&c);
}

//! The routing recipes of docs/syslog-fields.md, run for real: every
//! `examples/routing/NN-name.json` with the options of its `NN-name.args`
//! starts the binary (in a temporary current directory, where the
//! configuration's relative file names land), real senders (util-linux
//! `logger`, Python's `ssl` with client certificates, raw RFC 3164 lines
//! where `logger` cannot say it: another host name, the kern facility, a
//! source address) send messages, and each output file must hold exactly the
//! lines the recipe routes there, derived from what was sent. The files and
//! the chapter must agree (each example's JSON and options are in it), and
//! `--check-config` must pass on each example.
//!
//! How a run ends: the test waits until every file holds as many lines as
//! expected, with the last message sent among them, then stops the collector
//! (SIGTERM: it reads what every accepted connection sent and flushes), so
//! that lines that must not be in a file have had every chance to get there
//! before the files are compared.

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

/// The chapter the examples belong to.
const CHAPTER: &str = "docs/syslog-fields.md";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn routing_dir() -> PathBuf {
    manifest_dir().join("examples/routing")
}

/// Every example's name (`01-auth`), in order.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(routing_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The options of an example's `.args`: one option a line, its value after
/// the first space; blank lines and `#` comments skipped. The TLS files of
/// the mutual TLS recipe are where an installation puts them; the test uses
/// the fixtures of tests/data/tls in their place.
fn args_of(name: &str) -> Vec<String> {
    let text = fs::read_to_string(routing_dir().join(format!("{name}.args"))).unwrap();
    let mut args = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(' ') {
            Some((option, value)) => {
                args.push(option.to_owned());
                args.push(localise(value.trim()));
            }
            None => args.push(line.to_owned()),
        }
    }
    args
}

fn localise(value: &str) -> String {
    match value {
        "/etc/pysyslog/tls/server.pem" => tls_fixture("server-rsa.pem"),
        "/etc/pysyslog/tls/server.key" => tls_fixture("server-rsa.key"),
        "/etc/pysyslog/tls/clients-ca.pem" => tls_fixture("ca.pem"),
        other => other.to_owned(),
    }
}

/// What the sending machine calls itself in RFC 3164 (`logger` sends the
/// short name).
fn short_host() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    name.trim().split('.').next().unwrap().to_owned()
}

/// A running example: the collector and the configuration it was given.
struct Run {
    c: Collector,
    _config_dir: tempfile::TempDir,
}

/// Start example `name` with its options and `extra` ones; `edit` may
/// change the configuration's text first (only recipe 4 does: its network).
/// Ready when `listeners` banner lines are on stderr (the examples send the
/// collector's own messages there).
fn start(name: &str, edit: impl Fn(String) -> String, extra: &[&str], listeners: usize) -> Run {
    let config_dir = tempfile::tempdir().unwrap();
    let original = fs::read_to_string(routing_dir().join(format!("{name}.json"))).unwrap();
    let config = config_dir.path().join(format!("{name}.json"));
    fs::write(&config, edit(original)).unwrap();
    let mut args = vec!["--logging-config".to_owned(), config.display().to_string()];
    args.extend(args_of(name));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Collector::start_on("127.0.0.1", &args, |c| {
        c.stderr_text().matches("Listening for syslog").count() >= listeners
    });
    Run {
        c,
        _config_dir: config_dir,
    }
}

/// `logger -T -n HOST -P PORT --rfc3164 -p PRIO -t TAG [--id=ID] MESSAGE`.
fn logger_to(host: &str, port: u16, prio: &str, tag: &str, id: Option<u32>, message: &str) {
    let mut cmd = Command::new("logger");
    cmd.args(["-T", "-n", host, "-P", &port.to_string(), "--rfc3164"])
        .args(["-p", prio, "-t", tag]);
    if let Some(id) = id {
        cmd.arg(format!("--id={id}"));
    }
    let status = cmd.arg(message).status().expect("util-linux logger");
    assert!(status.success(), "logger {prio} {tag} {message}");
}

fn logger(c: &Collector, prio: &str, tag: &str, message: &str) {
    logger_to("127.0.0.1", c.port, prio, tag, None, message);
}

/// The lines of an output file without their `asctime` prefix, which must
/// have its shape (`2026-12-07 21:50:15,123 `); none when it does not exist.
fn read_lines(dir: &Path, file: &str) -> Vec<String> {
    let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.lines()
        .map(|line| {
            let (time, rest) = line.split_at_checked(24).unwrap_or(("", line));
            let shape: String = time
                .chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect();
            assert_eq!(shape, "9999-99-99 99:99:99,999 ", "{file}: {line:?}");
            rest.to_owned()
        })
        .collect()
}

/// Wait until each file holds as many lines as `expected` gives it, stop the
/// collector, then compare each file with its lines (in any order, each once).
fn finish(mut run: Run, expected: &[(&str, Vec<String>)]) {
    let dir = run.c.dir.path().to_owned();
    wait_until(&format!("the lines of {expected:?}"), || {
        expected
            .iter()
            .all(|(file, lines)| read_lines(&dir, file).len() >= lines.len())
    });
    let status = run.c.stop();
    assert!(status.success(), "stopped with {status}");
    for (file, lines) in expected {
        let mut got = read_lines(&dir, file);
        got.sort();
        let mut want = lines.clone();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
    // The examples send the collector's own messages to stderr: nothing but
    // the banner may be a warning, and no record may have been dropped.
    let own = run.c.stderr_text();
    for l in own.lines() {
        let warned = l.contains(" WARNING ") && !l.contains("Listening for syslog");
        assert!(
            !warned && !l.contains(" ERROR ") && !l.contains("dropped"),
            "the collector complained: {own}"
        );
    }
}

/// A line as the examples' `syslog` formatter writes it, without asctime.
fn line(host: &str, app: &str, message: &str) -> String {
    format!("{host} {app}: {message}")
}

/// A raw line on a new connection from 127.0.0.1, as a relay forwards it.
fn send_raw(c: &Collector, text: &str) {
    c.send(format!("{text}\n").as_bytes());
}

#[test]
fn recipe_01_auth_and_authpriv_to_one_file() {
    let run = start("01-auth", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "mail.err", "postfix", "lost connection");
    logger(c, "user.info", "app", "started");
    logger(c, "authpriv.notice", "sudo", "session opened for root");
    logger(c, "auth.info", "sshd", "Accepted publickey for alice");
    logger(c, "auth.warning", "sshd", "Failed password for bob");
    let h = short_host();
    finish(
        run,
        &[(
            "auth.log",
            vec![
                line(&h, "sudo", "session opened for root"),
                line(&h, "sshd", "Accepted publickey for alice"),
                line(&h, "sshd", "Failed password for bob"),
            ],
        )],
    );
}

#[test]
fn recipe_02_errors_and_worse_by_level() {
    let run = start("02-errors", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "local0.debug", "app", "debugging");
    logger(c, "auth.info", "sshd", "Accepted publickey");
    logger(c, "mail.warning", "postfix", "deferred");
    send_raw(c, "a line without PRI");
    logger(c, "local0.err", "app", "disk failure");
    logger(c, "daemon.crit", "ntpd", "clock unsynchronised");
    logger(c, "user.emerg", "app", "going down");
    let h = short_host();
    finish(
        run,
        &[(
            "errors.log",
            vec![
                line(&h, "app", "disk failure"),
                line(&h, "ntpd", "clock unsynchronised"),
                line(&h, "app", "going down"),
            ],
        )],
    );
}

#[test]
fn recipe_03_one_program_to_its_own_file() {
    let run = start("03-sshd", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "authpriv.notice", "sudo", "session opened");
    logger(c, "auth.info", "sshd-session", "not sshd itself");
    logger_to(
        "127.0.0.1",
        c.port,
        "auth.info",
        "sshd",
        Some(4242),
        "Accepted publickey for alice",
    );
    logger(c, "auth.warning", "sshd", "Failed password for bob");
    let h = short_host();
    finish(
        run,
        &[
            (
                "sshd.log",
                vec![
                    line(&h, "sshd", "Accepted publickey for alice"),
                    line(&h, "sshd", "Failed password for bob"),
                ],
            ),
            (
                "messages.log",
                vec![
                    line(&h, "sudo", "session opened"),
                    line(&h, "sshd-session", "not sshd itself"),
                ],
            ),
        ],
    );
}

/// The example's network is 10.0.0.0/8; here it is 127.0.0.0/8, with a
/// second listener on ::1 for a sender outside it.
#[test]
fn recipe_04_a_network_to_a_file() {
    let v6_port = free_port();
    let v6 = format!("tcp://[::1]:{v6_port}");
    let run = start(
        "04-network",
        |config| {
            assert!(config.contains("\"10.0.0.0/8\""));
            config.replace("\"10.0.0.0/8\"", "\"127.0.0.0/8\"")
        },
        &["--listen", &v6],
        2,
    );
    let c = &run.c;
    logger_to("::1", v6_port, "user.info", "app", None, "from outside");
    logger(c, "user.info", "app", "from 127.0.0.1");
    send_from(
        "127.0.0.2",
        c.addr(),
        b"<14>Dec  7 21:50:15 relay2 app2: from 127.0.0.2\n",
    );
    let h = short_host();
    finish(
        run,
        &[(
            "net10.log",
            vec![
                format!("127.0.0.1 {h} app: from 127.0.0.1"),
                "127.0.0.2 relay2 app2: from 127.0.0.2".to_owned(),
            ],
        )],
    );
}

#[test]
fn recipe_05_a_severity_threshold_per_handler() {
    let run = start("05-severity-thresholds", |c| c, &[], 1);
    let c = &run.c;
    let h = short_host();
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    for severity in ["debug", "info", "notice", "warning", "err", "crit"] {
        let text = format!("at {severity}");
        logger(c, &format!("local0.{severity}"), "app", &text);
        all.push(line(&h, "app", &text));
        if ["warning", "err", "crit"].contains(&severity) {
            warnings.push(line(&h, "app", &text));
        }
    }
    finish(run, &[("all.log", all), ("warnings.log", warnings)]);
}

#[test]
fn recipe_06_mail_to_mail_log() {
    let run = start("06-mail", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "user.info", "app", "not mail");
    logger(c, "daemon.err", "dovecot", "daemon, not mail");
    logger_to(
        "127.0.0.1",
        c.port,
        "mail.info",
        "postfix/smtpd",
        Some(77),
        "connect from unknown",
    );
    logger(c, "mail.err", "postfix/qmgr", "lost connection");
    let h = short_host();
    finish(
        run,
        &[(
            "mail.log",
            vec![
                line(&h, "postfix/smtpd", "connect from unknown"),
                line(&h, "postfix/qmgr", "lost connection"),
            ],
        )],
    );
}

/// util-linux `logger` cannot send the kern facility (it sends user
/// instead: `-p kern.warning` arrives as `<12>`), so kernel lines are sent
/// as a forwarding daemon sends them.
#[test]
fn recipe_07_kern_to_kern_log() {
    let run = start("07-kern", |c| c, &[], 1);
    let c = &run.c;
    logger(
        c,
        "kern.warning",
        "kernel",
        "user facility, as logger sends it",
    );
    logger(c, "daemon.info", "systemd", "not the kernel");
    send_raw(
        c,
        "<4>Dec  7 21:50:15 node1 kernel: [  1.0] eth0: link down",
    );
    send_raw(c, "<0>Dec  7 21:50:16 node1 kernel: Kernel panic");
    finish(
        run,
        &[(
            "kern.log",
            vec![
                line("node1", "kernel", "[  1.0] eth0: link down"),
                line("node1", "kernel", "Kernel panic"),
            ],
        )],
    );
}

/// `logger` sends this machine's name, so web1's lines are sent as a relay
/// forwards them. The host name is only read after a timestamp.
#[test]
fn recipe_08_one_host_to_its_own_file() {
    let run = start("08-host", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "user.info", "app", "from this machine");
    send_raw(c, "<14>Dec  7 21:50:15 web10 nginx: web10 is not web1");
    send_raw(c, "<14>web1 nginx: no timestamp, so web1 is the tag");
    send_raw(c, "<14>Dec  7 21:50:15 web1 nginx[12]: GET /");
    send_raw(c, "<14>1 2026-12-07T21:50:15Z web1 nginx 12 - - GET /5424");
    finish(
        run,
        &[(
            "web1.log",
            vec![
                line("web1", "nginx", "GET /"),
                line("web1", "nginx", "GET /5424"),
            ],
        )],
    );
}

/// A client certificate signed by the test CA with the DNS name `san`,
/// made with openssl in `dir`; (certificate, key).
fn client_cert(dir: &Path, san: &str) -> (String, String) {
    let key = dir.join("client.key").display().to_string();
    let csr = dir.join("client.csr").display().to_string();
    let pem = dir.join("client.pem").display().to_string();
    let ext = dir.join("client.cnf");
    fs::write(
        &ext,
        format!(
            "[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\nsubjectAltName=DNS:{san}\n"
        ),
    )
    .unwrap();
    let serial = dir.join("ca.srl").display().to_string();
    let ext = ext.display().to_string();
    let (ca, ca_key) = (tls_fixture("ca.pem"), tls_fixture("ca.key"));
    for args in [
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ][..],
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            "/CN=ignored",
            "-out",
            &csr,
        ],
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-CAserial",
            &serial,
            "-days",
            "2",
            "-extfile",
            &ext,
            "-extensions",
            "v3",
            "-out",
            &pem,
        ],
    ] {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (pem, key)
}

/// Send `text` over TLS with a client certificate, as Python's `ssl` does.
fn send_tls(port: u16, cert: &str, key: &str, text: &str) {
    let script = r#"
import socket, ssl, sys
port, cert, key, ca, text = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.sendall(text.encode())
s.unwrap()
s.close()
"#;
    let status = Command::new("python3")
        .args(["-c", script, &port.to_string(), cert, key])
        .arg(tls_fixture("ca.pem"))
        .arg(text)
        .status()
        .unwrap();
    assert!(status.success(), "TLS client");
}

#[test]
fn recipe_09_an_mtls_client_by_certificate_name() {
    let certs = tempfile::tempdir().unwrap();
    let (billing_cert, billing_key) = client_cert(certs.path(), "billing.example.com");
    let run = start("09-mtls-client", |c| c, &[], 1);
    let c = &run.c;
    // The fixture's certificate has no DNS name: its CN, "client one".
    send_tls(
        c.port,
        &tls_fixture("client.pem"),
        &tls_fixture("client.key"),
        "<14>Dec  7 21:50:15 app02 billing: not the billing certificate\n",
    );
    send_tls(
        c.port,
        &billing_cert,
        &billing_key,
        "<14>Dec  7 21:50:15 app01 invoice: sent 42\n<11>Dec  7 21:50:16 app01 invoice: failed 43\n",
    );
    finish(
        run,
        &[(
            "billing.log",
            vec![
                "billing.example.com app01 invoice: sent 42".to_owned(),
                "billing.example.com app01 invoice: failed 43".to_owned(),
            ],
        )],
    );
}

#[test]
fn recipe_10_messages_without_mail_authpriv_and_cron() {
    let run = start("10-messages", |c| c, &[], 1);
    let c = &run.c;
    logger(c, "local0.debug", "app", "below info");
    logger(c, "mail.info", "postfix", "mail");
    logger(c, "authpriv.warning", "sudo", "authpriv");
    logger(c, "cron.info", "CRON", "cron");
    logger(c, "daemon.notice", "ntpd", "synchronised");
    logger(c, "auth.info", "sshd", "auth is not authpriv");
    send_raw(c, "a line without PRI");
    logger(c, "user.err", "app", "failed");
    logger(c, "user.info", "app", "started");
    let h = short_host();
    finish(
        run,
        &[(
            "messages.log",
            vec![
                line(&h, "ntpd", "synchronised"),
                line(&h, "sshd", "auth is not authpriv"),
                line("127.0.0.1", "-", "a line without PRI"),
                line(&h, "app", "failed"),
                line(&h, "app", "started"),
            ],
        )],
    );
}

/// There are the ten recipes, each with its `.args`, and each passes
/// `--check-config` with its options, in an empty current directory where
/// its files would be created and which it leaves empty.
#[test]
fn every_example_passes_check_config_with_its_options() {
    let names = examples();
    assert_eq!(names.len(), 10, "{names:?}");
    for name in &names {
        let cwd = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("--check-config")
            .arg("--logging-config")
            .arg(routing_dir().join(format!("{name}.json")))
            .args(args_of(name))
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "configuration OK\n");
        assert!(
            fs::read_dir(cwd.path()).unwrap().next().is_none(),
            "{name}: --check-config wrote into its directory"
        );
    }
}

/// The chapter shows each example as it is: its JSON (compared as JSON
/// values) in the first `json` block after the file's name, and its options
/// after the first "Options:" from there.
#[test]
fn the_chapter_shows_every_example_as_it_is() {
    let chapter = fs::read_to_string(manifest_dir().join(CHAPTER)).unwrap();
    for name in examples() {
        let anchor = format!("examples/routing/{name}.json");
        let at = chapter
            .find(&anchor)
            .unwrap_or_else(|| panic!("{CHAPTER} does not name {anchor}"));
        let after = &chapter[at..];
        let block = after
            .split_once("```json\n")
            .and_then(|(_, rest)| rest.split_once("\n```"))
            .map(|(json, _)| json)
            .unwrap_or_else(|| panic!("no json block after {anchor}"));
        let shown: serde_json::Value = serde_json::from_str(block)
            .unwrap_or_else(|e| panic!("{anchor}: the chapter's JSON: {e}"));
        let file: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(routing_dir().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(shown, file, "{anchor}");
        // The options are what follows "Options:" on the first line that has
        // it, each in backticks, exactly the lines of the `.args` file.
        let options = after
            .lines()
            .find_map(|l| l.split_once("Options:").map(|(_, o)| o))
            .unwrap_or_else(|| panic!("no Options: after {anchor}"));
        let shown: Vec<&str> = options.split('`').skip(1).step_by(2).collect();
        let raw = fs::read_to_string(routing_dir().join(format!("{name}.args"))).unwrap();
        let listed: Vec<&str> = raw
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(shown, listed, "{anchor}: the options");
    }
}

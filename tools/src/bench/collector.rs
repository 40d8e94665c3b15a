//! The collectors the driver compares, each started in the foreground on
//! loopback with its own configuration in a private directory, writing the
//! equivalent of `%(asctime)s %(name)s %(message)s` (time, peer address, the
//! line as received) to one file, and stopped by PID. The `parse` scenario
//! asks instead for the line alone ([`Output::Message`]) or for its parsed
//! syslog fields ([`Output::Parsed`]), the `dynfile` one for the line alone
//! in a file per sender ([`Output::PerSender`]), the `json` one for the
//! parsed fields as a JSON object ([`Output::Json`]).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::procstat;

/// The collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ours,
    Rsyslog,
    SyslogNg,
    Pysyslog,
    Copier,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Ours,
        Kind::Rsyslog,
        Kind::SyslogNg,
        Kind::Pysyslog,
        Kind::Copier,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Rsyslog => "rsyslog",
            Kind::SyslogNg => "syslog-ng",
            Kind::Pysyslog => "pysyslog",
            Kind::Copier => "copier",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where everything the driver runs lives.
#[derive(Debug, Clone)]
pub struct Env {
    /// The repository (for tests/peers/install.sh and tests/data/tls).
    pub repo: PathBuf,
    /// Directory of our release binaries (pysyslog, pysyslog-flood, bench-peers).
    pub bin_dir: PathBuf,
    /// Prefix the peers were unpacked into.
    pub peers: PathBuf,
    /// The venv holding pysyslog 0.1.0.
    pub venv: PathBuf,
    /// Where run directories are made.
    pub work: PathBuf,
}

impl Env {
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.repo.join("tests/data/tls").join(name)
    }
    pub fn rsyslogd(&self) -> PathBuf {
        self.peers.join("usr/sbin/rsyslogd")
    }
    pub fn rsyslog_modules(&self) -> PathBuf {
        self.peers.join("usr/lib/x86_64-linux-gnu/rsyslog")
    }
    pub fn syslog_ng(&self) -> PathBuf {
        self.peers.join("usr/sbin/syslog-ng")
    }
    pub fn syslog_ng_libs(&self) -> PathBuf {
        self.peers.join("usr/lib/syslog-ng")
    }
    /// The versioned module directory (`usr/lib/syslog-ng/3.38`).
    pub fn syslog_ng_modules(&self) -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.syslog_ng_libs())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            })
            .collect();
        dirs.sort();
        dirs.pop()
    }
    /// `3.38` from the module directory's name.
    pub fn syslog_ng_version(&self) -> String {
        self.syslog_ng_modules()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .unwrap_or_else(|| "3.38".into())
    }
    pub fn pysyslog(&self) -> PathBuf {
        self.venv.join("bin/pysyslog")
    }
}

/// What a collector writes for each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `%(asctime)s %(name)s %(message)s`: time, peer, the line as received.
    Usual,
    /// `%(message)s`: the line as received, nothing else (no parsing).
    Message,
    /// The line parsed as RFC 5424 or RFC 3164:
    /// `HOSTNAME APPNAME[PROCID] SEVERITY: MSG` ([`PARSED_FORMAT`] for ours).
    Parsed,
    /// The line as received, in a file per sender: `senders/ADDRESS.log`
    /// beside `out.log` ([`senders_dir`]; nothing goes to `out.log`).
    PerSender,
    /// The line parsed, written as one JSON object: ours with
    /// python-json-logger's JsonFormatter ([`JSON_FORMATTER`]: `message`,
    /// then every syslog attribute); rsyslog and syslog-ng with the keys of
    /// [`JSON_KEYS`].
    Json,
}

/// The directory of [`Output::PerSender`]'s files, beside `out`.
pub fn senders_dir(out: &Path) -> PathBuf {
    out.with_file_name("senders")
}

/// Ours' formatter for [`Output::Json`] (with `--parse-syslog`).
pub const JSON_FORMATTER: &str = "pythonjsonlogger.json.JsonFormatter";

/// The keys rsyslog and syslog-ng write for [`Output::Json`], as ours names
/// the attributes, but the message's: host, app, procid, severity, message.
pub const JSON_KEYS: [&str; 5] = ["hostname", "appname", "procid", "severity", "msg"];

/// Ours' format for [`Output::Parsed`] (with `--parse-syslog`).
pub const PARSED_FORMAT: &str =
    "%(hostname)s %(appname)s[%(procid)s] %(severity)s: %(syslog_message)s";

/// One run's set-up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub port: u16,
    pub tls: bool,
    /// Connections the collector must accept at once.
    pub max_connections: u32,
    /// Listen for UDP datagrams on `port` instead of TCP (`tls` is then ignored).
    pub udp: bool,
    /// What is written for each line.
    pub output: Output,
}

/// The receive buffer every collector gets for UDP (ours' default).
pub const UDP_RCVBUF: u32 = 8 << 20;

/// A started collector. Dropping it stops it (and every process it started).
pub struct Running {
    pub kind: Kind,
    child: Option<Child>,
    pub dir: PathBuf,
    pub out: PathBuf,
    log: PathBuf,
}

/// `%(asctime)s %(name)s %(message)s` to `out` with a FileHandler.
pub fn logging_config(out: &Path) -> String {
    logging_config_for(out, Output::Usual)
}

/// The dictConfig for `output`: a FileHandler to `out`. With
/// [`Output::Message`] and [`Output::Parsed`] the collector's own records
/// (logger `pysyslog`, which have no syslog fields) go to stderr instead,
/// so that the file holds the received lines only.
pub fn logging_config_for(out: &Path, output: Output) -> String {
    let format = match output {
        Output::Usual => "%(asctime)s %(name)s %(message)s",
        Output::Message | Output::PerSender | Output::Json => "%(message)s",
        Output::Parsed => PARSED_FORMAT,
    };
    let mut c = serde_json::json!({
        "version": 1,
        "formatters": {"bench": {"format": format}},
        "handlers": {"file": {
            "class": "logging.FileHandler",
            "filename": out.to_string_lossy(),
            "formatter": "bench",
        }},
        "root": {"level": "INFO", "handlers": ["file"]},
    });
    match output {
        // The logger is named after the peer's address: a file per sender.
        Output::PerSender => {
            c["handlers"]["file"] = serde_json::json!({
                "class": "pysyslog.handlers.DynamicFileHandler",
                "filename": format!("{}/{{name}}.log", senders_dir(out).display()),
                "formatter": "bench",
            });
        }
        Output::Json => {
            c["formatters"]["bench"] = serde_json::json!({"()": JSON_FORMATTER, "format": format});
        }
        _ => {}
    }
    if output != Output::Usual {
        c["handlers"]["own"] = serde_json::json!({
            "class": "logging.StreamHandler", "stream": "ext://sys.stderr"});
        c["loggers"] = serde_json::json!({
            "pysyslog": {"level": "INFO", "handlers": ["own"], "propagate": false}});
    }
    c.to_string()
}

/// rsyslog's template for `output`. For [`Output::Parsed`], the default
/// parser chain (pmrfc5424, then pmrfc3164) parses both formats; `%msg%` of
/// an RFC 3164 line keeps the space after the tag's colon, so the template
/// adds one only when the message has none (`sp-if-no-1st-sp`, as rsyslog's
/// own `RSYSLOG_TraditionalFileFormat` does): one space either way.
fn rsyslog_template(output: Output) -> &'static str {
    match output {
        Output::Usual => "%timegenerated:::date-rfc3339% %fromhost-ip% %rawmsg%\\n",
        Output::Message => "%rawmsg%\\n",
        Output::Parsed => {
            "%HOSTNAME% %APP-NAME%[%PROCID%] %syslogseverity-text%:\
             %msg:::sp-if-no-1st-sp%%msg%\\n"
        }
        Output::PerSender => "%rawmsg%\\n",
        Output::Json => unreachable!("a list template: rsyslog_json_template"),
    }
}

/// rsyslog's [`Output::Json`] template: `option.jsonf` makes the list of
/// `format="jsonf"` properties one JSON object (rsyslog's own quoting; a
/// constant LF would be taken into the object, so omfile's `addLF` ends
/// the line).
fn rsyslog_json_template() -> String {
    let names = [
        "hostname",
        "app-name",
        "procid",
        "syslogseverity-text",
        "msg",
    ];
    let mut t = String::from("template(name=\"bench\" type=\"list\" option.jsonf=\"on\") {\n");
    for (key, name) in JSON_KEYS.iter().zip(names) {
        let _ = writeln!(
            t,
            "  property(outname=\"{key}\" name=\"{name}\" format=\"jsonf\")"
        );
    }
    t.push_str("}\n");
    t
}

/// rsyslog: imtcp (gtls when `tls`) to omfile, no rate limit.
pub fn rsyslog_config(env: &Env, dir: &Path, out: &Path, s: &Setup) -> String {
    let mut c = String::new();
    let _ = write!(
        c,
        "global(workDirectory=\"{}\" net.enableDNS=\"off\" maxMessageSize=\"64k\"",
        dir.display()
    );
    if s.tls {
        let _ = write!(
            c,
            " DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{}\" \
             DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\"",
            env.tls_file("ca.pem").display(),
            env.tls_file("server-rsa.pem").display(),
            env.tls_file("server-rsa.key").display()
        );
    }
    c.push_str(")\n");
    if s.udp {
        let _ = writeln!(
            c,
            "module(load=\"imudp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{}\" rcvbufSize=\"{UDP_RCVBUF}\" \
             ratelimit.interval=\"0\")",
            s.port
        );
    } else {
        rsyslog_imtcp(&mut c, s);
    }
    match s.output {
        // The default parser chain but for pmrfc3164's remove.msgFirstSpace:
        // rsyslog keeps the space after an RFC 3164 tag's colon in msg.
        Output::Json => {
            c.push_str(&rsyslog_json_template());
            let _ = writeln!(
                c,
                "parser(name=\"bench.rfc3164\" type=\"pmrfc3164\" remove.msgFirstSpace=\"on\")\n\
                 ruleset(name=\"bench\" parser=[\"rsyslog.rfc5424\", \"bench.rfc3164\"]) {{\n  \
                 action(type=\"omfile\" file=\"{}\" template=\"bench\" addLF=\"on\")\n}}",
                out.display()
            );
        }
        // A dynaFile: the file name is a template too; its cache holds as
        // many open files as there are senders.
        Output::PerSender => {
            let _ = writeln!(
                c,
                "template(name=\"bench\" type=\"string\" string=\"{}\")\n\
                 template(name=\"benchfile\" type=\"string\" string=\"{}/%FROMHOST-IP%.log\")\n\
                 action(type=\"omfile\" dynaFile=\"benchfile\" template=\"bench\" \
                 dynaFileCacheSize=\"{DYNAFILE_CACHE}\")",
                rsyslog_template(s.output),
                senders_dir(out).display()
            );
        }
        _ => {
            let _ = writeln!(
                c,
                "template(name=\"bench\" type=\"string\" string=\"{}\")\n\
                 action(type=\"omfile\" file=\"{}\" template=\"bench\")",
                rsyslog_template(s.output),
                out.display()
            );
        }
    }
    c
}

/// rsyslog's `dynaFileCacheSize` for [`Output::PerSender`]: a file per
/// sender stays open (its default is 10; its manual advises no more than
/// 1,000, its hard limit is 10,000).
pub const DYNAFILE_CACHE: u32 = 1000;

fn rsyslog_imtcp(c: &mut String, s: &Setup) {
    let _ = write!(
        c,
        "module(load=\"imtcp\" MaxSessions=\"{}\"",
        s.max_connections + 16
    );
    if s.tls {
        c.push_str(
            " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\"",
        );
    }
    c.push_str(")\n");
    let _ = writeln!(
        c,
        "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" ratelimit.interval=\"0\"{})",
        s.port,
        if s.output == Output::Json {
            " ruleset=\"bench\""
        } else {
            ""
        }
    );
}

/// syslog-ng: network() with no-parse to file(), flow control, enough connections.
/// For [`Output::Parsed`], network() with `flags(syslog-protocol)` instead:
/// syslog-ng 3.38's network() parses lines as RFC 3164 by default (an RFC
/// 5424 line comes out as host = the peer's address, program `1`, and the
/// rest in MSG), `syslog()` expects octet-counted frames (LF-ended lines are
/// not read as messages), and `default-network-drivers()` takes RFC 5424 on
/// another port; with `flags(syslog-protocol)` network() parses RFC 5424 and
/// falls back to RFC 3164 for a line without the version field (the
/// fallback `flags(no-rfc3164-fallback)` of later versions turns off), so
/// one port parses both.
pub fn syslog_ng_config(env: &Env, out: &Path, s: &Setup) -> String {
    let conns = s.max_connections + 16;
    let transport = if s.udp {
        format!("transport(\"udp\") so-rcvbuf({UDP_RCVBUF})")
    } else if s.tls {
        format!(
            "transport(\"tls\") tls(key-file(\"{}\") cert-file(\"{}\") peer-verify(optional-untrusted))",
            env.tls_file("server-rsa.key").display(),
            env.tls_file("server-rsa.pem").display()
        )
    } else {
        "transport(\"tcp\")".to_string()
    };
    let json = format!(
        "$(format-json {})",
        JSON_KEYS
            .iter()
            .zip(["${HOST}", "${PROGRAM}", "${PID}", "${LEVEL}", "${MSG}"])
            .map(|(k, m)| format!("{k}={m}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (flags, template) = match s.output {
        Output::Usual => ("no-parse", "${ISODATE} ${SOURCEIP} ${MSG}"),
        Output::Message | Output::PerSender => ("no-parse", "${MSG}"),
        Output::Parsed => (
            "syslog-protocol",
            "${HOST} ${PROGRAM}[${PID}] ${LEVEL}: ${MSG}",
        ),
        Output::Json => ("syslog-protocol", json.as_str()),
    };
    // A file per sender: the file name is a template.
    let file = if s.output == Output::PerSender {
        format!("{}/$SOURCEIP.log", senders_dir(out).display())
    } else {
        out.display().to_string()
    };
    format!(
        "@version: {ver}\n\
         options {{ use-dns(no); use-fqdn(no); keep-hostname(yes); stats-freq(0); }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port}) {transport} flags({flags}) \
         {limits}); }};\n\
         destination d {{ file(\"{out}\" template(\"{template}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        ver = env.syslog_ng_version(),
        port = s.port,
        limits = if s.udp {
            String::new()
        } else {
            format!(
                "max-connections({conns}) log-iw-size({})",
                u64::from(conns) * 100
            )
        },
        out = file,
    )
}

/// Start `kind` in `dir` (made by the caller), writing to `dir/out.log`.
pub fn start(env: &Env, kind: Kind, dir: &Path, s: &Setup) -> Result<Running, String> {
    let out = dir.join("out.log");
    if s.output == Output::PerSender {
        let d = senders_dir(&out);
        fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let cmd = match kind {
        Kind::Pysyslog | Kind::Copier if s.output != Output::Usual => {
            return Err(format!("{} writes only the usual output", kind.name()))
        }
        Kind::Ours | Kind::Pysyslog => {
            let conf = dir.join("logging.json");
            write(&conf, &logging_config_for(&out, s.output))?;
            let mut cmd = if kind == Kind::Ours {
                let mut c = Command::new(env.bin_dir.join("pysyslog"));
                // Every load connection comes from 127.0.0.1.
                c.arg("--max-connections")
                    .arg((s.max_connections + 16).max(4096).to_string())
                    .args(["--max-connections-per-source", "0"]);
                c
            } else {
                Command::new(env.pysyslog())
            };
            cmd.arg("-l").arg(&conf);
            if matches!(s.output, Output::Parsed | Output::Json) {
                cmd.arg("--parse-syslog");
            }
            if s.udp && kind == Kind::Ours {
                cmd.arg("--listen")
                    .arg(format!("udp://127.0.0.1:{}", s.port));
            } else {
                listen_on(&mut cmd, env, s);
            }
            cmd
        }
        Kind::Rsyslog => {
            let conf = dir.join("rsyslog.conf");
            write(&conf, &rsyslog_config(env, dir, &out, s))?;
            rsyslogd_foreground(&env.rsyslogd(), &env.rsyslog_modules(), &conf, dir)
        }
        Kind::SyslogNg => {
            let conf = dir.join("syslog-ng.conf");
            write(&conf, &syslog_ng_config(env, &out, s))?;
            let modules = env
                .syslog_ng_modules()
                .ok_or("syslog-ng's module directory is missing")?;
            syslog_ng_foreground(
                &env.syslog_ng(),
                &env.syslog_ng_libs(),
                &modules,
                &conf,
                dir,
            )
        }
        Kind::Copier if s.udp => return Err("the copier has no UDP mode".into()),
        Kind::Copier => {
            let mut cmd = Command::new(env.bin_dir.join("bench-peers"));
            cmd.arg("copier").arg("--out").arg(&out);
            listen_on(&mut cmd, env, s);
            cmd
        }
    };
    if s.udp && kind == Kind::Pysyslog {
        return Err("pysyslog 0.1.0 has no UDP listener".into());
    }
    spawn(kind, cmd, dir, s.port, s.udp)
}

/// Run `cmd` (a collector of `kind` set up by the caller, writing to
/// `dir/out.log`) in `dir`, its output to `dir/collector.log`, and wait
/// until it listens on `port`.
pub fn spawn(
    kind: Kind,
    mut cmd: Command,
    dir: &Path,
    port: u16,
    udp: bool,
) -> Result<Running, String> {
    let out = dir.join("out.log");
    let log = dir.join("collector.log");
    let logf = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let logf2 = logf.try_clone().map_err(|e| e.to_string())?;
    let child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(logf2)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", kind.name()))?;
    let mut r = Running {
        kind,
        child: Some(child),
        dir: dir.to_path_buf(),
        out,
        log,
    };
    r.wait_listening(port, udp)?;
    Ok(r)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether a socket listens on 127.0.0.1:`port` (read from /proc/net/tcp,
/// so no connection is made to the collector).
pub fn listening(port: u16) -> bool {
    bound(port, false)
}

/// Whether a TCP socket listens (state 0A) or, with `udp`, a UDP socket is
/// bound (state 07) on `port`.
pub fn bound(port: u16, udp: bool) -> bool {
    let want = format!(":{port:04X}");
    let (files, state) = if udp {
        (["/proc/net/udp", "/proc/net/udp6"], "07")
    } else {
        (["/proc/net/tcp", "/proc/net/tcp6"], "0A")
    };
    files.iter().any(|f| {
        fs::read_to_string(f).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == state
            })
        })
    })
}

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn wait_listening(&mut self, port: u16, udp: bool) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "{} exited at start-up ({status}):\n{}",
                        self.kind.name(),
                        self.log_text()
                    ));
                }
            }
            if bound(port, udp) {
                // syslog-ng and pysyslog set up the rest right after listen().
                std::thread::sleep(Duration::from_millis(100));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on port {port}:\n{}",
                    self.kind.name(),
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the collector printed.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the collector is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM to the collector; SIGKILL to it and to the processes it started
    /// (identified by pid and start time) if they have not exited in time.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as i32;
        let family = procstat::tree(pid);
        // SAFETY: kill(2) on a pid we started and have not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Descendants it left behind (pysyslog orphans its writer on SIGTERM).
        let deadline = Instant::now() + Duration::from_secs(2);
        for p in family.iter().filter(|p| p.pid != pid) {
            while procstat::alive(p.pid, p.start) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if procstat::alive(p.pid, p.start) {
                // SAFETY: the pid is a descendant of ours, checked by start time.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The arguments ours, pysyslog and the copier share: the TLS certificate and
/// key for a TLS scenario, then `127.0.0.1 PORT`.
fn listen_on(cmd: &mut Command, env: &Env, s: &Setup) {
    if s.tls {
        cmd.arg("--cert")
            .arg(env.tls_file("server-rsa.pem"))
            .arg("--key")
            .arg(env.tls_file("server-rsa.key"));
    }
    cmd.arg("127.0.0.1").arg(s.port.to_string());
}

/// rsyslogd in the foreground (`-n`) with configuration `conf`, modules from a
/// private prefix, and its pid file in `state`.
pub fn rsyslogd_foreground(binary: &Path, modules: &Path, conf: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("-n")
        .arg("-f")
        .arg(conf)
        .arg("-i")
        .arg(state.join("rsyslogd.pid"))
        .arg("-M")
        .arg(modules);
    cmd
}

/// syslog-ng in the foreground from a private prefix (`binary`, its `libs` and
/// `modules` directories) with configuration `conf`, keeping its pid, persist
/// and control files in `state`, so it touches nothing of the system's.
pub fn syslog_ng_foreground(
    binary: &Path,
    libs: &Path,
    modules: &Path,
    conf: &Path,
    state: &Path,
) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env("LD_LIBRARY_PATH", libs)
        .args(["--foreground", "--stderr", "--no-caps"])
        .arg(format!("--cfgfile={}", conf.display()))
        .arg(format!("--module-path={}", modules.display()))
        .arg(format!(
            "--pidfile={}",
            state.join("syslog-ng.pid").display()
        ))
        .arg(format!(
            "--persist-file={}",
            state.join("syslog-ng.persist").display()
        ))
        .arg(format!(
            "--control={}",
            state.join("syslog-ng.ctl").display()
        ));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env {
            repo: "/r".into(),
            bin_dir: "/b".into(),
            peers: "/p".into(),
            venv: "/v".into(),
            work: "/w".into(),
        }
    }

    #[test]
    fn configs_name_the_port_the_file_and_tls() {
        let s = Setup {
            port: 5555,
            tls: true,
            max_connections: 100,
            udp: false,
            output: Output::Usual,
        };
        let out = Path::new("/d/out.log");
        let r = rsyslog_config(&env(), Path::new("/d"), out, &s);
        assert!(r.contains("port=\"5555\"") && r.contains("file=\"/d/out.log\""));
        assert!(r.contains("StreamDriver.Name=\"gtls\"") && r.contains("MaxSessions=\"116\""));
        let g = syslog_ng_config(&env(), out, &s);
        assert!(g.contains("port(5555)") && g.contains("transport(\"tls\")"));
        assert!(g.contains("flags(no-parse)") && g.contains("flags(flow-control)"));
        let u = Setup { udp: true, ..s };
        let r = rsyslog_config(&env(), Path::new("/d"), out, &u);
        assert!(r.contains("type=\"imudp\"") && r.contains("rcvbufSize=\"8388608\""));
        assert!(!r.contains("imtcp") && r.contains("file=\"/d/out.log\""));
        let g = syslog_ng_config(&env(), out, &u);
        assert!(g.contains("transport(\"udp\") so-rcvbuf(8388608)") && g.contains("port(5555)"));
        let p = Setup {
            tls: false,
            output: Output::Parsed,
            ..s
        };
        let r = rsyslog_config(&env(), Path::new("/d"), out, &p);
        assert!(r.contains(
            "string=\"%HOSTNAME% %APP-NAME%[%PROCID%] %syslogseverity-text%:\
             %msg:::sp-if-no-1st-sp%%msg%\\n\""
        ));
        let g = syslog_ng_config(&env(), out, &p);
        assert!(g.contains("flags(syslog-protocol)") && !g.contains("no-parse"));
        assert!(g.contains("template(\"${HOST} ${PROGRAM}[${PID}] ${LEVEL}: ${MSG}\\n\")"));
        let l: serde_json::Value =
            serde_json::from_str(&logging_config_for(out, Output::Parsed)).unwrap();
        assert_eq!(l["formatters"]["bench"]["format"], PARSED_FORMAT);
        assert_eq!(l["loggers"]["pysyslog"]["propagate"], false);
        let d = Setup {
            output: Output::PerSender,
            ..p
        };
        let r = rsyslog_config(&env(), Path::new("/d"), out, &d);
        assert!(r.contains("string=\"/d/senders/%FROMHOST-IP%.log\""), "{r}");
        assert!(r.contains("dynaFile=\"benchfile\"") && r.contains("dynaFileCacheSize=\"1000\""));
        let g = syslog_ng_config(&env(), out, &d);
        assert!(
            g.contains("file(\"/d/senders/$SOURCEIP.log\" template(\"${MSG}\\n\"))"),
            "{g}"
        );
        let l: serde_json::Value =
            serde_json::from_str(&logging_config_for(out, Output::PerSender)).unwrap();
        assert_eq!(l["handlers"]["file"]["filename"], "/d/senders/{name}.log");
        assert_eq!(
            l["handlers"]["file"]["class"],
            "pysyslog.handlers.DynamicFileHandler"
        );
        let j = Setup {
            output: Output::Json,
            ..p
        };
        let r = rsyslog_config(&env(), Path::new("/d"), out, &j);
        assert!(r.contains("option.jsonf=\"on\"") && r.contains("remove.msgFirstSpace=\"on\""));
        assert!(r.contains("property(outname=\"appname\" name=\"app-name\" format=\"jsonf\")"));
        assert!(
            r.contains("ruleset=\"bench\")") && r.contains("addLF=\"on\""),
            "{r}"
        );
        let g = syslog_ng_config(&env(), out, &j);
        assert!(g.contains("$(format-json hostname=${HOST} appname=${PROGRAM} procid=${PID} severity=${LEVEL} msg=${MSG})"), "{g}");
        let l: serde_json::Value =
            serde_json::from_str(&logging_config_for(out, Output::Json)).unwrap();
        assert_eq!(l["formatters"]["bench"]["()"], JSON_FORMATTER);
        assert_eq!(l["formatters"]["bench"]["format"], "%(message)s");
        let l: serde_json::Value = serde_json::from_str(&logging_config(out)).unwrap();
        assert_eq!(l["handlers"]["file"]["filename"], "/d/out.log");
        assert_eq!(
            l["formatters"]["bench"]["format"],
            "%(asctime)s %(name)s %(message)s"
        );
    }
}

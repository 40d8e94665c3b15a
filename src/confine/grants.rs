//! What a writer's configurations need from the file system and the network.
//!
//! Owns: deriving that from the logging configurations (every one a writer
//! may apply: the newest and the one it falls back to) and deciding whether a
//! reloaded configuration fits a running writer's grants. A reload that needs
//! more is applied by a new writer, never by widening a confined one.
//!
//! The configurations a writer boots with are the monitor's; a reload
//! reaches it through the receiver, which faces the network. Whether a
//! reload fits is therefore also checked for what Landlock cannot hold a
//! writer to: the destinations its forwarding handlers send to (a host, not
//! only a TCP port; UDP and Unix sockets, which Landlock does not
//! restrict).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::logging::spec::{HandlerClass, SyslogAddress};
use crate::logging::Config;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories whose files the writer creates, writes, renames, removes.
    pub write_dirs: BTreeSet<PathBuf>,
    /// TCP ports forwarding handlers connect to.
    pub tcp_ports: BTreeSet<u16>,
    /// Where forwarding handlers send, one text each (`udp host:port`,
    /// `tcp host:port`, `unix PATH`, `kafka SERVER`): checked by the writer
    /// itself against a reload, not by the kernel.
    pub destinations: BTreeSet<String>,
}

impl Grants {
    /// What `configs` need, together.
    pub fn for_configs<'a>(configs: impl IntoIterator<Item = &'a Config>) -> Grants {
        let mut grants = Grants::default();
        for config in configs {
            for handler in &config.handlers {
                match &handler.class {
                    HandlerClass::File(f) | HandlerClass::Watched(f) => grants.add_file(&f.path),
                    HandlerClass::Rotating { file, .. } | HandlerClass::Timed { file, .. } => {
                        grants.add_file(&file.path)
                    }
                    HandlerClass::Syslog {
                        address, stream, ..
                    } => grants.add_syslog(address, *stream),
                    // The bootstrap servers' ports; brokers advertised on
                    // other ports must be listed among them.
                    HandlerClass::Kafka { kafka, .. } => {
                        grants.tcp_ports.extend(kafka.ports());
                        grants.destinations.extend(
                            kafka
                                .bootstrap_servers
                                .iter()
                                .map(|server| format!("kafka {}", server.trim())),
                        );
                    }
                    // Its fixed directory alone: no rendered path leaves it.
                    HandlerClass::Dynamic(d) => {
                        grants.write_dirs.insert(d.template.base().to_path_buf());
                    }
                    _ => {}
                }
            }
        }
        grants
    }

    /// A SysLogHandler's address: over TCP with `stream` true, UDP
    /// otherwise (Python's default); a Unix socket either way.
    fn add_syslog(&mut self, address: &SyslogAddress, stream: Option<bool>) {
        let destination = match address {
            SyslogAddress::Inet(host, port) if stream == Some(true) => {
                self.tcp_ports.insert(*port);
                format!("tcp {host}:{port}")
            }
            SyslogAddress::Inet(host, port) => format!("udp {host}:{port}"),
            SyslogAddress::Unix(path) => format!("unix {}", path.display()),
        };
        self.destinations.insert(destination);
    }

    fn add_file(&mut self, path: &Path) {
        if let Some(dir) = path.parent() {
            self.write_dirs.insert(dir.to_path_buf());
        }
    }

    /// What `needed` asks for beyond `self`, described; `None` if it fits.
    pub fn missing(&self, needed: &Grants) -> Option<String> {
        let dirs: Vec<String> = needed
            .write_dirs
            .iter()
            .filter(|d| !self.write_dirs.iter().any(|g| d.starts_with(g)))
            .map(|d| d.display().to_string())
            .collect();
        let ports: Vec<String> = needed
            .tcp_ports
            .difference(&self.tcp_ports)
            .map(u16::to_string)
            .collect();
        let destinations: Vec<&str> = needed
            .destinations
            .difference(&self.destinations)
            .map(String::as_str)
            .collect();
        if dirs.is_empty() && ports.is_empty() && destinations.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !dirs.is_empty() {
            parts.push(format!("writing in {}", dirs.join(", ")));
        }
        if !ports.is_empty() {
            parts.push(format!("connecting to TCP port {}", ports.join(", ")));
        }
        if !destinations.is_empty() {
            parts.push(format!("sending to {}", destinations.join(", ")));
        }
        Some(parts.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        Config::from_json_str_in(json, Path::new("/etc/l.json"), Path::new("/srv")).unwrap()
    }

    #[test]
    fn file_directories_and_tcp_forwarding_ports_are_granted() {
        let c = config(
            r#"{"version": 1, "handlers": {
                "a": {"class": "logging.FileHandler", "filename": "/var/log/a/x.log"},
                "b": {"class": "logging.handlers.RotatingFileHandler", "filename": "rel/y.log"},
                "t": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", 6514], "socktype": 1},
                "u": {"class": "logging.handlers.SysLogHandler", "address": ["127.0.0.1", 514]}},
               "root": {"handlers": ["a", "b", "t", "u"]}}"#,
        );
        let g = Grants::for_configs([&c]);
        let dirs: Vec<_> = g
            .write_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        assert_eq!(dirs, ["/srv/rel", "/var/log/a"]);
        assert_eq!(g.tcp_ports.into_iter().collect::<Vec<_>>(), [6514]);
        assert_eq!(
            g.destinations.into_iter().collect::<Vec<_>>(),
            ["tcp 127.0.0.1:6514", "udp 127.0.0.1:514"]
        );
    }

    /// Landlock holds a writer to ports, and not to UDP or Unix sockets at
    /// all: a reload (which comes through the receiver) that sends
    /// anywhere else does not fit, so a new writer built from the
    /// monitor's configuration applies it, or nothing does.
    #[test]
    fn a_reload_that_sends_elsewhere_does_not_fit() {
        let syslog = |address: &str, socktype: &str| {
            Grants::for_configs([&config(&format!(
                r#"{{"version": 1, "handlers": {{"s": {{"class": "logging.handlers.SysLogHandler", "address": {address}{socktype}}}}}, "root": {{"handlers": ["s"]}}}}"#
            ))])
        };
        let booted = syslog(r#"["10.0.0.1", 514]"#, "");
        assert_eq!(booted.missing(&syslog(r#"["10.0.0.1", 514]"#, "")), None);
        assert_eq!(
            booted
                .missing(&syslog(r#"["203.0.113.9", 514]"#, ""))
                .as_deref(),
            Some("sending to udp 203.0.113.9:514")
        );
        assert_eq!(
            booted.missing(&syslog(r#""/dev/log""#, "")).as_deref(),
            Some("sending to unix /dev/log")
        );
        let tcp = syslog(r#"["10.0.0.1", 6514]"#, r#", "socktype": 1"#);
        assert_eq!(
            tcp.missing(&syslog(r#"["203.0.113.9", 6514]"#, r#", "socktype": 1"#))
                .as_deref(),
            Some("sending to tcp 203.0.113.9:6514")
        );
    }

    #[test]
    fn a_reload_fits_when_its_directories_lie_beneath_the_grants() {
        let old = Grants::for_configs([&config(
            r#"{"version": 1, "handlers": {"a": {"class": "logging.FileHandler", "filename": "/var/log/a/x.log"}}, "root": {"handlers": ["a"]}}"#,
        )]);
        let same_dir = Grants::for_configs([&config(
            r#"{"version": 1, "handlers": {"a": {"class": "logging.FileHandler", "filename": "/var/log/a/other.log"}}, "root": {"handlers": ["a"]}}"#,
        )]);
        let elsewhere = Grants::for_configs([&config(
            r#"{"version": 1, "handlers": {"a": {"class": "logging.FileHandler", "filename": "/srv/b/x.log"}}, "root": {"handlers": ["a"]}}"#,
        )]);
        assert_eq!(old.missing(&same_dir), None);
        assert_eq!(
            old.missing(&elsewhere).as_deref(),
            Some("writing in /srv/b")
        );
    }
}

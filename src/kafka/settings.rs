//! A KafkaHandler's settings: its arguments as the configuration gives them,
//! and the librdkafka configuration made from them.
//!
//! Owns: the defaults that make a broker outage backpressure instead of loss
//! (no delivery timeout, idempotence, a byte bound on what librdkafka holds),
//! which librdkafka properties the handler's own arguments set, and checking
//! every property with librdkafka itself (without creating a client, so no
//! thread and no connection). Does not own: reading the JSON (the logging
//! configuration does that) or producing.

use super::error::KafkaError;
use rdkafka::ClientConfig;

/// What a record's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The logger name: the peer's address, so each source's lines stay in
    /// order within one partition.
    LoggerName,
    /// No key (librdkafka spreads records over partitions).
    None,
}

/// `compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Lz4,
    Zstd,
    Snappy,
}

impl Compression {
    pub const NAMES: &'static str = "none, gzip, lz4, zstd, snappy";

    pub fn parse(name: &str) -> Option<Compression> {
        Some(match name {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            "snappy" => Compression::Snappy,
            _ => return None,
        })
    }

    fn librdkafka(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
        }
    }
}

/// A KafkaHandler's arguments, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaArgs {
    /// `host:port` each.
    pub bootstrap_servers: Vec<String>,
    pub topic: String,
    pub key: KeySource,
    /// librdkafka's `acks`: `all`, `-1`, `0` or `1`.
    pub acks: String,
    pub compression: Compression,
    /// Further librdkafka properties, as text, in the configuration's order.
    pub properties: Vec<(String, String)>,
}

/// Most bytes of records librdkafka holds for one handler before producing
/// blocks the writer (`queue.buffering.max.kbytes`, unless `properties`
/// sets it): 64 MiB.
pub const DEFAULT_BUFFER_KBYTES: u64 = 64 * 1024;

/// The port librdkafka uses for a bootstrap server given without one.
pub const DEFAULT_PORT: u16 = 9092;

/// Properties the handler's own arguments set: giving them in `properties`
/// too would leave two answers to one question.
const SET_BY_ARGUMENTS: &[(&str, &str)] = &[
    ("bootstrap.servers", "bootstrap_servers"),
    ("metadata.broker.list", "bootstrap_servers"),
    ("acks", "acks"),
    ("request.required.acks", "acks"),
    ("compression.type", "compression"),
    ("compression.codec", "compression"),
];

/// Properties that would take the handler's delivery reports or its
/// threads away from it.
const RESERVED: &[&str] = &[
    "delivery.report.only.error",
    "dr_cb",
    "dr_msg_cb",
    "enabled_events",
    "background_event_cb",
    "interceptors",
    "plugin.library.paths",
    "transactional.id",
];

impl KafkaArgs {
    /// Check what only librdkafka can tell (property names and values), and
    /// the properties the handler keeps for itself. The error names the
    /// property.
    pub fn validate(&self) -> Result<(), KafkaError> {
        for (name, _) in &self.properties {
            if let Some((_, arg)) = SET_BY_ARGUMENTS.iter().find(|(p, _)| p == name) {
                return Err(KafkaError::SetByArgument {
                    property: name.clone(),
                    argument: arg,
                });
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(KafkaError::Reserved(name.clone()));
            }
        }
        for server in &self.bootstrap_servers {
            server_port(server)?;
        }
        self.client_config()
            .create_native_config()
            .map(drop)
            .map_err(|e| KafkaError::Properties(e.to_string()))
    }

    /// The librdkafka configuration: our defaults, then the arguments, then
    /// `properties` (which may override the defaults).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        // A delivery never times out: while no broker answers, records wait
        // (and the writer's acknowledgements with them) instead of failing.
        c.set("message.timeout.ms", "0");
        // Retries keep each partition's order and add no duplicates
        // (librdkafka allows it with acks=all only).
        if matches!(self.acks.as_str(), "all" | "-1") {
            c.set("enable.idempotence", "true");
        }
        c.set(
            "queue.buffering.max.kbytes",
            DEFAULT_BUFFER_KBYTES.to_string(),
        );
        // The byte bound above is the one that matters; the count must not
        // stop small records first.
        c.set("queue.buffering.max.messages", "10000000");
        c.set("client.id", "pysyslog");
        c.set("bootstrap.servers", self.bootstrap_servers.join(","));
        c.set("acks", &self.acks);
        c.set("compression.type", self.compression.librdkafka());
        for (name, value) in &self.properties {
            c.set(name, value);
        }
        c
    }

    /// The TCP ports the bootstrap servers listen on (what a confined writer
    /// may connect to).
    pub fn ports(&self) -> Vec<u16> {
        self.bootstrap_servers
            .iter()
            .filter_map(|s| server_port(s).ok())
            .collect()
    }
}

/// The port of `host:port`, `[v6]:port`, or [`DEFAULT_PORT`] without one.
pub fn server_port(server: &str) -> Result<u16, KafkaError> {
    let bad = || KafkaError::BadServer(server.to_owned());
    let server = server.trim();
    // librdkafka also takes a protocol prefix (`PLAINTEXT://host:port`).
    let server = server.split_once("://").map_or(server, |(_, rest)| rest);
    if server.is_empty() {
        return Err(bad());
    }
    let port = if let Some(rest) = server.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, "")) => return Ok(DEFAULT_PORT),
            Some((_, p)) => p.strip_prefix(':').ok_or_else(bad)?,
            None => return Err(bad()),
        }
    } else {
        match server.rsplit_once(':') {
            None => return Ok(DEFAULT_PORT),
            Some((host, _)) if host.is_empty() || host.contains(':') => return Err(bad()),
            Some((_, p)) => p,
        }
    };
    port.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> KafkaArgs {
        KafkaArgs {
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            topic: "logs".into(),
            key: KeySource::LoggerName,
            acks: "all".into(),
            compression: Compression::None,
            properties: Vec::new(),
        }
    }

    #[test]
    fn ports_of_every_server_form() {
        for (s, port) in [
            ("127.0.0.1:9093", 9093),
            ("kafka.example", DEFAULT_PORT),
            ("[::1]:19092", 19092),
            ("[::1]", DEFAULT_PORT),
            ("PLAINTEXT://broker:29092", 29092),
        ] {
            assert_eq!(server_port(s), Ok(port), "{s}");
        }
        for bad in [
            "",
            ":9092",
            "host:",
            "host:0",
            "host:70000",
            "[::1",
            "a:b:c",
        ] {
            assert!(server_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn librdkafka_checks_property_names_and_values() {
        let mut a = args();
        a.properties = vec![("linger.ms".into(), "20".into())];
        assert_eq!(a.validate(), Ok(()));
        a.properties = vec![("no.such.property".into(), "1".into())];
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("no.such.property"), "{e}");
        a.properties = vec![("linger.ms".into(), "not a number".into())];
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("linger.ms"), "{e}");
    }

    #[test]
    fn arguments_and_reserved_properties_cannot_be_set_twice() {
        let mut a = args();
        a.properties = vec![("bootstrap.servers".into(), "x:1".into())];
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("'bootstrap_servers' argument"), "{e}");
        a.properties = vec![("delivery.report.only.error".into(), "true".into())];
        assert!(a
            .validate()
            .unwrap_err()
            .to_string()
            .contains("its own value"));
    }

    #[test]
    fn defaults_never_time_a_delivery_out_and_properties_override_them() {
        let mut a = args();
        let c = a.client_config();
        assert_eq!(c.get("message.timeout.ms"), Some("0"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        a.properties = vec![("message.timeout.ms".into(), "30000".into())];
        assert_eq!(a.client_config().get("message.timeout.ms"), Some("30000"));
    }
}

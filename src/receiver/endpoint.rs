//! `--listen URL`: `tcp://HOST:PORT`, `tls://HOST:PORT`, `udp://HOST:PORT`,
//! `relp://HOST:PORT`, `relp+tls://HOST:PORT`,
//! with IPv6 addresses in brackets (`tcp://[::1]:514`).
//!
//! Owns: parsing a URL into a transport, host and port. Does not own:
//! resolving the host or binding (`super::listener`).

use std::fmt;
use std::str::FromStr;

/// What a listener speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Tls,
    Udp,
    /// RELP (rsyslog's librelp) over TCP.
    Relp,
    /// RELP over TLS.
    RelpTls,
}

impl Transport {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Udp => "udp",
            Transport::Relp => "relp",
            Transport::RelpTls => "relp+tls",
        }
    }

    /// Whether it is a stream (TCP or TLS over TCP).
    pub fn is_stream(self) -> bool {
        self != Transport::Udp
    }

    /// Whether it runs over TLS (and needs --cert and --key).
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::RelpTls)
    }
}

/// A parsed `--listen` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub transport: Transport,
    /// The host as written, without brackets.
    pub host: String,
    pub port: u16,
}

/// One listener to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub endpoint: Endpoint,
    /// Defined by positional HOST PORT (the banner's first line is pysyslog's).
    pub positional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Its message follows the option's value in clap's error, so it does not
/// repeat it.
#[error(
    "{why} (write tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, relp://HOST:PORT or relp+tls://HOST:PORT; IPv6 as tcp://[::1]:514)"
)]
pub struct EndpointError {
    text: String,
    why: &'static str,
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Endpoint, EndpointError> {
        let err = |why| EndpointError {
            text: text.to_owned(),
            why,
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| err("no scheme"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            "udp" => Transport::Udp,
            "relp" => Transport::Relp,
            "relp+tls" => Transport::RelpTls,
            _ => return Err(err("the scheme is not tcp, tls, udp, relp or relp+tls")),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| err("no closing ']'"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(err("brackets hold an IPv6 address"));
            }
            let port = after.strip_prefix(':').ok_or_else(|| err("no port"))?;
            (host, port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| err("no port"))?;
            if host.contains(':') {
                return Err(err("an IPv6 address goes in brackets"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        if host.contains(['/', '?', '#', '@', ' ']) {
            return Err(err("bad host"));
        }
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        let port = match port.parse::<u16>() {
            // 0: any free port, as for HOST PORT; the banner names the one bound.
            Ok(p) if digits => p,
            _ => return Err(err("the port is not a number from 0 to 65535")),
        };
        Ok(Endpoint {
            transport,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}",
                self.transport.scheme(),
                self.host,
                self.port
            )
        } else {
            write!(
                f,
                "{}://{}:{}",
                self.transport.scheme(),
                self.host,
                self.port
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn parses_each_scheme_and_ipv6_in_brackets() {
        assert_eq!(
            ep("tcp://127.0.0.1:514"),
            Endpoint {
                transport: Transport::Tcp,
                host: "127.0.0.1".into(),
                port: 514
            }
        );
        assert_eq!(ep("tls://localhost:6514").transport, Transport::Tls);
        assert_eq!(ep("UDP://0.0.0.0:514").transport, Transport::Udp);
        assert_eq!(ep("relp://127.0.0.1:2514").transport, Transport::Relp);
        assert_eq!(
            ep("RELP+TLS://[::1]:2514").to_string(),
            "relp+tls://[::1]:2514"
        );
        let v6 = ep("tcp://[::1]:514");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 514));
        assert_eq!(v6.to_string(), "tcp://[::1]:514");
        assert_eq!(ep("udp://[::]:1514").to_string(), "udp://[::]:1514");
    }

    #[test]
    fn refuses_what_is_not_a_listener() {
        for bad in [
            "127.0.0.1:514",
            "http://127.0.0.1:514",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:",
            "tcp://127.0.0.1:65536",
            "tcp://127.0.0.1:+5",
            "tcp://::1:514",
            "tcp://[::1:514",
            "tcp://[foo]:514",
            "tcp://[::1]514",
            "tcp://:514",
            "tcp://a/b:514",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        let e = "tcp://x".parse::<Endpoint>().unwrap_err().to_string();
        assert!(e.starts_with("no port (write tcp://HOST:PORT"), "{e}");
    }

    proptest! {
        #[test]
        fn display_parses_back(t in 0..5u8, a: [u8; 16], v4: bool, port in 1u16..) {
            let transport = [
                Transport::Tcp,
                Transport::Tls,
                Transport::Udp,
                Transport::Relp,
                Transport::RelpTls,
            ][usize::from(t)];
            let host = if v4 {
                std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
            } else {
                std::net::Ipv6Addr::from(a).to_string()
            };
            let e = Endpoint { transport, host, port };
            prop_assert_eq!(e.to_string().parse::<Endpoint>().unwrap(), e);
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Endpoint>();
        }
    }
}

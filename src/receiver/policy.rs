//! Who is served and how accepted sockets are set up: `--allow`,
//! `--proxy-protocol-from`, `--tcp-keepalive`, what one source is
//! (`--source-prefix-v6`), and who may read the metrics (`--metrics-allow`).
//!
//! Owns: the decision at accept (refuse, serve, or serve after a PROXY
//! header), and the keepalive socket options. Does not own: parsing the
//! header ([`super::proxy`]) or reporting refusals ([`super::refusals`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use super::source::SourceGrouping;
use crate::cidr::CidrSet;

/// Probes sent before a silent peer is declared dead.
const KEEPALIVE_PROBES: u32 = 5;
/// The longest gap between probes (the kernel's own default interval).
const KEEPALIVE_MAX_INTERVAL: Duration = Duration::from_secs(75);

/// The receiver's admission rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Sources served; empty: everyone. Shared with connections that learn
    /// their source from a PROXY header.
    pub allow: Arc<CidrSet>,
    /// Peers that must start with a PROXY protocol header.
    pub proxy_from: CidrSet,
    /// Idle time before keepalive probes; `None`: off.
    pub keepalive: Option<Duration>,
    /// What one source is, for the per-source limit and reports
    /// (`--source-prefix-v6`).
    pub sources: SourceGrouping,
    /// Clients the metrics endpoint serves (`--metrics-allow` or its
    /// default); empty: none.
    pub metrics_allow: CidrSet,
}

/// What to do with a new TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Not in `--allow`: close it.
    Refuse,
    Serve,
    /// A trusted balancer: read its PROXY header first; the allow-list then
    /// applies to the address in the header.
    ServeAfterHeader,
}

impl Policy {
    /// The rules: `--allow`, `--proxy-protocol-from`, `--tcp-keepalive`,
    /// `--source-prefix-v6`, `--metrics-allow`.
    pub fn new(
        allow: CidrSet,
        proxy_from: CidrSet,
        keepalive: Option<std::time::Duration>,
        source_prefix_v6: u8,
        metrics_allow: CidrSet,
    ) -> Policy {
        Policy {
            allow: Arc::new(allow),
            proxy_from,
            keepalive,
            sources: SourceGrouping::new(source_prefix_v6),
            metrics_allow,
        }
    }

    /// The rule for a TCP or TLS peer at `ip`.
    pub fn admit_stream(&self, ip: IpAddr) -> Admission {
        if self.proxy_from.contains(ip) {
            Admission::ServeAfterHeader
        } else if self.allows(ip) {
            Admission::Serve
        } else {
            Admission::Refuse
        }
    }

    /// Whether a line from `ip` may be logged.
    pub fn allows(&self, ip: IpAddr) -> bool {
        allowed(&self.allow, ip)
    }

    /// Keepalive on an accepted socket. A failure leaves the connection
    /// working as it would have without the option, so it is not fatal.
    pub fn set_up(&self, socket: &mio::net::TcpStream) -> std::io::Result<()> {
        match self.keepalive {
            Some(idle) => SockRef::from(socket).set_tcp_keepalive(&keepalive(idle)),
            None => Ok(()),
        }
    }
}

/// Whether `allow` (empty: everyone) admits `ip`.
pub fn allowed(allow: &CidrSet, ip: IpAddr) -> bool {
    allow.is_empty() || allow.contains(ip)
}

/// Probes every tenth of the idle time (between 1 s and 75 s), five of them:
/// a dead peer is closed within one and a half idle times.
fn keepalive(idle: Duration) -> TcpKeepalive {
    let interval = (idle / 10).clamp(Duration::from_secs(1), KEEPALIVE_MAX_INTERVAL);
    TcpKeepalive::new()
        .with_time(idle)
        .with_interval(interval)
        .with_retries(KEEPALIVE_PROBES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cidr::Cidr;

    fn set(nets: &[&str]) -> CidrSet {
        CidrSet::new(nets.iter().map(|n| n.parse::<Cidr>().unwrap()).collect())
    }

    #[test]
    fn trusted_balancers_send_headers_others_are_checked_at_once() {
        let policy = Policy {
            allow: Arc::new(set(&["10.0.0.0/8"])),
            proxy_from: set(&["127.0.0.1"]),
            keepalive: None,
            sources: SourceGrouping::default(),
            metrics_allow: CidrSet::default(),
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            policy.admit_stream(ip("127.0.0.1")),
            Admission::ServeAfterHeader
        );
        assert_eq!(policy.admit_stream(ip("10.1.2.3")), Admission::Serve);
        assert_eq!(policy.admit_stream(ip("::ffff:10.1.2.3")), Admission::Serve);
        assert_eq!(policy.admit_stream(ip("127.0.0.2")), Admission::Refuse);
        assert_eq!(Policy::default().admit_stream(ip("::1")), Admission::Serve);
    }

    #[test]
    fn keepalive_is_set_on_the_accepted_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let socket = mio::net::TcpStream::from_std(accepted);
        let policy = Policy {
            keepalive: Some(Duration::from_secs(300)),
            ..Policy::default()
        };
        policy.set_up(&socket).unwrap();
        let sock = SockRef::from(&socket);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(300));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 5);

        let off = mio::net::TcpStream::from_std(
            std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap(),
        );
        Policy::default().set_up(&off).unwrap();
        assert!(!SockRef::from(&off).keepalive().unwrap());
    }
}

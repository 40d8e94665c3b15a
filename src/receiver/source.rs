//! What one source is, for the limits and reports kept per source: an IPv4
//! address, or an IPv6 network of `--source-prefix-v6` bits (a /64 by
//! default), since one host is commonly given a whole /64 and could
//! otherwise count as any number of sources.
//!
//! Owns: turning a peer's address into its [`SourceKey`] and naming it.
//! Does not own: the limits ([`super::connections`]) or the reports
//! ([`super::refusals`]).

use std::fmt;
use std::net::IpAddr;

use crate::cidr::Cidr;

/// The prefix IPv6 sources are counted by unless told otherwise: the
/// smallest network commonly given to one host or site (RFC 6177).
pub const DEFAULT_V6_PREFIX: u8 = 64;

/// How peers' addresses group into sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceGrouping {
    v6_prefix: u8,
}

impl Default for SourceGrouping {
    fn default() -> Self {
        SourceGrouping::new(DEFAULT_V6_PREFIX)
    }
}

impl SourceGrouping {
    /// IPv6 addresses count by their first `v6_prefix` bits (at most 128).
    pub fn new(v6_prefix: u8) -> SourceGrouping {
        SourceGrouping {
            v6_prefix: v6_prefix.min(128),
        }
    }

    /// The source `ip` counts as.
    pub fn key(&self, ip: IpAddr) -> SourceKey {
        SourceKey(Cidr::containing(ip, self.v6_prefix))
    }
}

/// One source: an address, or the IPv6 network its addresses count as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey(Cidr);

impl SourceKey {
    /// How to name `ip`, a peer of this source, in a message: the address,
    /// and the network it counts as when that is more than the address.
    pub fn naming(&self, ip: IpAddr) -> String {
        if self.0.is_host() {
            ip.to_canonical().to_string()
        } else {
            format!("{} in {}", ip.to_canonical(), self.0)
        }
    }
}

impl fmt::Display for SourceKey {
    /// An address as itself, a network as `NET/PREFIX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_host() {
            write!(f, "{}", self.0.network())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_addresses_of_one_prefix_are_one_source() {
        let g = SourceGrouping::default();
        let a = g.key(ip("2001:db8:0:1::5"));
        assert_eq!(a, g.key(ip("2001:db8:0:1:ffff::9")));
        assert_ne!(a, g.key(ip("2001:db8:0:2::5")));
        assert_eq!(a.to_string(), "2001:db8:0:1::/64");
        assert_eq!(
            a.naming(ip("2001:db8:0:1::5")),
            "2001:db8:0:1::5 in 2001:db8:0:1::/64"
        );
        let wider = SourceGrouping::new(48);
        assert_eq!(
            wider.key(ip("2001:db8:0:1::5")),
            wider.key(ip("2001:db8:0:2::5"))
        );
        let exact = SourceGrouping::new(128);
        assert_ne!(exact.key(ip("::1")), exact.key(ip("::2")));
        assert_eq!(exact.key(ip("::1")).naming(ip("::1")), "::1");
    }

    #[test]
    fn ipv4_addresses_are_each_their_own_source() {
        let g = SourceGrouping::default();
        assert_ne!(g.key(ip("10.0.0.1")), g.key(ip("10.0.0.2")));
        assert_eq!(g.key(ip("::ffff:10.0.0.1")), g.key(ip("10.0.0.1")));
        assert_eq!(g.key(ip("10.0.0.1")).to_string(), "10.0.0.1");
        assert_eq!(g.key(ip("10.0.0.1")).naming(ip("10.0.0.1")), "10.0.0.1");
    }
}

//! Networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address),
//! for `--allow`, `--proxy-protocol-from` and the `peer` of
//! `pysyslog.filters.SyslogFilter`.
//!
//! Owns: parsing, matching a peer address (an IPv4-mapped IPv6 peer, as a
//! dual-stack `::` listener sees IPv4 clients, matches IPv4 networks), and a
//! set of networks. Does not own: what a match means.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One network: an address with its host bits cleared, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Its message follows the option's value in clap's error, so it does not
/// repeat it.
#[error(
    "not a network: {why} (write ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32, or one address)"
)]
pub struct CidrError {
    text: String,
    why: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let err = |why| CidrError {
            text: text.to_owned(),
            why,
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| err("bad address"))?;
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| err("bad prefix length"))?
            }
            Some(_) => return Err(err("bad prefix length")),
        };
        if prefix > max {
            return Err(err("prefix length too long for the address"));
        }
        Ok(Cidr {
            network: mask(ip, prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl Cidr {
    /// The network of `prefix` bits holding `ip` (an IPv4-mapped address is
    /// taken as IPv4); a prefix longer than the family's is its whole length.
    pub fn containing(ip: IpAddr, prefix: u8) -> Cidr {
        let ip = ip.to_canonical();
        let prefix = prefix.min(if ip.is_ipv4() { 32 } else { 128 });
        Cidr {
            network: mask(ip, prefix),
            prefix,
        }
    }

    /// Whether it is one address (a /32 or a /128).
    pub fn is_host(&self) -> bool {
        self.prefix == if self.network.is_ipv4() { 32 } else { 128 }
    }

    /// Its address with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// Any number of networks; empty contains nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet(Vec<Cidr>);

impl CidrSet {
    pub fn new(networks: Vec<Cidr>) -> CidrSet {
        CidrSet(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Its networks, in the order given.
    pub fn networks(&self) -> &[Cidr] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_single_addresses() {
        assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("127.0.0.2").to_string(), "127.0.0.2/32");
        assert_eq!(net("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(net("::ffff:10.0.0.0/8").to_string(), "10.0.0.0/8");
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::/129",
            "host/8",
            "1.2.3.4/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let e = "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string();
        assert!(
            e.starts_with("not a network: prefix length too long"),
            "{e}"
        );
    }

    #[test]
    fn matches_by_family_and_prefix() {
        assert!(net("127.0.0.0/8").contains(ip("127.9.9.9")));
        assert!(!net("127.0.0.0/8").contains(ip("128.0.0.1")));
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.3")));
        assert!(!net("::/0").contains(ip("10.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("10.0.0.1")));
        assert!(net("::1").contains(ip("::1")));
        assert!(!net("::1").contains(ip("::2")));
        let set = CidrSet::new(vec![net("10.0.0.0/8"), net("::1")]);
        assert!(set.contains(ip("10.2.3.4")) && set.contains(ip("::1")));
        assert!(!set.contains(ip("11.0.0.1")) && !CidrSet::default().contains(ip("::1")));
    }

    #[test]
    fn the_network_containing_an_address() {
        let of = |s: &str, p| Cidr::containing(ip(s), p).to_string();
        assert_eq!(of("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2::/64");
        assert_eq!(of("::1", 64), "::/64");
        assert_eq!(of("::ffff:10.1.2.3", 64), "10.1.2.3/32");
        assert_eq!(of("10.1.2.3", 200), "10.1.2.3/32");
        assert!(Cidr::containing(ip("::1"), 128).is_host());
        assert!(!Cidr::containing(ip("::1"), 64).is_host());
    }

    proptest! {
        #[test]
        fn a_network_contains_exactly_the_addresses_sharing_its_prefix(a: u32, b: u32, prefix in 0u8..=32) {
            let n: Cidr = format!("{}/{prefix}", std::net::Ipv4Addr::from(a)).parse().unwrap();
            let shift = 32 - u32::from(prefix);
            let same = a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0);
            prop_assert_eq!(n.contains(IpAddr::V4(b.into())), same);
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Cidr>();
        }
    }
}

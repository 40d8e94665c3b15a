//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2)
//! that a trusted load balancer sends before a connection's first byte.
//!
//! Owns: detecting the version from the first bytes, parsing either version
//! from any chunking, and the errors for a header that is missing, malformed
//! or longer than the protocol allows. Does not own: which peers must send
//! one (`--proxy-protocol-from`, the caller decides) or logging.
//!
//! The parser holds at most [`MAX_HELD_BYTES`] bytes whatever the peer sends:
//! a version 1 line is at most 107 bytes by the specification, and a version 2
//! header's fixed part and largest address block fit too; its TLVs (which may
//! take up to 64 KiB) are counted off, never stored, as nothing here uses them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 1 line starts so.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 line, CRLF included (the specification's figure).
pub const V1_MAX_BYTES: usize = 107;
/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/transport, 2-byte length.
const V2_FIXED_BYTES: usize = 16;
/// The largest address block (AF_UNIX: two 108-byte paths).
const V2_UNIX_BLOCK: usize = 216;
const V2_INET_BLOCK: usize = 12;
const V2_INET6_BLOCK: usize = 36;
/// What the parser ever holds: a version 2 header's fixed part and largest
/// address block (more than a whole version 1 line).
pub const MAX_HELD_BYTES: usize = V2_FIXED_BYTES + V2_UNIX_BLOCK;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxied {
    /// The client's address, as the balancer saw it.
    Source(SocketAddr),
    /// A version 2 `LOCAL` command (the balancer's own health check), or an
    /// address the header does not give (`UNKNOWN`, `AF_UNSPEC`, `AF_UNIX`):
    /// the connection is served as one from the balancer itself.
    Balancer,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no PROXY protocol header (the connection starts with {0:?})")]
    Missing(String),
    #[error("PROXY protocol v1 line longer than {V1_MAX_BYTES} bytes")]
    TooLong,
    #[error("malformed PROXY protocol v1 line: {0}")]
    MalformedV1(&'static str),
    #[error("malformed PROXY protocol v2 header: {0}")]
    MalformedV2(&'static str),
}

/// Progress after some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The header is not complete yet: every byte given was consumed.
    NeedMore,
    /// The header is complete; `consumed` bytes of the last chunk were part
    /// of it, the rest is the connection's data.
    Done { header: Proxied, consumed: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Too few bytes to tell the version.
    Detect,
    V1,
    /// The fixed part and address block are being held.
    V2,
    /// Counting off the TLVs after the address block.
    V2Skip {
        header: Proxied,
        left: usize,
    },
    Finished,
}

/// An incremental parser: feed it the connection's bytes as they arrive.
#[derive(Debug, Clone)]
pub struct ProxyParser {
    held: [u8; MAX_HELD_BYTES],
    len: usize,
    stage: Stage,
}

impl Default for ProxyParser {
    fn default() -> Self {
        ProxyParser::new()
    }
}

impl ProxyParser {
    pub fn new() -> ProxyParser {
        ProxyParser {
            held: [0; MAX_HELD_BYTES],
            len: 0,
            stage: Stage::Detect,
        }
    }

    /// Feed the next bytes. After `Done` or an error the parser is spent.
    pub fn push(&mut self, data: &[u8]) -> Result<Parsed, ProxyError> {
        let start_len = self.len;
        let mut used = 0;
        loop {
            match self.stage {
                Stage::Finished => return Err(ProxyError::MalformedV2("parser reused")),
                Stage::V2Skip { header, left } => {
                    let take = left.min(data.len() - used);
                    used += take;
                    if take == left {
                        self.stage = Stage::Finished;
                        return Ok(Parsed::Done {
                            header,
                            consumed: used,
                        });
                    }
                    self.stage = Stage::V2Skip {
                        header,
                        left: left - take,
                    };
                    return Ok(Parsed::NeedMore);
                }
                Stage::Detect => {
                    used += self.hold(&data[used..], V2_SIGNATURE.len());
                    let held = &self.held[..self.len];
                    let v1 = V1_PREFIX.starts_with(held) || held.starts_with(V1_PREFIX);
                    let v2 = V2_SIGNATURE.starts_with(held) || held.starts_with(V2_SIGNATURE);
                    if !v1 && !v2 {
                        self.stage = Stage::Finished;
                        return Err(ProxyError::Missing(
                            String::from_utf8_lossy(held).into_owned(),
                        ));
                    }
                    if self.len < V1_PREFIX.len() {
                        return Ok(Parsed::NeedMore);
                    }
                    if v1 {
                        self.stage = Stage::V1;
                        // Bytes held beyond the prefix may already hold the CRLF.
                        if let Some(done) = self.finish_v1(start_len)? {
                            return Ok(done);
                        }
                        continue;
                    }
                    if self.len < V2_SIGNATURE.len() {
                        return Ok(Parsed::NeedMore);
                    }
                    self.stage = Stage::V2;
                }
                Stage::V1 => {
                    self.hold(&data[used..], V1_MAX_BYTES);
                    return match self.finish_v1(start_len)? {
                        Some(done) => Ok(done),
                        None if self.len >= V1_MAX_BYTES => {
                            self.stage = Stage::Finished;
                            Err(ProxyError::TooLong)
                        }
                        None => Ok(Parsed::NeedMore),
                    };
                }
                Stage::V2 => {
                    used += self.hold(&data[used..], V2_FIXED_BYTES);
                    if self.len < V2_FIXED_BYTES {
                        return Ok(Parsed::NeedMore);
                    }
                    let declared = usize::from(u16::from_be_bytes([self.held[14], self.held[15]]));
                    let block = match v2_block_len(self.held[12], self.held[13]) {
                        Ok(block) => block,
                        Err(e) => {
                            self.stage = Stage::Finished;
                            return Err(e);
                        }
                    };
                    if declared < block {
                        self.stage = Stage::Finished;
                        return Err(ProxyError::MalformedV2(
                            "length shorter than its address block",
                        ));
                    }
                    used += self.hold(&data[used..], V2_FIXED_BYTES + block);
                    if self.len < V2_FIXED_BYTES + block {
                        return Ok(Parsed::NeedMore);
                    }
                    let header = v2_header(
                        self.held[12],
                        self.held[13],
                        &self.held[V2_FIXED_BYTES..self.len],
                    );
                    self.stage = Stage::V2Skip {
                        header,
                        left: declared - block,
                    };
                }
            }
        }
    }

    /// Copy bytes from `data` until `limit` bytes are held; returns how many.
    fn hold(&mut self, data: &[u8], limit: usize) -> usize {
        let take = limit.saturating_sub(self.len).min(data.len());
        self.held[self.len..self.len + take].copy_from_slice(&data[..take]);
        self.len += take;
        take
    }

    /// If the held bytes contain the CRLF, parse the line. `start_len` is how
    /// much was held before the current chunk (every byte of it consumed so
    /// far was held).
    fn finish_v1(&mut self, start_len: usize) -> Result<Option<Parsed>, ProxyError> {
        let held = &self.held[..self.len];
        let Some(end) = memchr::memmem::find(held, b"\r\n") else {
            return Ok(None);
        };
        self.stage = Stage::Finished;
        let header = parse_v1(&held[V1_PREFIX.len()..end])?;
        // Bytes held after the CRLF belong to the data: they are not consumed.
        // The CRLF cannot lie in bytes held before this chunk (it is looked
        // for as soon as the prefix is complete, and the prefix has none).
        let consumed = (end + 2).saturating_sub(start_len);
        Ok(Some(Parsed::Done { header, consumed }))
    }
}

/// `TCP4 SRC DST SPORT DPORT`, `TCP6 ...` or `UNKNOWN[ anything]`.
fn parse_v1(line: &[u8]) -> Result<Proxied, ProxyError> {
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::MalformedV1("not ASCII"))?;
    if text == "UNKNOWN" || text.starts_with("UNKNOWN ") {
        return Ok(Proxied::Balancer);
    }
    let mut fields = text.split(' ');
    let family = fields.next().unwrap_or_default();
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError::MalformedV1(
            "expected PROTO SRC DST SPORT DPORT",
        ));
    };
    let ip: IpAddr = match family {
        "TCP4" => src
            .parse::<Ipv4Addr>()
            .map_err(|_| ProxyError::MalformedV1("bad IPv4 source address"))?
            .into(),
        "TCP6" => src
            .parse::<Ipv6Addr>()
            .map_err(|_| ProxyError::MalformedV1("bad IPv6 source address"))?
            .into(),
        _ => {
            return Err(ProxyError::MalformedV1(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let baddst = match family {
        "TCP4" => dst.parse::<Ipv4Addr>().is_err(),
        _ => dst.parse::<Ipv6Addr>().is_err(),
    };
    if baddst {
        return Err(ProxyError::MalformedV1("bad destination address"));
    }
    let port = parse_port(sport)?;
    parse_port(dport)?;
    Ok(Proxied::Source(SocketAddr::new(ip, port)))
}

fn parse_port(text: &str) -> Result<u16, ProxyError> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    match text.parse::<u16>() {
        Ok(port) if digits && !leading_zero => Ok(port),
        _ => Err(ProxyError::MalformedV1("bad port")),
    }
}

/// The address block's length for this command and family, or why the pair
/// is refused.
fn v2_block_len(ver_cmd: u8, fam: u8) -> Result<usize, ProxyError> {
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::MalformedV2("version is not 2"));
    }
    match ver_cmd & 0x0f {
        // LOCAL: the address block (if any) is ignored, as the spec says.
        0 => Ok(0),
        1 => Ok(match fam >> 4 {
            0 => 0,
            1 => V2_INET_BLOCK,
            2 => V2_INET6_BLOCK,
            3 => V2_UNIX_BLOCK,
            _ => return Err(ProxyError::MalformedV2("unknown address family")),
        }),
        _ => Err(ProxyError::MalformedV2("unknown command")),
    }
}

fn v2_header(ver_cmd: u8, fam: u8, block: &[u8]) -> Proxied {
    if ver_cmd & 0x0f == 0 {
        return Proxied::Balancer;
    }
    match (fam >> 4, block) {
        (1, [a, b, c, d, _, _, _, _, p0, p1, ..]) => Proxied::Source(SocketAddr::new(
            Ipv4Addr::new(*a, *b, *c, *d).into(),
            u16::from_be_bytes([*p0, *p1]),
        )),
        (2, block) if block.len() >= V2_INET6_BLOCK => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&block[..16]);
            Proxied::Source(SocketAddr::new(
                Ipv6Addr::from(ip).into(),
                u16::from_be_bytes([block[32], block[33]]),
            ))
        }
        _ => Proxied::Balancer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<(Proxied, usize), ProxyError> {
        match ProxyParser::new().push(input)? {
            Parsed::Done { header, consumed } => Ok((header, consumed)),
            Parsed::NeedMore => Err(ProxyError::MalformedV1("incomplete")),
        }
    }

    fn v2(cmd: u8, fam: u8, block: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | cmd);
        out.push(fam);
        out.extend_from_slice(&((block.len() + tlvs.len()) as u16).to_be_bytes());
        out.extend_from_slice(block);
        out.extend_from_slice(tlvs);
        out
    }

    #[test]
    fn v1_tcp4_and_tcp6_give_the_source() {
        let (h, n) = parse_all(b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 514\r\nhello\n").unwrap();
        assert_eq!(h, Proxied::Source("127.0.0.2:40000".parse().unwrap()));
        assert_eq!(n, 42);
        let (h, _) = parse_all(b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n").unwrap();
        assert_eq!(h, Proxied::Source("[2001:db8::1]:1".parse().unwrap()));
    }

    #[test]
    fn v1_unknown_is_the_balancer() {
        assert_eq!(
            parse_all(b"PROXY UNKNOWN\r\n").unwrap(),
            (Proxied::Balancer, 15)
        );
        assert_eq!(
            parse_all(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n").unwrap().0,
            Proxied::Balancer
        );
    }

    #[test]
    fn v1_malformed_lines_are_refused() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(
                matches!(parse_all(bad), Err(ProxyError::MalformedV1(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn v1_longer_than_107_bytes_is_too_long() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(200, b'x');
        assert_eq!(ProxyParser::new().push(&line), Err(ProxyError::TooLong));
        // 107 bytes with the CRLF is allowed.
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(105, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&line).unwrap(), (Proxied::Balancer, 107));
    }

    #[test]
    fn anything_else_is_missing() {
        assert!(matches!(
            parse_all(b"<13>hello\n"),
            Err(ProxyError::Missing(_))
        ));
        assert!(matches!(
            ProxyParser::new().push(b"PROXZ"),
            Err(ProxyError::Missing(_))
        ));
        assert!(matches!(
            ProxyParser::new().push(b"\r\n\r\n\0\r\nQUIX"),
            Err(ProxyError::Missing(_))
        ));
        assert_eq!(ProxyParser::new().push(b"PROX"), Ok(Parsed::NeedMore));
    }

    #[test]
    fn v2_inet_inet6_local_and_tlvs() {
        let block = [127, 0, 0, 3, 127, 0, 0, 1, 0x9c, 0x40, 2, 2];
        let mut input = v2(1, 0x11, &block, &[0x04, 0, 2, 9, 9]);
        input.extend_from_slice(b"data");
        let (h, n) = parse_all(&input).unwrap();
        assert_eq!(h, Proxied::Source("127.0.0.3:40000".parse().unwrap()));
        assert_eq!(n, input.len() - 4);

        let mut block6 = [0u8; 36];
        block6[15] = 1;
        block6[32] = 0;
        block6[33] = 7;
        let (h, _) = parse_all(&v2(1, 0x21, &block6, &[])).unwrap();
        assert_eq!(h, Proxied::Source("[::1]:7".parse().unwrap()));

        // HAProxy's health check: LOCAL with an IPv4 block.
        let (h, n) = parse_all(&v2(0, 0x11, &block, &[])).unwrap();
        assert_eq!((h, n), (Proxied::Balancer, 28));
        assert_eq!(
            parse_all(&v2(1, 0x00, &[], &[])).unwrap().0,
            Proxied::Balancer
        );
        assert_eq!(
            parse_all(&v2(1, 0x31, &[0; 216], &[])).unwrap().0,
            Proxied::Balancer
        );
    }

    #[test]
    fn v2_malformed_headers_are_refused() {
        let block = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        let mut bad_version = v2(1, 0x11, &block, &[]);
        bad_version[12] = 0x11;
        let mut bad_cmd = v2(1, 0x11, &block, &[]);
        bad_cmd[12] = 0x22;
        let bad_family = v2(1, 0x41, &block, &[]);
        let short = v2(1, 0x21, &block, &[]);
        for bad in [bad_version, bad_cmd, bad_family, short] {
            assert!(matches!(parse_all(&bad), Err(ProxyError::MalformedV2(_))));
        }
    }

    #[test]
    fn truncated_headers_need_more() {
        let full = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
        for n in 0..full.len() {
            assert_eq!(
                ProxyParser::new().push(&full[..n]),
                Ok(Parsed::NeedMore),
                "{n}"
            );
        }
        let full = v2(
            1,
            0x11,
            &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2],
            &[1, 0, 1, 0],
        );
        for n in 0..full.len() {
            assert_eq!(
                ProxyParser::new().push(&full[..n]),
                Ok(Parsed::NeedMore),
                "{n}"
            );
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Feed `input` in chunks cut at `cuts`; returns the header and the
        /// data that followed it.
        fn chunked(input: &[u8], cuts: &[usize]) -> Result<Option<(Proxied, Vec<u8>)>, ProxyError> {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
            cuts.push(0);
            cuts.push(input.len());
            cuts.sort_unstable();
            let mut parser = ProxyParser::new();
            for pair in cuts.windows(2) {
                let chunk = &input[pair[0]..pair[1]];
                if chunk.is_empty() {
                    continue;
                }
                if let Parsed::Done { header, consumed } = parser.push(chunk)? {
                    let mut rest = chunk[consumed..].to_vec();
                    rest.extend_from_slice(&input[pair[1]..]);
                    return Ok(Some((header, rest)));
                }
            }
            Ok(None)
        }

        fn header() -> impl Strategy<Value = (Vec<u8>, Proxied)> {
            prop_oneof![
                (any::<[u8; 4]>(), any::<u16>(), any::<u16>()).prop_map(|(ip, sp, dp)| {
                    let ip = Ipv4Addr::from(ip);
                    (
                        format!("PROXY TCP4 {ip} 10.0.0.1 {sp} {dp}\r\n").into_bytes(),
                        Proxied::Source(SocketAddr::new(ip.into(), sp)),
                    )
                }),
                (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, sp)| {
                    let ip = Ipv6Addr::from(ip);
                    (
                        format!("PROXY TCP6 {ip} ::1 {sp} 514\r\n").into_bytes(),
                        Proxied::Source(SocketAddr::new(ip.into(), sp)),
                    )
                }),
                (
                    any::<[u8; 4]>(),
                    any::<u16>(),
                    proptest::collection::vec(any::<u8>(), 0..300)
                )
                    .prop_map(|(ip, sp, tlvs)| {
                        let mut block = ip.to_vec();
                        block.extend_from_slice(&[10, 0, 0, 1]);
                        block.extend_from_slice(&sp.to_be_bytes());
                        block.extend_from_slice(&[2, 2]);
                        (
                            v2(1, 0x11, &block, &tlvs),
                            Proxied::Source(SocketAddr::new(Ipv4Addr::from(ip).into(), sp)),
                        )
                    }),
                proptest::collection::vec(any::<u8>(), 0..64)
                    .prop_map(|tlvs| (v2(0, 0x00, &[], &tlvs), Proxied::Balancer)),
            ]
        }

        proptest! {
            #[test]
            fn any_chunking_gives_the_header_and_the_data_after_it(
                (bytes, expected) in header(),
                data in proptest::collection::vec(any::<u8>(), 0..64),
                cuts in proptest::collection::vec(any::<usize>(), 0..6),
            ) {
                let mut input = bytes;
                input.extend_from_slice(&data);
                let got = chunked(&input, &cuts).unwrap();
                prop_assert_eq!(got, Some((expected, data)));
            }

            #[test]
            fn garbage_gets_the_same_answer_however_it_is_cut(
                input in proptest::collection::vec(any::<u8>(), 0..400),
                prefix in prop_oneof![Just(&b""[..]), Just(&b"PROXY "[..]), Just(&V2_SIGNATURE[..])],
                cuts in proptest::collection::vec(any::<usize>(), 0..6),
            ) {
                let input = [prefix, &input[..]].concat();
                // The text of a `Missing` error shows what was held, which depends
                // on the chunks; every other answer must not.
                let answer = |r: Result<Option<(Proxied, Vec<u8>)>, ProxyError>| match r {
                    Err(ProxyError::Missing(_)) => "missing".to_owned(),
                    other => format!("{other:?}"),
                };
                prop_assert_eq!(answer(chunked(&input, &cuts)), answer(chunked(&input, &[])));
            }

            #[test]
            fn a_v1_prefix_then_noise_without_crlf_is_too_long(
                noise in proptest::collection::vec(b'a'..=b'z', 200..300),
                cuts in proptest::collection::vec(any::<usize>(), 0..6),
            ) {
                let mut input = b"PROXY ".to_vec();
                input.extend_from_slice(&noise);
                prop_assert_eq!(chunked(&input, &cuts), Err(ProxyError::TooLong));
            }
        }
    }
}

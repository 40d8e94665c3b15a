//! Where a peer's lines came from, as the receiver tells the writer when it
//! parses syslog (`--parse-syslog`): the listener's transport and URL, and
//! the name of the client's TLS certificate.
//!
//! Owns: that record's encoding, which the receiver makes once per
//! connection (or UDP listener) and the batch carries once per run of a
//! peer's lines. Does not own: the batch format ([`super::batch`]).
//!
//! ```text
//! origin = u16 len | transport | u16 len | listener | u16 len | client name (empty: none)
//! ```

/// A decoded origin, borrowing from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub transport: &'a [u8],
    pub listener: &'a [u8],
    /// `None`: no client certificate.
    pub client: Option<&'a [u8]>,
}

/// Encode an origin into `out` (cleared first). Each part is cut at 64 KiB,
/// far above any URL or certificate name.
pub fn encode(transport: &str, listener: &str, client: Option<&str>, out: &mut Vec<u8>) {
    out.clear();
    for part in [transport, listener, client.unwrap_or("")] {
        let part = &part.as_bytes()[..part.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(part.len() as u16).to_le_bytes());
        out.extend_from_slice(part);
    }
}

/// Decode an origin; `None` when it is malformed (or empty: no origin sent).
pub fn decode(bytes: &[u8]) -> Option<Origin<'_>> {
    let mut rest = bytes;
    let mut part = || -> Option<&[u8]> {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len));
        let (part, tail) = (tail.get(..len)?, tail.get(len..)?);
        rest = tail;
        Some(part)
    };
    let transport = part()?;
    let listener = part()?;
    let client = part()?;
    Some(Origin {
        transport,
        listener,
        client: (!client.is_empty()).then_some(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncations() {
        let mut buf = Vec::new();
        encode("tls", "tls://[::1]:6514", Some("client.example"), &mut buf);
        assert_eq!(
            decode(&buf),
            Some(Origin {
                transport: b"tls",
                listener: b"tls://[::1]:6514",
                client: Some(b"client.example"),
            })
        );
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), None, "cut at {cut}");
        }
        encode("udp", "udp://0.0.0.0:514", None, &mut buf);
        assert_eq!(decode(&buf).and_then(|o| o.client), None);
    }
}

//! What the receiver tells the writer about where each line came from, when
//! the writer parses syslog (`--parse-syslog`): the listener's transport and
//! URL, and for a TLS client that presented a certificate, its name.
//!
//! Owns: each listener's encoded origin, made once at start-up, and a TLS
//! connection's, made once its handshake is done. Does not own: the
//! encoding ([`crate::ipc::origin`]) or the certificate's names
//! ([`crate::tls::client_name`]).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use crate::ipc::origin;
use crate::tls::client_name::{certificate_names, NamePattern};

/// One listener's origin.
#[derive(Debug)]
struct ListenerOrigin {
    transport: &'static str,
    url: String,
    /// Encoded, without a client name.
    encoded: Vec<u8>,
}

impl ListenerOrigin {
    fn new(transport: &'static str, url: String) -> ListenerOrigin {
        let mut encoded = Vec::new();
        origin::encode(transport, &url, None, &mut encoded);
        ListenerOrigin {
            transport,
            url,
            encoded,
        }
    }
}

/// Every listener's origin, in the order of their ids.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    streams: Vec<Arc<ListenerOrigin>>,
    datagrams: Vec<Arc<ListenerOrigin>>,
    /// `--client-name`: the name it matched is the client's name.
    patterns: Arc<[NamePattern]>,
}

impl Origins {
    /// `streams` and `datagrams`: each listener's transport (its URL
    /// scheme) and URL, in listener order.
    pub fn new(
        streams: Vec<(&'static str, String)>,
        datagrams: Vec<(&'static str, String)>,
        patterns: Vec<NamePattern>,
    ) -> Origins {
        let made = |all: Vec<(&'static str, String)>| {
            all.into_iter()
                .map(|(t, url)| Arc::new(ListenerOrigin::new(t, url)))
                .collect()
        };
        Origins {
            streams: made(streams),
            datagrams: made(datagrams),
            patterns: patterns.into(),
        }
    }

    /// The origin of a UDP listener's datagrams.
    pub fn datagram(&self, listener: usize) -> &[u8] {
        self.datagrams
            .get(listener)
            .map_or(&[][..], |o| &o.encoded[..])
    }

    /// A new connection's origin on stream listener `listener`; `tls`: its
    /// client's name is known once the handshake is done.
    pub fn connection(&self, listener: usize, tls: bool) -> Option<Box<ConnectionOrigin>> {
        let of = self.streams.get(listener)?;
        Some(Box::new(ConnectionOrigin {
            encoded: of.encoded.clone(),
            awaiting_client: tls.then(|| (Arc::clone(of), Arc::clone(&self.patterns))),
        }))
    }
}

/// A connection's origin.
#[derive(Debug)]
pub struct ConnectionOrigin {
    encoded: Vec<u8>,
    /// Until the handshake is done, on TLS: the listener and the patterns.
    awaiting_client: Option<(Arc<ListenerOrigin>, Arc<[NamePattern]>)>,
}

impl ConnectionOrigin {
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Whether the client's certificate is still to be read.
    pub fn awaits_client(&self) -> bool {
        self.awaiting_client.is_some()
    }

    /// The handshake is done: `certs` are what the client presented (none:
    /// no client certificate).
    pub fn client_known(&mut self, certs: Option<&[CertificateDer<'_>]>) {
        let Some((of, patterns)) = self.awaiting_client.take() else {
            return;
        };
        let name = certs
            .and_then(|c| c.first())
            .and_then(|leaf| client_name(&certificate_names(leaf), &patterns));
        if let Some(name) = name {
            origin::encode(of.transport, &of.url, Some(&name), &mut self.encoded);
        }
    }
}

/// The name `--client-name` matched, else the first DNS name (or CN).
fn client_name(names: &[String], patterns: &[NamePattern]) -> Option<String> {
    names
        .iter()
        .find(|n| patterns.iter().any(|p| p.matches(n)))
        .or_else(|| names.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matched_name_comes_first() {
        let names = vec!["a.example".to_owned(), "b.internal".to_owned()];
        let pattern: NamePattern = "*.internal".parse().expect("pattern");
        assert_eq!(
            client_name(&names, &[pattern]).as_deref(),
            Some("b.internal")
        );
        assert_eq!(client_name(&names, &[]).as_deref(), Some("a.example"));
        assert_eq!(client_name(&[], &[]), None);
    }

    #[test]
    fn listeners_get_their_own_origin() {
        let o = Origins::new(
            vec![("tcp", "tcp://127.0.0.1:514".into())],
            vec![("udp", "udp://127.0.0.1:514".into())],
            Vec::new(),
        );
        let d = origin::decode(o.datagram(0)).expect("udp origin");
        assert_eq!(d.listener, b"udp://127.0.0.1:514");
        assert!(o.datagram(1).is_empty());
        let c = o.connection(0, false).expect("tcp origin");
        assert!(!c.awaits_client());
        assert_eq!(
            origin::decode(c.encoded()).map(|d| d.transport),
            Some(&b"tcp"[..])
        );
    }
}

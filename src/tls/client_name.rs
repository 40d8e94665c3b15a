//! `--client-name PATTERN`: which client-certificate names are accepted.
//!
//! Owns: parsing a pattern and matching a DNS name against it. A `*` label
//! matches exactly one DNS label (`*.example.com` matches `a.example.com`,
//! not `example.com` nor `a.b.example.com`); comparison ignores ASCII case
//! and one trailing dot. Also the client-certificate verifier that applies
//! the patterns after the CA's verification, and reading a certificate's
//! names for it (its DNS subject alternative names or, lacking any, its
//! subject CN).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// A name pattern, stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Its message follows the option's value in clap's error, so it does not
/// repeat it.
#[error("{why} (write a DNS name; '*' stands for one whole label, as in *.example.com)")]
pub struct PatternError {
    text: String,
    why: &'static str,
}

impl FromStr for NamePattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<NamePattern, PatternError> {
        let err = |why| PatternError {
            text: text.to_owned(),
            why,
        };
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(err("empty or longer than a DNS name"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(err("an empty or over-long label"));
            }
            if label != "*" && label.contains('*') {
                return Err(err("'*' must be a whole label"));
            }
            let ok = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*');
            if !ok {
                return Err(err("a character that is not in DNS names"));
            }
        }
        Ok(NamePattern(name))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl NamePattern {
    /// Whether the DNS name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut want = self.0.split('.');
        let mut have = name.split('.');
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some("*"), Some(label)) if !label.is_empty() => {}
                (Some(w), Some(h)) if w.eq_ignore_ascii_case(h) => {}
                _ => return false,
            }
        }
    }
}

/// Whether any of `names` matches any of `patterns`.
pub fn any_matches<'a>(patterns: &[NamePattern], names: impl IntoIterator<Item = &'a str>) -> bool {
    names
        .into_iter()
        .any(|name| patterns.iter().any(|p| p.matches(name)))
}

/// The names a certificate is known by: its DNS subject alternative names,
/// or its subject CN when it has none (an unparsable certificate: none).
pub fn certificate_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    let dns: Vec<String> = parsed.valid_dns_names().map(str::to_owned).collect();
    if !dns.is_empty() {
        return dns;
    }
    common_names(parsed.subject())
}

/// The CN values of a DER `Name` (the RDN sequence's contents).
fn common_names(mut rdns: &[u8]) -> Vec<String> {
    // id-at-commonName, 2.5.4.3.
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let mut names = Vec::new();
    while let Some((0x31, mut set, rest)) = der(rdns) {
        rdns = rest;
        while let Some((0x30, attr, more)) = der(set) {
            set = more;
            if let Some((0x06, oid, value)) = der(attr) {
                // UTF8String, PrintableString, T61String, IA5String.
                if let Some((0x0c | 0x13 | 0x14 | 0x16, text, _)) = der(value) {
                    if oid == CN {
                        names.push(String::from_utf8_lossy(text).into_owned());
                    }
                }
            }
        }
    }
    names
}

/// One DER TLV: (tag, contents, what follows), or `None` if malformed.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The CA's verification, then `--client-name`.
#[derive(Debug)]
pub struct PinnedNames {
    inner: Arc<dyn ClientCertVerifier>,
    patterns: Vec<NamePattern>,
}

/// A refusal that names what the certificate had.
#[derive(Debug, thiserror::Error)]
#[error("client certificate names [{names}] match no --client-name")]
struct NoMatch {
    names: String,
}

impl PinnedNames {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, patterns: Vec<NamePattern>) -> PinnedNames {
        PinnedNames { inner, patterns }
    }
}

impl ClientCertVerifier for PinnedNames {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = certificate_names(end_entity);
        if any_matches(&self.patterns, names.iter().map(String::as_str)) {
            return Ok(verified);
        }
        let names = names
            .iter()
            .map(|n| format!("{:?}", n))
            .collect::<Vec<_>>()
            .join(", ");
        // `Other` is the one rustls error whose message is ours alone (a
        // certificate error would print its debug form).
        Err(rustls::Error::Other(OtherError(Arc::new(NoMatch {
            names,
        }))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> NamePattern {
        s.parse().unwrap()
    }

    #[test]
    fn star_is_one_label() {
        let p = pat("*.example.com");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("A.Example.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.b.example.com"));
        assert!(!p.matches(".example.com"));
        assert!(pat("web.*.example.com").matches("web.eu.example.com"));
        assert!(!pat("web.*.example.com").matches("db.eu.example.com"));
        assert!(pat("Host1.Example.com.").matches("host1.example.com"));
        assert!(!pat("host1.example.com").matches("host1.example.co"));
    }

    #[test]
    fn refuses_patterns_that_are_not_names() {
        for bad in [
            "",
            ".",
            "a..b",
            "a*.example.com",
            "*x",
            "a b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<NamePattern>().is_err(), "{bad}");
        }
        assert!(any_matches(&[pat("x"), pat("*.y")], ["q", "a.y"]));
        assert!(!any_matches(&[pat("x")], ["y"]));
    }

    #[test]
    fn common_names_are_read_from_a_der_name() {
        // SEQUENCE-less Name contents: SET { SEQ { OID 2.5.4.6, PrintableString "FR" } },
        // SET { SEQ { OID 2.5.4.3, UTF8String "db1.example.com" } }.
        let mut name = vec![
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'F', b'R',
        ];
        let cn = b"db1.example.com";
        name.extend_from_slice(&[
            0x31,
            9 + cn.len() as u8,
            0x30,
            7 + cn.len() as u8,
            0x06,
            0x03,
            0x55,
            0x04,
            0x03,
            0x0c,
            cn.len() as u8,
        ]);
        name.extend_from_slice(cn);
        assert_eq!(common_names(&name), ["db1.example.com"]);
        assert!(common_names(&name[..name.len() - 1]).is_empty());
        assert!(common_names(&[0x31, 0x85, 1, 1, 1, 1, 1]).is_empty());
    }

    #[test]
    fn the_fixture_client_certificate_is_named_by_its_cn() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/client.pem");
        use rustls_pki_types::pem::PemObject;
        let cert = CertificateDer::from_pem_file(path).unwrap();
        assert_eq!(certificate_names(&cert), ["client one"]);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/server-rsa.pem");
        let cert = CertificateDer::from_pem_file(path).unwrap();
        assert_eq!(certificate_names(&cert), ["localhost"]);
    }

    proptest! {
        #[test]
        fn der_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = common_names(&bytes);
        }

        #[test]
        fn a_star_pattern_matches_any_one_label(label in "[a-z0-9-]{1,20}", deeper in "[a-z0-9-]{1,20}") {
            let p = pat("*.example.com");
            let one = format!("{label}.example.com");
            let two = format!("{deeper}.{label}.example.com");
            prop_assert!(p.matches(&one));
            prop_assert!(!p.matches(&two));
            prop_assert!(pat(&one).matches(&one.to_uppercase()));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,40}", n in "\\PC{0,40}") {
            if let Ok(p) = s.parse::<NamePattern>() {
                let _ = p.matches(&n);
            }
        }
    }
}

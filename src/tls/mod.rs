//! TLS set-up: PEM files to a rustls `ServerConfig`, with errors an operator can act on.
//!
//! Owns: reading the certificate chain, the private key (PKCS#1, PKCS#8 or SEC1;
//! RSA, ECDSA or Ed25519) and the client CA bundle; checking that the key matches
//! the certificate; warning about expired certificates; protocol versions.
//! Does not own: the per-connection TLS state machine (see
//! [`crate::receiver::conn`]), or when the files are re-read (SIGHUP: the
//! monitor reads them, [`read_pems`], the receiver builds, [`build`]).

pub mod client_name;
pub mod validity;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::ring as provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// Lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MinVersion {
    #[value(name = "1.2")]
    Tls12,
    #[value(name = "1.3")]
    Tls13,
}

/// What the TLS listener is built from; kept so SIGHUP can rebuild it.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub min_version: MinVersion,
    /// `--client-name`: with `client_ca`, only certificates with a matching
    /// name are accepted; empty: any the CA signed.
    pub client_names: Vec<client_name::NamePattern>,
}

/// A TLS file that cannot be used, with the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("no certificate found in {} (expected a PEM 'BEGIN CERTIFICATE' block)", file.display())]
    NoCertificate { file: PathBuf },
    #[error("no private key found in {} (expected a PEM 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY' or 'BEGIN EC PRIVATE KEY' block)", file.display())]
    NoKey { file: PathBuf },
    #[error("{} is not valid PEM: {detail}", file.display())]
    BadPem { file: PathBuf, detail: String },
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot use the certificate {} with the key {}: {detail}", cert.display(), key.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error("client CA bundle {}: {detail}", file.display())]
    ClientCa { file: PathBuf, detail: String },
}

/// A PEM file's bytes, wiped when dropped: a certificate file may hold the
/// private key too, and the buffer should not outlive the parse in memory
/// that a later allocation hands out again.
fn read(file: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(file)
        .map(Zeroizing::new)
        .map_err(|source| TlsError::Read {
            file: file.to_owned(),
            source,
        })
}

/// The PEM files' bytes, read where the files may be read (the monitor, at
/// start-up and on SIGHUP) and parsed where the configuration is used (the
/// receiver, which may open no file). Wiped when dropped.
#[derive(Clone)]
pub struct TlsPems {
    pub cert: Zeroizing<Vec<u8>>,
    pub key: Zeroizing<Vec<u8>>,
    pub client_ca: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for TlsPems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key's bytes, not even in a debug log.
        f.debug_struct("TlsPems")
            .field("cert_bytes", &self.cert.len())
            .field("key_bytes", &self.key.len())
            .finish()
    }
}

/// Read the certificate, the key and the client CA bundle.
pub fn read_pems(files: &TlsFiles) -> Result<TlsPems, TlsError> {
    Ok(TlsPems {
        cert: read(&files.cert)?,
        key: read(&files.key)?,
        client_ca: files.client_ca.as_deref().map(read).transpose()?,
    })
}

fn certificates(file: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| TlsError::BadPem {
            file: file.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file: file.to_owned(),
        });
    }
    Ok(certs)
}

fn private_key(file: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            file: file.to_owned(),
        }),
        Err(e) => Err(TlsError::BadPem {
            file: file.to_owned(),
            detail: e.to_string(),
        }),
    }
}

/// A built server configuration and the warnings found on the way.
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    pub warnings: Vec<String>,
}

/// Read the files and build the server configuration.
pub fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    build(files, &read_pems(files)?)
}

/// Build the server configuration from the files' bytes (`files` names
/// them in errors and gives the settings).
pub fn build(files: &TlsFiles, pems: &TlsPems) -> Result<Loaded, TlsError> {
    let certs = certificates(&files.cert, &pems.cert)?;
    let key = private_key(&files.key, &pems.key)?;
    let mut warnings = Vec::new();
    if let Some((not_before, not_after)) = validity::validity(&certs[0]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if now > not_after {
            warnings.push(format!(
                "the certificate in {} expired {} days ago: clients that verify it will refuse to connect",
                files.cert.display(),
                (now - not_after) / 86_400
            ));
        } else if now < not_before {
            warnings.push(format!(
                "the certificate in {} is not valid yet (for {} more days): clients that verify it will refuse to connect",
                files.cert.display(),
                (not_before - now) / 86_400 + 1
            ));
        }
    }

    let provider = Arc::new(provider::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match files.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let unusable = |detail: String| TlsError::Unusable {
        cert: files.cert.clone(),
        key: files.key.clone(),
        detail,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| unusable(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let ca_error = |detail: String| TlsError::ClientCa {
                file: ca_file.clone(),
                detail,
            };
            let mut roots = RootCertStore::empty();
            let ca_pem = pems.client_ca.as_deref().map_or(&[][..], |v| v.as_slice());
            for ca in certificates(ca_file, ca_pem)? {
                roots.add(ca).map_err(|e| ca_error(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(e.to_string()))?;
            if files.client_names.is_empty() {
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_client_cert_verifier(Arc::new(client_name::PinnedNames::new(
                    verifier,
                    files.client_names.clone(),
                )))
            }
        }
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            }
        }
        other => unusable(other.to_string()),
    })?;
    Ok(Loaded {
        config: Arc::new(config),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/tls")
            .join(name)
    }

    fn files(cert: &str, key: &str) -> TlsFiles {
        TlsFiles {
            cert: fixture(cert),
            key: fixture(key),
            client_ca: None,
            min_version: MinVersion::Tls12,
            client_names: Vec::new(),
        }
    }

    #[test]
    fn every_key_kind_loads() {
        for (cert, key) in [
            ("server-rsa.pem", "server-rsa.key"),
            ("server-rsa.pem", "server-rsa-pkcs1.key"),
            ("server-ec.pem", "server-ec.key"),
            ("server-ed25519.pem", "server-ed25519.key"),
            ("server-chain.pem", "server-chain.key"),
            ("combined.pem", "combined.pem"),
        ] {
            let loaded = load(&files(cert, key)).unwrap_or_else(|e| panic!("{cert}/{key}: {e}"));
            assert!(loaded.warnings.is_empty(), "{cert}: {:?}", loaded.warnings);
        }
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let msg = |cert: &str, key: &str| {
            load(&files(cert, key))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(msg("server-rsa.pem", "server-ec.key").contains("does not match"));
        assert!(msg("server-rsa.key", "server-rsa.key").contains("no certificate found in"));
        assert!(msg("server-rsa.pem", "server-rsa.pem").contains("no private key found in"));
        assert!(msg("missing.pem", "server-rsa.key").contains("cannot read TLS file"));
        assert!(msg("missing.pem", "server-rsa.key").contains("missing.pem"));
    }

    #[test]
    fn an_expired_certificate_is_a_warning() {
        let loaded = load(&files("expired.pem", "expired.key")).expect("loads");
        assert!(
            loaded.warnings.iter().any(|w| w.contains("expired")),
            "{:?}",
            loaded.warnings
        );
    }
}

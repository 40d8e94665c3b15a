//! TLS for the flood (RFC 5425 senders): a rustls client configuration that
//! either verifies the collector against a CA bundle (`--ca FILE`) or accepts
//! any certificate (`--tls`, for benchmarks against self-signed collectors),
//! and [`TlsStream`], the [`FloodStream`] that sends through it.
//!
//! The handshake is completed in `connect`, before the clock starts, so a run
//! times only the encrypted data. Writes are buffered by rustls into records of
//! up to 16 KiB; `write_all` of a chunk therefore costs one encryption pass and
//! a few `write(2)`s of whole records. Closing waits for the collector to
//! close too (see [`TlsStream::finish`]), so no data is lost to a reset.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;

use super::sender::FloodStream;

/// How long [`TlsStream::finish`] waits for the collector to close the connection.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a TLS client could not be set up or connect.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA bundle {path}: {detail}")]
    Ca { path: String, detail: String },
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("TLS set-up failed: {0}")]
    Config(String),
}

/// How the collector's certificate is checked.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Accept any certificate (still a full TLS session; only authentication is skipped).
    Any,
    /// Verify the chain against this PEM bundle and the name against the host.
    Ca(std::path::PathBuf),
}

/// The client configuration for a run.
pub fn client_config(verify: &Verify) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(provider::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let config = match verify {
        Verify::Ca(path) => builder
            .with_root_certificates(roots(path)?)
            .with_no_client_auth(),
        Verify::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let err = |detail: String| TlsError::Ca {
        path: path.display().to_string(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| err(e.to_string()))?;
        store.add(cert).map_err(|e| err(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(err("no certificate in it".into()));
    }
    Ok(store)
}

/// The server name to verify: the host as given (an IP address or a DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_string()).map_err(|_| TlsError::ServerName(host.to_string()))
}

/// A TLS session over a connected TCP stream.
pub struct TlsStream(StreamOwned<ClientConnection, TcpStream>);

impl TlsStream {
    /// Start a session on `tcp` and complete its handshake.
    pub fn connect(
        config: &Arc<ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<TlsStream> {
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(TlsStream(s))
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl FloodStream for TlsStream {
    fn finish(&mut self) -> io::Result<()> {
        self.0.conn.send_close_notify();
        while self.0.conn.wants_write() {
            self.0.conn.write_tls(&mut self.0.sock)?;
        }
        self.0.sock.flush()?;
        self.0.sock.shutdown(std::net::Shutdown::Write)?;
        // Wait for the collector to close its side. The server sent records we
        // never read (TLS 1.3 session tickets, its close_notify): closing with
        // them unread would make the kernel answer with a reset, and a reset
        // makes the collector's kernel drop whatever it has not read yet.
        self.0.sock.set_read_timeout(Some(DRAIN_TIMEOUT))?;
        let mut sink = [0u8; 4096];
        loop {
            match self.0.sock.read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Accepts every server certificate but still checks the handshake signatures,
/// so the session is a real one (`--tls` without `--ca`).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("localhost").is_ok());
        assert!(server_name("bad name").is_err());
    }

    #[test]
    fn configs_build() {
        assert!(client_config(&Verify::Any).is_ok());
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tls/ca.pem");
        assert!(client_config(&Verify::Ca(ca)).is_ok());
        let missing = Verify::Ca("/nonexistent/ca.pem".into());
        assert!(matches!(client_config(&missing), Err(TlsError::Ca { .. })));
    }
}

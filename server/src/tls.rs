//! wss://: TLS in front of the same HTTP and WebSocket path, with rustls
//! (the ring provider, as the loadgen uses).
//!
//! The handshake runs in the connection's own task, bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`], so a client that never finishes it holds
//! its descriptor no longer than one that never sends its request head.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its key, ready to accept TLS connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls { .. }")
    }
}

/// Why a certificate or key could not be used.
#[derive(Debug)]
pub enum TlsError {
    /// The file could not be read as PEM.
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// rustls refused the certificate and key (e.g. they do not match).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::NoCertificate(path) => write!(f, "{}: no certificate in the file", path.display()),
            TlsError::Rustls(e) => write!(f, "the certificate and key were refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl Tls {
    /// From PEM files: `cert` holds the chain, leaf first; `key` its
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let cert_err = |source| TlsError::Pem { path: cert.to_path_buf(), source };
        let chain =
            CertificateDer::pem_file_iter(cert).map_err(cert_err)?.collect::<Result<Vec<_>, _>>().map_err(cert_err)?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.to_path_buf()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Pem { path: key.to_path_buf(), source })?;
        Tls::from_der(chain, key)
    }

    /// From a DER certificate chain (leaf first) and its private key.
    pub fn from_der(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Tls, TlsError> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(TlsError::Rustls)?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(TlsError::Rustls)?;
        // WebSocket upgrades are HTTP/1.1 (RFC 6455); clients that offer
        // ALPN are told so.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)) })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

//! The TLS client configuration for `wss://`: the webpki roots plus
//! `--ca`, or no verification at all with `--insecure`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::error::Error;

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// rustls refused its own defaults (a build without a usable provider).
    #[error("TLS setup: {0}")]
    Protocols(#[source] rustls::Error),
    /// The `--ca` file could not be read as PEM.
    #[error("--ca {}: {}", path.display(), pem_words(source))]
    CaFile {
        /// The `--ca` file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate of the `--ca` file was refused.
    #[error("--ca {}: {source}", path.display())]
    CaCert {
        /// The `--ca` file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The `--ca` file holds no certificate.
    #[error("--ca {}: no certificate in the file", path.display())]
    NoCaCert {
        /// The `--ca` file.
        path: PathBuf,
    },
}

/// A PEM error in words: rustls names a missing end marker by its bytes.
fn pem_words(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as Pem;
    match e {
        Pem::MissingSectionEnd { end_marker } => {
            format!("no -----END {}----- line: the PEM is cut short", String::from_utf8_lossy(end_marker).trim())
        }
        Pem::IllegalSectionStart { line } => format!("a bad BEGIN line: {}", String::from_utf8_lossy(line).trim()),
        other => other.to_string(),
    }
}

/// A failed TLS handshake in words, with what to do about the refusals a
/// test server's home-made certificate meets most.
pub(super) fn handshake_words(e: &std::io::Error) -> String {
    let cause = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let hint = match cause {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            rustls::CertificateError::UnknownIssuer => {
                "; the certificate is not signed by a known CA: give that CA with --ca FILE (or --insecure, for a test server)"
            }
            rustls::CertificateError::NotValidForName => "; the certificate does not name the URL's host",
            // webpki's CaUsedAsEndEntity, which rustls carries only as `Other`.
            other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "; the server presents a CA certificate (basicConstraints CA:TRUE) as its own: give the server a certificate signed by that CA, and that CA to --ca (or --insecure, for a test server)"
            }
            _ => "",
        },
        _ => "",
    };
    format!("{e}{hint}")
}

impl From<TlsSetupError> for Error {
    /// A bad `--ca` is the user's to fix (usage); rustls failing is not.
    fn from(e: TlsSetupError) -> Self {
        match e {
            TlsSetupError::Protocols(_) => Error::failed(e),
            _ => Error::usage(e),
        }
    }
}

/// The TLS client configuration: the webpki roots plus `ca`, or no
/// verification at all with `insecure`.
pub fn tls_config(insecure: bool, ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?;
    let mut config = if insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider))).with_no_client_auth()
    } else {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(ca) = ca {
            let mut added = 0;
            let pem = |source| TlsSetupError::CaFile { path: ca.to_path_buf(), source };
            for cert in CertificateDer::pem_file_iter(ca).map_err(pem)? {
                roots
                    .add(cert.map_err(pem)?)
                    .map_err(|source| TlsSetupError::CaCert { path: ca.to_path_buf(), source })?;
                added += 1;
            }
            if added == 0 {
                return Err(TlsSetupError::NoCaCert { path: ca.to_path_buf() });
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `--insecure`: accepts any certificate, still checking signatures so the
/// handshake itself is sound.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

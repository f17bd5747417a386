//! wss://: the binary with `--tls-cert`/`--tls-key`, and the library with a
//! `Tls` config, each with a certificate made here by rcgen, answering a
//! tokio-tungstenite client over rustls.

mod common;
mod process;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use process::{Binary, BIN};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use wsbench_server::{Config, Tls};

struct TestCert {
    dir: PathBuf,
    cert: rcgen::CertifiedKey,
}

impl TestCert {
    /// A self-signed certificate for `localhost`, written as PEM files.
    fn new(name: &str) -> TestCert {
        let dir = std::env::temp_dir().join(format!("wsbench-server-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
        TestCert { dir, cert }
    }

    fn cert_path(&self) -> String {
        self.dir.join("cert.pem").to_str().unwrap().to_string()
    }

    fn key_path(&self) -> String {
        self.dir.join("key.pem").to_str().unwrap().to_string()
    }

    fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert.cert.der().to_vec())
    }

    /// A client that trusts this certificate only.
    fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Echoes a few messages over wss:// and closes.
async fn echo_over_wss(cert: &TestCert, addr: std::net::SocketAddr) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = cert.connector().connect(ServerName::try_from("localhost").unwrap(), tcp).await.expect("TLS handshake");
    let url = format!("wss://localhost:{}/upgradews?mode=echo", addr.port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.expect("upgrade over TLS");
    assert_eq!(response.status(), 101);
    for text in ["hello", "接收到消息", &"x".repeat(100_000)] {
        ws.send(Message::Text(text.to_string())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text(text.to_string()));
    }
    ws.send(Message::Binary(vec![0, 1, 2])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(vec![0, 1, 2]));
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
}

#[tokio::test]
async fn the_binary_serves_wss_with_tls_cert_and_key() {
    let cert = TestCert::new("binary");
    let server = Binary::start(&["--tls-cert", &cert.cert_path(), "--tls-key", &cert.key_path()], None, &[]);
    let lines = server.lines.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.contains("listening on wss://")), "{lines:#?}");
    echo_over_wss(&cert, server.addr).await;
    // A plain ws:// client gets no WebSocket from a TLS port.
    let plain = tokio_tungstenite::connect_async(format!("ws://{}/upgradews", server.addr)).await;
    assert!(plain.is_err(), "plain ws:// upgraded on the TLS port");
    server.stop();
}

#[tokio::test]
async fn the_environment_sets_the_certificate_too() {
    let cert = TestCert::new("env");
    let env = [("WSBENCH_TLS_CERT", cert.cert_path()), ("WSBENCH_TLS_KEY", cert.key_path())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Binary::start(&[], None, &env);
    echo_over_wss(&cert, server.addr).await;
    server.stop();
}

#[tokio::test]
async fn the_library_serves_wss_with_a_tls_config() {
    let cert = TestCert::new("library");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.cert.key_pair.serialize_der()));
    let tls = Tls::from_der(vec![cert.der()], key).unwrap();
    let server = common::start(Config { tls: Some(tls), ..Config::default() }).await;
    echo_over_wss(&cert, server.local_addr()).await;
    // A client that does not trust the certificate fails the handshake, and
    // the server goes on serving.
    let other = TestCert::new("other");
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(other.connector().connect(ServerName::try_from("localhost").unwrap(), tcp).await.is_err());
    echo_over_wss(&cert, server.local_addr()).await;
    server.shutdown().await;
}

#[test]
fn bad_certificates_and_keys_are_one_line_naming_the_flag() {
    let cert = TestCert::new("bad");
    let other = TestCert::new("bad-other");
    let empty = cert.dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();
    let missing = cert.dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    for (args, flag) in [
        (vec!["--tls-cert", missing, "--tls-key", &cert.key_path()], "--tls-cert"),
        (vec!["--tls-cert", empty, "--tls-key", &cert.key_path()], "--tls-cert"),
        (vec!["--tls-cert", &cert.cert_path(), "--tls-key", empty], "--tls-key"),
        (vec!["--tls-cert", &cert.cert_path(), "--tls-key", &other.key_path()], "--tls-cert/--tls-key"),
        (vec!["--tls-cert", &cert.cert_path()], "--tls-key"),
    ] {
        let out = Command::new(BIN).args(["--listen", "127.0.0.1:0"]).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

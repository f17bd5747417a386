//! The loadgen over wss:// against the real wsbench-server (served with
//! rustls, a certificate made here by rcgen), not only against a test
//! server: both ends of the project's TLS path together.

mod common;

use common::{assert_clean, config, run, temp_dir};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[test]
fn the_loadgen_loads_the_real_server_over_wss() {
    let dir = temp_dir("wss-server");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = dir.join("cert.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let tls = wsbench_server::Tls::from_der(vec![CertificateDer::from(cert.cert.der().to_vec())], key).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt
        .block_on(wsbench_server::spawn(wsbench_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some(tls),
            ..Default::default()
        }))
        .unwrap();
    let url = |mode: &str| format!("wss://localhost:{}/upgradews?mode={mode}", server.local_addr().port());

    // Trusted through --ca, in the modes whose replies the loadgen checks.
    for mode in ["echo", "reply"] {
        let r = run(&[&url(mode), "--ca", ca, "--mode", mode, "-c", "10", "-d", "0.5", "-w", "0", "-q"]);
        assert_clean(&r, 10);
    }
    // Not verified at all with --insecure.
    let r = run(&[&url("echo"), "--insecure", "--mode", "echo", "-c", "5", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 5);
    // Neither: the server's certificate is refused, in one line.
    let err = wsbench_loadgen::commands::run::run(config(&[&url("echo"), "--mode", "echo", "-q"])).err().unwrap();
    assert!(err.to_string().contains("TLS"), "{err}");

    let served = server.metrics().snapshot();
    assert!(served.connections_total >= 25, "the real server served the runs: {served:?}");
    assert!(served.messages_received > 0, "{served:?}");
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}

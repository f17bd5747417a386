//! Failures are counted by kind, and runs that fail say so: a server that
//! closes or dies mid-run, a refused connection, a bad URL, TLS.

mod common;

use std::time::{Duration, Instant};

use common::{assert_clean, config, run, spawn_server, temp_dir, Behavior};
use wsbench_loadgen::Error;

#[test]
fn a_server_that_closes_mid_run_ends_the_run_early() {
    let server = spawn_server(Behavior::CloseAfter { after: Duration::from_millis(1500), code: Some(1001) });
    let started = Instant::now();
    let r = run(&[&server.url(), "--mode", "echo", "-c", "10", "-d", "10", "-w", "0.2", "-q"]);
    assert!(started.elapsed() < Duration::from_secs(5), "stopped within seconds: {:?}", started.elapsed());
    assert!(!r.outcome.passed);
    assert_eq!(r.counters.connection_errors.closed_by_server, 10);
    assert_eq!(r.counters.close_codes.get(&1001), Some(&10));
    assert!(r.counters.messages_received > 0, "what was measured before is kept");
    assert!(
        r.outcome.stopped_early.as_deref().is_some_and(|s| s.contains("every connection had ended")),
        "{:?}",
        r.outcome
    );
}

#[test]
fn a_server_that_dies_mid_run_ends_the_run_early() {
    let server = spawn_server(Behavior::CloseAfter { after: Duration::from_millis(1500), code: None });
    let started = Instant::now();
    let r = run(&[&server.url(), "--mode", "echo", "-c", "10", "-d", "10", "-w", "0.2", "-q"]);
    assert!(started.elapsed() < Duration::from_secs(5), "stopped within seconds: {:?}", started.elapsed());
    assert!(!r.outcome.passed);
    let e = &r.counters.connection_errors;
    assert_eq!(e.eof + e.io, 10, "{e:?}");
    assert!(r.counters.messages_received > 0);
}

#[test]
fn refused_and_bad_urls_are_one_clear_error() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = wsbench_loadgen::commands::run::run(config(&[&format!("ws://127.0.0.1:{port}/"), "-q"])).err().unwrap();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert_eq!(err.exit_code(), 1);

    for bad in ["http://127.0.0.1/", "ws://", "127.0.0.1:80"] {
        let err = wsbench_loadgen::commands::run::run(config(&[bad, "-q"])).err().unwrap();
        assert!(matches!(err, Error::Usage(_)), "{bad}: {err:?}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn refused_connections_are_counted_by_kind() {
    use wsbench_loadgen::engine::connect::{tcp_connect, ConnectFailure};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let failure = rt.block_on(tcp_connect(format!("127.0.0.1:{port}").parse().unwrap(), None)).unwrap_err();
    assert!(matches!(failure, ConnectFailure::Refused));
    let mut counts = Default::default();
    failure.count(&mut counts);
    assert_eq!(counts.refused, 1);
}

#[test]
fn an_http_refusal_is_named_with_its_status() {
    // The embedded server requires a token that is not sent: 401.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt
        .block_on(wsbench_server::spawn(wsbench_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            auth_token: Some("s3cret".into()),
            ..Default::default()
        }))
        .unwrap();
    let url = format!("ws://{}/upgradews", server.local_addr());
    let err = wsbench_loadgen::commands::run::run(config(&[&url, "-q"])).err().unwrap();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    // With the token, it loads.
    let r = run(&[&url, "--auth-token", "s3cret", "-c", "5", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 5);
    rt.block_on(server.shutdown());
}

/// A wss:// echo server with a certificate made here, for `localhost`;
/// with `is_ca`, a CA's (what `openssl req -x509` makes by default).
fn spawn_tls_server(dir: &std::path::Path, is_ca: bool) -> (std::net::SocketAddr, std::path::PathBuf) {
    use std::sync::Arc;

    use futures_util::{SinkExt, StreamExt};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    if is_ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    let ca_path = dir.join("cert.pem");
    std::fs::write(&ca_path, cert.pem()).unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_text() || msg.is_binary() {
                            if ws.send(msg).await.is_err() {
                                return;
                            }
                        } else if msg.is_close() {
                            let _ = ws.close(None).await;
                        }
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), ca_path)
}

#[test]
fn tls_with_a_test_certificate() {
    let dir = temp_dir("tls");
    let (addr, ca) = spawn_tls_server(&dir, false);
    let url = format!("wss://localhost:{}/ws", addr.port());
    let ca = ca.to_str().unwrap();
    // Trusted through --ca.
    let r = run(&[&url, "--ca", ca, "--mode", "echo", "-c", "10", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 10);
    // Not verified at all with --insecure.
    let r = run(&[&url, "--insecure", "--mode", "echo", "-c", "10", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 10);
    // Neither: the certificate is refused, in one line.
    let err = wsbench_loadgen::commands::run::run(config(&[&url, "--mode", "echo", "-q"])).err().unwrap();
    assert!(err.to_string().contains("TLS") && err.to_string().contains("give that CA with --ca FILE"), "{err}");
    assert_eq!(err.exit_code(), 1);
}

/// The refusals a home-made certificate meets, in words that say what to do.
#[test]
fn tls_refusals_say_what_to_do() {
    let dir = temp_dir("tls-ca");
    // A CA's certificate as the server's own: webpki refuses it even
    // when trusted through --ca.
    let (addr, ca) = spawn_tls_server(&dir, true);
    let url = format!("wss://localhost:{}/ws", addr.port());
    let err = wsbench_loadgen::commands::run::run(config(&[&url, "--ca", ca.to_str().unwrap(), "-q"])).err().unwrap();
    assert!(err.to_string().contains("presents a CA certificate (basicConstraints CA:TRUE)"), "{err}");
    // A PEM cut short is named as such, not by its bytes.
    let pem = std::fs::read_to_string(&ca).unwrap();
    let cut = dir.join("cut.pem");
    std::fs::write(&cut, &pem[..pem.len() - 30]).unwrap();
    let err = wsbench_loadgen::commands::run::run(config(&[&url, "--ca", cut.to_str().unwrap(), "-q"])).err().unwrap();
    assert!(err.to_string().contains("no -----END CERTIFICATE----- line"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn connections_bound_to_a_source_address() {
    let server = spawn_server(Behavior::Echo { delay: Duration::ZERO });
    let r =
        run(&[&server.url(), "--local-addr", "127.0.0.2", "--mode", "echo", "-c", "20", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 20);
    let peers = server.peers.lock().unwrap();
    assert_eq!(peers.len(), 21, "20 and the probe");
    assert!(peers.iter().all(|p| p.ip().to_string() == "127.0.0.2"), "{peers:?}");
}

#[test]
fn lost_and_corrupt_replies_are_each_counted_once_and_do_not_stall() {
    let server = spawn_server(Behavior::Faulty { drop_every: 50, corrupt_every: 37 });
    let url = server.url();
    let r = run(&[
        &url,
        "--mode",
        "echo",
        "--type",
        "binary",
        "-s",
        "40",
        "-c",
        "4",
        "-p",
        "4",
        "-d",
        "2",
        "-w",
        "0",
        "--drain-timeout",
        "0.2",
        "-q",
    ]);
    let e = &r.counters.reply_errors;
    assert!(!r.outcome.passed, "errors fail the run");
    assert!(e.missing > 0 && e.corrupt > 0, "{e:?}");
    assert_eq!((e.duplicate, e.out_of_order), (0, 0), "a lost reply makes no later one out of order: {e:?}");
    // Every message is answered, lost or corrupt, once: nothing counted twice.
    let c = &r.counters;
    let answered_or_lost = c.replies_received_total + e.missing;
    assert_eq!(answered_or_lost, c.messages_sent_total, "{c:?}");
    // Lost replies free their slot after the drain timeout: the load goes on.
    assert!(c.messages_received > 1000, "{c:?}");
}

#[test]
fn a_frame_longer_than_any_reply_is_refused_before_it_is_buffered() {
    let server = spawn_server(Behavior::HugeHeader);
    let url = server.url();
    let r = run(&[&url, "--mode", "echo", "-c", "2", "-d", "1", "-w", "0", "-q"]);
    assert!(!r.outcome.passed);
    assert_eq!(r.counters.connection_errors.protocol, 2, "{:?}", r.counters);
    assert!(r.samples.iter().any(|s| s.contains("longer than any reply")), "the reason is kept: {:?}", r.samples);
}

#[test]
fn open_loop_messages_held_back_to_the_end_are_counted_not_dropped() {
    // Replies stop 0.5 s in and never come back within the run; with one
    // message in flight per connection, the schedule's later messages can
    // never go out.
    let server = spawn_server(Behavior::Stall { after: Duration::from_millis(500), stall: Duration::from_secs(30) });
    let url = server.url();
    let r = run(&[
        &url,
        "--mode",
        "echo",
        "-c",
        "5",
        "--rate",
        "500",
        "--pipeline",
        "1",
        "-d",
        "2",
        "-w",
        "0",
        "--drain-timeout",
        "0.3",
        "-q",
    ]);
    let e = &r.counters.reply_errors;
    assert!(!r.outcome.passed);
    assert!(e.unsent > 500, "about 1.5 s of 500 msg/s were never sent: {e:?}");
    // Every message of the schedule is accounted for: sent or counted unsent.
    let scheduled = r.counters.messages_sent + e.unsent;
    assert!((950..=1050).contains(&scheduled), "{scheduled} of 1000 scheduled: {:?}", r.counters);
}

#[test]
fn a_reply_later_than_the_drain_timeout_is_late_not_a_duplicate() {
    // Every reply from 0.3 s to 1.5 s is held until 1.5 s: those held more
    // than the 0.4 s drain timeout are counted missing, then come.
    let server =
        spawn_server(Behavior::Stall { after: Duration::from_millis(300), stall: Duration::from_millis(1200) });
    let url = server.url();
    let r = run(&[
        &url,
        "--mode",
        "echo",
        "-c",
        "2",
        "--rate",
        "100",
        "-d",
        "2.5",
        "-w",
        "0",
        "--drain-timeout",
        "0.4",
        "-q",
    ]);
    let (c, e) = (&r.counters, &r.counters.reply_errors);
    assert!(e.missing > 20, "about 0.8 s of 100 msg/s waited past the drain timeout: {c:?}");
    assert_eq!(e.duplicate, 0, "no reply came twice: {c:?}");
    assert_eq!(c.late_replies, e.missing, "each message counted missing was answered, late: {c:?}");
    assert_eq!(e.total(), e.missing, "one error per late message, not two: {c:?}");
    assert_eq!(c.replies_received_total, c.messages_sent_total, "every message answered once: {c:?}");
    let rtt = r.histogram(wsbench_loadgen::results::stats::Series::RttCorrected);
    assert!(rtt.max >= 1_000_000, "the late replies' RTTs are recorded, up to ~1.2 s: max {} µs", rtt.max);
    assert!(!r.outcome.passed, "missing replies still fail the run");
}

//! RFC 6455 §4.2.1 and §11.3.1: upgrade requests the server must refuse,
//! each sent as raw bytes and answered 400 with a body that says why
//! (v0.1.0 answered every one of them 101 Switching Protocols).

mod common;

use common::*;
use wsbench_server::Config;

/// Sends `request` to a fresh server; returns the status and the whole response.
async fn answer(request: &str) -> (u16, String) {
    let server = start(Config::default()).await;
    let response = http(server.local_addr(), request).await;
    server.shutdown().await;
    response
}

fn assert_refused(request: &str, why: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, response) = rt.block_on(answer(request));
    assert_eq!(status, 400, "{request:?} got {response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    assert!(body.contains(why), "the body should say {why:?}: {body:?}");
}

#[test]
fn a_duplicated_key_is_refused() {
    let request = upgrade_request("/upgradews", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n");
    assert_refused(&request, "Sec-WebSocket-Key is given more than once");
}

#[test]
fn the_same_key_twice_is_refused_too() {
    let request = upgrade_request("/upgradews", &format!("Sec-WebSocket-Key: {KEY}\r\n"));
    assert_refused(&request, "Sec-WebSocket-Key is given more than once");
}

#[test]
fn http_1_0_is_refused() {
    let request = upgrade_request("/upgradews", "").replacen("HTTP/1.1", "HTTP/1.0", 1);
    assert_refused(&request, "needs HTTP/1.1");
}

#[test]
fn a_missing_host_is_refused() {
    let request = upgrade_request("/upgradews", "").replacen("Host: localhost\r\n", "", 1);
    assert_refused(&request, "Host header is missing");
}

#[test]
fn a_duplicated_host_is_refused() {
    let request = upgrade_request("/upgradews", "Host: elsewhere\r\n");
    assert_refused(&request, "Host header is given more than once");
}

#[test]
fn a_get_with_a_content_length_body_is_refused() {
    let mut request = upgrade_request("/upgradews", "Content-Length: 5\r\n");
    request.push_str("hello");
    assert_refused(&request, "has no body");
}

#[test]
fn a_get_with_a_chunked_body_is_refused() {
    let mut request = upgrade_request("/upgradews", "Transfer-Encoding: chunked\r\n");
    request.push_str("5\r\nhello\r\n0\r\n\r\n");
    assert_refused(&request, "has no body");
}

#[test]
fn a_zero_content_length_still_upgrades() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let request = upgrade_request("/upgradews", "Content-Length: 0\r\n");
    let server = rt.block_on(start(Config::default()));
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 101");
    });
    rt.block_on(server.shutdown());
}

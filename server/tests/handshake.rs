//! Every refusal of the upgrade, with its status, over raw HTTP.

mod common;

use common::*;
use wsbench_server::Config;

async fn status_of(config: Config, request: &str) -> (u16, String) {
    let server = start(config).await;
    let response = http(server.local_addr(), request).await;
    server.shutdown().await;
    response
}

#[tokio::test]
async fn plain_requests_get_clear_statuses() {
    let (s, _) = status_of(Config::default(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(s, 200);
    let (s, body) = status_of(Config::default(), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = status_of(Config::default(), "GET /upgradews HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(s, 426, "no upgrade: {body}");
    assert!(body.to_ascii_lowercase().contains("upgrade: websocket"), "{body}");
    let post = upgrade_request("/upgradews", "").replacen("GET", "POST", 1);
    let (s, body) = status_of(Config::default(), &post).await;
    assert_eq!(s, 405, "{body}");
    assert!(body.to_ascii_lowercase().contains("allow: get"), "{body}");
}

#[tokio::test]
async fn bad_key_and_version_get_400() {
    let bad_version = upgrade_request("/upgradews", "").replace("Version: 13", "Version: 8");
    let (s, body) = status_of(Config::default(), &bad_version).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{body}");
    // Given twice, in either order (13 first was let through).
    for extra in ["Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version: 13\r\n"] {
        let (s, body) = status_of(Config::default(), &upgrade_request("/upgradews", extra)).await;
        assert_eq!(s, 400, "{extra}: {body}");
    }
    let (s, body) = status_of(Config::default(), &upgrade_request("/upgradews?mode=echo&mode=json", "")).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("`mode`: given more than once"), "{body}");
    let bad_key = upgrade_request("/upgradews", "").replace(KEY, "c2hvcnQ=");
    let (s, body) = status_of(Config::default(), &bad_key).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("Sec-WebSocket-Key"), "{body}");
}

#[tokio::test]
async fn origin_is_checked_against_host_and_allow_list() {
    let cross = upgrade_request("/upgradews", "Origin: http://evil.example\r\n");
    let (s, body) = status_of(Config::default(), &cross).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("evil.example"), "the body says why: {body}");

    let same = upgrade_request("/upgradews", "Origin: http://localhost\r\n");
    assert_eq!(status_of(Config::default(), &same).await.0, 101);

    let allowed = Config { allowed_origins: vec!["http://evil.example".into()], ..Config::default() };
    assert_eq!(status_of(allowed, &cross).await.0, 101);
    let any = Config { allow_any_origin: true, ..Config::default() };
    assert_eq!(status_of(any, &cross).await.0, 101);
}

#[tokio::test]
async fn token_is_required_when_configured() {
    let config = || Config { auth_token: Some("t0ken".into()), ..Config::default() };
    let (s, body) = status_of(config(), &upgrade_request("/upgradews", "")).await;
    assert_eq!(s, 401, "{body}");
    let wrong = upgrade_request("/upgradews", "Authorization: Bearer t0kem\r\n");
    assert_eq!(status_of(config(), &wrong).await.0, 401);
    let right = upgrade_request("/upgradews", "Authorization: Bearer t0ken\r\n");
    assert_eq!(status_of(config(), &right).await.0, 101);
}

#[tokio::test]
async fn own_endpoints_answer_head_as_get_and_name_their_methods() {
    let server = start(Config::default()).await;
    let addr = server.local_addr();
    for path in ["/healthz", "/metrics"] {
        let (s, head) = http(addr, &format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await;
        assert_eq!(s, 200, "{head}");
        assert!(head.ends_with("\r\n\r\n"), "the head alone: {head}");
        let (s, body) = http(addr, &format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")).await;
        assert_eq!(s, 405, "{body}");
        assert!(body.to_ascii_lowercase().contains("allow: get, head"), "{body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_mode_or_chunk_get_400_naming_the_parameter() {
    for (query, name) in [("?mode=loud", "mode"), ("?chunk=0", "chunk"), ("?mode=stream&chunk=x", "chunk")] {
        let (s, body) = status_of(Config::default(), &upgrade_request(&format!("/upgradews{query}"), "")).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert!(body.contains(&format!("`{name}`")), "{query}: {body}");
    }
}

#[tokio::test]
async fn custom_path_and_connection_limit() {
    let server = start(Config { path: "/ws".into(), max_connections: 1, ..Config::default() }).await;
    let addr = server.local_addr();
    assert_eq!(http(addr, &upgrade_request("/upgradews", "")).await.0, 404);
    let held = {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, upgrade_request("/ws", "").as_bytes()).await.unwrap();
        s
    };
    // Wait until the first connection is counted, then the second is refused.
    let mut status = 0;
    for _ in 0..100 {
        status = http(addr, &upgrade_request("/ws", "")).await.0;
        if status == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503);
    drop(held);
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_messages() {
    use tokio::io::AsyncWriteExt;
    let server = start_default().await;
    let addr = server.local_addr();
    let mut s = raw_ws(addr, "?mode=echo").await;
    for _ in 0..3 {
        s.write_all(&client_frame(0x81, b"m")).await.unwrap();
        read_frame(&mut s).await.unwrap();
    }
    let (status, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(body.contains("wsbench_messages_received_total 3\n"), "{body}");
    assert!(body.contains("wsbench_connections_open 1\n"), "{body}");
    server.shutdown().await;
}

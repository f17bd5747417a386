//! `max_connections` is exact under concurrent upgrades, refused upgrades
//! get 503 and their descriptor back, and `/healthz` answers while the
//! limit is reached.

mod common;

use std::sync::Arc;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_server::Config;

const LIMIT: usize = 1000;
const CLIENTS: usize = 3000;

/// Reads a response head; returns its status.
async fn status(s: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.unwrap() == 0 {
            panic!("EOF inside the response head: {:?}", String::from_utf8_lossy(&head));
        }
        head.push(byte[0]);
    }
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_never_overshoot_the_limit() {
    // Both ends of every connection live in this process.
    let limit = wsbench_server::limits::raise_nofile().unwrap();
    assert!(limit.soft >= 2 * CLIENTS as u64 + 200, "needs {} open files: {limit:?}", 2 * CLIENTS + 200);
    let server = start(Config { max_connections: LIMIT, ..Config::default() }).await;
    let addr = server.local_addr();
    let request = Arc::new(upgrade_request("/upgradews", ""));
    // Every client connects first, then all send their request at once.
    let ready = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (request, ready) = (request.clone(), ready.clone());
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                ready.wait().await;
                s.write_all(request.as_bytes()).await.unwrap();
                let status = status(&mut s).await;
                (status, s)
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for client in clients {
        let (status, mut s) = tokio::time::timeout(TIMEOUT * 3, client).await.expect("answered in time").unwrap();
        match status {
            101 => held.push(s),
            503 => {
                refused += 1;
                // Connection: close: the refused client's socket is closed
                // by the server after the body.
                let mut rest = Vec::new();
                tokio::time::timeout(TIMEOUT, s.read_to_end(&mut rest)).await.expect("closed by the server").unwrap();
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(held.len(), LIMIT, "upgraded");
    assert_eq!(refused, CLIENTS - LIMIT, "refused with 503");
    // The limit is reached: /healthz and /metrics still answer.
    assert_eq!(http(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.0, 200);
    let (status, metrics) = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(metrics.contains(&format!("wsbench_connections_open {LIMIT}\n")), "{metrics}");
    // A slot freed is a slot taken again.
    drop(held.pop());
    let mut again = 0;
    for _ in 0..200 {
        if http(addr, &upgrade_request("/upgradews", "")).await.0 == 101 {
            again += 1;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(again, 1, "the freed slot is given to a new upgrade");
    drop(held);
    server.shutdown().await;
}

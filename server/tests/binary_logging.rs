//! The binary's log under a flood of bad clients: a bounded number of
//! lines, the rest counted in a summary; accept errors back off.

mod common;
mod process;

use std::time::Duration;

use common::*;
use process::Binary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Warnings of one reason logged one by one per interval (`logging::BURST`).
const BURST: usize = 10;
const BAD_CLIENTS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_clients_is_summarized_not_logged_line_by_line() {
    // One interval for the whole test: the summary comes at shutdown.
    let server = Binary::start(&["--log-interval", "3600"], None, &[]);
    let addr = server.addr;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
    let clients: Vec<_> = (0..BAD_CLIENTS)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let mut s = raw_ws(addr, "").await;
                // An unmasked client frame: the server must fail the connection (1002).
                s.write_all(&[0x81, 0x01, b'x']).await.unwrap();
                let close = expect_close(&mut s).await;
                close.close_code()
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.unwrap(), Some(1002));
    }
    let lines = server.stop();
    let failed: Vec<_> = lines.iter().filter(|l| l.contains("failed the connection")).collect();
    // BURST lines one by one, and one summary line.
    assert_eq!(failed.len(), BURST + 1, "{lines:#?}");
    let summary = failed.last().unwrap();
    assert!(summary.contains(&format!("{} × [failed the connection code=1002", BAD_CLIENTS - BURST)), "{summary}");
    assert!(lines.len() < 30, "{} lines: {lines:#?}", lines.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_accept_backs_off_quietly_and_healthz_comes_back() {
    // 128 descriptors: a few for the process, the rest taken by connections
    // that never send a request.
    let server = Binary::start(&["--log-interval", "3600"], Some(128), &[]);
    let addr = server.addr;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // The server is out of descriptors for two seconds: before, it logged
    // a line every 50 ms.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(idle);
    // Descriptors free again: accepting resumes within the longest back-off.
    let (status, _) = tokio::time::timeout(TIMEOUT, async {
        loop {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).await.is_ok() {
                break (String::from_utf8_lossy(&buf).into_owned(), ());
            }
        }
    })
    .await
    .expect("/healthz answers once descriptors are free");
    assert_eq!(status, "HTTP/1.1 200");
    let lines = server.stop();
    let accept: Vec<_> = lines.iter().filter(|l| l.contains("accept failed")).collect();
    assert!(!accept.is_empty(), "the server ran out of descriptors: {lines:#?}");
    assert!(accept.len() <= BURST + 1, "{lines:#?}");
    assert!(lines.len() < 30, "{} lines: {lines:#?}", lines.len());
}

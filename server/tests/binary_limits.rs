//! The binary's default `--max-connections` fits the descriptors it has,
//! and `/healthz` answers while every slot is taken.

mod common;
mod process;

use std::sync::Arc;

use common::*;
use process::Binary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The binary's open-file limit in this test (soft and hard).
const NOFILE: u32 = 200;
/// What the default must then be: the limit less the 64 kept back.
const FIT: usize = NOFILE as usize - 64;
const CLIENTS: usize = 180;

async fn status(s: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "EOF in the head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_fits_the_descriptors_and_healthz_answers_at_the_limit() {
    let server = Binary::start(&[], Some(NOFILE), &[]);
    let addr = server.addr;
    let request = Arc::new(upgrade_request("/upgradews", ""));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(request.as_bytes()).await.unwrap();
                (status(&mut s).await, s)
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for client in clients {
        let (status, s) = tokio::time::timeout(TIMEOUT, client).await.expect("answered in time").unwrap();
        match status {
            101 => held.push(s),
            503 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(held.len(), FIT, "upgraded: the default is the open-file limit less 64");
    assert_eq!(refused, CLIENTS - FIT);
    // Every slot is taken and the descriptors kept back serve /healthz.
    for _ in 0..20 {
        assert_eq!(http(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.0, 200);
    }
    drop(held);
    let lines = server.stop();
    assert!(!lines.iter().any(|l| l.contains("accept failed")), "{lines:#?}");
}

//! Misbehaving and differently-speaking servers for the truth tests: each is
//! a tokio-tungstenite server on a thread of its own, on 127.0.0.1, that
//! records when every message arrived, so the tests judge the loadgen by what
//! the server saw rather than by what the loadgen says.

#![allow(dead_code, clippy::result_large_err)] // tungstenite's callback type is not ours

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// The seed's reply around a message (what wsbench-server's mode `reply` sends).
pub const SEED_PREFIX: &str = "接收到消息：";
/// The end of the seed's reply.
pub const SEED_SUFFIX: &str = "，我做出回复";

/// What the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Echo every message at once.
    Echo,
    /// Echo, after this many milliseconds per message.
    SlowEcho(u64),
    /// Upgrade, read every message, answer none.
    Silent,
    /// Upgrade, then never read again (TCP pushes back on the client).
    NoRead,
    /// Answer in the seed's format, like wsbench-server's default mode.
    SeedReply,
    /// Refuse the upgrade of every odd-numbered connection (counting from 0)
    /// with 503; echo on the others.
    RefuseOdd,
    /// Answer the first message with a Close frame carrying code 1005,
    /// which may never be sent on the wire (RFC 6455, 7.4.1).
    BadCloseCode,
    /// Answer in the seed's format, fragmented into frames of 40 bytes
    /// (whatever `chunk` the client asked for).
    Fragments40,
    /// Echo each message as one frame written in two pieces, its first
    /// three bytes then, this many milliseconds later, the rest: the client
    /// waits for the rest with part of a frame read.
    SplitEcho(u64),
}

/// A running test server.
pub struct Server {
    pub addr: SocketAddr,
    /// When each message arrived, since the server started.
    pub arrivals: Arc<Mutex<Vec<Duration>>>,
    /// Upgrades accepted.
    pub upgrades: Arc<AtomicU64>,
    pub started: Instant,
}

impl Server {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Messages that arrived in `[from, to)` after the first message.
    pub fn arrivals_between(&self, from: Duration, to: Duration) -> usize {
        let all = self.arrivals.lock().unwrap();
        let Some(first) = all.iter().min().copied() else { return 0 };
        all.iter().filter(|&&t| t >= first + from && t < first + to).count()
    }
}

/// Starts a server of `kind` on 127.0.0.1.
pub fn spawn(kind: Kind) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let upgrades = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (arrivals2, upgrades2) = (arrivals.clone(), upgrades.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let mut index = 0u64;
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let this = index;
                index += 1;
                let (arrivals, upgrades) = (arrivals2.clone(), upgrades2.clone());
                tokio::spawn(async move {
                    let refuse = kind == Kind::RefuseOdd && this % 2 == 1;
                    let callback = |_: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                        if refuse {
                            let mut e = ErrorResponse::new(Some("busy".into()));
                            *e.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                            return Err(e);
                        }
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
                    upgrades.fetch_add(1, Ordering::Relaxed);
                    if kind == Kind::NoRead {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return;
                    }
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_close() {
                            let _ = ws.close(None).await;
                            while ws.next().await.is_some() {}
                            return;
                        }
                        if !(msg.is_text() || msg.is_binary()) {
                            continue;
                        }
                        arrivals.lock().unwrap().push(started.elapsed());
                        let reply = match kind {
                            Kind::Silent => continue,
                            Kind::SlowEcho(ms) => {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                msg
                            }
                            Kind::SeedReply => seed_reply(msg),
                            Kind::BadCloseCode => {
                                let _ = ws.get_mut().write_all(&[0x88, 0x02, 0x03, 0xED]).await;
                                let _ = tokio::time::timeout(Duration::from_secs(3), async {
                                    while ws.next().await.is_some() {}
                                })
                                .await;
                                return;
                            }
                            Kind::SplitEcho(ms) => {
                                let raw = echo_frame(&msg);
                                let ws_io = ws.get_mut();
                                if ws_io.write_all(&raw[..3]).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                if ws_io.write_all(&raw[3..]).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                            Kind::Fragments40 => {
                                let bytes = seed_reply(msg).into_data();
                                let raw = fragment(&bytes, 40);
                                if ws.get_mut().write_all(&raw).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                            _ => msg,
                        };
                        if ws.send(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    let addr = rx.recv().unwrap();
    Server { addr, arrivals, upgrades, started }
}

fn seed_reply(msg: Message) -> Message {
    match msg {
        Message::Text(t) => Message::Text(format!("{SEED_PREFIX}{t}{SEED_SUFFIX}")),
        other => {
            let mut out = SEED_PREFIX.as_bytes().to_vec();
            out.extend_from_slice(&other.into_data());
            out.extend_from_slice(SEED_SUFFIX.as_bytes());
            Message::Binary(out)
        }
    }
}

/// A text message as unmasked server frames of at most `chunk` payload bytes.
fn fragment(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let parts: Vec<&[u8]> = payload.chunks(chunk).collect();
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 { 0x1 } else { 0x0 };
        let fin = if i + 1 == parts.len() { 0x80 } else { 0 };
        out.push(fin | opcode);
        assert!(part.len() < 126);
        out.push(part.len() as u8);
        out.extend_from_slice(part);
    }
    out
}

/// `msg` echoed as one unmasked server frame (payloads under 64 KiB).
fn echo_frame(msg: &Message) -> Vec<u8> {
    let opcode = if msg.is_text() { 0x1 } else { 0x2 };
    let payload = msg.clone().into_data();
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&payload);
    out
}

//! A JSON-RPC 2.0 test server (tokio-tungstenite, on a thread of its own)
//! for the API load: it answers `{"jsonrpc":"2.0","id":N,"result":...}`
//! after a known delay, held to the microsecond (tokio's timer alone is
//! good to a millisecond, which would be 5 % of a 20 ms delay); odd ids
//! later than even ones, so replies overtake each other; with occasional
//! notifications and replies to ids never sent, and some requests never
//! answered. It counts what it did, for the tests to hold the loadgen's
//! counts against. It also picks subprotocols as told and answers a
//! `subscribe` call, then pushes ticks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Which subprotocol the server picks.
#[derive(Debug, Clone)]
pub enum Pick {
    /// The last one offered.
    LastOffered,
    /// None, whatever was offered.
    Nothing,
    /// This one, offered or not.
    This(&'static str),
}

/// What the server does.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// Every reply waits this long after its request was read.
    pub delay: Duration,
    /// Odd ids wait this much longer: a later request's reply overtakes.
    pub odd_extra: Duration,
    /// Before every n-th reply (0: never), a notification (no id).
    pub notify_every: u64,
    /// After every n-th reply (0: never), a reply to an id never sent.
    pub unknown_every: u64,
    /// Every n-th request (0: none) is never answered.
    pub drop_every: u64,
    /// The subprotocol picked.
    pub pick: Pick,
    /// After a `subscribe` call, a tick pushed this often (zero: none).
    pub tick: Duration,
}

impl Default for Rpc {
    fn default() -> Self {
        Rpc {
            delay: Duration::ZERO,
            odd_extra: Duration::ZERO,
            notify_every: 0,
            unknown_every: 0,
            drop_every: 0,
            pick: Pick::Nothing,
            tick: Duration::ZERO,
        }
    }
}

/// What the server did, over all connections.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub replies: AtomicU64,
    /// Replies sent while an earlier request of the connection was unanswered.
    pub overtaking: AtomicU64,
    pub notifications: AtomicU64,
    pub unknown: AtomicU64,
    pub dropped: AtomicU64,
    pub ticks: AtomicU64,
    /// Requests whose id an earlier request of the run had already carried.
    pub repeated_ids: AtomicU64,
    /// Every request id seen, over all connections.
    pub ids: std::sync::Mutex<std::collections::HashSet<u64>>,
}

impl Counts {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

pub struct RpcServer {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
    _thread: std::thread::JoinHandle<()>,
}

impl RpcServer {
    pub fn url(&self) -> String {
        format!("ws://{}/rpc", self.addr)
    }
}

/// Starts the server on 127.0.0.1.
pub fn spawn(rpc: Rpc) -> RpcServer {
    let (tx, rx) = std::sync::mpsc::channel();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(connection(stream, rpc.clone(), c.clone()));
            }
        });
    });
    RpcServer { addr: rx.recv().unwrap(), counts, _thread: thread }
}

async fn connection(stream: tokio::net::TcpStream, rpc: Rpc, counts: Arc<Counts>) {
    let _ = stream.set_nodelay(true);
    let pick = rpc.pick.clone();
    // tungstenite's callback type returns its large ErrorResponse.
    #[allow(clippy::result_large_err)]
    let choose = move |req: &Request, mut resp: Response| {
        let offered: Vec<String> = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default();
        let chosen = match pick {
            Pick::LastOffered => offered.last().cloned(),
            Pick::Nothing => None,
            Pick::This(p) => Some(p.to_string()),
        };
        if let Some(p) = chosen {
            resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&p).unwrap());
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, choose).await else { return };
    let (mut sink, mut source) = ws.split();
    let (out, mut outbox) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = outbox.recv().await {
            // A tick sent after the client's close fails (SendAfterClosing):
            // still flush the close reply below, or the client sees the
            // connection dropped without one (an EOF, counted as a failure).
            if sink.send(m).await.is_err() {
                break;
            }
        }
        // Answers the client's close (tungstenite queued the reply).
        let _ = sink.close().await;
    });
    let closing = Arc::new(AtomicBool::new(false));
    let delayer = delayer();
    // Ids read and not yet answered on this connection.
    let pending = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::<u64>::new()));
    let mut n = 0u64;
    while let Some(Ok(msg)) = source.next().await {
        let read_at = Instant::now();
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => {
                closing.store(true, Ordering::SeqCst);
                break;
            }
            _ => continue,
        };
        let Ok(call) = serde_json::from_str::<Value>(&text) else { continue };
        let Some(id) = call.get("id").and_then(Value::as_u64) else { continue };
        if call.get("method").and_then(Value::as_str) == Some("subscribe") {
            let _ = out.send(Message::Text(json!({"jsonrpc":"2.0","id":id,"result":"subscribed"}).to_string()));
            if !rpc.tick.is_zero() {
                tokio::spawn(ticks(out.clone(), rpc.tick, counts.clone(), closing.clone()));
            }
            continue;
        }
        n += 1;
        counts.requests.fetch_add(1, Ordering::SeqCst);
        if !counts.ids.lock().unwrap().insert(id) {
            counts.repeated_ids.fetch_add(1, Ordering::SeqCst);
        }
        if rpc.drop_every > 0 && n % rpc.drop_every == 0 {
            counts.dropped.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        pending.lock().unwrap().insert(id);
        let due = read_at + rpc.delay + if id % 2 == 1 { rpc.odd_extra } else { Duration::ZERO };
        let (out, counts, pending, rpc) = (out.clone(), counts.clone(), pending.clone(), rpc.clone());
        let _ = delayer.send((
            due.into_std(),
            Box::new(move || {
                if rpc.notify_every > 0 && n % rpc.notify_every == 0 {
                    counts.notifications.fetch_add(1, Ordering::SeqCst);
                    let _ =
                        out.send(Message::Text(json!({"jsonrpc":"2.0","method":"tick","params":{"n":n}}).to_string()));
                }
                {
                    let mut p = pending.lock().unwrap();
                    p.remove(&id);
                    if p.first().is_some_and(|&first| first < id) {
                        counts.overtaking.fetch_add(1, Ordering::SeqCst);
                    }
                }
                counts.replies.fetch_add(1, Ordering::SeqCst);
                let _ = out.send(Message::Text(json!({"jsonrpc":"2.0","id":id,"result":{"echo":id}}).to_string()));
                if rpc.unknown_every > 0 && n % rpc.unknown_every == 0 {
                    counts.unknown.fetch_add(1, Ordering::SeqCst);
                    let never = 9_000_000_000u64 + n;
                    let _ = out.send(Message::Text(json!({"jsonrpc":"2.0","id":never,"result":null}).to_string()));
                }
            }),
        ));
    }
    drop(out);
    let _ = writer.await;
}

/// A job run at a given time.
type Job = (std::time::Instant, Box<dyn FnOnce() + Send>);

/// A thread that runs each job at its time, to tens of microseconds
/// (a futex wait; tokio's timer is good to a millisecond), without
/// spinning: the tests' machine may have one core free for both ends.
fn delayer() -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let mut jobs: Vec<Job> = Vec::new();
        loop {
            let now = std::time::Instant::now();
            while let Some(i) = jobs.iter().position(|(due, _)| *due <= now) {
                (jobs.swap_remove(i).1)();
            }
            let next = jobs.iter().map(|(due, _)| *due).min();
            let got = match next {
                Some(due) => rx.recv_timeout(due.saturating_duration_since(std::time::Instant::now())),
                None => rx.recv().map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(job) => jobs.push(job),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) if jobs.is_empty() => return,
                Err(_) => {}
            }
        }
    });
    tx
}

async fn ticks(out: mpsc::UnboundedSender<Message>, every: Duration, counts: Arc<Counts>, closing: Arc<AtomicBool>) {
    let mut k = 0u64;
    loop {
        tokio::time::sleep(every).await;
        if closing.load(Ordering::SeqCst) {
            return;
        }
        k += 1;
        let tick = json!({"jsonrpc":"2.0","method":"ticker","params":{"k":k}}).to_string();
        if out.send(Message::Text(tick)).is_err() {
            return;
        }
        counts.ticks.fetch_add(1, Ordering::SeqCst);
    }
}

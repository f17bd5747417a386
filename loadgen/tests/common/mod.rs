//! Test servers (tokio-tungstenite, each on a thread of its own) and helpers
//! to run the loadgen as a library.

#![allow(dead_code)]

pub mod server_process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use wsbench_loadgen::commands::run::FromRunArgs;
use wsbench_loadgen::commands::{Cli, Command};
use wsbench_loadgen::results::schema::{RunResult, Status};
use wsbench_loadgen::RunConfig;

/// What the test server does with each connection.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Echo every message after `delay`.
    Echo { delay: Duration },
    /// Echo, but hold every reply from `after` (since the first message) for `stall`.
    Stall { after: Duration, stall: Duration },
    /// Echo until `after` (since the server started); then send close
    /// `code`, or with `None` drop the connection and stop listening.
    CloseAfter { after: Duration, code: Option<u16> },
    /// Echo, but per connection leave every `drop_every`-th message
    /// unanswered and flip a byte past the stamp of every `corrupt_every`-th.
    Faulty { drop_every: u64, corrupt_every: u64 },
    /// Answer the first message with only the header of a 512 MiB frame.
    HugeHeader,
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Peer addresses of the connections accepted.
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

/// Starts a tungstenite server on 127.0.0.1 with `behavior`.
pub fn spawn_server(behavior: Behavior) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    let peers = Arc::new(Mutex::new(Vec::new()));
    let peers2 = peers.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            // Timing starts at the first connection (the loadgen's probe):
            // runs may wait for their turn after the server starts.
            let started: Arc<Mutex<Option<tokio::time::Instant>>> = Arc::new(Mutex::new(None));
            let first_message: Arc<Mutex<Option<tokio::time::Instant>>> = Arc::new(Mutex::new(None));
            let after = match behavior {
                Behavior::CloseAfter { after, .. } => Some(after),
                _ => None,
            };
            let dies = matches!(behavior, Behavior::CloseAfter { code: None, .. });
            loop {
                let death = started.lock().unwrap().zip(after).map(|(s, a)| s + a);
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = tokio::time::sleep_until(death.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))), if dies && death.is_some() => {
                        // The server dies: the listener closes, and returning
                        // drops the runtime with every connection.
                        return;
                    }
                };
                started.lock().unwrap().get_or_insert_with(tokio::time::Instant::now);
                let stop_at = started.lock().unwrap().zip(after).map(|(s, a)| s + a);
                let Ok((stream, peer)) = accepted else { continue };
                peers2.lock().unwrap().push(peer);
                let behavior = behavior.clone();
                let first_message = first_message.clone();
                tokio::spawn(async move {
                    let mut received = 0u64;
                    let _ = stream.set_nodelay(true);
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                    let deadline = stop_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
                    loop {
                        let msg = tokio::select! {
                            m = ws.next() => m,
                            _ = tokio::time::sleep_until(deadline) => {
                                if let Behavior::CloseAfter { code: Some(code), .. } = behavior {
                                    let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                                    let _ = ws.send(Message::Close(Some(frame))).await;
                                    // Wait for the client's answer, briefly.
                                    let _ = tokio::time::timeout(Duration::from_secs(2), async { while ws.next().await.is_some() {} }).await;
                                }
                                return;
                            }
                        };
                        let Some(Ok(msg)) = msg else { return };
                        if !(msg.is_text() || msg.is_binary()) {
                            if msg.is_close() {
                                let _ = ws.close(None).await;
                                // Drain until the peer is gone.
                                while ws.next().await.is_some() {}
                                return;
                            }
                            continue;
                        }
                        received += 1;
                        if let Behavior::HugeHeader = behavior {
                            use tokio::io::AsyncWriteExt;
                            let header = [0x82, 127, 0, 0, 0, 0, 0x20, 0, 0, 0];
                            let _ = ws.get_mut().write_all(&header).await;
                            let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
                            return;
                        }
                        let mut msg = msg;
                        match &behavior {
                            Behavior::Faulty { drop_every, .. } if received % drop_every == 0 => continue,
                            Behavior::Faulty { corrupt_every, .. } if received % corrupt_every == 0 => {
                                let mut bytes = msg.into_data();
                                bytes[25] ^= 0x01;
                                msg = Message::Binary(bytes);
                            }
                            Behavior::Echo { delay } if !delay.is_zero() => tokio::time::sleep(*delay).await,
                            Behavior::Stall { after, stall } => {
                                let now = tokio::time::Instant::now();
                                let first = *first_message.lock().unwrap().get_or_insert(now);
                                let (from, to) = (first + *after, first + *after + *stall);
                                if now >= from && now < to {
                                    tokio::time::sleep_until(to).await;
                                }
                            }
                            _ => {}
                        }
                        if ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    let addr = rx.recv().unwrap();
    TestServer { addr, peers, _thread: thread }
}

/// A config from command-line arguments after `run`.
///
/// With `--allow-loadgen-limit`: these runs feed tests of what comes after
/// a run (compare, merge, plot, failures), which need a verdict that does
/// not hang on the machine's load. On a quiet 2-core machine a debug
/// loadgen beside its embedded server is often the limit of a closed loop,
/// and says so; that verdict has its own tests (truth.rs, pushback.rs).
pub fn config(args: &[&str]) -> RunConfig {
    let cli = Cli::try_parse_from(["wsbench-loadgen", "run", "--allow-loadgen-limit"].iter().chain(args))
        .expect("valid test arguments");
    let Command::Run(run) = cli.command else { panic!("not run") };
    RunConfig::from_args(&run).expect("valid test configuration")
}

/// Runs in this test binary take turns: each measures timing, and two at
/// once on two cores would measure each other.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the loadgen as a library, one run at a time.
pub fn run(args: &[&str]) -> RunResult {
    let _turn = serial();
    let started = Instant::now();
    let out = wsbench_loadgen::commands::run::run(config(args)).expect("the run starts");
    eprintln!("run {args:?} took {:.1?}", started.elapsed());
    out.result
}

/// A fresh temporary directory for this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsbench-loadgen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a clean run: not failed, no error of any kind, every connection
/// open. A LOADGEN LIMIT is let through: these runs check what the server
/// answered, and a debug build on a shared 2-core machine may well be the
/// limit; the verdict's own tests (truth.rs) hold it to that.
pub fn assert_clean(r: &RunResult, connections: u64) {
    let c = &r.counters;
    assert_ne!(r.outcome.status(), Status::Fail, "outcome {:?}, counters {c:?}, samples {:?}", r.outcome, r.samples);
    assert!(
        r.outcome.reasons.iter().all(|w| w.contains("the loadgen, not the server, was the limit")),
        "{:?}",
        r.outcome
    );
    assert_eq!(c.errors(), 0, "{c:?}");
    assert_eq!(c.connections_opened, connections);
    assert!(c.messages_received > 0);
    assert_eq!(c.messages_sent_total, c.replies_received_total, "every message answered");
}

//! Plain TCP load for the raw echo of `scripts/peers.sh`: the WebSocket
//! loadgen cannot load a raw echo (its frames are masked, so the echoed
//! bytes are masked frames that a client must refuse), so the ceiling is
//! measured with this client instead.
//!
//! It keeps exactly `P` messages of `SIZE` bytes in flight on each of `C`
//! connections (a closed loop, like the loadgen's `-c C -p P`), checks that
//! every echoed byte equals what was sent, and counts whole messages echoed
//! during the measured window. Limits: it does less work per message than
//! wsbench-loadgen (no framing, no masking, no stamps, no histograms), so
//! its figure is a ceiling for the server side, not the same client cost.
//!
//! Usage: tcp_load ADDR CONNECTIONS PIPELINE SIZE WARMUP_S DURATION_S [idle]
//! Prints one line: `msgs_per_s=<f64> errors=<u64>`; with `idle` it opens
//! the connections, prints `ready`, sends nothing and exits after DURATION_S.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn arg<T: std::str::FromStr>(i: usize, name: &str) -> T {
    let a = std::env::args().nth(i).unwrap_or_default();
    a.parse().unwrap_or_else(|_| {
        eprintln!("tcp_load: bad or missing {name}: {a:?}");
        std::process::exit(2)
    })
}

/// Connects from 127.0.0.2..=127.0.0.9 in turn: thousands of TIME_WAIT
/// sockets from earlier runs on 127.0.0.1 make each connect search long
/// for a free ephemeral port.
async fn connect(target: std::net::SocketAddr, i: usize) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if target.ip().is_loopback() {
        socket.bind(([127, 0, 0, 2 + (i % 8) as u8], 0).into())?;
    }
    socket.connect(target).await
}

fn main() {
    let addr: String = arg(1, "ADDR");
    let conns: usize = arg(2, "CONNECTIONS");
    let pipeline: usize = arg(3, "PIPELINE");
    let size: usize = arg(4, "SIZE");
    let warmup: f64 = arg(5, "WARMUP_S");
    let duration: f64 = arg(6, "DURATION_S");
    let idle = std::env::args().nth(7).as_deref() == Some("idle");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut streams = Vec::with_capacity(conns);
        let target: std::net::SocketAddr = addr.parse().unwrap_or_else(|_| {
            eprintln!("tcp_load: bad ADDR {addr:?}: want IP:PORT");
            std::process::exit(2)
        });
        // Connects in batches of 64 at once (below the listen backlog).
        for start in (0..conns).step_by(64) {
            let batch: Vec<_> =
                (start..conns.min(start + 64)).map(|i| tokio::task::spawn_local(connect(target, i))).collect();
            for handle in batch {
                match handle.await.expect("connect task") {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        streams.push(s)
                    }
                    Err(e) => {
                        eprintln!("tcp_load: connect {addr}: {e}");
                        std::process::exit(1)
                    }
                }
            }
        }
        if idle {
            println!("ready");
            tokio::time::sleep(Duration::from_secs_f64(duration)).await;
            return;
        }
        let counting = Rc::new(Cell::new(false));
        let received = Rc::new(Cell::new(0u64));
        let errors = Rc::new(Cell::new(0u64));
        // One message's bytes: a fixed pattern, so any byte can be checked.
        let pattern: Rc<Vec<u8>> = Rc::new((0..size).map(|i| b'a' + (i % 26) as u8).collect());
        for mut s in streams {
            let (counting, received, errors, pattern) =
                (counting.clone(), received.clone(), errors.clone(), pattern.clone());
            tokio::task::spawn_local(async move {
                let batch: Vec<u8> = pattern.iter().copied().cycle().take(size * pipeline).collect();
                if s.write_all(&batch).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; 64 * 1024];
                let mut offset = 0usize; // position within the current message
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut done = 0usize;
                    for &b in &buf[..n] {
                        if b != pattern[offset] {
                            errors.set(errors.get() + 1);
                        }
                        offset += 1;
                        if offset == size {
                            offset = 0;
                            done += 1;
                        }
                    }
                    if done > 0 {
                        if counting.get() {
                            received.set(received.get() + done as u64);
                        }
                        if s.write_all(&batch[..done * size]).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        counting.set(true);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(duration)).await;
        counting.set(false);
        let rate = received.get() as f64 / start.elapsed().as_secs_f64();
        println!("msgs_per_s={rate:.0} errors={}", errors.get());
    });
}

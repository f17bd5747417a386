//! A property test over real sockets: random frame sequences (valid or
//! not, whole or cut short, every reply mode) sent to one server. Every
//! connection must end by itself within its timeouts (no hang), the server
//! must go on answering (no panic), and every byte it charged to its
//! memory budget must be refunded.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbench_server::Config;

/// xorshift64*: reproducible without a dependency; the seed is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random frame: mostly plausible, sometimes broken on purpose.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    let opcode = [0u8, 1, 2, 8, 9, 10, 3, 11][rng.below(8) as usize];
    let fin = if rng.below(4) == 0 { 0 } else { 0x80 };
    let rsv = if rng.below(20) == 0 { 0x40 } else { 0 };
    let len = match rng.below(6) {
        0 => 0,
        1 => rng.below(126),
        2 => 126 + rng.below(200),
        3 => 65_536 + rng.below(4096),
        _ => rng.below(40),
    } as usize;
    let payload: Vec<u8> = if rng.below(2) == 0 {
        (0..len).map(|i| b"hello wsbench "[i % 14]).collect()
    } else {
        (0..len).map(|_| rng.next() as u8).collect()
    };
    let mut frame = client_frame(fin | rsv | opcode, &payload);
    if rng.below(15) == 0 {
        frame[1] &= 0x7f; // unmasked: a protocol error from a client
    }
    frame
}

async fn one_connection(addr: std::net::SocketAddr, seed: u64) -> Duration {
    let mut rng = Rng(seed | 1);
    let mode = ["reply", "echo", "json", "stream"][rng.below(4) as usize];
    let mut s = raw_ws(addr, &format!("?mode={mode}&chunk={}", 1 + rng.below(5000))).await;
    let mut wire = Vec::new();
    for _ in 0..1 + rng.below(8) {
        wire.extend(random_frame(&mut rng));
    }
    if rng.below(3) == 0 {
        wire.truncate(rng.below(wire.len() as u64 + 1) as usize);
    }
    let started = Instant::now();
    let (mut read, mut write) = s.split();
    let writing = async {
        let _ = write.write_all(&wire).await;
        std::future::pending::<()>().await
    };
    let reading = async {
        let mut sink = vec![0u8; 64 << 10];
        while let Ok(n) = read.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! { () = reading => {}, () = writing => {} }
    started.elapsed()
}

#[tokio::test]
async fn random_frames_never_hang_or_crash_the_server() {
    let config = Config {
        idle_timeout: Duration::from_secs(2),
        message_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    let base: u64 = std::env::var("WSBENCH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026);
    eprintln!("seed {base} (set WSBENCH_FUZZ_SEED to replay)");
    let cases: Vec<_> = (0..96u64).map(|i| tokio::spawn(one_connection(addr, base.wrapping_add(i * 7919)))).collect();
    for (i, case) in cases.into_iter().enumerate() {
        let took = tokio::time::timeout(Duration::from_secs(15), case).await.expect("no hang").expect("no panic");
        // The longest path: idle timeout (2 s) plus the close's write timeout (1 s).
        assert!(took < Duration::from_secs(5), "case {i} (seed {base}) ended after {took:?}");
    }
    let (status, _) = http(addr, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 200);
    let started = Instant::now();
    while server.metrics().connections_open() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "connections left open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metrics().memory_held(), 0, "every charge refunded");
}
